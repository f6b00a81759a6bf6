//! The seam over the `postgres` client: a client (outside a transaction) or a transaction, with
//! the pooled connection's prepared statements. Parameters are bound by the types the server
//! gave the prepared statement, and columns are read by their types.

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;

use ::postgres::types::private::BytesMut;
use ::postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use ::postgres::{GenericClient, Statement};

use super::{Dialect, Lock, Row, Tx, Value};
use crate::store::sql::dialect::pg;
use crate::store::{Result, StoreError};

/// The statements prepared on one connection, by their `$N` text.
pub(crate) type Statements = HashMap<&'static str, Statement>;

/// A [`Tx`] on a client or transaction of one pooled connection.
pub(crate) struct PgTx<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut Statements,
}

impl<'a, C: GenericClient> PgTx<'a, C> {
    /// Runs statements on `client`, preparing each once into `statements` (which must belong
    /// to `client`'s connection: a statement is only valid there).
    pub(crate) fn new(client: &'a mut C, statements: &'a mut Statements) -> Self {
        Self { client, statements }
    }

    fn prepare(&mut self, sql: &'static str) -> Result<Statement> {
        let sql = pg(sql);
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql)?;
        self.statements.insert(sql, st.clone());
        Ok(st)
    }

    fn run_query(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<Vec<Row<'static>>> {
        let st = self.prepare(sql)?;
        let bound = bind_all(&st, params)?;
        let rows = self.client.query(&st, &refs(&bound))?;
        let names: Arc<[String]> = st.columns().iter().map(|c| c.name().to_owned()).collect();
        Ok(rows
            .into_iter()
            .map(|r| Row::pg(names.clone(), r))
            .collect())
    }
}

impl<C: GenericClient> Tx for PgTx<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<u64> {
        let st = self.prepare(sql)?;
        let bound = bind_all(&st, params)?;
        Ok(self.client.execute(&st, &refs(&bound))?)
    }

    fn query(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<Vec<Row<'static>>> {
        self.run_query(sql, params)
    }

    fn each(
        &mut self,
        sql: &'static str,
        params: &[Value<'_>],
        f: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        // The client has read the whole result by now; the rows are decoded one by one.
        self.run_query(sql, params)?.iter().try_for_each(f)
    }

    fn lock(&mut self, lock: Lock<'_>) -> Result<()> {
        match lock {
            Lock::Key(class, key) => self.execute(
                "SELECT pg_advisory_xact_lock(?1, hashtext(?2))",
                super::params![class, key],
            )?,
            Lock::Id(id) => self.execute("SELECT pg_advisory_xact_lock(?1)", super::params![id])?,
            Lock::Table(table) => {
                let sql = super::leak_once(table, |t| format!("LOCK TABLE {t} IN EXCLUSIVE MODE"));
                self.execute(sql, &[])?
            }
        };
        Ok(())
    }
}

/// A parameter converted to the Rust type of its column.
#[derive(Debug)]
enum Bound<'v> {
    Null,
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Text(&'v str),
    Bytes(&'v [u8]),
}

fn bind_all<'v>(st: &Statement, params: &'v [Value<'_>]) -> Result<Vec<Bound<'v>>> {
    let types = st.params();
    if types.len() != params.len() {
        return Err(StoreError::Invalid(format!(
            "statement takes {} parameters, given {}",
            types.len(),
            params.len()
        )));
    }
    params
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, (v, ty))| bind(v, ty, i + 1))
        .collect()
}

/// `v` as the Rust type PostgreSQL expects for a `ty` parameter (`$n`).
fn bind<'v>(v: &'v Value<'_>, ty: &Type, n: usize) -> Result<Bound<'v>> {
    let wrong = || {
        StoreError::Invalid(format!(
            "parameter ${n}: cannot bind {} {} to {ty}",
            v.kind(),
            match v {
                Value::Int(i) => i.to_string(),
                _ => String::new(),
            }
        ))
    };
    Ok(match (v, ty) {
        (Value::Null, _) => Bound::Null,
        (Value::Int(i), t) if *t == Type::INT2 => {
            Bound::I16(i16::try_from(*i).map_err(|_| wrong())?)
        }
        (Value::Int(i), t) if *t == Type::INT4 => {
            Bound::I32(i32::try_from(*i).map_err(|_| wrong())?)
        }
        (Value::Int(i), t) if *t == Type::INT8 => Bound::I64(*i),
        (Value::Int(i), t) if *t == Type::FLOAT8 => Bound::F64(*i as f64),
        (Value::Int(0), t) if *t == Type::BOOL => Bound::Bool(false),
        (Value::Int(1), t) if *t == Type::BOOL => Bound::Bool(true),
        (Value::Bool(b), t) if *t == Type::BOOL => Bound::Bool(*b),
        (Value::Bool(b), t) if *t == Type::INT2 => Bound::I16(i16::from(*b)),
        (Value::Bool(b), t) if *t == Type::INT4 => Bound::I32(i32::from(*b)),
        (Value::Bool(b), t) if *t == Type::INT8 => Bound::I64(i64::from(*b)),
        (Value::Real(r), t) if *t == Type::FLOAT8 => Bound::F64(*r),
        // A FLOAT4 column holds an f32 by definition: the narrowing is the column's.
        (Value::Real(r), t) if *t == Type::FLOAT4 => Bound::F32(*r as f32),
        (Value::Text(s), t) if is_text(t) => Bound::Text(s),
        (Value::Bytes(b), t) if *t == Type::BYTEA => Bound::Bytes(b),
        _ => return Err(wrong()),
    })
}

fn is_text(t: &Type) -> bool {
    [
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
    ]
    .contains(t)
}

fn refs<'b>(bound: &'b [Bound<'_>]) -> Vec<&'b (dyn ToSql + Sync)> {
    bound.iter().map(|b| b as &(dyn ToSql + Sync)).collect()
}

impl ToSql for Bound<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::I16(v) => v.to_sql(ty, out),
            Self::I32(v) => v.to_sql(ty, out),
            Self::I64(v) => v.to_sql(ty, out),
            Self::F32(v) => v.to_sql(ty, out),
            Self::F64(v) => v.to_sql(ty, out),
            Self::Bool(v) => v.to_sql(ty, out),
            Self::Text(v) => v.to_sql(ty, out),
            Self::Bytes(v) => v.to_sql(ty, out),
        }
    }

    // `bind` chose the variant from the parameter's type; the inner `to_sql` does the encoding.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Column `i` (named `name`) of `r` read by its type, borrowing text and bytes from the row.
///
/// # Errors
/// [`StoreError::Db`] when the column has a type the seam does not read or its bytes do not
/// decode as that type.
pub(super) fn read<'r>(r: &'r ::postgres::Row, i: usize, name: &str) -> Result<Value<'r>> {
    fn or_null<'r, T>(v: Option<T>, f: impl FnOnce(T) -> Value<'r>) -> Value<'r> {
        v.map_or(Value::Null, f)
    }
    let Some(column) = r.columns().get(i) else {
        return Ok(Value::Null);
    };
    Ok(match column.type_() {
        t if *t == Type::INT2 => or_null(r.try_get::<_, Option<i16>>(i)?, Value::from),
        t if *t == Type::INT4 => or_null(r.try_get::<_, Option<i32>>(i)?, Value::from),
        t if *t == Type::INT8 => or_null(r.try_get::<_, Option<i64>>(i)?, Value::Int),
        t if *t == Type::FLOAT4 => or_null(r.try_get::<_, Option<f32>>(i)?, |v| {
            Value::Real(f64::from(v))
        }),
        t if *t == Type::FLOAT8 => or_null(r.try_get::<_, Option<f64>>(i)?, Value::Real),
        t if *t == Type::BOOL => or_null(r.try_get::<_, Option<bool>>(i)?, Value::Bool),
        t if *t == Type::BYTEA => or_null(r.try_get::<_, Option<&[u8]>>(i)?, Value::from),
        t if is_text(t) => or_null(r.try_get::<_, Option<&str>>(i)?, Value::from),
        t => {
            return Err(StoreError::Db(format!(
                "column {name}: type {t} is not read by the store seam"
            )));
        }
    })
}
