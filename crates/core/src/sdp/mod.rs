//! SDP offer/answer (RFC 3264) for an audio-only G.711 back-to-back user agent.
//!
//! Pure functions, no I/O:
//! - [`parse`] reads a peer's offer (or answer) into [`RemoteMedia`]: the audio stream we
//!   will use, its codecs in the peer's order, telephone-event, direction and hold state,
//!   plus a summary of every m= line so the answer can reject the others in place.
//! - [`negotiate`] picks the codec ([`Negotiated`]); [`build_answer`] writes the answer.
//! - [`build_offer`] and [`parse_answer`] do the same for legs we originate.
//!
//! Parsing goes through Mozilla's `webrtc-sdp`, but only after `scan` has cut the body
//! into sections and kept the lines that matter for audio negotiation. webrtc-sdp is a
//! WebRTC parser: on SIP trunk SDP it drops `m=image ... udptl t38` lines (and then hangs
//! that section's `c=` and attributes on the previous stream), refuses `e=`/`u=`/`p=`
//! lines outright, and fails a whole offer over one attribute it cannot read in a video
//! section we would reject anyway. Handing it the session lines plus the one audio
//! section keeps its value (typed, validated v/o/s/c/t/m/rtpmap/ptime/direction) without
//! letting an unrelated line turn a good call into a 488.
//!
//! Answers and offers are written as text by hand ([`write`]): webrtc-sdp's builder adds
//! `m=audio PORT/1` and attributes we do not want, and the text form is short enough to
//! check by eye. Tests parse every generated body back with webrtc-sdp.

pub mod crypto;
mod negotiate;
mod parse;
mod scan;
mod write;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;

pub use crate::media::codec::{Codec, OfferedFormat, static_payload};
pub use crypto::{AnswerSecurity, CryptoAttr, OfferSecurity, RtpProfile};
pub use negotiate::{Negotiated, negotiate, parse_answer, parse_answer_media};
pub use parse::{RemoteMedia, parse, parse_preferring};
pub use scan::MediaLine;
pub use write::{build_answer, build_offer};

/// Packetization interval we send and ask for, in milliseconds (160 G.711 bytes).
pub const PTIME_MS: u32 = 20;

/// Media direction attribute (RFC 3264 §5.1, §6.1), always from the point of view of
/// the SDP that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// Build from the two halves.
    #[must_use]
    pub const fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether the owner of this SDP will send media.
    #[must_use]
    pub const fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the owner of this SDP wants to receive media.
    #[must_use]
    pub const fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The direction seen from the other side: RFC 3264 §6.1 has the answerer mark a
    /// sendonly stream recvonly and a recvonly stream sendonly.
    #[must_use]
    pub const fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// Both sides' wishes at once: each half survives only if both allow it.
    #[must_use]
    pub const fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The attribute name as written after `a=`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Our side of the media: where we receive RTP and the o= identifiers of our SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address written in o= and c=; IPv4 or IPv6 decides `IN IP4` / `IN IP6`.
    pub ip: IpAddr,
    /// Our RTP port (RTCP is implicitly port + 1, RFC 3550 §11).
    pub port: u16,
    /// o= sess-id: fixed for the lifetime of the dialog (RFC 4566 §5.2).
    pub session_id: u64,
    /// o= sess-version: the caller bumps it for every changed SDP it sends in the dialog
    /// (RFC 3264 §8: a re-offer with the same version means "nothing changed").
    pub session_version: u64,
}

/// Why an SDP body could not be used. The SIP layer maps these to responses:
/// [`SdpError::NoCommonCodec`] and [`SdpError::NoAudio`] to 488 Not Acceptable Here,
/// the others to 400 Bad Request (or a 488 if the body came in an answer we must ACK).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error(
        "SDP body is not valid UTF-8 (bad byte at offset {valid_up_to}); SDP must be ASCII/UTF-8 text (RFC 4566 §5)"
    )]
    NotUtf8 { valid_up_to: usize },

    /// `line` is 1-based in the body as received; 0 when the problem is not on one line
    /// (for example a missing `t=`).
    #[error("SDP syntax error at line {line}: {detail}; fix the peer's SDP or report it")]
    Syntax { line: usize, detail: String },

    /// `offered` lists the m= lines as `media proto` (e.g. `audio RTP/SAVPF`).
    #[error(
        "SDP has no audio stream over RTP/AVP or RTP/SAVP; m= lines offered: {offered:?}. Disable WebRTC-only profiles (SAVPF, DTLS-SRTP) on the peer"
    )]
    NoAudio { offered: Vec<String> },

    /// An `RTP/SAVP` offer while SRTP is off.
    #[error(
        "the peer requires SRTP (RTP/SAVP) and SRTP is off here; set [server] srtp = \"optional\" (and use SIP over TLS) or turn SRTP off on the peer"
    )]
    SrtpOff,

    /// A plain RTP offer (or answer) where SRTP is required.
    #[error(
        "SRTP is required here (srtp = \"required\") and the peer offered plain RTP; enable SRTP (SDES) on the peer or relax the policy"
    )]
    SrtpRequired,

    /// SRTP offered, but with no `a=crypto` line we can use.
    #[error(
        "no usable SRTP key in the SDP (we speak AES_CM_128_HMAC_SHA1_80 and _32 with inline keys, no MKI); lines we could not use: {offered:?}"
    )]
    NoUsableCrypto {
        offered: Vec<crypto::UnusableCrypto>,
    },

    /// `offered` is every audio format of the stream, e.g. `G729/8000 (PT 18)`.
    #[error(
        "no common codec: the peer offered {offered:?}, we only speak PCMU and PCMA (G.711); enable G.711 on the peer"
    )]
    NoCommonCodec { offered: Vec<String> },

    /// c= carries a host name; we do not resolve names for media (RFC 4566 allows them,
    /// SIP devices practically never send them).
    #[error(
        "SDP c= address {host:?} is not an IP address; configure the peer to send a literal IP"
    )]
    ConnectionNotIp { host: String },

    /// c= names an address no unicast stream can use: multicast (we never join a
    /// group), broadcast or reserved. Answered 488; `0.0.0.0` (hold) is not this.
    #[error(
        "SDP c= address {ip} is multicast, broadcast or reserved; a call's media needs a unicast address"
    )]
    UnusableAddress { ip: std::net::IpAddr },

    /// The answerer set our audio stream's port to 0 (RFC 3264 §6).
    #[error("the answer rejected our audio stream (port 0); the peer does not accept our media")]
    AudioRejected,

    /// No SDP where the answer to our offer was due: the ACK after an INVITE without
    /// an offer (RFC 3261 §13.2.1).
    #[error("no SDP answer where one was due (the ACK to a 200 that carried our offer)")]
    NoAnswer,
}
