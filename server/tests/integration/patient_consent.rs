//! Patients' consents by email: a patient proves their address by an
//! emailed link, sees the choices recorded for it, gives and withdraws
//! consent as new signed records; the address itself is never stored.

use std::time::Duration;

use app::backend::audit::AuditContext;
use app::backend::db::DbError;
use app::backend::db::schema::consent_records;
use app::backend::services::consent;
use app::backend::services::demo::DEMO_SLUG;
use app::backend::tenancy::Scope;
use app::domain::consent as rules;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use super::consent::published_key;
use crate::common::smtp::SmtpSink;
use crate::common::{TestApp, csrf_in, demo_app, eventually, link_in_mail, location};

const PATIENT: &str = "Olena.Marchenko@example.org";
const ASK: &str = "/c/demo/consents";

/// Every record of patients: (subject, choices, source).
async fn patient_records(app: &TestApp) -> Vec<(String, Value, String)> {
    app.db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    consent_records::table
                        .filter(consent_records::subject_id.like("patient-%"))
                        .order(consent_records::recorded_at)
                        .select((
                            consent_records::subject_id,
                            consent_records::choices,
                            consent_records::source,
                        ))
                        .load(c)
                        .await?,
                )
            })
        })
        .await
        .expect("records")
}

/// Asks for a link for `email`.
async fn ask(app: &TestApp, email: &str) -> reqwest::Response {
    let csrf = csrf_in(&app.text(ASK).await).expect("a form token");
    app.post_form(ASK, &csrf, &[("email", email), ("website", "")])
        .await
}

/// Waits for the `count`-th email to `to` and returns the path of its link.
async fn link(app: &TestApp, sink: &SmtpSink, to: &str, count: usize) -> String {
    assert!(
        eventually(Duration::from_secs(20), || async {
            sink.messages()
                .iter()
                .filter(|m| m.to.iter().any(|t| t == to))
                .count()
                >= count
        })
        .await,
        "no email number {count} to {to}"
    );
    let link = link_in_mail(sink, to, "/consents/manage?t=").expect("a link");
    link.trim_start_matches(&app.address).to_owned()
}

fn receipt_in(page: &str) -> &str {
    page.split(r#"<pre class="receipt">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a receipt on the page")
}

#[tokio::test]
async fn a_patient_confirms_their_address_sees_their_consents_and_withdraws_them() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    let to = PATIENT.to_lowercase();

    let page = app.text(ASK).await;
    assert!(page.contains("Email me the link"), "{page}");

    // A wrong address is refused and kept, escaped.
    let response = ask(&app, "not an address<b>").await;
    assert_eq!(response.status(), 422);
    let body = response.text().await.expect("body");
    assert!(body.contains("not an address&lt;b&gt;"), "{body}");
    assert!(!body.contains("not an address<b>"));

    // The right one gets a link.
    let response = ask(&app, &to).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/c/demo/consents/sent");
    let path = link(&app, &sink, &to, 1).await;
    let manage = app.text(&path).await;
    assert!(manage.contains("AI summaries of your messages"), "{manage}");
    assert!(manage.contains("Appointment reminders by messenger"));
    assert!(
        !manage.contains("Visit statistics"),
        "website purposes are not asked here"
    );
    assert!(manage.contains("o•••@example.org") && !manage.contains("marchenko"));
    assert!(
        sink.messages()
            .iter()
            .any(|m| m.to.contains(&to) && m.text().contains("asked to see the consents you gave")),
        "the email says what the link does"
    );
    assert!(manage.contains("You have not made any choices yet"));

    // Consent to AI summaries.
    let csrf = csrf_in(&manage).expect("a form token");
    let response = app
        .post_form(
            &path,
            &csrf,
            &[("choice", "save"), ("purpose", "ai_messages")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let saved = app.text(&location(&response)).await;
    assert!(saved.contains("Your choice is saved"), "{saved}");
    assert!(saved.contains(r#"value="ai_messages" checked"#));
    assert!(!saved.contains(r#"value="messenger_reminders" checked"#));
    let rules::VerifiedReceipt::V2(claims) =
        rules::verify_receipt(receipt_in(&saved), &published_key(&app).await)
            .expect("the receipt verifies with the published key")
    else {
        panic!("a new receipt has schema version 2.0");
    };
    assert_eq!(claims.collection_method, "patient");
    assert!(claims.privacy_notice.url.ends_with("/c/demo/consents"));
    assert_eq!(
        claims.withdrawal_method, claims.privacy_notice.url,
        "patients withdraw where they were asked"
    );

    let records = patient_records(&app).await;
    assert_eq!(records.len(), 1);
    let (subject, choices, source) = &records[0];
    assert!(!subject.to_lowercase().contains("marchenko"), "{subject}");
    assert_eq!(claims.pii_principal_id, *subject);
    assert_eq!(
        *choices,
        json!({ "ai_messages": true, "messenger_reminders": false })
    );
    assert_eq!(source, "patient");

    // A new link for the same address, typed differently, finds the choice.
    assert_eq!(ask(&app, PATIENT).await.status(), 303);
    let second = link(&app, &sink, PATIENT, 1).await;
    assert_ne!(second, path);
    let manage = app.text(&second).await;
    assert!(
        manage.contains(r#"value="ai_messages" checked"#),
        "{manage}"
    );

    // Withdrawing is a new record; the history shows both.
    let csrf = csrf_in(&manage).expect("a form token");
    let response = app
        .post_form(
            &second,
            &csrf,
            &[("choice", "withdraw_all"), ("purpose", "ai_messages")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let after = app.text(&location(&response)).await;
    assert!(!after.contains(r#"value="ai_messages" checked"#), "{after}");
    assert!(after.contains("Your recorded choices") && after.contains("nothing"));
    let records = patient_records(&app).await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].0, *subject, "the same pseudonymous subject");
    assert_eq!(
        records[1].1,
        json!({ "ai_messages": false, "messenger_reminders": false })
    );

    // A changed link opens nothing and records nothing.
    let forged = second.replace("?t=", "?t=A");
    let response = app.get(&forged).await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.expect("body");
    assert!(body.contains("not valid or has expired"), "{body}");
    let response = app
        .post_form(
            &forged,
            &csrf,
            &[("choice", "save"), ("purpose", "ai_messages")],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(patient_records(&app).await.len(), 2);

    // Three links an hour per address; then the form says so.
    assert_eq!(ask(&app, PATIENT).await.status(), 303);
    let response = ask(&app, PATIENT).await;
    assert_eq!(response.status(), 429);
    let body = response.text().await.expect("body");
    assert!(body.contains("Too many links"), "{body}");
    assert!(
        body.contains("Olena.Marchenko@example.org"),
        "the input is kept"
    );

    // In Ukrainian, the email and the page.
    let other = "taras@example.org";
    let csrf = csrf_in(&app.text("/c/demo/consents?lang=uk").await).expect("token");
    let response = app
        .post_form(
            "/c/demo/consents?lang=uk",
            &csrf,
            &[("email", other), ("website", "")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let path = link(&app, &sink, other, 1).await;
    assert!(path.contains("lang=uk"), "{path}");
    let page = app.text(&path).await;
    assert!(page.contains("ШІ-підсумки ваших повідомлень"), "{page}");
}

#[tokio::test]
async fn bots_and_clinics_without_patient_purposes_get_no_link() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    let csrf = csrf_in(&app.text(ASK).await).expect("a form token");
    let response = app
        .post_form(
            ASK,
            &csrf,
            &[
                ("email", "bot@example.org"),
                ("website", "https://spam.example"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "bots see the usual answer");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        link_in_mail(&sink, "bot@example.org", "/consents/").is_none(),
        "and get no email"
    );

    // A clinic that asks patients nothing says so, and sends nothing.
    let clinic = consent::published(&app.state, DEMO_SLUG)
        .await
        .expect("config")
        .expect("demo")
        .clinic_id;
    let settings = consent::settings(&app.db, clinic).await.expect("settings");
    for purpose in settings.purposes.iter().filter(|p| p.channel == "patient") {
        consent::archive_purpose(&app.state, &AuditContext::system(), clinic, purpose.id)
            .await
            .expect("archived");
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            !app.text(ASK).await.contains("Email me the link")
        })
        .await,
        "the form is still shown"
    );
    let page = app.text(ASK).await;
    assert!(page.contains("does not ask its patients"), "{page}");
    let csrf = csrf_in(&app.text("/c/demo/cookies").await).expect("a form token");
    let response = app
        .post_form(
            ASK,
            &csrf,
            &[("email", "late@example.org"), ("website", "")],
        )
        .await;
    assert_eq!(response.status(), 409);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(link_in_mail(&sink, "late@example.org", "/consents/").is_none());
}
