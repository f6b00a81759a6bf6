//! What the collector itself knows about rules: its catalogue of rule packs (DESIGN §10).
//!
//! An agent's check result claims a severity and a scoring group; for a rule the catalogue
//! knows, the catalogue's own values replace the claim before anything is stored or alerted on
//! ([`RuleCatalog::normalize`]), so an agent cannot turn its critical failures into low ones or
//! move them to a group that does not count. The catalogue also names the pack versions the
//! collector knows, which are the only pack names shown with a score ([`RuleCatalog::packs_label`]):
//! agents' free-form pack strings never reach another agency's history.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use vigil_proto::{CheckResult, Envelope, Finding, Severity};

/// The collector's own rule in the patching group: a host runs a package with a critical
/// advisory whose fixed version has been known for longer than [`VULN_PATCH_WINDOW_DAYS`]
/// (issue 23). Its result is never taken from an agent: scoring derives it from the matches.
pub const VULN_RULE: &str = "vuln-critical-fix-overdue";
/// The pack the collector's own rule is shown under.
pub const VULN_PACK: &str = "vigil-vulnerabilities@1";
/// The patch window of every level: user PCs and servers are patched monthly at levels 1 to 5
/// (CONTROLS x.7.2.2).
pub const VULN_PATCH_WINDOW_DAYS: i64 = 30;

/// A rule as the catalogue knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    min_level: u8,
    severity: Severity,
    group: String,
}

/// The collector's rule catalogue.
#[derive(Debug, Clone, Default)]
pub struct RuleCatalog {
    rules: HashMap<String, Known>,
    packs: BTreeSet<String>,
}

impl RuleCatalog {
    /// The catalogue of the rule packs built into this collector.
    pub fn builtin() -> Self {
        // The built-in packs are compiled in and tested; should one ever fail to parse, every
        // rule is simply treated as unknown (not common, level unchanged, claims kept).
        Self::from_packs(&vigil_rules::builtin_packs().unwrap_or_default())
    }

    /// The catalogue of `packs`.
    pub fn from_packs(packs: &[vigil_rules::Pack]) -> Self {
        let mut c = Self::default();
        c.packs.insert(VULN_PACK.to_owned());
        c.rules.insert(
            VULN_RULE.to_owned(),
            Known {
                min_level: 1,
                severity: Severity::High,
                group: "patching".to_owned(),
            },
        );
        for pack in packs {
            c.packs.insert(format!("{}@{}", pack.id, pack.version));
            for r in &pack.rules {
                c.rules.insert(
                    r.id.clone(),
                    Known {
                        min_level: r.min_level.map_or(1, |l| l.get()),
                        severity: r.severity,
                        group: r.group.as_str().to_owned(),
                    },
                );
            }
        }
        c
    }

    /// A catalogue from `(rule id, min level)` pairs (tests, benchmarks): severities and groups
    /// of those rules are left as agents report them.
    pub fn from_levels(levels: impl IntoIterator<Item = (String, u8)>) -> Self {
        Self {
            rules: levels
                .into_iter()
                .map(|(id, min_level)| {
                    (
                        id,
                        Known {
                            min_level,
                            severity: Severity::Low,
                            group: String::new(),
                        },
                    )
                })
                .collect(),
            packs: BTreeSet::new(),
        }
    }

    /// The same catalogue, also knowing the packs `ids` (`id@version`; tests, benchmarks).
    #[must_use]
    pub fn with_packs<'a>(mut self, ids: impl IntoIterator<Item = &'a str>) -> Self {
        self.packs.extend(ids.into_iter().map(str::to_owned));
        self
    }

    /// True when the rule applies at every level (part of the common baseline).
    pub(crate) fn is_common(&self, rule_id: &str) -> bool {
        self.min_level(rule_id) == Some(1)
    }

    /// The lowest security level the rule applies at, if the catalogue knows it.
    pub(crate) fn min_level(&self, rule_id: &str) -> Option<u8> {
        self.rules.get(rule_id).map(|k| k.min_level)
    }

    /// Replaces the severity and group an agent claims for a rule the catalogue knows.
    /// Returns whether the claim differed.
    pub fn normalize(&self, c: &mut CheckResult) -> bool {
        let Some(k) = self.rules.get(&c.rule_id) else {
            return false;
        };
        if k.group.is_empty() {
            return false;
        }
        let differed = c.severity != k.severity || c.group != k.group;
        c.severity = k.severity;
        c.group.clone_from(&k.group);
        differed
    }

    /// [`RuleCatalog::normalize`] over every check result of a batch; returns how many claims
    /// were corrected.
    pub fn normalize_batch(&self, batch: &mut [Envelope]) -> usize {
        batch
            .iter_mut()
            .filter_map(|e| match &mut e.finding {
                Finding::CheckResult(c) => self.normalize(c).then_some(()),
                _ => None,
            })
            .count()
    }

    /// The label of the packs behind a set of results: the known `id@version`s among them,
    /// sorted, plus a count of the others ("+2 other packs"), never their names.
    pub fn packs_label<'a>(&self, packs: impl IntoIterator<Item = &'a str>) -> String {
        let mut known = BTreeSet::new();
        let mut other = BTreeSet::new();
        for p in packs {
            if self.packs.contains(p) {
                known.insert(p);
            } else {
                other.insert(p);
            }
        }
        let mut label = known.into_iter().collect::<Vec<_>>().join(",");
        if !other.is_empty() {
            if !label.is_empty() {
                label.push(' ');
            }
            label.push_str(&format!(
                "+{} other pack{}",
                other.len(),
                if other.len() == 1 { "" } else { "s" }
            ));
        }
        label
    }
}

/// The catalogue a running collector corrects batches with, replaced while sessions read it:
/// policies add rules at run time (from this process, the CLI or another collector sharing the
/// store), and their results must be corrected with the new rules' severity and group at once,
/// not after a restart.
#[derive(Debug, Default)]
pub struct SharedCatalog(RwLock<Arc<RuleCatalog>>);

impl SharedCatalog {
    /// A shared catalogue starting as `c`.
    pub fn new(c: RuleCatalog) -> Self {
        Self(RwLock::new(Arc::new(c)))
    }

    /// The catalogue in force (a batch uses one catalogue from start to end).
    pub fn current(&self) -> Arc<RuleCatalog> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `c` in force for the batches that start from now on.
    pub fn replace(&self, c: RuleCatalog) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::Status;

    fn claim(rule: &str, severity: Severity, group: &str) -> CheckResult {
        CheckResult {
            rule_id: rule.into(),
            pack: "linux-baseline@1.0.0".into(),
            status: Status::Fail,
            severity,
            group: group.into(),
            controls: vec![],
            evidence: String::new(),
        }
    }

    #[test]
    fn known_rules_take_the_catalogues_severity_and_group() {
        let c = RuleCatalog::builtin();
        let pack = &vigil_rules::builtin_packs().expect("packs")[0];
        let rule = pack
            .rules
            .iter()
            .find(|r| r.severity == Severity::Critical)
            .expect("a critical rule");
        let mut r = claim(&rule.id, Severity::Low, "backup");
        assert!(c.normalize(&mut r));
        assert_eq!(
            (r.severity, r.group.as_str()),
            (Severity::Critical, rule.group.as_str())
        );
        assert!(!c.normalize(&mut r), "already as the catalogue says");
        let mut custom = claim("site-rule-1", Severity::Low, "backup");
        assert!(!c.normalize(&mut custom));
        assert_eq!(
            custom.severity,
            Severity::Low,
            "unknown rules keep their claim"
        );
    }

    #[test]
    fn pack_labels_name_only_known_packs() {
        let c = RuleCatalog::builtin();
        let pack = &vigil_rules::builtin_packs().expect("packs")[0];
        let known = format!("{}@{}", pack.id, pack.version);
        let evil = "x".repeat(4096);
        assert_eq!(c.packs_label([known.as_str()]), known);
        assert_eq!(
            c.packs_label([known.as_str(), evil.as_str(), "site@1"]),
            format!("{known} +2 other packs")
        );
        assert_eq!(c.packs_label(["site@1"]), "+1 other pack");
        assert_eq!(c.packs_label([]), "");
    }
}
