//! What a correction changes: the rows of a period's current version against those of the
//! file meant to replace it, matched on the collection's key. Counted, never listed: a
//! provider sees how many rows are new, gone, changed and the same before it confirms.

use std::path::Path;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::definition::CollectionDef;

/// How the rows of a correction compare with the version it would replace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Changes {
    /// Rows whose key the current version does not have.
    pub added: u64,
    /// Rows of the current version whose key the correction does not have.
    pub removed: u64,
    /// Rows with the same key and some other item different.
    pub changed: u64,
    /// Rows with the same key and every item the same.
    pub same: u64,
}

/// Compares the version at `before` with the rows at `after`, both written by the landing,
/// on `def`'s key. `None` when the collection has no key to match rows on, or the two files
/// do not have the same items (the definition changed between them).
pub async fn changes(
    def: &CollectionDef,
    before: &Path,
    after: &Path,
) -> anyhow::Result<Option<Changes>> {
    if def.key.is_empty() {
        return Ok(None);
    }
    let ctx = SessionContext::new();
    let read = ParquetReadOptions::default();
    ctx.register_parquet("before", path_text(before)?, read.clone())
        .await?;
    ctx.register_parquet("after", path_text(after)?, read)
        .await?;
    let names = async |t: &str| -> anyhow::Result<Vec<String>> {
        let table = ctx.table(t).await?;
        Ok(table
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect())
    };
    if names("before").await? != names("after").await? {
        return Ok(None);
    }
    let quote = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
    let keys: Vec<String> = def.key.iter().map(|k| quote(k)).collect();
    let others: Vec<String> = def
        .items
        .iter()
        .filter(|i| !def.key.contains(&i.name))
        .map(|i| quote(&i.name))
        .collect();
    let on = keys
        .iter()
        .map(|k| format!("(a.{k} IS NOT DISTINCT FROM b.{k})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let differs = if others.is_empty() {
        "FALSE".to_owned()
    } else {
        others
            .iter()
            // Each in brackets: the SQL parser binds IS DISTINCT FROM looser than OR.
            .map(|c| format!("(a.{c} IS DISTINCT FROM b.{c})"))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let sql = format!(
        "SELECT \
           SUM(CASE WHEN b.present IS NULL THEN 1 ELSE 0 END) AS added, \
           SUM(CASE WHEN a.present IS NULL THEN 1 ELSE 0 END) AS removed, \
           SUM(CASE WHEN a.present AND b.present AND ({differs}) THEN 1 ELSE 0 END) AS changed, \
           SUM(CASE WHEN a.present AND b.present AND NOT ({differs}) THEN 1 ELSE 0 END) AS same \
         FROM (SELECT *, TRUE AS present FROM after) a \
         FULL OUTER JOIN (SELECT *, TRUE AS present FROM before) b ON {on}"
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let count = |col: usize| -> u64 {
        batches
            .first()
            .and_then(|b| b.column(col).as_any().downcast_ref::<Int64Array>())
            .filter(|a| !a.is_empty() && !a.is_null(0))
            .map_or(0, |a| a.value(0).max(0) as u64)
    };
    Ok(Some(Changes {
        added: count(0),
        removed: count(1),
        changed: count(2),
        same: count(3),
    }))
}

fn path_text(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow::anyhow!("{} is not a UTF-8 path", p.display()))
}
