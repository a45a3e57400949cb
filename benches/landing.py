"""Landing benchmark: Tally lands a large census extract next to Polars and DuckDB turning
the same CSV into Parquet, each in a process of its own, on the same machine in one run.

Run it through `benches/run`, which installs the peers and builds Tally in release mode.
Tally's figure is the whole `tally upload` path: reading, typing and checking every cell
(types, codes, bounds, key uniqueness, the row rule in DataFusion), writing Parquet with
fsync and rename, hashing the raw input and keeping it for audit, and recording the run.
The peers parse with the same column types and write Parquet; they check nothing.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo
from pathlib import Path

from owed import list_owed_from

ROOT = Path(__file__).resolve().parent.parent
# The census day the extract describes and is uploaded for: yesterday, so that it is owed
# and still open to a hand upload whenever the benchmark runs.
DAY = datetime.now(ZoneInfo("Europe/London")).date() - timedelta(days=1)
HEADER = [
    "census_date", "site_code", "ward_code", "sector", "stay", "age_group",
    "bed_class", "care_type", "available_beds", "occupied_beds",
]


def generate(path: Path, megabytes: int) -> int:
    """A census extract of at least `megabytes` MB: one row a ward, every key different,
    every row valid. Returns the row count."""
    import duckdb

    # About 72 bytes a row.
    rows = megabytes * 1_000_000 // 72 + 1
    # DuckDB spills beside the extract, not into the checkout.
    duckdb.sql(f"SET temp_directory = '{path.parent / 'duckdb-tmp'}'")
    duckdb.sql(f"""
        COPY (
            SELECT DATE '{DAY}' AS census_date,
                   'RXA' || lpad(CAST(i % 90 AS VARCHAR), 2, '0') AS site_code,
                   'W' || CAST(i AS VARCHAR) AS ward_code,
                   CASE i % 4 WHEN 0 THEN 'general_acute' WHEN 1 THEN 'maternity'
                              WHEN 2 THEN 'learning_disabilities' ELSE 'mental_illness' END AS sector,
                   CASE i % 2 WHEN 0 THEN 'overnight' ELSE 'day_only' END AS stay,
                   CASE i % 3 WHEN 0 THEN 'paediatric' ELSE 'adult' END AS age_group,
                   'core' AS bed_class,
                   'general' AS care_type,
                   20 + i % 17 AS available_beds,
                   i % 20 AS occupied_beds
            FROM range({rows}) t(i)
        ) TO '{path}' (FORMAT csv, HEADER true)
    """)
    return rows


def measured(command, env=None):
    """Runs `command` under GNU time: wall seconds and peak resident memory in MB."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "TIME %e %M"] + command,
        capture_output=True, text=True, env=env,
    )
    if out.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{out.stdout}\n{out.stderr}")
    line = [l for l in out.stderr.splitlines() if l.startswith("TIME ")][-1]
    _, seconds, kb = line.split()
    return float(seconds), int(kb) / 1024, out.stdout


def tally(binary: Path, csv: Path, work: Path):
    data = work / "tally-data"
    env = dict(os.environ, TALLY_DATA_DIR=str(data), TALLY_DATABASE_URL=f"sqlite://{data}/tally.db")
    env.pop("TALLY_SOURCES", None)

    def run(*args):
        subprocess.run([str(binary), *args], check=True, env=env, cwd=ROOT, capture_output=True)

    list_owed_from(binary, env, "ward-bed-census", DAY)
    providers = work / "providers.csv"
    providers.write_text("code,name,kind,region\nRXA,Ashford,acute_trust,London\n")
    run("providers", "import", str(providers))
    seconds, peak, out = measured(
        [str(binary), "upload", "ward-bed-census", "--provider", "RXA", "--period", str(DAY),
         str(csv), "--json"],
        env=env,
    )
    report = json.loads(out)
    if report["status"] not in ("landed", "late"):
        sys.exit(f"tally did not land the extract: {report['message']}")
    return seconds, peak, report["rows_accepted"]


POLARS = """
import sys, polars as pl
schema = {"census_date": pl.Date, "site_code": pl.Utf8, "ward_code": pl.Utf8, "sector": pl.Utf8,
          "stay": pl.Utf8, "age_group": pl.Utf8, "bed_class": pl.Utf8, "care_type": pl.Utf8,
          "available_beds": pl.Int64, "occupied_beds": pl.Int64}
pl.scan_csv(sys.argv[1], schema=schema).sink_parquet(sys.argv[2])
"""

DUCKDB = """
import sys, duckdb
columns = {"census_date": "DATE", "site_code": "VARCHAR", "ward_code": "VARCHAR",
           "sector": "VARCHAR", "stay": "VARCHAR", "age_group": "VARCHAR", "bed_class": "VARCHAR",
           "care_type": "VARCHAR", "available_beds": "BIGINT", "occupied_beds": "BIGINT"}
duckdb.sql(f"COPY (SELECT * FROM read_csv('{sys.argv[1]}', header=true, columns={columns})) "
           f"TO '{sys.argv[2]}' (FORMAT parquet)")
"""


def peer(code: str, csv: Path, out: Path):
    seconds, peak, _ = measured([sys.executable, "-c", code, str(csv), str(out)])
    return seconds, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tally", required=True, type=Path, help="the release tally binary")
    parser.add_argument("--megabytes", type=int, default=1024, help="size of the extract (default 1024)")
    parser.add_argument("--work", type=Path, help="a folder for the extract and outputs (default: a temp folder)")
    args = parser.parse_args()
    import duckdb
    import polars

    work = args.work or Path(tempfile.mkdtemp(prefix="tally-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    csv = work / "census.csv"
    started = time.time()
    rows = generate(csv, args.megabytes)
    size = csv.stat().st_size
    print(f"extract: {rows:,} rows, {size / 1e6:,.0f} MB, generated in {time.time() - started:.0f} s")
    print(f"machine: {os.cpu_count()} cores; polars {polars.__version__}, duckdb {duckdb.__version__}")

    results = {}
    seconds, peak, landed = tally(args.tally, csv, work)
    if landed != rows:
        sys.exit(f"tally landed {landed} rows of {rows}")
    results["tally upload"] = (seconds, peak)
    results["polars sink_parquet"] = peer(POLARS, csv, work / "polars.parquet")
    results["duckdb COPY"] = peer(DUCKDB, csv, work / "duckdb.parquet")

    base = results["tally upload"][0]
    print()
    print(f"| {'tool':<20} | {'seconds':>7} | {'rows/s':>11} | {'MB/s':>6} | {'peak MB':>7} | {'time vs tally':>13} |")
    print(f"|{'-' * 22}|{'-' * 9}:|{'-' * 12}:|{'-' * 7}:|{'-' * 8}:|{'-' * 14}:|")
    for name, (seconds, peak) in results.items():
        print(
            f"| {name:<20} | {seconds:>7.1f} | {rows / seconds:>11,.0f} | {size / 1e6 / seconds:>6.0f} "
            f"| {peak:>7.0f} | {seconds / base:>12.2f}x |"
        )
    print()
    for name in ("polars sink_parquet", "duckdb COPY"):
        print(f"tally's time vs {name.split()[0]}'s: {base / results[name][0]:.2f}x")


if __name__ == "__main__":
    main()
