//! Codecs we speak and the RFC 3551 static payload-type table.
//!
//! Switchboard relays and plays G.711 only: prompts are pre-encoded in both laws at load
//! time and the relay forwards payloads untouched when both legs use the same law, so
//! adding a codec here means adding a transcoder in `media/` first.

use std::fmt;

/// Audio codecs Switchboard can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law (North America, Japan).
    Pcmu,
    /// G.711 A-law (most of the rest of the world).
    Pcma,
}

impl Codec {
    /// Every codec we support, in our default order of preference.
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    /// Static payload type (RFC 3551 §6, table 4). A peer may still bind the codec to a
    /// dynamic PT with an rtpmap; the PT actually used is in `Negotiated::payload_type`.
    #[must_use]
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// Encoding name as written in `a=rtpmap` (RFC 3551 §4.5.14).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// RTP clock rate; both G.711 laws run at 8000 Hz.
    #[must_use]
    pub const fn clock_rate(self) -> u32 {
        8000
    }

    /// Which of our codecs an offered format is, if any: encoding names compare
    /// case-insensitively (RFC 4855 §3), the clock must be 8000 Hz and the stream mono.
    #[must_use]
    pub fn from_format(format: &OfferedFormat) -> Option<Codec> {
        if format.clock_rate != 8000 || format.channels > 1 {
            return None;
        }
        Codec::ALL
            .into_iter()
            .find(|c| format.encoding.eq_ignore_ascii_case(c.name()))
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One payload format from an m= line, resolved through its rtpmap or, for static payload
/// types without one, through the RFC 3551 table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedFormat {
    /// RTP payload type as listed on the m= line.
    pub pt: u8,
    /// Encoding name (`PCMU`, `telephone-event`, ...); empty when a dynamic PT has no
    /// rtpmap, which RFC 4566 §6 forbids but which we tolerate by never choosing it.
    pub encoding: String,
    /// RTP clock rate in Hz; 0 when unknown.
    pub clock_rate: u32,
    /// Audio channels; 1 when the rtpmap omits it (RFC 4566 §6, `a=rtpmap`).
    pub channels: u32,
}

impl OfferedFormat {
    /// True for RFC 4733 DTMF events at the G.711 clock rate: an 8000 Hz G.711 stream
    /// must carry telephone-event/8000, not /16000 or /48000 (RFC 4733 §2.1).
    #[must_use]
    pub fn is_telephone_event_8k(&self) -> bool {
        self.clock_rate == 8000 && self.encoding.eq_ignore_ascii_case("telephone-event")
    }
}

impl fmt::Display for OfferedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.encoding.is_empty() {
            write!(f, "PT {} (no rtpmap)", self.pt)
        } else if self.channels > 1 {
            write!(
                f,
                "{}/{}/{} (PT {})",
                self.encoding, self.clock_rate, self.channels, self.pt
            )
        } else {
            write!(f, "{}/{} (PT {})", self.encoding, self.clock_rate, self.pt)
        }
    }
}

/// RFC 3551 §6 tables 4 and 5: the static payload types, used when an offer lists a
/// static PT without an rtpmap (allowed by RFC 4566 §6 and very common on trunks:
/// `m=audio 4000 RTP/AVP 0 8 101` with only the 101 rtpmap).
/// Returns (encoding name, clock rate, channels).
#[must_use]
pub fn static_payload(pt: u8) -> Option<(&'static str, u32, u32)> {
    Some(match pt {
        0 => ("PCMU", 8000, 1),
        3 => ("GSM", 8000, 1),
        4 => ("G723", 8000, 1),
        5 => ("DVI4", 8000, 1),
        6 => ("DVI4", 16000, 1),
        7 => ("LPC", 8000, 1),
        8 => ("PCMA", 8000, 1),
        9 => ("G722", 8000, 1),
        10 => ("L16", 44100, 2),
        11 => ("L16", 44100, 1),
        12 => ("QCELP", 8000, 1),
        13 => ("CN", 8000, 1),
        14 => ("MPA", 90000, 1),
        15 => ("G728", 8000, 1),
        16 => ("DVI4", 11025, 1),
        17 => ("DVI4", 22050, 1),
        18 => ("G729", 8000, 1),
        25 => ("CelB", 90000, 1),
        26 => ("JPEG", 90000, 1),
        28 => ("nv", 90000, 1),
        31 => ("H261", 90000, 1),
        32 => ("MPV", 90000, 1),
        33 => ("MP2T", 90000, 1),
        34 => ("H263", 90000, 1),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(pt: u8, enc: &str, rate: u32, ch: u32) -> OfferedFormat {
        OfferedFormat {
            pt,
            encoding: enc.to_owned(),
            clock_rate: rate,
            channels: ch,
        }
    }

    #[test]
    fn codec_table() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::Pcmu.name(), "PCMU");
        assert_eq!(Codec::Pcma.to_string(), "PCMA");
        for c in Codec::ALL {
            let (name, rate, ch) = static_payload(c.payload_type()).unwrap();
            assert_eq!((name, rate, ch), (c.name(), c.clock_rate(), 1));
        }
    }

    #[test]
    fn from_format_matches_name_rate_and_channels() {
        assert_eq!(
            Codec::from_format(&fmt(0, "pcmu", 8000, 1)),
            Some(Codec::Pcmu)
        );
        assert_eq!(
            Codec::from_format(&fmt(96, "PCMA", 8000, 1)),
            Some(Codec::Pcma)
        );
        assert_eq!(Codec::from_format(&fmt(96, "PCMA", 16000, 1)), None);
        assert_eq!(Codec::from_format(&fmt(96, "PCMA", 8000, 2)), None);
        assert_eq!(Codec::from_format(&fmt(18, "G729", 8000, 1)), None);
        assert_eq!(Codec::from_format(&fmt(97, "", 0, 1)), None);
    }

    #[test]
    fn telephone_event_needs_8k() {
        assert!(fmt(101, "telephone-event", 8000, 1).is_telephone_event_8k());
        assert!(fmt(101, "TELEPHONE-EVENT", 8000, 1).is_telephone_event_8k());
        assert!(!fmt(110, "telephone-event", 48000, 1).is_telephone_event_8k());
    }

    #[test]
    fn display_is_readable() {
        assert_eq!(fmt(18, "G729", 8000, 1).to_string(), "G729/8000 (PT 18)");
        assert_eq!(fmt(97, "", 0, 1).to_string(), "PT 97 (no rtpmap)");
        assert_eq!(
            fmt(111, "opus", 48000, 2).to_string(),
            "opus/48000/2 (PT 111)"
        );
    }
}
