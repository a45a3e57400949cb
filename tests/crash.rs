//! Crash safety: `tally serve` is killed with SIGKILL at random moments while it lands
//! extracts and builds returns, and started again; after every round the lake, the ledger
//! and the returns are checked:
//! - every version file where a reader looks is a whole Parquet file;
//! - every version the ledger records is there, readable, with the rows it records;
//! - no run is left `running` by an instance that has died and been replaced;
//! - every artifact folder has its manifest and its data.
//!
//! At the end, after a clean run to completion, no run is `running` and every return built
//! rebuilds from the same inputs to the same bytes.
//!
//! Ten rounds by default (CI); `TALLY_CRASH_ROUNDS=100 cargo test --test crash -- --nocapture`
//! for the long run. When a world has been pulled and built in full, the next round starts
//! on a fresh one, so every round kills a process with work under way.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use common::{list_for_trusts, load, repo, terminate};
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use sqlx::{Connection, Row};

const TRUSTS: usize = 10;
const DAYS: i64 = 20;
const WARDS: usize = 1500;
const HEADER: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";

/// A world's first day: what it holds when pulled and built in full depends on the clock,
/// since each day is pulled from 09:00 the next morning and its SitRep built after noon.
#[derive(Debug, Clone, Copy)]
struct Expected {
    first: chrono::NaiveDate,
}

impl Expected {
    /// (versions, artifacts) due by now.
    fn now(&self) -> (usize, usize) {
        let now = Utc::now()
            .with_timezone(&chrono_tz::Europe::London)
            .naive_local();
        let after = |hour: u32| {
            (1..=DAYS)
                .filter(|d| {
                    (self.first + Days::days(*d))
                        .and_hms_opt(hour, 0, 0)
                        .unwrap()
                        <= now
                })
                .count()
        };
        (TRUSTS * after(9), after(12))
    }
}

/// A world with work to do: the census listed `DAYS` days ago, every trust's extract for
/// every day since waiting in the drop folder, and the daily SitRep to build.
async fn world(dir: &Path) -> Expected {
    let url = format!("sqlite://{}", dir.join("tally.db").display());
    let registry = tally::registry::Registry::new(
        tally::store::connect(&url).await.unwrap(),
        chrono_tz::Europe::London,
    );
    let trusts: Vec<String> = (0..TRUSTS)
        .map(|t| format!("RX{}", (b'A' + t as u8) as char))
        .collect();
    let listed = Utc::now() - Days::days(DAYS);
    let providers =
        list_for_trusts(&registry, dir, &trusts, &load("ward-bed-census"), listed).await;
    let drop = dir.join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let first = listed
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    for p in &providers {
        for d in 0..DAYS {
            let day = first + Days::days(d);
            let mut body = String::with_capacity(WARDS * 90);
            body.push_str(HEADER);
            body.push('\n');
            for w in 0..WARDS {
                body.push_str(&format!(
                    "{day},{}01,W{w},general_acute,overnight,adult,core,general,20,{}\n",
                    p.code.as_str(),
                    w % 21
                ));
            }
            std::fs::write(drop.join(format!("{}_{day}.csv", p.code.as_str())), body).unwrap();
        }
    }
    std::fs::write(
        dir.join("sources.toml"),
        "[[source]]\ncollection = \"ward-bed-census\"\nprovider = \"*\"\nkind = \"file\"\nfolder = \"drop\"\nname = \"{provider}_{period}.csv\"\n",
    )
    .unwrap();
    let queries = dir.join("queries");
    std::fs::create_dir_all(&queries).unwrap();
    for f in ["uec-daily-sitrep.sql", "uec-daily-sitrep.toml"] {
        std::fs::copy(repo().join("queries").join(f), queries.join(f)).unwrap();
    }
    // DAP licenses the SitRep's query, so the service's builder builds it.
    common::license_returns(&registry, &queries).await;
    std::fs::write(
        dir.join("tally.toml"),
        format!(
            "data_dir = {:?}\nsources_file = {:?}\nqueries_dir = {:?}\n",
            dir.display().to_string(),
            dir.join("sources.toml").display().to_string(),
            queries.display().to_string()
        ),
    )
    .unwrap();
    Expected { first }
}

fn serve(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["--config"])
        .arg(dir.join("tally.toml"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("TALLY_DATABASE_URL")
        .env_remove("TALLY_DATA_DIR")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn parquet_rows(path: &Path) -> Result<i64, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let r = SerializedFileReader::new(f).map_err(|e| e.to_string())?;
    Ok(r.metadata().file_metadata().num_rows())
}

/// What the checks saw in one round.
#[derive(Debug, Default)]
struct Seen {
    versions: usize,
    artifacts: usize,
    running: usize,
}

/// The invariants that must hold whenever no instance is running. The instance just
/// killed may still have runs that say `running`, until the next one starts.
async fn check(dir: &Path, round: usize) -> Seen {
    let mut seen = Seen::default();
    // Every version file in view is whole.
    for f in files(&dir.join("lake/ward-bed-census")) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // a landing's temporary file, never read
        }
        assert!(
            name.starts_with('v') && name.ends_with(".parquet"),
            "round {round}: {} in the lake",
            f.display()
        );
        parquet_rows(&f)
            .unwrap_or_else(|e| panic!("round {round}: {} is not whole: {e}", f.display()));
    }
    let url = format!("sqlite://{}", dir.join("tally.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    // Every version the ledger records is there, with its rows.
    for row in sqlx::query("SELECT path, rows_accepted FROM extract_versions")
        .fetch_all(&mut db)
        .await
        .unwrap()
    {
        let path: String = row.get(0);
        let rows: i64 = row.get(1);
        let path = if Path::new(&path).is_absolute() {
            PathBuf::from(&path)
        } else {
            dir.join("lake").join(&path)
        };
        let got = parquet_rows(&path).unwrap_or_else(|e| {
            panic!("round {round}: recorded {} unreadable: {e}", path.display())
        });
        assert_eq!(got, rows, "round {round}: {}", path.display());
        seen.versions += 1;
    }
    // Runs left running belong to one instance at most: the one just killed. Any other
    // was left by an earlier instance and should have been failed when the next started.
    let instances: Vec<String> =
        sqlx::query("SELECT DISTINCT instance FROM runs WHERE status = 'running'")
            .fetch_all(&mut db)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert!(
        instances.len() <= 1,
        "round {round}: runs left running by {instances:?}"
    );
    seen.running = instances.len();
    db.close().await.unwrap();
    // Every artifact in view has its manifest and its data.
    let returns = dir.join("returns/uec-daily-sitrep");
    for period in std::fs::read_dir(&returns).into_iter().flatten().flatten() {
        for v in std::fs::read_dir(period.path()).unwrap().flatten() {
            let name = v.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let m = v.path().join("manifest.json");
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&m).unwrap_or_else(|e| {
                    panic!("round {round}: {} has no manifest: {e}", v.path().display())
                }))
                .unwrap_or_else(|e| panic!("round {round}: {} is not whole: {e}", m.display()));
            let rows = parquet_rows(&v.path().join("data.parquet"))
                .unwrap_or_else(|e| panic!("round {round}: {} data: {e}", v.path().display()));
            assert_eq!(
                Some(rows),
                manifest["rows"].as_i64(),
                "round {round}: {}",
                v.path().display()
            );
            seen.artifacts += 1;
        }
    }
    seen
}

/// A world is done when every due day of every trust has landed and each day's SitRep is
/// built.
fn done(seen: &Seen, expected: Expected) -> bool {
    let (versions, artifacts) = expected.now();
    seen.versions == versions && seen.artifacts >= artifacts
}

#[tokio::test]
async fn serve_killed_at_random_moments_loses_and_breaks_nothing() {
    let rounds: usize = std::env::var("TALLY_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let mut seed: u64 = std::env::var("TALLY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7a11);
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let root = tempfile::tempdir().unwrap();
    let mut worlds = 0;
    let mut dir = root.path().join("world-0");
    std::fs::create_dir_all(&dir).unwrap();
    let mut expected = world(&dir).await;
    let (mut versions_seen, mut kills_with_work, mut kills_in_flight) = (0, 0, 0);
    for round in 0..rounds {
        let before = check(&dir, round).await;
        let mut child = serve(&dir);
        // From a moment after start (the first step begins at once) to a few seconds in.
        std::thread::sleep(Duration::from_millis(300 + rand(3_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let after = check(&dir, round).await;
        versions_seen += after.versions;
        // Work in flight at the kill: a run it left `running`. Work in its life: versions
        // landed or returns built.
        if after.running > 0 {
            kills_in_flight += 1;
        }
        if after.versions > before.versions
            || after.artifacts > before.artifacts
            || after.running > 0
        {
            kills_with_work += 1;
        }
        if done(&after, expected) {
            worlds += 1;
            dir = root.path().join(format!("world-{worlds}"));
            std::fs::create_dir_all(&dir).unwrap();
            expected = world(&dir).await;
        }
    }
    println!(
        "{rounds} rounds of SIGKILL over {} worlds; {kills_in_flight} kills left runs in flight, {kills_with_work} instances did work before they were killed; {versions_seen} version checks.",
        worlds + 1
    );
    assert!(
        kills_with_work * 2 >= rounds && kills_in_flight * 3 >= rounds,
        "most kills should land while work is under way"
    );

    // A clean run to the end: everything lands, is built, and nothing is left running.
    let mut child = serve(&dir);
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = check(&dir, rounds).await;
    while !done(&last, expected) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        last = check(&dir, rounds).await;
    }
    terminate(&mut child);
    let last = check(&dir, rounds).await;
    assert!(done(&last, expected), "{last:?} {expected:?}");
    assert_eq!(last.running, 0, "a clean stop leaves nothing running");

    // Every return rebuilds from the same inputs to the same bytes: a copy of the world
    // without its returns builds each period again, and gets the newest artifact's data.
    let copy = root.path().join("rebuilt");
    for f in files(&dir) {
        let to = copy.join(f.strip_prefix(&dir).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        // SQLite's -wal and -shm go when the last connection closes.
        match std::fs::copy(&f, &to) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            r => {
                r.unwrap();
            }
        }
    }
    std::fs::remove_dir_all(copy.join("returns")).unwrap();
    let (mut compared, mut caught_up) = (0, 0);
    for period in std::fs::read_dir(dir.join("returns/uec-daily-sitrep"))
        .unwrap()
        .flatten()
    {
        let name = period.file_name().to_string_lossy().into_owned();
        let Some(p) = name.strip_prefix("period=") else {
            continue;
        };
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(period.path())
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let n = e
                    .file_name()
                    .to_string_lossy()
                    .strip_prefix('v')?
                    .parse()
                    .ok()?;
                Some((n, e.path()))
            })
            .collect();
        versions.sort();
        build_sitrep(&dir, &copy, p);
        let rebuilt_dir = copy.join(format!("returns/uec-daily-sitrep/{name}/v1"));
        let mut latest = versions.last().unwrap().1.clone();
        // The clean run stops once every version has landed and every day has a SitRep;
        // a day's newest SitRep may predate its last landing, which the builder would have
        // rebuilt at its next round. Then it is built now, here, from the same register as
        // the copy, so that both builds read the same inputs.
        if inputs(&latest) != inputs(&rebuilt_dir) {
            build_sitrep(&dir, &dir, p);
            latest = period
                .path()
                .join(format!("v{}", versions.last().unwrap().0 + 1));
            assert_eq!(inputs(&latest), inputs(&rebuilt_dir), "{p}");
            caught_up += 1;
        }
        let built = std::fs::read(latest.join("data.parquet")).unwrap();
        let rebuilt = std::fs::read(rebuilt_dir.join("data.parquet")).unwrap();
        assert!(
            built == rebuilt,
            "uec-daily-sitrep {p} rebuilt from the same inputs to other bytes"
        );
        compared += 1;
    }
    println!(
        "{compared} SitReps rebuilt to the same bytes; {caught_up} of them were built again first, as the clean run stopped before the builder's next round."
    );
    assert!(compared >= expected.now().1);
}

/// The extract versions an artifact's manifest says it read.
fn inputs(artifact: &Path) -> serde_json::Value {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(artifact.join("manifest.json")).unwrap()).unwrap();
    manifest["inputs"].clone()
}

/// `tally returns build uec-daily-sitrep --period <p>` with the world's settings and its
/// data in `data` (the world itself, or a copy of it).
fn build_sitrep(world: &Path, data: &Path, period: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("--config")
        .arg(world.join("tally.toml"))
        .env("TALLY_DATA_DIR", data)
        .env_remove("TALLY_DATABASE_URL")
        .args(["returns", "build", "uec-daily-sitrep", "--period", period])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
