//! What the simulated hosts of `demo --province` observe besides rule results: their inventory,
//! the listeners of servers, and today's incidents (file changes on critical paths, connections
//! to known-bad addresses, a new listener on a server, a full spool). The collector turns them
//! into alerts with its own rules; nothing here is an alert.

use std::collections::BTreeMap;

use vigil_proto::msg::Indicator;
use vigil_proto::{
    AgentHealth, FileEvent, FileEventKind, FileMeta, FileType, Finding, HealthKind, Inventory,
    NetEvent, NetEventKind, Severity,
};

use super::province::HostPlan;

/// A host's inventory, sent with its first results.
pub(crate) fn inventory(h: &HostPlan) -> Finding {
    let (os, version) = h.os.rsplit_once(' ').map_or((h.os, ""), |(o, v)| (o, v));
    let big = h.server || h.draw("memory") < 0.3;
    Finding::Inventory(Inventory {
        hostname: h.hostname.clone(),
        os: os.trim_end_matches(" LTS").to_owned(),
        os_version: version.to_owned(),
        kernel: if h.os.starts_with("Debian") {
            "6.1.0-25-amd64".into()
        } else {
            "6.8.0-45-generic".into()
        },
        arch: "x86_64".into(),
        cpus: if h.server { 8 } else { 4 },
        cpu_brand: String::new(),
        memory_bytes: if big { 16 << 30 } else { 8 << 30 },
        disks: Vec::new(),
        uptime_s: 3600 * (1 + (h.draw("uptime") * 400.0) as u64),
        packages: Vec::new(),
        packages_hash: None,
        ..Inventory::default()
    })
}

/// Listeners a server has from the start (its baseline: no alert).
pub(crate) fn baseline_listeners(h: &HostPlan) -> Vec<Finding> {
    if !h.server {
        return Vec::new();
    }
    vec![
        listen("0.0.0.0:22", "/usr/sbin/sshd", "root"),
        listen("0.0.0.0:443", "/usr/sbin/nginx", "www-data"),
    ]
}

/// The indicators the province imported (documentation address ranges, RFC 5737).
pub(crate) fn indicators() -> Vec<Indicator> {
    ["203.0.113.66", "198.51.100.23", "192.0.2.200"]
        .into_iter()
        .map(|ip| Indicator {
            kind: "ip".into(),
            value: ip.into(),
            source: "VNCERT (mô phỏng)".into(),
            expires_at: 0,
        })
        .collect()
}

/// Today's incidents, by host name.
pub(crate) fn incidents() -> Vec<(&'static str, Vec<Finding>)> {
    vec![
        (
            "syt-pc07",
            vec![ioc("203.0.113.66:443", "/usr/bin/python3", "nhanvien")],
        ),
        (
            "xhl-pc02",
            vec![ioc("198.51.100.23:8080", "/tmp/.cache/update", "ketoan")],
        ),
        (
            "vpubnd-srv01",
            vec![file(
                "/etc/ssh/sshd_config",
                FileEventKind::Modified,
                Severity::High,
                &["hash", "size", "mtime"],
            )],
        ),
        (
            "sgddt-pc12",
            vec![file(
                "/etc/passwd",
                FileEventKind::Modified,
                Severity::High,
                &["hash", "size", "mtime"],
            )],
        ),
        (
            "stc-srv02",
            vec![file(
                "/usr/bin/sudo",
                FileEventKind::Attrs,
                Severity::Critical,
                &["mode"],
            )],
        ),
        (
            "snv-pc04",
            vec![file(
                "/etc/hosts",
                FileEventKind::Modified,
                Severity::Medium,
                &["hash", "mtime"],
            )],
        ),
        (
            "skhcn-srv02",
            vec![listen("0.0.0.0:4444", "/tmp/.x/kworker", "www-data")],
        ),
        (
            "pab-pc03",
            vec![Finding::NetEvent(NetEvent {
                note: Some(vigil_agent::netwatch::NOTE_WORKSTATION_LISTENER.to_owned()),
                ..net(
                    NetEventKind::Listen,
                    "0.0.0.0:3389",
                    "/usr/sbin/xrdp",
                    "root",
                )
            })],
        ),
        (
            "syt-pc20",
            vec![Finding::AgentHealth(AgentHealth {
                kind: HealthKind::SpoolDropped,
                message: "852 findings were dropped because the spool was full".into(),
                counts: BTreeMap::from([("low".to_owned(), 812), ("medium".to_owned(), 40)]),
                severity: Severity::High,
            })],
        ),
    ]
}

fn net(kind: NetEventKind, local: &str, exe: &str, user: &str) -> NetEvent {
    NetEvent {
        kind,
        proto: "tcp".into(),
        local: local.into(),
        remote: None,
        pid: Some(4242),
        exe: Some(exe.into()),
        user: Some(user.into()),
        cmdline: None,
        indicator: None,
        note: None,
        severity: Severity::Low,
    }
}

fn listen(local: &str, exe: &str, user: &str) -> Finding {
    Finding::NetEvent(net(NetEventKind::Listen, local, exe, user))
}

fn ioc(remote: &str, exe: &str, user: &str) -> Finding {
    let ip = remote.rsplit_once(':').map_or(remote, |(ip, _)| ip);
    Finding::NetEvent(NetEvent {
        remote: Some(remote.into()),
        indicator: Some(ip.into()),
        severity: Severity::Critical,
        ..net(NetEventKind::IocHit, "10.20.4.17:51544", exe, user)
    })
}

fn file(path: &str, kind: FileEventKind, severity: Severity, changed: &[&str]) -> Finding {
    let meta = |size: u64, mode: u32, seed: &str| FileMeta {
        file_type: FileType::File,
        size,
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_750_000_000,
        hash: Some(format!("blake3:{}", blake_stand_in(path, seed))),
        link_target: None,
    };
    let (old_mode, new_mode) = if changed.contains(&"mode") {
        (0o4755, 0o4777)
    } else {
        (0o644, 0o644)
    };
    Finding::FileEvent(FileEvent {
        path: path.into(),
        kind,
        old: Some(meta(3_214, old_mode, "old")),
        new: Some(meta(3_291, new_mode, "new")),
        changed: changed.iter().map(|c| (*c).to_owned()).collect(),
        process: None,
        tag: None,
        summary: None,
        count: None,
        severity,
    })
}

/// A fixed 64-hex-digit stand-in for a content hash.
fn blake_stand_in(path: &str, seed: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(format!("{path}\0{seed}")))
}
