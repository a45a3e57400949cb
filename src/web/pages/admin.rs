//! `/admin/tokens`, for admin: issue a token for a role and its providers (shown once), list
//! them, revoke one (asked twice), and issue provider tokens in bulk from a CSV of provider
//! codes, returned as a CSV file to hand out.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{Confirm, Nav, PageError, check_csrf, local_day, signed_in};
use crate::domain::AuditOutcome;
use crate::store::access::{Role, TokenRow};
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

/// The most codes one bulk file may hold: every care home in England is about 15,000.
pub const MOST_CODES: usize = 20_000;
/// The largest bulk file: 20,000 codes of up to 12 characters, a line each, with room.
const MOST_BULK_BYTES: usize = 1 << 20;

pub struct TokenLine {
    id: String,
    name: String,
    role: String,
    providers: String,
    made: String,
    by: String,
    state: String,
    live: bool,
}

/// A token just issued, shown this once.
pub struct Issued {
    token: String,
    role: String,
    name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens.html")]
pub struct Tokens {
    nav: Nav,
    message: Option<String>,
    message_class: &'static str,
    issued: Option<Issued>,
    tokens: Vec<TokenLine>,
    roles: Vec<&'static str>,
    most_codes: String,
    /// The create form as typed, kept when it is refused.
    form: CreateForm,
}

#[derive(Deserialize, Default, Clone)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    /// Provider codes, separated by commas, spaces or lines.
    #[serde(default)]
    providers: String,
    /// The ICB an ICS token reads the returns of, as the provider register names it.
    #[serde(default)]
    icb: String,
    /// Days until it expires; empty for none.
    #[serde(default)]
    days: String,
}

/// A list of provider codes as people paste them: `RXA, RXB` or one a line.
fn codes(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .map(|c| c.trim().to_uppercase())
        .filter(|c| !c.is_empty())
        .collect()
}

fn expiry(days: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let d = days.trim();
    if d.is_empty() {
        return Ok(None);
    }
    match d.parse::<u32>() {
        Ok(n @ 1..=3660) => Ok(Some(now + Duration::days(i64::from(n)))),
        _ => Err(ApiError::Unprocessable(format!(
            "it must expire in a whole number of days from 1 to 3660, or be left empty, not \"{d}\""
        ))),
    }
}

fn state(t: &TokenRow, tz: chrono_tz::Tz, now: DateTime<Utc>) -> (String, bool) {
    match (t.revoked_at, t.expires_at) {
        (Some(r), _) => (format!("revoked {}", local_day(tz, r)), false),
        (None, Some(e)) if e <= now => (format!("expired {}", local_day(tz, e)), false),
        (None, Some(e)) => (format!("live until {}", local_day(tz, e)), true),
        (None, None) => ("live".into(), true),
    }
}

/// `RXA, RXB and 14,998 more`: a bulk token list stays readable.
fn scope(providers: &str) -> String {
    let all: Vec<&str> = providers.split(',').filter(|c| !c.is_empty()).collect();
    match all.len() {
        0..=3 => all.join(", "),
        n => format!("{} and {} more", all[..3].join(", "), n - 3),
    }
}

async fn render(
    app: &App,
    v: &Visitor,
    message: Option<(String, bool)>,
    issued: Option<Issued>,
    form: CreateForm,
) -> Result<Tokens, PageError> {
    let now = Utc::now();
    let tz = app.settings.timezone;
    let rows = app
        .store()
        .tokens()
        .await
        .map_err(|e| PageError(ApiError::from(e), Nav::of(v)))?;
    let (message_class, message) = super::callout(message);
    Ok(Tokens {
        nav: Nav::of(v),
        message,
        message_class,
        issued,
        tokens: rows
            .iter()
            .rev()
            .map(|t| {
                let (state, live) = state(t, tz, now);
                TokenLine {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    role: t.role.clone(),
                    providers: scope(&t.providers),
                    made: local_day(tz, t.created_at),
                    by: t.created_by.clone(),
                    state,
                    live,
                }
            })
            .collect(),
        roles: [
            Role::Provider,
            Role::Dap,
            Role::Dhsc,
            Role::Ics,
            Role::Admin,
        ]
        .iter()
        .map(|r| r.as_str())
        .collect(),
        most_codes: crate::registry::burden::thousands(MOST_CODES as f64),
        form,
    })
}

fn admin_only(v: &Visitor) -> Result<(), PageError> {
    signed_in(v)?
        .require(Action::Tokens)
        .map_err(|e| PageError(e, Nav::of(v)))
}

pub async fn page(State(app): State<Arc<App>>, v: Visitor) -> Result<Tokens, PageError> {
    admin_only(&v)?;
    render(&app, &v, None, None, CreateForm::default()).await
}

/// Who may, first (a refusal is audited), then the CSRF token.
async fn allowed(app: &App, v: &Visitor, action: &str, csrf: &str) -> Result<(), PageError> {
    crate::web::api::allowed(app, signed_in(v)?, Action::Tokens, action, "tokens")
        .await
        .map_err(|e| PageError(e, Nav::of(v)))?;
    check_csrf(app, v, csrf, action).await
}

fn form_error(e: axum::extract::rejection::FormRejection, v: &Visitor) -> PageError {
    PageError(
        ApiError::Unprocessable(format!("the form is not whole: {}", e.body_text())),
        Nav::of(v),
    )
}

pub async fn create(
    State(app): State<Arc<App>>,
    v: Visitor,
    form: Result<Form<CreateForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(|e| form_error(e, &v))?;
    allowed(&app, &v, "token_create", &form.csrf).await?;
    let who = signed_in(&v)?;
    let now = Utc::now();
    let made = async {
        let role =
            Role::parse(form.role.trim()).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let expires = expiry(&form.days, now)?;
        let scope = match (role, form.icb.trim()) {
            (Role::Ics, icb) if !icb.is_empty() => vec![icb.to_owned()],
            _ => codes(&form.providers),
        };
        crate::web::auth::create(
            app.store().as_ref(),
            role,
            &scope,
            &form.name,
            &who.name,
            expires,
            now,
        )
        .await
        .map_err(|e| ApiError::Unprocessable(format!("{e:#}")))
    }
    .await;
    let (outcome, target, detail) = match &made {
        Ok((row, _)) => (
            AuditOutcome::Done,
            row.id.clone(),
            format!("{} token for {}", row.role, row.name),
        ),
        Err(e) => (AuditOutcome::Refused, "token".into(), e.to_string()),
    };
    crate::web::api::record(&app, who.audit("token_create", &target, outcome, &detail))
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    match made {
        Ok((row, token)) => {
            let issued = Issued {
                token,
                role: row.role,
                name: row.name,
            };
            let page = render(&app, &v, None, Some(issued), CreateForm::default()).await?;
            // The token is on this page only: never kept by a cache or shown by Back.
            Ok((
                StatusCode::CREATED,
                [(header::CACHE_CONTROL, "no-store")],
                page,
            )
                .into_response())
        }
        Err(e) => {
            let status = e.status();
            let message = format!("No token was issued, and what you typed is kept below: {e}.");
            let page = render(&app, &v, Some((message, false)), None, form).await?;
            Ok((status, page).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirmed: String,
}

/// Revokes a token, after asking: whoever holds it is signed out at once and cannot sign
/// in with it again.
pub async fn revoke(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(id): Path<String>,
    form: Result<Form<RevokeForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(|e| form_error(e, &v))?;
    allowed(&app, &v, "token_revoke", &form.csrf).await?;
    let who = signed_in(&v)?;
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(&v));
    let Some(token) = app.store().token(&id).await.map_err(fail)? else {
        return Err(PageError(
            ApiError::NotFound("there is no such token".into()),
            Nav::of(&v),
        ));
    };
    if form.confirmed != "yes" {
        return Ok(Confirm {
            nav: Nav::of(&v),
            heading: format!("Revoke the token for {}?", token.name),
            explain: vec![
                format!(
                    "Whoever holds this {} token is signed out at once, and cannot use it again. It cannot be undone: they would need a new token.",
                    token.role
                ),
            ],
            action: format!("/admin/tokens/{id}/revoke"),
            fields: vec![("confirmed".into(), "yes".into())],
            button: format!("Revoke the token for {}", token.name),
            back: "/admin/tokens".into(),
        }
        .into_response());
    }
    let revoked = app
        .store()
        .revoke_token(&id, Utc::now())
        .await
        .map_err(fail)?;
    let outcome = if revoked {
        AuditOutcome::Done
    } else {
        AuditOutcome::Refused
    };
    crate::web::api::record(
        &app,
        who.audit(
            "token_revoke",
            &id,
            outcome,
            &format!("{} token for {}", token.role, token.name),
        ),
    )
    .await
    .map_err(|e| PageError(e, Nav::of(&v)))?;
    let (status, message) = if revoked {
        (
            StatusCode::OK,
            (
                format!(
                    "The token for {} is revoked; its sessions have ended.",
                    token.name
                ),
                true,
            ),
        )
    } else {
        (
            StatusCode::CONFLICT,
            (
                format!("The token for {} was already revoked.", token.name),
                false,
            ),
        )
    };
    let page = render(&app, &v, Some(message), None, CreateForm::default()).await?;
    Ok((status, page).into_response())
}

/// The bulk form: the CSRF token, days to expiry, and a CSV whose first column (or whose
/// `code` column) holds provider codes.
struct Bulk {
    csrf: String,
    days: String,
    file: Vec<u8>,
}

async fn read_bulk(m: Multipart) -> Result<Bulk, ApiError> {
    let mut bulk = Bulk {
        csrf: String::new(),
        days: String::new(),
        file: Vec::new(),
    };
    for part in super::read_parts(m, MOST_BULK_BYTES, "the file of codes").await? {
        match part.name.as_str() {
            "csrf" => bulk.csrf = String::from_utf8_lossy(&part.bytes).into_owned(),
            "days" => bulk.days = String::from_utf8_lossy(&part.bytes).into_owned(),
            "file" => bulk.file = part.bytes,
            _ => {}
        }
    }
    Ok(bulk)
}

/// The provider codes of a CSV: its `code` column if it has a header naming one, else its
/// first column. At most `MOST_CODES`; repeats count once.
pub fn read_codes(file: &[u8]) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    let mut column = 0;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("the file is not CSV: {e}"))?;
        if n == 0
            && let Some(i) = record
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case("code"))
        {
            column = i;
            continue;
        }
        let Some(code) = record.get(column).map(|c| c.trim().to_uppercase()) else {
            continue;
        };
        if code.is_empty() {
            continue;
        }
        if seen.insert(code.clone()) {
            out.push(code);
        }
        if out.len() > MOST_CODES {
            return Err(format!(
                "the file holds more than {MOST_CODES} provider codes; split it"
            ));
        }
    }
    if out.is_empty() {
        return Err("the file holds no provider codes".into());
    }
    Ok(out)
}

/// Issues one provider token for each code in the file, all or none, and returns them as a
/// CSV to hand out: code, provider, token id, token, expiry.
pub async fn bulk(
    State(app): State<Arc<App>>,
    v: Visitor,
    m: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    let who = signed_in(&v)?;
    crate::web::api::allowed(&app, who, Action::Tokens, "token_bulk_create", "tokens")
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    let m = m.map_err(|e| {
        PageError(
            ApiError::BadRequest(format!("the form could not be read: {}", e.body_text())),
            Nav::of(&v),
        )
    })?;
    let bulk = read_bulk(m).await.map_err(|e| PageError(e, Nav::of(&v)))?;
    check_csrf(&app, &v, &bulk.csrf, "token_bulk_create").await?;
    let now = Utc::now();
    let made = async {
        let expires = expiry(&bulk.days, now)?;
        let codes = read_codes(&bulk.file).map_err(ApiError::Unprocessable)?;
        let providers = app.registry.providers().await?;
        let by_code: std::collections::HashMap<&str, &str> = providers
            .iter()
            .map(|p| (p.code.as_str(), p.name.as_str()))
            .collect();
        let unknown: Vec<&str> = codes
            .iter()
            .map(String::as_str)
            .filter(|c| !by_code.contains_key(c))
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::Unprocessable(format!(
                "{} code{} in the file {} not in the provider register, so no token was issued: {}{}",
                unknown.len(),
                if unknown.len() == 1 { "" } else { "s" },
                if unknown.len() == 1 { "is" } else { "are" },
                unknown[..unknown.len().min(10)].join(", "),
                if unknown.len() > 10 { ", …" } else { "" }
            )));
        }
        let mut rows = Vec::with_capacity(codes.len());
        let mut out = csv::Writer::from_writer(Vec::new());
        let write = |e: csv::Error| ApiError::Internal(e.into());
        out.write_record(["code", "provider", "token_id", "token", "expires"])
            .map_err(write)?;
        for code in &codes {
            let name = by_code[code.as_str()];
            // A token's name is at most 120 characters; a long provider name is cut.
            let label: String = name.chars().take(120).collect();
            let (row, token) = crate::web::auth::issue(
                Role::Provider,
                std::slice::from_ref(code),
                &label,
                &who.name,
                expires,
                now,
            )?;
            out.write_record([
                code.as_str(),
                name,
                &row.id,
                &token,
                &expires.map(|e| e.date_naive().to_string()).unwrap_or_default(),
            ])
            .map_err(write)?;
            rows.push(row);
        }
        app.store().add_tokens(&rows).await?;
        let file = out.into_inner().map_err(|e| ApiError::Internal(e.into_error().into()))?;
        Ok::<_, ApiError>((rows.len(), file))
    }
    .await;
    let (outcome, detail) = match &made {
        Ok((n, _)) => (AuditOutcome::Done, format!("{n} provider tokens")),
        Err(e) => (AuditOutcome::Refused, e.to_string()),
    };
    crate::web::api::record(
        &app,
        who.audit("token_bulk_create", "tokens", outcome, &detail),
    )
    .await
    .map_err(|e| PageError(e, Nav::of(&v)))?;
    match made {
        Ok((_, file)) => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"provider-tokens-{}.csv\"",
                        now.format("%Y%m%d-%H%M%S")
                    ),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            file,
        )
            .into_response()),
        Err(ApiError::Internal(e)) => Err(PageError(ApiError::Internal(e), Nav::of(&v))),
        Err(e) => {
            let status = e.status();
            let message = format!("No tokens were issued: {e}.");
            let page = render(
                &app,
                &v,
                Some((message, false)),
                None,
                CreateForm::default(),
            )
            .await?;
            Ok((status, page).into_response())
        }
    }
}
