//! `vigil-collector demo`: a collector on SQLite plus one local agent, on this machine; with
//! `--province`, a simulated province around them ([`simulate`]).
//!
//! Reuses its data directory, so running it twice keeps the same CA, agent identity and
//! province.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{oneshot, watch};

use crate::app;
use crate::cli::term::{errln, outln};
use crate::cli::{self, DemoArgs, Failure, InitArgs};
use crate::config;
use crate::pki::{Ca, PkiPaths};
use crate::store::{Agency, Store};

mod events;
mod province;
mod simulate;

/// Agency of the real local agent.
const LOCAL_AGENCY: &str = "demo/so-khcn";

/// Runs the demo until Ctrl-C or SIGTERM.
///
/// # Errors
/// When the collector cannot start, the agent binary cannot be found or enrolled, or the
/// province cannot be built.
pub fn run(a: DemoArgs) -> Result<(), Failure> {
    // Before any thread starts: hundreds of simulated agents allocate on every worker, and
    // glibc's default of eight arenas per core would keep what each one freed.
    vigil_agent::mem::limit_malloc_arenas();
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
    let store = cli::open_store(&cfg)?;
    ensure_agency(&*store, province::ROOT, "Tỉnh Demo", 2)?;
    ensure_agency(&*store, LOCAL_AGENCY, "Sở Khoa học và Công nghệ", 3)?;
    let login = demo_login(&cfg, &*store)?;
    let agent_bin = find_agent(a.agent_bin)?;
    let state_dir = std::fs::canonicalize(&cfg.data_dir)?.join("agent");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    let out = rt.block_on(serve(cfg, store, a.province, agent_bin, state_dir, login));
    // A province still being built when a signal came stops at its next step; do not wait.
    rt.shutdown_timeout(Duration::from_secs(2));
    out
}

async fn serve(
    cfg: config::Config,
    store: std::sync::Arc<dyn Store>,
    with_province: bool,
    agent_bin: PathBuf,
    state_dir: PathBuf,
    login: String,
) -> Result<(), Failure> {
    let (sd_tx, sd_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = oneshot::channel();
    let (c, rx) = (cfg.clone(), sd_rx.clone());
    let server =
        tokio::spawn(async move { Ok::<(), Failure>(app::serve(c, Some(ready_tx), rx).await?) });
    let (quic, http) = match ready_rx.await {
        Ok(addrs) => addrs,
        Err(_) => return server.await.context("collector task")?,
    };
    let stop = |e: Failure| {
        let _ = sd_tx.send(true);
        e
    };
    let mut agent = local_agent(&cfg, &*store, &agent_bin, &state_dir)
        .await
        .map_err(stop)?;
    let province = if with_province {
        let (cfg, store, rx) = (cfg.clone(), store.clone(), sd_rx.clone());
        let rt = tokio::runtime::Handle::current();
        let build = tokio::task::spawn_blocking(move || simulate::start(&cfg, &*store, &rt, &rx));
        tokio::select! {
            r = build => Some(r.context("province task").and_then(|r| r).map_err(|e| stop(e.into()))?),
            _ = app::wait_for_signal() => {
                errln!("stopping before the province was complete");
                let _ = sd_tx.send(true);
                let _ = agent.start_kill();
                let _ = agent.wait().await;
                return server.await.context("collector task")?;
            }
        }
    } else {
        None
    };
    outln!();
    match &province {
        Some(p) => outln!(
            "Vigil demo is running: collector on QUIC {quic}, one local agent and a simulated \
             province of {} hosts.",
            p.hosts
        ),
        None => outln!("Vigil demo is running: collector on QUIC {quic}, one local agent."),
    }
    outln!("Dashboard: {}", app::console_url(&cfg, http));
    outln!("  log in as admin / {login}");
    if cfg.http_tls.is_some() {
        outln!(
            "  (HTTPS with the collector's own CA: `vigil-collector ca export --data-dir {}` gives the certificate to trust)",
            cfg.data_dir.display()
        );
    }
    outln!("Press Ctrl-C to stop.");
    tokio::select! {
        _ = app::wait_for_signal() => {}
        st = agent.wait() => errln!("agent exited: {st:?}"),
    }
    let _ = agent.start_kill();
    let _ = agent.wait().await;
    let _ = sd_tx.send(true);
    for t in province.into_iter().flat_map(|p| p.tasks) {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    server.await.context("collector task")?
}

/// Enrolls the real local agent on the first run, then starts it (killed with the demo).
async fn local_agent(
    cfg: &config::Config,
    store: &dyn Store,
    agent_bin: &std::path::Path,
    state_dir: &std::path::Path,
) -> Result<tokio::process::Child, Failure> {
    if !state_dir.join("identity.json").exists() {
        let token = token(cfg, store, LOCAL_AGENCY)?;
        errln!(
            "enrolling the local agent (state in {})",
            state_dir.display()
        );
        let st = tokio::process::Command::new(agent_bin)
            .args(["enroll", "--token", &token, "--state-dir"])
            .arg(state_dir)
            .status()
            .await
            .with_context(|| format!("running {}", agent_bin.display()))?;
        if !st.success() {
            return Err(Failure::from(anyhow::anyhow!(
                "agent enrollment failed ({st})"
            )));
        }
    }
    Ok(tokio::process::Command::new(agent_bin)
        .args(["run", "--state-dir"])
        .arg(state_dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", agent_bin.display()))?)
}

/// A one-use token for `agency`.
fn token(cfg: &config::Config, store: &dyn Store, agency: &str) -> Result<String, Failure> {
    let ca = Ca::load(&PkiPaths::new(&cfg.data_dir))?;
    let (text, _) = crate::enroll::create_token(
        store,
        &ca,
        agency,
        Duration::from_secs(3600),
        1,
        cfg.advertise.clone(),
        crate::clock::now_ms() / 1000,
    )
    .map_err(|e| Failure::from(anyhow::anyhow!(e)))?;
    Ok(text)
}

/// Adds an agency if missing.
fn ensure_agency(store: &dyn Store, id: &str, name: &str, level: u8) -> anyhow::Result<()> {
    if store.agency(id)?.is_none() {
        store.agency_add(&Agency {
            id: id.into(),
            name: name.into(),
            level,
        })?;
    }
    Ok(())
}

/// The demo's console user `admin`: created with a random password on the first run, which is
/// kept (0600) in the data directory so later runs can print it again.
fn demo_login(cfg: &config::Config, store: &dyn Store) -> Result<String, Failure> {
    let file = cfg.data_dir.join("demo-admin-password");
    if let Ok(p) = std::fs::read_to_string(&file) {
        return Ok(p.trim().to_owned());
    }
    let password = crate::auth::new_secret()[..20].to_owned();
    let now = crate::clock::now_ms() / 1000;
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
