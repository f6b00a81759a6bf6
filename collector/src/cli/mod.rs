//! Command-line interface of `vigil-collector` (DESIGN §8).
//!
//! Exit codes: 0 ok, 2 usage or configuration error, 3 runtime error. Human output goes to
//! stdout, diagnostics to stderr; `--json` prints one stable JSON object (docs/cli-json.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config};
use crate::store::Store;

mod agency;
mod agents;
mod alerts;
mod backup;
mod ca;
pub mod demo;
mod exit;
mod export;
mod init;
mod ioc;
mod notify;
mod org;
mod policy;
mod query;
mod report;
pub(crate) mod term;
mod token;
mod upstream;
mod users;
mod vuln;

pub use agency::AgencyCmd;
pub use agents::AgentCmd;
pub use alerts::AlertsCmd;
pub use ca::CaCmd;
pub use exit::{Failure, RUNTIME, USAGE};
pub use export::ExportCmd;
#[cfg(test)]
pub(crate) use init::init_for_test;
pub use init::{InitArgs, init};
pub use ioc::IocCmd;
pub use org::{AssetsCmd, HostCmd};
pub use policy::PolicyCmd;
pub use query::QueryCmd;
pub use token::TokenCmd;
pub use upstream::UpstreamCmd;
pub use users::{ApiTokenCmd, UserCmd};

use term::{errln, outln};

/// Vigil collector: enrolls agents, stores their findings, scores hosts and agencies.
#[derive(Debug, Parser)]
#[command(name = "vigil-collector", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log filter (e.g. `info`, `vigil_collector=debug`); also from VIGIL_LOG.
    #[arg(long, global = true, env = "VIGIL_LOG", default_value = "info")]
    pub log: String,
    /// Command.
    #[command(subcommand)]
    pub cmd: Command,
}

/// Where the collector keeps its state.
#[derive(Debug, Clone, Args)]
pub struct DirArgs {
    /// Data directory (CA, database, collector.toml).
    #[arg(long, env = "VIGIL_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Config file; its directory is the data directory.
    #[arg(long, value_name = "FILE", conflicts_with = "data_dir")]
    pub config: Option<PathBuf>,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory: collector CA, server certificate, database, collector.toml.
    Init(InitArgs),
    /// Run the collector (QUIC ingest and HTTP) until SIGINT/SIGTERM.
    Run(DirArgs),
    /// Manage the organisation tree.
    #[command(subcommand)]
    Agency(AgencyCmd),
    /// Manage enrollment tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Federation: enroll to a collector above this one, federation tokens, link status.
    #[command(subcommand)]
    Upstream(UpstreamCmd),
    /// SIEM export: the outputs' state.
    #[command(subcommand)]
    Export(ExportCmd),
    /// Manage enrolled agents.
    #[command(subcommand)]
    Agent(AgentCmd),
    /// List enrolled hosts with last contact and inventory.
    Hosts {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"hosts": [...]}`.
        #[arg(long)]
        json: bool,
        /// Include revoked and replaced identities.
        #[arg(long)]
        all: bool,
    },
    /// List stored findings, newest first.
    Findings {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Only this agent id.
        #[arg(long)]
        host: Option<String>,
        /// Only this kind.
        #[arg(long, value_parser = ["check", "file", "registry", "net", "inventory", "health"])]
        kind: Option<String>,
        /// Only received within this duration (e.g. `1h`) or since this Unix time in seconds.
        #[arg(long)]
        since: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print `{"findings": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// List sequence gaps: findings an agent numbered but the collector never received.
    Gaps {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Only this agent id.
        #[arg(long)]
        host: Option<String>,
        /// Print `{"gaps": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Check a config file and exit 0 (valid) or 2 (every problem listed).
    Validate {
        /// The collector.toml to check.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run everything on this machine: collector on SQLite plus a local agent (and with
    /// --province a simulated province around it); prints the URL.
    Demo(DemoArgs),
    /// Alerts: list, acknowledge, resolve (a reason is required), mark false positive.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Indicators of compromise pushed to agents.
    #[command(subcommand)]
    Ioc(IocCmd),
    /// Central policies: rule packs and agent settings pushed to agency subtrees, signed.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Questions across all hosts.
    #[command(subcommand)]
    Query(QueryCmd),
    /// Vulnerability advisories (OSV): import, list imports.
    #[command(subcommand)]
    Vuln(vuln::VulnCmd),
    /// Host and agency scores (DESIGN §6), the province ranking and "why not 100".
    ///
    /// Computed now from what the store holds, with the collector's `[scoring]` configuration.
    /// A is the score over each host's own results, A_COMMON over the baseline every level
    /// shares (used for the ranking), A_LEVEL against the agency's required level; agencies
    /// count every registered asset, and an asset without an agent scores 0.
    Score {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Only this agency and its subtree; also lists its hosts and what costs it points.
        #[arg(long, value_name = "PATH")]
        agency: Option<String>,
        /// With --agency: the stored history of its score since this long ago (e.g. `30d`)
        /// or this Unix time.
        #[arg(long, requires = "agency")]
        since: Option<String>,
        /// Print one JSON object (`agencies`, `ranking`, `not_ranked`, `hosts`, `history`).
        #[arg(long)]
        json: bool,
    },
    /// Posture report of the province or of one agency for a period, as HTML, PDF or CSV
    /// (docs/reports.md); prints the path of the file written.
    Report(ReportArgs),
    /// Set a host's role and security level (they choose its weight in the agency score).
    #[command(subcommand)]
    Host(HostCmd),
    /// Registered assets: the agency's machines, with or without an agent.
    #[command(subcommand)]
    Assets(AssetsCmd),
    /// Console and API users (argon2 password hashes; roles admin, analyst, viewer).
    #[command(subcommand)]
    User(UserCmd),
    /// API tokens for scripts, acting as a user.
    #[command(subcommand)]
    ApiToken(ApiTokenCmd),
    /// The collector's certificate authority.
    #[command(subcommand)]
    Ca(CaCmd),
    /// Notifications: the queue as persisted, and a test message (docs/notifications.md).
    #[command(subcommand)]
    Notify(notify::NotifyCmd),
    /// Archive the data directory and its SQLite database, online (docs/operations.md).
    Backup(backup::BackupArgs),
    /// Restore a backup archive into a new data directory.
    Restore(backup::RestoreArgs),
}

/// `report` arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Data directory or config file.
    #[command(flatten)]
    pub dir: DirArgs,
    /// Only this agency and its subtree (default: the whole province).
    #[arg(long, value_name = "PATH")]
    pub agency: Option<String>,
    /// First day of the period (Vietnam time).
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "period")]
    pub from: Option<String>,
    /// Last day of the period (default: today).
    #[arg(
        long,
        value_name = "YYYY-MM-DD",
        requires = "from",
        conflicts_with = "period"
    )]
    pub to: Option<String>,
    /// A calendar month (default: the last full month).
    #[arg(long, value_name = "YYYY-MM")]
    pub period: Option<String>,
    /// Output format.
    #[arg(long, value_parser = ["html", "pdf", "csv"], default_value = "pdf")]
    pub format: String,
    /// Language of the labels.
    #[arg(long, value_parser = ["vi", "en"], default_value = "vi")]
    pub lang: String,
    /// Output file (`-` for standard output; default: a name from the scope and period in the
    /// current directory).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data directory (reused when it exists).
    #[arg(long, default_value = "vigil-demo")]
    pub data_dir: PathBuf,
    /// QUIC address.
    #[arg(long, default_value = "127.0.0.1:4433")]
    pub quic: SocketAddr,
    /// HTTP address.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub http: SocketAddr,
    /// The vigil-agent binary (default: next to this binary, then PATH).
    #[arg(long)]
    pub agent_bin: Option<PathBuf>,
    /// Also run a simulated province: twelve agencies with 5–40 simulated hosts each (real
    /// agents' uplinks, enrolled with simulation tokens and marked as simulated everywhere),
    /// machines registered without an agent, 90 days of score history computed by the
    /// collector's own scoring, and today's alerts. Built once in `<data dir>/province`.
    #[arg(long)]
    pub province: bool,
}

/// Parses arguments, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.cmd {
        // A simulated province is hundreds of agents in this process: their sessions, spools
        // and enrollments would drown the log unless the user asked for them.
        Command::Demo(d) if d.province && cli.log == "info" => {
            init_tracing(
                "info,vigil_agent=warn,vigil_collector::enroll=warn,vigil_collector::server=warn",
            );
        }
        _ => init_tracing(&cli.log),
    }
    match dispatch(cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // Multi-line errors (every problem of a config) keep their lines; each is escaped.
            let text = format!("error: {}", vigil_proto::error_chain(f.err.as_ref()));
            for line in text.split('\n') {
                errln!("{line}");
            }
            ExitCode::from(f.code)
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn load(dir: &DirArgs) -> Result<Config, Failure> {
    Ok(config::load(
        dir.data_dir.as_deref(),
        dir.config.as_deref(),
    )?)
}

/// Opens the configured store ([`crate::app::open_store`]); a failure is a runtime error.
pub(crate) fn open_store(cfg: &Config) -> Result<Arc<dyn Store>, Failure> {
    Ok(crate::app::open_store(cfg)?)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?)
}

fn now_s() -> i64 {
    crate::clock::now_ms() / 1000
}

fn dispatch(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Init(a) => init::init(&a).map(|_| ()),
        Command::Run(dir) => {
            let cfg = load(&dir)?;
            Ok(runtime()?.block_on(crate::app::run(cfg, None))?)
        }
        Command::Agency(c) => agency::run(c),
        Command::Token(c) => token::run(c),
        Command::Upstream(c) => upstream::run(c),
        Command::Export(c) => export::run(c),
        Command::Agent(c) => agents::run(c),
        Command::Hosts { dir, json, all } => query::hosts(&dir, json, all),
        Command::Findings {
            dir,
            host,
            kind,
            since,
            limit,
            json,
        } => query::findings(&dir, host, kind, since, limit, json),
        Command::Gaps { dir, host, json } => query::gaps(&dir, host.as_deref(), json),
        Command::Query(c) => query::run(c),
        Command::Vuln(c) => vuln::run(c),
        Command::Score {
            dir,
            agency,
            since,
            json,
        } => org::score(&dir, agency.as_deref(), since.as_deref(), json),
        Command::Report(a) => report::report(&a),
        Command::Host(c) => org::run_host(c),
        Command::Assets(c) => org::run_assets(c),
        Command::User(c) => users::run_user(c),
        Command::ApiToken(c) => users::run_api_token(c),
        Command::Ca(c) => ca::run(c),
        Command::Backup(a) => backup::backup(&a),
        Command::Restore(a) => backup::restore(&a),
        Command::Alerts(c) => alerts::run(c),
        Command::Ioc(c) => ioc::run(c),
        Command::Policy(c) => policy::run(c),
        Command::Notify(c) => notify::run(c),
        Command::Validate { config } => {
            config::load(None, Some(&config))?;
            outln!("{}: ok", config.display());
            Ok(())
        }
        Command::Demo(a) => demo::run(a),
    }
}

fn validate_agency_id(id: &str) -> Result<(), Failure> {
    if crate::assets::valid_agency_path(id) {
        Ok(())
    } else {
        Err(Failure::usage(anyhow::anyhow!(
            "--id {id:?}: expected a path of lowercase segments separated by '/', e.g. tinh-nghe-an/xa-nghi-loc"
        )))
    }
}

fn parse_since(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs.saturating_mul(1000));
    }
    let d = vigil_proto::units::parse_duration(s)?;
    Ok(crate::clock::now_ms() - i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn fmt_time(unix: i64) -> String {
    if unix == 0 {
        return "never".into();
    }
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn postgres_backend_is_opened_and_its_errors_hide_the_password() {
        let raw: config::RawConfig = toml::from_str(
            "[store]\nbackend = \"postgres\"\nurl = \"postgres://u:secret@127.0.0.1:1/x?connect_timeout=2\"\n",
        )
        .expect("toml");
        let cfg = raw
            .validate(Path::new("/d"), Path::new("/d/collector.toml"))
            .expect("valid");
        let Err(f) = open_store(&cfg) else {
            panic!("nothing listens on port 1")
        };
        let msg = format!("{:#}", f.err);
        assert_eq!(f.code, 3, "a runtime error, not a usage error: {msg}");
        assert!(
            msg.contains("PostgreSQL") && msg.contains("127.0.0.1"),
            "{msg}"
        );
        assert!(!msg.contains("secret"), "{msg}");
    }
}
