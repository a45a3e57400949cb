"""Returns benchmark: Tally builds the bundled returns over generated lakes of 1 and 5 years
of ward bed census (190 trusts, 58 ward rows a trust a day: about 4 million rows a year)
and a month of care-home capacity from 15,000 homes, next to DuckDB running the same SQL
over the same Parquet files, in the same run.

Run it through `benches/run-returns`. The lake is written the way landing writes it (one
file a provider and period, provider and period as columns) and registered in a SQLite
register as current versions, so Tally's build does exactly what it does in service:
read the register, work out completeness, list the current files, plan, run, apply
disclosure control and write the artifact. DuckDB is given the same file lists.
"""

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRUSTS = 190
WARDS = 58
HOMES = 15_000
FIRST = date(2027, 4, 1)  # after the collections are listed, so every period is owed
# The lake's codec: Tally writes Snappy; TALLY_BENCH_CODEC=zstd tries another.
CODEC = os.environ.get("TALLY_BENCH_CODEC", "snappy")


def run(binary, env, *args):
    out = subprocess.run([str(binary), *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tally {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def trust(t):
    return f"R{t:03d}"


def home(h):
    return f"1-{100000 + h}"


def setup(binary, work, years):
    data = work / f"data-{years}y"
    env = dict(os.environ, TALLY_DATA_DIR=str(data), TALLY_DATABASE_URL=f"sqlite://{data}/tally.db")
    for slug in ["ward-bed-census", "care-home-capacity"]:
        run(binary, env, "collections", "propose", f"collections/{slug}.toml", "--by", "benchmark")
        run(binary, env, "collections", "approve", slug, "--by", "benchmark (DAP)", "--reason", "benchmark")
    providers = work / "providers.csv"
    with open(providers, "w") as f:
        f.write("code,name,kind,region,icb,local_authority\n")
        for t in range(TRUSTS):
            f.write(f"{trust(t)},Trust {t},acute_trust,Region {t % 7},,\n")
        for h in range(HOMES):
            f.write(f"{home(h)},Home {h},care_home,Region {h % 7},,Authority {h % 150}\n")
    run(binary, env, "providers", "import", str(providers))
    return data, env, providers


def generate(data, years):
    """Writes the lake with DuckDB and registers every file as version 1."""
    import duckdb

    lake = data / "lake"
    lake.mkdir(parents=True, exist_ok=True)
    days = (date(FIRST.year + years, 4, 1) - FIRST).days
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    # DuckDB spills beside the lake, not into the checkout.
    con.execute(f"SET temp_directory = '{data / 'duckdb-tmp'}'")
    census = lake / "ward-bed-census"
    con.execute(f"""
        COPY (
            SELECT 'R' || lpad(CAST(t AS VARCHAR), 3, '0') AS provider,
                   strftime(DATE '{FIRST}' + CAST(d AS INTEGER), '%Y-%m-%d') AS period,
                   DATE '{FIRST}' + CAST(d AS INTEGER) AS census_date,
                   'R' || lpad(CAST(t AS VARCHAR), 3, '0') || '01' AS site_code,
                   'W' || CAST(w AS VARCHAR) AS ward_code,
                   CASE WHEN w < 40 THEN 'general_acute' WHEN w < 48 THEN 'mental_illness'
                        WHEN w < 52 THEN 'learning_disabilities' ELSE 'maternity' END AS sector,
                   CASE WHEN w % 10 = 9 THEN 'day_only' ELSE 'overnight' END AS stay,
                   CASE WHEN w % 5 = 0 THEN 'paediatric' ELSE 'adult' END AS age_group,
                   CASE WHEN w % 13 = 0 THEN 'escalation' ELSE 'core' END AS bed_class,
                   CASE WHEN w IN (1, 2) THEN 'critical_care' ELSE 'general' END AS care_type,
                   CAST(20 + (t + w + d) % 11 AS BIGINT) AS available_beds,
                   CAST(12 + (t * 7 + w * 3 + d) % 9 AS BIGINT) AS occupied_beds
            FROM range({TRUSTS}) a(t), range({days}) b(d), range({WARDS}) c(w)
        ) TO '{census}' (FORMAT parquet, PARTITION_BY (period, provider), WRITE_PARTITION_COLUMNS true,
                         COMPRESSION {CODEC}, OVERWRITE_OR_IGNORE true)
    """)
    homes = lake / "care-home-capacity"
    con.execute(f"""
        COPY (
            SELECT '1-' || CAST(100000 + h AS VARCHAR) AS provider, '2027-04' AS period,
                   DATE '2027-04-30' AS snapshot_date,
                   CAST(20 + h % 60 AS BIGINT) AS max_capacity,
                   CAST(15 + h % 50 AS BIGINT) AS occupied_beds,
                   CAST(h % 3 AS BIGINT) AS vacant_reserved,
                   CAST(5 + h % 60 - h % 50 - h % 3 AS BIGINT) AS vacant_accepting
            FROM range({HOMES}) a(h)
        ) TO '{homes}' (FORMAT parquet, PARTITION_BY (period, provider), WRITE_PARTITION_COLUMNS true,
                        COMPRESSION {CODEC}, OVERWRITE_OR_IGNORE true)
    """)
    db = sqlite3.connect(data / "tally.db")
    rows = []
    for collection, root in [("ward-bed-census", census), ("care-home-capacity", homes)]:
        for period_dir in root.iterdir():
            period = period_dir.name.split("=", 1)[1]
            for provider_dir in period_dir.iterdir():
                provider = provider_dir.name.split("=", 1)[1]
                for f in provider_dir.glob("*.parquet"):
                    rows.append((collection, provider, period, str(f)))
    db.executemany(
        "INSERT INTO runs (collection, provider, period, attempt, status, started_at, finished_at) "
        "VALUES (?, ?, ?, 1, 'landed', '2027-01-01T00:00:00+00:00', '2027-01-01T00:00:00+00:00')",
        [(c, p, q) for c, p, q, _ in rows],
    )
    db.executemany(
        "INSERT INTO extract_versions (collection, provider, period, version, run_id, path, raw_path, "
        "raw_sha256, bytes, rows_accepted, rows_rejected, report, landed_at) "
        "SELECT ?, ?, ?, 1, id, ?, '', 'generated', 0, 0, 0, '{}', '2027-01-01T00:00:00+00:00' "
        "FROM runs WHERE collection = ? AND provider = ? AND period = ?",
        [(c, p, q, f, c, p, q) for c, p, q, f in rows],
    )
    db.commit()
    return len(rows)


def quarters(years):
    out = []
    for y in range(FIRST.year, FIRST.year + years):
        for q in range(1, 5):
            out.append(f"{y}-{(y + 1) % 100:02d}-Q{q}")
    return out


def quarter_days(q):
    y = int(q[:4])
    n = int(q[-1])
    start = date(y, 4 + 3 * (n - 1), 1) if n < 4 else date(y + 1, 1, 1)
    end = date(start.year + (start.month + 3 > 12), (start.month + 2) % 12 + 1, 1)
    return start, end


def timed(command, env=None):
    out = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M"] + command, env=env, cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{command} failed:\n{out.stdout}\n{out.stderr}")
    _, seconds, kb = [l for l in out.stderr.splitlines() if l.startswith("TIME ")][-1].split()
    inner = [l for l in out.stdout.splitlines() if l.startswith("ELAPSED ")]
    if inner:
        seconds = inner[-1].split()[1]
    return float(seconds), int(kb) / 1024


# Timed inside the process, from the register read to the last row, so that Python's
# start and DuckDB's import are not counted against it.
DUCKDB = r"""
import sqlite3, sys, time, duckdb
db, sql_path, collection, providers, n = sys.argv[1:6]
ranges = [r.split(":") for r in sys.argv[6:]]
started = time.perf_counter()
sql = open(sql_path).read().strip().rstrip(";")
order = ", ".join(str(i) for i in range(1, int(n) + 1))
table = collection.replace("-", "_")
for first, last in ranges:
    files = [r[0] for r in sqlite3.connect(db).execute(
        "SELECT path FROM extract_versions WHERE collection = ? AND period >= ? AND period <= ?",
        (collection, first, last))]
    con = duckdb.connect()
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files!r})")
    con.execute(f"CREATE TABLE providers AS SELECT * FROM read_csv('{providers}', all_varchar=true)")
    rows = con.execute(f"SELECT * FROM ({sql}) AS r ORDER BY {order}").fetchall()
    con.close()
print(f"ELAPSED {time.perf_counter() - started}")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tally", required=True, type=Path)
    parser.add_argument("--years", default="1,5")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    import duckdb

    work = args.work or Path(tempfile.mkdtemp(prefix="tally-returns-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; duckdb {duckdb.__version__}")
    print()
    print("| data | build | periods | tally s | tally peak MB | duckdb s | duckdb peak MB | tally vs duckdb |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for years in [int(y) for y in args.years.split(",")]:
        data = work / f"data-{years}y"
        if (data / "generated").exists():
            # A lake generated by an earlier run in this --work folder is used again.
            env = dict(os.environ, TALLY_DATA_DIR=str(data),
                       TALLY_DATABASE_URL=f"sqlite://{data}/tally.db")
            providers = work / "providers.csv"
        else:
            subprocess.run(["rm", "-rf", str(data)], check=True)
            data, env, providers = setup(args.tally, work, years)
            started = time.time()
            files = generate(data, years)
            (data / "generated").write_text(f"{files}\n")
            print(f"{years} year(s): {files:,} files generated in {time.time() - started:.0f} s",
                  file=sys.stderr)
        qs = quarters(years)
        cases = [
            ("kh03-quarterly", qs, "ward-bed-census"),
            ("uec-daily-sitrep", [str(FIRST + timedelta(days=14))], "ward-bed-census"),
        ]
        if years == min(int(y) for y in args.years.split(",")):
            cases.append(("care-home-occupancy", ["2027-04"], "care-home-capacity"))
        for name, periods, collection in cases:
            returns = data / "returns"
            subprocess.run(["rm", "-rf", str(returns)], check=True)
            build = ["returns", "build", name, "--period", periods[0]]
            if len(periods) > 1:
                build += ["--to", periods[-1]]
            t_s, t_mb = timed([str(args.tally), *build], env=env)
            n = len(open(ROOT / "queries" / f"{name}.toml").read().split("[[columns]]")) - 1
            ranges = []
            for p in periods:
                if name == "kh03-quarterly":
                    start, end = quarter_days(p)
                    ranges.append(f"{start}:{end - timedelta(days=1)}")
                else:
                    ranges.append(f"{p}:{p}")
            d_s, d_mb = timed([sys.executable, "-c", DUCKDB, str(data / "tally.db"),
                               str(ROOT / "queries" / f"{name}.sql"), collection,
                               str(providers), str(n), *ranges])
            label = f"{years} year{'s' if years > 1 else ''}"
            print(f"| {label} | {name} | {len(periods)} | {t_s:.2f} | {t_mb:.0f} | {d_s:.2f} | {d_mb:.0f} | {t_s / d_s:.2f}x |")


if __name__ == "__main__":
    main()
