//! Login throttling (SEC-06). Per account, in the database so every node agrees: after each
//! failure the next attempt waits 1, 3, 5, then 10 seconds; after five failures the account
//! waits until 24 hours after its first failure. Never a permanent lock: the window ends and
//! the count starts again; a success clears it. Attempts made while waiting are refused
//! without being counted and without checking the password, so a correct password gets the
//! same answer as a wrong one. Per client address, in memory: more than 30 attempts a minute
//! are refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use attest_crypto::random;
use time::{Duration, OffsetDateTime};

const DELAYS_SECS: [i64; 4] = [1, 3, 5, 10];
/// Failures after which the account waits for the end of the window.
pub const BLOCK_AFTER: i64 = 5;
/// The failure window.
pub const WINDOW: Duration = Duration::hours(24);
/// Attempts per address per minute.
pub const PER_IP_PER_MINUTE: u32 = 30;

/// The key of an account's throttle row: SHA-256 of the normalised email, so the table
/// holds no addresses and unknown accounts are throttled exactly like known ones.
#[must_use]
pub fn account_key(email: &str) -> [u8; 32] {
    let mut input = b"attest/login-throttle/v1\0".to_vec();
    input.extend_from_slice(email.as_bytes());
    random::sha256(&input)
}

/// The state after one more failure: (failures, window start, next allowed attempt).
#[must_use]
pub fn after_failure(
    previous: Option<(i64, OffsetDateTime, OffsetDateTime)>,
    now: OffsetDateTime,
) -> (i64, OffsetDateTime, OffsetDateTime) {
    let (failures, window_start) = match previous {
        Some((f, start, _)) if now < start + WINDOW => (f + 1, start),
        _ => (1, now),
    };
    let next = if failures >= BLOCK_AFTER {
        window_start + WINDOW
    } else {
        let idx = usize::try_from(failures - 1)
            .unwrap_or(0)
            .min(DELAYS_SECS.len() - 1);
        now + Duration::seconds(DELAYS_SECS[idx])
    };
    (failures, window_start, next)
}

/// How long until the account may try again, if it must wait.
#[must_use]
pub fn wait(
    state: Option<(i64, OffsetDateTime, OffsetDateTime)>,
    now: OffsetDateTime,
) -> Option<Duration> {
    let (_, start, next) = state?;
    (now < start + WINDOW && now < next).then(|| next - now)
}

/// Per-key attempt counter (fixed windows), in memory.
#[derive(Debug)]
pub struct Limiter<K> {
    limit: u32,
    window_secs: i64,
    windows: Mutex<HashMap<K, (i64, u32)>>,
}

/// Per-address attempt counter.
pub type IpLimiter = Limiter<IpAddr>;

impl Default for Limiter<IpAddr> {
    fn default() -> Self {
        Self::new(PER_IP_PER_MINUTE, 60)
    }
}

impl<K: std::hash::Hash + Eq> Limiter<K> {
    /// At most `limit` attempts per key per `window_secs`.
    #[must_use]
    pub fn new(limit: u32, window_secs: i64) -> Self {
        Self {
            limit,
            window_secs: window_secs.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt; `Err(retry_after)` when the key is over the limit.
    ///
    /// # Errors
    /// The time until the next window starts.
    pub fn hit(&self, ip: K, now: OffsetDateTime) -> Result<(), Duration> {
        let minute = now.unix_timestamp().div_euclid(self.window_secs);
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() > 100_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let entry = windows.entry(ip).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        if entry.1 > self.limit {
            return Err(Duration::seconds(
                (minute + 1) * self.window_secs - now.unix_timestamp(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn delays_grow_then_block_until_the_window_ends_never_forever() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let mut state = None;
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..5 {
            let s = after_failure(state, now);
            waits.push((s.2 - now).whole_seconds());
            now = s.2;
            state = Some(s);
        }
        assert_eq!(&waits[..4], &[1, 3, 5, 10]);
        let blocked_until = state.map(|s| s.2);
        assert_eq!(blocked_until, Some(t0 + WINDOW));
        assert!(wait(state, t0 + WINDOW - Duration::seconds(1)).is_some());
        assert_eq!(
            wait(state, t0 + WINDOW),
            None,
            "the window ends: never a permanent lock"
        );
        assert_eq!(
            after_failure(state, t0 + WINDOW).0,
            1,
            "a new window starts from one"
        );
    }

    #[test]
    fn addresses_are_limited_per_minute() {
        let limiter = IpLimiter::default();
        let ip: IpAddr = [192, 0, 2, 1].into();
        let now = datetime!(2026-01-01 00:00:10 UTC);
        for _ in 0..PER_IP_PER_MINUTE {
            assert!(limiter.hit(ip, now).is_ok());
        }
        assert_eq!(limiter.hit(ip, now), Err(Duration::seconds(50)));
        assert!(limiter.hit(ip, now + Duration::minutes(1)).is_ok());
        assert!(limiter.hit([192, 0, 2, 2].into(), now).is_ok());
    }
}
