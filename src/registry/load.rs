//! Reads `collections/<slug>.toml` into a `CollectionDef`, reporting every problem in the file
//! at once (`collections/x.toml: items[3].type: unknown type "integr"`) and returning nothing
//! unless the whole file is good, so a registry never half-loads a definition.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use toml::{Table, Value};

mod items;
mod read;

use read::Reader;

use crate::domain::definition::*;
use crate::domain::provider::ProviderKind;
use crate::domain::{PeriodKind, Problem, Problems};

/// A definition together with where it came from and its exact text, which the registry
/// keeps with each version.
#[derive(Debug, Clone)]
pub struct LoadedDef {
    pub def: CollectionDef,
    pub path: PathBuf,
    pub source: String,
}

/// Reads and checks one definition file.
pub fn load_file(path: &Path, default_tz: chrono_tz::Tz) -> Result<LoadedDef, Problems> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| {
        Problems(vec![Problem {
            file: file.clone(),
            field: "file".into(),
            reason: format!("cannot be read: {e}"),
        }])
    })?;
    let def = parse(&file, &source, default_tz)?;
    Ok(LoadedDef {
        def,
        path: path.to_owned(),
        source,
    })
}

/// Reads every `*.toml` in a folder; a slug defined by two files is an error naming both.
pub fn load_dir(dir: &Path, default_tz: chrono_tz::Tz) -> Result<Vec<LoadedDef>, Problems> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Problems(vec![Problem {
            file: dir.display().to_string(),
            field: "folder".into(),
            reason: format!("cannot be read: {e}"),
        }])
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Problems(vec![Problem {
            file: dir.display().to_string(),
            field: "folder".into(),
            reason: "holds no .toml definition files".into(),
        }]));
    }
    let mut problems = Vec::new();
    let mut loaded: Vec<LoadedDef> = Vec::new();
    for path in paths {
        match load_file(&path, default_tz) {
            Ok(l) => {
                if let Some(first) = loaded.iter().find(|o| o.def.slug == l.def.slug) {
                    problems.push(Problem {
                        file: path.display().to_string(),
                        field: "slug".into(),
                        reason: format!(
                            "\"{}\" is already defined by {}",
                            l.def.slug,
                            first.path.display()
                        ),
                    });
                } else {
                    loaded.push(l);
                }
            }
            Err(Problems(p)) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(Problems(problems))
    }
}

/// Parses definition text; `file` is only used to name where problems are.
pub fn parse(file: &str, text: &str, default_tz: chrono_tz::Tz) -> Result<CollectionDef, Problems> {
    let table: Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let e: toml::de::Error = e;
            let field = match e.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {column}")
                }
                None => "syntax".into(),
            };
            return Err(Problems(vec![Problem {
                file: file.into(),
                field,
                reason: format!("not valid TOML: {}", e.message()),
            }]));
        }
    };
    let mut r = Reader {
        file,
        problems: Vec::new(),
    };
    let def = r.collection(&table, default_tz);
    match def {
        Some(def) if r.problems.is_empty() => Ok(def),
        _ => Err(Problems(r.problems)),
    }
}

/// A week of one person's time: more for one submission is a typing error.
const MAX_MINUTES: f64 = 7.0 * 24.0 * 60.0;

/// More respondents than England has organisations of any kind is a typing error.
const MAX_RESPONDENTS: u32 = 1_000_000;

/// Fields that may run over several lines.
const PROSE_KEYS: &[&str] = &["purpose", "description"];

const TOP_KEYS: &[&str] = &[
    "slug",
    "title",
    "sponsor",
    "legal_basis",
    "purpose",
    "licence_term_months",
    "notice_days",
    "capture",
    "grain",
    "dimensions",
    "key",
    "retires",
    "deadline",
    "amendment_window",
    "respondents",
    "frequency",
    "burden",
    "items",
    "rules",
    "bad_rows",
    "nil_return",
    "plausibility",
];

const ITEM_KEYS: &[&str] = &[
    "name",
    "type",
    "codes",
    "required",
    "description",
    "dd_element",
    "concept",
    "measure",
    "breakdown",
    "min",
    "max",
    "pattern",
    "justification",
];

impl Reader<'_> {
    fn collection(&mut self, t: &Table, default_tz: chrono_tz::Tz) -> Option<CollectionDef> {
        self.unknown_keys(t, "", TOP_KEYS);
        let slug = self.parsed(t, "", "slug", Slug::parse);
        let title = self.str(t, "", "title");
        let sponsor = self.str(t, "", "sponsor");
        let legal_basis = self.str(t, "", "legal_basis");
        let purpose = self.str(t, "", "purpose");
        let licence_term_months = self.integer(t, "", "licence_term_months").and_then(|m| {
            if (1..=i64::from(MAX_LICENCE_MONTHS)).contains(&m) {
                Some(m as u32)
            } else {
                self.problem(
                    "licence_term_months",
                    format!(
                        "{m} months is outside the licence limit: a term is 1 to {MAX_LICENCE_MONTHS} months (three years at most)"
                    ),
                );
                None
            }
        });
        let notice_days = match t.get("notice_days") {
            None => Some(DEFAULT_NOTICE_DAYS),
            Some(_) => self.integer(t, "", "notice_days").and_then(|d| {
                if (0..=i64::from(MAX_NOTICE_DAYS)).contains(&d) {
                    Some(d as u32)
                } else {
                    self.problem(
                        "notice_days",
                        format!("{d} days is outside 0 to {MAX_NOTICE_DAYS} (a year at most)"),
                    );
                    None
                }
            }),
        };
        let capture = self.parsed(t, "", "capture", |s| match s {
            "manual" => Ok(Capture::Manual),
            "automated" => Ok(Capture::Automated),
            _ => Err(format!(
                "unknown capture mode \"{s}\" (expected manual or automated)"
            )),
        });
        let bad_rows = match t.get("bad_rows") {
            None => Some(BadRows::default()),
            Some(_) => self.parsed(t, "", "bad_rows", |s| match s {
                "quarantine" => Ok(BadRows::Quarantine),
                "reject" => Ok(BadRows::Reject),
                _ => Err(format!(
                    "unknown policy \"{s}\" (expected quarantine or reject)"
                )),
            }),
        };
        let grain = self.parsed(t, "", "grain", |s| {
            Grain::ALL
                .into_iter()
                .find(|g| g.as_str() == s)
                .ok_or_else(|| {
                    let names: Vec<_> = Grain::ALL.iter().map(|g| g.as_str()).collect();
                    format!(
                        "unknown grain \"{s}\" (expected one of: {})",
                        names.join(", ")
                    )
                })
        });
        let deadline = self.parsed(t, "", "deadline", Lag::parse);
        let amendment_window = self.parsed(t, "", "amendment_window", Lag::parse);
        let retires: Vec<Slug> = self
            .str_list(t, "", "retires")
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                Slug::parse(s)
                    .map_err(|e| self.problem(&format!("retires[{i}]"), e))
                    .ok()
            })
            .collect();
        let respondents = self.respondents(t);
        let frequency = self.frequency(t, default_tz);
        let burden = self.burden(t);
        let plausibility = self.plausibility(t);
        let items = self.items(t);
        // Names as written, so that one bad item does not also make every reference to it
        // a problem.
        let names: BTreeSet<&str> = match t.get("items") {
            Some(Value::Array(a)) => a.iter().filter_map(|i| i.get("name")?.as_str()).collect(),
            _ => BTreeSet::new(),
        };
        let dimensions = self.item_names(t, "dimensions", &names);
        let key = self.item_names(t, "key", &names);
        self.figures_say_what_they_measure(t, &items, &key, &dimensions);
        let rules = self.rules(t, &names);
        if plausibility.is_some() && key.is_empty() {
            self.problem(
                "plausibility",
                "needs a key: a figure is compared with the same row's figure in earlier periods",
            );
        }
        if let Some(slug) = &slug
            && retires.contains(slug)
        {
            self.problem("retires", format!("\"{slug}\" cannot retire itself"));
        }
        for (i, r) in retires.iter().enumerate() {
            if retires[..i].contains(r) {
                self.problem(
                    &format!("retires[{i}]"),
                    format!("\"{r}\" is named more than once"),
                );
            }
        }

        Some(CollectionDef {
            slug: slug?,
            title: title?,
            sponsor: sponsor?,
            legal_basis: legal_basis?,
            purpose: purpose?,
            licence_term_months: licence_term_months?,
            notice_days: notice_days?,
            respondents: respondents?,
            capture: capture?,
            frequency: frequency?,
            deadline: deadline?,
            amendment_window: amendment_window?,
            grain: grain?,
            dimensions,
            key,
            items,
            rules,
            bad_rows: bad_rows?,
            nil_return: self.flag(t, "", "nil_return", false),
            burden: burden?,
            retires,
            plausibility,
        })
    }

    fn respondents(&mut self, t: &Table) -> Option<Respondents> {
        let r = self.table(t, "respondents")?;
        self.unknown_keys(r, "respondents", &["kinds", "estimated"]);
        let names = self.str_list(r, "respondents", "kinds");
        if names.is_empty() {
            self.problem("respondents.kinds", "must name at least one provider kind");
        }
        let mut kinds = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match ProviderKind::parse(name) {
                Ok(k) => kinds.push(k),
                Err(e) => self.problem(&format!("respondents.kinds[{i}]"), e),
            }
        }
        let estimated =
            self.integer(r, "respondents", "estimated")
                .and_then(|n| match u32::try_from(n) {
                    Ok(n) if n <= MAX_RESPONDENTS => Some(n),
                    _ => {
                        let why = format!("must be a whole number from 0 to {MAX_RESPONDENTS}");
                        self.problem("respondents.estimated", why);
                        None
                    }
                });
        Some(Respondents {
            kinds,
            estimated: estimated?,
        })
    }

    fn frequency(&mut self, t: &Table, default_tz: chrono_tz::Tz) -> Option<Frequency> {
        let f = self.table(t, "frequency")?;
        self.unknown_keys(f, "frequency", &["cron", "timezone", "period"]);
        let cron = self.parsed(f, "frequency", "cron", |s| {
            croner::Cron::from_str(s)
                .map(|_| s.to_owned())
                .map_err(|e| format!("\"{s}\" is not a cron expression: {e}"))
        });
        let timezone = match f.contains_key("timezone") {
            false => Some(default_tz),
            true => self.parsed(f, "frequency", "timezone", |s| {
                s.parse::<chrono_tz::Tz>()
                    .map_err(|_| format!("unknown timezone \"{s}\" (e.g. Europe/London)"))
            }),
        };
        let period = self.parsed(f, "frequency", "period", |s| {
            PeriodKind::ALL
                .into_iter()
                .find(|p| p.as_str() == s)
                .ok_or_else(|| {
                    format!("unknown period \"{s}\" (expected day, week, month, quarter or year)")
                })
        });
        let frequency = Frequency {
            cron: cron?,
            timezone: timezone?,
            period: period?,
        };
        // Each fire collects one period: firing more often asks for the same period again,
        // and firing less than half as often leaves periods uncollected.
        let most = frequency.period.most_fires_per_year();
        let fires = frequency.fires_per_year(most + 1);
        let name = frequency.period.as_str();
        if fires == 0 {
            self.problem(
                "frequency.cron",
                format!("\"{}\" never fires", frequency.cron),
            );
        } else if fires > most {
            self.problem(
                "frequency.cron",
                format!(
                    "\"{}\" fires more than once a {name}; a {} collection may be pulled at most once for each period",
                    frequency.cron,
                    frequency.period.adjective()
                ),
            );
        } else if fires * 2 < frequency.period.most_fires_per_year() {
            self.problem(
                "frequency.cron",
                format!(
                    "\"{}\" fires {} a year, too seldom to collect every {name} of a {} collection",
                    frequency.cron,
                    if fires == 1 {
                        "once".to_string()
                    } else {
                        format!("{fires} times")
                    },
                    frequency.period.adjective()
                ),
            );
        }
        Some(frequency)
    }

    fn burden(&mut self, t: &Table) -> Option<BurdenEstimate> {
        let b = self.table(t, "burden")?;
        self.unknown_keys(
            b,
            "burden",
            &[
                "manual_minutes",
                "automated_minutes",
                "nil_minutes",
                "fix_minutes",
                "staff_group",
            ],
        );
        let staff_group = self.opt_str(b, "burden", "staff_group");
        if let Some(g) = &staff_group
            && (g.is_empty()
                || !g
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        {
            self.problem(
                "burden.staff_group",
                format!("\"{g}\" is not a staff group's name (a-z, 0-9 and _, as in bed_manager)"),
            );
        }
        let manual = self.number(b, "burden", "manual_minutes", 0.0, MAX_MINUTES);
        let automated = self.number(b, "burden", "automated_minutes", 0.0, MAX_MINUTES);
        let nil = b
            .contains_key("nil_minutes")
            .then(|| self.number(b, "burden", "nil_minutes", 0.0, MAX_MINUTES));
        let fix = b
            .contains_key("fix_minutes")
            .then(|| self.number(b, "burden", "fix_minutes", 0.0, MAX_MINUTES));
        Some(BurdenEstimate {
            manual_minutes: manual?,
            automated_minutes: automated?,
            nil_minutes: match nil {
                Some(n) => Some(n?),
                None => None,
            },
            fix_minutes: match fix {
                Some(n) => Some(n?),
                None => None,
            },
            staff_group,
        })
    }

    fn plausibility(&mut self, t: &Table) -> Option<Plausibility> {
        let p = match t.get("plausibility") {
            None => return None,
            Some(_) => self.table(t, "plausibility")?,
        };
        let prefix = "plausibility";
        self.unknown_keys(p, prefix, &["threshold", "periods", "zero"]);
        let threshold = self.number(p, prefix, "threshold", 1.0, 1000.0);
        let periods = match p.get("periods") {
            None => Some(Plausibility::DEFAULT_PERIODS),
            Some(_) => self.integer(p, prefix, "periods").and_then(|n| {
                let (least, most) = (Plausibility::LEAST_PERIODS, Plausibility::MOST_PERIODS);
                if (i64::from(least)..=i64::from(most)).contains(&n) {
                    Some(n as u32)
                } else {
                    self.problem(
                        "plausibility.periods",
                        format!("{n} is outside {least} to {most}: a baseline needs {least} comparable periods"),
                    );
                    None
                }
            }),
        };
        Some(Plausibility {
            threshold: threshold?,
            periods: periods?,
            zero: self.flag(p, prefix, "zero", true),
        })
    }

    fn item_names(&mut self, t: &Table, key: &str, names: &BTreeSet<&str>) -> Vec<String> {
        let list = self.str_list(t, "", key);
        for (i, n) in list.iter().enumerate() {
            if !names.contains(n.as_str()) {
                self.problem(&format!("{key}[{i}]"), format!("\"{n}\" is not an item"));
            }
        }
        list
    }
}
