//! Single sign-on against a real OpenID provider (node-oidc-provider).

use app::backend::audit::AuditContext;
use app::backend::services::sso::{self, ConnectionOwner, SaveConnection};
use app::backend::services::{clinics, demo};
use app::domain::clinic::ClinicId;
use app::domain::roles::ClinicRole;
use app::domain::sso::MembershipMode;
use chrono::Duration as ChronoDuration;
use secrecy::SecretString;
use uuid::Uuid;

use crate::common::oidc::{CLIENT_ID, CLIENT_SECRET, OidcProvider};
use crate::common::{TestApp, location, spawn_app};
use crate::sign_in::platform_actions;

struct Sso {
    app: TestApp,
    provider: OidcProvider,
    clinic: ClinicId,
    connection: Uuid,
}

fn connection(provider: &OidcProvider, mode: MembershipMode, enabled: bool) -> SaveConnection {
    SaveConnection {
        display_name: "Lindenhof identity".into(),
        issuer_url: provider.issuer.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(SecretString::from(CLIENT_SECRET)),
        domains: vec!["lindenhof-clinic.example".into()],
        membership_mode: mode,
        default_role: ClinicRole::Viewer,
        enabled,
    }
}

async fn setup() -> Sso {
    let app = spawn_app().await;
    demo::seed(&app.db, &AuditContext::system())
        .await
        .expect("demo data");
    let provider = OidcProvider::start(&app.url("/auth/oidc/callback")).await;
    let clinic = clinics::id_by_slug(&app.db, "demo")
        .await
        .expect("query")
        .expect("demo clinic");
    let owner = ConnectionOwner::Clinic(clinic);
    sso::save(
        &app.state,
        &AuditContext::cli(),
        owner,
        connection(&provider, MembershipMode::Invitation, true),
    )
    .await
    .expect("connection saved");
    let connection = sso::get(&app.state, owner)
        .await
        .expect("query")
        .expect("connection")
        .id;
    Sso {
        app,
        provider,
        clinic,
        connection,
    }
}

impl Sso {
    async fn reconfigure(&self, mode: MembershipMode, enabled: bool) {
        let mut input = connection(&self.provider, mode, enabled);
        input.client_secret = None;
        sso::save(
            &self.app.state,
            &AuditContext::cli(),
            ConnectionOwner::Clinic(self.clinic),
            input,
        )
        .await
        .expect("connection saved");
    }

    /// Starts a sign-in as `email` and follows the redirects through the
    /// provider until it sends the browser back; returns the callback URL.
    async fn to_callback(&self, client: &reqwest::Client, email: &str) -> String {
        let mut url = self.app.url(&format!(
            "/auth/oidc/{}/start?login_hint={email}",
            self.connection
        ));
        for _ in 0..12 {
            let response = client.get(&url).send().await.expect("request");
            assert!(
                response.status().is_redirection(),
                "{url} answered {}",
                response.status()
            );
            let next = location(&response);
            url = if next.starts_with('/') {
                format!("{}{next}", self.provider.issuer)
            } else {
                next
            };
            if url.starts_with(&self.app.url("/auth/oidc/callback")) {
                return url;
            }
        }
        panic!("the provider never sent the browser back");
    }

    async fn sign_in_through_provider(
        &self,
        client: &reqwest::Client,
        email: &str,
    ) -> reqwest::Response {
        let callback = self.to_callback(client, email).await;
        client.get(&callback).send().await.expect("callback")
    }
}

fn replace_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').expect("query");
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(query.as_bytes()).map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        }))
        .finish();
    format!("{base}?{query}")
}

async fn body(response: reqwest::Response) -> String {
    response.text().await.expect("body")
}

#[tokio::test]
async fn a_full_sso_sign_in_lands_on_the_clinic_dashboard() {
    let sso = setup().await;
    let app = &sso.app;
    // The sign-in page sends the domain on to its provider.
    let csrf = app.csrf_on("/login").await;
    let answer = app
        .post_form(
            "/login",
            &csrf,
            &[("email", "dpo@lindenhof-clinic.example")],
        )
        .await;
    assert_eq!(answer.status(), 200);
    let html = body(answer).await;
    assert!(html.contains("Continue to your organisation"), "{html}");
    assert!(html.contains(&format!(
        "/auth/oidc/{}/start?login_hint=dpo%40lindenhof-clinic.example",
        sso.connection
    )));
    assert!(html.contains(r#"http-equiv="refresh""#));

    let response = sso
        .sign_in_through_provider(&app.client, "dpo@lindenhof-clinic.example")
        .await;
    assert_eq!(response.status(), 303, "{}", body(response).await);
    assert_eq!(location(&response), "/admin");
    assert_eq!(location(&app.get("/admin").await), "/admin/c/demo");
    let dashboard = body(app.get("/admin/c/demo").await).await;
    assert!(dashboard.contains("You are Privacy Officer of this clinic."));
    let actions = platform_actions(app).await;
    assert!(!actions.contains(&"auth.sign_in_failed".to_owned()));
}

#[tokio::test]
async fn a_callback_with_the_wrong_state_is_refused() {
    let sso = setup().await;
    let callback = sso
        .to_callback(&sso.app.client, "dpo@lindenhof-clinic.example")
        .await;
    let forged = replace_param(&callback, "state", "forged-state");
    let response = sso.app.client.get(&forged).send().await.expect("request");
    assert_eq!(response.status(), 400);
    assert!(
        body(response)
            .await
            .contains("does not belong to this browser session")
    );
    // The started sign-in was spent: the genuine callback no longer works either.
    let response = sso.app.client.get(&callback).send().await.expect("request");
    assert_eq!(response.status(), 400);
    assert_eq!(sso.app.get("/admin/c/demo").await.status(), 302);
}

#[tokio::test]
async fn a_replayed_authorization_code_is_refused() {
    let sso = setup().await;
    let first = sso
        .to_callback(&sso.app.client, "dpo@lindenhof-clinic.example")
        .await;
    assert_eq!(
        sso.app
            .client
            .get(&first)
            .send()
            .await
            .expect("request")
            .status(),
        303
    );

    // Another browser starts its own sign-in and smuggles in the spent code.
    let attacker = TestApp::new_client();
    let second = sso
        .to_callback(&attacker, "dpo@lindenhof-clinic.example")
        .await;
    let code = form_urlencoded::parse(first.split_once('?').expect("query").1.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let replay = replace_param(&second, "code", &code);
    let response = attacker.get(&replay).send().await.expect("request");
    assert_eq!(response.status(), 400);
    assert!(
        body(response)
            .await
            .contains("refused to complete the sign-in")
    );
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let sso = setup().await;
    let callback = sso
        .to_callback(&sso.app.client, "dpo@lindenhof-clinic.example")
        .await;
    // The session expects a different nonce than the one the provider put in the token.
    sso.app
        .test_db
        .admin_execute(
            "UPDATE sessions SET data = jsonb_set(data, '{oidc_flow,flow,nonce}', '\"another-nonce\"') \
             WHERE data ? 'oidc_flow'",
        )
        .await
        .expect("tamper");
    let response = sso.app.client.get(&callback).send().await.expect("request");
    assert_eq!(response.status(), 400);
    let html = body(response).await;
    assert!(html.contains("ID token was rejected"), "{html}");
    assert!(html.to_lowercase().contains("nonce"), "{html}");
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let sso = setup().await;
    let callback = sso
        .to_callback(&sso.app.client, "dpo@lindenhof-clinic.example")
        .await;
    // The provider's ID tokens live 60 seconds; the portal's clock is now 5 minutes ahead.
    sso.app.clock.advance(ChronoDuration::minutes(5));
    let response = sso.app.client.get(&callback).send().await.expect("request");
    assert_eq!(response.status(), 400);
    let html = body(response).await;
    assert!(html.contains("ID token was rejected"), "{html}");
    assert!(html.to_lowercase().contains("expired"), "{html}");
}

#[tokio::test]
async fn an_unverified_email_is_refused() {
    let sso = setup().await;
    let response = sso
        .sign_in_through_provider(&sso.app.client, "unverified-dpo@lindenhof-clinic.example")
        .await;
    assert_eq!(response.status(), 403);
    assert!(
        body(response)
            .await
            .contains("did not confirm your email address")
    );
}

#[tokio::test]
async fn an_email_outside_the_allowed_domains_is_refused() {
    let sso = setup().await;
    let response = sso
        .sign_in_through_provider(&sso.app.client, "dr@elsewhere.example")
        .await;
    assert_eq!(response.status(), 403);
    assert!(
        body(response)
            .await
            .contains("not in a domain this connection accepts")
    );
}

#[tokio::test]
async fn a_disabled_connection_is_refused_at_start_and_at_callback() {
    let sso = setup().await;
    let callback = sso
        .to_callback(&sso.app.client, "dpo@lindenhof-clinic.example")
        .await;
    sso.reconfigure(MembershipMode::Invitation, false).await;
    let response = sso.app.client.get(&callback).send().await.expect("request");
    assert_eq!(response.status(), 403);
    assert!(body(response).await.contains("switched off"));
    let start = sso
        .app
        .get(&format!("/auth/oidc/{}/start", sso.connection))
        .await;
    assert_eq!(start.status(), 403);
    // And /login no longer routes the domain there.
    let csrf = sso.app.csrf_on("/login").await;
    let answer = sso
        .app
        .post_form(
            "/login",
            &csrf,
            &[("email", "dpo@lindenhof-clinic.example")],
        )
        .await;
    assert_eq!(location(&answer), "/login/sent");
}

#[tokio::test]
async fn strangers_need_an_invitation_unless_the_connection_admits_just_in_time() {
    let sso = setup().await;
    let stranger = "new.nurse@lindenhof-clinic.example";
    let response = sso
        .sign_in_through_provider(&sso.app.client, stranger)
        .await;
    assert_eq!(response.status(), 403);
    assert!(
        body(response)
            .await
            .contains("Ask an administrator for an invitation")
    );

    sso.reconfigure(MembershipMode::JustInTime, true).await;
    let response = sso
        .sign_in_through_provider(&sso.app.client, stranger)
        .await;
    assert_eq!(response.status(), 303);
    let dashboard = body(sso.app.get("/admin/c/demo").await).await;
    assert!(dashboard.contains("You are Viewer of this clinic."));
}

#[tokio::test]
async fn refused_sign_ins_are_recorded_in_the_clinics_audit_log() {
    let sso = setup().await;
    let _ = sso
        .sign_in_through_provider(&sso.app.client, "dr@elsewhere.example")
        .await;
    let events = app::backend::audit::list_for_clinic(
        &sso.app.db,
        sso.clinic,
        app::domain::pagination::PageRequest {
            page: 1,
            per_page: 50,
        },
    )
    .await
    .expect("events");
    let failure = events
        .items
        .iter()
        .find(|e| e.action == "auth.sign_in_failed")
        .expect("a failure event");
    assert!(
        failure.details.contains("domain_not_allowed"),
        "{}",
        failure.details
    );
}

#[tokio::test]
async fn the_settings_page_tests_discovery_and_keeps_the_form() {
    let sso = setup().await;
    sso.app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    let csrf = sso.app.csrf_on("/admin/c/demo/sso").await;
    let fields = [
        ("display_name", "Lindenhof identity"),
        ("issuer_url", sso.provider.issuer.as_str()),
        ("client_id", "portal"),
        ("domains", "lindenhof-clinic.example"),
        ("membership_mode", "invitation"),
        ("default_role", "viewer"),
        ("enabled", "on"),
    ];
    let response = sso
        .app
        .post_form("/admin/c/demo/sso/test", &csrf, &fields)
        .await;
    assert_eq!(response.status(), 200);
    let html = body(response).await;
    assert!(html.contains("The provider answered."), "{html}");
    assert!(html.contains("supported"), "PKCE S256 is announced");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let unreachable = format!("http://127.0.0.1:{closed}");
    let mut broken = fields;
    broken[1] = ("issuer_url", unreachable.as_str());
    let html = body(
        sso.app
            .post_form("/admin/c/demo/sso/test", &csrf, &broken)
            .await,
    )
    .await;
    assert!(html.contains("The test failed"), "{html}");
    assert!(html.contains(&unreachable), "the typed issuer is kept");

    let mut invalid = fields;
    invalid[1] = ("issuer_url", "http://idp.example.org");
    invalid[3] = ("domains", "not a domain");
    let response = sso
        .app
        .post_form("/admin/c/demo/sso", &csrf, &invalid)
        .await;
    assert_eq!(response.status(), 422);
    let html = body(response).await;
    assert!(
        html.contains("Issuer URL must be an https:// issuer URL"),
        "{html}"
    );
    assert!(html.contains("Email domains must be"), "{html}");
}
