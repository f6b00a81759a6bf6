//! Organisation-tree moves shared by both backends: the checks and the SQL (written in the
//! dialect SQLite and PostgreSQL share) that re-roots a subtree in one transaction.
//!
//! A move inserts the subtree under its new paths, points every row that names an agency
//! (agents, assets, tokens, agency score history, users' scopes) at the new paths, then deletes
//! the old agency rows; nothing is copied or lost, so a commune keeps its history when its
//! district is abolished, and a user scoped to a moved agency keeps seeing it (and never a new
//! agency created later at the old path). Policy assignments and policy scopes follow the same
//! way, and the bundle version of the moved hosts still only grows (issue 18).

use super::{Result, StoreError};

/// A bind parameter of a [`MOVE_SUBTREE`] statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    /// The old path.
    From,
    /// The new path.
    To,
    /// Length in bytes of the old path (SQL `substr` positions are 1-based).
    FromLen,
    /// Length in bytes of the new path.
    ToLen,
    /// Parent of the new path (NULL for a root).
    Parent,
    /// Unix seconds of the change.
    Now,
    /// Who makes it.
    Actor,
}

/// When and by whom a tree change is made (bound as [`Param::Now`] and [`Param::Actor`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp<'a> {
    pub(crate) now: i64,
    pub(crate) actor: &'a str,
}

/// The next policy revision (see `policy.rs`): above every one taken so far.
macro_rules! next_policy_rev {
    () => {
        "(SELECT coalesce(max(rev), 0) + 1 FROM (SELECT rev FROM policy_versions \
         UNION ALL SELECT rev FROM policy_assignments) r)"
    };
}

/// What a statement's affected-row count adds up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counts {
    Agencies,
    Agents,
    Assets,
    Tokens,
    History,
    Users,
    UsersDisabled,
    Nothing,
}

/// The statements of a move, in order, with their parameters (`?1`… in the order given).
pub(crate) const MOVE_SUBTREE: &[(&str, &[Param], Counts)] = &[
    (
        "INSERT INTO agencies (id, name, level, parent)
         SELECT CAST(?2 AS TEXT) || substr(id, ?3 + 1), name, level,
                CASE WHEN id = ?1 THEN CAST(?4 AS TEXT) ELSE CAST(?2 AS TEXT) || substr(parent, ?3 + 1) END
         FROM agencies WHERE id = ?1 OR substr(id, 1, ?3 + 1) = ?1 || '/'",
        &[Param::From, Param::To, Param::FromLen, Param::Parent],
        Counts::Agencies,
    ),
    (
        "UPDATE agents SET agency = CAST(?2 AS TEXT) || substr(agency, ?3 + 1)
         WHERE agency = ?1 OR substr(agency, 1, ?3 + 1) = ?1 || '/'",
        &[Param::From, Param::To, Param::FromLen],
        Counts::Agents,
    ),
    (
        "UPDATE assets SET agency = CAST(?2 AS TEXT) || substr(agency, ?3 + 1)
         WHERE agency = ?1 OR substr(agency, 1, ?3 + 1) = ?1 || '/'",
        &[Param::From, Param::To, Param::FromLen],
        Counts::Assets,
    ),
    (
        "UPDATE tokens SET agency = CAST(?2 AS TEXT) || substr(agency, ?3 + 1)
         WHERE agency = ?1 OR substr(agency, 1, ?3 + 1) = ?1 || '/'",
        &[Param::From, Param::To, Param::FromLen],
        Counts::Tokens,
    ),
    // Scopes are paths: a user of the moved subtree keeps it (an empty scope is everything).
    (
        "UPDATE users SET scope = CAST(?2 AS TEXT) || substr(scope, ?3 + 1)
         WHERE scope = ?1 OR substr(scope, 1, ?3 + 1) = ?1 || '/'",
        &[Param::From, Param::To, Param::FromLen],
        Counts::Users,
    ),
    // Policy assignments follow their agencies (issue 18). First the old root's row takes the
    // next revision (a row with no policy is made when it had none), so the bundle version of
    // every moved host grows above any it applied; then rows that agencies gone before left at
    // the new paths give way; then the rows move, and the policies scoped to the subtree too.
    (
        concat!(
            "INSERT INTO policy_assignments (agency, policy, rev, assigned_at, actor)
             VALUES (?1, NULL, ",
            next_policy_rev!(),
            ", ?2, ?3) ON CONFLICT (agency) DO UPDATE SET rev = excluded.rev"
        ),
        &[Param::From, Param::Now, Param::Actor],
        Counts::Nothing,
    ),
    (
        "DELETE FROM policy_assignments WHERE agency = ?1 OR substr(agency, 1, ?2 + 1) = ?1 || '/'",
        &[Param::To, Param::ToLen],
        Counts::Nothing,
    ),
    (
        "UPDATE policy_assignments SET agency = CAST(?2 AS TEXT) || substr(agency, ?3 + 1)
         WHERE agency = ?1 OR substr(agency, 1, ?3 + 1) = ?1 || '/'",
        &[Param::From, Param::To, Param::FromLen],
        Counts::Nothing,
    ),
    (
        "UPDATE policy_versions SET scope = CAST(?2 AS TEXT) || substr(scope, ?3 + 1)
         WHERE scope = ?1 OR substr(scope, 1, ?3 + 1) = ?1 || '/'",
        &[Param::From, Param::To, Param::FromLen],
        Counts::Nothing,
    ),
    // An alert seen by a second agency follows that agency.
    (
        "UPDATE alerts SET other_agency = CAST(?2 AS TEXT) || substr(other_agency, ?3 + 1)
         WHERE other_agency = ?1 OR substr(other_agency, 1, ?3 + 1) = ?1 || '/'",
        &[Param::From, Param::To, Param::FromLen],
        Counts::Nothing,
    ),
    // A series left behind by an agency that once had the new path gives way to the moved one.
    (
        "DELETE FROM score_latest WHERE scope = 'agency'
         AND (id = ?1 OR substr(id, 1, ?2 + 1) = ?1 || '/')",
        &[Param::To, Param::ToLen],
        Counts::Nothing,
    ),
    (
        "UPDATE score_latest SET id = CAST(?2 AS TEXT) || substr(id, ?3 + 1)
         WHERE scope = 'agency' AND (id = ?1 OR substr(id, 1, ?3 + 1) = ?1 || '/')",
        &[Param::From, Param::To, Param::FromLen],
        Counts::Nothing,
    ),
    (
        "UPDATE score_history SET id = CAST(?2 AS TEXT) || substr(id, ?3 + 1)
         WHERE scope = 'agency' AND (id = ?1 OR substr(id, 1, ?3 + 1) = ?1 || '/')",
        &[Param::From, Param::To, Param::FromLen],
        Counts::History,
    ),
    (
        "DELETE FROM agencies WHERE id = ?1 OR substr(id, 1, ?2 + 1) = ?1 || '/'",
        &[Param::From, Param::FromLen],
        Counts::Nothing,
    ),
];

/// Statements that hand an abolished agency's own rows to its parent ([`Param::From`] the
/// agency, [`Param::To`] the parent), before the agency row itself is deleted.
///
/// Users scoped to the abolished agency itself are disabled and their sessions ended: handing
/// them the parent's scope would show a district officer every sibling district, and leaving
/// the old path would give them whatever agency is created there next. An admin gives them a
/// new scope.
pub(crate) const DISSOLVE_MEMBERS: &[(&str, &[Param], Counts)] = &[
    (
        "UPDATE agents SET agency = ?2 WHERE agency = ?1",
        &[Param::From, Param::To],
        Counts::Agents,
    ),
    (
        "UPDATE assets SET agency = ?2 WHERE agency = ?1",
        &[Param::From, Param::To],
        Counts::Assets,
    ),
    (
        "UPDATE tokens SET agency = ?2 WHERE agency = ?1",
        &[Param::From, Param::To],
        Counts::Tokens,
    ),
    (
        "UPDATE alerts SET other_agency = ?2 WHERE other_agency = ?1",
        &[Param::From, Param::To],
        Counts::Nothing,
    ),
    // The abolished agency's own policy assignment ends with it (handing it to the parent would
    // push it onto every sibling); its hosts now get the parent's policy, whose row takes the
    // next revision first so their bundle version still grows.
    (
        concat!(
            "INSERT INTO policy_assignments (agency, policy, rev, assigned_at, actor)
             VALUES (?1, NULL, ",
            next_policy_rev!(),
            ", ?2, ?3) ON CONFLICT (agency) DO UPDATE SET rev = excluded.rev"
        ),
        &[Param::To, Param::Now, Param::Actor],
        Counts::Nothing,
    ),
    (
        "DELETE FROM policy_assignments WHERE agency = ?1",
        &[Param::From],
        Counts::Nothing,
    ),
    (
        "DELETE FROM sessions WHERE \"user\" IN (SELECT name FROM users WHERE scope = ?1)",
        &[Param::From],
        Counts::Nothing,
    ),
    (
        "UPDATE users SET disabled = TRUE WHERE scope = ?1 AND NOT disabled",
        &[Param::From],
        Counts::UsersDisabled,
    ),
];

/// Parent path of an agency (`None` for a root).
pub(crate) fn parent_of(id: &str) -> Option<&str> {
    id.rsplit_once('/').map(|(p, _)| p)
}

/// Last component of an agency path.
pub(crate) fn leaf_of(id: &str) -> &str {
    id.rsplit_once('/').map_or(id, |(_, l)| l)
}

/// Checks a move that needs no database: not onto itself, not into its own subtree.
pub(crate) fn check_move(from: &str, to: &str) -> Result<()> {
    if from == to {
        return Err(StoreError::Invalid(format!(
            "agency {from:?} is already at that path"
        )));
    }
    if to.starts_with(from) && to.as_bytes().get(from.len()) == Some(&b'/') {
        return Err(StoreError::Invalid(format!(
            "cannot move agency {from:?} into its own subtree ({to:?})"
        )));
    }
    Ok(())
}

/// Checks both ends of a move against the database (`exists` looks an agency up): the old path
/// exists, the new one does not, and its parent does. Returns the new parent (`None` for a root).
pub(crate) fn check_move_ends<'a>(
    from: &str,
    to: &'a str,
    mut exists: impl FnMut(&str) -> Result<bool>,
) -> Result<Option<&'a str>> {
    check_move(from, to)?;
    if !exists(from)? {
        return Err(StoreError::NotFound(format!("agency {from:?}")));
    }
    if exists(to)? {
        return Err(StoreError::Conflict(format!("agency {to:?}")));
    }
    let parent = parent_of(to);
    if let Some(p) = parent
        && !exists(p)?
    {
        return Err(StoreError::NotFound(format!("parent agency {p:?}")));
    }
    Ok(parent)
}

/// Adds a statement's affected rows to the outcome.
pub(crate) fn count(out: &mut super::MoveOutcome, what: Counts, n: u64) {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    match what {
        Counts::Agencies => out.agencies += n,
        Counts::Agents => out.agents += n,
        Counts::Assets => out.assets += n,
        Counts::Tokens => out.tokens += n,
        Counts::History => out.history += n,
        Counts::Users => out.users += n,
        Counts::UsersDisabled => out.users_disabled += n,
        Counts::Nothing => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_and_moves_into_self_are_refused() {
        assert_eq!(parent_of("p/h/x"), Some("p/h"));
        assert_eq!(parent_of("p"), None);
        assert_eq!(leaf_of("p/h/x"), "x");
        assert_eq!(leaf_of("p"), "p");
        assert!(check_move("p/h", "p/h").is_err());
        assert!(check_move("p/h", "p/h/x").is_err());
        assert!(check_move("p/h", "p/hx").is_ok());
        assert!(check_move("p/h/x", "p/x").is_ok());
    }
}
