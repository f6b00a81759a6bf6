//! `vigil-agent enroll`: key generated on the host, CSR, token, identity written to the state dir.

use std::io::{BufRead, Read as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use sha2::{Digest, Sha256};
use vigil_proto::frame::{self, FrameDecoder};
use vigil_proto::msg::{EnrollRequest, EnrollResponse, HostIdentity};
use vigil_proto::token::EnrollToken;

use crate::state::{Identity, StatePaths, write_private};
use crate::tls;

/// Largest enrollment answer accepted.
const MAX_RESPONSE: usize = 256 * 1024;

/// Refusal by the collector (exit code 3, message shown as is).
#[derive(Debug, thiserror::Error)]
#[error("the collector refused enrollment: {message}")]
pub struct Refused {
    /// Reason from the collector.
    pub message: String,
    /// Code from [`vigil_proto::msg::code`].
    pub code: u32,
}

/// Where `enroll` reads the token from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Given on the command line: visible to every local user in the process list.
    Arg(String),
    /// Standard input (`--token -`).
    Stdin,
    /// A file only its owner may read (`--token-file FILE`).
    File(PathBuf),
}

/// Largest token text read (a token is about 150 bytes).
const MAX_TOKEN_TEXT: u64 = 8 * 1024;

/// The token could not be read from where it was said to be (a usage error, exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenSourceError(pub String);

/// Reads the token text from `src` (`stdin` for [`TokenSource::Stdin`]), trimmed.
///
/// A token file must be a regular file that no group and no other user may read or write: the
/// token is a secret, and whoever could rewrite it could point the enrollment at their own
/// collector.
///
/// # Errors
/// [`TokenSourceError`] naming the file or stream and what is wrong.
pub fn read_token(src: &TokenSource, stdin: &mut dyn BufRead) -> Result<String, TokenSourceError> {
    let err = |m: String| TokenSourceError(m);
    let text = match src {
        TokenSource::Arg(t) => t.clone(),
        TokenSource::Stdin => {
            let mut line = String::new();
            stdin
                .take(MAX_TOKEN_TEXT)
                .read_line(&mut line)
                .map_err(|e| err(format!("--token -: reading standard input: {e}")))?;
            line
        }
        TokenSource::File(path) => {
            let shown = path.display();
            let f =
                std::fs::File::open(path).map_err(|e| err(format!("--token-file {shown}: {e}")))?;
            let meta = f
                .metadata()
                .map_err(|e| err(format!("--token-file {shown}: {e}")))?;
            if !meta.is_file() {
                return Err(err(format!("--token-file {shown}: not a regular file")));
            }
            crate::platform::check_private_file(path, &meta)
                .map_err(|e| err(format!("--token-file {e}")))?;
            let mut text = String::new();
            f.take(MAX_TOKEN_TEXT + 1)
                .read_to_string(&mut text)
                .map_err(|e| err(format!("--token-file {shown}: {e}")))?;
            if text.len() as u64 > MAX_TOKEN_TEXT {
                return Err(err(format!(
                    "--token-file {shown}: larger than {MAX_TOKEN_TEXT} bytes; not a token"
                )));
            }
            text
        }
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(err(match src {
            TokenSource::Arg(_) => "--token is empty".into(),
            TokenSource::Stdin => "--token -: no token on standard input".into(),
            TokenSource::File(p) => format!("--token-file {}: the file is empty", p.display()),
        }));
    }
    Ok(token.to_string())
}

/// Result of a successful enrollment.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The identity written.
    pub identity: Identity,
    /// Whether an earlier identity of this machine was replaced at the collector.
    pub replaced: bool,
    /// Collector address used.
    pub via: String,
}

/// Enrolls this host.
///
/// # Errors
/// [`Refused`] when the collector says no; connection, pin and file errors otherwise.
pub async fn enroll(
    token: &EnrollToken,
    collectors: &[String],
    host: HostIdentity,
    state: &StatePaths,
) -> anyhow::Result<Enrolled> {
    let (key, csr) = key_and_request()?;
    let req = EnrollRequest {
        proto_version: vigil_proto::PROTO_VERSION,
        secret: token.secret_b64(),
        csr_pem: csr,
        host,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let cfg = tls::enroll_config(token.ca_sha256).map_err(anyhow::Error::msg)?;
    let mut last = anyhow::anyhow!("no collector address");
    for addr in collectors {
        match exchange(addr, cfg.clone(), &req).await {
            Ok(EnrollResponse::Ok {
                agent_id,
                agency,
                cert_pem,
                ca_pem,
                replaced,
                policy_key,
            }) => {
                // Checked before anything is written: a bad key must not leave a half enrollment.
                let policy_key = policy_key
                    .as_deref()
                    .map(vigil_proto::policy::PolicyPublicKey::parse)
                    .transpose()
                    .context("collector sent an unusable policy key")?;
                let identity = store(
                    state, &key, token, collectors, agent_id, agency, &cert_pem, &ca_pem,
                )?;
                pin_policy_key(state, policy_key.as_ref())?;
                return Ok(Enrolled {
                    identity,
                    replaced,
                    via: addr.clone(),
                });
            }
            Ok(EnrollResponse::Error { code, message }) => {
                return Err(Refused { message, code }.into());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A fresh P-256 key and the PEM certificate request for it: what an agent, or a collector
/// enrolling to its upstream, sends with its token.
///
/// # Errors
/// When the key or the request cannot be built.
pub fn key_and_request() -> anyhow::Result<(rcgen::KeyPair, String)> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating the key")?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .context("building the certificate request")?;
    Ok((key, csr))
}

/// What an enrollment answer hands over: the new identity, its certificate and the CA.
#[derive(Debug, Clone, Copy)]
pub struct Issued<'a> {
    /// The id given to the enrolled party (a UUID).
    pub id: &'a str,
    /// The certificate issued for our key.
    pub cert_pem: &'a str,
    /// The CA that issued it.
    pub ca_pem: &'a str,
}

/// Checks an enrollment answer from `peer` before anything of it is stored: the CA is the one
/// the token pins, the certificate is readable and for `key`, the id is a UUID. Returns the
/// certificate's expiry (Unix seconds).
///
/// # Errors
/// Says which of these fails, naming `peer`.
pub fn check_answer(
    peer: &str,
    token: &EnrollToken,
    key: &rcgen::KeyPair,
    issued: Issued<'_>,
) -> anyhow::Result<i64> {
    let ca = CertificateDer::from_pem_slice(issued.ca_pem.as_bytes())
        .with_context(|| format!("{peer} sent an unreadable CA"))?;
    if <[u8; 32]>::from(Sha256::digest(ca.as_ref())) != token.ca_sha256 {
        anyhow::bail!("{peer} sent a CA that does not match the token's pin");
    }
    let cert = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes())
        .with_context(|| format!("{peer} sent an unreadable certificate"))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| anyhow::anyhow!("bad certificate: {e}"))?;
    if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        anyhow::bail!("{peer} issued a certificate for another key");
    }
    if uuid::Uuid::parse_str(issued.id).is_err() {
        anyhow::bail!("{peer} sent an invalid id");
    }
    Ok(parsed.validity().not_after.timestamp())
}

async fn exchange(
    addr: &str,
    cfg: quinn::ClientConfig,
    req: &EnrollRequest,
) -> anyhow::Result<EnrollResponse> {
    let (ep, conn) = tls::connect(addr, cfg).await?;
    let result = async {
        let (mut send, mut recv) = conn.open_bi().await?;
        send.write_all(&frame::encode(req, MAX_RESPONSE)?).await?;
        send.finish()?;
        let mut dec = FrameDecoder::new(MAX_RESPONSE);
        let mut buf = [0u8; 8192];
        loop {
            if let Some(r) = dec.decode::<EnrollResponse>()? {
                return anyhow::Ok(r);
            }
            match recv.read(&mut buf).await? {
                Some(n) => dec.push(&buf[..n]),
                None => anyhow::bail!("collector closed the stream before answering"),
            }
        }
    };
    let r = tokio::time::timeout(Duration::from_secs(30), result)
        .await
        .context("collector did not answer in 30 s")?;
    conn.close(0u32.into(), b"done");
    ep.wait_idle().await;
    r
}

#[allow(clippy::too_many_arguments)]
fn store(
    state: &StatePaths,
    key: &rcgen::KeyPair,
    token: &EnrollToken,
    collectors: &[String],
    agent_id: String,
    agency: String,
    cert_pem: &str,
    ca_pem: &str,
) -> anyhow::Result<Identity> {
    let cert_not_after = check_answer(
        "collector",
        token,
        key,
        Issued {
            id: &agent_id,
            cert_pem,
            ca_pem,
        },
    )?;
    let identity = Identity {
        agent_id,
        agency,
        collectors: collectors.to_vec(),
        enrolled_at: time_now(),
        cert_not_after,
    };
    state.create()?;
    write_private(&state.key(), key.serialize_pem().as_bytes())?;
    write_private(&state.cert(), cert_pem.as_bytes())?;
    write_private(&state.ca(), ca_pem.as_bytes())?;
    write_private(
        &state.identity(),
        serde_json::to_string_pretty(&identity)?.as_bytes(),
    )?;
    Ok(identity)
}

/// Pins the collector's policy key next to the CA (or removes an earlier one when this
/// collector has none, so no key of another collector is trusted). It arrives over the channel
/// authenticated by the CA the token pins, so it is as trustworthy as the CA itself.
fn pin_policy_key(
    state: &StatePaths,
    key: Option<&vigil_proto::policy::PolicyPublicKey>,
) -> anyhow::Result<()> {
    let store = crate::policy::PolicyStore::new(state);
    match key {
        Some(key) => store.pin_key(key)?,
        None => store.unpin()?,
    }
    Ok(())
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

// POSIX modes; the Windows check (by ACL) is tested with the platform module.
#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn file(dir: &std::path::Path, text: &str, mode: u32) -> PathBuf {
        let p = dir.join("token");
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p
    }

    #[test]
    fn token_files_must_be_private() {
        let d = tempfile::tempdir().expect("tempdir");
        let none = &mut std::io::empty();
        let p = file(d.path(), "vigil1.abc\n", 0o600);
        let got = read_token(&TokenSource::File(p.clone()), none).expect("private file");
        assert_eq!(got, "vigil1.abc");
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let e = read_token(&TokenSource::File(p.clone()), none)
                .expect_err("shared file")
                .to_string();
            assert!(
                e.starts_with("--token-file ") && e.contains("chmod 600"),
                "{mode:o}: {e}"
            );
        }
        let p = file(d.path(), "  \n", 0o600);
        assert!(read_token(&TokenSource::File(p), none).is_err(), "empty");
        let p = file(d.path(), &"x".repeat(10_000), 0o400);
        assert!(
            read_token(&TokenSource::File(p), none).is_err(),
            "too large"
        );
        let e = read_token(&TokenSource::File(d.path().join("missing")), none).expect_err("gone");
        assert!(e.to_string().contains("missing"), "{e}");
        let e = read_token(&TokenSource::File(d.path().to_path_buf()), none).expect_err("dir");
        assert!(e.to_string().contains("regular file"), "{e}");
    }

    #[test]
    fn stdin_and_arguments() {
        let got = read_token(&TokenSource::Stdin, &mut &b"vigil1.xyz\nrest"[..]).expect("stdin");
        assert_eq!(got, "vigil1.xyz");
        assert!(read_token(&TokenSource::Stdin, &mut std::io::empty()).is_err());
        let got = read_token(&TokenSource::Arg(" t ".into()), &mut std::io::empty()).expect("arg");
        assert_eq!(got, "t");
    }
}
