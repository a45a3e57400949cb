//! The work's place beside the web: the threads that pull, land, pack, build returns and
//! send notices run below the web's priority, so that a page asked for while they work is
//! answered first, and the work takes whatever the web leaves.

/// How many steps of nice value the work's threads stand below the web's: ten, so that the
/// kernel gives the web about nine tenths of a core it wants while both are ready to run.
pub const WORK_NICENESS: i32 = 10;

/// Lowers the calling thread's priority by [`WORK_NICENESS`] steps (to 19 at most): for a
/// runtime's `on_thread_start`. Threads it starts afterwards (DataFusion's, the Parquet
/// encoder's, SQLite's connection threads of a pool it opens) inherit it. Linux keeps a
/// nice value per thread; elsewhere it is the whole process's, so the work keeps the web's
/// priority.
pub fn yield_to_the_web() {
    #[cfg(target_os = "linux")]
    // SAFETY: getpriority and setpriority only read their arguments; on Linux, who = 0 is
    // the calling thread.
    unsafe {
        let now = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, (now + WORK_NICENESS).min(19));
    }
}
