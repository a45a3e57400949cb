//! The `file` connector: extracts that a provider's system drops in a folder, named by a
//! template such as `{provider}_{period}.csv`. The name's extension says the format: CSV,
//! JSON, JSON lines, Parquet or a spreadsheet.

use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::Deserialize;

use super::{Fetched, Format};
use crate::domain::RunKey;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The drop folder, relative to the sources file.
    pub folder: PathBuf,
    /// The file name, with `{provider}`, `{period}` and `{collection}` filled in.
    pub name: String,
}

impl FileConfig {
    pub fn fetch(&self, key: &RunKey, base: &Path) -> anyhow::Result<Fetched> {
        // Codes, periods and slugs are checked types that hold no path separators, so a
        // template cannot be made to reach outside the drop folder.
        let name = self
            .name
            .replace("{provider}", &key.provider)
            .replace("{period}", &key.period.to_string())
            .replace("{collection}", &key.collection);
        if name.contains('/') || name.contains('\\') || name.contains("..") {
            bail!("the file name template gives \"{name}\", which is not a plain file name");
        }
        let path = base.join(&self.folder).join(&name);
        if !path.is_file() {
            bail!("no extract at {} yet", path.display());
        }
        let Some(format) = Format::from_name(&name) else {
            bail!(
                "{} is not a kind of file Tally reads; name extracts {}",
                path.display(),
                super::READABLE
            );
        };
        Ok(Fetched {
            path,
            format,
            temporary: false,
            receipt: None,
            etag: None,
        })
    }
}
