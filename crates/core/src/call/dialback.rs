//! The automatic dial-back of a caller who chose to be called back while queued: a
//! call *we* start, its own state machine next to the inbound [`super::Call`].
//!
//! The caller's place stays in the department's queue as a virtual entry of the
//! connect policy. When it reaches the head and a manager is free, the policy's `Ring`
//! comes here: the manager is rung first (with the customer's number on their
//! display), hears a short whisper ("callback for sales, the caller is +49…"), and only
//! then is the customer dialled through the `[callbacks]` trunk and bridged.
//!
//! ```text
//!  Waiting ──Ring──▶ RingingManagers ──a manager answers──▶ Whisper ──played──▶ DialingCustomer
//!     ▲                 │ nobody: the policy decides                               │ answers
//!     │                 ▼ (next round, queue, or Failed → parked)                  ▼
//!     │  (Park: back-off)                                                       Bridged ──BYE──▶ Finished
//!     └──── attempts left ◀── Telling the manager ◀── busy / no answer / voicemail ─┘
//!                                  └── no attempts left: an open callback request ──▶ Finished
//! ```
//! Every dial-out is recorded ([`DialbackAttempt`]), and the entry's progress is
//! saved ([`QueuedCallback`]) so a restart keeps the place and the attempts. How an
//! attempt ends (retries, giving up, the manager's keys) is in `dialback/ending.rs`.

mod ending;

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::context::{ConnectInput, Ctx};
use super::inbound::respond_options;
use super::leg::{Leg, LegState, RingSpec, handle_provisional, ring_outcome, ring_phones};
use super::program::{CallContextInfo, CallInfo};
use super::trunk::{answer_challenge, start_customer_leg};
use crate::config::DialPlan;
use crate::config::queueing::{digit_prompts, prompts as p};
use crate::connect::ConnectOutput;
use crate::dialog::Dialog;
use crate::media::feature_gate::FeatureGate;
use crate::media::{CallKey, DigitSource, MediaCommand, MediaEvent, MediaParams};
use crate::model::{CustomerOutcome, DialbackStatus, QueuedCallback, RingOutcome, StoreWrite};
use crate::sdp;
use crate::sip::rsip::{self, prelude::*};
use crate::transaction::{ClientKey, ServerKey};

/// The code a manager dials during a dial-back when they hear the customer's
/// voicemail: the attempt counts as not reached and is retried.
pub const VOICEMAIL_CODE: &str = "*9";
/// How long the manager hears why the customer was not reached before we hang up.
const TELL_GRACE: Duration = Duration::from_secs(10);
/// Play ids on the manager's leg.
const WHISPER_ID: u32 = 1;
const RINGBACK_ID: u32 = 2;
const TELL_ID: u32 = 3;

#[derive(Debug)]
enum State {
    /// In the connect policy's queue (or parked for a retry): no SIP.
    Waiting,
    RingingManagers(Vec<Leg>),
    Whisper {
        manager: Box<Leg>,
    },
    DialingCustomer {
        manager: Box<Leg>,
        customer: Box<Leg>,
        challenged: bool,
    },
    Bridged {
        manager: Box<Leg>,
        customer: Box<Leg>,
        since: Instant,
        keys: Option<FeatureGate>,
    },
    /// The manager hears why the customer was not reached, until `until`.
    Telling {
        manager: Box<Leg>,
        until: Instant,
        outcome: CustomerOutcome,
        status: Option<u16>,
    },
    Finished,
}

/// One caller's dial-back.
#[derive(Debug)]
pub struct Dialback {
    key: CallKey,
    span: tracing::Span,
    entry: QueuedCallback,
    plan: Arc<DialPlan>,
    state: State,
    /// The current attempt: when the manager answered, and who.
    attempt: Option<(jiff::Timestamp, String)>,
}

impl Dialback {
    /// `entry` waits in the queue under `key` (the connect policy was told).
    pub fn new(key: CallKey, entry: QueuedCallback, plan: Arc<DialPlan>) -> Self {
        let span = tracing::info_span!("dialback", id = %entry.id, number = %entry.number, department = %entry.department);
        Dialback {
            key,
            span,
            entry,
            plan,
            state: State::Waiting,
            attempt: None,
        }
    }

    pub fn key(&self) -> CallKey {
        self.key
    }

    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    pub fn entry(&self) -> &QueuedCallback {
        &self.entry
    }

    /// Waiting in the queue (not dialling now).
    pub fn is_waiting(&self) -> bool {
        matches!(self.state, State::Waiting)
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    fn legs(&self) -> Vec<&Leg> {
        match &self.state {
            State::Waiting | State::Finished => Vec::new(),
            State::RingingManagers(legs) => legs.iter().collect(),
            State::Whisper { manager } | State::Telling { manager, .. } => vec![manager],
            State::DialingCustomer {
                manager, customer, ..
            }
            | State::Bridged {
                manager, customer, ..
            } => vec![manager, customer],
        }
    }

    pub fn owns_call_id(&self, id: &str) -> bool {
        self.legs().iter().any(|l| l.call_id() == Some(id))
    }

    pub fn dialog_peer(&self, call_id: &str) -> Option<std::net::IpAddr> {
        self.legs()
            .iter()
            .find(|l| l.call_id() == Some(call_id))
            .map(|l| l.peer.addr.ip())
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::RingingManagers(legs) => legs.iter().map(|l| l.ring_until).min(),
            State::DialingCustomer { customer, .. } => Some(customer.ring_until),
            State::Telling { until, .. } => Some(*until),
            _ => None,
        }
    }

    fn info(&self) -> CallInfo {
        CallInfo {
            call_id: self.entry.id.clone(),
            caller: self.entry.number.clone(),
            caller_name: Some(format!("Callback {}", self.entry.department)),
            dialled: self.entry.dialled.clone(),
            started_at: self.entry.requested_at,
        }
    }

    // ---- the connect policy --------------------------------------------------------

    pub fn handle_connect(&mut self, ctx: &mut Ctx<'_>, out: ConnectOutput) {
        match out {
            ConnectOutput::Ring {
                managers,
                ring_timeout,
                department,
                ..
            } if matches!(self.state, State::Waiting | State::RingingManagers(_)) => {
                let info = self.info();
                let context = CallContextInfo {
                    source: "callback".into(),
                    ivr_path: String::new(),
                    returning: None,
                    reason: format!(
                        "callback requested {}, attempt {} of {}",
                        self.entry.requested_at.strftime("%Y-%m-%d %H:%M UTC"),
                        self.entry.attempts + 1,
                        self.plan.callbacks.attempts
                    ),
                    ..CallContextInfo::default()
                };
                let codec = ctx.cfg.codecs.first().copied().unwrap_or(sdp::Codec::Pcmu);
                let mut started = Vec::new();
                for m in &managers {
                    let spec = RingSpec {
                        owner: self.key,
                        plan: &self.plan,
                        manager: m,
                        ring_timeout,
                        department: department.as_deref(),
                        info: &info,
                        context: &context,
                        codec,
                    };
                    let legs = ring_phones(ctx, &spec);
                    if legs.is_empty() {
                        ctx.connect(ConnectInput::RingEnded {
                            call: self.key,
                            manager: m.clone(),
                            outcome: RingOutcome::Failed,
                        });
                    }
                    started.extend(legs);
                }
                tracing::info!("the callback's turn: ringing {} first", managers.join(", "));
                match &mut self.state {
                    State::RingingManagers(legs) => legs.extend(started),
                    _ if !started.is_empty() => self.state = State::RingingManagers(started),
                    _ => {}
                }
            }
            ConnectOutput::Failed { reason, .. } => {
                // Nobody can take it now (after hours, everyone away): try again later
                // without counting an attempt.
                tracing::info!("no manager for the callback now ({reason}); retrying later");
                self.state = State::Waiting;
                let wait = self.plan.callbacks.retry;
                self.park(ctx, wait);
            }
            ConnectOutput::Wait { .. } => self.state = State::Waiting,
            _ => {}
        }
    }

    // ---- SIP -----------------------------------------------------------------------

    pub fn handle_response(&mut self, ctx: &mut Ctx<'_>, key: &ClientKey, resp: rsip::Response) {
        let code = resp.status_code.code();
        match &mut self.state {
            State::RingingManagers(legs) => {
                let Some(i) = legs.iter().position(|l| &l.invite_key == key) else {
                    return;
                };
                match code {
                    100 => {}
                    101..=199 => handle_provisional(legs, i, ctx),
                    200..=299 => self.manager_answered(ctx, i, &resp),
                    _ => {
                        let leg = legs.remove(i);
                        let outcome = ring_outcome(code);
                        tracing::info!("{} answered {code}: {outcome:?}", leg.manager);
                        let manager = leg.manager.clone();
                        leg.release(ctx);
                        if legs.is_empty() {
                            self.state = State::Waiting;
                        }
                        ctx.connect(ConnectInput::RingEnded {
                            call: self.key,
                            manager,
                            outcome,
                        });
                    }
                }
            }
            State::DialingCustomer {
                customer,
                challenged,
                ..
            } if &customer.invite_key == key => match code {
                100 => {}
                101..=199 => {
                    if let LegState::Trying { cancel_pending } = customer.state {
                        customer.state = LegState::Ringing;
                        if cancel_pending {
                            let _ = ctx.send_request(
                                crate::transaction::make_cancel(&customer.invite),
                                customer.peer,
                            );
                        }
                    }
                }
                200..=299 => self.customer_answered(ctx, &resp),
                401 | 407 if !*challenged => {
                    *challenged = true;
                    let Some(trunk) = self.plan.callback_trunk().cloned() else {
                        return;
                    };
                    if !answer_challenge(ctx, self.key, &trunk, customer, &resp) {
                        self.customer_failed(ctx, CustomerOutcome::Failed, Some(code), false);
                    }
                }
                _ => {
                    let outcome = customer_outcome(code);
                    tracing::info!("the customer's end answered {code}: {outcome:?}");
                    self.customer_failed(ctx, outcome, Some(code), false);
                }
            },
            // A retransmitted 2xx: our ACK was lost (§13.2.2.4).
            State::Bridged {
                manager, customer, ..
            } if (200..300).contains(&code) => {
                if &manager.invite_key == key {
                    manager.ack(ctx);
                } else if &customer.invite_key == key {
                    customer.ack(ctx);
                }
            }
            State::Whisper { manager } | State::Telling { manager, .. }
                if &manager.invite_key == key && (200..300).contains(&code) =>
            {
                manager.ack(ctx);
            }
            State::DialingCustomer { manager, .. }
                if &manager.invite_key == key && (200..300).contains(&code) =>
            {
                manager.ack(ctx);
            }
            _ => {}
        }
    }

    pub fn handle_client_timeout(&mut self, ctx: &mut Ctx<'_>, key: &ClientKey) {
        match &mut self.state {
            State::RingingManagers(legs) => {
                let Some(i) = legs.iter().position(|l| &l.invite_key == key) else {
                    return;
                };
                let leg = legs.remove(i);
                let manager = leg.manager.clone();
                leg.release(ctx);
                if legs.is_empty() {
                    self.state = State::Waiting;
                }
                ctx.connect(ConnectInput::RingEnded {
                    call: self.key,
                    manager,
                    outcome: RingOutcome::Failed,
                });
            }
            State::DialingCustomer { customer, .. } if &customer.invite_key == key => {
                tracing::warn!("the outbound trunk did not respond");
                self.customer_failed(ctx, CustomerOutcome::Failed, None, false);
            }
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        match &mut self.state {
            State::RingingManagers(legs) => {
                let (expired, ringing): (Vec<Leg>, Vec<Leg>) = std::mem::take(legs)
                    .into_iter()
                    .partition(|l| l.ring_until <= now);
                *legs = ringing;
                let empty = legs.is_empty();
                if empty {
                    self.state = State::Waiting;
                }
                for leg in expired {
                    tracing::info!("{} did not answer the callback's ring", leg.manager);
                    let manager = leg.manager.clone();
                    leg.abandon(ctx);
                    ctx.connect(ConnectInput::RingEnded {
                        call: self.key,
                        manager,
                        outcome: RingOutcome::NoAnswer,
                    });
                }
            }
            State::DialingCustomer { customer, .. } if customer.ring_until <= now => {
                tracing::info!("the customer did not answer");
                self.customer_failed(ctx, CustomerOutcome::NoAnswer, None, true);
            }
            State::Telling { until, .. } if *until <= now => self.release_manager(ctx),
            _ => {}
        }
    }

    /// A request in one of the legs' dialogs (by our tag on it).
    pub fn handle_in_dialog(&mut self, ctx: &mut Ctx<'_>, key: ServerKey, req: rsip::Request) {
        let to_tag = crate::sip::headers::to_tag(&req).unwrap_or_default();
        let which = self.legs().iter().position(|l| l.local_tag == to_tag);
        let Some(which) = which else {
            return ctx.respond(key, &req, 481);
        };
        let is_manager = self
            .legs()
            .get(which)
            .is_some_and(|l| l.manager != "customer");
        match req.method {
            rsip::Method::Bye => {
                ctx.respond(key, &req, 200);
                self.hung_up(ctx, is_manager);
            }
            rsip::Method::Info => {
                let ctype = req.header_value("Content-Type").unwrap_or_default();
                let digit = crate::media::info::parse_info_dtmf(&ctype, &req.body);
                ctx.respond(key, &req, 200);
                if let (Some(d), true) = (digit, is_manager) {
                    self.manager_digit(ctx, d);
                }
            }
            rsip::Method::Invite => self.reinvite(ctx, key, req, is_manager),
            rsip::Method::Options => respond_options(ctx, key, &req),
            rsip::Method::Ack => {}
            _ => ctx.respond(key, &req, 405),
        }
    }

    /// A media event on one of the legs.
    pub fn handle_media_event(&mut self, ctx: &mut Ctx<'_>, media: CallKey, ev: MediaEvent) {
        let manager_key = match &self.state {
            State::Whisper { manager }
            | State::DialingCustomer { manager, .. }
            | State::Bridged { manager, .. }
            | State::Telling { manager, .. } => Some(manager.media_key),
            _ => None,
        };
        let from_manager = manager_key == Some(media);
        match ev {
            MediaEvent::PlaybackFinished { play_id, .. } if from_manager => match play_id {
                WHISPER_ID if matches!(self.state, State::Whisper { .. }) => {
                    self.dial_customer(ctx)
                }
                RINGBACK_ID if matches!(self.state, State::DialingCustomer { .. }) => {
                    ctx.media_cmd(MediaCommand::Play {
                        call: media,
                        play_id: RINGBACK_ID,
                        prompts: vec!["ringback".into()],
                        first_key_wait: Duration::ZERO,
                    });
                }
                TELL_ID => self.release_manager(ctx),
                _ => {}
            },
            MediaEvent::FeatureCode { code } if from_manager => self.manager_code(ctx, &code),
            MediaEvent::Digit {
                digit,
                source: DigitSource::Info | DigitSource::Inband,
            } if from_manager => self.manager_digit(ctx, digit),
            MediaEvent::RtpTimeout | MediaEvent::Failed { .. } => {
                tracing::info!("a dial-back leg lost its media: ending the conversation");
                self.hung_up(ctx, !from_manager);
            }
            _ => {}
        }
    }

    // ---- steps ---------------------------------------------------------------------

    fn manager_answered(&mut self, ctx: &mut Ctx<'_>, i: usize, resp: &rsip::Response) {
        let State::RingingManagers(legs) = &mut self.state else {
            return;
        };
        if i >= legs.len() {
            return;
        }
        let mut leg = legs.remove(i);
        let others = std::mem::take(legs);
        let dialog = match Dialog::new_uac(&leg.invite, resp, leg.peer, &leg.local_tag) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("{}'s 200 OK is unusable ({e})", leg.manager);
                let manager = leg.manager.clone();
                leg.abandon(ctx);
                self.state = if others.is_empty() {
                    State::Waiting
                } else {
                    State::RingingManagers(others)
                };
                ctx.connect(ConnectInput::RingEnded {
                    call: self.key,
                    manager,
                    outcome: RingOutcome::Failed,
                });
                return;
            }
        };
        leg.state = LegState::Up {
            dialog: Box::new(dialog),
        };
        leg.ack(ctx);
        let answered = sdp::parse_answer_media(&resp.body, &leg.offered).and_then(|(a, neg)| {
            sdp::crypto::answered_security(&a, &leg.crypto, leg.security).map(|s| (neg, s))
        });
        if let Ok((neg, srtp)) = answered {
            leg.media = Some(MediaParams {
                remote: neg.remote,
                codec: neg.codec,
                pt: neg.payload_type,
                te_pt: neg.telephone_event_pt,
                hold: false,
                srtp,
            });
        }
        for other in others {
            let manager = other.manager.clone();
            other.answered_elsewhere(ctx);
            ctx.connect(ConnectInput::RingEnded {
                call: self.key,
                manager,
                outcome: RingOutcome::Cancelled,
            });
        }
        tracing::info!("{} took the callback", leg.manager);
        ctx.connect(ConnectInput::Answered {
            call: self.key,
            manager: leg.manager.clone(),
        });
        self.attempt = Some((ctx.wall, leg.manager.clone()));
        self.entry.status = DialbackStatus::Dialing;
        self.entry.updated_at = ctx.wall;
        ctx.store(StoreWrite::QueueCallback(self.entry.clone()));
        leg.open_media(ctx);
        ctx.media_cmd(MediaCommand::FeatureCodes {
            call: leg.media_key,
            codes: vec![VOICEMAIL_CODE.to_string()],
            timeout: self.plan.transfer.digit_timeout,
        });
        if self.plan.callbacks.whisper {
            let mut prompts = vec![p::WHISPER_FOR.to_string()];
            if let Some(name) = self
                .plan
                .departments
                .get(&self.entry.department)
                .and_then(|d| d.queue.name_prompt.clone())
            {
                prompts.push(name);
            }
            prompts.push(p::WHISPER_CALLER.into());
            prompts.extend(digit_prompts(&self.entry.number));
            tracing::debug!("playing the whisper to {}: {prompts:?}", leg.manager);
            ctx.media_cmd(MediaCommand::Play {
                call: leg.media_key,
                play_id: WHISPER_ID,
                prompts,
                first_key_wait: Duration::ZERO,
            });
            self.state = State::Whisper {
                manager: Box::new(leg),
            };
        } else {
            self.state = State::Whisper {
                manager: Box::new(leg),
            };
            self.dial_customer(ctx);
        }
    }

    /// The whisper is over: call the customer through the trunk.
    fn dial_customer(&mut self, ctx: &mut Ctx<'_>) {
        let State::Whisper { .. } = &self.state else {
            return;
        };
        let Some(trunk) = self.plan.callback_trunk().cloned() else {
            tracing::warn!("no [callbacks] trunk any more: the callback cannot be dialled");
            return self.customer_failed(ctx, CustomerOutcome::Failed, None, false);
        };
        // Checked again: the plan (and its allowed prefixes) may have changed since.
        let dial = match trunk.check_number(&self.entry.number) {
            Ok(d) => d,
            Err(why) => {
                tracing::warn!(
                    "the callback number {} is refused ({why})",
                    self.entry.number
                );
                return self.customer_failed(ctx, CustomerOutcome::Failed, None, false);
            }
        };
        let Some(customer) = start_customer_leg(ctx, self.key, &trunk, &dial, &self.entry.id)
        else {
            tracing::warn!("no free RTP port for the customer's leg");
            return self.customer_failed(ctx, CustomerOutcome::Failed, None, false);
        };
        let State::Whisper { manager } = std::mem::replace(&mut self.state, State::Waiting) else {
            return;
        };
        ctx.media_cmd(MediaCommand::Play {
            call: manager.media_key,
            play_id: RINGBACK_ID,
            prompts: vec!["ringback".into()],
            first_key_wait: Duration::ZERO,
        });
        self.state = State::DialingCustomer {
            manager,
            customer: Box::new(customer),
            challenged: false,
        };
    }

    fn customer_answered(&mut self, ctx: &mut Ctx<'_>, resp: &rsip::Response) {
        let State::DialingCustomer {
            manager,
            mut customer,
            ..
        } = std::mem::replace(&mut self.state, State::Waiting)
        else {
            return;
        };
        let dialog = Dialog::new_uac(&customer.invite, resp, customer.peer, &customer.local_tag);
        let neg = sdp::parse_answer(&resp.body, &customer.offered);
        match (dialog, neg) {
            (Ok(dialog), Ok(neg)) => {
                customer.state = LegState::Up {
                    dialog: Box::new(dialog),
                };
                customer.ack(ctx);
                // Outbound trunks are plain RTP (docs/queues.md).
                customer.media = Some(MediaParams {
                    remote: neg.remote,
                    codec: neg.codec,
                    pt: neg.payload_type,
                    te_pt: neg.telephone_event_pt,
                    hold: false,
                    srtp: None,
                });
                customer.open_media(ctx);
                ctx.media_cmd(MediaCommand::Bridge {
                    a: manager.media_key,
                    b: customer.media_key,
                });
                tracing::info!("the customer answered: connected to {}", manager.manager);
                self.state = State::Bridged {
                    manager,
                    customer,
                    since: ctx.now,
                    keys: None,
                };
            }
            (dialog, _) => {
                tracing::warn!("the customer's 200 OK is unusable; hanging up");
                if let Ok(d) = dialog {
                    customer.state = LegState::Up {
                        dialog: Box::new(d),
                    };
                    customer.ack(ctx);
                }
                self.state = State::DialingCustomer {
                    manager,
                    customer,
                    challenged: true,
                };
                self.customer_failed(ctx, CustomerOutcome::Failed, Some(200), true);
            }
        }
    }
}

pub use ending::customer_outcome;
