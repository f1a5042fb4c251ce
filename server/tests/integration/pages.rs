use app::backend::audit::AuditContext;
use app::backend::services::demo;

use crate::common::{TestApp, spawn_app};

async fn seeded_app() -> TestApp {
    let app = spawn_app().await;
    demo::seed(&app.db, &AuditContext::system())
        .await
        .expect("demo data");
    app
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test]
async fn home_page_has_landmarks_navigation_and_the_stylesheet() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("body");
    for landmark in [
        "<header",
        "<nav",
        "<main id=\"main\"",
        "<footer",
        "class=\"skip-link\"",
    ] {
        assert!(html.contains(landmark), "missing {landmark}");
    }
    assert!(html.contains(r#"<html lang="en">"#));
    assert!(html.contains(r#"rel="stylesheet" href="/assets/main."#));
    assert!(html.contains("<title>Clinic Privacy Portal</title>"));
}

#[tokio::test]
async fn clinic_privacy_page_shows_the_controller_and_its_contacts() {
    let app = seeded_app().await;
    let response = app.get("/c/demo/privacy").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("body");
    assert!(html.contains("Lindenhof Family Clinic MVZ GmbH"));
    assert!(html.contains("mailto:dpo@lindenhof-clinic.example"));
    assert!(html.contains("Berlin Commissioner for Data Protection"));
    assert!(html.contains("one calendar month"));
}

#[tokio::test]
async fn unknown_clinics_and_routes_get_the_styled_404_with_the_request_id() {
    let app = seeded_app().await;
    for path in [
        "/c/nowhere/privacy",
        "/no/such/page",
        "/c/demo/privacy/extra",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
        let id = request_id(&response);
        let html = response.text().await.expect("body");
        assert!(html.contains("Page not found"), "{path}");
        assert!(html.contains(&id), "{path}: request id {id} not shown");
        assert!(html.contains("/assets/main."), "{path}: unstyled");
    }
}

#[tokio::test]
async fn hostile_paths_are_escaped_and_never_fail() {
    let app = seeded_app().await;
    for path in [
        "/c/%3Cscript%3Ealert(1)%3C%2Fscript%3E/privacy",
        "/c/'%20OR%201=1--/privacy",
        "/c/demo%00/privacy",
        "/c/%F0%9F%98%80/privacy",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let html = response.text().await.expect("body");
        assert!(!html.contains("<script>alert"), "{path} echoed unescaped");
    }
}

#[tokio::test]
async fn language_follows_the_query_then_the_cookie_then_accept_language() {
    let app = spawn_app().await;
    let response = app.get("/?lang=uk").await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.starts_with("lang=uk;") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let html = response.text().await.expect("body");
    assert!(html.contains(r#"<html lang="uk">"#));
    assert!(html.contains("Головна"));

    // The cookie jar now carries lang=uk.
    let html = app.get("/").await.text().await.expect("body");
    assert!(html.contains("Головна"), "the cookie should keep Ukrainian");

    let fresh = reqwest::Client::new();
    let html = fresh
        .get(app.url("/"))
        .header("accept-language", "de-DE,uk;q=0.8,en;q=0.5")
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(html.contains("Головна"));
    let html = fresh
        .get(app.url("/"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(html.contains(r#"<html lang="en">"#));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = seeded_app().await;
    for path in [
        "/",
        "/c/demo/privacy",
        // The second answer comes from the page cache.
        "/c/demo/privacy",
        "/healthz",
        "/readyz",
        "/metrics",
        "/assets/favicon.svg",
        "/missing",
        "/api/v1/openapi.json",
        "/api/v1/c/demo/consent-config",
        "/c/demo/consent.js",
    ] {
        let response = app.get(path).await;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        let csp = header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
        assert!(!header("x-request-id").is_empty(), "{path}");
    }
}

#[tokio::test]
async fn inline_scripts_carry_the_nonce_of_the_pages_policy() {
    use app::backend::db::DbError;
    use app::backend::db::schema::{campaigns, clinics};
    use app::backend::services::notices::Publisher;
    use app::backend::tenancy::Scope;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;

    let app = seeded_app().await;
    // A change notice still being sent: its progress page refreshes itself
    // with a script.
    let clinic: uuid::Uuid = app
        .db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    clinics::table
                        .filter(clinics::slug.eq("demo"))
                        .select(clinics::id)
                        .first(c)
                        .await?,
                )
            })
        })
        .await
        .expect("demo clinic");
    let publisher = Publisher::Clinic(app::domain::clinic::ClinicId(clinic));
    crate::notices::schedule_material_change(&app, publisher, "Revised.").await;
    let campaign: uuid::Uuid = app
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                let id = campaigns::table
                    .filter(campaigns::clinic_id.eq(clinic))
                    .select(campaigns::id)
                    .first(c)
                    .await?;
                diesel::update(campaigns::table.find(id))
                    .set((
                        campaigns::status.eq("sending"),
                        campaigns::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                    ))
                    .execute(c)
                    .await?;
                Ok::<_, DbError>(id)
            })
        })
        .await
        .expect("campaign");
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;

    // Each page, and how many scripts it has at least.
    for (path, scripts_at_least) in [
        ("/c/demo/privacy".to_owned(), 0),
        (format!("/admin/c/demo/notices/campaigns/{campaign}"), 1),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("the page policy has a script nonce")
            .to_owned();
        let html = response.text().await.expect("body");
        let scripts: Vec<&str> = html
            .split("<script")
            .skip(1)
            .map(|script| script.split('>').next().unwrap_or_default())
            .collect();
        for tag in &scripts {
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: script without the nonce: <script{tag}>"
            );
        }
        assert!(
            scripts.len() >= scripts_at_least,
            "{path} has its scripts: {html}"
        );
        // A second response gets a different nonce.
        let again = app.get(&path).await;
        assert!(
            !again.headers()["content-security-policy"]
                .to_str()
                .expect("ascii")
                .contains(&nonce)
        );
    }
}

#[tokio::test]
async fn a_client_supplied_request_id_is_replaced() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "forged-id")
        .send()
        .await
        .expect("request");
    let id = request_id(&response);
    assert_ne!(id, "forged-id");
    assert_eq!(id.len(), 36, "{id}");
}

#[tokio::test]
async fn assets_are_cached_by_hash_and_revalidate_with_etags() {
    let app = spawn_app().await;
    let html = app.get("/").await.text().await.expect("body");
    let href = html
        .split(r#"rel="stylesheet" href=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("stylesheet link")
        .to_owned();
    let response = app.get(&href).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/css; charset=utf-8"
    );
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = response.headers()["etag"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(response.text().await.expect("css").contains(".site-header"));

    let revalidated = app
        .client
        .get(app.url(&href))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(revalidated.status(), 304);

    let plain = app.get("/assets/main.css").await;
    assert_eq!(plain.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(app.get("/assets/missing.css").await.status(), 404);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413_and_a_page() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    // Above the largest upload the server answers from the declared length,
    // before any body is sent.
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        app::api::requests_admin::UPLOAD_LIMIT + 1
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("The request is too large."), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{response}"
    );

    // Forms take at most 1 MB.
    demo::seed(&app.db, &AuditContext::system())
        .await
        .expect("demo data");
    let csrf = app.csrf_on("/c/demo/requests/new").await;
    let details = "x".repeat(2 * 1024 * 1024);
    let response = app
        .post_form(
            "/c/demo/requests/new",
            &csrf,
            &[("name", "Big"), ("details", &details)],
        )
        .await;
    assert_eq!(response.status(), 413);
    let page = response.text().await.expect("body");
    assert!(page.contains("The form is too large."), "{page}");
}

#[tokio::test]
async fn wrong_methods_get_405_with_a_page_or_json_for_api_clients() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/healthz"))
        .header("origin", &app.address)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 405);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("does not accept that kind of request")
    );

    let response = app
        .client
        .post(app.url("/readyz"))
        .header("origin", &app.address)
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 405);
    let id = request_id(&response);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["request_id"], id);
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
}

/// Why `html` is not one complete, hydration-free document: Leptos's `<!>`
/// placeholders are invalid markup, and nothing (such as its
/// resource-resolution scripts) may follow `</html>`.
fn document_problems(html: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(at) = html.find("<!>") {
        let from = html[..at]
            .char_indices()
            .rev()
            .nth(60)
            .map_or(0, |(i, _)| i);
        problems.push(format!("a <!> placeholder in …{}", &html[from..at + 3]));
    }
    match html.rfind("</html>") {
        None => problems.push("no </html>".to_owned()),
        Some(end) => {
            let after = html[end + "</html>".len()..].trim();
            if !after.is_empty() {
                let after: String = after.chars().take(80).collect();
                problems.push(format!("after </html>: {after}"));
            }
        }
    }
    problems
}

#[tokio::test]
async fn pages_are_single_documents_without_hydration_markup() {
    let app = seeded_app().await;
    let mut checked = Vec::new();
    // The notice page twice: rendered, then answered from the page cache.
    for path in [
        "/",
        "/c/demo/privacy",
        "/c/demo/privacy",
        "/c/demo/privacy/versions",
        "/c/demo/requests/new",
        "/c/demo/cookies",
        "/subprocessors",
        "/login",
        "/no/such/page",
    ] {
        let response = app.get(path).await;
        checked.push((path.to_owned(), response.text().await.expect("body")));
    }
    // A status page written outside the router (a method no route takes).
    let response = app
        .client
        .delete(app.url("/subprocessors"))
        .send()
        .await
        .expect("request");
    assert!(response.status().is_client_error());
    checked.push((
        "DELETE /subprocessors".to_owned(),
        response.text().await.expect("body"),
    ));
    // A refused form, rendered again by its handler.
    let new = "/c/demo/requests/new";
    let csrf = app.csrf_on(new).await;
    let response = app
        .post_form(new, &csrf, &[("email", "not an address")])
        .await;
    assert_eq!(response.status(), 422);
    checked.push((format!("POST {new}"), response.text().await.expect("body")));
    // Admin pages.
    app.sign_in(demo::DEMO_OWNER_EMAIL).await;
    for path in [
        "/admin/c/demo",
        "/admin/c/demo/requests",
        "/admin/c/demo/team",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        checked.push((path.to_owned(), response.text().await.expect("body")));
    }
    let problems: Vec<String> = checked
        .iter()
        .flat_map(|(path, html)| {
            document_problems(html)
                .into_iter()
                .map(move |problem| format!("{path}: {problem}"))
        })
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
}
