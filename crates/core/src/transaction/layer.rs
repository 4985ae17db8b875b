//! The transaction layer: owns every transaction, matches incoming messages to them
//! (RFC 3261 §17.1.3, §17.2.3), answers CANCEL (§9.2), and keeps one deadline heap
//! for all their timers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tracing::{debug, warn};

use super::Action;
use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::key::{self, AckKey, ClientKey, MAGIC_COOKIE, ServerKey};
use super::server_invite::{ServerInvite, ServerInviteState};
use super::server_non_invite::ServerNonInvite;
use super::timer::TimerConfig;
use crate::sip::response::{make_response, response_to_tag, to_bytes};
use crate::sip::rsip::{self, Header, Method, prelude::*};
use crate::sip::{Peer, Transmit};
use crate::transaction::SipTimers;

/// What the transaction layer tells the TU (the dialog layer above).
#[derive(Debug, Clone, PartialEq)]
pub enum TuEvent {
    /// A new request (never a retransmission). The TU must answer it through
    /// [`TransactionLayer::send_response`] with `key`. An INVITE the TU does not answer while
    /// handling this event gets its 100 Trying right after (§17.2.1).
    Request {
        key: ServerKey,
        req: rsip::Request,
        peer: Peer,
    },
    /// An ACK that is not part of a non-2xx INVITE transaction: the ACK for a 2xx
    /// (the matching INVITE transaction, if still there, stops retransmitting its
    /// 2xx), or a stray ACK that matched nothing. The dialog layer decides.
    Ack { req: rsip::Request, peer: Peer },
    /// A CANCEL matched `invite` before it had a final response. The layer already
    /// answered the CANCEL with 200 (§9.2); the TU should now answer `invite` with 487
    /// (if it answers 200 first, the race is lost and the call simply proceeds).
    Cancelled { invite: ServerKey },
    /// A response to a request sent with [`TransactionLayer::send_request`]:
    /// provisionals, the final, and for INVITE every 2xx retransmission (RFC 6026
    /// Accepted state) so the TU re-sends its ACK.
    Response {
        key: ClientKey,
        resp: rsip::Response,
    },
    /// Timer B or F fired: no final response came (treat as 408, §8.1.3.1).
    ClientTimeout { key: ClientKey },
    /// A final response to an INVITE never got its ACK: Timer H for non-2xx, Timer L
    /// (64·T1, §13.3.1.4) for 2xx. For a 2xx the TU should end the call with BYE.
    AckTimeout { key: ServerKey },
}

/// One of the four machines.
#[derive(Debug)]
enum Machine {
    InviteServer(ServerInvite),
    NonInviteServer(ServerNonInvite),
    /// Boxed: it keeps its INVITE (for the ACK) and is by far the largest.
    InviteClient(Box<ClientInvite>),
    NonInviteClient(ClientNonInvite),
}

impl Machine {
    fn next_deadline(&self) -> Option<Instant> {
        match self {
            Machine::InviteServer(m) => m.next_deadline(),
            Machine::NonInviteServer(m) => m.next_deadline(),
            Machine::InviteClient(m) => m.next_deadline(),
            Machine::NonInviteClient(m) => m.next_deadline(),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            Machine::InviteServer(m) => m.is_terminated(),
            Machine::NonInviteServer(m) => m.is_terminated(),
            Machine::InviteClient(m) => m.is_terminated(),
            Machine::NonInviteClient(m) => m.is_terminated(),
        }
    }

    fn handle_timeout(&mut self, now: Instant, cfg: &TimerConfig, out: &mut Vec<Action>) {
        match self {
            Machine::InviteServer(m) => m.handle_timeout(now, cfg, out),
            Machine::NonInviteServer(m) => m.handle_timeout(now, cfg, out),
            Machine::InviteClient(m) => m.handle_timeout(now, cfg, out),
            Machine::NonInviteClient(m) => m.handle_timeout(now, cfg, out),
        }
    }
}

#[derive(Debug, Clone)]
enum TxnKey {
    Server(ServerKey),
    Client(ClientKey),
}

type TxnId = u64;

#[derive(Debug)]
struct Entry {
    machine: Machine,
    key: TxnKey,
    /// Where this transaction's messages go: the peer a server transaction's request
    /// came from (the driver applies Via/rport routing), or a client's destination.
    peer: Peer,
    /// INVITE server transactions: how the ACK for its 2xx finds it.
    ack_key: Option<AckKey>,
    /// The deadline this entry has in the heap (older heap entries are stale).
    scheduled: Option<Instant>,
}

/// All transactions of one SIP endpoint, sans-IO.
///
/// Matching is O(1) through hash maps (branch, sent-by and method for servers; branch
/// and method for clients; dialog and CSeq for 2xx ACKs). Timers live in one binary
/// heap with lazy deletion, so an input touches only its own transaction and a
/// timeout pops only due entries.
///
/// Every request handed up as [`TuEvent::Request`] must get a final response from the
/// TU: RFC 3261 gives a server transaction no timer before its final response, so an
/// unanswered one would live forever.
#[derive(Debug)]
pub struct TransactionLayer {
    cfg: TimerConfig,
    rng: SmallRng,
    next_id: TxnId,
    /// Boxed: an `Entry` is 320 bytes, and a table keeps the capacity of its busiest
    /// moment. Inline, a burst that doubled the table (≈ 7,000 live transactions at 100
    /// calls/s, most lingering in Timer J/L/M) kept 2.7 MiB more for good; boxed, the
    /// table costs 16 bytes a slot and an entry's memory goes when the entry does.
    txns: HashMap<TxnId, Box<Entry>>,
    servers: HashMap<ServerKey, TxnId>,
    clients: HashMap<ClientKey, TxnId>,
    acks: HashMap<AckKey, TxnId>,
    heap: BinaryHeap<Reverse<(Instant, TxnId)>>,
    transmits: VecDeque<Transmit>,
    /// INVITE transactions created since the outputs were last polled, whose 100 Trying
    /// waits to see whether the TU answers first (§17.2.1).
    unanswered: Vec<TxnId>,
    events: VecDeque<TuEvent>,
    scratch: Vec<Action>,
}

impl TransactionLayer {
    /// A layer with the configured timer base values. `seed` seeds the RNG for
    /// branches and tags: the driver passes OS randomness so branches differ across
    /// restarts (§8.1.1.7 wants them unique in time); tests pass a constant.
    pub fn new(timers: SipTimers, seed: u64) -> Self {
        Self::with_config(TimerConfig::from(timers), seed)
    }

    /// Like [`TransactionLayer::new`] with full control over the timer table (e.g. a
    /// different Timer D).
    pub fn with_config(cfg: TimerConfig, seed: u64) -> Self {
        Self {
            cfg,
            rng: SmallRng::seed_from_u64(seed),
            next_id: 0,
            txns: HashMap::new(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            acks: HashMap::new(),
            heap: BinaryHeap::new(),
            transmits: VecDeque::new(),
            unanswered: Vec::new(),
            events: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    pub fn config(&self) -> &TimerConfig {
        &self.cfg
    }

    /// New timer base values (a configuration reload); the timers each transaction
    /// arms from now on use them.
    pub fn set_timers(&mut self, timers: SipTimers) {
        self.cfg = TimerConfig::from(timers);
    }

    /// A fresh branch (`z9hG4bK…`) from the layer's RNG.
    pub fn new_branch(&mut self) -> String {
        key::new_branch(&mut self.rng)
    }

    /// A fresh To/From tag from the layer's RNG.
    pub fn new_tag(&mut self) -> String {
        key::new_tag(&mut self.rng)
    }

    /// Number of live transactions (for leak checks and metrics).
    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// The state of an INVITE server transaction, if it still exists.
    pub fn server_invite_state(&self, key: &ServerKey) -> Option<ServerInviteState> {
        let id = self.servers.get(key)?;
        match &self.txns.get(id)?.machine {
            Machine::InviteServer(m) => Some(m.state()),
            _ => None,
        }
    }

    /// The next message to send. The first call after an input sends the 100 Trying
    /// of each INVITE that input brought and the TU did not answer while handling it
    /// ([`ServerInvite::poll_trying`]).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if !self.unanswered.is_empty() {
            let mut ids = std::mem::take(&mut self.unanswered);
            for id in ids.drain(..) {
                self.run(id, None, |m, _, out| {
                    if let Machine::InviteServer(m) = m {
                        m.poll_trying(out)
                    }
                });
            }
            self.unanswered = ids;
        }
        self.transmits.pop_front()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<TuEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline of all transactions. May be a little early (a stale heap
    /// entry); calling `handle_timeout` then is harmless.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// A request from the transport.
    pub fn handle_request(&mut self, now: Instant, req: rsip::Request, peer: Peer) {
        let key = match ServerKey::from_request(&req) {
            Ok(key) => key,
            Err(err) => {
                debug!(%err, method = %req.method, "dropping request");
                return;
            }
        };
        match req.method {
            Method::Ack => self.handle_ack(now, key, req, peer),
            Method::Cancel => self.handle_cancel(now, key, req, peer),
            _ => {
                if let Some(&id) = self.servers.get(&key) {
                    // §17.2.1/§17.2.2: a retransmission, absorbed by its transaction.
                    self.run(id, None, |m, _, out| match m {
                        Machine::InviteServer(m) => m.handle_retransmit(out),
                        Machine::NonInviteServer(m) => m.handle_retransmit(out),
                        _ => {}
                    });
                } else {
                    self.new_server(now, key, req, peer);
                }
            }
        }
    }

    fn new_server(&mut self, _now: Instant, key: ServerKey, req: rsip::Request, peer: Peer) {
        let mut out = std::mem::take(&mut self.scratch);
        let (machine, ack_key) = if req.method == Method::Invite {
            let trying = to_bytes(make_response(&req, 100, None));
            let m = ServerInvite::new(peer.transport, trying);
            (Machine::InviteServer(m), AckKey::from_request(&req).ok())
        } else {
            (
                Machine::NonInviteServer(ServerNonInvite::new(peer.transport)),
                None,
            )
        };
        let is_invite = matches!(machine, Machine::InviteServer(_));
        let id = self.insert(TxnKey::Server(key.clone()), machine, peer, ack_key);
        if is_invite {
            self.unanswered.push(id);
        }
        self.flush(id, None, &mut out);
        self.scratch = out;
        self.events.push_back(TuEvent::Request { key, req, peer });
    }

    fn handle_ack(&mut self, now: Instant, key: ServerKey, req: rsip::Request, peer: Peer) {
        // §17.2.3: the ACK for a non-2xx carries the INVITE's branch.
        let by_branch = self.servers.get(&key.with_method(Method::Invite)).copied();
        // §13.3.1.4: the ACK for a 2xx is matched through the dialog and CSeq.
        let target = by_branch.or_else(|| {
            let ack_key = AckKey::from_request(&req).ok()?;
            self.acks.get(&ack_key).copied()
        });
        match target {
            Some(id) => self.run(id, Some(peer), |m, cfg, out| {
                if let Machine::InviteServer(m) = m {
                    m.handle_ack(now, cfg, req, out)
                }
            }),
            None => self.events.push_back(TuEvent::Ack { req, peer }),
        }
    }

    /// §9.2: CANCEL is its own non-INVITE transaction, answered here; the INVITE it
    /// names is found with the INVITE method and the CANCEL's branch.
    fn handle_cancel(&mut self, now: Instant, key: ServerKey, req: rsip::Request, peer: Peer) {
        if let Some(&id) = self.servers.get(&key) {
            self.run(id, None, |m, _, out| {
                if let Machine::NonInviteServer(m) = m {
                    m.handle_retransmit(out)
                }
            });
            return;
        }
        let invite = key.with_method(Method::Invite);
        // Only whoever sent the INVITE may cancel it: a CANCEL from another address
        // (someone who learnt the branch) matches nothing and gets 481 (issue 11).
        let target = self
            .servers
            .get(&invite)
            .and_then(|id| self.txns.get(id))
            .filter(|e| e.peer.addr.ip() == peer.addr.ip())
            .and_then(|e| match &e.machine {
                Machine::InviteServer(m) => Some(m),
                _ => None,
            });
        // 200 if the INVITE exists (even when its final already went out: the race of
        // §9.2, where the INVITE keeps its response); 481 when nothing matches. Reuse
        // the INVITE's To tag so both responses name the same dialog (§9.2).
        let (status, to_tag, cancels) = match target {
            Some(m) => (200, m.to_tag().map(str::to_string), !m.has_final()),
            None => (481, None, false),
        };
        let to_tag = to_tag.unwrap_or_else(|| self.new_tag());
        let resp = make_response(&req, status, Some(&to_tag));
        let mut out = std::mem::take(&mut self.scratch);
        let mut machine = ServerNonInvite::new(peer.transport);
        machine.handle_tu_response(now, &self.cfg, status, to_bytes(resp), &mut out);
        let id = self.insert(
            TxnKey::Server(key),
            Machine::NonInviteServer(machine),
            peer,
            None,
        );
        self.flush(id, None, &mut out);
        self.scratch = out;
        self.settle(id);
        if cancels {
            self.events.push_back(TuEvent::Cancelled { invite });
        }
    }

    /// A response from the transport. Responses matching no client transaction are
    /// strays (§17.1.3) and dropped.
    pub fn handle_response(&mut self, now: Instant, resp: rsip::Response, peer: Peer) {
        let key = match ClientKey::from_response(&resp) {
            Ok(key) => key,
            Err(err) => {
                debug!(%err, "dropping response");
                return;
            }
        };
        let Some(&id) = self.clients.get(&key) else {
            debug!(%key, code = resp.status_code.code(), "dropping stray response");
            return;
        };
        self.run(id, Some(peer), |m, cfg, out| match m {
            Machine::InviteClient(m) => m.handle_response(now, cfg, resp, out),
            Machine::NonInviteClient(m) => m.handle_response(now, cfg, resp, out),
            _ => {}
        });
    }

    /// RFC 3261 §17.1.4: the transport could not deliver to `peer` (a TLS handshake
    /// that failed, a refused connection). Every client transaction sending to `peer`
    /// ends now and is reported as [`TuEvent::ClientTimeout`] (the TU treats a
    /// transport failure like a 408/503), rather than after Timer B's 32 s of silence.
    /// Returns how many ended.
    pub fn handle_transport_error(&mut self, peer: Peer) -> usize {
        let failed: Vec<TxnId> = self
            .txns
            .iter()
            .filter(|(_, e)| e.peer == peer && matches!(e.key, TxnKey::Client(_)))
            .map(|(id, _)| *id)
            .collect();
        for id in &failed {
            if let Some(entry) = self.txns.remove(id)
                && let TxnKey::Client(key) = entry.key
            {
                self.clients.remove(&key);
                self.events.push_back(TuEvent::ClientTimeout { key });
            }
        }
        failed.len()
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(entry) = self.txns.get_mut(&id) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue; // stale: the entry re-scheduled itself since
            }
            entry.scheduled = None;
            self.run(id, None, |m, cfg, out| m.handle_timeout(now, cfg, out));
        }
    }

    /// The TU answers the request of server transaction `key`. Responses for a
    /// transaction that no longer exists are dropped (logged).
    pub fn send_response(&mut self, now: Instant, key: ServerKey, resp: rsip::Response) {
        let Some(&id) = self.servers.get(&key) else {
            warn!(%key, code = resp.status_code.code(), "response for a finished transaction dropped");
            return;
        };
        let code = resp.status_code.code();
        let to_tag = response_to_tag(&resp);
        let bytes = to_bytes(resp);
        self.run(id, None, |m, cfg, out| match m {
            Machine::InviteServer(m) => m.handle_tu_response(now, cfg, code, to_tag, bytes, out),
            Machine::NonInviteServer(m) => m.handle_tu_response(now, cfg, code, bytes, out),
            _ => {}
        });
        // Once a 2xx went out, its ACK (new branch) must be able to find it.
        if let Some(entry) = self.txns.get(&id)
            && let Machine::InviteServer(m) = &entry.machine
            && m.state() == ServerInviteState::Accepted
            && let Some(ack_key) = &entry.ack_key
        {
            self.acks.insert(ack_key.clone(), id);
        }
    }

    /// Sends the final response of a non-INVITE server transaction and forgets the
    /// transaction at once (RFC 3261 §8.2.7, a stateless UAS): a retransmitted request
    /// is then processed anew. For challenges and refusals to strangers, so a flood of
    /// them holds no state for Timer J (32 s each).
    pub fn send_response_stateless(&mut self, key: ServerKey, resp: rsip::Response) {
        let Some(id) = self.servers.remove(&key) else {
            return;
        };
        if let Some(entry) = self.txns.remove(&id) {
            self.transmits.push_back(Transmit {
                peer: entry.peer,
                payload: to_bytes(resp),
            });
        }
        if self.txns.is_empty() {
            self.heap.clear();
        }
    }

    /// Gives back the memory of tables that grew in a burst (a flood) and are mostly
    /// empty now; cheap, and a no-op while they are in use.
    pub fn shrink(&mut self) {
        fn shrink_map<K: Eq + std::hash::Hash, V>(m: &mut HashMap<K, V>) {
            if m.capacity() > 4 * m.len() + 1024 {
                m.shrink_to(2 * m.len());
            }
        }
        shrink_map(&mut self.txns);
        shrink_map(&mut self.servers);
        shrink_map(&mut self.clients);
        shrink_map(&mut self.acks);
        if self.heap.capacity() > 4 * self.heap.len() + 1024 {
            self.heap.shrink_to(2 * self.heap.len());
        }
        self.transmits.shrink_to(1024);
        self.events.shrink_to(1024);
    }

    /// Start a client transaction for `req` towards `peer` and return its key.
    ///
    /// The request must carry a top Via with our sent-by (the TU knows the local
    /// address); the layer puts a fresh branch in it unless it already has an RFC 3261
    /// branch not in use. A CANCEL built with [`super::make_cancel`] keeps the INVITE's
    /// branch and re-arms that INVITE's Timer B (§9.1). An ACK is not a transaction:
    /// it is sent as with [`TransactionLayer::send_stateless`].
    pub fn send_request(&mut self, now: Instant, req: rsip::Request, peer: Peer) -> ClientKey {
        let mut req = req;
        if req.method == Method::Ack {
            let branch = self.ensure_branch(&mut req);
            self.transmits.push_back(Transmit {
                peer,
                payload: to_bytes(req),
            });
            return ClientKey::new(branch, Method::Ack);
        }
        let mut branch = self.ensure_branch(&mut req);
        if self
            .clients
            .contains_key(&ClientKey::new(branch.clone(), req.method))
        {
            if req.method == Method::Cancel {
                // The INVITE is already being cancelled; that CANCEL keeps retransmitting.
                return ClientKey::new(branch, Method::Cancel);
            }
            warn!(%branch, "TU reused a branch in use; replacing it");
            branch = self.new_branch();
            set_branch(&mut req, &branch);
        }
        let key = ClientKey::new(branch.clone(), req.method);
        if req.method == Method::Cancel
            && let Some(&invite) = self.clients.get(&ClientKey::new(branch, Method::Invite))
        {
            if let Some(Entry {
                machine: Machine::InviteClient(m),
                ..
            }) = self.txns.get_mut(&invite).map(|e| &mut **e)
            {
                m.handle_cancel_sent(now, &self.cfg);
            }
            self.settle(invite);
        }
        let mut out = std::mem::take(&mut self.scratch);
        let machine = if req.method == Method::Invite {
            Machine::InviteClient(Box::new(ClientInvite::new(
                now,
                &self.cfg,
                peer.transport,
                req,
                &mut out,
            )))
        } else {
            let bytes = to_bytes(req);
            Machine::NonInviteClient(ClientNonInvite::new(
                now,
                &self.cfg,
                peer.transport,
                bytes,
                &mut out,
            ))
        };
        let id = self.insert(TxnKey::Client(key.clone()), machine, peer, None);
        self.flush(id, None, &mut out);
        self.scratch = out;
        self.settle(id);
        key
    }

    /// Send a request outside any transaction: the ACK for a 2xx (§13.2.2.4), which
    /// the TU (re)sends itself for every 2xx retransmission. A missing RFC 3261
    /// branch is filled in; an existing one is kept so a re-sent ACK is identical.
    pub fn send_stateless(&mut self, req_or_ack: rsip::Request, peer: Peer) {
        let mut req = req_or_ack;
        self.ensure_branch(&mut req);
        self.transmits.push_back(Transmit {
            peer,
            payload: to_bytes(req),
        });
    }

    /// The top Via's RFC 3261 branch, creating one if it is missing or old-style.
    fn ensure_branch(&mut self, req: &mut rsip::Request) -> String {
        let current = key::top_via(req)
            .ok()
            .and_then(|v| v.branch().map(|b| b.value().to_string()));
        match current {
            Some(b) if b.starts_with(MAGIC_COOKIE) => b,
            _ => {
                let b = self.new_branch();
                set_branch(req, &b);
                b
            }
        }
    }

    fn insert(
        &mut self,
        key: TxnKey,
        machine: Machine,
        peer: Peer,
        ack_key: Option<AckKey>,
    ) -> TxnId {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        match &key {
            TxnKey::Server(k) => self.servers.insert(k.clone(), id),
            TxnKey::Client(k) => self.clients.insert(k.clone(), id),
        };
        self.txns.insert(
            id,
            Box::new(Entry {
                machine,
                key,
                peer,
                ack_key,
                scheduled: None,
            }),
        );
        self.settle(id);
        id
    }

    /// Run `f` on transaction `id`'s machine, turn its actions into output, then
    /// re-schedule or remove it. `from` is where the triggering message came from.
    fn run(
        &mut self,
        id: TxnId,
        from: Option<Peer>,
        f: impl FnOnce(&mut Machine, &TimerConfig, &mut Vec<Action>),
    ) {
        let mut out = std::mem::take(&mut self.scratch);
        if let Some(entry) = self.txns.get_mut(&id) {
            f(&mut entry.machine, &self.cfg, &mut out);
            self.flush(id, from, &mut out);
            self.settle(id);
        }
        out.clear();
        self.scratch = out;
    }

    fn flush(&mut self, id: TxnId, from: Option<Peer>, out: &mut Vec<Action>) {
        let Some(entry) = self.txns.get(&id) else {
            out.clear();
            return;
        };
        for action in out.drain(..) {
            match (action, &entry.key) {
                (Action::Transmit(payload), _) => self.transmits.push_back(Transmit {
                    peer: entry.peer,
                    payload,
                }),
                (Action::PassResponse(resp), TxnKey::Client(key)) => {
                    self.events.push_back(TuEvent::Response {
                        key: key.clone(),
                        resp,
                    })
                }
                (Action::PassAck(req), _) => self.events.push_back(TuEvent::Ack {
                    req,
                    peer: from.unwrap_or(entry.peer),
                }),
                (Action::ClientTimeout, TxnKey::Client(key)) => self
                    .events
                    .push_back(TuEvent::ClientTimeout { key: key.clone() }),
                (Action::AckTimeout, TxnKey::Server(key)) => self
                    .events
                    .push_back(TuEvent::AckTimeout { key: key.clone() }),
                (action, _) => debug!(?action, "action does not fit the transaction kind"),
            }
        }
    }

    /// Remove a terminated transaction, or make sure its next deadline is in the heap.
    fn settle(&mut self, id: TxnId) {
        let Some(entry) = self.txns.get_mut(&id) else {
            return;
        };
        if entry.machine.is_terminated() {
            if let Some(entry) = self.txns.remove(&id) {
                match &entry.key {
                    TxnKey::Server(k) => self.servers.remove(k),
                    TxnKey::Client(k) => self.clients.remove(k),
                };
                if let Some(ack_key) = &entry.ack_key
                    && self.acks.get(ack_key) == Some(&id)
                {
                    self.acks.remove(ack_key);
                }
            }
            if self.txns.is_empty() {
                self.heap.clear(); // only stale entries remain
            }
            return;
        }
        if let Some(next) = entry.machine.next_deadline()
            && entry.scheduled.is_none_or(|s| next < s)
        {
            entry.scheduled = Some(next);
            self.heap.push(Reverse((next, id)));
        }
    }
}

/// Put `branch` into the top Via of `req` (used for requests we originate).
fn set_branch(req: &mut rsip::Request, branch: &str) {
    let via = req.headers.iter_mut().find_map(|h| match h {
        Header::Via(v) => Some(v),
        _ => None,
    });
    let Some(via) = via else {
        warn!("request without a Via: responses to it cannot be matched (it will time out)");
        return;
    };
    let result = via.update_first_value(|v| {
        let typed = v.typed()?;
        Ok(typed.with_branch(rsip::param::Branch::new(branch)).into())
    });
    if let Err(err) = result {
        warn!(%err, "could not set the branch of our own Via");
    }
}
