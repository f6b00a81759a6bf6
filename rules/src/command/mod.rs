//! Commands of `command` checks: which may run ([`AllowList`]) and how they run.
//!
//! A rule pack is data, yet a `command` check makes the root agent start a program. Two layers
//! keep a pack (or an imported SCA policy) from changing the host through it:
//!
//! 1. the allow-list names each program *with the arguments it may get*: read-only verbs and
//!    options only ([`DEFAULT_ALLOWED_COMMANDS`]);
//! 2. the child is confined to reading, whatever the program does with its arguments: on Linux it
//!    keeps no capability but `CAP_DAC_READ_SEARCH`, runs with `no_new_privs`, and runs as the
//!    unprivileged uid 65534 unless its entry says `@root` (docs/rules-format.md, "Command
//!    sandbox"). Other platforms have no sandbox yet, so commands do not run there.
//!
//! Commands also run without a shell, with a clean environment, a timeout and an output cap.

mod allow;
mod exec;
#[cfg(target_os = "linux")]
#[path = "sandbox_linux.rs"]
mod sandbox;
#[cfg(not(target_os = "linux"))]
#[path = "sandbox_other.rs"]
mod sandbox;

pub use allow::{AllowList, DEFAULT_ALLOWED_COMMANDS, Entry, RunAs};
pub(crate) use exec::run;
pub use sandbox::SANDBOX_UID;

#[cfg(test)]
mod tests;
