//! Authentication: password rules and hashing, login with throttling, sessions, second
//! factors (TOTP, recovery codes, passkeys), step-up, and OpenID Connect single sign-on.

pub mod api_tokens;
pub mod hashing;
pub mod login;
pub mod mfa;
pub mod passkeys;
pub mod password_policy;
pub mod sessions;
pub mod sso;
pub mod throttle;
