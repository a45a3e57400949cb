//! Providers imported from a CSV, and the obligations that follow their open dates.

use crate::common::{TestDb, dap, load};

use tally::providers::read_csv;
use tally::registry::governance::StatusChange;

use super::at;

contract!(providers_import_and_obligations_follow_open_dates,);

async fn providers_import_and_obligations_follow_open_dates(db: &TestDb) {
    let r = db.registry().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("providers.csv");
    std::fs::write(
        &csv,
        "code,name,kind,region,icb,local_authority,opened_on,closed_on,successor\n\
         RXA,Ashford Hospitals NHS Trust,acute_trust,South East,NHS Kent ICB,Kent,,2026-11-10,RXC\n\
         RXB,Bramley Mental Health NHS Trust,mental_health_trust,London,,,,,\n\
         RXC,Castleton University Hospitals NHS Trust,acute_trust,South East,NHS Kent ICB,Kent,2026-11-10,,\n\
         1-101234567,Oak House,care_home,London,,Camden,,,\n",
    )
    .unwrap();
    let providers = read_csv(&csv).unwrap();
    assert_eq!(
        r.store()
            .import_providers(&providers, crate::common::registered())
            .await
            .unwrap(),
        4
    );
    // Importing again updates in place.
    r.store()
        .import_providers(&providers, crate::common::registered())
        .await
        .unwrap();
    let mut sorted = providers.clone();
    sorted.sort_by(|a, b| a.code.cmp(&b.code));
    assert_eq!(r.store().providers().await.unwrap(), sorted);

    r.propose(&load("ward-bed-census"), "NHS England", at(1))
        .await
        .unwrap();
    crate::common::list_owed_at_once(&r, "ward-bed-census", at(1)).await;
    let owing = |day| {
        let r = &r;
        async move {
            r.obligations(at(day))
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.provider)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(owing(5).await, ["RXA", "RXB"]);
    assert_eq!(owing(20).await, ["RXB", "RXC"]);
    // A suspended collection is owed by nobody until it is reinstated.
    r.change(
        "ward-bed-census",
        StatusChange::Suspend,
        dap(),
        "outage",
        at(21),
    )
    .await
    .unwrap();
    assert!(owing(22).await.is_empty());
    r.change(
        "ward-bed-census",
        StatusChange::Reinstate,
        dap(),
        "back",
        at(23),
    )
    .await
    .unwrap();
    assert_eq!(owing(24).await, ["RXB", "RXC"]);
    // Burden counts the registered respondents, not the estimate, once there are any.
    let b = r.burden(at(20)).await.unwrap();
    assert_eq!(b.collections[0].respondents, 2);
    assert!((b.total_hours - 2.0 * 365.0 * 2.0 / 60.0).abs() < 1e-9);
}
