//! A nil return in a national return: the provider counts as received, and adds no rows.

use crate::common;

use common::world::{utc, world};
use tally::domain::Period;
use tally::schedule::pull::Timing;
use tally::schedule::upload::{HandIn, Handed, hand_in};

const SQL: &str = "SELECT 'england' AS level, COUNT(*) AS trusts, \
    SUM(virtual_ward_capacity) AS capacity FROM virtual_ward_capacity\n";

const SIDECAR: &str = r#"title = "Virtual ward capacity, England"
inputs = ["virtual-ward-capacity"]
expects = ["acute_trust"]
period = "month"

[[columns]]
name = "level"

[[columns]]
name = "trusts"
measure = "non_person"
description = "Trusts whose rows were counted"

[[columns]]
name = "capacity"
measure = "non_person"
"#;

#[tokio::test]
async fn a_nil_return_is_received_and_adds_nothing() {
    let w = world().await;
    let def = tally::registry::load::load_file(
        &common::repo().join("collections/proposals/virtual-ward-capacity.toml"),
        chrono_tz::Europe::London,
    )
    .unwrap();
    let at = utc("2026-03-01T09:00:00Z");
    w.registry.propose(&def, "NHS England", at).await.unwrap();
    common::list_owed_at_once(&w.registry, "virtual-ward-capacity", at).await;
    let queries = tempfile::tempdir().unwrap();
    std::fs::write(queries.path().join("virtual-wards.sql"), SQL).unwrap();
    std::fs::write(queries.path().join("virtual-wards.toml"), SIDECAR).unwrap();
    let catalogue = common::license_returns(&w.registry, queries.path()).await;

    // RXA sends May's figures; RXB, which runs no virtual ward, declares a nil return. RXC
    // closed on 1 May and owes nothing.
    let file = w.dir.path().join("rxa-may.csv");
    std::fs::write(
        &file,
        "snapshot_date,virtual_ward_capacity,virtual_ward_patients\n2026-05-31,25,19\n",
    )
    .unwrap();
    let hand = |provider: &str, handed: Handed| HandIn {
        collection: "virtual-ward-capacity".into(),
        provider: provider.into(),
        period: "2026-05".into(),
        handed,
        via: "cli",
        replace: false,
    };
    let now = utc("2026-06-02T09:00:00Z");
    let rxa = hand(
        "RXA",
        Handed::File {
            path: file,
            name: "rxa-may.csv".into(),
        },
    );
    let up = hand_in(&w.registry, &w.lake, rxa, now, Timing::Fixed)
        .await
        .unwrap();
    assert_eq!((up.status.as_str(), up.nil_return), ("landed", false));
    let up = hand_in(
        &w.registry,
        &w.lake,
        hand("RXB", Handed::Nil),
        now,
        Timing::Fixed,
    )
    .await
    .unwrap();
    assert_eq!((up.status.as_str(), up.nil_return), ("landed", true));
    assert!(up.summary().contains("as a nil return"), "{}", up.summary());

    let a = tally::returns::build::build(
        &w.registry,
        &w.lake,
        &w.returns_dir(),
        catalogue.get("virtual-wards").unwrap(),
        &Period::parse("2026-05").unwrap(),
        utc("2026-07-10T12:00:00Z"),
    )
    .await
    .unwrap();
    let c = &a.manifest.completeness.inputs[0];
    assert_eq!((c.expected, c.received), (2, 2), "{c:?}");
    assert!(c.missing.is_empty() && c.partial.is_empty(), "{c:?}");
    assert!(a.manifest.completeness.complete);
    let providers: Vec<&str> = a
        .manifest
        .inputs
        .iter()
        .map(|i| i.provider.as_str())
        .collect();
    assert_eq!(providers, ["RXA", "RXB"], "both versions were read");
    let out = queries.path().join("out.json");
    let def = catalogue.get("virtual-wards").unwrap();
    tally::returns::export::export(def, &a, tally::returns::export::ExportFormat::Json, &out)
        .unwrap();
    let wrapped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    let rows = wrapped["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["trusts"], 1, "the nil return adds no row");
    assert_eq!(rows[0]["capacity"], 25);

    // A collection whose definition takes no nil return refuses one, and stores nothing.
    let census = HandIn {
        collection: "ward-bed-census".into(),
        period: "2026-06-01".into(),
        ..hand("RXA", Handed::Nil)
    };
    let e = hand_in(&w.registry, &w.lake, census, now, Timing::Fixed)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not take nil returns"), "{e}");
}
