//! Message framing: where one SIP message ends and the next begins.
//!
//! The rsip fork has no framing of its own: it needs `\r\n\r\n`, silently
//! accepts a body shorter than Content-Length and drops the body of a message
//! without Content-Length. RFC 3261 §18.3 makes framing a transport job, so it
//! lives here, in front of the parser:
//! - a UDP datagram holds exactly one message; Content-Length (when present)
//!   says how much of the rest is body, surplus octets are discarded and a
//!   short body is an error; without Content-Length the body is the rest of
//!   the datagram;
//! - on a stream (TCP) Content-Length is mandatory and is the only way to find
//!   the next message, so a missing or bad one is fatal for the connection.
//!
//! Both accept LF-only line endings (real trunks send them) and skip the
//! CRLF keepalives of RFC 5626 §4.4.1 that may precede a message.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Upper bound for one message on a stream, so a peer cannot make us buffer
/// without limit. 64 KiB is far above any sane SIP message (RFC 3261 §18.1.1
/// moves requests over 1300 bytes to TCP, but INVITEs with big SDP stay < 8 KiB).
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Why bytes could not be framed as one SIP message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Only CR/LF octets: an RFC 5626 keepalive ping (or an empty datagram).
    #[error("CRLF keepalive, not a message: ignore it")]
    Keepalive,
    /// No empty line ends the header section.
    #[error(
        "no empty line ends the headers in {len} bytes: the message is truncated or not SIP; drop it"
    )]
    NoHeaderEnd { len: usize },
    /// Content-Length is not a plain decimal number (RFC 3261 §20.14), e.g. negative.
    #[error("Content-Length {value:?} is not a non-negative decimal number; reject with 400")]
    BadContentLength { value: String },
    /// Two Content-Length headers that disagree (RFC 4475 §3.3.9).
    #[error(
        "Content-Length given twice with different values ({first} and {second}); reject with 400"
    )]
    ConflictingContentLength { first: usize, second: usize },
    /// The datagram ends before Content-Length octets of body (RFC 3261 §18.3).
    #[error(
        "Content-Length says {declared} body bytes but only {available} arrived: truncated message, discard it (RFC 3261 §18.3)"
    )]
    TruncatedBody { declared: usize, available: usize },
    /// A stream message without Content-Length cannot be delimited (RFC 3261 §18.3).
    #[error(
        "Content-Length is missing on a stream transport (RFC 3261 §18.3): close the connection"
    )]
    MissingContentLength,
    /// The message would exceed [`MAX_MESSAGE_SIZE`].
    #[error(
        "message of at least {size} bytes exceeds the {limit}-byte limit: close the connection"
    )]
    TooLarge { size: usize, limit: usize },
}

impl FrameError {
    /// A keepalive is not an error worth logging: the driver ignores it.
    pub fn is_keepalive(&self) -> bool {
        matches!(self, FrameError::Keepalive)
    }
}

/// Where the parts of one framed message lie, as offsets into the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framed {
    /// First octet of the start line (leading CR/LF skipped).
    pub start: usize,
    /// End of the header section: just after the last header line's line ending.
    pub head_end: usize,
    /// First octet of the body (after the empty line).
    pub body_start: usize,
    /// Body length after applying Content-Length.
    pub body_len: usize,
    /// Content-Length as declared, if any.
    pub content_length: Option<usize>,
}

impl Framed {
    /// One past the last octet of the message.
    pub fn end(&self) -> usize {
        self.body_start + self.body_len
    }
}

/// Frames one UDP datagram (RFC 3261 §18.3): returns the message without
/// leading keepalive CRLFs and without octets beyond Content-Length.
pub fn frame_datagram(buf: &[u8]) -> Result<&[u8], FrameError> {
    let f = frame_datagram_parts(buf)?;
    buf.get(f.start..f.end())
        .ok_or(FrameError::NoHeaderEnd { len: buf.len() })
}

pub(crate) fn frame_datagram_parts(buf: &[u8]) -> Result<Framed, FrameError> {
    let start = skip_crlf(buf);
    let rest = buf.get(start..).unwrap_or_default();
    if rest.is_empty() {
        return Err(FrameError::Keepalive);
    }
    let (head_end, body_start) =
        find_head_end(rest, 0).ok_or(FrameError::NoHeaderEnd { len: rest.len() })?;
    let content_length = content_length(rest.get(..head_end).unwrap_or_default())?;
    let available = rest.len() - body_start;
    let body_len = match content_length {
        Some(declared) if declared > available => {
            return Err(FrameError::TruncatedBody {
                declared,
                available,
            });
        }
        Some(declared) => declared,
        None => available,
    };
    Ok(Framed {
        start,
        head_end: start + head_end,
        body_start: start + body_start,
        body_len,
        content_length,
    })
}

/// Number of leading CR/LF octets.
fn skip_crlf(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

/// Finds the empty line that ends the headers, searching from `from`.
/// Returns (end of the header section including its last line ending, start of
/// body). Accepts CRLF and bare LF, mixed (`\r\n\n`, `\n\r\n`, `\n\n`).
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while let Some(off) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let lf = i + off;
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) => return Some((lf + 1, lf + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((lf + 1, lf + 3)),
            _ => {}
        }
        i = lf + 1;
    }
    None
}

/// Iterates the logical header lines of a header section (start line first),
/// joining folded continuation lines (RFC 3261 §7.3.1). Each item is the raw
/// bytes from the line start to the end of its last continuation line,
/// without the final line ending.
pub(crate) fn logical_lines(head: &[u8]) -> LogicalLines<'_> {
    LogicalLines { head, pos: 0 }
}

pub(crate) struct LogicalLines<'a> {
    head: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for LogicalLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        if start >= self.head.len() {
            return None;
        }
        let mut end;
        let mut i = start;
        loop {
            let rest = self.head.get(i..).unwrap_or_default();
            match rest.iter().position(|&b| b == b'\n') {
                Some(off) => {
                    end = i + off;
                    i = end + 1;
                    // RFC 3261 §7.3.1: a line starting with SP/HT continues the
                    // previous one. The start line is never continued.
                    if start != 0 && matches!(self.head.get(i), Some(b' ' | b'\t')) {
                        continue;
                    }
                    break;
                }
                None => {
                    end = self.head.len();
                    i = end;
                    break;
                }
            }
        }
        self.pos = i;
        let line = self.head.get(start..end).unwrap_or_default();
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// Splits a header line at its colon into (trimmed name, raw value).
pub(crate) fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line.get(..colon)?.trim_ascii();
    let value = line.get(colon + 1..)?;
    Some((name, value))
}

/// Reads Content-Length (or compact `l`) from a header section, case-insensitively.
fn content_length(head: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut found: Option<usize> = None;
    for line in logical_lines(head).skip(1) {
        let Some((name, value)) = split_header(line) else {
            continue;
        };
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = value.trim_ascii();
        let parsed = parse_decimal(value).ok_or_else(|| FrameError::BadContentLength {
            value: String::from_utf8_lossy(value).into_owned(),
        })?;
        match found {
            Some(first) if first != parsed => {
                return Err(FrameError::ConflictingContentLength {
                    first,
                    second: parsed,
                });
            }
            _ => found = Some(parsed),
        }
    }
    Ok(found)
}

/// `1*DIGIT` as usize, rejecting signs, blanks and overflow.
fn parse_decimal(value: &[u8]) -> Option<usize> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0usize, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(usize::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Splits a TCP byte stream into SIP messages (RFC 3261 §18.3).
///
/// Feed every read with [`push`](Self::push), then call
/// [`next_message`](Self::next_message) until it returns `None`. After an
/// error the stream cannot be resynchronised: the framer stays failed and the
/// driver should close the connection.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    /// Where to resume the search for the end of headers (avoids rescanning
    /// the same bytes when a message trickles in).
    scan_from: usize,
    max_size: usize,
    failed: bool,
    /// CRLFs skipped between messages, to count RFC 5626 pings.
    skipped_lf: usize,
    pings: usize,
}

impl Default for StreamFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamFramer {
    /// A framer with the default [`MAX_MESSAGE_SIZE`].
    pub fn new() -> Self {
        Self::with_max_size(MAX_MESSAGE_SIZE)
    }

    /// A framer that rejects messages larger than `max_size` bytes.
    pub fn with_max_size(max_size: usize) -> Self {
        StreamFramer {
            buf: BytesMut::new(),
            scan_from: 0,
            max_size,
            failed: false,
            skipped_lf: 0,
            pings: 0,
        }
    }

    /// Appends bytes read from the connection. Ignored once the framer failed.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// True after an error: the connection should be closed.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// RFC 5626 §4.4.1 double-CRLF pings seen since the last call; the driver
    /// answers each with a single CRLF pong.
    pub fn take_pings(&mut self) -> usize {
        std::mem::take(&mut self.pings)
    }

    /// The next complete message, `None` when more bytes are needed (or the
    /// framer has failed), or the framing error that makes the stream unusable.
    pub fn next_message(&mut self) -> Option<Result<Bytes, FrameError>> {
        if self.failed {
            return None;
        }
        let lead = skip_crlf(&self.buf);
        if lead > 0 {
            self.skipped_lf += self.buf.iter().take(lead).filter(|&&b| b == b'\n').count();
            self.pings += self.skipped_lf / 2;
            self.skipped_lf %= 2;
            self.buf.advance(lead);
            self.scan_from = 0;
        }
        if self.buf.is_empty() {
            return None;
        }
        self.skipped_lf = 0;
        // Resume a little before where the last search stopped: the empty line
        // may straddle two reads.
        let from = self.scan_from.saturating_sub(3);
        let Some((head_end, body_start)) = find_head_end(&self.buf, from) else {
            self.scan_from = self.buf.len();
            if self.buf.len() > self.max_size {
                return Some(Err(self.fail(FrameError::TooLarge {
                    size: self.buf.len(),
                    limit: self.max_size,
                })));
            }
            return None;
        };
        let declared = match content_length(self.buf.get(..head_end).unwrap_or_default()) {
            Ok(Some(n)) => n,
            Ok(None) => return Some(Err(self.fail(FrameError::MissingContentLength))),
            Err(e) => return Some(Err(self.fail(e))),
        };
        let total = body_start.saturating_add(declared);
        if total > self.max_size {
            return Some(Err(self.fail(FrameError::TooLarge {
                size: total,
                limit: self.max_size,
            })));
        }
        if self.buf.len() < total {
            // Headers are complete; keep the search position so we do not
            // rescan them while the body arrives.
            self.scan_from = from;
            return None;
        }
        self.scan_from = 0;
        Some(Ok(self.buf.split_to(total).freeze()))
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.failed = true;
        self.buf = BytesMut::new();
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG1: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 5\r\n\r\nhello";
    const MSG2: &[u8] =
        b"BYE sip:a@b SIP/2.0\r\nl: 0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\n\r\n";

    #[test]
    fn datagram_truncates_surplus_to_content_length() {
        let mut d = MSG1.to_vec();
        d.extend_from_slice(b"garbage after");
        assert_eq!(frame_datagram(&d).unwrap(), MSG1);
    }

    #[test]
    fn datagram_short_body_is_an_error() {
        let d = &MSG1[..MSG1.len() - 2];
        assert_eq!(
            frame_datagram(d),
            Err(FrameError::TruncatedBody {
                declared: 5,
                available: 3
            })
        );
    }

    #[test]
    fn datagram_without_content_length_keeps_rest_as_body() {
        let d = b"MESSAGE sip:a@b SIP/2.0\r\nVia: x\r\n\r\nbody bytes";
        assert_eq!(frame_datagram(d).unwrap(), &d[..]);
        let f = frame_datagram_parts(d).unwrap();
        assert_eq!(f.body_len, 10);
        assert_eq!(f.content_length, None);
    }

    #[test]
    fn datagram_lf_only_and_compact_length() {
        let d = b"\r\nMESSAGE sip:a@b SIP/2.0\nl:  3\nVia: x\n\nabcdef";
        assert_eq!(
            frame_datagram(d).unwrap(),
            b"MESSAGE sip:a@b SIP/2.0\nl:  3\nVia: x\n\nabc"
        );
        let d = b"MESSAGE sip:a@b SIP/2.0\r\nCONTENT-length  : 2\r\n\r\nabc";
        assert_eq!(frame_datagram(d).unwrap().len(), d.len() - 1);
    }

    #[test]
    fn datagram_keepalives_and_garbage() {
        assert_eq!(frame_datagram(b"\r\n\r\n"), Err(FrameError::Keepalive));
        assert_eq!(frame_datagram(b"\r\n"), Err(FrameError::Keepalive));
        assert_eq!(frame_datagram(b""), Err(FrameError::Keepalive));
        assert!(frame_datagram(b"\r\n\r\n").unwrap_err().is_keepalive());
        assert_eq!(
            frame_datagram(b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n"),
            Err(FrameError::NoHeaderEnd { len: 32 })
        );
    }

    #[test]
    fn datagram_bad_content_lengths() {
        for (cl, want) in [
            ("-999", "BadContentLength"),
            ("abc", "BadContentLength"),
            ("", "BadContentLength"),
            ("99999999999999999999999999", "BadContentLength"),
        ] {
            let d = format!("A sip:a@b SIP/2.0\r\nContent-Length: {cl}\r\n\r\n");
            let e = frame_datagram(d.as_bytes()).unwrap_err();
            assert!(format!("{e:?}").starts_with(want), "{cl}: {e:?}");
        }
        let d = b"A sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab";
        assert_eq!(
            frame_datagram(d),
            Err(FrameError::ConflictingContentLength {
                first: 1,
                second: 2
            })
        );
        let d = b"A sip:a@b SIP/2.0\r\nContent-Length: 2\r\nl: 2\r\n\r\nab";
        assert!(frame_datagram(d).is_ok());
    }

    #[test]
    fn folded_content_length_is_read() {
        let d = b"A sip:a@b SIP/2.0\r\nContent-Length:\r\n   2\r\n\r\nabc";
        assert_eq!(frame_datagram(d).unwrap().len(), d.len() - 1);
    }

    #[test]
    fn logical_lines_unfold() {
        let head = b"INVITE x SIP/2.0\r\nA: 1\r\n 2\r\n\t3\nB: 4\r\n";
        let lines: Vec<&[u8]> = logical_lines(head).collect();
        assert_eq!(
            lines,
            vec![
                &b"INVITE x SIP/2.0"[..],
                &b"A: 1\r\n 2\r\n\t3"[..],
                &b"B: 4"[..]
            ]
        );
    }

    fn stream() -> Vec<u8> {
        let mut s = MSG1.to_vec();
        s.extend_from_slice(MSG2);
        s
    }

    #[test]
    fn stream_two_messages_in_one_push() {
        let mut f = StreamFramer::new();
        f.push(&stream());
        assert_eq!(f.next_message().unwrap().unwrap(), MSG1);
        assert_eq!(f.next_message().unwrap().unwrap(), MSG2);
        assert!(f.next_message().is_none());
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn stream_split_at_every_byte_boundary() {
        let s = stream();
        for cut in 0..=s.len() {
            let mut f = StreamFramer::new();
            let mut got = Vec::new();
            for part in [&s[..cut], &s[cut..]] {
                f.push(part);
                while let Some(m) = f.next_message() {
                    got.push(m.unwrap());
                }
            }
            assert_eq!(
                got,
                vec![Bytes::from_static(MSG1), Bytes::from_static(MSG2)],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn stream_one_byte_at_a_time() {
        let s = stream();
        let mut f = StreamFramer::new();
        let mut got = Vec::new();
        for b in &s {
            f.push(std::slice::from_ref(b));
            while let Some(m) = f.next_message() {
                got.push(m.unwrap());
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], MSG2);
    }

    #[test]
    fn stream_skips_keepalives_and_counts_pings() {
        let mut f = StreamFramer::new();
        f.push(b"\r\n\r\n");
        assert!(f.next_message().is_none());
        f.push(b"\r\n");
        assert!(f.next_message().is_none());
        f.push(b"\r\n");
        f.push(MSG2);
        assert_eq!(f.next_message().unwrap().unwrap(), MSG2);
        assert_eq!(f.take_pings(), 2);
        assert_eq!(f.take_pings(), 0);
    }

    #[test]
    fn stream_missing_content_length_fails_for_good() {
        let mut f = StreamFramer::new();
        f.push(b"BYE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(
            f.next_message(),
            Some(Err(FrameError::MissingContentLength))
        );
        assert!(f.is_failed());
        f.push(MSG1);
        assert!(f.next_message().is_none());
    }

    #[test]
    fn stream_oversize_is_an_error() {
        let mut f = StreamFramer::with_max_size(100);
        f.push(&[b'a'; 101]);
        assert!(matches!(
            f.next_message(),
            Some(Err(FrameError::TooLarge { .. }))
        ));
        let mut f = StreamFramer::with_max_size(100);
        f.push(b"A sip:a@b SIP/2.0\r\nContent-Length: 1000\r\n\r\n");
        assert!(matches!(
            f.next_message(),
            Some(Err(FrameError::TooLarge { size: 1043, .. }))
        ));
    }
}
