//! Commands of Windows SCA policies, replaced by the native facts they read.
//!
//! Recognised forms (anything else on Windows is untranslated, with the reason):
//! - `auditpol /get /subcategory:"NAME" -> r:Success and Failure` → `audit_policy`;
//! - PowerShell `secedit /export … Select-String "FIELD"` with `n:FIELD = (\d+) compare …` →
//!   `account_policy` (or `local_user` for `EnableGuestAccount`/`EnableAdminAccount`);
//! - `net accounts -> n:LABEL:\s+(\d+) compare …` → `account_policy`;
//! - `net user -> r:NAMES` → `local_user` names;
//! - `reg query KEY /v NAME -> r:…` → `registry` (the `NAME  REG_x` column prefix removed);
//! - `wmic useraccount …` and `Get-CimInstance … Win32_UserAccount …` on SID `…-501`/`…-500` →
//!   `local_user` by RID;
//! - a few `Get-…` cmdlets (Defender, firewall profiles, SMB server, BitLocker) → `windows` facts.
//!
//! Where the command prints a word instead of a number ("Never", "Unlimited", `-1`), a numeric
//! SCA comparison cannot match; the translation keeps that by excluding the value the word stands
//! for.

use std::sync::LazyLock;

use regex::Regex;
use serde_norway::Value;

use super::{all, reg};
use crate::sca::{Translator, map, negate, numeric, strip_kind};
use crate::windows::audit;

/// First words that mark a command as a Windows one.
const WINDOWS_PROGRAMS: &[&str] = &[
    "auditpol",
    "bcdedit",
    "cmd",
    "gpresult",
    "manage-bde",
    "net",
    "net1",
    "netsh",
    "powershell",
    "pwsh",
    "reg",
    "sc",
    "secedit",
    "systeminfo",
    "whoami",
    "wmic",
];

/// How the agent shows "never" for password age and lockout duration.
const NEVER: i64 = u32::MAX as i64;

/// A Windows command rule in native terms; `None` when the program is not a Windows one (the
/// Linux translation handles it).
pub(in crate::sca) fn command(
    tr: &Translator<'_>,
    parts: &[&str],
    negated: bool,
) -> Option<Result<Value, String>> {
    let line = parts[0].trim();
    let first = line.split_whitespace().next()?;
    let base = first
        .trim_matches('"')
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(first)
        .to_ascii_lowercase();
    let prog = base.strip_suffix(".exe").unwrap_or(&base).to_string();
    let windows = WINDOWS_PROGRAMS.contains(&prog.as_str())
        || first.contains(['\\', '%'])
        || base.ends_with(".exe");
    if !windows {
        return None;
    }
    let content = match parts {
        [_] => None,
        [_, c] => Some(c.trim()),
        _ => return Some(Err("a command rule has at most one `->`".into())),
    };
    let rest = line[first.len()..].trim();
    let out = match prog.as_str() {
        "auditpol" => auditpol(rest, content).map(|c| negate(c, negated)),
        "powershell" | "pwsh" => powershell(rest, content).map(|c| negate(c, negated)),
        "net" | "net1" => net(tr, rest, content, negated),
        "reg" => reg_query(tr, rest, content).map(|c| negate(c, negated)),
        "wmic" => wmic(rest, content).map(|c| negate(c, negated)),
        other => Err(format!(
            "`{other}` has no native equivalent (the agent runs no Windows commands)"
        )),
    };
    Some(out)
}

// ------------------------------------------------------------------------------------ terms

/// The one content term a recognised command allows.
enum Term {
    /// `r:REGEX` (as written).
    Re(String),
    /// `n:REGEX compare OP N`.
    Num { re: String, op: String, n: i64 },
}

fn one_term(content: Option<&str>) -> Result<Term, String> {
    let c =
        content.ok_or("without an expected output the rule only checks that the command runs")?;
    if c.contains(" && ") {
        return Err("several terms on this command's output are not supported".into());
    }
    if let Some(re) = strip_kind(c, "r:") {
        return Ok(Term::Re(re.to_string()));
    }
    if let Some(n) = strip_kind(c, "n:") {
        let (re, op, n) = numeric(n)?;
        return Ok(Term::Num { re, op, n });
    }
    Err(format!(
        "output pattern {c:?} is not `r:` or `n:` (negated and literal patterns are not supported here)"
    ))
}

/// A regex reduced to comparable text: lower case, anchors dropped, runs of whitespace classes as
/// one space, backslash escapes of punctuation removed.
fn squash(re: &str) -> String {
    static WS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?:\\s|\\t| |\t)+[*+]?").expect("static regex"));
    static PUNCT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\\([^A-Za-z0-9])").expect("static regex"));
    let s = re.trim().trim_start_matches('^').trim_end_matches('$');
    let s = WS.replace_all(s, " ");
    let s = PUNCT.replace_all(&s, "$1");
    s.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// Whether `x OP n` holds.
fn holds(op: &str, n: i64, x: i64) -> bool {
    match op {
        "<" => x < n,
        "<=" => x <= n,
        "==" => x == n,
        "!=" => x != n,
        ">=" => x >= n,
        _ => x > n,
    }
}

/// A boolean from a comparison on a 0/1 setting.
fn flag(op: &str, n: i64) -> Result<bool, String> {
    match (holds(op, n, 1), holds(op, n, 0)) {
        (true, false) => Ok(true),
        (false, true) => Ok(false),
        _ => Err(format!(
            "comparison `{op} {n}` on a 0/1 setting does not depend on it"
        )),
    }
}

/// `account_policy` on `field`, excluding `word` (the value the command prints as a word) when
/// the comparison would otherwise accept it.
fn policy(field: &str, op: &str, n: i64, word: Option<i64>) -> Value {
    let check = |cmp: String| {
        map(vec![
            ("kind", "account_policy".into()),
            ("field", field.into()),
            ("value", cmp.into()),
        ])
    };
    let base = check(format!("{op} {n}"));
    match word {
        Some(w) if holds(op, n, w) => all(vec![base, check(format!("!= {w}"))]),
        _ => base,
    }
}

/// `local_user` on the account with `rid`; a missing account fails.
fn account(rid: u32, field: &str, cmp: &str) -> Value {
    map(vec![
        ("kind", "local_user".into()),
        ("rid", rid.into()),
        ("field", field.into()),
        ("value", cmp.into()),
        ("missing", "fail".into()),
    ])
}

/// Splits Windows command-line arguments: whitespace separates, double quotes group (anywhere in
/// an argument, as in `/subcategory:"Logon"`) and are removed.
fn win_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

// ----------------------------------------------------------------------------------- auditpol

fn auditpol(rest: &str, content: Option<&str>) -> Result<Value, String> {
    let mut get = false;
    let mut sub = None;
    for a in win_args(rest) {
        let lower = a.to_ascii_lowercase();
        if lower == "/get" {
            get = true;
        } else if lower.starts_with("/subcategory:") {
            sub = Some(a["/subcategory:".len()..].to_string());
        } else {
            return Err(format!(
                "auditpol argument {a:?} is not supported (only /get /subcategory:NAME)"
            ));
        }
    }
    if !get {
        return Err("only `auditpol /get` reads the audit policy".into());
    }
    let sub = sub.ok_or("auditpol without /subcategory:NAME has no single native check")?;
    let found = audit::lookup(&sub).ok_or_else(|| format!("unknown audit subcategory {sub:?}"))?;
    let Term::Re(re) = one_term(content)? else {
        return Err("a numeric comparison on auditpol output is not supported".into());
    };
    let check = |what: &[&str]| {
        map(vec![
            ("kind", "audit_policy".into()),
            ("subcategory", found.1.into()),
            (
                "includes",
                Value::Sequence(what.iter().map(|w| Value::from(*w)).collect()),
            ),
        ])
    };
    let anchored = re.trim_end().ends_with('$');
    let s = squash(&re);
    let name = found.1.to_ascii_lowercase();
    let setting = s.strip_prefix(name.as_str()).unwrap_or(&s).trim();
    match (setting, anchored) {
        ("success and failure", _) => Ok(check(&["success", "failure"])),
        ("success", false) => Ok(check(&["success"])),
        // A line ending in "Success" audits successes only.
        ("success", true) => Ok(all(vec![
            check(&["success"]),
            negate(check(&["failure"]), true),
        ])),
        ("failure", _) => Ok(check(&["failure"])),
        ("no auditing", _) => Ok(map(vec![
            ("kind", "none".into()),
            (
                "checks",
                Value::Sequence(vec![check(&["success"]), check(&["failure"])]),
            ),
        ])),
        _ => Err(format!(
            "auditpol pattern {re:?} is not one of Success, Failure, Success and Failure, No Auditing"
        )),
    }
}

// ---------------------------------------------------------------------------------- PowerShell

fn powershell(rest: &str, content: Option<&str>) -> Result<Value, String> {
    let lower = rest.to_ascii_lowercase();
    if lower.contains("secedit") {
        return secedit(rest, content);
    }
    if lower.contains("win32_useraccount") {
        return cim_account(&lower, content);
    }
    cmdlet(rest, content)
}

/// What a `secedit /export` line is in native terms.
enum Sec {
    /// An `account_policy` number; the value printed as a word (`-1`) when there is one.
    Policy(&'static str, Option<i64>),
    /// An `account_policy` flag.
    Flag(&'static str),
    /// Whether the account with this RID is enabled.
    Enabled(u32),
}

const SECEDIT: &[(&str, Sec)] = &[
    ("MinimumPasswordAge", Sec::Policy("min_password_age", None)),
    (
        "MaximumPasswordAge",
        Sec::Policy("max_password_age", Some(NEVER)),
    ),
    (
        "MinimumPasswordLength",
        Sec::Policy("min_password_length", None),
    ),
    ("PasswordHistorySize", Sec::Policy("password_history", None)),
    ("LockoutBadCount", Sec::Policy("lockout_threshold", None)),
    (
        "LockoutDuration",
        Sec::Policy("lockout_duration", Some(NEVER)),
    ),
    ("ResetLockoutCount", Sec::Policy("lockout_window", None)),
    ("PasswordComplexity", Sec::Flag("password_complexity")),
    ("ClearTextPassword", Sec::Flag("reversible_encryption")),
    ("AllowAdministratorLockout", Sec::Flag("admin_lockout")),
    ("EnableGuestAccount", Sec::Enabled(501)),
    ("EnableAdminAccount", Sec::Enabled(500)),
];

fn secedit(script: &str, content: Option<&str>) -> Result<Value, String> {
    static FIELD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)Select-String\s+(?:-Pattern\s+)?["']?([A-Za-z]+)"#).expect("static regex")
    });
    let field = FIELD
        .captures(script)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
        .ok_or("secedit export without `Select-String \"FIELD\"` has no single native check")?;
    let Some((name, sec)) = SECEDIT.iter().find(|(n, _)| n.eq_ignore_ascii_case(&field)) else {
        let why = if field.starts_with("Se") {
            "user rights exported by secedit: write a native `user_right` check".to_string()
        } else {
            format!("secedit setting {field:?} has no native fact yet")
        };
        return Err(why);
    };
    let key = name.to_ascii_lowercase();
    let (op, n) = match one_term(content)? {
        Term::Num { re, op, n } if squash(&re).replace(' ', "") == format!("{key}=(\\d+)") => {
            (op, n)
        }
        Term::Re(re) => {
            let s = squash(&re).replace(' ', "");
            let v = s
                .strip_prefix(&format!("{key}="))
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| format!("pattern {re:?} is not `{name} = NUMBER`"))?;
            ("==".to_string(), v)
        }
        Term::Num { re, .. } => {
            return Err(format!("numeric regex {re:?} is not `{name} = (\\d+)`"));
        }
    };
    Ok(match sec {
        Sec::Policy(f, never) => {
            let n = if n == -1 && never.is_some() { NEVER } else { n };
            policy(f, &op, n, *never)
        }
        Sec::Flag(f) => map(vec![
            ("kind", "account_policy".into()),
            ("field", (*f).into()),
            ("value", format!("== {}", flag(&op, n)?).into()),
        ]),
        Sec::Enabled(rid) => account(*rid, "disabled", &format!("== {}", !flag(&op, n)?)),
    })
}

/// `Get-CimInstance … Win32_UserAccount … SID LIKE 'S-1-5-21-%-501' | Where-Object -Property
/// Disabled` printing `True` when the account exists and is disabled.
fn cim_account(lower: &str, content: Option<&str>) -> Result<Value, String> {
    let rid = builtin_rid(lower).ok_or("Win32_UserAccount query not on SID -500 or -501")?;
    if !lower.contains("disabled") {
        return Err("Win32_UserAccount query other than `Disabled` has no native check".into());
    }
    let Term::Re(re) = one_term(content)? else {
        return Err("a numeric comparison on a boolean is not supported".into());
    };
    match squash(&re).as_str() {
        "true" => Ok(account(rid, "disabled", "== true")),
        "false" => Ok(negate(account(rid, "disabled", "== true"), true)),
        _ => Err(format!("pattern {re:?} is not True or False")),
    }
}

/// The built-in account a SID pattern selects.
fn builtin_rid(lower: &str) -> Option<u32> {
    if lower.contains("-501'") || lower.contains("-501\"") {
        Some(501)
    } else if lower.contains("-500'") || lower.contains("-500\"") {
        Some(500)
    } else {
        None
    }
}

/// A property of a cmdlet's object, as a derived Windows fact.
struct Cmdlet {
    cmdlet: &'static str,
    property: &'static str,
    fact: &'static str,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `True`/`False`.
    Bool,
    /// `True` means the fact is false.
    Inverted,
    /// A number.
    Number,
    /// `On`/`Off` (BitLocker protection status), or `1`/`0`.
    OnOff,
    /// `Block`/`Allow` (firewall default action).
    Action,
}

const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        cmdlet: "Get-MpComputerStatus",
        property: "RealTimeProtectionEnabled",
        fact: "defender_realtime",
        kind: Kind::Bool,
    },
    Cmdlet {
        cmdlet: "Get-MpComputerStatus",
        property: "IsTamperProtected",
        fact: "tamper_protection",
        kind: Kind::Bool,
    },
    Cmdlet {
        cmdlet: "Get-MpComputerStatus",
        property: "AntivirusSignatureAge",
        fact: "defender_signature_age",
        kind: Kind::Number,
    },
    Cmdlet {
        cmdlet: "Get-MpPreference",
        property: "DisableRealtimeMonitoring",
        fact: "defender_realtime",
        kind: Kind::Inverted,
    },
    Cmdlet {
        cmdlet: "Get-NetFirewallProfile",
        property: "Enabled",
        fact: "firewall_enabled",
        kind: Kind::Bool,
    },
    Cmdlet {
        cmdlet: "Get-NetFirewallProfile",
        property: "DefaultInboundAction",
        fact: "firewall_inbound",
        kind: Kind::Action,
    },
    Cmdlet {
        cmdlet: "Get-SmbServerConfiguration",
        property: "EnableSMB1Protocol",
        fact: "smb1_server",
        kind: Kind::Bool,
    },
    Cmdlet {
        cmdlet: "Get-BitLockerVolume",
        property: "ProtectionStatus",
        fact: "bitlocker",
        kind: Kind::OnOff,
    },
];

fn cmdlet(script: &str, content: Option<&str>) -> Result<Value, String> {
    static GET: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\bGet-[A-Za-z]+").expect("static regex"));
    static PROP: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)(?:\)\.|-ExpandProperty\s+|Select(?:-Object)?\s+(?:-Property\s+)?)([A-Za-z0-9]+)",
        )
        .expect("static regex")
    });
    static PROFILE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)-(?:Name|Profile)\s+["']?(Domain|Private|Public)\b"#)
            .expect("static regex")
    });
    let gets: Vec<&str> = GET.find_iter(script).map(|m| m.as_str()).collect();
    let [get] = gets.as_slice() else {
        return Err(if gets.is_empty() {
            "PowerShell script without a `Get-…` cmdlet has no native equivalent".into()
        } else {
            "PowerShell script with several cmdlets has no native equivalent".into()
        });
    };
    let term = one_term(content)?;
    let term_re = match &term {
        Term::Re(re) => re.clone(),
        Term::Num { re, .. } => re.clone(),
    };
    let prop = PROP
        .captures(script)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
        .or_else(|| {
            let s = squash(&term_re);
            s.split_once(':').map(|(p, _)| p.trim().to_string())
        })
        .ok_or_else(|| format!("`{get}`: no property selected"))?;
    let c = CMDLETS
        .iter()
        .find(|c| c.cmdlet.eq_ignore_ascii_case(get) && c.property.eq_ignore_ascii_case(&prop))
        .ok_or_else(|| format!("`{get}` property {prop:?} has no native fact"))?;
    let mut e = vec![("kind", Value::from("windows")), ("fact", c.fact.into())];
    if c.fact.starts_with("firewall") {
        let p = PROFILE
            .captures(script)
            .and_then(|m| m.get(1))
            .ok_or("Get-NetFirewallProfile without -Name Domain|Private|Public")?;
        e.push(("profile", p.as_str().to_ascii_lowercase().into()));
    }
    e.push(("value", cmdlet_value(c, &prop, &term)?.into()));
    Ok(map(e))
}

/// The comparison on the fact a cmdlet property's output pattern expresses.
fn cmdlet_value(c: &Cmdlet, prop: &str, term: &Term) -> Result<String, String> {
    let strip = |s: String| {
        let p = prop.to_ascii_lowercase();
        match s.strip_prefix(&p) {
            Some(r) => r.trim_start().trim_start_matches(':').trim().to_string(),
            None => s,
        }
    };
    match (term, c.kind) {
        (Term::Num { op, n, .. }, Kind::Number) => Ok(format!("{op} {n}")),
        (Term::Num { .. }, _) => Err(format!("{} is not a number", c.property)),
        (Term::Re(re), kind) => {
            let word = strip(squash(re));
            let v = match (kind, word.as_str()) {
                (Kind::Bool, "true") | (Kind::Inverted, "false") => "true",
                (Kind::Bool, "false") | (Kind::Inverted, "true") => "false",
                (Kind::OnOff, "on" | "1") => "true",
                (Kind::OnOff, "off" | "0") => "false",
                (Kind::Action, "block") => "block",
                (Kind::Action, "allow") => "allow",
                (Kind::Number, w) if w.parse::<i64>().is_ok() => w,
                _ => return Err(format!("pattern {re:?} is not a value of {}", c.property)),
            };
            Ok(format!("== {v}"))
        }
    }
}

// ---------------------------------------------------------------------------------------- net

/// A value `net accounts` prints as a word, and the word.
type Word = Option<(i64, &'static str)>;

/// `net accounts` labels: the policy field and the value printed as a word, with the word.
const NET_ACCOUNTS: &[(&str, &str, Word)] = &[
    ("minimum password age", "min_password_age", None),
    (
        "maximum password age",
        "max_password_age",
        Some((NEVER, "unlimited")),
    ),
    ("minimum password length", "min_password_length", None),
    (
        "length of password history maintained",
        "password_history",
        Some((0, "none")),
    ),
    ("lockout threshold", "lockout_threshold", Some((0, "never"))),
    (
        "lockout duration",
        "lockout_duration",
        Some((NEVER, "never")),
    ),
    ("lockout observation window", "lockout_window", None),
];

fn net(
    tr: &Translator<'_>,
    rest: &str,
    content: Option<&str>,
    negated: bool,
) -> Result<Value, String> {
    let args = win_args(rest);
    let sub: Vec<String> = args.iter().map(|a| a.to_ascii_lowercase()).collect();
    match sub
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["accounts"] => net_accounts(content).map(|c| negate(c, negated)),
        ["user"] => net_user(tr, content, negated),
        ["user", _] => Err(
            "`net user NAME` selects an account by name (names are renamed and localised); \
             write a `local_user` check by RID"
                .into(),
        ),
        _ => Err(format!("`net {rest}` has no native equivalent")),
    }
}

fn net_accounts(content: Option<&str>) -> Result<Value, String> {
    let term = one_term(content)?;
    let re = match &term {
        Term::Re(re) | Term::Num { re, .. } => re,
    };
    let s = squash(re);
    let (_, field, word) = NET_ACCOUNTS
        .iter()
        .find(|(label, _, _)| s.starts_with(label))
        .ok_or_else(|| format!("`net accounts` line {re:?} has no native fact"))?;
    match term {
        Term::Num { op, n, .. } if s.ends_with("(\\d+)") && s.matches("(\\d+)").count() == 1 => {
            Ok(policy(field, &op, n, word.map(|w| w.0)))
        }
        Term::Num { .. } => Err(format!("numeric regex {re:?} does not capture the value")),
        Term::Re(_) => {
            let last = s.rsplit([' ', ':']).next().unwrap_or("");
            let v = match word {
                Some((v, w)) if last == *w => *v,
                _ => last
                    .parse::<i64>()
                    .map_err(|_| format!("pattern {re:?} does not end in the value"))?,
            };
            Ok(policy(field, "==", v, None))
        }
    }
}

/// `net user -> r:NAMES`: some account name matches. The pattern's alternatives are trimmed:
/// `net user` prints names in padded columns, a check sees each name alone.
fn net_user(tr: &Translator<'_>, content: Option<&str>, negated: bool) -> Result<Value, String> {
    let Term::Re(re) = one_term(content)? else {
        return Err("a numeric comparison on account names is not supported".into());
    };
    let simple = !re.contains(['(', ')', '[', '\\']);
    let pattern = if simple {
        re.split('|')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect::<Vec<_>>()
            .join("|")
    } else {
        re.clone()
    };
    let no_name_matches = map(vec![
        ("kind", "local_user".into()),
        ("field", "name".into()),
        ("value", format!("!~ {}", tr.regex(&pattern)?).into()),
    ]);
    Ok(negate(no_name_matches, !negated))
}

// ---------------------------------------------------------------------------------- reg query

fn reg_query(tr: &Translator<'_>, rest: &str, content: Option<&str>) -> Result<Value, String> {
    let args = win_args(rest);
    let (key, name) = match args.as_slice() {
        [q, key, v, name] if q.eq_ignore_ascii_case("query") && v.eq_ignore_ascii_case("/v") => {
            (key.as_str(), name.as_str())
        }
        [q, key, v] if q.eq_ignore_ascii_case("query") && v.eq_ignore_ascii_case("/ve") => {
            (key.as_str(), "")
        }
        _ => {
            return Err(
                "only `reg query KEY /v NAME` (or /ve) maps onto one registry value".into(),
            );
        }
    };
    crate::windows::RegPath::parse(key)?;
    let Some(content) = content else {
        return Ok(reg(key, Some(name), vec![("exists", true.into())]));
    };
    let mut checks = Vec::new();
    for term in content.split(" && ") {
        let term = term.trim();
        let (neg, t) = match term.strip_prefix('!') {
            Some(t) => (true, t),
            None => (false, term),
        };
        let re = strip_kind(t, "r:").ok_or_else(|| {
            format!("`reg query` pattern {term:?} is not `r:` (output is compared as text)")
        })?;
        let data = data_regex(re, name);
        let cmp = match hex_literal(&data) {
            Some(n) => format!("{} {n}", if neg { "!=" } else { "==" }),
            None => format!("{} {}", if neg { "!~" } else { "~" }, tr.regex(&data)?),
        };
        checks.push(reg(key, Some(name), vec![("value", cmp.into())]));
    }
    Ok(all(checks))
}

/// The part of a `reg query` line pattern that reads the data: a leading `NAME  REG_x  ` column
/// prefix becomes "the data starts here".
fn data_regex(re: &str, name: &str) -> String {
    static WS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?:\\[st][*+]?|[ \t])*").expect("static regex"));
    static TYPE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)^reg_[a-z_]+").expect("static regex"));
    let s = re.trim_start_matches('^');
    let s = &s[WS.find(s).map_or(0, |m| m.end())..];
    let Some(head) = s
        .get(..name.len())
        .filter(|h| !name.is_empty() && h.eq_ignore_ascii_case(name))
    else {
        return re.to_string();
    };
    let mut s = &s[head.len()..];
    s = &s[WS.find(s).map_or(0, |m| m.end())..];
    if let Some(m) = TYPE.find(s) {
        s = &s[m.end()..];
        s = &s[WS.find(s).map_or(0, |m| m.end())..];
    }
    format!("^\\s*{s}")
}

/// `reg query` prints DWORDs in hex (`0x1`); a pattern that is exactly such a number.
fn hex_literal(data: &str) -> Option<u64> {
    let s = data.strip_prefix("^\\s*")?.trim_end_matches('$');
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    u64::from_str_radix(hex, 16).ok()
}

// --------------------------------------------------------------------------------------- wmic

fn wmic(rest: &str, content: Option<&str>) -> Result<Value, String> {
    let lower = rest.to_ascii_lowercase();
    let rid = builtin_rid(&lower)
        .filter(|_| lower.starts_with("useraccount") && lower.contains("get disabled"))
        .ok_or("only `wmic useraccount where (sid like …-500/-501) get Disabled` is translated")?;
    let Term::Re(re) = one_term(content)? else {
        return Err("a numeric comparison on wmic output is not supported".into());
    };
    let s = squash(&re);
    if s == "true" || s == "false" {
        return Ok(account(rid, "disabled", &format!("== {s}")));
    }
    if s.starts_with("no instance") {
        // The account does not exist.
        let exists = map(vec![
            ("kind", "local_user".into()),
            ("rid", rid.into()),
            ("field", "name".into()),
            ("value", "~ .".into()),
            ("missing", "fail".into()),
        ]);
        return Ok(negate(exists, true));
    }
    Err(format!(
        "wmic pattern {re:?} is not TRUE, FALSE or No Instance(s) Available"
    ))
}
