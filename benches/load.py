"""The load benchmark: `tally serve` pulls hundreds of sources on its timetable while its
pages and API are read at a fixed 1,000 requests a second for 60 seconds.

The world: the ward bed census listed a week ago, so a week of every trust's census is due
at once (500 trusts by default, 100 wards each). Half the trusts deliver through four
suppliers' HTTP APIs on loopback addresses of their own (so the per-host limit applies to
each supplier as it would), half through a drop folder. The scheduler steps every five
seconds, and builds the daily SitRep as days complete, as `tally serve` does.

The load: benches/load (`tally-load`), an open-loop generator: request k is due at
start + k/rate and its latency counts from then, so a server that falls behind is charged
for the queue it causes. Ten targets in turn: the public register, progress and collection
pages, a provider's dashboard, DAP's page and DHSC's returns page (signed in), and four API
endpoints (three with bearer tokens). Everything runs on the one machine: the generator's
and the sources' CPU is shared with Tally's.

Shown: zero failed requests and zero error statuses; p50/p99/p99.9/max latency overall and
by target; how many runs landed while the load ran; and afterwards, once the scheduler has
finished, that every due (trust, day) landed exactly once, with one version, and nothing
was left running or failed: no run lost.

Run through benches/run-load, which builds the release binaries first.
"""

import argparse
import http.server
import json
import os
import signal
import socketserver
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from owed import list_owed_from

sys.path.insert(0, str(Path(__file__).resolve().parent))
from web import free_port, sign_in, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HEADER = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds"
SUPPLIERS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
LONDON = ZoneInfo("Europe/London")


ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def trust(t):
    """A three-character trust code (up to 1,296 trusts), so that its site codes have the
    census's five characters."""
    return "R" + ALNUM[t // 36] + ALNUM[t % 36]


def census(code, day, wards):
    rows = [HEADER]
    for w in range(wards):
        sector = "general_acute" if w < wards * 0.7 else "mental_illness"
        rows.append(f"{day},{code}01,W{w},{sector},overnight,adult,core,general,{20 + w % 7},{10 + (w * 3) % 9}")
    return "\n".join(rows) + "\n"


def run(binary, env, *args):
    out = subprocess.run([str(binary), *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tally {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout.strip()


def due_days(first):
    """The census days due now: each from 09:00 (London) the next morning."""
    now = datetime.now(LONDON)
    days, day = [], first
    while datetime(day.year, day.month, day.day, 9, tzinfo=LONDON) + timedelta(days=1) <= now:
        days.append(day)
        day += timedelta(days=1)
    return days


def serve_suppliers(bodies):
    """Four suppliers' APIs: GET /beds/<trust>/<day>.csv from bodies made beforehand."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            parts = self.path.strip("/").split("/")
            body = bodies.get((parts[1], parts[2].removesuffix(".csv"))) if len(parts) == 3 else None
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    ports = []
    for ip in SUPPLIERS:
        server = Server((ip, 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        ports.append(server.server_address[1])
    return ports


def setup(binary, work, trusts, days, wards):
    data = work / "data"
    env = dict(os.environ, TALLY_DATA_DIR=str(data), TALLY_DATABASE_URL=f"sqlite://{data}/tally.db")
    # Owed from a week ago, so that a week of every trust's census is due now.
    first = datetime.now(LONDON).date() - timedelta(days=days)
    list_owed_from(binary, env, "ward-bed-census", first)
    with open(work / "providers.csv", "w") as f:
        f.write("code,name,kind,region\n")
        for t in range(trusts):
            f.write(f"{trust(t)},Trust {t},acute_trust,Region {t % 7}\n")
    run(binary, env, "providers", "import", str(work / "providers.csv"))
    due = due_days(first)
    bodies = {}
    (work / "drop").mkdir(exist_ok=True)
    # One day more than is due now, in case it falls due (09:00) while the benchmark runs.
    for t in range(trusts):
        for day in due + [due[-1] + timedelta(days=1)]:
            body = census(trust(t), day, wards)
            if t % 2 == 0:
                bodies[(trust(t), str(day))] = body.encode()
            else:
                (work / "drop" / f"{trust(t)}_{day}.csv").write_text(body)
    ports = serve_suppliers(bodies)
    lines = []
    for t in range(0, trusts, 2):
        s = (t // 2) % len(SUPPLIERS)
        lines.append(
            f'[[source]]\ncollection = "ward-bed-census"\nprovider = "{trust(t)}"\nkind = "http"\n'
            f'url = "http://{SUPPLIERS[s]}:{ports[s]}/beds/{{provider}}/{{period}}.csv"\nformat = "csv"\n'
        )
    lines.append('[[source]]\ncollection = "ward-bed-census"\nprovider = "*"\nkind = "file"\n'
                 'folder = "drop"\nname = "{provider}_{period}.csv"\n')
    (work / "sources.toml").write_text("\n".join(lines))
    tokens = {}
    for role, extra in [("dap", []), ("dhsc", []), ("provider", ["--provider", trust(0)])]:
        tokens[role] = run(binary, env, "token", "create", "--role", role, "--name", f"load {role}", *extra)
    return data, env, first, tokens


def ledger(data):
    db = sqlite3.connect(f"file:{data}/tally.db?mode=ro", uri=True, timeout=30)
    try:
        runs = db.execute("SELECT provider, period, status FROM runs").fetchall()
        versions = db.execute("SELECT provider, period, version FROM extract_versions").fetchall()
    finally:
        db.close()
    return runs, versions


def landed(runs):
    return sum(1 for r in runs if r[2] in ("landed", "late"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tally", required=True, type=Path)
    parser.add_argument("--load", required=True, type=Path)
    parser.add_argument("--trusts", type=int, default=500)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--wards", type=int, default=100)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--work", type=Path, help="keep the world here (default: a temp folder)")
    parser.add_argument("--step-seconds", type=int, default=5, help="tally serve's --step-seconds")
    parser.add_argument("--after-pulls", action="store_true",
                        help="start the load once every due run has landed: the pages alone, for comparison")
    args = parser.parse_args()
    if not 1 <= args.trusts <= 36 * 36:
        sys.exit("--trusts must be between 1 and 1296")
    work = args.work or Path(tempfile.mkdtemp(prefix="tally-load-bench-"))
    if (work / "data").exists():
        sys.exit(f"{work / 'data'} exists: give an empty --work folder")
    work.mkdir(parents=True, exist_ok=True)
    print(f"Making a world of {args.trusts} trusts and {args.days} days in {work} …", file=sys.stderr)
    data, env, first, tokens = setup(args.tally, work, args.trusts, args.days, args.wards)

    def due_now():
        return {(trust(t), str(d)) for t in range(args.trusts) for d in due_days(first)}

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Info: the log says when each step, pack and build happened, to put beside the stalls.
    serve_env = dict(env, TALLY_SOURCES=str(work / "sources.toml"), TALLY_LOG="info")
    log = open(work / "serve.log", "w")
    serve = subprocess.Popen(
        [str(args.tally), "serve", "--bind", f"127.0.0.1:{port}", "--concurrency", "8", "--per-host", "2",
         "--step-seconds", str(args.step_seconds)],
        env=serve_env, cwd=ROOT, stdout=log, stderr=log)
    try:
        wait_for(f"{base}/readyz")
        cookies = {role: sign_in(base, tokens[role]) for role in ("dap", "dhsc", "provider")}
        # The load starts once the scheduler has begun landing (or, with --after-pulls, once
        # it has landed everything due and only steps).
        deadline = time.time() + 600
        while landed(ledger(data)[0]) < (len(due_now()) if args.after_pulls else 1):
            if time.time() > deadline:
                sys.exit("the scheduler did not land what was due in time; see serve.log")
            time.sleep(0.2)
        bearer = lambda role: f"Authorization: Bearer {tokens[role]}"  # noqa: E731
        targets = [
            "register page=/",
            "progress page=/progress",
            "collection page=/collections/ward-bed-census",
            f"provider dashboard=/providers/{trust(0)}|Cookie: {cookies['provider']}",
            f"DAP page=/dap|Cookie: {cookies['dap']}",
            f"returns page=/returns|Cookie: {cookies['dhsc']}",
            "API register=/api/v1/register",
            f"API runs=/api/v1/runs?limit=50|{bearer('dap')}",
            f"API burden=/api/v1/burden|{bearer('dhsc')}",
            f"API obligations=/api/v1/providers/{trust(0)}/obligations|{bearer('provider')}",
        ]
        before = landed(ledger(data)[0])
        command = [str(args.load), "--base", base, "--rate", str(args.rate), "--seconds", str(args.seconds),
                   "--connections", str(args.connections)]
        for t in targets:
            command += ["--target", t]
        print(f"Reading at {args.rate} requests a second for {args.seconds} s while the scheduler pulls "
              f"{len(due_now())} runs ({before} landed so far) …", file=sys.stderr)
        print(f"Load begins at {datetime.now(timezone.utc).isoformat()}", file=sys.stderr)
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        report = json.loads(out.stdout)
        during = landed(ledger(data)[0]) - before
        # No run lost: let the scheduler finish, then read the ledger.
        deadline = time.time() + 600
        while True:
            runs, versions = ledger(data)
            if {(p, d) for p, d, s in runs if s in ("landed", "late")} >= due_now():
                break
            if time.time() > deadline:
                break
            time.sleep(1)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        log.close()
    runs, versions = ledger(data)
    expected = due_now()
    landed_keys = [(p, d) for p, d, s in runs if s in ("landed", "late")]
    problems = []
    if set(landed_keys) != expected:
        problems.append(f"{len(expected - set(landed_keys))} due runs never landed")
    if len(landed_keys) != len(set(landed_keys)):
        problems.append(f"{len(landed_keys) - len(set(landed_keys))} runs landed twice")
    if sorted((p, d) for p, d, _ in versions) != sorted(expected) or any(v != 1 for *_, v in versions):
        problems.append(f"{len(versions)} versions for {len(expected)} due runs")
    others = [s for *_, s in runs if s not in ("landed", "late")]
    if others:
        problems.append(f"{len(others)} runs ended otherwise: {sorted(set(others))}")
    if report["failed"] or report["not_ok"]:
        problems.append(f"{report['failed']} requests failed and {report['not_ok']} had error statuses: "
                        f"{report['errors']}")

    print(f"\n{report['requests']} requests at {report['achieved_rate']:.0f}/s over {report['elapsed_s']:.1f} s, "
          f"{args.connections} connections; failed {report['failed']}, error statuses {report['not_ok']}")
    late = report["sent_late"]
    print(f"The generator sent each request late by {late['p50_ms']:.1f} ms at p50 and {late['p99_ms']:.1f} ms "
          f"at p99 (its timer's millisecond; counted in the latencies below)")
    slow = [(i, ms) for i, ms in enumerate(report["slowest_by_second_ms"]) if ms > 100]
    print("Seconds with an answer over 100 ms (second: slowest ms): "
          + (", ".join(f"{i}: {ms:.0f}" for i, ms in slow) or "none"))
    print(f"Runs landed while the load ran: {during} (of {len(expected)} due; {before} before it began)\n")
    print(f"| {'target':<24} | requests | statuses        |   p50 ms |   p99 ms | p99.9 ms |   max ms |")
    print(f"|{'-' * 26}|---------:|-----------------|---------:|---------:|---------:|---------:|")
    rows = report["targets"] + [{"name": "all", "requests": report["requests"], "statuses": {},
                                 "latency": report["latency"]}]
    for t in rows:
        lat = t["latency"]
        statuses = " ".join(f"{k}:{v}" for k, v in t["statuses"].items())
        print(f"| {t['name']:<24} | {t['requests']:>8} | {statuses:<15} | {lat['p50_ms']:>8.1f} | "
              f"{lat['p99_ms']:>8.1f} | {lat['p999_ms']:>8.1f} | {lat['max_ms']:>8.1f} |")
    (work / "load-report.json").write_text(json.dumps(
        {"report": report, "landed_during_load": during, "due": len(expected), "problems": problems}, indent=1))
    if problems:
        print("\nPROBLEMS:\n- " + "\n- ".join(problems))
        sys.exit(1)
    print(f"\nEvery one of the {len(expected)} due runs landed exactly once, as version 1; none failed "
          "or was left running.")


if __name__ == "__main__":
    main()
