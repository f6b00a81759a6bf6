//! Access control lists of the state directory and configuration files.
//!
//! The Windows counterpart of the 0700/0600 rule: the state directory (keys, spool, baselines)
//! gets a protected DACL, inherited by everything created in it, that grants full control to
//! SYSTEM, Administrators and, when the agent runs as someone else (tests, a manual run), that
//! account; nothing is inherited from the parent, so `%ProgramData%`'s grants to Users do not
//! leak in. [`check_private_dir`] refuses, at every start, a directory whose DACL grants anything
//! to anyone else; [`check_not_world_writable`] refuses configuration files that broad groups
//! (Everyone, Users, Authenticated Users, …) may write, as `o+w` is refused on Linux.
//!
//! The Win32 calls sit in small wrappers: each owns what the API allocates ([`LocalBox`]) and
//! reads ACEs only through `GetAce` within the count `GetAclInformation` gives.
#![allow(
    unsafe_code,
    reason = "security descriptors are only reachable through Win32 calls with raw pointers"
)]

use std::ffi::c_void;
use std::path::Path;
use std::ptr;

use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
    ConvertStringSidToSidW, GetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT,
    SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, AclSizeInformation,
    DACL_SECURITY_INFORMATION, GetAce, GetAclInformation, GetSecurityDescriptorDacl,
    GetTokenInformation, LookupAccountSidW, OWNER_SECURITY_INFORMATION,
    PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, SID_NAME_USE,
    SetFileSecurityW, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::wide;

/// LocalSystem.
pub const SID_SYSTEM: &str = "S-1-5-18";
/// BUILTIN\Administrators.
pub const SID_ADMINISTRATORS: &str = "S-1-5-32-544";
/// NT SERVICE\TrustedInstaller.
const SID_TRUSTED_INSTALLER: &str =
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";
/// Groups whose write access makes a file "world-writable".
const BROAD_GROUPS: &[&str] = &[
    "S-1-1-0",      // Everyone
    "S-1-5-7",      // Anonymous
    "S-1-5-2",      // Network
    "S-1-5-4",      // Interactive
    "S-1-5-11",     // Authenticated Users
    "S-1-5-32-545", // Users
    "S-1-5-32-546", // Guests
];

/// Access bits that let a trustee change a file or directory, its contents or its DACL.
const WRITE_BITS: u32 = 0x0000_0002 // FILE_WRITE_DATA / FILE_ADD_FILE
    | 0x0000_0004 // FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY
    | 0x0000_0010 // FILE_WRITE_EA
    | 0x0000_0040 // FILE_DELETE_CHILD
    | 0x0000_0100 // FILE_WRITE_ATTRIBUTES
    | 0x0001_0000 // DELETE
    | 0x0004_0000 // WRITE_DAC
    | 0x0008_0000 // WRITE_OWNER
    | 0x1000_0000 // GENERIC_ALL
    | 0x4000_0000; // GENERIC_WRITE

/// `ACCESS_ALLOWED_ACE_TYPE`; the other allow types (object, callback) never appear on files.
const ACCESS_ALLOWED: u8 = 0;
/// Highest standard ACE type that grants (`ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE` is 0xB).
const ALLOW_TYPES: [u8; 5] = [0x0, 0x4, 0x5, 0x9, 0xB];

/// One allow entry of a DACL: who, with which access mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// String SID (`S-1-5-32-545`).
    pub sid: String,
    /// Access mask.
    pub mask: u32,
    /// `DOMAIN\name` when the SID resolves.
    pub name: Option<String>,
}

/// The DACL and owner of a file or directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// `None`: a NULL DACL, which grants everyone full control.
    pub grants: Option<Vec<Grant>>,
    /// Owner SID.
    pub owner: Option<String>,
}

/// Creates `dir` with a protected DACL: full control for SYSTEM, Administrators and the current
/// account. An existing directory is tightened and the DACL propagates to what it holds.
///
/// # Errors
/// The failing call.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut sddl = format!("D:P(A;OICI;FA;;;{SID_SYSTEM})(A;OICI;FA;;;{SID_ADMINISTRATORS})");
    if let Some(me) = current_user_sid().filter(|s| s != SID_SYSTEM) {
        sddl.push_str(&format!("(A;OICI;FA;;;{me})"));
    }
    set_dacl(dir, &sddl)
}

/// Refuses a directory whose DACL grants any access to someone other than SYSTEM,
/// Administrators, TrustedInstaller or the current account.
///
/// # Errors
/// A message naming the directory, who has access and how to fix it.
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    let acl = read_acl(dir).map_err(|e| format!("{}: reading its ACL: {e}", dir.display()))?;
    let me = current_user_sid();
    let fix = format!(
        "run `vigil-agent service install` or: icacls \"{}\" /inheritance:r /grant:r \
         *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F",
        dir.display()
    );
    let Some(grants) = acl.grants else {
        return Err(format!(
            "{}: state directory has no DACL (everyone has full control); {fix}",
            dir.display()
        ));
    };
    let others: Vec<String> = grants
        .iter()
        .filter(|g| g.mask != 0)
        .filter(|g| {
            ![SID_SYSTEM, SID_ADMINISTRATORS, SID_TRUSTED_INSTALLER].contains(&g.sid.as_str())
                && me.as_deref() != Some(g.sid.as_str())
        })
        .map(describe)
        .collect();
    if others.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: state directory is accessible to {}; {fix}",
            dir.display(),
            others.join(", ")
        ))
    }
}

/// Refuses a secret file (an enrollment token) that Everyone, Users, Authenticated Users or
/// another broad group may read or write: only its owner and the administrators may.
///
/// # Errors
/// A message naming the file, the group and the fix.
pub fn check_private_file(path: &Path, _meta: &std::fs::Metadata) -> Result<(), String> {
    let acl = read_acl(path).map_err(|e| format!("{}: reading its ACL: {e}", path.display()))?;
    let Some(grants) = acl.grants else {
        return Err(format!(
            "{}: a file without DACL (anyone may read it); it holds a secret",
            path.display()
        ));
    };
    let readers: Vec<String> = grants
        .iter()
        .filter(|g| g.mask != 0 && is_broad_group(&g.sid))
        .map(describe)
        .collect();
    if readers.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {} may read this file, which holds a secret (icacls \"{}\" /inheritance:r \
             /grant:r \"%USERNAME%\":F)",
            path.display(),
            readers.join(", "),
            path.display()
        ))
    }
}

/// Refuses a file that Everyone, Users, Authenticated Users or another broad group may write.
///
/// # Errors
/// A message naming the file and the group.
pub fn check_not_world_writable(path: &Path) -> Result<(), String> {
    let acl = read_acl(path).map_err(|e| format!("{}: reading its ACL: {e}", path.display()))?;
    let Some(grants) = acl.grants else {
        return Err(format!(
            "{}: refusing a file without DACL (anyone may write it)",
            path.display()
        ));
    };
    let writers: Vec<String> = grants
        .iter()
        .filter(|g| g.mask & WRITE_BITS != 0 && is_broad_group(&g.sid))
        .map(describe)
        .collect();
    if writers.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: refusing a file that {} may write (icacls \"{}\" /remove:g *S-1-5-32-545 \
             *S-1-5-11 *S-1-1-0)",
            path.display(),
            writers.join(", "),
            path.display()
        ))
    }
}

/// Whether a SID is a broad group: Everyone, Users, …, or a domain's Domain Users / Guests.
fn is_broad_group(sid: &str) -> bool {
    BROAD_GROUPS.contains(&sid)
        || (sid.starts_with("S-1-5-21-") && (sid.ends_with("-513") || sid.ends_with("-514")))
}

fn describe(g: &Grant) -> String {
    match &g.name {
        Some(n) => format!("{n} ({})", g.sid),
        None => g.sid.clone(),
    }
}

/// Memory the security API allocated with `LocalAlloc`, freed on drop.
struct LocalBox(*mut c_void);

impl Drop for LocalBox {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from an API documented to allocate with LocalAlloc and is
            // freed once, here.
            unsafe { LocalFree(self.0) };
        }
    }
}

/// Replaces the DACL of `path` with the one of an SDDL string (`D:P(...)`).
fn set_dacl(path: &Path, sddl: &str) -> std::io::Result<()> {
    let sddl_w = wide(sddl);
    let mut sd: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: `sddl_w` is NUL-terminated; `sd` receives a LocalAlloc'ed descriptor we own.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl_w.as_ptr(),
            SDDL_REVISION_1,
            &mut sd,
            ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let sd = LocalBox(sd);
    let (mut present, mut defaulted) = (0, 0);
    let mut dacl: *mut ACL = ptr::null_mut();
    // SAFETY: `sd.0` is a valid descriptor; `dacl` points into it and lives as long as `sd`.
    let ok = unsafe { GetSecurityDescriptorDacl(sd.0, &mut present, &mut dacl, &mut defaulted) };
    if ok == 0 || present == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let path_w = wide(&path.as_os_str().to_string_lossy());
    // SAFETY: NUL-terminated path; `dacl` is valid while `sd` lives (until the end of scope).
    let rc = unsafe {
        SetNamedSecurityInfoW(
            path_w.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            ptr::null_mut(),
            ptr::null_mut(),
            dacl,
            ptr::null(),
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(rc as i32));
    }
    // The same descriptor on the object itself. On Windows this changes nothing more (the call
    // above set it and propagated it to what the directory holds); Wine implements only this
    // call, as Unix mode bits, which is what its tests then see.
    // SAFETY: NUL-terminated path; `sd.0` is a valid self-relative descriptor.
    if unsafe { SetFileSecurityW(path_w.as_ptr(), DACL_SECURITY_INFORMATION, sd.0) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Reads the owner and the allow entries of the DACL of `path`.
///
/// # Errors
/// The failing call.
pub fn read_acl(path: &Path) -> std::io::Result<Acl> {
    let path_w = wide(&path.as_os_str().to_string_lossy());
    let mut owner: PSID = ptr::null_mut();
    let mut dacl: *mut ACL = ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: NUL-terminated path; the out pointers point into `sd`, which we free.
    let rc = unsafe {
        GetNamedSecurityInfoW(
            path_w.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION,
            &mut owner,
            ptr::null_mut(),
            &mut dacl,
            ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(rc as i32));
    }
    let _sd = LocalBox(sd);
    let owner = (!owner.is_null()).then(|| sid_string(owner)).flatten();
    if dacl.is_null() {
        return Ok(Acl {
            grants: None,
            owner,
        });
    }
    Ok(Acl {
        grants: Some(allow_entries(dacl)?),
        owner,
    })
}

/// The allow entries of a DACL. An allow type other than the plain one is reported with the
/// SID "unknown" and a full mask, so a check refuses it rather than overlooking it.
fn allow_entries(dacl: *mut ACL) -> std::io::Result<Vec<Grant>> {
    let mut info = ACL_SIZE_INFORMATION {
        AceCount: 0,
        AclBytesInUse: 0,
        AclBytesFree: 0,
    };
    // SAFETY: `dacl` is a valid ACL (from GetNamedSecurityInfoW); `info` has the size we pass.
    let ok = unsafe {
        GetAclInformation(
            dacl,
            (&mut info as *mut ACL_SIZE_INFORMATION).cast(),
            std::mem::size_of::<ACL_SIZE_INFORMATION>() as u32,
            AclSizeInformation,
        )
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    for i in 0..info.AceCount {
        let mut ace: *mut c_void = ptr::null_mut();
        // SAFETY: `i` is below the ACE count; GetAce returns a pointer into the ACL.
        if unsafe { GetAce(dacl, i, &mut ace) } == 0 || ace.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        let header = unsafe { ptr::read_unaligned(ace.cast::<ACE_HEADER>()) };
        if header.AceType == ACCESS_ALLOWED {
            // SAFETY: an ACCESS_ALLOWED_ACE: header, mask, then the SID starting at SidStart.
            let mask = unsafe { ptr::read_unaligned(ace.cast::<ACCESS_ALLOWED_ACE>()).Mask };
            let sid_ptr = unsafe {
                ace.cast::<u8>()
                    .add(std::mem::offset_of!(ACCESS_ALLOWED_ACE, SidStart))
                    .cast::<c_void>()
            };
            let sid = sid_string(sid_ptr).unwrap_or_else(|| "unknown".into());
            let name = account_name(sid_ptr);
            out.push(Grant { sid, mask, name });
        } else if ALLOW_TYPES.contains(&header.AceType) {
            out.push(Grant {
                sid: "unknown".into(),
                mask: u32::MAX,
                name: Some(format!("an allow entry of type {}", header.AceType)),
            });
        }
    }
    Ok(out)
}

/// `S-1-…` form of a SID.
pub(super) fn sid_string(sid: PSID) -> Option<String> {
    let mut s: *mut u16 = ptr::null_mut();
    // SAFETY: `sid` points to a valid SID; `s` receives a LocalAlloc'ed string we free.
    if unsafe { ConvertSidToStringSidW(sid, &mut s) } == 0 || s.is_null() {
        return None;
    }
    let b = LocalBox(s.cast());
    // SAFETY: the API returns a NUL-terminated string.
    Some(unsafe { from_wide_ptr(b.0.cast()) })
}

/// The account name of a string SID without its domain (`S-1-5-32-544` → `Administrators`,
/// localised as Windows names it).
pub fn name_of_sid(sid: &str) -> Option<String> {
    let full = account_of_sid(sid)?;
    Some(match full.rsplit_once('\\') {
        Some((_, name)) => name.to_string(),
        None => full,
    })
}

/// `DOMAIN\name` of a string SID, when it resolves.
pub fn account_of_sid(sid: &str) -> Option<String> {
    let w = wide(sid);
    let mut psid: PSID = ptr::null_mut();
    // SAFETY: NUL-terminated string; `psid` receives a LocalAlloc'ed SID we free.
    if unsafe { ConvertStringSidToSidW(w.as_ptr(), &mut psid) } == 0 || psid.is_null() {
        return None;
    }
    let owned = LocalBox(psid);
    account_name(owned.0)
}

/// `DOMAIN\name` of a SID, when it resolves.
fn account_name(sid: PSID) -> Option<String> {
    let mut name = [0u16; 256];
    let mut domain = [0u16; 256];
    let (mut n, mut d) = (name.len() as u32, domain.len() as u32);
    let mut use_: SID_NAME_USE = 0;
    // SAFETY: both buffers are as large as the sizes passed.
    let ok = unsafe {
        LookupAccountSidW(
            ptr::null(),
            sid,
            name.as_mut_ptr(),
            &mut n,
            domain.as_mut_ptr(),
            &mut d,
            &mut use_,
        )
    };
    if ok == 0 {
        return None;
    }
    let name = String::from_utf16_lossy(&name[..n as usize]);
    let domain = String::from_utf16_lossy(&domain[..d as usize]);
    Some(if domain.is_empty() {
        name
    } else {
        format!("{domain}\\{name}")
    })
}

/// The SID of the account this process runs as.
pub fn current_user_sid() -> Option<String> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: the pseudo-handle of the current process; `token` is closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return None;
    }
    let mut buf = vec![0u64; 64]; // 512 bytes, 8-aligned: TOKEN_USER plus the SID
    let mut len = 0u32;
    // SAFETY: `buf` is as large as the size passed and aligned for TOKEN_USER.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut len,
        )
    };
    // SAFETY: `token` was opened above.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return None;
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points into `buf`.
    let user = unsafe { ptr::read_unaligned(buf.as_ptr().cast::<TOKEN_USER>()) };
    sid_string(user.User.Sid)
}

/// Reads a NUL-terminated UTF-16 string.
///
/// # Safety
/// `p` must point to a NUL-terminated UTF-16 string.
unsafe fn from_wide_ptr(p: *const u16) -> String {
    let mut len = 0;
    // SAFETY: the caller promises a terminating NUL.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` elements were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dir_passes_and_a_grant_to_users_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("state");
        create_private_dir(&dir).expect("create");
        check_private_dir(&dir).expect("our own ACL passes");
        let acl = read_acl(&dir).expect("read");
        let sids: Vec<&str> = acl
            .grants
            .as_deref()
            .expect("a DACL")
            .iter()
            .map(|g| g.sid.as_str())
            .collect();
        assert!(sids.contains(&SID_SYSTEM), "{sids:?}");
        // Everyone with read access (the keys live here) is refused, named, with the fix. (Wine
        // keeps file ACLs as Unix modes, so only owner and Everyone can be tested under it.)
        set_dacl(
            &dir,
            &format!("D:P(A;OICI;FA;;;{SID_SYSTEM})(A;OICI;FR;;;WD)"),
        )
        .expect("loosen");
        let e = check_private_dir(&dir).expect_err("Everyone may read");
        assert!(e.contains("S-1-1-0") && e.contains("icacls"), "{e}");
        // Creating again tightens it.
        create_private_dir(&dir).expect("tighten");
        check_private_dir(&dir).expect("tight again");
    }

    #[test]
    fn world_writable_config_is_refused_and_a_read_only_one_accepted() {
        let tmp = tempfile::tempdir().expect("tmp");
        let f = tmp.path().join("agent.toml");
        std::fs::write(&f, "").expect("write");
        set_dacl(
            &f,
            &format!("D:P(A;;FA;;;{SID_SYSTEM})(A;;FA;;;{SID_ADMINISTRATORS})(A;;FR;;;S-1-1-0)"),
        )
        .expect("set");
        check_not_world_writable(&f).expect("Everyone may only read");
        set_dacl(&f, &format!("D:P(A;;FA;;;{SID_SYSTEM})(A;;FA;;;WD)")).expect("set");
        let e = check_not_world_writable(&f).expect_err("Everyone may write");
        assert!(e.contains("S-1-1-0"), "{e}");
    }

    #[test]
    fn well_known_sids_resolve() {
        assert!(current_user_sid().is_some_and(|s| s.starts_with("S-1-5-")));
        assert!(name_of_sid(SID_ADMINISTRATORS).is_some());
        assert!(is_broad_group("S-1-5-21-1-2-3-513") && !is_broad_group("S-1-5-21-1-2-3-500"));
    }
}
