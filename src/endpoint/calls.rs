//! Call flows on the UAS leg: answer, ACK, re-INVITE, INFO, CANCEL, BYE either way.

use std::time::Instant;

use jiff::Timestamp;
use rand::RngExt;

use super::bridge::Connecting;
use super::legs::OutLeg;
use super::{ALLOW, CallEvent, EndCause, Endpoint, Output, set_body};
use crate::call::{
    CallInfo, CallKey, DigitSource, IvrAction, IvrRunner, MediaCommand, MediaEvent, MediaParams,
};
use crate::dialog::Dialog;
use crate::sdp::{self, LocalMedia, RemoteMedia};
use crate::sip::rsip::{self, prelude::*};
use crate::sip::{Peer, Transport, headers};
use crate::transaction::ServerKey;

#[derive(Debug)]
pub(super) enum Phase {
    /// 180 sent; we answer at `answer_at` (CANCEL may come first).
    Ringing {
        invite_key: ServerKey,
        invite: Box<rsip::Request>,
        answer_at: Instant,
    },
    /// 200 sent, waiting for the ACK (the transaction layer retransmits the 200).
    WaitAck {
        invite_key: ServerKey,
    },
    Active,
    /// We sent BYE and wait for its response.
    Ending,
    Finished,
}

#[derive(Debug)]
pub(super) struct CallSlot {
    pub key: CallKey,
    pub info: CallInfo,
    pub span: tracing::Span,
    pub dialog: Dialog,
    pub phase: Phase,
    pub ivr: IvrRunner,
    pub port: u16,
    pub media: MediaParams,
    pub offer: RemoteMedia,
    pub neg: sdp::Negotiated,
    pub sdp_session: u64,
    pub sdp_version: u64,
    pub created: Instant,
    pub media_open: bool,
    /// The deadline this call is filed under in the endpoint's index.
    pub armed: Option<Instant>,
    /// Ringing people for this call (None while in the IVR or once bridged).
    pub connect: Option<Connecting>,
    /// Outbound legs: ringing ones, and the answered one.
    pub legs: Vec<OutLeg>,
    /// The media key of the leg the caller is bridged to.
    pub bridged: Option<CallKey>,
    /// Counter for the call layer's own prompt play ids.
    pub wait_plays: u32,
    /// Hold music playing while the manager holds the call.
    pub hold_play: Option<u32>,
    /// The manager who transferred this call here, for the next leg's headers.
    pub transferred_by: Option<String>,
    /// The manager's last keys, matched against the transfer feature code.
    pub feature_keys: String,
    /// A message being recorded.
    pub recording: Option<super::voicemail::Recording>,
    /// The department queue and reason this call goes to if nobody takes it.
    pub callback: Option<(String, crate::store::CallbackReason)>,
    /// Its callback request is filed (once per call).
    pub callback_filed: bool,
    /// A manager answered at some point.
    pub answered: bool,
    /// Menus and keys, for the callback request.
    pub menu_path: Vec<crate::store::MenuStep>,
    /// Time of the input being handled (set by `with_call`).
    pub now: Instant,
    pub wall: Timestamp,
}

impl CallSlot {
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Ringing { answer_at, .. } => Some(*answer_at),
            Phase::Active => [
                self.ivr.poll_timeout(),
                self.connect.as_ref().and_then(|c| c.poll_timeout()),
                self.legs
                    .iter()
                    .filter(|l| !l.is_up())
                    .map(|l| l.ring_until)
                    .min(),
            ]
            .into_iter()
            .flatten()
            .min(),
            _ => None,
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    /// We sent BYE and wait for its response.
    pub fn is_ending(&self) -> bool {
        matches!(self.phase, Phase::Ending)
    }

    pub fn finish(&mut self) {
        self.phase = Phase::Finished;
    }

    pub fn invite_key(&self) -> Option<ServerKey> {
        match &self.phase {
            Phase::Ringing { invite_key, .. } | Phase::WaitAck { invite_key } => {
                Some(invite_key.clone())
            }
            _ => None,
        }
    }
}

fn media_params(offer: &RemoteMedia, neg: &sdp::Negotiated) -> MediaParams {
    MediaParams {
        remote: neg.remote,
        codec: neg.codec,
        pt: neg.payload_type,
        te_pt: neg.telephone_event_pt,
        hold: offer.is_hold(),
    }
}

impl Endpoint {
    /// An initial INVITE: negotiate media, create the dialog and the call, ring or answer.
    pub(super) fn new_call(
        &mut self,
        now: Instant,
        wall: Timestamp,
        key: ServerKey,
        req: rsip::Request,
        peer: Peer,
    ) {
        let call_id = headers::call_id(&req).unwrap_or_default();
        let caller = headers::from_user(&req).unwrap_or_else(|| "anonymous".into());
        let dialled = headers::request_uri_user(&req)
            .or_else(|| headers::to_user(&req))
            .unwrap_or_default();
        let span = tracing::info_span!("call", id = %call_id, from = %caller, to = %dialled);
        let _enter = span.enter();

        let offer = match sdp::parse(&req.body) {
            Ok(o) => o,
            Err(e) => {
                tracing::info!("rejected: unusable SDP offer ({e})");
                return self.respond(now, key, &req, 488, None);
            }
        };
        let neg = match sdp::negotiate(&offer, &self.cfg.codecs) {
            Ok(n) => n,
            Err(e) => {
                tracing::info!("rejected with 488: {e}");
                return self.respond(now, key, &req, 488, None);
            }
        };
        let Some(port) = self.ports.allocate() else {
            tracing::warn!("rejected with 503: no free RTP port (raise rtp_ports)");
            return self.respond(now, key, &req, 503, None);
        };
        let local_tag = self.new_tag();
        let dialog = match Dialog::new_uas(&req, peer, &local_tag) {
            Ok(d) => d,
            Err(e) => {
                self.ports.release(port);
                tracing::info!("rejected with 400: {e}");
                return self.respond(now, key, &req, 400, None);
            }
        };
        self.next_key += 1;
        let call = CallKey(self.next_key);
        let info = CallInfo {
            call_id: call_id.to_string(),
            caller,
            caller_name: headers::from_display_name(&req),
            dialled,
            started_at: wall,
        };
        let media = media_params(&offer, &neg);
        tracing::info!(codec = ?neg.codec, "incoming call from {} via {}", info.caller, peer.addr);
        let states = self.manager_states(wall);
        let program = (self.programs)(&info, &states);
        // Issue 18: a number nobody routes is refused before answering, not answered
        // and hung up (the trunk would bill the caller for that).
        if let Some(reason) = program.refusal(&info) {
            self.ports.release(port);
            tracing::info!("rejected with 404: {reason}");
            return self.respond(now, key, &req, 404, None);
        }
        let ivr = IvrRunner::new(program);
        self.outputs.push_back(Output::Event(CallEvent::Started {
            key: call,
            info: info.clone(),
        }));
        let slot = CallSlot {
            key: call,
            info,
            span: span.clone(),
            dialog,
            phase: Phase::Ringing {
                invite_key: key.clone(),
                invite: Box::new(req),
                answer_at: now + self.cfg.ring_before_answer,
            },
            ivr,
            port,
            media,
            offer,
            neg,
            sdp_session: self.rng.random::<u32>() as u64,
            sdp_version: 1,
            created: now,
            media_open: false,
            armed: None,
            connect: None,
            legs: Vec::new(),
            bridged: None,
            wait_plays: 0,
            hold_play: None,
            transferred_by: None,
            feature_keys: String::new(),
            recording: None,
            callback: None,
            callback_filed: false,
            answered: false,
            menu_path: Vec::new(),
            now,
            wall,
        };
        self.by_tag.insert(local_tag, call);
        self.by_invite.insert(key, call);
        drop(_enter);
        let ring = !self.cfg.ring_before_answer.is_zero();
        self.calls.insert(call, slot);
        self.with_call(now, wall, call, |ep, slot, now, wall| {
            if ring {
                ep.send_provisional(slot, now, 180);
            } else {
                ep.answer(slot, now, wall);
            }
        });
    }

    fn send_provisional(&mut self, slot: &mut CallSlot, now: Instant, code: u16) {
        if let Phase::Ringing {
            invite_key, invite, ..
        } = &slot.phase
        {
            let mut resp =
                crate::sip::response::make_response(invite, code, Some(&slot.dialog.id.local_tag));
            resp.headers.push(rsip::Header::Contact(
                self.contact(slot.dialog.transport()).into(),
            ));
            let key = invite_key.clone();
            self.txn.send_response(now, key, resp);
        }
    }

    fn local_media(&self, slot: &CallSlot) -> LocalMedia {
        LocalMedia {
            ip: self.cfg.media_ip,
            port: slot.port,
            session_id: slot.sdp_session,
            session_version: slot.sdp_version,
        }
    }

    /// Send 200 OK with our SDP answer and open the media stream.
    fn answer(&mut self, slot: &mut CallSlot, now: Instant, _wall: Timestamp) {
        let Phase::Ringing {
            invite_key, invite, ..
        } = std::mem::replace(&mut slot.phase, Phase::Active)
        else {
            return;
        };
        let answer = sdp::build_answer(&slot.offer, &slot.neg, &self.local_media(slot));
        let mut resp =
            crate::sip::response::make_response(&invite, 200, Some(&slot.dialog.id.local_tag));
        self.add_uas_headers(&mut resp.headers, slot.dialog.transport());
        set_body(
            &mut resp.headers,
            &mut resp.body,
            "application/sdp",
            answer.into_bytes(),
        );
        let (ssrc, seq, ts) = (
            self.rng.random::<u32>(),
            self.rng.random::<u16>(),
            self.rng.random::<u32>(),
        );
        self.outputs.push_back(Output::Media(MediaCommand::Open {
            call: slot.key,
            port: slot.port,
            params: slot.media.clone(),
            inband_dtmf: self.cfg.server.inband_dtmf,
            ssrc,
            seq,
            ts,
        }));
        slot.media_open = true;
        self.txn.send_response(now, invite_key.clone(), resp);
        slot.phase = Phase::WaitAck { invite_key };
        tracing::info!(
            "answered after {} ms",
            now.saturating_duration_since(slot.created).as_millis()
        );
        self.outputs
            .push_back(Output::Event(CallEvent::Answered { key: slot.key }));
    }

    /// Our Contact: where the peer sends in-dialog requests (RFC 3261 §8.1.1.8).
    pub(super) fn contact(&self, transport: Transport) -> String {
        match transport {
            Transport::Udp => format!("<sip:{}>", self.cfg.sip_addr),
            Transport::Tcp => format!("<sip:{};transport=tcp>", self.cfg.sip_addr),
        }
    }

    pub(super) fn add_uas_headers(&self, headers: &mut rsip::Headers, transport: Transport) {
        headers.push(rsip::Header::Contact(self.contact(transport).into()));
        headers.push(rsip::Header::Allow(ALLOW.into()));
        headers.push(rsip::Header::Other("Supported".into(), "replaces".into()));
        headers.push(rsip::Header::Other("Server".into(), "Switchboard".into()));
    }

    pub(super) fn call_ack(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        ack: &rsip::Request,
    ) {
        if let Phase::WaitAck { .. } = slot.phase {
            slot.phase = Phase::Active;
            tracing::debug!("ACK received, starting the IVR");
            let info = slot.info.clone();
            slot.ivr.start(now, wall, &info);
        }
        // An ACK may carry the SDP answer to an offerless re-INVITE; ignored (we re-offered the same media).
        let _ = ack;
    }

    pub(super) fn call_cancelled(&mut self, slot: &mut CallSlot, now: Instant) {
        if let Phase::Ringing {
            invite_key, invite, ..
        } = std::mem::replace(&mut slot.phase, Phase::Finished)
        {
            let resp =
                crate::sip::response::make_response(&invite, 487, Some(&slot.dialog.id.local_tag));
            self.txn.send_response(now, invite_key, resp);
            tracing::info!("caller hung up before answer (CANCEL)");
            self.end(slot, now, EndCause::CallerCancelled);
        }
    }

    pub(super) fn call_timeout(&mut self, slot: &mut CallSlot, now: Instant, wall: Timestamp) {
        match &slot.phase {
            Phase::Ringing { answer_at, .. } if *answer_at <= now => self.answer(slot, now, wall),
            Phase::Active => {
                let info = slot.info.clone();
                slot.ivr.handle_timeout(now, wall, &info);
                self.connect_timeout(slot, now, wall);
            }
            _ => {}
        }
    }

    pub(super) fn call_media_event(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        ev: MediaEvent,
    ) {
        let info = slot.info.clone();
        match ev {
            MediaEvent::Digit { digit, source } => {
                tracing::info!("caller pressed {digit} ({source:?})");
                // RFC 4733 '#' ends a recording in the media plane; INFO digits only
                // reach us.
                if digit == '#' && source == DigitSource::Info && slot.recording.is_some() {
                    self.outputs
                        .push_back(Output::Media(MediaCommand::StopRecording {
                            call: slot.key,
                        }));
                }
                if matches!(slot.phase, Phase::Active) {
                    slot.ivr.handle_digit(now, wall, &info, digit);
                }
            }
            MediaEvent::PlaybackFinished { play_id } => {
                if !self.waiting_prompt_finished(slot, play_id) {
                    slot.ivr.handle_playback_finished(now, wall, &info, play_id)
                }
            }
            MediaEvent::RtpTimeout => {
                tracing::info!(
                    "no RTP from the caller for {} s: hanging up",
                    self.cfg.server.rtp_timeout_secs
                );
                self.hangup(slot, now, EndCause::RtpTimeout);
            }
            MediaEvent::RecordingFinished {
                record_id,
                duration,
                ended_by,
                silent,
                error,
                ..
            } => self.recording_finished(slot, now, record_id, duration, ended_by, silent, error),
            MediaEvent::Failed { reason } => {
                tracing::error!("media failed: {reason}");
                self.ports.retire(slot.port);
                self.hangup(slot, now, EndCause::MediaFailed(reason));
            }
        }
    }

    /// Requests inside an established dialog.
    pub(super) fn call_in_dialog(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        key: ServerKey,
        req: rsip::Request,
    ) {
        use rsip::Method;
        let to_tag = headers::to_tag(&req);
        if to_tag.as_deref() != Some(slot.dialog.id.local_tag.as_str()) {
            let Some(i) = slot
                .legs
                .iter()
                .position(|l| Some(l.local_tag.as_str()) == to_tag.as_deref())
            else {
                return self.respond(now, key, &req, 481, None);
            };
            if let Some(super::legs::LegState::Up { dialog }) =
                slot.legs.get_mut(i).map(|l| &mut l.state)
                && let Err(e) = dialog.handle_request_cseq(&req)
            {
                tracing::warn!("in-dialog {} from a manager: {e}", req.method);
                return self.respond(now, key, &req, 500, None);
            }
            if !slot.legs.get(i).is_some_and(|l| l.is_up()) {
                return self.respond(now, key, &req, 481, None);
            }
            return self.leg_in_dialog(slot, now, wall, i, key, req);
        }
        if let Err(e) = slot.dialog.handle_request_cseq(&req) {
            tracing::warn!("in-dialog {}: {e}", req.method);
            return self.respond(now, key, &req, 500, None);
        }
        match req.method {
            Method::Bye => {
                self.respond(now, key, &req, 200, None);
                tracing::info!("caller hung up");
                self.end(slot, now, EndCause::CallerHungUp);
            }
            Method::Invite => self.reinvite(slot, now, key, req),
            Method::Info => {
                let ctype = req.header_value("Content-Type").unwrap_or_default();
                match crate::media::info::parse_info_dtmf(&ctype, &req.body) {
                    Some(digit) => {
                        self.respond(now, key, &req, 200, None);
                        self.call_media_event(
                            slot,
                            now,
                            wall,
                            MediaEvent::Digit {
                                digit,
                                source: DigitSource::Info,
                            },
                        );
                    }
                    // RFC 6086 §4.2.2: an INFO package we don't support.
                    None if !req.body.is_empty() => self.respond(now, key, &req, 415, None),
                    None => self.respond(now, key, &req, 200, None),
                }
            }
            Method::Options => self.respond_options(now, key, &req),
            Method::Ack => {}
            _ => self.respond(now, key, &req, 405, None),
        }
    }

    /// RFC 3261 §14.2: a re-INVITE (hold/unhold, new address or codec) keeps the call.
    fn reinvite(&mut self, slot: &mut CallSlot, now: Instant, key: ServerKey, req: rsip::Request) {
        if !matches!(slot.phase, Phase::Active) {
            // §14.2: a re-INVITE while our own transaction is pending gets 491.
            return self.respond(now, key, &req, 491, None);
        }
        if !req.body.is_empty() {
            let negotiated = sdp::parse(&req.body)
                .and_then(|o| sdp::negotiate(&o, &self.cfg.codecs).map(|n| (o, n)));
            match negotiated {
                Ok((offer, neg)) => {
                    slot.media = media_params(&offer, &neg);
                    slot.offer = offer;
                    slot.neg = neg;
                    tracing::info!(hold = slot.media.hold, "re-INVITE: media updated");
                    self.outputs.push_back(Output::Media(MediaCommand::Update {
                        call: slot.key,
                        params: slot.media.clone(),
                    }));
                }
                Err(e) => {
                    tracing::info!("re-INVITE rejected with 488 ({e}); the call continues");
                    return self.respond(now, key, &req, 488, None);
                }
            }
        }
        slot.sdp_version += 1;
        let answer = sdp::build_answer(&slot.offer, &slot.neg, &self.local_media(slot));
        let mut resp = crate::sip::response::make_response(&req, 200, None);
        self.add_uas_headers(&mut resp.headers, slot.dialog.transport());
        set_body(
            &mut resp.headers,
            &mut resp.body,
            "application/sdp",
            answer.into_bytes(),
        );
        self.txn.send_response(now, key, resp);
    }

    /// End the call from our side with BYE.
    pub(super) fn hangup(&mut self, slot: &mut CallSlot, now: Instant, cause: EndCause) {
        match slot.phase {
            Phase::Ending | Phase::Finished => return,
            Phase::Ringing { .. } => {
                // Never answered: reject the INVITE instead of BYE.
                if let Phase::Ringing {
                    invite_key, invite, ..
                } = std::mem::replace(&mut slot.phase, Phase::Finished)
                {
                    let resp = crate::sip::response::make_response(
                        &invite,
                        480,
                        Some(&slot.dialog.id.local_tag),
                    );
                    self.txn.send_response(now, invite_key, resp);
                }
                return self.end(slot, now, cause);
            }
            _ => {}
        }
        let branch = self.new_branch();
        let bye =
            slot.dialog
                .build_request(rsip::Method::Bye, self.cfg.sip_addr, &branch, &[], None);
        let bye_key = bye.map(|bye| {
            let k = self.txn.send_request(now, bye, slot.dialog.peer);
            self.by_client.insert(k.clone(), slot.key);
            k
        });
        self.end(slot, now, cause);
        slot.phase = match bye_key {
            Some(_) => Phase::Ending,
            None => Phase::Finished,
        };
    }

    /// Common end of a call: stop its legs, close media, report, mark finished (unless
    /// a BYE is pending).
    fn end(&mut self, slot: &mut CallSlot, now: Instant, cause: EndCause) {
        let wall = slot.wall;
        let answered = slot.answered;
        self.callback_on_end(slot, now, answered);
        self.end_legs(slot, now, wall);
        if slot.media_open {
            self.outputs
                .push_back(Output::Media(MediaCommand::Close { call: slot.key }));
            slot.media_open = false;
        }
        let duration = now.saturating_duration_since(slot.created);
        tracing::info!(
            "call ended after {:.1} s: {:?}",
            duration.as_secs_f64(),
            cause
        );
        self.outputs.push_back(Output::Event(CallEvent::Ended {
            key: slot.key,
            cause,
            duration,
        }));
        slot.phase = Phase::Finished;
    }

    /// Carry out what the IVR asked for.
    pub(super) fn drain_ivr(&mut self, slot: &mut CallSlot, now: Instant) {
        while let Some(action) = slot.ivr.poll_action() {
            match action {
                IvrAction::Play { play_id, prompts } => {
                    tracing::debug!("playing {prompts:?}");
                    self.outputs.push_back(Output::Media(MediaCommand::Play {
                        call: slot.key,
                        play_id,
                        prompts,
                    }));
                }
                IvrAction::StopPlayback => self
                    .outputs
                    .push_back(Output::Media(MediaCommand::StopPlayback { call: slot.key })),
                IvrAction::MenuDone {
                    menu,
                    result,
                    reason,
                } => {
                    let input = match &result {
                        crate::call::MenuResult::Digits(d) => d.clone(),
                        crate::call::MenuResult::NoInput => String::new(),
                    };
                    tracing::info!(
                        "menu {menu}: {}{}",
                        if input.is_empty() {
                            "no input".to_string()
                        } else {
                            format!("caller chose {input}")
                        },
                        reason
                            .as_deref()
                            .map(|r| format!(" → {r}"))
                            .unwrap_or_default()
                    );
                    slot.menu_path.push(crate::store::MenuStep {
                        menu: menu.clone(),
                        digits: input.clone(),
                        at: slot.wall,
                    });
                    self.outputs.push_back(Output::Event(CallEvent::MenuChoice {
                        key: slot.key,
                        menu,
                        input,
                        reason,
                    }));
                }
                IvrAction::Decision { reason } => {
                    tracing::info!("routing: {reason}");
                    if slot.callback.is_none() && reason.contains("after hours") {
                        // Department unknown yet: the voicemail box names it.
                        slot.callback =
                            Some((String::new(), crate::store::CallbackReason::AfterHours));
                    }
                    self.outputs.push_back(Output::Event(CallEvent::Decision {
                        key: slot.key,
                        reason,
                    }));
                }
                IvrAction::Hangup { reason } => {
                    tracing::info!("IVR finished: {reason}");
                    self.hangup(slot, now, EndCause::Completed(reason));
                }
                IvrAction::Connect(target) => {
                    let wall = slot.wall;
                    self.start_connect(slot, now, wall, target);
                }
                IvrAction::Record {
                    mailbox,
                    max,
                    silence,
                } => self.start_recording(slot, mailbox, max, silence),
            }
        }
    }
}
