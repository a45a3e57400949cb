//! `tally serve` over a real socket: it answers health, pages and the API while the
//! scheduler runs, and stops cleanly on SIGTERM.

mod common;

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
