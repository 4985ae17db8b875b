#!/usr/bin/env python3
"""Bridged-call load benchmark (issue 4): sipp callers at RATE calls/s dial a number
routed straight to a department; Switchboard plays "connecting" (~2.7 s), rings the
department's one manager (a single sipp UAS process answering every call at once),
and relays RTP both ways until the caller hangs up HOLD seconds after the answer.
Both sipp sides stream G.711 μ-law (rtp_stream), so a bridged call is 4 RTP streams
(caller→router, router→manager, manager→router, router→caller), 200 packets/s.

Measured on the router only (sipp's own CPU is reported separately):
- CPU (utime+stime from /proc/PID/stat) over the steady window in which every call
  that will be bridged at once is bridged, and per bridged call;
- RSS: peak (VmHWM), at the start and end of the steady window, and after the run;
- packets (Prometheus `/metrics`, `switchboard_rtp_packets_total`) over the steady
  window: received vs expected (2 streams × 50 pps × bridged calls), relayed (sent)
  vs received; kernel drops on the router's own UDP sockets (/proc/net/udp `drops`);
- failed calls on both sipp sides and WARN/ERROR lines in the router's log.

With --record every conversation is recorded (record = true, stereo), and the files are
checked at the end (count, size, length against the bridged time).

With --srtp the manager's leg of every call is SRTP (RFC 3711, SDES keys; manager
`srtp = "required"`), the caller's stays plain RTP: the relay decrypts what the phone
sends and encrypts what it forwards to it, per packet (issue 17). The phone side is then
SIPp 3.7 (`sipp-tls`, installed by `.ci/sipp-tls`), the first SIPp with SRTP; SRTP drops
counted by the router (`switchboard_srtp_dropped_total`) are reported.

--pattern-phone is the baseline for --srtp: plain RTP with that same SIPp and stream.

usage: benches/bridge_load.py [--rate 50] [--calls 500] [--hold 30] [--log warn] [--perf SECS] [--record] [--srtp | --pattern-phone]
Needs sipp (apt-get install sip-tester), sox, and perf for --perf. Results: docs/performance.md.
"""
import argparse, csv, os, signal, subprocess, sys, tempfile, time, urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK = os.sysconf("SC_CLK_TCK")
CONNECTING_S = 2.72  # prompts/connecting.wav, played before the manager is rung
# Clear of the SIP ports below (25060-25080): a SIP port inside the range fails the call
# that draws it ("media failed: cannot use RTP port").
RTP_LOW, RTP_HIGH = 10000, 17999


def cpu_split(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime


def cpu_ticks(pid):
    try:
        return sum(cpu_split(pid))
    except OSError:
        return 0


def thread_ticks(pid):
    """{thread name: utime+stime ticks}, threads of the same name summed."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        name = head.split("(", 1)[1]
        fields = rest.split()
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def rss_kib(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def udp_socket_drops(low, high):
    """Sockets bound to a local port in [low, high]: (count, sum of drops, sum of rx_queue)."""
    n = drops = rxq = 0
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            port = int(f[1].rsplit(":", 1)[1], 16)
            if low <= port <= high:
                n += 1
                rxq += int(f[4].split(":")[1], 16)
                drops += int(f[-1])
    return n, drops, rxq


def pid_sockets(pids):
    """{local port: drops} over the UDP sockets the processes `pids` hold open
    (/proc/net/udp `drops`: datagrams the kernel discarded, e.g. a full receive buffer)."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    out = {}
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[9] in inodes:
                port = int(f[1].rsplit(":", 1)[1], 16)
                out[port] = out.get(port, 0) + int(f[-1])
    return out


def busy_ticks():
    """Busy CPU ticks of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]) - v[3] - v[4] - v[7]  # user..softirq; not idle, iowait, steal (guest is in user)


def udp_snmp():
    """System-wide UDP counters (all processes): {InDatagrams, RcvbufErrors, ...}."""
    rows = [l.split() for l in open("/proc/net/snmp") if l.startswith("Udp:")]
    return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:])}


def metrics(http):
    """(rtp sent, rtp received, active calls, SRTP dropped, live heap KiB, SIP
    transactions) from the router's /metrics, or None."""
    try:
        text = urllib.request.urlopen(f"http://{http}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    sent = recv = active = srtp_dropped = heap = txns = 0
    for line in text.splitlines():
        if line.startswith('switchboard_memory_bytes{kind="heap"}'):
            heap = int(float(line.split()[-1]) / 1024)
        if line.startswith("switchboard_sip_transactions "):
            txns = int(float(line.split()[-1]))
        if line.startswith("switchboard_srtp_dropped_total"):
            srtp_dropped += int(float(line.split()[-1]))
        if line.startswith('switchboard_rtp_packets_total{kind="sent"}'):
            sent = int(float(line.split()[-1]))
        elif line.startswith('switchboard_rtp_packets_total{kind="received"}'):
            recv = int(float(line.split()[-1]))
        elif line.startswith("switchboard_active_calls"):
            active = int(float(line.split()[-1]))
    return sent, recv, active, srtp_dropped, heap, txns


def ulaw(src, dst):
    """Headerless μ-law, truncated to whole 20 ms frames (160 bytes) for rtp_stream."""
    subprocess.run(["sox", src, "-t", "raw", "-r", "8000", "-c", "1", "-e", "mu-law", dst], check=True)
    size = os.path.getsize(dst)
    os.truncate(dst, size - size % 160)


def last_stat(path):
    """The last row of a sipp -trace_stat CSV, as a dict."""
    try:
        rows = list(csv.DictReader(open(path), delimiter=";"))
    except OSError:
        return {}
    return rows[-1] if rows else {}


def stat_int(row, key):
    try:
        return int(row.get(key, 0) or 0)
    except ValueError:
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=50, help="new calls per second")
    ap.add_argument("--calls", type=int, default=500, help="calls in total")
    ap.add_argument("--hold", type=float, default=30, help="seconds from answer to the caller's BYE")
    ap.add_argument("--port", type=int, default=25060, help="router SIP port")
    ap.add_argument("--http", default="127.0.0.1:25080", help="router admin/metrics address")
    ap.add_argument("--log", default="warn", help="SWITCHBOARD_LOG for the router")
    ap.add_argument("--perf", type=float, default=0, metavar="SECS",
                    help="also perf-record the router for SECS at the start of the steady window "
                         "(perturbs that run's CPU figure: use a separate run)")
    ap.add_argument("--no-build", action="store_true", help="skip cargo build --release")
    ap.add_argument("--binary", metavar="PATH",
                    help="run this switchboard binary instead of the release build (A/B runs)")
    ap.add_argument("--record", action="store_true",
                    help="record every conversation (record = true, stereo WAV; issue 14) and "
                         "check the files at the end")
    ap.add_argument("--pattern-phone", action="store_true",
                    help="plain RTP, but the phone side is the same SIPp and stream as with --srtp "
                         "(the baseline to compare --srtp against)")
    ap.add_argument("--srtp", action="store_true",
                    help="the manager's leg SRTP (SDES), the caller's plain RTP; needs sipp-tls "
                         "(bash .ci/sipp-tls)")
    ap.add_argument("--floor", action="store_true",
                    help="afterwards, measure the floor (benches/media_floor.rs bridge) for the same "
                         "number of bridged calls and print the router's CPU as a ratio to it")
    a = ap.parse_args()

    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    binary = a.binary or os.path.join(target, "release", "switchboard")
    work = tempfile.mkdtemp(prefix="sb-bridge-")
    caller_audio, phone_audio = os.path.join(work, "caller.ulaw"), os.path.join(work, "phone.ulaw")
    ulaw(os.path.join(REPO, "prompts", "main_menu.wav"), caller_audio)
    ulaw(os.path.join(REPO, "prompts", "support_menu.wav"), phone_audio)

    uas_port, uas_media, uac_port, uac_media = a.port + 20, 44000, a.port + 10, 40000
    cfg = os.path.join(work, "bench.toml")
    with open(cfg, "w") as f:
        f.write(f'[server]\nsip_listen = "127.0.0.1:{a.port}"\nhttp_listen = "{a.http}"\n'
                f'rtp_ports = "{RTP_LOW}-{RTP_HIGH}"\nprompts_dir = "{REPO}/prompts"\n'
                f'data_dir = "{work}/data"\nrtp_timeout_secs = 120\nring_before_answer_ms = 0\n\n'
                '[[numbers]]\nnumber = "2000"\nsource = "bench"\naction = "department:team"\n\n'
                + ('[recording]\nchannels = "stereo"\n\n' if a.record else '') +
                '[departments.team]\nmembers = ["andrew"]\nwrap_up_secs = 0\n'
                + ('record = true\n' if a.record else '') +
                f'max_waiting = 0\nring_timeout_secs = 10\n\n'
                f'[managers.andrew]\nextension = "101"\ncontact = "sip:101@127.0.0.1:{uas_port}"\n'
                'max_calls = 100000\n' + ('srtp = "required"\n' if a.srtp else ''))
    log_path = os.path.join(work, "router.log")
    log = open(log_path, "w")
    router = subprocess.Popen([binary, "run", "--config", cfg], stdout=log, stderr=log,
                              env={**os.environ, "SWITCHBOARD_LOG": a.log, "NO_COLOR": "1"})
    deadline = time.time() + 10
    while "listening for SIP" not in open(log_path).read() and time.time() < deadline:
        if router.poll() is not None:
            sys.exit("router failed to start: see " + log_path)
        time.sleep(0.1)

    run_secs = a.calls / a.rate + a.hold + CONNECTING_S
    timeout = str(int(run_secs + 60)) + "s"
    common = ["-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin", "-timeout", timeout,
              "-trace_stat", "-fd", "1", "-l", "100000", "-max_socket", "60000"]
    uas_stat, uac_stat = os.path.join(work, "uas_stat.csv"), os.path.join(work, "uac_stat.csv")
    uas_sipp, uas_xml = "sipp", os.path.join(REPO, "tests", "sipp", "uas_load_answer.xml")
    if a.srtp or a.pattern_phone:
        uas_sipp, uas_xml = "sipp-tls", os.path.join(REPO, "tests", "sipp", "uas_load_answer_srtp.xml")
    if a.pattern_phone:
        # The SRTP phone's scenario with the answer made plain: same SIPp, same stream.
        text = open(uas_xml).read().replace(" RTP/SAVP ", " RTP/AVP ")
        text = "\n".join(l for l in text.split("\n") if "a=crypto:" not in l)
        uas_xml = os.path.join(work, "uas_pattern_plain.xml")
        open(uas_xml, "w").write(text)
    uas_cmd = [uas_sipp, "-sf", uas_xml,
               "-p", str(uas_port), "-mp", str(uas_media), "-m", str(a.calls), "-stf", uas_stat,
               "-key", "phone_audio", f"{phone_audio},-1,0",
               "-trace_err", "-error_file", os.path.join(work, "uas_err.log")] + common
    callers = os.path.join(work, "callers.csv")
    with open(callers, "w") as f:
        f.write("SEQUENTIAL\n5551234;1\n")
    uac_cmd = ["sipp", f"127.0.0.1:{a.port}", "-sf", os.path.join(REPO, "tests", "sipp", "uac_listen_rtp.xml"),
               "-p", str(uac_port), "-mp", str(uac_media), "-s", "2000", "-inf", callers,
               "-r", str(a.rate), "-m", str(a.calls), "-d", str(int(a.hold * 1000)), "-stf", uac_stat,
               "-key", "caller_audio", f"{caller_audio},-1,0"] + common
    uas_out = open(os.path.join(work, "uas.out"), "w")  # the phone side's complaints
    uas = subprocess.Popen(uas_cmd, stdout=subprocess.DEVNULL, stderr=uas_out, cwd=work)
    time.sleep(0.5)

    # The steady window: every call that will be up at once has been answered by the
    # manager (arrivals done or the first calls about to end) and none has hung up yet.
    arrivals = a.calls / a.rate
    win_start = min(arrivals, a.hold) + CONNECTING_S + 1.5
    win_end = max(arrivals, a.hold) - 1.0
    if win_end - win_start < 3:
        print(f"warning: steady window only {win_end - win_start:.1f} s; raise --hold or --calls", file=sys.stderr)

    snmp0 = udp_snmp()
    idle_metrics = metrics(a.http)
    t0 = time.time()
    c0 = cpu_ticks(router.pid)
    u0, s0 = cpu_split(router.pid)
    uac = subprocess.Popen(uac_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    samples = []  # (t, router %, rss KiB, uas current calls, sipp % (both))
    marks = {}  # "start"/"end" → (t, router ticks, metrics, socket drops, rss, uas current, snmp)
    last_t, last_c = t0, c0
    perf = None
    last_s = cpu_ticks(uac.pid) + cpu_ticks(uas.pid)
    while uac.poll() is None:
        time.sleep(1.0)
        now, c = time.time(), cpu_ticks(router.pid)
        s = cpu_ticks(uac.pid) + cpu_ticks(uas.pid)
        t = now - t0
        current = stat_int(last_stat(uas_stat), "CurrentCall")
        rss = rss_kib(router.pid)
        samples.append((t, (c - last_c) / CLK / (now - last_t) * 100.0, rss, current,
                        (s - last_s) / CLK / (now - last_t) * 100.0))
        last_t, last_c, last_s = now, c, s
        if a.perf and perf is None and t >= win_start:
            perf = subprocess.Popen(["perf", "record", "-q", "-g", "-F", "999", "-p", str(router.pid),
                                     "-o", os.path.join(work, "perf.data"), "--", "sleep", str(a.perf)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, at in (("start", win_start), ("end", win_end)):
            if name not in marks and t >= at and (name == "start" or marks.get("start", (t,))[0] < t):
                marks[name] = (t, c, metrics(a.http), udp_socket_drops(RTP_LOW, RTP_HIGH), rss, current,
                               udp_snmp(), pid_sockets([uac.pid, uas.pid]), thread_ticks(router.pid),
                               pid_sockets([router.pid]), busy_ticks(), s)
    wall = time.time() - t0
    total_cpu = (cpu_ticks(router.pid) - c0) / CLK
    u1, s1 = cpu_split(router.pid)
    try:
        uas.wait(timeout=15)
    except subprocess.TimeoutExpired:
        uas.send_signal(signal.SIGINT)
        uas.wait(timeout=10)
    time.sleep(2.0)  # let the router release the calls
    rss_after = rss_kib(router.pid)
    end_metrics = metrics(a.http)
    peak_rss = rss_kib(router.pid, "VmHWM")
    snmp1 = udp_snmp()
    router.send_signal(signal.SIGTERM)
    try:
        router.wait(timeout=15)
    except subprocess.TimeoutExpired:
        router.kill()

    uac_last, uas_last = last_stat(uac_stat), last_stat(uas_stat)
    succ, fail = stat_int(uac_last, "SuccessfulCall(C)"), stat_int(uac_last, "FailedCall(C)")
    m_succ, m_fail = stat_int(uas_last, "SuccessfulCall(C)"), stat_int(uas_last, "FailedCall(C)")
    peak_uac = max((stat_int(r, "CurrentCall") for r in csv.DictReader(open(uac_stat), delimiter=";")),
                   default=0)
    peak_bridged = max((s[3] for s in samples), default=0)

    print(f"load                 {a.rate:g} calls/s, {a.calls} calls, caller hangs up {a.hold:g} s after"
          f" answer (~{a.hold - CONNECTING_S:.1f} s bridged); both sides stream PCMU"
          + ("; the manager's leg SRTP (AES_CM_128_HMAC_SHA1_80), the caller's plain" if a.srtp else ""))
    print(f"achieved             {succ / max(arrivals, 1e-9):.1f} calls/s; callers: {succ} ok, {fail} failed;"
          f" manager phone: {m_succ} ok, {m_fail} failed")
    print(f"peak concurrent      {peak_uac} caller legs, {peak_bridged} manager legs (bridged calls)")
    if "end" in marks:
        (ts, cs, ms, ds, rs, cur_s, sn_s, sp_s, th_s, rd_s, b_s, sc_s), \
            (te, ce, me, de, re, cur_e, sn_e, sp_e, th_e, rd_e, b_e, sc_e) = (
            marks["start"], marks["end"])
        dt = te - ts
        mean = (ce - cs) / CLK / dt * 100.0
        bridged = (cur_s + cur_e) / 2
        win = [s for s in samples if ts < s[0] <= te]
        print(f"steady window        t = {ts:.1f} … {te:.1f} s ({dt:.1f} s), {cur_s} → {cur_e} bridged calls")
        print(f"router CPU           {mean:.1f}% of one core (1 s samples {min(s[1] for s in win):.1f} – "
              f"{max(s[1] for s in win):.1f}%); whole run {total_cpu / wall * 100:.1f}%, "
              f"user/kernel {(u1 - u0) / CLK / wall * 100:.1f}% / {(s1 - s0) / CLK / wall * 100:.1f}%")
        if bridged:
            print(f"per bridged call     {mean / bridged:.4f}% of a core (4 RTP streams, 200 packets/s)")
        threads = sorted(((v - th_s.get(k, 0), k) for k, v in th_e.items()), reverse=True)
        print("  by thread          " + ", ".join(f"{k} {d / CLK / dt * 100:.1f}%" for d, k in threads if d))
        print(f"sipp CPU (both)      {sum(s[4] for s in win) / max(len(win), 1):.1f}% in the window")
        print(f"router RSS           {rs / 1024:.1f} → {re / 1024:.1f} MiB across the window; peak "
              f"{peak_rss / 1024:.1f} MiB; {rss_after / 1024:.1f} MiB after the calls ended")
        if idle_metrics and me and me[4]:
            heap0, heap1 = idle_metrics[4], me[4]
            print(f"live heap            {heap0 / 1024:.1f} MiB before the calls, {heap1 / 1024:.1f} MiB at the"
                  f" end of the window ({me[5]} SIP transactions) → {(heap1 - heap0) / max(bridged, 1):.1f} KiB"
                  f" per bridged call (its two legs, its transactions, lingering ones included)")
        if ms and me:
            d_sent, d_recv = me[0] - ms[0], me[1] - ms[1]
            expect = 2 * 50 * bridged * dt
            print(f"RTP in the window    received {d_recv} ({d_recv / dt:.0f}/s; expected 2 × 50 × {bridged:.0f}"
                  f" = {expect / dt:.0f}/s: {d_recv / max(expect, 1) * 100:.2f}%), relayed {d_sent}"
                  f" ({d_sent / max(d_recv, 1) * 100:.2f}% of received)")
        else:
            print("RTP in the window    /metrics not reachable")
        dropped = {p: d - rd_s.get(p, 0) for p, d in rd_e.items() if d - rd_s.get(p, 0)}
        print(f"router socket drops  {sum(dropped.values())} in the window on {len(rd_e)} router sockets"
              f" (rx queue of ports {RTP_LOW}-{RTP_HIGH} at the end of the window: {de[2]} bytes)"
              + (": " + ", ".join(f"port {p}: {d}" for p, d in sorted(dropped.items())[:12]) if dropped else ""))
        print(f"sipp socket drops    {sum(sp_e.values()) - sum(sp_s.values())} in the window on {len(sp_e)} sockets"
              " (sipp does not read the RTP it gets: what the router relays lands in a full buffer there)")
        busy = (b_e - b_s) / CLK / dt * 100.0
        ours = ((ce - cs) + (sc_e - sc_s)) / CLK / dt * 100.0
        print(f"whole machine        {busy:.0f}% busy of {os.cpu_count() * 100}% in the window, of which router +"
              f" sipp {ours:.0f}% (the rest, ±accounting noise, is other work; loadavg"
              f" {open('/proc/loadavg').read().split()[0]} at the end)")
        print(f"kernel UDP (all procs) RcvbufErrors +{sn_e['RcvbufErrors'] - sn_s['RcvbufErrors']},"
              f" SndbufErrors +{sn_e['SndbufErrors'] - sn_s['SndbufErrors']} in the window;"
              f" whole run +{snmp1['RcvbufErrors'] - snmp0['RcvbufErrors']} /"
              f" +{snmp1['SndbufErrors'] - snmp0['SndbufErrors']}")
    else:
        print("steady window        not reached (run ended early)")
    if end_metrics:
        print(f"after the run        /metrics active_calls {end_metrics[2]}, RTP sent {end_metrics[0]},"
              f" received {end_metrics[1]}, SRTP dropped {end_metrics[3]}")
    bad = [l.rstrip() for l in open(log_path) if " WARN " in l or " ERROR " in l]
    print(f"router log           {len(bad)} WARN/ERROR lines" + (":" if bad else ""))
    for l in bad[:10]:
        print("    " + l)
    print(f"per-second samples   t: router% / RSS MiB / bridged / sipp%")
    print("    " + "; ".join(f"{s[0]:.0f}: {s[1]:.0f}/{s[2] // 1024}/{s[3]}/{s[4]:.0f}" for s in samples))
    if perf is not None:
        perf.wait()
        for sort, limit in (("dso", "1"), ("sym", "1.5")):
            rep = subprocess.run(["perf", "report", "-i", os.path.join(work, "perf.data"), "--no-children",
                                  "--sort", sort, "--stdio", "-g", "none", "--percent-limit", limit],
                                 capture_output=True, text=True).stdout
            print(f"perf by {sort:<12} " + "\n                     ".join(
                l.strip() for l in rep.splitlines() if l.strip() and not l.startswith("#")))
    if a.record:
        # Every bridged call's conversation: one stereo WAV of about the bridged time.
        import glob, wave
        files = glob.glob(os.path.join(work, "data", "conversations", "*", "*.wav"))
        lens = []
        for path in files:
            with wave.open(path) as w:
                assert (w.getnchannels(), w.getframerate()) == (2, 8000), path
                lens.append(w.getnframes() / 8000)
        size = sum(os.path.getsize(p) for p in files)
        want = a.hold - CONNECTING_S
        ok = sum(1 for l in lens if abs(l - want) < 1.0)
        print(f"recordings           {len(files)} stereo WAV files, {size / 2**20:.1f} MiB; "
              f"{ok} within 1 s of the {want:.1f} s bridged"
              + (f" (min {min(lens):.1f} s, max {max(lens):.1f} s)" if lens else ""))
    if a.floor and "end" in marks and bridged:
        # The floor right after, for as many calls as were bridged: the same machine, the
        # same minute, so the ratio is not at the mercy of the host's drift.
        out = subprocess.run(["cargo", "bench", "--quiet", "--bench", "media_floor", "--", "bridge",
                              "--calls", str(round(bridged)), "--secs", "10"],
                             cwd=REPO, check=True, capture_output=True, text=True).stdout
        line = next(l for l in out.splitlines() if l.startswith("floor bridge"))
        floor = float(line.split("relay ")[1].split(" %")[0])
        print(f"floor                {line}")
        for l in out.splitlines():
            if l != line and l.strip():
                print(f"                     {l.strip()}")
        print(f"router / floor       {mean / max(floor, 1e-9):.2f}x")
    print(f"work dir             {work}")
    sys.exit(1 if fail or m_fail else 0)


if __name__ == "__main__":
    main()
