//! Failed authentications and lockouts (what fail2ban does for SIP, in-process).
//!
//! Failures are counted per source address and per user name within a window. The
//! `max_failures`-th failure locks that source (or user) out for `lockout`; each
//! further lockout of the same key doubles the time, up to `max_lockout`. While a key
//! is locked out every request for it is refused *before* its password is checked, so
//! guessing the right password during a lockout gains nothing. A success (outside a
//! lockout) clears the key's failures.
//!
//! ```text
//!   Clean ──failure──► Failing{n, since} ──n = max──► Locked{until, strikes}
//!     ▲                     │ window passed                │ until passed
//!     └──── success ────────┴───────── (strikes kept) ◄────┘
//! ```
//!
//! The per-user lockout is a trade-off every SIP server makes: it stops a slow guess
//! spread over many addresses, at the price that someone who knows a login name can
//! keep that phone from registering anew (an existing registration keeps working
//! until it expires). Set `auth_max_failures = 0` to turn lockouts off.
//!
//! Times are unix seconds from the caller (the registrar's wall clock).

use std::collections::HashMap;
use std::net::IpAddr;

/// The limits (`[server] auth_max_failures`, `auth_lockout_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutConfig {
    /// Failures within `window_secs` that lock a source or user out; 0 = never.
    pub max_failures: u32,
    pub window_secs: i64,
    /// The first lockout; each further one of the same key doubles it.
    pub lockout_secs: i64,
    pub max_lockout_secs: i64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_secs: 600,
            lockout_secs: 60,
            max_lockout_secs: 3600,
        }
    }
}

/// Who is locked out, and until when (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locked {
    Source { ip: IpAddr, until: i64 },
    User { user: String, until: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Source(IpAddr),
    User(String),
}

#[derive(Debug, Clone, Copy, Default)]
struct Record {
    failures: u32,
    since: i64,
    locked_until: i64,
    /// Lockouts so far (the next one lasts `lockout · 2^strikes`).
    strikes: u32,
    /// When the record may be forgotten.
    last: i64,
}

/// Above this many records, stale ones are purged on insert.
const SOFT_LIMIT: usize = 16_384;
/// Strikes are remembered this long after the last event (a returning attacker gets
/// the longer lockout; an honest typo a day later starts again).
const MEMORY_SECS: i64 = 86_400;

#[derive(Debug, Default)]
pub struct AuthLockout {
    cfg: LockoutConfig,
    records: HashMap<Key, Record>,
}

impl AuthLockout {
    #[must_use]
    pub fn new(cfg: LockoutConfig) -> Self {
        Self {
            cfg,
            records: HashMap::new(),
        }
    }

    /// New limits (`switchboard reload`); the failures counted and the lockouts given
    /// so far are kept, so a reload never hands a guessing attacker fresh tries.
    pub fn set_config(&mut self, cfg: LockoutConfig) {
        self.cfg = cfg;
    }

    /// Refuses (`Err`) when `source` or `user` is locked out at `now`.
    pub fn check(&self, now: i64, source: IpAddr, user: Option<&str>) -> Result<(), Locked> {
        if self.cfg.max_failures == 0 {
            return Ok(());
        }
        let locked = |k: &Key| self.records.get(k).filter(|r| now < r.locked_until);
        if let Some(r) = locked(&Key::Source(source)) {
            return Err(Locked::Source {
                ip: source,
                until: r.locked_until,
            });
        }
        if let Some(user) = user
            && let Some(r) = locked(&Key::User(user.to_owned()))
        {
            return Err(Locked::User {
                user: user.to_owned(),
                until: r.locked_until,
            });
        }
        Ok(())
    }

    /// Records a failed authentication; returns the lockouts it started.
    pub fn failed(&mut self, now: i64, source: IpAddr, user: Option<&str>) -> Vec<Locked> {
        if self.cfg.max_failures == 0 {
            return Vec::new();
        }
        if self.records.len() >= SOFT_LIMIT {
            self.purge(now);
        }
        let mut started = Vec::new();
        let keys =
            std::iter::once(Key::Source(source)).chain(user.map(|u| Key::User(u.to_owned())));
        for key in keys {
            let cfg = self.cfg;
            let r = self.records.entry(key.clone()).or_default();
            r.last = now;
            if now < r.locked_until {
                continue;
            }
            if r.failures == 0 || now.saturating_sub(r.since) > cfg.window_secs {
                r.failures = 0;
                r.since = now;
            }
            r.failures += 1;
            if r.failures >= cfg.max_failures {
                let factor = 1i64.checked_shl(r.strikes.min(20)).unwrap_or(i64::MAX);
                let secs = cfg
                    .lockout_secs
                    .saturating_mul(factor)
                    .min(cfg.max_lockout_secs);
                r.locked_until = now.saturating_add(secs);
                r.strikes = r.strikes.saturating_add(1);
                r.failures = 0;
                let until = r.locked_until;
                started.push(match key {
                    Key::Source(ip) => Locked::Source { ip, until },
                    Key::User(user) => Locked::User { user, until },
                });
            }
        }
        started
    }

    /// A successful authentication: that source's and user's failures are forgiven
    /// (their strike count stays, so a returning guesser still gets the longer lockout).
    pub fn succeeded(&mut self, source: IpAddr, user: &str) {
        for key in [Key::Source(source), Key::User(user.to_owned())] {
            if let Some(r) = self.records.get_mut(&key) {
                r.failures = 0;
            }
        }
    }

    fn purge(&mut self, now: i64) {
        self.records
            .retain(|_, r| now < r.locked_until || now.saturating_sub(r.last) < MEMORY_SECS);
        if self.records.len() >= SOFT_LIMIT {
            // Still full of live records (a wide distributed guess): keep the locked
            // ones, forget mere failure counts.
            self.records.retain(|_, r| now < r.locked_until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn five_failures_lock_source_and_user_and_the_lockout_grows() {
        let mut l = AuthLockout::new(LockoutConfig::default());
        let evil = ip("127.0.0.7");
        for i in 0..4 {
            assert!(l.failed(100 + i, evil, Some("andrew")).is_empty());
            assert!(l.check(100 + i, evil, Some("andrew")).is_ok());
        }
        let started = l.failed(104, evil, Some("andrew"));
        assert_eq!(
            started,
            vec![
                Locked::Source {
                    ip: evil,
                    until: 164
                },
                Locked::User {
                    user: "andrew".into(),
                    until: 164
                }
            ]
        );
        // Locked: refused whatever the password, from that source or for that user.
        assert!(l.check(110, evil, Some("andrew")).is_err());
        assert!(l.check(110, evil, Some("elena")).is_err());
        assert!(l.check(110, ip("192.0.2.1"), Some("andrew")).is_err());
        assert!(l.check(110, ip("192.0.2.1"), Some("elena")).is_ok());
        // Failures during the lockout do not extend or count.
        assert!(l.failed(120, evil, Some("andrew")).is_empty());
        assert!(l.check(164, evil, Some("andrew")).is_ok());
        // The second lockout lasts twice as long.
        for i in 0..4 {
            l.failed(170 + i, evil, None);
        }
        assert_eq!(
            l.failed(175, evil, None),
            vec![Locked::Source {
                ip: evil,
                until: 295
            }]
        );
    }

    #[test]
    fn success_forgives_failures_and_old_failures_expire() {
        let mut l = AuthLockout::new(LockoutConfig::default());
        let phone = ip("192.0.2.9");
        for i in 0..4 {
            l.failed(i, phone, Some("elena"));
        }
        l.succeeded(phone, "elena");
        for i in 0..4 {
            assert!(l.failed(10 + i, phone, Some("elena")).is_empty());
        }
        // 4 more failures a window later start a new count.
        for i in 0..4 {
            assert!(l.failed(1000 + i, phone, Some("elena")).is_empty());
        }
        assert!(l.check(1004, phone, Some("elena")).is_ok());
    }

    #[test]
    fn zero_max_failures_turns_lockouts_off() {
        let mut l = AuthLockout::new(LockoutConfig {
            max_failures: 0,
            ..LockoutConfig::default()
        });
        for i in 0..100 {
            assert!(l.failed(i, ip("127.0.0.7"), Some("a")).is_empty());
        }
        assert!(l.check(100, ip("127.0.0.7"), Some("a")).is_ok());
    }
}
