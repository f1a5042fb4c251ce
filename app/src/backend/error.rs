//! The errors users can meet, mapped to status codes and plain messages.

use http::StatusCode;

use crate::backend::db::DbError;

/// An error a handler returns. Its message is safe to show; details of
/// internal failures go to the log only, tied to the request id.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("You do not have access to this page.")]
    Forbidden,
    #[error("This page does not exist.")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("The request is too large.")]
    PayloadTooLarge,
    #[error("Too many requests. Please wait a moment and try again.")]
    RateLimited,
    #[error("The service is temporarily unavailable. Please try again shortly.")]
    Unavailable,
    #[error("Something went wrong on our side.")]
    Internal(String),
}

impl AppError {
    /// HTTP status for the error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<DbError> for AppError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(detail) => {
                tracing::error!(%detail, "database unavailable");
                Self::Unavailable
            }
            other => {
                tracing::error!(error = %other, "database error");
                Self::Internal(other.to_string())
            }
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        DbError::from(error).into()
    }
}
