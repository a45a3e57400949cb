//! Reading `[[items]]` and `[[rules]]`: each item's name, type and constraints, and each row
//! rule as one SQL boolean expression over the items.

use std::collections::{BTreeMap, BTreeSet};

use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};
use toml::{Table, Value};

use super::{ITEM_KEYS, Reader};
use crate::domain::definition::{DataItem, ItemType, MeasureKind, RowRule};

impl Reader<'_> {
    pub(super) fn items(&mut self, t: &Table) -> Vec<DataItem> {
        let tables = match t.get("items") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            Some(Value::Array(_)) | None => {
                self.problem("items", "at least one data item is required");
                return Vec::new();
            }
            Some(v) => {
                self.problem(
                    "items",
                    format!("expected [[items]] tables, found {}", v.type_str()),
                );
                return Vec::new();
            }
        };
        let mut items: Vec<DataItem> = Vec::new();
        for (i, v) in tables.iter().enumerate() {
            let prefix = format!("items[{i}]");
            let Value::Table(it) = v else {
                self.problem(&prefix, format!("expected a table, found {}", v.type_str()));
                continue;
            };
            if let Some(item) = self.item(it, &prefix) {
                if items.iter().any(|o| o.name == item.name) {
                    self.problem(
                        &format!("{prefix}.name"),
                        format!("\"{}\" is used by another item", item.name),
                    );
                }
                items.push(item);
            }
        }
        items
    }

    /// A figure must say what it measures, or the duplicate and derivable checks would have
    /// nothing to compare: leaving the annotations out must not get a copy listed.
    pub(super) fn figures_say_what_they_measure(
        &mut self,
        t: &Table,
        items: &[DataItem],
        key: &[String],
        dimensions: &[String],
    ) {
        // Problems name an item by its place in the file (a malformed one is not in `items`).
        let place = |name: &str| match t.get("items") {
            Some(Value::Array(a)) => a
                .iter()
                .position(|i| i.get("name").and_then(Value::as_str) == Some(name)),
            _ => None,
        };
        for item in items {
            if item.ty.is_numeric()
                && item.concept.is_none()
                && !key.contains(&item.name)
                && !dimensions.contains(&item.name)
            {
                let at = place(&item.name).unwrap_or_default();
                self.problem(
                    &format!("items[{at}].concept"),
                    format!(
                        "\"{}\" is a figure (not a key or a dimension), so it must say what it measures: the concept listed collections use for it (see tally collections show), or concept = \"new:…\" with a justification DAP will read",
                        item.name
                    ),
                );
            }
        }
    }

    fn item(&mut self, it: &Table, prefix: &str) -> Option<DataItem> {
        self.unknown_keys(it, prefix, ITEM_KEYS);
        let name = self.parsed(it, prefix, "name", |s| {
            let ok = s.len() <= 63
                && s.starts_with(|c: char| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if crate::domain::LAKE_COLUMNS.contains(&s) {
                return Err(format!(
                    "\"{s}\" is a name the lake gives every extract (the provider's code and the period); choose another"
                ));
            }
            ok.then(|| s.to_owned()).ok_or_else(|| {
                format!("\"{s}\" must be lower-case letters, digits and underscores, starting with a letter")
            })
        });
        let at = |k: &str| format!("{prefix}.{k}");
        let codes = self.str_list(it, prefix, "codes");
        let ty = self.parsed(it, prefix, "type", |s| match s {
            "integer" => Ok(ItemType::Integer),
            "decimal" => Ok(ItemType::Decimal),
            "string" => Ok(ItemType::String),
            "date" => Ok(ItemType::Date),
            "timestamp" => Ok(ItemType::Timestamp),
            "bool" => Ok(ItemType::Bool),
            "code" => Ok(ItemType::Code(codes.clone())),
            _ => Err(format!(
                "unknown type \"{s}\" (expected one of: {})",
                ItemType::NAMES.join(", ")
            )),
        });
        match (&ty, it.contains_key("codes")) {
            (Some(ItemType::Code(c)), _) if c.is_empty() => {
                self.problem(&at("codes"), "a code item must list its allowed codes")
            }
            (Some(ItemType::Code(c)), _) => {
                let unique: BTreeSet<_> = c.iter().collect();
                if unique.len() != c.len() {
                    self.problem(&at("codes"), "lists a code more than once");
                }
            }
            (Some(_), true) => self.problem(&at("codes"), "only a code item has codes"),
            _ => {}
        }
        let required = self.flag(it, prefix, "required", true);
        let description = self.opt_str(it, prefix, "description").unwrap_or_default();
        let dd_element = self.opt_str(it, prefix, "dd_element");
        let concept = self.opt_str(it, prefix, "concept");
        if let Some(c) = &concept {
            let words = c.strip_prefix("new:").unwrap_or(c);
            let ok = !words.is_empty()
                && words
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._".contains(ch));
            if !ok {
                self.problem(
                    &at("concept"),
                    format!(
                        "\"{c}\" must be lower-case words joined by dots, like beds.occupied (or new:beds.occupied for a concept no listed collection names)"
                    ),
                );
            }
        }
        let justification = self.opt_str(it, prefix, "justification");
        let is_new = concept.as_deref().is_some_and(|c| c.starts_with("new:"));
        match (&justification, is_new) {
            (None, true) => self.problem(
                &at("justification"),
                "a new concept needs a justification: why no listed collection's concept will do, in words DAP will read",
            ),
            (Some(j), true) if j.trim().is_empty() => {
                self.problem(&at("justification"), "must not be empty")
            }
            (Some(_), false) => self.problem(
                &at("justification"),
                "only an item whose concept is new (concept = \"new:…\") takes a justification",
            ),
            _ => {}
        }
        let measure = match self.opt_str(it, prefix, "measure").as_deref() {
            None => None,
            Some("person") => Some(MeasureKind::Person),
            Some("non_person") => Some(MeasureKind::NonPerson),
            Some(other) => {
                self.problem(
                    &at("measure"),
                    format!("unknown measure kind \"{other}\" (expected person or non_person)"),
                );
                None
            }
        };
        let numeric = ty.as_ref().is_some_and(ItemType::is_numeric);
        if measure.is_some() && ty.is_some() && !numeric {
            self.problem(
                &at("measure"),
                "only an integer or decimal item can be a count",
            );
        }
        let min = self.opt_number(it, prefix, "min");
        let max = self.opt_number(it, prefix, "max");
        if (min.is_some() || max.is_some()) && ty.is_some() && !numeric {
            self.problem(&at("min"), "bounds apply only to integer and decimal items");
        }
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            self.problem(&at("max"), format!("{hi} is below min {lo}"));
        }
        let pattern = self.opt_str(it, prefix, "pattern");
        if let Some(p) = &pattern {
            if !matches!(ty, Some(ItemType::String) | None) {
                self.problem(&at("pattern"), "a pattern applies only to string items");
            }
            if let Err(e) = regex::Regex::new(p) {
                self.problem(&at("pattern"), format!("not a valid pattern: {e}"));
            }
        }
        let breakdown = match it.get("breakdown") {
            None => BTreeMap::new(),
            Some(Value::Table(b)) => {
                let mut out = BTreeMap::new();
                for (k, v) in b {
                    match v {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        v => self.problem(
                            &format!("{prefix}.breakdown.{k}"),
                            format!("expected text, found {}", v.type_str()),
                        ),
                    }
                }
                out
            }
            Some(v) => {
                self.problem(
                    &at("breakdown"),
                    format!("expected a table, found {}", v.type_str()),
                );
                BTreeMap::new()
            }
        };
        Some(DataItem {
            name: name?,
            ty: ty?,
            required,
            description,
            dd_element,
            concept,
            justification,
            measure,
            breakdown,
            min,
            max,
            pattern,
        })
    }

    pub(super) fn rules(&mut self, t: &Table, names: &BTreeSet<&str>) -> Vec<RowRule> {
        let tables = match t.get("rules") {
            None => return Vec::new(),
            Some(Value::Array(a)) => a,
            Some(v) => {
                self.problem(
                    "rules",
                    format!("expected [[rules]] tables, found {}", v.type_str()),
                );
                return Vec::new();
            }
        };
        let mut rules = Vec::new();
        for (i, v) in tables.iter().enumerate() {
            let prefix = format!("rules[{i}]");
            let Value::Table(rt) = v else {
                self.problem(&prefix, format!("expected a table, found {}", v.type_str()));
                continue;
            };
            self.unknown_keys(rt, &prefix, &["name", "check"]);
            let name = self.str(rt, &prefix, "name");
            let check = self.str(rt, &prefix, "check");
            if let Some(check) = &check
                && let Err(e) = check_rule(check, names)
            {
                self.problem(&format!("{prefix}.check"), e);
            }
            if let (Some(name), Some(check)) = (name, check) {
                rules.push(RowRule { name, check });
            }
        }
        rules
    }
}

/// A row rule must be one SQL boolean expression whose column names are all items.
/// Function names (followed by `(`) and SQL keywords are not taken for columns.
fn check_rule(check: &str, items: &BTreeSet<&str>) -> Result<(), String> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(check)
        .map_err(|e| format!("not a SQL expression: {e}"))?;
    parser
        .parse_expr()
        .map_err(|e| format!("not a SQL expression: {e}"))?;
    if parser.peek_token().token != Token::EOF {
        return Err(format!(
            "not a single SQL expression: unexpected {}",
            parser.peek_token().token
        ));
    }
    let tokens = Tokenizer::new(&dialect, check)
        .tokenize()
        .map_err(|e| format!("not a SQL expression: {e}"))?;
    let significant: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    for (i, token) in significant.iter().enumerate() {
        let Token::Word(w) = token else { continue };
        let is_call = matches!(significant.get(i + 1), Some(Token::LParen));
        let name = w.value.to_lowercase();
        if is_call || items.contains(name.as_str()) {
            continue;
        }
        if w.quote_style.is_some() || w.keyword == Keyword::NoKeyword {
            return Err(format!("\"{}\" is not an item of this collection", w.value));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_must_name_items() {
        let items: BTreeSet<&str> = ["occupied_beds", "available_beds"].into();
        assert!(check_rule("occupied_beds <= available_beds", &items).is_ok());
        assert!(
            check_rule(
                "coalesce(occupied_beds, 0) >= 0 AND available_beds IS NOT NULL",
                &items
            )
            .is_ok()
        );
        let e = check_rule("occupied <= available_beds", &items).unwrap_err();
        assert!(e.contains("\"occupied\" is not an item"), "{e}");
        assert!(check_rule("occupied_beds <=", &items).is_err());
        assert!(check_rule("occupied_beds <= 1; DROP TABLE x", &items).is_err());
    }
}
