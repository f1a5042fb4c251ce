//! Consent and cookie settings: a clinic's purposes and cookie inventory,
//! the configuration versions published from them, the clinic's receipt
//! key, and the consent records.
//!
//! Records arrive from the banner, the settings page, the API and patients.
//! They are written by [`Runtime`]'s writers, which put every record that
//! arrived while the previous commit ran into one multi-row INSERT: a
//! record is acknowledged only after its batch committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::RngCore as _;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::backend::audit::{self, AuditContext, AuditEntry};
use crate::backend::cache::TtlCache;
use crate::backend::db::schema::{
    clinics, consent_configs, consent_cookies, consent_keys, consent_purposes, consent_records,
    retention_rules,
};
use crate::backend::db::{Conn, Db, DbError};
use crate::backend::error::AppError;
use crate::backend::models::clinic::Clinic;
use crate::backend::state::AppState;
use crate::backend::tenancy::Scope;
use crate::domain::clinic::ClinicId;
use crate::domain::consent::{
    self as rules, Channel, Choices, CookieEntry, Party, PublishedPurpose, Purpose, Receipt,
    ReceiptInput, ReceiptSigner, Source, WeeklyRate,
};
use crate::domain::locale::Locale;
use crate::domain::pagination::{Page, PageRequest};
use crate::domain::retention::Category as RetentionCategory;

/// Sealing purpose of the receipt keys' private halves.
const KEY_SEAL: &str = "consent.receipt-key";
/// How long a published configuration is served from memory.
const CACHE_TTL: Duration = Duration::from_secs(2);
/// Most configurations kept; the cache starts over when full.
const CACHE_MAX_ENTRIES: usize = 10_000;
/// Most records written in one INSERT.
const BATCH_MAX: usize = 500;
/// Writers committing batches side by side, by default. One writer measured
/// best: while its batch commits the next one gathers, so batches grow with
/// the load and Postgres spends less per record than with two writers
/// committing smaller batches.
pub const DEFAULT_WRITERS: usize = 1;

/// A purpose as stored.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = consent_purposes)]
pub struct PurposeRow {
    pub id: Uuid,
    pub clinic_id: Uuid,
    pub key: String,
    pub channel: String,
    pub name_en: String,
    pub name_uk: String,
    pub description_en: String,
    pub description_uk: String,
    pub legal_basis: String,
    pub strictly_necessary: bool,
    pub position: i32,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PurposeRow {
    /// The purpose as its edit form shows it.
    pub fn form(&self) -> rules::PurposeForm {
        rules::PurposeForm {
            key: self.key.clone(),
            channel: self.channel.clone(),
            name_en: self.name_en.clone(),
            name_uk: self.name_uk.clone(),
            description_en: self.description_en.clone(),
            description_uk: self.description_uk.clone(),
            legal_basis: self.legal_basis.clone(),
            strictly_necessary: self.strictly_necessary,
            position: self.position.to_string(),
        }
    }

    fn published(&self) -> PublishedPurpose {
        PublishedPurpose {
            key: self.key.clone(),
            channel: self.channel.clone(),
            name: rules::Localized {
                en: self.name_en.clone(),
                uk: self.name_uk.clone(),
            },
            description: rules::Localized {
                en: self.description_en.clone(),
                uk: self.description_uk.clone(),
            },
            legal_basis: self.legal_basis.clone(),
            strictly_necessary: self.strictly_necessary,
        }
    }
}

/// A cookie as stored, with its purpose's key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CookieRow {
    pub id: Uuid,
    pub name: String,
    pub domain: String,
    pub provider: String,
    pub duration: String,
    pub party: String,
    pub purpose: String,
}

impl CookieRow {
    /// The cookie as its edit form shows it.
    pub fn form(&self) -> rules::CookieForm {
        rules::CookieForm {
            name: self.name.clone(),
            domain: self.domain.clone(),
            provider: self.provider.clone(),
            duration: self.duration.clone(),
            party: self.party.clone(),
            purpose: self.purpose.clone(),
        }
    }
}

/// A configuration version.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = consent_configs)]
pub struct ConfigRow {
    pub id: Uuid,
    pub clinic_id: Uuid,
    pub version: i32,
    pub content_hash: String,
    pub purposes: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A consent record.
#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = consent_records)]
pub struct RecordRow {
    pub id: Uuid,
    pub clinic_id: Uuid,
    pub subject_id: String,
    pub config_id: Uuid,
    pub choices: serde_json::Value,
    pub source: String,
    pub gpc: bool,
    pub recorded_at: DateTime<Utc>,
    pub receipt: String,
}

/// What a clinic currently asks, as the banner, the settings page and the
/// API serve it.
#[derive(Clone, Debug)]
pub struct Published {
    pub clinic_id: ClinicId,
    pub slug: String,
    pub clinic_name: String,
    pub legal_name: String,
    /// The clinic's privacy contact, named in receipts.
    pub contact_email: String,
    /// ISO 3166-1 alpha-2 code of the clinic's country, the receipts'
    /// jurisdiction.
    pub country: String,
    /// How long the clinic keeps consent records (its retention rule, else
    /// the default), in days; receipts say so.
    pub record_retention_days: i32,
    pub allowed_origins: Vec<String>,
    /// `None` until the clinic has saved a purpose.
    pub config: Option<PublishedConfig>,
    pub cookies: Vec<CookieRow>,
}

/// The current configuration version.
#[derive(Clone, Debug)]
pub struct PublishedConfig {
    pub id: Uuid,
    pub version: i32,
    pub content_hash: String,
    pub purposes: Vec<PublishedPurpose>,
}

impl Published {
    /// The purposes asked on `channel`.
    pub fn purposes(&self, channel: Channel) -> Vec<&PublishedPurpose> {
        self.config
            .iter()
            .flat_map(|c| c.purposes.iter())
            .filter(|p| p.channel == channel.as_str())
            .collect()
    }

    /// Whether a browser on `origin` may call the consent API.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
    }
}

struct Pending {
    row: RecordRow,
    done: oneshot::Sender<Result<(), String>>,
}

/// Consent API requests accepted per minute from one address by default.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 600;

type Limiter = governor::DefaultKeyedRateLimiter<String>;

/// In-process state of the consent service: caches, the per-address rate
/// limit of the API and the record writers.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    configs: TtlCache<String, Arc<Published>>,
    keys: RwLock<HashMap<ClinicId, Arc<ReceiptSigner>>>,
    writer: Mutex<Option<mpsc::Sender<Pending>>>,
    /// Loads of a key wait for one another (the first makes or opens it).
    key_load: tokio::sync::Mutex<()>,
    limiter: Limiter,
    writers: usize,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new(DEFAULT_RATE_PER_MINUTE, DEFAULT_WRITERS)
    }
}

impl Runtime {
    /// A runtime whose API accepts `per_minute` requests per address (in
    /// bursts of up to a tenth of that, at least 10), with `writers` record
    /// writers.
    pub fn new(per_minute: u32, writers: usize) -> Self {
        let rate =
            std::num::NonZeroU32::new(per_minute.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        let burst = std::num::NonZeroU32::new((per_minute / 10).max(10))
            .unwrap_or(std::num::NonZeroU32::MIN);
        let quota = governor::Quota::per_minute(rate).allow_burst(burst);
        Self {
            inner: Arc::new(RuntimeInner {
                configs: TtlCache::new(CACHE_TTL, CACHE_MAX_ENTRIES),
                keys: RwLock::default(),
                writer: Mutex::default(),
                key_load: tokio::sync::Mutex::default(),
                limiter: governor::RateLimiter::keyed(quota),
                writers: writers.max(1),
            }),
        }
    }

    /// Counts a request from `address`; false when it is over the limit.
    pub fn allow(&self, address: &str) -> bool {
        let allowed = self.inner.limiter.check_key(&address.to_owned()).is_ok();
        if self.inner.limiter.len() > 100_000 {
            self.inner.limiter.retain_recent();
        }
        allowed
    }

    /// Forgets every cached configuration (after an admin change here; other
    /// nodes notice within [`CACHE_TTL`]).
    pub fn forget(&self) {
        self.inner.configs.clear();
    }

    fn sender(&self, db: &Db) -> mpsc::Sender<Pending> {
        let mut writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = writer.as_ref().filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel::<Pending>(BATCH_MAX * 8);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..self.inner.writers {
            tokio::spawn(write_batches(db.clone(), rx.clone()));
        }
        *writer = Some(tx.clone());
        tx
    }
}

/// Takes what is waiting (at least one record), writes it in one
/// statement and answers each sender. Each writer owns a connection whose
/// session is in the system scope, so a batch is one round trip: a
/// multi-row `INSERT` that commits by itself. A failed batch is refused to
/// its senders and the connection is opened again for the next one.
async fn write_batches(db: Db, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>) {
    let mut conn: Option<Conn> = None;
    loop {
        let mut batch = Vec::with_capacity(BATCH_MAX);
        if rx.lock().await.recv_many(&mut batch, BATCH_MAX).await == 0 {
            return;
        }
        metrics::histogram!("consent_batch_size").record(batch.len() as f64);
        let (rows, senders): (Vec<RecordRow>, Vec<_>) =
            batch.into_iter().map(|p| (p.row, p.done)).unzip();
        let result = write_batch(&db, &mut conn, &InsertRecords::new(rows)).await;
        for done in senders {
            let _ = done.send(result.clone());
        }
    }
}

async fn write_batch(
    db: &Db,
    conn: &mut Option<Conn>,
    insert: &InsertRecords,
) -> Result<(), String> {
    // A connection that broke while idle (Postgres restarted) gets one more
    // try on a new one. Should the first INSERT have committed after all,
    // the second fails on the primary key: nothing is stored twice.
    loop {
        let fresh = conn.is_none();
        let c = match conn {
            Some(c) => c,
            None => conn.insert(
                db.dedicated(Scope::System)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
        };
        let written = insert.execute(c).await;
        match written {
            Ok(_) => return Ok(()),
            Err(e) => {
                *conn = None;
                if fresh {
                    return Err(e.to_string());
                }
            }
        }
    }
}

/// A batch of records as one `INSERT … SELECT FROM unnest(…)` with an array
/// per column. Its text is the same whatever the batch's size, so each
/// writer's connection prepares it once and Postgres neither parses nor
/// plans it again; a multi-row `VALUES` would be a new statement per size.
#[derive(Default)]
struct InsertRecords {
    ids: Vec<Uuid>,
    clinics: Vec<Uuid>,
    subjects: Vec<String>,
    configs: Vec<Uuid>,
    choices: Vec<serde_json::Value>,
    sources: Vec<String>,
    gpc: Vec<bool>,
    recorded_at: Vec<DateTime<Utc>>,
    receipts: Vec<String>,
}

impl InsertRecords {
    fn new(rows: Vec<RecordRow>) -> Self {
        let mut insert = Self::default();
        for row in rows {
            insert.ids.push(row.id);
            insert.clinics.push(row.clinic_id);
            insert.subjects.push(row.subject_id);
            insert.configs.push(row.config_id);
            insert.choices.push(row.choices);
            insert.sources.push(row.source);
            insert.gpc.push(row.gpc);
            insert.recorded_at.push(row.recorded_at);
            insert.receipts.push(row.receipt);
        }
        insert
    }
}

impl diesel::query_builder::QueryId for InsertRecords {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for InsertRecords {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, Bool, Jsonb, Uuid as SqlUuid};
        out.push_sql(
            "INSERT INTO consent_records \
             (id, clinic_id, subject_id, config_id, choices, source, gpc, recorded_at, receipt) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<SqlUuid>, _>(&self.ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<SqlUuid>, _>(&self.clinics)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.subjects)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<SqlUuid>, _>(&self.configs)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Jsonb>, _>(&self.choices)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.sources)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Bool>, _>(&self.gpc)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.recorded_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.receipts)?;
        out.push_sql(")");
        Ok(())
    }
}

/// The current configuration of the active clinic `slug`.
pub async fn published(state: &AppState, slug: &str) -> Result<Option<Arc<Published>>, DbError> {
    if let Some(hit) = state.consent.inner.configs.get(slug) {
        return Ok(Some(hit));
    }
    if crate::domain::clinic::ClinicSlug::parse(slug).is_err() {
        return Ok(None);
    }
    let mut conn = state.db.conn().await?;
    let Some(clinic) = clinics::table
        .filter(clinics::slug.eq(slug))
        .filter(clinics::status.eq("active"))
        .select(Clinic::as_select())
        .first(&mut conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    drop(conn);
    let clinic_id = ClinicId(clinic.id);
    let (config, cookies, retention_days) = state
        .db
        .scoped(Scope::Clinic(clinic_id), move |c| {
            Box::pin(async move {
                let config = latest_config(c, clinic_id).await?;
                let cookies = load_cookies(c, clinic_id).await?;
                let retention_days: Option<i32> = retention_rules::table
                    .filter(retention_rules::clinic_id.eq(clinic_id.0))
                    .filter(
                        retention_rules::category.eq(RetentionCategory::ConsentRecords.as_str()),
                    )
                    .select(retention_rules::period_days)
                    .first(c)
                    .await
                    .optional()?;
                Ok::<_, DbError>((config, cookies, retention_days))
            })
        })
        .await?;
    let published = Arc::new(Published {
        clinic_id,
        slug: clinic.slug.clone(),
        clinic_name: clinic.name,
        legal_name: clinic.legal_name,
        contact_email: clinic.contact_email,
        country: clinic.country,
        record_retention_days: retention_days
            .unwrap_or_else(|| RetentionCategory::ConsentRecords.default_rule().period_days),
        allowed_origins: clinic.allowed_origins,
        config: config.map(|row| PublishedConfig {
            id: row.id,
            version: row.version,
            content_hash: row.content_hash,
            purposes: serde_json::from_value(row.purposes).unwrap_or_default(),
        }),
        cookies,
    });
    state
        .consent
        .inner
        .configs
        .put(slug.to_owned(), published.clone());
    Ok(Some(published))
}

async fn latest_config(c: &mut Conn, clinic: ClinicId) -> QueryResult<Option<ConfigRow>> {
    consent_configs::table
        .filter(consent_configs::clinic_id.eq(clinic.0))
        .order(consent_configs::version.desc())
        .select(ConfigRow::as_select())
        .first(c)
        .await
        .optional()
}

async fn load_cookies(c: &mut Conn, clinic: ClinicId) -> QueryResult<Vec<CookieRow>> {
    let rows: Vec<(Uuid, String, String, String, String, String, String)> = consent_cookies::table
        .inner_join(consent_purposes::table)
        .filter(consent_cookies::clinic_id.eq(clinic.0))
        .order((
            consent_purposes::position.asc(),
            consent_purposes::key.asc(),
            consent_cookies::name.asc(),
        ))
        .select((
            consent_cookies::id,
            consent_cookies::name,
            consent_cookies::domain,
            consent_cookies::provider,
            consent_cookies::duration,
            consent_cookies::party,
            consent_purposes::key,
        ))
        .load(c)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, domain, provider, duration, party, purpose)| CookieRow {
                id,
                name,
                domain,
                provider,
                duration,
                party,
                purpose,
            },
        )
        .collect())
}

fn cached_key(state: &AppState, clinic: ClinicId) -> Option<Arc<ReceiptSigner>> {
    state
        .consent
        .inner
        .keys
        .read()
        .ok()
        .and_then(|keys| keys.get(&clinic).cloned())
}

/// The clinic's receipt key, made on first use.
pub async fn clinic_key(
    state: &AppState,
    clinic: ClinicId,
) -> Result<Arc<ReceiptSigner>, AppError> {
    if let Some(key) = cached_key(state, clinic) {
        return Ok(key);
    }
    let _loading = state.consent.inner.key_load.lock().await;
    if let Some(key) = cached_key(state, clinic) {
        return Ok(key);
    }
    let crypto = state.crypto.clone();
    let sealed = state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let mut secret = [0u8; 32];
                rand::rng().fill_bytes(&mut secret);
                let key = SigningKey::from_bytes(&secret);
                let public = key.verifying_key();
                let inserted = diesel::insert_into(consent_keys::table)
                    .values((
                        consent_keys::clinic_id.eq(clinic.0),
                        consent_keys::key_id.eq(rules::key_id(&public)),
                        consent_keys::public_key.eq(public.as_bytes().to_vec()),
                        consent_keys::secret_sealed.eq(crypto.seal(KEY_SEAL, &secret)),
                    ))
                    .on_conflict_do_nothing()
                    .execute(c)
                    .await?;
                if inserted == 1 {
                    audit::record(
                        c,
                        &AuditContext::system(),
                        AuditEntry {
                            clinic_id: Some(clinic),
                            action: "consent.receipt_key_created",
                            subject_kind: "consent_key",
                            subject_id: rules::key_id(&public),
                            details: json!({ "algorithm": "Ed25519" }),
                        },
                    )
                    .await?;
                }
                let sealed: Vec<u8> = consent_keys::table
                    .find(clinic.0)
                    .select(consent_keys::secret_sealed)
                    .first(c)
                    .await?;
                Ok::<_, AppError>(sealed)
            })
        })
        .await?;
    let secret: [u8; 32] = state
        .crypto
        .open(KEY_SEAL, &sealed)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| AppError::Internal("the receipt key cannot be opened".into()))?;
    let loaded = Arc::new(
        ReceiptSigner::new(&secret)
            .map_err(|_| AppError::Internal("the receipt key is not an Ed25519 key".into()))?,
    );
    if let Ok(mut keys) = state.consent.inner.keys.write() {
        keys.insert(clinic, loaded.clone());
    }
    Ok(loaded)
}

/// The public half of the clinic's receipt key.
pub async fn public_key(state: &AppState, clinic: ClinicId) -> Result<VerifyingKey, AppError> {
    Ok(clinic_key(state, clinic).await?.public_key())
}

/// A choice to record.
#[derive(Clone, Debug)]
pub struct Submission {
    /// `None`: a new subject id is made.
    pub subject_id: Option<String>,
    pub channel: Channel,
    pub choices: Choices,
    pub source: Source,
    pub gpc: bool,
    /// The language the choice was asked in.
    pub language: Locale,
}

/// A stored choice and its receipt.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub record_id: Uuid,
    pub subject_id: String,
    pub config_version: i32,
    pub content_hash: String,
    pub choices: Choices,
    pub receipt: Receipt,
    pub receipt_jws: String,
}

/// Why a choice was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("this clinic has not set up any consent purposes yet")]
    NotConfigured,
    #[error("the choices do not match the clinic's purposes")]
    Invalid(Vec<rules::Problem>),
    #[error(transparent)]
    App(#[from] AppError),
}

/// Records a choice against the current configuration and returns its
/// signed receipt once it is committed.
pub async fn record(
    state: &AppState,
    published: &Published,
    submission: Submission,
) -> Result<Recorded, RecordError> {
    let config = published
        .config
        .as_ref()
        .filter(|c| !published_purposes_empty(c, submission.channel))
        .ok_or(RecordError::NotConfigured)?;
    let choices = rules::resolve_choices(
        &config.purposes,
        submission.channel,
        &submission.choices,
        submission.gpc,
    )
    .map_err(RecordError::Invalid)?;
    let key = clinic_key(state, published.clinic_id).await?;
    let subject_id = submission.subject_id.unwrap_or_else(new_subject_id);
    let record_id = Uuid::now_v7();
    let recorded_at = state.clock.now();
    let receipt = Receipt::new(&ReceiptInput {
        record_id,
        recorded_at,
        subject_id: &subject_id,
        controller: &published.legal_name,
        controller_contact: &published.contact_email,
        controller_url: state
            .settings
            .url(&format!("/c/{}/privacy", published.slug)),
        jurisdiction: &published.country,
        language: submission.language,
        config_version: config.version,
        content_hash: &config.content_hash,
        // The page that asked is also where the choice is changed or
        // withdrawn.
        notice_url: state.settings.url(&format!(
            "/c/{}/{}",
            published.slug,
            match submission.channel {
                Channel::Website => "cookies",
                Channel::Patient => "consents",
            }
        )),
        retention_days: published.record_retention_days,
        source: submission.source,
        gpc: submission.gpc,
        purposes: &config.purposes,
        choices: &choices,
    });
    let receipt_jws = key.sign(&receipt);
    let row = RecordRow {
        id: record_id,
        clinic_id: published.clinic_id.0,
        subject_id: subject_id.clone(),
        config_id: config.id,
        choices: serde_json::to_value(&choices).unwrap_or_default(),
        source: submission.source.as_str().to_owned(),
        gpc: submission.gpc,
        recorded_at,
        receipt: receipt_jws.clone(),
    };
    let (done, written) = oneshot::channel();
    state
        .consent
        .sender(&state.db)
        .send(Pending { row, done })
        .await
        .map_err(|_| AppError::Unavailable)?;
    match written.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "writing consent records failed");
            return Err(AppError::Unavailable.into());
        }
        Err(_) => return Err(AppError::Unavailable.into()),
    }
    metrics::counter!("consent_records_total", "source" => submission.source.as_str()).increment(1);
    Ok(Recorded {
        record_id,
        subject_id,
        config_version: config.version,
        content_hash: config.content_hash.clone(),
        choices,
        receipt,
        receipt_jws,
    })
}

fn published_purposes_empty(config: &PublishedConfig, channel: Channel) -> bool {
    !config
        .purposes
        .iter()
        .any(|p| p.channel == channel.as_str())
}

/// A new random subject id (22 URL-safe characters, 128 bits).
pub fn new_subject_id() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

// ---------------------------------------------------------------------------
// The admin side: purposes, cookies, versions.

/// Everything the consent settings page shows.
pub struct Settings {
    pub purposes: Vec<PurposeRow>,
    pub cookies: Vec<CookieRow>,
    pub versions: Vec<ConfigRow>,
    pub allowed_origins: Vec<String>,
}

/// The clinic's purposes (archived ones last), cookies and versions.
pub async fn settings(db: &Db, clinic: ClinicId) -> Result<Settings, DbError> {
    let (purposes, cookies, versions) = db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let purposes = consent_purposes::table
                    .filter(consent_purposes::clinic_id.eq(clinic.0))
                    .order((
                        consent_purposes::archived_at.is_not_null(),
                        consent_purposes::position.asc(),
                        consent_purposes::key.asc(),
                    ))
                    .select(PurposeRow::as_select())
                    .load(c)
                    .await?;
                let cookies = load_cookies(c, clinic).await?;
                let versions = consent_configs::table
                    .filter(consent_configs::clinic_id.eq(clinic.0))
                    .order(consent_configs::version.desc())
                    .limit(20)
                    .select(ConfigRow::as_select())
                    .load(c)
                    .await?;
                Ok::<_, DbError>((purposes, cookies, versions))
            })
        })
        .await?;
    let mut conn = db.conn().await?;
    let allowed_origins = clinics::table
        .find(clinic.0)
        .select(clinics::allowed_origins)
        .first(&mut conn)
        .await?;
    Ok(Settings {
        purposes,
        cookies,
        versions,
        allowed_origins,
    })
}

/// Keys of the clinic's optional purposes (archived ones included: their
/// records stay searchable).
pub async fn optional_purpose_keys(db: &Db, clinic: ClinicId) -> Result<Vec<String>, DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            Ok(consent_purposes::table
                .filter(consent_purposes::clinic_id.eq(clinic.0))
                .filter(consent_purposes::strictly_necessary.eq(false))
                .order((
                    consent_purposes::position.asc(),
                    consent_purposes::key.asc(),
                ))
                .select(consent_purposes::key)
                .load(c)
                .await?)
        })
    })
    .await
}

/// One purpose of the clinic.
pub async fn purpose(db: &Db, clinic: ClinicId, id: Uuid) -> Result<Option<PurposeRow>, DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            Ok(consent_purposes::table
                .filter(consent_purposes::clinic_id.eq(clinic.0))
                .filter(consent_purposes::id.eq(id))
                .select(PurposeRow::as_select())
                .first(c)
                .await
                .optional()?)
        })
    })
    .await
}

/// Publishes a new configuration version when the clinic's live purposes
/// differ from the latest version. Returns the new version number.
async fn republish(c: &mut Conn, ctx: &AuditContext, clinic: ClinicId) -> QueryResult<Option<i32>> {
    let rows: Vec<PurposeRow> = consent_purposes::table
        .filter(consent_purposes::clinic_id.eq(clinic.0))
        .filter(consent_purposes::archived_at.is_null())
        .order((
            consent_purposes::position.asc(),
            consent_purposes::key.asc(),
        ))
        .select(PurposeRow::as_select())
        .load(c)
        .await?;
    let purposes: Vec<PublishedPurpose> = rows.iter().map(PurposeRow::published).collect();
    let hash = rules::content_hash(&purposes);
    let latest = latest_config(c, clinic).await?;
    if latest.as_ref().is_some_and(|l| l.content_hash == hash) {
        return Ok(None);
    }
    let version = latest.map_or(1, |l| l.version + 1);
    let id = Uuid::now_v7();
    diesel::insert_into(consent_configs::table)
        .values((
            consent_configs::id.eq(id),
            consent_configs::clinic_id.eq(clinic.0),
            consent_configs::version.eq(version),
            consent_configs::content_hash.eq(&hash),
            consent_configs::purposes.eq(serde_json::to_value(&purposes).unwrap_or_default()),
        ))
        .execute(c)
        .await?;
    audit::record(
        c,
        ctx,
        AuditEntry {
            clinic_id: Some(clinic),
            action: "consent.config_published",
            subject_kind: "consent_config",
            subject_id: id.to_string(),
            details: json!({
                "version": version,
                "content_hash": hash,
                "purposes": purposes.iter().map(|p| p.key.clone()).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;
    Ok(Some(version))
}

fn purpose_details(p: &Purpose) -> serde_json::Value {
    json!({
        "key": p.key,
        "channel": p.channel.as_str(),
        "name_en": p.name_en,
        "legal_basis": p.legal_basis.as_str(),
        "strictly_necessary": p.strictly_necessary,
        "position": p.position,
    })
}

/// Adds a purpose (`id` `None`) or changes one, and publishes a new
/// configuration version if what visitors are asked changed.
pub async fn save_purpose(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    id: Option<Uuid>,
    purpose: Purpose,
) -> Result<Option<i32>, AppError> {
    let version = store_purpose(&state.db, ctx, clinic, id, purpose).await?;
    state.consent.forget();
    Ok(version)
}

async fn store_purpose(
    db: &Db,
    ctx: &AuditContext,
    clinic: ClinicId,
    id: Option<Uuid>,
    purpose: Purpose,
) -> Result<Option<i32>, AppError> {
    let ctx = ctx.clone();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            write_purpose(c, &ctx, clinic, id, &purpose).await?;
            Ok::<_, AppError>(republish(c, &ctx, clinic).await?)
        })
    })
    .await
}

/// Inserts (`id` `None`) or updates a purpose and audits it, without
/// publishing a version.
async fn write_purpose(
    c: &mut Conn,
    ctx: &AuditContext,
    clinic: ClinicId,
    id: Option<Uuid>,
    purpose: &Purpose,
) -> Result<(), AppError> {
    let taken: Option<Uuid> = consent_purposes::table
        .filter(consent_purposes::clinic_id.eq(clinic.0))
        .filter(consent_purposes::key.eq(&purpose.key))
        .select(consent_purposes::id)
        .first(c)
        .await
        .optional()?;
    if taken.is_some() && taken != id {
        return Err(AppError::Conflict(format!(
            "The key \u{201c}{}\u{201d} is already used by another purpose. Keys are unique per clinic, archived purposes included.",
            purpose.key
        )));
    }
    let values = (
        consent_purposes::key.eq(&purpose.key),
        consent_purposes::channel.eq(purpose.channel.as_str()),
        consent_purposes::name_en.eq(&purpose.name_en),
        consent_purposes::name_uk.eq(&purpose.name_uk),
        consent_purposes::description_en.eq(&purpose.description_en),
        consent_purposes::description_uk.eq(&purpose.description_uk),
        consent_purposes::legal_basis.eq(purpose.legal_basis.as_str()),
        consent_purposes::strictly_necessary.eq(purpose.strictly_necessary),
        consent_purposes::position.eq(purpose.position),
    );
    let (action, subject) = match id {
        Some(id) => {
            let updated = diesel::update(
                consent_purposes::table
                    .filter(consent_purposes::clinic_id.eq(clinic.0))
                    .filter(consent_purposes::id.eq(id))
                    .filter(consent_purposes::archived_at.is_null()),
            )
            .set(values)
            .execute(c)
            .await?;
            if updated == 0 {
                return Err(AppError::NotFound);
            }
            ("consent.purpose_updated", id)
        }
        None => {
            let new_id = Uuid::now_v7();
            diesel::insert_into(consent_purposes::table)
                .values((
                    consent_purposes::id.eq(new_id),
                    consent_purposes::clinic_id.eq(clinic.0),
                    values,
                ))
                .execute(c)
                .await?;
            ("consent.purpose_created", new_id)
        }
    };
    audit::record(
        c,
        ctx,
        AuditEntry {
            clinic_id: Some(clinic),
            action,
            subject_kind: "consent_purpose",
            subject_id: subject.to_string(),
            details: purpose_details(purpose),
        },
    )
    .await?;
    Ok(())
}

/// Archives a purpose: it is no longer asked (a new version is published);
/// its past records stay. Refused while cookies still serve it.
pub async fn archive_purpose(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    id: Uuid,
) -> Result<Option<i32>, AppError> {
    let ctx = ctx.clone();
    let now = state.clock.now();
    let version = state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let cookies: i64 = consent_cookies::table
                    .filter(consent_cookies::clinic_id.eq(clinic.0))
                    .filter(consent_cookies::purpose_id.eq(id))
                    .count()
                    .get_result(c)
                    .await?;
                if cookies > 0 {
                    return Err(AppError::Conflict(format!(
                        "{cookies} cookie(s) still serve this purpose. Move them to another purpose or remove them first."
                    )));
                }
                let key: Option<String> = diesel::update(
                    consent_purposes::table
                        .filter(consent_purposes::clinic_id.eq(clinic.0))
                        .filter(consent_purposes::id.eq(id))
                        .filter(consent_purposes::archived_at.is_null()),
                )
                .set(consent_purposes::archived_at.eq(now))
                .returning(consent_purposes::key)
                .get_result(c)
                .await
                .optional()?;
                let Some(key) = key else {
                    return Err(AppError::NotFound);
                };
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "consent.purpose_archived",
                        subject_kind: "consent_purpose",
                        subject_id: id.to_string(),
                        details: json!({ "key": key }),
                    },
                )
                .await?;
                Ok::<_, AppError>(republish(c, &ctx, clinic).await?)
            })
        })
        .await?;
    state.consent.forget();
    Ok(version)
}

/// Adds a cookie (`id` `None`) or changes one.
pub async fn save_cookie(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    id: Option<Uuid>,
    cookie: CookieEntry,
) -> Result<(), AppError> {
    store_cookie(&state.db, ctx, clinic, id, cookie).await?;
    state.consent.forget();
    Ok(())
}

async fn store_cookie(
    db: &Db,
    ctx: &AuditContext,
    clinic: ClinicId,
    id: Option<Uuid>,
    cookie: CookieEntry,
) -> Result<(), AppError> {
    let ctx = ctx.clone();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            let purpose: Option<Uuid> = consent_purposes::table
                .filter(consent_purposes::clinic_id.eq(clinic.0))
                .filter(consent_purposes::key.eq(&cookie.purpose))
                .filter(consent_purposes::archived_at.is_null())
                .filter(consent_purposes::channel.eq(Channel::Website.as_str()))
                .select(consent_purposes::id)
                .first(c)
                .await
                .optional()?;
            let Some(purpose) = purpose else {
                return Err(AppError::BadRequest(
                    "Choose one of the clinic's website purposes for this cookie.".into(),
                ));
            };
            let duplicate: Option<Uuid> = consent_cookies::table
                .filter(consent_cookies::clinic_id.eq(clinic.0))
                .filter(consent_cookies::name.eq(&cookie.name))
                .filter(consent_cookies::domain.eq(&cookie.domain))
                .select(consent_cookies::id)
                .first(c)
                .await
                .optional()?;
            if duplicate.is_some() && duplicate != id {
                return Err(AppError::Conflict(format!(
                    "The cookie {} on {} is already in the inventory.",
                    cookie.name, cookie.domain
                )));
            }
            let values = (
                consent_cookies::purpose_id.eq(purpose),
                consent_cookies::name.eq(&cookie.name),
                consent_cookies::domain.eq(&cookie.domain),
                consent_cookies::provider.eq(&cookie.provider),
                consent_cookies::duration.eq(&cookie.duration),
                consent_cookies::party.eq(cookie.party.as_str()),
            );
            let (action, subject) = match id {
                Some(id) => {
                    let updated = diesel::update(
                        consent_cookies::table
                            .filter(consent_cookies::clinic_id.eq(clinic.0))
                            .filter(consent_cookies::id.eq(id)),
                    )
                    .set(values)
                    .execute(c)
                    .await?;
                    if updated == 0 {
                        return Err(AppError::NotFound);
                    }
                    ("consent.cookie_updated", id)
                }
                None => {
                    let new_id = Uuid::now_v7();
                    diesel::insert_into(consent_cookies::table)
                        .values((
                            consent_cookies::id.eq(new_id),
                            consent_cookies::clinic_id.eq(clinic.0),
                            values,
                        ))
                        .execute(c)
                        .await?;
                    ("consent.cookie_created", new_id)
                }
            };
            audit::record(
                c,
                &ctx,
                AuditEntry {
                    clinic_id: Some(clinic),
                    action,
                    subject_kind: "consent_cookie",
                    subject_id: subject.to_string(),
                    details: json!({
                        "name": cookie.name,
                        "domain": cookie.domain,
                        "provider": cookie.provider,
                        "duration": cookie.duration,
                        "party": cookie.party.as_str(),
                        "purpose": cookie.purpose,
                    }),
                },
            )
            .await?;
            Ok::<_, AppError>(())
        })
    })
    .await
}

/// Removes a cookie from the inventory.
pub async fn delete_cookie(
    state: &AppState,
    ctx: &AuditContext,
    clinic: ClinicId,
    id: Uuid,
) -> Result<(), AppError> {
    let ctx = ctx.clone();
    state
        .db
        .scoped(Scope::Clinic(clinic), move |c| {
            Box::pin(async move {
                let removed: Option<(String, String)> = diesel::delete(
                    consent_cookies::table
                        .filter(consent_cookies::clinic_id.eq(clinic.0))
                        .filter(consent_cookies::id.eq(id)),
                )
                .returning((consent_cookies::name, consent_cookies::domain))
                .get_result(c)
                .await
                .optional()?;
                let Some((name, domain)) = removed else {
                    return Err(AppError::NotFound);
                };
                audit::record(
                    c,
                    &ctx,
                    AuditEntry {
                        clinic_id: Some(clinic),
                        action: "consent.cookie_removed",
                        subject_kind: "consent_cookie",
                        subject_id: id.to_string(),
                        details: json!({ "name": name, "domain": domain }),
                    },
                )
                .await?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    state.consent.forget();
    Ok(())
}

/// Seeds a clinic's purposes and cookies when it has none (demo data).
pub async fn seed_if_empty(
    db: &Db,
    ctx: &AuditContext,
    clinic: ClinicId,
    purposes: Vec<Purpose>,
    cookies: Vec<CookieEntry>,
) -> Result<bool, AppError> {
    let existing = settings(db, clinic).await?;
    if !existing.purposes.is_empty() {
        return Ok(false);
    }
    let context = ctx.clone();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            for purpose in &purposes {
                write_purpose(c, &context, clinic, None, purpose).await?;
            }
            republish(c, &context, clinic).await?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    for cookie in cookies {
        store_cookie(db, ctx, clinic, None, cookie).await?;
    }
    Ok(true)
}

// ---------------------------------------------------------------------------
// Reading records.

/// Filters of the records list and export.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Exact subject id, or a record id.
    pub subject: Option<String>,
    pub source: Option<Source>,
    /// Only records in which this purpose was given.
    pub given: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl RecordFilter {
    /// The filter as recorded in the audit log.
    pub fn details(&self) -> serde_json::Value {
        json!({
            "subject": self.subject,
            "source": self.source.map(Source::as_str),
            "given": self.given,
            "from": self.from.map(|d| d.to_string()),
            "to": self.to.map(|d| d.to_string()),
        })
    }
}

/// A record as listed, with its configuration version.
#[derive(Clone, Debug)]
pub struct RecordListItem {
    pub record: RecordRow,
    pub version: i32,
}

type Filtered<'a> = consent_records::BoxedQuery<'a, diesel::pg::Pg>;

fn filtered(clinic: ClinicId, filter: &RecordFilter) -> Filtered<'static> {
    let mut query = consent_records::table
        .filter(consent_records::clinic_id.eq(clinic.0))
        .into_boxed();
    if let Some(subject) = filter.subject.clone() {
        match subject.parse::<Uuid>() {
            Ok(id) => query = query.filter(consent_records::id.eq(id)),
            Err(_) => query = query.filter(consent_records::subject_id.eq(subject)),
        }
    }
    if let Some(source) = filter.source {
        query = query.filter(consent_records::source.eq(source.as_str()));
    }
    if let Some(key) = filter.given.clone() {
        query = query.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("choices @> jsonb_build_object(")
                .bind::<Text, _>(key)
                .sql(", true)"),
        );
    }
    if let Some(from) = filter.from {
        query = query.filter(consent_records::recorded_at.ge(day_start(from)));
    }
    if let Some(to) = filter.to {
        query = query
            .filter(consent_records::recorded_at.lt(day_start(to) + chrono::Duration::days(1)));
    }
    query
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// A page of the clinic's records, newest first.
pub async fn records(
    db: &Db,
    clinic: ClinicId,
    filter: RecordFilter,
    page: PageRequest,
) -> Result<Page<RecordListItem>, DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            let total: i64 = filtered(clinic, &filter).count().get_result(c).await?;
            let rows: Vec<RecordRow> = filtered(clinic, &filter)
                .order((
                    consent_records::recorded_at.desc(),
                    consent_records::id.desc(),
                ))
                .offset(page.offset())
                .limit(page.limit())
                .select(RecordRow::as_select())
                .load(c)
                .await?;
            let versions = version_numbers(c, clinic).await?;
            Ok(Page {
                items: rows
                    .into_iter()
                    .map(|record| RecordListItem {
                        version: versions.get(&record.config_id).copied().unwrap_or(0),
                        record,
                    })
                    .collect(),
                page: page.page,
                per_page: page.per_page,
                total,
            })
        })
    })
    .await
}

/// Rows per query of the CSV export.
pub const EXPORT_CHUNK: i64 = 2000;

/// One chunk of the export after the `(recorded_at, id)` position `after`
/// (oldest first). An empty chunk ends the export.
pub async fn export_chunk(
    db: &Db,
    clinic: ClinicId,
    filter: RecordFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> Result<Vec<RecordRow>, DbError> {
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            let mut query = filtered(clinic, &filter);
            if let Some((at, id)) = after {
                query = query.filter(
                    consent_records::recorded_at
                        .gt(at)
                        .or(consent_records::recorded_at
                            .eq(at)
                            .and(consent_records::id.gt(id))),
                );
            }
            Ok(query
                .order((
                    consent_records::recorded_at.asc(),
                    consent_records::id.asc(),
                ))
                .limit(EXPORT_CHUNK)
                .select(RecordRow::as_select())
                .load(c)
                .await?)
        })
    })
    .await
}

/// Configuration version numbers by id.
async fn version_numbers(c: &mut Conn, clinic: ClinicId) -> QueryResult<HashMap<Uuid, i32>> {
    Ok(consent_configs::table
        .filter(consent_configs::clinic_id.eq(clinic.0))
        .select((consent_configs::id, consent_configs::version))
        .load::<(Uuid, i32)>(c)
        .await?
        .into_iter()
        .collect())
}

/// Audits an export of the records matching `filter` and returns the
/// version numbers its rows refer to.
pub async fn start_export(
    db: &Db,
    ctx: &AuditContext,
    clinic: ClinicId,
    filter: &RecordFilter,
) -> Result<HashMap<Uuid, i32>, AppError> {
    let ctx = ctx.clone();
    let details = filter.details();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            audit::record(
                c,
                &ctx,
                AuditEntry {
                    clinic_id: Some(clinic),
                    action: "consent.records_exported",
                    subject_kind: "consent_records",
                    subject_id: "csv".into(),
                    details: json!({ "filter": details }),
                },
            )
            .await?;
            Ok::<_, AppError>(version_numbers(c, clinic).await?)
        })
    })
    .await
}

/// Share of records that gave each purpose, per ISO week, over the last
/// `weeks` weeks before `now`.
pub async fn weekly_rates(
    db: &Db,
    clinic: ClinicId,
    now: DateTime<Utc>,
    weeks: i64,
) -> Result<Vec<WeeklyRate>, DbError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Date)]
        week: NaiveDate,
        #[diesel(sql_type = Text)]
        purpose: String,
        #[diesel(sql_type = BigInt)]
        given: i64,
        #[diesel(sql_type = BigInt)]
        total: i64,
    }
    let since = now - chrono::Duration::weeks(weeks);
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            let rows: Vec<Row> = diesel::sql_query(
                "SELECT date_trunc('week', r.recorded_at AT TIME ZONE 'UTC')::date AS week, \
                 e.key AS purpose, count(*) FILTER (WHERE e.value = 'true'::jsonb) AS given, \
                 count(*) AS total \
                 FROM consent_records r CROSS JOIN LATERAL jsonb_each(r.choices) e \
                 JOIN consent_purposes p ON p.clinic_id = r.clinic_id AND p.key = e.key \
                 WHERE r.clinic_id = $1 AND r.recorded_at >= $2 AND NOT p.strictly_necessary \
                 GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .bind::<diesel::sql_types::Uuid, _>(clinic.0)
            .bind::<Timestamptz, _>(since)
            .load(c)
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| (r.week, r.purpose, r.given, r.total))
                .collect())
        })
    })
    .await
}

/// The latest record of a subject (their current choice).
pub async fn latest_for_subject(
    db: &Db,
    clinic: ClinicId,
    subject: &str,
) -> Result<Option<RecordRow>, DbError> {
    Ok(subject_records(db, clinic, subject, 1).await?.pop())
}

/// A subject's newest `limit` records, newest first.
pub async fn subject_records(
    db: &Db,
    clinic: ClinicId,
    subject: &str,
    limit: i64,
) -> Result<Vec<RecordRow>, DbError> {
    let subject = subject.to_owned();
    db.scoped(Scope::Clinic(clinic), move |c| {
        Box::pin(async move {
            Ok(consent_records::table
                .filter(consent_records::clinic_id.eq(clinic.0))
                .filter(consent_records::subject_id.eq(subject))
                .order((
                    consent_records::recorded_at.desc(),
                    consent_records::id.desc(),
                ))
                .limit(limit)
                .select(RecordRow::as_select())
                .load(c)
                .await?)
        })
    })
    .await
}

/// The cookie party's label.
pub fn party_label(party: &str) -> &'static str {
    party.parse::<Party>().map_or("", Party::label)
}
