//! What runs in this process, known from [`crate::init`] on: below the
//! exporters that name it ([`crate::trace`]) and the set-up that sets it.

use std::sync::OnceLock;

/// What runs in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// One function alone (`upload`, `get`, `metadata`, `delete`,
    /// `thumbnail`, `purge`): on Lambda, on Knative, or by hand.
    Function(&'static str),
    /// `avatar-local`: the six functions in one process.
    Local,
}

static PROCESS: OnceLock<Process> = OnceLock::new();

/// The process [`crate::init`] was called for; `None` before.
pub fn process() -> Option<Process> {
    PROCESS.get().copied()
}

/// Records `process`; the first call wins, as [`crate::init`]'s does.
pub(crate) fn set(process: Process) {
    let _ = PROCESS.set(process);
}
