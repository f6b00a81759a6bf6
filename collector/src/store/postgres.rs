//! PostgreSQL backend: several collectors behind one database (DESIGN §9).
//!
//! Connections come from an `r2d2` pool (`postgres/pool.rs`). The synchronous `postgres` client drives
//! each connection with a private tokio runtime, and tokio panics when such a runtime is entered or
//! dropped on a thread that runs async tasks; so each call runs where that is allowed (directly on
//! `spawn_blocking` and plain threads, after `block_in_place` on a multi-threaded runtime's worker,
//! on a scoped thread inside a current-thread runtime). The store is safe to call and drop from any
//! thread, and concurrent callers run in parallel on different connections.
//!
//! Correctness with several collectors on one database rests on locks held by transactions:
//! token consumption locks the token row (`SELECT … FOR UPDATE`), ingest locks the agent row
//! before it reads `max_seq`, and enrollment takes a transaction-scoped advisory lock on the
//! machine id. The schema is `store::migrations`' (one for both backends); pending migrations
//! are applied at open in one transaction under an advisory lock per schema, so collectors
//! starting together do not race.
//!
//! Finding bodies are `TEXT` holding serde_json output rather than `JSONB`: `jsonb` rejects the
//! `\u0000` escape, so a hostile agent could otherwise send a batch that never ingests. Sorted
//! text columns use `COLLATE "C"` so listings have SQLite's byte order whatever the database
//! locale. Connections are plaintext (`NoTls`); a TLS connector is future work, so keep the
//! database on loopback or a trusted network until then.

use std::collections::HashSet;

use ::postgres::{Client, Row};
use vigil_proto::{Envelope, Finding};

use super::{
    CheckState, FindingFilter, Gap, IngestOutcome, Result, ScorePoint, StoreError, StoredFinding,
};

mod pool;
mod rows;
mod seam;
mod write;

use super::sql::{self, dialect::pg};
use pool::Conn;
pub use pool::PostgresStore;
use rows::*;
use write::*;

/// Pooled connections per store unless the caller says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 4;

/// Advisory-lock class ids (first key of the two-key form); the second key is a hash of the
/// schema (migrations); enrollment's class is in `common/identity.rs`.
const LOCK_MIGRATE: i32 = 0x5647_0001;

impl super::common::store::Backend for PostgresStore {
    fn ingest(
        &self,
        agent_id: &str,
        batch: &[Envelope],
        received_at: i64,
    ) -> Result<IngestOutcome> {
        // Serialise on the caller's thread so the worker only talks to the database.
        let rows = Rows::new(batch)?;
        let agent_id = agent_id.to_owned();
        self.call_conn(move |conn| ingest_rows(conn, &agent_id, &rows, received_at))
    }

    fn max_seq(&self, agent_id: &str) -> Result<u64> {
        let agent_id = agent_id.to_owned();
        self.call(move |c| {
            let v: Option<i64> = c
                .query_opt(pg(sql::AGENT_MAX_SEQ), &[&agent_id])?
                .map(|r| r.try_get(0))
                .transpose()?;
            let v = v.unwrap_or(0);
            u64::try_from(v).map_err(|_| corrupt("max_seq", v))
        })
    }

    fn findings(&self, f: &FindingFilter) -> Result<Vec<StoredFinding>> {
        let f = f.clone();
        let limit = (f.limit != 0).then(|| i64::try_from(f.limit).unwrap_or(i64::MAX));
        self.call(move |c| {
            let rows = c.query(
                "SELECT agent_id, seq, kind, observed_at, received_at, body FROM findings
                 WHERE ($1::text IS NULL OR agent_id = $1) AND ($2::text IS NULL OR kind = $2)
                   AND ($3::bigint IS NULL OR received_at >= $3)
                 ORDER BY received_at DESC, agent_id, seq DESC LIMIT $4",
                &[&f.agent_id, &f.kind, &f.since_ms, &limit],
            )?;
            collect(&rows, |r| {
                let seq: i64 = r.try_get("seq")?;
                let body: String = r.try_get("body")?;
                Ok(StoredFinding {
                    agent_id: r.try_get("agent_id")?,
                    seq: u64::try_from(seq).map_err(|_| corrupt("seq", seq))?,
                    kind: r.try_get("kind")?,
                    observed_at: r.try_get("observed_at")?,
                    received_at: r.try_get("received_at")?,
                    finding: serde_json::from_str(&body)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
        })
    }

    fn finding_count(&self, agent_id: &str) -> Result<u64> {
        let agent_id = agent_id.to_owned();
        self.call(move |c| {
            let n: i64 = c
                .query_one(pg(sql::FINDING_COUNT), &[&agent_id])?
                .try_get(0)?;
            u64::try_from(n).map_err(|_| corrupt("count", n))
        })
    }

    fn gaps(&self, agent_id: Option<&str>) -> Result<Vec<Gap>> {
        let agent_id = agent_id.map(str::to_owned);
        self.call(move |c| {
            collect(
                &c.query(
                    "SELECT agent_id, from_seq, to_seq, detected_at FROM gaps
                     WHERE ($1::text IS NULL OR agent_id = $1)
                     ORDER BY detected_at, agent_id, from_seq",
                    &[&agent_id],
                )?,
                gap_from_row,
            )
        })
    }

    fn listeners_learn(
        &self,
        agent_id: &str,
        keys: &[String],
        now: i64,
    ) -> Result<(usize, Vec<String>)> {
        let (agent_id, keys) = (agent_id.to_owned(), keys.to_vec());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let before: i64 = tx
                .query_one(
                    pg(sql::LISTENER_COUNT),
                    &[&agent_id],
                )?
                .try_get(0)?;
            let room = i64::try_from(super::MAX_LISTENERS_PER_AGENT)
                .unwrap_or(i64::MAX)
                .saturating_sub(before);
            let new: Vec<String> = tx
                .query(
                    "INSERT INTO known_listeners (agent_id, key, first_seen)
                     SELECT $1, k, $3 FROM unnest($2::text[]) AS u(k)
                     WHERE NOT EXISTS (SELECT 1 FROM known_listeners WHERE agent_id = $1 AND key = k)
                     LIMIT GREATEST($4::bigint, 0)
                     ON CONFLICT DO NOTHING RETURNING key",
                    &[&agent_id, &keys, &now, &room],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            tx.commit()?;
            Ok((usize::try_from(before).unwrap_or(0), new))
        })
    }

    fn check_states(&self) -> Result<Vec<(String, Vec<CheckState>)>> {
        // A province holds millions of results: read and decode them in slices, one per pooled
        // connection, in parallel.
        let parts = i32::try_from(self.pool_size().max(1)).unwrap_or(1);
        let slices = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..parts)
                .map(|part| sc.spawn(move || self.call(move |c| check_state_slice(c, parts, part))))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(StoreError::Db("a check-state reader failed".into()))
                    })
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let mut out: Vec<_> = slices.into_iter().flatten().collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn scores_record(&self, points: &[ScorePoint]) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let mut cols: (Vec<String>, Vec<String>, Vec<String>, Vec<f64>) = Default::default();
        let mut more: (Vec<Option<f64>>, Vec<String>, Vec<String>, Vec<i64>) = Default::default();
        for p in points {
            cols.0.push(p.scope.clone());
            cols.1.push(p.id.clone());
            cols.2.push(p.view.clone());
            cols.3.push(p.score);
            more.0.push(p.coverage);
            more.1.push(p.rule_pack_version.clone());
            more.2.push(p.scoring_version.clone());
            more.3.push(p.computed_at);
        }
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let src = "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::text[], $7::text[], $8::bigint[])";
            let params: [&(dyn ::postgres::types::ToSql + Sync); 8] =
                [&cols.0, &cols.1, &cols.2, &cols.3, &more.0, &more.1, &more.2, &more.3];
            tx.execute(&format!("INSERT INTO score_history ({SCORE_COLS}) {src}"), &params)?;
            tx.execute(
                &format!(
                    "INSERT INTO score_latest ({SCORE_COLS}) {src}
                     ON CONFLICT (scope, id, view) DO UPDATE SET score = EXCLUDED.score,
                       coverage = EXCLUDED.coverage, rule_pack_version = EXCLUDED.rule_pack_version,
                       scoring_version = EXCLUDED.scoring_version, computed_at = EXCLUDED.computed_at
                     WHERE score_latest.computed_at <= EXCLUDED.computed_at"
                ),
                &params,
            )?;
            tx.commit()?;
            Ok(())
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
