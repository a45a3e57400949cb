//! `/dap/proposals/new`: DAP proposes a collection by pasting or uploading its definition.
//! "Check" shows what loading and the creep checks find and records nothing; "Propose"
//! records it, and it waits on `/dap` for a decision.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{FindingLine, Nav, PageError, check_csrf, finding_lines, hours, signed_in};
use crate::domain::AuditOutcome;
use crate::registry::load::LoadedDef;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

/// The largest definition the form takes: the bundled ones are under 8 KiB.
const MOST_BYTES: usize = 256 * 1024;

#[derive(Template, WebTemplate)]
#[template(path = "propose.html")]
pub struct Propose {
    nav: Nav,
    /// The definition as it was pasted or uploaded, so that nothing typed is lost.
    text: String,
    /// Why it does not load, one line a problem.
    problems: Vec<String>,
    /// What the checks found, once it loads.
    checked: Option<Checked>,
    message: Option<String>,
    /// The national return form, as typed.
    ret: ReturnForm,
    /// What proposing the return found: problems, or what it builds.
    ret_outcome: Option<Result<ReturnChecked, String>>,
}

/// A national return as DAP pastes it: its name, sidecar and query.
#[derive(serde::Deserialize, Default, Clone)]
pub struct ReturnForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    sidecar: String,
    #[serde(default)]
    sql: String,
}

/// What a return's query makes of its last closed period, built and not kept.
pub struct ReturnChecked {
    title: String,
    replaces: String,
    period: String,
    rows: usize,
    head: String,
}

pub struct Checked {
    title: String,
    slug: String,
    hours: String,
    blocked: bool,
    findings: Vec<FindingLine>,
}

fn form(nav: Nav, text: String) -> Propose {
    Propose {
        nav,
        text,
        problems: Vec::new(),
        checked: None,
        message: None,
        ret: ReturnForm::default(),
        ret_outcome: None,
    }
}

pub async fn page(v: Visitor) -> Result<Propose, PageError> {
    let who = signed_in(&v)?;
    who.require(Action::Propose)
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    Ok(form(Nav::of(&v), String::new()))
}

/// The form's fields: the CSRF token, the step, and the definition pasted or as a file (a
/// file wins when both are given).
struct Sent {
    csrf: String,
    step: String,
    text: String,
}

async fn read(m: Multipart) -> Result<Sent, ApiError> {
    let mut sent = Sent {
        csrf: String::new(),
        step: String::new(),
        text: String::new(),
    };
    let mut file: Option<String> = None;
    for part in super::read_parts(m, MOST_BYTES, "the definition").await? {
        let text = String::from_utf8(part.bytes).map_err(|_| {
            ApiError::Unprocessable(format!("the form's {} is not UTF-8 text", part.name))
        })?;
        match part.name.as_str() {
            "csrf" => sent.csrf = text,
            "step" => sent.step = text,
            "definition" => sent.text = text,
            "file" if part.file => file = Some(text),
            _ => {}
        }
    }
    if let Some(f) = file {
        sent.text = f;
    }
    // Browsers send a textarea's line ends as CRLF; the file keeps what was written.
    sent.text = sent.text.replace("\r\n", "\n");
    Ok(sent)
}

pub async fn submit(
    State(app): State<Arc<App>>,
    v: Visitor,
    m: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    let who = signed_in(&v)?;
    crate::web::api::allowed(&app, who, Action::Propose, "propose", "proposal form")
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    let m = m.map_err(|e| {
        PageError(
            ApiError::BadRequest(format!("the form could not be read: {}", e.body_text())),
            Nav::of(&v),
        )
    })?;
    let sent = read(m).await.map_err(|e| PageError(e, Nav::of(&v)))?;
    check_csrf(&app, &v, &sent.csrf, "propose").await?;
    let nav = Nav::of(&v);
    let mut page = form(nav.clone(), sent.text.clone());
    if sent.text.trim().is_empty() {
        page.problems = vec!["Paste the definition, or choose its TOML file.".into()];
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let def = match crate::registry::load::parse("definition", &sent.text, app.settings.timezone) {
        Ok(def) => def,
        Err(problems) => {
            page.problems = problems
                .to_string()
                .lines()
                .skip(1)
                .map(|l| l.trim().trim_start_matches("definition: ").to_owned())
                .filter(|l| !l.is_empty())
                .collect();
            if page.problems.is_empty() {
                page.problems = vec![problems.to_string()];
            }
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let now = app.now();
    if sent.step != "propose" {
        // A check records nothing: it is what the register would find today.
        let report = app
            .registry
            .check(&def, now)
            .await
            .map_err(|e| PageError(ApiError::from(e), nav.clone()))?;
        page.checked = Some(Checked {
            title: def.title.clone(),
            slug: def.slug.to_string(),
            hours: hours(report.burden.annual_hours),
            blocked: report.is_blocked(),
            findings: finding_lines(&report.findings),
        });
        return Ok(page.into_response());
    }
    let slug = def.slug.to_string();
    let loaded = LoadedDef {
        path: format!("{slug}.toml (proposed on DAP's pages)").into(),
        def,
        source: sent.text.clone(),
    };
    let proposed = app.registry.propose(&loaded, &who.name, now).await;
    let outcome = if proposed.is_ok() {
        AuditOutcome::Done
    } else {
        AuditOutcome::Refused
    };
    let detail = proposed
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    crate::web::api::record(&app, who.audit("propose", &slug, outcome, &detail))
        .await
        .map_err(|e| PageError(e, nav.clone()))?;
    match proposed {
        Ok(p) => {
            let message = format!(
                "{} version {} is proposed{}. Decide on it below.",
                p.slug,
                p.version,
                if p.report.is_blocked() {
                    ", and a check blocks it"
                } else {
                    ""
                }
            );
            let dap = super::dap::render(&app, &v, Some((message, true)), None).await?;
            Ok((StatusCode::CREATED, dap).into_response())
        }
        Err(e) => match ApiError::from(e) {
            ApiError::Internal(e) => Err(PageError(ApiError::Internal(e), nav)),
            e => {
                page.message = Some(format!("It was not proposed: {e}."));
                Ok((e.status(), page).into_response())
            }
        },
    }
}

/// DAP proposes a national return: a query over listed collections instead of a new
/// collection. "Check it" builds it over the last closed period and keeps nothing;
/// "Propose it" records it for a decision on `/dap`, where it is built again before DAP
/// lists it.
pub async fn submit_return(
    State(app): State<Arc<App>>,
    v: Visitor,
    f: Result<axum::Form<ReturnForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let who = signed_in(&v)?;
    crate::web::api::allowed(&app, who, Action::Propose, "propose_query", "return form")
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    let axum::Form(mut f) = f.map_err(|e| {
        PageError(
            ApiError::Unprocessable(format!("the return form is not whole: {}", e.body_text())),
            Nav::of(&v),
        )
    })?;
    check_csrf(&app, &v, &f.csrf, "propose_query").await?;
    // Browsers send a textarea's line ends as CRLF.
    f.sidecar = f.sidecar.replace("\r\n", "\n");
    f.sql = f.sql.replace("\r\n", "\n");
    let name = f.name.trim().to_owned();
    let mut page = form(Nav::of(&v), String::new());
    page.ret = f.clone();
    let checked = async {
        let def = crate::returns::ReturnDef::parse(
            &name,
            &f.sidecar,
            f.sql.clone(),
            format!("{name}.sql (proposed on DAP's pages)").into(),
        )
        .map_err(|e| format!("{e:#}"))?;
        let preview = crate::returns::build::preview(
            &app.registry,
            &app.lake,
            &def,
            app.settings.timezone,
            app.now(),
        )
        .await
        .map_err(|e| format!("it does not build over the last closed periods: {e:#}"))?;
        let licences = crate::returns::licence::licences(&app.registry)
            .await
            .map_err(|e| format!("{e:#}"))?;
        Ok::<_, String>((def, preview, licences))
    }
    .await;
    let (def, preview, licences) = match checked {
        Ok(c) => c,
        Err(e) => {
            page.ret_outcome = Some(Err(e));
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let rows = preview.batches.iter().map(|b| b.num_rows()).sum();
    page.ret_outcome = Some(Ok(ReturnChecked {
        title: def.title.clone(),
        replaces: licences
            .in_force
            .get(&name)
            .map(|l| {
                format!(
                    "It would replace {} version {}.",
                    l.licence_number.as_deref().unwrap_or_default(),
                    l.version
                )
            })
            .unwrap_or_else(|| "A new return.".into()),
        period: preview.period.to_string(),
        rows,
        head: super::licences::head(&preview.batches, 8),
    }));
    if f.step != "propose" {
        return Ok(page.into_response());
    }
    let sha = crate::returns::licence::fingerprint(&def);
    let known = app
        .store()
        .query_versions(Some(&name))
        .await
        .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
    if let Some(same) = known
        .iter()
        .find(|q| q.sha256 == sha && matches!(q.status.as_str(), "listed" | "proposed"))
    {
        page.message = Some(format!(
            "It was not proposed: version {} of {name} ({}) is already this text.",
            same.version, same.status
        ));
        return Ok((StatusCode::CONFLICT, page).into_response());
    }
    let version = app
        .store()
        .propose_query(&name, &def.sql, &def.sidecar, &sha, &who.name, app.now())
        .await
        .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
    crate::web::api::record(
        &app,
        who.audit(
            "propose_query",
            &format!("{name} version {version}"),
            AuditOutcome::Done,
            "",
        ),
    )
    .await
    .map_err(|e| PageError(e, Nav::of(&v)))?;
    let message = format!(
        "Version {version} of the return {name} is proposed. Decide on it below, under the national returns."
    );
    let dap = super::dap::render(&app, &v, Some((message, true)), None).await?;
    Ok((StatusCode::CREATED, dap).into_response())
}
