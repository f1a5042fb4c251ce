//! Patients' privacy requests over HTTP, with a real SMTP listener: the
//! public form, verification, the clinic's actions, reply files, the Meta
//! callbacks and the daily jobs.

use std::time::Duration;

use app::backend::clock::Clock;
use app::backend::db::DbError;
use app::backend::db::schema::{
    audit_events, jobs, meta_deletions, privacy_requests, request_events, request_files,
};
use app::backend::services::demo;
use app::backend::services::requests::staff;
use app::backend::tenancy::Scope;
use chrono::Duration as ChronoDuration;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::common::smtp::SmtpSink;
use crate::common::{TestApp, csrf_in, demo_app, eventually, link_in_mail, location};

const PATIENT: &str = "olena.marchenko@example.org";
const DPO: &str = "dpo@lindenhof-clinic.example";
const META_SECRET: &str = "5f0c2a9e7d1b4c3a8e6f9d2b1a0c7e4f";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";

/// A patient's browser: its own cookies, no staff session.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: TestApp::new_client(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.app.url(path))
            .send()
            .await
            .expect("request")
    }

    async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    /// POSTs `fields` with the form token found on `page`.
    async fn post(&self, page: &str, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let csrf = csrf_in(&self.text(page).await).expect("a form token");
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.client
            .post(self.app.url(path))
            .header("origin", &self.app.address)
            .form(&form)
            .send()
            .await
            .expect("request")
    }
}

fn form<'a>(name: &'a str, email: &'a str, details: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("kind", "access"),
        ("name", name),
        ("email", email),
        ("phone", ""),
        ("acting_as", "self"),
        ("subject_name", ""),
        ("date_of_birth", "1984-03-09"),
        ("patient_number", "LH-20417"),
        ("details", details),
        ("acknowledged", "on"),
        ("website", ""),
    ]
}

/// Waits for an email to `to` with a link containing `needle`; its path.
async fn emailed_path(app: &TestApp, sink: &SmtpSink, to: &str, needle: &str) -> String {
    assert!(
        eventually(Duration::from_secs(20), || async {
            link_in_mail(sink, to, needle).is_some()
        })
        .await,
        "no email to {to} with {needle}"
    );
    let link = link_in_mail(sink, to, needle).expect("link");
    assert!(link.starts_with(&app.address), "{link}");
    link.trim_start_matches(&app.address).to_owned()
}

/// Waits until `count` emails have reached `to`; the newest one's text.
async fn nth_mail(sink: &SmtpSink, to: &str, count: usize) -> String {
    let to_them = || {
        sink.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(20), || async {
            to_them().len() >= count
        })
        .await,
        "expected {count} emails to {to}, got {}",
        to_them().len()
    );
    to_them()[count - 1].text()
}

/// Waits for an email to `to` whose text contains `needle`; its text.
async fn mail_with(sink: &SmtpSink, to: &str, needle: &str) -> String {
    let find = || {
        sink.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .map(|m| m.text())
            .find(|text| text.contains(needle))
    };
    assert!(
        eventually(Duration::from_secs(20), || async { find().is_some() }).await,
        "no email to {to} containing {needle:?}"
    );
    find().expect("the email")
}

/// Submits the form and follows the emailed confirmation link; the status
/// page's path.
async fn submit_and_verify(app: &TestApp, sink: &SmtpSink, patient: &Browser<'_>) -> String {
    let new = "/c/demo/requests/new";
    let fields = form(
        "Olena Marchenko",
        PATIENT,
        "Please send me a copy of my records.",
    );
    let response = patient.post(new, new, &fields).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/c/demo/requests/sent");
    assert!(
        patient
            .text("/c/demo/requests/sent")
            .await
            .contains("Check your email")
    );
    let verify = emailed_path(app, sink, PATIENT, "/requests/verify/").await;
    // Opening the link shows a button; only pressing it confirms.
    let page = patient.text(&verify).await;
    assert!(page.contains("Confirm my request"), "{page}");
    let response = patient.post(&verify, &verify, &[]).await;
    assert_eq!(response.status(), 303);
    let status = location(&response);
    assert!(status.starts_with("/c/demo/requests/PR-"), "{status}");
    status
}

/// `(reference, token)` of a status path.
fn reference_and_token(status: &str) -> (String, String) {
    let (path, query) = status.split_once("?t=").expect("a token");
    let reference = path.rsplit('/').next().expect("reference").to_owned();
    (reference, query.to_owned())
}

/// The id of the request with `reference`, from the clinic's queue search.
async fn request_id(app: &TestApp, reference: &str) -> String {
    let queue = app
        .text(&format!("/admin/c/demo/requests?q={reference}"))
        .await;
    let at = queue
        .find("/admin/c/demo/requests/0")
        .unwrap_or_else(|| panic!("{reference} is not in the queue: {queue}"));
    queue[at + "/admin/c/demo/requests/".len()..][..36].to_owned()
}

async fn act(app: &TestApp, id: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let detail = format!("/admin/c/demo/requests/{id}");
    let csrf = app.csrf_on(&detail).await;
    app.post_form(&format!("{detail}/action"), &csrf, fields)
        .await
}

async fn count_rows(app: &TestApp) -> [i64; 6] {
    app.db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>([
                    privacy_requests::table.count().get_result(c).await?,
                    request_events::table.count().get_result(c).await?,
                    request_files::table.count().get_result(c).await?,
                    meta_deletions::table.count().get_result(c).await?,
                    audit_events::table.count().get_result(c).await?,
                    jobs::table.count().get_result(c).await?,
                ])
            })
        })
        .await
        .expect("counts")
}

/// Jobs due now and not finished.
async fn due_jobs(app: &TestApp) -> i64 {
    app.db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    jobs::table
                        .filter(jobs::status.eq_any(["pending", "running"]))
                        .filter(jobs::run_at.le(diesel::dsl::now))
                        .count()
                        .get_result(c)
                        .await?,
                )
            })
        })
        .await
        .expect("due jobs")
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    app.db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    audit_events::table
                        .order(audit_events::id)
                        .select(audit_events::action)
                        .load(c)
                        .await?,
                )
            })
        })
        .await
        .expect("audit")
}

#[tokio::test]
async fn a_request_runs_from_the_form_to_the_downloaded_reply_through_email() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    let patient = Browser::new(&app);
    let status = submit_and_verify(&app, &sink, &patient).await;
    let (reference, token) = reference_and_token(&status);
    // Unambiguous characters only.
    assert!(
        reference[3..]
            .chars()
            .all(|c| c == '-' || "ABCDEFGHJKMNPQRSTVWXYZ23456789".contains(c)),
        "{reference}"
    );

    // The acknowledgement carries the due date and the private link.
    let ack = nth_mail(&sink, PATIENT, 2).await;
    let due = (app.state.clock.now().date_naive() + chrono::Months::new(1)).to_string();
    assert!(
        ack.contains(&format!("has received your request {reference}")),
        "{ack}"
    );
    assert!(ack.contains(&due), "due {due} in {ack}");
    assert!(ack.contains(&status), "{ack}");
    let page = patient.text(&status).await;
    assert!(page.contains(&reference) && page.contains(&due), "{page}");
    // Without the token, the status page says nothing.
    let stranger = patient
        .text(&format!("/c/demo/requests/{reference}?t=wrong"))
        .await;
    assert!(!stranger.contains(&due));

    // The Privacy Officer finds it and asks for information: the clock stops.
    app.sign_in(DPO).await;
    let id = request_id(&app, &reference).await;
    let response = act(
        &app,
        &id,
        &[
            ("action", "ask"),
            ("question", "Which years of treatment do you need?"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    let asked = nth_mail(&sink, PATIENT, 3).await;
    assert!(
        asked.contains("Which years of treatment do you need?"),
        "{asked}"
    );
    let page = patient.text(&status).await;
    assert!(page.contains("Which years of treatment do you need?"));
    assert!(page.contains("Send answer"), "the reply form is offered");

    // The requester answers on the status page; the clock resumes.
    app.clock.advance(ChronoDuration::days(3));
    let reply = format!("/c/demo/requests/{reference}/reply");
    let response = patient
        .post(
            &status,
            &reply,
            &[("t", token.as_str()), ("body", "2019 to 2024, please.")],
        )
        .await;
    assert_eq!(response.status(), 303);
    // Days later the officer's session has ended; they sign in again.
    app.sign_in(DPO).await;
    let detail = app.text(&format!("/admin/c/demo/requests/{id}")).await;
    assert!(detail.contains("2019 to 2024, please."), "{detail}");
    // Three paused days move the deadline by three days.
    let resumed_due = (app.state.clock.now().date_naive() - chrono::Days::new(3)
        + chrono::Months::new(1))
    .checked_add_days(chrono::Days::new(3))
    .expect("date");
    assert!(
        detail.contains(&resumed_due.to_string()),
        "due {resumed_due}: {detail}"
    );

    // The clinic extends by two months, with the reason emailed.
    let response = act(
        &app,
        &id,
        &[
            ("action", "extend"),
            ("months", "2"),
            ("reason", "The records for 2019 are archived off-site."),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let extended = nth_mail(&sink, PATIENT, 4).await;
    assert!(extended.contains("has extended the deadline"), "{extended}");
    assert!(extended.contains("archived off-site"));
    // A second extension is refused.
    let again = act(
        &app,
        &id,
        &[("action", "extend"), ("months", "1"), ("reason", "More.")],
    )
    .await;
    assert_eq!(again.status(), 422);
    let detail = again.text().await.expect("body");
    assert!(detail.contains("already been extended"), "{detail}");

    // A reply file, then completion.
    let detail_path = format!("/admin/c/demo/requests/{id}");
    let csrf = app.csrf_on(&detail_path).await;
    let upload = reqwest::multipart::Form::new().text("csrf", csrf).part(
        "file",
        reqwest::multipart::Part::bytes(PDF.to_vec())
            .file_name("records-2019-2024.pdf")
            .mime_str("application/pdf")
            .expect("mime"),
    );
    let response = app
        .client
        .post(app.url(&format!("{detail_path}/files")))
        .header("origin", &app.address)
        .multipart(upload)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 303);
    let response = act(
        &app,
        &id,
        &[
            ("action", "complete"),
            ("outcome", "fulfilled"),
            ("completion_message", ""),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let done = nth_mail(&sink, PATIENT, 5).await;
    assert!(done.contains("It was fulfilled."), "{done}");

    // The requester confirms their address again to get the download link.
    let page = patient.text(&status).await;
    assert!(page.contains("records-2019-2024.pdf"), "{page}");
    let response = patient
        .post(
            &status,
            &format!("/c/demo/requests/{reference}/download-link"),
            &[("t", token.as_str())],
        )
        .await;
    assert_eq!(response.status(), 303);
    let downloads = emailed_path(&app, &sink, PATIENT, "/requests/downloads/").await;
    let list = patient.text(&downloads).await;
    let at = list
        .find(&format!("{downloads}/"))
        .expect("a link to the file");
    let file_path = list[at..].split('"').next().expect("href").to_owned();
    let file = patient.get(&file_path).await;
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert!(
        file.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment;")
    );
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), PDF);

    // Every step is in the audit log, the download included.
    let actions = audit_actions(&app).await;
    for action in [
        "request.submitted",
        "request.verified",
        "request.information_requested",
        "request.requester_replied",
        "request.extended",
        "request.file_attached",
        "request.completed",
        "request.file_downloaded",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing from {actions:?}"
        );
    }

    // The download link stops working after 7 days.
    app.clock.advance(ChronoDuration::days(8));
    assert_eq!(patient.get(&file_path).await.status(), 404);
}

#[tokio::test]
async fn hostile_input_is_kept_escaped_and_never_fails() {
    let app = demo_app(None).await;
    let patient = Browser::new(&app);
    let new = "/c/demo/requests/new";
    let long_name = "Ж".repeat(10_000);
    let cases: Vec<(String, String, String)> = vec![
        (
            "<script>alert('x')</script>".into(),
            "not-an-email".into(),
            "<img src=x onerror=alert(1)></textarea><script>alert(2)</script>".into(),
        ),
        (
            "Robert'); DROP TABLE privacy_requests;--".into(),
            "bobby@example".into(),
            "' OR 1=1 --".into(),
        ),
        (long_name.clone(), "a@".into(), "x".repeat(5_001)),
        (
            "مريم الحسن 👩‍⚕️".into(),
            "мрія@".into(),
            "\u{202E}txt.exe 🔥 שלום".into(),
        ),
    ];
    for (name, email, details) in &cases {
        let fields = form(name, email, details);
        let response = patient.post(new, new, &fields).await;
        let status = response.status().as_u16();
        let page = response.text().await.expect("body");
        assert_eq!(status, 422, "{name:.40}: {page:.400}");
        assert!(!page.contains("<script>alert"), "unescaped script");
        if let Some(at) = page.find("<img src=x") {
            panic!(
                "unescaped markup: {}",
                &page[at.saturating_sub(300)..at + 50]
            );
        }
        assert!(
            page.contains("Please correct the following:"),
            "{page:.400}"
        );
        // What was typed comes back, escaped, so nothing is lost.
        let shown = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        if name.chars().count() <= 200 {
            let escaped = shown(name);
            assert!(
                page.contains(&escaped) || page.contains(&escaped.replace('\'', "&#x27;")),
                "{name} not kept"
            );
        }
        assert!(page.contains(&shown(email)), "{email} not kept");
    }
    // The 10,000-character name is refused with a reason, not cut silently.
    let fields = form(&long_name, PATIENT, "Copy of my file.");
    let response = patient.post(new, new, &fields).await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("body");
    assert!(page.contains("at most"), "{:.2000}", page);
    // Valid RTL and emoji text is accepted as typed.
    let fields = form("מרים כהן 🌿", PATIENT, "بياناتي من فضلك ✉️");
    let response = patient.post(new, new, &fields).await;
    assert_eq!(response.status(), 303);
    let stored: String = app
        .db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    privacy_requests::table
                        .filter(privacy_requests::requester_email.eq(PATIENT))
                        .select(privacy_requests::requester_name)
                        .first(c)
                        .await?,
                )
            })
        })
        .await
        .expect("stored");
    assert_eq!(stored, "מרים כהן 🌿");
    // SQL fragments in the queue search are only text.
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    let queue = app
        .get("/admin/c/demo/requests?q=%27%3B%20DROP%20TABLE%20privacy_requests%3B--&status=%3Cscript%3E&page=-1")
        .await;
    assert_eq!(queue.status(), 200);
    let page = queue.text().await.expect("body");
    assert!(!page.contains("<script>"));
}

#[tokio::test]
async fn the_honeypot_stores_nothing_and_floods_are_rate_limited() {
    let app = demo_app(None).await;
    let patient = Browser::new(&app);
    let new = "/c/demo/requests/new";
    // The worker's start-up jobs (e.g. deadline reminders for the demo
    // requests) finish first, so that they are not counted as stored.
    assert!(
        eventually(Duration::from_secs(20), || async {
            due_jobs(&app).await == 0
        })
        .await,
        "the start-up jobs did not finish"
    );
    let before = count_rows(&app).await;
    let mut fields = form("Bot", "bot@example.org", "Spam");
    fields.retain(|(k, _)| *k != "website");
    fields.push(("website", "https://spam.example"));
    let response = patient.post(new, new, &fields).await;
    assert_eq!(response.status(), 303, "bots see the usual answer");
    assert_eq!(count_rows(&app).await, before, "and nothing is stored");

    // Five an hour per address.
    let fields = form("Olena Marchenko", PATIENT, "Copy of my file.");
    for _ in 0..5 {
        assert_eq!(patient.post(new, new, &fields).await.status(), 303);
    }
    let response = patient.post(new, new, &fields).await;
    assert_eq!(response.status(), 429);
    let page = response.text().await.expect("body");
    assert!(page.contains("Olena Marchenko"), "the input is kept");
    assert!(
        page.contains("Too many requests") && !page.contains("request-rate-limited"),
        "the limit is said in words"
    );
}

#[tokio::test]
async fn confirmation_links_expire_and_unconfirmed_requests_are_purged() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    let patient = Browser::new(&app);
    let new = "/c/demo/requests/new";
    let fields = form("Olena Marchenko", PATIENT, "Copy of my file.");
    assert_eq!(patient.post(new, new, &fields).await.status(), 303);
    let verify = emailed_path(&app, &sink, PATIENT, "/requests/verify/").await;
    app.clock.advance(ChronoDuration::hours(25));
    let response = patient.post(&verify, &verify, &[]).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.expect("body").contains("not valid"));

    let with_it = count_rows(&app).await[0];
    app.clock.advance(ChronoDuration::days(6));
    assert_eq!(
        app::backend::services::requests::purge_unverified(&app.state)
            .await
            .expect("purge"),
        1
    );
    assert_eq!(count_rows(&app).await[0], with_it - 1);
}

#[tokio::test]
async fn reminders_reach_the_assignee_once_and_late_extensions_are_refused() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    // Only this request: the demo ones have deadlines of their own.
    app.test_db
        .admin_execute("DELETE FROM privacy_requests")
        .await
        .expect("no demo requests");
    let patient = Browser::new(&app);
    let status = submit_and_verify(&app, &sink, &patient).await;
    let (reference, _) = reference_and_token(&status);
    app.sign_in(DPO).await;
    let id = request_id(&app, &reference).await;
    let detail = app.text(&format!("/admin/c/demo/requests/{id}")).await;
    let me = detail
        .split("<option value=\"")
        .skip(1)
        .find(|o| o.contains("Miriam Hartmann"))
        .and_then(|o| o.split('"').next())
        .expect("the DPO is assignable")
        .to_owned();
    let response = act(&app, &id, &[("action", "assign"), ("assignee", &me)]).await;
    assert_eq!(response.status(), 303);

    // Nothing is due yet.
    assert_eq!(staff::send_reminders(&app.state).await.expect("run"), 0);
    app.clock.advance(ChronoDuration::days(25));
    assert_eq!(staff::send_reminders(&app.state).await.expect("run"), 1);
    assert_eq!(staff::send_reminders(&app.state).await.expect("rerun"), 0);
    let reminder = nth_mail(&sink, DPO, 1).await;
    assert!(reminder.contains("due within 7 days"), "{reminder}");
    assert!(reminder.contains(&reference));

    app.clock.advance(ChronoDuration::days(10));
    assert_eq!(staff::send_reminders(&app.state).await.expect("run"), 1);
    assert_eq!(staff::send_reminders(&app.state).await.expect("rerun"), 0);
    assert!(nth_mail(&sink, DPO, 2).await.contains("overdue"));

    // The deadline has passed: an extension is no longer allowed.
    app.sign_in(DPO).await;
    let response = act(
        &app,
        &id,
        &[
            ("action", "extend"),
            ("months", "1"),
            ("reason", "Too late."),
        ],
    )
    .await;
    assert_eq!(response.status(), 422);
    let detail = response.text().await.expect("body");
    assert!(detail.contains("before the original deadline"), "{detail}");
    let queue = app.text("/admin/c/demo/requests?overdue=1").await;
    assert!(queue.contains(&reference));

    // The export lists it, and exporting is audited.
    let csv = app.get("/admin/c/demo/requests.csv").await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/csv")
    );
    let body = csv.text().await.expect("body");
    assert!(body.starts_with("reference,"), "{body}");
    assert!(body.contains(&reference));
    assert!(
        audit_actions(&app)
            .await
            .iter()
            .any(|a| a == "request.exported")
    );
}

async fn demo_with_meta_secret() -> TestApp {
    let app = demo_app(None).await;
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    let csrf = app.csrf_on("/admin/c/demo/meta").await;
    let response = app
        .post_form("/admin/c/demo/meta", &csrf, &[("app_secret", META_SECRET)])
        .await;
    assert_eq!(response.status(), 303);
    app
}

/// POSTs a Meta callback's form body and returns the status and JSON answer.
pub async fn post_signed(app: &TestApp, path: &str, body: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{path} answered {status} without JSON: {text:.300}"));
    (status, json)
}

fn signed(payload: &serde_json::Value, secret: &[u8]) -> String {
    let value = app::domain::meta::sign(payload, secret);
    format!(
        "signed_request={}",
        form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
    )
}

#[tokio::test]
async fn a_signed_meta_deletion_creates_exactly_one_erasure_request() {
    let app = demo_with_meta_secret().await;
    let payload = json!({
        "algorithm": "HMAC-SHA256",
        "issued_at": app.clock.now().timestamp(),
        "user_id": "218471",
    });
    let before = count_rows(&app).await;
    let (status, answer) = post_signed(
        &app,
        "/c/demo/meta/data-deletion",
        &signed(&payload, META_SECRET.as_bytes()),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let code = answer["confirmation_code"]
        .as_str()
        .expect("code")
        .to_owned();
    assert_eq!(
        answer["url"],
        app.url(&format!("/c/demo/meta/deletion-status/{code}"))
    );
    let after = count_rows(&app).await;
    assert_eq!(after[0], before[0] + 1, "exactly one request");
    assert_eq!(after[3], before[3] + 1, "one deletion record");

    // Meta retries: the same open request answers again.
    let (status, again) = post_signed(
        &app,
        "/c/demo/meta/data-deletion",
        &signed(&payload, META_SECRET.as_bytes()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["confirmation_code"], code.as_str());
    assert_eq!(count_rows(&app).await[0], after[0]);

    let kind: (String, String) = app
        .db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    privacy_requests::table
                        .filter(privacy_requests::source.eq("meta"))
                        .select((privacy_requests::kind, privacy_requests::source))
                        .first(c)
                        .await?,
                )
            })
        })
        .await
        .expect("request");
    assert_eq!(kind, ("erasure".into(), "meta".into()));

    let page = app
        .get(&format!("/c/demo/meta/deletion-status/{code}"))
        .await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("body");
    assert!(
        page.contains("received your request to delete your data"),
        "{page}"
    );
    assert_eq!(
        app.get("/c/demo/meta/deletion-status/NOSUCHCODE99")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn every_kind_of_bad_meta_callback_gets_400_and_stores_nothing() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let app = demo_with_meta_secret().await;
    let now = app.clock.now().timestamp();
    let good = json!({ "algorithm": "HMAC-SHA256", "issued_at": now, "user_id": "1" });
    let (sig, _) = app::domain::meta::sign(&good, META_SECRET.as_bytes())
        .split_once('.')
        .map(|(s, p)| (s.to_owned(), p.to_owned()))
        .expect("signed");
    let raw = |payload: &str| {
        format!(
            "signed_request={}",
            form_urlencoded::byte_serialize(payload.as_bytes()).collect::<String>()
        )
    };
    let cases: Vec<(&str, String)> = vec![
        ("no signed_request", "other=1".into()),
        ("empty", raw("")),
        ("no dot", raw("abcdef")),
        (
            "wrong secret",
            signed(&good, b"another-secret-of-another-app"),
        ),
        (
            "tampered payload",
            raw(&format!(
                "{sig}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"algorithm":"HMAC-SHA256","user_id":"2"}"#)
            )),
        ),
        ("bad base64", raw("!!!.@@@")),
        (
            "not JSON",
            signed_text("this is not json", META_SECRET.as_bytes()),
        ),
        (
            "another algorithm",
            signed(
                &json!({ "algorithm": "HMAC-SHA1", "user_id": "1" }),
                META_SECRET.as_bytes(),
            ),
        ),
        (
            "no algorithm",
            signed(&json!({ "user_id": "1" }), META_SECRET.as_bytes()),
        ),
        (
            "no user_id",
            signed(
                &json!({ "algorithm": "HMAC-SHA256", "issued_at": 1 }),
                META_SECRET.as_bytes(),
            ),
        ),
        (
            "user_id of the wrong type",
            signed(
                &json!({ "algorithm": "HMAC-SHA256", "user_id": ["1"] }),
                META_SECRET.as_bytes(),
            ),
        ),
    ];
    let before = count_rows(&app).await;
    for (what, body) in &cases {
        for path in ["/c/demo/meta/data-deletion", "/c/demo/meta/deauthorize"] {
            let (status, answer) = post_signed(&app, path, body).await;
            assert_eq!(status, 400, "{what} at {path}: {answer}");
            assert!(answer["error"].is_string(), "{what}: {answer}");
        }
    }
    assert_eq!(count_rows(&app).await, before, "the database is unchanged");

    // Unknown clinics and clinics without a secret are not found.
    let body = signed(&good, META_SECRET.as_bytes());
    assert_eq!(
        post_signed(&app, "/c/nowhere/meta/data-deletion", &body)
            .await
            .0,
        404
    );
    // Oversized bodies are refused before parsing.
    let huge = format!("signed_request={}", "a".repeat(64 * 1024));
    assert_eq!(
        post_signed(&app, "/c/demo/meta/data-deletion", &huge)
            .await
            .0,
        413
    );
    assert_eq!(count_rows(&app).await, before);

    // A good deauthorization answers 200 and is audited, nothing else.
    let (status, _) = post_signed(&app, "/c/demo/meta/deauthorize", &body).await;
    assert_eq!(status, 200);
    let after = count_rows(&app).await;
    assert_eq!(after[0], before[0]);
    assert_eq!(after[4], before[4] + 1);
    assert_eq!(
        audit_actions(&app).await.last().map(String::as_str),
        Some("meta.deauthorized")
    );
}

/// A signed request whose payload is `text` rather than JSON.
fn signed_text(text: &str, secret: &[u8]) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};
    let payload = URL_SAFE_NO_PAD.encode(text);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("key");
    mac.update(payload.as_bytes());
    let value = format!(
        "{}.{payload}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    format!(
        "signed_request={}",
        form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
    )
}

#[tokio::test]
async fn the_demo_clinic_shows_requests_in_every_state_on_its_dashboard_and_queue() {
    let app = demo_app(None).await;
    app.sign_in(DPO).await;
    let dashboard = app.text("/admin/c/demo").await;
    // Four open demo requests, one of them past its deadline.
    assert!(
        dashboard.contains("<strong>4</strong> open requests"),
        "{dashboard}"
    );
    assert!(dashboard.contains("<strong>1</strong> overdue"));
    assert!(dashboard.contains("Privacy requests per week by kind"));
    assert!(
        dashboard.contains("<strong>21.0 days</strong> median time to close"),
        "{dashboard}"
    );

    let queue = app.text("/admin/c/demo/requests?overdue=on").await;
    assert!(queue.contains("PR-R5GX-3KPB") && !queue.contains("PR-4HMT-2VNE"));
    assert!(queue.contains("Dr. Miriam Hartmann"), "assigned to the DPO");
    let all = app.text("/admin/c/demo/requests?status=completed").await;
    assert!(all.contains("PR-N2CY-8TFD") && all.contains("PR-V9ME-5WHK"));
}

#[tokio::test]
async fn requesters_withdraw_after_confirming_and_refusals_name_the_authority() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    let patient = Browser::new(&app);

    // Withdrawing asks first, then ends the request and says so by email.
    let status = submit_and_verify(&app, &sink, &patient).await;
    let (reference, token) = reference_and_token(&status);
    let withdraw = format!("/c/demo/requests/{reference}/withdraw?t={token}");
    let confirm = patient.text(&withdraw).await;
    assert!(confirm.contains("Yes, withdraw my request"), "{confirm}");
    assert!(patient.text(&status).await.contains("Received"));
    let response = patient
        .post(
            &withdraw,
            &format!("/c/demo/requests/{reference}/withdraw"),
            &[("t", token.as_str())],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert!(patient.text(&status).await.contains("Withdrawn"));
    mail_with(
        &sink,
        PATIENT,
        &format!("Your request {reference} was withdrawn"),
    )
    .await;

    // A refusal needs its reason, and the email names the right to complain.
    let status = submit_and_verify(&app, &sink, &patient).await;
    let (reference, _) = reference_and_token(&status);
    app.sign_in(DPO).await;
    let id = request_id(&app, &reference).await;
    let response = act(
        &app,
        &id,
        &[
            ("action", "complete"),
            ("outcome", "refused"),
            ("completion_message", ""),
        ],
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("A refusal needs its reason")
    );
    let response = act(
        &app,
        &id,
        &[
            ("action", "complete"),
            ("outcome", "refused"),
            (
                "completion_message",
                "We must keep treatment records for ten years after the last visit.",
            ),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let mail = mail_with(&sink, PATIENT, "has refused your request").await;
    assert!(mail.contains("ten years after the last visit"));
    assert!(mail.contains(
        "right to lodge a complaint with the supervisory authority, Berlin Commissioner for Data Protection"
    ));
    // A completed request takes no further actions.
    let again = act(&app, &id, &[("action", "start")]).await;
    assert_eq!(again.status(), 422);
}
