use app::backend::audit::AuditContext;
use app::backend::db::redo_all_migrations;
use app::backend::services::clinics;

use crate::common::TestDb;
use crate::tenancy::clinic_input;

#[tokio::test]
async fn every_migration_reverts_and_applies_again() {
    let test_db = TestDb::new().await;
    redo_all_migrations(test_db.url.clone())
        .await
        .expect("down then up");
    let db = test_db.db();
    assert!(db.pending_migrations().await.expect("pending").is_empty());
    clinics::create(
        &db,
        &AuditContext::cli(),
        clinic_input("alpha", "o@alpha.example"),
    )
    .await
    .expect("the schema works after the round trip");
}
