//! Helpers shared by the integration tests: definitions from `collections/`, fresh
//! registries on SQLite and PostgreSQL, and variants of definitions written to a temp folder;
//! `world`, the small lake the returns and packs tests build from.
#![allow(dead_code)]

pub mod hostile;
pub mod web;
pub mod world;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use tally::registry::Registry;
use tally::registry::load::{self, LoadedDef};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The returns in `queries` proposed and listed by DAP, as the demo does, so that the
/// scheduled builder builds them; the catalogue read.
pub async fn license_returns(registry: &Registry, queries: &Path) -> tally::returns::Catalogue {
    let catalogue = tally::returns::Catalogue::load(queries).unwrap();
    let at = chrono::Utc::now();
    tally::returns::licence::register(registry, &catalogue, at)
        .await
        .unwrap();
    let pending = tally::returns::licence::licences(registry)
        .await
        .unwrap()
        .pending;
    for (name, v) in pending {
        tally::returns::licence::decide(
            registry,
            &name,
            v.version,
            true,
            dap(),
            "licensed for the test",
            at,
        )
        .await
        .unwrap();
    }
    catalogue
}

pub fn collection_path(name: &str) -> PathBuf {
    repo().join("collections").join(format!("{name}.toml"))
}

pub fn load(name: &str) -> LoadedDef {
    load::load_file(&collection_path(name), chrono_tz::Europe::London)
        .unwrap_or_else(|e| panic!("{name} should load: {e}"))
}

/// Writes `text` as `<dir>/<file>` and loads it.
pub fn load_text(dir: &Path, file: &str, text: &str) -> LoadedDef {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    load::load_file(&path, chrono_tz::Europe::London).unwrap_or_else(|e| panic!("{e}"))
}

/// A bundled definition with some text replaced, for variants (a new slug, a new item).
pub fn variant(dir: &Path, name: &str, edits: &[(&str, &str)]) -> LoadedDef {
    let mut text = std::fs::read_to_string(collection_path(name)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{name} has no {from:?} to replace");
        text = text.replacen(from, to, 1);
    }
    load_text(dir, &format!("{name}-variant.toml"), &text)
}

/// A fresh database for one test.
pub enum TestDb {
    Sqlite {
        dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin: String,
        name: String,
        url: String,
    },
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tally.db").display());
        TestDb::Sqlite { dir, url }
    }

    /// A new database on the PostgreSQL server, or `None` (with a printed notice) when no
    /// server answers. With `CI` set, a missing server fails the test instead.
    pub async fn postgres() -> Option<TestDb> {
        static N: AtomicU32 = AtomicU32::new(0);
        let admin = std::env::var("TALLY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => return server_absent("PostgreSQL", &admin, e),
        };
        drop_stale_databases(&mut conn).await;
        let name = format!(
            "tally_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            chrono::Utc::now().timestamp_micros()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        Some(TestDb::Postgres {
            admin,
            name,
            url: url.to_string(),
        })
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    pub async fn registry(&self) -> Registry {
        let store = tally::store::connect(self.url()).await.unwrap();
        Registry::new(store, chrono_tz::Europe::London)
    }

    /// Runs one statement straight on the database, past the store.
    pub async fn execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            TestDb::Sqlite { url, .. } => {
                let mut c = sqlx::SqliteConnection::connect(url).await?;
                sqlx::raw_sql(sql).execute(&mut c).await.map(|_| ())
            }
            TestDb::Postgres { url, .. } => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                sqlx::raw_sql(sql).execute(&mut c).await.map(|_| ())
            }
        }
    }

    pub async fn drop_database(self) {
        if let TestDb::Postgres { admin, name, .. } = self {
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
}

/// Drops test databases more than an hour old, which a test that panicked left behind.
/// Their names end in the microsecond they were made.
async fn drop_stale_databases(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'tally_test_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let hour_ago = chrono::Utc::now().timestamp_micros() - 3_600_000_000;
    for name in names {
        let made: Option<i64> = name.rsplit('_').next().and_then(|t| t.parse().ok());
        if made.is_some_and(|t| t < hour_ago) {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// When the tests' providers joined the register: before any of their worlds begin.
pub fn registered() -> chrono::DateTime<chrono::Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

pub fn dap() -> &'static str {
    "Asha Patel (DAP)"
}

/// Makes a test for each backend of each named async fn taking `&TestDb`: `sqlite::name`
/// on a fresh file, `postgres::name` on a fresh database (skipped with a notice when no
/// server answers, unless `CI` is set).
#[allow(unused_macros)]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::common::TestDb::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::common::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

/// The ward bed census listed, one trust (RXA) registered, and one source for it: enough to
/// pull the period 2026-11-24 through any connector, as often as a test needs.
pub struct CensusWorld {
    pub db: TestDb,
    pub registry: Registry,
    pub sources: tally::connectors::Sources,
    pub lake: tally::landing::lake::Lake,
    pub key: tally::domain::RunKey,
}

impl CensusWorld {
    pub async fn new(dir: &Path, connector: tally::connectors::ConnectorConfig) -> CensusWorld {
        CensusWorld::on(TestDb::sqlite(), dir, connector).await
    }

    /// `new`, on the database given (PostgreSQL, say).
    pub async fn on(
        db: TestDb,
        dir: &Path,
        connector: tally::connectors::ConnectorConfig,
    ) -> CensusWorld {
        let r = db.registry().await;
        let at: chrono::DateTime<chrono::Utc> = "2026-11-01T09:00:00Z".parse().unwrap();
        r.propose(&load("ward-bed-census"), "NHS England", at)
            .await
            .unwrap();
        list_owed_at_once(&r, "ward-bed-census", at).await;
        let csv = dir.join("providers.csv");
        std::fs::write(
            &csv,
            "code,name,kind,region\nRXA,Ashford,acute_trust,London\n",
        )
        .unwrap();
        r.import_providers(
            &tally::providers::read_csv(&csv).unwrap(),
            crate::common::registered(),
        )
        .await
        .unwrap();
        let sources = tally::connectors::Sources::of(
            vec![tally::connectors::Source {
                collection: "ward-bed-census".into(),
                provider: "RXA".into(),
                connector,
            }],
            dir.to_path_buf(),
        );
        let key = tally::domain::RunKey {
            collection: "ward-bed-census".into(),
            provider: "RXA".into(),
            period: tally::domain::Period::parse("2026-11-24").unwrap(),
        };
        let lake = tally::landing::lake::Lake::new(dir.join("lake"));
        CensusWorld {
            db,
            registry: r,
            sources,
            lake,
            key,
        }
    }

    /// One pull of the period, the day after it; `again` pulls a landed period anew.
    pub async fn pull(&self, again: bool) -> tally::schedule::pull::Pulled {
        let now: chrono::DateTime<chrono::Utc> = "2026-11-25T09:00:00Z".parse().unwrap();
        tally::schedule::pull::pull(
            &self.registry,
            &self.sources,
            &self.lake,
            &self.key,
            "test",
            now,
            again,
        )
        .await
        .unwrap()
    }
}

/// One pull of the ward bed census for RXA through `connector`, in a world of its own.
pub async fn pull_census_through(
    dir: &Path,
    connector: tally::connectors::ConnectorConfig,
) -> tally::schedule::pull::Pulled {
    CensusWorld::new(dir, connector).await.pull(false).await
}

/// A server a test needs did not answer: under `CI` that fails the test; otherwise the test
/// is skipped with a notice, written straight to stderr because the harness captures
/// `eprintln!` from passing tests and a skip must be seen.
pub fn server_absent<T>(server: &str, url: &str, e: impl std::fmt::Display) -> Option<T> {
    let url = tally::store::redact(url);
    if std::env::var_os("CI").is_some() {
        panic!("CI requires {server}, but {url} did not answer: {e}");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "notice: {server} test skipped: {url} did not answer ({e}); set CI=1 to require it"
    );
    None
}

/// Stops a child (`tally serve`) with SIGTERM, as an operator would, and waits for it; fails
/// the test if it has not stopped within 30 s.
pub fn terminate(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("tally serve did not stop on SIGTERM within 30 s");
}

/// Reads an HTTP request's head from a test server's connection: its request line and
/// headers, or `None` when the client went away first.
pub async fn request_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&request).into_owned())
}

/// Registers `trusts` as acute trusts (through a providers file in `dir`, as `tally providers
/// import` reads one) and lists `def` as DAP would have at `listed`. Returns the providers.
pub async fn list_for_trusts(
    registry: &Registry,
    dir: &Path,
    trusts: &[String],
    def: &LoadedDef,
    listed: chrono::DateTime<chrono::Utc>,
) -> Vec<tally::domain::provider::Provider> {
    let mut csv = String::from("code,name,kind,region\n");
    for (n, t) in trusts.iter().enumerate() {
        csv.push_str(&format!("{t},Trust {n},acute_trust,London\n"));
    }
    std::fs::write(dir.join("providers.csv"), &csv).unwrap();
    let providers = tally::providers::read_csv(&dir.join("providers.csv")).unwrap();
    registry
        .store()
        .import_providers(&providers, crate::common::registered())
        .await
        .unwrap();
    registry.propose(def, "NHS England", listed).await.unwrap();
    list_owed_at_once(registry, def.def.slug.as_str(), listed).await;
    providers
}

/// Imports the providers CSV at `csv` and the contact addresses in its `contacts` column,
/// as `tally providers import` does.
pub async fn import_with_contacts(registry: &Registry, csv: &Path) {
    registry
        .import_providers(
            &tally::providers::read_csv(csv).unwrap(),
            crate::common::registered(),
        )
        .await
        .unwrap();
    for (code, addresses) in tally::providers::read_contacts(csv).unwrap() {
        registry
            .store()
            .set_contacts(&code, &addresses)
            .await
            .unwrap();
    }
}

/// Lists the pending `slug` at `at`, owed from that very day: DAP overrides the notice,
/// as it may for a collection providers already send. Fixtures that pull or upload right
/// after listing use this; the notice itself is tested in the register's contract.
pub async fn list_owed_at_once(
    registry: &Registry,
    slug: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> tally::registry::governance::Listing {
    let today = at.with_timezone(&chrono_tz::Europe::London).date_naive();
    let notice = tally::domain::finding::Override {
        rule: tally::domain::finding::Rule::Notice,
        reason: "Owed from the day it is listed, for the test.".into(),
    };
    registry
        .approve_from(slug, dap(), "ok", vec![notice], Some(today), at)
        .await
        .unwrap()
}

/// An HTTP source of CSV at `url` with no credentials.
pub fn http_csv(url: String, timeout_seconds: u64) -> tally::connectors::http::HttpConfig {
    tally::connectors::http::HttpConfig {
        url,
        format: tally::connectors::http::BodyFormat::Csv,
        bearer_env: None,
        bearer_file: None,
        api_key_header: None,
        api_key_env: None,
        api_key_file: None,
        timeout_seconds: Some(timeout_seconds),
    }
}

/// The scheduler's runner as the service assembles it (`tally::service`), over `registry`
/// and `sources`, with its lake in `dir/lake` and no returns.
pub fn runner(
    dir: &Path,
    db: &TestDb,
    registry: std::sync::Arc<Registry>,
    sources: tally::connectors::Sources,
    options: tally::service::Options,
) -> tally::schedule::runner::Runner {
    let settings = tally::config::Settings {
        data_dir: dir.to_path_buf(),
        database_url: db.url().to_owned(),
        timezone: chrono_tz::Europe::London,
        sources_file: dir.join("sources.toml"),
        // No queries folder: the scheduler alone, without the returns builder.
        queries_dir: dir.join("no-queries"),
        secure_cookies: false,
        upload_limit: None,
        mail: Default::default(),
        staff_rates: None,
    };
    tally::service::Service::with_sources(
        &settings,
        registry,
        std::sync::Arc::new(sources),
        options,
    )
    .unwrap()
    .runner
}
