//! The downstream end of federation: enrolling to an upstream collector (`upstream enroll`),
//! and the link that spools and pushes signed summaries while the collector runs.
//!
//! The link's state lives in `<data dir>/upstream/` (directory 0700, files 0600): the key, the
//! certificate the upstream issued, the upstream CA pinned by the token, and `link.json`.
//! Summaries are computed every `interval`, spooled in the store when they say something new
//! (or when the last one is `heartbeat` old), and deleted only once the upstream acknowledged
//! them, so an outage of either side loses nothing and a resend after a lost ack is stored once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use vigil_proto::fed::{ALPN_FED, ALPN_FED_ENROLL, DownMsg, UpMsg};
use vigil_proto::msg::{EnrollRequest, EnrollResponse, HostIdentity};
use vigil_proto::token::EnrollToken;
use vigil_rules::score::Scoring;

use super::link::{Reader, send};
use super::publish;
use super::sign::Signer;
use super::upstream::MAX_FRAME;
use crate::scoring::{Inputs, RuleCatalog, compute};
use crate::store::Store;

/// Default time between two summary computations.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// A summary is pushed at least this often, changed or not.
pub const HEARTBEAT: Duration = Duration::from_secs(3600);
/// Summaries sent ahead of the upstream's acks.
const WINDOW: usize = 32;

/// What `upstream enroll` writes beside the key and certificates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// This collector's id at the upstream.
    pub downstream_id: String,
    /// The upstream agency this collector's tree is grafted under.
    pub agency: String,
    /// Upstream QUIC addresses, `host:port`.
    pub upstreams: Vec<String>,
    /// Unix seconds.
    pub enrolled_at: i64,
    /// Seconds between summary computations.
    pub interval_s: u64,
}

/// The files of the link.
#[derive(Debug, Clone)]
pub struct LinkPaths {
    dir: PathBuf,
}

impl LinkPaths {
    /// The link of the collector with data dir `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("upstream"),
        }
    }
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// `link.json`.
    pub fn link(&self) -> PathBuf {
        self.file("link.json")
    }
    /// Whether this collector is enrolled to an upstream.
    pub fn exists(&self) -> bool {
        self.link().is_file()
    }
    /// Reads `link.json`.
    ///
    /// # Errors
    /// Unreadable or invalid file.
    pub fn load(&self) -> anyhow::Result<Link> {
        let text = crate::fsutil::read_to_string(&self.link())
            .with_context(|| format!("reading {}", self.link().display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: invalid", self.link().display()))
    }

    /// Reads the link with what it needs to talk to the upstream: the summary signer and a
    /// QUIC client configuration (TLS 1.3, the upstream's CA as the only root, the link
    /// certificate as client certificate, the federation ALPN).
    ///
    /// # Errors
    /// Unreadable or invalid files.
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        let link = self.load()?;
        let read = |n: &str| {
            crate::fsutil::read_to_string(&self.file(n))
                .with_context(|| format!("reading {}", self.file(n).display()))
        };
        let key_pem = read("key.pem")?;
        let signer = Signer::from_pem(&key_pem).map_err(anyhow::Error::msg)?;
        let ca =
            CertificateDer::from_pem_slice(read("ca.pem")?.as_bytes()).context("upstream CA")?;
        let chain = CertificateDer::pem_slice_iter(read("cert.pem")?.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("link certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("link key")?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca)?;
        let mut tls = rustls::ClientConfig::builder_with_provider(vigil_agent::tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        tls.alpn_protocols = vec![ALPN_FED.to_vec()];
        Ok(Credentials {
            link,
            signer,
            quic: quic_client(tls)?,
        })
    }
}

/// An enrolled link, ready to connect: see [`LinkPaths::credentials`].
pub struct Credentials {
    /// `link.json`.
    pub link: Link,
    /// Signs summaries with the link key.
    pub signer: Signer,
    /// Client configuration for connections to the upstream.
    pub quic: quinn::ClientConfig,
}

/// Enrolls this collector (data dir `data_dir`) to the upstream of `token`, as `name`.
///
/// # Errors
/// Refusal by the upstream, connection, pin and file errors.
pub async fn enroll(
    data_dir: &Path,
    token: &EnrollToken,
    upstreams: &[String],
    name: &str,
    interval: Duration,
) -> anyhow::Result<Link> {
    let (key, csr) = vigil_agent::enroll::key_and_request()?;
    let req = EnrollRequest {
        proto_version: vigil_proto::PROTO_VERSION,
        secret: token.secret_b64(),
        csr_pem: csr,
        host: HostIdentity {
            machine_id: "vigil-collector".into(),
            hostname: name.to_owned(),
            os: "vigil-collector".into(),
        },
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(vigil_agent::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(vigil_agent::tls::PinnedCaVerifier::new(
            token.ca_sha256,
        )))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN_FED_ENROLL.to_vec()];
    let cfg = quic_client(tls)?;
    let mut last = anyhow::anyhow!("no upstream address");
    for addr in upstreams {
        match exchange(addr, cfg.clone(), &req).await {
            Ok(EnrollResponse::Ok {
                agent_id,
                agency,
                cert_pem,
                ca_pem,
                ..
            }) => {
                let link = Link {
                    downstream_id: agent_id,
                    agency,
                    upstreams: upstreams.to_vec(),
                    enrolled_at: crate::clock::now_ms() / 1000,
                    interval_s: interval.as_secs().max(1),
                };
                write_state(data_dir, token, &key, (&cert_pem, &ca_pem), &link)?;
                return Ok(link);
            }
            Ok(EnrollResponse::Error { message, .. }) => {
                anyhow::bail!("the upstream refused the enrollment: {message}")
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn exchange(
    addr: &str,
    cfg: quinn::ClientConfig,
    req: &EnrollRequest,
) -> anyhow::Result<EnrollResponse> {
    let (ep, conn) = vigil_agent::tls::connect(addr, cfg).await?;
    let r = async {
        let (mut tx, rx) = conn.open_bi().await?;
        send(&mut tx, req, 64 * 1024).await?;
        tx.finish()?;
        Reader::new(rx, 64 * 1024)
            .next::<EnrollResponse>()
            .await?
            .context("the upstream closed the stream before answering")
    };
    let r = tokio::time::timeout(Duration::from_secs(30), r)
        .await
        .context("the upstream did not answer in 30 s")?;
    conn.close(0u32.into(), b"done");
    ep.wait_idle().await;
    r
}

fn write_state(
    data_dir: &Path,
    token: &EnrollToken,
    key: &rcgen::KeyPair,
    (cert_pem, ca_pem): (&str, &str),
    link: &Link,
) -> anyhow::Result<()> {
    vigil_agent::enroll::check_answer(
        "the upstream",
        token,
        key,
        vigil_agent::enroll::Issued {
            id: &link.downstream_id,
            cert_pem,
            ca_pem,
        },
    )?;
    let p = LinkPaths::new(data_dir);
    crate::fsutil::create_private_dir(&p.dir)
        .with_context(|| format!("creating {}", p.dir.display()))?;
    let w = |name: &str, bytes: &[u8]| {
        vigil_agent::state::write_private(&p.file(name), bytes)
            .with_context(|| format!("writing {}", p.file(name).display()))
    };
    w("key.pem", key.serialize_pem().as_bytes())?;
    w("cert.pem", cert_pem.as_bytes())?;
    w("ca.pem", ca_pem.as_bytes())?;
    w("link.json", serde_json::to_string_pretty(link)?.as_bytes())?;
    Ok(())
}

fn quic_client(tls: rustls::ClientConfig) -> anyhow::Result<quinn::ClientConfig> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(tls))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(quinn::IdleTimeout::try_from(Duration::from_secs(30))?));
    t.keep_alive_interval(Some(Duration::from_secs(5)));
    cfg.transport_config(Arc::new(t));
    Ok(cfg)
}

/// A running link: what it needs to compute, sign and send.
struct Pusher {
    store: Arc<dyn Store>,
    scoring: Arc<Scoring>,
    link: Link,
    signer: Arc<Signer>,
    cfg: quinn::ClientConfig,
    /// The built-in rule catalogue, parsed once (parsing it is most of a small tree's
    /// computation).
    catalog: Arc<RuleCatalog>,
    /// Woken when a summary from below was stored: the change goes up at once.
    wake: Arc<tokio::sync::Notify>,
}

/// Runs the link of the collector with data dir `data_dir` until `shutdown`; `wake` makes it
/// compute (and push, if changed) at once. `interval` (collector.toml's `[upstream]`) wins over
/// the one the link was enrolled with.
///
/// # Errors
/// When the link's files are unusable (nothing can be sent).
pub async fn run(
    store: Arc<dyn Store>,
    scoring: Arc<Scoring>,
    data_dir: &Path,
    interval: Option<Duration>,
    wake: Arc<tokio::sync::Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Credentials { link, signer, quic } = LinkPaths::new(data_dir).credentials()?;
    let pusher = Pusher {
        store,
        scoring,
        cfg: quic,
        signer: Arc::new(signer),
        link,
        wake,
        catalog: Arc::new(RuleCatalog::builtin()),
    };
    tracing::info!(upstream = ?pusher.link.upstreams, agency = %pusher.link.agency, "Upstream link started.");
    let interval = super::config::effective_interval(interval, pusher.link.interval_s);
    let mut backoff = Duration::from_secs(1);
    loop {
        if let Err(e) = pusher.produce().await {
            tracing::warn!(error = %e, "Computing the summary for the upstream failed.");
        }
        match pusher.session(interval, &mut shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "Upstream link down.");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return Ok(()),
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

impl Pusher {
    /// Computes the summary and spools it if it says something new or the last is old.
    async fn produce(&self) -> anyhow::Result<()> {
        let (store, scoring) = (self.store.clone(), self.scoring.clone());
        let (signer, id) = (self.signer.clone(), self.link.downstream_id.clone());
        let catalog = self.catalog.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let now = crate::clock::now_ms();
            let inputs = Inputs::load(&*store)?;
            let scores = compute(&inputs, &scoring, &catalog, now);
            let summary = publish::build(&id, &inputs, &scores);
            let f = store.federation();
            let due = match f.fed_spool_last()? {
                None => true,
                Some(last) => {
                    publish::changed(&last.body, &summary)
                        || now / 1000 - last.created_at >= HEARTBEAT.as_secs() as i64
                }
            };
            if due {
                let body = serde_json::to_string(&summary)?;
                let sig = signer.sign(body.as_bytes()).map_err(anyhow::Error::msg)?;
                let seq = f.fed_spool_push(&body, &sig, now / 1000)?;
                tracing::debug!(seq, "Summary spooled for the upstream.");
            }
            Ok(())
        })
        .await?
    }

    /// One connection: hello, then summaries out and acks in until an error or `shutdown`
    /// (`Ok`).
    async fn session(
        &self,
        interval: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let (_ep, conn) = self.connect().await?;
        let (mut tx, rx) = conn.open_bi().await?;
        let mut reader = Reader::new(rx, MAX_FRAME);
        let hello = DownMsg::Hello {
            proto_version: vigil_proto::PROTO_VERSION,
            downstream_id: self.link.downstream_id.clone(),
        };
        send(&mut tx, &hello, MAX_FRAME).await?;
        let acked = match tokio::time::timeout(Duration::from_secs(15), reader.next::<UpMsg>())
            .await
            .context("no welcome from the upstream")??
        {
            Some(UpMsg::Welcome { acked_seq, .. }) => acked_seq,
            Some(UpMsg::Error { message, .. }) => anyhow::bail!("upstream refused: {message}"),
            other => anyhow::bail!("unexpected answer from the upstream: {other:?}"),
        };
        self.ack(acked).await?;
        tracing::info!(acked, "Upstream link up.");
        let mut sent = acked.max(self.spool_acked().await?);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let acked = self.spool_acked().await?;
            let window =
                WINDOW.saturating_sub(usize::try_from(sent - acked.min(sent)).unwrap_or(WINDOW));
            if window > 0 {
                let store = self.store.clone();
                let pending = tokio::task::spawn_blocking(move || {
                    store.federation().fed_spool_pending(sent, window)
                })
                .await??;
                for s in pending {
                    let m = DownMsg::Summary {
                        seq: s.seq,
                        body: s.body,
                        sig: s.sig,
                    };
                    send(&mut tx, &m, MAX_FRAME).await?;
                    sent = s.seq;
                }
            }
            tokio::select! {
                msg = reader.next::<UpMsg>() => match msg? {
                    Some(UpMsg::Ack { up_to_seq }) => self.ack(up_to_seq).await?,
                    Some(UpMsg::Error { message, .. }) => anyhow::bail!("upstream refused: {message}"),
                    Some(UpMsg::Welcome { .. }) => anyhow::bail!("a second welcome from the upstream"),
                    None => anyhow::bail!("the upstream ended the session"),
                },
                _ = tick.tick() => self.produce().await?,
                () = self.wake.notified() => self.produce().await?,
                _ = shutdown.changed() => {
                    conn.close(0u32.into(), b"shutdown");
                    return Ok(());
                }
            }
        }
    }

    async fn connect(&self) -> anyhow::Result<(quinn::Endpoint, quinn::Connection)> {
        let mut last = anyhow::anyhow!("no upstream address");
        for addr in &self.link.upstreams {
            match vigil_agent::tls::connect(addr, self.cfg.clone()).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn ack(&self, up_to: u64) -> anyhow::Result<()> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.federation().fed_spool_ack(up_to)).await??;
        Ok(())
    }

    async fn spool_acked(&self) -> anyhow::Result<u64> {
        let store = self.store.clone();
        let st =
            tokio::task::spawn_blocking(move || store.federation().fed_spool_state()).await??;
        Ok(st.acked_seq)
    }
}
