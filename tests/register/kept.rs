//! The register kept by its revision: the collections and versions, the decision log and
//! DAP's budget are read once a revision, and a request keeps the counters it read first,
//! so that a change committed while it runs does not change the kept readings it is
//! served. On SQLite and PostgreSQL.

use crate::common;

use std::sync::Arc;

use tally::registry::seen::one_reading;
use tally::registry::views::BudgetChange;

contract!(a_request_reads_the_register_once_and_the_next_sees_every_change);

async fn a_request_reads_the_register_once_and_the_next_sees_every_change(db: &common::TestDb) {
    let registry = db.registry().await;
    let at = common::registered();
    let cap = |hours: f64| BudgetChange {
        cap_hours: Some(hours),
        ..BudgetChange::default()
    };
    let first = registry.rows().await.unwrap();
    assert!(first.budget().is_none());
    assert!(first.decisions().is_empty());
    // Nothing changed: the same reading.
    assert!(Arc::ptr_eq(&first, &registry.rows().await.unwrap()));

    // A request that began before DAP set the budget sees the register as it began: the
    // counters it read first, and the reading labelled with them.
    one_reading(async {
        let began = registry.revisions().await.unwrap();
        registry
            .set_budget(cap(1_000_000.0), common::dap(), "First cap.", at)
            .await
            .unwrap();
        assert_eq!(registry.revisions().await.unwrap(), began);
        assert!(Arc::ptr_eq(&first, &registry.rows().await.unwrap()));
        assert!(registry.burden(at).await.unwrap().budget.is_none());
    })
    .await;

    // The next request sees the change, in the rows and in the burden report.
    let after = one_reading(async {
        let rows = registry.rows().await.unwrap();
        assert_eq!(rows.budget().map(|b| b.cap_hours), Some(Some(1_000_000.0)));
        let burden = registry.burden(at).await.unwrap();
        assert_eq!(burden.budget.and_then(|b| b.cap_hours), Some(1_000_000.0));
        rows
    })
    .await;
    assert_eq!(after.revision(), first.revision() + 1);

    // Outside a request every question reads the counters afresh: a proposal, then a
    // listing, each show in the decision log at once, with the collection's own.
    let def = common::load("ward-bed-census");
    registry.propose(&def, "NHS England", at).await.unwrap();
    let proposed = registry.rows().await.unwrap();
    assert_eq!(proposed.decisions().len(), 1);
    common::list_owed_at_once(&registry, def.def.slug.as_str(), at).await;
    let listed = registry.rows().await.unwrap();
    let actions: Vec<_> = listed
        .decisions_of(def.def.slug.as_str())
        .map(|d| d.action)
        .collect();
    assert_eq!(
        actions,
        [tally::domain::Step::Propose, tally::domain::Step::List]
    );
    // The budget is kept with them, as last set.
    assert_eq!(
        listed.budget().map(|b| b.cap_hours),
        Some(Some(1_000_000.0))
    );
    // What the pages show from the kept log is the log as stored.
    let stored = registry.store().decisions(None).await.unwrap();
    let ids = |d: &[tally::store::DecisionRow]| d.iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(listed.decisions()), ids(&stored));
    let shown = registry.show(def.def.slug.as_str(), at).await.unwrap();
    assert_eq!(ids(&shown.decisions), ids(&stored));
}
