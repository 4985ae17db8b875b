//! DTMF carried in SIP INFO bodies (the non-standard but ubiquitous alternative to
//! RFC 4733; no RFC defines these bodies, so parsing is deliberately lenient).
//!
//! * `application/dtmf-relay` (Cisco and most PBXes): `Signal=5\r\nDuration=160\r\n`.
//!   Keys are case-insensitive, spaces around `=` are common, LF-only line ends too.
//! * `application/dtmf`: the body is the digit itself; some vendors send the RFC 4733
//!   event code instead (`10` for `*`, `11` for `#`).

use super::rfc4733::event_to_digit;

/// The digit carried by an INFO request, or `None` if the content type is not a DTMF
/// one or the body holds no valid digit. `content_type` may carry parameters
/// (`application/dtmf-relay; charset=utf-8`), compared case-insensitively.
#[must_use]
pub fn parse_info_dtmf(content_type: &str, body: &[u8]) -> Option<char> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let body = std::str::from_utf8(body).ok()?;
    if mime.eq_ignore_ascii_case("application/dtmf-relay") {
        body.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            if key.trim().eq_ignore_ascii_case("signal") {
                parse_digit(value.trim())
            } else {
                None
            }
        })
    } else if mime.eq_ignore_ascii_case("application/dtmf") {
        parse_digit(body.trim())
    } else {
        None
    }
}

/// A single DTMF character, or an RFC 4733 event code 0-15 written in decimal.
fn parse_digit(s: &str) -> Option<char> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => {
            let c = c.to_ascii_uppercase();
            matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
        }
        (Some(_), Some(_)) => s.parse::<u8>().ok().and_then(event_to_digit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let relay = "application/dtmf-relay";
        let cases: &[(&str, &[u8], Option<char>)] = &[
            (relay, b"Signal=5\r\nDuration=160\r\n", Some('5')),
            (relay, b"Signal=5\nDuration=160", Some('5')),
            (relay, b"signal = 7\r\n", Some('7')),
            (relay, b"SIGNAL=#\r\nDuration=250\r\n", Some('#')),
            (relay, b"Signal= #\r\n", Some('#')),
            (relay, b"Signal=*\r\n", Some('*')),
            (relay, b"Signal=a\r\n", Some('A')),
            (relay, b"Duration=160\r\nSignal=9\r\n", Some('9')),
            (relay, b"Signal=10\r\n", Some('*')),
            (relay, b"Signal=11\r\n", Some('#')),
            (relay, b"Signal=16\r\n", None),
            (relay, b"Signal=\r\nDuration=100", None),
            (relay, b"Signal=X\r\n", None),
            (relay, b"Duration=160\r\n", None),
            (relay, b"", None),
            (relay, b"Signal=\xff\r\n", None),
            (
                "Application/DTMF-Relay; charset=utf-8",
                b"Signal=3",
                Some('3'),
            ),
            ("application/dtmf", b"4", Some('4')),
            ("application/dtmf", b"#\r\n", Some('#')),
            ("application/dtmf", b" 10 ", Some('*')),
            ("application/dtmf", b"11", Some('#')),
            ("application/dtmf", b"15", Some('D')),
            ("application/dtmf", b"99", None),
            ("application/dtmf", b"", None),
            ("APPLICATION/DTMF", b"0", Some('0')),
            ("application/sdp", b"Signal=5", None),
            ("text/plain", b"5", None),
            ("", b"5", None),
        ];
        for &(ct, body, want) in cases {
            assert_eq!(
                parse_info_dtmf(ct, body),
                want,
                "{ct:?} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
