//! Sign-off on the provider's page, as shown: the standing sign-offs in force (with who
//! gave them and from when) and revoked, the collections one may be given for, and the
//! pulled periods awaiting a sign-off each, with their deadlines. The forms that act on
//! them are in `signing`.

use super::local_time;
use crate::web::app::App;

/// A standing sign-off, as the page shows it.
pub struct StandingLine {
    pub collection: String,
    pub title: String,
    pub from: String,
    pub given: String,
    /// How it ended, for one revoked.
    pub revoked: Option<String>,
}

/// The most periods one press of "Sign off all" signs off.
pub(super) const MOST_AT_ONCE: usize = 400;

/// A pulled period awaiting sign-off, as the page shows it.
pub struct AwaitingLine {
    pub collection: String,
    pub title: String,
    pub period: String,
    pub version: i64,
    pub landed: String,
    pub deadline: String,
    /// Its deadline has passed: it still counts as received, marked unsigned.
    pub overdue: bool,
}

/// The page's sign-off section.
pub struct SignOffBox {
    pub in_force: Vec<StandingLine>,
    pub revoked: Vec<StandingLine>,
    pub awaiting: Vec<AwaitingLine>,
    /// Collections a standing sign-off may be given for: (slug, title).
    pub may_stand: Vec<(String, String)>,
    /// Today, the form's default first day.
    pub today: String,
    /// Every period listed, as `collection period version` separated by `;`: what "Sign
    /// off all" signs off, and nothing pulled since the page was shown.
    pub all: String,
    /// How many periods `all` holds.
    pub at_once: usize,
}

/// `code`'s sign-offs, as its page shows them.
pub async fn section(app: &App, code: &str) -> anyhow::Result<SignOffBox> {
    let tz = app.settings.timezone;
    let now = app.now();
    let s = app.registry.signoffs_of(code, now).await?;
    let rows = app.registry.rows().await?;
    let title_of = |slug: &str| {
        rows.in_force_of(slug)
            .map_or_else(|| slug.to_owned(), |d| d.definition.title.clone())
    };
    let line = |st: &crate::store::signoffs::Standing| StandingLine {
        collection: st.collection.clone(),
        title: title_of(&st.collection),
        from: st.from_day.format("%-d %B %Y").to_string(),
        given: format!("{}, {}", st.given_by, local_time(tz, st.given_at)),
        revoked: st.revoked_at.map(|at| {
            format!(
                "revoked by {}, {}",
                st.revoked_by.as_deref().unwrap_or("someone"),
                local_time(tz, at)
            )
        }),
    };
    Ok(SignOffBox {
        in_force: s
            .standing
            .iter()
            .filter(|x| x.in_force())
            .map(line)
            .collect(),
        // The most recent first, and only a few: the API lists them all.
        revoked: s
            .standing
            .iter()
            .rev()
            .filter(|x| !x.in_force())
            .take(5)
            .map(line)
            .collect(),
        awaiting: s
            .awaiting
            .iter()
            .map(|a| AwaitingLine {
                collection: a.collection.clone(),
                title: a.title.clone(),
                period: a.period.clone(),
                version: a.version,
                landed: local_time(tz, a.landed_at),
                deadline: local_time(tz, a.deadline),
                overdue: a.deadline < now,
            })
            .collect(),
        all: s
            .awaiting
            .iter()
            .take(MOST_AT_ONCE)
            .map(|a| format!("{} {} {}", a.collection, a.period, a.version))
            .collect::<Vec<_>>()
            .join(";"),
        at_once: s.awaiting.len().min(MOST_AT_ONCE),
        may_stand: s.may_stand,
        today: app.today().to_string(),
    })
}
