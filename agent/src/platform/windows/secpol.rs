//! The running system's security policy through Win32, for the rule evaluator's live facts:
//! - the account policy: `NetUserModalsGet` levels 0 (length, history, ages) and 3 (lockout),
//!   plus the password properties (complexity, reversible encryption, administrator lockout)
//!   that only the SAM's domain record holds (`HKLM\SAM\SAM\Domains\Account\F`, readable by
//!   LocalSystem, the account the service runs as);
//! - local accounts: `NetUserEnum` level 3 (RID, flags, last logon);
//! - the advanced audit policy: `AuditQuerySystemPolicy` for every known subcategory;
//! - user rights: `LsaEnumerateAccountsWithUserRight` for every privilege and logon right;
//! - domain membership: `NetGetJoinInformation`.
//!
//! Every failure is an error naming the call and its code, so the rule is reported unverified.
//! `AuditQuerySystemPolicy` and `AuditFree` are looked up at run time: a loader that lacks one
//! (Wine exports no `AuditFree` from advapi32) would otherwise refuse to start the whole agent.
//! An LSA that names no holder for any right at all is not a running Windows system's answer
//! (someone always holds the interactive logon right) and is reported as unreadable.
#![allow(
    unsafe_code,
    reason = "NetAPI, LSA and audit calls return buffers they allocate, read here through raw \
              pointers and freed once"
)]

use std::ptr;
use std::time::{Duration, SystemTime};

use vigil_rules::windows::{
    AccountPolicy, AuditFlags, AuditPolicy, LocalUser, UserRights, audit, lsa, sam,
};
use windows_sys::Win32::Foundation::STATUS_NO_MORE_ENTRIES;
use windows_sys::Win32::NetworkManagement::NetManagement::{
    FILTER_NORMAL_ACCOUNT, MAX_PREFERRED_LENGTH, NERR_Success, NetApiBufferFree,
    NetGetJoinInformation, NetSetupDomainName, NetUserEnum, NetUserModalsGet, UF_ACCOUNTDISABLE,
    UF_DONT_EXPIRE_PASSWD, UF_PASSWD_NOTREQD, USER_INFO_3, USER_MODALS_INFO_0, USER_MODALS_INFO_3,
};
use windows_sys::Win32::Security::Authentication::Identity::{
    AUDIT_POLICY_INFORMATION, LSA_ENUMERATION_INFORMATION, LSA_HANDLE, LSA_OBJECT_ATTRIBUTES,
    LSA_UNICODE_STRING, LsaClose, LsaEnumerateAccountsWithUserRight, LsaFreeMemory,
    LsaNtStatusToWinError, LsaOpenPolicy, POLICY_LOOKUP_NAMES, POLICY_VIEW_LOCAL_INFORMATION,
};
use windows_sys::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryW};
use windows_sys::core::GUID;

use super::registry::{Hive, Key, View};
use super::wide;

/// NetAPI's "forever" for ages and durations (`TIMEQ_FOREVER`).
const FOREVER: u32 = u32::MAX;
/// Largest number of entries read from one enumeration.
const MAX_ENTRIES: usize = 10_000;

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

/// One `NetUserModalsGet` level as a value of type `T`.
fn user_modals<T: Copy>(level: u32) -> Result<T, String> {
    let mut buf = NetBuf(ptr::null_mut());
    // SAFETY: NULL server is the local computer; `buf` receives a NetAPI buffer holding one
    // USER_MODALS_INFO_<level>, which is what `T` is at each call site.
    let rc = unsafe { NetUserModalsGet(ptr::null(), level, &mut buf.0) };
    if rc != NERR_Success || buf.0.is_null() {
        return Err(format!(
            "NetUserModalsGet level {level} failed with code {rc}"
        ));
    }
    // SAFETY: see above; read unaligned to make no assumption about the allocator.
    Ok(unsafe { ptr::read_unaligned(buf.0.cast::<T>()) })
}

fn days(seconds: u32) -> u32 {
    seconds / 86_400
}

/// The effective account policy of local accounts.
///
/// # Errors
/// When NetAPI or the SAM's domain record cannot be read.
pub(super) fn account_policy() -> Result<AccountPolicy, String> {
    let m0: USER_MODALS_INFO_0 = user_modals(0)?;
    let m3: USER_MODALS_INFO_3 = user_modals(3)?;
    let sam = sam_domain_policy().map_err(|e| {
        format!(
            "password complexity and reversible encryption are in the SAM's domain record, \
             which {e}"
        )
    })?;
    Ok(AccountPolicy {
        min_password_length: m0.usrmod0_min_passwd_len,
        password_history: m0.usrmod0_password_hist_len,
        max_password_age_days: match m0.usrmod0_max_passwd_age {
            FOREVER => None,
            s => Some(days(s)).filter(|&d| d > 0),
        },
        min_password_age_days: match m0.usrmod0_min_passwd_age {
            FOREVER => u32::MAX,
            s => days(s),
        },
        lockout_threshold: m3.usrmod3_lockout_threshold,
        lockout_duration_minutes: match m3.usrmod3_lockout_duration {
            FOREVER => None,
            s => Some(s / 60),
        },
        lockout_window_minutes: m3.usrmod3_lockout_observation_window / 60,
        complexity: sam.complexity,
        reversible_encryption: sam.reversible_encryption,
        admin_lockout: sam.admin_lockout,
    })
}

fn sam_domain_policy() -> Result<AccountPolicy, String> {
    let path = r"SAM\SAM\Domains\Account";
    let key = Key::open(Hive::LocalMachine, path, View::Native)
        .map_err(|e| format!("cannot be read (HKLM\\{path}: {e}; it needs LocalSystem)"))?
        .ok_or_else(|| format!("is missing (no HKLM\\{path})"))?;
    let f = key
        .raw_values()
        .map_err(|e| format!("cannot be read (HKLM\\{path}: {e})"))?
        .into_iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case("F"))
        .ok_or_else(|| format!("is missing (no F value in HKLM\\{path})"))?;
    sam::decode_domain_f(&f.2).map_err(|e| format!("is malformed: {e}"))
}

/// `seconds since 1970` of NetAPI as a time; 0 is "never".
fn net_time(secs: u32) -> Option<SystemTime> {
    (secs != 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(secs)))
}

/// The local accounts.
///
/// # Errors
/// When `NetUserEnum` fails.
pub(super) fn local_users() -> Result<Vec<LocalUser>, String> {
    let mut buf = NetBuf(ptr::null_mut());
    let (mut read, mut total) = (0u32, 0u32);
    // SAFETY: NULL server is the local computer; `buf` receives `read` USER_INFO_3 entries.
    let rc = unsafe {
        NetUserEnum(
            ptr::null(),
            3,
            FILTER_NORMAL_ACCOUNT,
            &mut buf.0,
            MAX_PREFERRED_LENGTH,
            &mut read,
            &mut total,
            ptr::null_mut(),
        )
    };
    if rc != NERR_Success || buf.0.is_null() {
        return Err(format!("NetUserEnum level 3 failed with code {rc}"));
    }
    let mut out = Vec::new();
    for i in 0..(read as usize).min(MAX_ENTRIES) {
        // SAFETY: `i < read` entries of USER_INFO_3 follow each other in the buffer.
        let u = unsafe { ptr::read_unaligned(buf.0.cast::<USER_INFO_3>().add(i)) };
        // SAFETY: NetAPI strings are NUL-terminated (or NULL).
        let Some(name) = (unsafe { wide_ptr(u.usri3_name) }) else {
            continue;
        };
        out.push(LocalUser {
            name,
            rid: u.usri3_user_id,
            disabled: u.usri3_flags & UF_ACCOUNTDISABLE != 0,
            password_required: u.usri3_flags & UF_PASSWD_NOTREQD == 0,
            password_expires: u.usri3_flags & UF_DONT_EXPIRE_PASSWD == 0,
            last_logon: net_time(u.usri3_last_logon),
        });
    }
    if out.is_empty() {
        return Err("NetUserEnum returned no local account".into());
    }
    out.sort_by_key(|u| u.rid);
    Ok(out)
}

/// Whether the machine is joined to a domain.
///
/// # Errors
/// When `NetGetJoinInformation` fails.
pub(super) fn domain_member() -> Result<bool, String> {
    let mut name: *mut u16 = ptr::null_mut();
    let mut status = 0;
    // SAFETY: NULL server is the local computer; `name` receives a NetAPI buffer.
    let rc = unsafe { NetGetJoinInformation(ptr::null(), &mut name, &mut status) };
    let _buf = NetBuf(name.cast());
    if rc != NERR_Success {
        return Err(format!("NetGetJoinInformation failed with code {rc}"));
    }
    Ok(status == NetSetupDomainName)
}

/// The GUID of `8-4-4-4-12` text.
fn parse_guid(s: &str) -> Option<GUID> {
    let p: Vec<&str> = s.split('-').collect();
    let [a, b, c, d, e] = p.as_slice() else {
        return None;
    };
    let tail = u64::from_str_radix(&format!("{d}{e}"), 16).ok()?;
    Some(GUID {
        data1: u32::from_str_radix(a, 16).ok()?,
        data2: u16::from_str_radix(b, 16).ok()?,
        data3: u16::from_str_radix(c, 16).ok()?,
        data4: tail.to_be_bytes(),
    })
}

type AuditQueryFn =
    unsafe extern "system" fn(*const GUID, u32, *mut *mut AUDIT_POLICY_INFORMATION) -> bool;
type AuditFreeFn = unsafe extern "system" fn(*const core::ffi::c_void);

/// `advapi32!name`, looked up at run time.
fn advapi32_proc(name: &str) -> Result<unsafe extern "system" fn() -> isize, String> {
    let dll = wide("advapi32.dll");
    // SAFETY: NUL-terminated name of a system DLL, already loaded by every process.
    let module = unsafe { LoadLibraryW(dll.as_ptr()) };
    if module.is_null() {
        return Err("advapi32.dll cannot be loaded".into());
    }
    let cname = format!("{name}\0");
    // SAFETY: valid module handle and NUL-terminated ANSI name.
    unsafe { GetProcAddress(module, cname.as_ptr()) }
        .ok_or_else(|| format!("this system's advapi32.dll has no {name}"))
}

/// The advanced audit policy in force, for every subcategory Vigil knows.
///
/// # Errors
/// When the audit API is missing or fails.
pub(super) fn audit_policy() -> Result<AuditPolicy, String> {
    let query = advapi32_proc("AuditQuerySystemPolicy")?;
    let free = advapi32_proc("AuditFree")?;
    // SAFETY: both symbols have these documented signatures (ntsecapi.h).
    let (query, free): (AuditQueryFn, AuditFreeFn) =
        unsafe { (std::mem::transmute(query), std::mem::transmute(free)) };
    let guids: Vec<(String, GUID)> = audit::SUBCATEGORIES
        .iter()
        .filter_map(|(_, _, prefix)| {
            let g = audit::guid(prefix);
            parse_guid(&g).map(|x| (g, x))
        })
        .collect();
    let raw: Vec<GUID> = guids.iter().map(|(_, g)| *g).collect();
    let mut out: *mut AUDIT_POLICY_INFORMATION = ptr::null_mut();
    // SAFETY: `raw` holds `raw.len()` GUIDs; `out` receives an array of as many entries, freed
    // with AuditFree.
    let ok = unsafe { query(raw.as_ptr(), raw.len() as u32, &mut out) };
    if !ok || out.is_null() {
        return Err(format!(
            "AuditQuerySystemPolicy failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut policy = AuditPolicy::default();
    for (i, (name, _)) in guids.iter().enumerate() {
        // SAFETY: the array has one entry per GUID asked, in order.
        let info = unsafe { ptr::read_unaligned(out.add(i)) };
        policy.settings.insert(
            name.clone(),
            AuditFlags {
                success: info.AuditingInformation & 1 != 0,
                failure: info.AuditingInformation & 2 != 0,
            },
        );
    }
    // SAFETY: allocated by AuditQuerySystemPolicy, freed once.
    unsafe { free(out.cast()) };
    Ok(policy)
}

/// An open LSA policy handle, closed on drop.
struct Policy(LSA_HANDLE);

impl Drop for Policy {
    fn drop(&mut self) {
        // SAFETY: a handle LsaOpenPolicy returned, closed once.
        unsafe { LsaClose(self.0) };
    }
}

fn nt_error(call: &str, status: i32) -> String {
    // SAFETY: pure conversion of a status code.
    let code = unsafe { LsaNtStatusToWinError(status) };
    format!(
        "{call} failed: {}",
        std::io::Error::from_raw_os_error(code as i32)
    )
}

/// Every privilege and logon right with the SIDs holding it.
///
/// # Errors
/// When the LSA cannot be opened or queried, or names no holder for any right.
pub(super) fn user_rights() -> Result<UserRights, String> {
    let attrs = LSA_OBJECT_ATTRIBUTES {
        Length: std::mem::size_of::<LSA_OBJECT_ATTRIBUTES>() as u32,
        ..Default::default()
    };
    let mut handle: LSA_HANDLE = 0;
    // SAFETY: NULL system name is the local computer; zeroed attributes as documented.
    let st = unsafe {
        LsaOpenPolicy(
            ptr::null(),
            &attrs,
            (POLICY_LOOKUP_NAMES | POLICY_VIEW_LOCAL_INFORMATION) as u32,
            &mut handle,
        )
    };
    if st != 0 {
        return Err(nt_error("LsaOpenPolicy", st));
    }
    let policy = Policy(handle);
    let mut rights = UserRights::new();
    let names = lsa::PRIVILEGES
        .iter()
        .chain(lsa::LOGON_RIGHTS.iter())
        .map(|(_, n)| *n);
    for name in names {
        let holders = holders_of(&policy, name)?;
        if !holders.is_empty() {
            rights.insert(name.to_string(), holders);
        }
    }
    if rights.is_empty() {
        return Err(
            "the LSA names no account for any user right (a running Windows system always has \
             holders of the logon rights): the rights database was not readable"
                .into(),
        );
    }
    Ok(rights)
}

fn holders_of(policy: &Policy, right: &str) -> Result<Vec<String>, String> {
    let mut w: Vec<u16> = right.encode_utf16().collect();
    let len = (w.len() * 2) as u16;
    let name = LSA_UNICODE_STRING {
        Length: len,
        MaximumLength: len,
        Buffer: w.as_mut_ptr(),
    };
    let mut buf: *mut core::ffi::c_void = ptr::null_mut();
    let mut count = 0u32;
    // SAFETY: `name` points into `w`, alive for the call; `buf` receives LSA memory freed below.
    let st = unsafe { LsaEnumerateAccountsWithUserRight(policy.0, &name, &mut buf, &mut count) };
    if st == STATUS_NO_MORE_ENTRIES {
        return Ok(Vec::new());
    }
    if st != 0 {
        return Err(nt_error(
            &format!("LsaEnumerateAccountsWithUserRight({right})"),
            st,
        ));
    }
    let mut sids = Vec::new();
    if !buf.is_null() {
        for i in 0..(count as usize).min(MAX_ENTRIES) {
            // SAFETY: `count` entries of LSA_ENUMERATION_INFORMATION.
            let e =
                unsafe { ptr::read_unaligned(buf.cast::<LSA_ENUMERATION_INFORMATION>().add(i)) };
            if let Some(s) = super::acl::sid_string(e.Sid) {
                sids.push(s);
            }
        }
        // SAFETY: allocated by the LSA, freed once.
        unsafe { LsaFreeMemory(buf) };
    }
    sids.sort();
    sids.dedup();
    Ok(sids)
}

/// Reads a NUL-terminated UTF-16 string (at most 32,767 units).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated UTF-16 string.
pub(super) unsafe fn wide_ptr(p: *const u16) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let mut len = 0;
    // SAFETY: the caller promises a terminating NUL; the bound stops a runaway read.
    while len < 32_767 && unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    let s = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) });
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_guids_parse() {
        let g = parse_guid("0cce921b-69ae-11d9-bed3-505054503030").expect("guid");
        assert_eq!(g.data1, 0x0cce_921b);
        assert_eq!(g.data2, 0x69ae);
        assert_eq!(g.data3, 0x11d9);
        assert_eq!(g.data4, [0xbe, 0xd3, 0x50, 0x50, 0x54, 0x50, 0x30, 0x30]);
        assert!(parse_guid("0cce921b-69ae").is_none());
        assert!(parse_guid("zzzzzzzz-69ae-11d9-bed3-505054503030").is_none());
    }
}
