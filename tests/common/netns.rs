//! A three-network test topology in Linux network namespaces: callers, a proxy host
//! on both networks, Switchboard's network. Nothing routes SIP between the callers and
//! Switchboard: the only way is the SIP proxy (Kamailio) on the proxy host. The proxy
//! host forwards RTP (UDP to/from Switchboard's RTP ports) like a router, so media flows
//! while signalling must go through the proxy.
//!
//! ```text
//!  caller ns            proxy ns (ip_forward=1)                switch ns
//!  10.219.1.2 ──veth── 10.219.1.1 │ Kamailio :5060 │ 10.219.2.1 ──veth── 10.219.2.2
//!  sipp caller          policy rules: forward only UDP to/from    Switchboard :5060,
//!                       Switchboard's RTP ports, prohibit the rest RTP 20000-20038,
//!                                                                  managers' phones
//! ```
//!
//! The namespaces are private to the test, so the addresses are fixed; their names
//! carry the process id and a counter. [`Topology`] removes them on drop, also when
//! the test fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const CALLER: &str = "10.219.1.2";
pub const PROXY_CALLER_SIDE: &str = "10.219.1.1";
pub const PROXY_SWITCH_SIDE: &str = "10.219.2.1";
pub const SWITCH: &str = "10.219.2.2";
pub const SIP_PORT: u16 = 5060;
pub const RTP_LOW: u16 = 20000;
pub const RTP_HIGH: u16 = 20038;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Fails (never skips) without root, `ip` or `kamailio`, with what to do.
pub fn require_tools() -> (PathBuf, PathBuf) {
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the proxy topology test creates network namespaces: run it as root (CI does)"
    );
    (
        find_tool("ip", "iproute2"),
        find_tool("kamailio", "kamailio"),
    )
}

/// `command -v`, then the sbin directories (a non-login root shell may lack them).
fn find_tool(tool: &str, package: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !found.is_empty() {
        return PathBuf::from(found);
    }
    for dir in ["/usr/sbin", "/sbin", "/usr/local/sbin"] {
        let p = PathBuf::from(dir).join(tool);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{tool} is required for the proxy topology test: apt-get install -y {package} \
         (the .ci/run script does this)"
    );
}

/// The three namespaces and the proxy; removed on drop.
pub struct Topology {
    ip: PathBuf,
    pub caller_ns: String,
    pub proxy_ns: String,
    pub switch_ns: String,
    kamailio: Option<Child>,
    pub proxy_log: PathBuf,
    dir: tempfile::TempDir,
}

impl Topology {
    /// Creates the namespaces, links and rules, and starts Kamailio (config
    /// `tests/proxy/kamailio.cfg`) forwarding callers' INVITEs to Switchboard at
    /// `SWITCH:SIP_PORT`.
    pub fn start() -> Topology {
        let (ip, kamailio) = require_tools();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{n}", std::process::id());
        let mut t = Topology {
            ip,
            caller_ns: format!("sbtest-caller-{id}"),
            proxy_ns: format!("sbtest-proxy-{id}"),
            switch_ns: format!("sbtest-switch-{id}"),
            kamailio: None,
            proxy_log: PathBuf::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        t.build();
        t.start_kamailio(&kamailio);
        t
    }

    fn ip(&self, args: &[&str]) {
        let out = Command::new(&self.ip).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn build(&mut self) {
        let (c, p, s) = (
            self.caller_ns.clone(),
            self.proxy_ns.clone(),
            self.switch_ns.clone(),
        );
        for ns in [&c, &p, &s] {
            // A namespace left over by a killed run of the same pid is replaced.
            let _ = Command::new(&self.ip)
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
            self.ip(&["netns", "add", ns]);
            self.ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // Links are created inside the proxy namespace, so no interface name ever
        // appears in the host's namespace.
        self.ip(&[
            "-n", &p, "link", "add", "vc", "type", "veth", "peer", "name", "eth0", "netns", &c,
        ]);
        self.ip(&[
            "-n", &p, "link", "add", "vs", "type", "veth", "peer", "name", "eth0", "netns", &s,
        ]);
        for (ns, dev, addr) in [
            (&c, "eth0", CALLER),
            (&p, "vc", PROXY_CALLER_SIDE),
            (&p, "vs", PROXY_SWITCH_SIDE),
            (&s, "eth0", SWITCH),
        ] {
            self.ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            self.ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        self.ip(&[
            "-n",
            &c,
            "route",
            "add",
            "default",
            "via",
            PROXY_CALLER_SIDE,
        ]);
        self.ip(&[
            "-n",
            &s,
            "route",
            "add",
            "default",
            "via",
            PROXY_SWITCH_SIDE,
        ]);
        // The proxy host routes media only: policy rules (consulted after the local
        // table, so Kamailio's own traffic is untouched) forward UDP to and from
        // Switchboard's RTP ports and prohibit every other forwarded packet.
        let rtp = format!("{RTP_LOW}-{RTP_HIGH}");
        for rule in [
            vec![
                "pref", "100", "iif", "vc", "to", SWITCH, "ipproto", "udp", "dport", &rtp,
                "lookup", "main",
            ],
            vec![
                "pref", "101", "iif", "vs", "from", SWITCH, "ipproto", "udp", "sport", &rtp,
                "lookup", "main",
            ],
            vec!["pref", "110", "iif", "vc", "prohibit"],
            vec!["pref", "111", "iif", "vs", "prohibit"],
        ] {
            let mut args = vec!["-n", p.as_str(), "rule", "add"];
            args.extend(rule);
            self.ip(&args);
        }
        self.ip(&[
            "netns",
            "exec",
            &p,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ]);
    }

    /// Whether the proxy host would forward a UDP packet from the caller to
    /// Switchboard's `port` (what the caller could reach without the SIP proxy).
    pub fn caller_can_reach_switchboard(&self, port: u16) -> bool {
        Command::new(&self.ip)
            .args(["-n", &self.proxy_ns, "route", "get", SWITCH, "from", CALLER])
            .args(["iif", "vc", "ipproto", "udp", "dport", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    fn start_kamailio(&mut self, kamailio: &PathBuf) {
        let template =
            std::fs::read_to_string(super::repo().join("tests/proxy/kamailio.cfg")).unwrap();
        let cfg = template
            .replace("@CALLER_SIDE@", PROXY_CALLER_SIDE)
            .replace("@SWITCH_SIDE@", PROXY_SWITCH_SIDE)
            .replace("@SWITCHBOARD@", &format!("{SWITCH}:{SIP_PORT}"))
            .replace("@MODULES@", &kamailio_modules());
        let cfg_path = self.dir.path().join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).unwrap();
        let run = self.dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        self.proxy_log = self.dir.path().join("kamailio.log");
        let log = std::fs::File::create(&self.proxy_log).unwrap();
        let child = Command::new(&self.ip)
            .args(["netns", "exec", &self.proxy_ns])
            .arg(kamailio)
            .arg("-f")
            .arg(&cfg_path)
            .args(["-DD", "-E", "-m", "32", "-M", "8", "-Y"])
            .arg(&run)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.kamailio = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.proxy_log().contains("Listening on")
                || self.proxy_log().contains("listening on")
            {
                // Give the worker a moment to enter its receive loop.
                std::thread::sleep(Duration::from_millis(300));
                return;
            }
            if let Some(Ok(Some(status))) = self.kamailio.as_mut().map(Child::try_wait) {
                panic!("kamailio exited ({status}):\n{}", self.proxy_log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("kamailio did not start:\n{}", self.proxy_log());
    }

    /// Runs one sipp caller `scenario` in the callers' namespace, sending to the proxy
    /// (sipp sends every request to its remote address; where it would go otherwise is
    /// the Request-URI/Route's business, which the proxy checks).
    pub fn caller_sipp(&self, scenario: &str, service: &str, extra: &[&str]) -> super::SippResult {
        let sipp = super::require("sipp", "sip-tester");
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("callers.csv");
        std::fs::write(&csv, "SEQUENTIAL\n5551234;1\n").unwrap();
        let out = self
            .exec(&self.caller_ns, "timeout")
            .arg("40")
            .arg(sipp)
            .arg(format!("{PROXY_CALLER_SIDE}:5060"))
            .arg("-sf")
            .arg(super::repo().join("tests/sipp").join(scenario))
            .args([
                "-t", "u1", "-i", CALLER, "-p", "5070", "-mi", CALLER, "-mp", "6000",
            ])
            .args([
                "-s", service, "-m", "1", "-nostdin", "-timeout", "35s", "-inf",
            ])
            .arg(&csv)
            .args(["-trace_err", "-error_file"])
            .arg(dir.path().join("err.log"))
            .args(["-trace_msg", "-message_file"])
            .arg(dir.path().join("messages.log"))
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let mut output = String::from_utf8_lossy(&out.stdout).to_string();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        for f in ["err.log", "messages.log"] {
            output.push_str(&std::fs::read_to_string(dir.path().join(f)).unwrap_or_default());
        }
        super::SippResult {
            success: out.status.success(),
            output,
        }
    }

    /// A manager's phone (sipp UAS `scenario`) in Switchboard's namespace at
    /// `SWITCH:sip_port`; its contact is `sip:phone@SWITCH:sip_port`.
    pub fn phone(&self, scenario: &str, sip_port: u16, extra: &[&str]) -> super::Phone {
        super::Phone::spawn(
            self.exec(&self.switch_ns, "timeout"),
            SWITCH,
            sip_port,
            sip_port + 1000,
            scenario,
            1,
            extra,
        )
    }

    pub fn proxy_log(&self) -> String {
        std::fs::read_to_string(&self.proxy_log).unwrap_or_default()
    }

    /// A command run inside namespace `ns`.
    pub fn exec(&self, ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(&self.ip);
        cmd.args(["netns", "exec", ns]).arg(program);
        cmd
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(mut k) = self.kamailio.take() {
            let _ = k.kill();
            let _ = k.wait();
        }
        for ns in [&self.caller_ns, &self.proxy_ns, &self.switch_ns] {
            // Whatever this test still runs in its namespaces (a sipp that failed
            // halfway) ends with them.
            if let Ok(out) = Command::new(&self.ip).args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = Command::new(&self.ip).args(["netns", "del", ns]).status();
        }
    }
}

/// Where this system's Kamailio modules live (Debian: /usr/lib/<triplet>/kamailio/modules).
fn kamailio_modules() -> String {
    let mut candidates = vec![PathBuf::from("/usr/lib/kamailio/modules")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        for e in entries.flatten() {
            candidates.push(e.path().join("kamailio/modules"));
        }
    }
    candidates
        .into_iter()
        .find(|d| d.join("sl.so").exists())
        .map(|d| format!("{}/", d.display()))
        .expect("kamailio modules (sl.so) not found under /usr/lib: apt-get install -y kamailio")
}
