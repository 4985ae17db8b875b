//! Writing our SDP: answers to offers and offers for legs we originate.
//!
//! Written as text: the output is a dozen lines whose every byte we choose, and tests
//! parse each generated body back with webrtc-sdp. Writing to a `String` cannot fail,
//! hence the ignored `fmt::Result`s.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::crypto::{CryptoAttr, RtpProfile, write_lines};
use super::negotiate::{Negotiated, our_direction};
use super::parse::RemoteMedia;
use super::{Direction, LocalMedia, PTIME_MS};
use crate::media::codec::Codec;

/// DTMF events we accept and send: 0-9, *, #, A-D (0-15) and flash (16), RFC 4733 §3.2.
const TELEPHONE_EVENTS: &str = "0-16";

/// Build the answer to `offer` (RFC 3264 §6): one m= line per offered m= line, in the
/// same order. The audio stream carries the negotiated codec plus telephone-event at the
/// offer's PT, `a=ptime:20` and our direction; every other stream (video, T.38 image,
/// SRTP audio, ...) is rejected with port 0, keeping its media, proto and formats.
///
/// The direction written is `neg.direction` limited to what the offer permits, so a
/// caller may set `neg.direction` to `RecvOnly`/`Inactive` to hold the peer but can never
/// produce an answer that contradicts the offer (sendonly offer → at most recvonly,
/// c=0.0.0.0 → we do not send).
///
/// `crypto` is our `a=crypto` line when the answer uses SRTP
/// ([`super::crypto::answer_security`]); the audio stream keeps the offer's profile
/// (`RTP/SAVP`, or `RTP/AVP` for a best-effort SRTP offer, RFC 4568 §7.1.2).
#[must_use]
pub fn build_answer(
    offer: &RemoteMedia,
    neg: &Negotiated,
    local: &LocalMedia,
    crypto: Option<&CryptoAttr>,
) -> String {
    let mut sdp = String::with_capacity(320 + 48 * offer.media_lines.len());
    session_header(&mut sdp, local);
    for (index, line) in offer.media_lines.iter().enumerate() {
        if index == offer.audio_index && offer.port != 0 {
            let direction = neg.direction.intersect(our_direction(offer));
            audio_section(
                &mut sdp,
                local.port,
                offer.profile,
                &[(neg.payload_type, neg.codec)],
                neg.telephone_event_pt,
                direction,
                crypto.map(std::slice::from_ref).unwrap_or_default(),
            );
        } else {
            // RFC 3264 §6: a rejected stream keeps its media type and proto, port 0, and
            // still needs a format (RFC 4566 §5.14); echoing the offer's list is safest.
            let _ = write!(
                sdp,
                "m={} 0 {} {}\r\n",
                line.media, line.proto, line.formats
            );
        }
    }
    sdp
}

/// Build an offer for a leg we originate: one audio stream with `codecs` in our order of
/// preference, telephone-event at `telephone_event_pt` (pick a dynamic PT, 96-127, such
/// as 101) and `direction`, over `profile` with our `crypto` lines (none for plain RTP;
/// see [`super::crypto::OfferSecurity`]).
#[must_use]
pub fn build_offer(
    local: &LocalMedia,
    codecs: &[Codec],
    telephone_event_pt: u8,
    direction: Direction,
    profile: RtpProfile,
    crypto: &[CryptoAttr],
) -> String {
    let mut sdp = String::with_capacity(320);
    session_header(&mut sdp, local);
    let formats: Vec<(u8, Codec)> = codecs.iter().map(|c| (c.payload_type(), *c)).collect();
    audio_section(
        &mut sdp,
        local.port,
        profile,
        &formats,
        Some(telephone_event_pt),
        direction,
        crypto,
    );
    sdp
}

/// v=, o=, s=, c=, t= (RFC 4566 §5). c= is at session level so rejected streams need
/// none of their own.
fn session_header(sdp: &mut String, local: &LocalMedia) {
    let addr_type = addr_type(local.ip);
    let _ = write!(
        sdp,
        "v=0\r\no=- {} {} IN {addr_type} {ip}\r\ns=-\r\nc=IN {addr_type} {ip}\r\nt=0 0\r\n",
        local.session_id,
        local.session_version,
        ip = local.ip,
    );
}

fn audio_section(
    sdp: &mut String,
    port: u16,
    profile: RtpProfile,
    formats: &[(u8, Codec)],
    telephone_event_pt: Option<u8>,
    direction: Direction,
    crypto: &[CryptoAttr],
) {
    let _ = write!(sdp, "m=audio {port} {}", profile.as_str());
    for (pt, _) in formats {
        let _ = write!(sdp, " {pt}");
    }
    if let Some(pt) = telephone_event_pt {
        let _ = write!(sdp, " {pt}");
    }
    sdp.push_str("\r\n");
    // rtpmap even for static PTs: RFC 4566 §6 makes it optional, but some gateways
    // only look at rtpmaps.
    for (pt, codec) in formats {
        let _ = write!(
            sdp,
            "a=rtpmap:{pt} {}/{}\r\n",
            codec.name(),
            codec.clock_rate()
        );
    }
    if let Some(pt) = telephone_event_pt {
        let _ = write!(
            sdp,
            "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} {TELEPHONE_EVENTS}\r\n"
        );
    }
    let _ = write!(sdp, "a=ptime:{PTIME_MS}\r\na={direction}\r\n");
    write_lines(sdp, crypto);
}

fn addr_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}
