//! Who is asking: the session extractor. Handlers that need a signed-in user take
//! [`SignedIn`]; it checks the cookie against the database on every request (a revoked or
//! superseded session stops working at once, SEC-27) and refuses with 401 — or, for a page,
//! a redirect to the sign-in form that says why.
//!
//! A session whose user must first enrol a second factor (SEC-12) is not [`SignedIn`]: only
//! handlers taking [`Enrolling`] (the security page, sign-out) accept it; everything else
//! answers 403 `mfa_enrollment_required`, or sends a page request to the enrolment page.

use attest_domain::authn::sessions::{ClientFacts, SessionFailure, Standing, VerifiedSession};
use attest_domain::identity::Origin;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::cookies;
use crate::error::{Format, error_code_response};
use crate::middleware::RequestContext;
use crate::middleware::frame::ActorTag;

/// A request from a signed-in user in full standing.
#[derive(Debug, Clone)]
pub struct SignedIn(pub VerifiedSession);

/// A request from a signed-in user who may still have to enrol a second factor.
#[derive(Debug, Clone)]
pub struct Enrolling(pub VerifiedSession);

/// Why a request is not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Session(SessionFailure),
    MustEnrol,
}

/// Why a request is not signed in, rendered for its client.
#[derive(Debug)]
pub struct AuthRejection {
    failure: Refusal,
    format: Format,
    path: String,
    get: bool,
    request_id: attest_types::RequestId,
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let failure = match self.failure {
            Refusal::MustEnrol => {
                if self.format == Format::Html && self.get {
                    return crate::routes::see_other("/account/security");
                }
                return error_code_response(
                    StatusCode::FORBIDDEN,
                    "mfa_enrollment_required",
                    self.request_id,
                    self.format,
                );
            }
            // The database is busy: retry, do not send a signed-in user to the sign-in form.
            Refusal::Session(SessionFailure::Unavailable) => {
                return crate::error::unavailable_response(self.request_id, self.format);
            }
            Refusal::Session(f) => f,
        };
        if self.format == Format::Html && self.get {
            let mut target = format!("/login?next={}", urlencode(&self.path));
            if failure != SessionFailure::Unknown {
                target.push_str("&reason=");
                target.push_str(failure.code());
            }
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        error_code_response(
            StatusCode::UNAUTHORIZED,
            failure.code(),
            self.request_id,
            self.format,
        )
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Requests sent by scripts on a timer set this header; they do not extend the idle time.
pub const BACKGROUND_HEADER: &str = "x-attest-background";

/// The bearer token of a request (`Authorization: Bearer …`), if any.
#[must_use]
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Hands a session the route policy verified (from an API token) to the handler.
pub(crate) fn accept_checked(parts: &mut Parts, session: VerifiedSession) {
    parts.extensions.insert(Checked(session));
}

/// A session the route policy (`policy::enforce`) verified for this request, so extractors
/// do not look it up a second time.
#[derive(Debug, Clone)]
struct Checked(VerifiedSession);

/// Authenticates a request for the route policy and keeps the verified session for the
/// handler's extractor.
///
/// # Errors
/// The rejection to answer with.
pub(crate) async fn authenticate_request(
    parts: &mut Parts,
    state: &AppState,
    any_standing: bool,
) -> Result<VerifiedSession, AuthRejection> {
    let session = authenticate(parts, state, any_standing).await?;
    parts.extensions.insert(Checked(session.clone()));
    Ok(session)
}

async fn authenticate(
    parts: &Parts,
    state: &AppState,
    any_standing: bool,
) -> Result<VerifiedSession, AuthRejection> {
    let context = parts.extensions.get::<RequestContext>();
    let reject = |failure| AuthRejection {
        failure,
        format: Format::negotiate(parts.uri.path(), &parts.headers),
        path: parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
        get: parts.method == Method::GET,
        request_id: context.map_or_else(attest_types::RequestId::new_random, |c| c.request_id),
    };
    let session = if let Some(Checked(checked)) = parts.extensions.get::<Checked>() {
        checked.clone()
    } else {
        let token = cookies::get(&parts.headers, cookies::SESSION)
            .ok_or_else(|| reject(Refusal::Session(SessionFailure::Unknown)))?;
        let background = parts.headers.get(BACKGROUND_HEADER).is_some();
        state
            .identity
            .authenticate(&token, background)
            .await
            .map_err(|f| reject(Refusal::Session(f)))?
    };
    if !any_standing && session.standing != Standing::Full {
        return Err(reject(Refusal::MustEnrol));
    }
    Ok(session)
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = authenticate(parts, state, false).await?;
        Ok(Self(session))
    }
}

impl FromRequestParts<AppState> for Enrolling {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = authenticate(parts, state, true).await?;
        Ok(Self(session))
    }
}

impl OptionalFromRequestParts<AppState> for Enrolling {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(authenticate(parts, state, true).await.ok().map(Self))
    }
}

impl OptionalFromRequestParts<AppState> for SignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(authenticate(parts, state, false).await.ok().map(Self))
    }
}

/// The client facts and audit origin of a request.
#[must_use]
pub fn client_of(
    parts_ctx: Option<&RequestContext>,
    user_agent: Option<&HeaderValue>,
) -> (ClientFacts, Origin) {
    let ip = parts_ctx.map(|c| c.client_ip);
    (
        ClientFacts {
            ip: ip.map(|i| i.to_string()),
            user_agent: user_agent.and_then(|v| v.to_str().ok()).map(str::to_owned),
        },
        Origin {
            ip,
            request_id: parts_ctx.map(|c| c.request_id),
        },
    )
}

/// Tags the response with the actor, for the access log.
pub fn tag(response: &mut Response, session: &VerifiedSession) {
    response
        .extensions_mut()
        .insert(ActorTag(attest_types::Actor::User(session.user)));
}
