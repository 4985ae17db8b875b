//! Where the prompt list a call asked for stands, and when its end is reported
//! ([`MediaCommand::Play`]).
//!
//! ```text
//!   Idle ──start──► Playing ──last frame, no wait──► Idle        (report at once)
//!                      │
//!                      └──last frame, wait W──► Waiting ──W of quiet, a key,──► Idle
//!                                                         or a new list      (report,
//!                                                                  with when it ended)
//!   stop (barge-in, bridge) from any state ──► Idle, no report
//! ```
//!
//! Why a list may wait before its end is reported: a menu's first-digit timer runs from
//! the end of its prompts. Reported at once, a silent caller's menu cost the call logic
//! two activations per replay (the end, then its own timer a few seconds later); the
//! media plane visits the leg every 20 ms anyway, so it waits out the quiet itself and
//! the call logic hears once, at the key or when its timer is already due (issue 16,
//! `docs/performance.md`).
//!
//! [`MediaCommand::Play`]: crate::media::command::MediaCommand::Play

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::media::command::MediaEvent;

/// How long after a held end's wait the report goes out. The pacer hands sessions a
/// `now` up to half its 5 ms tick ahead of the clock (`io/pacer.rs`, `horizon`); a
/// report this much later reaches the call logic after its first-digit timer (armed
/// from the list's end) has expired, so it acts on the report and the timeout in one
/// activation instead of setting a timer a millisecond or two away.
pub const HELD_END_MARGIN: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Idle,
    Playing {
        play_id: u32,
        first_key_wait: Duration,
    },
    /// Ended at `ended`; reported at `report_at` unless a key or a new list comes first.
    Waiting {
        play_id: u32,
        ended: Instant,
        report_at: Instant,
    },
}

impl Listing {
    /// A list starts playing (a list still waiting is reported first).
    pub fn start(
        &mut self,
        play_id: u32,
        first_key_wait: Duration,
        events: &mut VecDeque<MediaEvent>,
    ) {
        self.report_end(events);
        *self = Listing::Playing {
            play_id,
            first_key_wait,
        };
    }

    /// The list's last frame went out at `now`.
    pub fn handle_end(&mut self, now: Instant, events: &mut VecDeque<MediaEvent>) {
        let Listing::Playing {
            play_id,
            first_key_wait,
        } = *self
        else {
            return;
        };
        if first_key_wait.is_zero() {
            *self = Listing::Idle;
            events.push_back(MediaEvent::PlaybackFinished {
                play_id,
                ended: now,
            });
        } else {
            *self = Listing::Waiting {
                play_id,
                ended: now,
                report_at: now + first_key_wait + HELD_END_MARGIN,
            };
        }
    }

    /// Reports a waiting list whose wait is over at `now`.
    pub fn handle_timeout(&mut self, now: Instant, events: &mut VecDeque<MediaEvent>) {
        if let Listing::Waiting { report_at, .. } = *self
            && now >= report_at
        {
            self.report_end(events);
        }
    }

    /// Reports a waiting list now: a key came, or something else needs the call's
    /// attention first (its report must not come after that).
    pub fn report_end(&mut self, events: &mut VecDeque<MediaEvent>) {
        if let Listing::Waiting { play_id, ended, .. } = *self {
            *self = Listing::Idle;
            events.push_back(MediaEvent::PlaybackFinished { play_id, ended });
        }
    }

    /// Stopped (barge-in, bridged): no end is reported, not even a waiting one's (the
    /// call stopped it because a key reached it another way, SIP INFO).
    pub fn stop(&mut self) {
        *self = Listing::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    fn ended(play_id: u32, at: Instant) -> MediaEvent {
        MediaEvent::PlaybackFinished { play_id, ended: at }
    }

    /// A list `play_id` that started with `wait` and whose last frame went out at `at`.
    fn played(play_id: u32, wait: Duration, at: Instant) -> (Listing, VecDeque<MediaEvent>) {
        let mut ev = VecDeque::new();
        let mut l = Listing::Idle;
        l.start(play_id, wait, &mut ev);
        l.handle_end(at, &mut ev);
        (l, ev)
    }

    #[test]
    fn without_a_wait_the_end_is_reported_at_once() {
        let t0 = Instant::now();
        let (l, mut ev) = played(1, Duration::ZERO, t0);
        assert_eq!(ev.pop_front(), Some(ended(1, t0)));
        assert_eq!(l, Listing::Idle);
    }

    /// A menu's end is reported once its wait (and the margin) is over, carrying
    /// when the prompts really ended.
    #[test]
    fn a_menus_end_is_reported_when_its_wait_is_over() {
        let t0 = Instant::now();
        let (mut l, mut ev) = played(2, WAIT, t0);
        l.handle_timeout(t0 + WAIT, &mut ev);
        assert!(ev.is_empty(), "{ev:?}");
        l.handle_timeout(t0 + WAIT + HELD_END_MARGIN, &mut ev);
        assert_eq!(ev.pop_front(), Some(ended(2, t0)));
        l.handle_timeout(t0 + WAIT * 3, &mut ev);
        assert!(ev.is_empty(), "reported once");
    }

    /// A key, or a new list, reports the waiting end first; a stop drops it.
    #[test]
    fn a_key_or_a_new_list_reports_a_waiting_end_and_a_stop_drops_it() {
        let t0 = Instant::now();
        let (mut l, mut ev) = played(3, WAIT, t0);
        l.report_end(&mut ev); // a key
        assert_eq!(ev.pop_front(), Some(ended(3, t0)));

        l.start(4, WAIT, &mut ev);
        l.handle_end(t0, &mut ev);
        l.start(5, WAIT, &mut ev);
        assert_eq!(
            ev.pop_front(),
            Some(ended(4, t0)),
            "before the new list plays"
        );

        l.handle_end(t0, &mut ev);
        l.stop();
        l.handle_timeout(t0 + WAIT * 2, &mut ev);
        assert!(ev.is_empty(), "{ev:?}");
    }
}
