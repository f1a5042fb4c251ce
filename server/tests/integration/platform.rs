//! The operators' pages and the clinic settings form.

use app::backend::audit::AuditContext;
use app::backend::services::{clinics, demo};

use crate::common::{TestApp, location, spawn_app};

async fn operator_app() -> TestApp {
    let app = spawn_app().await;
    demo::seed(&app.db, &AuditContext::system())
        .await
        .expect("demo data");
    app.sign_in(demo::DEMO_OPERATOR_EMAIL).await;
    app
}

pub fn clinic_form<'a>(slug: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("slug", slug),
        ("owner_email", "owner@north.example"),
        ("owner_name", "Nora North"),
        ("name", name),
        ("legal_name", ""),
        ("country", "at"),
        ("jurisdiction", "eu_gdpr"),
        ("default_locale", "en"),
        ("deadline_rule", "days"),
        ("deadline_days", "30"),
        ("notice_period_days", "30"),
        ("contact_email", "privacy@north.example"),
        ("authority_name", "Austrian Data Protection Authority"),
        ("allowed_origins", "https://north.example"),
    ]
}

#[tokio::test]
async fn an_operator_creates_lists_and_suspends_clinics() {
    let app = operator_app().await;
    assert_eq!(location(&app.get("/admin").await), "/admin/platform");
    let csrf = app.csrf_on("/admin/platform/clinics/new").await;

    let response = app
        .post_form(
            "/admin/platform/clinics/new",
            &csrf,
            &clinic_form("north", "North Clinic"),
        )
        .await;
    assert_eq!(
        response.status(),
        303,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let list = app
        .get("/admin/platform/clinics?q=nor")
        .await
        .text()
        .await
        .expect("body");
    assert!(list.contains("Clinic north created."));
    assert!(list.contains("North Clinic"));
    assert!(
        !list.contains("Lindenhof Family Clinic"),
        "the search filters"
    );

    let duplicate = app
        .post_form(
            "/admin/platform/clinics/new",
            &csrf,
            &clinic_form("north", "Another"),
        )
        .await;
    assert_eq!(duplicate.status(), 422);
    let html = duplicate.text().await.expect("body");
    assert!(html.contains("The web address north is already taken"));
    assert!(html.contains(r#"value="Another""#), "the input is kept");

    let confirm = app
        .get("/admin/platform/clinics/north/status")
        .await
        .text()
        .await
        .expect("body");
    assert!(confirm.contains("Suspend North Clinic?"));
    assert_eq!(app.get("/c/north/privacy").await.status(), 200);
    let response = app
        .post_form(
            "/admin/platform/clinics/north/status",
            &csrf,
            &[("status", "suspended")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.get("/c/north/privacy").await.status(),
        404,
        "a suspended clinic's public pages are offline"
    );
    app.post_form(
        "/admin/platform/clinics/north/status",
        &csrf,
        &[("status", "active")],
    )
    .await;
    assert_eq!(app.get("/c/north/privacy").await.status(), 200);
}

#[tokio::test]
async fn the_new_clinic_form_reports_every_problem_and_keeps_the_input() {
    let app = operator_app().await;
    let csrf = app.csrf_on("/admin/platform/clinics/new").await;
    let mut form = clinic_form("Not A Slug", "<b>North</b>");
    form.retain(|(k, _)| *k != "country" && *k != "contact_email");
    form.push(("country", "Austria"));
    form.push(("contact_email", "nope"));
    let response = app
        .post_form("/admin/platform/clinics/new", &csrf, &form)
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("body");
    for message in [
        "Web address may contain only",
        "Country must be a two-letter ISO country code",
        "Privacy contact email is not a valid email address",
    ] {
        assert!(html.contains(message), "{message} missing");
    }
    assert!(
        html.contains("&lt;b&gt;North&lt;/b&gt;"),
        "kept and escaped"
    );
}

#[tokio::test]
async fn clinic_members_are_not_operators() {
    let app = spawn_app().await;
    demo::seed(&app.db, &AuditContext::system())
        .await
        .expect("demo data");
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    assert_eq!(app.get("/admin/platform").await.status(), 404);
    assert_eq!(app.get("/admin/platform/clinics").await.status(), 404);
}

#[tokio::test]
async fn owners_edit_the_clinic_settings_with_validation_and_an_audit_trail() {
    let app = spawn_app().await;
    demo::seed(&app.db, &AuditContext::system())
        .await
        .expect("demo data");
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    let page = app
        .get("/admin/c/demo/settings")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains(r#"value="Lindenhof Family Clinic""#));
    let csrf = crate::common::csrf_in(&page).expect("token");
    let mut fields = clinic_form("demo", "Lindenhof Family Practice");
    fields.retain(|(k, _)| !matches!(*k, "slug" | "owner_email" | "owner_name"));
    fields.push(("dpo_email", "not-an-email"));
    let invalid = app
        .post_form("/admin/c/demo/settings", &csrf, &fields)
        .await;
    assert_eq!(invalid.status(), 422);
    assert!(
        invalid
            .text()
            .await
            .expect("body")
            .contains("DPO email is not a valid email address")
    );

    fields.retain(|(k, _)| *k != "dpo_email");
    let saved = app
        .post_form("/admin/c/demo/settings", &csrf, &fields)
        .await;
    assert_eq!(saved.status(), 303);
    assert!(
        app.get("/admin/c/demo/settings")
            .await
            .text()
            .await
            .expect("body")
            .contains("Settings saved.")
    );
    let public = app.get("/c/demo/privacy").await.text().await.expect("body");
    assert!(public.contains("Lindenhof Family Practice"));
    assert!(public.contains("30 days"));

    let clinic = clinics::id_by_slug(&app.db, "demo")
        .await
        .expect("query")
        .expect("clinic");
    let events = app::backend::audit::list_for_clinic(
        &app.db,
        clinic,
        app::domain::pagination::PageRequest {
            page: 1,
            per_page: 5,
        },
    )
    .await
    .expect("events");
    let change = events
        .items
        .iter()
        .find(|e| e.action == "clinic.settings_changed")
        .expect("an audit event");
    assert!(
        change.details.contains("\"name\"") && change.details.contains("\"deadline\""),
        "{}",
        change.details
    );
}
