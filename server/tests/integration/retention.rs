//! Retention rules and the purge, clinic exports, and offboarding.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use app::backend::audit::{self, AuditContext};
use app::backend::clock::ManualClock;
use app::backend::crypto::{Crypto, MasterKey};
use app::backend::db::schema::{audit_events, clinic_exports, clinics, users};
use app::backend::db::{Db, DbError};
use app::backend::models::audit::NewAuditEventRow;
use app::backend::services::exports::ExportedEvent;
use app::backend::services::{clinics as clinic_service, consent, offboarding, retention};
use app::backend::state::{AppServices, AppState, Environment, Settings};
use app::backend::tenancy::Scope;
use app::domain::audit::{ChainVerifier, ChainedEvent, GENESIS_HASH, StoredLink};
use app::domain::clinic::ClinicStatus;
use app::domain::retention::{Action, Category, Rule};
use app::domain::session::SessionPolicy;
use chrono::{Duration, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestDb, demo_app, location};
use crate::tenancy::{clinic_input, two_clinics};

fn state_with_clock(test_db: &TestDb) -> (AppState, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let state = AppState::new(AppServices {
        db: test_db.db(),
        settings: Arc::new(Settings {
            base_url: "http://127.0.0.1:9".into(),
            environment: Environment::Development,
            data_dir: std::env::temp_dir(),
            mail_from: "Portal <portal@example.org>".into(),
            sessions: SessionPolicy::default(),
            request_rate_per_hour: 10,
        }),
        crypto: Crypto::new(&MasterKey::generate()),
        clock: clock.clone(),
        consent: Default::default(),
        clinics: Default::default(),
    });
    (state, clock)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A `count(*) AS n` query across every clinic.
pub async fn count(db: &Db, sql: String) -> i64 {
    db.scoped(Scope::System, move |c| {
        Box::pin(
            async move { Ok::<_, DbError>(diesel::sql_query(sql).get_result::<Count>(c).await?.n) },
        )
    })
    .await
    .expect("count")
}

/// Rows just older and just newer than each default period, plus rows no
/// rule reaches.
fn seed_sql(clinic: Uuid, owner: Uuid, tag: &str) -> Vec<String> {
    let config = Uuid::new_v4();
    let (closed_old, closed_new) = (Uuid::new_v4(), Uuid::new_v4());
    let request = |id: Uuid, status: &str, age_days: i64| {
        let closed = matches!(status, "completed");
        format!(
            "INSERT INTO privacy_requests (id, clinic_id, kind, status, outcome, source, requester_name, \
             requester_email, requester_phone, details, verified_at, base_due_on, due_on, completed_at, created_at) \
             VALUES ('{id}', '{clinic}', 'access', '{status}', {outcome}, 'web_form', 'Pat {tag}', \
             'pat-{tag}@example.org', '+49 30 1234', 'My records, please.', {verified}, current_date, current_date, \
             {completed}, now() - interval '{age_days} days')",
            outcome = if closed { "'fulfilled'" } else { "NULL" },
            verified = if status == "unverified" {
                "NULL".to_owned()
            } else {
                format!("now() - interval '{age_days} days'")
            },
            completed = if closed {
                format!("now() - interval '{age_days} days'")
            } else {
                "NULL".to_owned()
            },
        )
    };
    vec![
        // Closed requests: the rule is set to 400 days, anonymize.
        request(closed_old, "completed", 401),
        request(closed_new, "completed", 399),
        // An open request is never purged, however old.
        request(Uuid::new_v4(), "new", 2000),
        request(Uuid::new_v4(), "unverified", 8),
        request(Uuid::new_v4(), "unverified", 6),
        format!(
            "INSERT INTO request_files (id, clinic_id, request_id, filename, content_type, size_bytes, sha256, sealed) \
             VALUES ('{}', '{clinic}', '{closed_old}', 'reply.pdf', 'application/pdf', 1, '\\x{}', '\\x00')",
            Uuid::new_v4(),
            "11".repeat(32)
        ),
        format!(
            "INSERT INTO request_events (clinic_id, request_id, kind, author_kind, body, visible_to_requester) \
             VALUES ('{clinic}', '{closed_old}', 'note', 'staff', 'Called Pat {tag} at home.', false)"
        ),
        format!(
            "INSERT INTO consent_configs (id, clinic_id, version, content_hash, purposes) \
             VALUES ('{config}', '{clinic}', 1, '{}', '[]')",
            "cd".repeat(32)
        ),
        format!(
            "INSERT INTO consent_records (id, clinic_id, subject_id, config_id, choices, source, recorded_at, receipt) \
             SELECT gen_random_uuid(), '{clinic}', 'subject-0123456789', '{config}', '{{}}', 'api', \
             now() - make_interval(days => d), 'a.b.c' FROM unnest(ARRAY[1096, 1094]) AS d"
        ),
        format!(
            "INSERT INTO email_deliveries (clinic_id, message_id, template, recipient, status, created_at) \
             SELECT '{clinic}', '<m@test>', 'delivery_check', 'p-{tag}@example.org', 'sent', \
             now() - make_interval(days => d) FROM unnest(ARRAY[91, 89]) AS d"
        ),
        format!(
            "INSERT INTO sessions (id, user_id, data, expires_at, updated_at) \
             SELECT '{tag}-' || d, '{owner}', '{{}}', now() + interval '1 day', now() - make_interval(days => d) \
             FROM unnest(ARRAY[31, 29]) AS d"
        ),
        format!(
            "INSERT INTO subscribers (id, clinic_id, email, status, unsubscribed_at) \
             SELECT gen_random_uuid(), '{clinic}', 'gone' || d || '-{tag}@example.org', 'unsubscribed', \
             now() - make_interval(days => d) FROM unnest(ARRAY[31, 29]) AS d"
        ),
        format!(
            "INSERT INTO subscribers (id, clinic_id, email, status, confirmed_at) \
             VALUES (gen_random_uuid(), '{clinic}', 'stays-{tag}@example.org', 'confirmed', now() - interval '400 days')"
        ),
    ]
}

/// Replaces the clinic's audit chain with three events older than seven
/// years and two from today, correctly chained.
async fn old_audit_chain(db: &Db, clinic: Uuid) {
    let now = Utc::now().trunc_subsecs(6);
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            diesel::sql_query("SELECT set_config('portal.audit_purge', 'on', true)")
                .execute(c)
                .await?;
            diesel::delete(audit_events::table.filter(audit_events::clinic_id.eq(clinic)))
                .execute(c)
                .await?;
            let mut prev = GENESIS_HASH.to_vec();
            for (seq, age_days) in [(1, 2600), (2, 2580), (3, 2560), (4, 1), (5, 0)] {
                let event = ChainedEvent {
                    clinic_id: Some(clinic),
                    seq,
                    occurred_at_micros: (now - Duration::days(age_days)).timestamp_micros(),
                    actor_kind: "system".into(),
                    actor_id: None,
                    actor_label: "system".into(),
                    action: "test.event".into(),
                    subject_kind: "test".into(),
                    subject_id: seq.to_string(),
                    details: json!({ "n": seq }),
                    request_id: None,
                };
                let hash = event.chained_hash(&prev).to_vec();
                diesel::insert_into(audit_events::table)
                    .values(NewAuditEventRow {
                        clinic_id: Some(clinic),
                        seq,
                        occurred_at: now - Duration::days(age_days),
                        actor_kind: event.actor_kind,
                        actor_id: None,
                        actor_label: event.actor_label,
                        action: event.action,
                        subject_kind: event.subject_kind,
                        subject_id: event.subject_id,
                        details: event.details,
                        request_id: None,
                        prev_hash: prev.clone(),
                        hash: hash.clone(),
                    })
                    .execute(c)
                    .await?;
                prev = hash;
            }
            Ok::<_, DbError>(())
        })
    })
    .await
    .expect("old audit chain");
}

/// The id of the user with `email`.
pub async fn owner_of(db: &Db, email: &'static str) -> Uuid {
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                users::table
                    .filter(users::email.eq(email))
                    .select(users::id)
                    .first(c)
                    .await?,
            )
        })
    })
    .await
    .expect("owner")
}

#[tokio::test]
async fn the_purge_removes_or_anonymizes_exactly_the_data_past_each_rule_and_reports_it() {
    let test_db = TestDb::new().await;
    let (state, _clock) = state_with_clock(&test_db);
    let db = state.db.clone();
    let ctx = AuditContext::cli();
    let clinic = clinic_service::create(&db, &ctx, clinic_input("purge", "owner@purge.example"))
        .await
        .expect("clinic");
    let other = clinic_service::create(&db, &ctx, clinic_input("keeps", "owner@keeps.example"))
        .await
        .expect("other clinic");
    let owner = owner_of(&db, "owner@purge.example").await;
    let other_owner = owner_of(&db, "owner@keeps.example").await;
    old_audit_chain(&db, clinic.0).await;
    for sql in seed_sql(clinic.0, owner, "p")
        .into_iter()
        .chain(seed_sql(other.0, other_owner, "k"))
    {
        test_db.admin_execute(&sql).await.expect("seed row");
    }
    let mut wanted = retention::rules(&db, clinic).await.expect("rules");
    assert_eq!(
        wanted[&Category::AuditLog],
        Category::AuditLog.default_rule()
    );
    wanted.insert(
        Category::ClosedRequests,
        Rule {
            period_days: 400,
            action: Action::Anonymize,
        },
    );
    let changed = retention::save_rules(&db, &ctx, clinic, None, wanted)
        .await
        .expect("rules saved");
    assert_eq!(changed, 1);

    let expected: BTreeMap<String, i64> = [
        ("audit_log", 3),
        ("closed_requests", 1),
        ("consent_records", 1),
        ("email_log", 1),
        ("sessions", 1),
        ("unsubscribed_subscribers", 1),
        ("unverified_requests", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let rows = |table: &str, id: Uuid| {
        format!("SELECT count(*) AS n FROM {table} WHERE clinic_id = '{id}'")
    };
    let before = count(&db, rows("privacy_requests", clinic.0)).await;

    let preview = retention::run_clinic(&state, &ctx, clinic, true, retention::Trigger::Cli)
        .await
        .expect("dry run");
    assert_eq!(
        preview.counts, expected,
        "the dry run counts what the rules reach"
    );
    assert_eq!(
        count(&db, rows("privacy_requests", clinic.0)).await,
        before,
        "a dry run changes nothing"
    );
    assert_eq!(count(&db, rows("audit_events", clinic.0)).await, 6);

    let report = retention::run_clinic(&state, &ctx, clinic, false, retention::Trigger::Cli)
        .await
        .expect("purge");
    assert_eq!(report.counts, expected);

    // Exactly the old rows went; the new ones and those no rule reaches stay.
    assert_eq!(
        count(&db, rows("privacy_requests", clinic.0)).await,
        before - 1
    );
    assert_eq!(
        count(&db, format!("SELECT count(*) AS n FROM privacy_requests WHERE clinic_id = '{}' AND requester_name = 'Anonymized' AND requester_phone IS NULL AND details = ''", clinic.0)).await,
        1,
        "the old closed request is anonymized"
    );
    assert_eq!(
        count(&db, rows("request_files", clinic.0)).await,
        0,
        "its files are gone"
    );
    assert_eq!(
        count(&db, format!("SELECT count(*) AS n FROM request_events WHERE clinic_id = '{}' AND body LIKE '%Pat%'", clinic.0)).await,
        0
    );
    assert_eq!(
        count(&db, format!("SELECT count(*) AS n FROM privacy_requests WHERE clinic_id = '{}' AND requester_name = 'Pat p'", clinic.0)).await,
        3,
        "the newer closed, the open and the newer unverified request keep their data"
    );
    assert_eq!(count(&db, rows("consent_records", clinic.0)).await, 1);
    assert_eq!(count(&db, rows("email_deliveries", clinic.0)).await, 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM sessions WHERE id LIKE 'p-%'".into()
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, format!("SELECT count(*) AS n FROM subscribers WHERE clinic_id = '{}' AND email LIKE 'anonymized-%@example.invalid'", clinic.0)).await,
        1
    );
    assert_eq!(count(&db, rows("subscribers", clinic.0)).await, 3);

    // The audit chain lost its three oldest events and still verifies from
    // its anchor, with the purge itself recorded.
    assert_eq!(
        count(&db, format!("SELECT count(*) AS n FROM audit_events WHERE clinic_id = '{}' AND action = 'test.event'", clinic.0)).await,
        2
    );
    for report in audit::verify_all(&db).await.expect("verify") {
        assert!(
            report.broken.is_none(),
            "{}: {:?}",
            report.chain_name(),
            report.broken
        );
    }
    assert_eq!(
        count(&db, format!("SELECT count(*) AS n FROM audit_events WHERE clinic_id = '{}' AND action IN ('retention.purged', 'retention.rule_changed')", clinic.0)).await,
        2
    );
    assert_eq!(count(&db, rows("retention_runs", clinic.0)).await, 2);

    // The other clinic's old data is untouched.
    for (table, n) in [
        ("consent_records", 2),
        ("email_deliveries", 2),
        ("privacy_requests", 5),
        ("subscribers", 3),
    ] {
        assert_eq!(
            count(&db, rows(table, other.0)).await,
            n,
            "{table} of the other clinic"
        );
    }
    // A second run finds nothing more.
    let again = retention::run_clinic(&state, &ctx, clinic, false, retention::Trigger::Schedule)
        .await
        .expect("second purge");
    assert!(again.counts.values().all(|&n| n == 0), "{:?}", again.counts);
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    table_name: String,
}

async fn tenant_counts(db: &Db, clinic: Uuid) -> BTreeMap<String, i64> {
    let tables: Vec<TableName> = db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    diesel::sql_query(
                        "SELECT table_name::text AS table_name FROM information_schema.columns \
                         WHERE table_schema = 'public' AND column_name = 'clinic_id'",
                    )
                    .load(c)
                    .await?,
                )
            })
        })
        .await
        .expect("tables");
    let mut counts = BTreeMap::new();
    for t in tables {
        let n = count(
            db,
            format!(
                "SELECT count(*) AS n FROM {} WHERE clinic_id = '{clinic}'",
                t.table_name
            ),
        )
        .await;
        counts.insert(t.table_name, n);
    }
    counts
}

#[tokio::test]
async fn a_clinic_leaves_the_public_pages_and_consent_api_at_once_when_suspended_or_offboarded() {
    let test_db = TestDb::new().await;
    let (state, _clock) = state_with_clock(&test_db);
    let ctx = AuditContext::cli();
    let a = clinic_service::create(
        &state.db,
        &ctx,
        clinic_input("alpha", "owner@alpha.example"),
    )
    .await
    .expect("clinic a");
    let b = clinic_service::create(
        &state.db,
        &ctx,
        clinic_input("bravo", "owner@bravo.example"),
    )
    .await
    .expect("clinic b");
    let public = |slug: &'static str| {
        let state = state.clone();
        async move {
            clinic_service::public(&state, slug)
                .await
                .expect("public profile")
                .map(|c| c.slug)
        }
    };
    let consent_api = |slug: &'static str| {
        let state = state.clone();
        async move {
            consent::published(&state, slug)
                .await
                .expect("consent configuration")
                .is_some()
        }
    };
    // Both profiles and consent configurations are now kept in memory.
    assert_eq!(public("alpha").await.as_deref(), Some("alpha"));
    assert_eq!(public("bravo").await.as_deref(), Some("bravo"));
    assert!(consent_api("alpha").await && consent_api("bravo").await);

    assert!(
        clinic_service::set_status(&state, &ctx, b, ClinicStatus::Suspended)
            .await
            .expect("suspended")
    );
    assert_eq!(
        public("bravo").await,
        None,
        "a suspended clinic is gone at once"
    );
    assert!(!consent_api("bravo").await, "and so is its consent API");
    offboarding::start(&state, &ctx, a, 30)
        .await
        .expect("offboarding starts");
    assert_eq!(
        public("alpha").await,
        None,
        "an offboarded clinic is gone at once"
    );
    assert!(!consent_api("alpha").await, "and so is its consent API");
    assert!(
        clinic_service::set_status(&state, &ctx, b, ClinicStatus::Active)
            .await
            .expect("reactivated")
    );
    assert_eq!(public("bravo").await.as_deref(), Some("bravo"));
}

#[tokio::test]
async fn offboarding_emails_the_admins_then_deletes_every_tenant_row_of_the_clinic_only() {
    let test_db = TestDb::new().await;
    let (state, clock) = state_with_clock(&test_db);
    let db = state.db.clone();
    let (a, b) = two_clinics(&db).await;
    let before_a = tenant_counts(&db, a.0).await;
    let before_b = tenant_counts(&db, b.0).await;
    assert!(before_a.len() >= 30, "{before_a:?}");
    for (table, n) in &before_a {
        assert!(*n > 0, "the fixture has a row of clinic A in {table}");
    }

    let delete_after = offboarding::start(&state, &AuditContext::cli(), a, 30)
        .await
        .expect("offboarding starts");
    assert!(matches!(
        offboarding::start(&state, &AuditContext::cli(), a, 30).await,
        Err(offboarding::OffboardError::AlreadyOffboarding)
    ));
    let emails = count(&db, "SELECT count(*) AS n FROM jobs WHERE kind = 'email.send' AND clinic_id IS NULL AND payload->>'template' = 'offboarding_notice'".into()).await;
    assert_eq!(emails, 1, "the owner of A is told");
    let window: Vec<(String, chrono::DateTime<Utc>)> = db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    clinic_exports::table
                        .filter(clinic_exports::clinic_id.eq(a.0))
                        .filter(clinic_exports::status.eq_any(["queued", "running"]))
                        .select((clinic_exports::status, clinic_exports::expires_at))
                        .load(c)
                        .await?,
                )
            })
        })
        .await
        .expect("exports");
    assert_eq!(window.len(), 1, "one export is being built");
    assert_eq!(
        window[0].1.timestamp(),
        delete_after.timestamp(),
        "the export lasts the window"
    );

    // Not yet due: nothing is deleted.
    assert!(
        offboarding::delete_due(&state, &AuditContext::system())
            .await
            .expect("due")
            .is_empty()
    );
    clock.advance(Duration::days(31));
    let deleted = offboarding::delete_due(&state, &AuditContext::system())
        .await
        .expect("deletion");
    assert_eq!(deleted, vec!["alpha".to_owned()]);

    let after_a = tenant_counts(&db, a.0).await;
    assert_eq!(
        after_a.keys().collect::<Vec<_>>(),
        before_a.keys().collect::<Vec<_>>()
    );
    for (table, n) in &after_a {
        assert_eq!(*n, 0, "{table} still holds rows of the deleted clinic");
    }
    assert_eq!(
        tenant_counts(&db, b.0).await,
        before_b,
        "the other clinic is untouched"
    );
    let clinic_rows = db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    clinics::table
                        .find(a.0)
                        .count()
                        .get_result::<i64>(c)
                        .await?,
                )
            })
        })
        .await
        .expect("clinic row");
    assert_eq!(clinic_rows, 0);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM users WHERE email = 'owner@alpha.example'".into()
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM users WHERE email = 'owner@bravo.example'".into()
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, format!("SELECT count(*) AS n FROM audit_events WHERE clinic_id IS NULL AND action = 'clinic.deleted' AND subject_id = '{}'", a.0)).await,
        1,
        "the platform's chain keeps a tombstone"
    );
    let platform = audit::verify_all(&db)
        .await
        .expect("verify")
        .into_iter()
        .find(|r| r.clinic_id.is_none())
        .expect("the platform's chain");
    assert!(platform.broken.is_none(), "{:?}", platform.broken);
}

#[tokio::test]
async fn the_demo_export_is_a_zip_whose_json_parses_and_whose_audit_chain_verifies() {
    let app = demo_app(None).await;
    app.sign_in(app::backend::services::demo::DEMO_OWNER_EMAIL)
        .await;
    let csrf = app.csrf_on("/admin/c/demo/export").await;
    let response = app.post_form("/admin/c/demo/export", &csrf, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/c/demo/export");
    let clinic = clinic_service::id_by_slug(&app.db, "demo")
        .await
        .expect("db")
        .expect("demo");
    let ready = crate::common::eventually(std::time::Duration::from_secs(60), || async {
        app::backend::services::exports::list(&app.db, clinic)
            .await
            .ok()
            .and_then(|l| l.into_iter().next())
            .is_some_and(|e| e.status == "ready" && e.progress == 100)
    })
    .await;
    if !ready {
        let errors = count_errors(&app.db).await;
        panic!("the worker did not build the export: {errors:?}");
    }
    let page = app.text("/admin/c/demo/export").await;
    let export = app::backend::services::exports::list(&app.db, clinic)
        .await
        .expect("list")[0]
        .clone();
    let href = format!("/admin/c/demo/exports/{}", export.id);
    assert!(page.contains(&href), "the page links the download");

    let response = app.get(&href).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let bytes = response.bytes().await.expect("body");
    assert_eq!(bytes.len() as i64, export.size_bytes.expect("size"));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a valid ZIP");
    let mut files = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).expect("entry");
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("entry reads");
        files.insert(entry.name().to_owned(), content);
    }
    for name in [
        "manifest.json",
        "clinic.json",
        "team.json",
        "requests.json",
        "policies.json",
        "consent_configuration.json",
        "subprocessor_objections.json",
        "subscribers.json",
        "email_log.json",
        "consent_records.csv",
        "audit_log.jsonl",
    ] {
        assert!(files.contains_key(name), "{name} in {:?}", files.keys());
    }
    let mut parsed = BTreeMap::new();
    for (name, content) in files.iter().filter(|(n, _)| n.ends_with(".json")) {
        let value: Value =
            serde_json::from_slice(content).unwrap_or_else(|e| panic!("{name}: {e}"));
        parsed.insert(name.clone(), value);
    }
    assert_eq!(parsed["clinic.json"]["slug"], "demo");
    assert!(
        parsed["policies.json"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
    );
    assert!(
        parsed["consent_configuration.json"]["purposes"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
    );
    let mut csv = csv::Reader::from_reader(files["consent_records.csv"].as_slice());
    let mut records = 0_u64;
    for row in csv.records() {
        row.expect("csv row");
        records += 1;
    }
    assert_eq!(json!(records), parsed["manifest.json"]["consent_records"]);

    let mut verifier = ChainVerifier::default();
    let mut events = 0_u64;
    for line in std::str::from_utf8(&files["audit_log.jsonl"])
        .expect("utf-8")
        .lines()
    {
        let exported: ExportedEvent = serde_json::from_str(line).expect("event line");
        let link = StoredLink {
            id: exported.id,
            event: exported.event,
            prev_hash: hex::decode(&exported.prev_hash).expect("hex"),
            hash: hex::decode(&exported.hash).expect("hex"),
        };
        verifier
            .push(&link)
            .unwrap_or_else(|e| panic!("the exported chain breaks: {e}"));
        events += 1;
    }
    assert!(events > 5, "{events}");
    assert_eq!(json!(events), parsed["manifest.json"]["audit_events"]);
    assert!(
        std::str::from_utf8(&files["audit_log.jsonl"])
            .expect("utf-8")
            .contains("export.requested"),
        "the export itself is in the log"
    );
}

async fn count_errors(db: &Db) -> Vec<(String, Option<String>)> {
    use app::backend::db::schema::jobs;
    db.scoped(Scope::System, |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                jobs::table
                    .filter(jobs::kind.eq("clinic.export"))
                    .select((jobs::status, jobs::last_error))
                    .load(c)
                    .await?,
            )
        })
    })
    .await
    .expect("jobs")
}
