//! DHSC's page: each return's periods, completeness and versions, with downloads.

use crate::web::api::{Described, DownloadQuery, VersionQuery};
use axum::extract::rejection::QueryRejection;
use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{Nav, PageError, signed_in};
use crate::returns::export::ExportFormat;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

pub struct Built {
    period: String,
    version: i64,
    built_at: String,
    rows: usize,
    completeness: String,
    /// Every version of the period, newest first, when there is more than one.
    earlier: Vec<Version>,
}

/// One version of a period, with why it was made.
pub struct Version {
    version: i64,
    built_at: String,
    why: String,
    /// "3 cells changed", and the first few of them.
    changed: String,
    cells: Vec<String>,
}

/// The changed cells a version lists on the page; the manifest lists them all.
const SHOWN_CELLS: usize = 12;

/// Every version of one period of a return, newest first.
fn versions(
    app: &App,
    def: &crate::returns::catalogue::ReturnDef,
    icb: Option<&str>,
    period: &str,
    numbers: &[i64],
) -> anyhow::Result<Vec<Version>> {
    let name = def.name.as_str();
    let root = app.settings.returns_dir();
    let period = crate::domain::Period::parse(period).map_err(anyhow::Error::msg)?;
    let mut out = Vec::new();
    for v in numbers.iter().rev() {
        let Some(a) = crate::returns::build::Artifact::version(&root, name, &period, *v)? else {
            continue;
        };
        // A reader of one ICB's rows sees only the changed cells of those rows.
        let revision = match icb {
            Some(icb) => crate::returns::artifact::revision_of_icb(def, &a, icb)?,
            None => a.manifest.revision.clone(),
        };
        let m = a.manifest;
        let (why, changed, cells) = match &revision {
            None => ("the first version".to_string(), String::new(), Vec::new()),
            Some(r) => (
                if r.why.is_empty() {
                    "built again".to_string()
                } else {
                    r.why.join("; ")
                },
                if r.compared {
                    format!(
                        "{} cell{} changed from version {}",
                        r.cells_changed,
                        if r.cells_changed == 1 { "" } else { "s" },
                        r.of
                    )
                } else {
                    String::new()
                },
                r.cells
                    .iter()
                    .take(SHOWN_CELLS)
                    .map(|c| {
                        format!(
                            "{} ({}): {} → {}",
                            c.column,
                            c.row,
                            if c.before.is_empty() {
                                "empty"
                            } else {
                                &c.before
                            },
                            if c.after.is_empty() {
                                "empty"
                            } else {
                                &c.after
                            }
                        )
                    })
                    .chain((r.cells_changed > SHOWN_CELLS).then(|| {
                        format!(
                            "and {} more, listed in the manifest",
                            r.cells_changed - SHOWN_CELLS
                        )
                    }))
                    .collect(),
            ),
        };
        out.push(Version {
            version: m.version,
            built_at: super::local_time(app.settings.timezone, m.built_at),
            why,
            changed,
            cells,
        });
    }
    Ok(out)
}

pub struct ReturnLine {
    name: String,
    title: String,
    period: String,
    /// The collections it reads: (slug, title).
    inputs: Vec<(String, String)>,
    built: Vec<Built>,
}

#[derive(Template, WebTemplate)]
#[template(path = "returns.html")]
pub struct Returns {
    nav: Nav,
    /// For an ICS: the ICB whose rows alone it reads.
    scope: Option<String>,
    returns: Vec<ReturnLine>,
    formats: Vec<&'static str>,
}

pub async fn page(State(app): State<Arc<App>>, v: Visitor) -> Result<Returns, PageError> {
    let who = signed_in(&v)?;
    who.require(Action::Returns)
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    let titles = super::titles(&app)
        .await
        .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
    let mut returns = Vec::new();
    let licensed = app
        .returns()
        .await
        .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
    for def in licensed.returns.values() {
        if crate::web::api::return_scope(who, def).is_err() {
            continue;
        }
        let icb = who.icb();
        // The page words each version's revision itself (`versions`), scoped for an ICS;
        // the view's own would be read for nothing.
        let view = crate::web::api::return_view(&app, def, None)
            .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
        returns.push(ReturnLine {
            name: view.name.clone(),
            title: view.title,
            period: view.period,
            inputs: view
                .inputs
                .iter()
                .map(|s| {
                    (
                        s.clone(),
                        titles.get(s).cloned().unwrap_or_else(|| s.clone()),
                    )
                })
                .collect(),
            built: view
                .built
                .iter()
                .rev()
                .map(|b| {
                    let earlier = if b.versions.len() > 1 {
                        versions(&app, def, icb, &b.period, &b.versions)?
                    } else {
                        Vec::new()
                    };
                    Ok(Built {
                        period: b.period.clone(),
                        version: b.version,
                        built_at: super::local_time(app.settings.timezone, b.built_at),
                        rows: b.rows,
                        completeness: completeness(&b.completeness),
                        earlier,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?,
        });
    }
    Ok(Returns {
        scope: who.icb().map(crate::returns::cells::scope_note),
        nav: Nav::of(&v),
        returns,
        formats: ExportFormat::ALL.iter().map(|f| f.name()).collect(),
    })
}

fn completeness(c: &crate::returns::completeness::Completeness) -> String {
    let provisional = match c.awaiting() {
        (0, _) => String::new(),
        (1, _) => "; 1 figure provisional, awaiting its provider's confirmation".into(),
        (n, p) => format!(
            "; {n} figures provisional, awaiting confirmation by {p} provider{}",
            if p == 1 { "" } else { "s" }
        ),
    };
    let marks = match c.unsigned() {
        (0, _) => provisional,
        (n, p) => format!(
            "{provisional}; {n} pulled period{} not signed off by {p} provider{}",
            if n == 1 { "" } else { "s" },
            if p == 1 { "" } else { "s" }
        ),
    };
    if c.complete {
        return format!("complete{marks}");
    }
    let inputs = c
        .inputs
        .iter()
        .map(|i| {
            let mut also = String::new();
            if !i.partial.is_empty() {
                also.push_str(&format!(", {} partial", i.partial.len()));
            }
            if !i.late.is_empty() {
                also.push_str(&format!(", {} late", i.late.len()));
            }
            if !i.amended.is_empty() {
                also.push_str(&format!(", {} amended", i.amended.len()));
            }
            if i.periods_due < i.periods {
                also.push_str(&format!(
                    ", {} of {} periods owed so far",
                    i.periods_due, i.periods
                ));
            }
            format!(
                "{}: {} of {} received{also}",
                i.collection, i.received, i.expected
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    format!("{inputs}{marks}")
}

pub async fn download(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path((name, period)): Path<(String, String)>,
    q: Result<Query<DownloadQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    // Signed in first, and allowed to download, whatever the address asks.
    let who = signed_in(&v)?;
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => {
            let refused = crate::web::api::bad_return_query(&app, who, &name, &period, e).await;
            return Err(PageError(refused, Nav::of(&v)));
        }
    };
    crate::web::api::return_file(&app, who, &name, &period, &q)
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))
}

/// A period's manifest (`.../manifest`) or the CSVW metadata of its CSV (`.../metadata`),
/// as the API serves them.
async fn described(
    app: &App,
    v: &Visitor,
    name: &str,
    period: &str,
    q: Result<Query<VersionQuery>, QueryRejection>,
    what: Described,
) -> Result<Response, PageError> {
    let who = signed_in(v)?;
    crate::web::api::describe_return(app, who, name, period, q, what)
        .await
        .map_err(|e| PageError(e, Nav::of(v)))
}

pub async fn manifest(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path((name, period)): Path<(String, String)>,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    described(&app, &v, &name, &period, q, Described::Manifest).await
}

pub async fn metadata(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path((name, period)): Path<(String, String)>,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    described(&app, &v, &name, &period, q, Described::Csvw).await
}

/// The SDMX structure of a return, which its SDMX-CSV downloads refer to.
pub async fn structure(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let who = signed_in(&v)?;
    crate::web::api::sdmx_structure(&app, who, &name)
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))
}

#[derive(Deserialize)]
pub struct RangeQuery {
    from: String,
    to: String,
}

/// A zip of the latest version of each period from `from` to `to`.
pub async fn bundle(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(name): Path<String>,
    q: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let who = signed_in(&v)?;
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => {
            let refused = crate::web::api::bad_return_query(&app, who, &name, "", e).await;
            return Err(PageError(refused, Nav::of(&v)));
        }
    };
    let zip = DownloadQuery {
        format: crate::web::api::DownloadFormat::Zip,
        version: None,
        to: Some(q.to),
    };
    crate::web::api::return_file(&app, who, &name, &q.from, &zip)
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))
}
