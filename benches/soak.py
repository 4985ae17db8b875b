#!/usr/bin/env python3
"""Soak benchmark (issue 16): mixed traffic for a long time against one release router,
watching for what only time shows: memory that creeps, descriptors that leak, calls that
start failing.

Three sipp callers run at once for --minutes, together --rate calls/s:
- IVR (40 %): number 1000 plays the main menu; the caller listens --ivr-secs and hangs up;
- bridged (40 %): number 2000 → department "team" → one sipp phone (answers at once,
  streams audio), the caller streams audio too and hangs up --bridge-secs after the answer;
- voicemail (20 %): number 3000 is after hours → confirmation, greeting, beep, a
  message of a few seconds ended by # (RFC 4733), stored and queued as a callback.
Records, voicemails and callback requests land in the router's SQLite store and data
directory, as in production, so a store or file that grows without bound shows.

Every --sample seconds: the router's RSS, open descriptors, threads and CPU. At the end:
RSS over the first and the last fifth of the steady part (from one minute in to the end
of arrivals; the target is flat within 5 %), the descriptor count at the same points (no
growth), failed calls per kind, WARN/ERROR lines.

With the admin API on (--http-port), each sample also reads the allocator's live heap
from `/metrics` (`switchboard_memory_bytes{kind="heap"}`), which tells a leak (the heap
climbs) from an allocator keeping freed pages (RSS climbs, the heap does not).

usage: benches/soak.py [--minutes 30] [--rate 100] [--no-build] [--binary PATH]
                       [--env KEY=VALUE ...]
Needs sipp and sox. Results: docs/performance.md.
"""
import argparse, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from batches import gauges  # noqa: E402
from bridge_load import last_stat, rss_kib, stat_int, ulaw  # noqa: E402  (shared helpers)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK = os.sysconf("SC_CLK_TCK")
SIPP = os.path.join(REPO, "tests", "sipp")

PLAN = """
[[numbers]]
number = "1000"
source = "soak-ivr"
action = "menu:main"

[[numbers]]
number = "2000"
source = "soak-bridge"
action = "department:team"

[[numbers]]
number = "3000"
source = "soak-night"
action = "department:night"

[menus.main]
prompt = "main_menu"
timeout_secs = 60
[menus.main.options]
"1" = "department:team"

[departments.team]
members = ["andrew"]
wrap_up_secs = 0
max_waiting = 0
ring_timeout_secs = 10

[departments.night]
members = ["andrew"]
hours = "never"
after_hours = "voicemail:night"

[hours.never]
timezone = "UTC"

[voicemail.night]
greeting = "voicemail_greeting"
max_secs = 30

[managers.andrew]
extension = "101"
contact = "sip:101@127.0.0.1:{uas_port}"
max_calls = 100000
"""


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), int(fields[17])  # cpu ticks, threads


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=100, help="calls per second, all kinds together")
    ap.add_argument("--ivr-secs", type=float, default=5)
    ap.add_argument("--bridge-secs", type=float, default=10)
    ap.add_argument("--port", type=int, default=27060)
    ap.add_argument("--sample", type=float, default=10)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--binary", metavar="PATH", help="this switchboard binary instead of the release build")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the router (e.g. MALLOC_ARENA_MAX=2)")
    ap.add_argument("--http-port", type=int, default=27090,
                    help="the router's admin API, for the heap figure (0: off)")
    a = ap.parse_args()

    if not a.no_build and not a.binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    binary = a.binary or os.path.join(target, "release", "switchboard")
    work = tempfile.mkdtemp(prefix="sb-soak-")
    audio = os.path.join(work, "caller.ulaw")
    ulaw(os.path.join(REPO, "prompts", "main_menu.wav"), audio)
    ports = {"ivr": a.port + 10, "bridge": a.port + 12, "vm": a.port + 14, "uas": a.port + 20}
    cfg = os.path.join(work, "soak.toml")
    with open(cfg, "w") as f:
        f.write(f'[server]\nsip_listen = "127.0.0.1:{a.port}"\n'
                + (f'http_listen = "127.0.0.1:{a.http_port}"\n' if a.http_port else 'http_listen = "off"\n')
                + f'rtp_ports = "10000-19999"\nprompts_dir = "{REPO}/prompts"\n'
                f'data_dir = "{work}/data"\nrtp_timeout_secs = 60\nring_before_answer_ms = 0\n'
                + PLAN.format(uas_port=ports["uas"]))
    log_path = os.path.join(work, "router.log")
    router = subprocess.Popen([binary, "run", "--config", cfg], stdout=open(log_path, "w"),
                              stderr=subprocess.STDOUT,
                              env={**os.environ, "SWITCHBOARD_LOG": "warn", "NO_COLOR": "1",
                                   **dict(kv.split("=", 1) for kv in a.env)})
    time.sleep(1.0)
    if router.poll() is not None:
        sys.exit("router failed to start: see " + log_path)

    secs = a.minutes * 60
    common = ["-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin", "-timeout", f"{int(secs + 120)}s",
              "-l", "100000", "-max_socket", "60000", "-trace_stat", "-fd", "5"]
    callers = os.path.join(work, "callers.csv")
    with open(callers, "w") as f:
        f.write("SEQUENTIAL\n5551234;1\n")
    dtmf = os.path.join(REPO, "tests", "data", "dtmf_2833_pound.pcap")
    kinds = {
        "ivr": (0.4, "uac_listen_rtp.xml", "1000", a.ivr_secs, []),
        "bridge": (0.4, "uac_listen_rtp.xml", "2000", 2.72 + a.bridge_secs, []),
        # Confirmation 4.85 s + greeting 4.18 s + beep, then ~3 s of message and #.
        "vm": (0.2, "uac_voicemail.xml", "3000", 12.5, ["-key", "dtmf_pcap", dtmf]),
    }
    procs = {}
    uas_stat = os.path.join(work, "uas.csv")
    procs["uas"] = subprocess.Popen(
        ["sipp", "-sf", os.path.join(SIPP, "uas_load_answer.xml"), "-p", str(ports["uas"]),
         "-mp", "46000", "-stf", uas_stat, "-key", "phone_audio", f"{audio},-1,0"] + common,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    time.sleep(0.5)
    t0 = time.time()
    c0, _ = proc_stat(router.pid)
    for name, (share, xml, number, hold, extra) in kinds.items():
        rate = a.rate * share
        calls = int(rate * secs)
        procs[name] = subprocess.Popen(
            ["sipp", f"127.0.0.1:{a.port}", "-sf", os.path.join(SIPP, xml), "-p", str(ports[name]),
             "-mp", str({"ivr": 40000, "bridge": 42000, "vm": 44000}[name]), "-s", number,
             "-inf", callers, "-r", str(rate), "-m", str(calls), "-d", str(int(hold * 1000)),
             "-stf", os.path.join(work, f"{name}.csv"),
             "-key", "caller_audio", f"{audio},-1,0"] + extra + common,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)

    # (t, rss KiB, fds, threads, cpu % since the last sample, heap KiB, transactions, calls)
    samples = []
    last_t, last_c = t0, c0
    while any(procs[k].poll() is None for k in kinds):
        time.sleep(a.sample)
        now = time.time()
        c, threads = proc_stat(router.pid)
        g = gauges(a.http_port) if a.http_port else {}
        samples.append((now - t0, rss_kib(router.pid), fds(router.pid), threads,
                        (c - last_c) / CLK / (now - last_t) * 100,
                        g.get("heap", 0), g.get("txns", 0), g.get("calls", 0)))
        last_t, last_c = now, c
        s = samples[-1]
        print(f"t={s[0]:6.0f}s  RSS {s[1] / 1024:6.1f} MiB  fds {s[2]:5d}  threads {s[3]:3d}  CPU {s[4]:5.1f}%"
              + (f"  heap {s[5] / 1024:6.1f} MiB" if s[5] else "")
              + (f"  calls {s[7]:5d}  transactions {s[6]:5d}" if a.http_port else ""),
              flush=True)
        if router.poll() is not None:
            print("router exited!")
            break
        if now - t0 > secs + 120:
            break
    time.sleep(15)  # the last calls end, lingering transactions expire
    idle = (rss_kib(router.pid), fds(router.pid))
    procs["uas"].terminate()
    router.terminate()
    router.wait(timeout=15)

    # The steady part: after a minute (every kind of call has reached its full count
    # at once) and before the arrivals stop (the callers then drain).
    steady = [s for s in samples if 60 <= s[0] <= secs] or samples
    fifth = max(1, len(steady) // 5)
    first, last = steady[:fifth], steady[-fifth:]
    mean = lambda xs: sum(xs) / max(len(xs), 1)
    rss_first, rss_last = mean([s[1] for s in first]), mean([s[1] for s in last])
    print(f"\nload                 {a.rate:g} calls/s for {a.minutes:g} min (IVR 40 %, bridged 40 %, voicemail 20 %)")
    for name in kinds:
        row = last_stat(os.path.join(work, f"{name}.csv"))
        print(f"  {name:8s}           {stat_int(row, 'SuccessfulCall(C)')} ok, {stat_int(row, 'FailedCall(C)')} failed")
    print(f"router CPU           {mean([s[4] for s in samples]):.1f}% of one core on average")
    print(f"router RSS (steady)  first fifth {rss_first / 1024:.1f} MiB, last fifth {rss_last / 1024:.1f} MiB "
          f"({(rss_last / max(rss_first, 1) - 1) * 100:+.1f} %); peak {max(s[1] for s in samples) / 1024:.1f} MiB; "
          f"{idle[0] / 1024:.1f} MiB idle after the run")
    heap_first, heap_last = mean([s[5] for s in first]), mean([s[5] for s in last])
    if heap_first:
        print(f"heap (steady)        first fifth {heap_first / 1024:.1f} MiB, last fifth {heap_last / 1024:.1f} MiB "
              f"({(heap_last / heap_first - 1) * 100:+.1f} %)")
    print(f"descriptors (steady) first fifth {min(s[2] for s in first)}–{max(s[2] for s in first)}, "
          f"last fifth {min(s[2] for s in last)}–{max(s[2] for s in last)}; {idle[1]} idle after the run")
    print(f"threads              {min(s[3] for s in samples)}–{max(s[3] for s in samples)}")
    bad = [l.rstrip() for l in open(log_path) if " WARN " in l or " ERROR " in l]
    print(f"router log           {len(bad)} WARN/ERROR lines" + (":" if bad else ""))
    for l in bad[:10]:
        print("    " + l)
    print(f"work dir             {work}")


if __name__ == "__main__":
    main()
