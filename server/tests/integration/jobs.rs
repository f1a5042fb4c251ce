//! The outbox and job queue, with email delivery through a real SMTP listener.

use std::collections::HashSet;
use std::time::Duration;

use app::backend::crypto::{Crypto, MasterKey};
use app::backend::db::schema::{email_deliveries, jobs as jobs_table};
use app::backend::db::{Db, DbError};
use app::backend::email::templates::DeliveryCheck;
use app::backend::email::{self, OutgoingEmail, compose};
use app::backend::jobs::{self, NewJob};
use app::backend::tenancy::Scope;
use app::domain::email::EmailAddress;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use secrecy::ExposeSecret;

use crate::common::smtp::SmtpSink;
use crate::common::{TestApp, TestDb, cli_command, eventually, spawn_app_with};

fn message(to: &str) -> OutgoingEmail {
    let check = DeliveryCheck {
        portal_url: "http://portal.test".into(),
        sent_at: "2026-11-23 10:00 UTC".into(),
        transport: "SMTP".into(),
    };
    compose(
        &check,
        EmailAddress::parse(to).expect("address"),
        "portal.test",
    )
    .expect("renders")
}

async fn enqueue_emails(db: &Db, crypto: &Crypto, recipients: Vec<String>) -> Vec<i64> {
    let crypto = crypto.clone();
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            let mut ids = Vec::new();
            for to in recipients {
                let id = email::enqueue(c, &crypto, None, &message(&to), None)
                    .await?
                    .expect("queued");
                ids.push(id);
            }
            Ok::<_, DbError>(ids)
        })
    })
    .await
    .expect("enqueue")
}

#[derive(Debug, Queryable)]
struct JobState {
    status: String,
    attempts: i32,
    last_error: Option<String>,
    run_at: chrono::DateTime<chrono::Utc>,
    payload: serde_json::Value,
}

async fn job_state(db: &Db, id: i64) -> JobState {
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                jobs_table::table
                    .find(id)
                    .select((
                        jobs_table::status,
                        jobs_table::attempts,
                        jobs_table::last_error,
                        jobs_table::run_at,
                        jobs_table::payload,
                    ))
                    .first::<JobState>(c)
                    .await?,
            )
        })
    })
    .await
    .expect("job row")
}

/// Email jobs with `status` (workers also schedule periodic jobs of their own).
async fn count_jobs(db: &Db, status: &'static str) -> i64 {
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                jobs_table::table
                    .filter(jobs_table::kind.eq(email::JOB_KIND))
                    .filter(jobs_table::status.eq(status))
                    .count()
                    .get_result::<i64>(c)
                    .await?,
            )
        })
    })
    .await
    .expect("count")
}

async fn deliveries(db: &Db) -> Vec<(String, String)> {
    db.scoped(Scope::System, |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                email_deliveries::table
                    .select((email_deliveries::recipient, email_deliveries::status))
                    .load::<(String, String)>(c)
                    .await?,
            )
        })
    })
    .await
    .expect("deliveries")
}

async fn app_with_smtp(sink: &SmtpSink) -> TestApp {
    spawn_app_with(&[("SMTP_URL", sink.url())]).await
}

#[tokio::test]
async fn an_idempotency_key_makes_a_second_enqueue_a_no_op() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let (first, second) = db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                let mut job = NewJob::now(email::JOB_KIND, serde_json::json!({}));
                job.idempotency_key = Some("notice:42:patient@example.org".into());
                let first = jobs::enqueue(c, job.clone()).await?;
                let second = jobs::enqueue(c, job).await?;
                Ok::<_, DbError>((first, second))
            })
        })
        .await
        .expect("enqueue");
    assert!(first.is_some());
    assert_eq!(second, None);
    assert_eq!(count_jobs(&db, "pending").await, 1);
}

#[tokio::test]
async fn the_worker_delivers_a_multipart_email_and_keeps_no_body_afterwards() {
    let sink = SmtpSink::start();
    let app = app_with_smtp(&sink).await;
    let ids = enqueue_emails(
        &app.db,
        &app.state.crypto,
        vec!["patient@example.org".into()],
    )
    .await;

    assert!(
        eventually(Duration::from_secs(20), || async { sink.count() == 1 }).await,
        "no email arrived"
    );
    let mail = &sink.messages()[0];
    assert_eq!(mail.to, vec!["patient@example.org".to_owned()]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Clinic Privacy Portal: email delivery check")
    );
    assert!(mail.text().contains("http://portal.test"));
    assert!(mail.html().contains(r#"href="http://portal.test""#));

    assert!(
        eventually(Duration::from_secs(10), || async {
            job_state(&app.db, ids[0]).await.status == "done"
        })
        .await
    );
    let state = job_state(&app.db, ids[0]).await;
    assert!(
        state.payload.get("sealed").is_none(),
        "the sealed body must be dropped: {}",
        state.payload
    );
    assert_eq!(state.payload["to"], "p***@example.org");
    assert_eq!(
        state.payload["message_id"].as_str(),
        mail.header("Message-ID").as_deref()
    );
    assert_eq!(
        deliveries(&app.db).await,
        vec![("patient@example.org".to_owned(), "sent".to_owned())]
    );
}

#[tokio::test]
async fn the_sealed_email_body_does_not_reveal_its_content_in_the_database() {
    let sink = SmtpSink::start();
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let crypto = Crypto::new(&MasterKey::generate());
    let ids = enqueue_emails(&db, &crypto, vec!["secret.person@example.org".into()]).await;
    let state = job_state(&db, ids[0]).await;
    let stored = state.payload.to_string();
    assert!(!stored.contains("secret.person"), "{stored}");
    assert!(!stored.contains("delivery check"), "{stored}");
    drop(sink);
}

#[tokio::test]
async fn a_refused_connection_is_retried_later_with_back_off() {
    // A port with nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let app = spawn_app_with(&[("SMTP_URL", format!("smtp://127.0.0.1:{closed}"))]).await;
    let ids = enqueue_emails(
        &app.db,
        &app.state.crypto,
        vec!["patient@example.org".into()],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(20), || async {
            job_state(&app.db, ids[0]).await.last_error.is_some()
        })
        .await,
        "the attempt should fail"
    );
    let state = job_state(&app.db, ids[0]).await;
    assert_eq!(state.status, "pending");
    assert_eq!(state.attempts, 1);
    let delay = state.run_at - chrono::Utc::now();
    assert!(
        delay > chrono::Duration::seconds(5),
        "retry should wait, waits {delay}"
    );
    assert!(
        deliveries(&app.db).await.is_empty(),
        "nothing was handed over"
    );
}

#[tokio::test]
async fn a_rejected_recipient_fails_the_job_for_good_and_is_logged() {
    let sink = SmtpSink::start_rejecting(Some("bounce"));
    let app = app_with_smtp(&sink).await;
    let ids = enqueue_emails(
        &app.db,
        &app.state.crypto,
        vec!["bounce@example.org".into()],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(20), || async {
            job_state(&app.db, ids[0]).await.status == "failed"
        })
        .await
    );
    let state = job_state(&app.db, ids[0]).await;
    assert!(state.last_error.unwrap_or_default().contains("550"));
    assert_eq!(
        deliveries(&app.db).await,
        vec![("bounce@example.org".to_owned(), "failed".to_owned())]
    );
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn without_smtp_each_email_is_written_as_an_eml_file() {
    let app = spawn_app_with(&[]).await;
    enqueue_emails(
        &app.db,
        &app.state.crypto,
        vec!["patient@example.org".into()],
    )
    .await;
    let outbox = app.data_dir.path().join("outbox");
    let found = eventually(Duration::from_secs(20), || {
        let outbox = outbox.clone();
        async move {
            std::fs::read_dir(&outbox)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .any(|e| e.path().extension().is_some_and(|x| x == "eml"))
                })
                .unwrap_or(false)
        }
    })
    .await;
    assert!(found, "no .eml file in {}", outbox.display());
    let file = std::fs::read_dir(&outbox)
        .expect("outbox")
        .filter_map(Result::ok)
        .next()
        .expect("file")
        .path();
    let raw = std::fs::read_to_string(file).expect("eml");
    assert!(raw.contains("Subject: Clinic Privacy Portal: email delivery check"));
    assert!(raw.contains("To: patient@example.org"));
}

#[tokio::test]
async fn expired_leases_go_back_to_the_queue_and_released_ones_do_not_count_as_attempts() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let crypto = Crypto::new(&MasterKey::generate());
    let ids = enqueue_emails(
        &db,
        &crypto,
        vec!["a@example.org".into(), "b@example.org".into()],
    )
    .await;

    let claimed = jobs::claim(&db, "ghost", 1, Duration::from_millis(100))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(jobs::reap_expired_leases(&db).await.expect("reap"), 1);
    let state = job_state(&db, claimed[0].id).await;
    assert_eq!((state.status.as_str(), state.attempts), ("pending", 1));
    assert!(
        state
            .last_error
            .unwrap_or_default()
            .contains("lease expired")
    );

    let held = jobs::claim(&db, "leaving", 10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(held.len(), 2);
    assert_eq!(jobs::release(&db, "leaving").await.expect("release"), 2);
    for id in ids {
        let state = job_state(&db, id).await;
        assert_eq!(state.status, "pending");
    }
    let reclaimed = jobs::claim(&db, "next", 10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(reclaimed.len(), 2, "released jobs are due at once");
}

#[tokio::test]
async fn jobs_completed_together_are_done_only_where_their_worker_holds_the_lease() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let crypto = Crypto::new(&MasterKey::generate());
    enqueue_emails(
        &db,
        &crypto,
        vec![
            "a@example.org".into(),
            "b@example.org".into(),
            "c@example.org".into(),
        ],
    )
    .await;
    let mine = jobs::claim(&db, "mine", 2, Duration::from_secs(60))
        .await
        .expect("claim");
    let theirs = jobs::claim(&db, "theirs", 1, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!((mine.len(), theirs.len()), (2, 1));

    // The first two are done by their worker; the third is claimed to
    // "mine" by mistake, and stays with the worker that holds it.
    let done: Vec<(i64, String, serde_json::Value)> = mine
        .iter()
        .chain(&theirs)
        .map(|job| {
            (
                job.id,
                "mine".to_owned(),
                serde_json::json!({ "kept": job.id }),
            )
        })
        .collect();
    let completed = db
        .scoped(Scope::System, move |c| {
            Box::pin(async move { Ok::<_, DbError>(jobs::complete_many(c, done).await?) })
        })
        .await
        .expect("complete");
    let mut expected: Vec<i64> = mine.iter().map(|job| job.id).collect();
    let mut completed_sorted = completed.clone();
    expected.sort_unstable();
    completed_sorted.sort_unstable();
    assert_eq!(completed_sorted, expected);
    for job in &mine {
        let state = job_state(&db, job.id).await;
        assert_eq!(state.status, "done");
        assert_eq!(
            state.payload,
            serde_json::json!({ "kept": job.id }),
            "each payload is replaced by its own"
        );
    }
    assert_eq!(job_state(&db, theirs[0].id).await.status, "running");
}

#[tokio::test]
async fn concurrent_claims_never_hand_out_the_same_job() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let crypto = Crypto::new(&MasterKey::generate());
    enqueue_emails(
        &db,
        &crypto,
        (0..200).map(|i| format!("p{i}@example.org")).collect(),
    )
    .await;
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = jobs::claim(&db, &format!("w{worker}"), 7, Duration::from_secs(60))
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 200);
    assert_eq!(unique.len(), 200, "a job was claimed twice");
}

#[tokio::test]
async fn two_worker_processes_deliver_1000_queued_emails_exactly_once() {
    let sink = SmtpSink::start();
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let key = MasterKey::generate();
    let crypto = Crypto::new(&key);
    let recipients: Vec<String> = (0..1000)
        .map(|i| format!("patient{i}@example.org"))
        .collect();
    enqueue_emails(&db, &crypto, recipients.clone()).await;

    let data_dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("DATABASE_URL", test_db.url.expose_secret().to_owned()),
        ("SMTP_URL", sink.url()),
        ("PORTAL_MASTER_KEY", key.to_base64()),
        ("PORTAL_DATA_DIR", data_dir.path().display().to_string()),
        ("PORTAL_WORKER_CONCURRENCY", "4".to_owned()),
        ("PORTAL_DB_POOL_SIZE", "6".to_owned()),
        ("PORTAL_LOG", "warn,server::worker=debug".to_owned()),
    ];
    let mut workers: Vec<std::process::Child> = (0..2)
        .map(|_| {
            cli_command(&["worker"], &env)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("worker starts")
        })
        .collect();
    // The logs are read while the workers run: a worker whose pipe filled up
    // would block on its next line and never stop.
    let readers: Vec<std::thread::JoinHandle<String>> = workers
        .iter_mut()
        .map(|worker| {
            let mut pipe = worker.stderr.take().expect("stderr piped");
            std::thread::spawn(move || {
                use std::io::Read;
                let mut stderr = String::new();
                let _ = pipe.read_to_string(&mut stderr);
                stderr
            })
        })
        .collect();

    let drained = eventually(Duration::from_secs(180), || async {
        count_jobs(&db, "done").await == 1000
    })
    .await;
    for worker in &workers {
        kill(Pid::from_raw(worker.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    }
    let mut logs = Vec::new();
    for (worker, reader) in workers.iter_mut().zip(readers) {
        let status = worker.wait().expect("worker exits");
        let stderr = reader.join().expect("log reader");
        assert!(status.success(), "worker exited with {status}: {stderr}");
        logs.push(stderr);
    }
    assert!(
        drained,
        "the queue was not drained: {} done",
        count_jobs(&db, "done").await
    );
    let per_worker: Vec<usize> = logs
        .iter()
        .map(|log| log.matches("job done").count())
        .collect();
    assert!(
        per_worker.iter().all(|n| *n > 0),
        "both workers should have run jobs: {per_worker:?}"
    );

    let messages = sink.messages();
    assert_eq!(messages.len(), 1000, "each email must arrive exactly once");
    let message_ids: HashSet<String> = messages
        .iter()
        .filter_map(|m| m.header("Message-ID"))
        .collect();
    assert_eq!(message_ids.len(), 1000);
    let received: HashSet<String> = messages.iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(received, recipients.into_iter().collect::<HashSet<_>>());

    let attempts: Vec<i32> = db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    jobs_table::table
                        .filter(jobs_table::kind.eq(email::JOB_KIND))
                        .select(jobs_table::attempts)
                        .load::<i32>(c)
                        .await?,
                )
            })
        })
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1000);
    assert!(attempts.iter().all(|a| *a == 1), "every job ran once");
    assert_eq!(deliveries(&db).await.len(), 1000);
}

#[tokio::test]
async fn the_worker_schedules_and_runs_each_periodic_job_once_per_period() {
    let hour = || chrono::Utc::now().format("%Y-%m-%dT%H").to_string();
    let started = hour();
    let app = crate::common::spawn_app().await;
    let done_kinds = || async {
        app.db
            .scoped(Scope::System, |c| {
                Box::pin(async move {
                    Ok::<_, DbError>(
                        jobs_table::table
                            .filter(jobs_table::status.eq("done"))
                            .select(jobs_table::kind)
                            .load::<String>(c)
                            .await?,
                    )
                })
            })
            .await
            .expect("jobs")
    };
    let every: HashSet<String> = app::backend::jobs::handlers::PERIODIC
        .iter()
        .map(|(kind, _)| (*kind).to_owned())
        .collect();
    assert!(every.contains("requests.reminders") && every.contains("requests.purge_unverified"));
    // The worker schedules them as it starts, and each one succeeds.
    assert!(
        eventually(Duration::from_secs(20), || async {
            every.is_subset(&done_kinds().await.into_iter().collect())
        })
        .await,
        "done: {:?}",
        done_kinds().await
    );
    // Another worker, or the next tick, in the same period adds nothing.
    let added = app::backend::jobs::handlers::schedule_periodic(&app.db)
        .await
        .expect("schedule");
    if hour() == started {
        assert_eq!(added, 0);
        assert_eq!(done_kinds().await.len(), every.len());
    }
}
