//! Middleware every request passes through (outermost first): [`frame`] (request context,
//! panic guard, uniform errors, security headers, access log, metrics), then [`limits`]
//! (methods, concurrency), then the timeout and body-size limits from tower-http, and
//! innermost [`step_up`] (keeps browser form fields for an inline step-up).

pub mod client_ip;
pub mod csrf;
pub mod frame;
pub mod headers;
pub mod limits;
pub mod step_up;

pub use frame::RequestContext;
