//! The organisation tree (agencies, subtree moves and dissolution), host profiles and the asset
//! register, for both backends. The move statements are `store/tree.rs`'s.
//!
//! Tree changes are rare; on PostgreSQL each takes the `agencies` table lock
//! ([`Tx::lock`]) so concurrent moves from several collectors never interleave, and asset
//! imports lock the rows they compare ([`Dialect::for_update`]). SQLite's single writer already
//! runs them one at a time.

use super::super::db::{Db, Dialect, Lock, Row, Tx, Value, collect, params};
use super::super::{
    Agency, Asset, AssetImport, Counts, DISSOLVE_MEMBERS, MOVE_SUBTREE, MoveOutcome, Param, Result,
    Stamp, StoreError, check_move_ends, count, leaf_of, parent_of, sql,
};
use super::{audit, level};

const ASSET_BEFORE: &str = "SELECT role, level FROM assets WHERE agency = ?1 AND hostname = ?2";

/// Every statement of this module, for the dialect test.
#[cfg(test)]
pub(crate) const ALL: &[&str] = &[ASSET_BEFORE];

pub(crate) fn agency_add(db: &impl Db, a: &Agency) -> Result<()> {
    db.write(|tx| {
        let parent = parent_of(&a.id);
        if let Some(p) = parent
            && tx.query_opt(sql::AGENCY_EXISTS, params![p])?.is_none()
        {
            return Err(StoreError::NotFound(format!("parent agency {p:?}")));
        }
        if tx.execute(sql::AGENCY_INSERT, params![&a.id, &a.name, a.level, parent])? == 0 {
            return Err(StoreError::Conflict(format!("agency {:?}", a.id)));
        }
        Ok(())
    })
}

pub(crate) fn agency(db: &impl Db, id: &str) -> Result<Option<Agency>> {
    db.read(|tx| {
        tx.query_opt(sql::AGENCY_GET, params![id])?
            .as_ref()
            .map(agency_from_row)
            .transpose()
    })
}

pub(crate) fn agencies(db: &impl Db) -> Result<Vec<Agency>> {
    db.read(|tx| collect(tx, sql::AGENCIES, &[], agency_from_row))
}

pub(crate) fn agency_rename(
    db: &impl Db,
    id: &str,
    name: &str,
    actor: &str,
    now: i64,
) -> Result<bool> {
    let d = serde_json::json!({"id": id, "name": name});
    update_audited(
        db,
        sql::AGENCY_RENAME,
        params![id, name],
        (actor, "agency.rename", &d),
        now,
    )
}

pub(crate) fn agency_move(
    db: &impl Db,
    from: &str,
    to: &str,
    actor: &str,
    now: i64,
) -> Result<MoveOutcome> {
    db.write(|tx| {
        tx.lock(Lock::Table("agencies"))?;
        let out = move_subtree(tx, from, to, Stamp { now, actor })?;
        let d = serde_json::json!({"from": from, "to": to, "moved": out});
        audit(tx, now, actor, "agency.move", &d)?;
        Ok(out)
    })
}

pub(crate) fn agency_dissolve(
    db: &impl Db,
    id: &str,
    actor: &str,
    now: i64,
) -> Result<MoveOutcome> {
    let parent = parent_of(id).ok_or_else(|| {
        StoreError::Invalid(format!(
            "{id:?} is a root agency: it has no parent to take its place"
        ))
    })?;
    db.write(|tx| {
        tx.lock(Lock::Table("agencies"))?;
        if tx.query_opt(sql::AGENCY_EXISTS, params![id])?.is_none() {
            return Err(StoreError::NotFound(format!("agency {id:?}")));
        }
        let children: Vec<String> = collect(tx, sql::AGENCY_CHILDREN, params![id], |r| r.get(0))?;
        let stamp = Stamp { now, actor };
        let mut out = MoveOutcome::default();
        for c in &children {
            let to = format!("{parent}/{}", leaf_of(c));
            out += move_subtree(tx, c, &to, stamp)?;
        }
        tree_sql(tx, DISSOLVE_MEMBERS, (id, parent, None), stamp, &mut out)?;
        tx.execute(sql::AGENCY_DELETE, params![id])?;
        out.agencies += 1;
        let d = serde_json::json!({"id": id, "into": parent, "children": children, "moved": out});
        audit(tx, now, actor, "agency.dissolve", &d)?;
        Ok(out)
    })
}

pub(crate) fn agent_set_profile(
    db: &impl Db,
    id: &str,
    role: Option<&str>,
    level: Option<u8>,
    actor: &str,
    now: i64,
) -> Result<bool> {
    let d = serde_json::json!({"id": id, "role": role, "level": level});
    update_audited(
        db,
        sql::AGENT_SET_PROFILE,
        params![id, role, level],
        (actor, "host.set", &d),
        now,
    )
}

pub(crate) fn assets_import(
    db: &impl Db,
    assets: &[Asset],
    actor: &str,
    now: i64,
) -> Result<AssetImport> {
    db.write(|tx| {
        let before = Dialect::for_update(tx.dialect(), ASSET_BEFORE);
        let mut out = AssetImport::default();
        for a in assets {
            if tx
                .query_opt(sql::AGENCY_EXISTS, params![&a.agency])?
                .is_none()
            {
                return Err(StoreError::NotFound(format!("agency {:?}", a.agency)));
            }
            match tx.query_opt(before, params![&a.agency, &a.hostname])? {
                None => out.added += 1,
                Some(r) if r.get::<String>(0)? == a.role && r.get::<u8>(1)? == a.level => {
                    out.unchanged += 1;
                }
                Some(_) => out.updated += 1,
            }
            tx.execute(
                sql::ASSET_UPSERT,
                params![&a.agency, &a.hostname, &a.role, a.level, now],
            )?;
        }
        let d = serde_json::json!({"rows": assets.len(), "result": out});
        audit(tx, now, actor, "assets.import", &d)?;
        Ok(out)
    })
}

pub(crate) fn assets(db: &impl Db) -> Result<Vec<Asset>> {
    db.read(|tx| {
        collect(tx, sql::ASSETS, &[], |r| {
            Ok(Asset {
                agency: r.get(0)?,
                hostname: r.get(1)?,
                role: r.get(2)?,
                level: level(r, 3)?.unwrap_or(1),
            })
        })
    })
}

/// Runs one UPDATE and, if it changed a row, records `action` by `actor` in the audit log, in
/// one transaction. Returns whether a row changed.
fn update_audited(
    db: &impl Db,
    sql: &'static str,
    params: &[Value<'_>],
    (actor, action, detail): (&str, &str, &serde_json::Value),
    now: i64,
) -> Result<bool> {
    db.write(|tx| {
        let n = tx.execute(sql, params)?;
        if n > 0 {
            audit(tx, now, actor, action, detail)?;
        }
        Ok(n > 0)
    })
}

/// Runs the shared subtree-move statements inside `tx` (after checking both ends).
fn move_subtree(tx: &mut dyn Tx, from: &str, to: &str, stamp: Stamp<'_>) -> Result<MoveOutcome> {
    let parent = check_move_ends(from, to, |id| {
        Ok(tx.query_opt(sql::AGENCY_EXISTS, params![id])?.is_some())
    })?;
    let mut out = MoveOutcome::default();
    tree_sql(tx, MOVE_SUBTREE, (from, to, parent), stamp, &mut out)?;
    Ok(out)
}

/// Runs shared organisation-tree statements, binding their [`Param`]s, and counts the rows.
fn tree_sql(
    tx: &mut dyn Tx,
    stmts: &[(&'static str, &[Param], Counts)],
    (from, to, parent): (&str, &str, Option<&str>),
    stamp: Stamp<'_>,
    out: &mut MoveOutcome,
) -> Result<()> {
    let len = |s: &str| {
        i64::try_from(s.len()).map_err(|_| StoreError::Invalid("agency path too long".into()))
    };
    let (from_len, to_len) = (len(from)?, len(to)?);
    for (sql, params, what) in stmts {
        let values: Vec<Value<'_>> = params
            .iter()
            .map(|p| match p {
                Param::From => from.into(),
                Param::To => to.into(),
                Param::FromLen => from_len.into(),
                Param::ToLen => to_len.into(),
                Param::Parent => parent.into(),
                Param::Now => stamp.now.into(),
                Param::Actor => stamp.actor.into(),
            })
            .collect();
        let n = tx.execute(sql, &values)?;
        count(out, *what, n);
    }
    Ok(())
}

fn agency_from_row(r: &Row) -> Result<Agency> {
    Ok(Agency {
        id: r.get("id")?,
        name: r.get("name")?,
        level: r.get("level")?,
    })
}
