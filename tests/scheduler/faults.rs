//! Broken sources, all at once: the scheduler runs for three simulated days against 300
//! trusts' sources, each with a system of its own. Three in four behave; the rest answer
//! errors, fail twice and then recover, hang, reset the connection, send part of a body,
//! change their columns mid-extract, trickle slowly (within and past the time-out), send
//! bytes that are not an extract, refuse connections, or (as drop folders) never deliver,
//! deliver late, deliver a file cut mid-row or rename a column.
//!
//! Shown: every healthy source lands each day at the first attempt whatever the others do;
//! each broken run ends `failed` or `rejected` with the reason in plain words, or lands what
//! it can with the bad rows reported; a failed run is tried again only after its backoff,
//! never once its period has closed, and each attempt asks the source once; nothing lands
//! for a run that did not land; and no step hangs.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{TestDb, http_csv, list_for_trusts, variant};
use tally::connectors::file::FileConfig;
use tally::connectors::{ConnectorConfig, Source, Sources};
use tally::domain::RunKey;
use tally::schedule::pull::{Pace, Timing};
use tally::schedule::runner::backoff;
use tally::service::Options;
use tally::store::runs::{RunFilter, RunRow};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const TRUSTS: usize = 300;
const HEADER: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";

/// How one trust's source behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Fault {
    Healthy,
    /// Answers 500 Internal Server Error.
    Errors,
    /// Answers 503 to its first two requests, then behaves.
    Flaky,
    /// Reads the request and never answers.
    Hangs,
    /// Reads the request and closes the connection.
    Resets,
    /// Promises 2,000 bytes and sends 60.
    Partial,
    /// The header has ten columns; from the third row on, each row has eleven.
    ColumnsChange,
    /// Sends the body in five pieces over a tenth of a second, inside the one-second
    /// time-out.
    Slow,
    /// Sends the body in five pieces a second apart, past the time-out.
    TooSlow,
    /// Sends bytes that are not CSV text.
    Garbage,
    /// Nothing listens.
    Refused,
    FileHealthy,
    /// Never delivers.
    FileMissing,
    /// Delivers at 15:00 on the first day, six hours after the first pull.
    FileLate,
    /// The last row is cut mid-way.
    FileCut,
    /// `occupied_beds` is renamed `occupied`.
    FileRenamed,
}

const BROKEN: [Fault; 14] = [
    Fault::Errors,
    Fault::Flaky,
    Fault::Hangs,
    Fault::Resets,
    Fault::Partial,
    Fault::ColumnsChange,
    Fault::Slow,
    Fault::TooSlow,
    Fault::Garbage,
    Fault::Refused,
    Fault::FileMissing,
    Fault::FileLate,
    Fault::FileCut,
    Fault::FileRenamed,
];

/// Three in four trusts behave (half of them over HTTP, half as drop folders); the fourth
/// takes each broken behaviour in turn.
fn fault_of(n: usize) -> Fault {
    match n % 4 {
        0 => BROKEN[(n / 4) % BROKEN.len()],
        1 | 3 => Fault::Healthy,
        _ => Fault::FileHealthy,
    }
}

fn is_file(f: Fault) -> bool {
    matches!(
        f,
        Fault::FileHealthy
            | Fault::FileMissing
            | Fault::FileLate
            | Fault::FileCut
            | Fault::FileRenamed
    )
}

/// A trust code of three characters, as the census's site codes expect: `R` and two more.
fn code(n: usize) -> String {
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    format!("R{}{}", ALNUM[n / 36] as char, ALNUM[n % 36] as char)
}

/// Four wards' census for a trust and day.
fn census(trust: &str, day: &str) -> String {
    let mut body = format!("{HEADER}\n");
    for w in 1..=4 {
        body.push_str(&format!(
            "{day},{trust}01,W{w},general_acute,overnight,adult,core,general,20,{}\n",
            10 + w
        ));
    }
    body
}

async fn write_reply(stream: &mut TcpStream, status: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/csv\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

/// Trust `n`'s system on a loopback address of its own (a host of its own to the per-host
/// limit, as each trust's system is), misbehaving as `fault` says; `asked` counts requests.
async fn system(n: usize, trust: String, fault: Fault, asked: Arc<AtomicUsize>) -> String {
    let ip = format!("127.1.{}.{}", n / 250, n % 250 + 1);
    let listener = TcpListener::bind((ip.as_str(), 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    if fault == Fault::Refused {
        return format!("http://{addr}");
    }
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (trust, asked) = (trust.clone(), asked.clone());
            tokio::spawn(async move {
                let Some(request) = common::request_head(&mut stream).await else {
                    return;
                };
                let n = asked.fetch_add(1, Ordering::SeqCst);
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let day = path
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(".csv")
                    .to_owned();
                let body = census(&trust, &day);
                match fault {
                    Fault::Errors => {
                        write_reply(&mut stream, "500 Internal Server Error", b"").await
                    }
                    Fault::Flaky if n < 2 => {
                        write_reply(&mut stream, "503 Service Unavailable", b"").await
                    }
                    Fault::Hangs => tokio::time::sleep(Duration::from_secs(3600)).await,
                    Fault::Resets => drop(stream),
                    Fault::Partial => {
                        let head =
                            "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n";
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(&body.as_bytes()[..60]).await;
                    }
                    Fault::ColumnsChange => {
                        let mut lines: Vec<String> = body.lines().map(str::to_owned).collect();
                        for line in lines.iter_mut().skip(3) {
                            line.push_str(",Sister Jones");
                        }
                        write_reply(&mut stream, "200 OK", (lines.join("\n") + "\n").as_bytes())
                            .await
                    }
                    Fault::Slow | Fault::TooSlow => {
                        let pause = if fault == Fault::Slow { 20 } else { 1000 };
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(head.as_bytes()).await;
                        for piece in body.as_bytes().chunks(body.len().div_ceil(5)) {
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                            if stream.write_all(piece).await.is_err() {
                                return;
                            }
                        }
                        let _ = stream.shutdown().await;
                    }
                    Fault::Garbage => {
                        let junk: Vec<u8> = (0..600u32).map(|i| (i * 37 % 251) as u8).collect();
                        write_reply(&mut stream, "200 OK", &junk).await
                    }
                    _ => write_reply(&mut stream, "200 OK", body.as_bytes()).await,
                }
            });
        }
    });
    format!("http://{addr}")
}

/// What a drop folder holds for a trust and day, if anything, at `now`.
fn drop_file(trust: &str, day: &str, fault: Fault, now: DateTime<Utc>) -> Option<String> {
    let body = census(trust, day);
    match fault {
        Fault::FileHealthy => Some(body),
        Fault::FileLate => (now >= utc("2026-11-03T15:00:00Z")).then_some(body),
        Fault::FileCut => Some(body[..body.len() - 12].to_owned()),
        Fault::FileRenamed => Some(body.replacen("occupied_beds", "occupied", 1)),
        _ => None,
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Writes each drop folder's files that exist by `now` (once).
fn deliver(drop: &Path, faults: &[(String, Fault)], days: &[&str], now: DateTime<Utc>) {
    for (trust, fault) in faults.iter().filter(|(_, f)| is_file(*f)) {
        for day in days {
            let path = drop.join(format!("{trust}_{day}.csv"));
            if !path.exists()
                && let Some(body) = drop_file(trust, day, *fault, now)
            {
                std::fs::write(&path, body).unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broken_sources_fail_alone_with_reasons_and_retries_within_limits() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(db.registry().await);
    // The census with a two-day amendment window, so that its first period closes within
    // the three days simulated.
    let census_def = variant(
        dir.path(),
        "ward-bed-census",
        &[("amendment_window = \"28d\"", "amendment_window = \"2d\"")],
    );
    let faults: Vec<(String, Fault)> = (0..TRUSTS).map(|n| (code(n), fault_of(n))).collect();
    let trusts: Vec<String> = faults.iter().map(|(t, _)| t.clone()).collect();
    let listed = utc("2026-11-02T08:00:00Z");
    list_for_trusts(&registry, dir.path(), &trusts, &census_def, listed).await;

    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let mut asked: HashMap<String, Arc<AtomicUsize>> = HashMap::new();
    let mut sources = Vec::new();
    for (n, (trust, fault)) in faults.iter().enumerate() {
        let connector = if is_file(*fault) {
            ConnectorConfig::File(FileConfig {
                folder: PathBuf::from("drop"),
                name: "{provider}_{period}.csv".into(),
            })
        } else {
            let count = Arc::new(AtomicUsize::new(0));
            if *fault != Fault::Refused {
                asked.insert(trust.clone(), count.clone());
            }
            let base = system(n, trust.clone(), *fault, count).await;
            ConnectorConfig::Http(http_csv(
                format!("{base}/beds/{{provider}}/{{period}}.csv"),
                1,
            ))
        };
        sources.push(Source {
            collection: "ward-bed-census".into(),
            provider: trust.clone(),
            connector,
        });
    }
    let runner = common::runner(
        dir.path(),
        &db,
        registry.clone(),
        Sources::of(sources, dir.path().to_path_buf()),
        Options {
            instance: "faults".into(),
            concurrency: 16,
            per_host: 2,
            pace: Pace {
                timing: Timing::Fixed,
                ..Pace::default()
            },
        },
    );

    // Steps every half hour from the first pull (09:00 on 3 November, for 2 November)
    // until 2 November has closed (12:00 on 5 November: a day, the 12-hour deadline and the
    // two-day window) and a little after.
    let days = ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"];
    let (start, end) = (utc("2026-11-03T09:00:00Z"), utc("2026-11-05T14:00:00Z"));
    let mut now = start;
    let mut first_step = Vec::new();
    let mut slowest = Duration::ZERO;
    while now <= end {
        deliver(&drop, &faults, &days, now);
        let began = std::time::Instant::now();
        let pulled = tokio::time::timeout(Duration::from_secs(60), runner.step(now))
            .await
            .unwrap_or_else(|_| panic!("the step at {now} hung"))
            .unwrap();
        slowest = slowest.max(began.elapsed());
        if now == start {
            first_step = pulled;
        }
        now += chrono::Duration::minutes(30);
    }

    // The first step pulled every trust's 2 November, and every healthy one landed at once.
    assert_eq!(first_step.len(), TRUSTS);
    let runs = registry
        .store()
        .runs(&RunFilter {
            limit: 1_000_000,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    let mut by_key: BTreeMap<(String, String), Vec<&RunRow>> = BTreeMap::new();
    for r in &runs {
        by_key
            .entry((r.provider.clone(), r.period.clone()))
            .or_default()
            .push(r);
    }
    for attempts in by_key.values_mut() {
        attempts.sort_by_key(|r| r.attempt);
    }
    let fault: HashMap<&str, Fault> = faults.iter().map(|(t, f)| (t.as_str(), *f)).collect();
    assert!(
        !runs.iter().any(|r| r.status == "running"),
        "nothing is left running"
    );

    // How each trust's 2 November ended: (status of the first attempt, words in its
    // reason, status in the end, the attempt that landed).
    let expected = |f: Fault| -> (&str, &str, &str, Option<i64>) {
        match f {
            Fault::Healthy | Fault::FileHealthy | Fault::Slow => ("landed", "", "landed", Some(1)),
            Fault::Errors => (
                "failed",
                "answered 500 Internal Server Error",
                "failed",
                None,
            ),
            Fault::Flaky => (
                "failed",
                "answered 503 Service Unavailable",
                "landed",
                Some(3),
            ),
            Fault::Hangs | Fault::TooSlow => ("failed", "timed out", "failed", None),
            Fault::Resets => (
                "failed",
                "connection closed before message completed",
                "failed",
                None,
            ),
            Fault::Partial => ("failed", "cut short", "failed", None),
            Fault::ColumnsChange | Fault::FileCut => ("landed", "", "landed", Some(1)),
            Fault::Garbage => ("rejected", "", "rejected", None),
            Fault::Refused => ("failed", "could not connect", "failed", None),
            Fault::FileMissing => ("failed", "no extract at", "failed", None),
            Fault::FileLate => ("failed", "no extract at", "landed", None),
            Fault::FileRenamed => ("rejected", "occupied_beds", "rejected", None),
        }
    };
    let mut tried: BTreeMap<Fault, usize> = BTreeMap::new();
    let mut reasons: BTreeMap<Fault, String> = BTreeMap::new();
    let closed = utc("2026-11-05T12:00:00Z");
    for (trust, f) in &faults {
        let key = (trust.clone(), "2026-11-02".to_owned());
        let attempts = &by_key[&key];
        let (first_status, words, last_status, landed_at) = expected(*f);
        let (first, last) = (attempts[0], attempts[attempts.len() - 1]);
        let what = format!("{trust} ({f:?}): {attempts:#?}");
        // A late landing (after the 12-hour deadline) is a landing.
        let ended = |r: &RunRow| match r.status.as_str() {
            "late" => "landed".to_owned(),
            s => s.to_owned(),
        };
        assert_eq!(ended(first), first_status, "{what}");
        assert!(
            first.error.as_deref().unwrap_or_default().contains(words),
            "{what}"
        );
        if first_status != "landed" {
            assert!(
                first.error.as_deref().is_some_and(|e| !e.is_empty()),
                "{what}"
            );
        }
        assert_eq!(ended(last), last_status, "{what}");
        if let Some(n) = landed_at {
            assert_eq!(last.attempt, n, "{what}");
        }
        // Attempts are numbered 1, 2, 3…, each begun only after the last one's backoff,
        // none once the period has closed.
        let run_key = RunKey {
            collection: "ward-bed-census".into(),
            provider: trust.clone(),
            period: tally::domain::Period::parse("2026-11-02").unwrap(),
        };
        for (n, pair) in attempts.windows(2).enumerate() {
            assert_eq!(pair[0].attempt, n as i64 + 1, "{what}");
            let after = pair[0].finished_at.unwrap() + backoff(pair[0].attempt, &run_key);
            assert!(pair[1].started_at >= after, "{what}");
        }
        assert!(attempts.iter().all(|r| r.started_at < closed), "{what}");
        if last_status != "landed" {
            // Tried again until the period closed: the last attempt came within one
            // backoff (at most 6 h and a fifth) and a step of the close.
            assert!(
                last.started_at + chrono::Duration::minutes(433 + 30) >= closed,
                "{what}"
            );
        }
        // Each attempt asked the source once: the connector does not retry behind the
        // runner's back.
        if let Some(count) = asked.get(trust) {
            let attempts_in_all: usize = by_key
                .iter()
                .filter(|((t, _), _)| t == trust)
                .map(|(_, a)| a.len())
                .sum();
            assert_eq!(count.load(Ordering::SeqCst), attempts_in_all, "{what}");
        }
        *tried.entry(*f).or_default() += attempts.len();
        if let Some(e) = &first.error {
            reasons.entry(*f).or_insert_with(|| e.clone());
        }
    }
    // The bad rows were kept apart with their reasons; the rest landed.
    let mut saw_columns = false;
    let mut saw_cut = false;
    for (trust, f) in &faults {
        let run = by_key[&(trust.clone(), "2026-11-02".to_owned())][0];
        match f {
            Fault::ColumnsChange => {
                assert_eq!((run.rows_accepted, run.rows_rejected), (Some(2), Some(2)));
                let report = registry.store().run_report(run.id).await.unwrap().unwrap();
                assert!(
                    report
                        .to_string()
                        .contains("has 11 fields; the header has 10")
                );
                saw_columns = true;
            }
            Fault::FileCut => {
                assert_eq!((run.rows_accepted, run.rows_rejected), (Some(3), Some(1)));
                saw_cut = true;
            }
            _ => {}
        }
    }
    assert!(saw_columns && saw_cut);

    // Every day of every healthy source landed at the first attempt.
    for ((trust, day), attempts) in &by_key {
        if matches!(fault[trust.as_str()], Fault::Healthy | Fault::FileHealthy) {
            assert_eq!(attempts.len(), 1, "{trust} {day}: {attempts:?}");
            assert!(
                matches!(attempts[0].status.as_str(), "landed" | "late"),
                "{trust} {day}"
            );
        }
    }
    let healthy_days = by_key
        .keys()
        .filter(|(t, _)| matches!(fault[t.as_str()], Fault::Healthy | Fault::FileHealthy))
        .count();
    let healthy = faults
        .iter()
        .filter(|(_, f)| matches!(f, Fault::Healthy | Fault::FileHealthy))
        .count();
    assert_eq!(healthy_days, healthy * 3, "2, 3 and 4 November were due");

    // Only what landed is in the lake: one version a landed key, none for the others.
    let versions = {
        let mut n = 0;
        for ((trust, day), attempts) in &by_key {
            let key = RunKey {
                collection: "ward-bed-census".into(),
                provider: trust.clone(),
                period: tally::domain::Period::parse(day).unwrap(),
            };
            let current = registry.store().current_version(&key).await.unwrap();
            let landed = attempts
                .iter()
                .any(|r| r.status == "landed" || r.status == "late");
            assert_eq!(current.is_some(), landed, "{trust} {day}");
            if let Some(v) = current {
                assert_eq!(v.version, 1);
                n += 1;
            }
            if !landed {
                let folder = dir.path().join(format!(
                    "lake/ward-bed-census/period={day}/provider={trust}"
                ));
                let files: Vec<_> = std::fs::read_dir(&folder)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.file_name())
                    .filter(|n| n.to_string_lossy().ends_with(".parquet"))
                    .collect();
                assert!(files.is_empty(), "{trust} {day}: {files:?}");
            }
        }
        n
    };
    eprintln!(
        "{} runs over {TRUSTS} sources and 3 days; {versions} versions landed; slowest step {slowest:?}\nattempts on 2 November by behaviour: {tried:?}",
        runs.len(),
    );
    for (f, why) in &reasons {
        eprintln!("{f:?}: {why}");
    }
}
