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
