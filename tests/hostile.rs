//! Hostile input: the corpus in `common/hostile.rs` handed to `tally upload`, to a
//! scheduled source of `tally serve` and to its upload endpoint. Each file is refused with a
//! message naming the limit it broke, nothing of it is stored, the process stays within a
//! bounded memory, and the service goes on pulling everyone else.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use chrono::{Duration, Utc};
use common::{hostile, load, repo};

/// A day `back` days before today in London: a period that has ended, inside the census's
/// window (and, two days back, one whose 09:00 pull has fired).
fn days_ago(back: i64) -> String {
    (Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive()
        - Duration::days(back))
    .to_string()
}

/// A register on SQLite in `dir` with the census listed ten days ago and five trusts.
async fn register(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("tally.db").display());
    let store = tally::store::connect(&url).await.unwrap();
    let registry = tally::registry::Registry::new(store, chrono_tz::Europe::London);
    let trusts: Vec<String> = ["RXA", "RXB", "RXC", "RXD", "RXE"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    common::list_for_trusts(
        &registry,
        dir,
        &trusts,
        &load("ward-bed-census"),
        Utc::now() - Duration::days(10),
    )
    .await;
    url
}

fn tally(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
    c.args(args)
        .current_dir(repo())
        .env("TALLY_DATA_DIR", dir)
        .env("TALLY_DATABASE_URL", url)
        .env("TALLY_SOURCES", dir.join("sources.toml"));
    c
}

/// Runs a command to its end; its exit code, what it printed, and its peak resident memory
/// in MiB (its own or any child's it waited for, whichever is larger).
// The child is reaped by wait4 below, which also reports its memory; std's wait would not.
#[allow(clippy::zombie_processes)]
fn run_measured(mut command: Command) -> (Option<i32>, String, u64) {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.unwrap();
    let mut err = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        use std::io::Read;
        let _ = out.read_to_string(&mut text);
        let _ = err.read_to_string(&mut text);
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 writes it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    // ru_maxrss is in KiB on Linux.
    (code, reader.join().unwrap(), usage.ru_maxrss as u64 / 1024)
}

#[tokio::test]
async fn every_hostile_upload_is_refused_in_words_with_bounded_memory_and_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let url = register(dir.path()).await;
    let files = tempfile::tempdir().unwrap();
    let period = days_ago(1);
    for h in hostile::all() {
        let path = files.path().join(h.name);
        std::fs::write(&path, &h.bytes).unwrap();
        // Uploads take CSV and spreadsheets; JSON is for the sources (below).
        if h.name.ends_with(".json") {
            continue;
        }
        let started = std::time::Instant::now();
        let (code, said, peak) = run_measured(tally(
            dir.path(),
            &url,
            &[
                "upload",
                "ward-bed-census",
                "--provider",
                "RXA",
                "--period",
                &period,
                path.to_str().unwrap(),
            ],
        ));
        println!(
            "{}: {} bytes, exit {code:?} in {:.1} s, peak {peak} MiB",
            h.name,
            h.bytes.len(),
            started.elapsed().as_secs_f64()
        );
        assert_eq!(code, Some(4), "{}: {said}", h.name);
        assert!(said.contains("rejected"), "{}: {said}", h.name);
        assert!(said.contains(h.refused_for), "{}: {said}", h.name);
        // A spreadsheet is read in a child process that may use 512 MiB at most.
        assert!(peak < 600, "{}: peak resident memory {peak} MiB", h.name);
    }
    // Nothing of any of them is in the lake: no version, no quarantine, no raw copy.
    let lake = dir.path().join("lake");
    let stored: Vec<_> = walk(&lake)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e != "tmp"))
        .collect();
    assert!(stored.is_empty(), "{stored:?}");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The same files through a drop folder that `tally serve` pulls on its timetable: each
/// poisoned trust's run is rejected once (and waits out its backoff, never crash-looping),
/// the healthy trust lands, and the service answers throughout.
#[tokio::test]
async fn a_source_that_delivers_a_hostile_file_fails_that_run_and_the_service_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let url = register(dir.path()).await;
    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let period = days_ago(2);
    // RXA sends a good census; RXB a dimension bomb, RXC a zip bomb, RXD an ODS that
    // repeats a row a million times, RXE a header of 400,000 columns.
    let day = chrono::NaiveDate::parse_from_str(&period, "%Y-%m-%d").unwrap();
    std::fs::write(
        drop.join(format!("RXA_{period}.csv")),
        common::world::census("RXA", day),
    )
    .unwrap();
    let poison = [
        ("RXB", "xlsx", hostile::dimension_bomb(), "cell XFD1048576"),
        (
            "RXC",
            "xlsx",
            hostile::zip_bomb(512 << 20, false),
            "inflates",
        ),
        (
            "RXD",
            "ods",
            hostile::ods_repeats(1_000_000, 90),
            "512 MiB of memory",
        ),
        (
            "RXE",
            "csv",
            hostile::wide_header(400_000),
            "longer than 1 MiB",
        ),
    ];
    let mut sources = String::new();
    for (code, ext, bytes, _) in &poison {
        std::fs::write(drop.join(format!("{code}_{period}.{ext}")), bytes).unwrap();
        sources.push_str(&format!(
            "[[source]]\ncollection = \"ward-bed-census\"\nprovider = \"{code}\"\nkind = \"file\"\nfolder = \"drop\"\nname = \"{{provider}}_{{period}}.{ext}\"\n\n"
        ));
    }
    sources.push_str("[[source]]\ncollection = \"ward-bed-census\"\nprovider = \"*\"\nkind = \"file\"\nfolder = \"drop\"\nname = \"{provider}_{period}.csv\"\n");
    std::fs::write(dir.path().join("sources.toml"), sources).unwrap();

    let mut serve = tally(
        dir.path(),
        &url,
        &["serve", "--bind", "127.0.0.1:0", "--step-seconds", "1"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let base = {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(serve.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("{first}"))
            .trim_end_matches('/')
            .to_owned()
    };
    let registry = tally::registry::Registry::new(
        tally::store::connect(&url).await.unwrap(),
        chrono_tz::Europe::London,
    );
    // Every run of the period, once all five have ended one way or another (the days
    // before it have no files, and fail).
    let of_period = || async {
        registry
            .store()
            .runs(&tally::store::runs::RunFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.period == period)
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let runs = loop {
        let runs = of_period().await;
        let ended = runs.iter().filter(|r| r.status != "running").count();
        if ended >= 5 {
            break runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all runs ended: {runs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A few more steps: a rejected run waits out its backoff rather than being pulled again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(serve.try_wait().unwrap().is_none(), "tally serve stopped");
    let again = of_period().await;
    assert_eq!(again.len(), 5, "{again:?}");
    let of = |code: &str| runs.iter().find(|r| r.provider == code).unwrap();
    assert!(
        matches!(of("RXA").status.as_str(), "landed" | "late"),
        "{:?}",
        of("RXA")
    );
    for (code, _, _, why) in &poison {
        let r = of(code);
        assert_eq!(r.status, "rejected", "{r:?}");
        let error = r.error.as_deref().unwrap_or_default();
        assert!(error.contains(why), "{code}: {error}");
    }
    // The service itself never held the bombs: its own peak memory stays small.
    let status = std::fs::read_to_string(format!("/proc/{}/status", serve.id())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    println!("tally serve peak resident memory: {} MiB", peak_kib / 1024);
    assert!(peak_kib / 1024 < 400, "{} MiB", peak_kib / 1024);
    common::terminate(&mut serve);
}

/// Every file of the corpus through a drop folder in this process, JSON included (a source
/// may send JSON; an upload may not): each run rejected with the limit named, the lake
/// holding nothing of it, and this process (which lands them) within bounded memory.
#[tokio::test]
async fn every_hostile_extract_from_a_source_is_rejected_with_its_limit_named() {
    use tally::connectors::ConnectorConfig;
    use tally::connectors::file::FileConfig;
    for h in hostile::all() {
        let dir = tempfile::tempdir().unwrap();
        let drop = dir.path().join("drop");
        std::fs::create_dir_all(&drop).unwrap();
        let ext = h.name.rsplit_once('.').unwrap().1;
        std::fs::write(drop.join(format!("RXA_2026-11-24.{ext}")), &h.bytes).unwrap();
        let connector = ConnectorConfig::File(FileConfig {
            folder: "drop".into(),
            name: format!("{{provider}}_{{period}}.{ext}"),
        });
        let world = common::CensusWorld::new(dir.path(), connector).await;
        let pulled = world.pull(false).await;
        assert_eq!(pulled.status, "rejected", "{}: {}", h.name, pulled.message);
        assert!(
            pulled.message.contains(h.refused_for),
            "{}: {}",
            h.name,
            pulled.message
        );
        let stored: Vec<_> = walk(&dir.path().join("lake"))
            .into_iter()
            .filter(|p| !p.starts_with(dir.path().join("lake/_incoming")))
            .collect();
        assert!(stored.is_empty(), "{}: {stored:?}", h.name);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak_mib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        / 1024;
    println!("peak resident memory of the landing process: {peak_mib} MiB");
    assert!(peak_mib < 400, "{peak_mib} MiB");
}

/// A NUL in an extract's header (a column name PostgreSQL's text cannot hold) lands the
/// extract with the column dropped and named escaped, on both stores: never a 500, a run
/// left `running`, or a lake file no register row names.
async fn a_nul_in_a_header_is_dropped_and_named_escaped(db: common::TestDb) {
    use tally::connectors::ConnectorConfig;
    use tally::connectors::file::FileConfig;
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let census = common::world::census(
        "RXA",
        chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
    );
    let mut lines = census.lines();
    let mut csv = format!("{},nhs\0number\n", lines.next().unwrap());
    for l in lines {
        csv.push_str(&format!("{l},9434765919\n"));
    }
    std::fs::write(drop.join("RXA_2026-11-24.csv"), csv).unwrap();
    let connector = ConnectorConfig::File(FileConfig {
        folder: "drop".into(),
        name: "{provider}_{period}.csv".into(),
    });
    let world = common::CensusWorld::on(db, dir.path(), connector).await;
    let pulled = world.pull(false).await;
    assert_eq!(pulled.status, "landed", "{}", pulled.message);
    let report = pulled.report.unwrap();
    assert_eq!(report.dropped_columns, ["nhs\\0number"]);
    let runs = world
        .registry
        .store()
        .runs(&tally::store::runs::RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(runs.iter().all(|r| r.status == "landed"), "{runs:?}");
    let version = world
        .registry
        .store()
        .current_version(&world.key)
        .await
        .unwrap()
        .expect("the version is recorded");
    assert!(std::path::Path::new(&version.path).is_file());
    world.db.drop_database().await;
}

#[tokio::test]
async fn a_nul_in_a_header_lands_on_sqlite() {
    a_nul_in_a_header_is_dropped_and_named_escaped(common::TestDb::sqlite()).await;
}

#[tokio::test]
async fn a_nul_in_a_header_lands_on_postgres() {
    let Some(db) = common::TestDb::postgres().await else {
        return;
    };
    a_nul_in_a_header_is_dropped_and_named_escaped(db).await;
}
