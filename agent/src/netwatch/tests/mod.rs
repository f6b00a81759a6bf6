use std::net::{TcpListener, TcpStream};
use std::path::Path;

use vigil_proto::msg::Indicator;

use super::procfs::{STATE_CLOSE, STATE_ESTABLISHED, STATE_LISTEN};
use super::*;

// ---------------------------------------------------------------------------------------------
// Helpers

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn sock(proto: Proto, local: &str, remote: &str, state: u8, inode: u64, pid: u32) -> SocketEntry {
    SocketEntry {
        proto,
        local: addr(local),
        remote: addr(remote),
        state,
        uid: 0,
        inode,
        pid: Some(pid),
    }
}

fn listen(local: &str, inode: u64, pid: u32) -> SocketEntry {
    let proto = if local.starts_with('[') {
        Proto::Tcp6
    } else {
        Proto::Tcp
    };
    let any = if local.starts_with('[') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    sock(proto, local, any, STATE_LISTEN, inode, pid)
}

fn est(local: &str, remote: &str, inode: u64, pid: u32) -> SocketEntry {
    sock(Proto::Tcp, local, remote, STATE_ESTABLISHED, inode, pid)
}

fn snapshot(sockets: Vec<SocketEntry>) -> Snapshot {
    let mut procs = HashMap::new();
    for s in &sockets {
        if let Some(pid) = s.pid {
            procs.insert(
                pid,
                ProcInfo {
                    exe: Some(Arc::from(format!("/usr/bin/prog{pid}"))),
                    uid: Some(1000),
                    cmdline: Some(Arc::from(format!("prog{pid} --serve"))),
                    sha256: None,
                    md5: None,
                },
            );
        }
    }
    let users: HashMap<u32, Arc<str>> = [(1000, Arc::from("alice"))].into_iter().collect();
    Snapshot {
        sockets,
        procs,
        users: Arc::new(users),
    }
}

fn net_events(out: &[Finding]) -> Vec<&NetEvent> {
    out.iter()
        .map(|f| match f {
            Finding::NetEvent(n) => n,
            other => panic!("unexpected finding {other:?}"),
        })
        .collect()
}

fn engine(role: HostRole, max_events: usize) -> Netwatch {
    Netwatch::new(
        &NetwatchConfig {
            interval: Duration::from_secs(5),
            max_events,
            enabled: true,
        },
        role,
    )
}

fn ioc_with(items: &[(&str, &str)]) -> IocSet {
    let add: Vec<Indicator> = items
        .iter()
        .map(|(k, v)| Indicator {
            kind: (*k).into(),
            value: (*v).into(),
            source: "test-feed".into(),
            expires_at: 0,
        })
        .collect();
    let mut set = IocSet::new();
    let r = set.apply(1, 0, &add, &[]).expect("apply");
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    set
}

const NOW: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------------------------------------
// Config and role

#[test]
fn config_defaults_overrides_and_all_errors() {
    let d = RawNetwatchConfig::default().validate().expect("defaults");
    assert_eq!(d.interval, Duration::from_secs(5));
    assert_eq!(d.max_events, 100);
    let raw: RawNetwatchConfig =
        toml::from_str("interval = \"30s\"\nmax_events = 20").expect("toml");
    let c = raw.validate().expect("valid");
    assert_eq!((c.interval, c.max_events), (Duration::from_secs(30), 20));
    let raw: RawNetwatchConfig =
        toml::from_str("interval = \"soon\"\nmax_events = 0").expect("toml");
    let errs = raw.validate().expect_err("invalid");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("netwatch.interval:"), "{errs:?}");
    assert!(errs[1].starts_with("netwatch.max_events:"), "{errs:?}");
    let raw: RawNetwatchConfig = toml::from_str("interval = \"200ms\"").expect("toml");
    assert!(raw.validate().is_err(), "below 1s");
    assert!(toml::from_str::<RawNetwatchConfig>("intervall = \"5s\"").is_err());
    assert_eq!("server".parse::<HostRole>(), Ok(HostRole::Server));
    assert!("desktop".parse::<HostRole>().is_err());
}

// ---------------------------------------------------------------------------------------------
// Listener diff

#[test]
fn listener_diff_new_unchanged_closed() {
    let mut nw = engine(HostRole::Server, 100);
    let ioc = IocSet::new();
    let mut out = Vec::new();
    let s1 = vec![
        listen("0.0.0.0:22", 10, 100),
        listen("127.0.0.1:5432", 11, 200),
        // Two sockets on one address (SO_REUSEPORT): one listener.
        listen("127.0.0.1:5432", 12, 201),
    ];
    nw.poll(snapshot(s1.clone()), &ioc, NOW, &mut out);
    let ev = net_events(&out);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(ev.iter().all(|e| e.kind == NetEventKind::Listen));
    let ssh = ev.iter().find(|e| e.local == "0.0.0.0:22").expect("ssh");
    assert_eq!(ssh.proto, "tcp");
    assert_eq!(ssh.pid, Some(100));
    assert_eq!(ssh.exe.as_deref(), Some("/usr/bin/prog100"));
    assert_eq!(ssh.user.as_deref(), Some("alice"));
    assert_eq!(ssh.severity, Severity::Low, "servers may listen");
    assert!(ssh.note.is_none());

    out.clear();
    nw.poll(snapshot(s1), &ioc, NOW + 5000, &mut out);
    assert!(out.is_empty(), "unchanged produces nothing: {out:?}");

    out.clear();
    nw.poll(
        snapshot(vec![listen("127.0.0.1:5432", 11, 200)]),
        &ioc,
        NOW + 10_000,
        &mut out,
    );
    let ev = net_events(&out);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, NetEventKind::ListenClosed);
    assert_eq!(ev[0].local, "0.0.0.0:22");
    assert_eq!(ev[0].pid, Some(100), "the owner seen when it was open");
    assert_eq!(nw.listener_count(), 1);
}

#[test]
fn workstation_non_loopback_listeners_are_flagged() {
    let mut nw = engine(HostRole::Workstation, 100);
    let mut out = Vec::new();
    let udp = sock(
        Proto::Udp,
        "0.0.0.0:5353",
        "0.0.0.0:0",
        STATE_CLOSE,
        14,
        300,
    );
    nw.poll(
        snapshot(vec![
            listen("0.0.0.0:22", 10, 100),
            listen("127.0.0.1:631", 11, 101),
            listen("[::]:8080", 12, 102),
            listen("[::1]:631", 13, 101),
            udp,
        ]),
        &IocSet::new(),
        NOW,
        &mut out,
    );
    let ev = net_events(&out);
    assert_eq!(ev.len(), 5);
    let flagged: Vec<&str> = ev
        .iter()
        .filter(|e| e.severity == Severity::Medium)
        .map(|e| {
            assert_eq!(e.note.as_deref(), Some(NOTE_WORKSTATION_LISTENER));
            e.local.as_str()
        })
        .collect();
    assert_eq!(flagged, ["0.0.0.0:22", "[::]:8080", "0.0.0.0:5353"]);
    for e in ev.iter().filter(|e| e.severity == Severity::Low) {
        assert!(e.note.is_none());
        assert!(e.local.starts_with("127.0.0.1") || e.local.starts_with("[::1]"));
    }
}

// ---------------------------------------------------------------------------------------------
// Connection diff and summaries

#[test]
fn connection_diff_reports_outbound_only() {
    let mut nw = engine(HostRole::Server, 100);
    let ioc = IocSet::new();
    let mut out = Vec::new();
    let base = vec![
        listen("0.0.0.0:22", 10, 100),
        // Inbound: local port 22 is a listening port.
        est("10.0.0.5:22", "10.0.0.9:51000", 20, 101),
        // Outbound.
        est("10.0.0.5:40000", "203.0.113.7:443", 21, 200),
        // TIME_WAIT is neither a flow nor a listener.
        sock(Proto::Tcp, "10.0.0.5:40001", "203.0.113.7:443", 6, 0, 0),
    ];
    nw.poll(snapshot(base.clone()), &ioc, NOW, &mut out);
    let ev = net_events(&out);
    let connects: Vec<_> = ev
        .iter()
        .filter(|e| e.kind == NetEventKind::Connect)
        .collect();
    assert_eq!(connects.len(), 1, "{ev:?}");
    assert_eq!(connects[0].remote.as_deref(), Some("203.0.113.7:443"));
    assert_eq!(connects[0].local, "10.0.0.5:40000");
    assert_eq!(connects[0].pid, Some(200));

    out.clear();
    nw.poll(snapshot(base.clone()), &ioc, NOW + 5000, &mut out);
    assert!(out.is_empty(), "{out:?}");

    out.clear();
    let mut next = base[..2].to_vec();
    next.push(est("10.0.0.5:40002", "198.51.100.1:25", 22, 201));
    nw.poll(snapshot(next), &ioc, NOW + 10_000, &mut out);
    let ev = net_events(&out);
    assert_eq!(ev.len(), 2, "{ev:?}");
    let closed = ev
        .iter()
        .find(|e| e.kind == NetEventKind::ConnectClosed)
        .expect("closed");
    assert_eq!(closed.remote.as_deref(), Some("203.0.113.7:443"));
    assert_eq!(closed.pid, Some(200));
    let opened = ev
        .iter()
        .find(|e| e.kind == NetEventKind::Connect)
        .expect("opened");
    assert_eq!(opened.remote.as_deref(), Some("198.51.100.1:25"));
    assert_eq!(nw.connection_count(), 1);
}

#[test]
fn flood_is_capped_and_summarised_per_process_and_peer() {
    let cap = 5;
    let mut nw = engine(HostRole::Server, cap);
    let mut sockets = Vec::new();
    // 50 connections of one process to one peer.
    for i in 0..50u64 {
        let local = format!("10.0.0.5:{}", 40000 + i);
        let remote = format!("203.0.113.5:{}", 8000 + i % 3);
        sockets.push(est(&local, &remote, 100 + i, 300));
    }
    // Two lone connections.
    sockets.push(est("10.0.0.5:50001", "198.51.100.1:443", 500, 301));
    sockets.push(est("10.0.0.5:50002", "198.51.100.2:443", 501, 302));
    let mut out = Vec::new();
    nw.poll(snapshot(sockets.clone()), &IocSet::new(), NOW, &mut out);
    let ev = net_events(&out);
    assert!(ev.len() <= cap, "{} events", ev.len());
    assert_eq!(ev.len(), 3, "{ev:#?}");
    let summary = ev
        .iter()
        .find(|e| e.remote.as_deref() == Some("203.0.113.5:*"))
        .expect("summary");
    assert_eq!(summary.pid, Some(300));
    let note = summary.note.as_deref().expect("note");
    assert!(note.starts_with("50 new connections summarised"), "{note}");
    assert!(note.contains("ports 8000, 8001, 8002"), "{note}");
    assert!(
        ev.iter()
            .any(|e| e.remote.as_deref() == Some("198.51.100.1:443") && e.pid == Some(301)),
        "lone connections stay itemised"
    );

    // Many groups: cap - 1 groups itemised plus one line for the rest.
    let mut nw = engine(HostRole::Server, cap);
    let many: Vec<SocketEntry> = (0..40u32)
        .map(|i| {
            est(
                &format!("10.0.0.5:{}", 41000 + i),
                &format!("192.0.2.{}:80", i + 1),
                1000 + u64::from(i),
                400 + i,
            )
        })
        .collect();
    let mut out = Vec::new();
    nw.poll(snapshot(many.clone()), &IocSet::new(), NOW, &mut out);
    let ev = net_events(&out);
    assert_eq!(ev.len(), cap);
    let last = ev.last().expect("last");
    assert_eq!(
        last.note.as_deref(),
        Some("36 more new connections in 36 groups not itemised (more than 5 in one poll)")
    );
    // Closing them all is capped the same way.
    out.clear();
    nw.poll(snapshot(Vec::new()), &IocSet::new(), NOW + 5000, &mut out);
    let ev = net_events(&out);
    assert_eq!(ev.len(), cap);
    assert!(ev.iter().all(|e| e.kind == NetEventKind::ConnectClosed));
}

// ---------------------------------------------------------------------------------------------
// IOC matching in the engine

#[test]
fn ioc_peer_hit_is_critical_and_not_repeated_within_the_window() {
    let mut nw = engine(HostRole::Server, 100);
    let ioc = ioc_with(&[("cidr", "203.0.113.0/24")]);
    let snap = || {
        snapshot(vec![
            listen("0.0.0.0:22", 10, 100),
            // Inbound from a bad address is matched too.
            est("10.0.0.5:22", "203.0.113.99:50000", 11, 100),
            est("10.0.0.5:40000", "198.51.100.3:443", 12, 200),
        ])
    };
    let mut out = Vec::new();
    nw.poll(snap(), &ioc, NOW, &mut out);
    let hits: Vec<&NetEvent> = net_events(&out)
        .into_iter()
        .filter(|e| e.kind == NetEventKind::IocHit)
        .collect();
    assert_eq!(hits.len(), 1, "{out:?}");
    let h = hits[0];
    assert_eq!(h.indicator.as_deref(), Some("cidr:203.0.113.0/24"));
    assert_eq!(h.remote.as_deref(), Some("203.0.113.99:50000"));
    assert_eq!(h.pid, Some(100));
    assert_eq!(h.cmdline.as_deref(), Some("prog100 --serve"));
    assert_eq!(h.severity, Severity::Critical);
    assert!(h.note.as_deref().is_some_and(|n| n.contains("test-feed")));

    out.clear();
    nw.poll(snap(), &ioc, NOW + 5000, &mut out);
    assert!(out.is_empty(), "no repeat within the window: {out:?}");
    nw.poll(snap(), &ioc, NOW + IOC_REPEAT_MS + 1, &mut out);
    assert_eq!(net_events(&out).len(), 1, "reported again after the window");

    // An indicator arriving later matches connections that already existed.
    let mut ioc2 = ioc_with(&[("cidr", "203.0.113.0/24")]);
    ioc2.apply(
        2,
        1,
        &[Indicator {
            kind: "ip".into(),
            value: "198.51.100.3".into(),
            source: String::new(),
            expires_at: 0,
        }],
        &[],
    )
    .expect("delta");
    out.clear();
    nw.poll(snap(), &ioc2, NOW + IOC_REPEAT_MS + 2, &mut out);
    let ev = net_events(&out);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].indicator.as_deref(), Some("ip:198.51.100.3"));
    assert_eq!(ev[0].pid, Some(200));
}

#[test]
fn ioc_executable_hash_hit_reported_once_per_process() {
    let mut nw = engine(HostRole::Server, 100);
    let digest = [7u8; 32];
    let ioc = ioc_with(&[("sha256", &hex::encode(digest))]);
    let mut snap = snapshot(vec![listen("0.0.0.0:4444", 10, 666)]);
    if let Some(p) = snap.procs.get_mut(&666) {
        p.sha256 = Some(digest);
    }
    // A process without sockets, running from /tmp, with an unrelated hash.
    snap.procs.insert(
        777,
        ProcInfo {
            exe: Some(Arc::from("/tmp/x")),
            uid: Some(0),
            cmdline: None,
            sha256: Some([8u8; 32]),
            md5: None,
        },
    );
    let mut out = Vec::new();
    nw.poll(snap.clone(), &ioc, NOW, &mut out);
    let hits: Vec<&NetEvent> = net_events(&out)
        .into_iter()
        .filter(|e| e.kind == NetEventKind::IocHit)
        .collect();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].pid, Some(666));
    assert_eq!(hits[0].local, "0.0.0.0:4444");
    assert_eq!(
        hits[0].indicator,
        Some(format!("sha256:{}", hex::encode(digest)))
    );
    out.clear();
    nw.poll(snap, &ioc, NOW + 5000, &mut out);
    assert!(out.is_empty(), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// Fixture /proc trees

/// Builds a small `/proc` + `/etc/passwd` tree.
struct Fixture {
    dir: tempfile::TempDir,
}

const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

impl Fixture {
    fn new() -> Self {
        let f = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        f.write(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nsshd:x:105:65534::/run/sshd:/usr/sbin/nologin\n",
        );
        for t in ["tcp", "tcp6", "udp", "udp6"] {
            f.write(&format!("proc/net/{t}"), TCP_HEADER);
        }
        f
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    fn table(&self, name: &str, lines: &[&str]) {
        let mut text = TCP_HEADER.to_string();
        for (i, l) in lines.iter().enumerate() {
            text.push_str(&format!("{i:4}: {l}\n"));
        }
        self.write(&format!("proc/net/{name}"), &text);
    }

    fn process(&self, pid: u32, exe: &str, uid: u32, cmdline: &[&str], inodes: &[u64]) {
        let base = self.dir.path().join(format!("proc/{pid}"));
        std::fs::create_dir_all(base.join("fd")).expect("mkdir");
        let _ = std::fs::remove_file(base.join("exe"));
        std::os::unix::fs::symlink(exe, base.join("exe")).expect("exe link");
        self.write(
            &format!("proc/{pid}/status"),
            &format!("Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
        );
        let mut cl = cmdline.join("\0");
        cl.push('\0');
        self.write(&format!("proc/{pid}/cmdline"), &cl);
        // fd 0..2 are not sockets.
        for (fd, target) in [
            (0, "/dev/null"),
            (1, "pipe:[999]"),
            (2, "anon_inode:[eventfd]"),
        ] {
            let _ = std::os::unix::fs::symlink(target, base.join(format!("fd/{fd}")));
        }
        for (i, inode) in inodes.iter().enumerate() {
            std::os::unix::fs::symlink(
                format!("socket:[{inode}]"),
                base.join(format!("fd/{}", i + 3)),
            )
            .expect("fd link");
        }
    }
}

fn line(local: &str, remote: &str, state: u8, uid: u32, inode: u64) -> String {
    format!(
        "{local} {remote} {state:02X} 00000000:00000000 00:00000000 00000000 {uid:5}        0 {inode} 1 0000000000000000 100 0 0 10 0"
    )
}

#[test]
fn reader_attributes_sockets_from_a_fixture_tree() {
    let fx = Fixture::new();
    fx.table(
        "tcp",
        &[
            &line("00000000:0016", "00000000:0000", STATE_LISTEN, 0, 5001),
            &line("0F02000A:0016", "0200000A:C350", STATE_ESTABLISHED, 0, 5002),
            &line(
                "0F02000A:9C40",
                "077100CB:01BB",
                STATE_ESTABLISHED,
                1000,
                5003,
            ),
        ],
    );
    fx.table(
        "tcp6",
        &[&line(
            "00000000000000000000000001000000:0277",
            "00000000000000000000000000000000:0000",
            STATE_LISTEN,
            0,
            5004,
        )],
    );
    fx.table(
        "udp",
        &[&line(
            "0100007F:0035",
            "00000000:0000",
            STATE_CLOSE,
            101,
            5005,
        )],
    );
    // udp6 absent entirely: a host without IPv6.
    std::fs::remove_file(fx.root().join("proc/net/udp6")).expect("rm");
    fx.process(1, "/sbin/init", 0, &["/sbin/init"], &[]);
    fx.process(
        412,
        "/usr/sbin/sshd",
        0,
        &["sshd: /usr/sbin/sshd -D"],
        &[5001, 5004],
    );
    fx.process(900, "/usr/sbin/sshd", 105, &["sshd: alice"], &[5002]);
    // A child sharing the listener: the lowest pid owns it.
    fx.process(901, "/usr/sbin/sshd", 0, &["sshd: child"], &[5001]);

    let mut r = ProcReader::new(fx.root());
    let snap = r.read(ReadOptions::default()).expect("read");
    assert_eq!(snap.sockets.len(), 5);
    let by_inode = |i: u64| snap.sockets.iter().find(|s| s.inode == i).expect("socket");
    assert_eq!(by_inode(5001).pid, Some(412));
    assert_eq!(by_inode(5001).local, addr("0.0.0.0:22"));
    assert_eq!(by_inode(5002).pid, Some(900));
    assert_eq!(by_inode(5002).remote, addr("10.0.0.2:50000"));
    assert_eq!(by_inode(5003).pid, None, "nobody readable holds it");
    assert_eq!(by_inode(5003).remote, addr("203.0.113.7:443"));
    assert_eq!(by_inode(5004).local, addr("[::1]:631"));
    assert_eq!(by_inode(5004).proto, Proto::Tcp6);
    assert_eq!(by_inode(5005).uid, 101);
    let sshd = &snap.procs[&412];
    assert_eq!(sshd.exe.as_deref(), Some("/usr/sbin/sshd"));
    assert_eq!(sshd.cmdline.as_deref(), Some("sshd: /usr/sbin/sshd -D"));
    assert_eq!(snap.procs[&900].uid, Some(105));
    assert!(!snap.procs.contains_key(&1), "only socket owners");
    assert_eq!(&*snap.user_name(105), "sshd");
    assert_eq!(&*snap.user_name(4242), "4242");
    assert_eq!(r.stats().fd_scans, 1);

    // Through the engine: the unattributed socket gets the kernel's uid as user.
    let mut nw = engine(HostRole::Workstation, 100);
    let mut out = Vec::new();
    nw.poll(snap, &IocSet::new(), NOW, &mut out);
    let ev = net_events(&out);
    let outbound = ev
        .iter()
        .find(|e| e.kind == NetEventKind::Connect)
        .expect("outbound");
    assert_eq!(outbound.remote.as_deref(), Some("203.0.113.7:443"));
    assert_eq!(outbound.user.as_deref(), Some("1000"));
    assert_eq!(outbound.pid, None);
    let ssh = ev.iter().find(|e| e.local == "0.0.0.0:22").expect("ssh");
    assert_eq!(ssh.user.as_deref(), Some("root"));
    assert_eq!(ssh.severity, Severity::Medium);

    // Same inodes: the fd scan is skipped.
    let _ = r.read(ReadOptions::default()).expect("read");
    assert_eq!((r.stats().fd_scans, r.stats().fd_scans_skipped), (1, 1));
    // A new socket inode: rescan, and it is attributed.
    fx.table(
        "udp",
        &[
            &line("0100007F:0035", "00000000:0000", STATE_CLOSE, 101, 5005),
            &line("00000000:14E9", "00000000:0000", STATE_CLOSE, 0, 5006),
        ],
    );
    fx.process(950, "/usr/sbin/avahi-daemon", 0, &["avahi-daemon"], &[5006]);
    let snap = r.read(ReadOptions::default()).expect("read");
    assert_eq!(
        (r.stats().fd_scans, r.stats().fd_scans_incremental),
        (1, 1),
        "found by reading only new fds"
    );
    let s = snap.sockets.iter().find(|s| s.inode == 5006).expect("new");
    assert_eq!(s.pid, Some(950));
    assert_eq!(s.local, addr("0.0.0.0:5353"));
    assert_eq!(
        snap.sockets
            .iter()
            .find(|s| s.inode == 5001)
            .and_then(|s| s.pid),
        Some(412),
        "known owners kept"
    );

    // An fd number reused for a new socket: the incremental scan cannot see it, a full one does.
    let fd3 = fx.root().join("proc/900/fd/3");
    std::fs::remove_file(&fd3).expect("rm");
    std::os::unix::fs::symlink("socket:[5007]", &fd3).expect("relink");
    fx.table(
        "udp",
        &[
            &line("0100007F:0035", "00000000:0000", STATE_CLOSE, 101, 5005),
            &line("00000000:14E9", "00000000:0000", STATE_CLOSE, 0, 5006),
            &line("00000000:0045", "00000000:0000", STATE_CLOSE, 0, 5007),
        ],
    );
    let snap = r.read(ReadOptions::default()).expect("read");
    assert_eq!(r.stats().fd_scans, 2);
    assert_eq!(
        snap.sockets
            .iter()
            .find(|s| s.inode == 5007)
            .and_then(|s| s.pid),
        Some(900)
    );

    // A socket closed and its fd number reused for a new one (the usual lowest-free-fd case):
    // the incremental scan re-reads fds whose socket is gone and finds it.
    let fd4 = fx.root().join("proc/412/fd/4");
    std::fs::remove_file(&fd4).expect("rm");
    std::os::unix::fs::symlink("socket:[5008]", &fd4).expect("relink");
    fx.table(
        "tcp6",
        &[&line(
            "00000000000000000000000000000000:0050",
            "00000000000000000000000000000000:0000",
            STATE_LISTEN,
            0,
            5008,
        )],
    );
    let snap = r.read(ReadOptions::default()).expect("read");
    assert_eq!((r.stats().fd_scans, r.stats().fd_scans_incremental), (2, 2));
    assert_eq!(
        snap.sockets
            .iter()
            .find(|s| s.inode == 5008)
            .and_then(|s| s.pid),
        Some(412)
    );

    // An owner that exited: full rescan, its socket is no longer attributed to it.
    std::fs::remove_dir_all(fx.root().join("proc/950")).expect("rm");
    let snap = r.read(ReadOptions::default()).expect("read");
    assert_eq!(r.stats().fd_scans, 3);
    assert_eq!(
        snap.sockets
            .iter()
            .find(|s| s.inode == 5006)
            .and_then(|s| s.pid),
        None
    );
    assert_eq!(
        r.stats().netlink_dumps,
        0,
        "fixture roots never use netlink"
    );
}

#[test]
fn reader_fails_only_without_any_socket_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut r = ProcReader::new(dir.path());
    assert!(r.read(ReadOptions::default()).is_err());
}

#[test]
fn reader_hashes_writable_path_executables_once() {
    let fx = Fixture::new();
    let bin = fx.root().join("payload");
    std::fs::write(&bin, b"not really an ELF").expect("write");
    // The exe link must point to the real file for hashing; a fixture under the temp dir counts
    // as a writable location (/tmp/...) only when the temp dir is there, so use a path check.
    fx.process(321, bin.to_str().expect("utf8"), 0, &["payload"], &[]);
    let mut r = ProcReader::new(fx.root());
    let opts = ReadOptions {
        hash_executables: true,
        md5: true,
    };
    let snap = r.read(opts).expect("read");
    let in_writable = procfs::is_writable_location(bin.to_str().expect("utf8"));
    assert_eq!(snap.procs.contains_key(&321), in_writable);
    if in_writable {
        use sha2::Digest as _;
        let want: [u8; 32] = sha2::Sha256::digest(b"not really an ELF").into();
        assert_eq!(snap.procs[&321].sha256, Some(want));
        assert!(snap.procs[&321].md5.is_some());
        let _ = r.read(opts).expect("again");
        assert_eq!(r.stats().files_hashed, 1, "cached per inode and mtime");
        std::fs::write(&bin, b"changed content!!").expect("rewrite");
        let snap = r.read(opts).expect("again");
        assert_ne!(snap.procs[&321].sha256, Some(want));
        assert_eq!(r.stats().files_hashed, 2);
    }
}

// ---------------------------------------------------------------------------------------------
// The running host (root "/")

// Tests on this host's real sockets and processes.
mod live;
