//! The register, collections, and DAP's checks and decisions.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::AuditOutcome;
use crate::domain::CollectionStatus;
use crate::domain::definition::Slug;
use crate::domain::finding::Override;
use crate::registry::governance::{CheckReport, Proposal, StatusChange};
use crate::registry::load::LoadedDef;
use crate::registry::views::{CollectionView, RegisterEntry};
use crate::web::app::App;
use crate::web::auth::{Action, Bearer};
use crate::web::error::{ApiError, ErrorBody};

/// The public register: every collection with its licence, status, burden and the reasons
/// for its status, overrides included. The one API route that needs no token.
#[utoipa::path(
    get, path = "/register", tag = "register", security(()),
    responses((status = 200, body = Vec<RegisterEntry>))
)]
pub async fn register(State(app): State<Arc<App>>) -> Result<Json<Vec<RegisterEntry>>, ApiError> {
    Ok(Json(app.registry.register(app.now()).await?))
}

/// Every collection, proposals included.
#[utoipa::path(
    get, path = "/collections", tag = "register",
    responses((status = 200, body = Vec<RegisterEntry>), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
) -> Result<Json<Vec<RegisterEntry>>, ApiError> {
    who.require(Action::Read)?;
    Ok(Json(app.registry.register(app.now()).await?))
}

/// One collection: its definition in every version, and every decision with its findings.
#[utoipa::path(
    get, path = "/collections/{slug}", tag = "register",
    params(("slug" = String, Path, description = "The collection's slug, e.g. ward-bed-census")),
    responses(
        (status = 200, body = CollectionView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn show(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(slug): Path<String>,
) -> Result<Json<CollectionView>, ApiError> {
    who.require(Action::Read)?;
    let slug = parse_slug(&slug)?;
    Ok(Json(app.registry.show(slug.as_str(), app.now()).await?))
}

/// A collection definition, as the TOML text of `collections/<slug>.toml`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The whole definition file.
    pub toml: String,
}

/// Runs the creep checks on a definition against the register as it stands. Records nothing.
#[utoipa::path(
    post, path = "/collections/check", tag = "governance", request_body = Definition,
    responses(
        (status = 200, body = CheckReport, description = "The findings; blocking ones say so"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The definition does not load"),
    )
)]
pub async fn check(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    body: Result<Json<Definition>, JsonRejection>,
) -> Result<Json<CheckReport>, ApiError> {
    super::allowed(&app, &who, Action::Propose, "check", "definition").await?;
    let Json(body) = body?;
    let loaded = load(&app, &body)?;
    Ok(Json(app.registry.check(&loaded.def, app.now()).await?))
}

/// Proposes a collection, or a new version of one, with its findings for DAP to decide on.
/// A blocked proposal is recorded too: DAP sees it with what blocks it.
#[utoipa::path(
    post, path = "/collections", tag = "governance", request_body = Definition,
    responses(
        (status = 201, body = Proposal),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The same definition is already in force or pending"),
        (status = 422, body = ErrorBody, description = "The definition does not load"),
    )
)]
pub async fn propose(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    body: Result<Json<Definition>, JsonRejection>,
) -> Result<(StatusCode, Json<Proposal>), ApiError> {
    super::allowed(&app, &who, Action::Propose, "propose", "definition").await?;
    let Json(body) = body?;
    let loaded = load(&app, &body)?;
    let slug = loaded.def.slug.to_string();
    let proposal = app.registry.propose(&loaded, &who.name, app.now()).await;
    let outcome = if proposal.is_ok() {
        AuditOutcome::Done
    } else {
        AuditOutcome::Refused
    };
    super::record(&app, who.audit("propose", &slug, outcome, "")).await?;
    Ok((StatusCode::CREATED, Json(proposal?)))
}

/// What DAP decides.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// List the pending version (each blocking finding needs an override).
    Approve,
    /// Reject the pending version.
    Reject,
    Suspend,
    Reinstate,
    Retire,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Approve => "approve",
            DecisionKind::Reject => "reject",
            DecisionKind::Suspend => "suspend",
            DecisionKind::Reinstate => "reinstate",
            DecisionKind::Retire => "retire",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub action: DecisionKind,
    /// Why, in plain words: it is published on the register.
    pub reason: String,
    /// For `approve`: a written reason for each blocking finding DAP overrides.
    #[serde(default)]
    pub overrides: Vec<Override>,
    /// For `approve`: the first day it is owed. By default the listing day plus the
    /// definition's notice; a day sooner needs an override of the `notice` rule.
    #[serde(default)]
    pub effective_from: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Decided {
    pub slug: String,
    pub action: DecisionKind,
    /// The collection's status after the decision.
    pub status: CollectionStatus,
    pub licence_number: Option<String>,
    /// The first day a listed collection is owed.
    pub effective_from: Option<NaiveDate>,
}

/// Decides on a collection. The checks run again at the moment of the decision.
#[utoipa::path(
    post, path = "/collections/{slug}/decisions", tag = "governance", request_body = Decision,
    params(("slug" = String, Path, description = "The collection's slug")),
    responses(
        (status = 200, body = Decided),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Blocked by a creep check without an override, or not possible in the collection's status"),
        (status = 422, body = ErrorBody, description = "A reason is missing or not plain words"),
    )
)]
pub async fn decide(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(slug): Path<String>,
    d: Result<Json<Decision>, JsonRejection>,
) -> Result<Json<Decided>, ApiError> {
    // Who may decide is checked first; a refusal is audited as a decision on the slug.
    let action = d.as_ref().map_or("decide", |Json(d)| d.action.as_str());
    super::allowed(&app, &who, Action::Decide, action, &slug).await?;
    let Json(d) = d?;
    let slug = parse_slug(&slug)?;
    Ok(Json(apply(&app, &who, slug.as_str(), &d).await?))
}

/// Applies a decision and records it in the audit log, whether it was made or refused.
/// The pages' decision form comes here too.
pub(crate) async fn apply(
    app: &App,
    who: &crate::web::auth::Principal,
    slug: &str,
    d: &Decision,
) -> Result<Decided, ApiError> {
    let now = app.now();
    let r = &app.registry;
    let done: anyhow::Result<()> = match d.action {
        DecisionKind::Approve => r
            .approve_from(
                slug,
                &who.name,
                &d.reason,
                d.overrides.clone(),
                d.effective_from,
                now,
            )
            .await
            .map(|_| ()),
        DecisionKind::Reject => r.reject(slug, &who.name, &d.reason, now).await,
        DecisionKind::Suspend => {
            r.change(slug, StatusChange::Suspend, &who.name, &d.reason, now)
                .await
        }
        DecisionKind::Reinstate => {
            r.change(slug, StatusChange::Reinstate, &who.name, &d.reason, now)
                .await
        }
        DecisionKind::Retire => {
            r.change(slug, StatusChange::Retire, &who.name, &d.reason, now)
                .await
        }
    };
    let (outcome, detail) = match &done {
        Ok(()) => (AuditOutcome::Done, d.reason.clone()),
        Err(e) => (AuditOutcome::Refused, format!("{e}")),
    };
    super::record(app, who.audit(d.action.as_str(), slug, outcome, &detail)).await?;
    done?;
    let view = r.show(slug, app.now()).await?;
    Ok(Decided {
        slug: slug.into(),
        action: d.action,
        status: view.status,
        licence_number: view.collection.licence_number,
        effective_from: view.effective_from,
    })
}

fn parse_slug(s: &str) -> Result<Slug, ApiError> {
    Slug::parse(s).map_err(|e| {
        ApiError::NotFound(format!(
            "there is no collection \"{}\": {e}",
            s.chars().take(60).collect::<String>()
        ))
    })
}

fn load(app: &App, body: &Definition) -> Result<LoadedDef, ApiError> {
    let def = crate::registry::load::parse("definition", &body.toml, app.settings.timezone)
        .map_err(anyhow::Error::from)?;
    Ok(LoadedDef {
        path: PathBuf::from(format!("{}.toml (submitted through the API)", def.slug)),
        def,
        source: body.toml.clone(),
    })
}
