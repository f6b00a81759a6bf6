//! Import of Wazuh SCA policies into Vigil packs.
//!
//! [`import_sca`] is pure: policy text in, a validated [`Pack`] (and its YAML) plus the list of what
//! could not be translated out. Nothing is dropped silently: a check is either translated whole or
//! listed by rule id with the reason, because translating part of an `all` check would change what
//! it proves. Every translated rule is run through [`parse_pack`] on its own before it is kept, so
//! the output always loads with the normal loader.
//!
//! Both dialects in the field are read. 4.x policies (`title`, `compliance` as a list of one-key
//! mappings) use OSRegex unless they say `regex_type: pcre2`; OSRegex is rewritten into Rust regex
//! syntax. 5.x policies (`name`, `compliance` and `mitre` as mappings) use PCRE2, which is kept as
//! written when the Rust engine accepts it (no look-around, no back-references). Both engines match
//! case-insensitively in SCA, so every translated pattern starts with `(?i)`. The mapping, and the
//! places where Vigil's semantics differ, are documented in `docs/sca-import.md`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use serde_norway::{Mapping, Value};
use vigil_proto::Severity;

use crate::command::AllowList;
use crate::pack::{Group, Pack, parse_pack};

mod native;
mod shell;
mod windows;

/// Why a policy could not be imported at all. Problems with single checks are not errors: they are
/// reported as [`Untranslated`] items.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScaError {
    /// The text is not YAML, or not an SCA policy (no `policy` mapping, no `checks` list).
    #[error("{origin}:{line}: {message}")]
    Parse {
        /// Name of the input, for messages.
        origin: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The translated pack did not load; a bug in the importer, reported rather than written.
    #[error("{origin}: the translated pack does not load: {message}")]
    Output {
        /// Name of the input.
        origin: String,
        /// The loader's message.
        message: String,
    },
}

/// Regular-expression dialect of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// Decide from the policy: `regex_type` if given, else OSRegex for 4.x policies (checks with
    /// `title`) and PCRE2 otherwise.
    #[default]
    Auto,
    /// Wazuh 4.x OSRegex (`\.` is any character, `.` a dot, `\s` a space).
    OsRegex,
    /// PCRE2, as Wazuh 5.x uses for every policy.
    Pcre2,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::OsRegex => "osregex",
            Self::Pcre2 => "pcre2",
        })
    }
}

/// Choices the SCA format has no field for.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Regex dialect.
    pub dialect: Dialect,
    /// Severity of every rule (SCA has no severity).
    pub severity: Severity,
    /// Group of every rule; `None` picks one from keywords of the check's name.
    pub group: Option<Group>,
    /// Pack id; default `sca-<policy id>`.
    pub pack_id: Option<String>,
    /// Pack version.
    pub pack_version: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dialect: Dialect::Auto,
            severity: Severity::Medium,
            group: None,
            pack_id: None,
            pack_version: "1.0.0".into(),
        }
    }
}

/// A policy item that was not translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslated {
    /// Vigil rule id the check would have had (`cis_debian12-33010`), or `requirements`.
    pub id: String,
    /// The SCA rule string at fault, when one is.
    pub rule: Option<String>,
    /// Why.
    pub reason: String,
}

impl fmt::Display for Untranslated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(r) => write!(f, "{}: {} [{r}]", self.id, self.reason),
            None => write!(f, "{}: {}", self.id, self.reason),
        }
    }
}

/// Result of an import.
#[derive(Debug, Clone)]
pub struct Import {
    /// The translated pack (already validated by the loader).
    pub pack: Pack,
    /// The pack as YAML, with a header comment listing what was left out.
    pub yaml: String,
    /// The dialect the regexes were read in.
    pub dialect: Dialect,
    /// Checks in the policy.
    pub checks: usize,
    /// Checks translated into rules.
    pub translated: usize,
    /// Translated checks answered natively: no rule of theirs runs a program.
    pub native: usize,
    /// Checks (and requirement rules) not translated, in policy order.
    pub untranslated: Vec<Untranslated>,
    /// Things the operator should know about translated rules (registry checks, requirement
    /// rules that needed no translation).
    pub notes: Vec<String>,
}

/// Translates an SCA policy. `origin` names the input in messages.
///
/// # Errors
/// [`ScaError::Parse`] when the text is not an SCA policy; [`ScaError::Output`] if the result does
/// not load (an importer bug, never written out).
pub fn import_sca(text: &str, origin: &str, opts: &ImportOptions) -> Result<Import, ScaError> {
    let parse_err = |line: usize, message: String| ScaError::Parse {
        origin: origin.to_string(),
        line,
        message,
    };
    let raw: RawFile = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        let msg = e.to_string();
        let message = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        parse_err(line, message)
    })?;
    let policy_id = scalar(&raw.policy.id)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| parse_err(0, "policy.id: a non-empty string is required".into()))?;
    let policy_slug = slug(&policy_id);
    let dialect = match opts.dialect {
        Dialect::Auto => detect_dialect(&raw),
        d => d,
    };
    let vars = variables(raw.variables.as_ref());

    let mut untranslated = Vec::new();
    let mut notes = Vec::new();
    let applies_to = requirements(raw.requirements.as_ref(), &mut untranslated, &mut notes);

    let pack_id = opts
        .pack_id
        .clone()
        .unwrap_or_else(|| format!("sca-{policy_slug}"));
    let title = raw
        .policy
        .name
        .clone()
        .or_else(|| raw.policy.title.clone())
        .unwrap_or_else(|| policy_id.clone());
    let mut description = raw.policy.description.clone().unwrap_or_default();
    let refs = strings(raw.policy.references.as_ref());
    if !refs.is_empty() {
        if !description.is_empty() {
            description.push(' ');
        }
        description.push_str(&format!("References: {}.", refs.join(", ")));
    }
    let mut head = Mapping::new();
    head.insert("id".into(), pack_id.clone().into());
    head.insert("version".into(), opts.pack_version.clone().into());
    head.insert("title".into(), text_value(&title));
    if !description.is_empty() {
        head.insert("description".into(), text_value(&description));
    }
    if !applies_to.is_empty() {
        head.insert("applies_to".into(), Value::Sequence(applies_to));
    }

    let mut rules = Vec::new();
    let mut seen = BTreeSet::new();
    let allowed = AllowList::default();
    let mut windows_rules = 0;
    let mut native = 0;
    for (i, check) in raw.checks.iter().enumerate() {
        let raw_check: RawCheck = match serde_norway::from_value(check.clone()) {
            Ok(c) => c,
            Err(e) => {
                untranslated.push(Untranslated {
                    id: format!("{policy_slug}-#{}", i + 1),
                    rule: None,
                    reason: format!("check #{} is malformed: {e}", i + 1),
                });
                continue;
            }
        };
        let check_id = raw_check
            .id
            .as_ref()
            .and_then(scalar)
            .unwrap_or_else(|| format!("#{}", i + 1));
        let id = format!("{policy_slug}-{}", slug(&check_id));
        if !seen.insert(id.clone()) {
            untranslated.push(Untranslated {
                id,
                rule: None,
                reason: "duplicate check id".into(),
            });
            continue;
        }
        let check_dialect = match (opts.dialect, raw_check.regex_type.as_deref()) {
            (Dialect::Auto, Some("pcre2")) => Dialect::Pcre2,
            (Dialect::Auto, Some("osregex")) => Dialect::OsRegex,
            _ => dialect,
        };
        let tr = Translator {
            dialect: check_dialect,
            vars: &vars,
            allowed: &allowed,
        };
        match translate_check(&tr, &raw_check, &id, opts) {
            Err(u) => untranslated.push(u),
            Ok(t) => {
                let one = pack_text(&head, std::slice::from_ref(&t.rule));
                match parse_pack(&one, Path::new(origin)) {
                    Ok(_) => {
                        native += usize::from(t.programs.is_empty());
                        windows_rules += usize::from(t.windows);
                        rules.push(t.rule);
                    }
                    Err(e) => untranslated.push(Untranslated {
                        id,
                        rule: None,
                        reason: format!("the translation does not load: {e}"),
                    }),
                }
            }
        }
    }
    if windows_rules > 0 {
        notes.push(format!(
            "{windows_rules} rule(s) read Windows settings natively (registry, account and audit \
             policy, local accounts): they evaluate on Windows hosts and offline Windows volumes, \
             and report an error elsewhere"
        ));
    }
    let checks = raw.checks.len();
    let translated = rules.len();
    let mut yaml = String::new();
    yaml.push_str(&format!(
        "# Imported from the Wazuh SCA policy {policy_id:?} by `vigil-agent rules import-sca` \
         ({dialect} regexes).\n# {translated} of {checks} checks translated, {native} of them \
         answered natively.\n"
    ));
    if !untranslated.is_empty() {
        yaml.push_str("# Not translated:\n");
        for u in &untranslated {
            yaml.push_str(&format!("#   {}: {}\n", u.id, u.reason.replace('\n', " ")));
        }
    }
    yaml.push_str(&pack_text(&head, &rules));
    let pack = parse_pack(&yaml, Path::new(origin)).map_err(|e| ScaError::Output {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    Ok(Import {
        pack,
        yaml,
        dialect,
        checks,
        translated,
        native,
        untranslated,
        notes,
    })
}

// ------------------------------------------------------------------------------------ input

#[derive(Deserialize)]
struct RawFile {
    policy: RawPolicy,
    #[serde(default)]
    requirements: Option<Value>,
    #[serde(default)]
    variables: Option<Mapping>,
    checks: Vec<Value>,
}

#[derive(Deserialize)]
struct RawPolicy {
    id: Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    references: Option<Value>,
    #[serde(default)]
    regex_type: Option<String>,
}

#[derive(Deserialize)]
struct RawCheck {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    rationale: Option<String>,
    #[serde(default)]
    remediation: Option<String>,
    #[serde(default)]
    references: Option<Value>,
    #[serde(default)]
    compliance: Option<Value>,
    #[serde(default)]
    mitre: Option<Value>,
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    rules: Option<Vec<Value>>,
    #[serde(default)]
    regex_type: Option<String>,
}

fn detect_dialect(raw: &RawFile) -> Dialect {
    match raw.policy.regex_type.as_deref() {
        Some("pcre2") => return Dialect::Pcre2,
        Some("osregex") => return Dialect::OsRegex,
        _ => {}
    }
    let has = |key: &str| {
        raw.checks
            .iter()
            .any(|c| c.as_mapping().is_some_and(|m| m.contains_key(key)))
    };
    if has("title") && !has("name") {
        Dialect::OsRegex
    } else {
        Dialect::Pcre2
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(items)) => items.iter().filter_map(scalar).collect(),
        Some(v) => scalar(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// A rule-id-safe form: letters, digits, `.`, `_` and `-`.
fn slug(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Policy variables, longest name first so `$sshd_file` is replaced before `$sshd`.
fn variables(m: Option<&Mapping>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = m
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let name = scalar(k)?;
            let value = match v {
                Value::Sequence(_) => strings(Some(v)).join(","),
                v => scalar(v)?,
            };
            Some((name, value))
        })
        .collect();
    out.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    out
}

// ----------------------------------------------------------------------------------- output

fn text_value(s: &str) -> Value {
    let mut m = Mapping::new();
    // SCA policies are English only; the Vietnamese text starts as the English one.
    m.insert("vi".into(), s.into());
    m.insert("en".into(), s.into());
    Value::Mapping(m)
}

fn pack_text(head: &Mapping, rules: &[Value]) -> String {
    let mut m = head.clone();
    m.insert("rules".into(), Value::Sequence(rules.to_vec()));
    // Serialising a tree of strings, numbers and mappings cannot fail.
    serde_norway::to_string(&Value::Mapping(m)).unwrap_or_default()
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in entries {
        m.insert(k.into(), v);
    }
    Value::Mapping(m)
}

fn strs(v: &[String]) -> Value {
    Value::Sequence(v.iter().map(|s| Value::String(s.clone())).collect())
}

/// One pattern as a string, several as a list.
fn one_or_many(v: &[String]) -> Value {
    match v {
        [one] => one.clone().into(),
        _ => strs(v),
    }
}

// ------------------------------------------------------------------------------ requirements

/// Reads `requirements` into platform conditions. Rules that say which OS the policy is for are
/// understood; anything else is listed as untranslated (Vigil's `applies_to` knows only
/// os-release facts).
fn requirements(
    req: Option<&Value>,
    out: &mut Vec<Untranslated>,
    notes: &mut Vec<String>,
) -> Vec<Value> {
    let Some(req) = req else { return Vec::new() };
    let condition = req
        .get("condition")
        .and_then(scalar)
        .unwrap_or_else(|| "all".into());
    let rules = strings(req.get("rules"));
    let mut os: BTreeSet<String> = BTreeSet::new();
    let mut versions: BTreeSet<String> = BTreeSet::new();
    let mut platforms: Vec<(String, Option<String>, bool)> = Vec::new();
    let mut exact = false;
    let unknown = |r: &str, why: &str| Untranslated {
        id: "requirements".into(),
        rule: Some(r.to_string()),
        reason: why.to_string(),
    };
    if condition != "all" && condition != "any" {
        out.push(unknown(
            &condition,
            "requirements condition other than `all`/`any` has no platform equivalent",
        ));
        return Vec::new();
    }
    for r in &rules {
        match windows::requirement(r).or_else(|| requirement_fact(r)) {
            Some(Fact::Linux) => notes.push(format!(
                "requirement {r:?} needs no translation: the agent only evaluates Linux trees"
            )),
            Some(Fact::Os(o, v)) => {
                platforms.push((o.clone(), v.clone(), false));
                os.insert(o);
                versions.extend(v);
            }
            Some(Fact::OsExact(o, v)) => {
                platforms.push((o.clone(), v.clone(), true));
                exact = true;
                os.insert(o);
                versions.extend(v);
            }
            Some(Fact::Version(v)) => {
                versions.insert(v);
            }
            Some(Fact::Windows(vs)) => {
                os.insert("windows".into());
                for v in vs {
                    platforms.push(("windows".into(), Some(v.clone()), false));
                    versions.insert(v);
                }
            }
            None => out.push(unknown(
                r,
                "requirement is not an OS/version test that `applies_to` can express",
            )),
        }
    }
    let platform = |o: &str, vs: Vec<String>, exact: bool| {
        let mut m = Mapping::new();
        m.insert("os".into(), o.into());
        if !vs.is_empty() {
            m.insert("versions".into(), strs(&vs));
        }
        if exact {
            m.insert("exact".into(), true.into());
        }
        Value::Mapping(m)
    };
    if condition == "all" {
        match os.len() {
            0 if versions.is_empty() => Vec::new(),
            1 => {
                let o = os.first().cloned().unwrap_or_default();
                vec![platform(&o, versions.into_iter().collect(), exact)]
            }
            _ => {
                out.push(unknown(
                    &rules.join(" AND "),
                    "requirements name no single OS, so no platform condition was set",
                ));
                Vec::new()
            }
        }
    } else {
        platforms
            .into_iter()
            .map(|(o, v, exact)| platform(&o, v.into_iter().collect(), exact))
            .collect()
    }
}

enum Fact {
    Linux,
    Os(String, Option<String>),
    /// The OS named by `ID` alone (not `ID_LIKE`): `/etc/redhat-release` names one vendor.
    OsExact(String, Option<String>),
    Version(String),
    /// Windows, one of these platform version ids.
    Windows(Vec<String>),
}

/// `/etc/redhat-release` first words → os-release `ID`.
const RELEASE_NAMES: [(&str, &str); 7] = [
    ("Red Hat Enterprise Linux", "rhel"),
    ("Rocky Linux", "rocky"),
    ("Rocky", "rocky"),
    ("AlmaLinux", "almalinux"),
    ("CentOS", "centos"),
    ("Oracle", "ol"),
    ("Cloud", "cloudlinux"),
];

fn requirement_fact(rule: &str) -> Option<Fact> {
    let (file, content) = match rule.trim().strip_prefix("f:")?.split_once(" -> ") {
        Some((f, c)) => (f.trim(), Some(c.trim())),
        None => (rule.trim().strip_prefix("f:")?.trim(), None),
    };
    // Regex quoting differs between dialects (`12.` vs `12\.`); compare without it.
    let plain = |s: &str| s.trim_start_matches("r:").replace('\\', "");
    let version_re = Regex::new(r"^\^?(\d+(?:\.\d+)?)\.?$").ok()?;
    let word = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric()) && !s.is_empty();
    match (file, content) {
        ("/proc/sys/kernel/ostype", Some(c)) if plain(c).eq_ignore_ascii_case("linux") => {
            Some(Fact::Linux)
        }
        ("/etc/debian_version", None) => Some(Fact::Os("debian".into(), None)),
        ("/etc/debian_version", Some(c)) => {
            let v = version_re.captures(&plain(c))?.get(1)?.as_str().to_string();
            Some(Fact::Os("debian".into(), Some(v)))
        }
        ("/etc/redhat-release" | "/etc/system-release", Some(c)) => {
            let terms: Vec<String> = c.split(" && ").map(plain).collect();
            let [name, release] = terms.as_slice() else {
                return None;
            };
            let name = name.trim_start_matches('^');
            let id = RELEASE_NAMES.iter().find(|(n, _)| *n == name)?.1;
            let v = release.strip_prefix("release ")?;
            let v = version_re.captures(v)?.get(1)?.as_str().to_string();
            Some(Fact::OsExact(id.to_string(), Some(v)))
        }
        ("/etc/os-release", Some(c)) => {
            let terms: Vec<String> = c.split(" && ").map(plain).collect();
            match terms.as_slice() {
                [k, v] if k == "NAME=" && word(v) => Some(Fact::Os(v.to_ascii_lowercase(), None)),
                [k, v] if (k == "VERSION=" || k == "VERSION_ID=") => {
                    let v = version_re.captures(v)?.get(1)?.as_str().to_string();
                    Some(Fact::Version(v))
                }
                [one] => {
                    let (name, ver) = one.split_once(' ')?;
                    let v = version_re.captures(ver)?.get(1)?.as_str().to_string();
                    word(name).then(|| Fact::Os(name.to_ascii_lowercase(), Some(v)))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

// ------------------------------------------------------------------------------------ checks

struct Translated {
    rule: Value,
    /// Absolute programs run by `command` checks.
    programs: Vec<String>,
    /// Some check reads Windows facts.
    windows: bool,
}

fn translate_check(
    tr: &Translator<'_>,
    c: &RawCheck,
    id: &str,
    opts: &ImportOptions,
) -> Result<Translated, Untranslated> {
    let fail = |rule: Option<&str>, reason: String| Untranslated {
        id: id.to_string(),
        rule: rule.map(str::to_string),
        reason,
    };
    let title = c
        .name
        .clone()
        .or_else(|| c.title.clone())
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| fail(None, "check has no `name` (or `title`)".into()))?;
    let condition = match c.condition.as_deref().map(str::trim) {
        Some(x @ ("all" | "any" | "none")) => x.to_string(),
        Some(other) => return Err(fail(None, format!("unknown condition {other:?}"))),
        None => return Err(fail(None, "check has no `condition`".into())),
    };
    let raw_rules = c
        .rules
        .as_ref()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| fail(None, "check has no `rules`".into()))?;
    let mut checks = Vec::new();
    let mut programs = Vec::new();
    let mut windows = false;
    for r in raw_rules {
        let Some(text) = scalar(r) else {
            return Err(fail(None, "a rule is not a string".into()));
        };
        let t = tr.rule(&text).map_err(|why| fail(Some(&text), why))?;
        programs.extend(t.program);
        windows |= t.windows;
        checks.push(t.check);
    }
    let mut rationale = c
        .rationale
        .clone()
        .or_else(|| c.description.clone())
        .unwrap_or_else(|| "The SCA policy gives no rationale.".into());
    let refs = strings(c.references.as_ref());
    if !refs.is_empty() {
        rationale.push_str(&format!(" References: {}.", refs.join(", ")));
    }
    let remediation = c
        .remediation
        .clone()
        .unwrap_or_else(|| "The SCA policy gives no remediation.".into());
    let group = opts.group.unwrap_or_else(|| group_for(&title));
    let rule = map(vec![
        ("id", id.into()),
        ("title", text_value(&title)),
        ("rationale", text_value(&rationale)),
        ("remediation", text_value(&remediation)),
        ("severity", opts.severity.to_string().into()),
        ("group", group.as_str().into()),
        (
            "controls",
            strs(&controls(c.compliance.as_ref(), c.mitre.as_ref())),
        ),
        ("condition", condition.into()),
        ("checks", Value::Sequence(checks)),
    ]);
    Ok(Translated {
        rule,
        programs,
        windows,
    })
}

/// `scheme:item` for every compliance entry (4.x list of one-key mappings or 5.x mapping) and
/// `mitre:ID` for every 5.x MITRE id.
fn controls(compliance: Option<&Value>, mitre: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    let add_map = |m: &Mapping, out: &mut Vec<String>| {
        for (k, v) in m {
            let Some(k) = scalar(k) else { continue };
            for item in strings(Some(v)) {
                out.push(format!("{}:{}", k.trim(), item.trim()));
            }
        }
    };
    match compliance {
        Some(Value::Mapping(m)) => add_map(m, &mut out),
        Some(Value::Sequence(items)) => {
            for it in items {
                if let Value::Mapping(m) = it {
                    add_map(m, &mut out);
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Mapping(m)) = mitre {
        for (_, v) in m {
            // 5.x: `tactic: {id: [...], name: [...]}`; the migration guide also shows `tactic: [...]`.
            let ids = match v {
                Value::Mapping(inner) => strings(inner.get("id")),
                v => strings(Some(v)),
            };
            out.extend(ids.into_iter().map(|i| format!("mitre:{}", i.trim())));
        }
    }
    out.dedup();
    out
}

/// A scoring group from keywords of the check's name; `hardening` when nothing fits.
fn group_for(title: &str) -> Group {
    let t = title.to_ascii_lowercase();
    let any = |ws: &[&str]| ws.iter().any(|w| t.contains(w));
    if any(&["usb", "removable", "automount", "autorun"]) {
        Group::RemovableMedia
    } else if any(&["aide", "integrity"]) {
        Group::Integrity
    } else if any(&["update", "patch", "gpg key", "package manager repositor"]) {
        Group::Patching
    } else if any(&[
        "audit",
        "log",
        "journal",
        "syslog",
        "chrony",
        "ntp",
        "time sync",
        "timesync",
    ]) {
        Group::Logging
    } else if any(&[
        "password", "passwd", "shadow", "account", "user", "group", "pam", "faillock", "lockout",
        "sudo", "login", "root", "umask", "su ",
    ]) {
        Group::Accounts
    } else {
        Group::Hardening
    }
}

// ------------------------------------------------------------------------------------- rules

struct Translator<'a> {
    dialect: Dialect,
    vars: &'a [(String, String)],
    /// Commands go through the agent's allow-list: one it would refuse is not translated.
    allowed: &'a AllowList,
}

struct RuleOut {
    check: Value,
    program: Option<String>,
    /// Reads Windows facts.
    windows: bool,
}

/// A content expression (`r:A && !r:B && n:C compare >= 2`) in Vigil terms.
enum Content {
    /// Some line matches every `all`, none of `unless`; `value` compares the capture of `all[0]`;
    /// every `(regex, comparison)` of `compare` holds on the same line.
    Lines {
        all: Vec<String>,
        unless: Vec<String>,
        value: Option<String>,
        compare: Vec<(String, String)>,
    },
    /// No line matches (5.x reading of a lone negated term).
    NoLine(String),
    /// The whole text equals this (5.x command output compared with a literal).
    Whole(String),
}

impl Translator<'_> {
    fn rule(&self, text: &str) -> Result<RuleOut, String> {
        let mut s = text.trim().to_string();
        for (name, value) in self.vars {
            s = s.replace(name.as_str(), value);
        }
        let (negated, body) = match s.strip_prefix("not ").or_else(|| s.strip_prefix("NOT ")) {
            Some(b) => (true, b.trim_start()),
            None => (false, s.as_str()),
        };
        let Some((kind, rest)) = body.split_once(':') else {
            return Err("not a rule: expected `f:`, `d:`, `c:`, `p:` or `r:`".into());
        };
        let parts: Vec<&str> = rest.split(" -> ").collect();
        let out = match kind.trim_start_matches('!') {
            "f" => self.file(&parts, negated)?,
            "d" => self.dir(&parts, negated)?,
            "c" => return self.command(&parts, negated),
            "r" => {
                return Ok(RuleOut {
                    check: windows::registry(self, &parts, negated)?,
                    program: None,
                    windows: true,
                });
            }
            "p" => {
                let name = parts[0].trim();
                if parts.len() > 1 || name.is_empty() || name.contains('/') {
                    return Err("a process rule names one process".into());
                }
                map(vec![
                    ("kind", "process".into()),
                    ("name", name.into()),
                    ("running", (!negated).into()),
                ])
            }
            other => return Err(format!("unknown rule type `{other}:`")),
        };
        Ok(RuleOut {
            check: out,
            program: None,
            windows: false,
        })
    }

    fn file(&self, parts: &[&str], negated: bool) -> Result<Value, String> {
        let paths = paths(parts[0])?;
        match parts {
            [_] => Ok(map(vec![
                ("kind", "file".into()),
                ("path", one_or_many(&paths)),
                ("exists", (!negated).into()),
            ])),
            [_, content] => {
                let c = self.content(content, false)?;
                let check = file_content(one_or_many(&paths), c);
                Ok(negate(check, negated))
            }
            _ => Err("a file rule has at most one `->`".into()),
        }
    }

    fn dir(&self, parts: &[&str], negated: bool) -> Result<Value, String> {
        let mut dirs = paths(parts[0])?;
        if parts.len() > 1 {
            // `DIR/*` with a file-name search: every entry of DIR is searched recursively, which
            // is searching DIR itself.
            for d in &mut dirs {
                if let Some(base) = d.strip_suffix("/*").filter(|b| !b.is_empty()) {
                    *d = base.to_string();
                }
            }
        }
        if dirs.iter().any(|d| d.contains(['*', '?', '['])) {
            return Err("a glob in the directory path has no Vigil equivalent".into());
        }
        match parts {
            [_] => Ok(map(vec![
                ("kind", "dir".into()),
                ("path", one_or_many(&dirs)),
                ("exists", (!negated).into()),
            ])),
            [_, name] => {
                // SCA searches the directories recursively for a regular file of that name.
                let mut sel = self.name_selection(&dirs, name)?;
                sel.push(("exists", true.into()));
                Ok(negate(map(sel), negated))
            }
            [_, name, content] => {
                let sel = self.name_selection(&dirs, name)?;
                let c = self.content(content, false)?;
                Ok(negate(file_content_in(sel, c), negated))
            }
            _ => Err("a directory rule has at most two `->`".into()),
        }
    }

    fn command(&self, parts: &[&str], negated: bool) -> Result<RuleOut, String> {
        if let Some(native) = windows::command(self, parts, negated) {
            return native.map(|check| RuleOut {
                check,
                program: None,
                windows: true,
            });
        }
        match native::command(self, parts, negated) {
            native::Native::Check(check) => {
                return Ok(RuleOut {
                    check,
                    program: None,
                    windows: false,
                });
            }
            native::Native::Refused(why) => return Err(why),
            native::Native::RunCommand => {}
        }
        let argv = split_command(parts[0])?;
        let program = resolve_program(&argv[0])?;
        let mut run = vec![program.clone()];
        run.extend(argv[1..].iter().cloned());
        self.allowed.permit(&run).map_err(|e| {
            format!(
                "runs `{}`, which command checks may not: {e}",
                run.join(" ")
            )
        })?;
        let mut entries = vec![("kind", Value::from("command")), ("run", strs(&run))];
        match parts {
            [_] => {}
            [_, content] => match self.content(content, true)? {
                c @ Content::Lines { .. } => entries.extend(native::lines_fields(&c)),
                Content::NoLine(re) => entries.push(("no_output", re.into())),
                Content::Whole(re) => entries.push(("output", re.into())),
            },
            _ => return Err("a command rule has at most one `->`".into()),
        }
        Ok(RuleOut {
            check: negate(map(entries), negated),
            program: Some(program),
            windows: false,
        })
    }

    /// The `file` selection of a directory rule: the directories searched recursively and the
    /// file-name terms (`r:RE`, `!r:RE`, or a literal name, joined by ` && `).
    fn name_selection(
        &self,
        dirs: &[String],
        name: &str,
    ) -> Result<Vec<(&'static str, Value)>, String> {
        let mut names = Vec::new();
        let mut unless = Vec::new();
        for term in name.trim().split(" && ") {
            let (neg, t) = match term.strip_prefix('!') {
                Some(t) => (true, t),
                None => (false, term),
            };
            let re = match strip_kind(t, "r:") {
                Some(re) => self.regex(re)?,
                None if neg => {
                    return Err(format!(
                        "negated literal file name {term:?} is not supported"
                    ));
                }
                None => format!("^{}$", regex::escape(t)),
            };
            if neg { unless.push(re) } else { names.push(re) }
        }
        if names.is_empty() {
            names.push("^".into());
        }
        let mut sel = vec![
            ("kind", Value::from("file")),
            ("under", one_or_many(dirs)),
            ("name", one_or_many(&names)),
        ];
        if !unless.is_empty() {
            sel.push(("name_unless", one_or_many(&unless)));
        }
        Ok(sel)
    }

    /// Translates one content expression. `command` selects the 5.x reading of a literal pattern
    /// (the whole output rather than one line).
    fn content(&self, s: &str, command: bool) -> Result<Content, String> {
        let s = s.trim();
        let is_pattern = ["r:", "!r:", "n:", "!n:"]
            .iter()
            .any(|p| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)));
        if self.dialect == Dialect::Pcre2 && !is_pattern {
            // 5.x compares a literal pattern as one string, `&&` included.
            let esc = regex::escape(s);
            return Ok(if command {
                Content::Whole(format!("\\A\\n*{esc}\\n*\\z"))
            } else {
                Content::Lines {
                    all: vec![format!("^{esc}$")],
                    unless: Vec::new(),
                    value: None,
                    compare: Vec::new(),
                }
            });
        }
        let terms: Vec<&str> = s.split(" && ").collect();
        let mut all = Vec::new();
        let mut unless = Vec::new();
        let mut numerics: Vec<(String, String)> = Vec::new();
        for term in &terms {
            let (neg, t) = match term.strip_prefix('!') {
                Some(t) => (true, t),
                None => (false, *term),
            };
            let re = if let Some(r) = strip_kind(t, "r:") {
                self.regex(r)?
            } else if let Some(n) = strip_kind(t, "n:") {
                if neg {
                    return Err("a negated numeric comparison (`!n:`) is not supported".into());
                }
                let (re, op, num) = numeric(n)?;
                let re = self.regex(&re)?;
                let groups = Regex::new(&re).map(|r| r.captures_len()).unwrap_or(0);
                if groups < 2 {
                    return Err(format!("numeric regex {re:?} has no capture group"));
                }
                numerics.push((re, format!("{op} {num}")));
                continue;
            } else if self.dialect == Dialect::OsRegex {
                format!("(?i)^{}$", regex::escape(t))
            } else {
                format!("^{}$", regex::escape(t))
            };
            if neg { unless.push(re) } else { all.push(re) }
        }
        // One numeric term compares the capture of the first `line` pattern; several become a
        // `compare` list that must hold on the same line.
        let (value, compare) = match numerics.len() {
            0 => (None, Vec::new()),
            1 => {
                let (re, v) = numerics.remove(0);
                all.insert(0, re);
                (Some(v), Vec::new())
            }
            _ => (None, numerics),
        };
        if all.is_empty() && compare.is_empty() {
            if self.dialect == Dialect::Pcre2 && unless.len() == 1 {
                // 5.x: a lone negated term passes when no line matches it.
                return Ok(Content::NoLine(unless.remove(0)));
            }
            // 4.x (and several negated terms): some line matches none of them.
            all.push("^".into());
        }
        Ok(Content::Lines {
            all,
            unless,
            value,
            compare,
        })
    }

    /// A translated, `(?i)`-prefixed regex the Rust engine accepts.
    fn regex(&self, pat: &str) -> Result<String, String> {
        let body = match self.dialect {
            Dialect::OsRegex => osregex_to_rust(pat)?,
            Dialect::Pcre2 | Dialect::Auto => pat.to_string(),
        };
        let full = format!("(?i){body}");
        Regex::new(&full).map_err(|e| {
            let msg = e.to_string();
            let short = msg
                .lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .unwrap_or(&msg)
                .trim_start_matches("error: ")
                .to_string();
            format!("regex {pat:?} is not supported by the Rust engine: {short}")
        })?;
        Ok(full)
    }
}

/// `kind` prefix (`r:`, `n:`), case-insensitive as in 4.x.
fn strip_kind<'a>(s: &'a str, kind: &str) -> Option<&'a str> {
    s.get(..kind.len())
        .filter(|h| h.eq_ignore_ascii_case(kind))
        .map(|_| &s[kind.len()..])
}

/// `REGEX compare OP N` → (regex, op, number).
fn numeric(s: &str) -> Result<(String, String, i64), String> {
    let (re, rest) = s
        .split_once(" compare ")
        .ok_or("numeric rule without ` compare `")?;
    let mut it = rest.split_whitespace();
    let (Some(op), Some(num), None) = (it.next(), it.next(), it.next()) else {
        return Err(format!("numeric comparison {rest:?} is not `OP NUMBER`"));
    };
    // 4.x policies also wrote `=`, `=>`, `=<` and `\!=`; their intent is unambiguous.
    let op = match op {
        "<" | "<=" | "==" | "!=" | ">=" | ">" => op,
        "=" => "==",
        "=>" => ">=",
        "=<" => "<=",
        "\\!=" => "!=",
        other => return Err(format!("unknown comparison operator {other:?}")),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("comparison value {num:?} is not an integer"))?;
    Ok((re.to_string(), op.to_string(), n))
}

fn file_content(path: Value, c: Content) -> Value {
    file_content_in(vec![("kind", Value::from("file")), ("path", path)], c)
}

/// A `file` check over a selection (`path`, or `under` and `name`) with a content expression.
fn file_content_in(selection: Vec<(&'static str, Value)>, c: Content) -> Value {
    let mut e = selection;
    match c {
        c @ Content::Lines { .. } => e.extend(native::lines_fields(&c)),
        Content::NoLine(re) => {
            // An SCA content rule on a missing file is not a pass.
            e.push(("no_line", re.into()));
            e.push(("missing", "fail".into()));
        }
        Content::Whole(re) => e.push(("content", re.into())),
    }
    map(e)
}

/// `not X`: the check passes when X does not.
fn negate(check: Value, negated: bool) -> Value {
    if !negated {
        return check;
    }
    map(vec![
        ("kind", "none".into()),
        ("checks", Value::Sequence(vec![check])),
    ])
}

fn paths(s: &str) -> Result<Vec<String>, String> {
    let out: Vec<String> = s
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    if out.is_empty() {
        return Err("empty path".into());
    }
    for p in &out {
        if let Some(i) = p.find('$') {
            return Err(format!("undefined variable in path {p:?} at {:?}", &p[i..]));
        }
        if !p.starts_with('/') {
            return Err(format!(
                "path {p:?} is not absolute (Windows or unexpanded variable)"
            ));
        }
        if p.split('/').any(|c| c == "..") {
            return Err(format!("path {p:?} contains `..`"));
        }
        let dir = p.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        if dir.contains(['*', '?', '[']) {
            return Err(format!("path {p:?} has a glob before its last component"));
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------------- commands

/// Where Debian and Ubuntu install programs SCA policies call by name. A name not listed is not
/// guessed: the rule is reported instead.
const PROGRAMS: &[(&str, &str)] = &[
    ("aa-status", "/usr/sbin/aa-status"),
    ("apparmor_status", "/usr/sbin/apparmor_status"),
    ("apt-cache", "/usr/bin/apt-cache"),
    ("auditctl", "/usr/sbin/auditctl"),
    ("augenrules", "/usr/sbin/augenrules"),
    ("cat", "/usr/bin/cat"),
    ("chage", "/usr/bin/chage"),
    ("dpkg", "/usr/bin/dpkg"),
    ("dpkg-query", "/usr/bin/dpkg-query"),
    ("find", "/usr/bin/find"),
    ("findmnt", "/usr/bin/findmnt"),
    ("getent", "/usr/bin/getent"),
    ("grep", "/usr/bin/grep"),
    ("ip6tables", "/usr/sbin/ip6tables"),
    ("iptables", "/usr/sbin/iptables"),
    ("journalctl", "/usr/bin/journalctl"),
    ("lsmod", "/usr/sbin/lsmod"),
    ("modprobe", "/usr/sbin/modprobe"),
    ("mount", "/usr/bin/mount"),
    ("nft", "/usr/sbin/nft"),
    ("nmcli", "/usr/bin/nmcli"),
    ("passwd", "/usr/bin/passwd"),
    ("ps", "/usr/bin/ps"),
    ("ss", "/usr/bin/ss"),
    ("sshd", "/usr/sbin/sshd"),
    ("stat", "/usr/bin/stat"),
    ("sudo", "/usr/bin/sudo"),
    ("sysctl", "/usr/sbin/sysctl"),
    ("systemctl", "/usr/bin/systemctl"),
    ("timedatectl", "/usr/bin/timedatectl"),
    ("ufw", "/usr/sbin/ufw"),
    ("useradd", "/usr/sbin/useradd"),
];

fn resolve_program(name: &str) -> Result<String, String> {
    let base = name.rsplit('/').next().unwrap_or(name);
    if matches!(base, "sh" | "bash" | "dash" | "zsh") {
        return Err(format!(
            "runs a shell script (`{base} -c ...`); command checks run programs without a shell"
        ));
    }
    if name.starts_with('/') {
        return Ok(name.to_string());
    }
    PROGRAMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| p.to_string())
        .ok_or_else(|| format!("program {name:?} has no known absolute path"))
}

/// Splits a command line into argv like a POSIX shell would for plain words and quotes, and refuses
/// anything that needs a shell (pipes, redirections, expansions, globs, command lists).
fn split_command(s: &str) -> Result<Vec<String>, String> {
    let needs_shell = |c: char| format!("needs a shell (`{c}`); commands run without one");
    let mut argv = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    argv.push(std::mem::take(&mut cur));
                    in_word = false;
                }
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
                        Some(x @ ('$' | '`')) => return Err(needs_shell(x)),
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
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' | '{' | '~' => {
                return Err(needs_shell(c));
            }
            '#' if !in_word => return Err(needs_shell(c)),
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        argv.push(cur);
    }
    if argv.is_empty() {
        return Err("empty command".into());
    }
    Ok(argv)
}

// ---------------------------------------------------------------------------------- regexes

/// OSRegex character classes, as documented by Wazuh for 4.x.
const OS_W: &str = "[A-Za-z0-9_@-]";
const OS_NOT_W: &str = "[^A-Za-z0-9_@-]";
const OS_P: &str = r#"[()*+,\-.:;<=>?\[\]!"'#$%&|{}]"#;

/// Rewrites an OSRegex pattern into Rust regex syntax (without the case flag).
///
/// OSRegex has few operators: `^` and `$` at the ends of an alternative, `|` between alternatives,
/// one level of `( )` for captures, backslash classes (`\w \d \s \p \W \D \S \.` and `\t`), each
/// optionally followed by `+` or `*`, and backslash escapes for `( ) \ $ | <`. Everything else is a
/// literal character, including `.`, `[`, `?` and a `+`/`*` after a literal.
pub fn osregex_to_rust(p: &str) -> Result<String, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut depth = 0;
    let mut alt_start = true;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let at_alt_end = next.is_none() || (next == Some('|') && depth == 0);
        match c {
            '^' if alt_start => out.push('^'),
            '$' if at_alt_end => out.push('$'),
            '|' => {
                if depth != 0 {
                    return Err(format!("OSRegex {p:?}: `|` inside parentheses is invalid"));
                }
                out.push('|');
                alt_start = true;
                i += 1;
                continue;
            }
            '(' => {
                depth += 1;
                if depth > 1 {
                    return Err(format!("OSRegex {p:?}: nested parentheses are invalid"));
                }
                out.push('(');
            }
            ')' => {
                if depth == 0 {
                    return Err(format!("OSRegex {p:?}: unbalanced `)`"));
                }
                depth -= 1;
                out.push(')');
            }
            '\\' => {
                let Some(e) = next else {
                    return Err(format!("OSRegex {p:?}: trailing backslash"));
                };
                let class = match e {
                    'd' => "[0-9]".to_string(),
                    'w' => OS_W.to_string(),
                    's' => " ".to_string(),
                    'p' => OS_P.to_string(),
                    'D' => "[^0-9]".to_string(),
                    'W' => OS_NOT_W.to_string(),
                    'S' => "[^ ]".to_string(),
                    '.' => ".".to_string(),
                    't' => "\\t".to_string(),
                    '(' | ')' | '\\' | '$' | '|' | '<' => regex::escape(&e.to_string()),
                    other => return Err(format!("OSRegex {p:?}: `\\{other}` is not an escape")),
                };
                out.push_str(&class);
                i += 2;
                if let Some(q @ ('+' | '*')) = chars.get(i).copied() {
                    out.push(q);
                    i += 1;
                }
                alt_start = false;
                continue;
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
        alt_start = false;
        i += 1;
    }
    if depth != 0 {
        return Err(format!("OSRegex {p:?}: unbalanced `(`"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(dialect: Dialect) -> Translator<'static> {
        static ALLOWED: std::sync::LazyLock<AllowList> =
            std::sync::LazyLock::new(AllowList::default);
        Translator {
            dialect,
            vars: &[],
            allowed: &ALLOWED,
        }
    }

    #[test]
    fn osregex_is_rewritten_to_rust_syntax() {
        let cases = [
            (
                r"^\s*\t*deny\s*\t*=\s*\t*(\d+)",
                r"^ *\t*deny *\t*= *\t*([0-9]+)",
            ),
            (r"12.", r"12\."),
            (r"\.*.conf", r".*\.conf"),
            (r"^root:\w+", r"^root:[A-Za-z0-9_@-]+"),
            (r"a$|^b", r"a$|^b"),
            (r"x$y", r"x\$y"),
            (r"\(x\)\$", r"\(x\)\$"),
            (r"a+", r"a\+"),
        ];
        for (os, rust) in cases {
            assert_eq!(osregex_to_rust(os).expect(os), rust, "{os}");
            Regex::new(rust).expect(rust);
        }
        assert!(osregex_to_rust(r"\q").is_err());
        assert!(osregex_to_rust("(a|b)").is_err());
        assert!(osregex_to_rust("((a))").is_err());
        assert!(osregex_to_rust("(a").is_err());
    }

    #[test]
    fn commands_split_without_a_shell() {
        assert_eq!(
            split_command(r#"sshd -T -C "user=root" 'a b'"#).expect("split"),
            vec!["sshd", "-T", "-C", "user=root", "a b"]
        );
        for bad in [
            "a | b",
            "a > f",
            "a $(b)",
            "ls /etc/*.conf",
            "a; b",
            "x \"$HOME\"",
            "'open",
        ] {
            assert!(split_command(bad).is_err(), "{bad}");
        }
        assert!(resolve_program("frobnicate").is_err());
        assert!(
            resolve_program("sh")
                .expect_err("shell")
                .contains("without a shell")
        );
        assert_eq!(resolve_program("sshd").as_deref(), Ok("/usr/sbin/sshd"));
    }

    #[test]
    fn content_terms_map_to_line_conjunctions() {
        let Content::Lines {
            all, unless, value, ..
        } = tr(Dialect::Pcre2)
            .content(
                r"!r:^\s*# && r:pam_faillock\.so && n:deny\s*=\s*(\d+) compare <= 5",
                false,
            )
            .expect("content")
        else {
            panic!("lines expected");
        };
        assert_eq!(all, [r"(?i)deny\s*=\s*(\d+)", r"(?i)pam_faillock\.so"]);
        assert_eq!(unless, [r"(?i)^\s*#"]);
        assert_eq!(value.as_deref(), Some("<= 5"));
        assert!(matches!(
            tr(Dialect::Pcre2).content("!r:^PASS", false),
            Ok(Content::NoLine(_))
        ));
        let Ok(Content::Lines { all, unless, .. }) =
            tr(Dialect::OsRegex).content("!r:^PASS", false)
        else {
            panic!("4.x reading expected");
        };
        assert_eq!(
            (all.as_slice(), unless.as_slice()),
            (&["^".to_string()][..], &["(?i)^PASS".to_string()][..])
        );
        for (bad, why) in [
            (r"r:(?=x)y", "Rust engine"),
            (r"r:(a)\1", "Rust engine"),
            (r"n:\d+ compare <= 1", "capture group"),
            (r"n:x(\d+) compare ~ 1", "operator"),
            (r"!n:x(\d+) compare < 1", "negated numeric"),
        ] {
            match tr(Dialect::Pcre2).content(bad, false) {
                Err(e) => assert!(e.contains(why), "{bad}: {e}"),
                Ok(_) => panic!("{bad} should not translate"),
            }
        }
    }

    proptest::proptest! {
        /// Hostile rule strings are translated or listed, never a panic, and whatever is kept loads.
        #[test]
        fn arbitrary_rules_never_panic(
            rules in proptest::collection::vec(
                proptest::string::string_regex(
                    r"(not )?[fdcpr!x]:[/a-z$ ]{0,6}( -> ([!]?[rn]:)?[a-z()\\.*+?|^$\[\]{}0-9 ]{0,10}( compare [<>=!]{1,2} -?[0-9]{1,3})?( && )?){0,3}",
                )
                .expect("strategy"),
                1..4,
            ),
            dialect in proptest::sample::select(vec![Dialect::Auto, Dialect::OsRegex, Dialect::Pcre2]),
        ) {
            let body: String = rules
                .iter()
                .map(|r| format!("      - {}\n", serde_norway::to_string(r).unwrap_or_default().trim_end()))
                .collect();
            let text = format!(
                "policy: {{id: fuzz}}\nchecks:\n  - id: 1\n    name: n\n    condition: any\n    rules:\n{body}"
            );
            let opts = ImportOptions { dialect, ..ImportOptions::default() };
            let imp = import_sca(&text, "fuzz.yml", &opts).expect("a well-formed policy imports");
            proptest::prop_assert_eq!(imp.translated + imp.untranslated.len(), 1);
        }
    }

    #[test]
    fn requirements_become_platforms() {
        let v: Value = serde_norway::from_str(
            "condition: all\nrules:\n  - 'f:/etc/debian_version -> r:12\\.'\n  - 'f:/proc/sys/kernel/ostype -> Linux'\n  - 'f:/etc/os-release -> r:NAME= && r:Debian'\n  - 'f:/etc/hostname -> r:web'\n",
        )
        .expect("yaml");
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        let p = requirements(Some(&v), &mut out, &mut notes);
        assert_eq!(
            serde_norway::to_string(&p).expect("yaml"),
            "- os: debian\n  versions:\n  - '12'\n"
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].rule.as_deref(), Some("f:/etc/hostname -> r:web"));
        assert_eq!(notes.len(), 1);
    }
}
