//! [`ExportStore`] on PostgreSQL (schema: migration 11). Transactions commit out of id order, so
//! readers take only positions of transactions older than the oldest running one (the snapshot's
//! xmin): no transaction can still add a row before them.

use ::postgres::{Client, GenericClient, Row};

use super::super::Result;
use super::super::export::{ExportEvent, ExportOutputState, ExportStore, LogPos, RawExportRow};
use super::super::sql::{self, dialect::pg};
use super::PostgresStore;

/// The settled bound: every transaction with a smaller id has ended.
const SETTLED: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// A shared statement with PostgreSQL's position marks and placeholders.
fn q(sql: &'static str) -> &'static str {
    pg(sql::export_dialect(sql, false))
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn settled(c: &mut impl GenericClient) -> Result<i64> {
    Ok(c.query_one(SETTLED, &[])?.try_get(0)?)
}

fn pos(r: &Row) -> Result<LogPos> {
    Ok(LogPos {
        tx: r.try_get(0)?,
        id: r.try_get(1)?,
    })
}

fn raw(r: &Row) -> Result<RawExportRow> {
    Ok(RawExportRow {
        tx: r.try_get(0)?,
        id: r.try_get(1)?,
        at: r.try_get(2)?,
        agent_id: r.try_get(3)?,
        seq: r.try_get(4)?,
        alert: r.try_get(5)?,
        kind: r.try_get(6)?,
        observed_at: r.try_get(7)?,
        received_at: r.try_get(8)?,
        body: r.try_get(9)?,
        agency: r.try_get(10)?,
        hostname: r.try_get(11)?,
    })
}

impl ExportStore for PostgresStore {
    fn export_register(&self, name: &str, now: i64) -> Result<()> {
        let name = name.to_owned();
        self.call(move |c: &mut Client| {
            c.execute(q(sql::EXPORT_REGISTER), &[&name, &now])?;
            Ok(())
        })
    }

    fn export_claim(&self, name: &str, owner: &str, now: i64, until: i64) -> Result<bool> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.call(move |c| {
            Ok(c.execute(q(sql::EXPORT_CLAIM), &[&name, &owner, &now, &until])? == 1)
        })
    }

    fn export_next(&self, name: &str, limit: usize) -> Result<Vec<ExportEvent>> {
        let name = name.to_owned();
        let limit = count(limit as u64);
        self.call(move |c| {
            let bound = settled(c)?;
            c.query(q(sql::EXPORT_NEXT), &[&name, &bound, &limit])?
                .iter()
                .map(|r| Ok(raw(r)?.decode()))
                .collect()
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
        let (name, owner) = (name.to_owned(), owner.to_owned());
        let (sent, dropped) = (count(sent), count(dropped));
        self.call(move |c| {
            let n = c.execute(
                q(sql::EXPORT_COMMIT),
                &[&name, &owner, &to.tx, &to.id, &sent, &dropped],
            )?;
            Ok(n == 1)
        })
    }

    fn export_trim(&self, name: &str, owner: &str, older_than_ms: i64, keep: u64) -> Result<u64> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        let keep = count(keep);
        self.call(move |c| {
            let bound = settled(c)?;
            let mut tx = c.transaction()?;
            let old = tx.query_opt(q(sql::EXPORT_LAST_OLDER), &[&name, &bound, &older_than_ms])?;
            let beyond = tx.query_opt(q(sql::EXPORT_BEYOND_KEEP), &[&name, &bound, &keep])?;
            let old = old.as_ref().map(pos).transpose()?;
            let beyond = beyond.as_ref().map(pos).transpose()?;
            let Some(to) = old.max(beyond) else {
                return Ok(0);
            };
            let n: i64 = tx
                .query_one(q(sql::EXPORT_COUNT_UPTO), &[&name, &to.tx, &to.id])?
                .try_get(0)?;
            let done = tx.execute(
                q(sql::EXPORT_COMMIT),
                &[&name, &owner, &to.tx, &to.id, &0_i64, &n],
            )?;
            tx.commit()?;
            Ok(if done == 1 {
                u64::try_from(n).unwrap_or(0)
            } else {
                0
            })
        })
    }

    fn export_prune(&self, stale_before: i64) -> Result<u64> {
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute(q(sql::EXPORT_FORGET), &[&stale_before])?;
            let min = tx.query_opt(sql::EXPORT_MIN_CURSOR, &[])?;
            let (t, i) = match min {
                Some(r) => (r.try_get(0)?, r.try_get(1)?),
                None => (i64::MAX, i64::MAX),
            };
            let n = tx.execute(q(sql::EXPORT_LOG_DELETE), &[&t, &i])?;
            tx.commit()?;
            Ok(n)
        })
    }

    fn export_outputs(&self) -> Result<Vec<ExportOutputState>> {
        self.call(|c| {
            c.query(q(sql::EXPORT_OUTPUTS), &[])?
                .iter()
                .map(|r| {
                    Ok(ExportOutputState {
                        name: r.try_get(0)?,
                        cursor: LogPos {
                            tx: r.try_get(1)?,
                            id: r.try_get(2)?,
                        },
                        owner: r.try_get(3)?,
                        lease_until: r.try_get(4)?,
                        sent: u64::try_from(r.try_get::<_, i64>(5)?).unwrap_or(0),
                        dropped: u64::try_from(r.try_get::<_, i64>(6)?).unwrap_or(0),
                        backlog: u64::try_from(r.try_get::<_, i64>(7)?).unwrap_or(0),
                        last_error: r.try_get(8)?,
                        last_error_at: r.try_get(9)?,
                    })
                })
                .collect()
        })
    }

    fn export_note_error(&self, name: &str, owner: &str, error: &str, now: i64) -> Result<()> {
        let (name, owner, error) = (name.to_owned(), owner.to_owned(), error.to_owned());
        self.call(move |c| {
            c.execute(q(sql::EXPORT_NOTE_ERROR), &[&name, &owner, &error, &now])?;
            Ok(())
        })
    }
}
