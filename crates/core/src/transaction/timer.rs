//! The RFC 3261 §17 transaction timers (plus RFC 6026's L and M) in one enum, their
//! durations derived from T1/T2/T4 in one table, and the tiny per-transaction
//! deadline set the machines keep.

use std::time::{Duration, Instant};

use crate::sip::Transport;
use serde::Deserialize;

/// Floor for retransmission intervals, so a zero T1/T2 from a bad config cannot make a
/// timer re-fire at the same instant forever.
const MIN_RETRANSMIT: Duration = Duration::from_millis(1);

/// Every transaction timer. The letter is the RFC's name (RFC 3261 Table 4,
/// RFC 6026 §8.4), so a log line can be checked against the spec directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Client INVITE request retransmission (UDP only): T1, doubling without cap
    /// (§17.1.1.2).
    A,
    /// Client INVITE transaction timeout: 64·T1 (§17.1.1.2). Also restarted when a
    /// CANCEL is sent for the INVITE, so an INVITE whose peer never answers the CANCEL
    /// still ends (§9.1).
    B,
    /// Client INVITE wait for final-response retransmissions after a non-2xx:
    /// ≥ 32 s on UDP, 0 on TCP (§17.1.1.2).
    D,
    /// Client non-INVITE request retransmission (UDP only): T1 doubling up to T2 in
    /// Trying, T2 in Proceeding (§17.1.2.2).
    E,
    /// Client non-INVITE transaction timeout: 64·T1 (§17.1.2.2).
    F,
    /// Server INVITE final-response retransmission (UDP only): T1 doubling up to T2
    /// (§17.2.1). Also paces the 2xx retransmissions of the Accepted state, which
    /// follow the same schedule (§13.3.1.4).
    G,
    /// Server INVITE wait for the ACK of a non-2xx final: 64·T1 (§17.2.1).
    H,
    /// Server INVITE wait for ACK retransmissions in Confirmed: T4 on UDP, 0 on TCP.
    I,
    /// Server non-INVITE wait for request retransmissions in Completed: 64·T1 on UDP,
    /// 0 on TCP (§17.2.2).
    J,
    /// Client non-INVITE wait for response retransmissions in Completed: T4 on UDP,
    /// 0 on TCP (§17.1.2.2).
    K,
    /// Server INVITE Accepted state (after a 2xx): 64·T1 (RFC 6026 §7.1). Firing
    /// without an ACK seen is the §13.3.1.4 "no ACK for the 2xx" case.
    L,
    /// Client INVITE Accepted state (after a 2xx): 64·T1, during which 2xx
    /// retransmissions are passed up so the TU re-ACKs them (RFC 6026 §7.2).
    M,
}

/// Timer base values and the one table of initial durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE responses
    /// (default 4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// Timer D on unreliable transports; RFC 3261 asks for at least 32 s.
    pub timer_d: Duration,
}

impl From<SipTimers> for TimerConfig {
    fn from(t: SipTimers) -> Self {
        Self {
            t1: t.t1(),
            t2: t.t2(),
            t4: t.t4(),
            timer_d: Duration::from_secs(32),
        }
    }
}

impl Default for TimerConfig {
    fn default() -> Self {
        SipTimers::default().into()
    }
}

impl TimerConfig {
    /// The initial duration of `timer` on `transport`.
    ///
    /// `None` means the timer is not started at all on that transport (the
    /// retransmission timers A, E, G on TCP, §17.1.1.2/§17.2.1); `Some(ZERO)` means the
    /// state it guards is left at once (D, I, J, K on TCP).
    pub fn initial(&self, timer: Timer, transport: Transport) -> Option<Duration> {
        let reliable = transport.is_reliable();
        let t64 = self.t1.saturating_mul(64);
        match timer {
            Timer::A | Timer::E | Timer::G if reliable => None,
            Timer::A | Timer::E | Timer::G => Some(self.t1.max(MIN_RETRANSMIT)),
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => Some(t64),
            Timer::D | Timer::I | Timer::J | Timer::K if reliable => Some(Duration::ZERO),
            Timer::D => Some(self.timer_d),
            Timer::I | Timer::K => Some(self.t4),
            Timer::J => Some(t64),
        }
    }

    /// The interval after a retransmission timer that was `prev` fired: A doubles
    /// without a cap (§17.1.1.2), E and G double up to T2 (§17.1.2.2, §17.2.1).
    pub fn next_interval(&self, timer: Timer, prev: Duration) -> Duration {
        let doubled = prev.saturating_mul(2);
        let next = match timer {
            Timer::A => doubled,
            _ => doubled.min(self.t2),
        };
        next.max(MIN_RETRANSMIT)
    }
}

/// The deadlines one transaction has armed: never more than two at a time (A+B, E+F,
/// G+H, G+L), so a fixed array avoids an allocation per transaction.
#[derive(Debug, Clone, Default)]
pub struct Deadlines {
    slots: [Option<(Timer, Instant)>; 3],
}

impl Deadlines {
    /// The deadlines a client transaction starts with (RFC 3261 §17.1.1.2, §17.1.2.2):
    /// its retransmission timer (A or E; none on a reliable transport) and its
    /// transaction timeout (B or F). Returns them with the first retransmit interval.
    pub fn client_start(
        cfg: &TimerConfig,
        transport: Transport,
        now: Instant,
        retransmit: Timer,
        timeout: Timer,
    ) -> (Self, Duration) {
        let mut deadlines = Deadlines::default();
        let interval = cfg.initial(retransmit, transport).unwrap_or(Duration::ZERO);
        if !interval.is_zero() {
            deadlines.set(retransmit, now + interval);
        }
        if let Some(t) = cfg.initial(timeout, transport) {
            deadlines.set(timeout, now + t);
        }
        (deadlines, interval)
    }

    /// Arm (or re-arm) `timer` to fire at `at`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.cancel(timer);
        if let Some(slot) = self.slots.iter_mut().find(|s| s.is_none()) {
            *slot = Some((timer, at));
        } else if let Some(last) = self.slots.last_mut() {
            // Unreachable by construction (at most two timers run at once); keep the
            // newest rather than panic.
            *last = Some((timer, at));
        }
    }

    /// Disarm `timer` if armed.
    pub fn cancel(&mut self, timer: Timer) {
        for slot in &mut self.slots {
            if matches!(slot, Some((t, _)) if *t == timer) {
                *slot = None;
            }
        }
    }

    /// Disarm everything (entering a state that uses none of the running timers).
    pub fn clear(&mut self) {
        self.slots = Default::default();
    }

    /// Whether `timer` is armed.
    pub fn is_armed(&self, timer: Timer) -> bool {
        self.slots.iter().flatten().any(|(t, _)| *t == timer)
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|(_, at)| *at).min()
    }

    /// Disarm and return the earliest timer due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let slot = self
            .slots
            .iter_mut()
            .filter(|s| matches!(s, Some((_, at)) if *at <= now))
            .min_by_key(|s| s.map(|(_, at)| at))?;
        slot.take().map(|(t, _)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_rfc_defaults() {
        let c = TimerConfig::default();
        let ms = Duration::from_millis;
        assert_eq!(c.initial(Timer::A, Transport::Udp), Some(ms(500)));
        assert_eq!(c.initial(Timer::A, Transport::Tcp), None);
        assert_eq!(c.initial(Timer::B, Transport::Tcp), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::D, Transport::Udp), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::D, Transport::Tcp), Some(Duration::ZERO));
        assert_eq!(c.initial(Timer::I, Transport::Udp), Some(ms(5_000)));
        assert_eq!(c.initial(Timer::J, Transport::Udp), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::J, Transport::Tcp), Some(Duration::ZERO));
        assert_eq!(c.initial(Timer::K, Transport::Tcp), Some(Duration::ZERO));
        assert_eq!(c.initial(Timer::L, Transport::Udp), Some(ms(32_000)));
        assert_eq!(c.next_interval(Timer::A, ms(4000)), ms(8000));
        assert_eq!(c.next_interval(Timer::E, ms(4000)), ms(4000));
        assert_eq!(c.next_interval(Timer::G, ms(2000)), ms(4000));
    }

    #[test]
    fn deadlines_pop_in_order() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.set(Timer::B, t0 + Duration::from_secs(32));
        d.set(Timer::A, t0 + Duration::from_millis(500));
        d.set(Timer::A, t0 + Duration::from_millis(600));
        assert_eq!(d.next(), Some(t0 + Duration::from_millis(600)));
        assert_eq!(d.pop_due(t0), None);
        assert_eq!(d.pop_due(t0 + Duration::from_secs(40)), Some(Timer::A));
        assert_eq!(d.pop_due(t0 + Duration::from_secs(40)), Some(Timer::B));
        assert_eq!(d.next(), None);
    }
}

/// RFC 3261 §17.1.1.1 T1 (RTT estimate), T2 (max non-INVITE retransmit interval),
/// T4 (max time a message stays in the network), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipTimers {
    pub t1_ms: u64,
    pub t2_ms: u64,
    pub t4_ms: u64,
}

impl Default for SipTimers {
    fn default() -> Self {
        Self {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
        }
    }
}

impl SipTimers {
    pub fn t1(&self) -> Duration {
        Duration::from_millis(self.t1_ms)
    }
    pub fn t2(&self) -> Duration {
        Duration::from_millis(self.t2_ms)
    }
    pub fn t4(&self) -> Duration {
        Duration::from_millis(self.t4_ms)
    }
}
