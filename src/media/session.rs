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
        let prompt_ended = matches!(ev, PlayerEvent::Finished(_));
        // On hold the peer only sends (or nothing): stay quiet, but keep the timeline.
        let sent = match (self.params.hold, self.remote) {
            (false, Some(dest)) => self
                .sender
                .write_packet(payload, FRAME_SAMPLES as u32, buf)
                .ok()
                .map(|len| (dest, len)),
            _ => None,
        };
        // The player reports the end of each prompt; the call cares about the end of
        // the whole list it asked for.
        if prompt_ended
            && !self.player.is_playing()
            && let Some(play_id) = self.current_play.take()
        {
            self.events
                .push_back(MediaEvent::PlaybackFinished { play_id });
        }
        sent
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Prompt;

    fn session(t0: Instant, timeout: Duration) -> MediaSession {
        let mut set = PromptSet::new();
        set.insert(Prompt::from_pcm("a", vec![1000; 160 * 3]));
        set.insert(Prompt::from_pcm("b", vec![1000; 160 * 2]));
        let params = MediaParams {
            remote: Some("127.0.0.1:4000".parse().unwrap()),
            codec: Codec::Pcmu,
            pt: 0,
            te_pt: Some(101),
            hold: false,
        };
        MediaSession::new(t0, params, Arc::new(set), timeout, false, 1, 100, 1000)
    }

    fn frames(s: &mut MediaSession, from: Instant, n: u32) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut buf = [0u8; 200];
        (0..n)
            .filter_map(|i| {
                let now = from + PTIME * i;
                s.poll_transmit(now, &mut buf)
                    .map(|(a, l)| (a, buf[..l].to_vec()))
            })
            .collect()
    }

    #[test]
    fn a_prompt_list_finishes_once_at_its_end() {
        let t0 = Instant::now();
        let mut s = session(t0, Duration::ZERO);
        s.play(7, &["a".into(), "b".into()]);
        let sent = frames(&mut s, t0, 4);
        assert_eq!(sent.len(), 4);
        assert_eq!(
            s.poll_event(),
            None,
            "the first prompt ending is not the end of the list"
        );
        frames(&mut s, t0 + PTIME * 4, 1);
        assert_eq!(
            s.poll_event(),
            Some(MediaEvent::PlaybackFinished { play_id: 7 })
        );
        frames(&mut s, t0 + PTIME * 5, 3);
        assert_eq!(s.poll_event(), None);
    }

    #[test]
    fn missing_prompt_is_skipped_not_waited_for() {
        let t0 = Instant::now();
        let mut s = session(t0, Duration::ZERO);
        s.play(3, &["nope".into()]);
        assert_eq!(
            s.poll_event(),
            Some(MediaEvent::PlaybackFinished { play_id: 3 })
        );
    }

    #[test]
    fn latches_onto_rtp_source_and_paces_without_drift() {
        let t0 = Instant::now();
        let mut s = session(t0, Duration::ZERO);
        let mut pkt = [0u8; 172];
        pkt[0] = 0x80; // V=2, PT 0
        let nat: SocketAddr = "192.0.2.7:31000".parse().unwrap();
        s.handle_rtp(t0, nat, &pkt);
        let sent = frames(&mut s, t0, 500);
        assert_eq!(sent.len(), 500);
        assert!(
            sent.iter().all(|(a, _)| *a == nat),
            "symmetric RTP: send where the caller sends from"
        );
        assert_eq!(s.next_deadline(), t0 + PTIME * 500);
        // sequence and timestamp advance per frame
        let seq = |p: &Vec<u8>| u16::from_be_bytes([p[2], p[3]]);
        assert_eq!(seq(&sent[499].1).wrapping_sub(seq(&sent[0].1)), 499);
    }

    #[test]
    fn silence_from_the_caller_times_out_once_but_not_on_hold() {
        let t0 = Instant::now();
        let mut s = session(t0, Duration::from_secs(30));
        frames(&mut s, t0 + Duration::from_secs(31), 1);
        assert_eq!(s.poll_event(), Some(MediaEvent::RtpTimeout));
        frames(&mut s, t0 + Duration::from_secs(32), 1);
        assert_eq!(s.poll_event(), None);

        let mut s = session(t0, Duration::from_secs(30));
        let mut held = s.params.clone();
        held.hold = true;
        s.update(t0, held);
        frames(&mut s, t0 + Duration::from_secs(60), 1);
        assert_eq!(s.poll_event(), None);
    }
}
