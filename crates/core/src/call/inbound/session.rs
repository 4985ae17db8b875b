//! The caller's session after the answer: re-INVITEs (hold, a new address or codec,
//! RFC 3261 §14.2) and the RFC 4028 session timer they refresh.

use super::*;

impl Call {
    /// RFC 3261 §14.2: a re-INVITE (hold/unhold, new address or codec, or only a
    /// session refresh) keeps the call. An UPDATE (RFC 3311) is taken the same way:
    /// it is not in our `Allow`, but a trunk that refreshes its session timer with one
    /// anyway gets its refresh rather than a 405 that would end the call; one without
    /// SDP is answered without SDP. A re-INVITE without SDP asks us to offer (RFC 3261
    /// §14.2): we offer our media `sendrecv` (RFC 6337 §5: so a resume can take the
    /// call off hold) and the caller's answer comes in the ACK.
    pub(super) fn reinvite(&mut self, ctx: &mut Ctx<'_>, key: ServerKey, req: rsip::Request) {
        match self.state {
            State::Active => {}
            // Our BYE is out: the dialog is going (RFC 3261 §15.1.2, §12.2.2).
            State::Ending { .. } | State::Finished => {
                return ctx.refuse(key, &req, Refusal::NoSuchDialog);
            }
            // §14.2: an INVITE before we answered the first one gets 500.
            State::Offered { .. } => return ctx.refuse(key, &req, Refusal::ServerError),
            // Our 200 is out and its ACK (with the answer, after a delayed offer) is not
            // in: the offer/answer exchange is still open (RFC 3264 §4).
            State::Answering { .. } => return ctx.refuse(key, &req, Refusal::RequestPending),
        }
        let update = req.method == rsip::Method::Update;
        let what = if update { "UPDATE" } else { "re-INVITE" };
        let offers = !req.body.is_empty();
        // RFC 3264 §4, RFC 3311 §5.2: no new offer while ours waits for its answer.
        if self.media.reoffer_pending.is_some() && (offers || !update) {
            return ctx.refuse(key, &req, Refusal::RequestPending);
        }
        // RFC 4028 §9: a refresh is negotiated like the INVITE; one asking for too
        // short an interval changes nothing (its media included).
        let timing = match session_timer::negotiate(&req, ctx.cfg.session_expires_secs) {
            Negotiation::TooSmall => {
                tracing::info!("{what} rejected with 422: session timer too short");
                return ctx.refuse(key, &req, Refusal::SessionIntervalTooSmall);
            }
            Negotiation::Off => None,
            Negotiation::Timer { interval } => Some(SessionTimer::start(ctx.now, interval)),
        };
        if offers {
            // RFC 4568 §7.1.4: our key stays unless SRTP starts now.
            let srtp_key = match self.media.security.params() {
                Some(p) => p.local.clone(),
                None => ctx.new_master_key(),
            };
            match read_offer(&req.body, &ctx.cfg.codecs, ctx.cfg.srtp, srtp_key) {
                Ok((offer, neg, security)) => {
                    self.media.params = media_params(&offer, &neg, &security);
                    self.media.offer = offer;
                    self.media.neg = neg;
                    self.media.security = security;
                    tracing::info!(hold = self.media.params.hold, "{what}: media updated");
                    ctx.media_cmd(MediaCommand::Update {
                        call: self.key,
                        params: self.media.params.clone(),
                    });
                }
                Err(e) => {
                    tracing::info!("{what} rejected with 488 ({e}); the call continues");
                    return ctx.refuse(key, &req, Refusal::NotAcceptableHere);
                }
            }
        }
        let mut resp = crate::sip::response::make_response(&req, 200, None);
        ctx.add_uas_headers(&mut resp.headers, self.dialog.transport());
        self.session_timer = match timing {
            Some(timer) => {
                if !matches!(self.session_timer, SessionTiming::Running(_)) {
                    tracing::info!(
                        "session timer: the caller's side refreshes every {} s at most",
                        timer.interval()
                    );
                }
                timer.add_headers(&mut resp.headers);
                SessionTiming::Running(timer)
            }
            None => SessionTiming::Off,
        };
        let sdp = match (offers, update) {
            (true, _) => Some(self.versioned_sdp(ctx, Self::answer_sdp)),
            // An offerless UPDATE is a refresh: no SDP either way.
            (false, true) => None,
            (false, false) => {
                self.media.reoffer_pending = headers::cseq(&req).map(|(n, _)| n);
                Some(self.versioned_sdp(ctx, Self::reoffer_sdp))
            }
        };
        if let Some(sdp) = sdp {
            set_body(
                &mut resp.headers,
                &mut resp.body,
                "application/sdp",
                sdp.into_bytes(),
            );
        }
        ctx.send_response(key, resp);
    }

    /// The ACK to our 200 for an offerless re-INVITE carries the caller's answer to
    /// the SDP we offered in it (RFC 3261 §14.2, RFC 3264 §8). Delayed-offer trunks
    /// (Cisco) send such re-INVITEs when they move the call (a transfer, music on
    /// hold, a resume), and the answer may name a new address or direction. Only the
    /// ACK of that re-INVITE (its CSeq) counts: a late copy of an earlier one does not.
    pub(super) fn take_reoffer_answer(&mut self, ctx: &mut Ctx<'_>, ack: &rsip::Request) {
        let Some(cseq) = self.media.reoffer_pending else {
            return;
        };
        if !matches!(self.state, State::Active) || headers::cseq(ack).map(|(n, _)| n) != Some(cseq)
        {
            return;
        }
        self.media.reoffer_pending = None;
        if ack.body.is_empty() {
            tracing::warn!("the ACK to our re-offer carries no SDP answer; media unchanged");
            return;
        }
        let srtp_key = match self.media.security.params() {
            Some(p) => p.local.clone(),
            None => ctx.new_master_key(),
        };
        match read_offer(&ack.body, &ctx.cfg.codecs, ctx.cfg.srtp, srtp_key) {
            Ok((offer, neg, security)) => {
                self.media.params = media_params(&offer, &neg, &security);
                self.media.offer = offer;
                self.media.neg = neg;
                self.media.security = security;
                tracing::info!(
                    hold = self.media.params.hold,
                    "the answer in the ACK updated the media"
                );
                ctx.media_cmd(MediaCommand::Update {
                    call: self.key,
                    params: self.media.params.clone(),
                });
            }
            Err(e) => {
                tracing::warn!("the ACK's SDP answer is unusable ({e}); media unchanged")
            }
        }
    }

    /// Our SDP from `build`, at a version that moved on if it differs from the last
    /// SDP we sent the caller (RFC 3264 §8: a refresh every few minutes must not look
    /// like a change, and a change must never keep the old version).
    pub(super) fn versioned_sdp(
        &mut self,
        ctx: &Ctx<'_>,
        build: fn(&Self, &Ctx<'_>) -> String,
    ) -> String {
        let mut sdp = build(self, ctx);
        let shape = without_version(&sdp);
        match &self.media.last_sent {
            Some(last) if *last == shape => {}
            Some(_) => {
                self.media.sdp_version += 1;
                sdp = build(self, ctx);
            }
            None => {}
        }
        self.media.last_sent = Some(shape);
        sdp
    }

    /// Our offer for an offerless re-INVITE: the current codec and key, `sendrecv`.
    fn reoffer_sdp(&self, ctx: &Ctx<'_>) -> String {
        sdp::build_offer(
            &self.local_media(ctx),
            &[self.media.neg.codec],
            self.media.neg.telephone_event_pt.unwrap_or(101),
            sdp::Direction::SendRecv,
            self.media.offer.profile,
            self.media
                .security
                .line()
                .map(std::slice::from_ref)
                .unwrap_or_default(),
        )
    }

    pub(super) fn answer_sdp(&self, ctx: &Ctx<'_>) -> String {
        sdp::build_answer(
            &self.media.offer,
            &self.media.neg,
            &self.local_media(ctx),
            self.media.security.line(),
        )
    }

    /// When the caller's side must have refreshed the session by (RFC 4028 §10).
    pub(super) fn session_deadline(&self) -> Option<Instant> {
        match &self.session_timer {
            SessionTiming::Running(timer) => Some(timer.deadline()),
            SessionTiming::Off | SessionTiming::Agreed { .. } => None,
        }
    }

    /// No refresh in time: the caller's side is gone (§10: the side that does not
    /// refresh sends BYE).
    pub(super) fn session_expired(&mut self, ctx: &mut Ctx<'_>) {
        if let SessionTiming::Running(timer) = self.session_timer {
            tracing::warn!(
                "no session refresh from the caller's side within {} s (RFC 4028 session \
                 timer): hanging up",
                timer.interval()
            );
        }
        self.session_timer = SessionTiming::Off;
        self.hangup(ctx, EndCause::SessionExpired);
    }
}

/// An SDP body with its `o=` version blanked: what tells two of our SDPs apart.
pub(super) fn without_version(sdp: &str) -> String {
    sdp.lines()
        .map(|line| match line.strip_prefix("o=") {
            Some(origin) => {
                let mut parts: Vec<&str> = origin.split(' ').collect();
                if let Some(v) = parts.get_mut(2) {
                    *v = "-";
                }
                format!("o={}", parts.join(" "))
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
