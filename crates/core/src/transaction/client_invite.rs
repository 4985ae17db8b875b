//! Client INVITE transaction (RFC 3261 §17.1.1 as updated by RFC 6026), and the
//! ACK/CANCEL builders that belong with it (§17.1.1.3, §9.1).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Action;
use super::timer::{Deadlines, Timer, TimerConfig};
use crate::sip::Transport;
use crate::sip::response::to_bytes;
use crate::sip::rsip::MaxForwards;
use crate::sip::rsip::{self, Header, Headers, Method, prelude::*};

/// States of [`ClientInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientInviteState {
    Calling,
    Proceeding,
    /// A 2xx arrived (RFC 6026): further 2xx are passed up so the TU re-ACKs them.
    Accepted,
    /// A 300–699 arrived and was ACKed; absorbing its retransmissions until Timer D.
    Completed,
    Terminated,
}

/// RFC 3261 §17.1.1, Figure 5, with RFC 6026's Accepted state:
///
/// ```text
///                                |INVITE from TU
///              Timer A fires     |INVITE sent
///              Reset A,          V                      Timer B fires
///              INVITE sent +-----------+                or Transport Err.
///                +---------|           |---------------+inform TU
///                |         |  Calling  |               |
///                +-------->|           |-------------->|
///                          +-----------+ 2xx           |
///                             |  |       2xx to TU     |
///                             |  |1xx   (Timer M)     |
///     300-699 +---------------+  |1xx to TU            |
///    ACK sent |                  |                     |
/// resp. to TU |  1xx             V                     |
///             |  1xx to TU  -----------+               |
///             |  +---------|           |               |
///             |  |         |Proceeding |-------------->|  (Timer B only after
///             |  +-------->|           | 2xx           |   a CANCEL, §9.1)
///             |            +-----------+ 2xx to TU     |
///             |       300-699    |       (Timer M)     |
///             |       ACK sent,  |                     |
///             |       resp. to TU|     +-----------+   |
///             |                  |     |           |<--+ 2xx: to TU
///             |                  |     | Accepted  |     (TU re-ACKs)
///             |                  |     |           |
///             |                  |     +-----------+
///             |  300-699         V           | Timer M fires
///             |  ACK sent  +-----------+     |
///             |  +---------|           |     |
///             |  |         | Completed |     |
///             |  +-------->|           |     |
///             |            +-----------+     |
///             |                  |Timer D    |
///             +----------------->|(32 s UDP, |
///                                | 0 TCP)    V
///                          +-----------+<----+
///                          | Terminated|
///                          +-----------+
/// ```
#[derive(Debug, Clone)]
pub struct ClientInvite {
    state: ClientInviteState,
    transport: Transport,
    /// The INVITE, until a final response: Timer A resends its bytes, and the ACK for
    /// a non-2xx final is built from it (§17.1.1.3). Dropped at the final response: on
    /// UDP an Accepted transaction lingers 64·T1 (Timer M, RFC 6026) and needs neither.
    invite: Option<(rsip::Request, Bytes)>,
    ack_bytes: Option<Bytes>,
    a_interval: Duration,
    deadlines: Deadlines,
}

impl ClientInvite {
    /// Start the transaction: send the INVITE, arm Timer A (UDP) and Timer B.
    pub fn new(
        now: Instant,
        cfg: &TimerConfig,
        transport: Transport,
        request: rsip::Request,
        out: &mut Vec<Action>,
    ) -> Self {
        let request_bytes = to_bytes(request.clone());
        out.push(Action::Transmit(request_bytes.clone()));
        let (deadlines, a_interval) =
            Deadlines::client_start(cfg, transport, now, Timer::A, Timer::B);
        Self {
            state: ClientInviteState::Calling,
            transport,
            invite: Some((request, request_bytes)),
            ack_bytes: None,
            a_interval,
            deadlines,
        }
    }

    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ClientInviteState::Terminated
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// A CANCEL for this INVITE was sent: per §9.1, if no final response arrives
    /// within 64·T1 the INVITE is considered cancelled and the transaction destroyed.
    /// (Re)arming Timer B for that also guarantees the transaction cannot leak when
    /// a peer answers 1xx and then nothing.
    pub fn handle_cancel_sent(&mut self, now: Instant, cfg: &TimerConfig) {
        if matches!(
            self.state,
            ClientInviteState::Calling | ClientInviteState::Proceeding
        ) && let Some(b) = cfg.initial(Timer::B, self.transport)
        {
            self.deadlines.set(Timer::B, now + b);
        }
    }

    pub fn handle_response(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        resp: rsip::Response,
        out: &mut Vec<Action>,
    ) {
        let code = resp.status_code.code();
        match (self.state, code) {
            (ClientInviteState::Calling | ClientInviteState::Proceeding, 100..=199) => {
                // §17.1.1.2: a provisional stops retransmissions; Timer B is not used
                // in Proceeding (the TU cancels if it tires of waiting).
                if self.state == ClientInviteState::Calling {
                    self.deadlines.clear();
                }
                self.state = ClientInviteState::Proceeding;
                out.push(Action::PassResponse(resp));
            }
            (ClientInviteState::Calling | ClientInviteState::Proceeding, 200..=299) => {
                self.state = ClientInviteState::Accepted;
                self.invite = None;
                self.deadlines.clear();
                if let Some(m) = cfg.initial(Timer::M, self.transport) {
                    self.deadlines.set(Timer::M, now + m);
                }
                out.push(Action::PassResponse(resp));
            }
            (ClientInviteState::Calling | ClientInviteState::Proceeding, 300..) => {
                // §17.1.1.3: the transaction itself ACKs a non-2xx final.
                if let Some((invite, _)) = self.invite.take() {
                    let ack = to_bytes(make_ack_for_non_2xx(&invite, &resp));
                    out.push(Action::Transmit(ack.clone()));
                    self.ack_bytes = Some(ack);
                }
                self.state = ClientInviteState::Completed;
                self.deadlines.clear();
                match cfg.initial(Timer::D, self.transport) {
                    Some(d) if !d.is_zero() => self.deadlines.set(Timer::D, now + d),
                    _ => self.state = ClientInviteState::Terminated,
                }
                out.push(Action::PassResponse(resp));
            }
            // RFC 6026 §7.2: 2xx retransmissions (or 2xx from other forks) go to the
            // TU, which owns the ACK for a 2xx (§13.2.2.4).
            (ClientInviteState::Accepted, 200..=299) => out.push(Action::PassResponse(resp)),
            // §17.1.1.2: retransmitted finals in Completed are re-ACKed, not passed up.
            (ClientInviteState::Completed, 300..) => {
                if let Some(ack) = &self.ack_bytes {
                    out.push(Action::Transmit(ack.clone()));
                }
            }
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, cfg: &TimerConfig, out: &mut Vec<Action>) {
        while let Some(timer) = self.deadlines.pop_due(now) {
            match timer {
                Timer::A if self.state == ClientInviteState::Calling => {
                    if let Some((_, bytes)) = &self.invite {
                        out.push(Action::Transmit(bytes.clone()));
                    }
                    self.a_interval = cfg.next_interval(Timer::A, self.a_interval);
                    self.deadlines.set(Timer::A, now + self.a_interval);
                }
                Timer::B => {
                    out.push(Action::ClientTimeout);
                    self.state = ClientInviteState::Terminated;
                    self.deadlines.clear();
                }
                Timer::D | Timer::M => {
                    self.state = ClientInviteState::Terminated;
                    self.deadlines.clear();
                }
                _ => {}
            }
        }
    }
}

/// The CSeq number of a request, tolerating a CSeq the typed parser rejects.
fn cseq_number(req: &rsip::Request) -> String {
    match req.cseq_header() {
        Ok(c) => match c.typed() {
            Ok(t) => t.seq.to_string(),
            Err(_) => c
                .value()
                .split_whitespace()
                .next()
                .unwrap_or("1")
                .to_string(),
        },
        Err(_) => "1".to_string(),
    }
}

/// The headers ACK and CANCEL copy from the INVITE: only the top Via, the Route set,
/// a fresh Max-Forwards (§17.1.1.3, §9.1).
fn copy_routing_headers(invite: &rsip::Request, headers: &mut Headers) {
    if let Ok(top) = invite.top_via_header() {
        headers.push(Header::Via(top));
    }
    for header in invite.headers.iter() {
        if let Header::Route(_) = header {
            headers.push(header.clone());
        }
    }
    headers.push(Header::MaxForwards(MaxForwards::new("70")));
}

fn copy_header(invite: &rsip::Request, headers: &mut Headers, pick: fn(&Header) -> bool) {
    if let Some(h) = invite.headers.iter().find(|h| pick(h)) {
        headers.push(h.clone());
    }
}

/// The ACK for a non-2xx final response to `invite` (§17.1.1.3): same Request-URI,
/// Call-ID, From and CSeq number as the INVITE, the top Via and Route set of the
/// INVITE, and the To of the response (with its tag).
pub fn make_ack_for_non_2xx(invite: &rsip::Request, resp: &rsip::Response) -> rsip::Request {
    let mut headers = Headers::default();
    copy_routing_headers(invite, &mut headers);
    copy_header(invite, &mut headers, |h| matches!(h, Header::From(_)));
    match resp.to_header() {
        Ok(to) => headers.push(Header::To(to.clone())),
        Err(_) => copy_header(invite, &mut headers, |h| matches!(h, Header::To(_))),
    }
    copy_header(invite, &mut headers, |h| matches!(h, Header::CallId(_)));
    headers.push(Header::CSeq(rsip::CSeq::new(format!(
        "{} ACK",
        cseq_number(invite)
    ))));
    headers.push(Header::ContentLength(rsip::ContentLength::new("0")));
    rsip::Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// The CANCEL for `invite` (§9.1): same Request-URI, Call-ID, From, To, CSeq number,
/// top Via (so it carries the INVITE's branch and matches its server transaction)
/// and Route set. Send it with `TransactionLayer::send_request`.
pub fn make_cancel(invite: &rsip::Request) -> rsip::Request {
    let mut headers = Headers::default();
    copy_routing_headers(invite, &mut headers);
    copy_header(invite, &mut headers, |h| matches!(h, Header::From(_)));
    copy_header(invite, &mut headers, |h| matches!(h, Header::To(_)));
    copy_header(invite, &mut headers, |h| matches!(h, Header::CallId(_)));
    headers.push(Header::CSeq(rsip::CSeq::new(format!(
        "{} CANCEL",
        cseq_number(invite)
    ))));
    headers.push(Header::ContentLength(rsip::ContentLength::new("0")));
    rsip::Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}
