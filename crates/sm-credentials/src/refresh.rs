//! When to use, refresh and re-ask for credentials.
//!
//! Rules (times in ms; `lifetime` = expiry − the time the keys arrived):
//!
//! * **refresh** at `expiry − margin − jitter`, where `margin = min(refresh_before, lifetime
//!   / 2)` and `jitter` is a random part of `margin / 4`: Greengrass's hour-long keys are
//!   renewed 5 to 6¼ minutes before they expire, 20-second keys 10 to 12½ seconds before;
//!   keys without an expiry (variables, files) are read again every `static_ttl`;
//! * **use** the cached keys until `expiry − stale`, where `stale = min(stale_before,
//!   lifetime / 10)`, also while refreshing fails (the endpoint restarts with the nucleus):
//!   a request is never signed with keys about to expire;
//! * after a **failed** fetch, ask again no earlier than a backoff (`min_retry` doubling up
//!   to `max_retry`, the second half of it random; by default 0.5 to 1 s, so that the exports
//!   waiting for credentials share one failure instead of each asking, while the exports'
//!   own backoff paces the retries); meanwhile callers get the cached keys while usable, else
//!   the failure at once;
//! * after an expired-token answer, [`Refresher::invalidate`] drops the keys and the next
//!   call fetches at once.

use crate::{CredentialsError, Keys};

/// The timing of a [`Refresher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Refresh this long before expiry, at most (half the lifetime when shorter).
    pub refresh_before_ms: i64,
    /// Stop using keys this long before expiry, at most (a tenth of the lifetime when shorter).
    pub stale_before_ms: i64,
    /// Keys without an expiry are resolved again after this long.
    pub static_ttl_ms: i64,
    /// First wait before asking a failed source again.
    pub min_retry_ms: i64,
    /// Longest wait before asking a failed source again.
    pub max_retry_ms: i64,
}

impl Default for Policy {
    /// 5 minutes before expiry (the AWS SDKs' prefetch), stale 1 minute before (their stale
    /// time), static keys re-read every 5 minutes, a failed source asked again after 1 s at
    /// most: the exports back off on their own (from 1 s, doubling), and a longer wait here
    /// would add to theirs when the endpoint comes back (the TES restarts in seconds).
    fn default() -> Self {
        Self {
            refresh_before_ms: 5 * 60 * 1000,
            stale_before_ms: 60 * 1000,
            static_ttl_ms: 5 * 60 * 1000,
            min_retry_ms: 1000,
            max_retry_ms: 1000,
        }
    }
}

#[derive(Debug, Clone)]
struct Cached {
    keys: Keys,
    refresh_at: i64,
    usable_until: Option<i64>,
}

/// What to do for a call at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next<'a> {
    /// Sign with these keys.
    Use(&'a Keys),
    /// Ask the source, then report with [`Refresher::fetched`] or [`Refresher::failed`].
    Fetch,
    /// No usable keys and the source failed recently: report this.
    Fail(&'a CredentialsError),
}

/// The cached keys of one source and the state of its refreshes.
#[derive(Debug, Clone, Default)]
pub struct Refresher {
    policy: Policy,
    cached: Option<Cached>,
    failures: u32,
    retry_at: i64,
    last_error: Option<CredentialsError>,
}

impl Refresher {
    /// A refresher with no keys yet.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    fn usable(&self, now_ms: i64) -> Option<&Keys> {
        let c = self.cached.as_ref()?;
        c.usable_until
            .is_none_or(|until| now_ms < until)
            .then_some(&c.keys)
    }

    /// What a call at `now_ms` should do.
    pub fn next(&self, now_ms: i64) -> Next<'_> {
        let fresh = self.cached.as_ref().is_some_and(|c| now_ms < c.refresh_at);
        match (self.usable(now_ms), &self.last_error) {
            (Some(k), _) if fresh => Next::Use(k),
            (Some(k), Some(_)) if now_ms < self.retry_at => Next::Use(k),
            (None, Some(e)) if now_ms < self.retry_at => Next::Fail(e),
            _ => Next::Fetch,
        }
    }

    /// The source answered with `keys` at `now_ms`; `draw` in `[0, 1)` picks the jitter. Keys
    /// that are already (nearly) expired count as a failure
    /// ([`CredentialsError::ExpiredOnArrival`]).
    pub fn fetched(&mut self, now_ms: i64, keys: Keys, draw: f64) {
        let p = &self.policy;
        let (refresh_at, usable_until) = match keys.expires_ms {
            None => (now_ms + p.static_ttl_ms, None),
            Some(expiry) => {
                let lifetime = (expiry - now_ms).max(0);
                let margin = p.refresh_before_ms.min(lifetime / 2);
                let jitter = (margin as f64 / 4.0 * draw.clamp(0.0, 1.0)) as i64;
                let stale = p.stale_before_ms.min(lifetime / 10);
                // Keys that are (nearly) expired on arrival are asked for again soon, not in
                // a loop.
                let refresh_at = (expiry - margin - jitter).max(now_ms + p.min_retry_ms);
                if expiry - stale <= now_ms {
                    let error = CredentialsError::ExpiredOnArrival { expires_ms: expiry };
                    return self.failed(now_ms, error, draw);
                }
                (refresh_at, Some(expiry - stale))
            }
        };
        self.cached = Some(Cached {
            keys,
            refresh_at,
            usable_until,
        });
        self.failures = 0;
        self.retry_at = 0;
        self.last_error = None;
    }

    /// The source failed at `now_ms` with `error`; `draw` in `[0, 1)` picks the backoff.
    pub fn failed(&mut self, now_ms: i64, error: CredentialsError, draw: f64) {
        self.failures = self.failures.saturating_add(1);
        let p = &self.policy;
        let exp = (self.failures - 1).min(30);
        let full = p
            .min_retry_ms
            .saturating_mul(1 << exp)
            .min(p.max_retry_ms)
            .max(1);
        let wait = full / 2 + (full as f64 / 2.0 * draw.clamp(0.0, 1.0)) as i64;
        self.retry_at = now_ms + wait;
        self.last_error = Some(error);
    }

    /// Forgets the keys (AWS said they expired): the next call fetches at once.
    pub fn invalidate(&mut self) {
        self.cached = None;
        self.retry_at = 0;
    }

    /// The last failure since keys last arrived, if any.
    pub fn last_error(&self) -> Option<&CredentialsError> {
        self.last_error.as_ref()
    }

    /// The cached keys' access key id, if any (to log a change of keys).
    pub fn access_key_id(&self) -> Option<&str> {
        self.cached.as_ref().map(|c| c.keys.access_key_id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn keys(id: &str, expires_ms: Option<i64>) -> Keys {
        Keys {
            access_key_id: id.into(),
            secret_access_key: Secret::new("s"),
            session_token: None,
            expires_ms,
        }
    }

    fn down() -> CredentialsError {
        CredentialsError::Unreachable {
            uri: "http://localhost:1/".into(),
            reason: "connection refused".into(),
        }
    }

    fn id<'a>(n: Next<'a>) -> Option<&'a str> {
        match n {
            Next::Use(k) => Some(&k.access_key_id),
            _ => None,
        }
    }

    #[test]
    fn hour_long_keys_refresh_five_to_six_minutes_early() {
        let min = 60_000;
        for (draw, at) in [(0.0, 55 * min), (0.999_999, 55 * min - 75_000 + 1)] {
            let mut r = Refresher::new(Policy::default());
            assert_eq!(r.next(0), Next::Fetch);
            r.fetched(0, keys("A", Some(60 * min)), draw);
            assert_eq!(id(r.next(at - 1)), Some("A"), "draw {draw}");
            assert_eq!(r.next(at), Next::Fetch, "draw {draw}");
        }
    }

    #[test]
    fn short_keys_refresh_halfway_and_go_stale_a_tenth_early() {
        let mut r = Refresher::new(Policy::default());
        r.fetched(1_000, keys("A", Some(21_000)), 0.0);
        // lifetime 20 s: margin 10 s, stale 2 s.
        assert_eq!(id(r.next(10_999)), Some("A"));
        assert_eq!(r.next(11_000), Next::Fetch);
        // The endpoint is down: keep using A until 2 s before its expiry.
        r.failed(11_000, down(), 0.0);
        assert_eq!(id(r.next(11_400)), Some("A"));
        assert_eq!(
            r.next(11_500),
            Next::Fetch,
            "1 s backoff, half of it at draw 0"
        );
        r.failed(11_500, down(), 0.0);
        assert_eq!(id(r.next(11_900)), Some("A"));
        r.failed(18_800, down(), 0.0); // next try at 19_300
        assert_eq!(id(r.next(18_999)), Some("A"));
        assert_eq!(
            r.next(19_000),
            Next::Fail(&down()),
            "stale 2 s before expiry"
        );
        assert_eq!(r.next(19_299), Next::Fail(&down()));
        assert_eq!(r.next(19_300), Next::Fetch);
        r.failed(19_300, down(), 0.0);
        assert_eq!(r.next(26_500), Next::Fetch);
        r.fetched(26_600, keys("B", Some(46_600)), 0.0);
        assert_eq!(id(r.next(26_600)), Some("B"));
        assert_eq!(r.last_error(), None);
    }

    #[test]
    fn failures_back_off_to_the_cap() {
        let mut r = Refresher::new(Policy {
            max_retry_ms: 30_000,
            ..Policy::default()
        });
        let mut now = 0;
        let mut waits = vec![];
        for _ in 0..8 {
            assert_eq!(r.next(now), Next::Fetch);
            r.failed(now, down(), 0.5);
            let start = now;
            while matches!(r.next(now), Next::Fail(_)) {
                now += 1;
            }
            waits.push(now - start);
        }
        assert_eq!(
            waits,
            [750, 1_500, 3_000, 6_000, 12_000, 22_500, 22_500, 22_500]
        );
        // The default: at most a second, whatever the count.
        let mut r = Refresher::new(Policy::default());
        for _ in 0..5 {
            r.failed(0, down(), 0.999);
        }
        assert_eq!(r.next(998), Next::Fail(&down()));
        assert_eq!(r.next(999), Next::Fetch);
    }

    #[test]
    fn static_keys_are_read_again_and_invalidate_fetches_at_once() {
        let mut r = Refresher::new(Policy::default());
        r.fetched(0, keys("S", None), 0.5);
        assert_eq!(id(r.next(299_999)), Some("S"));
        assert_eq!(r.next(300_000), Next::Fetch);
        r.fetched(300_000, keys("S", None), 0.5);
        r.invalidate();
        assert_eq!(r.next(300_001), Next::Fetch);
        // After a failure during an invalidation there is nothing to fall back on.
        r.failed(300_001, down(), 0.0);
        assert_eq!(r.next(300_002), Next::Fail(&down()));
    }

    #[test]
    fn keys_expired_on_arrival_are_not_used_and_not_refetched_in_a_loop() {
        let mut r = Refresher::new(Policy::default());
        r.fetched(10_000, keys("OLD", Some(9_000)), 0.0);
        let failed = CredentialsError::ExpiredOnArrival { expires_ms: 9_000 };
        assert_eq!(
            r.next(10_000),
            Next::Fail(&failed),
            "never sign with expired keys"
        );
        assert_eq!(r.next(10_500), Next::Fetch, "asked again after the backoff");
        assert!(failed.is_transient());
        let mut r = Refresher::new(Policy::default());
        r.fetched(10_000, keys("SOON", Some(10_500)), 0.0);
        assert_eq!(id(r.next(10_449)), Some("SOON"));
        assert_eq!(r.next(10_450), Next::Fetch);
    }
}
