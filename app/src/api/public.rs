//! Data for public pages (no sign-in).

use super::pages::app_state as state;
use crate::backend::error::AppError;
use crate::backend::services::clinics::{self, PublicClinic};
use crate::backend::services::demo::DEMO_SLUG;

/// The public profile of an active clinic.
pub async fn clinic(slug: &str) -> Result<Option<PublicClinic>, AppError> {
    let state = state()?;
    Ok(clinics::public(&state, slug).await?)
}

/// Whether the demo clinic is there to be shown.
pub async fn demo_clinic_exists() -> bool {
    match clinic(DEMO_SLUG).await {
        Ok(found) => found.is_some(),
        Err(_) => false,
    }
}

/// A requester's view of their request, for a valid status link.
pub async fn request_status(
    slug: &str,
    reference: &str,
    token: &str,
) -> Result<Option<(PublicClinic, crate::backend::services::requests::StatusView)>, AppError> {
    let state = state()?;
    let Some(clinic) = clinics::public(&state, slug).await? else {
        return Ok(None);
    };
    match crate::backend::services::requests::status(&state, clinic.id, reference, token).await {
        Ok(view) => Ok(Some((clinic, view))),
        Err(crate::backend::services::requests::RequestError::Db(e)) => Err(e.into()),
        Err(_) => Ok(None),
    }
}

/// The files behind a download link.
pub async fn request_downloads(
    slug: &str,
    grant: &str,
) -> Result<
    Option<(
        PublicClinic,
        Vec<crate::backend::services::requests::FileListing>,
    )>,
    AppError,
> {
    let state = state()?;
    let Some(clinic) = clinics::public(&state, slug).await? else {
        return Ok(None);
    };
    match crate::backend::services::requests::downloads(&state, clinic.id, grant).await {
        Ok((_, files)) => Ok(Some((clinic, files))),
        Err(crate::backend::services::requests::RequestError::Db(e)) => Err(e.into()),
        Err(_) => Ok(None),
    }
}

/// The status behind a Meta confirmation code.
pub async fn meta_deletion(
    slug: &str,
    code: &str,
) -> Result<
    Option<(
        PublicClinic,
        crate::backend::services::requests::meta::DeletionStatus,
    )>,
    AppError,
> {
    let state = state()?;
    let Some(clinic) = clinics::public(&state, slug).await? else {
        return Ok(None);
    };
    Ok(
        crate::backend::services::requests::meta::deletion_status(&state, clinic.id, code)
            .await?
            .map(|s| (clinic, s)),
    )
}
