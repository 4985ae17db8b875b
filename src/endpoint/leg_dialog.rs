//! Requests from a manager's phone inside its leg's dialog: BYE, re-INVITE (hold),
//! INFO digits, REFER, OPTIONS.

use std::time::Instant;

use jiff::Timestamp;

use super::bridge::WAIT_PLAY_BASE;
use super::calls::CallSlot;
use super::{EndCause, Endpoint, Output};
use crate::call::{MediaCommand, MediaParams};
use crate::sdp;
use crate::sip::rsip::{self, prelude::*};

impl Endpoint {
    /// A request inside a leg's dialog (from a manager's phone).
    pub(super) fn leg_in_dialog(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        wall: Timestamp,
        i: usize,
        key: crate::transaction::ServerKey,
        req: rsip::Request,
    ) {
        use rsip::Method;
        match req.method {
            Method::Bye => {
                self.respond(now, key, &req, 200, None);
                let leg = slot.legs.remove(i);
                tracing::info!("{} hung up", leg.manager);
                self.end_talk(&leg.manager, wall);
                let was_bridged = slot.bridged == Some(leg.media_key);
                self.release_leg(&leg);
                if was_bridged {
                    slot.bridged = None;
                    self.hangup(slot, now, EndCause::ManagerHungUp);
                }
            }
            Method::Invite => self.leg_reinvite(slot, now, i, key, req),
            Method::Info => {
                let ctype = req.header_value("Content-Type").unwrap_or_default();
                let digit = crate::media::info::parse_info_dtmf(&ctype, &req.body);
                self.respond(now, key, &req, 200, None);
                if let Some(digit) = digit {
                    self.leg_digit(slot, now, wall, i, digit);
                }
            }
            Method::Refer => self.leg_refer(slot, now, wall, i, key, req),
            Method::Options => self.respond_options(now, key, &req),
            Method::Ack => {}
            _ => self.respond(now, key, &req, 405, None),
        }
    }

    /// A manager's re-INVITE: hold/unhold or new media. On hold the caller hears hold
    /// music instead of silence; unhold bridges them again.
    fn leg_reinvite(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        i: usize,
        key: crate::transaction::ServerKey,
        req: rsip::Request,
    ) {
        let codecs = self.cfg.codecs.clone();
        let ip = self.cfg.media_ip;
        let Some(leg) = slot.legs.get_mut(i) else {
            return;
        };
        let parsed = if req.body.is_empty() {
            None
        } else {
            match sdp::parse(&req.body).and_then(|o| sdp::negotiate(&o, &codecs).map(|n| (o, n))) {
                Ok(x) => Some(x),
                Err(e) => {
                    tracing::info!("{}'s re-INVITE rejected with 488 ({e})", leg.manager);
                    return self.respond(now, key, &req, 488, None);
                }
            }
        };
        leg.sdp_version += 1;
        let mut body = None;
        if let Some((offer, neg)) = parsed {
            let hold = offer.is_hold();
            let params = MediaParams {
                remote: neg.remote,
                codec: neg.codec,
                pt: neg.payload_type,
                te_pt: neg.telephone_event_pt,
                hold,
            };
            let was_hold = leg.media.as_ref().is_some_and(|m| m.hold);
            leg.media = Some(params.clone());
            body = Some(sdp::build_answer(&offer, &neg, &leg.local_media(ip)));
            let media_key = leg.media_key;
            if leg.media_open {
                self.outputs.push_back(Output::Media(MediaCommand::Update {
                    call: media_key,
                    params,
                }));
            }
            if slot.bridged == Some(media_key) && hold != was_hold {
                if hold {
                    tracing::info!("the manager put the caller on hold");
                    self.outputs
                        .push_back(Output::Media(MediaCommand::Unbridge { call: slot.key }));
                    slot.wait_plays = slot.wait_plays.wrapping_add(1);
                    let play_id = WAIT_PLAY_BASE | slot.wait_plays;
                    slot.hold_play = Some(play_id);
                    self.outputs.push_back(Output::Media(MediaCommand::Play {
                        call: slot.key,
                        play_id,
                        prompts: vec!["hold_music".into()],
                    }));
                } else {
                    tracing::info!("the manager took the caller off hold");
                    slot.hold_play = None;
                    self.outputs.push_back(Output::Media(MediaCommand::Bridge {
                        a: slot.key,
                        b: media_key,
                    }));
                }
            }
        }
        let mut resp = crate::sip::response::make_response(&req, 200, None);
        self.add_uas_headers(&mut resp.headers, leg_transport(slot, i));
        if let Some(b) = body {
            super::set_body(
                &mut resp.headers,
                &mut resp.body,
                "application/sdp",
                b.into_bytes(),
            );
        }
        self.txn.send_response(now, key, resp);
    }
}

fn leg_transport(slot: &CallSlot, i: usize) -> crate::sip::Transport {
    slot.legs
        .get(i)
        .map_or(crate::sip::Transport::Udp, |l| l.peer.transport)
}
