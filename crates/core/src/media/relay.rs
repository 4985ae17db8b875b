//! The RTP relay's per-direction rewriter: turns a packet received on one leg into the
//! packet sent out of the other, sans-IO and allocation-free.
//!
//! Switchboard anchors the media of a bridged call (a B2BUA, not a proxy), so each
//! peer must see *one* continuous stream from us: the prompts and comfort silence we
//! sent before the bridge, then the other party's audio, then prompts again after an
//! unbridge. A [`StreamRewriter`] is owned by the *outgoing* leg and makes relayed
//! packets look like a continuation of that leg's own stream (RFC 3550 §5.1, §8.2):
//!
//! - SSRC: always the outgoing leg's own.
//! - Sequence number and timestamp: `out = in + offset` (wrapping), with the offsets
//!   chosen at the first relayed packet so that it continues the outgoing stream
//!   (next sequence number, next timestamp). Because the mapping is an offset, gaps
//!   and reordering caused by loss upstream are preserved for the far jitter buffer.
//! - A new incoming SSRC (the other leg was transferred or restarted its stream)
//!   recomputes the offsets, so the output stays continuous: sequence `last + 1`,
//!   timestamp at least one frame after the last one, marker bit set (RFC 3551 §4.1:
//!   the start of a talkspurt lets the receiver resynchronise its playout).
//! - Payload: same law is copied untouched; PCMU↔PCMA is transcoded with the G.711
//!   tables; RFC 4733 telephone-events are forwarded with the outgoing leg's
//!   telephone-event payload type (dropped if it negotiated none); anything else
//!   (comfort noise, unknown payload types) is dropped.
//! - Regenerated events ([`StreamRewriter::write_event`]): a digit the feature gate
//!   held back and then released is sent as a fresh RFC 4733 event at the stream's
//!   current position; the sequence offset grows by one per packet inserted, so the
//!   relayed packets that follow stay continuous.

use crate::media::g711::{FRAME_SAMPLES, Law, transcode};
use crate::media::rfc4733::{TelephoneEvent, encode_event};
use crate::media::rtp::{HEADER_LEN, RtpView};

/// A regenerated event lasts 100 ms (RFC 4733 §2.5.1.2 leaves it to the sender; phones
/// send 80-250 ms, and every receiver we know reports the digit on its first packet).
pub const REGENERATED_EVENT_SAMPLES: u16 = 800;
/// Its power level, -10 dBm0 (what phones typically send).
const REGENERATED_EVENT_VOLUME: u8 = 10;

/// The negotiated payload format of one leg: what its audio and telephone-event
/// payload types are, and which G.711 law its audio uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegFormat {
    pub law: Law,
    /// Audio payload type (possibly a dynamic number, RFC 3264 §6.1).
    pub pt: u8,
    /// RFC 4733 telephone-event payload type, if negotiated.
    pub te_pt: Option<u8>,
}

/// What an incoming packet carries, judged by the source leg's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// G.711 audio in the leg's law.
    Audio,
    /// RFC 4733 telephone-event.
    Event,
}

impl LegFormat {
    /// Classifies an incoming payload type; `None` for anything the relay drops
    /// (comfort noise PT 13, unknown or unnegotiated types).
    #[must_use]
    pub fn classify(&self, pt: u8) -> Option<PayloadKind> {
        if pt == self.pt {
            Some(PayloadKind::Audio)
        } else if Some(pt) == self.te_pt {
            Some(PayloadKind::Event)
        } else {
            None
        }
    }

    /// The payload type this leg expects for `kind`, if it negotiated one.
    #[must_use]
    pub fn pt_for(&self, kind: PayloadKind) -> Option<u8> {
        match kind {
            PayloadKind::Audio => Some(self.pt),
            PayloadKind::Event => self.te_pt,
        }
    }
}

/// The outgoing leg's identity, as the rewriter needs it for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    pub format: LegFormat,
    /// The SSRC of our stream towards this leg.
    pub ssrc: u32,
}

/// Rewrites packets of one relay direction into the outgoing leg's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRewriter {
    /// The incoming SSRC the offsets were computed for; `None` before the first packet.
    source: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    /// Where the output stream continues: one past the newest sequence number sent,
    /// and the timestamp just after the newest packet's media.
    next_seq: u16,
    next_ts: u32,
    /// The next packet written carries the marker bit.
    mark: bool,
    /// The timestamp of the event being regenerated (all its packets share it).
    event_ts: u32,
}

impl StreamRewriter {
    /// A rewriter continuing a stream whose next packet would have sequence number
    /// `next_seq` and timestamp `next_ts` (the outgoing leg's `RtpSender` state).
    #[must_use]
    pub fn new(next_seq: u16, next_ts: u32) -> StreamRewriter {
        StreamRewriter {
            source: None,
            seq_offset: 0,
            ts_offset: 0,
            next_seq,
            next_ts,
            mark: true,
            event_ts: next_ts,
        }
    }

    /// Sequence number the output stream continues with (e.g. paced frames after an
    /// unbridge).
    #[must_use]
    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Timestamp the output stream continues with.
    #[must_use]
    pub fn next_ts(&self) -> u32 {
        self.next_ts
    }

    /// Writes into `out` the packet to send for `rtp`, received on a leg with format
    /// `src`, towards `dst`. Returns its length, or `None` when the packet is dropped
    /// (a payload type the relay does not carry, no telephone-event on the outgoing
    /// leg, or `out` too small). A dropped packet leaves the rewriter unchanged.
    pub fn rewrite(
        &mut self,
        rtp: &RtpView<'_>,
        src: &LegFormat,
        dst: &Destination,
        out: &mut [u8],
    ) -> Option<usize> {
        let kind = src.classify(rtp.payload_type)?;
        let pt = dst.format.pt_for(kind)?;
        let len = HEADER_LEN.checked_add(rtp.payload.len())?;
        let (header, body) = out.get_mut(..len)?.split_at_mut_checked(HEADER_LEN)?;

        if self.source != Some(rtp.ssrc) {
            // First packet, or a new source: continue our stream from where it is.
            self.source = Some(rtp.ssrc);
            self.seq_offset = self.next_seq.wrapping_sub(rtp.seq);
            self.ts_offset = self.next_ts.wrapping_sub(rtp.timestamp);
            self.mark = true;
        }
        let seq = rtp.seq.wrapping_add(self.seq_offset);
        let ts = rtp.timestamp.wrapping_add(self.ts_offset);

        match kind {
            PayloadKind::Audio if src.law != dst.format.law => {
                transcode(src.law, dst.format.law, rtp.payload, body);
            }
            _ => body.copy_from_slice(rtp.payload),
        }
        let marker = rtp.marker || self.mark;
        let mut h = [0u8; HEADER_LEN];
        h[0] = 0x80; // V=2; no padding, extension or CSRCs (all stripped)
        h[1] = (u8::from(marker) << 7) | (pt & 0x7F);
        h[2..4].copy_from_slice(&seq.to_be_bytes());
        h[4..8].copy_from_slice(&ts.to_be_bytes());
        h[8..12].copy_from_slice(&dst.ssrc.to_be_bytes());
        header.copy_from_slice(&h);
        self.mark = false;

        // Track the newest packet (RFC 1982 serial order, so a late packet does not
        // move the continuation point back).
        if serial_ge_u16(seq, self.next_seq) {
            self.next_seq = seq.wrapping_add(1);
        }
        // G.711 is one byte per sample; an event covers its duration from its start
        // timestamp (RFC 4733 §2.5.1.2). At least one frame, so a new source never
        // reuses the last timestamp.
        let samples = match kind {
            PayloadKind::Audio => rtp.payload.len(),
            PayloadKind::Event => match *rtp.payload {
                [_, _, d0, d1, ..] => usize::from(u16::from_be_bytes([d0, d1])),
                _ => 0,
            },
        };
        let samples = u32::try_from(samples.max(FRAME_SAMPLES)).unwrap_or(u32::MAX);
        let end = ts.wrapping_add(samples);
        if serial_gt_u32(end, self.next_ts) {
            self.next_ts = end;
        }
        Some(len)
    }
}

impl StreamRewriter {
    /// Writes into `out` one packet of a regenerated telephone-event (`event` is the
    /// RFC 4733 code) towards `dst`: the start (`end` false: marker bit, 20 ms into the
    /// event) begins a new event at the stream's current position; the end packets
    /// (`end` true, send three, §2.5.1.4) carry [`REGENERATED_EVENT_SAMPLES`] and the
    /// same timestamp. `None` when `dst` negotiated no telephone-event or `out` is too
    /// small; nothing changes then.
    pub fn write_event(
        &mut self,
        event: u8,
        end: bool,
        dst: &Destination,
        out: &mut [u8],
    ) -> Option<usize> {
        let pt = dst.format.te_pt?;
        let len = HEADER_LEN + 4;
        let (header, body) = out.get_mut(..len)?.split_at_mut_checked(HEADER_LEN)?;
        if !end {
            self.event_ts = self.next_ts;
        }
        let ts = self.event_ts;
        let duration = if end {
            REGENERATED_EVENT_SAMPLES
        } else {
            FRAME_SAMPLES as u16
        };
        body.copy_from_slice(&encode_event(&TelephoneEvent {
            event,
            end,
            volume: REGENERATED_EVENT_VOLUME,
            duration,
        }));
        let seq = self.next_seq;
        let mut h = [0u8; HEADER_LEN];
        h[0] = 0x80;
        h[1] = (u8::from(!end) << 7) | (pt & 0x7F);
        h[2..4].copy_from_slice(&seq.to_be_bytes());
        h[4..8].copy_from_slice(&ts.to_be_bytes());
        h[8..12].copy_from_slice(&dst.ssrc.to_be_bytes());
        header.copy_from_slice(&h);
        // The inserted packet takes a sequence number: relayed ones shift up by one.
        self.next_seq = seq.wrapping_add(1);
        self.seq_offset = self.seq_offset.wrapping_add(1);
        let event_end = ts.wrapping_add(u32::from(REGENERATED_EVENT_SAMPLES));
        if end && serial_gt_u32(event_end, self.next_ts) {
            // The next regenerated event must get a timestamp of its own.
            self.next_ts = event_end;
        }
        Some(len)
    }
}

/// `a` is `b` or newer in 16-bit serial-number order (RFC 1982).
fn serial_ge_u16(a: u16, b: u16) -> bool {
    a.wrapping_sub(b) < 0x8000
}

/// `a` is strictly newer than `b` in 32-bit serial-number order (RFC 1982).
fn serial_gt_u32(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000_0000
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
