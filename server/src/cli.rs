//! The `privacy-portal` command line.

use std::io::Read as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use app::backend::audit::{self, AuditContext};
use app::backend::email::templates::DeliveryCheck;
use app::backend::email::{self, compose};
use app::backend::services::clinics::{self, CreateClinic, CreateClinicError, NewOwner};
use app::backend::services::requests::meta as requests_meta;
use app::backend::services::retention;
use app::backend::services::{auth, demo, platform};
use app::backend::tenancy::Scope;
use app::domain::clinic::ClinicSlug;
use app::domain::clinic_profile::ClinicProfileForm;
use app::domain::email::EmailAddress;
use app::domain::text::clean_text;
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::backup;
use crate::config::Config;
use crate::startup::{self, Application, Database};
use crate::worker::{self, WorkerOptions};

/// Clinic Privacy Portal: privacy notices, requests, consent and
/// sub-processors for clinics and their platform.
#[derive(Debug, Parser)]
#[command(name = "privacy-portal", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do (default: `serve`).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web portal with an in-process job worker (the default).
    Serve,
    /// Run only the job worker (emails, schedules).
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a clinic (tenant), optionally with its first owner.
    CreateClinic(Box<CreateClinicArgs>),
    /// Seed the demo platform and the demo clinic `demo` (idempotent).
    Demo,
    /// Commands about one clinic.
    Clinic {
        #[command(subcommand)]
        command: ClinicCommand,
    },
    /// Audit log commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Retention commands.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Encrypted backups of the database in PORTAL_BACKUP_DIR.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Queue a test message to EMAIL and deliver it, to check mail settings.
    SendTestEmail {
        /// Recipient address.
        email: String,
    },
    /// Print a one-time sign-in link (15 minutes) for an existing user.
    LoginLink {
        /// The user's email address.
        email: String,
    },
    /// Make EMAIL a platform operator (created if new).
    CreateOperator {
        /// The operator's email address.
        email: String,
        /// Display name (defaults to the address).
        #[arg(long)]
        name: Option<String>,
    },
}

/// `privacy-portal clinic ...`
#[derive(Debug, Subcommand)]
pub enum ClinicCommand {
    /// Store the clinic's Meta app secret (encrypted), read from stdin, so
    /// the portal can verify Meta's data-deletion callbacks.
    SetMetaSecret {
        /// The clinic's slug.
        slug: String,
    },
}

/// `privacy-portal backup ...`
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Dump the database (pg_dump), encrypted under a key derived from the
    /// master key, with a manifest beside it.
    Create,
    /// List the backups, oldest first, and any left unfinished.
    List,
    /// Remove the backups older than the platform's backup retention (30
    /// days unless set), always keeping the newest.
    Prune,
    /// Decrypt a backup and check it against its manifest, restoring
    /// nothing; exits 1 naming what is wrong.
    Verify {
        /// The backup's data file (`….pgdump.enc`).
        file: std::path::PathBuf,
    },
}

/// `privacy-portal audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every hash chain of the audit log; exits 1 naming the first
    /// broken row of each damaged chain.
    Verify,
}

/// `privacy-portal retention ...`
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Apply every clinic's retention rules now, in small batches, and print
    /// what was removed or anonymized per category.
    Run {
        /// Count what the rules reach without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Only this clinic (its slug).
        #[arg(long)]
        clinic: Option<String>,
    },
}

/// Arguments of `create-clinic`.
#[derive(Debug, Args)]
pub struct CreateClinicArgs {
    /// Address of the clinic's public pages: /c/{slug}/...
    #[arg(long)]
    pub slug: String,
    /// Name shown to patients.
    #[arg(long)]
    pub name: String,
    /// Registered legal name (defaults to --name).
    #[arg(long)]
    pub legal_name: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. DE.
    #[arg(long)]
    pub country: String,
    /// eu_gdpr, uk_gdpr or other.
    #[arg(long, default_value = "eu_gdpr")]
    pub jurisdiction: String,
    /// Deadline for privacy requests: `calendar-month` or a number of days.
    #[arg(long, default_value = "calendar-month")]
    pub deadline: String,
    /// Advance notice of material policy changes, in days.
    #[arg(long, default_value_t = 30)]
    pub notice_days: u16,
    /// Privacy contact address shown to patients.
    #[arg(long)]
    pub contact_email: String,
    /// Supervisory authority patients may complain to.
    #[arg(long)]
    pub authority_name: String,
    #[arg(long)]
    pub authority_url: Option<String>,
    #[arg(long)]
    pub authority_email: Option<String>,
    #[arg(long)]
    pub dpo_name: Option<String>,
    #[arg(long)]
    pub dpo_email: Option<String>,
    #[arg(long)]
    pub dpo_phone: Option<String>,
    /// A website origin allowed to embed the consent banner (repeatable).
    #[arg(long = "origin")]
    pub origins: Vec<String>,
    /// Default language of the clinic's pages: en or uk.
    #[arg(long, default_value = "en")]
    pub locale: String,
    /// Email of the first owner.
    #[arg(long)]
    pub owner_email: Option<String>,
    /// Name of the first owner (defaults to the address).
    #[arg(long)]
    pub owner_name: Option<String>,
}

impl CreateClinicArgs {
    /// Validates every argument, collecting all problems as `--flag: message`.
    pub fn validate(&self) -> Result<CreateClinic, Vec<String>> {
        let form = ClinicProfileForm {
            name: self.name.clone(),
            legal_name: self.legal_name.clone().unwrap_or_default(),
            country: self.country.clone(),
            jurisdiction: self.jurisdiction.clone(),
            default_locale: self.locale.clone(),
            deadline: self.deadline.clone(),
            notice_period_days: self.notice_days.to_string(),
            contact_email: self.contact_email.clone(),
            dpo_name: self.dpo_name.clone().unwrap_or_default(),
            dpo_email: self.dpo_email.clone().unwrap_or_default(),
            dpo_phone: self.dpo_phone.clone().unwrap_or_default(),
            authority_name: self.authority_name.clone(),
            authority_url: self.authority_url.clone().unwrap_or_default(),
            authority_email: self.authority_email.clone().unwrap_or_default(),
            allowed_origins: self.origins.join("\n"),
        };
        let profile = form.validate();
        let mut errors = profile.as_ref().err().cloned().unwrap_or_default();
        let slug = errors.check("slug", "Slug", ClinicSlug::parse(&self.slug));
        let owner = match self
            .owner_email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            None => Some(None),
            Some(email) => errors
                .check("owner_email", "Owner email", EmailAddress::parse(email))
                .and_then(|email| {
                    let name = self.owner_name.clone().unwrap_or_else(|| email.to_string());
                    errors
                        .check("owner_name", "Owner name", clean_text(&name, 200, false))
                        .map(|display_name| {
                            Some(NewOwner {
                                email,
                                display_name,
                            })
                        })
                }),
        };
        let flag = |field: &str| match field {
            "default_locale" => "locale".to_owned(),
            "notice_period_days" => "notice-days".to_owned(),
            "allowed_origins" => "origin".to_owned(),
            other => other.replace('_', "-"),
        };
        match (profile, slug, owner) {
            (Ok(profile), Some(slug), Some(owner)) if errors.is_empty() => Ok(CreateClinic {
                slug,
                profile,
                owner,
            }),
            _ => Err(errors
                .iter()
                .map(|(field, message)| format!("--{}: {message}", flag(field)))
                .collect()),
        }
    }
}

/// Runs the parsed command.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Worker => run_worker(config).await,
        Command::Migrate => {
            let database = Database::connect(&config).await?;
            let pending = database.db.pending_migrations().await?;
            println!("Database schema is up to date ({} pending).", pending.len());
            database.shutdown();
            Ok(ExitCode::SUCCESS)
        }
        Command::CreateClinic(args) => create_clinic(config, args).await,
        Command::Demo => {
            let database = Database::connect(&config).await?;
            let outcome = demo::seed(&database.db, &AuditContext::cli()).await;
            database.shutdown();
            let outcome = outcome?;
            if outcome.created {
                println!(
                    "Seeded the demo clinic `{}`; its owner is {}.",
                    demo::DEMO_SLUG,
                    outcome.owner_email
                );
            } else {
                println!(
                    "The demo clinic `{}` already exists; nothing changed.",
                    demo::DEMO_SLUG
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Clinic {
            command: ClinicCommand::SetMetaSecret { slug },
        } => set_meta_secret(config, &slug).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => audit_verify(config).await,
        Command::Retention {
            command: RetentionCommand::Run { dry_run, clinic },
        } => retention_run(config, dry_run, clinic.as_deref()).await,
        Command::Backup { command } => backup(config, command).await,
        Command::SendTestEmail { email } => send_test_email(config, &email).await,
        Command::LoginLink { email } => login_link(config, &email).await,
        Command::CreateOperator { email, name } => {
            create_operator(config, &email, name.as_deref()).await
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let database = Database::connect(&config).await?;
    let seed_demo = database.is_managed() && platform::get(&database.db).await?.is_none();
    if seed_demo {
        demo::seed(&database.db, &AuditContext::system())
            .await
            .context("seeding demo data")?;
    }
    let app = Application::build(config, database.db.clone()).await?;
    let base = app.base_url().to_owned();
    println!("Clinic Privacy Portal is running at {base}/");
    if let Some(clinic) = clinics::find_public(&app.state().db, demo::DEMO_SLUG).await? {
        println!(
            "Demo clinic: {} at {base}/c/{}/privacy",
            clinic.name, clinic.slug
        );
        if seed_demo {
            let owner = EmailAddress::parse(demo::DEMO_OWNER_EMAIL)?;
            if let Some(link) = auth::create_link(app.state(), &owner).await? {
                println!("Sign in as the demo owner ({owner}), once within 15 minutes: {link}");
            }
        } else {
            println!(
                "Sign in at {base}/login, or print a link: privacy-portal login-link {}",
                demo::DEMO_OWNER_EMAIL
            );
        }
    }
    println!("Press Ctrl-C to stop.");
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        startup::shutdown_signal().await;
        signal.cancel();
    });
    let result = app.run(shutdown).await;
    database.shutdown();
    result.map(|()| ExitCode::SUCCESS)
}

async fn run_worker(config: Config) -> anyhow::Result<ExitCode> {
    let database = Database::connect(&config).await?;
    let state = startup::app_state(&config, database.db.clone(), base_url(&config))?;
    let context = startup::job_context(&config, &state)?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        startup::shutdown_signal().await;
        signal.cancel();
    });
    worker::run(
        context,
        WorkerOptions::with_concurrency(config.worker_concurrency).with_lease(config.worker_lease),
        shutdown,
    )
    .await;
    database.shutdown();
    Ok(ExitCode::SUCCESS)
}

async fn create_clinic(config: Config, args: Box<CreateClinicArgs>) -> anyhow::Result<ExitCode> {
    let input = match args.validate() {
        Ok(input) => input,
        Err(errors) => {
            for error in errors {
                eprintln!("error: {error}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let slug = input.slug.to_string();
    let database = Database::connect(&config).await?;
    let result = clinics::create(&database.db, &AuditContext::cli(), input).await;
    database.shutdown();
    match result {
        Ok(id) => {
            println!("Created clinic `{slug}` ({id}).");
            Ok(ExitCode::SUCCESS)
        }
        Err(CreateClinicError::SlugTaken(slug)) => {
            eprintln!("error: --slug: a clinic with the address `{slug}` already exists");
            Ok(ExitCode::from(2))
        }
        Err(CreateClinicError::Db(e)) => Err(e.into()),
    }
}

async fn backup(config: Config, command: BackupCommand) -> anyhow::Result<ExitCode> {
    let crypto = backup::backup_crypto(&config.load_master_key()?);
    let dir = config.backup_dir.clone();
    let needs_dir = || {
        eprintln!("error: PORTAL_BACKUP_DIR is not set: name the folder backups are kept in");
        Ok(ExitCode::from(2))
    };
    match command {
        BackupCommand::Verify { file } => {
            let (file, verified) = tokio::task::spawn_blocking(move || {
                let result = backup::verify(&file, &crypto);
                (file, result)
            })
            .await?;
            match verified {
                Ok(m) => {
                    println!(
                        "ok  {}: backup {} of {}, schema {}, {} bytes of dump in {} chunks, SHA-256 {}",
                        file.display(),
                        m.id,
                        m.created_at.to_rfc3339(),
                        m.schema_version,
                        m.dump_bytes,
                        m.chunks,
                        m.sha256
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        BackupCommand::List => {
            let Some(dir) = dir else { return needs_dir() };
            let (backups, unfinished) =
                tokio::task::spawn_blocking(move || backup::list(&dir)).await??;
            if backups.is_empty() {
                println!("No backups yet.");
            }
            for listed in &backups {
                let m = &listed.manifest;
                let state = listed.problem.as_deref().unwrap_or("ok");
                println!(
                    "{}  {:>12} bytes  schema {}  {}  {state}",
                    m.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    m.size,
                    m.schema_version,
                    m.file
                );
            }
            for path in &unfinished {
                println!("unfinished (not a backup): {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Prune => {
            let Some(dir) = dir else { return needs_dir() };
            let database = Database::connect(&config).await?;
            let days = platform::backup_retention_days(&database.db).await;
            database.shutdown();
            let days = days?;
            let now = chrono::Utc::now();
            let removed =
                tokio::task::spawn_blocking(move || backup::prune(&dir, days, now)).await??;
            for file in &removed {
                println!("removed {file}");
            }
            println!(
                "Pruned {} backup(s) older than {days} days (the newest always stays).",
                removed.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Create => {
            let Some(dir) = dir else { return needs_dir() };
            let database = Database::connect(&config).await?;
            let url = database.db.url().clone();
            let schema = app::backend::db::schema_version()?;
            let now = chrono::Utc::now();
            let written = tokio::task::spawn_blocking(move || {
                backup::create(&dir, &url, &crypto, &schema, now).map(|m| (dir, m))
            })
            .await;
            database.shutdown();
            let (dir, m) = written??;
            println!(
                "Backup written: {} ({} bytes, schema {}, SHA-256 {})",
                dir.join(&m.file).display(),
                m.size,
                m.schema_version,
                m.sha256
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn audit_verify(config: Config) -> anyhow::Result<ExitCode> {
    let database = Database::connect(&config).await?;
    let reports = audit::verify_all(&database.db).await;
    database.shutdown();
    let reports = reports?;
    let mut broken = 0;
    let mut events = 0;
    for report in &reports {
        events += report.events_checked;
        match &report.broken {
            None => println!(
                "ok      {}: {} events",
                report.chain_name(),
                report.events_checked
            ),
            Some(problem) => {
                broken += 1;
                println!("BROKEN  {}: {problem}", report.chain_name());
            }
        }
    }
    if broken > 0 {
        println!(
            "Audit log verification FAILED: {broken} of {} chains broken.",
            reports.len()
        );
        Ok(ExitCode::from(1))
    } else {
        println!(
            "Audit log verified: {} chains, {events} events intact.",
            reports.len()
        );
        Ok(ExitCode::SUCCESS)
    }
}

async fn retention_run(
    config: Config,
    dry_run: bool,
    clinic: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let database = Database::connect(&config).await?;
    let result = async {
        if let Some(slug) = clinic
            && clinics::id_by_slug(&database.db, slug).await?.is_none()
        {
            return Ok::<_, anyhow::Error>(None);
        }
        let state = startup::app_state(&config, database.db.clone(), base_url(&config))?;
        let reports = retention::run_all(
            &state,
            &AuditContext::cli(),
            clinic,
            dry_run,
            retention::Trigger::Cli,
        )
        .await?;
        Ok(Some(reports))
    }
    .await;
    database.shutdown();
    let Some(summary) = result? else {
        eprintln!("error: no clinic {}", clinic.unwrap_or_default());
        return Ok(ExitCode::from(2));
    };
    let verb = if dry_run {
        "would remove or anonymize"
    } else {
        "removed or anonymized"
    };
    for report in &summary.reports {
        let total: i64 = report.counts.values().sum();
        println!("{}: {verb} {total}", report.slug);
        for (category, n) in &report.counts {
            println!("  {category:<26} {n}");
        }
    }
    for (slug, error) in &summary.failures {
        println!("{slug}: FAILED: {error}");
    }
    if dry_run {
        println!("Dry run: nothing was changed.");
    }
    Ok(if summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn send_test_email(config: Config, address: &str) -> anyhow::Result<ExitCode> {
    let to = match EmailAddress::parse(address) {
        Ok(to) => to,
        Err(e) => {
            eprintln!("error: EMAIL {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let database = Database::connect(&config).await?;
    let base_url = base_url(&config);
    let state = startup::app_state(&config, database.db.clone(), base_url.clone())?;
    let context = startup::job_context(&config, &state)?;
    let message = DeliveryCheck {
        portal_url: base_url.clone(),
        sent_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        transport: context.mailer.describe(),
    };
    let host = base_url
        .split("://")
        .nth(1)
        .unwrap_or("localhost")
        .split(['/', ':'])
        .next()
        .unwrap_or("localhost")
        .to_owned();
    let outgoing = compose(&message, to.clone(), &host)?;
    let crypto = state.crypto.clone();
    let job_id = database
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, app::backend::db::DbError>(
                    email::enqueue(c, &crypto, None, &outgoing, None).await?,
                )
            })
        })
        .await?
        .context("the message was not queued")?;

    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(worker::run(
        context,
        WorkerOptions::with_concurrency(1),
        shutdown.clone(),
    ));
    let outcome = wait_for_job(&database.db, job_id, Duration::from_secs(60)).await;
    shutdown.cancel();
    let _ = worker.await;
    database.shutdown();
    match outcome? {
        Some((status, _)) if status == "done" => {
            println!("Sent a test message to {to}.");
            Ok(ExitCode::SUCCESS)
        }
        Some((status, error)) => {
            eprintln!(
                "The test message was not delivered ({status}): {}",
                error.unwrap_or_default()
            );
            Ok(ExitCode::from(1))
        }
        None => {
            eprintln!("The test message is still queued; a running worker will retry it.");
            Ok(ExitCode::from(1))
        }
    }
}

async fn login_link(config: Config, address: &str) -> anyhow::Result<ExitCode> {
    let email = match EmailAddress::parse(address) {
        Ok(email) => email,
        Err(e) => {
            eprintln!("error: EMAIL {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let database = Database::connect(&config).await?;
    let state = startup::app_state(&config, database.db.clone(), base_url(&config))?;
    let link = auth::create_link(&state, &email).await;
    database.shutdown();
    match link? {
        Some(link) => {
            println!("{link}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("error: no active user has the address {email}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn create_operator(
    config: Config,
    address: &str,
    name: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let email = match EmailAddress::parse(address) {
        Ok(email) => email,
        Err(e) => {
            eprintln!("error: EMAIL {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let name = match clean_text(name.unwrap_or(email.as_str()), 200, false) {
        Ok(name) => name,
        Err(e) => {
            eprintln!("error: --name {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let database = Database::connect(&config).await?;
    let result = platform::make_operator(&database.db, &AuditContext::cli(), &email, &name).await;
    database.shutdown();
    result?;
    println!(
        "{email} is a platform operator. Print a sign-in link with: privacy-portal login-link {email}"
    );
    Ok(ExitCode::SUCCESS)
}

async fn set_meta_secret(config: Config, slug: &str) -> anyhow::Result<ExitCode> {
    let mut input = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .context("reading the secret from stdin")?;
    let secret = match app::domain::meta::parse_app_secret(&input) {
        Ok(secret) => secret,
        Err(message) => {
            eprintln!("error: {message} (read from stdin)");
            return Ok(ExitCode::from(2));
        }
    };
    let database = Database::connect(&config).await?;
    let result = async {
        let Some(clinic) = clinics::id_by_slug(&database.db, slug).await? else {
            return Ok::<_, anyhow::Error>(None);
        };
        let state = startup::app_state(&config, database.db.clone(), base_url(&config))?;
        requests_meta::set_secret(&state, &AuditContext::cli(), clinic, &secret).await?;
        Ok(Some(
            state.settings.url(&format!("/c/{slug}/meta/data-deletion")),
        ))
    }
    .await;
    database.shutdown();
    match result? {
        Some(callback) => {
            println!(
                "Saved the Meta app secret of `{slug}` (encrypted). Data-deletion callback URL: {callback}"
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("error: no clinic has the slug `{slug}`");
            Ok(ExitCode::from(1))
        }
    }
}

fn base_url(config: &Config) -> String {
    config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.bind))
}

/// Polls a job until it is done or failed (or has a recorded error), or the
/// timeout passes.
async fn wait_for_job(
    db: &app::backend::db::Db,
    id: i64,
    timeout: Duration,
) -> anyhow::Result<Option<(String, Option<String>)>> {
    use app::backend::db::schema::jobs;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let started = std::time::Instant::now();
    while started.elapsed() < timeout {
        let row: (String, Option<String>) = db
            .scoped(Scope::System, move |c| {
                Box::pin(async move {
                    Ok::<_, app::backend::db::DbError>(
                        jobs::table
                            .find(id)
                            .select((jobs::status, jobs::last_error))
                            .first(c)
                            .await?,
                    )
                })
            })
            .await?;
        if row.0 == "done" || row.0 == "failed" || row.1.is_some() {
            return Ok(Some(row));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `create-clinic` with valid required flags, `overrides` replacing or
    /// adding flag values.
    fn args(overrides: &[(&str, &str)]) -> CreateClinicArgs {
        let mut flags = vec![
            ("--slug", "north"),
            ("--name", "North Clinic"),
            ("--country", "de"),
            ("--contact-email", "privacy@north.example"),
            ("--authority-name", "Data Protection Authority"),
        ];
        for (flag, value) in overrides {
            match flags.iter_mut().find(|(f, _)| f == flag) {
                Some(existing) => existing.1 = value,
                None => flags.push((flag, value)),
            }
        }
        let mut argv = vec!["privacy-portal", "create-clinic"];
        argv.extend(flags.iter().flat_map(|(f, v)| [*f, *v]));
        match Cli::parse_from(argv).command {
            Some(Command::CreateClinic(args)) => *args,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn valid_arguments_become_a_clinic() {
        let clinic = args(&[
            ("--deadline", "30"),
            ("--owner-email", "Owner@North.example"),
            ("--origin", "https://north.example"),
        ])
        .validate()
        .expect("valid");
        assert_eq!(clinic.slug.as_str(), "north");
        assert_eq!(clinic.profile.country.as_str(), "DE");
        assert_eq!(
            clinic.profile.deadline,
            app::domain::clinic::DeadlineRule::Days(30)
        );
        assert_eq!(clinic.profile.legal_name, "North Clinic");
        assert_eq!(
            clinic.owner.expect("owner").email.as_str(),
            "Owner@north.example"
        );
        assert_eq!(
            clinic.profile.allowed_origins,
            vec!["https://north.example".to_owned()]
        );
    }

    #[test]
    fn every_invalid_argument_is_reported_by_flag() {
        let errors = args(&[
            ("--slug", "Bad Slug"),
            ("--country", "Germany"),
            ("--deadline", "soon"),
            ("--origin", "north.example"),
            ("--dpo-email", "nope"),
        ])
        .validate()
        .expect_err("invalid");
        for flag in [
            "--slug",
            "--country",
            "--deadline",
            "--origin",
            "--dpo-email",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(flag)),
                "{flag} missing from {errors:?}"
            );
        }
    }
}
