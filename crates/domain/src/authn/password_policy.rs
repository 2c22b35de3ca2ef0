//! What a new password must be (SEC-03, SEC-04): 12–128 characters (15 for accounts without
//! a second factor), any characters, never truncated, no composition rules; not on the
//! bundled list of 100,000 breached passwords (SecLists, compared lowercase), not a listed
//! password with a few digits or symbols around it, not built from the user's own context
//! (email, name, tenant, "attest"), and not trivially guessable by zxcvbn's estimate.
//! Rejections come with a message that helps the user choose a better one.

use std::collections::HashSet;
use std::sync::LazyLock;

/// The longest password accepted, in characters.
pub const MAX_CHARS: usize = 128;
/// The shortest password for an account with a second factor.
pub const MIN_CHARS_WITH_MFA: usize = 12;
/// The shortest password for an account without one.
pub const MIN_CHARS_WITHOUT_MFA: usize = 15;

static BREACHED: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords-100k.txt")
        .lines()
        .filter(|l| !l.is_empty())
        .collect()
});

/// Why a password was refused. `code()` is stable for APIs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordRejection {
    /// Fewer characters than required.
    TooShort {
        /// The minimum that applies.
        min: usize,
    },
    /// More than [`MAX_CHARS`].
    TooLong,
    /// On the breached list, or a listed password with digits or symbols added.
    Breached,
    /// Contains the user's email, name, the tenant's name or the product name.
    ContainsContext,
    /// Easy to guess for other reasons (keyboard patterns, repeats, dates…).
    TooGuessable {
        /// zxcvbn's advice, if any.
        advice: Option<String>,
    },
}

impl PasswordRejection {
    /// Stable code: `too_short`, `too_long`, `breached`, `contains_context`, `too_guessable`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong => "too_long",
            Self::Breached => "breached",
            Self::ContainsContext => "contains_context",
            Self::TooGuessable { .. } => "too_guessable",
        }
    }

    /// A message for the person choosing the password.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::TooShort { min } => format!(
                "Use at least {min} characters. A few unrelated words with spaces make a long password that is easy to remember."
            ),
            Self::TooLong => format!("Use at most {MAX_CHARS} characters."),
            Self::Breached => "This password appears in lists of passwords stolen from other sites, so attackers try it first. Choose something nobody else would use, such as a few unrelated words.".to_owned(),
            Self::ContainsContext => "Do not build the password from your email address, your name, your organisation or the product name: those are the first guesses an attacker makes.".to_owned(),
            Self::TooGuessable { advice } => {
                let mut m = "This password follows a pattern that is easy to guess.".to_owned();
                if let Some(a) = advice {
                    m.push(' ');
                    m.push_str(a);
                }
                m.push_str(" Add another word or two that are not related to each other.");
                m
            }
        }
    }
}

/// Facts about the account the password is for.
#[derive(Debug, Clone, Default)]
pub struct PasswordContext<'a> {
    /// The account's email address.
    pub email: &'a str,
    /// The person's name.
    pub name: &'a str,
    /// Names of the tenants the person belongs to.
    pub tenants: Vec<&'a str>,
    /// Whether the account has a second factor (lowers the minimum length).
    pub has_mfa: bool,
}

/// Context words (lowercase, ≥ 4 characters) the password must not contain.
fn context_words(ctx: &PasswordContext<'_>) -> Vec<String> {
    let mut words = vec!["attest".to_owned()];
    let local = ctx.email.split('@').next().unwrap_or_default();
    let mut parts: Vec<&str> = vec![local, ctx.name];
    parts.extend(ctx.tenants.iter().copied());
    if let Some(domain) = ctx.email.split('@').nth(1) {
        parts.push(domain.split('.').next().unwrap_or_default());
    }
    for part in parts {
        let lower = part.to_lowercase();
        words.push(lower.chars().filter(|c| c.is_alphanumeric()).collect());
        words.extend(
            lower
                .split(|c: char| !c.is_alphanumeric())
                .map(str::to_owned),
        );
    }
    words.retain(|w| w.chars().count() >= 4);
    words.sort();
    words.dedup();
    words
}

/// A listed password with only digits, symbols or spaces around it ("Password123456!").
fn is_derived_from_breached(lower: &str) -> bool {
    let core = lower.trim_matches(|c: char| {
        c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace()
    });
    core.chars().count() >= 4 && core != lower && BREACHED.contains(core)
}

/// Checks a new password against every rule.
///
/// # Errors
/// The first rule it breaks.
pub fn check(password: &str, ctx: &PasswordContext<'_>) -> Result<(), PasswordRejection> {
    let chars = password.chars().count();
    let min = if ctx.has_mfa {
        MIN_CHARS_WITH_MFA
    } else {
        MIN_CHARS_WITHOUT_MFA
    };
    if chars > MAX_CHARS {
        return Err(PasswordRejection::TooLong);
    }
    // A breached password is named as such even when it is also short: that is the advice
    // that helps.
    let lower = password.to_lowercase();
    if BREACHED.contains(lower.as_str()) || is_derived_from_breached(&lower) {
        return Err(PasswordRejection::Breached);
    }
    if chars < min {
        return Err(PasswordRejection::TooShort { min });
    }
    let compact: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    if context_words(ctx)
        .iter()
        .any(|w| lower.contains(w.as_str()) || compact.contains(w.as_str()))
    {
        return Err(PasswordRejection::ContainsContext);
    }
    // zxcvbn's cost grows with length; anything past 64 characters only adds strength.
    let head: String = password.chars().take(64).collect();
    let estimate = zxcvbn::zxcvbn(&head, &[]);
    if u8::from(estimate.score()) < 3 {
        let advice = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()));
        return Err(PasswordRejection::TooGuessable { advice });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PasswordContext<'static> {
        PasswordContext {
            email: "jane.doe@acme-corp.example",
            name: "Jane Doe",
            tenants: vec!["Acme Corp"],
            has_mfa: false,
        }
    }

    #[test]
    fn the_bundled_list_holds_100k_breached_passwords() {
        assert_eq!(BREACHED.len(), 100_000);
        assert!(BREACHED.contains("123456") && BREACHED.contains("password"));
    }

    /// SEC-03: length rules, any characters, no composition rules.
    #[test]
    fn sec_03_length_and_any_characters() {
        assert_eq!(
            check("short one 1", &ctx()),
            Err(PasswordRejection::TooShort { min: 15 })
        );
        let with_mfa = PasswordContext {
            has_mfa: true,
            ..ctx()
        };
        assert!(check("violet kettle ramp", &with_mfa).is_ok());
        assert_eq!(
            check(&"x".repeat(129), &ctx()),
            Err(PasswordRejection::TooLong)
        );
        assert!(check("vélo cassé 🚲 sous la pluie d'automne", &ctx()).is_ok());
        assert!(check("all lowercase words lacking rules", &ctx()).is_ok());
    }

    /// SEC-04: breached, derived from breached, and context passwords are refused.
    #[test]
    fn sec_04_breached_and_context_passwords() {
        for p in [
            "Password123456",
            "password123456!",
            "qwertyuiop123456",
            "!!monkey2024!!",
        ] {
            assert_eq!(
                check(p, &ctx()).map_err(|e| e.code()),
                Err("breached"),
                "{p}"
            );
        }
        for p in [
            "jane.doe-is-secure-2026",
            "my acme corp password!",
            "attest rocks forever and ever",
        ] {
            assert_eq!(
                check(p, &ctx()).map_err(|e| e.code()),
                Err("contains_context"),
                "{p}"
            );
        }
        assert_eq!(
            check("1234567890123456", &ctx()).map_err(|e| e.code()),
            Err("too_guessable")
        );
        assert!(!PasswordRejection::Breached.message().is_empty());
    }
}
