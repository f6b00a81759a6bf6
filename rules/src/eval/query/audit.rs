//! `auditctl -l` and `augenrules --check`, from the persistent audit rules.
//!
//! What is read is the rule set auditd loads when it starts: on Debian, Ubuntu and the RHEL family
//! `auditd.service` runs `augenrules --load`, which compiles `/etc/audit/rules.d/*.rules` into
//! `/etc/audit/audit.rules`; without a `rules.d` directory `audit.rules` is loaded as it is. So
//! `auditctl -l` here is the *persistent* configuration printed the way auditctl prints the
//! kernel's rules, not the kernel's loaded list (a rule added by hand with `auditctl -a` since boot
//! is not seen, and an edit not yet loaded is). `docs/sca-import.md` says so.
//!
//! The printed form follows audit-userspace's listing: watches as `-w PATH -p PERMS -k KEY` (a
//! directory with a trailing `/`), syscall rules as `-a ACTION,LIST -F arch=… -S a,b -F … -F
//! key=K` with `-S all` when no syscall is named, the unset login uid as `-1`, permissions in
//! `rwxa` order, `-C` comparisons in the kernel's canonical order, and no control lines (`-D`,
//! `-b`, `-e`, …). Syscalls are listed in the order written, not in syscall-number order (that
//! needs the architecture's syscall table); policies match each name on its own.

use std::cmp::Ordering;

use crate::cache::{Cache, FactError};

const RULES_D: &str = "/etc/audit/rules.d";
const AUDIT_RULES: &str = "/etc/audit/audit.rules";
const AUGENRULES: &str = "/usr/sbin/augenrules";
/// Rule files read from `rules.d` at most (a bound against a hostile tree).
const MAX_FILES: usize = 1000;

/// `auditctl -l`.
pub(super) fn auditctl_list(cache: &Cache<'_>) -> Result<String, String> {
    let text = match compiled(cache)? {
        Some(t) => t,
        None => match cache.text(AUDIT_RULES) {
            Ok(t) => t,
            Err(FactError::NotFound(_)) => String::new(),
            Err(e) => return Err(e.message()),
        },
    };
    let is_dir = |p: &str| {
        cache
            .stat(p)
            .is_ok_and(|s| s.file_type == vigil_proto::FileType::Dir)
    };
    Ok(list(&text, &is_dir))
}

/// `augenrules --check`.
pub(super) fn augenrules_check(cache: &Cache<'_>) -> Result<String, String> {
    let Some(new) = compiled(cache)? else {
        return Ok(format!("{AUGENRULES}: No rules directory - {RULES_D}\n"));
    };
    let old = match cache.text(AUDIT_RULES) {
        Ok(t) => Some(t),
        Err(FactError::NotFound(_)) => None,
        Err(e) => return Err(e.message()),
    };
    Ok(if old.as_deref() == Some(new.as_str()) {
        format!("{AUGENRULES}: No change\n")
    } else {
        format!("{AUGENRULES}: Rules have changed and should be updated\n")
    })
}

/// What `augenrules` would write from `rules.d`; `None` without the directory.
fn compiled(cache: &Cache<'_>) -> Result<Option<String>, String> {
    let mut names = match cache.host.list_dir(RULES_D) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{RULES_D}: {e}")),
    };
    names.retain(|n| n.ends_with(".rules"));
    names.sort_by(|a, b| natural_cmp(a, b));
    names.truncate(MAX_FILES);
    let mut texts = Vec::with_capacity(names.len());
    for n in &names {
        match cache.text(&format!("{RULES_D}/{n}")) {
            Ok(t) => texts.push(t),
            Err(FactError::NotFound(_)) => {}
            Err(e) => return Err(e.message()),
        }
    }
    Ok(Some(compile(&texts)))
}

/// `ls -v` order: runs of digits compare as numbers, the rest byte by byte.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..n], &y[..m]);
                let tx = trim_zeros(dx);
                let ty = trim_zeros(dy);
                let o = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                if o != Ordering::Equal {
                    return o;
                }
                (x, y) = (&x[n..], &y[m..]);
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                (x, y) = (&x[1..], &y[1..]);
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|&&c| c == b'0').count();
    &d[z..]
}

/// augenrules' concatenation: comments and empty lines dropped, the last bare `-D` first, then the
/// last `-b` and `-f`, the rules in order, the last `-e` at the end.
pub(crate) fn compile(files: &[String]) -> String {
    let (mut d, mut b, mut f, mut e) = ("", "", "", "");
    let mut rules = Vec::new();
    for text in files {
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let t = line.trim_start();
            if line.is_empty() || t.starts_with('#') {
                continue;
            }
            if t.starts_with("-e") {
                e = line;
            } else if t.trim_end() == "-D" {
                d = line;
            } else if t.starts_with("-f") {
                f = line;
            } else if t.starts_with("-b") {
                b = line;
            } else {
                rules.push(line);
            }
        }
    }
    let mut out =
        format!("## This file is automatically generated from {RULES_D}\n{d}\n{b}\n{f}\n");
    for r in rules {
        out.push_str(r);
        out.push('\n');
    }
    out.push_str(e);
    out.push('\n');
    out
}

/// The `auditctl -l` listing of a rules file; `is_dir` tells whether a watched path is a
/// directory.
pub(crate) fn list(text: &str, is_dir: &dyn Fn(&str) -> bool) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first().is_none_or(|w| w.starts_with('#')) {
            continue;
        }
        let Some(rule) = Rule::parse(&words) else {
            continue;
        };
        let shown = rule.show(is_dir);
        if rule.prepend {
            out.insert(0, shown);
        } else {
            out.push(shown);
        }
    }
    if out.is_empty() {
        return "No rules\n".into();
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

#[derive(Default)]
struct Rule<'a> {
    prepend: bool,
    /// `(action, list)` of `-a`; `None` for `-w`.
    action: Option<(&'a str, &'a str)>,
    watch: Option<&'a str>,
    perms: Option<String>,
    syscalls: Vec<&'a str>,
    arch: Option<String>,
    /// Printed fields in order (`-F`, `-C`).
    fields: Vec<Field<'a>>,
    keys: Vec<&'a str>,
}

enum Field<'a> {
    Path(&'a str),
    Dir(&'a str),
    Perm(String),
    Key(&'a str),
    Other(String),
}

impl<'a> Rule<'a> {
    /// One line of options; `None` for control lines, deletions and what does not parse.
    fn parse(words: &[&'a str]) -> Option<Self> {
        let mut r = Rule::default();
        let mut it = words.iter();
        while let Some(&opt) = it.next() {
            match opt {
                "-a" | "-A" => {
                    r.prepend = opt == "-A";
                    r.action = Some(action_list(it.next()?)?);
                }
                "-w" => r.watch = Some(it.next()?),
                "-p" => r.perms = Some(perms(it.next()?)?),
                "-k" => r.keys.push(it.next()?),
                "-S" => r
                    .syscalls
                    .extend(it.next()?.split(',').filter(|s| !s.is_empty())),
                "-F" => r.field(it.next()?)?,
                "-C" => r.fields.push(Field::Other(compare(it.next()?)?)),
                _ => return None,
            }
        }
        (r.action.is_some() != r.watch.is_some()).then_some(r)
    }

    fn field(&mut self, spec: &'a str) -> Option<()> {
        let at = spec.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
        let (name, rest) = spec.split_at(at);
        let op = ["!=", "<=", ">=", "&=", "=", "<", ">", "&"]
            .into_iter()
            .find(|o| rest.starts_with(o))?;
        let value = &rest[op.len()..];
        match name {
            "arch" => self.arch = Some(format!("{op}{}", arch(value))),
            "path" => self.fields.push(Field::Path(value)),
            "dir" => self.fields.push(Field::Dir(value)),
            "key" => self.fields.push(Field::Key(value)),
            "perm" => self.fields.push(Field::Perm(perms(value)?)),
            _ => self.fields.push(Field::Other(format!(
                " -F {name}{op}{}",
                field_value(name, value)
            ))),
        }
        Some(())
    }

    fn show(&self, is_dir: &dyn Fn(&str) -> bool) -> String {
        if let Some(path) = self.watch {
            let mut s = format!("-w {}", watch_path(path, is_dir));
            s.push_str(&format!(" -p {}", self.perms.as_deref().unwrap_or("rwxa")));
            for k in &self.keys {
                s.push_str(&format!(" -k {k}"));
            }
            return s;
        }
        let (action, list) = self.action.unwrap_or(("always", "exit"));
        if let Some(w) = self.as_watch(list, is_dir) {
            return w;
        }
        let mut s = format!("-a {action},{list}");
        if let Some(a) = &self.arch {
            s.push_str(&format!(" -F arch{a}"));
        }
        if matches!(list, "exit" | "entry" | "io_uring") {
            if self.syscalls.is_empty() || self.syscalls.contains(&"all") {
                s.push_str(" -S all");
            } else {
                let mut seen: Vec<&str> = Vec::new();
                for sc in &self.syscalls {
                    if !seen.contains(sc) {
                        seen.push(sc);
                    }
                }
                s.push_str(&format!(" -S {}", seen.join(",")));
            }
        }
        for f in &self.fields {
            match f {
                Field::Path(p) => s.push_str(&format!(" -F path={p}")),
                Field::Dir(p) => s.push_str(&format!(" -F dir={p}")),
                Field::Perm(p) => s.push_str(&format!(" -F perm={p}")),
                Field::Key(k) => s.push_str(&format!(" -F key={k}")),
                Field::Other(o) => s.push_str(o),
            }
        }
        for k in &self.keys {
            s.push_str(&format!(" -F key={k}"));
        }
        s
    }

    /// A syscall rule on `exit` with only a path (or dir), a perm and keys, for all syscalls, is
    /// a watch and is listed as one.
    fn as_watch(&self, list: &str, is_dir: &dyn Fn(&str) -> bool) -> Option<String> {
        if list != "exit" || self.arch.is_some() || !self.syscalls.is_empty() {
            return None;
        }
        let (mut path, mut perm, mut keys) = (None, None, Vec::new());
        for f in &self.fields {
            match f {
                Field::Path(p) => path = Some(watch_path(p, is_dir)),
                Field::Dir(p) => path = Some(format!("{}/", p.trim_end_matches('/'))),
                Field::Perm(p) => perm = Some(p.as_str()),
                Field::Key(k) => keys.push(*k),
                Field::Other(_) => return None,
            }
        }
        let mut s = format!("-w {} -p {}", path?, perm?);
        for k in keys.iter().chain(&self.keys) {
            s.push_str(&format!(" -k {k}"));
        }
        Some(s)
    }
}

/// A watched directory is listed with a trailing `/`.
fn watch_path(path: &str, is_dir: &dyn Fn(&str) -> bool) -> String {
    let p = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if p != "/" && is_dir(p) {
        format!("{p}/")
    } else {
        p.to_string()
    }
}

/// `always,exit` or `exit,always` → `("always", "exit")`.
fn action_list(arg: &str) -> Option<(&str, &str)> {
    let (a, b) = arg.split_once(',')?;
    let is_action = |w: &str| matches!(w, "always" | "never");
    let is_list = |w: &str| {
        matches!(
            w,
            "exit" | "task" | "user" | "exclude" | "filesystem" | "io_uring" | "entry"
        )
    };
    match (a, b) {
        (a, l) if is_action(a) && is_list(l) => Some((a, l)),
        (l, a) if is_action(a) && is_list(l) => Some((a, l)),
        _ => None,
    }
}

/// Permission letters in `rwxa` order; `None` for another letter.
fn perms(p: &str) -> Option<String> {
    if p.is_empty() || !p.chars().all(|c| "rwxa".contains(c)) {
        return None;
    }
    Some("rwxa".chars().filter(|c| p.contains(*c)).collect())
}

fn arch(v: &str) -> &str {
    match v {
        "x86_64" | "b64" => "b64",
        "i386" | "i686" | "b32" => "b32",
        other => other,
    }
}

/// How auditctl prints a field value: an unset id as `-1`, arguments in hex, the rest as written.
fn field_value(name: &str, v: &str) -> String {
    const IDS: [&str; 9] = [
        "auid", "loginuid", "uid", "euid", "suid", "fsuid", "obj_uid", "gid", "egid",
    ];
    if IDS.contains(&name) && (v == "unset" || v == "4294967295") {
        return "-1".into();
    }
    if matches!(name, "a0" | "a1" | "a2" | "a3") {
        let n = v.strip_prefix("0x").map_or_else(
            || v.parse::<u64>().ok(),
            |h| u64::from_str_radix(h, 16).ok(),
        );
        if let Some(n) = n {
            return format!("0x{n:X}");
        }
    }
    v.to_string()
}

/// `-C a OP b` in the kernel's order of the pair (`euid!=uid` is listed as `uid!=euid`).
fn compare(spec: &str) -> Option<String> {
    const PAIRS: [(&str, &str); 25] = [
        ("uid", "obj_uid"),
        ("gid", "obj_gid"),
        ("euid", "obj_uid"),
        ("egid", "obj_gid"),
        ("auid", "obj_uid"),
        ("suid", "obj_uid"),
        ("sgid", "obj_gid"),
        ("fsuid", "obj_uid"),
        ("fsgid", "obj_gid"),
        ("uid", "auid"),
        ("uid", "euid"),
        ("uid", "fsuid"),
        ("uid", "suid"),
        ("auid", "fsuid"),
        ("auid", "suid"),
        ("auid", "euid"),
        ("euid", "suid"),
        ("euid", "fsuid"),
        ("suid", "fsuid"),
        ("gid", "egid"),
        ("gid", "fsgid"),
        ("gid", "sgid"),
        ("egid", "fsgid"),
        ("egid", "sgid"),
        ("sgid", "fsgid"),
    ];
    let op = ["!=", "="].into_iter().find(|o| spec.contains(o))?;
    let (a, b) = spec.split_once(op)?;
    let (x, y) = PAIRS
        .iter()
        .find(|(x, y)| (a == *x && b == *y) || (a == *y && b == *x))?;
    Some(format!(" -C {x}{op}{y}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_listed_as_auditctl_prints_them() {
        let text = "## c\n-D\n-b 8192\n-w /etc/sudoers -p aw -k scope\n-w /etc/sudoers.d/ -p wa -k scope\n\
            -a exit,always -F arch=b64 -S adjtimex -S settimeofday -k time-change\n\
            -a always,exit -F path=/usr/bin/chcon -F perm=x -F auid>=1000 -F auid!=unset -k perm_chng\n\
            -a always,exit -F arch=b64 -C euid!=uid -F auid!=4294967295 -S execve -k user_emulation\n\
            -a always,exit -F path=/etc/shadow -F perm=wa -F key=identity\n-e 2\n";
        let got = list(text, &|p| p == "/etc/sudoers.d");
        assert_eq!(
            got,
            "-w /etc/sudoers -p wa -k scope\n-w /etc/sudoers.d/ -p wa -k scope\n\
             -a always,exit -F arch=b64 -S adjtimex,settimeofday -F key=time-change\n\
             -a always,exit -S all -F path=/usr/bin/chcon -F perm=x -F auid>=1000 -F auid!=-1 \
             -F key=perm_chng\n\
             -a always,exit -F arch=b64 -S execve -C uid!=euid -F auid!=-1 -F key=user_emulation\n\
             -w /etc/shadow -p wa -k identity\n"
        );
        assert_eq!(list("-e 2\n# x\n", &|_| false), "No rules\n");
        assert_eq!(
            list("-a bogus,exit -S x\n-w\n-F\n", &|_| false),
            "No rules\n"
        );
    }

    #[test]
    fn augenrules_orders_control_lines() {
        let a = "# head\n-D\n-b 1\n-w /a -p wa\n-e 2\n".to_string();
        let b = "\n-b 8192\n-a always,exit -S all\r\n".to_string();
        assert_eq!(
            compile(&[a, b]),
            "## This file is automatically generated from /etc/audit/rules.d\n-D\n-b 8192\n\n\
             -w /a -p wa\n-a always,exit -S all\n-e 2\n"
        );
    }

    #[test]
    fn rules_files_sort_like_ls_v() {
        let mut n = vec![
            "99-finalize.rules",
            "10-base.rules",
            "9-a.rules",
            "50-x.rules",
        ];
        n.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            n,
            [
                "9-a.rules",
                "10-base.rules",
                "50-x.rules",
                "99-finalize.rules"
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_rules_never_panic(s in "\\PC{0,200}") {
            let _ = list(&s, &|_| true);
            let _ = compile(&[s]);
        }
    }
}
