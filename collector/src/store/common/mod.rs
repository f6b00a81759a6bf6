//! Store methods that are the same program on both backends, written once over the dialect seam
//! ([`super::db`]): each takes `&impl Db` and runs its statements (shared `?N` text) through
//! [`Db::write`] or [`Db::read`]. `store.rs` implements `Store` once for every backend from them.
//!
//! To move another method here: make its statement text one that both databases accept
//! (`TRUE`/`FALSE`, `NOT col` for booleans, `"user"` quoted, `ON CONFLICT … DO NOTHING` and count
//! the rows, `RETURNING`), read columns through [`super::db::Row::get`] (which accepts SQLite's
//! 0/1 for a bool and range-checks narrowed integers), put a clause that must differ behind a
//! [`super::db::Dialect`] function or a [`super::db::Tx`] method, then delete both backend copies.

use super::db::{Column, Row, Tx, params};
use super::sql;
use super::{Result, StoreError};

pub(crate) mod access;
pub(crate) mod agencies;
pub(crate) mod alerts;
mod export;
mod fed;
pub(crate) mod identity;
pub(crate) mod ioc;
mod policy;
pub(crate) mod raise;
pub(crate) mod seen;
pub(crate) mod store;
mod vuln;

/// Records `action` by `actor` at `now` in the audit log, inside `tx`.
///
/// # Errors
/// [`super::StoreError::Db`] when the insert fails.
pub(crate) fn audit(
    tx: &mut dyn Tx,
    now: i64,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    tx.execute(
        sql::AUDIT_INSERT,
        params![now, actor, action, detail.to_string()],
    )?;
    Ok(())
}

/// A stored security level (column `col`) checked back into 1–5.
///
/// # Errors
/// [`StoreError::Corrupt`] when it is not a level.
pub(crate) fn level(r: &Row, col: impl Column) -> Result<Option<u8>> {
    match r.get::<Option<u8>>(col)? {
        Some(l) if !(1..=5).contains(&l) => {
            Err(StoreError::Corrupt(format!("level {l} out of range")))
        }
        l => Ok(l),
    }
}
