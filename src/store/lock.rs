//! With SQLite one Tally instance runs at a time: two schedulers on one file would both pull
//! every run. The first instance holds an exclusive lock on `tally.lock` in the database file's
//! folder (the data folder, unless the settings put the database elsewhere); a second
//! is refused at start with a message that says why and what to do instead.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Held for the life of the instance; the operating system lets go of it if the process dies.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

impl InstanceLock {
    pub fn acquire(data_dir: &Path) -> anyhow::Result<InstanceLock> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let path = data_dir.join("tally.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                bail!(
                    "another Tally instance (process {}) is already running on {} with SQLite; only one may run on a SQLite registry, so stop it first, or use PostgreSQL (TALLY_DATABASE_URL=postgres://…) to run several",
                    holder.trim(),
                    data_dir.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(InstanceLock { _file: file, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_instance_is_refused_until_the_first_stops() {
        let dir = tempfile::tempdir().unwrap();
        let first = InstanceLock::acquire(dir.path()).unwrap();
        let e = InstanceLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("process {}", std::process::id())),
            "{e}"
        );
        assert!(e.contains("use PostgreSQL"), "{e}");
        drop(first);
        InstanceLock::acquire(dir.path()).unwrap();
    }
}
