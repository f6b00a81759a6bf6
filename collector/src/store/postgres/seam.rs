//! [`Db`] for the PostgreSQL store: a transaction (or, to read, the bare client) on a pooled
//! connection, with that connection's prepared statements, run off the async threads like every
//! other call ([`PostgresStore::call_conn`]).

use super::PostgresStore;
use crate::store::Result;
use crate::store::db::postgres::PgTx;
use crate::store::db::{Db, Tx};

impl Db for PostgresStore {
    fn write<T: Send>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send) -> Result<T> {
        self.call_conn(|conn| {
            let (client, statements) = conn.parts();
            let mut tx = client.transaction()?;
            let out = f(&mut PgTx::new(&mut tx, statements))?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn read<T: Send>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send) -> Result<T> {
        self.call_conn(|conn| {
            let (client, statements) = conn.parts();
            f(&mut PgTx::new(client, statements))
        })
    }
}

#[cfg(test)]
mod tests;
