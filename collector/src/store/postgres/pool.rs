//! The connection pool: `r2d2` keeps up to N connections (opened on demand, checked before each
//! use, replaced after they break), each carrying the statements prepared on it. See the module
//! docs of [`super`] for where the calling thread matters.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use ::postgres::{Client, NoTls, Statement};
use r2d2::ManageConnection as _;
use tracing::{error, warn};

use super::DEFAULT_POOL_SIZE;
use crate::store::{Result, StoreError};

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL-backed [`Store`](crate::store::Store) over an `r2d2` pool of connections.
#[derive(Debug)]
pub struct PostgresStore {
    /// `None` only while dropping.
    pool: Option<r2d2::Pool<Manager>>,
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
        let wait = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT);
        let manager = Manager {
            config,
            schema: schema.map(str::to_owned),
        };
        let schema = schema.map(str::to_owned);
        off_async(move || {
            // Migrate on a connection of our own first: an unreachable server or a newer schema
            // is reported at once, in the client's words, rather than after the pool's timeout.
            let mut first = manager.connect()?;
            crate::store::migrations::postgres::migrate(
                first.client()?,
                schema.as_deref(),
                super::LOCK_MIGRATE,
            )?;
            drop(first);
            let pool = r2d2::Pool::builder()
                .max_size(u32::try_from(pool.max(1)).unwrap_or(u32::MAX))
                // Opened on demand and then kept: each one carries its prepared statements.
                .min_idle(Some(0))
                .idle_timeout(None)
                // A cheap round trip before each use finds connections the server has closed
                // (restart, `pg_terminate_backend`), so a call gets a fresh one instead of failing.
                .test_on_check_out(true)
                .connection_timeout(wait)
                .error_handler(Box::new(LogError))
                .build_unchecked(manager);
            Ok(Self { pool: Some(pool) })
        })
    }

    /// Runs `f` on a pooled connection.
    pub(super) fn call<T: Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T> + Send,
    ) -> Result<T> {
        self.call_conn(move |conn| conn.client().and_then(f))
    }

    /// Like [`call`](Self::call), with the connection's statement cache.
    pub(super) fn call_conn<T: Send>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T> + Send,
    ) -> Result<T> {
        let pool = self.pool()?;
        off_async(move || {
            let mut conn = pool
                .get()
                .map_err(|e| StoreError::Db(format!("no PostgreSQL connection: {e}")))?;
            match catch_unwind(AssertUnwindSafe(|| f(&mut conn))) {
                Ok(r) => r,
                Err(_) => {
                    // The job's transaction may still be open: the pool must not hand this
                    // connection out again.
                    error!("A store job panicked; dropping its PostgreSQL connection.");
                    conn.broken = true;
                    Err(StoreError::Db("a store job failed during the call".into()))
                }
            }
        })
    }

    /// How many connections the pool may hold (parallel readers split their work by it).
    pub(super) fn pool_size(&self) -> u32 {
        self.pool.as_ref().map_or(1, r2d2::Pool::max_size)
    }

    fn pool(&self) -> Result<&r2d2::Pool<Manager>> {
        self.pool
            .as_ref()
            .ok_or_else(|| StoreError::Db("the store is closed".into()))
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping the last handle closes the idle connections, whose runtimes must not be
        // dropped on an async thread.
        if let Some(pool) = self.pool.take() {
            off_async(move || drop(pool));
        }
    }
}

/// Runs `f` where the sync `postgres` client may drive (and drop) its private runtime: directly on
/// a plain or `spawn_blocking` thread, after `block_in_place` on a multi-threaded runtime's
/// worker, and on a short-lived scoped thread inside a current-thread runtime (tests, tools),
/// where neither is allowed.
fn off_async<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => f(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(panic) => resume_unwind(panic),
        }),
    }
}

/// Tells `r2d2` how to open and check connections.
#[derive(Debug)]
struct Manager {
    config: ::postgres::Config,
    schema: Option<String>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = StoreError;

    fn connect(&self) -> Result<Conn> {
        let mut c = self
            .config
            .connect(NoTls)
            .map_err(|e| StoreError::Db(format!("{}: {}", target(&self.config), message(&e))))?;
        if let Some(s) = &self.schema {
            // `s` passed `check_schema_name`, so quoting cannot be escaped.
            c.batch_execute(&format!("SET search_path TO \"{s}\""))?;
        }
        Ok(Conn {
            client: c,
            statements: HashMap::new(),
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<()> {
        conn.client.simple_query("")?;
        Ok(())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || conn.client.is_closed()
    }
}

/// Sends the pool's connection errors to the log (its default handler uses `log`).
#[derive(Debug)]
struct LogError;

impl r2d2::HandleError<StoreError> for LogError {
    fn handle_error(&self, e: StoreError) {
        warn!(error = %e, "Opening a PostgreSQL connection failed.");
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

/// One pooled connection with the statements prepared on it (the hot ingest path saves a round
/// trip per statement). A broken connection is dropped by the pool with its statements.
pub(super) struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    /// Set when a job panicked on it: its state is unknown.
    broken: bool,
}

impl Conn {
    pub(super) fn client(&mut self) -> Result<&mut Client> {
        Ok(&mut self.client)
    }

    /// The client and the statements prepared on it, to run a transaction that uses both.
    pub(super) fn parts(&mut self) -> (&mut Client, &mut crate::store::db::postgres::Statements) {
        (&mut self.client, &mut self.statements)
    }

    pub(super) fn prepare(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql)?;
        self.statements.insert(sql, st.clone());
        Ok(st)
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
