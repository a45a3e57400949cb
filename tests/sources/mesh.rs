//! The `mesh` connector against NHS Digital's own MESH sandbox (`mesh-sandbox` from PyPI),
//! which each test starts on a port of its own with mailboxes and workflows of its own. The
//! trust's mailbox sends extracts through the sandbox's outbox API, as a trust's MESH client
//! would, and Tally's pull lists, downloads and acknowledges them.
//!
//! The sandbox is found through `TALLY_MESH_PYTHON` (a Python with `mesh_sandbox` and
//! `uvicorn` installed; `.ci/run` makes one), else `python3`. Without it the tests are
//! skipped with a notice, and under `CI` they fail.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::CensusWorld;
use tally::connectors::ConnectorConfig;
use tally::connectors::mesh::{MeshConfig, authorization};

const SHARED_KEY: &str = "TestKey";
// The sandbox reads its mailboxes from the examples it ships (`mesh_sandbox/store/data`),
// not from the data folder; these two are among them.
const TALLY: &str = "X26ABC2";
const TALLY_PASSWORD: &str = "password";
const TRUST: &str = "X26ABC1";
const TRUST_PASSWORD: &str = "password";
const WORKFLOW: &str = "TALLY_WARD_BED_CENSUS";

const HEADER: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds\n";

fn rows(n: usize) -> String {
    let mut csv = HEADER.to_owned();
    for i in 0..n {
        csv.push_str(&format!(
            "2026-11-24,RXA01,W{i},general_acute,overnight,adult,core,general,20,18\n"
        ));
    }
    csv
}

/// A running sandbox, stopped when the test ends.
struct Sandbox {
    child: Child,
    url: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> String {
    std::env::var("TALLY_MESH_PYTHON").unwrap_or_else(|_| "python3".into())
}

async fn sandbox(dir: &Path) -> Option<Sandbox> {
    let python = python();
    let found = Command::new(&python)
        .args(["-c", "import mesh_sandbox, uvicorn"])
        .stderr(Stdio::null())
        .status();
    if !found.is_ok_and(|s| s.success()) {
        return common::server_absent(
            "mesh-sandbox",
            "mesh-sandbox",
            format!(
                "{python} cannot import mesh_sandbox and uvicorn (pip install mesh-sandbox uvicorn, or set TALLY_MESH_PYTHON)"
            ),
        );
    }
    let data = dir.join("mesh");
    std::fs::create_dir_all(&data).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join("mesh-sandbox.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(&python)
        .args([
            "-m",
            "uvicorn",
            "mesh_sandbox.api:app",
            "--host",
            "127.0.0.1",
        ])
        .args(["--port", &port.to_string()])
        .env("AUTH_MODE", "full")
        .env("SHARED_KEY", SHARED_KEY)
        .env("STORE_MODE", "file")
        .env("MAILBOXES_DATA_DIR", &data)
        .current_dir(dir)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start mesh-sandbox");
    let sandbox = Sandbox {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
        client: reqwest::Client::new(),
    };
    for _ in 0..300 {
        if let Ok(r) = sandbox
            .client
            .get(format!("{}/health", sandbox.url))
            .send()
            .await
            && r.status().is_success()
        {
            return Some(sandbox);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "mesh-sandbox did not start within 30 s:\n{}",
        std::fs::read_to_string(&sandbox.log).unwrap_or_default()
    );
}

impl Sandbox {
    /// Sends `chunks` from the trust's mailbox to Tally's as one message.
    async fn send(&self, workflow: &str, file_name: &str, chunks: &[&str]) -> String {
        let total = chunks.len();
        let mut id = String::new();
        for (n, body) in chunks.iter().enumerate() {
            let url = if n == 0 {
                format!("{}/messageexchange/{TRUST}/outbox", self.url)
            } else {
                format!("{}/messageexchange/{TRUST}/outbox/{id}/{}", self.url, n + 1)
            };
            let response = self
                .client
                .post(url)
                .header(
                    "authorization",
                    authorization(TRUST, TRUST_PASSWORD, SHARED_KEY),
                )
                .header("accept", "application/vnd.mesh.v2+json")
                .header("content-type", "application/octet-stream")
                .header("mex-from", TRUST)
                .header("mex-to", TALLY)
                .header("mex-workflowid", workflow)
                .header("mex-filename", file_name)
                .header("mex-localid", format!("local-{file_name}"))
                .header("mex-chunk-range", format!("{}:{total}", n + 1))
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(status.is_success(), "send answered {status}: {text}");
            if n == 0 {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                id = v["message_id"].as_str().unwrap().to_owned();
            }
        }
        id
    }

    /// The ids in Tally's inbox.
    async fn inbox(&self) -> Vec<String> {
        let text = self
            .client
            .get(format!("{}/messageexchange/{TALLY}/inbox", self.url))
            .header(
                "authorization",
                authorization(TALLY, TALLY_PASSWORD, SHARED_KEY),
            )
            .header("accept", "application/vnd.mesh.v2+json")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect()
    }

    fn config(&self, dir: &Path, password: &str) -> MeshConfig {
        std::fs::write(dir.join("mesh-password"), password).unwrap();
        // SAFETY: each test sets the variable to the same value before any thread reads it.
        unsafe { std::env::set_var("TALLY_TEST_MESH_SHARED_KEY", SHARED_KEY) };
        MeshConfig {
            url: self.url.clone(),
            mailbox: TALLY.into(),
            password_env: None,
            password_file: Some("mesh-password".into()),
            shared_key_env: Some("TALLY_TEST_MESH_SHARED_KEY".into()),
            shared_key_file: None,
            workflow_id: WORKFLOW.into(),
            name: "{provider}_{period}.csv".into(),
            client_cert_file: None,
            client_key_file: None,
            ca_file: None,
            timeout_seconds: Some(30),
        }
    }
}

#[tokio::test]
async fn the_newest_message_for_the_run_lands_and_is_acknowledged_with_older_copies() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mesh) = sandbox(dir.path()).await else {
        return;
    };
    let older = mesh.send(WORKFLOW, "RXA_2026-11-24.csv", &[&rows(2)]).await;
    // MESH lists the inbox in the order messages arrived; send the second one clearly later.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let newer = mesh.send(WORKFLOW, "RXA_2026-11-24.csv", &[&rows(3)]).await;
    let another_day = mesh.send(WORKFLOW, "RXA_2026-11-23.csv", &[&rows(1)]).await;
    let config = mesh.config(dir.path(), TALLY_PASSWORD);
    let world = CensusWorld::new(dir.path(), ConnectorConfig::Mesh(config)).await;

    let pulled = world.pull(false).await;
    assert_eq!(pulled.status, "landed", "{}", pulled.message);
    let report = pulled.report.unwrap();
    assert_eq!(
        report.rows_accepted, 3,
        "the newer message is the one landed"
    );
    let inbox = mesh.inbox().await;
    assert!(
        !inbox.contains(&older) && !inbox.contains(&newer),
        "{inbox:?}"
    );
    assert!(
        inbox.contains(&another_day),
        "another period's message stays"
    );

    // Once acknowledged, the messages are gone: a pull again finds nothing new.
    let again = world.pull(true).await;
    assert_eq!(again.status, "failed");
    assert!(
        again
            .message
            .contains("no MESH message named RXA_2026-11-24.csv"),
        "{}",
        again.message
    );
}

#[tokio::test]
async fn a_message_in_several_chunks_lands_whole() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mesh) = sandbox(dir.path()).await else {
        return;
    };
    let all = rows(1000);
    let (first, second) = all.split_at(all.len() / 2);
    mesh.send(WORKFLOW, "RXA_2026-11-24.csv", &[first, second])
        .await;
    let world = CensusWorld::new(
        dir.path(),
        ConnectorConfig::Mesh(mesh.config(dir.path(), TALLY_PASSWORD)),
    )
    .await;
    let pulled = world.pull(false).await;
    assert_eq!(pulled.status, "landed", "{}", pulled.message);
    let report = pulled.report.unwrap();
    assert_eq!((report.rows_in, report.rows_accepted), (1000, 1000));
}

#[tokio::test]
async fn a_message_for_another_workflow_is_left_in_the_inbox_and_nothing_lands() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mesh) = sandbox(dir.path()).await else {
        return;
    };
    let stray = mesh
        .send("OTHER_FLOW", "RXA_2026-11-24.csv", &[&rows(2)])
        .await;
    let world = CensusWorld::new(
        dir.path(),
        ConnectorConfig::Mesh(mesh.config(dir.path(), TALLY_PASSWORD)),
    )
    .await;
    let pulled = world.pull(false).await;
    assert_eq!(pulled.status, "failed");
    assert!(
        pulled
            .message
            .contains("workflow OTHER_FLOW, not TALLY_WARD_BED_CENSUS"),
        "{}",
        pulled.message
    );
    assert_eq!(pulled.version, None);
    assert!(mesh.inbox().await.contains(&stray));
    assert!(!dir.path().join("lake/ward-bed-census").exists());
}

#[tokio::test]
async fn a_bad_extract_is_rejected_with_a_report_and_acknowledged_so_a_corrected_one_can_follow() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mesh) = sandbox(dir.path()).await else {
        return;
    };
    let bad = mesh
        .send(
            WORKFLOW,
            "RXA_2026-11-24.csv",
            &["census_date;site_code\n2026-11-24;RXA01\n"],
        )
        .await;
    let world = CensusWorld::new(
        dir.path(),
        ConnectorConfig::Mesh(mesh.config(dir.path(), TALLY_PASSWORD)),
    )
    .await;
    let pulled = world.pull(false).await;
    assert_eq!(pulled.status, "rejected");
    assert!(
        pulled.message.contains("another delimiter"),
        "{}",
        pulled.message
    );
    assert!(!mesh.inbox().await.contains(&bad));

    mesh.send(WORKFLOW, "RXA_2026-11-24.csv", &[&rows(2)]).await;
    let fixed = world.pull(true).await;
    assert_eq!(fixed.status, "landed", "{}", fixed.message);
    assert_eq!(fixed.version, Some(1));
}

#[tokio::test]
async fn a_wrong_password_is_refused_in_words_that_say_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mesh) = sandbox(dir.path()).await else {
        return;
    };
    let sent = mesh.send(WORKFLOW, "RXA_2026-11-24.csv", &[&rows(2)]).await;
    let world = CensusWorld::new(
        dir.path(),
        ConnectorConfig::Mesh(mesh.config(dir.path(), "not-the-password")),
    )
    .await;
    let pulled = world.pull(false).await;
    assert_eq!(pulled.status, "failed");
    assert!(
        pulled.message.contains("refused listing the inbox (403)")
            && pulled.message.contains("password"),
        "{}",
        pulled.message
    );
    assert!(!pulled.message.contains("not-the-password"));
    assert!(mesh.inbox().await.contains(&sent));
}

#[tokio::test]
async fn a_mailbox_that_does_not_answer_fails_the_run_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(dir.path().join("mesh-password"), "x").unwrap();
    let config = MeshConfig {
        url: format!("http://127.0.0.1:{port}"),
        mailbox: TALLY.into(),
        password_env: None,
        password_file: Some("mesh-password".into()),
        shared_key_env: None,
        shared_key_file: Some("mesh-password".into()),
        workflow_id: WORKFLOW.into(),
        name: "{provider}_{period}.csv".into(),
        client_cert_file: None,
        client_key_file: None,
        ca_file: None,
        timeout_seconds: Some(5),
    };
    let pulled = common::pull_census_through(dir.path(), ConnectorConfig::Mesh(config)).await;
    assert_eq!(pulled.status, "failed");
    assert!(
        pulled.message.contains("could not connect"),
        "{}",
        pulled.message
    );
}
