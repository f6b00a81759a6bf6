//! Ingest of finding batches and finding reads of the SQLite store.

use super::*;

pub(super) fn ingest(
    db: &SqliteStore,
    agent_id: &str,
    batch: &[Envelope],
    received_at: i64,
) -> Result<IngestOutcome> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let (stored_max, revoked): (i64, bool) = tx
        .query_row(
            "SELECT max_seq, revoked FROM agents WHERE id = ?1",
            [agent_id],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("agent {agent_id}")))?;
    if revoked {
        return Err(StoreError::Revoked(agent_id.to_owned()));
    }
    let mut max = stored_max as u64;
    let mut out = IngestOutcome::default();
    let mut inventory: Option<String> = None;
    let mut checks: Vec<(&vigil_proto::CheckResult, i64)> = Vec::new();
    {
        let mut ins = tx.prepare_cached(
            "INSERT OR IGNORE INTO findings (agent_id, seq, kind, observed_at, received_at, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for e in batch {
            let seq = i64::try_from(e.seq)
                .map_err(|_| StoreError::Corrupt(format!("seq {} out of range", e.seq)))?;
            let body = serde_json::to_string(&e.finding)
                .map_err(|err| StoreError::Corrupt(err.to_string()))?;
            let n = ins.execute(params![
                agent_id,
                seq,
                e.finding.kind_name(),
                e.observed_at,
                received_at,
                body
            ])?;
            if n == 0 {
                out.duplicates += 1;
                continue;
            }
            out.stored += 1;
            if e.seq > max + 1 {
                out.gaps.push((max + 1, e.seq - 1));
            }
            if e.seq > max {
                max = e.seq;
            }
            match &e.finding {
                Finding::Inventory(_) => inventory = Some(body),
                Finding::CheckResult(c) => checks.push((c, e.observed_at)),
                _ => {}
            }
        }
    }
    if !checks.is_empty() {
        let old: Option<String> = tx
            .query_row(sql::CHECK_STATE_GET, [agent_id], |r| r.get(0))
            .optional()?;
        let (state, over) = crate::store::merge_check_state(old.as_deref(), checks.into_iter())?;
        out.rules_over_quota = over;
        if let Some(state) = state {
            tx.execute(
                "INSERT OR REPLACE INTO check_state (agent_id, results, updated_at) VALUES (?1, ?2, ?3)",
                params![agent_id, state, received_at],
            )?;
        }
    }
    for (from, to) in &out.gaps {
        tx.execute(
            "INSERT INTO gaps (agent_id, from_seq, to_seq, detected_at) VALUES (?1, ?2, ?3, ?4)",
            params![agent_id, *from as i64, *to as i64, received_at],
        )?;
    }
    tx.execute(
        "UPDATE agents SET max_seq = ?2, last_seen = max(last_seen, ?3) WHERE id = ?1",
        params![agent_id, max as i64, received_at / 1000],
    )?;
    if let Some(inv) = inventory {
        tx.execute(
            "UPDATE agents SET inventory = ?2 WHERE id = ?1",
            params![agent_id, inv],
        )?;
    }
    tx.commit()?;
    out.max_seq = max;
    Ok(out)
}

pub(super) fn max_seq(db: &SqliteStore, agent_id: &str) -> Result<u64> {
    let conn = db.read();
    let v: Option<i64> = conn
        .query_row(sql::AGENT_MAX_SEQ, [agent_id], |r| r.get(0))
        .optional()?;
    Ok(v.unwrap_or(0) as u64)
}

pub(super) fn findings(db: &SqliteStore, f: &FindingFilter) -> Result<Vec<StoredFinding>> {
    let conn = db.read();
    let limit = if f.limit == 0 {
        i64::MAX
    } else {
        f.limit as i64
    };
    // Only the conditions given, so SQLite can use an index for them (a `?1 IS NULL OR`
    // condition makes it scan every finding of every agent).
    let mut sql =
        String::from("SELECT agent_id, seq, kind, observed_at, received_at, body FROM findings");
    let mut conds = Vec::new();
    if f.agent_id.is_some() {
        conds.push("agent_id = ?1");
    }
    if f.kind.is_some() {
        conds.push("kind = ?2");
    }
    if f.since_ms.is_some() {
        conds.push("received_at >= ?3");
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY received_at DESC, agent_id, seq DESC LIMIT ?4");
    let mut st = conn.prepare(&sql)?;
    let mut bind: Vec<(usize, &dyn rusqlite::ToSql)> = vec![(4, &limit)];
    if let Some(a) = &f.agent_id {
        bind.push((1, a));
    }
    if let Some(k) = &f.kind {
        bind.push((2, k));
    }
    if let Some(t) = &f.since_ms {
        bind.push((3, t));
    }
    for (i, v) in bind {
        st.raw_bind_parameter(i, v)?;
    }
    let mut raw = st.raw_query();
    let mut out = Vec::new();
    while let Some(r) = raw.next()? {
        let (agent_id, seq, kind, observed_at, received_at, body): (
            String,
            i64,
            String,
            i64,
            i64,
            String,
        ) = (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        );
        let finding =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        out.push(StoredFinding {
            agent_id,
            seq: seq as u64,
            kind,
            observed_at,
            received_at,
            finding,
        });
    }
    Ok(out)
}

pub(super) fn finding_count(db: &SqliteStore, agent_id: &str) -> Result<u64> {
    let conn = db.read();
    let n: i64 = conn.query_row(sql::FINDING_COUNT, [agent_id], |r| r.get(0))?;
    Ok(n as u64)
}

pub(super) fn gaps(db: &SqliteStore, agent_id: Option<&str>) -> Result<Vec<Gap>> {
    let conn = db.read();
    let mut st = conn.prepare(
        "SELECT agent_id, from_seq, to_seq, detected_at FROM gaps WHERE (?1 IS NULL OR agent_id = ?1)
         ORDER BY detected_at, agent_id, from_seq",
    )?;
    let rows = st.query_map([agent_id], |r| {
        Ok(Gap {
            agent_id: r.get(0)?,
            from_seq: r.get::<_, i64>(1)? as u64,
            to_seq: r.get::<_, i64>(2)? as u64,
            detected_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
