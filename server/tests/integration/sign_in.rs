//! Signing in with emailed links, sessions, timeouts and request forgery.

use std::time::Duration;

use app::backend::services::demo;
use chrono::Duration as ChronoDuration;

use crate::common::smtp::SmtpSink;
use crate::common::{TestApp, csrf_in, demo_app, eventually, link_in_mail, location};

#[tokio::test]
async fn an_emailed_link_signs_in_once_and_lands_on_the_clinic() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    let csrf = app.csrf_on("/login").await;
    let response = app
        .post_form(
            "/login",
            &csrf,
            &[("email", demo::DEMO_OWNER_EMAIL), ("next", "/admin")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login/sent");
    assert!(
        app.get("/login/sent")
            .await
            .text()
            .await
            .expect("body")
            .contains("Check your email")
    );

    assert!(
        eventually(Duration::from_secs(20), || async {
            link_in_mail(&sink, demo::DEMO_OWNER_EMAIL, "/auth/link/").is_some()
        })
        .await
    );
    let link = link_in_mail(&sink, demo::DEMO_OWNER_EMAIL, "/auth/link/").expect("link");
    assert!(link.starts_with(&app.address), "{link}");
    let path = link.trim_start_matches(&app.address).to_owned();

    // Opening the link alone does not sign in (mail scanners open links).
    let page = app.get(&path).await.text().await.expect("body");
    assert!(page.contains("Sign in to the Clinic Privacy Portal"));
    assert_eq!(location(&app.get("/admin").await), "/login?next=%2Fadmin");

    let csrf = csrf_in(&page).expect("form token");
    let response = app.post_form(&path, &csrf, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin");
    assert_eq!(location(&app.get("/admin").await), "/admin/c/demo");
    let dashboard = app.get("/admin/c/demo").await;
    assert_eq!(dashboard.status(), 200);
    assert!(
        dashboard
            .text()
            .await
            .expect("body")
            .contains("You are Owner of this clinic.")
    );

    // The same link a second time, even in a fresh browser, is refused.
    let other = TestApp::new_client();
    let page = other
        .get(&link)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    let csrf = csrf_in(&page).expect("form token");
    let again = other
        .post(&link)
        .header("origin", &app.address)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 400);
    assert!(again.text().await.expect("body").contains("not valid"));
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answer_and_no_email() {
    let sink = SmtpSink::start();
    let app = demo_app(Some(&sink)).await;
    let csrf = app.csrf_on("/login").await;
    let response = app
        .post_form(
            "/login",
            &csrf,
            &[("email", "nobody@lindenhof-clinic.example")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login/sent");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.count(), 0, "no email for an unknown address");
}

#[tokio::test]
async fn an_invalid_address_keeps_what_was_typed_and_says_why() {
    let app = demo_app(None).await;
    let csrf = app.csrf_on("/login").await;
    let response = app
        .post_form("/login", &csrf, &[("email", "<script>alert(1)</script>")])
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("body");
    assert!(
        html.contains("Email address is not a valid email address"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the input is kept, escaped"
    );
    assert!(!html.contains("<script>alert(1)"));
}

#[tokio::test]
async fn a_sign_in_link_expires_after_15_minutes() {
    let app = demo_app(None).await;
    let email = app::domain::email::EmailAddress::parse(demo::DEMO_OWNER_EMAIL).expect("address");
    let link = app::backend::services::auth::create_link(&app.state, &email)
        .await
        .expect("link")
        .expect("user");
    let path = link.trim_start_matches(&app.address).to_owned();
    let csrf = app.csrf_on(&path).await;
    app.clock.advance(ChronoDuration::minutes(16));
    let response = app.post_form(&path, &csrf, &[]).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in() {
    let app = demo_app(None).await;
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // A session obtained before signing in (as a fixation attacker would plant it).
    let response = anonymous
        .get(app.url("/login"))
        .send()
        .await
        .expect("request");
    let planted = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    assert!(planted.starts_with("portal_session="), "{planted}");
    let html = response.text().await.expect("body");
    let csrf = csrf_in(&html).expect("token");

    let email = app::domain::email::EmailAddress::parse(demo::DEMO_OWNER_EMAIL).expect("address");
    let link = app::backend::services::auth::create_link(&app.state, &email)
        .await
        .expect("link")
        .expect("user");
    let response = anonymous
        .post(&link)
        .header("origin", &app.address)
        .header("cookie", &planted)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 303);
    let fresh = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    assert_ne!(fresh, planted, "the session id must be replaced at sign-in");

    let with_old = anonymous
        .get(app.url("/admin/c/demo"))
        .header("cookie", &planted)
        .send()
        .await
        .expect("request");
    assert_eq!(with_old.status(), 302, "the planted id gives no access");
    let with_new = anonymous
        .get(app.url("/admin/c/demo"))
        .header("cookie", &fresh)
        .send()
        .await
        .expect("request");
    assert_eq!(with_new.status(), 200);
}

#[tokio::test]
async fn posts_from_other_origins_or_without_the_form_token_are_refused() {
    let app = demo_app(None).await;
    let csrf = app.csrf_on("/login").await;
    let foreign = app
        .client
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("email", demo::DEMO_OWNER_EMAIL)])
        .send()
        .await
        .expect("request");
    assert_eq!(foreign.status(), 403);
    assert!(
        foreign
            .text()
            .await
            .expect("body")
            .contains("did not come from the portal")
    );

    let no_origin = app
        .client
        .post(app.url("/login"))
        .form(&[("csrf", csrf.as_str()), ("email", demo::DEMO_OWNER_EMAIL)])
        .send()
        .await
        .expect("request");
    assert_eq!(no_origin.status(), 403);

    let wrong_token = app
        .post_form(
            "/login",
            "not-the-token",
            &[("email", demo::DEMO_OWNER_EMAIL)],
        )
        .await;
    assert_eq!(wrong_token.status(), 403);
    assert!(
        wrong_token
            .text()
            .await
            .expect("body")
            .contains("form has expired")
    );
}

#[tokio::test]
async fn signing_out_ends_access() {
    let app = demo_app(None).await;
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    assert_eq!(app.get("/admin/c/demo").await.status(), 200);
    let csrf = app.csrf_on("/admin/c/demo").await;
    let response = app.post_form("/logout", &csrf, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login?signed_out=1");
    assert!(
        app.get("/login?signed_out=1")
            .await
            .text()
            .await
            .expect("body")
            .contains("You have signed out.")
    );
    let after = app.get("/admin/c/demo").await;
    assert_eq!(after.status(), 302);
    assert_eq!(location(&after), "/login?next=%2Fadmin%2Fc%2Fdemo");
}

#[tokio::test]
async fn idle_sessions_end_after_30_minutes_and_every_session_after_12_hours() {
    let app = demo_app(None).await;
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    app.clock.advance(ChronoDuration::minutes(29));
    assert_eq!(
        app.get("/admin/c/demo").await.status(),
        200,
        "used within the idle limit"
    );
    app.clock.advance(ChronoDuration::minutes(31));
    assert_eq!(
        app.get("/admin/c/demo").await.status(),
        302,
        "idle for 31 minutes"
    );

    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    for _ in 0..(12 * 60 / 20) {
        app.clock.advance(ChronoDuration::minutes(20));
        if app.get("/admin/c/demo").await.status() != 200 {
            break;
        }
    }
    let response = app.get("/admin/c/demo").await;
    assert_eq!(
        response.status(),
        302,
        "a busy session still ends after 12 hours"
    );
}

#[tokio::test]
async fn link_requests_are_rate_limited_per_address_with_the_input_kept() {
    let app = demo_app(None).await;
    let csrf = app.csrf_on("/login").await;
    for _ in 0..5 {
        let response = app
            .post_form("/login", &csrf, &[("email", demo::DEMO_OWNER_EMAIL)])
            .await;
        assert_eq!(response.status(), 303);
    }
    let limited = app
        .post_form("/login", &csrf, &[("email", demo::DEMO_OWNER_EMAIL)])
        .await;
    assert_eq!(limited.status(), 429);
    let html = limited.text().await.expect("body");
    assert!(html.contains("Too many sign-in attempts"));
    assert!(
        html.contains(demo::DEMO_OWNER_EMAIL),
        "the address stays in the form"
    );
}

#[tokio::test]
async fn sign_ins_and_sign_outs_are_audited() {
    let app = demo_app(None).await;
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    let csrf = app.csrf_on("/admin/c/demo").await;
    app.post_form("/logout", &csrf, &[]).await;
    let actions = platform_actions(&app).await;
    assert!(actions.contains(&"auth.sign_in".to_owned()), "{actions:?}");
    assert!(actions.contains(&"auth.sign_out".to_owned()), "{actions:?}");
    let reports = app::backend::audit::verify_all(&app.db)
        .await
        .expect("verify");
    assert!(reports.iter().all(|r| r.broken.is_none()));
}

/// Actions in the platform's audit chain, oldest first.
pub async fn platform_actions(app: &TestApp) -> Vec<String> {
    use app::backend::db::schema::audit_events;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    app.db
        .scoped(app::backend::tenancy::Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, app::backend::db::DbError>(
                    audit_events::table
                        .filter(audit_events::clinic_id.is_null())
                        .order(audit_events::seq.asc())
                        .select(audit_events::action)
                        .load::<String>(c)
                        .await?,
                )
            })
        })
        .await
        .expect("audit events")
}
