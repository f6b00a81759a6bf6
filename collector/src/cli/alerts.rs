//! `alerts list|ack|resolve|false-positive|assign`.

use clap::Subcommand;
use serde::Serialize;

use super::term::{self, errln, outln};
use super::{DirArgs, Failure, load, now_s, open_store, org};
use crate::store::{Alert, AlertState, StoreError};

/// `alerts` subcommands.
#[derive(Debug, Subcommand)]
pub enum AlertsCmd {
    /// List alerts, newest first.
    List {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Only this state.
        #[arg(long, value_parser = ["open", "acknowledged", "resolved", "false_positive"])]
        state: Option<String>,
        /// Print `{"alerts": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an alert (someone is on it).
    Ack {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Alert id.
        #[arg(long)]
        id: i64,
    },
    /// Resolve an alert; the reason is audited.
    Resolve {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Alert id.
        #[arg(long)]
        id: i64,
        /// Why it is resolved.
        #[arg(long)]
        reason: String,
    },
    /// Assign an alert to someone, or to nobody.
    Assign {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Alert id.
        #[arg(long)]
        id: i64,
        /// Who takes it.
        #[arg(long, value_name = "USER", required_unless_present = "nobody")]
        to: Option<String>,
        /// Remove the assignee.
        #[arg(long, conflicts_with = "to")]
        nobody: bool,
    },
    /// Mark an alert as a false positive; the reason is audited.
    FalsePositive {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Alert id.
        #[arg(long)]
        id: i64,
        /// Why it is not a real problem.
        #[arg(long)]
        reason: String,
    },
}

/// Runs an `alerts` subcommand.
pub(super) fn run(cmd: AlertsCmd) -> Result<(), Failure> {
    match cmd {
        AlertsCmd::List { dir, state, json } => list(&dir, state.as_deref(), json),
        AlertsCmd::Ack { dir, id } => set_alert(&dir, id, AlertState::Acknowledged, None),
        AlertsCmd::Resolve { dir, id, reason } => {
            set_alert(&dir, id, AlertState::Resolved, Some(&reason))
        }
        AlertsCmd::FalsePositive { dir, id, reason } => {
            set_alert(&dir, id, AlertState::FalsePositive, Some(&reason))
        }
        AlertsCmd::Assign { dir, id, to, .. } => org::alert_assign(&dir, id, to.as_deref()),
    }
}

/// `{"alerts": [...]}`.
#[derive(Serialize)]
struct AlertList<'a> {
    alerts: &'a [Alert],
}

fn list(dir: &DirArgs, state: Option<&str>, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let alerts = store.alerts(state.and_then(AlertState::parse))?;
    if json {
        println!("{}", term::json(&AlertList { alerts: &alerts }));
    } else {
        for a in &alerts {
            outln!(
                "#{:<5} {:<13} {:<8} {:<21} {}  x{}  {}",
                a.id,
                a.state.as_str(),
                a.severity.as_str(),
                a.kind,
                a.agent_id,
                a.count,
                a.title
            );
        }
        errln!("{} alert(s)", alerts.len());
    }
    Ok(())
}

fn set_alert(
    dir: &DirArgs,
    id: i64,
    state: AlertState,
    reason: Option<&str>,
) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    match store.alert_set_state(id, state, "cli", reason, now_s()) {
        Ok(true) => {
            outln!("alert #{id} is now {}", state.as_str());
            Ok(())
        }
        Ok(false) => Err(Failure::usage(anyhow::anyhow!(
            "no alert #{id} (see `alerts list`)"
        ))),
        Err(StoreError::Invalid(m)) => Err(Failure::usage(anyhow::anyhow!(m))),
        Err(e) => Err(e.into()),
    }
}
