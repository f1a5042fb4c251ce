//! The `privacy-portal` commands, run as a user would.

use secrecy::ExposeSecret;

use crate::common::smtp::SmtpSink;
use crate::common::{TestDb, run_cli};

fn env(test_db: &TestDb, data_dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", test_db.url.expose_secret().to_owned()),
        ("PORTAL_DATA_DIR", data_dir.display().to_string()),
    ]
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn create_clinic_reports_each_bad_flag_then_creates_the_clinic_once() {
    let test_db = TestDb::new().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let env = env(&test_db, data_dir.path());

    let bad = run_cli(
        &[
            "create-clinic",
            "--slug",
            "Not A Slug",
            "--name",
            "North",
            "--country",
            "Germany",
            "--contact-email",
            "nobody",
            "--authority-name",
            "DPA",
            "--deadline",
            "whenever",
        ],
        &env,
    );
    assert_eq!(bad.status.code(), Some(2));
    let stderr = text(&bad.stderr);
    for flag in ["--slug", "--country", "--contact-email", "--deadline"] {
        assert!(
            stderr.contains(&format!("error: {flag}:")),
            "{flag} not reported: {stderr}"
        );
    }

    let args = [
        "create-clinic",
        "--slug",
        "north",
        "--name",
        "North Clinic",
        "--country",
        "de",
        "--contact-email",
        "privacy@north.example",
        "--authority-name",
        "Data Protection Authority",
        "--owner-email",
        "owner@north.example",
        "--deadline",
        "30",
    ];
    let good = run_cli(&args, &env);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good.stderr));
    assert!(text(&good.stdout).contains("Created clinic `north`"));

    let again = run_cli(&args, &env);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already exists"));

    let verify = run_cli(&["audit", "verify"], &env);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
}

#[tokio::test]
async fn demo_seeds_once_and_then_leaves_the_data_alone() {
    let test_db = TestDb::new().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let env = env(&test_db, data_dir.path());
    let first = run_cli(&["demo"], &env);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("Seeded the demo clinic `demo`"));
    let second = run_cli(&["demo"], &env);
    assert_eq!(second.status.code(), Some(0));
    assert!(text(&second.stdout).contains("already exists"));
    let verify = run_cli(&["audit", "verify"], &env);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
}

#[tokio::test]
async fn migrate_reports_an_up_to_date_schema() {
    let test_db = TestDb::new().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let output = run_cli(&["migrate"], &env(&test_db, data_dir.path()));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("up to date (0 pending)"));
}

#[tokio::test]
async fn send_test_email_delivers_through_the_configured_smtp_server() {
    let sink = SmtpSink::start();
    let test_db = TestDb::new().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut env = env(&test_db, data_dir.path());
    env.push(("SMTP_URL", sink.url()));
    let output = run_cli(&["send-test-email", "ops@clinic.example"], &env);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(sink.count(), 1);
    assert_eq!(sink.messages()[0].to, vec!["ops@clinic.example".to_owned()]);

    let bad = run_cli(&["send-test-email", "not-an-address"], &env);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn invalid_configuration_stops_start_up_naming_the_variable() {
    for (name, value) in [
        ("PORTAL_BIND", "nowhere"),
        ("DATABASE_URL", "mysql://db/x"),
        ("SMTP_URL", "mail.example.org"),
        ("PORTAL_ENV", "staging"),
    ] {
        let output = run_cli(&["migrate"], &[(name, value.to_owned())]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!("configuration error: {name}:")),
            "{stderr}"
        );
    }
}

/// Runs the binary with `input` on stdin.
fn run_with_stdin(args: &[&str], env: &[(&str, String)], input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = crate::common::cli_command(args, env)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("the binary ends")
}

#[tokio::test]
async fn set_meta_secret_reads_stdin_and_stores_the_secret_sealed() {
    use app::backend::db::schema::{audit_events, clinics};
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;

    let test_db = TestDb::new().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let env = env(&test_db, data_dir.path());
    assert_eq!(run_cli(&["demo"], &env).status.code(), Some(0));
    let secret = "9b1f0e7c3a5d42e8b6c1f0a9d8e7c6b5";

    let short = run_with_stdin(&["clinic", "set-meta-secret", "demo"], &env, "abc\n");
    assert_eq!(short.status.code(), Some(2));
    assert!(text(&short.stderr).contains("16 to 200 characters"));
    let unknown = run_with_stdin(&["clinic", "set-meta-secret", "nowhere"], &env, secret);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("no clinic has the slug `nowhere`"));

    let saved = run_with_stdin(
        &["clinic", "set-meta-secret", "demo"],
        &env,
        &format!("{secret}\n"),
    );
    assert_eq!(saved.status.code(), Some(0), "{}", text(&saved.stderr));
    let out = text(&saved.stdout);
    assert!(out.contains("/c/demo/meta/data-deletion"), "{out}");
    assert!(!out.contains(secret) && !text(&saved.stderr).contains(secret));

    let (sealed, actions) = test_db
        .db()
        .scoped(app::backend::tenancy::Scope::System, |c| {
            Box::pin(async move {
                let sealed: Option<Vec<u8>> = clinics::table
                    .filter(clinics::slug.eq("demo"))
                    .select(clinics::meta_app_secret_sealed)
                    .first(c)
                    .await?;
                let actions: Vec<String> = audit_events::table
                    .select(audit_events::action)
                    .load(c)
                    .await?;
                Ok::<_, app::backend::db::DbError>((sealed, actions))
            })
        })
        .await
        .expect("read back");
    let sealed = sealed.expect("a stored secret");
    assert!(
        !sealed.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is encrypted at rest"
    );
    assert!(actions.iter().any(|a| a == "clinic.meta_secret_set"));
}

#[tokio::test]
async fn retention_run_previews_then_purges_and_names_unknown_clinics() {
    let test_db = TestDb::new().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let env = env(&test_db, data_dir.path());
    assert_eq!(run_cli(&["demo"], &env).status.code(), Some(0));
    // An email sent long ago is past the 90-day log rule.
    test_db
        .admin_execute(
            "INSERT INTO email_deliveries (clinic_id, message_id, template, recipient, status, created_at) \
             SELECT id, '<old@test>', 'delivery_check', 'old@example.org', 'sent', now() - interval '120 days' \
             FROM clinics WHERE slug = 'demo'",
        )
        .await
        .expect("old email log row");

    let preview = run_cli(&["retention", "run", "--dry-run", "--clinic", "demo"], &env);
    let text = String::from_utf8_lossy(&preview.stdout);
    assert_eq!(preview.status.code(), Some(0), "{text}");
    assert!(text.contains("demo: would remove or anonymize 1"), "{text}");
    assert!(
        text.contains("email_log") && text.contains("Dry run"),
        "{text}"
    );

    let run = run_cli(&["retention", "run"], &env);
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{text}");
    assert!(text.contains("demo: removed or anonymized 1"), "{text}");
    let again = run_cli(&["retention", "run", "--clinic", "demo"], &env);
    assert!(String::from_utf8_lossy(&again.stdout).contains("demo: removed or anonymized 0"));

    let unknown = run_cli(&["retention", "run", "--clinic", "nope"], &env);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no clinic nope"));
    assert_eq!(run_cli(&["audit", "verify"], &env).status.code(), Some(0));
}

#[tokio::test]
async fn production_refuses_a_database_role_that_bypasses_row_level_security() {
    let test_db = TestDb::new().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let superuser = crate::common::cluster().await.admin_url(&test_db.name);
    let key = app::backend::crypto::MasterKey::generate().to_base64();
    let production = |url: String| {
        vec![
            ("DATABASE_URL", url),
            ("PORTAL_DATA_DIR", data_dir.path().display().to_string()),
            ("PORTAL_ENV", "production".to_owned()),
            ("PORTAL_MASTER_KEY", key.clone()),
            ("PORTAL_BASE_URL", "https://privacy.example.org".to_owned()),
        ]
    };
    for command in [&["migrate"][..], &["audit", "verify"][..]] {
        let output = run_cli(command, &production(superuser.clone()));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(
            stderr.contains("the database role `postgres` is a superuser or has BYPASSRLS"),
            "{command:?}: {stderr}"
        );
        assert!(stderr.contains("NOSUPERUSER NOBYPASSRLS"), "{stderr}");
    }
    // The portal's own role starts in production, and development only
    // warns about the superuser.
    let as_app = production(test_db.url.expose_secret().to_owned());
    let output = run_cli(&["migrate"], &as_app);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = run_cli(&["migrate"], &env(&test_db, data_dir.path()));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let mut development = env(&test_db, data_dir.path());
    development[0].1 = superuser;
    let output = run_cli(&["migrate"], &development);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let said = text(&output.stdout) + &text(&output.stderr);
    assert!(
        said.contains("up to date") && said.contains("BYPASSRLS"),
        "{said}"
    );
}
