"""The web load benchmark: throughput and p50/p99 latency of the register page, a provider's
dashboard and a JSON endpoint, idle and while a return is being built, next to a bare axum
handler measured in the same run.

The register and lake are the returns benchmark's one-year world (190 trusts with 58 wards
each sending the daily census, 15,000 care homes sending monthly capacity): 84,000 runs in
the ledger. `tally serve` serves them; `wrk` sends the load from the same 2-core machine, so
every figure includes the load generator's share of the CPU, as the baseline's does.

Run through benches/run-web, which builds the release binaries first.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import returns as world  # noqa: E402  (the returns benchmark's generator)

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer within {seconds} s")


def sign_in(base, token):
    """Signs in through the form, as a browser does, and returns the session cookie."""
    with urllib.request.urlopen(f"{base}/sign-in") as r:
        nonce = re.search(r"tally_sign_in=([0-9a-f]+)", r.headers["Set-Cookie"]).group(1)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    body = f"token={token}&csrf={nonce}".encode()
    req = urllib.request.Request(f"{base}/sign-in", data=body, headers={"Cookie": f"tally_sign_in={nonce}"})
    try:
        urllib.request.build_opener(NoRedirect).open(req)
    except urllib.error.HTTPError as e:
        cookie = e.headers["Set-Cookie"]
        return re.search(r"(tally_session=[0-9a-f]+)", cookie).group(1)
    sys.exit("signing in did not redirect")


def wrk(url, seconds, connections, header=None):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if header:
        cmd[1:1] = ["-H", header]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tally", required=True, type=Path)
    parser.add_argument("--trivial", required=True, type=Path)
    parser.add_argument("--work", type=Path, help="keep the generated world here (default: a temp folder)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tally-web-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data-1y"
    env = world.tally_env(data)
    if not (data / "tally.db").exists():
        print("Generating the one-year world …", file=sys.stderr)
        world.setup(args.tally, work, 1)
        world.generate(data, 1)
    tokens = {}
    for role, extra in [("provider", ["--provider", world.trust(0)]), ("dhsc", [])]:
        out = subprocess.run([str(args.tally), "token", "create", "--role", role, "--name", f"bench {role}", *extra],
                             env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        tokens[role] = out.stdout.strip()
    port, trivial_port = free_port(), free_port()
    serve_env = dict(env, TALLY_SOURCES=str(work / "no-sources.toml"), RUST_LOG="warn")
    serve = subprocess.Popen([str(args.tally), "serve", "--bind", f"127.0.0.1:{port}"], env=serve_env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trivial = subprocess.Popen([str(args.trivial), f"127.0.0.1:{trivial_port}"], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/readyz")
        wait_for(f"http://127.0.0.1:{trivial_port}/")
        cookie = sign_in(base, tokens["provider"])
        targets = [
            ("trivial axum handler", f"http://127.0.0.1:{trivial_port}/", None),
            ("register page /", f"{base}/", None),
            (f"provider dashboard /providers/{world.trust(0)}", f"{base}/providers/{world.trust(0)}", f"Cookie: {cookie}"),
            ("JSON /api/v1/runs?limit=50", f"{base}/api/v1/runs?limit=50", f"Authorization: Bearer {tokens['provider']}"),
        ]
        results = []
        for state in ["idle", "building"]:
            builder = None
            if state == "building":
                # KH03 for the year, quarter after quarter, for as long as the load lasts.
                build = (f"while true; do {args.tally} returns build kh03-quarterly --period 2027-28-Q1 "
                         f"--to 2027-28-Q4 >/dev/null 2>&1 || exit 1; done")
                builder = subprocess.Popen(["bash", "-c", build], env=env, cwd=ROOT, start_new_session=True)
                time.sleep(1)
            for name, url, header in targets:
                r = wrk(url, args.seconds, args.connections, header)
                r.update(target=name, state=state)
                results.append(r)
                print(f"{state:9} {name:45} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                      f"p99 {r['p99_ms']:7.2f} ms  non-2xx {r['non_2xx']}", file=sys.stderr)
            if builder:
                alive = builder.poll() is None
                os.killpg(builder.pid, signal.SIGTERM)
                builder.wait()
                if not alive:
                    sys.exit("the return build failed during the load")
    finally:
        serve.send_signal(signal.SIGTERM)
        trivial.kill()
        serve.wait(timeout=30)
        trivial.wait()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    base_rps = {r["state"]: r["rps"] for r in results if r["target"] == "trivial axum handler"}
    print(f"\n| target | state | req/s | p50 ms | p99 ms | req/s vs trivial axum (same state) |")
    print("|---|---|---:|---:|---:|---:|")
    for r in results:
        ratio = r["rps"] / base_rps[r["state"]]
        print(f"| {r['target']} | {r['state']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
