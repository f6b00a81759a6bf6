//! systemd, SELinux, sysctl, kernel modules, boot entries, authselect, firewalld and mounts.

use crate::cache::{Cache, FactError};
use crate::pack::SelinuxMode;
use crate::systemd;

pub(super) fn is_enabled(cache: &Cache<'_>, units: &[String]) -> String {
    let mut out = String::new();
    for u in units {
        let unit = systemd::unit_name(u);
        match systemd::is_enabled(cache, &unit) {
            Ok(state) => out.push_str(state),
            Err(msg) => out.push_str(&msg),
        }
        out.push('\n');
    }
    out
}

pub(super) fn is_active(cache: &Cache<'_>, units: &[String]) -> Result<String, String> {
    let mut out = String::new();
    for u in units {
        let unit = systemd::unit_name(u);
        let st = systemd::unit_state(cache, &unit);
        let active = if st.masked || !st.exists {
            false
        } else {
            systemd::unit_active(cache, &unit)?
        };
        out.push_str(if active { "active\n" } else { "inactive\n" });
    }
    Ok(out)
}

pub(super) fn show(cache: &Cache<'_>, units: &[String]) -> Result<String, String> {
    let mut blocks = Vec::new();
    for u in units {
        let unit = systemd::unit_name(u);
        let st = systemd::unit_state(cache, &unit);
        let load = if st.masked {
            "masked"
        } else if st.exists {
            "loaded"
        } else {
            "not-found"
        };
        let active = if st.masked || !st.exists {
            false
        } else {
            systemd::unit_active(cache, &unit)?
        };
        let file_state = systemd::is_enabled(cache, &unit).unwrap_or("");
        blocks.push(format!(
            "Id={unit}\nLoadState={load}\nActiveState={}\nUnitFileState={file_state}\n",
            if active { "active" } else { "inactive" }
        ));
    }
    Ok(blocks.join("\n"))
}

/// `systemctl status UNIT...` without the journal lines: a head line with the description, then
/// `Loaded:` (unit file and its enablement; the vendor preset is left out) and `Active:`. A unit
/// that does not exist prints systemctl's error instead.
pub(super) fn status(cache: &Cache<'_>, units: &[String]) -> Result<String, String> {
    let mut blocks = Vec::new();
    for u in units {
        let unit = systemd::unit_name(u);
        let st = systemd::unit_state(cache, &unit);
        if st.masked {
            blocks.push(format!(
                "\u{25cb} {unit}\n     Loaded: masked (Reason: Unit {unit} is masked.)\n     \
                 Active: inactive (dead)\n"
            ));
            continue;
        }
        let Some(path) = st.path.as_deref().filter(|_| st.exists) else {
            blocks.push(format!("Unit {unit} could not be found.\n"));
            continue;
        };
        let description = cache
            .text(path)
            .ok()
            .and_then(|t| {
                t.lines()
                    .filter_map(|l| l.trim().strip_prefix("Description="))
                    .map(|d| d.trim().to_string())
                    .next()
            })
            .unwrap_or_else(|| unit.clone());
        let enabled = systemd::is_enabled(cache, &unit).unwrap_or("disabled");
        let active = systemd::unit_active(cache, &unit)?;
        let (dot, state) = if active {
            ("\u{25cf}", "active (running)")
        } else {
            ("\u{25cb}", "inactive (dead)")
        };
        blocks.push(format!(
            "{dot} {unit} - {description}\n     Loaded: loaded ({path}; {enabled})\n     \
             Active: {state}\n"
        ));
    }
    Ok(blocks.join("\n"))
}

fn runtime_mode(cache: &Cache<'_>) -> Result<SelinuxMode, String> {
    let st = cache.selinux().map_err(|e| e.message())?;
    st.runtime.ok_or_else(|| {
        "SELinux runtime state unknown: no /sys/fs/selinux under the root (offline tree)".into()
    })
}

fn capitalised(m: SelinuxMode) -> &'static str {
    match m {
        SelinuxMode::Enforcing => "Enforcing",
        SelinuxMode::Permissive => "Permissive",
        SelinuxMode::Disabled => "Disabled",
    }
}

pub(super) fn getenforce(cache: &Cache<'_>) -> Result<String, String> {
    Ok(format!("{}\n", capitalised(runtime_mode(cache)?)))
}

pub(super) fn sestatus(cache: &Cache<'_>) -> Result<String, String> {
    let mode = runtime_mode(cache)?;
    let st = cache.selinux().map_err(|e| e.message())?;
    let row = |k: &str, v: &str| format!("{:<32}{v}\n", format!("{k}:"));
    if mode == SelinuxMode::Disabled {
        return Ok(row("SELinux status", "disabled"));
    }
    let mut out = row("SELinux status", "enabled");
    out.push_str(&row("SELinuxfs mount", "/sys/fs/selinux"));
    out.push_str(&row("SELinux root directory", "/etc/selinux"));
    out.push_str(&row(
        "Loaded policy name",
        st.policy.as_deref().unwrap_or("targeted"),
    ));
    out.push_str(&row("Current mode", mode.as_str()));
    let config = st.config.unwrap_or(SelinuxMode::Disabled);
    out.push_str(&row("Mode from config file", config.as_str()));
    let flag = |f: &str, yes: &str, no: &str| -> Option<String> {
        cache
            .text(f)
            .ok()
            .map(|t| if t.trim() == "1" { yes } else { no }.to_string())
    };
    if let Some(mls) = flag("/sys/fs/selinux/mls", "enabled", "disabled") {
        out.push_str(&row("Policy MLS status", &mls));
    }
    if let Some(du) = flag("/sys/fs/selinux/deny_unknown", "denied", "allowed") {
        out.push_str(&row("Policy deny_unknown status", &du));
    }
    if let Ok(v) = cache.text("/sys/fs/selinux/policyvers") {
        out.push_str(&row("Max kernel policy version", v.trim()));
    }
    Ok(out)
}

pub(super) fn sysctl(cache: &Cache<'_>, keys: &[String]) -> Result<String, String> {
    if !cache.host.is_live() && cache.host.stat("/proc/sys").is_err() {
        return Err(
            "runtime kernel parameters unknown: no /proc/sys under the root (offline tree)".into(),
        );
    }
    let mut out = String::new();
    for k in keys {
        let key = k.replace('/', ".");
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        match cache.text(&path) {
            Ok(v) => out.push_str(&format!(
                "{key} = {}\n",
                v.split_whitespace().collect::<Vec<_>>().join("\t")
            )),
            Err(FactError::NotFound(_)) => out.push_str(&format!(
                "sysctl: cannot stat {path}: No such file or directory\n"
            )),
            Err(e) => return Err(e.message()),
        }
    }
    Ok(out)
}

/// The kernel whose modules `modprobe` would use: the running one, or the only one installed.
fn kernel_release(cache: &Cache<'_>) -> Result<String, String> {
    if let Ok(r) = cache.text("/proc/sys/kernel/osrelease") {
        return Ok(r.trim().to_string());
    }
    let mut dirs = cache
        .host
        .list_dir("/lib/modules")
        .or_else(|_| cache.host.list_dir("/usr/lib/modules"))
        .map_err(|e| format!("/lib/modules: {e}"))?;
    dirs.sort();
    match dirs.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("no kernel under /lib/modules".into()),
        _ => Err(format!(
            "several kernels under /lib/modules ({}) and no running one (offline tree)",
            dirs.join(", ")
        )),
    }
}

/// Module names compare with `-` and `_` as one.
fn same_module(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (matches!(x, b'-' | b'_') && matches!(y, b'-' | b'_')))
}

/// `install` commands of the modprobe configuration, first definition of a module wins.
fn install_command(cache: &Cache<'_>, module: &str) -> Result<Option<String>, String> {
    let dirs = [
        "/etc/modprobe.d",
        "/run/modprobe.d",
        "/usr/local/lib/modprobe.d",
        "/usr/lib/modprobe.d",
        "/lib/modprobe.d",
    ];
    // As kmod: files sorted by name across directories, an earlier directory hiding a name.
    let mut by_name = std::collections::BTreeMap::new();
    for d in dirs {
        for p in cache
            .expand(&format!("{d}/*.conf"))
            .map_err(|e| e.message())?
        {
            let name = p.rsplit('/').next().unwrap_or(&p).to_string();
            by_name.entry(name).or_insert(p);
        }
    }
    for p in by_name.values() {
        let Ok(text) = cache.text(p) else { continue };
        for line in text.lines() {
            let mut w = line.split_whitespace();
            if w.next() == Some("install") && w.next().is_some_and(|m| same_module(m, module)) {
                return Ok(Some(w.collect::<Vec<_>>().join(" ")));
            }
        }
    }
    Ok(None)
}

pub(super) fn modprobe(cache: &Cache<'_>, module: &str) -> Result<String, String> {
    if cache.host.is_live()
        && let Ok(m) = cache.text("/proc/modules")
        && m.lines().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|n| same_module(n, module))
        })
    {
        // Already loaded: nothing to do, nothing printed.
        return Ok(String::new());
    }
    if let Some(cmd) = install_command(cache, module)? {
        return Ok(format!("install {cmd} \n"));
    }
    let release = kernel_release(cache)?;
    let base = format!("/lib/modules/{release}");
    let builtin = cache
        .text(&format!("{base}/modules.builtin"))
        .unwrap_or_default();
    if builtin
        .lines()
        .any(|l| module_of(l).is_some_and(|n| same_module(n, module)))
    {
        return Ok(format!("builtin {module}\n"));
    }
    let dep = cache
        .text(&format!("{base}/modules.dep"))
        .unwrap_or_default();
    for line in dep.lines() {
        let Some((path, deps)) = line.split_once(':') else {
            continue;
        };
        if module_of(path).is_some_and(|n| same_module(n, module)) {
            let mut out = String::new();
            for d in deps.split_whitespace().rev() {
                out.push_str(&format!("insmod {base}/{d} \n"));
            }
            out.push_str(&format!("insmod {base}/{path} \n"));
            return Ok(out);
        }
    }
    Ok(format!(
        "modprobe: FATAL: Module {module} not found in directory {base}\n"
    ))
}

/// `kernel/fs/cramfs/cramfs.ko.xz` → `cramfs`.
fn module_of(path: &str) -> Option<&str> {
    let file = path.trim().rsplit('/').next()?;
    file.split(".ko").next().filter(|n| !n.is_empty())
}

pub(super) fn lsmod(cache: &Cache<'_>) -> Result<String, String> {
    let text = cache.text("/proc/modules").map_err(|e| match e {
        FactError::NotFound(_) => "loaded modules unknown: no /proc/modules (offline tree)".into(),
        e => e.message(),
    })?;
    let mut out = String::from("Module                  Size  Used by\n");
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let users = f[3].trim_matches('-').trim_end_matches(',');
        out.push_str(&format!("{:<19} {:>8}  {}", f[0], f[1], f[2]));
        if !users.is_empty() {
            out.push(' ');
            out.push_str(users);
        }
        out.push('\n');
    }
    Ok(out)
}

pub(super) fn grubby(cache: &Cache<'_>) -> Result<String, String> {
    let entries = cache.boot_entries().map_err(|e| e.message())?;
    let mut out = String::new();
    for (i, e) in entries.iter().enumerate() {
        let args: Vec<String> = crate::cache::split_args(&e.options)
            .into_iter()
            .filter(|a| !a.starts_with("root="))
            .collect();
        let root = e.arg("root").unwrap_or_default();
        let boot_path = |p: &str| {
            if p.is_empty() || p.starts_with("/boot/") {
                p.to_string()
            } else {
                format!("/boot{p}")
            }
        };
        out.push_str(&format!("index={i}\n"));
        out.push_str(&format!("kernel=\"{}\"\n", boot_path(&e.linux)));
        out.push_str(&format!("args=\"{}\"\n", args.join(" ")));
        out.push_str(&format!("root=\"{root}\"\n"));
        let initrd: Vec<String> = e.initrd.split_whitespace().map(boot_path).collect();
        out.push_str(&format!("initrd=\"{}\"\n", initrd.join(" ")));
        out.push_str(&format!("title=\"{}\"\n", e.title));
        if !e.id.is_empty() {
            out.push_str(&format!("id=\"{}\"\n", e.id));
        }
    }
    Ok(out)
}

pub(super) fn authselect_current(cache: &Cache<'_>) -> Result<String, String> {
    match cache.text("/etc/authselect/authselect.conf") {
        Ok(t) => {
            let mut it = t
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'));
            let profile = it.next().unwrap_or("");
            let mut out = format!("Profile ID: {profile}\nEnabled features:\n");
            let features: Vec<&str> = it.collect();
            if features.is_empty() {
                out = format!("Profile ID: {profile}\nEnabled features: None\n");
            }
            for f in features {
                out.push_str(&format!("- {f}\n"));
            }
            Ok(out)
        }
        Err(FactError::NotFound(_)) => Ok("No existing configuration detected.\n".into()),
        Err(e) => Err(e.message()),
    }
}

pub(super) fn authselect_list(cache: &Cache<'_>) -> Result<String, String> {
    let mut out = String::new();
    for (dir, prefix) in [
        ("/usr/share/authselect/default", ""),
        ("/usr/share/authselect/vendor", ""),
        ("/etc/authselect/custom", "custom/"),
    ] {
        let mut names = match cache.host.list_dir(dir) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{dir}: {e}")),
        };
        names.sort();
        for n in names {
            let readme = cache.text(&format!("{dir}/{n}/README")).unwrap_or_default();
            let desc = readme.lines().next().unwrap_or("").trim();
            out.push_str(&format!("- {prefix}{n:<18}\t {desc}\n"));
        }
    }
    Ok(out)
}

pub(super) fn firewalld(cache: &Cache<'_>) -> Result<String, String> {
    let unit = "firewalld.service";
    let st = systemd::unit_state(cache, unit);
    let running = st.exists && !st.masked && systemd::unit_active(cache, unit)?;
    Ok(if running {
        "running\n"
    } else {
        "not running\n"
    }
    .into())
}

/// Processes read from `/proc` at most (a bound against a hostile tree).
const MAX_PROCESSES: usize = 100_000;

/// `ps -eZ`: label (`/proc/PID/attr/current`), pid and command name, by pid. The terminal and CPU
/// time columns are not rendered (`?` and `-`); policies match the label.
pub(super) fn ps_labels(cache: &Cache<'_>) -> Result<String, String> {
    let mut pids: Vec<u32> = cache
        .host
        .list_dir("/proc")
        .map_err(|e| format!("/proc: {e}"))?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    if pids.is_empty() {
        return Err("no processes under /proc (offline tree): running processes unknown".into());
    }
    pids.sort_unstable();
    pids.truncate(MAX_PROCESSES);
    let mut out = format!(
        "{:<40} {:>7} {:<8} {:>8} CMD\n",
        "LABEL", "PID", "TTY", "TIME"
    );
    for pid in pids {
        let read = |f: &str| {
            cache.host.read(&format!("/proc/{pid}/{f}")).ok().map(|b| {
                String::from_utf8_lossy(&b)
                    .trim_end_matches(['\0', '\n'])
                    .to_string()
            })
        };
        // A process that exited while listing has no comm any more.
        let Some(comm) = read("comm") else { continue };
        let label = read("attr/current").unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{label:<40} {pid:>7} {:<8} {:>8} {comm}\n",
            "?", "-"
        ));
    }
    Ok(out)
}

/// `ss -ln` with `-t`/`-u`: one row per socket, addresses as ss prints them (`[::1]:25`). The
/// queue sizes are not in `/proc/net` for listening sockets in a usable form and print as 0.
pub(super) fn ss(cache: &Cache<'_>, tcp: bool, udp: bool) -> Result<String, String> {
    let sockets = cache.sockets().map_err(|e| e.message())?;
    let mut out = format!(
        "{:<5} {:<6} {:<6} {:<6} {:>24} {:>24} Process\n",
        "Netid", "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    for s in sockets.iter() {
        let (netid, state) = match s.proto {
            "tcp" | "tcp6" if tcp => ("tcp", "LISTEN"),
            "udp" | "udp6" if udp => ("udp", "UNCONN"),
            _ => continue,
        };
        let (local, peer) = if s.addr.contains(':') {
            (format!("[{}]:{}", s.addr, s.port), "[::]:*")
        } else {
            (format!("{}:{}", s.addr, s.port), "0.0.0.0:*")
        };
        out.push_str(&format!(
            "{netid:<5} {state:<6} {:<6} {:<6} {local:>24} {peer:>24}\n",
            0, 0
        ));
    }
    Ok(out)
}

pub(super) fn findmnt(
    cache: &Cache<'_>,
    no_headings: bool,
    target: Option<&str>,
) -> Result<String, String> {
    let mounts = cache.mounts().map_err(|e| e.message())?;
    let rows: Vec<[String; 4]> = mounts
        .entries
        .iter()
        .filter(|e| {
            target
                .is_none_or(|t| e.point == t.trim_end_matches('/') || (t == "/" && e.point == "/"))
        })
        .map(|e| {
            [
                e.point.clone(),
                e.source.clone(),
                e.fstype.clone(),
                e.options.join(","),
            ]
        })
        .collect();
    let mut all = Vec::new();
    if !no_headings && !rows.is_empty() {
        all.push(["TARGET", "SOURCE", "FSTYPE", "OPTIONS"].map(str::to_string));
    }
    all.extend(rows);
    let widths: Vec<usize> = (0..3)
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in all {
        for (i, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$} ", r[i]));
        }
        out.push_str(&r[3]);
        out.push('\n');
    }
    Ok(out)
}

/// `mount` without arguments: `SOURCE on TARGET type FSTYPE (OPTIONS)` per entry of the mount
/// table (`/proc/mounts`; offline without it, `/etc/fstab` and systemd mount units).
pub(super) fn mount_list(cache: &Cache<'_>) -> Result<String, String> {
    let mounts = cache.mounts().map_err(|e| e.message())?;
    let mut out = String::new();
    for e in &mounts.entries {
        out.push_str(&format!(
            "{} on {} type {} ({})\n",
            e.source,
            e.point,
            e.fstype,
            e.options.join(",")
        ));
    }
    Ok(out)
}

/// `netstat -an` from the socket table: listening TCP and unconnected UDP sockets in netstat's
/// columns (queues 0). Established connections and Unix sockets are not rendered.
pub(super) fn netstat_all(cache: &Cache<'_>) -> Result<String, String> {
    let sockets = cache.sockets().map_err(|e| e.message())?;
    let mut out = String::from(
        "Active Internet connections (servers and established)\n\
         Proto Recv-Q Send-Q Local Address           Foreign Address         State      \n",
    );
    for s in sockets.iter() {
        let v6 = s.addr.contains(':');
        let (state, peer) = match (s.proto, v6) {
            ("tcp" | "tcp6", false) => ("LISTEN", "0.0.0.0:*"),
            ("tcp" | "tcp6", true) => ("LISTEN", ":::*"),
            ("udp" | "udp6", false) => ("", "0.0.0.0:*"),
            ("udp" | "udp6", true) => ("", ":::*"),
            _ => continue,
        };
        let proto = format!("{}{}", &s.proto[..3], if v6 { "6" } else { "" });
        let local = format!("{}:{}", s.addr, s.port);
        out.push_str(&format!(
            "{proto:<5} {:>6} {:>6} {local:<23} {peer:<23} {state:<11}\n",
            0, 0
        ));
    }
    Ok(out)
}
