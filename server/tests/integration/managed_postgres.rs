//! The portal with no DATABASE_URL: its own Postgres, started and stopped
//! with it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::portal::Portal;
use crate::common::portal::start as start_portal;

fn start(data_dir: &Path, log: &Path) -> Portal {
    start_portal(data_dir, log, &[])
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
