//! National returns are licensed: the scheduled builder builds only the query text DAP
//! listed.

use crate::common;

use common::repo;
use common::world::{utc, world};
use tally::returns::Catalogue;

/// A return's query is licensed: the builder builds only the text DAP listed. A changed file
/// is proposed as a new version and the listed text is built meanwhile; once DAP lists the
/// change, the next round builds with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_query_is_not_used_by_the_scheduled_builder_until_dap_lists_it() {
    let w = world().await;
    let queries = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(repo().join("queries")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, queries.path().join(f.file_name().unwrap())).unwrap();
    }
    let before = std::fs::read_to_string(repo().join("queries/uec-daily-sitrep.sql")).unwrap();
    let sha = |s: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(s.as_bytes()))
    };
    let builder_over = |catalogue: Catalogue| {
        tally::returns::scheduled::Builder::new(
            w.registry.clone(),
            std::sync::Arc::new(catalogue),
            w.lake.clone(),
            w.returns_dir(),
        )
        .unwrap()
    };
    let now = utc("2026-04-17T12:00:00Z");
    let day = tally::domain::Period::parse("2026-04-16").unwrap();

    // Nothing licensed: the builder proposes what it reads, and builds nothing.
    let unlicensed = builder_over(Catalogue::load(queries.path()).unwrap());
    let round = unlicensed.round(now).await;
    assert!(
        round.built.is_empty() && round.failed.is_empty(),
        "{round:?}"
    );
    let store = w.registry.store();
    let pending = store
        .query_versions(Some("uec-daily-sitrep"))
        .await
        .unwrap();
    assert_eq!(
        (
            pending.len(),
            pending[0].status.as_str(),
            pending[0].proposed_by.as_str()
        ),
        (1, "proposed", "the queries folder")
    );
    drop(unlicensed);

    // DAP lists what is there; it is built.
    common::license_returns(&w.registry, queries.path()).await;
    let listed = store
        .query_versions(Some("uec-daily-sitrep"))
        .await
        .unwrap();
    assert_eq!(
        listed[0].licence_number.as_deref(),
        Some("DAPR0003"),
        "{listed:?}"
    );
    let builder = builder_over(Catalogue::load(queries.path()).unwrap());
    let first = builder.round(now).await;
    assert!(
        first
            .built
            .iter()
            .any(|(n, p, _)| n == "uec-daily-sitrep" && p == "2026-04-16")
    );
    let built = |w: &common::world::World| {
        tally::returns::Artifact::latest(&w.returns_dir(), "uec-daily-sitrep", &day)
            .unwrap()
            .unwrap()
    };
    assert_eq!(built(&w).manifest.sql_sha256, sha(&before));
    drop(builder);

    // The file changes: a new version is proposed, and the listed text is still what is built.
    let changed = before.replace(
        "THEN c.age_group || '_' || c.bed_class END AS ga,",
        "THEN c.age_group || '_' || c.bed_class END AS ga, -- changed",
    );
    assert_ne!(changed, before);
    std::fs::write(queries.path().join("uec-daily-sitrep.sql"), &changed).unwrap();
    let builder = builder_over(Catalogue::load(queries.path()).unwrap());
    let round = builder.round(now).await;
    assert!(round.built.is_empty(), "{:?}", round.built);
    let versions = store
        .query_versions(Some("uec-daily-sitrep"))
        .await
        .unwrap();
    let statuses: Vec<(i64, &str)> = versions
        .iter()
        .map(|v| (v.version, v.status.as_str()))
        .collect();
    assert_eq!(statuses, [(1, "listed"), (2, "proposed")]);
    assert_eq!(built(&w).manifest.sql_sha256, sha(&before));

    // Listed: the next round builds with the new text, under the same licence.
    tally::returns::licence::decide(
        &w.registry,
        "uec-daily-sitrep",
        2,
        true,
        "DAP",
        "a comment",
        now,
    )
    .await
    .unwrap();
    let round = builder.round(now).await;
    assert!(
        round
            .built
            .iter()
            .any(|(n, p, _)| n == "uec-daily-sitrep" && p == "2026-04-16"),
        "{round:?}"
    );
    assert_eq!(built(&w).manifest.sql_sha256, sha(&changed));
    let versions = store
        .query_versions(Some("uec-daily-sitrep"))
        .await
        .unwrap();
    assert_eq!(versions[0].status, "superseded");
    assert_eq!(versions[1].licence_number.as_deref(), Some("DAPR0003"));
    drop(builder);
}
