//! A deterministic synthetic England for the demo: acute and mental-health trusts and care
//! homes across the seven NHS England regions, with their local authorities and ICBs, and
//! what each one holds and reports (`estate`).

use std::path::Path;

use anyhow::Context;

use super::estate::{Feed, Habits, Home, Rng, Trust, deal};
use crate::domain::provider::{Provider, ProviderCode, ProviderKind};

/// The providers and what each holds.
pub struct World {
    pub seed: u64,
    pub providers: Vec<Provider>,
    pub trusts: Vec<Trust>,
    pub homes: Vec<Home>,
}

impl World {
    /// How many providers each kind of source system serves, and how many have each habit.
    pub fn sources_and_habits(
        &self,
    ) -> (
        std::collections::BTreeMap<String, usize>,
        std::collections::BTreeMap<String, usize>,
    ) {
        let mut sources = std::collections::BTreeMap::new();
        let mut habits = std::collections::BTreeMap::new();
        for (feed, h) in self
            .trusts
            .iter()
            .map(|t| (t.feed, t.habits))
            .chain(self.homes.iter().map(|h| (h.feed, h.habits)))
        {
            *sources.entry(feed.name().to_owned()).or_insert(0) += 1;
            for what in h.describe() {
                *habits.entry(what.to_owned()).or_insert(0) += 1;
            }
        }
        (sources, habits)
    }

    /// `trusts` trusts (about three in four acute, the rest mental health, and one formed
    /// by a merger) and `care_homes` care homes, the same for the same seed.
    pub fn new(seed: u64, trusts: u32, care_homes: u32) -> World {
        let providers = providers(seed, trusts, care_homes);
        let mut estates: Vec<Trust> = providers
            .iter()
            .filter(|p| p.kind != ProviderKind::CareHome && p.opened_on.is_none())
            .map(|p| Trust::new(seed, p))
            .collect();
        // The trust formed by the merger runs its predecessors' wards, on the first one's system.
        if let Some(successor) = providers.iter().find(|p| p.opened_on.is_some()) {
            let from: Vec<&Trust> = estates
                .iter()
                .filter(|t| {
                    providers.iter().any(|p| {
                        p.code.as_str() == t.code && p.successor.as_ref() == Some(&successor.code)
                    })
                })
                .collect();
            let into = Trust {
                code: successor.code.as_str().to_owned(),
                ..from[0].clone()
            };
            let merged = Trust::merged(into, &from);
            estates.push(merged);
        }
        deal_trusts(seed, &mut estates);
        let mut homes: Vec<Home> = providers
            .iter()
            .filter(|p| p.kind == ProviderKind::CareHome)
            .map(|p| Home::new(seed, p.code.as_str()))
            .collect();
        deal_homes(seed, &mut homes);
        World {
            seed,
            providers,
            trusts: estates,
            homes,
        }
    }

    /// The provider with this code.
    pub fn provider(&self, code: &str) -> &Provider {
        self.providers
            .iter()
            .find(|p| p.code.as_str() == code)
            .expect("the world's own providers")
    }
}

/// Which providers a habit may go to, by index.
type Eligible<'a> = dyn Fn(usize) -> bool + 'a;
/// Gives a provider a habit.
type SetHabit = fn(&mut Habits);

/// Sources: most trusts drop files; some serve HTTP (CSV or JSON), some have a database.
/// Habits go to a few, and the ones that are about files and feeds only to trusts without a
/// database, whose nightly job is never late and never unreadable.
fn deal_trusts(seed: u64, trusts: &mut [Trust]) {
    let codes: Vec<String> = trusts.iter().map(|t| t.code.clone()).collect();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    let feeds = [
        (Feed::Sqlite, 0.15),
        (Feed::Http { json: true }, 0.12),
        (Feed::Http { json: false }, 0.12),
    ];
    for (n, (feed, share)) in feeds.into_iter().enumerate() {
        let free: Vec<bool> = trusts.iter().map(|t| t.feed == Feed::Drop).collect();
        for i in deal(seed, &codes, 20 + n as u64, share, |i| free[i]) {
            trusts[i].feed = feed;
        }
    }
    let file_like: Vec<bool> = trusts.iter().map(|t| t.feed != Feed::Sqlite).collect();
    let any = |_: usize| true;
    let by_file = |i: usize| file_like[i];
    let deals: [(u64, f64, &Eligible, SetHabit); 6] = [
        (30, 0.08, &by_file, |h| h.late = true),
        (31, 0.05, &by_file, |h| h.flaky = true),
        (32, 0.05, &any, |h| h.bad_rows = true),
        (33, 0.04, &by_file, |h| h.extra_column = true),
        (34, 0.04, &any, |h| h.amends = true),
        (35, 0.03, &by_file, |h| h.broken = true),
    ];
    for (salt, share, eligible, set) in deals {
        for i in deal(seed, &codes, salt, share, eligible) {
            set(&mut trusts[i].habits);
        }
    }
}

/// Care homes: a care-record supplier's HTTP service for a fifth, drops for most of the rest,
/// and a few with no system, whose managers upload by hand; a few are late, send figures
/// that do not add up, or never send.
fn deal_homes(seed: u64, homes: &mut [Home]) {
    let codes: Vec<String> = homes.iter().map(|h| h.code.clone()).collect();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    if codes.is_empty() {
        return;
    }
    for i in deal(seed, &codes, 40, 0.2, |_| true) {
        homes[i].feed = Feed::Http { json: false };
    }
    let dropping: Vec<bool> = homes.iter().map(|h| h.feed == Feed::Drop).collect();
    for i in deal(seed, &codes, 44, 0.03, |i| dropping[i]) {
        homes[i].feed = Feed::ByHand;
    }
    let deals: [(u64, f64, SetHabit); 3] = [
        (41, 0.06, |h| h.late = true),
        (42, 0.04, |h| h.bad_rows = true),
        (43, 0.01, |h| h.silent = true),
    ];
    for (salt, share, set) in deals {
        for i in deal(seed, &codes, salt, share, |_| true) {
            set(&mut homes[i].habits);
        }
    }
}

/// Region, then its local authorities; each authority's area names an ICB.
const REGIONS: [(&str, &[&str]); 7] = [
    (
        "London",
        &[
            "Camden", "Croydon", "Hackney", "Lambeth", "Barnet", "Ealing",
        ],
    ),
    (
        "South East",
        &["Kent", "Surrey", "Hampshire", "Oxfordshire", "West Sussex"],
    ),
    (
        "South West",
        &[
            "Devon",
            "Cornwall",
            "Somerset",
            "Bristol",
            "Gloucestershire",
        ],
    ),
    (
        "Midlands",
        &[
            "Birmingham",
            "Nottinghamshire",
            "Leicestershire",
            "Staffordshire",
            "Derbyshire",
        ],
    ),
    (
        "East of England",
        &[
            "Norfolk",
            "Suffolk",
            "Essex",
            "Cambridgeshire",
            "Hertfordshire",
        ],
    ),
    (
        "North West",
        &[
            "Manchester",
            "Lancashire",
            "Cheshire East",
            "Liverpool",
            "Cumberland",
        ],
    ),
    (
        "North East and Yorkshire",
        &[
            "Leeds",
            "Sheffield",
            "Newcastle upon Tyne",
            "North Yorkshire",
            "Durham",
        ],
    ),
];

const PLACES: [&str; 24] = [
    "Ashford",
    "Bramley",
    "Castleton",
    "Dunmore",
    "Eastwick",
    "Fairfield",
    "Greystone",
    "Hallam",
    "Ivybridge",
    "Kingsmead",
    "Longford",
    "Marshfield",
    "Northgate",
    "Oakham",
    "Penrith",
    "Queensbury",
    "Riverside",
    "Southmoor",
    "Thornbury",
    "Upton",
    "Westbury",
    "Yarrow",
    "Whitecliff",
    "Elmstead",
];

const HOME_WORDS: [&str; 8] = [
    "House", "Lodge", "Court", "Grange", "Manor", "Gardens", "View", "Hall",
];

/// `trusts` trusts (140 acute and 50 mental-health trusts at England's scale) and
/// `care_homes` care homes, the same for the same seed. Two acute trusts merge into a third
/// on 1 October 2026.
fn providers(seed: u64, trusts: u32, care_homes: u32) -> Vec<Provider> {
    let acute = ((f64::from(trusts) * 140.0 / 190.0).round() as usize).max(2);
    let all = (trusts as usize).max(acute);
    let mut rng = Rng::for_(seed, "England", 0, 0);
    let mut out = Vec::new();
    let code = |s: String| ProviderCode::parse(&s).expect("generated codes are valid");
    let letters: Vec<char> = ('A'..='Z').collect();
    let trust = |i: usize, kind: ProviderKind, rng: &mut Rng| {
        let (region, las) = REGIONS[i % REGIONS.len()];
        let la = rng.pick(las);
        let place = rng.pick(&PLACES);
        let name = match kind {
            ProviderKind::AcuteTrust => format!("{place} and {la} Hospitals NHS Trust"),
            _ => format!("{place} and {la} Mental Health NHS Foundation Trust"),
        };
        Provider {
            code: code(format!("R{}{}", letters[i / 26 % 26], letters[i % 26])),
            name,
            kind,
            region: region.into(),
            icb: Some(format!("NHS {la} ICB")),
            local_authority: Some(la.into()),
            opened_on: None,
            closed_on: None,
            successor: None,
        }
    };
    for i in 0..acute {
        out.push(trust(i, ProviderKind::AcuteTrust, &mut rng));
    }
    for i in acute..all {
        out.push(trust(i, ProviderKind::MentalHealthTrust, &mut rng));
    }
    // A merger: the first two acute trusts close into a new one that opens the same day.
    let merged = out[0].clone();
    let merge_day = chrono::NaiveDate::from_ymd_opt(2026, 10, 1);
    let successor = Provider {
        code: code("RZZ".into()),
        name: format!(
            "{} University Hospitals NHS Foundation Trust",
            merged.local_authority.clone().unwrap_or_default()
        ),
        opened_on: merge_day,
        ..merged
    };
    for p in out.iter_mut().take(2) {
        p.closed_on = merge_day;
        p.successor = Some(successor.code.clone());
    }
    out.push(successor);
    for i in 0..care_homes {
        let (region, las) = REGIONS[(rng.next() % REGIONS.len() as u64) as usize];
        let la = rng.pick(las);
        out.push(Provider {
            code: code(format!(
                "1-{:09}",
                100_000_000 + u64::from(i) * 7 + rng.next() % 7
            )),
            name: format!("{} {}", rng.pick(&PLACES), rng.pick(&HOME_WORDS)),
            kind: ProviderKind::CareHome,
            region: region.into(),
            icb: Some(format!("NHS {la} ICB")),
            local_authority: Some(la.into()),
            opened_on: None,
            closed_on: None,
            successor: None,
        });
    }
    out
}

/// Writes providers in the CSV form `tally providers import` reads.
/// The providers file, each provider's returns team as its contact.
pub fn write_csv(providers: &[Provider], path: &Path) -> anyhow::Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(crate::providers::CSV_COLUMNS)?;
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    for p in providers {
        w.write_record([
            p.code.as_str(),
            &p.name,
            p.kind.as_str(),
            &p.region,
            p.icb.as_deref().unwrap_or(""),
            p.local_authority.as_deref().unwrap_or(""),
            &date(p.opened_on),
            &date(p.closed_on),
            p.successor.as_ref().map_or("", |s| s.as_str()),
            &format!("returns@{}.example.nhs.uk", p.code.as_str().to_lowercase()),
        ])?;
    }
    w.flush()?;
    Ok(())
}
