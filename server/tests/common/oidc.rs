//! The test OpenID provider (`end2end/support/oidc-provider.mjs`, a real
//! node-oidc-provider) as a child process.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running provider; stopped when dropped.
pub struct OidcProvider {
    pub issuer: String,
    _child: Child,
}

pub const CLIENT_ID: &str = "portal";
pub const CLIENT_SECRET: &str = "portal-secret";

impl OidcProvider {
    /// Starts a provider that accepts `redirect_uri` and completes logins
    /// from the authorization request's `login_hint`.
    pub async fn start(redirect_uri: &str) -> Self {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end");
        assert!(
            std::path::Path::new(root)
                .join("node_modules/oidc-provider")
                .is_dir(),
            "the test OpenID provider needs its npm packages: run `npm ci` in end2end/ (scripts/test does)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let mut child = Command::new("node")
            .arg("support/oidc-provider.mjs")
            .current_dir(root)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_REDIRECT_URIS", redirect_uri)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_AUTO_LOGIN", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the provider");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("listening on") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "the OpenID provider did not start"
        );
        Self {
            issuer: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    }
}
