//! Row-level security: the second wall between clinics.

use app::backend::audit::AuditContext;
use app::backend::db::schema::privacy_requests;
use app::backend::db::{Conn, Db, DbError};
use app::backend::jobs::{self, NewJob};
use app::backend::services::clinics::{self, CreateClinic, NewOwner};
use app::backend::tenancy::Scope;
use app::domain::clinic::{ClinicId, ClinicSlug};
use app::domain::clinic_profile::ClinicProfileForm;
use app::domain::email::EmailAddress;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::RunQueryDsl;

use crate::common::TestDb;

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    table_name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Security {
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Bool)]
    forced: bool,
    #[diesel(sql_type = BigInt)]
    policies: i64,
}

/// Every table with a `clinic_id` column, read from the live schema.
async fn tenant_tables(db: &Db) -> Vec<String> {
    let mut conn = db.conn().await.expect("connection");
    let rows: Vec<TableName> = diesel::sql_query(
        "SELECT table_name::text AS table_name FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name = 'clinic_id' ORDER BY table_name",
    )
    .load(&mut conn)
    .await
    .expect("schema query");
    rows.into_iter().map(|r| r.table_name).collect()
}

async fn count(conn: &mut Conn, sql: String) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .expect("count query")
        .n
}

pub fn clinic_input(slug: &str, owner: &str) -> CreateClinic {
    let profile = ClinicProfileForm {
        name: format!("Clinic {slug}"),
        legal_name: format!("Clinic {slug} Ltd"),
        country: "DE".into(),
        jurisdiction: "eu_gdpr".into(),
        default_locale: "en".into(),
        deadline: "30".into(),
        notice_period_days: "30".into(),
        contact_email: format!("privacy@{slug}.example"),
        authority_name: "Data Protection Authority".into(),
        ..ClinicProfileForm::default()
    }
    .validate()
    .expect("valid profile");
    CreateClinic {
        slug: ClinicSlug::parse(slug).expect("slug"),
        profile,
        owner: Some(NewOwner {
            email: EmailAddress::parse(owner).expect("email"),
            display_name: "Owner".into(),
        }),
    }
}

/// Two clinics with a row in every tenant table each.
pub async fn two_clinics(db: &Db) -> (ClinicId, ClinicId) {
    let ctx = AuditContext::system();
    let a = clinics::create(db, &ctx, clinic_input("alpha", "owner@alpha.example"))
        .await
        .expect("clinic a");
    let b = clinics::create(db, &ctx, clinic_input("bravo", "owner@bravo.example"))
        .await
        .expect("clinic b");
    for clinic in [a, b] {
        db.scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let mut job = NewJob::now("email.send", serde_json::json!({}));
                job.clinic_id = Some(clinic);
                let job_id = jobs::enqueue(c, job).await?.expect("new job");
                let id = clinic.0;
                let connection = uuid::Uuid::new_v4();
                let request = uuid::Uuid::new_v4();
                let (document, version) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
                let (list, campaign) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
                let (subprocessor, change) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
                let (purpose, config) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
                let export = uuid::Uuid::new_v4();
                let tag = if clinic == a { "AAAA" } else { "BBBB" };
                let hash = |n: u8| format!("\\x{}", format!("{n:02x}").repeat(16) + &uuid::Uuid::new_v4().simple().to_string());
                for sql in [
                    // An event a stopped process left waiting for its chain.
                    format!(
                        "INSERT INTO audit_queue (clinic_id, occurred_at, actor_kind, actor_label, \
                         action, subject_kind, subject_id) \
                         VALUES ('{id}', now(), 'system', 'system', 'test.queued', 'test', '{tag}')"
                    ),
                    format!(
                        "INSERT INTO email_deliveries (clinic_id, job_id, message_id, template, recipient, status) \
                         VALUES ('{id}', {job_id}, '<m@test>', 'delivery_check', 'p@example.org', 'sent')"
                    ),
                    format!(
                        "INSERT INTO sso_connections (id, clinic_id, display_name, issuer_url, client_id, \
                         client_secret_sealed, membership_mode) VALUES ('{connection}', '{id}', 'IdP', \
                         'https://idp.example', 'portal', '\\x00', 'invitation')"
                    ),
                    format!(
                        "INSERT INTO sso_domains (domain, connection_id, clinic_id) \
                         VALUES ('{}.example', '{connection}', '{id}')",
                        connection.simple()
                    ),
                    format!(
                        "INSERT INTO invitations (id, clinic_id, email, role, token_hash, expires_at) \
                         VALUES ('{}', '{id}', 'new@example.org', 'viewer', '\\x{}{}', now() + interval '7 days')",
                        uuid::Uuid::new_v4(),
                        uuid::Uuid::new_v4().simple(),
                        uuid::Uuid::new_v4().simple()
                    ),
                    format!(
                        "INSERT INTO privacy_requests (id, clinic_id, reference, kind, status, source, \
                         requester_name, requester_email, verified_at, base_due_on, due_on) VALUES \
                         ('{request}', '{id}', 'PR-{tag}-2345', 'access', 'new', 'web_form', 'Pat', \
                         'pat@example.org', now(), current_date + 30, current_date + 30)"
                    ),
                    format!(
                        "INSERT INTO request_events (clinic_id, request_id, kind, author_kind, visible_to_requester) \
                         VALUES ('{id}', '{request}', 'verified', 'system', true)"
                    ),
                    format!(
                        "INSERT INTO request_files (id, clinic_id, request_id, filename, content_type, size_bytes, \
                         sha256, sealed) VALUES ('{}', '{id}', '{request}', 'reply.pdf', 'application/pdf', 1, \
                         '{}', '\\x00')",
                        uuid::Uuid::new_v4(),
                        hash(1)
                    ),
                    format!(
                        "INSERT INTO download_grants (id, clinic_id, request_id, token_hash, expires_at) \
                         VALUES ('{}', '{id}', '{request}', '{}', now() + interval '7 days')",
                        uuid::Uuid::new_v4(),
                        hash(2)
                    ),
                    format!(
                        "INSERT INTO meta_deletions (confirmation_code, clinic_id, request_id, meta_user_id) \
                         VALUES ('{tag}{tag}2345', '{id}', '{request}', '1234')"
                    ),
                    format!(
                        "INSERT INTO meta_callback_replays (clinic_id, callback, digest, confirmation_code, seen_at) \
                         VALUES ('{id}', 'data_deletion', '\\x{}{}', '{tag}{tag}2345', now())",
                        uuid::Uuid::new_v4().simple(),
                        uuid::Uuid::new_v4().simple()
                    ),
                                    format!(
                        "INSERT INTO documents (id, clinic_id, kind) VALUES ('{document}', '{id}', 'privacy_notice')"
                    ),
                    format!(
                        "INSERT INTO document_versions (id, document_id, clinic_id, number, state, title, body_md, \
                         summary, material, effective_at, published_at) VALUES ('{version}', '{document}', '{id}', 1, \
                         'effective', 'Notice', 'Text', 'Summary', true, now(), now())"
                    ),
                    format!(
                        "INSERT INTO subscribers (id, clinic_id, email, status, confirmed_at) \
                         VALUES ('{}', '{id}', 'sub@example.org', 'confirmed', now())",
                        uuid::Uuid::new_v4()
                    ),
                    format!(
                        "INSERT INTO suppressions (clinic_id, email, reason) VALUES ('{id}', 'gone@example.org', 'unsubscribed')"
                    ),
                    format!(
                        "INSERT INTO recipient_lists (id, clinic_id, name) VALUES ('{list}', '{id}', 'Patients')"
                    ),
                    format!(
                        "INSERT INTO recipient_list_members (list_id, clinic_id, email) VALUES ('{list}', '{id}', 'p@example.org')"
                    ),
                    format!(
                        "INSERT INTO campaigns (id, clinic_id, version_id) VALUES ('{campaign}', '{id}', '{version}')"
                    ),
                    format!(
                        "INSERT INTO campaign_recipients (campaign_id, clinic_id, email) VALUES ('{campaign}', '{id}', 'p@example.org')"
                    ),
                    format!(
                        "INSERT INTO acknowledgements (version_id, clinic_id, user_id) \
                         SELECT '{version}', '{id}', user_id FROM memberships WHERE clinic_id = '{id}' LIMIT 1"
                    ),
                    format!(
                        "INSERT INTO subprocessors (id, clinic_id, legal_name, service, purpose, data_categories, \
                         countries, safeguard, status, active_since) VALUES ('{subprocessor}', '{id}', 'Host Ltd', \
                         'Hosting', 'Hosting', ARRAY['technical_logs'], ARRAY['DE'], 'not_needed', 'active', now())"
                    ),
                    format!(
                        "INSERT INTO subprocessor_changes (id, clinic_id, kind, subprocessor_id, summary, \
                         objection_deadline, effective_at) VALUES ('{change}', '{id}', 'add', '{subprocessor}', \
                         'A new host', now() + interval '30 days', now() + interval '30 days')"
                    ),
                    format!(
                        "INSERT INTO subprocessor_objections (id, change_id, clinic_id, reason) \
                         VALUES ('{}', '{change}', '{id}', 'We cannot accept this host.')",
                        uuid::Uuid::new_v4()
                    ),
                    format!(
                        "INSERT INTO consent_purposes (id, clinic_id, key, channel, name_en, name_uk, \
                         description_en, description_uk, legal_basis) VALUES ('{purpose}', '{id}', \
                         'analytics', 'website', 'Analytics', '', 'Counting visits.', '', 'consent')"
                    ),
                    format!(
                        "INSERT INTO consent_cookies (id, clinic_id, purpose_id, name, domain, provider, \
                         duration, party) VALUES ('{}', '{id}', '{purpose}', '_pk_id', 'clinic.example', \
                         'Analytics', '13 months', 'first')",
                        uuid::Uuid::new_v4()
                    ),
                    format!(
                        "INSERT INTO consent_configs (id, clinic_id, version, content_hash, purposes) \
                         VALUES ('{config}', '{id}', 1, '{}', '[]')",
                        "ab".repeat(32)
                    ),
                    format!(
                        "INSERT INTO consent_keys (clinic_id, key_id, public_key, secret_sealed) \
                         VALUES ('{id}', 'k1', '\\x{}', '\\x00')",
                        "00".repeat(32)
                    ),
                    format!(
                        "INSERT INTO consent_records (id, clinic_id, subject_id, config_id, choices, source, \
                         recorded_at, receipt) VALUES ('{}', '{id}', 'subject-0123456789', '{config}', \
                         '{{}}', 'api', now(), 'a.b.c')",
                        uuid::Uuid::new_v4()
                    ),
                    format!(
                        "INSERT INTO retention_rules (clinic_id, category, period_days, action) \
                         VALUES ('{id}', 'email_log', 60, 'delete')"
                    ),
                    format!(
                        "INSERT INTO retention_runs (id, clinic_id, dry_run, trigger, started_at) \
                         VALUES ('{}', '{id}', true, 'cli', now())",
                        uuid::Uuid::new_v4()
                    ),
                    format!(
                        "INSERT INTO audit_anchors (clinic_id, seq, hash) VALUES ('{id}', 1, '\\x{}')",
                        "00".repeat(32)
                    ),
                    format!(
                        "INSERT INTO clinic_exports (id, clinic_id, reason, expires_at) \
                         VALUES ('{export}', '{id}', 'requested', now() + interval '7 days')"
                    ),
                    format!(
                        "INSERT INTO clinic_export_chunks (export_id, clinic_id, n, sealed) \
                         VALUES ('{export}', '{id}', 0, '\\x00')"
                    ),
                ] {
                    diesel::sql_query(sql).execute(c).await?;
                }
                Ok::<_, DbError>(())
            })
        })
        .await
        .expect("tenant rows");
    }
    (a, b)
}

#[tokio::test]
async fn every_tenant_table_has_forced_row_level_security_with_a_policy() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let tables = tenant_tables(&db).await;
    assert!(
        tables.len() >= 4,
        "expected the tenant tables, found {tables:?}"
    );
    let mut conn = db.conn().await.expect("connection");
    for table in &tables {
        let security: Security = diesel::sql_query(format!(
            "SELECT c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced, \
             (SELECT count(*) FROM pg_policies p WHERE p.tablename = '{table}') AS policies \
             FROM pg_class c WHERE c.relname = '{table}' AND c.relkind = 'r'"
        ))
        .get_result(&mut conn)
        .await
        .expect("pg_class row");
        assert!(
            security.enabled && security.forced,
            "{table}: row-level security must be enabled and forced"
        );
        assert!(security.policies >= 1, "{table}: no policy");
    }
    assert!(
        db.role_bypassing_rls().await.expect("role query").is_none(),
        "the app role must not bypass RLS"
    );
}

#[tokio::test]
async fn no_scope_sees_no_tenant_rows_and_one_clinic_never_sees_another() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let (a, b) = two_clinics(&db).await;
    let tables = tenant_tables(&db).await;

    for table in tables {
        let t = table.clone();
        let unscoped = db
            .unscoped(move |c| {
                Box::pin(async move {
                    Ok::<_, DbError>(count(c, format!("SELECT count(*) AS n FROM {t}")).await)
                })
            })
            .await
            .expect("unscoped count");
        assert_eq!(
            unscoped, 0,
            "{table}: rows visible outside any clinic scope"
        );

        for (mine, theirs) in [(a, b), (b, a)] {
            let t = table.clone();
            let (own, foreign) = db
                .scoped(Scope::Clinic(mine), move |c| {
                    Box::pin(async move {
                        let own = count(c, format!("SELECT count(*) AS n FROM {t}")).await;
                        let foreign = count(
                            c,
                            format!("SELECT count(*) AS n FROM {t} WHERE clinic_id IS DISTINCT FROM '{}'", mine.0),
                        )
                        .await;
                        Ok::<_, DbError>((own, foreign))
                    })
                })
                .await
                .expect("scoped count");
            assert!(own > 0, "{table}: the clinic should see its own rows");
            assert_eq!(foreign, 0, "{table}: clinic {mine} sees rows of {theirs}");
        }

        let t = table.clone();
        let all = db
            .scoped(Scope::System, move |c| {
                Box::pin(async move {
                    Ok::<_, DbError>(
                        count(c, format!("SELECT count(DISTINCT clinic_id) AS n FROM {t}")).await,
                    )
                })
            })
            .await
            .expect("system count");
        assert_eq!(all, 2, "{table}: the system scope sees both clinics");
    }
}

#[tokio::test]
async fn writing_a_row_for_another_clinic_is_refused_by_the_database() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let (a, b) = two_clinics(&db).await;
    let result = db
        .scoped(Scope::Clinic(a), move |c| {
            Box::pin(async move {
                let mut job = NewJob::now("email.send", serde_json::json!({}));
                job.clinic_id = Some(b);
                Ok::<_, DbError>(jobs::enqueue(c, job).await?)
            })
        })
        .await;
    let error = result.expect_err("the insert must be refused").to_string();
    assert!(error.contains("row-level security"), "{error}");

    let moved = db
        .scoped(Scope::Clinic(a), move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    diesel::sql_query(format!("UPDATE jobs SET clinic_id = '{}'", b.0))
                        .execute(c)
                        .await?,
                )
            })
        })
        .await;
    assert!(
        moved.is_err(),
        "moving a row to another clinic must be refused"
    );

    // A row of clinic A cannot point at clinic B's request: the reference
    // carries the clinic, and the database checks both.
    let attached = db
        .scoped(Scope::Clinic(a), move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    diesel::sql_query(format!(
                        "INSERT INTO request_events (clinic_id, request_id, kind, author_kind, \
                         visible_to_requester) SELECT '{}', id, 'note', 'staff', false \
                         FROM privacy_requests WHERE reference = 'PR-BBBB-2345'",
                        a.0
                    ))
                    .execute(c)
                    .await?,
                )
            })
        })
        .await;
    // Under A's scope B's request is invisible, so nothing is inserted…
    assert_eq!(attached.expect("a harmless statement"), 0);
    let b_request: uuid::Uuid = db
        .scoped(Scope::Clinic(b), |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    privacy_requests::table
                        .filter(privacy_requests::reference.eq("PR-BBBB-2345"))
                        .select(privacy_requests::id)
                        .first(c)
                        .await?,
                )
            })
        })
        .await
        .expect("B's request");
    // …and naming its id directly breaks the composite foreign key.
    let forged = db
        .scoped(Scope::Clinic(a), move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    diesel::sql_query(format!(
                        "INSERT INTO request_events (clinic_id, request_id, kind, author_kind, \
                         visible_to_requester) VALUES ('{}', '{b_request}', 'note', 'staff', false)",
                        a.0
                    ))
                    .execute(c)
                    .await?,
                )
            })
        })
        .await;
    let error = forged.expect_err("a cross-clinic reference").to_string();
    assert!(error.contains("foreign key"), "{error}");
}
