//! The OpenAPI document is true: schemathesis (the tool integrators use) runs every check it
//! has against a served instance, with a fixed seed and a bounded number of examples, and
//! finds nothing. It is found through `TALLY_ANALYST_PYTHON` (tests/analyst/requirements.txt;
//! `.ci/run` installs it): without it the test is skipped with a notice, and under `CI` fails.

use std::net::SocketAddr;

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_document_does_not_say() {
    let python = std::env::var("TALLY_ANALYST_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = std::process::Command::new(&python)
        .args(["-c", "import schemathesis"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        return common::server_absent::<()>(
            "schemathesis",
            &python,
            "cannot import schemathesis (pip install -r tests/analyst/requirements.txt, or set TALLY_ANALYST_PYTHON)",
        )
        .unwrap_or_default();
    }
    // schemathesis sends every operation a missing and a wrong token on purpose: more than
    // the refusals one address is answered before 429.
    let t = common::web::spawn_tuned(None, None, |app| {
        app.refusals = tally::web::limit::refusals_allowing(100_000);
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let router = t.router.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    // DAP reaches the register, governance, returns and burden; a provider's token reaches
    // its uploads, trials, nil returns and questions.
    for (who, token) in [("DAP", &t.tokens.dap), ("provider", &t.tokens.provider)] {
        let (python, token, repo) = (python.clone(), token.clone(), common::repo());
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(&python)
                .args(["-m", "schemathesis.cli", "--no-color", "--config-file"])
                .arg(repo.join("tests/analyst/schemathesis.toml"))
                .args(["run", &format!("http://{at}/api/v1/openapi.json")])
                .args(["-H", &format!("Authorization: Bearer {token}")])
                .args(["--checks", "all", "--seed", "1", "--max-examples", "25"])
                .args(["--phases", "examples,coverage,fuzzing", "--workers", "2"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "with a {who} token, schemathesis found what the document does not say:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = text.lines().skip_while(|l| !l.contains("SUMMARY"));
        println!(
            "with a {who} token:\n{}",
            summary.collect::<Vec<_>>().join("\n")
        );
    }
    server.abort();
}
