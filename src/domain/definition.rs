//! What a collection is: the typed definition read from `collections/<slug>.toml`.
//!
//! Every type here is built by `load.rs` from checked input, so code that holds a
//! `CollectionDef` never re-validates it. Definitions are stored as JSON in the registry
//! (one row per version), which is why they derive `Serialize`/`Deserialize`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::provider::ProviderKind;
use crate::domain::{Invalid, PeriodKind};

/// The longest licence DAP may grant, in months (DESIGN.md rule 6).
pub const MAX_LICENCE_MONTHS: u32 = 36;

/// How many days' notice providers get before a new collection is owed, unless its
/// definition says otherwise (DESIGN.md: effective date and notice).
pub const DEFAULT_NOTICE_DAYS: u32 = 56;

/// The most notice a definition may ask for: a year. More is a typing slip.
pub const MAX_NOTICE_DAYS: u32 = 366;

/// A collection's slug: lower-case letters, digits and single hyphens, 3 to 64 characters.
/// Slugs appear in paths, URLs and the lake, so nothing else is allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(s: &str) -> Result<Slug, Invalid> {
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !(3..=64).contains(&s.len()) {
            return Err(Invalid::new(
                "slug",
                format!("\"{s}\" must be 3 to 64 characters long"),
            ));
        }
        if !ok_chars || s.starts_with('-') || s.ends_with('-') || s.contains("--") {
            return Err(Invalid::new(
                "slug",
                format!(
                    "\"{s}\" may hold only lower-case letters, digits and single hyphens, and must not start or end with a hyphen"
                ),
            ));
        }
        Ok(Slug(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Slug::parse(&s)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> String {
        s.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One licensed collection, as its owner defined it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionDef {
    pub slug: Slug,
    pub title: String,
    pub sponsor: String,
    pub legal_basis: String,
    pub purpose: String,
    pub licence_term_months: u32,
    /// The least time between DAP listing the collection and its first period being owed.
    /// DAP may set a later effective date, or an earlier one with a written override.
    #[serde(default = "default_notice_days")]
    pub notice_days: u32,
    pub respondents: Respondents,
    pub capture: Capture,
    pub frequency: Frequency,
    /// How long after the end of a period the submission is due.
    pub deadline: Lag,
    /// How long after the deadline late data is still accepted as an amendment.
    pub amendment_window: Lag,
    pub grain: Grain,
    /// Names of the items that break the measures down (sector, age group, bed class…).
    pub dimensions: Vec<String>,
    /// Names of the items that together are unique within one extract.
    pub key: Vec<String>,
    pub items: Vec<DataItem>,
    pub rules: Vec<RowRule>,
    /// What happens to an extract with rows that fail a check.
    #[serde(default)]
    pub bad_rows: BadRows,
    /// A provider may declare a period a nil return: nothing to report (no incidents, no
    /// patients of the kind asked about). It counts as received, with no rows.
    #[serde(default)]
    pub nil_return: bool,
    pub burden: BurdenEstimate,
    /// Listed collections this one replaces; listing it retires them (one in, one out).
    pub retires: Vec<Slug>,
    /// When a figure is too far from the provider's own recent figures to publish unasked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plausibility: Option<Plausibility>,
}

fn default_notice_days() -> u32 {
    DEFAULT_NOTICE_DAYS
}

impl CollectionDef {
    pub fn item(&self, name: &str) -> Option<&DataItem> {
        self.items.iter().find(|i| i.name == name)
    }

    /// The item that says which day a row describes: the one date among the key's items,
    /// when there is exactly one. Its date must fall inside the period an extract is for.
    pub fn period_item(&self) -> Option<&DataItem> {
        let mut dates = self
            .key
            .iter()
            .filter_map(|k| self.item(k))
            .filter(|i| i.ty == ItemType::Date);
        let first = dates.next()?;
        dates.next().is_none().then_some(first)
    }

    /// Items that carry figures rather than identify or break down a row.
    pub fn measures(&self) -> impl Iterator<Item = &DataItem> {
        self.items
            .iter()
            .filter(|i| !self.key.contains(&i.name) && !self.dimensions.contains(&i.name))
            .filter(|i| i.concept.is_some() || i.measure.is_some())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Respondents {
    /// Kinds of provider that must respond.
    pub kinds: Vec<ProviderKind>,
    /// How many respond, used for burden while the provider registry holds none of these kinds.
    pub estimated: u32,
}

/// The collection's policy for rows that fail a check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRows {
    /// Land the valid rows and keep the others in quarantine, with line, item and reason,
    /// for the provider to correct.
    #[default]
    Quarantine,
    /// Land nothing if any row fails: for returns that only make sense whole.
    Reject,
}

impl BadRows {
    pub fn as_str(self) -> &'static str {
        match self {
            BadRows::Quarantine => "quarantine",
            BadRows::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Capture {
    /// Staff fill in a form.
    Manual,
    /// Tally pulls an extract from the provider's system; staff only sign it off.
    Automated,
}

impl Capture {
    pub fn as_str(self) -> &'static str {
        match self {
            Capture::Manual => "manual",
            Capture::Automated => "automated",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frequency {
    /// Cron expression, read in `timezone`; checked with croner at load.
    pub cron: String,
    pub timezone: chrono_tz::Tz,
    pub period: PeriodKind,
}

impl Frequency {
    /// How many times the schedule fires in one financial year (April 2026 to March 2027,
    /// in its timezone), counting no further than `limit`. Each fire is one submission, so
    /// this, not the period length, is what burden counts: a weekday-only daily pull is
    /// signed off 261 times a year, not 365.
    pub fn fires_per_year(&self, limit: u32) -> u32 {
        // Walking a year of fires takes a cron library tens of microseconds, and the burden
        // accounts ask for every listing on every day they replay: each answer is kept.
        static KEPT: crate::kept::Kept<(String, &'static str, u32), u32> = crate::kept::Kept::new();
        KEPT.get((self.cron.clone(), self.timezone.name(), limit), |_| {
            self.count_fires(limit)
        })
    }

    fn count_fires(&self, limit: u32) -> u32 {
        use chrono::TimeZone;
        let Ok(cron) = croner::Cron::from_str(&self.cron) else {
            return 0;
        };
        let (Some(start), Some(end)) = (
            self.timezone.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).single(),
            self.timezone.with_ymd_and_hms(2027, 4, 1, 0, 0, 0).single(),
        ) else {
            return 0;
        };
        // From just before the start, so that a fire at midnight on 1 April counts.
        let from = start - chrono::Duration::seconds(1);
        cron.iter_after(from)
            .take_while(|t| *t < end)
            .take(limit as usize)
            .count() as u32
    }

    /// Submissions a year: fires a year, which the loader has checked fit the period.
    pub fn submissions_per_year(&self) -> f64 {
        f64::from(self.fires_per_year(self.period.most_fires_per_year()))
    }
}

/// What one row of a collection describes, finest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    Patient,
    Ward,
    Site,
    Provider,
    LocalAuthority,
    Icb,
    Region,
    National,
}

impl Grain {
    pub const ALL: [Grain; 8] = [
        Grain::Patient,
        Grain::Ward,
        Grain::Site,
        Grain::Provider,
        Grain::LocalAuthority,
        Grain::Icb,
        Grain::Region,
        Grain::National,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Patient => "patient",
            Grain::Ward => "ward",
            Grain::Site => "site",
            Grain::Provider => "provider",
            Grain::LocalAuthority => "local_authority",
            Grain::Icb => "icb",
            Grain::Region => "region",
            Grain::National => "national",
        }
    }

    /// Whether rows at this grain can be added up to `coarser`. Every provider belongs to one
    /// local authority, ICB and region, so anything at provider level or finer rolls up to
    /// all three; a local authority does not sit inside one ICB, nor an ICB in one authority.
    pub fn rolls_up_to(self, coarser: Grain) -> bool {
        use Grain::*;
        match (self, coarser) {
            (a, b) if a == b => true,
            (LocalAuthority, Icb) | (Icb, LocalAuthority) => false,
            (a, b) => a < b,
        }
    }
}

/// A duration after a point in the timetable, written `26h` or `5d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lag {
    pub hours: u32,
}

impl Lag {
    pub fn parse(s: &str) -> Result<Lag, Invalid> {
        let s = s.trim();
        let not_a_lag = || {
            Invalid::new(
                "duration",
                format!("\"{s}\" is not a duration like \"26h\" or \"5d\""),
            )
        };
        let (digits, per_unit) = match (s.strip_suffix('h'), s.strip_suffix('d')) {
            (Some(d), _) => (d, 1),
            (_, Some(d)) => (d, 24),
            _ => return Err(not_a_lag()),
        };
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(not_a_lag());
        }
        let n: u32 = digits.parse().map_err(|_| not_a_lag())?;
        let hours = n.checked_mul(per_unit);
        match hours {
            Some(hours) if hours <= 24 * 366 => Ok(Lag { hours }),
            _ => Err(Invalid::new(
                "duration",
                format!("\"{s}\" is longer than a year"),
            )),
        }
    }

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.hours))
    }
}

impl TryFrom<String> for Lag {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Lag::parse(&s)
    }
}

impl From<Lag> for String {
    fn from(l: Lag) -> String {
        l.to_string()
    }
}

impl fmt::Display for Lag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hours.is_multiple_of(24) && self.hours > 0 {
            write!(f, "{}d", self.hours / 24)
        } else {
            write!(f, "{}h", self.hours)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataItem {
    pub name: String,
    pub ty: ItemType,
    pub required: bool,
    pub description: String,
    /// The NHS Data Dictionary element this item records, where one exists.
    pub dd_element: Option<String>,
    /// What a measure measures (`beds.occupied`), so that derivability can be decided;
    /// `new:…` for a concept no listed collection names yet.
    pub concept: Option<String>,
    /// Why a `new:` concept is needed, in the proposer's words: DAP reads it beside the
    /// findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    pub measure: Option<MeasureKind>,
    /// Fixed dimension values a wide form bakes into one measure
    /// (`sector = "general_acute"` on `ga_adult_core_available`).
    pub breakdown: BTreeMap<String, String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<String>,
}

impl DataItem {
    /// The concept this item claims is new (`new:…`), if it does.
    pub fn new_concept(&self) -> Option<&str> {
        self.concept.as_deref()?.strip_prefix("new:")
    }

    /// Lower-case letters and digits only, so `Occupied Beds` and `occupied_beds` match.
    pub fn normalised_name(&self) -> String {
        self.name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "codes", rename_all = "snake_case")]
pub enum ItemType {
    Integer,
    Decimal,
    String,
    Date,
    Timestamp,
    Bool,
    Code(Vec<String>),
}

impl ItemType {
    pub const NAMES: [&'static str; 7] = [
        "integer",
        "decimal",
        "string",
        "date",
        "timestamp",
        "code",
        "bool",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            ItemType::Integer => "integer",
            ItemType::Decimal => "decimal",
            ItemType::String => "string",
            ItemType::Date => "date",
            ItemType::Timestamp => "timestamp",
            ItemType::Bool => "bool",
            ItemType::Code(_) => "code",
        }
    }

    pub fn is_numeric(&self) -> bool {
        matches!(self, ItemType::Integer | ItemType::Decimal)
    }
}

/// Whether a count counts people (and so is subject to disclosure control) or things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    Person,
    NonPerson,
}

/// A condition every row must meet, written as a SQL boolean expression over item names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowRule {
    pub name: String,
    pub check: String,
}

/// How far a figure may stray from the same figure in the provider's own recent periods
/// before it is held for the provider to confirm: a robust z-score (distance from the
/// median over the median absolute deviation) above `threshold`, or, with `zero`, a figure
/// of 0 where every comparable period had more (and at least three spreads more).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Plausibility {
    pub threshold: f64,
    /// How many comparable periods the baseline looks back over: the same weekday in each
    /// earlier week for daily data, the periods before for any other.
    pub periods: u32,
    pub zero: bool,
}

impl Plausibility {
    /// Fewer comparable periods than this make no baseline: nothing is held.
    pub const LEAST_PERIODS: u32 = 4;
    pub const MOST_PERIODS: u32 = 52;
    pub const DEFAULT_PERIODS: u32 = 8;
}

/// Staff minutes for one submission by one respondent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurdenEstimate {
    /// Filling in the return by hand.
    pub manual_minutes: f64,
    /// Signing off an automated pull.
    pub automated_minutes: f64,
    /// Declaring a nil return, when the listing says; otherwise a sign-off's minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nil_minutes: Option<f64>,
    /// Fixing a submission that validation rejected and sending it again, when the listing
    /// says; otherwise as long as filling it in by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix_minutes: Option<f64>,
    /// Whose time it is (`bed_manager`, `care_home_manager`…): the settings price an hour
    /// of each group; none is priced at the settings' `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_group: Option<String>,
}

impl BurdenEstimate {
    /// Declaring a period a nil return: one look and one confirmation, like a sign-off,
    /// unless the listing estimates it.
    pub fn nil_minutes(&self) -> f64 {
        self.nil_minutes.unwrap_or(self.automated_minutes)
    }

    /// Fixing a rejected submission: finding what was wrong and sending it again, as long
    /// as filling it in by hand unless the listing estimates it.
    pub fn fix_minutes(&self) -> f64 {
        self.fix_minutes.unwrap_or(self.manual_minutes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_path_safe() {
        assert!(Slug::parse("ward-bed-census").is_ok());
        assert!(Slug::parse("kh03-manual").is_ok());
        for bad in [
            "", "ab", "Ward", "a b c", "-abc", "abc-", "a--b", "a/b/c", "../etc",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn lags_read_hours_and_days() {
        assert_eq!(Lag::parse("26h").unwrap().hours, 26);
        assert_eq!(Lag::parse("5d").unwrap().hours, 120);
        assert_eq!(Lag::parse("5d").unwrap().to_string(), "5d");
        assert_eq!(Lag::parse("0h").unwrap().to_string(), "0h");
        for bad in [
            "",
            "d",
            "5",
            "5w",
            "-1d",
            "+1d",
            "400d",
            "99999999999d",
            "5日",
            "26h\u{201d}",
            "é",
        ] {
            assert!(Lag::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn grains_roll_up_to_coarser_areas() {
        use Grain::*;
        assert!(Ward.rolls_up_to(Provider));
        assert!(Provider.rolls_up_to(LocalAuthority));
        assert!(Provider.rolls_up_to(Icb));
        assert!(!LocalAuthority.rolls_up_to(Icb));
        assert!(!Provider.rolls_up_to(Ward));
        assert!(Region.rolls_up_to(National));
    }
}
