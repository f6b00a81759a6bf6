//! [`Db`] for the SQLite store: writes in a transaction on the one writer connection (`BEGIN
//! IMMEDIATE` for a file, so writers in other processes wait), reads on a WAL reader.

use super::SqliteStore;
use crate::store::Result;
use crate::store::db::sqlite::SqliteTx;
use crate::store::db::{Db, Tx};

impl Db for SqliteStore {
    fn write<T: Send>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = f(&mut SqliteTx(&tx))?;
        tx.commit()?;
        Ok(out)
    }

    fn read<T: Send>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send) -> Result<T> {
        let conn = self.read();
        f(&mut SqliteTx(&conn))
    }
}
