//! The limits every reader of a provider's input runs under. An extract comes from outside
//! Tally, and a file that is huge, deep, wide or slow to read must fail its own run with a
//! message that names the limit, never take the service's memory, disk or time from every
//! other provider. RELIABILITY.md ("Hostile input") lists them with their reasons.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Columns an extract may have, its dropped columns included. A collection lists tens of
/// items; a file with more than this is not an extract of one.
pub const MOST_COLUMNS: usize = 1_000;

/// Bytes one row (or the header) may take. A ward's census row is about a hundred; a row
/// this long is a broken file, or one made to fill memory, since a row is held whole while
/// it is checked.
pub const MOST_ROW_BYTES: u64 = 1 << 20;

/// Rows an extract may have: a year of a large trust's ward census is about 100,000, and the
/// benchmark's 1 GB census about ten million.
pub const MOST_ROWS: u64 = 50_000_000;

/// Bytes an extract may take as sent, in any format: it is read as a stream, so this bounds
/// disk and time, not memory.
pub const MOST_BYTES: u64 = 8 << 30;

/// How long reading and checking one extract may take: the 1 GB benchmark census lands in
/// well under a minute.
pub const MOST_TIME: Duration = Duration::from_secs(30 * 60);

/// Rows that failed a check kept in quarantine for one version; the report counts every one.
pub const MOST_QUARANTINED: u64 = 100_000;

/// A spreadsheet's file: a form filled in by hand, far smaller than this.
pub const MOST_SPREADSHEET_BYTES: u64 = 64 << 20;

/// What a spreadsheet's parts may inflate to, together: its XML is held in memory while it
/// is read, and a compressed archive may declare (or hide) any size.
pub const MOST_INFLATED_BYTES: u64 = 256 << 20;

/// Memory the process that reads a spreadsheet may use. Spreadsheets are read in a child
/// process under this limit, because the XLS and ODS readers size their tables from what
/// the file declares before any check of ours can see it.
pub const MOST_SPREADSHEET_MEMORY: u64 = 512 << 20;

/// Time that process may take, on the clock and on the processor.
pub const MOST_SPREADSHEET_TIME: Duration = Duration::from_secs(120);

/// An extract broke one of these limits: the provider's to fix, so the run is rejected with
/// this message, as an extract that cannot be read is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OverLimit(pub String);

/// `1 MiB`, `256 MiB`, `8 GiB`: sizes as the messages give them.
pub fn size(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// `50,000,000`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A reader that refuses, as an I/O error carrying [`OverLimit`], to give more than
/// [`MOST_BYTES`] in all, or more than [`MOST_ROW_BYTES`] (plus what a buffer reads ahead)
/// since the caller last said a row ended. The parser above it then stops before it holds
/// an endless row in memory.
pub struct Metered<R> {
    inner: R,
    read: Arc<AtomicU64>,
    row_start: Arc<AtomicU64>,
}

/// The caller's side of a [`Metered`] reader.
#[derive(Clone)]
pub struct RowMark {
    read: Arc<AtomicU64>,
    row_start: Arc<AtomicU64>,
}

impl RowMark {
    /// Says that a row has just been read whole: the next one starts its count afresh.
    pub fn row_ended(&self) {
        self.row_start
            .store(self.read.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// What a parser may read ahead of the row it is on: its buffer.
const READ_AHEAD: u64 = 1 << 16;

impl<R: Read> Metered<R> {
    pub fn new(inner: R) -> (Metered<R>, RowMark) {
        let (read, row_start) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mark = RowMark {
            read: read.clone(),
            row_start: row_start.clone(),
        };
        (
            Metered {
                inner,
                read,
                row_start,
            },
            mark,
        )
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let over = |why: String| std::io::Error::other(OverLimit(why));
        let read = self.read.load(Ordering::Relaxed);
        if read > MOST_BYTES {
            return Err(over(format!(
                "the extract is larger than {}, the most one extract may be",
                size(MOST_BYTES)
            )));
        }
        let row_start = self.row_start.load(Ordering::Relaxed);
        if read.saturating_sub(row_start) > MOST_ROW_BYTES + READ_AHEAD {
            return Err(over(format!(
                "a row is longer than {}, the most one row may be (is a line ending or a closing quote missing?)",
                size(MOST_ROW_BYTES)
            )));
        }
        // Never more than the rest of a row's allowance at once, so the limit holds however
        // large a buffer the caller reads into.
        let room = (MOST_ROW_BYTES + READ_AHEAD + 1 - read.saturating_sub(row_start)) as usize;
        let len = buf.len().min(room);
        let n = self.inner.read(&mut buf[..len])?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The [`OverLimit`] an I/O error carries, if it is one of ours.
pub fn over_limit(e: &std::io::Error) -> Option<&OverLimit> {
    e.get_ref()?.downcast_ref::<OverLimit>()
}

/// A reading's clock: the time it may take, checked now and then by the reader.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    started: Instant,
    most: Duration,
}

impl Deadline {
    pub fn start(most: Duration) -> Deadline {
        Deadline {
            started: Instant::now(),
            most,
        }
    }

    /// An error naming the limit once the time is up.
    pub fn check(&self) -> Result<(), OverLimit> {
        if self.started.elapsed() > self.most {
            return Err(OverLimit(format!(
                "reading the extract took longer than {} minutes, the most one extract may take",
                self.most.as_secs() / 60
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_counts_read_as_people_write_them() {
        assert_eq!(size(1 << 20), "1 MiB");
        assert_eq!(size(8 << 30), "8 GiB");
        assert_eq!(size(300 << 20), "300 MiB");
        assert_eq!(size(512), "512 bytes");
        assert_eq!(count(50_000_000), "50,000,000");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
    }

    #[test]
    fn a_row_longer_than_the_limit_is_refused_before_it_is_held() {
        let endless = std::io::repeat(b'x').take(MOST_ROW_BYTES * 4);
        let (mut metered, _mark) = Metered::new(endless);
        let mut sink = Vec::new();
        let e = metered.read_to_end(&mut sink).unwrap_err();
        assert!(over_limit(&e).is_some(), "{e}");
        assert!(e.to_string().contains("longer than 1 MiB"), "{e}");
        assert!(sink.len() as u64 <= MOST_ROW_BYTES + 2 * READ_AHEAD);
    }

    #[test]
    fn rows_that_end_keep_the_reader_going() {
        let rows = std::io::repeat(b'x').take(MOST_ROW_BYTES * 4);
        let (mut metered, mark) = Metered::new(rows);
        let mut buf = [0u8; 4096];
        let mut total = 0u64;
        loop {
            let n = metered.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n as u64;
            mark.row_ended();
        }
        assert_eq!(total, MOST_ROW_BYTES * 4);
    }
}
