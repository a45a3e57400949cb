//! A landing killed at any point (SIGKILL, no chance to clean up) leaves the lake with the
//! old current version or the new one, whole, never a partial file where a reader looks;
//! and the next landing goes through once the dead run's lease is let go.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::repo;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sqlx::{Connection, Row};

const HEADER: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";
const BIG_ROWS: usize = 60_000;

fn tally(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
    c.args(args)
        .current_dir(repo())
        .env("TALLY_DATA_DIR", data)
        .env(
            "TALLY_DATABASE_URL",
            format!("sqlite://{}", data.join("tally.db").display()),
        )
        .env_remove("TALLY_SOURCES");
    c
}

fn ok(data: &Path, args: &[&str]) {
    let out = tally(data, args).output().unwrap();
    assert!(
        out.status.success(),
        "tally {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn extract(path: &Path, rows: usize, occupied: u32) {
    let mut csv = String::with_capacity(rows * 80);
    csv.push_str(HEADER);
    csv.push('\n');
    for i in 0..rows {
        csv.push_str(&format!(
            "2026-11-24,RXA01,W{i},general_acute,overnight,adult,core,general,20,{occupied}\n"
        ));
    }
    std::fs::write(path, csv).unwrap();
}

fn upload(data: &Path, file: &Path) -> Command {
    tally(
        data,
        &[
            "upload",
            "ward-bed-census",
            "--provider",
            "RXA",
            "--period",
            "2026-11-24",
            file.to_str().unwrap(),
        ],
    )
}

/// A register with the census listed, one trust, and version 1 landed: three wards.
fn landed_once(data: &Path) {
    ok(
        data,
        &[
            "collections",
            "propose",
            "collections/ward-bed-census.toml",
            "--by",
            "NHS England",
        ],
    );
    ok(
        data,
        &[
            "collections",
            "approve",
            "ward-bed-census",
            "--by",
            "Asha Patel (DAP)",
            "--reason",
            "ok",
        ],
    );
    let providers = data.join("providers.csv");
    std::fs::write(
        &providers,
        "code,name,kind,region\nRXA,Ashford,acute_trust,London\n",
    )
    .unwrap();
    ok(data, &["providers", "import", providers.to_str().unwrap()]);
    // Listed today, so the day is before the licence: DAP lets RXA send it.
    ok(
        data,
        &[
            "exceptions",
            "grant",
            "ward-bed-census",
            "--provider",
            "RXA",
            "--period",
            "2026-11-24",
            "--by",
            "Asha Patel (DAP)",
            "--reason",
            "the trust's census of a day before the listing",
        ],
    );
    let small = data.join("small.csv");
    extract(&small, 3, 5);
    let out = upload(data, &small).output().unwrap();
    assert!(out.status.success());
}

fn rows_in(path: &Path) -> usize {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| panic!("{} is not whole: {e}", path.display()))
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum()
}

fn versions_dir(data: &Path) -> PathBuf {
    data.join("lake/ward-bed-census/period=2026-11-24/provider=RXA")
}

/// What a reader sees: every visible file whole, with the old extract's rows or the new
/// one's; every recorded version's file there and whole; the newest recorded version is
/// one of the two.
async fn check_lake(data: &Path, when: &str) -> i64 {
    for entry in std::fs::read_dir(versions_dir(data)).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let rows = rows_in(&entry.path());
        match name.as_str() {
            "v1.parquet" => assert_eq!(rows, 3, "{when}: v1"),
            "v2.parquet" => assert_eq!(rows, BIG_ROWS, "{when}: v2"),
            other => panic!("{when}: unexpected file {other} in the lake"),
        }
    }
    let url = format!("sqlite://{}", data.join("tally.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let recorded =
        sqlx::query("SELECT version, path, rows_accepted FROM extract_versions ORDER BY version")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let mut newest = 0;
    for r in recorded {
        let (version, path, rows): (i64, String, i64) = (r.get(0), r.get(1), r.get(2));
        assert_eq!(
            rows_in(Path::new(&path)),
            rows as usize,
            "{when}: v{version}"
        );
        newest = version;
    }
    assert!(matches!(newest, 1 | 2), "{when}: newest recorded v{newest}");
    newest
}

#[tokio::test]
async fn a_landing_killed_at_any_point_leaves_a_whole_current_version() {
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big.csv");
    extract(&big, BIG_ROWS, 18);
    // A corrected extract for the upload after the crash: different bytes, so that it lands
    // as a new version whichever version the kill left current.
    let corrected = work.path().join("corrected.csv");
    extract(&corrected, BIG_ROWS, 17);

    // How long an uninterrupted landing takes, to spread the kills across it and past its
    // end (a landing that finished first is simply not interrupted).
    let whole = tempfile::tempdir().unwrap();
    landed_once(whole.path());
    let started = Instant::now();
    assert!(upload(whole.path(), &big).status().unwrap().success());
    let took = started.elapsed();
    assert_eq!(check_lake(whole.path(), "uninterrupted").await, 2);

    let mut outcomes = Vec::new();
    for step in 0..10u32 {
        let data = tempfile::tempdir().unwrap();
        landed_once(data.path());
        let mut child = upload(data.path(), &big)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(took * step / 6);
        let _ = child.kill();
        let _ = child.wait();
        let when = format!("killed after {:?} of {:?}", took * step / 6, took);
        let newest = check_lake(data.path(), &when).await;
        outcomes.push(newest);

        if step == 5 {
            // The dead run holds its lease until it runs out; then it is let go, and the
            // next upload lands as the next version.
            let store = tally::store::connect(&format!(
                "sqlite://{}",
                data.path().join("tally.db").display()
            ))
            .await
            .unwrap();
            let later = chrono::Utc::now() + chrono::Duration::minutes(16);
            store.expire_leases(later).await.unwrap();
            let out = upload(data.path(), &corrected).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{when}: {text}");
            assert!(
                text.contains(&format!("as version {}", newest + 1)),
                "{text}"
            );
        }
    }
    // The kills fell both before and after the new version was recorded, or the test
    // proves less than it says.
    assert!(outcomes.contains(&1), "{outcomes:?}");
    assert!(outcomes.contains(&2), "{outcomes:?}");
}

#[test]
fn temporary_files_a_killed_landing_left_are_removed_once_idle_for_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join(".tmp-1-1.parquet");
    let fresh = dir.path().join(".tmp-2-2.parquet");
    let version = dir.path().join("v1.parquet");
    for f in [&stale, &fresh, &version] {
        std::fs::write(f, b"x").unwrap();
    }
    let old = std::time::SystemTime::now() - Duration::from_secs(2 * 60 * 60);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    tally::landing::lake::sweep(dir.path(), ".tmp-");
    assert!(!stale.exists());
    assert!(fresh.exists(), "a landing under way keeps its file");
    assert!(version.exists());
}

#[test]
fn a_version_file_no_run_recorded_is_passed_over_never_written_over() {
    let dir = tempfile::tempdir().unwrap();
    let lake = tally::landing::lake::Lake::new(dir.path());
    let key = tally::domain::RunKey {
        collection: "ward-bed-census".into(),
        provider: "RXA".into(),
        period: tally::domain::Period::parse("2026-11-24").unwrap(),
    };
    assert_eq!(lake.next_version(&key, 1), 1);
    std::fs::create_dir_all(lake.dir(&key)).unwrap();
    std::fs::write(lake.dir(&key).join("v2.parquet"), b"left by a killed run").unwrap();
    assert_eq!(lake.next_version(&key, 2), 3);
    assert_eq!(lake.next_version(&key, 5), 5);
    // Committing onto a name that is taken fails and leaves the file there as it was.
    let def = common::load("ward-bed-census").def;
    let pending = lake
        .create(&key, tally::landing::validate::schema(&def))
        .unwrap();
    let e = pending.commit(2).unwrap_err().to_string();
    assert!(e.contains("exists already"), "{e}");
    assert_eq!(
        std::fs::read(lake.dir(&key).join("v2.parquet")).unwrap(),
        b"left by a killed run"
    );
    let left: Vec<_> = std::fs::read_dir(lake.dir(&key))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(left.len(), 1, "the temporary file is gone");
}
