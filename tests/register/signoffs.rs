//! Sign-offs in the store, on SQLite and PostgreSQL alike: a standing sign-off is in force
//! at most once for a provider's collection and is revoked once; a period is signed off
//! only while its version is current and was pulled, and only once.

use chrono::{Duration, NaiveDate};

use crate::common::TestDb;
use crate::run_ledger::{key, land_arriving, open, t0};
use tally::store::runs::Arrival;
use tally::store::signoffs::PulledFilter;

contract!(
    a_standing_signoff_is_one_at_a_time_and_revoked_once,
    a_period_is_signed_off_once_while_current_and_pulled,
    a_period_pulled_under_an_earlier_frequency_still_awaits_its_signoff,
);

async fn a_standing_signoff_is_one_at_a_time_and_revoked_once(db: &TestDb) {
    let s = open(db).await;
    let census = "ward-bed-census";
    let from = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let give = |provider: &'static str, by: &'static str, from: NaiveDate| {
        let s = s.clone();
        async move {
            s.give_standing(census, provider, from, by, t0())
                .await
                .unwrap()
        }
    };
    assert!(give("RXA", "Returns lead", from).await.is_some());
    assert_eq!(
        give("RXA", "Someone else", from).await,
        None,
        "one is in force already"
    );
    assert!(give("RXB", "Information manager", from).await.is_some());
    let revoked = t0() + Duration::hours(1);
    assert!(
        s.revoke_standing(census, "RXA", "Head of information", revoked)
            .await
            .unwrap()
    );
    assert!(
        !s.revoke_standing(census, "RXA", "Head of information", revoked)
            .await
            .unwrap(),
        "none is in force any more"
    );
    let later = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    assert!(give("RXA", "Returns lead", later).await.is_some());
    let rxa = s
        .standing_signoffs(Some(census), Some("RXA"))
        .await
        .unwrap();
    assert_eq!(rxa.len(), 2, "{rxa:?}");
    assert_eq!(
        (
            rxa[0].from_day,
            rxa[0].given_by.as_str(),
            rxa[0].revoked_by.as_deref(),
            rxa[0].revoked_at
        ),
        (
            from,
            "Returns lead",
            Some("Head of information"),
            Some(revoked)
        )
    );
    assert!(rxa[1].in_force() && rxa[1].from_day == later);
    assert_eq!(s.standing_signoffs(None, None).await.unwrap().len(), 3);
}

async fn a_period_is_signed_off_once_while_current_and_pulled(db: &TestDb) {
    let s = open(db).await;
    let k = key("RXA", "2026-11-24");
    land_arriving(&s, &k, 1, Vec::new(), Arrival::Pulled).await;
    land_arriving(
        &s,
        &key("RXB", "2026-11-24"),
        1,
        Vec::new(),
        Arrival::Uploaded,
    )
    .await;
    let at = t0() + Duration::hours(2);
    let sign = |provider: &'static str, version: i64| {
        let s = s.clone();
        async move {
            s.sign_period(
                "ward-bed-census",
                provider,
                "2026-11-24",
                version,
                "Duty manager",
                at,
            )
            .await
            .unwrap()
        }
    };
    assert!(!sign("RXB", 1).await, "an upload is not signed off");
    assert!(!sign("RXA", 2).await, "there is no version 2");
    assert!(sign("RXA", 1).await);
    assert!(!sign("RXA", 1).await, "once");
    let current = PulledFilter {
        current: true,
        ..PulledFilter::default()
    };
    let pulled = s.pulled_versions(&current).await.unwrap();
    assert_eq!(pulled.len(), 1, "only pulled versions: {pulled:?}");
    assert_eq!(
        (
            pulled[0].provider.as_str(),
            pulled[0].signed_by.as_deref(),
            pulled[0].signed_at
        ),
        ("RXA", Some("Duty manager"), Some(at))
    );

    // A newer pull is a new extract: the old one's sign-off is not its own.
    land_arriving(&s, &k, 2, Vec::new(), Arrival::Pulled).await;
    assert!(!sign("RXA", 1).await, "no longer current");
    let pulled = s.pulled_versions(&current).await.unwrap();
    assert_eq!(
        pulled
            .iter()
            .map(|v| (v.version, v.signed_by.is_some()))
            .collect::<Vec<_>>(),
        [(2, false)]
    );
    let every = s.pulled_versions(&PulledFilter::default()).await.unwrap();
    assert_eq!(every.len(), 2);
    let later = PulledFilter {
        first: Some("2026-11-25".into()),
        last: Some("2026-11-30".into()),
        ..PulledFilter::default()
    };
    assert!(s.pulled_versions(&later).await.unwrap().is_empty());
    let other = PulledFilter {
        provider: Some("RXB".into()),
        ..PulledFilter::default()
    };
    assert!(s.pulled_versions(&other).await.unwrap().is_empty());
}

/// A collection listed again with another frequency: a period pulled under the old one and
/// still open awaits its provider's sign-off, though its name ("2026-10") sorts before the
/// new kind's ("2026-10-23").
async fn a_period_pulled_under_an_earlier_frequency_still_awaits_its_signoff(db: &TestDb) {
    use chrono::TimeZone;
    let when = |m: u32, d: u32| chrono::Utc.with_ymd_and_hms(2026, m, d, 10, 0, 0).unwrap();
    let r = db.registry().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("providers.csv");
    std::fs::write(
        &csv,
        "code,name,kind,region\nVN1,Oak House,care_home,London\n",
    )
    .unwrap();
    crate::common::import_with_contacts(&r, &csv).await;
    let slug = "care-home-capacity";
    r.propose(&crate::common::load(slug), "DHSC", when(8, 1))
        .await
        .unwrap();
    r.approve(slug, crate::common::dap(), "monthly", vec![], when(8, 1))
        .await
        .unwrap();
    // October's snapshot, pulled.
    let october = tally::domain::RunKey {
        collection: slug.into(),
        provider: "VN1".into(),
        period: tally::domain::Period::parse("2026-10").unwrap(),
    };
    land_arriving(r.store(), &october, 1, Vec::new(), Arrival::Pulled).await;
    // Listed again, daily, on 26 November.
    let daily = crate::common::variant(
        dir.path(),
        slug,
        &[
            ("cron = \"0 6 1 * *\"", "cron = \"0 6 * * *\""),
            ("period = \"month\"", "period = \"day\""),
        ],
    );
    let proposal = r.propose(&daily, "DHSC", when(11, 26)).await.unwrap();
    let overrides = proposal
        .report
        .blocking()
        .map(|f| tally::domain::finding::Override {
            rule: f.rule,
            reason: "asked for daily".into(),
        })
        .collect();
    let listed = r
        .approve(slug, crate::common::dap(), "daily", overrides, when(11, 26))
        .await
        .unwrap();
    assert_eq!(listed.version, 2);
    // On 28 November October is still open to amendments (until 6 December).
    let vn1 = r.signoffs_of("VN1", when(11, 28)).await.unwrap();
    assert_eq!(
        vn1.awaiting
            .iter()
            .map(|a| (a.collection.as_str(), a.period.as_str(), a.version))
            .collect::<Vec<_>>(),
        [(slug, "2026-10", 1)]
    );
}
