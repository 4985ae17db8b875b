//! RFC 4028 session timers on a dialog where we are the UAS (a caller's call).
//!
//! A trunk that supports the extension (`Supported: timer`) refreshes the session
//! with a re-INVITE before its interval runs out. If the refreshes stop (the PBX
//! crashed or restarted, a NAT or firewall dropped its state, the network split),
//! the call is dead on the caller's side and we hang up (§10). The RTP timeout does
//! the same for a call whose audio stops, but not for a call on hold, where silence
//! is expected: without a session timer such a call would hold its port, its record
//! and its manager forever.
//!
//! We never refresh ourselves (we do not send re-INVITEs to callers): the caller's
//! side is the refresher (`refresher=uac`), and a request that wants us to refresh
//! (`refresher=uas`, or a timer a proxy asked for on behalf of a caller that does not
//! support it) gets no timer, as from a UAS without the extension (§9 lets the UAC
//! see that from a 2xx without `Session-Expires`).
//!
//! ```text
//!  INVITE ──negotiate──▶ Off        (none asked for, or none we would keep)
//!     │             └──▶ TooSmall   (422 + Min-SE, §9)
//!     ▼
//!  Running{interval, refreshed_at} ──re-INVITE answered 2xx──▶ Running (restarted)
//!     │ deadline = refreshed_at + interval − min(32 s, interval / 3)   (§10)
//!     ▼
//!  expired: BYE
//! ```
//! Sans-IO: the call asks for [`SessionTimer::deadline`] and checks it against `now`.

use std::time::{Duration, Instant};

use crate::sip::rsip::{self, prelude::*};

pub use crate::sip::extensions::{MIN_SE, TIMER as OPTION_TAG};

/// What a request asks of us, and what we answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiation {
    /// No timer on this dialog.
    Off,
    /// The requested interval is below [`MIN_SE`]: answer 422 with `Min-SE` (§9).
    TooSmall,
    /// A timer of this many seconds, refreshed by the caller's side.
    Timer { interval: u32 },
}

/// Reads a dialog-creating or refreshing request (§9). `ours` is the most we accept
/// (a longer request is reduced to it, never below the request's `Min-SE`); 0 turns
/// timers off. A caller that supports timers but asks for none gets none: §9 would
/// let us impose one, but a gateway that only refreshes the timers it asked for
/// would then lose every long call at the interval.
#[must_use]
pub fn negotiate(req: &rsip::Request, ours: u32) -> Negotiation {
    let supports = |header| crate::sip::extensions::lists(req, header, OPTION_TAG);
    if ours == 0 || (!supports("Supported") && !supports("Require")) {
        return Negotiation::Off;
    }
    let asked = req
        .header_value("Session-Expires")
        .and_then(|v| parse_session_expires(&v));
    let min_se = req
        .header_value("Min-SE")
        .and_then(|v| leading_number(&v))
        .unwrap_or(MIN_SE);
    match asked {
        None => Negotiation::Off,
        Some((secs, _)) if secs < MIN_SE => Negotiation::TooSmall,
        // We do not refresh: no timer rather than one nobody keeps.
        Some((_, Some(Refresher::Uas))) => Negotiation::Off,
        // A floor above our longest: a timer that long guards nothing; decline it.
        Some(_) if min_se > ours => Negotiation::Off,
        // §9: the UAS may reduce the interval (to ours, which is at least Min-SE
        // here), never raise it.
        Some((secs, _)) => Negotiation::Timer {
            interval: secs.min(ours),
        },
    }
}

/// Who sends the refreshes (§4's `refresher` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresher {
    Uac,
    Uas,
}

/// `1800;refresher=uac` → (1800, Some(Uac)); `None` if the number is not there.
fn parse_session_expires(value: &str) -> Option<(u32, Option<Refresher>)> {
    let secs = leading_number(value)?;
    let refresher = value.split(';').skip(1).find_map(|param| {
        let (name, v) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("refresher") {
            return None;
        }
        match v.trim().to_ascii_lowercase().as_str() {
            "uac" => Some(Refresher::Uac),
            "uas" => Some(Refresher::Uas),
            _ => None,
        }
    });
    Some((secs, refresher))
}

fn leading_number(value: &str) -> Option<u32> {
    value.split(';').next()?.trim().parse().ok()
}

/// A running timer: the caller must refresh before [`SessionTimer::deadline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    interval: u32,
    refreshed_at: Instant,
}

impl SessionTimer {
    /// A timer of `interval` seconds, (re)started at `now` (the 2xx that carries it).
    #[must_use]
    pub fn start(now: Instant, interval: u32) -> Self {
        Self {
            interval,
            refreshed_at: now,
        }
    }

    #[must_use]
    pub fn interval(&self) -> u32 {
        self.interval
    }

    /// §10: the side that does not refresh sends BYE "at the session expiration
    /// minus the minimum of 32 seconds and one third of the session interval".
    #[must_use]
    pub fn deadline(&self) -> Instant {
        let interval = u64::from(self.interval);
        let early = (interval / 3).min(32);
        self.refreshed_at + Duration::from_secs(interval - early)
    }

    /// The headers of the 2xx that starts or refreshes it (§9): the interval, who
    /// refreshes, and `Require: timer` (mandatory with `refresher=uac`).
    pub fn add_headers(&self, headers: &mut rsip::Headers) {
        headers.push(rsip::Header::Other(
            "Session-Expires".into(),
            format!("{};refresher=uac", self.interval),
        ));
        headers.push(rsip::Header::Other("Require".into(), OPTION_TAG.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str) -> rsip::Request {
        let text = format!(
            "INVITE sip:ivr@sb.test SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n\
             From: <sip:alice@example.com>;tag=a\r\n\
             To: <sip:ivr@sb.test>\r\n\
             Call-ID: st-1\r\n\
             CSeq: 1 INVITE\r\n\
             {extra}\
             Content-Length: 0\r\n\r\n"
        );
        rsip::Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn a_caller_that_supports_timers_gets_its_interval_refreshed_by_itself() {
        let req = invite("Supported: replaces, timer\r\nSession-Expires: 600;refresher=uac\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Timer { interval: 600 });
        // No refresher named: still ours to choose, and we choose the caller.
        let req = invite("Supported: timer\r\nSession-Expires: 600\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Timer { interval: 600 });
    }

    #[test]
    fn a_long_interval_is_reduced_to_ours_but_never_below_min_se() {
        let req = invite("Supported: timer\r\nSession-Expires: 7200\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Timer { interval: 1800 });
        let req = invite("Supported: timer\r\nSession-Expires: 7200\r\nMin-SE: 1700\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Timer { interval: 1800 });
        let req = invite("Supported: timer\r\nSession-Expires: 7200\r\nMin-SE: 3600\r\n");
        assert_eq!(negotiate(&req, 5000), Negotiation::Timer { interval: 5000 });
        // A floor above the longest we accept: no timer.
        let req = invite("Supported: timer\r\nSession-Expires: 7200\r\nMin-SE: 4294967295\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Off);
    }

    #[test]
    fn a_caller_that_asks_for_no_interval_gets_none() {
        let req = invite("Supported: timer\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Off);
        let req = invite("Supported: timer\r\nMin-SE: 2000\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Off);
    }

    #[test]
    fn too_small_an_interval_is_refused_with_422() {
        let req = invite("Supported: timer\r\nSession-Expires: 60\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::TooSmall);
    }

    #[test]
    fn no_timer_without_the_callers_support_when_asked_to_refresh_or_when_off() {
        // A proxy's Session-Expires for a caller that does not support timers.
        let req = invite("Session-Expires: 1800\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Off);
        let req = invite("Supported: timer\r\nSession-Expires: 1800;refresher=uas\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Off);
        let req = invite("Supported: timer\r\nSession-Expires: 1800\r\n");
        assert_eq!(negotiate(&req, 0), Negotiation::Off);
        let req = invite("Supported: 100rel\r\nSession-Expires: 1800\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Off);
    }

    #[test]
    fn compact_form_and_garbage() {
        // The parser's normalizer expands `x:` and `k:`; here the long names.
        let req = invite("Require: timer\r\nSession-Expires: banana\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Off);
        let req = invite("Require: timer\r\nSession-Expires: 600 ; refresher = UAC\r\n");
        assert_eq!(negotiate(&req, 1800), Negotiation::Timer { interval: 600 });
    }

    #[test]
    fn the_bye_is_due_a_third_or_32_seconds_before_expiry() {
        let t0 = Instant::now();
        let t = SessionTimer::start(t0, 90);
        assert_eq!(t.deadline(), t0 + Duration::from_secs(60));
        let t = SessionTimer::start(t0, 1800);
        assert_eq!(t.deadline(), t0 + Duration::from_secs(1768));
        let mut headers = rsip::Headers::default();
        t.add_headers(&mut headers);
        let text = headers.to_string();
        assert!(
            text.contains("Session-Expires: 1800;refresher=uac"),
            "{text}"
        );
        assert!(text.contains("Require: timer"), "{text}");
    }
}
