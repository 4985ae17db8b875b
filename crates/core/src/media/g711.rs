//! G.711 μ-law and A-law (ITU-T G.711), the only codecs Switchboard speaks.
//!
//! Encoding and decoding come from the `audio-codec-algorithms` crate. Its decoders are
//! already a lookup in a `const` 256-entry table (no branches, no lazy init), so
//! [`decode`] simply calls them; the μ↔A transcoders are also `const` 256-entry tables
//! built from G.711 tables 3 and 4, which preserve bits 1-7 across a μ-A-μ round trip
//! (a plain `encode(decode(x))` would not). Prompts are encoded once at load time, so
//! the per-packet hot path is only table lookups.

use audio_codec_algorithms::{
    convert_alaw_to_ulaw, convert_ulaw_to_alaw, decode_alaw, decode_ulaw, encode_alaw, encode_ulaw,
};

/// Samples per 20 ms frame at 8 kHz (RFC 3551 §4.5.14: G.711 is one byte per sample).
pub const FRAME_SAMPLES: usize = 160;
/// Sample rate of G.711 and of every PCM buffer in this module.
pub const SAMPLE_RATE: u32 = 8000;

/// The two G.711 companding laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// μ-law, "PCMU", static payload type 0 (North America, Japan).
    Ulaw,
    /// A-law, "PCMA", static payload type 8 (Europe and most of the rest).
    Alaw,
}

impl Law {
    /// RFC 3551 §6 table 4: the static RTP payload type.
    #[must_use]
    pub const fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    /// The law for a static payload type, if it is one of ours.
    #[must_use]
    pub const fn from_payload_type(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Ulaw),
            8 => Some(Law::Alaw),
            _ => None,
        }
    }

    /// The encoding of linear 0 (digital silence): 0xFF in μ-law, 0xD5 in A-law.
    #[must_use]
    pub const fn silence_byte(self) -> u8 {
        match self {
            Law::Ulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }

    /// The SDP rtpmap encoding name (RFC 3551 §4.5.14).
    #[must_use]
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Law::Ulaw => "PCMU",
            Law::Alaw => "PCMA",
        }
    }

    /// One 20 ms frame of silence in this law, shared and allocation-free.
    #[must_use]
    pub fn silence_frame(self) -> &'static [u8; FRAME_SAMPLES] {
        static ULAW: [u8; FRAME_SAMPLES] = [0xFF; FRAME_SAMPLES];
        static ALAW: [u8; FRAME_SAMPLES] = [0xD5; FRAME_SAMPLES];
        match self {
            Law::Ulaw => &ULAW,
            Law::Alaw => &ALAW,
        }
    }

    /// Encodes one linear sample.
    #[inline]
    #[must_use]
    pub fn encode_sample(self, s: i16) -> u8 {
        match self {
            Law::Ulaw => encode_ulaw(s),
            Law::Alaw => encode_alaw(s),
        }
    }

    /// Decodes one byte (a table lookup).
    #[inline]
    #[must_use]
    pub fn decode_sample(self, b: u8) -> i16 {
        match self {
            Law::Ulaw => decode_ulaw(b),
            Law::Alaw => decode_alaw(b),
        }
    }
}

/// Encodes `pcm` into `out`, sample by sample, for `min(pcm.len(), out.len())` samples.
/// Returns the number of bytes written.
pub fn encode(law: Law, pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    // The match is hoisted out of the loop so each arm is a tight, vectorisable loop.
    match law {
        Law::Ulaw => out
            .iter_mut()
            .zip(pcm)
            .for_each(|(o, &s)| *o = encode_ulaw(s)),
        Law::Alaw => out
            .iter_mut()
            .zip(pcm)
            .for_each(|(o, &s)| *o = encode_alaw(s)),
    }
    n
}

/// Encodes `pcm` into a new vector (load time only: this allocates).
#[must_use]
pub fn encode_vec(law: Law, pcm: &[i16]) -> Vec<u8> {
    let mut out = vec![0u8; pcm.len()];
    encode(law, pcm, &mut out);
    out
}

/// Decodes `bytes` into `out` for `min(bytes.len(), out.len())` samples; returns that count.
pub fn decode(law: Law, bytes: &[u8], out: &mut [i16]) -> usize {
    let n = bytes.len().min(out.len());
    match law {
        Law::Ulaw => out
            .iter_mut()
            .zip(bytes)
            .for_each(|(o, &b)| *o = decode_ulaw(b)),
        Law::Alaw => out
            .iter_mut()
            .zip(bytes)
            .for_each(|(o, &b)| *o = decode_alaw(b)),
    }
    n
}

/// μ-law byte to A-law byte (G.711 table 3).
#[inline]
#[must_use]
pub fn transcode_ulaw_to_alaw(b: u8) -> u8 {
    convert_ulaw_to_alaw(b)
}

/// A-law byte to μ-law byte (G.711 table 4).
#[inline]
#[must_use]
pub fn transcode_alaw_to_ulaw(b: u8) -> u8 {
    convert_alaw_to_ulaw(b)
}

/// Transcodes a payload in place from one law to the other (a no-op when `from == to`).
/// The bridge uses this when the two legs negotiated different laws.
pub fn transcode_in_place(from: Law, to: Law, payload: &mut [u8]) {
    match (from, to) {
        (Law::Ulaw, Law::Alaw) => payload
            .iter_mut()
            .for_each(|b| *b = convert_ulaw_to_alaw(*b)),
        (Law::Alaw, Law::Ulaw) => payload
            .iter_mut()
            .for_each(|b| *b = convert_alaw_to_ulaw(*b)),
        _ => {}
    }
}

/// Transcodes `input` into `out` (`min` of both lengths); returns the bytes written.
pub fn transcode(from: Law, to: Law, input: &[u8], out: &mut [u8]) -> usize {
    let n = input.len().min(out.len());
    if let (Some(dst), Some(src)) = (out.get_mut(..n), input.get(..n)) {
        dst.copy_from_slice(src);
        transcode_in_place(from, to, dst);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_vectors() {
        assert_eq!(Law::Ulaw.encode_sample(0), 0xFF);
        assert_eq!(Law::Alaw.encode_sample(0), 0xD5);
        assert_eq!(Law::Ulaw.silence_byte(), 0xFF);
        assert_eq!(Law::Alaw.silence_byte(), 0xD5);
        assert_eq!(Law::Ulaw.decode_sample(0xFF), 0);
        assert_eq!(Law::Alaw.decode_sample(0xD5), 8); // A-law has no exact zero
        assert!(Law::Ulaw.silence_frame().iter().all(|&b| b == 0xFF));
        assert!(Law::Alaw.silence_frame().iter().all(|&b| b == 0xD5));
    }

    #[test]
    fn known_vectors() {
        // Full-scale extremes (G.711 tables 1a/2a).
        assert_eq!(Law::Ulaw.encode_sample(i16::MAX), 0x80);
        assert_eq!(Law::Ulaw.encode_sample(i16::MIN), 0x00);
        assert_eq!(Law::Ulaw.decode_sample(0x80), 32124);
        assert_eq!(Law::Ulaw.decode_sample(0x00), -32124);
        assert_eq!(Law::Alaw.encode_sample(i16::MAX), 0xAA);
        assert_eq!(Law::Alaw.encode_sample(i16::MIN), 0x2A);
        assert_eq!(Law::Alaw.decode_sample(0xAA), 32256);
        assert_eq!(Law::Alaw.decode_sample(0x2A), -32256);
    }

    #[test]
    fn payload_types() {
        assert_eq!(Law::Ulaw.payload_type(), 0);
        assert_eq!(Law::Alaw.payload_type(), 8);
        assert_eq!(Law::from_payload_type(0), Some(Law::Ulaw));
        assert_eq!(Law::from_payload_type(8), Some(Law::Alaw));
        assert_eq!(Law::from_payload_type(18), None);
    }

    #[test]
    fn byte_round_trips_are_exact() {
        // decode → encode reproduces every code word (except μ-law's negative zero 0x7F,
        // which decodes to 0 and re-encodes to positive zero 0xFF).
        for law in [Law::Ulaw, Law::Alaw] {
            for b in 0..=255u8 {
                let again = law.encode_sample(law.decode_sample(b));
                if law == Law::Ulaw && b == 0x7F {
                    assert_eq!(again, 0xFF);
                } else {
                    assert_eq!(again, b, "{law:?} {b:#04x}");
                }
            }
        }
    }

    #[test]
    fn sample_round_trip_error_is_bounded() {
        // Companding error grows with magnitude: at most half a step of the top segment
        // (μ-law step 1024 → ≤ 512 + bias, A-law step 1024 → ≤ 512).
        for law in [Law::Ulaw, Law::Alaw] {
            for s in (i16::MIN..=i16::MAX).step_by(7) {
                let back = law.decode_sample(law.encode_sample(s));
                let err = (i32::from(s) - i32::from(back)).abs();
                let bound = (i32::from(s).abs() / 16).max(16);
                assert!(err <= bound, "{law:?} {s} → {back}");
            }
        }
    }

    #[test]
    fn slice_helpers_match_per_sample() {
        let pcm: Vec<i16> = (0..1000)
            .map(|i| ((i * 97) % 65536 - 32768) as i16)
            .collect();
        for law in [Law::Ulaw, Law::Alaw] {
            let enc = encode_vec(law, &pcm);
            let mut dec = vec![0i16; enc.len()];
            assert_eq!(decode(law, &enc, &mut dec), 1000);
            for (i, (&b, &s)) in enc.iter().zip(&dec).enumerate() {
                assert_eq!(b, law.encode_sample(pcm[i]));
                assert_eq!(s, law.decode_sample(b));
            }
        }
        // Short output buffers are respected, never overrun.
        let mut small = [0u8; 3];
        assert_eq!(encode(Law::Ulaw, &pcm, &mut small), 3);
    }

    #[test]
    fn transcoding_matches_crate_and_round_trips() {
        for b in 0..=255u8 {
            assert_eq!(transcode_ulaw_to_alaw(b), convert_ulaw_to_alaw(b));
            assert_eq!(transcode_alaw_to_ulaw(b), convert_alaw_to_ulaw(b));
        }
        assert_eq!(transcode_ulaw_to_alaw(0xFF), 0xD5);
        // A-law has no zero: its silence (+8) maps to μ-law +8 (0xFE), per table 4.
        assert_eq!(transcode_alaw_to_ulaw(0xD5), 0xFE);
        // Transcoded values stay close to the original level.
        for b in 0..=255u8 {
            let a = transcode_ulaw_to_alaw(b);
            let (x, y) = (Law::Ulaw.decode_sample(b), Law::Alaw.decode_sample(a));
            let tol = (i32::from(x).abs() / 8).max(16);
            assert!(
                (i32::from(x) - i32::from(y)).abs() <= tol,
                "{b:#x}: {x} vs {y}"
            );
        }
        let mut buf = [0xFFu8, 0x80, 0x00, 0x7F];
        let orig = buf;
        transcode_in_place(Law::Ulaw, Law::Alaw, &mut buf);
        assert_eq!(buf[0], 0xD5);
        transcode_in_place(Law::Alaw, Law::Ulaw, &mut buf);
        // G.711 guarantees μ-A-μ transparency of bits 1-7 (all but the LSB).
        for (a, b) in buf.iter().zip(orig) {
            assert_eq!(a >> 1, b >> 1);
        }
        let mut out = [0u8; 2];
        assert_eq!(transcode(Law::Ulaw, Law::Ulaw, &orig, &mut out), 2);
        assert_eq!(out, [0xFF, 0x80]);
    }
}
