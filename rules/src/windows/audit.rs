//! Advanced audit policy subcategories and the layout of the `PolAdtEv` value.
//!
//! The subcategory GUIDs are the public constants of `ntsecapi.h` (`Audit_Logon_SpecialLogon`
//! is `0cce921b-69ae-11d9-bed3-505054503030`). Names are those `auditpol /get` prints, which is
//! how policies (and Wazuh SCA checks) name them.
//!
//! `SECURITY\Policy\PolAdtEv` holds the system audit policy as a 12-byte header (revision,
//! reserved, number of categories, offset of the per-category counts), one 16-bit setting per
//! subcategory (bit 0 success, bit 1 failure), a spare 16-bit value, then the number of
//! subcategories of each of the nine categories. The order of the settings is Windows'
//! internal one, which is not the GUID order; it is known here for two layouts, recognised by
//! their category counts: Windows 10 1607 and later / Server 2016–2022 (59 subcategories, as
//! decoded by RegRipper's `auditpol` plugin) and Windows 11 (60: one more Logon/Logoff entry,
//! taken to be appended at the end of its category, as every earlier addition was). Any other
//! layout is reported as unknown rather than guessed.

use super::{AuditFlags, AuditPolicy};

/// The nine audit categories, in `PolAdtEv` order.
pub const CATEGORIES: [&str; 9] = [
    "System",
    "Logon/Logoff",
    "Object Access",
    "Privilege Use",
    "Detailed Tracking",
    "Policy Change",
    "Account Management",
    "DS Access",
    "Account Logon",
];

/// A subcategory: category index, `auditpol` name, GUID prefix (the common suffix is
/// `-69ae-11d9-bed3-505054503030`).
pub type Subcategory = (usize, &'static str, &'static str);

/// Every subcategory, in the `PolAdtEv` order of the 59-entry layout.
pub const SUBCATEGORIES: [Subcategory; 59] = [
    (0, "Security State Change", "0cce9210"),
    (0, "Security System Extension", "0cce9211"),
    (0, "System Integrity", "0cce9212"),
    (0, "IPsec Driver", "0cce9213"),
    (0, "Other System Events", "0cce9214"),
    (1, "Logon", "0cce9215"),
    (1, "Logoff", "0cce9216"),
    (1, "Account Lockout", "0cce9217"),
    (1, "IPsec Main Mode", "0cce9218"),
    (1, "Special Logon", "0cce921b"),
    (1, "IPsec Quick Mode", "0cce9219"),
    (1, "IPsec Extended Mode", "0cce921a"),
    (1, "Other Logon/Logoff Events", "0cce921c"),
    (1, "Network Policy Server", "0cce9243"),
    (1, "User / Device Claims", "0cce9247"),
    (1, "Group Membership", "0cce9249"),
    (2, "File System", "0cce921d"),
    (2, "Registry", "0cce921e"),
    (2, "Kernel Object", "0cce921f"),
    (2, "SAM", "0cce9220"),
    (2, "Other Object Access Events", "0cce9227"),
    (2, "Certification Services", "0cce9221"),
    (2, "Application Generated", "0cce9222"),
    (2, "Handle Manipulation", "0cce9223"),
    (2, "File Share", "0cce9224"),
    (2, "Filtering Platform Packet Drop", "0cce9225"),
    (2, "Filtering Platform Connection", "0cce9226"),
    (2, "Detailed File Share", "0cce9244"),
    (2, "Removable Storage", "0cce9245"),
    (2, "Central Policy Staging", "0cce9246"),
    (3, "Sensitive Privilege Use", "0cce9228"),
    (3, "Non Sensitive Privilege Use", "0cce9229"),
    (3, "Other Privilege Use Events", "0cce922a"),
    (4, "Process Creation", "0cce922b"),
    (4, "Process Termination", "0cce922c"),
    (4, "DPAPI Activity", "0cce922d"),
    (4, "RPC Events", "0cce922e"),
    (4, "Plug and Play Events", "0cce9248"),
    (4, "Token Right Adjusted Events", "0cce924a"),
    (5, "Audit Policy Change", "0cce922f"),
    (5, "Authentication Policy Change", "0cce9230"),
    (5, "Authorization Policy Change", "0cce9231"),
    (5, "MPSSVC Rule-Level Policy Change", "0cce9232"),
    (5, "Filtering Platform Policy Change", "0cce9233"),
    (5, "Other Policy Change Events", "0cce9234"),
    (6, "User Account Management", "0cce9235"),
    (6, "Computer Account Management", "0cce9236"),
    (6, "Security Group Management", "0cce9237"),
    (6, "Distribution Group Management", "0cce9238"),
    (6, "Application Group Management", "0cce9239"),
    (6, "Other Account Management Events", "0cce923a"),
    (7, "Directory Service Access", "0cce923b"),
    (7, "Directory Service Changes", "0cce923c"),
    (7, "Directory Service Replication", "0cce923d"),
    (7, "Detailed Directory Service Replication", "0cce923e"),
    (8, "Credential Validation", "0cce923f"),
    (8, "Kerberos Service Ticket Operations", "0cce9240"),
    (8, "Other Account Logon Events", "0cce9241"),
    (8, "Kerberos Authentication Service", "0cce9242"),
];

/// Alternative names found in policies and older `auditpol` output.
const ALIASES: [(&str, &str); 3] = [
    ("User/Device Claims", "0cce9247"),
    ("PNP Activity", "0cce9248"),
    ("Central Access Policy Staging", "0cce9246"),
];

/// Category counts of the Windows 10 1607+ / Server 2016+ layout.
const COUNTS_59: [u16; 9] = [5, 11, 14, 3, 6, 6, 6, 4, 4];
/// Category counts of the Windows 11 layout.
const COUNTS_60: [u16; 9] = [5, 12, 14, 3, 6, 6, 6, 4, 4];

/// The full GUID of a subcategory.
pub fn guid(prefix: &str) -> String {
    format!("{prefix}-69ae-11d9-bed3-505054503030")
}

/// Finds a subcategory by `auditpol` name (case-insensitive) or GUID (braces optional).
pub fn lookup(name_or_guid: &str) -> Option<&'static Subcategory> {
    let t = name_or_guid
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase();
    let prefix = t.split('-').next().unwrap_or("");
    SUBCATEGORIES
        .iter()
        .find(|s| {
            s.1.eq_ignore_ascii_case(name_or_guid.trim()) || (t.contains('-') && s.2 == prefix)
        })
        .or_else(|| {
            ALIASES
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(name_or_guid.trim()))
                .and_then(|(_, g)| SUBCATEGORIES.iter().find(|s| s.2 == *g))
        })
}

/// Decodes `PolAdtEv` data.
///
/// # Errors
/// When the data is malformed or its layout is not one of the two known.
pub fn decode(data: &[u8]) -> Result<AuditPolicy, String> {
    let u16_at = |i: usize| data.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |i: usize| {
        data.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(ncat), Some(counts_at)) = (u32_at(4), u32_at(8)) else {
        return Err(format!(
            "PolAdtEv has {} bytes, too few for its header",
            data.len()
        ));
    };
    let (ncat, counts_at) = (ncat as usize, counts_at as usize);
    if ncat != 9 || counts_at.checked_add(2 * ncat) != Some(data.len()) {
        return Err(format!(
            "PolAdtEv ({} bytes) does not have the known shape (9 categories, counts at the end)",
            data.len()
        ));
    }
    let counts: Vec<u16> = (0..9)
        .map(|i| u16_at(counts_at + 2 * i).unwrap_or(0))
        .collect();
    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
    if 12 + 2 * total > counts_at {
        return Err("PolAdtEv counts more settings than it holds".into());
    }
    let order: Vec<Option<&Subcategory>> = if counts == COUNTS_59 {
        SUBCATEGORIES.iter().map(Some).collect()
    } else if counts == COUNTS_60 {
        let mut v: Vec<Option<&Subcategory>> = SUBCATEGORIES.iter().map(Some).collect();
        // The twelfth Logon/Logoff entry, after Group Membership; its meaning is not known.
        v.insert(16, None);
        v
    } else {
        return Err(format!(
            "PolAdtEv has an unknown layout (subcategories per category {counts:?}); the audit \
             policy of this Windows version is not decoded"
        ));
    };
    let mut settings = std::collections::BTreeMap::new();
    for (i, sub) in order.iter().enumerate() {
        let v = u16_at(12 + 2 * i).unwrap_or(0);
        if let Some(s) = sub {
            settings.insert(
                guid(s.2),
                AuditFlags {
                    success: v & 1 != 0,
                    failure: v & 2 != 0,
                },
            );
        }
    }
    Ok(AuditPolicy { settings })
}

/// Encodes a policy in the Windows 11 layout (subcategories missing from `p` are not audited).
pub fn encode(p: &AuditPolicy) -> Vec<u8> {
    let mut values: Vec<u16> = SUBCATEGORIES
        .iter()
        .map(|s| {
            let f = p.settings.get(&guid(s.2)).copied().unwrap_or_default();
            u16::from(f.success) | (u16::from(f.failure) << 1)
        })
        .collect();
    values.insert(16, 0);
    let counts_at = 12 + 2 * values.len() + 2;
    let mut out = Vec::with_capacity(counts_at + 18);
    out.extend_from_slice(&0x100u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&9u32.to_le_bytes());
    out.extend_from_slice(&(counts_at as u32).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&0u16.to_le_bytes());
    for c in COUNTS_60 {
        out.extend_from_slice(&c.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_layouts() {
        let per_cat: Vec<u16> = (0..9)
            .map(|c| SUBCATEGORIES.iter().filter(|s| s.0 == c).count() as u16)
            .collect();
        assert_eq!(per_cat, COUNTS_59);
        let mut seen = std::collections::BTreeSet::new();
        assert!(
            SUBCATEGORIES.iter().all(|s| seen.insert(s.2)),
            "unique GUIDs"
        );
        assert_eq!(
            lookup("credential validation").map(|s| s.2),
            Some("0cce923f")
        );
        assert_eq!(
            lookup("{0CCE921B-69AE-11D9-BED3-505054503030}").map(|s| s.1),
            Some("Special Logon")
        );
        assert_eq!(
            lookup("PNP Activity").map(|s| s.1),
            Some("Plug and Play Events")
        );
        assert!(lookup("Logon Events").is_none());
    }

    /// Positions measured on real systems: Special Logon is the tenth setting and Process
    /// Creation the 35th in the Windows 11 layout, the 34th in the older one.
    #[test]
    fn known_positions_decode() {
        let mut raw = encode(&AuditPolicy::default());
        raw[12 + 2 * 9] = 3;
        raw[12 + 2 * 34] = 1;
        let p = decode(&raw).expect("decodes");
        assert_eq!(
            p.settings[&guid("0cce921b")],
            AuditFlags {
                success: true,
                failure: true
            }
        );
        assert!(p.settings[&guid("0cce922b")].success);
        assert_eq!(p.settings.len(), 59);
        // The same settings in the 59-entry layout: drop the extra Logon/Logoff slot.
        let mut old: Vec<u8> = raw[..12].to_vec();
        for i in 0..60 {
            if i != 16 {
                old.extend_from_slice(&raw[12 + 2 * i..14 + 2 * i]);
            }
        }
        old.extend_from_slice(&[0, 0]);
        let counts_at = old.len() as u32;
        old[8..12].copy_from_slice(&counts_at.to_le_bytes());
        for c in COUNTS_59 {
            old.extend_from_slice(&c.to_le_bytes());
        }
        assert_eq!(
            old.len(),
            150,
            "the size RegRipper documents for this layout"
        );
        let p = decode(&old).expect("decodes");
        assert!(p.settings[&guid("0cce921b")].failure);
        assert!(p.settings[&guid("0cce922b")].success);
    }

    #[test]
    fn round_trip_and_unknown_shapes() {
        let mut p = AuditPolicy::default();
        for (i, s) in SUBCATEGORIES.iter().enumerate() {
            p.settings.insert(
                guid(s.2),
                AuditFlags {
                    success: i % 2 == 0,
                    failure: i % 3 == 0,
                },
            );
        }
        assert_eq!(decode(&encode(&p)).expect("decodes"), p);
        let good = encode(&p);
        assert!(decode(&good[..good.len() - 1]).is_err());
        assert!(decode(&[]).is_err());
        let mut other = good.clone();
        let at = other.len() - 18;
        other[at] = 6;
        assert!(
            decode(&other)
                .expect_err("unknown")
                .contains("unknown layout")
        );
    }
}
