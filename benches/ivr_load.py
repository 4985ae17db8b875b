#!/usr/bin/env python3
"""IVR load benchmark: sipp callers at RATE calls/s each listen to the prompt for
DURATION seconds, against a release build of switchboard. Prints achieved calls/s,
failed calls, peak concurrent calls, the router's CPU (% of one core: mean over the
steady window and peak 1 s sample) and peak RSS.

The steady window: when CALLS/RATE < DURATION, every call is up and listening from the
last call's start until the first hang-up, and nothing arrives or leaves: the window is
that stretch, media alone, which is what the floor does (e.g. --rate 50 --duration 40
--calls 500: 500 streams for about 28 s). Otherwise calls keep arriving and leaving at
RATE and the window is from full ramp (DURATION) until the arrivals stop: media plus the
signalling and records of RATE calls/s.

usage: benches/ivr_load.py [--rate 50] [--duration 10] [--calls 1000] [--caller-audio]
                          [--read] [--floor [--together]] [--place free|apart|beside]
                          [--perf SECS] [--repeat N [--against PATH]] [--floor-binary PATH]
--floor runs the floor against a reader of its own, the same program as the router's,
and --place pins the sender, the reader and sipp alike for both runs (the sender pays
the reader's wake-ups on loopback, and their price depends on the reader's CPU).
--together runs the floor during the router's steady window instead of after it, so
both are measured over the same seconds of the host (whose speed drifts by tens of
percent from one minute to the next: docs/performance.md).
--repeat N runs the whole benchmark N times, each once the 1-minute load is below 0.40,
alternating with the build at PATH when --against is given, and prints the medians:
where the sender shares its CPU (--place beside) one run's ratio to the floor means
little, the median of many does.
Needs sipp (apt-get install sip-tester), for --caller-audio sox, for --perf perf,
for --place taskset (util-linux).
"""
import argparse, os, re, statistics, subprocess, sys, time, csv, signal, json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, start_router  # noqa: E402
CLK = os.sysconf("SC_CLK_TCK")
# The readers' ports: the router's prompt streams (every caller's SDP names it), the floor's.
ROUTER_READER_PORT, FLOOR_PORT = 41000, 41001

def cpu_split(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime

def cpu_ticks(pid):
    return sum(cpu_split(pid))

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

def rss_kib(pid, key="VmHWM"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0

def pin(cpu):
    """The command prefix that keeps a process on `cpu` (none: the scheduler's choice)."""
    return ["taskset", "-c", cpu] if cpu else []

def floor_binary():
    """Builds benches/media_floor.rs and returns its executable's path: run directly, not
    through cargo, so no cargo process shares a measured CPU."""
    out = subprocess.run(["cargo", "bench", "--quiet", "--no-run", "--bench", "media_floor",
                          "--message-format", "json"], cwd=REPO, check=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "media_floor" \
                and msg.get("executable"):
            return msg["executable"]
    sys.exit("cargo did not name the media_floor bench's executable")

def start_reader(floor, port, secs, cpu):
    """benches/media_floor.rs's reader on 127.0.0.1:PORT for SECS, pinned to `cpu`."""
    reader = subprocess.Popen(
        pin(cpu) + [floor, "receive", "--listen", f"127.0.0.1:{port}", "--secs", str(secs)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    return reader

def start_floor(floor, port, streams, secs, cpu):
    """The floor's sender: STREAMS prompt streams for SECS to the reader on 127.0.0.1:PORT."""
    return subprocess.Popen(pin(cpu) + [floor, "ivr", "--streams", str(streams), "--secs", str(secs),
                                        "--to", f"127.0.0.1:{port}"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)

def report_floor(sender, reader, router_mean):
    """Prints the floor's figures and the router's ratio to it."""
    out = sender.communicate(timeout=120)[0]
    floor_delivery = reader.communicate(timeout=60)[0].strip().splitlines()
    line = next(l for l in out.splitlines() if l.startswith("floor ivr"))
    floor = float(line.split("sender ")[1].split(" %")[0])
    print(f"floor                {line}")
    if floor_delivery and floor_delivery[-1].startswith("receiver:"):
        print(f"floor's delivery     {floor_delivery[-1]}")
    print(f"router / floor       {router_mean / max(floor, 1e-9):.2f}x")

QUIET_LOAD = 0.40

def wait_for_quiet():
    """Blocks until the 1-minute load average is below QUIET_LOAD (saying so once: on a
    machine that never quiets down, the wait is the finding)."""
    said = False
    while float(open("/proc/loadavg").read().split()[0]) >= QUIET_LOAD:
        if not said:
            print(f"   waiting for the 1-minute load to fall below {QUIET_LOAD}", flush=True)
            said = True
        time.sleep(5)

# What --repeat keeps of each run's output: a label and how to read its figure.
FIGURES = (("router", r"^router CPU\s+([\d.]+)%"), ("pacer", r"rtp-pacer ([\d.]+)%"),
           ("tokio", r"tokio-rt-worker ([\d.]+)%"), ("store", r"store ([\d.]+)%"),
           ("floor", r"^floor\s+floor ivr: .*sender ([\d.]+) %"), ("ratio", r"^router / floor\s+([\d.]+)x"))

def repeat(a):
    """Runs this script N times (alternating two builds with --against) and prints medians."""
    child = []
    skip = False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg in ("--repeat", "--against", "--binary", "--floor-binary"):
            skip = True
        elif not arg.startswith(("--repeat=", "--against=", "--binary=", "--floor-binary=")):
            child.append(arg)
    # Built once, before the first run: a build that starts during a run (the sources
    # changed since) would share the measured CPUs.
    if a.floor_binary or a.read or a.floor:
        child += ["--floor-binary", a.floor_binary or floor_binary()]
    builds = [("A", a.binary)] + ([("B", a.against)] if a.against else [])
    runs = {label: [] for label, _ in builds}
    for n in range(1, a.repeat + 1):
        for label, binary in builds:
            wait_for_quiet()
            load = open("/proc/loadavg").read().split()[0]
            print(f"== run {n} build {label} ({binary or 'release build'}) "
                  f"{time.strftime('%H:%M:%S')}, load {load}", flush=True)
            cmd = [sys.executable, os.path.abspath(__file__)] + child + (["--binary", binary] if binary else [])
            done = subprocess.run(cmd, capture_output=True, text=True)
            out = done.stdout
            if done.returncode != 0:
                # A run with failed calls still reports its figures; say so beside them.
                print(f"   (this run exited {done.returncode}: see its output above or rerun it alone)")
            figures = {}
            for line in out.splitlines():
                if line.startswith(("router CPU", "  by thread", "delivery", "floor", "router /")):
                    print("   " + line)
                for name, pattern in FIGURES:
                    m = re.search(pattern, line)
                    if m and name not in figures:
                        figures[name] = float(m.group(1))
            runs[label].append(figures)
    for label, binary in builds:
        print(f"medians, build {label} ({binary or 'release build'}), {len(runs[label])} runs:")
        for name, _ in FIGURES:
            values = [r[name] for r in runs[label] if name in r]
            if values:
                print(f"   {name:<7} {statistics.median(values):.2f}  (runs: "
                      + ", ".join(f"{v:g}" for v in values) + ")")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--duration", type=float, default=10, help="seconds each caller listens")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--caller-audio", action="store_true", help="callers also stream audio (RTP both ways)")
    ap.add_argument("--port", type=int, default=25060)
    ap.add_argument("--read", action="store_true",
                    help="point every caller's SDP at benches/media_floor.rs's receiver, which reads the "
                         "router's RTP and reports loss, reordering and inter-packet gaps")
    ap.add_argument("--floor-binary", metavar="PATH",
                    help="the media_floor executable to run (--repeat passes the one it built, so no "
                         "run starts a build)")
    ap.add_argument("--floor", action="store_true",
                    help="afterwards, measure the floor (benches/media_floor.rs ivr) for the same number of "
                         "streams and print the router's CPU as a ratio to it")
    ap.add_argument("--together", action="store_true",
                    help="with --floor: run the floor during the router's steady window (all calls held), "
                         "not after it, so both see the same seconds of the host")
    ap.add_argument("--place", choices=("free", "apart", "beside"), default="free",
                    help="CPU placement, the same for the router's run and the floor's: free (the scheduler "
                         "chooses), apart (router or floor sender on CPU 0; the reader and sipp on CPU 1), "
                         "beside (router or floor sender and the reader on CPU 0; sipp on CPU 1). A loopback "
                         "sender pays for waking the reader, and waking it on another CPU costs far more "
                         "(docs/performance.md)")
    ap.add_argument("--perf", type=float, default=0, metavar="SECS",
                    help="also perf-record the router for SECS from the start of the steady window and print "
                         "the top symbols by self time (this perturbs the CPU figure: profile and measure "
                         "in separate runs)")
    ap.add_argument("--binary", metavar="PATH",
                    help="run this switchboard binary instead of the release build (A/B runs against "
                         "another commit's build)")
    ap.add_argument("--repeat", type=int, default=0, metavar="N",
                    help="run the benchmark N times, each once the 1-minute load is below 0.40, and print "
                         "the medians (the figures of one run spread widely where the sender shares its CPU)")
    ap.add_argument("--against", metavar="PATH",
                    help="with --repeat: alternate each run with this switchboard binary (an A/B)")
    a = ap.parse_args()
    if a.repeat:
        repeat(a)
        return
    floor_bin = a.floor_binary or (floor_binary() if a.read or a.floor else None)

    # CPUs for (the sender: router or floor, the reader, sipp); None: the scheduler's choice.
    cpus = {"free": (None, None, None), "apart": ("0", "1", "1"), "beside": ("0", "0", "1")}[a.place]

    router, work = start_router("sb-bench-", a.port, binary=a.binary)
    if cpus[0]:
        # -a: every thread the router has now; threads it starts later inherit the mask.
        subprocess.run(["taskset", "-a", "-p", "-c", cpus[0], str(router.pid)], check=True,
                       stdout=subprocess.DEVNULL)

    scenario = "uac_listen.xml"
    extra = []
    if a.caller_audio:
        audio = os.path.join(work, "caller.ulaw")
        subprocess.run(["sox", os.path.join(REPO, "prompts", "main_menu.wav"), "-t", "raw", "-r", "8000",
                        "-c", "1", "-e", "mu-law", audio], check=True)
        scenario = "uac_listen_rtp.xml"
        extra = ["-key", "caller_audio", f"{audio},-1,0"]
    callers = os.path.join(work, "callers.csv")
    with open(callers, "w") as f:
        f.write("SEQUENTIAL\n5551234;1\n")
    stat = os.path.join(work, "stat.csv")
    scenario_path = os.path.join(REPO, "tests", "sipp", scenario)
    receiver = None
    if a.read:
        # Every caller's SDP names the receiver's port, so all prompt streams go there.
        text = open(scenario_path).read().replace("m=audio [media_port]", f"m=audio {ROUTER_READER_PORT}")
        scenario_path = os.path.join(work, "listen_read.xml")
        open(scenario_path, "w").write(text)
        receiver = start_reader(floor_bin, ROUTER_READER_PORT, int(a.calls / a.rate + a.duration + 30), cpus[1])
    cmd = pin(cpus[2]) + ["sipp", f"127.0.0.1:{a.port}", "-sf", scenario_path,
           "-i", "127.0.0.1", "-p", "25070", "-mi", "127.0.0.1", "-mp", "40000",
           "-r", str(a.rate), "-m", str(a.calls), "-d", str(int(a.duration * 1000)), "-s", "1000",
           "-inf", callers, "-nostdin", "-timeout", str(int(a.calls / a.rate + a.duration + 60)) + "s",
           "-trace_stat", "-stf", stat, "-fd", "1", "-l", "100000", "-max_socket", "60000"] + extra
    t0 = time.time(); c0 = cpu_ticks(router.pid); u0, s0 = cpu_split(router.pid)
    sipp = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    samples = []
    last_t, last_c = t0, c0
    last_start = a.calls / a.rate
    held = last_start + 2 < a.duration - 2
    # See the module's docs: all calls held, or arrivals and departures at RATE.
    win_start, win_end = (last_start + 2, a.duration - 2) if held else (a.duration + 1, last_start)
    threads = {}  # steady window: (time, per-thread ticks) at its start and end
    perf = None
    if a.together and not held:
        sys.exit("--together needs a held window: --calls / --rate + 4 < --duration")
    together = None  # (the floor's sender, its reader) while they run beside the router
    if a.floor and a.together:
        # Its reader waits from now; the sender starts with the steady window.
        together_reader = start_reader(floor_bin, FLOOR_PORT, int(win_end + 10), cpus[1])
    while sipp.poll() is None:
        time.sleep(1.0)
        now, c = time.time(), cpu_ticks(router.pid)
        samples.append((now - t0, (c - last_c) / CLK / (now - last_t) * 100.0, rss_kib(router.pid, "VmRSS")))
        last_t, last_c = now, c
        if now - t0 >= win_start and "start" not in threads:
            threads["start"] = (now, thread_ticks(router.pid))
            if a.floor and a.together:
                secs = max(int(win_end - (now - t0)), 5)
                together = (start_floor(floor_bin, FLOOR_PORT, a.calls, secs, cpus[0]), together_reader)
            if a.perf:
                perf = subprocess.Popen(["perf", "record", "-q", "-g", "-F", "999", "-p", str(router.pid),
                                         "-o", os.path.join(work, "perf.data"), "--", "sleep", str(a.perf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if now - t0 <= win_end:
            threads["end"] = (now, thread_ticks(router.pid))
    wall = time.time() - t0
    total_cpu = (cpu_ticks(router.pid) - c0) / CLK
    u1, s1 = cpu_split(router.pid)
    peak_rss = rss_kib(router.pid)
    router.send_signal(signal.SIGINT)
    router.wait(timeout=10)

    rows = list(csv.DictReader(open(stat), delimiter=";"))
    last = rows[-1] if rows else {}
    succ = int(last.get("SuccessfulCall(C)", 0)); fail = int(last.get("FailedCall(C)", 0))
    peak = max((int(r.get("CurrentCall", 0) or 0) for r in rows), default=0)
    steady = [s for s in samples if win_start <= s[0] <= win_end] or samples
    mean = sum(s[1] for s in steady) / max(len(steady), 1)
    print(f"rate requested       {a.rate:.0f} calls/s, {a.calls} calls of {a.duration:.0f} s"
          f"{' (callers stream audio)' if a.caller_audio else ''}")
    print(f"achieved             {succ / max(last_start, 1e-9):.1f} calls/s (successful {succ}, failed {fail})")
    print(f"peak concurrent      {peak} calls")
    window = "all calls held, none arriving" if held else f"{a.rate:.0f} calls/s arriving and leaving"
    print(f"placement            {a.place}" + (f" (sender CPU {cpus[0]}, reader CPU {cpus[1]}, sipp CPU {cpus[2]})"
                                                 if cpus[0] else " (the scheduler's choice)"))
    print(f"steady window        {win_start:.0f}-{win_end:.0f} s: {window}")
    print(f"router CPU           {mean:.1f}% of one core in the steady window "
          f"(peak 1 s sample {max((s[1] for s in samples), default=0):.1f}%, whole run {total_cpu / wall * 100:.1f}%)")
    print(f"  user / kernel        {(u1 - u0) / CLK / wall * 100:.1f}% / {(s1 - s0) / CLK / wall * 100:.1f}% (whole run)")
    if "start" in threads and "end" in threads and threads["end"][0] > threads["start"][0]:
        (ts, th_s), (te, th_e) = threads["start"], threads["end"]
        by = sorted(((v - th_s.get(k, 0), k) for k, v in th_e.items()), reverse=True)
        print("  by thread          " + ", ".join(f"{k} {d / CLK / (te - ts) * 100:.1f}%" for d, k in by if d)
              + " (steady window)")
    if peak:
        print(f"per concurrent call  {mean / peak:.4f}% of a core")
    print(f"router peak RSS      {peak_rss / 1024:.1f} MiB (RSS per second: "
          f"{', '.join(str(s[2] // 1024) for s in samples[:: max(1, len(samples) // 12)])} MiB)")
    if receiver is not None:
        out, _ = receiver.communicate(timeout=60)
        print("delivery             " + out.strip().splitlines()[-1])
    if together is not None:
        print("floor run            together with the router's steady window")
        report_floor(*together, mean)
    elif a.floor and peak:
        secs = max(int(win_end - win_start), 5)
        # The floor sends to a reader of the same program as the router's, placed as it was.
        floor_reader = start_reader(floor_bin, FLOOR_PORT, secs + 5, cpus[1])
        report_floor(start_floor(floor_bin, FLOOR_PORT, peak, secs, cpus[0]), floor_reader, mean)
    if perf is not None:
        perf.wait()
        for sort, limit in (("dso", "1"), ("sym", "1")):
            rep = subprocess.run(["perf", "report", "-i", os.path.join(work, "perf.data"), "--no-children",
                                  "--sort", sort, "--stdio", "-g", "none", "--percent-limit", limit],
                                 capture_output=True, text=True).stdout
            print(f"perf by {sort:<12} " + "\n                     ".join(
                l.strip() for l in rep.splitlines() if l.strip() and not l.startswith("#")))
    print(f"work dir             {work}")
    sys.exit(1 if fail else 0)

if __name__ == "__main__":
    main()
