//! The media plane on real loopback sockets: pacing, relay, latching, recording.

use super::*;
use crate::call::{DigitSource, MediaParams};
use crate::media::rtp::{RtpSender, parse_rtp};
use crate::sdp::Codec;
use std::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;

/// Generous: CI machines are slow, but a passing run returns as soon as it can.
const PATIENCE: Duration = Duration::from_secs(2);

/// A decoded packet as a peer received it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

struct Leg {
    call: CallKey,
    /// Our RTP port for this leg.
    port: SocketAddr,
    /// The phone at the other end.
    peer: UdpSocket,
    /// The phone's own outgoing stream.
    stream: RtpSender,
}

impl Leg {
    fn send(&mut self, payload: &[u8]) {
        let mut buf = [0u8; 400];
        let n = self.stream.write_packet(payload, 160, &mut buf).unwrap();
        self.peer.send_to(&buf[..n], self.port).unwrap();
    }

    fn send_event(&mut self, pt: u8, event: [u8; 4]) {
        let (old_pt, mut buf) = (self.stream.pt, [0u8; 64]);
        self.stream.pt = pt;
        let n = self.stream.write_packet(&event, 0, &mut buf).unwrap();
        self.stream.pt = old_pt;
        self.peer.send_to(&buf[..n], self.port).unwrap();
    }

    /// Reads packets until one matches `want`; returns everything read before it
    /// and the match.
    fn recv_until(&self, want: impl Fn(&Got) -> bool) -> (Vec<Got>, Got) {
        let deadline = Instant::now() + PATIENCE;
        let mut before = Vec::new();
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            let Ok(n) = self.peer.recv(&mut buf) else {
                continue; // read timeout: poll again until the deadline
            };
            let v = parse_rtp(&buf[..n]).unwrap();
            let got = Got {
                pt: v.payload_type,
                marker: v.marker,
                seq: v.seq,
                ts: v.timestamp,
                ssrc: v.ssrc,
                payload: v.payload.to_vec(),
            };
            if want(&got) {
                return (before, got);
            }
            before.push(got);
        }
        panic!("no matching packet within {PATIENCE:?}; got {before:?}");
    }

    /// Drops whatever has arrived so far.
    fn drain(&self) {
        self.peer.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 2048];
        while self.peer.recv(&mut buf).is_ok() {}
        self.peer.set_nonblocking(false).unwrap();
    }
}

fn plane() -> (MediaPlane, UnboundedReceiver<(CallKey, MediaEvent)>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let plane = MediaPlane::start(
        ip,
        Arc::new(PromptSet::new()),
        Duration::ZERO,
        LatchConfig::default(),
        tx,
    )
    .unwrap();
    (plane, rx)
}

/// Opens a leg on an ephemeral port of ours, towards a fresh loopback peer.
fn open(plane: &mut MediaPlane, call: u64, codec: Codec, te_pt: Option<u8>) -> Leg {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let call = CallKey(call);
    let pt = match codec {
        Codec::Pcmu => 0,
        Codec::Pcma => 8,
    };
    let params = MediaParams {
        remote: Some(peer.local_addr().unwrap()),
        codec,
        pt,
        te_pt,
        hold: false,
        srtp: None,
    };
    let ssrc = 0x1000 + u32::try_from(call.0).unwrap();
    plane.handle_command(
        Instant::now(),
        MediaCommand::Open {
            call,
            port: 0,
            params,
            inband_dtmf: false,
            ssrc,
            seq: 65_000, // wraps during the test
            ts: u32::MAX - 1000,
        },
    );
    let port = plane.slots[&call].socket.local_addr().unwrap();
    // The phone's stream: its own SSRC, sequence and timestamp.
    let stream = RtpSender::new(0xF000 + ssrc, 30_000, 1_000_000, pt);
    Leg {
        call,
        port,
        peer,
        stream,
    }
}

fn ours(leg: &Leg) -> u32 {
    0x1000 + u32::try_from(leg.call.0).unwrap()
}

/// A recognisable μ-law payload and its A-law transcoding (G.711 tables 3/4).
const ULAW: [u8; 4] = [0x00, 0x80, 0xFF, 0x7F];
const ALAW: [u8; 4] = [0x2A, 0xAA, 0xD5, 0x55];

fn pattern(bytes: [u8; 4]) -> Vec<u8> {
    bytes.iter().copied().cycle().take(160).collect()
}

async fn next_event(rx: &mut UnboundedReceiver<(CallKey, MediaEvent)>) -> (CallKey, MediaEvent) {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_transcodes_both_ways_and_unbridge_resumes_paced_frames() {
    let (mut plane, mut events) = plane();
    let mut a = open(&mut plane, 1, Codec::Pcmu, Some(101));
    let mut b = open(&mut plane, 2, Codec::Pcma, Some(96));
    // Both phones hear our comfort silence first.
    let (_, silence) = b.recv_until(|g| g.ssrc == ours(&b) && g.pt == 8);
    a.recv_until(|g| g.ssrc == ours(&a) && g.pt == 0);

    plane.handle_command(
        Instant::now(),
        MediaCommand::Bridge {
            a: a.call,
            b: b.call,
        },
    );
    for _ in 0..5 {
        a.send(&pattern(ULAW));
    }
    let relayed = pattern(ALAW);
    let (paced, first) = b.recv_until(|g| g.payload == relayed);
    let last_paced = paced.last().unwrap_or(&silence);
    assert!(paced.iter().all(|g| g.payload.iter().all(|&x| x == 0xD5)));
    assert_eq!((first.ssrc, first.pt), (ours(&b), 8), "B's own SSRC and PT");
    assert_eq!(
        first.seq,
        last_paced.seq.wrapping_add(1),
        "sequence continues"
    );
    assert_eq!(
        first.ts,
        last_paced.ts.wrapping_add(160),
        "timestamp continues"
    );
    assert!(first.marker);
    let mut seq = first.seq;
    for _ in 1..5 {
        let (between, g) = b.recv_until(|g| g.payload == relayed);
        assert!(
            between.is_empty(),
            "no paced frames while bridged: {between:?}"
        );
        seq = seq.wrapping_add(1);
        assert_eq!((g.seq, g.ssrc, g.marker), (seq, ours(&b), false));
    }

    // The other way, with a digit: reported to the call layer and forwarded with
    // A's telephone-event payload type.
    b.send(&pattern(ALAW));
    b.send_event(96, [5, 0x8A, 0x03, 0x20]);
    // A→μ: G.711 keeps bits 1-7, so the two zeros come back as ±1 step (0xFE, 0x7E).
    let (_, g) = a.recv_until(|g| g.pt == 0 && g.payload == pattern([0x00, 0x80, 0xFE, 0x7E]));
    assert_eq!(g.ssrc, ours(&a));
    let (_, ev) = a.recv_until(|g| g.pt == 101);
    assert_eq!(ev.payload, vec![5, 0x8A, 0x03, 0x20]);
    assert_eq!(ev.seq, g.seq.wrapping_add(1));
    let (call, event) = next_event(&mut events).await;
    assert_eq!(call, b.call);
    assert_eq!(
        event,
        MediaEvent::Digit {
            digit: '5',
            source: DigitSource::Rfc4733
        }
    );

    // Unbridge: B's phone hears paced silence again, continuing the relayed stream,
    // and what A's phone sends no longer reaches it.
    plane.handle_command(Instant::now(), MediaCommand::Unbridge { call: a.call });
    b.drain();
    a.send(&pattern(ULAW));
    let (_, resumed) = b.recv_until(|g| g.payload.iter().all(|&x| x == 0xD5));
    assert_eq!(resumed.ssrc, ours(&b));
    assert!(
        resumed.seq.wrapping_sub(seq) >= 1 && resumed.seq.wrapping_sub(seq) < 100,
        "paced frames continue the stream: {} after {seq}",
        resumed.seq
    );
    for _ in 0..5 {
        let (before, _) = b.recv_until(|g| g.payload.iter().all(|&x| x == 0xD5));
        assert!(before.is_empty(), "relay stopped, got {before:?}");
    }
}

/// Issue 11 item 1, on real sockets: a stranger on 127.0.0.2 streaming a well
/// formed stream gets nothing and is counted; the peer moving to a new address
/// (NAT rebinding) with the same SSRC and sequence is followed once its old address
/// has been silent for `relatch_after`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_get_nothing_and_a_rebound_peer_is_followed() {
    let (tx, _events) = tokio::sync::mpsc::unbounded_channel();
    let mut plane = MediaPlane::start(
        "127.0.0.1".parse().unwrap(),
        Arc::new(PromptSet::new()),
        Duration::ZERO,
        LatchConfig {
            relatch_after: Duration::from_millis(300),
            ..LatchConfig::default()
        },
        tx,
    )
    .unwrap();
    let mut leg = open(&mut plane, 9, Codec::Pcmu, Some(101));
    leg.send(&pattern(ULAW));
    leg.recv_until(|g| g.ssrc == ours(&leg));

    let evil = UdpSocket::bind("127.0.0.2:0").unwrap();
    evil.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut evil_stream = RtpSender::new(0xBAD, 1, 1, 0);
    let mut buf = [0u8; 400];
    for _ in 0..50 {
        let n = evil_stream
            .write_packet(&pattern(ULAW), 160, &mut buf)
            .unwrap();
        evil.send_to(&buf[..n], leg.port).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        assert!(
            evil.recv(&mut buf).is_err(),
            "the stranger received our stream"
        );
    }
    // The stream still goes to the peer.
    leg.drain();
    leg.recv_until(|g| g.ssrc == ours(&leg));

    // The phone's NAT mapping changes: same stream, new address. Dropped until the
    // old address has been silent for 300 ms, then followed.
    let moved = UdpSocket::bind("127.0.0.3:0").unwrap();
    moved
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    for _ in 0..5 {
        leg.send(&pattern(ULAW));
        std::thread::sleep(Duration::from_millis(20));
    }
    let start = Instant::now();
    let mut followed = None;
    while start.elapsed() < PATIENCE * 2 {
        let n = leg
            .stream
            .write_packet(&pattern(ULAW), 160, &mut buf)
            .unwrap();
        moved.send_to(&buf[..n], leg.port).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let mut got = [0u8; 400];
        if let Ok(n) = moved.recv(&mut got) {
            let v = parse_rtp(&got[..n]).unwrap();
            assert_eq!(v.ssrc, ours(&leg));
            followed = Some(start.elapsed());
            break;
        }
    }
    let after = followed.expect("the rebound peer never received our stream");
    assert!(
        after >= Duration::from_millis(250),
        "re-latched after {after:?}, before the old address was silent for 300 ms"
    );
    // And the stranger, with the wrong SSRC, still gets nothing.
    for _ in 0..20 {
        let n = evil_stream
            .write_packet(&pattern(ULAW), 160, &mut buf)
            .unwrap();
        evil.send_to(&buf[..n], leg.port).unwrap();
    }
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        assert!(
            evil.recv(&mut buf).is_err(),
            "the stranger received our stream"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_law_is_byte_identical_and_close_unlinks_the_partner() {
    let (mut plane, _events) = plane();
    let mut a = open(&mut plane, 3, Codec::Pcmu, None);
    let b = open(&mut plane, 4, Codec::Pcmu, Some(101));
    b.recv_until(|g| g.ssrc == ours(&b));
    plane.handle_command(
        Instant::now(),
        MediaCommand::Bridge {
            a: a.call,
            b: b.call,
        },
    );
    let payload: Vec<u8> = (0..160u8).map(|i| i.wrapping_mul(37)).collect();
    a.send(&payload);
    a.send(&[0x40]); // comfort noise would be PT 13: check a wrong PT is dropped
    a.stream.pt = 13;
    a.send(&[0x40]);
    a.stream.pt = 0;
    a.send(&payload);
    let (_, g) = b.recv_until(|g| g.payload == payload);
    assert_eq!((g.ssrc, g.pt), (ours(&b), 0));
    let (between, g2) = b.recv_until(|g| g.payload == payload);
    // The 1-byte PT 0 packet is audio and relayed; the PT 13 one is dropped, and
    // its sequence number is a gap, as for a packet lost upstream.
    assert_eq!(between.len(), 1);
    assert_eq!(between[0].payload, vec![0x40]);
    assert_eq!(g2.seq, g.seq.wrapping_add(3));

    // Closing A while bridged: B goes back to its own paced frames.
    plane.handle_command(Instant::now(), MediaCommand::Close { call: a.call });
    assert!(plane.bridges.is_empty());
    assert_eq!(plane.active(), 1);
    b.recv_until(|g| g.ssrc == ours(&b) && g.payload.iter().all(|&x| x == 0xFF));
    assert!(plane.slots[&b.call].partner.load().is_none());
}
