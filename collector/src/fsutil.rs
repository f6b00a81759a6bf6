//! Small filesystem helpers with the permissions Vigil's secrets need. Atomic writes and the
//! world-writable check live in [`vigil_host`], shared with the agent; this module keeps the
//! collector's names for them.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub use vigil_host::fs::{write_atomic, write_private};
pub use vigil_host::perm::check_not_world_writable;

/// Creates `dir` (and parents) and sets it to 0700.
///
/// # Errors
/// Any I/O error.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Reads a file to a string.
///
/// # Errors
/// Any I/O error.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
}
