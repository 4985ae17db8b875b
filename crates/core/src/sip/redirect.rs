//! Where a forwarded call was first sent: `History-Info` (RFC 7044) and `Diversion`
//! (RFC 5806).
//!
//! A PBX or carrier that forwards a call (call forwarding, a hunt group overflowing
//! to Switchboard) sends it on with the new target in the Request-URI and the number
//! the caller dialled in one of these headers. With `[server] dialled_number =
//! "original"` that number is the one the dial plan routes by: the campaign number
//! survives the forward. Only a trunk's headers are believed (the endpoint removes
//! them from anyone else's INVITE, as it does P-Asserted-Identity).

use crate::sip::rsip::Request;

/// `[server] dialled_number`: which number of an INVITE the dial plan matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialledNumber {
    /// The Request-URI's user (To's, if the Request-URI has none): where the call
    /// is being sent now.
    #[default]
    RequestUri,
    /// The number the call was first sent to, by `History-Info` or `Diversion`, when
    /// a trunk forwarded it; the Request-URI's otherwise.
    Original,
}

/// Which header named the original number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    HistoryInfo,
    Diversion,
}

impl Source {
    #[must_use]
    pub fn header(self) -> &'static str {
        match self {
            Source::HistoryInfo => "History-Info",
            Source::Diversion => "Diversion",
        }
    }
}

/// The number `req` was first sent to, if a trunk forwarded it: the oldest
/// `Diversion` entry (the last one: RFC 5806 §4 lists the most recent first), else
/// `History-Info`'s entry of index 1 (the original Request-URI, RFC 7044 §9.1; the
/// first entry if none is indexed) when the header shows the call was retargeted
/// to another user (an entry tagged `mp`, §4.2, or a URI with a `cause`, RFC 4458).
///
/// Diversion first: carriers that follow RFC 7044 put History-Info on every call,
/// starting from the target *they* received, so behind a PBX's forward their index 1
/// is the forward's target and only the PBX's Diversion still names the number
/// dialled; and a History-Info that records no retargeting is no forward at all.
#[must_use]
pub fn original_called(req: &Request) -> Option<(String, Source)> {
    let diversion = entries(req, "Diversion");
    if let Some(user) = diversion.last().and_then(|e| entry_user(e)) {
        return Some((user, Source::Diversion));
    }
    let history = entries(req, "History-Info");
    // `mp` marks a retarget to another user (RFC 7044 §4.2); `rc` only a lookup of the
    // same user's contact, which ordinary routed calls have too.
    let retargeted = history.iter().any(|e| {
        param(e, "mp").is_some()
            || super::headers::name_addr_uri(e).is_some_and(|u| {
                u.split('?')
                    .next()
                    .is_some_and(|u| u.to_ascii_lowercase().contains(";cause="))
            })
    });
    if !retargeted {
        return None;
    }
    history
        .iter()
        .find(|e| param(e, "index") == Some("1"))
        .or_else(|| history.first())
        .and_then(|e| entry_user(e))
        .map(|u| (u, Source::HistoryInfo))
}

/// Removes both headers: a request from outside the trust domain must not choose
/// the number its call is routed by.
pub fn remove_redirection(req: &mut Request) {
    req.headers.retain(|h| {
        let name = h.name();
        !name.eq_ignore_ascii_case("History-Info") && !name.eq_ignore_ascii_case("Diversion")
    });
}

/// Every entry of every `name` header, in order. Entries are split on commas outside
/// quotes and angle brackets (a URI's escaped headers may hold anything).
fn entries(req: &Request, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for h in req.headers.iter() {
        if !h.name().eq_ignore_ascii_case(name) {
            continue;
        }
        let value = h.value();
        let (mut quoted, mut angled, mut start) = (false, false, 0);
        let mut escaped = false;
        for (i, c) in value.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' if !angled => quoted = !quoted,
                '<' if !quoted => angled = true,
                '>' if !quoted => angled = false,
                ',' if !quoted && !angled => {
                    out.extend(value.get(start..i).map(|s| s.trim().to_string()));
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.extend(value.get(start..).map(|s| s.trim().to_string()));
    }
    out.retain(|e| !e.is_empty());
    out
}

/// The value of header parameter `name` of an entry (after its `<URI>`).
fn param<'a>(entry: &'a str, name: &str) -> Option<&'a str> {
    let params = match entry.rfind('>') {
        Some(close) => entry.get(close + 1..)?,
        None => entry,
    };
    params.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The user of an entry's URI, its escaped headers (`?Reason=…`) left out.
fn entry_user(entry: &str) -> Option<String> {
    let uri = super::headers::name_addr_uri(entry)?;
    let uri = uri.split('?').next()?;
    super::headers::identity_user(&format!("<{uri}>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str) -> Request {
        let text = format!(
            "INVITE sip:ivr@sb.test SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n\
             From: <sip:5551234@example.com>;tag=a\r\n\
             To: <sip:ivr@sb.test>\r\n\
             Call-ID: rd-1\r\n\
             CSeq: 1 INVITE\r\n\
             {extra}\
             Content-Length: 0\r\n\r\n"
        );
        Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn the_oldest_diversion_is_the_number_first_dialled() {
        let req = invite(
            "Diversion: <sip:201@pbx.example.com>;reason=no-answer;counter=1\r\n\
             Diversion: \"Sales, main\" <sip:5550100@pbx.example.com;user=phone>;reason=unconditional\r\n",
        );
        assert_eq!(
            original_called(&req),
            Some(("5550100".to_string(), Source::Diversion))
        );
        // Both in one header, comma-separated.
        let req = invite(
            "Diversion: <sip:201@pbx>;reason=no-answer, <tel:+15550100>;reason=unconditional\r\n",
        );
        assert_eq!(
            original_called(&req),
            Some(("+15550100".to_string(), Source::Diversion))
        );
    }

    #[test]
    fn history_info_names_the_original_when_it_shows_a_retarget() {
        let req = invite(
            "History-Info: <sip:ivr@sb.test>;index=1.1;mp=1\r\n\
             History-Info: <sip:5550100@pbx.example.com?Reason=SIP%3Bcause%3D302%3Btext%3D%22a,b%22>;index=1\r\n",
        );
        assert_eq!(
            original_called(&req),
            Some(("5550100".to_string(), Source::HistoryInfo))
        );
        let req = invite(
            "History-Info: <sip:5550100@pbx>;index=1, <sip:ivr@sb.test;cause=302>;index=1.1\r\n",
        );
        assert_eq!(
            original_called(&req),
            Some(("5550100".to_string(), Source::HistoryInfo))
        );
    }

    #[test]
    fn diversion_wins_and_history_info_without_a_retarget_is_no_forward() {
        // A carrier's History-Info starting from the PBX's forward target.
        let req = invite(
            "History-Info: <sip:ivr@carrier>;index=1, <sip:ivr@sb.test>;index=1.1;mp=1\r\n\
             Diversion: <sip:5550100@pbx>;reason=unconditional\r\n",
        );
        assert_eq!(
            original_called(&req),
            Some(("5550100".to_string(), Source::Diversion))
        );
        // A carrier that records every call, forwarded or not; `rc` is a lookup of the
        // same user's contact, not a forward.
        let req = invite("History-Info: <sip:+15550100@carrier>;index=1\r\n");
        assert_eq!(original_called(&req), None);
        let req = invite(
            "History-Info: <sip:+15550100@carrier>;index=1, <sip:5550100@sb.test>;index=1.1;rc=1\r\n",
        );
        assert_eq!(original_called(&req), None);
    }

    #[test]
    fn nothing_when_not_forwarded_or_unreadable() {
        assert_eq!(original_called(&invite("")), None);
        assert_eq!(original_called(&invite("Diversion: garbage\r\n")), None);
        assert_eq!(
            original_called(&invite("History-Info: <>;index=1\r\n")),
            None
        );
    }

    #[test]
    fn removal_takes_both_headers() {
        let mut req = invite("Diversion: <sip:201@pbx>\r\nHistory-Info: <sip:1@pbx>;index=1\r\n");
        remove_redirection(&mut req);
        assert_eq!(original_called(&req), None);
    }
}
