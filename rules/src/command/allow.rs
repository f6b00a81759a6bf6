//! The command allow-list: which programs a `command` check may run, with which arguments, as whom.
//!
//! An entry is one line: options, the absolute program path, then a pattern for the arguments.
//!
//! ```text
//! @root /usr/bin/systemctl is-enabled|is-active|is-failed <unit>...
//! /usr/bin/stat [-L|--dereference] [-c|--format <text>] <path>...
//! ```
//!
//! * `a|b|c`: one argument equal to one of the words;
//! * `<unit>`, `<name>`, `<path>`, `<text>`: one argument of that class; a word may start with a
//!   literal and end in a class (`--property=<name>`);
//! * `...` after a word: one or more such arguments;
//! * `[ ... ]`: the words inside, or nothing; `[ ... ]...`: any number of times;
//! * `@root`: run as uid 0 (still without capabilities beyond reading); without it the command
//!   runs as an unprivileged uid.
//!
//! Arguments must match the pattern in order and in full. No class accepts an argument starting
//! with `-`, so an option can never be smuggled in where a name or path is expected (GNU getopt
//! would otherwise take `--now` given as a "unit" for an option).

use std::fmt;

/// Commands `command` checks may run on the live host unless the caller sets its own list.
///
/// Only read-only verbs and options, for programs packs and imported Wazuh SCA policies use.
/// Adding a program is one line here (docs/rules-format.md explains the syntax). Left out on
/// purpose: firewall and audit listings (`nft list`, `iptables -L`, `ufw status`, `auditctl -l`),
/// because reading them needs `CAP_NET_ADMIN` or `CAP_AUDIT_CONTROL`, which also change them, and
/// command checks never hold more than `CAP_DAC_READ_SEARCH`; packs read the rule files instead.
pub const DEFAULT_ALLOWED_COMMANDS: &[&str] = &[
    // Service state. uid 0: without D-Bus, systemctl reaches PID 1 only as root.
    "@root /usr/bin/systemctl is-enabled|is-active|is-failed <unit>...",
    "@root /usr/bin/systemctl show [--property=<name>]... [--value] <unit>...",
    "@root /usr/bin/systemctl get-default",
    "@root /bin/systemctl is-enabled|is-active|is-failed <unit>...",
    "@root /bin/systemctl show [--property=<name>]... [--value] <unit>...",
    "@root /bin/systemctl get-default",
    // sshd's effective configuration: test mode parses and prints, it never listens.
    "/usr/sbin/sshd -T [-f <path>] [-C <text>]...",
    // Packages.
    "/usr/bin/dpkg-query -W|--show [-f <text>] [-f<text>|--showformat=<text>] <text>...",
    "/usr/bin/dpkg-query -l|--list|-s|--status <text>...",
    // File attributes and mounts.
    "/usr/bin/stat [-L|--dereference] [-c|-Lc|--format|--printf <text>] [--format=<text>|--printf=<text>] <path>...",
    "/usr/bin/findmnt [-n|-k|-l|-r|-f|-s|-kn|-nk|--noheadings|--kernel|--list|--raw|--first-only|--fstab]... [-o|--output|-O|--options|-t|--types <text>]... [-T|--target|-M|--mountpoint] [<path>]",
    // Time synchronisation state (D-Bus properties anyone may read).
    "/usr/bin/timedatectl [status|show|show-timesync|timesync-status]",
    // AppArmor: the kernel shows the loaded policy to uid 0 only.
    "@root /usr/sbin/aa-status [--enabled|--json|--pretty-json|--profiled|--enforced|--complaining|--verbose]",
    "@root /usr/sbin/apparmor_status [--enabled|--json|--pretty-json|--profiled|--enforced|--complaining|--verbose]",
];

/// Most arguments a command may have, and the longest argument.
const MAX_ARGS: usize = 64;
const MAX_ARG_LEN: usize = 4096;

/// Whom a command runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAs {
    /// An unprivileged uid that owns nothing (`nobody`, 65534): it can neither write the system's
    /// files nor ask root-only services to change anything.
    Nobody,
    /// uid 0, for tools that insist on it; still without capabilities beyond reading.
    Root,
}

/// A parsed allow-list.
#[derive(Debug, Clone)]
pub struct AllowList {
    entries: Vec<Entry>,
}

/// One allowed program with its argument pattern.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The line it was parsed from.
    line: String,
    /// Absolute path of the program.
    program: String,
    run_as: RunAs,
    args: Vec<Item>,
}

#[derive(Debug, Clone)]
enum Item {
    /// One argument matching one of the alternatives; `repeat`: one or more.
    Word { alts: Vec<Alt>, repeat: bool },
    /// The items, or nothing; `repeat`: any number of times.
    Group { items: Vec<Item>, repeat: bool },
}

#[derive(Debug, Clone)]
struct Alt {
    literal: String,
    class: Option<Class>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Unit,
    Name,
    Path,
    Text,
}

impl AllowList {
    /// Parses allow-list lines (syntax in the module documentation).
    ///
    /// # Errors
    /// The first bad line, with the reason.
    pub fn parse(lines: &[&str]) -> Result<AllowList, String> {
        let entries = lines
            .iter()
            .map(|l| Entry::parse(l).map_err(|e| format!("allow-list entry {l:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(AllowList { entries })
    }

    /// The entry that allows `argv`.
    ///
    /// # Errors
    /// Why not: the program is not listed, or its arguments match none of its patterns (the
    /// message shows the allowed forms).
    pub fn permit(&self, argv: &[String]) -> Result<&Entry, String> {
        let Some((program, args)) = argv.split_first() else {
            return Err("empty command".into());
        };
        let forms: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.program == *program)
            .collect();
        if forms.is_empty() {
            return Err(format!("{program} is not on the command allow-list"));
        }
        if args.len() > MAX_ARGS || args.iter().any(|a| a.len() > MAX_ARG_LEN) {
            return Err(format!(
                "{program}: more than {MAX_ARGS} arguments or an argument over {MAX_ARG_LEN} bytes"
            ));
        }
        forms
            .iter()
            .find(|e| seq(&e.args, args, &mut <[String]>::is_empty))
            .copied()
            .ok_or_else(|| {
                let allowed: Vec<&str> = forms.iter().map(|e| e.line.as_str()).collect();
                format!(
                    "the command allow-list does not allow these arguments; it allows {}",
                    allowed.join(" ; ")
                )
            })
    }

    /// Whether `argv` is allowed.
    pub fn allows(&self, argv: &[String]) -> bool {
        self.permit(argv).is_ok()
    }
}

impl Default for AllowList {
    /// [`DEFAULT_ALLOWED_COMMANDS`].
    fn default() -> AllowList {
        // The default lines are a constant; `default_list_parses` in the tests keeps them valid,
        // and an empty list (nothing runs) is the safe answer should that ever fail.
        AllowList::parse(DEFAULT_ALLOWED_COMMANDS).unwrap_or(AllowList {
            entries: Vec::new(),
        })
    }
}

impl Entry {
    /// Absolute path of the program.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Whom the command runs as.
    pub fn run_as(&self) -> RunAs {
        self.run_as
    }

    fn parse(line: &str) -> Result<Entry, String> {
        let mut words = line.split_whitespace().peekable();
        let mut run_as = RunAs::Nobody;
        while let Some(w) = words.next_if(|w| w.starts_with('@')) {
            match w {
                "@root" => run_as = RunAs::Root,
                other => return Err(format!("unknown option {other}")),
            }
        }
        let program = words.next().ok_or("no program")?.to_string();
        if !program.starts_with('/') {
            return Err(format!("program {program:?} is not an absolute path"));
        }
        let tokens = tokenize(words)?;
        let mut pos = 0;
        let args = items(&tokens, &mut pos)?;
        if pos != tokens.len() {
            return Err("`]` without `[`".into());
        }
        Ok(Entry {
            line: line.split_whitespace().collect::<Vec<_>>().join(" "),
            program,
            run_as,
            args,
        })
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Open,
    Close { repeat: bool },
    Word(&'a str),
}

/// Splits words into tokens, peeling `[` and `]`/`]...` glued to them.
fn tokenize<'a>(words: impl Iterator<Item = &'a str>) -> Result<Vec<Token<'a>>, String> {
    let mut out = Vec::new();
    for mut w in words {
        while let Some(rest) = w.strip_prefix('[') {
            out.push(Token::Open);
            w = rest;
        }
        let mut closes = Vec::new();
        loop {
            if let Some(rest) = w.strip_suffix("]...") {
                closes.push(Token::Close { repeat: true });
                w = rest;
            } else if let Some(rest) = w.strip_suffix(']') {
                closes.push(Token::Close { repeat: false });
                w = rest;
            } else {
                break;
            }
        }
        if !w.is_empty() {
            out.push(Token::Word(w));
        }
        out.extend(closes.into_iter().rev());
    }
    Ok(out)
}

/// Items up to the end or a `]` (left for the caller).
fn items(tokens: &[Token<'_>], pos: &mut usize) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    while let Some(t) = tokens.get(*pos) {
        match t {
            Token::Close { .. } => break,
            Token::Open => {
                *pos += 1;
                let inner = items(tokens, pos)?;
                let Some(Token::Close { repeat }) = tokens.get(*pos) else {
                    return Err("`[` without `]`".into());
                };
                if inner.is_empty() {
                    return Err("empty `[]`".into());
                }
                out.push(Item::Group {
                    items: inner,
                    repeat: *repeat,
                });
            }
            Token::Word(w) => out.push(word(w)?),
        }
        *pos += 1;
    }
    Ok(out)
}

fn word(w: &str) -> Result<Item, String> {
    let (w, repeat) = match w.strip_suffix("...") {
        Some(rest) => (rest, true),
        None => (w, false),
    };
    let alts = w.split('|').map(alt).collect::<Result<Vec<_>, String>>()?;
    Ok(Item::Word { alts, repeat })
}

fn alt(a: &str) -> Result<Alt, String> {
    let Some(open) = a.find('<') else {
        if a.is_empty() || a.contains('>') {
            return Err(format!("bad word {a:?}"));
        }
        return Ok(Alt {
            literal: a.to_string(),
            class: None,
        });
    };
    let class = match &a[open..] {
        "<unit>" => Class::Unit,
        "<name>" => Class::Name,
        "<path>" => Class::Path,
        "<text>" => Class::Text,
        other => return Err(format!("unknown argument class {other:?}")),
    };
    Ok(Alt {
        literal: a[..open].to_string(),
        class: Some(class),
    })
}

/// Matches `items` against a prefix of `args` and calls `rest` with what is left; true as soon as
/// some way of matching makes `rest` true (backtracking over optional and repeated items).
fn seq(items: &[Item], args: &[String], rest: &mut dyn FnMut(&[String]) -> bool) -> bool {
    let Some((first, others)) = items.split_first() else {
        return rest(args);
    };
    match first {
        Item::Word { alts, repeat } => {
            let Some((arg, tail)) = args.split_first() else {
                return false;
            };
            if !alts.iter().any(|a| a.matches(arg)) {
                return false;
            }
            (*repeat && seq(items, tail, rest)) || seq(others, tail, rest)
        }
        Item::Group {
            items: inner,
            repeat,
        } => {
            if seq(others, args, rest) {
                return true;
            }
            seq(inner, args, &mut |after: &[String]| {
                // Each round must consume something, so a repeated group always ends.
                after.len() < args.len()
                    && if *repeat {
                        seq(items, after, rest)
                    } else {
                        seq(others, after, rest)
                    }
            })
        }
    }
}

impl Alt {
    fn matches(&self, arg: &str) -> bool {
        match self.class {
            None => arg == self.literal,
            Some(c) => arg
                .strip_prefix(self.literal.as_str())
                .is_some_and(|v| c.accepts(v)),
        }
    }
}

impl Class {
    fn accepts(self, v: &str) -> bool {
        let Some(first) = v.chars().next() else {
            return false;
        };
        match self {
            // systemd unit names: letters, digits and `:-_.\@`; never an option.
            Class::Unit => {
                first != '-'
                    && v.len() <= 256
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
            }
            // Package, property and column names.
            Class::Name => {
                first != '-'
                    && v.len() <= 256
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._+:@,-".contains(c))
            }
            Class::Path => first == '/',
            Class::Text => first != '-',
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn default_list_parses() {
        let l = AllowList::parse(DEFAULT_ALLOWED_COMMANDS).expect("default list");
        assert_eq!(l.entries.len(), DEFAULT_ALLOWED_COMMANDS.len());
        assert!(!AllowList::default().entries.is_empty());
    }

    #[test]
    fn read_only_forms_are_allowed() {
        let l = AllowList::default();
        for ok in [
            "/usr/bin/systemctl is-enabled ssh.service",
            "/usr/bin/systemctl is-active rsh.socket auditd",
            "/usr/bin/systemctl show --property=ActiveState --value sshd.service",
            "/usr/bin/systemctl show sshd",
            "/usr/bin/systemctl get-default",
            "/bin/systemctl is-enabled getty@tty1.service",
            "/usr/sbin/sshd -T",
            "/usr/sbin/sshd -T -C user=root -C host=h",
            "/usr/bin/dpkg-query -W aide",
            "/usr/bin/dpkg-query -W -f ${Status} aide aide-common",
            "/usr/bin/dpkg-query --show --showformat=${Version} openssh-server",
            "/usr/bin/dpkg-query -l linux-image*",
            "/usr/bin/stat -Lc %a_%U /etc/passwd /etc/shadow",
            "/usr/bin/stat --format=%a /etc/passwd",
            "/usr/bin/stat /",
            "/usr/bin/findmnt -kn /tmp",
            "/usr/bin/findmnt --kernel /dev/shm",
            "/usr/bin/findmnt -n -o OPTIONS -T /tmp",
            "/usr/bin/findmnt",
            "/usr/bin/timedatectl",
            "/usr/bin/timedatectl show",
            "/usr/sbin/aa-status --enabled",
        ] {
            let e = l.permit(&argv(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(e.program(), argv(ok)[0]);
        }
        let e = l
            .permit(&argv("/usr/bin/systemctl is-active x"))
            .expect("ok");
        assert_eq!(e.run_as(), RunAs::Root);
        let e = l.permit(&argv("/usr/bin/stat /")).expect("ok");
        assert_eq!(e.run_as(), RunAs::Nobody);
    }

    #[test]
    fn state_changing_forms_are_refused() {
        let l = AllowList::default();
        for bad in [
            "/usr/bin/systemctl stop ssh",
            "/usr/bin/systemctl --root=/tmp/x mask foo.service",
            "/usr/bin/systemctl is-active --now ssh",
            "/usr/bin/systemctl is-active ssh --now",
            "/usr/bin/systemctl is-enabled",
            "/usr/bin/systemctl show -- -x",
            "/usr/bin/timedatectl set-time 2020-01-01",
            "/usr/bin/timedatectl set-ntp false",
            "/usr/sbin/sshd",
            "/usr/sbin/sshd -D",
            "/usr/sbin/sshd -T -E /etc/passwd",
            "/usr/bin/dpkg-query -W --admindir=/tmp aide",
            "/usr/bin/stat -c %a",
            "/usr/bin/stat relative/path",
            "/usr/bin/findmnt --poll /",
            "/usr/sbin/nft list ruleset",
            "/usr/sbin/nft -f /tmp/rules",
            "/usr/sbin/iptables -F",
            "/usr/bin/dpkg -i x.deb",
            "/bin/sh -c reboot",
        ] {
            let e = l.permit(&argv(bad)).map(|e| e.to_string()).expect_err(bad);
            assert!(e.contains("allow-list"), "{bad}: {e}");
        }
        let e = l
            .permit(&argv("/usr/bin/systemctl stop ssh"))
            .expect_err("stop");
        assert!(
            e.contains("is-enabled|is-active"),
            "shows what is allowed: {e}"
        );
        assert!(l.permit(&[]).is_err());
        let long = vec!["/usr/bin/stat".to_string(); 100];
        assert!(l.permit(&long).is_err(), "too many arguments");
    }

    #[test]
    fn syntax() {
        let l = AllowList::parse(&[
            "/p a|b [-x <name>]... [-y] <path>...",
            "@root /q --k=<text> [c [d]]",
        ])
        .expect("parses");
        for ok in [
            "/p a /x",
            "/p b -x n1 -x n2 -y /x /y",
            "/p a -y /x",
            "/q --k=v",
            "/q --k=v c",
            "/q --k=v c d",
        ] {
            assert!(l.allows(&argv(ok)), "{ok}");
        }
        for bad in [
            "/p",
            "/p a",
            "/p c /x",
            "/p a -y -x n /x",
            "/p a -x -n /x",
            "/p a /x -y",
            "/q --k=-v",
            "/q --k=",
            "/q --k=v d",
            "/r",
        ] {
            assert!(!l.allows(&argv(bad)), "{bad}");
        }
        for bad in [
            "relative a",
            "@sudo /p",
            "/p [a",
            "/p a]",
            "/p []",
            "/p <file>",
            "/p a||b",
            "",
        ] {
            assert!(AllowList::parse(&[bad]).is_err(), "{bad:?} must not parse");
        }
    }
}
