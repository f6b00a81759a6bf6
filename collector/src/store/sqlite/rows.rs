//! Decoding SQLite rows into store records.

use super::*;

pub(super) fn agent_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRecord> {
    let inv: Option<String> = r.get("inventory")?;
    Ok(AgentRecord {
        id: r.get("id")?,
        agency: r.get("agency")?,
        machine_id: r.get("machine_id")?,
        hostname: r.get("hostname")?,
        os: r.get("os")?,
        role: r.get("role")?,
        level: r.get("level")?,
        enrolled_at: r.get("enrolled_at")?,
        last_seen: r.get("last_seen")?,
        agent_version: r.get("agent_version")?,
        cert_serial: r.get("cert_serial")?,
        cert_not_after: r.get("cert_not_after")?,
        revoked: r.get::<_, i64>("revoked")? != 0,
        max_seq: r.get::<_, i64>("max_seq")? as u64,
        spool_depth: r.get::<_, i64>("spool_depth")? as u64,
        clock_skew_ms: r.get("clock_skew_ms")?,
        inventory: inv.and_then(|s| serde_json::from_str(&s).ok()),
        simulated: r.get::<_, i64>("simulated")? != 0,
    })
}

pub(super) fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get("id")?,
        secret_hash: r.get("secret_hash")?,
        agency: r.get("agency")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        max_uses: r.get("max_uses")?,
        uses: r.get("uses")?,
        revoked: r.get::<_, i64>("revoked")? != 0,
        simulated: r.get::<_, i64>("simulated")? != 0,
    })
}

pub(super) fn score_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScorePoint> {
    Ok(ScorePoint {
        scope: r.get(0)?,
        id: r.get(1)?,
        view: r.get(2)?,
        score: r.get(3)?,
        coverage: r.get(4)?,
        rule_pack_version: r.get(5)?,
        scoring_version: r.get(6)?,
        computed_at: r.get(7)?,
    })
}

pub(super) const SCORE_COLS: &str =
    "scope, id, view, score, coverage, rule_pack_version, scoring_version, computed_at";
