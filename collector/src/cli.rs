//! Command-line interface of `vigil-collector` (DESIGN §8).
//!
//! Exit codes: 0 ok, 2 usage or configuration error, 3 runtime error. Human output goes to
//! stdout, diagnostics to stderr; `--json` prints one stable JSON object (docs/cli-json.md).

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tokio::sync::watch;
use tracing::info;

use crate::config::{self, CONFIG_FILE, Config, ConfigError, StoreConfig};
use crate::fsutil::{create_private_dir, write_private};
use crate::pki::{self, Ca, PkiPaths, ServerNames};
use crate::store::{Agency, FindingFilter, PostgresStore, SqliteStore, Store};
use crate::{enroll, http, server, views};

mod agents;
mod org;
mod report;
pub(crate) mod term;
mod users;
mod vuln;

use term::{errln, outln, wline};

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
}

/// `ca` subcommands.
#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// Print the CA certificate (PEM) on stdout, or write it to --out: install it in browsers
    /// to trust the console's HTTPS certificate. Its SHA-256 goes to stderr for checking.
    Export {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Write the certificate to this file (0644) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
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

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user. The password is prompted for (without echo) or read from standard input with
    /// --password-stdin; it is never given on the command line.
    Add {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Login name (a-z, 0-9, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// Role: admin (everything), analyst (acts on alerts), viewer (reads).
        #[arg(long, value_parser = ["admin", "analyst", "viewer"])]
        role: String,
        /// Agency subtree the user sees and acts on (default: the whole organisation).
        #[arg(long, value_name = "PATH")]
        scope: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users (never their password hashes).
    List {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"users": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they cannot log in, their sessions end and their API tokens stop working.
    Disable {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Login name.
        #[arg(long)]
        name: String,
    },
}

/// `api-token` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApiTokenCmd {
    /// Create a token acting as USER; prints it once on stdout (only its hash is stored).
    Create {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// The user the token acts as.
        #[arg(long, value_name = "USER")]
        user: String,
    },
    /// List API tokens (ids, users, creation, revoked); never the tokens themselves.
    List {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Only the tokens of this user.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Print `{"api_tokens": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API token by id: it stops authenticating at once.
    Revoke {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Token id from `api-token list`.
        #[arg(long)]
        id: String,
    },
}

/// `host` subcommands.
#[derive(Debug, Subcommand)]
pub enum HostCmd {
    /// Change a host's role and/or security level (audited).
    Set {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Agent id (see `hosts`).
        #[arg(long)]
        id: String,
        /// Role.
        #[arg(long, value_parser = ["workstation", "server"])]
        role: Option<String>,
        /// Security level of the host's system (1–5).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
        level: Option<u8>,
    },
}

/// `assets` subcommands.
#[derive(Debug, Subcommand)]
pub enum AssetsCmd {
    /// Import a CSV with the header `agency,hostname,role,level` (any order, other columns
    /// ignored). All or nothing: any bad line rejects the whole file. Agents are matched to
    /// assets of their agency by host name.
    Import {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// The CSV file.
        file: PathBuf,
        /// Check the file and report, without importing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List registered assets.
    List {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"assets": [...]}`.
        #[arg(long)]
        json: bool,
    },
}

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

/// `ioc` subcommands.
#[derive(Debug, Subcommand)]
pub enum IocCmd {
    /// Import a plain list (one IP, CIDR, domain, SHA-256 or MD5 per line) or a CSV with a header
    /// (type,value,source,expires). All or nothing: any bad line rejects the whole file.
    Import {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// The file.
        file: PathBuf,
        /// Source for lines without one (default: the file name).
        #[arg(long)]
        source: Option<String>,
        /// Expiry for lines without one: RFC 3339 date/time or Unix seconds.
        #[arg(long)]
        expires: Option<String>,
    },
}

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

/// `init` arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Data directory to create.
    #[arg(long, env = "VIGIL_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// QUIC listen address for agents.
    #[arg(long, default_value = "0.0.0.0:4433")]
    pub quic: SocketAddr,
    /// HTTPS listen address for the console (with --plain-http: plain HTTP, loopback only).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub http: SocketAddr,
    /// Serve the console over plain HTTP (`[http] tls = false`); allowed on loopback only.
    #[arg(long)]
    pub plain_http: bool,
    /// DNS name or IP agents use for this collector (repeatable); goes into the server cert.
    #[arg(long = "name", value_name = "HOST")]
    pub names: Vec<String>,
    /// Address written into tokens (`host:port`, repeatable); default: each --name with the QUIC port.
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Vec<String>,
    /// Organisation name for certificates and the console.
    #[arg(long, default_value = "Vigil")]
    pub org: String,
}

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

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token; prints it on stdout (shown once: only its hash is stored).
    Create {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Agency the enrolled agents belong to.
        #[arg(long)]
        agency: String,
        /// Lifetime.
        #[arg(long, default_value = "24h")]
        ttl: String,
        /// How many hosts may enroll with it.
        #[arg(long, default_value_t = 50)]
        uses: u32,
        /// Collector address to put in the token (repeatable); default: `quic.advertise`.
        #[arg(long, value_name = "HOST:PORT")]
        collector: Vec<String>,
    },
    /// List tokens (ids, agency, expiry, uses).
    List {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"tokens": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Token id from `token list`.
        #[arg(long)]
        id: String,
    },
}

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

/// An error with its exit code.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    err: anyhow::Error,
}

impl Failure {
    fn usage(err: impl Into<anyhow::Error>) -> Self {
        Self {
            code: 2,
            err: err.into(),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let err = e.into();
        let code = if err.downcast_ref::<ConfigError>().is_some() {
            2
        } else {
            3
        };
        Self { code, err }
    }
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

pub(crate) fn open_store(cfg: &Config) -> Result<Arc<dyn Store>, Failure> {
    match &cfg.store {
        StoreConfig::Sqlite(p) => Ok(Arc::new(
            SqliteStore::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        // The error never shows the URL: it may carry a password.
        StoreConfig::Postgres(url) => Ok(Arc::new(
            PostgresStore::open(url).context("opening the PostgreSQL store (store.url)")?,
        )),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?)
}

fn now_s() -> i64 {
    server::now_ms() / 1000
}

fn dispatch(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Init(a) => init(&a).map(|_| ()),
        Command::Run(dir) => {
            let cfg = load(&dir)?;
            runtime()?.block_on(run(cfg, None))
        }
        Command::Agency(AgencyCmd::Add {
            dir,
            id,
            name,
            level,
        }) => {
            validate_agency_id(&id)?;
            let cfg = load(&dir)?;
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
        Command::Agency(AgencyCmd::Move { dir, id, to }) => org::agency_move(&dir, &id, &to),
        Command::Agency(AgencyCmd::Rename { dir, id, name }) => {
            org::agency_rename(&dir, &id, &name)
        }
        Command::Agency(AgencyCmd::Dissolve { dir, id }) => org::agency_dissolve(&dir, &id),
        Command::Score {
            dir,
            agency,
            since,
            json,
        } => org::score(&dir, agency.as_deref(), since.as_deref(), json),
        Command::Report(a) => report::report(&a),
        Command::Host(HostCmd::Set {
            dir,
            id,
            role,
            level,
        }) => org::host_set(&dir, &id, role.as_deref(), level),
        Command::Assets(AssetsCmd::Import { dir, file, dry_run }) => {
            org::assets_import(&dir, &file, dry_run)
        }
        Command::Assets(AssetsCmd::List { dir, json }) => org::assets_list(&dir, json),
        Command::User(UserCmd::Add {
            dir,
            name,
            role,
            scope,
            password_stdin,
        }) => users::user_add(
            &dir,
            &name,
            &role,
            scope.as_deref(),
            users::password_source(password_stdin),
        ),
        Command::User(UserCmd::List { dir, json }) => users::user_list(&dir, json),
        Command::User(UserCmd::Disable { dir, name }) => users::user_disable(&dir, &name),
        Command::ApiToken(ApiTokenCmd::Create { dir, user }) => {
            users::api_token_create(&dir, &user)
        }
        Command::ApiToken(ApiTokenCmd::List { dir, user, json }) => {
            users::api_token_list(&dir, user.as_deref(), json)
        }
        Command::ApiToken(ApiTokenCmd::Revoke { dir, id }) => users::api_token_revoke(&dir, &id),
        Command::Ca(CaCmd::Export { dir, out }) => ca_export(&dir, out.as_deref()),
        Command::Alerts(AlertsCmd::Assign { dir, id, to, .. }) => {
            org::alert_assign(&dir, id, to.as_deref())
        }
        Command::Agency(AgencyCmd::List { dir, json }) => {
            let store = open_store(&load(&dir)?)?;
            let all = store.agencies()?;
            if json {
                println!("{}", term::json(&serde_json::json!({ "agencies": all })));
            } else {
                for a in all {
                    outln!("{:<40} level {}  {}", a.id, a.level, a.name);
                }
            }
            Ok(())
        }
        Command::Token(TokenCmd::Create {
            dir,
            agency,
            ttl,
            uses,
            collector,
        }) => {
            let cfg = load(&dir)?;
            let ttl = vigil_proto::units::parse_duration(&ttl)
                .map_err(|e| Failure::usage(anyhow::anyhow!("--ttl: {e}")))?;
            let store = open_store(&cfg)?;
            let ca = Ca::load(&PkiPaths::new(&cfg.data_dir))?;
            let addrs = if collector.is_empty() {
                cfg.advertise.clone()
            } else {
                collector
            };
            let (text, rec) =
                enroll::create_token(&*store, &ca, &agency, ttl, uses, addrs.clone(), now_s())
                    .map_err(|e| match e {
                        enroll::TokenCreateError::Store(s) => Failure::from(s),
                        other => Failure::usage(other),
                    })?;
            store.audit("cli", "token.create", &serde_json::json!({"id": rec.id, "agency": agency, "uses": uses, "expires_at": rec.expires_at}), now_s())?;
            errln!(
                "token {} for agency {agency}: {uses} use(s), expires in {}, collector {}",
                rec.id,
                humanize(ttl),
                addrs.join(", ")
            );
            outln!("{text}");
            Ok(())
        }
        Command::Token(TokenCmd::List { dir, json }) => {
            let store = open_store(&load(&dir)?)?;
            let all = store.tokens()?;
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|t| serde_json::json!({"id": t.id, "agency": t.agency, "created_at": t.created_at, "expires_at": t.expires_at, "max_uses": t.max_uses, "uses": t.uses, "revoked": t.revoked}))
                    .collect();
                println!("{}", term::json(&serde_json::json!({ "tokens": rows })));
            } else {
                let now = now_s();
                for t in all {
                    let state = if t.revoked {
                        "revoked"
                    } else if now >= t.expires_at {
                        "expired"
                    } else if t.uses >= t.max_uses {
                        "used up"
                    } else {
                        "active"
                    };
                    outln!(
                        "{}  {:<30} {}/{} uses  {state}",
                        t.id,
                        t.agency,
                        t.uses,
                        t.max_uses
                    );
                }
            }
            Ok(())
        }
        Command::Token(TokenCmd::Revoke { dir, id }) => {
            let store = open_store(&load(&dir)?)?;
            if !store.token_revoke(&id)? {
                return Err(Failure::usage(anyhow::anyhow!(
                    "no token with id {id:?} (see `token list`)"
                )));
            }
            store.audit(
                "cli",
                "token.revoke",
                &serde_json::json!({"id": id}),
                now_s(),
            )?;
            outln!("revoked token {id}");
            Ok(())
        }
        Command::Agent(AgentCmd::Revoke { dir, id }) => agents::revoke(&dir, &id),
        Command::Agent(AgentCmd::Move { dir, id, agency }) => agents::move_to(&dir, &id, &agency),
        Command::Hosts { dir, json, all } => {
            let cfg = load(&dir)?;
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
        Command::Findings {
            dir,
            host,
            kind,
            since,
            limit,
            json,
        } => {
            let store = open_store(&load(&dir)?)?;
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
        Command::Gaps { dir, host, json } => {
            let store = open_store(&load(&dir)?)?;
            let gaps = store.gaps(host.as_deref())?;
            if json {
                println!("{}", term::json(&serde_json::json!({ "gaps": gaps })));
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
        Command::Validate { config } => {
            config::load(None, Some(&config))?;
            outln!("{}: ok", config.display());
            Ok(())
        }
        Command::Demo(a) => crate::demo::run(a),
        Command::Alerts(AlertsCmd::List { dir, state, json }) => {
            let store = open_store(&load(&dir)?)?;
            let alerts =
                store.alerts(state.as_deref().and_then(crate::store::AlertState::parse))?;
            if json {
                println!("{}", term::json(&serde_json::json!({ "alerts": alerts })));
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
        Command::Alerts(AlertsCmd::Ack { dir, id }) => {
            set_alert(&dir, id, crate::store::AlertState::Acknowledged, None)
        }
        Command::Alerts(AlertsCmd::Resolve { dir, id, reason }) => {
            set_alert(&dir, id, crate::store::AlertState::Resolved, Some(&reason))
        }
        Command::Alerts(AlertsCmd::FalsePositive { dir, id, reason }) => set_alert(
            &dir,
            id,
            crate::store::AlertState::FalsePositive,
            Some(&reason),
        ),
        Command::Ioc(IocCmd::Import {
            dir,
            file,
            source,
            expires,
        }) => {
            let cfg = load(&dir)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let expires_at = match expires.as_deref().map(crate::ioc::parse_expiry) {
                None => 0,
                Some(Ok(t)) => t,
                Some(Err(e)) => return Err(Failure::usage(anyhow::anyhow!("--expires: {e}"))),
            };
            let source = source.unwrap_or_else(|| {
                file.file_name()
                    .map_or_else(|| "import".into(), |n| n.to_string_lossy().into_owned())
            });
            let defaults = crate::ioc::ImportDefaults { source, expires_at };
            let list = crate::ioc::parse_import(&text, &defaults).map_err(|e| {
                Failure::usage(anyhow::anyhow!(
                    "{}: nothing imported:\n{}",
                    file.display(),
                    e.0.join("\n")
                ))
            })?;
            let store = open_store(&cfg)?;
            let before = store.ioc_version()?;
            let version = store.ioc_import(&list)?;
            store.audit("cli", "ioc.import", &serde_json::json!({"file": file.display().to_string(), "indicators": list.len(), "version": version}), now_s())?;
            outln!(
                "imported {} indicators from {} (IOC version {before} -> {version}); running collectors push them to agents within seconds",
                list.len(),
                file.display()
            );
            Ok(())
        }
        Command::Vuln(cmd) => vuln::run(cmd),
        Command::Query(QueryCmd::Vulns {
            dir,
            cve,
            host,
            json,
        }) => vuln::query(&dir, cve, host, json),
        Command::Query(QueryCmd::Packages {
            dir,
            name,
            below,
            json,
        }) => {
            let store = open_store(&load(&dir)?)?;
            let rows = views::package_query(&*store, &name, below.as_deref())?;
            if json {
                println!("{}", term::json(&serde_json::json!({ "hosts": rows })));
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
    }
}

fn set_alert(
    dir: &DirArgs,
    id: i64,
    state: crate::store::AlertState,
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
        Err(crate::store::StoreError::Invalid(m)) => Err(Failure::usage(anyhow::anyhow!(m))),
        Err(e) => Err(e.into()),
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
    Ok(server::now_ms() - i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else {
        format!("{s}s")
    }
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

/// Creates a data directory. Returns the loaded config.
///
/// # Errors
/// When the directory is initialised already or files cannot be written.
pub fn init(a: &InitArgs) -> Result<Config, Failure> {
    let cfg_path = a.data_dir.join(CONFIG_FILE);
    if cfg_path.exists() {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} exists: {} is initialised already",
            cfg_path.display(),
            a.data_dir.display()
        )));
    }
    if a.plain_http && !a.http.ip().is_loopback() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--http {} with --plain-http: plain HTTP is allowed on a loopback address only \
             (leave out --plain-http to serve HTTPS)",
            a.http
        )));
    }
    create_private_dir(&a.data_dir)
        .with_context(|| format!("creating {}", a.data_dir.display()))?;
    create_private_dir(&a.data_dir.join("pki"))?;
    let mut names = ServerNames::default();
    let host = hostname();
    for n in a
        .names
        .iter()
        .chain(std::iter::once(&host))
        .chain(std::iter::once(&"localhost".to_string()))
    {
        match n.parse::<IpAddr>() {
            Ok(ip) => names.ips.push(ip),
            Err(_) if !n.is_empty() => names.dns.push(n.clone()),
            Err(_) => {}
        }
    }
    names.ips.extend([
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ]);
    // The one server certificate serves QUIC and the console's HTTPS.
    for ip in [a.quic.ip(), a.http.ip()] {
        if !ip.is_unspecified() {
            names.ips.push(ip);
        }
    }
    names.dns.dedup();
    names.ips.sort();
    names.ips.dedup();
    let advertise = if !a.advertise.is_empty() {
        a.advertise.clone()
    } else if !a.names.is_empty() {
        a.names
            .iter()
            .map(|n| join_host_port(n, a.quic.port()))
            .collect()
    } else if !a.quic.ip().is_unspecified() {
        vec![a.quic.to_string()]
    } else {
        vec![join_host_port(&host, a.quic.port())]
    };
    let ca = pki::init(&PkiPaths::new(&a.data_dir), &a.org, &names)?;
    let raw = config::RawConfig {
        name: Some(a.org.clone()),
        quic: config::RawQuic {
            listen: Some(a.quic.to_string()),
            advertise,
            max_new_connections_per_sec: None,
        },
        http: config::RawHttp {
            listen: Some(a.http.to_string()),
            tls: a.plain_http.then_some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    let text = format!(
        "# Vigil collector configuration (see docs/collector-config.md).\n{}",
        toml::to_string_pretty(&raw).context("writing config")?
    );
    write_private(&cfg_path, text.as_bytes())?;
    let cfg = config::load(Some(&a.data_dir), None)?;
    let store = open_store(&cfg)?;
    store.audit(
        "cli",
        "collector.init",
        &serde_json::json!({"ca_sha256": hex::encode(ca.fingerprint())}),
        now_s(),
    )?;
    outln!("initialised {}", a.data_dir.display());
    outln!(
        "  CA fingerprint (SHA-256): {}",
        hex::encode(ca.fingerprint())
    );
    let shown: Vec<String> = names
        .dns
        .iter()
        .cloned()
        .chain(names.ips.iter().map(IpAddr::to_string))
        .collect();
    outln!("  server certificate names: {}", shown.join(", "));
    outln!("  agents connect to: {}", cfg.advertise.join(", "));
    outln!("  console: {}", console_url(&cfg, cfg.http_listen));
    if cfg.http_tls.is_some() {
        outln!(
            "  browsers trust the console once they trust the CA: vigil-collector ca export --data-dir {} --out vigil-ca.pem",
            a.data_dir.display()
        );
    }
    outln!(
        "next: vigil-collector agency add --data-dir {} --id <path> --name <name>",
        a.data_dir.display()
    );
    Ok(cfg)
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Runs the collector until a signal (or `shutdown_tx` from a caller such as `demo`).
///
/// `ready` receives the bound QUIC and HTTP addresses once both listen.
///
/// # Errors
/// When binding or the store fails.
pub async fn run(
    cfg: Config,
    ready: Option<tokio::sync::oneshot::Sender<(SocketAddr, SocketAddr)>>,
) -> Result<(), Failure> {
    let (tx, rx) = watch::channel(false);
    let sig_tx = tx.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("Signal received; shutting down.");
        let _ = sig_tx.send(true);
    });
    serve(cfg, ready, rx).await
}

/// Like [`run`], with an external shutdown switch.
///
/// # Errors
/// When binding or the store fails.
pub async fn serve(
    cfg: Config,
    ready: Option<tokio::sync::oneshot::Sender<(SocketAddr, SocketAddr)>>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Failure> {
    let store = open_store(&cfg)?;
    // Pages read the latest scores: the scheduler's, or a refresh once they are 15 s old or new
    // findings arrived, so new results show quickly whatever the recompute interval.
    let score_cache = Arc::new(crate::scoring::ScoreCache::new(
        std::time::Duration::from_secs(15),
    ));
    let quic = server::QuicServer::bind(&cfg, store.clone(), score_cache.clone())?;
    let quic_addr = quic.local_addr()?;
    let tls = match &cfg.http_tls {
        Some(t) => Some(Arc::new(
            http::listen::server_config(&t.cert, &t.key)
                .context("loading the console's certificate ([http] cert and key)")?,
        )),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(cfg.http_listen)
        .await
        .with_context(|| format!("binding HTTP on {}", cfg.http_listen))?;
    let http_addr = listener.local_addr()?;
    info!(quic = %quic_addr, console = %console_url(&cfg, http_addr), data_dir = %cfg.data_dir.display(), "Collector listening.");
    if let Some(r) = ready {
        let _ = r.send((quic_addr, http_addr));
    }
    let app = http::app(http::AppState {
        store: store.clone(),
        name: cfg.name.clone().into(),
        scoring: Arc::new(cfg.scoring.clone()),
        scores: score_cache.clone(),
        enroll: Some(Arc::new(http::EnrollSettings {
            ca: Ca::load(&PkiPaths::new(&cfg.data_dir))?,
            advertise: cfg.advertise.clone(),
        })),
        login_limit: Arc::new(http::ratelimit::LoginLimiter::new(cfg.login_limit)),
        reports: Arc::new(cfg.reports.clone()),
        hasher: Arc::default(),
        report_slots: Arc::default(),
    });
    let sched = tokio::spawn(crate::schedule::run(
        store.clone(),
        crate::schedule::Schedule {
            scoring: cfg.scoring.clone(),
            recompute: cfg.recompute_interval,
            alerts: cfg.alerts.clone(),
            alert_rules: cfg.alert_rules_interval,
            cache: Some(score_cache),
            org: cfg.name.clone(),
            reports: cfg.reports.clone(),
        },
        shutdown.clone(),
    ));
    let http_task = tokio::spawn(http::serve(listener, tls, app, shutdown.clone()));
    quic.serve(shutdown).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), http_task).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), sched).await;
    info!("Collector stopped.");
    Ok(())
}

/// The console's URL at `addr`: `https://` unless the config serves plain HTTP.
pub(crate) fn console_url(cfg: &Config, addr: SocketAddr) -> String {
    let scheme = if cfg.http_tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{addr}/")
}

/// `ca export [--out FILE]`.
fn ca_export(dir: &DirArgs, out: Option<&Path>) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let ca = Ca::load(&PkiPaths::new(&cfg.data_dir))?;
    match out {
        Some(p) => {
            // A certificate is public; 0644 lets whoever installs it read it.
            std::fs::write(p, ca.cert_pem()).with_context(|| format!("writing {}", p.display()))?;
            errln!("wrote {}", p.display());
        }
        None => print!("{}", ca.cert_pem()),
    }
    errln!("CA certificate SHA-256: {}", hex::encode(ca.fingerprint()));
    Ok(())
}

pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A collector initialised with the defaults in a temp dir `<tmp>/c` (tests).
#[cfg(test)]
pub(crate) fn init_for_test() -> (tempfile::TempDir, PathBuf, Config) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("c");
    let cfg = init(&InitArgs {
        data_dir: dir.clone(),
        quic: "127.0.0.1:0".parse().expect("addr"),
        http: "127.0.0.1:0".parse().expect("addr"),
        plain_http: false,
        names: vec![],
        advertise: vec!["collector.test:4433".into()],
        org: "Test".into(),
    })
    .expect("init");
    (tmp, dir, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

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
