//! Users, sessions, API tokens and audit reads of the SQLite store.

use super::*;

pub(super) fn user_add(
    db: &SqliteStore,
    u: &crate::store::User,
    actor: &str,
    now: i64,
) -> Result<()> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let n = tx.execute(
        sql::USER_INSERT,
        params![
            u.name,
            u.password_hash,
            u.role.as_str(),
            u.scope,
            u.created_at,
            u.disabled as i64
        ],
    )?;
    if n == 0 {
        return Err(StoreError::Conflict(format!("user {:?}", u.name)));
    }
    audit_row(
        &tx,
        now,
        actor,
        "user.add",
        &serde_json::json!({"name": u.name, "role": u.role.as_str(), "scope": u.scope}),
    )?;
    tx.commit()?;
    Ok(())
}

pub(super) fn user(db: &SqliteStore, name: &str) -> Result<Option<crate::store::User>> {
    let conn = db.read();
    conn.query_row(
        &format!("SELECT {USER_COLS} FROM users WHERE name = ?1"),
        [name],
        user_from_row,
    )
    .optional()?
    .transpose()
}

pub(super) fn users(db: &SqliteStore) -> Result<Vec<crate::store::User>> {
    let conn = db.read();
    let mut st = conn.prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY name"))?;
    let rows = st.query_map([], user_from_row)?;
    rows.collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .collect()
}

pub(super) fn user_disable(db: &SqliteStore, name: &str, actor: &str, now: i64) -> Result<bool> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let scope: Option<String> = tx
        .query_row(sql::USER_SCOPE, [name], |r| r.get(0))
        .optional()?;
    let n = tx.execute("UPDATE users SET disabled = 1 WHERE name = ?1", [name])?;
    if n > 0 {
        tx.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
        audit_row(
            &tx,
            now,
            actor,
            "user.disable",
            &serde_json::json!({"name": name, "scope": scope}),
        )?;
    }
    tx.commit()?;
    Ok(n > 0)
}

pub(super) fn session_add(db: &SqliteStore, s: &crate::store::SessionRecord) -> Result<()> {
    let conn = db.lock();
    conn.execute(
        "INSERT INTO sessions (id_hash, user, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![s.id_hash, s.user, s.csrf, s.expires_at],
    )?;
    Ok(())
}

pub(super) fn session(
    db: &SqliteStore,
    id_hash: &str,
    now: i64,
) -> Result<Option<crate::store::SessionRecord>> {
    let conn = db.read();
    Ok(conn
        .query_row(
            "SELECT id_hash, user, csrf, expires_at FROM sessions
             WHERE id_hash = ?1 AND expires_at > ?2",
            params![id_hash, now],
            |r| {
                Ok(crate::store::SessionRecord {
                    id_hash: r.get(0)?,
                    user: r.get(1)?,
                    csrf: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub(super) fn session_delete(db: &SqliteStore, id_hash: &str, now: i64) -> Result<bool> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let n = tx.execute(sql::SESSION_DELETE, [id_hash])?;
    tx.execute(sql::SESSIONS_EXPIRE, [now])?;
    tx.commit()?;
    Ok(n > 0)
}

pub(super) fn api_token_add(
    db: &SqliteStore,
    t: &crate::store::ApiTokenRecord,
    actor: &str,
    now: i64,
) -> Result<()> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let known: Option<String> = tx
        .query_row(sql::USER_EXISTS, [&t.user], |r| r.get(0))
        .optional()?;
    if known.is_none() {
        return Err(StoreError::NotFound(format!("user {:?}", t.user)));
    }
    tx.execute(
        "INSERT INTO api_tokens (id, secret_hash, user, created_at, revoked)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![t.id, t.secret_hash, t.user, t.created_at, t.revoked as i64],
    )?;
    audit_row(
        &tx,
        now,
        actor,
        "api_token.create",
        &serde_json::json!({"id": t.id, "user": t.user}),
    )?;
    tx.commit()?;
    Ok(())
}

pub(super) fn api_token(
    db: &SqliteStore,
    secret_hash: &str,
) -> Result<Option<crate::store::ApiTokenRecord>> {
    let conn = db.read();
    Ok(conn
        .query_row(
            &format!("SELECT {API_TOKEN_COLS} FROM api_tokens WHERE secret_hash = ?1"),
            [secret_hash],
            api_token_from_row,
        )
        .optional()?)
}

pub(super) fn api_tokens(db: &SqliteStore) -> Result<Vec<crate::store::ApiTokenRecord>> {
    let conn = db.read();
    let mut st = conn.prepare(&format!(
        "SELECT {API_TOKEN_COLS} FROM api_tokens ORDER BY created_at, id"
    ))?;
    let rows = st.query_map([], api_token_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(super) fn api_token_revoke(db: &SqliteStore, id: &str, actor: &str, now: i64) -> Result<bool> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    let user: Option<String> = tx
        .query_row(
            "UPDATE api_tokens SET revoked = 1 WHERE id = ?1 AND revoked = 0 RETURNING user",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(user) = user else {
        return Ok(false);
    };
    audit_row(
        &tx,
        now,
        actor,
        "api_token.revoke",
        &serde_json::json!({"id": id, "user": user}),
    )?;
    tx.commit()?;
    Ok(true)
}

pub(super) fn audit_page(
    db: &SqliteStore,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<crate::store::AuditEntry>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    db.audit_query(sql::AUDIT_PAGE, params![before.unwrap_or(i64::MAX), limit])
}

pub(super) fn audit_range(
    db: &SqliteStore,
    action: &str,
    from: i64,
    to: i64,
) -> Result<Vec<crate::store::AuditEntry>> {
    db.audit_query(sql::AUDIT_RANGE, params![action, from, to])
}
