//! A manual upload: a CSV or spreadsheet that a provider hands over for one period, by
//! `tally upload` or the web form. It lands by the same path as a pulled extract, with the
//! same checks and report; only the fetching differs.

use std::path::PathBuf;

use anyhow::bail;

use super::{Fetched, Format};

/// The file kinds an upload takes.
pub const UPLOADABLE: &str = ".csv, .xlsx, .xls or .ods";

#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// The uploaded file, which stays where it is (the web form's copy is its own).
    pub path: PathBuf,
    /// The name the file was given, which says its format.
    pub name: String,
}

impl Upload {
    pub fn fetch(&self) -> anyhow::Result<Fetched> {
        let format = match Format::from_name(&self.name) {
            Some(f @ (Format::Csv | Format::Xlsx)) => f,
            _ => bail!(
                "{} is not a file an upload takes; upload a {UPLOADABLE} file",
                self.name
            ),
        };
        if !self.path.is_file() {
            bail!("there is no file at {}", self.path.display());
        }
        Ok(Fetched {
            path: self.path.clone(),
            format,
            temporary: false,
            receipt: None,
            etag: None,
        })
    }
}
