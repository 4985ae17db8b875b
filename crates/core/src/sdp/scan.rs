//! First pass over an SDP body: cut it into session and media sections, summarise every
//! m= line, and select the lines webrtc-sdp should see.
//!
//! Why a pre-pass (see the module docs of `sdp` for the webrtc-sdp quirks): the answer
//! must reproduce *every* m= line in order (RFC 3264 §6), including `m=image ... udptl`
//! lines webrtc-sdp silently drops, and the audio stream must be parsed without
//! interference from sections we are going to reject anyway.

use super::SdpError;

/// Summary of one m= line, kept so the answer can reject it in place with the same
/// media, proto and formats (RFC 3264 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    /// `audio`, `video`, `image`, `application`, ... as written by the peer.
    pub media: String,
    /// Port as offered; 0 means the peer disabled the stream (RFC 3264 §5.1, §8.2).
    pub port: u16,
    /// Transport protocol as written (`RTP/AVP`, `RTP/SAVP`, `udptl`, ...).
    pub proto: String,
    /// The format list, space separated (`0 8 101`, `t38`).
    pub formats: String,
}

impl MediaLine {
    /// The only stream kind we can use: audio over plain RTP (RFC 3551 profile).
    #[must_use]
    pub fn is_audio_rtp_avp(&self) -> bool {
        self.media.eq_ignore_ascii_case("audio") && self.proto.eq_ignore_ascii_case("RTP/AVP")
    }
}

/// One non-empty line of the body, trimmed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'a> {
    /// 1-based line number in the body as received, for error messages.
    pub number: usize,
    /// The type letter before `=` (`v`, `o`, `m`, `a`, ...), lowercased.
    pub kind: char,
    /// Everything after the `=`.
    pub value: &'a str,
    /// The whole trimmed line.
    pub text: &'a str,
}

/// An m= line and the lines up to the next m= line.
#[derive(Debug)]
pub(super) struct Section<'a> {
    pub mline: MediaLine,
    pub m: Line<'a>,
    pub lines: Vec<Line<'a>>,
}

/// The body cut into the session part and the media sections.
#[derive(Debug)]
pub(super) struct Scanned<'a> {
    pub session: Vec<Line<'a>>,
    pub sections: Vec<Section<'a>>,
}

/// Split `text` into lines and sections. Fails only on lines that are not `x=value`
/// at all, or on m= lines too short to be answered (RFC 4566 §5.14 needs media, port,
/// proto and at least one format).
pub(super) fn scan(text: &str) -> Result<Scanned<'_>, SdpError> {
    let mut session = Vec::new();
    let mut sections: Vec<Section<'_>> = Vec::new();
    // Split on '\n' like `str::lines` does, so our numbering matches webrtc-sdp's.
    for (index, raw) in text.split('\n').enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let line = classify(trimmed, index + 1)?;
        if line.kind == 'm' {
            let mline = media_line(&line)?;
            sections.push(Section {
                mline,
                m: line,
                lines: Vec::new(),
            });
        } else if let Some(section) = sections.last_mut() {
            section.lines.push(line);
        } else {
            session.push(line);
        }
    }
    Ok(Scanned { session, sections })
}

fn classify(text: &str, number: usize) -> Result<Line<'_>, SdpError> {
    let syntax = |detail: &str| SdpError::Syntax {
        line: number,
        detail: format!("{detail} in {text:?}"),
    };
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| syntax("expected `<type>=<value>`"))?;
    let mut chars = key.chars();
    let kind = match (chars.next(), chars.next()) {
        // RFC 4566 §5 wants lowercase; webrtc-sdp lowercases too, so be liberal.
        (Some(c), None) if c.is_ascii_alphabetic() => c.to_ascii_lowercase(),
        _ => return Err(syntax("type must be one letter (RFC 4566 §5)")),
    };
    Ok(Line {
        number,
        kind,
        value,
        text,
    })
}

/// `m=<media> <port>[/<count>] <proto> <fmt> ...` (RFC 4566 §5.14).
fn media_line(line: &Line<'_>) -> Result<MediaLine, SdpError> {
    let syntax = |detail: &str| SdpError::Syntax {
        line: line.number,
        detail: format!("{detail} in {:?}", line.text),
    };
    let mut tokens = line.value.split_whitespace();
    let (Some(media), Some(port), Some(proto)) = (tokens.next(), tokens.next(), tokens.next())
    else {
        return Err(syntax("m= line needs media, port, proto and formats"));
    };
    let port_number = port.split_once('/').map_or(port, |(p, _count)| p);
    let port: u16 = port_number
        .parse()
        .map_err(|_| syntax("m= port must be a number from 0 to 65535"))?;
    let formats: Vec<&str> = tokens.collect();
    if formats.is_empty() {
        return Err(syntax("m= line needs at least one format"));
    }
    // Audio and video formats are RTP payload type numbers (RFC 4566 §5.14 for RTP
    // profiles); a rejected stream's formats are echoed in the answer, so they must be
    // valid there too.
    let numeric = ["audio", "video"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(media));
    if numeric && formats.iter().any(|f| f.parse::<u32>().is_err()) {
        return Err(syntax(
            "audio/video m= formats must be payload type numbers",
        ));
    }
    let formats = formats.join(" ");
    Ok(MediaLine {
        media: media.to_owned(),
        port,
        proto: proto.to_owned(),
        formats,
    })
}

/// Session-level attributes webrtc-sdp sees: only the direction ones we use.
const SESSION_ATTRIBUTES: [&str; 4] = ["sendrecv", "sendonly", "recvonly", "inactive"];

/// Media-level attributes webrtc-sdp sees for the audio section: the ones negotiation
/// reads. `fmtp` is left out on purpose: we never read a peer's fmtp (our answer states
/// the telephone-event range we support), and it is the attribute most often malformed.
const MEDIA_ATTRIBUTES: [&str; 7] = [
    "rtpmap", "ptime", "maxptime", "sendrecv", "sendonly", "recvonly", "inactive",
];

/// Lines handed to webrtc-sdp: v/o/s/c/t at session level with the direction
/// attributes, then, if `section` is given, that section's m=, c= and the attributes in
/// [`MEDIA_ATTRIBUTES`]. Lines of other types (i, u, e, p, b, z, k, r and unknown
/// letters, which RFC 4566 §5 tells parsers to ignore) carry nothing we use.
pub(super) fn audio_lines<'a>(scanned: &Scanned<'a>, section: Option<usize>) -> Vec<Line<'a>> {
    let mut out: Vec<Line<'a>> = scanned
        .session
        .iter()
        .filter(|l| match l.kind {
            'v' | 'o' | 's' | 'c' | 't' => true,
            'a' => attribute_in(l, &SESSION_ATTRIBUTES),
            _ => false,
        })
        .copied()
        .collect();
    if let Some(section) = section.and_then(|i| scanned.sections.get(i)) {
        out.push(section.m);
        out.extend(
            section
                .lines
                .iter()
                .filter(|l| match l.kind {
                    'c' => true,
                    'a' => attribute_in(l, &MEDIA_ATTRIBUTES),
                    _ => false,
                })
                .copied(),
        );
    }
    out
}

fn attribute_in(line: &Line<'_>, names: &[&str]) -> bool {
    let name = line.value.split_once(':').map_or(line.value, |(n, _)| n);
    let name = name.trim();
    names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_numbers() {
        let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
                    a=fmtp:101 0-15\r\nm=image 4002 udptl t38\r\na=T38FaxVersion:0\r\n";
        let s = scan(body).unwrap();
        assert_eq!(s.session.len(), 5);
        assert_eq!(s.sections.len(), 2);
        let audio = s.sections.first().unwrap();
        assert_eq!(audio.m.number, 7);
        assert_eq!(audio.mline.formats, "0 101");
        let image = s.sections.get(1).unwrap();
        assert_eq!(
            (
                image.mline.media.as_str(),
                image.mline.port,
                image.mline.proto.as_str()
            ),
            ("image", 4002, "udptl")
        );
        let kept: Vec<&str> = audio_lines(&s, Some(0)).iter().map(|l| l.text).collect();
        assert_eq!(
            kept,
            [
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "s=-",
                "c=IN IP4 10.0.0.1",
                "t=0 0",
                "m=audio 4000 RTP/AVP 0 101",
                "a=rtpmap:101 telephone-event/8000",
            ]
        );
    }

    #[test]
    fn bad_lines_are_syntax_errors() {
        for (body, line) in [
            ("v=0\nhello\n", 2),
            ("v=0\nab=1\n", 2),
            ("1=0\n", 1),
            ("v=0\nm=audio\n", 2),
            ("v=0\nm=audio 70000 RTP/AVP 0\n", 2),
            ("v=0\nm=audio 4000 RTP/AVP\n", 2),
            ("v=0\nm=video 4000 RTP/AVP 96 h264\n", 2),
        ] {
            match scan(body) {
                Err(SdpError::Syntax { line: l, .. }) => assert_eq!(l, line, "{body:?}"),
                other => panic!("{body:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn port_count_is_accepted() {
        let s = scan("m=audio 4000/2 RTP/AVP 0\n").unwrap();
        assert_eq!(s.sections.first().unwrap().mline.port, 4000);
    }
}
