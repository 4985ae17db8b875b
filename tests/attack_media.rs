//! Issue 11 item 1, against the running router: an attacker on 127.0.0.2 (Linux
//! accepts any 127.0.0.0/8 source on loopback) sweeps the RTP port range with well
//! formed streams and RFC 4733 key presses, during IVR calls and during a bridged
//! call. Strict latching must leave every call's audio where it was: the attacker
//! receives nothing, presses nothing, and the callers keep hearing their stream.
mod common;

use std::collections::HashSet;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// What the attacker saw.
#[derive(Debug, Default)]
struct Sweep {
    sent: usize,
    /// Packets the router sent to the attacker (a redirected stream).
    received: usize,
}

/// After `delay`, sweeps every even port of the router's RTP range from 127.0.0.2 for
/// `length`: per port a continuous RTP stream (consecutive sequence numbers, one SSRC,
/// i.e. a complete learning run) interleaved with RFC 4733 "1" key presses, the way
/// a real injection would look. Then listens one more second.
fn attack(p: Ports, delay: Duration, length: Duration) -> JoinHandle<Sweep> {
    std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.2:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        std::thread::sleep(delay);
        let mut sweep = Sweep::default();
        let mut buf = [0u8; 2048];
        let mut seq: u16 = 1000;
        let start = Instant::now();
        let mut drain = |sweep: &mut Sweep| {
            while sock.recv(&mut buf).is_ok() {
                sweep.received += 1;
            }
        };
        while start.elapsed() < length {
            seq = seq.wrapping_add(1);
            for port in (p.rtp_low..=p.rtp_high).filter(|p| p.is_multiple_of(2)) {
                let ts = u32::from(seq) * 160;
                let audio = rtp(0, seq, ts, &[0x55; 160]);
                let _ = sock.send_to(&audio, ("127.0.0.1", port));
                if seq.is_multiple_of(5) {
                    // RFC 4733 event 1, end bit, 800 samples.
                    let ev = rtp(101, seq, ts, &[1, 0x8A, 0x03, 0x20]);
                    let _ = sock.send_to(&ev, ("127.0.0.1", port));
                }
                sweep.sent += 1;
            }
            drain(&mut sweep);
            std::thread::sleep(Duration::from_millis(20));
        }
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            drain(&mut sweep);
            std::thread::sleep(Duration::from_millis(20));
        }
        sweep
    })
}

fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut pkt = vec![0x80, pt];
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(&ts.to_be_bytes());
    pkt.extend_from_slice(&0xBAD0_BAD0u32.to_be_bytes());
    pkt.extend_from_slice(payload);
    pkt
}

/// A sipp caller in the background on the `i`-th phone port pair (so several can run
/// at once next to [`sipp`]): streams `audio` and hangs up after `hold_ms`.
fn background_caller(p: Ports, i: u16, audio: &std::path::Path, hold_ms: u32) -> Child {
    let (sip_port, media_port) = p.phone(i);
    let csv = std::env::temp_dir().join(format!("attack-media-{}-{i}.csv", std::process::id()));
    std::fs::write(&csv, "SEQUENTIAL\n5551234;1\n").unwrap();
    Command::new("timeout")
        .arg("40")
        .arg(require("sipp", "sip-tester"))
        .arg(format!("127.0.0.1:{}", p.sip))
        .arg("-sf")
        .arg(repo().join("tests/sipp/uac_listen_rtp.xml"))
        .args(["-t", "u1", "-i", "127.0.0.1", "-p"])
        .arg(sip_port.to_string())
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg(media_port.to_string())
        .args(["-s", "1000", "-m", "1", "-nostdin", "-timeout", "35s", "-d"])
        .arg(hold_ms.to_string())
        .arg("-inf")
        .arg(&csv)
        .arg("-key")
        .arg("caller_audio")
        .arg(format!("{},-1,0", audio.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The longest silence (seconds) in a captured stream between `from` and `to`
/// (capture-relative times).
fn longest_gap(pkts: &[RtpPacket], from: f64, to: f64) -> f64 {
    let times: Vec<f64> = pkts
        .iter()
        .map(|p| p.time)
        .filter(|t| (from..=to).contains(t))
        .collect();
    times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn a_port_sweep_during_ivr_calls_redirects_nothing_and_presses_no_key() {
    let _g = serial();
    let p = ports();
    let tmp = tempfile::tempdir().unwrap();
    let audio = ulaw_file(tmp.path(), "main_menu");
    let router = Router::start(p, "trunks = [\"127.0.0.1/32\"]", "");
    let others: Vec<Child> = (0..2)
        .map(|i| background_caller(p, i, &audio, 6000))
        .collect();
    let cap = Capture::start(p.sipp_media);
    // The calls are up and latched after ~1 s; the sweep runs 2 s within them.
    let attacker = attack(p, Duration::from_millis(1500), Duration::from_secs(2));
    let res = sipp(
        p,
        "uac_listen_rtp.xml",
        "u1",
        &[
            "-d",
            "6000",
            "-key",
            "caller_audio",
            &format!("{},-1,0", audio.display()),
        ],
    );
    let sweep = attacker.join().unwrap();
    let pkts = cap.finish();
    for mut c in others {
        assert!(c.wait().unwrap().success(), "a background caller failed");
    }
    res.assert_ok(&router);
    let metrics = http_get(p, "/metrics");
    let log = router.log();
    println!("sweep: {sweep:?}");
    assert!(sweep.sent > 500, "the sweep ran: {sweep:?}");
    assert_eq!(
        sweep.received, 0,
        "a call's stream was redirected to the attacker"
    );
    assert!(
        !log.contains("caller pressed"),
        "the attacker's RFC 4733 events pressed a key:\n{log}"
    );
    assert!(!log.contains("re-latched"), "{log}");
    // The caller heard an unbroken stream through the sweep.
    assert_paced_stream(&pkts, 0);
    let first = pkts[0].time;
    let gap = longest_gap(&pkts, first, first + 5.0);
    assert!(gap < 0.3, "the caller's stream broke for {gap:.2} s");
    // Three of the range's ports had a call: their share of the sweep was dropped and
    // counted (the rest hit closed ports).
    let dropped = metric(&metrics, "switchboard_rtp_foreign_dropped_total");
    assert!(
        dropped as usize >= sweep.sent * 3 / 20 / 2,
        "dropped {dropped} of {} injected packets:\n{metrics}",
        sweep.sent
    );
}

fn frames(file: &std::path::Path) -> HashSet<Vec<u8>> {
    std::fs::read(file)
        .unwrap()
        .chunks_exact(160)
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn injected_rtp_during_a_bridged_call_reaches_nobody_and_hears_nothing() {
    let _g = serial();
    let p = ports();
    let tmp = tempfile::tempdir().unwrap();
    let caller_audio = ulaw_file(tmp.path(), "main_menu");
    let phone_audio = ulaw_file(tmp.path(), "support_menu");
    let phone = Phone::start(
        p,
        0,
        "uas_answer.xml",
        &[
            "-d",
            "300",
            "-key",
            "phone_audio",
            &format!("{},-1,0", phone_audio.display()),
        ],
    );
    let plan = format!(
        "[[numbers]]\nnumber = \"2000\"\nsource = \"ads\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [\"andrew\"]\n\
         [managers.andrew]\nextension = \"101\"\ncontact = \"{}\"\n",
        phone.contact()
    );
    let router = Router::start(p, "trunks = [\"127.0.0.1/32\"]", &plan);
    let to_caller = Capture::start(p.sipp_media);
    let to_phone = Capture::start(phone.media_port);
    // Bridged after ~1 s; the attacker streams into every port for 3 s of the call.
    let attacker = attack(p, Duration::from_millis(2500), Duration::from_secs(3));
    let res = sipp(
        p,
        "uac_listen_rtp.xml",
        "u1",
        &[
            "-s",
            "2000",
            "-d",
            "7000",
            "-key",
            "caller_audio",
            &format!("{},-1,0", caller_audio.display()),
        ],
    );
    let sweep = attacker.join().unwrap();
    res.assert_ok(&router);
    phone.wait().assert_ok(&router);
    let at_caller = to_caller.finish();
    let at_phone = to_phone.finish();
    let log = router.log();
    assert!(log.contains("andrew answered after"), "{log}");
    println!("sweep: {sweep:?}");
    assert!(sweep.sent > 500, "the sweep ran: {sweep:?}");
    assert_eq!(
        sweep.received, 0,
        "the attacker received the call's audio (the manager's voice)"
    );
    // Neither side heard the attacker's 0x55 frames, and both kept hearing the other.
    let injected = vec![0x55u8; 160];
    assert!(at_caller.iter().all(|p| p.payload != injected));
    assert!(at_phone.iter().all(|p| p.payload != injected));
    let phone_frames = frames(&phone_audio);
    let from_phone = at_caller
        .iter()
        .filter(|p| phone_frames.contains(&p.payload))
        .count();
    assert!(
        from_phone > 150,
        "the caller heard {from_phone} frames of the phone"
    );
    let caller_frames = frames(&caller_audio);
    let from_caller = at_phone
        .iter()
        .filter(|p| caller_frames.contains(&p.payload))
        .count();
    assert!(
        from_caller > 150,
        "the phone heard {from_caller} frames of the caller"
    );
}
