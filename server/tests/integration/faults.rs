//! Faults under load, against the real binary: Postgres stopped hard and
//! started again in the middle of a burst of consents and privacy requests,
//! and two portals serving one database.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::portal::{Portal, start};
use crate::common::smtp::SmtpSink;
use crate::common::{csrf_in, eventually, location, run_cli};

/// The managed cluster of a portal started on its own data folder.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    superuser: String,
    app: String,
}

impl Cluster {
    fn of(portal: &Portal) -> Self {
        let dir = portal.data_dir.join("postgres");
        let pid = std::fs::read_to_string(dir.join("postmaster.pid")).expect("postmaster.pid");
        let port = pid
            .lines()
            .nth(3)
            .and_then(|l| l.trim().parse().ok())
            .expect("a port in postmaster.pid");
        let credentials: serde_json::Value = serde_json::from_slice(
            &std::fs::read(portal.data_dir.join("postgres-credentials.json")).expect("credentials"),
        )
        .expect("credentials JSON");
        let field = |name: &str| credentials[name].as_str().expect("password").to_owned();
        Self {
            bin: server::postgres::find_binaries().expect("postgres binaries"),
            dir,
            port,
            superuser: field("superuser"),
            app: field("app"),
        }
    }

    /// The portal role's URL, for a second portal on the same database.
    fn app_url(&self) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{}",
            server::postgres::APP_ROLE,
            self.app,
            self.port,
            server::postgres::APP_ROLE
        )
    }

    /// `pg_ctl` as the cluster's owner.
    fn pg_ctl(&self, args: &[&str]) {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if nix::unistd::geteuid().is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let output = command
            .args(args)
            .arg("-D")
            .arg(&self.dir)
            .output()
            .expect("pg_ctl runs");
        assert!(
            output.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Stops the server at once, as a crash would (no shutdown checkpoint).
    fn crash(&self) {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }

    fn start(&self) {
        let log = self.dir.join("restart.log").display().to_string();
        let port = format!("-p {}", self.port);
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log, "-o", &port]);
    }

    /// One query's rows as text, as the superuser.
    fn query(&self, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "portal", "-v"])
            .arg("ON_ERROR_STOP=1")
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-Atc", sql])
            .env("PGPASSWORD", &self.superuser)
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn count(&self, sql: &str) -> usize {
        self.query(sql).parse().expect("a count")
    }

    /// Fails naming every acknowledged value that is not among the rows of
    /// `sql`.
    fn assert_all_stored(&self, sql: &str, acknowledged: &[String]) {
        let stored: std::collections::HashSet<String> =
            self.query(sql).lines().map(str::to_owned).collect();
        let missing: Vec<_> = acknowledged
            .iter()
            .filter(|value| !stored.contains(*value))
            .collect();
        assert!(
            missing.is_empty(),
            "acknowledged but not stored: {missing:?}"
        );
    }
}

/// A scratch folder the postgres user can reach.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// A client whose connections come from `127.0.1.{n}`: the request form
/// limits submissions per address, and each submitter is its own visitor.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n)))
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

fn request_fields<'a>(email: &'a str, csrf: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("kind", "access"),
        ("name", "Fault Tester"),
        ("email", email),
        ("phone", ""),
        ("acting_as", "self"),
        ("subject_name", ""),
        ("date_of_birth", "1984-03-09"),
        ("patient_number", ""),
        ("details", "A copy of my records, please."),
        ("acknowledged", "on"),
        ("website", ""),
    ]
}

/// Submits the demo clinic's request form once; whether it was accepted
/// (`303` to the "sent" page). Errors and refusals count as not accepted.
async fn submit_request(client: &reqwest::Client, base: &str, email: &str) -> bool {
    let form = format!("{base}/c/demo/requests/new");
    let Ok(page) = client.get(&form).send().await else {
        return false;
    };
    let Some(csrf) = page.text().await.ok().as_deref().and_then(csrf_in) else {
        return false;
    };
    match client
        .post(&form)
        .header("origin", base)
        .form(&request_fields(email, &csrf))
        .send()
        .await
    {
        Ok(response) => response.status() == 303 && location(&response) == "/c/demo/requests/sent",
        Err(_) => false,
    }
}

/// Posts one consent for `subject`; whether it was acknowledged with 2xx.
async fn post_consent(client: &reqwest::Client, base: &str, subject: &str) -> bool {
    let body = json!({
        "subject_id": subject,
        "choices": { "analytics": true, "video": false },
        "source": "api",
    });
    client
        .post(format!("{base}/api/v1/c/demo/consents"))
        .json(&body)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[derive(Default)]
struct Outcomes {
    acknowledged: Vec<String>,
    refused: usize,
    /// When each acknowledged write was answered.
    answered_at: Vec<Instant>,
}

#[tokio::test]
async fn postgres_restarting_mid_burst_loses_no_acknowledged_write_and_service_resumes() {
    let scratch = scratch();
    let data_dir = scratch.path().join("data");
    let portal = start(
        &data_dir,
        &scratch.path().join("portal.log"),
        &[("PORTAL_CONSENT_RATE_PER_MINUTE", "1000000".to_owned())],
    );
    let cluster = Cluster::of(&portal);
    let base = portal.base.clone();
    let stop = Arc::new(AtomicBool::new(false));

    let mut consents = Vec::new();
    for task in 0..6u8 {
        let (base, stop) = (base.clone(), stop.clone());
        consents.push(tokio::spawn(async move {
            let client = client_from(100 + task);
            let mut outcomes = Outcomes::default();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let subject = format!("fault-consent-{task}-{n:06}");
                if post_consent(&client, &base, &subject).await {
                    outcomes.acknowledged.push(subject);
                    outcomes.answered_at.push(Instant::now());
                } else {
                    outcomes.refused += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            outcomes
        }));
    }
    let mut requests = Vec::new();
    for task in 0..4u8 {
        let (base, stop) = (base.clone(), stop.clone());
        requests.push(tokio::spawn(async move {
            let mut outcomes = Outcomes::default();
            let mut n = 0u8;
            // Ten an hour from one address: each address sends at most nine.
            while !stop.load(Ordering::Relaxed) && n < 90 {
                let client = client_from(1 + task * 10 + n / 9);
                n += 1;
                let email = format!("fault-{task}-{n}@patients.example");
                if submit_request(&client, &base, &email).await {
                    outcomes.acknowledged.push(email);
                    outcomes.answered_at.push(Instant::now());
                } else {
                    outcomes.refused += 1;
                }
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
            outcomes
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.crash();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.start();
    let back = Instant::now();
    // The burst goes on until writes have been acknowledged for a while
    // after Postgres' return.
    let resumed = eventually(Duration::from_secs(20), || async {
        post_consent(&client_from(250), &base, "fault-probe-0000000001").await
    })
    .await;
    let resumed_after = back.elapsed();
    assert!(
        resumed,
        "no consent was acknowledged within 20 s of Postgres' return"
    );
    assert!(
        resumed_after < Duration::from_secs(10),
        "the portal took {resumed_after:?} to serve again"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);

    let mut consent_acks = Vec::new();
    let mut consent_refused = 0;
    let mut acked_after_return = 0;
    for task in consents {
        let outcomes = task.await.expect("consent task");
        acked_after_return += outcomes.answered_at.iter().filter(|t| **t > back).count();
        consent_acks.extend(outcomes.acknowledged);
        consent_refused += outcomes.refused;
    }
    let mut request_acks = Vec::new();
    let mut requests_refused = 0;
    for task in requests {
        let outcomes = task.await.expect("request task");
        request_acks.extend(outcomes.acknowledged);
        requests_refused += outcomes.refused;
    }
    println!(
        "consents: {} acknowledged, {consent_refused} refused, {acked_after_return} after the \
         restart; requests: {} acknowledged, {requests_refused} refused; served again {resumed_after:?} \
         after Postgres' return",
        consent_acks.len(),
        request_acks.len()
    );
    assert!(
        consent_refused > 0 || requests_refused > 0,
        "the outage refused nothing: it did not happen during the burst"
    );
    assert!(acked_after_return > 0, "no consent after the restart");
    assert!(!request_acks.is_empty(), "no request was accepted");

    // Every acknowledged consent is stored once, with its signed receipt.
    cluster.assert_all_stored(
        "SELECT subject_id FROM consent_records WHERE subject_id LIKE 'fault-consent-%' \
         AND receipt LIKE '%.%.%' AND choices ? 'analytics'",
        &consent_acks,
    );
    assert_eq!(
        cluster.count(
            "SELECT count(*) - count(DISTINCT subject_id) FROM consent_records \
             WHERE subject_id LIKE 'fault-consent-%'"
        ),
        0,
        "a consent was stored twice"
    );

    // Every acknowledged request is stored, and no request is half-written:
    // each has its submitted event, its verification email and its audit
    // event (sealed into its chain, or still queued when Postgres stopped
    // between the commit and the seal), all written in one transaction.
    cluster.assert_all_stored(
        "SELECT requester_email FROM privacy_requests WHERE requester_email LIKE 'fault-%'",
        &request_acks,
    );
    assert_eq!(
        cluster.count(
            "SELECT count(*) FROM privacy_requests r WHERE requester_email LIKE 'fault-%' AND ( \
               (SELECT count(*) FROM request_events e WHERE e.request_id = r.id AND e.kind = 'submitted') <> 1 \
               OR (SELECT count(*) FROM audit_events a WHERE a.action = 'request.submitted' \
                   AND a.subject_id = r.id::text) \
                + (SELECT count(*) FROM audit_queue q WHERE q.action = 'request.submitted' \
                   AND q.subject_id = r.id::text) <> 1)"
        ),
        0,
        "a request was stored without its event or audit entry"
    );
    assert_eq!(
        cluster.count("SELECT count(*) FROM privacy_requests WHERE requester_email LIKE 'fault-%'"),
        cluster.count(
            "SELECT count(*) FROM jobs WHERE kind = 'email.send' \
             AND payload->>'to' = 'f***@patients.example'"
        ),
        "a request was stored without its verification email"
    );

    // The audit chains still verify, with every queued event sealed.
    let verify = run_cli(
        &["audit", "verify"],
        &[
            ("DATABASE_URL", cluster.app_url()),
            ("PORTAL_DATA_DIR", data_dir.display().to_string()),
        ],
    );
    assert!(
        verify.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert_eq!(cluster.count("SELECT count(*) FROM audit_queue"), 0);
    portal.terminate();
}

/// Signs in on one portal through a login link printed by the CLI.
async fn sign_in(client: &reqwest::Client, portal: &Portal, database_url: &str, email: &str) {
    let output = run_cli(
        &["login-link", email],
        &[
            ("DATABASE_URL", database_url.to_owned()),
            ("PORTAL_DATA_DIR", portal.data_dir.display().to_string()),
            ("PORTAL_BASE_URL", portal.base.clone()),
        ],
    );
    let printed = String::from_utf8_lossy(&output.stdout).to_string();
    let link = printed
        .split_whitespace()
        .find(|w| w.starts_with(&portal.base))
        .unwrap_or_else(|| panic!("no link printed: {printed}"))
        .to_owned();
    let page = client.get(&link).send().await.expect("link page");
    let csrf = csrf_in(&page.text().await.expect("body")).expect("a form token");
    let response = client
        .post(&link)
        .header("origin", &portal.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), 303, "signing in");
}

#[tokio::test]
async fn two_portals_on_one_database_share_sessions_and_run_each_job_once() {
    let scratch = scratch();
    let data_dir = scratch.path().join("data");
    let sink = SmtpSink::start();
    let first = start(
        &data_dir,
        &scratch.path().join("first.log"),
        &[("SMTP_URL", sink.url())],
    );
    let cluster = Cluster::of(&first);
    // The second one shares the database and the master key (kept in the
    // data folder in development), not the cluster's management.
    let second = start(
        &data_dir,
        &scratch.path().join("second.log"),
        &[
            ("SMTP_URL", sink.url()),
            ("DATABASE_URL", cluster.app_url()),
        ],
    );
    assert_ne!(first.base, second.base);

    // A session made on the first portal works on the second (cookies do not
    // depend on the port), and signing out there ends it on both.
    let browser = client_from(200);
    let owner = app::backend::services::demo::DEMO_OWNER_EMAIL;
    sign_in(&browser, &first, &cluster.app_url(), owner).await;
    for portal in [&first, &second] {
        let response = browser
            .get(portal.url("/admin/c/demo"))
            .send()
            .await
            .expect("dashboard");
        assert_eq!(response.status(), 200, "{} serves the session", portal.base);
    }
    // A form token from a page of the second portal is good on the first.
    let page = browser
        .get(second.url("/admin/c/demo/settings"))
        .send()
        .await
        .expect("settings");
    let csrf = csrf_in(&page.text().await.expect("body")).expect("a form token");
    let response = browser
        .post(first.url("/logout"))
        .header("origin", &first.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(response.status(), 303, "signing out");
    let response = browser
        .get(second.url("/admin/c/demo"))
        .send()
        .await
        .expect("dashboard");
    assert!(
        response.status().is_redirection() && location(&response).starts_with("/login"),
        "the session ended on the second portal too: {} {}",
        response.status(),
        location(&response)
    );

    // Requests submitted to both: each verification email is sent once, by
    // whichever worker claimed its job.
    let mut emails = Vec::new();
    for n in 0..24u8 {
        let portal = if n % 2 == 0 { &first } else { &second };
        let email = format!("twice-{n}@patients.example");
        assert!(
            submit_request(&client_from(1 + n / 8), &portal.base, &email).await,
            "submission {n} to {}",
            portal.base
        );
        emails.push(email);
    }
    let all_sent = eventually(Duration::from_secs(60), || async {
        emails.iter().all(|email| {
            sink.messages()
                .iter()
                .any(|m| m.header("To").is_some_and(|to| to.contains(email.as_str())))
        })
    })
    .await;
    assert!(all_sent, "not every verification email was sent");
    // Give a doubled delivery the time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = sink.messages();
    for email in &emails {
        let copies = messages
            .iter()
            .filter(|m| m.header("To").is_some_and(|to| to.contains(email.as_str())))
            .count();
        assert_eq!(copies, 1, "{email} got {copies} messages");
    }
    assert_eq!(
        cluster.count("SELECT count(*) FROM jobs WHERE status <> 'done'"),
        0,
        "jobs left: {}",
        cluster.query("SELECT kind, status FROM jobs WHERE status <> 'done'")
    );
    let (first_log, second_log) = (first.log_text(), second.log_text());
    second.terminate();
    first.terminate();
    assert!(!first_log.contains("panicked"), "{first_log}");
    assert!(!second_log.contains("panicked"), "{second_log}");
}
