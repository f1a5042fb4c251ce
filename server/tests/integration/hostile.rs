//! Hostile input: every public form and the consent API get a corpus of
//! nasty values. None may cause a 5xx, and no value may come back unescaped.

use std::time::Duration;

use chrono::Duration as Hours;

use crate::common::demo_app;

/// Values that break naive parsers, templates, SQL and headers.
fn corpus() -> Vec<String> {
    vec![
        "<script>alert(1)</script>".into(),
        "\"><img src=x onerror=alert(1)>".into(),
        "' OR 1=1 --".into(),
        "'; DROP TABLE privacy_requests; --".into(),
        "{{7*7}} ${jndi:ldap://x/a} <%= 7*7 %>".into(),
        "../../../../etc/passwd".into(),
        "a\r\nSet-Cookie: stolen=1".into(),
        "\u{0}nul\u{0}".into(),
        "\u{202e}evil\u{202d} \u{fe0f}🏥👩‍⚕️".into(),
        "-1".into(),
        "1e309".into(),
        "NaN".into(),
        "x".repeat(100_000),
        "%ff%fe%00".into(),
        "javascript:alert(1)".into(),
        "=cmd|' /C calc'!A0".into(),
    ]
}

/// Markers that would be live markup if echoed without escaping.
const LIVE: [&str; 2] = ["<script>alert(1)</script>", "<img src=x onerror"];

/// A form on a page: where it posts and the names of its fields.
#[derive(Debug)]
struct Form {
    action: String,
    fields: Vec<String>,
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].replace("&amp;", "&"))
}

/// The POST forms of `html`, with every named field except the form token.
fn post_forms(html: &str) -> Vec<Form> {
    let mut forms = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<form") {
        rest = &rest[at..];
        let end = rest.find("</form>").unwrap_or(rest.len());
        let body = &rest[..end];
        let open = &body[..body.find('>').unwrap_or(body.len())];
        let is_post = attribute(open, "method").is_some_and(|m| m.eq_ignore_ascii_case("post"));
        if is_post && let Some(action) = attribute(open, "action") {
            let mut fields = Vec::new();
            for tag in ["<input", "<textarea", "<select"] {
                let mut scan = body;
                while let Some(i) = scan.find(tag) {
                    scan = &scan[i + tag.len()..];
                    let element = &scan[..scan.find('>').unwrap_or(scan.len())];
                    if let Some(name) = attribute(element, "name")
                        && name != "csrf"
                        && !fields.contains(&name)
                    {
                        fields.push(name);
                    }
                }
            }
            forms.push(Form { action, fields });
        }
        rest = &rest[end.min(rest.len())..];
        if rest.len() <= "</form>".len() {
            break;
        }
        rest = &rest["</form>".len()..];
    }
    forms
}

async fn check(what: &str, response: reqwest::Response) {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    assert!(
        status < 500,
        "{what}: answered {status}: {}",
        &body[..body.len().min(300)]
    );
    for marker in LIVE {
        assert!(
            !body.contains(marker),
            "{what}: echoed {marker:?} unescaped"
        );
    }
}

#[tokio::test]
async fn every_public_form_survives_the_hostile_corpus_without_5xx_or_unescaped_echo() {
    let app = demo_app(None).await;
    let pages = [
        "/login",
        "/c/demo/requests/new",
        "/c/demo/subscribe",
        "/subscribe",
        "/c/demo/cookies",
        "/c/demo/consents",
    ];
    let mut posted = 0;
    for page in pages {
        let html = app.text(page).await;
        let forms = post_forms(&html);
        assert!(!forms.is_empty(), "{page} has a form");
        for form in &forms {
            assert!(
                !form.fields.is_empty() || form.action.contains("cookies"),
                "{page}: {form:?}"
            );
            for value in corpus() {
                // A new hour each time: the per-address limits never hide
                // what validation does with the value.
                app.clock.advance(Hours::hours(2));
                let csrf = app.csrf_on(page).await;
                let fields: Vec<(&str, &str)> = form
                    .fields
                    .iter()
                    .map(|name| (name.as_str(), value.as_str()))
                    .collect();
                let response = app.post_form(&form.action, &csrf, &fields).await;
                check(&format!("POST {} from {page}", form.action), response).await;
                posted += 1;
            }
        }
    }
    assert!(posted >= pages.len() * corpus().len(), "{posted}");

    // Paths with tokens get the corpus in the path itself.
    for value in corpus().into_iter().filter(|v| v.len() < 200) {
        let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
        for path in [
            format!("/c/demo/requests/{encoded}"),
            format!("/email/unsubscribe/{encoded}"),
            format!("/auth/link/{encoded}"),
            format!("/c/{encoded}/privacy"),
            format!("/c/demo/privacy/versions/{encoded}"),
        ] {
            let response = app.get(&path).await;
            check(&format!("GET {path}"), response).await;
        }
        let response = app
            .client
            .post(app.url(&format!("/email/unsubscribe/{encoded}")))
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .await
            .expect("request");
        check("one-click unsubscribe", response).await;
        let response = app
            .client
            .post(app.url("/c/demo/meta/data-deletion"))
            .form(&[("signed_request", value.as_str())])
            .send()
            .await
            .expect("request");
        check("Meta callback", response).await;
    }
}

#[tokio::test]
async fn the_consent_api_answers_hostile_json_with_4xx() {
    let app = demo_app(None).await;
    let url = app.url("/api/v1/c/demo/consents");
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    // Bodies that are not a valid choice in any reading.
    let invalid: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"{".to_vec(),
        b"{\"choices\": {\"analytics\": \"yes\"}}".to_vec(),
        b"{\"choices\": {\"analytics\": 1e309}}".to_vec(),
        b"{\"choices\": [], \"subject_id\": 7}".to_vec(),
        b"{\"choices\": {}, \"source\": \"<script>alert(1)</script>\"}".to_vec(),
        b"{\"choices\": {\"<script>alert(1)</script>\": true}}".to_vec(),
        b"{\"choices\": {}, \"subject_id\": \"\\u0000\"}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        deep.into_bytes(),
        format!(
            "{{\"choices\": {{}}, \"subject_id\": \"{}\"}}",
            "a".repeat(20_000)
        )
        .into_bytes(),
    ];
    let odd: Vec<Vec<u8>> = corpus().into_iter().map(String::into_bytes).collect();
    for (body, must_refuse) in invalid
        .into_iter()
        .map(|b| (b, true))
        .chain(odd.into_iter().map(|b| (b, false)))
    {
        for content_type in ["application/json", "text/plain"] {
            let response = app
                .client
                .post(&url)
                .header("content-type", content_type)
                .body(body.clone())
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let json = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            let text = response.text().await.unwrap_or_default();
            let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
            assert!(status < 500, "{content_type} {shown:?}: {status} {text}");
            if must_refuse {
                assert!(
                    (400..500).contains(&status),
                    "{content_type} {shown:?}: {status} {text}"
                );
            }
            for marker in LIVE {
                assert!(
                    json || !text.contains(marker),
                    "echoed {marker} outside JSON"
                );
            }
        }
    }
    // A browser on a site the clinic has not listed is refused.
    let response = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .body("{\"choices\": {}}")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
    // Without an Origin (a server calling the API) the bad bodies are still
    // refused with 4xx.
    let response = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"choices\": {\"analytics\": \"maybe\"}}")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("request");
    assert!((400..500).contains(&response.status().as_u16()));
}
