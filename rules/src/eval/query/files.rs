//! `stat`, `ls -l`, `which`, `useradd -D`, `passwd -S`, `cat`, `cut`, `grep` and `find` over the
//! tree.

use vigil_proto::FileType;

use super::{compile, grep_lines, join};
use crate::cache::{Cache, FactError, Manager};
use crate::facts::FileStat;
use crate::query::{Exec, Find, Grep, PermTest};

/// A recursive search stops here rather than walk a whole image.
const MAX_ENTRIES: usize = 100_000;
const MAX_DEPTH: usize = 32;

/// `-rw-r--r--` for a stat.
fn mode_string(st: &FileStat) -> String {
    let t = match st.file_type {
        FileType::Dir => 'd',
        FileType::Symlink => 'l',
        FileType::File => '-',
        FileType::Other => '?',
    };
    let m = st.mode;
    let bit = |mask: u32, c: char| if m & mask != 0 { c } else { '-' };
    let special = |x: u32, s: u32, lower: char, upper: char| match (m & x != 0, m & s != 0) {
        (true, true) => lower,
        (false, true) => upper,
        (true, false) => 'x',
        (false, false) => '-',
    };
    [
        t,
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        special(0o100, 0o4000, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        special(0o010, 0o2000, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        special(0o001, 0o1000, 't', 'T'),
    ]
    .iter()
    .collect()
}

fn type_name(st: &FileStat) -> &'static str {
    match st.file_type {
        FileType::Dir => "directory",
        FileType::Symlink => "symbolic link",
        FileType::File if st.size == 0 => "regular empty file",
        FileType::File => "regular file",
        FileType::Other => "special file",
    }
}

/// User and group names of ids, `UNKNOWN` when the tree's account files do not name them.
fn names(cache: &Cache<'_>, st: &FileStat) -> (String, String) {
    let acc = cache.accounts().ok();
    let user = acc
        .as_ref()
        .and_then(|a| a.users.iter().find(|u| u.uid == st.uid))
        .map(|u| u.name.clone())
        .unwrap_or_else(|| "UNKNOWN".into());
    let group = acc
        .as_ref()
        .and_then(|a| a.groups.iter().find(|(_, g)| **g == st.gid))
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| "UNKNOWN".into());
    (user, group)
}

fn utc(t: std::time::SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

fn stat_of(cache: &Cache<'_>, follow: bool, p: &str) -> std::io::Result<FileStat> {
    if follow {
        cache.host.stat(p)
    } else {
        cache.host.lstat(p)
    }
}

/// One `stat` report (default or `-c FORMAT`) for an existing path.
fn stat_one(cache: &Cache<'_>, path: &str, st: &FileStat, format: Option<&str>) -> String {
    let (user, group) = names(cache, st);
    let Some(format) = format else {
        let (y, mo, d, h, mi, s) = utc(st.mtime);
        let shown = match (st.file_type, cache.host.read_link(path)) {
            (FileType::Symlink, Ok(t)) => format!("{path} -> {t}"),
            _ => path.to_string(),
        };
        return format!(
            "  File: {shown}\n  Size: {:<10}\tBlocks: 0          IO Block: 4096   {}\n\
             Access: ({:04o}/{})  Uid: ({:>5}/{user:>8})   Gid: ({:>5}/{group:>8})\n\
             Modify: {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.000000000 +0000\n",
            st.size,
            type_name(st),
            st.mode,
            mode_string(st),
            st.uid,
            st.gid
        );
    };
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push_str(path),
            Some('a') => out.push_str(&format!("{:o}", st.mode)),
            Some('A') => out.push_str(&mode_string(st)),
            Some('u') => out.push_str(&st.uid.to_string()),
            Some('U') => out.push_str(&user),
            Some('g') => out.push_str(&st.gid.to_string()),
            Some('G') => out.push_str(&group),
            Some('s') => out.push_str(&st.size.to_string()),
            Some('F') => out.push_str(type_name(st)),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('?');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out.push('\n');
    out
}

pub(super) fn stat(
    cache: &Cache<'_>,
    follow: bool,
    format: Option<&str>,
    paths: &[String],
) -> String {
    let mut out = String::new();
    for p in paths {
        match stat_of(cache, follow, p) {
            Ok(st) => out.push_str(&stat_one(cache, p, &st, format)),
            Err(_) => out.push_str(&format!(
                "stat: cannot statx '{p}': No such file or directory\n"
            )),
        }
    }
    out
}

fn ls_line(cache: &Cache<'_>, path: &str, st: &FileStat) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (user, group) = names(cache, st);
    let (_, mo, d, h, mi, _) = utc(st.mtime);
    let month = MONTHS[(mo as usize).saturating_sub(1).min(11)];
    let target = match st.file_type {
        FileType::Symlink => cache
            .host
            .read_link(path)
            .map(|t| format!(" -> {t}"))
            .unwrap_or_default(),
        _ => String::new(),
    };
    format!(
        "{} 1 {user} {group} {} {month} {d:>2} {h:02}:{mi:02} {path}{target}\n",
        mode_string(st),
        st.size
    )
}

pub(super) fn ls_long(cache: &Cache<'_>, paths: &[String]) -> String {
    let mut out = String::new();
    for p in paths {
        match cache.host.lstat(p) {
            Ok(st) => out.push_str(&ls_line(cache, p, &st)),
            Err(_) => out.push_str(&format!(
                "ls: cannot access '{p}': No such file or directory\n"
            )),
        }
    }
    out
}

/// The search path of the Wazuh agent's commands.
const PATH: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

pub(super) fn which(cache: &Cache<'_>, names: &[String]) -> String {
    let mut out = String::new();
    for n in names {
        let found = PATH.iter().map(|d| format!("{d}/{n}")).find(|p| {
            cache
                .host
                .stat(p)
                .is_ok_and(|st| st.file_type == FileType::File && st.mode & 0o111 != 0)
        });
        if let Some(p) = found {
            out.push_str(&p);
            out.push('\n');
        }
    }
    out
}

pub(super) fn useradd_defaults(cache: &Cache<'_>) -> String {
    let text = cache.text("/etc/default/useradd").unwrap_or_default();
    let set: Vec<(&str, &str)> = crate::cache::key_values(&text).collect();
    let shell = match cache.packages().map(|p| p.manager) {
        Ok(Manager::Rpm) => "/bin/bash",
        _ => "/bin/sh",
    };
    let mut out = String::new();
    for (k, default) in [
        ("GROUP", "100"),
        ("HOME", "/home"),
        ("INACTIVE", "-1"),
        ("EXPIRE", ""),
        ("SHELL", shell),
        ("SKEL", "/etc/skel"),
        ("CREATE_MAIL_SPOOL", "no"),
    ] {
        let v = set
            .iter()
            .rev()
            .find(|(key, _)| *key == k)
            .map_or(default, |(_, v)| *v);
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

pub(super) fn passwd_status(cache: &Cache<'_>, user: &str) -> Result<String, String> {
    let acc = cache.accounts().map_err(|e| e.message())?;
    if !acc.shadow_read {
        return Err("/etc/shadow not found or unreadable".into());
    }
    let debian = cache
        .os_release()
        .is_ok_and(|o| o.id == "debian" || o.id_like.iter().any(|l| l == "debian"));
    let Some(a) = acc.users.iter().find(|u| u.name == user) else {
        return Ok(if debian {
            format!("passwd: user '{user}' does not exist\n")
        } else {
            format!("passwd: Unknown user name '{user}'.\n")
        });
    };
    let sh = a.shadow.clone().unwrap_or_default();
    let hash = &sh[0];
    let days: i64 = sh[1].parse().unwrap_or(0);
    let (y, m, d, ..) =
        utc(std::time::UNIX_EPOCH + std::time::Duration::from_secs(days.max(0) as u64 * 86_400));
    let field = |i: usize| {
        if sh[i].is_empty() {
            "-1".to_string()
        } else {
            sh[i].clone()
        }
    };
    let (min, max, warn, inactive) = (field(2), field(3), field(4), field(5));
    if debian {
        let st = if hash.is_empty() {
            "NP"
        } else if hash.starts_with(['!', '*']) {
            "L"
        } else {
            "P"
        };
        return Ok(format!(
            "{user} {st} {m:02}/{d:02}/{y:04} {min} {max} {warn} {inactive}\n"
        ));
    }
    let (st, note) = if hash.is_empty() {
        ("NP", "Empty password.".to_string())
    } else if hash.starts_with(['!', '*']) {
        ("LK", "Password locked.".to_string())
    } else {
        let alg = match hash.split('$').nth(1).unwrap_or("") {
            "6" => "SHA512",
            "5" => "SHA256",
            "1" => "MD5",
            "y" => "yescrypt",
            "2a" | "2b" | "2y" => "blowfish",
            _ => "DES",
        };
        ("PS", format!("Password set, {alg} crypt."))
    };
    Ok(format!(
        "{user} {st} {y:04}-{m:02}-{d:02} {min} {max} {warn} {inactive} ({note})\n"
    ))
}

/// Paths as a shell would expand them: a glob in the last component becomes the matching names,
/// or stays as written when nothing matches.
fn shell_expand(cache: &Cache<'_>, p: &str) -> Vec<String> {
    let name = p.rsplit('/').next().unwrap_or(p);
    if !name.contains(['*', '?', '[']) {
        return vec![p.to_string()];
    }
    match cache.expand(p) {
        Ok(v) if !v.is_empty() => v,
        _ => vec![p.to_string()],
    }
}

/// The text of a file, or the error line a tool named `tool` prints.
fn read_or_complain(cache: &Cache<'_>, tool: &str, p: &str) -> Result<String, String> {
    match cache.host.stat(p) {
        Ok(st) if st.file_type == FileType::Dir => Err(format!("{tool}: {p}: Is a directory\n")),
        Ok(_) => cache.text(p).map_err(|e| match e {
            FactError::NotFound(_) => format!("{tool}: {p}: No such file or directory\n"),
            e => format!("{tool}: {}\n", e.message()),
        }),
        Err(_) => Err(format!("{tool}: {p}: No such file or directory\n")),
    }
}

pub(super) fn cat(cache: &Cache<'_>, paths: &[String]) -> String {
    let mut out = String::new();
    for p in paths.iter().flat_map(|p| shell_expand(cache, p)) {
        match read_or_complain(cache, "cat", &p) {
            // Byte for byte, as cat does: a file without a final newline runs into the next.
            Ok(t) => out.push_str(&t),
            Err(e) => out.push_str(&e),
        }
    }
    out
}

pub(super) fn cut_files(cache: &Cache<'_>, field: usize, delim: char, files: &[String]) -> String {
    let mut out = String::new();
    for p in files.iter().flat_map(|p| shell_expand(cache, p)) {
        match read_or_complain(cache, "cut", &p) {
            Ok(t) => out.push_str(&join(t.lines().map(|l| super::cut(l, field, delim)))),
            Err(e) => out.push_str(&e),
        }
    }
    out
}

/// Regular files below `dir` (or `dir` itself when it is a file), in name order, links not
/// followed. Directories are reported with `dirs` (find prints them too).
fn walk(
    cache: &Cache<'_>,
    dir: &str,
    depth: usize,
    seen: &mut usize,
    each: &mut dyn FnMut(&str, &FileStat),
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{dir}: more than {MAX_DEPTH} directory levels"));
    }
    let mut names = cache
        .host
        .list_dir(dir)
        .map_err(|e| format!("{dir}: {e}"))?;
    names.sort();
    for n in names {
        *seen += 1;
        if *seen > MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} entries below {dir}"));
        }
        let p = format!("{}/{n}", dir.trim_end_matches('/'));
        let Ok(st) = cache.host.lstat(&p) else {
            continue;
        };
        each(&p, &st);
        if st.file_type == FileType::Dir {
            walk(cache, &p, depth + 1, seen, each)?;
        }
    }
    Ok(())
}

pub(super) fn grep_files(
    cache: &Cache<'_>,
    g: &Grep,
    recursive: bool,
    no_filename: bool,
    paths: &[String],
) -> Result<String, String> {
    let re = compile(&g.regex)?;
    let mut files = Vec::new();
    let mut out = String::new();
    for p in paths.iter().flat_map(|p| shell_expand(cache, p)) {
        match cache.host.stat(&p) {
            Ok(st) if st.file_type == FileType::Dir && recursive => {
                let mut seen = 0;
                walk(cache, &p, 0, &mut seen, &mut |f, st| {
                    if st.file_type == FileType::File {
                        files.push(f.to_string());
                    }
                })?;
            }
            Ok(st) if st.file_type == FileType::Dir => {
                out.push_str(&format!("grep: {p}: Is a directory\n"));
            }
            Ok(_) => files.push(p),
            Err(_) => out.push_str(&format!("grep: {p}: No such file or directory\n")),
        }
    }
    let prefix = !no_filename && (recursive || files.len() > 1);
    for f in files {
        let Ok(text) = cache.text(&f) else { continue };
        for l in grep_lines(g, &re, &text) {
            if prefix {
                out.push_str(&format!("{f}:{l}\n"));
            } else {
                out.push_str(&format!("{l}\n"));
            }
        }
    }
    Ok(out)
}

pub(super) fn find(cache: &Cache<'_>, f: &Find) -> Result<String, String> {
    let mut out = String::new();
    // A pattern globset refuses (`[z-a]`) matches nothing, as find's fnmatch would.
    let names: Vec<_> = f
        .names
        .iter()
        .filter_map(|g| vigil_host::glob::Pattern::new(g).ok())
        .collect();
    let selected = |p: &str, st: &FileStat| {
        let name = p.rsplit('/').next().unwrap_or(p);
        (!f.files_only || st.file_type == FileType::File)
            && (f.names.is_empty() || names.iter().any(|g| g.matches(name)))
            && match f.perm {
                None => true,
                Some(PermTest::Any(0)) => true,
                Some(PermTest::Any(b)) => st.mode & b != 0,
                Some(PermTest::All(b)) => st.mode & b == b,
            }
    };
    let mut emit = |p: &str, st: &FileStat| {
        if !selected(p, st) {
            return;
        }
        match &f.exec {
            Exec::Print => {
                out.push_str(p);
                out.push('\n');
            }
            Exec::LsLong => out.push_str(&ls_line(cache, p, st)),
            Exec::Stat { follow, format } => {
                let st = if *follow {
                    cache.host.stat(p).unwrap_or(*st)
                } else {
                    *st
                };
                out.push_str(&stat_one(cache, p, &st, format.as_deref()));
            }
        }
    };
    let mut errors = String::new();
    for root in &f.roots {
        let Ok(st) = cache.host.lstat(root) else {
            errors.push_str(&format!("find: '{root}': No such file or directory\n"));
            continue;
        };
        emit(root, &st);
        if st.file_type == FileType::Dir {
            let mut seen = 0;
            walk(cache, root, 0, &mut seen, &mut emit)?;
        }
    }
    out.push_str(&errors);
    Ok(out)
}

/// `crontab -u USER -l`: the spool file (`/var/spool/cron/crontabs/USER` on Debian,
/// `/var/spool/cron/USER` on Red Hat), without the three-line header Debian's `crontab` writes
/// and hides again; `no crontab for USER` when there is none.
pub(super) fn crontab_list(cache: &Cache<'_>, user: &str) -> Result<String, String> {
    let debian = cache
        .stat("/var/spool/cron/crontabs")
        .is_ok_and(|st| st.file_type == FileType::Dir);
    let path = if debian {
        format!("/var/spool/cron/crontabs/{user}")
    } else {
        format!("/var/spool/cron/{user}")
    };
    let text = match cache.text(&path) {
        Ok(t) => t,
        Err(FactError::NotFound(_)) => return Ok(format!("no crontab for {user}\n")),
        Err(e) => return Err(e.message()),
    };
    if debian && text.starts_with("# DO NOT EDIT THIS FILE") {
        return Ok(text.split_inclusive('\n').skip(3).collect());
    }
    Ok(text)
}
