//! The seam over rusqlite: any connection (a reader) or transaction (the writer's; it derefs to
//! its connection). Statements go through the connection's prepared-statement cache.

use std::borrow::Cow;
use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};

use super::{Dialect, Lock, Row, Tx, Value};
use crate::store::Result;

/// A [`Tx`] on a rusqlite connection or transaction.
pub(crate) struct SqliteTx<'c>(pub(crate) &'c Connection);

impl Tx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<u64> {
        let mut st = self.0.prepare_cached(sql)?;
        Ok(st.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<Vec<Row<'static>>> {
        owned_rows(self.0, sql, params, usize::MAX)
    }

    fn each(
        &mut self,
        sql: &'static str,
        params: &[Value<'_>],
        f: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        step(self.0, sql, params, usize::MAX, &mut |row| f(&row))
    }

    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[Value<'_>],
    ) -> Result<Option<Row<'static>>> {
        // Stops at the first row instead of reading them all.
        Ok(owned_rows(self.0, sql, params, 1)?.into_iter().next())
    }

    fn lock(&mut self, _lock: Lock<'_>) -> Result<()> {
        // The write transaction is `BEGIN IMMEDIATE` on the one writer connection: no other
        // writer, in this process or another, runs until it ends.
        Ok(())
    }
}

/// Runs `sql` and hands up to `max` rows to `f`, each borrowing its text and bytes from the
/// statement's current row.
fn step(
    c: &Connection,
    sql: &str,
    params: &[Value<'_>],
    max: usize,
    f: &mut dyn FnMut(Row<'_>) -> Result<()>,
) -> Result<()> {
    let mut st = c.prepare_cached(sql)?;
    let names: Arc<[String]> = st.column_names().map(str::to_owned).collect();
    let width = names.len();
    let mut rows = st.query(rusqlite::params_from_iter(params))?;
    for _ in 0..max {
        let Some(r) = rows.next()? else { break };
        let values = (0..width)
            .map(|i| Ok(borrowed(r.get_ref(i)?)))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        f(Row::new(names.clone(), values))?;
    }
    Ok(())
}

/// Up to `max` rows of `sql`, copied out to outlive the statement.
fn owned_rows(
    c: &Connection,
    sql: &str,
    params: &[Value<'_>],
    max: usize,
) -> Result<Vec<Row<'static>>> {
    let mut out = Vec::new();
    step(c, sql, params, max, &mut |row| {
        out.push(row.into_owned());
        Ok(())
    })?;
    Ok(out)
}

/// A column value read by its storage class, borrowing text and bytes from the row.
fn borrowed(v: ValueRef<'_>) -> Value<'_> {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        // Text that is not UTF-8 (SQLite does not check) comes back as bytes, so a getter
        // asking for text reports it instead of reading altered text.
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(Cow::Borrowed(s)),
            Err(_) => Value::Bytes(Cow::Borrowed(t)),
        },
        ValueRef::Blob(b) => Value::Bytes(Cow::Borrowed(b)),
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(r) => ToSqlOutput::Borrowed(ValueRef::Real(*r)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}
