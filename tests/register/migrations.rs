//! Registers made by an earlier Tally: opened by this one, they are migrated without
//! losing what they meant.

use crate::common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::TestDb;
use tally::domain::{Period, RunKey};
use tally::store::runs::{Arrival, RunFilter};

contract!(
    runs_from_before_the_arrival_column_keep_their_uploads,
    tokens_and_sessions_from_before_the_ics_role_are_kept,
    runs_landed_before_the_settled_marks_are_settled,
);

/// Opens `db` as the migrations before `first_not` left it.
async fn migrated_before(db: &TestDb, first_not: &str) {
    let backend = match db {
        TestDb::Sqlite { .. } => "sqlite",
        TestDb::Postgres { .. } => "postgres",
    };
    let old = tempfile::tempdir().unwrap();
    let all = common::repo().join("src/store/migrations").join(backend);
    for f in std::fs::read_dir(&all).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.as_str() < first_not {
            std::fs::copy(f.path(), old.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.unwrap();
    match db {
        TestDb::Sqlite { url, .. } => {
            let options = url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap();
            let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                .await
                .unwrap();
            migrator.run(&pool).await.unwrap();
        }
        TestDb::Postgres { url, .. } => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            migrator.run(&pool).await.unwrap();
        }
    }
}

/// A register from before the `ics` role: SQLite makes its tokens table anew to widen the
/// role's check, and every token and the session signed in with one survive it.
async fn tokens_and_sessions_from_before_the_ics_role_are_kept(db: &TestDb) {
    migrated_before(db, "0016").await;
    db.execute(
        "INSERT INTO api_tokens (id, name, role, providers, secret_sha256, created_by, created_at)
         VALUES ('abc123abc123', 'Ashford ward clerk', 'provider', 'RXA', 'f00d', 'admin',
                 '2026-11-26T09:00:00Z')",
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO web_sessions (id_sha256, token_id, created_at, expires_at)
         VALUES ('beef', 'abc123abc123', '2026-11-26T09:00:00Z', '2099-01-01T00:00:00Z')",
    )
    .await
    .unwrap();
    let s = tally::store::connect(db.url()).await.unwrap();
    let token = s.token("abc123abc123").await.unwrap().expect("kept");
    assert_eq!(
        (token.role.as_str(), token.providers.as_str()),
        ("provider", "RXA")
    );
    let (row, _) = tally::web::auth::issue(
        tally::store::access::Role::Ics,
        &["QMJ".into()],
        "North Central London ICS",
        "admin",
        None,
        t0(),
    )
    .unwrap();
    s.add_token(&row).await.unwrap();
    assert_eq!(s.tokens().await.unwrap().len(), 2);
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

/// A register from before runs recorded how they arrived, when an upload was told by the
/// `upload-` prefix of its instance's name: once opened, its uploads read as uploaded, its
/// pulls as pulled, and the counts of landings by hand agree.
async fn runs_from_before_the_arrival_column_keep_their_uploads(db: &TestDb) {
    // The register as migration 0010 left it.
    migrated_before(db, "0011").await;
    for (instance, day) in [
        ("serve-host-1", "2026-11-23"),
        ("upload-web-4f2a", "2026-11-24"),
        ("upload-cli-9c1d", "2026-11-25"),
    ] {
        db.execute(&format!(
            "INSERT INTO runs (collection, provider, period, attempt, status, instance,
                               started_at, finished_at)
             VALUES ('ward-bed-census', 'RXA', '{day}', 1, 'landed', '{instance}',
                     '2026-11-26T09:00:00Z', '2026-11-26T09:01:00Z')"
        ))
        .await
        .unwrap();
    }

    let s = tally::store::connect(db.url()).await.unwrap();
    let runs = s
        .runs(&RunFilter {
            limit: 10,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    let mut arrived: Vec<(String, Arrival)> = runs
        .iter()
        .map(|r| (r.instance.clone().unwrap_or_default(), r.arrived))
        .collect();
    arrived.sort();
    assert_eq!(
        arrived,
        [
            ("serve-host-1".to_owned(), Arrival::Pulled),
            ("upload-cli-9c1d".to_owned(), Arrival::Uploaded),
            ("upload-web-4f2a".to_owned(), Arrival::Uploaded),
        ]
    );
    let mut counts = s.landed_counts(t0()).await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("ward-bed-census".to_owned(), false, 1),
            ("ward-bed-census".to_owned(), true, 2)
        ]
    );
    // A run claimed now says how it arrived, whatever its instance is called.
    let k = RunKey {
        collection: "ward-bed-census".into(),
        provider: "RXA".into(),
        period: Period::parse("2026-11-22").unwrap(),
    };
    let run = s
        .claim_run(
            &k,
            "upload-but-pulled",
            t0(),
            t0() + Duration::seconds(90),
            false,
            Arrival::Pulled,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.arrived, Arrival::Pulled);
}

/// A register from before each landed run took a mark (migration 0021): its landed runs are
/// read as settled, the others are not, and a run landed afterwards is read from the mark
/// a reading gave before it.
async fn runs_landed_before_the_settled_marks_are_settled(db: &TestDb) {
    migrated_before(db, "0021").await;
    for (day, status) in [
        ("2026-11-22", "landed"),
        ("2026-11-23", "late"),
        ("2026-11-24", "failed"),
        ("2026-11-25", "amended"),
    ] {
        db.execute(&format!(
            "INSERT INTO runs (collection, provider, period, attempt, status, instance,
                               started_at, finished_at)
             VALUES ('ward-bed-census', 'RXA', '{day}', 1, '{status}', 'serve-host-1',
                     '2026-11-26T09:00:00Z', '2026-11-26T09:01:00Z')"
        ))
        .await
        .unwrap();
    }

    let s = tally::store::connect(db.url()).await.unwrap();
    let window = t0() - Duration::days(30);
    let days = |r: &tally::store::settled::SettledReading| -> Vec<String> {
        let mut d: Vec<String> = r.landed.iter().map(|((_, _, p), _)| p.clone()).collect();
        d.sort();
        d
    };
    let first = s.settled(t0(), window, None).await.unwrap();
    assert_eq!(days(&first), ["2026-11-22", "2026-11-23", "2026-11-25"]);
    let at = t0() + Duration::days(2);
    crate::run_ledger::end_run(
        &s,
        &crate::run_ledger::key("RXA", "2026-11-24"),
        "serve-host-2",
        at,
        at,
        tally::domain::RunStatus::Late,
        Default::default(),
    )
    .await;
    let next = s.settled(at, window, Some(first.mark)).await.unwrap();
    assert_eq!(days(&next), ["2026-11-24"]);
}
