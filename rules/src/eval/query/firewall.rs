//! `nft list ruleset|tables`, `iptables|ip6tables -L`, `ufw status [verbose]`, from the firewall
//! configuration that is loaded at boot.
//!
//! Like the audit rules, these read *persistent* configuration, not the kernel's tables: the file
//! the distribution's service loads at boot (`nftables.service`: `/etc/nftables.conf` or
//! `/etc/sysconfig/nftables.conf` with its includes; `netfilter-persistent` or
//! `iptables.service`: the saved `iptables-save` file; ufw: `/etc/ufw`), and only when that
//! service is enabled, so a host whose saved rules are never loaded shows the kernel's empty
//! default. Rules added at runtime, and firewalld's own tables, are not seen. The listing keeps the
//! layout policies match on (chain headers with hook and policy on one line, `Chain INPUT (policy
//! DROP)`, ufw's `Default:` line and rule table); packet counters print as 0.

use crate::cache::{Cache, FactError};
use crate::systemd;

/// Files read through `include` at most, and how deep includes nest.
const MAX_INCLUDES: usize = 100;
const MAX_DEPTH: usize = 8;

/// `nft list ruleset` (`tables_only`: `nft list tables`).
pub(super) fn nft(cache: &Cache<'_>, tables_only: bool) -> Result<String, String> {
    if !enabled(cache, "nftables.service") {
        return Ok(String::new());
    }
    let mut text = String::new();
    let mut count = 0;
    for conf in ["/etc/nftables.conf", "/etc/sysconfig/nftables.conf"] {
        if let Some(t) = read(cache, conf)? {
            include(cache, &t, 0, &mut count, &mut text)?;
        }
    }
    let tree = nft_tree(&text);
    Ok(if tables_only {
        nft_tables(&tree)
    } else {
        nft_ruleset(&tree)
    })
}

/// `iptables -L [CHAIN] [-v] [-n]` (`v6`: `ip6tables`).
pub(super) fn iptables(
    cache: &Cache<'_>,
    v6: bool,
    chain: Option<&str>,
    verbose: bool,
    numeric: bool,
) -> Result<String, String> {
    let sources: [(&str, &str); 2] = if v6 {
        [
            ("/etc/iptables/rules.v6", "netfilter-persistent.service"),
            ("/etc/sysconfig/ip6tables", "ip6tables.service"),
        ]
    } else {
        [
            ("/etc/iptables/rules.v4", "netfilter-persistent.service"),
            ("/etc/sysconfig/iptables", "iptables.service"),
        ]
    };
    let mut saved = String::new();
    for (file, unit) in sources {
        if enabled(cache, unit)
            && let Some(t) = read(cache, file)?
        {
            saved = t;
            break;
        }
    }
    let list = Listing {
        v6,
        verbose,
        numeric,
    };
    Ok(list.render(&parse_saved(&saved), chain))
}

/// `ufw status [verbose]`.
pub(super) fn ufw(cache: &Cache<'_>, verbose: bool) -> Result<String, String> {
    let conf = read(cache, "/etc/ufw/ufw.conf")?.unwrap_or_default();
    let value = |text: &str, key: &str| {
        crate::cache::key_values(text)
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
            .last()
    };
    if !value(&conf, "ENABLED").is_some_and(|v| v.eq_ignore_ascii_case("yes")) {
        return Ok("Status: inactive\n".into());
    }
    let mut out = String::from("Status: active\n");
    if verbose {
        let defaults = read(cache, "/etc/default/ufw")?.unwrap_or_default();
        let sysctl = read(cache, "/etc/ufw/sysctl.conf")?.unwrap_or_default();
        let level = value(&conf, "LOGLEVEL").unwrap_or_else(|| "low".into());
        if level.eq_ignore_ascii_case("off") {
            out.push_str("Logging: off\n");
        } else {
            out.push_str(&format!("Logging: on ({level})\n"));
        }
        let policy = |key: &str| match value(&defaults, key).as_deref() {
            Some("ACCEPT") => "allow",
            Some("REJECT") => "reject",
            _ => "deny",
        };
        let routing = value(&sysctl, "net/ipv4/ip_forward").as_deref() == Some("1")
            || value(&sysctl, "net/ipv6/conf/default/forwarding").as_deref() == Some("1");
        let routed = if routing {
            policy("DEFAULT_FORWARD_POLICY")
        } else {
            "disabled"
        };
        out.push_str(&format!(
            "Default: {} (incoming), {} (outgoing), {routed} (routed)\nNew profiles: skip\n",
            policy("DEFAULT_INPUT_POLICY"),
            policy("DEFAULT_OUTPUT_POLICY"),
        ));
    }
    let mut rows = Vec::new();
    for (file, v6) in [
        ("/etc/ufw/user.rules", false),
        ("/etc/ufw/user6.rules", true),
    ] {
        let text = read(cache, file)?.unwrap_or_default();
        rows.extend(text.lines().filter_map(|l| ufw_row(l, v6, verbose)));
    }
    if !rows.is_empty() {
        out.push_str(&format!(
            "\n{:<27}{:<12}{}\n{:<27}{:<12}{}\n",
            "To", "Action", "From", "--", "------", "----"
        ));
        for (to, action, from) in rows {
            let row = format!("{to:<27}{action:<12}{from}");
            out.push_str(row.trim_end());
            out.push('\n');
        }
    }
    Ok(out)
}

fn enabled(cache: &Cache<'_>, unit: &str) -> bool {
    let st = systemd::unit_state(cache, unit);
    st.exists && st.enabled && !st.masked
}

fn read(cache: &Cache<'_>, path: &str) -> Result<Option<String>, String> {
    match cache.text(path) {
        Ok(t) => Ok(Some(t)),
        Err(FactError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.message()),
    }
}

/// Appends `text` to `out` with its `include "…"` lines replaced by the files they name (relative
/// names from `/etc`, globs expanded).
fn include(
    cache: &Cache<'_>,
    text: &str,
    depth: usize,
    count: &mut usize,
    out: &mut String,
) -> Result<(), String> {
    for line in text.lines() {
        let t = line.trim();
        let Some(rest) = t.strip_prefix("include") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let name = rest.trim().trim_end_matches(';').trim().trim_matches('"');
        if depth >= MAX_DEPTH || name.is_empty() || name.split('/').any(|c| c == "..") {
            continue;
        }
        let path = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/etc/{name}")
        };
        let files = cache.expand(&path).map_err(|e| e.message())?;
        for f in files {
            *count += 1;
            if *count > MAX_INCLUDES {
                return Err(format!("more than {MAX_INCLUDES} nftables include files"));
            }
            if let Some(t) = read(cache, &f)? {
                include(cache, &t, depth + 1, count, out)?;
            }
        }
    }
    Ok(())
}

/// A block (`table inet filter { … }`) or a statement.
#[derive(Debug)]
enum Node {
    Stmt(String),
    Block(String, Vec<Node>),
}

/// Parses nftables syntax into blocks and statements (comments dropped; `;` and newlines end
/// statements). Unbalanced braces close at the end of input.
fn nft_tree(text: &str) -> Vec<Node> {
    let mut stack: Vec<(String, Vec<Node>)> = vec![(String::new(), Vec::new())];
    let mut cur = String::new();
    let mut quoted = false;
    let flush = |cur: &mut String, stack: &mut Vec<(String, Vec<Node>)>| {
        let s = cur.split_whitespace().collect::<Vec<_>>().join(" ");
        cur.clear();
        if !s.is_empty()
            && let Some(top) = stack.last_mut()
        {
            top.1.push(Node::Stmt(s));
        }
    };
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            _ if quoted => cur.push(c),
            '#' => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                flush(&mut cur, &mut stack);
            }
            ';' | '\n' => flush(&mut cur, &mut stack),
            '{' => {
                let head = cur.split_whitespace().collect::<Vec<_>>().join(" ");
                cur.clear();
                stack.push((head, Vec::new()));
            }
            '}' => {
                flush(&mut cur, &mut stack);
                close(&mut stack);
            }
            _ => cur.push(c),
        }
    }
    flush(&mut cur, &mut stack);
    while stack.len() > 1 {
        close(&mut stack);
    }
    stack.pop().map(|(_, n)| n).unwrap_or_default()
}

fn close(stack: &mut Vec<(String, Vec<Node>)>) {
    if stack.len() > 1
        && let Some((head, items)) = stack.pop()
        && let Some(top) = stack.last_mut()
    {
        top.1.push(Node::Block(head, items));
    }
}

/// `table [FAMILY] NAME` with the family nft assumes when none is written.
fn table_head(head: &str) -> Option<String> {
    let w: Vec<&str> = head.split_whitespace().collect();
    match w.as_slice() {
        ["table", name] => Some(format!("table ip {name}")),
        ["table", family, name] => Some(format!("table {family} {name}")),
        _ => None,
    }
}

fn nft_tables(tree: &[Node]) -> String {
    tree.iter()
        .filter_map(|n| match n {
            Node::Block(h, _) => table_head(h),
            Node::Stmt(s) => s.strip_prefix("add ").and_then(table_head),
        })
        .map(|t| format!("{t}\n"))
        .collect()
}

fn nft_ruleset(tree: &[Node]) -> String {
    let mut out = String::new();
    for n in tree {
        if let Node::Block(h, items) = n
            && let Some(t) = table_head(h)
        {
            out.push_str(&format!("{t} {{\n"));
            render_block(items, 1, &mut out);
            out.push_str("}\n");
        }
    }
    out
}

/// Statements at `depth`; in a chain, `type … hook …` and `policy …` share one line as nft prints
/// them.
fn render_block(items: &[Node], depth: usize, out: &mut String) {
    let tabs = "\t".repeat(depth);
    let mut header: Vec<&str> = Vec::new();
    for n in items {
        if let Node::Stmt(s) = n
            && (s.starts_with("type ") || s.starts_with("policy "))
        {
            header.push(s);
        }
    }
    if !header.is_empty() {
        out.push_str(&format!("{tabs}{};\n", header.join("; ")));
    }
    for n in items {
        match n {
            Node::Stmt(s) if s.starts_with("type ") || s.starts_with("policy ") => {}
            Node::Stmt(s) => out.push_str(&format!("{tabs}{s}\n")),
            Node::Block(h, inner) => {
                out.push_str(&format!("{tabs}{h} {{\n"));
                render_block(inner, depth + 1, out);
                out.push_str(&format!("{tabs}}}\n"));
            }
        }
    }
}

/// The `filter` table of an `iptables-save` file: chains with their policy (`None` for a user
/// chain) and rules in order.
#[derive(Debug, Default)]
struct Saved {
    chains: Vec<(String, Option<String>)>,
    rules: Vec<(String, Vec<String>)>,
}

fn parse_saved(text: &str) -> Saved {
    let mut s = Saved::default();
    for (chain, policy) in [
        ("INPUT", "ACCEPT"),
        ("FORWARD", "ACCEPT"),
        ("OUTPUT", "ACCEPT"),
    ] {
        s.chains.push((chain.into(), Some(policy.into())));
    }
    let mut in_filter = false;
    for line in text.lines() {
        let l = line.trim();
        if let Some(t) = l.strip_prefix('*') {
            in_filter = t == "filter";
        } else if !in_filter {
        } else if let Some(c) = l.strip_prefix(':') {
            let mut w = c.split_whitespace();
            let (Some(name), Some(policy)) = (w.next(), w.next()) else {
                continue;
            };
            let policy = (policy != "-").then(|| policy.to_string());
            match s.chains.iter_mut().find(|(n, _)| n == name) {
                Some(c) => c.1 = policy,
                None => s.chains.push((name.into(), policy)),
            }
        } else if let Some(r) = l.strip_prefix("-A ") {
            let mut w = r.split_whitespace().map(str::to_string);
            if let Some(chain) = w.next() {
                s.rules.push((chain, w.collect()));
            }
        }
    }
    s
}

struct Listing {
    v6: bool,
    verbose: bool,
    numeric: bool,
}

impl Listing {
    fn render(&self, s: &Saved, only: Option<&str>) -> String {
        let tool = if self.v6 { "ip6tables" } else { "iptables" };
        if let Some(c) = only
            && !s.chains.iter().any(|(n, _)| n == c)
        {
            return format!("{tool}: No chain/target/match by that name.\n");
        }
        let mut blocks = Vec::new();
        for (name, policy) in &s.chains {
            if only.is_some_and(|c| c != name) {
                continue;
            }
            let mut b = match (policy, self.verbose) {
                (Some(p), true) => format!("Chain {name} (policy {p} 0 packets, 0 bytes)\n"),
                (Some(p), false) => format!("Chain {name} (policy {p})\n"),
                (None, _) => {
                    let refs = s
                        .rules
                        .iter()
                        .filter(|(_, a)| a.windows(2).any(|w| w[0] == "-j" && &w[1] == name))
                        .count();
                    format!("Chain {name} ({refs} references)\n")
                }
            };
            b.push_str(&self.row(
                [
                    "target",
                    "prot",
                    "opt",
                    "in",
                    "out",
                    "source",
                    "destination",
                ],
                ["pkts", "bytes"],
            ));
            for (_, args) in s.rules.iter().filter(|(c, _)| c == name) {
                b.push_str(&self.rule(args));
            }
            blocks.push(b);
        }
        blocks.join("\n")
    }

    fn rule(&self, args: &[String]) -> String {
        let any = if self.v6 { "::/0" } else { "0.0.0.0/0" };
        let (mut target, mut prot, mut inif, mut outif) = ("", "all".to_string(), "*", "*");
        let (mut src, mut dst) = (any.to_string(), any.to_string());
        let mut extra = Vec::new();
        let mut neg = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let bang = if neg { "!" } else { "" };
            let mut take = || it.next().map(String::as_str).unwrap_or("");
            match a.as_str() {
                "!" => {
                    neg = true;
                    continue;
                }
                "-j" | "--jump" | "-g" | "--goto" => target = take(),
                "-p" | "--protocol" => prot = format!("{bang}{}", take()),
                "-i" | "--in-interface" => inif = take(),
                "-o" | "--out-interface" => outif = take(),
                "-s" | "--source" => src = format!("{bang}{}", host(take())),
                "-d" | "--destination" => dst = format!("{bang}{}", host(take())),
                "-m" | "--match" => {
                    take();
                }
                other => extra.push(other.trim_start_matches('-').to_string()),
            }
            neg = false;
        }
        let name = |a: &str| {
            if !self.numeric && (a == "0.0.0.0/0" || a == "::/0") {
                "anywhere".to_string()
            } else {
                a.to_string()
            }
        };
        let mut row = self.row(
            [target, &prot, "", inif, outif, &name(&src), &name(&dst)],
            ["0", "0"],
        );
        if !extra.is_empty() {
            row.pop();
            row.push_str(&format!(" {}\n", extra.join(" ")));
        }
        row
    }

    fn row(&self, c: [&str; 7], counters: [&str; 2]) -> String {
        let opt = match (c[2], self.v6) {
            ("opt", _) => "opt",
            (_, true) => "",
            (_, false) => "--",
        };
        let mut s = String::new();
        if self.verbose {
            s.push_str(&format!(
                "{:>5} {:>5} {:<10} {:<4} {:<3} {:<6} {:<7} ",
                counters[0], counters[1], c[0], c[1], opt, c[3], c[4]
            ));
        } else {
            s.push_str(&format!("{:<10} {:<4} {:<3} ", c[0], c[1], opt));
        }
        s.push_str(&format!("{:<20} {}", c[5], c[6]));
        format!("{}\n", s.trim_end())
    }
}

/// `10.0.0.1` → `10.0.0.1/32` as iptables-save leaves it; addresses with a prefix stay.
fn host(a: &str) -> String {
    if a.contains('/') {
        a.to_string()
    } else if a.contains(':') {
        format!("{a}/128")
    } else {
        format!("{a}/32")
    }
}

/// One `### tuple ### ACTION PROTO DPORT DST SPORT SRC DIRECTION` line of ufw's user rules as a
/// `To`, `Action`, `From` row.
fn ufw_row(line: &str, v6: bool, verbose: bool) -> Option<(String, String, String)> {
    let t = line.strip_prefix("### tuple ###")?;
    let w: Vec<&str> = t.split_whitespace().collect();
    let [action, proto, dport, dst, sport, src, dir, ..] = w.as_slice() else {
        return None;
    };
    let (dir, iface) = match dir.split_once('_') {
        Some((d, i)) => (d, Some(i)),
        None => (*dir, None),
    };
    let end = |addr: &str, port: &str, iface: Option<&str>| {
        let any = addr == "0.0.0.0/0" || addr == "::/0";
        let mut s = if any && port == "any" {
            "Anywhere".to_string()
        } else if any {
            String::new()
        } else {
            addr.to_string()
        };
        if port != "any" {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(port);
            if *proto != "any" {
                s.push_str(&format!("/{proto}"));
            }
        }
        if v6 {
            s.push_str(" (v6)");
        }
        if let Some(i) = iface {
            s.push_str(&format!(" on {i}"));
        }
        s
    };
    let to = end(dst, dport, iface.filter(|_| dir == "in"));
    let from = end(src, sport, iface.filter(|_| dir == "out"));
    let mut act = action.to_ascii_uppercase();
    if verbose {
        act.push_str(if dir == "out" { " OUT" } else { " IN" });
    } else if dir == "out" {
        act.push_str(" OUT");
    }
    Some((to, act, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_config_prints_hook_and_policy_on_one_line() {
        let conf = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n\tchain input {\n\t\t\
                    type filter hook input priority 0;\n\t\tpolicy drop;\n\t\tiif \"lo\" accept # lo\n\
                    \t}\n\tchain output { type filter hook output priority 0; policy accept; }\n}\n\
                    table nat {\n}\n";
        let tree = nft_tree(conf);
        assert_eq!(nft_tables(&tree), "table inet filter\ntable ip nat\n");
        assert_eq!(
            nft_ruleset(&tree),
            "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority 0; policy \
             drop;\n\t\tiif \"lo\" accept\n\t}\n\tchain output {\n\t\ttype filter hook output \
             priority 0; policy accept;\n\t}\n}\ntable ip nat {\n}\n"
        );
    }

    #[test]
    fn saved_iptables_list_like_iptables() {
        let saved = parse_saved(
            "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT\nCOMMIT\n*filter\n\
             :INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             -A INPUT -i lo -j ACCEPT\n-A INPUT -s 127.0.0.0/8 -j DROP\n\
             -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        );
        let l = Listing {
            v6: false,
            verbose: true,
            numeric: true,
        };
        let input = l.render(&saved, Some("INPUT"));
        let lines: Vec<&str> = input.lines().collect();
        assert_eq!(lines[0], "Chain INPUT (policy DROP 0 packets, 0 bytes)");
        assert_eq!(
            lines[2],
            "    0     0 ACCEPT     all  --  lo     *       0.0.0.0/0            0.0.0.0/0"
        );
        assert_eq!(
            lines[3],
            "    0     0 DROP       all  --  *      *       127.0.0.0/8          0.0.0.0/0"
        );
        assert!(
            lines[4].ends_with("0.0.0.0/0            0.0.0.0/0 dport 22"),
            "{input}"
        );
        let brief = Listing {
            v6: false,
            verbose: false,
            numeric: false,
        }
        .render(&saved, None);
        assert!(brief.contains("Chain FORWARD (policy DROP)\n"), "{brief}");
        assert!(brief.contains("ACCEPT     all  --  anywhere             anywhere\n"));
        assert!(l.render(&saved, Some("NOPE")).contains("No chain"));
        let empty = l.render(&parse_saved(""), None);
        assert!(empty.starts_with("Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n"));
    }

    #[test]
    fn ufw_tuples_become_rows() {
        let row = |l| ufw_row(l, false, true);
        assert_eq!(
            row("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"),
            Some(("22/tcp".into(), "ALLOW IN".into(), "Anywhere".into()))
        );
        assert_eq!(
            row("### tuple ### deny any any 0.0.0.0/0 any 127.0.0.0/8 in"),
            Some(("Anywhere".into(), "DENY IN".into(), "127.0.0.0/8".into()))
        );
        assert_eq!(
            ufw_row(
                "### tuple ### allow any any ::/0 any ::/0 in_lo",
                true,
                false
            ),
            Some((
                "Anywhere (v6) on lo".into(),
                "ALLOW".into(),
                "Anywhere (v6)".into()
            ))
        );
        assert_eq!(row("-A ufw-user-input -p tcp --dport 22 -j ACCEPT"), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_configs_never_panic(s in "\\PC{0,300}") {
            let t = nft_tree(&s);
            let _ = (nft_ruleset(&t), nft_tables(&t));
            let l = Listing { v6: true, verbose: true, numeric: false };
            let _ = l.render(&parse_saved(&s), None);
            for line in s.lines() {
                let _ = ufw_row(line, false, true);
            }
        }
    }
}
