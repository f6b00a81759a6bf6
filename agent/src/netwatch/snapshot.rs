//! What one look at the host's sockets yields, whatever the platform read it from: sockets,
//! their owning processes and the owners' user names. `procfs` (Linux) and `windows` (IP Helper
//! tables) fill it; the diff engine in the parent module only reads it.
//!
//! The socket states use the Linux kernel's numbers on every platform (the Windows reader maps
//! `MIB_TCP_STATE_*` to them), so classification is one piece of code.

use std::collections::HashMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// Transport and address family of a socket, named as in `/proc/net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// TCP over IPv4.
    Tcp,
    /// TCP over IPv6.
    Tcp6,
    /// UDP over IPv4.
    Udp,
    /// UDP over IPv6.
    Udp6,
}

impl Proto {
    /// All protocols, in reading order.
    pub const ALL: [Proto; 4] = [Self::Tcp, Self::Tcp6, Self::Udp, Self::Udp6];

    /// The name used in `/proc/net` and in findings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tcp6 => "tcp6",
            Self::Udp => "udp",
            Self::Udp6 => "udp6",
        }
    }

    /// Whether this is TCP (either family).
    pub fn is_tcp(self) -> bool {
        matches!(self, Self::Tcp | Self::Tcp6)
    }
}

/// Kernel TCP state `ESTABLISHED` (also "connected" for UDP).
pub const STATE_ESTABLISHED: u8 = 0x01;
/// Kernel TCP state `CLOSE` (an unconnected UDP socket).
pub const STATE_CLOSE: u8 = 0x07;
/// Kernel TCP state `LISTEN`.
pub const STATE_LISTEN: u8 = 0x0a;

/// One line of a `/proc/net` socket table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEntry {
    /// Protocol.
    pub proto: Proto,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address (unspecified, port 0, when not connected).
    pub remote: SocketAddr,
    /// Kernel state number (`STATE_*`).
    pub state: u8,
    /// Uid owning the socket, per the kernel (on Windows an index into [`Snapshot::users`]).
    pub uid: u32,
    /// Socket inode (0 for sockets no process holds, e.g. `TIME_WAIT`).
    pub inode: u64,
    /// Owning process, when attributed.
    pub pid: Option<u32>,
}

impl SocketEntry {
    /// A TCP socket in `LISTEN`, or an unconnected bound UDP socket.
    pub fn is_listener(&self) -> bool {
        if self.proto.is_tcp() {
            self.state == STATE_LISTEN
        } else {
            self.state == STATE_CLOSE && self.remote.port() == 0 && self.local.port() != 0
        }
    }

    /// An established TCP connection or a connected UDP flow.
    pub fn is_flow(&self) -> bool {
        self.state == STATE_ESTABLISHED
    }

    /// Whether the remote end is a real peer (not unspecified / port 0).
    pub fn has_peer(&self) -> bool {
        self.remote.port() != 0 && !self.remote.ip().is_unspecified()
    }
}

/// What is known about one process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// Executable path (`readlink /proc/PID/exe`; may end in ` (deleted)`).
    pub exe: Option<Arc<str>>,
    /// Effective uid (`Uid:` in `/proc/PID/status`; on Windows an index into
    /// [`Snapshot::users`] of the process's account).
    pub uid: Option<u32>,
    /// Command line, arguments joined by spaces.
    pub cmdline: Option<Arc<str>>,
    /// SHA-256 of the executable, when hashing was asked for.
    pub sha256: Option<[u8; 32]>,
    /// MD5 of the executable, when asked for.
    pub md5: Option<[u8; 16]>,
}

/// Sockets and the processes that own them, at one point in time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every socket of the four tables.
    pub sockets: Vec<SocketEntry>,
    /// Processes owning sockets, plus (when hashing) processes running from writable paths.
    pub procs: HashMap<u32, ProcInfo>,
    /// Uid → user name from `<root>/etc/passwd`.
    pub users: Arc<HashMap<u32, Arc<str>>>,
}

impl Snapshot {
    /// The user name of a uid, or the uid in decimal when it has no passwd entry.
    pub fn user_name(&self, uid: u32) -> Arc<str> {
        self.users
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| Arc::from(uid.to_string()))
    }
}

/// What to gather beyond sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Hash executables of socket owners and of processes running from writable paths.
    pub hash_executables: bool,
    /// Also compute MD5 (only when MD5 indicators exist).
    pub md5: bool,
}

/// Digests of an executable, for hash indicators.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Digests {
    pub(crate) sha256: [u8; 32],
    pub(crate) md5: Option<[u8; 16]>,
}

/// Largest executable hashed; bigger ones are skipped (and never match a hash indicator).
pub(crate) const MAX_HASH_BYTES: u64 = 512 << 20;

/// SHA-256 (and MD5 when asked) of the file at `path`, read in 64 KiB chunks; `None` when it
/// cannot be read whole.
pub(crate) fn file_digests(path: &Path, want_md5: bool) -> Option<Digests> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut sha = Sha256::new();
    let mut md = want_md5.then(Md5::new);
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        sha.update(&chunk[..n]);
        if let Some(m) = md.as_mut() {
            m.update(&chunk[..n]);
        }
    }
    Some(Digests {
        sha256: sha.finalize().into(),
        md5: md.map(|m| m.finalize().into()),
    })
}
