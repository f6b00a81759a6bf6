//! The SECURITY hive's policy data: user rights and the primary domain.
//!
//! Each account with rights has a key `Policy\Accounts\<SID>`. Its `Privilgs` subkey's default
//! value is a `PRIVILEGE_SET` (count, control, then `LUID_AND_ATTRIBUTES` entries of 12 bytes
//! whose low part is the well-known privilege number of `winnt.h`), and its `ActSysAc` subkey's
//! default value is the logon-rights bit mask of `ntlsa.h` (`SECURITY_ACCESS_*`).
//! `Policy\PolPrDmS` holds the SID of the primary domain, and is empty on a workgroup machine.

use super::UserRights;

/// Privileges by their LUID low part (`winnt.h`: `SE_CREATE_TOKEN_PRIVILEGE` is 2, ...).
pub const PRIVILEGES: [(u32, &str); 35] = [
    (2, "SeCreateTokenPrivilege"),
    (3, "SeAssignPrimaryTokenPrivilege"),
    (4, "SeLockMemoryPrivilege"),
    (5, "SeIncreaseQuotaPrivilege"),
    (6, "SeMachineAccountPrivilege"),
    (7, "SeTcbPrivilege"),
    (8, "SeSecurityPrivilege"),
    (9, "SeTakeOwnershipPrivilege"),
    (10, "SeLoadDriverPrivilege"),
    (11, "SeSystemProfilePrivilege"),
    (12, "SeSystemtimePrivilege"),
    (13, "SeProfileSingleProcessPrivilege"),
    (14, "SeIncreaseBasePriorityPrivilege"),
    (15, "SeCreatePagefilePrivilege"),
    (16, "SeCreatePermanentPrivilege"),
    (17, "SeBackupPrivilege"),
    (18, "SeRestorePrivilege"),
    (19, "SeShutdownPrivilege"),
    (20, "SeDebugPrivilege"),
    (21, "SeAuditPrivilege"),
    (22, "SeSystemEnvironmentPrivilege"),
    (23, "SeChangeNotifyPrivilege"),
    (24, "SeRemoteShutdownPrivilege"),
    (25, "SeUndockPrivilege"),
    (26, "SeSyncAgentPrivilege"),
    (27, "SeEnableDelegationPrivilege"),
    (28, "SeManageVolumePrivilege"),
    (29, "SeImpersonatePrivilege"),
    (30, "SeCreateGlobalPrivilege"),
    (31, "SeTrustedCredManAccessPrivilege"),
    (32, "SeRelabelPrivilege"),
    (33, "SeIncreaseWorkingSetPrivilege"),
    (34, "SeTimeZonePrivilege"),
    (35, "SeCreateSymbolicLinkPrivilege"),
    (36, "SeDelegateSessionUserImpersonatePrivilege"),
];

/// Logon rights by their `SECURITY_ACCESS_*` bit (`ntlsa.h`).
pub const LOGON_RIGHTS: [(u32, &str); 10] = [
    (0x0001, "SeInteractiveLogonRight"),
    (0x0002, "SeNetworkLogonRight"),
    (0x0004, "SeBatchLogonRight"),
    (0x0010, "SeServiceLogonRight"),
    (0x0040, "SeDenyInteractiveLogonRight"),
    (0x0080, "SeDenyNetworkLogonRight"),
    (0x0100, "SeDenyBatchLogonRight"),
    (0x0200, "SeDenyServiceLogonRight"),
    (0x0400, "SeRemoteInteractiveLogonRight"),
    (0x0800, "SeDenyRemoteInteractiveLogonRight"),
];

/// Whether `name` is a known right or privilege constant.
pub fn is_right(name: &str) -> bool {
    PRIVILEGES.iter().any(|(_, n)| *n == name) || LOGON_RIGHTS.iter().any(|(_, n)| *n == name)
}

/// Well-known SIDs and their names, for evidence.
pub const WELL_KNOWN: [(&str, &str); 14] = [
    ("S-1-1-0", "Everyone"),
    ("S-1-5-6", "SERVICE"),
    ("S-1-5-7", "ANONYMOUS LOGON"),
    ("S-1-5-11", "Authenticated Users"),
    ("S-1-5-19", "LOCAL SERVICE"),
    ("S-1-5-20", "NETWORK SERVICE"),
    ("S-1-5-32-544", "Administrators"),
    ("S-1-5-32-545", "Users"),
    ("S-1-5-32-546", "Guests"),
    ("S-1-5-32-551", "Backup Operators"),
    ("S-1-5-32-555", "Remote Desktop Users"),
    ("S-1-5-113", "Local account"),
    (
        "S-1-5-114",
        "Local account and member of Administrators group",
    ),
    ("S-1-5-90-0", "Window Manager\\Window Manager Group"),
];

/// `S-1-5-32-546 (Guests)` for a known SID, the SID alone otherwise.
pub fn sid_label(sid: &str) -> String {
    match WELL_KNOWN.iter().find(|(s, _)| s.eq_ignore_ascii_case(sid)) {
        Some((_, name)) => format!("{sid} ({name})"),
        None => sid.to_string(),
    }
}

/// Privilege names in a `Privilgs` value.
///
/// # Errors
/// When the set is truncated.
pub fn decode_privileges(data: &[u8]) -> Result<Vec<String>, String> {
    let count = data
        .get(0..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("Privilgs value is shorter than its header")?;
    if 8 + count.saturating_mul(12) > data.len() {
        return Err(format!(
            "Privilgs value claims {count} privileges in {} bytes",
            data.len()
        ));
    }
    Ok((0..count)
        .map(|i| {
            let at = 8 + i * 12;
            let luid = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            PRIVILEGES.iter().find(|(n, _)| *n == luid).map_or_else(
                || format!("privilege #{luid}"),
                |(_, name)| name.to_string(),
            )
        })
        .collect())
}

/// Encodes a `Privilgs` value (for fixtures); unknown names are skipped.
pub fn encode_privileges(names: &[&str]) -> Vec<u8> {
    let luids: Vec<u32> = names
        .iter()
        .filter_map(|n| PRIVILEGES.iter().find(|(_, p)| p == n).map(|(l, _)| *l))
        .collect();
    let mut out = Vec::new();
    out.extend_from_slice(&(luids.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for l in luids {
        out.extend_from_slice(&l.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
    }
    out
}

/// Logon-right names in an `ActSysAc` value.
pub fn decode_logon_rights(data: &[u8]) -> Vec<String> {
    let mask = data
        .get(0..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    LOGON_RIGHTS
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Encodes an `ActSysAc` value (for fixtures).
pub fn encode_logon_rights(names: &[&str]) -> Vec<u8> {
    let mask = LOGON_RIGHTS
        .iter()
        .filter(|(_, n)| names.contains(n))
        .fold(0u32, |m, (b, _)| m | b);
    mask.to_le_bytes().to_vec()
}

/// A binary SID as `S-1-...`.
///
/// # Errors
/// When malformed.
pub fn decode_sid(b: &[u8]) -> Result<String, String> {
    let (Some(&rev), Some(&n)) = (b.first(), b.get(1)) else {
        return Err("empty SID".into());
    };
    let n = usize::from(n);
    if rev != 1 || n > 15 || b.len() < 8 + 4 * n {
        return Err(format!("malformed SID ({} bytes)", b.len()));
    }
    let auth = b[2..8].iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
    let mut s = format!("S-1-{auth}");
    for i in 0..n {
        let at = 8 + 4 * i;
        s.push_str(&format!(
            "-{}",
            u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
        ));
    }
    Ok(s)
}

/// A SID string as bytes (for fixtures); `None` when malformed.
pub fn encode_sid(s: &str) -> Option<Vec<u8>> {
    let mut parts = s.strip_prefix("S-1-")?.split('-');
    let auth: u64 = parts.next()?.parse().ok()?;
    let subs: Vec<u32> = parts.map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let mut out = vec![1u8, u8::try_from(subs.len()).ok()?];
    out.extend_from_slice(&auth.to_be_bytes()[2..]);
    for v in subs {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Some(out)
}

/// Adds the rights of one account to `rights`.
pub fn add_account(rights: &mut UserRights, sid: &str, names: impl IntoIterator<Item = String>) {
    for n in names {
        let holders = rights.entry(n).or_default();
        if !holders.iter().any(|h| h.eq_ignore_ascii_case(sid)) {
            holders.push(sid.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_sets_and_logon_rights() {
        // Two privileges as LSA stores them: SeBackupPrivilege (17), SeShutdownPrivilege (19).
        let raw = [
            2, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 19, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0,
        ];
        assert_eq!(
            decode_privileges(&raw).expect("decodes"),
            ["SeBackupPrivilege", "SeShutdownPrivilege"]
        );
        assert!(decode_privileges(&raw[..20]).is_err());
        assert_eq!(
            decode_privileges(&encode_privileges(&["SeDebugPrivilege"])).expect("decodes"),
            ["SeDebugPrivilege"]
        );
        assert_eq!(
            decode_logon_rights(&0x0880u32.to_le_bytes()),
            [
                "SeDenyNetworkLogonRight",
                "SeDenyRemoteInteractiveLogonRight"
            ]
        );
        assert_eq!(
            decode_logon_rights(&encode_logon_rights(&["SeRemoteInteractiveLogonRight"])),
            ["SeRemoteInteractiveLogonRight"]
        );
    }

    #[test]
    fn sids_round_trip() {
        for s in [
            "S-1-5-32-544",
            "S-1-5-21-1004336348-1177238915-682003330-512",
            "S-1-1-0",
        ] {
            let b = encode_sid(s).expect("encodes");
            assert_eq!(decode_sid(&b).expect("decodes"), s);
        }
        assert_eq!(
            decode_sid(&[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 32, 2, 0, 0]).expect("decodes"),
            "S-1-5-32-544"
        );
        assert!(decode_sid(&[1, 5, 0]).is_err());
        assert!(encode_sid("S-2-x").is_none());
        assert_eq!(sid_label("S-1-5-32-546"), "S-1-5-32-546 (Guests)");
    }
}
