//! Users, sessions, API tokens and audit reads of the PostgreSQL store.

use super::*;

pub(super) fn user_add(
    db: &PostgresStore,
    u: &crate::store::User,
    actor: &str,
    now: i64,
) -> Result<()> {
    let (u, actor) = (u.clone(), actor.to_owned());
    db.call(move |c| {
        let mut tx = c.transaction()?;
        let n = tx.execute(
            pg(sql::USER_INSERT),
            &[
                &u.name,
                &u.password_hash,
                &u.role.as_str(),
                &u.scope,
                &u.created_at,
                &u.disabled,
            ],
        )?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("user {:?}", u.name)));
        }
        let d = serde_json::json!({"name": u.name, "role": u.role.as_str(), "scope": u.scope});
        insert_audit(&mut tx, now, &actor, "user.add", &d)?;
        tx.commit()?;
        Ok(())
    })
}

pub(super) fn user(db: &PostgresStore, name: &str) -> Result<Option<crate::store::User>> {
    let name = name.to_owned();
    db.call(move |c| {
        c.query_opt(
            "SELECT name, password_hash, role, scope, created_at, disabled
             FROM users WHERE name = $1",
            &[&name],
        )?
        .as_ref()
        .map(user_from_row)
        .transpose()
    })
}

pub(super) fn users(db: &PostgresStore) -> Result<Vec<crate::store::User>> {
    db.call(|c| {
        collect(
            &c.query(
                "SELECT name, password_hash, role, scope, created_at, disabled
                 FROM users ORDER BY name",
                &[],
            )?,
            user_from_row,
        )
    })
}

pub(super) fn user_disable(db: &PostgresStore, name: &str, actor: &str, now: i64) -> Result<bool> {
    let (name, actor) = (name.to_owned(), actor.to_owned());
    db.call(move |c| {
        let mut tx = c.transaction()?;
        let scope: Option<String> = tx
            .query_opt(pg(sql::USER_SCOPE), &[&name])?
            .map(|r| r.try_get(0))
            .transpose()?;
        let n = tx.execute("UPDATE users SET disabled = TRUE WHERE name = $1", &[&name])?;
        if n > 0 {
            tx.execute(r#"DELETE FROM sessions WHERE "user" = $1"#, &[&name])?;
            let d = serde_json::json!({"name": name, "scope": scope});
            insert_audit(&mut tx, now, &actor, "user.disable", &d)?;
        }
        tx.commit()?;
        Ok(n > 0)
    })
}

pub(super) fn session_add(db: &PostgresStore, s: &crate::store::SessionRecord) -> Result<()> {
    let s = s.clone();
    db.call(move |c| {
        c.execute(
            r#"INSERT INTO sessions (id_hash, "user", csrf, expires_at)
               VALUES ($1, $2, $3, $4)"#,
            &[&s.id_hash, &s.user, &s.csrf, &s.expires_at],
        )?;
        Ok(())
    })
}

pub(super) fn session(
    db: &PostgresStore,
    id_hash: &str,
    now: i64,
) -> Result<Option<crate::store::SessionRecord>> {
    let id_hash = id_hash.to_owned();
    db.call(move |c| {
        let Some(r) = c.query_opt(
            r#"SELECT id_hash, "user", csrf, expires_at FROM sessions
               WHERE id_hash = $1 AND expires_at > $2"#,
            &[&id_hash, &now],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(crate::store::SessionRecord {
            id_hash: r.try_get(0)?,
            user: r.try_get(1)?,
            csrf: r.try_get(2)?,
            expires_at: r.try_get(3)?,
        }))
    })
}

pub(super) fn session_delete(db: &PostgresStore, id_hash: &str, now: i64) -> Result<bool> {
    let id_hash = id_hash.to_owned();
    db.call(move |c| {
        let mut tx = c.transaction()?;
        let n = tx.execute(pg(sql::SESSION_DELETE), &[&id_hash])?;
        tx.execute(pg(sql::SESSIONS_EXPIRE), &[&now])?;
        tx.commit()?;
        Ok(n > 0)
    })
}

pub(super) fn api_token_add(
    db: &PostgresStore,
    t: &crate::store::ApiTokenRecord,
    actor: &str,
    now: i64,
) -> Result<()> {
    let (t, actor) = (t.clone(), actor.to_owned());
    db.call(move |c| {
        let mut tx = c.transaction()?;
        if tx.query_opt(pg(sql::USER_EXISTS), &[&t.user])?.is_none() {
            return Err(StoreError::NotFound(format!("user {:?}", t.user)));
        }
        tx.execute(
            r#"INSERT INTO api_tokens (id, secret_hash, "user", created_at, revoked)
               VALUES ($1, $2, $3, $4, $5)"#,
            &[&t.id, &t.secret_hash, &t.user, &t.created_at, &t.revoked],
        )?;
        let d = serde_json::json!({"id": t.id, "user": t.user});
        insert_audit(&mut tx, now, &actor, "api_token.create", &d)?;
        tx.commit()?;
        Ok(())
    })
}

pub(super) fn api_token(
    db: &PostgresStore,
    secret_hash: &str,
) -> Result<Option<crate::store::ApiTokenRecord>> {
    let secret_hash = secret_hash.to_owned();
    db.call(move |c| {
        let Some(r) = c.query_opt(
            r#"SELECT id, secret_hash, "user", created_at, revoked FROM api_tokens
               WHERE secret_hash = $1"#,
            &[&secret_hash],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(api_token_from_row(&r)?))
    })
}

pub(super) fn api_tokens(db: &PostgresStore) -> Result<Vec<crate::store::ApiTokenRecord>> {
    db.call(|c| {
        collect(
            &c.query(
                r#"SELECT id, secret_hash, "user", created_at, revoked FROM api_tokens
                   ORDER BY created_at, id"#,
                &[],
            )?,
            api_token_from_row,
        )
    })
}

pub(super) fn api_token_revoke(
    db: &PostgresStore,
    id: &str,
    actor: &str,
    now: i64,
) -> Result<bool> {
    let (id, actor) = (id.to_owned(), actor.to_owned());
    db.call(move |c| {
        let mut tx = c.transaction()?;
        let Some(r) = tx.query_opt(
            r#"UPDATE api_tokens SET revoked = TRUE WHERE id = $1 AND NOT revoked
               RETURNING "user""#,
            &[&id],
        )?
        else {
            return Ok(false);
        };
        let user: String = r.try_get(0)?;
        let d = serde_json::json!({"id": id, "user": user});
        insert_audit(&mut tx, now, &actor, "api_token.revoke", &d)?;
        tx.commit()?;
        Ok(true)
    })
}

pub(super) fn audit_page(
    db: &PostgresStore,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<crate::store::AuditEntry>> {
    let before = before.unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    db.call(move |c| audit_query(c, sql::AUDIT_PAGE, &[&before, &limit]))
}

pub(super) fn audit_range(
    db: &PostgresStore,
    action: &str,
    from: i64,
    to: i64,
) -> Result<Vec<crate::store::AuditEntry>> {
    let action = action.to_owned();
    db.call(move |c| audit_query(c, sql::AUDIT_RANGE, &[&action, &from, &to]))
}
