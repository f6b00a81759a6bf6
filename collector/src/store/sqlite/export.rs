//! [`ExportStore`] on SQLite (schema: migration 11). One writer commits in log order, so every
//! committed position is final: the settled bound is `i64::MAX`.

use rusqlite::{OptionalExtension, params};

use super::super::Result;
use super::super::export::{ExportEvent, ExportOutputState, ExportStore, LogPos, RawExportRow};
use super::super::sql;
use super::SqliteStore;

const SETTLED: i64 = i64::MAX;

/// A shared statement with SQLite's position marks.
fn q(sql: &'static str) -> &'static str {
    sql::export_dialect(sql, true)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl ExportStore for SqliteStore {
    fn export_register(&self, name: &str, now: i64) -> Result<()> {
        self.lock()
            .execute(q(sql::EXPORT_REGISTER), params![name, now])?;
        Ok(())
    }

    fn export_claim(&self, name: &str, owner: &str, now: i64, until: i64) -> Result<bool> {
        let n = self
            .lock()
            .execute(q(sql::EXPORT_CLAIM), params![name, owner, now, until])?;
        Ok(n == 1)
    }

    fn export_next(&self, name: &str, limit: usize) -> Result<Vec<ExportEvent>> {
        let conn = self.read();
        let mut st = conn.prepare_cached(q(sql::EXPORT_NEXT))?;
        let rows = st.query_map(params![name, SETTLED, count(limit as u64)], |r| {
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
        })?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?.decode());
        }
        Ok(out)
    }

    fn export_commit(
        &self,
        name: &str,
        owner: &str,
        to: LogPos,
        sent: u64,
        dropped: u64,
    ) -> Result<bool> {
        let n = self.lock().execute(
            q(sql::EXPORT_COMMIT),
            params![name, owner, to.tx, to.id, count(sent), count(dropped)],
        )?;
        Ok(n == 1)
    }

    fn export_trim(&self, name: &str, owner: &str, older_than_ms: i64, keep: u64) -> Result<u64> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let pos = |sql: &str, p: i64| -> Result<Option<LogPos>> {
            Ok(tx
                .query_row(sql, params![name, SETTLED, p], |r| {
                    Ok(LogPos {
                        tx: r.get(0)?,
                        id: r.get(1)?,
                    })
                })
                .optional()?)
        };
        let old = pos(q(sql::EXPORT_LAST_OLDER), older_than_ms)?;
        let beyond = pos(q(sql::EXPORT_BEYOND_KEEP), count(keep))?;
        let Some(to) = old.max(beyond) else {
            return Ok(0);
        };
        let n: i64 = tx.query_row(
            q(sql::EXPORT_COUNT_UPTO),
            params![name, to.tx, to.id],
            |r| r.get(0),
        )?;
        let n = u64::try_from(n).unwrap_or(0);
        let done = tx.execute(
            q(sql::EXPORT_COMMIT),
            params![name, owner, to.tx, to.id, 0_i64, count(n)],
        )?;
        tx.commit()?;
        Ok(if done == 1 { n } else { 0 })
    }

    fn export_prune(&self, stale_before: i64) -> Result<u64> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(q(sql::EXPORT_FORGET), [stale_before])?;
        let min: Option<(i64, i64)> = tx
            .query_row(q(sql::EXPORT_MIN_CURSOR), [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let (t, i) = min.unwrap_or((i64::MAX, i64::MAX));
        let n = tx.execute(q(sql::EXPORT_LOG_DELETE), params![t, i])?;
        tx.commit()?;
        Ok(n as u64)
    }

    fn export_outputs(&self) -> Result<Vec<ExportOutputState>> {
        let conn = self.read();
        let mut st = conn.prepare_cached(q(sql::EXPORT_OUTPUTS))?;
        let rows = st.query_map([], |r| {
            Ok(ExportOutputState {
                name: r.get(0)?,
                cursor: LogPos {
                    tx: r.get(1)?,
                    id: r.get(2)?,
                },
                owner: r.get(3)?,
                lease_until: r.get(4)?,
                sent: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                dropped: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                backlog: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
                last_error: r.get(8)?,
                last_error_at: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn export_note_error(&self, name: &str, owner: &str, error: &str, now: i64) -> Result<()> {
        self.lock()
            .execute(q(sql::EXPORT_NOTE_ERROR), params![name, owner, error, now])?;
        Ok(())
    }
}
