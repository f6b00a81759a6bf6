//! SELinux state from the files the kernel and libselinux use, not from `getenforce`.
//!
//! At runtime the kernel exposes SELinux through selinuxfs: `/sys/fs/selinux/enforce` is `1`
//! (enforcing) or `0` (permissive), and without selinuxfs SELinux is disabled. The next boot's
//! mode is `SELINUX=` of `/etc/selinux/config` unless a boot entry overrides it: `selinux=0` turns
//! SELinux off and `enforcing=0` makes it permissive. An entry with either counts, since any entry
//! can be booted. The loaded policy's name is `SELINUXTYPE=` of the same file, which is where
//! `sestatus` takes it from.

use super::{Cache, FactError, key_values};
use crate::pack::SelinuxMode;

/// SELinux state of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selinux {
    /// Runtime mode; `None` when unknown (an offline tree without selinuxfs).
    pub(crate) runtime: Option<SelinuxMode>,
    /// `SELINUX=` of `/etc/selinux/config`; `None` when the file is missing.
    pub(crate) config: Option<SelinuxMode>,
    /// `SELINUXTYPE=`, lower-cased.
    pub(crate) policy: Option<String>,
    /// Mode of the next boot: the configuration, overridden by boot entries.
    pub(crate) boot: SelinuxMode,
    /// The boot entry that overrides the configuration, if one does.
    pub(crate) boot_note: Option<String>,
}

const CONFIG: &str = "/etc/selinux/config";

pub(crate) fn state(cache: &Cache<'_>) -> Result<Selinux, FactError> {
    let runtime = match cache.text("/sys/fs/selinux/enforce") {
        Ok(t) if t.trim() == "1" => Some(SelinuxMode::Enforcing),
        Ok(_) => Some(SelinuxMode::Permissive),
        // No selinuxfs on the running host: SELinux is off.
        Err(FactError::NotFound(_)) if cache.host.is_live() => Some(SelinuxMode::Disabled),
        Err(FactError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let (config, policy) = match cache.text(CONFIG) {
        Ok(t) => {
            let mut mode = None;
            let mut policy = None;
            for (k, v) in key_values(&t) {
                match k {
                    "SELINUX" => mode = parse_mode(v),
                    "SELINUXTYPE" => policy = Some(v.trim().to_ascii_lowercase()),
                    _ => {}
                }
            }
            // An unreadable SELINUX= value: libselinux falls back to disabled.
            (Some(mode.unwrap_or(SelinuxMode::Disabled)), policy)
        }
        Err(FactError::NotFound(_)) => (None, None),
        Err(e) => return Err(e),
    };
    let mut boot = config.unwrap_or(SelinuxMode::Disabled);
    let mut boot_note = None;
    // Boot entries may be missing from a container tree: then the configuration decides alone.
    if let Ok(entries) = cache.boot_entries() {
        for e in entries.iter() {
            let name = if e.id.is_empty() { &e.file } else { &e.id };
            if e.arg("selinux").as_deref() == Some("0") {
                boot = SelinuxMode::Disabled;
                boot_note = Some(format!("boot entry {name} has selinux=0"));
                break;
            }
            if e.arg("enforcing").as_deref() == Some("0") && boot == SelinuxMode::Enforcing {
                boot = SelinuxMode::Permissive;
                boot_note = Some(format!("boot entry {name} has enforcing=0"));
            }
        }
    }
    Ok(Selinux {
        runtime,
        config,
        policy,
        boot,
        boot_note,
    })
}

pub(crate) fn parse_mode(v: &str) -> Option<SelinuxMode> {
    match v.trim().to_ascii_lowercase().as_str() {
        "enforcing" => Some(SelinuxMode::Enforcing),
        "permissive" => Some(SelinuxMode::Permissive),
        "disabled" => Some(SelinuxMode::Disabled),
        _ => None,
    }
}
