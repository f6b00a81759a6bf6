//! Pure evaluation of a pack over a [`HostFacts`].
//!
//! Each rule yields exactly one [`CheckResult`]; one rule's error never affects another. Rules run
//! on a few scoped threads that share one [`Cache`], so every file and database is read and parsed
//! once per run. A check yields pass, fail or error; the rule's `condition` combines them: an error
//! makes the rule `error` unless the other checks already decide it (`all` with a failure, `any`
//! with a pass).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use vigil_proto::{CheckResult, FileType, Status};

use crate::cache::{Account, Cache, FactError};
use crate::compare::{CmpMode, Comparison, Operand, parse_timespan};
use crate::facts::HostFacts;
use crate::pack::{
    Check, CommandCheck, Condition, DirCheck, FileCheck, Level, LineCompare, ListeningCheck,
    Missing, MountCheck, Occurrence, OneOrMany, Pack, PackageCheck, PamCheck, Patterns, Platform,
    Proto, Rule, ServiceCheck, SysctlCheck, SysctlSource, UserCheck, UserField, UserSelect,
};
use crate::systemd;

mod native;
mod query;

pub(crate) use query::{dpkg_status_text, rpm_query_text};

/// Evidence longer than this is cut (a rule listing hundreds of accounts stays readable).
const MAX_EVIDENCE: usize = 600;

/// Evaluates every rule of `pack` at security `level`. Results are in pack order.
pub fn evaluate(pack: &Pack, facts: &dyn HostFacts, level: Level) -> Vec<CheckResult> {
    let cache = Cache::new(facts);
    let platform = platform_match(&cache, &pack.applies_to);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
        .min(pack.rules.len().max(1));
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<CheckResult>> = vec![None; pack.rules.len()];
    let _span = tracing::debug_span!("check_run", pack = %pack.id, %level).entered();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(rule) = pack.rules.get(i) else { break };
                        done.push((i, evaluate_rule(pack, rule, &cache, level, &platform)));
                    }
                    done
                })
            })
            .collect();
        for w in workers {
            // A worker only panics on a bug; the rules it had taken are reported as errors below.
            if let Ok(done) = w.join() {
                for (i, r) in done {
                    slots[i] = Some(r);
                }
            }
        }
    });
    slots
        .into_iter()
        .zip(&pack.rules)
        .map(|(r, rule)| {
            r.unwrap_or_else(|| result(pack, rule, Status::Error, "internal error".into()))
        })
        .collect()
}

/// The text the read-only command `q` would print on `facts`, computed natively (`query` checks).
///
/// # Errors
/// A message when a fact it needs is unknown (offline runtime state) or unreadable.
pub fn query_text(q: &crate::query::Query, facts: &dyn HostFacts) -> Result<String, String> {
    query::render(&Cache::new(facts), q)
}

/// Whether `pack` applies to the host's OS (`None` when os-release cannot be read).
pub fn pack_applies(pack: &Pack, facts: &dyn HostFacts) -> Option<bool> {
    let cache = Cache::new(facts);
    platform_match(&cache, &pack.applies_to)
        .ok()
        .map(|why| why.is_none())
}

/// Applicability of a platform list: `Ok(None)` applies, `Ok(Some(why))` does not, `Err` unknown.
fn platform_match(cache: &Cache<'_>, conds: &[Platform]) -> Result<Option<String>, String> {
    if conds.is_empty() {
        return Ok(None);
    }
    let os = cache
        .os_release()
        .map_err(|e| format!("cannot read os-release: {}", e.message()))?;
    let hit = conds.iter().any(|c| {
        let os_ok = os.id == c.os.to_ascii_lowercase()
            || (!c.exact && os.id_like.iter().any(|l| *l == c.os.to_ascii_lowercase()));
        // A version names a release and its point releases: "9" accepts VERSION_ID 9 and 9.4.
        let version_ok = |v: &String| {
            os.version_id == *v
                || os
                    .version_id
                    .strip_prefix(v.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        };
        os_ok && (c.versions.is_empty() || c.versions.iter().any(version_ok))
    });
    if hit {
        return Ok(None);
    }
    let wanted: Vec<String> = conds
        .iter()
        .map(|c| {
            if c.versions.is_empty() {
                c.os.clone()
            } else {
                format!("{} {}", c.os, c.versions.join("/"))
            }
        })
        .collect();
    Ok(Some(format!(
        "applies to {}; host is {} {}",
        wanted.join(", "),
        if os.id.is_empty() { "unknown" } else { &os.id },
        os.version_id
    )))
}

fn result(pack: &Pack, rule: &Rule, status: Status, evidence: String) -> CheckResult {
    let mut evidence = evidence;
    if evidence.len() > MAX_EVIDENCE {
        let mut cut = MAX_EVIDENCE;
        while !evidence.is_char_boundary(cut) {
            cut -= 1;
        }
        evidence.truncate(cut);
        evidence.push('…');
    }
    CheckResult {
        rule_id: rule.id.clone(),
        pack: format!("{}@{}", pack.id, pack.version),
        status,
        severity: rule.severity,
        group: rule.group.as_str().to_string(),
        controls: rule.controls.clone(),
        evidence,
    }
}

fn evaluate_rule(
    pack: &Pack,
    rule: &Rule,
    cache: &Cache<'_>,
    level: Level,
    platform: &Result<Option<String>, String>,
) -> CheckResult {
    match platform {
        Err(e) => return result(pack, rule, Status::Error, e.clone()),
        Ok(Some(why)) => return result(pack, rule, Status::NotApplicable, why.clone()),
        Ok(None) => {}
    }
    match platform_match(cache, &rule.applies_to) {
        Err(e) => return result(pack, rule, Status::Error, e),
        Ok(Some(why)) => return result(pack, rule, Status::NotApplicable, why),
        Ok(None) => {}
    }
    if let Some(min) = rule.min_level
        && level < min
    {
        let why = format!("applies from security level {min}; host level is {level}");
        return result(pack, rule, Status::NotApplicable, why);
    }
    let ctx = Ctx { cache, rule, level };
    let o = ctx.group(rule.condition, &rule.checks);
    result(pack, rule, o.status, o.evidence)
}

/// What a `command` or `query` check expects of the output.
struct OutputMatch<'a> {
    output: Option<&'a crate::pack::Pattern>,
    no_output: Option<&'a crate::pack::Pattern>,
    line: Option<&'a Patterns>,
    line_unless: Option<&'a Patterns>,
    value: Option<&'a Comparison>,
    occurrence: Occurrence,
    compare: Option<&'a Vec<LineCompare>>,
}

/// Outcome of one check.
#[derive(Debug, Clone)]
struct Outcome {
    status: Status,
    evidence: String,
}

fn pass(e: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Pass,
        evidence: e.into(),
    }
}
fn fail(e: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Fail,
        evidence: e.into(),
    }
}
fn error(e: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Error,
        evidence: e.into(),
    }
}
fn verdict(ok: bool, e: impl Into<String>) -> Outcome {
    if ok { pass(e) } else { fail(e) }
}

struct Ctx<'c, 'a> {
    cache: &'c Cache<'a>,
    rule: &'c Rule,
    level: Level,
}

impl Ctx<'_, '_> {
    fn group(&self, cond: Condition, checks: &[Check]) -> Outcome {
        let outs: Vec<Outcome> = checks.iter().map(|c| self.check(c)).collect();
        let n = |s: Status| outs.iter().filter(|o| o.status == s).count();
        let join = |s: Option<Status>| {
            outs.iter()
                .filter(|o| s.is_none_or(|s| o.status == s))
                .map(|o| o.evidence.as_str())
                .filter(|e| !e.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        };
        let (passes, fails, errors) = (n(Status::Pass), n(Status::Fail), n(Status::Error));
        match cond {
            Condition::All if fails > 0 => fail(join(Some(Status::Fail))),
            Condition::All if errors > 0 => error(join(Some(Status::Error))),
            Condition::All => pass(join(None)),
            Condition::Any if passes > 0 => pass(join(Some(Status::Pass))),
            Condition::Any if errors > 0 => error(join(Some(Status::Error))),
            Condition::Any => fail(join(None)),
            Condition::None if passes > 0 => fail(join(Some(Status::Pass))),
            Condition::None if errors > 0 => error(join(Some(Status::Error))),
            Condition::None => pass(join(None)),
        }
    }

    fn check(&self, c: &Check) -> Outcome {
        match c {
            Check::File(f) => self.file(f),
            Check::Dir(d) => self.dir(d),
            Check::Sysctl(s) => self.sysctl(s),
            Check::Service(s) => self.service(s),
            Check::Package(p) => self.package(p),
            Check::User(u) => self.user(u),
            Check::Pam(p) => self.pam(p),
            Check::Mount(m) => self.mount(m),
            Check::Listening(l) => self.listening(l),
            Check::Command(c) => self.command(c),
            Check::Selinux(s) => self.selinux(s),
            Check::Boot(b) => self.boot(b),
            Check::Process(p) => self.process(p),
            Check::Query(q) => self.query(q),
            Check::Registry(r) => error(format!("registry key {}: not a Windows host", r.key)),
            Check::All(n) => self.group(Condition::All, &n.checks),
            Check::Any(n) => self.group(Condition::Any, &n.checks),
            Check::None(n) => self.group(Condition::None, &n.checks),
        }
    }

    /// Resolves an operand at the evaluated level.
    fn resolve(&self, o: &Operand) -> String {
        match o {
            Operand::Literal(l) => l.clone(),
            // Unknown parameters are rejected at load time; an empty value never satisfies an
            // ordering, so a hand-built pack with a bad reference fails safe.
            Operand::Param(p) => self
                .rule
                .params
                .get(p)
                .map(|v| v.at(self.level).to_string())
                .unwrap_or_default(),
        }
    }

    fn holds(&self, cmp: &Comparison, actual: &str, mode: CmpMode) -> Result<bool, String> {
        cmp.holds(actual, &self.resolve(&cmp.operand), mode)
    }

    fn cmp_text(&self, cmp: &Comparison) -> String {
        match &cmp.operand {
            Operand::Param(_) => {
                format!(
                    "{} {}",
                    cmp.to_string().split(' ').next().unwrap_or(""),
                    self.resolve(&cmp.operand)
                )
            }
            Operand::Literal(_) => cmp.to_string(),
        }
    }

    fn expand_all(&self, paths: &[String]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for p in paths {
            out.extend(self.cache.expand(p).map_err(|e| e.message())?);
        }
        Ok(out)
    }

    fn file(&self, f: &FileCheck) -> Outcome {
        let (found, shown) = match self.file_paths(f) {
            Ok(v) => v,
            Err(e) => return error(e),
        };
        // Only existing regular files (or dirs for attribute checks) count; dangling links don't.
        let mut files = Vec::new();
        for p in found {
            match self.cache.stat(&p) {
                Ok(_) => files.push(p),
                Err(FactError::NotFound(_)) => {}
                Err(e) => return error(e.message()),
            }
        }
        if f.exists == Some(false) {
            return verdict(
                files.is_empty(),
                if files.is_empty() {
                    format!("{shown} absent")
                } else {
                    format!("{} exists", files.join(", "))
                },
            );
        }
        if files.is_empty() {
            if f.missing == Some(Missing::Pass) {
                return pass(format!("{shown} absent"));
            }
            if f.key.is_some() && f.default.is_some() {
                // Fall through: the key is unset everywhere, so the default applies.
            } else if f.no_line.is_some()
                && f.line.is_none()
                && f.compare.is_none()
                && f.content.is_none()
                && f.key.is_none()
                && f.max_mode.is_none()
                && f.owner.is_none()
                && f.group.is_none()
                && f.exists.is_none()
            {
                return pass(format!("{shown} absent"));
            } else {
                return fail(format!("{shown} not found"));
            }
        }
        let mut notes = Vec::new();
        for p in &files {
            if let Some(o) = self.attrs(
                p,
                f.max_mode.map(|m| m.0),
                f.owner.as_ref(),
                f.group.as_ref(),
            ) {
                return o;
            }
            if let Some(age) = &f.max_age {
                let limit = self.resolve(age);
                let Some(secs) = parse_timespan(&limit) else {
                    return error(format!("max_age {limit:?} is not a duration"));
                };
                let st = match self.cache.stat(p) {
                    Ok(s) => s,
                    Err(e) => return error(e.message()),
                };
                let age = self
                    .cache
                    .host
                    .now()
                    .duration_since(st.mtime)
                    .unwrap_or(Duration::ZERO);
                let days = age.as_secs_f64() / 86_400.0;
                if age.as_secs_f64() > secs {
                    return fail(format!("{p} is {days:.1} days old (max {limit})"));
                }
                notes.push(format!("{p} is {days:.1} days old"));
            }
        }
        let needs_text = f.line.is_some()
            || f.compare.is_some()
            || f.no_line.is_some()
            || f.content.is_some()
            || f.key.is_some();
        if !needs_text {
            if notes.is_empty() {
                notes.push(format!("{} ok", files.join(", ")));
            }
            return pass(notes.join("; "));
        }
        let mut texts = Vec::new();
        for p in &files {
            match self.cache.stat(p) {
                Ok(st) if st.file_type == FileType::Dir => continue,
                _ => {}
            }
            match self.cache.text(p) {
                Ok(t) => texts.push((p.clone(), t)),
                Err(e) => return error(e.message()),
            }
        }
        if let Some(re) = &f.no_line {
            for (p, t) in &texts {
                if let Some(l) = t.lines().find(|l| re.0.is_match(l)) {
                    return fail(format!("{p}: {:?}", l.trim()));
                }
            }
            notes.push(format!("no line matches /{}/", re.0.as_str()));
        }
        if let Some(re) = &f.content {
            match texts.iter().find(|(_, t)| re.0.is_match(t)) {
                Some((p, _)) => notes.push(format!("{p} matches")),
                None => return fail(format!("no content in {shown} matches /{}/", re.0.as_str())),
            }
        }
        if f.line.is_some() || f.compare.is_some() {
            let mut hits: Vec<(String, String)> = Vec::new();
            for (p, t) in &texts {
                match self.line_values(
                    t,
                    f.line.as_ref(),
                    f.line_unless.as_ref(),
                    f.compare.as_ref(),
                ) {
                    Ok(v) => hits.extend(v.into_iter().map(|v| (p.clone(), v))),
                    Err(e) => return error(e),
                }
            }
            if hits.is_empty() {
                return fail(format!(
                    "no line in {shown} matches {}",
                    shown_line(f.line.as_ref(), f.line_unless.as_ref(), f.compare.as_ref())
                ));
            }
            match &f.value {
                None => notes.push(format!("{}: line matches", hits[0].0)),
                Some(cmp) => match self.pick(&hits, f.occurrence, cmp) {
                    Ok(o) if o.status != Status::Pass => return o,
                    Ok(o) => notes.push(o.evidence),
                    Err(e) => return error(e),
                },
            }
        }
        if let Some(key) = &f.key {
            let hits: Vec<(String, String)> = texts
                .iter()
                .flat_map(|(p, t)| {
                    crate::cache::key_values(t)
                        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                        .map(|(_, v)| (p.clone(), v.to_string()))
                        .collect::<Vec<_>>()
                })
                .collect();
            let hits = if hits.is_empty() {
                match &f.default {
                    Some(d) => vec![(format!("{key} unset, default"), d.clone())],
                    None => return fail(format!("{key} is not set in {shown}")),
                }
            } else {
                hits
            };
            match &f.value {
                None => notes.push(format!("{key} is set ({})", hits[0].0)),
                Some(cmp) => match self.pick(&hits, f.occurrence, cmp) {
                    Ok(o) if o.status != Status::Pass => return o,
                    Ok(o) => notes.push(o.evidence),
                    Err(e) => return error(e),
                },
            }
        }
        pass(notes.join("; "))
    }

    /// Compares the chosen occurrence(s) of `(file, value)` hits.
    fn pick(
        &self,
        hits: &[(String, String)],
        occ: Occurrence,
        cmp: &Comparison,
    ) -> Result<Outcome, String> {
        let chosen: Vec<&(String, String)> = match occ {
            Occurrence::First => hits.first().into_iter().collect(),
            Occurrence::Last => hits.last().into_iter().collect(),
            Occurrence::All | Occurrence::Any => hits.iter().collect(),
        };
        let want = self.cmp_text(cmp);
        if occ == Occurrence::Any {
            let mut last = None;
            for (p, v) in &chosen {
                if self.holds(cmp, v, CmpMode::Auto)? {
                    return Ok(pass(format!("{p}: {v:?} satisfies {want}")));
                }
                last = Some((p, v));
            }
            let (p, v) = last
                .map(|(p, v)| (p.as_str(), v.as_str()))
                .unwrap_or(("", ""));
            return Ok(fail(format!(
                "{p}: {v:?} does not satisfy {want} (nor does any other match)"
            )));
        }
        for (p, v) in &chosen {
            if !self.holds(cmp, v, CmpMode::Auto)? {
                return Ok(fail(format!("{p}: {v:?} does not satisfy {want}")));
            }
        }
        let (p, v) = chosen
            .last()
            .map(|h| (h.0.as_str(), h.1.as_str()))
            .unwrap_or(("", ""));
        Ok(pass(format!("{p}: {v:?} satisfies {want}")))
    }

    /// Mode/owner/group of one path; `Some(outcome)` when it fails or errs.
    fn attrs(
        &self,
        p: &str,
        max_mode: Option<u32>,
        owner: Option<&OneOrMany>,
        group: Option<&OneOrMany>,
    ) -> Option<Outcome> {
        if max_mode.is_none() && owner.is_none() && group.is_none() {
            return None;
        }
        let st = match self.cache.stat(p) {
            Ok(s) => s,
            Err(e) => return Some(error(e.message())),
        };
        if let Some(m) = max_mode
            && st.mode & !m != 0
        {
            return Some(fail(format!(
                "{p} has mode {:04o}, allowed at most {m:04o}",
                st.mode
            )));
        }
        let accounts = if owner.is_some() || group.is_some() {
            match self.cache.accounts() {
                Ok(a) => Some(a),
                Err(e) => return Some(error(format!("cannot resolve owners: {}", e.message()))),
            }
        } else {
            None
        };
        if let (Some(want), Some(acc)) = (owner, &accounts) {
            let ok = want.0.iter().any(|w| {
                w.parse::<u32>().ok() == Some(st.uid)
                    || acc.users.iter().any(|u| u.name == *w && u.uid == st.uid)
            });
            if !ok {
                return Some(fail(format!(
                    "{p} is owned by uid {}, expected {}",
                    st.uid,
                    want.0.join("|")
                )));
            }
        }
        if let (Some(want), Some(acc)) = (group, &accounts) {
            let ok = want.0.iter().any(|w| {
                w.parse::<u32>().ok() == Some(st.gid) || acc.groups.get(w) == Some(&st.gid)
            });
            if !ok {
                return Some(fail(format!(
                    "{p} has group gid {}, expected {}",
                    st.gid,
                    want.0.join("|")
                )));
            }
        }
        None
    }

    fn dir(&self, d: &DirCheck) -> Outcome {
        let mut dirs = Vec::new();
        for p in match self.expand_all(&d.path.0) {
            Ok(v) => v,
            Err(e) => return error(e),
        } {
            match self.cache.stat(&p) {
                Ok(st) if st.file_type == FileType::Dir => dirs.push(p),
                Ok(_) | Err(FactError::NotFound(_)) => {}
                Err(e) => return error(e.message()),
            }
        }
        let shown = d.path.0.join(", ");
        if d.exists == Some(false) {
            return verdict(
                dirs.is_empty(),
                format!(
                    "directory {shown} {}",
                    if dirs.is_empty() { "absent" } else { "exists" }
                ),
            );
        }
        if dirs.is_empty() {
            return if d.missing == Some(Missing::Pass) {
                pass(format!("{shown} absent"))
            } else {
                fail(format!("directory {shown} not found"))
            };
        }
        for p in &dirs {
            if let Some(o) = self.attrs(
                p,
                d.max_mode.map(|m| m.0),
                d.owner.as_ref(),
                d.group.as_ref(),
            ) {
                return o;
            }
            if d.entry.is_some() || d.no_entry.is_some() {
                let mut names = match self.cache.host.list_dir(p) {
                    Ok(n) => n,
                    Err(e) => return error(format!("{p}: {e}")),
                };
                names.sort();
                if let Some(re) = &d.no_entry
                    && let Some(n) = names.iter().find(|n| re.0.is_match(n))
                {
                    return fail(format!("{p} contains {n}"));
                }
                if let Some(re) = &d.entry
                    && !names.iter().any(|n| re.0.is_match(n))
                {
                    return fail(format!("{p} has no entry matching /{}/", re.0.as_str()));
                }
            }
        }
        pass(format!("{} ok", dirs.join(", ")))
    }

    fn sysctl(&self, s: &SysctlCheck) -> Outcome {
        let want = self.cmp_text(&s.value);
        let runtime_path = format!("/proc/sys/{}", s.key.replace('.', "/"));
        let runtime = if s.source == SysctlSource::Persistent {
            None
        } else {
            match self.cache.text(&runtime_path) {
                Ok(v) => Some(v.split_whitespace().collect::<Vec<_>>().join(" ")),
                Err(FactError::NotFound(_)) if s.source == SysctlSource::Effective => None,
                Err(e) => return error(e.message()),
            }
        };
        let persistent = if s.source == SysctlSource::Runtime {
            None
        } else {
            match self.cache.sysctl_persistent() {
                Ok(m) => m.get(&s.key).cloned(),
                Err(e) => return error(e.message()),
            }
        };
        let mut notes = Vec::new();
        let mut checked = false;
        if let Some(v) = &runtime {
            checked = true;
            match self.holds(&s.value, v, CmpMode::Auto) {
                Ok(true) => notes.push(format!("{} = {v}", s.key)),
                Ok(false) => return fail(format!("{} = {v} at runtime, expected {want}", s.key)),
                Err(e) => return error(e),
            }
        }
        if let Some((v, file)) = &persistent {
            checked = true;
            match self.holds(&s.value, v, CmpMode::Auto) {
                Ok(true) => notes.push(format!("{file} sets {} = {v}", s.key)),
                Ok(false) => return fail(format!("{file} sets {} = {v}, expected {want}", s.key)),
                Err(e) => return error(e),
            }
        }
        if checked {
            return pass(notes.join("; "));
        }
        match (&s.default, s.source) {
            (_, SysctlSource::Runtime) => error(format!("{runtime_path} not found")),
            (_, SysctlSource::Persistent) => fail(format!("{} is not set persistently", s.key)),
            (Some(d), _) => match self.holds(&s.value, d, CmpMode::Auto) {
                Ok(ok) => verdict(
                    ok,
                    format!(
                        "{} unset (offline), kernel default {d}, expected {want}",
                        s.key
                    ),
                ),
                Err(e) => error(e),
            },
            (None, _) => error(format!(
                "{} unknown: no {runtime_path} under the root and not set persistently",
                s.key
            )),
        }
    }

    fn service(&self, s: &ServiceCheck) -> Outcome {
        let unit = systemd::unit_name(&s.name);
        let st = systemd::unit_state(self.cache, &unit);
        let mut notes = Vec::new();
        if let Some(want) = s.masked {
            if st.masked != want {
                return fail(format!(
                    "{unit} is {}masked",
                    if st.masked { "" } else { "not " }
                ));
            }
            notes.push(format!(
                "{unit} {}masked",
                if st.masked { "" } else { "not " }
            ));
        }
        if let Some(want) = s.enabled {
            let is = st.enabled && !st.masked;
            let how = if st.masked {
                "masked".to_string()
            } else if !st.exists {
                "not installed".to_string()
            } else if is {
                format!("enabled ({})", st.enabled_by.as_deref().unwrap_or(""))
            } else {
                "disabled".to_string()
            };
            if is != want {
                return fail(format!("{unit} is {how}"));
            }
            notes.push(format!("{unit} is {how}"));
        }
        if let Some(want) = s.active {
            let is = if st.masked || (!st.exists && !want) {
                Ok(false)
            } else {
                systemd::unit_active(self.cache, &unit)
            };
            match is {
                Ok(is) if is != want => {
                    return fail(format!(
                        "{unit} is {}",
                        if is { "running" } else { "not running" }
                    ));
                }
                Ok(is) => notes.push(format!(
                    "{unit} is {}",
                    if is { "running" } else { "not running" }
                )),
                Err(e) => return error(e),
            }
        }
        pass(notes.join("; "))
    }

    fn package(&self, p: &PackageCheck) -> Outcome {
        let db = match self.cache.packages() {
            Ok(db) => db,
            Err(e) => return error(format!("package database: {}", e.message())),
        };
        match (db.newest(&p.name), p.installed) {
            (None, false) => pass(format!("{} not installed", p.name)),
            (None, true) => fail(format!("{} not installed", p.name)),
            (Some(v), false) => fail(format!("{} {v} is installed", p.name)),
            (Some(v), true) => match &p.version {
                None => pass(format!("{} {v} installed", p.name)),
                Some(cmp) => match self.holds(cmp, v, db.cmp_mode()) {
                    Ok(ok) => verdict(
                        ok,
                        format!(
                            "{} {v} installed, expected version {}",
                            p.name,
                            self.cmp_text(cmp)
                        ),
                    ),
                    Err(e) => error(e),
                },
            },
        }
    }

    fn user(&self, u: &UserCheck) -> Outcome {
        let acc = match self.cache.accounts() {
            Ok(a) => a,
            Err(e) => return error(format!("account database: {}", e.message())),
        };
        let needs_shadow = matches!(
            u.field,
            UserField::Password
                | UserField::LastChange
                | UserField::MinDays
                | UserField::MaxDays
                | UserField::WarnDays
                | UserField::Inactive
                | UserField::Expire
        ) || matches!(u.select, UserSelect::Login | UserSelect::HumanLogin);
        if needs_shadow && !acc.shadow_read {
            return error("/etc/shadow not found or unreadable");
        }
        let selected = acc.users.iter().filter(|a| {
            let by_select = match u.select {
                UserSelect::All => true,
                UserSelect::Login => a
                    .shadow
                    .as_ref()
                    .is_some_and(|s| !s[0].starts_with('!') && !s[0].starts_with('*')),
                UserSelect::Human => a.uid >= acc.uid_min && a.name != "nobody" && a.uid != 65534,
                UserSelect::System => a.uid > 0 && a.uid < acc.uid_min,
                UserSelect::HumanLogin => {
                    a.uid >= acc.uid_min
                        && a.uid != 65534
                        && a.shadow
                            .as_ref()
                            .is_some_and(|s| !s[0].starts_with(['!', '*']))
                }
            };
            by_select
                && u.names.as_ref().is_none_or(|n| n.contains(&a.name))
                && !u.allow.contains(&a.name)
        });
        let mut bad = Vec::new();
        let mut count = 0;
        for a in selected {
            count += 1;
            let v = field(a, u.field);
            match self.holds(&u.value, &v, CmpMode::Auto) {
                Ok(true) => {}
                Ok(false) => bad.push(if matches!(u.field, UserField::Password) {
                    // Never put password hashes into evidence.
                    a.name.clone()
                } else {
                    format!("{} ({v:?})", a.name)
                }),
                Err(e) => return error(e),
            }
        }
        let want = self.cmp_text(&u.value);
        if bad.is_empty() {
            pass(format!(
                "{count} account(s) checked, all satisfy {:?} {want}",
                u.field
            ))
        } else {
            fail(format!(
                "{:?} must satisfy {want}: {}",
                u.field,
                bad.join(", ")
            ))
        }
    }

    fn pam(&self, p: &PamCheck) -> Outcome {
        let lines = match self.cache.pam(&p.service) {
            Ok(l) => l,
            Err(FactError::NotFound(f)) => {
                return verdict(!p.present, format!("{f} not found"));
            }
            Err(e) => return error(e.message()),
        };
        let mut matched = Vec::new();
        for l in lines.iter() {
            if l.module != p.module
                || p.pam_type
                    .as_ref()
                    .is_some_and(|t| !t.eq_ignore_ascii_case(&l.pam_type))
            {
                continue;
            }
            let Some(arg) = &p.arg else {
                matched.push(format!("{}: {} {}", l.file, l.pam_type, l.module));
                continue;
            };
            let val = l.args.iter().find_map(|a| {
                let (k, v) = a.split_once('=').unwrap_or((a.as_str(), ""));
                (k == arg).then(|| v.to_string())
            });
            let Some(val) = val else { continue };
            let ok = match &p.value {
                None => true,
                Some(cmp) => match self.holds(cmp, &val, CmpMode::Auto) {
                    Ok(ok) => ok,
                    Err(e) => return error(e),
                },
            };
            if ok {
                matched.push(format!(
                    "{}: {} {} {arg}={val}",
                    l.file, l.pam_type, l.module
                ));
            }
        }
        let what = format!(
            "{}{}{}",
            p.module,
            p.arg.as_ref().map(|a| format!(" {a}")).unwrap_or_default(),
            p.value
                .as_ref()
                .map(|c| format!(" {}", self.cmp_text(c)))
                .unwrap_or_default()
        );
        match (matched.is_empty(), p.present) {
            (false, true) => pass(matched.join("; ")),
            (true, true) => fail(format!("no {what} in the {} PAM stack", p.service)),
            (true, false) => pass(format!("no {what} in the {} PAM stack", p.service)),
            (false, false) => fail(matched.join("; ")),
        }
    }

    fn mount(&self, m: &MountCheck) -> Outcome {
        let mounts = match self.cache.mounts() {
            Ok(m) => m,
            Err(e) => return error(e.message()),
        };
        let selected: Vec<_> = mounts
            .entries
            .iter()
            .filter(|e| {
                m.path.as_ref().is_none_or(|p| {
                    e.point == p.trim_end_matches('/') || (p == "/" && e.point == "/")
                }) && m.under.as_ref().is_none_or(|u| {
                    let u = u.trim_end_matches('/');
                    e.point.starts_with(&format!("{u}/"))
                }) && m.fstype.as_ref().is_none_or(|t| t.contains(&e.fstype))
            })
            .collect();
        let what = m
            .path
            .clone()
            .or_else(|| m.under.as_ref().map(|u| format!("mounts under {u}")))
            .unwrap_or_else(|| {
                format!(
                    "{} mounts",
                    m.fstype.as_ref().map(|f| f.join("/")).unwrap_or_default()
                )
            });
        if selected.is_empty() {
            return match m.missing {
                Some(Missing::Pass) => pass(format!("no {what} in {}", mounts.source)),
                _ => fail(format!(
                    "{what} is not a separate mount ({})",
                    mounts.source
                )),
            };
        }
        for e in &selected {
            let lacking: Vec<&str> = m
                .options
                .iter()
                .filter(|o| !e.options.contains(o))
                .map(String::as_str)
                .collect();
            if !lacking.is_empty() {
                return fail(format!(
                    "{} ({}) lacks {}",
                    e.point,
                    mounts.source,
                    lacking.join(",")
                ));
            }
        }
        pass(format!(
            "{} mounted with {} ({})",
            selected
                .iter()
                .map(|e| e.point.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if m.options.is_empty() {
                "any options".to_string()
            } else {
                m.options.join(",")
            },
            mounts.source
        ))
    }

    fn listening(&self, l: &ListeningCheck) -> Outcome {
        let socks = match self.cache.sockets() {
            Ok(s) => s,
            Err(e) => return error(e.message()),
        };
        let hits: Vec<String> = socks
            .iter()
            .filter(|s| l.port.0.contains(&s.port))
            .filter(|s| match l.proto {
                Proto::Any => true,
                Proto::Tcp => s.proto.starts_with("tcp"),
                Proto::Udp => s.proto.starts_with("udp"),
            })
            .filter(|s| !l.exposed || !s.loopback)
            .map(|s| format!("{} {}:{}", s.proto, s.addr, s.port))
            .collect();
        let ports: Vec<String> = l.port.0.iter().map(u16::to_string).collect();
        match (hits.is_empty(), l.present) {
            (true, false) => pass(format!("nothing listens on {}", ports.join(","))),
            (true, true) => fail(format!("nothing listens on {}", ports.join(","))),
            (false, false) => fail(format!("listening: {}", hits.join(", "))),
            (false, true) => pass(format!("listening: {}", hits.join(", "))),
        }
    }

    fn command(&self, c: &CommandCheck) -> Outcome {
        let timeout = match &c.timeout {
            None => Duration::from_secs(10),
            Some(t) => match parse_timespan(&self.resolve(t)) {
                Some(s) if s > 0.0 && s <= 300.0 => Duration::from_secs_f64(s),
                _ => return error(format!("invalid timeout {t}")),
            },
        };
        let out = match self.cache.host.run(&c.run, timeout, 256 * 1024) {
            Ok(o) => o,
            Err(e) => return error(e),
        };
        let shown = c.run.join(" ");
        if let Some(code) = c.exit
            && out.status != Some(code)
        {
            return fail(format!(
                "{shown} exited with {:?}, expected {code}",
                out.status
            ));
        }
        self.match_output(
            &shown,
            &out.stdout,
            &OutputMatch {
                output: c.output.as_ref(),
                no_output: c.no_output.as_ref(),
                line: c.line.as_ref(),
                line_unless: c.line_unless.as_ref(),
                value: c.value.as_ref(),
                occurrence: c.occurrence,
                compare: c.compare.as_ref(),
            },
        )
    }

    /// Matches the text a command printed (or would print) against a check's expectations.
    fn match_output(&self, shown: &str, text: &str, m: &OutputMatch<'_>) -> Outcome {
        if let Some(re) = m.no_output
            && let Some(l) = text.lines().find(|l| re.0.is_match(l))
        {
            return fail(format!("{shown} printed {:?}", l.trim()));
        }
        if let Some(re) = m.output
            && !re.0.is_match(text)
        {
            return fail(format!(
                "output of {shown} does not match /{}/",
                re.0.as_str()
            ));
        }
        if m.line.is_some() || m.compare.is_some() {
            let hits: Vec<(String, String)> =
                match self.line_values(text, m.line, m.line_unless, m.compare) {
                    Ok(v) => v.into_iter().map(|v| (shown.to_string(), v)).collect(),
                    Err(e) => return error(e),
                };
            if hits.is_empty() {
                return fail(format!(
                    "no line of {shown} matches {}",
                    shown_line(m.line, m.line_unless, m.compare)
                ));
            }
            if let Some(cmp) = m.value {
                match self.pick(&hits, m.occurrence, cmp) {
                    Ok(o) => return o,
                    Err(e) => return error(e),
                }
            }
        }
        pass(format!("{shown} ok"))
    }
}

fn shown_line(
    pats: Option<&Patterns>,
    unless: Option<&Patterns>,
    compare: Option<&Vec<LineCompare>>,
) -> String {
    let mut parts: Vec<String> = pats.map(Patterns::shown).into_iter().collect();
    for c in compare.into_iter().flatten() {
        parts.push(format!("/{}/ {}", c.pattern.0.as_str(), c.value));
    }
    let mut s = parts.join(" && ");
    if let Some(u) = unless {
        s.push_str(&format!(" unless {}", u.shown()));
    }
    s
}

fn field(a: &Account, f: UserField) -> String {
    let sh = |i: usize| a.shadow.as_ref().map(|s| s[i].clone()).unwrap_or_default();
    match f {
        UserField::Name => a.name.clone(),
        UserField::Uid => a.uid.to_string(),
        UserField::Gid => a.gid.to_string(),
        UserField::Home => a.home.clone(),
        UserField::Shell => a.shell.clone(),
        UserField::PasswdPassword => a.passwd_password.clone(),
        UserField::Password => sh(0),
        UserField::LastChange => sh(1),
        UserField::MinDays => sh(2),
        UserField::MaxDays => sh(3),
        UserField::WarnDays => sh(4),
        UserField::Inactive => sh(5),
        UserField::Expire => sh(6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::RootFacts;
    use crate::pack::parse_pack;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::path::Path;
    use std::time::SystemTime;

    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new() -> Tree {
            let t = Tree(tempfile::tempdir().expect("tempdir"));
            t.write("/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
            t.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
            t.write("/etc/group", "root:x:0:\nshadow:x:42:\n");
            t
        }
        fn path(&self, p: &str) -> std::path::PathBuf {
            self.0.path().join(p.trim_start_matches('/'))
        }
        fn write(&self, p: &str, text: &str) {
            let f = self.path(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, text).expect("write");
        }
        fn link(&self, p: &str, target: &str) {
            let f = self.path(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            symlink(target, f).expect("symlink");
        }
        fn chmod(&self, p: &str, mode: u32) {
            std::fs::set_permissions(self.path(p), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
        }
        fn facts(&self) -> RootFacts {
            RootFacts::new(self.0.path(), SystemTime::now())
        }
    }

    /// Builds a one-rule pack around `checks` (YAML, indented for a rule body) and runs it.
    fn run(tree: &Tree, extra: &str, level: u8) -> CheckResult {
        let text = format!(
            "id: t\nversion: \"1\"\ntitle: {{vi: t, en: t}}\napplies_to: [{{os: debian, versions: \
             [\"12\"]}}]\nrules:\n  - id: r\n    title: {{vi: t, en: t}}\n    rationale: {{vi: t, \
             en: t}}\n    remediation: {{vi: t, en: t}}\n    severity: high\n    group: \
             hardening\n    controls: [x]\n{extra}"
        );
        let pack = parse_pack(&text, Path::new("t.yaml")).expect("valid pack");
        let lv = Level::new(level).expect("level");
        evaluate(&pack, &tree.facts(), lv)
            .pop()
            .expect("one result")
    }

    fn status(tree: &Tree, extra: &str) -> Status {
        run(tree, extra, 1).status
    }

    #[test]
    fn file_attributes_and_keys() {
        let t = Tree::new();
        t.write(
            "/etc/ssh/sshd_config",
            "Include /etc/ssh/sshd_config.d/*.conf\nX11Forwarding yes\n",
        );
        t.write(
            "/etc/ssh/sshd_config.d/10-hard.conf",
            "x11forwarding no\nMaxAuthTries 4\n",
        );
        t.chmod("/etc/ssh/sshd_config", 0o600);
        let key = |k: &str, v: &str, occ: &str| {
            format!(
                "    checks:\n      - kind: file\n        path: [/etc/ssh/sshd_config.d/*.conf, \
                 /etc/ssh/sshd_config]\n        key: {k}\n        value: \"{v}\"\n        \
                 occurrence: {occ}\n        default: \"6\"\n"
            )
        };
        assert_eq!(
            status(&t, &key("X11Forwarding", "== no", "first")),
            Status::Pass
        );
        assert_eq!(
            status(&t, &key("X11Forwarding", "== no", "last")),
            Status::Fail
        );
        assert_eq!(
            status(&t, &key("MaxAuthTries", "<= 4", "first")),
            Status::Pass
        );
        assert_eq!(
            status(&t, &key("MaxSessions", "<= 4", "first")),
            Status::Fail,
            "default 6"
        );
        let mode = |m: &str| {
            format!(
                "    checks:\n      - {{kind: file, path: /etc/ssh/sshd_config, max_mode: \"{m}\", owner: root, group: [root, shadow]}}\n"
            )
        };
        assert_eq!(status(&t, &mode("0600")), Status::Pass);
        t.chmod("/etc/ssh/sshd_config", 0o644);
        let r = run(&t, &mode("0600"), 1);
        assert_eq!(r.status, Status::Fail);
        assert!(r.evidence.contains("0644"), "{}", r.evidence);
        let missing = "    checks:\n      - {kind: file, path: /etc/nope, max_mode: \"0600\"}\n";
        assert_eq!(status(&t, missing), Status::Fail);
        let missing_ok = "    checks:\n      - {kind: file, path: /etc/nope, max_mode: \"0600\", missing: pass}\n";
        assert_eq!(status(&t, missing_ok), Status::Pass);
        let absent = "    checks:\n      - {kind: file, path: /etc/nope, exists: false}\n";
        assert_eq!(status(&t, absent), Status::Pass);
    }

    #[test]
    fn file_lines_content_and_age() {
        let t = Tree::new();
        t.write(
            "/etc/profile.d/tmout.sh",
            "readonly TMOUT=600\nexport TMOUT\n",
        );
        let line = |v: &str| {
            format!(
                "    checks:\n      - kind: file\n        path: /etc/profile.d/*.sh\n        line: '^\\s*(?:readonly\\s+|export\\s+)?TMOUT=(\\d+)'\n        value: \"{v}\"\n"
            )
        };
        assert_eq!(status(&t, &line("<= 900")), Status::Pass);
        assert_eq!(status(&t, &line("<= 300")), Status::Fail);
        let no_line =
            "    checks:\n      - {kind: file, path: /etc/profile.d/*.sh, no_line: 'TMOUT=0'}\n";
        assert_eq!(status(&t, no_line), Status::Pass);
        t.write("/etc/nftables.conf", "table inet f {\n chain input {\n  type filter hook input priority 0;\n  policy drop;\n }\n}\n");
        let content = "    checks:\n      - {kind: file, path: /etc/nftables.conf, content: '(?s)hook\\s+input[^}]*policy\\s+drop'}\n";
        assert_eq!(status(&t, content), Status::Pass);
        t.write("/var/lib/clamav/daily.cld", "x");
        let age = |a: &str| {
            format!(
                "    params: {{age: [7d, 7d, 3d, 1d, 1d]}}\n    checks:\n      - {{kind: file, path: \"/var/lib/clamav/daily.c[lv]d\", max_age: \"{a}\"}}\n"
            )
        };
        assert_eq!(status(&t, &age("7d")), Status::Pass);
        let old = SystemTime::now() - Duration::from_secs(3 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(t.path("/var/lib/clamav/daily.cld"))
            .expect("open")
            .set_modified(old)
            .expect("set mtime");
        assert_eq!(status(&t, &age("7d")), Status::Pass);
        assert_eq!(status(&t, &age("2d")), Status::Fail);
        assert_eq!(
            run(&t, &age("${age}"), 2).status,
            Status::Pass,
            "level 2 allows 7 days"
        );
        assert_eq!(
            run(&t, &age("${age}"), 4).status,
            Status::Fail,
            "level 4 allows 1 day"
        );
    }

    #[test]
    fn dir_entries() {
        let t = Tree::new();
        t.write("/etc/cron.d/job", "");
        t.chmod("/etc/cron.d", 0o700);
        let d = "    checks:\n      - {kind: dir, path: /etc/cron.d, max_mode: \"0700\", entry: '^job$', no_entry: '\\.bak$'}\n";
        assert_eq!(status(&t, d), Status::Pass);
        t.write("/etc/cron.d/job.bak", "");
        assert_eq!(status(&t, d), Status::Fail);
    }

    #[test]
    fn sysctl_runtime_persistent_and_offline_default() {
        let t = Tree::new();
        let c = "    checks:\n      - {kind: sysctl, key: net.ipv4.ip_forward, value: \"== 0\", default: 0}\n";
        let r = run(&t, c, 1);
        assert_eq!(r.status, Status::Pass, "offline default: {}", r.evidence);
        t.write("/usr/lib/sysctl.d/50-x.conf", "net.ipv4.ip_forward = 1\n");
        assert_eq!(status(&t, c), Status::Fail, "vendor file sets 1");
        t.write("/etc/sysctl.d/50-x.conf", "net/ipv4/ip_forward=0\n");
        assert_eq!(status(&t, c), Status::Pass, "/etc overrides the same name");
        t.write("/proc/sys/net/ipv4/ip_forward", "1\n");
        assert_eq!(status(&t, c), Status::Fail, "runtime disagrees");
        t.write("/proc/sys/net/ipv4/ip_forward", "0\n");
        assert_eq!(status(&t, c), Status::Pass);
        let no_default = "    checks:\n      - {kind: sysctl, key: kernel.x, value: \"== 1\"}\n";
        assert_eq!(status(&t, no_default), Status::Error);
    }

    #[test]
    fn services_from_unit_files_and_cgroups() {
        let t = Tree::new();
        t.link("/lib", "usr/lib");
        t.write("/usr/lib/systemd/system/ssh.service", "[Unit]\n");
        t.write("/usr/lib/systemd/system/avahi-daemon.service", "[Unit]\n");
        let en = |n: &str, e: bool| {
            format!("    checks:\n      - {{kind: service, name: {n}, enabled: {e}}}\n")
        };
        assert_eq!(status(&t, &en("ssh", true)), Status::Fail);
        t.link(
            "/etc/systemd/system/multi-user.target.wants/ssh.service",
            "/lib/systemd/system/ssh.service",
        );
        assert_eq!(status(&t, &en("ssh", true)), Status::Pass);
        assert_eq!(
            status(&t, &en("telnet", false)),
            Status::Pass,
            "absent is not enabled"
        );
        t.link(
            "/etc/systemd/system/multi-user.target.wants/avahi-daemon.service",
            "/lib/systemd/system/avahi-daemon.service",
        );
        assert_eq!(status(&t, &en("avahi-daemon", false)), Status::Fail);
        t.link("/etc/systemd/system/avahi-daemon.service", "/dev/null");
        assert_eq!(
            status(&t, &en("avahi-daemon", false)),
            Status::Pass,
            "masked"
        );
        let act = "    checks:\n      - {kind: service, name: ssh, active: true}\n";
        let r = run(&t, act, 1);
        assert_eq!(
            r.status,
            Status::Error,
            "offline without cgroups: {}",
            r.evidence
        );
        t.write("/sys/fs/cgroup/system.slice/ssh.service/cgroup.procs", "");
        assert_eq!(status(&t, act), Status::Fail);
        t.write(
            "/sys/fs/cgroup/system.slice/ssh.service/cgroup.procs",
            "412\n",
        );
        assert_eq!(status(&t, act), Status::Pass);
    }

    #[test]
    fn packages_users_and_pam() {
        let t = Tree::new();
        t.write(
            "/var/lib/dpkg/status",
            "Package: openssh-server\nStatus: install ok installed\nVersion: 1:9.2p1-2+deb12u3\n\n\
             Package: telnetd\nStatus: deinstall ok config-files\nVersion: 1\n",
        );
        let pkg = |n: &str, extra: &str| {
            format!("    checks:\n      - {{kind: package, name: {n}{extra}}}\n")
        };
        assert_eq!(
            status(
                &t,
                &pkg("openssh-server", ", version: \">= 1:9.2p1-2+deb12u3\"")
            ),
            Status::Pass
        );
        assert_eq!(
            status(
                &t,
                &pkg("openssh-server", ", version: \">= 1:9.2p1-2+deb12u4\"")
            ),
            Status::Fail
        );
        assert_eq!(
            status(&t, &pkg("telnetd", ", installed: false")),
            Status::Pass
        );
        t.write(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/bash\n",
        );
        t.write(
            "/etc/shadow",
            "root:$y$h:19000:0:99999:7:::\ntoor:!:19000::::::\nu::19000:0:99999:7:::\n",
        );
        let uid0 =
            "    checks:\n      - {kind: user, field: uid, value: \"!= 0\", allow: [root]}\n";
        let r = run(&t, uid0, 1);
        assert_eq!(r.status, Status::Fail);
        assert!(r.evidence.contains("toor"), "{}", r.evidence);
        let empty =
            "    checks:\n      - {kind: user, select: login, field: password, value: \"~ .\"}\n";
        let r = run(&t, empty, 1);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.evidence.contains('u') && !r.evidence.contains("$y$"),
            "{}",
            r.evidence
        );
        let idle =
            "    checks:\n      - {kind: user, select: human, field: inactive, value: \"<= 45\"}\n";
        assert_eq!(status(&t, idle), Status::Fail);
        t.write(
            "/etc/shadow",
            "root:$y$h:19000:0:99999:7:::\ntoor:!:19000::::::\nu:$y$x:19000:0:99999:7:30::\n",
        );
        assert_eq!(status(&t, idle), Status::Pass);
        t.write("/etc/pam.d/common-auth", "auth required pam_faillock.so preauth deny=5\nauth [success=1 default=ignore] pam_unix.so nullok\n");
        t.write(
            "/etc/pam.d/sshd",
            "@include common-auth\naccount required pam_nologin.so\n",
        );
        let pam = |extra: &str| {
            format!(
                "    checks:\n      - {{kind: pam, service: sshd, type: auth, module: pam_faillock.so{extra}}}\n"
            )
        };
        assert_eq!(
            status(&t, &pam(", arg: deny, value: \"<= 10\"")),
            Status::Pass
        );
        assert_eq!(
            status(&t, &pam(", arg: deny, value: \"<= 3\"")),
            Status::Fail
        );
        let nullok = "    checks:\n      - {kind: pam, service: common-auth, module: pam_unix.so, arg: nullok, present: false}\n";
        assert_eq!(status(&t, nullok), Status::Fail);
    }

    #[test]
    fn mounts_and_sockets() {
        let t = Tree::new();
        t.write(
            "/etc/fstab",
            "UUID=1 / ext4 defaults 0 1\ntmpfs /tmp tmpfs nodev,nosuid 0 0\n",
        );
        let m =
            |o: &str| format!("    checks:\n      - {{kind: mount, path: /tmp, options: [{o}]}}\n");
        assert_eq!(status(&t, &m("nodev, nosuid")), Status::Pass);
        assert_eq!(status(&t, &m("noexec")), Status::Fail);
        let media =
            "    checks:\n      - {kind: mount, under: /media, options: [noexec], missing: pass}\n";
        assert_eq!(status(&t, media), Status::Pass);
        t.write("/proc/mounts", "/dev/sdb1 /media/usb vfat rw,nosuid 0 0\n");
        assert_eq!(
            status(&t, media),
            Status::Fail,
            "/proc/mounts wins over fstab"
        );
        let l = "    checks:\n      - {kind: listening, port: [23, 513], proto: tcp}\n";
        assert_eq!(status(&t, l), Status::Error, "offline: unknown");
        t.write(
            "/proc/net/tcp",
            "sl local rem st\n 0: 0100007F:0017 00000000:0000 0A\n",
        );
        assert_eq!(status(&t, l), Status::Fail);
        let exposed = "    checks:\n      - {kind: listening, port: 23, exposed: true}\n";
        assert_eq!(status(&t, exposed), Status::Pass, "loopback only");
    }

    #[test]
    fn conditions_levels_platforms_and_commands() {
        let t = Tree::new();
        let any = "    condition: any\n    checks:\n      - {kind: file, path: /etc/a}\n      - {kind: file, path: /etc/os-release}\n";
        assert_eq!(status(&t, any), Status::Pass);
        let none =
            "    condition: none\n    checks:\n      - {kind: file, path: /etc/os-release}\n";
        assert_eq!(status(&t, none), Status::Fail);
        let nested = "    checks:\n      - kind: any\n        checks:\n          - {kind: file, path: /etc/a}\n          - kind: all\n            checks:\n              - {kind: file, path: /etc/passwd}\n              - {kind: file, path: /etc/group}\n";
        assert_eq!(status(&t, nested), Status::Pass);
        let cmd = "    checks:\n      - {kind: command, run: [/bin/echo, hi], output: hi}\n";
        let r = run(&t, cmd, 1);
        assert_eq!(r.status, Status::Error);
        assert!(r.evidence.contains("not run"), "{}", r.evidence);
        // An error in an `all` does not hide a failure; in `any` a pass wins over an error.
        let mixed = "    condition: any\n    checks:\n      - {kind: command, run: [/bin/true]}\n      - {kind: file, path: /etc/passwd}\n";
        assert_eq!(status(&t, mixed), Status::Pass);
        let lvl = "    min_level: 3\n    checks:\n      - {kind: file, path: /etc/a}\n";
        assert_eq!(run(&t, lvl, 2).status, Status::NotApplicable);
        assert_eq!(run(&t, lvl, 3).status, Status::Fail);
        t.write("/etc/os-release", "ID=fedora\nVERSION_ID=40\n");
        let r = run(&t, lvl, 3);
        assert_eq!(r.status, Status::NotApplicable);
        assert!(r.evidence.contains("fedora"), "{}", r.evidence);
        std::fs::remove_file(t.path("/etc/os-release")).expect("rm");
        assert_eq!(
            run(&t, lvl, 3).status,
            Status::Error,
            "unknown OS is not n/a"
        );
        t.write(
            "/usr/lib/os-release",
            "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"12\"\n",
        );
        assert_eq!(run(&t, lvl, 3).status, Status::Fail, "ID_LIKE matches");
    }
}
