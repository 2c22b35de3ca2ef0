//! The client's address. `X-Forwarded-For` is believed only when the connection comes from a
//! configured proxy, and then only the hop that proxy saw (SEC-41).

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The address to log, audit and rate-limit by.
#[must_use]
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    // Walk the list from the right, skipping our own proxies; the first other address is the
    // client as seen by the outermost trusted proxy.
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|h| h.parse::<IpAddr>())
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    hops.into_iter()
        .rev()
        .find(|ip| !trusted_proxies.contains(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    /// SEC-41: a spoofed header from an untrusted peer is ignored.
    #[test]
    fn sec_41_forwarded_for_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert_eq!(resolve(ip("198.51.100.7"), &h, &[]), ip("198.51.100.7"));
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &[ip("10.0.0.2")]),
            ip("203.0.113.9")
        );
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.9, 10.0.0.3"),
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &[ip("10.0.0.2"), ip("10.0.0.3")]),
            ip("203.0.113.9")
        );
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &[ip("10.0.0.2")]),
            ip("10.0.0.2")
        );
    }
}
