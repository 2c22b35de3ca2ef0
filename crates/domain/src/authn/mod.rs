//! Authentication: password rules and hashing, login with throttling, sessions,
//! second factors (TOTP, recovery codes, passkeys) and step-up.

pub mod hashing;
pub mod login;
pub mod mfa;
pub mod passkeys;
pub mod password_policy;
pub mod sessions;
pub mod throttle;
