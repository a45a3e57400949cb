//! Periods as the CLI, the API and the lake write them: `2026-11-24` (day), `2026-W48` (ISO
//! week), `2026-11` (month), `2026-27-Q1` (NHS financial quarter, April to June 2026) and
//! `2026-27` (financial year). Every form is safe in a path.

use std::fmt;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::Invalid;

/// The length of the period one submission covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Day,
    Week,
    Month,
    /// NHS financial quarter (April to June is Q1).
    Quarter,
    /// NHS financial year (April to March).
    Year,
}

impl PeriodKind {
    pub const ALL: [PeriodKind; 5] = [
        PeriodKind::Day,
        PeriodKind::Week,
        PeriodKind::Month,
        PeriodKind::Quarter,
        PeriodKind::Year,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Day => "day",
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Year => "year",
        }
    }

    pub fn adjective(self) -> &'static str {
        match self {
            PeriodKind::Day => "daily",
            PeriodKind::Week => "weekly",
            PeriodKind::Month => "monthly",
            PeriodKind::Quarter => "quarterly",
            PeriodKind::Year => "yearly",
        }
    }

    /// The most often a schedule may fire for this period: once a period, with room for a
    /// 53rd week or a leap day.
    pub fn most_fires_per_year(self) -> u32 {
        match self {
            PeriodKind::Day => 366,
            PeriodKind::Week => 53,
            PeriodKind::Month => 12,
            PeriodKind::Quarter => 4,
            PeriodKind::Year => 1,
        }
    }

    /// Whether figures for periods of this kind can be added up into periods of `coarser`.
    /// Days make anything; months make quarters and years; ISO weeks straddle months and
    /// financial years, so they make nothing but themselves.
    pub fn rolls_up_to(self, coarser: PeriodKind) -> bool {
        use PeriodKind::*;
        self == coarser
            || self == Day
            || (self == Month && matches!(coarser, Quarter | Year))
            || (self == Quarter && coarser == Year)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Period {
    Day(NaiveDate),
    /// ISO week-numbering year and week.
    Week {
        year: i32,
        week: u32,
    },
    Month {
        year: i32,
        month: u32,
    },
    /// `year` is the calendar year the financial year starts in; Q1 is April to June.
    Quarter {
        year: i32,
        quarter: u32,
    },
    /// April `year` to March `year + 1`.
    Year {
        year: i32,
    },
}

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// The financial year a date falls in, by the calendar year it starts in.
fn financial_year(d: NaiveDate) -> i32 {
    if d.month() >= 4 {
        d.year()
    } else {
        d.year() - 1
    }
}

impl Period {
    /// Reads any of the five forms.
    pub fn parse(s: &str) -> Result<Period, Invalid> {
        let bad = || {
            Invalid::new(
                "period",
                format!(
                    "\"{s}\" is not a period (2026-11-24, 2026-W48, 2026-11, 2026-27-Q1 or 2026-27)"
                ),
            )
        };
        let num = |t: &str| -> Result<u32, Invalid> {
            if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse().map_err(|_| bad())
        };
        let parts: Vec<&str> = s.split('-').collect();
        let year = |t: &str| -> Result<i32, Invalid> {
            if t.len() != 4 {
                return Err(bad());
            }
            Ok(num(t)? as i32)
        };
        let p = match parts.as_slice() {
            [y, d] if d.starts_with('W') => Period::Week {
                year: year(y)?,
                week: num(&d[1..])?,
            },
            [y, m] if m.len() == 2 && num(m)? <= 12 && num(m)? >= 1 => Period::Month {
                year: year(y)?,
                month: num(m)?,
            },
            [y, next] if next.len() == 2 => {
                let y = year(y)?;
                if num(next)? != ((y + 1) % 100) as u32 {
                    return Err(bad());
                }
                Period::Year { year: y }
            }
            [y, next, q] if next.len() == 2 && q.starts_with('Q') => {
                let y = year(y)?;
                if num(next)? != ((y + 1) % 100) as u32 {
                    return Err(bad());
                }
                Period::Quarter {
                    year: y,
                    quarter: num(&q[1..])?,
                }
            }
            [y, m, d] if m.len() == 2 && d.len() == 2 => {
                Period::Day(date(year(y)?, num(m)?, num(d)?).ok_or_else(bad)?)
            }
            _ => return Err(bad()),
        };
        // Round-trips only when every part is in range (week 53 only where it exists, Q1-Q4).
        if p.to_string() != s || p.start().is_none() {
            return Err(bad());
        }
        Ok(p)
    }

    pub fn kind(&self) -> PeriodKind {
        match self {
            Period::Day(_) => PeriodKind::Day,
            Period::Week { .. } => PeriodKind::Week,
            Period::Month { .. } => PeriodKind::Month,
            Period::Quarter { .. } => PeriodKind::Quarter,
            Period::Year { .. } => PeriodKind::Year,
        }
    }

    /// The period of `kind` that `day` falls in.
    pub fn containing(kind: PeriodKind, day: NaiveDate) -> Period {
        match kind {
            PeriodKind::Day => Period::Day(day),
            PeriodKind::Week => {
                let w = day.iso_week();
                Period::Week {
                    year: w.year(),
                    week: w.week(),
                }
            }
            PeriodKind::Month => Period::Month {
                year: day.year(),
                month: day.month(),
            },
            PeriodKind::Quarter => Period::Quarter {
                year: financial_year(day),
                quarter: (day.month() + 8) % 12 / 3 + 1,
            },
            PeriodKind::Year => Period::Year {
                year: financial_year(day),
            },
        }
    }

    /// The first day of the period, or `None` for one that does not exist (week 53 of a
    /// 52-week year, Q5).
    fn start(&self) -> Option<NaiveDate> {
        match *self {
            Period::Day(d) => Some(d),
            Period::Week { year, week } => {
                NaiveDate::from_isoywd_opt(year, week, chrono::Weekday::Mon)
            }
            Period::Month { year, month } => date(year, month, 1),
            Period::Quarter { year, quarter } if (1..=4).contains(&quarter) => {
                let month = 4 + (quarter - 1) * 3;
                if month > 12 {
                    date(year + 1, month - 12, 1)
                } else {
                    date(year, month, 1)
                }
            }
            Period::Quarter { .. } => None,
            Period::Year { year } => date(year, 4, 1),
        }
    }

    /// The first day of the period.
    pub fn first_day(&self) -> NaiveDate {
        self.start().expect("a parsed or computed period exists")
    }

    /// The day after the period's last day.
    pub fn end(&self) -> NaiveDate {
        let start = self.first_day();
        match self {
            Period::Day(_) => start + Duration::days(1),
            Period::Week { .. } => start + Duration::days(7),
            Period::Month { .. } => start + chrono::Months::new(1),
            Period::Quarter { .. } => start + chrono::Months::new(3),
            Period::Year { .. } => start + chrono::Months::new(12),
        }
    }

    /// The period just before this one.
    pub fn previous(&self) -> Period {
        Period::containing(self.kind(), self.first_day() - Duration::days(1))
    }

    pub fn next(&self) -> Period {
        Period::containing(self.kind(), self.end())
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Period::Week { year, week } => write!(f, "{year:04}-W{week:02}"),
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::Quarter { year, quarter } => {
                write!(f, "{year:04}-{:02}-Q{quarter}", (year + 1) % 100)
            }
            Period::Year { year } => write!(f, "{year:04}-{:02}", (year + 1) % 100),
        }
    }
}

impl TryFrom<String> for Period {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Period::parse(&s)
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.to_string()
    }
}

/// The periods of `kind` that lie inside `outer`.
pub fn periods_within(outer: &Period, kind: PeriodKind) -> Vec<Period> {
    let mut out = Vec::new();
    let mut day = outer.first_day();
    while day < outer.end() {
        let p = Period::containing(kind, day);
        if p.first_day() >= outer.first_day() && p.end() <= outer.end() {
            day = p.end();
            out.push(p);
        } else {
            day = p.end();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn every_form_round_trips() {
        for s in [
            "2026-11-24",
            "2026-W48",
            "2026-W01",
            "2026-11",
            "2026-27-Q1",
            "2026-27-Q4",
            "2026-27",
            "1999-00",
        ] {
            assert_eq!(Period::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_periods_are_refused() {
        for s in [
            "",
            "2026",
            "2026-13",
            "2026-00",
            "2026-02-30",
            "2026-W54",
            "2025-W53",
            "2026-28",
            "2026-27-Q5",
            "2026-27-Q0",
            "2026-1-5",
            "26-27",
            "2026-W4",
            "2026-11-24/..",
            "２０２６-11",
            "+026-11",
            "2026-27-q1",
        ] {
            assert!(Period::parse(s).is_err(), "{s:?} should be refused");
        }
        // 2026 has 53 ISO weeks; 2025 had 52.
        assert!(Period::parse("2026-W53").is_ok());
    }

    #[test]
    fn quarters_follow_the_nhs_financial_year() {
        let q = |s: &str| Period::containing(PeriodKind::Quarter, d(s)).to_string();
        assert_eq!(q("2026-04-01"), "2026-27-Q1");
        assert_eq!(q("2026-06-30"), "2026-27-Q1");
        assert_eq!(q("2026-07-01"), "2026-27-Q2");
        assert_eq!(q("2026-12-31"), "2026-27-Q3");
        assert_eq!(q("2027-01-01"), "2026-27-Q4");
        assert_eq!(q("2027-03-31"), "2026-27-Q4");
        let q4 = Period::parse("2026-27-Q4").unwrap();
        assert_eq!(
            (q4.first_day(), q4.end()),
            (d("2027-01-01"), d("2027-04-01"))
        );
        assert_eq!(
            Period::parse("2026-27-Q1").unwrap().previous().to_string(),
            "2025-26-Q4"
        );
        let y = Period::containing(PeriodKind::Year, d("2027-03-31"));
        assert_eq!(
            (y.to_string(), y.end()),
            ("2026-27".to_string(), d("2027-04-01"))
        );
    }

    #[test]
    fn weeks_are_iso_weeks() {
        let w = Period::containing(PeriodKind::Week, d("2026-11-25"));
        assert_eq!(w.to_string(), "2026-W48");
        assert_eq!((w.first_day(), w.end()), (d("2026-11-23"), d("2026-11-30")));
        // 1 January 2027 is a Friday in ISO week 53 of 2026.
        assert_eq!(
            Period::containing(PeriodKind::Week, d("2027-01-01")).to_string(),
            "2026-W53"
        );
        assert_eq!(
            Period::parse("2027-W01").unwrap().previous().to_string(),
            "2026-W53"
        );
    }

    #[test]
    fn periods_roll_up_only_where_they_nest() {
        use PeriodKind::*;
        assert!(Day.rolls_up_to(Quarter));
        assert!(Month.rolls_up_to(Year));
        assert!(!Week.rolls_up_to(Month));
        assert!(!Month.rolls_up_to(Week));
        assert!(!Quarter.rolls_up_to(Month));
    }
}
