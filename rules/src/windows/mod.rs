//! Windows host facts: the seam between the evaluator and a Windows system.
//!
//! [`WindowsFacts`] has one method per primitive fact, each the offline twin of a Win32 call:
//! registry keys and values (`RegEnumValueW`/`RegEnumKeyExW`, both views), the account policy
//! (`NetUserModalsGet`), local users (`NetUserEnum`), the advanced audit policy
//! (`AuditQuerySystemPolicy`), user rights (`LsaEnumerateAccountsWithUserRight`) and domain
//! membership (`NetGetJoinInformation`). Facts only the running system has (Defender and firewall
//! status from their APIs, products registered with Security Center, BitLocker, running services)
//! default to "unknown"; a live implementation overrides them.
//!
//! [`offline::HiveFacts`] implements the seam over the hive files of a Windows volume mounted
//! under `--root`. [`derived`] turns primitives into the facts rules ask about (a firewall
//! profile's effective state, Defender's real-time protection, the last update install, ...),
//! applying Windows' own precedence (policy over local setting over built-in default), so the
//! offline and the live implementation share one interpretation. A fact that cannot be
//! established is an error with the reason: the rule is then unverified, never passed.

pub mod audit;
pub mod derived;
pub mod fixture;
pub mod lsa;
pub mod offline;
pub mod sam;
pub mod status;

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

pub use crate::hive::Data;

/// Reason given for live-only facts on an offline image.
pub const OFFLINE: &str = "known only on the running system (the offline image has no such state)";

/// The root of a registry path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegRoot {
    /// `HKEY_LOCAL_MACHINE`.
    LocalMachine,
    /// `HKEY_USERS`.
    Users,
}

/// A registry key path: a root and the path below it (`\`-separated, no leading `\`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegPath {
    /// Root.
    pub root: RegRoot,
    /// Path below the root.
    pub path: String,
}

impl RegPath {
    /// Parses `HKLM\...`, `HKEY_LOCAL_MACHINE\...`, `HKU\...` or `HKEY_USERS\...`.
    ///
    /// # Errors
    /// Other roots, with the reason: `HKEY_CURRENT_USER` depends on who is logged on and
    /// `HKEY_CLASSES_ROOT` is a merged view, so neither names one machine fact.
    pub fn parse(s: &str) -> Result<RegPath, String> {
        let s = s.trim().trim_end_matches('\\');
        let (root, rest) = s.split_once('\\').unwrap_or((s, ""));
        let root = match root.to_ascii_uppercase().as_str() {
            "HKLM" | "HKEY_LOCAL_MACHINE" => RegRoot::LocalMachine,
            "HKU" | "HKEY_USERS" => RegRoot::Users,
            "HKCU" | "HKEY_CURRENT_USER" => {
                return Err(format!(
                    "{s:?}: HKEY_CURRENT_USER is the logged-on user's hive; use \
                     HKLM\\SOFTWARE\\Policies or HKU\\.DEFAULT for machine-wide settings"
                ));
            }
            "HKCR" | "HKEY_CLASSES_ROOT" => {
                return Err(format!(
                    "{s:?}: HKEY_CLASSES_ROOT is a merged view; use HKLM\\SOFTWARE\\Classes"
                ));
            }
            other => return Err(format!("{s:?}: unknown registry root {other:?}")),
        };
        let path = rest
            .split('\\')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("\\");
        Ok(RegPath { root, path })
    }

    /// The same root with `sub` appended.
    pub fn join(&self, sub: &str) -> RegPath {
        let path = if self.path.is_empty() {
            sub.to_string()
        } else {
            format!("{}\\{sub}", self.path)
        };
        RegPath {
            root: self.root,
            path,
        }
    }
}

impl fmt::Display for RegPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let root = match self.root {
            RegRoot::LocalMachine => "HKLM",
            RegRoot::Users => "HKU",
        };
        if self.path.is_empty() {
            f.write_str(root)
        } else {
            write!(f, "{root}\\{}", self.path)
        }
    }
}

/// Registry view on 64-bit Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RegView {
    /// The 64-bit view (`KEY_WOW64_64KEY`), what 64-bit programs and policies use.
    #[default]
    Native,
    /// The 32-bit view (`KEY_WOW64_32KEY`): `HKLM\SOFTWARE\X` is `SOFTWARE\WOW6432Node\X`.
    Wow64,
}

/// A registry value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegValue {
    /// Name (`""` for the default value).
    pub name: String,
    /// Typed data.
    pub data: Data,
}

/// The effective password and lockout policy of local accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPolicy {
    /// Minimum password length.
    pub min_password_length: u32,
    /// Passwords remembered.
    pub password_history: u32,
    /// Maximum password age in days; `None` when passwords never expire.
    pub max_password_age_days: Option<u32>,
    /// Minimum password age in days.
    pub min_password_age_days: u32,
    /// Failed logons before lockout; 0 never locks.
    pub lockout_threshold: u32,
    /// Lockout duration in minutes; `None` until an administrator unlocks.
    pub lockout_duration_minutes: Option<u32>,
    /// Minutes after which the failed-logon count resets.
    pub lockout_window_minutes: u32,
    /// Passwords must meet complexity requirements.
    pub complexity: bool,
    /// Passwords are stored with reversible encryption.
    pub reversible_encryption: bool,
    /// The built-in Administrator can be locked out too (`DOMAIN_LOCKOUT_ADMINS`).
    pub admin_lockout: bool,
}

/// A local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    /// Account name.
    pub name: String,
    /// Relative id (500 is the built-in Administrator, 501 Guest).
    pub rid: u32,
    /// The account is disabled.
    pub disabled: bool,
    /// A password is required.
    pub password_required: bool,
    /// The password expires.
    pub password_expires: bool,
    /// Last logon, `None` when never.
    pub last_logon: Option<SystemTime>,
}

/// Audit setting of one subcategory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditFlags {
    /// Successes are audited.
    pub success: bool,
    /// Failures are audited.
    pub failure: bool,
}

impl fmt::Display for AuditFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.success, self.failure) {
            (true, true) => "Success and Failure",
            (true, false) => "Success",
            (false, true) => "Failure",
            (false, false) => "No Auditing",
        })
    }
}

/// The advanced audit policy: settings by subcategory GUID (see [`audit::SUBCATEGORIES`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditPolicy {
    /// Settings, keyed by lower-case GUID.
    pub settings: BTreeMap<String, AuditFlags>,
}

/// User rights: right or privilege constant (`SeDenyNetworkLogonRight`) → SIDs holding it.
pub type UserRights = BTreeMap<String, Vec<String>>;

/// An anti-malware product registered with Windows Security Center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvProduct {
    /// Display name.
    pub name: String,
    /// Real-time protection is on.
    pub enabled: bool,
    /// Signatures are up to date.
    pub up_to_date: bool,
}

/// Status reported by Microsoft Defender's own interface (`MSFT_MpComputerStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefenderStatus {
    /// Real-time protection is on.
    pub realtime: bool,
    /// Antivirus signature age in days.
    pub signature_age_days: u32,
    /// Tamper protection is on.
    pub tamper_protected: bool,
}

/// A firewall profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Profile {
    /// Domain networks.
    Domain,
    /// Private networks (`StandardProfile` in the local settings).
    Private,
    /// Public networks.
    Public,
}

impl Profile {
    /// The name used in packs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Domain => "domain",
            Self::Private => "private",
            Self::Public => "public",
        }
    }
}

/// State of a firewall profile from the firewall's own interface (`INetFwPolicy2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirewallStatus {
    /// The profile is on.
    pub enabled: bool,
    /// Unsolicited inbound connections are blocked by default.
    pub inbound_blocked: bool,
}

/// Access to one Windows system. Primitives are required; live-only facts default to unknown.
pub trait WindowsFacts: Sync + fmt::Debug {
    /// The values of a key, `None` when the key does not exist.
    ///
    /// # Errors
    /// The reason the key cannot be read (hive missing, dirty or malformed, access denied).
    fn reg_values(&self, key: &RegPath, view: RegView) -> Result<Option<Vec<RegValue>>, String>;

    /// The names of a key's subkeys, `None` when the key does not exist.
    ///
    /// # Errors
    /// As [`WindowsFacts::reg_values`].
    fn reg_subkeys(&self, key: &RegPath, view: RegView) -> Result<Option<Vec<String>>, String>;

    /// The account policy of local accounts.
    ///
    /// # Errors
    /// When it cannot be read.
    fn account_policy(&self) -> Result<AccountPolicy, String>;

    /// The local accounts.
    ///
    /// # Errors
    /// When they cannot be read.
    fn local_users(&self) -> Result<Vec<LocalUser>, String>;

    /// The advanced audit policy in force.
    ///
    /// # Errors
    /// When it cannot be read or its layout is not known.
    fn audit_policy(&self) -> Result<AuditPolicy, String>;

    /// User rights assignments.
    ///
    /// # Errors
    /// When they cannot be read.
    fn user_rights(&self) -> Result<UserRights, String>;

    /// Whether the machine is joined to a domain.
    ///
    /// # Errors
    /// When it cannot be told.
    fn domain_member(&self) -> Result<bool, String>;

    /// Whether the system is running (live facts available).
    fn is_live(&self) -> bool {
        false
    }

    /// Whether a service is running.
    ///
    /// # Errors
    /// Unknown offline.
    fn service_running(&self, name: &str) -> Result<bool, String> {
        Err(format!("whether {name} runs is {OFFLINE}"))
    }

    /// Anti-malware products registered with Security Center.
    ///
    /// # Errors
    /// Unknown offline.
    fn antivirus_products(&self) -> Result<Vec<AvProduct>, String> {
        Err(format!(
            "products registered with Security Center are {OFFLINE}"
        ))
    }

    /// Defender's own status report.
    ///
    /// # Errors
    /// Unknown offline (facts are then derived from the registry).
    fn defender_status(&self) -> Result<DefenderStatus, String> {
        Err(format!("Defender's status report is {OFFLINE}"))
    }

    /// The firewall's own view of a profile.
    ///
    /// # Errors
    /// Unknown offline (facts are then derived from the registry).
    fn firewall_status(&self, profile: Profile) -> Result<FirewallStatus, String> {
        Err(format!(
            "the firewall's {} profile status is {OFFLINE}",
            profile.as_str()
        ))
    }

    /// Whether BitLocker protects the system volume.
    ///
    /// # Errors
    /// Unknown offline: a mounted image shows the volume decrypted whatever it was.
    fn bitlocker_system_volume(&self) -> Result<bool, String> {
        Err(format!(
            "the BitLocker state of the system volume is {OFFLINE}"
        ))
    }
}

/// The value named `name` in `values` (case-insensitive).
pub fn find<'a>(values: &'a [RegValue], name: &str) -> Option<&'a RegValue> {
    values
        .iter()
        .find(|v| crate::hive::same_name(&v.name, name))
}

/// The Windows facts of one evaluation run, each read at most once (rules run on several
/// threads and many read the same policy).
#[derive(Debug, Default)]
pub struct Memo<'a> {
    /// The host's Windows facts, `None` on other systems.
    pub facts: Option<&'a dyn WindowsFacts>,
    policy: std::sync::OnceLock<Result<AccountPolicy, String>>,
    users: std::sync::OnceLock<Result<Vec<LocalUser>, String>>,
    audit: std::sync::OnceLock<Result<AuditPolicy, String>>,
    rights: std::sync::OnceLock<Result<UserRights, String>>,
    domain: std::sync::OnceLock<Result<bool, String>>,
    platform: std::sync::OnceLock<Result<derived::Platform, String>>,
}

impl<'a> Memo<'a> {
    /// A memo over `facts`.
    pub fn new(facts: Option<&'a dyn WindowsFacts>) -> Memo<'a> {
        Memo {
            facts,
            ..Memo::default()
        }
    }

    fn get<T: Clone>(
        &self,
        slot: &std::sync::OnceLock<Result<T, String>>,
        read: impl FnOnce(&dyn WindowsFacts) -> Result<T, String>,
    ) -> Result<T, String> {
        let Some(w) = self.facts else {
            return Err("not a Windows host".into());
        };
        slot.get_or_init(|| read(w)).clone()
    }

    /// The account policy.
    ///
    /// # Errors
    /// As [`WindowsFacts::account_policy`].
    pub fn account_policy(&self) -> Result<AccountPolicy, String> {
        self.get(&self.policy, |w| w.account_policy())
    }

    /// The local accounts.
    ///
    /// # Errors
    /// As [`WindowsFacts::local_users`].
    pub fn local_users(&self) -> Result<Vec<LocalUser>, String> {
        self.get(&self.users, |w| w.local_users())
    }

    /// The audit policy.
    ///
    /// # Errors
    /// As [`WindowsFacts::audit_policy`].
    pub fn audit_policy(&self) -> Result<AuditPolicy, String> {
        self.get(&self.audit, |w| w.audit_policy())
    }

    /// User rights.
    ///
    /// # Errors
    /// As [`WindowsFacts::user_rights`].
    pub fn user_rights(&self) -> Result<UserRights, String> {
        self.get(&self.rights, |w| w.user_rights())
    }

    /// Domain membership.
    ///
    /// # Errors
    /// As [`WindowsFacts::domain_member`].
    pub fn domain_member(&self) -> Result<bool, String> {
        self.get(&self.domain, |w| w.domain_member())
    }

    /// Version, edition and role.
    ///
    /// # Errors
    /// When the version keys cannot be read.
    pub fn platform(&self) -> Result<derived::Platform, String> {
        self.get(&self.platform, |w| derived::platform(w))
    }
}
