//! Sign-off of pulled periods: a pulled period counts as received at once, and until its
//! provider signs it off (period by period, or by a standing sign-off of the collection)
//! the return's completeness names it as unsigned. A sign-off rebuilds the period with no
//! cell changed and says why; a revoked standing sign-off leaves what it covered signed.

use crate::common;

use common::world::{census, utc, world};
use tally::domain::RegistryError;
use tally::schedule::pull::Timing;
use tally::schedule::upload::{HandIn, Handed, hand_in};

fn said(e: &anyhow::Error) -> (&'static str, String) {
    match e.downcast_ref::<RegistryError>() {
        Some(RegistryError::Refused(m)) => ("refused", m.clone()),
        Some(RegistryError::Conflict(m)) => ("conflict", m.clone()),
        Some(RegistryError::NotFound(m)) => ("not found", m.clone()),
        _ => panic!("expected a RegistryError, got {e:#}"),
    }
}

#[tokio::test]
async fn pulled_periods_are_unsigned_until_their_provider_signs_them_off() {
    let w = world().await;
    let census_ = "ward-bed-census";
    let day = chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    w.land(census_, "RXA", "2026-07-01", &census("RXA", day), false)
        .await;
    w.land(census_, "RXB", "2026-07-01", &census("RXB", day), false)
        .await;

    // Received, and named as not signed off.
    let first = w.build("uec-daily-sitrep", "2026-07-01").await;
    let c = &first.manifest.completeness;
    assert_eq!((c.inputs[0].expected, c.inputs[0].received), (2, 2));
    assert!(c.complete, "an unsigned period is still received");
    let unsigned: Vec<(&str, usize)> = c.inputs[0]
        .unsigned
        .iter()
        .map(|u| (u.code.as_str(), u.periods))
        .collect();
    assert_eq!(unsigned, [("RXA", 1), ("RXB", 1)]);
    assert!(
        c.statement().contains(
            "2 periods pulled from the source systems of 2 providers are not signed off by their providers"
        ),
        "{}",
        c.statement()
    );
    assert!(
        c.notes().contains(&(
            "ward-bed-census unsigned".into(),
            "RXA Ashford Hospitals (1 pulled period not signed off by the provider)".into()
        )),
        "{:?}",
        c.notes()
    );

    // RXA's page lists the day to sign off, by its deadline; a May day is closed.
    let at = utc("2026-07-02T10:00:00Z");
    let rxa = w.registry.signoffs_of("RXA", at).await.unwrap();
    let july = rxa
        .awaiting
        .iter()
        .find(|a| a.period == "2026-07-01")
        .expect("1 July awaits sign-off");
    assert_eq!(july.version, 1);
    assert_eq!(july.deadline, utc("2026-07-02T11:00:00Z"));
    assert!(!rxa.awaiting.iter().any(|a| a.period == "2026-05-01"));
    assert_eq!(
        rxa.may_stand,
        [(census_.to_owned(), "Daily ward bed census".to_owned())],
        "a trust is not asked for the care homes' collection"
    );

    // RXA signs it off, once; a version that is not there, a day not sent, a closed day
    // and a version not current are refused.
    let sign = async |period: &str, version: i64, at: &str| {
        w.registry
            .sign_period("RXA", census_, period, version, "Duty manager", utc(at))
            .await
    };
    let (kind, m) = said(
        &sign("2026-07-01", 2, "2026-07-02T10:00:00Z")
            .await
            .unwrap_err(),
    );
    assert_eq!(kind, "conflict");
    assert!(
        m.contains("there is no version 2 of ward-bed-census 2026-07-01: the current one is 1"),
        "{m}"
    );
    let signed = sign("2026-07-01", 1, "2026-07-02T10:00:00Z").await.unwrap();
    assert_eq!(signed.signed_by.as_deref(), Some("Duty manager"));
    let (kind, m) = said(
        &sign("2026-07-01", 1, "2026-07-02T10:05:00Z")
            .await
            .unwrap_err(),
    );
    assert_eq!(kind, "conflict");
    assert!(m.contains("signed off already, by Duty manager"), "{m}");
    assert_eq!(
        said(
            &sign("2026-07-05", 1, "2026-07-06T10:00:00Z")
                .await
                .unwrap_err()
        )
        .0,
        "not found"
    );
    let (kind, m) = said(
        &sign("2026-05-01", 1, "2026-07-02T10:00:00Z")
            .await
            .unwrap_err(),
    );
    assert_eq!(kind, "refused");
    assert!(m.contains("closed to changes"), "{m}");

    // RXB gives a standing sign-off without naming a day: it starts at the earliest period
    // still awaiting its sign-off (3 June: 2 June closed an hour ago), and so covers every
    // period waiting, 1 July among them.
    let standing = w
        .registry
        .give_standing("RXB", census_, None, "Returns lead", at)
        .await
        .unwrap();
    assert_eq!(standing.from_day.to_string(), "2026-06-03");
    let (kind, m) = said(
        &w.registry
            .give_standing("RXB", census_, Some(day), "Someone else", at)
            .await
            .unwrap_err(),
    );
    assert_eq!(kind, "conflict");
    assert!(m.contains("Returns lead gave a standing sign-off"), "{m}");
    let (kind, m) = said(
        &w.registry
            .sign_period("RXB", census_, "2026-07-01", 1, "Duty manager", at)
            .await
            .unwrap_err(),
    );
    assert_eq!(kind, "conflict");
    assert!(m.contains("standing sign-off Returns lead gave"), "{m}");
    let rxb = w.registry.signoffs_of("RXB", at).await.unwrap();
    assert!(rxb.awaiting.is_empty(), "{:?}", rxb.awaiting);
    // Asked of the wrong provider, or from years away: refused.
    for (provider, collection, from) in [
        ("RXA", "care-home-capacity", day),
        ("RXA", census_, day + chrono::Days::new(400)),
    ] {
        let e = w
            .registry
            .give_standing(provider, collection, Some(from), "Returns lead", at)
            .await
            .unwrap_err();
        assert_eq!(said(&e).0, "refused", "{e}");
    }

    // Built again: every period is signed off, no cell moved, and the revision says why.
    let second = w.build("uec-daily-sitrep", "2026-07-01").await;
    assert_eq!(second.manifest.version, 2);
    assert_eq!(second.manifest.completeness.unsigned(), (0, 0));
    let r = second.manifest.revision.as_ref().unwrap();
    assert_eq!(
        r.why,
        ["no pulled period past its deadline awaits its provider's sign-off now, where 2 did"]
    );
    assert_eq!(r.cells_changed, 0, "{r:?}");

    // RXB revokes it the next morning: 2 July, pulled after, awaits a sign-off of its
    // own; 1 July, pulled before, stays signed off.
    w.registry
        .revoke_standing(
            "RXB",
            census_,
            "Head of information",
            utc("2026-07-03T07:00:00Z"),
        )
        .await
        .unwrap();
    let next = day.succ_opt().unwrap();
    w.land(census_, "RXB", "2026-07-02", &census("RXB", next), false)
        .await;
    let rxb = w
        .registry
        .signoffs_of("RXB", utc("2026-07-03T10:00:00Z"))
        .await
        .unwrap();
    let periods: Vec<&str> = rxb.awaiting.iter().map(|a| a.period.as_str()).collect();
    assert!(periods.contains(&"2026-07-02"), "{periods:?}");
    assert!(!periods.contains(&"2026-07-01"), "{periods:?}");
    assert_eq!(
        rxb.standing
            .iter()
            .map(|s| s.revoked_by.as_deref())
            .collect::<Vec<_>>(),
        [Some("Head of information")]
    );

    // A newer pull of a signed day is a new extract, signed off afresh.
    let again = census("RXA", day).replace(",20,18", ",20,17");
    w.land(census_, "RXA", "2026-07-01", &again, true).await;
    let rxa = w.registry.signoffs_of("RXA", at).await.unwrap();
    assert!(
        rxa.awaiting
            .iter()
            .any(|a| a.period == "2026-07-01" && a.version == 2)
    );
    let (kind, m) = said(
        &sign("2026-07-01", 1, "2026-07-02T10:10:00Z")
            .await
            .unwrap_err(),
    );
    assert_eq!(kind, "conflict");
    assert!(m.contains("no longer the current one"), "{m}");

    // A period uploaded by hand was signed off by sending it.
    let file = w.dir.path().join("rxa-0703.csv");
    let july3 = next.succ_opt().unwrap();
    std::fs::write(&file, census("RXA", july3)).unwrap();
    let up = HandIn {
        collection: census_.into(),
        provider: "RXA".into(),
        period: "2026-07-03".into(),
        handed: Handed::File {
            path: file,
            name: "rxa-0703.csv".into(),
        },
        via: "cli",
        replace: false,
    };
    hand_in(
        &w.registry,
        &w.lake,
        up,
        utc("2026-07-04T09:00:00Z"),
        Timing::Fixed,
    )
    .await
    .unwrap();
    let (kind, m) = said(
        &sign("2026-07-03", 1, "2026-07-04T10:00:00Z")
            .await
            .unwrap_err(),
    );
    assert_eq!(kind, "refused");
    assert!(
        m.contains("uploaded by hand: sending it was the sign-off"),
        "{m}"
    );
}

#[tokio::test]
async fn only_periods_a_provider_owed_are_counted_unsigned() {
    let w = world().await;
    // The register learns that RXB closed on 20 June: the days its source gave after that
    // were not owed, so the return neither expects them nor calls them unsigned.
    let csv = w.dir.path().join("rxb-closed.csv");
    std::fs::write(
        &csv,
        "code,name,kind,region,icb,local_authority,opened_on,closed_on,successor\n\
         RXB,Bramley Health,acute_trust,London,QRV,,,2026-06-20,\n",
    )
    .unwrap();
    w.registry
        .import_providers(
            &tally::providers::read_csv(&csv).unwrap(),
            utc("2026-07-01T09:00:00Z"),
        )
        .await
        .unwrap();
    let a = w.build("uec-daily-sitrep", "2026-06-25").await;
    let c = &a.manifest.completeness.inputs[0];
    assert_eq!(c.expected, 1, "{c:?}");
    let unsigned: Vec<&str> = c.unsigned.iter().map(|u| u.code.as_str()).collect();
    assert_eq!(unsigned, ["RXA"]);
}
