//! Authentication: password rules, hashing on a bounded pool, and (with the identity
//! features) login, throttling and sessions.

pub mod hashing;
pub mod password_policy;
