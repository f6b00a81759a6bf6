//! Command-line interface of `vigil-agent` (DESIGN §8).
//!
//! Exit codes: 0 ok, 1 checks failed / changes found, 2 usage or configuration error, 3 runtime
//! error. Every command takes `--state-dir` and `--config`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::{self, ConfigError};
use crate::platform;
use crate::state::StatePaths;

mod check;
mod enroll;
mod fim;
mod rules;
mod run;
mod status;

/// Exit code of a check that failed or of changes found.
pub const FINDINGS: u8 = 1;
/// Exit code of a usage or configuration error.
pub const USAGE: u8 = 2;
/// Exit code of any other error while running.
pub const RUNTIME: u8 = 3;

/// Vigil host agent: hardening checks, file integrity and network watch, reported to a collector.
#[derive(Debug, Parser)]
#[command(name = "vigil-agent", version, about, propagate_version = true)]
pub struct Cli {
    /// State directory (identity, keys, spool, baselines); default /var/lib/vigil, on Windows
    /// %ProgramData%\Vigil.
    #[arg(long, global = true, env = "VIGIL_STATE_DIR", default_value_os_t = platform::default_state_dir(), value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Config file (optional: built-in defaults apply when the default path is absent).
    #[arg(long, global = true, env = "VIGIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log filter (e.g. `info`, `vigil_agent=debug`); also from VIGIL_LOG.
    #[arg(long, global = true, env = "VIGIL_LOG", default_value = "info")]
    pub log: String,
    /// Command.
    #[command(subcommand)]
    pub cmd: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Join a collector with an enrollment token (from `vigil-collector token create`).
    ///
    /// Give the token on standard input (`--token -`) or in a file only you can read
    /// (`--token-file FILE`, mode 0600). `--token TOKEN` still works, but a token on the command
    /// line is visible to every local user in the process list (/proc/PID/cmdline) and is kept
    /// in shell history and sudo logs.
    Enroll {
        /// The token, or `-` to read it from standard input (recommended). Also VIGIL_TOKEN.
        #[arg(
            long,
            env = "VIGIL_TOKEN",
            hide_env_values = true,
            value_name = "TOKEN|-",
            required_unless_present = "token_file"
        )]
        token: Option<String>,
        /// Read the token from FILE, which only its owner may read (chmod 600 on Linux; on
        /// Windows no broad group such as Users may read it); the file is deleted once enrolled.
        #[arg(long, value_name = "FILE", conflicts_with = "token")]
        token_file: Option<PathBuf>,
        /// Use this collector address instead of the ones in the token.
        #[arg(long, value_name = "HOST:PORT")]
        collector: Option<String>,
        /// Override the machine id (containers, tests); default: /etc/machine-id, on Windows
        /// the registry's MachineGuid.
        #[arg(long, hide = true)]
        machine_id: Option<String>,
        /// Do nothing when the state directory already holds an identity (installers, upgrades).
        #[arg(long)]
        if_not_enrolled: bool,
    },
    /// Run the agent until SIGINT/SIGTERM (Ctrl+C on Windows).
    Run,
    /// Windows service: install, uninstall, start, stop, status (systemd does this on Linux).
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Show identity, connection and spool state.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a config file: exit 0 if valid, 2 with every problem listed otherwise.
    Validate,
    /// File integrity: record a baseline, or compare the trees with it (exit 1 on changes).
    #[command(subcommand)]
    Fim(FimCmd),
    /// Evaluate hardening rule packs locally (no network); exit 1 when a rule fails.
    Check {
        /// Directory standing for `/` (check an offline image or container tree); default `/`,
        /// on Windows the system drive.
        #[arg(long, default_value_os_t = platform::facts_root(), value_name = "DIR")]
        root: PathBuf,
        /// Pack file or directory (repeatable); default: `[checks] packs`, else the built-in pack.
        #[arg(long = "pack", value_name = "FILE|DIR")]
        packs: Vec<PathBuf>,
        /// Security level of the host's system, 1–5; default: `[checks] level`.
        #[arg(long)]
        level: Option<u8>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Language of rule titles in the table.
        #[arg(long, value_enum, default_value_t = LangArg::Vi)]
        lang: LangArg,
    },
    /// Rule-pack tools (import from other formats).
    #[command(subcommand)]
    Rules(RulesCmd),
}

/// `service` subcommands (Windows).
#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Register the VigilAgent service (LocalSystem, automatic start, restart on failure) for
    /// this executable, `--state-dir` and `--config`, and protect the state directory. Run it
    /// elevated; running it again updates the service (an upgrade keeps the identity).
    Install,
    /// Stop and remove the service; the state directory (identity, spool) is kept.
    Uninstall,
    /// Start the service and wait until it runs.
    Start,
    /// Stop the service and wait until it has stopped.
    Stop,
    /// Print the service state.
    Status,
    /// Entry point of the service process (the service control manager runs it).
    #[command(hide = true)]
    Run,
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCmd {
    /// Translate a Wazuh SCA policy (4.x or 5.x YAML) into a Vigil rule pack.
    ///
    /// Each SCA check becomes one rule with the same condition (all/any/none); its `f:`, `d:`,
    /// `c:` and `r:` rules become file, dir, command and registry checks, `not` a `none` group,
    /// `r:`/`n:`/`!r:` terms per-line regexes and comparisons. `requirements` that name the OS
    /// become the pack's `applies_to`; `compliance` and `mitre` become `controls`. Checks that
    /// cannot be translated whole (process rules, commands that need a shell, regex features
    /// the Rust engine lacks, ...) are left out and listed by rule id with the reason, on stderr
    /// and in the pack's header comment. Exit 0 when a pack was written, 2 when the policy
    /// cannot be read or parsed, 3 when the pack cannot be written. See docs/sca-import.md.
    #[command(verbatim_doc_comment)]
    ImportSca {
        /// The SCA policy file; several files are translated in one run, each into its own
        /// pack in the `--output` directory, with a progress bar on a terminal.
        #[arg(value_name = "POLICY.yml", required = true, num_args = 1..)]
        policy: Vec<PathBuf>,
        /// Where to write the pack (`-` for standard output); with several policies, a directory
        /// (created if missing) that receives `<policy file name>.yaml` for each.
        #[arg(short, long, value_name = "PACK.yaml|DIR")]
        output: PathBuf,
        /// Regex dialect: auto reads `regex_type`, else OSRegex for 4.x policies (checks with
        /// `title`) and PCRE2 for 5.x (checks with `name`).
        #[arg(long, value_enum, default_value_t = DialectArg::Auto)]
        dialect: DialectArg,
        /// Severity of every imported rule (SCA has none).
        #[arg(long, value_enum, default_value_t = SeverityArg::Medium)]
        severity: SeverityArg,
        /// Scoring group of every rule; `auto` picks one from words of the check name
        /// (password → accounts, audit/log → logging, ...; default hardening).
        #[arg(long, value_enum, default_value_t = GroupArg::Auto)]
        group: GroupArg,
        /// Pack id (default `sca-<policy id>`; one policy only).
        #[arg(long)]
        id: Option<String>,
        /// Pack version.
        #[arg(long, default_value = "1.0.0")]
        pack_version: String,
    },
}

/// `--dialect` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DialectArg {
    /// Decide from the policy.
    Auto,
    /// Wazuh 4.x OSRegex.
    Osregex,
    /// PCRE2 (Wazuh 5.x).
    Pcre2,
}

/// `--severity` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SeverityArg {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// `--group` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupArg {
    /// From keywords of each check name.
    Auto,
    /// Anti-malware.
    Malware,
    /// Updates.
    Patching,
    /// Accounts.
    Accounts,
    /// Hardening.
    Hardening,
    /// Logging.
    Logging,
    /// Removable media.
    RemovableMedia,
    /// Backup.
    Backup,
    /// Integrity.
    Integrity,
}

/// Title language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LangArg {
    /// Tiếng Việt.
    Vi,
    /// English.
    En,
}

/// `fim` subcommands.
#[derive(Debug, Subcommand)]
pub enum FimCmd {
    /// Hash the configured trees (or --path) and store the baseline in the state dir.
    Baseline(FimArgs),
    /// Report created, modified, deleted and type-changed files since the baseline.
    Check {
        #[command(flatten)]
        /// Common options.
        args: FimArgs,
        /// Re-hash every file (default: only files whose size, times or inode changed).
        #[arg(long)]
        full: bool,
    },
}

/// Options shared by `fim baseline` and `fim check`.
#[derive(Debug, clap::Args)]
pub struct FimArgs {
    /// Directory standing for `/` (check an offline image or container tree).
    #[arg(long, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Only this host path (repeatable); default: the configured `[fim] paths`.
    #[arg(long = "path", value_name = "P")]
    pub paths: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text.
    Table,
    /// Stable JSON (docs/fim.md, docs/check-json.md).
    Json,
}

/// An error with the exit code it ends the process with.
struct Failure {
    code: u8,
    err: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let err = e.into();
        let code = if err.downcast_ref::<ConfigError>().is_some()
            || matches!(
                err.downcast_ref::<crate::state::StateError>(),
                Some(crate::state::StateError::NotEnrolled(_))
            )
            || err
                .downcast_ref::<vigil_proto::token::TokenError>()
                .is_some()
            || err
                .downcast_ref::<crate::enroll::TokenSourceError>()
                .is_some()
        {
            USAGE
        } else {
            RUNTIME
        };
        Self { code, err }
    }
}

/// Parses arguments, runs the command, returns the exit code.
pub fn main() -> ExitCode {
    crate::mem::limit_malloc_arenas();
    let cli = Cli::parse();
    if matches!(cli.cmd, Command::Service(ServiceCmd::Run)) {
        crate::logging::init_service(&cli.log, &cli.state_dir);
    } else {
        crate::logging::init_console(&cli.log);
    }
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", vigil_proto::error_chain(f.err.as_ref()));
            ExitCode::from(f.code)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    // Two workers are plenty for an agent and keep its footprint small.
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?)
}

fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let state = StatePaths::new(&cli.state_dir);
    let (cfg_path, explicit) = config::resolve(cli.config);
    match cli.cmd {
        Command::Validate => {
            let _ = config::load(&cfg_path, true)?;
            println!("{}: ok", cfg_path.display());
            Ok(0)
        }
        Command::Enroll {
            token,
            token_file,
            collector,
            machine_id,
            if_not_enrolled,
        } => enroll::enroll(
            &state,
            &config::load(&cfg_path, explicit)?,
            enroll::EnrollArgs {
                token,
                token_file,
                collector,
                machine_id,
                if_not_enrolled,
            },
        ),
        Command::Run => run::run(config::load(&cfg_path, explicit)?, state),
        Command::Service(cmd) => run::service(cmd, state, cfg_path, explicit),
        Command::Fim(cmd) => fim::fim(&config::load(&cfg_path, explicit)?, &state, cmd),
        Command::Check {
            root,
            packs,
            level,
            format,
            lang,
        } => check::check(
            &config::load(&cfg_path, explicit)?,
            check::CheckArgs {
                root,
                packs,
                level,
                format,
                lang,
            },
        ),
        Command::Rules(cmd) => rules::rules(cmd),
        Command::Status { json } => status::status(&state, json),
    }
}
