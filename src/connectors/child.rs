//! Converting a file in a child process under limits. The spreadsheet and Parquet readers
//! size what they allocate from what the file declares (a sheet's corners, a page's
//! length) before any check of ours can see it: a 1.7 KB workbook that declares cell
//! XFD1048576 asks for hundreds of GiB, and an allocation that fails aborts the whole
//! process. So these files are read by `tally` itself, started again as a child with a
//! memory, processor-time and file-size limit, and at most two at once: a file that breaks
//! a limit ends the child, and its own run is rejected with a message naming the limit,
//! while the service, and every other provider's run, go on.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::Format;
use super::unreadable::{Unreadable, unreadable};
use crate::landing::limits::{MOST_BYTES, MOST_SPREADSHEET_MEMORY, MOST_SPREADSHEET_TIME, size};

/// The first argument that makes `tally` a converting child rather than the command line.
pub const COMMAND: &str = "__convert-extract";

/// Children converting at once: each may use [`MOST_SPREADSHEET_MEMORY`].
const AT_ONCE: usize = 2;

/// The exit code of a child that found the file unreadable; its message is on stderr.
const UNREADABLE: u8 = 3;

static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Says where the `tally` program is, for a process that lands extracts but is not `tally`
/// itself (a test binary). `tally` finds itself.
pub fn use_program(path: PathBuf) {
    let _ = PROGRAM.set(path);
}

fn program() -> anyhow::Result<PathBuf> {
    if let Some(p) = PROGRAM.get() {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().context("cannot tell where the tally program is")?;
    if exe.file_stem().is_some_and(|s| s == "tally") {
        return Ok(exe);
    }
    // Under `cargo test` a test binary is in target/<profile>/deps, the program beside it.
    if let Some(beside) = exe.parent().and_then(Path::parent).map(|d| d.join("tally"))
        && beside.is_file()
    {
        return Ok(beside);
    }
    bail!(
        "cannot find the tally program, which reads spreadsheet and Parquet extracts in a process of their own"
    )
}

/// A counting semaphore for threads: conversions run on blocking threads.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

static SLOTS: Slots = Slots {
    free: Mutex::new(AT_ONCE),
    freed: Condvar::new(),
};

struct Slot;

impl Slots {
    fn take(&'static self) -> Slot {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *SLOTS.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        SLOTS.freed.notify_one();
    }
}

/// Converts `input`, in `format`, to CSV at `csv` in a child process. A file that breaks a
/// limit or that the reader cannot read is [`Unreadable`], with the reason; anything else
/// (the program missing, our own disk) is an error of ours.
pub fn convert(
    format: Format,
    input: &Path,
    csv: &Path,
    timezone: chrono_tz::Tz,
) -> anyhow::Result<()> {
    let program = program()?;
    let _slot = SLOTS.take();
    let mut command = Command::new(&program);
    command
        .arg(COMMAND)
        .arg(format.extension())
        .arg(timezone.name())
        .arg(input)
        .arg(csv)
        // The child needs nothing from the service's environment, secrets least of all.
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
        unsafe {
            command.pre_exec(|| {
                limit(libc::RLIMIT_DATA, MOST_SPREADSHEET_MEMORY)?;
                limit(libc::RLIMIT_CPU, MOST_SPREADSHEET_TIME.as_secs())?;
                limit(libc::RLIMIT_FSIZE, MOST_BYTES)?;
                limit(libc::RLIMIT_CORE, 0)?;
                Ok(())
            });
        }
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {} to read the file", program.display()))?;
    let mut stderr = child.stderr.take().expect("piped");
    let said = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.by_ref().take(64 * 1024).read_to_string(&mut text);
        // Whatever more it says is read and dropped, so the child never blocks on the pipe.
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > MOST_SPREADSHEET_TIME {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(csv);
            return Err(took_too_long(format));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let said = said.join().unwrap_or_default();
    // Reader messages may quote the file, a NUL included, which the register cannot keep.
    let said = said.trim().replace('\0', "\\0");
    if status.success() {
        return Ok(());
    }
    let _ = std::fs::remove_file(csv);
    if status.code() == Some(i32::from(UNREADABLE)) {
        return Err(unreadable(&said));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        match status.signal() {
            Some(libc::SIGXCPU) => return Err(took_too_long(format)),
            Some(libc::SIGXFSZ) => {
                return Err(unreadable(format!(
                    "the {} file gives more than {} as CSV, the most one extract may be",
                    format.name(),
                    size(MOST_BYTES)
                )));
            }
            Some(libc::SIGABRT | libc::SIGKILL) => {
                // An allocation past the memory limit fails, and the reader aborts (or the
                // system ends it first).
                return Err(unreadable(format!(
                    "reading the {} file needs more than {} of memory, the most one file may take; \
                     it may declare far more cells or data than it holds",
                    format.name(),
                    size(MOST_SPREADSHEET_MEMORY)
                )));
            }
            Some(libc::SIGSEGV | libc::SIGBUS) => {
                return Err(unreadable(format!(
                    "the {} reader stopped on this file (it may be malformed, or need more than {} of memory)",
                    format.name(),
                    size(MOST_SPREADSHEET_MEMORY)
                )));
            }
            _ => {}
        }
    }
    bail!(
        "reading the {} file failed ({status}): {said}",
        format.name()
    )
}

fn took_too_long(format: Format) -> anyhow::Error {
    unreadable(format!(
        "reading the {} file took longer than {} seconds, the most one file may take",
        format.name(),
        MOST_SPREADSHEET_TIME.as_secs()
    ))
}

#[cfg(unix)]
fn limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: a valid resource and a pointer to a live rlimit.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The child's side: `tally __convert-extract <extension> <timezone> <input> <csv>`.
/// Exits 0 when converted, 3 with the reason on stderr when the file cannot be read, 1 on
/// any other error.
pub fn child_main(args: &[String]) -> ExitCode {
    let [extension, timezone, input, csv] = args else {
        eprintln!("usage: tally {COMMAND} <extension> <timezone> <input> <csv>");
        return ExitCode::FAILURE;
    };
    let Some(format) = Format::from_name(&format!("x.{extension}")) else {
        eprintln!("unknown format {extension}");
        return ExitCode::FAILURE;
    };
    let Ok(timezone) = timezone.parse::<chrono_tz::Tz>() else {
        eprintln!("unknown timezone {timezone}");
        return ExitCode::FAILURE;
    };
    // A reader that panics on a malformed file has found a file it cannot read: the
    // provider's to fix, like any other, not a fault of the service to retry.
    std::panic::set_hook(Box::new(|_| {}));
    let converted = std::panic::catch_unwind(|| {
        super::read::here(format, Path::new(input), Path::new(csv), timezone)
    });
    match converted {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("{e:#}");
            if e.downcast_ref::<Unreadable>().is_some() {
                ExitCode::from(UNREADABLE)
            } else {
                ExitCode::FAILURE
            }
        }
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no reason given");
            eprintln!("the {} reader stopped on this file: {why}", format.name());
            ExitCode::from(UNREADABLE)
        }
    }
}
