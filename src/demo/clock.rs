//! The demo's accelerated clock: hour by hour through the window, extracts reach their
//! sources, providers upload by hand, DAP decides, the production scheduler step pulls what
//! is due and, after each day's deadline, the scheduled builder packs and builds returns.
//! Nothing here pulls or builds by itself: it only moves the clock the production code reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use super::feeds::{CENSUS, Feeds, Form, HOMES};
use super::story::{Decisions, Story};
use super::timeline::{Delivery, What, local};
use super::world::World;
use crate::domain::{PullStatus, UploadStatus};
use crate::landing::lake::Lake;
use crate::registry::Registry;
use crate::returns::scheduled::Builder;
use crate::schedule::pull::Timing;
use crate::schedule::runner::Runner;
use crate::schedule::upload::{HandIn, Handed, hand_in};

/// A decision DAP takes on a given day of the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    Retire(&'static str),
    Refuse(&'static str),
    /// Listed with notice, so that it is coming when the clock stops.
    ListComing(&'static str),
}

/// When in the window each decision is taken: the SitRep goes once its return has been
/// built for a while, the creep arrives mid-way, KH03 goes near the end.
pub fn events(tz: chrono_tz::Tz, start: NaiveDate, days: u32) -> Vec<(DateTime<Utc>, Event)> {
    let day = |share: u32, at_least: u32| {
        start + chrono::Days::new(u64::from((days * share / 100).max(at_least)))
    };
    vec![
        (
            local(tz, day(35, 2), 11 * 60),
            Event::Retire("uec-sitrep-manual"),
        ),
        (
            local(tz, day(50, 3), 11 * 60 + 30),
            Event::Refuse("care-home-beds-return"),
        ),
        (
            local(tz, day(60, 4), 11 * 60 + 30),
            Event::Refuse("discharge-readiness-survey"),
        ),
        (local(tz, day(85, 5), 11 * 60), Event::Retire("kh03-manual")),
        (
            local(tz, day(90, 6), 11 * 60),
            Event::ListComing("virtual-ward-capacity"),
        ),
    ]
}

/// What the clock saw, for the summary.
#[derive(Debug, Default)]
pub struct Played {
    /// Pulls and uploads by what they ended as, in the statuses' text form.
    pub outcomes: BTreeMap<&'static str, usize>,
    pub uploads: usize,
    /// (return, period, version) for every artifact built.
    pub built: Vec<(String, String, i64)>,
    pub build_failures: Vec<String>,
    /// Notifications recorded to the mail folder, by kind.
    pub mail: BTreeMap<&'static str, usize>,
    /// Pulled periods signed off one by one.
    pub signed: usize,
}

pub struct Clock<'a> {
    pub world: &'a World,
    pub feeds: &'a Feeds,
    pub registry: &'a Registry,
    pub lake: Lake,
    pub runner: &'a Runner,
    pub builder: &'a Builder,
    pub notifier: &'a crate::notify::Notifier,
    pub timezone: chrono_tz::Tz,
    /// Providers whose staff sign each pulled period off at 10:00.
    pub signers: &'a [String],
}

impl Clock<'_> {
    /// Plays from `from` to `to`, an hour at a time; the scheduler steps from 06:00 to
    /// 22:00 (a step at night would find nothing new: no source delivers then but care
    /// homes, whose pull is at 06:00), and the builder runs at 13:00, after the census's
    /// noon deadline.
    pub async fn play(
        &self,
        story: &mut Story<'_>,
        decisions: &mut Decisions,
        deliveries: &[Delivery],
        mut events: Vec<(DateTime<Utc>, Event)>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Played> {
        let mut played = Played::default();
        let hours = (to - from).num_hours().max(0) as u64;
        let bar = indicatif::ProgressBar::new(hours / 24);
        bar.set_style(
            indicatif::ProgressStyle::with_template("  {bar:40} day {pos}/{len} {msg}")
                .expect("a valid template"),
        );
        let mut next = deliveries.iter().peekable();
        events.sort_by_key(|e| e.0);
        let mut events = events.into_iter().peekable();
        let mut t = from;
        while t <= to {
            self.feeds.set_clock(t);
            while let Some(d) = next.next_if(|d| d.at <= t) {
                if let Some(status) = self.deliver(d).await? {
                    played.uploads += 1;
                    *played.outcomes.entry(status.as_str()).or_default() += 1;
                }
            }
            while let Some((at, e)) = events.next_if(|e| e.0 <= t) {
                let said = story.notes.len();
                match e {
                    Event::Retire(slug) => story.retire(slug, at, decisions).await?,
                    Event::Refuse(slug) => story.refuse(slug, at, decisions).await?,
                    Event::ListComing(slug) => {
                        let coming = story.list_coming(slug, at).await?;
                        decisions.coming.push(coming);
                    }
                }
                bar.suspend(|| {
                    for note in &story.notes[said..] {
                        println!("  {note}");
                    }
                });
            }
            let hour = t.with_timezone(&self.timezone).hour();
            if (6..=22).contains(&hour) {
                for p in self.runner.step(t).await? {
                    *played.outcomes.entry(p.status.as_str()).or_default() += 1;
                }
            }
            if hour == 10 {
                played.signed += super::signoffs::sign_each(self.registry, self.signers, t).await?;
            }
            // Reminders and overdue notices go at 09:00; rejections and notices of new
            // collections are picked up then and mid-afternoon.
            if hour == 9 || hour == 15 {
                for sent in self.notifier.step(t).await? {
                    *played.mail.entry(sent.kind).or_default() += 1;
                }
            }
            if hour == 13 {
                let round = self.builder.round(t).await;
                played.built.extend(round.built.iter().cloned());
                for (name, period, error) in round.failed {
                    played
                        .build_failures
                        .push(format!("{name} {period}: {error}"));
                }
                let day = t.with_timezone(&self.timezone).format("%a %e %b %Y");
                bar.set_position((t - from).num_days() as u64);
                bar.set_message(format!(
                    "{day}: {} pulls landed, {} late, {} failed; {} returns built",
                    played
                        .outcomes
                        .get(PullStatus::Landed.as_str())
                        .unwrap_or(&0),
                    played.outcomes.get(PullStatus::Late.as_str()).unwrap_or(&0),
                    played
                        .outcomes
                        .get(PullStatus::Failed.as_str())
                        .unwrap_or(&0),
                    played.built.len()
                ));
            }
            t += Duration::hours(1);
        }
        bar.finish_and_clear();
        Ok(played)
    }

    /// Puts one extract at its source, or uploads it by hand through the upload path.
    async fn deliver(&self, d: &Delivery) -> anyhow::Result<Option<UploadStatus>> {
        let (collection, code, period, file) = match d.what {
            What::Census { trust, day } => {
                let t = &self.world.trusts[trust];
                let file = self.feeds.census(t, day, d.form).await?;
                (CENSUS, t.code.as_str(), day.to_string(), file)
            }
            What::Home { home, last_day } => {
                let h = &self.world.homes[home];
                let month = last_day.format("%Y-%m").to_string();
                let file = self.feeds.home(h, &month, last_day, d.form)?;
                (HOMES, h.code.as_str(), month, file)
            }
        };
        let Some(file) = file else {
            return Ok(None);
        };
        debug_assert!(matches!(d.form, Form::ByHand { .. }));
        Ok(Some(
            self.upload(collection, code, &period, file, d.at).await?,
        ))
    }

    /// A file handed over by hand: the one upload path the web's form and `tally upload` take.
    async fn upload(
        &self,
        collection: &str,
        provider: &str,
        period: &str,
        file: PathBuf,
        at: DateTime<Utc>,
    ) -> anyhow::Result<UploadStatus> {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let up = HandIn {
            collection: collection.into(),
            provider: provider.into(),
            period: period.into(),
            handed: Handed::File { path: file, name },
            via: "demo",
            // A provider who corrects a figure means the correction.
            replace: true,
        };
        Ok(hand_in(self.registry, &self.lake, up, at, Timing::Fixed)
            .await?
            .status)
    }
}
