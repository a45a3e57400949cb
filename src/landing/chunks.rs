//! Checking an extract's rows on more than one thread. The reading thread parses the CSV and
//! cuts its rows into chunks; workers type and check each chunk's cells; the reading thread
//! takes the results back in file order and does what must see every row in turn: the key
//! check across the file, the row rules, quarantine and the report. Line numbers, the first
//! of two rows with one key, each row's problems and the rows landed are as one thread
//! makes them. Two things follow the chunks: the row rules run on each chunk's good rows
//! (they ran on each 65,536 good rows before), and a chunk's cell problems are noted and
//! quarantined before its rule problems. An extract of one chunk is checked on the reading
//! thread, with no other thread started.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use anyhow::Context;
use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;

use super::lake::PendingFile;
use super::validate::{self, Builder, Cells, Keys, RowProblem};
use super::{Report, quarantine};
use crate::domain::Period;
use crate::domain::definition::CollectionDef;

/// Rows a chunk holds at most: the batch the lake is written in.
const CHUNK_ROWS: usize = super::BATCH_ROWS;

/// Bytes a chunk holds at most, its cells' text and where each field ends, so that a chunk
/// of long rows, or of rows of many empty fields, is cut sooner.
const CHUNK_BYTES: usize = 16 << 20;

/// Workers at most, whatever the machine: past a few, the reading thread is the limit.
const MOST_WORKERS: usize = 8;

/// Rows parsed but not yet checked: every field's text end to end, with where each ends.
#[derive(Default)]
pub struct Chunk {
    text: String,
    /// Where each field ends in `text`.
    ends: Vec<usize>,
    /// Each row's line in the file, and the index in `ends` of its first field.
    rows: Vec<(u64, usize)>,
}

impl Chunk {
    pub fn push(&mut self, line: u64, record: &csv::StringRecord) {
        let base = self.text.len();
        self.rows.push((line, self.ends.len()));
        self.text.push_str(record.as_slice());
        for i in 0..record.len() {
            let end = record.range(i).map_or(0, |r| r.end);
            self.ends.push(base + end);
        }
    }

    pub fn is_full(&self) -> bool {
        let bytes = self.text.len() + self.ends.len() * std::mem::size_of::<usize>();
        self.rows.len() >= CHUNK_ROWS || bytes >= CHUNK_BYTES
    }

    fn row(&self, i: usize) -> Row<'_> {
        let first = self.rows[i].1;
        let last = self.rows.get(i + 1).map_or(self.ends.len(), |r| r.1);
        let start = if first == 0 { 0 } else { self.ends[first - 1] };
        Row {
            text: &self.text,
            start,
            ends: &self.ends[first..last],
        }
    }
}

/// One row of a chunk.
struct Row<'c> {
    text: &'c str,
    start: usize,
    ends: &'c [usize],
}

impl Cells for Row<'_> {
    fn cell(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { self.start } else { self.ends[i - 1] };
        Some(&self.text[start..end])
    }
}

/// What the cell checks found in one chunk.
pub struct Checked {
    chunk: Chunk,
    /// The rows whose every cell is good, typed.
    batch: RecordBatch,
    /// For each row of `batch`: its row in the chunk, and its key's fingerprint.
    good: Vec<(usize, Option<u128>)>,
    /// The problems of each row that is not good, with its row in the chunk.
    bad: Vec<(usize, Vec<RowProblem>)>,
}

/// Checks one chunk's rows with `builder`, which starts and ends empty; `fields` is how many
/// the header has.
fn check(builder: &mut Builder<'_>, fields: usize, chunk: Chunk) -> Checked {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for (i, &(line, _)) in chunk.rows.iter().enumerate() {
        let row = chunk.row(i);
        if row.ends.len() != fields {
            bad.push((
                i,
                vec![RowProblem {
                    row: line,
                    item: "(row)".into(),
                    rule: "fields".into(),
                    reason: format!("has {} fields; the header has {fields}", row.ends.len()),
                }],
            ));
            continue;
        }
        match builder.push(line, &row) {
            Ok(fingerprint) => good.push((i, fingerprint)),
            Err(problems) => bad.push((i, problems)),
        }
    }
    let (batch, _) = builder.finish();
    Checked {
        chunk,
        batch,
        good,
        bad,
    }
}

/// Hands chunks to be checked and gives their results back in the order they were sent.
pub struct Checker<'a> {
    def: &'a CollectionDef,
    header: &'a [String],
    period: &'a Period,
    pool: Option<Pool>,
    sent: u64,
    taken: u64,
    arrived: BTreeMap<u64, Result<Checked, String>>,
}

/// The workers, started with the second chunk.
struct Pool {
    work: Option<mpsc::Sender<(u64, Chunk)>>,
    done: mpsc::Receiver<(u64, Result<Checked, String>)>,
    threads: Vec<JoinHandle<()>>,
    /// Chunks sent and not yet taken back at most: one for each worker and one waiting, so
    /// that every worker is busy and memory holds only a few chunks.
    most_in_flight: u64,
}

impl Drop for Pool {
    /// Closes the work queue and waits for the workers, which end after the chunk in hand.
    fn drop(&mut self) {
        self.work.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl<'a> Checker<'a> {
    pub fn new(def: &'a CollectionDef, header: &'a [String], period: &'a Period) -> Checker<'a> {
        Checker {
            def,
            header,
            period,
            pool: None,
            sent: 0,
            taken: 0,
            arrived: BTreeMap::new(),
        }
    }

    /// Hands a chunk over. The last one, when it is also the first, is checked at once on
    /// this thread: most extracts are one chunk, and need no other thread.
    pub fn send(&mut self, chunk: Chunk, last: bool) -> anyhow::Result<()> {
        let n = self.sent;
        self.sent += 1;
        if self.pool.is_none() && last {
            let mut builder = Builder::new(self.def, self.header).within(self.period);
            let checked = check(&mut builder, self.header.len(), chunk);
            self.arrived.insert(n, Ok(checked));
            return Ok(());
        }
        let pool = match &mut self.pool {
            Some(pool) => pool,
            None => self.pool.insert(self.start()?),
        };
        pool.work
            .as_ref()
            .expect("open until the pool is dropped")
            .send((n, chunk))
            .map_err(|_| anyhow::anyhow!("the workers checking the extract stopped"))
    }

    /// Whether as many chunks are out as should be at once.
    pub fn busy(&self) -> bool {
        self.pool
            .as_ref()
            .is_some_and(|p| self.sent - self.taken >= p.most_in_flight)
    }

    /// The next chunk's result in the order sent, waiting for it; none once all are taken.
    pub fn next(&mut self) -> Option<anyhow::Result<Checked>> {
        if self.taken == self.sent {
            return None;
        }
        while !self.arrived.contains_key(&self.taken) {
            let pool = self.pool.as_ref()?;
            match pool.done.recv() {
                Ok((n, checked)) => {
                    self.arrived.insert(n, checked);
                }
                Err(_) => {
                    return Some(Err(anyhow::anyhow!(
                        "the workers checking the extract stopped"
                    )));
                }
            }
        }
        let checked = self.arrived.remove(&self.taken).expect("arrived");
        self.taken += 1;
        Some(checked.map_err(|panic| anyhow::anyhow!("checking a chunk of rows failed: {panic}")))
    }

    fn start(&self) -> anyhow::Result<Pool> {
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MOST_WORKERS);
        let (work, queue) = mpsc::channel::<(u64, Chunk)>();
        let queue = Arc::new(Mutex::new(queue));
        let (done_tx, done) = mpsc::channel();
        let mut threads = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (queue, done) = (queue.clone(), done_tx.clone());
            let (def, header, period) = (self.def.clone(), self.header.to_vec(), *self.period);
            // A worker keeps the priority of the thread that lands: below the web's for the
            // scheduler's pulls.
            let thread = std::thread::Builder::new()
                .name("tally-check".into())
                .spawn(move || {
                    let mut builder = Builder::new(&def, &header).within(&period);
                    loop {
                        let next = queue
                            .lock()
                            .map_err(|_| ())
                            .and_then(|q| q.recv().map_err(|_| ()));
                        let Ok((n, chunk)) = next else { break };
                        // A panic in a check is a bug; it fails this extract, not the service,
                        // and the reading thread is told rather than left waiting.
                        let checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            check(&mut builder, header.len(), chunk)
                        }))
                        .map_err(|p| panic_message(p.as_ref()));
                        let failed = checked.is_err();
                        if done.send((n, checked)).is_err() || failed {
                            break;
                        }
                    }
                })
                .context("starting a thread to check the extract's rows")?;
            threads.push(thread);
        }
        Ok(Pool {
            work: Some(work),
            done,
            threads,
            most_in_flight: workers as u64 + 1,
        })
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a check panicked".into())
}

/// Takes checked chunks in file order: notes each row's problems and quarantines the row,
/// and checks each good row's key against every earlier row's.
pub struct Merger<'a> {
    def: &'a CollectionDef,
    positions: Vec<Option<usize>>,
    key_positions: Vec<usize>,
    keys: Keys,
}

impl<'a> Merger<'a> {
    pub fn new(def: &'a CollectionDef, header: &[String]) -> Merger<'a> {
        Merger {
            def,
            positions: validate::positions(def, header),
            key_positions: validate::key_positions(def, header),
            keys: Keys::default(),
        }
    }

    /// The chunk's good rows whose key no earlier row had, with their lines, for the row
    /// rules; every other row is reported and quarantined, in file order.
    pub fn take(
        &mut self,
        checked: Checked,
        report: &mut Report,
        pending: &mut PendingFile,
    ) -> anyhow::Result<(RecordBatch, Vec<u64>)> {
        let Checked {
            chunk,
            batch,
            good,
            bad,
        } = checked;
        let mut keep = Vec::with_capacity(good.len());
        let mut lines = Vec::with_capacity(good.len());
        let mut bad = bad.into_iter().peekable();
        let mut reject = |i: usize, problems: Vec<RowProblem>, report: &mut Report| {
            report.rows_rejected += 1;
            let listed = validate::listed_cells(&self.positions, &chunk.row(i));
            for p in &problems {
                quarantine(pending, p, &listed)?;
            }
            report.note(problems);
            anyhow::Ok(())
        };
        for (i, fingerprint) in good {
            while let Some((at, problems)) = bad.next_if(|b| b.0 < i) {
                reject(at, problems, report)?;
            }
            let line = chunk.rows[i].0;
            let first = fingerprint.and_then(|f| self.keys.first(f, line));
            match first {
                Some(first) => {
                    let row = chunk.row(i);
                    let problem =
                        validate::same_key(self.def, &self.key_positions, line, first, &row);
                    reject(i, vec![problem], report)?;
                    keep.push(false);
                }
                None => {
                    keep.push(true);
                    lines.push(line);
                }
            }
        }
        for (at, problems) in bad {
            reject(at, problems, report)?;
        }
        if lines.len() == batch.num_rows() {
            return Ok((batch, lines));
        }
        Ok((
            filter_record_batch(&batch, &BooleanArray::from(keep))?,
            lines,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of empty fields have no text, yet each field costs a chunk its end: a chunk is
    /// cut by both, so such a file cannot fill memory before any row is checked.
    #[test]
    fn a_chunk_of_empty_fields_is_cut_by_its_bytes() {
        let mut record = csv::StringRecord::new();
        for _ in 0..1_000 {
            record.push_field("");
        }
        let mut chunk = Chunk::default();
        let mut rows = 0;
        while !chunk.is_full() {
            chunk.push(rows + 2, &record);
            rows += 1;
        }
        assert!(rows < CHUNK_ROWS as u64, "cut at {rows} rows");
        assert!(chunk.ends.len() * std::mem::size_of::<usize>() < CHUNK_BYTES + 8_000 * 8);
    }
}
