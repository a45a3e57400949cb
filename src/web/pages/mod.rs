//! The pages: server-rendered HTML that works without JavaScript. The register, a
//! collection and the progress report are public; the rest need a signed-in session.

mod admin;
mod audit;
mod budget;
mod collection;
mod confirm;
mod contacts;
mod correction;
mod dap;
mod directory;
mod enquiries;
mod felt;
mod holds;
mod licences;
mod nil;
mod notifications;
mod progress;
mod propose;
mod provider;
mod readiness;
mod recorded;
mod register;
mod report_files;
mod returns;
mod signing;
mod signoff;
mod trial;
mod upload;

pub use correction::sweep_held;

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;

use crate::domain::AuditOutcome;
use crate::store::access::Role;
use crate::web::app::App;
use crate::web::auth::{self, Principal, Visitor};
use crate::web::error::ApiError;
use axum::handler::Handler;

const CSS: &str = include_str!("../../../dashboards/static/tally.css");

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(register::register))
        .route("/collections/{slug}", get(collection::page))
        .route("/collections/{slug}/decisions", post(collection::change))
        .route(
            "/collections/{slug}/template/{format}",
            get(collection::template),
        )
        .route("/providers/{code}/times", post(recorded::record))
        .route("/progress", get(progress::progress))
        .route("/progress/report", get(report_files::report))
        .route("/progress/reports", post(report_files::file))
        .route("/progress/reports/{id}/{format}", get(report_files::filed))
        .route(
            "/sign-in",
            get(sign_in_page).post(sign_in.layer(crate::web::limit::sign_in())),
        )
        .route("/sign-out", post(sign_out))
        .route("/dap", get(dap::page))
        .route("/dap/decisions", post(dap::decide))
        .route("/dap/renewals", post(dap::renew))
        .route("/dap/returns", post(dap::decide_return))
        .route(
            "/dap/proposals/new",
            get(propose::page).post(propose::submit),
        )
        .route("/dap/proposals/return", post(propose::submit_return))
        .route("/dap/budget", get(budget::page).post(budget::set))
        .route("/dap/readiness/{slug}", get(readiness::page))
        .route("/dap/notifications", get(notifications::page))
        .route("/audit", get(audit::page))
        .route("/admin/tokens", get(admin::page).post(admin::create))
        .route("/admin/tokens/bulk", post(admin::bulk))
        .route("/admin/tokens/{id}/revoke", post(admin::revoke))
        .route("/providers", get(directory::page))
        .route("/providers/reporting", get(directory::reporting))
        .route("/providers/{code}", get(provider::page))
        .route("/providers/{code}/upload", post(upload::upload))
        .route("/providers/{code}/nil", post(nil::declare))
        .route("/providers/{code}/corrections", post(correction::answer))
        .route("/providers/{code}/holds/confirm", post(confirm::confirm))
        .route("/providers/{code}/signoffs/standing", post(signing::give))
        .route("/providers/{code}/signoffs/revoke", post(signing::revoke))
        .route("/providers/{code}/signoffs/period", post(signing::sign))
        .route("/providers/{code}/signoffs/all", post(signing::sign_all))
        .route("/providers/{code}/try", post(trial::file))
        .route("/providers/{code}/try-source", post(trial::source))
        .route("/providers/{code}/contacts", post(contacts::set))
        .route("/providers/{code}/questions", post(enquiries::ask))
        .route("/dap/questions", post(enquiries::answer))
        .route("/returns", get(returns::page))
        .route("/returns/{name}/structure", get(returns::structure))
        .route("/returns/{name}/bundle", get(returns::bundle))
        .route("/returns/{name}/{period}/download", get(returns::download))
        .route("/returns/{name}/{period}/manifest", get(returns::manifest))
        .route("/returns/{name}/{period}/metadata", get(returns::metadata))
        .route("/static/tally.css", get(css))
        // Forms are also refused when they come from another site (Sec-Fetch-Site, Origin).
        .layer(tower_http::csrf::CsrfLayer::new())
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

/// One finding of the creep checks, as a page lists it.
pub struct FindingLine {
    rule: String,
    severity: String,
    message: String,
}

/// DAP's override of a rule, with its written reason.
pub struct OverrideLine {
    rule: String,
    reason: String,
}

/// The findings worth showing: every one that is not a pass.
pub fn finding_lines(findings: &[crate::domain::finding::Finding]) -> Vec<FindingLine> {
    findings
        .iter()
        .filter(|f| f.severity != crate::domain::finding::Severity::Pass)
        .map(|f| FindingLine {
            rule: f.rule.to_string(),
            severity: register::severity(f.severity),
            message: f.message.clone(),
        })
        .collect()
}

pub fn override_lines(overrides: &[crate::domain::finding::Override]) -> Vec<OverrideLine> {
    overrides
        .iter()
        .map(|o| OverrideLine {
            rule: o.rule.to_string(),
            reason: o.reason.clone(),
        })
        .collect()
}

/// What the header's navigation shows for the visitor. Boxed, so that a page's error (which
/// carries it) stays small beside the page it is returned instead of.
#[derive(Debug, Clone, Default)]
pub struct Nav(Box<NavItems>);

impl std::ops::Deref for Nav {
    type Target = NavItems;
    fn deref(&self) -> &NavItems {
        &self.0
    }
}

#[derive(Debug, Clone, Default)]
pub struct NavItems {
    pub name: Option<String>,
    pub role: String,
    pub csrf: String,
    pub dap: bool,
    pub returns: bool,
    /// The provider register, for DAP, DHSC and admin.
    pub directory: bool,
    pub audit: bool,
    pub admin: bool,
    pub providers: Vec<String>,
}

impl Nav {
    pub fn of(v: &Visitor) -> Nav {
        let Some(who) = &v.who else {
            return Nav::default();
        };
        Nav(Box::new(NavItems {
            name: Some(who.name.clone()),
            role: who.role.to_string(),
            csrf: v.csrf(),
            dap: who.role == Role::Dap,
            returns: who.may(auth::Action::Returns),
            directory: who.may(auth::Action::ListProviders),
            audit: who.may(auth::Action::Audit),
            admin: who.role == Role::Admin,
            providers: who.providers.clone(),
        }))
    }
}

/// A step that cannot be undone, asked again on a page of its own: what it does, and a
/// form that repeats the first one's fields with `confirmed=yes`.
#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct Confirm {
    pub nav: Nav,
    pub heading: String,
    pub explain: Vec<String>,
    /// Where the form posts.
    pub action: String,
    /// The first form's fields, sent again as they were typed.
    pub fields: Vec<(String, String)>,
    pub button: String,
    /// Where "go back" leads, changing nothing.
    pub back: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Nav,
    heading: String,
    message: String,
    sign_in: bool,
}

/// An error on a page: the API's error, shown as HTML with the same status.
pub struct PageError(pub ApiError, pub Nav);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0.log();
        let status = self.0.status();
        let heading = match status {
            StatusCode::UNAUTHORIZED => "Sign in to see this page",
            StatusCode::FORBIDDEN => "You cannot see this page",
            StatusCode::NOT_FOUND => "Page not found",
            s if s.is_server_error() => "Sorry, there is a problem with the service",
            _ => "There is a problem",
        };
        let page = ErrorPage {
            nav: self.1,
            heading: heading.into(),
            message: self.0.to_string(),
            sign_in: status == StatusCode::UNAUTHORIZED,
        };
        (status, page).into_response()
    }
}

/// A signed-in visitor, or a 401 page.
pub fn signed_in(v: &Visitor) -> Result<&Principal, PageError> {
    v.who.as_ref().ok_or_else(|| {
        PageError(
            ApiError::Unauthorized("this page is for signed-in users".into()),
            Nav::default(),
        )
    })
}

/// A form sent from a page, with the CSRF field it carries.
pub trait WithCsrf {
    fn csrf(&self) -> &str;
}

/// A form a page sends for `name`: who may take `action` first (a refusal is audited
/// against `target`), then the form whole, then its CSRF field. Gives who sent it, and the
/// form.
pub async fn guarded<T: WithCsrf>(
    app: &App,
    v: &Visitor,
    action: auth::Action<'_>,
    name: &str,
    target: &str,
    form: Result<Form<T>, axum::extract::rejection::FormRejection>,
) -> Result<(Principal, T), PageError> {
    let who = signed_in(v)?.clone();
    crate::web::api::allowed(app, &who, action, name, target)
        .await
        .map_err(|e| PageError(e, Nav::of(v)))?;
    let Form(form) = form.map_err(|e| {
        PageError(
            ApiError::Unprocessable(format!("the form is not whole: {}", e.body_text())),
            Nav::of(v),
        )
    })?;
    check_csrf(app, v, form.csrf(), name).await?;
    Ok((who, form))
}

/// A form's CSRF field against the session's: a forged or missing one is refused, and the
/// refusal is in the audit log as `action` by the session's holder.
pub async fn check_csrf(
    app: &App,
    v: &Visitor,
    given: &str,
    action: &str,
) -> Result<(), PageError> {
    if v.session.is_some() && auth::csrf_matches(&v.csrf(), given) {
        return Ok(());
    }
    let refused = ApiError::Forbidden(
        "the form's security token is missing or wrong; reload the page and try again".into(),
    );
    if let Some(who) = &v.who {
        crate::web::api::record(
            app,
            who.audit(
                action,
                "web form",
                AuditOutcome::Refused,
                "missing or wrong CSRF token",
            ),
        )
        .await
        .map_err(|e| PageError(e, Nav::of(v)))?;
    }
    Err(PageError(refused, Nav::of(v)))
}

#[derive(Template, WebTemplate)]
#[template(path = "sign_in.html")]
struct SignIn {
    nav: Nav,
    nonce: String,
    problem: Option<String>,
}

fn sign_in_form(app: &App, problem: Option<String>, status: StatusCode) -> Response {
    let nonce = auth::sign_in_nonce();
    let cookie = auth::set_cookie(auth::SIGN_IN_COOKIE, &nonce, 1800, app.secure_cookies);
    (
        status,
        [(header::SET_COOKIE, cookie)],
        SignIn {
            nav: Nav::default(),
            nonce,
            problem,
        },
    )
        .into_response()
}

async fn sign_in_page(State(app): State<Arc<App>>) -> Response {
    sign_in_form(&app, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct SignInForm {
    token: String,
    #[serde(default)]
    csrf: String,
}

/// Takes a token once and starts a session; the token itself is never kept in the browser.
async fn sign_in(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    let internal = |e: anyhow::Error| PageError(ApiError::Internal(e), Nav::default());
    let expected = auth::cookie(&headers, auth::SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !auth::csrf_matches(expected, &form.csrf) {
        tracing::info!("A sign-in form without its matching cookie was refused.");
        return Ok(sign_in_form(
            &app,
            Some("The sign-in form had expired. Enter your token again.".into()),
            StatusCode::FORBIDDEN,
        ));
    }
    let now = Utc::now();
    match auth::verify(&app, &form.token, now)
        .await
        .map_err(internal)?
    {
        Ok(who) => {
            let session = auth::start_session(&app, &who, now)
                .await
                .map_err(internal)?;
            crate::web::api::record(&app, who.audit("sign_in", "web", AuditOutcome::Done, ""))
                .await
                .map_err(|e| PageError(e, Nav::default()))?;
            let home = match who.role {
                Role::Dap => "/dap".to_owned(),
                Role::Dhsc | Role::Ics | Role::Admin => "/returns".to_owned(),
                Role::Provider => format!(
                    "/providers/{}",
                    who.providers.first().cloned().unwrap_or_default()
                ),
            };
            let cookie = auth::set_cookie(
                auth::SESSION_COOKIE,
                &session,
                auth::SESSION_HOURS * 3600,
                app.secure_cookies,
            );
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&home)).into_response())
        }
        Err(why) => {
            let _ = app
                .store()
                .audit(&crate::store::access::NewAudit::anonymous(
                    "sign_in",
                    "web",
                    &why.to_string(),
                ))
                .await;
            Ok(sign_in_form(
                &app,
                Some(format!("You could not be signed in: {why}.")),
                StatusCode::UNAUTHORIZED,
            ))
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(app): State<Arc<App>>,
    visitor: Visitor,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    check_csrf(&app, &visitor, &form.csrf, "sign_out").await?;
    if let Some(s) = &visitor.session {
        auth::end_session(&app, s)
            .await
            .map_err(|e| PageError(ApiError::Internal(e), Nav::default()))?;
    }
    let cookie = auth::set_cookie(auth::SESSION_COOKIE, "", 0, app.secure_cookies);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
}

/// A day as people in England read it: in the service's timezone, so a decision at 23:30
/// UTC on 30 June is shown on 1 July in summer.
pub fn local_day(tz: chrono_tz::Tz, t: chrono::DateTime<Utc>) -> String {
    t.with_timezone(&tz).format("%-d %B %Y").to_string()
}

/// A moment as people in England read it: `6 December 2026, 14:05 GMT` (or BST).
pub fn local_time(tz: chrono_tz::Tz, t: chrono::DateTime<Utc>) -> String {
    t.with_timezone(&tz)
        .format("%-d %B %Y, %H:%M %Z")
        .to_string()
}

/// Each collection in force's title by its slug, for tables that name collections.
pub async fn titles(app: &App) -> anyhow::Result<std::collections::HashMap<String, String>> {
    Ok(app
        .registry
        .rows()
        .await?
        .in_force()
        .map(|v| (v.slug.clone(), v.definition.title.clone()))
        .collect())
}

/// A page's message as its callout shows it: (the callout's class, the text). `true` marks
/// something done, `false` something refused.
pub fn callout(message: Option<(String, bool)>) -> (&'static str, Option<String>) {
    match message {
        Some((m, true)) => ("callout-done", Some(m)),
        Some((m, false)) => ("callout-error", Some(m)),
        None => ("", None),
    }
}

/// One field of a multipart form: its name, whether it came as a chosen file, its bytes.
pub struct Part {
    pub name: String,
    pub file: bool,
    pub bytes: Vec<u8>,
}

/// A multipart form's fields, each read a chunk at a time and refused once past `most`
/// bytes, naming `what` it holds: never held whole beyond the limit.
pub async fn read_parts(
    mut m: axum::extract::Multipart,
    most: usize,
    what: &str,
) -> Result<Vec<Part>, ApiError> {
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("the form could not be read: {}", e.body_text()))
    };
    let mut parts = Vec::new();
    while let Some(mut field) = m.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file = field.file_name().is_some_and(|f| !f.is_empty());
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > most {
                return Err(ApiError::PayloadTooLarge(format!(
                    "{what} is larger than the limit of {} KiB",
                    most / 1024
                )));
            }
        }
        parts.push(Part { name, file, bytes });
    }
    Ok(parts)
}

/// A date typed in a form: what a date field sends (`2027-03-31`), or what someone types
/// where their browser has no date field (`31/03/2027`). Empty is none.
pub fn form_date(name: &str, text: &str) -> Result<Option<chrono::NaiveDate>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(t, "%d/%m/%Y"))
        .map(Some)
        .map_err(|_| format!("the {name} must be a date like 31/03/2027, not \"{t}\""))
}

/// `1234.5` hours as people read them.
pub fn hours(h: f64) -> String {
    crate::registry::burden::hours(h)
}
