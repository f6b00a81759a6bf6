//! [`FedStore`] for both backends (schema: `migrations/V12__fed.sql`, statements: `fed.rs`).
//! Storing a summary locks its downstream's row ([`Dialect::for_update`]), so two sessions of
//! one downstream (a reconnect racing the old one) take turns on PostgreSQL.
//!
//! [`Dialect::for_update`]: super::super::db::Dialect::for_update

use super::super::db::{Db, Row, collect, params};
use super::super::fed::{self as f, Downstream, FedGap, FedStore, LatestSummary, Received};
use super::super::fed::{SpoolState, Spooled, receive_decision, to_i64, to_u64};
use super::super::{Result, StoreError};

fn downstream(r: &Row) -> Result<Downstream> {
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

fn spooled(r: &Row) -> Result<Spooled> {
    Ok(Spooled {
        seq: to_u64(r.get(0)?),
        created_at: r.get(1)?,
        body: r.get(2)?,
        sig: r.get(3)?,
    })
}

impl<D: Db + Send + Sync> FedStore for D {
    fn fed_token_mark(&self, secret_hash: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(f::TOKEN_MARK, params![secret_hash])?;
            Ok(())
        })
    }

    fn fed_token_is(&self, secret_hash: &str) -> Result<bool> {
        self.read(|tx| Ok(tx.query_opt(f::TOKEN_IS, params![secret_hash])?.is_some()))
    }

    fn fed_downstream_add(&self, d: &Downstream) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                f::DOWNSTREAM_ADD,
                params![&d.id, &d.agency, &d.name, &d.cert_serial, d.enrolled_at],
            )?;
            Ok(())
        })
    }

    fn fed_downstream(&self, id: &str) -> Result<Option<Downstream>> {
        self.read(|tx| {
            tx.query_opt(f::DOWNSTREAM_GET, params![id])?
                .as_ref()
                .map(downstream)
                .transpose()
        })
    }

    fn fed_downstreams(&self) -> Result<Vec<Downstream>> {
        self.read(|tx| collect(tx, f::DOWNSTREAMS, &[], downstream))
    }

    fn fed_downstream_revoke(&self, id: &str, now: i64) -> Result<bool> {
        self.write(|tx| Ok(tx.execute(f::DOWNSTREAM_REVOKE, params![id, now])? > 0))
    }

    fn fed_receive(&self, id: &str, seq: u64, body: &str, sig: &str, now: i64) -> Result<Received> {
        self.write(|tx| {
            let get = tx.dialect().for_update(f::DOWNSTREAM_GET);
            let d = tx
                .query_opt(get, params![id])?
                .as_ref()
                .map(downstream)
                .transpose()?
                .ok_or_else(|| StoreError::NotFound(format!("downstream {id}")))?;
            if d.revoked_at != 0 {
                return Err(StoreError::Revoked(id.to_owned()));
            }
            let out = receive_decision(d.acked_seq, seq);
            if let Received::Stored { gap } = out {
                let s = to_i64(seq);
                if let Some((from, to)) = gap {
                    tx.execute(f::GAP_ADD, params![id, to_i64(from), to_i64(to), now])?;
                }
                tx.execute(f::SUMMARY_ADD, params![id, s, now, body, sig])?;
                tx.execute(f::DOWNSTREAM_ACKED, params![id, s, now])?;
                let keep_from = s.saturating_sub(f::KEEP_RECEIVED - 1);
                tx.execute(f::SUMMARY_PRUNE, params![id, keep_from])?;
            }
            Ok(out)
        })
    }

    fn fed_latest(&self) -> Result<Vec<LatestSummary>> {
        self.read(|tx| {
            collect(tx, f::LATEST, &[], |r| {
                Ok(LatestSummary {
                    downstream: downstream(r)?,
                    seq: to_u64(r.get(8)?),
                    received_at: r.get(9)?,
                    body: r.get(10)?,
                })
            })
        })
    }

    fn fed_gaps(&self) -> Result<Vec<FedGap>> {
        self.read(|tx| {
            collect(tx, f::GAPS, &[], |r| {
                Ok(FedGap {
                    downstream: r.get(0)?,
                    from_seq: to_u64(r.get(1)?),
                    to_seq: to_u64(r.get(2)?),
                    detected_at: r.get(3)?,
                })
            })
        })
    }

    fn fed_spool_push(&self, body: &str, sig: &str, now: i64) -> Result<u64> {
        self.write(|tx| {
            let seq: i64 = tx.query_one(f::SPOOL_NEXT, &[])?.get(0)?;
            tx.execute(f::SPOOL_ADD, params![seq, now, body, sig])?;
            let dropped = tx.execute(f::SPOOL_DROP, params![seq - f::MAX_SPOOL])?;
            if dropped > 0 {
                let n = i64::try_from(dropped).unwrap_or(i64::MAX);
                tx.execute(f::SPOOL_DROPPED, params![n])?;
            }
            Ok(to_u64(seq))
        })
    }

    fn fed_spool_pending(&self, after: u64, limit: usize) -> Result<Vec<Spooled>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|tx| collect(tx, f::SPOOL_PENDING, params![to_i64(after), limit], spooled))
    }

    fn fed_spool_last(&self) -> Result<Option<Spooled>> {
        self.read(|tx| {
            tx.query_opt(f::SPOOL_LAST, &[])?
                .as_ref()
                .map(spooled)
                .transpose()
        })
    }

    fn fed_spool_ack(&self, up_to: u64) -> Result<()> {
        self.write(|tx| {
            tx.execute(f::SPOOL_ACK, params![to_i64(up_to)])?;
            tx.execute(f::SPOOL_PRUNE, &[])?;
            Ok(())
        })
    }

    fn fed_spool_state(&self) -> Result<SpoolState> {
        self.read(|tx| {
            let r = tx.query_one(f::SPOOL_STATE, &[])?;
            Ok(SpoolState {
                last_seq: to_u64(r.get(0)?),
                acked_seq: to_u64(r.get(1)?),
                dropped: to_u64(r.get(2)?),
            })
        })
    }
}
