//! SIP extensions by option tag (RFC 3261 §19.2): what we say we support, and the
//! `420 Bad Extension` for a request that requires one we do not (§8.2.2.3).
//!
//! Before this check, a request requiring an extension we lack (preconditions, RFC
//! 3312; `Replaces`, RFC 3891) was taken as if it had not asked, and our answers
//! listed `Supported: replaces` although we never handled a `Replaces` header. Now
//! what `Supported` lists is exactly what we do, and a requirement we cannot meet is
//! refused so that the other side can retry without it (or send the call elsewhere).

use crate::sip::rsip;

/// RFC 4028's option tag (§3): session timers.
pub const TIMER: &str = "timer";

/// RFC 3262's option tag: reliable provisional responses. We send none, but an
/// INVITE that requires them is still met: §3 asks that every provisional response
/// other than 100 be sent reliably, and a call that requires it gets no provisional
/// but 100 (the ring before the answer is silent: `Call::new`).
pub const RELIABLE_PROVISIONALS: &str = "100rel";

/// Whether `req` lists `tag` in a `Require` header.
#[must_use]
pub fn requires(req: &rsip::Request, tag: &str) -> bool {
    lists(req, "Require", tag)
}

/// Whether any `header` of `req` (there may be several, each a comma list of option
/// tags: `Require`, `Supported`) lists `tag`.
#[must_use]
pub fn lists(req: &rsip::Request, header: &str, tag: &str) -> bool {
    req.headers.iter().any(|h| {
        h.name().eq_ignore_ascii_case(header)
            && h.value()
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(tag))
    })
}

/// RFC 4028 §5: the smallest session interval anyone may ask for, and the one we
/// accept (our `Min-SE`). Here rather than with the timer (`dialog::session_timer`)
/// because the 422 that names it is built at this level.
pub const MIN_SE: u32 = 90;

/// The option tags we support: `timer` (RFC 4028 session timers, as the UAS of a
/// caller's dialog) when `[server] session_expires_secs` is not 0; nothing else.
#[must_use]
pub fn supported(session_timers: bool) -> &'static [&'static str] {
    if session_timers { &[TIMER] } else { &[] }
}

/// The `Supported` header for our answers, if we support anything.
#[must_use]
pub fn supported_header(session_timers: bool) -> Option<rsip::Header> {
    let tags = supported(session_timers);
    (!tags.is_empty()).then(|| rsip::Header::Other("Supported".into(), tags.join(", ")))
}

/// Adds our `Supported` header to an answer, if we support anything.
pub fn add_supported(headers: &mut rsip::Headers, session_timers: bool) {
    if let Some(h) = supported_header(session_timers) {
        headers.push(h);
    }
}

/// The option tags `req` requires that we do not support, in its order, deduplicated.
/// Empty for ACK and CANCEL, which §8.2.2.3 exempts (their `Require` repeats the
/// INVITE's, already checked).
#[must_use]
pub fn unsupported_required(req: &rsip::Request, session_timers: bool) -> Vec<String> {
    if matches!(req.method, rsip::Method::Ack | rsip::Method::Cancel) {
        return Vec::new();
    }
    let ours = supported(session_timers);
    let mut missing: Vec<String> = Vec::new();
    for h in req.headers.iter() {
        if !h.name().eq_ignore_ascii_case("Require") {
            continue;
        }
        for tag in h
            .value()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let known = ours.iter().any(|o| o.eq_ignore_ascii_case(tag))
                || (req.method == rsip::Method::Invite
                    && tag.eq_ignore_ascii_case(RELIABLE_PROVISIONALS));
            if !known && !missing.iter().any(|m| m.eq_ignore_ascii_case(tag)) {
                missing.push(tag.to_string());
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, extra: &str) -> rsip::Request {
        let text = format!(
            "{method} sip:ivr@sb.test SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n\
             From: <sip:alice@example.com>;tag=a\r\n\
             To: <sip:ivr@sb.test>\r\n\
             Call-ID: ext-1\r\n\
             CSeq: 1 {method}\r\n\
             {extra}\
             Content-Length: 0\r\n\r\n"
        );
        rsip::Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn required_tags_we_lack_are_listed_once_in_order() {
        let req = request(
            "INVITE",
            "Require: precondition, timer\r\nRequire: replaces, precondition, 100rel\r\n",
        );
        assert_eq!(
            unsupported_required(&req, true),
            ["precondition", "replaces"]
        );
        assert_eq!(
            unsupported_required(&req, false),
            ["precondition", "timer", "replaces"]
        );
        // 100rel means something for an INVITE only.
        let info = request("INFO", "Require: 100rel\r\n");
        assert_eq!(unsupported_required(&info, true), ["100rel"]);
        assert!(requires(&req, "100REL"));
    }

    #[test]
    fn nothing_required_or_only_what_we_support_passes() {
        assert!(unsupported_required(&request("INVITE", ""), true).is_empty());
        let req = request("INVITE", "Require: Timer\r\nSupported: 100rel\r\n");
        assert!(unsupported_required(&req, true).is_empty());
    }

    #[test]
    fn ack_and_cancel_are_exempt() {
        assert!(unsupported_required(&request("ACK", "Require: 100rel\r\n"), true).is_empty());
        assert!(unsupported_required(&request("CANCEL", "Require: 100rel\r\n"), true).is_empty());
    }

    #[test]
    fn supported_lists_what_we_do() {
        let h = supported_header(true).map(|h| h.to_string());
        assert_eq!(h.as_deref(), Some("Supported: timer"));
        assert!(supported_header(false).is_none());
    }
}
