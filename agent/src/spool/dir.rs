//! The spool directory on disk: segment file names, listing, the directory lock and the
//! small file operations the spool makes, each error naming its path.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use tracing::debug;

use super::SpoolError;

pub(super) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("seg-{id:020}.log"))
}

pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&id| id > 0)
}

/// Segment ids in the directory, sorted; removes temporary files left by a crash.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_at(dir))? {
        let entry = entry.map_err(io_at(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = parse_segment_name(name) {
            ids.push(id);
        } else if name.ends_with(".tmp") {
            debug!(file = name, "Removing temporary file left by a crash.");
            remove_file(&entry.path())?;
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

pub(super) fn create_dir(dir: &Path) -> Result<(), SpoolError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(io_at(dir))
}

pub(super) fn lock_dir(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join("lock");
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let file = opts.open(&path).map_err(io_at(&path))?;
    // The lock belongs to the open file, which a process exiting (a restart) or a child forked
    // by this process and not yet exec'd (a `command` check) can still hold for a moment: wait
    // up to LOCK_WAIT before deciding that another agent owns this spool.
    let mut tries = 0;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if tries < LOCK_WAIT_TRIES => {
                tries += 1;
                std::thread::sleep(LOCK_WAIT_STEP);
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(SpoolError::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(fs::TryLockError::Error(source)) => return Err(SpoolError::Io { path, source }),
        }
    }
}

/// How long [`lock_dir`] waits for a lock held for a moment: `LOCK_WAIT_TRIES × LOCK_WAIT_STEP`
/// (1 s).
const LOCK_WAIT_TRIES: u32 = 100;
const LOCK_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(10);

pub(super) fn open_segment(path: &Path) -> Result<File, SpoolError> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
        .map_err(io_at(path))
}

pub(super) fn remove_file(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(SpoolError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

pub(super) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}
