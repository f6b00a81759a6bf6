//! Who may have written a rule pack (DESIGN §10: refuse packs others could change).
//!
//! A pack tells the root agent what to read and which allow-listed commands to run, so it must come
//! from root. A pack file, and the directory holding it, must be owned by root (or by the user
//! running the agent, who gains nothing by writing their own packs) and writable by no group and no
//! other user. Every directory above must be owned the same way and, if others may write to it,
//! have the sticky bit (like `/tmp`), so nobody else can rename a directory on the way. The error
//! names the file or directory at fault and how to fix it.

use std::fs::Metadata;
use std::path::Path;

use crate::pack::LoadError;

/// Checks an opened pack file (`meta` from the open file, so it cannot be swapped in between) and
/// every directory above it.
///
/// # Errors
/// [`LoadError::Untrusted`] naming the file or directory.
pub(crate) fn check_file(path: &Path, meta: &Metadata) -> Result<(), LoadError> {
    imp::owner_and_mode(path, meta, "rule pack", false)?;
    let real = path.canonicalize().map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    match real.parent() {
        Some(dir) => check_dir(dir),
        None => Ok(()),
    }
}

/// Checks a directory packs are read from, and every directory above it.
///
/// # Errors
/// [`LoadError::Untrusted`] naming the directory.
pub(crate) fn check_dir(dir: &Path) -> Result<(), LoadError> {
    let real = dir.canonicalize().map_err(|source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for (depth, d) in real.ancestors().enumerate() {
        let meta = std::fs::metadata(d).map_err(|source| LoadError::Io {
            path: d.to_path_buf(),
            source,
        })?;
        // The pack directory itself may not be shared at all: in a sticky directory others can
        // still add packs. Above it, sticky shared directories are fine.
        imp::owner_and_mode(d, &meta, "rule-pack directory", depth > 0)?;
    }
    Ok(())
}

#[cfg(target_os = "linux")]
mod imp {
    use std::fs::Metadata;
    use std::os::unix::fs::MetadataExt as _;
    use std::path::Path;

    use crate::pack::LoadError;

    pub(super) fn owner_and_mode(
        path: &Path,
        meta: &Metadata,
        what: &str,
        sticky_ok: bool,
    ) -> Result<(), LoadError> {
        let untrusted = |reason: String| {
            Err(LoadError::Untrusted {
                path: path.to_path_buf(),
                reason,
            })
        };
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != 0 && meta.uid() != me {
            return untrusted(format!(
                "refusing a {what} owned by uid {}; it must belong to root (chown root {})",
                meta.uid(),
                path.display()
            ));
        }
        match vigil_host::perm::writable_by_others(meta.mode(), true, sticky_ok) {
            Some(w) => untrusted(format!(
                "refusing a {} {what} (chmod {} {})",
                w.adjective(),
                w.chmod(),
                path.display()
            )),
            None => Ok(()),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::fs::Metadata;
    use std::path::Path;

    use crate::pack::LoadError;

    /// Windows ACLs are checked by the platform's installer, not here yet.
    pub(super) fn owner_and_mode(
        _path: &Path,
        _meta: &Metadata,
        _what: &str,
        _sticky_ok: bool,
    ) -> Result<(), LoadError> {
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::unix::fs::{PermissionsExt as _, chown};
    use std::path::PathBuf;

    use super::*;

    fn mode(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
    }

    fn check(p: &Path) -> Result<(), String> {
        let f = std::fs::File::open(p).expect("open");
        check_file(p, &f.metadata().expect("meta")).map_err(|e| e.to_string())
    }

    /// `<tmp>/packs/p.yaml`, 0755 and 0644.
    fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().expect("tempdir");
        mode(t.path(), 0o755);
        let dir = t.path().join("packs");
        std::fs::create_dir(&dir).expect("mkdir");
        mode(&dir, 0o755);
        let f = dir.join("p.yaml");
        std::fs::write(&f, "x").expect("write");
        mode(&f, 0o644);
        (t, dir, f)
    }

    #[test]
    fn writable_by_others_anywhere_on_the_path_is_refused_and_named() {
        let (t, dir, f) = tree();
        assert_eq!(check(&f), Ok(()));
        assert_eq!(check_dir(&dir).map_err(|e| e.to_string()), Ok(()));
        mode(&f, 0o664);
        let e = check(&f).expect_err("group-writable file");
        assert!(
            e.starts_with(&format!("{}: ", f.display())) && e.contains("group-writable"),
            "{e}"
        );
        mode(&f, 0o646);
        assert!(check(&f).expect_err("world").contains("world-writable"));
        mode(&f, 0o644);
        mode(&dir, 0o775);
        let e = check(&f).expect_err("group-writable directory");
        assert!(e.starts_with(&format!("{}: ", dir.display())), "{e}");
        // Sticky does not help the pack directory itself: others could still add packs.
        mode(&dir, 0o1777);
        assert!(check_dir(&dir).is_err());
        mode(&dir, 0o755);
        // Above it, a sticky shared directory (like /tmp) is fine; a plain shared one is not.
        mode(t.path(), 0o1777);
        assert_eq!(check(&f), Ok(()));
        mode(t.path(), 0o777);
        let e = check(&f).expect_err("world-writable parent");
        assert!(e.starts_with(&format!("{}: ", t.path().display())), "{e}");
        mode(t.path(), 0o755);
    }

    #[test]
    fn packs_owned_by_another_user_are_refused() {
        if !rustix::process::geteuid().is_root() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "chown needs root under CI"
            );
            eprintln!("SKIPPED: chown needs root");
            return;
        }
        let (_t, dir, f) = tree();
        chown(&f, Some(65534), None).expect("chown");
        let e = check(&f).expect_err("foreign file");
        assert!(e.contains("owned by uid 65534"), "{e}");
        chown(&f, Some(0), None).expect("chown");
        chown(&dir, Some(65534), None).expect("chown");
        let e = check(&f).expect_err("foreign directory");
        assert!(e.starts_with(&format!("{}: ", dir.display())), "{e}");
    }
}
