//! Encrypted backups with the real `pg_dump`, run as an operator runs them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use app::backend::audit::AuditContext;
use app::backend::crypto::MasterKey;
use app::backend::services::clinics;
use secrecy::ExposeSecret;

use crate::common::{TestDb, cli_command, run_cli};
use crate::tenancy::clinic_input;

fn env(
    test_db: &TestDb,
    data_dir: &Path,
    backups: &Path,
    key: &MasterKey,
) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", test_db.url.expose_secret().to_owned()),
        ("PORTAL_DATA_DIR", data_dir.display().to_string()),
        ("PORTAL_MASTER_KEY", key.to_base64()),
        ("PORTAL_BACKUP_DIR", backups.display().to_string()),
    ]
}

/// What the backup holds, as the SQL `pg_restore` makes of it.
fn restored_sql(file: &Path, key: &MasterKey) -> String {
    let crypto = server::backup::backup_crypto(key);
    let mut dump = Vec::new();
    server::backup::format::read(
        std::fs::File::open(file).expect("backup"),
        &crypto,
        |chunk| {
            dump.extend_from_slice(chunk);
            Ok(())
        },
    )
    .expect("decrypts");
    let archive = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(archive.path(), &dump).expect("write");
    let pg_restore = server::postgres::find_binaries()
        .expect("Postgres binaries")
        .join("pg_restore");
    let output = std::process::Command::new(pg_restore)
        .arg("--data-only")
        .arg("--file=-")
        .arg(archive.path())
        .output()
        .expect("pg_restore runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Files in `dir` whose names end with `suffix`.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[tokio::test]
async fn a_backup_is_listed_and_verified_and_a_changed_byte_is_named() {
    let test_db = TestDb::new().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let backups = tempfile::tempdir().expect("temp dir");
    let key = MasterKey::generate();
    let env = env(&test_db, data_dir.path(), backups.path(), &key);
    // A clinic of its own, whose rows row-level security guards.
    clinics::create(
        &test_db.db(),
        &AuditContext::cli(),
        clinic_input("harbour-north", "owner@harbour-north.example"),
    )
    .await
    .expect("clinic");

    let empty = run_cli(&["backup", "list"], &env);
    assert!(text(&empty.stdout).contains("No backups yet."));
    let created = run_cli(&["backup", "create"], &env);
    assert_eq!(created.status.code(), Some(0), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("Backup written:"));
    let data = files(backups.path(), ".pgdump.enc");
    assert_eq!(data.len(), 1, "one data file");
    assert_eq!(files(backups.path(), ".json").len(), 1, "one manifest");
    assert!(files(backups.path(), ".partial").is_empty());
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&data[0])
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "readable by its owner only");
    // Encrypted: neither the dump's magic nor a table name shows.
    let bytes = std::fs::read(&data[0]).expect("backup");
    let haystack = String::from_utf8_lossy(&bytes);
    assert!(!haystack.contains("PGDMP") && !haystack.contains("privacy_requests"));

    let listed = run_cli(&["backup", "list"], &env);
    let listing = text(&listed.stdout);
    assert!(listing.contains(".pgdump.enc  ok"), "{listing}");
    let file = data[0].display().to_string();
    let verified = run_cli(&["backup", "verify", &file], &env);
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        text(&verified.stderr)
    );
    assert!(text(&verified.stdout).starts_with("ok  "));
    // Every clinic's rows are in it, past row-level security.
    let sql = restored_sql(&data[0], &key);
    assert!(sql.contains("harbour-north"), "the clinic");
    assert!(sql.contains("owner@harbour-north.example"), "its owner");
    assert!(sql.contains("clinic.created"), "its audit events");

    // Under another master key it does not open.
    let mut foreign = env.clone();
    foreign[2].1 = MasterKey::generate().to_base64();
    let refused = run_cli(&["backup", "verify", &file], &foreign);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("chunk 0 does not decrypt"),
        "{}",
        text(&refused.stderr)
    );

    // One changed byte in the middle is found and named.
    let mut tampered = bytes.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x20;
    std::fs::write(&data[0], &tampered).expect("write");
    let refused = run_cli(&["backup", "verify", &file], &env);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("does not decrypt: the file was changed"),
        "{}",
        text(&refused.stderr)
    );
    // Cut short, it is incomplete; listed, its size is wrong.
    std::fs::write(&data[0], &bytes[..bytes.len() - 100]).expect("write");
    let refused = run_cli(&["backup", "verify", &file], &env);
    assert!(
        text(&refused.stderr).contains("incomplete"),
        "{}",
        text(&refused.stderr)
    );
    let listing = text(&run_cli(&["backup", "list"], &env).stdout);
    assert!(listing.contains("bytes, not"), "{listing}");

    let unset = run_cli(&["backup", "create"], &env[..3]);
    assert_eq!(unset.status.code(), Some(2));
    assert!(text(&unset.stderr).contains("PORTAL_BACKUP_DIR"));
}

#[tokio::test]
async fn a_backup_killed_halfway_is_not_listed_as_a_backup() {
    let test_db = TestDb::new().await;
    // Enough rows that the dump takes a good part of a second.
    test_db
        .admin_execute(&format!(
            "CREATE TABLE ballast AS SELECT g, md5(g::text) || md5((g * 7)::text) AS filler \
             FROM generate_series(1, 1500000) g; \
             ALTER TABLE ballast OWNER TO {};",
            server::postgres::APP_ROLE
        ))
        .await
        .expect("ballast");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let backups = tempfile::tempdir().expect("temp dir");
    let env = env(
        &test_db,
        data_dir.path(),
        backups.path(),
        &MasterKey::generate(),
    );

    let mut child = cli_command(&["backup", "create"], &env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("backup create starts");
    let started = Instant::now();
    while files(backups.path(), ".partial").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the backup never started writing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("exit");
    assert!(!status.success(), "killed before it finished");

    assert!(files(backups.path(), ".json").is_empty(), "no manifest");
    assert!(files(backups.path(), ".pgdump.enc").is_empty());
    let listing = text(&run_cli(&["backup", "list"], &env).stdout);
    assert!(listing.contains("No backups yet."), "{listing}");
    assert!(listing.contains("unfinished (not a backup)"), "{listing}");
    let partial = files(backups.path(), ".partial");
    let refused = run_cli(
        &["backup", "verify", &partial[0].display().to_string()],
        &env,
    );
    assert_eq!(refused.status.code(), Some(1));

    // The next run writes a whole backup beside what was left.
    let created = run_cli(&["backup", "create"], &env);
    assert_eq!(created.status.code(), Some(0), "{}", text(&created.stderr));
    let listing = text(&run_cli(&["backup", "list"], &env).stdout);
    assert!(listing.contains(".pgdump.enc  ok"), "{listing}");
    let file = files(backups.path(), ".pgdump.enc")[0]
        .display()
        .to_string();
    assert_eq!(
        run_cli(&["backup", "verify", &file], &env).status.code(),
        Some(0)
    );
}

#[tokio::test]
async fn prune_removes_exactly_the_backups_past_retention_and_keeps_the_newest() {
    use chrono::{Duration as Days, Utc};
    use server::backup;

    let test_db = TestDb::new().await;
    let backups = tempfile::tempdir().expect("temp dir");
    let dir = backups.path();
    let key = MasterKey::generate();
    let crypto = backup::backup_crypto(&key);
    let now = Utc::now();
    for age in [45, 31, 29, 1] {
        backup::create(dir, &test_db.url, &crypto, "test", now - Days::days(age)).expect("backup");
    }
    let ages = || -> Vec<i64> {
        backup::list(dir)
            .expect("list")
            .0
            .iter()
            .map(|b| (now - b.manifest.created_at).num_days())
            .collect()
    };
    assert_eq!(ages(), [45, 31, 29, 1]);

    let removed = backup::prune(dir, 30, now).expect("prune");
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert_eq!(ages(), [29, 1], "exactly those past 30 days");
    assert!(files(dir, ".pgdump.enc").len() == 2 && files(dir, ".json").len() == 2);

    // Three months on with no new backup, the newest still stays.
    let removed = backup::prune(dir, 30, now + Days::days(90)).expect("prune");
    assert_eq!(removed.len(), 1);
    assert_eq!(ages(), [1]);

    // The command uses the platform's setting.
    test_db
        .admin_execute(
            "INSERT INTO platform (name, legal_name, contact_email, backup_retention_days) \
             VALUES ('Platform', 'Platform Ltd', 'privacy@platform.example', 1)",
        )
        .await
        .expect("platform");
    backup::create(dir, &test_db.url, &crypto, "test", now).expect("backup");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let pruned = run_cli(
        &["backup", "prune"],
        &env(&test_db, data_dir.path(), dir, &key),
    );
    assert_eq!(pruned.status.code(), Some(0), "{}", text(&pruned.stderr));
    assert!(
        text(&pruned.stdout).contains("Pruned 1 backup(s) older than 1 days"),
        "{}",
        text(&pruned.stdout)
    );
    assert_eq!(ages(), [0]);
}
