//! `tally serve` over a real socket: it answers health, pages and the API while the
//! scheduler runs, and stops cleanly on SIGTERM.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::repo;

#[tokio::test]
async fn serve_answers_over_http_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let tally = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
        c.args(args)
            .current_dir(repo())
            .env("TALLY_DATA_DIR", data.path())
            .env(
                "TALLY_DATABASE_URL",
                format!("sqlite://{}", data.path().join("tally.db").display()),
            )
            .env("TALLY_SOURCES", data.path().join("sources.toml"));
        c
    };
    let made = tally(&["token", "create", "--role", "dhsc", "--name", "Analyst"])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let token = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let mut child = tally(&["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("{first}"))
        .trim_end_matches('/')
        .to_owned();
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get("/healthz", None).await.unwrap().status(), 200);
    assert_eq!(get("/readyz", None).await.unwrap().status(), 200);
    let page = get("/", None).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("x-request-id"));
    assert_eq!(get("/api/v1/burden", None).await.unwrap().status(), 401);
    assert_eq!(
        get("/api/v1/burden", Some(&token)).await.unwrap().status(),
        200
    );
    // SIGTERM: the web server and the scheduler stop, and the process says so.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.starts_with("Stopped")), "{rest:?}");
}

/// `tally serve` in `data`, on a free port, with `args`; returns the child and its address.
/// `open_files` limits its descriptors, as a small container's would.
fn start(
    data: &std::path::Path,
    args: &[&str],
    open_files: Option<u64>,
) -> (std::process::Child, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
    c.args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .current_dir(repo())
        .env("TALLY_DATA_DIR", data)
        .env(
            "TALLY_DATABASE_URL",
            format!("sqlite://{}", data.join("tally.db").display()),
        )
        .env("TALLY_SOURCES", data.join("sources.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(n) = open_files {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe and touches nothing else.
        unsafe {
            c.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("{first}"))
        .trim_end_matches('/')
        .to_owned();
    // The rest of what it says is read and dropped, so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, base)
}

/// Idle connections are closed and bounded: with 128 open files, 150 clients that connect
/// and send nothing do not stop the service answering, and each is closed once its time
/// to send a request's head has run out.
#[tokio::test]
async fn idle_connections_are_closed_and_cannot_starve_the_service() {
    let data = tempfile::tempdir().unwrap();
    let (mut serve, base) = start(data.path(), &["--idle-seconds", "2"], Some(128));
    let addr = base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..150 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let answer = http.get(format!("{base}/healthz")).send().await;
    assert!(
        matches!(&answer, Ok(r) if r.status() == 200),
        "{answer:?} after {:?}",
        started.elapsed()
    );
    // The first idle clients have been closed by now: reading gives the end of the stream.
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(10), idle[0].read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "an idle connection is still open: {read:?}"
    );
    assert!(serve.try_wait().unwrap().is_none(), "tally serve stopped");
    common::terminate(&mut serve);
}

/// Killing `tally serve` while it lands an upload, and starting it again, lets the provider
/// upload the period again at once: the dead run is let go at start, and the file it was
/// landing is removed.
#[tokio::test]
async fn an_upload_cut_off_by_a_killed_serve_can_be_sent_again_at_once() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("tally.db").display());
    let registry = tally::registry::Registry::new(
        tally::store::connect(&url).await.unwrap(),
        chrono_tz::Europe::London,
    );
    let now = chrono::Utc::now();
    common::list_for_trusts(
        &registry,
        data.path(),
        &["RXA".to_string()],
        &common::load("ward-bed-census"),
        now - chrono::Duration::days(10),
    )
    .await;
    let (row, token) = tally::web::auth::issue(
        tally::store::access::Role::Provider,
        &["RXA".to_string()],
        "Ashford ward clerk",
        "test",
        None,
        now,
    )
    .unwrap();
    registry.store().add_token(&row).await.unwrap();
    let day = (now.with_timezone(&chrono_tz::Europe::London).date_naive()
        - chrono::Duration::days(2))
    .to_string();
    // A large extract, so that its landing takes a while.
    let mut big = String::from(common::world::CENSUS);
    big.push('\n');
    for ward in 0..250_000 {
        big.push_str(&format!(
            "{day},RXA01,W{ward},general_acute,overnight,adult,core,general,20,18\n"
        ));
    }
    let (mut serve, base) = start(data.path(), &["--step-seconds", "3600"], None);
    let send = |base: String, body: String| {
        let token = token.clone();
        let day = day.clone();
        async move {
            let b = "b0undaryTally";
            let mut form = format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"collection\"\r\n\r\nward-bed-census\r\n\
                 --{b}\r\nContent-Disposition: form-data; name=\"period\"\r\n\r\n{day}\r\n\
                 --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"census.csv\"\r\n\r\n"
            )
            .into_bytes();
            form.extend(body.into_bytes());
            form.extend(format!("\r\n--{b}--\r\n").into_bytes());
            reqwest::Client::new()
                .post(format!("{base}/api/v1/providers/RXA/uploads"))
                .bearer_auth(token)
                .header("content-type", format!("multipart/form-data; boundary={b}"))
                .body(form)
                .send()
                .await
        }
    };
    let cut = tokio::spawn(send(base.clone(), big));
    // Killed once the landing has claimed its run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let runs = registry
            .store()
            .runs(&tally::store::runs::RunFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        if runs.iter().any(|r| r.status == "running") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no upload started: {runs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    unsafe { libc::kill(serve.id() as i32, libc::SIGKILL) };
    serve.wait().unwrap();
    assert!(
        cut.await.unwrap().is_err(),
        "the cut-off upload got an answer"
    );
    let left: Vec<_> = std::fs::read_dir(data.path().join("uploads"))
        .unwrap()
        .flatten()
        .collect();
    assert!(
        !left.is_empty(),
        "the killed upload left its file, as a kill does"
    );

    let (mut serve, base) = start(data.path(), &["--step-seconds", "3600"], None);
    let small = format!(
        "{}\n{day},RXA01,W1,general_acute,overnight,adult,core,general,20,18\n",
        common::world::CENSUS
    );
    let again = send(base.clone(), small).await.unwrap();
    let status = again.status();
    let body = again.text().await.unwrap();
    assert_eq!(status, 201, "{body}");
    let runs = registry
        .store()
        .runs(&tally::store::runs::RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let cut = runs.iter().find(|r| r.attempt == 1).unwrap();
    assert_eq!(cut.status, "due", "{cut:?}");
    let left: Vec<_> = std::fs::read_dir(data.path().join("uploads"))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    common::terminate(&mut serve);
}

/// A full disk is said as such: `/readyz` answers 503 naming the free space, and an upload
/// that cannot be written (as it arrives, or as it lands) is answered 507
/// `insufficient_storage` with nothing stored, not an opaque 500. The data folder is a small
/// tmpfs mounted in a namespace of `tally serve`'s own (`unshare`), the register beside it
/// on the real disk.
#[tokio::test]
async fn a_full_disk_is_said_as_such_and_nothing_is_stored() {
    let probe = Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"])
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        let _: Option<()> = common::server_absent(
            "a private tmpfs (unshare -rm)",
            "unshare",
            "user and mount namespaces are not available",
        );
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("tally.db").display());
    let registry = tally::registry::Registry::new(
        tally::store::connect(&url).await.unwrap(),
        chrono_tz::Europe::London,
    );
    let now = chrono::Utc::now();
    common::list_for_trusts(
        &registry,
        db.path(),
        &["RXA".to_string()],
        &common::load("ward-bed-census"),
        now - chrono::Duration::days(10),
    )
    .await;
    let (row, token) = tally::web::auth::issue(
        tally::store::access::Role::Provider,
        &["RXA".to_string()],
        "Ashford ward clerk",
        "test",
        None,
        now,
    )
    .unwrap();
    registry.store().add_token(&row).await.unwrap();
    let mut child = Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=160k tmpfs \"$1\" && exec \"$2\" serve --bind 127.0.0.1:0 --step-seconds 3600",
            "sh",
        ])
        .arg(data.path())
        .arg(env!("CARGO_BIN_EXE_tally"))
        .current_dir(repo())
        .env("TALLY_DATA_DIR", data.path())
        .env("TALLY_DATABASE_URL", &url)
        .env("TALLY_SOURCES", db.path().join("sources.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("{first}"))
        .trim_end_matches('/')
        .to_owned();
    let http = reqwest::Client::new();
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let said = ready.text().await.unwrap();
    assert!(said.contains("KiB free"), "{said}");

    let day = (now.with_timezone(&chrono_tz::Europe::London).date_naive()
        - chrono::Duration::days(2))
    .to_string();
    let census = |wards: usize| {
        let mut csv = format!("{}\n", common::world::CENSUS);
        for w in 0..wards {
            csv.push_str(&format!(
                "{day},RXA01,W{w},general_acute,overnight,adult,core,general,20,18\n"
            ));
        }
        csv
    };
    // 250 KB cannot even be received; 100 KB is received, but its landing (the raw copy
    // kept for audit, the Parquet) does not fit beside it.
    for wards in [3_000, 1_200] {
        let b = "b0undaryTally";
        let mut form = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"collection\"\r\n\r\nward-bed-census\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"period\"\r\n\r\n{day}\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"census.csv\"\r\n\r\n"
        )
        .into_bytes();
        form.extend(census(wards).into_bytes());
        form.extend(format!("\r\n--{b}--\r\n").into_bytes());
        let answer = http
            .post(format!("{base}/api/v1/providers/RXA/uploads"))
            .bearer_auth(&token)
            .header("content-type", format!("multipart/form-data; boundary={b}"))
            .body(form)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        assert_eq!(status, 507, "{wards} wards: {body}");
        assert_eq!(body["error"]["code"], "insufficient_storage", "{body}");
    }
    let versions = registry
        .store()
        .current_versions("ward-bed-census", &day, &day)
        .await
        .unwrap();
    assert!(versions.is_empty(), "nothing was stored: {versions:?}");
    common::terminate(&mut child);
}

/// The web keeps its share of the machine while the scheduler works: `tally serve` pulls,
/// lands, packs and builds on threads of their own at a lower priority, while the threads
/// that answer requests keep the priority the process was started with.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_scheduler_works_at_a_lower_priority_than_the_web() {
    let data = tempfile::tempdir().unwrap();
    // From the repository, so the bundled queries give it a returns builder.
    let (mut serve, base) = start(data.path(), &[], None);
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let nice_of = |stat: &str| -> i32 {
        // stat's fields after the name in brackets: state is the 3rd field, nice the 19th.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(16).unwrap().parse().unwrap()
    };
    // The process's first thread: the priority it was started with.
    let base = nice_of(&std::fs::read_to_string(format!("/proc/{}/stat", serve.id())).unwrap());
    let lowered = (base + tally::priority::WORK_NICENESS).min(19);
    let mut seen: Vec<(String, i32)> = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{}/task", serve.id())).unwrap() {
        let task = task.unwrap().path();
        if let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(task.join("comm")),
            std::fs::read_to_string(task.join("stat")),
        ) {
            seen.push((name.trim().to_owned(), nice_of(&stat)));
        }
    }
    let of = |name: &str| -> Vec<i32> {
        seen.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, nice)| *nice)
            .collect()
    };
    // The scheduler's runtime and the returns builder's: lowered.
    for name in [
        tally::service::WORK_THREAD,
        tally::returns::scheduled::RETURNS_THREAD,
    ] {
        let nice = of(name);
        assert!(!nice.is_empty(), "no {name} thread: {seen:?}");
        assert!(nice.iter().all(|n| *n == lowered), "{name}: {seen:?}");
    }
    // The web's runtime (tokio's default name) and the first thread: as started.
    let web = of("tokio-rt-worker");
    assert!(!web.is_empty(), "no thread of the web's runtime: {seen:?}");
    assert!(web.iter().all(|n| *n == base), "{seen:?}");
    common::terminate(&mut serve);
}

/// A thread the lowered work starts inherits its priority and is lowered to the same value
/// again, not further: a runtime starts its blocking threads from its lowered ones.
#[cfg(target_os = "linux")]
#[test]
fn a_thread_started_by_lowered_work_is_lowered_once() {
    let lower = std::sync::Arc::new(tally::priority::yield_to_the_web());
    // SAFETY: getpriority only reads its arguments; who = 0 is the calling thread.
    let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let lowered = (nice() + tally::priority::WORK_NICENESS).min(19);
    let (own, started) = std::thread::spawn(move || {
        lower();
        let again = lower.clone();
        let started = std::thread::spawn(move || {
            again();
            nice()
        })
        .join()
        .unwrap();
        (nice(), started)
    })
    .join()
    .unwrap();
    assert_eq!((own, started), (lowered, lowered));
}
