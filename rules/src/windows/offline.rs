//! [`WindowsFacts`] over the hive files of a Windows volume mounted at a root directory.
//!
//! The hives are `Windows/System32/config/{SOFTWARE,SYSTEM,SAM,SECURITY,DEFAULT}` (names matched
//! case-insensitively, as a mounted NTFS volume may be case-sensitive). Each is opened on first
//! use and read through positioned reads. An offline `SYSTEM` hive has no `CurrentControlSet`
//! (the running kernel creates that link): it is resolved through `Select\Current`, as Windows
//! does at boot. The 32-bit registry view maps `HKLM\SOFTWARE\X` to `SOFTWARE\WOW6432Node\X`,
//! except for the keys Windows shares between views.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::{
    AccountPolicy, AuditPolicy, LocalUser, RegPath, RegRoot, RegValue, RegView, UserRights,
    WindowsFacts, audit, lsa, sam,
};
use crate::hive::{Data, Hive};

/// The hive files read, in `Windows/System32/config`.
const HIVES: [&str; 5] = ["SOFTWARE", "SYSTEM", "SAM", "SECURITY", "DEFAULT"];

/// Keys under `HKLM\SOFTWARE` that both registry views share (not redirected to WOW6432Node).
const SHARED: [&str; 9] = [
    "Policies",
    r"Microsoft\Windows NT\CurrentVersion\ProfileList",
    r"Microsoft\Windows NT\CurrentVersion\Time Zones",
    r"Microsoft\Windows NT\CurrentVersion\Perflib",
    r"Microsoft\Windows NT\CurrentVersion\NetworkCards",
    r"Microsoft\Windows NT\CurrentVersion\Print",
    r"Microsoft\Windows NT\CurrentVersion\Ports",
    r"Microsoft\EventSystem",
    r"Microsoft\RPC",
];

type Cached<T> = Result<T, String>;
/// Values read per key and view.
type ValueCache = HashMap<(RegPath, RegView), Cached<Option<Vec<RegValue>>>>;

/// Windows facts of an offline volume.
pub struct HiveFacts {
    config: PathBuf,
    hives: [OnceLock<Cached<Arc<Hive<File>>>>; 5],
    control_set: OnceLock<Cached<String>>,
    values: Mutex<ValueCache>,
}

impl fmt::Debug for HiveFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HiveFacts")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The entry of `dir` named `name` ignoring ASCII case, if it is a directory (or, with
/// `file`, a regular file); symlinks are not followed, so the walk stays inside the tree.
fn entry(dir: &Path, name: &str, file: bool) -> Option<PathBuf> {
    let exact = dir.join(name);
    let kind_ok = |p: &Path| {
        std::fs::symlink_metadata(p).is_ok_and(|m| if file { m.is_file() } else { m.is_dir() })
    };
    if kind_ok(&exact) {
        return Some(exact);
    }
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
                && kind_ok(p)
        })
}

impl HiveFacts {
    /// The facts of the Windows installation under `root`, when it has the hive layout
    /// (`Windows/System32/config/SYSTEM`).
    pub fn detect(root: &Path) -> Option<HiveFacts> {
        let windows = entry(root, "Windows", false)?;
        let sys32 = entry(&windows, "System32", false)?;
        let config = entry(&sys32, "config", false)?;
        entry(&config, "SYSTEM", true)?;
        Some(HiveFacts {
            config,
            hives: Default::default(),
            control_set: OnceLock::new(),
            values: Mutex::default(),
        })
    }

    fn hive(&self, name: &str) -> Cached<Arc<Hive<File>>> {
        let i = HIVES
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("no hive {name}"))?;
        self.hives[i]
            .get_or_init(|| {
                let shown = format!("Windows/System32/config/{name}");
                let path =
                    entry(&self.config, name, true).ok_or_else(|| format!("{shown} not found"))?;
                let f = File::open(&path).map_err(|e| format!("{shown}: {e}"))?;
                Hive::open(f)
                    .map(Arc::new)
                    .map_err(|e| format!("{shown}: {e}"))
            })
            .clone()
    }

    /// `ControlSet00N` from `SYSTEM\Select\Current`.
    fn control_set(&self) -> Cached<String> {
        self.control_set
            .get_or_init(|| {
                let h = self.hive("SYSTEM")?;
                let why = |e: crate::hive::HiveError| format!("SYSTEM hive: {e}");
                let select = h
                    .key("Select")
                    .map_err(why)?
                    .ok_or("SYSTEM hive has no Select key to resolve CurrentControlSet")?;
                let v = h
                    .value(&select, "Current")
                    .map_err(why)?
                    .ok_or("SYSTEM\\Select has no Current value")?;
                match Data::decode(v.kind, &v.data) {
                    Data::Dword(n) if (1..=999).contains(&n) => Ok(format!("ControlSet{n:03}")),
                    other => Err(format!("SYSTEM\\Select\\Current is {other:?}, not 1-999")),
                }
            })
            .clone()
    }

    /// The hive and the path inside it that hold `key` in `view`.
    fn locate(&self, key: &RegPath, view: RegView) -> Cached<(&'static str, String)> {
        let mut parts: Vec<&str> = key.path.split('\\').filter(|p| !p.is_empty()).collect();
        let hive = match key.root {
            RegRoot::Users => {
                let first = parts.first().copied().unwrap_or("");
                if !first.eq_ignore_ascii_case(".DEFAULT")
                    && !first.eq_ignore_ascii_case("S-1-5-18")
                {
                    return Err(format!(
                        "{key}: offline, only HKU\\.DEFAULT (the DEFAULT hive) is read"
                    ));
                }
                parts.remove(0);
                "DEFAULT"
            }
            RegRoot::LocalMachine => {
                let first = parts
                    .first()
                    .map(|p| p.to_ascii_uppercase())
                    .unwrap_or_default();
                let Some(h) = HIVES[..4].iter().find(|h| **h == first) else {
                    return Err(format!(
                        "{key}: this part of HKLM has no hive file (it is built at boot)"
                    ));
                };
                parts.remove(0);
                h
            }
        };
        let mut inner: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        if hive == "SYSTEM"
            && inner
                .first()
                .is_some_and(|p| p.eq_ignore_ascii_case("CurrentControlSet"))
        {
            inner[0] = self.control_set()?;
        }
        if hive == "SOFTWARE" && view == RegView::Wow64 {
            let rest = inner.join("\\").to_ascii_lowercase();
            let shared = SHARED.iter().any(|s| {
                let s = s.to_ascii_lowercase();
                rest == s || rest.starts_with(&format!("{s}\\"))
            });
            let already = inner
                .first()
                .is_some_and(|p| p.eq_ignore_ascii_case("WOW6432Node"));
            if !shared && !already {
                inner.insert(0, "WOW6432Node".into());
            }
        }
        Ok((hive, inner.join("\\")))
    }

    /// The key node and its hive.
    fn open_key(
        &self,
        key: &RegPath,
        view: RegView,
    ) -> Cached<Option<(Arc<Hive<File>>, crate::hive::Key)>> {
        let (name, inner) = self.locate(key, view)?;
        let h = self.hive(name)?;
        let k = h.key(&inner).map_err(|e| format!("{key}: {e}"))?;
        Ok(k.map(|k| (h, k)))
    }

    /// The default value of a key of the SECURITY or SAM hive.
    fn raw(&self, hive: &str, path: &str, name: &str) -> Cached<Option<Vec<u8>>> {
        let h = self.hive(hive)?;
        let why = |e: crate::hive::HiveError| format!("{hive}\\{path}: {e}");
        let Some(k) = h.key(path).map_err(why)? else {
            return Ok(None);
        };
        Ok(h.value(&k, name).map_err(why)?.map(|v| v.data))
    }
}

impl WindowsFacts for HiveFacts {
    fn reg_values(&self, key: &RegPath, view: RegView) -> Result<Option<Vec<RegValue>>, String> {
        let id = (key.clone(), view);
        if let Some(hit) = self
            .values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return hit.clone();
        }
        let got = self.open_key(key, view).and_then(|found| {
            let Some((h, k)) = found else { return Ok(None) };
            let vals = h.values(&k).map_err(|e| format!("{key}: {e}"))?;
            Ok(Some(
                vals.into_iter()
                    .map(|v| RegValue {
                        data: Data::decode(v.kind, &v.data),
                        name: v.name,
                    })
                    .collect(),
            ))
        });
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, got.clone());
        got
    }

    fn reg_subkeys(&self, key: &RegPath, view: RegView) -> Result<Option<Vec<String>>, String> {
        let Some((h, k)) = self.open_key(key, view)? else {
            return Ok(None);
        };
        let subs = h.subkeys(&k).map_err(|e| format!("{key}: {e}"))?;
        Ok(Some(subs.into_iter().map(|s| s.name).collect()))
    }

    fn account_policy(&self) -> Result<AccountPolicy, String> {
        let f = self
            .raw("SAM", r"SAM\Domains\Account", "F")?
            .ok_or("SAM hive has no SAM\\Domains\\Account\\F value")?;
        sam::decode_domain_f(&f)
    }

    fn local_users(&self) -> Result<Vec<LocalUser>, String> {
        let h = self.hive("SAM")?;
        let why = |e: crate::hive::HiveError| format!("SAM hive: {e}");
        let names = h
            .key(r"SAM\Domains\Account\Users\Names")
            .map_err(why)?
            .ok_or("SAM hive has no Users\\Names key")?;
        let mut out = Vec::new();
        for n in h.subkeys(&names).map_err(why)? {
            // The RID is the type of the name key's default value.
            let Some(v) = h.value(&n, "").map_err(why)? else {
                continue;
            };
            let rid = v.kind;
            let path = format!(r"SAM\Domains\Account\Users\{rid:08X}");
            let f = self
                .raw("SAM", &path, "F")?
                .ok_or_else(|| format!("SAM hive: user {:?} has no {path}\\F", n.name))?;
            out.push(sam::decode_user_f(&n.name, &f)?);
        }
        Ok(out)
    }

    fn audit_policy(&self) -> Result<AuditPolicy, String> {
        let raw = self
            .raw("SECURITY", r"Policy\PolAdtEv", "")?
            .ok_or("SECURITY hive has no Policy\\PolAdtEv value")?;
        audit::decode(&raw)
    }

    fn user_rights(&self) -> Result<UserRights, String> {
        let h = self.hive("SECURITY")?;
        let why = |e: crate::hive::HiveError| format!("SECURITY hive: {e}");
        let mut rights = UserRights::new();
        let Some(accounts) = h.key(r"Policy\Accounts").map_err(why)? else {
            return Ok(rights);
        };
        for acc in h.subkeys(&accounts).map_err(why)? {
            let sid = acc.name.clone();
            if let Some(k) = h.subkey(&acc, "Privilgs").map_err(why)?
                && let Some(v) = h.value(&k, "").map_err(why)?
            {
                lsa::add_account(&mut rights, &sid, lsa::decode_privileges(&v.data)?);
            }
            if let Some(k) = h.subkey(&acc, "ActSysAc").map_err(why)?
                && let Some(v) = h.value(&k, "").map_err(why)?
            {
                lsa::add_account(&mut rights, &sid, lsa::decode_logon_rights(&v.data));
            }
        }
        Ok(rights)
    }

    fn domain_member(&self) -> Result<bool, String> {
        match self.raw("SECURITY", r"Policy\PolPrDmS", "")? {
            None => Ok(false),
            Some(d) if d.is_empty() => Ok(false),
            Some(d) => lsa::decode_sid(&d)
                .map(|_| true)
                .map_err(|e| format!("SECURITY\\Policy\\PolPrDmS: {e}")),
        }
    }
}
