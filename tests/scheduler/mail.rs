//! Notifications through a real SMTP server on loopback (Python's `aiosmtpd`, storing what
//! it receives in a maildir): a reminder on the morning a period is due and an overdue
//! notice the morning after, each once, at 09:00 UK time on both sides of the October clock
//! change; the notice of a coming collection once; and each one recorded.
//!
//! The server is found through `TALLY_MAIL_PYTHON` (a Python with `aiosmtpd`; `.ci/run`
//! makes one), else `python3`. Without it the test is skipped with a notice, and under `CI`
//! it fails.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{TestDb, list_owed_at_once, load};
use tally::config::Mail;
use tally::connectors::Sources;
use tally::notify::{Mailer, Notifier};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp(dir: &Path) -> Option<Smtp> {
    let python = std::env::var("TALLY_MAIL_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status();
    if !found.is_ok_and(|s| s.success()) {
        return common::server_absent(
            "aiosmtpd",
            "smtp://127.0.0.1",
            format!(
                "{python} cannot import aiosmtpd (pip install aiosmtpd, or set TALLY_MAIL_PYTHON)"
            ),
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = dir.join("maildir");
    let log = std::fs::File::create(dir.join("aiosmtpd.log")).unwrap();
    let mut child = Command::new(&python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start aiosmtpd");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Smtp {
                child,
                port,
                maildir,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "aiosmtpd did not start within 10 s:\n{}",
        std::fs::read_to_string(dir.join("aiosmtpd.log")).unwrap_or_default()
    );
}

/// The subject and recipient of every message the server has stored, sorted.
fn received(maildir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap();
            // Long headers are folded onto lines that start with a space: unfold them.
            let head = text.split("\r\n\r\n").next().unwrap_or_default();
            let unfolded = head.replace("\r\n ", " ").replace("\n ", " ");
            let header = |name: &str| {
                unfolded
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            };
            out.push(format!("{} -> {}", header("Subject:"), header("To:")));
        }
    }
    out.sort();
    out
}

/// Every message the server has stored, whole.
fn bodies(maildir: &Path) -> Vec<String> {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flatten()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_and_overdue_notices_arrive_once_each_at_nine_uk_time_across_the_clock_change() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = smtp(dir.path()) else {
        return;
    };
    let db = TestDb::sqlite();
    let registry = Arc::new(db.registry().await);
    // The census, owed from Friday 23 October 2026; the clocks go back early on Sunday 25th.
    registry
        .propose(
            &load("ward-bed-census"),
            "NHS England",
            utc("2026-10-23T06:00:00Z"),
        )
        .await
        .unwrap();
    list_owed_at_once(&registry, "ward-bed-census", utc("2026-10-23T06:00:00Z")).await;
    let csv = dir.path().join("providers.csv");
    std::fs::write(
        &csv,
        "code,name,kind,region,contacts\nRXA,Ashford,acute_trust,London,returns@ashford.example.nhs.uk\nRXB,Bramley,acute_trust,London,\n",
    )
    .unwrap();
    common::import_with_contacts(&registry, &csv).await;
    let mail = Mail {
        smtp_url: Some(format!("smtp://127.0.0.1:{}", server.port)),
        dir: None,
        from: Some("Tally <tally@example.nhs.uk>".into()),
    };
    // No source is set up for RXA: it uploads, so it is reminded.
    let notifier = Notifier {
        registry: registry.clone(),
        sources: Arc::new(Sources::default()),
        mailer: Arc::new(Mailer::of(&mail).unwrap()),
    };
    let step = async |at: &str| {
        notifier
            .step(utc(at))
            .await
            .unwrap()
            .into_iter()
            .map(|s| {
                assert_eq!(s.error, None, "{}", s.event_key);
                s.event_key
            })
            .collect::<Vec<_>>()
    };
    // Friday's census is due at noon on Saturday 24th (BST): reminded at 09:00 BST, 08:00 UTC.
    assert!(step("2026-10-24T07:59:00Z").await.is_empty());
    assert_eq!(
        step("2026-10-24T08:00:00Z").await,
        ["reminder:ward-bed-census:RXA:2026-10-23"]
    );
    assert!(step("2026-10-24T08:30:00Z").await.is_empty(), "sent once");
    // Saturday's is due twelve hours after midnight on Sunday 25th, a day of 25 hours: at
    // 11:00 GMT. It is reminded at 09:00 GMT, 09:00 UTC; and Friday's, still not sent, is
    // overdue at the same 09:00.
    assert!(step("2026-10-25T08:59:00Z").await.is_empty());
    let mut nine = step("2026-10-25T09:00:00Z").await;
    nine.sort();
    assert_eq!(
        nine,
        [
            "overdue:ward-bed-census:RXA:2026-10-23",
            "reminder:ward-bed-census:RXA:2026-10-24",
        ]
    );
    assert!(step("2026-10-25T10:00:00Z").await.is_empty(), "sent once");

    // A collection listed with notice: told once, to the trusts with an address.
    registry
        .propose(
            &load("uec-sitrep-manual"),
            "NHS England",
            utc("2026-10-25T10:00:00Z"),
        )
        .await
        .unwrap();
    let check = registry
        .check(&load("uec-sitrep-manual").def, utc("2026-10-25T10:00:00Z"))
        .await
        .unwrap();
    let overrides = check
        .blocking()
        .map(|f| tally::domain::finding::Override {
            rule: f.rule,
            reason: "For the test of a notice.".into(),
        })
        .collect();
    registry
        .approve(
            "uec-sitrep-manual",
            common::dap(),
            "coming",
            overrides,
            utc("2026-10-25T10:00:00Z"),
        )
        .await
        .unwrap();
    let told = step("2026-10-25T10:05:00Z").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0] == "notice:DAP0002:uec-sitrep-manual:2026-12-20:RXA",
        "{told:?}"
    );
    assert!(step("2026-10-25T10:10:00Z").await.is_empty(), "sent once");

    // What the server received, and what DAP sees recorded.
    // The two told on Sunday morning came in one message, each named in it.
    let got = received(&server.maildir);
    assert_eq!(
        got,
        [
            "2 things to know from Tally for RXA -> returns@ashford.example.nhs.uk",
            "Due 24 October 2026 at 12:00 BST: Daily ward bed census 2026-10-23 -> returns@ashford.example.nhs.uk",
            "New collection from 20 December 2026: Urgent and emergency care daily situation report: beds (manual form) (DAP0002) -> returns@ashford.example.nhs.uk",
        ],
        "{got:?}"
    );
    let sunday = bodies(&server.maildir)
        .into_iter()
        .find(|b| b.contains("2 things to know"))
        .unwrap();
    assert!(
        sunday.contains("Overdue: Daily ward bed census 2026-10-23"),
        "{sunday}"
    );
    assert!(
        sunday.contains("Due 25 October 2026 at 11:00 GMT"),
        "{sunday}"
    );
    let recorded = registry.store().notifications(100).await.unwrap();
    assert_eq!(recorded.len(), 4);
    assert!(
        recorded
            .iter()
            .all(|n| n.status == "sent" && n.recipients == "returns@ashford.example.nhs.uk")
    );

    // Bramley gives an address while the mail server is down: its notices fail, are
    // recorded as failed, and go once the server answers again; then never again.
    registry
        .store()
        .set_contacts("RXB", &["data@bramley.example.nhs.uk".into()])
        .await
        .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = Notifier {
        registry: registry.clone(),
        sources: Arc::new(Sources::default()),
        mailer: Arc::new(
            Mailer::of(&Mail {
                smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
                dir: None,
                from: None,
            })
            .unwrap(),
        ),
    };
    let failed = down.step(utc("2026-10-25T11:00:00Z")).await.unwrap();
    assert!(!failed.is_empty());
    assert!(
        failed
            .iter()
            .all(|s| s.error.is_some() && s.provider == "RXB")
    );
    let recorded = registry.store().notifications(100).await.unwrap();
    assert_eq!(
        recorded.iter().filter(|n| n.status == "failed").count(),
        failed.len()
    );
    let again = step("2026-10-25T11:05:00Z").await;
    assert_eq!(again.len(), failed.len(), "{again:?}");
    assert!(step("2026-10-25T11:10:00Z").await.is_empty(), "sent once");
    let recorded = registry.store().notifications(100).await.unwrap();
    assert!(recorded.iter().all(|n| n.status == "sent"), "{recorded:?}");
}

/// A trust whose census lands with a ward at 0 occupied is told once, the same morning,
/// which figure is held and until when it may confirm or correct it.
#[tokio::test]
async fn a_trust_is_told_once_of_figures_held_for_its_confirmation() {
    let w = common::world::world().await;
    w.registry
        .store()
        .set_contacts("RXA", &["returns@ashford.example.nhs.uk".into()])
        .await
        .unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let slip = common::world::census("RXA", day).replace(",20,18", ",20,0");
    w.land("ward-bed-census", "RXA", "2026-07-01", &slip, false)
        .await;
    let folder = w.dir.path().join("mail");
    let mail = Mail {
        smtp_url: None,
        dir: Some(folder.clone()),
        from: Some("Tally <tally@example.nhs.uk>".into()),
    };
    let notifier = Notifier {
        registry: w.registry.clone(),
        sources: Arc::new(w.sources.clone()),
        mailer: Arc::new(Mailer::of(&mail).unwrap()),
    };
    let sent = notifier.step(utc("2026-07-02T10:00:00Z")).await.unwrap();
    let keys: Vec<&str> = sent.iter().map(|s| s.event_key.as_str()).collect();
    assert_eq!(keys, ["held:ward-bed-census:RXA:2026-07-01:v1"], "{sent:?}");
    assert!(
        notifier
            .step(utc("2026-07-02T11:00:00Z"))
            .await
            .unwrap()
            .is_empty(),
        "told once"
    );
    let body = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    // The body is quoted-printable: soft line breaks and `=` as =3D.
    let body = body
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    assert!(
        body.contains("Figures to confirm: ward-bed-census 2026-07-01 for RXA"),
        "{body}"
    );
    assert!(
        body.contains(
            "occupied_beds is 0 for census_date=2026-07-01, site_code=RXA01, ward_code=W1"
        ),
        "{body}"
    );
    assert!(body.contains("by 30 July 2026 at 12:00 BST"), "{body}");
}
