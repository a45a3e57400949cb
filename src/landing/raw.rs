//! The raw input of a landing, kept for audit under its sha256 when it may be (rule 8: only
//! when it holds nothing but listed items), and hashed in any case.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::lake::Lake;
use crate::domain::RunKey;

/// [`copy_raw`], removing its temporary copy if it fails (a full disk, say): the copy may
/// hold anything the input did.
pub fn hash_raw(
    lake: &Lake,
    key: &RunKey,
    raw: &Path,
    extension: &str,
    keep: bool,
) -> anyhow::Result<(String, i64, Option<PathBuf>)> {
    let tmp = lake
        .raw_dir(key)
        .join(format!(".tmp-{}-{}", std::process::id(), key.provider));
    copy_raw(lake, key, raw, extension, keep, &tmp).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Hashes the raw input and, when `keep`, copies it into the lake under its sha256 for audit.
fn copy_raw(
    lake: &Lake,
    key: &RunKey,
    raw: &Path,
    extension: &str,
    keep: bool,
    tmp: &Path,
) -> anyhow::Result<(String, i64, Option<PathBuf>)> {
    let mut input =
        std::fs::File::open(raw).with_context(|| format!("cannot read {}", raw.display()))?;
    let dir = lake.raw_dir(key);
    let mut out: Box<dyn Write> = if keep {
        std::fs::create_dir_all(&dir)?;
        crate::landing::lake::sweep(&dir, ".tmp-");
        Box::new(std::fs::File::create(tmp)?)
    } else {
        Box::new(std::io::sink())
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0i64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        bytes += n as i64;
    }
    out.flush()?;
    drop(out);
    let sha = hex::encode(hasher.finalize());
    if !keep {
        return Ok((sha, bytes, None));
    }
    std::fs::File::open(tmp)?.sync_all()?;
    let path = dir.join(format!("{sha}.{extension}"));
    std::fs::rename(tmp, &path)?;
    Ok((sha, bytes, Some(path)))
}
