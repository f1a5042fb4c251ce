//! The portal binary as a separate process: `privacy-portal serve` on its
//! own data folder (and so its own managed Postgres), for the tests that
//! stop, kill or restart things under it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::cli_command;

/// A running `privacy-portal serve`.
pub struct Portal {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

/// Starts `privacy-portal serve` on `data_dir` with `vars` and waits for its
/// address.
pub fn start(data_dir: &Path, log: &Path, vars: &[(&str, String)]) -> Portal {
    let log_file = std::fs::File::create(log).expect("log file");
    let mut env = vec![
        ("PORTAL_DATA_DIR", data_dir.display().to_string()),
        ("PORTAL_BIND", "127.0.0.1:0".to_owned()),
        ("PORTAL_LOG", "info".to_owned()),
    ];
    env.extend(vars.iter().cloned());
    let child = cli_command(&["serve"], &env)
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("the portal starts");
    // Owned from here on, so that a failed assertion still stops it.
    let mut portal = Portal {
        child,
        base: String::new(),
        data_dir: data_dir.to_owned(),
        log: log.to_owned(),
    };
    let stdout = portal.child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| {
                panic!(
                    "no address printed; log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            });
        if let Some(rest) = line.strip_prefix("Clinic Privacy Portal is running at ") {
            portal.base = rest.trim_end_matches('/').to_owned();
            return portal;
        }
    }
}

impl Portal {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn status(&self, path: &str) -> u16 {
        reqwest::get(self.url(path))
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    /// The log written so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM and expects a clean exit within a minute.
    pub fn terminate(mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                self.base.clear();
                assert!(status.success(), "the portal exited with {status}");
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the portal did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Portal {
    /// A portal still running here means an assertion failed: stop it (and
    /// with it its cluster) before the data folder is removed.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let _ = self.child.wait();
        }
    }
}
