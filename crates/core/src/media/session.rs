//! One call leg's media, sans-IO: what to send every 20 ms, what the caller's packets
//! mean (digits, latching), and when the caller has gone silent.
//!
//! The driver owns the socket and the clock; it calls [`MediaSession::poll_transmit`]
//! when a frame is due and [`MediaSession::handle_rtp`] for each received packet.
//!
//! A session can be *bridged* ([`MediaSession::bridge`]): it then sends no frames of its
//! own; instead what the partner leg receives is written out of this one by
//! [`MediaSession::relay_out`], continuing the same RTP stream (see [`crate::media::relay`]).
//! The driver moves each packet between the two sessions, locking one at a time.
//!
//! On a manager's leg, telephone-events that could be a feature code are held back
//! from the partner ([`MediaSession::set_feature_codes`], [`crate::media::feature_gate`]):
//! their packets are not relayed, and digits released later are regenerated out of the
//! partner leg ([`MediaSession::relay_digit`]) after the driver drains them from
//! [`MediaSession::poll_released_digit`].
//!
//! A leg that negotiated SRTP ([`crate::media::srtp`]) authenticates and decrypts each
//! packet in place before anything else looks at it — latching, digits, recording and
//! the relay all see plain RTP, and a packet that fails (tampered, replayed, another
//! key) is dropped and counted before it can latch, be heard or be relayed — and
//! encrypts every packet it sends last, after the pacer or the relay wrote it. A bridge
//! between an SRTP leg and a plain one, or two SRTP legs with their own keys, is
//! therefore decrypt → rewrite → encrypt with no special case.
//!
//! A session can also *record* what the peer sends ([`MediaSession::start_recording`]):
//! each audio packet is decoded and fed to a [`Recorder`]; the driver drains
//! [`MediaSession::poll_record`] (open, append, close) and writes the file elsewhere,
//! so no file I/O happens on the packet path.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::media::codec::Codec;
use crate::media::feature_gate::{Disposition, FeatureGate, GateOutput};
use crate::media::g711::Law;
use crate::media::inband::InbandDetector;
use crate::media::latch::{Latch, LatchConfig, LatchDecision};
use crate::media::listing::Listing;
use crate::media::pacer::{Pacer, PacerStep};
use crate::media::player::{PlayerEvent, PromptPlayer};
use crate::media::prompt::PromptSet;
use crate::media::recorder::{Continuity, RecordOutput, Recorder, StreamCursor};
use crate::media::relay::{Destination, LegFormat, StreamRewriter};
use crate::media::rfc4733::{DtmfReceiver, digit_to_event};
use crate::media::rtp::{RtpSender, RtpView, parse_rtp};
use crate::media::srtp::{Dropped, SrtpParams, SrtpStreams};
use crate::media::{DigitSource, MediaEvent, MediaParams};

/// 20 ms of G.711 at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
const PTIME: Duration = Duration::from_millis(20);
/// How often the pacer visits a bridged session, only to check the RTP timeout: a
/// bridged leg sends nothing of its own, so visiting it every 20 ms would be 50 lock
/// round trips a second for nothing.
pub const BRIDGED_CHECK: Duration = Duration::from_secs(1);

/// A packet received on a bridged leg that should go out of the partner leg; it
/// borrows the received datagram, so the driver can pass it on without copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward<'a> {
    pub rtp: RtpView<'a>,
    /// The receiving leg's payload format, to classify and transcode the payload.
    pub src: LegFormat,
}

/// A recording in progress.
#[derive(Debug)]
struct Recording {
    id: u32,
    path: PathBuf,
    recorder: Recorder,
    /// Spots lost packets in the peer's stream, to record silence in their place.
    cursor: StreamCursor,
}

/// The telephone-events (SSRC, timestamp) whose packets are held back: the last few,
/// so a late retransmission of an event's end packet is held back as well.
#[derive(Debug, Default)]
struct HeldEvents {
    events: [Option<(u32, u32)>; 4],
    next: usize,
}

impl HeldEvents {
    fn insert(&mut self, event: (u32, u32)) {
        if let Some(slot) = self.events.get_mut(self.next % 4) {
            *slot = Some(event);
        }
        self.next = self.next.wrapping_add(1);
    }

    fn contains(&self, event: (u32, u32)) -> bool {
        self.events.contains(&Some(event))
    }
}

/// Bridged-mode state: our outgoing stream is the partner's relayed packets.
///
/// `repr(C)` with `check_at` first, right after the session's per-frame fields: whether
/// the session is bridged is read for every paced frame, and `Option<Relay>` keeps that
/// in a niche of one of the relay's fields (the compiler's choice, not guaranteed; an
/// `Instant`'s nanoseconds offer one), at best in the line the per-frame fields end in.
#[derive(Debug)]
#[repr(C)]
struct Relay {
    /// When the pacer should next visit (for the RTP timeout only).
    check_at: Instant,
    rewriter: StreamRewriter,
}

/// How the leg's packets are protected.
#[derive(Debug)]
enum Protection {
    Plain,
    Srtp(Box<SrtpStreams>),
    /// SRTP was negotiated but its context could not be built (never with keys that
    /// came through offer/answer): nothing is sent or accepted rather than plain RTP.
    Unusable,
}

impl Protection {
    fn new(params: Option<&SrtpParams>) -> Self {
        match params.map(SrtpStreams::new) {
            None => Protection::Plain,
            Some(Ok(s)) => Protection::Srtp(Box::new(s)),
            Some(Err(e)) => {
                tracing::error!("{e}; the leg's media is dropped");
                Protection::Unusable
            }
        }
    }

    /// Encrypts `buf[..len]` in place for sending: the length to send, or None.
    fn seal(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        match self {
            Protection::Plain => Some(len),
            Protection::Srtp(s) => s.protect(buf, len),
            Protection::Unusable => None,
        }
    }
}

/// SRTP packets dropped since the driver last asked ([`MediaSession::take_srtp_drops`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SrtpDrops {
    /// Authentication failed: tampered with, or sent with another key.
    pub auth: u64,
    /// Replayed (or older than the replay window).
    pub replay: u64,
    /// Not SRTP at all (too short).
    pub malformed: u64,
}

impl SrtpDrops {
    #[must_use]
    pub fn total(&self) -> u64 {
        self.auth + self.replay + self.malformed
    }
}

/// The leg's payload format as negotiated.
fn format_of(params: &MediaParams) -> LegFormat {
    LegFormat {
        law: law_of(params.codec),
        pt: params.pt,
        te_pt: params.te_pt,
    }
}

pub fn law_of(codec: Codec) -> Law {
    match codec {
        Codec::Pcmu => Law::Ulaw,
        Codec::Pcma => Law::Alaw,
    }
}

/// One leg's media.
///
/// The field order is the memory layout (`repr(C)`), and it is chosen for the pacer:
/// it visits every prompt-playing session every 20 ms, and between two visits the
/// kernel's and every other call's work has pushed the session out of the CPU's cache,
/// so each cache line a visit touches costs a trip to memory. The fields a paced frame
/// reads or writes come first, together (the first 416 bytes, seven 64-byte lines);
/// what only received packets, a bridge or a recording need comes after them; the big
/// optional parts (the in-band detector, a recording, a feature gate) live behind a
/// pointer, so an idle one costs a word. Before this order the session was 1,792 bytes
/// (632 now) with a frame's fields spread over some fourteen lines; a visit with the
/// caches emptied took 68 ns, 54 ns now (`benches/session_frame.rs`;
/// `docs/performance.md`, issue 16). The test
/// `a_paced_frames_fields_stay_in_the_sessions_first_lines` keeps it so.
#[derive(Debug)]
#[repr(C)]
pub struct MediaSession {
    // ---- every paced frame ----
    pacer: Pacer,
    sender: RtpSender,
    /// The negotiated payload format (law, audio and telephone-event payload types).
    format: LegFormat,
    /// On hold (sendonly/inactive/0.0.0.0 offer): keep the stream's timeline but send
    /// nothing, and stop the inactivity timer, since a held peer legitimately sends
    /// nothing.
    hold: bool,
    timed_out: bool,
    player: PromptPlayer,
    listing: Listing,
    last_rx: Instant,
    rtp_timeout: Duration,
    recording: Option<Box<Recording>>,
    /// Holds back the peer's digits that could be a feature code (a manager's leg).
    gate: Option<Box<FeatureGate>>,
    protection: Protection,
    events: VecDeque<MediaEvent>,
    record_out: VecDeque<RecordOutput>,
    /// Digits the gate released, to regenerate out of the partner leg.
    released: VecDeque<char>,
    /// Where we send and whom we accept RTP from: the SDP address until the peer is
    /// learnt, then its source (symmetric RTP, RFC 4961 — trunks behind NAT advertise
    /// unreachable addresses), and nobody else (see [`crate::media::latch`]).
    latch: Latch,
    // ---- bridged: every relayed packet ----
    /// `Some` while bridged to another leg.
    relay: Option<Relay>,
    held: HeldEvents,
    // ---- every received packet ----
    /// Loss and reordering of what the peer sends, for the metrics.
    rx_stats: crate::media::rtp::RxStats,
    dtmf: DtmfReceiver,
    /// Packets from sources other than the peer, dropped; and re-latches (NAT
    /// rebinding), since the driver last took them.
    foreign_dropped: u64,
    relatched: u64,
    srtp_drops: SrtpDrops,
    inband: Option<Box<InbandDetector>>,
    pcm_scratch: Vec<i16>,
    // ---- commands ----
    prompts: Arc<PromptSet>,
}

impl MediaSession {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        now: Instant,
        params: MediaParams,
        prompts: Arc<PromptSet>,
        rtp_timeout: Duration,
        latch: LatchConfig,
        inband: bool,
        ssrc: u32,
        seq: u16,
        ts: u32,
    ) -> Self {
        Self {
            latch: Latch::new(latch, params.remote),
            foreign_dropped: 0,
            relatched: 0,
            sender: RtpSender::new(ssrc, seq, ts, params.pt),
            pacer: Pacer::new(now, PTIME),
            player: PromptPlayer::new(),
            listing: Listing::Idle,
            prompts,
            dtmf: DtmfReceiver::new(),
            inband: inband.then(|| Box::new(InbandDetector::new())),
            pcm_scratch: vec![0; FRAME_SAMPLES],
            last_rx: now,
            rtp_timeout,
            timed_out: false,
            events: VecDeque::new(),
            rx_stats: crate::media::rtp::RxStats::default(),
            relay: None,
            recording: None,
            record_out: VecDeque::new(),
            gate: None,
            held: HeldEvents::default(),
            released: VecDeque::new(),
            protection: Protection::new(params.srtp.as_ref()),
            srtp_drops: SrtpDrops::default(),
            format: format_of(&params),
            hold: params.hold,
        }
    }

    /// New parameters from a re-INVITE.
    pub fn update(&mut self, now: Instant, params: MediaParams) {
        // A new address in SDP: follow it, and learn again from what arrives.
        self.latch.update_sdp(params.remote);
        self.format = format_of(&params);
        self.hold = params.hold;
        self.sender.pt = params.pt;
        self.last_rx = now;
        // New keys (RFC 4568 §7.1.4: a re-offer may change them) renew the side that
        // changed; the same keys keep the running contexts.
        match (&mut self.protection, &params.srtp) {
            (Protection::Plain, None) => {}
            (Protection::Srtp(s), Some(p)) => {
                if let Err(e) = s.update(p) {
                    tracing::error!("{e}; the leg's media is dropped");
                    self.protection = Protection::Unusable;
                }
            }
            _ => self.protection = Protection::new(params.srtp.as_ref()),
        }
    }

    /// Whether the leg's media is SRTP.
    #[must_use]
    pub fn is_srtp(&self) -> bool {
        !matches!(self.protection, Protection::Plain)
    }

    /// Queue prompts; a missing prompt name is logged and skipped so a typo never
    /// leaves the caller in silence forever. A bridged leg plays nothing (its stream
    /// is the partner's audio): the list finishes at once so the call never waits for
    /// a prompt nobody hears.
    ///
    /// `first_key_wait`: see [`MediaCommand::Play`]. A list still waiting for its first
    /// key is reported before the new one starts.
    ///
    /// [`MediaCommand::Play`]: crate::media::command::MediaCommand::Play
    pub fn play(&mut self, now: Instant, play_id: u32, names: &[String], first_key_wait: Duration) {
        self.player.stop();
        if self.relay.is_some() {
            tracing::warn!(
                play_id,
                "leg is bridged: not playing prompts (unbridge first)"
            );
            self.end_at_once(play_id, now);
            return;
        }
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
            self.listing
                .start(play_id, first_key_wait, &mut self.events);
        } else {
            self.end_at_once(play_id, now);
        }
    }

    /// A list with nothing to play (a bridged leg, no prompt loaded) ends at once. A
    /// previous list's held end is reported before it, and the stop also ends a list
    /// still playing (its player was just stopped).
    fn end_at_once(&mut self, play_id: u32, now: Instant) {
        self.report_end();
        self.listing.stop();
        self.events.push_back(MediaEvent::PlaybackFinished {
            play_id,
            ended: now,
        });
    }

    /// Stops the list at once (barge-in): no PlaybackFinished follows, not even for a
    /// list that ended and waits for its first key (the call stopped it because a key
    /// reached it another way, SIP INFO).
    pub fn stop_playback(&mut self) {
        self.player.stop();
        self.listing.stop();
    }

    /// Reports a list that ended and waits for its first key, now: a key came, or
    /// something else needs the call's attention first.
    fn report_end(&mut self) {
        self.listing.report_end(&mut self.events);
    }

    /// This leg's negotiated payload format.
    #[must_use]
    pub fn format(&self) -> LegFormat {
        self.format
    }

    /// Enters bridged mode: playback stops (no PlaybackFinished, as with
    /// [`Self::stop_playback`]) and the pacer sends nothing more from this session;
    /// relayed packets continue our stream from its next sequence number and timestamp.
    /// Bridging an already bridged session keeps its stream state.
    pub fn bridge(&mut self, now: Instant) {
        self.stop_playback();
        if self.relay.is_none() {
            self.relay = Some(Relay {
                rewriter: StreamRewriter::new(self.sender.seq, self.sender.timestamp),
                check_at: now,
            });
        }
    }

    /// Leaves bridged mode: paced frames (silence until something plays) resume at
    /// `now`, continuing the sequence numbers and timestamps of the relayed packets,
    /// with the marker bit so the peer's jitter buffer resynchronises.
    pub fn unbridge(&mut self, now: Instant) {
        if let Some(relay) = self.relay.take() {
            self.sender.seq = relay.rewriter.next_seq();
            self.sender.timestamp = relay.rewriter.next_ts();
            self.sender.mark_next();
            self.pacer = Pacer::new(now, PTIME);
        }
    }

    #[must_use]
    pub fn is_bridged(&self) -> bool {
        self.relay.is_some()
    }

    /// Writes into `out` the packet that relays `fwd` (received on the partner leg)
    /// to this leg's peer, and returns where to send it and its length. `None` when
    /// not bridged (any more), on hold (a held peer receives nothing), with no known
    /// address, or when the rewriter drops the packet (see [`StreamRewriter::rewrite`]).
    pub fn relay_out(&mut self, fwd: &Forward<'_>, out: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if self.hold {
            return None;
        }
        let dest = self.latch.destination()?;
        let dst = Destination {
            format: self.format(),
            ssrc: self.sender.ssrc,
        };
        let relay = self.relay.as_mut()?;
        let len = relay.rewriter.rewrite(&fwd.rtp, &fwd.src, &dst, out)?;
        let len = self.protection.seal(out, len)?;
        Some((dest, len))
    }

    /// Writes into `out` one packet of a regenerated telephone-event for `digit` (one
    /// the partner's feature gate released) towards this leg's peer: call it with
    /// `end` false once, then with `end` true three times (RFC 4733 §2.5.1.4). `None`
    /// as for [`Self::relay_out`], or when this leg negotiated no telephone-event.
    pub fn relay_digit(
        &mut self,
        digit: char,
        end: bool,
        out: &mut [u8],
    ) -> Option<(SocketAddr, usize)> {
        if self.hold {
            return None;
        }
        let dest = self.latch.destination()?;
        let event = digit_to_event(digit)?;
        let dst = Destination {
            format: self.format(),
            ssrc: self.sender.ssrc,
        };
        let relay = self.relay.as_mut()?;
        let len = relay.rewriter.write_event(event, end, &dst, out)?;
        let len = self.protection.seal(out, len)?;
        Some((dest, len))
    }

    /// Hold back this peer's telephone-events that could start one of `codes` (see
    /// [`crate::media::MediaCommand::FeatureCodes`]).
    pub fn set_feature_codes(&mut self, codes: Vec<String>, timeout: Duration) {
        self.gate = Some(Box::new(FeatureGate::new(codes, timeout)));
    }

    /// The next digit the feature gate released, to regenerate out of the partner leg
    /// with [`Self::relay_digit`] (in order, before relaying anything newer).
    #[must_use]
    pub fn poll_released_digit(&mut self) -> Option<char> {
        self.released.pop_front()
    }

    fn gate_timeout(&mut self, now: Instant) {
        if let Some(gate) = &mut self.gate
            && gate.poll_timeout().is_some_and(|at| at <= now)
        {
            gate.handle_timeout(now);
            self.drain_gate();
        }
    }

    fn drain_gate(&mut self) {
        let Some(gate) = &mut self.gate else { return };
        while let Some(out) = gate.poll_output() {
            match out {
                GateOutput::Release(digit) => self.released.push_back(digit),
                GateOutput::Recognised(code) => {
                    self.events.push_back(MediaEvent::FeatureCode { code })
                }
            }
        }
    }

    /// `(late, lost)` incoming packets since the last call.
    pub fn take_rx_stats(&mut self) -> (u64, u64) {
        self.rx_stats.take()
    }

    /// SRTP packets dropped (authentication, replay, malformed) since the last call.
    pub fn take_srtp_drops(&mut self) -> SrtpDrops {
        std::mem::take(&mut self.srtp_drops)
    }

    /// `(foreign packets dropped, re-latches)` since the last call.
    pub fn take_latch_stats(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.foreign_dropped),
            std::mem::take(&mut self.relatched),
        )
    }

    /// A datagram arrived on our RTP port. On an SRTP leg it is first authenticated
    /// and decrypted in place (a packet that fails is dropped and counted: as an SRTP
    /// drop, [`Self::take_srtp_drops`], when it came from where the stream may come
    /// from, else as foreign, [`Self::take_latch_stats`]). Then its source is checked
    /// against the latch (a packet from anyone but the peer is dropped before it is
    /// looked at: no digits, no recording, no relay, no redirect), digits are detected
    /// and, while bridged, the plain packet to relay to the partner leg is returned
    /// (audio and telephone-events of the negotiated payload types only; not the
    /// events the feature gate holds back). Digits the gate releases wait in
    /// [`Self::poll_released_digit`]; relay them first.
    pub fn handle_rtp<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet: &'a mut [u8],
    ) -> Option<Forward<'a>> {
        // RFC 5761 §4: RTCP multiplexed on the RTP port (second byte 192–223). We send
        // no RTCP and read none; it must not count as a failed SRTP packet.
        if packet.get(1).is_some_and(|b| (192..=223).contains(b)) {
            return None;
        }
        let len = match &mut self.protection {
            Protection::Plain => packet.len(),
            Protection::Srtp(s) => match s.unprotect(now, packet) {
                Ok(len) => len,
                // From an address the stream cannot come from: a stranger's packet
                // (strict latching would drop it anyway), not a key problem.
                Err(_) if !self.latch.expects(from) => {
                    self.foreign_dropped += 1;
                    return None;
                }
                Err(why) => {
                    match why {
                        Dropped::Auth => self.srtp_drops.auth += 1,
                        Dropped::Replay => self.srtp_drops.replay += 1,
                        Dropped::Malformed => self.srtp_drops.malformed += 1,
                    }
                    return None;
                }
            },
            Protection::Unusable => return None,
        };
        let packet: &'a [u8] = packet;
        let rtp = parse_rtp(packet.get(..len)?).ok()?;
        let pt = rtp.payload_type;
        let ours = pt == self.format.pt || Some(pt) == self.format.te_pt;
        if !ours {
            return None; // stray or comfort-noise payloads: not worth latching on
        }
        match self.latch.handle_packet(now, from, rtp.ssrc, rtp.seq) {
            LatchDecision::Accept => {}
            LatchDecision::Latched => tracing::debug!(%from, "RTP latched"),
            LatchDecision::Relatched { old } => {
                self.relatched += 1;
                tracing::info!(%old, new = %from, "RTP source moved (NAT rebinding): re-latched");
            }
            LatchDecision::Learning => return None,
            LatchDecision::Foreign => {
                self.foreign_dropped += 1;
                return None;
            }
        }
        self.last_rx = now;
        self.rx_stats.observe(rtp.ssrc, rtp.seq);
        self.gate_timeout(now);
        let mut held_back = false;
        if Some(pt) == self.format.te_pt {
            if let Some(digit) = self.dtmf.handle_packet(&rtp) {
                self.report_end();
                self.events.push_back(MediaEvent::Digit {
                    digit,
                    source: DigitSource::Rfc4733,
                });
                if let Some(rec) = &mut self.recording {
                    rec.recorder.handle_digit(digit);
                }
                if let Some(gate) = &mut self.gate
                    && gate.handle_digit(now, digit) == Disposition::Hold
                {
                    self.held.insert((rtp.ssrc, rtp.timestamp));
                }
                self.drain_gate();
            }
            held_back = self.held.contains((rtp.ssrc, rtp.timestamp));
        } else if self.inband.is_some() || self.recording.is_some() {
            self.handle_audio(now, &rtp);
        }
        if self.recording.is_some() {
            self.drain_recording();
        }
        if held_back {
            return None;
        }
        self.relay.as_ref().map(|_| Forward {
            rtp,
            src: self.format(),
        })
    }

    /// Decodes an audio packet for the in-band detector and the recorder, in 20 ms
    /// pieces (the scratch buffer's size), whatever the peer's packet time.
    fn handle_audio(&mut self, now: Instant, rtp: &RtpView<'_>) {
        let mut record = self.recording.is_some();
        if let Some(rec) = &mut self.recording {
            let samples = u32::try_from(rtp.payload.len()).unwrap_or(u32::MAX);
            match rec.cursor.handle_packet(rtp.ssrc, rtp.timestamp, samples) {
                Continuity::InOrder => {}
                Continuity::Gap(missing) => {
                    rec.recorder
                        .handle_gap(usize::try_from(missing).unwrap_or(usize::MAX));
                }
                Continuity::Late => record = false, // already counted as lost
            }
        }
        for piece in rtp.payload.chunks(FRAME_SAMPLES) {
            let n = crate::media::g711::decode(self.format.law, piece, &mut self.pcm_scratch);
            let pcm = self.pcm_scratch.get(..n).unwrap_or_default();
            if let Some(det) = &mut self.inband
                && let Some(digit) = det.handle_samples(pcm)
            {
                self.listing.report_end(&mut self.events);
                self.events.push_back(MediaEvent::Digit {
                    digit,
                    source: DigitSource::Inband,
                });
                if let Some(rec) = &mut self.recording {
                    rec.recorder.handle_digit(digit);
                }
            }
            if record && let Some(rec) = &mut self.recording {
                rec.recorder.handle_audio(now, pcm);
            }
        }
    }

    /// Starts recording what the peer sends into `path` (see
    /// [`crate::media::MediaCommand::Record`]); a recording already running ends first
    /// ([`crate::media::RecordEnd::Stopped`]). Works while a prompt plays (the beep) and
    /// while bridged.
    pub fn start_recording(
        &mut self,
        now: Instant,
        record_id: u32,
        path: PathBuf,
        max: Duration,
        silence: Duration,
        stop_digits: &str,
    ) {
        self.stop_recording(now);
        self.record_out.push_back(RecordOutput::Start {
            record_id,
            path: path.clone(),
        });
        self.recording = Some(Box::new(Recording {
            id: record_id,
            path,
            recorder: Recorder::new(now, max, silence, stop_digits),
            cursor: StreamCursor::default(),
        }));
        self.drain_recording();
    }

    /// Ends the recording now (hang-up, StopRecording, Close): its end comes out of
    /// [`Self::poll_record`] at once. Nothing happens when not recording.
    pub fn stop_recording(&mut self, _now: Instant) {
        if let Some(rec) = &mut self.recording {
            rec.recorder.stop();
            self.drain_recording();
        }
    }

    #[must_use]
    pub fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

    /// What the recording asks of the driver, in order: [`RecordOutput::Start`],
    /// [`RecordOutput::Audio`] about once a second, then [`RecordOutput::End`].
    #[must_use]
    pub fn poll_record(&mut self) -> Option<RecordOutput> {
        self.record_out.pop_front()
    }

    /// Moves the recorder's chunks and, once it has ended, its result to `record_out`.
    fn drain_recording(&mut self) {
        let Some(rec) = &mut self.recording else {
            return;
        };
        while let Some(samples) = rec.recorder.poll_chunk() {
            self.record_out.push_back(RecordOutput::Audio {
                record_id: rec.id,
                samples,
            });
        }
        if let Some(result) = rec.recorder.poll_finished()
            && let Some(rec) = self.recording.take()
        {
            self.record_out.push_back(RecordOutput::End {
                record_id: rec.id,
                path: rec.path,
                result,
            });
        }
    }

    /// When the next frame is due (while bridged: when the RTP timeout is next checked,
    /// or held digits are due for release if that is sooner).
    pub fn next_deadline(&self) -> Instant {
        match &self.relay {
            Some(relay) => {
                let release = self.gate.as_ref().and_then(|g| g.poll_timeout());
                release.map_or(relay.check_at, |at| at.min(relay.check_at))
            }
            None => self.pacer.next_deadline(),
        }
    }

    /// If a frame is due at `now`, write the RTP packet into `buf` and return where to
    /// send it and its length. Returns None when nothing is due or there is nowhere to send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        self.listing.handle_timeout(now, &mut self.events);
        self.check_timeout(now);
        self.gate_timeout(now);
        if let Some(rec) = &mut self.recording {
            // The recording's wall-clock limits, for when the caller sends nothing.
            rec.recorder.handle_timeout(now);
            self.drain_recording();
        }
        if let Some(relay) = &mut self.relay {
            // The partner's packets are our stream; a silent peer still times out.
            relay.check_at = now + BRIDGED_CHECK;
            return None;
        }
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
        let (payload, ev) = self.player.next_frame(self.format.law);
        let prompt_ended = matches!(ev, PlayerEvent::Finished(_));
        // On hold the peer only sends (or nothing): stay quiet, but keep the timeline.
        let sent = match (self.hold, self.latch.destination()) {
            (false, Some(dest)) => self
                .sender
                .write_packet(payload, FRAME_SAMPLES as u32, buf)
                .ok()
                .and_then(|len| self.protection.seal(buf, len))
                .map(|len| (dest, len)),
            _ => None,
        };
        // The player reports the end of each prompt; the call cares about the end of
        // the whole list it asked for.
        if prompt_ended && !self.player.is_playing() {
            self.listing.handle_end(now, &mut self.events);
        }
        sent
    }

    fn check_timeout(&mut self, now: Instant) {
        if self.timed_out || self.hold || self.rtp_timeout.is_zero() {
            return;
        }
        if now.saturating_duration_since(self.last_rx) >= self.rtp_timeout {
            self.timed_out = true;
            self.report_end();
            self.events.push_back(MediaEvent::RtpTimeout);
        }
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "session_srtp_tests.rs"]
mod srtp_tests;
