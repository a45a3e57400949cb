//! A table over exactly the given Parquet files: the current versions a build reads, from
//! packs where they can be and from their own files otherwise (`landing::pack::plan`).
//! A listing table would list (and stat) each file as a location of its own, which costs a
//! millisecond a file where the lake is not packed. This one hands the files straight to
//! DataFusion's Parquet scan, with the rows to read of a pack that holds versions no longer
//! current, spread over as many partitions as the session has.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::landing::pack::Read;

#[derive(Debug)]
pub struct Files {
    schema: SchemaRef,
    /// Object-store paths (absolute, without the leading `/`), with their sizes and, for a
    /// pack read in part, the rows to read.
    files: Vec<PartitionedFile>,
}

/// The object-store path of a local file: absolute, without the leading `/`.
fn store_path(p: &std::path::Path) -> anyhow::Result<String> {
    let p = std::path::absolute(p)?;
    Ok(p.to_str()
        .ok_or_else(|| anyhow::anyhow!("{} is not a UTF-8 path", p.display()))?
        .trim_start_matches('/')
        .to_owned())
}

impl Files {
    /// The files `reads` names, which must exist; a version's file is stat'ed once for its
    /// size, a pack's size is in its manifest.
    pub fn new(schema: SchemaRef, reads: &[Read]) -> anyhow::Result<Files> {
        let mut files = Vec::with_capacity(reads.len());
        for read in reads {
            files.push(match read {
                Read::File(p) => {
                    let size = std::fs::metadata(p)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?
                        .len();
                    PartitionedFile::new(store_path(p)?, size)
                }
                Read::Pack {
                    path,
                    bytes,
                    rows,
                    ranges,
                } => {
                    let file = PartitionedFile::new(store_path(path)?, *bytes);
                    match ranges {
                        None => file,
                        Some(ranges) => file.with_extension(ParquetRowSelection::new(
                            Read::selection(*rows, ranges),
                        )),
                    }
                }
            });
        }
        Ok(Files { schema, files })
    }
}

#[async_trait]
impl TableProvider for Files {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Files are dealt to the partitions in turn, in the given order: the same files
        // always make the same plan.
        let n = state
            .config()
            .target_partitions()
            .clamp(1, self.files.len().max(1));
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); n];
        for (i, file) in self.files.iter().enumerate() {
            groups[i % n].push(file.clone());
        }
        let source = ParquetSource::new(self.schema.clone())
            .with_table_parquet_options(state.table_options().parquet.clone());
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}
