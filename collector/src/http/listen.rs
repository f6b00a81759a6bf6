//! The console's TLS listener: TCP accepts with the TLS handshakes done beside the accept loop,
//! handed to `axum::serve` as finished streams.
//!
//! Handshakes run in their own tasks with a deadline and a cap on how many run at once, so a
//! client that opens a connection and sends nothing neither blocks other clients nor holds
//! memory for long.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Time a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once; further connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;

/// The rustls configuration of the console: the certificate chain and key from PEM files,
/// TLS 1.2 and 1.3, HTTP/1.1.
///
/// # Errors
/// When a file cannot be read or holds no usable certificate or key.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{}: no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| format!("the certificate {} and its key", cert.display()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A listener whose connections are TLS streams that finished their handshake.
#[derive(Debug)]
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl TlsListener {
    /// Starts accepting on `tcp`.
    ///
    /// # Errors
    /// When the socket has no local address.
    pub fn new(tcp: TcpListener, cfg: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let accept_task = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(cfg), tx));
        Ok(Self {
            rx,
            local,
            accept_task,
        })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (sock, peer) = match tcp.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::debug!(error = %e, "HTTPS accept failed.");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if tx.is_closed() {
            return;
        }
        let _ = sock.set_nodelay(true);
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            let done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await;
            drop(permit);
            match done {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed."),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out."),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::RootCertStore;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;

    use crate::app::serve;
    use crate::pki::{Ca, PkiPaths};

    fn client(ca: &Ca) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der().clone()).expect("root");
        let cfg = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(cfg))
    }

    /// GET /healthz over TLS as `name`; the whole response.
    async fn get(
        conn: &TlsConnector,
        addr: std::net::SocketAddr,
        name: &str,
    ) -> std::io::Result<String> {
        let tcp = TcpStream::connect(addr).await?;
        let server = ServerName::try_from(name.to_owned()).expect("name");
        let mut tls = conn.connect(server, tcp).await?;
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        // The server may close without close_notify once the response is out.
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tls.read_to_end(&mut buf),
        )
        .await;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_console_serves_https_that_only_the_collector_ca_vouches_for() {
        let (tmp, dir, cfg) = crate::cli::init_for_test();
        assert!(cfg.http_tls.is_some(), "HTTPS is the default");
        let ca = Ca::load(&PkiPaths::new(&dir)).expect("ca");
        let (sd_tx, sd_rx) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(serve(cfg, Some(ready_tx), sd_rx));
        let (_, http) = ready_rx.await.expect("listening");

        let conn = client(&ca);
        for name in ["localhost", "127.0.0.1"] {
            let r = get(&conn, http, name).await.expect("HTTPS request");
            assert!(r.starts_with("HTTP/1.1 200"), "{name}: {r}");
            assert!(r.ends_with("\r\n\r\nok"), "{name}: {r}");
        }
        // A name the certificate does not carry, and a client trusting another CA, are refused.
        assert!(get(&conn, http, "elsewhere.test").await.is_err());
        let other_dir = tmp.path().join("other");
        std::fs::create_dir_all(other_dir.join("pki")).expect("mkdir");
        let other = crate::pki::init(
            &PkiPaths::new(&other_dir),
            "Other",
            &crate::pki::ServerNames::default(),
        )
        .expect("other ca");
        assert!(get(&client(&other), http, "localhost").await.is_err());
        // Plain HTTP on the HTTPS port gets no HTTP answer.
        let mut tcp = TcpStream::connect(http).await.expect("connect");
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("write");
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tcp.read_to_end(&mut buf),
        )
        .await;
        assert!(!String::from_utf8_lossy(&buf).contains("ok"), "{buf:?}");

        sd_tx.send(true).expect("shutdown");
        tokio::time::timeout(std::time::Duration::from_secs(15), server)
            .await
            .expect("stops")
            .expect("task")
            .expect("clean exit");
    }
}
