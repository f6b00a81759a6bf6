//! Host-path rules shared by every platform's `hostpath`.

/// Normalises a `/`-separated absolute path: collapses `//` and `.`, strips a trailing `/`,
/// refuses `..`.
///
/// # Errors
/// Says what is wrong with the path.
pub(crate) fn normalize_slashed(p: &str) -> Result<String, String> {
    let mut out = String::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err("must not contain `..`".to_string()),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}
