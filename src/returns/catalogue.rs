//! The return catalogue: `queries/<name>.sql` with `queries/<name>.toml` beside it.
//!
//! ```toml
//! title = "UEC daily bed SitRep"
//! inputs = ["ward-bed-census"]     # listed collections, read as tables named with `_`
//! expects = ["acute_trust"]        # the kinds of provider the return is about
//! period = "day"                   # the period one artifact covers
//! level_column = "level"           # which level each row is at; rows at `national` are
//! national = "england"             # not disclosure-controlled
//!
//! [[columns]]                      # every output column, in order
//! name = "name"
//! attribute = true                 # describes a row without identifying it (SDMX attribute)
//! [[columns]]
//! name = "occupied_beds"
//! measure = "non_person"           # counts: person (disclosure-controlled) or non_person
//! unit = "beds"                    # for the metadata that goes with a download
//! [[columns]]
//! name = "occupancy_pct"
//! derived_from = ["occupied_beds", "available_beds"]  # suppressed if either is
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::domain::PeriodKind;
use crate::domain::definition::Slug;
use crate::domain::provider::ProviderKind;

/// What a count column counts: people (small numbers could identify someone) or things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Person,
    NonPerson,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    /// For a count: what it counts.
    pub measure: Option<Measure>,
    /// For a figure derived from counts (a percentage): the counts it comes from.
    #[serde(default)]
    pub derived_from: Vec<String>,
    /// What the column holds, for the notes that go with an export.
    pub description: Option<String>,
    /// The unit a figure is in (`beds`, `per cent`, `days`), for the metadata that goes
    /// with an export.
    pub unit: Option<String>,
    /// A column that describes a row without identifying it (a trust's name, the days it
    /// reported): an attribute in SDMX, where the other columns that are not figures are
    /// the dimensions.
    #[serde(default)]
    pub attribute: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    title: String,
    inputs: Vec<String>,
    expects: Vec<String>,
    period: String,
    #[serde(default = "default_level_column")]
    level_column: String,
    #[serde(default = "default_national")]
    national: String,
    columns: Vec<Column>,
}

fn default_level_column() -> String {
    "level".into()
}

fn default_national() -> String {
    "england".into()
}

/// The column a build adds to every artifact, naming each row's figures that rest on a
/// figure held for its provider's confirmation (see `provisional`).
pub const PROVISIONAL_COLUMN: &str = "provisional";

/// One national return.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReturnDef {
    pub name: String,
    pub title: String,
    pub inputs: Vec<Slug>,
    /// The kinds of provider the return is about: only their extracts are read, and only
    /// they are expected in its completeness (the daily SitRep is owed by acute trusts,
    /// though the census it is built from is also sent by mental-health trusts).
    pub expects: Vec<ProviderKind>,
    pub period: PeriodKind,
    pub level_column: String,
    pub national: String,
    pub columns: Vec<Column>,
    pub sql: String,
    pub sql_path: PathBuf,
    /// The sidecar's text, which with `sql` is what DAP licenses.
    #[serde(skip)]
    pub sidecar: String,
    /// The licence this text is in force under, when it was read from the register; a
    /// return read from the queries folder has none.
    pub licence: Option<QueryLicence>,
}

/// A return's licence: its number and the version of its text DAP listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryLicence {
    pub number: String,
    pub version: i64,
}

impl ReturnDef {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The table name an input collection is read as in the SQL: `ward-bed-census` is
    /// `ward_bed_census`.
    pub fn table_name(slug: &str) -> String {
        slug.replace('-', "_")
    }
}

/// Every return in a folder, by name.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub returns: BTreeMap<String, ReturnDef>,
}

impl Catalogue {
    /// Reads every `<name>.toml` with its `<name>.sql` in `dir`. Every problem in every file
    /// is reported at once, as `file: reason`; nothing loads if any is found.
    pub fn load(dir: &Path) -> anyhow::Result<Catalogue> {
        let mut problems = Vec::new();
        let mut returns = BTreeMap::new();
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the returns folder {}", dir.display()))?;
        let mut sidecars: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        sidecars.sort();
        for path in sidecars {
            match load_one(&path) {
                Ok(def) => {
                    returns.insert(def.name.clone(), def);
                }
                Err(e) => problems.push(format!("{}: {e:#}", path.display())),
            }
        }
        if !problems.is_empty() {
            bail!(
                "{} problem{} in the returns in {}:\n  {}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                dir.display(),
                problems.join("\n  ")
            );
        }
        Ok(Catalogue { returns })
    }

    pub fn get(&self, name: &str) -> anyhow::Result<&ReturnDef> {
        self.returns.get(name).with_context(|| {
            let known: Vec<&str> = self.returns.keys().map(String::as_str).collect();
            format!(
                "there is no return \"{name}\"; the returns are: {}",
                known.join(", ")
            )
        })
    }
}

fn load_one(path: &Path) -> anyhow::Result<ReturnDef> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .context("the file name is not UTF-8")?
        .to_owned();
    let text = std::fs::read_to_string(path)?;
    let sql_path = path.with_extension("sql");
    let sql = std::fs::read_to_string(&sql_path)
        .with_context(|| format!("cannot read its query {}", sql_path.display()))?;
    ReturnDef::parse(&name, &text, sql, sql_path)
}

impl ReturnDef {
    /// A return from its sidecar's text and its query, as the files give them or as the
    /// register keeps a licensed version of them.
    pub fn parse(
        name: &str,
        text: &str,
        sql: String,
        sql_path: PathBuf,
    ) -> anyhow::Result<ReturnDef> {
        let name = name.to_owned();
        Slug::parse(&name).map_err(|e| anyhow::anyhow!("the return's name: {e}"))?;
        let sidecar: Sidecar = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].lines().count().max(1);
                    format!("line {line}: ")
                })
                .unwrap_or_default();
            anyhow::anyhow!("{at}{}", e.message())
        })?;
        let period = PeriodKind::ALL
            .into_iter()
            .find(|k| k.as_str() == sidecar.period)
            .with_context(|| {
                format!(
                    "period: unknown period \"{}\" (expected day, week, month, quarter or year)",
                    sidecar.period
                )
            })?;
        let mut inputs = Vec::new();
        for (i, s) in sidecar.inputs.iter().enumerate() {
            inputs.push(Slug::parse(s).map_err(|e| anyhow::anyhow!("inputs[{i}]: {e}"))?);
        }
        if inputs.is_empty() {
            bail!("inputs: a return reads at least one collection");
        }
        let mut expects = Vec::new();
        for (i, k) in sidecar.expects.iter().enumerate() {
            expects.push(ProviderKind::parse(k).map_err(|e| anyhow::anyhow!("expects[{i}]: {e}"))?);
        }
        if expects.is_empty() {
            bail!(
                "expects: name the kinds of provider the return is about, e.g. [\"acute_trust\"]"
            );
        }
        if sidecar.columns.is_empty() {
            bail!("columns: declare the return's output columns");
        }
        for (i, c) in sidecar.columns.iter().enumerate() {
            if sidecar.columns[..i].iter().any(|o| o.name == c.name) {
                bail!("columns[{i}]: \"{}\" is declared twice", c.name);
            }
            if c.name == PROVISIONAL_COLUMN || c.name.ends_with("_status") {
                bail!(
                    "columns[{i}]: \"{}\" is a name Tally gives the columns it adds (provisional, <figure>_status); call it something else",
                    c.name
                );
            }
            if c.attribute && (c.measure.is_some() || !c.derived_from.is_empty()) {
                bail!(
                    "columns[{i}]: \"{}\" is a figure, so it cannot be an attribute",
                    c.name
                );
            }
            if c.attribute && c.name == sidecar.level_column {
                bail!(
                    "columns[{i}]: the level column identifies a row, so it cannot be an attribute"
                );
            }
            for d in &c.derived_from {
                if !sidecar
                    .columns
                    .iter()
                    .any(|o| &o.name == d && o.measure.is_some())
                {
                    bail!(
                        "columns[{i}]: derived_from names \"{d}\", which is not a count column of this return"
                    );
                }
            }
        }
        if !sidecar
            .columns
            .iter()
            .any(|c| c.name == sidecar.level_column)
        {
            bail!(
                "level_column: \"{}\" is not one of the columns",
                sidecar.level_column
            );
        }
        Ok(ReturnDef {
            name,
            title: sidecar.title,
            inputs,
            expects,
            period,
            level_column: sidecar.level_column,
            national: sidecar.national,
            columns: sidecar.columns,
            sql,
            sql_path,
            sidecar: text.to_owned(),
            licence: None,
        })
    }
}
