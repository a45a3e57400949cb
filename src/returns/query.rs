//! The query side of a build: a DataFusion session sized for the machine, the input tables
//! over exactly the files a build reads, the `providers` table, the return's SQL planned
//! with a fixed sort on every column, and errors that name the file, line and column.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::catalogue::ReturnDef;
use super::provisional::HeldInput;
use crate::domain::definition::CollectionDef;
use crate::domain::provider::Provider;
use crate::landing::pack::Read;
use crate::registry::Registry;

/// How much memory one build may hold before DataFusion spills to disk.
pub const MEMORY_LIMIT: usize = 2 << 30;

/// `schema` with its text as `from` replaced by `to`. Inputs are read with text as string
/// views, which the Parquet reader fills without copying each value and DataFusion compares
/// and groups faster (a KH03 quarter's query in about 110 ms rather than 150 ms); the
/// artifact keeps plain text, so its bytes and the exports do not depend on that choice.
pub fn retype_text(schema: &Schema, from: &DataType, to: &DataType) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                t if t == from => f.as_ref().clone().with_data_type(to.clone()),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// The query's rows with string views turned back into plain text.
pub fn plain_text(batch: &RecordBatch, schema: &SchemaRef) -> anyhow::Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn providers_table(providers: &[Provider]) -> anyhow::Result<MemTable> {
    let text = |f: &dyn Fn(&Provider) -> Option<String>| -> Arc<StringArray> {
        Arc::new(StringArray::from_iter(providers.iter().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("code", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("icb", DataType::Utf8, true),
        Field::new("local_authority", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            text(&|p| Some(p.code.to_string())),
            text(&|p| Some(p.name.clone())),
            text(&|p| Some(p.kind.as_str().to_owned())),
            text(&|p| Some(p.region.clone())),
            text(&|p| p.icb.clone()),
            text(&|p| p.local_authority.clone()),
        ],
    )?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

/// A DataFusion session sized for this machine: partitions to match the cores, and a
/// memory limit past which sorts and joins spill. Filters are not pushed into the Parquet
/// decoder: over many small files it costs more than it saves (a KH03 quarter in 11.8 s
/// without, 15.9 s with, measured with `benches/run-returns`). Any
/// `DATAFUSION_*` environment variable (DataFusion's own names, such as
/// `DATAFUSION_EXECUTION_TARGET_PARTITIONS`) overrides these, to measure other settings.
pub fn session() -> anyhow::Result<SessionContext> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let set = |name: &str| std::env::var_os(format!("DATAFUSION_{name}")).is_some();
    let mut options = datafusion::config::ConfigOptions::from_env()?;
    if !set("EXECUTION_TARGET_PARTITIONS") {
        options.execution.target_partitions = cores;
    }
    // Keeps where each name is in the query, so a planning error can give its line.
    options.sql_parser.collect_spans = true;
    let config = SessionConfig::from(options);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(MEMORY_LIMIT, 1.0)
        .build_arc()?;
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// Registers the tables a return's query reads, over the given extract versions, and
/// checks that the query plans and gives the declared columns. Used both to build and to
/// check a return before anything is built.
pub async fn prepare(
    ctx: &SessionContext,
    def: &ReturnDef,
    inputs: &[(CollectionDef, Vec<Read>)],
    providers: &[Provider],
    held: &[HeldInput],
) -> anyhow::Result<datafusion::dataframe::DataFrame> {
    for (collection, files) in inputs {
        let table_name = ReturnDef::table_name(collection.slug.as_str());
        let schema = retype_text(
            &crate::landing::lake::schema(collection),
            &DataType::Utf8,
            &DataType::Utf8View,
        );
        if files.is_empty() {
            ctx.register_table(
                &table_name,
                Arc::new(MemTable::try_new(schema, vec![vec![]])?),
            )?;
            continue;
        }
        let table = super::table::Files::new(schema.clone(), files)?;
        let moved: Vec<&HeldInput> = held
            .iter()
            .filter(|h| h.collection == collection.slug.as_str())
            .collect();
        if moved.is_empty() {
            ctx.register_table(&table_name, Arc::new(table))?;
            continue;
        }
        // The query reads the rows as sent with the held figures moved (see `provisional`).
        let sent = format!("{table_name}__as_sent");
        ctx.register_table(&sent, Arc::new(table))?;
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let view = ctx
            .sql(&super::provisional::moved(
                collection, &moved, &sent, &columns,
            ))
            .await
            .context("moving the held figures")?
            .into_view();
        ctx.register_table(&table_name, view)?;
    }
    ctx.register_table("providers", Arc::new(providers_table(providers)?))?;
    // Only the end is trimmed, so that lines in DataFusion's errors are the file's lines.
    let sql = def.sql.trim_end().trim_end_matches(';');
    let frame = ctx
        .sql(sql)
        .await
        .map_err(|e| plan_error(&def.sql_path, &e))?;
    // Every column in turn: the same inputs always give the same rows in the same order.
    let order: Vec<_> = frame
        .schema()
        .columns()
        .into_iter()
        .map(|c| datafusion::prelude::Expr::Column(c).sort(true, false))
        .collect();
    let frame = frame
        .sort(order)
        .map_err(|e| plan_error(&def.sql_path, &e))?;
    let names: Vec<String> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let declared: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
    if names != declared {
        bail!(
            "{}: the query gives the columns {} but {}.toml declares {}",
            def.sql_path.display(),
            names.join(", "),
            def.name,
            declared.join(", ")
        );
    }
    Ok(frame)
}

/// Why a query does not plan, naming its file and, where DataFusion can tell, the line and
/// column.
fn plan_error(path: &Path, e: &datafusion::error::DataFusionError) -> anyhow::Error {
    let text = e.to_string();
    let at = e
        .diagnostic()
        .and_then(|d| d.span)
        .map(|s| (s.start.line, s.start.column))
        .or_else(|| {
            // A parse error carries its place only in its message.
            let found = regex::Regex::new(r"Line: (\d+), Column: (\d+)")
                .expect("a valid pattern")
                .captures(&text)?;
            Some((found[1].parse().ok()?, found[2].parse().ok()?))
        });
    match at {
        Some((line, column)) => anyhow::anyhow!(
            "{}, line {line}, column {column}: the query does not plan: {text}",
            path.display()
        ),
        None => anyhow::anyhow!("{}: the query does not plan: {text}", path.display()),
    }
}

/// Checks a return against the register as it is now: every input listed, the query plans
/// against the inputs' schemas and gives the declared columns.
pub async fn check(registry: &Registry, def: &ReturnDef, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut inputs = Vec::new();
    for slug in &def.inputs {
        let licensed = registry
            .require_listed(slug.as_str(), now)
            .await
            .with_context(|| format!("{}: input {slug}", def.name))?;
        inputs.push((licensed.def, Vec::new()));
    }
    prepare(&session()?, def, &inputs, &[], &[])
        .await
        .map(|_| ())
}
