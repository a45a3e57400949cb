//! How Tally reaches a provider's data: one config per (collection, provider) in the sources
//! file, each kind of connector a variant that fetches an extract to a local file. Secrets are
//! never written in the sources file: a connector names the environment variable or file
//! that holds them.

pub mod file;
pub mod http;
pub mod sql;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::schedule::timetable::RunKey;

/// The formats an extract can arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
}

/// An extract fetched to a local file, ready to land.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub format: Format,
    /// Written by the connector for this run (a query's result), to be removed once landed.
    pub temporary: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectorConfig {
    /// Files dropped in a folder.
    File(file::FileConfig),
    /// A read-only query against the provider's PostgreSQL or MySQL/MariaDB database.
    Sql(sql::SqlConfig),
    /// A GET from the provider's system: CSV, or JSON turned into CSV.
    Http(http::HttpConfig),
}

impl ConnectorConfig {
    /// Fetches the extract for one run; `base` is the sources file's folder, which relative
    /// paths are read from, and `work` a folder for extracts the connector writes itself.
    pub async fn fetch(&self, key: &RunKey, base: &Path, work: &Path) -> anyhow::Result<Fetched> {
        match self {
            ConnectorConfig::File(c) => c.fetch(key, base),
            ConnectorConfig::Sql(c) => c.fetch(key, base, work).await,
            ConnectorConfig::Http(c) => c.fetch(key, base, work).await,
        }
    }
}

/// One line of the sources file: which connector serves which collection and provider.
/// (Unknown fields are caught by each connector's own settings, which see the rest.)
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Source {
    pub collection: String,
    /// A provider code, or `*` for every provider without a source of its own.
    pub provider: String,
    #[serde(flatten)]
    pub connector: ConnectorConfig,
}

/// The sources file (`sources.toml`): `[[source]]` tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    #[serde(default)]
    pub source: Vec<Source>,
    #[serde(skip)]
    pub base: PathBuf,
}

impl Sources {
    /// Reads the sources file; a file that does not exist means no sources yet.
    pub fn load(path: &Path) -> anyhow::Result<Sources> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Sources::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut sources: Sources = toml::from_str(&text)
            .map_err(|e: toml::de::Error| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        sources.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(sources)
    }

    /// The source for one collection and provider: the provider's own, else the `*` one.
    pub fn find(&self, collection: &str, provider: &str) -> Option<&Source> {
        let of = |p: &str| {
            self.source
                .iter()
                .find(|s| s.collection == collection && s.provider == p)
        };
        of(provider).or_else(|| of("*"))
    }
}
