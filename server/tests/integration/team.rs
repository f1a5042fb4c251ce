//! The team page: invitations by email, roles and the last-owner rule.

use std::time::Duration;

use app::backend::audit::AuditContext;
use app::backend::services::demo;

use crate::common::smtp::SmtpSink;
use crate::common::{TestApp, csrf_in, eventually, location, spawn_app, spawn_app_with};

async fn owner_app(sink: Option<&SmtpSink>) -> TestApp {
    let app = match sink {
        Some(sink) => spawn_app_with(&[("SMTP_URL", sink.url())]).await,
        None => spawn_app().await,
    };
    demo::seed(&app.db, &AuditContext::system())
        .await
        .expect("demo data");
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    app
}

async fn user_id(app: &TestApp, email: &str) -> String {
    use app::backend::db::schema::users;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let email = email.to_owned();
    let mut conn = app.db.conn().await.expect("connection");
    users::table
        .filter(users::email.eq(email))
        .select(users::id)
        .first::<uuid::Uuid>(&mut conn)
        .await
        .expect("user")
        .to_string()
}

#[tokio::test]
async fn an_emailed_invitation_is_accepted_and_signs_the_new_member_in() {
    let sink = SmtpSink::start();
    let app = owner_app(Some(&sink)).await;
    let csrf = app.csrf_on("/admin/c/demo/team").await;
    let response = app
        .post_form(
            "/admin/c/demo/team/invite",
            &csrf,
            &[
                ("email", "Nurse.Kim@Lindenhof-Clinic.example"),
                ("role", "privacy_officer"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let team = app
        .get("/admin/c/demo/team")
        .await
        .text()
        .await
        .expect("body");
    assert!(
        team.contains("Invitation sent to Nurse.Kim@lindenhof-clinic.example."),
        "{team}"
    );
    assert!(team.contains("nurse.kim@lindenhof-clinic.example"));

    // Other mail (deadline reminders of the demo requests) may arrive too.
    let invited = |m: &crate::common::smtp::ReceivedMail| {
        m.to.iter()
            .any(|t| t.eq_ignore_ascii_case("nurse.kim@lindenhof-clinic.example"))
    };
    assert!(
        eventually(Duration::from_secs(20), || async {
            sink.messages().iter().any(invited)
        })
        .await,
        "no invitation email among {:?}",
        sink.messages()
            .iter()
            .map(|m| (m.to.clone(), m.header("Subject")))
            .collect::<Vec<_>>()
    );
    let invitations: Vec<_> = sink.messages().into_iter().filter(invited).collect();
    assert_eq!(invitations.len(), 1);
    let mail = &invitations[0];
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("You are invited to Lindenhof Family Clinic on the Clinic Privacy Portal")
    );
    let link = mail
        .text()
        .split_whitespace()
        .find(|w| w.contains("/invite/"))
        .expect("link")
        .to_owned();

    let invitee = TestApp::new_client();
    let page = invitee
        .get(&link)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(page.contains("You are invited as Privacy Officer"));
    let csrf = csrf_in(&page).expect("token");
    let accepted = invitee
        .post(&link)
        .header("origin", &app.address)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(accepted.status(), 303);
    let dashboard = invitee
        .get(app.url("/admin/c/demo"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(dashboard.contains("You are Privacy Officer of this clinic."));
    assert!(dashboard.contains("Welcome! You have joined the clinic."));

    // Used once only.
    let again = TestApp::new_client()
        .get(&link)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(again.contains("This invitation cannot be used"));
}

#[tokio::test]
async fn invalid_invitations_keep_the_input_and_explain() {
    let app = owner_app(None).await;
    let csrf = app.csrf_on("/admin/c/demo/team").await;
    let response = app
        .post_form(
            "/admin/c/demo/team/invite",
            &csrf,
            &[("email", "not an address"), ("role", "emperor")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("body");
    assert!(html.contains("Email address is not a valid email address"));
    assert!(html.contains("Role must be one of owner, admin, privacy_officer, viewer"));
    assert!(html.contains(r#"value="not an address""#));

    let response = app
        .post_form(
            "/admin/c/demo/team/invite",
            &csrf,
            &[
                ("email", "dpo@lindenhof-clinic.example"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("is already a member of this clinic")
    );
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let app = owner_app(None).await;
    let me = user_id(&app, demo::DEMO_OWNER_EMAIL).await;
    let csrf = app.csrf_on("/admin/c/demo/team").await;
    let response = app
        .post_form(
            &format!("/admin/c/demo/team/{me}/role"),
            &csrf,
            &[("role", "admin")],
        )
        .await;
    assert_eq!(location(&response), "/admin/c/demo/team");
    let page = app
        .get("/admin/c/demo/team")
        .await
        .text()
        .await
        .expect("body");
    assert!(
        page.contains("A clinic must keep at least one Owner."),
        "{page}"
    );

    let response = app
        .post_form(&format!("/admin/c/demo/team/{me}/remove"), &csrf, &[])
        .await;
    assert_eq!(response.status(), 303);
    let page = app
        .get("/admin/c/demo/team")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("A clinic must keep at least one Owner."));

    // With a second owner, the first may step down.
    let admin = user_id(&app, "admin@lindenhof-clinic.example").await;
    app.post_form(
        &format!("/admin/c/demo/team/{admin}/role"),
        &csrf,
        &[("role", "owner")],
    )
    .await;
    app.post_form(
        &format!("/admin/c/demo/team/{me}/role"),
        &csrf,
        &[("role", "admin")],
    )
    .await;
    let page = app
        .get("/admin/c/demo/team")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("Role changed to Admin."), "{page}");
}

#[tokio::test]
async fn admins_cannot_touch_owners_and_removal_asks_first() {
    let app = spawn_app().await;
    demo::seed(&app.db, &AuditContext::system())
        .await
        .expect("demo data");
    app.sign_in("admin@lindenhof-clinic.example").await;
    let owner = user_id(&app, demo::DEMO_OWNER_EMAIL).await;
    let viewer = user_id(&app, "auditor@lindenhof-clinic.example").await;
    let csrf = app.csrf_on("/admin/c/demo/team").await;
    app.post_form(
        &format!("/admin/c/demo/team/{owner}/role"),
        &csrf,
        &[("role", "viewer")],
    )
    .await;
    let page = app
        .get("/admin/c/demo/team")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("Only an Owner can make, change or remove Owners."));

    let confirm = app
        .get(&format!("/admin/c/demo/team/{viewer}/remove"))
        .await
        .text()
        .await
        .expect("body");
    assert!(confirm.contains("Remove Lea Schmidt (auditor@lindenhof-clinic.example, Viewer) from Lindenhof Family Clinic?"));
    let removed = app
        .post_form(&format!("/admin/c/demo/team/{viewer}/remove"), &csrf, &[])
        .await;
    assert_eq!(removed.status(), 303);
    let page = app
        .get("/admin/c/demo/team")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("The member was removed from the clinic."));
    assert!(!page.contains("auditor@lindenhof-clinic.example"));
}
