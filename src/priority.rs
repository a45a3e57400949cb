//! The work's place beside the web: the threads that pull, land, pack, build returns and
//! send notices run below the web's priority, so that a page asked for while they work is
//! answered first, and the work takes whatever the web leaves.

/// How many steps of nice value the work's threads stand below the web's: ten, so that the
/// kernel gives the web about nine tenths of a core it wants while both are ready to run.
pub const WORK_NICENESS: i32 = 10;

/// What a runtime's `on_thread_start` runs to put each of its threads [`WORK_NICENESS`]
/// steps below the thread that builds the runtime (to 19 at most). The value is worked out
/// once, here: a thread inherits its creator's priority, and a runtime starts its blocking
/// threads from threads already lowered, so lowering each by steps would drift to 19.
/// Threads the work starts (DataFusion's, the Parquet encoder's, SQLite's connection
/// threads of a pool it opens) inherit the same value. Linux keeps a nice value per
/// thread; elsewhere it is the whole process's, so the work keeps the web's priority.
pub fn yield_to_the_web() -> impl Fn() + Send + Sync + 'static {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpriority only reads its arguments; who = 0 is the calling thread.
        let below = (unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) } + WORK_NICENESS).min(19);
        move || {
            // SAFETY: setpriority only reads its arguments; on Linux, who = 0 is the
            // calling thread.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, 0, below);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        || {}
    }
}
