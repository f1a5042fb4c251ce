//! Sub-processors: an announcement reaches every clinic contact and
//! subscriber once, objections close at the deadline, a change takes effect
//! at its date by the job, and the public JSON and Atom outputs validate.

use std::collections::HashMap;
use std::time::Duration;

use app::backend::audit::AuditContext;
use app::backend::clock::Clock;
use app::backend::db::DbError;
use app::backend::db::schema::{clinics as clinic_rows, subprocessor_objections};
use app::backend::services::notices::Publisher;
use app::backend::services::subprocessors::{self, Announcement, Register};
use app::backend::services::{clinics, demo};
use app::backend::tenancy::Scope;
use app::domain::subprocessors::{ChangeKind, SubprocessorForm};
use chrono::{DateTime, Duration as Days, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::common::smtp::SmtpSink;
use crate::common::{TestApp, csrf_in, demo_app, eventually, link_in_mail, location};
use crate::tenancy::clinic_input;

async fn register(app: &TestApp) -> Register {
    subprocessors::register(&app.db, Publisher::Platform)
        .await
        .expect("register")
}

async fn proposed(app: &TestApp) -> Uuid {
    register(app)
        .await
        .entries
        .iter()
        .find(|e| e.status == "proposed")
        .expect("the demo's proposed sub-processor")
        .id
}

async fn announce(
    app: &TestApp,
    kind: ChangeKind,
    subprocessor: Uuid,
    replaces: Option<Uuid>,
    at: DateTime<Utc>,
) -> subprocessors::Announced {
    subprocessors::announce(
        &app.state,
        &AuditContext::cli(),
        Publisher::Platform,
        None,
        Announcement {
            kind,
            subprocessor,
            replaces,
            summary: "Needed for the new service.".into(),
            effective_at: Some(at),
        },
    )
    .await
    .expect("announced")
}

#[tokio::test]
async fn announcing_a_change_emails_every_clinic_contact_and_subscriber_once() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    let ctx = AuditContext::cli();
    // A second clinic whose owner is also the Privacy Officer of the demo
    // clinic's neighbour, a third with the same owner as the second, and a
    // suspended one whose owner is told nothing.
    clinics::create(&app.db, &ctx, clinic_input("north", "shared@north.example"))
        .await
        .expect("north");
    clinics::create(&app.db, &ctx, clinic_input("south", "shared@north.example"))
        .await
        .expect("south");
    clinics::create(
        &app.db,
        &ctx,
        clinic_input("closed", "owner@closed.example"),
    )
    .await
    .expect("closed");
    app.test_db
        .admin_execute(
            "UPDATE clinics SET status = 'suspended' WHERE slug = 'closed';
             INSERT INTO subscribers (id, clinic_id, email, status, confirmed_at, topics) VALUES
               (gen_random_uuid(), NULL, 'watcher@example.org', 'confirmed', now(), '{subprocessors}'),
               (gen_random_uuid(), NULL, 'DPO@lindenhof-clinic.example', 'confirmed', now(), '{notices,subprocessors}'),
               (gen_random_uuid(), NULL, 'policies-only@example.org', 'confirmed', now(), '{notices}'),
               (gen_random_uuid(), NULL, 'unconfirmed@example.org', 'pending', NULL, '{}');
             INSERT INTO suppressions (clinic_id, email, reason) VALUES (NULL, 'gone@example.org', 'unsubscribed');
             INSERT INTO subscribers (id, clinic_id, email, status, confirmed_at, topics) VALUES
               (gen_random_uuid(), NULL, 'gone@example.org', 'confirmed', now(), '{subprocessors}');",
        )
        .await
        .expect("audience");

    let at = app.clock.now() + Days::days(31);
    let announced = announce(&app, ChangeKind::Add, proposed(&app).await, None, at).await;
    let expected = [
        demo::DEMO_OWNER_EMAIL,
        "dpo@lindenhof-clinic.example",
        "shared@north.example",
        "watcher@example.org",
    ];
    assert!(
        eventually(Duration::from_secs(30), || async {
            sink.count() >= expected.len()
        })
        .await,
        "{} of {} change notices arrived",
        sink.count(),
        expected.len()
    );
    // Anything late or doubled would arrive within this pause.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut received: HashMap<String, usize> = HashMap::new();
    for message in sink.messages() {
        for to in &message.to {
            *received.entry(to.to_lowercase()).or_default() += 1;
        }
        assert!(message.text().contains("OpenAI"), "{}", message.text());
        // Only the subscriber may unsubscribe; clinic contacts are owed it.
        let subscriber = message.to.iter().any(|t| t == "watcher@example.org");
        assert_eq!(
            message.header("List-Unsubscribe").is_some(),
            subscriber,
            "{:?}",
            message.to
        );
    }
    let wanted: HashMap<String, usize> = expected.iter().map(|e| ((*e).to_owned(), 1)).collect();
    assert_eq!(
        received, wanted,
        "Owners and Privacy Officers of active clinics and subprocessor subscribers, once each; \
         not Admins, Viewers, policy-only or unconfirmed subscribers, suspended clinics or suppressed addresses"
    );
    let owner_mail = sink
        .messages()
        .into_iter()
        .find(|m| m.to.iter().any(|t| t == demo::DEMO_OWNER_EMAIL))
        .expect("owner's notice");
    let text = owner_mail.text();
    assert!(
        text.contains(&format!("/admin/subprocessor-changes/{}", announced.change)),
        "{text}"
    );
    assert!(text.contains(&announced.objection_deadline.format("%-d %B %Y").to_string()));
    let delivery = app::backend::services::notices::campaigns::change_delivery(
        &app.db,
        Publisher::Platform,
        announced.change,
    )
    .await
    .expect("delivery")
    .expect("a campaign");
    assert_eq!((delivery.recipients, delivery.suppressed), (4, 1));
    app.stop().await;
}

/// The demo clinic's objections to `change`, oldest first: id, status
/// and reason.
async fn objections_of(app: &TestApp, change: Uuid) -> Vec<(Uuid, String, String)> {
    app.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    subprocessor_objections::table
                        .inner_join(clinic_rows::table)
                        .filter(subprocessor_objections::change_id.eq(change))
                        .filter(clinic_rows::slug.eq("demo"))
                        .order(subprocessor_objections::raised_at)
                        .select((
                            subprocessor_objections::id,
                            subprocessor_objections::status,
                            subprocessor_objections::reason,
                        ))
                        .load(c)
                        .await?,
                )
            })
        })
        .await
        .expect("objections")
}

#[tokio::test]
async fn a_clinic_objects_from_the_emailed_link_until_the_deadline_and_the_operator_answers() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    let announced = announce(
        &app,
        ChangeKind::Add,
        proposed(&app).await,
        None,
        app.clock.now() + Days::days(31),
    )
    .await;
    let change = announced.change;

    // Another clinic objects too; the demo clinic never sees its reason.
    let north = clinics::create(
        &app.db,
        &AuditContext::cli(),
        clinic_input("north", "owner@north.example"),
    )
    .await
    .expect("north");
    let north_reason = "North's board has not approved any transfer to the US.";
    subprocessors::object(
        &app.state,
        &AuditContext::cli(),
        north,
        None,
        change,
        north_reason,
    )
    .await
    .expect("north objects");

    // The emailed link opens the change in the owner's clinic.
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    let opened = app
        .get(&format!("/admin/subprocessor-changes/{change}"))
        .await;
    assert_eq!(opened.status(), 303);
    let page = location(&opened);
    assert_eq!(
        page,
        format!("/admin/c/demo/subprocessors/changes/{change}")
    );
    let html = app.text(&page).await;
    assert!(html.contains("Object to this change"), "{html}");
    assert!(
        !html.contains(north_reason),
        "another clinic's objection is not shown"
    );
    let csrf = csrf_in(&html).expect("form token");

    // Too short a reason keeps what was typed.
    let short = app
        .post_form(&page, &csrf, &[("intent", "object"), ("reason", "No <b>")])
        .await;
    assert_eq!(short.status(), 422);
    let body = short.text().await.expect("body");
    assert!(body.contains("at least 10 characters"));
    assert!(body.contains("No &lt;b&gt;"));

    let reason = "Our patients were told their data stays in the EU.";
    let objected = app
        .post_form(&page, &csrf, &[("intent", "object"), ("reason", reason)])
        .await;
    assert_eq!(objected.status(), 303);
    let again = app
        .post_form(&page, &csrf, &[("intent", "object"), ("reason", reason)])
        .await;
    assert_eq!(again.status(), 422);
    assert!(
        again
            .text()
            .await
            .expect("body")
            .contains("already has an open objection")
    );
    assert_eq!(objections_of(&app, change).await.len(), 1);

    // The operator resolves it; the clinic's Owner and Privacy Officer are
    // emailed the note.
    app.sign_in(demo::DEMO_OPERATOR_EMAIL).await;
    let operator_page = format!("/admin/platform/subprocessors/changes/{change}");
    let html = app.text(&operator_page).await;
    assert!(html.contains(reason), "the operator sees the objection");
    assert!(html.contains(north_reason), "and every other clinic's");
    let objection = objections_of(&app, change).await[0].0;
    let csrf = csrf_in(&html).expect("form token");
    let note = "Processing stays in the EU region; the transfer clauses cover support access only.";
    let resolved = app
        .post_form(
            &operator_page,
            &csrf,
            &[
                ("intent", "resolve"),
                ("objection", &objection.to_string()),
                ("resolution", note),
            ],
        )
        .await;
    assert_eq!(resolved.status(), 303);
    assert_eq!(objections_of(&app, change).await[0].1, "resolved");
    assert!(
        eventually(Duration::from_secs(20), || async {
            ["dpo@lindenhof-clinic.example", demo::DEMO_OWNER_EMAIL]
                .iter()
                .all(|to| {
                    sink.messages()
                        .iter()
                        .any(|m| m.to.iter().any(|t| t == to) && m.text().contains(note))
                })
        })
        .await,
        "the resolution reaches the clinic's Owner and Privacy Officer"
    );

    // With no open objection the clinic may object again, and withdraw it.
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    let csrf = app.csrf_on(&page).await;
    let second = "We still need the data processing agreement in German.";
    let objected = app
        .post_form(&page, &csrf, &[("intent", "object"), ("reason", second)])
        .await;
    assert_eq!(objected.status(), 303);
    let open = objections_of(&app, change).await[1].0;
    let withdrawn = app
        .post_form(
            &page,
            &csrf,
            &[("intent", "withdraw"), ("objection", &open.to_string())],
        )
        .await;
    assert_eq!(withdrawn.status(), 303);
    let statuses: Vec<String> = objections_of(&app, change)
        .await
        .into_iter()
        .map(|o| o.1)
        .collect();
    assert_eq!(statuses, ["resolved", "withdrawn"]);
    let html = app.text(&page).await;
    assert!(html.contains("Withdrawn on"), "{html}");
    let again = app
        .post_form(
            &page,
            &csrf,
            &[("intent", "withdraw"), ("objection", &open.to_string())],
        )
        .await;
    assert_eq!(
        again.status(),
        422,
        "a withdrawn objection is not open any more"
    );

    // After the deadline, a new objection is refused and nothing is stored.
    app.clock.set(announced.objection_deadline);
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    let html = app.text(&page).await;
    assert!(
        html.contains("objection window for this change has closed"),
        "{html}"
    );
    let late = app
        .post_form(
            &page,
            &csrf_in(&html).expect("token"),
            &[("intent", "object"), ("reason", reason)],
        )
        .await;
    assert_eq!(late.status(), 422);
    assert!(late.text().await.expect("body").contains("closed"));
    assert_eq!(objections_of(&app, change).await.len(), 2);
    app.stop().await;
}

fn entry(name: &str, purpose: &str) -> app::domain::subprocessors::SubprocessorEntry {
    SubprocessorForm {
        legal_name: name.into(),
        service: format!("{purpose} for the platform"),
        purpose: purpose.into(),
        categories: vec!["technical_logs".into()],
        countries: "DE".into(),
        safeguard: "not_needed".into(),
        website: String::new(),
        terms_url: String::new(),
    }
    .validate()
    .expect("valid entry")
}

#[tokio::test]
async fn changes_take_effect_at_their_date_and_the_outputs_validate() {
    let app = demo_app(None).await;
    let ctx = AuditContext::cli();
    // Stopped, to the microsecond Postgres keeps.
    app.clock.set(app.clock.now());
    let now = app.clock.now();
    let before = register(&app).await;
    let hosting = before
        .entries
        .iter()
        .find(|e| e.purpose == "Hosting")
        .expect("demo host")
        .id;
    let payments = before
        .entries
        .iter()
        .find(|e| e.purpose == "Payments")
        .expect("demo payments")
        .id;
    let new_host = subprocessors::create(
        &app.state,
        &ctx,
        Publisher::Platform,
        entry("Nordhost GmbH", "Hosting"),
        None,
    )
    .await
    .expect("proposed");
    // Too soon for the 30-day window: refused with the earliest date.
    let refused = subprocessors::announce(
        &app.state,
        &ctx,
        Publisher::Platform,
        None,
        Announcement {
            kind: ChangeKind::Replace,
            subprocessor: new_host,
            replaces: Some(hosting),
            summary: "A host in Germany.".into(),
            effective_at: Some(now + Days::days(29)),
        },
    )
    .await
    .expect_err("inside the window");
    assert!(refused.to_string().contains("at the earliest"), "{refused}");

    let at = now + Days::days(30) + Days::hours(1);
    let openai = proposed(&app).await;
    let add = announce(&app, ChangeKind::Add, openai, None, at).await;
    let replace = announce(&app, ChangeKind::Replace, new_host, Some(hosting), at).await;
    let retire = announce(&app, ChangeKind::Retire, payments, None, at + Days::days(1)).await;
    // One open change per sub-processor.
    let twice = subprocessors::announce(
        &app.state,
        &ctx,
        Publisher::Platform,
        None,
        Announcement {
            kind: ChangeKind::Retire,
            subprocessor: hosting,
            replaces: None,
            summary: "Leaving.".into(),
            effective_at: Some(at),
        },
    )
    .await
    .expect_err("already concerned by the replacement");
    assert!(twice.to_string().contains("already announced"), "{twice}");

    // A cancelled change never takes effect and leaves the feed.
    let spare = subprocessors::create(
        &app.state,
        &ctx,
        Publisher::Platform,
        entry("Spare Mail Ltd", "Email delivery"),
        None,
    )
    .await
    .expect("proposed");
    let cancelled = announce(&app, ChangeKind::Add, spare, None, at + Days::days(5)).await;
    subprocessors::cancel(&app.state, &ctx, Publisher::Platform, cancelled.change)
        .await
        .expect("cancelled");
    let twice = subprocessors::cancel(&app.state, &ctx, Publisher::Platform, cancelled.change)
        .await
        .expect_err("already cancelled");
    assert!(twice.to_string().contains("cancelled"), "{twice}");

    let status = |register: &Register, id: Uuid| {
        register
            .entry(id)
            .map(|e| e.status.clone())
            .unwrap_or_default()
    };
    app.clock.set(at - Days::seconds(1));
    assert_eq!(subprocessors::apply_due(&app.state).await.expect("job"), 0);
    let json: serde_json::Value = app
        .get("/subprocessors.json")
        .await
        .json()
        .await
        .expect("json");
    let names = |json: &serde_json::Value| -> Vec<String> {
        json["subprocessors"]
            .as_array()
            .expect("list")
            .iter()
            .map(|s| s["legal_name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert!(!names(&json).iter().any(|n| n.starts_with("OpenAI")));
    assert_eq!(json["upcoming_changes"].as_array().map(Vec::len), Some(3));
    validate(&app, &json).await;

    app.clock.set(at);
    assert_eq!(subprocessors::apply_due(&app.state).await.expect("job"), 2);
    let after = register(&app).await;
    assert_eq!(status(&after, openai), "active");
    assert_eq!(after.entry(openai).and_then(|e| e.active_since), Some(at));
    assert_eq!(status(&after, new_host), "active");
    assert_eq!(status(&after, hosting), "retired");
    assert_eq!(
        status(&after, payments),
        "active",
        "its retirement is a day later"
    );
    assert_eq!(
        subprocessors::apply_due(&app.state).await.expect("job"),
        0,
        "applied once"
    );

    let json: serde_json::Value = app
        .get("/subprocessors.json")
        .await
        .json()
        .await
        .expect("json");
    validate(&app, &json).await;
    let listed = names(&json);
    assert!(listed.iter().any(|n| n.starts_with("OpenAI")), "{listed:?}");
    assert!(listed.iter().any(|n| n == "Nordhost GmbH"));
    assert!(
        !listed.iter().any(|n| n.starts_with("Microsoft")),
        "{listed:?}"
    );
    assert_eq!(json["history"].as_array().map(Vec::len), Some(2));
    let page = app.text("/subprocessors").await;
    assert!(
        page.contains("Nordhost GmbH") && page.contains("replaces Microsoft"),
        "{page}"
    );

    // The public list is right on the date even before the job runs.
    app.clock.set(at + Days::days(1));
    let json: serde_json::Value = app
        .get("/subprocessors.json")
        .await
        .json()
        .await
        .expect("json");
    assert!(!names(&json).iter().any(|n| n.starts_with("Razorpay")));

    // The Atom feed parses with a feed library and lists every change.
    let response = app.get("/subprocessors.atom").await;
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/atom+xml; charset=utf-8")
    );
    let body = response.bytes().await.expect("feed");
    let feed = feed_rs::parser::parse(&body[..]).expect("a valid Atom feed");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    assert_eq!(feed.entries.len(), 3);
    let titles: Vec<String> = feed
        .entries
        .iter()
        .filter_map(|e| e.title.as_ref().map(|t| t.content.clone()))
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t == "Nordhost GmbH replaces Microsoft Ireland Operations Limited"),
        "{titles:?}"
    );
    for entry in &feed.entries {
        assert!(entry.id.starts_with("urn:uuid:"));
        assert!(
            entry
                .links
                .iter()
                .any(|l| l.href.contains("/subprocessors#change-"))
        );
    }
    assert!(
        [add.change, replace.change, retire.change]
            .iter()
            .all(|id| feed
                .entries
                .iter()
                .any(|e| e.id == format!("urn:uuid:{id}")))
    );
    app.clock.set(at + Days::days(6));
    assert_eq!(
        subprocessors::apply_due(&app.state).await.expect("job"),
        1,
        "the retirement, not the cancelled addition"
    );
    let last = register(&app).await;
    assert_eq!(status(&last, payments), "retired");
    assert_eq!(status(&last, spare), "proposed");
    app.stop().await;
}

/// Checks `json` against the schema the portal serves beside it.
async fn validate(app: &TestApp, json: &serde_json::Value) {
    let schema: serde_json::Value = app
        .get("/subprocessors.schema.json")
        .await
        .json()
        .await
        .expect("schema");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("a valid JSON Schema");
    let errors: Vec<String> = validator.iter_errors(json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{json:#}");
}

/// Subscribes `email` to `topics` through the public form and confirms it
/// from the emailed link.
async fn subscribe_and_confirm(app: &TestApp, sink: &SmtpSink, email: &str, topics: &[&str]) {
    let csrf = app.csrf_on("/subscribe").await;
    let mut fields = vec![("email", email)];
    fields.extend(topics.iter().map(|t| ("topics", *t)));
    let response = app.post_form("/subscribe", &csrf, &fields).await;
    assert_eq!(response.status(), 303, "subscribing {email}");
    let mut link = None;
    assert!(
        eventually(Duration::from_secs(20), || {
            link = link_in_mail(sink, email, "/subscribe/confirm?t=");
            let found = link.is_some();
            async move { found }
        })
        .await,
        "no confirmation link for {email}"
    );
    let link = link.expect("link");
    let (_, token) = link.split_once("?t=").expect("token");
    let confirmed = app
        .post_form("/subscribe/confirm", &csrf, &[("t", token)])
        .await;
    assert_eq!(confirmed.status(), 200);
    assert!(
        confirmed
            .text()
            .await
            .expect("body")
            .contains("You are subscribed")
    );
}

async fn topics_of(app: &TestApp, email: &'static str) -> Vec<String> {
    use app::backend::db::schema::subscribers;
    app.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    subscribers::table
                        .filter(subscribers::email.eq(email))
                        .select(subscribers::topics)
                        .first(c)
                        .await?,
                )
            })
        })
        .await
        .expect("topics")
}

#[tokio::test]
async fn subscribers_choose_sub_processor_changes_and_the_operator_form_keeps_its_input() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;

    // A subscription without a topic is refused with the address kept.
    let csrf = app.csrf_on("/subscribe?topic=subprocessors").await;
    let none = app
        .post_form("/subscribe", &csrf, &[("email", "reader@example.org")])
        .await;
    assert_eq!(none.status(), 422);
    let body = none.text().await.expect("body");
    assert!(
        body.contains("Choose at least one kind of change notice"),
        "{body}"
    );
    assert!(body.contains("reader@example.org"));

    subscribe_and_confirm(&app, &sink, "reader@example.org", &["subprocessors"]).await;
    subscribe_and_confirm(&app, &sink, "policy@example.org", &["notices"]).await;
    assert_eq!(
        topics_of(&app, "reader@example.org").await,
        ["subprocessors"]
    );
    // A confirmed subscriber asking for more keeps what they had until the
    // new link is confirmed.
    let response = app
        .post_form(
            "/subscribe",
            &csrf,
            &[("email", "policy@example.org"), ("topics", "subprocessors")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(topics_of(&app, "policy@example.org").await, ["notices"]);
    let unconfirmed = app
        .post_form(
            "/subscribe",
            &csrf,
            &[
                ("email", "unconfirmed@example.org"),
                ("topics", "subprocessors"),
            ],
        )
        .await;
    assert_eq!(unconfirmed.status(), 303);

    // The operator's announcement: a date inside the window is refused at
    // the date field, with everything typed kept.
    app.sign_in(demo::DEMO_OPERATOR_EMAIL).await;
    let form = "/admin/platform/subprocessors/announce";
    let csrf = app.csrf_on(form).await;
    let openai = proposed(&app).await.to_string();
    let summary = "Summaries of <anonymised> notes, as clinics asked.";
    let soon = (app.clock.now() + Days::days(10))
        .format("%Y-%m-%d")
        .to_string();
    let fields = [
        ("kind", "add"),
        ("subprocessor", openai.as_str()),
        ("summary", summary),
        ("effective_at", soon.as_str()),
        ("confirm", "on"),
    ];
    let refused = app.post_form(form, &csrf, &fields).await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.expect("body");
    assert!(body.contains("at the earliest"), "{body}");
    assert!(
        body.contains("field-effective_at-error"),
        "the error stands at the date field"
    );
    assert!(
        body.contains("Summaries of &lt;anonymised&gt; notes"),
        "{body}"
    );
    assert!(!body.contains("<anonymised>"));

    let later = (app.clock.now() + Days::days(32))
        .format("%Y-%m-%d")
        .to_string();
    let mut fields = fields;
    fields[3] = ("effective_at", later.as_str());
    let announced = app.post_form(form, &csrf, &fields).await;
    assert_eq!(announced.status(), 303);
    assert!(location(&announced).starts_with("/admin/platform/subprocessors/changes/"));
    assert!(
        eventually(Duration::from_secs(20), || async {
            sink.messages().iter().any(|m| {
                m.to.iter().any(|t| t == "reader@example.org") && m.text().contains("OpenAI")
            })
        })
        .await,
        "the sub-processor subscriber is told"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    for quiet in ["policy@example.org", "unconfirmed@example.org"] {
        assert!(
            !sink
                .messages()
                .iter()
                .any(|m| m.to.iter().any(|t| t == quiet) && m.text().contains("OpenAI")),
            "{quiet} did not confirm sub-processor changes"
        );
    }

    // Confirming the second link adds the topic to what the subscriber had.
    let link = link_in_mail(&sink, "policy@example.org", "/subscribe/confirm?t=").expect("link");
    let (_, token) = link.split_once("?t=").expect("token");
    let csrf = app.csrf_on("/subscribe").await;
    let confirmed = app
        .post_form("/subscribe/confirm", &csrf, &[("t", token)])
        .await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(
        topics_of(&app, "policy@example.org").await,
        ["notices", "subprocessors"]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_clinic_contact_who_unsubscribed_still_gets_notices_owed_to_the_clinic_without_list_unsubscribe()
 {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    let ctx = AuditContext::cli();
    clinics::create(&app.db, &ctx, clinic_input("east", "owner@east.example"))
        .await
        .expect("clinic");
    // The owner once unsubscribed from the platform's mail; a reader
    // subscribed to both kinds of notice.
    app.test_db
        .admin_execute(
            "INSERT INTO suppressions (clinic_id, email, reason)
               VALUES (NULL, 'owner@east.example', 'unsubscribed');
             INSERT INTO subscribers (id, clinic_id, email, status, confirmed_at, topics) VALUES
               (gen_random_uuid(), NULL, 'reader@example.org', 'confirmed', now(), '{notices,subprocessors}');",
        )
        .await
        .expect("audience");

    let at = app.clock.now() + Days::days(31);
    announce(&app, ChangeKind::Add, proposed(&app).await, None, at).await;
    crate::notices::schedule_material_change(&app, Publisher::Platform, "The platform, revised.")
        .await;

    let to = |address: &'static str| {
        let sink = &sink;
        move || {
            sink.messages()
                .into_iter()
                .filter(|m| m.to.iter().any(|t| t == address))
                .collect::<Vec<_>>()
        }
    };
    assert!(
        eventually(Duration::from_secs(30), || async {
            to("owner@east.example")().len() >= 2 && to("reader@example.org")().len() >= 2
        })
        .await,
        "both notices reach the contact and the subscriber"
    );
    for message in to("owner@east.example")() {
        let text = message.text();
        assert_eq!(message.header("List-Unsubscribe"), None, "{text}");
        assert_eq!(message.header("List-Unsubscribe-Post"), None);
        assert!(!text.contains("/email/unsubscribe/"), "{text}");
        assert!(text.contains("cannot be unsubscribed"), "{text}");
        assert!(text.contains(&app.url("/admin")), "{text}");
        assert!(!message.html().contains("/email/unsubscribe/"));
    }
    assert!(
        to("owner@east.example")()
            .iter()
            .any(|m| m.text().contains("GDPR Art. 28(2)")),
        "the sub-processor notice names the duty"
    );
    for message in to("reader@example.org")() {
        assert_eq!(
            message.header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        assert!(message.text().contains("/email/unsubscribe/"));
    }
    app.stop().await;
}

#[tokio::test]
async fn the_feed_is_updated_at_its_newest_change_and_the_schema_id_is_absolute() {
    let app = demo_app(None).await;
    let at = app.clock.now() + Days::days(31);
    announce(&app, ChangeKind::Add, proposed(&app).await, None, at).await;
    let read = || async {
        let body = app
            .get("/subprocessors.atom")
            .await
            .bytes()
            .await
            .expect("feed");
        feed_rs::parser::parse(&body[..]).expect("a valid Atom feed")
    };
    let first = read().await;
    let newest = first
        .entries
        .iter()
        .filter_map(|e| e.updated)
        .max()
        .expect("the demo's changes");
    assert_eq!(first.updated, Some(newest), "the newest entry's time");
    // Read again later with nothing changed: the same feed.
    app.clock.advance(Days::minutes(90));
    let again = read().await;
    assert_eq!(again.updated, first.updated);
    // The day the change takes effect its entry says so, and the feed is
    // updated then.
    app.clock.set(at + Days::hours(1));
    let effective = read().await;
    assert_eq!(
        effective.updated.map(|u| u.timestamp()),
        Some(at.timestamp())
    );

    let schema: serde_json::Value = app
        .get("/subprocessors.schema.json")
        .await
        .json()
        .await
        .expect("schema");
    let id = schema["$id"].as_str().expect("$id");
    assert_eq!(id, app.url("/subprocessors.schema.json"));
    let json: serde_json::Value = app
        .get("/subprocessors.json")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(json["$schema"], id);
    app.stop().await;
}
