//! Organisations that must report, read from a CSV, and what they owe.
//!
//! Obligations follow open and close dates so that a closed provider is never counted as
//! missing, and a new one owes nothing before it opened.

use std::fmt;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::Problem;

/// Kinds of provider a collection can ask to respond.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    AcuteTrust,
    MentalHealthTrust,
    CommunityTrust,
    AmbulanceTrust,
    CareHome,
    GpPractice,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::AcuteTrust,
        ProviderKind::MentalHealthTrust,
        ProviderKind::CommunityTrust,
        ProviderKind::AmbulanceTrust,
        ProviderKind::CareHome,
        ProviderKind::GpPractice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::AcuteTrust => "acute_trust",
            ProviderKind::MentalHealthTrust => "mental_health_trust",
            ProviderKind::CommunityTrust => "community_trust",
            ProviderKind::AmbulanceTrust => "ambulance_trust",
            ProviderKind::CareHome => "care_home",
            ProviderKind::GpPractice => "gp_practice",
        }
    }

    pub fn parse(s: &str) -> Result<ProviderKind, String> {
        ProviderKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown provider kind \"{s}\" (expected one of: {})",
                    known.join(", ")
                )
            })
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ODS code (`RXX`, `R0A`) or CQC location id (`1-123456789`): upper-case letters, digits
/// and hyphens, 3 to 16 characters. Codes appear in paths and URLs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderCode(String);

impl ProviderCode {
    pub fn parse(s: &str) -> Result<ProviderCode, String> {
        let ok = (3..=16).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-');
        if ok {
            Ok(ProviderCode(s.to_owned()))
        } else {
            Err(format!(
                "\"{s}\" is not an ODS code or CQC location id (3 to 16 upper-case letters, digits or hyphens)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ProviderCode::parse(&s)
    }
}

impl From<ProviderCode> for String {
    fn from(c: ProviderCode) -> String {
        c.0
    }
}

impl fmt::Display for ProviderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Provider {
    /// ODS code or CQC location id.
    #[schema(value_type = String)]
    pub code: ProviderCode,
    pub name: String,
    pub kind: ProviderKind,
    pub region: String,
    pub icb: Option<String>,
    pub local_authority: Option<String>,
    pub opened_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    #[schema(value_type = Option<String>)]
    pub successor: Option<ProviderCode>,
}

impl Provider {
    /// Open on `day`: opened on or before it, and not closed on or before it.
    pub fn is_open_on(&self, day: NaiveDate) -> bool {
        self.opened_on.is_none_or(|o| o <= day) && self.closed_on.is_none_or(|c| c > day)
    }
}

/// The columns a provider CSV has, in any order; the last four may be empty.
pub const CSV_COLUMNS: [&str; 9] = [
    "code",
    "name",
    "kind",
    "region",
    "icb",
    "local_authority",
    "opened_on",
    "closed_on",
    "successor",
];

/// Reads a provider CSV, reporting every bad row at once. Nothing is returned unless the
/// whole file is good, so an import never half-happens.
pub fn read_csv(path: &Path) -> Result<Vec<Provider>, Vec<Problem>> {
    let file = path.display().to_string();
    let problem = |field: String, reason: String| Problem {
        file: file.clone(),
        field,
        reason,
    };
    let mut reader = match csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
    {
        Ok(r) => r,
        Err(e) => return Err(vec![problem("file".into(), e.to_string())]),
    };
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![problem("header".into(), e.to_string())]),
    };
    let mut problems = Vec::new();
    let column = |name: &str| headers.iter().position(|h| h == name);
    for required in ["code", "name", "kind", "region"] {
        if column(required).is_none() {
            problems.push(problem(
                "header".into(),
                format!(
                    "missing column \"{required}\" (columns are: {})",
                    CSV_COLUMNS.join(", ")
                ),
            ));
        }
    }
    for h in headers.iter() {
        if !CSV_COLUMNS.contains(&h) {
            problems.push(problem("header".into(), format!("unknown column \"{h}\"")));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut providers: Vec<Provider> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Line 1 is the header.
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(format!("line {line}"), e.to_string()));
                continue;
            }
        };
        let get = |name: &str| {
            column(name)
                .and_then(|c| record.get(c))
                .filter(|v| !v.is_empty())
        };
        let mut at = |name: &str, reason: String| {
            problems.push(problem(format!("line {line}: {name}"), reason));
        };
        let text = |s: &str| Ok(s.to_owned());
        let code = cell(get("code"), true, ProviderCode::parse)
            .map_err(|e| at("code", e))
            .ok()
            .flatten();
        let name = cell(get("name"), true, text)
            .map_err(|e| at("name", e))
            .ok()
            .flatten();
        let kind = cell(get("kind"), true, ProviderKind::parse)
            .map_err(|e| at("kind", e))
            .ok()
            .flatten();
        let region = cell(get("region"), true, text)
            .map_err(|e| at("region", e))
            .ok()
            .flatten();
        let opened_on = cell(get("opened_on"), false, date)
            .map_err(|e| at("opened_on", e))
            .ok()
            .flatten();
        let closed_on = cell(get("closed_on"), false, date)
            .map_err(|e| at("closed_on", e))
            .ok()
            .flatten();
        if let (Some(o), Some(c)) = (opened_on, closed_on)
            && c <= o
        {
            at("closed_on", format!("{c} is not after opened_on {o}"));
        }
        let successor = cell(get("successor"), false, ProviderCode::parse)
            .map_err(|e| at("successor", e))
            .ok()
            .flatten();
        if let (Some(code), Some(next)) = (&code, &successor) {
            if code == next {
                at("successor", format!("{code} cannot succeed itself"));
            } else if closed_on.is_none() {
                at(
                    "successor",
                    format!("{next} is given, but {code} has no closed_on date"),
                );
            }
        }
        if let Some(code) = &code
            && providers.iter().any(|p| &p.code == code)
        {
            at("code", format!("{code} appears more than once"));
        }
        if let (Some(code), Some(name), Some(kind), Some(region)) = (code, name, kind, region) {
            providers.push(Provider {
                code,
                name,
                kind,
                region,
                icb: get("icb").map(str::to_owned),
                local_authority: get("local_authority").map(str::to_owned),
                opened_on,
                closed_on,
                successor,
            });
        }
    }
    if problems.is_empty() {
        Ok(providers)
    } else {
        Err(problems)
    }
}

/// Reads one CSV cell: `Ok(None)` when it is empty and may be.
fn cell<T>(
    value: Option<&str>,
    required: bool,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    match value {
        Some(v) => parse(v).map(Some),
        None if required => Err("is empty".into()),
        None => Ok(None),
    }
}

fn date(v: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| format!("\"{v}\" is not a date like 2026-04-01"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_accept_ods_and_cqc_forms() {
        assert!(ProviderCode::parse("RXX").is_ok());
        assert!(ProviderCode::parse("1-123456789").is_ok());
        for bad in ["rxx", "R", "R X", "-12", "R/../X"] {
            assert!(
                ProviderCode::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn open_dates_bound_obligations() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let p = Provider {
            code: ProviderCode::parse("RXX").unwrap(),
            name: "Test".into(),
            kind: ProviderKind::AcuteTrust,
            region: "London".into(),
            icb: None,
            local_authority: None,
            opened_on: Some(d("2026-04-01")),
            closed_on: Some(d("2026-10-01")),
            successor: None,
        };
        assert!(!p.is_open_on(d("2026-03-31")));
        assert!(p.is_open_on(d("2026-04-01")));
        assert!(p.is_open_on(d("2026-09-30")));
        assert!(!p.is_open_on(d("2026-10-01")));
    }
}
