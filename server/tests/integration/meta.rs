//! Meta's callbacks as a strict peer sends them: dated, sometimes expiring,
//! and sometimes sent twice. The signed requests here are built with HMAC
//! and base64 directly, independently of the `signed-request` crate the
//! portal verifies them with.

use app::backend::audit::AuditContext;
use app::backend::clock::Clock;
use app::backend::db::DbError;
use app::backend::db::schema::{
    audit_events, audit_queue, meta_callback_replays, meta_deletions, privacy_requests,
};
use app::backend::services::clinics;
use app::backend::services::requests::meta;
use app::backend::tenancy::Scope;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::json;

use crate::common::{TestApp, eventually, spawn_app};
use crate::requests::post_signed;
use crate::tenancy::clinic_input;

const SECRET: &str = "9d41c7a05e3b28f6c1a4e7d0b9f25c38";
const DELETION: &str = "/c/harbour/meta/data-deletion";
const DEAUTHORIZE: &str = "/c/harbour/meta/deauthorize";

/// A clinic of its own with a Meta app secret, on an empty portal.
async fn clinic_with_meta_secret() -> TestApp {
    let app = spawn_app().await;
    let ctx = AuditContext::cli();
    let clinic = clinics::create(
        &app.db,
        &ctx,
        clinic_input("harbour", "owner@harbour.example"),
    )
    .await
    .expect("clinic");
    meta::set_secret(
        &app.state,
        &ctx,
        clinic,
        &SecretString::from(SECRET.to_owned()),
    )
    .await
    .expect("secret");
    app
}

/// `signed_request=…` for a payload, signed as Meta documents it: HMAC-SHA256
/// of the base64url payload, base64url signature, a dot between.
fn form(payload: &serde_json::Value) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!(
        "signed_request={}",
        form_urlencoded::byte_serialize(format!("{signature}.{payload}").as_bytes())
            .collect::<String>()
    )
}

fn payload(user: &str, issued_at: i64) -> serde_json::Value {
    json!({ "algorithm": "HMAC-SHA256", "issued_at": issued_at, "user_id": user })
}

/// Requests, deletion records, audit events of requests and callbacks, and
/// remembered callbacks, once every queued audit event is sealed.
async fn counts(app: &TestApp) -> [i64; 4] {
    let sealed = eventually(std::time::Duration::from_secs(10), || async {
        let queued: i64 = app
            .db
            .scoped(Scope::System, |c| {
                Box::pin(async move {
                    Ok::<_, DbError>(audit_queue::table.count().get_result(c).await?)
                })
            })
            .await
            .expect("queue");
        queued == 0
    })
    .await;
    assert!(sealed, "the audit queue drains");
    app.db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>([
                    privacy_requests::table.count().get_result(c).await?,
                    meta_deletions::table.count().get_result(c).await?,
                    // Jobs the moved clock sets off (a retention purge)
                    // audit their own work.
                    audit_events::table
                        .filter(
                            audit_events::action
                                .like("request.%")
                                .or(audit_events::action.like("meta.%")),
                        )
                        .count()
                        .get_result(c)
                        .await?,
                    meta_callback_replays::table.count().get_result(c).await?,
                ])
            })
        })
        .await
        .expect("counts")
}

#[tokio::test]
async fn stale_expired_and_future_dated_callbacks_get_400_and_store_nothing() {
    let app = clinic_with_meta_secret().await;
    let now = app.clock.now().timestamp();
    let day = 24 * 3600;
    let cases = [
        (
            "issued a day and a minute ago",
            payload("7001", now - day - 60),
        ),
        ("issued an hour from now", payload("7002", now + 3600)),
        (
            "without issued_at",
            json!({ "algorithm": "HMAC-SHA256", "user_id": "7003" }),
        ),
        (
            "past its expires",
            json!({ "algorithm": "HMAC-SHA256", "issued_at": now - 120,
                    "expires": now - 60, "user_id": "7004" }),
        ),
    ];
    let before = counts(&app).await;
    for (what, payload) in &cases {
        for path in [DELETION, DEAUTHORIZE] {
            let (status, answer) = post_signed(&app, path, &form(payload)).await;
            assert_eq!(status, 400, "{what} at {path}: {answer}");
            assert!(answer["error"].is_string(), "{what}: {answer}");
        }
    }
    assert_eq!(counts(&app).await, before, "nothing stored");

    // A day old to the minute is still fresh; the same request a day later
    // is not.
    let fresh = form(&payload("7005", now - day + 60));
    assert_eq!(post_signed(&app, DELETION, &fresh).await.0, 200);
    let after = counts(&app).await;
    app.clock.advance(Duration::minutes(2));
    let (status, answer) = post_signed(&app, DELETION, &fresh).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "the signed request is too old");
    assert_eq!(counts(&app).await, after);
}

#[tokio::test]
async fn a_replayed_deletion_callback_gets_its_first_answer_even_after_the_request_is_completed() {
    let app = clinic_with_meta_secret().await;
    let now = app.clock.now().timestamp();
    let first = form(&payload("8001", now - 30));
    let (status, answer) = post_signed(&app, DELETION, &first).await;
    assert_eq!(status, 200, "{answer}");
    let code = answer["confirmation_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let after_first = counts(&app).await;

    // The clinic completes the erasure.
    app.db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                diesel::update(privacy_requests::table.filter(privacy_requests::source.eq("meta")))
                    .set((
                        privacy_requests::status.eq("completed"),
                        privacy_requests::outcome.eq(Some("fulfilled")),
                        privacy_requests::completed_at.eq(Some(chrono::Utc::now())),
                    ))
                    .execute(c)
                    .await?;
                Ok::<_, DbError>(())
            })
        })
        .await
        .expect("completed");

    // The captured callback, sent again an hour later, opens nothing new.
    app.clock.advance(Duration::hours(1));
    let (status, again) = post_signed(&app, DELETION, &first).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["confirmation_code"], code.as_str());
    assert_eq!(again["url"], answer["url"]);
    assert_eq!(
        counts(&app).await,
        after_first,
        "no new request, event or memory"
    );

    // A new callback from the same person is a new request.
    let (status, second) = post_signed(
        &app,
        DELETION,
        &form(&payload("8001", app.clock.now().timestamp())),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["confirmation_code"], code.as_str());
    let after_second = counts(&app).await;
    assert_eq!(after_second[0], after_first[0] + 1);

    // Past the freshness window the memory of the first callback goes with
    // the next callback, and the first is refused as too old.
    app.clock.advance(Duration::hours(25));
    let (status, _) = post_signed(
        &app,
        DELETION,
        &form(&payload("8002", app.clock.now().timestamp())),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        counts(&app).await[3],
        1,
        "only the newest callback is remembered"
    );
    assert_eq!(post_signed(&app, DELETION, &first).await.0, 400);
}

#[tokio::test]
async fn a_replayed_deauthorize_callback_adds_no_audit_event() {
    let app = clinic_with_meta_secret().await;
    let body = form(&payload("9001", app.clock.now().timestamp()));
    let before = counts(&app).await;
    for _ in 0..3 {
        let (status, answer) = post_signed(&app, DEAUTHORIZE, &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let after = counts(&app).await;
    assert_eq!(
        after[2],
        before[2] + 1,
        "one audit event for three deliveries"
    );
    assert_eq!(after[0], before[0], "no request");
    // Remembered apart from deletions: the same signed request at the other
    // endpoint is a deletion of its own.
    assert_eq!(post_signed(&app, DELETION, &body).await.0, 200);
    assert_eq!(counts(&app).await[0], before[0] + 1);
}
