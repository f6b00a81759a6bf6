//! FIM host paths on Windows.
//!
//! FIM keeps every path in one form on every platform: absolute, `/`-separated bytes, compared
//! component by component. On Windows a path on a drive is `/C:/Windows/System32/drivers/etc`;
//! it is shown as `C:\Windows\System32\drivers\etc` in findings and tables, and configured either
//! way (`C:\…`, `C:/…`, `%SystemRoot%\…`). Matching ignores case, as NTFS does.
//!
//! The live root is `/` (or `\`): a host path maps to itself, drive included. Any other root
//! stands for an image of a system drive: the drive letter becomes a directory below it
//! (`/C:/Windows` under `D:\img` is `D:\img\C\Windows`), and paths found under it are reported
//! without drive (`/C/Windows/...`); FIM is normally run on the live root on Windows.
//!
//! File names that are not valid Unicode (unpaired UTF-16 surrogates) are carried as the WTF-8
//! bytes Rust gives them but cannot be reopened from that form: such a file is reported as
//! unreadable rather than skipped.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Whether path matching ignores case (it does, as NTFS does).
pub const CASE_INSENSITIVE: bool = true;

/// Whether `root` is the running host itself (`/` or `\`).
pub fn is_live_root(root: &Path) -> bool {
    matches!(root.as_os_str().to_str(), Some("/" | "\\"))
}

/// The root as FIM keeps it: `/` for the live host, else an absolute path without the `\\?\`
/// prefix (so watched paths and the paths events carry share their spelling).
///
/// # Errors
/// The root does not exist.
pub fn canonical_root(root: &Path) -> std::io::Result<PathBuf> {
    if is_live_root(root) {
        return Ok(PathBuf::from("/"));
    }
    let abs = std::path::absolute(root)?;
    std::fs::metadata(&abs)?;
    Ok(strip_verbatim(&abs))
}

/// The file-system path of host path `host` under `root`.
pub fn fs_path(root: &Path, host: &[u8]) -> PathBuf {
    let text = String::from_utf8_lossy(host);
    let rel = text.strip_prefix('/').unwrap_or(&text);
    if is_live_root(root) {
        if has_drive(rel) {
            let mut s = rel.replace('/', "\\");
            if s.len() == 2 {
                s.push('\\'); // `C:` alone would mean "the current directory on C:"
            }
            return PathBuf::from(s);
        }
        return PathBuf::from(format!("\\{}", rel.replace('/', "\\")));
    }
    let rel = if has_drive(rel) {
        format!("{}{}", &rel[..1], &rel[2..])
    } else {
        rel.to_string()
    };
    if rel.is_empty() {
        return root.to_path_buf();
    }
    root.join(rel.replace('/', "\\"))
}

/// The host path of file-system path `p` under `root` (`None` outside it).
pub fn host_of(root: &Path, p: &Path) -> Option<Vec<u8>> {
    let p = strip_verbatim(p);
    let text = p.as_os_str().to_string_lossy();
    if is_live_root(root) {
        return Some(to_host(&text).into_bytes());
    }
    let rel = p.strip_prefix(root).ok()?;
    let mut h = String::from("/");
    h.push_str(&rel.as_os_str().to_string_lossy().replace('\\', "/"));
    Some(h.into_bytes())
}

/// A host path as an `OsStr` (for glob matching, which sees the `/` form).
pub fn os_str(host: &[u8]) -> Cow<'_, OsStr> {
    Cow::Owned(OsString::from(String::from_utf8_lossy(host).into_owned()))
}

/// A link target as host-path bytes: absolute targets in the `/C:/…` form, relative ones with
/// `/` separators.
pub fn link_bytes(target: &Path) -> Vec<u8> {
    let text = strip_verbatim(target)
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    if has_drive(&text) {
        to_host(&text).into_bytes()
    } else {
        text.replace('\\', "/").into_bytes()
    }
}

/// Normalises a configured path: `C:\Windows`, `C:/Windows`, `%SystemRoot%` and a drive-less
/// `\Windows` (under the checked root) become `/C:/Windows`-style host paths; `..` is refused,
/// network paths too.
///
/// # Errors
/// Says what is wrong with the path.
pub fn normalize(p: &str) -> Result<String, String> {
    let p = expand_env(p)?;
    if p.starts_with("\\\\") || p.starts_with("//") {
        return Err("must be a local path (network paths are not monitored)".to_string());
    }
    let slashed = if has_drive(&p) {
        if p.len() > 2 && !p[2..].starts_with(['\\', '/']) {
            return Err("must be an absolute path (C:\\...)".to_string());
        }
        to_host(&p)
    } else if p.starts_with(['\\', '/']) {
        p.replace('\\', "/")
    } else {
        return Err("must be an absolute path (C:\\...)".to_string());
    };
    crate::platform::hostpath_common::normalize_slashed(&slashed)
}

/// Normalises a configured glob the same way (`C:\Users\*\x` → `/C:/Users/*/x`).
pub fn normalize_glob(g: &str) -> String {
    let g = expand_env(g).unwrap_or_else(|_| g.to_string());
    if has_drive(&g) {
        to_host(&g)
    } else {
        g.replace('\\', "/")
    }
}

/// How a host path is shown: `/C:/Windows/x` as `C:\Windows\x`, `/x` as `\x`.
pub fn display(host: &[u8]) -> String {
    let text = String::from_utf8_lossy(host);
    let rel = text.strip_prefix('/').unwrap_or(&text);
    if has_drive(rel) {
        let s = rel.replace('/', "\\");
        if s.len() == 2 { format!("{s}\\") } else { s }
    } else {
        text.replace('/', "\\")
    }
}

/// `C:\x\y` (or `c:/x/y`) → `/C:/x/y`.
fn to_host(p: &str) -> String {
    let mut s = String::with_capacity(p.len() + 1);
    s.push('/');
    let mut chars = p.chars();
    if let Some(d) = chars.next() {
        s.push(d.to_ascii_uppercase());
    }
    s.extend(chars.map(|c| if c == '\\' { '/' } else { c }));
    while s.len() > 3 && s.ends_with('/') {
        s.pop();
    }
    s
}

fn has_drive(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// `\\?\C:\x` → `C:\x` (other verbatim forms, e.g. `\\?\UNC\`, are kept).
fn strip_verbatim(p: &Path) -> PathBuf {
    let s = p.as_os_str().to_string_lossy();
    match s.strip_prefix(r"\\?\") {
        Some(rest) if has_drive(rest) => PathBuf::from(rest),
        _ => p.to_path_buf(),
    }
}

/// Expands `%NAME%` from the environment (`%SystemRoot%`, `%ProgramData%`, …); `%%` is `%`.
fn expand_env(p: &str) -> Result<String, String> {
    let mut out = String::with_capacity(p.len());
    let mut rest = p;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(j) = after.find('%') else {
            return Err(format!("unclosed %VARIABLE% in {p:?}"));
        };
        let name = &after[..j];
        if name.is_empty() {
            out.push('%');
        } else {
            let v = std::env::var(name)
                .map_err(|_| format!("environment variable %{name}% is not set"))?;
            out.push_str(&v);
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_forms_become_one_host_path() {
        for p in [
            r"C:\Windows\System32\drivers\etc",
            "c:/Windows/System32/drivers/etc/",
            r"C:\Windows\.\System32\\drivers\etc",
        ] {
            assert_eq!(
                normalize(p).as_deref(),
                Ok("/C:/Windows/System32/drivers/etc"),
                "{p}"
            );
        }
        assert_eq!(normalize(r"\etc\hosts").as_deref(), Ok("/etc/hosts"));
        assert!(normalize(r"C:\Windows\..\x").is_err());
        assert!(normalize(r"\\server\share").is_err());
        assert!(normalize("relative").is_err());
        assert!(normalize("C:relative").is_err());
        assert!(normalize("%VIGIL_TEST_UNSET_VARIABLE%\\x").is_err());
        let sys = std::env::var("SystemRoot").expect("SystemRoot is set on Windows");
        assert_eq!(
            normalize(r"%SystemRoot%\Tasks"),
            normalize(&format!(r"{sys}\Tasks"))
        );
    }

    #[test]
    fn live_root_maps_drive_paths_both_ways() {
        let root = Path::new("/");
        let host = b"/C:/Windows/System32/drivers/etc/hosts";
        let fs = fs_path(root, host);
        assert_eq!(fs, PathBuf::from(r"C:\Windows\System32\drivers\etc\hosts"));
        assert_eq!(host_of(root, &fs).as_deref(), Some(&host[..]));
        assert_eq!(
            host_of(root, Path::new(r"\\?\C:\Windows\x")).as_deref(),
            Some(&b"/C:/Windows/x"[..])
        );
        assert_eq!(fs_path(root, b"/C:"), PathBuf::from("C:\\"));
        assert_eq!(display(host), r"C:\Windows\System32\drivers\etc\hosts");
        assert_eq!(display(b"/C:"), "C:\\");
        assert_eq!(display(b"/etc/hosts"), r"\etc\hosts");
    }

    #[test]
    fn image_roots_hold_the_drive_as_a_directory() {
        let root = Path::new(r"D:\img");
        assert_eq!(
            fs_path(root, b"/C:/Windows/x"),
            PathBuf::from(r"D:\img\C\Windows\x")
        );
        assert_eq!(fs_path(root, b"/etc/x"), PathBuf::from(r"D:\img\etc\x"));
        assert_eq!(
            host_of(root, Path::new(r"D:\img\etc\x")).as_deref(),
            Some(&b"/etc/x"[..])
        );
        assert_eq!(host_of(root, Path::new(r"E:\other")), None);
    }

    #[test]
    fn globs_and_link_targets_use_the_host_form() {
        assert_eq!(
            normalize_glob(r"C:\Users\*\AppData\**"),
            "/C:/Users/*/AppData/**"
        );
        assert_eq!(normalize_glob("*.tmp"), "*.tmp");
        assert_eq!(link_bytes(Path::new(r"C:\Windows\x")), b"/C:/Windows/x");
        assert_eq!(link_bytes(Path::new(r"..\x")), b"../x");
    }
}
