//! `run` in the foreground and `service …` (the Windows service; systemd owns this on Linux).

use std::path::PathBuf;

use anyhow::Context as _;
use tokio::sync::watch;

use super::{Failure, ServiceCmd, runtime};
use crate::config::{self, AgentConfig as Config};
use crate::platform;
use crate::state::StatePaths;

/// Runs the agent until a shutdown signal.
pub(super) fn run(cfg: Config, state: StatePaths) -> Result<u8, Failure> {
    let rt = runtime()?;
    rt.block_on(async move {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            platform::shutdown_signal().await;
            tracing::info!("Signal received; shutting down.");
            let _ = tx.send(true);
        });
        crate::run::run(cfg, state, rx).await
    })?;
    Ok(0)
}

/// `vigil-agent service …`: the Windows service (systemd owns this on Linux).
pub(super) fn service(
    cmd: ServiceCmd,
    state: StatePaths,
    cfg_path: PathBuf,
    explicit: bool,
) -> Result<u8, Failure> {
    let fail = |e: platform::ServiceError| Failure {
        code: e.exit_code(),
        err: e.into(),
    };
    let report = match cmd {
        ServiceCmd::Install => {
            let exe = std::env::current_exe().context("locating this executable")?;
            let opts = platform::InstallOptions {
                exe,
                state_dir: std::path::absolute(&state.dir).context("--state-dir")?,
                config: if explicit {
                    Some(std::path::absolute(&cfg_path).context("--config")?)
                } else {
                    None
                },
            };
            platform::service::install(&opts)
        }
        ServiceCmd::Uninstall => platform::service::uninstall(),
        ServiceCmd::Start => platform::service::start(),
        ServiceCmd::Stop => platform::service::stop(),
        ServiceCmd::Status => platform::service::status(),
        ServiceCmd::Run => {
            let body: platform::AgentBody = Box::new(move |shutdown| {
                service_body(state, &cfg_path, explicit, shutdown).map_err(|e| format!("{e:#}"))
            });
            platform::service::run_dispatcher(body).map_err(fail)?;
            return Ok(0);
        }
    }
    .map_err(fail)?;
    println!("{}", report.message);
    Ok(0)
}

/// The agent inside the service: like `run`, but waiting for enrollment instead of failing
/// (an MSI installed without a token starts the service before anyone enrolls the host).
fn service_body(
    state: StatePaths,
    cfg_path: &std::path::Path,
    explicit: bool,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let cfg = config::load(cfg_path, explicit)?;
    let rt = runtime().map_err(|f| f.err)?;
    rt.block_on(async move {
        let mut warned = false;
        while let Err(crate::state::StateError::NotEnrolled(_)) = state.load_identity() {
            if !warned {
                tracing::warn!(dir = %state.dir.display(), "Not enrolled yet; waiting for `vigil-agent enroll`.");
                warned = true;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "Vigil agent service started.");
        let r = crate::run::run(cfg, state, shutdown).await;
        tracing::info!("Vigil agent service stopped.");
        r
    })
}
