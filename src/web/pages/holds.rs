//! Figures held for confirmation, as the provider's page shows them: each version with
//! figures far from the provider's own recent ones, what they are against what was usual,
//! and until when they may be confirmed (`confirm`) or corrected (the upload form).

use super::local_time;
use crate::registry::holds::HoldView;
use crate::web::app::App;

/// One held version, as the page shows it.
pub struct HoldBox {
    pub collection: String,
    pub title: String,
    pub period: String,
    pub version: i64,
    /// `1 figure` or `3 figures`.
    pub count: String,
    pub lines: Vec<String>,
    /// Lines held but not shown.
    pub more: i64,
    pub held_at: String,
    pub closes: String,
    /// Its amendment window is still open: it may be confirmed or corrected.
    pub open: bool,
}

/// The provider's holds awaiting confirmation, oldest period first.
pub async fn boxes(app: &App, code: &str) -> anyhow::Result<Vec<HoldBox>> {
    let tz = app.settings.timezone;
    let now = app.now();
    Ok(app
        .registry
        .holds_of(code, true)
        .await?
        .into_iter()
        .map(|h: HoldView| HoldBox {
            count: match h.hold.figures {
                1 => "1 figure".into(),
                n => format!("{n} figures"),
            },
            more: h.hold.figures - h.said.len() as i64,
            lines: h.said,
            held_at: local_time(tz, h.hold.held_at),
            open: h.closes.is_none_or(|t| now <= t),
            closes: h.closes.map_or_else(
                || "the end of its amendment window".into(),
                |t| local_time(tz, t),
            ),
            collection: h.hold.collection,
            title: h.title,
            period: h.hold.period,
            version: h.hold.version,
        })
        .collect())
}
