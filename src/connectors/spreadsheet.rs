//! The first sheet of a workbook (XLSX, XLS or ODS) written out as CSV. This runs in the
//! child process `child` starts, under its memory and time limits, and checks what it can
//! first, so that a hostile workbook is refused with a message that names the limit:
//!
//! - the file's size, and what its archive's parts inflate to (declared and actual);
//! - for XLSX, read as a stream of cells twice (bounds, then rows), the sheet's width,
//!   height and cells, before any table is built: a sheet that declares cells A1 and
//!   XFD1048576 is refused without the reader ever sizing a table for them;
//! - XLS and ODS, whose reader builds every sheet's table as it opens the file, are bounded
//!   by the child's memory limit, and their table's size is checked before it is written.

use std::io::Read;
use std::path::Path;

use calamine::{Data, DataRef, Reader};

use super::unreadable::unreadable;
use crate::landing::limits::{
    MOST_COLUMNS, MOST_INFLATED_BYTES, MOST_ROWS, MOST_SPREADSHEET_BYTES, count, size,
};

/// Cells a sheet's table may span, blank ones included: each is written out, so a sheet of
/// a cell in A1 and another a million rows and a thousand columns away would otherwise
/// write a gigabyte of commas. A form filled in by hand spans far fewer.
const MOST_TABLE_CELLS: u64 = 20_000_000;

/// Parts an archive may hold: a workbook has tens.
const MOST_PARTS: usize = 10_000;

/// Writes the first sheet of the workbook at `input` to `csv`.
pub fn to_csv(input: &Path, csv: &Path, timezone: chrono_tz::Tz) -> anyhow::Result<()> {
    let bytes = std::fs::metadata(input)?.len();
    if bytes > MOST_SPREADSHEET_BYTES {
        return Err(unreadable(format!(
            "the spreadsheet is {}; a spreadsheet may be at most {} (send large extracts as CSV or JSON lines)",
            size(bytes),
            size(MOST_SPREADSHEET_BYTES)
        )));
    }
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(input)?.read(&mut magic)?;
    match &magic[..read] {
        b"PK\x03\x04" => {
            if inflate_within_limit(input)? {
                whole(
                    calamine::open_workbook::<calamine::Ods<_>, _>(input),
                    csv,
                    timezone,
                )
            } else {
                xlsx(input, csv, timezone)
            }
        }
        [0xD0, 0xCF, 0x11, 0xE0] => whole(
            calamine::open_workbook::<calamine::Xls<_>, _>(input),
            csv,
            timezone,
        ),
        _ => Err(unreadable(
            "the file is not a spreadsheet (XLSX, XLS or ODS)",
        )),
    }
}

/// Inflates every part of the archive into nothing, counting, and refuses it when the parts
/// declare or inflate to more than the limit together. Returns whether it is an ODS
/// document rather than an XLSX workbook.
fn inflate_within_limit(input: &Path) -> anyhow::Result<bool> {
    let file = std::fs::File::open(input)?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| unreadable(format!("the spreadsheet is not a readable archive: {e}")))?;
    if zip.len() > MOST_PARTS {
        return Err(unreadable(format!(
            "the spreadsheet's archive has {} parts; a workbook may have at most {}",
            count(zip.len() as u64),
            count(MOST_PARTS as u64)
        )));
    }
    let too_big = || {
        unreadable(format!(
            "the spreadsheet inflates to more than {}, the most a spreadsheet may hold once unpacked",
            size(MOST_INFLATED_BYTES)
        ))
    };
    let mut total = 0u64;
    let mut ods = false;
    for i in 0..zip.len() {
        let mut part = zip
            .by_index(i)
            .map_err(|e| unreadable(format!("a part of the spreadsheet cannot be read: {e}")))?;
        // What the part says it holds is checked first, then what it really inflates to.
        if part.size() > MOST_INFLATED_BYTES - total {
            return Err(too_big());
        }
        let left = MOST_INFLATED_BYTES - total;
        let inflated = if part.name().is_ok_and(|n| n == "mimetype") {
            let mut text = Vec::new();
            let n = part.by_ref().take(left + 1).read_to_end(&mut text);
            ods = text.starts_with(b"application/vnd.oasis.opendocument.spreadsheet");
            n
        } else {
            std::io::copy(&mut part.by_ref().take(left + 1), &mut std::io::sink())
                .map(|n| n as usize)
        }
        .map_err(|e| unreadable(format!("a part of the spreadsheet cannot be read: {e}")))?;
        total += inflated as u64;
        if total > MOST_INFLATED_BYTES {
            return Err(too_big());
        }
    }
    Ok(ods)
}

/// `A`, `Z`, `AA`, `XFD`: a column as the spreadsheet names it.
fn column_name(mut col: u32) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).expect("ASCII")
}

/// The part of a sheet that holds anything, found before any of it is written.
#[derive(Debug, Default, Clone, Copy)]
struct Bounds {
    first_row: u32,
    last_row: u32,
    first_col: u32,
    last_col: u32,
    /// A cell at the far corner of the table, to name in a refusal.
    widest: (u32, u32),
}

impl Bounds {
    fn at((row, col): (u32, u32)) -> Bounds {
        Bounds {
            first_row: row,
            last_row: row,
            first_col: col,
            last_col: col,
            widest: (row, col),
        }
    }

    fn grow(&mut self, (row, col): (u32, u32)) {
        self.first_row = self.first_row.min(row);
        self.last_row = self.last_row.max(row);
        self.first_col = self.first_col.min(col);
        if col > self.last_col {
            self.last_col = col;
            self.widest = (row, col);
        }
    }

    fn of(mut cells: impl Iterator<Item = (u32, u32)>) -> Option<Bounds> {
        let mut b = Bounds::at(cells.next()?);
        cells.for_each(|c| b.grow(c));
        Some(b)
    }

    fn width(&self) -> u64 {
        u64::from(self.last_col - self.first_col) + 1
    }

    fn height(&self) -> u64 {
        u64::from(self.last_row - self.first_row) + 1
    }

    /// Refuses a table wider or taller than an extract may be, naming the cell.
    fn check(&self) -> anyhow::Result<()> {
        if self.width() > MOST_COLUMNS as u64 {
            let (r, c) = self.widest;
            return Err(unreadable(format!(
                "the sheet has a value in cell {}{}, which makes its table {} columns wide; an extract may have at most {} columns",
                column_name(c),
                r + 1,
                count(self.width()),
                count(MOST_COLUMNS as u64)
            )));
        }
        if self.width() * self.height() > MOST_TABLE_CELLS {
            return Err(unreadable(format!(
                "the sheet's table spans {} rows by {} columns, {} cells; a sheet may span at most {}",
                count(self.height()),
                count(self.width()),
                count(self.width() * self.height()),
                count(MOST_TABLE_CELLS)
            )));
        }
        if self.height() > MOST_ROWS {
            return Err(unreadable(format!(
                "the sheet's table is {} rows long; an extract may have at most {} rows",
                count(self.height()),
                count(MOST_ROWS)
            )));
        }
        Ok(())
    }
}

/// One cell's text, as the extract's checks read it: whole numbers without a decimal point,
/// dates as `YYYY-MM-DD`, dates with a time as RFC 3339 in the collection's timezone. A cell
/// that holds a spreadsheet error (`#DIV/0!`) is written as its text, which then fails its
/// item's type check with the row and item named.
fn text(cell: &DataRef<'_>, timezone: chrono_tz::Tz) -> String {
    match cell {
        DataRef::Empty => String::new(),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
            s.trim().to_owned()
        }
        DataRef::SharedString(s) => s.trim().to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
            Some(t) => match t.and_local_timezone(timezone).earliest() {
                Some(local) => local.to_rfc3339(),
                // A time the clocks skipped: as written, which then fails its check.
                None => t.to_string(),
            },
            None => d.to_string(),
        },
        DataRef::Error(e) => format!("#{e:?}"),
    }
}

fn data_ref(cell: &Data) -> DataRef<'_> {
    match cell {
        Data::Empty => DataRef::Empty,
        Data::String(s) => DataRef::SharedString(s),
        Data::DateTimeIso(s) => DataRef::DateTimeIso(s.clone()),
        Data::DurationIso(s) => DataRef::DurationIso(s.clone()),
        Data::Int(i) => DataRef::Int(*i),
        Data::Float(f) => DataRef::Float(*f),
        Data::Bool(b) => DataRef::Bool(*b),
        Data::DateTime(d) => DataRef::DateTime(*d),
        Data::Error(e) => DataRef::Error(e.clone()),
    }
}

/// Writes rows of `(column, text)` cells as a table from `bounds`' first column, every row
/// as wide as the table, so the report's line 1 is the header row even when the sheet
/// leaves rows or columns before it blank.
struct Table {
    out: csv::Writer<std::fs::File>,
    bounds: Bounds,
    next_row: u32,
    row: Vec<String>,
}

impl Table {
    fn new(csv: &Path, bounds: Bounds) -> anyhow::Result<Table> {
        Ok(Table {
            out: csv::WriterBuilder::new().flexible(true).from_path(csv)?,
            bounds,
            next_row: bounds.first_row,
            row: vec![String::new(); bounds.width() as usize],
        })
    }

    /// Writes every row before `row` that is not yet written.
    fn up_to(&mut self, row: u32) -> anyhow::Result<()> {
        while self.next_row < row {
            self.out.write_record(&self.row)?;
            self.row.iter_mut().for_each(String::clear);
            self.next_row += 1;
        }
        Ok(())
    }

    fn put(&mut self, (row, col): (u32, u32), text: String) -> anyhow::Result<()> {
        self.up_to(row)?;
        self.row[(col - self.bounds.first_col) as usize] = text;
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.up_to(self.bounds.last_row + 1)?;
        self.out.flush()?;
        Ok(())
    }
}

fn sheet_error(e: impl std::fmt::Display) -> anyhow::Error {
    unreadable(format!("the first sheet cannot be read: {e}"))
}

/// XLSX, read as a stream of cells: once for the table's bounds and order, once to write it.
fn xlsx(input: &Path, csv: &Path, timezone: chrono_tz::Tz) -> anyhow::Result<()> {
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(input)
        .map_err(|e| unreadable(format!("the spreadsheet cannot be read: {e}")))?;
    let Some(first) = book.sheet_names().first().cloned() else {
        return Err(unreadable("the workbook has no sheets"));
    };
    let bounds = {
        let mut cells = book.worksheet_cells_reader(&first).map_err(sheet_error)?;
        let mut last_row = 0;
        let mut bounds: Option<Bounds> = None;
        while let Some(cell) = cells.next_cell().map_err(sheet_error)? {
            if matches!(cell.get_value(), DataRef::Empty) {
                continue;
            }
            let at @ (row, _) = cell.get_position();
            if row < last_row {
                return Err(unreadable(format!(
                    "the sheet's rows are out of order (row {} comes after row {}); save it again from the spreadsheet program",
                    row + 1,
                    last_row + 1
                )));
            }
            last_row = row;
            // Checked as the table grows, so a refusal comes at the first cell past a limit.
            let b = bounds.get_or_insert_with(|| Bounds::at(at));
            b.grow(at);
            b.check()?;
        }
        bounds
    };
    let Some(bounds) = bounds else {
        // An empty sheet: an empty extract, which landing rejects as such.
        std::fs::write(csv, b"")?;
        return Ok(());
    };
    let mut table = Table::new(csv, bounds)?;
    let mut cells = book.worksheet_cells_reader(&first).map_err(sheet_error)?;
    // Cells of one row may come in any order; the row is written once the next begins.
    while let Some(cell) = cells.next_cell().map_err(sheet_error)? {
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        table.put(cell.get_position(), text(cell.get_value(), timezone))?;
    }
    table.finish()
}

/// XLS and ODS: the reader has built the sheet's table already, inside the child's memory
/// limit; its size is checked before it is written.
fn whole<R: Reader<std::io::BufReader<std::fs::File>>>(
    book: Result<R, R::Error>,
    csv: &Path,
    timezone: chrono_tz::Tz,
) -> anyhow::Result<()>
where
    R::Error: std::fmt::Display,
{
    let mut book = book.map_err(|e| unreadable(format!("the spreadsheet cannot be read: {e}")))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| unreadable("the workbook has no sheets"))?
        .map_err(sheet_error)?;
    let start = range.start().unwrap_or_default();
    let at = |r: usize, c: usize| (r as u32 + start.0, c as u32 + start.1);
    let Some(bounds) = Bounds::of(range.used_cells().map(|(r, c, _)| at(r, c))) else {
        std::fs::write(csv, b"")?;
        return Ok(());
    };
    bounds.check()?;
    let mut table = Table::new(csv, bounds)?;
    for (r, c, value) in range.used_cells() {
        table.put(at(r, c), text(&data_ref(value), timezone))?;
    }
    table.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_named_as_spreadsheets_name_them() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(16_383), "XFD");
    }

    #[test]
    fn a_table_too_wide_names_the_cell_that_makes_it_so() {
        let b = Bounds::of([(0, 0), (1_048_575, 16_383)].into_iter()).unwrap();
        let e = b.check().unwrap_err().to_string();
        assert!(e.contains("cell XFD1048576"), "{e}");
        assert!(e.contains("at most 1,000 columns"), "{e}");
    }
}
