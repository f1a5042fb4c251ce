//! The hash-chained, append-only audit log.

use app::backend::audit::{self, AuditContext, AuditEntry};
use app::backend::db::DbError;
use app::backend::services::clinics;
use app::backend::tenancy::Scope;
use app::domain::audit::ChainBreak;
use secrecy::ExposeSecret;

use crate::common::{TestDb, run_cli};
use crate::retention::count;
use crate::tenancy::clinic_input;

async fn queued(db: &app::backend::db::Db) -> i64 {
    count(db, "SELECT count(*) AS n FROM audit_queue".into()).await
}

#[tokio::test]
async fn services_write_events_whose_chains_verify() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let clinic = clinics::create(
        &db,
        &AuditContext::cli(),
        clinic_input("alpha", "o@alpha.example"),
    )
    .await
    .expect("clinic");
    assert_eq!(
        audit::count_for_clinic(&db, clinic).await.expect("count"),
        2,
        "clinic.created and member.added"
    );
    let reports = audit::verify_all(&db).await.expect("verify");
    assert_eq!(reports.len(), 2, "the platform chain and the clinic's");
    assert!(reports.iter().all(|r| r.broken.is_none()));
    assert_eq!(reports.iter().map(|r| r.events_checked).sum::<u64>(), 3);
}

#[tokio::test]
async fn concurrent_appends_keep_one_unbroken_sequence() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let clinic = clinics::create(
        &db,
        &AuditContext::cli(),
        clinic_input("alpha", "o@alpha.example"),
    )
    .await
    .expect("clinic");
    let mut tasks = Vec::new();
    for i in 0..24 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.scoped(Scope::Clinic(clinic), move |c| {
                Box::pin(async move {
                    audit::record(
                        c,
                        &AuditContext::system(),
                        AuditEntry {
                            clinic_id: Some(clinic),
                            action: "test.event",
                            subject_kind: "test",
                            subject_id: i.to_string(),
                            details: serde_json::json!({ "i": i, "text": "Київ ✓ <b>" }),
                        },
                    )
                    .await?;
                    Ok::<_, DbError>(())
                })
            })
            .await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("append");
    }
    // Each append was sealed into the chain before its transaction returned.
    assert_eq!(queued(&db).await, 0, "nothing is left in the queue");
    assert_eq!(
        audit::count_for_clinic(&db, clinic).await.expect("count"),
        26
    );
    let reports = audit::verify_all(&db).await.expect("verify");
    let chain = reports
        .iter()
        .find(|r| r.clinic_id == Some(clinic.0))
        .expect("clinic chain");
    assert_eq!(chain.broken, None);
    assert_eq!(chain.events_checked, 26);
}

#[tokio::test]
async fn events_a_stopped_process_left_queued_are_sealed_in_order() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let clinic = clinics::create(
        &db,
        &AuditContext::cli(),
        clinic_input("alpha", "o@alpha.example"),
    )
    .await
    .expect("clinic");
    // Committed with their change, but the process stopped before sealing.
    let leave_queued = |subject: &str| {
        format!(
            "INSERT INTO audit_queue (clinic_id, occurred_at, actor_kind, actor_label, action, \
             subject_kind, subject_id) VALUES ('{}', now(), 'system', 'system', 'test.left', \
             'test', '{subject}')",
            clinic.0
        )
    };
    for subject in ["first", "second"] {
        test_db
            .admin_execute(&leave_queued(subject))
            .await
            .expect("queue");
    }
    assert_eq!(
        audit::count_for_clinic(&db, clinic).await.expect("count"),
        2
    );

    let edit = db
        .scoped(Scope::Clinic(clinic), |c| {
            Box::pin(async move {
                use diesel_async::RunQueryDsl;
                Ok::<_, DbError>(
                    diesel::sql_query("UPDATE audit_queue SET actor_label = 'someone else'")
                        .execute(c)
                        .await?,
                )
            })
        })
        .await
        .expect_err("queued events cannot be edited");
    assert!(edit.to_string().contains("never edited"), "{edit}");

    // The worker's sweep seals them after the events already chained.
    assert_eq!(audit::seal_all_queued(&db).await.expect("sweep"), 2);
    assert_eq!(queued(&db).await, 0);
    let subjects = count(
        &db,
        format!(
            "SELECT count(*) AS n FROM audit_events WHERE clinic_id = '{}' AND \
             ((seq = 3 AND subject_id = 'first') OR (seq = 4 AND subject_id = 'second'))",
            clinic.0
        ),
    )
    .await;
    assert_eq!(subjects, 2, "sealed in the order they were queued");

    // `audit verify` seals what is still queued before it checks.
    test_db
        .admin_execute(&leave_queued("third"))
        .await
        .expect("queue");
    let reports = audit::verify_all(&db).await.expect("verify");
    let chain = reports
        .iter()
        .find(|r| r.clinic_id == Some(clinic.0))
        .expect("clinic chain");
    assert_eq!(chain.broken, None);
    assert_eq!(chain.events_checked, 5);
    assert_eq!(queued(&db).await, 0);
}

#[tokio::test]
async fn the_database_refuses_to_update_or_delete_audit_events() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let clinic = clinics::create(
        &db,
        &AuditContext::cli(),
        clinic_input("alpha", "o@alpha.example"),
    )
    .await
    .expect("clinic");
    for sql in [
        "UPDATE audit_events SET actor_label = 'someone else'",
        "DELETE FROM audit_events",
    ] {
        let result = db
            .scoped(Scope::Clinic(clinic), move |c| {
                Box::pin(async move {
                    use diesel_async::RunQueryDsl;
                    Ok::<_, DbError>(diesel::sql_query(sql).execute(c).await?)
                })
            })
            .await;
        let error = result.expect_err(sql).to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    let truncate = test_db.admin_execute("TRUNCATE audit_events CASCADE").await;
    assert!(
        truncate.is_err(),
        "even the superuser cannot truncate it by accident"
    );
}

#[tokio::test]
async fn audit_verify_names_the_row_that_was_tampered_with() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let ctx = AuditContext::cli();
    let clinic = clinics::create(&db, &ctx, clinic_input("alpha", "o@alpha.example"))
        .await
        .expect("clinic");
    clinics::create(&db, &ctx, clinic_input("bravo", "o@bravo.example"))
        .await
        .expect("clinic");
    let env = [("DATABASE_URL", test_db.url.expose_secret().to_owned())];

    let intact = run_cli(&["audit", "verify"], &env);
    let stdout = String::from_utf8_lossy(&intact.stdout);
    assert_eq!(intact.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("3 chains, 6 events intact"), "{stdout}");

    // Tamper as the superuser with triggers off, as an attacker with database
    // access would.
    test_db
        .admin_execute(&format!(
            "SET session_replication_role = replica; \
             UPDATE audit_events SET details = '{{\"slug\": \"evil\"}}' WHERE clinic_id = '{}' AND seq = 2",
            clinic.0
        ))
        .await
        .expect("tamper");
    let id: i64 = {
        use app::backend::db::schema::audit_events;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        db.scoped(Scope::Clinic(clinic), |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    audit_events::table
                        .filter(audit_events::seq.eq(2))
                        .select(audit_events::id)
                        .first(c)
                        .await?,
                )
            })
        })
        .await
        .expect("row id")
    };

    let broken = run_cli(&["audit", "verify"], &env);
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{stdout}");
    let expected = ChainBreak::HashMismatch { id, seq: 2 }.to_string();
    assert!(
        stdout.contains(&format!("BROKEN  clinic alpha: {expected}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok      clinic bravo"),
        "other chains still verify: {stdout}"
    );

    // Deleting a row instead is named as a gap.
    test_db
        .admin_execute(
            "SET session_replication_role = replica; \
             DELETE FROM audit_events WHERE clinic_id = (SELECT id FROM clinics WHERE slug = 'bravo') AND seq = 1",
        )
        .await
        .expect("delete");
    let gap = run_cli(&["audit", "verify"], &env);
    let stdout = String::from_utf8_lossy(&gap.stdout);
    assert!(stdout.contains("BROKEN  clinic bravo"), "{stdout}");
    assert!(stdout.contains("2 of 3 chains broken"), "{stdout}");
}
