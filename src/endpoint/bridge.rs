//! Connecting a caller to people: ring rounds chosen by the routing engine, ringback
//! or hold music while they ring, failover on no answer/busy/decline, the queue, and
//! the bridge once someone answers.
//!
//! The routing engine decides *whom* (strategy, availability, `Tried`); this module
//! carries it out and reports back. A round rings one manager (or all of them for
//! ring-all); when every leg of the round has failed, the engine is asked again with
//! the failed managers in `tried`, so state changes meanwhile (someone hung up, a phone
//! registered) are taken into account. When the engine says overflow/after-hours, the
//! call's program continues with that step: nobody is ever left in silence.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rand::RngExt;

use super::calls::CallSlot;
use super::legs::{InviteSpec, LegState, OutLeg, ring_outcome, uri_destination};
use super::{CallEvent, EndCause, Endpoint, Output};
use crate::call::{ConnectTarget, MediaCommand, MediaParams};
use crate::config::DialPlan;
use crate::dialog::Dialog;
use crate::routing::{self, Selection, Tried};
use crate::sdp;
use crate::sip::rsip;
use crate::store::{RingAttempt, RingOutcome, StoreWrite};
use crate::transaction::ClientKey;

/// How often a queued caller (or one waiting for a busy manager) is re-offered.
const RECHECK: Duration = Duration::from_secs(2);
/// Play ids the call layer uses for its own waiting prompts (the IVR counts from 1).
pub(super) const WAIT_PLAY_BASE: u32 = 0x8000_0000;

/// A call being connected: the target and what has been tried.
#[derive(Debug)]
pub(super) struct Connecting {
    pub target: ConnectTarget,
    pub plan: Arc<DialPlan>,
    pub tried: Tried,
    /// Re-ask the engine then (queue, waiting for a busy manager).
    pub recheck_at: Option<Instant>,
    /// Stop waiting then (queue timeout, manager wait).
    pub give_up_at: Option<Instant>,
    /// The department whose queue the caller is counted in.
    pub queued_in: Option<String>,
    /// The prompt looping for the caller and its play id.
    pub waiting: Option<(String, u32)>,
}

/// A manager's load as this process sees it.
#[derive(Debug, Clone, Default)]
pub(super) struct Load {
    pub ringing: u32,
    pub talking: u32,
    pub last_call_end: Option<Timestamp>,
    pub calls_today: u32,
}

impl Connecting {
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.recheck_at, self.give_up_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Endpoint {
    /// The IVR handed the call over: start ringing.
    pub(super) fn start_connect(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        target: ConnectTarget,
    ) {
        let Some(plan) = slot.ivr.program().plan() else {
            return self.hangup(
                slot,
                now,
                EndCause::Completed("nobody to connect to".into()),
            );
        };
        let (event_target, department) = match &target {
            ConnectTarget::Department(d) => (format!("department:{d}"), Some(d.clone())),
            ConnectTarget::Manager { name, .. } => (format!("manager:{name}"), None),
        };
        tracing::info!("connecting the caller to {event_target}");
        self.outputs.push_back(Output::Event(CallEvent::Connecting {
            key: slot.key,
            target: event_target,
            department,
        }));
        slot.connect = Some(Connecting {
            target,
            plan,
            tried: Tried::new(),
            recheck_at: None,
            give_up_at: None,
            queued_in: None,
            waiting: None,
        });
        self.next_round(slot, now, wall, 0);
    }

    /// Ask the engine whom to ring now and ring them (or queue, or give up).
    fn next_round(&mut self, slot: &mut CallSlot, now: Instant, wall: Timestamp, depth: u8) {
        let Some(mut c) = slot.connect.take() else {
            return;
        };
        c.recheck_at = None;
        let mut states = self.manager_states(wall);
        if let Some(q) = &c.queued_in
            && let Some(n) = states.queued.get_mut(q)
        {
            *n = n.saturating_sub(1); // the engine counts the others waiting
        }
        match c.target.clone() {
            ConnectTarget::Department(name) => {
                let d = routing::select_department(
                    &c.plan,
                    &name,
                    wall,
                    &states,
                    &mut self.strategy,
                    &c.tried,
                );
                match d.selection {
                    Selection::Ring {
                        managers,
                        all_at_once,
                        ring_timeout,
                    } => {
                        tracing::info!("{}", d.reason);
                        self.leave_queue(&mut c);
                        let round: Vec<String> = if all_at_once {
                            managers
                        } else {
                            managers.into_iter().take(1).collect()
                        };
                        let mut rung = 0;
                        for m in &round {
                            rung += self.ring_manager(
                                slot,
                                &c,
                                now,
                                wall,
                                m,
                                ring_timeout,
                                Some(&name),
                            );
                        }
                        if rung == 0 {
                            // No usable contact: count them as tried and ask again.
                            c.tried.extend(round);
                            slot.connect = Some(c);
                            if depth < 32 {
                                self.next_round(slot, now, wall, depth + 1);
                            }
                            return;
                        }
                        // Like an Asterisk queue: the department's hold music while
                        // members ring, else a ringback tone.
                        let prompt = crate::call::heard::ringing_prompt(&c.plan, &name);
                        self.play_waiting(slot, &mut c, &prompt);
                        slot.connect = Some(c);
                    }
                    Selection::Queue {
                        hold_prompt,
                        queue_timeout,
                    } => {
                        if c.queued_in.is_none() {
                            tracing::info!("{}", d.reason);
                            *self.queued.entry(name.clone()).or_default() += 1;
                            c.queued_in = Some(name.clone());
                            c.give_up_at = Some(now + queue_timeout);
                        }
                        c.recheck_at = Some(now + RECHECK);
                        let prompt = hold_prompt.unwrap_or_else(|| "hold_music".into());
                        self.play_waiting(slot, &mut c, &prompt);
                        slot.connect = Some(c);
                    }
                    Selection::Overflow(step) | Selection::AfterHours(step) => {
                        self.leave_queue(&mut c);
                        slot.connect = Some(c);
                        self.connect_failed(slot, now, wall, step, d.reason);
                    }
                }
            }
            ConnectTarget::Manager {
                name,
                ring_timeout,
                wait,
                fallback,
            } => {
                if c.tried.contains(&name) {
                    slot.connect = Some(c);
                    let reason = format!("{name} did not take the call → {}", fallback);
                    return self.connect_failed(slot, now, wall, *fallback, reason);
                }
                match routing::manager_availability(&c.plan, &name, &states, wall) {
                    Ok(()) => {
                        let rung =
                            self.ring_manager(slot, &c, now, wall, &name, ring_timeout, None);
                        if rung == 0 {
                            slot.connect = Some(c);
                            let reason = format!("{name}'s phone cannot be reached → {fallback}");
                            return self.connect_failed(slot, now, wall, *fallback, reason);
                        }
                        self.play_waiting(slot, &mut c, "ringback");
                        slot.connect = Some(c);
                    }
                    Err((occupied, why)) => {
                        let give_up = *c.give_up_at.get_or_insert(now + wait);
                        if occupied && now < give_up {
                            tracing::info!("{name} is {why}: waiting up to {} s", wait.as_secs());
                            c.recheck_at = Some(now + RECHECK);
                            self.play_waiting(slot, &mut c, "hold_music");
                            slot.connect = Some(c);
                        } else {
                            slot.connect = Some(c);
                            let reason = format!("{name} is {why} → {fallback}");
                            self.connect_failed(slot, now, wall, *fallback, reason);
                        }
                    }
                }
            }
        }
    }

    fn leave_queue(&mut self, c: &mut Connecting) {
        if let Some(q) = c.queued_in.take()
            && let Some(n) = self.queued.get_mut(&q)
        {
            *n = n.saturating_sub(1);
        }
        c.give_up_at = None;
    }

    /// Loop `prompt` for the caller unless it is already looping.
    fn play_waiting(&mut self, slot: &mut CallSlot, c: &mut Connecting, prompt: &str) {
        if c.waiting.as_ref().is_some_and(|(p, _)| p == prompt) {
            return;
        }
        slot.wait_plays = slot.wait_plays.wrapping_add(1);
        let play_id = WAIT_PLAY_BASE | (slot.wait_plays & !WAIT_PLAY_BASE);
        c.waiting = Some((prompt.to_string(), play_id));
        self.outputs.push_back(Output::Media(MediaCommand::Play {
            call: slot.key,
            play_id,
            prompts: vec![prompt.to_string()],
        }));
    }

    /// A waiting prompt ended: loop it. Returns false when the id is not ours.
    pub(super) fn waiting_prompt_finished(&mut self, slot: &mut CallSlot, play_id: u32) -> bool {
        if play_id & WAIT_PLAY_BASE == 0 {
            return false;
        }
        if slot.hold_play == Some(play_id) {
            self.outputs.push_back(Output::Media(MediaCommand::Play {
                call: slot.key,
                play_id,
                prompts: vec!["hold_music".into()],
            }));
        } else if let Some(c) = &slot.connect
            && let Some((prompt, id)) = &c.waiting
            && *id == play_id
        {
            self.outputs.push_back(Output::Media(MediaCommand::Play {
                call: slot.key,
                play_id,
                prompts: vec![prompt.clone()],
            }));
        }
        true
    }

    /// Send INVITEs to every contact of `manager`; returns how many legs started.
    #[allow(clippy::too_many_arguments)]
    fn ring_manager(
        &mut self,
        slot: &mut CallSlot,
        c: &Connecting,
        now: Instant,
        wall: Timestamp,
        manager: &str,
        ring_timeout: Duration,
        department: Option<&str>,
    ) -> usize {
        // Security (issue 4 item 6): only managers defined in the plan are ever rung,
        // at the contact the plan or their authenticated registration gives.
        let Some(m) = c.plan.managers.get(manager) else {
            return 0;
        };
        let mut dests = Vec::new();
        match &m.contact {
            Some(uri) => match uri_destination(uri) {
                Some(d) => dests.push(d),
                None => tracing::warn!(
                    "manager {manager}: contact \"{uri}\" is not a sip: URI with an IP address"
                ),
            },
            None => {
                if let Some(reg) = &self.registrar {
                    for b in reg.active_bindings(manager, wall) {
                        // Send to where the REGISTER came from: phones behind NAT
                        // register contacts we cannot reach.
                        dests.push(super::legs::Destination {
                            uri: b.contact_uri,
                            peer: b.source,
                        });
                    }
                }
            }
        }
        let mut ctx = slot.ivr.context();
        if let Some(by) = &slot.transferred_by {
            ctx.reason = format!("transferred by {by}; {}", ctx.reason);
        }
        let mut started = 0;
        for dest in dests {
            let Some(port) = self.ports.allocate() else {
                tracing::warn!("no free RTP port to ring {manager} (raise rtp_ports)");
                break;
            };
            self.next_key += 1;
            let media_key = crate::call::CallKey(self.next_key);
            let local_tag = self.new_tag();
            let branch = self.new_branch();
            let call_id = format!("sb{:016x}@switchboard", self.rng.random::<u64>());
            let sdp_session = self.rng.random::<u32>() as u64;
            let leg_local = crate::sdp::LocalMedia {
                ip: self.cfg.media_ip,
                port,
                session_id: sdp_session,
                session_version: 1,
            };
            let (offer, offered) = self.leg_offer(&leg_local, slot.media.codec);
            let to_uri = if m.contact.is_some() {
                dest.uri.clone()
            } else {
                let user = m.login().unwrap_or(manager);
                format!(
                    "sip:{}@{}",
                    super::legs::sanitize_number(user),
                    self.cfg.sip_addr
                )
            };
            let spec = InviteSpec {
                dest: &dest,
                to_uri: &to_uri,
                info: &slot.info,
                ctx: &ctx,
                department,
                manager_display: &m.display_name,
                branch: &branch,
                local_tag: &local_tag,
                call_id: &call_id,
                sdp: &offer,
            };
            let Some(invite) = self.build_invite(&spec) else {
                self.ports.release(port);
                continue;
            };
            tracing::info!(
                "ringing {manager} at {} for {} s",
                dest.uri,
                ring_timeout.as_secs()
            );
            let invite_key = self.txn.send_request(now, invite.clone(), dest.peer);
            self.by_client.insert(invite_key.clone(), slot.key);
            self.by_tag.insert(local_tag.clone(), slot.key);
            self.by_media.insert(media_key, slot.key);
            self.load.entry(manager.to_string()).or_default().ringing += 1;
            slot.legs.push(OutLeg {
                media_key,
                manager: manager.to_string(),
                port,
                invite,
                invite_key,
                local_tag,
                peer: dest.peer,
                state: LegState::Trying {
                    cancel_pending: false,
                },
                started_wall: wall,
                ring_until: now + ring_timeout,
                offered,
                media: None,
                media_open: false,
                sdp_session,
                sdp_version: 1,
            });
            started += 1;
        }
        started
    }

    /// Nobody took the call: the program continues with the engine's step.
    fn connect_failed(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        step: routing::Step,
        reason: String,
    ) {
        let mut dept = String::new();
        if let Some(mut c) = slot.connect.take() {
            self.leave_queue(&mut c);
            dept = match &c.target {
                ConnectTarget::Department(d) => d.clone(),
                // A direct manager call lands in the queue of a department they are in.
                ConnectTarget::Manager { name, .. } => c
                    .plan
                    .departments
                    .values()
                    .find(|d| d.members.contains(name))
                    .map_or_else(|| name.clone(), |d| d.name.clone()),
            };
            if c.waiting.is_some() {
                self.outputs
                    .push_back(Output::Media(MediaCommand::StopPlayback { call: slot.key }));
            }
        }
        tracing::info!("connect failed: {reason}");
        if !slot.answered {
            slot.callback = Some((dept, super::voicemail::reason_of(&reason)));
        }
        let info = slot.info.clone();
        slot.ivr.continue_with(now, wall, &info, step, reason);
    }

    /// Ring timeouts, queue rechecks and give-ups.
    pub(super) fn connect_timeout(&mut self, slot: &mut CallSlot, now: Instant, wall: Timestamp) {
        let expired: Vec<usize> = slot
            .legs
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_up() && l.ring_until <= now)
            .map(|(i, _)| i)
            .collect();
        for i in expired.into_iter().rev() {
            let leg = slot.legs.remove(i);
            tracing::info!("{} did not answer within the ring timeout", leg.manager);
            self.end_ringing(slot, wall, &leg, RingOutcome::NoAnswer);
            self.abandon_leg(now, leg);
            self.after_leg_failure(slot, now, wall);
        }
        let Some(c) = &slot.connect else { return };
        if c.give_up_at.is_some_and(|t| t <= now) {
            let c = slot.connect.as_ref();
            let (step, reason) = match c.map(|c| (&c.target, &c.plan)) {
                Some((ConnectTarget::Department(d), plan)) => {
                    let dec = routing::on_queue_timeout(plan, d, wall, &self.manager_states(wall));
                    (dec.step, dec.reason)
                }
                Some((ConnectTarget::Manager { name, fallback, .. }, _)) => (
                    (**fallback).clone(),
                    format!("waited for {name} to be free → {fallback}"),
                ),
                None => return,
            };
            // Ringing legs of this call end with the wait.
            for leg in std::mem::take(&mut slot.legs) {
                self.end_ringing(slot, wall, &leg, RingOutcome::Cancelled);
                self.abandon_leg(now, leg);
            }
            return self.connect_failed(slot, now, wall, step, reason);
        }
        if c.recheck_at.is_some_and(|t| t <= now) && slot.legs.is_empty() {
            self.next_round(slot, now, wall, 0);
        }
    }

    /// A leg of the current round failed: when none is left, the next round.
    fn after_leg_failure(&mut self, slot: &mut CallSlot, now: Instant, wall: Timestamp) {
        if slot.connect.is_some() && slot.legs.iter().all(|l| l.is_up()) && slot.bridged.is_none() {
            self.next_round(slot, now, wall, 0);
        }
    }

    /// Book-keeping when a leg stops ringing: load, `tried`, the ring attempt record.
    fn end_ringing(
        &mut self,
        slot: &mut CallSlot,
        wall: Timestamp,
        leg: &OutLeg,
        outcome: RingOutcome,
    ) {
        self.ring_ended(slot, wall, &leg.manager, leg.started_wall, outcome);
    }

    fn ring_ended(
        &mut self,
        slot: &mut CallSlot,
        wall: Timestamp,
        manager: &str,
        started_wall: Timestamp,
        outcome: RingOutcome,
    ) {
        if let Some(l) = self.load.get_mut(manager) {
            l.ringing = l.ringing.saturating_sub(1);
        }
        if outcome != RingOutcome::Answered
            && outcome != RingOutcome::Cancelled
            && let Some(c) = &mut slot.connect
        {
            c.tried.insert(manager.to_string());
        }
        self.outputs
            .push_back(Output::Store(Box::new(StoreWrite::RingAttempt(
                RingAttempt {
                    call_id: slot.info.call_id.clone(),
                    manager: manager.to_string(),
                    started_at: started_wall,
                    ended_at: wall,
                    outcome,
                },
            ))));
        self.outputs.push_back(Output::Event(CallEvent::RingEnded {
            key: slot.key,
            manager: manager.to_string(),
            outcome,
        }));
    }

    /// A response to one of this call's client transactions.
    pub(super) fn call_response(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        key: &ClientKey,
        resp: rsip::Response,
    ) {
        let code = resp.status_code.code();
        let Some(i) = slot.legs.iter().position(|l| &l.invite_key == key) else {
            // The BYE we sent to end the call.
            if code >= 200 && slot.is_ending() {
                slot.finish();
            }
            return;
        };
        let Some(leg) = slot.legs.get_mut(i) else {
            return;
        };
        match code {
            100 => {}
            101..=199 => {
                if let LegState::Trying { cancel_pending } = leg.state {
                    leg.state = LegState::Ringing;
                    if cancel_pending {
                        let leg = slot.legs.remove(i);
                        self.abandon_leg(now, leg);
                    }
                }
            }
            200..=299 => {
                if leg.is_up() {
                    // A retransmitted 2xx: our ACK was lost, send it again (§13.2.2.4).
                    return self.ack_leg(i, slot);
                }
                self.leg_answered(slot, now, wall, i, &resp);
            }
            _ => {
                let outcome = ring_outcome(code);
                tracing::info!("{} answered {code}: {outcome:?}", leg.manager);
                self.leg_failed(slot, now, wall, i, outcome);
            }
        }
    }

    /// A leg's INVITE got no final response at all (Timer B).
    pub(super) fn leg_client_timeout(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        key: &ClientKey,
    ) {
        let Some(i) = slot.legs.iter().position(|l| &l.invite_key == key) else {
            if slot.is_ending() {
                slot.finish();
            }
            return;
        };
        if let Some(leg) = slot.legs.get(i) {
            tracing::warn!("{}'s phone did not respond", leg.manager);
        }
        self.leg_failed(slot, now, wall, i, RingOutcome::Failed);
    }

    /// Leg `i` ended without an answer and its transaction is over: record it, free
    /// it, and ring the next round when it was the last one ringing.
    fn leg_failed(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        i: usize,
        outcome: RingOutcome,
    ) {
        if i >= slot.legs.len() {
            return;
        }
        let leg = slot.legs.remove(i);
        self.end_ringing(slot, wall, &leg, outcome);
        self.release_leg(&leg);
        self.after_leg_failure(slot, now, wall);
    }

    /// A leg that is completely over: close its media, drop its indexes, free its port.
    pub(super) fn release_leg(&mut self, leg: &OutLeg) {
        if leg.media_open {
            self.outputs.push_back(Output::Media(MediaCommand::Close {
                call: leg.media_key,
            }));
        }
        self.by_media.remove(&leg.media_key);
        self.by_tag.remove(&leg.local_tag);
        self.by_client.remove(&leg.invite_key);
        self.ports.release(leg.port);
    }

    fn ack_leg(&mut self, i: usize, slot: &mut CallSlot) {
        let Some(leg) = slot.legs.get_mut(i) else {
            return;
        };
        let cseq = crate::sip::headers::cseq(&leg.invite).map_or(1, |(n, _)| n);
        if let LegState::Up { dialog } = &mut leg.state {
            let branch = self.new_branch();
            if let Some(ack) = dialog.build_ack(self.cfg.sip_addr, &branch, cseq) {
                self.txn.send_stateless(ack, dialog.peer);
            }
        }
    }

    /// Someone answered: ACK, cancel the others, bridge the media.
    fn leg_answered(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        i: usize,
        resp: &rsip::Response,
    ) {
        let Some(leg) = slot.legs.get_mut(i) else {
            return;
        };
        let dialog = match Dialog::new_uac(&leg.invite, resp, leg.peer, &leg.local_tag) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(
                    "{}'s 200 OK is unusable ({e}); hanging that leg up",
                    leg.manager
                );
                return;
            }
        };
        leg.state = LegState::Up {
            dialog: Box::new(dialog),
        };
        self.ack_leg(i, slot);
        let Some(leg) = slot.legs.get_mut(i) else {
            return;
        };
        let neg = sdp::parse_answer(&resp.body, &leg.offered);
        if slot.bridged.is_some() || slot.connect.is_none() || neg.is_err() {
            // Someone else was faster, or the call moved on, or no usable media.
            if let Err(e) = &neg {
                tracing::warn!("{}'s answer has no usable media ({e})", leg.manager);
            }
            let leg = slot.legs.remove(i);
            self.end_ringing(slot, wall, &leg, RingOutcome::Cancelled);
            self.abandon_leg(now, leg);
            return self.after_leg_failure(slot, now, wall);
        }
        let Ok(neg) = neg else { return };
        leg.media = Some(MediaParams {
            remote: neg.remote,
            codec: neg.codec,
            pt: neg.payload_type,
            te_pt: neg.telephone_event_pt,
            hold: false,
        });
        let manager = leg.manager.clone();
        let media_key = leg.media_key;
        let waited = now.saturating_duration_since(slot.created);
        tracing::info!(
            "{manager} answered after {:.1} s ({:?} on their leg)",
            waited.as_secs_f64(),
            neg.codec
        );
        // Ring-all: everyone else stops ringing.
        let others: Vec<OutLeg> = {
            let (mut keep, mut drop) = (Vec::new(), Vec::new());
            for l in std::mem::take(&mut slot.legs) {
                if l.media_key == media_key {
                    keep.push(l);
                } else {
                    drop.push(l);
                }
            }
            slot.legs = keep;
            drop
        };
        for l in others {
            self.end_ringing(slot, wall, &l, RingOutcome::Cancelled);
            self.abandon_leg(now, l);
        }
        let Some(started_wall) = slot
            .legs
            .iter()
            .find(|l| l.media_key == media_key)
            .map(|l| l.started_wall)
        else {
            return;
        };
        self.ring_ended(slot, wall, &manager, started_wall, RingOutcome::Answered);
        slot.answered = true;
        let l = self.load.entry(manager.clone()).or_default();
        l.talking += 1;
        l.calls_today += 1;
        if let Some(mut c) = slot.connect.take() {
            self.leave_queue(&mut c);
        }
        self.open_leg_media(slot, media_key);
        self.outputs.push_back(Output::Media(MediaCommand::Bridge {
            a: slot.key,
            b: media_key,
        }));
        slot.bridged = Some(media_key);
        self.outputs.push_back(Output::Event(CallEvent::Connected {
            key: slot.key,
            manager,
        }));
    }

    fn open_leg_media(&mut self, slot: &mut CallSlot, media_key: crate::call::CallKey) {
        let (ssrc, seq, ts) = (
            self.rng.random::<u32>(),
            self.rng.random::<u16>(),
            self.rng.random::<u32>(),
        );
        let inband = self.cfg.server.inband_dtmf;
        let Some(leg) = slot.legs.iter_mut().find(|l| l.media_key == media_key) else {
            return;
        };
        let Some(params) = leg.media.clone() else {
            return;
        };
        leg.media_open = true;
        self.outputs.push_back(Output::Media(MediaCommand::Open {
            call: media_key,
            port: leg.port,
            params,
            inband_dtmf: inband,
            ssrc,
            seq,
            ts,
        }));
        // The manager's keys that may be a transfer code stay away from the caller.
        if let Some(plan) = slot.ivr.program().plan() {
            let codes = plan.transfer.feature_codes();
            if !codes.is_empty() {
                self.outputs
                    .push_back(Output::Media(MediaCommand::FeatureCodes {
                        call: media_key,
                        codes,
                        timeout: plan.transfer.digit_timeout,
                    }));
            }
        }
    }

    /// The call is ending: stop every leg (CANCEL the ringing, BYE the answered).
    pub(super) fn end_legs(&mut self, slot: &mut CallSlot, now: Instant, wall: Timestamp) {
        if let Some(mut c) = slot.connect.take() {
            self.leave_queue(&mut c);
        }
        for leg in std::mem::take(&mut slot.legs) {
            if leg.is_up() {
                self.end_talk(&leg.manager, wall);
            } else {
                self.end_ringing(slot, wall, &leg, RingOutcome::Cancelled);
            }
            self.abandon_leg(now, leg);
        }
        slot.bridged = None;
    }

    /// A manager's conversation ended: free them (wrap-up starts now).
    pub(super) fn end_talk(&mut self, manager: &str, wall: Timestamp) {
        let l = self.load.entry(manager.to_string()).or_default();
        l.talking = l.talking.saturating_sub(1);
        l.last_call_end = Some(wall);
    }
}

/// One manager as the admin API shows them: presence and load right now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManagerStatus {
    pub name: String,
    pub display_name: String,
    pub extension: Option<String>,
    /// `offline` (no phone registered, no static contact), `free`, `ringing`,
    /// `talking` or `wrap_up`.
    pub state: &'static str,
    pub registered: bool,
    pub ringing: u32,
    pub talking: u32,
    pub max_calls: u32,
    pub last_call_end: Option<Timestamp>,
    /// Calls answered since the router started.
    pub calls_answered: u32,
}

impl Endpoint {
    /// Every manager of `plan` with their state at `wall` (wrap-up is the longest
    /// `wrap_up_secs` of their departments).
    pub fn manager_status(&self, plan: &DialPlan, wall: Timestamp) -> Vec<ManagerStatus> {
        plan.managers
            .values()
            .map(|m| {
                let load = self.load.get(&m.name).cloned().unwrap_or_default();
                let registered = self
                    .registrar
                    .as_ref()
                    .is_some_and(|r| r.is_registered(&m.name, wall));
                let wrap_up = plan
                    .departments
                    .values()
                    .filter(|d| d.members.contains(&m.name))
                    .map(|d| d.wrap_up)
                    .max()
                    .unwrap_or_default();
                let in_wrap_up = load.last_call_end.is_some_and(|end| {
                    let since = wall.duration_since(end).as_secs();
                    since >= 0 && (since as u64) < wrap_up.as_secs()
                });
                let state = if load.talking > 0 {
                    "talking"
                } else if load.ringing > 0 {
                    "ringing"
                } else if m.contact.is_none() && !registered {
                    "offline"
                } else if in_wrap_up {
                    "wrap_up"
                } else {
                    "free"
                };
                ManagerStatus {
                    name: m.name.clone(),
                    display_name: m.display_name.clone(),
                    extension: m.extension.clone(),
                    state,
                    registered,
                    ringing: load.ringing,
                    talking: load.talking,
                    max_calls: m.max_calls,
                    last_call_end: load.last_call_end,
                    calls_answered: load.calls_today,
                }
            })
            .collect()
    }
}
