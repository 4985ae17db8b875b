//! Holding back a manager's digits that could be a feature code, the way Asterisk's
//! feature detection buffers DTMF (`featuredigittimeout`): the caller must never hear
//! (or have their PBX act on) `*2 2`, yet an ordinary key must reach them promptly.
//!
//! The gate sees each digit the manager presses as it starts and says what to do
//! with that digit's own RTP packets:
//! - [`Disposition::Forward`]: it cannot start a feature code and nothing is held:
//!   relay its packets as they come (no delay at all);
//! - [`Disposition::Hold`]: keep its packets back. It is a prefix of a feature code
//!   (held until the code completes, a digit breaks it, or `timeout` passes with no
//!   digit), or it follows digits being released and must keep its place after them.
//!
//! Digits that turn out not to be a feature code come out as
//! [`GateOutput::Release`], in order, for the media plane to regenerate towards the
//! caller; a completed code comes out as [`GateOutput::Recognised`] and is never
//! released.
//!
//! ```text
//!            digit, no code starts with it            ┌──────────┐
//!   Idle ───────────────────────────────► Forward ───►│   Idle   │
//!    │ digit is a proper prefix of a code             └──────────┘
//!    ▼                                                      ▲
//!   Holding{held, deadline} ──held+digit = a code──► Recognised(code)
//!    │  ├─ held+digit a longer prefix ─► Holding (deadline reset)
//!    │  └─ held+digit no prefix ─► Release the leading digits until the rest is a
//!    │                              prefix again (or nothing is left)
//!    └─ deadline passes ─► Release every held digit ─► Idle
//! ```
//!
//! Codes are matched as soon as they are complete; the `[transfer]` feature codes
//! all have the same length (code + one key), so no code is a prefix of another.
//! Sans-IO: time comes in as `now`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What to do with the packets of the digit just pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Relay them untouched, as they arrive.
    Forward,
    /// Do not relay them (the digit is held, recognised, or released later).
    Hold,
}

/// What the gate decided about held digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateOutput {
    /// Not part of a feature code after all: play this digit to the caller now.
    Release(char),
    /// The manager dialled this feature code; none of its digits reach the caller.
    Recognised(String),
}

#[derive(Debug, Clone)]
pub struct FeatureGate {
    codes: Vec<String>,
    timeout: Duration,
    held: String,
    deadline: Option<Instant>,
    out: VecDeque<GateOutput>,
}

impl FeatureGate {
    /// A gate for `codes` (full sequences such as `*21`; empty ones are ignored) with
    /// `timeout` between digits.
    pub fn new(codes: Vec<String>, timeout: Duration) -> Self {
        Self {
            codes: codes.into_iter().filter(|c| !c.is_empty()).collect(),
            timeout,
            held: String::new(),
            deadline: None,
            out: VecDeque::new(),
        }
    }

    /// The manager started pressing `digit` at `now`.
    pub fn handle_digit(&mut self, now: Instant, digit: char) -> Disposition {
        // Too late to continue what was held: that is released first.
        self.handle_timeout(now);
        // Forwarding this digit's own packets is only safe when no released digit
        // waits to be played before it.
        let was_idle =
            self.held.is_empty() && !self.out.iter().any(|o| matches!(o, GateOutput::Release(_)));
        let mut buf = std::mem::take(&mut self.held);
        buf.push(digit);
        let mut released = Vec::new();
        while !buf.is_empty() {
            if self.codes.contains(&buf) {
                self.out
                    .push_back(GateOutput::Recognised(std::mem::take(&mut buf)));
                break;
            }
            if self.is_proper_prefix(&buf) {
                break;
            }
            released.push(buf.remove(0));
        }
        self.held = buf;
        self.deadline = (!self.held.is_empty()).then(|| now + self.timeout);
        if was_idle && released == [digit] {
            return Disposition::Forward;
        }
        self.out
            .extend(released.into_iter().map(GateOutput::Release));
        Disposition::Hold
    }

    /// Releases the held digits once `timeout` has passed since the last one.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| d <= now) {
            self.deadline = None;
            let held = std::mem::take(&mut self.held);
            self.out.extend(held.chars().map(GateOutput::Release));
        }
    }

    /// When held digits will be released if nothing else is pressed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    #[must_use]
    pub fn poll_output(&mut self) -> Option<GateOutput> {
        self.out.pop_front()
    }

    /// Digits are being held back now.
    #[must_use]
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    fn is_proper_prefix(&self, s: &str) -> bool {
        self.codes
            .iter()
            .any(|c| c.len() > s.len() && c.starts_with(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(2);

    fn gate() -> FeatureGate {
        FeatureGate::new(vec!["*21".into(), "*22".into(), "*23".into()], T)
    }

    fn outputs(g: &mut FeatureGate) -> Vec<GateOutput> {
        std::iter::from_fn(|| g.poll_output()).collect()
    }

    fn rel(s: &str) -> Vec<GateOutput> {
        s.chars().map(GateOutput::Release).collect()
    }

    #[test]
    fn a_recognised_code_never_comes_out() {
        let t0 = Instant::now();
        let mut g = gate();
        assert_eq!(g.handle_digit(t0, '*'), Disposition::Hold);
        assert_eq!(g.handle_digit(t0 + T / 2, '2'), Disposition::Hold);
        assert!(outputs(&mut g).is_empty());
        assert_eq!(g.handle_digit(t0 + T, '2'), Disposition::Hold);
        assert_eq!(outputs(&mut g), vec![GateOutput::Recognised("*22".into())]);
        assert!(!g.is_holding());
        assert_eq!(g.poll_timeout(), None);
        g.handle_timeout(t0 + T * 10);
        assert!(outputs(&mut g).is_empty());
    }

    #[test]
    fn an_ordinary_digit_passes_at_once() {
        let t0 = Instant::now();
        let mut g = gate();
        for d in ['5', '1', '#', '2'] {
            assert_eq!(g.handle_digit(t0, d), Disposition::Forward, "{d}");
        }
        assert!(outputs(&mut g).is_empty());
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn a_broken_prefix_is_released_in_order_with_the_breaking_digit() {
        let t0 = Instant::now();
        let mut g = gate();
        g.handle_digit(t0, '*');
        assert_eq!(g.handle_digit(t0, '5'), Disposition::Hold);
        assert_eq!(outputs(&mut g), rel("*5"));
        // An unknown key after the code: released too.
        g.handle_digit(t0, '*');
        g.handle_digit(t0, '2');
        assert_eq!(g.handle_digit(t0, '9'), Disposition::Hold);
        assert_eq!(outputs(&mut g), rel("*29"));
        assert!(!g.is_holding());
    }

    #[test]
    fn a_restart_inside_a_prefix_keeps_the_new_start_held() {
        let t0 = Instant::now();
        let mut g = gate();
        g.handle_digit(t0, '*');
        // "**": the first star is released, the second may still start a code.
        assert_eq!(g.handle_digit(t0, '*'), Disposition::Hold);
        assert_eq!(outputs(&mut g), rel("*"));
        assert!(g.is_holding());
        g.handle_digit(t0, '2');
        g.handle_digit(t0, '1');
        assert_eq!(outputs(&mut g), vec![GateOutput::Recognised("*21".into())]);
    }

    #[test]
    fn held_digits_are_released_when_the_timeout_passes() {
        let t0 = Instant::now();
        let mut g = gate();
        g.handle_digit(t0, '*');
        g.handle_digit(t0 + Duration::from_secs(1), '2');
        assert_eq!(g.poll_timeout(), Some(t0 + Duration::from_secs(1) + T));
        g.handle_timeout(t0 + Duration::from_secs(2));
        assert!(
            outputs(&mut g).is_empty(),
            "the timer restarts with each digit"
        );
        g.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!(outputs(&mut g), rel("*2"));
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn a_late_key_does_not_complete_a_code() {
        // "*2", a pause longer than the timeout, "2": not a transfer; everything is
        // released in order, the late key after the held ones.
        let t0 = Instant::now();
        let mut g = gate();
        g.handle_digit(t0, '*');
        g.handle_digit(t0, '2');
        assert_eq!(g.handle_digit(t0 + T * 2, '2'), Disposition::Hold);
        assert_eq!(outputs(&mut g), rel("*22"));
    }

    #[test]
    fn no_codes_means_everything_passes() {
        let t0 = Instant::now();
        let mut g = FeatureGate::new(vec![String::new()], T);
        for d in ['*', '2', '2'] {
            assert_eq!(g.handle_digit(t0, d), Disposition::Forward);
        }
        assert!(outputs(&mut g).is_empty());
    }
}
