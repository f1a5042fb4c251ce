//! Tenant isolation of every admin route, enumerated from the router itself:
//! the Leptos page list and the form handlers the server mounts.

use app::backend::audit::AuditContext;
use app::backend::db::DbError;
use app::backend::db::schema::{privacy_requests, users};
use app::backend::services::{clinics, demo, requests, team};
use app::backend::tenancy::Scope;
use app::domain::clinic::ClinicId;
use app::domain::email::EmailAddress;
use app::domain::meta::SignedRequest;
use app::domain::roles::ClinicRole;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use http::Method;
use uuid::Uuid;

use crate::common::{TestApp, spawn_app};
use crate::tenancy::clinic_input;

/// Every admin route as `(method, path template)`.
fn admin_routes() -> Vec<(Method, String)> {
    let mut routes: Vec<(Method, String)> = leptos_axum::generate_route_list(app::App)
        .into_iter()
        .map(|listing| listing.path().to_owned())
        .filter(|path| path.starts_with("/admin"))
        .map(|path| (Method::GET, path))
        .collect();
    for (path, _) in app::api::routes() {
        if path.starts_with("/admin") {
            // Form handlers take POST; `/admin` itself, the CSV export and
            // the file downloads are GETs.
            let method = if path == "/admin"
                || path.ends_with(".csv")
                || path.ends_with("{file}")
                || path.starts_with(OPEN_CHANGE)
            {
                Method::GET
            } else {
                Method::POST
            };
            routes.push((method, path.to_owned()));
        }
    }
    routes.sort_by(|a, b| a.1.cmp(&b.1));
    routes.dedup();
    routes
}

/// The link of change notices, which opens a change in the reader's own
/// clinic: not tied to any clinic's data.
const OPEN_CHANGE: &str = "/admin/subprocessor-changes/";

struct Fixture {
    app: TestApp,
    /// Clinic B's identifiers to put into the templates.
    b_slug: String,
    b_member: String,
    b_invitation: String,
    b_request: String,
    b_file: String,
    b_campaign: String,
    /// A change of the platform's register (every clinic may see it).
    platform_change: String,
    /// B's consent purpose and cookie.
    b_purpose: String,
    b_cookie: String,
    /// B's finished export.
    b_export: String,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    demo::seed(&app.db, &AuditContext::system())
        .await
        .expect("demo clinic (A)");
    let ctx = AuditContext::cli();
    let b = clinics::create(&app.db, &ctx, clinic_input("bravo", "owner@bravo.example"))
        .await
        .expect("clinic B");
    let viewer = EmailAddress::parse("viewer@bravo.example").expect("address");
    let member = app
        .db
        .scoped(app::backend::tenancy::Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, app::backend::db::DbError>(
                    clinics::add_member(
                        c,
                        &AuditContext::cli(),
                        b,
                        &viewer,
                        "Bravo Viewer",
                        ClinicRole::Viewer,
                    )
                    .await?,
                )
            })
        })
        .await
        .expect("viewer of B");
    let invitee = EmailAddress::parse("new@bravo.example").expect("address");
    let invitation = team::invite(
        &app.state,
        &ctx,
        b,
        ClinicRole::Owner,
        "Owner",
        &invitee,
        ClinicRole::Viewer,
    )
    .await
    .expect("invitation in B");
    let (b_request, b_file) = request_with_file(&app, b).await;
    let b_campaign = campaign(&app, b).await;
    let platform_change = platform_change(&app).await;
    let (b_purpose, b_cookie) = consent_setup(&app, b).await;
    let b_export = export(&app, b).await;
    Fixture {
        app,
        b_slug: "bravo".into(),
        b_member: member.to_string(),
        b_invitation: invitation.to_string(),
        b_request: b_request.to_string(),
        b_file: b_file.to_string(),
        b_campaign: b_campaign.to_string(),
        platform_change: platform_change.to_string(),
        b_purpose: b_purpose.to_string(),
        b_cookie: b_cookie.to_string(),
        b_export: b_export.to_string(),
    }
}

/// An export of clinic `b`, built by the app's own worker.
async fn export(app: &TestApp, b: ClinicId) -> Uuid {
    use app::backend::clock::Clock;
    use app::backend::services::exports;
    let owner = crate::retention::owner_of(&app.db, "owner@bravo.example").await;
    let id = exports::request(&app.db, &AuditContext::cli(), b, owner, app.clock.now())
        .await
        .expect("export of B");
    let ready = crate::common::eventually(std::time::Duration::from_secs(30), || async {
        exports::find(&app.db, b, id)
            .await
            .ok()
            .flatten()
            .is_some_and(|e| e.status == "ready")
    })
    .await;
    assert!(ready, "the worker built B's export");
    id
}

/// A purpose and a cookie in clinic `b`.
async fn consent_setup(app: &TestApp, b: app::domain::clinic::ClinicId) -> (Uuid, Uuid) {
    use app::backend::services::consent;
    use app::domain::consent::{CookieForm, PurposeForm};
    let purpose = PurposeForm {
        key: "analytics".into(),
        channel: "website".into(),
        name_en: "Analytics".into(),
        description_en: "Counting visits.".into(),
        legal_basis: "consent".into(),
        ..PurposeForm::default()
    }
    .validate()
    .expect("purpose");
    let cookie = CookieForm {
        name: "_pk_id".into(),
        domain: "bravo.example".into(),
        provider: "Analytics".into(),
        duration: "13 months".into(),
        party: "first".into(),
        purpose: "analytics".into(),
    }
    .validate()
    .expect("cookie");
    consent::seed_if_empty(
        &app.db,
        &AuditContext::cli(),
        b,
        vec![purpose],
        vec![cookie],
    )
    .await
    .expect("consent settings of B");
    let settings = consent::settings(&app.db, b).await.expect("settings of B");
    (settings.purposes[0].id, settings.cookies[0].id)
}

/// An announced change of the platform's sub-processors.
async fn platform_change(app: &TestApp) -> Uuid {
    use app::backend::clock::Clock;
    use app::backend::services::notices::Publisher;
    use app::backend::services::subprocessors::{self, Announcement};
    let register = subprocessors::register(&app.db, Publisher::Platform)
        .await
        .expect("register");
    let proposed = register
        .entries
        .iter()
        .find(|e| e.status == "proposed")
        .expect("a proposed sub-processor in the demo data");
    subprocessors::announce(
        &app.state,
        &AuditContext::cli(),
        Publisher::Platform,
        None,
        Announcement {
            kind: app::domain::subprocessors::ChangeKind::Add,
            subprocessor: proposed.id,
            replaces: None,
            summary: "Summaries of anonymised data.".into(),
            effective_at: Some(app.clock.now() + chrono::Duration::days(40)),
        },
    )
    .await
    .expect("announced")
    .change
}

/// A scheduled material change in clinic B, with its change-notice campaign.
async fn campaign(app: &TestApp, b: ClinicId) -> Uuid {
    use app::backend::services::notices::{self, Publisher};
    use app::domain::notices::{DocumentKind, DraftForm};
    let draft = DraftForm {
        title: "Notice".into(),
        body: "New text".into(),
        summary: "What changes".into(),
        material: true,
    }
    .validate()
    .expect("draft");
    let ctx = AuditContext::cli();
    notices::save_draft(
        &app.state,
        &ctx,
        Publisher::Clinic(b),
        DocumentKind::PrivacyNotice,
        None,
        draft,
    )
    .await
    .expect("draft in B");
    let at = chrono::Utc::now() + chrono::Duration::days(40);
    notices::publish(
        &app.state,
        &ctx,
        Publisher::Clinic(b),
        DocumentKind::PrivacyNotice,
        None,
        Some(at),
    )
    .await
    .expect("scheduled in B")
    .campaign
    .expect("campaign in B")
}

/// A verified erasure request in clinic B (through Meta's callback, which
/// needs no email round trip) with one reply file.
async fn request_with_file(app: &TestApp, b: ClinicId) -> (Uuid, Uuid) {
    requests::meta::create_deletion(
        &app.state,
        b,
        requests::meta::VerifiedCallback {
            signed: SignedRequest {
                user_id: "10001".into(),
                issued_at: None,
                expires: None,
            },
            digest: [1; 32],
        },
        None,
    )
    .await
    .expect("erasure request in B");
    let (request, owner) = app
        .db
        .scoped(Scope::Clinic(b), move |c| {
            Box::pin(async move {
                let request: Uuid = privacy_requests::table
                    .filter(privacy_requests::clinic_id.eq(b.0))
                    .select(privacy_requests::id)
                    .first(c)
                    .await?;
                let owner: Uuid = users::table
                    .filter(users::email.eq("owner@bravo.example"))
                    .select(users::id)
                    .first(c)
                    .await?;
                Ok::<_, DbError>((request, owner))
            })
        })
        .await
        .expect("B's request and owner");
    let file = requests::staff::attach_file(
        &app.state,
        &AuditContext::cli(),
        b,
        owner,
        request,
        "reply.pdf",
        b"%PDF-1.4\n% reply\n".to_vec(),
    )
    .await
    .expect("file in B");
    (request, file)
}

impl Fixture {
    fn fill(&self, template: &str) -> String {
        template
            .replace(
                "/consent/purposes/{id}",
                &format!("/consent/purposes/{}", self.b_purpose),
            )
            .replace(
                "/consent/cookies/{id}",
                &format!("/consent/cookies/{}", self.b_cookie),
            )
            .replace("{clinic}", &self.b_slug)
            .replace("{slug}", &self.b_slug)
            .replace("{member}", &self.b_member)
            .replace("{invitation}", &self.b_invitation)
            .replace("{request}", &self.b_request)
            .replace("/exports/{file}", &format!("/exports/{}", self.b_export))
            .replace("{file}", &self.b_file)
            .replace("{kind}", "privacy-notice")
            .replace("{list}", &Uuid::nil().to_string())
            .replace("{version}", &Uuid::nil().to_string())
            .replace("{campaign}", &self.b_campaign)
            .replace("{id}", &self.platform_change)
    }

    async fn call(&self, method: &Method, path: &str) -> u16 {
        let app = &self.app;
        let response = if *method == Method::GET {
            app.get(path).await
        } else {
            // Any signed-in page carries the session's form token.
            let home = crate::common::location(&app.get("/admin").await);
            let csrf = app.csrf_on(&home).await;
            let fields = [
                ("role", "owner"),
                ("status", "suspended"),
                ("email", "x@bravo.example"),
                ("name", "X"),
            ];
            app.post_form(path, &csrf, &fields).await
        };
        response.status().as_u16()
    }
}

#[tokio::test]
async fn members_of_one_clinic_get_403_or_404_on_every_admin_route_of_another() {
    let f = fixture().await;
    let routes = admin_routes();
    assert!(
        routes.len() >= 20,
        "expected the admin routes, found {routes:?}"
    );
    assert!(
        routes
            .iter()
            .any(|(m, p)| *m == Method::POST && p == "/admin/c/{clinic}/team/{member}/role")
    );

    // A's owner: a full member of A, nothing in B.
    f.app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    for (method, template) in &routes {
        if template == "/admin" || template.starts_with(OPEN_CHANGE) {
            continue;
        }
        let path = f.fill(template);
        let status = f.call(method, &path).await;
        assert!(
            matches!(status, 403 | 404),
            "{method} {path} answered {status} to a member of another clinic"
        );
    }
}

#[tokio::test]
async fn a_viewer_gets_403_on_every_state_changing_route_of_their_clinic() {
    let f = fixture().await;
    f.app.sign_in("viewer@bravo.example").await;
    let changing: Vec<_> = admin_routes()
        .into_iter()
        .filter(|(m, p)| *m == Method::POST && p.starts_with("/admin/c/"))
        .collect();
    assert!(changing.len() >= 7, "{changing:?}");
    for (method, template) in &changing {
        let path = f.fill(template);
        let status = f.call(method, &path).await;
        assert_eq!(status, 403, "{method} {path} must be refused to a Viewer");
    }
    // The viewer can still read the clinic's pages.
    assert_eq!(f.app.get("/admin/c/bravo").await.status(), 200);
    assert_eq!(f.app.get("/admin/c/bravo/audit").await.status(), 200);
}

#[tokio::test]
async fn the_routes_are_real_for_an_owner_of_the_clinic() {
    // Guards against a stale substitution: B's owner reaches the same pages.
    let f = fixture().await;
    f.app.sign_in("owner@bravo.example").await;
    for (method, template) in admin_routes()
        .iter()
        .filter(|(m, p)| *m == Method::GET && p.starts_with("/admin/c/"))
    {
        let path = f.fill(template);
        let status = f.call(method, &path).await;
        assert_eq!(status, 200, "{method} {path}");
    }
}
