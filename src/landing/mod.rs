//! Landing: one extract, parsed against the listed items, checked row by row, and written to
//! the lake as Parquet. Columns that are not listed items are dropped before anything is
//! stored (rule 8). Rows that fail a check are kept out of the lake, reported with their
//! line, item and reason, and kept in quarantine beside the version (or, for a collection
//! with `bad_rows = "reject"`, make the whole extract rejected); an extract that cannot be
//! read at all is rejected whole, and the version already current stays current.

mod chunks;
pub mod diff;
pub mod lake;
pub mod limits;
pub mod pack;
pub mod plausible;
pub mod raw;
pub mod template;
pub mod validate;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context;
use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::domain::RunKey;
use crate::domain::definition::{BadRows, CollectionDef};
use chunks::{Checker, Chunk, Merger};
use lake::{Lake, PendingFile};
use validate::RowProblem;

/// Rows per Arrow batch: memory stays bounded by this, not by the size of the extract.
pub const BATCH_ROWS: usize = 65_536;

/// Problem rows shown per check in a report; the counts cover all of them.
const SHOWN_PER_CHECK: usize = 5;

/// What a landing found, for the provider to act on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub collection: String,
    pub provider: String,
    pub period: String,
    /// Data rows in the extract.
    pub rows_in: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Columns that are not listed items, dropped before anything was stored.
    pub dropped_columns: Vec<String>,
    /// Rows that broke each check, with the first few of them.
    pub checks: BTreeMap<String, CheckCount>,
    /// Why the whole extract was rejected, when it was.
    pub rejected: Option<String>,
    /// The provider declared the period a nil return: nothing to report.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nil_return: bool,
    /// Figures far from the provider's own recent ones: landed, but held until the
    /// provider confirms them (the first few; `held_total` counts them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<plausible::Held>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_total: usize,
    /// Why the figures were not compared with earlier periods, when they were not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_compared: Option<String>,
    /// True only when the input was read and holds nothing but listed items: its header
    /// names listed items only and no row has extra fields. Only then may the raw input be
    /// kept (rule 8).
    #[serde(skip)]
    pub raw_listed_only: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckCount {
    pub rows: u64,
    pub first: Vec<RowProblem>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Report {
    fn note(&mut self, problems: Vec<RowProblem>) {
        for p in problems {
            let c = self.checks.entry(p.rule.clone()).or_default();
            c.rows += 1;
            if c.first.len() < SHOWN_PER_CHECK {
                c.first.push(p);
            }
        }
    }

    /// The report as a provider reads it.
    pub fn text(&self) -> String {
        if self.nil_return {
            return format!(
                "{} from {} for {}: a nil return; the provider has nothing to report for the period.\n",
                self.collection, self.provider, self.period
            );
        }
        let mut out = format!(
            "{} from {} for {}: {} rows in, {} accepted, {} rejected.\n",
            self.collection,
            self.provider,
            self.period,
            self.rows_in,
            self.rows_accepted,
            self.rows_rejected
        );
        if let Some(why) = &self.rejected {
            out.push_str(&format!("The extract was rejected: {why}\n"));
        }
        if !self.dropped_columns.is_empty() {
            out.push_str(&format!(
                "Dropped columns that are not listed items: {}.\n",
                self.dropped_columns.join(", ")
            ));
        }
        let problems: u64 = self.checks.values().map(|c| c.rows).sum();
        if problems > limits::MOST_QUARANTINED {
            out.push_str(&format!(
                "Only the first {} problems are kept in quarantine.\n",
                limits::count(limits::MOST_QUARANTINED)
            ));
        }
        for (check, c) in &self.checks {
            out.push_str(&format!(
                "{check}: {} row{}\n",
                c.rows,
                if c.rows == 1 { "" } else { "s" }
            ));
            for p in &c.first {
                out.push_str(&format!("  line {}: {}: {}\n", p.row, p.item, p.reason));
            }
        }
        if self.held_total > 0 {
            let daily = crate::domain::Period::parse(&self.period)
                .is_ok_and(|p| p.kind() == crate::domain::PeriodKind::Day);
            out.push_str(&format!(
                "Awaiting your confirmation: {} figure{} far from your own recent figures. The period is received; until you confirm {} or send a correction, returns mark what is built on {} provisional.\n",
                self.held_total,
                if self.held_total == 1 { " is" } else { "s are" },
                if self.held_total == 1 { "it" } else { "them" },
                if self.held_total == 1 { "it" } else { "them" },
            ));
            for h in &self.held {
                out.push_str(&format!("  {}\n", h.said(daily)));
            }
            if self.held.len() < self.held_total {
                out.push_str(&format!(
                    "  and {} more\n",
                    self.held_total - self.held.len()
                ));
            }
        }
        if let Some(why) = &self.not_compared {
            out.push_str(&format!("Not compared with your earlier periods: {why}.\n"));
        }
        out
    }
}

/// The outcome of a landing.
pub enum Outcome {
    /// Valid rows are written and waiting to be committed as the next version.
    Ready(Box<PendingFile>, Report),
    /// Nothing lands; the report says why.
    Rejected(Report),
}

/// A nil return for `key`: no rows, written as an empty version with the collection's
/// columns, so that the period is received and every return reads it as nothing to add.
pub fn land_nil(def: &CollectionDef, key: &RunKey, lake: &Lake) -> anyhow::Result<Outcome> {
    let pending = lake.create(key, lake::schema(def))?;
    let report = Report {
        collection: key.collection.clone(),
        provider: key.provider.clone(),
        period: key.period.to_string(),
        nil_return: true,
        ..Report::default()
    };
    Ok(Outcome::Ready(Box::new(pending), report))
}

/// Reads a CSV extract at `raw`, checks it against `def` and writes its valid rows to a new
/// pending version in `lake`. The file is read as a stream, one batch of rows at a time.
pub async fn land_csv(
    def: &CollectionDef,
    key: &RunKey,
    raw: &Path,
    lake: &Lake,
) -> anyhow::Result<Outcome> {
    let mut report = Report {
        collection: key.collection.clone(),
        provider: key.provider.clone(),
        period: key.period.to_string(),
        ..Report::default()
    };
    let file = std::fs::File::open(raw)
        .with_context(|| format!("cannot read the extract {}", raw.display()))?;
    // Every row is metered, so a row without an end is refused before it fills memory.
    let (metered, mark) = limits::Metered::new(file);
    let mut input = BufReader::new(metered);
    // An extract rejected before it was read to its end may hold anything past that
    // point, so its raw input is never kept (rule 8); one read whole keeps what it found.
    let reject = |mut report: Report, why: String| {
        report.rejected = Some(why);
        report.raw_listed_only = false;
        Ok(Outcome::Rejected(report))
    };
    let rejected_whole = |mut report: Report, why: String| {
        report.rejected = Some(why);
        Ok(Outcome::Rejected(report))
    };
    let deadline = limits::Deadline::start(limits::MOST_TIME);
    // A byte-order mark is allowed and ignored.
    match input.fill_buf() {
        Ok(b) if b.starts_with(b"\xEF\xBB\xBF") => input.consume(3),
        Ok(_) => {}
        Err(e) => return reject(report, unreadable_io(e)?),
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_owned()).collect(),
        Err(e) => return reject(report, unreadable(e)?),
    };
    mark.row_ended();
    if header.iter().all(String::is_empty) {
        return reject(report, "the extract is empty".into());
    }
    if header.len() > limits::MOST_COLUMNS {
        return reject(
            report,
            format!(
                "the header has {} columns; an extract may have at most {}",
                limits::count(header.len() as u64),
                limits::count(limits::MOST_COLUMNS as u64)
            ),
        );
    }
    let mut named = std::collections::HashSet::with_capacity(header.len());
    for h in &header {
        if !named.insert(h.as_str()) {
            return reject(
                report,
                format!("the header names column \"{}\" twice", validate::shown(h)),
            );
        }
    }
    let missing: Vec<&str> = def
        .items
        .iter()
        .filter(|i| i.required && !header.contains(&i.name))
        .map(|i| i.name.as_str())
        .collect();
    if !missing.is_empty() {
        let hint = if header.len() == 1 && header[0].contains([';', '\t', '|']) {
            " (the file seems to use another delimiter; extracts are comma-separated)"
        } else {
            ""
        };
        return reject(
            report,
            format!("required columns are missing: {}{hint}", missing.join(", ")),
        );
    }
    // Named as the provider wrote them, but escaped and cut short: a header may hold
    // anything, a NUL included, which the register's text columns cannot keep.
    report.dropped_columns = header
        .iter()
        .filter(|h| def.item(h).is_none())
        .map(|h| validate::shown(h))
        .collect();
    report.raw_listed_only = report.dropped_columns.is_empty();

    let rules = Rules::new(def);
    let mut pending = lake.create(key, validate::schema(def))?;
    let mut checker = Checker::new(def, &header, &key.period);
    let mut merger = Merger::new(def, &header);
    let mut chunk = Chunk::default();
    // One record, read into again and again: no allocation a row.
    let mut record = csv::StringRecord::new();
    let stopped = loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break None,
            Err(e) => break Some(unreadable(e)?),
        }
        mark.row_ended();
        if report.rows_in >= limits::MOST_ROWS {
            break Some(format!(
                "the extract has more than {} rows, the most one extract may have",
                limits::count(limits::MOST_ROWS)
            ));
        }
        if report.rows_in.is_multiple_of(4096)
            && let Err(e) = deadline.check()
        {
            break Some(e.0);
        }
        report.rows_in += 1;
        // Extra fields are data under no listed name: the input must not be kept.
        if record.len() > header.len() {
            report.raw_listed_only = false;
        }
        // A full chunk goes once a row comes after it: an extract that ends with its first
        // chunk is checked on this thread.
        if chunk.is_full() {
            checker.send(std::mem::take(&mut chunk), false)?;
            while checker.busy() {
                take(&mut checker, &mut merger, &rules, &mut report, &mut pending).await?;
            }
        }
        chunk.push(record.position().map_or(0, |p| p.line()), &record);
    };
    // The rows read before a stop are checked and reported too: what was wrong with them
    // is worth knowing when the extract is sent again.
    checker.send(chunk, true)?;
    while take(&mut checker, &mut merger, &rules, &mut report, &mut pending).await? {}
    if let Some(why) = stopped {
        return reject(report, why);
    }
    if report.rows_in == 0 {
        return rejected_whole(report, "the extract has a header but no rows".into());
    }
    if report.rows_accepted == 0 {
        return rejected_whole(report, "no row passed validation".into());
    }
    if report.rows_rejected > 0 && def.bad_rows == BadRows::Reject {
        let n = report.rows_rejected;
        return rejected_whole(
            report,
            format!(
                "{n} row{} failed a check, and this collection lands an extract only when every row passes (bad_rows = \"reject\"); correct them and send it again",
                if n == 1 { "" } else { "s" }
            ),
        );
    }
    Ok(Outcome::Ready(Box::new(pending), report))
}

/// Takes the next checked chunk in file order: its problems reported, its good rows through
/// the row rules and written. False once every chunk sent is taken.
async fn take(
    checker: &mut Checker<'_>,
    merger: &mut Merger<'_>,
    rules: &Rules<'_>,
    report: &mut Report,
    pending: &mut PendingFile,
) -> anyhow::Result<bool> {
    let Some(checked) = checker.next() else {
        return Ok(false);
    };
    let (batch, lines) = merger.take(checked?, report, pending)?;
    rules.write(&batch, &lines, pending, report).await?;
    Ok(true)
}

fn quarantine(pending: &mut PendingFile, p: &RowProblem, cells: &[String]) -> anyhow::Result<()> {
    pending.quarantine(p.row, &p.item, &p.rule, &p.reason, cells)
}

/// Says where and why a CSV cannot be read: bad UTF-8, broken quoting, or a limit broken.
/// An I/O error that is not a limit is ours (the disk), and fails the run.
fn unreadable(e: csv::Error) -> anyhow::Result<String> {
    let line = e.position().map_or(1, |p| p.line());
    Ok(match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            format!("line {line} is not UTF-8 text; extracts must be UTF-8")
        }
        csv::ErrorKind::Io(_) => match e.into_kind() {
            csv::ErrorKind::Io(io) => return unreadable_io(io),
            _ => unreachable!("matched as Io above"),
        },
        _ => format!("line {line} cannot be read as CSV: {e}"),
    })
}

fn unreadable_io(e: std::io::Error) -> anyhow::Result<String> {
    match limits::over_limit(&e) {
        Some(limit) => Ok(limit.0.clone()),
        None => Err(anyhow::Error::from(e).context("reading the extract")),
    }
}

/// The collection's row rules, evaluated by DataFusion on each batch.
struct Rules<'a> {
    def: &'a CollectionDef,
    ctx: SessionContext,
}

impl<'a> Rules<'a> {
    fn new(def: &'a CollectionDef) -> Rules<'a> {
        Rules {
            def,
            ctx: SessionContext::new(),
        }
    }

    /// Runs the rules on good rows (on `lines` in the file), reports the rows that break one,
    /// and writes the rest.
    async fn write(
        &self,
        batch: &RecordBatch,
        lines: &[u64],
        out: &mut PendingFile,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keep = self.passing(batch, lines, report, out).await?;
        let kept = filter_record_batch(batch, &keep)?;
        report.rows_accepted += kept.num_rows() as u64;
        out.write(&kept)
    }

    async fn passing(
        &self,
        batch: &RecordBatch,
        lines: &[u64],
        report: &mut Report,
        out: &mut PendingFile,
    ) -> anyhow::Result<BooleanArray> {
        let mut keep = vec![true; batch.num_rows()];
        if self.def.rules.is_empty() {
            return Ok(BooleanArray::from(keep));
        }
        self.ctx.register_batch("extract", batch.clone())?;
        let select: Vec<String> = self
            .def
            .rules
            .iter()
            .enumerate()
            .map(|(n, r)| format!("CAST(({}) AS BOOLEAN) AS r{n}", r.check))
            .collect();
        let result = self
            .ctx
            .sql(&format!("SELECT {} FROM extract", select.join(", ")))
            .await
            .context("evaluating the collection's row rules")?
            .collect()
            .await
            .context("evaluating the collection's row rules");
        self.ctx.deregister_table("extract")?;
        let mut row = 0;
        for part in result? {
            for (n, rule) in self.def.rules.iter().enumerate() {
                let column = part
                    .column(n)
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .context("a rule gives true or false")?;
                for i in 0..column.len() {
                    // As in a SQL CHECK, only false fails: a rule on an empty item passes.
                    if column.is_valid(i) && !column.value(i) {
                        if keep[row + i] {
                            keep[row + i] = false;
                            report.rows_rejected += 1;
                        }
                        let problem = RowProblem {
                            row: lines[row + i],
                            item: "(row)".into(),
                            rule: rule.name.clone(),
                            reason: format!("breaks the rule {}", rule.check),
                        };
                        let cells = batch
                            .columns()
                            .iter()
                            .map(|c| {
                                if c.is_null(row + i) {
                                    Ok(String::new())
                                } else {
                                    array_value_to_string(c, row + i)
                                }
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        quarantine(out, &problem, &cells)?;
                        report.note(vec![problem]);
                    }
                }
            }
            row += part.num_rows();
        }
        Ok(BooleanArray::from(keep))
    }
}
