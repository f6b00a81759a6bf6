//! `init`: creates a data directory (CA, server certificate, collector.toml, the store).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::term::outln;
use super::{Failure, now_s, open_store};
use crate::app::console_url;
use crate::config::{self, CONFIG_FILE, Config};
use crate::fsutil::{create_private_dir, write_private};
use crate::pki::{self, PkiPaths, ServerNames};

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
    let host = hostname();
    let names = server_names(a, &host);
    let advertise = advertised(a, &host);
    let ca = pki::init(&PkiPaths::new(&a.data_dir), &a.org, &names)?;
    // The policy key signs every bundle pushed to agents (issue 18); they pin it at enrollment.
    let policy_key = crate::policy::PolicyKey::create(&crate::policy::key::key_path(&a.data_dir))?;
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
        &serde_json::json!({"ca_sha256": hex::encode(ca.fingerprint()), "policy_key": policy_key.public().to_string()}),
        now_s(),
    )?;
    print_summary(a, &cfg, &ca, &names);
    Ok(cfg)
}

/// Names and addresses of the server certificate: `--name`s, this host, localhost, loopback and
/// the listen addresses that are not wildcards.
fn server_names(a: &InitArgs, host: &str) -> ServerNames {
    let mut names = ServerNames::default();
    for n in a
        .names
        .iter()
        .chain(std::iter::once(&host.to_string()))
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
    names
}

/// Addresses written into tokens: `--advertise`, else each `--name` with the QUIC port, else the
/// QUIC address when it is not a wildcard, else this host's name.
fn advertised(a: &InitArgs, host: &str) -> Vec<String> {
    if !a.advertise.is_empty() {
        a.advertise.clone()
    } else if !a.names.is_empty() {
        a.names
            .iter()
            .map(|n| join_host_port(n, a.quic.port()))
            .collect()
    } else if !a.quic.ip().is_unspecified() {
        vec![a.quic.to_string()]
    } else {
        vec![join_host_port(host, a.quic.port())]
    }
}

/// What `init` made and what to do next.
fn print_summary(a: &InitArgs, cfg: &Config, ca: &pki::Ca, names: &ServerNames) {
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
    outln!("  console: {}", console_url(cfg, cfg.http_listen));
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
