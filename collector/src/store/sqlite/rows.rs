//! Decoding SQLite rows into store records.

use super::*;

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
