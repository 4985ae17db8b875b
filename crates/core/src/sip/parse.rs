//! `parse_message`: framing + normalization + the rsip fork + the checks the
//! fork does not make, with a ready-to-send error response when one is due.
//!
//! RFC 3261 §8.2 and §16.3 want a malformed request answered (400, 501 for an
//! unknown method, 505 for another SIP version) and a malformed response
//! dropped. We answer whenever the request has at least one Via to route the
//! answer by, copying Via/From/To/Call-ID/CSeq as found by scanning the raw
//! lines (§8.2.6.2), and never answer an ACK (§17.1.1.3: no response to ACK).

use bytes::Bytes;
use thiserror::Error;

use super::frame::{FrameError, find_head_end, frame_datagram_parts, logical_lines, split_header};
use super::headers::error_response;
use super::normalize::normalize;
use super::rsip::{self, Header, Method, SipMessage, typed};

pub use super::headers::ALLOW;

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Only CRLFs (RFC 5626 keepalive): ignore silently.
    #[error("CRLF keepalive: nothing to do")]
    Keepalive,
    /// The message is unusable. `status` is the answer that fits; `response`
    /// holds the wire bytes of that answer when one can be routed (send it
    /// back to the source), `None` when the message must just be dropped and
    /// logged (responses, ACK, garbage without Via).
    #[error("SIP message rejected, {}: {reason}", outcome(*.status, .response))]
    Reject {
        status: u16,
        response: Option<Bytes>,
        reason: Problem,
    },
}

fn outcome(status: u16, response: &Option<Bytes>) -> String {
    match response {
        Some(_) => format!("answering {status}"),
        None => "dropped without answer".to_string(),
    }
}

impl ParseError {
    /// The error response to send back, if any.
    pub fn response(&self) -> Option<&Bytes> {
        match self {
            ParseError::Reject { response, .. } => response.as_ref(),
            ParseError::Keepalive => None,
        }
    }

    /// True for keepalives, which are not worth a log line.
    pub fn is_keepalive(&self) -> bool {
        matches!(self, ParseError::Keepalive)
    }
}

/// What exactly was wrong, for the log and the reason phrase.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    #[error("framing: {0}")]
    Frame(#[from] FrameError),
    #[error("the start line is not UTF-8 text")]
    StartLineNotText,
    #[error(
        "malformed start line {line:?}: expected `METHOD SP URI SP SIP/2.0` or `SIP/2.0 SP CODE SP REASON` (RFC 3261 §7.1, §7.2)"
    )]
    BadStartLine { line: String },
    #[error("method {method:?} is not implemented here")]
    UnknownMethod { method: String },
    #[error("SIP version {version:?} is not supported, only SIP/2.0")]
    BadVersion { version: String },
    #[error("status code {code:?} is not a number in 100-699")]
    BadStatusCode { code: String },
    #[error("mandatory header {name} is missing")]
    MissingHeader { name: &'static str },
    #[error("header {name} appears {count} times but allows one value")]
    DuplicateHeader { name: &'static str, count: usize },
    #[error("header {name} is malformed: {detail}")]
    BadHeader { name: &'static str, detail: String },
    #[error("CSeq method {cseq:?} differs from the request method {method:?} (RFC 3261 §8.1.1.5)")]
    CSeqMismatch { method: String, cseq: String },
    #[error("the SIP parser refused it: {detail}")]
    Unparseable { detail: String },
}

impl Problem {
    fn bad(name: &'static str, detail: impl Into<String>) -> Self {
        Problem::BadHeader {
            name,
            detail: detail.into(),
        }
    }
}

/// Parses one UDP datagram or one message framed by
/// [`StreamFramer`](super::frame::StreamFramer) into a typed message.
///
/// The returned message has one header line per Via/Route/Record-Route/
/// Contact value, full header names, and exactly the framed body bytes.
pub fn parse_message(buf: &[u8]) -> Result<SipMessage, ParseError> {
    let framed = match frame_datagram_parts(buf) {
        Ok(f) => f,
        Err(FrameError::Keepalive) => return Err(ParseError::Keepalive),
        Err(e) => {
            // The headers may still be complete (bad or short Content-Length):
            // answer 400 if we can (RFC 3261 §18.3).
            let start = buf
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .unwrap_or(0);
            return Err(reject(buf.get(start..).unwrap_or_default(), 400, e.into()));
        }
    };
    let msg = buf.get(framed.start..framed.end()).unwrap_or_default();
    let norm = normalize(msg);
    let norm: &[u8] = &norm;
    let Some((head_end, body_start)) = find_head_end(norm, 0) else {
        return Err(reject(
            norm,
            400,
            FrameError::NoHeaderEnd { len: norm.len() }.into(),
        ));
    };
    let head = norm.get(..head_end).unwrap_or_default();
    let body = norm.get(body_start..).unwrap_or_default();

    let start_line = logical_lines(head).next().unwrap_or_default();
    let start = check_start_line(start_line).map_err(|(status, p)| reject(norm, status, p))?;

    let mut parsed = SipMessage::try_from(norm).map_err(|e| {
        reject(
            norm,
            400,
            Problem::Unparseable {
                detail: e.to_string(),
            },
        )
    })?;
    // The fork drops the body of a message without Content-Length and
    // truncates to it; framing already decided what the body is.
    match &mut parsed {
        SipMessage::Request(r) => {
            r.body = body.to_vec();
            if let Some(uri) = request_uri(start_line).and_then(reparse_user_uri) {
                r.uri = uri;
            }
        }
        SipMessage::Response(r) => r.body = body.to_vec(),
    }
    validate(&parsed, &start, head).map_err(|p| reject(norm, 400, p))?;
    Ok(parsed)
}

/// What the start line said, checked.
enum Start<'a> {
    Request { method: &'a str },
    Response,
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// RFC 3261 §7.1 / §7.2 with single SPs (RFC 4475 §3.1.2.7-10: `<>` around the
/// URI, LWS in it, extra or trailing SP are rejected).
fn check_start_line(line: &[u8]) -> Result<Start<'_>, (u16, Problem)> {
    let text = std::str::from_utf8(line).map_err(|_| (400, Problem::StartLineNotText))?;
    let bad = || {
        (
            400,
            Problem::BadStartLine {
                line: text.chars().take(120).collect(),
            },
        )
    };
    if let Some(rest) = text.strip_prefix("SIP/") {
        let (version, rest) = rest.split_once(' ').ok_or_else(bad)?;
        if version != "2.0" {
            return Err((
                400,
                Problem::BadVersion {
                    version: format!("SIP/{version}"),
                },
            ));
        }
        let code = rest.split(' ').next().unwrap_or_default();
        let valid = code.len() == 3
            && code.bytes().all(|b| b.is_ascii_digit())
            && code
                .bytes()
                .next()
                .is_some_and(|b| (b'1'..=b'6').contains(&b));
        if !valid {
            return Err((
                400,
                Problem::BadStatusCode {
                    code: code.chars().take(20).collect(),
                },
            ));
        }
        return Ok(Start::Response);
    }
    let mut parts = text.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if method.is_empty() || !method.bytes().all(is_token_char) {
        return Err(bad());
    }
    if uri.is_empty()
        || uri.starts_with('<')
        || uri
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        || !uri.contains(':')
    {
        return Err(bad());
    }
    if version != "SIP/2.0" {
        let looks_like_version = version
            .strip_prefix("SIP/")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
        return Err(if looks_like_version {
            (
                505,
                Problem::BadVersion {
                    version: version.to_string(),
                },
            )
        } else {
            bad()
        });
    }
    // Methods are case-sensitive (RFC 3261 §7.1); the fork's parse is not, so
    // compare with its canonical spelling.
    let known = method
        .parse::<Method>()
        .is_ok_and(|m| m.to_string() == method);
    if !known {
        return Err((
            501,
            Problem::UnknownMethod {
                method: method.to_string(),
            },
        ));
    }
    Ok(Start::Request { method })
}

/// The Request-URI text of a request line already checked by [`check_start_line`].
fn request_uri(start_line: &[u8]) -> Option<&str> {
    std::str::from_utf8(start_line).ok()?.split(' ').nth(1)
}

/// The fork splits a URI at the first `;` or `?` even inside the user part
/// (RFC 3261 §19.1.1 allows both there, RFC 4475 §3.1.1.9 `semiuri`), which
/// turns `sip:user;par=x@host` into host `user`. When the userinfo holds such
/// characters, parse the part after `@` alone and put the userinfo back.
fn reparse_user_uri(uri: &str) -> Option<rsip::Uri> {
    let (scheme, rest) = uri.split_once(':')?;
    let (userinfo, hostpart) = rest.rsplit_once('@')?;
    if !userinfo.contains([';', '?']) {
        return None;
    }
    let mut parsed = rsip::Uri::try_from(format!("{scheme}:{hostpart}").as_str()).ok()?;
    parsed.auth = Some(rsip::Auth::from(userinfo));
    Some(parsed)
}

/// The RFC 3261 §8.1.1 / §20 rules the fork does not enforce.
fn validate(msg: &SipMessage, start: &Start<'_>, head: &[u8]) -> Result<(), Problem> {
    let headers = match msg {
        SipMessage::Request(r) => &r.headers,
        SipMessage::Response(r) => &r.headers,
    };
    let count = |f: fn(&Header) -> bool| headers.iter().filter(|h| f(h)).count();
    let single = |name: &'static str, n: usize| match n {
        0 => Err(Problem::MissingHeader { name }),
        1 => Ok(()),
        count => Err(Problem::DuplicateHeader { name, count }),
    };
    if count(|h| matches!(h, Header::Via(_))) == 0 {
        return Err(Problem::MissingHeader { name: "Via" });
    }
    single("From", count(|h| matches!(h, Header::From(_))))?;
    single("To", count(|h| matches!(h, Header::To(_))))?;
    single("Call-ID", count(|h| matches!(h, Header::CallId(_))))?;
    single("CSeq", count(|h| matches!(h, Header::CSeq(_))))?;

    for h in headers.iter() {
        match h {
            Header::Via(v) => check_via(v.value())?,
            Header::From(v) => check_name_addr("From", v.value())?,
            Header::To(v) => check_name_addr("To", v.value())?,
            Header::Contact(v) if v.value().trim() != "*" => check_name_addr("Contact", v.value())?,
            Header::Route(v) => check_name_addr("Route", v.value())?,
            Header::RecordRoute(v) => check_name_addr("Record-Route", v.value())?,
            Header::CallId(v) if v.value().trim().is_empty() => {
                return Err(Problem::bad("Call-ID", "empty value"));
            }
            Header::MaxForwards(v) => {
                // Out of range is the TU's call (RFC 4475 §3.1.2.4), not digits is not.
                let v = v.value().trim();
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Problem::bad(
                        "Max-Forwards",
                        format!("{v:?} is not a number"),
                    ));
                }
            }
            _ => {}
        }
    }
    if let Some(Header::Via(top)) = headers.iter().find(|h| matches!(h, Header::Via(_))) {
        typed::Via::parse(top.value()).map_err(|e| Problem::bad("Via", e.to_string()))?;
    }
    let from = headers.iter().find_map(|h| match h {
        Header::From(v) => Some(v.value()),
        _ => None,
    });
    let to = headers.iter().find_map(|h| match h {
        Header::To(v) => Some(v.value()),
        _ => None,
    });
    if let Some(v) = from {
        typed::From::parse(v).map_err(|e| Problem::bad("From", e.to_string()))?;
    }
    if let Some(v) = to {
        typed::To::parse(v).map_err(|e| Problem::bad("To", e.to_string()))?;
    }
    let cseq = headers
        .iter()
        .find_map(|h| match h {
            Header::CSeq(v) => Some(v.value()),
            _ => None,
        })
        .unwrap_or_default();
    check_cseq(cseq, start)?;
    check_head_lines(head)
}

/// RFC 3261 §20.16: `1*DIGIT LWS Method`, number below 2**31, method equal to
/// the request's (also for ACK and CANCEL, §17.1.1.3 / §9.1).
fn check_cseq(value: &str, start: &Start<'_>) -> Result<(), Problem> {
    let mut parts = value.split_ascii_whitespace();
    let (Some(seq), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Problem::bad(
            "CSeq",
            format!("{value:?} is not `number method`"),
        ));
    };
    let in_range =
        seq.bytes().all(|b| b.is_ascii_digit()) && seq.parse::<u32>().is_ok_and(|n| n < 1 << 31);
    if !in_range {
        return Err(Problem::bad(
            "CSeq",
            format!("sequence number {seq:?} is not below 2**31"),
        ));
    }
    if !method.bytes().all(is_token_char) {
        return Err(Problem::bad(
            "CSeq",
            format!("method {method:?} is not a token"),
        ));
    }
    match start {
        Start::Request { method: m } if *m != method => Err(Problem::CSeqMismatch {
            method: m.to_string(),
            cseq: method.to_string(),
        }),
        _ => Ok(()),
    }
}

/// One Via value after normalization: `SIP/2.0/TRANSPORT sent-by *(;param)`.
/// Only the top one must be a transport we know; the others just well-formed.
fn check_via(value: &str) -> Result<(), Problem> {
    let value = value.trim();
    let (proto, rest) = value
        .split_once(' ')
        .ok_or_else(|| Problem::bad("Via", format!("{value:?} has no sent-by")))?;
    let mut p = proto.split('/');
    let shape_ok = matches!(
        (p.next(), p.next(), p.next(), p.next()),
        (Some(n), Some(v), Some(t), None)
            if n.eq_ignore_ascii_case("SIP") && v == "2.0" && !t.is_empty() && t.bytes().all(is_token_char)
    );
    if !shape_ok {
        return Err(Problem::bad(
            "Via",
            format!("sent-protocol {proto:?} is not SIP/2.0/<transport>"),
        ));
    }
    let host = rest.split(';').next().unwrap_or_default();
    if host.is_empty() {
        return Err(Problem::bad("Via", "empty sent-by"));
    }
    check_structure("Via", rest)
}

/// `[display-name] <uri> *(;param)` or `uri *(;param)` (RFC 3261 §20.10, §25.1).
fn check_name_addr(name: &'static str, value: &str) -> Result<(), Problem> {
    check_structure(name, value)?;
    let value = value.trim();
    if let Some(lt) = value.find('<') {
        let display = value.get(..lt).unwrap_or_default().trim();
        // RFC 4475 §3.1.2.15: an unquoted display name must be tokens.
        let unquoted_ok = display.starts_with('"')
            || display
                .bytes()
                .all(|b| is_token_char(b) || b == b' ' || b == b'\t');
        if !unquoted_ok {
            return Err(Problem::bad(
                name,
                format!("display name {display:?} must be quoted"),
            ));
        }
    }
    Ok(())
}

/// Balanced quotes and `<>`, no LWS inside `<>` (RFC 4475 §3.1.2.14), no
/// empty parameter (`;;`, RFC 4475 §3.1.2.1), nothing but params after `>`.
fn check_structure(name: &'static str, value: &str) -> Result<(), Problem> {
    let mut in_quote = false;
    let mut escaped = false;
    let mut angle = 0u32;
    let mut after_semi = false;
    for b in value.trim().bytes() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
            continue;
        }
        if angle > 0 {
            match b {
                b'>' => angle -= 1,
                b'<' => return Err(Problem::bad(name, "nested '<'")),
                b if b.is_ascii_whitespace() => {
                    return Err(Problem::bad(name, "whitespace inside <...>"));
                }
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_quote = true,
            b'<' => angle += 1,
            b'>' => return Err(Problem::bad(name, "'>' without '<'")),
            b';' if after_semi => return Err(Problem::bad(name, "empty parameter")),
            b';' => {
                after_semi = true;
                continue;
            }
            _ => {}
        }
        after_semi = false;
    }
    if in_quote {
        return Err(Problem::bad(name, "unterminated quoted string"));
    }
    if angle > 0 {
        return Err(Problem::bad(name, "'<' without '>'"));
    }
    if after_semi {
        return Err(Problem::bad(name, "empty parameter at the end"));
    }
    Ok(())
}

/// Checks on the raw (normalized) lines that the typed model hides: a header
/// line must be `name: value` with a token name.
fn check_head_lines(head: &[u8]) -> Result<(), Problem> {
    for line in logical_lines(head).skip(1) {
        let ok = split_header(line)
            .is_some_and(|(name, _)| !name.is_empty() && name.iter().all(|&b| is_token_char(b)));
        if !ok {
            return Err(Problem::bad(
                "(header line)",
                format!(
                    "{:?} is not `name: value`",
                    String::from_utf8_lossy(line)
                        .chars()
                        .take(60)
                        .collect::<String>()
                ),
            ));
        }
    }
    Ok(())
}

/// Builds the rejection, with a response when the message is a request (not
/// ACK) that has a Via to send it along.
fn reject(msg: &[u8], status: u16, reason: Problem) -> ParseError {
    let norm = normalize(msg);
    let response = error_response(&norm, status, &reason.to_string());
    ParseError::Reject {
        status,
        response,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::headers;
    use crate::sip::rsip::HeadersExt;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
        Max-Forwards: 70\r\n\
        To: Bob <sip:bob@example.com>\r\n\
        From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710@pc33.example.com\r\n\
        CSeq: 314159 INVITE\r\n\
        Contact: <sip:alice@192.0.2.1>\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\n";

    fn ok(s: &str) -> SipMessage {
        match parse_message(s.as_bytes()) {
            Ok(m) => m,
            Err(e) => panic!("{e}\n{s}"),
        }
    }

    fn rejected(s: &str) -> (u16, Option<String>, Problem) {
        match parse_message(s.as_bytes()) {
            Err(ParseError::Reject {
                status,
                response,
                reason,
            }) => (
                status,
                response.map(|b| String::from_utf8(b.to_vec()).unwrap()),
                reason,
            ),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn vias(m: &SipMessage) -> Vec<String> {
        use rsip::HasHeaders;
        m.headers()
            .iter()
            .filter_map(|h| match h {
                Header::Via(v) => Some(v.value().to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn plain_invite() {
        let m = ok(INVITE);
        assert_eq!(
            headers::call_id(&m),
            Some("a84b4c76e66710@pc33.example.com")
        );
        assert_eq!(
            headers::top_via_branch(&m).as_deref(),
            Some("z9hG4bK776asdhds")
        );
        let SipMessage::Request(r) = m else { panic!() };
        assert_eq!(r.body, b"v=0\n");
    }

    #[test]
    fn compact_forms() {
        let m = ok(
            "OPTIONS sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
            f: <sip:a@example.com>;tag=9\r\nt: <sip:bob@example.com>\r\ni: cid1\r\nCSeq: 1 OPTIONS\r\n\
            m: <sip:a@192.0.2.1>\r\nl: 0\r\n\r\n",
        );
        assert_eq!(headers::call_id(&m), Some("cid1"));
        assert_eq!(headers::from_tag(&m).as_deref(), Some("9"));
        assert_eq!(headers::to_user(&m).as_deref(), Some("bob"));
        assert!(m.contact_header().is_ok());
    }

    #[test]
    fn comma_joined_vias_become_two_headers() {
        let m = ok(&INVITE.replace(
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
            "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1 , SIP/2.0/TCP b.example.com;branch=z9hG4bK2",
        ));
        let v = vias(&m);
        assert_eq!(v.len(), 2);
        let branches: Vec<String> = v
            .iter()
            .map(|v| {
                typed::Via::parse(v)
                    .unwrap()
                    .branch()
                    .unwrap()
                    .value()
                    .to_string()
            })
            .collect();
        assert_eq!(branches, ["z9hG4bK1", "z9hG4bK2"]);
    }

    #[test]
    fn branch_after_spaced_semicolons() {
        let m = ok(&INVITE.replace(
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
            "Via: SIP/2.0/UDP 1.2.3.4:5060; branch = z9hG4bK1 ; rport",
        ));
        assert_eq!(headers::top_via_branch(&m).as_deref(), Some("z9hG4bK1"));
        assert_eq!(headers::top_via(&m).unwrap().rport(), Some(None));
    }

    #[test]
    fn lf_only_and_case_insensitive_names() {
        let m = ok(&INVITE
            .replace("\r\n", "\n")
            .replace("Call-ID", "cALL-iD")
            .replace("Via:", "VIA:"));
        assert_eq!(
            headers::call_id(&m),
            Some("a84b4c76e66710@pc33.example.com")
        );
        assert_eq!(headers::cseq(&m), Some((314159, Method::Invite)));
        let SipMessage::Request(r) = m else { panic!() };
        assert_eq!(r.body, b"v=0\n", "body is preserved byte-exact");
    }

    #[test]
    fn no_content_length_over_udp_keeps_body() {
        let m = ok(&INVITE.replace("Content-Length: 4\r\n", ""));
        let SipMessage::Request(r) = m else { panic!() };
        assert_eq!(r.body, b"v=0\n");
    }

    #[test]
    fn unknown_method_gets_501_with_headers_copied() {
        let s = INVITE
            .replace("INVITE sip:", "NEWMETHOD sip:")
            .replace("314159 INVITE", "314159 NEWMETHOD");
        let (status, resp, reason) = rejected(&s);
        assert_eq!(status, 501);
        assert!(matches!(reason, Problem::UnknownMethod { ref method } if method == "NEWMETHOD"));
        let resp = resp.unwrap();
        assert!(resp.starts_with("SIP/2.0 501 Not Implemented ("), "{resp}");
        for want in [
            "\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n",
            "\r\nFrom: Alice <sip:alice@example.com>;tag=1928301774\r\n",
            "\r\nTo: Bob <sip:bob@example.com>;tag=",
            "\r\nCall-ID: a84b4c76e66710@pc33.example.com\r\n",
            "\r\nCSeq: 314159 NEWMETHOD\r\n",
            "\r\nAllow: INVITE",
            "\r\nContent-Length: 0\r\n\r\n",
        ] {
            assert!(resp.contains(want), "{want:?} missing in {resp}");
        }
        // Our own answer must parse.
        assert!(ok(&resp).is_response());
        // Methods are case-sensitive: "invite" is not INVITE.
        let (status, ..) = rejected(&INVITE.replace("INVITE sip:", "invite sip:"));
        assert_eq!(status, 501);
    }

    #[test]
    fn missing_call_id_is_400() {
        let (status, resp, reason) =
            rejected(&INVITE.replace("Call-ID: a84b4c76e66710@pc33.example.com\r\n", ""));
        assert_eq!(status, 400);
        assert_eq!(reason, Problem::MissingHeader { name: "Call-ID" });
        let resp = resp.unwrap();
        assert!(
            resp.starts_with("SIP/2.0 400 Bad Request (mandatory header Call-ID is missing)\r\n"),
            "{resp}"
        );
        assert!(resp.contains("CSeq: 314159 INVITE\r\n"));
    }

    #[test]
    fn truncated_body_is_rejected() {
        let (status, resp, reason) =
            rejected(&INVITE.replace("Content-Length: 4", "Content-Length: 40"));
        assert_eq!(status, 400);
        assert!(matches!(
            reason,
            Problem::Frame(FrameError::TruncatedBody {
                declared: 40,
                available: 4
            })
        ));
        assert!(
            resp.unwrap()
                .contains("Call-ID: a84b4c76e66710@pc33.example.com")
        );
    }

    #[test]
    fn other_request_errors() {
        let cases = [
            (INVITE.replace("314159 INVITE", "314159 BYE"), 400),
            (INVITE.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia"), 505),
            (
                INVITE.replace(
                    "INVITE sip:bob@example.com SIP",
                    "INVITE <sip:bob@example.com> SIP",
                ),
                400,
            ),
            (
                INVITE.replace(
                    "INVITE sip:bob@example.com SIP",
                    "INVITE  sip:bob@example.com SIP",
                ),
                400,
            ),
            (INVITE.replace("CSeq: 314159", "CSeq: 99999999999"), 400),
            (
                INVITE.replace("Max-Forwards: 70", "Max-Forwards: seventy"),
                400,
            ),
            (
                INVITE.replace("Content-Length: 4", "Content-Length: -4"),
                400,
            ),
            (INVITE.replace("To: Bob <", "To: \"Bob <"), 400),
            (
                INVITE.replace(
                    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch",
                    "Via: SIP/2.0/UDP 192.0.2.1:5060;;branch",
                ),
                400,
            ),
            (INVITE.replace("From: Alice", "From: Alice, Bob"), 400),
            (INVITE.replace("From: ", "From: <sip:x@y>\r\nFrom: "), 400),
        ];
        for (s, want) in cases {
            let (status, resp, reason) = rejected(&s);
            assert_eq!(status, want, "{reason}");
            assert!(resp.is_some(), "{reason}");
        }
    }

    #[test]
    fn no_answer_to_ack_responses_or_viafree_garbage() {
        let ack = INVITE
            .replace("INVITE sip:", "ACK sip:")
            .replace("314159 INVITE", "314159 ACK");
        let (_, resp, _) =
            rejected(&ack.replace("Call-ID: a84b4c76e66710@pc33.example.com\r\n", ""));
        assert!(resp.is_none());
        let bad_resp =
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
        let (_, resp, reason) = rejected(bad_resp);
        assert!(resp.is_none());
        assert_eq!(reason, Problem::MissingHeader { name: "From" });
        let (_, resp, _) = rejected("SIP/2.0 4294967301 Huge\r\n\r\n");
        assert!(resp.is_none());
        let (_, resp, _) = rejected("hello world\r\n\r\n");
        assert!(resp.is_none());
        assert_eq!(parse_message(b"\r\n\r\n"), Err(ParseError::Keepalive));
    }

    #[test]
    fn responses_parse() {
        let m = ok(
            "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;received=192.0.2.9\r\n\
            From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        let SipMessage::Response(r) = m else { panic!() };
        assert_eq!(r.status_code.code(), 180);
    }

    #[test]
    fn error_display_is_readable() {
        let e = parse_message(
            INVITE
                .replace("Call-ID: a84b4c76e66710@pc33.example.com\r\n", "")
                .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "SIP message rejected, answering 400: mandatory header Call-ID is missing"
        );
    }
}
