//! A batch's multi-row ingest.

use super::*;

/// A batch prepared for one multi-row insert: columns as arrays, first occurrence of each seq.
pub(super) struct Rows {
    seq: Vec<i64>,
    kind: Vec<&'static str>,
    observed_at: Vec<i64>,
    body: Vec<String>,
    inventory: Vec<bool>,
    /// Check results with their seq and observation time, for the scoring state.
    checks: Vec<(i64, vigil_proto::CheckResult, i64)>,
    /// Repeats of a seq within the batch (counted as duplicates, like a replay).
    repeats: usize,
}

impl Rows {
    pub(super) fn new(batch: &[Envelope]) -> Result<Self> {
        let mut rows = Self {
            seq: Vec::with_capacity(batch.len()),
            kind: Vec::with_capacity(batch.len()),
            observed_at: Vec::with_capacity(batch.len()),
            body: Vec::with_capacity(batch.len()),
            inventory: Vec::with_capacity(batch.len()),
            checks: Vec::new(),
            repeats: 0,
        };
        let mut seen = HashSet::with_capacity(batch.len());
        for e in batch {
            let seq = i64::try_from(e.seq)
                .map_err(|_| StoreError::Corrupt(format!("seq {} out of range", e.seq)))?;
            if !seen.insert(seq) {
                rows.repeats += 1;
                continue;
            }
            rows.seq.push(seq);
            rows.kind.push(e.finding.kind_name());
            rows.observed_at.push(e.observed_at);
            rows.body.push(
                serde_json::to_string(&e.finding)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?,
            );
            rows.inventory
                .push(matches!(e.finding, Finding::Inventory(_)));
            if let Finding::CheckResult(c) = &e.finding {
                rows.checks.push((seq, c.clone(), e.observed_at));
            }
        }
        Ok(rows)
    }
}

pub(super) fn ingest_rows(
    conn: &mut Conn,
    agent_id: &str,
    rows: &Rows,
    received_at: i64,
) -> Result<IngestOutcome> {
    let lock_agent =
        conn.prepare("SELECT max_seq, revoked FROM agents WHERE id = $1 FOR UPDATE")?;
    let insert = conn.prepare(
        "INSERT INTO findings (agent_id, seq, kind, observed_at, received_at, body)
         SELECT $1, s, k, o, $2, b
         FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::text[]) AS u(s, k, o, b)
         ON CONFLICT (agent_id, seq) DO NOTHING
         RETURNING seq",
    )?;
    let update_agent = conn.prepare(
        "UPDATE agents SET max_seq = $2, last_seen = GREATEST(last_seen, $3),
                inventory = COALESCE($4, inventory)
         WHERE id = $1",
    )?;
    let mut tx = conn.client()?.transaction()?;
    // The row lock serialises batches of one agent across collectors, so max_seq and the gaps
    // derived from it are read after any concurrent batch has committed.
    let agent = tx
        .query_opt(&lock_agent, &[&agent_id])?
        .ok_or_else(|| StoreError::NotFound(format!("agent {agent_id}")))?;
    let stored_max: i64 = agent.try_get(0)?;
    if agent.try_get::<_, bool>(1)? {
        return Err(StoreError::Revoked(agent_id.to_owned()));
    }
    let mut max = u64::try_from(stored_max).map_err(|_| corrupt("max_seq", stored_max))?;
    let inserted: HashSet<i64> = if rows.seq.is_empty() {
        HashSet::new()
    } else {
        tx.query(
            &insert,
            &[
                &agent_id,
                &received_at,
                &rows.seq,
                &rows.kind,
                &rows.observed_at,
                &rows.body,
            ],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?
    };
    let mut out = IngestOutcome {
        duplicates: rows.repeats,
        ..IngestOutcome::default()
    };
    let mut inventory: Option<&str> = None;
    // Walk in batch order so gaps are the ones SQLite reports for the same batch.
    for (i, &seq) in rows.seq.iter().enumerate() {
        if !inserted.contains(&seq) {
            out.duplicates += 1;
            continue;
        }
        out.stored += 1;
        // Non-negative: it came from a u64 through i64::try_from.
        let seq = seq as u64;
        if seq > max + 1 {
            out.gaps.push((max + 1, seq - 1));
        }
        max = max.max(seq);
        if rows.inventory[i] {
            inventory = Some(&rows.body[i]);
        }
    }
    if !out.gaps.is_empty() {
        // Gap ends are at most a stored seq, so they fit in i64.
        let from: Vec<i64> = out.gaps.iter().map(|g| g.0 as i64).collect();
        let to: Vec<i64> = out.gaps.iter().map(|g| g.1 as i64).collect();
        tx.execute(
            "INSERT INTO gaps (agent_id, from_seq, to_seq, detected_at)
             SELECT $1, f, t, $2 FROM unnest($3::bigint[], $4::bigint[]) AS g(f, t)",
            &[&agent_id, &received_at, &from, &to],
        )?;
    }
    tx.execute(
        &update_agent,
        &[&agent_id, &(max as i64), &(received_at / 1000), &inventory],
    )?;
    let mut checks = rows
        .checks
        .iter()
        .filter(|(seq, _, _)| inserted.contains(seq))
        .map(|(_, c, at)| (c, *at))
        .peekable();
    if checks.peek().is_some() {
        // The agent row is locked above, so no other collector merges into this state meanwhile.
        let old: Option<String> = tx
            .query_opt(pg(sql::CHECK_STATE_GET), &[&agent_id])?
            .map(|r| r.try_get(0))
            .transpose()?;
        let (state, over) = crate::store::merge_check_state(old.as_deref(), checks)?;
        out.rules_over_quota = over;
        if let Some(state) = state {
            tx.execute(
                "INSERT INTO check_state (agent_id, results, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (agent_id) DO UPDATE SET results = $2, updated_at = $3",
                &[&agent_id, &state, &received_at],
            )?;
        }
    }
    tx.commit()?;
    out.max_seq = max;
    Ok(out)
}
