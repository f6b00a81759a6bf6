//! Check kinds for Windows hosts: registry values, the account and audit policies, user rights,
//! local accounts and derived Windows facts. See `docs/rules-format.md`.

use serde::Deserialize;

use crate::compare::Comparison;
use crate::windows::derived::{EventLog, WinFact};
use crate::windows::{Profile, RegPath, lsa};

/// `registry` check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCheck {
    /// Key (`HKLM\...` or `HKEY_LOCAL_MACHINE\...`; `HKU\.DEFAULT\...`).
    pub key: RegKeyName,
    /// Value name (`""` for the default value); without it the key itself is checked.
    #[serde(default)]
    pub name: Option<String>,
    /// Comparison on the value data (numbers in decimal, strings as they are).
    #[serde(default)]
    pub value: Option<Comparison>,
    /// Data assumed when the value (or its key) is absent: Windows' built-in default.
    #[serde(default, deserialize_with = "crate::pack::de_opt_scalar")]
    pub default: Option<String>,
    /// Expected existence of the value (with `name`) or of the key.
    #[serde(default)]
    pub exists: Option<bool>,
    /// Registry view (`native`, the 64-bit view, by default).
    #[serde(default)]
    pub view: ViewChoice,
}

/// A registry key path validated at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegKeyName {
    /// The key as written.
    pub raw: String,
    /// The parsed path, or why it cannot be read (kept so that a pack naming a per-user key
    /// still loads and the rule reports the reason).
    pub parsed: Result<RegPath, String>,
}

impl<'de> Deserialize<'de> for RegKeyName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.trim().is_empty() {
            return Err(serde::de::Error::custom("registry key must not be empty"));
        }
        let parsed = RegPath::parse(&raw);
        Ok(RegKeyName { raw, parsed })
    }
}

/// Which registry view a `registry` check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewChoice {
    /// The 64-bit view.
    #[default]
    Native,
    /// The 32-bit view (`WOW6432Node`).
    Wow64,
    /// The 64-bit view, then the 32-bit view when the key is absent there.
    Either,
}

/// Field of the account policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyField {
    /// Minimum password length.
    MinPasswordLength,
    /// Passwords remembered.
    PasswordHistory,
    /// Maximum password age in days (4294967295 when passwords never expire).
    MaxPasswordAge,
    /// Minimum password age in days.
    MinPasswordAge,
    /// Failed logons before lockout (0: never).
    LockoutThreshold,
    /// Lockout duration in minutes (4294967295 until an administrator unlocks).
    LockoutDuration,
    /// Minutes until the failed-logon count resets.
    LockoutWindow,
    /// `true` when complexity is required.
    PasswordComplexity,
    /// `true` when reversible encryption is on.
    ReversibleEncryption,
    /// `true` when the built-in Administrator can be locked out.
    AdminLockout,
}

/// `account_policy` check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPolicyCheck {
    /// Field compared.
    pub field: PolicyField,
    /// Comparison.
    pub value: Comparison,
}

/// What an audit setting must include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditWhat {
    /// Successes.
    Success,
    /// Failures.
    Failure,
}

/// `audit_policy` check: the subcategory audits at least what `includes` lists.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditPolicyCheck {
    /// `auditpol` name (`Credential Validation`) or GUID.
    pub subcategory: AuditName,
    /// Outcomes that must be audited.
    pub includes: Vec<AuditWhat>,
}

/// A subcategory validated at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditName {
    /// Name as `auditpol` prints it.
    pub name: &'static str,
    /// GUID.
    pub guid: String,
}

impl<'de> Deserialize<'de> for AuditName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::windows::audit::lookup(&s)
            .map(|sub| AuditName {
                name: sub.1,
                guid: crate::windows::audit::guid(sub.2),
            })
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown audit subcategory {s:?} (use the name `auditpol /list /subcategory:*` prints)"
                ))
            })
    }
}

/// `user_right` check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRightCheck {
    /// Right or privilege constant (`SeDenyNetworkLogonRight`).
    pub right: RightName,
    /// SIDs that must hold it.
    #[serde(default)]
    pub includes: Vec<Sid>,
    /// SIDs allowed to hold it (no other may).
    #[serde(default)]
    pub only: Option<Vec<Sid>>,
}

/// A right or privilege constant validated at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightName(pub String);

impl<'de> Deserialize<'de> for RightName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if lsa::is_right(&s) {
            Ok(RightName(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "unknown user right {s:?} (a constant such as SeDenyNetworkLogonRight)"
            )))
        }
    }
}

/// A SID string (`S-1-5-32-544`) validated at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sid(pub String);

impl<'de> Deserialize<'de> for Sid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if lsa::encode_sid(&s).is_some() {
            Ok(Sid(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "{s:?} is not a SID (S-1-5-32-544)"
            )))
        }
    }
}

/// Field of a local account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountField {
    /// Account name.
    Name,
    /// `true` when disabled.
    Disabled,
    /// `true` when a password is required.
    PasswordRequired,
    /// `true` when the password expires.
    PasswordExpires,
    /// Days since the last logon (4294967295 when never).
    DaysSinceLogon,
}

/// Which local accounts a `local_user` check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountSelect {
    /// Every account.
    #[default]
    All,
    /// Accounts that are not disabled.
    Enabled,
}

/// `local_user` check: every selected account satisfies `value`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalUserCheck {
    /// Only the account with this RID (500 Administrator, 501 Guest).
    #[serde(default)]
    pub rid: Option<u32>,
    /// Which accounts.
    #[serde(default)]
    pub select: AccountSelect,
    /// Field compared.
    pub field: AccountField,
    /// Comparison.
    pub value: Comparison,
    /// Account names exempt.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Result when no account is selected (default `pass`).
    #[serde(default)]
    pub missing: Option<crate::pack::Missing>,
}

/// `windows` check: a derived Windows fact.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsCheck {
    /// The fact.
    pub fact: WinFact,
    /// Firewall profile, for firewall facts.
    #[serde(default)]
    pub profile: Option<ProfileName>,
    /// Event log, for event log facts.
    #[serde(default)]
    pub log: Option<EventLog>,
    /// Comparison.
    pub value: Comparison,
}

/// A firewall profile name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileName {
    /// Domain.
    Domain,
    /// Private.
    Private,
    /// Public.
    Public,
}

impl From<ProfileName> for Profile {
    fn from(p: ProfileName) -> Profile {
        match p {
            ProfileName::Domain => Profile::Domain,
            ProfileName::Private => Profile::Private,
            ProfileName::Public => Profile::Public,
        }
    }
}

/// Cross-field rules of a `windows` check.
pub(crate) fn validate_windows(w: &WindowsCheck) -> Result<(), String> {
    if w.fact.needs_profile() != w.profile.is_some() {
        return Err(if w.profile.is_some() {
            "windows: `profile` is only for firewall facts".into()
        } else {
            "windows: this fact needs `profile` (domain, private or public)".into()
        });
    }
    if w.fact.needs_log() != w.log.is_some() {
        return Err(if w.log.is_some() {
            "windows: `log` is only for event log facts".into()
        } else {
            "windows: this fact needs `log` (application, security, system or setup)".into()
        });
    }
    Ok(())
}
