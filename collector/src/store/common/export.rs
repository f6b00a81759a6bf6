//! [`ExportStore`] for both backends (schema: migration 11, statements: `sql.rs` `EXPORT_*`).
//!
//! Two things differ between the databases, each named here: the position marks of the
//! statements ([`sql::export_dialect`]: SQLite orders by the rowid, PostgreSQL by `(tx, id)`),
//! and the settled bound ([`settled`]): on SQLite one writer commits in log order, so every
//! committed position is final; on PostgreSQL transactions commit out of id order, so readers
//! take only positions of transactions older than the oldest running one (the snapshot's xmin).

use super::super::db::{Db, Dialect, Row, Tx, collect, params};
use super::super::export::{ExportEvent, ExportOutputState, ExportStore, LogPos, RawExportRow};
use super::super::{Result, sql};

/// PostgreSQL's settled bound: every transaction with a smaller id has ended.
const SETTLED_PG: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// A shared `EXPORT_*` statement with `tx`'s position marks (still in `?N` form).
fn q(tx: &dyn Tx, sql: &'static str) -> &'static str {
    sql::export_dialect(sql, tx.dialect() == Dialect::Sqlite)
}

/// The bound below which a log position's transaction has ended, so nothing can still be
/// logged before it: every position on SQLite (one writer), the snapshot's xmin on PostgreSQL.
///
/// # Errors
/// [`super::super::StoreError`] when PostgreSQL cannot tell.
fn settled(tx: &mut dyn Tx) -> Result<i64> {
    match tx.dialect() {
        Dialect::Sqlite => Ok(i64::MAX),
        Dialect::Postgres => tx.query_one(SETTLED_PG, &[])?.get(0),
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored counter; a negative one reads as 0.
fn counter(r: &Row, col: usize) -> Result<u64> {
    Ok(u64::try_from(r.get::<i64>(col)?).unwrap_or(0))
}

fn pos(r: &Row) -> Result<LogPos> {
    Ok(LogPos {
        tx: r.get(0)?,
        id: r.get(1)?,
    })
}

fn raw(r: &Row) -> Result<RawExportRow> {
    Ok(RawExportRow {
        tx: r.get(0)?,
        id: r.get(1)?,
        at: r.get(2)?,
        agent_id: r.get(3)?,
        seq: r.get(4)?,
        alert: r.get(5)?,
        kind: r.get(6)?,
        observed_at: r.get(7)?,
        received_at: r.get(8)?,
        body: r.get(9)?,
        agency: r.get(10)?,
        hostname: r.get(11)?,
    })
}

impl<D: Db + Send + Sync> ExportStore for D {
    fn export_register(&self, name: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(q(tx, sql::EXPORT_REGISTER), params![name, now])?;
            Ok(())
        })
    }

    fn export_claim(&self, name: &str, owner: &str, now: i64, until: i64) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(q(tx, sql::EXPORT_CLAIM), params![name, owner, now, until])?;
            Ok(n == 1)
        })
    }

    fn export_next(&self, name: &str, limit: usize) -> Result<Vec<ExportEvent>> {
        let limit = count(limit as u64);
        self.read(|tx| {
            let bound = settled(tx)?;
            let next = q(tx, sql::EXPORT_NEXT);
            collect(tx, next, params![name, bound, limit], |r| {
                Ok(raw(r)?.decode())
            })
        })
    }

    fn export_commit(
        &self,
        name: &str,
        owner: &str,
        to: LogPos,
        sent: u64,
        dropped: u64,
    ) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                q(tx, sql::EXPORT_COMMIT),
                params![name, owner, to.tx, to.id, count(sent), count(dropped)],
            )?;
            Ok(n == 1)
        })
    }

    fn export_trim(&self, name: &str, owner: &str, older_than_ms: i64, keep: u64) -> Result<u64> {
        self.write(|tx| {
            let bound = settled(tx)?;
            let old = tx.query_opt(
                q(tx, sql::EXPORT_LAST_OLDER),
                params![name, bound, older_than_ms],
            )?;
            let beyond = tx.query_opt(
                q(tx, sql::EXPORT_BEYOND_KEEP),
                params![name, bound, count(keep)],
            )?;
            let old = old.as_ref().map(pos).transpose()?;
            let beyond = beyond.as_ref().map(pos).transpose()?;
            let Some(to) = old.max(beyond) else {
                return Ok(0);
            };
            let n: i64 = tx
                .query_one(q(tx, sql::EXPORT_COUNT_UPTO), params![name, to.tx, to.id])?
                .get(0)?;
            let n = u64::try_from(n).unwrap_or(0);
            let done = tx.execute(
                q(tx, sql::EXPORT_COMMIT),
                params![name, owner, to.tx, to.id, 0_i64, count(n)],
            )?;
            Ok(if done == 1 { n } else { 0 })
        })
    }

    fn export_prune(&self, stale_before: i64) -> Result<u64> {
        self.write(|tx| {
            tx.execute(q(tx, sql::EXPORT_FORGET), params![stale_before])?;
            let (t, i) = match tx.query_opt(sql::EXPORT_MIN_CURSOR, &[])? {
                Some(r) => (r.get(0)?, r.get(1)?),
                None => (i64::MAX, i64::MAX),
            };
            tx.execute(q(tx, sql::EXPORT_LOG_DELETE), params![t, i])
        })
    }

    fn export_outputs(&self) -> Result<Vec<ExportOutputState>> {
        self.read(|tx| {
            let outputs = q(tx, sql::EXPORT_OUTPUTS);
            collect(tx, outputs, &[], |r| {
                Ok(ExportOutputState {
                    name: r.get(0)?,
                    cursor: LogPos {
                        tx: r.get(1)?,
                        id: r.get(2)?,
                    },
                    owner: r.get(3)?,
                    lease_until: r.get(4)?,
                    sent: counter(r, 5)?,
                    dropped: counter(r, 6)?,
                    backlog: counter(r, 7)?,
                    last_error: r.get(8)?,
                    last_error_at: r.get(9)?,
                })
            })
        })
    }

    fn export_note_error(&self, name: &str, owner: &str, error: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                q(tx, sql::EXPORT_NOTE_ERROR),
                params![name, owner, error, now],
            )?;
            Ok(())
        })
    }
}
