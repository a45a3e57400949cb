//! What the synthetic providers hold and report: each trust's sites and wards, each care
//! home's beds, the figures for any day, how each one's system reaches Tally and its habits
//! (late, down some days, bad rows, unlisted columns, amendments; played out in `plans`).
//! Every figure is a pure function of (seed, provider, day), so the same seed gives the same
//! extracts, whatever window the demo plays and in whatever order it asks.

use chrono::{Datelike, NaiveDate, Weekday};

use crate::domain::provider::{Provider, ProviderKind};

/// splitmix64: small, fast and the same on every machine, which is all the demo needs.
pub struct Rng(u64);

impl Rng {
    /// A generator for one purpose (`salt`) of one provider on one day.
    pub fn for_(seed: u64, code: &str, day: i64, salt: u64) -> Rng {
        let mut h = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for b in code.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
        let mut r = Rng(h ^ (day as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
        r.next();
        r
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// How a provider's system reaches Tally: the same connectors as in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Files dropped in a folder (the `file` connector).
    Drop,
    /// An HTTP endpoint, served by the demo on loopback (the `http` connector), as CSV or JSON.
    Http { json: bool },
    /// The provider's own SQLite database, queried by the `sql` connector.
    Sqlite,
    /// No system: the manager uploads the return by hand on the provider's page, after
    /// Tally's reminder (a `by_hand` line in the sources file).
    ByHand,
}

impl Feed {
    pub fn name(self) -> &'static str {
        match self {
            Feed::Drop => "file drop",
            Feed::Http { .. } => "HTTP",
            Feed::Sqlite => "SQLite database",
            Feed::ByHand => "hand (no system)",
        }
    }
}

/// A provider's habits: most have none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Habits {
    /// Its extract often arrives after the pull, sometimes after the deadline.
    pub late: bool,
    /// Its system is down for a day or three now and then.
    pub flaky: bool,
    /// Some rows break the collection's rules.
    pub bad_rows: bool,
    /// Its extract carries a column that is not a listed item.
    pub extra_column: bool,
    /// It sometimes sends a wrong figure and uploads a correction a few days later.
    pub amends: bool,
    /// It sometimes drops an extract Tally cannot read (semicolons), then a good one.
    pub broken: bool,
    /// It never sends anything (care homes only).
    pub silent: bool,
}

impl Habits {
    pub fn describe(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let flags = [
            (self.late, "late"),
            (self.flaky, "source down some days"),
            (self.bad_rows, "bad rows"),
            (self.extra_column, "unlisted column"),
            (self.amends, "amends"),
            (self.broken, "unreadable extracts"),
            (self.silent, "never sends"),
        ];
        for (on, what) in flags {
            if on {
                out.push(what);
            }
        }
        out
    }
}

/// One ward's row in the census: everything but the day and the counts.
#[derive(Debug, Clone)]
pub struct Ward {
    pub site: String,
    pub code: String,
    pub sector: &'static str,
    pub stay: &'static str,
    pub age_group: &'static str,
    pub bed_class: &'static str,
    pub care_type: &'static str,
    pub beds: u32,
}

#[derive(Debug, Clone)]
pub struct Trust {
    pub code: String,
    pub feed: Feed,
    pub habits: Habits,
    pub wards: Vec<Ward>,
    /// The trust's usual general and acute occupancy.
    pub occupancy: f64,
}

#[derive(Debug, Clone)]
pub struct Home {
    pub code: String,
    pub feed: Feed,
    pub habits: Habits,
    pub capacity: u32,
    pub occupancy: f64,
}

/// Deals a share of `n` providers (at least one, if any is eligible) out by a draw from the
/// seed: the chosen indices. Drawn by rank rather than by a coin each, so that a small demo
/// world still has a provider with every habit and every kind of source.
pub fn deal(
    seed: u64,
    codes: &[&str],
    salt: u64,
    share: f64,
    eligible: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut ranked: Vec<(u64, usize)> = (0..codes.len())
        .filter(|&i| eligible(i))
        .map(|i| (Rng::for_(seed, codes[i], 0, salt).next(), i))
        .collect();
    ranked.sort();
    let n = ((codes.len() as f64 * share).round() as usize).max(1);
    ranked.into_iter().take(n).map(|(_, i)| i).collect()
}

/// A kind of ward a trust has: how many (at least, at most), and how many beds each.
struct WardKind {
    prefix: &'static str,
    count: (u32, u32),
    sector: &'static str,
    stay: &'static str,
    age_group: &'static str,
    bed_class: &'static str,
    care_type: &'static str,
    beds: (u32, u32),
}

#[rustfmt::skip]
const fn kind(
    prefix: &'static str,
    count: (u32, u32),
    (sector, stay, age_group, bed_class, care_type): (&'static str, &'static str, &'static str, &'static str, &'static str),
    beds: (u32, u32),
) -> WardKind {
    WardKind { prefix, count, sector, stay, age_group, bed_class, care_type, beds }
}

#[rustfmt::skip]
const ACUTE_WARDS: [WardKind; 7] = [
    kind("GA", (14, 48), ("general_acute", "overnight", "adult", "core", "general"), (20, 32)),
    kind("PA", (2, 5), ("general_acute", "overnight", "paediatric", "core", "general"), (10, 24)),
    kind("ES", (1, 4), ("general_acute", "overnight", "adult", "escalation", "general"), (6, 16)),
    kind("PE", (1, 1), ("general_acute", "overnight", "paediatric", "escalation", "general"), (4, 8)),
    kind("CC", (1, 2), ("general_acute", "overnight", "adult", "core", "critical_care"), (8, 24)),
    kind("MA", (1, 3), ("maternity", "overnight", "adult", "core", "general"), (12, 30)),
    kind("DC", (1, 3), ("general_acute", "day_only", "adult", "core", "general"), (10, 24)),
];

#[rustfmt::skip]
const MENTAL_HEALTH_WARDS: [WardKind; 3] = [
    kind("MH", (8, 22), ("mental_illness", "overnight", "adult", "core", "general"), (12, 22)),
    kind("LD", (1, 3), ("learning_disabilities", "overnight", "adult", "core", "general"), (6, 12)),
    kind("CA", (0, 2), ("mental_illness", "overnight", "paediatric", "core", "general"), (8, 14)),
];

/// The census items, in the order the extracts carry them.
pub const CENSUS_COLUMNS: [&str; 10] = [
    "census_date",
    "site_code",
    "ward_code",
    "sector",
    "stay",
    "age_group",
    "bed_class",
    "care_type",
    "available_beds",
    "occupied_beds",
];

pub const HOME_COLUMNS: [&str; 5] = [
    "snapshot_date",
    "max_capacity",
    "occupied_beds",
    "vacant_reserved",
    "vacant_accepting",
];

/// The column a careless extract adds: a person's name, which Tally must never keep.
pub const EXTRA_COLUMN: &str = "ward_manager";

/// One row of a census extract: the ward, its day's counts, and the unlisted column.
#[derive(Debug, Clone, PartialEq)]
pub struct CensusRow {
    pub day: NaiveDate,
    pub ward: usize,
    pub available: u32,
    pub occupied: u32,
}

/// How busy hospitals are on a day: fuller in winter, a little emptier at weekends.
fn season(day: NaiveDate) -> f64 {
    let winter = match day.month() {
        12 | 1 | 2 => 0.05,
        11 | 3 => 0.03,
        10 | 4 => 0.01,
        _ => -0.01,
    };
    let weekend = match day.weekday() {
        Weekday::Sat | Weekday::Sun => -0.025,
        Weekday::Fri => -0.01,
        _ => 0.0,
    };
    winter + weekend
}

pub fn day_number(day: NaiveDate) -> i64 {
    i64::from(day.num_days_from_ce())
}

const SALT_ESTATE: u64 = 1;
const SALT_FIGURES: u64 = 2;

impl Trust {
    /// The trust's sites and wards from the seed; its feed and habits are dealt out across
    /// the world (`World::new`), so that even a small one has one of each.
    pub fn new(seed: u64, p: &Provider) -> Trust {
        let code = p.code.as_str().to_owned();
        let mut r = Rng::for_(seed, &code, 0, SALT_ESTATE);
        let sites = r.range(1, 3) as usize;
        let kinds = if p.kind == ProviderKind::MentalHealthTrust {
            &MENTAL_HEALTH_WARDS[..]
        } else {
            &ACUTE_WARDS[..]
        };
        let mut wards = Vec::new();
        for k in kinds {
            for i in 0..r.range(k.count.0, k.count.1) {
                wards.push(Ward {
                    site: format!("{code}{:02}", r.next() as usize % sites + 1),
                    code: format!("{}{:02}", k.prefix, i + 1),
                    sector: k.sector,
                    stay: k.stay,
                    age_group: k.age_group,
                    bed_class: k.bed_class,
                    care_type: k.care_type,
                    beds: r.range(k.beds.0, k.beds.1),
                });
            }
        }
        let occupancy = 0.86 + r.unit() * 0.08;
        Trust {
            code,
            feed: Feed::Drop,
            habits: Habits::default(),
            wards,
            occupancy,
        }
    }

    /// A trust formed by a merger takes over its predecessors' wards, under its own site codes.
    pub fn merged(into: Trust, from: &[&Trust]) -> Trust {
        let mut wards = Vec::new();
        for (n, t) in from.iter().enumerate() {
            for w in &t.wards {
                let site = format!("{}{}{}", into.code, n + 1, &w.site[w.site.len() - 1..]);
                wards.push(Ward { site, ..w.clone() });
            }
        }
        Trust { wards, ..into }
    }

    /// The day's counts for every ward, as they really were (before any mistake).
    pub fn census(&self, seed: u64, day: NaiveDate) -> Vec<CensusRow> {
        let mut r = Rng::for_(seed, &self.code, day_number(day), SALT_FIGURES);
        let busy = self.occupancy + season(day);
        self.wards
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let available = match (w.bed_class, w.stay) {
                    // Escalation beds open when the hospital is full: more in winter.
                    ("escalation", _) => {
                        let open = ((busy - 0.84) * 8.0).clamp(0.0, 1.0);
                        (f64::from(w.beds) * open * (0.6 + 0.4 * r.unit())).round() as u32
                    }
                    (_, "day_only") => {
                        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                            0
                        } else {
                            w.beds
                        }
                    }
                    // A bed or two closed now and then, for cleaning or staff.
                    _ => w.beds.saturating_sub(r.range(0, 2)),
                };
                let rate = match (w.care_type, w.sector) {
                    ("critical_care", _) => busy - 0.08,
                    (_, "maternity") => busy - 0.20,
                    (_, "mental_illness" | "learning_disabilities") => busy + 0.02,
                    _ => busy,
                } + (r.unit() - 0.5) * 0.10;
                let occupied = (f64::from(available) * rate.clamp(0.0, 1.0)).round() as u32;
                CensusRow {
                    day,
                    ward: i,
                    available,
                    occupied: occupied.min(available),
                }
            })
            .collect()
    }
}

impl Home {
    /// The home's beds from the seed; feed and habits are dealt out by `World::new`.
    pub fn new(seed: u64, code: &str) -> Home {
        let mut r = Rng::for_(seed, code, 0, SALT_ESTATE);
        // Most homes are small; a few are large nursing homes.
        let capacity = if r.chance(0.15) {
            r.range(60, 140)
        } else {
            r.range(8, 59)
        };
        Home {
            code: code.to_owned(),
            feed: Feed::Drop,
            habits: Habits::default(),
            capacity,
            occupancy: 0.80 + r.unit() * 0.15,
        }
    }

    /// The month's snapshot (taken on its last day): capacity, occupied, reserved, accepting.
    pub fn snapshot(&self, seed: u64, last_day: NaiveDate) -> [u32; 4] {
        let mut r = Rng::for_(seed, &self.code, day_number(last_day), SALT_FIGURES);
        let rate = (self.occupancy + season(last_day) + (r.unit() - 0.5) * 0.08).clamp(0.3, 1.0);
        let occupied = (f64::from(self.capacity) * rate).round() as u32;
        let vacant = self.capacity - occupied.min(self.capacity);
        let reserved = vacant.min(r.range(0, 2));
        // Not every empty bed can take someone today: staffing, or a room being refitted.
        let accepting = (vacant - reserved).saturating_sub(r.range(0, 1));
        [self.capacity, occupied, reserved, accepting]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(seed: u64) -> Trust {
        let p = Provider {
            code: crate::domain::provider::ProviderCode::parse("RXA").unwrap(),
            name: "Test".into(),
            kind: ProviderKind::AcuteTrust,
            region: "London".into(),
            icb: None,
            local_authority: None,
            opened_on: None,
            closed_on: None,
            successor: None,
        };
        Trust::new(seed, &p)
    }

    #[test]
    fn the_same_seed_gives_the_same_figures() {
        let day = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        assert_eq!(trust(7).census(7, day), trust(7).census(7, day));
        assert_ne!(trust(7).census(7, day), trust(8).census(8, day));
    }

    #[test]
    fn figures_keep_the_collections_rules() {
        let t = trust(3);
        for d in 0..400 {
            let day = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap() + chrono::Days::new(d);
            for row in t.census(3, day) {
                assert!(row.occupied <= row.available);
                assert!(row.available <= 500);
            }
        }
        let h = Home::new(3, "1-100000001");
        let s = h.snapshot(3, NaiveDate::from_ymd_opt(2026, 7, 31).unwrap());
        assert!(s[1] + s[2] + s[3] <= s[0]);
    }

    #[test]
    fn winter_is_busier_than_summer() {
        let t = trust(5);
        let total = |m: u32| -> u32 {
            (1..=28)
                .flat_map(|d| t.census(5, NaiveDate::from_ymd_opt(2026, m, d).unwrap()))
                .map(|r| r.occupied)
                .sum()
        };
        assert!(total(1) > total(7));
    }
}
