//! The emails of a privacy request, in the requester's language, enqueued in
//! the caller's transaction.

use diesel::QueryResult;

use super::{ClinicFacts, RequestRow};
use crate::backend::db::Conn;
use crate::backend::email::templates::{RequestUpdate, RequestVerification};
use crate::backend::email::{self, EmailMessage, compose};
use crate::backend::state::AppState;
use crate::domain::clinic::ClinicId;
use crate::domain::email::EmailAddress;
use crate::domain::locale::Locale;
use crate::i18n::t_args;

async fn send<M: EmailMessage>(
    c: &Conn,
    state: &AppState,
    clinic: ClinicId,
    message: &M,
    to: EmailAddress,
) -> QueryResult<()> {
    let outgoing = compose(message, to, &state.settings.message_domain())
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    email::enqueue(c, &state.crypto, Some(clinic), &outgoing, None)
        .await
        .map(|_| ())
}

fn address(row: &RequestRow) -> Option<EmailAddress> {
    row.requester_email
        .as_deref()
        .and_then(|e| EmailAddress::parse(e).ok())
}

/// The link that confirms a new request to the clinic `(id, name)`.
pub(super) async fn verification(
    c: &Conn,
    state: &AppState,
    (clinic_id, clinic_name): (ClinicId, &str),
    locale: Locale,
    to: &EmailAddress,
    link: &str,
) -> QueryResult<()> {
    let clinic = || vec![("clinic", clinic_name.to_owned())];
    let message = RequestVerification {
        clinic: clinic_name.to_owned(),
        subject: t_args(locale, "mail-verify-subject", &clinic()),
        intro: t_args(locale, "mail-verify-intro", &clinic()),
        button: t_args(locale, "request-verify-button", &[]),
        ignore: t_args(locale, "mail-verify-ignore", &[]),
        link: link.to_owned(),
    };
    send(c, state, clinic_id, &message, to.clone()).await
}

/// News about the request, with its private link. Requests without an email
/// address (from Meta) are followed on their status page only.
pub(super) async fn update(
    c: &mut Conn,
    state: &AppState,
    facts: &ClinicFacts,
    row: &RequestRow,
    link: &str,
    paragraphs: Vec<String>,
) -> QueryResult<()> {
    let Some(to) = address(row) else {
        return Ok(());
    };
    let locale = row.locale();
    let reference = row.reference.clone().unwrap_or_default();
    let message = RequestUpdate {
        clinic: facts.name.clone(),
        reference: reference.clone(),
        subject: t_args(
            locale,
            "mail-update-subject",
            &[("clinic", facts.name.clone()), ("reference", reference)],
        ),
        paragraphs,
        link_intro: t_args(locale, "mail-status-link", &[]),
        link: link.to_owned(),
    };
    send(c, state, facts.id, &message, to).await
}

/// The 7-day download link.
pub(super) async fn download_link(
    c: &mut Conn,
    state: &AppState,
    facts: &ClinicFacts,
    row: &RequestRow,
    link: &str,
) -> QueryResult<()> {
    let Some(to) = address(row) else {
        return Ok(());
    };
    let locale = row.locale();
    let reference = row.reference.clone().unwrap_or_default();
    let message = RequestUpdate {
        clinic: facts.name.clone(),
        reference: reference.clone(),
        subject: t_args(locale, "mail-download-subject", &[("reference", reference)]),
        paragraphs: vec![t_args(
            locale,
            "mail-download-intro",
            &[("clinic", facts.name.clone())],
        )],
        link_intro: String::new(),
        link: link.to_owned(),
    };
    send(c, state, facts.id, &message, to).await
}
