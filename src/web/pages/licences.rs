//! The national returns' licences on DAP's page: each query version awaiting a decision,
//! with its SQL, what it replaces, and what it makes of the last closed period (built, not
//! kept), to list or reject; and each return's licence as the other pages show it.

use axum::Form;
use axum::http::StatusCode;
use datafusion::arrow::array::RecordBatch;
use serde::Deserialize;

use super::{Nav, PageError, check_csrf, local_day, signed_in};
use crate::domain::AuditOutcome;
use crate::returns::licence::{self, Licences};
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

/// A return's query awaiting DAP's decision.
pub struct PendingReturn {
    pub name: String,
    pub title: String,
    pub version: i64,
    pub proposed: String,
    /// The licence and version it would replace, or empty for a new return.
    pub replaces: String,
    pub inputs: String,
    pub sql: String,
    /// What it made of the last closed period, or why it could not be built.
    pub preview: Result<PreviewView, String>,
    /// When that was made, `14:05`.
    pub preview_made: String,
}

/// How long a preview is shown before it is built again.
const PREVIEW_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

pub struct PreviewView {
    pub period: String,
    /// `1 row`, `12 rows`.
    pub rows: String,
    pub complete: &'static str,
    /// The first rows, as text.
    pub head: String,
}

/// The first rows of a result as a text table.
pub fn head(batches: &[RecordBatch], rows: usize) -> String {
    let mut taken = Vec::new();
    let mut left = rows;
    for b in batches {
        if left == 0 {
            break;
        }
        let n = b.num_rows().min(left);
        taken.push(b.slice(0, n));
        left -= n;
    }
    datafusion::arrow::util::pretty::pretty_format_batches(&taken)
        .map(|t| t.to_string())
        .unwrap_or_else(|e| format!("the rows cannot be shown: {e}"))
}

/// Every return's query awaiting a decision, each built over its last closed period. What
/// the queries folder holds is proposed by the scheduled builder's rounds, not here: a page
/// view writes nothing.
pub async fn pending(app: &App) -> anyhow::Result<Vec<PendingReturn>> {
    let Licences { in_force, pending } = licence::licences(&app.registry).await?;
    let tz = app.settings.timezone;
    let mut out = Vec::new();
    // One view builds what is missing or stale while the others wait for it and share it.
    let mut kept = app.previews.lock().await;
    kept.retain(|(name, version), _| {
        pending
            .iter()
            .any(|(n, v)| n == name && v.version == *version)
    });
    for (name, v) in pending {
        let def = licence::def_of(&v);
        let key = (name.clone(), v.version);
        let fresh = kept
            .get(&key)
            .is_some_and(|(at, _, _)| at.elapsed() < PREVIEW_KEPT);
        if !fresh {
            let built = match &def {
                Ok(def) => {
                    crate::returns::build::preview(&app.registry, &app.lake, def, tz, app.now())
                        .await
                        .map(std::sync::Arc::new)
                        .map_err(|e| format!("{e:#}"))
                }
                Err(e) => Err(format!("{e:#}")),
            };
            kept.insert(key.clone(), (std::time::Instant::now(), app.now(), built));
        }
        let (_, made, built) = &kept[&key];
        let preview = built.as_ref().map_err(Clone::clone).map(|p| PreviewView {
            period: p.period.to_string(),
            rows: match p.batches.iter().map(RecordBatch::num_rows).sum::<usize>() {
                1 => "1 row".into(),
                n => format!("{n} rows"),
            },
            complete: if p.completeness.complete {
                "complete"
            } else {
                "incomplete"
            },
            head: head(&p.batches, 8),
        });
        let made = *made;
        out.push(PendingReturn {
            title: def
                .as_ref()
                .map(|d| d.title.clone())
                .unwrap_or_else(|_| name.clone()),
            inputs: def
                .as_ref()
                .map(|d| {
                    d.inputs
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            replaces: in_force
                .get(&name)
                .map(|l| {
                    format!(
                        "{} version {}",
                        l.licence_number.as_deref().unwrap_or_default(),
                        l.version
                    )
                })
                .unwrap_or_default(),
            version: v.version,
            proposed: if v.proposed_by == licence::FROM_FOLDER {
                format!(
                    "Read from the queries folder on {}",
                    local_day(tz, v.proposed_at)
                )
            } else {
                format!(
                    "Proposed by {} on {}",
                    v.proposed_by,
                    local_day(tz, v.proposed_at)
                )
            },
            sql: v.sql_text,
            preview,
            preview_made: made.with_timezone(&tz).format("%H:%M").to_string(),
            name,
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
pub struct QueryDecision {
    #[serde(default)]
    csrf: String,
    name: String,
    version: i64,
    action: String,
    #[serde(default)]
    reason: String,
}

/// DAP lists or rejects a return's query, recorded in the audit log either way: what the
/// page says of it, with its status. `/dap/returns` (in `dap.rs`) shows it above DAP's page.
pub async fn apply(
    app: &App,
    v: &Visitor,
    form: Result<Form<QueryDecision>, axum::extract::rejection::FormRejection>,
) -> Result<(StatusCode, (String, bool)), PageError> {
    let who = signed_in(v)?;
    crate::web::api::allowed(
        app,
        who,
        Action::Decide,
        "license_query",
        "query decision form",
    )
    .await
    .map_err(|e| PageError(e, Nav::of(v)))?;
    let Form(form) = form.map_err(|e| {
        PageError(
            ApiError::Unprocessable(format!("the decision form is not whole: {}", e.body_text())),
            Nav::of(v),
        )
    })?;
    check_csrf(app, v, &form.csrf, "license_query").await?;
    let list = match form.action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(PageError(
                ApiError::BadRequest("the decision must be to list or to reject".into()),
                Nav::of(v),
            ));
        }
    };
    let decided = licence::decide(
        &app.registry,
        &form.name,
        form.version,
        list,
        &who.name,
        &form.reason,
        app.now(),
    )
    .await;
    let action = if list {
        "license_query"
    } else {
        "reject_query"
    };
    let target = format!("{} version {}", form.name, form.version);
    let (outcome, detail) = match &decided {
        Ok(_) => (AuditOutcome::Done, form.reason.clone()),
        Err(e) => (AuditOutcome::Refused, e.to_string()),
    };
    crate::web::api::record(app, who.audit(action, &target, outcome, &detail))
        .await
        .map_err(|e| PageError(e, Nav::of(v)))?;
    Ok(match decided {
        Ok(Some(n)) => (
            StatusCode::OK,
            (
                format!(
                    "Version {} of the return {} is listed as {n}: the scheduled builder builds it from now on.",
                    form.version, form.name
                ),
                true,
            ),
        ),
        Ok(None) => (
            StatusCode::OK,
            (
                format!(
                    "Version {} of the return {} is rejected.",
                    form.version, form.name
                ),
                true,
            ),
        ),
        Err(e) => match ApiError::from(e) {
            ApiError::Internal(e) => return Err(PageError(ApiError::Internal(e), Nav::of(v))),
            e => (
                e.status(),
                (
                    format!("The decision on {target} was not recorded: {e}."),
                    false,
                ),
            ),
        },
    })
}
