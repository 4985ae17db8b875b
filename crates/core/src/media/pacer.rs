//! The send schedule of one outgoing RTP stream: frame `n` is due at `start + n·ptime`.
//!
//! Deadlines are computed from the start, never by adding 20 ms to "now" (which drifts
//! by the timer's lateness every frame: a `sleep(20ms)` loop typically plays a prompt
//! 2-5 % slow). Sans-IO: the driver passes `now` and arms its timer with the returned
//! deadline.
//!
//! When the driver falls behind (a stall, an overloaded core) a little, it catches up
//! by sending the due frames back to back: receivers' jitter buffers absorb a few
//! frames. When it falls far behind (more than [`Pacer::MAX_LATE_FRAMES`]) bursting
//! would overflow those buffers, so the missed slots are skipped: the caller advances
//! the RTP timestamp over them ([`super::RtpSender::skip`]) and the receiver hears a
//! short gap instead of a burst followed by clipped audio.

use std::time::{Duration, Instant};

/// What the driver should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum PacerStep {
    /// Nothing is due; arm the timer for this instant.
    Wait(Instant),
    /// Send one frame now, then call [`Pacer::on_sent`] and poll again. If `skipped`
    /// is non-zero, first advance the RTP timestamp by `skipped` frames.
    Send { skipped: u64 },
}

/// Deadline schedule for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacer {
    start: Instant,
    /// Frame slots consumed so far: sent plus skipped.
    sent: u64,
    ptime: Duration,
}

impl Pacer {
    /// Beyond this many overdue frames, skip rather than burst.
    pub const MAX_LATE_FRAMES: u64 = 3;

    /// Starts a schedule whose first frame is due at `start`. A zero `ptime` is
    /// raised to 1 ms so the arithmetic stays defined.
    #[must_use]
    pub fn new(start: Instant, ptime: Duration) -> Pacer {
        Pacer {
            start,
            sent: 0,
            ptime: ptime.max(Duration::from_millis(1)),
        }
    }

    /// When the next frame is due: `start + sent·ptime`, exact (no accumulated error).
    #[must_use]
    pub fn next_deadline(&self) -> Instant {
        self.slot_time(self.sent)
    }

    /// Records that the due frame was sent.
    pub fn on_sent(&mut self) {
        self.sent += 1;
    }

    /// Frame slots consumed (sent or skipped); times `ptime` is the stream's media time.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.sent
    }

    #[must_use]
    pub fn ptime(&self) -> Duration {
        self.ptime
    }

    /// Decides what to do at `now`; see [`PacerStep`].
    pub fn poll(&mut self, now: Instant) -> PacerStep {
        let next = self.next_deadline();
        if now < next {
            return PacerStep::Wait(next);
        }
        // On time, or a little behind (the common case, every frame): no need for
        // the division below.
        if now < self.slot_time(self.sent.saturating_add(Self::MAX_LATE_FRAMES)) {
            return PacerStep::Send { skipped: 0 };
        }
        // Slots whose deadline is ≤ now.
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        let due = u64::try_from(elapsed / self.ptime.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let behind = due.saturating_sub(self.sent);
        if behind > Self::MAX_LATE_FRAMES {
            // Keep only the most recent slot: send it now, skip the older ones.
            let skipped = behind - 1;
            self.sent += skipped;
            PacerStep::Send { skipped }
        } else {
            PacerStep::Send { skipped: 0 }
        }
    }

    fn slot_time(&self, n: u64) -> Instant {
        let nanos = u64::try_from(self.ptime.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(n);
        self.start + Duration::from_nanos(nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PTIME: Duration = Duration::from_millis(20);

    #[test]
    fn ten_thousand_frames_land_exactly_on_200_seconds() {
        let start = Instant::now();
        let mut p = Pacer::new(start, PTIME);
        let mut now = start;
        for i in 0..10_000u64 {
            // The timer fires late by a varying amount, as real timers do.
            now = p.next_deadline() + Duration::from_micros((i * 7919) % 15_000);
            assert_eq!(p.poll(now), PacerStep::Send { skipped: 0 });
            p.on_sent();
            assert!(matches!(p.poll(now), PacerStep::Wait(_)));
        }
        assert!(now < start + Duration::from_secs(200));
        assert_eq!(p.next_deadline(), start + Duration::from_secs(200));
        assert_eq!(p.sent(), 10_000);
    }

    #[test]
    fn waits_until_due() {
        let start = Instant::now();
        let mut p = Pacer::new(start, PTIME);
        assert_eq!(p.poll(start), PacerStep::Send { skipped: 0 });
        p.on_sent();
        let early = start + Duration::from_millis(5);
        assert_eq!(p.poll(early), PacerStep::Wait(start + PTIME));
    }

    #[test]
    fn small_lateness_bursts_to_catch_up() {
        let start = Instant::now();
        let mut p = Pacer::new(start, PTIME);
        // 50 ms in: slots 0, 1, 2 are due (0, 20, 40 ms) → three sends, then wait.
        let now = start + Duration::from_millis(50);
        for _ in 0..3 {
            assert_eq!(p.poll(now), PacerStep::Send { skipped: 0 });
            p.on_sent();
        }
        assert_eq!(
            p.poll(now),
            PacerStep::Wait(start + Duration::from_millis(60))
        );
    }

    #[test]
    fn large_stall_skips_instead_of_bursting() {
        let start = Instant::now();
        let mut p = Pacer::new(start, PTIME);
        for _ in 0..10 {
            assert_eq!(p.poll(p.next_deadline()), PacerStep::Send { skipped: 0 });
            p.on_sent();
        }
        // Stalled until t = 1.005 s: slots 10..=50 are due (41 frames).
        let now = start + Duration::from_millis(1005);
        assert_eq!(p.poll(now), PacerStep::Send { skipped: 40 });
        p.on_sent();
        assert_eq!(p.sent(), 51);
        // Back on the original grid, no drift.
        assert_eq!(
            p.poll(now),
            PacerStep::Wait(start + Duration::from_millis(1020))
        );
    }

    #[test]
    fn zero_ptime_is_clamped() {
        let start = Instant::now();
        let mut p = Pacer::new(start, Duration::ZERO);
        assert_eq!(p.ptime(), Duration::from_millis(1));
        assert_eq!(p.poll(start), PacerStep::Send { skipped: 0 });
    }
}
