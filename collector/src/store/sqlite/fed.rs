//! [`FedStore`] on SQLite (schema: `../migrations/V12__fed.sql`, statements: `../fed.rs`).

use rusqlite::{OptionalExtension, Row, params};

use super::super::fed::{self as f, Downstream, FedGap, FedStore, LatestSummary, Received};
use super::super::fed::{SpoolState, Spooled, receive_decision, to_i64, to_u64};
use super::super::{Result, StoreError};
use super::SqliteStore;

fn downstream(r: &Row<'_>) -> rusqlite::Result<Downstream> {
    Ok(Downstream {
        id: r.get(0)?,
        agency: r.get(1)?,
        name: r.get(2)?,
        cert_serial: r.get(3)?,
        enrolled_at: r.get(4)?,
        revoked_at: r.get(5)?,
        acked_seq: to_u64(r.get(6)?),
        last_received: r.get(7)?,
    })
}

fn spooled(r: &Row<'_>) -> rusqlite::Result<Spooled> {
    Ok(Spooled {
        seq: to_u64(r.get(0)?),
        created_at: r.get(1)?,
        body: r.get(2)?,
        sig: r.get(3)?,
    })
}

impl FedStore for SqliteStore {
    fn fed_token_mark(&self, secret_hash: &str) -> Result<()> {
        self.lock().execute(f::TOKEN_MARK, [secret_hash])?;
        Ok(())
    }

    fn fed_token_is(&self, secret_hash: &str) -> Result<bool> {
        let c = self.lock();
        let hit: Option<i64> = c
            .query_row(f::TOKEN_IS, [secret_hash], |r| r.get(0))
            .optional()?;
        Ok(hit.is_some())
    }

    fn fed_downstream_add(&self, d: &Downstream) -> Result<()> {
        self.lock().execute(
            f::DOWNSTREAM_ADD,
            params![d.id, d.agency, d.name, d.cert_serial, d.enrolled_at],
        )?;
        Ok(())
    }

    fn fed_downstream(&self, id: &str) -> Result<Option<Downstream>> {
        Ok(self
            .lock()
            .query_row(f::DOWNSTREAM_GET, [id], downstream)
            .optional()?)
    }

    fn fed_downstreams(&self) -> Result<Vec<Downstream>> {
        let c = self.lock();
        let mut st = c.prepare(&format!("{} ORDER BY agency, id", f::DOWNSTREAM_COLS))?;
        let rows = st.query_map([], downstream)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn fed_downstream_revoke(&self, id: &str, now: i64) -> Result<bool> {
        Ok(self
            .lock()
            .execute(f::DOWNSTREAM_REVOKE, params![id, now])?
            > 0)
    }

    fn fed_receive(&self, id: &str, seq: u64, body: &str, sig: &str, now: i64) -> Result<Received> {
        let mut c = self.lock();
        let tx = c.transaction()?;
        let d = tx
            .query_row(f::DOWNSTREAM_GET, [id], downstream)
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("downstream {id}")))?;
        if d.revoked_at != 0 {
            return Err(StoreError::Revoked(id.to_owned()));
        }
        let out = receive_decision(d.acked_seq, seq);
        if let Received::Stored { gap } = out {
            if let Some((from, to)) = gap {
                tx.execute(f::GAP_ADD, params![id, to_i64(from), to_i64(to), now])?;
            }
            tx.execute(f::SUMMARY_ADD, params![id, to_i64(seq), now, body, sig])?;
            tx.execute(f::DOWNSTREAM_ACKED, params![id, to_i64(seq), now])?;
            let keep_from = to_i64(seq).saturating_sub(f::KEEP_RECEIVED - 1);
            tx.execute(f::SUMMARY_PRUNE, params![id, keep_from])?;
        }
        tx.commit()?;
        Ok(out)
    }

    fn fed_latest(&self) -> Result<Vec<LatestSummary>> {
        let c = self.lock();
        let mut st = c.prepare(f::LATEST)?;
        let rows = st.query_map([], |r| {
            Ok(LatestSummary {
                downstream: downstream(r)?,
                seq: to_u64(r.get(8)?),
                received_at: r.get(9)?,
                body: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn fed_gaps(&self) -> Result<Vec<FedGap>> {
        let c = self.lock();
        let mut st = c.prepare(f::GAPS)?;
        let rows = st.query_map([], |r| {
            Ok(FedGap {
                downstream: r.get(0)?,
                from_seq: to_u64(r.get(1)?),
                to_seq: to_u64(r.get(2)?),
                detected_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn fed_spool_push(&self, body: &str, sig: &str, now: i64) -> Result<u64> {
        let mut c = self.lock();
        let tx = c.transaction()?;
        let seq: i64 = tx.query_row(f::SPOOL_NEXT, [], |r| r.get(0))?;
        tx.execute(f::SPOOL_ADD, params![seq, now, body, sig])?;
        let dropped = tx.execute(f::SPOOL_DROP, [seq - f::MAX_SPOOL])?;
        if dropped > 0 {
            tx.execute(f::SPOOL_DROPPED, [dropped as i64])?;
        }
        tx.commit()?;
        Ok(to_u64(seq))
    }

    fn fed_spool_pending(&self, after: u64, limit: usize) -> Result<Vec<Spooled>> {
        let c = self.lock();
        let mut st = c.prepare(f::SPOOL_PENDING)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = st.query_map(params![to_i64(after), limit], spooled)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn fed_spool_last(&self) -> Result<Option<Spooled>> {
        Ok(self
            .lock()
            .query_row(f::SPOOL_LAST, [], spooled)
            .optional()?)
    }

    fn fed_spool_ack(&self, up_to: u64) -> Result<()> {
        let mut c = self.lock();
        let tx = c.transaction()?;
        tx.execute(f::SPOOL_ACK, [to_i64(up_to)])?;
        tx.execute(f::SPOOL_PRUNE, [])?;
        tx.commit()?;
        Ok(())
    }

    fn fed_spool_state(&self) -> Result<SpoolState> {
        Ok(self.lock().query_row(f::SPOOL_STATE, [], |r| {
            Ok(SpoolState {
                last_seq: to_u64(r.get(0)?),
                acked_seq: to_u64(r.get(1)?),
                dropped: to_u64(r.get(2)?),
            })
        })?)
    }
}
