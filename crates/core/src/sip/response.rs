//! Building responses from requests (RFC 3261 §8.2.6) and the one table of reason
//! phrases every layer uses.
//!
//! Status codes are *chosen* by the layer that owns the decision (transaction layer for
//! CANCEL 200/481, dialog layer for 481 in-dialog, call layer for 486/487/…); they are
//! all *built* here so every response copies the same headers the same way.

use bytes::Bytes;

use super::rsip::prelude::*;
use super::rsip::{self, Header, Headers, StatusCode};

/// The reason phrase for a status code (RFC 3261 §21 plus the common extensions).
///
/// This is the single status table of the crate: the phrases equal the ones the rsip
/// fork prints for the codes it knows (a unit test keeps the two in step), and codes
/// the fork does not know are printed with the phrase from here.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Unknown Resource-Priority",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        424 => "Bad Location Information",
        428 => "Use Identity Header",
        429 => "Provide Referrer Identity",
        433 => "Anonymity Disallowed",
        436 => "Bad Identity-Info",
        437 => "Unsupported Certificate",
        438 => "Invalid Identity Header",
        439 => "First Hop Lacks Outbound Support",
        440 => "Max-Breadth Exceeded",
        469 => "Bad Info Package",
        470 => "Consent Needed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        // RFC 3261 §21: an unknown code is treated like the x00 code of its class.
        _ => match code / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Redirected",
            4 => "Request Failure",
            5 => "Server Failure",
            6 => "Global Failure",
            _ => "Unknown",
        },
    }
}

/// The rsip status code for `code`, carrying our reason phrase when the fork has no
/// variant of its own for it (otherwise it would print the placeholder "Other").
pub fn status_code(code: u16) -> StatusCode {
    StatusCode::try_from((code, reason_phrase(code))).unwrap_or_else(|_| StatusCode::from(code))
}

/// A response to `req` per RFC 3261 §8.2.6.2: every Via in order, From, To, Call-ID and
/// CSeq copied; `to_tag` added to To when To has none yet (a UAS must tag every
/// response except 100 Trying, §8.2.6.2; pass the dialog's tag); `Content-Length: 0`.
///
/// A response that establishes a dialog (a 2xx, or a 1xx with a To tag, to an
/// INVITE or SUBSCRIBE outside a dialog) also copies every Record-Route, in order and
/// verbatim (§12.1.1): that is how the caller learns the route set of the trunk or
/// proxy in front of us, and without it their ACK and BYE would bypass it.
///
/// A 100 Trying also copies Timestamp (§8.2.6.1). Headers missing from `req` are
/// simply missing from the response: the caller checked the request is answerable.
pub fn make_response(req: &rsip::Request, status: u16, to_tag: Option<&str>) -> rsip::Response {
    let record_route = establishes_dialog(req, status, to_tag);
    let mut headers = Headers::default();
    for header in req.headers.iter() {
        match header {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                headers.push(header.clone())
            }
            Header::RecordRoute(_) if record_route => headers.push(header.clone()),
            Header::Timestamp(_) if status == 100 => headers.push(header.clone()),
            Header::To(to) => headers.push(Header::To(with_to_tag(to, to_tag))),
            _ => {}
        }
    }
    headers.push(Header::ContentLength(rsip::ContentLength::new("0")));
    rsip::Response {
        status_code: status_code(status),
        wire_reason: None,
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// Whether a `status` response to `req` creates a dialog (RFC 3261 §12.1): a 2xx, or a
/// 101-199 carrying a To tag, to a dialog-creating request sent outside a dialog.
fn establishes_dialog(req: &rsip::Request, status: u16, to_tag: Option<&str>) -> bool {
    let creating = matches!(req.method, rsip::Method::Invite | rsip::Method::Subscribe)
        && req.to_header().ok().and_then(self::to_tag).is_none();
    let tagged = to_tag.is_some_and(|t| !t.is_empty());
    creating && ((200..300).contains(&status) || ((101..200).contains(&status) && tagged))
}

/// `to` with `;tag=<tag>` appended unless it already carries a tag. The raw value is
/// extended rather than re-printed so the peer sees its own To back byte for byte
/// (display names, quoting and parameter order untouched).
fn with_to_tag(to: &rsip::To, tag: Option<&str>) -> rsip::To {
    match tag {
        Some(tag) if !tag.is_empty() && to_tag(to).is_none() => {
            rsip::To::new(format!("{};tag={}", to.value().trim_end(), tag))
        }
        _ => to.clone(),
    }
}

/// The tag parameter of a To header, if any. Falls back to a plain text search when
/// the header does not parse, so an odd To from the wire never gets a second tag.
pub fn to_tag(to: &rsip::To) -> Option<String> {
    match to.typed() {
        Ok(typed) => typed.tag().map(|t| t.value().to_string()),
        Err(_) => {
            let lower = to.value().to_ascii_lowercase();
            let start = lower.find(";tag=")? + ";tag=".len();
            let rest = to.value().get(start..)?;
            let end = rest.find([';', ' ', '\t', ',']).unwrap_or(rest.len());
            rest.get(..end).map(str::to_string)
        }
    }
}

/// The To tag of a response, if any.
pub fn response_to_tag(resp: &rsip::Response) -> Option<String> {
    resp.to_header().ok().and_then(to_tag)
}

/// `resp` with `header` appended (before the body; header order is otherwise kept).
pub fn with_header(mut resp: rsip::Response, header: Header) -> rsip::Response {
    resp.headers.push(header);
    resp
}

/// `resp` carrying `body` of type `content_type` (e.g. `application/sdp`), with
/// Content-Type and Content-Length replaced to match.
pub fn with_body(
    mut resp: rsip::Response,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> rsip::Response {
    let body = body.into();
    resp.headers
        .remove_all(|h| matches!(h, Header::ContentType(_) | Header::ContentLength(_)));
    resp.headers
        .push(Header::ContentType(rsip::ContentType::new(content_type)));
    resp.headers
        .push(Header::ContentLength(rsip::ContentLength::new(
            body.len().to_string(),
        )));
    resp.body = body;
    resp
}

/// The wire bytes of a message. Bodies are copied verbatim (not through UTF-8).
pub fn to_bytes(msg: impl Into<rsip::SipMessage>) -> Bytes {
    Bytes::from(msg.into().to_bytes())
}

/// The status code as a number (the fork's enum is awkward to match on).
pub fn code_of(resp: &rsip::Response) -> u16 {
    resp.status_code.code()
}

/// Why we refuse a request, and the one status code (RFC 3261 §21) each reason gets.
/// Call sites name the reason; the number is chosen here, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed in a way the parser let through (a dialog without tags, a Contact we
    /// cannot use): 400.
    BadRequest,
    /// Credentials needed (a digest challenge follows): 401.
    Unauthorized,
    /// Not a trunk and not an authenticated phone, the wrong source for a dialog, a
    /// wrong password, a locked-out login: 403.
    Forbidden,
    /// Nothing here for this: a number nobody routes, a REFER target outside the plan:
    /// 404.
    NotFound,
    /// A method we do not serve at this point: 405 (with Allow).
    MethodNotAllowed,
    /// An INFO package we do not support (RFC 6086 §4.2.2): 415.
    UnsupportedMediaType,
    /// A session timer shorter than we accept (RFC 4028 §9): 422 with `Min-SE`.
    SessionIntervalTooSmall,
    /// A registration shorter than Min-Expires: 423.
    IntervalTooBrief,
    /// We give up on a call we never answered: 480.
    Unavailable,
    /// The dialog or transaction does not exist (§12.2.2): 481.
    NoSuchDialog,
    /// Max-Forwards reached 0 (§16.3): 483.
    TooManyHops,
    /// The INVITE was cancelled (§9.2): 487.
    Terminated,
    /// The offer has no codec or address we can use (RFC 3264 §6): 488.
    NotAcceptableHere,
    /// Our own transaction on the dialog is pending (§14.2), or the call is not in a
    /// state to do this now: 491.
    RequestPending,
    /// A CSeq lower than the last (§12.2.2), or our own failure: 500.
    ServerError,
    /// No room (no RTP port free): 503.
    NoCapacity,
}

impl Refusal {
    pub const fn code(self) -> u16 {
        match self {
            Refusal::BadRequest => 400,
            Refusal::Unauthorized => 401,
            Refusal::Forbidden => 403,
            Refusal::NotFound => 404,
            Refusal::MethodNotAllowed => 405,
            Refusal::UnsupportedMediaType => 415,
            Refusal::SessionIntervalTooSmall => 422,
            Refusal::IntervalTooBrief => 423,
            Refusal::Unavailable => 480,
            Refusal::NoSuchDialog => 481,
            Refusal::TooManyHops => 483,
            Refusal::Terminated => 487,
            Refusal::NotAcceptableHere => 488,
            Refusal::RequestPending => 491,
            Refusal::ServerError => 500,
            Refusal::NoCapacity => 503,
        }
    }
}

/// `420 Bad Extension` listing the `missing` tags in `Unsupported` (RFC 3261 §8.2.2.3).
#[must_use]
pub fn bad_extension(req: &rsip::Request, missing: &[String]) -> rsip::Response {
    let mut resp = make_response(req, 420, None);
    resp.headers.push(rsip::Header::Other(
        "Unsupported".into(),
        missing.join(", "),
    ));
    resp
}

/// `200 OK` to OPTIONS (a trunk's keepalive or health check, in or out of a dialog):
/// what we allow, accept and support.
pub fn options_ok(req: &rsip::Request, session_timers: bool) -> rsip::Response {
    let mut resp = make_response(req, 200, None);
    resp.headers
        .push(rsip::Header::Allow(crate::sip::headers::ALLOW.into()));
    resp.headers
        .push(rsip::Header::Accept("application/sdp".into()));
    super::extensions::add_supported(&mut resp.headers, session_timers);
    resp
}

/// The response refusing `req` for `why` (405 carries our Allow, 422 our Min-SE).
pub fn refuse(req: &rsip::Request, why: Refusal, to_tag: Option<&str>) -> rsip::Response {
    let mut resp = make_response(req, why.code(), to_tag);
    match why {
        Refusal::MethodNotAllowed => resp
            .headers
            .push(rsip::Header::Allow(crate::sip::headers::ALLOW.into())),
        Refusal::SessionIntervalTooSmall => resp.headers.push(rsip::Header::Other(
            "Min-SE".into(),
            super::extensions::MIN_SE.to_string(),
        )),
        _ => {}
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = concat!(
        "INVITE sip:ivr@switchboard.test SIP/2.0\r\n",
        "Via: SIP/2.0/UDP proxy.test:5060;branch=z9hG4bKproxy1\r\n",
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKua1;rport=5062\r\n",
        "Max-Forwards: 69\r\n",
        "From: \"Alice\" <sip:alice@example.com>;tag=from1\r\n",
        "To: <sip:ivr@switchboard.test>\r\n",
        "Call-ID: call-1@example.com\r\n",
        "CSeq: 7 INVITE\r\n",
        "Timestamp: 54\r\n",
        "Contact: <sip:alice@192.0.2.10:5062>\r\n",
        "Content-Type: application/sdp\r\n",
        "Content-Length: 4\r\n",
        "\r\n",
        "v=0\n",
    );

    fn invite() -> rsip::Request {
        rsip::Request::try_from(INVITE).unwrap()
    }

    #[test]
    fn a_420_names_what_we_lack_in_unsupported() {
        let req = rsip::Request::try_from(
            INVITE
                .replace("Timestamp: 54\r\n", "Require: precondition, timer\r\n")
                .as_str(),
        )
        .unwrap();
        let missing = crate::sip::extensions::unsupported_required(&req, true);
        let text = bad_extension(&req, &missing).to_string();
        assert!(text.starts_with("SIP/2.0 420 Bad Extension\r\n"), "{text}");
        assert!(text.contains("Unsupported: precondition\r\n"), "{text}");
    }

    #[test]
    fn copies_the_rfc_headers_in_order() {
        let resp = make_response(&invite(), 486, Some("totag"));
        let text = resp.to_string();
        assert!(text.starts_with("SIP/2.0 486 Busy Here\r\n"), "{text}");
        let vias: Vec<_> = resp
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Via(v) => Some(v.value().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            vias,
            vec![
                "SIP/2.0/UDP proxy.test:5060;branch=z9hG4bKproxy1",
                "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKua1;rport=5062"
            ]
        );
        assert_eq!(
            resp.to_header().unwrap().value(),
            "<sip:ivr@switchboard.test>;tag=totag"
        );
        assert_eq!(
            resp.from_header().unwrap().value(),
            "\"Alice\" <sip:alice@example.com>;tag=from1"
        );
        assert_eq!(resp.call_id_header().unwrap().value(), "call-1@example.com");
        assert_eq!(resp.cseq_header().unwrap().value(), "7 INVITE");
        assert!(text.contains("Content-Length: 0\r\n"));
        assert!(!text.contains("Contact"));
        assert!(!text.contains("Timestamp"), "only 100 copies Timestamp");
        assert!(resp.body.is_empty());
    }

    #[test]
    fn trying_copies_timestamp_and_keeps_to_untagged() {
        let resp = make_response(&invite(), 100, None);
        assert!(resp.to_string().contains("Timestamp: 54\r\n"));
        assert_eq!(response_to_tag(&resp), None);
    }

    /// The INVITE as a record-routing trunk forwards it: two proxies, one with a
    /// display name and header parameter, comma-joined on one line by the second.
    fn record_routed(method: &str) -> rsip::Request {
        let text = INVITE
            .replace(
                "Max-Forwards: 69\r\n",
                "Record-Route: <sip:p2.test;lr;ftag=from1>, \"Edge\" <sip:192.0.2.1:5080;lr>;x=1\r\n\
                 Record-Route: <sip:p0.test;lr>\r\nMax-Forwards: 69\r\n",
            )
            .replace("INVITE sip:", &format!("{method} sip:"))
            .replace("7 INVITE", &format!("7 {method}"));
        match crate::sip::parse::parse_message(text.as_bytes()).unwrap() {
            rsip::SipMessage::Request(r) => r,
            rsip::SipMessage::Response(_) => unreachable!(),
        }
    }

    fn record_routes(resp: &rsip::Response) -> Vec<String> {
        resp.headers
            .iter()
            .filter_map(|h| match h {
                Header::RecordRoute(r) => Some(r.value().to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn dialog_creating_responses_copy_record_route_in_order() {
        // RFC 3261 §12.1.1.
        let req = record_routed("INVITE");
        let want = vec![
            "<sip:p2.test;lr;ftag=from1>",
            "\"Edge\" <sip:192.0.2.1:5080;lr>;x=1",
            "<sip:p0.test;lr>",
        ];
        assert_eq!(record_routes(&make_response(&req, 200, Some("t"))), want);
        assert_eq!(record_routes(&make_response(&req, 180, Some("t"))), want);
        assert_eq!(record_routes(&make_response(&req, 183, Some("t"))), want);
        let text = make_response(&req, 200, Some("t")).to_string();
        assert!(
            text.contains("Record-Route: <sip:p2.test;lr;ftag=from1>\r\n"),
            "{text}"
        );
    }

    #[test]
    fn other_responses_carry_no_record_route() {
        let req = record_routed("INVITE");
        // 100 Trying and an untagged 1xx create no dialog; neither does a failure.
        for (code, tag) in [(100, None), (180, None), (486, Some("t")), (487, Some("t"))] {
            assert!(
                record_routes(&make_response(&req, code, tag)).is_empty(),
                "{code}"
            );
        }
        // In-dialog (To already tagged): a re-INVITE cannot change the route set.
        let text = record_routed("INVITE")
            .to_string()
            .replace("To: <sip:ivr@switchboard.test>", "To: <sip:ivr@x>;tag=old");
        let reinvite = rsip::Request::try_from(text.as_str()).unwrap();
        assert!(record_routes(&make_response(&reinvite, 200, None)).is_empty());
        // Not a dialog-creating method.
        let options = record_routed("OPTIONS");
        assert!(record_routes(&make_response(&options, 200, None)).is_empty());
    }

    #[test]
    fn existing_to_tag_is_kept() {
        let text = INVITE.replace("To: <sip:ivr@switchboard.test>", "To: <sip:ivr@x>;tag=old");
        let req = rsip::Request::try_from(text.as_str()).unwrap();
        let resp = make_response(&req, 200, Some("new"));
        assert_eq!(response_to_tag(&resp).as_deref(), Some("old"));
    }

    #[test]
    fn body_helper_sets_type_and_length() {
        let resp = with_body(
            make_response(&invite(), 200, Some("t")),
            "application/sdp",
            "v=0\r\n",
        );
        let text = String::from_utf8(to_bytes(resp).to_vec()).unwrap();
        assert!(text.contains("Content-Type: application/sdp\r\n"));
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(!text.contains("Content-Length: 0"));
        assert!(text.ends_with("\r\n\r\nv=0\r\n"));
        // And it round-trips through the parser.
        assert!(rsip::SipMessage::try_from(text.as_str()).is_ok());
    }

    #[test]
    fn reason_table_agrees_with_the_fork() {
        for code in 100..=699u16 {
            let ours = reason_phrase(code);
            let printed = status_code(code);
            assert_eq!(printed.code(), code);
            assert_eq!(printed.text(), ours, "code {code}");
        }
    }
}
