"""What the benchmark scripts share: starting a release router on a config of their own.

    from common import REPO, start_router
    router, work = start_router("sb-bench-", port=25060, binary=a.binary)
"""
import os, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_router(prefix, port, http_port=0, rtp="10000-17999", binary=None, env=(), extra=""):
    """Build the release router (unless `binary` is given), copy it into a new work
    directory, write its config there and start it with SWITCHBOARD_LOG=warn, its log in
    `router.log`. Returns (the router's Popen, the work directory); exits when it does
    not start. The copy: `cargo bench` may relink the release binary while the router
    runs, and perf could then no longer name its symbols. `env` is KEY=VALUE strings."""
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    work = tempfile.mkdtemp(prefix=prefix)
    copy = os.path.join(work, "switchboard")
    shutil.copy2(binary or os.path.join(target, "release", "switchboard"), copy)
    cfg = os.path.join(work, "bench.toml")
    with open(cfg, "w") as f:
        f.write(f'[server]\nsip_listen = "127.0.0.1:{port}"\n'
                + (f'http_listen = "127.0.0.1:{http_port}"\n' if http_port else 'http_listen = "off"\n')
                + f'rtp_ports = "{rtp}"\nprompts_dir = "{REPO}/prompts"\n'
                f'data_dir = "{work}/data"\nrtp_timeout_secs = 120\n' + extra)
    environ = {**os.environ, "SWITCHBOARD_LOG": "warn", "NO_COLOR": "1"}
    environ.update(kv.split("=", 1) for kv in env)
    log = open(os.path.join(work, "router.log"), "w")
    router = subprocess.Popen([copy, "run", "--config", cfg], stdout=log, stderr=log, env=environ)
    time.sleep(1.0)
    if router.poll() is not None:
        sys.exit("router failed to start: see " + log.name)
    return router, work
