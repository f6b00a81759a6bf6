//! What a Windows inventory adds to the common one: the OS product, edition, version and build,
//! installed updates (KB ids), installed programs, local accounts, the members of
//! Administrators, and domain or workgroup membership.
//!
//! Sources, each read best effort (a part Windows refuses stays empty, the rest is still sent):
//! - `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`: `ProductName`, `EditionID`,
//!   `DisplayVersion` (or `ReleaseId`), `CurrentBuild` and `UBR`. Windows 11 still writes
//!   "Windows 10" in `ProductName`; a build of 22000 or later is named Windows 11, as `winver` does.
//! - Updates: the Component Based Servicing packages named `Package_for_KB…` whose
//!   `CurrentState` is 112 (installed), the list `Get-HotFix` is built from, plus the legacy
//!   `HotFix` key.
//! - Programs: the `Uninstall` keys of the 64-bit and 32-bit (`WOW6432Node`) views and of every
//!   loaded user profile (per-user installs), without system components and updates; a program
//!   is its `DisplayName` and `DisplayVersion`, so `query packages` works across hosts.
//! - Accounts and groups: `NetUserEnum`, `NetLocalGroupGetMembers` on the group whose SID is
//!   `S-1-5-32-544` (its name is localised), `NetGetJoinInformation`.

use std::collections::BTreeSet;

use vigil_proto::{Inventory, Package};

use super::registry::{Hive, Key, View};

const CURRENT_VERSION: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";
const CBS_PACKAGES: &str =
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages";
const UNINSTALL: &str = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
/// `CurrentState` of an installed servicing package.
const CBS_INSTALLED: u32 = 112;

/// Fills the Windows parts of `inv`.
pub fn add_details(inv: &mut Inventory) {
    if let Some(os) = os_version() {
        inv.os = os.product;
        inv.os_version = os.version;
        inv.edition = os.edition;
        inv.build = os.build;
    }
    inv.hotfixes = hotfixes();
    let programs = programs();
    inv.packages_hash = Some(crate::packages::packages_hash(&programs));
    inv.packages = programs;
    inv.users = net::local_users();
    inv.admins = net::administrators();
    inv.membership = net::membership();
}

/// The OS as `CurrentVersion` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsVersion {
    /// `Windows 11 Pro`.
    pub product: String,
    /// `23H2`.
    pub version: String,
    /// `Professional`.
    pub edition: String,
    /// `22631.4317`.
    pub build: String,
}

/// Reads the OS product, version, edition and build.
pub fn os_version() -> Option<OsVersion> {
    let k = Key::open(Hive::LocalMachine, CURRENT_VERSION, View::Native).ok()??;
    let build = k
        .string("CurrentBuild")
        .or_else(|| k.string("CurrentBuildNumber"))
        .unwrap_or_default();
    let full_build = match k.dword("UBR") {
        Some(ubr) if !build.is_empty() => format!("{build}.{ubr}"),
        _ => build.clone(),
    };
    Some(OsVersion {
        product: product_name(&k.string("ProductName").unwrap_or_default(), &build),
        version: k
            .string("DisplayVersion")
            .or_else(|| k.string("ReleaseId"))
            .or_else(|| k.string("CurrentVersion"))
            .unwrap_or_default(),
        edition: k.string("EditionID").unwrap_or_default(),
        build: full_build,
    })
}

/// `ProductName`, corrected to Windows 11 for builds from 22000 on (and without the
/// "Microsoft " some versions and Wine put first).
pub fn product_name(product: &str, build: &str) -> String {
    let product = product.strip_prefix("Microsoft ").unwrap_or(product);
    let is_11 = build.parse::<u32>().is_ok_and(|b| b >= 22000);
    match product.strip_prefix("Windows 10") {
        Some(rest) if is_11 => format!("Windows 11{rest}"),
        _ => product.to_string(),
    }
}

/// Installed updates, sorted, without duplicates.
pub fn hotfixes() -> Vec<String> {
    let mut out = BTreeSet::new();
    if let Ok(Some(pkgs)) = Key::open(Hive::LocalMachine, CBS_PACKAGES, View::Native) {
        for name in pkgs.subkeys().unwrap_or_default() {
            let Some(kb) = kb_of_package(&name) else {
                continue;
            };
            let installed = pkgs
                .open_sub(&name)
                .ok()
                .flatten()
                .and_then(|p| p.dword("CurrentState"))
                == Some(CBS_INSTALLED);
            if installed {
                out.insert(kb);
            }
        }
    }
    // Older systems and some installers list updates here, one subkey per KB.
    let legacy = format!(r"{CURRENT_VERSION}\HotFix");
    if let Ok(Some(k)) = Key::open(Hive::LocalMachine, &legacy, View::Native) {
        out.extend(
            k.subkeys()
                .unwrap_or_default()
                .iter()
                .filter_map(|n| kb_id(n)),
        );
    }
    out.into_iter().collect()
}

/// `Package_for_KB5034441~31bf3856ad364e35~amd64~~19041.3920.1.8` → `KB5034441`.
pub fn kb_of_package(name: &str) -> Option<String> {
    let (head, _) = name.split_once('~').unwrap_or((name, ""));
    if !head.starts_with("Package_") {
        return None;
    }
    let i = head.find("_for_KB")?;
    kb_id(&head[i + 5..])
}

/// `KB5034441…` → `KB5034441` (digits only after the prefix).
fn kb_id(s: &str) -> Option<String> {
    let rest = s.strip_prefix("KB").or_else(|| s.strip_prefix("kb"))?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("KB{digits}"))
}

/// Installed programs of every `Uninstall` key, sorted by name and version.
pub fn programs() -> Vec<Package> {
    let mut out = BTreeSet::new();
    for view in [View::Native, View::Wow32] {
        if let Ok(Some(k)) = Key::open(Hive::LocalMachine, UNINSTALL, view) {
            collect_programs(&k, &mut out);
        }
    }
    if let Ok(Some(users)) = Key::open(Hive::Users, "", View::Native) {
        for sid in users.subkeys().unwrap_or_default() {
            if sid.ends_with("_Classes") {
                continue;
            }
            let path = format!(r"{sid}\{UNINSTALL}");
            if let Ok(Some(k)) = Key::open(Hive::Users, &path, View::Native) {
                collect_programs(&k, &mut out);
            }
        }
    }
    out.into_iter().collect()
}

fn collect_programs(uninstall: &Key, out: &mut BTreeSet<Package>) {
    for sub in uninstall.subkeys().unwrap_or_default() {
        let Ok(Some(k)) = uninstall.open_sub(&sub) else {
            continue;
        };
        if let Some(p) = program_of(&k) {
            out.insert(p);
        }
    }
}

/// A program entry, unless it is hidden, a system component or an update of another product.
fn program_of(k: &Key) -> Option<Package> {
    let name = k.string("DisplayName")?;
    if k.dword("SystemComponent") == Some(1) || k.string("ParentKeyName").is_some() {
        return None;
    }
    if let Some(t) = k.string("ReleaseType")
        && ["Update", "Hotfix", "Security Update"].contains(&t.as_str())
    {
        return None;
    }
    Some(Package {
        name,
        version: k.string("DisplayVersion").unwrap_or_default(),
        source: None,
    })
}

/// The NetAPI calls (accounts, groups, domain).
mod net {
    #![allow(
        unsafe_code,
        reason = "NetAPI returns buffers it allocates, read through raw pointers and freed here"
    )]

    use std::ptr;

    use vigil_proto::{LocalUser, Membership};

    use super::super::secpol::wide_ptr;
    use windows_sys::Win32::NetworkManagement::NetManagement::{
        FILTER_NORMAL_ACCOUNT, LOCALGROUP_MEMBERS_INFO_3, MAX_PREFERRED_LENGTH, NERR_Success,
        NetApiBufferFree, NetGetJoinInformation, NetLocalGroupGetMembers, NetSetupDomainName,
        NetSetupWorkgroupName, NetUserEnum, UF_ACCOUNTDISABLE, USER_INFO_1,
    };

    use crate::platform::windows::{acl, wide};

    /// Largest number of entries read from one enumeration (a workstation has a handful).
    const MAX_ENTRIES: u32 = 10_000;

    /// A buffer NetAPI allocated, freed on drop.
    struct NetBuf(*mut u8);

    impl Drop for NetBuf {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: allocated by NetAPI, freed once.
                unsafe { NetApiBufferFree(self.0.cast()) };
            }
        }
    }

    /// Local accounts, sorted.
    pub(super) fn local_users() -> Vec<LocalUser> {
        let mut buf = NetBuf(ptr::null_mut());
        let (mut read, mut total) = (0u32, 0u32);
        // SAFETY: NULL server is the local computer; `buf` receives a NetAPI buffer of `read`
        // USER_INFO_1 entries.
        let rc = unsafe {
            NetUserEnum(
                ptr::null(),
                1,
                FILTER_NORMAL_ACCOUNT,
                &mut buf.0,
                MAX_PREFERRED_LENGTH,
                &mut read,
                &mut total,
                ptr::null_mut(),
            )
        };
        if rc != NERR_Success || buf.0.is_null() {
            return Vec::new();
        }
        let mut out: Vec<LocalUser> = (0..read.min(MAX_ENTRIES) as usize)
            .filter_map(|i| {
                // SAFETY: `i < read` entries of USER_INFO_1 follow each other in the buffer.
                let u = unsafe { ptr::read_unaligned(buf.0.cast::<USER_INFO_1>().add(i)) };
                Some(LocalUser {
                    // SAFETY: NetAPI strings are NUL-terminated (or NULL).
                    name: unsafe { wide_ptr(u.usri1_name) }?,
                    disabled: u.usri1_flags & UF_ACCOUNTDISABLE != 0,
                })
            })
            .collect();
        out.sort();
        out
    }

    /// Members of the local Administrators group (`DOMAIN\name`), sorted.
    pub(super) fn administrators() -> Vec<String> {
        let Some(group) = acl::name_of_sid(acl::SID_ADMINISTRATORS) else {
            return Vec::new();
        };
        let group_w = wide(&group);
        let mut buf = NetBuf(ptr::null_mut());
        let (mut read, mut total) = (0u32, 0u32);
        // SAFETY: NUL-terminated group name; `buf` receives `read` LOCALGROUP_MEMBERS_INFO_3.
        let rc = unsafe {
            NetLocalGroupGetMembers(
                ptr::null(),
                group_w.as_ptr(),
                3,
                &mut buf.0,
                MAX_PREFERRED_LENGTH,
                &mut read,
                &mut total,
                ptr::null_mut(),
            )
        };
        if rc != NERR_Success || buf.0.is_null() {
            return Vec::new();
        }
        let mut out: Vec<String> = (0..read.min(MAX_ENTRIES) as usize)
            .filter_map(|i| {
                // SAFETY: `i < read` entries follow each other in the buffer.
                let m = unsafe {
                    ptr::read_unaligned(buf.0.cast::<LOCALGROUP_MEMBERS_INFO_3>().add(i))
                };
                // SAFETY: NUL-terminated (or NULL).
                unsafe { wide_ptr(m.lgrmi3_domainandname) }
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Domain or workgroup.
    pub(super) fn membership() -> Option<Membership> {
        let mut name: *mut u16 = ptr::null_mut();
        let mut status = 0;
        // SAFETY: NULL server is the local computer; `name` receives a NetAPI buffer.
        let rc = unsafe { NetGetJoinInformation(ptr::null(), &mut name, &mut status) };
        if rc != NERR_Success {
            return None;
        }
        let buf = NetBuf(name.cast());
        // SAFETY: NUL-terminated (or NULL).
        let name = unsafe { wide_ptr(buf.0.cast()) }.unwrap_or_default();
        let kind = if status == NetSetupDomainName {
            "domain"
        } else if status == NetSetupWorkgroupName {
            "workgroup"
        } else {
            "none"
        };
        Some(Membership {
            kind: kind.to_string(),
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_11_is_named_from_its_build() {
        assert_eq!(product_name("Windows 10 Pro", "22631"), "Windows 11 Pro");
        assert_eq!(product_name("Windows 10 Pro", "19045"), "Windows 10 Pro");
        assert_eq!(
            product_name("Windows Server 2022 Standard", "20348"),
            "Windows Server 2022 Standard"
        );
        assert_eq!(
            product_name("Windows 10 Enterprise", "x"),
            "Windows 10 Enterprise"
        );
        assert_eq!(product_name("Microsoft Windows 10", "19045"), "Windows 10");
    }

    #[test]
    fn kb_ids_come_from_servicing_package_names() {
        assert_eq!(
            kb_of_package("Package_for_KB5034441~31bf3856ad364e35~amd64~~19041.3920.1.8")
                .as_deref(),
            Some("KB5034441")
        );
        assert_eq!(
            kb_of_package("Package_1_for_KB5031356~31bf3856ad364e35~amd64~~19041.3570.1.8")
                .as_deref(),
            Some("KB5031356")
        );
        assert_eq!(
            kb_of_package("Package_for_RollupFix~31bf~amd64~~19041.1.1"),
            None
        );
        assert_eq!(kb_of_package("Microsoft-Windows-Foo~31bf"), None);
        assert_eq!(kb_of_package("Package_for_KB~x"), None);
    }

    #[test]
    fn reads_this_hosts_os_and_programs() {
        let os = os_version().expect("CurrentVersion");
        assert!(os.product.starts_with("Windows"), "{os:?}");
        assert!(!os.build.is_empty(), "{os:?}");
        let mut inv = Inventory::default();
        add_details(&mut inv);
        assert!(inv.packages_hash.is_some());
        let sorted = inv.packages.windows(2).all(|w| w[0] <= w[1]);
        assert!(sorted, "programs are sorted");
        let _: &[vigil_proto::LocalUser] = &inv.users;
        let _: Option<&vigil_proto::Membership> = inv.membership.as_ref();
    }
}
