//! Hands messages to the SMTP relay (reused connections, see [`super::relay`])
//! or, without `SMTP_URL`, writes each one as an `.eml` file into the outbox
//! folder.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::OutgoingEmail;
use super::relay::{Endpoint, Relay, RelayError};
use crate::domain::email::fold_header;

/// SMTP connections open at once, idle or busy.
pub const SMTP_CONNECTIONS: usize = 8;

/// Why a message was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Retrying will not help (bad address, 5xx answer).
    #[error("rejected: {0}")]
    Permanent(String),
    /// Worth retrying later (connection refused, 4xx answer).
    #[error("temporarily failed: {0}")]
    Transient(String),
}

/// The configured transport.
#[derive(Clone)]
pub enum Mailer {
    Smtp(std::sync::Arc<Relay>),
    Files {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Mailer {
    /// Reused SMTP connections from a URL such as `smtp://127.0.0.1:2525` or
    /// `smtps://user:pass@mail.example.org`.
    pub fn smtp(url: &SecretString) -> Result<Self, MailError> {
        let endpoint = Endpoint::parse(url.expose_secret())
            .map_err(|e| MailError::Permanent(format!("SMTP_URL {e}")))?;
        Ok(Self::Smtp(std::sync::Arc::new(Relay::new(
            endpoint,
            SMTP_CONNECTIONS,
            Duration::from_secs(30),
        ))))
    }

    /// One `.eml` file per message in `dir` (created if missing).
    pub fn files(dir: PathBuf) -> Result<Self, MailError> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| MailError::Permanent(format!("{}: {e}", dir.display())))?;
        Ok(Self::Files {
            transport: AsyncFileTransport::new(&dir),
            dir,
        })
    }

    /// Where mail goes, for logs (never includes credentials).
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp(_) => "SMTP".to_owned(),
            Self::Files { dir, .. } => format!("files in {}", dir.display()),
        }
    }

    /// Sends one message.
    pub async fn send(&self, from: &str, email: &OutgoingEmail) -> Result<(), MailError> {
        let message = build_message(from, email)?;
        match self {
            Self::Smtp(relay) => relay
                .send(message.envelope(), &message.formatted())
                .await
                .map(|_| ())
                .map_err(|e| match e {
                    RelayError::Smtp(e) if e.is_permanent() => MailError::Permanent(e.to_string()),
                    other => MailError::Transient(other.to_string()),
                }),
            Self::Files { transport, .. } => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Transient(e.to_string())),
        }
    }
}

/// The MIME message of `email` from `from`.
pub fn build_message(from: &str, email: &OutgoingEmail) -> Result<Message, MailError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| MailError::Permanent(format!("sender address: {e}")))?;
    let to: Mailbox = email
        .to
        .as_str()
        .parse()
        .map_err(|e| MailError::Permanent(format!("recipient address: {e}")))?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone());
    // lettre folds at spaces only, so a message id or an unsubscribe URL
    // after its header name makes one line longer than RFC 5322's 78
    // characters; folded before the token, each fits on its own line.
    let message_id = std::iter::once(("Message-ID", &email.message_id));
    let extra = email.headers.iter().map(|(n, v)| (n.as_str(), v));
    for (name, value) in message_id.chain(extra) {
        let header = HeaderName::new_from_ascii(name.to_owned())
            .map_err(|e| MailError::Permanent(format!("header {name}: {e}")))?;
        if !value.is_ascii() || value.contains(['\r', '\n']) {
            return Err(MailError::Permanent(format!(
                "header {name}: not a single line of ASCII"
            )));
        }
        let folded = fold_header(name, value);
        builder = builder.raw_header(HeaderValue::dangerous_new_pre_encoded(
            header,
            value.clone(),
            folded,
        ));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|e| MailError::Permanent(e.to_string()))
}
