//! `chkconfig --list`: SysV init scripts with the runlevels their `rcN.d` start links enable, and
//! xinetd services with their `disable` setting, in Red Hat chkconfig's layout.
//!
//! The forms: `NAME` padded to 15 columns then `\t0:off\t1:off\t2:on…` for an init script, and
//! `\tNAME:\ton|off` for an xinetd service (after an `xinetd based services:` heading in the full
//! listing). A script's `# chkconfig:` header and LSB dependencies are not read: the links decide,
//! as they decide what starts at boot.

use std::io;

use crate::cache::{Cache, FactError};

/// Init script directories, first existing wins (RHEL's `rc.d` layout, then Debian/SUSE).
const INIT_DIRS: [&str; 2] = ["/etc/rc.d/init.d", "/etc/init.d"];
/// Runlevel link directory patterns (`{}` is the level).
const RC_DIRS: [&str; 3] = ["/etc/rc.d/rc{}.d", "/etc/rc{}.d", "/etc/init.d/rc{}.d"];
const XINETD_DIR: &str = "/etc/xinetd.d";

fn list(cache: &Cache<'_>, dir: &str) -> Result<Option<Vec<String>>, String> {
    match cache.host.list_dir(dir) {
        Ok(mut v) => {
            v.sort();
            Ok(Some(v))
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(FactError::from_io(dir, &e).message()),
    }
}

/// The init scripts (regular files, not hidden, not the `functions` library).
fn scripts(cache: &Cache<'_>) -> Result<Vec<String>, String> {
    for d in INIT_DIRS {
        if let Some(names) = list(cache, d)? {
            return Ok(names
                .into_iter()
                .filter(|n| !n.starts_with('.') && n != "functions" && !n.ends_with(".d"))
                .filter(|n| {
                    cache
                        .stat(&format!("{d}/{n}"))
                        .is_ok_and(|st| st.file_type == vigil_proto::FileType::File)
                })
                .collect());
        }
    }
    Ok(Vec::new())
}

/// The levels 0–6 whose directory has an `S<NN><name>` link.
fn levels(cache: &Cache<'_>, name: &str) -> Result<[bool; 7], String> {
    let mut on = [false; 7];
    for pattern in RC_DIRS {
        let mut found = false;
        for (level, slot) in on.iter_mut().enumerate() {
            let dir = pattern.replace("{}", &level.to_string());
            let Some(entries) = list(cache, &dir)? else {
                continue;
            };
            found = true;
            *slot = entries.iter().any(|e| {
                e.strip_prefix('S')
                    .map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit()))
                    .is_some_and(|r| r == name)
            });
        }
        if found {
            break;
        }
    }
    Ok(on)
}

fn sysv_line(name: &str, on: [bool; 7]) -> String {
    let mut out = format!("{name:<15}");
    for (i, o) in on.iter().enumerate() {
        out.push_str(&format!("\t{i}:{}", if *o { "on" } else { "off" }));
    }
    out.push('\n');
    out
}

/// Whether an xinetd service file enables it: no `disable = yes` line.
fn xinetd_on(text: &str) -> bool {
    !text.lines().any(|l| {
        let l = l.trim();
        l.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("disable") && v.trim().eq_ignore_ascii_case("yes")
        })
    })
}

fn xinetd_services(cache: &Cache<'_>) -> Result<Vec<(String, bool)>, String> {
    let Some(names) = list(cache, XINETD_DIR)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for n in names {
        // xinetd skips backup and package-manager leftovers, as chkconfig does.
        if n.starts_with('.') || n.ends_with('~') || n.contains(".rpm") || n.contains(".dpkg") {
            continue;
        }
        let path = format!("{XINETD_DIR}/{n}");
        match cache.text(&path) {
            Ok(t) => out.push((n, xinetd_on(&t))),
            Err(FactError::NotFound(_)) => {}
            Err(e) => return Err(e.message()),
        }
    }
    Ok(out)
}

pub(super) fn chkconfig_list(cache: &Cache<'_>, name: Option<&str>) -> Result<String, String> {
    let scripts = scripts(cache)?;
    let xinetd = xinetd_services(cache)?;
    let mut out = String::new();
    match name {
        Some(n) => {
            if scripts.iter().any(|s| s == n) {
                out.push_str(&sysv_line(n, levels(cache, n)?));
            } else if let Some((_, on)) = xinetd.iter().find(|(s, _)| s == n) {
                out.push_str(&format!("\t{n}:\t{}\n", if *on { "on" } else { "off" }));
            } else {
                out.push_str(&format!(
                    "error reading information on service {n}: No such file or directory\n"
                ));
            }
        }
        None => {
            for s in &scripts {
                out.push_str(&sysv_line(s, levels(cache, s)?));
            }
            if !xinetd.is_empty() {
                out.push_str("\nxinetd based services:\n");
                for (s, on) in &xinetd {
                    out.push_str(&format!("\t{s}:\t{}\n", if *on { "on" } else { "off" }));
                }
            }
        }
    }
    Ok(out)
}

/// `initctl show-config JOB` from `/etc/init/JOB.conf`: the job's name, then its `emits`,
/// `start on` and `stop on` stanzas. An expression spanning lines (open parentheses) is joined and
/// its whitespace collapsed; upstart prints its parsed form, which may add parentheses.
pub(super) fn initctl_show_config(cache: &Cache<'_>, job: &str) -> Result<String, String> {
    let text = match cache.text(&format!("/etc/init/{job}.conf")) {
        Ok(t) => t,
        Err(FactError::NotFound(_)) => return Ok(format!("initctl: Unknown job: {job}\n")),
        Err(e) => return Err(e.message()),
    };
    let mut stanzas: Vec<(&str, String)> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let l = line.split('#').next().unwrap_or("").trim();
        let Some((key, rest)) = ["emits", "start on", "stop on"]
            .iter()
            .find_map(|k| l.strip_prefix(k).map(|r| (*k, r)))
            .filter(|(_, r)| r.starts_with(char::is_whitespace))
        else {
            continue;
        };
        let mut expr = rest.to_string();
        let depth = |s: &str| s.matches('(').count() as i64 - s.matches(')').count() as i64;
        while depth(&expr) > 0 {
            match lines.next() {
                Some(more) => {
                    expr.push(' ');
                    expr.push_str(more.split('#').next().unwrap_or(""));
                }
                None => break,
            }
        }
        let expr = expr.split_whitespace().collect::<Vec<_>>().join(" ");
        if key == "emits" {
            // One `emits` line per event.
            for e in expr.split(' ') {
                stanzas.push(("emits", e.to_string()));
            }
        } else {
            stanzas.retain(|(k, _)| *k != key);
            stanzas.push((key, expr));
        }
    }
    let mut out = format!("{job}\n");
    for key in ["emits", "start on", "stop on"] {
        for (_, e) in stanzas.iter().filter(|(k, _)| *k == key) {
            out.push_str(&format!("  {key} {e}\n"));
        }
    }
    Ok(out)
}
