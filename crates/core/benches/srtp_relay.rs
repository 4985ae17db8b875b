//! What SRTP adds to the bridge relay (issue 17), per packet and per call: one bridged
//! call's media sessions relay 200 000 packets A → B, plain RTP on both legs, then with
//! leg A SRTP (decrypt and authenticate what its phone sends), then with leg B SRTP
//! (encrypt and tag what goes out). Both suites. Single-threaded, in-process: the cost
//! of the sans-IO relay path only (sockets and the kernel are the same with or without
//! SRTP, see `benches/bridge_load.py` for those).
//!
//! Run: `cargo bench -p switchboard-core --bench srtp_relay`. Figures:
//! docs/performance.md ("SRTP in the relay").
#![allow(clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_core::media::session::MediaSession;
use switchboard_core::media::srtp::{CryptoSuite, MASTER_LEN, MasterKey, SrtpParams, SrtpStreams};
use switchboard_core::media::{LatchConfig, MediaParams, PromptSet, RtpSender};
use switchboard_core::sdp::Codec;

/// Packets per measurement under `cargo bench`; `cargo test --all-targets` runs this
/// binary too (without `--bench`), unoptimised: then a few thousand, as a smoke test.
fn packets() -> u32 {
    if std::env::args().any(|a| a == "--bench") {
        200_000
    } else {
        2_000
    }
}
const PEER_A: &str = "127.0.0.1:5000";

fn key(b: u8) -> MasterKey {
    MasterKey::new([b; MASTER_LEN])
}

fn params(peer: &str, srtp: Option<CryptoSuite>) -> MediaParams {
    MediaParams {
        remote: Some(peer.parse().expect("address")),
        codec: Codec::Pcmu,
        pt: 0,
        te_pt: Some(101),
        hold: false,
        srtp: srtp.map(|suite| SrtpParams {
            suite,
            local: key(1),
            remote: key(2),
        }),
    }
}

fn session(now: Instant, p: MediaParams, ssrc: u32) -> MediaSession {
    MediaSession::new(
        now,
        p,
        Arc::new(PromptSet::new()),
        Duration::ZERO,
        LatchConfig::default(),
        false,
        ssrc,
        1,
        1,
    )
}

/// Nanoseconds per relayed packet, A's phone → A → B → B's phone.
fn run(a_srtp: Option<CryptoSuite>, b_srtp: Option<CryptoSuite>) -> f64 {
    let count = packets();
    let t0 = Instant::now();
    let mut a = session(t0, params(PEER_A, a_srtp), 1);
    let mut b = session(t0, params("127.0.0.1:4000", b_srtp), 2);
    a.bridge(t0);
    b.bridge(t0);
    // What A's phone sends, prepared beforehand (its encryption is not ours to time).
    let mut phone = a_srtp.map(|suite| {
        SrtpStreams::new(&SrtpParams {
            suite,
            local: key(2),
            remote: key(1),
        })
        .expect("keys")
    });
    let mut sender = RtpSender::new(0xABCD, 1, 0, 0);
    let payload = [0x55u8; 160];
    let packets: Vec<Vec<u8>> = (0..count)
        .map(|_| {
            let mut buf = vec![0u8; 200];
            let mut n = sender.write_packet(&payload, 160, &mut buf).expect("room");
            if let Some(p) = &mut phone {
                n = p.protect(&mut buf, n).expect("room");
            }
            buf.truncate(n);
            buf
        })
        .collect();
    let from = PEER_A.parse().expect("address");
    let mut out = [0u8; 300];
    let mut relayed = 0u32;
    let start = Instant::now();
    for mut pkt in packets {
        if let Some(fwd) = a.handle_rtp(t0, from, &mut pkt)
            && b.relay_out(&fwd, &mut out).is_some()
        {
            relayed += 1;
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(relayed, count, "every packet relayed");
    elapsed.as_nanos() as f64 / f64::from(count)
}

fn main() {
    // Warm up caches and the CPU's clock.
    let _ = run(None, None);
    let plain = run(None, None);
    println!("plain RTP → plain RTP:            {plain:7.0} ns/packet");
    for suite in CryptoSuite::ALL {
        let rx = run(Some(suite), None);
        let tx = run(None, Some(suite));
        let both = run(Some(suite), Some(suite));
        println!("{suite}:");
        println!(
            "  SRTP → RTP (decrypt):           {rx:7.0} ns/packet (+{:.0})",
            rx - plain
        );
        println!(
            "  RTP → SRTP (encrypt):           {tx:7.0} ns/packet (+{:.0})",
            tx - plain
        );
        println!(
            "  SRTP → SRTP:                    {both:7.0} ns/packet (+{:.0})",
            both - plain
        );
        // A bridged call with one SRTP leg: 50 packets/s decrypted from that leg's
        // phone, 50 packets/s encrypted towards it.
        let per_call_us = (rx - plain + tx - plain) * 50.0 / 1000.0;
        println!(
            "  one SRTP leg per call: +{per_call_us:.1} µs CPU per second of call = {:.4} % of a core; \
             500 such calls: +{:.1} % of a core",
            per_call_us / 10_000.0,
            per_call_us * 500.0 / 10_000.0
        );
    }
}
