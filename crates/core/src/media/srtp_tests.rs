//! SRTP round trips, tampering, replay, wrong keys and the SSRC takeover rules.

use std::time::{Duration, Instant};

use super::*;
use crate::media::rtp::{RtpSender, parse_rtp};

fn key(b: u8) -> MasterKey {
    MasterKey::new([b; MASTER_LEN])
}

/// Two ends of one direction: `tx` protects with `k`, `rx` unprotects with `k`.
fn pair(suite: CryptoSuite, tx_key: MasterKey, rx_key: MasterKey) -> (SrtpStreams, SrtpStreams) {
    let tx = SrtpStreams::new(&SrtpParams {
        suite,
        local: tx_key,
        remote: key(0xEE),
    })
    .unwrap();
    let rx = SrtpStreams::new(&SrtpParams {
        suite,
        local: key(0xDD),
        remote: rx_key,
    })
    .unwrap();
    (tx, rx)
}

fn packet(sender: &mut RtpSender, payload: &[u8]) -> ([u8; 400], usize) {
    let mut buf = [0u8; 400];
    let n = sender.write_packet(payload, 160, &mut buf).unwrap();
    (buf, n)
}

#[test]
fn round_trip_both_suites_and_the_tag_length() {
    for suite in CryptoSuite::ALL {
        let (mut tx, mut rx) = pair(suite, key(1), key(1));
        let mut sender = RtpSender::new(0x1234, 65_530, 1000, 0);
        let t0 = Instant::now();
        for i in 0..20u8 {
            let payload = [i; 160];
            let (mut buf, n) = packet(&mut sender, &payload);
            let sealed = tx.protect(&mut buf, n).unwrap();
            assert_eq!(sealed, n + suite.tag_len(), "{suite}");
            assert_ne!(&buf[12..n], &payload[..], "the payload is encrypted");
            let plain = rx.unprotect(t0, &mut buf[..sealed]).unwrap();
            assert_eq!(plain, n);
            let v = parse_rtp(&buf[..plain]).unwrap();
            assert_eq!(v.payload, &payload[..], "{suite} packet {i}");
            assert_eq!(v.ssrc, 0x1234);
        }
    }
}

#[test]
fn tampered_replayed_and_wrongly_keyed_packets_are_dropped_with_their_reason() {
    let (mut tx, mut rx) = pair(CryptoSuite::AesCm128HmacSha1_80, key(1), key(1));
    let mut sender = RtpSender::new(7, 100, 1000, 0);
    let t0 = Instant::now();
    let (mut buf, n) = packet(&mut sender, &[0x55; 160]);
    let sealed = tx.protect(&mut buf, n).unwrap();
    let original = buf;
    rx.unprotect(t0, &mut buf[..sealed]).unwrap();
    // The same packet again: a replay.
    let mut again = original;
    assert_eq!(rx.unprotect(t0, &mut again[..sealed]), Err(Dropped::Replay));
    // A flipped payload bit in the next packet: the tag no longer matches.
    let (mut buf, n) = packet(&mut sender, &[0x55; 160]);
    let sealed = tx.protect(&mut buf, n).unwrap();
    let mut tampered = buf;
    tampered[40] ^= 1;
    assert_eq!(
        rx.unprotect(t0, &mut tampered[..sealed]),
        Err(Dropped::Auth)
    );
    // The genuine packet still passes after the forgery (the window only records
    // authenticated packets).
    assert!(rx.unprotect(t0, &mut buf[..sealed]).is_ok());
    // Too short to carry a tag.
    assert_eq!(rx.unprotect(t0, &mut [0x80u8; 14]), Err(Dropped::Malformed));
    assert_eq!(rx.unprotect(t0, &mut [0x80u8; 5]), Err(Dropped::Malformed));

    // Another key: nothing authenticates, nothing is decrypted into noise.
    let (mut tx2, mut rx2) = pair(CryptoSuite::AesCm128HmacSha1_80, key(2), key(3));
    for _ in 0..5 {
        let (mut buf, n) = packet(&mut sender, &[0x55; 160]);
        let sealed = tx2.protect(&mut buf, n).unwrap();
        assert_eq!(rx2.unprotect(t0, &mut buf[..sealed]), Err(Dropped::Auth));
    }
}

#[test]
fn rollover_is_tracked_across_the_sequence_wrap() {
    let (mut tx, mut rx) = pair(CryptoSuite::AesCm128HmacSha1_32, key(9), key(9));
    let mut sender = RtpSender::new(1, 65_000, 0, 8);
    let t0 = Instant::now();
    for i in 0..1_000u32 {
        let (mut buf, n) = packet(&mut sender, &[(i % 251) as u8; 160]);
        let sealed = tx.protect(&mut buf, n).unwrap();
        let plain = rx
            .unprotect(t0, &mut buf[..sealed])
            .unwrap_or_else(|e| panic!("packet {i}: {e:?}"));
        assert_eq!(
            parse_rtp(&buf[..plain]).unwrap().payload[0],
            (i % 251) as u8
        );
    }
}

/// Forged packets with random SSRCs cost bounded state, never take the leg over, and
/// the genuine stream goes on; a new genuine SSRC takes over once the old one is
/// silent.
#[test]
fn strangers_ssrcs_never_take_over_and_a_new_stream_does_after_silence() {
    let (mut tx, mut rx) = pair(CryptoSuite::AesCm128HmacSha1_80, key(4), key(4));
    let mut genuine = RtpSender::new(0xAAAA, 1, 0, 0);
    let t0 = Instant::now();
    let (mut buf, n) = packet(&mut genuine, &[1; 160]);
    let sealed = tx.protect(&mut buf, n).unwrap();
    rx.unprotect(t0, &mut buf[..sealed]).unwrap();
    for i in 0..1_000u32 {
        let mut forged = RtpSender::new(i.wrapping_mul(2_654_435_761), 1, 0, 0);
        let (mut buf, n) = packet(&mut forged, &[2; 160]);
        assert_eq!(rx.unprotect(t0, &mut buf[..n + 10]), Err(Dropped::Auth));
        let (mut buf, n) = packet(&mut genuine, &[1; 160]);
        let sealed = tx.protect(&mut buf, n).unwrap();
        assert!(
            rx.unprotect(t0, &mut buf[..sealed]).is_ok(),
            "genuine packet {i}"
        );
    }
    assert!(rx.probe_failures < PROBE_LIMIT);
    // The peer starts a new stream (same key, new SSRC) while the old one still
    // talks: refused; after SSRC_TAKEOVER of silence: taken.
    let mut new_stream = RtpSender::new(0xBBBB, 500, 0, 0);
    let (mut b1, n1) = packet(&mut new_stream, &[3; 160]);
    let s1 = tx.protect(&mut b1, n1).unwrap();
    assert_eq!(rx.unprotect(t0, &mut b1[..s1]), Err(Dropped::Auth));
    let later = t0 + SSRC_TAKEOVER + Duration::from_millis(1);
    let (mut b2, n2) = packet(&mut new_stream, &[3; 160]);
    let s2 = tx.protect(&mut b2, n2).unwrap();
    assert!(rx.unprotect(later, &mut b2[..s2]).is_ok());
    // Now the old stream is the stranger.
    let (mut b3, n3) = packet(&mut genuine, &[1; 160]);
    let s3 = tx.protect(&mut b3, n3).unwrap();
    assert_eq!(rx.unprotect(later, &mut b3[..s3]), Err(Dropped::Auth));
}

#[test]
fn protect_needs_room_for_the_tag() {
    let (mut tx, _) = pair(CryptoSuite::AesCm128HmacSha1_80, key(1), key(1));
    let mut sender = RtpSender::new(7, 100, 1000, 0);
    let (mut buf, n) = packet(&mut sender, &[0x55; 160]);
    assert_eq!(tx.protect(&mut buf[..n + 9], n), None);
    assert_eq!(tx.protect(&mut buf[..n + 10], n), Some(n + 10));
}

#[test]
fn inline_keys_and_names() {
    let k = MasterKey::new(core::array::from_fn(|i| i as u8));
    let text = k.to_inline();
    assert_eq!(text.len(), 40);
    assert_eq!(MasterKey::from_inline(&text), Some(k.clone()));
    assert_eq!(
        MasterKey::from_inline(text.trim_end_matches('=')),
        Some(k.clone())
    );
    assert_eq!(MasterKey::from_inline("c2hvcnQ="), None, "too short");
    assert_eq!(MasterKey::from_inline("!!!"), None);
    assert_eq!(format!("{k:?}"), "MasterKey(…)", "keys never reach a log");
    assert_eq!(
        CryptoSuite::from_name("aes_cm_128_hmac_sha1_32"),
        Some(CryptoSuite::AesCm128HmacSha1_32)
    );
    assert_eq!(CryptoSuite::from_name("AES_256_CM_HMAC_SHA1_80"), None);
}

proptest::proptest! {
    /// Arbitrary datagrams never panic and never pass as SRTP.
    #[test]
    fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let (_, mut rx) = pair(CryptoSuite::AesCm128HmacSha1_80, key(1), key(1));
        let mut b = bytes.clone();
        proptest::prop_assert!(rx.unprotect(Instant::now(), &mut b).is_err());
    }
}
