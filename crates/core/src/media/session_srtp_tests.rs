//! Media sessions over SRTP (issue 17): the relay between an SRTP leg and a plain leg
//! and between two SRTP legs (decrypt, re-encrypt with the other leg's key), packets
//! that must never reach the other leg (tampered, replayed, another key), and prompts,
//! DTMF and recording on an SRTP leg exactly as on plain RTP.

use super::*;
use crate::media::srtp::{CryptoSuite, MASTER_LEN, MasterKey, SrtpParams, SrtpStreams};

const PEER_A: &str = "127.0.0.1:5000";
const PEER_B: &str = "127.0.0.1:4000";

fn key(b: u8) -> MasterKey {
    MasterKey::new([b; MASTER_LEN])
}

/// A leg towards `peer`, plain when `srtp` is `None`; SRTP keys: ours `ours`, the
/// peer's `theirs`.
fn leg(t0: Instant, peer: &str, srtp: Option<(CryptoSuite, u8, u8)>, ssrc: u32) -> MediaSession {
    let mut set = PromptSet::new();
    set.insert(crate::media::Prompt::from_pcm("hello", vec![1000; 160 * 3]));
    let params = MediaParams {
        remote: Some(peer.parse().unwrap()),
        codec: Codec::Pcmu,
        pt: 0,
        te_pt: Some(101),
        hold: false,
        srtp: srtp.map(|(suite, ours, theirs)| SrtpParams {
            suite,
            local: key(ours),
            remote: key(theirs),
        }),
    };
    MediaSession::new(
        t0,
        params,
        Arc::new(set),
        Duration::ZERO,
        LatchConfig::default(),
        false,
        ssrc,
        100,
        1000,
    )
}

/// The phone at the other end of an SRTP leg: it protects with `theirs` and reads what
/// we protect with `ours`.
fn phone(suite: CryptoSuite, ours: u8, theirs: u8) -> SrtpStreams {
    SrtpStreams::new(&SrtpParams {
        suite,
        local: key(theirs),
        remote: key(ours),
    })
    .unwrap()
}

fn rtp(pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
    rtp_at(pt, seq, u32::from(seq) * 160, payload)
}

fn rtp_at(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut s = crate::media::RtpSender::new(0xABCD, seq, ts, pt);
    let mut buf = vec![0u8; 12 + payload.len() + 16];
    let n = s.write_packet(payload, 160, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// `rtp(...)` protected by `phone`.
fn srtp(phone: &mut SrtpStreams, pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
    seal(phone, rtp(pt, seq, payload))
}

fn seal(phone: &mut SrtpStreams, mut buf: Vec<u8>) -> Vec<u8> {
    let n = buf.len();
    buf.resize(n + 16, 0);
    let n = phone.protect(&mut buf, n).unwrap();
    buf.truncate(n);
    buf
}

fn speech(i: u16) -> Vec<u8> {
    (0..160u16).map(|j| (i.wrapping_mul(7) + j) as u8).collect()
}

#[test]
fn srtp_to_plain_and_back_decrypts_and_encrypts() {
    let t0 = Instant::now();
    let suite = CryptoSuite::AesCm128HmacSha1_80;
    let mut a = leg(t0, PEER_A, Some((suite, 0x11, 0x22)), 1);
    let mut b = leg(t0, PEER_B, None, 2);
    let mut phone_a = phone(suite, 0x11, 0x22);
    a.bridge(t0);
    b.bridge(t0);
    let mut out = [0u8; 400];
    for i in 0..5u16 {
        // The SRTP phone speaks: the plain phone hears the same bytes, in clear.
        let mut pkt = srtp(&mut phone_a, 0, 500 + i, &speech(i));
        let fwd = a
            .handle_rtp(t0, PEER_A.parse().unwrap(), &mut pkt)
            .expect("authentic: forwarded");
        let (dest, n) = b.relay_out(&fwd, &mut out).unwrap();
        assert_eq!(dest, PEER_B.parse().unwrap());
        let v = crate::media::rtp::parse_rtp(&out[..n]).unwrap();
        assert_eq!(v.payload, speech(i).as_slice());
        // The plain phone speaks: the SRTP phone can authenticate and decrypt it.
        let mut pkt = rtp(0, 900 + i, &speech(i + 50));
        let fwd = b.handle_rtp(t0, PEER_B.parse().unwrap(), &mut pkt).unwrap();
        let (dest, n) = a.relay_out(&fwd, &mut out).unwrap();
        assert_eq!(dest, PEER_A.parse().unwrap());
        assert_eq!(n, 12 + 160 + suite.tag_len(), "header + payload + tag");
        assert_ne!(
            &out[12..172],
            speech(i + 50).as_slice(),
            "encrypted on the wire"
        );
        let len = phone_a.unprotect(t0, &mut out[..n]).unwrap();
        let v = crate::media::rtp::parse_rtp(&out[..len]).unwrap();
        assert_eq!(v.payload, speech(i + 50).as_slice());
    }
    assert_eq!(a.take_srtp_drops(), SrtpDrops::default());
}

#[test]
fn srtp_to_srtp_re_encrypts_with_the_other_legs_key_and_suite() {
    let t0 = Instant::now();
    let (s80, s32) = (
        CryptoSuite::AesCm128HmacSha1_80,
        CryptoSuite::AesCm128HmacSha1_32,
    );
    let mut a = leg(t0, PEER_A, Some((s80, 0x11, 0x22)), 1);
    let mut b = leg(t0, PEER_B, Some((s32, 0x33, 0x44)), 2);
    let mut phone_a = phone(s80, 0x11, 0x22);
    let mut phone_b = phone(s32, 0x33, 0x44);
    a.bridge(t0);
    b.bridge(t0);
    let mut out = [0u8; 400];
    for i in 0..5u16 {
        let mut pkt = srtp(&mut phone_a, 0, 10 + i, &speech(i));
        let fwd = a.handle_rtp(t0, PEER_A.parse().unwrap(), &mut pkt).unwrap();
        let (_, n) = b.relay_out(&fwd, &mut out).unwrap();
        assert_eq!(n, 12 + 160 + s32.tag_len());
        // A's key does not open it: it was re-encrypted for B.
        let mut copy = out[..n].to_vec();
        assert!(phone(s32, 0x11, 0x22).unprotect(t0, &mut copy).is_err());
        let len = phone_b.unprotect(t0, &mut out[..n]).unwrap();
        assert_eq!(
            crate::media::rtp::parse_rtp(&out[..len]).unwrap().payload,
            speech(i).as_slice()
        );
        let mut pkt = srtp(&mut phone_b, 0, 70 + i, &speech(i + 9));
        let fwd = b.handle_rtp(t0, PEER_B.parse().unwrap(), &mut pkt).unwrap();
        let (_, n) = a.relay_out(&fwd, &mut out).unwrap();
        let len = phone_a.unprotect(t0, &mut out[..n]).unwrap();
        assert_eq!(
            crate::media::rtp::parse_rtp(&out[..len]).unwrap().payload,
            speech(i + 9).as_slice()
        );
    }
}

#[test]
fn tampered_replayed_and_wrongly_keyed_packets_never_reach_the_other_leg() {
    let t0 = Instant::now();
    let suite = CryptoSuite::AesCm128HmacSha1_80;
    let mut a = leg(t0, PEER_A, Some((suite, 0x11, 0x22)), 1);
    let mut b = leg(t0, PEER_B, None, 2);
    let mut phone_a = phone(suite, 0x11, 0x22);
    a.bridge(t0);
    b.bridge(t0);
    let from: SocketAddr = PEER_A.parse().unwrap();
    // A good packet first: the stream is established and latched.
    let mut good = srtp(&mut phone_a, 0, 1, &speech(1));
    let replay = good.clone();
    assert!(a.handle_rtp(t0, from, &mut good).is_some());
    // Tampered: one payload bit flipped.
    let mut tampered = srtp(&mut phone_a, 0, 2, &speech(2));
    tampered[20] ^= 0x01;
    assert!(a.handle_rtp(t0, from, &mut tampered).is_none());
    // Replayed: the first packet again, byte for byte.
    let mut again = replay.clone();
    assert!(a.handle_rtp(t0, from, &mut again).is_none());
    // Another key (a phone that got the wrong a=crypto): never relayed as noise.
    let mut stranger = phone(suite, 0x11, 0x99);
    for i in 0..20u16 {
        let mut pkt = srtp(&mut stranger, 0, 3 + i, &speech(i));
        assert!(a.handle_rtp(t0, from, &mut pkt).is_none());
    }
    // Plain RTP on an SRTP leg, and garbage.
    let mut plain = rtp(0, 40, &speech(40));
    assert!(a.handle_rtp(t0, from, &mut plain).is_none());
    let mut short = vec![0x80, 0x00, 0x01];
    assert!(a.handle_rtp(t0, from, &mut short).is_none());
    let drops = a.take_srtp_drops();
    assert_eq!(
        drops.auth,
        1 + 20 + 1,
        "tampered, wrong key, plain: {drops:?}"
    );
    assert_eq!(drops.replay, 1, "{drops:?}");
    assert_eq!(drops.malformed, 1, "{drops:?}");
    assert_eq!(a.take_srtp_drops(), SrtpDrops::default(), "taken once");
    // The same forgeries from an address the stream cannot come from are a stranger's:
    // counted as foreign packets, not as failed SRTP (no key problem to look for).
    let _ = a.take_latch_stats();
    let elsewhere: SocketAddr = "203.0.113.66:40000".parse().unwrap();
    for i in 0..5u16 {
        let mut pkt = srtp(&mut stranger, 0, 30 + i, &speech(i));
        assert!(a.handle_rtp(t0, elsewhere, &mut pkt).is_none());
    }
    assert_eq!(a.take_srtp_drops(), SrtpDrops::default());
    assert_eq!(a.take_latch_stats().0, 5);
    // The real phone still gets through afterwards.
    let mut next = srtp(&mut phone_a, 0, 3, &speech(3));
    let fwd = a
        .handle_rtp(t0, from, &mut next)
        .expect("the genuine stream continues");
    let mut out = [0u8; 400];
    assert!(b.relay_out(&fwd, &mut out).is_some());
}

#[test]
fn prompts_digits_and_recordings_work_on_an_srtp_leg() {
    let t0 = Instant::now();
    let suite = CryptoSuite::AesCm128HmacSha1_32;
    let mut a = leg(t0, PEER_A, Some((suite, 0x11, 0x22)), 1);
    let mut phone_a = phone(suite, 0x11, 0x22);
    // A prompt goes out as SRTP the phone can read.
    a.play(t0, 1, &["hello".into()], Duration::ZERO);
    let mut buf = [0u8; 400];
    let mut heard = 0;
    for i in 0..3u32 {
        let (dest, n) = a.poll_transmit(t0 + PTIME * i, &mut buf).unwrap();
        assert_eq!(dest, PEER_A.parse().unwrap());
        assert_eq!(n, 12 + 160 + suite.tag_len());
        let len = phone_a.unprotect(t0, &mut buf[..n]).unwrap();
        let v = crate::media::rtp::parse_rtp(&buf[..len]).unwrap();
        assert_eq!(v.payload_type, 0);
        heard += 1;
    }
    assert_eq!(heard, 3);
    // An RFC 4733 digit inside SRTP is a digit.
    let from: SocketAddr = PEER_A.parse().unwrap();
    for (seq, end) in [(1u16, false), (2, true), (3, true)] {
        let ev = [5u8, if end { 0x80 } else { 0 } | 10, 0x03, 0x20];
        // The three packets of one event share a timestamp.
        let mut pkt = seal(&mut phone_a, rtp_at(101, seq, 8000, &ev));
        let _ = a.handle_rtp(t0, from, &mut pkt);
    }
    let mut digits = Vec::new();
    while let Some(ev) = a.poll_event() {
        if let MediaEvent::Digit { digit, .. } = ev {
            digits.push(digit);
        }
    }
    assert_eq!(digits, vec!['5']);
    // Recording decodes what the SRTP peer says.
    a.start_recording(
        t0,
        9,
        PathBuf::from("/tmp/x.wav"),
        Duration::from_secs(60),
        Duration::from_secs(30),
        "",
    );
    for i in 0..60u16 {
        let mut pkt = srtp(&mut phone_a, 0, 10 + i, &[0x20; 160]);
        let _ = a.handle_rtp(t0 + PTIME * u32::from(i), from, &mut pkt);
    }
    a.stop_recording(t0 + Duration::from_secs(2));
    let mut samples = 0;
    let mut loud = false;
    while let Some(out) = a.poll_record() {
        if let RecordOutput::Audio { samples: s, .. } = out {
            samples += s.len();
            loud |= s.iter().any(|x| x.unsigned_abs() > 1000);
        }
    }
    assert!(samples >= 160 * 50, "recorded {samples} samples");
    assert!(
        loud,
        "the recording holds the decrypted audio, not noise or silence"
    );
    assert_eq!(a.take_srtp_drops(), SrtpDrops::default());
}
