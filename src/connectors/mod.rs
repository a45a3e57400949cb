//! How Tally reaches a provider's data: one config per (collection, provider) in the sources
//! file, each kind of connector a variant that fetches an extract to a local file. Secrets are
//! never written in the sources file: a connector names the environment variable or file
//! that holds them.

pub mod child;
pub mod convert;
pub mod file;
pub mod http;
pub mod mesh;
pub mod read;
pub mod spreadsheet;
pub mod sql;
pub mod unreadable;
pub mod upload;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::domain::RunKey;

/// The formats an extract can arrive in. All but CSV are turned into CSV before landing
/// (`convert`), so every source meets the same checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    /// A JSON array of flat objects.
    Json,
    /// One JSON object per line.
    JsonLines,
    Parquet,
    /// A spreadsheet's first sheet: XLSX, XLS or ODS.
    Xlsx,
}

impl Format {
    /// The format a file's name says it is in, if Tally reads that kind of file.
    pub fn from_name(name: &str) -> Option<Format> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "csv" => Format::Csv,
            "json" => Format::Json,
            "jsonl" | "ndjson" => Format::JsonLines,
            "parquet" => Format::Parquet,
            "xlsx" | "xlsm" | "xls" | "ods" => Format::Xlsx,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Json => "JSON",
            Format::JsonLines => "JSON lines",
            Format::Parquet => "Parquet",
            Format::Xlsx => "spreadsheet",
        }
    }

    /// The extension the raw input is kept under in the lake.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::JsonLines => "jsonl",
            Format::Parquet => "parquet",
            Format::Xlsx => "xlsx",
        }
    }
}

/// The file kinds the file connector and uploads take, for messages that name them.
pub const READABLE: &str = ".csv, .json, .jsonl, .ndjson, .parquet, .xlsx, .xls or .ods";

/// A secret a source names: from an environment variable or a file (relative to the
/// sources file, trimmed), one of the two; `None` when it names neither.
pub(crate) fn secret(
    env: &Option<String>,
    file: &Option<PathBuf>,
    base: &Path,
    what: &str,
) -> anyhow::Result<Option<String>> {
    match (env, file) {
        (None, None) => Ok(None),
        (Some(var), None) => std::env::var(var)
            .map(Some)
            .with_context(|| format!("the environment variable {var} ({what}) is not set")),
        (None, Some(f)) => Ok(Some(
            std::fs::read_to_string(base.join(f))
                .with_context(|| format!("cannot read {what} from {}", base.join(f).display()))?
                .trim()
                .to_owned(),
        )),
        (Some(_), Some(_)) => bail!("give {what} from an environment variable or a file, not both"),
    }
}

/// An extract fetched to a local file, ready to land.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub format: Format,
    /// Written by the connector for this run (a query's result), to be removed once landed.
    pub temporary: bool,
    /// What the source must be told once the extract has been dealt with (MESH messages are
    /// acknowledged, which takes them out of the inbox).
    pub receipt: Option<Receipt>,
    /// The source's ETag for this extract (HTTP).
    pub etag: Option<String>,
}

/// What a fetch found.
#[derive(Debug, Clone)]
pub enum Fetch {
    /// A new extract to land.
    Got(Fetched),
    /// The source says the extract has not changed since the current version (HTTP 304).
    Unchanged,
}

/// A source's own record of what was taken, to be acknowledged after landing.
#[derive(Debug, Clone, PartialEq)]
pub enum Receipt {
    /// MESH message ids: the one landed and any older ones it replaces.
    Mesh(Vec<String>),
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
    /// Messages for the collection's workflow in an NHS MESH mailbox.
    Mesh(mesh::MeshConfig),
    /// No source: the provider hands this collection in by hand (on its page, through the
    /// API or `tally upload`), although a `*` line gives every other provider one. Tally
    /// never pulls it, and reminds the provider as it does any provider that uploads.
    ByHand,
    /// A file handed over by hand (`tally upload`, and the web upload form). Never read from
    /// the sources file: an upload names its file itself.
    #[serde(skip)]
    Upload(upload::Upload),
}

impl ConnectorConfig {
    /// Fetches the extract for one run; `base` is the sources file's folder, which relative
    /// paths are read from, and `work` a folder for extracts the connector writes itself.
    /// `etag` is the current version's, for a source that can say nothing has changed;
    /// `timezone` the collection's, which its periods' days are in.
    pub async fn fetch(
        &self,
        key: &RunKey,
        base: &Path,
        work: &Path,
        etag: Option<&str>,
        timezone: chrono_tz::Tz,
    ) -> anyhow::Result<Fetch> {
        Ok(Fetch::Got(match self {
            ConnectorConfig::File(c) => c.fetch(key, base)?,
            ConnectorConfig::Sql(c) => c.fetch(key, base, work, timezone).await?,
            ConnectorConfig::Http(c) => return c.fetch(key, base, work, etag).await,
            ConnectorConfig::Mesh(c) => c.fetch(key, base, work).await?,
            ConnectorConfig::Upload(c) => c.fetch()?,
            ConnectorConfig::ByHand => anyhow::bail!(
                "{} from {} is handed in by hand: its sources line says there is no source to pull",
                key.collection,
                key.provider
            ),
        }))
    }

    /// Tells the source that an extract it gave has been dealt with: landed, or rejected
    /// with a report (which the provider answers by sending a corrected one). A failed run
    /// is not acknowledged, so that its retry finds the extract again.
    pub async fn acknowledge(&self, receipt: &Receipt, base: &Path) -> anyhow::Result<()> {
        match (self, receipt) {
            (ConnectorConfig::Mesh(c), Receipt::Mesh(ids)) => c.acknowledge(ids, base).await,
            _ => Ok(()),
        }
    }

    /// The host a connector reaches over the network, for the per-host limit on pulls
    /// running at once; `None` for local files.
    pub fn host(&self, base: &Path) -> Option<String> {
        let url = match self {
            ConnectorConfig::Http(c) => c.url.clone(),
            ConnectorConfig::Mesh(c) => c.url.clone(),
            ConnectorConfig::Sql(c) => return c.host(base),
            ConnectorConfig::File(_) | ConnectorConfig::Upload(_) | ConnectorConfig::ByHand => {
                return None;
            }
        };
        url::Url::parse(&url)
            .ok()?
            .host_str()
            .map(str::to_ascii_lowercase)
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
    /// Where each (collection, provider) is in `source`, made on the first lookup: the
    /// scheduler looks up every obligation each step, and a file may list thousands.
    #[serde(skip)]
    index: std::sync::OnceLock<std::collections::HashMap<(String, String), usize>>,
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

    /// The source for one collection and provider: the provider's own, else the `*` one;
    /// none for a provider that hands it in by hand.
    pub fn find(&self, collection: &str, provider: &str) -> Option<&Source> {
        let index = self.index.get_or_init(|| {
            let mut index = std::collections::HashMap::new();
            for (i, s) in self.source.iter().enumerate() {
                // The first line for a pair is the one that counts, as it always was.
                index
                    .entry((s.collection.clone(), s.provider.clone()))
                    .or_insert(i);
            }
            index
        });
        let of = |p: &str| {
            index
                .get(&(collection.to_owned(), p.to_owned()))
                .map(|&i| &self.source[i])
        };
        // A provider's own `by_hand` line means it has no source, whatever `*` says.
        let source = of(provider).or_else(|| of("*"))?;
        (!matches!(source.connector, ConnectorConfig::ByHand)).then_some(source)
    }

    /// Sources given in code rather than read from a file (an upload names its own).
    pub fn of(source: Vec<Source>, base: PathBuf) -> Sources {
        Sources {
            source,
            base,
            index: std::sync::OnceLock::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_by_hand_line_means_no_source_whatever_the_wildcard_says() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sources.toml");
        std::fs::write(
            &path,
            "[[source]]\ncollection = \"care-home-capacity\"\nprovider = \"*\"\nkind = \"file\"\nfolder = \"drop\"\nname = \"{provider}_{period}.csv\"\n\n\
             [[source]]\ncollection = \"care-home-capacity\"\nprovider = \"1-101\"\nkind = \"by_hand\"\n",
        )
        .unwrap();
        let sources = Sources::load(&path).unwrap();
        assert!(sources.find("care-home-capacity", "1-102").is_some());
        assert!(sources.find("care-home-capacity", "1-101").is_none());
        // Were it asked to pull, it says why it cannot.
        let key = RunKey {
            collection: "care-home-capacity".into(),
            provider: "1-101".into(),
            period: crate::domain::Period::parse("2026-06").unwrap(),
        };
        let e = ConnectorConfig::ByHand
            .fetch(
                &key,
                dir.path(),
                dir.path(),
                None,
                chrono_tz::Europe::London,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("handed in by hand"), "{e}");
    }
}
