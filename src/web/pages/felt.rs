//! The provider's burden as it felt it: its periods owed over twelve months, by month and
//! collection, priced by how each was met beside what the estimate says, in hours and
//! pounds; the totals, and a chart of the hours by hand and on pulled periods a month. All
//! of it from the one achieved account the API serves (`Registry::provider_felt`).

use super::hours;
use crate::registry::burden::pounds;
use crate::registry::provider_burden::last_twelve_months;
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
    pub(super) by_hand_hours: String,
    pub(super) pulled_hours: String,
    pub(super) estimated_pounds: String,
    pub(super) achieved_pounds: String,
}

/// The page's "Your burden" section.
pub struct Felt {
    /// The totals in a sentence.
    pub(super) said: String,
    pub(super) by_hand: String,
    pub(super) pulled: String,
    pub(super) saved: String,
    pub(super) automated_since: String,
    pub(super) chart_title: String,
    pub(super) chart: String,
    pub(super) lines: Vec<FeltLine>,
}

/// `code`'s twelve months to `now`.
pub async fn felt(
    app: &App,
    code: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Felt> {
    let rates = app.settings.staff_rates.as_ref();
    let f = app
        .registry
        .provider_felt(code, now, rates)
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no provider {code}"))?;
    let in_pounds = |p: Option<f64>| p.map(|p| format!(" ({})", pounds(p))).unwrap_or_default();
    let said = if f.months.is_empty() {
        "No period has been owed in the last twelve months.".to_owned()
    } else {
        format!(
            "Over the last twelve months your periods cost {} hours{} as achieved, against {} hours{} as estimated.",
            hours(f.achieved_hours),
            in_pounds(f.achieved_pounds),
            hours(f.estimated_hours),
            in_pounds(f.estimated_pounds),
        )
    };
    // Every month of the twelve has a bar, an empty one where nothing was owed.
    let today = now.with_timezone(&app.settings.timezone).date_naive();
    let labels: Vec<String> = last_twelve_months(today)
        .iter()
        .map(|m| m.to_string())
        .collect();
    let a_month = |of: fn(&crate::registry::felt::MonthAchieved) -> f64| -> Vec<f64> {
        labels
            .iter()
            .map(|l| {
                f.months
                    .iter()
                    .filter(|m| &m.month == l)
                    .map(of)
                    .sum::<f64>()
                    + 0.0
            })
            .collect()
    };
    let chart_title = format!("Staff hours a month on central returns, {}", f.name);
    let chart = crate::web::charts::stacked_hours(
        &chart_title,
        &labels,
        &a_month(|m| m.by_hand_hours),
        &a_month(|m| m.pulled_hours),
    );
    let money = |p: Option<f64>| p.map_or("-".into(), pounds);
    let lines = f
        .months
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
            by_hand_hours: hours(r.by_hand_hours),
            pulled_hours: hours(r.pulled_hours),
            estimated_pounds: money(r.estimated_pounds),
            achieved_pounds: money(r.achieved_pounds),
        })
        .collect();
    Ok(Felt {
        said,
        by_hand: hours(f.by_hand_hours),
        pulled: hours(f.pulled_hours),
        saved: hours(f.saved_hours),
        automated_since: f
            .automated_since
            .map_or_else(|| "not yet".into(), |d| d.format("%-d %B %Y").to_string()),
        chart_title,
        chart,
        lines,
    })
}
