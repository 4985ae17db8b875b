//! RFC 4733 telephone-events (DTMF carried in RTP, formerly RFC 2833).
//!
//! One key press is one *event*: every packet of it carries the same RTP timestamp
//! (the event's start, §2.5.1.2) and a growing duration; the final packet has the E bit
//! and is sent three times (§2.5.1.4); senders may also retransmit. So the receiver
//! keys on the timestamp: the first packet seen with a new timestamp is a new digit,
//! reported immediately (fast barge-in, and it still works when the start packets were
//! lost and only the end packets arrive).

use super::rtp::RtpView;

/// A decoded telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code; 0-15 are the DTMF digits (§3.2).
    pub event: u8,
    /// E bit: this is (a retransmission of) the end of the event.
    pub end: bool,
    /// Power level in -dBm0 (0-63).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

/// Why a telephone-event payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("telephone-event payload too short ({len} bytes, need 4)")]
    TooShort { len: usize },
}

/// Parses the first 4-byte event of a payload (§2.3; any redundant events that follow,
/// §2.5.1.5, are ignored: we only need the current one).
pub fn parse_event(payload: &[u8]) -> Result<TelephoneEvent, EventError> {
    let [event, flags, d0, d1, ..] = *payload else {
        return Err(EventError::TooShort { len: payload.len() });
    };
    Ok(TelephoneEvent {
        event,
        end: flags & 0x80 != 0,
        volume: flags & 0x3F,
        duration: u16::from_be_bytes([d0, d1]),
    })
}

/// RFC 4733 §3.2 table 7: event code → DTMF character (0-9, *, #, A-D).
#[must_use]
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => char::from_digit(u32::from(event), 10),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + (event - 12))),
        _ => None,
    }
}

/// DTMF character → event code (accepts lowercase a-d).
#[must_use]
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => digit.to_digit(10).and_then(|d| u8::try_from(d).ok()),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' | 'a'..='d' => Some(digit.to_ascii_uppercase() as u8 - b'A' + 12),
        _ => None,
    }
}

/// Encodes an event payload (for sending DTMF towards a leg).
#[must_use]
pub fn encode_event(ev: &TelephoneEvent) -> [u8; 4] {
    let d = ev.duration.to_be_bytes();
    [
        ev.event,
        (u8::from(ev.end) << 7) | (ev.volume & 0x3F),
        d[0],
        d[1],
    ]
}

/// The last event seen on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Last {
    ssrc: u32,
    timestamp: u32,
    event: u8,
    duration: u16,
    end: bool,
}

/// Turns a stream of telephone-event packets into digits, each reported once.
#[derive(Debug, Default, Clone)]
pub struct DtmfReceiver {
    last: Option<Last>,
}

impl DtmfReceiver {
    #[must_use]
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    /// Feeds one RTP packet already known to carry telephone-event (the negotiated PT).
    #[must_use]
    pub fn handle_packet(&mut self, rtp: &RtpView<'_>) -> Option<char> {
        self.handle_event(rtp.ssrc, rtp.timestamp, rtp.payload)
    }

    /// Feeds one event payload with its RTP SSRC and timestamp. Returns a digit the
    /// first time an event (SSRC + timestamp) is seen; events outside 0-15 are ignored.
    #[must_use]
    pub fn handle_event(&mut self, ssrc: u32, timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = parse_event(payload).ok()?;
        let digit = event_to_digit(ev.event)?;
        let new = Last {
            ssrc,
            timestamp,
            event: ev.event,
            duration: ev.duration,
            end: ev.end,
        };
        let Some(last) = self.last else {
            self.last = Some(new);
            return Some(digit);
        };
        if last.ssrc != ssrc {
            // A new stream (re-INVITE, transfer): its timestamps start afresh.
            self.last = Some(new);
            return Some(digit);
        }
        if timestamp == last.timestamp {
            // Same event: a continuation, an end packet or a retransmission.
            if let Some(l) = self.last.as_mut() {
                l.duration = l.duration.max(ev.duration);
                l.end |= ev.end;
            }
            return None;
        }
        // RFC 3550 timestamps wrap: "older" means a negative signed distance. A late
        // retransmission of an earlier event must not count again.
        let delta = timestamp.wrapping_sub(last.timestamp) as i32;
        if delta < 0 {
            return None;
        }
        self.last = Some(new);
        // RFC 4733 §2.5.1.3: an event longer than the 16-bit duration field continues
        // as a new segment whose timestamp is the old one plus the old duration. That is
        // the same key press, not a new digit.
        let continuation = !last.end
            && last.event == ev.event
            && u32::try_from(delta).is_ok_and(|d| d == u32::from(last.duration));
        if continuation { None } else { Some(digit) }
    }

    /// Forgets the stream state (e.g. when the remote media changes).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
#[path = "rfc4733_tests.rs"]
mod tests;
