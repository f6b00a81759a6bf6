//! One OSV document (<https://ossf.github.io/osv-schema/>) read into an [`Advisory`]: the entries
//! of the distributions Vigil matches, their ECOSYSTEM ranges and explicit version lists, the CVE
//! aliases and a severity.
//!
//! Unknown fields are ignored (the schema grows); what Vigil relies on is checked and reported
//! with the field it is in. Entries of other ecosystems (PyPI, npm, …) are dropped, so a document
//! about a library only is valid and matches nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cvss;
use super::ecosystem::{Distro, Ecosystem, OsvEcosystem};

/// The longest identifier, package name or version accepted.
const MAX_TOKEN: usize = 256;

/// An advisory as Vigil keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// OSV id (`DSA-5678-1`, `USN-6000-1`, `RLSA-2024:1234`, `CVE-2024-1234`).
    pub id: String,
    /// Last modification (RFC 3339, as given).
    pub modified: String,
    /// Publication (RFC 3339, as given), empty when absent.
    #[serde(default)]
    pub published: String,
    /// One-line summary (or the start of the details).
    #[serde(default)]
    pub summary: String,
    /// CVE ids the advisory covers (aliases, upstream ids, or its own id), sorted.
    #[serde(default)]
    pub cves: Vec<String>,
    /// `critical`, `high`, `medium` or `low`, when the advisory says.
    #[serde(default)]
    pub severity: Option<String>,
    /// CVSS v3 base score, when the advisory gives a v3 vector.
    #[serde(default)]
    pub cvss: Option<f64>,
    /// Withdrawn advisories are kept but match nothing.
    #[serde(default)]
    pub withdrawn: bool,
    /// Affected packages of the distributions Vigil matches.
    pub affected: Vec<Affected>,
}

/// One affected package of one distribution release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The release.
    pub ecosystem: Ecosystem,
    /// Package name as the advisory gives it (Debian and Ubuntu: the source package).
    pub package: String,
    /// ECOSYSTEM ranges, each a list of events.
    #[serde(default)]
    pub ranges: Vec<Vec<Event>>,
    /// Versions listed as affected.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Windows: the updates that fix it (`KB5044380`), from `ecosystem_specific.kb`; a host
    /// with one of them installed is not affected whatever its build says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kbs: Vec<String>,
}

/// A range event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Affected from this version on (`0`: from the beginning).
    Introduced(String),
    /// Not affected from this version on.
    Fixed(String),
    /// Affected up to and including this version.
    LastAffected(String),
}

/// Why a document was refused: the place (`line 3 column 5`, `affected[0].ranges[1]`) and what
/// was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsvError {
    /// Line in the document, when the JSON parser knows it.
    pub line: Option<usize>,
    /// What was wrong.
    pub message: String,
}

impl std::fmt::Display for OsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Deserialize)]
struct RawOsv {
    id: String,
    #[serde(default)]
    modified: String,
    #[serde(default)]
    published: String,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    upstream: Vec<String>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    severity: Vec<RawSeverity>,
    #[serde(default)]
    affected: Vec<RawAffected>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct RawAffected {
    #[serde(default)]
    package: Option<RawPackage>,
    #[serde(default)]
    severity: Vec<RawSeverity>,
    #[serde(default)]
    ranges: Vec<RawRange>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    database_specific: Option<Value>,
    #[serde(default)]
    ecosystem_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
    limit: Option<String>,
}

/// Parses one OSV JSON document.
///
/// # Errors
/// [`OsvError`] with the line of a JSON or type error, or the field of a semantic one.
pub fn parse(text: &str) -> Result<Advisory, OsvError> {
    let raw: RawOsv = serde_json::from_str(text).map_err(|e| OsvError {
        line: (e.line() > 0).then_some(e.line()),
        message: e.to_string(),
    })?;
    let err = |message: String| OsvError {
        line: None,
        message,
    };
    check_token("id", &raw.id).map_err(err)?;
    let mut affected = Vec::new();
    let mut words = Vec::new();
    for (i, a) in raw.affected.iter().enumerate() {
        if let Some(e) = convert_affected(a).map_err(|m| err(format!("affected[{i}].{m}")))? {
            affected.push(e);
        }
        words.extend(severity_words(&a.severity, a.database_specific.as_ref()));
    }
    words.extend(severity_words(
        &raw.severity,
        raw.database_specific.as_ref(),
    ));
    let cvss = raw
        .severity
        .iter()
        .chain(raw.affected.iter().flat_map(|a| &a.severity))
        .filter_map(|s| cvss::base_score_v3(&s.score))
        .reduce(f64::max);
    let severity = cvss
        .and_then(cvss::rating)
        .or_else(|| words.into_iter().max_by_key(|w| rank(w)))
        .map(str::to_string);
    let mut cves: Vec<String> = std::iter::once(&raw.id)
        .chain(&raw.aliases)
        .chain(&raw.upstream)
        .filter(|a| is_cve(a))
        .cloned()
        .collect();
    cves.sort();
    cves.dedup();
    let summary = if raw.summary.trim().is_empty() {
        raw.details.lines().next().unwrap_or_default()
    } else {
        raw.summary.as_str()
    };
    Ok(Advisory {
        id: raw.id,
        modified: raw.modified,
        published: raw.published,
        summary: summary.chars().take(300).collect(),
        cves,
        severity,
        cvss,
        withdrawn: raw.withdrawn.is_some(),
        affected,
    })
}

fn convert_affected(a: &RawAffected) -> Result<Option<Affected>, String> {
    let Some(p) = &a.package else {
        return Ok(None);
    };
    let ecosystem = match Ecosystem::parse_osv(&p.ecosystem) {
        OsvEcosystem::Known(e) => e,
        OsvEcosystem::NoRelease | OsvEcosystem::Other => return Ok(None),
    };
    check_token("package.name", &p.name)?;
    let package = if ecosystem.distro == Distro::Windows {
        if !p.name.eq_ignore_ascii_case("windows") {
            return Err(format!(
                "package.name: Windows entries are about the OS itself, named \"Windows\" \
                 (not {:?})",
                p.name
            ));
        }
        "Windows".to_string()
    } else {
        p.name.clone()
    };
    let mut ranges = Vec::new();
    for (j, r) in a.ranges.iter().enumerate() {
        if r.kind != "ECOSYSTEM" {
            continue; // GIT and SEMVER ranges do not describe distribution packages
        }
        let events = r
            .events
            .iter()
            .enumerate()
            .map(|(k, e)| convert_event(e).map_err(|m| format!("ranges[{j}].events[{k}]: {m}")))
            .collect::<Result<Vec<_>, _>>()?;
        if !events.iter().any(|e| matches!(e, Event::Introduced(_))) {
            return Err(format!("ranges[{j}]: no \"introduced\" event"));
        }
        ranges.push(events);
    }
    for (k, v) in a.versions.iter().enumerate() {
        check_token(&format!("versions[{k}]"), v)?;
    }
    if ecosystem.distro == Distro::Windows {
        windows_builds(&ecosystem.release, &mut ranges)?;
    }
    let kbs = kbs(a.ecosystem_specific.as_ref())?;
    if ecosystem.distro == Distro::Windows && ranges.is_empty() && kbs.is_empty() {
        return Err(
            "a Windows entry names a fixed build (ranges) or the updates that fix it \
                    (ecosystem_specific.kb)"
                .into(),
        );
    }
    Ok(Some(Affected {
        ecosystem,
        package,
        ranges,
        versions: a.versions.clone(),
        kbs,
    }))
}

/// Windows range events are builds of the entry's release: `22631.3296`, or `10.0.22631.3296` as
/// Microsoft writes them (the `10.0.` is dropped, so they compare with the hosts' builds).
fn windows_builds(release: &str, ranges: &mut [Vec<Event>]) -> Result<(), String> {
    for (j, r) in ranges.iter_mut().enumerate() {
        for (k, ev) in r.iter_mut().enumerate() {
            let (Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v)) = ev;
            if v == "0" {
                continue;
            }
            let short = v.strip_prefix("10.0.").unwrap_or(v);
            let mut parts = short.split('.');
            let ok = parts.next() == Some(release)
                && parts.next().is_some_and(|u| {
                    !u.is_empty() && u.len() <= 9 && u.bytes().all(|b| b.is_ascii_digit())
                })
                && parts.next().is_none();
            if !ok {
                return Err(format!(
                    "ranges[{j}].events[{k}]: {v:?} is not a build of Windows:{release} \
                     (expected {release}.<revision>)"
                ));
            }
            *v = short.to_string();
        }
    }
    Ok(())
}

/// `ecosystem_specific.kb`: a list of update ids, `KB` and digits (`5044380` alone is taken as
/// `KB5044380`).
fn kbs(specific: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(list) = specific.and_then(|v| v.get("kb")) else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err("ecosystem_specific.kb: expected a list of update ids (\"KB5044380\")".into());
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let id = v.as_str().map(str::trim).unwrap_or_default();
        let digits = id
            .strip_prefix("KB")
            .or_else(|| id.strip_prefix("kb"))
            .unwrap_or(id);
        if !(4..=9).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "ecosystem_specific.kb[{i}]: expected an update id such as \"KB5044380\""
            ));
        }
        out.push(format!("KB{digits}"));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn convert_event(e: &RawEvent) -> Result<Event, String> {
    let ev = match (&e.introduced, &e.fixed, &e.last_affected, &e.limit) {
        (Some(v), None, None, None) => Event::Introduced(v.clone()),
        (None, Some(v), None, None) => Event::Fixed(v.clone()),
        (None, None, Some(v), None) => Event::LastAffected(v.clone()),
        (None, None, None, Some(_)) => return Err("\"limit\" applies to GIT ranges only".into()),
        _ => return Err("an event names exactly one of introduced, fixed, last_affected".into()),
    };
    let (Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v)) = &ev;
    check_token("version", v)?;
    Ok(ev)
}

fn check_token(field: &str, v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        return Err(format!("{field}: empty"));
    }
    if v.len() > MAX_TOKEN {
        return Err(format!("{field}: longer than {MAX_TOKEN} bytes"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{field}: control character"));
    }
    Ok(())
}

fn is_cve(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CVE-") else {
        return false;
    };
    let Some((y, n)) = rest.split_once('-') else {
        return false;
    };
    y.len() == 4
        && n.len() >= 4
        && n.len() <= 19
        && y.bytes().chain(n.bytes()).all(|b| b.is_ascii_digit())
}

/// Severity words an advisory gives: Ubuntu's priority, `database_specific.severity`.
fn severity_words(sev: &[RawSeverity], db: Option<&Value>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = sev
        .iter()
        .filter(|s| s.kind == "Ubuntu")
        .filter_map(|s| word(&s.score))
        .collect();
    if let Some(w) = db
        .and_then(|d| d.get("severity"))
        .and_then(Value::as_str)
        .and_then(word)
    {
        out.push(w);
    }
    out
}

fn word(s: &str) -> Option<&'static str> {
    match s.trim().to_ascii_lowercase().as_str() {
        "critical" => Some("critical"),
        "high" | "important" => Some("high"),
        "medium" | "moderate" => Some("medium"),
        "low" | "negligible" => Some("low"),
        _ => None,
    }
}

/// Order of severity words, for taking the worst.
pub fn rank(s: &str) -> u8 {
    match s {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}
