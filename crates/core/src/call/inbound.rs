//! One inbound call: the caller's dialog (we are the UAS), the caller's media stream,
//! the [`Flow`] that decides what the call does, and the people it rings or is
//! bridged to ([`People`]).
//!
//! The signalling life of the caller's leg:
//!
//! ```text
//!  INVITE ─▶ Offered (180) ──answer_at──▶ Answering (200 sent) ──ACK──▶ Active
//!              │ CANCEL → 487                 │ no ACK (Timer H)          │ BYE in → 200
//!              ▼                              ▼                           │ we hang up → BYE
//!           Finished ◀──────────────────── Ending (our BYE out) ◀─────────┘
//! ```
//! While `Active`, the flow runs once the call is acknowledged and its history lookup
//! (returning callers) is answered or timed out. An INVITE without SDP gets our offer
//! in the 200 and its media opens with the answer in the ACK ([`late_offer`]); a
//! session timer the trunk asked for runs from the 200 ([`session`]).

use std::time::Instant;

use super::context::{ConnectInput, Ctx, Lookup, LookupResult, set_body};
use super::flow::{Flow, FlowAction};
use super::line::People;
use super::outcome::EndCause;
use super::program::{CallInfo, Program};
use super::security::{protection_text, read_offer};
use crate::dialog::Dialog;
use crate::dialog::session_timer::{self, Negotiation, SessionTimer};
use crate::media::{CallKey, DigitSource, MediaCommand, MediaEvent, MediaParams};
use crate::model::StoreWrite;
use crate::routing::PreviousInteraction;
use crate::sdp::{self, LocalMedia, RemoteMedia};
use crate::sip::response::Refusal;
use crate::sip::rsip::{self, prelude::*};
use crate::sip::{Peer, headers};
use crate::transaction::{ClientKey, ServerKey};

mod events;
mod late_offer;
mod session;
mod taping;

mod actions;

#[derive(Debug)]
enum State {
    /// 180 sent; we answer at `answer_at` (CANCEL may come first).
    Offered {
        invite_key: ServerKey,
        invite: Box<rsip::Request>,
        answer_at: Instant,
    },
    /// 200 sent, waiting for the ACK (the transaction layer retransmits the 200).
    Answering {
        invite_key: ServerKey,
    },
    Active,
    /// We sent BYE and wait for its response.
    Ending {
        bye: ClientKey,
    },
    Finished,
}

/// An answer routing waits for: the caller's history, the CRM's answer.
#[derive(Debug)]
enum Awaited<T> {
    /// Asked; routing waits for the answer until `until`.
    Pending {
        until: Instant,
    },
    Ready(Option<T>),
}

impl<T> Awaited<T> {
    fn pending_until(&self) -> Option<Instant> {
        match self {
            Awaited::Pending { until } => Some(*until),
            Awaited::Ready(_) => None,
        }
    }

    fn is_due(&self, now: Instant) -> bool {
        self.pending_until().is_some_and(|u| u <= now)
    }
}

/// What the call looks up before it is routed (both asked at once, on arrival).
#[derive(Debug)]
struct Prerouting {
    history: Awaited<PreviousInteraction>,
    crm: Awaited<crate::model::CrmAnswer>,
}

/// The caller's negotiated media.
#[derive(Debug)]
struct CallerMedia {
    port: u16,
    params: MediaParams,
    offer: RemoteMedia,
    neg: sdp::Negotiated,
    /// Plain RTP, or SRTP with our key ([`sdp::crypto::answer_security`]).
    security: sdp::AnswerSecurity,
    sdp_session: u64,
    sdp_version: u64,
    open: bool,
    /// Our offer in the 200 to an INVITE that had none, until the ACK answers it.
    late_offer: Option<Box<late_offer::LateOffer>>,
    /// Our 200 to an offerless re-INVITE (this CSeq) carried an offer: its answer is
    /// in that re-INVITE's ACK.
    reoffer_pending: Option<u32>,
    /// The last SDP we sent the caller, its `o=` version blanked (RFC 3264 §8).
    last_sent: Option<String>,
}

/// One inbound call and its outbound legs.
#[derive(Debug)]
pub struct Call {
    key: CallKey,
    span: tracing::Span,
    dialog: Dialog,
    state: State,
    media: CallerMedia,
    prerouting: Prerouting,
    pub(super) flow: Flow,
    pub(super) people: People,
    created: Instant,
    /// The conversation recording (`record = true`).
    pub(super) taping: super::conversation::Taping,
    /// A hang-up asked for between our 200 and the caller's ACK: done at the ACK
    /// (RFC 3261 §15: no BYE on a dialog before its ACK), or at Timer H.
    hang_up_at_ack: Option<EndCause>,
    /// RFC 4028: the caller's side refreshes the call before this runs out, or we
    /// hang up (`dialog::session_timer`). Negotiated on the INVITE, started at our 200.
    session_timer: SessionTiming,
}

/// The session timer of the caller's dialog: asked for, then running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionTiming {
    Off,
    /// Negotiated on the INVITE, starts with our 200.
    Agreed {
        interval: u32,
    },
    Running(SessionTimer),
}

/// Why an INVITE was not taken as a call (the endpoint refuses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub Refusal);

fn media_params(
    offer: &RemoteMedia,
    neg: &sdp::Negotiated,
    security: &sdp::AnswerSecurity,
) -> MediaParams {
    MediaParams {
        remote: neg.remote,
        codec: neg.codec,
        pt: neg.payload_type,
        te_pt: neg.telephone_event_pt,
        hold: offer.is_hold(),
        srtp: security.params().cloned(),
    }
}

impl Call {
    /// An initial INVITE: negotiate media, create the dialog and the call, ring or
    /// answer. `program` decides what the call does.
    pub fn new(
        ctx: &mut Ctx<'_>,
        key: CallKey,
        invite_key: ServerKey,
        req: rsip::Request,
        peer: Peer,
        program: impl FnOnce(&CallInfo) -> Box<dyn Program>,
    ) -> Result<Call, Refused> {
        let call_id = headers::call_id(&req).unwrap_or_default().to_string();
        // The endpoint left a P-Asserted-Identity only on a trusted trunk's request
        // (RFC 3325 §5): the caller's real number when From is the trunk's own, or
        // `anonymous` for a caller who withheld theirs from the called party.
        let (caller, caller_name) = match headers::asserted_user(&req) {
            Some(number) => (number, headers::asserted_display_name(&req)),
            None => (
                headers::from_user(&req).unwrap_or_else(|| "anonymous".into()),
                headers::from_display_name(&req),
            ),
        };
        let original = crate::sip::redirect::original_called(&req);
        let dialled = original
            .as_ref()
            .filter(|_| ctx.cfg.dialled_number == crate::sip::redirect::DialledNumber::Original)
            .map(|(number, _)| number.clone())
            .or_else(|| headers::request_uri_user(&req))
            .or_else(|| headers::to_user(&req))
            .unwrap_or_default();
        let span = tracing::info_span!("call", id = %call_id, from = %caller, to = %dialled);
        let _enter = span.enter();
        if let Some((number, by)) = &original {
            tracing::info!("forwarded call: first sent to {number} ({})", by.header());
        }
        let session_timer = match session_timer::negotiate(&req, ctx.cfg.session_expires_secs) {
            Negotiation::Off => SessionTiming::Off,
            Negotiation::Timer { interval } => SessionTiming::Agreed { interval },
            Negotiation::TooSmall => {
                tracing::info!(
                    "rejected with 422: session timer below {} s",
                    session_timer::MIN_SE
                );
                return Err(Refused(Refusal::SessionIntervalTooSmall));
            }
        };
        let srtp_key = ctx.new_master_key();
        let sdp_session = u64::from(ctx.random_u32());
        // RFC 3261 §13.2.1: an INVITE without an offer gets ours in the 200.
        let described = (!req.body.is_empty())
            .then(|| read_offer(&req.body, &ctx.cfg.codecs, ctx.cfg.srtp, srtp_key));
        if let Some(Err(e)) = &described {
            tracing::info!("rejected with 488: {e}");
            return Err(Refused(Refusal::NotAcceptableHere));
        }
        let port = ctx.allocate_port().ok_or_else(|| {
            tracing::warn!("rejected with 503: no free RTP port (raise rtp_ports)");
            Refused(Refusal::NoCapacity)
        })?;
        let ((offer, neg, security), late) = match described {
            Some(Ok(d)) => (d, None),
            _ => {
                let local = LocalMedia {
                    ip: ctx.cfg.media_ip,
                    port,
                    session_id: sdp_session,
                    session_version: 1,
                };
                match late_offer::LateOffer::new(ctx, &local, peer.transport.is_secure()) {
                    Ok((late, d)) => (d, Some(Box::new(late))),
                    Err(e) => {
                        ctx.release_port(port);
                        tracing::warn!("rejected with 500: our own offer is unusable ({e})");
                        return Err(Refused(Refusal::ServerError));
                    }
                }
            }
        };
        let local_tag = ctx.new_tag();
        let dialog = Dialog::new_uas(&req, peer, &local_tag).map_err(|e| {
            ctx.release_port(port);
            tracing::info!("rejected with 400: {e}");
            Refused(Refusal::BadRequest)
        })?;
        let info = CallInfo {
            call_id,
            caller,
            caller_name,
            dialled,
            started_at: ctx.wall,
        };
        let program = program(&info);
        // A number nobody routes is refused before answering, not answered and hung up
        // (the trunk would bill the caller for that).
        if let Some(reason) = program.refusal(&info) {
            ctx.release_port(port);
            tracing::info!("rejected with 404: {reason}");
            return Err(Refused(Refusal::NotFound));
        }
        match &late {
            None => tracing::info!(
                codec = ?neg.codec,
                media = %protection_text(&security, peer.transport),
                "incoming call from {} via {} ({})",
                info.caller,
                peer.addr,
                peer.transport.via_token()
            ),
            Some(_) => tracing::info!(
                "incoming call from {} via {} ({}) without an SDP offer: ours goes in the \
                 200, the answer is due in the ACK",
                info.caller,
                peer.addr,
                peer.transport.via_token()
            ),
        }
        let flow = Flow::new(key, info.clone(), program, ctx.now);
        let history = match flow.wants_history() {
            Some(since) => {
                ctx.lookup(Lookup::History {
                    call: key,
                    caller: info.caller.clone(),
                    since,
                });
                Awaited::Pending {
                    until: ctx.now + ctx.cfg.lookup_timeout,
                }
            }
            None => Awaited::Ready(None),
        };
        let crm = match flow.wants_lookup() {
            Some(timeout) => {
                ctx.lookup(Lookup::Crm {
                    call: key,
                    call_id: info.call_id.clone(),
                    caller: info.caller.clone(),
                    dialled: info.dialled.clone(),
                    timeout,
                });
                Awaited::Pending {
                    until: ctx.now + timeout,
                }
            }
            None => Awaited::Ready(None),
        };
        ctx.index().bind_tag(&local_tag, key);
        ctx.index().bind_invite(invite_key.clone(), key);
        let media = CallerMedia {
            port,
            params: media_params(&offer, &neg, &security),
            offer,
            neg,
            security,
            sdp_session,
            sdp_version: 1,
            open: false,
            late_offer: late,
            reoffer_pending: None,
            last_sent: None,
        };
        // RFC 3262 §3: a caller that requires reliable provisional responses gets none
        // but 100 (we send none reliably): the ring before the answer is silent.
        let ring =
            !crate::sip::extensions::requires(&req, crate::sip::extensions::RELIABLE_PROVISIONALS);
        drop(_enter);
        let mut call = Call {
            key,
            span,
            dialog,
            state: State::Offered {
                invite_key,
                invite: Box::new(req),
                answer_at: ctx.now + ctx.cfg.ring_before_answer,
            },
            media,
            prerouting: Prerouting { history, crm },
            flow,
            people: People::None,
            created: ctx.now,
            taping: Default::default(),
            hang_up_at_ack: None,
            session_timer,
        };
        let _enter = call.span.clone().entered();
        if ctx.cfg.ring_before_answer.is_zero() {
            call.answer(ctx);
        } else if ring {
            call.send_provisional(ctx, 180);
        }
        call.drain_flow(ctx);
        Ok(call)
    }

    pub fn key(&self) -> CallKey {
        self.key
    }

    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    pub fn info(&self) -> &CallInfo {
        self.flow.info()
    }

    pub fn call_id(&self) -> &str {
        &self.dialog.id.call_id
    }

    pub fn local_tag(&self) -> &str {
        &self.dialog.id.local_tag
    }

    pub fn created(&self) -> Instant {
        self.created
    }

    /// The caller's RTP port (returned to the pool when the call is released).
    pub fn port(&self) -> u16 {
        self.media.port
    }

    /// The caller's negotiated codec (offered first to managers' phones, so the relay
    /// can pass payloads through untouched).
    pub(super) fn caller_codec(&self) -> sdp::Codec {
        self.media.neg.codec
    }

    /// Over, and nothing (a recording, an orphaned leg) left to report.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Finished) && self.flow.is_finished() && self.taping.is_off()
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ending { .. } | State::Finished)
    }

    /// The address in-dialog requests of the dialog with `call_id` must come from: the
    /// caller's (where its INVITE came from) or a leg's phone. `None`: not this call's.
    pub fn dialog_peer(&self, call_id: &str) -> Option<std::net::IpAddr> {
        if self.dialog.id.call_id == call_id {
            return Some(self.dialog.peer.addr.ip());
        }
        self.people.leg_peer(call_id)
    }

    /// Whether a request with this Call-ID belongs to this call (its own dialog or one
    /// of its legs').
    pub fn owns_call_id(&self, id: &str) -> bool {
        self.dialog.id.call_id == id || self.people.owns_call_id(id)
    }

    /// The invite server transaction while it is open.
    pub fn invite_key(&self) -> Option<&ServerKey> {
        match &self.state {
            State::Offered { invite_key, .. } | State::Answering { invite_key } => Some(invite_key),
            _ => None,
        }
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = self.own_timeout();
        match self.taping.deadline() {
            Some(t) => Some(own.map_or(t, |o| o.min(t))),
            None => own,
        }
    }

    fn own_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Offered { answer_at, .. } => Some(*answer_at),
            State::Active => [
                self.session_deadline(),
                self.flow.poll_timeout(),
                self.people.poll_timeout(),
                self.prerouting.history.pending_until(),
                self.prerouting.crm.pending_until(),
            ]
            .into_iter()
            .flatten()
            .min(),
            State::Answering { .. } | State::Ending { .. } | State::Finished => {
                self.flow.poll_timeout()
            }
        }
    }

    // ---- inputs ---------------------------------------------------------------------

    pub fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.taping_timeout(ctx);
        match &self.state {
            State::Offered { answer_at, .. } if *answer_at <= ctx.now => self.answer(ctx),
            State::Active if self.session_deadline().is_some_and(|t| t <= ctx.now) => {
                self.session_expired(ctx)
            }
            State::Active => {
                if self.prerouting.history.is_due(ctx.now) {
                    tracing::warn!(
                        "the caller's history did not arrive in time; routing without it"
                    );
                    self.prerouting.history = Awaited::Ready(None);
                    self.start_flow(ctx);
                }
                if self.prerouting.crm.is_due(ctx.now) {
                    tracing::warn!("the CRM lookup did not answer in time; routing without it");
                    self.prerouting.crm = Awaited::Ready(None);
                    ctx.event(super::CallEvent::LookedUp {
                        key: self.key,
                        answer: None,
                        failure: Some(super::LookupFailure::Timeout),
                    });
                    self.start_flow(ctx);
                }
                let states = ctx.states();
                self.flow.handle_timeout(ctx.now, ctx.wall, &states);
                self.people_timeout(ctx);
            }
            _ => {
                let states = ctx.states();
                self.flow.handle_timeout(ctx.now, ctx.wall, &states);
            }
        }
        self.drain_flow(ctx);
    }

    pub fn handle_lookup(&mut self, ctx: &mut Ctx<'_>, result: LookupResult) {
        match result {
            LookupResult::History(h) => {
                if self.prerouting.history.pending_until().is_none() {
                    return;
                }
                self.prerouting.history = Awaited::Ready(h);
            }
            LookupResult::Crm(r) => {
                // A late answer (after the timeout) changes nothing.
                if self.prerouting.crm.pending_until().is_none() {
                    return;
                }
                let (answer, failure) = match r {
                    Ok(a) => {
                        tracing::info!("CRM lookup: {}", describe_crm(&a));
                        (Some(a), None)
                    }
                    Err(f) => {
                        tracing::warn!("CRM lookup failed ({}); routing without it", f.as_str());
                        (None, Some(f))
                    }
                };
                self.prerouting.crm = Awaited::Ready(answer.clone());
                ctx.event(super::CallEvent::LookedUp {
                    key: self.key,
                    answer,
                    failure,
                });
            }
        }
        self.start_flow(ctx);
        self.drain_flow(ctx);
    }

    pub fn handle_ack(&mut self, ctx: &mut Ctx<'_>, ack: &rsip::Request) {
        if let State::Answering { invite_key } = &self.state {
            ctx.index().unbind_invite(&invite_key.clone());
            self.state = State::Active;
            if let Some(cause) = self.hang_up_at_ack.take() {
                return self.hangup(ctx, cause);
            }
            if !self.take_late_answer(ctx, ack) {
                return self.drain_flow(ctx);
            }
            tracing::debug!("ACK received, starting the IVR");
            self.start_flow(ctx);
        } else {
            self.take_reoffer_answer(ctx, ack);
        }
        self.drain_flow(ctx);
    }

    pub fn handle_cancel(&mut self, ctx: &mut Ctx<'_>) {
        if let State::Offered {
            invite_key, invite, ..
        } = std::mem::replace(&mut self.state, State::Finished)
        {
            let resp = crate::sip::response::refuse(
                &invite,
                Refusal::Terminated,
                Some(&self.dialog.id.local_tag),
            );
            ctx.send_response(invite_key, resp);
            tracing::info!("caller hung up before answer (CANCEL)");
            self.end(ctx, EndCause::CallerCancelled);
        }
    }

    /// Switchboard is stopping and the drain is over: BYE (or 503 before the answer),
    /// and the call ends as [`EndCause::Stopped`].
    pub fn handle_stop(&mut self, ctx: &mut Ctx<'_>) {
        self.hangup(ctx, EndCause::Stopped);
    }

    /// Our 200 was never acknowledged (Timer H).
    pub fn handle_ack_timeout(&mut self, ctx: &mut Ctx<'_>) {
        tracing::warn!("no ACK for our 200 OK: ending the call");
        // The server transaction is over: a BYE may go now (RFC 3261 §15).
        if let State::Answering { invite_key } = &self.state {
            ctx.index().unbind_invite(&invite_key.clone());
            self.state = State::Active;
        }
        self.hang_up_at_ack = None;
        self.hangup(ctx, EndCause::NoAck);
    }

    // ---- the caller's leg -----------------------------------------------------------

    fn send_provisional(&mut self, ctx: &mut Ctx<'_>, code: u16) {
        if let State::Offered {
            invite_key, invite, ..
        } = &self.state
        {
            let mut resp =
                crate::sip::response::make_response(invite, code, Some(&self.dialog.id.local_tag));
            resp.headers.push(rsip::Header::Contact(
                ctx.contact(self.dialog.transport()).into(),
            ));
            let key = invite_key.clone();
            ctx.send_response(key, resp);
        }
    }

    fn local_media(&self, ctx: &Ctx<'_>) -> LocalMedia {
        LocalMedia {
            ip: ctx.cfg.media_ip,
            port: self.media.port,
            session_id: self.media.sdp_session,
            session_version: self.media.sdp_version,
        }
    }

    /// Send 200 OK with our SDP answer and open the media stream.
    fn answer(&mut self, ctx: &mut Ctx<'_>) {
        let State::Offered {
            invite_key, invite, ..
        } = std::mem::replace(&mut self.state, State::Active)
        else {
            return;
        };
        let answer = match &self.media.late_offer {
            Some(late) => late.sdp.clone(),
            None => self.answer_sdp(ctx),
        };
        self.media.last_sent = Some(session::without_version(&answer));
        let mut resp =
            crate::sip::response::make_response(&invite, 200, Some(&self.dialog.id.local_tag));
        ctx.add_uas_headers(&mut resp.headers, self.dialog.transport());
        if let SessionTiming::Agreed { interval } = self.session_timer {
            let timer = SessionTimer::start(ctx.now, interval);
            timer.add_headers(&mut resp.headers);
            tracing::info!("session timer: the caller's side refreshes every {interval} s at most");
            self.session_timer = SessionTiming::Running(timer);
        }
        set_body(
            &mut resp.headers,
            &mut resp.body,
            "application/sdp",
            answer.into_bytes(),
        );
        // With our offer in the 200, the stream opens with the answer in the ACK.
        if self.media.late_offer.is_none() {
            self.open_media(ctx);
        }
        ctx.send_response(invite_key.clone(), resp);
        self.state = State::Answering { invite_key };
        tracing::info!(
            "answered after {} ms",
            ctx.now.saturating_duration_since(self.created).as_millis()
        );
        if self.flow.keeps_record() {
            ctx.event(super::CallEvent::Answered { key: self.key });
        }
    }

    /// Open the caller's stream with the negotiated media.
    fn open_media(&mut self, ctx: &mut Ctx<'_>) {
        let (ssrc, seq, ts) = (ctx.random_u32(), ctx.random_u16(), ctx.random_u32());
        ctx.media_cmd(MediaCommand::Open {
            call: self.key,
            port: self.media.port,
            params: self.media.params.clone(),
            inband_dtmf: ctx.cfg.inband_dtmf,
            ssrc,
            seq,
            ts,
        });
        self.media.open = true;
    }

    fn start_flow(&mut self, ctx: &mut Ctx<'_>) {
        if !matches!(self.state, State::Active) {
            return;
        }
        let (Awaited::Ready(history), Awaited::Ready(crm)) =
            (&self.prerouting.history, &self.prerouting.crm)
        else {
            return;
        };
        let (history, crm) = (history.clone(), crm.clone());
        let states = ctx.states();
        self.flow
            .start_with(ctx.now, ctx.wall, &states, history, crm);
    }

    /// End the call from our side (BYE, or a final response before we answered).
    pub(super) fn hangup(&mut self, ctx: &mut Ctx<'_>, cause: EndCause) {
        match &self.state {
            State::Ending { .. } | State::Finished => {}
            State::Offered { .. } => {
                // Never answered: reject the INVITE instead of BYE.
                if let State::Offered {
                    invite_key, invite, ..
                } = std::mem::replace(&mut self.state, State::Finished)
                {
                    // A stop answers 503, which sends a proxy in front to another
                    // instance (RFC 3263 §4.3); anything else, 480.
                    let why = match cause {
                        EndCause::Stopped => Refusal::NoCapacity,
                        _ => Refusal::Unavailable,
                    };
                    let resp =
                        crate::sip::response::refuse(&invite, why, Some(&self.dialog.id.local_tag));
                    ctx.send_response(invite_key, resp);
                }
                self.end(ctx, cause);
            }
            State::Answering { .. } => {
                // RFC 3261 §15: no BYE before the ACK; the first cause is kept.
                self.hang_up_at_ack.get_or_insert(cause);
            }
            State::Active => {
                let branch = ctx.new_branch();
                let bye = self.dialog.build_request(
                    rsip::Method::Bye,
                    ctx.cfg.local_addr(self.dialog.transport()),
                    &branch,
                    &[],
                    None,
                );
                self.end(ctx, cause);
                self.state = match bye {
                    Some(bye) => {
                        let k = ctx.send_request(bye, self.dialog.peer);
                        ctx.index().bind_client(k.clone(), self.key);
                        State::Ending { bye: k }
                    }
                    None => State::Finished,
                };
            }
        }
    }

    /// Common end of a call: stop its legs, close media, decide the outcome, report.
    fn end(&mut self, ctx: &mut Ctx<'_>, cause: EndCause) {
        // Out of the connect policy first, so stopping the legs does not start a
        // new round.
        let outcome = self.flow.handle_end(ctx.now, cause);
        self.drain_flow(ctx);
        self.end_people(ctx);
        self.stop_taping(ctx);
        if self.media.open {
            ctx.media_cmd(MediaCommand::Close { call: self.key });
            self.media.open = false;
        }
        let _ = outcome;
        if !matches!(self.state, State::Ending { .. }) {
            self.state = State::Finished;
        }
    }
}

/// One log line for a CRM answer.
fn describe_crm(a: &crate::model::CrmAnswer) -> String {
    if a.is_empty() {
        return "the CRM does not know this caller".into();
    }
    let mut parts = Vec::new();
    if let Some(o) = &a.owner {
        parts.push(format!("owner {o}"));
    }
    if let Some(d) = &a.department {
        parts.push(format!("department {d}"));
    }
    if let Some(p) = a.priority {
        parts.push(format!("priority {p}"));
    }
    if let Some(n) = &a.display_name {
        parts.push(format!("name \"{n}\""));
    }
    if !a.tags.is_empty() {
        parts.push(format!("tags {}", a.tags.join(", ")));
    }
    parts.join(", ")
}

/// Trunks send OPTIONS as a keepalive/health check: always 200 with our capabilities.
pub fn respond_options(ctx: &mut Ctx<'_>, key: ServerKey, req: &rsip::Request) {
    let timers = ctx.cfg.session_expires_secs != 0;
    ctx.send_response(key, crate::sip::response::options_ok(req, timers));
}
