//! Every exit code cwfix uses, in one place (integration tests assert them).

/// How a command ended, mapped once to a process exit code in `cli::main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; for `plan`: nothing to change.
    Success,
    /// An error, a declined prompt, a stale plan or a partial apply.
    Failure,
    /// `plan` only: changes are planned or controls are blocked/unknown.
    Changes,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Changes => 2,
        }
    }
}
