//! FIM host paths on Unix: absolute `/`-separated byte strings, the same as file-system paths
//! below the checked root.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

/// Whether path matching ignores case (it does not on Unix).
pub const CASE_INSENSITIVE: bool = false;

/// The root as FIM keeps it: canonical, so events (absolute paths) can be mapped back.
///
/// # Errors
/// The root does not exist.
pub fn canonical_root(root: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(root)
}

/// Whether `root` is the running host's own root.
pub fn is_live_root(root: &Path) -> bool {
    root == Path::new("/")
}

/// The file-system path of host path `host` under `root`.
pub fn fs_path(root: &Path, host: &[u8]) -> PathBuf {
    let rel = host.strip_prefix(b"/").unwrap_or(host);
    if rel.is_empty() {
        return root.to_path_buf();
    }
    root.join(OsStr::from_bytes(rel))
}

/// The host path of file-system path `p` under `root` (`None` outside it).
pub fn host_of(root: &Path, p: &Path) -> Option<Vec<u8>> {
    let rel = p.strip_prefix(root).ok()?;
    let mut h = b"/".to_vec();
    h.extend_from_slice(rel.as_os_str().as_bytes());
    Some(h)
}

/// A host path as an `OsStr` (for glob matching).
pub fn os_str(host: &[u8]) -> Cow<'_, OsStr> {
    Cow::Borrowed(OsStr::from_bytes(host))
}

/// A link target as host-path bytes (absolute targets start with `/`).
pub fn link_bytes(target: &Path) -> Vec<u8> {
    target.as_os_str().as_bytes().to_vec()
}

/// Normalises a configured absolute path: collapses `//` and `.`, strips a trailing `/`, refuses
/// `..`.
///
/// # Errors
/// Says what is wrong with the path.
pub fn normalize(p: &str) -> Result<String, String> {
    if !p.starts_with('/') {
        return Err("must be an absolute path".to_string());
    }
    crate::platform::hostpath_common::normalize_slashed(p)
}

/// Normalises a configured glob (unchanged on Unix).
pub fn normalize_glob(g: &str) -> String {
    g.to_string()
}

/// How a host path is shown in findings and tables (as is on Unix).
pub fn display(host: &[u8]) -> String {
    String::from_utf8_lossy(host).into_owned()
}
