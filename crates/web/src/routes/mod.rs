//! Handlers, one module per area.

pub mod account;
pub mod assets;
pub mod auth;
pub mod health;
pub mod home;
pub mod onboarding;
