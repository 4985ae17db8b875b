//! Blind transfer by the manager: REFER from their phone (RFC 3515) or the DTMF
//! feature code (`[transfer] code`, e.g. `*2` then a key). The caller stays on the same
//! inbound call — same record, same context — and is connected to the new target
//! without going through the IVR again.
//!
//! Security: a transfer target is only ever a department or manager of the dial plan
//! (by name, extension or transfer key). A Refer-To naming anything else is refused, so
//! a phone cannot make Switchboard call an arbitrary URI.

use std::time::Instant;

use jiff::Timestamp;

use super::calls::CallSlot;
use super::{CallEvent, EndCause, Endpoint, Output};
use crate::call::{CallKey, DigitSource, MediaEvent};
use crate::config::{Action, DialPlan};
use crate::media::feature_gate::{FeatureGate, GateOutput};
use crate::sip::rsip::{self, prelude::*};
use crate::transaction::ServerKey;

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

impl Endpoint {
    /// A media event on an outbound leg.
    pub(super) fn leg_media_event(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        media: CallKey,
        ev: MediaEvent,
    ) {
        let Some(i) = slot.legs.iter().position(|l| l.media_key == media) else {
            return;
        };
        match ev {
            // RFC 4733 keys are matched by the media plane's feature gate, which also
            // keeps a code from reaching the caller (MediaEvent::FeatureCode below).
            MediaEvent::Digit {
                digit,
                source: DigitSource::Rfc4733,
            } => tracing::debug!("manager pressed {digit}"),
            MediaEvent::Digit { digit, .. } => self.leg_digit(slot, now, wall, i, digit),
            MediaEvent::FeatureCode { code } => self.leg_feature_code(slot, now, wall, i, &code),
            MediaEvent::RtpTimeout => {
                tracing::info!("no RTP from the manager's phone: ending the call");
                self.hangup(slot, now, EndCause::RtpTimeout);
            }
            MediaEvent::Failed { reason } => {
                tracing::error!("media failed on the manager's leg: {reason}");
                self.hangup(slot, now, EndCause::MediaFailed(reason));
            }
            MediaEvent::PlaybackFinished { .. } | MediaEvent::RecordingFinished { .. } => {}
        }
    }

    /// A key the manager sent by SIP INFO (or in-band): watch for the transfer feature
    /// code, with the same rules (and inter-digit timeout) as the media plane's gate.
    pub(super) fn leg_digit(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        i: usize,
        digit: char,
    ) {
        let Some(plan) = slot.ivr.program().plan() else {
            return;
        };
        let gate = slot.feature_keys.get_or_insert_with(|| {
            FeatureGate::new(plan.transfer.feature_codes(), plan.transfer.digit_timeout)
        });
        gate.handle_digit(now, digit);
        let mut recognised = None;
        while let Some(out) = gate.poll_output() {
            if let GateOutput::Recognised(code) = out {
                recognised = Some(code);
            }
        }
        if let Some(code) = recognised {
            self.leg_feature_code(slot, now, wall, i, &code);
        }
    }

    /// The manager dialled a feature code (`[transfer] code` + key): transfer.
    fn leg_feature_code(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        i: usize,
        code: &str,
    ) {
        let Some(plan) = slot.ivr.program().plan() else {
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
                self.transfer(slot, now, wall, i, action, false);
            }
            None => tracing::info!("manager pressed {code}, which [transfer] does not define"),
        }
    }

    /// RFC 3515: REFER from the manager's phone. We accept (202), report the outcome
    /// with a NOTIFY carrying a sipfrag, release the manager and connect the caller to
    /// the target ourselves (we are a B2BUA: the manager's phone never calls anyone).
    pub(super) fn leg_refer(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        i: usize,
        key: ServerKey,
        req: rsip::Request,
    ) {
        let Some(plan) = slot.ivr.program().plan() else {
            return self.respond(now, key, &req, 403, None);
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
            return self.respond(now, key, &req, 404, None);
        };
        if slot.bridged != slot.legs.get(i).map(|l| l.media_key) {
            return self.respond(now, key, &req, 491, None);
        }
        self.respond(now, key, &req, 202, None);
        // The transfer is ours to carry out, so the transferor's part is done: report
        // success at once (RFC 3515 §2.4.5) and let the phone hang up.
        if let Some(leg) = slot.legs.get_mut(i)
            && let super::legs::LegState::Up { dialog } = &mut leg.state
        {
            let branch = self.new_branch();
            let notify = dialog.build_request(
                rsip::Method::Notify,
                self.cfg.sip_addr,
                &branch,
                &[
                    ("Event", "refer"),
                    ("Subscription-State", "terminated;reason=noresource"),
                ],
                Some(("message/sipfrag;version=2.0", b"SIP/2.0 200 OK\r\n")),
            );
            if let Some(n) = notify {
                let peer = dialog.peer;
                let _ = self.txn.send_request(now, n, peer);
            }
        }
        tracing::info!("manager transferred the call (REFER) to {action}");
        // The phone hangs up itself on the NOTIFY; our BYE only if it does not.
        self.transfer(slot, now, wall, i, action, true);
    }

    /// Release the manager's leg and connect the caller to `action`, keeping the
    /// call's record and context. `phone_hangs_up`: see [`Endpoint::release_leg_dialog`].
    fn transfer(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        i: usize,
        action: Action,
        phone_hangs_up: bool,
    ) {
        let Some(plan) = slot.ivr.program().plan() else {
            return;
        };
        if i >= slot.legs.len() {
            return;
        }
        let leg = slot.legs.remove(i);
        let from = leg.manager.clone();
        self.end_talk(&from, wall);
        slot.bridged = None;
        slot.hold_play = None;
        self.outputs
            .push_back(Output::Media(crate::call::MediaCommand::Unbridge {
                call: slot.key,
            }));
        self.release_leg_dialog(now, leg, phone_hangs_up); // BYE to the manager
        self.outputs
            .push_back(Output::Event(CallEvent::Transferred {
                key: slot.key,
                from: from.clone(),
                to: action.to_string(),
            }));
        slot.transferred_by = Some(from.clone());
        // The caller is with nobody now: if the new target cannot take them, the call
        // lands in the callback queue like any other unanswered call.
        slot.answered = false;
        let states = self.manager_states(wall);
        let decision = crate::routing::resolve(&plan, &action, wall, &states);
        let reason = format!("transferred by {from} {}", decision.reason);
        let info = slot.info.clone();
        slot.ivr
            .continue_with(now, wall, &info, decision.step, reason);
    }
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
