//! Collecting a caller's digits for an IVR step ("enter your account number, then #").
//!
//! Sans-IO: digits and timeouts come in with `now`; [`DigitCollector::poll_timeout`]
//! tells the driver when to call [`DigitCollector::handle_timeout`]. Digits may arrive
//! before [`DigitCollector::start`] (the caller types over the prompt — barge-in); they
//! count, and the inter-digit timer runs from the last of them.

use std::time::{Duration, Instant};

/// How a collection ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorConfig {
    /// Stop after this many digits; 0 means no limit (terminator or timeout only).
    pub max_digits: usize,
    /// A digit that ends the entry and is not part of it (usually `#`).
    pub terminator: Option<char>,
    /// Time allowed, from `start`, for the first digit.
    pub first_digit_timeout: Duration,
    /// Time allowed between digits; after it the entry ends with what was typed.
    pub inter_digit_timeout: Duration,
}

impl Default for CollectorConfig {
    /// One menu choice: a single digit, `#` ends, 5 s to start, 3 s between digits.
    fn default() -> Self {
        CollectorConfig {
            max_digits: 1,
            terminator: Some('#'),
            first_digit_timeout: Duration::from_secs(5),
            inter_digit_timeout: Duration::from_secs(3),
        }
    }
}

/// Why the collection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The terminator was pressed.
    Terminator,
    /// `max_digits` were entered.
    MaxDigits,
    /// Some digits, then silence for `inter_digit_timeout`.
    InterDigitTimeout,
    /// No digit within `first_digit_timeout`.
    NoInput,
}

/// A finished entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Collected {
    /// The digits, without the terminator.
    pub digits: String,
    pub ended_by: EndedBy,
}

/// Digit collection state for one IVR step.
#[derive(Debug, Clone)]
pub struct DigitCollector {
    config: CollectorConfig,
    digits: String,
    deadline: Option<Instant>,
    done: bool,
}

impl DigitCollector {
    /// A collector that accepts digits immediately but arms no timer until `start`.
    #[must_use]
    pub fn new(config: CollectorConfig) -> DigitCollector {
        DigitCollector {
            digits: String::with_capacity(config.max_digits.min(32)),
            config,
            deadline: None,
            done: false,
        }
    }

    /// The prompt finished: arm the first-digit timer, unless digits already arrived
    /// (barge-in), in which case the inter-digit timer they armed keeps running.
    pub fn start(&mut self, now: Instant) {
        if self.done || !self.digits.is_empty() {
            return;
        }
        self.deadline = Some(now + self.config.first_digit_timeout);
    }

    /// A digit arrived (from RFC 4733, SIP INFO or in-band detection).
    pub fn handle_digit(&mut self, now: Instant, digit: char) -> Option<Collected> {
        if self.done {
            return None;
        }
        if self.config.terminator == Some(digit) {
            return Some(self.finish(EndedBy::Terminator));
        }
        self.digits.push(digit);
        if self.config.max_digits != 0 && self.digits.len() >= self.config.max_digits {
            return Some(self.finish(EndedBy::MaxDigits));
        }
        self.deadline = Some(now + self.config.inter_digit_timeout);
        None
    }

    /// The driver's timer fired. Early calls (before the deadline) are ignored.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Collected> {
        let deadline = self.deadline?;
        if self.done || now < deadline {
            return None;
        }
        let ended_by = if self.digits.is_empty() {
            EndedBy::NoInput
        } else {
            EndedBy::InterDigitTimeout
        };
        Some(self.finish(ended_by))
    }

    /// When to call [`Self::handle_timeout`], if a timer is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done { None } else { self.deadline }
    }

    /// Digits typed so far.
    #[must_use]
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// True once a `Collected` has been returned.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Clears everything for another round (a retry after invalid input).
    pub fn reset(&mut self) {
        self.digits.clear();
        self.deadline = None;
        self.done = false;
    }

    #[must_use]
    pub fn config(&self) -> &CollectorConfig {
        &self.config
    }

    fn finish(&mut self, ended_by: EndedBy) -> Collected {
        self.done = true;
        self.deadline = None;
        Collected {
            digits: std::mem::take(&mut self.digits),
            ended_by,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max: usize) -> CollectorConfig {
        CollectorConfig {
            max_digits: max,
            terminator: Some('#'),
            first_digit_timeout: Duration::from_secs(5),
            inter_digit_timeout: Duration::from_secs(3),
        }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn no_input_after_first_digit_timeout() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(cfg(4));
        assert_eq!(c.poll_timeout(), None);
        c.start(t0);
        assert_eq!(c.poll_timeout(), Some(t0 + s(5)));
        assert_eq!(c.handle_timeout(t0 + s(4)), None); // early wake-up: ignored
        let r = c.handle_timeout(t0 + s(5)).unwrap();
        assert_eq!(
            r,
            Collected {
                digits: String::new(),
                ended_by: EndedBy::NoInput
            }
        );
        assert_eq!(c.poll_timeout(), None);
        assert!(c.is_done());
        assert_eq!(c.handle_digit(t0 + s(6), '1'), None);
    }

    #[test]
    fn inter_digit_timeout_rearms_per_digit() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(cfg(10));
        c.start(t0);
        assert_eq!(c.handle_digit(t0 + s(2), '1'), None);
        assert_eq!(c.poll_timeout(), Some(t0 + s(5)));
        assert_eq!(c.handle_digit(t0 + s(4), '2'), None);
        assert_eq!(c.poll_timeout(), Some(t0 + s(7)));
        assert_eq!(c.handle_timeout(t0 + s(5)), None);
        assert_eq!(c.digits(), "12");
        let r = c.handle_timeout(t0 + s(7)).unwrap();
        assert_eq!(r.digits, "12");
        assert_eq!(r.ended_by, EndedBy::InterDigitTimeout);
    }

    #[test]
    fn terminator_ends_and_is_not_included() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(cfg(10));
        c.start(t0);
        for d in "4711".chars() {
            assert_eq!(c.handle_digit(t0, d), None);
        }
        let r = c.handle_digit(t0, '#').unwrap();
        assert_eq!(
            r,
            Collected {
                digits: "4711".into(),
                ended_by: EndedBy::Terminator
            }
        );
        // A bare terminator is an empty entry.
        c.reset();
        c.start(t0);
        assert_eq!(c.handle_digit(t0, '#').unwrap().digits, "");
    }

    #[test]
    fn max_digits_ends_immediately() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(cfg(3));
        c.start(t0);
        assert_eq!(c.handle_digit(t0, '1'), None);
        assert_eq!(c.handle_digit(t0, '2'), None);
        let r = c.handle_digit(t0, '3').unwrap();
        assert_eq!(
            r,
            Collected {
                digits: "123".into(),
                ended_by: EndedBy::MaxDigits
            }
        );
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn barge_in_before_start_counts_and_arms_inter_digit_timer() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(cfg(4));
        // The caller types during the prompt.
        assert_eq!(c.handle_digit(t0 + s(1), '9'), None);
        assert_eq!(c.poll_timeout(), Some(t0 + s(4)));
        // The prompt ends (it was stopped by the barge-in): start keeps that timer.
        c.start(t0 + s(2));
        assert_eq!(c.poll_timeout(), Some(t0 + s(4)));
        let r = c.handle_timeout(t0 + s(4)).unwrap();
        assert_eq!(
            r,
            Collected {
                digits: "9".into(),
                ended_by: EndedBy::InterDigitTimeout
            }
        );
    }

    #[test]
    fn single_digit_menu_with_barge_in() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(CollectorConfig::default());
        let r = c.handle_digit(t0, '2').unwrap();
        assert_eq!(r.ended_by, EndedBy::MaxDigits);
        assert_eq!(r.digits, "2");
        c.start(t0); // late start after completion arms nothing
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn unlimited_without_terminator_ends_on_timeout() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(CollectorConfig {
            max_digits: 0,
            terminator: None,
            ..cfg(0)
        });
        c.start(t0);
        for d in "123#456".chars() {
            assert_eq!(c.handle_digit(t0 + s(1), d), None);
        }
        let r = c.handle_timeout(t0 + s(10)).unwrap();
        assert_eq!(r.digits, "123#456");
    }
}
