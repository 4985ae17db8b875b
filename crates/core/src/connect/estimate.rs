//! How long a queued caller will wait, estimated from the department's recent calls
//! and the managers signed in to it (pure functions; documented in docs/queues.md).
//!
//! ```text
//!   handle time H = mean over the department's last SAMPLES answered calls of
//!                   (ring-to-answer + talk), plus the department's wrap-up
//!                   (DEFAULT_HANDLE until a call has been answered and ended)
//!   signed in   n = members reachable for the queue now: registered (or a static
//!                   contact), not paused, not on do-not-disturb, not signed out of it
//!   estimate      = position × H / n         (no estimate when n = 0)
//! ```
//! Everyone ahead is served by one of `n` managers, each freeing up about every `H`:
//! the callers leave at a rate of `n / H`. Callers hear it rounded ("less than a
//! minute", "about N minutes") and capped ("more than N minutes"), see [`spoken`].

use std::collections::VecDeque;
use std::time::Duration;

/// Answered calls the handle time is averaged over.
pub const SAMPLES: usize = 20;
/// The handle time assumed before any call of the department was answered and ended.
pub const DEFAULT_HANDLE: Duration = Duration::from_secs(180);

/// A queued caller's estimated wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEstimate {
    /// Nobody is signed in to the queue: no sensible figure.
    Unknown,
    Secs(u64),
}

impl WaitEstimate {
    pub fn secs(self) -> Option<u64> {
        match self {
            WaitEstimate::Unknown => None,
            WaitEstimate::Secs(s) => Some(s),
        }
    }
}

/// One answered and ended call of a department.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// From the phone starting to ring to the answer.
    pub answer: Duration,
    pub talk: Duration,
}

/// The last [`SAMPLES`] calls of one department.
#[derive(Debug, Clone, Default)]
pub struct DepartmentStats {
    samples: VecDeque<Sample>,
}

impl DepartmentStats {
    pub fn push(&mut self, s: Sample) {
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    /// Mean ring-to-answer plus talk time, or `None` without samples.
    pub fn mean_handle(&self) -> Option<Duration> {
        if self.samples.is_empty() {
            return None;
        }
        let total: Duration = self.samples.iter().map(|s| s.answer + s.talk).sum();
        Some(total / self.samples.len() as u32)
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// The estimate for the caller at `position` (1 = next): see the module docs.
pub fn estimate(
    position: usize,
    stats: Option<&DepartmentStats>,
    wrap_up: Duration,
    signed_in: u32,
) -> WaitEstimate {
    if signed_in == 0 {
        return WaitEstimate::Unknown;
    }
    let handle = stats
        .and_then(DepartmentStats::mean_handle)
        .unwrap_or(DEFAULT_HANDLE)
        + wrap_up;
    let secs = handle.as_secs_f64() * position as f64 / f64::from(signed_in);
    WaitEstimate::Secs(secs.round() as u64)
}

/// What the caller hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpokenWait {
    UnderAMinute,
    /// Rounded to the nearest minute (at least 1).
    About(u64),
    /// Above the department's cap.
    MoreThan(u64),
}

/// Rounds `secs` for the caller: under 60 s "less than a minute", else the nearest
/// whole minute, and above `max_minutes` "more than `max_minutes` minutes".
pub fn spoken(secs: u64, max_minutes: u32) -> SpokenWait {
    if secs < 60 {
        return SpokenWait::UnderAMinute;
    }
    let minutes = (secs + 30) / 60;
    if minutes > u64::from(max_minutes) {
        SpokenWait::MoreThan(u64::from(max_minutes))
    } else {
        SpokenWait::About(minutes.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(answer: u64, talk: u64) -> Sample {
        Sample {
            answer: Duration::from_secs(answer),
            talk: Duration::from_secs(talk),
        }
    }

    #[test]
    fn position_times_handle_time_over_managers() {
        let mut st = DepartmentStats::default();
        st.push(s(10, 110));
        st.push(s(20, 100));
        // H = 120 s + 30 s wrap-up; 3rd in line, 2 managers: 3 × 150 / 2 = 225 s.
        assert_eq!(
            estimate(3, Some(&st), Duration::from_secs(30), 2),
            WaitEstimate::Secs(225)
        );
        // Without samples the default handle time applies.
        assert_eq!(
            estimate(1, None, Duration::ZERO, 1),
            WaitEstimate::Secs(180)
        );
        assert_eq!(
            estimate(1, Some(&st), Duration::ZERO, 0),
            WaitEstimate::Unknown
        );
        // Only the last SAMPLES count.
        for _ in 0..SAMPLES {
            st.push(s(0, 60));
        }
        assert_eq!(st.mean_handle(), Some(Duration::from_secs(60)));
        assert_eq!(st.len(), SAMPLES);
    }

    #[test]
    fn callers_hear_it_rounded_and_capped() {
        assert_eq!(spoken(0, 30), SpokenWait::UnderAMinute);
        assert_eq!(spoken(59, 30), SpokenWait::UnderAMinute);
        assert_eq!(spoken(60, 30), SpokenWait::About(1));
        assert_eq!(spoken(89, 30), SpokenWait::About(1));
        assert_eq!(spoken(90, 30), SpokenWait::About(2));
        assert_eq!(spoken(225, 30), SpokenWait::About(4));
        assert_eq!(spoken(30 * 60 + 29, 30), SpokenWait::About(30));
        assert_eq!(spoken(31 * 60, 30), SpokenWait::MoreThan(30));
    }
}
