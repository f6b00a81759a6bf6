//! Platforms without a command sandbox: commands do not run (failing closed).

use std::process::{Child, Command};

use super::allow::RunAs;

/// The uid commands would run as where the entry does not say `@root`.
pub const SANDBOX_UID: u32 = 65534;

/// Always refuses the program.
pub(super) fn check_program(program: &str) -> Result<(), String> {
    Err(format!(
        "not run: {program}: command checks run only on Linux, where they are confined to \
         reading; this platform has no such sandbox yet"
    ))
}

/// Never reached: [`check_program`] refuses every program first.
pub(super) fn confine(_cmd: &mut Command, _run_as: RunAs) -> Result<(), String> {
    Err("no command sandbox on this platform".into())
}

/// Kills the child.
pub(super) fn kill_tree(child: &mut Child) {
    let _ = child.kill();
}
