//! Column lists of the statements SQLite still writes itself (rows are decoded through the seam,
//! `store/db/`).

pub(super) const SCORE_COLS: &str =
    "scope, id, view, score, coverage, rule_pack_version, scoring_version, computed_at";
