//! RTP (RFC 3550) packet writing for our outgoing streams and parsing of incoming ones.
//!
//! Sans-IO: the sender holds only header state; the driver supplies the buffer, the
//! random initial values (RFC 3550 §5.1: SSRC, sequence number and timestamp start
//! random) and decides when to send. Nothing here allocates per packet.

use bytes::{BufMut, BytesMut};

/// Fixed RTP header length without CSRCs or extension (RFC 3550 §5.1).
pub const HEADER_LEN: usize = 12;

/// Why an incoming datagram is not an RTP packet we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("RTP packet too short ({len} bytes, the header alone is 12)")]
    TooShort { len: usize },
    #[error("not RTP version 2 (version {version})")]
    BadVersion { version: u8 },
    #[error("RTP header claims {header_len} bytes but the datagram has {len}")]
    Truncated { header_len: usize, len: usize },
    #[error("RTP padding length {pad} is invalid")]
    BadPadding { pad: u8 },
    /// RFC 5761 §4: with rtcp-mux, RTCP packet types 192-223 sit where RTP would carry
    /// marker + payload type 64-95 (which is why those payload types are not used);
    /// such a datagram is RTCP, not media.
    #[error("datagram is RTCP (packet type {packet_type}), not RTP")]
    Rtcp { packet_type: u8 },
    #[error(
        "output buffer too small for the RTP packet ({needed} bytes needed, {available} available)"
    )]
    BufferTooSmall { needed: usize, available: usize },
}

/// A parsed view of an RTP packet, borrowing the payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpView<'a> {
    pub payload_type: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Payload without CSRCs, header extension or padding.
    pub payload: &'a [u8],
}

/// Parses an RTP packet. Never panics, whatever the bytes.
pub fn parse_rtp(buf: &[u8]) -> Result<RtpView<'_>, RtpError> {
    // Check RTCP first: rtp-rs would happily parse an RTCP report as RTP.
    if let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1))
        && b0 >> 6 == 2
        && (192..=223).contains(&b1)
    {
        return Err(RtpError::Rtcp { packet_type: b1 });
    }
    let r = rtp_rs::RtpReader::new(buf).map_err(|e| match e {
        rtp_rs::RtpReaderError::BufferTooShort(len) => RtpError::TooShort { len },
        rtp_rs::RtpReaderError::UnsupportedVersion(version) => RtpError::BadVersion { version },
        rtp_rs::RtpReaderError::HeadersTruncated {
            header_len,
            buffer_len,
        } => RtpError::Truncated {
            header_len,
            len: buffer_len,
        },
        rtp_rs::RtpReaderError::PaddingLengthInvalid(pad) => RtpError::BadPadding { pad },
    })?;
    // `RtpReader::new` validated offsets and padding, so `payload()` cannot panic.
    Ok(RtpView {
        payload_type: r.payload_type(),
        marker: r.mark(),
        seq: r.sequence_number().into(),
        timestamp: r.timestamp(),
        ssrc: r.ssrc(),
        payload: r.payload(),
    })
}

/// State of one outgoing RTP stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpSender {
    pub ssrc: u32,
    /// Sequence number of the next packet.
    pub seq: u16,
    /// Timestamp of the next packet (8 kHz units for G.711 and telephone-event).
    pub timestamp: u32,
    pub pt: u8,
    /// The next packet starts a talkspurt and carries the marker bit.
    pub first: bool,
}

impl RtpSender {
    /// A new stream; `ssrc`, `seq` and `timestamp` should be random (RFC 3550 §5.1).
    #[must_use]
    pub fn new(ssrc: u32, seq: u16, timestamp: u32, pt: u8) -> RtpSender {
        RtpSender {
            ssrc,
            seq,
            timestamp,
            pt,
            first: true,
        }
    }

    /// Writes a packet carrying `payload` into `out` and advances the stream by
    /// `samples` (160 for a 20 ms G.711 frame). Returns the packet length.
    ///
    /// RFC 3551 §4.1: the marker bit is set on the first packet of a talkspurt; we send
    /// continuously (comfort silence) so that is the first packet of the stream, or the
    /// first after [`Self::skip`] / [`Self::mark_next`].
    pub fn write_packet(
        &mut self,
        payload: &[u8],
        samples: u32,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let needed = HEADER_LEN + payload.len();
        let available = out.len();
        let Some((header, body)) = out
            .get_mut(..needed)
            .and_then(|p| p.split_at_mut_checked(HEADER_LEN))
        else {
            return Err(RtpError::BufferTooSmall { needed, available });
        };
        header.copy_from_slice(&self.next_header());
        body.copy_from_slice(payload);
        self.advance(samples);
        Ok(needed)
    }

    /// Appends a packet to `out` (growing it if needed); otherwise as [`Self::write_packet`].
    pub fn write_to_bytes(&mut self, payload: &[u8], samples: u32, out: &mut BytesMut) {
        out.reserve(HEADER_LEN + payload.len());
        out.put_slice(&self.next_header());
        out.put_slice(payload);
        self.advance(samples);
    }

    /// Advances the timestamp over `samples` that were not sent (the pacer skipped
    /// frames after a stall) and marks the next packet, so the receiver's jitter buffer
    /// resynchronises instead of playing the gap compressed. RFC 3550 §5.1: the sequence
    /// number counts packets, so it does not move.
    pub fn skip(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.first = true;
    }

    /// Sets the marker bit on the next packet (start of a new talkspurt).
    pub fn mark_next(&mut self) {
        self.first = true;
    }

    fn next_header(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = 0x80; // V=2, P=0, X=0, CC=0
        h[1] = (u8::from(self.first) << 7) | (self.pt & 0x7F);
        h[2..4].copy_from_slice(&self.seq.to_be_bytes());
        h[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        h[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        h
    }

    fn advance(&mut self, samples: u32) {
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.first = false;
    }
}

/// Loss and reordering of one incoming stream, from its sequence numbers (RFC 3550
/// §6.4.1 in spirit): a jump forward counts the skipped packets as lost; a packet
/// from behind is late (and no longer lost). A jump of more than 3000 either way is
/// a restart, not loss. Counters are taken by the driver for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RxStats {
    stream: Option<(u32, u16)>,
    late: u64,
    lost: u64,
}

impl RxStats {
    pub fn observe(&mut self, ssrc: u32, seq: u16) {
        let Some((cur, expected)) = self.stream.filter(|(s, _)| *s == ssrc) else {
            self.stream = Some((ssrc, seq.wrapping_add(1)));
            return;
        };
        let _ = cur;
        let delta = seq.wrapping_sub(expected) as i16;
        match delta {
            0 => self.stream = Some((ssrc, seq.wrapping_add(1))),
            1..3000 => {
                self.lost += delta as u64;
                self.stream = Some((ssrc, seq.wrapping_add(1)));
            }
            -3000..0 => {
                self.late += 1;
                self.lost = self.lost.saturating_sub(1);
            }
            _ => self.stream = Some((ssrc, seq.wrapping_add(1))),
        }
    }

    /// `(late, lost)` since the last call.
    pub fn take(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.late),
            std::mem::take(&mut self.lost),
        )
    }
}

#[cfg(test)]
mod rx_stats_tests {
    use super::RxStats;

    #[test]
    fn gaps_are_lost_and_stragglers_late() {
        let mut s = RxStats::default();
        for seq in [65534u16, 65535, 0, 3, 1, 4] {
            s.observe(7, seq);
        }
        // 1 and 2 skipped (lost), then 1 arrives late: one lost, one late.
        assert_eq!(s.take(), (1, 1));
        s.observe(8, 100); // a new source starts fresh
        s.observe(8, 101);
        s.observe(8, 9000); // a restart, not 8898 lost packets
        assert_eq!(s.take(), (0, 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sender_header_fields_marker_and_wrapping() {
        let mut s = RtpSender::new(0xDEAD_BEEF, 0xFFFF, u32::MAX - 100, 0);
        let mut buf = [0u8; 200];
        let payload = [0xFFu8; 160];
        let n = s.write_packet(&payload, 160, &mut buf).unwrap();
        assert_eq!(n, 172);
        let v = parse_rtp(&buf[..n]).unwrap();
        assert!(v.marker);
        assert_eq!(v.payload_type, 0);
        assert_eq!(v.seq, 0xFFFF);
        assert_eq!(v.timestamp, u32::MAX - 100);
        assert_eq!(v.ssrc, 0xDEAD_BEEF);
        assert_eq!(v.payload, &payload[..]);
        // Second packet: no marker, seq and timestamp wrapped.
        let n = s.write_packet(&payload, 160, &mut buf).unwrap();
        let v = parse_rtp(&buf[..n]).unwrap();
        assert!(!v.marker);
        assert_eq!(v.seq, 0);
        assert_eq!(v.timestamp, 59);
        assert_eq!(&buf[..2], &[0x80, 0x00]);
    }

    #[test]
    fn skip_moves_timestamp_not_seq_and_marks() {
        let mut s = RtpSender::new(1, 10, 1000, 8);
        let mut out = BytesMut::new();
        s.write_to_bytes(&[0xD5; 160], 160, &mut out);
        s.skip(5 * 160);
        s.write_to_bytes(&[0xD5; 160], 160, &mut out);
        let second = parse_rtp(&out[172..]).unwrap();
        assert_eq!(second.seq, 11);
        assert_eq!(second.timestamp, 1000 + 160 + 800);
        assert!(second.marker);
        assert_eq!(second.payload_type, 8);
        s.mark_next();
        assert!(s.first);
    }

    #[test]
    fn small_buffer_is_an_error_and_state_is_unchanged() {
        let mut s = RtpSender::new(1, 2, 3, 0);
        let before = s.clone();
        let mut buf = [0u8; 100];
        let e = s.write_packet(&[0; 160], 160, &mut buf).unwrap_err();
        assert_eq!(
            e,
            RtpError::BufferTooSmall {
                needed: 172,
                available: 100
            }
        );
        assert_eq!(s, before);
    }

    #[test]
    fn parses_csrc_extension_and_padding() {
        let mut p = vec![0xB1u8, 0xE5, 0, 7, 0, 0, 0, 9, 0, 0, 0, 1]; // P, X, CC=1, M, PT 101
        p.extend_from_slice(&[0, 0, 0, 2]); // CSRC
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // one-word extension
        p.extend_from_slice(&[5, 0x8A, 0, 160]); // payload
        p.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let v = parse_rtp(&p).unwrap();
        assert_eq!(v.payload_type, 101);
        assert!(v.marker);
        assert_eq!(v.seq, 7);
        assert_eq!(v.timestamp, 9);
        assert_eq!(v.payload, &[5, 0x8A, 0, 160]);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_rtp(&[]), Err(RtpError::TooShort { len: 0 }));
        assert_eq!(parse_rtp(&[0x80; 5]), Err(RtpError::TooShort { len: 5 }));
        assert_eq!(
            parse_rtp(&[0x40; 12]),
            Err(RtpError::BadVersion { version: 1 })
        );
        // CSRC count 15 with no room for them.
        assert!(matches!(
            parse_rtp(&[0x8F; 20]),
            Err(RtpError::Truncated { .. })
        ));
        // Padding byte 0 and padding longer than the packet.
        let mut p = [0u8; 13];
        p[0] = 0xA0;
        assert!(matches!(
            parse_rtp(&p),
            Err(RtpError::BadPadding { pad: 0 })
        ));
        p[12] = 200;
        assert!(matches!(
            parse_rtp(&p),
            Err(RtpError::BadPadding { pad: 200 })
        ));
        // An RTCP receiver report on a muxed port.
        let rr = [0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_rtp(&rr), Err(RtpError::Rtcp { packet_type: 201 }));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_rtp(&bytes);
        }

        #[test]
        fn write_then_parse_round_trips(
            ssrc: u32, seq: u16, ts: u32, pt in 0u8..128,
            payload in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            // Payload types 64-95 collide with RTCP when marked (RFC 5761 §4).
            prop_assume!(!(64..=95).contains(&pt));
            let mut s = RtpSender::new(ssrc, seq, ts, pt);
            let mut buf = vec![0u8; 400];
            let n = s.write_packet(&payload, 160, &mut buf).unwrap();
            let v = parse_rtp(&buf[..n]).unwrap();
            prop_assert_eq!(v.seq, seq);
            prop_assert_eq!(v.timestamp, ts);
            prop_assert_eq!(v.ssrc, ssrc);
            prop_assert_eq!(v.payload_type, pt);
            prop_assert!(v.marker);
            prop_assert_eq!(v.payload, &payload[..]);
        }
    }
}
