//! Length caps on every string and list an agent supplies, in one place (DESIGN §10).
//!
//! Agent text reaches the collector's global state: alert keys and titles, the scoring state,
//! host pages, reports. Without caps one enrolled agent could send a 1 MiB pack name that is
//! multiplied into every agency's history, or a million distinct 4 KiB paths. Every cap here is
//! in bytes of UTF-8 (strings) or in items (lists), chosen well above what a real host produces
//! (a Linux path is at most 4096 bytes, a host name 253, a Debian package name 128).
//!
//! [`Finding::clamp`] cuts an oversized finding down to the caps, at a character boundary and
//! marked with [`CUT_MARK`]. Both ends call it: the agent before a finding enters its spool, so a
//! well-behaved agent never sends more, and [`crate::session::CollectorSession`] on every finding
//! it receives, so a hostile agent's excess never reaches the collector's store. Clamping rather
//! than refusing keeps an agent whose spool holds an oversized record (an older version) from
//! being stuck re-sending a batch that is refused forever.
//!
//! Identity fields of the session and of enrollment are refused instead when too long
//! ([`check_hello`], [`check_enroll`]): a truncated machine id or agent id would be another one.

use std::collections::BTreeMap;

use crate::finding::{
    AgentHealth, CheckResult, FileEvent, FileMeta, Finding, Inventory, NetEvent, Package,
    RegistryData, RegistryEvent,
};
use crate::msg::EnrollRequest;

/// Appended to a string that was cut.
pub const CUT_MARK: &str = "…";

/// Agent id (a UUID), in `Hello`.
pub const AGENT_ID: usize = 64;
/// Agent software version.
pub const AGENT_VERSION: usize = 64;
/// Policy hash in `Hello`.
pub const POLICY_HASH: usize = 128;
/// `/etc/machine-id` or its platform equivalent.
pub const MACHINE_ID: usize = 128;
/// Host name (DNS allows 253).
pub const HOSTNAME: usize = 255;
/// OS description.
pub const OS: usize = 255;
/// A certificate request in PEM (renewal and enrollment).
pub const CSR_PEM: usize = 16 * 1024;
/// Rule id within its pack.
pub const RULE_ID: usize = 128;
/// Pack id and version (`linux-baseline@1.0.0`).
pub const PACK: usize = 128;
/// Scoring group name.
pub const GROUP: usize = 32;
/// One control reference (`tcvn-14423:x.5.2.2`).
pub const CONTROL: usize = 64;
/// Controls per check result.
pub const CONTROLS: usize = 32;
/// Evidence of a check result, a health message or a rescan summary.
pub const TEXT: usize = 4096;
/// A file path, a symlink target or an executable path (Linux `PATH_MAX`).
pub const PATH: usize = 4096;
/// A content hash such as `sha256:<hex>`.
pub const HASH: usize = 160;
/// Names of changed attributes of a file event.
pub const CHANGED: usize = 16;
/// Short labels: attribute names, tags, protocols, users, file system types, counter names.
pub const LABEL: usize = 64;
/// A socket address `addr:port`.
pub const ADDR: usize = 64;
/// A process name or command line.
pub const PROCESS: usize = 1024;
/// An indicator of compromise as matched.
pub const INDICATOR: usize = 256;
/// Mounted disks in an inventory.
pub const DISKS: usize = 256;
/// Installed packages in an inventory (a Debian desktop has about 2,500).
pub const PACKAGES: usize = 50_000;
/// A package name.
pub const PACKAGE_NAME: usize = 256;
/// A package version.
pub const PACKAGE_VERSION: usize = 128;
/// Counters of a health finding.
pub const COUNTS: usize = 32;
/// Installed updates, local users, administrators or network interfaces in an inventory, and
/// addresses per interface.
pub const HOST_LIST: usize = 4096;

/// An agency path (`tinh/so-a/phong-1`), as the collector validates it.
pub const AGENCY: usize = 200;
/// A policy bundle in canonical form (rule packs' source included). Chunked over the session,
/// so it may exceed the frame limit; this caps what an agent buffers for one transfer.
pub const POLICY_BUNDLE: usize = 16 * 1024 * 1024;
/// Chunks of one policy transfer (a 16 MiB bundle in 1 MiB frames takes 22; 1,024 still allows
/// frames of 24 KiB).
pub const POLICY_CHUNKS: usize = 1024;
/// Rule packs in one policy bundle.
pub const POLICY_PACKS: usize = 256;
/// FIM paths or exclusion globs in one policy bundle.
pub const POLICY_PATHS: usize = 1024;

/// Cuts `s` to at most `max` bytes at a character boundary, ending with [`CUT_MARK`]. Returns
/// whether it was cut.
pub fn cut(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max.saturating_sub(CUT_MARK.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    if max >= CUT_MARK.len() {
        s.push_str(CUT_MARK);
    }
    true
}

fn cut_opt(s: &mut Option<String>, max: usize) -> bool {
    s.as_mut().is_some_and(|s| cut(s, max))
}

fn cut_list(v: &mut Vec<String>, items: usize, each: usize) -> bool {
    let mut cut_any = v.len() > items;
    v.truncate(items);
    for s in v.iter_mut() {
        cut_any |= cut(s, each);
    }
    cut_any
}

impl Finding {
    /// Cuts every agent-supplied string and list of the finding down to the caps of this
    /// module. Returns whether anything was cut.
    pub fn clamp(&mut self) -> bool {
        match self {
            Self::CheckResult(c) => clamp_check(c),
            Self::FileEvent(f) => clamp_file(f),
            Self::NetEvent(n) => clamp_net(n),
            Self::Registry(r) => clamp_registry(r),
            Self::Inventory(i) => clamp_inventory(i),
            Self::AgentHealth(h) => clamp_health(h),
        }
    }
}

fn clamp_check(c: &mut CheckResult) -> bool {
    cut(&mut c.rule_id, RULE_ID)
        | cut(&mut c.pack, PACK)
        | cut(&mut c.group, GROUP)
        | cut_list(&mut c.controls, CONTROLS, CONTROL)
        | cut(&mut c.evidence, TEXT)
}

fn clamp_meta(m: &mut Option<FileMeta>) -> bool {
    m.as_mut()
        .is_some_and(|m| cut_opt(&mut m.hash, HASH) | cut_opt(&mut m.link_target, PATH))
}

fn clamp_file(f: &mut FileEvent) -> bool {
    cut(&mut f.path, PATH)
        | clamp_meta(&mut f.old)
        | clamp_meta(&mut f.new)
        | cut_list(&mut f.changed, CHANGED, LABEL)
        | cut_opt(&mut f.process, PROCESS)
        | cut_opt(&mut f.tag, LABEL)
        | cut_opt(&mut f.summary, TEXT)
}

fn clamp_net(n: &mut NetEvent) -> bool {
    cut(&mut n.proto, LABEL)
        | cut(&mut n.local, ADDR)
        | cut_opt(&mut n.remote, ADDR)
        | cut_opt(&mut n.exe, PATH)
        | cut_opt(&mut n.user, LABEL)
        | cut_opt(&mut n.cmdline, PROCESS)
        | cut_opt(&mut n.indicator, INDICATOR)
        | cut_opt(&mut n.note, TEXT)
}

fn clamp_registry_data(d: &mut Option<RegistryData>) -> bool {
    d.as_mut().is_some_and(|d| {
        let cut_data = cut(&mut d.data, TEXT);
        d.truncated |= cut_data;
        cut(&mut d.reg_type, LABEL) | cut_data | cut(&mut d.hash, HASH)
    })
}

fn clamp_registry(r: &mut RegistryEvent) -> bool {
    cut(&mut r.key, PATH)
        | cut_opt(&mut r.value, PATH)
        | clamp_registry_data(&mut r.old)
        | clamp_registry_data(&mut r.new)
        | cut(&mut r.group, LABEL)
        | cut_opt(&mut r.summary, TEXT)
}

/// The Windows parts of an inventory.
fn clamp_windows_inventory(i: &mut Inventory) -> bool {
    let mut cut_any = cut(&mut i.edition, LABEL)
        | cut(&mut i.build, LABEL)
        | cut_list(&mut i.hotfixes, HOST_LIST, LABEL)
        | cut_list(&mut i.admins, HOST_LIST, PACKAGE_NAME);
    cut_any |= i.users.len() > HOST_LIST;
    i.users.truncate(HOST_LIST);
    for u in &mut i.users {
        cut_any |= cut(&mut u.name, PACKAGE_NAME);
    }
    cut_any |= i.interfaces.len() > HOST_LIST;
    i.interfaces.truncate(HOST_LIST);
    for n in &mut i.interfaces {
        cut_any |= cut(&mut n.name, PACKAGE_NAME)
            | cut(&mut n.mac, LABEL)
            | cut_list(&mut n.addrs, HOST_LIST, ADDR);
    }
    if let Some(m) = &mut i.membership {
        cut_any |= cut(&mut m.kind, LABEL) | cut(&mut m.name, HOSTNAME);
    }
    cut_any
}

fn clamp_inventory(i: &mut Inventory) -> bool {
    let mut cut_any = cut(&mut i.hostname, HOSTNAME)
        | cut(&mut i.os, OS)
        | cut(&mut i.os_version, LABEL)
        | cut(&mut i.kernel, OS)
        | cut(&mut i.arch, LABEL)
        | cut(&mut i.cpu_brand, OS)
        | cut_opt(&mut i.packages_hash, HASH);
    cut_any |= i.disks.len() > DISKS;
    i.disks.truncate(DISKS);
    for d in &mut i.disks {
        cut_any |= cut(&mut d.mount, PATH) | cut(&mut d.fs, LABEL);
    }
    cut_any |= i.packages.len() > PACKAGES;
    i.packages.truncate(PACKAGES);
    for Package {
        name,
        version,
        source,
    } in &mut i.packages
    {
        cut_any |=
            cut(name, PACKAGE_NAME) | cut(version, PACKAGE_VERSION) | cut_opt(source, PACKAGE_NAME);
    }
    cut_any | clamp_windows_inventory(i)
}

fn clamp_health(h: &mut AgentHealth) -> bool {
    let mut cut_any = cut(&mut h.message, TEXT);
    if h.counts.len() > COUNTS || h.counts.keys().any(|k| k.len() > LABEL) {
        cut_any = true;
        h.counts = std::mem::take(&mut h.counts)
            .into_iter()
            .take(COUNTS)
            .map(|(mut k, v)| {
                cut(&mut k, LABEL);
                (k, v)
            })
            .collect::<BTreeMap<_, _>>();
    }
    cut_any
}

/// Checks the identity fields of a `Hello`.
///
/// # Errors
/// A message naming the first field out of bounds.
pub fn check_hello(
    agent_id: &str,
    agent_version: &str,
    policy_hash: Option<&str>,
) -> Result<(), String> {
    if agent_id.is_empty() || agent_id.len() > AGENT_ID {
        return Err(format!("hello agent_id must be 1 to {AGENT_ID} bytes"));
    }
    if agent_version.len() > AGENT_VERSION {
        return Err(format!(
            "hello agent_version is longer than {AGENT_VERSION} bytes"
        ));
    }
    if policy_hash.is_some_and(|h| h.len() > POLICY_HASH) {
        return Err(format!(
            "hello policy_hash is longer than {POLICY_HASH} bytes"
        ));
    }
    Ok(())
}

/// Checks the fields of an enrollment request against the caps.
///
/// # Errors
/// A message naming the first field out of bounds.
pub fn check_enroll(r: &EnrollRequest) -> Result<(), String> {
    let h = &r.host;
    for (field, value, max) in [
        ("host.machine_id", h.machine_id.as_str(), MACHINE_ID),
        ("host.hostname", h.hostname.as_str(), HOSTNAME),
        ("host.os", h.os.as_str(), OS),
        ("agent_version", r.agent_version.as_str(), AGENT_VERSION),
        ("csr_pem", r.csr_pem.as_str(), CSR_PEM),
    ] {
        if value.len() > max {
            return Err(format!("{field} is longer than {max} bytes"));
        }
    }
    if h.machine_id.trim().is_empty() {
        return Err("host.machine_id is empty".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileEventKind, Severity, Status};

    #[test]
    fn an_oversized_registry_event_is_cut_and_marked_truncated() {
        let mut f = Finding::Registry(RegistryEvent {
            key: "K".repeat(PATH * 2),
            value: Some("v".into()),
            kind: FileEventKind::Created,
            old: None,
            new: Some(RegistryData {
                reg_type: "REG_SZ".into(),
                data: "d".repeat(TEXT * 3),
                hash: "sha256:00".into(),
                truncated: false,
            }),
            group: "autostart".into(),
            summary: None,
            severity: Severity::High,
        });
        assert!(f.clamp());
        let Finding::Registry(r) = &f else {
            unreachable!("built as a registry event")
        };
        assert!(r.key.len() <= PATH);
        let new = r.new.as_ref().expect("new data");
        assert!(new.data.len() <= TEXT && new.truncated);
        assert_eq!(r.value.as_deref(), Some("v"));
        assert!(!f.clamp(), "a clamped finding stays as it is");
    }

    #[test]
    fn cut_keeps_characters_whole_and_marks_the_cut() {
        let mut s = "Sở Khoa học".repeat(10);
        assert!(cut(&mut s, 20));
        assert!(s.len() <= 20 && s.ends_with(CUT_MARK), "{s}");
        let mut short = "ok".to_owned();
        assert!(!cut(&mut short, 20));
        assert_eq!(short, "ok");
        let mut tiny = "abcdef".to_owned();
        assert!(cut(&mut tiny, 2));
        assert_eq!(tiny, "");
    }

    #[test]
    fn every_agent_string_of_a_finding_is_bounded() {
        let huge = "x".repeat(1 << 20);
        let mut f = Finding::CheckResult(CheckResult {
            rule_id: huge.clone(),
            pack: huge.clone(),
            status: Status::Fail,
            severity: Severity::Low,
            group: huge.clone(),
            controls: vec![huge.clone(); 1000],
            evidence: huge.clone(),
        });
        assert!(f.clamp());
        assert!(serde_json::to_string(&f).expect("json").len() < 16 * 1024);
        assert!(!f.clamp(), "clamping is idempotent");
        let mut f = Finding::FileEvent(FileEvent {
            path: huge.clone(),
            kind: FileEventKind::Modified,
            old: None,
            new: None,
            changed: vec![huge.clone(); 100],
            process: Some(huge.clone()),
            tag: Some(huge.clone()),
            summary: Some(huge.clone()),
            count: None,
            severity: Severity::Low,
        });
        assert!(f.clamp());
        assert!(serde_json::to_string(&f).expect("json").len() < 16 * 1024);
        let mut f = Finding::Inventory(Inventory {
            hostname: huge.clone(),
            packages: vec![
                Package {
                    name: huge.clone(),
                    version: huge.clone(),
                    source: Some(huge.clone()),
                };
                3
            ],
            ..Inventory::default()
        });
        assert!(f.clamp());
        assert!(serde_json::to_string(&f).expect("json").len() < 4 * 1024);
    }

    #[test]
    fn the_collector_session_hands_over_only_clamped_findings() {
        use crate::msg::AgentMsg;
        use crate::session::{CollectorEvent, CollectorSession, SessionConfig};
        use crate::{Envelope, frame};
        let now = std::time::Instant::now();
        let cfg = SessionConfig::default();
        let mut c = CollectorSession::new(now, cfg.clone());
        let hello = AgentMsg::Hello {
            proto_version: crate::PROTO_VERSION,
            agent_id: "a1".into(),
            agent_version: "1".into(),
            policy_hash: None,
            policy_version: 0,
            ioc_version: 0,
        };
        c.handle(now, &frame::encode(&hello, cfg.max_frame).expect("hello"));
        assert!(matches!(c.poll_event(), Some(CollectorEvent::Hello { .. })));
        c.accept(0, 0, 0).expect("accept");
        let batch = AgentMsg::Batch {
            first_seq: 1,
            findings: vec![Envelope {
                seq: 1,
                observed_at: 0,
                finding: Finding::CheckResult(CheckResult {
                    rule_id: "r".repeat(600 * 1024),
                    pack: "p@1".into(),
                    status: Status::Fail,
                    severity: Severity::Low,
                    group: "hardening".into(),
                    controls: vec![],
                    evidence: String::new(),
                }),
            }],
        };
        c.handle(now, &frame::encode(&batch, cfg.max_frame).expect("batch"));
        match c.poll_event() {
            Some(CollectorEvent::Batch {
                findings, clamped, ..
            }) => {
                assert_eq!(clamped, 1);
                let Finding::CheckResult(r) = &findings[0].finding else {
                    panic!("kind")
                };
                assert!(r.rule_id.len() <= RULE_ID);
            }
            other => panic!("expected a batch, got {other:?}"),
        }
    }

    #[test]
    fn identity_fields_are_refused_not_cut() {
        assert!(check_hello("a", "1", None).is_ok());
        assert!(check_hello("", "1", None).is_err());
        assert!(check_hello(&"a".repeat(65), "1", None).is_err());
        assert!(check_hello("a", "1", Some(&"h".repeat(200))).is_err());
    }
}
