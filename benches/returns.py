"""Returns benchmark: Tally builds the bundled returns over generated lakes of 1 and 5 years
of ward bed census (190 trusts, 58 ward rows a trust a day: about 4 million rows a year)
and a year of monthly care-home capacity from 15,000 homes, next to DuckDB running the
same SQL over the same Parquet files, in the same run.

Run it through `benches/run-returns`. The lake is written the way landing writes it (one
file a provider and period, provider and period as columns) and registered in a SQLite
register as current versions. Then:

1. over the unpacked lake (the first size only, unless --files-for-all): each build as
   `tally returns build` does it, and DuckDB over the same version files;
2. `tally lake pack`, timed: what `tally serve` does as each month closes;
3. over the packed lake: each build again, and DuckDB over the same pack files.

Tally's build is the whole command: register reads, completeness, plan, query, disclosure
control and the artifact written; "tally query s" is the part of it spent running the
queries, from Tally's own debug log. DuckDB is timed inside its process, so Python's
start and DuckDB's import are not counted against it. Each build's rows are compared with
DuckDB's for its last period.
"""

import argparse
import json
import os
import re
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


def tally_env(data):
    return dict(os.environ, TALLY_DATA_DIR=str(data), TALLY_DATABASE_URL=f"sqlite://{data}/tally.db")


def setup(binary, work, years):
    data = work / f"data-{years}y"
    env = tally_env(data)
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


def months(first, count):
    out = []
    y, m = first.year, first.month
    for _ in range(count):
        start = date(y, m, 1)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        out.append((start, date(y, m, 1)))
    return out


CENSUS_SQL = """
SELECT 'R' || lpad(CAST(t AS VARCHAR), 3, '0') AS provider,
       strftime(DATE '{start}' + CAST(d AS INTEGER), '%Y-%m-%d') AS period,
       DATE '{start}' + CAST(d AS INTEGER) AS census_date,
       'R' || lpad(CAST(t AS VARCHAR), 3, '0') || '01' AS site_code,
       'W' || CAST(w AS VARCHAR) AS ward_code,
       CASE WHEN w < 40 THEN 'general_acute' WHEN w < 48 THEN 'mental_illness'
            WHEN w < 52 THEN 'learning_disabilities' ELSE 'maternity' END AS sector,
       CASE WHEN w % 10 = 9 THEN 'day_only' ELSE 'overnight' END AS stay,
       CASE WHEN w % 5 = 0 THEN 'paediatric' ELSE 'adult' END AS age_group,
       CASE WHEN w % 13 = 0 THEN 'escalation' ELSE 'core' END AS bed_class,
       CASE WHEN w IN (1, 2) THEN 'critical_care' ELSE 'general' END AS care_type,
       CAST(20 + (t + w + d + {offset}) % 11 AS BIGINT) AS available_beds,
       CAST(12 + (t * 7 + w * 3 + d + {offset}) % 9 AS BIGINT) AS occupied_beds
FROM range({trusts}) a(t), range({days}) b(d), range({wards}) c(w)
ORDER BY d, t, w
"""

HOMES_SQL = """
SELECT '1-' || CAST(100000 + h AS VARCHAR) AS provider, '{period}' AS period,
       DATE '{snapshot}' AS snapshot_date,
       CAST(20 + (h + {m}) % 60 AS BIGINT) AS max_capacity,
       CAST(15 + h % 50 AS BIGINT) AS occupied_beds,
       CAST(h % 3 AS BIGINT) AS vacant_reserved,
       CAST(5 + (h + {m}) % 60 - h % 50 - h % 3 AS BIGINT) AS vacant_accepting
FROM range({homes}) a(h)
ORDER BY h
"""


def write_files(table, schema, root, group_rows, rows):
    """Writes `table` (sorted by period, provider) as one file a provider and period."""
    import pyarrow.parquet as pq

    table = table.cast(schema)
    providers = table.column("provider").to_pylist()[::group_rows]
    periods = table.column("period").to_pylist()[::group_rows]
    for i, (provider, period) in enumerate(zip(providers, periods)):
        folder = root / f"period={period}" / f"provider={provider}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "v1.parquet"
        pq.write_table(table.slice(i * group_rows, group_rows), path, compression=CODEC)
        rows.append((root.name, provider, period, str(path)))


def generate(data, years):
    """Writes the lake with pyarrow, one month at a time, and registers every file as
    version 1. pyarrow writes a small file in about half a millisecond, where DuckDB's
    partitioned COPY took about eight."""
    import duckdb
    import pyarrow as pa

    lake = data / "lake"
    con = duckdb.connect()
    census_schema = pa.schema(
        [pa.field("provider", pa.string(), False), pa.field("period", pa.string(), False),
         pa.field("census_date", pa.date32())]
        + [pa.field(n, pa.string()) for n in ["site_code", "ward_code", "sector", "stay",
                                              "age_group", "bed_class", "care_type"]]
        + [pa.field("available_beds", pa.int64()), pa.field("occupied_beds", pa.int64())])
    homes_schema = pa.schema(
        [pa.field("provider", pa.string(), False), pa.field("period", pa.string(), False),
         pa.field("snapshot_date", pa.date32())]
        + [pa.field(n, pa.int64()) for n in ["max_capacity", "occupied_beds", "vacant_reserved",
                                             "vacant_accepting"]])
    rows = []
    for start, end in months(FIRST, 12 * years):
        table = con.sql(CENSUS_SQL.format(start=start, days=(end - start).days, trusts=TRUSTS,
                                              wards=WARDS, offset=(start - FIRST).days)).to_arrow_table()
        write_files(table, census_schema, lake / "ward-bed-census", WARDS, rows)
    for m, (start, end) in enumerate(months(FIRST, 12)):
        table = con.sql(HOMES_SQL.format(period=start.strftime("%Y-%m"), m=m, homes=HOMES,
                                             snapshot=end - timedelta(days=1))).to_arrow_table()
        write_files(table, homes_schema, lake / "care-home-capacity", 1, rows)
    db = sqlite3.connect(data / "tally.db")
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
    return float(seconds), int(kb) / 1024, out.stdout, out.stderr


def query_seconds(log):
    """The time Tally's builds spent running their queries, from its debug log: from
    "Planned the query." to "Ran the query" in each build."""
    planned, total = None, 0.0
    for line in re.sub(r"\x1b\[[0-9;]*m", "", log).splitlines():
        found = re.search(r"ms=([0-9.]+)", line)
        if not found:
            continue
        if "Planned the query." in line:
            planned = float(found[1])
        elif "Ran the query" in line and planned is not None:
            total += float(found[1]) - planned
            planned = None
    return total / 1000


# Timed inside the process, from the register read to the last row, so that Python's
# start and DuckDB's import are not counted against it. Each period reads its files, kept
# to the period's own rows (a pack holds a month; a day's return wants one day of it).
DUCKDB = r"""
import glob, json, sqlite3, sys, time, duckdb
db, lake, mode, sql_path, collection, providers, n, out = sys.argv[1:9]
ranges = [r.split(":") for r in sys.argv[9:]]
started = time.perf_counter()
sql = open(sql_path).read().strip().rstrip(";")
order = ", ".join(str(i) for i in range(1, int(n) + 1))
table = collection.replace("-", "_")
def files(first, last):
    if mode == "files":
        return [r[0] for r in sqlite3.connect(db).execute(
            "SELECT path FROM extract_versions WHERE collection = ? AND period >= ? AND period <= ?",
            (collection, first, last))]
    units = sorted(p.rsplit("/", 1)[1] for p in glob.glob(f"{lake}/_packs/{collection}/*"))
    out = []
    for u in units:
        if u[:7] <= last[:7] and u[:7] >= first[:7]:
            packs = glob.glob(f"{lake}/_packs/{collection}/{u}/p*/data.parquet")
            out.append(max(packs, key=lambda p: int(p.split("/")[-2][1:])))
    return out
for first, last in ranges:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files(first, last)!r}, hive_partitioning = false) "
                f"WHERE period >= '{first}' AND period <= '{last}'")
    con.execute(f"CREATE TABLE providers AS SELECT * FROM read_csv('{providers}', all_varchar=true)")
    rows = con.execute(f"SELECT * FROM ({sql}) AS r ORDER BY {order}").fetchall()
    if (first, last) != tuple(ranges[-1]):
        con.close()
print(f"ELAPSED {time.perf_counter() - started}")
con.execute(f"COPY (SELECT * FROM ({sql}) AS r) TO '{out}' (FORMAT parquet)")
"""


def same_rows(artifact, duck):
    """True when Tally's artifact and DuckDB's result hold the same rows (figures to 6
    places), comparing DuckDB's columns."""
    import duckdb

    con = duckdb.connect()
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{duck}', hive_partitioning = false)").fetchall()]
    def norm(path):
        exprs = []
        for c in cols:
            exprs.append(f'CASE WHEN TRY_CAST("{c}" AS DOUBLE) IS NOT NULL '
                         f'THEN CAST(ROUND(CAST("{c}" AS DOUBLE), 6) AS VARCHAR) ELSE CAST("{c}" AS VARCHAR) END')
        return f"SELECT {', '.join(exprs)} FROM read_parquet('{path}', hive_partitioning = false)"
    a, b = norm(artifact), norm(duck)
    diff = con.execute(f"SELECT COUNT(*) FROM (({a} EXCEPT ALL {b}) UNION ALL ({b} EXCEPT ALL {a}))").fetchone()[0]
    return diff == 0


def measure(args, data, env, providers, years, mode, cases, work):
    """Builds each case with Tally and with DuckDB over `mode`'s files; prints a row each."""
    lake = data / "lake"
    for name, periods, collection in cases:
        returns = data / "returns"
        subprocess.run(["rm", "-rf", str(returns)], check=True)
        build = ["returns", "build", name, "--period", periods[0]]
        if len(periods) > 1:
            build += ["--to", periods[-1]]
        t_s, t_mb, _, log = timed([str(args.tally), *build],
                                  env=dict(env, TALLY_LOG="tally::returns::build=debug"))
        t_q = query_seconds(log)
        n = len(open(ROOT / "queries" / f"{name}.toml").read().split("[[columns]]")) - 1
        ranges = []
        for p in periods:
            if name == "kh03-quarterly":
                start, end = quarter_days(p)
                ranges.append(f"{start}:{end - timedelta(days=1)}")
            elif name == "care-home-occupancy":
                ranges.append(f"{p}:{p}")
            else:
                ranges.append(f"{p}:{p}")
        duck_out = work / f"duckdb-{name}.parquet"
        d_s, d_mb, _, _ = timed([sys.executable, "-c", DUCKDB, str(data / "tally.db"), str(lake), mode,
                              str(ROOT / "queries" / f"{name}.sql"), collection, str(providers),
                              str(n), str(duck_out), *ranges])
        artifact = max((returns / name / f"period={periods[-1]}").glob("v*/data.parquet"))
        same = "yes" if same_rows(artifact, duck_out) else "**NO**"
        label = f"{years} year{'s' if years > 1 else ''}"
        print(f"| {label} | {mode} | {name} | {len(periods)} | {t_s:.2f} | {t_mb:.0f} | {t_q:.2f} "
              f"| {d_s:.2f} | {d_mb:.0f} | {t_s / d_s:.2f}x | {t_q / d_s:.2f}x | {same} |", flush=True)


# DataFusion's own variables, which Tally's session honours over its defaults.
SETTINGS = [
    ("Tally's defaults", {}),
    ("target partitions 1", {"DATAFUSION_EXECUTION_TARGET_PARTITIONS": "1"}),
    ("target partitions 4", {"DATAFUSION_EXECUTION_TARGET_PARTITIONS": "4"}),
    ("batch size 32768", {"DATAFUSION_EXECUTION_BATCH_SIZE": "32768"}),
    ("filter pushdown on", {"DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS": "true"}),
]


def settings(args, data, years):
    """KH03's quarters over the packed lake under each of SETTINGS, best of three runs."""
    env = tally_env(data)
    quarters_ = quarters(years)
    print()
    print("| KH03, packed, settings | tally s | tally query s |")
    print("|---|---:|---:|")
    for label, extra in SETTINGS:
        best = None
        for _ in range(3):
            subprocess.run(["rm", "-rf", str(data / "returns")], check=True)
            t_s, _, _, log = timed([str(args.tally), "returns", "build", "kh03-quarterly", "--period",
                                    quarters_[0], "--to", quarters_[-1]],
                                   env=dict(env, TALLY_LOG="tally::returns::build=debug", **extra))
            q = query_seconds(log)
            if best is None or t_s < best[0]:
                best = (t_s, q)
        print(f"| {label} | {best[0]:.2f} | {best[1]:.2f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tally", required=True, type=Path)
    parser.add_argument("--years", default="1,5")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--files-for-all", action="store_true",
                        help="build over the unpacked lake for every size, not only the first")
    parser.add_argument("--settings", action="store_true",
                        help="also time KH03 over the packed lake of the first size under other "
                             "DataFusion settings")
    args = parser.parse_args()
    import duckdb

    work = args.work or Path(tempfile.mkdtemp(prefix="tally-returns-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = [int(y) for y in args.years.split(",")]
    print(f"machine: {os.cpu_count()} cores; duckdb {duckdb.__version__}")
    print()
    print("| data | lake | build | periods | tally s | tally peak MB | tally query s | duckdb s "
          "| duckdb peak MB | tally vs duckdb | query vs duckdb | same rows |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    packing = []
    for years in sizes:
        data = work / f"data-{years}y"
        providers = work / "providers.csv"
        if (data / "generated").exists():
            # A lake generated by an earlier run in this --work folder is used again.
            env = tally_env(data)
        else:
            subprocess.run(["rm", "-rf", str(data)], check=True)
            data, env, providers = setup(args.tally, work, years)
            started = time.time()
            files = generate(data, years)
            (data / "generated").write_text(f"{files}\n")
            print(f"{years} year(s): {files:,} files generated in {time.time() - started:.0f} s",
                  file=sys.stderr, flush=True)
        home_months = [s.strftime("%Y-%m") for s, _ in months(FIRST, 12)]
        cases = [
            ("kh03-quarterly", quarters(years), "ward-bed-census"),
            ("uec-daily-sitrep", [str(FIRST + timedelta(days=14))], "ward-bed-census"),
            ("care-home-occupancy", home_months, "care-home-capacity"),
        ]
        packs = data / "lake" / "_packs"
        if years == sizes[0] or args.files_for_all:
            # Over the version files alone: packs made by an earlier run are put aside.
            aside = data / "lake" / "_packs.aside"
            if packs.exists():
                packs.rename(aside)
            measure(args, data, env, providers, years, "files", cases, work)
            if aside.exists():
                aside.rename(packs)
        timing = data / "packing.json"
        if not timing.exists():
            # Packed from nothing, so the time is that of packing the whole lake.
            subprocess.run(["rm", "-rf", str(packs)], check=True)
            last_year = f"{FIRST.year + years - 1}-{(FIRST.year + years) % 100:02d}"
            first_year = f"{FIRST.year}-{(FIRST.year + 1) % 100:02d}"
            p_s, p_mb, out, _ = timed([str(args.tally), "lake", "pack", "ward-bed-census", "--period",
                                    first_year, "--to", last_year, "--json"], env=env)
            h_s, h_mb, h_out, _ = timed([str(args.tally), "lake", "pack", "care-home-capacity",
                                      "--period", first_year, "--json"], env=env)
            census = json.loads(out)["packed"]
            homes = json.loads(h_out)["packed"]
            timing.write_text(json.dumps([
                ["ward-bed-census", len(census), sum(p["members"] for p in census), p_s, p_mb],
                ["care-home-capacity", len(homes), sum(p["members"] for p in homes), h_s, h_mb]]))
        for c, units, members, s, mb in json.loads(timing.read_text()):
            packing.append((years, c, units, members, s, mb))
        measure(args, data, env, providers, years, "packed", cases, work)
    if args.settings:
        settings(args, work / f"data-{sizes[0]}y", sizes[0])
    print()
    print("| data | tally lake pack | packs | extracts | seconds | peak MB |")
    print("|---|---|---:|---:|---:|---:|")
    for years, c, units, members, s, mb in packing:
        label = f"{years} year{'s' if years > 1 else ''}"
        print(f"| {label} | {c} | {units} | {members:,} | {s:.1f} | {mb:.0f} |")


if __name__ == "__main__":
    main()
