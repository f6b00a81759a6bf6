//! Reads a [`Snapshot`] of sockets and their owning processes from a `/proc` tree under a root.
//!
//! Design choice: everything the engine needs is gathered here in one pass so the diff logic in
//! [`super::Netwatch`] stays pure. Socket tables come from netlink `sock_diag` on the real root
//! (binary, several times cheaper) or from `/proc/net/{tcp,tcp6,udp,udp6}`, each read once into a
//! reused buffer and parsed without per-line allocation. Mapping socket inodes to processes needs
//! a `readlink` of file descriptors under `/proc/*/fd`, the expensive part: it is skipped when
//! every inode is already accounted for, and otherwise limited to the fds that may have changed
//! (incremental scan), with a full scan as the fallback. Executables are hashed once per
//! (device, inode, size, mtime) and only when hash indicators exist.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use vigil_host::procnet::parse_addr;
use vigil_host::procnet::socket_inode;

use super::netlink::DiagSocket;
use super::snapshot::{Digests, MAX_HASH_BYTES};

/// Errors reading a snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcError {
    /// No socket table could be read at all (not Linux, or `/proc` not mounted under the root).
    #[error("{path}: no readable socket table: {source}")]
    NoSocketTable {
        /// The file tried first.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

pub use super::snapshot::{
    ProcInfo, Proto, ReadOptions, STATE_CLOSE, STATE_ESTABLISHED, STATE_LISTEN, Snapshot,
    SocketEntry,
};

/// Counters about the reader's work, for measurement and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Full `/proc/*/fd` scans done (reading every fd link).
    pub fd_scans: u64,
    /// Scans skipped because every socket inode was already known.
    pub fd_scans_skipped: u64,
    /// Incremental scans (only new fd numbers read) that found every new inode.
    pub fd_scans_incremental: u64,
    /// Socket tables read over netlink rather than `/proc/net`.
    pub netlink_dumps: u64,
    /// Executables hashed (cache misses).
    pub files_hashed: u64,
}

/// Reads snapshots from `<root>/proc`, keeping caches between reads.
#[derive(Debug)]
pub struct ProcReader {
    root: PathBuf,
    /// Socket inode → pid, as of the last fd scan (restricted to inodes that were in the tables).
    inode_owner: HashMap<u64, u32>,
    /// Inodes in the tables that no readable process held at the last scan.
    inode_unowned: HashSet<u64>,
    /// Whether an fd scan was ever done (the maps above mean something).
    scanned: bool,
    /// Per pid, fd number → socket inode (0: not a socket) as read at the last scan.
    fd_seen: HashMap<u32, HashMap<u32, u64>>,
    /// Whether to ask the kernel over netlink instead of reading `/proc/net` (root `/` only).
    netlink: bool,
    diag: Option<DiagSocket>,
    hashes: HashMap<FileId, Digests>,
    /// `/etc/passwd` mtime and the uid → name map read from it.
    passwd: Option<((i64, i64), UserMap)>,
    buf: Vec<u8>,
    stats: ReadStats,
}

/// Bound of the executable hash cache; it is cleared when full.
const MAX_HASH_CACHE: usize = 4096;

impl ProcReader {
    /// A reader of `<root>/proc` (`/` for the running host, where socket tables come from netlink
    /// `sock_diag` when available).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let netlink = root == Path::new("/");
        Self {
            netlink,
            root,
            inode_owner: HashMap::new(),
            inode_unowned: HashSet::new(),
            scanned: false,
            fd_seen: HashMap::new(),
            diag: None,
            hashes: HashMap::new(),
            passwd: None,
            buf: Vec::with_capacity(64 << 10),
            stats: ReadStats::default(),
        }
    }

    /// Reads socket tables from `/proc/net` even for the root `/` (for comparison and tests).
    pub fn without_netlink(mut self) -> Self {
        self.netlink = false;
        self
    }

    /// Work done so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// Reads the socket tables, attributes sockets to processes and describes the owners.
    ///
    /// Files that vanish or cannot be read (processes exiting, other users' fds when not root)
    /// are skipped: the snapshot is best effort, like `ss -p`.
    ///
    /// # Errors
    /// [`ProcError::NoSocketTable`] when none of the four tables is readable.
    pub fn read(&mut self, opts: ReadOptions) -> Result<Snapshot, ProcError> {
        let mut sockets = Vec::new();
        let mut first_err = None;
        let mut any = false;
        for proto in Proto::ALL {
            if self.netlink && self.dump_netlink(proto, &mut sockets) {
                any = true;
                self.stats.netlink_dumps += 1;
                continue;
            }
            let path = self.root.join("proc/net").join(proto.as_str());
            match read_into(&path, &mut self.buf) {
                Ok(()) => {
                    any = true;
                    parse_table(&self.buf, proto, &mut sockets);
                }
                Err(e) => {
                    first_err.get_or_insert((path, e));
                }
            }
        }
        if !any {
            let (path, source) = first_err.unwrap_or_else(|| {
                (
                    self.root.join("proc/net/tcp"),
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                )
            });
            return Err(ProcError::NoSocketTable {
                path: path.display().to_string(),
                source,
            });
        }
        self.attribute(&mut sockets);

        let users = self.users();
        let mut procs: HashMap<u32, ProcInfo> = HashMap::new();
        for pid in sockets.iter().filter_map(|s| s.pid) {
            if let std::collections::hash_map::Entry::Vacant(e) = procs.entry(pid) {
                e.insert(self.proc_info(pid, opts));
            }
        }
        if opts.hash_executables {
            for pid in self.pids() {
                if procs.contains_key(&pid) {
                    continue;
                }
                let Ok(exe) = std::fs::read_link(self.pid_path(pid, "exe")) else {
                    continue;
                };
                if is_writable_location(&exe.to_string_lossy()) {
                    let info = self.proc_info(pid, opts);
                    procs.insert(pid, info);
                }
            }
        }
        Ok(Snapshot {
            sockets,
            procs,
            users,
        })
    }

    /// Appends `proto`'s table from netlink; false (and `sockets` unchanged) when unavailable.
    fn dump_netlink(&mut self, proto: Proto, sockets: &mut Vec<SocketEntry>) -> bool {
        if self.diag.is_none() {
            match DiagSocket::open() {
                Ok(d) => self.diag = Some(d),
                Err(e) => {
                    tracing::debug!(error = %e, "No sock_diag; reading /proc/net.");
                    self.netlink = false;
                    return false;
                }
            }
        }
        let Some(diag) = self.diag.as_mut() else {
            return false;
        };
        let before = sockets.len();
        match diag.dump(proto, sockets) {
            Ok(()) => true,
            Err(e) => {
                // E.g. udp_diag not loaded: this table comes from /proc/net. The socket may hold
                // unread replies now, so the next dump starts on a fresh one.
                tracing::debug!(proto = proto.as_str(), error = %e, "sock_diag dump failed.");
                sockets.truncate(before);
                self.diag = None;
                false
            }
        }
    }

    /// Fills `pid` of each socket. The expensive part, a `readlink` of every fd on the host, is
    /// avoided when it can be: no walk at all when every inode is known and its owner alive; an
    /// incremental walk when new inodes appeared, which lists every fd directory but reads only
    /// the links that may have changed (see [`ProcReader::scan_fds`]); a full walk when that does
    /// not find them all or an owner exited.
    fn attribute(&mut self, sockets: &mut [SocketEntry]) {
        let unknown: HashSet<u64> = sockets
            .iter()
            .map(|s| s.inode)
            .filter(|i| {
                *i != 0 && !self.inode_owner.contains_key(i) && !self.inode_unowned.contains(i)
            })
            .collect();
        let owners_alive = self.scanned && {
            let pids: HashSet<u32> = self.inode_owner.values().copied().collect();
            pids.iter().all(|p| {
                std::fs::symlink_metadata(self.root.join("proc").join(p.to_string())).is_ok()
            })
        };
        let mut found = None;
        if owners_alive && unknown.is_empty() {
            self.stats.fd_scans_skipped += 1;
            found = Some(HashMap::new());
        } else if owners_alive {
            let live: HashSet<u64> = sockets.iter().map(|s| s.inode).collect();
            let f = self.scan_fds(Some(&live));
            if unknown.iter().all(|i| f.contains_key(i)) {
                self.stats.fd_scans_incremental += 1;
                found = Some(f);
            }
        }
        let (found, full) = match found {
            Some(f) => (f, false),
            None => {
                self.stats.fd_scans += 1;
                (self.scan_fds(None), true)
            }
        };
        self.scanned = true;
        let old = std::mem::take(&mut self.inode_owner);
        self.inode_unowned.clear();
        for s in sockets.iter_mut().filter(|s| s.inode != 0) {
            let owner = found
                .get(&s.inode)
                .or_else(|| (!full).then(|| old.get(&s.inode)).flatten())
                .copied();
            match owner {
                Some(pid) => {
                    self.inode_owner.insert(s.inode, pid);
                }
                None => {
                    self.inode_unowned.insert(s.inode);
                }
            }
            s.pid = owner;
        }
    }

    /// Socket inode → lowest pid holding it, over every readable `/proc/PID/fd`.
    ///
    /// A full scan (`live == None`) reads every link. An incremental one trusts an fd number that
    /// held a socket still in the tables (`live`) at the previous scan, and reads the rest: new fd
    /// numbers, non-socket fds (a closed file's number may now be a socket) and fds whose socket
    /// is gone (the number may have been reused). Only an fd closed and reused for a new socket
    /// while its old socket lives on elsewhere (shared) escapes it; the caller then falls back to
    /// a full scan because the new inode is not found.
    fn scan_fds(&mut self, live: Option<&HashSet<u64>>) -> HashMap<u64, u32> {
        use rustix::fs::{Dir, Mode, OFlags};
        let mut found: HashMap<u64, u32> = HashMap::new();
        let pids = self.pids();
        let alive: HashSet<u32> = pids.iter().copied().collect();
        self.fd_seen.retain(|p, _| alive.contains(p));
        let mut link = [0u8; 64];
        for pid in pids {
            let path = self.pid_path(pid, "fd");
            let Ok(fd) = rustix::fs::open(
                &path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) else {
                continue;
            };
            let Ok(mut dir) = Dir::new(fd) else { continue };
            let previous = live.and_then(|_| self.fd_seen.remove(&pid));
            let mut seen = HashMap::with_capacity(previous.as_ref().map_or(16, HashMap::len));
            while let Some(Ok(entry)) = dir.read() {
                let name = entry.file_name();
                let Some(n) = std::str::from_utf8(name.to_bytes())
                    .ok()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue; // "." and ".."
                };
                let trusted = previous
                    .as_ref()
                    .and_then(|p| p.get(&n))
                    .filter(|i| **i != 0 && live.is_some_and(|l| l.contains(i)));
                if let Some(inode) = trusted {
                    seen.insert(n, *inode);
                    continue;
                }
                let Ok(dirfd) = dir.fd() else { break };
                // `socket:[N]` fits easily; longer targets are truncated and are not sockets.
                let Ok(len) = rustix::fs::readlinkat_raw(dirfd, name, &mut link[..]) else {
                    continue;
                };
                let inode = socket_inode(&link[..len.min(link.len())]).unwrap_or(0);
                seen.insert(n, inode);
                if inode != 0 {
                    found
                        .entry(inode)
                        .and_modify(|p| *p = (*p).min(pid))
                        .or_insert(pid);
                }
            }
            self.fd_seen.insert(pid, seen);
        }
        found
    }

    /// Numeric entries of `<root>/proc`.
    fn pids(&self) -> Vec<u32> {
        let Ok(rd) = std::fs::read_dir(self.root.join("proc")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
            .collect()
    }

    fn pid_path(&self, pid: u32, file: &str) -> PathBuf {
        let mut p = self.root.join("proc");
        p.push(pid.to_string());
        p.push(file);
        p
    }

    fn proc_info(&mut self, pid: u32, opts: ReadOptions) -> ProcInfo {
        let exe_link = self.pid_path(pid, "exe");
        let exe = std::fs::read_link(&exe_link)
            .ok()
            .map(|p| Arc::from(p.to_string_lossy().as_ref()));
        let uid = std::fs::read_to_string(self.pid_path(pid, "status"))
            .ok()
            .and_then(|s| status_euid(&s));
        let cmdline = std::fs::read(self.pid_path(pid, "cmdline"))
            .ok()
            .filter(|b| !b.is_empty())
            .map(|b| {
                let joined: Vec<u8> = b
                    .strip_suffix(&[0])
                    .unwrap_or(&b)
                    .iter()
                    .map(|&c| if c == 0 { b' ' } else { c })
                    .collect();
                Arc::from(String::from_utf8_lossy(&joined).as_ref())
            });
        let (sha256, md5) = if opts.hash_executables {
            match self.digests(&exe_link, opts.md5) {
                Some(d) => (Some(d.sha256), d.md5),
                None => (None, None),
            }
        } else {
            (None, None)
        };
        ProcInfo {
            exe,
            uid,
            cmdline,
            sha256,
            md5,
        }
    }

    /// Digests of the file behind `/proc/PID/exe` (which works even when it was deleted),
    /// cached per file identity.
    fn digests(&mut self, exe_link: &Path, want_md5: bool) -> Option<Digests> {
        let meta = std::fs::metadata(exe_link).ok()?;
        if !meta.is_file() || meta.len() > MAX_HASH_BYTES {
            return None;
        }
        let id = FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        };
        if let Some(d) = self
            .hashes
            .get(&id)
            .filter(|d| !want_md5 || d.md5.is_some())
        {
            return Some(*d);
        }
        let d = super::snapshot::file_digests(exe_link, want_md5)?;
        self.stats.files_hashed += 1;
        if self.hashes.len() >= MAX_HASH_CACHE {
            self.hashes.clear();
        }
        self.hashes.insert(id, d);
        Some(d)
    }

    /// Uid → name from `<root>/etc/passwd`, re-read when its mtime changes.
    fn users(&mut self) -> UserMap {
        let path = self.root.join("etc/passwd");
        let stamp = std::fs::metadata(&path)
            .map(|m| (m.mtime(), m.mtime_nsec()))
            .unwrap_or((0, 0));
        if let Some((_, map)) = self.passwd.as_ref().filter(|(s, _)| *s == stamp) {
            return map.clone();
        }
        let map: HashMap<u32, Arc<str>> = std::fs::read_to_string(&path)
            .map(|t| parse_passwd(&t))
            .unwrap_or_default();
        let map = Arc::new(map);
        self.passwd = Some((stamp, map.clone()));
        map
    }
}

/// Uid → user name.
type UserMap = Arc<HashMap<u32, Arc<str>>>;

/// Identity of an executable's content for the hash cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

/// Whether an executable path is somewhere users or attackers can write (or not a file at all).
pub fn is_writable_location(exe: &str) -> bool {
    const PREFIXES: [&str; 6] = [
        "/tmp/",
        "/var/tmp/",
        "/dev/shm/",
        "/home/",
        "/root/",
        "/run/user/",
    ];
    PREFIXES.iter().any(|p| exe.starts_with(p))
        || exe.starts_with("/memfd:")
        || exe.ends_with(" (deleted)")
}

fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    std::fs::File::open(path)?.read_to_end(buf)?;
    Ok(())
}

/// Parses one `/proc/net/{tcp,udp}[6]` table ([`vigil_host::procnet`]), appending to `out`.
/// Malformed lines, and lines that stop before the uid and inode, are skipped.
pub fn parse_table(text: &[u8], proto: Proto, out: &mut Vec<SocketEntry>) {
    out.extend(
        vigil_host::procnet::parse_table(text)
            .into_iter()
            .filter_map(|e| {
                Some(SocketEntry {
                    proto,
                    local: e.local,
                    remote: e.remote,
                    state: e.state,
                    uid: e.uid?,
                    inode: e.inode?,
                    pid: None,
                })
            }),
    );
}

/// The effective uid from a `/proc/PID/status` text (`Uid: real effective saved fs`).
fn status_euid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn parse_passwd(text: &str) -> HashMap<u32, Arc<str>> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(':');
        let (Some(name), Some(_pw), Some(uid)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if let (false, Ok(uid)) = (name.is_empty(), uid.parse::<u32>()) {
            m.entry(uid).or_insert_with(|| Arc::from(name));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use super::*;

    #[test]
    fn decodes_ipv4_and_ipv6_addresses() {
        assert_eq!(
            parse_addr(b"0100007F:0CEA"),
            Some("127.0.0.1:3306".parse().expect("addr"))
        );
        assert_eq!(
            parse_addr(b"00000000:0016"),
            Some("0.0.0.0:22".parse().expect("addr"))
        );
        // 192.168.1.20 as the kernel prints it on a little-endian host.
        assert_eq!(
            parse_addr(b"1401A8C0:01BB"),
            Some("192.168.1.20:443".parse().expect("addr"))
        );
        assert_eq!(
            parse_addr(b"00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().expect("addr"))
        );
        assert_eq!(
            parse_addr(b"B80D0120000000000000000001000000:1F90"),
            Some("[2001:db8::1]:8080".parse().expect("addr"))
        );
        assert_eq!(
            parse_addr(b"0000000000000000FFFF00000100007F:0035"),
            Some("[::ffff:127.0.0.1]:53".parse().expect("addr"))
        );
        for bad in [
            &b""[..],
            b"0100007F",
            b"0100007:0050",
            b"0100007G:0050",
            b"0100007F:1FFFF",
        ] {
            assert_eq!(parse_addr(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn parses_table_lines_with_states_uids_and_inodes() {
        let text = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 23456 1 0000000000000000 100 0 0 10 0
   1: 0F02000A:0016 6401A8C0:D431 01 00000000:00000000 02:0009E1B5 00000000     0        0 34567 2 0000000000000000 20 4 29 10 -1
   2: garbage line
   3: 0F02000A:A1B2 0A0A0A0A:0050 06 00000000:00000000 03:00001234 00000000     0        0 0 3 0000000000000000
";
        let mut out = Vec::new();
        parse_table(text, Proto::Tcp, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].local, "127.0.0.1:3306".parse().expect("a"));
        assert_eq!(
            (out[0].state, out[0].uid, out[0].inode),
            (STATE_LISTEN, 106, 23456)
        );
        assert!(out[0].is_listener() && !out[0].is_flow());
        assert_eq!(out[1].remote, "192.168.1.100:54321".parse().expect("a"));
        assert!(out[1].is_flow() && out[1].has_peer());
        assert_eq!((out[2].state, out[2].inode), (6, 0), "TIME_WAIT");
        assert!(!out[2].is_flow() && !out[2].is_listener());
    }

    #[test]
    fn udp_listener_and_flow_classification() {
        let text = b"header
  1: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 111 2 0
  2: 0100007F:E0F1 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 112 2 0
  3: 00000000:0000 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 113 2 0
";
        let mut out = Vec::new();
        parse_table(text, Proto::Udp, &mut out);
        assert!(out[0].is_listener(), "bound, unconnected");
        assert!(out[1].is_flow() && !out[1].is_listener(), "connected");
        assert!(!out[2].is_listener(), "unbound");
    }

    #[test]
    fn helpers() {
        assert_eq!(socket_inode(b"socket:[4242]"), Some(4242));
        assert_eq!(socket_inode(b"pipe:[4242]"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(status_euid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(0));
        assert_eq!(
            vigil_host::procnet::parse_dec(b"99999999999999999999999"),
            None
        );
        let pw = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\nbad\nalice:x:1000:1000::/home/a:/bin/sh\n",
        );
        assert_eq!(pw.get(&1000).map(|s| &**s), Some("alice"));
        assert!(is_writable_location("/tmp/x"));
        assert!(is_writable_location("/home/a/.cache/x"));
        assert!(is_writable_location("/memfd:payload (deleted)"));
        assert!(is_writable_location("/usr/bin/x (deleted)"));
        assert!(!is_writable_location("/usr/bin/ssh"));
        assert!(!is_writable_location("/tmpfoo"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_tables_do_not_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let mut out = Vec::new();
            parse_table(&bytes, Proto::Tcp6, &mut out);
            let _ = parse_addr(&bytes);
        }

        #[test]
        fn encoded_addresses_round_trip(ip in proptest::num::u32::ANY, port in proptest::num::u16::ANY) {
            let a = Ipv4Addr::from(ip);
            let field = format!("{:08X}:{port:04X}", u32::from_ne_bytes(a.octets()));
            proptest::prop_assert_eq!(parse_addr(field.as_bytes()), Some(SocketAddr::new(a.into(), port)));
        }
    }
}
