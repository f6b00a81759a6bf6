//! The connection pool: a fixed set of worker threads, each owning one connection (opened on
//! first use, reopened after it breaks) and its prepared statements. See the module docs of
//! [`super`] for why connections live on their own threads.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::{Client, NoTls, Statement};
use tracing::{error, warn};

use super::DEFAULT_POOL_SIZE;
use crate::store::{Result, StoreError};

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL-backed [`Store`](crate::store::Store): a fixed pool of connections, each on its own worker thread.
#[derive(Debug)]
pub struct PostgresStore {
    jobs: Option<mpsc::Sender<Job>>,
    pub(super) workers: Vec<JoinHandle<()>>,
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
        store.call(move |c| super::schema::migrate(c, schema.as_deref()))?;
        Ok(store)
    }

    /// Runs `f` on a pooled connection and waits for its result.
    pub(super) fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.call_conn(move |conn| conn.client().and_then(f))
    }

    /// Like [`call`](Self::call), with the connection's statement cache.
    pub(super) fn call_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        Self::wait(&self.submit(f)?)
    }

    /// Queues `f` for a pooled connection; [`wait`](Self::wait) for its result. Several
    /// submissions run in parallel on different connections.
    pub(super) fn submit<T: Send + 'static>(
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

    pub(super) fn wait<T>(rx: &mpsc::Receiver<Result<T>>) -> Result<T> {
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
pub(super) struct Conn {
    spec: Arc<Spec>,
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    pub(super) fn client(&mut self) -> Result<&mut Client> {
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

    pub(super) fn prepare(&mut self, sql: &'static str) -> Result<Statement> {
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
