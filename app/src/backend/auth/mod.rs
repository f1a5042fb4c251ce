//! Who is making a request: sessions, the signed-in user and their clinics.

pub mod session_store;
pub mod visitor;

/// Keys of values kept in the session.
pub mod keys {
    /// The signed-in user's id.
    pub const USER_ID: &str = "user_id";
    /// When the user signed in (RFC 3339), for the absolute timeout.
    pub const SIGNED_IN_AT: &str = "signed_in_at";
    /// Last request (RFC 3339), for the idle timeout; refreshed once a minute.
    pub const LAST_SEEN: &str = "last_seen";
    /// The per-session form token checked on every POST.
    pub const CSRF: &str = "csrf";
    /// A one-time message for the next page.
    pub const FLASH: &str = "flash";
    /// State, nonce and PKCE verifier of an SSO sign-in in progress.
    pub const OIDC_FLOW: &str = "oidc_flow";
    /// The clinic last worked in, for `/admin`.
    pub const CURRENT_CLINIC: &str = "current_clinic";
}
