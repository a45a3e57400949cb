//! Chasing by e-mail: the notice of a new collection to each provider that will owe it, a
//! reminder on the morning a period is due to providers that must upload it, an overdue
//! notice the morning after a deadline passes with nothing landed, and a rejection with
//! its report. Each is recorded against its event before it is sent, so that nothing is
//! sent twice for the same event, however many instances step; DAP sees the record.
//!
//! Reminders and overdue notices go at 09:00 in the collection's timezone, so a clock
//! change moves them with the working day, not with UTC.

pub mod mailer;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::connectors::Sources;
use crate::domain::RunStatus;
use crate::registry::Registry;
use crate::registry::governance::Licensed;
use crate::schedule::standing::{Owed, earliest_walked, standing};
use crate::store::notices::NewNotification;
use crate::store::runs::RunFilter;
pub use mailer::Mailer;

/// The hour of the working day reminders and overdue notices go at.
const NINE: NaiveTime = NaiveTime::from_hms_opt(9, 0, 0).expect("09:00 is a time");

/// How far back rejections are news.
const REJECTIONS_BACK: Duration = Duration::days(2);

/// How far back runs are read to know what has landed for every period still open: the
/// longest period, deadline and amendment window among the collections in force, and a day.
fn lookback(licensed: &[Licensed]) -> Duration {
    licensed
        .iter()
        .map(|l| {
            let longest = match l.def.frequency.period {
                crate::domain::PeriodKind::Day => 1,
                crate::domain::PeriodKind::Week => 7,
                crate::domain::PeriodKind::Month => 31,
                crate::domain::PeriodKind::Quarter => 92,
                crate::domain::PeriodKind::Year => 366,
            };
            Duration::days(longest + 1)
                + l.def.deadline.duration()
                + l.def.amendment_window.duration()
        })
        .max()
        .unwrap_or(REJECTIONS_BACK)
        .max(REJECTIONS_BACK)
}

/// One notification sent (or tried) by a step.
#[derive(Debug, Clone)]
pub struct Sent {
    pub kind: &'static str,
    pub provider: String,
    pub event_key: String,
    pub error: Option<String>,
}

pub struct Notifier {
    pub registry: Arc<Registry>,
    pub sources: Arc<Sources>,
    pub mailer: Arc<Mailer>,
}

/// 09:00 local on `day`, as an instant (the first, in an autumn fold).
fn nine_on(tz: Tz, day: chrono::NaiveDate) -> DateTime<Utc> {
    tz.from_local_datetime(&day.and_time(NINE))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&day.and_time(NINE)))
}

/// When to remind of a deadline: 09:00 local on its day, or the day before when that
/// leaves less than an hour.
pub fn remind_at(tz: Tz, deadline: DateTime<Utc>) -> DateTime<Utc> {
    let day = deadline.with_timezone(&tz).date_naive();
    let same_day = nine_on(tz, day);
    if same_day + Duration::hours(1) <= deadline {
        same_day
    } else {
        nine_on(tz, day - Duration::days(1))
    }
}

/// When to say a period is overdue: the first 09:00 local after its deadline.
pub fn overdue_at(tz: Tz, deadline: DateTime<Utc>) -> DateTime<Utc> {
    let day = deadline.with_timezone(&tz).date_naive();
    let same_day = nine_on(tz, day);
    if same_day > deadline {
        same_day
    } else {
        nine_on(tz, day + Duration::days(1))
    }
}

/// A notification to send once.
struct Draft {
    kind: &'static str,
    key: String,
    provider: String,
    collection: String,
    period: Option<String>,
    subject: String,
    body: String,
}

impl Notifier {
    /// Sends what is due at `now` and has not been sent; returns what it sent or tried.
    pub async fn step(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<Sent>> {
        if self.mailer.is_off() {
            return Ok(Vec::new());
        }
        let store = self.registry.store();
        let mut contacts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (provider, address) in store.contacts().await? {
            contacts.entry(provider).or_default().push(address);
        }
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let providers = self.registry.providers().await?;
        let licensed = self.registry.licensed(now).await?;
        let back = lookback(&licensed);
        let runs = self.runs_in_play(&licensed, now, back).await?;
        // What has been told already (or is being told by another instance) is not drafted
        // again; a failed one is, and sent again.
        let told: std::collections::HashSet<String> = store
            .notified_since(now - back)
            .await?
            .into_iter()
            .collect();
        let mut by_provider: BTreeMap<&str, Vec<crate::store::runs::RunRow>> = BTreeMap::new();
        for r in &runs {
            by_provider
                .entry(r.provider.as_str())
                .or_default()
                .push(r.clone());
        }
        // Figures held for confirmation since the look-back began, by provider.
        let mut held: BTreeMap<String, Vec<crate::store::holds::HoldRow>> = BTreeMap::new();
        for h in store
            .holds(&crate::store::holds::HoldFilter {
                awaiting: true,
                ..Default::default()
            })
            .await?
            .into_iter()
            .filter(|h| h.held_at > now - back)
        {
            held.entry(h.provider.clone()).or_default().push(h);
        }
        let mut drafts = Vec::new();
        for p in providers
            .iter()
            .filter(|p| contacts.contains_key(p.code.as_str()))
        {
            let code = p.code.as_str();
            let mut in_effect: Vec<&Licensed> = Vec::new();
            for l in &licensed {
                let tz = l.def.frequency.timezone;
                let today = now.with_timezone(&tz).date_naive();
                if !l.def.respondents.kinds.contains(&p.kind) {
                    continue;
                }
                if l.in_effect_on(today) {
                    // A provider that has closed is chased for nothing, as its page shows
                    // nothing owed: its successor took over.
                    if p.is_open_on(today) {
                        in_effect.push(l);
                    }
                } else if p.closed_on.is_none_or(|c| c > l.effective_from) {
                    drafts.push(notice(l, code));
                }
            }
            let own: &[crate::store::runs::RunRow] =
                by_provider.get(code).map_or(&[], |v| v.as_slice());
            let stand = standing(
                &in_effect,
                p,
                own,
                |slug| self.sources.find(slug, code).is_some(),
                now,
            );
            let tz_of = |o: &Owed| {
                licensed
                    .iter()
                    .find(|l| l.def.slug.as_str() == o.collection)
                    .map_or(chrono_tz::Europe::London, |l| l.def.frequency.timezone)
            };
            for o in &stand.week {
                let landed = o.last.is_some_and(RunStatus::landed);
                // A manual form may go by its own route: Tally chases only what it collects.
                if !o.pulled && !o.by_form && !landed && now >= remind_at(tz_of(o), o.deadline) {
                    drafts.push(reminder(o, code, tz_of(o)));
                }
            }
            for o in &stand.overdue {
                if now >= overdue_at(tz_of(o), o.deadline) {
                    drafts.push(overdue(o, code, tz_of(o), now));
                }
            }
            for r in own.iter().filter(|r| {
                r.status == RunStatus::Rejected
                    && r.finished_at.is_some_and(|t| t > now - REJECTIONS_BACK)
                    && !told.contains(&format!("rejected:{}", r.id))
            }) {
                let report = match store.run_report(r.id).await? {
                    Some(json) => serde_json::from_value::<crate::landing::Report>(json)
                        .map(|rep| rep.text())
                        .unwrap_or_default(),
                    None => r.error.clone().unwrap_or_default(),
                };
                drafts.push(Draft {
                    kind: "rejected",
                    key: format!("rejected:{}", r.id),
                    provider: code.to_owned(),
                    collection: r.collection.clone(),
                    period: Some(r.period.clone()),
                    subject: format!("Not taken: {} {} for {code}", r.collection, r.period),
                    body: format!(
                        "The extract of {} for {} from {code} was not taken (run {}). The report says why:\n\n{}\n\nSend a corrected file from your page on Tally, or try one first without sending it.\n",
                        r.collection,
                        r.period,
                        r.id,
                        crate::schedule::standing::plain_note(report.trim())
                    ),
                });
            }
        }
        for hold in held
            .iter()
            .filter(|(code, _)| contacts.contains_key(code.as_str()))
            .flat_map(|(_, holds)| holds)
        {
            let key = format!(
                "held:{}:{}:{}:v{}",
                hold.collection, hold.provider, hold.period, hold.version
            );
            if !told.contains(&key) {
                drafts.push(self.held(hold, key, &licensed).await?);
            }
        }
        // Each event is claimed on its own, so it is told once; what one provider is told
        // in one step goes in one message, so a trust behind on a daily return gets one
        // e-mail a morning, not one a period.
        let mut claimed: BTreeMap<String, Vec<(i64, Draft)>> = BTreeMap::new();
        for d in drafts.into_iter().filter(|d| !told.contains(&d.key)) {
            let to = &contacts[&d.provider];
            let id = store
                .claim_notification(&NewNotification {
                    event_key: d.key.clone(),
                    kind: d.kind,
                    provider: d.provider.clone(),
                    collection: d.collection.clone(),
                    period: d.period.clone(),
                    recipients: to.join(", "),
                    subject: d.subject.clone(),
                    at: now,
                })
                .await?;
            if let Some(id) = id {
                claimed.entry(d.provider.clone()).or_default().push((id, d));
            }
        }
        let mut sent = Vec::new();
        for (provider, items) in claimed {
            let to = &contacts[&provider];
            let (subject, body, name) = match items.as_slice() {
                [(_, d)] => (d.subject.clone(), d.body.clone(), d.key.clone()),
                many => (
                    format!("{} things to know from Tally for {provider}", many.len()),
                    many.iter()
                        .map(|(_, d)| format!("{}\n\n{}", d.subject, d.body))
                        .collect::<Vec<_>>()
                        .join("\n----\n\n"),
                    format!("digest:{provider}:{}", now.format("%Y%m%dT%H%M")),
                ),
            };
            let result = self.mailer.send(to, &subject, &body, &name).await;
            let error = result.err().map(|e| format!("{e:#}"));
            for (id, d) in items {
                store.finish_notification(id, error.as_deref()).await?;
                if let Some(e) = &error {
                    tracing::warn!(event = %d.key, error = %e, "A notification could not be sent.");
                }
                sent.push(Sent {
                    kind: d.kind,
                    provider: d.provider,
                    event_key: d.key,
                    error: error.clone(),
                });
            }
        }
        Ok(sent)
    }

    /// The runs a step looks at, newest first: those finished in the look-back window for
    /// each collection in force, of the periods [`standing`] walks (those still open to
    /// amendments, and a week ahead), and every rejection of the last two days. A daily
    /// collection's runs are read for its own weeks, not for a quarterly one's look-back.
    async fn runs_in_play(
        &self,
        licensed: &[Licensed],
        now: DateTime<Utc>,
        back: Duration,
    ) -> anyhow::Result<Vec<crate::store::runs::RunRow>> {
        let store = self.registry.store();
        let mut runs = Vec::new();
        for l in licensed {
            // A collection with no period open has nothing for the standing to look at.
            let Some(first) = earliest_walked(&l.def, now) else {
                continue;
            };
            runs.extend(
                store
                    .runs(&RunFilter {
                        collection: Some(l.def.slug.to_string()),
                        finished_after: Some(now - back),
                        period_from: Some(first.to_string()),
                        limit: 1_000_000,
                        ..Default::default()
                    })
                    .await?,
            );
        }
        runs.extend(
            store
                .runs(&RunFilter {
                    status: Some(RunStatus::Rejected),
                    finished_after: Some(now - REJECTIONS_BACK),
                    limit: 1_000_000,
                    ..Default::default()
                })
                .await?,
        );
        // As the ledger lists them, each once (a collection may be listed in two versions).
        runs.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
        runs.dedup_by_key(|r| r.id);
        Ok(runs)
    }

    /// The message about one version's figures held for confirmation.
    async fn held(
        &self,
        hold: &crate::store::holds::HoldRow,
        key: String,
        licensed: &[Licensed],
    ) -> anyhow::Result<Draft> {
        let figures = self
            .registry
            .store()
            .held_figures(&hold.collection, &hold.provider, &hold.period, hold.version)
            .await?;
        let period = crate::domain::Period::parse(&hold.period).map_err(anyhow::Error::msg)?;
        let daily = period.kind() == crate::domain::PeriodKind::Day;
        let def = licensed
            .iter()
            .find(|l| l.def.slug.as_str() == hold.collection);
        let by = def.map_or_else(String::new, |l| {
            let tz = l.def.frequency.timezone;
            format!(
                ", by {}",
                local(tz, crate::registry::window::closes(&l.def, &period))
            )
        });
        let mut lines: Vec<String> = figures
            .iter()
            .map(|f| format!("- {}", f.said(daily)))
            .collect();
        if (lines.len() as i64) < hold.figures {
            lines.push(format!("- and {} more", hold.figures - lines.len() as i64));
        }
        Ok(Draft {
            kind: "held",
            provider: hold.provider.clone(),
            collection: hold.collection.clone(),
            period: Some(hold.period.clone()),
            subject: format!(
                "Figures to confirm: {} {} for {}",
                hold.collection, hold.period, hold.provider
            ),
            body: format!(
                "Version {} of {} for {} from {} is received, but {} far from your own recent figures:\n\n{}\n\nIf the figures are right, confirm them on your page on Tally; if not, upload the period again as a correction{by}. Until then the national returns mark what rests on them provisional.\n",
                hold.version,
                hold.collection,
                hold.period,
                hold.provider,
                if hold.figures == 1 {
                    "1 figure is".to_string()
                } else {
                    format!("{} figures are", hold.figures)
                },
                lines.join("\n")
            ),
            key,
        })
    }

    /// Steps every `every` until `stop` says so.
    pub async fn run(
        &self,
        every: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            match self.step(Utc::now()).await {
                Ok(sent) if !sent.is_empty() => {
                    tracing::info!(notifications = sent.len(), "Sent notifications.");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "Notifications could not be worked out.")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

fn day(d: chrono::NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

fn local(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz)
        .format("%-d %B %Y at %H:%M %Z")
        .to_string()
}

fn notice(l: &Licensed, code: &str) -> Draft {
    let def = &l.def;
    let names: Vec<&str> = def.items.iter().map(|i| i.name.as_str()).collect();
    Draft {
        kind: "notice",
        // The day is in the key: a date DAP moves is told again.
        key: format!(
            "notice:{}:{}:{}:{code}",
            l.licence_number, def.slug, l.effective_from
        ),
        provider: code.to_owned(),
        collection: def.slug.to_string(),
        period: None,
        subject: format!(
            "New collection from {}: {} ({})",
            day(l.effective_from),
            def.title,
            l.licence_number
        ),
        body: format!(
            "The Data Alliance Partnership has listed a new collection that {code} will owe.\n\n\
             {title} ({licence}), asked by {sponsor} under {basis}.\n\
             Why: {purpose}\n\
             What: {items}.\n\
             From: {from}; nothing is owed before then. The first period owed is {first}.\n\
             How often: {often}, due {due} hours after each period ends.\n\n\
             To get ready, open the collection on your page on Tally: download its template, \
             connect a source system or try a file in a dry run, which keeps nothing.\n",
            title = def.title,
            licence = l.licence_number,
            sponsor = def.sponsor,
            basis = def.legal_basis,
            purpose = def.purpose,
            items = names.join(", "),
            from = day(l.effective_from),
            first = l.first_period(),
            often = def.frequency.period.adjective(),
            due = def.deadline.hours,
        ),
    }
}

fn reminder(o: &Owed, code: &str, tz: Tz) -> Draft {
    Draft {
        kind: "reminder",
        key: format!("reminder:{}:{code}:{}", o.collection, o.period),
        provider: code.to_owned(),
        collection: o.collection.clone(),
        period: Some(o.period.to_string()),
        subject: format!("Due {}: {} {}", local(tz, o.deadline), o.title, o.period),
        body: format!(
            "{} for {} from {code} is due by {}. Tally has no source system to pull it from, so \
             upload it from your page on Tally; a dry run checks a file first without sending it.{}\n",
            o.title,
            o.period,
            local(tz, o.deadline),
            nothing_to_report(o)
        ),
    }
}

fn overdue(o: &Owed, code: &str, tz: Tz, now: DateTime<Utc>) -> Draft {
    let how = if o.pulled {
        "Tally has tried to pull it from your source system and keeps trying; check that the \
         extract is there, or upload it from your page."
    } else {
        "Upload it from your page on Tally."
    };
    let late = (now - o.deadline).num_hours();
    Draft {
        kind: "overdue",
        key: format!("overdue:{}:{code}:{}", o.collection, o.period),
        provider: code.to_owned(),
        collection: o.collection.clone(),
        period: Some(o.period.to_string()),
        subject: format!("Overdue: {} {}", o.title, o.period),
        body: format!(
            "{} for {} from {code} was due by {} and has not arrived ({late} hours late). {how} \
             It is still taken, as late, until {}.{}\n",
            o.title,
            o.period,
            local(tz, o.deadline),
            local(tz, o.closes),
            nothing_to_report(o)
        ),
    }
}

/// What a provider with nothing to report does, where the collection takes a nil return.
fn nothing_to_report(o: &Owed) -> &'static str {
    if o.nil_return {
        " If you have nothing to report for the period, say so with \"Nothing to report\" on \
         your page instead."
    } else {
        ""
    }
}
