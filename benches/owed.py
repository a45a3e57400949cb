"""Lists a bundled collection for a benchmark, owed from a day in the past.

The CLI lists at the moment it runs and owes a collection from its notice at the earliest
(today when DAP overrides the notice); a licence is never retrospective. A benchmark needs
periods that are already owed, so it lists the collection today, then moves its listing
and its first owed day back: the benchmarks' one edit of the register.
"""

import sqlite3
import subprocess
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def list_owed_from(binary, env, slug, owed_from: date):
    """Proposes and lists collections/<slug>.toml in the register `env` names, owed from
    `owed_from` (today or earlier) and listed at the start of that day (UTC)."""
    # Tally's today: in London, where its timetable and notice are read.
    today = datetime.now(ZoneInfo("Europe/London")).date()
    for args in (
        ["collections", "propose", f"collections/{slug}.toml", "--by", "benchmark"],
        ["collections", "approve", slug, "--by", "benchmark (DAP)", "--reason", "benchmark",
         "--effective-from", str(today), "--override", "notice=a benchmark owes its periods at once"],
    ):
        out = subprocess.run([str(binary), *args], env=env, cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"tally {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    days = (today - owed_from).days
    if days < 0:
        sys.exit(f"{owed_from} is after today: list with --effective-from instead")
    db = sqlite3.connect(env["TALLY_DATABASE_URL"].removeprefix("sqlite://"))
    db.execute(
        "UPDATE collection_versions SET listed_at = ?, effective_from = ? "
        "WHERE slug = ? AND status = 'listed'",
        (f"{owed_from}T00:00:00Z", str(owed_from), slug),
    )
    db.commit()
    db.close()
