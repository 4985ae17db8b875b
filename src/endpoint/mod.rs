//! The sans-IO SIP endpoint: the transaction layer, the dialogs and the calls of one
//! Switchboard process, driven by `handle_*` inputs and drained through `poll_*`.
//!
//! The tokio driver feeds it datagrams, media events and timeouts; it answers with
//! [`Output`]s. Everything a call does on the signalling side — answering, re-INVITE,
//! INFO digits, CANCEL, BYE in either direction — happens here on a virtual clock, so
//! whole call flows are unit-testable in microseconds (see `tests/endpoint_flows.rs`).

mod admission;
mod bridge;
mod calls;
mod leg_dialog;
pub use bridge::ManagerStatus;
pub mod legs;
pub mod ports;
mod register;
mod transfer;
mod voicemail;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use jiff::Timestamp;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::call::{CallInfo, CallKey, MediaCommand, MediaEvent, Program};
use crate::config::ServerConfig;
use crate::registrar::Registrar;
use crate::routing::{ManagerState, ManagerStates};
use crate::sdp::Codec;
use crate::sip::rsip::{self, prelude::*};
use crate::sip::{Peer, Transmit, Transport};
use crate::store::StoreWrite;
use crate::transaction::{ClientKey, ServerKey, TransactionLayer, TuEvent};

use calls::CallSlot;
use ports::PortPool;

/// Methods we implement, advertised in Allow headers and 405/501 responses.
pub use crate::sip::headers::ALLOW;

/// What the endpoint needs from the configuration.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Our SIP address as written in Via and Contact.
    pub sip_addr: SocketAddr,
    /// Address written into SDP `c=` lines.
    pub media_ip: IpAddr,
    pub server: ServerConfig,
    /// Codecs we accept, in our order of preference (the offerer's order wins).
    pub codecs: Vec<Codec>,
    /// Ring (180) this long before answering; 0 answers at once.
    pub ring_before_answer: Duration,
}

impl EndpointConfig {
    pub fn from_server(server: &ServerConfig, bound: SocketAddr) -> Self {
        let ip = server.advertised_address.unwrap_or(bound.ip());
        Self {
            sip_addr: SocketAddr::new(ip, bound.port()),
            media_ip: ip,
            server: server.clone(),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            ring_before_answer: Duration::from_millis(server.ring_before_answer_ms),
        }
    }
}

/// A call's life event, for logs, records and metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Started {
        key: CallKey,
        info: CallInfo,
    },
    Answered {
        key: CallKey,
    },
    MenuChoice {
        key: CallKey,
        menu: String,
        input: String,
        reason: Option<String>,
    },
    /// The entry routing decision.
    Decision {
        key: CallKey,
        reason: String,
    },
    /// The call is handed to people: `target` is `department:NAME` or `manager:NAME`.
    Connecting {
        key: CallKey,
        target: String,
        department: Option<String>,
    },
    /// One manager stopped ringing for this call.
    RingEnded {
        key: CallKey,
        manager: String,
        outcome: crate::store::RingOutcome,
    },
    /// A manager answered and the call is bridged to them.
    Connected {
        key: CallKey,
        manager: String,
    },
    /// A manager passed the call on (blind transfer); `to` is the new target.
    Transferred {
        key: CallKey,
        from: String,
        to: String,
    },
    Ended {
        key: CallKey,
        cause: EndCause,
        duration: Duration,
    },
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndCause {
    CallerHungUp,
    CallerCancelled,
    /// The manager the caller was talking to hung up.
    ManagerHungUp,
    /// Our IVR finished (the reason says what happened).
    Completed(String),
    RtpTimeout,
    NoAck,
    Rejected(u16),
    MediaFailed(String),
}

/// Work for the driver.
#[derive(Debug)]
pub enum Output {
    Transmit(Transmit),
    Media(MediaCommand),
    Event(CallEvent),
    /// Persist this (registrar bindings; fire-and-forget to the store thread). Boxed:
    /// a write is far larger than the other outputs and rare.
    Store(Box<StoreWrite>),
}

/// Builds the per-call program (the dial plan, or the demo IVR).
/// It gets the managers' state as the endpoint knows it (phones registered now), so
/// routing never sends a call to someone whose phone is offline.
pub type ProgramFactory = Box<dyn Fn(&CallInfo, &ManagerStates) -> Box<dyn Program> + Send>;

pub struct Endpoint {
    cfg: EndpointConfig,
    txn: TransactionLayer,
    calls: HashMap<CallKey, CallSlot>,
    /// Every call's next timeout, ordered: `(deadline, call)`.
    deadlines: BTreeSet<(Instant, CallKey)>,
    /// Our local tag → call: every dialog we create has a unique local tag.
    by_tag: HashMap<String, CallKey>,
    by_invite: HashMap<ServerKey, CallKey>,
    by_client: HashMap<ClientKey, CallKey>,
    ports: PortPool,
    rng: SmallRng,
    next_key: u64,
    outputs: VecDeque<Output>,
    programs: ProgramFactory,
    registrar: Option<Registrar>,
    /// Outbound legs' media keys → their call.
    by_media: HashMap<CallKey, CallKey>,
    /// Legs given up on whose INVITE transaction is still open.
    orphans: HashMap<ClientKey, legs::Orphan>,
    /// Managers' load as this process sees it (ringing, talking, wrap-up).
    load: HashMap<String, bridge::Load>,
    /// The strategies' memory (round-robin positions...), across calls and reloads.
    strategy: crate::routing::StrategyState,
    /// Callers waiting in each department's queue.
    queued: HashMap<String, u32>,
    /// Callback requests of ended calls waiting for their recording to be closed.
    pending_recordings: HashMap<CallKey, (u32, voicemail::PendingRecording)>,
    /// Who may send what: rate limits, bans, refusals (see [`crate::guard`]).
    guard: crate::guard::Guards,
}

impl Endpoint {
    /// `seed` makes tags, branches and SSRCs reproducible in tests.
    pub fn new(cfg: EndpointConfig, programs: ProgramFactory, seed: u64) -> Self {
        let txn = TransactionLayer::new(cfg.server.sip_timers, seed ^ 0x5eed);
        let ports = PortPool::new(cfg.server.rtp_ports);
        let guard = crate::guard::Guards::new(
            cfg.server.rate(),
            cfg.server.refused_invites,
            cfg.server.max_transactions,
        );
        Self {
            guard,
            cfg,
            txn,
            calls: HashMap::new(),
            deadlines: BTreeSet::new(),
            by_tag: HashMap::new(),
            by_invite: HashMap::new(),
            by_client: HashMap::new(),
            ports,
            rng: SmallRng::seed_from_u64(seed),
            next_key: 0,
            outputs: VecDeque::new(),
            programs,
            registrar: None,
            by_media: HashMap::new(),
            orphans: HashMap::new(),
            load: HashMap::new(),
            strategy: crate::routing::StrategyState::with_seed(seed ^ 0x57a7),
            queued: HashMap::new(),
            pending_recordings: HashMap::new(),
        }
    }

    /// Serve REGISTER (and later authenticate phones) with this registrar.
    pub fn set_registrar(&mut self, registrar: Registrar) {
        self.registrar = Some(registrar);
    }

    pub fn registrar(&self) -> Option<&Registrar> {
        self.registrar.as_ref()
    }

    /// For reloads (`set_users`) and expiry (`expire`) driven from outside.
    pub fn registrar_mut(&mut self) -> Option<&mut Registrar> {
        self.registrar.as_mut()
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Open transactions (for leak checks).
    pub fn transactions(&self) -> usize {
        self.txn.len()
    }

    /// Counters of the admission guards since the last call (for `/metrics`).
    pub fn take_guard_stats(&mut self) -> crate::guard::GuardStats {
        let mut stats = self.guard.take_stats();
        if let Some(reg) = self.registrar.as_mut() {
            stats.absorb(&mut reg.take_auth_stats());
        }
        stats
    }

    /// Gives back memory that a burst of transactions left in the tables.
    pub fn shrink(&mut self) {
        self.txn.shrink();
    }

    /// Sources banned now for going over the rate limit.
    pub fn banned_sources(&self) -> usize {
        self.guard.rate.banned()
    }

    /// A datagram or framed stream message from `peer`.
    pub fn handle_sip(&mut self, now: Instant, wall: Timestamp, peer: Peer, bytes: &[u8]) {
        if !self.admit_message(now, peer.addr.ip()) {
            return;
        }
        match crate::sip::parse::parse_message(bytes) {
            Ok(rsip::SipMessage::Request(mut req)) => {
                tracing::debug!(from = %peer.addr, "SIP in:\n{}", req);
                crate::sip::headers::stamp_received(&mut req, peer.addr);
                // RFC 3261 §18.2.2 / RFC 3581: over UDP, answer to `received` plus
                // `rport` when the client asked for it, else to the Via's sent-by port.
                // Over TCP the answer goes back on the connection it came in on.
                let peer = match peer.transport {
                    Transport::Udp => Peer {
                        addr: crate::sip::headers::response_destination_of(&req)
                            .unwrap_or(peer.addr),
                        ..peer
                    },
                    Transport::Tcp => peer,
                };
                if let admission::Screen::Pass = self.screen_request(now, wall, &req, peer) {
                    self.txn.handle_request(now, req, peer);
                }
            }
            Ok(rsip::SipMessage::Response(resp)) => {
                tracing::debug!(from = %peer.addr, "SIP in:\n{}", resp);
                self.txn.handle_response(now, resp, peer);
            }
            Err(err) => {
                tracing::warn!(from = %peer.addr, "dropping malformed SIP message: {err}");
                if let Some(response) = err.response() {
                    self.outputs.push_back(Output::Transmit(Transmit {
                        peer,
                        payload: response.clone(),
                    }));
                }
            }
        }
        self.process_txn_events(now, wall);
    }

    pub fn handle_media_event(
        &mut self,
        now: Instant,
        wall: Timestamp,
        media: CallKey,
        ev: MediaEvent,
    ) {
        let call = self.by_media.get(&media).copied().unwrap_or(media);
        if !self.calls.contains_key(&call)
            && let MediaEvent::RecordingFinished {
                record_id,
                duration,
                silent,
                error,
                ..
            } = ev
        {
            self.orphan_recording_finished(call, record_id, duration, silent, error);
            return;
        }
        self.with_call(now, wall, call, |ep, slot, now, wall| {
            if media == call {
                ep.call_media_event(slot, now, wall, ev)
            } else {
                ep.leg_media_event(slot, now, wall, media, ev)
            }
        });
        self.process_txn_events(now, wall);
    }

    pub fn handle_timeout(&mut self, now: Instant, wall: Timestamp) {
        self.txn.handle_timeout(now);
        self.guard.handle_timeout(now);
        self.expire_pending_recordings(now);
        let mut due = Vec::new();
        while let Some(&(at, key)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(slot) = self.calls.get_mut(&key) {
                slot.armed = None;
            }
            due.push(key);
        }
        for key in due {
            self.with_call(now, wall, key, |ep, slot, now, wall| {
                ep.call_timeout(slot, now, wall)
            });
        }
        self.process_txn_events(now, wall);
    }

    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(t) = self.txn.poll_transmit() {
            return Some(Output::Transmit(t));
        }
        self.outputs.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self.deadlines.first().map(|(at, _)| *at);
        [
            self.txn.poll_timeout(),
            calls,
            self.pending_recordings_deadline(),
            self.guard.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn process_txn_events(&mut self, now: Instant, wall: Timestamp) {
        while let Some(ev) = self.txn.poll_event() {
            match ev {
                TuEvent::Request { key, req, peer } => self.on_request(now, wall, key, req, peer),
                TuEvent::Ack { req, peer } => self.on_ack(now, wall, &req, peer),
                TuEvent::Cancelled { invite } => {
                    if let Some(call) = self.by_invite.get(&invite).copied() {
                        self.with_call(now, wall, call, |ep, slot, now, _| {
                            ep.call_cancelled(slot, now)
                        });
                    }
                }
                TuEvent::Response { key, resp } => match self.by_client.get(&key).copied() {
                    Some(call) => {
                        let code = resp.status_code.code();
                        // A 2xx to an INVITE may be retransmitted (our ACK lost): keep
                        // the key until the call is released.
                        if code >= 300 || (code >= 200 && key.method() != rsip::Method::Invite) {
                            self.by_client.remove(&key);
                        }
                        self.with_call(now, wall, call, |ep, slot, now, wall| {
                            ep.call_response(slot, now, wall, &key, resp)
                        });
                    }
                    None => self.orphan_response(now, &key, &resp),
                },
                TuEvent::ClientTimeout { key } => match self.by_client.remove(&key) {
                    Some(call) => self.with_call(now, wall, call, |ep, slot, now, wall| {
                        ep.leg_client_timeout(slot, now, wall, &key)
                    }),
                    None => self.orphan_timeout(&key),
                },
                TuEvent::AckTimeout { key } => {
                    if let Some(call) = self.by_invite.get(&key).copied() {
                        self.with_call(now, wall, call, |ep, slot, now, _| {
                            tracing::warn!("no ACK for our 200 OK: ending the call");
                            ep.hangup(slot, now, super::endpoint::EndCause::NoAck);
                        });
                    }
                }
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        wall: Timestamp,
        key: ServerKey,
        req: rsip::Request,
        peer: Peer,
    ) {
        use rsip::Method;
        if crate::sip::headers::max_forwards(&req) == Some(0) && req.method != Method::Ack {
            return self.respond(now, key, &req, 483, None);
        }
        let to_tag = crate::sip::headers::to_tag(&req);
        if let Some(tag) = to_tag {
            let call = self.by_tag.get(&tag).copied();
            let same_call_id = call.and_then(|c| self.calls.get(&c)).is_some_and(|slot| {
                let id = req.call_id_header().ok().map(|c| c.value());
                Some(slot.dialog.id.call_id.as_str()) == id
                    || slot.legs.iter().any(|l| l.call_id() == id)
            });
            return match call {
                Some(call) if same_call_id && !self.in_dialog_source_ok(now, call, &req, peer) => {
                    self.respond(now, key, &req, 403, None)
                }
                Some(call) if same_call_id => {
                    self.with_call(now, wall, call, |ep, slot, now, wall| {
                        ep.call_in_dialog(slot, now, wall, key, req)
                    })
                }
                // RFC 3261 §12.2.2: a request for a dialog we don't know.
                _ => self.respond(now, key, &req, 481, None),
            };
        }
        match req.method {
            Method::Invite => match self.admit_invite(now, wall, &req, peer) {
                None => self.new_call(now, wall, key, req, peer),
                Some(refusal) => self.txn.send_response(now, key, refusal),
            },
            Method::Options => self.respond_options(now, key, &req),
            Method::Register => self.on_register(now, wall, key, req, peer),
            Method::Bye
            | Method::Info
            | Method::Update
            | Method::PRack
            | Method::Notify
            | Method::Refer => self.respond(now, key, &req, 481, None),
            _ => self.respond(now, key, &req, 405, None),
        }
    }

    fn on_ack(&mut self, now: Instant, wall: Timestamp, req: &rsip::Request, peer: Peer) {
        let Some(tag) = crate::sip::headers::to_tag(req) else {
            return;
        };
        if let Some(call) = self.by_tag.get(&tag).copied()
            && self.in_dialog_source_ok(now, call, req, peer)
        {
            self.with_call(now, wall, call, |ep, slot, now, wall| {
                ep.call_ack(slot, now, wall, req)
            });
        }
    }

    /// Run `f` on a call taken out of the map (so `f` can use `&mut self`), then put
    /// it back unless it ended.
    fn with_call(
        &mut self,
        now: Instant,
        wall: Timestamp,
        key: CallKey,
        f: impl FnOnce(&mut Self, &mut CallSlot, Instant, Timestamp),
    ) {
        let Some(mut slot) = self.calls.remove(&key) else {
            return;
        };
        let span = slot.span.clone();
        let _enter = span.enter();
        slot.wall = wall;
        slot.now = now;
        f(self, &mut slot, now, wall);
        self.drain_ivr(&mut slot, now);
        if slot.is_finished() {
            self.release(slot);
        } else {
            self.rearm(&mut slot);
            self.calls.insert(key, slot);
        }
    }

    /// Keep the deadline index in step with the call's next timeout, so finding the
    /// next timer costs O(log n) instead of a scan of every call.
    fn rearm(&mut self, slot: &mut CallSlot) {
        let next = slot.poll_timeout();
        if next == slot.armed {
            return;
        }
        if let Some(old) = slot.armed.take() {
            self.deadlines.remove(&(old, slot.key));
        }
        if let Some(at) = next {
            self.deadlines.insert((at, slot.key));
            slot.armed = Some(at);
        }
    }

    fn release(&mut self, mut slot: CallSlot) {
        if let Some(old) = slot.armed.take() {
            self.deadlines.remove(&(old, slot.key));
        }
        if !slot.legs.is_empty() {
            let (now, wall) = (slot.now, slot.wall);
            self.end_legs(&mut slot, now, wall);
        }
        self.ports.release(slot.port);
        self.by_tag.remove(&slot.dialog.id.local_tag);
        if let Some(k) = slot.invite_key() {
            self.by_invite.remove(&k);
        }
        self.by_client.retain(|_, c| *c != slot.key);
    }

    fn respond(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: &rsip::Request,
        code: u16,
        to_tag: Option<&str>,
    ) {
        let mut resp = crate::sip::response::make_response(req, code, to_tag);
        if code == 405 {
            resp.headers.push(rsip::Header::Allow(ALLOW.into()));
        }
        self.txn.send_response(now, key, resp);
    }

    fn respond_options(&mut self, now: Instant, key: ServerKey, req: &rsip::Request) {
        // Trunks send OPTIONS as a keepalive/health check: always 200 with our capabilities.
        let mut resp = crate::sip::response::make_response(req, 200, None);
        resp.headers.push(rsip::Header::Allow(ALLOW.into()));
        resp.headers
            .push(rsip::Header::Accept("application/sdp".into()));
        resp.headers
            .push(rsip::Header::Other("Supported".into(), "replaces".into()));
        self.txn.send_response(now, key, resp);
    }

    /// What routing needs to know about managers at `wall`: whose phone is registered,
    /// who is ringing or talking (ringing counts as a call, so nobody is offered two
    /// calls at once beyond `max_calls`), when their last call ended (wrap-up,
    /// longest-idle), calls answered, and the queues.
    pub fn manager_states(&self, wall: Timestamp) -> ManagerStates {
        let mut states = ManagerStates::default();
        if let Some(reg) = self.registrar() {
            for m in reg.registered_managers(wall) {
                states.managers.insert(
                    m,
                    ManagerState {
                        registered: true,
                        ..ManagerState::default()
                    },
                );
            }
        }
        for (name, load) in &self.load {
            let st = states.entry(name);
            st.active_calls = load.ringing + load.talking;
            st.last_call_end = load.last_call_end;
            st.calls_today = load.calls_today;
        }
        states.queued = self.queued.clone();
        states
    }

    fn new_tag(&mut self) -> String {
        format!("sb{:016x}", self.rng.random::<u64>())
    }

    fn new_branch(&mut self) -> String {
        format!("z9hG4bKsb{:016x}", self.rng.random::<u64>())
    }
}

/// Replace the body (and its Content-Type/Length) of a message.
pub(crate) fn set_body(
    headers: &mut rsip::Headers,
    body: &mut Vec<u8>,
    content_type: &str,
    new_body: Vec<u8>,
) {
    headers.retain(|h| {
        !matches!(
            h,
            rsip::Header::ContentLength(_) | rsip::Header::ContentType(_)
        )
    });
    headers.push(rsip::Header::ContentType(content_type.into()));
    headers.push(rsip::Header::ContentLength((new_body.len() as u32).into()));
    *body = new_body;
}

/// Bytes helper for tests and the driver.
pub fn to_bytes(msg: &impl std::fmt::Display) -> Bytes {
    Bytes::from(msg.to_string())
}
