//! Command rules answered natively: `rpm -q`/`dpkg -s` become package conditions, and every other
//! command or `sh -c` script that `crate::query` understands becomes a `query` check, so nothing
//! is executed and offline images work.
//!
//! A package query is turned into `package` checks only when that is exact: the policy's pattern
//! is evaluated on the output for every combination of the named packages being installed or not,
//! each with several unrelated versions; when the verdict depends on the version, the rule stays a
//! `query` (which renders the real output). Lists of commands (`A & B` in `sh -c`) become one
//! query per command combined as SCA's per-line matching combines them.

use regex::Regex;
use serde_norway::Value;

use super::shell::{sca_argv, script_commands};
use super::{Content, Dialect, Translator, map, negate, one_or_many};
use crate::compare::{CmpMode, Comparison};
use crate::query::{Query, Source, parse, shell_quote};
use crate::rpm::RpmPackage;

/// What became of a command rule.
pub(super) enum Native {
    /// A native check.
    Check(Value),
    /// Not translatable, with the reason.
    Refused(String),
    /// Not a native query: translate it as a command check that runs the program.
    RunCommand,
}

/// The most packages one rule may name for the exact truth table.
const MAX_PROBED: usize = 4;

pub(super) fn command(tr: &Translator<'_>, parts: &[&str], negated: bool) -> Native {
    let content = match parts {
        [_] => None,
        [_, c] => Some(*c),
        _ => return Native::RunCommand,
    };
    let argv = sca_argv(parts[0]);
    let Some(first) = argv.first() else {
        return Native::RunCommand;
    };
    let base = first.rsplit('/').next().unwrap_or(first);
    if base == "apt" && argv.get(1).is_some_and(|a| a == "list") {
        return apt_list(tr, &argv[2..], content, negated);
    }
    let shell = matches!(base, "sh" | "bash") && argv.len() == 3 && argv[1] == "-c";
    let lines: Vec<String> = if shell {
        match script_commands(&argv[2]) {
            Ok(c) => c,
            Err(e) => return Native::Refused(format!("sh -c script: {e}")),
        }
    } else {
        vec![
            argv.iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
        ]
    };
    let mut queries = Vec::new();
    for l in &lines {
        match parse(l) {
            Ok(q) => queries.push(q),
            Err(e) if shell => return Native::Refused(format!("sh -c script: {e}")),
            Err(_) => return Native::RunCommand,
        }
    }
    if !shell {
        // Without a shell, SCA passes quotes and globs to the program as they are.
        // A `dpkg-query -W` format is printed as written: its quotes are literal text of the
        // output, which the renderer reproduces.
        let literal_format = |a: &str| {
            matches!(queries.as_slice(), [q] if matches!(q.source, Source::DpkgShow { .. }))
                && (a.starts_with("-f=") || a.starts_with("--showformat="))
        };
        if let Some(a) = argv[1..]
            .iter()
            .find(|a| a.contains('\'') && !literal_format(a))
        {
            return Native::Refused(format!(
                "argument {a} keeps its single quotes: SCA runs commands without a shell, so \
                 the rule cannot match as written"
            ));
        }
        if let Some(a) = argv[1..]
            .iter()
            .find(|a| a.starts_with('/') && a.contains(['*', '?', '[']))
        {
            return Native::Refused(format!(
                "argument {a} is a glob that SCA passes unexpanded (no shell): the program is \
                 given a file of that literal name"
            ));
        }
    }
    let content = match content.map(|c| tr.content(c, true)).transpose() {
        Ok(c) => c,
        Err(e) => return Native::Refused(e),
    };
    if let ([q], Some(c)) = (queries.as_slice(), &content)
        && let Some(check) = packages(q, c, negated)
    {
        return Native::Check(check);
    }
    match combine(tr.dialect, &queries, content.as_ref()) {
        Ok(check) => Native::Check(negate(check, negated)),
        Err(e) => Native::Refused(e),
    }
}

/// The `query` checks for the commands of a rule, combined as SCA matches their joint output.
fn combine(
    dialect: Dialect,
    queries: &[Query],
    content: Option<&Content>,
) -> Result<Value, String> {
    let one = |q: &Query, fields: Vec<(&str, Value)>| {
        let mut e = vec![
            ("kind", Value::from("query")),
            ("query", q.to_string().into()),
        ];
        e.extend(fields);
        map(e)
    };
    let nonempty = |q: &Query| one(q, vec![("output", "[^\\n]".into())]);
    match content {
        None => Ok(all_of(queries.iter().map(|q| one(q, Vec::new())).collect())),
        Some(Content::Lines { .. }) => {
            let fields = content.map(lines_fields).unwrap_or_default();
            Ok(any_of(
                queries.iter().map(|q| one(q, fields.clone())).collect(),
            ))
        }
        Some(Content::NoLine(re)) => {
            let mut checks: Vec<Value> = queries
                .iter()
                .map(|q| one(q, vec![("no_output", re.clone().into())]))
                .collect();
            // 5.x never matches empty output.
            if dialect == Dialect::Pcre2 {
                checks.push(any_of(queries.iter().map(nonempty).collect()));
            }
            Ok(all_of(checks))
        }
        Some(Content::Whole(re)) => match queries {
            [q] => Ok(one(q, vec![("output", re.clone().into())])),
            _ => Err("the whole output of several commands is compared with one literal".into()),
        },
    }
}

fn any_of(mut v: Vec<Value>) -> Value {
    if v.len() == 1 {
        return v.remove(0);
    }
    map(vec![("kind", "any".into()), ("checks", Value::Sequence(v))])
}

fn all_of(mut v: Vec<Value>) -> Value {
    if v.len() == 1 {
        return v.remove(0);
    }
    map(vec![("kind", "all".into()), ("checks", Value::Sequence(v))])
}

/// `line`, `line_unless`, `value` and `compare` of a per-line content expression.
pub(super) fn lines_fields(c: &Content) -> Vec<(&'static str, Value)> {
    let Content::Lines {
        all,
        unless,
        value,
        compare,
    } = c
    else {
        return Vec::new();
    };
    let mut e = Vec::new();
    if !all.is_empty() {
        e.push(("line", one_or_many(all)));
    }
    if !unless.is_empty() {
        e.push(("line_unless", one_or_many(unless)));
    }
    if let Some(v) = value {
        e.push(("value", v.clone().into()));
        e.push(("occurrence", "any".into()));
    }
    if !compare.is_empty() {
        let items = compare
            .iter()
            .map(|(p, v)| {
                map(vec![
                    ("pattern", p.clone().into()),
                    ("value", v.clone().into()),
                ])
            })
            .collect();
        e.push(("compare", Value::Sequence(items)));
    }
    e
}

/// Whether SCA's pattern holds on `text` (per line for term lists).
pub(super) fn holds(c: &Content, text: &str) -> bool {
    let matches = |p: &str, s: &str| Regex::new(p).is_ok_and(|r| r.is_match(s));
    let capture = |p: &str, s: &str| -> Option<String> {
        let r = Regex::new(p).ok()?;
        let c = r.captures(s)?;
        Some(c.get(1).or_else(|| c.get(0))?.as_str().to_string())
    };
    let cmp_holds = |cmp: &str, v: &str| {
        Comparison::parse(cmp)
            .ok()
            .and_then(|c| {
                let rhs = c.operand.to_string();
                c.holds(v, &rhs, CmpMode::Auto).ok()
            })
            .unwrap_or(false)
    };
    match c {
        Content::Lines {
            all,
            unless,
            value,
            compare,
        } => text.lines().any(|l| {
            all.iter().all(|p| matches(p, l))
                && !unless.iter().any(|p| matches(p, l))
                && value.as_ref().is_none_or(|v| {
                    all.first()
                        .and_then(|p| capture(p, l))
                        .is_some_and(|x| cmp_holds(v, &x))
                })
                && compare
                    .iter()
                    .all(|(p, v)| capture(p, l).is_some_and(|x| cmp_holds(v, &x)))
        }),
        Content::NoLine(re) => {
            !text.trim_matches('\n').is_empty() && !text.lines().any(|l| matches(re, l))
        }
        Content::Whole(re) => matches(re, text),
    }
}

/// Versions a package is probed with: unrelated epochs, versions, releases and architectures.
const PROBES: [(Option<u32>, &str, &str, &str); 3] = [
    (None, "1.0", "1.el9", "x86_64"),
    (Some(2), "10.4.7", "3.el8_9.2", "noarch"),
    (None, "0.9.8p1~rc1", "0.1.fc40", "i686"),
];

/// `apt list NAME...` becomes package conditions when its pattern depends only on which of the
/// named packages are installed. apt's output also depends on the repositories' indexes, which
/// Vigil does not read, so there is no `query` to fall back on: anything else is refused.
fn apt_list(tr: &Translator<'_>, names: &[String], content: Option<&str>, negated: bool) -> Native {
    let refuse = |why: &str| Native::Refused(format!("apt list: {why}"));
    if names.is_empty()
        || names
            .iter()
            .any(|n| n.starts_with('-') || n.contains(['*', '?', '[', '/', '=', '\'']))
    {
        return refuse("only plain package names are translated (no options or patterns)");
    }
    let Some(content) = content else {
        return refuse("without a pattern the rule only says apt ran");
    };
    let c = match tr.content(content, true) {
        Ok(c) => c,
        Err(e) => return Native::Refused(e),
    };
    // What apt prints: an installed package with `[installed]`; one that is not installed as an
    // available candidate, or not at all when no index has it.
    let text = |installed: &[RpmPackage]| -> Vec<String> {
        let mut absent = String::from("Listing...\n");
        let mut available = absent.clone();
        for n in names {
            match installed.iter().find(|p| &p.name == n) {
                Some(p) => {
                    let line = format!(
                        "{n}/stable,now {} {} [installed]\n",
                        p.evr(),
                        p.arch.as_deref().unwrap_or("all")
                    );
                    absent.push_str(&line);
                    available.push_str(&line);
                }
                None => available.push_str(&format!("{n}/stable 1.0-1 amd64\n")),
            }
        }
        vec![absent, available]
    };
    match truth(names, &text, &c, negated) {
        Some(check) => Native::Check(check),
        None => refuse(
            "the pattern does not depend only on which packages are installed (apt's output also \
             comes from repository indexes, which are not read)",
        ),
    }
}

/// `package` checks equivalent to an `rpm -q`/`dpkg -s` rule, when the verdict depends only on
/// which of the named packages are installed.
fn packages(q: &Query, c: &Content, negated: bool) -> Option<Value> {
    if !q.filters.is_empty() {
        return None;
    }
    let (names, rpm) = match &q.source {
        Source::RpmQuery(n) => (n, true),
        Source::DpkgStatus(n) => (n, false),
        _ => return None,
    };
    let text = |installed: &[RpmPackage]| {
        vec![if rpm {
            crate::eval::rpm_query_text(names, installed)
        } else {
            crate::eval::dpkg_status_text(names, &|n| {
                installed.iter().find(|p| p.name == n).map(RpmPackage::evr)
            })
        }]
    };
    truth(names, &text, c, negated)
}

/// The truth table of SCA's verdict over "package i is installed", probing each state with
/// several versions and every output variant `text` gives; `None` when the verdict depends on
/// anything else.
fn truth(
    names: &[String],
    text: &dyn Fn(&[RpmPackage]) -> Vec<String>,
    c: &Content,
    negated: bool,
) -> Option<Value> {
    if names.len() > MAX_PROBED
        || names
            .iter()
            .any(|n| names.iter().filter(|m| *m == n).count() > 1)
        || mentions_version(c, names)
    {
        return None;
    }
    let mut table = Vec::new();
    for set in 0u32..(1 << names.len()) {
        let mut seen = None;
        for (epoch, version, release, arch) in PROBES {
            let installed: Vec<RpmPackage> = names
                .iter()
                .enumerate()
                .filter(|(i, _)| set & (1 << i) != 0)
                .map(|(_, n)| RpmPackage {
                    name: n.clone(),
                    epoch,
                    version: version.into(),
                    release: release.into(),
                    arch: Some(arch.into()),
                    install_time: None,
                })
                .collect();
            for out in text(&installed) {
                let v = holds(c, &out) != negated;
                if seen.is_some_and(|s| s != v) {
                    return None;
                }
                seen = Some(v);
            }
        }
        table.push(seen?);
    }
    // A verdict that never changes says nothing about packages (or depends on a version the
    // probes missed): the rendered query is exact in every case.
    if table.iter().all(|t| *t) || table.iter().all(|t| !*t) {
        return None;
    }
    Some(truth_table(names, &table))
}

/// Whether a pattern names a version: a digit left once the package names are taken out.
fn mentions_version(c: &Content, names: &[String]) -> bool {
    let patterns: Vec<&String> = match c {
        Content::Lines {
            all,
            unless,
            compare,
            ..
        } => all
            .iter()
            .chain(unless)
            .chain(compare.iter().map(|(p, _)| p))
            .collect(),
        Content::NoLine(p) | Content::Whole(p) => vec![p],
    };
    patterns.iter().any(|p| {
        let mut rest = p.to_string();
        for n in names {
            rest = rest.replace(&regex::escape(n), "").replace(n.as_str(), "");
        }
        rest.chars().any(|c| c.is_ascii_digit())
    })
}

/// A condition over "package i is installed" with the given truth table (bit i of the row index).
fn truth_table(names: &[String], table: &[bool]) -> Value {
    let pkg = |n: &String, installed: bool| {
        map(vec![
            ("kind", "package".into()),
            ("name", n.clone().into()),
            ("installed", installed.into()),
        ])
    };
    let rows: Vec<Value> = table
        .iter()
        .enumerate()
        .filter(|(_, t)| **t)
        .map(|(set, _)| {
            all_of(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| pkg(n, set & (1 << i) != 0))
                    .collect(),
            )
        })
        .collect();
    any_of(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr() -> Translator<'static> {
        static ALLOWED: std::sync::LazyLock<crate::command::AllowList> =
            std::sync::LazyLock::new(crate::command::AllowList::default);
        Translator {
            dialect: Dialect::Pcre2,
            vars: &[],
            allowed: &ALLOWED,
        }
    }

    fn yaml(v: &Native) -> String {
        match v {
            Native::Check(v) => serde_norway::to_string(v).unwrap_or_default(),
            Native::Refused(e) => format!("refused: {e}"),
            Native::RunCommand => "command".into(),
        }
    }

    #[test]
    fn rpm_queries_become_package_conditions() {
        let t = tr();
        let c = |s: &str, neg: bool| yaml(&command(&t, &s.split(" -> ").collect::<Vec<_>>(), neg));
        assert_eq!(
            c("rpm -q avahi -> r:^package avahi is not installed", false),
            "kind: package\nname: avahi\ninstalled: false\n"
        );
        assert_eq!(
            c("rpm -q aide -> r:aide-", false),
            "kind: package\nname: aide\ninstalled: true\n"
        );
        assert_eq!(
            c("rpm -q aide -> r:^aide", true),
            "kind: package\nname: aide\ninstalled: false\n"
        );
        // Matches in both states: the rendered output decides, as in SCA.
        assert!(c("rpm -q aide -> r:aide", false).starts_with("kind: query\n"));
        assert!(
            c("rpm -q aide -> r:aide-0\\.16|is not installed", false).starts_with("kind: query\n")
        );
        // A version in the pattern: the real output is rendered instead.
        assert!(c("rpm -q openssh -> r:openssh-8\\.7", false).starts_with("kind: query\n"));
        let two = c(
            "rpm -q firewalld iptables -> r:^firewalld-|^iptables-",
            false,
        );
        assert!(two.starts_with("kind: any\n"), "{two}");
        assert_eq!(
            two.matches("kind: all").count(),
            3,
            "three of four states pass: {two}"
        );
        assert_eq!(
            c("dpkg -s auditd -> r:install ok installed", false),
            "kind: package\nname: auditd\ninstalled: true\n"
        );
    }

    #[test]
    fn apt_list_becomes_a_package_condition_or_is_refused() {
        let t = tr();
        let c = |s: &str, neg: bool| yaml(&command(&t, &s.split(" -> ").collect::<Vec<_>>(), neg));
        assert_eq!(
            c("apt list iptables -> r:installed", false),
            "kind: package\nname: iptables\ninstalled: true\n"
        );
        assert_eq!(
            c("apt list iptables -> r:installed", true),
            "kind: package\nname: iptables\ninstalled: false\n"
        );
        // Matches an available candidate as well: the verdict depends on repository indexes.
        assert!(c("apt list iptables -> r:iptables", false).starts_with("refused: apt list"));
        assert!(c("apt list ipt* -> r:installed", false).starts_with("refused: apt list"));
        assert!(c("apt list --upgradable -> r:installed", false).starts_with("refused: apt list"));
    }

    #[test]
    fn commands_and_scripts_become_queries() {
        let t = tr();
        let c = |s: &str| yaml(&command(&t, &s.split(" -> ").collect::<Vec<_>>(), false));
        assert_eq!(
            c("sysctl net.ipv4.ip_forward -> r:=\\s*0$"),
            "kind: query\nquery: sysctl net.ipv4.ip_forward\nline: (?i)=\\s*0$\n"
        );
        let list = c(
            "sh -c \"systemctl is-enabled cups.service & systemctl is-active cups.service\" -> r:^active$|^enabled$",
        );
        assert!(list.starts_with("kind: any\n"), "{list}");
        assert!(
            list.contains("query: systemctl is-active cups.service"),
            "{list}"
        );
        let lone = c("sh -c \"cat /etc/bashrc\" -> !r:^TMOUT");
        assert!(
            lone.contains("no_output") && lone.contains("output: '[^\\n]'"),
            "{lone}"
        );
        assert!(
            c("find /etc -name '*.conf'")
                .starts_with("refused: argument '*.conf' keeps its single quotes")
        );
        assert!(
            c("cat /etc/a /etc/b.d/*.conf -> r:x")
                .starts_with("refused: argument /etc/b.d/*.conf is a glob")
        );
        assert!(c("sh -c \"a && b\" -> r:x").contains("`&&`"));
        assert!(c("sshd -T -C user=root -> r:x").starts_with("kind: query\n"));
        assert!(c("nft list ruleset -> r:x").starts_with("kind: query\nquery: nft list ruleset\n"));
        assert_eq!(c("iptables -S -> r:x"), "command", "not a query: run it");
    }
}
