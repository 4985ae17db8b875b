//! How a dial-back attempt ends (the second half of [`super::Dialback`]): the
//! customer not reached (the manager is told, the attempt counted), either side
//! hanging up, the back-off before the next attempt, giving up into an open callback
//! request, and what the manager can do while bridged (the voicemail code,
//! re-INVITEs for hold).

use std::time::Duration;

use super::{Dialback, State, TELL_GRACE, TELL_ID, VOICEMAIL_CODE};
use crate::call::context::{ConnectInput, Ctx, set_body};
use crate::config::queueing::prompts as p;
use crate::media::feature_gate::{FeatureGate, GateOutput};
use crate::media::{MediaCommand, MediaParams};
use crate::model::{
    CallbackReason, CustomerOutcome, DialbackAttempt, DialbackStatus, NewCallback, StoreWrite,
};
use crate::sdp;
use crate::sip::rsip;
use crate::transaction::ServerKey;

impl Dialback {
    /// The customer was not reached: stop their leg, tell the manager, and count the
    /// attempt. `cancel`: their leg is still ringing (CANCEL it).
    pub(super) fn customer_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        outcome: CustomerOutcome,
        status: Option<u16>,
        cancel: bool,
    ) {
        let manager = match std::mem::replace(&mut self.state, State::Waiting) {
            State::DialingCustomer {
                manager, customer, ..
            } => {
                if cancel || customer.is_up() {
                    customer.abandon(ctx);
                } else {
                    customer.release(ctx);
                }
                manager
            }
            State::Whisper { manager } => manager,
            other => {
                self.state = other;
                return;
            }
        };
        ctx.media_cmd(MediaCommand::Play {
            call: manager.media_key,
            play_id: TELL_ID,
            prompts: vec![p::CUSTOMER_UNREACHABLE.into()],
            first_key_wait: Duration::ZERO,
        });
        self.state = State::Telling {
            manager,
            until: ctx.now + TELL_GRACE,
            outcome,
            status,
        };
    }

    /// The manager heard why: hang up on them, then count the attempt.
    pub(super) fn release_manager(&mut self, ctx: &mut Ctx<'_>) {
        let State::Telling {
            manager,
            outcome,
            status,
            ..
        } = std::mem::replace(&mut self.state, State::Waiting)
        else {
            return;
        };
        let name = manager.manager.clone();
        manager.abandon(ctx);
        self.talk_ended(ctx, &name);
        self.finish_attempt(ctx, outcome, status, None);
    }

    /// Someone hung up (`manager`: the manager's phone, else the customer's end).
    pub(super) fn hung_up(&mut self, ctx: &mut Ctx<'_>, manager_side: bool) {
        match std::mem::replace(&mut self.state, State::Waiting) {
            State::Bridged {
                manager,
                customer,
                since,
                ..
            } => {
                let talk = ctx.now.saturating_duration_since(since);
                tracing::info!(
                    "the callback conversation ended after {:.0} s ({} hung up)",
                    talk.as_secs_f64(),
                    if manager_side {
                        "the manager"
                    } else {
                        "the customer"
                    }
                );
                let name = manager.manager.clone();
                if manager_side {
                    manager.release(ctx);
                    customer.abandon(ctx);
                } else {
                    customer.release(ctx);
                    manager.abandon(ctx);
                }
                self.talk_ended(ctx, &name);
                let ms = u64::try_from(talk.as_millis()).unwrap_or(u64::MAX);
                self.finish_attempt(ctx, CustomerOutcome::Answered, None, Some(ms));
            }
            State::Whisper { manager } if manager_side => {
                let name = manager.manager.clone();
                manager.release(ctx);
                self.talk_ended(ctx, &name);
                self.finish_attempt(ctx, CustomerOutcome::NotDialled, None, None);
            }
            State::DialingCustomer {
                manager, customer, ..
            } if manager_side => {
                tracing::info!("the manager hung up before the customer answered");
                let name = manager.manager.clone();
                manager.release(ctx);
                customer.abandon(ctx);
                self.talk_ended(ctx, &name);
                self.finish_attempt(ctx, CustomerOutcome::NotDialled, None, None);
            }
            State::Telling { manager, .. } if manager_side => {
                // Hung up while hearing why: count the attempt as it was.
                self.state = State::Telling {
                    manager,
                    until: ctx.now,
                    outcome: CustomerOutcome::NoAnswer,
                    status: None,
                };
                if let State::Telling {
                    manager,
                    outcome,
                    status,
                    ..
                } = std::mem::replace(&mut self.state, State::Waiting)
                {
                    let name = manager.manager.clone();
                    manager.release(ctx);
                    self.talk_ended(ctx, &name);
                    self.finish_attempt(ctx, outcome, status, None);
                }
            }
            other => self.state = other,
        }
    }

    pub(super) fn talk_ended(&mut self, ctx: &mut Ctx<'_>, manager: &str) {
        ctx.connect(ConnectInput::TalkEnded {
            manager: manager.to_string(),
            plan: self.plan.clone(),
        });
    }

    /// One attempt is over: record it, then done, retry later, or give up.
    pub(super) fn finish_attempt(
        &mut self,
        ctx: &mut Ctx<'_>,
        outcome: CustomerOutcome,
        status: Option<u16>,
        talk_ms: Option<u64>,
    ) {
        let (started_at, manager) = self
            .attempt
            .take()
            .unwrap_or_else(|| (ctx.wall, String::new()));
        ctx.store(StoreWrite::DialbackAttempt(DialbackAttempt {
            callback_id: self.entry.id.clone(),
            manager,
            started_at,
            ended_at: ctx.wall,
            customer: outcome,
            status,
            talk_ms,
        }));
        let policy = self.plan.callbacks.clone();
        match outcome {
            CustomerOutcome::Answered => {
                self.finish(ctx, DialbackStatus::Connected, None);
            }
            CustomerOutcome::NotDialled => {
                self.entry.status = DialbackStatus::Waiting;
                self.park(ctx, policy.retry);
            }
            _ => {
                self.entry.attempts += 1;
                if self.entry.attempts >= policy.attempts {
                    tracing::info!(
                        "the customer was not reached in {} attempts: filing an open callback request",
                        self.entry.attempts
                    );
                    let request = NewCallback {
                        department: self.entry.department.clone(),
                        caller: self.entry.number.clone(),
                        dialled: self.entry.dialled.clone(),
                        source: self.entry.source.clone(),
                        at: self.entry.requested_at,
                        menu_path: Vec::new(),
                        reason: CallbackReason::DialbackFailed,
                        recording_path: None,
                        recording_secs: None,
                        recording_flag: None,
                    };
                    self.finish(ctx, DialbackStatus::GaveUp, Some(request));
                } else {
                    let wait = policy.backoff(self.entry.attempts);
                    tracing::info!(
                        "attempt {} of {} failed ({outcome:?}); next one in {} s",
                        self.entry.attempts,
                        policy.attempts,
                        wait.as_secs()
                    );
                    self.entry.status = DialbackStatus::Waiting;
                    self.park(ctx, wait);
                }
            }
        }
    }

    /// Back to the queue after `wait`, at the old place.
    pub(super) fn park(&mut self, ctx: &mut Ctx<'_>, wait: Duration) {
        self.state = State::Waiting;
        let not_before = ctx
            .wall
            .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default())
            .unwrap_or(ctx.wall);
        self.entry.not_before = Some(not_before);
        self.entry.updated_at = ctx.wall;
        ctx.store(StoreWrite::QueueCallback(self.entry.clone()));
        ctx.connect(ConnectInput::Park {
            call: self.key,
            until: ctx.now + wait,
        });
    }

    pub(super) fn finish(
        &mut self,
        ctx: &mut Ctx<'_>,
        status: DialbackStatus,
        request: Option<NewCallback>,
    ) {
        self.entry.status = status;
        self.entry.not_before = None;
        self.entry.updated_at = ctx.wall;
        ctx.connect(ConnectInput::Left { call: self.key });
        // The stored row keeps the last attempt's count (it was saved before the
        // attempt was counted), so the request's story says how often we tried.
        ctx.store(StoreWrite::QueueCallback(self.entry.clone()));
        ctx.store(StoreWrite::DialbackFinished {
            id: self.entry.id.clone(),
            status,
            at: ctx.wall,
            request,
        });
        self.state = State::Finished;
    }

    /// Switchboard is stopping: hang up every leg. A conversation under way counts as
    /// the customer reached (the callback is done); any other state leaves the stored
    /// entry as it is, so the next start takes the callback up again in its place.
    pub fn handle_stop(&mut self, ctx: &mut Ctx<'_>) {
        let legs = match std::mem::replace(&mut self.state, State::Finished) {
            State::Bridged {
                manager,
                customer,
                since,
                ..
            } => {
                let name = manager.manager.clone();
                manager.abandon(ctx);
                customer.abandon(ctx);
                self.talk_ended(ctx, &name);
                let talk = ctx.now.saturating_duration_since(since);
                let ms = u64::try_from(talk.as_millis()).unwrap_or(u64::MAX);
                tracing::info!(
                    "the callback conversation was cut off after {:.0} s: Switchboard is stopping",
                    talk.as_secs_f64()
                );
                self.finish_attempt(ctx, CustomerOutcome::Answered, None, Some(ms));
                self.state = State::Finished;
                return;
            }
            State::Waiting | State::Finished => Vec::new(),
            State::RingingManagers(legs) => legs,
            State::Whisper { manager } | State::Telling { manager, .. } => vec![*manager],
            State::DialingCustomer {
                manager, customer, ..
            } => vec![*manager, *customer],
        };
        if !legs.is_empty() {
            tracing::info!("the callback attempt was stopped: it stays queued for the next start");
        }
        for leg in legs {
            let manager = leg.is_up().then(|| leg.manager.clone());
            leg.abandon(ctx);
            if let Some(name) = manager.filter(|m| !m.is_empty()) {
                self.talk_ended(ctx, &name);
            }
        }
        ctx.connect(ConnectInput::Left { call: self.key });
    }

    /// Taken out of the queue by an admin. Only while waiting: a dial-back in
    /// progress is not cut off. Returns whether it was cancelled.
    pub fn cancel(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if !self.is_waiting() {
            return false;
        }
        tracing::info!("the callback was taken out of the queue by an admin");
        self.finish(ctx, DialbackStatus::Cancelled, None);
        true
    }

    pub(super) fn manager_digit(&mut self, ctx: &mut Ctx<'_>, digit: char) {
        let State::Bridged { keys, .. } = &mut self.state else {
            return;
        };
        let gate = keys.get_or_insert_with(|| {
            FeatureGate::new(
                vec![VOICEMAIL_CODE.to_string()],
                self.plan.transfer.digit_timeout,
            )
        });
        gate.handle_digit(ctx.now, digit);
        let mut recognised = None;
        while let Some(out) = gate.poll_output() {
            if let GateOutput::Recognised(code) = out {
                recognised = Some(code);
            }
        }
        if let Some(code) = recognised {
            self.manager_code(ctx, &code);
        }
    }

    /// The manager dialled [`VOICEMAIL_CODE`]: the customer's voicemail answered.
    pub(super) fn manager_code(&mut self, ctx: &mut Ctx<'_>, code: &str) {
        if code != VOICEMAIL_CODE {
            return;
        }
        let State::Bridged {
            manager, customer, ..
        } = std::mem::replace(&mut self.state, State::Waiting)
        else {
            return;
        };
        tracing::info!("the manager marked the customer's voicemail: retrying later");
        ctx.media_cmd(MediaCommand::Unbridge {
            call: manager.media_key,
        });
        customer.abandon(ctx);
        ctx.media_cmd(MediaCommand::Play {
            call: manager.media_key,
            play_id: TELL_ID,
            prompts: vec![p::CUSTOMER_UNREACHABLE.into()],
            first_key_wait: Duration::ZERO,
        });
        self.state = State::Telling {
            manager,
            until: ctx.now + TELL_GRACE,
            outcome: CustomerOutcome::Voicemail,
            status: None,
        };
    }

    /// RFC 3261 §14.2 on either leg: answer with our SDP, follow the new media.
    pub(super) fn reinvite(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: ServerKey,
        req: rsip::Request,
        manager: bool,
    ) {
        let to_tag = crate::sip::headers::to_tag(&req).unwrap_or_default();
        let leg = match &mut self.state {
            State::Bridged {
                manager: m,
                customer: c,
                ..
            }
            | State::DialingCustomer {
                manager: m,
                customer: c,
                ..
            } => {
                if m.local_tag == to_tag {
                    Some(m)
                } else if c.local_tag == to_tag {
                    Some(c)
                } else {
                    None
                }
            }
            State::Whisper { manager: m } | State::Telling { manager: m, .. } => {
                (m.local_tag == to_tag).then_some(m)
            }
            _ => None,
        };
        let _ = manager;
        let Some(leg) = leg else {
            return ctx.respond(key, &req, 481);
        };
        if req.body.is_empty() {
            return ctx.respond(key, &req, 200);
        }
        // RFC 4568 §7.1.4: our key stays unless SRTP starts now.
        let srtp_key = match leg.media.as_ref().and_then(|m| m.srtp.as_ref()) {
            Some(p) => p.local.clone(),
            None => ctx.new_master_key(),
        };
        let parsed = crate::call::security::read_offer(
            &req.body,
            &ctx.cfg.codecs,
            leg.srtp_policy,
            srtp_key,
        );
        let Ok((offer, neg, security)) = parsed else {
            return ctx.respond(key, &req, 488);
        };
        leg.sdp_version += 1;
        let params = MediaParams {
            remote: neg.remote,
            codec: neg.codec,
            pt: neg.payload_type,
            te_pt: neg.telephone_event_pt,
            hold: offer.is_hold(),
            srtp: security.params().cloned(),
        };
        leg.media = Some(params.clone());
        if leg.media_open {
            ctx.media_cmd(MediaCommand::Update {
                call: leg.media_key,
                params,
            });
        }
        let answer = sdp::build_answer(
            &offer,
            &neg,
            &leg.local_media(ctx.cfg.media_ip),
            security.line(),
        );
        let transport = leg.peer.transport;
        let mut resp = crate::sip::response::make_response(&req, 200, None);
        ctx.add_uas_headers(&mut resp.headers, transport);
        set_body(
            &mut resp.headers,
            &mut resp.body,
            "application/sdp",
            answer.into_bytes(),
        );
        ctx.send_response(key, resp);
    }
}

/// How a final response from the customer's end is counted.
pub fn customer_outcome(code: u16) -> CustomerOutcome {
    match code {
        486 | 600 => CustomerOutcome::Busy,
        603 => CustomerOutcome::Declined,
        408 | 480 | 487 => CustomerOutcome::NoAnswer,
        _ => CustomerOutcome::Failed,
    }
}
