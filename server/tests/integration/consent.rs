//! Consent: the API records a choice and returns a receipt that verifies
//! offline with the published key, refuses bad input precisely without
//! storing anything, honours Global Privacy Control and CORS; records are
//! append-only; the settings page works without JavaScript and asks again
//! after the purposes change; the CSV export streams every record.

use app::backend::db::DbError;
use app::backend::db::schema::consent_records;
use app::backend::services::consent;
use app::backend::services::demo::{DEMO_OWNER_EMAIL, DEMO_SLUG};
use app::backend::tenancy::Scope;
use app::domain::consent::{self as rules, Channel, Source};
use app::domain::locale::Locale;
use app::domain::retention::{Category as RetentionCategory, action_field, period_field};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::common::{TestApp, csrf_in, demo_app, location, spawn_app_with};

const CONSENTS: &str = "/api/v1/c/demo/consents";
const WEBSITE: &str = "https://www.lindenhof-clinic.example";

async fn count_records(app: &TestApp) -> i64 {
    app.db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(consent_records::table.count().get_result::<i64>(c).await?)
            })
        })
        .await
        .expect("count")
}

async fn config(app: &TestApp) -> Value {
    app.client
        .get(app.url("/api/v1/c/demo/consent-config"))
        .send()
        .await
        .expect("config")
        .json()
        .await
        .expect("JSON")
}

async fn post_json(app: &TestApp, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(CONSENTS))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

/// Validates `json` against a schema of the OpenAPI document.
fn conforms(json: &Value, schema: &str) {
    let mut doc: Value =
        serde_json::from_str(app::api::consent::OPENAPI).expect("the OpenAPI document is JSON");
    doc["$ref"] = json!(format!("#/components/schemas/{schema}"));
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&doc)
        .expect("a valid schema");
    let errors: Vec<String> = validator.iter_errors(json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{schema}: {errors:?}\n{json:#}");
}

/// The demo clinic's receipt key, as anyone would fetch it.
pub async fn published_key(app: &TestApp) -> ed25519_dalek::VerifyingKey {
    let jwks: Value = app
        .client
        .get(app.url("/c/demo/consent-receipt-key"))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("JWK set");
    let x = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().expect("x"))
        .expect("base64url");
    ed25519_dalek::VerifyingKey::from_bytes(&x.try_into().expect("32 bytes"))
        .expect("an Ed25519 key")
}

#[tokio::test]
async fn a_receipt_from_the_api_verifies_with_the_published_key_and_not_after_one_byte_changes() {
    let app = demo_app(None).await;
    let config = config(&app).await;
    conforms(&config, "ConsentConfig");
    let keys: Vec<&str> = config["purposes"]
        .as_array()
        .expect("purposes")
        .iter()
        .map(|p| p["key"].as_str().expect("key"))
        .collect();
    assert_eq!(
        keys,
        ["necessary", "analytics", "video"],
        "website purposes only"
    );

    let body = json!({ "choices": { "analytics": true, "video": false },
                       "content_hash": config["content_hash"] });
    let response = post_json(&app, &body.to_string(), &[("origin", WEBSITE)]).await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        WEBSITE,
        "CORS for the clinic's own website"
    );
    let recorded: Value = response.json().await.expect("JSON");
    conforms(&recorded, "ConsentRecorded");
    assert_eq!(
        recorded["choices"],
        json!({ "necessary": true, "analytics": true, "video": false })
    );

    let key = published_key(&app).await;

    let jws = recorded["receipt_jws"].as_str().expect("receipt");
    let rules::VerifiedReceipt::V2(claims) =
        rules::verify_receipt(jws, &key).expect("the receipt verifies")
    else {
        panic!("a new receipt has schema version 2.0");
    };
    assert_eq!(
        serde_json::to_value(&claims).expect("claims"),
        recorded["receipt"]
    );
    assert_eq!(
        claims.pii_controllers[0].party_name,
        "Lindenhof Family Clinic MVZ GmbH"
    );
    assert_eq!(claims.collection_method, "banner");

    // One byte changed anywhere in the signed parts breaks it.
    let payload_at = jws.find('.').expect("dot") + 10;
    for at in [3, payload_at, jws.len() - 3] {
        let mut bytes = jws.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
        let tampered = String::from_utf8(bytes).expect("ascii");
        assert!(
            rules::verify_receipt(&tampered, &key).is_err(),
            "a receipt changed at byte {at} must not verify"
        );
    }

    // The stored record carries the same receipt.
    let stored = consent::latest_for_subject(
        &app.db,
        consent::published(&app.state, DEMO_SLUG)
            .await
            .expect("config")
            .expect("demo")
            .clinic_id,
        recorded["subject_id"].as_str().expect("subject"),
    )
    .await
    .expect("query")
    .expect("the record is stored");
    assert_eq!(stored.receipt, jws);
    app.stop().await;
}

/// Verifies `jws` with the `jose` library of Node.js
/// (`end2end/support/verify-receipt.mjs`) against the JWK set `keys`, as an
/// outside party would; the verified payload, or what the script said.
async fn verify_with_node_jose(keys: &str, jws: &str) -> Result<Value, String> {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end"));
    assert!(
        root.join("node_modules/jose").is_dir(),
        "verifying receipts with Node's jose needs the npm packages: run `npm ci` in end2end/ (scripts/test does)"
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (keys_file, jws_file) = (dir.path().join("keys.json"), dir.path().join("receipt.jws"));
    std::fs::write(&keys_file, keys).expect("write the keys");
    std::fs::write(&jws_file, jws).expect("write the receipt");
    let output = tokio::process::Command::new("node")
        .arg("support/verify-receipt.mjs")
        .arg(&keys_file)
        .arg(&jws_file)
        .current_dir(root)
        .output()
        .await
        .expect("node runs");
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).expect("the payload is JSON"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[tokio::test]
async fn a_receipt_verifies_with_node_jose_under_the_algorithm_name_ed25519() {
    let app = demo_app(None).await;
    let body = json!({ "choices": { "analytics": true, "video": false } });
    let response = post_json(&app, &body.to_string(), &[]).await;
    assert_eq!(response.status(), 201);
    let recorded: Value = response.json().await.expect("JSON");
    let jws = recorded["receipt_jws"].as_str().expect("receipt");
    let keys = app.text("/c/demo/consent-receipt-key").await;

    let payload = verify_with_node_jose(&keys, jws)
        .await
        .unwrap_or_else(|e| panic!("jose refused the receipt: {e}"));
    assert_eq!(payload, recorded["receipt"], "jose reads the same claims");
    assert_eq!(payload["purposes"][1]["consent_status"], "given");

    let mut tampered = jws.as_bytes().to_vec();
    let at = jws.find('.').expect("dot") + 10;
    tampered[at] = if tampered[at] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let refused = verify_with_node_jose(&keys, &tampered)
        .await
        .expect_err("a changed receipt does not verify");
    assert!(
        refused.contains("signature verification failed"),
        "{refused}"
    );
    app.stop().await;
}

#[tokio::test]
async fn receipt_claims_take_their_iso_iec_ts_27560_names_and_state_the_clinics_terms() {
    let app = demo_app(None).await;
    let config = config(&app).await;
    let body = json!({ "choices": { "analytics": true }, "language": "uk" });
    let response = post_json(&app, &body.to_string(), &[]).await;
    assert_eq!(response.status(), 201);
    let recorded: Value = response.json().await.expect("JSON");
    let receipt = &recorded["receipt"];
    assert_eq!(receipt["schema_version"], "2.0");
    assert!(
        receipt["event_time"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "{receipt:#}"
    );
    assert_eq!(
        receipt["pii_controllers"],
        json!([{
            "party_name": "Lindenhof Family Clinic MVZ GmbH",
            "party_role": "pii_controller",
            "party_contact": "privacy@lindenhof-clinic.example",
            "party_url": app.url("/c/demo/privacy"),
        }])
    );
    assert_eq!(
        receipt["privacy_notice"],
        json!({
            "version": config["version"],
            "content_hash": config["content_hash"],
            "url": app.url("/c/demo/cookies"),
        })
    );
    assert_eq!(receipt["language"], "uk", "the banner's language");
    assert_eq!(receipt["jurisdiction"], "DE");
    assert_eq!(receipt["withdrawal_method"], app.url("/c/demo/cookies"));
    assert_eq!(
        receipt["record_retention_period"], "P1095D",
        "the default period of consent records"
    );
    for gone in ["timestamp", "pii_controller", "notice"] {
        assert!(receipt.get(gone).is_none(), "{gone} took its TS 27560 name");
    }

    // Without a language in the body, the request's Accept-Language decides.
    let body = json!({ "choices": {} }).to_string();
    let language = |headers: &'static [(&'static str, &'static str)]| {
        let body = body.clone();
        let app = &app;
        async move {
            let recorded: Value = post_json(app, &body, headers)
                .await
                .json()
                .await
                .expect("JSON");
            recorded["receipt"]["language"].clone()
        }
    };
    assert_eq!(
        language(&[("accept-language", "uk-UA,uk;q=0.9")]).await,
        "uk"
    );
    assert_eq!(language(&[]).await, "en");

    // On the settings page, the language the page was shown in.
    let page = app.text("/c/demo/cookies?lang=uk").await;
    let csrf = csrf_in(&page).expect("form token");
    let response = app
        .post_form("/c/demo/cookies", &csrf, &[("choice", "reject_all")])
        .await;
    let saved = app.text(&location(&response)).await;
    let jws = saved
        .split(r#"<pre class="receipt">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the receipt on the page");
    let rules::VerifiedReceipt::V2(claims) =
        rules::verify_receipt(jws, &published_key(&app).await).expect("verifies")
    else {
        panic!("a new receipt has schema version 2.0");
    };
    assert_eq!(
        (claims.collection_method.as_str(), claims.language.as_str()),
        ("settings_page", "uk")
    );
    assert_eq!(claims.withdrawal_method, app.url("/c/demo/cookies"));

    // The clinic keeps consent records for 400 days: new receipts say so.
    app.sign_in(DEMO_OWNER_EMAIL).await;
    let csrf = app.csrf_on("/admin/c/demo/retention").await;
    let fields: Vec<(String, String)> = RetentionCategory::ALL
        .iter()
        .flat_map(|&category| {
            let rule = category.default_rule();
            let days = if category == RetentionCategory::ConsentRecords {
                400
            } else {
                rule.period_days
            };
            [
                (period_field(category), days.to_string()),
                (action_field(category), rule.action.as_str().to_owned()),
            ]
        })
        .collect();
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let saved = app
        .post_form("/admin/c/demo/retention", &csrf, &fields)
        .await;
    assert_eq!(saved.status(), 303);
    let recorded: Value = post_json(&app, &body, &[])
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(recorded["receipt"]["record_retention_period"], "P400D");
    app.stop().await;
}

#[tokio::test]
async fn a_fresh_receipt_conforms_to_the_json_schema_published_beside_the_key() {
    let app = demo_app(None).await;
    let schema_path = "/c/demo/consent-receipt-schema.json";
    let response = app.get(schema_path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/schema+json"
    );
    let schema: Value = response.json().await.expect("JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(
        schema["$id"],
        app.url(schema_path),
        "an absolute $id under the portal's base URL"
    );
    assert!(app.url(schema_path).starts_with("http"));
    assert_eq!(
        config(&app).await["receipt_schema_url"],
        app.url(schema_path)
    );
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("a valid draft 2020-12 schema");
    let problems = |payload: &Value| -> Vec<String> {
        validator
            .iter_errors(payload)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    };

    let body = json!({ "choices": { "analytics": true, "video": false } });
    let recorded: Value = post_json(&app, &body.to_string(), &[("origin", WEBSITE)])
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(recorded["receipt_schema_url"], app.url(schema_path));
    // The payload exactly as signed, not the copy beside it in the answer.
    let jws = recorded["receipt_jws"].as_str().expect("receipt");
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jws.split('.').nth(1).expect("payload"))
            .expect("base64url"),
    )
    .expect("JSON");
    assert_eq!(payload, recorded["receipt"]);
    assert_eq!(problems(&payload), Vec::<String>::new(), "{payload:#}");

    // Receipts issued before, of schema version 1.0, are described too.
    let v1 = json!({
        "schema_version": "1.0",
        "receipt_id": payload["receipt_id"],
        "record_id": payload["record_id"],
        "timestamp": payload["event_time"],
        "pii_principal_id": payload["pii_principal_id"],
        "pii_controller": "Lindenhof Family Clinic MVZ GmbH",
        "notice": payload["privacy_notice"],
        "collection_method": "banner",
        "global_privacy_control": false,
        "purposes": payload["purposes"],
    });
    assert_eq!(problems(&v1), Vec::<String>::new());

    // A claim under another name, or a version mixing both, does not conform.
    let mut renamed = payload.clone();
    let time = renamed["event_time"].take();
    renamed["timestamp"] = time;
    assert!(!problems(&renamed).is_empty());
    let mut mixed = payload.clone();
    mixed["schema_version"] = json!("1.0");
    assert!(!problems(&mixed).is_empty());

    assert_eq!(
        app.get("/c/nowhere/consent-receipt-schema.json")
            .await
            .status(),
        404
    );
    app.stop().await;
}

/// A body, its extra headers, the expected status and a phrase of the answer.
type Case = (String, Vec<(&'static str, &'static str)>, u16, &'static str);

#[tokio::test]
async fn the_api_refuses_bad_input_precisely_and_stores_nothing() {
    let app = demo_app(None).await;
    let hash = config(&app).await["content_hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let cases: Vec<Case> = vec![
        (
            "{not json".into(),
            vec![],
            400,
            "not a valid consent choice",
        ),
        (
            r#"{"choices":{},"extra":1}"#.into(),
            vec![],
            400,
            "unknown field `extra`",
        ),
        (
            r#"{"choices":{"analytics":"yes"}}"#.into(),
            vec![],
            400,
            "expected a boolean",
        ),
        (
            r#"{"choices":{"marketing":true}}"#.into(),
            vec![],
            422,
            "/choices/marketing",
        ),
        (
            r#"{"choices":{"necessary":false}}"#.into(),
            vec![],
            422,
            "cannot be switched off",
        ),
        (
            r#"{"choices":{"ai_messages":true}}"#.into(),
            vec![],
            422,
            "/choices/ai_messages",
        ),
        (
            r#"{"choices":{},"subject_id":"<script>"}"#.into(),
            vec![],
            422,
            "/subject_id",
        ),
        (
            r#"{"choices":{},"source":"admin_import"}"#.into(),
            vec![],
            422,
            "/source",
        ),
        (
            r#"{"choices":{},"content_hash":"0000"}"#.into(),
            vec![],
            409,
            "purposes changed",
        ),
        (
            r#"{"choices":{}}"#.into(),
            vec![("origin", "https://evil.example")],
            403,
            "not one of this clinic's websites",
        ),
        (
            format!(
                r#"{{"choices":{{}},"subject_id":"{}"}}"#,
                "a".repeat(20_000)
            ),
            vec![],
            413,
            "",
        ),
    ];
    for (body, headers, status, needle) in cases {
        let response = post_json(&app, &body, &headers).await;
        assert_eq!(response.status(), status, "{body:.80}");
        let text = response.text().await.expect("body");
        let json: Value = serde_json::from_str(&text).expect("a JSON error");
        conforms(&json, "Error");
        assert!(text.contains(needle), "{status}: {text}");
    }
    let wrong_type = app
        .client
        .post(app.url(CONSENTS))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("choices=1")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_type.status(), 415);
    assert_eq!(count_records(&app).await, 0, "nothing was stored");

    // Preflight: allowed for the clinic's website, refused for others.
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url(CONSENTS))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight(WEBSITE).await.expect("preflight");
    assert_eq!(allowed.status(), 204);
    assert_eq!(allowed.headers()["access-control-allow-origin"], WEBSITE);
    assert_eq!(
        preflight("https://evil.example")
            .await
            .expect("preflight")
            .status(),
        403
    );

    // A valid choice against the current hash is accepted.
    let ok = post_json(
        &app,
        &json!({ "choices": {}, "content_hash": hash }).to_string(),
        &[],
    )
    .await;
    assert_eq!(ok.status(), 201);
    assert_eq!(count_records(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn global_privacy_control_is_recorded_as_an_opt_out() {
    let app = demo_app(None).await;
    let body = json!({ "choices": { "analytics": true, "video": true } }).to_string();
    let recorded: Value = post_json(&app, &body, &[("sec-gpc", "1")])
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        recorded["choices"],
        json!({ "necessary": true, "analytics": false, "video": false })
    );
    assert_eq!(recorded["gpc"], true);
    assert_eq!(recorded["receipt"]["global_privacy_control"], true);
    let from_body: Value = post_json(
        &app,
        &json!({ "choices": { "analytics": true }, "gpc": true }).to_string(),
        &[],
    )
    .await
    .json()
    .await
    .expect("JSON");
    assert_eq!(from_body["choices"]["analytics"], false);
    app.stop().await;
}

#[tokio::test]
async fn consent_records_are_append_only() {
    let app = demo_app(None).await;
    let recorded = post_json(&app, r#"{"choices":{"analytics":true}}"#, &[]).await;
    assert_eq!(recorded.status(), 201);
    for sql in [
        "UPDATE consent_records SET choices = '{}'::jsonb",
        "DELETE FROM consent_records",
        "TRUNCATE consent_records",
    ] {
        let outcome = app.test_db.admin_execute(sql).await;
        assert!(outcome.is_err(), "{sql} must be refused");
    }
    assert_eq!(count_records(&app).await, 1);
    // The retention purge marks its transaction and may delete.
    app.test_db
        .admin_execute("BEGIN; SET LOCAL portal.purge = 'on'; DELETE FROM consent_records; COMMIT;")
        .await
        .expect("the purge may delete");
    assert_eq!(count_records(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn the_settings_page_works_without_javascript_and_asks_again_after_a_change() {
    let app = demo_app(None).await;
    let page = app.text("/c/demo/cookies").await;
    assert!(page.contains("Reject all") && page.contains("Accept all"));
    assert!(page.contains("_pk_id"), "the cookie inventory is listed");
    assert!(!page.contains("<script src"), "the page needs no script");
    let csrf = csrf_in(&page).expect("form token");

    let response = app
        .post_form("/c/demo/cookies", &csrf, &[("choice", "reject_all")])
        .await;
    assert_eq!(response.status(), 303);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("the choice is kept in a cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/c/demo/"));
    let saved = app.text(&location(&response)).await;
    assert!(saved.contains("Your choice is saved"), "{saved}");
    assert!(saved.contains("eyJ"), "the signed receipt is shown");

    // Choosing one purpose by hand.
    let response = app
        .post_form(
            "/c/demo/cookies",
            &csrf,
            &[("choice", "save"), ("purpose", "video")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let page = app.text("/c/demo/cookies").await;
    assert!(page.contains(r#"value="video" checked"#), "{page}");
    assert!(!page.contains(r#"value="analytics" checked"#));

    // In Ukrainian.
    let uk = app.text("/c/demo/cookies?lang=uk").await;
    assert!(uk.contains("Відхилити всі") && uk.contains("Статистика відвідувань"));

    // The clinic adds a purpose: a new version, and the visitor is asked again.
    let admin = &app;
    admin.sign_in(DEMO_OWNER_EMAIL).await;
    let form_csrf = admin.csrf_on("/admin/c/demo/consent/purposes/new").await;
    let hostile = "<script>alert(1)</script> Maps";
    let refused = admin
        .post_form(
            "/admin/c/demo/consent/purposes/new",
            &form_csrf,
            &[
                ("key", "Maps!"),
                ("channel", "website"),
                ("name_en", hostile),
                ("description_en", "Show a map."),
                ("legal_basis", "consent"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.expect("body");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Maps"),
        "kept, escaped"
    );
    assert!(!html.contains("<script>alert(1)"));
    let created = admin
        .post_form(
            "/admin/c/demo/consent/purposes/new",
            &form_csrf,
            &[
                ("key", "maps"),
                ("channel", "website"),
                ("name_en", "Maps"),
                ("description_en", "Show our location on an embedded map."),
                ("legal_basis", "consent"),
                ("position", "50"),
            ],
        )
        .await;
    assert_eq!(created.status(), 303);
    let admin_page = admin.text("/admin/c/demo/consent").await;
    assert!(
        admin_page.contains("Version 2 of the consent configuration is published"),
        "the seed published version 1 and this change version 2"
    );

    // The change cleared this node's cached configuration: no wait.
    let page = app.text("/c/demo/cookies?lang=en").await;
    assert!(page.contains("Please choose again"), "{page}");
    let uk = app.text("/c/demo/cookies?lang=uk").await;
    assert!(
        uk.contains("Правова підстава: Згода"),
        "legal bases are translated"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_csv_export_streams_every_record_and_is_for_managers_only() {
    let app = demo_app(None).await;
    let published = consent::published(&app.state, DEMO_SLUG)
        .await
        .expect("config")
        .expect("demo");
    let total = 4_500;
    let submissions = (0..total).map(|i| {
        let state = app.state.clone();
        let published = published.clone();
        async move {
            consent::record(
                &state,
                &published,
                consent::Submission {
                    subject_id: None,
                    channel: Channel::Website,
                    choices: [("analytics".to_owned(), i % 3 == 0)].into_iter().collect(),
                    source: Source::Api,
                    gpc: false,
                    language: Locale::En,
                },
            )
            .await
            .map(|r| r.record_id)
        }
    });
    let ids = futures::future::join_all(submissions).await;
    let failed: Vec<String> = ids
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| format!("{e:?}")))
        .take(3)
        .collect();
    assert!(
        failed.is_empty(),
        "every concurrent record is acknowledged: {failed:?}"
    );
    assert_eq!(count_records(&app).await, total, "and stored");

    app.sign_in(DEMO_OWNER_EMAIL).await;
    let response = app.get("/admin/c/demo/consent/records.csv").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/csv")
    );
    let body = response.text().await.expect("CSV");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    assert_eq!(
        rows.len() as i64,
        total,
        "every record, across export chunks"
    );
    let mut seen: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len() as i64, total, "no record twice");

    let filtered = app
        .text("/admin/c/demo/consent/records.csv?given=analytics")
        .await;
    assert_eq!(
        filtered.lines().count() - 1,
        1_500,
        "one in three gave analytics"
    );

    let page = app.text("/admin/c/demo/consent/records?source=api").await;
    assert!(page.contains("4500 records"), "the list counts them");
    assert!(page.contains("<svg"), "the opt-in chart is drawn");

    team_member(&app, "viewer@lindenhof-clinic.example").await;
    app.sign_in("viewer@lindenhof-clinic.example").await;
    assert_eq!(
        app.get("/admin/c/demo/consent/records.csv").await.status(),
        403
    );
    assert_eq!(app.get("/admin/c/demo/consent/records").await.status(), 200);
    app.stop().await;
}

async fn team_member(app: &TestApp, email: &str) {
    use app::backend::audit::AuditContext;
    use app::domain::email::EmailAddress;
    use app::domain::roles::ClinicRole;
    let clinic = consent::published(&app.state, DEMO_SLUG)
        .await
        .expect("config")
        .expect("demo")
        .clinic_id;
    let email = EmailAddress::parse(email).expect("address");
    app.db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                app::backend::services::clinics::add_member(
                    c,
                    &AuditContext::cli(),
                    clinic,
                    &email,
                    "Viewer",
                    ClinicRole::Viewer,
                )
                .await?;
                Ok::<_, DbError>(())
            })
        })
        .await
        .expect("viewer");
}

#[tokio::test]
async fn the_api_limits_each_address_and_serves_its_script_and_documents() {
    // 60 a minute allows a burst of 10 from one address.
    let app = spawn_app_with(&[("PORTAL_CONSENT_RATE_PER_MINUTE", "60".to_owned())]).await;
    app::backend::services::demo::seed(&app.db, &app::backend::audit::AuditContext::system())
        .await
        .expect("demo data");
    for n in 0..10 {
        let response = post_json(&app, r#"{"choices":{}}"#, &[]).await;
        assert_eq!(response.status(), 201, "request {n} is within the burst");
    }
    let limited = post_json(&app, r#"{"choices":{}}"#, &[]).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    conforms(&limited.json().await.expect("JSON"), "Error");
    assert_eq!(
        count_records(&app).await,
        10,
        "the limited request stored nothing"
    );

    let openapi = app.get("/api/v1/openapi.json").await;
    assert_eq!(openapi.status(), 200);
    assert_eq!(
        openapi.text().await.expect("body"),
        app::api::consent::OPENAPI
    );
    let script = app.get("/c/demo/consent.js").await;
    assert!(
        script.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );
    assert_eq!(
        script.text().await.expect("body"),
        app::api::consent::CONSENT_JS
    );
    assert_eq!(app.get("/c/nowhere/consent.js").await.status(), 404);
    let unknown = app.get("/api/v1/c/nowhere/consent-config").await;
    assert_eq!(unknown.status(), 404);
    conforms(&unknown.json().await.expect("JSON"), "Error");
    app.stop().await;
}

#[tokio::test]
async fn archiving_and_removing_need_confirmation_and_keep_the_records_searchable() {
    let app = demo_app(None).await;
    let recorded = post_json(&app, r#"{"choices":{"analytics":true}}"#, &[]).await;
    assert_eq!(recorded.status(), 201);
    app.sign_in(DEMO_OWNER_EMAIL).await;
    let settings = consent::settings(
        &app.db,
        consent::published(&app.state, DEMO_SLUG)
            .await
            .expect("config")
            .expect("demo")
            .clinic_id,
    )
    .await
    .expect("settings");
    let analytics = settings
        .purposes
        .iter()
        .find(|p| p.key == "analytics")
        .expect("analytics")
        .id;
    let purpose_path = format!("/admin/c/demo/consent/purposes/{analytics}");
    let csrf = app.csrf_on(&purpose_path).await;

    let unconfirmed = app
        .post_form(&purpose_path, &csrf, &[("intent", "archive")])
        .await;
    assert_eq!(unconfirmed.status(), 422);
    assert!(
        unconfirmed
            .text()
            .await
            .expect("body")
            .contains("Tick the box")
    );
    let in_use = app
        .post_form(
            &purpose_path,
            &csrf,
            &[("intent", "archive"), ("confirm", "on")],
        )
        .await;
    assert_eq!(in_use.status(), 422);
    assert!(
        in_use
            .text()
            .await
            .expect("body")
            .contains("2 cookie(s) still serve this purpose")
    );

    for cookie in settings.cookies.iter().filter(|c| c.purpose == "analytics") {
        let path = format!("/admin/c/demo/consent/cookies/{}", cookie.id);
        let kept = app.post_form(&path, &csrf, &[("intent", "delete")]).await;
        assert_eq!(kept.status(), 422, "removal needs the confirmation");
        let removed = app
            .post_form(&path, &csrf, &[("intent", "delete"), ("confirm", "on")])
            .await;
        assert_eq!(removed.status(), 303);
    }
    let archived = app
        .post_form(
            &purpose_path,
            &csrf,
            &[("intent", "archive"), ("confirm", "on")],
        )
        .await;
    assert_eq!(archived.status(), 303);

    let keys: Vec<String> = config(&app).await["purposes"]
        .as_array()
        .expect("purposes")
        .iter()
        .map(|p| p["key"].as_str().expect("key").to_owned())
        .collect();
    assert_eq!(keys, ["necessary", "video"], "no longer asked");
    assert_eq!(config(&app).await["version"], 2);
    let log = app.text("/admin/c/demo/audit").await;
    for action in [
        "consent.cookie_removed",
        "consent.purpose_archived",
        "consent.config_published",
    ] {
        assert!(log.contains(action), "{action} is audited");
    }

    // Its record stays searchable; unusable dates are ignored with a note.
    let page = app
        .text("/admin/c/demo/consent/records?given=analytics&from=-5000-01-01&to=262143-12-31")
        .await;
    assert!(page.contains("1 records"), "{page}");
    assert!(page.contains("From must be a date") && page.contains("To must be a date"));
    let csv = app
        .get("/admin/c/demo/consent/records.csv?from=-5000-01-01&to=262143-12-31")
        .await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.text().await.expect("CSV").lines().count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_writer_whose_connection_was_cut_stores_the_next_choices_on_a_new_one() {
    let app = demo_app(None).await;
    let choice = r#"{"choices":{"analytics":true}}"#;
    assert_eq!(post_json(&app, choice, &[]).await.status(), 201);
    // Cut the writers' own connections, as a Postgres restart would.
    let cut: i64 = app
        .db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                #[derive(QueryableByName)]
                struct Cut {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    cut: i64,
                }
                let row: Cut = diesel::sql_query(
                    "SELECT count(pg_terminate_backend(pid)) AS cut FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() \
                       AND query LIKE 'INSERT INTO consent_records %'",
                )
                .get_result(c)
                .await?;
                Ok::<_, DbError>(row.cut)
            })
        })
        .await
        .expect("terminate");
    assert!(cut >= 1, "no writer connection was found");
    let before = count_records(&app).await;
    for _ in 0..5 {
        assert_eq!(post_json(&app, choice, &[]).await.status(), 201);
    }
    assert_eq!(count_records(&app).await, before + 5);
}
