//! Where the endpoint asks [`crate::guard`] who may send what: once per message
//! before parsing (rate limits, bans), once per out-of-dialog request before any
//! transaction exists (refused INVITEs, transaction memory), and once per in-dialog
//! request (the dialog's own peer only). The policy lives in `guard`; this file only
//! looks up what the policy needs from the endpoint's state.

use std::net::IpAddr;
use std::time::Instant;

use jiff::Timestamp;

use super::{Endpoint, Output};
use crate::guard::{RefuseMode, Refused};
use crate::sip::rsip;
use crate::sip::stun::Stun;
use crate::sip::{Peer, Transmit, headers};

/// What to do with a request that passed the rate limits.
pub(super) enum Screen {
    /// Hand it to the transaction layer.
    Pass,
    /// Dealt with here (answered statelessly or dropped): no transaction.
    Done,
}

impl Endpoint {
    /// Rate limits and bans, before the message is even parsed.
    pub(super) fn admit_message(&mut self, now: Instant, ip: IpAddr) -> bool {
        let trunk = self.cfg.server.is_trunk(ip);
        self.guard.admit_message(now, ip, trunk)
    }

    /// Out-of-dialog requests that will be refused never reach the transaction layer:
    /// an INVITE from neither a trunk nor a registered phone gets one stateless 403
    /// (or nothing, `[server] refused_invites = "silent"`) and is never retransmitted
    /// to a possibly spoofed source; with transaction memory at its cap, requests from
    /// non-trunk sources are dropped so trunk calls keep the room they need.
    pub(super) fn screen_request(
        &mut self,
        now: Instant,
        wall: Timestamp,
        req: &rsip::Request,
        peer: Peer,
    ) -> Screen {
        let ip = peer.addr.ip();
        if self.cfg.server.is_trunk(ip) || req.method == rsip::Method::Ack {
            return Screen::Pass;
        }
        let initial = headers::to_tag(req).is_none();
        if initial && req.method == rsip::Method::Invite && !self.registered_phone_at(ip, wall) {
            self.refuse_invite(now, req, peer);
            return Screen::Done;
        }
        if self.txn.len() >= self.guard.max_transactions {
            let what = req.method.to_string();
            self.guard.refused(now, Refused::Shed, ip, &what);
            return Screen::Done;
        }
        Screen::Pass
    }

    /// Whether a manager's phone is registered from `ip` now: besides trunks, the only
    /// sources that may call in or have their STUN keepalives answered.
    fn registered_phone_at(&self, ip: IpAddr, wall: Timestamp) -> bool {
        self.registrar
            .as_ref()
            .is_some_and(|r| r.has_binding_from(ip, wall))
    }

    /// Whether a request from `ip` may say who the caller is with P-Asserted-Identity
    /// (RFC 3325): only trunks, our trust domain, and only while the admin lets them
    /// (`trust_asserted_identity`). Everyone else's is removed on arrival.
    pub(super) fn trusts_asserted_identity(&self, ip: IpAddr) -> bool {
        self.cfg.server.trust_asserted_identity && self.cfg.server.is_trunk(ip)
    }

    /// RFC 5626 §4.4.2 / §8.4: a STUN Binding request on the SIP port is a phone's
    /// keepalive; the answer tells it the flow is alive. Answered for trunks and for
    /// addresses a phone is registered from, so the port is no reflector for anyone
    /// else (the guard's per-source rate limit applies before this, as to SIP).
    pub(super) fn handle_stun(&mut self, wall: Timestamp, peer: Peer, stun: Stun) {
        let ip = peer.addr.ip();
        let Stun::BindingRequest { transaction_id } = stun else {
            tracing::debug!(from = %peer.addr, "STUN message other than a Binding request dropped");
            return;
        };
        if !self.cfg.server.is_trunk(ip) && !self.registered_phone_at(ip, wall) {
            tracing::debug!(from = %peer.addr, "STUN keepalive from an address with no registration dropped");
            return;
        }
        tracing::trace!(from = %peer.addr, "STUN keepalive answered");
        self.outputs.push_back(Output::Transmit(Transmit {
            peer,
            payload: crate::sip::stun::binding_success(&transaction_id, peer.addr),
        }));
    }

    fn refuse_invite(&mut self, now: Instant, req: &rsip::Request, peer: Peer) {
        let ip = peer.addr.ip();
        self.guard.refused(
            now,
            Refused::NotTrunk,
            ip,
            "INVITE (add the address to [server] trunks if it is a PBX)",
        );
        match self.guard.refuse_invites {
            RefuseMode::Silent => self.guard.stats.invites_refused_silent += 1,
            RefuseMode::Answer => {
                self.guard.stats.invites_refused_answered += 1;
                let tag = format!("sb{:016x}", rand::RngExt::random::<u64>(&mut self.rng));
                let resp = crate::sip::response::refuse(
                    req,
                    crate::sip::response::Refusal::Forbidden,
                    Some(&tag),
                );
                self.outputs.push_back(Output::Transmit(Transmit {
                    peer,
                    payload: super::to_bytes(&resp),
                }));
            }
        }
    }

    /// RFC 3261 §12.2.2 leaves the UAS free to refuse in-dialog requests; we refuse
    /// those that do not come from where the dialog belongs: for the caller's dialog
    /// the address its INVITE came from (any trunk address for a trunk call), for a
    /// manager's leg the phone we called. `Some(dialog)` says which dialog of `call`
    /// the request names (the caller's, or a leg by its Call-ID).
    pub(super) fn in_dialog_source_ok(
        &mut self,
        now: Instant,
        call: crate::call::CallKey,
        req: &rsip::Request,
        peer: Peer,
    ) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return true;
        };
        let Some(expected) = headers::call_id(req).and_then(|id| c.dialog_peer(id)) else {
            return true;
        };
        let server = &self.cfg.server;
        if crate::guard::in_dialog_source_ok(expected, peer.addr.ip(), |ip| server.is_trunk(ip)) {
            return true;
        }
        let what = format!("in-dialog {}", req.method);
        self.guard
            .refused(now, Refused::WrongSource, peer.addr.ip(), &what);
        false
    }
}
