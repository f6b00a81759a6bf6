//! Command-line interface of `vigil-agent` (DESIGN §8).
//!
//! Exit codes: 0 ok, 1 checks failed / changes found, 2 usage or configuration error, 3 runtime
//! error. Every command takes `--state-dir` and `--config`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::sync::watch;
use vigil_proto::msg::HostIdentity;
use vigil_proto::token::EnrollToken;

use crate::config::{self, ConfigError};
use crate::platform;
use crate::state::StatePaths;

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
        /// The SCA policy file.
        #[arg(value_name = "POLICY.yml")]
        policy: PathBuf,
        /// Where to write the pack (`-` for standard output).
        #[arg(short, long, value_name = "PACK.yaml")]
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
        /// Pack id (default `sca-<policy id>`).
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
            2
        } else {
            3
        };
        Self { code, err }
    }
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
        } => {
            let cfg = config::load(&cfg_path, explicit)?;
            if if_not_enrolled && let Ok(id) = state.load_identity() {
                println!(
                    "already enrolled as agent {} in agency {}; nothing to do",
                    id.agent_id, id.agency
                );
                return Ok(0);
            }
            let source = token_source(token, token_file.clone());
            let text = crate::enroll::read_token(&source, &mut std::io::stdin().lock())?;
            let token = EnrollToken::decode(&text)?;
            let collectors = match collector.or(cfg.collector) {
                Some(c) => {
                    crate::tls::split_host_port(&c).map_err(|e| Failure {
                        code: 2,
                        err: anyhow::anyhow!("--collector: {e}"),
                    })?;
                    vec![c]
                }
                None => token.addrs.clone(),
            };
            let machine_id = match machine_id {
                Some(m) => m,
                None => platform::machine_id().map_err(anyhow::Error::msg)?,
            };
            let inv = crate::inventory::collect();
            let host = HostIdentity {
                machine_id,
                hostname: inv.hostname.clone(),
                os: crate::inventory::os_line(&inv),
            };
            let done =
                runtime()?.block_on(crate::enroll::enroll(&token, &collectors, host, &state))?;
            if let Some(f) = token_file {
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
        Command::Run => {
            let cfg = config::load(&cfg_path, explicit)?;
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
        Command::Service(cmd) => service(cmd, state, cfg_path, explicit),
        Command::Fim(cmd) => {
            let cfg = config::load(&cfg_path, explicit)?;
            let (args, full, baseline) = match cmd {
                FimCmd::Baseline(a) => (a, false, true),
                FimCmd::Check { args, full } => (args, full, false),
            };
            let opts = crate::fim::FimCliOptions {
                root: args.root,
                paths: args.paths,
                format: match args.format {
                    Format::Table => crate::fim::OutputFormat::Table,
                    Format::Json => crate::fim::OutputFormat::Json,
                },
                full,
                progress: None,
            };
            let mut out = std::io::stdout().lock();
            let r = if baseline {
                crate::fim::run_baseline(&cfg.fim, &opts, &state.dir, &mut out)
            } else {
                crate::fim::run_check(&cfg.fim, &opts, &state.dir, &mut out)
            };
            r.map_err(|e| Failure {
                code: e.exit_code(),
                err: e.into(),
            })
        }
        Command::Check {
            root,
            packs,
            level,
            format,
            lang,
        } => {
            let cfg = config::load(&cfg_path, explicit)?;
            use std::io::IsTerminal as _;
            let mut opts = crate::check::CheckOptions::new(root);
            // Empty = the default pack dir if installed, else the pack built into the binary.
            opts.packs = if !packs.is_empty() {
                packs
            } else if cfg.checks.packs != crate::check::ChecksConfig::default().packs {
                cfg.checks.packs.clone()
            } else {
                Vec::new()
            };
            opts.level = level.unwrap_or(cfg.checks.level.get());
            opts.format = match format {
                Format::Table => crate::check::Format::Table,
                Format::Json => crate::check::Format::Json,
            };
            opts.lang = match lang {
                LangArg::Vi => crate::check::Lang::Vi,
                LangArg::En => crate::check::Lang::En,
            };
            let no_color = std::env::var("NO_COLOR").ok();
            opts.color = crate::check::ColorMode::Auto
                .enabled(std::io::stdout().is_terminal(), no_color.as_deref());
            let mut out = std::io::stdout().lock();
            crate::check::run_check(&opts, &mut out).map_err(|e| Failure {
                code: e.exit_code(),
                err: e.into(),
            })
        }
        Command::Rules(RulesCmd::ImportSca {
            policy,
            output,
            dialect,
            severity,
            group,
            id,
            pack_version,
        }) => {
            use vigil_rules::Group;
            use vigil_rules::sca::{Dialect, ImportOptions};
            let opts = ImportOptions {
                dialect: match dialect {
                    DialectArg::Auto => Dialect::Auto,
                    DialectArg::Osregex => Dialect::OsRegex,
                    DialectArg::Pcre2 => Dialect::Pcre2,
                },
                severity: match severity {
                    SeverityArg::Low => vigil_proto::Severity::Low,
                    SeverityArg::Medium => vigil_proto::Severity::Medium,
                    SeverityArg::High => vigil_proto::Severity::High,
                    SeverityArg::Critical => vigil_proto::Severity::Critical,
                },
                group: match group {
                    GroupArg::Auto => None,
                    GroupArg::Malware => Some(Group::Malware),
                    GroupArg::Patching => Some(Group::Patching),
                    GroupArg::Accounts => Some(Group::Accounts),
                    GroupArg::Hardening => Some(Group::Hardening),
                    GroupArg::Logging => Some(Group::Logging),
                    GroupArg::RemovableMedia => Some(Group::RemovableMedia),
                    GroupArg::Backup => Some(Group::Backup),
                    GroupArg::Integrity => Some(Group::Integrity),
                },
                pack_id: id,
                pack_version,
            };
            let output = if output.as_os_str() == "-" {
                crate::rules_cmd::Output::Stdout
            } else {
                crate::rules_cmd::Output::File(output)
            };
            crate::rules_cmd::import_sca_file(
                &policy,
                &output,
                &opts,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )
            .map_err(|e| Failure {
                code: e.exit_code(),
                err: e.into(),
            })?;
            Ok(0)
        }
        Command::Status { json } => {
            let id = state.load_identity()?;
            let st: Option<crate::uplink::Status> = std::fs::read(state.status())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            if json {
                println!("{}", serde_json::json!({"identity": id, "status": st}));
            } else {
                println!("agent id:     {}", id.agent_id);
                println!("agency:       {}", id.agency);
                println!("collectors:   {}", id.collectors.join(", "));
                println!("cert expires: {}", fmt_unix(id.cert_not_after));
                match st {
                    Some(s) => {
                        println!(
                            "connected:    {}{}",
                            if s.connected { "yes, to " } else { "no" },
                            if s.connected {
                                s.collector.as_str()
                            } else {
                                ""
                            }
                        );
                        println!(
                            "spool:        {} unacknowledged, acked up to #{}, next #{}",
                            s.spool_depth, s.acked_seq, s.next_seq
                        );
                        let c = &s.counters;
                        println!(
                            "counters:     {} findings, {} dropped (spool full), {} spool errors, \
                             {} FIM overflows, {} check runs, {} reconnects",
                            c.findings,
                            c.spool_dropped,
                            c.spool_errors,
                            c.fim_overflows,
                            c.checks_run,
                            c.reconnects
                        );
                        if let Some(e) = s.last_error {
                            println!("last error:   {e}");
                        }
                        println!("updated:      {}", fmt_unix(s.updated_at / 1000));
                    }
                    None => println!("status:       the agent has not run yet"),
                }
            }
            Ok(0)
        }
    }
}

/// `vigil-agent service …`: the Windows service (systemd owns this on Linux).
fn service(
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

fn fmt_unix(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_dates() {
        assert_eq!(super::fmt_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::fmt_unix(1_795_000_000), "2026-11-18 11:06:40 UTC");
        assert_eq!(super::fmt_unix(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
