//! A provider's own correction, confirmed on its page: a file uploaded for a period that has
//! landed already is checked and compared with the current version first (rows kept and
//! turned away, and on the key: new, changed, the same, removed). The file is held, for an
//! hour at most, until the provider sends it as the next version or keeps the one it has.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::provider::{land_and_show, render};
use super::{Nav, PageError, WithCsrf, guarded, local_time};
use crate::domain::AuditOutcome;
use crate::landing::diff::Changes;
use crate::schedule::correction::Preview;
use crate::web::api::{HandOver, Received, UploadFormRead};
use crate::web::app::App;
use crate::web::auth::{Action, Principal, Visitor};
use crate::web::error::ApiError;

#[derive(Template, WebTemplate)]
#[template(path = "correction.html")]
pub struct CorrectionPage {
    nav: Nav,
    code: String,
    name: String,
    title: String,
    period: String,
    version: i64,
    next: i64,
    landed: String,
    rows_before: u64,
    rows_kept: u64,
    rows_rejected: u64,
    /// Said above the figures when the correction removes more than half of the rows.
    warning: Option<String>,
    changes: Option<Changes>,
    /// The items rows are matched on.
    key: String,
    report: String,
    /// The held file's token.
    held: String,
}

/// What is kept beside a held file: whose it is and what it is for.
#[derive(Debug, Serialize, Deserialize)]
struct Held {
    provider: String,
    collection: String,
    period: String,
    /// The name the file was given, which says its kind.
    name: String,
    /// The version the provider was shown: sent only while it is still current.
    version: i64,
}

/// Where corrections wait for their answer, under the service's data folder.
fn held_in(data_dir: &FsPath) -> PathBuf {
    data_dir.join("uploads").join("held")
}

fn held_dir(app: &App) -> PathBuf {
    held_in(&app.settings.data_dir)
}

/// A held file's two paths, for a token that is one (32 hex digits), never a path.
fn held_paths(app: &App, token: &str) -> Option<(PathBuf, PathBuf)> {
    let ok = token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| {
        let dir = held_dir(app);
        (
            dir.join(format!("{token}.file")),
            dir.join(format!("{token}.json")),
        )
    })
}

/// Removes the held corrections nobody answered within the hour (the lake's own sweep of
/// what a stopped landing left), under `data_dir`. The service calls it every few minutes,
/// and the pages whenever a correction is held or answered.
pub fn sweep_held(data_dir: &FsPath) {
    crate::landing::lake::sweep(&held_in(data_dir), "");
}

/// Holds the form's file and asks the provider to confirm what `p` says it changes. A file
/// that would not be taken, or that is the current version's again, is not held: the
/// provider page says so instead.
pub(super) async fn ask(
    app: &App,
    v: &Visitor,
    who: &Principal,
    code: &str,
    form: UploadFormRead,
    p: Preview,
) -> Result<Response, PageError> {
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(v));
    // What the page settles without a run is in the audit log all the same.
    let target: String = format!("{} {code} {}", p.collection, p.period)
        .chars()
        .take(200)
        .collect();
    let audit = async |outcome: AuditOutcome, detail: String| {
        crate::web::api::record(app, who.audit("upload", &target, outcome, &detail))
            .await
            .map_err(|e| PageError(e, Nav::of(v)))
    };
    if let Some(why) = &p.rejected {
        audit(
            AuditOutcome::Rejected,
            format!(
                "correction of version {} would not be taken: {why}",
                p.version
            ),
        )
        .await?;
        let message = format!(
            "The correction of {} {} was not sent: it would not be taken ({why}). Version {} stays current.",
            p.title, p.period, p.version
        );
        let page = render(app, v, code, Some((message, false)), Some(p.report)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    if p.same_file {
        let message = format!(
            "{} {}: this is the same file as version {}, so sending it would change nothing.",
            p.title, p.period, p.version
        );
        return Ok(render(app, v, code, Some((message, true)), None)
            .await?
            .into_response());
    }
    let dir = held_dir(app);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| fail(e.into()))?;
    sweep_held(&app.settings.data_dir);
    let token = uuid::Uuid::new_v4().simple().to_string();
    let (file, note) = held_paths(app, &token).expect("a uuid is a token");
    let held = Held {
        provider: code.into(),
        collection: form.collection.clone(),
        period: form.period.clone(),
        name: form.file.name.clone(),
        version: p.version,
    };
    tokio::fs::write(
        &note,
        serde_json::to_vec(&held).map_err(|e| fail(e.into()))?,
    )
    .await
    .map_err(|e| fail(e.into()))?;
    // The received file moves; its own removal at the end of the request then finds nothing.
    tokio::fs::rename(&form.file.path, &file)
        .await
        .map_err(|e| fail(e.into()))?;
    let name = app
        .registry
        .providers()
        .await
        .map_err(fail)?
        .iter()
        .find(|x| x.code.as_str() == code)
        .map_or_else(|| code.to_owned(), |x| x.name.clone());
    let warning = p.drastic().then(|| {
        format!(
            "This file keeps {} of the {} rows the period has now: sent, the other {} are no longer counted in any return built from it. Is it the whole period?",
            p.rows_kept,
            p.rows_before,
            p.rows_before - p.rows_kept
        )
    });
    Ok(CorrectionPage {
        nav: Nav::of(v),
        code: code.into(),
        name,
        title: p.title,
        period: p.period,
        version: p.version,
        next: p.version + 1,
        landed: local_time(app.settings.timezone, p.landed_at),
        rows_before: p.rows_before,
        rows_kept: p.rows_kept,
        rows_rejected: p.rows_rejected,
        warning,
        changes: p.changes,
        key: p.key.join(", "),
        report: p.report,
        held: token,
    }
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct Answer {
    csrf: String,
    held: String,
    /// `replace` to send it, `cancel` to keep the current version.
    action: String,
}

impl WithCsrf for Answer {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The provider's answer: the held file sent as the next version, or dropped.
pub async fn answer(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<Answer>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let (who, form) = guarded(&app, &v, Action::Upload(&code), "upload", &target, form).await?;
    let gone = || {
        PageError(
            ApiError::NotFound(
                "that correction is no longer held (an hour has passed, or it was answered); upload the file again".into(),
            ),
            Nav::of(&v),
        )
    };
    let (file, note) = held_paths(&app, &form.held).ok_or_else(gone)?;
    sweep_held(&app.settings.data_dir);
    let held: Held = std::fs::read(&note)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(gone)?;
    if held.provider != code {
        return Err(gone());
    }
    // Removing the note claims the answer: a second press of the button finds nothing.
    if std::fs::remove_file(&note).is_err() {
        return Err(gone());
    }
    // Removed when `over` goes, once the landing is done; or now, when it is not sent.
    let received = Received {
        path: file,
        name: held.name,
    };
    if form.action != "replace" {
        drop(received);
        let target = format!("{} {code} {}", held.collection, held.period);
        crate::web::api::record(
            &app,
            who.audit(
                "upload",
                &target,
                AuditOutcome::Refused,
                &format!(
                    "correction of version {} kept back by the provider",
                    held.version
                ),
            ),
        )
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))?;
        let message = format!(
            "The correction of {} {} was not sent; the current version stays.",
            held.collection, held.period
        );
        return Ok(render(&app, &v, &code, Some((message, true)), None)
            .await?
            .into_response());
    }
    // Another version may have landed since (a scheduled pull, another upload): then what
    // the provider confirmed is not what the file would replace.
    let key = crate::schedule::request::by_hand(
        &app.registry,
        &held.collection,
        &code,
        &held.period,
        app.now(),
    )
    .await
    .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
    let current = app
        .store()
        .current_version(&key)
        .await
        .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?
        .map_or(0, |c| c.version);
    if current != held.version {
        drop(received);
        let message = format!(
            "The correction of {} {} was not sent: version {current} has landed since you saw what it would change. Upload it again to see what it changes now.",
            held.collection, held.period
        );
        let page = render(&app, &v, &code, Some((message, false)), None).await?;
        return Ok((StatusCode::CONFLICT, page).into_response());
    }
    let over = HandOver {
        collection: held.collection,
        period: held.period,
        file: Some(received),
        // The provider has seen what it changes, and confirmed it.
        replace: true,
    };
    land_and_show(&app, &v, &who, &code, over, "The file was not taken").await
}
