//! Outgoing email: templates, the outbox job that carries a message, and the
//! transport. Services only ever enqueue; the worker sends.

pub mod relay;
pub mod templates;
pub mod transport;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::backend::crypto::Crypto;
use crate::backend::db::Conn;
use crate::backend::jobs::{self, NewJob};
use crate::domain::clinic::ClinicId;
use crate::domain::email::EmailAddress;

/// Purpose under which email jobs are sealed.
pub const SEAL_PURPOSE: &str = "email.job";
/// Job kind of one email.
pub const JOB_KIND: &str = "email.send";

/// A fully rendered message waiting in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutgoingEmail {
    /// Which template produced it, for the delivery log.
    pub template: String,
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Extra headers such as `List-Unsubscribe`.
    pub headers: Vec<(String, String)>,
    /// `Message-ID`, fixed at enqueue time so that a retry is recognisably the
    /// same message.
    pub message_id: String,
}

/// A message type: one askama template pair (plain text and HTML).
pub trait EmailMessage {
    /// Template name, e.g. `delivery_check`.
    const TEMPLATE: &'static str;
    /// Subject line.
    fn subject(&self) -> String;
    /// Plain-text body.
    fn render_text(&self) -> askama::Result<String>;
    /// HTML body.
    fn render_html(&self) -> askama::Result<String>;
}

/// Renders `message` for `to`.
pub fn compose<M: EmailMessage>(
    message: &M,
    to: EmailAddress,
    message_domain: &str,
) -> askama::Result<OutgoingEmail> {
    Ok(OutgoingEmail {
        template: M::TEMPLATE.to_owned(),
        to,
        subject: message.subject(),
        text: message.render_text()?,
        html: message.render_html()?,
        headers: Vec::new(),
        message_id: format!("<{}@{}>", uuid::Uuid::now_v7(), message_domain),
    })
}

/// Puts `email` in the outbox inside the caller's transaction. The body is
/// sealed under the master key: messages may carry sign-in links and personal
/// data. Returns `None` when a job with the same idempotency key exists.
pub async fn enqueue(
    conn: &Conn,
    crypto: &Crypto,
    clinic_id: Option<ClinicId>,
    email: &OutgoingEmail,
    idempotency_key: Option<String>,
) -> diesel::QueryResult<Option<i64>> {
    let plain = serde_json::to_vec(email)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let payload = serde_json::json!({
        "template": email.template,
        "to": email.to.masked(),
        "sealed": crypto.seal_to_base64(SEAL_PURPOSE, &plain),
    });
    jobs::enqueue(
        conn,
        NewJob {
            clinic_id,
            kind: JOB_KIND.to_owned(),
            payload,
            idempotency_key,
            run_at: Utc::now(),
            max_attempts: 8,
        },
    )
    .await
}
