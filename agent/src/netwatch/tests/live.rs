//! The engine on this host's real sockets, processes and executables.

use super::*;

fn own_pid() -> u32 {
    std::process::id()
}

fn own_exe() -> String {
    std::env::current_exe()
        .expect("current exe")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn real_listener_is_reported_and_then_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let local = listener.local_addr().expect("addr").to_string();
    let mut reader = ProcReader::new("/");
    let mut nw = engine(HostRole::Server, 100_000);
    let ioc = IocSet::new();
    let mut out = Vec::new();
    nw.poll(
        reader.read(ReadOptions::default()).expect("read"),
        &ioc,
        NOW,
        &mut out,
    );
    let ev = net_events(&out);
    let mine = ev
        .iter()
        .find(|e| e.kind == NetEventKind::Listen && e.local == local)
        .unwrap_or_else(|| panic!("{local} not reported in {ev:#?}"));
    assert_eq!(mine.proto, "tcp");
    assert_eq!(mine.pid, Some(own_pid()));
    assert_eq!(mine.exe.as_deref(), Some(own_exe().as_str()));
    assert!(mine.user.is_some());

    drop(listener);
    out.clear();
    nw.poll(
        reader.read(ReadOptions::default()).expect("read"),
        &ioc,
        NOW + 5000,
        &mut out,
    );
    let ev = net_events(&out);
    let closed = ev
        .iter()
        .find(|e| e.kind == NetEventKind::ListenClosed && e.local == local)
        .unwrap_or_else(|| panic!("close of {local} not reported in {ev:#?}"));
    assert_eq!(closed.pid, Some(own_pid()));
    assert!(
        !ev.iter()
            .any(|e| e.kind == NetEventKind::Listen && e.local == local),
        "not reported twice"
    );
}

#[test]
fn netlink_and_proc_net_agree_on_a_real_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let local = listener.local_addr().expect("addr");
    let mut via_netlink = ProcReader::new("/");
    let mut via_proc = ProcReader::new("/").without_netlink();
    let a = via_netlink
        .read(ReadOptions::default())
        .expect("netlink read");
    let b = via_proc.read(ReadOptions::default()).expect("proc read");
    assert!(
        via_netlink.stats().netlink_dumps >= 2,
        "tcp and tcp6 over sock_diag"
    );
    assert_eq!(via_proc.stats().netlink_dumps, 0);
    let find = |snap: &Snapshot| {
        snap.sockets
            .iter()
            .find(|s| s.local == local && s.state == STATE_LISTEN)
            .cloned()
            .unwrap_or_else(|| panic!("{local} missing"))
    };
    let (x, y) = (find(&a), find(&b));
    assert_eq!(x, y);
    assert_eq!(x.pid, Some(own_pid()));
    assert_ne!(x.inode, 0);
    // Both see the same listening sockets of the host (other tests open and close sockets
    // meanwhile, so only other processes' listeners are compared).
    let listeners = |snap: &Snapshot| -> HashSet<(Proto, SocketAddr)> {
        snap.sockets
            .iter()
            .filter(|s| s.proto.is_tcp() && s.is_listener() && s.pid != Some(own_pid()))
            .map(|s| (s.proto, s.local))
            .collect()
    };
    assert_eq!(listeners(&a), listeners(&b));
    drop(listener);
}

#[test]
fn real_connection_to_a_listed_loopback_address_is_an_ioc_hit() {
    // 127.0.0.2 is loopback on Linux and used by no other test here.
    let listener = TcpListener::bind("127.0.0.2:0").expect("bind");
    let target = listener.local_addr().expect("addr");
    let client = TcpStream::connect(target).expect("connect");
    let (_server_side, _) = listener.accept().expect("accept");
    let ioc = ioc_with(&[("ip", "127.0.0.2")]);
    let mut reader = ProcReader::new("/");
    let mut nw = engine(HostRole::Server, 100_000);
    let mut out = Vec::new();
    nw.poll(
        reader.read(ReadOptions::default()).expect("read"),
        &ioc,
        NOW,
        &mut out,
    );
    let ev = net_events(&out);
    let hit = ev
        .iter()
        .find(|e| e.kind == NetEventKind::IocHit)
        .unwrap_or_else(|| panic!("no IOC hit in {ev:#?}"));
    assert_eq!(hit.indicator.as_deref(), Some("ip:127.0.0.2"));
    // Either end of the pair may be the one matched (both are in this process).
    let client_addr = client.local_addr().expect("client addr").to_string();
    let ends = (hit.local.clone(), hit.remote.clone().unwrap_or_default());
    assert!(
        ends == (client_addr.clone(), target.to_string())
            || ends == (target.to_string(), client_addr.clone()),
        "{ends:?}"
    );
    assert_eq!(hit.pid, Some(own_pid()));
    assert_eq!(hit.exe.as_deref(), Some(own_exe().as_str()));
    assert_eq!(hit.severity, Severity::Critical);
    let cmd = hit.cmdline.as_deref().expect("cmdline");
    let exe_name = std::path::Path::new(&own_exe())
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(cmd.contains(&exe_name), "{cmd}");
    // The outbound connection itself was reported as a Connect.
    assert!(ev.iter().any(|e| e.kind == NetEventKind::Connect
        && e.remote == Some(target.to_string())
        && e.pid == Some(own_pid())));
}

fn sha256_file(p: &Path) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).expect("read")))
}

#[test]
fn real_executable_owning_a_socket_matches_its_sha256() {
    let _listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ioc = ioc_with(&[(
        "sha256",
        &sha256_file(&std::env::current_exe().expect("exe")),
    )]);
    let mut reader = ProcReader::new("/");
    let mut nw = engine(HostRole::Server, 100_000);
    let mut out = Vec::new();
    let opts = ReadOptions {
        hash_executables: ioc.has_hashes(),
        md5: ioc.has_md5(),
    };
    nw.poll(reader.read(opts).expect("read"), &ioc, NOW, &mut out);
    let ev = net_events(&out);
    // Other tests may run this same binary as a child process at the same moment (from a
    // writable path, so it matches too): look at this process, and check the rest are copies.
    let all_hits: Vec<_> = ev
        .iter()
        .filter(|e| e.kind == NetEventKind::IocHit)
        .collect();
    let hits: Vec<_> = all_hits
        .iter()
        .filter(|e| e.pid == Some(own_pid()))
        .collect();
    assert_eq!(hits.len(), 1, "{all_hits:#?}");
    assert!(
        all_hits.iter().all(|e| e.exe == hits[0].exe),
        "only copies of this test binary match: {all_hits:#?}"
    );
    assert!(
        hits[0]
            .indicator
            .as_deref()
            .is_some_and(|i| i.starts_with("sha256:"))
    );
    assert_eq!(hits[0].exe.as_deref(), Some(own_exe().as_str()));
}

#[test]
fn real_process_running_from_tmp_matches_without_sockets() {
    let Ok(sleep) = which("sleep") else {
        eprintln!("no sleep binary; skipping");
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("vigil-nw")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let copy = dir.path().join("sleepy");
    std::fs::copy(&sleep, &copy).expect("copy");
    let mut child = std::process::Command::new(&copy)
        .arg("30")
        .spawn()
        .expect("spawn");
    let ioc = ioc_with(&[("sha256", &sha256_file(&copy))]);
    let mut reader = ProcReader::new("/");
    let mut nw = engine(HostRole::Workstation, 100_000);
    let opts = ReadOptions {
        hash_executables: true,
        md5: false,
    };
    // The child may take a moment to exec (longer on a loaded machine): up to 10 s.
    let mut found = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for i in 0.. {
        if std::time::Instant::now() > deadline {
            break;
        }
        let mut out = Vec::new();
        nw.poll(reader.read(opts).expect("read"), &ioc, NOW + i, &mut out);
        if let Some(Finding::NetEvent(e)) = out
            .into_iter()
            .find(|f| matches!(f, Finding::NetEvent(e) if e.kind == NetEventKind::IocHit))
        {
            found = Some(e);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let hit = found.expect("IOC hit for the copied binary");
    assert_eq!(hit.pid, Some(child.id()));
    assert_eq!(hit.exe.as_deref(), Some(copy.to_str().expect("utf8")));
    assert_eq!(
        hit.cmdline.as_deref(),
        Some(format!("{} 30", copy.display()).as_str())
    );
    assert_eq!(hit.local, "", "no socket");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    for dir in ["/usr/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(())
}

// ---------------------------------------------------------------------------------------------
// The runner

struct ChannelSink(mpsc::Sender<Finding>);

impl FindingSink for ChannelSink {
    fn emit(&mut self, finding: Finding) {
        let _ = self.0.send(finding);
    }
}

#[test]
fn runner_polls_a_fixture_root_until_stopped() {
    let fx = Fixture::new();
    fx.table(
        "tcp",
        &[&line(
            "00000000:0016",
            "00000000:0000",
            STATE_LISTEN,
            0,
            7001,
        )],
    );
    fx.process(10, "/usr/sbin/sshd", 0, &["sshd"], &[7001]);
    let (tx, rx) = mpsc::channel();
    let ioc: SharedIoc = Arc::new(std::sync::RwLock::new(IocSet::new()));
    let h = spawn(
        NetwatchConfig {
            interval: Duration::from_millis(20),
            max_events: 100,
            enabled: true,
        },
        fx.root().to_path_buf(),
        HostRole::Workstation,
        ioc,
        Box::new(ChannelSink(tx)),
    )
    .expect("spawn");
    let first = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("listen event");
    match first {
        Finding::NetEvent(e) => {
            assert_eq!(e.kind, NetEventKind::Listen);
            assert_eq!(e.local, "0.0.0.0:22");
            assert_eq!(e.pid, Some(10));
            assert_eq!(e.severity, Severity::Medium);
        }
        other => panic!("{other:?}"),
    }
    // Remove the listener; the next poll reports it closed.
    fx.table("tcp", &[]);
    let next = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("closed event");
    assert!(matches!(next, Finding::NetEvent(ref e) if e.kind == NetEventKind::ListenClosed));
    h.stop();
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "stopped"
    );
}

// ---------------------------------------------------------------------------------------------
// Measurement

/// CPU time of this thread in nanoseconds (`/proc/thread-self/schedstat`, first field).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Needs `ulimit -n` above ~10,300:
/// `ulimit -n 20000; cargo test -p vigil-agent --lib netwatch::tests::cost -- --ignored --nocapture`
#[test]
#[ignore = "measurement: opens 10,000 sockets"]
fn cost_of_a_poll_with_10k_sockets() {
    let mut listeners = Vec::new();
    let mut pairs = Vec::new();
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        for _ in 0..100 {
            let c = TcpStream::connect(a).expect("connect");
            let (s, _) = l.accept().expect("accept");
            pairs.push((c, s));
        }
        listeners.push(l);
    }
    let ioc = ioc_with(&[("cidr", "203.0.113.0/24"), ("ip", "198.51.100.1")]);
    let ms = |ns: u64, rounds: u64| ns as f64 / 1e6 / rounds as f64;
    let rounds = 10u64;
    let mut now = NOW;

    for netlink in [true, false] {
        let fresh = || {
            let r = ProcReader::new("/");
            if netlink { r } else { r.without_netlink() }
        };
        let label = if netlink { "netlink" } else { "/proc/net" };
        // Full fd scan: a fresh reader (what happens at start and after an fd number reuse).
        let mut full_ns = 0;
        let mut n = 0;
        for _ in 0..rounds {
            let mut r = fresh();
            let mut nw = engine(HostRole::Server, 100);
            let a = thread_cpu_ns();
            let snap = r.read(ReadOptions::default()).expect("read");
            n = snap.sockets.len();
            let mut out = Vec::new();
            nw.poll(snap, &ioc, now, &mut out);
            full_ns += thread_cpu_ns() - a;
            assert!(out.len() <= 4 * 100, "capped: {}", out.len());
            assert_eq!(r.stats().fd_scans, 1);
        }
        assert!(n >= 10_050, "{n} sockets");

        let mut reader = fresh();
        let mut nw = engine(HostRole::Server, 100);
        let mut out = Vec::new();
        nw.poll(
            reader.read(ReadOptions::default()).expect("read"),
            &ioc,
            now,
            &mut out,
        );
        // Steady state: nothing changed, no fd scan.
        let (mut read_ns, mut diff_ns) = (0, 0);
        for _ in 0..rounds {
            now += 5000;
            let a = thread_cpu_ns();
            let snap = reader.read(ReadOptions::default()).expect("read");
            let b = thread_cpu_ns();
            let mut out = Vec::new();
            nw.poll(snap, &ioc, now, &mut out);
            diff_ns += thread_cpu_ns() - b;
            read_ns += b - a;
            assert!(out.is_empty(), "steady state: {out:?}");
        }
        // A new socket every poll: incremental fd scan (only new fd numbers read).
        let mut incr_ns = 0;
        let mut extra = Vec::new();
        for _ in 0..rounds {
            now += 5000;
            extra.push(TcpListener::bind("127.0.0.1:0").expect("bind"));
            let a = thread_cpu_ns();
            let snap = reader.read(ReadOptions::default()).expect("read");
            let mut out = Vec::new();
            nw.poll(snap, &ioc, now, &mut out);
            incr_ns += thread_cpu_ns() - a;
            assert_eq!(out.len(), 1, "{out:?}");
        }
        let st = reader.stats();
        println!(
            "[{label}] sockets={n}: full fd scan {:.1} ms CPU/poll; steady {:.1} ms \
             (read {:.1} + diff {:.1}); new socket each poll {:.1} ms \
             (skipped {}, incremental {}, full {})",
            ms(full_ns, rounds),
            ms(read_ns + diff_ns, rounds),
            ms(read_ns, rounds),
            ms(diff_ns, rounds),
            ms(incr_ns, rounds),
            st.fd_scans_skipped,
            st.fd_scans_incremental,
            st.fd_scans
        );
        if netlink {
            assert!(ms(read_ns + diff_ns, rounds) < 50.0);
            assert!(ms(incr_ns, rounds) < 50.0);
        }
    }
    drop(pairs);
}

#[test]
fn the_uplink_sink_can_be_handed_to_the_runner() {
    fn runner_sink<T: FindingSink + Send + 'static>() {}
    runner_sink::<crate::uplink::SpoolSink>();
}
