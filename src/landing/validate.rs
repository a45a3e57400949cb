//! Turning one extract's text rows into typed Arrow columns for the listed items, and saying
//! exactly what is wrong with each row that cannot be taken: which row, which item, why.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::domain::definition::{CollectionDef, DataItem, ItemType};

/// One thing wrong with one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowProblem {
    /// The line in the file, counting the header as line 1.
    pub row: u64,
    pub item: String,
    /// The check that failed: `type`, `required`, `min`, `max`, `codes`, `pattern`, `key`,
    /// `period` (the row's day is outside the extract's period) or a row rule's name.
    pub rule: String,
    pub reason: String,
}

/// The Arrow schema the listed items declare.
pub fn schema(def: &CollectionDef) -> SchemaRef {
    let fields: Vec<Field> = def
        .items
        .iter()
        .map(|i| {
            let ty = match i.ty {
                ItemType::Integer => DataType::Int64,
                ItemType::Decimal => DataType::Float64,
                ItemType::String | ItemType::Code(_) => DataType::Utf8,
                ItemType::Date => DataType::Date32,
                ItemType::Timestamp => {
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
                }
                ItemType::Bool => DataType::Boolean,
            };
            Field::new(&i.name, ty, !i.required)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

enum Column {
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
    Date(Date32Builder),
    Time(TimestampMicrosecondBuilder),
    Bool(BooleanBuilder),
}

/// A row's cells by position in the file: a parsed CSV record, or a slice in tests.
pub trait Cells {
    fn cell(&self, i: usize) -> Option<&str>;
}

impl Cells for csv::StringRecord {
    fn cell(&self, i: usize) -> Option<&str> {
        self.get(i)
    }
}

impl Cells for [&str] {
    fn cell(&self, i: usize) -> Option<&str> {
        self.get(i).copied()
    }
}

/// A value read from a cell, before it is appended; text borrows the cell.
enum Value<'c> {
    Null,
    Int(i64),
    Float(f64),
    Text(&'c str),
    Date(i32),
    Time(i64),
    Bool(bool),
}

/// Builds typed batches from rows, item by item, checking each cell as it goes.
pub struct Builder<'a> {
    def: &'a CollectionDef,
    schema: SchemaRef,
    columns: Vec<Column>,
    patterns: Vec<Option<Regex>>,
    /// Where each item is in the file's columns.
    positions: Vec<Option<usize>>,
    key_positions: Vec<usize>,
    /// The period item's index among the items, and the days (since 1970) its date must
    /// fall in: from the period's first day up to, not including, its end.
    period: Option<(usize, i32, i32, String)>,
    /// The file line of each row in the batch being built.
    pub rows: Vec<u64>,
}

/// Each key seen so far in an extract, as a 128-bit fingerprint of its cells, with the line
/// it was on: 32 bytes a row (33 a slot of the table) whatever the key's length. Rows are
/// offered in file order, so the line kept is always the first.
#[derive(Default)]
pub struct Keys {
    seen: HashMap<u128, u64, BuildHasherDefault<Fingerprint>>,
}

impl Keys {
    /// Records the key on `line`, or gives the earlier line that had the same key.
    pub fn first(&mut self, fingerprint: u128, line: u64) -> Option<u64> {
        match self.seen.entry(fingerprint) {
            Entry::Occupied(first) => Some(*first.get()),
            Entry::Vacant(v) => {
                v.insert(line);
                None
            }
        }
    }
}

/// Fingerprints are already well-mixed hashes: their low bits serve as the table's hash.
#[derive(Default)]
struct Fingerprint(u64);

impl Hasher for Fingerprint {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for (i, b) in bytes.iter().take(8).enumerate() {
            self.0 |= u64::from(*b) << (8 * i);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

impl<'a> Builder<'a> {
    /// `header` is the file's column names; the caller has checked required items are there.
    pub fn new(def: &'a CollectionDef, header: &[String]) -> Builder<'a> {
        Builder {
            def,
            schema: schema(def),
            columns: def.items.iter().map(|i| new_column(&i.ty)).collect(),
            patterns: def
                .items
                .iter()
                .map(|i| {
                    i.pattern
                        .as_deref()
                        .map(|p| Regex::new(p).expect("checked at load"))
                })
                .collect(),
            positions: positions(def, header),
            key_positions: key_positions(def, header),
            rows: Vec::new(),
            period: None,
        }
    }

    /// Refuses rows whose period item (the day a row describes) falls outside `period`:
    /// an extract for one day must not carry another day's figures into its return.
    pub fn within(mut self, period: &crate::domain::Period) -> Builder<'a> {
        let day = |d: NaiveDate| (d - epoch()).num_days() as i32;
        self.period = self.def.period_item().and_then(|item| {
            let n = self.def.items.iter().position(|i| i.name == item.name)?;
            Some((
                n,
                day(period.first_day()),
                day(period.end()),
                period.to_string(),
            ))
        });
        self
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Checks one row's cells. A row whose every cell is good is appended, and its key's
    /// fingerprint given back (none when the collection has no key) for the caller to check
    /// against the extract's other rows with [`Keys`]; otherwise every problem it has.
    pub fn push(
        &mut self,
        line: u64,
        cells: &(impl Cells + ?Sized),
    ) -> Result<Option<u128>, Vec<RowProblem>> {
        let mut problems = Vec::new();
        // On the stack for any collection of up to 32 items: no allocation a row.
        let mut values: smallvec::SmallVec<[Value; 32]> = smallvec::SmallVec::new();
        for (n, item) in self.def.items.iter().enumerate() {
            let cell = self.positions[n]
                .and_then(|p| cells.cell(p))
                .map(|c| c.trim())
                .unwrap_or("");
            match read(item, cell, self.patterns[n].as_ref()) {
                Ok(Value::Date(d))
                    if self.period.as_ref().is_some_and(|(at, first, end, _)| {
                        *at == n && (d < *first || d >= *end)
                    }) =>
                {
                    let (_, _, _, period) = self.period.as_ref().expect("checked above");
                    problems.push(RowProblem {
                        row: line,
                        item: item.name.clone(),
                        rule: "period".into(),
                        reason: format!(
                            "{} is not in {period}, the period this extract is for",
                            epoch() + chrono::Duration::days(i64::from(d))
                        ),
                    });
                }
                Ok(v) => values.push(v),
                Err((rule, reason)) => problems.push(RowProblem {
                    row: line,
                    item: item.name.clone(),
                    rule: rule.into(),
                    reason,
                }),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let fingerprint = (!self.key_positions.is_empty()).then(|| {
            let mut hasher = twox_hash::XxHash3_128::new();
            for cell in self.key_positions.iter().map(|p| key_cell(cells, *p)) {
                // Each cell's length first, so that ("ab", "c") and ("a", "bc") differ.
                hasher.write(&(cell.len() as u64).to_le_bytes());
                hasher.write(cell.as_bytes());
            }
            hasher.finish_128()
        });
        for (column, value) in self.columns.iter_mut().zip(values) {
            append(column, value);
        }
        self.rows.push(line);
        Ok(fingerprint)
    }

    /// The rows so far as one batch, with their file lines; the builder starts empty again.
    pub fn finish(&mut self) -> (RecordBatch, Vec<u64>) {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .expect("columns are built to the schema");
        (batch, std::mem::take(&mut self.rows))
    }
}

/// Where each listed item is in the file's columns, in the items' order.
pub fn positions(def: &CollectionDef, header: &[String]) -> Vec<Option<usize>> {
    def.items
        .iter()
        .map(|i| header.iter().position(|h| *h == i.name))
        .collect()
}

/// Where the key's items are in the file's columns.
pub fn key_positions(def: &CollectionDef, header: &[String]) -> Vec<usize> {
    def.key
        .iter()
        .filter_map(|k| header.iter().position(|h| h == k))
        .collect()
}

/// A key cell as the key check compares it: trimmed.
fn key_cell(cells: &(impl Cells + ?Sized), position: usize) -> &str {
    cells.cell(position).map_or("", |c| c.trim())
}

/// A row's cells for the listed items, in the items' order (`positions`): what may be kept
/// of a row that failed (rule 8 holds for quarantine too).
pub fn listed_cells(positions: &[Option<usize>], cells: &(impl Cells + ?Sized)) -> Vec<String> {
    positions
        .iter()
        .map(|p| {
            p.and_then(|p| cells.cell(p))
                .map(|c| c.to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// The problem of a row whose key an earlier row, on line `first`, already had.
pub fn same_key(
    def: &CollectionDef,
    key_positions: &[usize],
    line: u64,
    first: u64,
    cells: &(impl Cells + ?Sized),
) -> RowProblem {
    let shown: Vec<&str> = key_positions.iter().map(|p| key_cell(cells, *p)).collect();
    RowProblem {
        row: line,
        item: def.key.join(", "),
        rule: "key".into(),
        reason: format!("the same key as line {first} ({})", shown.join(", ")),
    }
}

fn new_column(ty: &ItemType) -> Column {
    match ty {
        ItemType::Integer => Column::Int(Int64Builder::new()),
        ItemType::Decimal => Column::Float(Float64Builder::new()),
        ItemType::String | ItemType::Code(_) => Column::Text(StringBuilder::new()),
        ItemType::Date => Column::Date(Date32Builder::new()),
        ItemType::Timestamp => {
            Column::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
        }
        ItemType::Bool => Column::Bool(BooleanBuilder::new()),
    }
}

fn append(column: &mut Column, value: Value) {
    match (column, value) {
        (Column::Int(b), Value::Int(v)) => b.append_value(v),
        (Column::Float(b), Value::Float(v)) => b.append_value(v),
        (Column::Text(b), Value::Text(v)) => b.append_value(v),
        (Column::Date(b), Value::Date(v)) => b.append_value(v),
        (Column::Time(b), Value::Time(v)) => b.append_value(v),
        (Column::Bool(b), Value::Bool(v)) => b.append_value(v),
        (Column::Int(b), _) => b.append_null(),
        (Column::Float(b), _) => b.append_null(),
        (Column::Text(b), _) => b.append_null(),
        (Column::Date(b), _) => b.append_null(),
        (Column::Time(b), _) => b.append_null(),
        (Column::Bool(b), _) => b.append_null(),
    }
}

fn finish(column: &mut Column) -> ArrayRef {
    match column {
        Column::Int(b) => Arc::new(b.finish()),
        Column::Float(b) => Arc::new(b.finish()),
        Column::Text(b) => Arc::new(b.finish()),
        Column::Date(b) => Arc::new(b.finish()),
        Column::Time(b) => Arc::new(b.finish()),
        Column::Bool(b) => Arc::new(b.finish()),
    }
}

/// Longest cell shown back in a message.
pub(crate) fn shown(cell: &str) -> String {
    let mut s: String = cell.chars().take(40).collect();
    if s.len() < cell.len() {
        s.push('…');
    }
    s.escape_debug().to_string()
}

/// `YYYY-MM-DD`, read directly: the general parser costs more than the rest of a row's
/// checks together.
fn iso_date(cell: &str) -> Result<NaiveDate, ()> {
    let b = cell.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(());
    }
    let digits = |r: std::ops::Range<usize>| -> Result<u32, ()> {
        b[r].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit()
                .then(|| n * 10 + u32::from(d - b'0'))
                .ok_or(())
        })
    };
    NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?).ok_or(())
}

/// Reads one cell as its item's type and checks its constraints.
fn read<'c>(
    item: &DataItem,
    cell: &'c str,
    pattern: Option<&Regex>,
) -> Result<Value<'c>, (&'static str, String)> {
    if cell.is_empty() {
        return if item.required {
            Err(("required", "is required but empty".into()))
        } else {
            Ok(Value::Null)
        };
    }
    let bounds = |n: f64| -> Result<(), (&'static str, String)> {
        if let Some(min) = item.min
            && n < min
        {
            return Err(("min", format!("{n} is below the minimum of {min}")));
        }
        if let Some(max) = item.max
            && n > max
        {
            return Err(("max", format!("{n} is above the maximum of {max}")));
        }
        Ok(())
    };
    match &item.ty {
        ItemType::Integer => {
            let n: i64 = cell
                .parse()
                .map_err(|_| ("type", format!("\"{}\" is not a whole number", shown(cell))))?;
            bounds(n as f64)?;
            Ok(Value::Int(n))
        }
        ItemType::Decimal => {
            let n: f64 = cell
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| ("type", format!("\"{}\" is not a number", shown(cell))))?;
            bounds(n)?;
            Ok(Value::Float(n))
        }
        ItemType::String => {
            if let Some(re) = pattern
                && !re.is_match(cell)
            {
                return Err((
                    "pattern",
                    format!("\"{}\" does not match {}", shown(cell), re.as_str()),
                ));
            }
            Ok(Value::Text(cell))
        }
        ItemType::Code(codes) => {
            if codes.iter().any(|c| c == cell) {
                Ok(Value::Text(cell))
            } else {
                Err((
                    "codes",
                    format!("\"{}\" is not one of: {}", shown(cell), codes.join(", ")),
                ))
            }
        }
        ItemType::Date => iso_date(cell)
            .map(|d| Value::Date((d - epoch()).num_days() as i32))
            .map_err(|_| {
                (
                    "type",
                    format!("\"{}\" is not a date like 2026-11-24", shown(cell)),
                )
            }),
        ItemType::Timestamp => DateTime::parse_from_rfc3339(cell)
            .map(|t| Value::Time(t.timestamp_micros()))
            .map_err(|_| {
                (
                    "type",
                    format!(
                        "\"{}\" is not a time like 2026-11-24T09:00:00Z",
                        shown(cell)
                    ),
                )
            }),
        ItemType::Bool => match cell.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "n" => Ok(Value::Bool(false)),
            _ => Err(("type", format!("\"{}\" is not true or false", shown(cell)))),
        },
    }
}
