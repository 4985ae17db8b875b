//! What a call may use from outside itself, and what it hands back.
//!
//! A call never owns the transaction layer, the RTP port pool, the random generator or
//! the message indexes: the endpoint lends them for one input through [`Ctx`], whose
//! methods are the whole interface (send a request or response, take a port, make a
//! tag, file a leg under the call, emit an output, ask the connect policy). Requests
//! for the connect policy are queued as [`ConnectInput`]s and carried over by the
//! endpoint after the call returns, so a call never holds the policy and the policy
//! never holds a call.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rand::RngExt;
use rand::rngs::SmallRng;

use super::event::CallEvent;
pub use super::event::LookupFailure;
use crate::dialog::{Dialog, Index};
use crate::media::ports::PortPool;
use crate::media::{CallKey, MediaCommand};
use crate::model::StoreWrite;
use crate::routing::{ManagerStates, PreviousInteraction};
use crate::sdp::Codec;
use crate::sip::response::Refusal;
use crate::sip::rsip;
use crate::sip::uri::Destination;
use crate::sip::{Peer, Transmit, Transport};
use crate::transaction::{ClientKey, ServerKey, TransactionLayer, make_cancel};

/// What calls need from the configuration.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Our SIP address as written in Via and Contact (UDP and TCP).
    pub sip_addr: SocketAddr,
    /// Our SIP-over-TLS address (`[server] sip_tls_listen`, advertised), if TLS is on:
    /// Via and Contact of messages sent over TLS carry it.
    pub tls_addr: Option<SocketAddr>,
    /// Address written into SDP `c=` lines.
    pub media_ip: IpAddr,
    /// Codecs we accept, in our order of preference (the offerer's order wins).
    pub codecs: Vec<Codec>,
    /// Ring (180) this long before answering; 0 answers at once.
    pub ring_before_answer: Duration,
    pub inband_dtmf: bool,
    /// For the log line when a peer goes silent.
    pub rtp_timeout_secs: u64,
    /// `[server] session_expires_secs`: RFC 4028 timers on callers' dialogs (0: off).
    pub session_expires_secs: u32,
    /// `[server] dialled_number`: the Request-URI's number, or a forwarded call's
    /// original one.
    pub dialled_number: crate::sip::redirect::DialledNumber,
    /// Voicemail recordings go below this folder.
    pub recordings_dir: PathBuf,
    /// Whether callback requests should also fill the webhook outbox.
    pub notify_callbacks: bool,
    /// How long a call waits for its history lookup before routing without it.
    pub lookup_timeout: Duration,
    /// `[server] srtp`: for callers' offers, and managers without their own `srtp`.
    pub srtp: crate::media::srtp::SrtpPolicy,
}

impl CallConfig {
    /// The address written in Via (and Contact) for messages on `transport`.
    #[must_use]
    pub fn local_addr(&self, transport: Transport) -> SocketAddr {
        match (transport, self.tls_addr) {
            (Transport::Tls, Some(tls)) => tls,
            _ => self.sip_addr,
        }
    }

    /// Our Contact URI in angle brackets for messages on `transport`.
    #[must_use]
    pub fn contact(&self, transport: Transport) -> String {
        let addr = self.local_addr(transport);
        match transport {
            Transport::Udp => format!("<sip:{addr}>"),
            Transport::Tcp | Transport::Tls => {
                format!("<sip:{addr};transport={}>", transport.param())
            }
        }
    }
}

/// Work for the driver.
#[derive(Debug)]
pub enum Output {
    Transmit(Transmit),
    Media(MediaCommand),
    Event(CallEvent),
    /// Persist this (fire-and-forget to the store thread). Boxed: a write is far
    /// larger than the other outputs and rare.
    Store(Box<StoreWrite>),
    /// Look something up and report it with the endpoint's `handle_lookup`.
    Lookup(Lookup),
    /// Shared managers' state (several instances): a ring claim to answer with the
    /// endpoint's `handle_claimed`, or a notice to apply. Never emitted by a single
    /// instance.
    Claim(crate::connect::Claim),
}

/// Slow questions a call asks and waits for (answered as inputs, never blocking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The last manager who answered `caller` since `since`.
    History {
        call: CallKey,
        caller: String,
        since: Timestamp,
    },
    /// Ask the business's CRM about the caller (`[lookup]`): the call waits for the
    /// answer until `timeout` has passed, then routes without it.
    Crm {
        call: CallKey,
        call_id: String,
        caller: String,
        dialled: String,
        timeout: Duration,
    },
}

/// The answer to a [`Lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupResult {
    History(Option<PreviousInteraction>),
    /// The CRM's answer (empty for a caller it does not know).
    Crm(Result<crate::model::CrmAnswer, LookupFailure>),
}

pub use crate::connect::ConnectInput;

/// A machine a call asks the endpoint to start (it cannot insert into the endpoint's
/// table while it runs).
#[derive(Debug)]
pub enum Spawn {
    /// The caller hung up to be called back: their dial-back, waiting in the queue
    /// under `key` (the connect policy's entry was re-keyed to it).
    Dialback {
        key: CallKey,
        entry: crate::model::QueuedCallback,
        plan: std::sync::Arc<crate::config::DialPlan>,
    },
}

/// Where a manager's phones can be reached now.
pub type Contacts<'a> = &'a dyn Fn(&str) -> Vec<Destination>;

/// What the endpoint lends a call for one input.
pub struct Ctx<'a> {
    pub cfg: &'a CallConfig,
    pub now: Instant,
    pub wall: Timestamp,
    pub(crate) txn: &'a mut TransactionLayer,
    pub(crate) ports: &'a mut PortPool,
    pub(crate) rng: &'a mut SmallRng,
    /// SRTP master keys come from here, never from `rng` (whose 64-bit seed is fine
    /// for tags, not for keys): OS randomness in the driver.
    pub(crate) keys: &'a mut rand::rngs::StdRng,
    pub(crate) next_key: &'a mut u64,
    pub(crate) index: &'a mut Index<CallKey>,
    /// Outbound legs' media keys → their call.
    pub(crate) media: &'a mut HashMap<CallKey, CallKey>,
    /// Legs given up on whose INVITE transaction is still open.
    pub(crate) orphans: &'a mut HashMap<ClientKey, Orphan>,
    /// Managers' dialogs being left (BYE timing after a transfer, crossing BYEs).
    pub(crate) parting: &'a mut super::parting::Parting,
    pub(crate) out: &'a mut VecDeque<Output>,
    pub(crate) connect: &'a mut VecDeque<ConnectInput>,
    /// Machines to start once the current one returns.
    pub(crate) spawn: &'a mut VecDeque<Spawn>,
    pub(crate) contacts: Contacts<'a>,
    pub(crate) states: &'a dyn Fn() -> ManagerStates,
}

impl Ctx<'_> {
    pub fn send_request(&mut self, req: rsip::Request, peer: Peer) -> ClientKey {
        self.txn.send_request(self.now, req, peer)
    }

    pub fn send_response(&mut self, key: ServerKey, resp: rsip::Response) {
        self.txn.send_response(self.now, key, resp);
    }

    /// A success response (200, 202) built from `req`, sent on `key`.
    pub fn respond(&mut self, key: ServerKey, req: &rsip::Request, code: u16) {
        let resp = crate::sip::response::make_response(req, code, None);
        self.send_response(key, resp);
    }

    /// Refuse `req` for `why` (the status code is chosen in one place).
    pub fn refuse(&mut self, key: ServerKey, req: &rsip::Request, why: Refusal) {
        let resp = crate::sip::response::refuse(req, why, None);
        self.send_response(key, resp);
    }

    pub fn send_stateless(&mut self, req: rsip::Request, peer: Peer) {
        self.txn.send_stateless(req, peer);
    }

    pub fn allocate_port(&mut self) -> Option<u16> {
        self.ports.allocate()
    }

    pub fn release_port(&mut self, port: u16) {
        self.ports.release(port);
    }

    pub fn retire_port(&mut self, port: u16) {
        self.ports.retire(port);
    }

    pub fn new_tag(&mut self) -> String {
        format!("sb{:016x}", self.rng.random::<u64>())
    }

    pub fn new_branch(&mut self) -> String {
        format!("z9hG4bKsb{:016x}", self.rng.random::<u64>())
    }

    pub fn new_call_id(&mut self) -> String {
        format!("sb{:016x}@switchboard", self.rng.random::<u64>())
    }

    /// A fresh SRTP master key and salt (RFC 3711 §8.1: random, never reused).
    pub fn new_master_key(&mut self) -> crate::media::srtp::MasterKey {
        use rand::Rng as _;
        crate::media::srtp::MasterKey::generate(|b| self.keys.fill_bytes(b))
    }

    /// Fills `buf` with key material (for [`crate::sdp::crypto::offer_lines`]).
    pub fn fill_key(&mut self, buf: &mut [u8]) {
        use rand::Rng as _;
        self.keys.fill_bytes(buf);
    }

    pub fn random_u32(&mut self) -> u32 {
        self.rng.random::<u32>()
    }

    pub fn random_u16(&mut self) -> u16 {
        self.rng.random::<u16>()
    }

    /// A fresh key for a media stream (an outbound leg's).
    pub fn new_media_key(&mut self) -> CallKey {
        *self.next_key += 1;
        CallKey(*self.next_key)
    }

    pub fn index(&mut self) -> &mut Index<CallKey> {
        self.index
    }

    /// Media events of `leg` go to `call`.
    pub fn bind_media(&mut self, leg: CallKey, call: CallKey) {
        self.media.insert(leg, call);
    }

    pub fn unbind_media(&mut self, leg: CallKey) {
        self.media.remove(&leg);
    }

    pub fn orphan(&mut self, key: ClientKey, orphan: Orphan) {
        self.orphans.insert(key, orphan);
    }

    /// Send BYE on a manager's dialog we leave; a BYE of theirs crossing it gets 200.
    pub fn send_leg_bye(&mut self, mut dialog: Box<crate::dialog::Dialog>) {
        let branch = self.new_branch();
        if let Some(bye) = dialog.build_request(
            rsip::Method::Bye,
            self.cfg.local_addr(dialog.peer.transport),
            &branch,
            &[],
            None,
        ) {
            let _ = self.send_request(bye, dialog.peer);
        }
        let now = self.now;
        self.parting.bye_sent(now, dialog);
    }

    /// The phone was told its transfer succeeded: it hangs up itself, and gets our
    /// BYE only if it does not within the grace.
    pub fn await_leg_bye(&mut self, dialog: Box<crate::dialog::Dialog>) {
        let now = self.now;
        self.parting
            .wait_for_phone(now, dialog, super::parting::PHONE_BYE_GRACE);
    }

    pub fn media_cmd(&mut self, cmd: MediaCommand) {
        self.out.push_back(Output::Media(cmd));
    }

    pub fn event(&mut self, ev: CallEvent) {
        self.out.push_back(Output::Event(ev));
    }

    pub fn store(&mut self, w: StoreWrite) {
        self.out.push_back(Output::Store(Box::new(w)));
    }

    pub fn lookup(&mut self, l: Lookup) {
        self.out.push_back(Output::Lookup(l));
    }

    pub fn connect(&mut self, input: ConnectInput) {
        self.connect.push_back(input);
    }

    /// Start another machine after this input (a dial-back).
    pub fn spawn(&mut self, s: Spawn) {
        self.spawn.push_back(s);
    }

    /// Where `manager`'s phones are now.
    pub fn contacts(&self, manager: &str) -> Vec<Destination> {
        (self.contacts)(manager)
    }

    /// The managers' availability and queues now (for menu decisions).
    pub fn states(&self) -> ManagerStates {
        (self.states)()
    }

    /// Our Contact: where the peer sends in-dialog requests (RFC 3261 §8.1.1.8). Over
    /// TLS it names our TLS port with `transport=tls` (a `sip:` URI: RFC 5630 §3.1.3
    /// keeps `sips:` for "TLS on every hop", which we cannot promise for the caller's
    /// side of a bridged call).
    pub fn contact(&self, transport: Transport) -> String {
        self.cfg.contact(transport)
    }

    /// Contact, Allow, Supported and Server for our answers.
    pub fn add_uas_headers(&self, headers: &mut rsip::Headers, transport: Transport) {
        headers.push(rsip::Header::Contact(self.contact(transport).into()));
        headers.push(rsip::Header::Allow(crate::sip::headers::ALLOW.into()));
        crate::sip::extensions::add_supported(headers, self.cfg.session_expires_secs != 0);
        headers.push(rsip::Header::Other("Server".into(), "Switchboard".into()));
    }
}

/// Replace the body (and its Content-Type/Length) of a message.
pub fn set_body(
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

/// RFC 3326 `Reason` of a CANCEL to a phone whose call another phone answered: SIP
/// cause 200, the text phones show (and the one Asterisk and FreeSWITCH send).
pub const ANSWERED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// The CANCEL of `invite` (RFC 3261 §9.1), with a `Reason` header when there is one.
pub fn cancel_of(invite: &rsip::Request, reason: Option<&str>) -> rsip::Request {
    let mut cancel = make_cancel(invite);
    if let Some(reason) = reason {
        cancel
            .headers
            .push(rsip::Header::Other("Reason".into(), reason.to_string()));
    }
    cancel
}

/// A leg we gave up on (cancelled, or the call ended) whose INVITE transaction is
/// still open: if a 2xx still arrives (the CANCEL crossed it, §9.1), it is ACKed and
/// hung up at once so the manager's phone never sits in a dead call.
#[derive(Debug)]
pub struct Orphan {
    pub invite: rsip::Request,
    pub peer: Peer,
    pub local_tag: String,
    pub port: u16,
    /// Abandoned before any provisional: CANCEL when one arrives (§9.1).
    pub cancel_pending: bool,
    /// The CANCEL's RFC 3326 `Reason`, if any (another phone answered).
    pub reason: Option<&'static str>,
}

impl Orphan {
    /// A response to the orphan's INVITE: CANCEL once it rings, ACK + BYE a 2xx.
    /// Returns true when the orphan is done.
    pub fn handle_response(&mut self, ctx: &mut Ctx<'_>, resp: &rsip::Response) -> bool {
        let code = resp.status_code.code();
        if code < 200 {
            if self.cancel_pending && code > 100 {
                self.cancel_pending = false;
                let cancel = cancel_of(&self.invite, self.reason);
                let _ = ctx.send_request(cancel, self.peer);
            }
            return false;
        }
        ctx.release_port(self.port);
        if code >= 300 {
            return true;
        }
        tracing::info!("a cancelled leg answered anyway: acknowledging and hanging it up");
        if let Ok(mut dialog) = Dialog::new_uac(&self.invite, resp, self.peer, &self.local_tag) {
            let cseq = crate::sip::headers::cseq(&self.invite).map_or(1, |(n, _)| n);
            let branch = ctx.new_branch();
            if let Some(ack) =
                dialog.build_ack(ctx.cfg.local_addr(dialog.transport()), &branch, cseq)
            {
                ctx.send_stateless(ack, dialog.peer);
            }
            ctx.send_leg_bye(Box::new(dialog));
        }
        true
    }

    /// The orphan's transaction ended without a final response.
    pub fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        ctx.release_port(self.port);
    }
}
