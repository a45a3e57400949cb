//! An open-loop HTTP load at a fixed rate, for benches/run-load.
//!
//! Request `k` is due at `start + k / rate`, whatever happened to the ones before it, and
//! its latency is counted from that moment, not from when it was sent: a server that falls
//! behind is charged for the wait it causes (no coordinated omission). The requests are
//! spread over a fixed number of keep-alive connections, each taking every n-th request,
//! and over the targets in turn. It prints one JSON object: counts, statuses, errors and
//! latency percentiles, overall and for each target.
//!
//! tally-load --base http://127.0.0.1:8080 --rate 1000 --seconds 60 --connections 64 \
//!     --target 'register=/' --target 'runs=/api/v1/runs|Authorization: Bearer tly_…'

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

struct Target {
    name: String,
    path: String,
    headers: Vec<(String, String)>,
}

/// One request's fate: its target, its status (0 when it failed without one), its latency
/// from the moment it was due, and how late the generator itself sent it (the timer's
/// millisecond, or a lane still waiting on its previous answer).
struct Sample {
    target: usize,
    /// Which second of the run the request was due in.
    second: u64,
    status: u16,
    micros: u64,
    late_micros: u64,
}

struct Args {
    host: String,
    rate: f64,
    seconds: f64,
    connections: usize,
    timeout: Duration,
    targets: Vec<Target>,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "error: {problem}\nusage: tally-load --base http://HOST:PORT --rate N --seconds S \
         [--connections C] [--timeout-seconds T] --target NAME=PATH[|Header: value]..."
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut a = Args {
        host: String::new(),
        rate: 0.0,
        seconds: 0.0,
        connections: 64,
        timeout: Duration::from_secs(10),
        targets: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = |v: &str| -> f64 {
            v.parse()
                .ok()
                .filter(|n: &f64| *n > 0.0)
                .unwrap_or_else(|| usage(&format!("{flag} must be a number above zero")))
        };
        match flag.as_str() {
            "--base" => {
                a.host = value
                    .strip_prefix("http://")
                    .unwrap_or_else(|| usage("--base must start with http://"))
                    .trim_end_matches('/')
                    .to_owned()
            }
            "--rate" => a.rate = number(&value),
            "--seconds" => a.seconds = number(&value),
            "--connections" => {
                a.connections = value
                    .parse()
                    .ok()
                    .filter(|n: &usize| *n > 0)
                    .unwrap_or_else(|| usage("--connections must be a whole number above zero"))
            }
            "--timeout-seconds" => a.timeout = Duration::from_secs_f64(number(&value)),
            "--target" => {
                let mut parts = value.split('|');
                let (name, path) = parts
                    .next()
                    .and_then(|p| p.split_once('='))
                    .unwrap_or_else(|| usage("a target reads NAME=PATH"));
                let headers = parts
                    .map(|h| {
                        let (k, v) = h
                            .split_once(':')
                            .unwrap_or_else(|| usage("a header reads Name: value"));
                        (k.trim().to_owned(), v.trim().to_owned())
                    })
                    .collect();
                a.targets.push(Target {
                    name: name.into(),
                    path: path.into(),
                    headers,
                });
            }
            other => usage(&format!("{other} is not an option")),
        }
    }
    if a.host.is_empty() || a.rate == 0.0 || a.seconds == 0.0 || a.targets.is_empty() {
        usage("--base, --rate, --seconds and at least one --target are needed");
    }
    a
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(host: &str) -> Result<Sender, String> {
    let stream = TcpStream::connect(host).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One request on `sender`: its status once the whole body has arrived.
async fn fetch(sender: &mut Sender, a: &Args, t: &Target) -> Result<u16, String> {
    let mut req = hyper::Request::get(&t.path).header("host", &a.host);
    for (k, v) in &t.headers {
        req = req.header(k, v);
    }
    let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
    let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}

/// Connection `lane`'s share: requests lane, lane + n, lane + 2n… each at its moment.
async fn lane(
    a: &Args,
    lane: usize,
    start: tokio::time::Instant,
    errors: &std::cell::RefCell<BTreeMap<String, usize>>,
) -> Vec<Sample> {
    let every = Duration::from_secs_f64(1.0 / a.rate);
    let total = (a.rate * a.seconds).round() as u64;
    let mut out = Vec::with_capacity((total as usize) / a.connections + 1);
    let mut sender: Option<Sender> = None;
    for k in (lane as u64..total).step_by(a.connections) {
        let due = start + every * k as u32;
        tokio::time::sleep_until(due).await;
        let late_micros = due.elapsed().as_micros() as u64;
        let target = (k % a.targets.len() as u64) as usize;
        let attempt = async {
            // A connection the server has closed (it may close idle ones, or answer
            // HTTP/1.0) is replaced before the request, and is not counted as a failure.
            if let Some(s) = sender.as_mut()
                && (s.is_closed() || s.ready().await.is_err())
            {
                sender = None;
            }
            let s = match sender.as_mut() {
                Some(s) => s,
                None => sender.insert(connect(&a.host).await?),
            };
            fetch(s, a, &a.targets[target]).await
        };
        let status = match tokio::time::timeout(a.timeout, attempt).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                *errors.borrow_mut().entry(e).or_default() += 1;
                sender = None;
                0
            }
            Err(_) => {
                *errors.borrow_mut().entry("timed out".into()).or_default() += 1;
                sender = None;
                0
            }
        };
        out.push(Sample {
            target,
            second: (every * k as u32).as_secs(),
            status,
            micros: due.elapsed().as_micros() as u64,
            late_micros,
        });
    }
    out
}

fn percentiles(micros: &mut [u64]) -> serde_json::Value {
    micros.sort_unstable();
    let at = |q: f64| -> f64 {
        if micros.is_empty() {
            return 0.0;
        }
        let i = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
        micros[i] as f64 / 1000.0
    };
    serde_json::json!({
        "p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99),
        "p999_ms": at(0.999), "max_ms": at(1.0),
    })
}

fn main() {
    let a = args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let errors = std::cell::RefCell::new(BTreeMap::new());
    let began = Instant::now();
    let samples: Vec<Sample> = runtime.block_on(async {
        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        let lanes = (0..a.connections).map(|i| lane(&a, i, start, &errors));
        futures_util::future::join_all(lanes)
            .await
            .into_iter()
            .flatten()
            .collect()
    });
    let elapsed = began.elapsed().as_secs_f64() - 0.1;
    // Latency is of the requests that were answered; failures are counted, not timed.
    let answered = |s: &&Sample| s.status != 0;
    let mut all: Vec<u64> = samples.iter().filter(answered).map(|s| s.micros).collect();
    let mut late: Vec<u64> = samples.iter().map(|s| s.late_micros).collect();
    let mut targets = Vec::new();
    for (i, t) in a.targets.iter().enumerate() {
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.target == i).collect();
        let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
        for s in &mine {
            *statuses.entry(s.status.to_string()).or_default() += 1;
        }
        let mut micros: Vec<u64> = mine
            .iter()
            .copied()
            .filter(answered)
            .map(|s| s.micros)
            .collect();
        targets.push(serde_json::json!({
            "name": t.name, "path": t.path, "requests": mine.len(),
            "statuses": statuses, "latency": percentiles(&mut micros),
        }));
    }
    // Each second's slowest answer, so that a stall can be put beside what the server was
    // doing then.
    let mut by_second: BTreeMap<u64, u64> = BTreeMap::new();
    for s in samples.iter().filter(answered) {
        let worst = by_second.entry(s.second).or_default();
        *worst = (*worst).max(s.micros);
    }
    let seconds: Vec<f64> = by_second.values().map(|m| *m as f64 / 1000.0).collect();
    let failed = samples.iter().filter(|s| s.status == 0).count();
    let not_ok = samples
        .iter()
        .filter(|s| s.status != 0 && !(200..400).contains(&s.status))
        .count();
    let report = serde_json::json!({
        "rate": a.rate, "seconds": a.seconds, "connections": a.connections,
        "requests": samples.len(), "elapsed_s": elapsed,
        "achieved_rate": samples.len() as f64 / elapsed,
        "failed": failed, "errors": errors.into_inner(), "not_ok": not_ok,
        "latency": percentiles(&mut all), "sent_late": percentiles(&mut late),
        "slowest_by_second_ms": seconds,
        "targets": targets,
    });
    println!("{report}");
}
