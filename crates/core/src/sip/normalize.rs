//! Rewrites the header section of a framed SIP message into the plain form the
//! rsip fork parses correctly (see `docs/decisions.md`, "SIP parser").
//!
//! What real trunks and phones send, and the fork mis-reads or rejects:
//! - LF-only line endings (the fork needs CRLF everywhere) → CRLF;
//! - folded header lines (RFC 3261 §7.3.1) → one line;
//! - compact header names (RFC 3261 §7.3.3 and the IANA registry) → full names;
//! - comma-joined values of Via, Route, Record-Route and Contact (RFC 3261
//!   §7.3.1) → one header line per value, so "the top Via" is the first line;
//! - LWS around `;`, `=` and `,` of header parameters (RFC 3261 §25.1 `SEMI`,
//!   `EQUAL`, `COMMA` allow it; the fork loses `branch = x`) → removed, and in
//!   Via also around `/` and `:` (`SIP / 2.0 / UDP host : 5060`).
//!
//! Quoted strings and `<...>` are never altered (except that a line fold inside
//! them becomes a space). The start line is kept as it is: its syntax is
//! checked by the parser. The body is copied byte for byte.
//!
//! Most messages need none of this: [`normalize`] checks first and only copies
//! when something must change.

use std::borrow::Cow;

use super::frame::{find_head_end, logical_lines, split_header};

/// RFC 3261 §7.3.3 compact forms plus the ones registered later at IANA.
const COMPACT: &[(u8, &str)] = &[
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'n', "Identity-Info"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// Headers whose values may be comma-joined lists we split into lines.
const MULTI: &[&str] = &["Via", "Route", "Record-Route", "Contact"];

/// Headers made of `value *(SEMI param)` where LWS around separators is noise.
const PARAMS: &[&str] = &[
    "From",
    "To",
    "Content-Type",
    "Content-Disposition",
    "Event",
    "Allow-Events",
    "Subscription-State",
    "Reason",
    "Refer-To",
    "Referred-By",
    "Reply-To",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Session-Expires",
    "Min-SE",
    "Retry-After",
    "Call-Info",
    "Alert-Info",
    "Error-Info",
    "Accept",
    "Accept-Contact",
    "Reject-Contact",
    "Diversion",
    "History-Info",
    "Path",
    "Service-Route",
    "Replaces",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Left alone apart from unfolding.
    Plain,
    /// Parameter LWS removed.
    Params,
    /// Split at top-level commas, then parameter LWS removed.
    List,
    /// Like `List`, and LWS around `/` and `:` removed too.
    Via,
}

fn classify(name: &[u8]) -> Kind {
    if name.eq_ignore_ascii_case(b"via") {
        Kind::Via
    } else if MULTI
        .iter()
        .any(|m| name.eq_ignore_ascii_case(m.as_bytes()))
    {
        Kind::List
    } else if PARAMS
        .iter()
        .any(|m| name.eq_ignore_ascii_case(m.as_bytes()))
    {
        Kind::Params
    } else {
        Kind::Plain
    }
}

/// The full name for a compact one (`v` → `Via`), case-insensitively.
pub fn expand_compact(name: &[u8]) -> Option<&'static str> {
    match name {
        [c] => {
            let c = c.to_ascii_lowercase();
            COMPACT.iter().find(|(k, _)| *k == c).map(|(_, full)| *full)
        }
        _ => None,
    }
}

/// Returns the message with its header section normalized (see the module
/// docs), borrowing the input unchanged when nothing needs rewriting. Input
/// without an empty line after the headers is returned as it is.
pub fn normalize(message: &[u8]) -> Cow<'_, [u8]> {
    let Some((head_end, body_start)) = find_head_end(message, 0) else {
        return Cow::Borrowed(message);
    };
    let head = message.get(..head_end).unwrap_or_default();
    let separator = message.get(head_end..body_start).unwrap_or_default();
    let body = message.get(body_start..).unwrap_or_default();
    if separator == b"\r\n" && !needs_rewrite(head) {
        return Cow::Borrowed(message);
    }
    let mut out = Vec::with_capacity(message.len() + 64);
    rewrite_head(head, &mut out);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Cow::Owned(out)
}

/// True when [`rewrite_head`] would change something.
fn needs_rewrite(head: &[u8]) -> bool {
    // Physical lines: bare LF or a folded continuation line.
    let mut prev = 0u8;
    for (i, &b) in head.iter().enumerate() {
        if b == b'\n' {
            if prev != b'\r' {
                return true;
            }
            if matches!(head.get(i + 1), Some(b' ' | b'\t')) {
                return true;
            }
        }
        prev = b;
    }
    logical_lines(head).skip(1).any(|line| {
        let Some((name, value)) = split_header(line) else {
            return false;
        };
        if expand_compact(name).is_some() {
            return true;
        }
        let value = value.trim_ascii();
        match classify(name) {
            Kind::Plain => false,
            Kind::Params => clean_value(value, false, None),
            Kind::List | Kind::Via => {
                split_top_level(value).nth(1).is_some()
                    || clean_value(value, classify(name) == Kind::Via, None)
            }
        }
    })
}

fn rewrite_head(head: &[u8], out: &mut Vec<u8>) {
    let mut lines = logical_lines(head);
    if let Some(start) = lines.next() {
        out.extend_from_slice(start);
        out.extend_from_slice(b"\r\n");
    }
    for line in lines {
        let Some((name, value)) = split_header(line) else {
            // Not a header (no colon): keep it, unfolded; the parser decides.
            unfold_into(line, out);
            out.extend_from_slice(b"\r\n");
            continue;
        };
        let name_out: &[u8] = expand_compact(name).map_or(name, str::as_bytes);
        let value = value.trim_ascii();
        let kind = classify(name_out);
        match kind {
            Kind::Plain => {
                write_name(name_out, out);
                unfold_into(value, out);
                out.extend_from_slice(b"\r\n");
            }
            Kind::Params => {
                write_name(name_out, out);
                clean_value(value, false, Some(out));
                out.extend_from_slice(b"\r\n");
            }
            Kind::List | Kind::Via => {
                let mut any = false;
                for element in split_top_level(value) {
                    let element = element.trim_ascii();
                    if element.is_empty() {
                        continue;
                    }
                    any = true;
                    write_name(name_out, out);
                    clean_value(element, kind == Kind::Via, Some(out));
                    out.extend_from_slice(b"\r\n");
                }
                if !any {
                    // Keep an empty header so validation can say what is wrong.
                    write_name(name_out, out);
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
    }
}

fn write_name(name: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
}

/// Copies `value`, replacing each line break plus the whitespace after it with
/// one space (RFC 3261 §7.3.1: folding is equivalent to a single SP).
fn unfold_into(value: &[u8], out: &mut Vec<u8>) {
    let mut in_break = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => in_break = true,
            b' ' | b'\t' if in_break => {}
            _ => {
                if in_break {
                    out.push(b' ');
                    in_break = false;
                }
                out.push(b);
            }
        }
    }
}

/// Splits at commas outside quoted strings and `<...>`.
fn split_top_level(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut in_quote = false;
    let mut escaped = false;
    let mut angle = 0u32;
    value.split(move |&b| {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
            return false;
        }
        match b {
            b'"' => in_quote = true,
            b'<' => angle += 1,
            b'>' => angle = angle.saturating_sub(1),
            b',' if angle == 0 => return true,
            _ => {}
        }
        false
    })
}

/// Removes LWS around parameter separators outside quotes and `<...>` and
/// collapses other LWS runs to one SP. With `out == None` it only reports
/// whether anything would change, stopping at the first change.
fn clean_value(value: &[u8], via: bool, mut out: Option<&mut Vec<u8>>) -> bool {
    let is_sep = |b: u8| matches!(b, b';' | b'=' | b',') || (via && matches!(b, b'/' | b':'));
    let mut changed = false;
    let mut in_quote = false;
    let mut escaped = false;
    let mut angle = 0u32;
    // Pending whitespace run outside quotes: (length, only single SPs).
    let mut ws: Option<(usize, bool)> = None;
    let mut last: Option<u8> = None;
    for &b in value {
        if matches!(b, b'\r' | b'\n') && (in_quote || angle > 0) {
            // A fold inside a quoted string or <...>: drop the line break, the
            // SP/HT after it stays.
            changed = true;
        } else if in_quote {
            push(&mut out, b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if angle > 0 {
            push(&mut out, b);
            match b {
                b'<' => angle += 1,
                b'>' => angle -= 1,
                _ => {}
            }
        } else if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            let (len, plain) = ws.unwrap_or((0, true));
            ws = Some((len + 1, plain && b == b' '));
        } else {
            if let Some((len, plain)) = ws.take() {
                if last.is_none_or(is_sep) || is_sep(b) {
                    changed = true;
                } else {
                    changed |= len != 1 || !plain;
                    push(&mut out, b' ');
                }
            }
            push(&mut out, b);
            last = Some(b);
            match b {
                b'"' => in_quote = true,
                b'<' => angle += 1,
                _ => {}
            }
        }
        if changed && out.is_none() {
            return true;
        }
    }
    changed || ws.is_some()
}

fn push(out: &mut Option<&mut Vec<u8>>, b: u8) {
    if let Some(out) = out {
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        String::from_utf8(normalize(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn clean_message_is_borrowed() {
        let m = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bK1\r\nFrom: \"A, B\" <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nSubject: hi ; there\r\nContent-Length: 2\r\n\r\nab";
        assert!(matches!(normalize(m.as_bytes()), Cow::Borrowed(_)));
    }

    #[test]
    fn lf_only_becomes_crlf_and_body_is_untouched() {
        let m = "OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\nContent-Length: 4\n\na\nb\n";
        assert_eq!(
            norm(m),
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nContent-Length: 4\r\n\r\na\nb\n"
        );
    }

    #[test]
    fn compact_names_are_expanded() {
        let m = "BYE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\nF: <sip:a@b>\r\nt: <sip:c@d>\r\ni: x\r\nm: <sip:e@f>\r\nl: 0\r\nc: text/plain\r\nk: timer\r\ns: S\r\ne: gzip\r\no: dialog\r\nu: talk\r\nr: <sip:g@h>\r\nx: 90\r\nb: <sip:i@j>\r\n\r\n";
        let out = norm(m);
        for want in [
            "Via: SIP/2.0/UDP h\r\n",
            "From: <sip:a@b>\r\n",
            "To: <sip:c@d>\r\n",
            "Call-ID: x\r\n",
            "Contact: <sip:e@f>\r\n",
            "Content-Length: 0\r\n",
            "Content-Type: text/plain\r\n",
            "Supported: timer\r\n",
            "Subject: S\r\n",
            "Content-Encoding: gzip\r\n",
            "Event: dialog\r\n",
            "Allow-Events: talk\r\n",
            "Refer-To: <sip:g@h>\r\n",
            "Session-Expires: 90\r\n",
            "Referred-By: <sip:i@j>\r\n",
        ] {
            assert!(out.contains(want), "{want:?} missing in {out:?}");
        }
    }

    #[test]
    fn folding_is_unfolded() {
        let m = "INVITE sip:a@b SIP/2.0\r\nSubject: one\r\n   two\r\n\tthree\r\nVia: SIP/2.0/UDP h\r\n ;branch=z9hG4bK1\r\n\r\n";
        assert_eq!(
            norm(m),
            "INVITE sip:a@b SIP/2.0\r\nSubject: one two three\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n"
        );
    }

    #[test]
    fn comma_joined_values_are_split() {
        let m = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2\r\nContact: \"Doe, John\" <sip:j@h;x=a,b>;q=1, <sip:k@h>\r\nRecord-Route: <sip:p1;lr>,<sip:p2;lr>\r\n\r\n";
        assert_eq!(
            norm(m),
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/TCP b;branch=z9hG4bK2\r\nContact: \"Doe, John\" <sip:j@h;x=a,b>;q=1\r\nContact: <sip:k@h>\r\nRecord-Route: <sip:p1;lr>\r\nRecord-Route: <sip:p2;lr>\r\n\r\n"
        );
    }

    #[test]
    fn param_whitespace_is_removed_outside_quotes() {
        let m = "INVITE sip:a@b SIP/2.0\r\nVia: SIP / 2.0 / UDP  1.2.3.4 : 5060 ; branch = z9hG4bK1 ; rport\r\nFrom: \"A ; b = c\"   <sip:a@b> ; tag = 9\r\nContent-Type: application/sdp ; charset = utf-8\r\nUser-Agent: x ; y\r\n\r\n";
        assert_eq!(
            norm(m),
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1;rport\r\nFrom: \"A ; b = c\" <sip:a@b>;tag=9\r\nContent-Type: application/sdp;charset=utf-8\r\nUser-Agent: x ; y\r\n\r\n"
        );
    }

    #[test]
    fn quoted_escapes_and_unbalanced_input_do_not_panic() {
        for m in [
            "A b SIP/2.0\r\nFrom: \"x\\\"; y\" <sip:a> ; tag=1\r\n\r\n",
            "A b SIP/2.0\r\nFrom: \"unterminated ; x\r\n\r\n",
            "A b SIP/2.0\r\nContact: <<<sip:a , b\r\n\r\n",
            "A b SIP/2.0\r\nVia: ,,,\r\n\r\n",
            "A b SIP/2.0\r\n:\r\n \r\n\r\n",
            "\n\n",
            "",
        ] {
            let _ = normalize(m.as_bytes());
        }
        assert_eq!(
            norm("A b SIP/2.0\r\nVia: ,,,\r\n\r\n"),
            "A b SIP/2.0\r\nVia: \r\n\r\n"
        );
    }

    #[test]
    fn rewrite_is_idempotent() {
        let m = "INVITE sip:a@b SIP/2.0\nv: SIP / 2.0 / UDP a ; branch = 1 , SIP/2.0/UDP b\nf: <sip:a@b> ;\n tag = 2\n\nbody";
        let once = norm(m);
        assert!(
            matches!(normalize(once.as_bytes()), Cow::Borrowed(_)),
            "{once:?}"
        );
    }
}
