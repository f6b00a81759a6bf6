//! SQLite backend: one file, WAL, `synchronous=FULL` so an acknowledged batch survives power loss.
//!
//! The schema is `store::migrations`' (one for both backends); pending migrations are applied in
//! order at open, each in its own transaction. A single connection behind a mutex serialises writers, which is
//! what SQLite does anyway; batches amortise the fsync.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use rusqlite::{Connection, OptionalExtension, params};
use vigil_proto::{Envelope, Finding};

use super::{FindingFilter, Gap, IngestOutcome, Result, StoreError, StoredFinding};

mod findings;
mod rows;
mod seam;

use super::sql;
use rows::*;

/// Read-only connections a file-backed store opens beside its writer.
const READERS: usize = 3;

/// SQLite-backed [`Store`]: one writer connection, and for a file a few read-only connections
/// so that reads (scoring's parallel loads, the console) run while a batch is being written.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError`] when the file cannot be opened or is from a newer Vigil.
    pub fn open(path: &Path) -> Result<Self> {
        // Create the file 0600 first: SQLite gives its -wal and -shm files the database's mode.
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::Db(format!("{}: {e}", path.display())))?;
        }
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Other processes write this file too (the CLI, the demo's simulated province). A
        // deferred transaction that reads first and then writes cannot wait for them: SQLite
        // answers "database is locked" at once rather than risk a deadlock. Taking the write
        // lock at BEGIN lets the busy timeout apply.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut s = Self::with_writer(conn);
        s.migrate()?;
        // Opened after the migrations, so they never see an older schema. In WAL a reader
        // reads the last committed state without waiting for the writer.
        for _ in 0..READERS {
            s.readers.push(Mutex::new(open_reader(path)?));
        }
        Ok(s)
    }

    fn with_writer(conn: Connection) -> Self {
        Self {
            conn: Mutex::new(conn),
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
        }
    }

    /// Opens an in-memory database (tests).
    ///
    /// # Errors
    /// [`StoreError`] on failure.
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let s = Self::with_writer(conn);
        s.migrate()?;
        Ok(s)
    }

    fn migrate(&self) -> Result<()> {
        super::migrations::sqlite::migrate(&mut self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back), so a poisoned mutex is safe to keep using.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection for reading: an idle reader, else the next one in turn (the writer when
    /// there are none: in memory). Never used for writing: readers are read-only.
    fn read(&self) -> MutexGuard<'_, Connection> {
        for r in &self.readers {
            match r.try_lock() {
                Ok(g) => return g,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        if self.readers.is_empty() {
            return self.lock();
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A read-only connection to the database file at `path` (already in WAL).
fn open_reader(path: &Path) -> Result<Connection> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A checkpoint or recovery briefly locks even readers out.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

use super::{CheckState, ScorePoint};

impl super::common::store::Backend for SqliteStore {
    fn check_states(&self) -> Result<Vec<(String, Vec<CheckState>)>> {
        let conn = self.read();
        let mut st = conn.prepare(
            "SELECT c.agent_id, c.results FROM check_state c JOIN agents a ON a.id = c.agent_id
             WHERE a.revoked = 0 ORDER BY c.agent_id",
        )?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let results = r
                .get_ref(1)?
                .as_str()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let state = serde_json::from_str(results)
                .map_err(|e| StoreError::Corrupt(format!("check state of {id}: {e}")))?;
            out.push((id, state));
        }
        Ok(out)
    }

    fn scores_record(&self, points: &[ScorePoint]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut hist = tx.prepare_cached(&format!(
                "INSERT INTO score_history ({SCORE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?;
            let mut latest = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO score_latest ({SCORE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?;
            for p in points {
                let v = params![
                    p.scope,
                    p.id,
                    p.view,
                    p.score,
                    p.coverage,
                    p.rule_pack_version,
                    p.scoring_version,
                    p.computed_at
                ];
                hist.execute(v)?;
                latest.execute(v)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn ingest(
        &self,
        agent_id: &str,
        batch: &[Envelope],
        received_at: i64,
    ) -> Result<IngestOutcome> {
        findings::ingest(self, agent_id, batch, received_at)
    }

    fn max_seq(&self, agent_id: &str) -> Result<u64> {
        findings::max_seq(self, agent_id)
    }

    fn findings(&self, f: &FindingFilter) -> Result<Vec<StoredFinding>> {
        findings::findings(self, f)
    }

    fn finding_count(&self, agent_id: &str) -> Result<u64> {
        findings::finding_count(self, agent_id)
    }

    fn gaps(&self, agent_id: Option<&str>) -> Result<Vec<Gap>> {
        findings::gaps(self, agent_id)
    }

    fn listeners_learn(
        &self,
        agent_id: &str,
        keys: &[String],
        now: i64,
    ) -> Result<(usize, Vec<String>)> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let before: i64 = tx.query_row(sql::LISTENER_COUNT, [agent_id], |r| r.get(0))?;
        let mut new = Vec::new();
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO known_listeners (agent_id, key, first_seen) VALUES (?1, ?2, ?3)",
            )?;
            let mut room = super::MAX_LISTENERS_PER_AGENT
                .saturating_sub(usize::try_from(before).unwrap_or(usize::MAX));
            for k in keys {
                if room == 0 {
                    break;
                }
                if ins.execute(params![agent_id, k, now])? > 0 {
                    new.push(k.clone());
                    room -= 1;
                }
            }
        }
        tx.commit()?;
        Ok((usize::try_from(before).unwrap_or(0), new))
    }
}

#[cfg(test)]
mod tests;
