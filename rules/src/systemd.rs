//! systemd unit state read from files, so an offline tree can be checked without `systemctl`.
//!
//! Enablement comes from the unit files and the `*.wants`/`*.requires` symlinks under
//! `/etc/systemd/system` (administrator) and the vendor directories (static units); a symlink to
//! `/dev/null` masks a unit. Whether a unit is running is read from its cgroup
//! (`/sys/fs/cgroup/.../system.slice/<unit>/cgroup.procs`); on the live host without a cgroup entry
//! `systemctl is-active` is asked, offline the state is unknown.

use std::time::Duration;

use crate::cache::{Cache, FactError};

/// Unit search path, highest priority first.
const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// What the unit files say about a unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UnitState {
    /// A unit file exists.
    pub(crate) exists: bool,
    /// Host path of the unit file.
    pub(crate) path: Option<String>,
    /// Linked from a `.wants`/`.requires` directory.
    pub(crate) enabled: bool,
    /// Where the enabling link is.
    pub(crate) enabled_by: Option<String>,
    /// Linked to `/dev/null` (or empty) in `/etc` or `/run`.
    pub(crate) masked: bool,
}

/// Adds `.service` to a bare unit name.
pub(crate) fn unit_name(name: &str) -> String {
    const SUFFIXES: [&str; 8] = [
        ".service", ".socket", ".timer", ".mount", ".target", ".path", ".slice", ".scope",
    ];
    if SUFFIXES.iter().any(|s| name.ends_with(s)) {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

pub(crate) fn unit_state(cache: &Cache<'_>, unit: &str) -> UnitState {
    let host = cache.host;
    let mut st = UnitState::default();
    for dir in &UNIT_DIRS[..2] {
        let p = format!("{dir}/{unit}");
        if let Ok(meta) = host.lstat(&p) {
            let to_null = host
                .read_link(&p)
                .map(|t| t == "/dev/null")
                .unwrap_or(false);
            if to_null || meta.size == 0 && meta.file_type == vigil_proto::FileType::File {
                st.masked = true;
                st.path = Some(p);
                return st;
            }
        }
    }
    for dir in UNIT_DIRS {
        let p = format!("{dir}/{unit}");
        if host.stat(&p).is_ok() {
            st.exists = true;
            st.path = Some(p);
            break;
        }
    }
    // Template instances (`getty@tty1.service`) are backed by `getty@.service`.
    if !st.exists
        && let Some((base, rest)) = unit.split_once('@')
        && let Some((_, suffix)) = rest.rsplit_once('.')
    {
        let template = format!("{base}@.{suffix}");
        for dir in UNIT_DIRS {
            let p = format!("{dir}/{template}");
            if host.stat(&p).is_ok() {
                st.exists = true;
                st.path = Some(p);
                break;
            }
        }
    }
    for dir in UNIT_DIRS {
        let Ok(entries) = host.list_dir(dir) else {
            continue;
        };
        let mut wants: Vec<&String> = entries
            .iter()
            .filter(|e| e.ends_with(".wants") || e.ends_with(".requires"))
            .collect();
        wants.sort();
        for w in wants {
            let link = format!("{dir}/{w}/{unit}");
            if host.lstat(&link).is_ok() {
                st.enabled = st.exists;
                st.enabled_by = Some(link);
                return st;
            }
        }
    }
    st
}

/// Whether a unit is running: `Ok(Some(true/false))`, or an error when it cannot be known.
pub(crate) fn unit_active(cache: &Cache<'_>, unit: &str) -> Result<bool, String> {
    let host = cache.host;
    let slices = [
        "/sys/fs/cgroup/system.slice",
        "/sys/fs/cgroup/unified/system.slice",
        "/sys/fs/cgroup/systemd/system.slice",
    ];
    let mut have_tree = false;
    for s in slices {
        if host.stat(s).is_ok() {
            have_tree = true;
        }
        // Instances of a template run in the template's slice (`system-clamd.slice`).
        let mut dirs = vec![format!("{s}/{unit}")];
        if let Some((base, _)) = unit.split_once('@') {
            dirs.push(format!(
                "{s}/system-{}.slice/{unit}",
                base.replace('-', "\\x2d")
            ));
        }
        for d in dirs {
            match cache.text(&format!("{d}/cgroup.procs")) {
                Ok(t) if t.split_whitespace().next().is_some() => return Ok(true),
                Ok(_) | Err(FactError::NotFound(_)) => {}
                Err(e) => return Err(e.message()),
            }
        }
    }
    if host.is_live() {
        if host.stat("/run/systemd/system").is_err() {
            // systemd is not the init of this host (a container): nothing is an active unit.
            return Ok(false);
        }
        for systemctl in ["/usr/bin/systemctl", "/bin/systemctl"] {
            if host.stat(systemctl).is_err() {
                continue;
            }
            let argv = vec![
                systemctl.to_string(),
                "is-active".to_string(),
                unit.to_string(),
            ];
            let out = host.run(&argv, Duration::from_secs(5), 4096)?;
            // `is-active` prints the state; "activating"/"reloading" count as running.
            let state = out.stdout.trim();
            return Ok(matches!(state, "active" | "activating" | "reloading"));
        }
        return Err("systemctl not found on the live host".into());
    }
    if have_tree {
        return Ok(false);
    }
    Err(format!(
        "active state of {unit} unknown: no systemd runtime state under the root (offline tree)"
    ))
}

/// What `systemctl is-enabled UNIT` prints: `Ok(state)`, or `Err(message)` (its stderr) for a
/// unit that does not exist.
///
/// States: `masked` (`-runtime` under `/run`), `enabled` (`-runtime`), `static` (no `[Install]`
/// section), `indirect` (only `Also=`, or a template without `DefaultInstance=`), `disabled`.
pub(crate) fn is_enabled(cache: &Cache<'_>, unit: &str) -> Result<&'static str, String> {
    let st = unit_state(cache, unit);
    let runtime = |p: &Option<String>| p.as_deref().is_some_and(|p| p.starts_with("/run/"));
    if st.masked {
        return Ok(if runtime(&st.path) {
            "masked-runtime"
        } else {
            "masked"
        });
    }
    if !st.exists {
        return Err(format!(
            "Failed to get unit file state for {unit}: No such file or directory"
        ));
    }
    if st.enabled {
        return Ok(if runtime(&st.enabled_by) {
            "enabled-runtime"
        } else {
            "enabled"
        });
    }
    let text = st
        .path
        .as_deref()
        .and_then(|p| cache.text(p).ok())
        .unwrap_or_default();
    let mut install = Vec::new();
    let mut in_install = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_install = l.eq_ignore_ascii_case("[Install]");
            continue;
        }
        if in_install
            && let Some((k, v)) = l.split_once('=')
            && !v.trim().is_empty()
        {
            install.push(k.trim().to_string());
        }
    }
    let template = unit.contains("@.");
    Ok(if install.is_empty() {
        "static"
    } else if install.iter().all(|k| k == "Also")
        || (template && !install.iter().any(|k| k == "DefaultInstance"))
    {
        "indirect"
    } else {
        "disabled"
    })
}
