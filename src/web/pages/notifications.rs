//! DAP's record of the notifications Tally sent or tried: to whom, about what, and whether
//! the mail server took it. The newest first.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use super::dap::dap_only;
use super::{Nav, PageError, local_time};
use crate::web::app::App;
use crate::web::auth::Visitor;
use crate::web::error::ApiError;

/// How many are shown.
const SHOWN: i64 = 300;

pub struct Line {
    at: String,
    kind: String,
    provider: String,
    about: String,
    to: String,
    status: String,
    tone: &'static str,
    error: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "notifications.html")]
pub struct Notifications {
    nav: Nav,
    lines: Vec<Line>,
    sent: usize,
    failed: usize,
}

pub async fn page(State(app): State<Arc<App>>, v: Visitor) -> Result<Notifications, PageError> {
    dap_only(&v)?;
    let rows = app
        .store()
        .notifications(SHOWN)
        .await
        .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
    let tz = app.settings.timezone;
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|n| Line {
            at: local_time(tz, n.at),
            kind: n.kind,
            provider: n.provider,
            about: match n.period {
                Some(p) => format!("{} {p}", n.collection),
                None => n.collection,
            },
            to: n.recipients,
            tone: match n.status.as_str() {
                "sent" => "landed",
                "failed" => "failed",
                _ => "waiting",
            },
            status: n.status,
            error: n.error.unwrap_or_default(),
        })
        .collect();
    Ok(Notifications {
        nav: Nav::of(&v),
        sent: lines.iter().filter(|l| l.status == "sent").count(),
        failed: lines.iter().filter(|l| l.status == "failed").count(),
        lines,
    })
}
