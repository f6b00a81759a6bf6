//! The UDP socket under the agent's QUIC endpoint.
//!
//! On Linux quinn's own socket (`quinn-udp`: GSO, GRO, ECN) is used. On Windows the agent always
//! uses [`PlainUdpSocket`], a plain `quinn::AsyncUdpSocket` over a tokio `UdpSocket` that sends and
//! receives one datagram per call without ECN, GSO or GRO. Why always, and not as a fallback:
//! - `quinn-udp` fails outright under Wine (it asks `IPV6_V6ONLY` of IPv4 sockets and treats
//!   missing ECN socket options as fatal), and Wine is where the Windows agent is tested; with a
//!   fallback, what ships to real Windows would be a code path no test runs;
//! - an agent sends small batches and heartbeats: segmentation offload and ECN buy it nothing
//!   measurable, while one simple, tested path is worth a lot on a thousand government PCs.
//!
//! Errors are handled as `quinn-udp` does: a send failure other than "would block" drops the
//! datagram (QUIC retransmits, as for any loss), and a receive of an oversized datagram
//! (`WSAEMSGSIZE`) drops it instead of ending the endpoint. `WSAECONNRESET` (an ICMP port
//! unreachable for an earlier send) surfaces as `ConnectionReset`, which quinn ignores.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use tokio::io::ReadBuf;

/// A client endpoint bound to `bind`: quinn's socket on Linux, [`PlainUdpSocket`] on Windows.
///
/// # Errors
/// The socket cannot be bound.
pub fn client_endpoint(bind: SocketAddr) -> io::Result<quinn::Endpoint> {
    if cfg!(windows) {
        plain_client_endpoint(bind)
    } else {
        quinn::Endpoint::client(bind)
    }
}

/// A client endpoint over [`PlainUdpSocket`] (every platform; Windows uses it always).
///
/// # Errors
/// The socket cannot be bound, or no tokio runtime is running.
pub fn plain_client_endpoint(bind: SocketAddr) -> io::Result<quinn::Endpoint> {
    plain_endpoint(bind, None)
}

/// An endpoint over [`PlainUdpSocket`], accepting connections when `server` is given.
///
/// # Errors
/// The socket cannot be bound, or no tokio runtime is running.
pub fn plain_endpoint(
    bind: SocketAddr,
    server: Option<quinn::ServerConfig>,
) -> io::Result<quinn::Endpoint> {
    let std_sock = std::net::UdpSocket::bind(bind)?;
    std_sock.set_nonblocking(true)?;
    let sock = PlainUdpSocket {
        io: tokio::net::UdpSocket::from_std(std_sock)?,
        dropped_sends: AtomicU64::new(0),
    };
    quinn::Endpoint::new_with_abstract_socket(
        quinn::EndpointConfig::default(),
        server,
        Arc::new(sock),
        Arc::new(quinn::TokioRuntime),
    )
}

/// One datagram per call over a tokio `UdpSocket`.
pub struct PlainUdpSocket {
    io: tokio::net::UdpSocket,
    dropped_sends: AtomicU64,
}

impl fmt::Debug for PlainUdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainUdpSocket")
            .field("local", &self.io.local_addr().ok())
            .finish_non_exhaustive()
    }
}

/// `WSAEMSGSIZE`: a datagram bigger than the buffer (Windows reports it as an error).
const WSAEMSGSIZE: i32 = 10040;

impl AsyncUdpSocket for PlainUdpSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(Writable { sock: self })
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        match self.io.try_send_to(transmit.contents, transmit.destination) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
            Err(e) => {
                // Lost like any datagram; log the first and then every thousandth.
                let n = self.dropped_sends.fetch_add(1, Ordering::Relaxed);
                if n.is_multiple_of(1000) {
                    tracing::debug!(error = %e, dropped = n + 1, "UDP send failed; datagram dropped.");
                }
                Ok(())
            }
        }
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(m)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        loop {
            let mut rb = ReadBuf::new(buf);
            match ready!(self.io.poll_recv_from(cx, &mut rb)) {
                Ok(addr) => {
                    let len = rb.filled().len();
                    *m = RecvMeta {
                        addr,
                        len,
                        stride: len,
                        ecn: None,
                        dst_ip: None,
                    };
                    return Poll::Ready(Ok(1));
                }
                Err(e) if e.raw_os_error() == Some(WSAEMSGSIZE) => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }
}

/// Waits until the socket can send.
#[derive(Debug)]
struct Writable {
    sock: Arc<PlainUdpSocket>,
}

impl UdpPoller for Writable {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sock.io.poll_send_ready(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A QUIC handshake and a stream round trip between two endpoints over the plain socket.
    #[tokio::test]
    async fn quic_works_over_the_plain_socket() {
        let rt = quinn::rustls::crypto::ring::default_provider();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let der = rustls_pki_types::CertificateDer::from(cert.cert.der().to_vec());
        let key = rustls_pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
            .expect("key");
        let server_tls = quinn::rustls::ServerConfig::builder_with_provider(Arc::new(rt.clone()))
            .with_protocol_versions(&[&quinn::rustls::version::TLS13])
            .expect("tls13")
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .expect("server tls");
        let server_cfg = quinn::ServerConfig::with_crypto(Arc::new(
            quinn::crypto::rustls::QuicServerConfig::try_from(server_tls).expect("quic server"),
        ));
        // Both ends over the plain socket: quinn's own fails under Wine, where this also runs.
        let server =
            plain_endpoint("127.0.0.1:0".parse().expect("addr"), Some(server_cfg)).expect("srv");
        let addr = server.local_addr().expect("addr");

        let mut roots = quinn::rustls::RootCertStore::empty();
        roots.add(der).expect("root");
        let client_tls = quinn::rustls::ClientConfig::builder_with_provider(Arc::new(rt))
            .with_protocol_versions(&[&quinn::rustls::version::TLS13])
            .expect("tls13")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client_cfg = quinn::ClientConfig::new(Arc::new(
            quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).expect("quic client"),
        ));
        let mut client =
            plain_client_endpoint("127.0.0.1:0".parse().expect("bind")).expect("client");
        client.set_default_client_config(client_cfg);

        let srv = tokio::spawn(async move {
            let conn = server
                .accept()
                .await
                .expect("incoming")
                .await
                .expect("conn");
            let (mut send, mut recv) = conn.accept_bi().await.expect("bi");
            let got = recv.read_to_end(1 << 20).await.expect("read");
            send.write_all(&got).await.expect("echo");
            send.finish().expect("finish");
            conn.closed().await;
        });
        let conn = client
            .connect(addr, "localhost")
            .expect("connect")
            .await
            .expect("handshake");
        let (mut send, mut recv) = conn.open_bi().await.expect("open");
        // Bigger than one datagram, so several are sent and acknowledged.
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        send.write_all(&payload).await.expect("write");
        send.finish().expect("finish");
        let echoed = recv.read_to_end(1 << 20).await.expect("read echo");
        assert_eq!(echoed, payload);
        conn.close(0u32.into(), b"done");
        srv.await.expect("server task");
    }
}
