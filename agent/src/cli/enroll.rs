//! `enroll`: joins a collector with an enrollment token.

use std::path::PathBuf;

use vigil_proto::msg::HostIdentity;
use vigil_proto::token::EnrollToken;

use super::{Failure, USAGE, runtime};
use crate::config::AgentConfig as Config;
use crate::platform;
use crate::state::StatePaths;

/// The arguments of `enroll`.
pub(super) struct EnrollArgs {
    pub(super) token: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) collector: Option<String>,
    pub(super) machine_id: Option<String>,
    pub(super) if_not_enrolled: bool,
}

/// Enrolls this host (unless `--if-not-enrolled` finds it enrolled already).
pub(super) fn enroll(state: &StatePaths, cfg: &Config, a: EnrollArgs) -> Result<u8, Failure> {
    if a.if_not_enrolled
        && let Ok(id) = state.load_identity()
    {
        println!(
            "already enrolled as agent {} in agency {}; nothing to do",
            id.agent_id, id.agency
        );
        return Ok(0);
    }
    let source = token_source(a.token, a.token_file.clone());
    let text = crate::enroll::read_token(&source, &mut std::io::stdin().lock())?;
    let token = EnrollToken::decode(&text)?;
    let collectors = match a.collector.or_else(|| cfg.collector.clone()) {
        Some(c) => {
            crate::tls::split_host_port(&c).map_err(|e| Failure {
                code: USAGE,
                err: anyhow::anyhow!("--collector: {e}"),
            })?;
            vec![c]
        }
        None => token.addrs.clone(),
    };
    let machine_id = match a.machine_id {
        Some(m) => m,
        None => platform::machine_id().map_err(anyhow::Error::msg)?,
    };
    let inv = crate::inventory::collect();
    let host = HostIdentity {
        machine_id,
        hostname: inv.hostname.clone(),
        os: crate::inventory::os_line(&inv),
    };
    let done = runtime()?.block_on(crate::enroll::enroll(&token, &collectors, host, state))?;
    if let Some(f) = a.token_file {
        // Single-purpose secret: it has done its job.
        let _ = std::fs::remove_file(f);
    }
    println!(
        "enrolled as agent {} in agency {} via {}{}",
        done.identity.agent_id,
        done.identity.agency,
        done.via,
        if done.replaced {
            " (replaced this machine's previous identity)"
        } else {
            ""
        }
    );
    println!(
        "identity written to {}; start the agent with: vigil-agent run --state-dir {}",
        state.dir.display(),
        state.dir.display()
    );
    Ok(0)
}

/// Where the token comes from, with a warning (and a prompt) where it helps.
fn token_source(token: Option<String>, file: Option<PathBuf>) -> crate::enroll::TokenSource {
    use crate::enroll::TokenSource;
    use std::io::IsTerminal as _;
    match (token, file) {
        (_, Some(f)) => TokenSource::File(f),
        (Some(t), None) if t == "-" => {
            if std::io::stdin().is_terminal() {
                eprint!("Paste the enrollment token, then press Enter: ");
            }
            TokenSource::Stdin
        }
        (Some(t), None) => {
            // From VIGIL_TOKEN the token is not in argv (the environment is private to its user).
            if std::env::args().any(|a| a == "--token" || a.starts_with("--token=")) {
                eprintln!(
                    "warning: a token given with --token is visible to other local users in the \
                     process list; prefer --token - (standard input) or --token-file FILE"
                );
            }
            TokenSource::Arg(t)
        }
        (None, None) => TokenSource::Stdin,
    }
}
