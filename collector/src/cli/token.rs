//! `token create|list|revoke`: enrollment tokens.

use clap::Subcommand;
use serde::Serialize;

use super::term::{self, errln, outln};
use super::{DirArgs, Failure, load, now_s, open_store};
use crate::enroll;
use crate::pki::{Ca, PkiPaths};
use crate::store::TokenRecord;

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

/// Runs a `token` subcommand.
pub(super) fn run(cmd: TokenCmd) -> Result<(), Failure> {
    match cmd {
        TokenCmd::Create {
            dir,
            agency,
            ttl,
            uses,
            collector,
        } => create(&dir, &agency, &ttl, uses, collector),
        TokenCmd::List { dir, json } => list(&dir, json),
        TokenCmd::Revoke { dir, id } => revoke(&dir, &id),
    }
}

fn create(
    dir: &DirArgs,
    agency: &str,
    ttl: &str,
    uses: u32,
    collector: Vec<String>,
) -> Result<(), Failure> {
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
    let (text, rec) = enroll::create_token(&*store, &ca, agency, ttl, uses, addrs.clone(), now_s())
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

/// One row of `token list --json` (docs/cli-json.md), fields in alphabetical order as the output
/// has always been; the secret is never stored, so never shown.
#[derive(Serialize)]
struct TokenRow<'a> {
    agency: &'a str,
    created_at: i64,
    expires_at: i64,
    id: &'a str,
    max_uses: u32,
    revoked: bool,
    uses: u32,
}

impl<'a> From<&'a TokenRecord> for TokenRow<'a> {
    fn from(t: &'a TokenRecord) -> Self {
        Self {
            id: &t.id,
            agency: &t.agency,
            created_at: t.created_at,
            expires_at: t.expires_at,
            max_uses: t.max_uses,
            uses: t.uses,
            revoked: t.revoked,
        }
    }
}

/// `{"tokens": [...]}`.
#[derive(Serialize)]
struct TokenList<'a> {
    tokens: Vec<TokenRow<'a>>,
}

fn list(dir: &DirArgs, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let all = store.tokens()?;
    if json {
        let tokens = all.iter().map(TokenRow::from).collect();
        println!("{}", term::json(&TokenList { tokens }));
    } else {
        let now = now_s();
        for t in all {
            let state = t.refusal(now).map_or("active", |r| r.label());
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

fn revoke(dir: &DirArgs, id: &str) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    if !store.token_revoke(id)? {
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
