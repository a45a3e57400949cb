//! The JSON API under `/api/v1`, one file per resource. Every route is declared with
//! `utoipa::path`, and the OpenAPI document at `/api/v1/openapi.json` is generated from
//! those declarations, so it cannot drift from the routes.

mod accounts;
mod burden;
mod collections;
mod exceptions;
mod golive;
pub(crate) mod holds;
mod provenance;
mod providers;
mod returns;
mod runs;
pub(crate) mod signoffs;
mod trials;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::AuditOutcome;
use crate::store::access::AuditRow;
use crate::web::app::App;
use crate::web::auth::{Action, Bearer};
use crate::web::error::{ApiError, ErrorBody};

pub(crate) use accounts::{TimeTaken, recorded};
pub(crate) use burden::trajectory_of;
pub(crate) use collections::{Decision, DecisionKind, apply as apply_decision};
pub(crate) use provenance::{Described, VersionQuery, describe as describe_return, sdmx_structure};
pub(crate) use providers::{
    Form as UploadFormRead, HandOver, Received, land as land_upload, read_form,
};
pub(crate) use returns::{
    DownloadFormat, DownloadQuery, bad_query as bad_return_query, file as return_file,
    scope_of as return_scope, view as return_view,
};
pub(crate) use trials::{try_file, try_source};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tally",
        description = "England's central health-and-care data collections: the register that blocks collection creep, what providers owe and what was pulled, the national returns and the burden on staff.",
        license(name = "MIT", identifier = "MIT")
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody)),
    tags(
        (name = "register", description = "The public register and collections"),
        (name = "governance", description = "DAP's checks and decisions"),
        (name = "providers", description = "Providers, what they owe, their runs and uploads"),
        (name = "returns", description = "The national returns"),
        (name = "burden", description = "Burden on providers, the budget and the trajectory"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API's routes and its OpenAPI document. Every operation that takes a token may also
/// answer 429, past the limit on refused tokens from one address; the document says so
/// beside each 401, with the `Retry-After` header.
pub fn document() -> (axum::Router<Arc<App>>, utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Type, header::Header, schema::ObjectBuilder};
    let (routes, mut doc) = router().split_for_parts();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            refusals_of_shape(op);
            let Some(RefOr::T(mut limited)) = op.responses.responses.get("401").cloned() else {
                continue;
            };
            limited.description = format!(
                "Too many refused tokens from this address ({} at once, then one every {} s): wait as Retry-After says",
                crate::web::limit::REFUSALS_BURST,
                crate::web::limit::REFUSAL_EVERY_SECONDS
            );
            let mut retry = Header::new(ObjectBuilder::new().schema_type(Type::Integer).build());
            retry.description = Some("Seconds to wait".into());
            limited
                .headers
                .insert("Retry-After".into(), RefOr::T(retry));
            op.responses
                .responses
                .insert("429".into(), RefOr::T(limited));
        }
    }
    (routes, doc)
}

/// The answers any operation gives to a request that does not read, whatever it does: 400
/// for a parameter or body not of the documented type or shape, and for a body, 413 past
/// the size the service takes and (for JSON) 415 when it is not sent as JSON. Each is
/// documented where the operation does not already say it, with the error body.
fn refusals_of_shape(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let body = op.request_body.as_ref();
    let json_body = body.is_some_and(|b| match b {
        RefOr::T(b) => b.content.contains_key("application/json"),
        RefOr::Ref(_) => false,
    });
    let error = || {
        ContentBuilder::new()
            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                "ErrorBody",
            ))))
            .build()
    };
    let mut add = |code: &str, description: &str| {
        op.responses
            .responses
            .entry(code.into())
            .or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content("application/json", error())
                        .build(),
                )
            });
    };
    if has_params || body.is_some() {
        add(
            "400",
            "The request does not read: a parameter or the body is not of the documented type or shape",
        );
    }
    if body.is_some() {
        add("413", "The body is larger than the service takes");
    }
    if json_body {
        add("415", "The body is not sent as application/json");
    }
}

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(collections::register))
        .routes(routes!(collections::list, collections::propose))
        .routes(routes!(collections::show))
        .routes(routes!(collections::check))
        .routes(routes!(collections::decide))
        .routes(routes!(exceptions::list, exceptions::grant))
        .routes(routes!(golive::readiness))
        .routes(routes!(golive::notifications))
        .routes(routes!(golive::questions))
        .routes(routes!(golive::answer))
        .routes(routes!(golive::provider_questions, golive::ask))
        .routes(routes!(providers::list))
        .routes(routes!(providers::obligations))
        .routes(routes!(providers::upload))
        .routes(routes!(providers::nil_return))
        .routes(routes!(holds::list))
        .routes(routes!(holds::confirm))
        .routes(routes!(signoffs::list))
        .routes(routes!(signoffs::give))
        .routes(routes!(signoffs::revoke))
        .routes(routes!(signoffs::sign))
        .routes(routes!(trials::file))
        .routes(routes!(trials::source))
        .routes(routes!(runs::list))
        .routes(routes!(runs::show))
        .routes(routes!(returns::list))
        .routes(routes!(returns::artifacts))
        .routes(routes!(returns::download))
        .routes(routes!(provenance::manifest))
        .routes(routes!(provenance::manifest_short))
        .routes(routes!(provenance::metadata))
        .routes(routes!(provenance::structure))
        .routes(routes!(burden::totals))
        .routes(routes!(burden::achieved))
        .routes(routes!(accounts::causes))
        .routes(routes!(accounts::report))
        .routes(routes!(accounts::record_time))
        .routes(routes!(burden::provider))
        .routes(routes!(burden::trajectory))
        .routes(routes!(burden::set_budget))
        .routes(routes!(audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    /// How many to return, newest first (1 to 1,000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

impl Limit {
    fn get(&self) -> Result<i64, ApiError> {
        match self.limit.unwrap_or(100) {
            n @ 1..=1000 => Ok(n),
            n => Err(ApiError::BadRequest(format!(
                "limit must be from 1 to 1000, not {n}"
            ))),
        }
    }
}

/// The audit log: every governance action, upload, download, sign-in and refusal.
#[utoipa::path(
    get, path = "/audit", tag = "governance", params(Limit),
    responses(
        (status = 200, body = Vec<AuditRow>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
async fn audit(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Query(q): Query<Limit>,
) -> Result<Json<Vec<AuditRow>>, ApiError> {
    who.require(Action::Audit)?;
    Ok(Json(app.store().audit_log(q.get()?).await?))
}

/// `who.require(action)`, with a refusal written to the audit log as `name` of `target`.
pub(crate) async fn allowed(
    app: &App,
    who: &crate::web::auth::Principal,
    action: Action<'_>,
    name: &str,
    target: &str,
) -> Result<(), ApiError> {
    if let Err(e) = who.require(action) {
        let target: String = target.chars().take(200).collect();
        record(
            app,
            who.audit(name, &target, AuditOutcome::Refused, &e.to_string()),
        )
        .await?;
        return Err(e);
    }
    Ok(())
}

/// Records an audit entry. What must be audited is not done, or not handed over, unless the
/// entry is written: a download whose record failed is refused.
pub(crate) async fn record(
    app: &App,
    entry: crate::store::access::NewAudit,
) -> Result<(), ApiError> {
    app.store().audit(&entry).await.map_err(ApiError::Internal)
}

/// Audits what came of `name` on `target` as done (in `said`'s words) or refused (in the
/// refusal's), and hands the outcome on.
pub(crate) async fn audited<T>(
    app: &App,
    who: &crate::web::auth::Principal,
    name: &str,
    target: &str,
    result: anyhow::Result<T>,
    said: impl Fn(&T) -> String,
) -> Result<T, ApiError> {
    let result = result.map_err(ApiError::from);
    let (outcome, detail) = match &result {
        Ok(t) => (crate::domain::AuditOutcome::Done, said(t)),
        Err(e) => (crate::domain::AuditOutcome::Refused, e.to_string()),
    };
    // What was sent is quoted in a refusal: the log keeps its start.
    let detail: String = detail.chars().take(300).collect();
    record(app, who.audit(name, target, outcome, &detail)).await?;
    result
}
