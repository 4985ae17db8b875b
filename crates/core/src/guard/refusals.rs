//! Refused requests, summarised: one WARN line per interval instead of one per
//! message. The first few refusals of an interval are logged on their own (an admin
//! setting up a trunk sees at once why its INVITE was refused); the rest are counted
//! and reported together with the busiest sources.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How often the summary line is written.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(10);
/// Refusals logged individually per interval before the rest are only counted.
const DETAILED_PER_INTERVAL: u32 = 5;
/// Distinct sources remembered per interval (the rest count as "others").
const MAX_SOURCES: usize = 1024;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refused {
    /// An INVITE from neither a trunk nor a registered phone.
    NotTrunk,
    /// Over the per-source rate: the source is banned.
    Banned,
    /// Transaction memory is full: non-trunk requests are shed.
    Shed,
    /// An in-dialog request from an address the dialog does not belong to.
    WrongSource,
    /// A source or user locked out after failed authentications.
    LockedOut,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::NotTrunk => "INVITE not from a trunk or registered phone",
            Refused::Banned => "over the rate limit (banned)",
            Refused::Shed => "shed (transaction memory full)",
            Refused::WrongSource => "in-dialog request from the wrong address",
            Refused::LockedOut => "locked out after failed authentications",
        }
    }
}

/// What [`RefusalLog::note`] asks the caller to log now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Log this one refusal on its own line.
    Detail,
    /// Counted for the summary; log nothing now.
    Counted,
}

#[derive(Debug)]
pub struct RefusalLog {
    window_end: Option<Instant>,
    detailed: u32,
    by_reason: HashMap<Refused, u64>,
    by_source: HashMap<IpAddr, u64>,
    others: u64,
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self::new()
    }
}

impl RefusalLog {
    #[must_use]
    pub fn new() -> Self {
        Self {
            window_end: None,
            detailed: 0,
            by_reason: HashMap::new(),
            by_source: HashMap::new(),
            others: 0,
        }
    }

    /// Counts a refusal.
    pub fn note(&mut self, now: Instant, reason: Refused, source: IpAddr) -> Note {
        if self.window_end.is_none() {
            self.window_end = Some(now + SUMMARY_EVERY);
        }
        *self.by_reason.entry(reason).or_default() += 1;
        if let Some(n) = self.by_source.get_mut(&source) {
            *n += 1;
        } else if self.by_source.len() < MAX_SOURCES {
            self.by_source.insert(source, 1);
        } else {
            self.others += 1;
        }
        if self.detailed < DETAILED_PER_INTERVAL {
            self.detailed += 1;
            Note::Detail
        } else {
            Note::Counted
        }
    }

    /// When the next summary is due (None: nothing to summarise).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.window_end
    }

    /// The summary line for the interval that ended by `now`, if any refusals beyond
    /// the detailed ones happened in it; resets the interval.
    pub fn poll_summary(&mut self, now: Instant) -> Option<String> {
        let end = self.window_end?;
        if now < end {
            return None;
        }
        let total: u64 = self.by_reason.values().sum();
        let summary = (total > u64::from(self.detailed)).then(|| {
            let mut reasons: Vec<_> = self.by_reason.iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let reasons: Vec<String> = reasons
                .iter()
                .map(|(r, n)| format!("{n} {}", r.as_str()))
                .collect();
            let mut sources: Vec<_> = self.by_source.iter().collect();
            sources.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = sources
                .iter()
                .take(5)
                .map(|(ip, n)| format!("{ip} ×{n}"))
                .collect();
            format!(
                "refused {total} SIP requests in the last {}s from {} sources: {}; busiest: {}",
                SUMMARY_EVERY.as_secs(),
                self.by_source.len() as u64 + self.others.min(1),
                reasons.join(", "),
                top.join(", ")
            )
        });
        self.window_end = None;
        self.detailed = 0;
        self.by_reason.clear();
        self.by_source.clear();
        self.others = 0;
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_a_few_lines_and_one_summary() {
        let t0 = Instant::now();
        let mut log = RefusalLog::new();
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let details = (0..10_000)
            .filter(|_| log.note(t0, Refused::NotTrunk, ip) == Note::Detail)
            .count();
        assert_eq!(details, 5);
        assert_eq!(log.poll_summary(t0 + Duration::from_secs(1)), None);
        let line = log.poll_summary(t0 + SUMMARY_EVERY).unwrap();
        assert!(line.contains("refused 10000 SIP requests"), "{line}");
        assert!(line.contains("127.0.0.9 ×10000"), "{line}");
        assert_eq!(log.poll_timeout(), None);
        // A quiet interval with only detailed refusals needs no summary.
        log.note(t0 + SUMMARY_EVERY, Refused::WrongSource, ip);
        assert_eq!(log.poll_summary(t0 + SUMMARY_EVERY * 2), None);
    }
}
