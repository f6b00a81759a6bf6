//! Central policies (issue 18): what a policy holds, how it is checked when added, and how the
//! policies assigned along an agency's path merge into the one bundle its agents receive.
//!
//! A policy is a set of rule packs (their YAML source, parsed by `vigil-rules` when added: all
//! or nothing, errors with file and line) plus the agent settings that may be set centrally.
//! Policies are assigned to agency subtrees; for an agency, every assignment on its path
//! applies, the deepest last, key by key (like `[alerts.subtree]`): a setting set deeper replaces
//! the one set above, and a pack with the same id replaces the one above while other packs add
//! up. The storage and the version rules are in [`crate::store::policy`]; signing and delivery in
//! [`book`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::store::policy::{PolicyAssignment, PolicyVersion};

pub mod book;
pub mod key;
pub mod ops;
pub mod running;
pub mod status;

pub use book::PolicyBook;
pub use key::PolicyKey;

/// Longest policy name.
pub const MAX_NAME: usize = 64;
/// Most packs in one policy.
pub const MAX_PACKS: usize = 64;

/// A rule pack as a policy holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPack {
    /// Pack id (the key packs merge by).
    pub id: String,
    /// Pack version as the pack declares it.
    pub version: String,
    /// The YAML source.
    pub source: String,
}

/// Agent settings a policy may set; `None` leaves the value of the policy above, or the
/// agent's own. Durations in seconds, sizes in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Interval between check runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_interval_s: Option<u64>,
    /// Security level (1–5) rule thresholds are evaluated at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_level: Option<u8>,
    /// FIM trees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fim_paths: Option<Vec<String>>,
    /// FIM exclusion globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fim_exclude: Option<Vec<String>>,
    /// FIM realtime storm threshold (changes per second per tree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storm_threshold: Option<u64>,
    /// Netwatch interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netwatch_interval_s: Option<u64>,
    /// Inventory interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_interval_s: Option<u64>,
    /// Spool budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool_budget_bytes: Option<u64>,
}

impl Settings {
    /// Overrides, key by key, what `deeper` sets.
    fn apply(&mut self, deeper: &Settings) {
        fn set<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
            if b.is_some() {
                a.clone_from(b);
            }
        }
        set(&mut self.check_interval_s, &deeper.check_interval_s);
        set(&mut self.agency_level, &deeper.agency_level);
        set(&mut self.fim_paths, &deeper.fim_paths);
        set(&mut self.fim_exclude, &deeper.fim_exclude);
        set(&mut self.storm_threshold, &deeper.storm_threshold);
        set(&mut self.netwatch_interval_s, &deeper.netwatch_interval_s);
        set(&mut self.inventory_interval_s, &deeper.inventory_interval_s);
        set(&mut self.spool_budget_bytes, &deeper.spool_budget_bytes);
    }
}

/// The body of a policy version (stored as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyContent {
    /// Rule packs, sorted by id.
    #[serde(default)]
    pub packs: Vec<PolicyPack>,
    /// Settings.
    #[serde(default)]
    pub settings: Settings,
}

impl PolicyContent {
    /// Decodes a stored body.
    ///
    /// # Errors
    /// A message when the stored text is not a policy body.
    pub fn from_body(body: &str) -> Result<Self, String> {
        serde_json::from_str(body).map_err(|e| format!("stored policy body is corrupt: {e}"))
    }

    /// The body to store.
    pub fn to_body(&self) -> String {
        // A struct of strings, integers and lists always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Settings as an operator writes them (TOML file for the CLI, JSON for the API), in the
/// shape of agent.toml: `[checks] interval, level`, `[fim] paths, exclude, storm_threshold`,
/// `[netwatch] interval`, `[inventory] interval`, `[spool] max_size`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// `[checks]`.
    #[serde(default)]
    pub checks: RawChecks,
    /// `[fim]`.
    #[serde(default)]
    pub fim: RawFim,
    /// `[netwatch]`.
    #[serde(default)]
    pub netwatch: RawInterval,
    /// `[inventory]`.
    #[serde(default)]
    pub inventory: RawInterval,
    /// `[spool]`.
    #[serde(default)]
    pub spool: RawSpool,
}

/// `[checks]` of [`RawSettings`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChecks {
    /// Duration such as `1h`.
    pub interval: Option<String>,
    /// 1–5.
    pub level: Option<u8>,
}

/// `[fim]` of [`RawSettings`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFim {
    /// Absolute paths.
    pub paths: Option<Vec<String>>,
    /// Globs.
    pub exclude: Option<Vec<String>>,
    /// Changes per second per tree.
    pub storm_threshold: Option<u64>,
}

/// A section with only an `interval`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterval {
    /// Duration such as `5s`.
    pub interval: Option<String>,
}

/// `[spool]` of [`RawSettings`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpool {
    /// Size such as `256MiB`.
    pub max_size: Option<String>,
}

impl RawSettings {
    /// Validates every field, reporting every problem at once (`fim.paths[1]: …`). Ranges are
    /// only sanity bounds: each agent still refuses values outside what its own agent.toml
    /// allows.
    ///
    /// # Errors
    /// One message per bad field.
    pub fn validate(&self) -> Result<Settings, Vec<String>> {
        let mut errs = Vec::new();
        let mut dur = |field: &str, v: &Option<String>| -> Option<u64> {
            let s = v.as_deref()?;
            match vigil_proto::units::parse_duration(s) {
                Ok(d) if d.as_secs() >= 1 => Some(d.as_secs()),
                Ok(_) => {
                    errs.push(format!("{field}: {s:?} is shorter than one second"));
                    None
                }
                Err(e) => {
                    errs.push(format!("{field}: {e}"));
                    None
                }
            }
        };
        let mut out = Settings {
            check_interval_s: dur("checks.interval", &self.checks.interval),
            netwatch_interval_s: dur("netwatch.interval", &self.netwatch.interval),
            inventory_interval_s: dur("inventory.interval", &self.inventory.interval),
            ..Settings::default()
        };
        if let Some(l) = self.checks.level {
            if (1..=5).contains(&l) {
                out.agency_level = Some(l);
            } else {
                errs.push(format!("checks.level: {l} is not a level from 1 to 5"));
            }
        }
        if let Some(paths) = &self.fim.paths {
            for (i, p) in paths.iter().enumerate() {
                if !p.starts_with('/') || p.split('/').any(|c| c == "..") || p.contains('\0') {
                    errs.push(format!(
                        "fim.paths[{i}]: {p:?} must be an absolute path without `..`"
                    ));
                }
            }
            out.fim_paths = Some(paths.clone());
        }
        if let Some(ex) = &self.fim.exclude {
            // The agent compiles the globs and refuses a bad one with a health finding.
            for (i, g) in ex.iter().enumerate() {
                if g.is_empty() || g.contains('\0') {
                    errs.push(format!("fim.exclude[{i}]: {g:?} is not a glob"));
                }
            }
            out.fim_exclude = Some(ex.clone());
        }
        match self.fim.storm_threshold {
            Some(0) => errs.push("fim.storm_threshold: must be at least 1".into()),
            t => out.storm_threshold = t,
        }
        if let Some(s) = &self.spool.max_size {
            match vigil_proto::units::parse_size(s) {
                Ok(0) => errs.push("spool.max_size: must be above 0".into()),
                Ok(n) => out.spool_budget_bytes = Some(n),
                Err(e) => errs.push(format!("spool.max_size: {e}")),
            }
        }
        if errs.is_empty() { Ok(out) } else { Err(errs) }
    }
}

/// Checks a policy name: 1–64 characters of `a-z 0-9 - _ .`.
///
/// # Errors
/// A message naming what is allowed.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "policy name {name:?}: expected 1 to {MAX_NAME} characters of a-z, 0-9, '-', '_', '.'"
        ))
    }
}

/// Parses rule packs `(file name, text)` with the agent's own parser; all or nothing: every
/// error is returned, as `file:line: message`, and duplicate pack ids are refused.
///
/// # Errors
/// One message per bad pack.
pub fn parse_packs(files: &[(String, String)]) -> Result<Vec<PolicyPack>, Vec<String>> {
    let mut errs = Vec::new();
    let mut packs: BTreeMap<String, (String, PolicyPack)> = BTreeMap::new();
    if files.len() > MAX_PACKS {
        errs.push(format!(
            "{} packs, at most {MAX_PACKS} in one policy",
            files.len()
        ));
    }
    for (file, text) in files {
        match vigil_rules::parse_pack(text, Path::new(file)) {
            Ok(p) => {
                if let Some((other, _)) = packs.get(&p.id) {
                    errs.push(format!(
                        "{file}: pack id {:?} is also the id of {other}",
                        p.id
                    ));
                    continue;
                }
                let pack = PolicyPack {
                    id: p.id.clone(),
                    version: p.version.clone(),
                    source: text.clone(),
                };
                packs.insert(p.id, (file.clone(), pack));
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    if errs.is_empty() {
        Ok(packs.into_values().map(|(_, p)| p).collect())
    } else {
        Err(errs)
    }
}

/// True when `agency` is in the subtree at `root` (the empty root is the whole organisation).
pub fn within(agency: &str, root: &str) -> bool {
    root.is_empty()
        || agency
            .strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The policy in force for one agency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// Bundle version (0: no policy was ever assigned on its path).
    pub version: u64,
    /// The policies that apply, shallowest first: (assigned at, policy name, policy version).
    pub layers: Vec<Layer>,
    /// The merged content.
    pub content: PolicyContent,
}

/// One policy applying to an agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layer {
    /// Agency the policy is assigned to.
    pub agency: String,
    /// Policy name.
    pub policy: String,
    /// Its version in force.
    pub version: i64,
}

impl Resolved {
    /// `name@version` of each layer, for reports and listings (`none` without a policy).
    pub fn label(&self) -> String {
        if self.layers.is_empty() {
            return "none".into();
        }
        self.layers
            .iter()
            .map(|l| format!("{}@{}", l.policy, l.version))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// Merges the policies assigned on `agency`'s path, deepest last, key by key. The version is
/// the highest revision among those assignment rows (unassigned ones included) and the policy
/// versions they name, so it only grows (see [`crate::store::policy`]).
///
/// # Errors
/// A message when a stored body is corrupt.
pub fn resolve<V: std::borrow::Borrow<PolicyVersion>>(
    agency: &str,
    assignments: &[PolicyAssignment],
    latest: &HashMap<String, V>,
) -> Result<Resolved, String> {
    let mut path: Vec<&PolicyAssignment> = assignments
        .iter()
        .filter(|a| within(agency, &a.agency))
        .collect();
    path.sort_by_key(|a| a.agency.matches('/').count());
    let mut out = Resolved::default();
    let mut packs: BTreeMap<String, PolicyPack> = BTreeMap::new();
    let mut rev = 0i64;
    for a in path {
        rev = rev.max(a.rev);
        let Some(p) = a
            .policy
            .as_deref()
            .and_then(|n| latest.get(n))
            .map(V::borrow)
        else {
            continue;
        };
        rev = rev.max(p.rev);
        let c = PolicyContent::from_body(&p.body)?;
        out.content.settings.apply(&c.settings);
        for pack in c.packs {
            packs.insert(pack.id.clone(), pack);
        }
        out.layers.push(Layer {
            agency: a.agency.clone(),
            policy: p.name.clone(),
            version: p.version,
        });
    }
    out.content.packs = packs.into_values().collect();
    out.version = u64::try_from(rev).unwrap_or(0);
    Ok(out)
}

/// The central policies in force in the subtree at `scope` (everything for `None`), for
/// reports: each agency with an assignment of its own, as `agency: name@version + … (#N)` (N
/// the bundle version; no words, so both languages show it as is),
/// `; ` separated; empty when none is assigned.
///
/// # Errors
/// Store errors; a corrupt stored policy as [`crate::store::StoreError::Corrupt`].
pub fn in_force(
    store: &dyn crate::store::Store,
    scope: Option<&str>,
) -> crate::store::Result<String> {
    let book = PolicyBook::load(store)?;
    let mut out = Vec::new();
    for a in store.policies().policy_assignments()? {
        if a.policy.is_none() || !within(&a.agency, scope.unwrap_or("")) {
            continue;
        }
        let r = book
            .resolve(&a.agency)
            .map_err(crate::store::StoreError::Corrupt)?;
        out.push(format!("{}: {} (#{})", a.agency, r.label(), r.version));
    }
    Ok(out.join("; "))
}

/// The collector's rule catalogue with the rules of every policy's newest version added, so
/// results of rules pushed by policies count in scores with the severity, group and level their
/// pack gives them. A built-in rule keeps its built-in definition: a policy pack reusing its id
/// cannot make it count less. A stored pack that no longer parses is left out (logged).
///
/// # Errors
/// Store errors.
pub fn catalog(
    store: &dyn crate::store::Store,
) -> crate::store::Result<crate::catalog::RuleCatalog> {
    Ok(catalog_of(&store.policies().policies_latest()?))
}

/// [`catalog`] over the given newest policy versions (by name, so two policies defining one
/// rule id give the same catalogue every time).
pub(crate) fn catalog_of<'a>(
    latest: impl IntoIterator<Item = &'a PolicyVersion>,
) -> crate::catalog::RuleCatalog {
    let mut latest: Vec<&PolicyVersion> = latest.into_iter().collect();
    latest.sort_by(|a, b| a.name.cmp(&b.name));
    let mut packs = Vec::new();
    for v in latest {
        let Ok(c) = PolicyContent::from_body(&v.body) else {
            tracing::warn!(policy = %v.name, "Stored policy body is corrupt; its rules are not in the catalogue.");
            continue;
        };
        for p in c.packs {
            match vigil_rules::parse_pack(&p.source, Path::new(&p.id)) {
                Ok(pack) => packs.push(pack),
                Err(e) => {
                    tracing::warn!(policy = %v.name, error = %e, "Stored policy pack does not parse.")
                }
            }
        }
    }
    packs.extend(vigil_rules::builtin_packs().unwrap_or_default());
    crate::catalog::RuleCatalog::from_packs(&packs)
}

#[cfg(test)]
pub(crate) mod tests;
