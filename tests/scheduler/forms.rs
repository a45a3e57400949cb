//! Whom Tally does not chase. A manual form (capture `manual`) is filled in by staff and
//! may go by its own route, so Tally cannot tell that one is late: it is never listed
//! overdue and never chased by e-mail, while a collection Tally collects is. A provider that
//! has closed is chased for nothing, as its page shows nothing owed.

use crate::common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{TestDb, list_owed_at_once, load};
use tally::config::Mail;
use tally::connectors::Sources;
use tally::notify::{Mailer, Notifier};
use tally::schedule::standing::standing;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn a_manual_form_is_never_counted_overdue_or_chased() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let registry = Arc::new(db.registry().await);
    let listed = utc("2026-10-01T06:00:00Z");
    for slug in ["uec-sitrep-manual", "ward-bed-census"] {
        registry
            .propose(&load(slug), "NHS England", listed)
            .await
            .unwrap();
        list_owed_at_once(&registry, slug, listed).await;
    }
    let csv = dir.path().join("providers.csv");
    std::fs::write(
        &csv,
        "code,name,kind,region,closed_on,successor,contacts\n\
         RXA,Ashford,acute_trust,London,,,returns@ashford.example.nhs.uk\n\
         RXC,Corby,acute_trust,London,2026-10-05,RXA,returns@corby.example.nhs.uk\n",
    )
    .unwrap();
    common::import_with_contacts(&registry, &csv).await;
    // A week on, nothing has come: the census is overdue, the form is not.
    let now = utc("2026-10-08T08:30:00Z");
    let trust = registry
        .providers()
        .await
        .unwrap()
        .iter()
        .find(|p| p.code.as_str() == "RXA")
        .unwrap()
        .clone();
    let licensed = registry.licensed(now).await.unwrap();
    let licensed: Vec<_> = licensed.iter().collect();
    let stand = standing(&licensed, &trust, &[], |_| false, now);
    let overdue: Vec<&str> = stand
        .overdue
        .iter()
        .map(|o| o.collection.as_str())
        .collect();
    assert!(overdue.contains(&"ward-bed-census"), "{overdue:?}");
    assert!(!overdue.contains(&"uec-sitrep-manual"), "{overdue:?}");
    // It is still shown as due, said to be a form Tally does not chase.
    let form = stand
        .week
        .iter()
        .find(|o| o.collection == "uec-sitrep-manual")
        .expect("the form's next day is due this week");
    assert!(form.by_form);

    let mail = Mail {
        smtp_url: None,
        dir: Some(dir.path().join("mail")),
        from: None,
    };
    let notifier = Notifier {
        registry: registry.clone(),
        sources: Arc::new(Sources::default()),
        mailer: Arc::new(Mailer::of(&mail).unwrap()),
    };
    let sent = notifier.step(utc("2026-10-08T08:00:00Z")).await.unwrap();
    let about: Vec<&str> = sent.iter().map(|s| s.event_key.as_str()).collect();
    assert!(
        about
            .iter()
            .any(|k| k.starts_with("overdue:ward-bed-census:RXA:")),
        "{about:?}"
    );
    assert!(
        about.iter().all(|k| !k.contains("uec-sitrep-manual")),
        "the form is never chased: {about:?}"
    );
    // Corby owed the census days before it closed on 5 October, but it has closed.
    assert!(
        sent.iter().all(|s| s.provider != "RXC"),
        "a closed provider is not chased: {about:?}"
    );
}
