//! SQLite backend: one file, WAL, `synchronous=FULL` so an acknowledged batch survives power loss.
//!
//! Schema versions live in `PRAGMA user_version`; [`MIGRATIONS`] are applied in order at open,
//! each in its own transaction. A single connection behind a mutex serialises writers, which is
//! what SQLite does anyway; batches amortise the fsync.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use vigil_proto::{Envelope, Finding};

use super::{
    Agency, AgentRecord, EnrollOutcome, FindingFilter, Gap, Heartbeat, IngestOutcome, NewAgent,
    Result, SessionCert, Store, StoreError, StoredFinding, TokenRecord, TokenRefusal,
};

mod identity;
mod vuln;

/// Schema migrations; index + 1 is the version after applying.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE agencies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    parent TEXT
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    agency TEXT NOT NULL REFERENCES agencies(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    agency TEXT NOT NULL REFERENCES agencies(id),
    machine_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    os TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'workstation',
    enrolled_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL DEFAULT 0,
    agent_version TEXT NOT NULL DEFAULT '',
    cert_serial TEXT NOT NULL,
    cert_not_after INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    replaced_by TEXT,
    token_id TEXT,
    max_seq INTEGER NOT NULL DEFAULT 0,
    spool_depth INTEGER NOT NULL DEFAULT 0,
    clock_skew_ms INTEGER NOT NULL DEFAULT 0,
    inventory TEXT
);
CREATE INDEX agents_machine ON agents(machine_id);
CREATE TABLE findings (
    agent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    observed_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
CREATE INDEX findings_recv ON findings(received_at);
CREATE TABLE gaps (
    agent_id TEXT NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    detected_at INTEGER NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE iocs (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    source TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX iocs_version ON iocs(version);
"#,
    r#"
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    count INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    reason TEXT
);
CREATE INDEX alerts_key ON alerts(key);
"#,
    r#"
ALTER TABLE agents ADD COLUMN level INTEGER;
ALTER TABLE alerts ADD COLUMN assignee TEXT;
CREATE TABLE check_state (
    agent_id TEXT PRIMARY KEY,
    results TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE assets (
    agency TEXT NOT NULL,
    hostname TEXT NOT NULL,
    role TEXT NOT NULL,
    level INTEGER NOT NULL,
    imported_at INTEGER NOT NULL,
    PRIMARY KEY (agency, hostname)
);
CREATE TABLE score_history (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    view TEXT NOT NULL,
    score REAL NOT NULL,
    coverage REAL,
    rule_pack_version TEXT NOT NULL,
    scoring_version TEXT NOT NULL,
    computed_at INTEGER NOT NULL
);
CREATE INDEX score_history_series ON score_history(scope, id, computed_at);
CREATE TABLE score_latest (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    view TEXT NOT NULL,
    score REAL NOT NULL,
    coverage REAL,
    rule_pack_version TEXT NOT NULL,
    scoring_version TEXT NOT NULL,
    computed_at INTEGER NOT NULL,
    PRIMARY KEY (scope, id, view)
);
CREATE TABLE known_listeners (
    agent_id TEXT NOT NULL,
    key TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (agent_id, key)
);
"#,
    r#"
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name),
    csrf TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    user TEXT NOT NULL REFERENCES users(name),
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
"#,
    // v6: a host page reads one agent's latest findings of one kind.
    r#"
CREATE INDEX findings_agent_kind ON findings(agent_id, kind, received_at);
"#,
    // v7 (issue 17): renewed certificates wait until used, superseded serials are refused,
    // alerts can concern a second agency, per-agent alert caps and report audit reads are
    // indexed.
    r#"
ALTER TABLE agents ADD COLUMN cert_pending TEXT;
ALTER TABLE agents ADD COLUMN cert_pending_not_after INTEGER;
CREATE TABLE revoked_certs (
    serial TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    revoked_at INTEGER NOT NULL
);
ALTER TABLE alerts ADD COLUMN other_agency TEXT;
CREATE INDEX alerts_agent_state ON alerts(agent_id, state);
CREATE INDEX audit_action_at ON audit(action, at);
"#,
    // v8: simulated hosts (`demo --province`) and the facts of alert titles (localised titles).
    r#"
ALTER TABLE tokens ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN params TEXT;
"#,
    // v9 (issue 23): advisories and vulnerable packages.
    include_str!("sqlite/vuln.sql"),
];

/// SQLite-backed [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
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
        let s = Self {
            conn: Mutex::new(conn),
        };
        s.migrate()?;
        Ok(s)
    }

    /// Opens an in-memory database (tests).
    ///
    /// # Errors
    /// [`StoreError`] on failure.
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let s = Self {
            conn: Mutex::new(conn),
        };
        s.migrate()?;
        Ok(s)
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.lock();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::Db(format!(
                "database schema version {version} is newer than this collector ({known}); \
                 upgrade the collector"
            )));
        }
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back), so a poisoned mutex is safe to keep using.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn agent_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRecord> {
    let inv: Option<String> = r.get("inventory")?;
    Ok(AgentRecord {
        id: r.get("id")?,
        agency: r.get("agency")?,
        machine_id: r.get("machine_id")?,
        hostname: r.get("hostname")?,
        os: r.get("os")?,
        role: r.get("role")?,
        level: r.get("level")?,
        enrolled_at: r.get("enrolled_at")?,
        last_seen: r.get("last_seen")?,
        agent_version: r.get("agent_version")?,
        cert_serial: r.get("cert_serial")?,
        cert_not_after: r.get("cert_not_after")?,
        revoked: r.get::<_, i64>("revoked")? != 0,
        max_seq: r.get::<_, i64>("max_seq")? as u64,
        spool_depth: r.get::<_, i64>("spool_depth")? as u64,
        clock_skew_ms: r.get("clock_skew_ms")?,
        inventory: inv.and_then(|s| serde_json::from_str(&s).ok()),
        simulated: r.get::<_, i64>("simulated")? != 0,
    })
}

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get("id")?,
        secret_hash: r.get("secret_hash")?,
        agency: r.get("agency")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        max_uses: r.get("max_uses")?,
        uses: r.get("uses")?,
        revoked: r.get::<_, i64>("revoked")? != 0,
        simulated: r.get::<_, i64>("simulated")? != 0,
    })
}

fn audit_row(
    tx: &rusqlite::Transaction<'_>,
    now: i64,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)",
        params![now, actor, action, detail.to_string()],
    )?;
    Ok(())
}

use super::{Asset, AssetImport, CheckState, MoveOutcome, Param, RawAlert, ScorePoint, parent_of};

/// Runs the shared subtree-move statements inside `tx` (after checking both ends).
fn move_subtree(tx: &rusqlite::Transaction<'_>, from: &str, to: &str) -> Result<MoveOutcome> {
    let parent = super::check_move_ends(from, to, |id| {
        Ok(tx
            .query_row("SELECT 1 FROM agencies WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some())
    })?;
    let mut out = MoveOutcome::default();
    tree_sql(tx, super::MOVE_SUBTREE, from, to, parent, &mut out)?;
    Ok(out)
}

/// Runs shared organisation-tree statements, binding their [`Param`]s, and counts the rows.
fn tree_sql(
    tx: &rusqlite::Transaction<'_>,
    stmts: &[(&str, &[Param], super::Counts)],
    from: &str,
    to: &str,
    parent: Option<&str>,
    out: &mut MoveOutcome,
) -> Result<()> {
    for (sql, params, what) in stmts {
        // `$N` in the shared SQL; SQLite numbers `?N` by N (and `$N` by first appearance).
        let sql = sql.replace('$', "?");
        let mut st = tx.prepare_cached(&sql)?;
        let values: Vec<rusqlite::types::Value> = params
            .iter()
            .map(|p| match p {
                Param::From => from.to_owned().into(),
                Param::To => to.to_owned().into(),
                Param::FromLen => (from.len() as i64).into(),
                Param::ToLen => (to.len() as i64).into(),
                Param::Parent => parent.map(str::to_owned).into(),
            })
            .collect();
        let n = st.execute(rusqlite::params_from_iter(values))?;
        super::count(out, *what, n as u64);
    }
    Ok(())
}

fn score_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScorePoint> {
    Ok(ScorePoint {
        scope: r.get(0)?,
        id: r.get(1)?,
        view: r.get(2)?,
        score: r.get(3)?,
        coverage: r.get(4)?,
        rule_pack_version: r.get(5)?,
        scoring_version: r.get(6)?,
        computed_at: r.get(7)?,
    })
}

const SCORE_COLS: &str =
    "scope, id, view, score, coverage, rule_pack_version, scoring_version, computed_at";

impl SqliteStore {
    /// Runs one UPDATE and, if it changed a row, records `action` in the audit log, in one
    /// transaction. Returns whether a row changed.
    fn update_audited(
        &self,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
        now: i64,
    ) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute(sql, params)?;
        if n > 0 {
            audit_row(&tx, now, actor, action, detail)?;
        }
        tx.commit()?;
        Ok(n > 0)
    }
}

impl Store for SqliteStore {
    fn vulns(&self) -> &dyn super::vuln::VulnStore {
        self
    }

    fn agency_add(&self, a: &Agency) -> Result<()> {
        let conn = self.lock();
        let parent = parent_of(&a.id);
        if let Some(p) = parent {
            let exists: Option<String> = conn
                .query_row("SELECT id FROM agencies WHERE id = ?1", [p], |r| r.get(0))
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("parent agency {p:?}")));
            }
        }
        match conn.execute(
            "INSERT INTO agencies (id, name, level, parent) VALUES (?1, ?2, ?3, ?4)",
            params![a.id, a.name, a.level, parent],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::Conflict(format!("agency {:?}", a.id)))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn agency(&self, id: &str) -> Result<Option<Agency>> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT id, name, level FROM agencies WHERE id = ?1",
                [id],
                |r| {
                    Ok(Agency {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        level: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn agencies(&self) -> Result<Vec<Agency>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT id, name, level FROM agencies ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok(Agency {
                id: r.get(0)?,
                name: r.get(1)?,
                level: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn agency_rename(&self, id: &str, name: &str, actor: &str, now: i64) -> Result<bool> {
        self.update_audited(
            "UPDATE agencies SET name = ?2 WHERE id = ?1",
            &[&id, &name],
            actor,
            "agency.rename",
            &serde_json::json!({"id": id, "name": name}),
            now,
        )
    }

    fn agency_move(&self, from: &str, to: &str, actor: &str, now: i64) -> Result<MoveOutcome> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = move_subtree(&tx, from, to)?;
        audit_row(
            &tx,
            now,
            actor,
            "agency.move",
            &serde_json::json!({"from": from, "to": to, "moved": out}),
        )?;
        tx.commit()?;
        Ok(out)
    }

    fn agency_dissolve(&self, id: &str, actor: &str, now: i64) -> Result<MoveOutcome> {
        let parent = parent_of(id).ok_or_else(|| {
            StoreError::Invalid(format!(
                "{id:?} is a root agency: it has no parent to take its place"
            ))
        })?;
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let children: Vec<String> = {
            let mut st = tx.prepare("SELECT id FROM agencies WHERE parent = ?1 ORDER BY id")?;
            st.query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        if tx
            .query_row("SELECT 1 FROM agencies WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_none()
        {
            return Err(StoreError::NotFound(format!("agency {id:?}")));
        }
        let mut out = MoveOutcome::default();
        for c in &children {
            out += move_subtree(&tx, c, &format!("{parent}/{}", super::leaf_of(c)))?;
        }
        tree_sql(&tx, super::DISSOLVE_MEMBERS, id, parent, None, &mut out)?;
        tx.execute("DELETE FROM agencies WHERE id = ?1", [id])?;
        out.agencies += 1;
        audit_row(
            &tx,
            now,
            actor,
            "agency.dissolve",
            &serde_json::json!({"id": id, "into": parent, "children": children, "moved": out}),
        )?;
        tx.commit()?;
        Ok(out)
    }

    fn agent_set_profile(
        &self,
        id: &str,
        role: Option<&str>,
        level: Option<u8>,
        actor: &str,
        now: i64,
    ) -> Result<bool> {
        self.update_audited(
            "UPDATE agents SET role = COALESCE(?2, role), level = COALESCE(?3, level) WHERE id = ?1",
            &[&id, &role, &level],
            actor,
            "host.set",
            &serde_json::json!({"id": id, "role": role, "level": level}),
            now,
        )
    }

    fn check_states(&self) -> Result<Vec<(String, Vec<CheckState>)>> {
        let conn = self.lock();
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

    fn assets_import(&self, assets: &[Asset], actor: &str, now: i64) -> Result<AssetImport> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut out = AssetImport::default();
        {
            let mut agency = tx.prepare_cached("SELECT 1 FROM agencies WHERE id = ?1")?;
            let mut old = tx.prepare_cached(
                "SELECT role, level FROM assets WHERE agency = ?1 AND hostname = ?2",
            )?;
            let mut put = tx.prepare_cached(
                "INSERT INTO assets (agency, hostname, role, level, imported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (agency, hostname) DO UPDATE SET role = ?3, level = ?4, imported_at = ?5",
            )?;
            for a in assets {
                if !agency.exists([&a.agency])? {
                    return Err(StoreError::NotFound(format!("agency {:?}", a.agency)));
                }
                let before: Option<(String, u8)> = old
                    .query_row(params![a.agency, a.hostname], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                match before {
                    None => out.added += 1,
                    Some((role, level)) if role == a.role && level == a.level => out.unchanged += 1,
                    Some(_) => out.updated += 1,
                }
                put.execute(params![a.agency, a.hostname, a.role, a.level, now])?;
            }
        }
        audit_row(
            &tx,
            now,
            actor,
            "assets.import",
            &serde_json::json!({"rows": assets.len(), "result": out}),
        )?;
        tx.commit()?;
        Ok(out)
    }

    fn assets(&self) -> Result<Vec<Asset>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT agency, hostname, role, level FROM assets ORDER BY agency, hostname",
        )?;
        let rows = st.query_map([], |r| {
            Ok(Asset {
                agency: r.get(0)?,
                hostname: r.get(1)?,
                role: r.get(2)?,
                level: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
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

    fn scores_latest(&self) -> Result<Vec<ScorePoint>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!("SELECT {SCORE_COLS} FROM score_latest"))?;
        let rows = st.query_map([], score_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn score_history(&self, scope: &str, id: &str, since_ms: i64) -> Result<Vec<ScorePoint>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT {SCORE_COLS} FROM score_history
             WHERE scope = ?1 AND id = ?2 AND computed_at >= ?3 ORDER BY computed_at, view"
        ))?;
        let rows = st.query_map(params![scope, id, since_ms], score_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn token_add(&self, t: &TokenRecord) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO tokens (id, secret_hash, agency, created_at, expires_at, max_uses, uses, revoked, simulated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![t.id, t.secret_hash, t.agency, t.created_at, t.expires_at, t.max_uses, t.uses, t.revoked as i64, t.simulated as i64],
        )?;
        Ok(())
    }

    fn token_consume(
        &self,
        secret_hash: &str,
        now: i64,
    ) -> Result<std::result::Result<TokenRecord, TokenRefusal>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let tok = tx
            .query_row(
                "SELECT * FROM tokens WHERE secret_hash = ?1",
                [secret_hash],
                token_from_row,
            )
            .optional()?;
        let Some(mut tok) = tok else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        let refusal = if tok.revoked {
            Some(TokenRefusal::Revoked)
        } else if now >= tok.expires_at {
            Some(TokenRefusal::Expired)
        } else if tok.uses >= tok.max_uses {
            Some(TokenRefusal::UsedUp)
        } else {
            None
        };
        if let Some(r) = refusal {
            return Ok(Err(r));
        }
        tx.execute("UPDATE tokens SET uses = uses + 1 WHERE id = ?1", [&tok.id])?;
        tx.commit()?;
        tok.uses += 1;
        Ok(Ok(tok))
    }

    fn token_revoke(&self, id: &str) -> Result<bool> {
        let conn = self.lock();
        Ok(conn.execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", [id])? > 0)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT * FROM tokens ORDER BY created_at")?;
        let rows = st.query_map([], token_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn agent_enroll(&self, a: &NewAgent, now: i64) -> Result<EnrollOutcome> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = identity::enroll(&tx, a, now)?;
        tx.commit()?;
        Ok(out)
    }

    fn agent_move(&self, id: &str, agency: &str, actor: &str, now: i64) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let moved = identity::move_agent(&tx, id, agency, actor, now)?;
        tx.commit()?;
        Ok(moved)
    }

    fn agent_session_cert(&self, id: &str, serial: &str, now: i64) -> Result<SessionCert> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = identity::session_cert(&tx, id, serial, now)?;
        tx.commit()?;
        Ok(out)
    }

    fn agent(&self, id: &str) -> Result<Option<AgentRecord>> {
        let conn = self.lock();
        Ok(conn
            .query_row("SELECT * FROM agents WHERE id = ?1", [id], agent_from_row)
            .optional()?)
    }

    fn agents(&self) -> Result<Vec<AgentRecord>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT * FROM agents ORDER BY revoked, agency, hostname, id")?;
        let rows = st.query_map([], agent_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn agents_brief(&self) -> Result<Vec<AgentRecord>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT id, agency, machine_id, hostname, os, role, level, enrolled_at, last_seen, agent_version, cert_serial, cert_not_after, revoked, max_seq, spool_depth, clock_skew_ms, NULL AS inventory, simulated
             FROM agents ORDER BY revoked, agency, hostname, id",
        )?;
        let rows = st.query_map([], agent_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn revoked_serials(&self) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut st = conn.prepare(identity::REVOKED_SERIALS)?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn agent_set_cert(&self, id: &str, serial: &str, not_after: i64, now: i64) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let done = identity::set_pending(&tx, id, serial, not_after, now)?;
        tx.commit()?;
        Ok(done)
    }

    fn agent_revoke(&self, id: &str, actor: &str, now: i64) -> Result<bool> {
        self.update_audited(
            "UPDATE agents SET revoked = 1 WHERE id = ?1 AND revoked = 0",
            &[&id],
            actor,
            "agent.revoked",
            &serde_json::json!({"agent": id}),
            now,
        )
    }

    fn agent_seen(
        &self,
        id: &str,
        now: i64,
        agent_version: Option<&str>,
        hb: Option<Heartbeat>,
    ) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "UPDATE agents SET last_seen = max(last_seen, ?2) WHERE id = ?1 AND revoked = 0",
            params![id, now],
        )?;
        if let Some(v) = agent_version {
            conn.execute(
                "UPDATE agents SET agent_version = ?2 WHERE id = ?1",
                params![id, v],
            )?;
        }
        if let Some(h) = hb {
            conn.execute(
                "UPDATE agents SET spool_depth = ?2, clock_skew_ms = ?3 WHERE id = ?1",
                params![id, h.spool_depth as i64, h.clock_skew_ms],
            )?;
        }
        Ok(())
    }

    fn ingest(
        &self,
        agent_id: &str,
        batch: &[Envelope],
        received_at: i64,
    ) -> Result<IngestOutcome> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let (stored_max, revoked): (i64, bool) = tx
            .query_row(
                "SELECT max_seq, revoked FROM agents WHERE id = ?1",
                [agent_id],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("agent {agent_id}")))?;
        if revoked {
            return Err(StoreError::Revoked(agent_id.to_owned()));
        }
        let mut max = stored_max as u64;
        let mut out = IngestOutcome::default();
        let mut inventory: Option<String> = None;
        let mut checks: Vec<(&vigil_proto::CheckResult, i64)> = Vec::new();
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO findings (agent_id, seq, kind, observed_at, received_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for e in batch {
                let seq = i64::try_from(e.seq)
                    .map_err(|_| StoreError::Corrupt(format!("seq {} out of range", e.seq)))?;
                let body = serde_json::to_string(&e.finding)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?;
                let n = ins.execute(params![
                    agent_id,
                    seq,
                    e.finding.kind_name(),
                    e.observed_at,
                    received_at,
                    body
                ])?;
                if n == 0 {
                    out.duplicates += 1;
                    continue;
                }
                out.stored += 1;
                if e.seq > max + 1 {
                    out.gaps.push((max + 1, e.seq - 1));
                }
                if e.seq > max {
                    max = e.seq;
                }
                match &e.finding {
                    Finding::Inventory(_) => inventory = Some(body),
                    Finding::CheckResult(c) => checks.push((c, e.observed_at)),
                    _ => {}
                }
            }
        }
        if !checks.is_empty() {
            let old: Option<String> = tx
                .query_row(
                    "SELECT results FROM check_state WHERE agent_id = ?1",
                    [agent_id],
                    |r| r.get(0),
                )
                .optional()?;
            let (state, over) = super::merge_check_state(old.as_deref(), checks.into_iter())?;
            out.rules_over_quota = over;
            if let Some(state) = state {
                tx.execute(
                    "INSERT OR REPLACE INTO check_state (agent_id, results, updated_at) VALUES (?1, ?2, ?3)",
                    params![agent_id, state, received_at],
                )?;
            }
        }
        for (from, to) in &out.gaps {
            tx.execute(
                "INSERT INTO gaps (agent_id, from_seq, to_seq, detected_at) VALUES (?1, ?2, ?3, ?4)",
                params![agent_id, *from as i64, *to as i64, received_at],
            )?;
        }
        tx.execute(
            "UPDATE agents SET max_seq = ?2, last_seen = max(last_seen, ?3) WHERE id = ?1",
            params![agent_id, max as i64, received_at / 1000],
        )?;
        if let Some(inv) = inventory {
            tx.execute(
                "UPDATE agents SET inventory = ?2 WHERE id = ?1",
                params![agent_id, inv],
            )?;
        }
        tx.commit()?;
        out.max_seq = max;
        Ok(out)
    }

    fn max_seq(&self, agent_id: &str) -> Result<u64> {
        let conn = self.lock();
        let v: Option<i64> = conn
            .query_row(
                "SELECT max_seq FROM agents WHERE id = ?1",
                [agent_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.unwrap_or(0) as u64)
    }

    fn findings(&self, f: &FindingFilter) -> Result<Vec<StoredFinding>> {
        let conn = self.lock();
        let limit = if f.limit == 0 {
            i64::MAX
        } else {
            f.limit as i64
        };
        // Only the conditions given, so SQLite can use an index for them (a `?1 IS NULL OR`
        // condition makes it scan every finding of every agent).
        let mut sql = String::from(
            "SELECT agent_id, seq, kind, observed_at, received_at, body FROM findings",
        );
        let mut conds = Vec::new();
        if f.agent_id.is_some() {
            conds.push("agent_id = ?1");
        }
        if f.kind.is_some() {
            conds.push("kind = ?2");
        }
        if f.since_ms.is_some() {
            conds.push("received_at >= ?3");
        }
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        sql.push_str(" ORDER BY received_at DESC, agent_id, seq DESC LIMIT ?4");
        let mut st = conn.prepare(&sql)?;
        let mut bind: Vec<(usize, &dyn rusqlite::ToSql)> = vec![(4, &limit)];
        if let Some(a) = &f.agent_id {
            bind.push((1, a));
        }
        if let Some(k) = &f.kind {
            bind.push((2, k));
        }
        if let Some(t) = &f.since_ms {
            bind.push((3, t));
        }
        for (i, v) in bind {
            st.raw_bind_parameter(i, v)?;
        }
        let mut raw = st.raw_query();
        let mut out = Vec::new();
        while let Some(r) = raw.next()? {
            let (agent_id, seq, kind, observed_at, received_at, body): (
                String,
                i64,
                String,
                i64,
                i64,
                String,
            ) = (
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            );
            let finding =
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push(StoredFinding {
                agent_id,
                seq: seq as u64,
                kind,
                observed_at,
                received_at,
                finding,
            });
        }
        Ok(out)
    }

    fn finding_count(&self, agent_id: &str) -> Result<u64> {
        let conn = self.lock();
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM findings WHERE agent_id = ?1",
            [agent_id],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    fn gaps(&self, agent_id: Option<&str>) -> Result<Vec<Gap>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT agent_id, from_seq, to_seq, detected_at FROM gaps WHERE (?1 IS NULL OR agent_id = ?1)
             ORDER BY detected_at, agent_id, from_seq",
        )?;
        let rows = st.query_map([agent_id], |r| {
            Ok(Gap {
                agent_id: r.get(0)?,
                from_seq: r.get::<_, i64>(1)? as u64,
                to_seq: r.get::<_, i64>(2)? as u64,
                detected_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn audit(&self, actor: &str, action: &str, detail: &serde_json::Value, now: i64) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO audit (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now, actor, action, detail.to_string()],
        )?;
        Ok(())
    }

    fn audit_log(&self) -> Result<Vec<(i64, String, String, serde_json::Value)>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT at, actor, action, detail FROM audit ORDER BY id")?;
        let rows = st.query_map([], |r| {
            let d: String = r.get(3)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn ioc_import(&self, indicators: &[vigil_proto::msg::Indicator]) -> Result<u64> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let current: i64 = tx.query_row("SELECT coalesce(max(version), 0) FROM iocs", [], |r| {
            r.get(0)
        })?;
        let next = current + 1;
        let mut changed = 0usize;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO iocs (kind, value, source, expires_at, version) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(kind, value) DO UPDATE SET source = excluded.source,
                     expires_at = excluded.expires_at, version = excluded.version
                 WHERE iocs.source <> excluded.source OR iocs.expires_at <> excluded.expires_at",
            )?;
            for i in indicators {
                changed += st.execute(params![i.kind, i.value, i.source, i.expires_at, next])?;
            }
        }
        tx.commit()?;
        Ok(if changed == 0 {
            current as u64
        } else {
            next as u64
        })
    }

    fn ioc_version(&self) -> Result<u64> {
        let conn = self.lock();
        let v: i64 = conn.query_row("SELECT coalesce(max(version), 0) FROM iocs", [], |r| {
            r.get(0)
        })?;
        Ok(v as u64)
    }

    fn ioc_since(&self, from_version: u64) -> Result<(u64, Vec<vigil_proto::msg::Indicator>)> {
        let conn = self.lock();
        let from = i64::try_from(from_version).unwrap_or(i64::MAX);
        let version: i64 =
            conn.query_row("SELECT coalesce(max(version), 0) FROM iocs", [], |r| {
                r.get(0)
            })?;
        let mut st = conn.prepare("SELECT kind, value, source, expires_at FROM iocs WHERE version > ?1 ORDER BY kind, value")?;
        let rows = st.query_map([from], |r| {
            Ok(vigil_proto::msg::Indicator {
                kind: r.get(0)?,
                value: r.get(1)?,
                source: r.get(2)?,
                expires_at: r.get(3)?,
            })
        })?;
        Ok((version as u64, rows.collect::<rusqlite::Result<Vec<_>>>()?))
    }

    fn alert_raise(&self, a: &super::NewAlert, now: i64) -> Result<(i64, bool)> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = raise_alert(&tx, a, now)?;
        tx.commit()?;
        Ok(out)
    }

    fn alerts(&self, state: Option<super::AlertState>) -> Result<Vec<super::Alert>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT id, key, kind, severity, agent_id, title, state, count, opened_at, last_seen, reason, assignee, other_agency, params
             FROM alerts WHERE (?1 IS NULL OR state = ?1) ORDER BY id DESC",
        )?;
        let rows = st.query_map([state.map(super::AlertState::as_str)], |r| {
            Ok(RawAlert {
                id: r.get(0)?,
                key: r.get(1)?,
                kind: r.get(2)?,
                severity: r.get(3)?,
                agent_id: r.get(4)?,
                title: r.get(5)?,
                state: r.get(6)?,
                count: r.get(7)?,
                opened_at: r.get(8)?,
                last_seen: r.get(9)?,
                reason: r.get(10)?,
                assignee: r.get(11)?,
                other_agency: r.get(12)?,
                params: r.get(13)?,
            })
        })?;
        rows.map(|r| r?.decode()).collect()
    }

    fn listeners_learn(
        &self,
        agent_id: &str,
        keys: &[String],
        now: i64,
    ) -> Result<(usize, Vec<String>)> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let before: i64 = tx.query_row(
            "SELECT count(*) FROM known_listeners WHERE agent_id = ?1",
            [agent_id],
            |r| r.get(0),
        )?;
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

    fn alert_assign(&self, id: i64, assignee: Option<&str>, actor: &str, now: i64) -> Result<bool> {
        self.update_audited(
            "UPDATE alerts SET assignee = ?2 WHERE id = ?1",
            &[&id, &assignee],
            actor,
            "alert.assign",
            &serde_json::json!({"id": id, "assignee": assignee}),
            now,
        )
    }

    fn alert_set_state(
        &self,
        id: i64,
        state: super::AlertState,
        actor: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        super::require_reason(state, reason)?;
        self.update_audited(
            "UPDATE alerts SET state = ?2, reason = ?3 WHERE id = ?1",
            &[&id, &state.as_str(), &reason],
            actor,
            "alert.state",
            &serde_json::json!({"id": id, "state": state.as_str(), "reason": reason}),
            now,
        )
    }

    fn user_add(&self, u: &super::User, actor: &str, now: i64) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "INSERT INTO users (name, password_hash, role, scope, created_at, disabled)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
            params![
                u.name,
                u.password_hash,
                u.role.as_str(),
                u.scope,
                u.created_at,
                u.disabled as i64
            ],
        )?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("user {:?}", u.name)));
        }
        audit_row(
            &tx,
            now,
            actor,
            "user.add",
            &serde_json::json!({"name": u.name, "role": u.role.as_str(), "scope": u.scope}),
        )?;
        tx.commit()?;
        Ok(())
    }

    fn user(&self, name: &str) -> Result<Option<super::User>> {
        let conn = self.lock();
        conn.query_row(
            &format!("SELECT {USER_COLS} FROM users WHERE name = ?1"),
            [name],
            user_from_row,
        )
        .optional()?
        .transpose()
    }

    fn users(&self) -> Result<Vec<super::User>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY name"))?;
        let rows = st.query_map([], user_from_row)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .collect()
    }

    fn user_disable(&self, name: &str, actor: &str, now: i64) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let scope: Option<String> = tx
            .query_row("SELECT scope FROM users WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        let n = tx.execute("UPDATE users SET disabled = 1 WHERE name = ?1", [name])?;
        if n > 0 {
            tx.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
            audit_row(
                &tx,
                now,
                actor,
                "user.disable",
                &serde_json::json!({"name": name, "scope": scope}),
            )?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    fn session_add(&self, s: &super::SessionRecord) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO sessions (id_hash, user, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![s.id_hash, s.user, s.csrf, s.expires_at],
        )?;
        Ok(())
    }

    fn session(&self, id_hash: &str, now: i64) -> Result<Option<super::SessionRecord>> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT id_hash, user, csrf, expires_at FROM sessions
                 WHERE id_hash = ?1 AND expires_at > ?2",
                params![id_hash, now],
                |r| {
                    Ok(super::SessionRecord {
                        id_hash: r.get(0)?,
                        user: r.get(1)?,
                        csrf: r.get(2)?,
                        expires_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    fn session_delete(&self, id_hash: &str, now: i64) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
        tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn api_token_add(&self, t: &super::ApiTokenRecord, actor: &str, now: i64) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let known: Option<String> = tx
            .query_row("SELECT name FROM users WHERE name = ?1", [&t.user], |r| {
                r.get(0)
            })
            .optional()?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!("user {:?}", t.user)));
        }
        tx.execute(
            "INSERT INTO api_tokens (id, secret_hash, user, created_at, revoked)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![t.id, t.secret_hash, t.user, t.created_at, t.revoked as i64],
        )?;
        audit_row(
            &tx,
            now,
            actor,
            "api_token.create",
            &serde_json::json!({"id": t.id, "user": t.user}),
        )?;
        tx.commit()?;
        Ok(())
    }

    fn api_token(&self, secret_hash: &str) -> Result<Option<super::ApiTokenRecord>> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                &format!("SELECT {API_TOKEN_COLS} FROM api_tokens WHERE secret_hash = ?1"),
                [secret_hash],
                api_token_from_row,
            )
            .optional()?)
    }

    fn api_tokens(&self) -> Result<Vec<super::ApiTokenRecord>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT {API_TOKEN_COLS} FROM api_tokens ORDER BY created_at, id"
        ))?;
        let rows = st.query_map([], api_token_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn api_token_revoke(&self, id: &str, actor: &str, now: i64) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let user: Option<String> = tx
            .query_row(
                "UPDATE api_tokens SET revoked = 1 WHERE id = ?1 AND revoked = 0 RETURNING user",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(user) = user else {
            return Ok(false);
        };
        audit_row(
            &tx,
            now,
            actor,
            "api_token.revoke",
            &serde_json::json!({"id": id, "user": user}),
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn audit_page(&self, before: Option<i64>, limit: usize) -> Result<Vec<super::AuditEntry>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT id, at, actor, action, detail FROM audit WHERE id < ?1
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(
            params![
                before.unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                let d: String = r.get(4)?;
                Ok(super::AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    detail: serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// Raises or counts an alert inside `tx` (see [`Store::alert_raise`]); a new agent-triggered
/// alert past [`super::MAX_OPEN_ALERTS_PER_AGENT`] counts on the agent's quota alert instead.
fn raise_alert(
    tx: &rusqlite::Transaction<'_>,
    a: &super::NewAlert,
    now: i64,
) -> Result<(i64, bool)> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, state FROM alerts WHERE key = ?1 ORDER BY id DESC LIMIT 1",
            [&a.key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((id, state)) = last {
        let reopen = state == super::AlertState::Resolved.as_str();
        tx.execute(
            "UPDATE alerts SET count = count + 1, last_seen = ?2,
                 state = CASE WHEN ?3 THEN 'open' ELSE state END,
                 reason = CASE WHEN ?3 THEN NULL ELSE reason END
             WHERE id = ?1",
            params![id, now, reopen],
        )?;
        if reopen {
            let d = serde_json::json!({"id": id, "key": a.key});
            audit_row(tx, now, "collector", "alert.reopened", &d)?;
        }
        return Ok((id, false));
    }
    if !super::alert_is_periodic(&a.kind) {
        let open: i64 = tx.query_row(
            "SELECT count(*) FROM alerts WHERE agent_id = ?1 AND state IN ('open', 'acknowledged')",
            [&a.agent_id],
            |r| r.get(0),
        )?;
        if usize::try_from(open).unwrap_or(usize::MAX) >= super::MAX_OPEN_ALERTS_PER_AGENT {
            return raise_alert(tx, &super::alert_quota_alert(&a.agent_id), now);
        }
    }
    tx.execute(
        "INSERT INTO alerts (key, kind, severity, agent_id, title, state, count, opened_at,
                             last_seen, other_agency, params)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', 1, ?6, ?6, ?7, ?8)",
        params![
            a.key,
            a.kind,
            a.severity.as_str(),
            a.agent_id,
            a.title,
            now,
            a.other_agency,
            super::params_json(&a.params)
        ],
    )?;
    let id = tx.last_insert_rowid();
    let d = serde_json::json!({"id": id, "key": a.key, "kind": a.kind});
    audit_row(tx, now, "collector", "alert.raised", &d)?;
    Ok((id, true))
}

const API_TOKEN_COLS: &str = "id, secret_hash, user, created_at, revoked";

fn api_token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<super::ApiTokenRecord> {
    Ok(super::ApiTokenRecord {
        id: r.get(0)?,
        secret_hash: r.get(1)?,
        user: r.get(2)?,
        created_at: r.get(3)?,
        revoked: r.get::<_, i64>(4)? != 0,
    })
}

const USER_COLS: &str = "name, password_hash, role, scope, created_at, disabled";

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<super::User>> {
    let role: String = r.get(2)?;
    Ok(super::decode_user(
        r.get(0)?,
        r.get(1)?,
        &role,
        r.get(3)?,
        r.get(4)?,
        r.get::<_, i64>(5)? != 0,
    ))
}

#[cfg(test)]
mod tests;
