//! The dialect seam (issue 20, "one store program"): what a store method needs from a database,
//! so that a method that is the same program on SQLite and PostgreSQL is written once, in
//! `store/common/`, over [`Db`] and [`Tx`].
//!
//! - Statements are `&'static str` in SQLite's `?N` form (the constants of `store/sql.rs` and of
//!   the common modules). The PostgreSQL adapter rewrites them to `$N` once per statement
//!   ([`crate::store::sql::dialect::pg`]) and prepares each once per pooled connection.
//! - Parameters are [`Value`]s. The PostgreSQL adapter binds each by the type the server gave the
//!   prepared statement's parameter: an integer bound to a `SMALLINT`/`INTEGER` column is narrowed
//!   with a range check (out of range is [`StoreError::Invalid`], never a wrapped number), an
//!   integer 0/1 bound to a `BOOLEAN` becomes a bool. SQLite stores booleans as 0/1.
//! - Results are [`Row`]s read by the column types: [`Tx::each`] hands each to its decoder as it
//!   is read (SQLite's text borrowed from the current row, PostgreSQL's columns decoded when a
//!   getter asks), and [`Tx::query`] returns rows that own their values; the typed getters
//!   ([`Row::get`]) accept a bool or 0/1 for `bool`, range-check narrowed integers, and report a
//!   wrong type or an absent column as [`StoreError::Corrupt`] naming the column.
//! - [`Db::write`] runs a closure in a write transaction (SQLite: the writer connection,
//!   `BEGIN IMMEDIATE`; PostgreSQL: a transaction on a pooled connection), committed when the
//!   closure returns `Ok` and rolled back otherwise; [`Db::read`] runs one in a read context
//!   (SQLite: a WAL reader; PostgreSQL: a pooled connection outside any transaction). PostgreSQL
//!   runs both off the async threads like every other call (`postgres/pool.rs`).
//! - What differs between the databases only in a clause is a [`Dialect`] function
//!   ([`Dialect::for_update`]) or a [`Tx`] method with one meaning ([`Tx::lock`]). What
//!   differs in the program (PostgreSQL's multi-row `unnest` ingest, `FOR UPDATE` on token use,
//!   SQLite's single-writer assumptions) stays in its backend's own module.
//!
//! The adapters: `db/sqlite.rs` (any rusqlite connection or transaction) and `db/postgres.rs`
//! (a `postgres` client or transaction with its connection's statement cache).

use std::borrow::Cow;
use std::sync::Arc;

use super::{Result, StoreError};

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// Which database a [`Tx`] talks to, for the few clauses whose text differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite: one writer at a time (`BEGIN IMMEDIATE`), so there are no row locks to take.
    Sqlite,
    /// PostgreSQL: several collectors may run the same transaction at once.
    Postgres,
}

impl Dialect {
    /// `sql` (a `SELECT`) locking the rows it reads until the transaction ends: PostgreSQL's
    /// `FOR UPDATE`. SQLite's write transaction already holds the only write lock. Each
    /// distinct statement is extended once and kept, like [`crate::store::sql::dialect::pg`].
    pub(crate) fn for_update(self, sql: &'static str) -> &'static str {
        match self {
            Self::Sqlite => sql,
            Self::Postgres => leak_once(sql, |s| format!("{s} FOR UPDATE")),
        }
    }
}

/// `f(sql)`, computed once per distinct `sql` and kept for the process (statements are
/// constants, a bounded set), so statement caches can key on the text.
pub(crate) fn leak_once(sql: &'static str, f: impl FnOnce(&str) -> String) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError};
    static DONE: OnceLock<Mutex<HashMap<&'static str, &'static str>>> = OnceLock::new();
    let mut done = DONE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    done.entry(sql)
        .or_insert_with(|| Box::leak(f(sql).into_boxed_str()))
}

/// What a write transaction serialises on ([`Tx::lock`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lock<'a> {
    /// A key within a class (PostgreSQL: the two-key advisory lock `(class, hashtext(key))`).
    Key(i32, &'a str),
    /// A number (PostgreSQL: the one-key advisory lock).
    Id(i64),
    /// Every write of a table (PostgreSQL: `LOCK TABLE … IN EXCLUSIVE MODE`; reads go on).
    Table(&'static str),
}

/// A statement parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    /// SQL `NULL`.
    Null,
    /// Any integer column (SQLite `INTEGER`; PostgreSQL `SMALLINT`, `INTEGER`, `BIGINT`).
    Int(i64),
    /// A floating-point column.
    Real(f64),
    /// A text column.
    Text(Cow<'a, str>),
    /// A boolean (SQLite stores it as 0/1).
    Bool(bool),
    /// A blob / `BYTEA` column.
    Bytes(Cow<'a, [u8]>),
}

impl Value<'_> {
    /// The same value owning its text and bytes.
    pub(crate) fn into_owned(self) -> Value<'static> {
        match self {
            Self::Null => Value::Null,
            Self::Int(i) => Value::Int(i),
            Self::Real(r) => Value::Real(r),
            Self::Text(t) => Value::Text(Cow::Owned(t.into_owned())),
            Self::Bool(b) => Value::Bool(b),
            Self::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
        }
    }

    /// The kind of value, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Int(_) => "integer",
            Self::Real(_) => "real",
            Self::Text(_) => "text",
            Self::Bool(_) => "bool",
            Self::Bytes(_) => "bytes",
        }
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value<'_> {
            fn from(v: $t) -> Self {
                Self::Int(i64::from(v))
            }
        }
    )*};
}
int_value!(i64, i32, i16, u8, u16, u32);

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(Cow::Borrowed(v))
    }
}

impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Self::Text(Cow::Owned(v))
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Self::Bytes(Cow::Borrowed(v))
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().into()
    }
}

/// Parameters for a statement: `params![a, b]` is `&[Value::from(a), Value::from(b)]`.
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::store::db::Value::from($v)),*][..]
    };
}
pub(crate) use params;

/// One result row with the statement's column names. Text and bytes stay in the driver's row
/// (SQLite's current row while [`Tx::each`] runs, borrowed; the row PostgreSQL sent, decoded
/// only when a getter asks for that column): a read of thousands of rows allocates once per
/// text value read, as a hand-written decoder would. Rows kept beyond a statement on SQLite
/// ([`Tx::query`]) own their values.
#[derive(Debug)]
pub(crate) struct Row<'r> {
    names: Arc<[String]>,
    cells: Cells<'r>,
}

#[derive(Debug)]
enum Cells<'r> {
    Values(Vec<Value<'r>>),
    Pg(::postgres::Row),
}

impl<'r> Row<'r> {
    /// A row of `values` named by `names` (one per value).
    pub(crate) fn new(names: Arc<[String]>, values: Vec<Value<'r>>) -> Self {
        Self {
            names,
            cells: Cells::Values(values),
        }
    }

    /// A row as PostgreSQL sent it, with its statement's column names.
    pub(crate) fn pg(names: Arc<[String]>, row: ::postgres::Row) -> Self {
        Self {
            names,
            cells: Cells::Pg(row),
        }
    }

    /// The value of column `col` (a position or a name) as a `T`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column when it is absent, of another type, or out of
    /// `T`'s range.
    pub(crate) fn get<T: FromValue>(&self, col: impl Column) -> Result<T> {
        let i = col.index(&self.names).ok_or_else(|| {
            StoreError::Corrupt(format!("no column {} in the result", col.describe()))
        })?;
        let name = || self.names.get(i).map_or("?", String::as_str);
        let v = match &self.cells {
            Cells::Values(values) => Cow::Borrowed(values.get(i).unwrap_or(&Value::Null)),
            Cells::Pg(row) => Cow::Owned(postgres::read(row, i, name())?),
        };
        T::from_value(&v).map_err(|expected| {
            StoreError::Corrupt(format!(
                "column {}: expected {expected}, found {} {}",
                name(),
                v.kind(),
                shown(&v)
            ))
        })
    }

    /// The same row, owning its values (a PostgreSQL row already does).
    pub(crate) fn into_owned(self) -> Row<'static> {
        Row {
            names: self.names,
            cells: match self.cells {
                Cells::Values(values) => {
                    Cells::Values(values.into_iter().map(Value::into_owned).collect())
                }
                Cells::Pg(row) => Cells::Pg(row),
            },
        }
    }

    /// How many columns the row has.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

/// A short rendering of `v` for an error message (numbers and bools only: text may be secret).
fn shown(v: &Value<'_>) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A column by position or by name.
pub(crate) trait Column: Copy {
    /// Its position among `names`.
    fn index(self, names: &[String]) -> Option<usize>;
    /// For messages.
    fn describe(self) -> String;
}

impl Column for usize {
    fn index(self, names: &[String]) -> Option<usize> {
        (self < names.len()).then_some(self)
    }
    fn describe(self) -> String {
        format!("#{self}")
    }
}

impl Column for &str {
    fn index(self, names: &[String]) -> Option<usize> {
        names.iter().position(|n| n == self)
    }
    fn describe(self) -> String {
        format!("{self:?}")
    }
}

/// A Rust type a column value converts to; `Err` carries what was expected.
pub(crate) trait FromValue: Sized {
    /// Converts `v`, or says what type was expected.
    fn from_value(v: &Value<'_>) -> std::result::Result<Self, &'static str>;
}

impl FromValue for i64 {
    fn from_value(v: &Value<'_>) -> std::result::Result<Self, &'static str> {
        match v {
            Value::Int(i) => Ok(*i),
            _ => Err("integer"),
        }
    }
}

macro_rules! narrow_int {
    ($($t:ty => $what:literal),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value<'_>) -> std::result::Result<Self, &'static str> {
                match v {
                    Value::Int(i) => <$t>::try_from(*i).map_err(|_| $what),
                    _ => Err($what),
                }
            }
        }
    )*};
}
narrow_int!(
    i32 => "integer in i32 range",
    i16 => "integer in i16 range",
    u8 => "integer in 0..=255",
    u32 => "integer in u32 range",
    u64 => "non-negative integer",
    usize => "non-negative integer"
);

impl FromValue for f64 {
    fn from_value(v: &Value<'_>) -> std::result::Result<Self, &'static str> {
        match v {
            Value::Real(r) => Ok(*r),
            // SQLite hands back a REAL column holding a whole number as an integer.
            Value::Int(i) => Ok(*i as f64),
            _ => Err("real"),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: &Value<'_>) -> std::result::Result<Self, &'static str> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            _ => Err("bool (or 0/1)"),
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value<'_>) -> std::result::Result<Self, &'static str> {
        match v {
            Value::Text(t) => Ok(t.clone().into_owned()),
            _ => Err("text"),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value<'_>) -> std::result::Result<Self, &'static str> {
        match v {
            Value::Bytes(b) => Ok(b.clone().into_owned()),
            _ => Err("bytes"),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value<'_>) -> std::result::Result<Self, &'static str> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// A transaction or connection that runs statements in the shared `?N` form.
pub(crate) trait Tx {
    /// Which database this is.
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns no rows; the number of rows it changed.
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses it or a parameter cannot be bound.
    fn execute(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<u64>;

    /// Runs a query and returns every row.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    fn query(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<Vec<Row<'static>>>;

    /// Runs a query and hands each row to `f` as it is read, without copying it out: what
    /// [`collect`] runs on.
    ///
    /// # Errors
    /// As [`execute`](Self::execute), and the first error of `f` (no further row is read).
    fn each(
        &mut self,
        sql: &'static str,
        params: &[Value<'_>],
        f: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()>;

    /// Runs a query that returns at most one row (further rows are ignored).
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[Value<'_>],
    ) -> Result<Option<Row<'static>>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs a query that returns exactly one row (`count(*)`, `RETURNING`).
    ///
    /// # Errors
    /// As [`execute`](Self::execute), and [`StoreError::Db`] when there is no row.
    #[allow(
        dead_code,
        reason = "for the modules still to move (counts, RETURNING ids)"
    )]
    fn query_one(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<Row<'static>> {
        self.query_opt(sql, params)?
            .ok_or_else(|| StoreError::Db(format!("no row from: {sql}")))
    }

    /// Makes other transactions that take the same `lock` wait until this one ends. On
    /// PostgreSQL this is how collectors sharing the database decide one at a time; on SQLite
    /// it does nothing, as its single writer already runs one write transaction at a time.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    fn lock(&mut self, lock: Lock<'_>) -> Result<()>;
}

/// A backend that runs closures over a [`Tx`].
pub(crate) trait Db {
    /// Runs `f` in a write transaction, committed when `f` returns `Ok` and rolled back
    /// otherwise.
    ///
    /// # Errors
    /// What `f` returns, or [`StoreError::Db`] when the transaction cannot start or commit.
    fn write<T: Send>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send) -> Result<T>;

    /// Runs `f` where it may read; it must not write (SQLite's readers are read-only).
    ///
    /// # Errors
    /// What `f` returns, or [`StoreError::Db`] when no connection is available.
    fn read<T: Send>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send) -> Result<T>;
}

/// Every row of `sql` decoded by `f` as it is read ([`Tx::each`]).
///
/// # Errors
/// As [`Tx::each`]: the query's, or the first error of `f`.
pub(crate) fn collect<T>(
    tx: &mut dyn Tx,
    sql: &'static str,
    params: &[Value<'_>],
    f: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    tx.each(sql, params, &mut |r| {
        out.push(f(r)?);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests;
