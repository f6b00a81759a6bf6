//! Atomic, durable file replacement.
//!
//! [`write_atomic`] writes a temporary file in the target's directory, syncs it, renames it over
//! the target and syncs the directory, so a crash leaves either the old or the new content, never
//! a mix. The temporary name, `.<name>.<pid>.<n>.tmp`, is unique per process and call, so two
//! files in one directory (or two threads) never share one; it ends in `.tmp` so a directory
//! sweeper that removes crash leftovers recognises it. On Unix the file gets `mode` from its
//! creation (never briefly wider); on Windows the mode is ignored and the file inherits its
//! directory's ACL, and there is no directory to sync (NTFS journals renames).

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Owner read/write only.
pub const PRIVATE: u32 = 0o600;

/// Options for [`write_atomic_with`].
#[derive(Debug, Clone, Default)]
pub struct Replace<'a> {
    /// Unix mode of the new file; `None` leaves it to the umask (0666 & !umask).
    pub mode: Option<u32>,
    /// Before replacing an existing target, hard-link it here (a fallback copy); failing to keep
    /// it is not an error.
    pub keep_previous: Option<&'a Path>,
}

/// Replaces `path` with `bytes`, the new file created with `mode` (Unix).
///
/// # Errors
/// Any I/O error; the temporary file is removed and the target is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_atomic_with(
        path,
        bytes,
        &Replace {
            mode: Some(mode),
            keep_previous: None,
        },
    )
}

/// [`write_atomic`] with mode 0600, for keys, tokens and state.
///
/// # Errors
/// As [`write_atomic`].
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, bytes, PRIVATE)
}

/// Replaces `path` with `bytes` as `opts` says.
///
/// # Errors
/// Any I/O error; the temporary file is removed and the target is untouched.
pub fn write_atomic_with(path: &Path, bytes: &[u8], opts: &Replace<'_>) -> io::Result<()> {
    let tmp = temp_path(path)?;
    let res = replace(path, &tmp, bytes, opts);
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    sync_dir(dir)
}

/// Makes a directory's entries (created, renamed files) durable. A no-op on Windows.
///
/// # Errors
/// The directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn replace(path: &Path, tmp: &Path, bytes: &[u8], opts: &Replace<'_>) -> io::Result<()> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    if let Some(mode) = opts.mode {
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, mode);
    }
    let mut f = o.open(tmp)?;
    #[cfg(unix)]
    if let Some(mode) = opts.mode {
        // The umask may have narrowed the creation mode; set exactly what was asked.
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f); // Windows refuses to rename an open file.
    if let Some(prev) = opts.keep_previous
        && path.exists()
    {
        match fs::remove_file(prev) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let _ = fs::hard_link(path, prev);
    }
    fs::rename(tmp, path)
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_keeps_previous_and_leaves_no_temporary() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("state.json");
        let prev = d.path().join("state.json.prev");
        write_private(&p, b"one").expect("first");
        let opts = Replace {
            mode: Some(PRIVATE),
            keep_previous: Some(&prev),
        };
        write_atomic_with(&p, b"two", &opts).expect("second");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        assert_eq!(fs::read(&prev).expect("prev"), b"one");
        let names: Vec<String> = fs::read_dir(d.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn mode_is_exact_and_a_failed_write_leaves_the_target() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("report.html");
        write_atomic(&p, b"x", 0o640).expect("write");
        let mode = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        write_private(&p, b"y").expect("rewrite");
        let mode = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A target that is a directory cannot be replaced by a file: the error is reported and
        // nothing is left behind.
        let sub = d.path().join("sub");
        fs::create_dir(&sub).expect("mkdir");
        fs::write(sub.join("f"), b"z").expect("fill");
        assert!(write_private(&sub, b"no").is_err());
        assert_eq!(fs::read_dir(d.path()).expect("dir").count(), 2);
        assert!(
            write_private(Path::new("/"), b"no").is_err(),
            "no file name"
        );
    }
}
