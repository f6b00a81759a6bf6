//! `vuln import|list` and `query vulns`: advisories in, affected hosts out (docs/vulnerabilities.md).

use std::path::Path;

use anyhow::Context as _;

use clap::Subcommand;

use super::term::{self, errln, outln};
use super::{DirArgs, Failure, fmt_time, load, now_s, open_store};
use crate::store::vuln::{StoredMatch, VulnFilter};
use crate::vuln::{load as osv_load, rematch};

/// `vuln` subcommands.
#[derive(Debug, Subcommand)]
pub enum VulnCmd {
    /// Import OSV advisories: one JSON file, a directory of them, or an osv.dev ecosystem zip.
    /// All or nothing: any bad document rejects the whole import. Every host is re-matched.
    Import {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// The file, directory or zip.
        path: std::path::PathBuf,
        /// Source shown with the import (default: the file name).
        #[arg(long)]
        source: Option<String>,
    },
    /// List the imports (version, date, advisories, source).
    List {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"imports": [...]}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `vuln` subcommand.
pub(super) fn run(cmd: VulnCmd) -> Result<(), Failure> {
    match cmd {
        VulnCmd::Import { dir, path, source } => import(&dir, &path, source),
        VulnCmd::List { dir, json } => list(&dir, json),
    }
}

/// `vuln import FILE|DIR`: all or nothing, then a full re-match.
pub(super) fn import(dir: &DirArgs, path: &Path, source: Option<String>) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let bar = term::progress(&format!("reading advisories from {}", path.display()));
    let advisories = osv_load::load(path).map_err(|e| {
        Failure::usage(anyhow::anyhow!(
            "{}: nothing imported:\n{e}",
            path.display()
        ))
    })?;
    let source = source.unwrap_or_else(|| {
        path.file_name()
            .map_or_else(|| "import".into(), |n| n.to_string_lossy().into_owned())
    });
    let store = open_store(&cfg)?;
    let now = now_s();
    bar.set_message(format!("storing {} advisories", advisories.len()));
    let version = store
        .vulns()
        .vuln_import(&source, &rematch::advisory_rows(&advisories), now)?;
    let audit = serde_json::json!({
        "file": path.display().to_string(), "source": source,
        "advisories": advisories.len(), "version": version,
    });
    store.audit("cli", "vuln.import", &audit, now)?;
    let started = std::time::Instant::now();
    bar.set_message("re-matching every host's packages");
    let index = rematch::load_index(&*store).context("reading the advisories back")?;
    let (hosts, matches) = rematch::rematch_all(&*store, &index, now).context("re-matching")?;
    bar.finish_and_clear();
    outln!(
        "imported {} advisories from {} (advisory set version {version}); {hosts} host(s) re-matched in {:.1} s: {matches} affected package(s)",
        advisories.len(),
        &source,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `vuln list`: the imports, with source and date.
pub(super) fn list(dir: &DirArgs, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let imports = store.vulns().vuln_imports()?;
    if json {
        println!("{}", term::json(&serde_json::json!({ "imports": imports })));
        return Ok(());
    }
    for i in &imports {
        outln!(
            "v{:<5} {}  {:>7} advisories  {}",
            i.version,
            fmt_time(i.imported_at),
            i.advisories,
            &i.source
        );
    }
    errln!("{} import(s)", imports.len());
    Ok(())
}

/// `query vulns --cve ID | --host ID`.
pub(super) fn query(
    dir: &DirArgs,
    cve: Option<String>,
    host: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    let filter = match (cve, host) {
        (Some(c), None) => VulnFilter::Advisory(c),
        (None, Some(h)) => VulnFilter::Host(h),
        _ => {
            return Err(Failure::usage(anyhow::anyhow!(
                "give exactly one of --cve ID and --host ID"
            )));
        }
    };
    let store = open_store(&load(dir)?)?;
    let rows = store.vulns().vuln_matches(&filter)?;
    if json {
        println!("{}", term::json(&serde_json::json!({ "vulns": rows })));
        return Ok(());
    }
    for m in &rows {
        outln!("{}", line(m));
    }
    let hosts: std::collections::HashSet<&str> = rows.iter().map(|m| m.host.as_str()).collect();
    errln!(
        "{} affected package(s) on {} host(s)",
        rows.len(),
        hosts.len()
    );
    Ok(())
}

fn line(m: &StoredMatch) -> String {
    format!(
        "{:<36}  {:<20} {:<18} {:<16} {} {} -> {}  {}{}  since {}",
        m.host,
        &m.hostname,
        &m.advisory,
        &m.cves.join(","),
        &m.package,
        &m.installed,
        m.fixed.as_deref().unwrap_or("(no fix)"),
        m.severity.as_deref().unwrap_or("-"),
        m.cvss.map(|c| format!(" {c:.1}")).unwrap_or_default(),
        fmt_time(m.since),
    )
}
