//! Versioned documents and change notices: the database keeps published
//! versions fixed, scheduled versions apply at their exact time, one-click
//! unsubscribe works without cookies, and a 10,000-recipient campaign
//! reaches everyone once even when its worker is killed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::backend::audit::AuditContext;
use app::backend::clock::{Clock, ManualClock};
use app::backend::crypto::{Crypto, MasterKey};
use app::backend::db::DbError;
use app::backend::db::schema::{campaign_recipients, campaigns, document_versions, suppressions};
use app::backend::error::AppError;
use app::backend::services::notices::{self, Publisher, subscriptions};
use app::backend::services::{clinics, demo};
use app::backend::state::{AppServices, AppState, Environment, Settings};
use app::backend::tenancy::Scope;
use app::domain::clinic::ClinicId;
use app::domain::notices::{DocumentKind, DraftForm};
use app::domain::recipients::parse_csv;
use app::domain::session::SessionPolicy;
use chrono::{Duration as Days, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use secrecy::ExposeSecret;

use crate::common::smtp::SmtpSink;
use crate::common::{TestDb, cli_command, eventually, spawn_app_with};
use crate::tenancy::clinic_input;

fn draft(title: &str, body: &str, summary: &str, material: bool) -> app::domain::notices::Draft {
    DraftForm {
        title: title.into(),
        body: body.into(),
        summary: summary.into(),
        material,
    }
    .validate()
    .expect("valid draft")
}

async fn new_clinic(state: &AppState, slug: &str) -> ClinicId {
    clinics::create(
        &state.db,
        &AuditContext::cli(),
        clinic_input(slug, &format!("owner@{slug}.example")),
    )
    .await
    .expect("clinic")
}

/// Saves a material draft of the publisher's privacy notice and schedules
/// it 31 days ahead, which starts its change-notice campaign.
pub async fn schedule_material_change(
    app: &crate::common::TestApp,
    publisher: Publisher,
    body: &str,
) {
    let ctx = AuditContext::cli();
    let kind = DocumentKind::PrivacyNotice;
    let draft = draft(
        "Privacy notice",
        body,
        "What changes, at some length.",
        true,
    );
    notices::save_draft(&app.state, &ctx, publisher, kind, None, draft)
        .await
        .expect("draft");
    let at = app.clock.now() + Days::days(31);
    notices::publish(&app.state, &ctx, publisher, kind, None, Some(at))
        .await
        .expect("scheduled");
}

async fn publish_now(state: &AppState, publisher: Publisher, body: &str) -> i32 {
    notices::save_draft(
        state,
        &AuditContext::cli(),
        publisher,
        DocumentKind::PrivacyNotice,
        None,
        draft("Notice", body, "", false),
    )
    .await
    .expect("draft");
    notices::publish(
        state,
        &AuditContext::cli(),
        publisher,
        DocumentKind::PrivacyNotice,
        None,
        None,
    )
    .await
    .expect("published")
    .number
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_a_published_version() {
    let app = spawn_app_with(&[]).await;
    let clinic = new_clinic(&app.state, "immutable").await;
    publish_now(
        &app.state,
        Publisher::Clinic(clinic),
        "We keep records for 10 years.",
    )
    .await;

    for sql in [
        "UPDATE document_versions SET body_md = 'We keep nothing.' WHERE number = 1",
        "UPDATE document_versions SET title = 'Other' WHERE number = 1",
        "UPDATE document_versions SET effective_at = now() + interval '1 day' WHERE number = 1",
        "UPDATE document_versions SET state = 'draft', number = NULL, published_at = NULL, effective_at = NULL WHERE number = 1",
        "DELETE FROM document_versions WHERE number = 1",
    ] {
        let error = app.test_db.admin_execute(sql).await.expect_err(sql);
        assert!(
            error.to_string().contains("published document versions"),
            "{sql}: {error}"
        );
    }
    let body: String = app
        .db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    document_versions::table
                        .select(document_versions::body_md)
                        .first(c)
                        .await?,
                )
            })
        })
        .await
        .expect("version");
    assert_eq!(body, "We keep records for 10 years.");
    // A draft is still free to change.
    notices::save_draft(
        &app.state,
        &AuditContext::cli(),
        Publisher::Clinic(clinic),
        DocumentKind::PrivacyNotice,
        None,
        draft("Notice", "Draft text", "", false),
    )
    .await
    .expect("draft");
    app.test_db
        .admin_execute(
            "UPDATE document_versions SET body_md = 'Edited draft' WHERE state = 'draft'",
        )
        .await
        .expect("drafts can be edited");
    app.stop().await;
}

#[tokio::test]
async fn a_scheduled_version_takes_effect_exactly_at_its_time() {
    let app = spawn_app_with(&[]).await;
    let clinic = new_clinic(&app.state, "scheduled").await;
    let publisher = Publisher::Clinic(clinic);
    publish_now(&app.state, publisher, "Version one.").await;
    let ctx = AuditContext::cli();
    notices::save_draft(
        &app.state,
        &ctx,
        publisher,
        DocumentKind::PrivacyNotice,
        None,
        draft("Notice", "Version two.", "We now keep logs.", true),
    )
    .await
    .expect("draft");

    // The clinic's notice period is 30 days: earlier is refused, with the reason.
    let now = app.clock.now();
    let too_soon = notices::publish(
        &app.state,
        &ctx,
        publisher,
        DocumentKind::PrivacyNotice,
        None,
        Some(now + Days::days(29)),
    )
    .await
    .expect_err("too soon");
    assert!(
        matches!(&too_soon, AppError::BadRequest(m) if m.contains("30 days")),
        "{too_soon:?}"
    );
    let at = now + Days::days(30) + Days::minutes(1);
    let published = notices::publish(
        &app.state,
        &ctx,
        publisher,
        DocumentKind::PrivacyNotice,
        None,
        Some(at),
    )
    .await
    .expect("scheduled");
    assert!(published.scheduled);
    assert_eq!(published.effective_at, at);

    // One microsecond before: still version one, version two announced.
    app.clock.set(at - Days::microseconds(1));
    let document = notices::public_document(&app.state, publisher, DocumentKind::PrivacyNotice)
        .await
        .expect("document");
    assert_eq!(document.current.as_ref().map(|v| v.number), Some(1));
    assert_eq!(document.upcoming.as_ref().map(|v| v.number), Some(2));
    assert_eq!(notices::apply_due(&app.state).await.expect("job"), 0);

    // At the exact time: version two, before and after the job records it.
    app.clock.set(at);
    let document = notices::public_document(&app.state, publisher, DocumentKind::PrivacyNotice)
        .await
        .expect("document");
    assert_eq!(document.current.as_ref().map(|v| v.number), Some(2));
    assert!(document.upcoming.is_none());
    assert_eq!(notices::apply_due(&app.state).await.expect("job"), 1);
    assert_eq!(notices::apply_due(&app.state).await.expect("job"), 0);
    let states: Vec<(Option<i32>, String)> = app
        .db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    document_versions::table
                        .order(document_versions::number)
                        .select((document_versions::number, document_versions::state))
                        .load(c)
                        .await?,
                )
            })
        })
        .await
        .expect("states");
    assert_eq!(
        states,
        vec![
            (Some(1), "superseded".to_owned()),
            (Some(2), "effective".to_owned())
        ]
    );
    let page = app.text("/c/scheduled/privacy/versions/2/diff").await;
    assert!(page.contains("<ins>"), "{page}");
    assert!(page.contains("<del>"), "{page}");
    app.stop().await;
}

async fn suppressed(app: &crate::common::TestApp, email: &'static str) -> i64 {
    app.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    suppressions::table
                        .filter(suppressions::email.eq(email))
                        .count()
                        .get_result(c)
                        .await?,
                )
            })
        })
        .await
        .expect("count")
}

#[tokio::test]
async fn one_click_unsubscribe_without_cookies_suppresses_the_address_for_the_next_campaign() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(&[("SMTP_URL", sink.url())]).await;
    let clinic = new_clinic(&app.state, "oneclick").await;
    let publisher = Publisher::Clinic(clinic);
    publish_now(&app.state, publisher, "Version one.").await;
    let list = parse_csv(
        b"email,name\nleaving@example.org,Leaving\nstaying@example.org,Staying\nnot-an-address,X\n",
    )
    .expect("csv");
    let report =
        subscriptions::import_list(&app.db, &AuditContext::cli(), clinic, "Patients", list)
            .await
            .expect("import");
    assert_eq!((report.imported, report.rejected.len()), (2, 1));

    let ctx = AuditContext::cli();
    for (round, body) in ["Version two.", "Version three."].into_iter().enumerate() {
        notices::save_draft(
            &app.state,
            &ctx,
            publisher,
            DocumentKind::PrivacyNotice,
            None,
            draft("Notice", body, "What changes.", true),
        )
        .await
        .expect("draft");
        let at = app.clock.now() + Days::days(31);
        notices::publish(
            &app.state,
            &ctx,
            publisher,
            DocumentKind::PrivacyNotice,
            None,
            Some(at),
        )
        .await
        .expect("scheduled");
        let expected = if round == 0 { 2 } else { 3 };
        assert!(
            eventually(Duration::from_secs(30), || async {
                sink.count() >= expected
            })
            .await,
            "campaign {round} delivered {} messages",
            sink.count()
        );
        if round == 0 {
            let message = sink
                .messages()
                .into_iter()
                .find(|m| m.to.iter().any(|t| t == "leaving@example.org"))
                .expect("notice to leaving@");
            assert_eq!(
                message.header("List-Unsubscribe-Post").as_deref(),
                Some("List-Unsubscribe=One-Click")
            );
            let header = message
                .header("List-Unsubscribe")
                .expect("List-Unsubscribe");
            let url = header
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned();
            assert!(url.contains("/email/unsubscribe/"), "{url}");
            assert!(message.text().contains("/versions/2/diff"));
            // A mail provider's POST: no cookies, no Origin, no form token.
            let client = reqwest::Client::builder().build().expect("client");
            let path = url
                .split_once("/email/")
                .map(|(_, rest)| format!("/email/{rest}"))
                .expect("path");
            let response = client
                .post(app.url(&path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .expect("POST");
            assert_eq!(response.status(), 200);
            assert!(response.headers().get("set-cookie").is_none());
            assert_eq!(suppressed(&app, "leaving@example.org").await, 1);
            // A forged token changes nothing.
            let forged = client
                .post(app.url(&path.replace("/r", "/r9")))
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .expect("POST");
            assert_eq!(forged.status(), 404);
            // Cancel the scheduled version so that the next one can be scheduled.
            notices::cancel_scheduled(&app.state, &ctx, publisher, DocumentKind::PrivacyNotice)
                .await
                .expect("cancel");
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to_leaving = sink
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == "leaving@example.org"))
        .count();
    let to_staying = sink
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == "staying@example.org"))
        .count();
    assert_eq!(
        (to_leaving, to_staying),
        (1, 2),
        "the unsubscribed address got no second notice"
    );
    app.stop().await;
}

fn standalone_state(test_db: &TestDb, key: &MasterKey) -> AppState {
    AppState::new(AppServices {
        db: test_db.db(),
        settings: Arc::new(Settings {
            base_url: "http://127.0.0.1:9".into(),
            environment: Environment::Development,
            data_dir: std::env::temp_dir(),
            mail_from: "Portal <portal@example.org>".into(),
            sessions: SessionPolicy::default(),
            request_rate_per_hour: 10,
        }),
        crypto: Crypto::new(key),
        clock: ManualClock::new(),
        consent: Default::default(),
        clinics: Default::default(),
    })
}

async fn count_rows(db: &app::backend::db::Db, status: &'static str) -> i64 {
    db.scoped(Scope::System, move |c| {
        Box::pin(async move {
            Ok::<_, DbError>(
                campaign_recipients::table
                    .filter(campaign_recipients::status.eq(status))
                    .count()
                    .get_result(c)
                    .await?,
            )
        })
    })
    .await
    .unwrap_or(-1)
}

#[tokio::test]
async fn a_campaign_to_10000_recipients_reaches_each_once_even_when_its_worker_is_killed() {
    const RECIPIENTS: usize = 10_000;
    let sink = SmtpSink::start();
    let test_db = TestDb::new().await;
    let key = MasterKey::generate();
    let state = standalone_state(&test_db, &key);
    demo::seed(&state.db, &AuditContext::system())
        .await
        .expect("demo");
    let clinic = new_clinic(&state, "tenthousand").await;
    let csv: String = std::iter::once("email".to_owned())
        .chain((0..RECIPIENTS).map(|i| format!("patient{i}@example.org")))
        .collect::<Vec<_>>()
        .join("\n");
    let report = subscriptions::import_list(
        &state.db,
        &AuditContext::cli(),
        clinic,
        "Patients",
        parse_csv(csv.as_bytes()).expect("csv"),
    )
    .await
    .expect("import");
    assert_eq!(report.imported, RECIPIENTS);
    let publisher = Publisher::Clinic(clinic);
    notices::save_draft(
        &state,
        &AuditContext::cli(),
        publisher,
        DocumentKind::PrivacyNotice,
        None,
        draft("Notice", "New text.", "We changed it.", true),
    )
    .await
    .expect("draft");
    notices::publish(
        &state,
        &AuditContext::cli(),
        publisher,
        DocumentKind::PrivacyNotice,
        None,
        Some(Utc::now() + Days::days(31)),
    )
    .await
    .expect("scheduled");

    let data_dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("DATABASE_URL", test_db.url.expose_secret().to_owned()),
        ("SMTP_URL", sink.url()),
        ("PORTAL_MASTER_KEY", key.to_base64()),
        ("PORTAL_DATA_DIR", data_dir.path().display().to_string()),
        ("PORTAL_DB_POOL_SIZE", "8".to_owned()),
        ("PORTAL_WORKER_LEASE_SECONDS", "10".to_owned()),
        ("PORTAL_CAMPAIGN_RATE", "100000".to_owned()),
    ];
    let start = || {
        cli_command(&["worker"], &env)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("worker starts")
    };
    let mut first = start();
    let midway = eventually(Duration::from_secs(240), || async {
        // Rows are claimed 64 at a time: 1,100 falls inside a batch, so the
        // kill lands with messages in flight.
        count_rows(&state.db, "sent").await >= 1_100
    })
    .await;
    kill(Pid::from_raw(first.id() as i32), Signal::SIGKILL).expect("SIGKILL");
    let _ = first.wait();
    assert!(midway, "the first worker did not get a tenth of the way");
    let at_kill = (
        count_rows(&state.db, "sent").await,
        count_rows(&state.db, "sending").await,
    );
    assert!(
        at_kill.0 < RECIPIENTS as i64,
        "killed too late to prove anything: {at_kill:?}"
    );

    let mut second = start();
    let finished = eventually(Duration::from_secs(360), || async {
        state
            .db
            .scoped(Scope::System, |c| {
                Box::pin(async move {
                    Ok::<_, DbError>(
                        campaigns::table
                            .select(campaigns::status)
                            .first::<String>(c)
                            .await?,
                    )
                })
            })
            .await
            .is_ok_and(|s| s == "finished")
    })
    .await;
    kill(Pid::from_raw(second.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let _ = second.wait();
    assert!(
        finished,
        "the campaign did not finish; sent {}",
        count_rows(&state.db, "sent").await
    );
    assert_eq!(count_rows(&state.db, "sent").await, RECIPIENTS as i64);

    // Counted at the listener: every recipient got exactly one message
    // (one Message-ID); a message in flight at the kill may have been handed
    // over twice with the same Message-ID, never more than were in flight.
    let mut per_recipient: HashMap<String, (usize, std::collections::HashSet<String>)> =
        HashMap::new();
    let messages = sink.messages();
    for message in &messages {
        let id = message.header("Message-ID").unwrap_or_default();
        for to in &message.to {
            let entry = per_recipient.entry(to.clone()).or_default();
            entry.0 += 1;
            entry.1.insert(id.clone());
        }
    }
    let notices: HashMap<&String, &(usize, std::collections::HashSet<String>)> = per_recipient
        .iter()
        .filter(|(to, _)| to.starts_with("patient"))
        .collect();
    assert_eq!(notices.len(), RECIPIENTS, "every recipient got the notice");
    assert!(
        notices.values().all(|(_, ids)| ids.len() == 1),
        "one distinct message per recipient"
    );
    let copies: usize = notices.values().map(|(n, _)| n).sum();
    println!(
        "campaign of {RECIPIENTS}: worker killed at {} sent / {} in flight; listener received {copies} copies ({} repeated)",
        at_kill.0,
        at_kill.1,
        copies - RECIPIENTS
    );
    assert!(
        (copies - RECIPIENTS) as i64 <= at_kill.1,
        "only messages in flight at the kill may repeat: {} repeated, {} were in flight",
        copies - RECIPIENTS,
        at_kill.1
    );
}

#[tokio::test]
async fn a_platform_change_reaches_clinic_contacts_who_acknowledge_it() {
    let sink = SmtpSink::start();
    let app = crate::common::demo_app(Some(&sink)).await;
    let ctx = AuditContext::cli();
    notices::save_draft(
        &app.state,
        &ctx,
        Publisher::Platform,
        DocumentKind::PrivacyNotice,
        None,
        draft(
            "Platform notice",
            "New <b>platform</b> text.",
            "Logs are kept for 30 days.",
            true,
        ),
    )
    .await
    .expect("draft");
    notices::publish(
        &app.state,
        &ctx,
        Publisher::Platform,
        DocumentKind::PrivacyNotice,
        None,
        Some(app.clock.now() + Days::days(31)),
    )
    .await
    .expect("scheduled");

    // Owners, Admins and Privacy Officers of active clinics; not Viewers.
    assert!(
        eventually(Duration::from_secs(30), || async { sink.count() >= 3 }).await,
        "{} notices",
        sink.count()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut recipients: Vec<String> = sink
        .messages()
        .iter()
        .filter(|m| m.text().contains("/privacy/versions/2/diff"))
        .flat_map(|m| m.to.clone())
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        vec![
            "admin@lindenhof-clinic.example",
            "dpo@lindenhof-clinic.example",
            "owner@lindenhof-clinic.example",
        ]
    );

    // The owner sees the banner and acknowledges; the operator sees coverage.
    app.sign_in("owner@lindenhof-clinic.example").await;
    let dashboard = app.text("/admin/c/demo").await;
    assert!(
        dashboard.contains("Logs are kept for 30 days."),
        "{dashboard}"
    );
    let action = dashboard
        .split("action=\"")
        .map(|rest| rest.split('"').next().unwrap_or_default())
        .find(|a| a.starts_with("/admin/c/demo/acknowledgements/"))
        .expect("acknowledge form")
        .to_owned();
    let csrf = app.csrf_on("/admin/c/demo").await;
    assert_eq!(app.post_form(&action, &csrf, &[]).await.status(), 303);
    let dashboard = app.text("/admin/c/demo").await;
    assert!(
        !dashboard.contains(&action),
        "the banner is gone once acknowledged"
    );

    let operator = crate::common::TestApp::new_client();
    let login = app::backend::services::auth::create_link(
        &app.state,
        &app::domain::email::EmailAddress::parse(demo::DEMO_OPERATOR_EMAIL).expect("address"),
    )
    .await
    .expect("link")
    .expect("operator");
    let path = login.trim_start_matches(&app.address).to_owned();
    let html = operator
        .get(app.url(&path))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    let token = crate::common::csrf_in(&html).expect("token");
    let signed_in = operator
        .post(app.url(&path))
        .header("origin", &app.address)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), 303);
    let coverage = operator
        .get(app.url("/admin/platform/notices/acknowledgements"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    assert!(coverage.contains("Privacy notice, version 2"), "{coverage}");
    assert!(coverage.contains("1 of 1"), "{coverage}");
    app.stop().await;
}

#[tokio::test]
async fn a_csv_import_reports_bad_repeated_and_suppressed_rows_and_escapes_them() {
    let app = crate::common::demo_app(None).await;
    let clinic = clinics::id_by_slug(&app.db, "demo")
        .await
        .expect("db")
        .expect("demo");
    subscriptions::suppress(
        &app.db,
        &AuditContext::cli(),
        Publisher::Clinic(clinic),
        &app::domain::email::EmailAddress::parse("gone@example.org").expect("address"),
    )
    .await
    .expect("suppressed");
    app.sign_in("dpo@lindenhof-clinic.example").await;
    let audience = "/admin/c/demo/notices/audience";
    let csrf = app.csrf_on(audience).await;
    let csv = "email,name\nanna@example.org,Anna\n<script>alert(1)</script>,X\nANNA@example.org,Again\ngone@example.org,Gone\nbo@example.org,Bo\n";
    let upload = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("name", "Patients")
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
                .file_name("patients.csv")
                .mime_str("text/csv")
                .expect("mime"),
        );
    let response = app
        .client
        .post(app.url("/admin/c/demo/notices/lists"))
        .header("origin", &app.address)
        .multipart(upload)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 200);
    let report = response.text().await.expect("body");
    let fact =
        |label: &str, value: &str| report.contains(&format!("<dt>{label}</dt><dd>{value}</dd>"));
    assert!(fact("Rows read", "5"), "{report}");
    assert!(fact("Imported", "2"), "{report}");
    assert!(fact("Duplicates merged", "1"), "{report}");
    assert!(
        fact("Left out (unsubscribed or suppressed)", "1"),
        "{report}"
    );
    assert!(fact("Invalid rows", "1"), "{report}");
    assert!(
        report.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{report}"
    );
    assert!(
        !report.contains("<script>alert(1)"),
        "the bad row is escaped"
    );

    // A file that is not CSV text keeps the list name and says why.
    let csrf = app.csrf_on(audience).await;
    let upload = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("name", "Second list")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![0xff, 0xfe, 0x00]).file_name("x.csv"),
        );
    let response = app
        .client
        .post(app.url("/admin/c/demo/notices/lists"))
        .header("origin", &app.address)
        .multipart(upload)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("body");
    assert!(page.contains("not UTF-8"), "{page}");
    assert!(page.contains("value=\"Second list\""), "{page}");
    app.stop().await;
}

/// The `ETag` and `x-request-id` of a response, and its body with its
/// script nonce (which is new in each answer, in the policy and in any
/// script tag) left out.
async fn page_parts(response: reqwest::Response) -> (String, String, String) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (etag, id) = (header("etag"), header("x-request-id"));
    let policy = header("content-security-policy");
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a script nonce")
        .to_owned();
    let body = response.text().await.expect("body");
    (etag, id, body.replace(&nonce, ""))
}

/// A GET of `path` with one request header.
async fn get_with(
    app: &crate::common::TestApp,
    path: &str,
    name: &str,
    value: &str,
) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(name, value)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn notice_pages_are_answered_from_memory_with_an_etag_until_a_change() {
    let app = crate::common::demo_app(None).await;
    let path = "/c/demo/privacy";
    let (etag, first_id, first) = page_parts(app.get(path).await).await;
    assert!(etag.starts_with("W/\""), "{etag}");
    assert!(first.contains(&first_id), "the footer shows the request id");

    // The next reader gets the same page, with its own request id.
    let (again_etag, second_id, second) = page_parts(app.get(path).await).await;
    assert_eq!(again_etag, etag);
    assert_ne!(second_id, first_id);
    assert!(second.contains(&second_id) && !second.contains(&first_id));
    assert_eq!(second.replace(&second_id, ""), first.replace(&first_id, ""));

    // A conditional GET with the ETag is answered with 304 and no body.
    let conditional = get_with(&app, path, "if-none-match", &etag).await;
    assert_eq!(conditional.status(), 304);
    assert!(conditional.text().await.expect("body").is_empty());

    // Each language is its own page.
    let ukrainian = get_with(&app, path, "accept-language", "uk").await;
    let (uk_etag, _, uk_body) = page_parts(ukrainian).await;
    assert_ne!(uk_etag, etag);
    assert!(uk_body.contains(r#"lang="uk""#));

    // A version published elsewhere (another node, the CLI) shows once the
    // page is a second old.
    let clinic = clinics::find_public(&app.db, "demo")
        .await
        .expect("query")
        .expect("demo clinic");
    publish_now(
        &app.state,
        Publisher::Clinic(clinic.id),
        "Our notice now names the cache-busting sub-processor.",
    )
    .await;
    let (_, _, cached) = page_parts(app.get(path).await).await;
    assert!(!cached.contains("cache-busting"));
    app.clock.advance(Days::seconds(2));
    let (new_etag, _, fresh) = page_parts(app.get(path).await).await;
    assert!(fresh.contains("cache-busting"), "the new version is served");
    assert_ne!(new_etag, etag);
    let stale = get_with(&app, path, "if-none-match", &etag).await;
    assert_eq!(stale.status(), 200, "the old ETag no longer matches");

    // A change through the admin pages shows at once.
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    let page = app.text("/admin/c/demo/settings").await;
    let csrf = crate::common::csrf_in(&page).expect("token");
    let mut fields = crate::platform::clinic_form("demo", "Lindenhof Cached Practice");
    fields.retain(|(k, _)| !matches!(*k, "slug" | "owner_email" | "owner_name"));
    let saved = app
        .post_form("/admin/c/demo/settings", &csrf, &fields)
        .await;
    assert_eq!(saved.status(), 303);
    let anonymous = crate::common::TestApp::new_client();
    let renamed = anonymous
        .get(app.url(path))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(renamed.contains("Lindenhof Cached Practice"), "{renamed}");
}

#[tokio::test]
async fn every_header_line_of_a_change_notice_fits_in_78_characters() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(&[("SMTP_URL", sink.url())]).await;
    let clinic = new_clinic(&app.state, "folding-headers-clinic").await;
    let publisher = Publisher::Clinic(clinic);
    publish_now(&app.state, publisher, "Version one.").await;
    let list =
        parse_csv(b"email\na-rather-long-address.for-folding@patients.example.org\n").expect("csv");
    subscriptions::import_list(&app.db, &AuditContext::cli(), clinic, "Patients", list)
        .await
        .expect("import");
    schedule_material_change(&app, publisher, "Version two.").await;
    assert!(
        eventually(Duration::from_secs(30), || async { sink.count() >= 1 }).await,
        "the notice arrives"
    );
    let message = &sink.messages()[0];
    let raw = String::from_utf8_lossy(&message.raw);
    let (head, _) = raw.split_once("\r\n\r\n").expect("a header section");
    for line in head.split("\r\n") {
        assert!(
            line.len() <= 78,
            "{} characters: {line:?}\n{head}",
            line.len()
        );
    }
    // An imported list's member is told why they receive it.
    assert!(
        message.text().contains("or are on a list of its contacts"),
        "{}",
        message.text()
    );
    // Unfolded, the one-click header is the URL again.
    let header = message
        .header("List-Unsubscribe")
        .expect("List-Unsubscribe");
    let url = header.trim().trim_start_matches('<').trim_end_matches('>');
    assert!(!url.contains(' '), "{url:?}");
    let path = url.split_once("/email/").expect("our URL").1;
    let response = reqwest::Client::new()
        .post(app.url(&format!("/email/{path}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
}
