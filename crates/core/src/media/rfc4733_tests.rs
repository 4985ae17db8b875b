//! Tests for `rfc4733.rs`, including real captures (sipp's samples and the generated
//! `dtmf_101_123hash.pcap`) read with a tiny pcap parser.

use super::*;
use crate::media::rtp::parse_rtp;

/// UDP payloads of a classic little-endian pcap with Ethernet/IPv4/UDP frames.
fn pcap_udp_payloads(bytes: &[u8]) -> Vec<&[u8]> {
    assert_eq!(
        &bytes[..4],
        &0xA1B2_C3D4u32.to_le_bytes(),
        "little-endian pcap"
    );
    assert_eq!(
        u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &bytes[at + 16..at + 16 + incl];
        at += 16 + incl;
        if frame[12..14] != [0x08, 0x00] {
            continue; // not IPv4
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        if ip[9] != 17 {
            continue; // not UDP
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let udp = &ip[ihl..total];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        out.push(&udp[8..udp_len]);
    }
    out
}

fn decode_pcap(path: &str) -> (String, usize) {
    let bytes = std::fs::read(format!(
        "{}/../../tests/data/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut rx = DtmfReceiver::new();
    let mut digits = String::new();
    let mut packets = 0;
    for udp in pcap_udp_payloads(&bytes) {
        let rtp = parse_rtp(udp).unwrap();
        assert_eq!(rtp.payload_type, 101);
        packets += 1;
        digits.extend(rx.handle_packet(&rtp));
    }
    (digits, packets)
}

#[test]
fn sipp_sample_capture_is_one_digit() {
    // 10 packets: marker start, growing duration, 3 identical end packets.
    assert_eq!(decode_pcap("dtmf_2833_1.pcap"), ("1".to_owned(), 10));
    assert_eq!(decode_pcap("dtmf_2833_pound.pcap").0, "#");
}

#[test]
fn generated_capture_is_123_hash() {
    let (digits, packets) = decode_pcap("dtmf_101_123hash.pcap");
    assert_eq!(digits, "123#");
    // Four events of 5 packets (100 ms) plus 3 end packets each.
    assert_eq!(packets, 4 * (5 + 3));
}

fn ev(event: u8, end: bool, duration: u16) -> [u8; 4] {
    encode_event(&TelephoneEvent {
        event,
        end,
        volume: 10,
        duration,
    })
}

#[test]
fn parse_and_encode() {
    let e = parse_event(&[0x0B, 0x8A, 0x03, 0x20]).unwrap();
    assert_eq!(
        e,
        TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800
        }
    );
    assert_eq!(encode_event(&e), [0x0B, 0x8A, 0x03, 0x20]);
    // Reserved R bit is ignored; trailing redundant events are ignored.
    let e = parse_event(&[5, 0x40 | 7, 0, 160, 9, 9, 9, 9]).unwrap();
    assert_eq!((e.event, e.end, e.volume, e.duration), (5, false, 7, 160));
    assert_eq!(
        parse_event(&[1, 2, 3]),
        Err(EventError::TooShort { len: 3 })
    );
}

#[test]
fn digit_table() {
    let all: String = (0..16).filter_map(event_to_digit).collect();
    assert_eq!(all, "0123456789*#ABCD");
    assert_eq!(event_to_digit(16), None);
    assert_eq!(event_to_digit(255), None);
    for (i, c) in all.chars().enumerate() {
        assert_eq!(digit_to_event(c), Some(i as u8));
    }
    assert_eq!(digit_to_event('d'), Some(15));
    assert_eq!(digit_to_event('x'), None);
}

#[test]
fn long_press_is_one_digit_and_new_press_is_new() {
    let mut rx = DtmfReceiver::new();
    let mut got = String::new();
    for i in 0..100u16 {
        got.extend(rx.handle_event(1, 8000, &ev(5, false, i * 160)));
    }
    for _ in 0..3 {
        got.extend(rx.handle_event(1, 8000, &ev(5, true, 16000)));
    }
    // A retransmission of an earlier packet arriving late.
    got.extend(rx.handle_event(1, 8000, &ev(5, false, 320)));
    assert_eq!(got, "5");
    // Same digit pressed again: new timestamp, new digit.
    got.extend(rx.handle_event(1, 30000, &ev(5, false, 0)));
    got.extend(rx.handle_event(1, 30000, &ev(5, true, 800)));
    assert_eq!(got, "55");
}

#[test]
fn only_end_packets_still_report_once() {
    let mut rx = DtmfReceiver::new();
    let got: String = (0..3)
        .filter_map(|_| rx.handle_event(1, 500, &ev(9, true, 1280)))
        .collect();
    assert_eq!(got, "9");
}

#[test]
fn non_dtmf_events_and_garbage_are_ignored() {
    let mut rx = DtmfReceiver::new();
    assert_eq!(rx.handle_event(1, 100, &ev(16, false, 0)), None); // flash
    assert_eq!(rx.handle_event(1, 200, &ev(70, false, 0)), None);
    assert_eq!(rx.handle_event(1, 300, &[1, 2]), None);
    assert_eq!(rx.handle_event(1, 400, &[]), None);
    assert_eq!(rx.handle_event(1, 500, &ev(0, false, 0)), Some('0'));
}

#[test]
fn old_timestamps_do_not_repeat_and_wrap_is_handled() {
    let mut rx = DtmfReceiver::new();
    assert_eq!(
        rx.handle_event(7, u32::MAX - 1000, &ev(1, false, 0)),
        Some('1')
    );
    // Wraps past zero: newer.
    assert_eq!(rx.handle_event(7, 500, &ev(2, false, 0)), Some('2'));
    // Late end packet of '1' (older timestamp): ignored.
    assert_eq!(rx.handle_event(7, u32::MAX - 1000, &ev(1, true, 800)), None);
    // A new SSRC starts afresh even with a "smaller" timestamp.
    assert_eq!(rx.handle_event(8, 10, &ev(3, false, 0)), Some('3'));
    rx.reset();
    assert_eq!(rx.handle_event(8, 10, &ev(3, false, 0)), Some('3'));
}

#[test]
fn long_duration_segments_are_one_press() {
    // RFC 4733 §2.5.1.3: at duration 0xFFFF a new segment starts at ts + 0xFFFF.
    let mut rx = DtmfReceiver::new();
    assert_eq!(rx.handle_event(1, 1000, &ev(4, false, 0)), Some('4'));
    assert_eq!(rx.handle_event(1, 1000, &ev(4, false, 0xFFFF)), None);
    assert_eq!(rx.handle_event(1, 1000 + 0xFFFF, &ev(4, false, 160)), None);
    assert_eq!(rx.handle_event(1, 1000 + 0xFFFF, &ev(4, true, 800)), None);
    // After an ended event, the same digit at a later timestamp is a new press.
    assert_eq!(
        rx.handle_event(1, 1000 + 0xFFFF + 800, &ev(4, false, 0)),
        Some('4')
    );
}
