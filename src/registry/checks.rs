//! The creep checks (DESIGN.md "Rules that block collection creep", rules 2 to 7) run on a
//! proposal against the register as it stands. Rule 1 is `Registry::require_listed`; rule 8
//! happens at landing.
//!
//! Checks are pure: the caller gathers the listed collections, providers and budget, so the
//! same function serves `tally collections check`, proposals and decisions, and tests.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::burden::{CollectionBurden, estimate, estimate_next, thousands as n};
use crate::domain::budget::Budget;
use crate::domain::definition::{
    CollectionDef, DEFAULT_NOTICE_DAYS, DataItem, ItemType, MAX_LICENCE_MONTHS,
};
use crate::domain::finding::Finding;
use crate::domain::finding::Rule;
use crate::domain::finding::Severity;
use crate::domain::provider::Provider;

/// A collection in force, as the checks see it.
#[derive(Debug, Clone, Copy)]
pub struct Listed<'a> {
    pub licence_number: Option<&'a str>,
    pub def: &'a CollectionDef,
}

impl Listed<'_> {
    fn label(&self) -> String {
        match self.licence_number {
            Some(n) => format!("{} ({n})", self.def.slug),
            None => self.def.slug.to_string(),
        }
    }
}

/// The register as it stands, for checking one proposal.
pub struct Context<'a> {
    /// Every listed or suspended collection's version in force, the proposal's own included.
    pub listed: Vec<Listed<'a>>,
    pub providers: &'a [Provider],
    /// The register's estimate of each collection in force, as the progress report has it
    /// (respondents who send an automated collection by hand priced at manual minutes).
    pub estimates: &'a [CollectionBurden],
    pub budget: Option<&'a Budget>,
    pub on: NaiveDate,
}

/// Runs every rule and returns one or more findings per rule, blocking ones first.
pub fn run(p: &CollectionDef, cx: &Context) -> Vec<Finding> {
    let previous = cx
        .listed
        .iter()
        .find(|l| l.def.slug == p.slug)
        .map(|l| l.def);
    // What the proposal replaces, and the collections it retires, are not what it could
    // duplicate or be derived from: they go when it comes in.
    let others: Vec<Listed> = cx
        .listed
        .iter()
        .copied()
        .filter(|l| l.def.slug != p.slug && !p.retires.contains(&l.def.slug))
        .collect();
    let mut findings = vec![licence(p)];
    findings.push(duplicates(p, &others));
    findings.extend(near_duplicates(p, &others));
    findings.push(derivable(p, &others));
    findings.extend(budget(p, previous, cx));
    findings.push(frequency(p, &others));
    findings.push(scope(p, previous));
    findings.push(notice(p));
    findings.sort_by_key(|f| {
        (
            f.severity != Severity::Blocking,
            f.severity != Severity::Warning,
        )
    });
    findings
}

/// Rule 6. The loader refuses a definition without sponsor, legal basis or purpose, or with a
/// term over three years, so a definition that reaches here has passed; the finding records it.
fn licence(p: &CollectionDef) -> Finding {
    Finding::new(
        Rule::Licence,
        Severity::Pass,
        format!(
            "Sponsor ({}), legal basis and purpose are given; the term of {} months is within the {MAX_LICENCE_MONTHS}-month limit.",
            p.sponsor, p.licence_term_months
        ),
        Vec::new(),
    )
}

/// The same data item: the same Data Dictionary element, or the same normalised name, type,
/// codes and bounds, whatever the items say of themselves. Two items that both name a concept
/// and name different ones are different things whatever they are called (`occupied_beds` in
/// a ward and in a care home); a concept that only claims to be new (`new:…`) does not make
/// an item different.
fn same_item(a: &DataItem, b: &DataItem) -> bool {
    let same_element = a.dd_element.is_some() && a.dd_element == b.dd_element;
    same_element
        || (a.normalised_name() == b.normalised_name()
            && same_type(a, b)
            && same_bounds(a, b)
            && !different_concepts(a, b))
}

/// Items DAP should look at twice: the same type (and codes) under a similar name, or the
/// same name with other bounds. Not blocking, since `beds_open` and `beds_opened` may
/// differ, but a proposer cannot rename an item past the register unseen.
fn near_item(a: &DataItem, b: &DataItem) -> bool {
    !same_item(a, b)
        && !different_concepts(a, b)
        && same_type(a, b)
        && (a.normalised_name() == b.normalised_name() || similar_names(&a.name, &b.name))
}

fn different_concepts(a: &DataItem, b: &DataItem) -> bool {
    let named = |i: &DataItem| i.concept.clone().filter(|_| i.new_concept().is_none());
    let (ca, cb) = (named(a), named(b));
    ca.is_some() && cb.is_some() && ca != cb
}

/// The same type; for coded items, the same codes in any order.
fn same_type(a: &DataItem, b: &DataItem) -> bool {
    match (&a.ty, &b.ty) {
        (ItemType::Code(x), ItemType::Code(y)) => {
            let set = |c: &Vec<String>| c.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
            let (mut x, mut y) = (set(x), set(y));
            x.sort();
            y.sort();
            x == y
        }
        (x, y) => x == y,
    }
}

/// Bounds that do not disagree: where both items give one, it is the same.
fn same_bounds(a: &DataItem, b: &DataItem) -> bool {
    let agree = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    agree(a.min, b.min) && agree(a.max, b.max)
}

/// Names that say nearly the same thing: most of their words shared, a word and its
/// abbreviation counting as one (`maximum_capacity` and `max_capacity`, `beds_occupied` and
/// `occupied_beds`), or spellings a letter or two apart (`vacant_acepting`).
fn similar_names(a: &str, b: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let (wa, wb) = (words(a), words(b));
    let alike = |x: &str, y: &str| {
        x == y || (x.len().min(y.len()) >= 3 && (x.starts_with(y) || y.starts_with(x)))
    };
    let matched = wa.iter().filter(|x| wb.iter().any(|y| alike(x, y))).count();
    let most = wa.len().max(wb.len());
    (most > 0 && matched * 3 >= most * 2)
        || strsim::normalized_damerau_levenshtein(&wa.concat(), &wb.concat()) >= 0.85
}

/// Items a proposal asks for that are not keys or dimensions: what it could duplicate.
fn asked(def: &CollectionDef) -> impl Iterator<Item = &DataItem> {
    def.items
        .iter()
        .filter(|i| !def.key.contains(&i.name) && !def.dimensions.contains(&i.name))
}

/// Whether some provider would be asked by both.
fn shares_respondents(a: &CollectionDef, b: &CollectionDef) -> bool {
    a.respondents
        .kinds
        .iter()
        .any(|k| b.respondents.kinds.contains(k))
}

/// Whether `source` is answered by every kind of provider the proposal asks: figures for a
/// community trust cannot be computed from a collection that only acute trusts submit.
fn answers_for(source: &CollectionDef, p: &CollectionDef) -> bool {
    p.respondents
        .kinds
        .iter()
        .all(|k| source.respondents.kinds.contains(k))
}

/// Rule 2: measures that a listed collection already collects.
fn duplicates(p: &CollectionDef, others: &[Listed]) -> Finding {
    let mut found: Vec<String> = Vec::new();
    let mut related: Vec<String> = Vec::new();
    let mut count = 0;
    for l in others.iter().filter(|l| shares_respondents(p, l.def)) {
        let items: Vec<String> = asked(p)
            .filter_map(|item| {
                let theirs = asked(l.def).find(|t| same_item(item, t))?;
                Some(if theirs.name == item.name {
                    item.name.clone()
                } else {
                    format!("{} (as {})", item.name, theirs.name)
                })
            })
            .collect();
        if !items.is_empty() {
            count += items.len();
            found.push(format!(
                "{} already collects {}",
                l.label(),
                items.join(", ")
            ));
            related.push(l.def.slug.to_string());
        }
    }
    if found.is_empty() {
        let new: Vec<String> = p
            .measures()
            .filter_map(|i| {
                let concept = i.new_concept()?;
                let why = i.justification.as_deref().unwrap_or_default();
                Some(format!("{} ({concept}): \"{why}\"", i.name))
            })
            .collect();
        if !new.is_empty() {
            // Nothing matches, but a concept declared new is the proposer's word: DAP judges it.
            return Finding::new(
                Rule::Duplicate,
                Severity::Warning,
                format!(
                    "No item it asks for is already collected by a listed collection, but {} declared new, with the proposer's justification for DAP to judge: {}.",
                    if new.len() == 1 {
                        "one concept is"
                    } else {
                        "these concepts are"
                    },
                    new.join("; ")
                ),
                related,
            );
        }
        return Finding::new(
            Rule::Duplicate,
            Severity::Pass,
            "No item it asks for is already collected by a listed collection.".into(),
            related,
        );
    }
    Finding::new(
        Rule::Duplicate,
        Severity::Blocking,
        format!(
            "It asks again for {count} item{} that listed collections already collect: {}. Use the data already collected instead.",
            if count == 1 { "" } else { "s" },
            found.join("; ")
        ),
        related,
    )
}

/// Rule 2's second look: items like a listed collection's without being the same, for DAP
/// to judge. None when there are none.
fn near_duplicates(p: &CollectionDef, others: &[Listed]) -> Option<Finding> {
    let mut found: Vec<String> = Vec::new();
    let mut related: Vec<String> = Vec::new();
    for l in others.iter().filter(|l| shares_respondents(p, l.def)) {
        let pairs: Vec<String> = asked(p)
            .filter(|item| !asked(l.def).any(|t| same_item(item, t)))
            .filter_map(|item| {
                let theirs = asked(l.def).find(|t| near_item(item, t))?;
                Some(format!("{} (like {})", item.name, theirs.name))
            })
            .collect();
        if !pairs.is_empty() {
            found.push(format!("{}: {}", l.label(), pairs.join(", ")));
            related.push(l.def.slug.to_string());
        }
    }
    if found.is_empty() {
        return None;
    }
    Some(Finding::new(
        Rule::Duplicate,
        Severity::Warning,
        format!(
            "Some items are like items listed collections already collect, of the same type and codes under a similar name or with other bounds; check they are not the same data asked again: {}.",
            found.join("; ")
        ),
        related,
    ))
}

/// Whether listed item `src` of `l` can give the proposal's measure `want`: the same
/// concept, and every dimension `want` is broken down by is one `l` records (or one `src`
/// fixes at the same value), and `src` fixes no dimension that `want` leaves open.
fn covers(l: &CollectionDef, src: &DataItem, p: &CollectionDef, want: &DataItem) -> bool {
    if src.concept.is_none() || src.concept != want.concept {
        return false;
    }
    let mut needed: BTreeMap<&str, Option<&str>> =
        p.dimensions.iter().map(|d| (d.as_str(), None)).collect();
    for (d, v) in &want.breakdown {
        needed.insert(d, Some(v));
    }
    let dimension_ok = |d: &str, value: Option<&str>| {
        if let Some(fixed) = src.breakdown.get(d) {
            return value == Some(fixed.as_str());
        }
        if !l.dimensions.iter().any(|x| x == d) {
            return false;
        }
        match (l.item(d).map(|i| &i.ty), value) {
            (Some(ItemType::Code(codes)), Some(v)) => codes.iter().any(|c| c == v),
            _ => true,
        }
    };
    let src_fixes_only_wanted = src
        .breakdown
        .iter()
        .all(|(d, v)| want.breakdown.get(d) == Some(v));
    src_fixes_only_wanted && needed.iter().all(|(d, v)| dimension_ok(d, *v))
}

/// Rule 3: measures that can be computed from listed collections at the proposal's grain and
/// frequency. When all can, the proposal is blocked in favour of a query.
fn derivable(p: &CollectionDef, others: &[Listed]) -> Finding {
    let measures: Vec<&DataItem> = p.measures().collect();
    if measures.is_empty() {
        return Finding::new(
            Rule::Derivable,
            Severity::Pass,
            "It asks for no measures, so there is nothing to derive.".into(),
            Vec::new(),
        );
    }
    let mut sources: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut not_derivable: Vec<&str> = Vec::new();
    for want in &measures {
        let source = others.iter().find(|l| {
            answers_for(l.def, p)
                && l.def.grain.rolls_up_to(p.grain)
                && l.def.frequency.period.rolls_up_to(p.frequency.period)
                && l.def.items.iter().any(|src| covers(l.def, src, p, want))
        });
        match source {
            Some(l) => sources.entry(l.label()).or_default().push(&want.name),
            None => not_derivable.push(&want.name),
        }
    }
    let related: Vec<String> = others
        .iter()
        .filter(|l| sources.contains_key(&l.label()))
        .map(|l| l.def.slug.to_string())
        .collect();
    let from = sources.keys().cloned().collect::<Vec<_>>().join(" and ");
    let over = related.join(" and ");
    let derivable_count = measures.len() - not_derivable.len();
    if derivable_count == 0 {
        Finding::new(
            Rule::Derivable,
            Severity::Pass,
            "None of its measures can be computed from listed collections at its grain and frequency.".into(),
            related,
        )
    } else if not_derivable.is_empty() {
        Finding::new(
            Rule::Derivable,
            Severity::Blocking,
            format!(
                "Every one of its {} measures can be computed from {from}, at the same or a finer grain and as often or more often. Do not collect it: license a query instead (a new queries/<name>.sql return over {over}).",
                measures.len()
            ),
            related,
        )
    } else {
        Finding::new(
            Rule::Derivable,
            Severity::Warning,
            format!(
                "{derivable_count} of its {} measures can be computed from {from}; only these need collecting: {}.",
                measures.len(),
                not_derivable.join(", ")
            ),
            related,
        )
    }
}

/// Rule 4: the register's total after listing, against DAP's cap, net of what it retires.
fn budget(p: &CollectionDef, previous: Option<&CollectionDef>, cx: &Context) -> Vec<Finding> {
    let in_force = |def: &CollectionDef| cx.estimates.iter().find(|e| e.slug == def.slug.as_str());
    let hours = |def: &CollectionDef| {
        in_force(def).map_or_else(
            || estimate(def, None, cx.providers, cx.on).annual_hours,
            |e| e.annual_hours,
        )
    };
    let own = estimate_next(p, previous.and_then(in_force), cx.providers, cx.on).annual_hours;
    let mut findings = Vec::new();
    let mut offsets = 0.0;
    for retired in &p.retires {
        match cx.listed.iter().find(|l| &l.def.slug == retired) {
            Some(l) => offsets += hours(l.def),
            None => findings.push(Finding::new(
                Rule::Budget,
                Severity::Blocking,
                format!("It says it retires {retired}, which is not a listed collection, so nothing offsets its burden."),
                vec![retired.to_string()],
            )),
        }
    }
    let total: f64 = cx.listed.iter().map(|l| hours(l.def)).sum();
    let added = own - previous.map_or(0.0, hours) - offsets;
    let after = total + added;
    let related: Vec<String> = p.retires.iter().map(|s| s.to_string()).collect();
    let retiring = match (previous, p.retires.is_empty()) {
        (Some(_), true) => " in place of the version in force".to_string(),
        (Some(_), false) => format!(
            " in place of the version in force, net of {} h retired with it",
            n(offsets)
        ),
        (None, true) => String::new(),
        (None, false) => format!(" (net of {} h retired with it)", n(offsets)),
    };
    let cap = cx.budget.and_then(|b| b.cap_hours);
    match cap {
        None => findings.push(Finding::new(
            Rule::Budget,
            Severity::Pass,
            format!("It costs an estimated {} staff hours a year; the register would total {} h{retiring}. DAP has set no cap.", n(own), n(after)),
            related,
        )),
        Some(cap) if after > cap && added > 0.0 => findings.push(Finding::new(
            Rule::Budget,
            Severity::Blocking,
            format!(
                "It costs an estimated {} staff hours a year, taking the register to {} h{retiring}, over DAP's cap of {} h by {} h. Name listed collections it retires (retires = [...]) whose burden offsets at least that, or reduce it.",
                n(own),
                n(after),
                n(cap),
                n(after - cap)
            ),
            related,
        )),
        Some(cap) => findings.push(Finding::new(
            Rule::Budget,
            Severity::Pass,
            format!("It costs an estimated {} staff hours a year; the register would total {} h{retiring}, within DAP's cap of {} h.", n(own), n(after), n(cap)),
            related,
        )),
    }
    if let Some(line) = cx.budget.and_then(|b| b.trajectory_at(cx.on))
        && added > 0.0
        && after > line
    {
        findings.push(Finding::new(
            Rule::Budget,
            Severity::Warning,
            format!("The register would be {} h above the reduction trajectory, which allows {} h today.", n(after - line), n(line)),
            Vec::new(),
        ));
    }
    findings
}

/// Rule 5: the same measures asked for more often than a listed collection asks for them.
fn frequency(p: &CollectionDef, others: &[Listed]) -> Finding {
    let mut found: Vec<String> = Vec::new();
    let mut related: Vec<String> = Vec::new();
    for l in others {
        if p.frequency.period >= l.def.frequency.period || !shares_respondents(p, l.def) {
            continue;
        }
        let mut shared: Vec<&str> = p
            .measures()
            .filter_map(|m| {
                l.def
                    .measures()
                    .find(|t| (m.concept.is_some() && m.concept == t.concept) || same_item(m, t))
                    .map(|t| t.concept.as_deref().unwrap_or(&t.name))
            })
            .collect();
        shared.sort();
        shared.dedup();
        if !shared.is_empty() {
            found.push(format!(
                "{} collects {} {}",
                l.label(),
                shared.join(", "),
                l.def.frequency.period.adjective()
            ));
            related.push(l.def.slug.to_string());
        }
    }
    if found.is_empty() {
        return Finding::new(
            Rule::Frequency,
            Severity::Pass,
            "It asks for nothing more often than a listed collection already does.".into(),
            related,
        );
    }
    Finding::new(
        Rule::Frequency,
        Severity::Warning,
        format!(
            "It asks {} for measures that are collected less often today: {}.",
            p.frequency.period.adjective(),
            found.join("; ")
        ),
        related,
    )
}

/// Notice: how long providers have between the listing and the first period owed. Less
/// than the usual notice is for DAP to weigh; the effective date is set when it lists.
fn notice(p: &CollectionDef) -> Finding {
    let days = p.notice_days;
    if days >= DEFAULT_NOTICE_DAYS {
        return Finding::new(
            Rule::Notice,
            Severity::Pass,
            format!("Providers get {days} days' notice before the first period is owed."),
            Vec::new(),
        );
    }
    Finding::new(
        Rule::Notice,
        Severity::Warning,
        format!(
            "It asks for {days} days' notice, less than the {DEFAULT_NOTICE_DAYS} days providers are normally given to get ready."
        ),
        Vec::new(),
    )
}

/// Rule 7: what a new version of a listed collection adds.
fn scope(p: &CollectionDef, previous: Option<&CollectionDef>) -> Finding {
    let Some(old) = previous else {
        return Finding::new(
            Rule::Scope,
            Severity::Pass,
            "It is a new collection, not a new version of a listed one.".into(),
            Vec::new(),
        );
    };
    let mut changes = Vec::new();
    let added: Vec<&str> = p
        .items
        .iter()
        .filter(|i| old.item(&i.name).is_none())
        .map(|i| i.name.as_str())
        .collect();
    if !added.is_empty() {
        changes.push(format!("adds items {}", added.join(", ")));
    }
    if p.frequency.period < old.frequency.period {
        changes.push(format!(
            "raises frequency from {} to {}",
            old.frequency.period.adjective(),
            p.frequency.period.adjective()
        ));
    }
    let new_kinds: Vec<&str> = p
        .respondents
        .kinds
        .iter()
        .filter(|k| !old.respondents.kinds.contains(k))
        .map(|k| k.as_str())
        .collect();
    if !new_kinds.is_empty() {
        changes.push(format!("asks new respondents ({})", new_kinds.join(", ")));
    }
    let related = vec![p.slug.to_string()];
    if changes.is_empty() {
        return Finding::new(
            Rule::Scope,
            Severity::Pass,
            "This new version asks for no more than the one in force.".into(),
            related,
        );
    }
    Finding::new(
        Rule::Scope,
        Severity::Warning,
        format!(
            "This new version {}. The version in force stays in force until this one is listed.",
            changes.join(", ")
        ),
        related,
    )
}
