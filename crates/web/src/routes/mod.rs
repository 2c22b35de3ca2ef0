//! Handlers, one module per area.

pub mod assets;
pub mod health;
pub mod home;
