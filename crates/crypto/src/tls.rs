//! The self-signed certificate used on a first run when no certificate is configured: ECDSA
//! P-256, valid for `localhost` and `127.0.0.1`.

use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// The certificate could not be generated.
#[derive(Debug, thiserror::Error)]
#[error("could not generate the self-signed certificate: {0}")]
pub struct CertError(String);

/// A PEM certificate and its PEM private key (zeroized on drop).
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// Generates a self-signed ECDSA P-256 certificate for localhost, valid from `now` for a year.
///
/// # Errors
/// If key generation or signing fails.
pub fn self_signed_localhost(now: OffsetDateTime) -> Result<SelfSigned, CertError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| CertError(e.to_string()))?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])
        .map_err(|e| CertError(e.to_string()))?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    params
        .distinguished_name
        .push(DnType::CommonName, "Attest self-signed (localhost)");
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(365);
    let cert = params
        .self_signed(&key)
        .map_err(|e| CertError(e.to_string()))?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_pem_pair() -> Result<(), CertError> {
        let pair = self_signed_localhost(OffsetDateTime::UNIX_EPOCH + Duration::days(20_000))?;
        assert!(pair.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pair.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(!format!("{pair:?}").contains("PRIVATE KEY"));
        Ok(())
    }
}

/// The server's TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A file could not be read or holds no usable PEM.
    #[error("{path}: {message}")]
    File {
        /// The certificate or key file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("the certificate and key do not form a valid pair: {0}")]
    Rustls(String),
}

/// The only cipher suites offered: TLS 1.3, and TLS 1.2 with ECDHE key exchange and AEAD
/// encryption (SEC-59). rustls implements no CBC, RC4 or static-RSA suites at all.
fn allowed_suites() -> Vec<rustls::SupportedCipherSuite> {
    use rustls::crypto::aws_lc_rs::cipher_suite as cs;
    vec![
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]
}

/// Builds the HTTPS server configuration from PEM files: TLS 1.2 and 1.3 only, the suites of
/// [`allowed_suites`], HTTP/2 and HTTP/1.1 offered by ALPN.
///
/// # Errors
/// If a file is unreadable, holds no certificate or key, or the pair does not match.
pub fn server_config(
    cert_file: &std::path::Path,
    key_file: &std::path::Path,
) -> Result<std::sync::Arc<rustls::ServerConfig>, TlsConfigError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let file_err = |path: &std::path::Path, message: String| TlsConfigError::File {
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| file_err(cert_file, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(cert_file, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err(cert_file, "no certificate found".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|_| file_err(key_file, "no readable private key found".to_owned()))?;
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: allowed_suites(),
        ..rustls::crypto::aws_lc_rs::default_provider()
    };
    let mut config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(std::sync::Arc::new(config))
}
