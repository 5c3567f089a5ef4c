//! Every exit code cwfix uses, in one place (integration tests assert them, README and
//! `cwfix plan --help` document them).
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success; for `plan`: every control holds |
//! | 1 | an error of any kind, including every command-line mistake, a declined prompt, a stale plan, a stopped or partial apply |
//! | 2 | `plan`: changes are planned (cwfix can fix what is open) |
//! | 3 | `plan`: nothing cwfix can change, but controls are blocked or unknown (a person must act) |

/// How a command ended, mapped once to a process exit code in `cli::main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Success; for `plan`: every control holds.
    Success,
    /// `plan` only: nothing to change, but controls are blocked or unknown.
    NeedsPerson,
    /// `plan` only: changes are planned.
    Changes,
    /// An error, a declined prompt, a stale plan or a partial apply.
    Failure,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Changes => 2,
            Exit::NeedsPerson => 3,
        }
    }

    /// The exit of a plan: changes beat controls only a person can fix.
    pub fn of_plan(p: &crate::plan::Plan) -> Exit {
        if p.has_changes() {
            Exit::Changes
        } else if p.all_compliant() {
            Exit::Success
        } else {
            Exit::NeedsPerson
        }
    }
}
