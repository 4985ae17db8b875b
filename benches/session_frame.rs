//! What one paced frame costs in user space, without the kernel: the pacer's per-frame
//! visit of a prompt-playing session (lock, `poll_transmit`, deadline, events), against
//! re-sending a frame kept per call (the least a pacer that keeps each stream's sending
//! state apart would do), with the caches warm and with them emptied between ticks, as
//! the kernel's and the other calls' work empties them in the router.
//!
//! ```text
//! cargo bench --bench session_frame -- [--streams N] [--ticks T]
//! ```
//!
//! Prints nanoseconds per frame for each case, and what that is at 50 frames/s per
//! stream as a share of one core. See `docs/performance.md` (issue 16).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_core::media::codec::Codec;
use switchboard_core::media::session::MediaSession;
use switchboard_core::media::{LatchConfig, MediaParams, Prompt, PromptSet};

const PTIME: Duration = Duration::from_millis(20);
/// More than the machine's L2 (4 MiB per core here): touching it between ticks leaves
/// the sessions as cold as 20 ms of other work leaves them in the router.
const EVICT_BYTES: usize = 16 << 20;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `streams` sessions playing one 30 s prompt, each at its own position in it.
fn sessions(streams: usize, t0: Instant) -> Vec<Arc<Mutex<MediaSession>>> {
    let pcm: Vec<i16> = (0..8000 * 30)
        .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
        .collect();
    let mut set = PromptSet::new();
    set.insert(Prompt::from_pcm("menu", pcm));
    let set = Arc::new(set);
    let mut buf = [0u8; 1500];
    (0..streams)
        .map(|i| {
            let params = MediaParams {
                remote: Some(SocketAddr::from(([127, 0, 0, 1], 40_000 + i as u16))),
                codec: Codec::Pcmu,
                pt: 0,
                te_pt: Some(101),
                hold: false,
                srtp: None,
            };
            let mut s = MediaSession::new(
                t0,
                params,
                set.clone(),
                Duration::from_secs(3600),
                LatchConfig::default(),
                false,
                i as u32,
                0,
                0,
            );
            s.play(t0, 1, &["menu".to_string()], Duration::ZERO);
            // Each call at its own place in the prompt, as in the router.
            for n in 0..(i % 1400) as u32 {
                let _ = s.poll_transmit(t0 + PTIME * n, &mut buf);
            }
            Arc::new(Mutex::new(s))
        })
        .collect()
}

/// Nanoseconds per frame over `ticks` ticks of 20 ms (virtual time), each visiting
/// every stream once; `evict` empties the caches between ticks (not timed).
fn run(streams: usize, ticks: usize, evict: bool, cached: bool) -> f64 {
    let t0 = Instant::now();
    let list = sessions(streams, t0);
    let mut frames: Vec<Vec<u8>> = vec![vec![0x80; 172]; streams];
    let mut outbox = vec![0u8; streams * 200];
    let mut junk = vec![0u8; EVICT_BYTES];
    let mut busy = Duration::ZERO;
    let mut sent = 0u64;
    let mut due: Vec<Instant> = vec![t0; streams];
    for tick in 0..ticks {
        if evict {
            for (i, b) in junk.iter_mut().enumerate().step_by(64) {
                *b = b.wrapping_add(i as u8);
            }
        }
        let now = t0 + PTIME * (1400 + tick as u32);
        let start = Instant::now();
        let mut used = 0;
        for (i, slot) in list.iter().enumerate() {
            let Some(room) = outbox.get_mut(used..used + 200) else {
                break;
            };
            if cached {
                // The least a pacer with each stream's sending state apart does.
                let f = &mut frames[i];
                let seq = u16::from_be_bytes([f[2], f[3]]).wrapping_add(1);
                f[2..4].copy_from_slice(&seq.to_be_bytes());
                room[..172].copy_from_slice(f);
                used += 172;
                due[i] += PTIME;
                sent += 1;
                continue;
            }
            let Ok(mut s) = slot.lock() else { continue };
            // One frame per stream per tick, as in the router's steady state.
            if let Some((_, len)) = s.poll_transmit(now, room) {
                used += len;
                sent += 1;
            }
            due[i] = s.next_deadline();
            while s.poll_event().is_some() {}
            while s.poll_record().is_some() {}
            while s.poll_released_digit().is_some() {}
        }
        busy += start.elapsed();
        std::hint::black_box(&outbox);
    }
    std::hint::black_box((&junk, &due));
    busy.as_nanos() as f64 / sent.max(1) as f64
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench` (which `cargo bench`
    // passes): a smoke run only, so the tests stay fast in a debug build.
    if !std::env::args().any(|a| a == "--bench") {
        for (evict, cached) in [(false, false), (false, true)] {
            assert!(run(4, 3, evict, cached) > 0.0);
        }
        println!("session_frame: smoke run only (use cargo bench)");
        return;
    }
    let streams = arg("--streams", 500);
    let ticks = arg("--ticks", 2000);
    println!("{streams} prompt streams, {ticks} ticks of 20 ms (virtual), one frame each");
    for (name, evict, cached) in [
        ("session visit, caches warm", false, false),
        ("session visit, caches emptied each tick", true, false),
        ("frame kept per call, caches warm", false, true),
        ("frame kept per call, caches emptied each tick", true, true),
    ] {
        let ns = run(streams, ticks, evict, cached);
        // 50 frames/s per stream.
        let core = ns * 50.0 * streams as f64 / 1e9 * 100.0;
        println!("{name:<48} {ns:>7.0} ns/frame  = {core:.2} % of one core at {streams} streams");
    }
}
