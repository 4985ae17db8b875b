//! Server non-INVITE transaction (RFC 3261 §17.2.2).

use std::time::Instant;

use bytes::Bytes;

use super::Action;
use super::timer::{Deadlines, Timer, TimerConfig};
use crate::sip::Transport;

/// States of [`ServerNonInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerNonInviteState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// RFC 3261 §17.2.2, Figure 8:
///
/// ```text
///                   |Request received
///                   |pass to TU
///                   V
///             +-----------+
///             |           |
///             | Trying    |-------------+
///             |           |             |
///             +-----------+             |200-699 from TU
///                   |                   |send response
///                   |1xx from TU        |
///                   |send response      |
///                   |                   |
///Request            V      1xx from TU  |
///send response+-----------+send response|
///    +--------|           |--------+    |
///    |        | Proceeding|        |    |
///    +------->|           |<-------+    |
///             +-----------+             |
///                   |200-699 from TU    |
///                   |send response      |
///                   V                   |
///             +-----------+             |
///Request      |           |<------------+
///send response| Completed |
///    +--------|           |
///    |        |           |
///    +------->|           |
///             +-----------+
///                   |Timer J fires
///                   |  (64*T1 UDP, 0 TCP)
///                   V
///             +-----------+
///             |           |
///             | Terminated|
///             |           |
///             +-----------+
/// ```
#[derive(Debug, Clone)]
pub struct ServerNonInvite {
    state: ServerNonInviteState,
    transport: Transport,
    last_response: Option<Bytes>,
    deadlines: Deadlines,
}

impl ServerNonInvite {
    /// A transaction for a request just received; the layer passes it to the TU.
    pub fn new(transport: Transport) -> Self {
        Self {
            state: ServerNonInviteState::Trying,
            transport,
            last_response: None,
            deadlines: Deadlines::default(),
        }
    }

    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ServerNonInviteState::Terminated
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// A retransmission of the request arrived.
    pub fn handle_retransmit(&mut self, out: &mut Vec<Action>) {
        match self.state {
            // §17.2.2: "any retransmissions of the request received while in this
            // state MUST be discarded" (Trying: the TU has not answered yet).
            ServerNonInviteState::Trying | ServerNonInviteState::Terminated => {}
            // Proceeding/Completed: resend the last response.
            ServerNonInviteState::Proceeding | ServerNonInviteState::Completed => {
                if let Some(bytes) = &self.last_response {
                    out.push(Action::Transmit(bytes.clone()));
                }
            }
        }
    }

    /// The TU sends a response with status `code`, serialized as `bytes`.
    pub fn handle_tu_response(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        code: u16,
        bytes: Bytes,
        out: &mut Vec<Action>,
    ) {
        match self.state {
            ServerNonInviteState::Trying | ServerNonInviteState::Proceeding => {
                out.push(Action::Transmit(bytes.clone()));
                self.last_response = Some(bytes);
                if code < 200 {
                    self.state = ServerNonInviteState::Proceeding;
                } else {
                    self.state = ServerNonInviteState::Completed;
                    self.arm_or_end(now, cfg, Timer::J);
                }
            }
            // §17.2.2: final responses after the first are discarded.
            ServerNonInviteState::Completed | ServerNonInviteState::Terminated => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, _cfg: &TimerConfig, _out: &mut Vec<Action>) {
        while let Some(timer) = self.deadlines.pop_due(now) {
            if timer == Timer::J {
                self.state = ServerNonInviteState::Terminated;
                self.deadlines.clear();
            }
        }
    }

    fn arm_or_end(&mut self, now: Instant, cfg: &TimerConfig, timer: Timer) {
        match cfg.initial(timer, self.transport) {
            Some(d) if !d.is_zero() => self.deadlines.set(timer, now + d),
            _ => {
                self.state = ServerNonInviteState::Terminated;
                self.deadlines.clear();
            }
        }
    }
}
