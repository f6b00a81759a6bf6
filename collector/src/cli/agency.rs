//! `agency add|list|move|rename|dissolve`: the organisation tree.

use clap::Subcommand;
use serde::Serialize;

use super::term::{self, outln};
use super::{DirArgs, Failure, load, now_s, open_store, org, validate_agency_id};
use crate::store::Agency;

/// `agency` subcommands.
#[derive(Debug, Subcommand)]
pub enum AgencyCmd {
    /// Add an agency (its parent must exist).
    Add {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Path such as `province/so-tttt`.
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Required security level of its systems (1–5).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=5))]
        level: u8,
    },
    /// Move an agency and its whole subtree to a new path, with its hosts, assets, tokens,
    /// score history and the scopes of its users (e.g. a commune moved directly under the
    /// province).
    Move {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Current path.
        #[arg(long)]
        id: String,
        /// New path (its parent must exist).
        #[arg(long)]
        to: String,
    },
    /// Change an agency's display name.
    Rename {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Path.
        #[arg(long)]
        id: String,
        /// New display name.
        #[arg(long)]
        name: String,
    },
    /// Abolish agencies: each one's children move up to its parent keeping their history, its
    /// own hosts, assets and tokens go to the parent, and it is removed. Users scoped to it are
    /// disabled (the parent's scope would show them more). This is the 2025 district abolition
    /// in one command: `agency dissolve --id tinh/huyen-a --id tinh/huyen-b`.
    Dissolve {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Path of an agency to abolish (repeatable).
        #[arg(long, required = true)]
        id: Vec<String>,
    },
    /// List agencies.
    List {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"agencies": [...]}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `agency` subcommand.
pub(super) fn run(cmd: AgencyCmd) -> Result<(), Failure> {
    match cmd {
        AgencyCmd::Add {
            dir,
            id,
            name,
            level,
        } => add(&dir, id, name, level),
        AgencyCmd::List { dir, json } => list(&dir, json),
        AgencyCmd::Move { dir, id, to } => org::agency_move(&dir, &id, &to),
        AgencyCmd::Rename { dir, id, name } => org::agency_rename(&dir, &id, &name),
        AgencyCmd::Dissolve { dir, id } => org::agency_dissolve(&dir, &id),
    }
}

fn add(dir: &DirArgs, id: String, name: String, level: u8) -> Result<(), Failure> {
    validate_agency_id(&id)?;
    let cfg = load(dir)?;
    let store = open_store(&cfg)?;
    store.agency_add(&Agency {
        id: id.clone(),
        name,
        level,
    })?;
    store.audit(
        "cli",
        "agency.add",
        &serde_json::json!({"id": id, "level": level}),
        now_s(),
    )?;
    outln!("added agency {id}");
    Ok(())
}

/// `{"agencies": [...]}`.
#[derive(Serialize)]
struct AgencyList<'a> {
    agencies: &'a [Agency],
}

fn list(dir: &DirArgs, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let all = store.agencies()?;
    if json {
        println!("{}", term::json(&AgencyList { agencies: &all }));
    } else {
        for a in all {
            outln!("{:<40} level {}  {}", a.id, a.level, a.name);
        }
    }
    Ok(())
}
