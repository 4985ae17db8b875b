//! One call leg's media, sans-IO: what to send every 20 ms, what the caller's packets
//! mean (digits, latching), and when the caller has gone silent.
//!
//! The driver owns the socket and the clock; it calls [`MediaSession::poll_transmit`]
//! when a frame is due and [`MediaSession::handle_rtp`] for each received packet.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::{DigitSource, MediaEvent, MediaParams};
use crate::media::g711::Law;
use crate::media::inband::InbandDetector;
use crate::media::pacer::{Pacer, PacerStep};
use crate::media::player::{PlayerEvent, PromptPlayer};
use crate::media::prompt::PromptSet;
use crate::media::rfc4733::DtmfReceiver;
use crate::media::rtp::{RtpSender, parse_rtp};
use crate::sdp::Codec;

/// 20 ms of G.711 at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
const PTIME: Duration = Duration::from_millis(20);

pub fn law_of(codec: Codec) -> Law {
    match codec {
        Codec::Pcmu => Law::Ulaw,
        Codec::Pcma => Law::Alaw,
    }
}

#[derive(Debug)]
pub struct MediaSession {
    params: MediaParams,
    law: Law,
    /// Where we send: the SDP address until the first RTP packet, then its source
    /// (symmetric RTP, RFC 4961 — trunks behind NAT advertise unreachable addresses).
    remote: Option<SocketAddr>,
    latched: bool,
    sender: RtpSender,
    pacer: Pacer,
    player: PromptPlayer,
    current_play: Option<u32>,
    prompts: Arc<PromptSet>,
    dtmf: DtmfReceiver,
    inband: Option<InbandDetector>,
    pcm_scratch: Vec<i16>,
    last_rx: Instant,
    rtp_timeout: Duration,
    timed_out: bool,
    events: VecDeque<MediaEvent>,
}

impl MediaSession {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        now: Instant,
        params: MediaParams,
        prompts: Arc<PromptSet>,
        rtp_timeout: Duration,
        inband: bool,
        ssrc: u32,
        seq: u16,
        ts: u32,
    ) -> Self {
        let law = law_of(params.codec);
        Self {
            remote: params.remote,
            latched: false,
            sender: RtpSender::new(ssrc, seq, ts, params.pt),
            pacer: Pacer::new(now, PTIME),
            player: PromptPlayer::new(),
            current_play: None,
            prompts,
            dtmf: DtmfReceiver::new(),
            inband: inband.then(InbandDetector::new),
            pcm_scratch: vec![0; FRAME_SAMPLES],
            last_rx: now,
            rtp_timeout,
            timed_out: false,
            events: VecDeque::new(),
            law,
            params,
        }
    }

    /// New parameters from a re-INVITE.
    pub fn update(&mut self, now: Instant, params: MediaParams) {
        if params.remote != self.params.remote {
            // A new address in SDP: follow it, and latch again on what arrives.
            self.remote = params.remote;
            self.latched = false;
        }
        self.law = law_of(params.codec);
        self.sender.pt = params.pt;
        self.last_rx = now;
        self.params = params;
    }

    /// Queue prompts; a missing prompt name is logged and skipped so a typo never
    /// leaves the caller in silence forever.
    pub fn play(&mut self, play_id: u32, names: &[String]) {
        self.player.stop();
        let mut any = false;
        for name in names {
            match self.prompts.get(name) {
                Some(p) => {
                    self.player.enqueue(p);
                    any = true;
                }
                None => tracing::error!("prompt \"{name}\" is not loaded; skipping it"),
            }
        }
        if any {
            self.current_play = Some(play_id);
        } else {
            self.current_play = None;
            self.events
                .push_back(MediaEvent::PlaybackFinished { play_id });
        }
    }

    pub fn stop_playback(&mut self) {
        self.player.stop();
        self.current_play = None;
    }

    /// A datagram arrived on our RTP port.
    pub fn handle_rtp(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) {
        let Ok(rtp) = parse_rtp(packet) else { return };
        let pt = rtp.payload_type;
        let ours = pt == self.params.pt || Some(pt) == self.params.te_pt;
        if !ours {
            return; // stray or comfort-noise payloads: not worth latching on
        }
        self.last_rx = now;
        if !self.latched || self.remote != Some(from) {
            if !self.latched {
                tracing::debug!(%from, "RTP latched");
            }
            self.remote = Some(from);
            self.latched = true;
        }
        if Some(pt) == self.params.te_pt {
            if let Some(digit) = self.dtmf.handle_packet(&rtp) {
                self.events.push_back(MediaEvent::Digit {
                    digit,
                    source: DigitSource::Rfc4733,
                });
            }
        } else if let Some(det) = &mut self.inband {
            let n = crate::media::g711::decode(self.law, rtp.payload, &mut self.pcm_scratch);
            if let Some(digit) = det.handle_samples(self.pcm_scratch.get(..n).unwrap_or_default()) {
                self.events.push_back(MediaEvent::Digit {
                    digit,
                    source: DigitSource::Inband,
                });
            }
        }
    }

    /// When the next frame is due.
    pub fn next_deadline(&self) -> Instant {
        self.pacer.next_deadline()
    }

    /// If a frame is due at `now`, write the RTP packet into `buf` and return where to
    /// send it and its length. Returns None when nothing is due or there is nowhere to send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        self.check_timeout(now);
        let PacerStep::Send { skipped } = self.pacer.poll(now) else {
            return None;
        };
        self.pacer.on_sent();
        if skipped > 0 {
            // We fell behind (the process was descheduled): keep the timeline true
            // instead of bursting stale audio.
            let samples =
                u32::try_from(skipped.saturating_mul(FRAME_SAMPLES as u64)).unwrap_or(u32::MAX);
            self.sender.skip(samples);
        }
        let (payload, ev) = self.player.next_frame(self.law);
        if let PlayerEvent::Finished(_) = ev {
            if let Some(play_id) = self.current_play.take() {
                self.events
                    .push_back(MediaEvent::PlaybackFinished { play_id });
            }
        }
        if self.params.hold {
            return None; // the peer put us on hold (it only sends, or nothing): stay quiet
        }
        let dest = self.remote?;
        let len = self
            .sender
            .write_packet(payload, FRAME_SAMPLES as u32, buf)
            .ok()?;
        Some((dest, len))
    }

    fn check_timeout(&mut self, now: Instant) {
        if self.timed_out || self.params.hold || self.rtp_timeout.is_zero() {
            return;
        }
        if now.saturating_duration_since(self.last_rx) >= self.rtp_timeout {
            self.timed_out = true;
            self.events.push_back(MediaEvent::RtpTimeout);
        }
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }
}
