//! A revised artifact says why it was made and what it changed: the amendment that made it,
//! and each cell whose value moved, by row and column.

use crate::common;

use chrono::NaiveDate;
use common::world::{census, world};

#[tokio::test]
async fn a_revision_names_the_amendment_and_the_cells_it_changed() {
    let w = world().await;
    let first = w.build("uec-daily-sitrep", "2026-04-10").await;
    assert_eq!(first.manifest.version, 1);
    assert!(
        first.manifest.revision.is_none(),
        "the first version revises nothing"
    );

    // RXB corrects its general and acute ward: 29 occupied, not 27.
    let corrected =
        census("RXB", NaiveDate::from_ymd_opt(2026, 4, 10).unwrap()).replace(",30,27", ",30,29");
    w.land("ward-bed-census", "RXB", "2026-04-10", &corrected, true)
        .await;
    let second = w.build("uec-daily-sitrep", "2026-04-10").await;
    assert_eq!(second.manifest.version, 2);
    let r = second.manifest.revision.as_ref().expect("a revision");
    assert_eq!(r.of, 1);
    assert_eq!(r.inputs.len(), 1, "{r:?}");
    let input = &r.inputs[0];
    assert_eq!(
        (input.provider.as_str(), input.period.as_str()),
        ("RXB", "2026-04-10")
    );
    assert_eq!((input.from_version, input.to_version), (Some(1), Some(2)));
    assert_eq!(
        r.why,
        ["RXB's ward-bed-census for 2026-04-10: version 1 amended by version 2"]
    );
    // The cells: RXB's own, its region's and England's occupied beds and occupancy, and
    // nothing else.
    let changed: Vec<(&str, &str, &str, &str)> = r
        .cells
        .iter()
        .map(|c| {
            (
                c.row.as_str(),
                c.column.as_str(),
                c.before.as_str(),
                c.after.as_str(),
            )
        })
        .collect();
    let rxb = "level=trust, region=London, code=RXB";
    assert!(
        changed.contains(&(rxb, "ga_adult_core_occupied", "27", "29")),
        "{changed:#?}"
    );
    assert!(
        changed
            .iter()
            .any(|c| c.0 == "level=region, region=London, code=London"
                && c.1 == "ga_adult_core_occupied"),
        "{changed:#?}"
    );
    assert!(
        changed
            .iter()
            .all(|c| c.0 != "level=trust, region=London, code=RXA"),
        "RXA sent nothing new: {changed:#?}"
    );
    assert!(
        changed
            .iter()
            .all(|c| c.1.contains("occupied") || c.1.contains("occupancy")),
        "only occupied beds moved: {changed:#?}"
    );
    assert_eq!(r.cells_changed, r.cells.len());

    // Building again from the same inputs revises nothing.
    let again = w.build("uec-daily-sitrep", "2026-04-10").await;
    assert_eq!(again.manifest.version, 2);

    // The same query once DAP has licensed it: a new version that says only that, and no
    // figure moved.
    let mut licensed = w.def("uec-daily-sitrep").clone();
    licensed.licence = Some(tally::returns::catalogue::QueryLicence {
        number: "DAPR0003".into(),
        version: 1,
    });
    let third = tally::returns::build::build(
        &w.registry,
        &w.lake,
        &w.returns_dir(),
        &licensed,
        &tally::domain::Period::parse("2026-04-10").unwrap(),
        common::world::utc("2026-07-10T12:00:00Z"),
    )
    .await
    .unwrap();
    let r = third.manifest.revision.expect("a revision");
    assert_eq!(
        r.why,
        [
            "the same query, built under DAPR0003 version 1 (was no licence (read from the queries folder))"
        ]
    );
    assert_eq!((r.cells_changed, r.compared), (0, true));
}

/// A return whose dimensions do not tell its rows apart is refused at build, in words: its
/// downloads would say they identify a row (CSVW's primary key, SDMX's series key), and a
/// revision could not say which row changed.
#[tokio::test]
async fn a_return_whose_dimensions_do_not_identify_its_rows_is_refused() {
    let w = world().await;
    let queries = tempfile::tempdir().unwrap();
    // Two rows per region (one a home): the home's code is the only thing telling them
    // apart, and it is declared an attribute.
    std::fs::write(
        queries.path().join("homes.sql"),
        "SELECT 'home' AS level, p.region, c.provider AS code, c.max_capacity AS places
         FROM care_home_capacity c JOIN providers p ON p.code = c.provider",
    )
    .unwrap();
    std::fs::write(
        queries.path().join("homes.toml"),
        "title = \"Homes\"\ninputs = [\"care-home-capacity\"]\nexpects = [\"care_home\"]\nperiod = \"month\"\n\
         [[columns]]\nname = \"level\"\n[[columns]]\nname = \"region\"\n\
         [[columns]]\nname = \"code\"\nattribute = true\n\
         [[columns]]\nname = \"places\"\nmeasure = \"non_person\"\n",
    )
    .unwrap();
    let catalogue = tally::returns::Catalogue::load(queries.path()).unwrap();
    let e = tally::returns::build::build(
        &w.registry,
        &w.lake,
        &w.returns_dir(),
        catalogue.get("homes").unwrap(),
        &tally::domain::Period::parse("2026-04").unwrap(),
        common::world::utc("2026-07-10T12:00:00Z"),
    )
    .await
    .unwrap_err();
    let said = format!("{e:#}");
    assert!(
        said.contains("homes: two rows are level=home, region=London")
            && said.contains("declare the column that does as a dimension"),
        "{said}"
    );
}
