//! Evaluation of the Windows check kinds and of Windows applicability.
//!
//! Everything reads the host through [`crate::windows::WindowsFacts`] (memoised per run in the
//! cache); on a host without Windows facts every Windows check is an error naming the reason.

use crate::compare::{CmpMode, Comparison};
use crate::pack::windows::{
    AccountField, AccountPolicyCheck, AccountSelect, AuditPolicyCheck, AuditWhat, LocalUserCheck,
    PolicyField, RegistryCheck, UserRightCheck, ViewChoice, WindowsCheck,
};
use crate::pack::{Missing, Platform, ServiceCheck};
use crate::windows::derived::{self, Args};
use crate::windows::{Memo, RegPath, RegRoot, RegView, WindowsFacts, find, lsa};

use super::{Ctx, Outcome, error, fail, pass, verdict};

/// Shown for "never" in numeric policy fields.
const NEVER: u32 = u32::MAX;

impl Ctx<'_, '_> {
    fn win(&self) -> Result<&dyn WindowsFacts, String> {
        self.cache
            .win
            .facts
            .ok_or_else(|| "not a Windows host (no Windows registry under the root)".into())
    }

    /// Compares `actual` and words the outcome: `what = actual satisfies/does not satisfy cmp`.
    fn compare(&self, what: &str, actual: &str, cmp: &Comparison, note: &str) -> Outcome {
        let want = self.cmp_text(cmp);
        let note = if note.is_empty() {
            String::new()
        } else {
            format!(" ({note})")
        };
        match self.holds(cmp, actual, CmpMode::Auto) {
            Ok(true) => pass(format!("{what} = {actual}{note}, satisfies {want}")),
            Ok(false) => fail(format!("{what} = {actual}{note}, expected {want}")),
            Err(e) => error(e),
        }
    }

    pub(super) fn registry(&self, r: &RegistryCheck) -> Outcome {
        let w = match self.win() {
            Ok(w) => w,
            Err(e) => return error(format!("registry key {}: {e}", r.key.raw)),
        };
        let path = match &r.key.parsed {
            Ok(p) => p,
            Err(e) => return error(e.clone()),
        };
        let views: &[RegView] = match r.view {
            ViewChoice::Native => &[RegView::Native],
            ViewChoice::Wow64 => &[RegView::Wow64],
            ViewChoice::Either => &[RegView::Native, RegView::Wow64],
        };
        let mut values = None;
        for v in views {
            match w.reg_values(path, *v) {
                Ok(Some(vals)) => {
                    values = Some(vals);
                    break;
                }
                Ok(None) => {}
                Err(e) => return error(e),
            }
        }
        let Some(name) = &r.name else {
            let want = r.exists.unwrap_or(true);
            let is = values.is_some();
            return verdict(
                is == want,
                format!("{path} {}", if is { "exists" } else { "does not exist" }),
            );
        };
        let shown = if name.is_empty() {
            format!("{path}\\(default)")
        } else {
            format!("{path}\\{name}")
        };
        let found = values.as_deref().and_then(|v| find(v, name));
        if r.exists == Some(false) {
            return verdict(
                found.is_none(),
                if found.is_some() {
                    format!("{shown} is set")
                } else {
                    format!("{shown} is not set")
                },
            );
        }
        let (actual, note) = match (found, &r.default) {
            (Some(v), _) => (v.data.text(), String::new()),
            (None, Some(d)) => (d.clone(), "not set, Windows default".to_string()),
            (None, None) => return fail(format!("{shown} is not set")),
        };
        match &r.value {
            Some(cmp) => self.compare(&shown, &actual, cmp, &note),
            None => pass(format!("{shown} is set")),
        }
    }

    pub(super) fn account_policy(&self, a: &AccountPolicyCheck) -> Outcome {
        let p = match self.cache.win.account_policy() {
            Ok(p) => p,
            Err(e) => return error(format!("account policy: {e}")),
        };
        let (name, n, never): (&str, u32, bool) = match a.field {
            PolicyField::MinPasswordLength => {
                ("minimum password length", p.min_password_length, false)
            }
            PolicyField::PasswordHistory => ("password history", p.password_history, false),
            PolicyField::MaxPasswordAge => (
                "maximum password age (days)",
                p.max_password_age_days.unwrap_or(NEVER),
                p.max_password_age_days.is_none(),
            ),
            PolicyField::MinPasswordAge => (
                "minimum password age (days)",
                p.min_password_age_days,
                false,
            ),
            PolicyField::LockoutThreshold => ("lockout threshold", p.lockout_threshold, false),
            PolicyField::LockoutDuration => (
                "lockout duration (minutes)",
                p.lockout_duration_minutes.unwrap_or(NEVER),
                p.lockout_duration_minutes.is_none(),
            ),
            PolicyField::LockoutWindow => (
                "lockout counter reset (minutes)",
                p.lockout_window_minutes,
                false,
            ),
            PolicyField::PasswordComplexity => {
                return self.compare(
                    "password complexity",
                    &p.complexity.to_string(),
                    &a.value,
                    "",
                );
            }
            PolicyField::AdminLockout => {
                return self.compare(
                    "administrator lockout",
                    &p.admin_lockout.to_string(),
                    &a.value,
                    "",
                );
            }
            PolicyField::ReversibleEncryption => {
                return self.compare(
                    "reversible password encryption",
                    &p.reversible_encryption.to_string(),
                    &a.value,
                    "",
                );
            }
        };
        let note = if never { "never" } else { "" };
        self.compare(name, &n.to_string(), &a.value, note)
    }

    pub(super) fn audit_policy(&self, a: &AuditPolicyCheck) -> Outcome {
        let p = match self.cache.win.audit_policy() {
            Ok(p) => p,
            Err(e) => return error(format!("audit policy: {e}")),
        };
        let Some(flags) = p.settings.get(&a.subcategory.guid) else {
            return error(format!(
                "audit policy: {} is not in the decoded policy",
                a.subcategory.name
            ));
        };
        let lacking: Vec<&str> = a
            .includes
            .iter()
            .filter(|w| match w {
                AuditWhat::Success => !flags.success,
                AuditWhat::Failure => !flags.failure,
            })
            .map(|w| match w {
                AuditWhat::Success => "Success",
                AuditWhat::Failure => "Failure",
            })
            .collect();
        let what = format!("audit {:?}: {flags}", a.subcategory.name);
        if lacking.is_empty() {
            pass(what)
        } else {
            fail(format!("{what}, lacks {}", lacking.join(" and ")))
        }
    }

    pub(super) fn user_right(&self, u: &UserRightCheck) -> Outcome {
        let rights = match self.cache.win.user_rights() {
            Ok(r) => r,
            Err(e) => return error(format!("user rights: {e}")),
        };
        let holders = rights.get(&u.right.0).cloned().unwrap_or_default();
        let shown = if holders.is_empty() {
            "no one".to_string()
        } else {
            holders
                .iter()
                .map(|s| lsa::sid_label(s))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let has = |sid: &str| holders.iter().any(|h| h.eq_ignore_ascii_case(sid));
        let missing: Vec<String> = u
            .includes
            .iter()
            .filter(|s| !has(&s.0))
            .map(|s| lsa::sid_label(&s.0))
            .collect();
        if !missing.is_empty() {
            return fail(format!(
                "{} is held by {shown}; missing {}",
                u.right.0,
                missing.join(", ")
            ));
        }
        if let Some(only) = &u.only {
            let extra: Vec<String> = holders
                .iter()
                .filter(|h| !only.iter().any(|o| o.0.eq_ignore_ascii_case(h)))
                .map(|h| lsa::sid_label(h))
                .collect();
            if !extra.is_empty() {
                return fail(format!(
                    "{} is also held by {}",
                    u.right.0,
                    extra.join(", ")
                ));
            }
        }
        pass(format!("{} is held by {shown}", u.right.0))
    }

    pub(super) fn local_user(&self, u: &LocalUserCheck) -> Outcome {
        let users = match self.cache.win.local_users() {
            Ok(u) => u,
            Err(e) => return error(format!("local accounts: {e}")),
        };
        let now = self.cache.host.now();
        let selected: Vec<_> = users
            .iter()
            .filter(|a| u.rid.is_none_or(|r| r == a.rid))
            .filter(|a| u.select == AccountSelect::All || !a.disabled)
            .filter(|a| !u.allow.iter().any(|n| n.eq_ignore_ascii_case(&a.name)))
            .collect();
        let which = u.rid.map_or_else(
            || "local accounts".to_string(),
            |r| format!("account RID {r}"),
        );
        if selected.is_empty() {
            return match u.missing {
                Some(Missing::Fail) => fail(format!("no {which}")),
                _ => pass(format!("no {which}")),
            };
        }
        let mut bad = Vec::new();
        for a in &selected {
            let v = match u.field {
                AccountField::Name => a.name.clone(),
                AccountField::Disabled => a.disabled.to_string(),
                AccountField::PasswordRequired => a.password_required.to_string(),
                AccountField::PasswordExpires => a.password_expires.to_string(),
                AccountField::DaysSinceLogon => a.last_logon.map_or(NEVER.to_string(), |t| {
                    (now.duration_since(t).map_or(0, |d| d.as_secs() / 86_400)).to_string()
                }),
            };
            match self.holds(&u.value, &v, CmpMode::Auto) {
                Ok(true) => {}
                Ok(false) => bad.push(format!("{} (RID {}: {v})", a.name, a.rid)),
                Err(e) => return error(e),
            }
        }
        let want = self.cmp_text(&u.value);
        if bad.is_empty() {
            pass(format!(
                "{} account(s) satisfy {:?} {want}: {}",
                selected.len(),
                u.field,
                selected
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else {
            fail(format!(
                "{:?} must satisfy {want}: {}",
                u.field,
                bad.join(", ")
            ))
        }
    }

    pub(super) fn windows_fact(&self, c: &WindowsCheck) -> Outcome {
        let w = match self.win() {
            Ok(w) => w,
            Err(e) => return error(format!("{:?}: {e}", c.fact)),
        };
        let args = Args {
            profile: c.profile.map(Into::into),
            log: c.log,
        };
        match derived::observe(w, c.fact, args, self.cache.host.now()) {
            Ok(o) => {
                let want = self.cmp_text(&c.value);
                match self.holds(&c.value, &o.value, CmpMode::Auto) {
                    Ok(true) => pass(o.evidence),
                    Ok(false) => fail(format!("{}; expected {want}", o.evidence)),
                    Err(e) => error(e),
                }
            }
            Err(e) => error(e),
        }
    }

    /// A `service` check on Windows: `enabled` means installed and not disabled (`Start` ≠ 4),
    /// `active` that it runs (known only on the running system).
    pub(super) fn win_service(&self, s: &ServiceCheck, w: &dyn WindowsFacts) -> Outcome {
        let key = RegPath {
            root: RegRoot::LocalMachine,
            path: format!(r"SYSTEM\CurrentControlSet\Services\{}", s.name),
        };
        let start = match w.reg_values(&key, RegView::Native) {
            Ok(None) => None,
            Ok(Some(v)) => Some(find(&v, "Start").and_then(|x| x.data.number())),
            Err(e) => return error(e),
        };
        let state = match start {
            None => "not installed".to_string(),
            Some(Some(4)) => "disabled (Start=4)".to_string(),
            Some(Some(n)) => format!("installed, Start={n}"),
            Some(None) => "installed without a Start value".to_string(),
        };
        let mut notes = Vec::new();
        if s.masked.is_some() {
            return error("service: `masked` has no meaning on Windows");
        }
        if let Some(want) = s.enabled {
            let is = matches!(start, Some(Some(n)) if n != 4);
            if is != want {
                return fail(format!("{} is {state}", s.name));
            }
            notes.push(format!("{} is {state}", s.name));
        }
        if let Some(want) = s.active {
            match w.service_running(&s.name) {
                Ok(is) if is != want => {
                    return fail(format!(
                        "{} is {}",
                        s.name,
                        if is { "running" } else { "not running" }
                    ));
                }
                Ok(is) => notes.push(format!(
                    "{} is {}",
                    s.name,
                    if is { "running" } else { "not running" }
                )),
                Err(e) => return error(e),
            }
        }
        pass(notes.join("; "))
    }
}

/// Applicability of a platform list on a Windows host: `Ok(None)` applies, `Ok(Some(why))`
/// does not, `Err` unknown.
pub(super) fn platform_match(
    memo: &Memo<'_>,
    conds: &[Platform],
) -> Result<Option<String>, String> {
    let host = memo.platform()?;
    let mut domain: Option<Result<bool, String>> = None;
    for c in conds {
        if !c.os.eq_ignore_ascii_case("windows")
            || !(c.versions.is_empty() || c.versions.contains(&host.version_id))
            || !(c.role.is_empty() || c.role.contains(&host.role))
            || !(c.edition.is_empty()
                || c.edition
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(&host.edition)))
        {
            continue;
        }
        match c.domain_member {
            None => return Ok(None),
            Some(want) => {
                let is = domain.get_or_insert_with(|| memo.domain_member()).clone()?;
                if is == want {
                    return Ok(None);
                }
            }
        }
    }
    let wanted: Vec<String> = conds.iter().map(describe).collect();
    let member = match domain {
        Some(Ok(true)) => ", domain member",
        Some(Ok(false)) => ", not in a domain",
        _ => "",
    };
    Ok(Some(format!(
        "applies to {}; host is windows {} {:?} {}{member}",
        wanted.join(", "),
        host.version_id,
        host.role,
        host.edition
    )))
}

fn describe(c: &Platform) -> String {
    let mut s = c.os.clone();
    if !c.versions.is_empty() {
        s.push_str(&format!(" {}", c.versions.join("/")));
    }
    if !c.role.is_empty() {
        let r: Vec<String> = c.role.iter().map(|r| format!("{r:?}")).collect();
        s.push_str(&format!(" {}", r.join("/")));
    }
    if !c.edition.is_empty() {
        s.push_str(&format!(" ({})", c.edition.join("/")));
    }
    match c.domain_member {
        Some(true) => s.push_str(" in a domain"),
        Some(false) => s.push_str(" outside a domain"),
        None => {}
    }
    s
}
