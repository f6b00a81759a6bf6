//! Offline Windows volumes for tests and benchmarks, built from text.
//!
//! A fixture is `.reg` text (any machine hive: `SOFTWARE`, `SYSTEM`, ...) plus an [`Accounts`]
//! description of what the SAM and SECURITY hives hold in binary records (the account policy,
//! local users, the audit policy, user rights, the primary domain), encoded with the same record
//! layouts the offline reader decodes. [`build`] writes the hives under
//! `Windows/System32/config` of a directory, which `vigil-agent check --root` then reads like a
//! mounted Windows volume.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::{AccountPolicy, AuditFlags, AuditPolicy, LocalUser, audit, lsa, sam};
use crate::hive::reg::{self, Hives};
use crate::hive::write::{KeyTree, write_hive};

/// The password and lockout policy, as written in a fixture.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFixture {
    /// Minimum password length.
    pub min_password_length: u32,
    /// Passwords remembered.
    pub password_history: u32,
    /// Maximum age in days; absent (or `null`) never expires.
    #[serde(default)]
    pub max_password_age_days: Option<u32>,
    /// Minimum age in days.
    pub min_password_age_days: u32,
    /// Lockout threshold.
    pub lockout_threshold: u32,
    /// Lockout duration in minutes; absent until an administrator unlocks.
    #[serde(default)]
    pub lockout_duration_minutes: Option<u32>,
    /// Counter reset in minutes.
    pub lockout_window_minutes: u32,
    /// Complexity required.
    pub complexity: bool,
    /// Reversible encryption.
    #[serde(default)]
    pub reversible_encryption: bool,
    /// The built-in Administrator can be locked out.
    #[serde(default)]
    pub admin_lockout: bool,
}

/// A local user, as written in a fixture.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFixture {
    /// Relative id.
    pub rid: u32,
    /// Disabled.
    #[serde(default)]
    pub disabled: bool,
    /// A password is required.
    #[serde(default = "yes")]
    pub password_required: bool,
    /// The password expires.
    #[serde(default = "yes")]
    pub password_expires: bool,
    /// Days since the last logon; absent means never.
    #[serde(default)]
    pub last_logon_days: Option<u64>,
}

fn yes() -> bool {
    true
}

/// What the SAM and SECURITY hives of a fixture hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    /// Account policy.
    pub policy: PolicyFixture,
    /// Local users by name.
    #[serde(default)]
    pub users: BTreeMap<String, UserFixture>,
    /// Audit settings by subcategory name: `success`, `failure`, `success_and_failure`, `none`.
    #[serde(default)]
    pub audit: BTreeMap<String, String>,
    /// User rights: constant → SIDs.
    #[serde(default)]
    pub rights: BTreeMap<String, Vec<String>>,
    /// SID of the primary domain; absent on a workgroup machine.
    #[serde(default)]
    pub domain_sid: Option<String>,
}

/// Writes the hives of `reg_text` and `accounts` under `dir/Windows/System32/config`.
///
/// # Errors
/// A syntax error in the `.reg` text, an unknown subcategory, right or SID, or an I/O error.
pub fn build(
    dir: &Path,
    reg_text: &str,
    accounts: &Accounts,
    now: SystemTime,
) -> Result<(), String> {
    let mut hives = Hives::new();
    hives.insert("SAM".into(), sam_tree(accounts, now));
    hives.insert("SECURITY".into(), security_tree(accounts)?);
    reg::apply(reg_text, &mut hives).map_err(|e| format!(".reg text: {e}"))?;
    let config = dir.join("Windows").join("System32").join("config");
    std::fs::create_dir_all(&config).map_err(|e| format!("{}: {e}", config.display()))?;
    for (name, tree) in &hives {
        let f = config.join(name);
        std::fs::write(&f, write_hive(tree)).map_err(|e| format!("{}: {e}", f.display()))?;
    }
    Ok(())
}

fn sam_tree(a: &Accounts, now: SystemTime) -> KeyTree {
    let p = &a.policy;
    let policy = AccountPolicy {
        min_password_length: p.min_password_length,
        password_history: p.password_history,
        max_password_age_days: p.max_password_age_days,
        min_password_age_days: p.min_password_age_days,
        lockout_threshold: p.lockout_threshold,
        lockout_duration_minutes: p.lockout_duration_minutes,
        lockout_window_minutes: p.lockout_window_minutes,
        complexity: p.complexity,
        reversible_encryption: p.reversible_encryption,
        admin_lockout: p.admin_lockout,
    };
    let mut root = KeyTree::new("SAM");
    let account = root.key_mut(r"SAM\Domains\Account");
    account.set(
        "F",
        crate::hive::kind::BINARY,
        sam::encode_domain_f(&policy),
    );
    for (name, u) in &a.users {
        let user = LocalUser {
            name: name.clone(),
            rid: u.rid,
            disabled: u.disabled,
            password_required: u.password_required,
            password_expires: u.password_expires,
            last_logon: u
                .last_logon_days
                .map(|d| now - Duration::from_secs(d * 86_400)),
        };
        // The name key's default value has the RID as its type and no data.
        root.key_mut(&format!(r"SAM\Domains\Account\Users\Names\{name}"))
            .set("", u.rid, Vec::new());
        root.key_mut(&format!(r"SAM\Domains\Account\Users\{:08X}", u.rid))
            .set("F", crate::hive::kind::BINARY, sam::encode_user_f(&user));
    }
    root
}

fn security_tree(a: &Accounts) -> Result<KeyTree, String> {
    let mut policy = AuditPolicy::default();
    for (name, how) in &a.audit {
        let sub = audit::lookup(name).ok_or_else(|| format!("unknown subcategory {name:?}"))?;
        let flags = match how.as_str() {
            "success" => (true, false),
            "failure" => (false, true),
            "success_and_failure" => (true, true),
            "none" => (false, false),
            other => {
                return Err(format!(
                    "audit {name:?}: {other:?} is not success|failure|success_and_failure|none"
                ));
            }
        };
        policy.settings.insert(
            audit::guid(sub.2),
            AuditFlags {
                success: flags.0,
                failure: flags.1,
            },
        );
    }
    let mut root = KeyTree::new("SECURITY");
    root.key_mut(r"Policy\PolAdtEv")
        .set("", crate::hive::kind::NONE, audit::encode(&policy));
    let mut by_sid: BTreeMap<String, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for (right, sids) in &a.rights {
        if !lsa::is_right(right) {
            return Err(format!("unknown user right {right:?}"));
        }
        let logon = lsa::LOGON_RIGHTS.iter().any(|(_, n)| n == right);
        for sid in sids {
            let e = by_sid.entry(sid.clone()).or_default();
            if logon {
                e.1.push(right);
            } else {
                e.0.push(right);
            }
        }
    }
    for (sid, (privs, logons)) in by_sid {
        let bytes = lsa::encode_sid(&sid).ok_or_else(|| format!("{sid:?} is not a SID"))?;
        let acc = root.key_mut(&format!(r"Policy\Accounts\{sid}"));
        acc.key_mut("Sid").set("", crate::hive::kind::NONE, bytes);
        if !privs.is_empty() {
            acc.key_mut("Privilgs").set(
                "",
                crate::hive::kind::NONE,
                lsa::encode_privileges(&privs),
            );
        }
        if !logons.is_empty() {
            acc.key_mut("ActSysAc").set(
                "",
                crate::hive::kind::NONE,
                lsa::encode_logon_rights(&logons),
            );
        }
    }
    let domain = match &a.domain_sid {
        Some(s) => lsa::encode_sid(s).ok_or_else(|| format!("domain_sid {s:?} is not a SID"))?,
        None => Vec::new(),
    };
    root.key_mut(r"Policy\PolPrDmS")
        .set("", crate::hive::kind::NONE, domain);
    Ok(root)
}

/// Expands time placeholders in fixture `.reg` text, so that ages stay right whenever the test
/// runs: `{{filetime:-3d}}` becomes the 8 bytes of the FILETIME 3 days before `now` as a hex list
/// (for `hex:` values), `{{filetime_hi:-3d}}` and `{{filetime_lo:-3d}}` its high and low halves as
/// 8 hex digits (for `dword:` values). Offsets take `d` (days) or `h` (hours).
///
/// # Errors
/// An unknown placeholder or offset.
pub fn expand(text: &str, now: SystemTime) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unterminated placeholder at {:?}", &rest[start..]))?;
        let (kind, offset) = after[..end]
            .split_once(':')
            .ok_or_else(|| format!("placeholder {:?} has no offset", &after[..end]))?;
        let ft = sam::to_filetime(shifted(now, offset)?);
        match kind {
            "filetime" => out.push_str(
                &ft.to_le_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            "filetime_hi" => out.push_str(&format!("{:08x}", ft >> 32)),
            "filetime_lo" => out.push_str(&format!("{:08x}", ft & 0xFFFF_FFFF)),
            other => return Err(format!("unknown placeholder {other:?}")),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn shifted(now: SystemTime, offset: &str) -> Result<SystemTime, String> {
    let o = offset.trim();
    let (num, unit) = o.split_at(o.len().saturating_sub(1));
    let secs_per = match unit {
        "d" => 86_400,
        "h" => 3_600,
        _ => return Err(format!("offset {o:?} must end in d or h")),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("offset {o:?} is not a number of days or hours"))?;
    let d = Duration::from_secs(n.unsigned_abs() * secs_per);
    Ok(if n < 0 { now - d } else { now + d })
}

/// Merges a fixture patch into a base description (YAML): mappings merge key by key and a `null`
/// removes the key; anything else is replaced.
pub fn merge(base: &mut serde_norway::Value, over: &serde_norway::Value) {
    use serde_norway::Value;
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(slot) = b.get_mut(k) {
                    merge(slot, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}
