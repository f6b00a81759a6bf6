//! Decoding PostgreSQL rows into store records, with range checks on narrowed integers.

use super::*;

pub(super) fn corrupt(what: &str, v: i64) -> StoreError {
    StoreError::Corrupt(format!("{what} {v} out of range"))
}

pub(super) fn gap_from_row(r: &Row) -> Result<Gap> {
    let unsigned = |col: &str| -> Result<u64> {
        let v: i64 = r.try_get(col)?;
        u64::try_from(v).map_err(|_| corrupt(col, v))
    };
    Ok(Gap {
        agent_id: r.try_get("agent_id")?,
        from_seq: unsigned("from_seq")?,
        to_seq: unsigned("to_seq")?,
        detected_at: r.try_get("detected_at")?,
    })
}

pub(super) fn collect<T>(rows: &[Row], f: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

pub(super) const SCORE_COLS: &str =
    "scope, id, view, score, coverage, rule_pack_version, scoring_version, computed_at";

/// One of `parts` slices (by a hash of the agent id) of the live agents' check states.
pub(super) fn check_state_slice(
    c: &mut Client,
    parts: i32,
    part: i32,
) -> Result<Vec<(String, Vec<CheckState>)>> {
    let rows = c.query(
        "SELECT c.agent_id, c.results FROM check_state c JOIN agents a ON a.id = c.agent_id
         WHERE NOT a.revoked AND (hashtext(c.agent_id) % $1 + $1) % $1 = $2",
        &[&parts, &part],
    )?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            let results: &str = r.try_get(1)?;
            let state = serde_json::from_str(results)
                .map_err(|e| StoreError::Corrupt(format!("check state of {id}: {e}")))?;
            Ok((id, state))
        })
        .collect()
}
