//! The upstream end of federation: federation tokens, a downstream collector's enrollment, and
//! its summary sessions (ALPN `vigil-fed/1`).
//!
//! A session answers nothing but [`UpMsg::Welcome`], [`UpMsg::Ack`] and [`UpMsg::Error`]: the
//! upstream has no message that could change anything downstream. A summary is stored only if
//! its signature verifies against the session's certificate, it parses within bounds, and it is
//! signed by the session's own downstream; its agencies are grafted under the agency the
//! downstream's token was for, so it cannot reach anything outside that subtree.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use vigil_proto::fed::{DownMsg, UpMsg};
use vigil_proto::msg::{EnrollRequest, EnrollResponse, code};
use vigil_proto::{MIN_PROTO_VERSION, PROTO_VERSION};

use super::link::{Reader, send};
use super::sign;
use super::summary::PostureSummary;
use crate::enroll::{TokenCreateError, create_token, secret_hash};
use crate::pki::{AgentCertRequest, Ca, DownstreamIdentity, downstream_identity};
use crate::scoring::ScoreCache;
use crate::store::fed::{Downstream, Received};
use crate::store::{Store, StoreError, TokenRecord};

/// Largest frame of a summary session.
pub const MAX_FRAME: usize = vigil_proto::fed::MAX_SUMMARY_BODY + 16 * 1024;
/// Largest enrollment frame.
const MAX_ENROLL_FRAME: usize = 64 * 1024;
/// How long a peer may take to say hello or enroll.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates a federation token: an enrollment token that admits a downstream collector (and no
/// agent) under `agency`.
///
/// # Errors
/// As [`create_token`].
pub fn create_fed_token(
    store: &dyn Store,
    ca: &Ca,
    agency: &str,
    (ttl, uses): (Duration, u32),
    addrs: Vec<String>,
    now: i64,
) -> Result<(String, TokenRecord), TokenCreateError> {
    let (text, rec) = create_token(store, ca, agency, ttl, uses, addrs, now)?;
    if let Err(e) = store.federation().fed_token_mark(&rec.secret_hash) {
        // Never leave an agent-usable token behind a failed mark.
        let _ = store.token_revoke(&rec.id);
        return Err(e.into());
    }
    Ok((text, rec))
}

fn refuse(code: u32, message: impl Into<String>) -> EnrollResponse {
    EnrollResponse::Error {
        code,
        message: message.into(),
    }
}

/// Handles a downstream collector's enrollment request. Never panics on hostile input; a token
/// use is consumed only by a well-formed request carrying a federation token.
pub fn enroll(
    store: &dyn Store,
    ca: &Ca,
    req: &EnrollRequest,
    now: OffsetDateTime,
) -> EnrollResponse {
    let secret = match crate::enroll::check_request(req, "upgrade the downstream collector") {
        Ok(s) => s,
        Err((c, m)) => return refuse(c, format!("downstream {m}")),
    };
    let hash = secret_hash(&secret);
    match store.federation().fed_token_is(&hash) {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                code::UNAUTHORIZED,
                "this is not a federation token (create one with `vigil-collector upstream token`)",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "Token lookup failed.");
            return refuse(code::INTERNAL, "collector storage error; try again later");
        }
    }
    let tok = match store.token_consume(&hash, now.unix_timestamp()) {
        Ok(Ok(t)) => t,
        Ok(Err(r)) => return refuse(code::UNAUTHORIZED, r.message()),
        Err(e) => {
            tracing::error!(error = %e, "Token lookup failed.");
            return refuse(code::INTERNAL, "collector storage error; try again later");
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    let issued = match ca.issue_downstream(
        &req.csr_pem,
        &AgentCertRequest {
            agent_id: &id,
            agency: &tok.agency,
        },
        now,
    ) {
        Ok(c) => c,
        Err(e) => return refuse(code::PROTOCOL, format!("cannot issue certificate: {e}")),
    };
    let d = Downstream {
        id: id.clone(),
        agency: tok.agency.clone(),
        name: req.host.hostname.clone(),
        cert_serial: issued.serial,
        enrolled_at: now.unix_timestamp(),
        revoked_at: 0,
        acked_seq: 0,
        last_received: 0,
    };
    if let Err(e) = store.federation().fed_downstream_add(&d) {
        tracing::error!(error = %e, "Recording the downstream failed.");
        return refuse(code::INTERNAL, "collector storage error; try again later");
    }
    let detail = serde_json::json!({"downstream": id, "agency": tok.agency, "name": d.name});
    if let Err(e) = store.audit(
        "federation",
        "downstream_enroll",
        &detail,
        now.unix_timestamp(),
    ) {
        tracing::error!(error = %e, "Auditing the enrollment failed.");
    }
    tracing::info!(downstream = %id, agency = %tok.agency, name = %d.name, "Downstream collector enrolled.");
    EnrollResponse::Ok {
        agent_id: id,
        agency: tok.agency,
        cert_pem: issued.pem,
        ca_pem: ca.cert_pem().to_owned(),
        replaced: false,
        // An upstream never configures its downstreams: no policy key to pin.
        policy_key: None,
    }
}

/// What the upstream does with one summary of `who`: the answer, and whether the session ends.
///
/// # Errors
/// Store errors (the session ends; the downstream resends).
pub fn on_summary(
    store: &dyn Store,
    who: &DownstreamIdentity,
    (seq, body, sig): (u64, &str, &str),
    now: i64,
) -> Result<(UpMsg, bool), StoreError> {
    let fail = |code: u32, message: String| {
        tracing::warn!(downstream = %who.id, seq, %message, "Summary refused.");
        Ok((UpMsg::Error { code, message }, true))
    };
    if !sign::verify(&who.public_key, body.as_bytes(), sig) {
        return fail(code::UNAUTHORIZED, format!("summary {seq}: bad signature"));
    }
    let summary = match PostureSummary::parse(body) {
        Ok(s) => s,
        Err(e) => return fail(code::PROTOCOL, format!("summary {seq}: {e}")),
    };
    if summary.downstream_id != who.id {
        return fail(
            code::UNAUTHORIZED,
            format!("summary {seq} is signed for another downstream"),
        );
    }
    match store
        .federation()
        .fed_receive(&who.id, seq, body, sig, now)?
    {
        Received::Stored { gap } => {
            if let Some((from, to)) = gap {
                tracing::warn!(downstream = %who.id, from, to, "Summaries missing from a downstream.");
            }
            tracing::debug!(downstream = %who.id, seq, "Summary stored.");
            Ok((UpMsg::Ack { up_to_seq: seq }, false))
        }
        Received::Duplicate => {
            let acked = store
                .federation()
                .fed_downstream(&who.id)?
                .map_or(seq, |d| d.acked_seq);
            Ok((UpMsg::Ack { up_to_seq: acked }, false))
        }
    }
}

/// Who a session's certificate names, if it is a live downstream with that very certificate.
fn admit(store: &dyn Store, conn: &quinn::Connection) -> Result<DownstreamIdentity, String> {
    let certs = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or("a client certificate is required; run `vigil-collector upstream enroll`")?;
    let leaf = certs.first().ok_or("empty certificate chain")?;
    let who = downstream_identity(leaf)?;
    match store.federation().fed_downstream(&who.id) {
        Ok(Some(d)) if d.revoked_at == 0 && d.cert_serial == who.serial => Ok(who),
        Ok(_) => Err("unknown or revoked downstream collector".into()),
        Err(e) => Err(format!("storage error: {e}")),
    }
}

/// Serves a downstream's enrollment connection.
///
/// # Errors
/// Stream errors.
pub async fn enroll_conn(
    store: Arc<dyn Store>,
    ca: Arc<Ca>,
    conn: &quinn::Connection,
) -> anyhow::Result<()> {
    let (mut tx, rx) = tokio::time::timeout(HELLO_TIMEOUT, conn.accept_bi()).await??;
    let mut reader = Reader::new(rx, MAX_ENROLL_FRAME);
    let resp = match tokio::time::timeout(HELLO_TIMEOUT, reader.next::<EnrollRequest>()).await {
        Ok(Ok(Some(req))) => {
            tokio::task::spawn_blocking(move || {
                enroll(&*store, &ca, &req, OffsetDateTime::now_utc())
            })
            .await?
        }
        Ok(Ok(None)) | Err(_) => refuse(code::TIMED_OUT, "no enrollment request received"),
        Ok(Err(e)) => refuse(code::MALFORMED, format!("bad enrollment request: {e}")),
    };
    send(&mut tx, &resp, MAX_ENROLL_FRAME).await?;
    tx.finish()?;
    // Let the answer reach the peer before the connection goes.
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    Ok(())
}

/// Who is told when a summary is stored, and the budgets summaries are handled within.
#[derive(Debug, Default, Clone)]
pub struct Told {
    /// The console's scores, invalidated so it shows the new figures at its next look.
    pub scores: Option<Arc<ScoreCache>>,
    /// This collector's own upstream link, which pushes the change on.
    pub wake: Option<Arc<tokio::sync::Notify>>,
    /// Every downstream's summary budget, shared by all sessions of this collector.
    pub budgets: Arc<Budgets>,
}

/// Summaries a downstream may have handled per minute, all its sessions together: a legitimate
/// one sends a summary when something changed (at most every `interval`) and at least hourly,
/// and drains its spool after an outage at this pace.
pub const SUMMARIES_PER_MINUTE: u32 = 60;
/// Bytes of summaries (bodies and signatures) a downstream may have handled per minute.
pub const SUMMARY_BYTES_PER_MINUTE: usize = 8 * 1024 * 1024;

/// A downstream's budget: token buckets of summaries and bytes, full at a minute's worth,
/// refilled continuously. Over budget, a session waits and reads nothing meanwhile, so a
/// flooding downstream is pushed back through QUIC flow control and costs the upstream no more
/// than its budget of signature checks, parses and writes. Time is an argument (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryBudget {
    count: f64,
    bytes: f64,
    last_ms: i64,
}

impl SummaryBudget {
    const COUNT: f64 = SUMMARIES_PER_MINUTE as f64;
    const BYTES: f64 = SUMMARY_BYTES_PER_MINUTE as f64;

    /// A full budget at `now_ms`.
    pub fn full(now_ms: i64) -> Self {
        Self {
            count: Self::COUNT,
            bytes: Self::BYTES,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: i64) {
        #[allow(clippy::cast_precision_loss)] // a few minutes of ms at most matter
        let minutes = (now_ms.saturating_sub(self.last_ms).max(0) as f64) / 60_000.0;
        self.last_ms = self.last_ms.max(now_ms);
        self.count = (self.count + minutes * Self::COUNT).min(Self::COUNT);
        self.bytes = (self.bytes + minutes * Self::BYTES).min(Self::BYTES);
    }

    /// Takes one summary of `len` bytes, or says how long to wait until the budget holds it.
    /// A summary larger than a minute's bytes is taken once the byte bucket is full.
    pub fn take(&mut self, now_ms: i64, len: usize) -> Result<(), Duration> {
        self.refill(now_ms);
        #[allow(clippy::cast_precision_loss)] // frames are under a few MiB
        let need = (len as f64).min(Self::BYTES);
        if self.count >= 1.0 && self.bytes >= need {
            self.count -= 1.0;
            self.bytes -= need;
            return Ok(());
        }
        let wait_min = ((1.0 - self.count) / Self::COUNT).max((need - self.bytes) / Self::BYTES);
        Err(Duration::from_secs_f64(wait_min.max(0.0) * 60.0).max(Duration::from_millis(1)))
    }

    /// True once a minute has refilled it completely (the entry can be forgotten).
    fn idle(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.last_ms) >= 60_000
    }
}

/// Summary budgets per downstream id.
#[derive(Debug, Default)]
pub struct Budgets(std::sync::Mutex<std::collections::HashMap<String, SummaryBudget>>);

impl Budgets {
    /// [`SummaryBudget::take`] on `downstream`'s budget.
    ///
    /// # Errors
    /// How long to wait.
    pub fn take(&self, downstream: &str, now_ms: i64, len: usize) -> Result<(), Duration> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 1024 {
            map.retain(|_, b| !b.idle(now_ms));
        }
        map.entry(downstream.to_owned())
            .or_insert_with(|| SummaryBudget::full(now_ms))
            .take(now_ms, len)
    }
}

/// Serves one downstream's summary session until it ends.
pub async fn session_conn(store: Arc<dyn Store>, told: Told, conn: quinn::Connection) {
    let s2 = store.clone();
    let c2 = conn.clone();
    let who = match tokio::task::spawn_blocking(move || admit(&*s2, &c2)).await {
        Ok(Ok(w)) => w,
        Ok(Err(m)) => {
            tracing::info!(reason = %m, "Federation session refused.");
            conn.close(code::UNAUTHORIZED.into(), m.as_bytes());
            return;
        }
        Err(_) => return,
    };
    if let Err(e) = serve(store, told, &conn, &who).await {
        tracing::info!(downstream = %who.id, error = %e, "Federation session ended.");
    }
}

async fn serve(
    store: Arc<dyn Store>,
    told: Told,
    conn: &quinn::Connection,
    who: &DownstreamIdentity,
) -> anyhow::Result<()> {
    let (mut tx, rx) = tokio::time::timeout(HELLO_TIMEOUT, conn.accept_bi()).await??;
    let mut reader = Reader::new(rx, MAX_FRAME);
    let hello = tokio::time::timeout(HELLO_TIMEOUT, reader.next::<DownMsg>()).await??;
    let ok_hello = matches!(&hello, Some(DownMsg::Hello { downstream_id, proto_version })
        if *downstream_id == who.id && *proto_version >= MIN_PROTO_VERSION);
    if !ok_hello {
        let m = UpMsg::Error {
            code: code::PROTOCOL,
            message: "expected a hello naming this certificate's downstream".into(),
        };
        send(&mut tx, &m, MAX_FRAME).await?;
        conn.close(code::PROTOCOL.into(), b"bad hello");
        return Ok(());
    }
    let (s2, id) = (store.clone(), who.id.clone());
    let acked = tokio::task::spawn_blocking(move || s2.federation().fed_downstream(&id))
        .await??
        .map_or(0, |d| d.acked_seq);
    let welcome = UpMsg::Welcome {
        proto_version: PROTO_VERSION,
        acked_seq: acked,
    };
    send(&mut tx, &welcome, MAX_FRAME).await?;
    tracing::info!(downstream = %who.id, acked, "Federation session started.");
    let mut throttled = false;
    while let Some(msg) = reader.next::<DownMsg>().await? {
        if let Err(m) = msg.check_limits() {
            anyhow::bail!("peer sent an oversized message: {m}");
        }
        let DownMsg::Summary { seq, body, sig } = msg else {
            anyhow::bail!("peer sent a second hello");
        };
        // Within the downstream's budget before any work on it; waiting reads nothing more.
        let len = body.len() + sig.len();
        while let Err(wait) = told.budgets.take(&who.id, crate::clock::now_ms(), len) {
            if !throttled {
                throttled = true;
                tracing::warn!(downstream = %who.id, seq, "Downstream over its summary budget; slowed down.");
            }
            tokio::time::sleep(wait).await;
        }
        let (s2, w2) = (store.clone(), who.clone());
        let now = crate::clock::now_ms() / 1000;
        let (answer, end) =
            tokio::task::spawn_blocking(move || on_summary(&*s2, &w2, (seq, &body, &sig), now))
                .await??;
        send(&mut tx, &answer, MAX_FRAME).await?;
        if end {
            conn.close(code::PROTOCOL.into(), b"summary refused");
            return Ok(());
        }
        if let Some(c) = &told.scores {
            c.invalidate();
        }
        if let Some(w) = &told.wake {
            w.notify_one();
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
