//! PostgreSQL backend: several collectors behind one database (DESIGN §9).
//!
//! The synchronous `postgres` client drives each connection with a private tokio runtime, and
//! tokio panics when such a runtime is entered or dropped on a thread that runs async tasks. So
//! every pooled connection lives on its own worker thread and the [`Store`] methods hand it a job
//! and wait for the answer: the store is safe to call (and drop) from any thread, async or not,
//! and a small fixed pool lets concurrent `spawn_blocking` callers run in parallel.
//!
//! Correctness with several collectors on one database rests on locks held by transactions:
//! token consumption locks the token row (`SELECT … FOR UPDATE`), ingest locks the agent row
//! before it reads `max_seq`, and enrollment takes a transaction-scoped advisory lock on the
//! machine id. Schema versions are rows of `vigil_schema`; pending [`MIGRATIONS`] are applied at
//! open in one transaction under an advisory lock per schema, so collectors starting together do
//! not race.
//!
//! Finding bodies are `TEXT` holding serde_json output rather than `JSONB`: `jsonb` rejects the
//! `\u0000` escape, so a hostile agent could otherwise send a batch that never ingests. Sorted
//! text columns use `COLLATE "C"` so listings have SQLite's byte order whatever the database
//! locale. Connections are plaintext (`NoTls`); a TLS connector is future work, so keep the
//! database on loopback or a trusted network until then.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::error::SqlState;
use ::postgres::{Client, GenericClient, NoTls, Row, Statement};
use tracing::{error, info, warn};
use vigil_proto::{Envelope, Finding};

use super::{
    Agency, AgentRecord, Asset, AssetImport, CheckState, EnrollOutcome, FindingFilter, Gap,
    Heartbeat, IngestOutcome, MoveOutcome, NewAgent, Param, Result, ScorePoint, SessionCert, Store,
    StoreError, StoredFinding, TokenRecord, TokenRefusal, parent_of,
};

mod identity;
mod vuln;

/// Schema migrations; index + 1 is the version after applying.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE agencies (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    level SMALLINT NOT NULL,
    parent TEXT COLLATE "C"
);
CREATE TABLE tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    agency TEXT COLLATE "C" NOT NULL REFERENCES agencies(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    max_uses BIGINT NOT NULL,
    uses BIGINT NOT NULL DEFAULT 0,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE agents (
    id TEXT COLLATE "C" PRIMARY KEY,
    agency TEXT COLLATE "C" NOT NULL REFERENCES agencies(id),
    machine_id TEXT NOT NULL,
    hostname TEXT COLLATE "C" NOT NULL,
    os TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'workstation',
    enrolled_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL DEFAULT 0,
    agent_version TEXT NOT NULL DEFAULT '',
    cert_serial TEXT NOT NULL,
    cert_not_after BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    replaced_by TEXT,
    token_id TEXT,
    max_seq BIGINT NOT NULL DEFAULT 0,
    spool_depth BIGINT NOT NULL DEFAULT 0,
    clock_skew_ms BIGINT NOT NULL DEFAULT 0,
    inventory TEXT
);
CREATE INDEX agents_machine ON agents(machine_id);
CREATE TABLE findings (
    agent_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    observed_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (agent_id, seq)
);
CREATE INDEX findings_recv ON findings(received_at);
CREATE TABLE gaps (
    agent_id TEXT COLLATE "C" NOT NULL,
    from_seq BIGINT NOT NULL,
    to_seq BIGINT NOT NULL,
    detected_at BIGINT NOT NULL
);
CREATE INDEX gaps_agent ON gaps(agent_id);
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE iocs (
    kind TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    source TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX iocs_version ON iocs(version);
"#,
    r#"
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    key TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    count BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    reason TEXT
);
CREATE INDEX alerts_key ON alerts(key);
"#,
    r#"
ALTER TABLE agents ADD COLUMN level SMALLINT;
ALTER TABLE alerts ADD COLUMN assignee TEXT;
CREATE TABLE check_state (
    agent_id TEXT COLLATE "C" PRIMARY KEY,
    results TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE assets (
    agency TEXT COLLATE "C" NOT NULL,
    hostname TEXT COLLATE "C" NOT NULL,
    role TEXT NOT NULL,
    level SMALLINT NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (agency, hostname)
);
CREATE TABLE score_history (
    scope TEXT NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    view TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    coverage DOUBLE PRECISION,
    rule_pack_version TEXT NOT NULL,
    scoring_version TEXT NOT NULL,
    computed_at BIGINT NOT NULL
);
CREATE INDEX score_history_series ON score_history(scope, id, computed_at);
CREATE TABLE score_latest (
    scope TEXT NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    view TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    coverage DOUBLE PRECISION,
    rule_pack_version TEXT NOT NULL,
    scoring_version TEXT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (scope, id, view)
);
CREATE TABLE known_listeners (
    agent_id TEXT COLLATE "C" NOT NULL,
    key TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (agent_id, key)
);
"#,
    r#"
CREATE TABLE users (
    name TEXT COLLATE "C" PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    scope TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    "user" TEXT COLLATE "C" NOT NULL REFERENCES users(name),
    csrf TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions("user");
CREATE TABLE api_tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    "user" TEXT COLLATE "C" NOT NULL REFERENCES users(name),
    created_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
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
ALTER TABLE agents ADD COLUMN cert_pending_not_after BIGINT;
CREATE TABLE revoked_certs (
    serial TEXT PRIMARY KEY,
    agent_id TEXT COLLATE "C" NOT NULL,
    revoked_at BIGINT NOT NULL
);
ALTER TABLE alerts ADD COLUMN other_agency TEXT COLLATE "C";
CREATE INDEX alerts_agent_state ON alerts(agent_id, state);
CREATE INDEX audit_action_at ON audit(action, at);
"#,
    // v8: simulated hosts (`demo --province`) and the facts of alert titles (localised titles).
    r#"
ALTER TABLE tokens ADD COLUMN simulated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE agents ADD COLUMN simulated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE alerts ADD COLUMN params TEXT;
"#,
    // v9 (issue 23): advisories and vulnerable packages.
    include_str!("postgres/vuln.sql"),
];

/// Connections (and worker threads) per store unless the caller says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 4;

/// Advisory-lock class ids (first key of the two-key form); the second key is a hash of the
/// schema (migrations) or the machine id (enrollment).
const LOCK_MIGRATE: i32 = 0x5647_0001;
const LOCK_ENROLL: i32 = 0x5647_0002;

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL-backed [`Store`]: a fixed pool of connections, each on its own worker thread.
#[derive(Debug)]
pub struct PostgresStore {
    jobs: Option<mpsc::Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/db`), uses the connection's
    /// default `search_path`, and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the URL is invalid, the server cannot be reached, or the schema is
    /// from a newer Vigil.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, None, DEFAULT_POOL_SIZE)
    }

    /// Like [`open`](Self::open) but keeps every table in `schema` (created if missing), set as
    /// the `search_path` of each pooled connection. Tests use this to isolate themselves.
    ///
    /// # Errors
    /// As [`open`](Self::open), and when `schema` is not a plain lower-case identifier.
    pub fn open_with_schema(url: &str, schema: &str) -> Result<Self> {
        Self::open_with(url, Some(schema), DEFAULT_POOL_SIZE)
    }

    /// Opens with an optional schema and a pool of `pool` connections (at least one).
    ///
    /// # Errors
    /// As [`open_with_schema`](Self::open_with_schema).
    pub fn open_with(url: &str, schema: Option<&str>, pool: usize) -> Result<Self> {
        if let Some(s) = schema {
            check_schema_name(s)?;
        }
        // The parse error never echoes the URL, which may carry a password.
        let mut config: ::postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Db(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            // Lets a DBA tell collector sessions apart in pg_stat_activity.
            config.application_name("vigil-collector");
        }
        let spec = Arc::new(Spec {
            config,
            schema: schema.map(str::to_owned),
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        // Built before the workers so that an early return joins the ones already started.
        let mut store = Self {
            jobs: Some(tx),
            workers: Vec::new(),
        };
        for i in 0..pool.max(1) {
            let (spec, rx) = (spec.clone(), rx.clone());
            let h = std::thread::Builder::new()
                .name(format!("vigil-pg-{i}"))
                .spawn(move || worker(spec, &rx))
                .map_err(|e| StoreError::Db(format!("starting a store worker: {e}")))?;
            store.workers.push(h);
        }
        let schema = schema.map(str::to_owned);
        store.call(move |c| migrate(c, schema.as_deref()))?;
        Ok(store)
    }

    /// Runs `f` on a pooled connection and waits for its result.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.call_conn(move |conn| conn.client().and_then(f))
    }

    /// Like [`call`](Self::call), with the connection's statement cache.
    fn call_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        Self::wait(&self.submit(f)?)
    }

    /// Queues `f` for a pooled connection; [`wait`](Self::wait) for its result. Several
    /// submissions run in parallel on different connections.
    fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T> + Send + 'static,
    ) -> Result<mpsc::Receiver<Result<T>>> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn: &mut Conn| {
            let _ = tx.send(f(conn));
        });
        self.jobs
            .as_ref()
            .ok_or_else(|| StoreError::Db("the store is closed".into()))?
            .send(job)
            .map_err(|_| StoreError::Db("the store is closed".into()))?;
        Ok(rx)
    }

    fn wait<T>(rx: &mpsc::Receiver<Result<T>>) -> Result<T> {
        rx.recv()
            .map_err(|_| StoreError::Db("a store worker failed during the call".into()))?
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Closing the queue ends the workers, which drop their connections on their own threads.
        drop(self.jobs.take());
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> Self {
        Self::Db(message(&e))
    }
}

/// The useful text of a client error.
fn message(e: &::postgres::Error) -> String {
    // The top-level message of a server error is only "db error"; the detail is below.
    if let Some(db) = e.as_db_error() {
        return db.to_string();
    }
    // Likewise "error connecting to server" hides the reason (refused, timed out, …).
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

/// How to (re)connect.
struct Spec {
    config: ::postgres::Config,
    schema: Option<String>,
}

impl Spec {
    fn connect(&self) -> Result<Client> {
        let mut c = self
            .config
            .connect(NoTls)
            .map_err(|e| StoreError::Db(format!("{}: {}", target(&self.config), message(&e))))?;
        if let Some(s) = &self.schema {
            // `s` passed `check_schema_name`, so quoting cannot be escaped.
            c.batch_execute(&format!("SET search_path TO \"{s}\""))?;
        }
        Ok(c)
    }
}

/// One worker's connection, opened on first use and reopened after it breaks, with the
/// statements prepared on it (the hot ingest path saves a round trip per statement).
struct Conn {
    spec: Arc<Spec>,
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            if self.client.take().is_some() {
                warn!("PostgreSQL connection lost; reconnecting.");
            }
            self.statements.clear();
            self.client = Some(self.spec.connect()?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Db("no database connection".into()))
    }

    fn prepare(&mut self, sql: &'static str) -> Result<Statement> {
        // Connect (or reconnect, which empties the cache) before looking the statement up.
        self.client()?;
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client()?.prepare(sql)?;
        self.statements.insert(sql, st.clone());
        Ok(st)
    }
}

fn worker(spec: Arc<Spec>, jobs: &Mutex<mpsc::Receiver<Job>>) {
    let mut conn = Conn {
        spec,
        client: None,
        statements: HashMap::new(),
    };
    loop {
        // The guard is released at the end of this statement, before the job runs.
        let job = match jobs.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(j) => j,
            Err(_) => return,
        };
        if catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
            // The job's transaction may still be open: start over on a fresh connection.
            error!("A store job panicked; dropping its PostgreSQL connection.");
            conn.client = None;
            conn.statements.clear();
        }
    }
}

/// `user@host:port/db` for messages: everything an operator needs but the password.
fn target(c: &::postgres::Config) -> String {
    use ::postgres::config::Host;
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            // One port applies to every host; otherwise there is one per host.
            let port = c.get_ports().get(i).or(c.get_ports().first()).copied();
            format!("{host}:{}", port.unwrap_or(5432))
        })
        .collect();
    format!(
        "{}@{}/{}",
        c.get_user().unwrap_or(""),
        hosts.join(","),
        c.get_dbname().unwrap_or("")
    )
}

fn check_schema_name(s: &str) -> Result<()> {
    let mut chars = s.chars();
    let ok = s.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Db(format!(
            "invalid schema name {s:?}: expected 1-63 of a-z, 0-9 and _, not starting with a digit"
        )))
    }
}

fn migrate(c: &mut Client, schema: Option<&str>) -> Result<()> {
    let mut tx = c.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2::text, current_schema()::text, '')))",
        &[&LOCK_MIGRATE, &schema],
    )?;
    if let Some(s) = schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS vigil_schema (
             version INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let version: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM vigil_schema", &[])?
        .try_get(0)?;
    let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    if version > known {
        return Err(StoreError::Db(format!(
            "database schema version {version} is newer than this collector ({known}); \
             upgrade the collector"
        )));
    }
    for (v, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(version).unwrap_or(0))
    {
        tx.batch_execute(sql)?;
        tx.execute("INSERT INTO vigil_schema (version) VALUES ($1)", &[&v])?;
    }
    tx.commit()?;
    if version < known {
        info!(
            from = version,
            to = known,
            "Migrated the PostgreSQL schema."
        );
    }
    Ok(())
}

fn corrupt(what: &str, v: i64) -> StoreError {
    StoreError::Corrupt(format!("{what} {v} out of range"))
}

fn agency_from_row(r: &Row) -> Result<Agency> {
    let level: i16 = r.try_get("level")?;
    Ok(Agency {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        level: u8::try_from(level).map_err(|_| corrupt("agency level", level.into()))?,
    })
}

fn token_from_row(r: &Row) -> Result<TokenRecord> {
    let count = |col: &str| -> Result<u32> {
        let v: i64 = r.try_get(col)?;
        u32::try_from(v).map_err(|_| corrupt(col, v))
    };
    Ok(TokenRecord {
        id: r.try_get("id")?,
        secret_hash: r.try_get("secret_hash")?,
        agency: r.try_get("agency")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        max_uses: count("max_uses")?,
        uses: count("uses")?,
        revoked: r.try_get("revoked")?,
        simulated: r.try_get("simulated")?,
    })
}

fn agent_from_row(r: &Row) -> Result<AgentRecord> {
    let unsigned = |col: &str| -> Result<u64> {
        let v: i64 = r.try_get(col)?;
        u64::try_from(v).map_err(|_| corrupt(col, v))
    };
    let inv: Option<String> = r.try_get("inventory")?;
    Ok(AgentRecord {
        id: r.try_get("id")?,
        agency: r.try_get("agency")?,
        machine_id: r.try_get("machine_id")?,
        hostname: r.try_get("hostname")?,
        os: r.try_get("os")?,
        role: r.try_get("role")?,
        level: level(r.try_get("level")?)?,
        enrolled_at: r.try_get("enrolled_at")?,
        last_seen: r.try_get("last_seen")?,
        agent_version: r.try_get("agent_version")?,
        cert_serial: r.try_get("cert_serial")?,
        cert_not_after: r.try_get("cert_not_after")?,
        revoked: r.try_get("revoked")?,
        max_seq: unsigned("max_seq")?,
        spool_depth: unsigned("spool_depth")?,
        clock_skew_ms: r.try_get("clock_skew_ms")?,
        inventory: inv.and_then(|s| serde_json::from_str(&s).ok()),
        simulated: r.try_get("simulated")?,
    })
}

fn gap_from_row(r: &Row) -> Result<Gap> {
    let unsigned = |col: &str| -> Result<u64> {
        let v: i64 = r.try_get(col)?;
        u64::try_from(v).map_err(|_| corrupt(col, v))
    };
    Ok(Gap {
        agent_id: r.try_get("agent_id")?,
        from_seq: unsigned("from_seq")?,
        to_seq: unsigned("to_seq")?,
        detected_at: r.try_get("detected_at")?,
    })
}

fn collect<T>(rows: &[Row], f: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

/// A stored security level (SMALLINT) checked back into 1–5.
fn level<T: From<u8>>(v: Option<i16>) -> Result<Option<T>> {
    v.map(|v| match u8::try_from(v) {
        Ok(l @ 1..=5) => Ok(T::from(l)),
        _ => Err(corrupt("level", i64::from(v))),
    })
    .transpose()
}

const SCORE_COLS: &str =
    "scope, id, view, score, coverage, rule_pack_version, scoring_version, computed_at";

fn score_from_row(r: &Row) -> Result<ScorePoint> {
    Ok(ScorePoint {
        scope: r.try_get(0)?,
        id: r.try_get(1)?,
        view: r.try_get(2)?,
        score: r.try_get(3)?,
        coverage: r.try_get(4)?,
        rule_pack_version: r.try_get(5)?,
        scoring_version: r.try_get(6)?,
        computed_at: r.try_get(7)?,
    })
}

/// Runs the shared subtree-move statements inside `tx` (after checking both ends).
fn move_subtree(tx: &mut ::postgres::Transaction<'_>, from: &str, to: &str) -> Result<MoveOutcome> {
    let parent = super::check_move_ends(from, to, |id| {
        Ok(tx
            .query_opt("SELECT 1 FROM agencies WHERE id = $1", &[&id])?
            .is_some())
    })?;
    let mut out = MoveOutcome::default();
    tree_sql(tx, super::MOVE_SUBTREE, from, to, parent, &mut out)?;
    Ok(out)
}

/// Runs shared organisation-tree statements, binding their [`Param`]s, and counts the rows.
fn tree_sql(
    tx: &mut ::postgres::Transaction<'_>,
    stmts: &[(&str, &[Param], super::Counts)],
    from: &str,
    to: &str,
    parent: Option<&str>,
    out: &mut MoveOutcome,
) -> Result<()> {
    let len = |s: &str| {
        i32::try_from(s.len()).map_err(|_| StoreError::Invalid("agency path too long".into()))
    };
    let (from_len, to_len) = (len(from)?, len(to)?);
    for (sql, params, what) in stmts {
        let values: Vec<&(dyn ::postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| -> &(dyn ::postgres::types::ToSql + Sync) {
                match p {
                    Param::From => &from,
                    Param::To => &to,
                    Param::FromLen => &from_len,
                    Param::ToLen => &to_len,
                    Param::Parent => &parent,
                }
            })
            .collect();
        let n = tx.execute(*sql, &values)?;
        super::count(out, *what, n);
    }
    Ok(())
}

/// Raises or counts an alert inside `tx` (see [`Store::alert_raise`]); a new agent-triggered
/// alert past [`super::MAX_OPEN_ALERTS_PER_AGENT`] counts on the agent's quota alert instead.
fn raise_alert(
    tx: &mut ::postgres::Transaction<'_>,
    a: &super::NewAlert,
    now: i64,
) -> Result<(i64, bool)> {
    // Serialise raisers of one key across collectors so a key never gets two rows.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7261))",
        &[&a.key],
    )?;
    let last = tx.query_opt(
        "SELECT id, state FROM alerts WHERE key = $1 ORDER BY id DESC LIMIT 1",
        &[&a.key],
    )?;
    if let Some(row) = last {
        let id: i64 = row.try_get(0)?;
        let state: String = row.try_get(1)?;
        let reopen = state == super::AlertState::Resolved.as_str();
        tx.execute(
            "UPDATE alerts SET count = count + 1, last_seen = $2,
                 state = CASE WHEN $3 THEN 'open' ELSE state END,
                 reason = CASE WHEN $3 THEN NULL ELSE reason END
             WHERE id = $1",
            &[&id, &now, &reopen],
        )?;
        if reopen {
            let d = serde_json::json!({"id": id, "key": a.key});
            insert_audit(tx, now, "collector", "alert.reopened", &d)?;
        }
        return Ok((id, false));
    }
    if !super::alert_is_periodic(&a.kind) {
        let open: i64 = tx
            .query_one(
                "SELECT count(*) FROM alerts
                 WHERE agent_id = $1 AND state IN ('open', 'acknowledged')",
                &[&a.agent_id],
            )?
            .try_get(0)?;
        if usize::try_from(open).unwrap_or(usize::MAX) >= super::MAX_OPEN_ALERTS_PER_AGENT {
            return raise_alert(tx, &super::alert_quota_alert(&a.agent_id), now);
        }
    }
    let sev = a.severity.as_str();
    let id: i64 = tx
        .query_one(
            "INSERT INTO alerts (key, kind, severity, agent_id, title, state, count, opened_at,
                                 last_seen, other_agency, params)
             VALUES ($1, $2, $3, $4, $5, 'open', 1, $6, $6, $7, $8) RETURNING id",
            &[
                &a.key,
                &a.kind,
                &sev,
                &a.agent_id,
                &a.title,
                &now,
                &a.other_agency,
                &super::params_json(&a.params),
            ],
        )?
        .try_get(0)?;
    let d = serde_json::json!({"id": id, "key": a.key, "kind": a.kind});
    insert_audit(tx, now, "collector", "alert.raised", &d)?;
    Ok((id, true))
}

fn insert_audit(
    c: &mut impl GenericClient,
    at: i64,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    c.execute(
        "INSERT INTO audit (at, actor, action, detail) VALUES ($1, $2, $3, $4)",
        &[&at, &actor, &action, &detail.to_string()],
    )?;
    Ok(())
}

/// A batch prepared for one multi-row insert: columns as arrays, first occurrence of each seq.
struct Rows {
    seq: Vec<i64>,
    kind: Vec<&'static str>,
    observed_at: Vec<i64>,
    body: Vec<String>,
    inventory: Vec<bool>,
    /// Check results with their seq and observation time, for the scoring state.
    checks: Vec<(i64, vigil_proto::CheckResult, i64)>,
    /// Repeats of a seq within the batch (counted as duplicates, like a replay).
    repeats: usize,
}

impl Rows {
    fn new(batch: &[Envelope]) -> Result<Self> {
        let mut rows = Self {
            seq: Vec::with_capacity(batch.len()),
            kind: Vec::with_capacity(batch.len()),
            observed_at: Vec::with_capacity(batch.len()),
            body: Vec::with_capacity(batch.len()),
            inventory: Vec::with_capacity(batch.len()),
            checks: Vec::new(),
            repeats: 0,
        };
        let mut seen = HashSet::with_capacity(batch.len());
        for e in batch {
            let seq = i64::try_from(e.seq)
                .map_err(|_| StoreError::Corrupt(format!("seq {} out of range", e.seq)))?;
            if !seen.insert(seq) {
                rows.repeats += 1;
                continue;
            }
            rows.seq.push(seq);
            rows.kind.push(e.finding.kind_name());
            rows.observed_at.push(e.observed_at);
            rows.body.push(
                serde_json::to_string(&e.finding)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?,
            );
            rows.inventory
                .push(matches!(e.finding, Finding::Inventory(_)));
            if let Finding::CheckResult(c) = &e.finding {
                rows.checks.push((seq, c.clone(), e.observed_at));
            }
        }
        Ok(rows)
    }
}

fn ingest_rows(
    conn: &mut Conn,
    agent_id: &str,
    rows: &Rows,
    received_at: i64,
) -> Result<IngestOutcome> {
    let lock_agent =
        conn.prepare("SELECT max_seq, revoked FROM agents WHERE id = $1 FOR UPDATE")?;
    let insert = conn.prepare(
        "INSERT INTO findings (agent_id, seq, kind, observed_at, received_at, body)
         SELECT $1, s, k, o, $2, b
         FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::text[]) AS u(s, k, o, b)
         ON CONFLICT (agent_id, seq) DO NOTHING
         RETURNING seq",
    )?;
    let update_agent = conn.prepare(
        "UPDATE agents SET max_seq = $2, last_seen = GREATEST(last_seen, $3),
                inventory = COALESCE($4, inventory)
         WHERE id = $1",
    )?;
    let mut tx = conn.client()?.transaction()?;
    // The row lock serialises batches of one agent across collectors, so max_seq and the gaps
    // derived from it are read after any concurrent batch has committed.
    let agent = tx
        .query_opt(&lock_agent, &[&agent_id])?
        .ok_or_else(|| StoreError::NotFound(format!("agent {agent_id}")))?;
    let stored_max: i64 = agent.try_get(0)?;
    if agent.try_get::<_, bool>(1)? {
        return Err(StoreError::Revoked(agent_id.to_owned()));
    }
    let mut max = u64::try_from(stored_max).map_err(|_| corrupt("max_seq", stored_max))?;
    let inserted: HashSet<i64> = if rows.seq.is_empty() {
        HashSet::new()
    } else {
        tx.query(
            &insert,
            &[
                &agent_id,
                &received_at,
                &rows.seq,
                &rows.kind,
                &rows.observed_at,
                &rows.body,
            ],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?
    };
    let mut out = IngestOutcome {
        duplicates: rows.repeats,
        ..IngestOutcome::default()
    };
    let mut inventory: Option<&str> = None;
    // Walk in batch order so gaps are the ones SQLite reports for the same batch.
    for (i, &seq) in rows.seq.iter().enumerate() {
        if !inserted.contains(&seq) {
            out.duplicates += 1;
            continue;
        }
        out.stored += 1;
        // Non-negative: it came from a u64 through i64::try_from.
        let seq = seq as u64;
        if seq > max + 1 {
            out.gaps.push((max + 1, seq - 1));
        }
        max = max.max(seq);
        if rows.inventory[i] {
            inventory = Some(&rows.body[i]);
        }
    }
    if !out.gaps.is_empty() {
        // Gap ends are at most a stored seq, so they fit in i64.
        let from: Vec<i64> = out.gaps.iter().map(|g| g.0 as i64).collect();
        let to: Vec<i64> = out.gaps.iter().map(|g| g.1 as i64).collect();
        tx.execute(
            "INSERT INTO gaps (agent_id, from_seq, to_seq, detected_at)
             SELECT $1, f, t, $2 FROM unnest($3::bigint[], $4::bigint[]) AS g(f, t)",
            &[&agent_id, &received_at, &from, &to],
        )?;
    }
    tx.execute(
        &update_agent,
        &[&agent_id, &(max as i64), &(received_at / 1000), &inventory],
    )?;
    let mut checks = rows
        .checks
        .iter()
        .filter(|(seq, _, _)| inserted.contains(seq))
        .map(|(_, c, at)| (c, *at))
        .peekable();
    if checks.peek().is_some() {
        // The agent row is locked above, so no other collector merges into this state meanwhile.
        let old: Option<String> = tx
            .query_opt(
                "SELECT results FROM check_state WHERE agent_id = $1",
                &[&agent_id],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        let (state, over) = super::merge_check_state(old.as_deref(), checks)?;
        out.rules_over_quota = over;
        if let Some(state) = state {
            tx.execute(
                "INSERT INTO check_state (agent_id, results, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (agent_id) DO UPDATE SET results = $2, updated_at = $3",
                &[&agent_id, &state, &received_at],
            )?;
        }
    }
    tx.commit()?;
    out.max_seq = max;
    Ok(out)
}

impl Store for PostgresStore {
    fn vulns(&self) -> &dyn super::vuln::VulnStore {
        self
    }

    fn agency_add(&self, a: &Agency) -> Result<()> {
        let a = a.clone();
        self.call(move |c| {
            let parent = parent_of(&a.id);
            if let Some(p) = parent
                && c.query_opt("SELECT 1 FROM agencies WHERE id = $1", &[&p])?
                    .is_none()
            {
                return Err(StoreError::NotFound(format!("parent agency {p:?}")));
            }
            match c.execute(
                "INSERT INTO agencies (id, name, level, parent) VALUES ($1, $2, $3, $4)",
                &[&a.id, &a.name, &i16::from(a.level), &parent],
            ) {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    Err(StoreError::Conflict(format!("agency {:?}", a.id)))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn agency(&self, id: &str) -> Result<Option<Agency>> {
        let id = id.to_owned();
        self.call(move |c| {
            c.query_opt("SELECT id, name, level FROM agencies WHERE id = $1", &[&id])?
                .as_ref()
                .map(agency_from_row)
                .transpose()
        })
    }

    fn agencies(&self) -> Result<Vec<Agency>> {
        self.call(|c| {
            collect(
                &c.query("SELECT id, name, level FROM agencies ORDER BY id", &[])?,
                agency_from_row,
            )
        })
    }

    fn token_add(&self, t: &TokenRecord) -> Result<()> {
        let t = t.clone();
        self.call(move |c| {
            c.execute(
                "INSERT INTO tokens
                     (id, secret_hash, agency, created_at, expires_at, max_uses, uses, revoked,
                      simulated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &t.id,
                    &t.secret_hash,
                    &t.agency,
                    &t.created_at,
                    &t.expires_at,
                    &i64::from(t.max_uses),
                    &i64::from(t.uses),
                    &t.revoked,
                    &t.simulated,
                ],
            )?;
            Ok(())
        })
    }

    fn token_consume(
        &self,
        secret_hash: &str,
        now: i64,
    ) -> Result<std::result::Result<TokenRecord, TokenRefusal>> {
        let secret_hash = secret_hash.to_owned();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            // FOR UPDATE makes a concurrent consumer (in any collector) wait and then see our
            // increment, so the use count is never exceeded.
            let Some(row) = tx.query_opt(
                "SELECT * FROM tokens WHERE secret_hash = $1 FOR UPDATE",
                &[&secret_hash],
            )?
            else {
                return Ok(Err(TokenRefusal::Unknown));
            };
            let mut tok = token_from_row(&row)?;
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
            tx.execute(
                "UPDATE tokens SET uses = uses + 1 WHERE id = $1",
                &[&tok.id],
            )?;
            tx.commit()?;
            tok.uses += 1;
            Ok(Ok(tok))
        })
    }

    fn token_revoke(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.call(move |c| {
            Ok(c.execute("UPDATE tokens SET revoked = TRUE WHERE id = $1", &[&id])? > 0)
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.call(|c| {
            collect(
                &c.query("SELECT * FROM tokens ORDER BY created_at, id", &[])?,
                token_from_row,
            )
        })
    }

    fn agent_enroll(&self, a: &NewAgent, now: i64) -> Result<EnrollOutcome> {
        let a = a.clone();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let out = identity::enroll(&mut tx, &a, now)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn agent_move(&self, id: &str, agency: &str, actor: &str, now: i64) -> Result<bool> {
        let (id, agency, actor) = (id.to_owned(), agency.to_owned(), actor.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let moved = identity::move_agent(&mut tx, &id, &agency, &actor, now)?;
            tx.commit()?;
            Ok(moved)
        })
    }

    fn agent_session_cert(&self, id: &str, serial: &str, now: i64) -> Result<SessionCert> {
        let (id, serial) = (id.to_owned(), serial.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let out = identity::session_cert(&mut tx, &id, &serial, now)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn agent(&self, id: &str) -> Result<Option<AgentRecord>> {
        let id = id.to_owned();
        self.call(move |c| {
            c.query_opt("SELECT * FROM agents WHERE id = $1", &[&id])?
                .as_ref()
                .map(agent_from_row)
                .transpose()
        })
    }

    fn agents(&self) -> Result<Vec<AgentRecord>> {
        self.call(|c| {
            collect(
                &c.query(
                    "SELECT * FROM agents ORDER BY revoked, agency, hostname, id",
                    &[],
                )?,
                agent_from_row,
            )
        })
    }

    fn agents_brief(&self) -> Result<Vec<AgentRecord>> {
        self.call(|c| {
            collect(
                &c.query(
                    "SELECT id, agency, machine_id, hostname, os, role, level, enrolled_at, last_seen, agent_version, cert_serial, cert_not_after, revoked, max_seq, spool_depth, clock_skew_ms, NULL::text AS inventory, simulated
                     FROM agents ORDER BY revoked, agency, hostname, id",
                    &[],
                )?,
                agent_from_row,
            )
        })
    }

    fn revoked_serials(&self) -> Result<Vec<String>> {
        self.call(|c| {
            c.query(identity::REVOKED_SERIALS, &[])?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect()
        })
    }

    fn agent_set_cert(&self, id: &str, serial: &str, not_after: i64, now: i64) -> Result<bool> {
        let (id, serial) = (id.to_owned(), serial.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let done = identity::set_pending(&mut tx, &id, &serial, not_after, now)?;
            tx.commit()?;
            Ok(done)
        })
    }

    fn agent_revoke(&self, id: &str, actor: &str, now: i64) -> Result<bool> {
        let (id, actor) = (id.to_owned(), actor.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE agents SET revoked = TRUE WHERE id = $1 AND NOT revoked",
                &[&id],
            )?;
            if n > 0 {
                let d = serde_json::json!({"agent": id});
                insert_audit(&mut tx, now, &actor, "agent.revoked", &d)?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn agent_seen(
        &self,
        id: &str,
        now: i64,
        agent_version: Option<&str>,
        hb: Option<Heartbeat>,
    ) -> Result<()> {
        let id = id.to_owned();
        let version = agent_version.map(str::to_owned);
        let spool = hb.map(|h| i64::try_from(h.spool_depth).unwrap_or(i64::MAX));
        let skew = hb.map(|h| h.clock_skew_ms);
        self.call(move |c| {
            c.execute(
                "UPDATE agents SET last_seen = GREATEST(last_seen, $2),
                        agent_version = COALESCE($3, agent_version),
                        spool_depth = COALESCE($4, spool_depth),
                        clock_skew_ms = COALESCE($5, clock_skew_ms)
                 WHERE id = $1 AND NOT revoked",
                &[&id, &now, &version, &spool, &skew],
            )?;
            Ok(())
        })
    }

    fn ingest(
        &self,
        agent_id: &str,
        batch: &[Envelope],
        received_at: i64,
    ) -> Result<IngestOutcome> {
        // Serialise on the caller's thread so the worker only talks to the database.
        let rows = Rows::new(batch)?;
        let agent_id = agent_id.to_owned();
        self.call_conn(move |conn| ingest_rows(conn, &agent_id, &rows, received_at))
    }

    fn max_seq(&self, agent_id: &str) -> Result<u64> {
        let agent_id = agent_id.to_owned();
        self.call(move |c| {
            let v: Option<i64> = c
                .query_opt("SELECT max_seq FROM agents WHERE id = $1", &[&agent_id])?
                .map(|r| r.try_get(0))
                .transpose()?;
            let v = v.unwrap_or(0);
            u64::try_from(v).map_err(|_| corrupt("max_seq", v))
        })
    }

    fn findings(&self, f: &FindingFilter) -> Result<Vec<StoredFinding>> {
        let f = f.clone();
        let limit = (f.limit != 0).then(|| i64::try_from(f.limit).unwrap_or(i64::MAX));
        self.call(move |c| {
            let rows = c.query(
                "SELECT agent_id, seq, kind, observed_at, received_at, body FROM findings
                 WHERE ($1::text IS NULL OR agent_id = $1) AND ($2::text IS NULL OR kind = $2)
                   AND ($3::bigint IS NULL OR received_at >= $3)
                 ORDER BY received_at DESC, agent_id, seq DESC LIMIT $4",
                &[&f.agent_id, &f.kind, &f.since_ms, &limit],
            )?;
            collect(&rows, |r| {
                let seq: i64 = r.try_get("seq")?;
                let body: String = r.try_get("body")?;
                Ok(StoredFinding {
                    agent_id: r.try_get("agent_id")?,
                    seq: u64::try_from(seq).map_err(|_| corrupt("seq", seq))?,
                    kind: r.try_get("kind")?,
                    observed_at: r.try_get("observed_at")?,
                    received_at: r.try_get("received_at")?,
                    finding: serde_json::from_str(&body)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
        })
    }

    fn finding_count(&self, agent_id: &str) -> Result<u64> {
        let agent_id = agent_id.to_owned();
        self.call(move |c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM findings WHERE agent_id = $1",
                    &[&agent_id],
                )?
                .try_get(0)?;
            u64::try_from(n).map_err(|_| corrupt("count", n))
        })
    }

    fn gaps(&self, agent_id: Option<&str>) -> Result<Vec<Gap>> {
        let agent_id = agent_id.map(str::to_owned);
        self.call(move |c| {
            collect(
                &c.query(
                    "SELECT agent_id, from_seq, to_seq, detected_at FROM gaps
                     WHERE ($1::text IS NULL OR agent_id = $1)
                     ORDER BY detected_at, agent_id, from_seq",
                    &[&agent_id],
                )?,
                gap_from_row,
            )
        })
    }

    fn audit(&self, actor: &str, action: &str, detail: &serde_json::Value, now: i64) -> Result<()> {
        let (actor, action, detail) = (actor.to_owned(), action.to_owned(), detail.clone());
        self.call(move |c| insert_audit(c, now, &actor, &action, &detail))
    }

    fn audit_log(&self) -> Result<Vec<(i64, String, String, serde_json::Value)>> {
        self.call(|c| {
            collect(
                &c.query(
                    "SELECT at, actor, action, detail FROM audit ORDER BY id",
                    &[],
                )?,
                |r| {
                    let d: String = r.try_get("detail")?;
                    Ok((
                        r.try_get("at")?,
                        r.try_get("actor")?,
                        r.try_get("action")?,
                        serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
                    ))
                },
            )
        })
    }

    fn alert_raise(&self, a: &super::NewAlert, now: i64) -> Result<(i64, bool)> {
        let a = a.clone();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let out = raise_alert(&mut tx, &a, now)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn alerts(&self, state: Option<super::AlertState>) -> Result<Vec<super::Alert>> {
        let st = state.map(|s| s.as_str().to_string());
        self.call(move |c| {
            let rows = c.query(
                "SELECT id, key, kind, severity, agent_id, title, state, count, opened_at, last_seen, reason, assignee, other_agency, params
                 FROM alerts WHERE ($1::TEXT IS NULL OR state = $1) ORDER BY id DESC",
                &[&st],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(
                    super::RawAlert {
                        id: r.try_get(0)?,
                        key: r.try_get(1)?,
                        kind: r.try_get(2)?,
                        severity: r.try_get(3)?,
                        agent_id: r.try_get(4)?,
                        title: r.try_get(5)?,
                        state: r.try_get(6)?,
                        count: r.try_get(7)?,
                        opened_at: r.try_get(8)?,
                        last_seen: r.try_get(9)?,
                        reason: r.try_get(10)?,
                        assignee: r.try_get(11)?,
                        other_agency: r.try_get(12)?,
                        params: r.try_get(13)?,
                    }
                    .decode()?,
                );
            }
            Ok(out)
        })
    }

    fn listeners_learn(
        &self,
        agent_id: &str,
        keys: &[String],
        now: i64,
    ) -> Result<(usize, Vec<String>)> {
        let (agent_id, keys) = (agent_id.to_owned(), keys.to_vec());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let before: i64 = tx
                .query_one(
                    "SELECT count(*) FROM known_listeners WHERE agent_id = $1",
                    &[&agent_id],
                )?
                .try_get(0)?;
            let room = i64::try_from(super::MAX_LISTENERS_PER_AGENT)
                .unwrap_or(i64::MAX)
                .saturating_sub(before);
            let new: Vec<String> = tx
                .query(
                    "INSERT INTO known_listeners (agent_id, key, first_seen)
                     SELECT $1, k, $3 FROM unnest($2::text[]) AS u(k)
                     WHERE NOT EXISTS (SELECT 1 FROM known_listeners WHERE agent_id = $1 AND key = k)
                     LIMIT GREATEST($4::bigint, 0)
                     ON CONFLICT DO NOTHING RETURNING key",
                    &[&agent_id, &keys, &now, &room],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            tx.commit()?;
            Ok((usize::try_from(before).unwrap_or(0), new))
        })
    }

    fn alert_assign(&self, id: i64, assignee: Option<&str>, actor: &str, now: i64) -> Result<bool> {
        let (actor, assignee) = (actor.to_owned(), assignee.map(str::to_owned));
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE alerts SET assignee = $2 WHERE id = $1",
                &[&id, &assignee],
            )?;
            if n > 0 {
                let d = serde_json::json!({"id": id, "assignee": assignee});
                insert_audit(&mut tx, now, &actor, "alert.assign", &d)?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn agency_rename(&self, id: &str, name: &str, actor: &str, now: i64) -> Result<bool> {
        let (id, name, actor) = (id.to_owned(), name.to_owned(), actor.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute("UPDATE agencies SET name = $2 WHERE id = $1", &[&id, &name])?;
            if n > 0 {
                let d = serde_json::json!({"id": id, "name": name});
                insert_audit(&mut tx, now, &actor, "agency.rename", &d)?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn agency_move(&self, from: &str, to: &str, actor: &str, now: i64) -> Result<MoveOutcome> {
        let (from, to, actor) = (from.to_owned(), to.to_owned(), actor.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            // Tree changes are rare; one at a time keeps concurrent moves from interleaving.
            tx.execute("LOCK TABLE agencies IN EXCLUSIVE MODE", &[])?;
            let out = move_subtree(&mut tx, &from, &to)?;
            let d = serde_json::json!({"from": from, "to": to, "moved": out});
            insert_audit(&mut tx, now, &actor, "agency.move", &d)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn agency_dissolve(&self, id: &str, actor: &str, now: i64) -> Result<MoveOutcome> {
        let parent = parent_of(id)
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "{id:?} is a root agency: it has no parent to take its place"
                ))
            })?
            .to_owned();
        let (id, actor) = (id.to_owned(), actor.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute("LOCK TABLE agencies IN EXCLUSIVE MODE", &[])?;
            if tx
                .query_opt("SELECT 1 FROM agencies WHERE id = $1", &[&id])?
                .is_none()
            {
                return Err(StoreError::NotFound(format!("agency {id:?}")));
            }
            let children: Vec<String> = tx
                .query(
                    "SELECT id FROM agencies WHERE parent = $1 ORDER BY id",
                    &[&id],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            let mut out = MoveOutcome::default();
            for ch in &children {
                out += move_subtree(&mut tx, ch, &format!("{parent}/{}", super::leaf_of(ch)))?;
            }
            tree_sql(
                &mut tx,
                super::DISSOLVE_MEMBERS,
                &id,
                &parent,
                None,
                &mut out,
            )?;
            tx.execute("DELETE FROM agencies WHERE id = $1", &[&id])?;
            out.agencies += 1;
            let d =
                serde_json::json!({"id": id, "into": parent, "children": children, "moved": out});
            insert_audit(&mut tx, now, &actor, "agency.dissolve", &d)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn agent_set_profile(
        &self,
        id: &str,
        role: Option<&str>,
        level: Option<u8>,
        actor: &str,
        now: i64,
    ) -> Result<bool> {
        let (id, role, actor) = (id.to_owned(), role.map(str::to_owned), actor.to_owned());
        let level = level.map(i16::from);
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE agents SET role = COALESCE($2, role), level = COALESCE($3, level) WHERE id = $1",
                &[&id, &role, &level],
            )?;
            if n > 0 {
                let d = serde_json::json!({"id": id, "role": role, "level": level});
                insert_audit(&mut tx, now, &actor, "host.set", &d)?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn check_states(&self) -> Result<Vec<(String, Vec<CheckState>)>> {
        // A province holds millions of results: read and decode them in slices, one per pooled
        // connection, in parallel.
        let parts = i32::try_from(self.workers.len().max(1)).unwrap_or(1);
        let slices = (0..parts)
            .map(|part| {
                self.submit(move |conn| {
                    let rows = conn.client()?.query(
                        "SELECT c.agent_id, c.results FROM check_state c JOIN agents a ON a.id = c.agent_id
                         WHERE NOT a.revoked AND (hashtext(c.agent_id) % $1 + $1) % $1 = $2",
                        &[&parts, &part],
                    )?;
                    rows.iter()
                        .map(|r| {
                            let id: String = r.try_get(0)?;
                            let results: &str = r.try_get(1)?;
                            let state = serde_json::from_str(results).map_err(|e| {
                                StoreError::Corrupt(format!("check state of {id}: {e}"))
                            })?;
                            Ok((id, state))
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::new();
        for rx in &slices {
            out.extend(Self::wait(rx)?);
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn assets_import(&self, assets: &[Asset], actor: &str, now: i64) -> Result<AssetImport> {
        let (assets, actor) = (assets.to_vec(), actor.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let mut out = AssetImport::default();
            let agency = tx.prepare("SELECT 1 FROM agencies WHERE id = $1")?;
            let old = tx.prepare("SELECT role, level FROM assets WHERE agency = $1 AND hostname = $2 FOR UPDATE")?;
            let put = tx.prepare(
                "INSERT INTO assets (agency, hostname, role, level, imported_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (agency, hostname) DO UPDATE SET role = $3, level = $4, imported_at = $5",
            )?;
            for a in &assets {
                if tx.query_opt(&agency, &[&a.agency])?.is_none() {
                    return Err(StoreError::NotFound(format!("agency {:?}", a.agency)));
                }
                let lv = i16::from(a.level);
                match tx.query_opt(&old, &[&a.agency, &a.hostname])? {
                    None => out.added += 1,
                    Some(r) if r.try_get::<_, String>(0)? == a.role && r.try_get::<_, i16>(1)? == lv => {
                        out.unchanged += 1;
                    }
                    Some(_) => out.updated += 1,
                }
                tx.execute(&put, &[&a.agency, &a.hostname, &a.role, &lv, &now])?;
            }
            let d = serde_json::json!({"rows": assets.len(), "result": out});
            insert_audit(&mut tx, now, &actor, "assets.import", &d)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn assets(&self) -> Result<Vec<Asset>> {
        self.call(move |c| {
            let rows = c.query(
                "SELECT agency, hostname, role, level FROM assets ORDER BY agency, hostname",
                &[],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(Asset {
                        agency: r.try_get(0)?,
                        hostname: r.try_get(1)?,
                        role: r.try_get(2)?,
                        level: level(r.try_get(3)?)?.unwrap_or(1),
                    })
                })
                .collect()
        })
    }

    fn scores_record(&self, points: &[ScorePoint]) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let mut cols: (Vec<String>, Vec<String>, Vec<String>, Vec<f64>) = Default::default();
        let mut more: (Vec<Option<f64>>, Vec<String>, Vec<String>, Vec<i64>) = Default::default();
        for p in points {
            cols.0.push(p.scope.clone());
            cols.1.push(p.id.clone());
            cols.2.push(p.view.clone());
            cols.3.push(p.score);
            more.0.push(p.coverage);
            more.1.push(p.rule_pack_version.clone());
            more.2.push(p.scoring_version.clone());
            more.3.push(p.computed_at);
        }
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let src = "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::text[], $7::text[], $8::bigint[])";
            let params: [&(dyn ::postgres::types::ToSql + Sync); 8] =
                [&cols.0, &cols.1, &cols.2, &cols.3, &more.0, &more.1, &more.2, &more.3];
            tx.execute(&format!("INSERT INTO score_history ({SCORE_COLS}) {src}"), &params)?;
            tx.execute(
                &format!(
                    "INSERT INTO score_latest ({SCORE_COLS}) {src}
                     ON CONFLICT (scope, id, view) DO UPDATE SET score = EXCLUDED.score,
                       coverage = EXCLUDED.coverage, rule_pack_version = EXCLUDED.rule_pack_version,
                       scoring_version = EXCLUDED.scoring_version, computed_at = EXCLUDED.computed_at
                     WHERE score_latest.computed_at <= EXCLUDED.computed_at"
                ),
                &params,
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn scores_latest(&self) -> Result<Vec<ScorePoint>> {
        self.call(move |c| {
            let rows = c.query(&format!("SELECT {SCORE_COLS} FROM score_latest"), &[])?;
            rows.iter().map(score_from_row).collect()
        })
    }

    fn score_history(&self, scope: &str, id: &str, since_ms: i64) -> Result<Vec<ScorePoint>> {
        let (scope, id) = (scope.to_owned(), id.to_owned());
        self.call(move |c| {
            let rows = c.query(
                &format!(
                    "SELECT {SCORE_COLS} FROM score_history
                     WHERE scope = $1 AND id = $2 AND computed_at >= $3 ORDER BY computed_at, view"
                ),
                &[&scope, &id, &since_ms],
            )?;
            rows.iter().map(score_from_row).collect()
        })
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
        let (actor, reason) = (actor.to_owned(), reason.map(str::to_owned));
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let st = state.as_str();
            let n = tx.execute("UPDATE alerts SET state = $2, reason = $3 WHERE id = $1", &[&id, &st, &reason])?;
            if n > 0 {
                let d = serde_json::json!({"id": id, "state": st, "reason": reason}).to_string();
                tx.execute("INSERT INTO audit (at, actor, action, detail) VALUES ($1, $2, 'alert.state', $3)", &[&now, &actor, &d])?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn ioc_import(&self, indicators: &[vigil_proto::msg::Indicator]) -> Result<u64> {
        let indicators = indicators.to_vec();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            // One importer at a time, so versions are assigned in order across collectors.
            tx.execute("SELECT pg_advisory_xact_lock(72610001)", &[])?;
            let current: i64 = tx.query_one("SELECT coalesce(max(version), 0)::BIGINT FROM iocs", &[])?.try_get(0)?;
            let next = current + 1;
            let mut changed = 0u64;
            for i in &indicators {
                changed += tx.execute(
                    "INSERT INTO iocs (kind, value, source, expires_at, version) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (kind, value) DO UPDATE SET source = EXCLUDED.source,
                         expires_at = EXCLUDED.expires_at, version = EXCLUDED.version
                     WHERE iocs.source <> EXCLUDED.source OR iocs.expires_at <> EXCLUDED.expires_at",
                    &[&i.kind, &i.value, &i.source, &i.expires_at, &next],
                )?;
            }
            tx.commit()?;
            let v = if changed == 0 { current } else { next };
            u64::try_from(v).map_err(|_| corrupt("ioc version", v))
        })
    }

    fn ioc_version(&self) -> Result<u64> {
        self.call(|c| {
            let v: i64 = c
                .query_one("SELECT coalesce(max(version), 0)::BIGINT FROM iocs", &[])?
                .try_get(0)?;
            u64::try_from(v).map_err(|_| corrupt("ioc version", v))
        })
    }

    fn ioc_since(&self, from_version: u64) -> Result<(u64, Vec<vigil_proto::msg::Indicator>)> {
        let from = i64::try_from(from_version).unwrap_or(i64::MAX);
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let v: i64 = tx.query_one("SELECT coalesce(max(version), 0)::BIGINT FROM iocs", &[])?.try_get(0)?;
            let rows = tx.query(
                "SELECT kind, value, source, expires_at FROM iocs WHERE version > $1 ORDER BY kind, value",
                &[&from],
            )?;
            let list = collect(&rows, |r| {
                Ok(vigil_proto::msg::Indicator {
                    kind: r.try_get(0)?,
                    value: r.try_get(1)?,
                    source: r.try_get(2)?,
                    expires_at: r.try_get(3)?,
                })
            })?;
            tx.commit()?;
            Ok((u64::try_from(v).map_err(|_| corrupt("ioc version", v))?, list))
        })
    }

    fn user_add(&self, u: &super::User, actor: &str, now: i64) -> Result<()> {
        let (u, actor) = (u.clone(), actor.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "INSERT INTO users (name, password_hash, role, scope, created_at, disabled)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
                &[
                    &u.name,
                    &u.password_hash,
                    &u.role.as_str(),
                    &u.scope,
                    &u.created_at,
                    &u.disabled,
                ],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!("user {:?}", u.name)));
            }
            let d = serde_json::json!({"name": u.name, "role": u.role.as_str(), "scope": u.scope});
            insert_audit(&mut tx, now, &actor, "user.add", &d)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn user(&self, name: &str) -> Result<Option<super::User>> {
        let name = name.to_owned();
        self.call(move |c| {
            c.query_opt(
                "SELECT name, password_hash, role, scope, created_at, disabled
                 FROM users WHERE name = $1",
                &[&name],
            )?
            .as_ref()
            .map(user_from_row)
            .transpose()
        })
    }

    fn users(&self) -> Result<Vec<super::User>> {
        self.call(|c| {
            collect(
                &c.query(
                    "SELECT name, password_hash, role, scope, created_at, disabled
                     FROM users ORDER BY name",
                    &[],
                )?,
                user_from_row,
            )
        })
    }

    fn user_disable(&self, name: &str, actor: &str, now: i64) -> Result<bool> {
        let (name, actor) = (name.to_owned(), actor.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let scope: Option<String> = tx
                .query_opt("SELECT scope FROM users WHERE name = $1", &[&name])?
                .map(|r| r.try_get(0))
                .transpose()?;
            let n = tx.execute("UPDATE users SET disabled = TRUE WHERE name = $1", &[&name])?;
            if n > 0 {
                tx.execute(r#"DELETE FROM sessions WHERE "user" = $1"#, &[&name])?;
                let d = serde_json::json!({"name": name, "scope": scope});
                insert_audit(&mut tx, now, &actor, "user.disable", &d)?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn session_add(&self, s: &super::SessionRecord) -> Result<()> {
        let s = s.clone();
        self.call(move |c| {
            c.execute(
                r#"INSERT INTO sessions (id_hash, "user", csrf, expires_at)
                   VALUES ($1, $2, $3, $4)"#,
                &[&s.id_hash, &s.user, &s.csrf, &s.expires_at],
            )?;
            Ok(())
        })
    }

    fn session(&self, id_hash: &str, now: i64) -> Result<Option<super::SessionRecord>> {
        let id_hash = id_hash.to_owned();
        self.call(move |c| {
            let Some(r) = c.query_opt(
                r#"SELECT id_hash, "user", csrf, expires_at FROM sessions
                   WHERE id_hash = $1 AND expires_at > $2"#,
                &[&id_hash, &now],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(super::SessionRecord {
                id_hash: r.try_get(0)?,
                user: r.try_get(1)?,
                csrf: r.try_get(2)?,
                expires_at: r.try_get(3)?,
            }))
        })
    }

    fn session_delete(&self, id_hash: &str, now: i64) -> Result<bool> {
        let id_hash = id_hash.to_owned();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute("DELETE FROM sessions WHERE id_hash = $1", &[&id_hash])?;
            tx.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now])?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn api_token_add(&self, t: &super::ApiTokenRecord, actor: &str, now: i64) -> Result<()> {
        let (t, actor) = (t.clone(), actor.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            if tx
                .query_opt("SELECT name FROM users WHERE name = $1", &[&t.user])?
                .is_none()
            {
                return Err(StoreError::NotFound(format!("user {:?}", t.user)));
            }
            tx.execute(
                r#"INSERT INTO api_tokens (id, secret_hash, "user", created_at, revoked)
                   VALUES ($1, $2, $3, $4, $5)"#,
                &[&t.id, &t.secret_hash, &t.user, &t.created_at, &t.revoked],
            )?;
            let d = serde_json::json!({"id": t.id, "user": t.user});
            insert_audit(&mut tx, now, &actor, "api_token.create", &d)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn api_token(&self, secret_hash: &str) -> Result<Option<super::ApiTokenRecord>> {
        let secret_hash = secret_hash.to_owned();
        self.call(move |c| {
            let Some(r) = c.query_opt(
                r#"SELECT id, secret_hash, "user", created_at, revoked FROM api_tokens
                   WHERE secret_hash = $1"#,
                &[&secret_hash],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(api_token_from_row(&r)?))
        })
    }

    fn api_tokens(&self) -> Result<Vec<super::ApiTokenRecord>> {
        self.call(|c| {
            collect(
                &c.query(
                    r#"SELECT id, secret_hash, "user", created_at, revoked FROM api_tokens
                       ORDER BY created_at, id"#,
                    &[],
                )?,
                api_token_from_row,
            )
        })
    }

    fn api_token_revoke(&self, id: &str, actor: &str, now: i64) -> Result<bool> {
        let (id, actor) = (id.to_owned(), actor.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let Some(r) = tx.query_opt(
                r#"UPDATE api_tokens SET revoked = TRUE WHERE id = $1 AND NOT revoked
                   RETURNING "user""#,
                &[&id],
            )?
            else {
                return Ok(false);
            };
            let user: String = r.try_get(0)?;
            let d = serde_json::json!({"id": id, "user": user});
            insert_audit(&mut tx, now, &actor, "api_token.revoke", &d)?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn audit_page(&self, before: Option<i64>, limit: usize) -> Result<Vec<super::AuditEntry>> {
        let before = before.unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |c| {
            collect(
                &c.query(
                    "SELECT id, at, actor, action, detail FROM audit WHERE id < $1
                     ORDER BY id DESC LIMIT $2",
                    &[&before, &limit],
                )?,
                |r| {
                    let d: String = r.try_get("detail")?;
                    Ok(super::AuditEntry {
                        id: r.try_get("id")?,
                        at: r.try_get("at")?,
                        actor: r.try_get("actor")?,
                        action: r.try_get("action")?,
                        detail: serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
                    })
                },
            )
        })
    }
}

fn api_token_from_row(r: &Row) -> Result<super::ApiTokenRecord> {
    Ok(super::ApiTokenRecord {
        id: r.try_get(0)?,
        secret_hash: r.try_get(1)?,
        user: r.try_get(2)?,
        created_at: r.try_get(3)?,
        revoked: r.try_get(4)?,
    })
}

fn user_from_row(r: &Row) -> Result<super::User> {
    let role: String = r.try_get("role")?;
    super::decode_user(
        r.try_get("name")?,
        r.try_get("password_hash")?,
        &role,
        r.try_get("scope")?,
        r.try_get("created_at")?,
        r.try_get("disabled")?,
    )
}

#[cfg(test)]
mod tests;
