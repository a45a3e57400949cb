//! Organisations that must report, read from a CSV, and what they owe.
//!
//! Obligations follow open and close dates so that a closed provider is never counted as
//! missing, and a new one owes nothing before it opened.

use std::path::Path;

use chrono::NaiveDate;

use crate::domain::provider::{Provider, ProviderCode, ProviderKind};
use crate::domain::{Invalid, Problem};

/// The columns a provider CSV has, in any order; all but the first four may be empty or
/// left out. `contacts` holds the addresses Tally e-mails, separated by `;`.
pub const CSV_COLUMNS: [&str; 10] = [
    "code",
    "name",
    "kind",
    "region",
    "icb",
    "local_authority",
    "opened_on",
    "closed_on",
    "successor",
    "contacts",
];

/// The most contact addresses one provider may have: a returns team, not a mailing list.
pub const MOST_CONTACTS: usize = 10;

/// Checks a provider's contact addresses: each an e-mail address, at most `MOST_CONTACTS`,
/// none twice. Blank entries are dropped.
pub fn contacts(addresses: &[&str]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for a in addresses.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        let shown: String = a.chars().take(80).collect();
        if a.len() > 254 || a.parse::<lettre::Address>().is_err() {
            return Err(format!("\"{shown}\" is not an e-mail address"));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
            out.push(a.to_owned());
        }
    }
    if out.len() > MOST_CONTACTS {
        return Err(format!(
            "{} addresses is more than the {MOST_CONTACTS} a provider may have",
            out.len()
        ));
    }
    Ok(out)
}

/// The `contacts` column of a provider CSV, as (code, addresses), for the providers that
/// give any; every bad address is reported at once. A file without the column gives none.
pub fn read_contacts(path: &Path) -> Result<Vec<(String, Vec<String>)>, Vec<Problem>> {
    let file = path.display().to_string();
    let problem = |field: String, reason: String| Problem {
        file: file.clone(),
        field,
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| vec![problem("file".into(), e.to_string())])?;
    let headers = reader
        .headers()
        .map_err(|e| vec![problem("header".into(), e.to_string())])?
        .clone();
    let (Some(code), Some(column)) = (
        headers.iter().position(|h| h == "code"),
        headers.iter().position(|h| h == "contacts"),
    ) else {
        return Ok(Vec::new());
    };
    let (mut out, mut problems) = (Vec::new(), Vec::new());
    for (i, record) in reader.records().enumerate() {
        let Ok(record) = record else { continue };
        let text = record.get(column).unwrap_or_default();
        match contacts(&text.split(';').collect::<Vec<_>>()) {
            Ok(list) if list.is_empty() => {}
            Ok(list) => out.push((record.get(code).unwrap_or_default().to_owned(), list)),
            Err(e) => problems.push(problem(format!("line {}: contacts", i + 2), e)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

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
        let text = |s: &str| Ok::<_, String>(s.to_owned());
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
fn cell<T, E: Into<String>>(
    value: Option<&str>,
    required: bool,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, String> {
    match value {
        Some(v) => parse(v).map(Some).map_err(Into::into),
        None if required => Err("is empty".into()),
        None => Ok(None),
    }
}

fn date(v: &str) -> Result<NaiveDate, Invalid> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| Invalid::new("date", format!("\"{v}\" is not a date like 2026-04-01")))
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
