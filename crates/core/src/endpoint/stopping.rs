//! How the endpoint stops (SIGTERM, `systemctl stop`): a drain, then a hang-up.
//!
//! A router that simply exits leaves its callers in silence until their own side
//! gives up, leaves their records open until the next start, and gives a proxy in
//! front no sign to send new calls elsewhere. So a stop is a life of its own:
//!
//! ```text
//!  Running ──stop(Drain), drain_secs > 0──► Draining{until} ──no call left──► Stopped
//!     │                                       │ until passed, or stop(Now)
//!     │ stop(Now), or drain_secs = 0          ▼
//!     └──────────────────────────────────► HangingUp{until} ──every call gone──► Stopped
//!                                             │ until passed (a BYE unanswered)
//!                                             ▼
//!                                           Stopped
//! ```
//!
//! From the first stop on, a new INVITE and an OPTIONS ping get 503 with Retry-After
//! (RFC 3261 §21.5.4): a proxy fails the call over to another instance (RFC 3263
//! §4.3), and Kamailio's dispatcher, which probes with OPTIONS, marks this one down.
//! Requests inside dialogs, REGISTER and the rest are served as before, so calls in
//! progress go on normally while they drain. Dial-backs waiting for their turn are set
//! aside: their entries are in the database and the next start takes them up again.
//!
//! The hang-up is each call's own (`Machine::handle_stop`): BYE to the caller and to
//! every manager's leg, CANCEL to phones still ringing, 503 to a call not yet
//! answered; a message being recorded is kept and filed; the record ends as
//! `interrupted` (see `call::outcome`). The endpoint then waits at most
//! [`HANG_UP_WAIT`] for the calls to finish (their BYEs answered, their recordings
//! filed) before it reports itself stopped.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::Endpoint;
use crate::call::{ConnectInput, Machine};
use crate::sip::rsip;

/// How long a stop waits at most, after hanging up, for the BYEs to be answered and
/// the messages being recorded to be filed: as long as a call waits for the media
/// plane to close its recording before filing the request without it
/// ([`crate::call::flow::RECORDING_GRACE`]), so no message is ever left unfiled.
/// Only a BYE nobody answers makes a stop take this long.
pub const HANG_UP_WAIT: Duration = crate::call::flow::RECORDING_GRACE;

/// How a stop was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Let calls in progress finish for up to `[server] drain_secs`, then hang up.
    Drain,
    /// Hang up every call now (a second SIGTERM, or a drain of 0).
    Now,
}

/// Where the endpoint is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Life {
    #[default]
    Running,
    /// New calls are refused; calls in progress go on until `until`.
    Draining {
        until: Instant,
    },
    /// Every call was hung up; waiting for them to finish until `until`.
    HangingUp {
        until: Instant,
    },
    Stopped,
}

impl Life {
    pub(super) fn deadline(self) -> Option<Instant> {
        match self {
            Life::Draining { until } | Life::HangingUp { until } => Some(until),
            Life::Running | Life::Stopped => None,
        }
    }
}

impl Endpoint {
    /// Stop: drain (`[server] drain_secs`), then hang up what is left. A second
    /// `Drain` changes nothing; `Now` during a drain hangs up at once.
    pub fn handle_stop(&mut self, now: Instant, wall: Timestamp, mode: StopMode) {
        match (self.life, mode) {
            (Life::HangingUp { .. } | Life::Stopped, _)
            | (Life::Draining { .. }, StopMode::Drain) => {
                return;
            }
            _ => {}
        }
        let drain = Duration::from_secs(self.cfg.server.drain_secs);
        let calls = self.calls_in_progress();
        if mode == StopMode::Now || drain.is_zero() || calls == 0 {
            self.hang_up_all(now, wall);
        } else {
            tracing::info!(
                "stopping: new calls are refused (503) for up to {} s while {calls} calls in progress finish",
                drain.as_secs()
            );
            self.life = Life::Draining { until: now + drain };
        }
        self.process_txn_events(now, wall);
        self.pump(now, wall);
    }

    /// The stop is complete: the driver may exit.
    pub fn is_stopped(&self) -> bool {
        self.life == Life::Stopped
    }

    /// Whether a stop has begun (new calls are refused).
    pub fn is_stopping(&self) -> bool {
        self.life != Life::Running
    }

    /// While stopping, what a new INVITE or an OPTIONS ping gets: 503, Retry-After
    /// the drain's seconds left (at least 1).
    pub(super) fn stopping_refusal(
        &self,
        now: Instant,
        req: &rsip::Request,
    ) -> Option<rsip::Response> {
        if self.life == Life::Running {
            return None;
        }
        let left = self
            .life
            .deadline()
            .map_or(0, |until| until.saturating_duration_since(now).as_secs());
        let mut resp = crate::sip::response::make_response(req, 503, None);
        resp.headers.push(rsip::Header::Other(
            "Retry-After".into(),
            left.max(1).to_string(),
        ));
        Some(resp)
    }

    /// The drain or the wait after the hang-up ran out.
    pub(super) fn stop_timeout(&mut self, now: Instant, wall: Timestamp) {
        match self.life {
            Life::Draining { until } if until <= now => {
                tracing::info!("the drain is over");
                self.hang_up_all(now, wall);
            }
            Life::HangingUp { until } if until <= now => {
                tracing::warn!(
                    "stopped with {} calls not finished hanging up (BYE unanswered)",
                    self.calls.len()
                );
                self.life = Life::Stopped;
            }
            _ => {}
        }
    }

    /// After every input while stopping: set aside dial-backs that are only waiting,
    /// and finish the stop once no call is left. Returns whether it queued work for
    /// the connect policy.
    pub(super) fn settle_stop(&mut self) -> bool {
        if matches!(self.life, Life::Running | Life::Stopped) {
            return false;
        }
        let waiting: Vec<_> = self
            .calls
            .iter()
            .filter(|(_, m)| m.as_dialback().is_some_and(|d| d.is_waiting()))
            .map(|(k, _)| *k)
            .collect();
        for key in &waiting {
            if let Some(machine) = self.calls.remove(key) {
                self.release(machine);
            }
            self.connect_queue
                .push_back(ConnectInput::Left { call: *key });
        }
        if self.calls.is_empty() {
            tracing::info!("stopped: every call has ended");
            self.life = Life::Stopped;
        }
        !waiting.is_empty()
    }

    /// Inbound calls and dial-backs under way (not the ones only waiting their turn).
    fn calls_in_progress(&self) -> usize {
        self.calls
            .values()
            .filter(|m| !matches!(m, Machine::Dialback(d) if d.is_waiting()))
            .count()
    }

    fn hang_up_all(&mut self, now: Instant, wall: Timestamp) {
        let keys: Vec<_> = self.calls.keys().copied().collect();
        let calls = self.calls_in_progress();
        if calls > 0 {
            tracing::info!("stopping: hanging up {calls} calls in progress");
        }
        self.life = Life::HangingUp {
            until: now + HANG_UP_WAIT,
        };
        for key in keys {
            self.with_call(now, wall, key, |c, ctx| c.handle_stop(ctx));
        }
    }
}
