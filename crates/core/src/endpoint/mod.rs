//! The sans-IO SIP endpoint of one Switchboard process: it parses messages, owns the
//! transaction layer, the RTP port pool and the connect policy, and hands every
//! message, media event and deadline to the [`Call`] it belongs to. What a call does is
//! the call's business (`crate::call`); whom it rings and in what order is the connect
//! policy's (`crate::connect`).
//!
//! Driven by `handle_*` inputs and drained through `poll_*` like the layers below, so
//! whole call flows are unit-testable on a virtual clock in microseconds (see
//! `tests/endpoint_flows.rs`).

mod admission;
mod agents;
mod dialbacks;
mod register;
mod stopping;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jiff::Timestamp;
use rand::SeedableRng;
use rand::rngs::SmallRng;

pub use crate::agents::ManagerStatus;
use crate::call::Refused;
use crate::call::context::Orphan;
use crate::call::leg::Destination;
use crate::call::parting::{Parting, PartingAnswer};
use crate::call::{
    Call, CallConfig, CallInfo, CallKey, ConnectInput, Ctx, LookupResult, Machine, MediaEvent,
    Program, Spawn,
};
pub use crate::call::{CallEvent, EndCause, Output};
use crate::config::{DialPlan, ServerConfig};
use crate::connect::Connector;
use crate::dialog::Index;
use crate::media::ports::PortPool;
use crate::registrar::Registrar;
use crate::sdp::Codec;
use crate::sip::response::Refusal;
use crate::sip::rsip;
use crate::sip::{Peer, Transmit, Transport};
use crate::transaction::{ClientKey, ServerKey, TransactionLayer, TuEvent};
pub use agents::{AgentCommand, AgentError};
pub use dialbacks::{CancelError, QueueSnapshot, Queues, WaitingCaller};
pub use stopping::{HANG_UP_WAIT, StopMode};

/// Methods we implement, advertised in Allow headers and 405/501 responses.
pub use crate::sip::headers::ALLOW;

mod dispatch;

/// How long a call waits for its caller's history before routing without it.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// What the endpoint needs from the configuration.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Our SIP address as written in Via and Contact.
    pub sip_addr: SocketAddr,
    /// Our SIP-over-TLS address as written in Via and Contact, if TLS is on.
    pub tls_addr: Option<SocketAddr>,
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
            tls_addr: None,
            media_ip: ip,
            server: server.clone(),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            ring_before_answer: Duration::from_millis(server.ring_before_answer_ms),
        }
    }

    fn call_config(&self) -> CallConfig {
        CallConfig {
            sip_addr: self.sip_addr,
            tls_addr: self.tls_addr,
            media_ip: self.media_ip,
            codecs: self.codecs.clone(),
            ring_before_answer: self.ring_before_answer,
            inband_dtmf: self.server.inband_dtmf,
            rtp_timeout_secs: self.server.rtp_timeout_secs,
            session_expires_secs: self.server.session_expires_secs,
            dialled_number: self.server.dialled_number,
            recordings_dir: self.server.data_dir.join("recordings"),
            notify_callbacks: self.server.webhook_url.is_some()
                && crate::config::server::selects(&self.server.webhook_events, "callback.created"),
            lookup_timeout: LOOKUP_TIMEOUT,
            srtp: self.server.srtp,
        }
    }
}

/// Builds the per-call program (the dial plan, or the demo IVR).
pub type ProgramFactory = Box<dyn Fn(&CallInfo) -> Box<dyn Program> + Send>;

pub struct Endpoint {
    cfg: EndpointConfig,
    call_cfg: CallConfig,
    txn: TransactionLayer,
    /// Inbound calls and dial-backs.
    calls: HashMap<CallKey, Machine>,
    /// Machines calls asked to start (dial-backs), started after each call's input.
    spawn: VecDeque<Spawn>,
    /// Every call's next timeout, ordered: `(deadline, call)`, and what each call is
    /// filed under.
    deadlines: BTreeSet<(Instant, CallKey)>,
    armed: HashMap<CallKey, Instant>,
    index: Index<CallKey>,
    /// Outbound legs' media keys → their call.
    media: HashMap<CallKey, CallKey>,
    /// Legs given up on whose INVITE transaction is still open.
    orphans: HashMap<ClientKey, Orphan>,
    /// Managers' dialogs we are leaving (BYE pending or sent).
    parting: Parting,
    ports: PortPool,
    rng: SmallRng,
    /// SRTP keys: seeded from `seed` (tests replay), re-seeded from the OS by the
    /// driver ([`Endpoint::seed_keys`]).
    keys: rand::rngs::StdRng,
    next_key: u64,
    outputs: VecDeque<Output>,
    programs: ProgramFactory,
    registrar: Option<Registrar>,
    connector: Connector,
    connect_queue: VecDeque<ConnectInput>,
    /// Who may send what: rate limits, bans, refusals (see [`crate::guard`]).
    guard: crate::guard::Guards,
    /// The dial plan in force, for what the endpoint decides itself (feature codes,
    /// restored callbacks); calls keep their own.
    plan: Option<std::sync::Arc<DialPlan>>,
    /// Managers' state intervals still open: (manager, kind, detail) → since.
    agent_intervals:
        std::collections::BTreeMap<(String, crate::model::AgentStateKind, String), Timestamp>,
    /// Running, or where a stop is (see [`stopping`]).
    life: stopping::Life,
}

impl Endpoint {
    /// `seed` makes tags, branches, SSRCs and the `random` strategy reproducible.
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
            call_cfg: cfg.call_config(),
            cfg,
            txn,
            calls: HashMap::new(),
            spawn: VecDeque::new(),
            deadlines: BTreeSet::new(),
            armed: HashMap::new(),
            index: Index::default(),
            media: HashMap::new(),
            orphans: HashMap::new(),
            parting: Parting::default(),
            ports,
            rng: SmallRng::seed_from_u64(seed),
            keys: rand::rngs::StdRng::seed_from_u64(seed ^ 0x5ec_12e7),
            next_key: 0,
            outputs: VecDeque::new(),
            programs,
            registrar: None,
            connector: Connector::new(seed ^ 0x57a7),
            connect_queue: VecDeque::new(),
            plan: None,
            agent_intervals: std::collections::BTreeMap::new(),
            life: stopping::Life::Running,
        }
    }

    /// The dial plan in force (at start and after each reload): feature codes and
    /// restored callbacks follow it; calls keep the plan they started with.
    pub fn set_plan(&mut self, plan: std::sync::Arc<DialPlan>) {
        self.plan = Some(plan);
    }

    /// Seeds the SRTP key generator (a ChaCha CSPRNG) with 256 bits from the OS: the
    /// driver calls this once at start. Without it keys are reproducible from the
    /// 64-bit `seed` — right for tests and the simulator, wrong for real calls.
    pub fn seed_keys(&mut self, seed: [u8; 32]) {
        self.keys = rand::rngs::StdRng::from_seed(seed);
    }

    /// RTP ports another program holds (found by the driver's probe at start): no
    /// call is given them, so none fails for want of its port.
    pub fn retire_rtp_ports(&mut self, ports: &[u16]) {
        self.ports.retire_all(ports);
    }

    /// RTP ports free to give to the next call legs (two per bridged call).
    #[must_use]
    pub fn rtp_ports_free(&self) -> usize {
        self.ports.available()
    }

    /// Where voicemail recordings go (a run-time setting: the data directory).
    pub fn set_recordings_dir(&mut self, dir: PathBuf) {
        self.call_cfg.recordings_dir = dir;
    }

    /// A configuration reload: the run-time `[server]` settings (trunks, timers, RTP
    /// timeout, in-band DTMF, ring time, webhook, digest) apply to requests and calls
    /// that arrive from now on. The caller keeps the restart-only settings (listen and
    /// advertised address, RTP ports, data directory) at their running values
    /// (`config::reload::merge_reload`), so they never change under live calls.
    pub fn set_server_config(&mut self, server: ServerConfig) {
        self.txn.set_timers(server.sip_timers);
        self.cfg.ring_before_answer = Duration::from_millis(server.ring_before_answer_ms);
        if let Some(reg) = self.registrar.as_mut() {
            reg.set_auth(server.realm.clone(), server.digest_algorithms.clone());
            reg.set_policy(server.allow_legacy_digest, server.lockout());
        }
        self.guard.reconfigure(
            server.rate(),
            server.refused_invites,
            server.max_transactions,
        );
        self.cfg.server = server;
        let recordings = std::mem::take(&mut self.call_cfg.recordings_dir);
        self.call_cfg = self.cfg.call_config();
        self.call_cfg.recordings_dir = recordings;
    }

    /// Calls in progress (inbound; dial-backs are counted by [`Self::dialbacks`]).
    pub fn active_calls(&self) -> usize {
        self.calls
            .values()
            .filter(|m| matches!(m, Machine::Inbound(_)))
            .count()
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

    /// The connect policy (queues, managers' load), read-only.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Every manager of `plan` with their state at `wall`.
    pub fn manager_status(&self, plan: &DialPlan, wall: Timestamp) -> Vec<ManagerStatus> {
        self.connector.agents().status(plan, wall)
    }

    /// The managers' availability and queues, as routing sees them.
    pub fn manager_states(&self, wall: Timestamp) -> crate::routing::ManagerStates {
        self.connector.states(wall)
    }

    // ---- inputs ---------------------------------------------------------------------

    /// A datagram or framed stream message from `peer`.
    pub fn handle_sip(&mut self, now: Instant, wall: Timestamp, peer: Peer, bytes: &[u8]) {
        if !self.admit_message(now, peer.addr.ip()) {
            return;
        }
        if peer.transport == Transport::Udp
            && let Some(stun) = crate::sip::stun::classify(bytes)
        {
            self.handle_stun(wall, peer, stun);
            return;
        }
        match crate::sip::parse::parse_message(bytes) {
            Ok(rsip::SipMessage::Request(mut req)) => {
                tracing::debug!(from = %peer.addr, "SIP in:\n{}", crate::sdp::crypto::redact_keys(&req.to_string()));
                crate::sip::headers::stamp_received(&mut req, peer.addr);
                if !self.trusts_asserted_identity(peer.addr.ip()) {
                    crate::sip::headers::remove_asserted_identity(&mut req);
                }
                // Only a trunk says where a call was first sent (`dialled_number`).
                if req.method == rsip::Method::Invite && !self.cfg.server.is_trunk(peer.addr.ip()) {
                    crate::sip::redirect::remove_redirection(&mut req);
                }
                // RFC 3261 §18.2.2 / RFC 3581: over UDP, answer to `received` plus
                // `rport` when the client asked for it, else to the Via's sent-by port.
                // Over TCP the answer goes back on the connection it came in on.
                let peer = match peer.transport {
                    Transport::Udp => Peer {
                        addr: crate::sip::headers::response_destination_of(&req)
                            .unwrap_or(peer.addr),
                        ..peer
                    },
                    Transport::Tcp | Transport::Tls => peer,
                };
                if let admission::Screen::Pass = self.screen_request(now, wall, &req, peer) {
                    self.txn.handle_request(now, req, peer);
                }
            }
            Ok(rsip::SipMessage::Response(resp)) => {
                tracing::debug!(from = %peer.addr, "SIP in:\n{}", crate::sdp::crypto::redact_keys(&resp.to_string()));
                self.txn.handle_response(now, resp, peer);
            }
            // RFC 5626 §3.5.1: a double-CRLF ping. Over TCP the driver answers it
            // (io/tcp.rs, §4.4.1); over UDP no answer is defined (UDP keepalives are
            // STUN, §4.4.2), so it only keeps the phone's NAT binding open. Every phone
            // sends one every 30 s or so: not worth more than a debug line.
            Err(err) if err.is_keepalive() => {
                tracing::debug!(from = %peer.addr, transport = ?peer.transport, "CRLF keepalive");
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
        self.pump(now, wall);
    }

    /// The driver could not reach `peer` (RFC 3261 §17.1.4: a connection refused, a
    /// TLS handshake that failed verification): the requests waiting on it fail now,
    /// so a call rings the next phone at once instead of after Timer B.
    pub fn handle_transport_error(&mut self, now: Instant, wall: Timestamp, peer: Peer) {
        let failed = self.txn.handle_transport_error(peer);
        if failed > 0 {
            tracing::debug!(to = %peer.addr, failed, "requests failed: transport error");
        }
        self.process_txn_events(now, wall);
        self.pump(now, wall);
    }

    /// A media event of a call's stream (`media` is the call's key, or one of its
    /// legs').
    pub fn handle_media_event(
        &mut self,
        now: Instant,
        wall: Timestamp,
        media: CallKey,
        ev: MediaEvent,
    ) {
        let (call, leg) = match self.media.get(&media) {
            Some(call) => (*call, Some(media)),
            None => (media, None),
        };
        self.with_call(now, wall, call, |c, ctx| c.handle_media_event(ctx, leg, ev));
        self.process_txn_events(now, wall);
        self.pump(now, wall);
    }

    /// The answer to a call's [`Lookup`](crate::call::Lookup).
    pub fn handle_lookup(&mut self, now: Instant, wall: Timestamp, call: CallKey, r: LookupResult) {
        self.with_call(now, wall, call, |c, ctx| c.handle_lookup(ctx, r));
        self.process_txn_events(now, wall);
        self.pump(now, wall);
    }

    pub fn handle_timeout(&mut self, now: Instant, wall: Timestamp) {
        self.txn.handle_timeout(now);
        self.guard.handle_timeout(now);
        let mut due = Vec::new();
        while let Some(&(at, key)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            self.armed.remove(&key);
            due.push(key);
        }
        for key in due {
            self.with_call(now, wall, key, |c, ctx| c.handle_timeout(ctx));
        }
        self.parting_timeout(now, wall);
        self.stop_timeout(now, wall);
        self.connector.handle_timeout(now, wall);
        self.process_txn_events(now, wall);
        self.pump(now, wall);
    }

    /// Share managers with other instances through claims ([`Output::Claim`]); see
    /// `connect::shared`. Off by default: a single instance decides alone.
    pub fn set_shared(&mut self, on: bool) {
        self.connector.set_shared(on);
    }

    /// The answer to an [`Output::Claim`] ring claim.
    pub fn handle_claimed(
        &mut self,
        now: Instant,
        wall: Timestamp,
        id: u64,
        call: CallKey,
        granted: Vec<String>,
        refused: Vec<String>,
    ) {
        self.connect_queue.push_back(ConnectInput::Claimed {
            id,
            call,
            granted,
            refused,
        });
        self.pump(now, wall);
    }

    /// What the other instances hold now (every second in shared mode).
    pub fn handle_snapshot(
        &mut self,
        now: Instant,
        wall: Timestamp,
        snapshot: &crate::connect::SharedSnapshot,
    ) {
        self.connector.handle_snapshot(now, wall, snapshot);
        self.pump(now, wall);
    }

    /// Pause a manager (no department rings them until unpaused).
    pub fn pause_manager(&mut self, now: Instant, wall: Timestamp, manager: &str, reason: &str) {
        self.connector.handle_pause(now, wall, manager, reason);
        self.pump(now, wall);
    }

    pub fn unpause_manager(
        &mut self,
        now: Instant,
        wall: Timestamp,
        manager: &str,
    ) -> Option<crate::agents::Pause> {
        let pause = self.connector.handle_unpause(now, wall, manager);
        self.pump(now, wall);
        pause
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
            self.connector.poll_timeout(),
            self.parting.poll_timeout(),
            self.guard.poll_timeout(),
            self.life.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// The context lent to a call: disjoint borrows of the endpoint's parts, bound to
/// `$ctx` in the caller's scope.
macro_rules! ctx_parts {
    ($ep:ident, $now:expr, $wall:expr, $ctx:ident) => {
        let wall: Timestamp = $wall;
        let registrar = &$ep.registrar;
        let connector = &$ep.connector;
        let contacts = move |m: &str| -> Vec<Destination> {
            registrar
                .as_ref()
                .map(|r| {
                    r.active_bindings(m, wall)
                        .into_iter()
                        .map(register::destination)
                        .collect()
                })
                .unwrap_or_default()
        };
        let states = move || connector.states(wall);
        let mut $ctx = Ctx {
            cfg: &$ep.call_cfg,
            now: $now,
            wall,
            txn: &mut $ep.txn,
            ports: &mut $ep.ports,
            rng: &mut $ep.rng,
            keys: &mut $ep.keys,
            next_key: &mut $ep.next_key,
            index: &mut $ep.index,
            media: &mut $ep.media,
            orphans: &mut $ep.orphans,
            parting: &mut $ep.parting,
            out: &mut $ep.outputs,
            connect: &mut $ep.connect_queue,
            spawn: &mut $ep.spawn,
            contacts: &contacts,
            states: &states,
        };
    };
}
use ctx_parts;

/// Bytes helper for tests and the driver.
pub fn to_bytes(msg: &impl std::fmt::Display) -> Bytes {
    Bytes::from(msg.to_string())
}
