//! Data for public pages (no sign-in).

use super::pages::app_state as state;
use crate::backend::error::AppError;
use crate::backend::services::clinics::{self, PublicClinic};
use crate::backend::services::demo::DEMO_SLUG;

/// The public profile of an active clinic.
pub async fn clinic(slug: &str) -> Result<Option<PublicClinic>, AppError> {
    let state = state()?;
    Ok(clinics::find_public(&state.db, slug).await?)
}

/// Whether the demo clinic is there to be shown.
pub async fn demo_clinic_exists() -> bool {
    match clinic(DEMO_SLUG).await {
        Ok(found) => found.is_some(),
        Err(_) => false,
    }
}
