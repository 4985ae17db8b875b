//! Reading a peer's SDP (offer or answer) into [`RemoteMedia`].

use std::net::{IpAddr, SocketAddr};

use webrtc_sdp::address::ExplicitlyTypedAddress;
use webrtc_sdp::attribute_type::{SdpAttribute, SdpAttributeType};
use webrtc_sdp::error::SdpParserError;
use webrtc_sdp::media_type::{SdpFormatList, SdpMedia};
use webrtc_sdp::{SdpConnection, SdpSession};

use super::crypto::{CryptoAttr, RtpProfile, UnusableCrypto, crypto_lines};
use super::scan::{self, Line, MediaLine, Scanned};
use super::{Direction, SdpError};
use crate::media::codec::{OfferedFormat, static_payload};

impl MediaLine {
    /// The stream kinds we can use: audio over RTP (RFC 3551) or SRTP (RFC 3711).
    #[must_use]
    pub fn audio_profile(&self) -> Option<RtpProfile> {
        if self.media.eq_ignore_ascii_case("audio") {
            RtpProfile::from_proto(&self.proto)
        } else {
            None
        }
    }
}

/// What a peer offered (or answered) for the audio stream we will use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Where to send RTP: c= (media level overrides session level, RFC 4566 §5.7) and
    /// the m= port. `None` when the port is 0 or the address is unspecified
    /// (`c=IN IP4 0.0.0.0`, the RFC 2543 hold that RFC 3264 §8.4 still asks us to
    /// understand).
    pub rtp_addr: Option<SocketAddr>,
    /// The audio m= port as offered; 0 means the stream is disabled.
    pub port: u16,
    /// Every format of the audio m= line in the peer's order of preference (RFC 3264
    /// §5.1), resolved through rtpmap or the RFC 3551 static table.
    pub codecs: Vec<OfferedFormat>,
    /// Payload type of telephone-event/8000 (RFC 4733), if offered.
    pub telephone_event_pt: Option<u8>,
    /// The peer's direction: media level, else session level, else sendrecv (RFC 3264
    /// §5.1).
    pub direction: Direction,
    /// `a=ptime` in milliseconds, if given (RFC 4566 §6).
    pub ptime: Option<u32>,
    /// `a=maxptime` in milliseconds, if given (RFC 4566 §6).
    pub maxptime: Option<u32>,
    /// Index of the audio stream among the m= lines.
    pub audio_index: usize,
    /// Number of m= lines; an answer must have exactly as many (RFC 3264 §6). Always
    /// `media_lines.len()`.
    pub media_count: usize,
    /// Every m= line in order, for rejecting the ones we do not use.
    pub media_lines: Vec<MediaLine>,
    /// o= sess-id of the peer.
    pub session_id: u64,
    /// o= sess-version of the peer: unchanged in a re-INVITE means the SDP did not
    /// change (RFC 3264 §8).
    pub session_version: u64,
    /// The audio stream's profile: `RTP/AVP` or `RTP/SAVP`.
    pub profile: RtpProfile,
    /// Its `a=crypto` lines we can use, in the peer's order of preference (RFC 4568).
    pub crypto: Vec<CryptoAttr>,
    /// Its `a=crypto` lines we cannot use, and why (for the log and the 488).
    pub crypto_unusable: Vec<UnusableCrypto>,
}

impl RemoteMedia {
    /// True when the peer is putting us on hold: it does not want to receive (sendonly
    /// or inactive, RFC 3264 §8.4) or gave no address to send to (c=0.0.0.0).
    #[must_use]
    pub fn is_hold(&self) -> bool {
        !self.direction.receives() || self.rtp_addr.is_none()
    }
}

/// Parse an SDP body and describe its first usable audio stream: the first audio m= line
/// over RTP/AVP with a non-zero port, else over RTP/SAVP, else the first one with port 0
/// (a disabled stream still has to be answered in place). See [`parse_preferring`].
pub fn parse(body: &[u8]) -> Result<RemoteMedia, SdpError> {
    parse_preferring(body, RtpProfile::Avp)
}

/// Like [`parse`], taking an audio stream of `prefer`red profile over the other when
/// the body has both (an `RTP/SAVP` and an `RTP/AVP` copy of the same stream, the
/// older best-effort SRTP style): under an SRTP policy the secure one is chosen.
pub fn parse_preferring(body: &[u8], prefer: RtpProfile) -> Result<RemoteMedia, SdpError> {
    let text = std::str::from_utf8(body).map_err(|e| SdpError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    let scanned = scan::scan(text)?;
    let other = match prefer {
        RtpProfile::Avp => RtpProfile::Savp,
        RtpProfile::Savp => RtpProfile::Avp,
    };
    let find = |profile: RtpProfile, live: bool| {
        scanned
            .sections
            .iter()
            .position(|s| s.mline.audio_profile() == Some(profile) && (!live || s.mline.port != 0))
    };
    let audio_index = find(prefer, true)
        .or_else(|| find(other, true))
        .or_else(|| find(prefer, false))
        .or_else(|| find(other, false));
    let Some(audio_index) = audio_index else {
        // Report a broken session part before complaining about the streams.
        parse_with_webrtc(scan::audio_lines(&scanned, None))?;
        return Err(SdpError::NoAudio {
            offered: scanned
                .sections
                .iter()
                .map(|s| format!("{} {}", s.mline.media, s.mline.proto))
                .collect(),
        });
    };
    let session = parse_with_webrtc(scan::audio_lines(&scanned, Some(audio_index)))?;
    remote_media(&scanned, audio_index, &session)
}

fn remote_media(
    scanned: &Scanned<'_>,
    audio_index: usize,
    session: &SdpSession,
) -> Result<RemoteMedia, SdpError> {
    let m_number = scanned.sections.get(audio_index).map_or(0, |s| s.m.number);
    // The filtered text holds exactly one m= line, so webrtc-sdp returns one section.
    let media = session.media.first().ok_or_else(|| SdpError::Syntax {
        line: m_number,
        detail: "audio m= line was not understood".to_owned(),
    })?;
    let connection = media
        .get_connection()
        .as_ref()
        .or(session.get_connection().as_ref())
        .ok_or_else(|| SdpError::Syntax {
            line: m_number,
            detail: "no c= line for the audio stream at media or session level (RFC 4566 §5.7)"
                .to_owned(),
        })?;
    let ip = connection_ip(connection)?;
    if !usable_unicast(ip) {
        return Err(SdpError::UnusableAddress { ip });
    }
    let port = u16::try_from(media.get_port()).map_err(|_| SdpError::Syntax {
        line: m_number,
        detail: "m= port must be a number from 0 to 65535".to_owned(),
    })?;
    let rtp_addr = (port != 0 && !ip.is_unspecified()).then(|| SocketAddr::new(ip, port));
    let codecs = formats(media);
    let telephone_event_pt = codecs
        .iter()
        .find(|f| f.is_telephone_event_8k())
        .map(|f| f.pt);
    let direction = direction_of(media.get_attributes())
        .or_else(|| direction_of(&session.attribute))
        .unwrap_or_default();
    let millis = |t: SdpAttributeType| match media.get_attribute(t) {
        Some(SdpAttribute::Ptime(ms) | SdpAttribute::MaxPtime(ms)) => u32::try_from(*ms).ok(),
        _ => None,
    };
    let media_lines: Vec<MediaLine> = scanned.sections.iter().map(|s| s.mline.clone()).collect();
    let section = scanned.sections.get(audio_index);
    let profile = section
        .and_then(|s| s.mline.audio_profile())
        .unwrap_or_default();
    let (crypto, crypto_unusable) = crypto_lines(
        section
            .into_iter()
            .flat_map(|s| s.lines.iter())
            .filter(|l| l.kind == 'a')
            .map(|l| l.value),
    );
    Ok(RemoteMedia {
        rtp_addr,
        port,
        codecs,
        telephone_event_pt,
        direction,
        ptime: millis(SdpAttributeType::Ptime),
        maxptime: millis(SdpAttributeType::MaxPtime),
        audio_index,
        media_count: media_lines.len(),
        media_lines,
        session_id: session.origin.session_id,
        session_version: session.origin.session_version,
        profile,
        crypto,
        crypto_unusable,
    })
}

/// Whether `ip` can be a peer's RTP address: unicast, or unspecified (`0.0.0.0` /
/// `::`, the RFC 2543 hold, RFC 3264 §8.4). Multicast would make us send a call's audio
/// to a group (and accept anyone's), broadcast to a whole segment; 0/8 and 240/4 are
/// not host addresses at all (RFC 6890).
fn usable_unicast(ip: IpAddr) -> bool {
    if ip.is_unspecified() {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => {
            let first = v4.octets()[0];
            !(v4.is_multicast() || v4.is_broadcast() || first == 0 || first >= 240)
        }
        IpAddr::V6(v6) => {
            !(v6.is_multicast()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !usable_unicast(v4.into())))
        }
    }
}

fn connection_ip(connection: &SdpConnection) -> Result<IpAddr, SdpError> {
    match &connection.address {
        ExplicitlyTypedAddress::Ip(ip) => Ok(*ip),
        ExplicitlyTypedAddress::Fqdn { domain, .. } => Err(SdpError::ConnectionNotIp {
            host: domain.clone(),
        }),
    }
}

/// Formats in m= line order; RTP payload types are 7 bits (RFC 3550 §5.1), so anything
/// larger is skipped, as are repeats.
fn formats(media: &SdpMedia) -> Vec<OfferedFormat> {
    let SdpFormatList::Integers(pts) = media.get_formats() else {
        return Vec::new();
    };
    let mut out: Vec<OfferedFormat> = Vec::with_capacity(pts.len());
    for pt in pts.iter().filter_map(|&pt| u8::try_from(pt).ok()) {
        if pt > 127 || out.iter().any(|f| f.pt == pt) {
            continue;
        }
        out.push(resolve(media, pt));
    }
    out
}

/// An rtpmap wins over the static table (RFC 4566 §6); without either the format is
/// unknown and will never be chosen.
fn resolve(media: &SdpMedia, pt: u8) -> OfferedFormat {
    let rtpmap = media.get_attributes().iter().find_map(|a| match a {
        SdpAttribute::Rtpmap(r) if r.payload_type == pt => Some(r),
        _ => None,
    });
    if let Some(r) = rtpmap {
        return OfferedFormat {
            pt,
            encoding: r.codec_name.clone(),
            clock_rate: r.frequency,
            channels: r.channels.unwrap_or(1),
        };
    }
    match static_payload(pt) {
        Some((name, clock_rate, channels)) => OfferedFormat {
            pt,
            encoding: name.to_owned(),
            clock_rate,
            channels,
        },
        None => OfferedFormat {
            pt,
            encoding: String::new(),
            clock_rate: 0,
            channels: 1,
        },
    }
}

fn direction_of(attributes: &[SdpAttribute]) -> Option<Direction> {
    attributes.iter().find_map(|a| match a {
        SdpAttribute::Sendrecv => Some(Direction::SendRecv),
        SdpAttribute::Sendonly => Some(Direction::SendOnly),
        SdpAttribute::Recvonly => Some(Direction::RecvOnly),
        SdpAttribute::Inactive => Some(Direction::Inactive),
        _ => None,
    })
}

/// Run webrtc-sdp over the selected lines. An attribute line it cannot read is dropped
/// and the parse retried (each retry removes a line, so this ends): one odd rtpmap for a
/// codec we would never pick should not fail the call. Everything else is an error,
/// reported with the line number of the body as received.
fn parse_with_webrtc(mut lines: Vec<Line<'_>>) -> Result<SdpSession, SdpError> {
    loop {
        let mut text = String::with_capacity(lines.iter().map(|l| l.text.len() + 2).sum());
        for line in &lines {
            text.push_str(line.text);
            text.push_str("\r\n");
        }
        let error = match webrtc_sdp::parse_sdp(&text, false) {
            Ok(session) => return Ok(session),
            Err(e) => e,
        };
        if let SdpParserError::Line { line_number, .. } = &error
            && lines.get(*line_number).is_some_and(|l| l.kind == 'a')
        {
            let dropped = lines.remove(*line_number);
            tracing::debug!(line = dropped.number, text = dropped.text, %error, "ignoring unreadable SDP attribute");
            continue;
        }
        return Err(syntax_error(&error, &lines));
    }
}

fn syntax_error(error: &SdpParserError, lines: &[Line<'_>]) -> SdpError {
    let original = |n: usize| lines.get(n).map_or(0, |l| l.number);
    match error {
        SdpParserError::Line {
            error,
            line,
            line_number,
        }
        | SdpParserError::Unsupported {
            error,
            line,
            line_number,
        } => SdpError::Syntax {
            line: original(*line_number),
            detail: format!("{error} in {line:?}"),
        },
        // Sequence errors from webrtc-sdp's whole-session checks carry line 0; only a
        // non-zero number points at a real line.
        SdpParserError::Sequence {
            message,
            line_number,
        } => SdpError::Syntax {
            line: if *line_number == 0 {
                0
            } else {
                original(*line_number)
            },
            detail: message.clone(),
        },
    }
}
