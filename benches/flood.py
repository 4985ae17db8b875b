#!/usr/bin/env python3
"""Flood benchmark (issue 11): a scanner's INVITE flood, then a password-guessing
REGISTER flood, from non-trunk loopback addresses, while a sipp trunk caller places
calls at a steady rate.

Phases (defaults): 10 s baseline; 60 s of INVITEs at 5,000/s; 60 s of REGISTERs at
20,000/s (each with a wrong digest password); 60 s of recovery. The flood comes from
--sources addresses 127.0.1.1, 127.0.1.2, … (Linux accepts any 127/8 source on
loopback), round-robin; the trunk is 127.0.0.1 only (`trunks = ["127.0.0.1/32"]`).
The trunk caller (sipp, uac_listen.xml, 2 s per call) runs through every phase.

Measured:
- trunk calls: successful / failed (sipp's own statistics file);
- router RSS (/proc/PID/status VmRSS) once a second: before the floods (the mean of
  the last 10 s of the baseline), peak during them, and at the end of the recovery
  window;
- responses the flood got back, and the most responses any single flood request got
  (matched by Call-ID: the issue's target is at most one);
- the router's guard counters from /metrics.

Targets: 100 % of trunk calls complete; RSS under 150 MiB during the floods and back
within 10 % of its pre-flood value within 60 s; at most one response per request.

usage: benches/flood.py [--invite-rate 5000] [--register-rate 20000] [--phase 60]
                        [--recover 60] [--sources 100] [--no-build]
Needs sipp (apt-get install sip-tester). Results: docs/performance.md.
"""
import argparse, collections, csv, os, random, re, signal, socket, subprocess, sys, tempfile, threading, time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid, key="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def metrics(http):
    try:
        with urllib.request.urlopen(f"http://{http}/metrics", timeout=5) as r:
            return r.read().decode()
    except OSError as e:
        return f"# metrics unavailable: {e}\n"


def guard_lines(text):
    return [l for l in text.splitlines()
            if l.startswith(("switchboard_sip_guard_total", "switchboard_sip_banned",
                             "switchboard_sip_transactions", "switchboard_calls_total"))]


INVITE = ("INVITE sip:{num}@127.0.0.1:{port} SIP/2.0\r\n"
          "Via: SIP/2.0/UDP {src}:{sport};branch=z9hG4bK{cid};rport\r\n"
          "From: \"scanner\" <sip:100@{src}>;tag={cid}\r\nTo: <sip:{num}@127.0.0.1>\r\n"
          "Call-ID: {cid}\r\nCSeq: 1 INVITE\r\nContact: <sip:100@{src}:{sport}>\r\n"
          "Max-Forwards: 70\r\nUser-Agent: friendly-scanner\r\nContent-Type: application/sdp\r\n"
          "Content-Length: {len}\r\n\r\n{sdp}")
SDP = ("v=0\r\no=- 1 1 IN IP4 {src}\r\ns=-\r\nc=IN IP4 {src}\r\nt=0 0\r\n"
       "m=audio 4000 RTP/AVP 0\r\n")
REGISTER = ("REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP {src}:{sport};branch=z9hG4bK{cid};rport\r\n"
            "From: <sip:101@127.0.0.1>;tag={cid}\r\nTo: <sip:101@127.0.0.1>\r\n"
            "Call-ID: {cid}\r\nCSeq: 1 REGISTER\r\nContact: <sip:101@{src}:{sport}>\r\n"
            "Authorization: Digest username=\"101\", realm=\"switchboard\", nonce=\"{nonce}\", "
            "uri=\"sip:127.0.0.1\", response=\"{resp}\", algorithm=MD5, qop=auth, nc=00000001, "
            "cnonce=\"abc\"\r\nMax-Forwards: 70\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n")


class Flood:
    """Sends one kind of request at `rate`/s for `secs` from the source sockets, and
    counts what comes back per Call-ID."""

    def __init__(self, socks, port):
        self.socks = socks
        self.port = port
        self.sent = 0
        self.responses = 0
        self.per_cid = collections.Counter()
        self.lock = threading.Lock()
        self.stop_rx = False
        self.rx = threading.Thread(target=self.receive, daemon=True)
        self.rx.start()

    def receive(self):
        cid_re = re.compile(rb"\r\nCall-ID: *([^\r\n]+)", re.I)
        while not self.stop_rx:
            got = False
            for s in self.socks:
                try:
                    data = s.recv(65535)
                except (BlockingIOError, OSError):
                    continue
                got = True
                m = cid_re.search(data)
                with self.lock:
                    self.responses += 1
                    if m:
                        self.per_cid[m.group(1)] += 1
            if not got:
                time.sleep(0.002)

    def run(self, kind, rate, secs):
        start = time.time()
        i = 0
        n = len(self.socks)
        sdp_cache = {}
        while True:
            elapsed = time.time() - start
            if elapsed >= secs:
                break
            due = int(elapsed * rate)
            while i < due:
                s = self.socks[i % n]
                src, sport = s.getsockname()
                cid = f"fl{kind[0]}{i:x}"
                if kind == "invite":
                    sdp = sdp_cache.get(src) or sdp_cache.setdefault(src, SDP.format(src=src))
                    msg = INVITE.format(num=random.choice(("100", "9011441234567", "2000")),
                                        port=self.port, src=src, sport=sport, cid=cid,
                                        len=len(sdp), sdp=sdp)
                else:
                    msg = REGISTER.format(port=self.port, src=src, sport=sport, cid=cid,
                                          nonce="%032x" % random.getrandbits(128),
                                          resp="%032x" % random.getrandbits(128))
                try:
                    s.sendto(msg.encode(), ("127.0.0.1", self.port))
                    self.sent += 1
                except OSError:
                    pass
                i += 1
            time.sleep(0.001)
        return i


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--invite-rate", type=float, default=5000)
    ap.add_argument("--register-rate", type=float, default=20000)
    ap.add_argument("--phase", type=float, default=60, help="seconds of each flood")
    ap.add_argument("--baseline", type=float, default=10)
    ap.add_argument("--recover", type=float, default=60, help="seconds watched after the floods")
    ap.add_argument("--sources", type=int, default=100, help="flood source addresses")
    ap.add_argument("--trunk-rate", type=float, default=5, help="trunk calls per second")
    ap.add_argument("--port", type=int, default=26060)
    ap.add_argument("--http", default="127.0.0.1:26080")
    ap.add_argument("--no-build", action="store_true", help="skip cargo build --release")
    a = ap.parse_args()

    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    binary = os.path.join(target, "release", "switchboard")
    work = tempfile.mkdtemp(prefix="sb-flood-")
    cfg = os.path.join(work, "bench.toml")
    with open(cfg, "w") as f:
        f.write(f'[server]\nsip_listen = "127.0.0.1:{a.port}"\nhttp_listen = "{a.http}"\n'
                f'rtp_ports = "10000-11999"\nprompts_dir = "{REPO}/prompts"\n'
                f'data_dir = "{work}/data"\ntrunks = ["127.0.0.1/32"]\n\n'
                '[managers.andrew]\nextension = "101"\ncontact = "sip:101@127.0.0.1:5999"\n'
                'password = "correct-horse"\n')
    log_path = os.path.join(work, "router.log")
    log = open(log_path, "w")
    router = subprocess.Popen([binary, "run", "--config", cfg], stdout=log, stderr=log,
                              env={**os.environ, "SWITCHBOARD_LOG": "info", "NO_COLOR": "1"})
    deadline = time.time() + 10
    while "listening for SIP" not in open(log_path).read():
        if router.poll() is not None or time.time() > deadline:
            sys.exit("router failed to start: see " + log_path)
        time.sleep(0.1)

    total = a.baseline + 2 * a.phase + a.recover
    calls = int(a.trunk_rate * (total - 5))
    callers = os.path.join(work, "callers.csv")
    with open(callers, "w") as f:
        f.write("SEQUENTIAL\n5551234;1\n")
    stat = os.path.join(work, "stat.csv")
    sipp = subprocess.Popen(
        ["sipp", f"127.0.0.1:{a.port}", "-sf", os.path.join(REPO, "tests", "sipp", "uac_listen.xml"),
         "-i", "127.0.0.1", "-p", str(a.port + 10), "-mi", "127.0.0.1", "-mp", "40000",
         "-r", str(a.trunk_rate), "-m", str(calls), "-d", "2000", "-s", "1000", "-inf", callers,
         "-nostdin", "-timeout", f"{int(total + 60)}s", "-trace_stat", "-stf", stat, "-fd", "1",
         "-l", "1000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)

    socks = []
    for i in range(a.sources):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((f"127.0.1.{i % 250 + 1}" if i < 250 else f"127.0.2.{i % 250 + 1}", 0))
        s.setblocking(False)
        socks.append(s)

    samples = []  # (t, phase, rss KiB)
    anon = []  # RssAnon KiB, same instants
    phase = ["baseline"]
    t0 = time.time()
    done = threading.Event()

    def sampler():
        while not done.is_set():
            samples.append((time.time() - t0, phase[0], rss_kib(router.pid)))
            anon.append(rss_kib(router.pid, "RssAnon"))
            time.sleep(1.0)

    threading.Thread(target=sampler, daemon=True).start()
    time.sleep(a.baseline)
    # The value right before the flood: the last 10 s of the baseline (the router's
    # RSS still grows for its first minutes under the trunk calls, see the docs).
    base = [r for (_, p, r) in samples if p == "baseline"][-10:]
    flood = Flood(socks, a.port)
    phase[0] = "invite"
    inv_sent = flood.run("invite", a.invite_rate, a.phase)
    after_inv = metrics(a.http)
    inv_resp, inv_max = flood.responses, max(flood.per_cid.values(), default=0)
    phase[0] = "register"
    reg_sent = flood.run("register", a.register_rate, a.phase)
    phase[0] = "recover"
    time.sleep(1.0)
    flood.stop_rx = True
    total_resp, max_per = flood.responses, max(flood.per_cid.values(), default=0)
    time.sleep(max(a.recover - 1.0, 0))
    done.set()
    final = metrics(a.http)
    sipp.wait(timeout=120)
    router.send_signal(signal.SIGTERM)
    router.wait(timeout=15)

    rows = list(csv.DictReader(open(stat), delimiter=";"))
    last = rows[-1] if rows else {}
    succ = int(last.get("SuccessfulCall(C)", 0))
    fail = int(last.get("FailedCall(C)", 0))
    pre = sum(base) / max(len(base), 1)
    during = [r for (_, p, r) in samples if p in ("invite", "register")]
    peak_inv = max((r for (_, p, r) in samples if p == "invite"), default=0)
    peak_reg = max((r for (_, p, r) in samples if p == "register"), default=0)
    end_rss = samples[-1][2] if samples else 0
    loadavg = open("/proc/loadavg").read().split()[:3]
    warn_lines = sum(1 for l in open(log_path) if " WARN " in l)
    log_bytes = os.path.getsize(log_path)

    print(f"trunk calls          {succ} successful, {fail} failed of {calls} "
          f"({a.trunk_rate:g}/s through every phase)")
    print(f"INVITE flood         {inv_sent} sent in {a.phase:g} s from {a.sources} addresses "
          f"({inv_sent / a.phase:.0f}/s): {inv_resp} responses, at most {inv_max} per request")
    print(f"REGISTER flood       {reg_sent} sent in {a.phase:g} s ({reg_sent / a.phase:.0f}/s): "
          f"{total_resp - inv_resp} responses; at most {max_per} per request over both floods")
    print(f"router RSS           pre-flood {pre / 1024:.1f} MiB, peak {peak_inv / 1024:.1f} MiB "
          f"(INVITE flood) / {peak_reg / 1024:.1f} MiB (REGISTER flood), "
          f"{end_rss / 1024:.1f} MiB {a.recover:g} s after ({(end_rss - pre) / max(pre, 1) * 100:+.1f} %)")
    anon_pre = [v for (v, (_, p, _)) in zip(anon, samples) if p == "baseline"][-10:]
    print(f"  of which anonymous  pre-flood {sum(anon_pre) / max(len(anon_pre), 1) / 1024:.1f} MiB, peak "
          f"{max(anon, default=0) / 1024:.1f} MiB, at the end {anon[-1] / 1024 if anon else 0:.1f} MiB "
          f"(the rest is the binary's own pages)")
    print(f"router log           {warn_lines} WARN lines, {log_bytes / 1024:.0f} KiB in all (INFO level)")
    print(f"load average         {' '.join(loadavg)} at the end (2 cores, shared machine)")
    print("guard counters after the INVITE flood:")
    for l in guard_lines(after_inv):
        print("  " + l)
    print("guard counters at the end:")
    for l in guard_lines(final):
        print("  " + l)
    print(f"work dir             {work}")
    ok = (fail == 0 and succ == calls and max(during, default=0) < 150 * 1024
          and abs(end_rss - pre) <= 0.1 * pre and max_per <= 1)
    print("targets              " + ("met" if ok else "NOT met"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
