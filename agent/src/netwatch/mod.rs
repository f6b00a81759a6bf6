//! Network watch: listening sockets and outbound flows with process attribution, and matching of
//! peers and executables against indicators of compromise.
//!
//! Design choice: IO and logic are split. A platform reader fills a [`Snapshot`]: on Linux
//! `ProcReader` from a `/proc` tree under a root (fixture trees in tests), on Windows `TableReader`
//! from `GetExtendedTcpTable`/`GetExtendedUdpTable`; [`Netwatch::poll`] diffs it against the previous one and
//! pushes [`NetEvent`]s into a [`FindingSink`], with time and the [`IocSet`] passed in, so it is
//! pure. Only changes are sent (`listen`/`listen_closed`, `connect`/`connect_closed`); a poll
//! never emits more than `max_events` items per kind: beyond that, events are summarised per
//! process and peer address. IOC hits are emitted in the poll that sees them (repeats of the same
//! process and peer are suppressed for [`IOC_REPEAT_MS`]). [`spawn`] runs both on a thread.
//!
//! Inbound connections (local port = a listening port) are matched against IOCs but not diffed:
//! on a server they are the service's normal traffic and would flood the uplink.

#[cfg(target_os = "linux")]
mod netlink;
#[cfg(target_os = "linux")]
pub mod procfs;
pub mod snapshot;
#[cfg(windows)]
pub mod windows;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use vigil_proto::{Finding, FindingSink, NetEvent, NetEventKind, Severity};

#[cfg(target_os = "linux")]
pub use self::netlink::parse_replies as parse_sock_diag;
#[cfg(target_os = "linux")]
pub use self::procfs::ProcReader;
pub use self::snapshot::{ProcInfo, Proto, ReadOptions, Snapshot, SocketEntry};
#[cfg(windows)]
pub use self::windows::TableReader;

/// The socket-table reader of this platform: `/proc` and `sock_diag` on Linux, the IP Helper
/// tables on Windows. Both have `read(ReadOptions) -> Result<Snapshot, _>`.
#[cfg(target_os = "linux")]
fn platform_reader(root: PathBuf) -> ProcReader {
    ProcReader::new(root)
}
#[cfg(windows)]
fn platform_reader(_root: PathBuf) -> TableReader {
    TableReader::new()
}
use crate::ioc::{IocMatch, IocSet, SharedIoc};
use crate::units::parse_duration;

/// An IOC hit for the same process and peer address is not repeated within this window.
pub const IOC_REPEAT_MS: i64 = 10 * 60 * 1000;

/// Note attached to listeners flagged on workstations.
pub const NOTE_WORKSTATION_LISTENER: &str = "listens on a non-loopback address on a workstation";

/// `[netwatch]` as written in the agent config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwatchConfig {
    /// Sampling interval, default `5s`.
    pub interval: Option<String>,
    /// Itemised events per kind and poll before summarising, default 100.
    pub max_events: Option<usize>,
    /// Run the engine (default true).
    pub enabled: Option<bool>,
}

/// Validated `[netwatch]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetwatchConfig {
    /// Sampling interval.
    pub interval: Duration,
    /// Itemised events per kind and poll.
    pub max_events: usize,
    /// Whether `vigil-agent run` starts the engine.
    pub enabled: bool,
}

impl Default for NetwatchConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            max_events: 100,
            enabled: true,
        }
    }
}

impl RawNetwatchConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// Every problem, each as `netwatch.<field>: what was expected` (the caller prefixes the file).
    pub fn validate(self) -> Result<NetwatchConfig, Vec<String>> {
        let mut errs = Vec::new();
        let mut cfg = NetwatchConfig {
            enabled: self.enabled.unwrap_or(true),
            ..NetwatchConfig::default()
        };
        if let Some(s) = self.interval {
            match parse_duration(&s) {
                Ok(d) if d >= Duration::from_secs(1) => cfg.interval = d,
                Ok(_) => errs.push("netwatch.interval: must be at least 1s".to_string()),
                Err(e) => errs.push(format!("netwatch.interval: {e}")),
            }
        }
        if let Some(n) = self.max_events {
            if (2..=10_000).contains(&n) {
                cfg.max_events = n;
            } else {
                errs.push(format!(
                    "netwatch.max_events: {n} is out of range 2..=10000"
                ));
            }
        }
        if errs.is_empty() { Ok(cfg) } else { Err(errs) }
    }
}

/// Role of the host, which decides what is unusual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostRole {
    /// A desk PC: listening on the network is unusual and flagged.
    Workstation,
    /// A server: listeners are expected.
    Server,
}

impl HostRole {
    /// `workstation` or `server`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Workstation => "workstation",
            Self::Server => "server",
        }
    }
}

impl fmt::Display for HostRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HostRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "workstation" => Ok(Self::Workstation),
            "server" => Ok(Self::Server),
            other => Err(format!(
                "unknown role {other:?}, expected workstation or server"
            )),
        }
    }
}

/// The diff engine. Holds the listeners and outbound flows seen at the last poll.
#[derive(Debug)]
pub struct Netwatch {
    role: HostRole,
    max_events: usize,
    listeners: HashMap<(Proto, SocketAddr), Owner>,
    conns: HashMap<(Proto, SocketAddr, SocketAddr), Owner>,
    /// (pid, peer) → when its IOC hit was last reported.
    conn_hits: HashMap<(Option<u32>, IpAddr), i64>,
    /// (pid, executable SHA-256) already reported as IOC hits.
    exe_hits: HashSet<(u32, [u8; 32])>,
}

/// Who owns a socket, as reported in findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Owner {
    pid: Option<u32>,
    exe: Option<Arc<str>>,
    user: Option<Arc<str>>,
}

impl Netwatch {
    /// A fresh engine: the first poll reports every listener and outbound flow as new.
    pub fn new(cfg: &NetwatchConfig, role: HostRole) -> Self {
        Self {
            role,
            max_events: cfg.max_events.max(2),
            listeners: HashMap::new(),
            conns: HashMap::new(),
            conn_hits: HashMap::new(),
            exe_hits: HashSet::new(),
        }
    }

    /// Listeners known after the last poll.
    pub fn listener_count(&self) -> usize {
        self.listeners.len()
    }

    /// Outbound flows known after the last poll.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Diffs `snap` against the previous poll and emits the changes and IOC hits.
    ///
    /// `now_ms` is milliseconds since the Unix epoch (IOC expiry and repeat suppression).
    pub fn poll(&mut self, snap: Snapshot, ioc: &IocSet, now_ms: i64, sink: &mut dyn FindingSink) {
        let owner_of = |s: &SocketEntry| -> Owner {
            let info = s.pid.and_then(|p| snap.procs.get(&p));
            let uid = info.and_then(|i| i.uid).unwrap_or(s.uid);
            Owner {
                pid: s.pid,
                exe: info.and_then(|i| i.exe.clone()),
                user: Some(snap.user_name(uid)),
            }
        };

        let mut listeners = HashMap::with_capacity(self.listeners.len());
        let mut listen_ports: HashSet<(bool, u16)> = HashSet::new();
        for s in snap.sockets.iter().filter(|s| s.is_listener()) {
            listen_ports.insert((s.proto.is_tcp(), s.local.port()));
            listeners
                .entry((s.proto, s.local))
                .or_insert_with(|| owner_of(s));
        }
        let mut conns = HashMap::with_capacity(self.conns.len());
        for s in snap.sockets.iter().filter(|s| s.is_flow() && s.has_peer()) {
            if !listen_ports.contains(&(s.proto.is_tcp(), s.local.port())) {
                conns
                    .entry((s.proto, s.local, s.remote))
                    .or_insert_with(|| owner_of(s));
            }
        }

        // Listeners.
        let mut opened = Vec::new();
        for ((proto, local), o) in &listeners {
            if !self.listeners.contains_key(&(*proto, *local)) {
                let flagged = self.role == HostRole::Workstation && !is_loopback(local.ip());
                let mut ev = net_event(NetEventKind::Listen, *proto, *local, None, o);
                if flagged {
                    ev.note = Some(NOTE_WORKSTATION_LISTENER.to_string());
                    ev.severity = Severity::Medium;
                }
                opened.push(Pending::new(
                    ev,
                    (*proto, *local, None),
                    local.ip(),
                    local.port(),
                ));
            }
        }
        let mut closed = Vec::new();
        for ((proto, local), o) in &self.listeners {
            if !listeners.contains_key(&(*proto, *local)) {
                let ev = net_event(NetEventKind::ListenClosed, *proto, *local, None, o);
                closed.push(Pending::new(
                    ev,
                    (*proto, *local, None),
                    local.ip(),
                    local.port(),
                ));
            }
        }
        self.emit_capped(opened, "new listeners", sink);
        self.emit_capped(closed, "closed listeners", sink);

        // Outbound flows.
        let mut opened = Vec::new();
        for ((proto, local, remote), o) in &conns {
            if !self.conns.contains_key(&(*proto, *local, *remote)) {
                let ev = net_event(NetEventKind::Connect, *proto, *local, Some(*remote), o);
                let key = (*proto, *local, Some(*remote));
                opened.push(Pending::new(ev, key, remote.ip(), remote.port()));
            }
        }
        let mut closed = Vec::new();
        for ((proto, local, remote), o) in &self.conns {
            if !conns.contains_key(&(*proto, *local, *remote)) {
                let ev = net_event(
                    NetEventKind::ConnectClosed,
                    *proto,
                    *local,
                    Some(*remote),
                    o,
                );
                let key = (*proto, *local, Some(*remote));
                closed.push(Pending::new(ev, key, remote.ip(), remote.port()));
            }
        }
        self.emit_capped(opened, "new connections", sink);
        self.emit_capped(closed, "closed connections", sink);
        self.listeners = listeners;
        self.conns = conns;

        self.match_iocs(&snap, ioc, now_ms, &owner_of, sink);
    }

    /// Peers of every socket (any state, inbound too) and executables of the snapshot.
    fn match_iocs(
        &mut self,
        snap: &Snapshot,
        ioc: &IocSet,
        now_ms: i64,
        owner_of: &dyn Fn(&SocketEntry) -> Owner,
        sink: &mut dyn FindingSink,
    ) {
        self.conn_hits
            .retain(|_, at| now_ms.saturating_sub(*at) < IOC_REPEAT_MS);
        if ioc.is_empty() {
            self.exe_hits.clear();
            return;
        }
        let now_s = now_ms.div_euclid(1000);
        let cmdline = |pid: Option<u32>| -> Option<String> {
            pid.and_then(|p| snap.procs.get(&p))
                .and_then(|i| i.cmdline.as_deref().map(str::to_string))
        };
        let mut hits = Vec::new();
        for s in snap.sockets.iter().filter(|s| s.has_peer()) {
            let peer = s.remote.ip();
            if self.conn_hits.contains_key(&(s.pid, peer)) {
                continue;
            }
            let Some(m) = ioc.match_ip(peer, now_s) else {
                continue;
            };
            self.conn_hits.insert((s.pid, peer), now_ms);
            let mut ev = net_event(
                NetEventKind::IocHit,
                s.proto,
                s.local,
                Some(s.remote),
                &owner_of(s),
            );
            ioc_fields(&mut ev, &m, "remote address", cmdline(s.pid));
            let key = (s.proto, s.local, Some(s.remote));
            hits.push(Pending::new(ev, key, peer, s.remote.port()));
        }

        // Executables (hashed by the reader only when hash indicators exist).
        let mut first_socket: HashMap<u32, &SocketEntry> = HashMap::new();
        for s in &snap.sockets {
            if let Some(p) = s.pid {
                first_socket.entry(p).or_insert(s);
            }
        }
        self.exe_hits
            .retain(|(pid, _)| snap.procs.contains_key(pid));
        let mut pids: Vec<&u32> = snap.procs.keys().collect();
        pids.sort_unstable();
        for pid in pids {
            let info = &snap.procs[pid];
            let Some(sha) = info.sha256 else { continue };
            if self.exe_hits.contains(&(*pid, sha)) {
                continue;
            }
            let m = ioc
                .match_sha256(&sha, now_s)
                .or_else(|| info.md5.and_then(|md| ioc.match_md5(&md, now_s)));
            let Some(m) = m else { continue };
            self.exe_hits.insert((*pid, sha));
            let sock = first_socket.get(pid);
            let owner = Owner {
                pid: Some(*pid),
                exe: info.exe.clone(),
                user: info.uid.map(|u| snap.user_name(u)),
            };
            let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
            let mut ev = net_event(
                NetEventKind::IocHit,
                sock.map_or(Proto::Tcp, |s| s.proto),
                sock.map_or(unspecified, |s| s.local),
                sock.filter(|s| s.has_peer()).map(|s| s.remote),
                &owner,
            );
            if sock.is_none() {
                ev.proto = String::new();
                ev.local = String::new();
            }
            ioc_fields(
                &mut ev,
                &m,
                "executable",
                info.cmdline.as_deref().map(str::to_string),
            );
            let addr = sock.map_or(unspecified, |s| s.local);
            hits.push(Pending::new(ev, (Proto::Tcp, addr, None), addr.ip(), 0));
        }
        self.emit_capped(hits, "IOC hits", sink);
    }

    /// Emits `pending` items one by one, or, beyond `max_events`, grouped per process and peer
    /// with one final line for what still does not fit.
    fn emit_capped(&self, mut pending: Vec<Pending>, what: &str, sink: &mut dyn FindingSink) {
        let cap = self.max_events;
        pending.sort_by_key(|p| p.key);
        if pending.len() <= cap {
            for p in pending {
                sink.emit(Finding::NetEvent(p.ev));
            }
            return;
        }
        let mut groups: BTreeMap<(Option<u32>, Option<String>, IpAddr), Vec<Pending>> =
            BTreeMap::new();
        for p in pending {
            groups
                .entry((p.ev.pid, p.ev.exe.clone(), p.peer))
                .or_default()
                .push(p);
        }
        let mut ordered: Vec<Vec<Pending>> = groups.into_values().collect();
        // Biggest groups first; the sort is stable so equal sizes keep the key order.
        ordered.sort_by_key(|g| std::cmp::Reverse(g.len()));
        let shown = cap - 1;
        let rest: Vec<Vec<Pending>> = ordered.split_off(shown.min(ordered.len()));
        for group in ordered {
            sink.emit(Finding::NetEvent(summarise(group, what, cap)));
        }
        if !rest.is_empty() {
            let n: usize = rest.iter().map(Vec::len).sum();
            let severity = rest
                .iter()
                .flatten()
                .map(|p| p.ev.severity)
                .max()
                .unwrap_or(Severity::Low);
            let first = &rest[0][0].ev;
            sink.emit(Finding::NetEvent(NetEvent {
                kind: first.kind,
                proto: String::new(),
                local: "*".to_string(),
                remote: None,
                pid: None,
                exe: None,
                user: None,
                cmdline: None,
                indicator: None,
                note: Some(format!(
                    "{n} more {what} in {} groups not itemised (more than {cap} in one poll)",
                    rest.len()
                )),
                severity,
            }));
        }
    }
}

/// An event waiting for the cap decision, with what it is grouped and sorted by.
#[derive(Debug)]
struct Pending {
    ev: NetEvent,
    key: (Proto, SocketAddr, Option<SocketAddr>),
    peer: IpAddr,
    port: u16,
}

impl Pending {
    fn new(
        ev: NetEvent,
        key: (Proto, SocketAddr, Option<SocketAddr>),
        peer: IpAddr,
        port: u16,
    ) -> Self {
        Self {
            ev,
            key,
            peer,
            port,
        }
    }
}

/// One event for a group: the event itself when alone, else a summary naming count and ports.
fn summarise(mut group: Vec<Pending>, what: &str, cap: usize) -> NetEvent {
    if group.len() == 1
        && let Some(p) = group.pop()
    {
        return p.ev;
    }
    let n = group.len();
    let severity = group
        .iter()
        .map(|p| p.ev.severity)
        .max()
        .unwrap_or(Severity::Low);
    let mut ports: Vec<u16> = group.iter().map(|p| p.port).collect();
    ports.sort_unstable();
    ports.dedup();
    let shown: Vec<String> = ports.iter().take(10).map(u16::to_string).collect();
    let more = if ports.len() > 10 { ", …" } else { "" };
    let peer = group[0].peer;
    let wild = match peer {
        IpAddr::V4(a) => format!("{a}:*"),
        IpAddr::V6(a) => format!("[{a}]:*"),
    };
    let mut ev = group.swap_remove(0).ev;
    if ev.remote.is_some() {
        ev.remote = Some(wild);
        ev.local = "*".to_string();
    } else {
        ev.local = wild;
    }
    let base = ev.note.take().map(|n| format!("{n}; ")).unwrap_or_default();
    ev.note = Some(format!(
        "{base}{n} {what} summarised (more than {cap} in one poll); ports {}{more}",
        shown.join(", ")
    ));
    ev.severity = severity;
    ev
}

fn net_event(
    kind: NetEventKind,
    proto: Proto,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    o: &Owner,
) -> NetEvent {
    NetEvent {
        kind,
        proto: proto.as_str().to_string(),
        local: local.to_string(),
        remote: remote.map(|r| r.to_string()),
        pid: o.pid,
        exe: o.exe.as_deref().map(str::to_string),
        user: o.user.as_deref().map(str::to_string),
        cmdline: None,
        indicator: None,
        note: None,
        severity: Severity::Low,
    }
}

fn ioc_fields(ev: &mut NetEvent, m: &IocMatch, what: &str, cmdline: Option<String>) {
    ev.indicator = Some(m.indicator.clone());
    ev.cmdline = cmdline;
    ev.severity = Severity::Critical;
    ev.note = Some(if m.source.is_empty() {
        format!("{what} matches {}", m.indicator)
    } else {
        format!("{what} matches {} from {}", m.indicator, m.source)
    });
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// A running netwatch thread.
#[derive(Debug)]
pub struct NetwatchHandle {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl NetwatchHandle {
    /// Stops the thread (after the poll in progress, if any) and waits for it.
    pub fn stop(self) {
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            tracing::error!("Netwatch thread panicked.");
        }
    }
}

/// How often the runner purges expired indicators from the shared set.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);

/// Starts netwatch on its own thread: read `<root>/proc`, poll, emit, sleep `cfg.interval`.
///
/// Findings are collected per poll and emitted after the IOC lock is released, so the sink may
/// block or take other locks. The thread also purges expired indicators once a minute.
///
/// # Errors
/// When the thread cannot be created.
pub fn spawn(
    cfg: NetwatchConfig,
    root: PathBuf,
    role: HostRole,
    ioc: SharedIoc,
    mut sink: Box<dyn FindingSink + Send>,
) -> std::io::Result<NetwatchHandle> {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("netwatch".into())
        .spawn(move || {
            let mut reader = platform_reader(root);
            let mut engine = Netwatch::new(&cfg, role);
            let mut last_expire: Option<std::time::Instant> = None;
            let mut warned = false;
            loop {
                let opts = {
                    let set = ioc.read().unwrap_or_else(PoisonError::into_inner);
                    ReadOptions {
                        hash_executables: set.has_hashes(),
                        md5: set.has_md5(),
                    }
                };
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                if last_expire.is_none_or(|t| t.elapsed() >= EXPIRE_EVERY) {
                    last_expire = Some(std::time::Instant::now());
                    let n = ioc
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .expire(now_ms.div_euclid(1000));
                    if n > 0 {
                        tracing::info!(expired = n, "Expired indicators dropped.");
                    }
                }
                match reader.read(opts) {
                    Ok(snap) => {
                        warned = false;
                        let mut out: Vec<Finding> = Vec::new();
                        {
                            let set = ioc.read().unwrap_or_else(PoisonError::into_inner);
                            engine.poll(snap, &set, now_ms, &mut out);
                        }
                        for f in out {
                            sink.emit(f);
                        }
                    }
                    Err(e) if !warned => {
                        warned = true;
                        tracing::warn!(error = %e, "Netwatch cannot read sockets.");
                    }
                    Err(_) => {}
                }
                match stopped.recv_timeout(cfg.interval) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        })?;
    Ok(NetwatchHandle { stop, thread })
}

// The engine tests read this host's /proc; the Windows reader has its own tests.
#[cfg(all(test, target_os = "linux"))]
mod tests;
