//! Plausibility: a figure far from its provider's own recent figures (the ward census's
//! zero-bed slip) lands, counts as received, and is held for the provider to confirm; the
//! return marks what rests on it provisional (a status column, SDMX `OBS_STATUS` `P`, `[p]`
//! in a workbook) and says how many in its completeness, until the provider confirms it or
//! corrects it.

use std::io::Read;

use crate::common;

use chrono::NaiveDate;
use common::world::{World, census, row, rows, utc, world};
use tally::landing::plausible::Reason;
use tally::registry::holds::HoldError;
use tally::returns::export::{ExportFormat, export};

/// RXA's census for `day` with its adult core ward W1 at 0 occupied (it has 18 or 15).
fn slip(day: &str) -> String {
    let d = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    let sent = census("RXA", d)
        .replace(",20,18", ",20,0")
        .replace(",20,15", ",20,0");
    assert_ne!(sent, census("RXA", d), "the slip must change W1");
    sent
}

/// Pulls `trust`'s census for `day` the morning after and returns its report's text.
async fn send(w: &World, trust: &str, day: &str, csv: &str, again: bool) -> String {
    let p = w
        .pull_census(trust, day, csv, utc(&format!("{day}T09:00:00Z")), again)
        .await;
    assert!(
        matches!(p.status.as_str(), "landed" | "late" | "amended"),
        "{}",
        p.message
    );
    p.message
}

fn provisional(r: &serde_json::Value) -> Vec<&str> {
    r["provisional"]
        .as_str()
        .map(|s| s.split(' ').collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_zero_bed_slip_is_held_marked_provisional_and_final_once_confirmed() {
    let w = world().await;
    // 1 July, a Wednesday: eight Wednesdays of history, W1 at 15 in May and 18 in June.
    let report = send(&w, "RXA", "2026-07-01", &slip("2026-07-01"), false).await;
    assert!(
        report.contains("Awaiting your confirmation: 1 figure is far from your own recent figures"),
        "{report}"
    );
    assert!(
        report.contains("occupied_beds is 0 for census_date=2026-07-01, site_code=RXA01, ward_code=W1, stay=overnight, bed_class=core; the same weekday in the last 8 weeks it was never 0 (15 to 18, median 16.5)"),
        "{report}"
    );
    send(
        &w,
        "RXB",
        "2026-07-01",
        &census("RXB", NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()),
        false,
    )
    .await;
    let holds = w.registry.holds_of("RXA", true).await.unwrap();
    assert_eq!(holds.len(), 1, "{holds:?}");
    let h = &holds[0];
    assert_eq!(
        (h.hold.period.as_str(), h.hold.version, h.hold.figures),
        ("2026-07-01", 1, 1)
    );
    assert_eq!(h.held[0].item, "occupied_beds");
    assert_eq!(h.held[0].reason, Reason::Zero);
    assert_eq!(h.held[0].periods, 8);
    assert!(w.registry.holds_of("RXB", true).await.unwrap().is_empty());

    // The SitRep counts RXA as received and marks what rests on W1 provisional.
    let first = w.build("uec-daily-sitrep", "2026-07-01").await;
    let c = &first.manifest.completeness;
    assert_eq!(c.inputs[0].received, 2, "a held period is still received");
    assert_eq!(c.inputs[0].provisional.len(), 1);
    assert_eq!(c.inputs[0].provisional[0].code, "RXA");
    assert_eq!(c.awaiting(), (1, 1));
    assert!(
        c.statement().contains("1 figure from 1 provider awaits its provider's confirmation: the cells built on it are marked provisional."),
        "{}",
        c.statement()
    );
    let got = rows(&first);
    let rxa = provisional(row(&got, "RXA"));
    assert_eq!(
        rxa,
        ["ga_adult_core_occupied", "ga_occupied", "ga_occupancy_pct"],
        "only what W1's occupied beds feed"
    );
    assert_eq!(row(&got, "RXA")["ga_adult_core_occupied"], 0);
    assert!(
        provisional(row(&got, "RXB")).is_empty(),
        "RXB sent nothing held"
    );
    for aggregate in ["QMJ", "London", "ENG"] {
        assert_eq!(
            provisional(row(&got, aggregate)),
            rxa,
            "{aggregate} sums RXA's beds"
        );
    }
    assert!(provisional(row(&got, "QRV")).is_empty(), "RXB's ICB");

    // SDMX-CSV: observation status P for those figures, A for the rest.
    let out = tempfile::tempdir().unwrap();
    let sdmx = out.path().join("sitrep.csv");
    export(
        w.def("uec-daily-sitrep"),
        &first,
        ExportFormat::SdmxCsv,
        &sdmx,
    )
    .unwrap();
    let mut reader = csv::Reader::from_path(&sdmx).unwrap();
    let header = reader.headers().unwrap().clone();
    let at = |n: &str| header.iter().position(|h| h == n).unwrap();
    let mut statuses = std::collections::BTreeMap::new();
    for r in reader.records() {
        let r = r.unwrap();
        statuses.insert(
            (r[at("CODE")].to_string(), r[at("MEASURE")].to_string()),
            r[at("OBS_STATUS")].to_string(),
        );
    }
    let status = |code: &str, m: &str| statuses[&(code.to_string(), m.to_string())].as_str();
    assert_eq!(status("RXA", "GA_ADULT_CORE_OCCUPIED"), "P");
    assert_eq!(status("ENG", "GA_OCCUPANCY_PCT"), "P");
    assert_eq!(status("RXA", "GA_ADULT_CORE_AVAILABLE"), "A");
    assert_eq!(status("RXB", "GA_ADULT_CORE_OCCUPIED"), "A");

    // A workbook keeps the number and shows [p] after it.
    let xlsx = out.path().join("sitrep.xlsx");
    export(w.def("uec-daily-sitrep"), &first, ExportFormat::Xlsx, &xlsx).unwrap();
    let mut book = zip::ZipArchive::new(std::fs::File::open(&xlsx).unwrap()).unwrap();
    let mut styles = String::new();
    book.by_name("xl/styles.xml")
        .unwrap()
        .read_to_string(&mut styles)
        .unwrap();
    assert!(
        styles.contains("formatCode=\"General&quot; [p]&quot;\""),
        "{styles}"
    );

    // Nobody may confirm a version that is not the current one, or confirm twice.
    let at = utc("2026-07-02T10:00:00Z");
    let confirm = async |version: i64, note: &str| {
        w.registry
            .confirm_held(
                "RXA",
                "ward-bed-census",
                "2026-07-01",
                version,
                "Ward manager",
                note,
                at,
            )
            .await
    };
    let e = confirm(2, "").await.unwrap_err();
    assert!(
        matches!(e.downcast_ref(), Some(HoldError::Moved { .. })),
        "{e}"
    );
    // The trust checks: the ward was closed for a deep clean.
    let confirmed = confirm(1, "W1 closed for a deep clean").await.unwrap();
    assert_eq!(confirmed.confirmed_by.as_deref(), Some("Ward manager"));
    let e = confirm(1, "").await.unwrap_err();
    assert!(
        matches!(e.downcast_ref(), Some(HoldError::Confirmed { .. })),
        "{e}"
    );
    assert!(w.registry.holds_of("RXA", true).await.unwrap().is_empty());
    assert_eq!(w.registry.holds_of("RXA", false).await.unwrap().len(), 1);

    // Built again, the 0 stands and is final; the revision says why.
    let second = w.build("uec-daily-sitrep", "2026-07-01").await;
    assert_eq!(second.manifest.version, 2);
    let r = second.manifest.revision.as_ref().unwrap();
    assert_eq!(
        r.why,
        ["the figure held for confirmation no longer is: what rested on it is final"]
    );
    assert_eq!(r.cells_changed, 0, "no number moved: {r:?}");
    let got = rows(&second);
    assert!(got.iter().all(|r| provisional(r).is_empty()), "{got:?}");
    assert_eq!(row(&got, "RXA")["ga_adult_core_occupied"], 0);
    assert_eq!(second.manifest.completeness.awaiting(), (0, 0));
}

#[tokio::test]
async fn a_correction_ends_the_hold_and_too_little_history_holds_nothing() {
    let w = world().await;
    send(&w, "RXA", "2026-07-01", &slip("2026-07-01"), false).await;
    let held = w.build("uec-daily-sitrep", "2026-07-01").await;
    assert_eq!(held.manifest.completeness.awaiting(), (1, 1));

    // The trust sends the day again with W1's real figure: nothing is held any more.
    let corrected = census("RXA", NaiveDate::from_ymd_opt(2026, 7, 1).unwrap());
    let report = send(&w, "RXA", "2026-07-01", &corrected, true).await;
    assert!(!report.contains("Awaiting your confirmation"), "{report}");
    assert!(w.registry.holds_of("RXA", false).await.unwrap().is_empty());
    let e = w
        .registry
        .confirm_held(
            "RXA",
            "ward-bed-census",
            "2026-07-01",
            1,
            "Ward manager",
            "",
            utc("2026-07-02T10:00:00Z"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e.downcast_ref(), Some(HoldError::NotHeld { .. })),
        "{e}"
    );
    let final_ = w.build("uec-daily-sitrep", "2026-07-01").await;
    let got = rows(&final_);
    assert!(got.iter().all(|r| provisional(r).is_empty()));
    assert_eq!(row(&got, "RXA")["ga_adult_core_occupied"], 18);
    let why = &final_.manifest.revision.as_ref().unwrap().why;
    assert!(
        why.contains(
            &"RXA's ward-bed-census for 2026-07-01: version 1 amended by version 2".to_string()
        ),
        "{why:?}"
    );

    // 15 April has two Wednesdays before it: no baseline, so the same slip is not held.
    let report = send(&w, "RXA", "2026-04-15", &slip("2026-04-15"), true).await;
    assert!(!report.contains("Awaiting your confirmation"), "{report}");
    assert!(w.registry.holds_of("RXA", true).await.unwrap().is_empty());
}
