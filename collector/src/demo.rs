//! `vigil-collector demo`: a collector on SQLite plus one local agent, on this machine.
//!
//! Reuses its data directory, so running it twice keeps the same CA and agent identity.

use crate::cli::term::{errln, outln};
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context as _;
use tokio::sync::{oneshot, watch};

use crate::cli::{self, DemoArgs, Failure, InitArgs};
use crate::config;

/// Runs the demo until Ctrl-C.
///
/// # Errors
/// When the collector cannot start or the agent binary cannot be found or enrolled.
pub fn run(a: DemoArgs) -> Result<(), Failure> {
    let cfg = if a.data_dir.join(config::CONFIG_FILE).exists() {
        errln!("reusing {}", a.data_dir.display());
        config::load(Some(&a.data_dir), None)?
    } else {
        cli::init(&InitArgs {
            data_dir: a.data_dir.clone(),
            quic: a.quic,
            http: a.http,
            // A browser does not trust the collector's private CA; the demo's console is plain
            // HTTP on loopback (a secure context for browsers, so the Secure cookie works).
            plain_http: a.http.ip().is_loopback(),
            names: vec![],
            advertise: vec![a.quic.to_string()],
            org: "Tỉnh Demo".into(),
        })?
    };
    cli::ensure_agency(&cfg, "demo", "Tỉnh Demo", 2)?;
    cli::ensure_agency(&cfg, "demo/so-khcn", "Sở Khoa học và Công nghệ", 2)?;
    let login = demo_login(&cfg)?;
    let agent_bin = find_agent(a.agent_bin)?;
    let state_dir = std::fs::canonicalize(&cfg.data_dir)?.join("agent");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    rt.block_on(async move {
        let (sd_tx, sd_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let server = tokio::spawn(cli::serve(cfg.clone(), Some(ready_tx), sd_rx));
        let (quic, http) = match ready_rx.await {
            Ok(addrs) => addrs,
            Err(_) => return server.await.context("collector task")?,
        };
        if !state_dir.join("identity.json").exists() {
            let token = cli::demo_token(&cfg, "demo/so-khcn")?;
            errln!(
                "enrolling the local agent (state in {})",
                state_dir.display()
            );
            let st = tokio::process::Command::new(&agent_bin)
                .args(["enroll", "--token", &token, "--state-dir"])
                .arg(&state_dir)
                .status()
                .await
                .with_context(|| format!("running {}", agent_bin.display()))?;
            if !st.success() {
                let _ = sd_tx.send(true);
                return Err(Failure::from(anyhow::anyhow!(
                    "agent enrollment failed ({st})"
                )));
            }
        }
        let mut agent = tokio::process::Command::new(&agent_bin)
            .args(["run", "--state-dir"])
            .arg(&state_dir)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", agent_bin.display()))?;
        outln!();
        outln!("Vigil demo is running: collector on QUIC {quic}, one local agent.");
        outln!("Dashboard: {}", cli::console_url(&cfg, http));
        outln!("  log in as admin / {login}");
        if cfg.http_tls.is_some() {
            outln!(
                "  (HTTPS with the collector's own CA: `vigil-collector ca export --data-dir {}` gives the certificate to trust)",
                cfg.data_dir.display()
            );
        }
        outln!("Press Ctrl-C to stop.");
        tokio::select! {
            _ = cli::wait_for_signal() => {}
            st = agent.wait() => errln!("agent exited: {st:?}"),
        }
        let _ = agent.start_kill();
        let _ = agent.wait().await;
        let _ = sd_tx.send(true);
        server.await.context("collector task")?
    })
}

/// The demo's console user `admin`: created with a random password on the first run, which is
/// kept (0600) in the data directory so later runs can print it again.
fn demo_login(cfg: &config::Config) -> Result<String, Failure> {
    let file = cfg.data_dir.join("demo-admin-password");
    if let Ok(p) = std::fs::read_to_string(&file) {
        return Ok(p.trim().to_owned());
    }
    let password = crate::auth::new_secret()[..20].to_owned();
    let store = cli::open_store(cfg)?;
    let now = crate::server::now_ms() / 1000;
    let admin = crate::auth::new_user("admin", crate::store::UserRole::Admin, "", &password, now)?;
    store.user_add(&admin, "demo", now)?;
    crate::fsutil::write_private(&file, format!("{password}\n").as_bytes())
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(password)
}

fn find_agent(explicit: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    if let Some(sib) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("vigil-agent")))
        && sib.is_file()
    {
        return Ok(sib);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            let p = d.join("vigil-agent");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(Failure::from(anyhow::anyhow!(
        "vigil-agent not found next to vigil-collector or on PATH; build it or pass --agent-bin"
    )))
}
