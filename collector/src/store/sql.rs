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

/// Decodes an audit row's stored detail text (null when it is not JSON).
pub(crate) fn audit_detail(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// The differences of PostgreSQL's SQL from SQLite's that can be rewritten mechanically.
pub(crate) mod dialect {
    use std::borrow::Cow;

    /// `?N` placeholders as `$N`. Shared statements hold no `?` inside string literals.
    pub(crate) fn pg(sql: &str) -> Cow<'_, str> {
        if !sql.contains('?') {
            return Cow::Borrowed(sql);
        }
        Cow::Owned(sql.replace('?', "$"))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn placeholders_become_numbered_dollars() {
            assert_eq!(
                super::pg("SELECT a FROM t WHERE b = ?1 AND c < ?12"),
                "SELECT a FROM t WHERE b = $1 AND c < $12"
            );
            assert_eq!(super::pg("SELECT 1"), "SELECT 1");
        }

        #[test]
        fn every_shared_statement_uses_numbered_placeholders_only() {
            for sql in [
                super::super::AUDIT_PAGE,
                super::super::AUDIT_RANGE,
                super::super::TOKENS,
            ] {
                let bytes = sql.as_bytes();
                for (i, b) in bytes.iter().enumerate() {
                    if *b == b'?' {
                        assert!(
                            bytes.get(i + 1).is_some_and(u8::is_ascii_digit),
                            "bare ? in {sql}"
                        );
                    }
                    assert!(*b != b'$' && *b != b'\'', "dialect-specific text in {sql}");
                }
            }
        }
    }
}
