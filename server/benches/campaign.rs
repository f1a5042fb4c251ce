//! Campaign throughput: a change notice sent by the campaign job to every
//! recipient of an imported list, through a local SMTP listener, beside a
//! plain lettre loop sending a message of the same template to the same
//! listener over one connection, measured in the same run. A short run of
//! lettre's pooled transport as shipped shows what `TCP_NODELAY` is worth.
//!
//! `cargo bench -p server --bench campaign` (optimised build). It starts a
//! managed Postgres cluster with durable commits in a temporary folder and
//! stops it afterwards. `PORTAL_BENCH_EMAILS` sets the number of messages of
//! each run (default 5,000). The exit status is 1 when a target is missed:
//! at least 0.8× the loop and 500 emails/s.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at its first failure")]

#[path = "../tests/common/smtp.rs"]
#[allow(dead_code, reason = "the benchmark counts messages and reads none")]
mod smtp;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use app::backend::audit::AuditContext;
use app::backend::db::DbError;
use app::backend::db::schema::{campaign_recipients, campaigns};
use app::backend::email::compose;
use app::backend::email::templates::PolicyChangeNotice;
use app::backend::email::transport::build_message;
use app::backend::services::clinics::{self, CreateClinic, NewOwner};
use app::backend::services::notices::{self, Publisher, campaigns as campaign, subscriptions};
use app::backend::tenancy::Scope;
use app::domain::clinic::ClinicSlug;
use app::domain::clinic_profile::ClinicProfileForm;
use app::domain::email::EmailAddress;
use app::domain::notices::{DocumentKind, DraftForm};
use app::domain::recipients::parse_csv;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use server::config::Config;
use server::startup::{Database, app_state, job_context};

use smtp::SmtpSink;

const FROM: &str = "Clinic Privacy Portal <no-reply@privacy-portal.localhost>";
const MIN_RATIO: f64 = 0.8;
const MIN_RATE: f64 = 500.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let emails: usize = std::env::var("PORTAL_BENCH_EMAILS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let data_dir = tempfile::tempdir()?;
    // The postgres user runs the cluster when we are root.
    std::fs::set_permissions(data_dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let sink = SmtpSink::start();
    let vars = [
        ("PORTAL_DATA_DIR", data_dir.path().display().to_string()),
        ("SMTP_URL", sink.url()),
        ("PORTAL_CAMPAIGN_RATE", "100000".to_owned()),
        ("PORTAL_MAIL_FROM", FROM.to_owned()),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })?;
    eprintln!("starting Postgres in {}", data_dir.path().display());
    let database = Database::connect(&config).await?;
    let state = app_state(
        &config,
        database.db.clone(),
        "https://portal.example".into(),
    )?;
    let ctx = job_context(&config, &state)?;

    // The plain loop: one message, sent again and again over one connection.
    let notice = PolicyChangeNotice {
        publisher: "Clinic Bench".into(),
        document: "privacy notice".into(),
        version_title: "Privacy notice".into(),
        number: 2,
        summary: "We now keep appointment logs for 30 days.".into(),
        effective_date: "1 January 2027".into(),
        version_url: "https://portal.example/c/bench/privacy/versions/2".into(),
        diff_url: "https://portal.example/c/bench/privacy/versions/2/diff".into(),
        unsubscribe_url: "https://portal.example/email/unsubscribe/r1.tag".into(),
        contacts_url: None,
    };
    let outgoing = compose(
        &notice,
        EmailAddress::parse("loop@example.org")?,
        "portal.example",
    )?;
    let message = build_message(FROM, &outgoing)?;

    // lettre's pooled transport as it comes: Nagle's algorithm holds the
    // end-of-data marker for the listener's delayed ACK, so a short run says
    // enough.
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port)
        .build();
    transport.send(message.clone()).await?;
    let stock_emails = emails.min(200);
    let before = sink.count();
    let started = Instant::now();
    for _ in 0..stock_emails {
        transport.send(message.clone()).await?;
    }
    let stock_time = started.elapsed();
    assert_eq!(
        sink.count() - before,
        stock_emails,
        "the listener got every message"
    );

    // The baseline, measured before and after the campaign so that drift
    // in the machine's speed falls on both sides.
    let loop_before = plain_loop(&sink, &outgoing, emails).await?;

    // The campaign: a clinic, an imported list, a scheduled material change.
    let clinic = clinics::create(&state.db, &AuditContext::cli(), bench_clinic()).await?;
    let csv: String = std::iter::once("email".to_owned())
        .chain((0..emails).map(|i| format!("patient{i}@example.org")))
        .collect::<Vec<_>>()
        .join("\n");
    let report = subscriptions::import_list(
        &state.db,
        &AuditContext::cli(),
        clinic,
        "Patients",
        parse_csv(csv.as_bytes()).map_err(|e| anyhow::anyhow!("{e:?}"))?,
    )
    .await?;
    assert_eq!(report.imported, emails);
    let publisher = Publisher::Clinic(clinic);
    let draft = DraftForm {
        title: "Privacy notice".into(),
        body: "We keep appointment logs for 30 days.".into(),
        summary: "Appointment logs are kept for 30 days.".into(),
        material: true,
    }
    .validate()
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let cli = AuditContext::cli();
    let kind = DocumentKind::PrivacyNotice;
    notices::save_draft(&state, &cli, publisher, kind, None, draft).await?;
    let effective = chrono::Utc::now() + chrono::Duration::days(31);
    notices::publish(&state, &cli, publisher, kind, None, Some(effective)).await?;
    let id: uuid::Uuid = state
        .db
        .scoped(Scope::System, |c| {
            Box::pin(async move {
                Ok::<_, DbError>(campaigns::table.select(campaigns::id).first(c).await?)
            })
        })
        .await?;
    let payload = serde_json::json!({ "campaign": id });
    campaign::prepare(&ctx, &payload).await?;
    let before = sink.count();
    let started = Instant::now();
    campaign::send(&ctx, &payload).await?;
    let campaign_time = started.elapsed();
    let received = sink.count() - before;
    let sent: i64 = state
        .db
        .scoped(Scope::System, move |c| {
            Box::pin(async move {
                Ok::<_, DbError>(
                    campaign_recipients::table
                        .filter(campaign_recipients::campaign_id.eq(id))
                        .filter(campaign_recipients::status.eq("sent"))
                        .count()
                        .get_result(c)
                        .await?,
                )
            })
        })
        .await?;
    assert_eq!(received, emails, "the listener got every campaign message");
    assert_eq!(
        sent,
        i64::try_from(emails)?,
        "every row is recorded as sent"
    );

    let loop_after = plain_loop(&sink, &outgoing, emails).await?;
    database.shutdown();

    let rate = |count: usize, time: Duration| count as f64 / time.as_secs_f64();
    let stock_rate = rate(stock_emails, stock_time);
    let loop_rate = (rate(emails, loop_before) + rate(emails, loop_after)) / 2.0;
    let campaign_rate = rate(emails, campaign_time);
    let ratio = campaign_rate / loop_rate;
    println!("campaign throughput to a local SMTP listener, 2-core machine");
    println!(
        "{:<54} {:>6} {:>9} {:>7}",
        "", "emails", "emails/s", "seconds"
    );
    let row = |name: &str, count: usize, time: Duration| {
        println!(
            "{name:<54} {count:>6} {:>9.0} {:>7.2}",
            rate(count, time),
            time.as_secs_f64()
        );
    };
    row(
        "lettre pooled transport as shipped (Nagle on)",
        stock_emails,
        stock_time,
    );
    row(
        "baseline: build and send in a loop, 1 connection",
        emails,
        loop_before,
    );
    row(
        "campaign job (render, send on 8 connections, record)",
        emails,
        campaign_time,
    );
    row("baseline again", emails, loop_after);
    println!(
        "campaign / baseline (mean of both runs): {ratio:.2}x (target {MIN_RATIO}x and \
         {MIN_RATE} emails/s); lettre as shipped: {:.3}x of the baseline",
        stock_rate / loop_rate
    );
    if ratio < MIN_RATIO || campaign_rate < MIN_RATE {
        println!("TARGET MISSED");
        std::process::exit(1);
    }
    println!("targets met");
    Ok(())
}

/// Builds each recipient's message with lettre and sends it over one lettre
/// connection on a socket with `TCP_NODELAY`; the time taken.
async fn plain_loop(
    sink: &SmtpSink,
    outgoing: &app::backend::email::OutgoingEmail,
    emails: usize,
) -> anyhow::Result<Duration> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", sink.port)).await?;
    stream.set_nodelay(true)?;
    let mut connection =
        AsyncSmtpConnection::connect_with_transport(Box::new(stream), &ClientId::default()).await?;
    let before = sink.count();
    let started = Instant::now();
    for i in 0..emails {
        let mut email = outgoing.clone();
        email.to = EmailAddress::parse(&format!("loop{i}@example.org"))?;
        email.message_id = format!("<loop.{i}@portal.example>");
        let message = build_message(FROM, &email)?;
        connection
            .send(message.envelope(), &message.formatted())
            .await?;
    }
    let time = started.elapsed();
    connection.quit().await?;
    assert_eq!(
        sink.count() - before,
        emails,
        "the listener got every loop message"
    );
    Ok(time)
}

fn bench_clinic() -> CreateClinic {
    let profile = ClinicProfileForm {
        name: "Clinic Bench".into(),
        legal_name: "Clinic Bench Ltd".into(),
        country: "DE".into(),
        jurisdiction: "eu_gdpr".into(),
        default_locale: "en".into(),
        deadline: "30".into(),
        notice_period_days: "30".into(),
        contact_email: "privacy@bench.example".into(),
        authority_name: "Data Protection Authority".into(),
        ..ClinicProfileForm::default()
    }
    .validate()
    .expect("a valid profile");
    CreateClinic {
        slug: ClinicSlug::parse("bench").expect("a valid slug"),
        profile,
        owner: Some(NewOwner {
            email: EmailAddress::parse("owner@bench.example").expect("an address"),
            display_name: "Owner".into(),
        }),
    }
}
