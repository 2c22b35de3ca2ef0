//! The HTTP layer, kept thin: it turns requests into calls of the domain and results into
//! responses. It owns no business rule and no SQL.
//!
//! - [`router`] assembles routes and the middleware stack every response passes through.
//! - [`middleware`]: request framing (request id, client address, CSP nonce, panic guard,
//!   uniform error bodies, access log, metrics), security headers, limits.
//! - [`openapi`]: the OpenAPI document of `/api/v1`, built from the route table and the
//!   request structs.
//! - [`multipart`]: file uploads, the text fields read and the file streamed on.
//! - [`policy`]: who may call each route (SEC-31); [`router::ROUTES`] declares it for every route.
//! - [`routes`]: one module per area (`health`, `home`, static assets).
//! - [`error`]: [`error::AppError`] and the generic error bodies (SEC-76).
//! - [`server`]: the TLS listener, the redirect-only plain-HTTP listener, the metrics
//!   listener, certificate reloading and graceful shutdown.

pub mod auth;
pub mod cookies;
pub mod error;
pub mod middleware;
pub mod multipart;
pub mod openapi;
pub mod policy;
pub mod qr;
pub mod router;
pub mod routes;
pub mod server;
pub mod state;
pub mod views;

pub use router::build_router;
pub use state::{AppState, WebSettings};
