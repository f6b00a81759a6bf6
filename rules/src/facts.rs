//! The `HostFacts` seam: the only way the evaluator touches a host.
//!
//! It is deliberately low level (read, stat, list, run) so tests and other hosts can implement it
//! in a few lines; parsing and caching of `/etc/passwd`, the dpkg database and friends live in the
//! evaluator's per-run cache. [`RootFacts`] reads a directory tree: `/` for the running host, or an
//! offline image. Inside a foreign tree, symlinks are resolved against the tree's root (an absolute
//! link `/lib/systemd/system/ssh.service` means `<root>/lib/...`) and `..` never leaves it.

use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use vigil_proto::FileType;

use crate::command::AllowList;
use crate::windows::WindowsFacts;
use crate::windows::offline::HiveFacts;

/// Reads larger than this are refused (the dpkg status file is a few MiB).
pub const MAX_READ: u64 = 64 << 20;

/// Attributes of a filesystem object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Object type.
    pub file_type: FileType,
    /// Permission bits (`& 0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: SystemTime,
}

/// Captured result of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit status (`None` when killed by a signal).
    pub status: Option<i32>,
    /// Standard output, truncated to the cap.
    pub stdout: String,
    /// Whether the output was truncated.
    pub truncated: bool,
}

/// Access to one host. Paths are absolute host paths (`/etc/passwd`), whatever the backing store.
pub trait HostFacts: Sync {
    /// The evaluation time (file ages are measured against it).
    fn now(&self) -> SystemTime;
    /// Whether this is the running host (runtime state such as `/proc` and services is its own and
    /// commands may run); `false` for an offline tree.
    fn is_live(&self) -> bool;
    /// Reads a whole file, following symlinks.
    ///
    /// # Errors
    /// `NotFound` when absent; other I/O errors as they come.
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;
    /// Reads a whole file that may be larger than [`HostFacts::read`] accepts, up to `max` bytes
    /// (package databases: an rpm database is tens of MiB). The default is `read`.
    ///
    /// # Errors
    /// As [`HostFacts::read`]; a larger file is an error.
    fn read_capped(&self, path: &str, max: u64) -> io::Result<Vec<u8>> {
        let _ = max;
        self.read(path)
    }
    /// Attributes, following symlinks.
    ///
    /// # Errors
    /// `NotFound` when absent.
    fn stat(&self, path: &str) -> io::Result<FileStat>;
    /// Attributes of the object itself (a symlink is reported as such).
    ///
    /// # Errors
    /// `NotFound` when absent.
    fn lstat(&self, path: &str) -> io::Result<FileStat>;
    /// Target of a symlink, as written.
    ///
    /// # Errors
    /// `NotFound` when absent, `InvalidInput` when not a symlink.
    fn read_link(&self, path: &str) -> io::Result<String>;
    /// Entry names of a directory (following symlinks), unsorted.
    ///
    /// # Errors
    /// `NotFound` when absent.
    fn list_dir(&self, path: &str) -> io::Result<Vec<String>>;
    /// Runs an allow-listed command (program *and* arguments) without a shell, confined to
    /// reading (see [`crate::command`]).
    ///
    /// # Errors
    /// A reason when the command is not allowed, the host is not live, it cannot start in its
    /// sandbox, or it times out.
    fn run(
        &self,
        argv: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<CommandOutput, String>;
    /// Windows facts when the host is a Windows system: the hives of an offline volume, or the
    /// running Windows host. `None` for other systems.
    fn windows(&self) -> Option<&dyn WindowsFacts> {
        None
    }
}

/// [`HostFacts`] over a directory tree.
#[derive(Debug, Clone)]
pub struct RootFacts {
    root: PathBuf,
    live: bool,
    now: SystemTime,
    allowed: AllowList,
    /// The Windows installation under the root, detected on first use.
    windows: Arc<OnceLock<Option<HiveFacts>>>,
}

impl RootFacts {
    /// Facts of the tree at `root`, evaluated at `now`. The tree is treated as the running host
    /// when `root` is `/`.
    pub fn new(root: impl Into<PathBuf>, now: SystemTime) -> RootFacts {
        let root = root.into();
        let live = root == Path::new("/");
        RootFacts {
            root,
            live,
            now,
            allowed: AllowList::default(),
            windows: Arc::default(),
        }
    }

    /// Replaces the command allow-list ([`crate::command::DEFAULT_ALLOWED_COMMANDS`] by default).
    pub fn with_allowed_commands(mut self, allowed: AllowList) -> RootFacts {
        self.allowed = allowed;
        self
    }

    /// Overrides liveness (tests use a fixture tree as if it were the running host).
    pub fn with_live(mut self, live: bool) -> RootFacts {
        self.live = live;
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps a host path into the tree, resolving symlinks inside it.
    fn resolve(&self, path: &str, follow_last: bool) -> io::Result<PathBuf> {
        if self.root == Path::new("/") {
            return Ok(PathBuf::from(path));
        }
        let mut stack: Vec<String> = Vec::new();
        let mut pending: Vec<String> = components(path).into_iter().rev().collect();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            if c == ".." {
                stack.pop();
                continue;
            }
            stack.push(c);
            let is_last = pending.is_empty();
            if is_last && !follow_last {
                break;
            }
            let here = self.join(&stack);
            let meta = match std::fs::symlink_metadata(&here) {
                Ok(m) => m,
                // A missing component: the rest cannot contain links; report the plain path.
                Err(_) => {
                    while let Some(c) = pending.pop() {
                        stack.push(c);
                    }
                    break;
                }
            };
            if meta.file_type().is_symlink() {
                hops += 1;
                if hops > 40 {
                    return Err(io::Error::other(format!(
                        "too many symlinks resolving {path}"
                    )));
                }
                let target = std::fs::read_link(&here)?;
                let target = target.to_string_lossy().into_owned();
                stack.pop();
                if target.starts_with('/') {
                    stack.clear();
                }
                for t in components(&target).into_iter().rev() {
                    pending.push(t);
                }
            }
        }
        Ok(self.join(&stack))
    }

    fn join(&self, parts: &[String]) -> PathBuf {
        let mut p = self.root.clone();
        for c in parts {
            p.push(c);
        }
        p
    }
}

fn components(p: &str) -> Vec<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect()
}

fn to_stat(m: &std::fs::Metadata) -> FileStat {
    let (mode, uid, gid) = owner_and_mode(m);
    let ft = m.file_type();
    let file_type = if ft.is_symlink() {
        FileType::Symlink
    } else if ft.is_dir() {
        FileType::Dir
    } else if ft.is_file() {
        FileType::File
    } else {
        FileType::Other
    };
    FileStat {
        file_type,
        mode,
        uid,
        gid,
        size: m.len(),
        mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

/// Permission bits, uid and gid (`lstat`).
#[cfg(unix)]
fn owner_and_mode(m: &std::fs::Metadata) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    (m.mode() & 0o7777, m.uid(), m.gid())
}

/// Windows files have ACLs rather than modes: a read-only file shows as 0o444, any other as
/// 0o644, owned by uid/gid 0 (mode and owner rules are Linux rules).
#[cfg(not(unix))]
fn owner_and_mode(m: &std::fs::Metadata) -> (u32, u32, u32) {
    let mode = if m.permissions().readonly() {
        0o444
    } else {
        0o644
    };
    (mode, 0, 0)
}

impl HostFacts for RootFacts {
    fn now(&self) -> SystemTime {
        self.now
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.read_capped(path, MAX_READ)
    }

    fn read_capped(&self, path: &str, max: u64) -> io::Result<Vec<u8>> {
        let p = self.resolve(path, true)?;
        let f = std::fs::File::open(&p)?;
        let mut buf = Vec::new();
        f.take(max + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > max {
            return Err(io::Error::other(format!(
                "{path} is larger than {max} bytes"
            )));
        }
        Ok(buf)
    }

    fn stat(&self, path: &str) -> io::Result<FileStat> {
        let p = self.resolve(path, true)?;
        // The tree's links were resolved above; a remaining link points outside the tree only on
        // the live host, where following it is right.
        std::fs::metadata(p).map(|m| to_stat(&m))
    }

    fn lstat(&self, path: &str) -> io::Result<FileStat> {
        let p = self.resolve(path, false)?;
        std::fs::symlink_metadata(p).map(|m| to_stat(&m))
    }

    fn read_link(&self, path: &str) -> io::Result<String> {
        let p = self.resolve(path, false)?;
        std::fs::read_link(p).map(|t| t.to_string_lossy().into_owned())
    }

    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        let p = self.resolve(path, true)?;
        let mut out = Vec::new();
        for e in std::fs::read_dir(p)? {
            out.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }

    fn run(
        &self,
        argv: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<CommandOutput, String> {
        if !self.live {
            return Err(format!(
                "not run: commands execute only on the live host, not against the offline tree {}",
                self.root.display()
            ));
        }
        let entry = self
            .allowed
            .permit(argv)
            .map_err(|e| format!("not run: `{}`: {e}", argv.join(" ")))?;
        crate::command::run(entry, argv, timeout, max_output)
    }

    fn windows(&self) -> Option<&dyn WindowsFacts> {
        // A Windows volume is recognised by its hive layout (Windows/System32/config/SYSTEM).
        self.windows
            .get_or_init(|| HiveFacts::detect(&self.root))
            .as_ref()
            .map(|h| h as &dyn WindowsFacts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_tree() {
        let d = tempfile::tempdir().expect("tempdir");
        let r = d.path();
        std::fs::create_dir_all(r.join("usr/lib/systemd/system")).expect("mkdir");
        std::fs::create_dir_all(r.join("etc/systemd/system/multi-user.target.wants"))
            .expect("mkdir");
        symlink("usr/lib", r.join("lib")).expect("link");
        std::fs::write(r.join("usr/lib/systemd/system/ssh.service"), "[Unit]\n").expect("write");
        // Absolute link: must land in the tree, not on this machine's /lib.
        symlink(
            "/lib/systemd/system/ssh.service",
            r.join("etc/systemd/system/multi-user.target.wants/ssh.service"),
        )
        .expect("link");
        symlink("../../../../etc/passwd-not-here", r.join("etc/escape")).expect("link");
        let f = RootFacts::new(r, SystemTime::now());
        let got = f
            .read("/etc/systemd/system/multi-user.target.wants/ssh.service")
            .expect("read through links");
        assert_eq!(got, b"[Unit]\n");
        assert_eq!(
            f.lstat("/etc/systemd/system/multi-user.target.wants/ssh.service")
                .expect("lstat")
                .file_type,
            FileType::Symlink
        );
        let e = f
            .read("/etc/escape")
            .expect_err("escape is clamped to the root");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(!f.is_live());
    }

    #[test]
    fn commands_are_refused_offline_and_outside_the_allow_list() {
        let d = tempfile::tempdir().expect("tempdir");
        let f = RootFacts::new(d.path(), SystemTime::now());
        let argv = vec!["/bin/echo".to_string(), "hi".to_string()];
        let e = f
            .run(&argv, Duration::from_secs(5), 100)
            .expect_err("offline");
        assert!(e.contains("offline"), "{e}");
        let live = f.clone().with_live(true);
        let e = live
            .run(&argv, Duration::from_secs(5), 100)
            .expect_err("not allowed");
        assert!(e.contains("allow-list"), "{e}");
        let e = live
            .run(
                &["/bin/echo".into(), "-e".into()],
                Duration::from_secs(5),
                100,
            )
            .expect_err("an option where text is allowed");
        assert!(e.contains("allow-list"), "{e}");
        let ok = live.with_allowed_commands(AllowList::parse(&["/bin/echo <text>"]).expect("list"));
        let out = ok.run(&argv, Duration::from_secs(5), 100).expect("runs");
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.status, Some(0));
    }
}
