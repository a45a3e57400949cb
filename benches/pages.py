"""What each page and endpoint of the load benchmark costs, one request at a time.

Over a world the load benchmark made (`benches/run-load --work DIR`, whose runs have all
landed), `tally serve` is started on a copy of it with the scheduler quiet (it steps once
at start, then every ten minutes; on a world made the same day nothing more is due, and on
an older one the days since fail at once, their suppliers gone), and each of the load
benchmark's ten targets is asked for in turn, one request after another, the first answer
apart from the median of the rest: what a request costs Tally alone, with nothing queued.
Beside them, the statements a request sent to the database (sqlx logs each one at debug,
which the service here does, so the times include that logging), over all the requests.
Python's standard library only; loopback only.

    python3 benches/pages.py --tally target/release/tally --world DIR [--requests 15]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from web import free_port, sign_in, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tally", required=True, type=Path)
    parser.add_argument("--world", required=True, type=Path, help="a --work folder of benches/run-load")
    parser.add_argument("--requests", type=int, default=15)
    args = parser.parse_args()
    if args.requests < 2:
        sys.exit("--requests must be at least 2: the first answer and the median of the rest")
    with tempfile.TemporaryDirectory(prefix="tally-pages-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(args.world / "data", data)
        env = dict(os.environ, TALLY_DATA_DIR=str(data), TALLY_DATABASE_URL=f"sqlite://{data}/tally.db",
                   TALLY_SOURCES=str(args.world / "sources.toml"))

        def token(role):
            extra = ["--provider", "R00"] if role == "provider" else []
            out = subprocess.run([str(args.tally), "token", "create", "--role", role, "--name", f"pages {role}",
                                  *extra], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
            return out.stdout.strip()

        tokens = {role: token(role) for role in ("dap", "dhsc", "provider")}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # sqlx logs each statement at debug: the log counts the statements a request makes.
        log_path = Path(tmp) / "serve.log"
        log = open(log_path, "w")
        serve = subprocess.Popen([str(args.tally), "serve", "--bind", f"127.0.0.1:{port}", "--step-seconds", "600"],
                                 env=dict(env, TALLY_LOG="warn,sqlx::query=debug"), cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_for(f"{base}/readyz")
            cookie = {role: ("Cookie", sign_in(base, tokens[role])) for role in tokens}
            bearer = {role: ("Authorization", f"Bearer {tokens[role]}") for role in tokens}
            targets = [
                ("register page", "/", None),
                ("progress page", "/progress", None),
                ("collection page", "/collections/ward-bed-census", None),
                ("provider dashboard", "/providers/R00", cookie["provider"]),
                ("DAP page", "/dap", cookie["dap"]),
                ("returns page", "/returns", cookie["dhsc"]),
                ("API register", "/api/v1/register", None),
                ("API runs", "/api/v1/runs?limit=50", bearer["dap"]),
                ("API burden", "/api/v1/burden", bearer["dhsc"]),
                ("API obligations", "/api/v1/providers/R00/obligations", bearer["provider"]),
            ]
            print(f"| {'target':<20} | first ms | median ms | statements a request |")
            print(f"|{'-' * 22}|---------:|----------:|---------------------:|")
            for name, path, header in targets:
                times = []
                before = statements(log_path)
                for _ in range(args.requests):
                    req = urllib.request.Request(base + path)
                    if header:
                        req.add_header(*header)
                    began = time.perf_counter()
                    urllib.request.urlopen(req).read()
                    times.append((time.perf_counter() - began) * 1000)
                # The first request may read what later ones keep: the rest's statements, a request.
                time.sleep(0.2)
                count = statements(log_path) - before
                print(f"| {name:<20} | {times[0]:>8.1f} | {statistics.median(times[1:]):>9.1f} "
                      f"| {count / args.requests:>20.1f} |")
        finally:
            serve.terminate()
            serve.wait()
            log.close()


def statements(log_path):
    """How many statements the service has logged so far."""
    with open(log_path, errors="replace") as f:
        return sum(1 for line in f if "sqlx::query" in line)


if __name__ == "__main__":
    main()
