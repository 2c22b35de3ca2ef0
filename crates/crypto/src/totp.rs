//! Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 30 s step, 6 digits), through
//! `totp-rs`. A code is accepted in its own step and in the step after it (at most 60 s of
//! life, SEC-14); the caller keeps the last accepted step so that each code works once.

use totp_rs::{Builder, Secret, Totp};
use zeroize::Zeroizing;

use crate::random::{self, RandomError};

/// The step length in seconds.
pub const STEP_SECONDS: u64 = 30;

/// A TOTP shared secret (160 random bits). Never printed; zeroized on drop.
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// A secret that cannot be used (wrong length after unsealing).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the TOTP secret is malformed")]
pub struct MalformedSecret;

impl TotpSecret {
    /// A fresh secret from the operating system's generator.
    ///
    /// # Errors
    /// Only if the generator fails.
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(Zeroizing::new(random::bytes::<20>()?.to_vec())))
    }

    /// A secret from its stored bytes.
    ///
    /// # Errors
    /// If the bytes are not 20 long (RFC 4226's recommended length; this module makes no other).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MalformedSecret> {
        if bytes.len() != 20 {
            return Err(MalformedSecret);
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    /// A secret from its base32 form (as an authenticator app reads it).
    ///
    /// # Errors
    /// If it is not base32 of 20 bytes.
    pub fn from_base32(text: &str) -> Result<Self, MalformedSecret> {
        let bytes = Secret::try_from_base32(text.trim().to_ascii_uppercase())
            .map_err(|_| MalformedSecret)?;
        Self::from_bytes(bytes.as_ref())
    }

    /// The bytes, to seal for storage.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32 (RFC 4648, no padding) for manual entry into an authenticator app.
    #[must_use]
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(
            Secret::from(self.0.to_vec())
                .to_base32()
                .trim_end_matches('=')
                .to_owned(),
        )
    }

    fn totp(&self, account: &str, issuer: &str) -> Result<Totp, MalformedSecret> {
        Builder::new()
            .with_secret(self.0.to_vec())
            .with_skew(0)
            .with_step_duration(STEP_SECONDS)
            .with_account_name(account.replace(':', " "))
            .with_issuer(Some(issuer.replace(':', " ")))
            .build()
            .map_err(|_| MalformedSecret)
    }

    /// The `otpauth://totp/…` URI an authenticator app scans.
    ///
    /// # Errors
    /// If the secret is malformed.
    pub fn otpauth_uri(
        &self,
        account: &str,
        issuer: &str,
    ) -> Result<Zeroizing<String>, MalformedSecret> {
        self.totp(account, issuer)?
            .to_url()
            .map(Zeroizing::new)
            .map_err(|_| MalformedSecret)
    }

    /// The step a code belongs to, if it is the code of the current step or of the one
    /// before it. Anything other than six ASCII digits matches nothing.
    #[must_use]
    pub fn matching_step(&self, code: &str, unix_seconds: u64) -> Option<u64> {
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("user", "Attest").ok()?;
        let now = unix_seconds / STEP_SECONDS;
        [now, now.saturating_sub(1)]
            .into_iter()
            .find(|&step| totp.check(code, step * STEP_SECONDS).is_some())
    }

    /// The code of the step containing `unix_seconds` (for tests and authenticators).
    ///
    /// # Errors
    /// If the secret is malformed.
    pub fn code_at(&self, unix_seconds: u64) -> Result<String, MalformedSecret> {
        Ok(self
            .totp("user", "Attest")?
            .generate(unix_seconds)
            .to_string())
    }
}

/// The step containing a time.
#[must_use]
pub const fn step_of(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// Crockford-style alphabet without look-alikes (no I, L, O, U).
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A recovery code: 20 characters of a 32-symbol alphabet (100 bits). The first four
/// characters are a selector stored in clear to find the hash; the other sixteen (80 bits,
/// SEC-16's ≥ 64) are what Argon2id protects.
pub struct RecoveryCode {
    /// All 20 characters.
    pub full: Zeroizing<String>,
}

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

impl RecoveryCode {
    /// A fresh code.
    ///
    /// # Errors
    /// Only if the generator fails.
    pub fn generate() -> Result<Self, RandomError> {
        let bytes = random::bytes::<20>()?;
        let full: String = bytes
            .iter()
            .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
            .collect();
        Ok(Self {
            full: Zeroizing::new(full),
        })
    }

    /// Shown to the user in groups of four: `ABCD-EFGH-JKMN-PQRS-TVWX`.
    #[must_use]
    pub fn display(&self) -> Zeroizing<String> {
        let chars: Vec<char> = self.full.chars().collect();
        Zeroizing::new(
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-"),
        )
    }

    /// Splits what a user typed into (selector, secret part), normalised: dashes and spaces
    /// dropped, upper case, look-alikes mapped (O→0, I/L→1). `None` unless it has the shape.
    #[must_use]
    pub fn parse(input: &str) -> Option<(String, Zeroizing<String>)> {
        let cleaned: String = input
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .map(|c| match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            })
            .collect();
        if cleaned.len() != 20 || !cleaned.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
            return None;
        }
        let (selector, rest) = cleaned.split_at(4);
        Some((selector.to_owned(), Zeroizing::new(rest.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, truncated to 6 digits.
    #[test]
    fn rfc_6238_vectors() -> Result<(), MalformedSecret> {
        let secret = TotpSecret::from_bytes(b"12345678901234567890")?;
        assert_eq!(secret.code_at(59)?, "287082");
        assert_eq!(secret.code_at(1_111_111_109)?, "081804");
        assert_eq!(secret.code_at(1_234_567_890)?, "005924");
        Ok(())
    }

    /// SEC-14: the current and the previous step, nothing older, nothing in the future.
    #[test]
    fn sec_14_window_is_the_current_and_previous_step() -> Result<(), MalformedSecret> {
        let secret = TotpSecret::from_bytes(b"12345678901234567890")?;
        let t = 1_700_000_010;
        let now = secret.code_at(t)?;
        assert_eq!(secret.matching_step(&now, t), Some(step_of(t)));
        let previous = secret.code_at(t - 30)?;
        assert_eq!(secret.matching_step(&previous, t), Some(step_of(t) - 1));
        let older = secret.code_at(t - 60)?;
        assert_eq!(secret.matching_step(&older, t), None);
        let future = secret.code_at(t + 30)?;
        assert_eq!(secret.matching_step(&future, t), None);
        assert_eq!(secret.matching_step("12345", t), None);
        assert_eq!(secret.matching_step("12345a", t), None);
        assert_eq!(secret.matching_step("١٢٣٤٥٦", t), None);
        Ok(())
    }

    #[test]
    fn otpauth_uri_carries_issuer_account_and_secret() -> Result<(), MalformedSecret> {
        let secret = TotpSecret::from_bytes(b"12345678901234567890")?;
        let uri = secret.otpauth_uri("ann@example.org", "Attest (Northwind)")?;
        assert!(uri.starts_with("otpauth://totp/"), "{}", uri.as_str());
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
        assert!(uri.contains("issuer=Attest"));
        Ok(())
    }

    #[test]
    fn recovery_codes_round_trip_and_reject_other_shapes() -> Result<(), RandomError> {
        let code = RecoveryCode::generate()?;
        assert_eq!(code.full.len(), 20);
        let shown = code.display();
        assert_eq!(shown.len(), 24);
        let (selector, rest) = RecoveryCode::parse(&shown.to_lowercase()).ok_or(RandomError)?;
        assert_eq!(format!("{selector}{}", rest.as_str()), code.full.as_str());
        assert!(RecoveryCode::parse("short").is_none());
        assert!(RecoveryCode::parse("UUUU-UUUU-UUUU-UUUU-UUUU").is_none());
        Ok(())
    }
}
