//! Authentication: password rules and hashing, login with throttling, sessions.

pub mod hashing;
pub mod login;
pub mod mfa;
pub mod password_policy;
pub mod sessions;
pub mod throttle;
