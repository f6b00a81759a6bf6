//! Reads a [`Snapshot`] on Windows: the IP Helper socket tables with owning process ids
//! (`GetExtendedTcpTable` with `TCP_TABLE_OWNER_PID_ALL`, `GetExtendedUdpTable` with
//! `UDP_TABLE_OWNER_PID`, IPv4 and IPv6), then each owner's image path, command line and account
//! (through `sysinfo`).
//!
//! Tables are read into a 4-byte-aligned buffer and decoded field by field with bounds checks, so
//! the only unsafe code is the two calls that fill the buffer. TCP states are mapped to the Linux
//! numbers the engine classifies with; a UDP socket has no state and no peer, so every bound UDP
//! socket is a listener, as on Linux. Accounts are numbered per snapshot (`uid` is an index into
//! [`Snapshot::users`]), since Windows identifies them by SID rather than by number.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use super::snapshot::{
    Digests, MAX_HASH_BYTES, ProcInfo, Proto, ReadOptions, STATE_CLOSE, STATE_ESTABLISHED,
    STATE_LISTEN, Snapshot, SocketEntry, file_digests,
};

/// Errors reading the socket tables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// No table could be read at all.
    #[error("no readable socket table: {0}")]
    NoSocketTable(String),
}

/// Reads snapshots, keeping an executable-hash cache between reads.
#[derive(Debug, Default)]
pub struct TableReader {
    hashes: HashMap<(PathBuf, u64, i64), Digests>,
    sys: Option<System>,
}

/// Bound of the executable hash cache; it is cleared when full.
const MAX_HASH_CACHE: usize = 4096;

impl TableReader {
    /// A reader of this host's tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the four tables and describes the owning processes.
    ///
    /// # Errors
    /// [`TableError::NoSocketTable`] when none of the four tables can be read.
    pub fn read(&mut self, opts: ReadOptions) -> Result<Snapshot, TableError> {
        let mut sockets = Vec::new();
        let mut errors = Vec::new();
        for proto in Proto::ALL {
            match table::read(proto) {
                Ok(buf) => decode(proto, &buf, &mut sockets),
                Err(e) => errors.push(format!("{}: {e}", proto.as_str())),
            }
        }
        if errors.len() == Proto::ALL.len() {
            return Err(TableError::NoSocketTable(errors.join("; ")));
        }
        let (procs, users) = self.describe(&sockets, opts);
        for s in &mut sockets {
            s.uid = s
                .pid
                .and_then(|p| procs.get(&p))
                .and_then(|i| i.uid)
                .unwrap_or(u32::MAX);
        }
        Ok(Snapshot {
            sockets,
            procs,
            users: Arc::new(users),
        })
    }

    /// Image path, command line, account and (when asked) digests of every owning process.
    fn describe(
        &mut self,
        sockets: &[SocketEntry],
        opts: ReadOptions,
    ) -> (HashMap<u32, ProcInfo>, HashMap<u32, Arc<str>>) {
        let mut pids: Vec<u32> = sockets.iter().filter_map(|s| s.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        let Some(sys) = self.system() else {
            return (HashMap::new(), HashMap::new());
        };
        let wanted: Vec<Pid> = pids.iter().map(|p| Pid::from_u32(*p)).collect();
        let kind = ProcessRefreshKind::nothing()
            .with_exe(UpdateKind::OnlyIfNotSet)
            .with_cmd(UpdateKind::OnlyIfNotSet)
            .with_user(UpdateKind::OnlyIfNotSet);
        // Every process when hashing (IOC hits on executables not owning a socket).
        let scope = if opts.hash_executables {
            ProcessesToUpdate::All
        } else {
            ProcessesToUpdate::Some(&wanted)
        };
        sys.refresh_processes_specifics(scope, true, kind);
        // SID → account, resolved here: sysinfo's user list is not safe under Wine.
        let mut accounts: HashMap<String, String> = HashMap::new();
        let mut names: Vec<Arc<str>> = Vec::new();
        let mut out = HashMap::new();
        let mut hash_jobs = Vec::new();
        for (pid, p) in sys.processes() {
            let pid = pid.as_u32();
            let exe = p.exe().map(|e| e.to_string_lossy().into_owned());
            let owns_socket = pids.binary_search(&pid).is_ok();
            let writable = exe.as_deref().is_some_and(is_writable_location);
            if !owns_socket && !(opts.hash_executables && writable) {
                continue;
            }
            let user = p.user_id().map(|uid| {
                let sid = uid.to_string();
                accounts
                    .entry(sid.clone())
                    .or_insert_with(|| {
                        crate::platform::windows::acl::account_of_sid(&sid).unwrap_or(sid)
                    })
                    .clone()
            });
            let uid = user.map(|u| index_of(&mut names, &u));
            let cmd: Vec<String> = p
                .cmd()
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            if opts.hash_executables
                && let Some(e) = p.exe()
            {
                hash_jobs.push((pid, e.to_path_buf()));
            }
            out.insert(
                pid,
                ProcInfo {
                    exe: exe.map(Arc::from),
                    uid,
                    cmdline: (!cmd.is_empty()).then(|| Arc::from(cmd.join(" "))),
                    sha256: None,
                    md5: None,
                },
            );
        }
        for (pid, exe) in hash_jobs {
            if let Some(d) = self.digests(&exe, opts.md5)
                && let Some(info) = out.get_mut(&pid)
            {
                info.sha256 = Some(d.sha256);
                info.md5 = d.md5;
            }
        }
        let users = (0u32..).zip(names).collect();
        (out, users)
    }

    fn system(&mut self) -> Option<&mut System> {
        if self.sys.is_none() {
            self.sys = System::new().ok();
        }
        self.sys.as_mut()
    }

    /// Digests of an executable, cached per (path, size, last write).
    fn digests(&mut self, exe: &Path, want_md5: bool) -> Option<Digests> {
        let meta = std::fs::metadata(exe).ok()?;
        if !meta.is_file() || meta.len() > MAX_HASH_BYTES {
            return None;
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let key = (exe.to_path_buf(), meta.len(), mtime);
        if let Some(d) = self
            .hashes
            .get(&key)
            .filter(|d| !want_md5 || d.md5.is_some())
        {
            return Some(*d);
        }
        let d = file_digests(exe, want_md5)?;
        if self.hashes.len() >= MAX_HASH_CACHE {
            self.hashes.clear();
        }
        self.hashes.insert(key, d);
        Some(d)
    }
}

fn index_of(names: &mut Vec<Arc<str>>, name: &str) -> u32 {
    let i = names.iter().position(|n| &**n == name).unwrap_or_else(|| {
        names.push(Arc::from(name));
        names.len() - 1
    });
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Whether an executable runs from somewhere users can write: profiles, temporary directories,
/// `ProgramData` (writable by Users by default), the recycle bin.
pub fn is_writable_location(exe: &str) -> bool {
    let lower = exe.to_ascii_lowercase().replace('/', "\\");
    const PARTS: [&str; 6] = [
        "\\users\\",
        "\\windows\\temp\\",
        "\\programdata\\",
        "\\$recycle.bin\\",
        "\\appdata\\",
        "\\temp\\",
    ];
    PARTS.iter().any(|p| lower.contains(p))
}

/// Row sizes of the four `*_OWNER_PID` tables, after the 4-byte entry count.
const TCP4_ROW: usize = 24;
const TCP6_ROW: usize = 56;
const UDP4_ROW: usize = 12;
const UDP6_ROW: usize = 28;

/// Decodes one table filled by [`table::read`]; rows cut short are ignored.
pub fn decode(proto: Proto, buf: &[u8], out: &mut Vec<SocketEntry>) {
    let Some(n) = u32_at(buf, 0) else { return };
    let row = match proto {
        Proto::Tcp => TCP4_ROW,
        Proto::Tcp6 => TCP6_ROW,
        Proto::Udp => UDP4_ROW,
        Proto::Udp6 => UDP6_ROW,
    };
    for i in 0..n as usize {
        let Some(r) = buf.get(4 + i * row..4 + (i + 1) * row) else {
            return;
        };
        if let Some(e) = decode_row(proto, r) {
            out.push(e);
        }
    }
}

fn decode_row(proto: Proto, r: &[u8]) -> Option<SocketEntry> {
    let v4 = |off: usize| {
        Some(IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(r.get(off..off + 4)?).ok()?,
        )))
    };
    let v6 = |off: usize| {
        Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(r.get(off..off + 16)?).ok()?,
        )))
    };
    let port = |off: usize| u32_at(r, off).map(port_of);
    let unspecified = |ip: IpAddr| SocketAddr::new(ip, 0);
    let (local, remote, state, pid) = match proto {
        Proto::Tcp => (
            SocketAddr::new(v4(4)?, port(8)?),
            SocketAddr::new(v4(12)?, port(16)?),
            tcp_state(u32_at(r, 0)?),
            u32_at(r, 20)?,
        ),
        Proto::Tcp6 => (
            SocketAddr::new(v6(0)?, port(20)?),
            SocketAddr::new(v6(24)?, port(44)?),
            tcp_state(u32_at(r, 48)?),
            u32_at(r, 52)?,
        ),
        Proto::Udp => (
            SocketAddr::new(v4(0)?, port(4)?),
            unspecified(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            STATE_CLOSE,
            u32_at(r, 8)?,
        ),
        Proto::Udp6 => (
            SocketAddr::new(v6(0)?, port(20)?),
            unspecified(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            STATE_CLOSE,
            u32_at(r, 24)?,
        ),
    };
    Some(SocketEntry {
        proto,
        local,
        remote,
        state,
        uid: u32::MAX,
        inode: 0,
        // Pid 0 is the idle process: a socket in TIME_WAIT belongs to no one.
        pid: (pid != 0).then_some(pid),
    })
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// The port of a `dwLocalPort`/`dwRemotePort` field: network byte order in the low 16 bits.
fn port_of(dw: u32) -> u16 {
    u16::from_be_bytes([(dw & 0xff) as u8, ((dw >> 8) & 0xff) as u8])
}

/// `MIB_TCP_STATE_*` → the Linux state number the engine uses.
fn tcp_state(s: u32) -> u8 {
    match s {
        2 => STATE_LISTEN,
        3 => 0x02, // SYN_SENT
        4 => 0x03, // SYN_RCVD
        5 => STATE_ESTABLISHED,
        6 => 0x04,  // FIN_WAIT1
        7 => 0x05,  // FIN_WAIT2
        8 => 0x08,  // CLOSE_WAIT
        9 => 0x0b,  // CLOSING
        10 => 0x09, // LAST_ACK
        11 => 0x06, // TIME_WAIT
        _ => STATE_CLOSE,
    }
}

/// The two IP Helper calls.
mod table {
    #![allow(unsafe_code, reason = "IP Helper fills a caller-provided buffer")]

    use windows_sys::Win32::NetworkManagement::IpHelper::{
        GetExtendedTcpTable, GetExtendedUdpTable, TCP_TABLE_OWNER_PID_ALL, UDP_TABLE_OWNER_PID,
    };

    use super::Proto;

    const AF_INET: u32 = 2;
    const AF_INET6: u32 = 23;
    const NO_ERROR: u32 = 0;
    const ERROR_INSUFFICIENT_BUFFER: u32 = 122;

    /// The raw table of `proto` (entry count, then rows).
    pub(super) fn read(proto: Proto) -> std::io::Result<Vec<u8>> {
        // u32 storage keeps the rows 4-byte aligned, as the API requires.
        let mut buf: Vec<u32> = vec![0; 4096];
        for _ in 0..8 {
            let mut size = u32::try_from(buf.len() * 4).unwrap_or(u32::MAX);
            let af = match proto {
                Proto::Tcp | Proto::Udp => AF_INET,
                Proto::Tcp6 | Proto::Udp6 => AF_INET6,
            };
            // SAFETY: `buf` holds `size` writable bytes; the API writes at most `size` bytes and
            // sets `size` to what it needs when that is not enough.
            let rc = unsafe {
                if proto.is_tcp() {
                    GetExtendedTcpTable(
                        buf.as_mut_ptr().cast(),
                        &mut size,
                        0,
                        af,
                        TCP_TABLE_OWNER_PID_ALL,
                        0,
                    )
                } else {
                    GetExtendedUdpTable(
                        buf.as_mut_ptr().cast(),
                        &mut size,
                        0,
                        af,
                        UDP_TABLE_OWNER_PID,
                        0,
                    )
                }
            };
            match rc {
                NO_ERROR => {
                    let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
                    return Ok(bytes[..(size as usize).min(bytes.len())].to_vec());
                }
                // The table grew between the size query and the read: retry with room to spare.
                ERROR_INSUFFICIENT_BUFFER => buf.resize((size as usize / 4) + 1024, 0),
                e => return Err(std::io::Error::from_raw_os_error(e as i32)),
            }
        }
        Err(std::io::Error::other("the socket table kept growing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_sizes_match_the_windows_structs() {
        use std::mem::size_of;
        use windows_sys::Win32::NetworkManagement::IpHelper::{
            MIB_TCP6ROW_OWNER_PID, MIB_TCPROW_OWNER_PID, MIB_UDP6ROW_OWNER_PID,
            MIB_UDPROW_OWNER_PID,
        };
        assert_eq!(size_of::<MIB_TCPROW_OWNER_PID>(), TCP4_ROW);
        assert_eq!(size_of::<MIB_TCP6ROW_OWNER_PID>(), TCP6_ROW);
        assert_eq!(size_of::<MIB_UDPROW_OWNER_PID>(), UDP4_ROW);
        assert_eq!(size_of::<MIB_UDP6ROW_OWNER_PID>(), UDP6_ROW);
    }

    #[test]
    fn decodes_rows_and_ignores_truncated_tables() {
        // One TCP row: LISTEN on 127.0.0.1:8080 by pid 42, then a short second row.
        let mut b = Vec::new();
        b.extend(2u32.to_ne_bytes());
        b.extend(2u32.to_ne_bytes());
        b.extend([127, 0, 0, 1]);
        b.extend(u32::from(u16::to_be(8080)).to_ne_bytes());
        b.extend([0; 4]);
        b.extend(0u32.to_ne_bytes());
        b.extend(42u32.to_ne_bytes());
        b.extend([1, 2, 3]);
        let mut out = Vec::new();
        decode(Proto::Tcp, &b, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].local, "127.0.0.1:8080".parse().expect("addr"));
        assert!(out[0].is_listener());
        assert_eq!(out[0].pid, Some(42));
        decode(Proto::Udp6, &[0xff; 3], &mut out);
        decode(Proto::Udp6, &u32::MAX.to_ne_bytes(), &mut out);
        assert_eq!(out.len(), 1, "hostile counts read nothing past the buffer");
    }

    #[test]
    fn sees_its_own_listener_and_connection_with_owner() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _client = std::net::TcpStream::connect(addr).expect("connect");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let uaddr = udp.local_addr().expect("udp addr");
        let snap = TableReader::new()
            .read(ReadOptions::default())
            .expect("tables");
        let me = std::process::id();
        let l = snap
            .sockets
            .iter()
            .find(|s| s.proto == Proto::Tcp && s.local == addr && s.is_listener())
            .expect("our listener is in the table");
        // Wine 8 reports no owning process (pid 0) in these tables; Windows does.
        if crate::platform::windows::running_under_wine() {
            assert_eq!(l.pid, None);
        } else {
            assert_eq!(l.pid, Some(me));
        }
        assert!(
            snap.sockets
                .iter()
                .any(|s| s.proto == Proto::Tcp && s.remote == addr && s.is_flow()),
            "our connection is in the table"
        );
        assert!(
            snap.sockets
                .iter()
                .any(|s| s.proto == Proto::Udp && s.local == uaddr && s.is_listener())
        );
    }

    #[test]
    fn owners_are_described_with_image_account_and_hash() {
        let me = std::process::id();
        let sock = SocketEntry {
            proto: Proto::Tcp,
            local: "127.0.0.1:1".parse().expect("addr"),
            remote: "0.0.0.0:0".parse().expect("addr"),
            state: STATE_LISTEN,
            uid: u32::MAX,
            inode: 0,
            pid: Some(me),
        };
        let opts = ReadOptions {
            hash_executables: true,
            md5: true,
        };
        let (procs, users) = TableReader::new().describe(&[sock], opts);
        let info = procs.get(&me).expect("our process is described");
        let exe = info.exe.as_deref().expect("image path");
        assert!(exe.to_ascii_lowercase().ends_with(".exe"), "{exe}");
        let want = file_digests(Path::new(exe), true).expect("hash our image");
        assert_eq!(info.sha256, Some(want.sha256));
        assert_eq!(info.md5, want.md5);
        let uid = info.uid.expect("account");
        assert!(!users[&uid].is_empty());
    }

    #[test]
    fn writable_locations() {
        assert!(is_writable_location(r"C:\Users\a\AppData\Local\Temp\x.exe"));
        assert!(is_writable_location(r"C:\ProgramData\x\y.exe"));
        assert!(!is_writable_location(r"C:\Windows\System32\svchost.exe"));
        assert!(!is_writable_location(
            r"C:\Program Files\Vigil\vigil-agent.exe"
        ));
    }
}
