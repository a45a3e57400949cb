//! One reading of the register's counters for the whole of a request.
//!
//! Every kept reading of the register (the providers, the collections and their versions,
//! the burden records) is labelled with the counters it was read at, and reused while they
//! stay the same. Asking the database for them costs a statement, and a page asks each kept
//! reading in turn: a provider's dashboard read them eight times. Inside [`one_reading`] the
//! first ask reads them, and the rest of the request shares that answer. A kept reading
//! serves it when its label is equal to them; otherwise the register is read afresh, as
//! outside a request (the scheduler, the builder, the command line), where each ask reads
//! the counters again. Only equality: counters go back when a register is restored from a
//! backup, so a label compared as "at least as new" would keep serving what was lost.
//!
//! Only for requests that change nothing: a form that changes the register and then reads
//! it again must see its own change.

use std::cell::Cell;
use std::future::Future;

use crate::store::Revisions;

tokio::task_local! {
    static SEEN: Cell<Option<Revisions>>;
}

/// Runs `f` with the register's counters read once, at the first ask (or once by each of
/// asks made at the same time, before any has an answer).
pub async fn one_reading<F: Future>(f: F) -> F::Output {
    SEEN.scope(Cell::new(None), f).await
}

impl super::Registry {
    /// The register's counters: the request's reading inside [`one_reading`], else read now.
    pub async fn revisions(&self) -> anyhow::Result<Revisions> {
        if let Ok(Some(seen)) = SEEN.try_with(Cell::get) {
            return Ok(seen);
        }
        let now = self.store().revisions().await?;
        // Outside a request's scope there is nowhere to keep it: the next ask reads again.
        let _ = SEEN.try_with(|seen| seen.set(Some(now)));
        Ok(now)
    }
}
