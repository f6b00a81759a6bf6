//! `policy add|assign|show|history|rollback`: central policies pushed to agents (issue 18,
//! docs/policy.md). The CLI acts with the whole organisation as its scope and is audited as
//! `cli`; running collectors push changes to their agents within seconds.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use clap::Subcommand;

use super::term::{self, outln};
use super::{DirArgs, Failure, fmt_time, load, now_s, open_store};
use crate::policy::ops::{self, Actor, AddRequest, OpError};
use crate::policy::{PolicyBook, PolicyContent, RawSettings};

/// `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Add the next version of a policy (a new policy at version 1). Packs and settings are
    /// checked first; any error stores nothing.
    Add {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Policy name (a-z, 0-9, `-`, `_`, `.`).
        name: String,
        /// A rule pack file (YAML, docs/rules-format.md); repeat for several.
        #[arg(long = "pack", value_name = "FILE")]
        packs: Vec<PathBuf>,
        /// Agent settings (TOML in the shape of agent.toml: [checks], [fim], [netwatch],
        /// [inventory], [spool]).
        #[arg(long, value_name = "FILE")]
        settings: Option<PathBuf>,
        /// Agency subtree the policy may be assigned within (default: its existing scope, or
        /// the whole organisation).
        #[arg(long, value_name = "PATH")]
        scope: Option<String>,
        /// Note kept in the history.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Assign a policy to an agency subtree (deepest assignment wins, key by key).
    Assign {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Agency path.
        #[arg(long, value_name = "PATH")]
        agency: String,
        /// Policy name.
        #[arg(required_unless_present = "none", conflicts_with = "none")]
        name: Option<String>,
        /// Remove the agency's own assignment (policies above it apply again).
        #[arg(long)]
        none: bool,
    },
    /// List policies and assignments, or with --agency the policy in force there and which
    /// hosts run it.
    Show {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Agency path.
        #[arg(long, value_name = "PATH")]
        agency: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Every version of a policy, oldest first.
    History {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Policy name.
        name: String,
        /// Print `{"versions": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Make an old version's content current again, as a new higher version.
    Rollback {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Policy name.
        name: String,
        /// The version whose content comes back.
        #[arg(long, value_name = "N")]
        to: i64,
    },
}

const CLI: Actor<'static> = Actor {
    name: "cli",
    scope: "",
};

/// Runs a `policy` subcommand.
pub(super) fn run(cmd: PolicyCmd) -> Result<(), Failure> {
    match cmd {
        PolicyCmd::Add {
            dir,
            name,
            packs,
            settings,
            scope,
            note,
        } => add(&dir, name, &packs, settings.as_deref(), scope, note),
        PolicyCmd::Assign {
            dir,
            agency,
            name,
            none: _,
        } => {
            let store = open_store(&load(&dir)?)?;
            let rev = ops::assign(&*store, CLI, &agency, name.as_deref(), now_s()).map_err(fail)?;
            match name {
                Some(n) => outln!(
                    "assigned policy {n} to {agency} (revision {rev}); running collectors push it within seconds"
                ),
                None => outln!("removed the assignment of {agency} (revision {rev})"),
            }
            Ok(())
        }
        PolicyCmd::Show { dir, agency, json } => show(&dir, agency.as_deref(), json),
        PolicyCmd::History { dir, name, json } => history(&dir, &name, json),
        PolicyCmd::Rollback { dir, name, to } => {
            let store = open_store(&load(&dir)?)?;
            let v = ops::rollback(&*store, CLI, &name, to, now_s()).map_err(fail)?;
            outln!(
                "policy {name}: version {} now has the content of version {to}",
                v.version
            );
            Ok(())
        }
    }
}

/// Input errors and unknown names are usage errors (2); the store failing is a runtime one (3).
fn fail(e: OpError) -> Failure {
    match e {
        OpError::Store(e) => Failure::from(anyhow::Error::new(e)),
        e => Failure::usage(anyhow::Error::new(e)),
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    Ok(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
}

fn add(
    dir: &DirArgs,
    name: String,
    packs: &[PathBuf],
    settings: Option<&Path>,
    scope: Option<String>,
    note: String,
) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let mut files = Vec::new();
    for p in packs {
        files.push((p.display().to_string(), read(p)?));
    }
    let settings: RawSettings = match settings {
        Some(p) => toml::from_str(&read(p)?)
            .map_err(|e| Failure::usage(anyhow!("{}: {}", p.display(), e.message())))?,
        None => RawSettings::default(),
    };
    let req = AddRequest {
        name,
        scope,
        packs: files,
        settings,
        note,
    };
    let store = open_store(&cfg)?;
    let v = ops::add(&*store, CLI, &req, now_s()).map_err(|e| match e {
        OpError::Invalid(errs) => Failure::usage(anyhow!(
            "policy {:?}: nothing stored:\n{}",
            req.name,
            errs.join("\n")
        )),
        e => fail(e),
    })?;
    outln!(
        "policy {} version {} stored ({} packs){}",
        v.name,
        v.version,
        req.packs.len(),
        if v.scope.is_empty() {
            String::new()
        } else {
            format!(", assignable within {}", v.scope)
        }
    );
    Ok(())
}

fn show(dir: &DirArgs, agency: Option<&str>, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    if let Some(agency) = agency {
        if store.agency(agency)?.is_none() {
            return Err(Failure::usage(anyhow!(
                "--agency {agency:?}: no such agency"
            )));
        }
        let st = crate::policy::status::agency_status(&*store, agency)?;
        if json {
            println!("{}", term::json(&serde_json::json!({ "agency": st })));
            return Ok(());
        }
        outln!(
            "{}: policy version {} ({})",
            st.agency,
            st.version,
            st.policies
        );
        outln!(
            "packs: {}",
            if st.packs.is_empty() {
                "-".into()
            } else {
                st.packs.join(", ")
            }
        );
        outln!(
            "hosts: {} current, {} older, {} none",
            st.current,
            st.older,
            st.none
        );
        for h in &st.hosts {
            outln!(
                "  {:<36} {:<24} {:<8} applied {} / {}",
                h.id,
                h.hostname,
                h.state,
                h.applied,
                h.expected
            );
        }
        return Ok(());
    }
    let book = PolicyBook::load(&*store)?;
    let latest = store.policies().policies_latest()?;
    let assignments = store.policies().policy_assignments()?;
    if json {
        let policies: Vec<_> = latest
            .iter()
            .map(|v| {
                let c = PolicyContent::from_body(&v.body).unwrap_or_default();
                serde_json::json!({"name": v.name, "version": v.version, "scope": v.scope,
                    "created_at": v.created_at, "packs": c.packs.iter().map(|p| &p.id).collect::<Vec<_>>(),
                    "settings": c.settings})
            })
            .collect();
        println!(
            "{}",
            term::json(
                &serde_json::json!({"revision": book.rev(), "policies": policies, "assignments": assignments})
            )
        );
        return Ok(());
    }
    outln!("revision {}", book.rev());
    for v in &latest {
        outln!(
            "policy {} v{} scope {:?} ({})",
            v.name,
            v.version,
            v.scope,
            fmt_time(v.created_at)
        );
    }
    for a in &assignments {
        outln!(
            "{} <- {}",
            a.agency,
            a.policy.as_deref().unwrap_or("(unassigned)")
        );
    }
    Ok(())
}

fn history(dir: &DirArgs, name: &str, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let h = store.policies().policy_history(name)?;
    if h.is_empty() {
        return Err(Failure::usage(anyhow!("no policy named {name:?}")));
    }
    if json {
        let versions: Vec<_> = h
            .iter()
            .map(|v| {
                let c = PolicyContent::from_body(&v.body).unwrap_or_default();
                serde_json::json!({"version": v.version, "created_at": v.created_at, "actor": v.actor,
                    "note": v.note, "packs": c.packs.iter().map(|p| format!("{}@{}", p.id, p.version)).collect::<Vec<_>>(),
                    "settings": c.settings})
            })
            .collect();
        println!(
            "{}",
            term::json(&serde_json::json!({ "versions": versions }))
        );
        return Ok(());
    }
    for v in &h {
        outln!(
            "v{} {} by {} {}",
            v.version,
            fmt_time(v.created_at),
            v.actor,
            v.note
        );
    }
    Ok(())
}
