//! Small, panic-free accessors for the header fields the upper layers need,
//! the RFC 3261 §18.2.1 / RFC 3581 `received`/`rport` stamping, the §18.2.2
//! response destination, and serialization with a correct Content-Length.
//!
//! All readers return `Option`: a message that reached the upper layers went
//! through [`parse_message`](super::parse::parse_message), which already
//! rejected missing or malformed mandatory headers, so `None` here means
//! "not present" rather than an error to report.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use super::frame::{find_head_end, logical_lines, split_header};
use super::rsip::{
    self, Header, HeadersExt, Method, Request, SipMessage, typed,
    uri::{Host, Param, Received, Scheme, Uri},
};

/// The Call-ID value.
pub fn call_id<M: HeadersExt>(msg: &M) -> Option<&str> {
    msg.call_id_header().ok().map(|h| h.value().trim())
}

/// CSeq number and method. An extension method (not in [`Method`]) gives `None`.
pub fn cseq<M: HeadersExt>(msg: &M) -> Option<(u32, Method)> {
    let c = typed::CSeq::parse(msg.cseq_header().ok()?.value()).ok()?;
    Some((c.seq, c.method))
}

/// The `tag` parameter of From.
pub fn from_tag<M: HeadersExt>(msg: &M) -> Option<String> {
    let from = typed_from(msg)?;
    from.tag().map(|t| t.value().to_string())
}

/// The `tag` parameter of To (absent on out-of-dialog requests).
pub fn to_tag<M: HeadersExt>(msg: &M) -> Option<String> {
    let to = typed_to(msg)?;
    to.tag().map(|t| t.value().to_string())
}

/// The `branch` parameter of the top Via (the transaction id, RFC 3261 §17.2.3).
pub fn top_via_branch<M: HeadersExt>(msg: &M) -> Option<String> {
    let via = top_via(msg)?;
    via.branch().map(|b| b.value().to_string())
}

/// The top Via, typed. After normalization each Via line holds one value, but
/// a hand-built message may still have a comma list, so only the first value
/// is taken.
pub fn top_via<M: HeadersExt>(msg: &M) -> Option<typed::Via> {
    let first = msg.via_header().ok()?.first_value().ok()?;
    typed::Via::parse(first.value()).ok()
}

/// The user part of the Request-URI: the user of a `sip:`/`sips:` URI or the
/// number of a `tel:` URI (RFC 3966), as written (escapes not decoded). This
/// is the dialed number the routing engine matches.
pub fn request_uri_user(req: &Request) -> Option<String> {
    uri_user(&req.uri)
}

/// The user (or `tel:` number) of the To URI: who the caller asked for.
pub fn to_user<M: HeadersExt>(msg: &M) -> Option<String> {
    identity_user(msg.to_header().ok()?.value()).or_else(|| uri_user(&typed_to(msg)?.uri))
}

/// The user (or `tel:` number) of the From URI: the caller ID.
///
/// Read with [`name_addr_uri`], not the fork's typed From: the fork stops a quoted
/// display name at the first `"` even when it is escaped, so
/// `"Evil %22\"<sip:x@127.0.0.9>" <sip:5551234@…>` came out as caller `x`.
pub fn from_user<M: HeadersExt>(msg: &M) -> Option<String> {
    identity_user(msg.from_header().ok()?.value())
}

/// The user of the P-Asserted-Identity (RFC 3325) URI, read the same way as From.
pub fn asserted_user(req: &Request) -> Option<String> {
    asserted_value(req).and_then(identity_user)
}

/// The display name of the P-Asserted-Identity, read the same way as From's.
pub fn asserted_display_name(req: &Request) -> Option<String> {
    asserted_value(req).and_then(display_name)
}

/// The first P-Asserted-Identity header's value. Several identities may be listed (a
/// sip: and a tel: one, §9.1): readers take the first.
fn asserted_value(req: &Request) -> Option<&str> {
    req.headers.iter().find_map(|h| match h {
        Header::PAssertedIdentity(v) => Some(v.value()),
        Header::Other(name, value) if name.eq_ignore_ascii_case("P-Asserted-Identity") => {
            Some(value.as_str())
        }
        _ => None,
    })
}

/// Removes every P-Asserted-Identity: RFC 3325 §5 has an element drop the header from
/// a request that comes from outside its trust domain, so nothing later can believe it.
pub fn remove_asserted_identity(req: &mut Request) {
    req.headers.retain(|h| match h {
        Header::PAssertedIdentity(_) => false,
        Header::Other(name, _) => !name.eq_ignore_ascii_case("P-Asserted-Identity"),
        _ => true,
    });
}

/// The user part of the URI of a `name-addr` or `addr-spec` value.
pub(crate) fn identity_user(value: &str) -> Option<String> {
    let uri = Uri::try_from(name_addr_uri(value)?).ok()?;
    uri_user(&uri)
}

/// The URI of a From/To/P-Asserted-Identity value (RFC 3261 §25.1):
/// `[display-name] <URI>` or a bare `addr-spec` (whose `;params` are header
/// parameters, not the URI's). A quoted display name is skipped by the grammar —
/// `quoted-string` with `quoted-pair` escapes — so a `"`, `<` or `>` inside it
/// can never be taken for the URI. `None` when the value does not fit.
pub fn name_addr_uri(value: &str) -> Option<&str> {
    let value = value.trim();
    let rest = match value.strip_prefix('"') {
        Some(quoted) => {
            let mut escaped = false;
            let end = quoted.char_indices().find_map(|(i, c)| {
                if escaped {
                    escaped = false;
                    None
                } else if c == '\\' {
                    escaped = true;
                    None
                } else {
                    (c == '"').then_some(i)
                }
            })?;
            let after = quoted.get(end + 1..)?.trim_start();
            // After a quoted display name only `<URI>` may follow.
            if !after.starts_with('<') {
                return None;
            }
            after
        }
        None => value,
    };
    match rest.find('<') {
        Some(open) => {
            let inner = rest.get(open + 1..)?;
            let close = inner.find('>')?;
            inner.get(..close).map(str::trim)
        }
        None => rest.split(';').next().map(str::trim),
    }
    .filter(|u| !u.is_empty())
}

/// The From display name with quotes and quoted-pair escapes removed
/// (RFC 3261 §25.1 `quoted-string`, `quoted-pair`), `None` when absent or
/// empty. Read from the raw value: the fork trims every `"` at both ends,
/// which mangles names ending in an escaped quote.
pub fn from_display_name<M: HeadersExt>(msg: &M) -> Option<String> {
    display_name(msg.from_header().ok()?.value())
}

fn display_name(value: &str) -> Option<String> {
    let value = value.trim();
    let name = if let Some(quoted) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.chars();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => out.push(chars.next()?),
                c => out.push(c),
            }
        }
        out
    } else {
        // `token *(LWS token) <uri>`; a bare addr-spec has no display name.
        value.split_once('<')?.0.trim().to_string()
    };
    let name = name.trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// Max-Forwards (RFC 3261 §20.22). `None` when absent or out of the 0–255
/// range: RFC 4475 §3.1.2.4 lets an element treat an out-of-range value as absent.
pub fn max_forwards<M: HeadersExt>(msg: &M) -> Option<u8> {
    msg.max_forwards_header().ok()?.value().trim().parse().ok()
}

fn typed_from<M: HeadersExt>(msg: &M) -> Option<typed::From> {
    typed::From::parse(msg.from_header().ok()?.value()).ok()
}

fn typed_to<M: HeadersExt>(msg: &M) -> Option<typed::To> {
    typed::To::parse(msg.to_header().ok()?.value()).ok()
}

fn uri_user(uri: &Uri) -> Option<String> {
    match &uri.scheme {
        Some(Scheme::Sip | Scheme::Sips) => {
            uri.user().filter(|u| !u.is_empty()).map(str::to_string)
        }
        // RFC 3966: tel:+15551234567;phone-context=... — the fork parses the
        // number as the host.
        Some(Scheme::Other(s)) if s.eq_ignore_ascii_case("tel") => match uri.host() {
            Host::Domain(d) if !d.0.is_empty() => Some(d.0.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: records where a request really came
/// from in its top Via, so responses find their way back through NAT.
///
/// Adds `received=<source ip>` when the sent-by host is not that IP (or when
/// `rport` is present, which RFC 3581 requires), and fills an empty `rport`
/// with the source port. A top Via that does not parse is left alone (the
/// parser rejects such requests before they get here).
pub fn stamp_received(req: &mut Request, source: SocketAddr) {
    let Ok(via) = req.via_header_mut() else {
        return;
    };
    // update_first_value only errors when the value is unusable; leaving the
    // Via as it was is the right fallback then.
    let _ = via.update_first_value(|first| {
        let mut typed = typed::Via::parse(first.value())?;
        let wants_rport = typed.rport() == Some(None);
        let sent_by_ip = match &typed.uri.host_with_port.host {
            Host::IpAddr(ip) => Some(*ip),
            Host::Domain(d) => d.0.parse::<IpAddr>().ok(),
        };
        if wants_rport || sent_by_ip != Some(source.ip()) {
            typed = typed.with_received(Received::new(source.ip().to_string()));
        }
        if wants_rport {
            // with_rport re-appends: keep the param where it was instead.
            for p in typed.params.iter_mut() {
                if let Param::Rport(port @ None) = p {
                    *port = Some(source.port());
                }
            }
        }
        Ok(typed.into())
    });
}

/// RFC 3261 §18.2.2 (unreliable unicast) with RFC 3581 §4: where to send a
/// response, from the top Via of the request (or of the response, which
/// carries the same Via): `received` + `rport`, else `received` + sent-by
/// port, else the sent-by address itself. Default port 5060. `None` when
/// sent-by is a host name without `received` (no DNS here: the driver falls
/// back to the request's source address) or a `maddr` is present (out of scope).
pub fn response_destination(top_via: &typed::Via) -> Option<SocketAddr> {
    if top_via.params.iter().any(|p| matches!(p, Param::Maddr(_))) {
        return None;
    }
    let sent_by_port = top_via.uri.host_with_port.port.map(|p| p.0);
    let rport = top_via.rport().flatten();
    let received = top_via
        .params
        .iter()
        .find_map(|p| match p {
            Param::Received(r) => Some(r.value().trim_matches(['[', ']']).parse::<IpAddr>()),
            _ => None,
        })
        .and_then(Result::ok);
    let ip = match received {
        Some(ip) => ip,
        None => match &top_via.uri.host_with_port.host {
            Host::IpAddr(ip) => *ip,
            Host::Domain(d) => d.0.parse().ok()?,
        },
    };
    let port = match received {
        Some(_) => rport.or(sent_by_port),
        None => sent_by_port,
    }
    .unwrap_or(5060);
    Some(SocketAddr::new(ip, port))
}

/// [`response_destination`] for the top Via of a message.
pub fn response_destination_of<M: HeadersExt>(msg: &M) -> Option<SocketAddr> {
    response_destination(&top_via(msg)?)
}

/// Wire bytes of a message with Content-Length set to the real body length
/// (RFC 3261 §20.14; mandatory on streams, §18.3): a stale or missing
/// Content-Length is replaced in place or appended, duplicates are dropped.
pub fn serialize(msg: &SipMessage) -> Bytes {
    match msg {
        SipMessage::Request(r) => serialize_request(r),
        SipMessage::Response(r) => serialize_response(r),
    }
}

/// [`serialize`] for a request.
pub fn serialize_request(req: &Request) -> Bytes {
    let start = format!("{} {} {}\r\n", req.method, req.uri, req.version);
    serialize_parts(&start, &req.headers, &req.body)
}

/// [`serialize`] for a response. The status line carries the standard reason
/// phrase for the code (the fork's printing rule).
pub fn serialize_response(resp: &rsip::Response) -> Bytes {
    let start = format!(
        "{} {} {}\r\n",
        resp.version,
        resp.status_code.code(),
        resp.status_code.text()
    );
    serialize_parts(&start, &resp.headers, &resp.body)
}

fn serialize_parts(start: &str, headers: &rsip::Headers, body: &[u8]) -> Bytes {
    let length_line = format!("Content-Length: {}\r\n", body.len());
    let mut out = Vec::with_capacity(start.len() + 64 * headers.len() + body.len() + 32);
    out.extend_from_slice(start.as_bytes());
    let mut wrote_length = false;
    for h in headers.iter() {
        if matches!(h, Header::ContentLength(_)) {
            if !wrote_length {
                out.extend_from_slice(length_line.as_bytes());
                wrote_length = true;
            }
            continue;
        }
        out.extend_from_slice(h.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_length {
        out.extend_from_slice(length_line.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// Methods listed in the `Allow` header of our 501 (RFC 3261 §21.5.2): what
/// the transaction and call layers handle.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, REGISTER";

/// Our `User-Agent`/`Server` product token in generated responses.
const SERVER: &str = "switchboard";

/// Builds the error response for a rejected request from its raw
/// (normalized) bytes, `None` for a response, an ACK or a message without Via.
///
/// RFC 3261 §8.2.6: the response copies every Via, From, To (with a tag
/// added), Call-ID and CSeq of the request.
pub(crate) fn error_response(msg: &[u8], status: u16, reason: &str) -> Option<Bytes> {
    let head = match find_head_end(msg, 0) {
        Some((end, _)) => msg.get(..end)?,
        None => msg,
    };
    let mut lines = logical_lines(head);
    let start = lines.next()?;
    let method = start.split(|&b| b == b' ').next()?;
    if start.starts_with(b"SIP/") || method == b"ACK" || method.is_empty() {
        return None;
    }
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for line in lines {
        let Some((name, value)) = split_header(line) else {
            continue;
        };
        let value = value.trim_ascii();
        let slot = if name.eq_ignore_ascii_case(b"via") {
            vias.push(value);
            continue;
        } else if name.eq_ignore_ascii_case(b"from") {
            &mut from
        } else if name.eq_ignore_ascii_case(b"to") {
            &mut to
        } else if name.eq_ignore_ascii_case(b"call-id") {
            &mut call_id
        } else if name.eq_ignore_ascii_case(b"cseq") {
            &mut cseq
        } else {
            continue;
        };
        slot.get_or_insert(value);
    }
    if vias.is_empty() {
        return None;
    }
    let phrase = match status {
        501 => "Not Implemented",
        505 => "Version Not Supported",
        _ => "Bad Request",
    };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("SIP/2.0 {status} {phrase} (").as_bytes());
    // The reason phrase is ours, but it quotes wire text: keep it printable.
    let detail: String = reason
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect();
    out.extend_from_slice(detail.as_bytes());
    out.extend_from_slice(b")\r\n");
    for via in &vias {
        push_header(&mut out, b"Via", via);
    }
    if let Some(from) = from {
        push_header(&mut out, b"From", from);
    }
    if let Some(to) = to {
        push_header(&mut out, b"To", to);
        // §8.2.6.2: add a To tag when there is none; derived from the request
        // so a retransmission gets the same answer.
        if !contains_tag(to) {
            out.truncate(out.len() - 2);
            let seed = [
                to,
                from.unwrap_or_default(),
                call_id.unwrap_or_default(),
                cseq.unwrap_or_default(),
            ];
            out.extend_from_slice(format!(";tag={:08x}\r\n", fnv1a(&seed)).as_bytes());
        }
    }
    if let Some(call_id) = call_id {
        push_header(&mut out, b"Call-ID", call_id);
    }
    if let Some(cseq) = cseq {
        push_header(&mut out, b"CSeq", cseq);
    }
    if status == 501 || status == 405 {
        push_header(&mut out, b"Allow", ALLOW.as_bytes());
    }
    push_header(&mut out, b"Server", SERVER.as_bytes());
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(Bytes::from(out))
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Whether a To/From value has a `tag` parameter outside `<...>` and quotes.
fn contains_tag(value: &[u8]) -> bool {
    let params = match value.iter().rposition(|&b| b == b'>') {
        Some(gt) => value.get(gt + 1..).unwrap_or_default(),
        None => value,
    };
    params.split(|&b| b == b';').skip(1).any(|p| {
        let name = p.split(|&b| b == b'=').next().unwrap_or_default();
        name.trim_ascii().eq_ignore_ascii_case(b"tag")
    })
}

fn fnv1a(parts: &[&[u8]]) -> u32 {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0x811c_9dc5, |h, &b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::parse_message;

    fn req(s: &str) -> Request {
        match parse_message(s.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => panic!("expected a request"),
        }
    }

    const INVITE: &str = "INVITE sip:+4930123@pbx.example.com;user=phone SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKabc;rport\r\n\
        Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKold\r\n\
        Max-Forwards: 70\r\n\
        From: \"Doe \\\"JD\\\" John\" <sip:alice@example.com>;tag=f1\r\n\
        To: <tel:+4930999>\r\n\
        Call-ID: abc@10.0.0.7\r\n\
        CSeq: 42 INVITE\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn readers() {
        let r = req(INVITE);
        assert_eq!(call_id(&r), Some("abc@10.0.0.7"));
        assert_eq!(cseq(&r), Some((42, Method::Invite)));
        assert_eq!(from_tag(&r).as_deref(), Some("f1"));
        assert_eq!(to_tag(&r), None);
        assert_eq!(top_via_branch(&r).as_deref(), Some("z9hG4bKabc"));
        assert_eq!(request_uri_user(&r).as_deref(), Some("+4930123"));
        assert_eq!(to_user(&r).as_deref(), Some("+4930999"));
        assert_eq!(from_user(&r).as_deref(), Some("alice"));
        assert_eq!(from_display_name(&r).as_deref(), Some("Doe \"JD\" John"));
        assert_eq!(max_forwards(&r), Some(70));
    }

    /// Issue 11 item 6: escaped quotes in a display name never hide the real URI.
    #[test]
    fn identities_skip_quoted_display_names_with_escapes() {
        let from = |v: &str| identity_user(v);
        assert_eq!(
            from(r#""Evil %22\"<sip:x@127.0.0.9>" <sip:5551234@10.0.0.1>;tag=1"#).as_deref(),
            Some("5551234")
        );
        assert_eq!(
            from(r#""a \\" <sip:5551234@h>"#).as_deref(),
            Some("5551234"),
            "an escaped backslash ends before the closing quote"
        );
        assert_eq!(from(r#""<sip:x@y>" <sip:42@h>"#).as_deref(), Some("42"));
        assert_eq!(from("Alice <sip:alice@h>;tag=9").as_deref(), Some("alice"));
        assert_eq!(
            from("<sip:+15551234@h;user=phone>").as_deref(),
            Some("+15551234")
        );
        assert_eq!(from("sip:bob@h;tag=1").as_deref(), Some("bob"));
        assert_eq!(from("<tel:+15551234>").as_deref(), Some("+15551234"));
        assert_eq!(from(r#""unterminated <sip:x@y>"#), None);
        assert_eq!(from(r#""name" sip:x@y"#), None);
        let r = req(&INVITE.replace(
            "From: ",
            "P-Asserted-Identity: \"Evil \\\"<sip:x@1.2.3.4>\" <sip:5557777@h>\r\nFrom: ",
        ));
        assert_eq!(asserted_user(&r).as_deref(), Some("5557777"));
        let r = req(&INVITE.replace(
            "From: ",
            "From: \"Evil %22\\\"<sip:x@127.0.0.9>\" <sip:5551234@10.0.0.1>;tag=e\r\nX-Old-From: ",
        ));
        assert_eq!(from_user(&r).as_deref(), Some("5551234"));
        assert_eq!(
            from_display_name(&r).as_deref(),
            Some("Evil %22\"<sip:x@127.0.0.9>")
        );
    }

    #[test]
    fn display_names() {
        assert_eq!(
            display_name(r#""J Rosenberg \\\"" <sip:a@b>"#).as_deref(),
            Some(r#"J Rosenberg \""#)
        );
        assert_eq!(
            display_name("caller<sip:a@b>;tag=1").as_deref(),
            Some("caller")
        );
        assert_eq!(
            display_name("A. Bell <sip:a@b>").as_deref(),
            Some("A. Bell")
        );
        assert_eq!(display_name("sip:a@b;tag=1"), None);
        assert_eq!(display_name("\"\" <sip:a@b>"), None);
        assert_eq!(display_name("\"unterminated <sip:a@b>"), None);
    }

    #[test]
    fn readers_on_missing_or_odd_values() {
        let mut r = req(INVITE);
        r.headers.retain(|h| !matches!(h, Header::MaxForwards(_)));
        assert_eq!(max_forwards(&r), None);
        r.headers.push(Header::MaxForwards("300".into()));
        assert_eq!(max_forwards(&r), None);
        r.headers.retain(|h| !matches!(h, Header::From(_)));
        assert_eq!(from_user(&r), None);
        assert_eq!(from_display_name(&r), None);
        r.headers.retain(|h| !matches!(h, Header::Via(_)));
        assert_eq!(top_via_branch(&r), None);
        assert_eq!(response_destination_of(&r), None);
    }

    #[test]
    fn stamp_received_fills_rport_and_received() {
        let mut r = req(INVITE);
        stamp_received(&mut r, "203.0.113.9:40000".parse().unwrap());
        let via = top_via(&r).unwrap();
        assert_eq!(via.rport(), Some(Some(40000)));
        assert_eq!(via.received().unwrap().unwrap().to_string(), "203.0.113.9");
        assert_eq!(via.branch().unwrap().value(), "z9hG4bKabc");
        assert_eq!(
            response_destination(&via),
            Some("203.0.113.9:40000".parse().unwrap())
        );
        // The second Via is untouched.
        let vias: Vec<_> = r
            .headers
            .iter()
            .filter(|h| matches!(h, Header::Via(_)))
            .collect();
        assert_eq!(vias[1].value(), "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKold");
    }

    #[test]
    fn stamp_received_leaves_matching_sent_by_alone() {
        let mut r = req(&INVITE.replace(";rport", ""));
        stamp_received(&mut r, "10.0.0.7:5062".parse().unwrap());
        let via = top_via(&r).unwrap();
        assert!(via.received().is_none());
        assert_eq!(
            response_destination(&via),
            Some("10.0.0.7:5062".parse().unwrap())
        );
        // Different source IP, no rport: received only, port from sent-by.
        stamp_received(&mut r, "198.51.100.1:7000".parse().unwrap());
        let via = top_via(&r).unwrap();
        assert_eq!(
            response_destination(&via),
            Some("198.51.100.1:5062".parse().unwrap())
        );
    }

    #[test]
    fn stamp_received_ipv6_and_domain() {
        let mut r = req(&INVITE.replace("10.0.0.7:5062", "phone.example.com"));
        let v = top_via(&r).unwrap();
        assert_eq!(response_destination(&v), None);
        stamp_received(&mut r, "[2001:db8::5]:5070".parse().unwrap());
        let via = top_via(&r).unwrap();
        assert_eq!(
            response_destination(&via),
            Some("[2001:db8::5]:5070".parse().unwrap())
        );
    }

    #[test]
    fn response_destination_rules() {
        let via = |s: &str| typed::Via::parse(s).unwrap();
        assert_eq!(
            response_destination(&via("SIP/2.0/UDP 192.0.2.1")),
            Some("192.0.2.1:5060".parse().unwrap())
        );
        assert_eq!(
            response_destination(&via("SIP/2.0/UDP h.example:5070;received=192.0.2.2")),
            Some("192.0.2.2:5070".parse().unwrap())
        );
        assert_eq!(
            response_destination(&via("SIP/2.0/UDP h.example;received=192.0.2.2;rport=9999")),
            Some("192.0.2.2:9999".parse().unwrap())
        );
        assert_eq!(
            response_destination(&via("SIP/2.0/UDP 192.0.2.1;maddr=224.0.1.75")),
            None
        );
    }

    #[test]
    fn serialize_fixes_content_length() {
        let mut r = req(INVITE);
        r.body = b"v=0\r\n".to_vec();
        let bytes = serialize(&SipMessage::Request(r.clone()));
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.contains("\r\nContent-Length: 5\r\n\r\nv=0\r\n"),
            "{text}"
        );
        assert_eq!(text.matches("Content-Length").count(), 1);
        // Round trip.
        let again = req(text);
        assert_eq!(again.body, b"v=0\r\n");
        r.headers.retain(|h| !matches!(h, Header::ContentLength(_)));
        let bytes = serialize_request(&r);
        assert!(bytes.ends_with(b"Content-Length: 5\r\n\r\nv=0\r\n"));
    }
}
