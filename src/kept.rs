//! Answers kept for the life of the process, for work that is pure and asked for again and
//! again (a cron expression parsed, a year of its fires counted).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, OnceLock};

/// Entries a table keeps at most: proposals checked and refused may bring any number of
/// keys, so a full table is emptied and filled again.
const MOST: usize = 4096;

/// A table of answers by key, for a `static`.
pub struct Kept<K, V>(OnceLock<Mutex<HashMap<K, V>>>);

impl<K: Eq + Hash, V: Clone> Kept<K, V> {
    pub const fn new() -> Kept<K, V> {
        Kept(OnceLock::new())
    }

    /// The answer kept for `key`, or `make`'s, kept. The table is not held while `make`
    /// runs; two callers may both make an answer, and the same one is kept.
    pub fn get(&self, key: K, make: impl FnOnce(&K) -> V) -> V {
        let table = self.0.get_or_init(Default::default);
        if let Some(v) = table.lock().expect("not poisoned").get(&key) {
            return v.clone();
        }
        let v = make(&key);
        let mut table = table.lock().expect("not poisoned");
        if table.len() >= MOST {
            table.clear();
        }
        table.insert(key, v.clone());
        v
    }
}

impl<K: Eq + Hash, V: Clone> Default for Kept<K, V> {
    fn default() -> Kept<K, V> {
        Kept::new()
    }
}
