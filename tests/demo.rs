//! `tally demo` end to end on a small world: its summary, its returns against figures worked
//! out here from what the providers' systems delivered (drop folder, HTTP files, SQLite
//! databases, uploads), the same bytes from two runs with the same seed, and the pages it
//! serves agreeing with its summary.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::NaiveDate;

const ARGS: [&str; 10] = [
    "--trusts",
    "10",
    "--care-homes",
    "30",
    "--days",
    "37",
    "--start",
    "2026-09-01",
    "--seed",
    "7",
];

fn tally(out: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
    c.arg("--config").arg(out.join("tally.toml")).args(args);
    c.env_remove("TALLY_DATABASE_URL")
        .env_remove("TALLY_DATA_DIR");
    c
}

fn demo(out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
    c.arg("demo").arg("--out").arg(out).args(ARGS).args(extra);
    c.env_remove("TALLY_DATABASE_URL")
        .env_remove("TALLY_DATA_DIR");
    c
}

/// Every file under `dir`, by its path inside it, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// One census row as the test reads it: sector, stay, age group, care type, available, occupied.
struct Row {
    sector: String,
    stay: String,
    age_group: String,
    care_type: String,
    available: i64,
    occupied: i64,
}

fn rows_from_csv(text: &str) -> Option<Vec<Row>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().ok()?.clone();
    let col = |n: &str| header.iter().position(|h| h == n);
    let (s, st, a, c, av, oc) = (
        col("sector")?,
        col("stay")?,
        col("age_group")?,
        col("care_type")?,
        col("available_beds")?,
        col("occupied_beds")?,
    );
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.ok()?;
        out.push(Row {
            sector: rec[s].into(),
            stay: rec[st].into(),
            age_group: rec[a].into(),
            care_type: rec[c].into(),
            available: rec[av].parse().ok()?,
            occupied: rec[oc].parse().ok()?,
        });
    }
    Some(out)
}

fn rows_from_json(text: &str) -> Option<Vec<Row>> {
    let v: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
    v.iter()
        .map(|o| {
            Some(Row {
                sector: o["sector"].as_str()?.into(),
                stay: o["stay"].as_str()?.into(),
                age_group: o["age_group"].as_str()?.into(),
                care_type: o["care_type"].as_str()?.into(),
                available: o["available_beds"].as_i64()?,
                occupied: o["occupied_beds"].as_i64()?,
            })
        })
        .collect()
}

fn rows_from_sqlite(db: &Path, day: NaiveDate) -> Option<Vec<Row>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::{Connection, Row as _};
        let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(db).read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.ok()?;
        let rows = sqlx::query(
            "SELECT sector, stay, age_group, care_type, available, occupied FROM ward_beds WHERE census_day = $1",
        )
        .bind(day.to_string())
        .fetch_all(&mut conn)
        .await
        .ok()?;
        let out: Vec<Row> = rows
            .iter()
            .map(|r| Row {
                sector: r.get(0),
                stay: r.get(1),
                age_group: r.get(2),
                care_type: r.get(3),
                available: r.get(4),
                occupied: r.get(5),
            })
            .collect();
        (!out.is_empty()).then_some(out)
    })
}

/// What a trust last handed over for a day: its newest upload, else what its system
/// delivered (`None` if nothing readable arrived).
fn census_of(out: &Path, code: &str, day: NaiveDate) -> Option<Vec<Row>> {
    let src = out.join("sources");
    let uploads = src.join("uploads/ward-bed-census");
    let newest = (1..20)
        .map(|n| uploads.join(format!("{code}_{day}_upload{n}.csv")))
        .take_while(|p| p.exists())
        .last();
    if let Some(p) = newest {
        return rows_from_csv(&std::fs::read_to_string(p).unwrap());
    }
    let read = |p: PathBuf| std::fs::read_to_string(p).ok();
    if let Some(t) = read(src.join(format!("drop/ward-bed-census/{code}_{day}.csv"))) {
        return rows_from_csv(&t);
    }
    if let Some(t) = read(src.join(format!("http/ward-bed-census/{code}/{day}.csv"))) {
        return rows_from_csv(&t);
    }
    if let Some(t) = read(src.join(format!("http/ward-bed-census/{code}/{day}.json"))) {
        return rows_from_json(&t);
    }
    let db = src.join(format!("db/{code}.sqlite"));
    if db.exists() {
        return rows_from_sqlite(&db, day);
    }
    None
}

/// England's general and acute and adult critical care beds on a day, worked out from the
/// sources: rows that break the rule `occupied_beds <= available_beds` are left out, as
/// landing leaves them out.
fn england_beds(
    out: &Path,
    trusts: &[(String, Option<NaiveDate>, Option<NaiveDate>)],
    day: NaiveDate,
) -> [i64; 4] {
    let mut t = [0i64; 4];
    for (code, opened, closed) in trusts {
        if opened.is_some_and(|o| day < o) || closed.is_some_and(|c| day >= c) {
            continue;
        }
        for r in census_of(out, code, day).unwrap_or_default() {
            if r.occupied > r.available {
                continue;
            }
            if r.sector == "general_acute" && r.care_type == "general" && r.stay == "overnight" {
                t[0] += r.available;
                t[1] += r.occupied;
            }
            if r.care_type == "critical_care" && r.age_group == "adult" {
                t[2] += r.available;
                t[3] += r.occupied;
            }
        }
    }
    t
}

/// A return's England row, exported as CSV through the CLI, by column.
fn england_row(out: &Path, name: &str, period: &str) -> BTreeMap<String, String> {
    let file = out.join(format!("{name}-{period}.csv"));
    let o = tally(
        out,
        &[
            "returns",
            "export",
            name,
            "--period",
            period,
            "--format",
            "csv",
            "--out",
            file.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = csv::Reader::from_path(&file).unwrap();
    let header = r.headers().unwrap().clone();
    let row = r
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[0] == "england")
        .expect("an England row");
    header
        .iter()
        .zip(row.iter())
        .map(|(h, v)| (h.to_owned(), v.to_owned()))
        .collect()
}

fn get(addr: &str, path: &str, token: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{path}: {body}");
    body
}

/// A child process that is killed however the test ends, so a failing assertion never
/// leaves a demo serving.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_demo_plays_the_story_builds_true_returns_and_plays_the_same_twice() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let o = demo(&first, &["--no-serve"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for line in [
        "Retired as derivable: uec-sitrep-manual, kh03-manual.",
        "Refused care-home-beds-return: blocked by the duplicate and derivable rules.",
        "Refused discharge-readiness-survey: blocked by the budget rule.",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first.join("summary.json")).unwrap())
            .unwrap();

    // No secret is kept where it could leak: neither the tokens printed once for each role
    // nor the HTTP sources' bearer token is in the register's database or the demo's log.
    let stderr = String::from_utf8_lossy(&o.stderr);
    let mut db = std::fs::read(first.join("tally.db")).unwrap();
    db.extend(std::fs::read(first.join("tally.db-wal")).unwrap_or_default());
    let holds =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    let mut secrets = vec![
        std::fs::read_to_string(first.join("sources/secrets/http-token"))
            .unwrap()
            .trim()
            .to_owned(),
    ];
    for word in stdout.split_whitespace().filter(|w| w.starts_with("tly_")) {
        secrets.push(word.rsplit('_').next().unwrap().to_owned());
    }
    assert!(secrets.len() >= 6, "{stdout}");
    for secret in &secrets {
        assert!(!holds(&db, secret), "a secret is in the database");
        assert!(!stderr.contains(secret.as_str()), "a secret is in the log");
    }

    // Every part of the story happened: pulls that landed, late, failed and were retried,
    // unreadable extracts rejected, uploads by hand, and a return of each kind built.
    let runs = &summary["runs"];
    for status in ["landed", "late", "failed", "rejected"] {
        assert!(
            runs[status].as_u64().unwrap_or(0) > 0,
            "no {status} runs: {summary}"
        );
    }
    assert!(summary["uploads"].as_u64().unwrap() > 0, "{summary}");
    let returns = &summary["returns"];
    assert_eq!(returns["uec-daily-sitrep"][0], 37, "{summary}");
    assert_eq!(returns["care-home-occupancy"][0], 1, "{summary}");
    assert_eq!(returns["kh03-quarterly"][0], 1, "{summary}");
    assert!(
        summary["build_failures"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    let sources = &summary["sources"];
    for kind in ["file drop", "HTTP", "SQLite database"] {
        assert!(
            sources[kind].as_u64().unwrap_or(0) > 0,
            "no {kind} source: {summary}"
        );
    }

    // The summary's burden is the register's, as `tally burden` reads it.
    let b = tally(&first, &["burden", "--json"]).output().unwrap();
    let burden: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    let final_hours = summary["final_hours"].as_f64().unwrap();
    assert!((burden["total_hours"].as_f64().unwrap() - final_hours).abs() < 0.01);
    assert!(final_hours < summary["decisions"]["baseline_hours"].as_f64().unwrap() / 2.0);

    // What moved the estimate since the baseline adds up to it, cause by cause.
    let c = &summary["causes"];
    let h = |k: &str| c[k].as_f64().unwrap();
    let moved = h("programme_change_hours") + h("adjustment_hours") + h("automation_hours");
    assert!(
        (h("start_hours") + moved - h("end_hours")).abs() < 0.01,
        "{c}"
    );
    assert!((h("end_hours") - final_hours).abs() < 0.01, "{c}");
    assert!(
        h("programme_change_hours") < 0.0,
        "the forms were retired: {c}"
    );

    // The report as of a day, from the README's command, is the same bytes each time it is
    // made, in each format; filed, it is listed with its SHA-256.
    for format in ["xlsx", "csv", "json"] {
        let made: Vec<Vec<u8>> = (0..2)
            .map(|n| {
                let out = first.join(format!("report-{n}.{format}"));
                let o = tally(
                    &first,
                    &[
                        "burden",
                        "report",
                        "--as-of",
                        "2026-08-31",
                        "--format",
                        format,
                        "--out",
                        out.to_str().unwrap(),
                    ],
                )
                .output()
                .unwrap();
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                std::fs::read(&out).unwrap()
            })
            .collect();
        assert!(
            !made[0].is_empty() && made[0] == made[1],
            "{format} differs"
        );
    }
    let out = first.join("filed.json");
    let o = tally(
        &first,
        &[
            "burden",
            "report",
            "--as-of",
            "2026-08-31",
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
            "--file-by",
            "Asha Patel (DAP)",
        ],
    )
    .output()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Filed as report 1"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(first.join("report-0.json")).unwrap()
    );

    // The census was listed with its notice, owed from the day the clock started; a new
    // collection listed late is still coming when it stops, and trusts tried a file for
    // it in a dry run: three would land, one would not, and nothing of them was kept.
    let r = tally(&first, &["register", "--json"]).output().unwrap();
    let register: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let owed = |slug: &str| {
        register
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["slug"] == slug)
            .map(|e| e["effective_from"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(owed("ward-bed-census"), summary["from"].as_str().unwrap());
    let coming = &summary["decisions"]["coming"][0];
    assert_eq!(coming["slug"], "virtual-ward-capacity", "{summary}");
    assert_eq!(
        owed("virtual-ward-capacity"),
        coming["owed_from"].as_str().unwrap()
    );
    let until = summary["until"].as_str().unwrap();
    assert!(
        coming["owed_from"].as_str().unwrap() > &until[..10],
        "{summary}"
    );
    assert_eq!(
        (coming["passed"].as_u64(), coming["failed"].as_u64()),
        (Some(3), Some(1))
    );
    assert!(!first.join("lake/virtual-ward-capacity").exists());

    // The reminders, overdue notices, rejections and the notice of the coming collection
    // are recorded to the mail folder: what one provider is told in one step, in one file.
    let mail = &summary["mail"];
    for kind in ["notice", "reminder", "overdue", "rejected"] {
        assert!(
            mail[kind].as_u64().unwrap_or(0) > 0,
            "no {kind} mail: {summary}"
        );
    }
    let total: u64 = mail
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let files: Vec<String> = std::fs::read_dir(first.join("mail"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(!files.is_empty() && files.len() as u64 <= total);
    assert!(
        files
            .iter()
            .any(|f| f.contains("Virtual ward capacity and occupancy")
                && f.contains("nothing is owed before then")),
        "no notice of the coming collection"
    );

    // The SitRep's England figures, for every day whose extracts have all had time to
    // arrive and be pulled, against the sum of what the trusts handed over.
    let mut trusts = Vec::new();
    let mut r = csv::Reader::from_path(first.join("providers.csv")).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        if &rec[2] != "care_home" {
            let date = |s: &str| (!s.is_empty()).then(|| s.parse::<NaiveDate>().unwrap());
            trusts.push((rec[0].to_owned(), date(&rec[6]), date(&rec[7])));
        }
    }
    let start = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    for d in 0..30 {
        let day = start + chrono::Days::new(d);
        let want = england_beds(&first, &trusts, day);
        let row = england_row(&first, "uec-daily-sitrep", &day.to_string());
        let got = [
            "ga_available",
            "ga_occupied",
            "cc_adult_available",
            "cc_adult_occupied",
        ]
        .map(|c| row[c].parse::<i64>().unwrap());
        assert_eq!(got, want, "England beds on {day}");
    }

    // Care homes' September, from the snapshots delivered and uploaded.
    let mut want = [0i64; 2];
    let src = first.join("sources");
    let mut r = csv::Reader::from_path(first.join("providers.csv")).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        if &rec[2] != "care_home" {
            continue;
        }
        let code = &rec[0];
        let uploads = src.join("uploads/care-home-capacity");
        let newest = (1..20)
            .map(|n| uploads.join(format!("{code}_2026-09_upload{n}.csv")))
            .take_while(|p| p.exists())
            .last();
        let file = newest.or_else(|| {
            [
                src.join(format!("drop/care-home-capacity/{code}_2026-09.csv")),
                src.join(format!("http/care-home-capacity/{code}/2026-09.csv")),
            ]
            .into_iter()
            .find(|p| p.exists())
        });
        let Some(file) = file else { continue };
        let mut r = csv::Reader::from_path(file).unwrap();
        let rec = r.records().next().unwrap().unwrap();
        let n: Vec<i64> = (1..5).map(|i| rec[i].parse().unwrap()).collect();
        if n[1] + n[2] + n[3] <= n[0] {
            want[0] += n[0];
            want[1] += n[1];
        }
    }
    let row = england_row(&first, "care-home-occupancy", "2026-09");
    assert_eq!(
        [
            row["capacity"].parse::<i64>().unwrap(),
            row["occupied"].parse::<i64>().unwrap()
        ],
        want
    );

    // The same seed again, this time serving the pages: the same returns, byte for byte,
    // and pages that show the summary's figures.
    let second = dir.path().join("second");
    let mut child = Killed(
        demo(&second, &["--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let (mut addr, mut dap) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(t) = line.trim_start().strip_prefix("dap") {
            dap = Some(t.trim().to_owned());
        }
        if let Some(rest) = line.split("serving the demo at http://").nth(1) {
            addr = Some(rest.split('/').next().unwrap().to_owned());
            break;
        }
    }
    let (addr, dap) = (addr.expect("the demo serves"), dap.expect("a DAP token"));
    let api = get(&addr, "/api/v1/burden", &dap);
    let body = &api[api.find("\r\n\r\n").unwrap() + 4..];
    let served: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!((served["total_hours"].as_f64().unwrap() - final_hours).abs() < 0.01);
    let progress = get(&addr, "/progress", &dap);
    let shown = format!("{}", final_hours.round() as i64);
    let shown = if shown.len() > 3 {
        format!(
            "{},{}",
            &shown[..shown.len() - 3],
            &shown[shown.len() - 3..]
        )
    } else {
        shown
    };
    assert!(progress.contains(&shown), "{shown} not on /progress");
    drop(child);
    let (a, b) = (tree(&first.join("returns")), tree(&second.join("returns")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(
            bytes == &b[path],
            "{} differs between two runs",
            path.display()
        );
    }
}

#[test]
fn the_demo_replaces_its_own_folder_and_leaves_any_other_alone() {
    let dir = tempfile::tempdir().unwrap();
    // An earlier demo's folder (it carries the demo's mark) is replaced whole.
    let earlier = dir.path().join("earlier");
    std::fs::create_dir_all(&earlier).unwrap();
    std::fs::write(earlier.join(".tally-demo"), "made by tally demo").unwrap();
    std::fs::write(earlier.join("stale.txt"), "x").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args([
            "demo",
            "--no-serve",
            "--trusts",
            "2",
            "--care-homes",
            "1",
            "--days",
            "7",
            "--out",
        ])
        .arg(&earlier)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!earlier.join("stale.txt").exists());
    assert!(earlier.join("summary.json").exists());
    let other = dir.path().join("precious");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "x").unwrap();
    let o = demo(&other, &["--no-serve"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("was not made by `tally demo`"));
    assert!(other.join("keep.txt").exists());
    let o = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["demo", "--no-serve", "--days", "3", "--out"])
        .arg(dir.path().join("short"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--days must be at least 7"));
}
