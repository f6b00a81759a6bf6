//! `sshd -T [-C user=NAME]`: the effective server configuration as sshd prints it, computed from
//! `/etc/ssh/sshd_config` and the files it includes.
//!
//! What sshd does and this follows: keywords are case-insensitive and printed in lower case; the
//! first value of a keyword wins (the list keywords below accumulate); `Include` takes globs,
//! relative to `/etc/ssh`, expanded in lexical order; a `Match` block applies only with `-C`, runs
//! to the next `Match` or the end of its file, and its values (first one wins among the matching
//! blocks) override the global ones. Keywords that no file sets print OpenSSH's
//! built-in default when it has one in [`DEFAULTS`]; the algorithm lists (`ciphers`, `macs`,
//! `kexalgorithms`) print only when configured (on RHEL the crypto policy's included file sets
//! them). A `Match` on anything but `User` or `All` needs connection facts the tree does not have,
//! so it is an error rather than a guess.

use std::collections::BTreeMap;

use vigil_proto::FileType;

use crate::cache::{Cache, FactError};

const CONFIG: &str = "/etc/ssh/sshd_config";
/// Nested `Include`s deeper than this are refused (sshd's own limit is 16).
const MAX_DEPTH: usize = 16;
/// Lines read over all files, against include loops and huge files.
const MAX_LINES: usize = 100_000;

/// Keywords whose lines accumulate instead of the first one winning.
const LISTS: [&str; 9] = [
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
    "acceptenv",
    "hostkey",
    "listenaddress",
    "port",
    "subsystem",
];

/// OpenSSH 8.7–9.x defaults of the keywords hardening policies read.
const DEFAULTS: [(&str, &str); 36] = [
    ("port", "22"),
    ("addressfamily", "any"),
    ("logingracetime", "120"),
    ("maxauthtries", "6"),
    ("maxsessions", "10"),
    ("maxstartups", "10:30:100"),
    ("clientaliveinterval", "0"),
    ("clientalivecountmax", "3"),
    ("permitrootlogin", "prohibit-password"),
    ("permitemptypasswords", "no"),
    ("permituserenvironment", "no"),
    ("hostbasedauthentication", "no"),
    ("ignorerhosts", "yes"),
    ("ignoreuserknownhosts", "no"),
    ("x11forwarding", "no"),
    ("allowtcpforwarding", "yes"),
    ("allowagentforwarding", "yes"),
    ("allowstreamlocalforwarding", "yes"),
    ("disableforwarding", "no"),
    ("gatewayports", "no"),
    ("permittunnel", "no"),
    ("loglevel", "INFO"),
    ("syslogfacility", "AUTH"),
    ("usepam", "no"),
    ("pubkeyauthentication", "yes"),
    ("passwordauthentication", "yes"),
    ("kbdinteractiveauthentication", "yes"),
    ("gssapiauthentication", "no"),
    ("kerberosauthentication", "no"),
    ("strictmodes", "yes"),
    ("printmotd", "yes"),
    ("printlastlog", "yes"),
    ("tcpkeepalive", "yes"),
    ("usedns", "no"),
    ("banner", "none"),
    ("compression", "yes"),
];

/// Renders `sshd -T`, with `-C user=NAME` when `user` is given.
pub(super) fn effective(cache: &Cache<'_>, user: Option<&str>) -> Result<String, String> {
    let mut r = Reader {
        cache,
        user,
        lines: 0,
        values: BTreeMap::new(),
        matched: BTreeMap::new(),
    };
    match cache.text(CONFIG) {
        Ok(text) => r.file(CONFIG, &text, 0, None)?,
        Err(FactError::NotFound(_)) => {
            return Err(format!("{CONFIG}: no such file (sshd would not start)"));
        }
        Err(e) => return Err(e.message()),
    }
    let matched = std::mem::take(&mut r.matched);
    r.values.extend(matched);
    for (k, v) in DEFAULTS {
        r.values
            .entry(k.to_string())
            .or_insert_with(|| vec![v.to_string()]);
    }
    let mut out = String::new();
    for (k, vs) in &r.values {
        for v in vs {
            out.push_str(&format!("{k} {v}\n"));
        }
    }
    Ok(out)
}

struct Reader<'c, 'a> {
    cache: &'c Cache<'a>,
    user: Option<&'c str>,
    lines: usize,
    /// Values outside Match blocks.
    values: BTreeMap<String, Vec<String>>,
    /// Values of the Match blocks that apply.
    matched: BTreeMap<String, Vec<String>>,
}

impl Reader<'_, '_> {
    /// Reads one file; a `Match` block opened here ends with it. `block` is the state the file is
    /// included in: `None` global, `Some(true)` inside a Match block that applies.
    fn file(
        &mut self,
        path: &str,
        text: &str,
        depth: usize,
        mut block: Option<bool>,
    ) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            self.lines += 1;
            if self.lines > MAX_LINES {
                return Err(format!("sshd configuration longer than {MAX_LINES} lines"));
            }
            let Some((key, args)) = split(line) else {
                continue;
            };
            let at = || format!("{path}:{}", n + 1);
            match key.as_str() {
                "match" => {
                    block = Some(self.matches(&args).map_err(|e| format!("{}: {e}", at()))?);
                }
                _ if block == Some(false) => {}
                "include" => {
                    if depth >= MAX_DEPTH {
                        return Err(format!("{}: includes nested too deeply", at()));
                    }
                    for pattern in &args {
                        self.include(pattern, depth, block)?;
                    }
                }
                _ if args.is_empty() => return Err(format!("{}: {key} has no value", at())),
                _ => self.set(&key, &args, block.is_some()),
            }
        }
        Ok(())
    }

    fn include(&mut self, pattern: &str, depth: usize, block: Option<bool>) -> Result<(), String> {
        let full = if pattern.starts_with('/') {
            pattern.to_string()
        } else {
            format!("/etc/ssh/{pattern}")
        };
        if full.split('/').any(|c| c == "..") {
            return Err(format!("Include {pattern}: `..` is not followed"));
        }
        let paths = self.cache.expand(&full).map_err(|e| e.message())?;
        for p in paths {
            // sshd reads the regular files a glob names.
            if self
                .cache
                .stat(&p)
                .is_ok_and(|st| st.file_type != FileType::File)
            {
                continue;
            }
            match self.cache.text(&p) {
                Ok(text) => self.file(&p, &text, depth + 1, block)?,
                Err(FactError::NotFound(_)) => {}
                Err(e) => return Err(e.message()),
            }
        }
        Ok(())
    }

    /// Whether a `Match` line applies to the `-C` connection.
    fn matches(&self, args: &[String]) -> Result<bool, String> {
        let Some(user) = self.user else {
            // Without -C sshd -T prints the configuration outside every Match block.
            return Ok(false);
        };
        let mut all = true;
        let mut it = args.iter();
        while let Some(crit) = it.next() {
            match crit.to_ascii_lowercase().as_str() {
                "all" => {}
                "user" => {
                    let list = it.next().ok_or("Match User needs a pattern list")?;
                    all &= pattern_list(list, user);
                }
                other => {
                    return Err(format!(
                        "Match {other} depends on the connection; only User and All are evaluated"
                    ));
                }
            }
        }
        Ok(all)
    }

    fn set(&mut self, key: &str, args: &[String], in_match: bool) {
        let value = normalise(key, args);
        let map = if in_match {
            &mut self.matched
        } else {
            &mut self.values
        };
        if LISTS.contains(&key) {
            map.entry(key.to_string()).or_default().push(value);
        } else {
            map.entry(key.to_string()).or_insert_with(|| vec![value]);
        }
    }
}

/// A configuration line as its lower-case keyword and arguments (double quotes group words; the
/// keyword may be followed by `=`).
fn split(line: &str) -> Option<(String, Vec<String>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line.find(|c: char| c.is_whitespace() || c == '=')?;
    let (key, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in rest.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    args.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        args.push(cur);
    }
    Some((key.to_ascii_lowercase(), args))
}

/// The value as `sshd -T` prints it.
fn normalise(key: &str, args: &[String]) -> String {
    let first = args[0].as_str();
    match key {
        "logingracetime" | "clientaliveinterval" => {
            seconds(first).map_or_else(|| first.to_string(), |s| s.to_string())
        }
        "maxstartups" => {
            let parts: Vec<&str> = first.split(':').collect();
            match parts.as_slice() {
                // One number: begin and full are equal, the refusal rate is 100%.
                [n] => format!("{n}:100:{n}"),
                _ => first.to_string(),
            }
        }
        "loglevel" | "syslogfacility" => first.to_ascii_uppercase(),
        "permitrootlogin" if first.eq_ignore_ascii_case("without-password") => {
            "prohibit-password".into()
        }
        _ if matches!(first.to_ascii_lowercase().as_str(), "yes" | "no") && args.len() == 1 => {
            first.to_ascii_lowercase()
        }
        _ => args.join(" "),
    }
}

/// An sshd time value (`90`, `1m30s`, `2h`) in seconds.
fn seconds(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(num.parse::<u64>().ok()?.checked_mul(unit)?)?;
        num.clear();
    }
    if !num.is_empty() {
        total = total.checked_add(num.parse().ok()?)?;
    }
    Some(total)
}

/// An OpenSSH pattern list (`root,adm*,!guest`): some pattern matches and no negated one does.
fn pattern_list(list: &str, name: &str) -> bool {
    let mut hit = false;
    for p in list.split(',') {
        match p.strip_prefix('!') {
            Some(neg) if wildcard(neg.as_bytes(), name.as_bytes()) => return false,
            Some(_) => {}
            None => hit |= wildcard(p.as_bytes(), name.as_bytes()),
        }
    }
    hit
}

/// `*` and `?` wildcards, iteratively (no recursion on hostile patterns).
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_sshd_prints_them() {
        let a = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(normalise("logingracetime", &a("1m30s")), "90");
        assert_eq!(normalise("maxstartups", &a("10")), "10:100:10");
        assert_eq!(normalise("loglevel", &a("verbose")), "VERBOSE");
        assert_eq!(
            normalise("permitrootlogin", &a("without-password")),
            "prohibit-password"
        );
        assert_eq!(normalise("x11forwarding", &a("No")), "no");
        assert_eq!(normalise("allowusers", &a("alice bob")), "alice bob");
        assert_eq!(seconds("2h"), Some(7200));
        assert_eq!(seconds("1x"), None);
        assert_eq!(
            split("  PermitRootLogin=no"),
            Some(("permitrootlogin".into(), a("no")))
        );
        assert_eq!(
            split("Banner \"/etc/issue net\""),
            Some(("banner".into(), vec!["/etc/issue net".into()]))
        );
        assert_eq!(split("# PermitRootLogin yes"), None);
    }

    #[test]
    fn pattern_lists_match_like_openssh() {
        assert!(pattern_list("root", "root"));
        assert!(pattern_list("adm*,ro?t", "root"));
        assert!(!pattern_list("*,!root", "root"));
        assert!(!pattern_list("alice", "root"));
        assert!(wildcard(b"*a*b*", b"xxaxxbxx"));
        assert!(!wildcard(b"*a*b", b"xxaxxbxx"));
    }
}
