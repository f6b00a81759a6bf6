//! `agent revoke|move`: an administrator's answers to a machine id claimed twice (DESIGN §2).

use anyhow::anyhow;

use super::term::outln;
use super::{DirArgs, Failure, load, now_s, open_store, validate_agency_id};
use crate::store::StoreError;

use clap::Subcommand;
/// `agent` subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// Revoke an agent: every running collector sharing the store closes its sessions within
    /// seconds and refuses its certificate from then on (audited). The host enrolls again with
    /// a new token.
    Revoke {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Agent id (see `hosts`).
        #[arg(long)]
        id: String,
    },
    /// Move a live agent to another agency, keeping its identity, findings and alerts
    /// (audited with both agencies). Use it when a host changes agency: an enrollment into the
    /// new agency is refused while the machine's agent is live in the old one.
    Move {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Agent id (see `hosts`).
        #[arg(long)]
        id: String,
        /// Agency path it belongs to from now on.
        #[arg(long, value_name = "PATH")]
        agency: String,
    },
}

/// Runs an `agent` subcommand.
pub(super) fn run(cmd: AgentCmd) -> Result<(), Failure> {
    match cmd {
        AgentCmd::Revoke { dir, id } => revoke(&dir, &id),
        AgentCmd::Move { dir, id, agency } => move_to(&dir, &id, &agency),
    }
}

/// `agent revoke --id ID`.
pub(super) fn revoke(dir: &DirArgs, id: &str) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    if !store.agent_revoke(id, "cli", now_s())? {
        return Err(Failure::usage(anyhow!(
            "no live agent with id {id:?} (see `hosts --all`)"
        )));
    }
    outln!(
        "revoked agent {id}; running collectors close its sessions within seconds and refuse its \
         certificate"
    );
    Ok(())
}

/// `agent move --id ID --agency PATH`.
pub(super) fn move_to(dir: &DirArgs, id: &str, agency: &str) -> Result<(), Failure> {
    validate_agency_id(agency)?;
    let store = open_store(&load(dir)?)?;
    let before = store.agent(id)?.map(|a| a.agency);
    match store.agent_move(id, agency, "cli", now_s()) {
        Ok(true) => {
            outln!(
                "moved agent {id} from {} to {agency}; its findings and alerts went with it",
                before.unwrap_or_default()
            );
            Ok(())
        }
        Ok(false) => Err(Failure::usage(anyhow!(
            "no live agent with id {id:?} (see `hosts`)"
        ))),
        Err(e @ StoreError::NotFound(_)) => Err(Failure::usage(anyhow!(
            "{e}; create it with `vigil-collector agency add`"
        ))),
        Err(e) => Err(e.into()),
    }
}
