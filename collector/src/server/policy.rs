//! Delivery of central policies to live sessions (issue 18): the policy key, the current
//! [`PolicyBook`] (re-read when the store's policy revision moves: the CLI and other collectors
//! change policies from other processes), and the push of a bundle to one session.

use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::watch;
use tracing::{debug, info, warn};
use vigil_proto::msg::CollectorMsg;
use vigil_proto::session::CollectorSession;

use crate::catalog::SharedCatalog;
use crate::policy::book::Delivery;
use crate::policy::{PolicyBook, PolicyKey};
use crate::store::Store;

/// The policy state a collector shares between its sessions.
#[derive(Debug)]
pub(crate) struct PolicyHub {
    key: PolicyKey,
    book: RwLock<Arc<PolicyBook>>,
    /// The revision of `book`; sessions wait on it to push changes.
    pub(crate) rev: watch::Sender<i64>,
    max_frame: usize,
    /// Sessions that may hold a bundle in their transmit queue at once.
    slots: Arc<tokio::sync::Semaphore>,
}

/// Sessions pushing a bundle at the same time (each queues one encoded copy, about 1.4 times
/// the bundle); the others wait their turn.
const PUSH_SLOTS: usize = 32;

impl PolicyHub {
    /// Loads the data directory's policy key (creating it, logged and audited, for an install
    /// from before policies) and the current policies.
    pub(crate) fn open(
        data_dir: &std::path::Path,
        store: &dyn Store,
        max_frame: usize,
        now: i64,
    ) -> anyhow::Result<Self> {
        let (key, created) = PolicyKey::load_or_create(data_dir)?;
        if created {
            info!(key = %key.public(), "Created the policy signing key: agents enrolled from now on pin it; older agents must re-enroll to receive policies.");
            store.audit(
                "collector",
                "policy.key_created",
                &serde_json::json!({"public_key": key.public().to_string()}),
                now,
            )?;
        }
        let book = PolicyBook::load(store)?;
        let (rev, _) = watch::channel(book.rev());
        Ok(Self {
            key,
            book: RwLock::new(Arc::new(book)),
            rev,
            max_frame,
            slots: Arc::new(tokio::sync::Semaphore::new(PUSH_SLOTS)),
        })
    }

    /// Waits for a push slot.
    pub(crate) async fn push_slot(&self) -> anyhow::Result<tokio::sync::OwnedSemaphorePermit> {
        Ok(self.slots.clone().acquire_owned().await?)
    }

    /// The public key agents pin at enrollment, as text.
    pub(crate) fn public_key(&self) -> String {
        self.key.public().to_string()
    }

    fn book(&self) -> Arc<PolicyBook> {
        self.book
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the policies when the store's revision moved, and puts their rules in force in
    /// `catalog` (batches are corrected with them from now on); sessions then push.
    pub(crate) fn refresh(
        &self,
        store: &dyn Store,
        catalog: &SharedCatalog,
    ) -> crate::store::Result<()> {
        let rev = store.policies().policy_rev()?;
        if rev == self.book().rev() {
            return Ok(());
        }
        let book = Arc::new(PolicyBook::load(store)?);
        let rev = book.rev();
        catalog.replace(book.catalog());
        debug!(rev, "Policies changed: their rules are in the catalogue.");
        *self.book.write().unwrap_or_else(PoisonError::into_inner) = book;
        self.rev
            .send_if_modified(|cur| std::mem::replace(cur, rev) != rev);
        Ok(())
    }

    /// The bundle for the agents of `agency` (`None`: no policy on its path).
    pub(crate) fn delivery(&self, agency: &str, now: i64) -> Option<Arc<Delivery>> {
        #[cfg(debug_assertions)]
        if let Some(d) = self.test_blob() {
            return Some(d);
        }
        match self
            .book()
            .delivery(agency, self.key.signer(), self.max_frame, now)
        {
            Ok(d) => d,
            Err(e) => {
                warn!(%agency, error = %e, "Cannot build the policy bundle; agents keep what they have.");
                None
            }
        }
    }
}

/// Test hook of debug builds (release builds do not have it): with
/// `VIGIL_DANGER_TEST_POLICY_BLOB=<file>`, every session is sent the bytes of that file as the
/// signed bundle, whatever version its agent holds, so end-to-end tests can show that agents
/// refuse a tampered bundle and a replayed older one.
#[cfg(debug_assertions)]
impl PolicyHub {
    fn test_blob(&self) -> Option<Arc<Delivery>> {
        use vigil_proto::policy::{SignedBundle, decode_bundle, split};
        let path = std::env::var_os("VIGIL_DANGER_TEST_POLICY_BLOB")?;
        let bytes = std::fs::read(path).ok()?;
        // The canonical bundle follows the 64-byte signature; a blob that does not decode
        // claims the highest version so the agent looks at it.
        let version = bytes
            .get(64..)
            .and_then(|b| decode_bundle(b).ok())
            .map_or(u64::MAX, |b| b.version);
        let signed_len = bytes.len();
        let signed = SignedBundle::from_bytes(bytes).ok()?;
        let chunks = split(&signed, version, self.max_frame).ok()?;
        warn!(
            version,
            "Sending the test policy blob (VIGIL_DANGER_TEST_POLICY_BLOB)."
        );
        Some(Arc::new(Delivery {
            version,
            label: "test blob".into(),
            chunks,
            signed_len,
            forced: true,
        }))
    }
}

/// True when [`push`] would send `d` to an agent holding `have`.
pub(crate) fn needs_push(d: Option<&Delivery>, have: u64) -> bool {
    d.is_some_and(|d| d.version > have || d.forced)
}

/// Sends `d` to a session whose agent holds version `have`, unless it has it (or a newer
/// one). Returns the version the agent will hold.
pub(crate) fn push(
    sess: &mut CollectorSession,
    d: Option<&Delivery>,
    have: u64,
) -> anyhow::Result<u64> {
    let Some(d) = d.filter(|_| needs_push(d, have)) else {
        return Ok(have);
    };
    for chunk in &d.chunks {
        sess.push(&CollectorMsg::PolicyUpdate {
            chunk: chunk.clone(),
        })?;
    }
    debug!(from = have, version = d.version, policies = %d.label, bytes = d.signed_len, chunks = d.chunks.len(), "Policy bundle pushed.");
    // A forced test blob does not change what the agent holds.
    Ok(if d.forced { have } else { d.version })
}
