//! Client non-INVITE transaction (RFC 3261 §17.1.2).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Action;
use super::timer::{Deadlines, Timer, TimerConfig};
use crate::sip::{Transport, rsip};

/// States of [`ClientNonInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNonInviteState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// RFC 3261 §17.1.2, Figure 6:
///
/// ```text
///                                |Request from TU
///                                |send request
///            Timer E             V
///            send request  +-----------+
///                +---------|           |-------------------+
///                |         |  Trying   |  Timer F          |
///                +-------->|           |  or Transport Err.|
///                          +-----------+  inform TU        |
///             200-699         |  |                         |
///             resp. to TU     |  |1xx                      |
///             +---------------+  |resp. to TU              |
///             |                  |                         |
///             |   Timer E        V       Timer F           |
///             |   send req +-----------+ or Transport Err. |
///             |  +---------|           | inform TU         |
///             |  |         |Proceeding |------------------>|
///             |  +-------->|           |-----+             |
///             |            +-----------+     |1xx          |
///             |              |      ^        |resp to TU   |
///             | 200-699      |      +--------+             |
///             | resp. to TU  |                             |
///             |              |                             |
///             |              V                             |
///             |            +-----------+                   |
///             |            |           |                   |
///             |            | Completed |                   |
///             |            |           |                   |
///             |            +-----------+                   |
///             |              ^   |                         |
///             |              |   | Timer K                 |
///             +--------------+   | (T4 UDP, 0 TCP)         |
///                                |                         |
///                                V                         |
///          NOTE:           +-----------+                   |
///                          |           |                   |
///      transitions         | Terminated|<------------------+
///      labeled with        |           |
///      the event           +-----------+
///      over the action
///      to take
/// ```
///
/// Timer E runs on UDP only: T1 doubling up to T2 in Trying, T2 in Proceeding.
#[derive(Debug, Clone)]
pub struct ClientNonInvite {
    state: ClientNonInviteState,
    transport: Transport,
    request_bytes: Bytes,
    e_interval: Duration,
    deadlines: Deadlines,
}

impl ClientNonInvite {
    /// Start the transaction: `request_bytes` is sent at once, Timers E (UDP) and F armed.
    pub fn new(
        now: Instant,
        cfg: &TimerConfig,
        transport: Transport,
        request_bytes: Bytes,
        out: &mut Vec<Action>,
    ) -> Self {
        out.push(Action::Transmit(request_bytes.clone()));
        let (deadlines, e_interval) =
            Deadlines::client_start(cfg, transport, now, Timer::E, Timer::F);
        Self {
            state: ClientNonInviteState::Trying,
            transport,
            request_bytes,
            e_interval,
            deadlines,
        }
    }

    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ClientNonInviteState::Terminated
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    pub fn handle_response(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        resp: rsip::Response,
        out: &mut Vec<Action>,
    ) {
        let code = resp.status_code.code();
        match self.state {
            ClientNonInviteState::Trying | ClientNonInviteState::Proceeding if code < 200 => {
                self.state = ClientNonInviteState::Proceeding;
                out.push(Action::PassResponse(resp));
            }
            ClientNonInviteState::Trying | ClientNonInviteState::Proceeding => {
                self.state = ClientNonInviteState::Completed;
                self.deadlines.clear();
                match cfg.initial(Timer::K, self.transport) {
                    Some(k) if !k.is_zero() => self.deadlines.set(Timer::K, now + k),
                    _ => self.state = ClientNonInviteState::Terminated,
                }
                out.push(Action::PassResponse(resp));
            }
            // §17.1.2.2: response retransmissions in Completed are absorbed.
            ClientNonInviteState::Completed | ClientNonInviteState::Terminated => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, cfg: &TimerConfig, out: &mut Vec<Action>) {
        while let Some(timer) = self.deadlines.pop_due(now) {
            match timer {
                Timer::E => {
                    out.push(Action::Transmit(self.request_bytes.clone()));
                    // §17.1.2.2: in Proceeding retransmit every T2.
                    self.e_interval = if self.state == ClientNonInviteState::Proceeding {
                        cfg.next_interval(Timer::E, cfg.t2)
                    } else {
                        cfg.next_interval(Timer::E, self.e_interval)
                    };
                    self.deadlines.set(Timer::E, now + self.e_interval);
                }
                Timer::F => {
                    out.push(Action::ClientTimeout);
                    self.state = ClientNonInviteState::Terminated;
                    self.deadlines.clear();
                }
                Timer::K => {
                    self.state = ClientNonInviteState::Terminated;
                    self.deadlines.clear();
                }
                _ => {}
            }
        }
    }
}
