//! The people a call rings or talks to: the phones of the current ring round, or the
//! one manager the caller is bridged to.
//!
//! ```text
//!            Ring (connect policy)          a leg answers
//!   None ───────────────────────▶ Ringing ───────────────▶ Bridged ──hold/unhold──┐
//!    ▲  ◀── every leg failed ────────┘ (others cancelled)    │  ◀─────────────────┘
//!    └───────────── transfer / the manager or caller hangs up ┘
//! ```
//! Each phone's ring ends with a [`RingOutcome`], written as a ring attempt and
//! reported to the connect policy, which decides the next round.
//!
//! Transfers (REFER from the manager's phone, RFC 3515, or the `[transfer]` feature
//! code) keep the same inbound call — same record, same context. Security: a transfer
//! target is only ever a department or manager of the dial plan, so a phone cannot make
//! Switchboard call an arbitrary URI.

use std::time::Duration;

use super::context::{ConnectInput, Ctx, set_body};
use super::inbound::{Call, respond_options};
use super::leg::{Leg, LegState, handle_provisional, ring_outcome};
use super::line::People;
use super::outcome::EndCause;
use crate::config::{Action, DialPlan};
use crate::connect::ConnectOutput;
use crate::dialog::Dialog;
use crate::media::feature_gate::{FeatureGate, GateOutput};
use crate::media::{CallKey, DigitSource, MediaCommand, MediaEvent, MediaParams};
use crate::model::{RingAttempt, RingOutcome, StoreWrite};
use crate::sdp;
use crate::sip::response::Refusal;
use crate::sip::rsip::{self, prelude::*};
use crate::transaction::{ClientKey, ServerKey};

impl Call {
    /// The connect policy decided something for this call.
    pub fn handle_connect(&mut self, ctx: &mut Ctx<'_>, out: ConnectOutput) {
        if self.is_ended() {
            return;
        }
        if let ConnectOutput::Ring {
            managers,
            ring_timeout,
            department,
            ..
        } = &out
        {
            let plan = self.flow.plan();
            for m in managers {
                let rung = plan.as_deref().map_or(0, |p| {
                    self.ring_manager(ctx, p, m, *ring_timeout, department.as_deref())
                });
                if rung == 0 {
                    // No phone to ring: the round goes on without them.
                    ctx.connect(ConnectInput::RingEnded {
                        call: self.key(),
                        manager: m.clone(),
                        outcome: RingOutcome::Failed,
                    });
                } else {
                    ctx.event(super::CallEvent::Ringing {
                        key: self.key(),
                        manager: m.clone(),
                        department: department.clone(),
                    });
                }
            }
        }
        self.flow.handle_connect(ctx.now, ctx.wall, out);
        self.drain_flow(ctx);
    }

    /// Send INVITEs to every contact of `manager`; returns how many legs started.
    fn ring_manager(
        &mut self,
        ctx: &mut Ctx<'_>,
        plan: &DialPlan,
        manager: &str,
        ring_timeout: Duration,
        department: Option<&str>,
    ) -> usize {
        let context = self.flow.context();
        let info = self.flow.info().clone();
        let ring = super::leg::RingSpec {
            owner: self.key(),
            plan,
            manager,
            ring_timeout,
            department,
            info: &info,
            context: &context,
            codec: self.caller_codec(),
        };
        let legs = super::leg::ring_phones(ctx, &ring);
        let started = legs.len();
        for leg in legs {
            match &mut self.people {
                People::Ringing(legs) => legs.push(leg),
                other => *other = People::Ringing(vec![leg]),
            }
        }
        started
    }

    /// Ring timeouts.
    pub(super) fn people_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let People::Ringing(legs) = &mut self.people else {
            return;
        };
        let (expired, ringing): (Vec<Leg>, Vec<Leg>) = std::mem::take(legs)
            .into_iter()
            .partition(|l| l.ring_until <= ctx.now);
        *legs = ringing;
        for leg in expired {
            tracing::info!("{} did not answer within the ring timeout", leg.manager);
            self.ring_ended(ctx, &leg, RingOutcome::NoAnswer);
            leg.abandon(ctx);
        }
        self.tidy_people();
    }

    fn tidy_people(&mut self) {
        if matches!(&self.people, People::Ringing(legs) if legs.is_empty()) {
            self.people = People::None;
        }
    }

    /// Book-keeping when a phone stops ringing: the ring attempt record, the event,
    /// and the connect policy (which decides the next round).
    fn ring_ended(&mut self, ctx: &mut Ctx<'_>, leg: &Leg, outcome: RingOutcome) {
        ctx.store(StoreWrite::RingAttempt(RingAttempt {
            call_id: self.info().call_id.clone(),
            manager: leg.manager.clone(),
            started_at: leg.started_wall,
            ended_at: ctx.wall,
            outcome,
        }));
        ctx.event(super::CallEvent::RingEnded {
            key: self.key(),
            manager: leg.manager.clone(),
            outcome,
        });
        let input = if outcome == RingOutcome::Answered {
            ConnectInput::Answered {
                call: self.key(),
                manager: leg.manager.clone(),
            }
        } else {
            ConnectInput::RingEnded {
                call: self.key(),
                manager: leg.manager.clone(),
                outcome,
            }
        };
        ctx.connect(input);
    }

    /// The call is over: stop every leg (CANCEL the ringing, BYE the answered).
    pub(super) fn end_people(&mut self, ctx: &mut Ctx<'_>) {
        match std::mem::take(&mut self.people) {
            People::None => {}
            People::Ringing(legs) => {
                for leg in legs {
                    self.ring_ended(ctx, &leg, RingOutcome::Cancelled);
                    leg.abandon(ctx);
                }
            }
            People::Bridged { leg, .. } => {
                self.talk_ended(ctx, &leg.manager);
                leg.abandon(ctx);
            }
        }
    }

    /// A manager's conversation ended: free them (wrap-up starts now).
    fn talk_ended(&mut self, ctx: &mut Ctx<'_>, manager: &str) {
        if let Some(plan) = self.flow.plan() {
            ctx.connect(ConnectInput::TalkEnded {
                manager: manager.to_string(),
                plan,
            });
        }
    }

    /// A response to one of the legs' INVITEs.
    pub(super) fn leg_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &ClientKey,
        resp: rsip::Response,
    ) {
        let code = resp.status_code.code();
        if let People::Bridged { leg, .. } = &mut self.people
            && &leg.invite_key == key
        {
            if (200..300).contains(&code) {
                // A retransmitted 2xx: our ACK was lost, send it again (§13.2.2.4).
                leg.ack(ctx);
            }
            return;
        }
        let People::Ringing(legs) = &mut self.people else {
            return;
        };
        let Some(i) = legs.iter().position(|l| &l.invite_key == key) else {
            return;
        };
        match code {
            100 => {}
            101..=199 => handle_provisional(legs, i, ctx),
            200..=299 => self.leg_answered(ctx, i, &resp),
            _ => {
                let outcome = ring_outcome(code);
                let leg = legs.remove(i);
                tracing::info!("{} answered {code}: {outcome:?}", leg.manager);
                self.ring_ended(ctx, &leg, outcome);
                leg.release(ctx);
                self.tidy_people();
            }
        }
    }

    /// A leg's INVITE got no final response at all (Timer B).
    pub(super) fn leg_client_timeout(&mut self, ctx: &mut Ctx<'_>, key: &ClientKey) {
        let People::Ringing(legs) = &mut self.people else {
            return;
        };
        let Some(i) = legs.iter().position(|l| &l.invite_key == key) else {
            return;
        };
        let leg = legs.remove(i);
        tracing::warn!("{}'s phone did not respond", leg.manager);
        self.ring_ended(ctx, &leg, RingOutcome::Failed);
        leg.release(ctx);
        self.tidy_people();
    }

    /// Someone answered: ACK, cancel the others, bridge the media.
    fn leg_answered(&mut self, ctx: &mut Ctx<'_>, i: usize, resp: &rsip::Response) {
        let created = self.created();
        let People::Ringing(legs) = &mut self.people else {
            return;
        };
        if i >= legs.len() {
            return;
        }
        let mut leg = legs.remove(i);
        let dialog = match Dialog::new_uac(&leg.invite, resp, leg.peer, &leg.local_tag) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(
                    "{}'s 200 OK is unusable ({e}); hanging that leg up",
                    leg.manager
                );
                self.ring_ended(ctx, &leg, RingOutcome::Failed);
                leg.abandon(ctx);
                return self.tidy_people();
            }
        };
        leg.state = LegState::Up {
            dialog: Box::new(dialog),
        };
        leg.ack(ctx);
        let answered = sdp::parse_answer_media(&resp.body, &leg.offered).and_then(|(a, neg)| {
            sdp::crypto::answered_security(&a, &leg.crypto, leg.security).map(|s| (neg, s))
        });
        let (neg, srtp) = match answered {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("{}'s answer has no usable media ({e})", leg.manager);
                self.ring_ended(ctx, &leg, RingOutcome::Failed);
                leg.abandon(ctx);
                return self.tidy_people();
            }
        };
        if let Some(p) = &srtp {
            tracing::info!("{}'s leg is SRTP ({})", leg.manager, p.suite);
        }
        leg.media = Some(MediaParams {
            remote: neg.remote,
            codec: neg.codec,
            pt: neg.payload_type,
            te_pt: neg.telephone_event_pt,
            hold: false,
            srtp,
        });
        let waited = ctx.now.saturating_duration_since(created);
        tracing::info!(
            "{} answered after {:.1} s ({:?} on their leg)",
            leg.manager,
            waited.as_secs_f64(),
            neg.codec
        );
        // Ring-all: everyone else stops ringing.
        for other in std::mem::take(legs) {
            self.ring_ended(ctx, &other, RingOutcome::Cancelled);
            other.answered_elsewhere(ctx);
        }
        self.ring_ended(ctx, &leg, RingOutcome::Answered);
        leg.open_media(ctx);
        // The manager's keys that may be a transfer code stay away from the caller.
        if let Some(plan) = self.flow.plan() {
            let codes = plan.transfer.feature_codes();
            if !codes.is_empty() {
                ctx.media_cmd(MediaCommand::FeatureCodes {
                    call: leg.media_key,
                    codes,
                    timeout: plan.transfer.digit_timeout,
                });
            }
        }
        ctx.media_cmd(MediaCommand::Bridge {
            a: self.key(),
            b: leg.media_key,
        });
        self.flow.handle_answered(&leg.manager);
        self.start_taping(ctx);
        self.people = People::Bridged {
            leg: Box::new(leg),
            keys: None,
            on_hold: false,
        };
    }

    /// A media event on an outbound leg.
    pub(super) fn leg_media_event(&mut self, ctx: &mut Ctx<'_>, media: CallKey, ev: MediaEvent) {
        let People::Bridged { leg, .. } = &self.people else {
            return;
        };
        if leg.media_key != media {
            return;
        }
        match ev {
            // RFC 4733 keys are matched by the media plane's feature gate, which also
            // keeps a code from reaching the caller (MediaEvent::FeatureCode below).
            MediaEvent::Digit {
                digit,
                source: DigitSource::Rfc4733,
            } => tracing::debug!("manager pressed {digit}"),
            MediaEvent::Digit { digit, .. } => self.manager_digit(ctx, digit),
            MediaEvent::FeatureCode { code } => self.manager_feature_code(ctx, &code),
            MediaEvent::RtpTimeout => {
                tracing::info!("no RTP from the manager's phone: ending the call");
                self.hangup(ctx, EndCause::RtpTimeout);
            }
            MediaEvent::Failed { reason } => {
                tracing::error!("media failed on the manager's leg: {reason}");
                self.hangup(ctx, EndCause::MediaFailed(reason));
            }
            MediaEvent::PlaybackFinished { .. } | MediaEvent::RecordingFinished { .. } => {}
        }
    }

    /// A request inside a leg's dialog (from a manager's phone).
    pub(super) fn leg_in_dialog(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: ServerKey,
        req: rsip::Request,
        to_tag: &str,
    ) {
        let People::Bridged { leg, .. } = &mut self.people else {
            // A ringing leg has no dialog yet; an ended one is gone.
            return ctx.refuse(key, &req, Refusal::NoSuchDialog);
        };
        if leg.local_tag != to_tag {
            return ctx.refuse(key, &req, Refusal::NoSuchDialog);
        }
        if let Some(dialog) = leg.dialog_mut()
            && let Err(e) = dialog.handle_request(&req)
        {
            tracing::warn!("in-dialog {} from a manager: {e}", req.method);
            return ctx.refuse(key, &req, Refusal::ServerError);
        }
        match req.method {
            rsip::Method::Bye => {
                ctx.respond(key, &req, 200);
                let People::Bridged { leg, .. } = std::mem::take(&mut self.people) else {
                    return;
                };
                tracing::info!("{} hung up", leg.manager);
                self.talk_ended(ctx, &leg.manager);
                leg.release(ctx);
                self.hangup(ctx, EndCause::ManagerHungUp);
            }
            rsip::Method::Invite => self.leg_reinvite(ctx, key, req),
            rsip::Method::Info => {
                let ctype = req.header_value("Content-Type").unwrap_or_default();
                let digit = crate::media::info::parse_info_dtmf(&ctype, &req.body);
                ctx.respond(key, &req, 200);
                if let Some(digit) = digit {
                    self.manager_digit(ctx, digit);
                }
            }
            rsip::Method::Refer => self.leg_refer(ctx, key, req),
            rsip::Method::Options => respond_options(ctx, key, &req),
            rsip::Method::Ack => {}
            _ => ctx.refuse(key, &req, Refusal::MethodNotAllowed),
        }
    }

    /// A manager's re-INVITE: hold/unhold or new media. On hold the caller hears hold
    /// music instead of silence; unhold bridges them again.
    fn leg_reinvite(&mut self, ctx: &mut Ctx<'_>, key: ServerKey, req: rsip::Request) {
        let caller = self.key();
        let People::Bridged { leg, on_hold, .. } = &mut self.people else {
            return ctx.refuse(key, &req, Refusal::NoSuchDialog);
        };
        let parsed = if req.body.is_empty() {
            None
        } else {
            // RFC 4568 §7.1.4: our key stays unless SRTP starts now.
            let srtp_key = match leg.media.as_ref().and_then(|m| m.srtp.as_ref()) {
                Some(p) => p.local.clone(),
                None => ctx.new_master_key(),
            };
            match super::security::read_offer(&req.body, &ctx.cfg.codecs, leg.srtp_policy, srtp_key)
            {
                Ok(x) => Some(x),
                Err(e) => {
                    tracing::info!("{}'s re-INVITE rejected with 488 ({e})", leg.manager);
                    return ctx.refuse(key, &req, Refusal::NotAcceptableHere);
                }
            }
        };
        leg.sdp_version += 1;
        let mut body = None;
        let mut hold_change = None;
        if let Some((offer, neg, security)) = parsed {
            let hold = offer.is_hold();
            let params = MediaParams {
                remote: neg.remote,
                codec: neg.codec,
                pt: neg.payload_type,
                te_pt: neg.telephone_event_pt,
                hold,
                srtp: security.params().cloned(),
            };
            leg.media = Some(params.clone());
            body = Some(sdp::build_answer(
                &offer,
                &neg,
                &leg.local_media(ctx.cfg.media_ip),
                security.line(),
            ));
            if leg.media_open {
                ctx.media_cmd(MediaCommand::Update {
                    call: leg.media_key,
                    params,
                });
            }
            if hold != *on_hold {
                *on_hold = hold;
                hold_change = Some((hold, leg.media_key));
            }
        }
        let transport = leg.peer.transport;
        let mut resp = crate::sip::response::make_response(&req, 200, None);
        ctx.add_uas_headers(&mut resp.headers, transport);
        if let Some(b) = body {
            set_body(
                &mut resp.headers,
                &mut resp.body,
                "application/sdp",
                b.into_bytes(),
            );
        }
        ctx.send_response(key, resp);
        match hold_change {
            Some((true, _)) => {
                tracing::info!("the manager put the caller on hold");
                ctx.media_cmd(MediaCommand::Unbridge { call: caller });
                self.flow.handle_hold(true);
            }
            Some((false, media_key)) => {
                tracing::info!("the manager took the caller off hold");
                self.flow.handle_hold(false);
                ctx.media_cmd(MediaCommand::Bridge {
                    a: caller,
                    b: media_key,
                });
            }
            None => {}
        }
    }

    /// A key the manager sent by SIP INFO (or in-band): watch for the transfer feature
    /// code, with the same rules (and inter-digit timeout) as the media plane's gate.
    fn manager_digit(&mut self, ctx: &mut Ctx<'_>, digit: char) {
        let Some(plan) = self.flow.plan() else {
            return;
        };
        let People::Bridged { keys, .. } = &mut self.people else {
            return;
        };
        let gate = keys.get_or_insert_with(|| {
            FeatureGate::new(plan.transfer.feature_codes(), plan.transfer.digit_timeout)
        });
        gate.handle_digit(ctx.now, digit);
        let mut recognised = None;
        while let Some(out) = gate.poll_output() {
            if let GateOutput::Recognised(code) = out {
                recognised = Some(code);
            }
        }
        if let Some(code) = recognised {
            self.manager_feature_code(ctx, &code);
        }
    }

    /// The manager dialled a feature code (`[transfer] code` + key): transfer.
    fn manager_feature_code(&mut self, ctx: &mut Ctx<'_>, code: &str) {
        let Some(plan) = self.flow.plan() else {
            return;
        };
        let prefix = plan.transfer.code.as_str();
        let key = code.strip_prefix(prefix).and_then(|k| {
            let mut c = k.chars();
            match (c.next(), c.next()) {
                (Some(k), None) => Some(k),
                _ => None,
            }
        });
        match key.and_then(|k| plan.transfer.keys.get(&k).cloned()) {
            Some(action) => {
                tracing::info!("manager pressed {code}: transferring to {action}");
                self.transfer(ctx, action, false);
            }
            None => tracing::info!("manager pressed {code}, which [transfer] does not define"),
        }
    }

    /// RFC 3515: REFER from the manager's phone. We accept (202), report the outcome
    /// with a NOTIFY carrying a sipfrag, release the manager and connect the caller to
    /// the target ourselves (we are a B2BUA: the manager's phone never calls anyone).
    fn leg_refer(&mut self, ctx: &mut Ctx<'_>, key: ServerKey, req: rsip::Request) {
        let Some(plan) = self.flow.plan() else {
            return ctx.refuse(key, &req, Refusal::Forbidden);
        };
        let target = req
            .header_value("Refer-To")
            .and_then(|v| refer_to_user(&v))
            .and_then(|u| transfer_target(&plan, &u));
        let Some(action) = target else {
            tracing::info!(
                "REFER to {:?} refused: not a department or manager of the dial plan",
                req.header_value("Refer-To")
            );
            return ctx.refuse(key, &req, Refusal::NotFound);
        };
        let People::Bridged { leg, on_hold, .. } = &mut self.people else {
            return ctx.refuse(key, &req, Refusal::RequestPending);
        };
        let _ = on_hold;
        ctx.respond(key, &req, 202);
        // The transfer is ours to carry out, so the transferor's part is done: report
        // success at once (RFC 3515 §2.4.5) and let the phone hang up.
        let branch = ctx.new_branch();
        if let Some(dialog) = leg.dialog_mut() {
            let local = ctx.cfg.local_addr(dialog.transport());
            let notify = dialog.build_request(
                rsip::Method::Notify,
                local,
                &branch,
                &[
                    ("Event", "refer"),
                    ("Subscription-State", "terminated;reason=noresource"),
                ],
                Some(("message/sipfrag;version=2.0", b"SIP/2.0 200 OK\r\n")),
            );
            if let Some(n) = notify {
                let peer = dialog.peer;
                let _ = ctx.send_request(n, peer);
            }
        }
        tracing::info!("manager transferred the call (REFER) to {action}");
        // The phone hangs up itself on the NOTIFY; our BYE only if it does not.
        self.transfer(ctx, action, true);
    }

    /// Release the manager's leg and connect the caller to `action`, keeping the
    /// call's record and context. `phone_hangs_up`: see [`Leg::leave`].
    fn transfer(&mut self, ctx: &mut Ctx<'_>, action: Action, phone_hangs_up: bool) {
        let People::Bridged { leg, .. } = std::mem::take(&mut self.people) else {
            return;
        };
        self.talk_ended(ctx, &leg.manager);
        ctx.media_cmd(MediaCommand::Unbridge { call: self.key() });
        leg.leave(ctx, phone_hangs_up); // BYE to the manager
        let states = ctx.states();
        self.flow
            .handle_transfer(ctx.now, ctx.wall, &states, &action);
    }
}

/// What a Refer-To user part or a transfer key names in the plan.
pub fn transfer_target(plan: &DialPlan, name: &str) -> Option<Action> {
    let name = name.trim();
    if plan.departments.contains_key(name) {
        return Some(Action::Department(name.to_string()));
    }
    if plan.managers.contains_key(name) {
        return Some(Action::Manager(name.to_string()));
    }
    if let Some(m) = plan
        .managers
        .values()
        .find(|m| m.extension.as_deref() == Some(name))
    {
        return Some(Action::Manager(m.name.clone()));
    }
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(k), None) => plan.transfer.keys.get(&k).cloned(),
        _ => None,
    }
}

/// The user part of a Refer-To value: `<sip:sales@10.0.0.1>` → `sales`.
fn refer_to_user(value: &str) -> Option<String> {
    let uri = crate::dialog::contact_uri(value)?;
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let user = rest.split_once('@').map(|(u, _)| u)?;
    Some(user.split(';').next().unwrap_or(user).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_user_parts() {
        assert_eq!(
            refer_to_user("<sip:sales@10.0.0.1>").as_deref(),
            Some("sales")
        );
        assert_eq!(
            refer_to_user("sip:102@h;transport=tcp").as_deref(),
            Some("102")
        );
        assert_eq!(refer_to_user("<tel:+1555>"), None);
    }
}
