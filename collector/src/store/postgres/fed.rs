//! [`FedStore`] on PostgreSQL (schema: `../migrations/V12__fed.sql`, statements: `../fed.rs`).

use postgres::Row;

use super::super::fed::{self as f, Downstream, FedGap, FedStore, LatestSummary, Received};
use super::super::fed::{SpoolState, Spooled, receive_decision, to_i64, to_u64};
use super::super::sql::dialect::pg;
use super::super::{Result, StoreError};
use super::PostgresStore;

fn downstream(r: &Row) -> Result<Downstream> {
    Ok(Downstream {
        id: r.try_get(0)?,
        agency: r.try_get(1)?,
        name: r.try_get(2)?,
        cert_serial: r.try_get(3)?,
        enrolled_at: r.try_get(4)?,
        revoked_at: r.try_get(5)?,
        acked_seq: to_u64(r.try_get(6)?),
        last_received: r.try_get(7)?,
    })
}

fn spooled(r: &Row) -> Result<Spooled> {
    Ok(Spooled {
        seq: to_u64(r.try_get(0)?),
        created_at: r.try_get(1)?,
        body: r.try_get(2)?,
        sig: r.try_get(3)?,
    })
}

impl FedStore for PostgresStore {
    fn fed_token_mark(&self, secret_hash: &str) -> Result<()> {
        let h = secret_hash.to_owned();
        self.call(move |c| {
            c.execute(pg(f::TOKEN_MARK), &[&h])?;
            Ok(())
        })
    }

    fn fed_token_is(&self, secret_hash: &str) -> Result<bool> {
        let h = secret_hash.to_owned();
        self.call(move |c| Ok(c.query_opt(pg(f::TOKEN_IS), &[&h])?.is_some()))
    }

    fn fed_downstream_add(&self, d: &Downstream) -> Result<()> {
        let d = d.clone();
        self.call(move |c| {
            c.execute(
                pg(f::DOWNSTREAM_ADD),
                &[&d.id, &d.agency, &d.name, &d.cert_serial, &d.enrolled_at],
            )?;
            Ok(())
        })
    }

    fn fed_downstream(&self, id: &str) -> Result<Option<Downstream>> {
        let id = id.to_owned();
        self.call(move |c| {
            c.query_opt(pg(f::DOWNSTREAM_GET), &[&id])?
                .map(|r| downstream(&r))
                .transpose()
        })
    }

    fn fed_downstreams(&self) -> Result<Vec<Downstream>> {
        self.call(|c| {
            let sql = format!("{} ORDER BY agency, id", f::DOWNSTREAM_COLS);
            c.query(sql.as_str(), &[])?.iter().map(downstream).collect()
        })
    }

    fn fed_downstream_revoke(&self, id: &str, now: i64) -> Result<bool> {
        let id = id.to_owned();
        self.call(move |c| Ok(c.execute(pg(f::DOWNSTREAM_REVOKE), &[&id, &now])? > 0))
    }

    fn fed_receive(&self, id: &str, seq: u64, body: &str, sig: &str, now: i64) -> Result<Received> {
        let (id, body, sig) = (id.to_owned(), body.to_owned(), sig.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            // Two sessions of one downstream (a reconnect racing the old one) take turns.
            let sql = format!("{} FOR UPDATE", pg(f::DOWNSTREAM_GET));
            let d = tx
                .query_opt(sql.as_str(), &[&id])?
                .map(|r| downstream(&r))
                .transpose()?
                .ok_or_else(|| StoreError::NotFound(format!("downstream {id}")))?;
            if d.revoked_at != 0 {
                return Err(StoreError::Revoked(id));
            }
            let out = receive_decision(d.acked_seq, seq);
            if let Received::Stored { gap } = out {
                let s = to_i64(seq);
                if let Some((from, to)) = gap {
                    tx.execute(pg(f::GAP_ADD), &[&id, &to_i64(from), &to_i64(to), &now])?;
                }
                tx.execute(pg(f::SUMMARY_ADD), &[&id, &s, &now, &body, &sig])?;
                tx.execute(pg(f::DOWNSTREAM_ACKED), &[&id, &s, &now])?;
                let keep_from = s.saturating_sub(f::KEEP_RECEIVED - 1);
                tx.execute(pg(f::SUMMARY_PRUNE), &[&id, &keep_from])?;
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn fed_latest(&self) -> Result<Vec<LatestSummary>> {
        self.call(|c| {
            c.query(pg(f::LATEST), &[])?
                .iter()
                .map(|r| {
                    Ok(LatestSummary {
                        downstream: downstream(r)?,
                        seq: to_u64(r.try_get(8)?),
                        received_at: r.try_get(9)?,
                        body: r.try_get(10)?,
                    })
                })
                .collect()
        })
    }

    fn fed_gaps(&self) -> Result<Vec<FedGap>> {
        self.call(|c| {
            c.query(pg(f::GAPS), &[])?
                .iter()
                .map(|r| {
                    Ok(FedGap {
                        downstream: r.try_get(0)?,
                        from_seq: to_u64(r.try_get(1)?),
                        to_seq: to_u64(r.try_get(2)?),
                        detected_at: r.try_get(3)?,
                    })
                })
                .collect()
        })
    }

    fn fed_spool_push(&self, body: &str, sig: &str, now: i64) -> Result<u64> {
        let (body, sig) = (body.to_owned(), sig.to_owned());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let seq: i64 = tx.query_one(pg(f::SPOOL_NEXT), &[])?.try_get(0)?;
            tx.execute(pg(f::SPOOL_ADD), &[&seq, &now, &body, &sig])?;
            let dropped = tx.execute(pg(f::SPOOL_DROP), &[&(seq - f::MAX_SPOOL)])?;
            if dropped > 0 {
                let n = i64::try_from(dropped).unwrap_or(i64::MAX);
                tx.execute(pg(f::SPOOL_DROPPED), &[&n])?;
            }
            tx.commit()?;
            Ok(to_u64(seq))
        })
    }

    fn fed_spool_pending(&self, after: u64, limit: usize) -> Result<Vec<Spooled>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |c| {
            c.query(pg(f::SPOOL_PENDING), &[&to_i64(after), &limit])?
                .iter()
                .map(spooled)
                .collect()
        })
    }

    fn fed_spool_last(&self) -> Result<Option<Spooled>> {
        self.call(|c| {
            c.query_opt(pg(f::SPOOL_LAST), &[])?
                .map(|r| spooled(&r))
                .transpose()
        })
    }

    fn fed_spool_ack(&self, up_to: u64) -> Result<()> {
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute(pg(f::SPOOL_ACK), &[&to_i64(up_to)])?;
            tx.execute(pg(f::SPOOL_PRUNE), &[])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn fed_spool_state(&self) -> Result<SpoolState> {
        self.call(|c| {
            let r = c.query_one(pg(f::SPOOL_STATE), &[])?;
            Ok(SpoolState {
                last_seq: to_u64(r.try_get(0)?),
                acked_seq: to_u64(r.try_get(1)?),
                dropped: to_u64(r.try_get(2)?),
            })
        })
    }
}
