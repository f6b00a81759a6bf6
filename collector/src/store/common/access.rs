//! Users, sessions, API tokens and audit reads, for both backends.

use super::super::db::{Db, Row, Tx, collect, params};
use super::super::{ApiTokenRecord, AuditEntry, Result, SessionRecord, StoreError, User, sql};
use super::audit;

const USER_GET: &str =
    "SELECT name, password_hash, role, scope, created_at, disabled FROM users WHERE name = ?1";
const USERS: &str =
    "SELECT name, password_hash, role, scope, created_at, disabled FROM users ORDER BY name";
const USER_DISABLE: &str = "UPDATE users SET disabled = TRUE WHERE name = ?1";
const SESSIONS_OF_USER_DELETE: &str = r#"DELETE FROM sessions WHERE "user" = ?1"#;
const SESSION_INSERT: &str =
    r#"INSERT INTO sessions (id_hash, "user", csrf, expires_at) VALUES (?1, ?2, ?3, ?4)"#;
const SESSION_GET: &str = r#"SELECT id_hash, "user", csrf, expires_at FROM sessions
     WHERE id_hash = ?1 AND expires_at > ?2"#;
const API_TOKEN_INSERT: &str = r#"INSERT INTO api_tokens (id, secret_hash, "user", created_at, revoked)
     VALUES (?1, ?2, ?3, ?4, ?5)"#;
const API_TOKEN_GET: &str = r#"SELECT id, secret_hash, "user", created_at, revoked FROM api_tokens
     WHERE secret_hash = ?1"#;
const API_TOKENS: &str = r#"SELECT id, secret_hash, "user", created_at, revoked FROM api_tokens
     ORDER BY created_at, id"#;
const API_TOKEN_REVOKE: &str = r#"UPDATE api_tokens SET revoked = TRUE WHERE id = ?1 AND NOT revoked
     RETURNING "user""#;

/// Every statement of this module, for the dialect test.
#[cfg(test)]
pub(crate) const ALL: &[&str] = &[
    USER_GET,
    USERS,
    USER_DISABLE,
    SESSIONS_OF_USER_DELETE,
    SESSION_INSERT,
    SESSION_GET,
    API_TOKEN_INSERT,
    API_TOKEN_GET,
    API_TOKENS,
    API_TOKEN_REVOKE,
];

pub(crate) fn user_add(db: &impl Db, u: &User, actor: &str, now: i64) -> Result<()> {
    db.write(|tx| {
        let n = tx.execute(
            sql::USER_INSERT,
            params![
                &u.name,
                &u.password_hash,
                u.role.as_str(),
                &u.scope,
                u.created_at,
                u.disabled
            ],
        )?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("user {:?}", u.name)));
        }
        let d = serde_json::json!({"name": u.name, "role": u.role.as_str(), "scope": u.scope});
        audit(tx, now, actor, "user.add", &d)
    })
}

pub(crate) fn user(db: &impl Db, name: &str) -> Result<Option<User>> {
    db.read(|tx| {
        tx.query_opt(USER_GET, params![name])?
            .as_ref()
            .map(user_from_row)
            .transpose()
    })
}

pub(crate) fn users(db: &impl Db) -> Result<Vec<User>> {
    db.read(|tx| collect(tx, USERS, &[], user_from_row))
}

pub(crate) fn user_disable(db: &impl Db, name: &str, actor: &str, now: i64) -> Result<bool> {
    db.write(|tx| {
        let scope: Option<String> = match tx.query_opt(sql::USER_SCOPE, params![name])? {
            Some(r) => Some(r.get(0)?),
            None => None,
        };
        let n = tx.execute(USER_DISABLE, params![name])?;
        if n > 0 {
            tx.execute(SESSIONS_OF_USER_DELETE, params![name])?;
            let d = serde_json::json!({"name": name, "scope": scope});
            audit(tx, now, actor, "user.disable", &d)?;
        }
        Ok(n > 0)
    })
}

pub(crate) fn session_add(db: &impl Db, s: &SessionRecord) -> Result<()> {
    db.write(|tx| {
        tx.execute(
            SESSION_INSERT,
            params![&s.id_hash, &s.user, &s.csrf, s.expires_at],
        )?;
        Ok(())
    })
}

pub(crate) fn session(db: &impl Db, id_hash: &str, now: i64) -> Result<Option<SessionRecord>> {
    db.read(|tx| {
        let Some(r) = tx.query_opt(SESSION_GET, params![id_hash, now])? else {
            return Ok(None);
        };
        Ok(Some(SessionRecord {
            id_hash: r.get(0)?,
            user: r.get(1)?,
            csrf: r.get(2)?,
            expires_at: r.get(3)?,
        }))
    })
}

pub(crate) fn session_delete(db: &impl Db, id_hash: &str, now: i64) -> Result<bool> {
    db.write(|tx| {
        let n = tx.execute(sql::SESSION_DELETE, params![id_hash])?;
        tx.execute(sql::SESSIONS_EXPIRE, params![now])?;
        Ok(n > 0)
    })
}

pub(crate) fn api_token_add(db: &impl Db, t: &ApiTokenRecord, actor: &str, now: i64) -> Result<()> {
    db.write(|tx| {
        if tx.query_opt(sql::USER_EXISTS, params![&t.user])?.is_none() {
            return Err(StoreError::NotFound(format!("user {:?}", t.user)));
        }
        tx.execute(
            API_TOKEN_INSERT,
            params![&t.id, &t.secret_hash, &t.user, t.created_at, t.revoked],
        )?;
        let d = serde_json::json!({"id": t.id, "user": t.user});
        audit(tx, now, actor, "api_token.create", &d)
    })
}

pub(crate) fn api_token(db: &impl Db, secret_hash: &str) -> Result<Option<ApiTokenRecord>> {
    db.read(|tx| {
        tx.query_opt(API_TOKEN_GET, params![secret_hash])?
            .as_ref()
            .map(api_token_from_row)
            .transpose()
    })
}

pub(crate) fn api_tokens(db: &impl Db) -> Result<Vec<ApiTokenRecord>> {
    db.read(|tx| collect(tx, API_TOKENS, &[], api_token_from_row))
}

pub(crate) fn api_token_revoke(db: &impl Db, id: &str, actor: &str, now: i64) -> Result<bool> {
    db.write(|tx| {
        let Some(r) = tx.query_opt(API_TOKEN_REVOKE, params![id])? else {
            return Ok(false);
        };
        let user: String = r.get(0)?;
        let d = serde_json::json!({"id": id, "user": user});
        audit(tx, now, actor, "api_token.revoke", &d)?;
        Ok(true)
    })
}

/// Records `action` in the audit log on its own.
pub(crate) fn audit_add(
    db: &impl Db,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
    now: i64,
) -> Result<()> {
    db.write(|tx| audit(tx, now, actor, action, detail))
}

/// The whole audit log, oldest first.
pub(crate) fn audit_log(db: &impl Db) -> Result<Vec<(i64, String, String, serde_json::Value)>> {
    db.read(|tx| {
        collect(tx, sql::AUDIT_LOG, &[], |r| {
            let d: String = r.get("detail")?;
            Ok((
                r.get("at")?,
                r.get("actor")?,
                r.get("action")?,
                serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
            ))
        })
    })
}

pub(crate) fn audit_page(
    db: &impl Db,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<AuditEntry>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    db.read(|tx| {
        audit_query(
            tx,
            sql::AUDIT_PAGE,
            params![before.unwrap_or(i64::MAX), limit],
        )
    })
}

pub(crate) fn audit_range(
    db: &impl Db,
    action: &str,
    from: i64,
    to: i64,
) -> Result<Vec<AuditEntry>> {
    db.read(|tx| audit_query(tx, sql::AUDIT_RANGE, params![action, from, to]))
}

fn audit_query(
    tx: &mut dyn Tx,
    sql: &'static str,
    params: &[super::super::db::Value<'_>],
) -> Result<Vec<AuditEntry>> {
    collect(tx, sql, params, |r| {
        let d: String = r.get("detail")?;
        Ok(AuditEntry {
            id: r.get("id")?,
            at: r.get("at")?,
            actor: r.get("actor")?,
            action: r.get("action")?,
            detail: sql::audit_detail(&d),
        })
    })
}

fn user_from_row(r: &Row) -> Result<User> {
    let role: String = r.get("role")?;
    super::super::decode_user(
        r.get("name")?,
        r.get("password_hash")?,
        &role,
        r.get("scope")?,
        r.get("created_at")?,
        r.get("disabled")?,
    )
}

fn api_token_from_row(r: &Row) -> Result<ApiTokenRecord> {
    Ok(ApiTokenRecord {
        id: r.get(0)?,
        secret_hash: r.get(1)?,
        user: r.get(2)?,
        created_at: r.get(3)?,
        revoked: r.get(4)?,
    })
}
