//! Choosing the codec and direction from a peer's offer or answer.

use std::net::SocketAddr;

use super::parse::{RemoteMedia, parse};
use super::{Direction, PTIME_MS, SdpError};
use crate::media::codec::Codec;

/// The outcome of offer/answer for one audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The G.711 law both sides use.
    pub codec: Codec,
    /// The RTP payload type the codec travels under: its static PT normally, but a peer
    /// may bind PCMU/PCMA to a dynamic PT with an rtpmap, and RFC 3264 §6.1 has the
    /// answer reuse the offer's numbers.
    pub payload_type: u8,
    /// RFC 4733 events at the PT the peer chose; `None` means DTMF only in-band or
    /// SIP INFO.
    pub telephone_event_pt: Option<u8>,
    /// Where to send RTP; `None` while the peer gave no address (hold, port 0).
    pub remote: Option<SocketAddr>,
    /// OUR direction: whether we send and/or receive on this stream.
    pub direction: Direction,
    /// Packetization we send, in ms. Always [`PTIME_MS`]: the pacer and the prompt cache
    /// work in 20 ms frames. A peer's a=ptime is a wish, not a requirement (RFC 4566 §6).
    pub ptime_ms: u32,
}

/// Pick the codec for an answer: the first format in the OFFER's order that is one of
/// `supported` (RFC 3264 §6.1 recommends honouring the offerer's preference; the order of
/// `supported` does not matter). Fails with [`SdpError::NoCommonCodec`] when nothing
/// matches, which the caller answers with 488 Not Acceptable Here.
pub fn negotiate(offer: &RemoteMedia, supported: &[Codec]) -> Result<Negotiated, SdpError> {
    let (payload_type, codec) = offer
        .codecs
        .iter()
        .find_map(|f| {
            Codec::from_format(f)
                .filter(|c| supported.contains(c))
                .map(|c| (f.pt, c))
        })
        .ok_or_else(|| SdpError::NoCommonCodec {
            offered: offer.codecs.iter().map(ToString::to_string).collect(),
        })?;
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event_pt: offer.telephone_event_pt,
        remote: offer.rtp_addr,
        direction: our_direction(offer),
        ptime_ms: PTIME_MS,
    })
}

/// Read the answer to an offer we made with `offered` codecs. The answerer lists what it
/// accepts, most preferred first (RFC 3264 §6.1), so take the first of ours. Fails with
/// [`SdpError::AudioRejected`] when it set the audio port to 0.
pub fn parse_answer(body: &[u8], offered: &[Codec]) -> Result<Negotiated, SdpError> {
    parse_answer_media(body, offered).map(|(_, neg)| neg)
}

/// Like [`parse_answer`], also returning the answer as parsed (its profile and crypto
/// lines decide the leg's SRTP, [`super::crypto::answered_security`]).
pub fn parse_answer_media(
    body: &[u8],
    offered: &[Codec],
) -> Result<(RemoteMedia, Negotiated), SdpError> {
    let answer = parse(body)?;
    if answer.port == 0 {
        return Err(SdpError::AudioRejected);
    }
    let neg = negotiate(&answer, offered)?;
    Ok((answer, neg))
}

/// The most we can do given the peer's SDP, mirrored per RFC 3264 §6.1: we receive if it
/// sends, and we send if it wants to receive and gave us an address (c=0.0.0.0 hold,
/// RFC 3264 §8.4, leaves nowhere to send). A port-0 stream is inactive.
pub(super) fn our_direction(remote: &RemoteMedia) -> Direction {
    if remote.port == 0 {
        return Direction::Inactive;
    }
    let peer = remote.direction;
    Direction::from_flags(peer.receives() && remote.rtp_addr.is_some(), peer.sends())
}
