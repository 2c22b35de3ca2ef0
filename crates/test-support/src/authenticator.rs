//! An authenticator app for tests: computes TOTP codes from the secret the enrolment showed,
//! at the server's (manual) clock.

use attest_crypto::totp::TotpSecret;
use time::OffsetDateTime;

/// A TOTP authenticator holding one secret.
#[derive(Debug, Clone)]
pub struct Authenticator {
    secret: String,
}

impl Authenticator {
    /// From the base32 secret shown at enrolment.
    #[must_use]
    pub fn new(secret_base32: &str) -> Self {
        Self {
            secret: secret_base32.to_owned(),
        }
    }

    /// The code shown at `at`.
    #[must_use]
    pub fn code_at(&self, at: OffsetDateTime) -> String {
        let secret = TotpSecret::from_base32(&self.secret).expect("a base32 TOTP secret");
        secret
            .code_at(u64::try_from(at.unix_timestamp()).expect("after 1970"))
            .expect("a code")
    }
}
