//! What reaches an established call: media events of the caller's stream or a leg's,
//! in-dialog requests (BYE, re-INVITE, INFO, REFER), and the answers and timeouts of
//! requests the call sent.

use super::*;

impl Call {
    /// A media event of the caller's stream (`leg: None`) or of a leg's.
    pub fn handle_media_event(&mut self, ctx: &mut Ctx<'_>, leg: Option<CallKey>, ev: MediaEvent) {
        match leg {
            Some(leg) => self.leg_media_event(ctx, leg, ev),
            None => self.caller_media_event(ctx, ev),
        }
        self.drain_flow(ctx);
    }

    pub(super) fn caller_media_event(&mut self, ctx: &mut Ctx<'_>, ev: MediaEvent) {
        match ev {
            MediaEvent::Digit { digit, source } => {
                tracing::info!("caller pressed {digit} ({source:?})");
                if !matches!(self.state, State::Active) {
                    return;
                }
                // RFC 4733 '#' ends a recording in the media plane; INFO digits only
                // reach us.
                if digit == '#'
                    && source == DigitSource::Info
                    && self.flow.story().stage == super::super::outcome::Stage::Recording
                {
                    ctx.media_cmd(MediaCommand::StopRecording { call: self.key });
                }
                let states = ctx.states();
                self.flow.handle_digit(ctx.now, ctx.wall, &states, digit);
            }
            MediaEvent::PlaybackFinished { play_id, ended } => {
                // A menu's end is reported once its first-digit wait is over (or at
                // the first key: `MediaCommand::Play`); the menu's timer runs from when
                // the prompts really ended, so it is due now and fires in this same
                // activation of the driver.
                let ended = ended.min(ctx.now);
                let wall = jiff::SignedDuration::try_from(ctx.now - ended)
                    .ok()
                    .and_then(|late| ctx.wall.checked_sub(late).ok())
                    .unwrap_or(ctx.wall);
                self.flow.handle_playback_finished(ended, wall, play_id);
            }
            MediaEvent::RtpTimeout => {
                tracing::info!(
                    "no RTP from the caller for {} s: hanging up",
                    ctx.cfg.rtp_timeout_secs
                );
                self.hangup(ctx, EndCause::RtpTimeout);
            }
            MediaEvent::RecordingFinished {
                record_id,
                path,
                duration,
                ended_by,
                silent,
                error,
            } => {
                if record_id == super::super::conversation::CONVERSATION_RECORD_ID {
                    self.taping_finished(ctx, record_id, path, duration, error);
                } else {
                    self.flow.handle_recording_finished(
                        ctx.now, ctx.wall, record_id, path, duration, ended_by, silent, error,
                    );
                }
            }
            // Only managers' legs watch for feature codes.
            MediaEvent::FeatureCode { .. } => {}
            MediaEvent::Failed { reason } => {
                tracing::error!("media failed: {reason}");
                ctx.retire_port(self.media.port);
                self.hangup(ctx, EndCause::MediaFailed(reason));
            }
        }
    }

    /// A request inside the caller's dialog, or inside one of the legs' (by To tag).
    pub fn handle_in_dialog(&mut self, ctx: &mut Ctx<'_>, key: ServerKey, req: rsip::Request) {
        let to_tag = headers::to_tag(&req);
        if to_tag.as_deref() != Some(self.dialog.id.local_tag.as_str()) {
            self.leg_in_dialog(ctx, key, req, to_tag.as_deref().unwrap_or_default());
            return self.drain_flow(ctx);
        }
        if matches!(self.state, State::Finished) {
            return ctx.refuse(key, &req, Refusal::NoSuchDialog);
        }
        if let Err(e) = self.dialog.handle_request(&req) {
            tracing::warn!("in-dialog {}: {e}", req.method);
            return ctx.refuse(key, &req, Refusal::ServerError);
        }
        match req.method {
            rsip::Method::Bye => {
                ctx.respond(key, &req, 200);
                tracing::info!("caller hung up");
                self.end(ctx, EndCause::CallerHungUp);
            }
            rsip::Method::Invite | rsip::Method::Update => self.reinvite(ctx, key, req),
            rsip::Method::Info => {
                let ctype = req.header_value("Content-Type").unwrap_or_default();
                match crate::media::info::parse_info_dtmf(&ctype, &req.body) {
                    Some(digit) => {
                        ctx.respond(key, &req, 200);
                        self.caller_media_event(
                            ctx,
                            MediaEvent::Digit {
                                digit,
                                source: DigitSource::Info,
                            },
                        );
                    }
                    // RFC 6086 §4.2.2: an INFO package we don't support.
                    None if !req.body.is_empty() => {
                        ctx.refuse(key, &req, Refusal::UnsupportedMediaType)
                    }
                    None => ctx.respond(key, &req, 200),
                }
            }
            rsip::Method::Options => respond_options(ctx, key, &req),
            rsip::Method::Ack => {}
            _ => ctx.refuse(key, &req, Refusal::MethodNotAllowed),
        }
        self.drain_flow(ctx);
    }

    /// A response to one of this call's client transactions (a leg's INVITE, a BYE).
    pub fn handle_response(&mut self, ctx: &mut Ctx<'_>, key: &ClientKey, resp: rsip::Response) {
        let code = resp.status_code.code();
        if let State::Ending { bye } = &self.state
            && bye == key
        {
            if code >= 200 {
                ctx.index().unbind_client(key);
                self.state = State::Finished;
            }
            return;
        }
        self.leg_response(ctx, key, resp);
        self.drain_flow(ctx);
    }

    /// A client transaction of this call got no final response (Timer B/F).
    pub fn handle_client_timeout(&mut self, ctx: &mut Ctx<'_>, key: &ClientKey) {
        if let State::Ending { bye } = &self.state
            && bye == key
        {
            self.state = State::Finished;
            return;
        }
        self.leg_client_timeout(ctx, key);
        self.drain_flow(ctx);
    }
}
