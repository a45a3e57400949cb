//! The provider's burden as it felt it: its periods owed over twelve months, by month and
//! collection, priced by how each was met beside what the estimate says, in hours and
//! pounds.

use super::hours;
use crate::registry::burden::pounds;
use crate::web::app::App;

/// One month's periods of one collection.
pub struct FeltLine {
    pub(super) month: String,
    pub(super) title: String,
    pub(super) owed: u32,
    pub(super) pulled: u32,
    pub(super) by_hand: u32,
    pub(super) never_sent: u32,
    pub(super) nil_returns: u32,
    pub(super) recorded: u32,
    pub(super) estimated: String,
    pub(super) achieved: String,
    pub(super) estimated_pounds: String,
    pub(super) achieved_pounds: String,
}

/// `code`'s twelve months: a sentence with the totals, and a line a month and collection.
pub async fn felt(
    app: &App,
    code: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(String, Vec<FeltLine>)> {
    let rows = app
        .registry
        .provider_achieved(code, now, app.settings.staff_rates.as_ref())
        .await?;
    let sum = |f: fn(&crate::registry::ranking::MonthAchieved) -> f64| {
        rows.iter().map(f).sum::<f64>() + 0.0
    };
    let priced = |f: fn(&crate::registry::ranking::MonthAchieved) -> Option<f64>| {
        rows.iter()
            .map(f)
            .sum::<Option<f64>>()
            .map(|p| format!(" ({})", pounds(p)))
            .unwrap_or_default()
    };
    let summary = if rows.is_empty() {
        "No period has been owed in the last twelve months.".to_owned()
    } else {
        format!(
            "Over the last twelve months your periods cost {} hours{} as achieved, against {} hours{} as estimated.",
            hours(sum(|r| r.achieved_hours)),
            priced(|r| r.achieved_pounds),
            hours(sum(|r| r.estimated_hours)),
            priced(|r| r.estimated_pounds),
        )
    };
    let money = |p: Option<f64>| p.map_or("-".into(), pounds);
    let lines = rows
        .iter()
        .map(|r| FeltLine {
            month: r.month.clone(),
            title: r.title.clone(),
            owed: r.owed,
            pulled: r.pulled,
            by_hand: r.by_hand,
            never_sent: r.never_sent,
            nil_returns: r.nil_returns,
            recorded: r.recorded,
            estimated: hours(r.estimated_hours),
            achieved: hours(r.achieved_hours),
            estimated_pounds: money(r.estimated_pounds),
            achieved_pounds: money(r.achieved_pounds),
        })
        .collect();
    Ok((summary, lines))
}
