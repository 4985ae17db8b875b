//! The caller's session after the answer: re-INVITEs (hold, a new address or codec,
//! RFC 3261 §14.2) and the RFC 4028 session timer they refresh.

use super::*;

impl Call {
    /// RFC 3261 §14.2: a re-INVITE (hold/unhold, new address or codec, or only a
    /// session refresh) keeps the call. An UPDATE (RFC 3311) is taken the same way:
    /// it is not in our `Allow`, but a trunk that refreshes its session timer with one
    /// anyway gets its refresh rather than a 405 that would end the call; one without
    /// SDP is answered without SDP.
    pub(super) fn reinvite(&mut self, ctx: &mut Ctx<'_>, key: ServerKey, req: rsip::Request) {
        match self.state {
            State::Active => {}
            // Our BYE is out: the dialog is going (RFC 3261 §15.1.2, §12.2.2).
            State::Ending { .. } | State::Finished => {
                return ctx.refuse(key, &req, Refusal::NoSuchDialog);
            }
            // §14.2: a re-INVITE while our own transaction is pending gets 491.
            State::Offered { .. } | State::Answering { .. } => {
                return ctx.refuse(key, &req, Refusal::RequestPending);
            }
        }
        let update = req.method == rsip::Method::Update;
        let what = if update { "UPDATE" } else { "re-INVITE" };
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
        let before = self.answer_sdp(ctx);
        if !req.body.is_empty() {
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
        // RFC 3264 §8: the version moves only when our SDP does (a session refresh
        // every few minutes must not look like a change to the trunk).
        let mut answer = self.answer_sdp(ctx);
        if answer != before {
            self.media.sdp_version += 1;
            answer = self.answer_sdp(ctx);
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
        // An offerless re-INVITE made our SDP an offer: its answer comes in the ACK.
        self.media.reoffer_pending = !update && req.body.is_empty();
        if !(update && req.body.is_empty()) {
            set_body(
                &mut resp.headers,
                &mut resp.body,
                "application/sdp",
                answer.into_bytes(),
            );
        }
        ctx.send_response(key, resp);
    }

    /// The ACK to our 200 for an offerless re-INVITE carries the caller's answer to
    /// the SDP we offered in it (RFC 3261 §14.2, RFC 3264 §8). Delayed-offer trunks
    /// (Cisco) send such re-INVITEs when they move the call (a transfer, music on
    /// hold, a resume), and the answer may name a new address or direction.
    pub(super) fn take_reoffer_answer(&mut self, ctx: &mut Ctx<'_>, ack: &rsip::Request) {
        if !std::mem::take(&mut self.media.reoffer_pending) {
            return;
        }
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

    fn answer_sdp(&self, ctx: &Ctx<'_>) -> String {
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
