//! Parsing a query command line into a [`Query`].

use super::regex::{grep_regex, is_valid};
use super::{Exec, Filter, Find, Grep, PermTest, Query, Source};

/// The longest query accepted, and the most stages.
const MAX_LEN: usize = 4096;
const MAX_STAGES: usize = 8;

/// Parses a command line in shell syntax (`'…'`, `"…"`, `\x`, `|` between stages; no expansions,
/// redirections or lists).
///
/// # Errors
/// A message naming the part that is not a supported query.
pub fn parse(line: &str) -> Result<Query, String> {
    if line.len() > MAX_LEN {
        return Err(format!("query longer than {MAX_LEN} bytes"));
    }
    let stages = split_pipeline(line)?;
    if stages.len() > MAX_STAGES {
        return Err(format!("more than {MAX_STAGES} pipeline stages"));
    }
    let (first, rest) = stages.split_first().ok_or("empty query")?;
    let source = source(first)?;
    let filters = rest.iter().map(|s| filter(s)).collect::<Result<_, _>>()?;
    Ok(Query {
        source,
        filters,
        stages,
    })
}

/// Splits a line into pipeline stages of words, with POSIX shell quoting.
pub(crate) fn split_pipeline(line: &str) -> Result<Vec<Vec<String>>, String> {
    let mut stages = vec![Vec::new()];
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.trim().chars().peekable();
    let push = |stages: &mut Vec<Vec<String>>, cur: &mut String, in_word: &mut bool| {
        if *in_word {
            if let Some(s) = stages.last_mut() {
                s.push(std::mem::take(cur));
            }
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => push(&mut stages, &mut cur, &mut in_word),
            '|' => {
                push(&mut stages, &mut cur, &mut in_word);
                if chars.peek() == Some(&'|') {
                    return Err("`||` needs a shell".into());
                }
                stages.push(Vec::new());
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(x @ ('$' | '`')) => return Err(format!("`{x}` needs a shell")),
                        Some(x) => cur.push(x),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => cur.push(x),
                    None => return Err("trailing backslash".into()),
                }
            }
            ';' | '&' | '<' | '>' | '(' | ')' | '$' | '`' => {
                return Err(format!("`{c}` needs a shell"));
            }
            '#' if !in_word => return Err("`#` starts a shell comment".into()),
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    push(&mut stages, &mut cur, &mut in_word);
    if stages.iter().any(Vec::is_empty) {
        return Err("empty pipeline stage".into());
    }
    Ok(stages)
}

fn words(argv: &[String]) -> Vec<&str> {
    argv.iter().map(String::as_str).collect()
}

/// The program's base name (`/usr/bin/rpm` → `rpm`).
fn program(argv: &[String]) -> &str {
    let p = argv.first().map(String::as_str).unwrap_or("");
    p.rsplit('/').next().unwrap_or(p)
}

fn names(args: &[&str], what: &str) -> Result<Vec<String>, String> {
    if args.is_empty() {
        return Err(format!("{what}: at least one name is required"));
    }
    if let Some(a) = args.iter().find(|a| a.starts_with('-')) {
        return Err(format!("{what}: unsupported option {a}"));
    }
    Ok(args.iter().map(|s| s.to_string()).collect())
}

fn source(argv: &[String]) -> Result<Source, String> {
    let w = words(argv);
    let args = &w[1..];
    let p = program(argv);
    Ok(match (p, args) {
        ("rpm", ["-q", rest @ ..]) => Source::RpmQuery(names(rest, "rpm -q")?),
        ("rpm", ["-qa", rest @ ..]) => {
            Source::RpmQueryAll(rest.iter().map(|s| s.to_string()).collect())
        }
        ("dpkg", ["-s", rest @ ..]) | ("dpkg-query", ["-s", rest @ ..]) => {
            Source::DpkgStatus(names(rest, "dpkg -s")?)
        }
        ("dpkg-query", ["-W", rest @ ..]) => dpkg_show(rest)?,
        ("systemctl", ["is-enabled", rest @ ..]) => Source::IsEnabled(names(rest, "systemctl")?),
        ("systemctl", ["is-active", rest @ ..]) => Source::IsActive(names(rest, "systemctl")?),
        ("systemctl", ["status", rest @ ..]) => Source::SystemctlStatus(names(rest, "systemctl")?),
        ("systemctl", ["show", rest @ ..]) => Source::SystemctlShow(names(rest, "systemctl")?),
        ("getenforce", []) => Source::Getenforce,
        ("sestatus", []) => Source::Sestatus,
        ("sysctl", rest) => {
            let keys = names(rest, "sysctl")?;
            if keys.iter().any(|k| k.contains("..") || k.contains('=')) {
                return Err("sysctl: only reading keys is supported".into());
            }
            Source::Sysctl(keys)
        }
        ("modprobe", ["-n", "-v", m] | ["-nv", m] | ["-v", "-n", m]) if !m.starts_with('-') => {
            Source::ModprobeDryRun(m.to_string())
        }
        ("lsmod", []) => Source::Lsmod,
        ("stat", rest) => {
            let (follow, format, paths) = stat_args(rest)?;
            Source::Stat {
                follow,
                format,
                paths,
            }
        }
        ("ls", ["-l", rest @ ..]) => Source::LsLong(paths(rest, "ls -l")?),
        ("which", rest) => Source::Which(names(rest, "which")?),
        ("useradd", ["-D"]) => Source::UseraddDefaults,
        ("passwd", ["-S", user]) if !user.starts_with('-') => {
            Source::PasswdStatus(user.to_string())
        }
        ("grubby", ["--info=ALL"] | ["--info", "ALL"]) => Source::GrubbyInfoAll,
        ("authselect", ["current"]) => Source::AuthselectCurrent,
        ("authselect", ["list"]) => Source::AuthselectList,
        ("firewall-cmd", ["--state"]) => Source::FirewalldState,
        ("ps", ["-eZ"] | ["-Ze"] | ["-e", "-Z"] | ["-Z", "-e"]) => Source::PsLabels,
        ("ss", flags) if !flags.is_empty() => ss_flags(flags)?,
        ("sshd", ["-T"]) => Source::SshdConfig { user: None },
        ("sshd", ["-T", "-C", spec]) => {
            let user = spec
                .strip_prefix("user=")
                .filter(|u| !u.is_empty() && !u.contains(','))
                .ok_or("sshd -T -C: only a `user=NAME` connection is supported")?;
            Source::SshdConfig {
                user: Some(user.to_string()),
            }
        }
        ("findmnt", rest) => findmnt(rest)?,
        ("mount", []) => Source::MountList,
        ("initctl", ["show-config", job]) if plain_name(job) => {
            Source::InitctlShowConfig(job.to_string())
        }
        ("crontab", ["-u", user, "-l"] | ["-l", "-u", user]) if plain_name(user) => {
            Source::CrontabList(user.to_string())
        }
        ("netstat", ["-an"] | ["-na"] | ["-a", "-n"] | ["-n", "-a"]) => Source::NetstatAll,
        ("dpkg", ["-l", rest @ ..]) | ("dpkg-query", ["-l", rest @ ..]) => {
            if let Some(a) = rest.iter().find(|a| a.starts_with('-') || a.contains('/')) {
                return Err(format!("dpkg -l: unsupported argument {a:?}"));
            }
            Source::DpkgList(rest.iter().map(|s| s.to_string()).collect())
        }
        ("chkconfig", ["--list"]) => Source::ChkconfigList(None),
        ("chkconfig", ["--list", name]) if !name.starts_with('-') && !name.contains('/') => {
            Source::ChkconfigList(Some(name.to_string()))
        }
        ("tail", rest) => {
            let (lines, files) = tail_args(rest)?;
            let [file] = files.as_slice() else {
                return Err("tail: exactly one file is supported in the first stage".into());
            };
            Source::TailFile {
                lines,
                file: paths(&[file.as_str()], "tail")?.remove(0),
            }
        }
        ("auditctl", ["-l"]) => Source::AuditctlList,
        ("augenrules", ["--check"]) => Source::AugenrulesCheck,
        ("nft", ["list", "ruleset"]) => Source::NftList { tables_only: false },
        ("nft", ["list", "tables"]) => Source::NftList { tables_only: true },
        ("iptables" | "ip6tables", ["-L", rest @ ..]) => iptables_list(p == "ip6tables", rest)?,
        ("ufw", ["status"]) => Source::UfwStatus { verbose: false },
        ("ufw", ["status", "verbose"]) => Source::UfwStatus { verbose: true },
        ("cat", rest) => Source::Cat(paths(rest, "cat")?),
        ("cut", rest) => {
            let (field, delim, files) = cut_args(rest)?;
            if files.is_empty() {
                return Err("cut: a file is required in the first stage".into());
            }
            Source::CutFiles {
                field,
                delim,
                files,
            }
        }
        ("grep", rest) => grep_files(rest)?,
        ("find", rest) => Source::Find(find(rest)?),
        _ => return Err(format!("`{}` is not a supported query", argv.join(" "))),
    })
}

/// `iptables -L [CHAIN] [-v] [-n]` (options bundled or not, in any order).
fn iptables_list(v6: bool, rest: &[&str]) -> Result<Source, String> {
    let (mut chain, mut verbose, mut numeric) = (None, false, false);
    for a in rest {
        match a.strip_prefix('-') {
            Some(flags) if !flags.is_empty() && flags.chars().all(|c| "vn".contains(c)) => {
                verbose |= flags.contains('v');
                numeric |= flags.contains('n');
            }
            None if chain.is_none() && !a.is_empty() => chain = Some(a.to_string()),
            _ => return Err(format!("iptables -L: unsupported argument {a:?}")),
        }
    }
    Ok(Source::IptablesList {
        v6,
        chain,
        verbose,
        numeric,
    })
}

/// `ss` options: `-l`, `-n` and at least one of `-t`, `-u`, alone or bundled (`-lntu`).
fn ss_flags(flags: &[&str]) -> Result<Source, String> {
    let mut seen = String::new();
    for f in flags {
        let letters = f
            .strip_prefix('-')
            .filter(|l| !l.is_empty() && !l.starts_with('-'))
            .ok_or_else(|| format!("ss: unsupported argument {f:?}"))?;
        for c in letters.chars() {
            if !"lntu".contains(c) {
                return Err(format!("ss: unsupported option -{c} (only -l -n -t -u)"));
            }
            seen.push(c);
        }
    }
    let (tcp, udp) = (seen.contains('t'), seen.contains('u'));
    if !seen.contains('l') || !seen.contains('n') || !(tcp || udp) {
        return Err("ss: only listening sockets with numeric ports (-lnt, -lnu, -lntu)".into());
    }
    Ok(Source::SsListening { tcp, udp })
}

fn paths(args: &[&str], what: &str) -> Result<Vec<String>, String> {
    let v = names(args, what)?;
    for p in &v {
        if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
            return Err(format!("{what}: path {p:?} must be absolute, without `..`"));
        }
    }
    Ok(v)
}

fn dpkg_show(args: &[&str]) -> Result<Source, String> {
    let mut format = "${binary:Package}\t${Version}\n".to_string();
    let mut rest = args;
    if let Some((first, tail)) = rest.split_first() {
        if let Some(f) = first
            .strip_prefix("-f=")
            .or_else(|| first.strip_prefix("--showformat="))
        {
            format = f.to_string();
            rest = tail;
        } else if *first == "-f" || *first == "--showformat" {
            let (f, tail) = tail.split_first().ok_or("dpkg-query -f needs a format")?;
            format = f.to_string();
            rest = tail;
        }
    }
    Ok(Source::DpkgShow {
        format,
        names: names(rest, "dpkg-query -W")?,
    })
}

fn stat_args(args: &[&str]) -> Result<(bool, Option<String>, Vec<String>), String> {
    let mut follow = false;
    let mut format = None;
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        let a = args[i];
        if let Some(f) = a
            .strip_prefix("--format=")
            .or_else(|| a.strip_prefix("--printf="))
        {
            format = Some(f.to_string());
        } else if a == "-c" || a == "--format" || a == "-Lc" {
            follow |= a == "-Lc";
            i += 1;
            format = Some(args.get(i).ok_or("stat -c needs a format")?.to_string());
        } else if let Some(f) = a
            .strip_prefix("-Lc")
            .or_else(|| a.strip_prefix("-c"))
            .filter(|f| !f.is_empty())
        {
            // `-c%a`: the format glued to its option, as getopt allows.
            follow |= a.starts_with("-Lc");
            format = Some(f.to_string());
        } else if a == "-L" || a == "--dereference" {
            follow = true;
        } else {
            return Err(format!("stat: unsupported option {a}"));
        }
        i += 1;
    }
    Ok((follow, format, paths(&args[i..], "stat")?))
}

fn findmnt(args: &[&str]) -> Result<Source, String> {
    let mut no_headings = false;
    let mut target = None;
    for a in args {
        match *a {
            "-k" | "--kernel" => {}
            "-n" | "--noheadings" => no_headings = true,
            "-kn" | "-nk" => no_headings = true,
            t if t.starts_with('/') && target.is_none() => target = Some(t.to_string()),
            other => return Err(format!("findmnt: unsupported argument {other}")),
        }
    }
    Ok(Source::Findmnt {
        no_headings,
        target,
    })
}

/// A job, user or package name: no path, option or hidden name.
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '.'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@+".contains(c))
}

/// `tail -N` or `tail -n N` (`-n N`, `-nN`, `--lines=N`) and the files after it.
fn tail_args(args: &[&str]) -> Result<(usize, Vec<String>), String> {
    let bad = |a: &str| format!("tail: unsupported argument {a:?} (only -N or -n N)");
    let count = |n: &str| {
        n.parse::<usize>()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| format!("tail: line count {n:?} must be a number from 1 to 100000"))
    };
    let (lines, rest) = match args {
        ["-n", n, rest @ ..] => (count(n)?, rest),
        [a, rest @ ..] if a.starts_with("--lines=") => (count(&a[8..])?, rest),
        [a, rest @ ..] if a.starts_with("-n") => (count(&a[2..])?, rest),
        [a, rest @ ..] if a.starts_with('-') && a.len() > 1 => {
            (count(&a[1..]).map_err(|_| bad(a))?, rest)
        }
        _ => (10, args),
    };
    if let Some(a) = rest.iter().find(|a| a.starts_with('-')) {
        return Err(bad(a));
    }
    Ok((lines, rest.iter().map(|s| s.to_string()).collect()))
}

/// `cut -f N -d C [FILE...]` in its usual spellings (`-f3 -d:`, `-f 3 -d ':'`, `-d: -f3`).
fn cut_args(args: &[&str]) -> Result<(usize, char, Vec<String>), String> {
    let mut field = None;
    let mut delim = '\t';
    let mut files = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        let mut value = |flag: &str| -> Result<Option<String>, String> {
            if a == flag {
                i += 1;
                return args
                    .get(i)
                    .map(|v| Some(v.to_string()))
                    .ok_or(format!("cut {flag} needs a value"));
            }
            Ok(a.strip_prefix(flag).map(str::to_string))
        };
        if let Some(f) = value("-f")? {
            field = Some(
                f.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or(format!("cut: field {f:?} must be one number from 1 to 64"))?,
            );
        } else if let Some(d) = value("-d")? {
            let mut cs = d.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => delim = c,
                _ => return Err(format!("cut: delimiter {d:?} must be one character")),
            }
        } else if a.starts_with('-') {
            return Err(format!("cut: unsupported option {a}"));
        } else {
            files.push(a.to_string());
        }
        i += 1;
    }
    let field = field.ok_or("cut: -f is required")?;
    for f in &files {
        if !f.starts_with('/') {
            return Err(format!("cut: path {f:?} must be absolute"));
        }
    }
    Ok((field, delim, files))
}

/// Options of a grep and the remaining operands.
fn grep_opts<'a>(args: &'a [&'a str]) -> Result<(GrepOpts, &'a [&'a str]), String> {
    let mut o = GrepOpts::default();
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && args[i].len() > 1 {
        let a = args[i];
        if a == "--" {
            i += 1;
            break;
        }
        for c in a[1..].chars() {
            match c {
                'E' => o.extended = true,
                'i' => o.ignore_case = true,
                'v' => o.invert = true,
                'c' => o.count = true,
                'h' => o.no_filename = true,
                'R' | 'r' => o.recursive = true,
                's' | 'q' => {}
                other => return Err(format!("grep: unsupported option -{other}")),
            }
        }
        i += 1;
    }
    Ok((o, &args[i..]))
}

#[derive(Default)]
struct GrepOpts {
    extended: bool,
    ignore_case: bool,
    invert: bool,
    count: bool,
    no_filename: bool,
    recursive: bool,
}

fn grep_of(o: &GrepOpts, pattern: &str) -> Result<Grep, String> {
    let mut regex = grep_regex(pattern, o.extended)?;
    if o.ignore_case {
        regex = format!("(?i){regex}");
    }
    if !is_valid(&regex) {
        return Err(format!("grep pattern {pattern:?} has no Rust equivalent"));
    }
    Ok(Grep {
        regex,
        invert: o.invert,
        count: o.count,
    })
}

fn grep_files(args: &[&str]) -> Result<Source, String> {
    let (o, rest) = grep_opts(args)?;
    let (pattern, files) = rest.split_first().ok_or("grep: a pattern is required")?;
    if o.count {
        return Err("grep -c over files is not supported".into());
    }
    Ok(Source::GrepFiles {
        grep: grep_of(&o, pattern)?,
        recursive: o.recursive,
        no_filename: o.no_filename,
        paths: paths(files, "grep")?,
    })
}

fn filter(argv: &[String]) -> Result<Filter, String> {
    let w = words(argv);
    let args = &w[1..];
    Ok(match (program(argv), args) {
        ("grep", rest) => {
            let (o, rest) = grep_opts(rest)?;
            let [pattern] = rest else {
                return Err("grep in a pipeline takes one pattern and no files".into());
            };
            if o.recursive || o.no_filename {
                return Err("grep -R/-h in a pipeline reads no files".into());
            }
            Filter::Grep(grep_of(&o, pattern)?)
        }
        ("sort", []) => Filter::Sort,
        ("uniq", flags) => {
            let mut count = false;
            let mut repeated = false;
            for f in flags {
                for c in f.strip_prefix('-').unwrap_or("?").chars() {
                    match c {
                        'c' => count = true,
                        'd' => repeated = true,
                        other => return Err(format!("uniq: unsupported option -{other}")),
                    }
                }
            }
            Filter::Uniq { count, repeated }
        }
        ("wc", ["-l"]) => Filter::CountLines,
        ("tail", rest) => {
            let (lines, files) = tail_args(rest)?;
            if !files.is_empty() {
                return Err("tail in a pipeline reads no files".into());
            }
            Filter::Tail(lines)
        }
        ("cut", rest) => {
            let (field, delim, files) = cut_args(rest)?;
            if !files.is_empty() {
                return Err("cut in a pipeline reads no files".into());
            }
            Filter::Cut { field, delim }
        }
        ("awk", [prog]) => awk_range(prog)?,
        _ => return Err(format!("`{}` is not a supported filter", argv.join(" "))),
    })
}

/// `/START/,/END/` (the only awk program accepted).
fn awk_range(prog: &str) -> Result<Filter, String> {
    let p = prog.trim();
    let parse_re = |s: &str| -> Option<(String, usize)> {
        let s = s.strip_prefix('/')?;
        let mut out = String::new();
        let mut chars = s.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    let (_, n) = chars.next()?;
                    if n != '/' {
                        out.push('\\');
                    }
                    out.push(n);
                }
                '/' => return Some((out, i + 2)),
                c => out.push(c),
            }
        }
        None
    };
    let bad = || format!("awk program {prog:?} is not `/START/,/END/`");
    let (start, used) = parse_re(p).ok_or_else(bad)?;
    let rest = p[used..].trim_start().strip_prefix(',').ok_or_else(bad)?;
    let (end, used2) = parse_re(rest.trim_start()).ok_or_else(bad)?;
    if !rest.trim_start()[used2..].trim().is_empty() {
        return Err(bad());
    }
    let start = grep_regex(&start, true)?;
    let end = grep_regex(&end, true)?;
    if !is_valid(&start) || !is_valid(&end) {
        return Err(bad());
    }
    Ok(Filter::AwkRange { start, end })
}

fn find(args: &[&str]) -> Result<Find, String> {
    let mut roots = Vec::new();
    let mut i = 0;
    while i < args.len() && !args[i].starts_with('-') && args[i] != "(" && args[i] != "!" {
        roots.push(args[i].to_string());
        i += 1;
    }
    let mut f = Find {
        roots: paths(
            &roots.iter().map(String::as_str).collect::<Vec<_>>(),
            "find",
        )?,
        files_only: false,
        names: Vec::new(),
        perm: None,
        exec: Exec::Print,
    };
    while i < args.len() {
        match args[i] {
            "-xdev" | "-mount" => {}
            "-type" => {
                i += 1;
                match args.get(i) {
                    Some(&"f") => f.files_only = true,
                    other => return Err(format!("find -type {other:?} is not supported")),
                }
            }
            "-name" => {
                i += 1;
                f.names
                    .push(args.get(i).ok_or("find -name needs a glob")?.to_string());
            }
            "(" => {
                // `\( -name A -o -name B ... \)`
                i += 1;
                loop {
                    match (args.get(i), args.get(i + 1)) {
                        (Some(&"-name"), Some(g)) => f.names.push(g.to_string()),
                        _ => {
                            return Err(
                                "find: only `\\( -name A -o -name B \\)` is supported".into()
                            );
                        }
                    }
                    i += 2;
                    match args.get(i) {
                        Some(&"-o") => i += 1,
                        Some(&")") => break,
                        _ => return Err("find: unbalanced `\\(`".into()),
                    }
                }
            }
            "-perm" => {
                i += 1;
                f.perm = Some(perm(args.get(i).ok_or("find -perm needs a mode")?)?);
            }
            "-exec" => {
                let end = args[i..]
                    .iter()
                    .position(|a| *a == "+" || *a == ";")
                    .ok_or("find -exec without `+` or `;`")?;
                let cmd = &args[i + 1..i + end];
                f.exec = exec(cmd)?;
                i += end;
            }
            other => return Err(format!("find: unsupported expression {other}")),
        }
        i += 1;
    }
    Ok(f)
}

fn exec(cmd: &[&str]) -> Result<Exec, String> {
    let bad = || format!("find -exec {} is not supported", cmd.join(" "));
    let (last, head) = cmd.split_last().ok_or_else(bad)?;
    if *last != "{}" {
        return Err(bad());
    }
    match head {
        ["ls", "-l"] => Ok(Exec::LsLong),
        ["stat", opts @ ..] => {
            let (follow, format, rest) = stat_args(&[opts, &["/"]].concat())?;
            if rest != ["/"] {
                return Err(bad());
            }
            Ok(Exec::Stat { follow, format })
        }
        _ => Err(bad()),
    }
}

/// `/g+wx,o+rwx`, `/0037`, `-4000`.
fn perm(s: &str) -> Result<PermTest, String> {
    let (any, body) = match s.as_bytes().first() {
        Some(b'/') => (true, &s[1..]),
        Some(b'-') => (false, &s[1..]),
        _ => {
            return Err(format!(
                "find -perm {s}: only /MODE and -MODE are supported"
            ));
        }
    };
    let bits = if body.bytes().all(|b| (b'0'..=b'7').contains(&b)) && !body.is_empty() {
        u32::from_str_radix(body, 8).map_err(|e| e.to_string())?
    } else {
        let mut bits = 0;
        for part in body.split(',') {
            let (who, what) = part
                .split_once('+')
                .ok_or_else(|| format!("find -perm {s}: symbolic modes use `who+perms`"))?;
            let mut mask = 0;
            for w in who.chars() {
                mask |= match w {
                    'u' => 0o700,
                    'g' => 0o070,
                    'o' => 0o007,
                    'a' => 0o777,
                    _ => return Err(format!("find -perm {s}: bad class {w}")),
                };
            }
            for p in what.chars() {
                bits |= mask
                    & match p {
                        'r' => 0o444,
                        'w' => 0o222,
                        'x' => 0o111,
                        _ => return Err(format!("find -perm {s}: bad permission {p}")),
                    };
            }
        }
        bits
    };
    Ok(if any {
        PermTest::Any(bits)
    } else {
        PermTest::All(bits)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_forms_parse_and_print_back() {
        for q in [
            "rpm -q aide",
            "rpm -qa 'xorg-x11-server*'",
            "dpkg-query -W '-f=${binary:Package}\\t${Status}\\n' nftables iptables",
            "systemctl is-enabled avahi-daemon.socket avahi-daemon.service",
            "sysctl net.ipv4.ip_forward",
            "stat -Lc '%n %a %u %U %g %G' /etc/passwd",
            "cut -f3 -d: /etc/passwd | sort | uniq -dc | wc -l",
            "find /etc/audit/ -type f '(' -name '*.conf' -o -name '*.rules' ')' -exec stat -Lc %a '{}' + | grep -cvE '^(000|040|200|400|600|240|440|640)'",
            "find /var/log/ -type f -perm /g+wx,o+rwx -exec ls -l '{}' +",
            "grep -Rh '^gpgcheck' /etc/yum.repos.d/",
            "modprobe -n -v cramfs",
            "findmnt --kernel /tmp",
            "cat /etc/bashrc /etc/profile '/etc/profile.d/*.sh'",
            "systemctl show ufw.service | grep -cE '^ActiveState=active'",
        ] {
            let parsed = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            let again = parse(&parsed.to_string()).expect("printed form parses");
            assert_eq!(parsed, again, "{q} -> {parsed}");
        }
        let q = parse("find /var/log -type f -perm /g+wx,o+rwx -exec ls -l {} +").expect("find");
        let Source::Find(f) = q.source else {
            panic!("find")
        };
        assert_eq!(f.perm, Some(PermTest::Any(0o037)));
        assert_eq!(f.exec, Exec::LsLong);
        assert!(matches!(
            parse("cut -f1 -d\":\" /etc/group").expect("cut").source,
            Source::CutFiles {
                field: 1,
                delim: ':',
                ..
            }
        ));
    }

    #[test]
    fn everything_else_is_refused() {
        for (q, why) in [
            ("rm -rf /", "not a supported query"),
            ("rpm -e aide", "not a supported query"),
            ("sysctl -w net.ipv4.ip_forward=1", "unsupported option"),
            ("systemctl stop sshd", "not a supported query"),
            ("cat /etc/shadow > /tmp/x", "needs a shell"),
            ("cat /etc/hosts; reboot", "needs a shell"),
            ("echo $(id)", "needs a shell"),
            ("sort | tee /tmp/x", "not a supported query"),
            ("cat /etc/hosts | tee /tmp/x", "not a supported filter"),
            ("cat ../etc/x", "absolute"),
            ("grep -c x /etc/hosts", "not supported"),
            ("awk '{print $1}'", "not a supported query"),
            ("cat /etc/hosts | awk '{system(\"id\")}'", "START"),
            ("find / -delete", "unsupported expression"),
            ("find / -exec rm '{}' +", "not supported"),
            ("cut -f1 /etc/passwd |", "empty pipeline stage"),
            ("'open", "unterminated"),
        ] {
            match parse(q) {
                Err(e) => assert!(e.contains(why), "{q}: {e}"),
                Ok(p) => panic!("{q} parsed as {p:?}"),
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_lines_never_panic(s in "\\PC{0,80}") {
            let _ = parse(&s);
        }
    }
}
