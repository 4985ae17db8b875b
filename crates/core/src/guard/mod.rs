//! Admission control for SIP requests, sans-IO: what Kamailio's `pike` and
//! `ratelimit` modules and a fail2ban jail do, in-process and with no extra daemon.
//!
//! - [`rate`]: per-source request rate limits and a temporary ban list, checked on
//!   every message *before* it is parsed, so a flood costs a hash lookup per datagram
//!   and never any transaction state.
//! - [`lockout`]: failed digest authentications per source and per user, with a
//!   lockout that grows with each repeat and that the right password does not bypass.
//! - [`refusals`]: refused requests summarised in one log line per interval instead of
//!   one WARN per message (a scanner sends thousands).
//! - [`in_dialog_source_ok`]: who may send requests inside an existing call.
//!
//! Every function takes `now` and returns a typed decision; nothing here reads a clock,
//! touches a socket or logs on the hot path except through [`refusals`]' summary.

pub mod lockout;
pub mod rate;
pub mod refusals;

use std::net::IpAddr;

pub use lockout::{AuthLockout, Locked, LockoutConfig};
pub use rate::{Admission, RateConfig, RateGuard};
pub use refusals::{Note, RefusalLog, Refused};

use std::time::Instant;

/// `[server] refused_invites`: what an INVITE that will be refused (not from a trunk,
/// not from a registered phone) gets. Either way no transaction is created and
/// nothing is retransmitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefuseMode {
    /// One stateless 403 (helps an admin see a misconfigured trunk).
    #[default]
    Answer,
    /// Nothing at all: a scanner learns nothing, a spoofed source gets no traffic.
    Silent,
}

/// RFC 3261 §12.2.2 leaves it to the UAS whom it accepts in-dialog requests from; we
/// accept them only from where the dialog belongs. `expected` is the address the
/// dialog's peer sent its INVITE from (or, for a leg we placed, the phone we sent it
/// to). A trunk call may be continued by any trunk address (trunks are often a cluster
/// of proxies), anything else only by that same address.
#[must_use]
pub fn in_dialog_source_ok(
    expected: IpAddr,
    from: IpAddr,
    is_trunk: impl Fn(IpAddr) -> bool,
) -> bool {
    canonical(from) == canonical(expected) || (is_trunk(expected) && is_trunk(from))
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they carry.
#[must_use]
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Counters since the driver last took them (published to `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Messages dropped unparsed because their source is banned.
    pub banned_dropped: u64,
    /// Sources newly banned for going over the rate limit.
    pub bans: u64,
    /// INVITEs refused with one stateless 403.
    pub invites_refused_answered: u64,
    /// INVITEs refused silently.
    pub invites_refused_silent: u64,
    /// Requests dropped because transaction memory was at its cap (non-trunk only).
    pub shed: u64,
    /// In-dialog requests (BYE, re-INVITE, ACK, CANCEL…) from the wrong address.
    pub in_dialog_refused: u64,
    /// Failed digest authentications (wrong password, unknown user).
    pub auth_failures: u64,
    /// Requests refused because their source or user is locked out.
    pub auth_locked_refused: u64,
    /// Lockouts started.
    pub lockouts: u64,
}

impl GuardStats {
    /// Adds `other` into `self` and resets `other`.
    pub fn absorb(&mut self, other: &mut GuardStats) {
        let o = std::mem::take(other);
        self.banned_dropped += o.banned_dropped;
        self.bans += o.bans;
        self.invites_refused_answered += o.invites_refused_answered;
        self.invites_refused_silent += o.invites_refused_silent;
        self.shed += o.shed;
        self.in_dialog_refused += o.in_dialog_refused;
        self.auth_failures += o.auth_failures;
        self.auth_locked_refused += o.auth_locked_refused;
        self.lockouts += o.lockouts;
    }
}

/// The endpoint's admission state: the rate guard, the refusal summary and the
/// counters, with the few settings that go with them.
#[derive(Debug)]
pub struct Guards {
    pub rate: RateGuard,
    pub refusals: RefusalLog,
    pub stats: GuardStats,
    pub refuse_invites: RefuseMode,
    /// Open transactions above which requests from non-trunk sources are shed.
    pub max_transactions: usize,
}

impl Guards {
    #[must_use]
    pub fn new(rate: RateConfig, refuse_invites: RefuseMode, max_transactions: usize) -> Self {
        Self {
            rate: RateGuard::new(rate),
            refusals: RefusalLog::new(),
            stats: GuardStats::default(),
            refuse_invites,
            max_transactions,
        }
    }

    /// New limits from a reload (`rate_*`, `ban_secs`, `trunk_rate_limit`,
    /// `refused_invites`, `max_transactions`): in force from the next message.
    pub fn reconfigure(
        &mut self,
        rate: RateConfig,
        refuse_invites: RefuseMode,
        max_transactions: usize,
    ) {
        self.rate.set_config(rate);
        self.refuse_invites = refuse_invites;
        self.max_transactions = max_transactions;
    }

    /// The first check on every message, before parsing: `false` drops it.
    pub fn admit_message(&mut self, now: Instant, ip: IpAddr, trunk: bool) -> bool {
        match self.rate.check(now, canonical(ip), trunk) {
            Admission::Admit => true,
            Admission::Banned | Admission::TableFull | Admission::TrunkOverRate => {
                self.stats.banned_dropped += 1;
                false
            }
            Admission::NewlyBanned { until } => {
                self.stats.bans += 1;
                self.stats.banned_dropped += 1;
                let secs = until.saturating_duration_since(now).as_secs();
                tracing::warn!(
                    "{ip} sent SIP faster than [server] rate_limit allows: ignoring it for {secs} s"
                );
                self.refusals.note(now, Refused::Banned, ip);
                false
            }
        }
    }

    /// Counts a refused request and logs it, on its own line or in the next summary.
    pub fn refused(&mut self, now: Instant, reason: Refused, source: IpAddr, what: &str) {
        match reason {
            Refused::NotTrunk => {}
            Refused::Banned => self.stats.banned_dropped += 1,
            Refused::Shed => self.stats.shed += 1,
            Refused::WrongSource => self.stats.in_dialog_refused += 1,
            Refused::LockedOut => self.stats.auth_locked_refused += 1,
        }
        if self.refusals.note(now, reason, source) == Note::Detail {
            tracing::warn!("refused {what} from {source}: {}", reason.as_str());
        }
    }

    /// The summary line due at `now`, logged here.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(line) = self.refusals.poll_summary(now) {
            tracing::warn!("{line}");
        }
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.refusals.poll_timeout()
    }

    /// Counters since the last call.
    pub fn take_stats(&mut self) -> GuardStats {
        std::mem::take(&mut self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_dialog_requests_come_from_the_dialogs_peer_or_another_trunk() {
        let trunks = |ip: IpAddr| ip.to_string().starts_with("10.0.0.");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // A trunk call: any trunk address, nobody else.
        assert!(in_dialog_source_ok(ip("10.0.0.1"), ip("10.0.0.1"), trunks));
        assert!(in_dialog_source_ok(ip("10.0.0.1"), ip("10.0.0.2"), trunks));
        assert!(!in_dialog_source_ok(
            ip("10.0.0.1"),
            ip("127.0.0.9"),
            trunks
        ));
        // A phone's call: that phone only.
        assert!(in_dialog_source_ok(
            ip("192.0.2.5"),
            ip("192.0.2.5"),
            trunks
        ));
        assert!(in_dialog_source_ok(
            ip("192.0.2.5"),
            ip("::ffff:192.0.2.5"),
            trunks
        ));
        assert!(!in_dialog_source_ok(
            ip("192.0.2.5"),
            ip("192.0.2.6"),
            trunks
        ));
        assert!(!in_dialog_source_ok(
            ip("192.0.2.5"),
            ip("10.0.0.1"),
            trunks
        ));
    }
}
