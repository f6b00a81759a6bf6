//! `upstream token|enroll|status|revoke`: federation to a collector above this one (issue 19).

use std::path::PathBuf;

use clap::Subcommand;

use super::term::{errln, outln};
use super::{DirArgs, Failure, load, now_s, open_store, runtime};
use crate::enroll::TokenCreateError;
use crate::federation::downstream::{self, LinkPaths};
use crate::federation::upstream;
use crate::pki::{Ca, PkiPaths};

/// `upstream` subcommands.
#[derive(Debug, Subcommand)]
pub enum UpstreamCmd {
    /// On the upstream: create a federation token, which enrolls one downstream collector (and
    /// no agent) under an agency; prints it on stdout (shown once).
    Token {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Agency the downstream's tree is grafted under.
        #[arg(long)]
        agency: String,
        /// Lifetime.
        #[arg(long, default_value = "24h")]
        ttl: String,
        /// Collector address to put in the token (repeatable); default: `quic.advertise`.
        #[arg(long, value_name = "HOST:PORT")]
        collector: Vec<String>,
    },
    /// On the downstream: enroll this collector to the upstream of a federation token.
    Enroll {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// The token (`-` or absent: read from stdin).
        #[arg(long)]
        token: Option<String>,
        /// Read the token from a file (mode 0600).
        #[arg(long, conflicts_with = "token")]
        token_file: Option<PathBuf>,
        /// Upstream address, overriding the token's (repeatable).
        #[arg(long, value_name = "HOST:PORT")]
        upstream: Vec<String>,
        /// Name shown at the upstream; default: the collector's name.
        #[arg(long)]
        name: Option<String>,
        /// Time between two summary computations.
        #[arg(long, default_value = "30s")]
        interval: String,
    },
    /// Both ends: the link to the upstream (spool), and the downstreams enrolled here with
    /// their freshness and gaps.
    Status {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"link": …, "downstreams": [...], "gaps": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// On the upstream: revoke a downstream; its subtree disappears and its sessions are refused.
    Revoke {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Downstream id from `upstream status`.
        #[arg(long)]
        id: String,
    },
}

/// Runs an `upstream` subcommand.
pub(super) fn run(cmd: UpstreamCmd) -> Result<(), Failure> {
    match cmd {
        UpstreamCmd::Token {
            dir,
            agency,
            ttl,
            collector,
        } => token(&dir, &agency, &ttl, collector),
        UpstreamCmd::Enroll {
            dir,
            token,
            token_file,
            upstream,
            name,
            interval,
        } => enroll(&dir, (token, token_file), upstream, name, &interval),
        UpstreamCmd::Status { dir, json } => status(&dir, json),
        UpstreamCmd::Revoke { dir, id } => revoke(&dir, &id),
    }
}

fn token(dir: &DirArgs, agency: &str, ttl: &str, collector: Vec<String>) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let ttl = vigil_proto::units::parse_duration(ttl)
        .map_err(|e| Failure::usage(anyhow::anyhow!("--ttl: {e}")))?;
    let store = open_store(&cfg)?;
    let ca = Ca::load(&PkiPaths::new(&cfg.data_dir))?;
    let addrs = if collector.is_empty() {
        cfg.advertise.clone()
    } else {
        collector
    };
    let (text, rec) =
        upstream::create_fed_token(&*store, &ca, agency, (ttl, 1), addrs.clone(), now_s())
            .map_err(|e| match e {
                TokenCreateError::Store(s) => Failure::from(s),
                other => Failure::usage(other),
            })?;
    let detail = serde_json::json!({"id": rec.id, "agency": agency, "expires_at": rec.expires_at});
    store.audit("cli", "upstream.token", &detail, now_s())?;
    errln!(
        "federation token {} for agency {agency} (one downstream collector), collector {} / \
         mã liên kết {} cho đơn vị {agency}",
        rec.id,
        addrs.join(", "),
        rec.id
    );
    outln!("{text}");
    Ok(())
}

fn enroll(
    dir: &DirArgs,
    (token, file): (Option<String>, Option<PathBuf>),
    upstreams: Vec<String>,
    name: Option<String>,
    interval: &str,
) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let interval = vigil_proto::units::parse_duration(interval)
        .map_err(|e| Failure::usage(anyhow::anyhow!("--interval: {e}")))?;
    let source = match (token, file) {
        (_, Some(f)) => vigil_agent::enroll::TokenSource::File(f),
        (Some(t), None) if t != "-" => vigil_agent::enroll::TokenSource::Arg(t),
        _ => vigil_agent::enroll::TokenSource::Stdin,
    };
    let text = vigil_agent::enroll::read_token(&source, &mut std::io::stdin().lock())
        .map_err(Failure::usage)?;
    let token = vigil_proto::token::EnrollToken::decode(&text).map_err(Failure::usage)?;
    let addrs = if upstreams.is_empty() {
        token.addrs.clone()
    } else {
        upstreams
    };
    if LinkPaths::new(&cfg.data_dir).exists() {
        return Err(Failure::usage(anyhow::anyhow!(
            "this collector is enrolled to an upstream already ({}); remove that directory to \
             enroll again",
            LinkPaths::new(&cfg.data_dir).link().display()
        )));
    }
    let name = name.unwrap_or_else(|| cfg.name.clone());
    let link = runtime()?.block_on(downstream::enroll(
        &cfg.data_dir,
        &token,
        &addrs,
        &name,
        interval,
    ))?;
    errln!(
        "enrolled to {} under agency {} as {} / đã liên kết lên cấp trên, đơn vị {}",
        link.upstreams.join(", "),
        link.agency,
        link.downstream_id,
        link.agency
    );
    outln!("{}", link.downstream_id);
    Ok(())
}

fn status(dir: &DirArgs, json: bool) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let store = open_store(&cfg)?;
    let f = store.federation();
    let paths = LinkPaths::new(&cfg.data_dir);
    let link = if paths.exists() {
        Some(paths.load()?)
    } else {
        None
    };
    let spool = f.fed_spool_state()?;
    let downstreams = f.fed_downstreams()?;
    let gaps = f.fed_gaps()?;
    if json {
        let v = serde_json::json!({
            "link": link.as_ref().map(|l| serde_json::json!({
                "downstream_id": l.downstream_id,
                "agency": l.agency,
                "upstreams": l.upstreams,
                "spool": spool,
            })),
            "downstreams": downstreams,
            "gaps": gaps,
        });
        outln!("{v}");
        return Ok(());
    }
    match &link {
        Some(l) => outln!(
            "upstream {} (agency {}): {} summaries spooled, {} acknowledged, {} dropped / \
             cấp trên: đã gửi {} bản tóm tắt",
            l.upstreams.join(", "),
            l.agency,
            spool.last_seq,
            spool.acked_seq,
            spool.dropped,
            spool.acked_seq
        ),
        None => outln!("no upstream / chưa liên kết cấp trên"),
    }
    let now = now_s();
    for d in &downstreams {
        let state = if d.revoked_at != 0 { "revoked" } else { "live" };
        let age = if d.last_received == 0 {
            "never / chưa nhận".to_owned()
        } else {
            format!(
                "{} s ago / {} giây trước",
                now - d.last_received,
                now - d.last_received
            )
        };
        outln!(
            "downstream {} {:?} under {}: {state}, seq {}, last summary {age}",
            d.id,
            d.name,
            d.agency,
            d.acked_seq
        );
    }
    for g in &gaps {
        outln!(
            "gap: downstream {} summaries {}-{} never arrived / thiếu bản tóm tắt",
            g.downstream,
            g.from_seq,
            g.to_seq
        );
    }
    Ok(())
}

fn revoke(dir: &DirArgs, id: &str) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let store = open_store(&cfg)?;
    if !store.federation().fed_downstream_revoke(id, now_s())? {
        return Err(Failure::usage(anyhow::anyhow!(
            "no live downstream {id:?} (see `upstream status`)"
        )));
    }
    store.audit(
        "cli",
        "upstream.revoke",
        &serde_json::json!({"id": id}),
        now_s(),
    )?;
    errln!("downstream {id} revoked / đã thu hồi");
    Ok(())
}
