//! The outbound HTTP client for OpenID Connect, adapted to `openidconnect`'s
//! `AsyncHttpClient`. Every request it sends (discovery, JWKS, token) is checked first:
//!
//! - `https` only; plain `http` only to a loopback host (`127.0.0.1`, `::1`, `localhost`) and
//!   only when [`OutboundPolicy::allow_loopback_http`] is set (development mode: tests and
//!   local identity providers);
//! - only public addresses (SEC-49): an IP literal is checked in the URL, and a host name is
//!   resolved by [`PublicResolver`], which drops every private, loopback, link-local, shared,
//!   documentation, multicast or reserved address after DNS resolution and refuses the call
//!   when none is left, so a name cannot smuggle the call to `169.254.169.254` or an internal
//!   service (loopback is let through only under `allow_loopback_http`);
//! - no redirects are followed (SSRF and open-redirect hygiene, SEC-49): a 3xx is an error;
//! - connect and total timeouts, and a cap on the response size, read while streaming.
//!
//! Request and response bodies are never logged: a token response carries tokens.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::url;
use openidconnect::{HttpRequest, HttpResponse};

/// What the client may reach and how long it waits.
#[derive(Debug, Clone, Copy)]
pub struct OutboundPolicy {
    /// Allow `http://` to loopback hosts (development mode only).
    pub allow_loopback_http: bool,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        Self {
            allow_loopback_http: false,
            timeout: Duration::from_secs(10),
            max_response_bytes: 256 * 1024,
        }
    }
}

/// Why an outbound request failed. The text is for logs: it names the host, never a body.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not one Attest may call.
    #[error("refused URL: {0}")]
    Refused(String),
    /// The connection or request failed (DNS, TCP, TLS, timeout).
    #[error("request to {host} failed: {reason}")]
    Transport {
        /// The host called.
        host: String,
        /// What went wrong (reqwest's category, no body).
        reason: String,
    },
    /// The provider answered with a redirect, which is never followed.
    #[error("the provider answered with a redirect ({0}), which is not followed")]
    Redirect(u16),
    /// The response was larger than allowed.
    #[error("the response was larger than {0} bytes")]
    TooLarge(usize),
    /// The response could not be assembled.
    #[error("invalid response: {0}")]
    Invalid(String),
}

/// Whether a URL may be called under a policy.
///
/// # Errors
/// [`HttpError::Refused`] naming why.
pub fn check_url(url: &url::Url, policy: &OutboundPolicy) -> Result<(), HttpError> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(HttpError::Refused("credentials in the URL".to_owned()));
    }
    let Some(host) = url.host() else {
        return Err(HttpError::Refused("no host".to_owned()));
    };
    let literal = match &host {
        url::Host::Ipv4(a) => Some(IpAddr::V4(*a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(*a)),
        url::Host::Domain(_) => None,
    };
    if let Some(ip) = literal
        && !reachable(ip, policy)
    {
        return Err(HttpError::Refused(format!("{ip} is not a public address")));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if policy.allow_loopback_http && is_loopback(&host) => Ok(()),
        "http" => Err(HttpError::Refused(format!(
            "plain http to {host} (only https, or http to a loopback host in development mode)"
        ))),
        other => Err(HttpError::Refused(format!("scheme {other}"))),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => a.is_loopback(),
    }
}

/// Whether an address is on the public internet (not private, loopback, link-local, shared,
/// documentation, benchmarking, multicast, reserved or unspecified).
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(a),
        },
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [b0, b1, b2, _] = a.octets();
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_broadcast()
        || a.is_documentation()
        || a.is_multicast()
        || b0 == 0 // "this network"
        || (b0 == 100 && (64..128).contains(&b1)) // shared address space (CGNAT)
        || (b0 == 192 && b1 == 0 && b2 == 0) // IETF protocol assignments
        || (b0 == 198 && (18..20).contains(&b1)) // benchmarking
        || b0 >= 240) // reserved
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64, could reach private IPv4
        || s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only
}

/// Whether the policy lets a call reach `ip`.
fn reachable(ip: IpAddr, policy: &OutboundPolicy) -> bool {
    is_public(ip) || (policy.allow_loopback_http && ip.is_loopback())
}

/// The DNS resolver of the outbound client: the system's resolver, keeping only addresses the
/// policy lets a call reach (SEC-49). The connection then goes to one of those addresses, so
/// what was checked is what is dialled (no second lookup to rebind).
#[derive(Debug, Clone, Copy)]
pub struct PublicResolver {
    policy: OutboundPolicy,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| reachable(a.ip(), &policy))
                .collect();
            if kept.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = Box::new(
                    HttpError::Refused(format!("{host} does not resolve to a public address")),
                );
                return Err(refused);
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// The hardened client.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: OutboundPolicy,
}

impl Outbound {
    /// A client under a policy: no redirects, timeouts, rustls with the platform's roots.
    ///
    /// # Errors
    /// If the TLS backend cannot be set up.
    pub fn new(policy: OutboundPolicy) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5).min(policy.timeout))
            .timeout(policy.timeout)
            .user_agent("Attest-SSO/1")
            .dns_resolver(Arc::new(PublicResolver { policy }))
            .build()
            .map_err(|e| HttpError::Invalid(format!("client setup: {e}")))?;
        Ok(Self { client, policy })
    }

    /// The policy in force.
    #[must_use]
    pub const fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let url = url::Url::parse(&request.uri().to_string())
            .map_err(|e| HttpError::Refused(format!("unparsable URL: {e}")))?;
        check_url(&url, &self.policy)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let request: reqwest::Request = request
            .try_into()
            .map_err(|e: reqwest::Error| HttpError::Invalid(format!("request: {e}")))?;
        let transport = |e: reqwest::Error| HttpError::Transport {
            host: host.clone(),
            reason: if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                // Includes a name that resolves only to addresses SEC-49 refuses.
                let mut refused = false;
                let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                while let Some(c) = cause {
                    refused |= matches!(c.downcast_ref::<HttpError>(), Some(HttpError::Refused(_)));
                    cause = c.source();
                }
                if refused {
                    "the name does not resolve to a public address".to_owned()
                } else {
                    "could not connect".to_owned()
                }
            } else {
                // reqwest's Display names the URL and the cause, never a body.
                e.to_string()
            },
        };
        let mut response = self.client.execute(request).await.map_err(transport)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(HttpError::Redirect(status.as_u16()));
        }
        let max = self.policy.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
        {
            return Err(HttpError::TooLarge(max));
        }
        let mut builder = http_response_builder(status.as_u16());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > max {
                return Err(HttpError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(body)
            .map_err(|e| HttpError::Invalid(format!("response: {e}")))
    }
}

fn http_response_builder(status: u16) -> openidconnect::http::response::Builder {
    openidconnect::http::Response::builder().status(status)
}

impl<'c> openidconnect::AsyncHttpClient<'c> for Outbound {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(u: &str, loopback: bool) -> bool {
        let policy = OutboundPolicy {
            allow_loopback_http: loopback,
            ..OutboundPolicy::default()
        };
        url::Url::parse(u)
            .ok()
            .is_some_and(|u| check_url(&u, &policy).is_ok())
    }

    #[test]
    fn only_https_or_loopback_http_in_development() {
        assert!(allowed("https://idp.example.com/", false));
        assert!(!allowed("http://idp.example.com/", true));
        assert!(!allowed("http://169.254.169.254/", true));
        assert!(!allowed("http://127.0.0.1:8080/", false));
        assert!(allowed("http://127.0.0.1:8080/", true));
        assert!(allowed("http://localhost:8080/", true));
        assert!(allowed("http://[::1]:8080/", true));
        assert!(!allowed("file:///etc/passwd", true));
        assert!(!allowed("https://user:pw@idp.example.com/", false));
    }

    #[test]
    fn sec_49_private_and_metadata_addresses_are_refused() {
        for literal in [
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.5/",
            "https://172.16.3.4/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://127.0.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:10.0.0.1]/",
        ] {
            assert!(!allowed(literal, false), "{literal}");
        }
        assert!(allowed("https://93.184.215.14/", false));
        assert!(allowed("https://[2606:4700::1111]/", false));
    }

    #[tokio::test]
    async fn sec_49_a_name_resolving_to_loopback_is_refused_after_dns() {
        // `localhost` resolves to 127.0.0.1 / ::1: an https call there must not be dialled.
        let client = Outbound::new(OutboundPolicy::default()).unwrap_or_else(|e| panic!("{e}"));
        let request = openidconnect::http::Request::builder()
            .uri("https://localhost:9/.well-known/openid-configuration")
            .body(Vec::new())
            .unwrap_or_else(|e| panic!("{e}"));
        match client.execute(request).await {
            Err(HttpError::Transport { reason, .. }) => {
                assert!(reason.contains("public address"), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
