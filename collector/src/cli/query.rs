//! `hosts`, `findings`, `gaps` and `query packages`: reading what agents reported.

use clap::Subcommand;
use serde::Serialize;

use super::term::{self, errln, outln, wline};
use super::{DirArgs, Failure, fmt_time, load, open_store, parse_since};
use crate::store::{FindingFilter, Gap};
use crate::views;
use std::io::Write as _;

/// `query` subcommands.
#[derive(Debug, Subcommand)]
pub enum QueryCmd {
    /// Hosts with package NAME installed (optionally: at a version below VERSION).
    Packages {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Package name.
        #[arg(long)]
        name: String,
        /// Only hosts whose installed version sorts below this one (Debian version order).
        #[arg(long, value_name = "VERSION")]
        below: Option<String>,
        /// Print `{"hosts": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Hosts affected by an advisory (`--cve CVE-… | --cve DSA-…`) or one host's vulnerable
    /// packages (`--host ID`).
    Vulns {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// A CVE id or an advisory id.
        #[arg(long, value_name = "ID")]
        cve: Option<String>,
        /// An agent id.
        #[arg(long, value_name = "ID")]
        host: Option<String>,
        /// Print `{"vulns": [...]}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `query` subcommand.
pub(super) fn run(cmd: QueryCmd) -> Result<(), Failure> {
    match cmd {
        QueryCmd::Packages {
            dir,
            name,
            below,
            json,
        } => packages(&dir, &name, below.as_deref(), json),
        QueryCmd::Vulns {
            dir,
            cve,
            host,
            json,
        } => super::vuln::query(&dir, cve, host, json),
    }
}

pub(super) fn hosts(dir: &DirArgs, json: bool, all: bool) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let store = open_store(&cfg)?;
    if json {
        println!(
            "{}",
            term::json(&views::hosts_json(&*store, all, &cfg.scoring)?)
        );
    } else {
        print_hosts(&views::hosts(&*store, all, &cfg.scoring)?);
    }
    Ok(())
}

pub(super) fn findings(
    dir: &DirArgs,
    host: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    limit: usize,
    json: bool,
) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let since_ms = since
        .map(|s| parse_since(&s))
        .transpose()
        .map_err(|e| Failure::usage(anyhow::anyhow!("--since: {e}")))?;
    let f = FindingFilter {
        agent_id: host,
        kind,
        since_ms,
        limit,
    };
    if json {
        println!("{}", term::json(&views::findings_json(&*store, &f)?));
    } else {
        for r in store.findings(&f)? {
            outln!(
                "{}  {}  #{:<6} {:<9} {}",
                fmt_time(r.received_at / 1000),
                r.agent_id,
                r.seq,
                r.kind,
                r.finding
            );
        }
    }
    Ok(())
}

/// `{"gaps": [...]}`.
#[derive(Serialize)]
struct GapList<'a> {
    gaps: &'a [Gap],
}

pub(super) fn gaps(dir: &DirArgs, host: Option<&str>, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let gaps = store.gaps(host)?;
    if json {
        println!("{}", term::json(&GapList { gaps: &gaps }));
    } else {
        for g in &gaps {
            outln!(
                "{}  {}  missing #{}..=#{} ({} findings)",
                fmt_time(g.detected_at / 1000),
                g.agent_id,
                g.from_seq,
                g.to_seq,
                g.to_seq - g.from_seq + 1
            );
        }
        errln!("{} gap(s)", gaps.len());
    }
    Ok(())
}

/// `{"hosts": [...]}` of `query packages`.
#[derive(Serialize)]
struct PackageHosts<'a> {
    hosts: &'a [views::PackageHit],
}

fn packages(dir: &DirArgs, name: &str, below: Option<&str>, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let rows = views::package_query(&*store, name, below)?;
    if json {
        println!("{}", term::json(&PackageHosts { hosts: &rows }));
    } else {
        for r in &rows {
            outln!(
                "{:<36}  {:<24} {:<20} {} {}",
                r.id,
                r.agency,
                r.hostname,
                name,
                r.version
            );
        }
        errln!("{} host(s)", rows.len());
    }
    Ok(())
}

fn print_hosts(hosts: &[views::HostRow]) {
    let mut out = std::io::stdout().lock();
    wline!(
        out,
        "{:<36}  {:<24} {:<20} {:<25} {:>6}",
        "ID",
        "AGENCY",
        "HOSTNAME",
        "LAST SEEN",
        "SPOOL"
    );
    for h in hosts {
        wline!(
            out,
            "{:<36}  {:<24} {:<20} {:<25} {:>6}{}",
            h.id,
            h.agency,
            h.hostname,
            fmt_time(h.last_seen),
            h.spool_depth,
            if h.revoked { "  (revoked)" } else { "" }
        );
    }
}
