//! Boot entries and their kernel command lines, read from the files the bootloader reads.
//!
//! RHEL 8 and later boot Boot Loader Specification entries (`/boot/loader/entries/*.conf`, one
//! `key value` per line; `options` may use GRUB environment variables such as `$kernelopts`,
//! which RHEL 8 keeps in `grubenv`). Older systems, and Debian, have only `grub.cfg`, whose `linux`
//! lines carry the command line. Entries are ordered newest kernel first, as `grubby` lists them.

use super::{Cache, FactError};
use crate::compare::rpmvercmp;

/// One boot entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BootEntry {
    /// Host path of the file the entry came from.
    pub(crate) file: String,
    /// BLS id (file name without `.conf`); empty for `grub.cfg` entries.
    pub(crate) id: String,
    pub(crate) title: String,
    /// Kernel image path as written.
    pub(crate) linux: String,
    pub(crate) initrd: String,
    /// The kernel command line, variables expanded.
    pub(crate) options: String,
}

impl BootEntry {
    /// Value of kernel argument `name` (`Some("")` for a flag), the last one when repeated (the
    /// kernel's reading).
    pub(crate) fn arg(&self, name: &str) -> Option<String> {
        split_args(&self.options).into_iter().rev().find_map(|a| {
            let (k, v) = a.split_once('=').unwrap_or((a.as_str(), ""));
            (k == name).then(|| v.to_string())
        })
    }
}

/// Splits a command line into arguments; double quotes group (`a="b c"`).
pub(crate) fn split_args(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const GRUBENV: [&str; 2] = ["/boot/grub2/grubenv", "/boot/grub/grubenv"];
const GRUB_CFG: [&str; 2] = ["/boot/grub2/grub.cfg", "/boot/grub/grub.cfg"];

/// Reads the boot entries of the tree. No entry at all is an error (an image without `/boot`).
pub(crate) fn entries(cache: &Cache<'_>) -> Result<Vec<BootEntry>, FactError> {
    let bls = cache.expand("/boot/loader/entries/*.conf")?;
    if !bls.is_empty() {
        let env = grubenv(cache)?;
        let mut out = Vec::new();
        for f in bls {
            let text = cache.text(&f)?;
            out.push(parse_bls(&f, &text, &env));
        }
        // Newest kernel first, as grubby indexes them.
        out.sort_by(|a, b| rpmvercmp(&b.id, &a.id));
        return Ok(out);
    }
    for cfg in GRUB_CFG {
        match cache.text(cfg) {
            Ok(t) => {
                let e = parse_grub_cfg(cfg, &t);
                if !e.is_empty() {
                    return Ok(e);
                }
            }
            Err(FactError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Err(FactError::NotFound(
        "boot entries (/boot/loader/entries/*.conf, grub.cfg)".into(),
    ))
}

fn grubenv(cache: &Cache<'_>) -> Result<Vec<(String, String)>, FactError> {
    for f in GRUBENV {
        match cache.text(f) {
            Ok(t) => {
                return Ok(t
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.trim_end().to_string()))
                    .collect());
            }
            Err(FactError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Vec::new())
}

/// Expands `$name` and `${name}` from the GRUB environment; unknown variables are empty, as GRUB
/// expands them.
fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, tail) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(e) => (&inner[..e], &inner[e + 1..]),
                None => (inner, ""),
            }
        } else {
            let e = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..e], &after[e..])
        };
        if let Some((_, v)) = env.iter().rev().find(|(k, _)| k == name) {
            out.push_str(v);
        }
        rest = tail;
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_bls(file: &str, text: &str, env: &[(String, String)]) -> BootEntry {
    let id = file
        .rsplit('/')
        .next()
        .unwrap_or(file)
        .trim_end_matches(".conf")
        .to_string();
    let mut e = BootEntry {
        file: file.to_string(),
        id,
        ..BootEntry::default()
    };
    let mut options = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('#') {
            continue;
        }
        let (k, v) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
        let v = v.trim();
        match k {
            "title" => e.title = v.to_string(),
            "linux" => e.linux = v.to_string(),
            "initrd" => e.initrd = v.to_string(),
            // Several `options` lines add up.
            "options" => options.push(v.to_string()),
            _ => {}
        }
    }
    e.options = expand(&options.join(" "), env);
    e.initrd = expand(&e.initrd, env);
    e
}

fn parse_grub_cfg(file: &str, text: &str) -> Vec<BootEntry> {
    let mut out = Vec::new();
    let mut title = String::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("menuentry ") {
            title = rest
                .trim_start_matches(['\'', '"'])
                .split(['\'', '"'])
                .next()
                .unwrap_or("")
                .to_string();
            continue;
        }
        let mut words = l.split_whitespace();
        if !matches!(words.next(), Some("linux" | "linux16" | "linuxefi")) {
            continue;
        }
        let Some(kernel) = words.next() else { continue };
        out.push(BootEntry {
            file: file.to_string(),
            id: String::new(),
            title: title.clone(),
            linux: kernel.to_string(),
            initrd: String::new(),
            options: words.collect::<Vec<_>>().join(" "),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bls_options_expand_grub_variables() {
        let env = vec![
            (
                "kernelopts".to_string(),
                "root=/dev/vda1 ro audit=1".to_string(),
            ),
            ("saved_entry".to_string(), "x".to_string()),
        ];
        let e = parse_bls(
            "/boot/loader/entries/abc-4.18.0.conf",
            "title Rocky\nversion 4.18.0\nlinux /vmlinuz-4.18.0\ninitrd /initramfs-4.18.0.img $tuned_initrd\noptions $kernelopts $tuned_params audit_backlog_limit=8192\n",
            &env,
        );
        assert_eq!(e.id, "abc-4.18.0");
        assert_eq!(
            e.options,
            "root=/dev/vda1 ro audit=1 audit_backlog_limit=8192"
        );
        assert_eq!(e.arg("audit").as_deref(), Some("1"));
        assert_eq!(e.arg("ro").as_deref(), Some(""));
        assert_eq!(e.arg("selinux"), None);
        assert_eq!(expand("${a}x $b", &[("a".into(), "1".into())]), "1x");
    }

    #[test]
    fn grub_cfg_linux_lines_are_entries() {
        let t = "menuentry 'Debian GNU/Linux' --class debian {\n\tlinux\t/boot/vmlinuz-6.1.0 root=UUID=x ro quiet apparmor=1\n}\nmenuentry \"Old\" {\n  linuxefi /vmlinuz-5 ro\n}\n";
        let e = parse_grub_cfg("/boot/grub/grub.cfg", t);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].title, "Debian GNU/Linux");
        assert_eq!(e[0].arg("apparmor").as_deref(), Some("1"));
        assert_eq!(e[1].options, "ro");
        assert_eq!(split_args("a=\"b c\" d"), vec!["a=b c", "d"]);
    }
}
