//! Per-run cache of parsed host facts over a [`HostFacts`].
//!
//! Each fact (a file's bytes, the account database, the dpkg database, mounts, sockets, the
//! persistent sysctl configuration, a PAM stack) is computed at most once per evaluation, even when
//! rules run on several threads: entries are `OnceLock`s created under a short mutex and filled
//! outside it. Errors are cached too (as strings), so a missing file is looked up once.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use vigil_host::procnet::{TCP_LISTEN, UDP_UNCONNECTED};

use crate::facts::{FileStat, HostFacts};

mod boot;
mod selinux;
pub(crate) use boot::{BootEntry, split_args};
pub(crate) use selinux::Selinux;

/// A cached fact or the reason it is unavailable.
pub(crate) type Fact<T> = Result<Arc<T>, FactError>;

/// Why a fact is unavailable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FactError {
    /// The source file does not exist.
    NotFound(String),
    /// Anything else (permission, I/O, parse), with a message.
    Other(String),
}

impl FactError {
    pub(crate) fn from_io(path: &str, e: &io::Error) -> FactError {
        if e.kind() == io::ErrorKind::NotFound {
            FactError::NotFound(path.to_string())
        } else {
            FactError::Other(format!("{path}: {e}"))
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            Self::NotFound(p) => format!("{p} not found"),
            Self::Other(m) => m.clone(),
        }
    }
}

type Slot<T> = Arc<OnceLock<T>>;

fn slot<K: std::hash::Hash + Eq + Clone, T>(map: &Mutex<HashMap<K, Slot<T>>>, key: &K) -> Slot<T> {
    // A poisoned lock only means another rule panicked; the map itself is still consistent.
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    m.entry(key.clone()).or_default().clone()
}

/// Parsed facts of one host for one evaluation run.
pub(crate) struct Cache<'a> {
    pub(crate) host: &'a dyn HostFacts,
    /// Windows facts of the run (empty on other systems).
    pub(crate) win: crate::windows::Memo<'a>,
    files: Mutex<HashMap<String, Slot<Fact<Vec<u8>>>>>,
    pam: Mutex<HashMap<String, Slot<Fact<Vec<PamLine>>>>>,
    os: OnceLock<Fact<OsRelease>>,
    accounts: OnceLock<Fact<Accounts>>,
    packages: OnceLock<Fact<Installed>>,
    mounts: OnceLock<Fact<Mounts>>,
    sockets: OnceLock<Fact<Vec<Socket>>>,
    sysctl: OnceLock<Fact<BTreeMap<String, (String, String)>>>,
    boot: OnceLock<Fact<Vec<BootEntry>>>,
    selinux: OnceLock<Fact<Selinux>>,
    rpm: OnceLock<Fact<crate::rpm::RpmDb>>,
}

/// Which package manager's database a host's packages came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Manager {
    /// dpkg (`/var/lib/dpkg/status`).
    Dpkg,
    /// rpm (`rpmdb.sqlite` or Berkeley DB `Packages`).
    Rpm,
}

/// Installed packages: name → installed versions (several for rpm's parallel kernels), newest
/// last.
#[derive(Debug, Clone)]
pub(crate) struct Installed {
    pub(crate) manager: Manager,
    pub(crate) versions: BTreeMap<String, Vec<String>>,
}

impl Installed {
    /// The newest installed version of `name`.
    pub(crate) fn newest(&self, name: &str) -> Option<&str> {
        self.versions
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// The version order of this package manager.
    pub(crate) fn cmp_mode(&self) -> crate::compare::CmpMode {
        match self.manager {
            Manager::Dpkg => crate::compare::CmpMode::DebianVersion,
            Manager::Rpm => crate::compare::CmpMode::RpmVersion,
        }
    }
}

/// `/etc/os-release` fields that matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OsRelease {
    pub(crate) id: String,
    pub(crate) id_like: Vec<String>,
    pub(crate) version_id: String,
}

/// One account, passwd joined with shadow.
#[derive(Debug, Clone, Default)]
pub(crate) struct Account {
    pub(crate) name: String,
    pub(crate) passwd_password: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) home: String,
    pub(crate) shell: String,
    /// Shadow fields 2..=8 (password, last change, min, max, warn, inactive, expire); `None` when
    /// the account has no shadow entry.
    pub(crate) shadow: Option<[String; 7]>,
}

/// The account database.
#[derive(Debug, Clone, Default)]
pub(crate) struct Accounts {
    pub(crate) users: Vec<Account>,
    pub(crate) groups: BTreeMap<String, u32>,
    pub(crate) uid_min: u32,
    /// Whether `/etc/shadow` could be read.
    pub(crate) shadow_read: bool,
}

/// One mount table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountEntry {
    /// Device or source (`/dev/vda1`, `tmpfs`).
    pub(crate) source: String,
    pub(crate) point: String,
    pub(crate) fstype: String,
    pub(crate) options: Vec<String>,
}

/// The mount table and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Mounts {
    pub(crate) source: &'static str,
    pub(crate) entries: Vec<MountEntry>,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Socket {
    pub(crate) proto: &'static str,
    pub(crate) port: u16,
    pub(crate) loopback: bool,
    pub(crate) addr: String,
}

/// One PAM module line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PamLine {
    pub(crate) pam_type: String,
    pub(crate) module: String,
    pub(crate) args: Vec<String>,
    pub(crate) file: String,
}

impl<'a> Cache<'a> {
    pub(crate) fn new(host: &'a dyn HostFacts) -> Cache<'a> {
        Cache {
            host,
            win: crate::windows::Memo::new(host.windows()),
            files: Mutex::default(),
            pam: Mutex::default(),
            os: OnceLock::new(),
            accounts: OnceLock::new(),
            packages: OnceLock::new(),
            mounts: OnceLock::new(),
            sockets: OnceLock::new(),
            sysctl: OnceLock::new(),
            boot: OnceLock::new(),
            selinux: OnceLock::new(),
            rpm: OnceLock::new(),
        }
    }

    /// A file's bytes.
    pub(crate) fn file(&self, path: &str) -> Fact<Vec<u8>> {
        let key = path.to_string();
        slot(&self.files, &key)
            .get_or_init(|| {
                self.host
                    .read(path)
                    .map(Arc::new)
                    .map_err(|e| FactError::from_io(path, &e))
            })
            .clone()
    }

    /// A file's text (lossy UTF-8).
    pub(crate) fn text(&self, path: &str) -> Result<String, FactError> {
        self.file(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Expands a path whose last component may hold a glob into existing paths, sorted. A path
    /// without glob characters is returned when it exists.
    pub(crate) fn expand(&self, pattern: &str) -> Result<Vec<String>, FactError> {
        let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
        if !name.contains(['*', '?', '[']) {
            return match self.host.lstat(pattern) {
                Ok(_) => Ok(vec![pattern.to_string()]),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(vec![]),
                Err(e) => Err(FactError::from_io(pattern, &e)),
            };
        }
        let dir = if dir.is_empty() { "/" } else { dir };
        let mut names = match self.host.list_dir(dir) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(FactError::from_io(dir, &e)),
        };
        names.sort();
        let Ok(pattern) = vigil_host::glob::Pattern::new(name) else {
            return Ok(vec![]);
        };
        Ok(names
            .into_iter()
            .filter(|n| !n.starts_with('.') && pattern.matches(n))
            .map(|n| format!("{}/{n}", dir.trim_end_matches('/')))
            .collect())
    }

    pub(crate) fn stat(&self, path: &str) -> Result<FileStat, FactError> {
        self.host
            .stat(path)
            .map_err(|e| FactError::from_io(path, &e))
    }

    pub(crate) fn os_release(&self) -> Fact<OsRelease> {
        self.os
            .get_or_init(|| {
                let text = match self.text("/etc/os-release") {
                    Err(FactError::NotFound(_)) => self.text("/usr/lib/os-release"),
                    other => other,
                };
                match text {
                    Ok(t) => Ok(Arc::new(parse_os_release(&t))),
                    // RHEL 6 and CentOS 6 have only /etc/redhat-release.
                    Err(FactError::NotFound(_)) => match self.text("/etc/redhat-release") {
                        Ok(t) => Ok(Arc::new(parse_redhat_release(&t))),
                        Err(FactError::NotFound(_)) => Err(FactError::NotFound(
                            "/etc/os-release (and /usr/lib/os-release, /etc/redhat-release)".into(),
                        )),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            })
            .clone()
    }

    pub(crate) fn accounts(&self) -> Fact<Accounts> {
        self.accounts
            .get_or_init(|| {
                let passwd = self.text("/etc/passwd")?;
                let (shadow, shadow_read) = match self.text("/etc/shadow") {
                    Ok(s) => (s, true),
                    Err(FactError::NotFound(_)) => (String::new(), false),
                    Err(e) => return Err(e),
                };
                let group = match self.text("/etc/group") {
                    Ok(s) => s,
                    Err(FactError::NotFound(_)) => String::new(),
                    Err(e) => return Err(e),
                };
                let defs = self.text("/etc/login.defs").unwrap_or_default();
                let uid_min = key_values(&defs)
                    .filter(|(k, _)| k.eq_ignore_ascii_case("UID_MIN"))
                    .filter_map(|(_, v)| v.parse().ok())
                    .last()
                    .unwrap_or(1000);
                Ok(Arc::new(parse_accounts(
                    &passwd,
                    &shadow,
                    &group,
                    uid_min,
                    shadow_read,
                )))
            })
            .clone()
    }

    /// Installed packages: from the dpkg status file when the host has one, else from the rpm
    /// database (the agent's inventory makes the same choice, so "installed" means one thing).
    pub(crate) fn packages(&self) -> Fact<Installed> {
        self.packages
            .get_or_init(|| {
                match self.text("/var/lib/dpkg/status") {
                    Ok(t) => {
                        let versions = parse_dpkg_status(&t)
                            .into_iter()
                            .map(|(n, v)| (n, vec![v]))
                            .collect();
                        return Ok(Arc::new(Installed {
                            manager: Manager::Dpkg,
                            versions,
                        }));
                    }
                    Err(FactError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
                let db = self.rpmdb()?;
                let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for p in &db.packages {
                    versions.entry(p.name.clone()).or_default().push(p.evr());
                }
                for v in versions.values_mut() {
                    v.sort_by(|a, b| crate::compare::compare_rpm_versions(a, b));
                }
                Ok(Arc::new(Installed {
                    manager: Manager::Rpm,
                    versions,
                }))
            })
            .clone()
    }

    /// The rpm database; `NotFound` when the host has none, an error when a record is unreadable.
    pub(crate) fn rpmdb(&self) -> Fact<crate::rpm::RpmDb> {
        self.rpm
            .get_or_init(|| {
                let db = match crate::rpm::read(self.host) {
                    Ok(Some(db)) => db,
                    Ok(None) => {
                        return Err(FactError::NotFound(
                            "/var/lib/dpkg/status and the rpm database".into(),
                        ));
                    }
                    Err(e) => return Err(FactError::Other(e.to_string())),
                };
                if let Some(first) = db.unreadable.first() {
                    return Err(FactError::Other(format!(
                        "{}: {} unreadable record(s), first {first}",
                        db.path,
                        db.unreadable.len()
                    )));
                }
                Ok(Arc::new(db))
            })
            .clone()
    }

    /// The boot entries and their kernel command lines.
    pub(crate) fn boot_entries(&self) -> Fact<Vec<BootEntry>> {
        self.boot
            .get_or_init(|| boot::entries(self).map(Arc::new))
            .clone()
    }

    /// SELinux state at runtime and for the next boot.
    pub(crate) fn selinux(&self) -> Fact<Selinux> {
        self.selinux
            .get_or_init(|| selinux::state(self).map(Arc::new))
            .clone()
    }

    pub(crate) fn mounts(&self) -> Fact<Mounts> {
        self.mounts
            .get_or_init(|| {
                if self.host.is_live() || self.host.lstat("/proc/mounts").is_ok() {
                    match self.text("/proc/mounts") {
                        Ok(t) if !t.trim().is_empty() => {
                            return Ok(Arc::new(Mounts {
                                source: "/proc/mounts",
                                entries: parse_mount_table(&t),
                            }));
                        }
                        _ => {}
                    }
                }
                let mut entries = match self.text("/etc/fstab") {
                    Ok(t) => parse_mount_table(&t),
                    Err(FactError::NotFound(_)) => Vec::new(),
                    Err(e) => return Err(e),
                };
                self.add_mount_units(&mut entries);
                Ok(Arc::new(Mounts {
                    source: "/etc/fstab and systemd mount units",
                    entries,
                }))
            })
            .clone()
    }

    /// Offline, `/tmp` is often a systemd `tmp.mount` unit rather than an fstab line.
    fn add_mount_units(&self, entries: &mut Vec<MountEntry>) {
        for (point, unit) in [("/tmp", "tmp.mount"), ("/dev/shm", "dev-shm.mount")] {
            if entries.iter().any(|e| e.point == point) {
                continue;
            }
            let st = crate::systemd::unit_state(self, unit);
            if st.masked || !st.exists || !st.enabled {
                continue;
            }
            let Some(file) = st.path else { continue };
            let Ok(text) = self.text(&file) else { continue };
            let mut fstype = String::new();
            let mut source = String::new();
            let mut options = Vec::new();
            for (k, v) in key_values(&text) {
                match k {
                    "What" => source = v.to_string(),
                    "Type" => fstype = v.to_string(),
                    "Options" => options = v.split(',').map(|s| s.trim().to_string()).collect(),
                    _ => {}
                }
            }
            entries.push(MountEntry {
                source,
                point: point.to_string(),
                fstype,
                options,
            });
        }
    }

    pub(crate) fn sockets(&self) -> Fact<Vec<Socket>> {
        self.sockets
            .get_or_init(|| {
                let mut out = Vec::new();
                let mut any = false;
                for (file, proto, state) in [
                    ("/proc/net/tcp", "tcp", TCP_LISTEN),
                    ("/proc/net/tcp6", "tcp6", TCP_LISTEN),
                    ("/proc/net/udp", "udp", UDP_UNCONNECTED),
                    ("/proc/net/udp6", "udp6", UDP_UNCONNECTED),
                ] {
                    match self.text(file) {
                        Ok(t) => {
                            any = true;
                            out.extend(parse_proc_net(&t, proto, state));
                        }
                        Err(FactError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                if !any {
                    return Err(FactError::Other(
                        "no /proc/net under the root (offline tree): listening sockets unknown"
                            .into(),
                    ));
                }
                Ok(Arc::new(out))
            })
            .clone()
    }

    /// Persistent sysctl settings: key → (value, file that set it).
    pub(crate) fn sysctl_persistent(&self) -> Fact<BTreeMap<String, (String, String)>> {
        self.sysctl
            .get_or_init(|| {
                // systemd-sysctl / `sysctl --system` order: files by name across directories
                // (earlier directory wins a name), then /etc/sysctl.conf; later settings win.
                let dirs = [
                    "/etc/sysctl.d",
                    "/run/sysctl.d",
                    "/usr/local/lib/sysctl.d",
                    "/usr/lib/sysctl.d",
                    "/lib/sysctl.d",
                ];
                let mut by_name: BTreeMap<String, String> = BTreeMap::new();
                for d in dirs {
                    for p in self.expand(&format!("{d}/*.conf"))? {
                        let name = p.rsplit('/').next().unwrap_or(&p).to_string();
                        by_name.entry(name).or_insert(p);
                    }
                }
                let mut files: Vec<String> = by_name.into_values().collect();
                files.push("/etc/sysctl.conf".into());
                let mut out = BTreeMap::new();
                for f in files {
                    let text = match self.text(&f) {
                        Ok(t) => t,
                        Err(FactError::NotFound(_)) => continue,
                        Err(e) => return Err(e),
                    };
                    for line in text.lines() {
                        let l = line.trim().trim_start_matches('-');
                        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
                            continue;
                        }
                        if let Some((k, v)) = l.split_once('=') {
                            out.insert(
                                k.trim().replace('/', "."),
                                (v.trim().to_string(), f.clone()),
                            );
                        }
                    }
                }
                Ok(Arc::new(out))
            })
            .clone()
    }

    /// The module lines of a PAM service, `@include`s expanded.
    pub(crate) fn pam(&self, service: &str) -> Fact<Vec<PamLine>> {
        let key = service.to_string();
        slot(&self.pam, &key)
            .get_or_init(|| {
                let mut out = Vec::new();
                self.pam_into(service, 0, &mut out)?;
                Ok(Arc::new(out))
            })
            .clone()
    }

    fn pam_into(&self, service: &str, depth: u8, out: &mut Vec<PamLine>) -> Result<(), FactError> {
        if depth > 8 {
            return Err(FactError::Other(format!("PAM include loop at {service}")));
        }
        let file = format!("/etc/pam.d/{service}");
        let text = self.text(&file)?;
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            if let Some(inc) = l.strip_prefix("@include") {
                let inc = inc.trim();
                if !inc.is_empty() && !inc.contains('/') {
                    match self.pam_into(inc, depth + 1, out) {
                        Err(FactError::NotFound(_)) => {}
                        other => other?,
                    }
                }
                continue;
            }
            let toks = pam_tokens(l);
            if toks.len() < 3 {
                continue;
            }
            let pam_type = toks[0].trim_start_matches('-').to_ascii_lowercase();
            let module = toks[2].rsplit('/').next().unwrap_or(&toks[2]).to_string();
            let mut args: Vec<String> = toks[3..].to_vec();
            // `include`/`substack` controls pull another service in.
            if matches!(toks[1].as_str(), "include" | "substack") {
                let mut sub = Vec::new();
                match self.pam_into(&toks[2], depth + 1, &mut sub) {
                    Err(FactError::NotFound(_)) => {}
                    other => other?,
                }
                out.extend(sub.into_iter().filter(|s| s.pam_type == pam_type));
                continue;
            }
            args.retain(|a| !a.is_empty());
            out.push(PamLine {
                pam_type,
                module,
                args,
                file: file.clone(),
            });
        }
        Ok(())
    }
}

/// Splits a PAM line into tokens, keeping `[...]` groups whole.
fn pam_tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0u32;
    for c in line.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `key value` / `key=value` pairs of a config text; `#` comments and `[section]` lines skipped.
pub(crate) fn key_values(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') || l.starts_with('[') {
            return None;
        }
        let end = l
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(l.len());
        let (k, rest) = l.split_at(end);
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
        // Strip a trailing comment introduced by whitespace + '#'.
        let v = match rest.find(" #") {
            Some(i) => rest[..i].trim_end(),
            None => rest,
        };
        Some((k, v.trim_matches('"')))
    })
}

pub(crate) fn parse_os_release(text: &str) -> OsRelease {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches(['"', '\'']).to_string();
        match k.trim() {
            "ID" => os.id = v.to_ascii_lowercase(),
            "ID_LIKE" => os.id_like = v.split_whitespace().map(str::to_ascii_lowercase).collect(),
            "VERSION_ID" => os.version_id = v,
            _ => {}
        }
    }
    os
}

/// Reads `/etc/redhat-release` (`CentOS release 6.10 (Final)`) into the os-release fields.
pub(crate) fn parse_redhat_release(text: &str) -> OsRelease {
    let line = text.lines().next().unwrap_or("").trim();
    const NAMES: [(&str, &str); 7] = [
        ("red hat enterprise linux", "rhel"),
        ("centos", "centos"),
        ("rocky", "rocky"),
        ("almalinux", "almalinux"),
        ("oracle linux", "ol"),
        ("cloudlinux", "cloudlinux"),
        ("fedora", "fedora"),
    ];
    let lower = line.to_ascii_lowercase();
    let id = NAMES
        .iter()
        .find(|(n, _)| lower.starts_with(n))
        .map(|(_, id)| id.to_string())
        .unwrap_or_default();
    let version_id = lower
        .split_once(" release ")
        .map(|(_, r)| {
            r.chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect::<String>()
        })
        .unwrap_or_default();
    let id_like = match id.as_str() {
        "" | "fedora" => Vec::new(),
        "rhel" | "ol" => vec!["fedora".to_string()],
        _ => vec!["rhel".to_string(), "fedora".to_string()],
    };
    OsRelease {
        id,
        id_like,
        version_id,
    }
}

fn parse_accounts(
    passwd: &str,
    shadow: &str,
    group: &str,
    uid_min: u32,
    shadow_read: bool,
) -> Accounts {
    let mut shadows: HashMap<&str, [String; 7]> = HashMap::new();
    for line in shadow.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 8 || f[0].is_empty() {
            continue;
        }
        let arr: [String; 7] = std::array::from_fn(|i| f[i + 1].to_string());
        shadows.insert(f[0], arr);
    }
    let users = passwd
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 || f[0].is_empty() || f[0].starts_with(['+', '-']) {
                return None;
            }
            Some(Account {
                name: f[0].to_string(),
                passwd_password: f[1].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
                shell: f[6].to_string(),
                shadow: shadows.get(f[0]).cloned(),
            })
        })
        .collect();
    let groups = group
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() >= 3).then(|| Some((f[0].to_string(), f[2].parse().ok()?)))?
        })
        .collect();
    Accounts {
        users,
        groups,
        uid_min,
        shadow_read,
    }
}

/// Installed packages (the one meaning of "installed": [`vigil_host::dpkg`]) → version. A name
/// installed for several architectures keeps its last stanza.
fn parse_dpkg_status(text: &str) -> BTreeMap<String, String> {
    vigil_host::dpkg::installed(text)
        .into_iter()
        .map(|e| (e.name, e.version))
        .collect()
}

/// Parses `/proc/mounts` or `/etc/fstab` (octal escapes such as `\040` decoded).
fn parse_mount_table(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                return None;
            }
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 4 {
                return None;
            }
            let point = unescape_octal(f[1]);
            let point = if point.len() > 1 {
                point.trim_end_matches('/').to_string()
            } else {
                point
            };
            Some(MountEntry {
                source: unescape_octal(f[0]),
                point,
                fstype: f[2].to_string(),
                options: f[3].split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The sockets of one `/proc/net` table in `listen_state` (see [`vigil_host::procnet`]).
fn parse_proc_net(text: &str, proto: &'static str, listen_state: u8) -> Vec<Socket> {
    vigil_host::procnet::parse_table(text.as_bytes())
        .into_iter()
        .filter(|e| e.state == listen_state)
        .map(|e| Socket {
            proto,
            port: e.local.port(),
            loopback: vigil_host::procnet::is_loopback(e.local.ip()),
            addr: e.local.ip().to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_handle_both_syntaxes() {
        let t =
            "# c\nPermitRootLogin no\nminlen = 14\nTMOUT=900\n[Journal]\nStorage=persistent # x\n";
        let kv: Vec<_> = key_values(t).collect();
        assert_eq!(
            kv,
            vec![
                ("PermitRootLogin", "no"),
                ("minlen", "14"),
                ("TMOUT", "900"),
                ("Storage", "persistent")
            ]
        );
    }

    #[test]
    fn globs_match() {
        assert!(vigil_host::glob::matches("*.conf", "99-x.conf"));
        assert!(!vigil_host::glob::matches("*.conf", "x.conf.bak"));
        assert!(vigil_host::glob::matches(
            "ssh_host_*_key",
            "ssh_host_ed25519_key"
        ));
        assert!(!vigil_host::glob::matches(
            "ssh_host_*_key",
            "ssh_host_ed25519_key.pub"
        ));
        assert!(vigil_host::glob::matches("[0-9]?", "1a"));
        assert!(!vigil_host::glob::matches("[!0-9]", "1"));
    }

    #[test]
    fn redhat_release_names_the_os() {
        let o = parse_redhat_release("CentOS release 6.10 (Final)\n");
        assert_eq!((o.id.as_str(), o.version_id.as_str()), ("centos", "6.10"));
        assert_eq!(o.id_like, ["rhel", "fedora"]);
        let o = parse_redhat_release("Red Hat Enterprise Linux Server release 7.9 (Maipo)");
        assert_eq!((o.id.as_str(), o.version_id.as_str()), ("rhel", "7.9"));
        assert_eq!(parse_redhat_release("something else").id, "");
    }

    #[test]
    fn dpkg_status_keeps_installed_only() {
        let t = "Package: a\nStatus: install ok installed\nVersion: 1.0\n\nPackage: b\nStatus: \
                 deinstall ok config-files\nVersion: 2\n\nPackage: c\nStatus: hold ok installed\n\
                 Version: 3:1.2-1\n";
        let p = parse_dpkg_status(t);
        assert_eq!(p.get("a").map(String::as_str), Some("1.0"));
        assert!(!p.contains_key("b"));
        assert_eq!(p.get("c").map(String::as_str), Some("3:1.2-1"));
    }

    #[test]
    fn proc_net_decodes_listeners() {
        let tcp = "  sl  local_address rem_address   st\n   0: 0100007F:0277 00000000:0000 0A x\n   \
                   1: 00000000:0016 00000000:0000 0A x\n   2: 0100007F:9C40 0100007F:0016 01 x\n";
        let s = parse_proc_net(tcp, "tcp", TCP_LISTEN);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].port, s[0].loopback, s[0].addr.as_str()),
            (631, true, "127.0.0.1")
        );
        assert_eq!((s[1].port, s[1].loopback), (22, false));
        let tcp6 = "h\n 0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A\n";
        let s = parse_proc_net(tcp6, "tcp6", TCP_LISTEN);
        assert_eq!((s[0].addr.as_str(), s[0].loopback), ("::1", true));
    }

    #[test]
    fn mount_table_and_pam_tokens() {
        let m = parse_mount_table(
            "tmpfs /tmp tmpfs rw,nosuid,nodev 0 0\n/dev/sdb1 /media/a\\040b vfat rw 0 0\n",
        );
        assert_eq!(m[0].options, vec!["rw", "nosuid", "nodev"]);
        assert_eq!(m[1].point, "/media/a b");
        let t = pam_tokens("auth [success=1 default=ignore] pam_unix.so nullok");
        assert_eq!(
            t,
            vec![
                "auth",
                "[success=1 default=ignore]",
                "pam_unix.so",
                "nullok"
            ]
        );
    }

    #[test]
    fn accounts_join_passwd_and_shadow() {
        let a = parse_accounts(
            "root:x:0:0:root:/root:/bin/bash\nbad line\nu:x:1000:1000::/home/u:/bin/bash\n",
            "root:$y$j9T$abc:19000:0:99999:7:::\nu::19000:0:99999:7:30::\n",
            "root:x:0:\nshadow:x:42:\n",
            1000,
            true,
        );
        assert_eq!(a.users.len(), 2);
        assert_eq!(a.users[1].shadow.as_ref().map(|s| s[0].as_str()), Some(""));
        assert_eq!(
            a.users[1].shadow.as_ref().map(|s| s[5].as_str()),
            Some("30")
        );
        assert_eq!(a.groups.get("shadow"), Some(&42));
    }
}
