//! The portal with no DATABASE_URL: its own Postgres, started and stopped
//! with it.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::cli_command;

struct Portal {
    child: Child,
    base: String,
}

/// Starts `privacy-portal serve` on `data_dir` and waits for its address.
fn start(data_dir: &Path, log: &Path) -> Portal {
    let log_file = std::fs::File::create(log).expect("log file");
    let child = cli_command(
        &["serve"],
        &[
            ("PORTAL_DATA_DIR", data_dir.display().to_string()),
            ("PORTAL_BIND", "127.0.0.1:0".to_owned()),
            ("PORTAL_LOG", "info".to_owned()),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(log_file)
    .spawn()
    .expect("the portal starts");
    // Owned from here on, so that a failed assertion still stops it.
    let mut portal = Portal {
        child,
        base: String::new(),
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
    async fn status(&self, path: &str) -> u16 {
        reqwest::get(format!("{}{path}", self.base))
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    fn terminate(mut self) {
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

/// Processes whose command line mentions `dir` (the cluster's postgres).
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|cmd| String::from_utf8_lossy(&cmd).replace('\0', " "))
        .filter(|cmd| cmd.contains(&needle))
        .collect()
}

#[tokio::test]
async fn the_portal_runs_on_its_own_postgres_stops_it_and_reuses_the_data() {
    let scratch = tempfile::tempdir().expect("temp dir");
    // The cluster may belong to the postgres user, who must reach the folder.
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let data_dir = scratch.path().join("data");
    let first_log = scratch.path().join("first.log");

    let portal = start(&data_dir, &first_log);
    for (path, expected) in [
        ("/", 200),
        ("/healthz", 200),
        ("/readyz", 200),
        ("/metrics", 200),
        ("/c/demo/privacy", 200),
        ("/nope", 404),
    ] {
        assert_eq!(portal.status(path).await, expected, "{path}");
    }
    assert!(
        !processes_using(&data_dir).is_empty(),
        "postgres should run from the data folder"
    );
    portal.terminate();

    assert!(
        processes_using(&data_dir).is_empty(),
        "left behind: {:?}",
        processes_using(&data_dir)
    );
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "the cluster was not shut down cleanly"
    );
    let first = std::fs::read_to_string(&first_log).expect("log");
    assert!(
        first.contains("initialising a new database cluster"),
        "{first}"
    );
    assert!(first.contains("database cluster stopped"), "{first}");

    let second_log = scratch.path().join("second.log");
    let portal = start(&data_dir, &second_log);
    assert_eq!(
        portal.status("/c/demo/privacy").await,
        200,
        "the demo data survived the restart"
    );
    portal.terminate();
    let second = std::fs::read_to_string(&second_log).expect("log");
    assert!(
        !second.contains("initialising"),
        "the second start must reuse the cluster: {second}"
    );
    assert!(processes_using(&data_dir).is_empty());
}
