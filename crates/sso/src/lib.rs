//! The OpenID Connect protocol for single sign-on (SEC-18), and nothing else: discovery, the
//! authorization request (code flow, PKCE S256, `state`, `nonce`), the code exchange and the
//! verification of the ID token (signature against the provider's JWKS with an algorithm
//! allowlist, `iss`, `aud`, `exp`, `nonce`). It knows no database, no web framework and no
//! tenant: the domain's `authn::sso` decides what a verified identity may do.
//!
//! This crate owns `openidconnect` and its re-exported `http` types so that the domain never
//! names an HTTP crate (docs/ARCHITECTURE.md). Outbound requests go through
//! [`http::Outbound`]: https only (loopback http in development), no redirects, timeouts and a
//! response size cap.
//!
//! Secrets (the client secret, the code, tokens, the PKCE verifier, the nonce) never appear in
//! an error's text or a log line: errors carry categories and facts for the log.

pub mod http;

use std::fmt;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret as OidcSecret, CsrfToken,
    DiscoveryError, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse as _,
};
use zeroize::Zeroizing;

pub use crate::http::{Outbound, OutboundPolicy};

/// ID-token signature algorithms accepted (SEC-18): asymmetric only. Never `none`, never an
/// HMAC keyed with the client secret (the verifier is built as a public client, so symmetric
/// keys do not exist for it).
pub const ALLOWED_ALGS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Longest issuer URL accepted.
pub const MAX_ISSUER_LEN: usize = 512;

/// A client secret: redacted in `Debug`, zeroized on drop.
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// The secret, for sealing or for the token request only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// An issuer URL that passed the outbound policy: https (or loopback http in development), no
/// credentials, no query or fragment; kept without a trailing slash exactly as the provider's
/// discovery document must state it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    /// Checks an issuer URL typed by an administrator.
    ///
    /// # Errors
    /// A sentence saying what to change.
    pub fn parse(text: &str, policy: &OutboundPolicy) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_ISSUER_LEN {
            return Err(format!(
                "Enter the provider's issuer URL (up to {MAX_ISSUER_LEN} characters), such as https://login.example.com/realms/acme."
            ));
        }
        let url = openidconnect::url::Url::parse(text).map_err(|_| {
            "Enter a full URL starting with https://, such as https://login.example.com.".to_owned()
        })?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err("The issuer URL has no query (?…) or fragment (#…).".to_owned());
        }
        http::check_url(&url, policy).map_err(|e| {
            if matches!(&e, http::HttpError::Refused(why) if why.ends_with("is not a public address")) {
                "The issuer must be on a public address: Attest does not call private, link-local or loopback addresses (SEC-49).".to_owned()
            } else if policy.allow_loopback_http {
                "The issuer URL must start with https:// (plain http is accepted only for 127.0.0.1 or localhost).".to_owned()
            } else {
                "The issuer URL must start with https://.".to_owned()
            }
        })?;
        Ok(Self(text.trim_end_matches('/').to_owned()))
    }

    /// Wraps a stored issuer (already checked when it was saved).
    #[must_use]
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The per-attempt secrets of one sign-in: `state`, `nonce` and the PKCE verifier. Only their
/// hashes (or nothing) are stored; `Debug` redacts them.
pub struct FlowSecrets {
    /// Sent as `state`; comes back on the callback.
    pub state: Zeroizing<String>,
    /// Sent as `nonce`; must come back inside the ID token.
    pub nonce: Zeroizing<String>,
    /// The PKCE verifier (43+ URL-safe characters); its S256 challenge is sent.
    pub pkce_verifier: Zeroizing<String>,
}

impl fmt::Debug for FlowSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlowSecrets([redacted])")
    }
}

/// Why talking to the provider failed (the provider's side, or the way to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderFailure {
    /// Discovery did not answer 200 or could not be reached.
    DiscoveryUnavailable(String),
    /// The discovery document or JWKS is not valid (or names another issuer).
    DiscoveryInvalid(String),
    /// The token endpoint could not be reached or answered with a server error.
    TokenEndpointUnavailable(String),
    /// The token endpoint refused the code (an OAuth error such as `invalid_grant`).
    TokenRefused {
        /// The OAuth error code.
        error: String,
        /// The provider's description, truncated.
        description: Option<String>,
    },
    /// The token response was not valid JSON of the expected shape.
    TokenResponseInvalid(String),
    /// The token response had no ID token.
    NoIdToken,
}

impl ProviderFailure {
    /// Stable code for pages, JSON and the audit trail.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::DiscoveryUnavailable(_) => "sso_discovery_unavailable",
            Self::DiscoveryInvalid(_) => "sso_discovery_invalid",
            Self::TokenEndpointUnavailable(_) => "sso_token_endpoint_unavailable",
            Self::TokenRefused { .. } => "sso_token_refused",
            Self::TokenResponseInvalid(_) => "sso_token_response_invalid",
            Self::NoIdToken => "sso_no_id_token",
        }
    }

    /// Facts for the log (never a token or a secret).
    #[must_use]
    pub fn detail(&self) -> String {
        match self {
            Self::DiscoveryUnavailable(d)
            | Self::DiscoveryInvalid(d)
            | Self::TokenEndpointUnavailable(d)
            | Self::TokenResponseInvalid(d) => d.clone(),
            Self::TokenRefused { error, description } => format!(
                "error={error} description={}",
                description.as_deref().unwrap_or("-")
            ),
            Self::NoIdToken => "the token response has no id_token".to_owned(),
        }
    }
}

/// Why an ID token was refused (SEC-18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    /// Unsigned (`alg: none`) or signed with an algorithm outside [`ALLOWED_ALGS`].
    DisallowedAlgorithm(String),
    /// The signature does not verify against the provider's keys.
    BadSignature(String),
    /// `aud` does not name our client.
    WrongAudience(String),
    /// `iss` is not the configured issuer.
    WrongIssuer(String),
    /// `exp` has passed.
    Expired(String),
    /// `nonce` is missing or not this attempt's (a replayed token).
    NonceMismatch(String),
    /// Anything else about the token (malformed, missing claims).
    Invalid(String),
}

impl TokenRejection {
    /// Stable code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::DisallowedAlgorithm(_) => "sso_token_unsigned",
            Self::BadSignature(_) => "sso_token_bad_signature",
            Self::WrongAudience(_) => "sso_token_wrong_audience",
            Self::WrongIssuer(_) => "sso_token_wrong_issuer",
            Self::Expired(_) => "sso_token_expired",
            Self::NonceMismatch(_) => "sso_token_replayed",
            Self::Invalid(_) => "sso_token_invalid",
        }
    }

    /// Facts for the log.
    #[must_use]
    pub fn detail(&self) -> &str {
        match self {
            Self::DisallowedAlgorithm(d)
            | Self::BadSignature(d)
            | Self::WrongAudience(d)
            | Self::WrongIssuer(d)
            | Self::Expired(d)
            | Self::NonceMismatch(d)
            | Self::Invalid(d) => d,
        }
    }
}

/// Why finishing a sign-in failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishFailure {
    /// The provider or the way to it failed.
    Provider(ProviderFailure),
    /// The ID token was refused.
    Token(TokenRejection),
}

/// An identity the provider vouched for in an ID token that passed every check. Only
/// [`OidcClient::finish`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    issuer: String,
    subject: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    amr: Vec<String>,
}

impl VerifiedIdentity {
    /// `iss`: the configured issuer.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// `sub`: stable per issuer.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// `email`, if the provider sent one.
    #[must_use]
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    /// `email_verified == true`.
    #[must_use]
    pub const fn email_verified(&self) -> bool {
        self.email_verified
    }
    /// `name`, if sent.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// `amr`: how the provider authenticated the user (RFC 8176), if sent.
    #[must_use]
    pub fn amr(&self) -> &[String] {
        &self.amr
    }
}

/// A provider's discovered metadata and keys.
#[derive(Debug, Clone)]
pub struct Provider {
    metadata: CoreProviderMetadata,
}

/// The OpenID Connect client of the installation (one for every tenant's provider).
#[derive(Debug, Clone)]
pub struct OidcClient {
    http: Outbound,
}

fn truncate(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect::<String>()
}

fn discovery_failure(e: DiscoveryError<http::HttpError>) -> ProviderFailure {
    match e {
        DiscoveryError::Request(e) => ProviderFailure::DiscoveryUnavailable(e.to_string()),
        DiscoveryError::Response(status, _, _) => {
            ProviderFailure::DiscoveryUnavailable(format!("the server answered HTTP {status}"))
        }
        DiscoveryError::Parse(e) => ProviderFailure::DiscoveryInvalid(format!(
            "the document is not valid OpenID Connect discovery JSON (at {})",
            e.path()
        )),
        DiscoveryError::Validation(m) => ProviderFailure::DiscoveryInvalid(truncate(&m, 300)),
        DiscoveryError::UrlParse(e) => ProviderFailure::DiscoveryInvalid(format!("URL: {e}")),
        other => ProviderFailure::DiscoveryInvalid(truncate(&other.to_string(), 300)),
    }
}

fn rejection(e: &ClaimsVerificationError) -> TokenRejection {
    use ClaimsVerificationError as C;
    match e {
        C::Expired(m) => TokenRejection::Expired(truncate(m, 200)),
        C::InvalidAudience(m) => TokenRejection::WrongAudience(truncate(m, 200)),
        C::InvalidIssuer(m) => TokenRejection::WrongIssuer(truncate(m, 200)),
        C::InvalidNonce(m) => TokenRejection::NonceMismatch(truncate(m, 200)),
        C::SignatureVerification(s) => match s {
            SignatureVerificationError::DisallowedAlg(m)
            | SignatureVerificationError::UnsupportedAlg(m) => {
                TokenRejection::DisallowedAlgorithm(truncate(m, 200))
            }
            SignatureVerificationError::NoSignature => {
                TokenRejection::DisallowedAlgorithm("no signature".to_owned())
            }
            other => TokenRejection::BadSignature(truncate(&other.to_string(), 200)),
        },
        other => TokenRejection::Invalid(truncate(&other.to_string(), 200)),
    }
}

fn to_chrono(t: time::OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default()
}

impl OidcClient {
    /// The client under an outbound policy.
    ///
    /// # Errors
    /// If the HTTP client cannot be built.
    pub fn new(policy: OutboundPolicy) -> Result<Self, http::HttpError> {
        Ok(Self {
            http: Outbound::new(policy)?,
        })
    }

    /// The outbound policy (to check issuer URLs typed by administrators).
    #[must_use]
    pub const fn policy(&self) -> &OutboundPolicy {
        self.http.policy()
    }

    /// Fetches the provider's discovery document and keys. The document must name exactly this
    /// issuer; every endpoint it names is checked against the outbound policy when called.
    ///
    /// # Errors
    /// [`ProviderFailure::DiscoveryUnavailable`] or [`ProviderFailure::DiscoveryInvalid`].
    pub async fn discover(&self, issuer: &Issuer) -> Result<Provider, ProviderFailure> {
        let url = IssuerUrl::new(issuer.as_str().to_owned())
            .map_err(|e| ProviderFailure::DiscoveryInvalid(format!("issuer URL: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(url, &self.http)
            .await
            .map_err(discovery_failure)?;
        Ok(Provider { metadata })
    }

    /// The URL to send the browser to: code flow, scopes `openid email profile`, PKCE S256,
    /// `state` and `nonce` (SEC-18). `login_hint` is passed on when given.
    ///
    /// # Errors
    /// [`ProviderFailure::DiscoveryInvalid`] for an unusable redirect URI.
    pub fn authorization_url(
        &self,
        provider: &Provider,
        client_id: &str,
        redirect_uri: &str,
        secrets: &FlowSecrets,
        login_hint: Option<&str>,
    ) -> Result<String, ProviderFailure> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| ProviderFailure::DiscoveryInvalid(format!("redirect URI: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            provider.metadata.clone(),
            ClientId::new(client_id.to_owned()),
            None,
        )
        .set_redirect_uri(redirect);
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            secrets.pkce_verifier.to_string(),
        ));
        let state = secrets.state.to_string();
        let nonce = secrets.nonce.to_string();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, _, _) = request.url();
        Ok(url.to_string())
    }

    /// Exchanges the code (with the PKCE verifier, client authentication `client_secret_basic`)
    /// and verifies the ID token: signature against the provider's JWKS with an algorithm in
    /// [`ALLOWED_ALGS`], `iss`, `aud`, `exp` at `now`, and `nonce` (SEC-18).
    ///
    /// # Errors
    /// [`FinishFailure`] naming what failed.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish(
        &self,
        provider: &Provider,
        client_id: &str,
        client_secret: &ClientSecret,
        redirect_uri: &str,
        code: &str,
        secrets: &FlowSecrets,
        now: time::OffsetDateTime,
    ) -> Result<VerifiedIdentity, FinishFailure> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| {
            FinishFailure::Provider(ProviderFailure::DiscoveryInvalid(format!(
                "redirect URI: {e}"
            )))
        })?;
        let client = CoreClient::from_provider_metadata(
            provider.metadata.clone(),
            ClientId::new(client_id.to_owned()),
            Some(OidcSecret::new(client_secret.expose().to_owned())),
        )
        .set_redirect_uri(redirect);
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| {
                FinishFailure::Provider(ProviderFailure::DiscoveryInvalid(
                    "the discovery document names no token endpoint".to_owned(),
                ))
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(secrets.pkce_verifier.to_string()));
        let response = request.request_async(&self.http).await.map_err(|e| {
            FinishFailure::Provider(match e {
                RequestTokenError::ServerResponse(r) => ProviderFailure::TokenRefused {
                    error: truncate(r.error().as_ref(), 80),
                    description: r.error_description().map(|d| truncate(d, 200)),
                },
                RequestTokenError::Request(e) => {
                    ProviderFailure::TokenEndpointUnavailable(e.to_string())
                }
                RequestTokenError::Parse(e, _) => ProviderFailure::TokenResponseInvalid(format!(
                    "the token response is not the expected JSON (at {})",
                    e.path()
                )),
                RequestTokenError::Other(m) => {
                    ProviderFailure::TokenEndpointUnavailable(truncate(&m, 200))
                }
            })
        })?;
        let id_token = response
            .id_token()
            .ok_or(FinishFailure::Provider(ProviderFailure::NoIdToken))?;
        let instant = to_chrono(now);
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(client_id.to_owned()),
            provider.metadata.issuer().clone(),
            provider.metadata.jwks().clone(),
        )
        .set_allowed_algs(ALLOWED_ALGS.iter().cloned())
        .set_time_fn(move || instant);
        let expected = Nonce::new(secrets.nonce.to_string());
        let claims = id_token
            .claims(&verifier, &expected)
            .map_err(|e| FinishFailure::Token(rejection(&e)))?;
        Ok(VerifiedIdentity {
            issuer: claims.issuer().as_str().trim_end_matches('/').to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified() == Some(true),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            amr: claims
                .auth_method_refs()
                .map(|v| v.iter().map(|a| a.as_str().to_owned()).collect())
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_or_loopback_in_development() {
        let dev = OutboundPolicy {
            allow_loopback_http: true,
            ..OutboundPolicy::default()
        };
        let prod = OutboundPolicy::default();
        assert_eq!(
            Issuer::parse("https://idp.example.com/", &prod).map(|i| i.0),
            Ok("https://idp.example.com".to_owned())
        );
        assert!(Issuer::parse("http://idp.example.com", &dev).is_err());
        assert!(Issuer::parse("http://127.0.0.1:9000", &prod).is_err());
        assert!(Issuer::parse("http://127.0.0.1:9000", &dev).is_ok());
        assert!(Issuer::parse("https://idp.example.com/?a=b", &prod).is_err());
        assert!(Issuer::parse("javascript:alert(1)", &dev).is_err());
        assert!(Issuer::parse(&"a".repeat(600), &dev).is_err());
        let metadata = Issuer::parse("https://169.254.169.254/", &prod);
        assert!(metadata.is_err_and(|m| m.contains("public address")));
    }

    #[test]
    fn secrets_are_redacted() {
        let s = ClientSecret::new("hunter2-secret".to_owned());
        assert!(!format!("{s:?}").contains("hunter2"));
        let f = FlowSecrets {
            state: Zeroizing::new("st".to_owned()),
            nonce: Zeroizing::new("no".to_owned()),
            pkce_verifier: Zeroizing::new("pk".to_owned()),
        };
        assert_eq!(format!("{f:?}"), "FlowSecrets([redacted])");
    }
}
