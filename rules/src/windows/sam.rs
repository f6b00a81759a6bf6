//! The SAM hive's account data: the domain `F` value (password and lockout policy) and each
//! user's `F` value (account flags, last logon).
//!
//! `SAM\Domains\Account\F` is a `DOMAIN_ACCOUNT_F` record: times as negative 100 ns intervals
//! (the maximum password age at 0x18, minimum at 0x20, lockout duration at 0x30, observation
//! window at 0x38; `0x8000000000000000` meaning "never"), password properties at 0x4C (bit 0
//! complexity, bit 3 administrator lockout, bit 4 reversible encryption), minimum length at 0x50, history at 0x52 and lockout
//! threshold at 0x54 (16-bit each). `SAM\Domains\Account\Users\<RID>\F` has the last logon
//! FILETIME at 8 and the account control bits at 0x38 (0x0001 disabled, 0x0004 no password
//! required, 0x0200 password never expires). The name of a user is the subkey of `Users\Names`
//! whose default value's *type* is the RID. Offsets follow public forensic documentation of the
//! SAM (libyal's winreg-kb, the `DOMAIN_ACCOUNT_F` structure of SAM dumping tools).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{AccountPolicy, LocalUser};

/// "Never" in SAM time fields.
const NEVER: i64 = i64::MIN;
const TICKS_PER_MINUTE: u64 = 600_000_000;
const TICKS_PER_DAY: u64 = 864_000_000_000;
/// Size of the domain `F` value written by [`encode_domain_f`] (header and both key blocks).
const DOMAIN_F_LEN: usize = 0xF0;
/// Size of a user `F` value.
const USER_F_LEN: usize = 0x50;
/// FILETIME of the Unix epoch.
const EPOCH_FILETIME: u64 = 116_444_736_000_000_000;

fn le_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A negative interval in 100 ns units → `Some(units)` of `per`, `None` for "never".
fn interval(v: i64, per: u64) -> Option<u32> {
    if v == NEVER {
        return None;
    }
    let ticks = v.unsigned_abs();
    Some(u32::try_from(ticks / per).unwrap_or(u32::MAX))
}

fn encode_interval(v: Option<u32>, per: u64) -> i64 {
    match v {
        None => NEVER,
        Some(n) => -((u64::from(n) * per) as i64),
    }
}

/// Decodes the domain `F` value.
///
/// # Errors
/// When it is shorter than the fields read.
pub fn decode_domain_f(f: &[u8]) -> Result<AccountPolicy, String> {
    let short = || {
        format!(
            "SAM domain F value has {} bytes, expected at least 0x58",
            f.len()
        )
    };
    let i = |at| le_i64(f, at).ok_or_else(short);
    let w = |at| le_u16(f, at).map(u32::from).ok_or_else(short);
    let props = le_u32(f, 0x4C).ok_or_else(short)?;
    Ok(AccountPolicy {
        max_password_age_days: interval(i(0x18)?, TICKS_PER_DAY).filter(|&d| d > 0),
        min_password_age_days: interval(i(0x20)?, TICKS_PER_DAY).unwrap_or(0),
        lockout_duration_minutes: interval(i(0x30)?, TICKS_PER_MINUTE),
        lockout_window_minutes: interval(i(0x38)?, TICKS_PER_MINUTE).unwrap_or(0),
        complexity: props & 0x01 != 0,
        reversible_encryption: props & 0x10 != 0,
        admin_lockout: props & 0x08 != 0,
        min_password_length: w(0x50)?,
        password_history: w(0x52)?,
        lockout_threshold: w(0x54)?,
    })
}

/// Encodes a domain `F` value (for fixtures).
pub fn encode_domain_f(p: &AccountPolicy) -> Vec<u8> {
    let mut f = vec![0u8; DOMAIN_F_LEN];
    f[0..2].copy_from_slice(&3u16.to_le_bytes());
    let put_i64 =
        |f: &mut Vec<u8>, at: usize, v: i64| f[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put_i64(
        &mut f,
        0x18,
        encode_interval(p.max_password_age_days, TICKS_PER_DAY),
    );
    put_i64(
        &mut f,
        0x20,
        encode_interval(Some(p.min_password_age_days), TICKS_PER_DAY),
    );
    put_i64(&mut f, 0x28, NEVER);
    put_i64(
        &mut f,
        0x30,
        encode_interval(p.lockout_duration_minutes, TICKS_PER_MINUTE),
    );
    put_i64(
        &mut f,
        0x38,
        encode_interval(Some(p.lockout_window_minutes), TICKS_PER_MINUTE),
    );
    f[0x48..0x4C].copy_from_slice(&1000u32.to_le_bytes());
    let props = u32::from(p.complexity)
        | (u32::from(p.admin_lockout) << 3)
        | (u32::from(p.reversible_encryption) << 4);
    f[0x4C..0x50].copy_from_slice(&props.to_le_bytes());
    let w = |v: u32| u16::try_from(v).unwrap_or(u16::MAX).to_le_bytes();
    f[0x50..0x52].copy_from_slice(&w(p.min_password_length));
    f[0x52..0x54].copy_from_slice(&w(p.password_history));
    f[0x54..0x56].copy_from_slice(&w(p.lockout_threshold));
    f[0x58..0x5C].copy_from_slice(&1u32.to_le_bytes());
    f[0x5C..0x60].copy_from_slice(&3u32.to_le_bytes());
    f
}

/// Decodes a user's `F` value; `name` comes from the `Names` subkey.
///
/// # Errors
/// When it is too short.
pub fn decode_user_f(name: &str, f: &[u8]) -> Result<LocalUser, String> {
    let short = || {
        format!(
            "SAM F value of {name:?} has {} bytes, expected 0x50",
            f.len()
        )
    };
    let acb = le_u16(f, 0x38).ok_or_else(short)?;
    let last = le_i64(f, 0x08).ok_or_else(short)? as u64;
    Ok(LocalUser {
        name: name.to_string(),
        rid: le_u32(f, 0x30).ok_or_else(short)?,
        disabled: acb & 0x0001 != 0,
        password_required: acb & 0x0004 == 0,
        password_expires: acb & 0x0200 == 0,
        last_logon: filetime(last),
    })
}

/// Encodes a user's `F` value (for fixtures).
pub fn encode_user_f(u: &LocalUser) -> Vec<u8> {
    let mut f = vec![0u8; USER_F_LEN];
    f[0..2].copy_from_slice(&2u16.to_le_bytes());
    f[2..4].copy_from_slice(&1u16.to_le_bytes());
    let last = u.last_logon.map_or(0, to_filetime);
    f[0x08..0x10].copy_from_slice(&last.to_le_bytes());
    f[0x20..0x28].copy_from_slice(&i64::MAX.to_le_bytes());
    f[0x30..0x34].copy_from_slice(&u.rid.to_le_bytes());
    f[0x34..0x38].copy_from_slice(&513u32.to_le_bytes());
    let mut acb: u16 = 0x0010;
    if u.disabled {
        acb |= 0x0001;
    }
    if !u.password_required {
        acb |= 0x0004;
    }
    if !u.password_expires {
        acb |= 0x0200;
    }
    f[0x38..0x3A].copy_from_slice(&acb.to_le_bytes());
    f
}

/// A FILETIME as a time; 0 (and anything before 1970) is `None`.
pub fn filetime(ft: u64) -> Option<SystemTime> {
    let since = ft.checked_sub(EPOCH_FILETIME).filter(|_| ft != 0)?;
    UNIX_EPOCH.checked_add(Duration::from_nanos(since.saturating_mul(100)))
}

/// A time as a FILETIME.
pub fn to_filetime(t: SystemTime) -> u64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    EPOCH_FILETIME + (since.as_nanos() / 100) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets checked byte by byte against the documented record, not only by round trip.
    #[test]
    fn documented_offsets_decode() {
        let mut f = vec![0u8; 0x60];
        f[0x18..0x20].copy_from_slice(&(-(42 * 864_000_000_000i64)).to_le_bytes());
        f[0x20..0x28].copy_from_slice(&(-864_000_000_000i64).to_le_bytes());
        f[0x30..0x38].copy_from_slice(&(-(30 * 600_000_000i64)).to_le_bytes());
        f[0x38..0x40].copy_from_slice(&(-(15 * 600_000_000i64)).to_le_bytes());
        f[0x4C] = 0x19;
        f[0x50] = 14;
        f[0x52] = 24;
        f[0x54] = 5;
        let p = decode_domain_f(&f).expect("decodes");
        assert_eq!(
            p,
            AccountPolicy {
                min_password_length: 14,
                password_history: 24,
                max_password_age_days: Some(42),
                min_password_age_days: 1,
                lockout_threshold: 5,
                lockout_duration_minutes: Some(30),
                lockout_window_minutes: 15,
                complexity: true,
                reversible_encryption: true,
                admin_lockout: true,
            }
        );
        f[0x18..0x20].copy_from_slice(&i64::MIN.to_le_bytes());
        f[0x30..0x38].copy_from_slice(&i64::MIN.to_le_bytes());
        let p = decode_domain_f(&f).expect("decodes");
        assert_eq!(p.max_password_age_days, None, "never expires");
        assert_eq!(
            p.lockout_duration_minutes, None,
            "until an administrator unlocks"
        );
        assert!(decode_domain_f(&f[..0x50]).is_err());
        let mut u = vec![0u8; 0x50];
        u[0x30] = 0xF5;
        u[0x31] = 0x01;
        u[0x38] = 0x11;
        let g = decode_user_f("Guest", &u).expect("decodes");
        assert_eq!((g.rid, g.disabled, g.password_required), (501, true, true));
        assert!(decode_user_f("x", &u[..0x39]).is_err());
    }

    #[test]
    fn encoders_round_trip() {
        let p = AccountPolicy {
            min_password_length: 12,
            password_history: 10,
            max_password_age_days: None,
            min_password_age_days: 0,
            lockout_threshold: 0,
            lockout_duration_minutes: None,
            lockout_window_minutes: 30,
            complexity: false,
            reversible_encryption: false,
            admin_lockout: true,
        };
        assert_eq!(decode_domain_f(&encode_domain_f(&p)).expect("decodes"), p);
        let when = UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        let u = LocalUser {
            name: "Administrator".into(),
            rid: 500,
            disabled: false,
            password_required: true,
            password_expires: false,
            last_logon: Some(when),
        };
        assert_eq!(
            decode_user_f("Administrator", &encode_user_f(&u)).expect("decodes"),
            u
        );
        assert_eq!(filetime(0), None);
        assert_eq!(filetime(to_filetime(when)), Some(when));
    }
}
