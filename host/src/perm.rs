//! Who may write a file, from its Unix mode (DESIGN §10: refuse configuration and rule packs that
//! others could change).
//!
//! [`writable_by_others`] is the pure decision every caller shares; [`check_not_world_writable`]
//! applies it to a path on Unix. Windows decides from ACLs instead (the agent's platform layer).

/// Who, besides the owner, may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writable {
    /// Any user (`o+w`).
    World,
    /// The file's group (`g+w`).
    Group,
}

impl Writable {
    /// `world-writable` / `group-writable`.
    pub fn adjective(self) -> &'static str {
        match self {
            Self::World => "world-writable",
            Self::Group => "group-writable",
        }
    }

    /// The `chmod` argument that removes the write bit.
    pub fn chmod(self) -> &'static str {
        match self {
            Self::World => "o-w",
            Self::Group => "g-w",
        }
    }
}

/// Which write bit of `mode` is too broad: others always count; the group counts when
/// `group_counts`. With `sticky_ok`, a sticky shared directory (like `/tmp`) is accepted, since
/// others may add to it but not rename or remove what they do not own.
pub fn writable_by_others(mode: u32, group_counts: bool, sticky_ok: bool) -> Option<Writable> {
    if sticky_ok && mode & 0o1000 != 0 {
        return None;
    }
    if mode & 0o002 != 0 {
        Some(Writable::World)
    } else if group_counts && mode & 0o020 != 0 {
        Some(Writable::Group)
    } else {
        None
    }
}

/// Refuses a file anyone may write.
///
/// # Errors
/// `PATH: refusing a world-writable file (chmod o-w PATH)`, or `PATH: <io error>` when it cannot
/// be inspected.
#[cfg(unix)]
pub fn check_not_world_writable(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    match writable_by_others(meta.permissions().mode(), false, false) {
        Some(w) => Err(format!(
            "{}: refusing a {} file (chmod {} {})",
            path.display(),
            w.adjective(),
            w.chmod(),
            path.display()
        )),
        None => Ok(()),
    }
}

/// Refuses a directory that group or others can write.
///
/// # Errors
/// A message naming the directory and the fix.
#[cfg(unix)]
pub fn check_private_dir(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if writable_by_others(meta.permissions().mode(), true, false).is_some() {
        return Err(format!(
            "{}: state directory is writable by group or others; run chmod 700 {}",
            dir.display(),
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        assert_eq!(writable_by_others(0o644, true, false), None);
        assert_eq!(
            writable_by_others(0o666, false, false),
            Some(Writable::World)
        );
        assert_eq!(writable_by_others(0o664, false, false), None);
        assert_eq!(
            writable_by_others(0o664, true, false),
            Some(Writable::Group)
        );
        assert_eq!(writable_by_others(0o1777, true, true), None);
        assert_eq!(
            writable_by_others(0o1777, true, false),
            Some(Writable::World)
        );
    }

    #[cfg(unix)]
    #[test]
    fn world_writable_file_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().expect("tempdir");
        let f = d.path().join("c.toml");
        std::fs::write(&f, "x").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o664)).expect("chmod");
        check_not_world_writable(&f).expect("group write is not world write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let e = check_not_world_writable(&f).expect_err("o+w");
        assert!(
            e.contains("world-writable") && e.contains("chmod o-w"),
            "{e}"
        );
        assert!(check_not_world_writable(&d.path().join("none")).is_err());
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o770)).expect("chmod");
        assert!(check_private_dir(d.path()).is_err());
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        check_private_dir(d.path()).expect("0700");
    }
}
