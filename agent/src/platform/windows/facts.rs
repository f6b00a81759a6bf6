//! The running Windows system behind the rule evaluator's seam (`vigil_rules::windows::WindowsFacts`).
//!
//! [`LiveFacts`] answers the primitives from the live registry (both views, through
//! [`super::registry`]) and the security APIs ([`super::secpol`]); [`LiveHost`] is the
//! evaluator's `HostFacts` for this machine: files under the system drive, Windows facts from
//! [`LiveFacts`]. The derivations (a firewall profile's state, Defender's real-time protection,
//! the last update) are shared with offline images in `vigil_rules::windows::derived`.
//!
//! Defender's status, the products registered with Security Center, BitLocker and the firewall
//! profiles come from their own interfaces through COM ([`super::com`]). Where a system lacks
//! one (Wine has none of them, nor account policy levels 0 and 3, nor `AuditFree`), the fact is
//! an error naming what could not be read: the derivations then use the registry where it
//! decides the fact, and a rule that still cannot be decided is reported unverified, never
//! passed.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use vigil_rules::windows::{
    AccountPolicy, AuditPolicy, AvProduct, Data, DefenderStatus, FirewallStatus, LocalUser,
    Profile, RegPath, RegRoot, RegValue, RegView, UserRights, WindowsFacts,
};
use vigil_rules::{CommandOutput, FileStat, HostFacts, RootFacts};
use windows_service::service::{ServiceAccess, ServiceState};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::registry::{Hive, Key, View};
use super::secpol;

/// The Windows facts of the running system.
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveFacts;

fn open(key: &RegPath, view: RegView) -> Result<Option<Key>, String> {
    let hive = match key.root {
        RegRoot::LocalMachine => Hive::LocalMachine,
        RegRoot::Users => Hive::Users,
    };
    let view = match view {
        RegView::Native => View::Native,
        RegView::Wow64 => View::Wow32,
    };
    Key::open(hive, &key.path, view).map_err(|e| format!("{key}: {e}"))
}

impl WindowsFacts for LiveFacts {
    fn reg_values(&self, key: &RegPath, view: RegView) -> Result<Option<Vec<RegValue>>, String> {
        let Some(k) = open(key, view)? else {
            return Ok(None);
        };
        let raw = k.raw_values().map_err(|e| format!("{key}: {e}"))?;
        Ok(Some(
            raw.into_iter()
                .map(|(name, kind, bytes)| RegValue {
                    name,
                    data: Data::decode(kind, &bytes),
                })
                .collect(),
        ))
    }

    fn reg_subkeys(&self, key: &RegPath, view: RegView) -> Result<Option<Vec<String>>, String> {
        let Some(k) = open(key, view)? else {
            return Ok(None);
        };
        k.subkeys().map(Some).map_err(|e| format!("{key}: {e}"))
    }

    fn account_policy(&self) -> Result<AccountPolicy, String> {
        secpol::account_policy()
    }

    fn local_users(&self) -> Result<Vec<LocalUser>, String> {
        secpol::local_users()
    }

    fn audit_policy(&self) -> Result<AuditPolicy, String> {
        secpol::audit_policy()
    }

    fn user_rights(&self) -> Result<UserRights, String> {
        secpol::user_rights()
    }

    fn domain_member(&self) -> Result<bool, String> {
        secpol::domain_member()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn service_running(&self, name: &str) -> Result<bool, String> {
        let scm = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
            .map_err(|e| format!("the service control manager: {e}"))?;
        let svc = scm
            .open_service(name, ServiceAccess::QUERY_STATUS)
            .map_err(|e| format!("service {name}: {e}"))?;
        let st = svc
            .query_status()
            .map_err(|e| format!("status of service {name}: {e}"))?;
        Ok(st.current_state == ServiceState::Running)
    }

    fn antivirus_products(&self) -> Result<Vec<AvProduct>, String> {
        super::com::antivirus_products()
    }

    fn defender_status(&self) -> Result<DefenderStatus, String> {
        super::com::defender_status()
    }

    fn firewall_status(&self, profile: Profile) -> Result<FirewallStatus, String> {
        super::com::firewall_status(profile)
    }

    fn bitlocker_system_volume(&self) -> Result<bool, String> {
        super::com::bitlocker_system_volume()
    }
}

/// The evaluator's view of this running Windows host: files under the system drive, Windows
/// facts from the live system.
#[derive(Debug, Clone)]
pub struct LiveHost {
    files: RootFacts,
    win: LiveFacts,
}

impl LiveHost {
    /// The running host, evaluated at `now`.
    pub fn new(root: &Path, now: SystemTime) -> LiveHost {
        LiveHost {
            files: RootFacts::new(root, now),
            win: LiveFacts,
        }
    }
}

impl HostFacts for LiveHost {
    fn now(&self) -> SystemTime {
        self.files.now()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.files.read(path)
    }

    fn read_capped(&self, path: &str, max: u64) -> io::Result<Vec<u8>> {
        self.files.read_capped(path, max)
    }

    fn stat(&self, path: &str) -> io::Result<FileStat> {
        self.files.stat(path)
    }

    fn lstat(&self, path: &str) -> io::Result<FileStat> {
        self.files.lstat(path)
    }

    fn read_link(&self, path: &str) -> io::Result<String> {
        self.files.read_link(path)
    }

    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        self.files.list_dir(path)
    }

    fn run(&self, argv: &[String], _: Duration, _: usize) -> Result<CommandOutput, String> {
        Err(format!(
            "not run: `{}`: Windows rules read native facts, commands are not run",
            argv.join(" ")
        ))
    }

    fn windows(&self) -> Option<&dyn WindowsFacts> {
        Some(&self.win)
    }
}

/// The facts of `root`: the running system when it is the system drive, else the tree (an
/// offline Windows volume is read from its hive files).
pub fn host_facts(root: &Path, now: SystemTime) -> Box<dyn HostFacts> {
    let norm = |p: &Path| {
        p.to_string_lossy()
            .trim_end_matches(['\\', '/'])
            .to_ascii_lowercase()
    };
    if norm(root) == norm(&super::facts_root()) {
        Box::new(LiveHost::new(root, now))
    } else {
        Box::new(RootFacts::new(root, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::windows::running_under_wine;

    fn hklm(path: &str) -> RegPath {
        RegPath::parse(&format!("HKLM\\{path}")).expect("path")
    }

    #[test]
    fn the_live_registry_is_read_in_both_views() {
        let w = LiveFacts;
        let cv = w
            .reg_values(
                &hklm(r"SOFTWARE\Microsoft\Windows NT\CurrentVersion"),
                RegView::Native,
            )
            .expect("readable")
            .expect("exists");
        assert!(
            vigil_rules::windows::find(&cv, "CurrentBuildNumber").is_some(),
            "{cv:?}"
        );
        let missing = w
            .reg_values(&hklm(r"SOFTWARE\Vigil\No\Such\Key"), RegView::Native)
            .expect("readable");
        assert!(missing.is_none());
        // The 32-bit view of SOFTWARE is WOW6432Node; Microsoft\Windows exists in both.
        let wow = w
            .reg_subkeys(&hklm(r"SOFTWARE\Microsoft"), RegView::Wow64)
            .expect("readable")
            .expect("exists");
        assert!(
            wow.iter().any(|k| k.eq_ignore_ascii_case("Windows")),
            "{wow:?}"
        );
        let p = vigil_rules::windows::derived::platform(&w).expect("version keys");
        assert!(p.build > 0, "{p:?}");
    }

    #[test]
    fn com_facts_are_read_or_errors_naming_the_interface() {
        let w = LiveFacts;
        let wine = running_under_wine();
        // Wine 8 has none of these WMI namespaces (WBEM_E_INVALID_NAMESPACE), and its firewall
        // object answers neither property (E_NOTIMPL): unknown there, never a default.
        match (w.defender_status(), wine) {
            (Err(e), _) => assert!(e.contains("MSFT_MpComputerStatus"), "{e}"),
            (Ok(s), true) => panic!("Wine has no Defender, got {s:?}"),
            (Ok(_), false) => {}
        }
        match (w.bitlocker_system_volume(), wine) {
            (Err(e), _) => assert!(e.contains("Win32_EncryptableVolume"), "{e}"),
            (Ok(on), true) => panic!("Wine has no BitLocker, got {on}"),
            (Ok(_), false) => {}
        }
        for p in [Profile::Domain, Profile::Private, Profile::Public] {
            match (w.firewall_status(p), wine) {
                (Err(e), _) => {
                    assert!(e.contains("INetFwPolicy2") && e.contains(p.as_str()), "{e}");
                }
                (Ok(s), true) => panic!("Wine has no firewall profiles, got {s:?}"),
                (Ok(_), false) => {}
            }
        }
        // Wine has no Security Center namespace either; Windows Server has none at all.
        match (w.antivirus_products(), wine) {
            (Err(e), _) => assert!(e.contains("SecurityCenter2"), "{e}"),
            (Ok(list), true) => panic!("Wine has no Security Center, got {list:?}"),
            (Ok(list), false) => assert!(list.iter().all(|p| !p.name.is_empty()), "{list:?}"),
        }
    }

    #[test]
    fn security_policy_is_read_or_an_error_naming_the_call() {
        let w = LiveFacts;
        let wine = running_under_wine();
        // Wine implements neither NetUserModalsGet level 0 nor AuditFree: both are unknown
        // there, and read on Windows.
        match (w.account_policy(), wine) {
            (Err(e), true) => assert!(e.contains("NetUserModalsGet"), "{e}"),
            (Ok(p), true) => panic!("Wine has no account policy, got {p:?}"),
            (Err(e), false) => assert!(e.contains("SAM") || e.contains("NetUserModalsGet"), "{e}"),
            (Ok(_), false) => {}
        }
        match (w.audit_policy(), wine) {
            (Err(e), _) => assert!(e.contains("Audit"), "{e}"),
            (Ok(p), false) => {
                assert_eq!(
                    p.settings.len(),
                    vigil_rules::windows::audit::SUBCATEGORIES.len()
                );
            }
            (Ok(p), true) => panic!("Wine has no audit policy, got {p:?}"),
        }
        match w.user_rights() {
            Ok(r) => assert!(!r.is_empty()),
            Err(e) => assert!(e.contains("Lsa") || e.contains("LSA"), "{e}"),
        }
        assert!(w.domain_member().is_ok(), "{:?}", w.domain_member());
        if let Ok(users) = w.local_users() {
            assert!(users.iter().all(|u| !u.name.is_empty()), "{users:?}");
        }
        assert!(w.service_running("VigilNoSuchService").is_err());
    }

    #[test]
    fn the_system_drive_is_live_and_other_roots_are_trees() {
        let now = SystemTime::now();
        let live = host_facts(&crate::platform::facts_root(), now);
        assert!(live.is_live());
        assert!(live.windows().is_some_and(|w| w.is_live()));
        let dir = std::env::temp_dir();
        let tree = host_facts(&dir, now);
        assert!(
            tree.windows().is_none(),
            "a plain folder is no Windows volume"
        );
    }
}
