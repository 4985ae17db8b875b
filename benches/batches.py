#!/usr/bin/env python3
"""Memory across repeated batches (issue 16): does a second identical batch of calls
need more memory than the first?

One release router; --batches batches of --calls IVR calls (listen --hold seconds, hang
up) at --rate calls/s, --gap seconds apart. The router's RSS is sampled every 0.2 s; per
batch the peak, and the RSS at the end of each gap (idle) are printed, with the second
batch's peak as a ratio to the first (target ≤ 1.05×).

A gap shorter than 32 s lets the next batch start while the last one's BYE transactions
still wait out Timer J (64·T1 on UDP, RFC 3261 §17.2.2), so its peak holds both; the
default gap is 40 s.

usage: benches/batches.py [--batches 3] [--calls 3000] [--rate 200] [--hold 1] [--gap 40]
                          [--binary PATH] [--env KEY=VALUE ...]
Needs sipp. Results: docs/performance.md ("Memory per call, and across batches").
"""
import argparse, os, subprocess, sys, threading, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bridge_load import rss_kib  # noqa: E402  (shared helper)
from common import REPO, start_router  # noqa: E402


def gauges(port):
    """Gauges from the router's /metrics: heap and resident (KiB, when the build exposes
    the allocator's figures), live SIP transactions and active calls; {} when unreadable."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return {}
    got = {}
    for line in text.splitlines():
        if line.startswith("switchboard_memory_bytes{"):
            kind = line.split('kind="', 1)[1].split('"', 1)[0]
            got[kind] = int(float(line.split()[-1]) / 1024)
        elif line.startswith("switchboard_sip_transactions "):
            got["txns"] = int(float(line.split()[-1]))
        elif line.startswith("switchboard_active_calls "):
            got["calls"] = int(float(line.split()[-1]))
    return got


def allocator_kib(port):
    """(heap, resident) from the router's /metrics, in KiB; (0, 0) when unreadable."""
    got = gauges(port)
    return got.get("heap", 0), got.get("resident", 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--hold", type=float, default=1, help="seconds each caller listens")
    ap.add_argument("--gap", type=float, default=40, help="seconds between batches")
    ap.add_argument("--port", type=int, default=28060)
    ap.add_argument("--http-port", type=int, default=28090,
                    help="the router's admin API, to read the allocator's figures when idle (0: off)")
    ap.add_argument("--binary", metavar="PATH", help="this switchboard binary instead of the release build")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the router (e.g. MALLOC_ARENA_MAX=2)")
    a = ap.parse_args()

    router, work = start_router("sb-batches-", a.port, a.http_port, binary=a.binary, env=a.env)
    start_rss = rss_kib(router.pid)

    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(router.pid))
            time.sleep(0.2)

    callers = os.path.join(work, "callers.csv")
    with open(callers, "w") as f:
        f.write("SEQUENTIAL\n5551234;1\n")
    rows, failed = [], 0
    for n in range(a.batches):
        peak[0] = 0
        stop.clear()
        sampler = threading.Thread(target=sample)
        sampler.start()
        stat = os.path.join(work, f"batch{n}.csv")
        subprocess.run(
            ["sipp", f"127.0.0.1:{a.port}", "-sf", os.path.join(REPO, "tests", "sipp", "uac_listen.xml"),
             "-i", "127.0.0.1", "-p", str(a.port + 10), "-mi", "127.0.0.1", "-mp", "40000",
             "-r", str(a.rate), "-m", str(a.calls), "-d", str(int(a.hold * 1000)), "-s", "1000",
             "-inf", callers, "-nostdin", "-timeout", f"{int(a.calls / a.rate + a.hold + 60)}s",
             "-trace_stat", "-stf", stat, "-fd", "1", "-l", "100000", "-max_socket", "60000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
        stop.set()
        sampler.join()
        with open(stat) as f:
            lines = f.read().splitlines()
        head, last = lines[0].split(";"), lines[-1].split(";")
        failed += int(last[head.index("FailedCall(C)")])
        batch_peak = peak[0]
        time.sleep(a.gap)
        heap, resident = allocator_kib(a.http_port) if a.http_port else (0, 0)
        rows.append((batch_peak, rss_kib(router.pid), heap, resident))
        print(f"batch {n + 1}: peak {batch_peak / 1024:.1f} MiB, idle {rows[-1][1] / 1024:.1f} MiB "
              f"after {a.gap:g} s" + (f" (allocator: heap {heap / 1024:.1f} MiB, resident "
                                      f"{resident / 1024:.1f} MiB)" if resident else ""), flush=True)
    router.terminate()
    router.wait(timeout=15)

    print(f"\nbatches              {a.batches} × {a.calls} IVR calls of {a.hold:g} s at {a.rate:g} calls/s, "
          f"{a.gap:g} s apart{' (' + ' '.join(a.env) + ')' if a.env else ''}; {failed} failed")
    print(f"RSS at start         {start_rss / 1024:.1f} MiB")
    print("peaks                " + " → ".join(f"{r[0] / 1024:.1f}" for r in rows) + " MiB")
    print("idle after each      " + " → ".join(f"{r[1] / 1024:.1f}" for r in rows) + " MiB")
    if rows and rows[0][3]:
        print("  allocator heap     " + " → ".join(f"{r[2] / 1024:.1f}" for r in rows) + " MiB")
        print("  allocator resident " + " → ".join(f"{r[3] / 1024:.1f}" for r in rows) + " MiB")
    if len(rows) > 1:
        print(f"second / first peak  {rows[1][0] / max(rows[0][0], 1):.3f}× (target ≤ 1.05×)")
    print(f"work dir             {work}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
