//! A test hook that freezes the daemon at a named step of an operation, so
//! that a test can `kill -9` it exactly there and check what a crash at that
//! point leaves behind.
//!
//! With `MONO_TEST_CRASH_AT=<step>` in monod's environment, the first time
//! that step is reached the daemon writes the step's name to the file named
//! by `MONO_TEST_CRASH_MARKER` (when set) and stops itself with SIGSTOP:
//! every thread halts where it is, and the one that reached the step never
//! returns, so the operation takes no further step. Without the
//! variable, [`reached`] is one load of a cached `None`.
//!
//! Steps: `init.registered`, `init.data-dir`, `init.scripts-done`,
//! `init.session`, `destroy.marked`, `destroy.session-killed`,
//! `destroy.docker-removed`, `destroy.data-removed`.

use std::sync::OnceLock;

/// The step to stop at, read once.
fn target() -> Option<&'static str> {
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    TARGET.get_or_init(|| std::env::var("MONO_TEST_CRASH_AT").ok().filter(|s| !s.is_empty())).as_deref()
}

/// Marks that `step` was reached; stops the process if a test asked for it.
pub fn reached(step: &str) {
    if target() != Some(step) {
        return;
    }
    tracing::warn!(step, "crash point reached; stopping (test hook MONO_TEST_CRASH_AT)");
    if let Ok(marker) = std::env::var("MONO_TEST_CRASH_MARKER") {
        let _ = std::fs::write(marker, step);
    }
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
    // A process-directed stop reaches each thread at its next trip through
    // the kernel, so this thread could run on a little; it must not take
    // one more step of the operation.
    loop {
        std::thread::park();
    }
}
