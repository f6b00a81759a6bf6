//! A small read-only view of the live Windows registry.
//!
//! Inventory (OS, programs, hot fixes), the machine id and the registry watch read the registry
//! through this module only, and the Windows facts of the rule evaluator can reuse it for live
//! hosts (offline hives are parsed elsewhere). The API is deliberately narrow:
//! - [`Key::open`] opens `HKLM\…` or `HKU\…` in a chosen [`View`] (64-bit or the 32-bit
//!   `WOW6432Node` one) and answers `Ok(None)` for a key that does not exist;
//! - [`Key::subkeys`], [`Key::values`], [`Key::value`], [`Key::string`], [`Key::dword`] read it;
//!   [`Key::last_write`] gives the key's last write time;
//! - [`Value`] is a decoded value with a stable textual form ([`Value::to_text`]) and type name.
//!
//! Strings are decoded leniently (UTF-16 up to the first NUL; unpaired surrogates become U+FFFD),
//! so a hostile value can make a reading odd but never fail or panic. Access denied on a key is
//! an error, not `None`: a caller can tell "absent" from "hidden from us".

use std::io;
use std::time::{Duration, SystemTime};

use winreg::RegKey;
use winreg::enums::{
    HKEY_LOCAL_MACHINE, HKEY_USERS, KEY_READ, KEY_WOW64_32KEY, KEY_WOW64_64KEY, RegType,
};

/// A root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hive {
    /// `HKEY_LOCAL_MACHINE` (`HKLM`).
    LocalMachine,
    /// `HKEY_USERS` (`HKU`): every loaded user profile, one subkey per SID.
    Users,
}

impl Hive {
    /// `HKLM` or `HKU`.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::LocalMachine => "HKLM",
            Self::Users => "HKU",
        }
    }
}

/// Which registry view of a 64-bit Windows to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    /// The native (64-bit) view.
    Native,
    /// The view 32-bit programs see (`SOFTWARE\WOW6432Node`).
    Wow32,
}

/// A decoded registry value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `REG_SZ`.
    String(String),
    /// `REG_EXPAND_SZ` (not expanded).
    ExpandString(String),
    /// `REG_MULTI_SZ`.
    MultiString(Vec<String>),
    /// `REG_DWORD` (and `REG_DWORD_BIG_ENDIAN`, converted).
    Dword(u32),
    /// `REG_QWORD`.
    Qword(u64),
    /// `REG_BINARY` and every other type, raw.
    Binary {
        /// The registry type number (3 for `REG_BINARY`).
        kind: u32,
        /// The data.
        bytes: Vec<u8>,
    },
}

impl Value {
    /// `REG_SZ`, `REG_DWORD`, … (the type stored, also when the data did not decode as it).
    pub fn type_name(&self) -> String {
        let name = match self.kind() {
            0 => "REG_NONE",
            1 => "REG_SZ",
            2 => "REG_EXPAND_SZ",
            3 => "REG_BINARY",
            4 => "REG_DWORD",
            5 => "REG_DWORD_BIG_ENDIAN",
            6 => "REG_LINK",
            7 => "REG_MULTI_SZ",
            8 => "REG_RESOURCE_LIST",
            9 => "REG_FULL_RESOURCE_DESCRIPTOR",
            10 => "REG_RESOURCE_REQUIREMENTS_LIST",
            11 => "REG_QWORD",
            other => return format!("REG_TYPE_{other}"),
        };
        name.to_string()
    }

    /// The registry type number.
    pub fn kind(&self) -> u32 {
        match self {
            Self::String(_) => 1,
            Self::ExpandString(_) => 2,
            Self::MultiString(_) => 7,
            Self::Dword(_) => 4,
            Self::Qword(_) => 11,
            Self::Binary { kind, .. } => *kind,
        }
    }

    /// Text form: strings as is, multi-strings joined by `\n`, numbers in decimal, other data
    /// in lowercase hex.
    pub fn to_text(&self) -> String {
        match self {
            Self::String(s) | Self::ExpandString(s) => s.clone(),
            Self::MultiString(v) => v.join("\n"),
            Self::Dword(n) => n.to_string(),
            Self::Qword(n) => n.to_string(),
            Self::Binary { bytes, .. } => hex::encode(bytes),
        }
    }

    /// The string of a `REG_SZ` or `REG_EXPAND_SZ`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) | Self::ExpandString(s) => Some(s),
            _ => None,
        }
    }

    /// Decodes raw value bytes of registry type `kind`.
    pub fn decode(kind: u32, bytes: &[u8]) -> Self {
        let four = |b: &[u8]| <[u8; 4]>::try_from(b.get(..4)?).ok();
        match kind {
            1 => Self::String(utf16_until_nul(bytes)),
            2 => Self::ExpandString(utf16_until_nul(bytes)),
            7 => Self::MultiString(multi_string(bytes)),
            4 => four(bytes).map_or_else(
                || Self::Binary {
                    kind,
                    bytes: bytes.to_vec(),
                },
                |b| Self::Dword(u32::from_le_bytes(b)),
            ),
            5 => four(bytes).map_or_else(
                || Self::Binary {
                    kind,
                    bytes: bytes.to_vec(),
                },
                |b| Self::Dword(u32::from_be_bytes(b)),
            ),
            11 => match bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => Self::Qword(u64::from_le_bytes(b)),
                None => Self::Binary {
                    kind,
                    bytes: bytes.to_vec(),
                },
            },
            _ => Self::Binary {
                kind,
                bytes: bytes.to_vec(),
            },
        }
    }
}

/// An open registry key.
#[derive(Debug)]
pub struct Key {
    key: RegKey,
    view: View,
}

impl Key {
    /// Opens `path` (`SOFTWARE\Microsoft\Windows NT\CurrentVersion`) under `hive` for reading.
    ///
    /// # Errors
    /// Access denied and other failures; a missing key is `Ok(None)`.
    pub fn open(hive: Hive, path: &str, view: View) -> io::Result<Option<Key>> {
        let root = RegKey::predef(match hive {
            Hive::LocalMachine => HKEY_LOCAL_MACHINE,
            Hive::Users => HKEY_USERS,
        });
        absent_is_none(root.open_subkey_with_flags(path, KEY_READ | view_flag(view)))
            .map(|k| k.map(|key| Key { key, view }))
    }

    /// Opens a subkey of this key (same view).
    ///
    /// # Errors
    /// As [`Key::open`].
    pub fn open_sub(&self, name: &str) -> io::Result<Option<Key>> {
        absent_is_none(
            self.key
                .open_subkey_with_flags(name, KEY_READ | view_flag(self.view)),
        )
        .map(|k| {
            k.map(|key| Key {
                key,
                view: self.view,
            })
        })
    }

    /// Names of the subkeys, in registry order.
    ///
    /// # Errors
    /// The enumeration failed.
    pub fn subkeys(&self) -> io::Result<Vec<String>> {
        self.key.enum_keys().collect()
    }

    /// Every value of the key, name and decoded data. The default value has the name `""`.
    ///
    /// # Errors
    /// The enumeration failed.
    pub fn values(&self) -> io::Result<Vec<(String, Value)>> {
        self.key
            .enum_values()
            .map(|r| r.map(|(name, v)| (name, Value::decode(reg_type(&v.vtype), &v.bytes))))
            .collect()
    }

    /// Every value of the key as stored: name, registry type number and raw bytes.
    ///
    /// # Errors
    /// The enumeration failed.
    pub fn raw_values(&self) -> io::Result<Vec<(String, u32, Vec<u8>)>> {
        self.key
            .enum_values()
            .map(|r| r.map(|(name, v)| (name, reg_type(&v.vtype), v.bytes.into_owned())))
            .collect()
    }

    /// One value (`Ok(None)` when absent).
    ///
    /// # Errors
    /// Access denied and other failures.
    pub fn value(&self, name: &str) -> io::Result<Option<Value>> {
        absent_is_none(self.key.get_raw_value(name))
            .map(|v| v.map(|v| Value::decode(reg_type(&v.vtype), &v.bytes)))
    }

    /// A `REG_SZ`/`REG_EXPAND_SZ` value, trimmed; `None` when absent, empty or of another type.
    pub fn string(&self, name: &str) -> Option<String> {
        let v = self.value(name).ok()??;
        let s = v.as_str()?.trim();
        (!s.is_empty()).then(|| s.to_string())
    }

    /// A `REG_DWORD` value.
    pub fn dword(&self, name: &str) -> Option<u32> {
        match self.value(name).ok()?? {
            Value::Dword(n) => Some(n),
            _ => None,
        }
    }

    /// When the key (its values or its list of subkeys) was last written.
    ///
    /// # Errors
    /// The query failed.
    pub fn last_write(&self) -> io::Result<SystemTime> {
        let info = self.key.query_info()?;
        let ft = (u64::from(info.last_write_time.dwHighDateTime) << 32)
            | u64::from(info.last_write_time.dwLowDateTime);
        Ok(filetime_to_system(ft))
    }
}

/// Seconds from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET_S: u64 = 11_644_473_600;

/// A FILETIME (100 ns ticks since 1601) as `SystemTime`; times before 1970 clamp to the epoch.
pub fn filetime_to_system(ticks: u64) -> SystemTime {
    let secs = (ticks / 10_000_000).saturating_sub(FILETIME_UNIX_OFFSET_S);
    let nanos = if ticks / 10_000_000 >= FILETIME_UNIX_OFFSET_S {
        (ticks % 10_000_000) * 100
    } else {
        0
    };
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos)
}

fn view_flag(view: View) -> u32 {
    match view {
        View::Native => KEY_WOW64_64KEY,
        View::Wow32 => KEY_WOW64_32KEY,
    }
}

fn absent_is_none<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn reg_type(t: &RegType) -> u32 {
    // RegType's discriminants are the registry type numbers (REG_SZ = 1, …).
    t.clone() as u32
}

fn utf16_until_nul(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

fn multi_string(bytes: &[u8]) -> Vec<String> {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    units
        .split(|&u| u == 0)
        .filter(|s| !s.is_empty())
        .map(String::from_utf16_lossy)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect()
    }

    #[test]
    fn decodes_every_type_and_survives_hostile_data() {
        assert_eq!(
            Value::decode(1, &utf16("C:\\x.exe")),
            Value::String("C:\\x.exe".into())
        );
        let mut multi = utf16("a");
        multi.extend(utf16("b"));
        multi.extend([0, 0]);
        assert_eq!(
            Value::decode(7, &multi),
            Value::MultiString(vec!["a".into(), "b".into()])
        );
        assert_eq!(Value::decode(4, &[1, 0, 0, 0]), Value::Dword(1));
        assert_eq!(Value::decode(5, &[0, 0, 0, 1]), Value::Dword(1));
        assert_eq!(Value::decode(11, &7u64.to_le_bytes()), Value::Qword(7));
        // Short numbers, odd-length strings, lone surrogates: decoded, never a panic.
        assert_eq!(Value::decode(4, &[1]).type_name(), "REG_DWORD");
        assert_eq!(Value::decode(4, &[1]).to_text(), "01");
        assert_eq!(
            Value::decode(1, &[0x41, 0, 0x42]),
            Value::String("A".into())
        );
        assert_eq!(Value::decode(1, &[0x00, 0xd8]).to_text(), "\u{fffd}");
        assert_eq!(Value::decode(3, &[0xde, 0xad]).to_text(), "dead");
        assert_eq!(Value::decode(99, &[]).type_name(), "REG_TYPE_99");
    }

    #[test]
    fn reads_the_live_registry() {
        let k = Key::open(
            Hive::LocalMachine,
            r"SOFTWARE\Microsoft\Windows NT\CurrentVersion",
            View::Native,
        )
        .expect("open")
        .expect("CurrentVersion exists");
        assert!(k.string("CurrentBuild").is_some() || k.string("CurrentBuildNumber").is_some());
        assert!(k.last_write().expect("time") > SystemTime::UNIX_EPOCH);
        assert!(
            Key::open(
                Hive::LocalMachine,
                r"SOFTWARE\Vigil\NoSuchKey\x",
                View::Native
            )
            .expect("absent is not an error")
            .is_none()
        );
        assert!(!k.values().expect("values").is_empty());
    }

    #[test]
    fn filetime_conversion() {
        assert_eq!(filetime_to_system(0), SystemTime::UNIX_EPOCH);
        let t = filetime_to_system(FILETIME_UNIX_OFFSET_S * 10_000_000 + 15);
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).expect("after"),
            Duration::from_nanos(1500)
        );
    }
}
