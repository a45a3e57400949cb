//! The providers' side of the demo: a real source of each connector kind for every provider,
//! filled as the demo's clock reaches each extract's arrival. Files land in a drop folder;
//! an HTTP service on loopback (with a bearer token, and down when a provider's system is
//! down) serves others; trusts with a database get a SQLite file the `sql` connector
//! queries. The sources file that points Tally at them is written here too, so the pulls
//! go through exactly the path they take in production.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::Context;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::SqlitePool;

use super::estate::{self, CENSUS_COLUMNS, CensusRow, EXTRA_COLUMN, Feed, HOME_COLUMNS, Trust};
use super::plans;
use super::world::World;

pub const CENSUS: &str = "ward-bed-census";
pub const HOMES: &str = "care-home-capacity";

/// The query a trust's database answers the census with: its own column names, renamed.
const CENSUS_QUERY: &str = "SELECT census_day AS census_date, site AS site_code, ward AS ward_code, sector, stay, age_group, bed_class, care_type, available AS available_beds, occupied AS occupied_beds FROM ward_beds WHERE census_day >= $1 AND census_day < $2 ORDER BY site, ward";

/// Names that a careless extract puts in its unlisted column.
const MANAGERS: [&str; 6] = [
    "Sister A. Okafor",
    "Charge Nurse B. Walsh",
    "Sister C. Patel",
    "Mr D. Nowak",
    "Sister E. Hughes",
    "Ms F. Begum",
];

/// What one extract looks like when it reaches its source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Form {
    /// Semicolons where commas should be: Tally rejects it whole.
    Unreadable,
    /// As the provider's system sent it, mistakes and all.
    AsSent,
    /// Handed over by hand through the upload path: the corrected figures, or (after a
    /// pull that could not be made) the figures as they stand.
    ByHand { corrected: bool },
}

/// The sources: where each kind keeps its extracts, and the HTTP service's shared clock.
pub struct Feeds {
    /// `<out>/sources`: drop folder, HTTP files, databases, uploads, secrets.
    pub root: PathBuf,
    /// The demo's clock, which the HTTP service reads to know whether a system is down.
    pub clock: Arc<AtomicI64>,
    databases: HashMap<String, SqlitePool>,
    seed: u64,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".incoming-{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn census_csv(t: &Trust, rows: &[CensusRow], form: Form, extra: bool) -> String {
    let sep = if form == Form::Unreadable { ";" } else { "," };
    let mut header: Vec<&str> = CENSUS_COLUMNS.to_vec();
    if extra {
        header.push(EXTRA_COLUMN);
    }
    let mut out = header.join(sep);
    out.push('\n');
    for r in rows {
        let w = &t.wards[r.ward];
        let mut cells = vec![
            r.day.to_string(),
            w.site.clone(),
            w.code.clone(),
            w.sector.into(),
            w.stay.into(),
            w.age_group.into(),
            w.bed_class.into(),
            w.care_type.into(),
            r.available.to_string(),
            r.occupied.to_string(),
        ];
        if extra {
            cells.push(MANAGERS[r.ward % MANAGERS.len()].into());
        }
        out.push_str(&cells.join(sep));
        out.push('\n');
    }
    out
}

fn census_json(t: &Trust, rows: &[CensusRow], extra: bool) -> String {
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let w = &t.wards[r.ward];
            let mut v = serde_json::json!({
                "census_date": r.day.to_string(),
                "site_code": w.site,
                "ward_code": w.code,
                "sector": w.sector,
                "stay": w.stay,
                "age_group": w.age_group,
                "bed_class": w.bed_class,
                "care_type": w.care_type,
                "available_beds": r.available,
                "occupied_beds": r.occupied,
            });
            if extra {
                v[EXTRA_COLUMN] = MANAGERS[r.ward % MANAGERS.len()].into();
            }
            v
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

fn home_csv(last_day: NaiveDate, s: [u32; 4]) -> String {
    format!(
        "{}\n{last_day},{},{},{},{}\n",
        HOME_COLUMNS.join(","),
        s[0],
        s[1],
        s[2],
        s[3]
    )
}

impl Feeds {
    /// Creates each source: folders, the databases with their table, the HTTP token; and
    /// writes the sources file for a service on `port`.
    pub async fn create(world: &World, out: &Path, port: u16) -> anyhow::Result<Feeds> {
        let root = out.join("sources");
        for dir in ["drop", "http", "db", "uploads", "secrets"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        std::fs::write(root.join("secrets/http-token"), http_token(world.seed))?;
        let mut databases = HashMap::new();
        let mut toml = String::from(
            "# Where Tally reaches each provider's data: written by `tally demo` for its synthetic\n\
             # providers. Paths are relative to this file; secrets are in files under sources/secrets.\n\n",
        );
        for (collection, template) in [
            (CENSUS, "{provider}_{period}.csv"),
            (HOMES, "{provider}_{period}.csv"),
        ] {
            toml.push_str(&format!(
                "[[source]]\ncollection = \"{collection}\"\nprovider = \"*\"\nkind = \"file\"\nfolder = \"sources/drop/{collection}\"\nname = \"{template}\"\n\n"
            ));
        }
        let http = |collection: &str, code: &str, json: bool| {
            let ext = if json { "json" } else { "csv" };
            format!(
                "[[source]]\ncollection = \"{collection}\"\nprovider = \"{code}\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}/{collection}/{{provider}}/{{period}}.{ext}\"\nformat = \"{ext}\"\nbearer_file = \"sources/secrets/http-token\"\ntimeout_seconds = 30\n\n"
            )
        };
        for t in &world.trusts {
            match t.feed {
                Feed::Drop | Feed::ByHand => {}
                Feed::Http { json } => toml.push_str(&http(CENSUS, &t.code, json)),
                Feed::Sqlite => {
                    let db = format!("sources/db/{}.sqlite", t.code);
                    let options = sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(out.join(&db))
                        .create_if_missing(true);
                    let pool = sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(options)
                        .await
                        .with_context(|| format!("cannot create {db}"))?;
                    sqlx::query(
                        "CREATE TABLE IF NOT EXISTS ward_beds (census_day TEXT NOT NULL, site TEXT NOT NULL, \
                         ward TEXT NOT NULL, sector TEXT, stay TEXT, age_group TEXT, bed_class TEXT, \
                         care_type TEXT, available INTEGER, occupied INTEGER)",
                    )
                    .execute(&pool)
                    .await?;
                    databases.insert(t.code.clone(), pool);
                    std::fs::write(
                        root.join(format!("secrets/{}.url", t.code)),
                        format!("sqlite://{db}\n"),
                    )?;
                    toml.push_str(&format!(
                        "[[source]]\ncollection = \"{CENSUS}\"\nprovider = \"{}\"\nkind = \"sql\"\nurl_file = \"sources/secrets/{}.url\"\nquery = \"{CENSUS_QUERY}\"\ntimeout_seconds = 60\n\n",
                        t.code, t.code
                    ));
                }
            }
        }
        for h in &world.homes {
            match h.feed {
                Feed::Http { json } => toml.push_str(&http(HOMES, &h.code, json)),
                Feed::ByHand => toml.push_str(&format!(
                    "[[source]]\ncollection = \"{HOMES}\"\nprovider = \"{}\"\nkind = \"by_hand\"\n\n",
                    h.code
                )),
                Feed::Drop | Feed::Sqlite => {}
            }
        }
        std::fs::write(out.join("sources.toml"), toml)?;
        Ok(Feeds {
            root,
            clock: Arc::new(AtomicI64::new(0)),
            databases,
            seed: world.seed,
        })
    }

    /// Puts one census extract where the trust's source keeps it; an upload by hand is
    /// written under `uploads/` and its path returned for the upload path to take.
    pub async fn census(
        &self,
        t: &Trust,
        day: NaiveDate,
        form: Form,
    ) -> anyhow::Result<Option<PathBuf>> {
        let plan = plans::census_plan(self.seed, t, day);
        let corrected = matches!(form, Form::ByHand { corrected: true });
        let rows = plans::census_sent(self.seed, t, day, &plan, corrected);
        let extra = t.habits.extra_column && !matches!(form, Form::ByHand { .. });
        let name = format!("{}_{day}", t.code);
        if let Form::ByHand { .. } = form {
            let path = self.upload_path(CENSUS, &name);
            write_atomic(&path, census_csv(t, &rows, form, false).as_bytes())?;
            return Ok(Some(path));
        }
        match t.feed {
            // No trust is dealt a feed by hand; were one, its census would go to the drop.
            Feed::Drop | Feed::ByHand => write_atomic(
                &self.root.join(format!("drop/{CENSUS}/{name}.csv")),
                census_csv(t, &rows, form, extra).as_bytes(),
            )?,
            Feed::Http { json } => {
                let (ext, body) = match (json, form) {
                    (true, Form::AsSent) => ("json", census_json(t, &rows, extra)),
                    // An unreadable JSON extract: cut short.
                    (true, _) => ("json", census_json(t, &rows, extra)[..40].to_owned()),
                    (false, _) => ("csv", census_csv(t, &rows, form, extra)),
                };
                write_atomic(
                    &self
                        .root
                        .join(format!("http/{CENSUS}/{}/{day}.{ext}", t.code)),
                    body.as_bytes(),
                )?;
            }
            Feed::Sqlite => {
                let pool = &self.databases[&t.code];
                let mut tx = pool.begin().await?;
                for r in &rows {
                    let w = &t.wards[r.ward];
                    sqlx::query(
                        "INSERT INTO ward_beds VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(r.day.to_string())
                    .bind(&w.site)
                    .bind(&w.code)
                    .bind(w.sector)
                    .bind(w.stay)
                    .bind(w.age_group)
                    .bind(w.bed_class)
                    .bind(w.care_type)
                    .bind(i64::from(r.available))
                    .bind(i64::from(r.occupied))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(None)
    }

    /// Puts one care home's monthly snapshot where its source keeps it (or under `uploads/`).
    pub fn home(
        &self,
        h: &estate::Home,
        month: &str,
        last_day: NaiveDate,
        form: Form,
    ) -> anyhow::Result<Option<PathBuf>> {
        let plan = plans::home_plan(self.seed, h, last_day).expect("planned homes only");
        let corrected = matches!(form, Form::ByHand { corrected: true });
        let body = home_csv(
            last_day,
            plans::home_sent(self.seed, h, last_day, &plan, corrected),
        );
        let name = format!("{}_{month}", h.code);
        let path = match (form, h.feed) {
            (Form::ByHand { .. }, _) | (_, Feed::ByHand) => {
                let path = self.upload_path(HOMES, &name);
                write_atomic(&path, body.as_bytes())?;
                return Ok(Some(path));
            }
            (_, Feed::Http { .. }) => self
                .root
                .join(format!("http/{HOMES}/{}/{month}.csv", h.code)),
            _ => self.root.join(format!("drop/{HOMES}/{name}.csv")),
        };
        write_atomic(&path, body.as_bytes())?;
        Ok(None)
    }

    /// Uploads are kept, numbered, as the provider handed them over.
    fn upload_path(&self, collection: &str, name: &str) -> PathBuf {
        let dir = self.root.join("uploads").join(collection);
        let n = (1..)
            .find(|n| !dir.join(format!("{name}_upload{n}.csv")).exists())
            .unwrap_or(1);
        dir.join(format!("{name}_upload{n}.csv"))
    }

    pub fn set_clock(&self, now: DateTime<Utc>) {
        self.clock.store(now.timestamp(), Ordering::SeqCst);
    }
}

/// The HTTP sources' bearer token: fixed by the seed, as everything else in the demo.
fn http_token(seed: u64) -> String {
    let mut r = estate::Rng::for_(seed, "http-token", 0, 99);
    format!("demo-{:016x}{:016x}", r.next(), r.next())
}

#[derive(Clone)]
struct Service {
    root: PathBuf,
    token: String,
    seed: u64,
    clock: Arc<AtomicI64>,
    timezone: chrono_tz::Tz,
    /// Providers whose systems go down now and then.
    flaky: Arc<HashSet<String>>,
}

/// Serves the HTTP sources on a loopback port until the demo ends: a file once it has
/// arrived, 404 before, 503 while the provider's system is down, 401 without the token.
pub async fn serve_http(
    world: &World,
    feeds: &Feeds,
    timezone: chrono_tz::Tz,
    listener: tokio::net::TcpListener,
) -> tokio::task::JoinHandle<()> {
    let flaky = world
        .trusts
        .iter()
        .filter(|t| t.habits.flaky)
        .map(|t| t.code.clone())
        .collect();
    let service = Service {
        root: feeds.root.join("http"),
        token: http_token(world.seed),
        seed: world.seed,
        clock: feeds.clock.clone(),
        timezone,
        flaky: Arc::new(flaky),
    };
    let app = axum::Router::new()
        .route(
            "/{collection}/{provider}/{file}",
            axum::routing::get(extract),
        )
        .with_state(service);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

async fn extract(
    State(s): State<Service>,
    UrlPath((collection, provider, file)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented != Some(s.token.as_str()) {
        return (StatusCode::UNAUTHORIZED, "a bearer token is needed\n").into_response();
    }
    let safe = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if !(safe(&collection) && safe(&provider) && safe(&file)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let now = DateTime::from_timestamp(s.clock.load(Ordering::SeqCst), 0).unwrap_or_default();
    let today = now.with_timezone(&s.timezone).date_naive();
    if s.flaky.contains(&provider) && plans::outage_days_left(s.seed, &provider, today) > 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the bed management system is down\n",
        )
            .into_response();
    }
    match tokio::fs::read(s.root.join(&collection).join(&provider).join(&file)).await {
        Ok(body) => {
            let kind = if file.ends_with(".json") {
                "application/json"
            } else {
                "text/csv"
            };
            ([(header::CONTENT_TYPE, kind)], body).into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "no extract for that period yet\n").into_response(),
    }
}
