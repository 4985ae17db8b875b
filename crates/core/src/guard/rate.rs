//! Per-source request rate limits and a temporary ban list (Kamailio `pike`).
//!
//! Each source address has a token bucket: `rate` messages a second on average, up to
//! `burst` at once. A source that empties its bucket is banned for `ban`: every message
//! from it is dropped before it is parsed, silently (a scanner learns nothing, and a
//! spoofed source is sent nothing). Trunks are exempt, or limited by their own rate
//! without a ban, so a busy PBX is never locked out by its own traffic.
//!
//! ```text
//!  unknown ──message──► Tracked{tokens} ──bucket empty──► Banned{until}
//!                          ▲    │ idle (bucket refilled)        │ until passed
//!                          │    ▼                               │
//!                          └─ forgotten ◄───────────────────────┘
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How often idle buckets and expired bans are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The limits (`[server] rate_limit`, `rate_burst`, `ban_secs`, `trunk_rate_limit`,
/// `max_tracked_sources`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateConfig {
    /// Messages per second a non-trunk source may send on average; 0 turns limits off.
    pub rate: f64,
    /// Messages a non-trunk source may send at once.
    pub burst: f64,
    /// How long a source that went over the limit is ignored.
    pub ban: Duration,
    /// Messages per second for a trunk address (no ban: excess is dropped); 0 = exempt.
    pub trunk_rate: f64,
    /// Sources tracked at once; beyond that new non-trunk sources are dropped until
    /// the next sweep (a distributed flood cannot grow the table without bound).
    pub max_sources: usize,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            rate: 20.0,
            burst: 60.0,
            ban: Duration::from_secs(60),
            trunk_rate: 0.0,
            max_sources: 65_536,
        }
    }
}

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// The source is banned: drop silently.
    Banned,
    /// This message emptied the source's bucket: it is banned from now (drop this one
    /// too). Reported once per ban, for the log and the counters.
    NewlyBanned {
        until: Instant,
    },
    /// A trunk over its own rate: drop this message, no ban.
    TrunkOverRate,
    /// Too many sources tracked: drop (non-trunk only).
    TableFull,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct RateGuard {
    cfg: RateConfig,
    buckets: HashMap<IpAddr, Bucket>,
    bans: HashMap<IpAddr, Instant>,
    next_sweep: Option<Instant>,
}

impl RateGuard {
    #[must_use]
    pub fn new(cfg: RateConfig) -> Self {
        Self {
            cfg,
            buckets: HashMap::new(),
            bans: HashMap::new(),
            next_sweep: None,
        }
    }

    /// New limits (`switchboard reload`). Each source's bucket refills at the new rate
    /// up to the new burst from its next message on; bans already given run their
    /// course, unless limits are now off (`rate_limit = 0`), which lifts them.
    pub fn set_config(&mut self, cfg: RateConfig) {
        if cfg.rate <= 0.0 {
            self.bans.clear();
        }
        self.cfg = cfg;
    }

    /// Judges one message from `ip` (a trunk address when `trunk`).
    pub fn check(&mut self, now: Instant, ip: IpAddr, trunk: bool) -> Admission {
        if self.next_sweep.is_none_or(|t| now >= t) {
            self.sweep(now);
        }
        let (rate, burst) = if trunk {
            if self.cfg.trunk_rate <= 0.0 {
                return Admission::Admit;
            }
            (self.cfg.trunk_rate, self.cfg.trunk_rate.max(1.0) * 2.0)
        } else {
            if self.cfg.rate <= 0.0 {
                return Admission::Admit;
            }
            if let Some(&until) = self.bans.get(&ip) {
                if now < until {
                    return Admission::Banned;
                }
                self.bans.remove(&ip);
            }
            (self.cfg.rate, self.cfg.burst.max(1.0))
        };
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.cfg.max_sources {
            self.sweep(now);
            if self.buckets.len() >= self.cfg.max_sources && !trunk {
                return Admission::TableFull;
            }
        }
        let b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Admission::Admit;
        }
        if trunk {
            return Admission::TrunkOverRate;
        }
        self.buckets.remove(&ip);
        let until = now + self.cfg.ban;
        self.bans.insert(ip, until);
        Admission::NewlyBanned { until }
    }

    /// Whether `ip` is banned at `now`.
    #[must_use]
    pub fn is_banned(&self, now: Instant, ip: IpAddr) -> bool {
        self.bans.get(&ip).is_some_and(|&until| now < until)
    }

    /// Sources banned now (for the metrics gauge).
    #[must_use]
    pub fn banned(&self) -> usize {
        self.bans.len()
    }

    /// Forgets buckets that have refilled (their source is quiet) and bans that ended.
    fn sweep(&mut self, now: Instant) {
        let (rate, burst) = (self.cfg.rate, self.cfg.burst);
        self.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed * rate < burst
        });
        self.bans.retain(|_, until| now < *until);
        self.next_sweep = Some(now + SWEEP_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reload's tighter limit applies from the next message; turning limits off lifts
    /// the bans given so far.
    #[test]
    fn new_limits_apply_at_once_and_turning_them_off_lifts_bans() {
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        let mut g = RateGuard::new(RateConfig::default());
        for _ in 0..5 {
            assert_eq!(g.check(t0, a, false), Admission::Admit);
        }
        g.set_config(RateConfig {
            rate: 1.0,
            burst: 2.0,
            ..RateConfig::default()
        });
        assert_eq!(g.check(t0, ip("192.0.2.2"), false), Admission::Admit);
        assert_eq!(g.check(t0, ip("192.0.2.2"), false), Admission::Admit);
        assert!(matches!(
            g.check(t0, ip("192.0.2.2"), false),
            Admission::NewlyBanned { .. }
        ));
        assert!(g.is_banned(t0, ip("192.0.2.2")));
        g.set_config(RateConfig {
            rate: 0.0,
            ..RateConfig::default()
        });
        assert!(!g.is_banned(t0, ip("192.0.2.2")));
        assert_eq!(g.check(t0, ip("192.0.2.2"), false), Admission::Admit);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_is_admitted_a_flood_is_banned_then_forgiven() {
        let t0 = Instant::now();
        let mut g = RateGuard::new(RateConfig {
            rate: 10.0,
            burst: 20.0,
            ban: Duration::from_secs(60),
            ..RateConfig::default()
        });
        let evil = ip("127.0.0.5");
        for _ in 0..20 {
            assert_eq!(g.check(t0, evil, false), Admission::Admit);
        }
        assert!(matches!(
            g.check(t0, evil, false),
            Admission::NewlyBanned { .. }
        ));
        assert!(g.is_banned(t0, evil));
        // Banned: dropped whatever the pace, until the ban ends.
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(g.check(t1, evil, false), Admission::Banned);
        let t2 = t0 + Duration::from_secs(61);
        assert_eq!(g.check(t2, evil, false), Admission::Admit);
        // Another source is not affected.
        assert_eq!(g.check(t0, ip("127.0.0.6"), false), Admission::Admit);
    }

    #[test]
    fn a_steady_phone_under_the_rate_is_never_banned() {
        let t0 = Instant::now();
        let mut g = RateGuard::new(RateConfig::default());
        let phone = ip("192.0.2.7");
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_millis(u64::from(i) * 100); // 10/s
            assert_eq!(g.check(now, phone, false), Admission::Admit);
        }
    }

    #[test]
    fn trunks_are_exempt_or_limited_without_a_ban() {
        let t0 = Instant::now();
        let mut g = RateGuard::new(RateConfig::default());
        let trunk = ip("10.0.0.1");
        for _ in 0..100_000 {
            assert_eq!(g.check(t0, trunk, true), Admission::Admit);
        }
        let mut g = RateGuard::new(RateConfig {
            trunk_rate: 100.0,
            ..RateConfig::default()
        });
        let admitted = (0..1000)
            .filter(|_| g.check(t0, trunk, true) == Admission::Admit)
            .count();
        assert_eq!(admitted, 200);
        assert_eq!(g.check(t0, trunk, true), Admission::TrunkOverRate);
        assert!(!g.is_banned(t0, trunk));
        assert_eq!(
            g.check(t0 + Duration::from_secs(1), trunk, true),
            Admission::Admit
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let t0 = Instant::now();
        let mut g = RateGuard::new(RateConfig {
            max_sources: 100,
            ..RateConfig::default()
        });
        for i in 0..100u32 {
            let a = IpAddr::from((0x0A00_0000 + i).to_be_bytes());
            assert_eq!(g.check(t0, a, false), Admission::Admit);
        }
        assert_eq!(g.check(t0, ip("192.0.2.1"), false), Admission::TableFull);
        assert_eq!(g.check(t0, ip("10.9.9.9"), true), Admission::Admit);
        // Once they are quiet (refilled) they are forgotten and room returns.
        let later = t0 + Duration::from_secs(20);
        assert_eq!(g.check(later, ip("192.0.2.1"), false), Admission::Admit);
    }
}
