//! SQL statements written once for both backends, in SQLite's `?N` placeholder form;
//! [`dialect::pg`] turns them into PostgreSQL's `$N` form. Statements whose text differs
//! between the backends (types, upsert and locking clauses, bulk ingest) stay with their backend.

/// One page of the audit log, newest first: `?1` id bound (exclusive), `?2` limit.
pub(crate) const AUDIT_PAGE: &str = "SELECT id, at, actor, action, detail FROM audit \
     WHERE id < ?1 ORDER BY id DESC LIMIT ?2";

/// One action of the audit log in `?2 <= at < ?3`, oldest first (index `audit_action_at`).
pub(crate) const AUDIT_RANGE: &str = "SELECT id, at, actor, action, detail FROM audit \
     WHERE action = ?1 AND at >= ?2 AND at < ?3 ORDER BY at, id";

/// Every enrollment token, by creation time then id.
pub(crate) const TOKENS: &str = "SELECT * FROM tokens ORDER BY created_at, id";

// Statements both backends ran as two copies until issue 20, named by what they do.

/// Shared statement (see the module docs).
pub(crate) const AGENCY_EXISTS: &str = "SELECT 1 FROM agencies WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const AGENCY_INSERT: &str = "INSERT INTO agencies (id, name, level, parent) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING";
/// Shared statement (see the module docs).
pub(crate) const AGENCY_GET: &str = "SELECT id, name, level FROM agencies WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const AGENCIES: &str = "SELECT id, name, level FROM agencies ORDER BY id";
/// Shared statement (see the module docs).
pub(crate) const AGENCY_RENAME: &str = "UPDATE agencies SET name = ?2 WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const AGENCY_CHILDREN: &str = "SELECT id FROM agencies WHERE parent = ?1 ORDER BY id";
/// Shared statement (see the module docs).
pub(crate) const AGENCY_DELETE: &str = "DELETE FROM agencies WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const AGENT_SET_PROFILE: &str =
    "UPDATE agents SET role = COALESCE(?2, role), level = COALESCE(?3, level) WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const ASSET_UPSERT: &str = "INSERT INTO assets (agency, hostname, role, level, imported_at) VALUES (?1, ?2, ?3, ?4, \
     ?5) ON CONFLICT (agency, hostname) DO UPDATE SET role = ?3, level = ?4, imported_at = ?5";
/// Shared statement (see the module docs).
pub(crate) const ASSETS: &str =
    "SELECT agency, hostname, role, level FROM assets ORDER BY agency, hostname";
/// Shared statement (see the module docs).
pub(crate) const TOKEN_INSERT: &str = "INSERT INTO tokens (id, secret_hash, agency, created_at, expires_at, max_uses, uses, \
     revoked, simulated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
/// Shared statement (see the module docs).
pub(crate) const TOKEN_USE: &str = "UPDATE tokens SET uses = uses + 1 WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const AGENT_GET: &str = "SELECT * FROM agents WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const AGENTS: &str = "SELECT * FROM agents ORDER BY revoked, agency, hostname, id";
/// Shared statement (see the module docs).
pub(crate) const AUDIT_INSERT: &str =
    "INSERT INTO audit (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)";
/// Shared statement (see the module docs).
pub(crate) const AUDIT_LOG: &str = "SELECT at, actor, action, detail FROM audit ORDER BY id";
/// Shared statement (see the module docs).
pub(crate) const IOCS_SINCE: &str =
    "SELECT kind, value, source, expires_at FROM iocs WHERE version > ?1 ORDER BY kind, value";
/// Shared statement (see the module docs).
pub(crate) const LISTENER_COUNT: &str = "SELECT count(*) FROM known_listeners WHERE agent_id = ?1";
/// Shared statement (see the module docs).
pub(crate) const ALERT_ASSIGN: &str = "UPDATE alerts SET assignee = ?2 WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const ALERT_SET_STATE: &str = "UPDATE alerts SET state = ?2, reason = ?3 WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const USER_INSERT: &str = "INSERT INTO users (name, password_hash, role, scope, created_at, disabled) VALUES (?1, \
     ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING";
/// Shared statement (see the module docs).
pub(crate) const USER_SCOPE: &str = "SELECT scope FROM users WHERE name = ?1";
/// Shared statement (see the module docs).
pub(crate) const SESSION_DELETE: &str = "DELETE FROM sessions WHERE id_hash = ?1";
/// Shared statement (see the module docs).
pub(crate) const SESSIONS_EXPIRE: &str = "DELETE FROM sessions WHERE expires_at <= ?1";
/// Shared statement (see the module docs).
pub(crate) const USER_EXISTS: &str = "SELECT name FROM users WHERE name = ?1";
/// Shared statement (see the module docs).
pub(crate) const CHECK_STATE_GET: &str = "SELECT results FROM check_state WHERE agent_id = ?1";
/// Shared statement (see the module docs).
pub(crate) const AGENT_MAX_SEQ: &str = "SELECT max_seq FROM agents WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const FINDING_COUNT: &str = "SELECT count(*) FROM findings WHERE agent_id = ?1";
/// Shared statement (see the module docs).
pub(crate) const AGENT_INSERT: &str = "INSERT INTO agents (id, agency, machine_id, hostname, os, enrolled_at, agent_version, \
     cert_serial, cert_not_after, token_id, simulated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, \
     ?8, ?9, ?10, ?11)";
/// Shared statement (see the module docs).
pub(crate) const AGENT_MOVE: &str = "UPDATE agents SET agency = ?2 WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const AGENT_CERT_PROMOTE: &str = "UPDATE agents SET cert_serial = cert_pending, cert_not_after = cert_pending_not_after, \
     cert_pending = NULL, cert_pending_not_after = NULL WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const AGENT_CERT_PENDING: &str =
    "UPDATE agents SET cert_pending = ?2, cert_pending_not_after = ?3 WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const REVOKED_CERT_INSERT: &str = "INSERT INTO revoked_certs (serial, agent_id, revoked_at) VALUES (?1, ?2, ?3) ON CONFLICT \
     (serial) DO NOTHING";
/// Shared statement (see the module docs).
pub(crate) const ALERT_LAST_OF_KEY: &str =
    "SELECT id, state FROM alerts WHERE key = ?1 ORDER BY id DESC LIMIT 1";
/// Shared statement (see the module docs).
pub(crate) const ALERT_REPEAT: &str = "UPDATE alerts SET count = count + 1, last_seen = ?2, state = CASE WHEN ?3 THEN 'open' \
     ELSE state END, reason = CASE WHEN ?3 THEN NULL ELSE reason END WHERE id = ?1";
/// Shared statement (see the module docs).
pub(crate) const ALERTS_OPEN_OF_AGENT: &str =
    "SELECT count(*) FROM alerts WHERE agent_id = ?1 AND state IN ('open', 'acknowledged')";
/// Claims the notification of alert `?1` to recipient `?2` for notifier `?3` at `?4`; the first
/// claim stays.
pub(crate) const NOTIFY_CLAIM: &str = "INSERT INTO notify_claims (alert_id, recipient, owner, \
     claimed_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (alert_id, recipient) DO NOTHING";
/// Who holds the claim of alert `?1` to recipient `?2`.
pub(crate) const NOTIFY_CLAIM_OWNER: &str =
    "SELECT owner FROM notify_claims WHERE alert_id = ?1 AND recipient = ?2";

/// Alerts created after id `?1`, in creation (id) order, at most `?2`: the notifier's feed.
pub(crate) const ALERTS_AFTER: &str = "SELECT id, key, kind, severity, agent_id, title, state, count, \
     opened_at, last_seen, reason, assignee, other_agency, params FROM alerts WHERE id > ?1 \
     ORDER BY id LIMIT ?2";
// The export log of SIEM outputs (issue 19, `store/export.rs`). `?2` of the readers is the
// settled bound: positions with `tx` below it are final (i64::MAX on SQLite). Positions are
// `(tx, id)`; the `{…}` marks are the one place the backends differ ([`export_dialect`]):
// PostgreSQL compares row values with the output's cursor read by a subquery (its index scans
// them from there), SQLite, whose `tx` is always 0 and whose planner would scan the index from
// its start for a row value, compares and orders by `id` (the rowid).

/// Registers output `?1` at the end of the log.
pub(crate) const EXPORT_REGISTER: &str = "INSERT INTO export_outputs (name, cursor_tx, cursor_id, lease_until) \
     SELECT CAST(?1 AS TEXT), coalesce((SELECT tx FROM export_log ORDER BY {desc} LIMIT 1), 0), \
     coalesce((SELECT id FROM export_log ORDER BY {desc} LIMIT 1), 0), CAST(?2 AS BIGINT) WHERE 1 = 1 \
     ON CONFLICT (name) DO NOTHING";
/// Takes output `?1`'s lease for `?2` at `?3` until `?4`.
pub(crate) const EXPORT_CLAIM: &str = "UPDATE export_outputs SET owner = ?2, lease_until = ?4 \
     WHERE name = ?1 AND (owner = ?2 OR lease_until <= ?3)";
/// Up to `?3` final events after output `?1`'s cursor, oldest first.
pub(crate) const EXPORT_NEXT: &str = "SELECT l.tx, l.id, l.at, l.agent_id, l.seq, l.alert, f.kind, \
     f.observed_at, f.received_at, f.body, a.agency, a.hostname \
     FROM export_log l \
     LEFT JOIN findings f ON f.agent_id = l.agent_id AND f.seq = l.seq \
     LEFT JOIN agents a ON a.id = l.agent_id \
     WHERE {after} AND +l.tx < ?2 ORDER BY {asc} LIMIT ?3";
/// Moves output `?1`'s cursor (owner `?2`) forward to `(?3, ?4)`, counting `?5` sent, `?6` dropped.
pub(crate) const EXPORT_COMMIT: &str = "UPDATE export_outputs SET cursor_tx = ?3, cursor_id = ?4, \
     sent = sent + ?5, dropped = dropped + ?6 \
     WHERE name = ?1 AND owner = ?2 AND (cursor_tx, cursor_id) <= (?3, ?4)";
/// The newest final position after output `?1`'s cursor logged before `?3`.
pub(crate) const EXPORT_LAST_OLDER: &str = "SELECT l.tx, l.id FROM export_log l \
     WHERE {after} AND +l.tx < ?2 AND l.at < ?3 ORDER BY {desc} LIMIT 1";
/// The final position after output `?1`'s cursor with `?3` newer ones after it.
pub(crate) const EXPORT_BEYOND_KEEP: &str = "SELECT l.tx, l.id FROM export_log l \
     WHERE {after} AND +l.tx < ?2 ORDER BY {desc} LIMIT 1 OFFSET ?3";
/// Events after output `?1`'s cursor up to `(?2, ?3)`.
pub(crate) const EXPORT_COUNT_UPTO: &str =
    "SELECT count(*) FROM export_log l WHERE {after} AND {upto}";
/// Forgets outputs whose lease ended before `?1`.
pub(crate) const EXPORT_FORGET: &str = "DELETE FROM export_outputs WHERE lease_until < ?1";
/// The smallest cursor of all outputs.
pub(crate) const EXPORT_MIN_CURSOR: &str =
    "SELECT cursor_tx, cursor_id FROM export_outputs ORDER BY cursor_tx, cursor_id LIMIT 1";
/// Deletes the log up to `(?1, ?2)`.
pub(crate) const EXPORT_LOG_DELETE: &str = "DELETE FROM export_log WHERE {upto_del}";
/// Every output with its backlog (events logged after its cursor) and last error.
pub(crate) const EXPORT_OUTPUTS: &str = "SELECT o.name, o.cursor_tx, o.cursor_id, o.owner, \
     o.lease_until, o.sent, o.dropped, \
     (SELECT count(*) FROM export_log l WHERE {after_o}), o.last_error, o.last_error_at \
     FROM export_outputs o ORDER BY o.name";
/// Records output `?1`'s failed send `?3` at `?4` (owner `?2` only).
pub(crate) const EXPORT_NOTE_ERROR: &str = "UPDATE export_outputs SET last_error = ?3, \
     last_error_at = ?4 WHERE name = ?1 AND owner = ?2";

/// An `EXPORT_*` statement with its position marks filled in for SQLite (`sqlite`) or
/// PostgreSQL (still in `?N` form: pass it to [`dialect::pg`]). Each is built once.
pub(crate) fn export_dialect(sql: &'static str, sqlite: bool) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError};
    static DONE: OnceLock<Mutex<HashMap<(&'static str, bool), &'static str>>> = OnceLock::new();
    let marks: [(&str, &str); 6] = if sqlite {
        [
            (
                "{after}",
                "l.id > (SELECT cursor_id FROM export_outputs WHERE name = ?1)",
            ),
            ("{asc}", "l.id"),
            ("{desc}", "id DESC"),
            ("{upto}", "l.id <= ?3"),
            ("{upto_del}", "id <= ?2"),
            ("{after_o}", "l.id > o.cursor_id"),
        ]
    } else {
        [
            (
                "{after}",
                "(l.tx, l.id) > (SELECT cursor_tx, cursor_id FROM export_outputs WHERE name = ?1)",
            ),
            ("{asc}", "l.tx, l.id"),
            ("{desc}", "tx DESC, id DESC"),
            ("{upto}", "(l.tx, l.id) <= (?2, ?3)"),
            ("{upto_del}", "(tx, id) <= (?1, ?2)"),
            ("{after_o}", "(l.tx, l.id) > (o.cursor_tx, o.cursor_id)"),
        ]
    };
    let mut done = DONE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    done.entry((sql, sqlite)).or_insert_with(|| {
        let text = marks
            .iter()
            .fold(sql.to_owned(), |t, (mark, with)| t.replace(mark, with));
        Box::leak(text.into_boxed_str())
    })
}

// Central policies (issue 18; `policy.rs`).

/// The highest policy revision taken (0 when none).
pub(crate) const POLICY_REV: &str = "SELECT coalesce(max(rev), 0) FROM (SELECT rev FROM policy_versions \
     UNION ALL SELECT rev FROM policy_assignments) r";
/// The newest version and scope of one policy.
pub(crate) const POLICY_HEAD: &str =
    "SELECT version, scope FROM policy_versions WHERE name = ?1 ORDER BY version DESC LIMIT 1";
/// Shared statement (see the module docs).
pub(crate) const POLICY_INSERT: &str = "INSERT INTO policy_versions (name, version, rev, scope, body, created_at, actor, note) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
/// Every version of one policy, oldest first.
pub(crate) const POLICY_HISTORY: &str = "SELECT name, version, rev, scope, body, created_at, actor, note FROM policy_versions \
     WHERE name = ?1 ORDER BY version";
/// The newest version of every policy.
pub(crate) const POLICIES_LATEST: &str = "SELECT p.name, p.version, p.rev, p.scope, p.body, p.created_at, p.actor, p.note \
     FROM policy_versions p WHERE p.version = (SELECT max(q.version) FROM policy_versions q \
     WHERE q.name = p.name) ORDER BY p.name";
/// Shared statement (see the module docs).
pub(crate) const POLICY_ASSIGN: &str = "INSERT INTO policy_assignments (agency, policy, rev, assigned_at, actor) VALUES (?1, \
     ?2, ?3, ?4, ?5) ON CONFLICT (agency) DO UPDATE SET policy = ?2, rev = ?3, assigned_at = ?4, \
     actor = ?5";
/// Shared statement (see the module docs).
pub(crate) const POLICY_ASSIGNMENTS: &str =
    "SELECT agency, policy, rev, assigned_at, actor FROM policy_assignments ORDER BY agency";
/// Shared statement (see the module docs).
pub(crate) const POLICY_APPLIED_SET: &str = "INSERT INTO policy_applied (agent_id, version, reported_at) VALUES (?1, ?2, ?3) \
     ON CONFLICT (agent_id) DO UPDATE SET version = ?2, reported_at = ?3 \
     WHERE policy_applied.version <> ?2";
/// Shared statement (see the module docs).
pub(crate) const POLICY_APPLIED: &str =
    "SELECT agent_id, version, reported_at FROM policy_applied ORDER BY agent_id";

/// Decodes an audit row's stored detail text (null when it is not JSON).
pub(crate) fn audit_detail(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// The differences of PostgreSQL's SQL from SQLite's that can be rewritten mechanically.
pub(crate) mod dialect {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError};

    /// `?N` placeholders as `$N`. Shared statements hold no `?` inside string literals. Each
    /// distinct statement is rewritten once and kept for the life of the process (they are the
    /// constants of [`super`], a bounded set), so PostgreSQL's statement cache can key on it.
    pub(crate) fn pg(sql: &'static str) -> &'static str {
        static DONE: OnceLock<Mutex<HashMap<&'static str, &'static str>>> = OnceLock::new();
        if !sql.contains('?') {
            return sql;
        }
        let mut done = DONE
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        done.entry(sql)
            .or_insert_with(|| Box::leak(sql.replace('?', "$").into_boxed_str()))
    }

    #[cfg(test)]
    mod tests {
        use super::super::*;

        const ALL: &[&str] = &[
            AUDIT_PAGE,
            AUDIT_RANGE,
            TOKENS,
            AGENCY_EXISTS,
            AGENCY_INSERT,
            AGENCY_GET,
            AGENCIES,
            AGENCY_RENAME,
            AGENCY_CHILDREN,
            AGENCY_DELETE,
            AGENT_SET_PROFILE,
            ASSET_UPSERT,
            ASSETS,
            TOKEN_INSERT,
            TOKEN_USE,
            AGENT_GET,
            AGENTS,
            AUDIT_INSERT,
            AUDIT_LOG,
            IOCS_SINCE,
            LISTENER_COUNT,
            ALERT_ASSIGN,
            ALERT_SET_STATE,
            USER_INSERT,
            USER_SCOPE,
            SESSION_DELETE,
            SESSIONS_EXPIRE,
            USER_EXISTS,
            CHECK_STATE_GET,
            AGENT_MAX_SEQ,
            FINDING_COUNT,
            AGENT_INSERT,
            AGENT_MOVE,
            AGENT_CERT_PROMOTE,
            AGENT_CERT_PENDING,
            REVOKED_CERT_INSERT,
            ALERT_LAST_OF_KEY,
            ALERT_REPEAT,
            ALERTS_OPEN_OF_AGENT,
            ALERTS_AFTER,
            NOTIFY_CLAIM,
            NOTIFY_CLAIM_OWNER,
            EXPORT_REGISTER,
            EXPORT_CLAIM,
            EXPORT_NEXT,
            EXPORT_COMMIT,
            EXPORT_LAST_OLDER,
            EXPORT_BEYOND_KEEP,
            EXPORT_COUNT_UPTO,
            EXPORT_FORGET,
            EXPORT_MIN_CURSOR,
            EXPORT_LOG_DELETE,
            EXPORT_OUTPUTS,
            EXPORT_NOTE_ERROR,
            POLICY_REV,
            POLICY_HEAD,
            POLICY_INSERT,
            POLICY_HISTORY,
            POLICIES_LATEST,
            POLICY_ASSIGN,
            POLICY_ASSIGNMENTS,
            POLICY_APPLIED_SET,
            POLICY_APPLIED,
        ];

        #[test]
        fn placeholders_become_numbered_dollars() {
            assert_eq!(
                super::pg("SELECT a FROM t WHERE b = ?1 AND c < ?12"),
                "SELECT a FROM t WHERE b = $1 AND c < $12"
            );
            assert_eq!(super::pg("SELECT 1"), "SELECT 1");
            // Rewritten once: the same text comes back for the statement cache.
            assert!(std::ptr::eq(super::pg(AGENT_GET), super::pg(AGENT_GET)));
        }

        #[test]
        fn every_shared_statement_uses_numbered_placeholders_only() {
            for sql in ALL
                .iter()
                .chain(crate::store::fed::ALL)
                .chain(crate::store::common::access::ALL)
                .chain(crate::store::common::identity::ALL)
                .chain(crate::store::common::agencies::ALL)
                .chain(crate::store::common::alerts::ALL)
                .chain(crate::store::MOVE_SUBTREE.iter().map(|s| &s.0))
                .chain(crate::store::DISSOLVE_MEMBERS.iter().map(|s| &s.0))
            {
                let bytes = sql.as_bytes();
                for (i, b) in bytes.iter().enumerate() {
                    if *b == b'?' {
                        assert!(
                            bytes.get(i + 1).is_some_and(u8::is_ascii_digit),
                            "bare ? in {sql}"
                        );
                    }
                    assert!(*b != b'$', "dialect-specific text in {sql}");
                }
            }
        }
    }
}
