//! Login throttling: after [`MAX_FAILURES`] failed logins within [`WINDOW`] for one account, or
//! from one client address, further attempts for it are refused (HTTP 429) until the oldest of
//! those failures leaves the window. Checked before the password is hashed, so a guesser costs
//! the server nothing once refused. Kept in memory: one `taskforce serve` process answers the
//! logins, and a restart forgetting the counts only gives back five guesses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per account and per address inside the window.
pub const MAX_FAILURES: usize = 5;
/// How far back failures count.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys kept at most; beyond that, keys whose failures all left the window are dropped first.
const MAX_KEYS: usize = 100_000;

/// Recent failures per key (`account:NAME`, `address:IP`).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

/// A refusal: which limit was reached, and when the next attempt is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub by: &'static str,
    pub retry_after: Duration,
}

fn account_key(name: &str) -> String {
    format!("account:{}", name.trim().to_lowercase())
}

fn address_key(addr: Option<IpAddr>) -> Option<String> {
    addr.map(|a| format!("address:{a}"))
}

impl LoginThrottle {
    /// Whether an attempt for `name` from `addr` may go on, at `now`.
    pub fn check(&self, name: &str, addr: Option<IpAddr>, now: Instant) -> Option<Refused> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let keys = [(Some(account_key(name)), "account"), (address_key(addr), "address")];
        keys.into_iter()
            .filter_map(|(key, by)| {
                let recent: Vec<&Instant> =
                    map.get(&key?)?.iter().filter(|t| now.duration_since(**t) < WINDOW).collect();
                (recent.len() >= MAX_FAILURES).then(|| {
                    // Accepted again when all but MAX_FAILURES - 1 of them have left the window.
                    let oldest_that_counts = recent[recent.len() - MAX_FAILURES];
                    Refused { by, retry_after: WINDOW.saturating_sub(now.duration_since(*oldest_that_counts)) }
                })
            })
            .max_by_key(|r| r.retry_after)
    }

    /// Counts a failed attempt; returns whether it reached a limit (the start of a lockout).
    pub fn failed(&self, name: &str, addr: Option<IpAddr>, now: Instant) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < WINDOW));
        }
        let mut locked = false;
        for key in [Some(account_key(name)), address_key(addr)].into_iter().flatten() {
            let times = map.entry(key).or_default();
            times.retain(|t| now.duration_since(*t) < WINDOW);
            times.push(now);
            locked |= times.len() == MAX_FAILURES;
        }
        locked
    }

    /// A successful login forgets the account's failures (the address's stay counted).
    pub fn succeeded(&self, name: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&account_key(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_account_until_the_window_passes() {
        let t = LoginThrottle::default();
        let start = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..MAX_FAILURES {
            assert_eq!(t.check("ana", Some(a), start), None, "attempt {i}");
            let locked = t.failed("Ana", Some(a), start + Duration::from_secs(i as u64));
            assert_eq!(locked, i + 1 == MAX_FAILURES);
        }
        let r = t.check("ana", None, start + Duration::from_secs(60)).expect("the account is locked");
        assert_eq!(r.by, "account");
        assert_eq!(r.retry_after, WINDOW - Duration::from_secs(60));
        // The address too, for any account.
        assert_eq!(t.check("bob", Some(a), start + Duration::from_secs(60)).unwrap().by, "address");
        // Another account from another address is not affected.
        assert_eq!(t.check("bob", Some("192.0.2.2".parse().unwrap()), start), None);
        // Once the first failure left the window, one more attempt is allowed.
        assert_eq!(t.check("ana", None, start + WINDOW), None);
    }

    #[test]
    fn success_forgets_the_account_but_not_the_address() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..MAX_FAILURES - 1 {
            t.failed("ana", Some(a), now);
        }
        t.succeeded("ana");
        t.failed("ana", Some(a), now);
        assert_eq!(t.check("ana", None, now), None);
        assert_eq!(t.check("other", Some(a), now).unwrap().by, "address");
    }
}
