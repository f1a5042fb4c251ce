use crate::common::{spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "ok");
}

#[tokio::test]
async fn readyz_reports_a_reachable_and_migrated_database() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["migrations"], "ok");
}

#[tokio::test]
async fn readyz_is_unavailable_while_a_migration_is_pending() {
    let app = spawn_app().await;
    app.test_db
        .admin_execute(
            "DELETE FROM __diesel_schema_migrations WHERE version = \
             (SELECT max(version) FROM __diesel_schema_migrations)",
        )
        .await
        .expect("forget the newest migration");
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "not ready");
    assert_eq!(
        body["migrations"]["pending"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_report_the_job_queue() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/no/such/page").await.status(), 404);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.expect("body");
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains(r#"portal_jobs{status="pending"}"#), "{text}");
    assert!(
        text.contains(r#"portal_email_deliveries{outcome="sent"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_need_the_configured_bearer_token() {
    let token = "k7Qm2vX9pL4sT8wZ1nR6";
    let app = spawn_app_with(&[("PORTAL_METRICS_TOKEN", token.to_owned())]).await;
    let client = reqwest::Client::new();
    for (what, header) in [
        ("no token", None),
        (
            "a wrong token",
            Some("Bearer k7Qm2vX9pL4sT8wZ1nR7".to_owned()),
        ),
        ("the token as Basic", Some(format!("Basic {token}"))),
    ] {
        let mut request = client.get(app.url("/metrics"));
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 401, "{what}");
        assert!(response.headers().contains_key("www-authenticate"));
        let body = response.text().await.expect("body");
        assert!(!body.contains("portal_jobs"), "{what}: {body}");
    }
    let response = client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("body").contains("portal_jobs"));
}

#[tokio::test]
async fn metrics_can_be_served_on_their_own_address_only() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let app = spawn_app_with(&[("PORTAL_METRICS_BIND", format!("127.0.0.1:{port}"))]).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    assert_eq!(app.get("/healthz").await.status(), 200);
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("the metrics listener answers");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("body").contains("portal_jobs"));
}
