//! `rpm -q`, `rpm -qa`, `dpkg -s` and `dpkg-query -W` from the package databases.

use crate::cache::{Cache, FactError, Manager};
use crate::query::Source;
use crate::rpm::RpmPackage;

pub(super) fn rpm(cache: &Cache<'_>, s: &Source) -> Result<String, String> {
    let db = cache
        .rpmdb()
        .map_err(|e| format!("rpm database: {}", e.message()))?;
    Ok(match s {
        Source::RpmQuery(names) => rpm_query_text(names, &db.packages),
        Source::RpmQueryAll(globs) => {
            let mut out = String::new();
            let all = globs.is_empty();
            // A pattern globset refuses (`[z-a]`) matches nothing, as rpm's fnmatch would.
            let globs: Vec<_> = globs
                .iter()
                .filter_map(|g| vigil_host::glob::Pattern::new(g).ok())
                .collect();
            for p in &db.packages {
                let nvra = p.nvra();
                if all || globs.iter().any(|g| g.matches(&nvra) || g.matches(&p.name)) {
                    out.push_str(&nvra);
                    out.push('\n');
                }
            }
            out
        }
        _ => String::new(),
    })
}

/// What `rpm -q NAME...` prints for the installed `packages`: every installed instance of each
/// name, or `package NAME is not installed`.
pub(crate) fn rpm_query_text(names: &[String], packages: &[RpmPackage]) -> String {
    let mut out = String::new();
    for n in names {
        let mut found: Vec<String> = packages
            .iter()
            .filter(|p| &p.name == n)
            .map(RpmPackage::nvra)
            .collect();
        if found.is_empty() {
            out.push_str(&format!("package {n} is not installed\n"));
        }
        found.sort();
        for f in found {
            out.push_str(&f);
            out.push('\n');
        }
    }
    out
}

pub(super) fn dpkg(cache: &Cache<'_>, s: &Source) -> Result<String, String> {
    let db = match cache.packages() {
        Ok(db) if db.manager == Manager::Dpkg => db,
        Ok(_) | Err(FactError::NotFound(_)) => {
            return Err("no dpkg database (/var/lib/dpkg/status) under the root".into());
        }
        Err(e) => return Err(format!("package database: {}", e.message())),
    };
    let mut out = String::new();
    match s {
        Source::DpkgStatus(names) => {
            out = dpkg_status_text(names, &|n| db.newest(n).map(str::to_string));
        }
        Source::DpkgShow { format, names } => {
            // The messages go to stderr, unbuffered, so they reach a shared pipe before the
            // buffered stdout: first, each on its own line, whatever the format ends with.
            let mut shown = String::new();
            for n in names {
                match db.newest(n) {
                    Some(v) => shown.push_str(&dpkg_format(format, n, v)),
                    None => out.push_str(&format!("dpkg-query: no packages found matching {n}\n")),
                }
            }
            out.push_str(&shown);
        }
        _ => {}
    }
    Ok(out)
}

/// What `dpkg -s NAME...` prints, given the installed version of each name (the fields policies
/// match on: `Package`, `Status`, `Version`).
pub(crate) fn dpkg_status_text(
    names: &[String],
    version: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::new();
    for n in names {
        match version(n) {
            Some(v) => out.push_str(&format!(
                "Package: {n}\nStatus: install ok installed\nVersion: {v}\n\n"
            )),
            None => out.push_str(&format!(
                "dpkg-query: package '{n}' is not installed and no information is available\n\
                 Use dpkg --info (= dpkg-deb --info) to examine archive files.\n"
            )),
        }
    }
    out
}

/// Expands a `dpkg-query -W -f` format for an installed package.
fn dpkg_format(format: &str, name: &str, version: &str) -> String {
    let mut out = String::new();
    let mut rest = format;
    while let Some(i) = rest.find(['$', '\\']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("\\t") {
            out.push('\t');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("\\n") {
            out.push('\n');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("${") {
            let Some(end) = t.find('}') else {
                out.push_str(tail);
                rest = "";
                break;
            };
            let field = &t[..end];
            // Field names may carry a width (`${Package;-20}`), which is dropped.
            let key = field.split(';').next().unwrap_or("");
            out.push_str(match key.to_ascii_lowercase().as_str() {
                "package" | "binary:package" => name,
                "version" => version,
                "status" => "install ok installed",
                "db:status-status" => "installed",
                "db:status-abbrev" => "ii ",
                _ => "",
            });
            rest = &t[end + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// One stanza of `/var/lib/dpkg/status`: package, status words, version, architecture and the
/// first line of the description.
fn dpkg_stanzas(text: &str) -> Vec<[String; 5]> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut f: [String; 5] = Default::default();
        for line in stanza.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let slot = match k {
                "Package" => 0,
                "Status" => 1,
                "Version" => 2,
                "Architecture" => 3,
                "Description" => 4,
                _ => continue,
            };
            f[slot] = v.trim().to_string();
        }
        if !f[0].is_empty() {
            out.push(f);
        }
    }
    out.sort_by(|a, b| a[0].cmp(&b[0]));
    out
}

/// The three state letters of `dpkg -l` (desired, status, error) from the `Status` words.
fn dpkg_state(status: &str) -> String {
    let w: Vec<&str> = status.split_whitespace().collect();
    let want = match w.first().copied() {
        Some("install") => 'i',
        Some("deinstall") => 'r',
        Some("purge") => 'p',
        Some("hold") => 'h',
        _ => 'u',
    };
    let err = if w.get(1) == Some(&"reinstreq") {
        'R'
    } else {
        ' '
    };
    let state = match w.get(2).copied() {
        Some("installed") => 'i',
        Some("config-files") => 'c',
        Some("unpacked") => 'U',
        Some("half-configured") => 'F',
        Some("half-installed") => 'H',
        Some("triggers-awaited") => 'W',
        Some("triggers-pending") => 'T',
        _ => 'n',
    };
    format!("{want}{state}{err}")
}

/// `dpkg -l [PATTERN...]` from `/var/lib/dpkg/status`: the legend, then one row per package (every
/// package not purged without patterns; every matching one with them), columns as wide as their
/// longest value as dpkg prints them when not on a terminal; `no packages found matching P` for a
/// pattern nothing matches.
pub(super) fn dpkg_list(cache: &Cache<'_>, patterns: &[String]) -> Result<String, String> {
    let text = match cache.text("/var/lib/dpkg/status") {
        Ok(t) => t,
        Err(FactError::NotFound(_)) => {
            return Err("no dpkg database (/var/lib/dpkg/status) under the root".into());
        }
        Err(e) => return Err(e.message()),
    };
    let all = dpkg_stanzas(&text);
    let globs: Vec<(String, Option<vigil_host::glob::Pattern>)> = patterns
        .iter()
        .map(|p| (p.clone(), vigil_host::glob::Pattern::new(p).ok()))
        .collect();
    let mut errors = String::new();
    let mut rows: Vec<&[String; 5]> = Vec::new();
    if globs.is_empty() {
        rows.extend(all.iter().filter(|f| !dpkg_state(&f[1]).starts_with("un")));
    } else {
        for (p, g) in &globs {
            let hit: Vec<&[String; 5]> = all
                .iter()
                .filter(|f| g.as_ref().is_some_and(|g| g.matches(&f[0])))
                .collect();
            if hit.is_empty() {
                errors.push_str(&format!("dpkg-query: no packages found matching {p}\n"));
            }
            for h in hit {
                if !rows.iter().any(|r| r[0] == h[0]) {
                    rows.push(h);
                }
            }
        }
    }
    if rows.is_empty() {
        return Ok(errors);
    }
    rows.sort_by(|a, b| a[0].cmp(&b[0]));
    let width = |i: usize, head: &str| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([head.len()])
            .max()
            .unwrap_or(0)
    };
    let (wn, wv, wa) = (
        width(0, "Name"),
        width(2, "Version"),
        width(3, "Architecture"),
    );
    let mut out = errors;
    out.push_str(
        "Desired=Unknown/Install/Remove/Purge/Hold\n\
         | Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend\n\
         |/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)\n",
    );
    out.push_str(&format!(
        "||/ {:<wn$} {:<wv$} {:<wa$} Description\n",
        "Name", "Version", "Architecture"
    ));
    out.push_str(&format!(
        "+++-{}-{}-{}-{}\n",
        "=".repeat(wn),
        "=".repeat(wv),
        "=".repeat(wa),
        "=".repeat(12)
    ));
    for r in rows {
        out.push_str(&format!(
            "{} {:<wn$} {:<wv$} {:<wa$} {}\n",
            dpkg_state(&r[1]),
            r[0],
            r[2],
            r[3],
            r[4]
        ));
    }
    Ok(out)
}
