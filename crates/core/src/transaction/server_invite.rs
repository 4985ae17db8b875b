//! Server INVITE transaction (RFC 3261 §17.2.1 as updated by RFC 6026).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Action;
use super::timer::{Deadlines, Timer, TimerConfig};
use crate::sip::{Transport, rsip};

/// States of [`ServerInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerInviteState {
    /// No final response yet; provisional responses (the 100 Trying at least) sent.
    Proceeding,
    /// A 2xx was sent (RFC 6026): retransmit it until the ACK, absorb INVITE
    /// retransmissions, end on Timer L.
    Accepted,
    /// A 300–699 was sent: retransmit it (Timer G) until the ACK or Timer H.
    Completed,
    /// The ACK for the non-2xx arrived: absorb ACK retransmissions until Timer I.
    Confirmed,
    Terminated,
}

/// RFC 3261 §17.2.1, Figure 7, with RFC 6026's Accepted state:
///
/// ```text
///                               |INVITE
///                               |pass INV to TU
///            INVITE             V send 100 Trying (unless the TU answered at once)
///            send response+------------+
///                +--------|            |--------+ 101-199 from TU
///                |        |            |        | send response
///                +------->|            |<-------+
///                         | Proceeding |
///                         |            |--------+ 2xx from TU
///                         |            |        | send response
///                         +------------+        | (Timer G: 2xx rexmit, UDP)
///            300-699 from TU |                  | (Timer L: 64*T1)
///            send response   |                  V
///   (Timer G, Timer H)       |           +------------+  2xx from TU / INVITE
///                            |           |            |  send response
///            INVITE          V           |  Accepted  |<------+
///            send response+-----------+  |            |-------+
///                +--------|           |  +------------+
///                |        | Completed |    |   |  ACK: pass to TU, stop G
///                +------->|           |    |   +---------------------+
///                         +-----------+    |Timer L fires            |
///                Timer G fires|  |  |      |(AckTimeout if no ACK)   |
///                send response|  |  |      V                         |
///                <------------+  |  |Timer H fires  +------------+   |
///                                |  |(AckTimeout)-->| Terminated |<--+
///                                |ACK               +------------+
///                                V                        ^
///                         +-----------+                   |
///                         | Confirmed |-------------------+
///                         +-----------+  Timer I fires (T4 UDP, 0 TCP)
/// ```
///
/// The 2xx retransmission of the Accepted state is formally the UAS core's job
/// (§13.3.1.4); doing it here, paced by Timer G's schedule (T1 doubling to T2, UDP
/// only), keeps every retransmission in one place. On TCP an ACKed Accepted
/// transaction ends at once; on UDP it lingers until Timer L to absorb late INVITE
/// retransmissions.
#[derive(Debug, Clone)]
pub struct ServerInvite {
    state: ServerInviteState,
    transport: Transport,
    /// The 100 Trying is built but neither sent nor made needless by a TU response.
    trying_unsent: bool,
    last_response: Option<Bytes>,
    /// The To tag the TU used, so the layer's answer to a CANCEL can carry the same
    /// one (§9.2).
    to_tag: Option<String>,
    g_interval: Duration,
    acked: bool,
    deadlines: Deadlines,
}

impl ServerInvite {
    /// A transaction for an INVITE just received. `trying` is the 100 Trying the layer
    /// built for it. It is not sent yet: see [`ServerInvite::poll_trying`].
    pub fn new(transport: Transport, trying: Bytes) -> Self {
        Self {
            state: ServerInviteState::Proceeding,
            transport,
            trying_unsent: true,
            last_response: Some(trying),
            to_tag: None,
            g_interval: Duration::ZERO,
            acked: false,
            deadlines: Deadlines::default(),
        }
    }

    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// Sends the 100 Trying unless the TU has answered already.
    ///
    /// §17.2.1: the server transaction MUST send 100 Trying "unless it knows that the TU
    /// will generate a provisional or final response within 200 ms". The layer asks
    /// this once the input that brought the INVITE has been handled in full: if the TU
    /// answered in that same step (the IVR's 200 OK, a queue's 180), the 100 would
    /// reach the peer microseconds before that answer and only cost both sides a
    /// packet; if the TU is waiting for something (a CRM lookup, a shared-state
    /// claim), the 100 goes out now, as early as before, and stops the peer's Timer A
    /// retransmissions.
    pub fn poll_trying(&mut self, out: &mut Vec<Action>) {
        if std::mem::take(&mut self.trying_unsent)
            && self.state == ServerInviteState::Proceeding
            && let Some(bytes) = &self.last_response
        {
            out.push(Action::Transmit(bytes.clone()));
        }
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ServerInviteState::Terminated
    }

    /// Whether a final response went out (a CANCEL now is too late, §9.2).
    pub fn has_final(&self) -> bool {
        self.state != ServerInviteState::Proceeding
    }

    /// The To tag of the last response the TU sent, if any.
    pub fn to_tag(&self) -> Option<&str> {
        self.to_tag.as_deref()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// A retransmission of the INVITE arrived: resend the last response (§17.2.1 for
    /// Proceeding and Completed; in Accepted this re-sends the 2xx until the ACK, which
    /// helps a peer that lost it and costs nothing).
    pub fn handle_retransmit(&mut self, out: &mut Vec<Action>) {
        match self.state {
            ServerInviteState::Proceeding
            | ServerInviteState::Completed
            | ServerInviteState::Accepted => {
                // This is the 100 Trying if the TU has not answered: sent now, not again.
                self.trying_unsent = false;
                if let Some(bytes) = &self.last_response {
                    out.push(Action::Transmit(bytes.clone()));
                }
            }
            ServerInviteState::Confirmed | ServerInviteState::Terminated => {}
        }
    }

    /// The TU sends a response with status `code` and To tag `to_tag`.
    pub fn handle_tu_response(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        code: u16,
        to_tag: Option<String>,
        bytes: Bytes,
        out: &mut Vec<Action>,
    ) {
        match self.state {
            ServerInviteState::Proceeding => {
                self.trying_unsent = false;
                out.push(Action::Transmit(bytes.clone()));
                self.last_response = Some(bytes);
                if to_tag.is_some() {
                    self.to_tag = to_tag;
                }
                if code < 200 {
                    return;
                }
                self.state = if code < 300 {
                    ServerInviteState::Accepted
                } else {
                    ServerInviteState::Completed
                };
                if let Some(g) = cfg.initial(Timer::G, self.transport) {
                    self.g_interval = g;
                    self.deadlines.set(Timer::G, now + g);
                }
                let (end, d) = if code < 300 {
                    (Timer::L, cfg.initial(Timer::L, self.transport))
                } else {
                    (Timer::H, cfg.initial(Timer::H, self.transport))
                };
                if let Some(d) = d {
                    self.deadlines.set(end, now + d);
                }
            }
            // RFC 6026 §7.1: 2xx from the TU in Accepted are passed to the transport.
            ServerInviteState::Accepted if (200..300).contains(&code) => {
                out.push(Action::Transmit(bytes.clone()));
                self.last_response = Some(bytes);
            }
            _ => {}
        }
    }

    /// An ACK matched this transaction (by branch for a non-2xx ACK, by dialog and
    /// CSeq for a 2xx ACK).
    pub fn handle_ack(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        ack: rsip::Request,
        out: &mut Vec<Action>,
    ) {
        match self.state {
            // §17.2.1: ACK in Completed → Confirmed; it is not passed to the TU.
            ServerInviteState::Completed => {
                self.state = ServerInviteState::Confirmed;
                self.deadlines.clear();
                match cfg.initial(Timer::I, self.transport) {
                    Some(d) if !d.is_zero() => self.deadlines.set(Timer::I, now + d),
                    _ => self.state = ServerInviteState::Terminated,
                }
            }
            // RFC 6026 §7.1: ACKs in Accepted go to the TU; the first stops the 2xx
            // retransmissions (§13.3.1.4).
            ServerInviteState::Accepted => {
                self.acked = true;
                self.deadlines.cancel(Timer::G);
                // The 2xx arrived, so nothing will need it again: an INVITE
                // retransmitted now is a late copy, absorbed (RFC 6026 §8.5). On UDP
                // the transaction lingers 64·T1 (Timer L); without its 2xx (about a
                // kilobyte with the SDP) that costs a few dozen bytes per call.
                self.last_response = None;
                if self.transport.is_reliable() {
                    self.state = ServerInviteState::Terminated;
                    self.deadlines.clear();
                }
                out.push(Action::PassAck(ack));
            }
            // Confirmed absorbs ACK retransmissions; an ACK before any final response
            // is meaningless and dropped.
            ServerInviteState::Confirmed
            | ServerInviteState::Proceeding
            | ServerInviteState::Terminated => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, cfg: &TimerConfig, out: &mut Vec<Action>) {
        while let Some(timer) = self.deadlines.pop_due(now) {
            match timer {
                Timer::G => {
                    if let Some(bytes) = &self.last_response {
                        out.push(Action::Transmit(bytes.clone()));
                    }
                    self.g_interval = cfg.next_interval(Timer::G, self.g_interval);
                    self.deadlines.set(Timer::G, now + self.g_interval);
                }
                Timer::H | Timer::L => {
                    if !self.acked {
                        out.push(Action::AckTimeout);
                    }
                    self.state = ServerInviteState::Terminated;
                    self.deadlines.clear();
                }
                Timer::I => {
                    self.state = ServerInviteState::Terminated;
                    self.deadlines.clear();
                }
                _ => {}
            }
        }
    }
}
