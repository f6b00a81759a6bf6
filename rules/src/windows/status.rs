//! What the running system's status interfaces report, decoded without trusting it: Security
//! Center's packed `productState`, BitLocker's `ProtectionStatus` and the firewall's
//! `DefaultInboundAction`. The agent reads the raw values through COM; the meaning lives here,
//! pure, so it is tested on every platform.

use super::AvProduct;

/// A product registered with Security Center (`ROOT\SecurityCenter2` `AntiVirusProduct`).
///
/// `productState` is undocumented but stable since Windows Vista: bit `0x10` of its second byte
/// is set while real-time protection is on, and its low byte is the signature state (`0x00` up
/// to date, `0x10` out of date). Only that bit means on, and only a low byte of exactly `0x00`
/// means up to date: any other value counts as off or out of date, never as protection.
pub fn av_product(name: &str, product_state: u32) -> AvProduct {
    let realtime = (product_state >> 8) & 0xff;
    let signatures = product_state & 0xff;
    AvProduct {
        name: name.trim().to_string(),
        enabled: realtime & 0x10 != 0,
        up_to_date: signatures == 0,
    }
}

/// BitLocker's `Win32_EncryptableVolume.ProtectionStatus`: 0 off, 1 on; 2 (unknown: the volume
/// is locked) and anything else cannot be established.
///
/// # Errors
/// A status other than 0 or 1.
pub fn bitlocker_protection(status: i64) -> Result<bool, String> {
    match status {
        0 => Ok(false),
        1 => Ok(true),
        2 => Err("BitLocker reports the protection status as unknown (volume locked)".into()),
        n => Err(format!(
            "BitLocker reports an unknown protection status {n}"
        )),
    }
}

/// The firewall's `DefaultInboundAction` (`NET_FW_ACTION`): 0 block, 1 allow.
///
/// # Errors
/// Any other value.
pub fn inbound_blocked(action: i32) -> Result<bool, String> {
    match action {
        0 => Ok(true),
        1 => Ok(false),
        n => Err(format!(
            "the firewall reports an unknown default inbound action {n}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_center_states_decode_as_windows_shows_them() {
        // States seen on real systems, as Windows Security shows them.
        for (state, enabled, up_to_date) in [
            (0x0006_1000, true, true),   // 397312: Defender on, up to date
            (0x0006_1100, true, true),   // 397568: on (Windows 10), up to date
            (0x0004_1010, true, false),  // 266256: on, out of date
            (0x0006_0000, false, true),  // 393216: off, up to date
            (0x0006_0010, false, false), // 393232: off, out of date
            (0x0006_0100, false, true),  // 393472: 0x01 without 0x10 is not on
            (0x0004_1000, true, true),   // 266240: a third-party product on
        ] {
            let p = av_product(" Contoso AV ", state);
            assert_eq!(
                (p.enabled, p.up_to_date),
                (enabled, up_to_date),
                "state {state:#x}"
            );
            assert_eq!(p.name, "Contoso AV");
        }
    }

    #[test]
    fn unexpected_states_never_count_as_protection() {
        for state in [0, 0xffff_ffff, 0x0006_1001, 0x0006_10ff] {
            let p = av_product("x", state);
            assert!(!(p.enabled && p.up_to_date), "state {state:#x}: {p:?}");
        }
    }

    #[test]
    fn bitlocker_and_firewall_values_outside_their_enums_are_errors() {
        assert_eq!(bitlocker_protection(0), Ok(false));
        assert_eq!(bitlocker_protection(1), Ok(true));
        for n in [2, 3, -1, i64::MAX] {
            assert!(bitlocker_protection(n).is_err(), "{n}");
        }
        assert_eq!(inbound_blocked(0), Ok(true));
        assert_eq!(inbound_blocked(1), Ok(false));
        for n in [2, -1, i32::MIN] {
            assert!(inbound_blocked(n).is_err(), "{n}");
        }
    }
}
