//! Harness for real-peer tests: starts the `switchboard` binary on loopback ports,
//! runs sipp scenarios against it and captures RTP with tshark.
//!
//! These tests never skip: a missing sipp or tshark is a failure with the install
//! command in the message, because a green run without real peers proves nothing.
#![allow(dead_code)]

pub mod netns;
pub mod pg;
mod sipp;

pub use sipp::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Every call waits in a menu for ten minutes: only the caller, a stop or a timer
/// ends it (the prompt does not matter).
pub const WAITING_PLAN: &str = r#"
[[numbers]]
number = "*"
source = "main"
action = "menu:main"

[menus.main]
prompt = "main_menu"
options = { "1" = "hangup" }
timeout_secs = 600
"#;

/// Real-peer tests run one at a time: they measure packet rates and share 2 cores.
static SERIAL: Mutex<()> = Mutex::new(());
static NEXT_SLOT: AtomicU16 = AtomicU16::new(0);

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn require(tool: &str, package: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "{tool} is required for the real-peer tests: apt-get install -y {package} (the .ci/run script does this)"
    );
    PathBuf::from(path)
}

/// Ports for one test: SIP port, RTP range, sipp's SIP and media ports.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// The slot these ports come from (see `next_slot`).
    pub slot: u16,
    pub sip: u16,
    pub rtp_low: u16,
    pub rtp_high: u16,
    pub sipp_sip: u16,
    pub sipp_media: u16,
    pub http: u16,
}

pub fn ports() -> Ports {
    let slot = next_slot();
    Ports {
        slot,
        sip: 15000 + slot * 4,
        sipp_sip: 16000 + slot * 4,
        http: 9000 + slot,
        // Below Linux's ephemeral range (32768-60999), so no client socket takes them.
        rtp_low: 20000 + slot * 60,
        rtp_high: 20000 + slot * 60 + 38,
        // Above the ephemeral range.
        sipp_media: 61000 + slot * 20,
    }
}

/// Whether the SIP, sipp and phone ports of `slot` can be bound right now.
fn slot_is_free(slot: u16) -> bool {
    let udp = |port: u16| std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
    let tcp = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    udp(15000 + slot * 4)
        && tcp(15000 + slot * 4)
        && udp(16000 + slot * 4)
        && udp(17000 + slot * 8)
        && udp(20000 + slot * 60)
        && tcp(9000 + slot)
}

/// Number of distinct port slots handed out before one is reused.
const SLOTS: u16 = 200;

/// The next port slot, unique across every test process running at the same time
/// (a counter in a locked file under the temp directory), so that test binaries run
/// side by side — by cargo, nextest or two developers' checkouts — never share a port.
fn next_slot() -> u16 {
    use std::io::{Read, Seek, Write};
    let path = std::env::temp_dir().join("switchboard-test-port-slot");
    let fallback = || {
        let n = NEXT_SLOT.fetch_add(1, Ordering::SeqCst);
        ((std::process::id() as u16).wrapping_mul(7).wrapping_add(n)) % SLOTS
    };
    let Ok(mut file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
    else {
        return fallback();
    };
    if file.lock().is_err() {
        return fallback();
    }
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let mut slot = text.trim().parse::<u16>().unwrap_or(0) % SLOTS;
    // Skip slots whose ports another process still holds (a test of another checkout,
    // a phone left running): the counter wraps after SLOTS allocations.
    for _ in 0..SLOTS {
        if slot_is_free(slot) {
            break;
        }
        slot = (slot + 1) % SLOTS;
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", (slot + 1) % SLOTS);
    let _ = file.unlock();
    slot
}

pub struct Router {
    child: Child,
    pub ports: Ports,
    pub log_path: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Router {
    /// Start the router with the given extra `[server]` keys and an optional dial plan.
    pub fn start(ports: Ports, server_extra: &str, plan: &str) -> Router {
        Self::start_in(tempfile::tempdir().unwrap(), ports, server_extra, plan)
    }

    /// Start with a prepared directory (e.g. a database seeded in `dir/data`).
    pub fn start_in(
        dir: tempfile::TempDir,
        ports: Ports,
        server_extra: &str,
        plan: &str,
    ) -> Router {
        let listen = format!("127.0.0.1:{}", ports.sip);
        let http = format!("127.0.0.1:{}", ports.http);
        Self::write_and_spawn(dir, ports, &listen, &http, server_extra, plan, None)
    }

    /// Start inside Switchboard's namespace of a proxy [`netns::Topology`], listening
    /// on [`netns::SWITCH`].
    pub fn start_in_topology(topology: &netns::Topology, server_extra: &str, plan: &str) -> Router {
        let ports = Ports {
            slot: 0,
            sip: netns::SIP_PORT,
            rtp_low: netns::RTP_LOW,
            rtp_high: netns::RTP_HIGH,
            sipp_sip: 0,
            sipp_media: 0,
            http: 8080,
        };
        let listen = format!("{}:{}", netns::SWITCH, netns::SIP_PORT);
        Self::write_and_spawn(
            tempfile::tempdir().unwrap(),
            ports,
            &listen,
            "127.0.0.1:8080",
            server_extra,
            plan,
            Some(topology.exec(&topology.switch_ns, env!("CARGO_BIN_EXE_switchboard"))),
        )
    }

    /// Write a config for `listen`/`http` with `server_extra` and `plan` into `dir`
    /// and start the router on it (by `command`, e.g. inside a namespace).
    fn write_and_spawn(
        dir: tempfile::TempDir,
        ports: Ports,
        listen: &str,
        http: &str,
        server_extra: &str,
        plan: &str,
        command: Option<Command>,
    ) -> Router {
        let config = dir.path().join("switchboard.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nsip_listen = \"{listen}\"\nhttp_listen = \"{http}\"\nrtp_ports = \"{}-{}\"\nprompts_dir = \"{}\"\ndata_dir = \"{}\"\n{server_extra}\n{plan}\n",
                ports.rtp_low,
                ports.rtp_high,
                repo().join("prompts").display(),
                dir.path().join("data").display(),
            ),
        )
        .unwrap();
        let cwd = dir.path().to_path_buf();
        Self::launch(dir, ports, &config, &cwd, &[], command)
    }

    /// Start `switchboard run --config CONFIG` (a file the test wrote, usually in `dir`)
    /// with `cwd` as its working directory; waits until it is ready.
    pub fn spawn(dir: tempfile::TempDir, ports: Ports, config: &Path, cwd: &Path) -> Router {
        Self::spawn_with(dir, ports, config, cwd, &[])
    }

    /// Like [`Router::spawn`] with more `run` flags (e.g. `--sip-listen`).
    pub fn spawn_with(
        dir: tempfile::TempDir,
        ports: Ports,
        config: &Path,
        cwd: &Path,
        flags: &[&str],
    ) -> Router {
        Self::launch(dir, ports, config, cwd, flags, None)
    }

    fn launch(
        dir: tempfile::TempDir,
        ports: Ports,
        config: &Path,
        cwd: &Path,
        flags: &[&str],
        command: Option<Command>,
    ) -> Router {
        let log_path = dir.path().join("router.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = command
            .unwrap_or_else(|| Command::new(env!("CARGO_BIN_EXE_switchboard")))
            .args(["run", "--config"])
            .arg(config)
            .args(flags)
            .current_dir(cwd)
            .env("SWITCHBOARD_LOG", "debug")
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let r = Router {
            child,
            ports,
            log_path,
            dir,
        };
        r.wait_for_log("Switchboard ready", Duration::from_secs(10));
        r
    }

    /// Whether the router process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("router log never showed {needle:?}:\n{}", self.log());
    }

    /// Stop the way an operator does (SIGTERM): pending database writes are flushed.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("router did not stop on SIGTERM:\n{}", self.log());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The router's database file.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("data").join("switchboard.db")
    }

    /// The config file the router runs with.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("switchboard.toml")
    }

    pub fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One RTP packet as captured.
#[derive(Debug, Clone)]
pub struct RtpPacket {
    pub time: f64,
    pub seq: u16,
    pub ts: u32,
    pub pt: u8,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// A tshark capture of UDP packets to `port` on loopback.
pub struct Capture {
    child: Child,
    file: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Capture {
    pub fn start(port: u16) -> Capture {
        let tshark = require("tshark", "tshark");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cap.pcapng");
        let mut child = Command::new(tshark)
            .args(["-i", "lo", "-f"])
            .arg(format!("udp dst port {port}"))
            .arg("-w")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until tshark really captures, or the first packets are lost.
        let stderr = child.stderr.take().unwrap();
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if line.contains("Capturing on") {
                break;
            }
        }
        std::thread::spawn(move || for _ in reader.lines() {});
        Capture {
            child,
            file,
            port,
            _dir: dir,
        }
    }

    /// Stop capturing and decode the RTP packets.
    pub fn finish(mut self) -> Vec<RtpPacket> {
        std::thread::sleep(Duration::from_millis(300));
        unsafe_sigint(self.child.id());
        let _ = self.child.wait();
        decode_rtp(&self.file, self.port)
    }
}

fn unsafe_sigint(pid: u32) {
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(pid.to_string())
        .status();
}

fn decode_rtp(file: &Path, port: u16) -> Vec<RtpPacket> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .arg("-d")
        .arg(format!("udp.port=={port},rtp"))
        .args(["-Y", "rtp", "-T", "fields", "-E", "separator=;"])
        .args([
            "-e",
            "frame.time_relative",
            "-e",
            "rtp.seq",
            "-e",
            "rtp.timestamp",
            "-e",
            "rtp.p_type",
            "-e",
            "rtp.ssrc",
            "-e",
            "rtp.payload",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            let payload = f.get(5)?.replace(':', "");
            Some(RtpPacket {
                time: f.first()?.parse().ok()?,
                seq: f.get(1)?.parse().ok()?,
                ts: f.get(2)?.parse().ok()?,
                pt: f.get(3)?.parse().ok()?,
                ssrc: u32::from_str_radix(f.get(4)?.trim_start_matches("0x"), 16).ok()?,
                payload: (0..payload.len() / 2)
                    .filter_map(|i| u8::from_str_radix(payload.get(i * 2..i * 2 + 2)?, 16).ok())
                    .collect(),
            })
        })
        .collect()
}

/// Check a captured stream is a proper 20 ms G.711 stream: one SSRC, sequence +1, 160
/// bytes per packet, the RTP timestamp +160 per frame, and media time keeping pace with
/// the wall clock (about 50 packets per second). Returns the measured packet rate.
///
/// On a loaded machine the pacer may fall more than three frames behind; it then skips
/// the missed slots and advances the timestamp over them (`media::pacer`, a short gap
/// the receiver plays as silence) instead of bursting. That is correct RTP (sequence
/// consecutive, timestamp a multiple of 160 ahead), so it is allowed here, for at most
/// a tenth of the stream.
pub fn assert_paced_stream(pkts: &[RtpPacket], pt: u8) -> f64 {
    assert!(pkts.len() > 50, "too few RTP packets: {}", pkts.len());
    let ssrc = pkts[0].ssrc;
    let mut skipped_frames = 0u64;
    for w in pkts.windows(2) {
        assert_eq!(w[1].ssrc, ssrc, "SSRC changed mid-stream");
        assert_eq!(w[1].pt, pt, "payload type");
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "sequence numbers must rise by one"
        );
        let step = w[1].ts.wrapping_sub(w[0].ts);
        assert!(
            step >= 160 && step % 160 == 0 && step <= 160 * 50,
            "timestamp must advance 160 per 20 ms frame (or skip whole frames), stepped {step}"
        );
        skipped_frames += u64::from(step / 160 - 1);
        assert_eq!(w[1].payload.len(), 160, "20 ms of G.711");
    }
    let frames = pkts.len() as u64 + skipped_frames;
    assert!(
        skipped_frames * 10 <= frames,
        "{skipped_frames} of {frames} frames skipped: the pacer fell far behind too often"
    );
    let span = pkts.last().unwrap().time - pkts[0].time;
    let media = f64::from(pkts.last().unwrap().ts.wrapping_sub(pkts[0].ts)) / 8000.0;
    assert!(
        (media - span).abs() <= 0.1 + span * 0.03,
        "media time {media:.2} s vs wall time {span:.2} s: the stream does not keep pace"
    );
    let rate = (frames - 1) as f64 / span;
    assert!(
        (45.0..=55.0).contains(&rate),
        "RTP rate {rate:.1} frames/s, expected ~50"
    );
    rate
}

/// A manager's phone played by a sipp UAS scenario in the background.
pub struct Phone {
    child: Child,
    dir: tempfile::TempDir,
    pub sip_port: u16,
    pub media_port: u16,
}

impl Ports {
    /// SIP and media ports for the `i`-th phone of this test (i < 4).
    pub fn phone(&self, i: u16) -> (u16, u16) {
        let i = i % 4;
        (
            17000 + self.slot * 8 + i * 2,
            11000 + self.slot * 16 + i * 4,
        )
    }
}

impl Phone {
    /// Start `scenario` (from tests/sipp) answering on the `i`-th phone port; `extra`
    /// goes to sipp as is (e.g. `-d 500`, `-key phone_audio FILE,-1,0`).
    pub fn start(ports: Ports, i: u16, scenario: &str, extra: &[&str]) -> Phone {
        Self::start_for(ports, i, scenario, 1, extra)
    }

    /// The same phone taking `calls` calls one after another.
    pub fn start_for(ports: Ports, i: u16, scenario: &str, calls: u32, extra: &[&str]) -> Phone {
        let (sip_port, media_port) = ports.phone(i);
        Self::spawn(
            Command::new("timeout"),
            "127.0.0.1",
            sip_port,
            media_port,
            scenario,
            calls,
            extra,
        )
    }

    /// Start `scenario` on `ip:sip_port` (media on `media_port`) by `command` (a
    /// `timeout`, possibly inside a network namespace).
    pub fn spawn(
        mut command: Command,
        ip: &str,
        sip_port: u16,
        media_port: u16,
        scenario: &str,
        calls: u32,
        extra: &[&str],
    ) -> Phone {
        let sipp = require("sipp", "sip-tester");
        let dir = tempfile::tempdir().unwrap();
        let mut extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        if !extra.iter().any(|e| e == "phone_audio") {
            let audio = ulaw_file(dir.path(), "support_menu");
            extra.extend([
                "-key".into(),
                "phone_audio".into(),
                format!("{},-1,0", audio.display()),
            ]);
        }
        let child = command
            .arg("60")
            .arg(sipp)
            .arg("-sf")
            .arg(repo().join("tests/sipp").join(scenario))
            .args(["-t", "u1", "-i", ip, "-p"])
            .arg(sip_port.to_string())
            .args(["-mi", ip, "-mp"])
            .arg(media_port.to_string())
            .args(["-m", &calls.to_string()])
            .args(["-nostdin", "-timeout", "50s", "-trace_msg", "-message_file"])
            .arg(dir.path().join("messages.log"))
            .args(["-trace_err", "-error_file"])
            .arg(dir.path().join("err.log"))
            .args(["-trace_logs", "-log_file"])
            .arg(dir.path().join("logs.log"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // sipp binds its socket at once; give it a moment before calls arrive.
        std::thread::sleep(Duration::from_millis(300));
        Phone {
            child,
            dir,
            sip_port,
            media_port,
        }
    }

    /// The phone's SIP URI for a plan's `contact`.
    pub fn contact(&self) -> String {
        format!("sip:phone@127.0.0.1:{}", self.sip_port)
    }

    /// Every SIP message the phone sent and received.
    pub fn messages(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("messages.log")).unwrap_or_default()
    }

    /// Wait for the scenario to end (it fails on any unexpected message).
    pub fn wait(self) -> SippResult {
        let dir = self.dir;
        let out = self.child.wait_with_output().unwrap();
        let mut output = String::from_utf8_lossy(&out.stdout).to_string();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        output.push_str(&std::fs::read_to_string(dir.path().join("err.log")).unwrap_or_default());
        output.push_str(
            &std::fs::read_to_string(dir.path().join("messages.log")).unwrap_or_default(),
        );
        SippResult {
            success: out.status.success(),
            output,
        }
    }
}

/// A prompt converted to headerless μ-law, for sipp's `rtp_stream` (PT 0).
pub fn ulaw_file(dir: &Path, prompt: &str) -> PathBuf {
    let sox = require("sox", "sox");
    let out = dir.join(format!("{prompt}.ulaw"));
    let ok = Command::new(sox)
        .arg(repo().join("prompts").join(format!("{prompt}.wav")))
        .args(["-t", "raw", "-r", "8000", "-c", "1", "-e", "mu-law"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(ok.success(), "sox failed for {prompt}");
    // Whole 20 ms frames only, so a looping rtp_stream repeats the same frames.
    let mut bytes = std::fs::read(&out).unwrap();
    bytes.truncate(bytes.len() / 160 * 160);
    std::fs::write(&out, bytes).unwrap();
    out
}

/// GET `path` from the router's admin HTTP port (plain HTTP/1.0, loopback).
pub fn http_get(ports: Ports, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", ports.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// One HTTP/1.0 request to the router's admin port: `(status, body)`.
pub fn http(ports: Ports, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", ports.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The raw bytes of a GET to the router's admin port: `(status, headers, body)`.
pub fn http_get_bytes(ports: Ports, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", ports.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let body = out.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

/// Runs the `switchboard` binary with `args`: `(success, stdout, stderr)`.
pub fn switchboard(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Load `url` in headless Chromium (Debian `chromium`) and return its stdout (e.g. the
/// DOM with `--dump-dom`).
pub fn chromium(url: &str, extra: &[&str]) -> String {
    let bin = require("chromium", "chromium");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("30")
        .arg(bin)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "chromium failed ({}):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A plan whose one department never opens: every call to 3000 is after hours, hears
/// the confirmation and the greeting (~9.4 s), then leaves a message for sales (for
/// the voicemail, crash-recovery and first-hour tests).
pub const VOICEMAIL_PLAN: &str = r#"
[[numbers]]
number = "3000"
source = "night-line"
action = "department:sales"

[departments.sales]
members = ["andrew"]
hours = "never"
after_hours = "voicemail:sales"

[hours.never]
timezone = "UTC"

[managers.andrew]
extension = "101"
contact = "sip:101@127.0.0.1:5999"

[voicemail.sales]
greeting = "voicemail_greeting"
max_secs = 60
"#;
