//! Evaluation of `query` checks: the output of a read-only command, rendered from the cached
//! facts, then matched like a `command` check's output.
//!
//! Each renderer prints what the real tool prints for the parts policies match on (see
//! `docs/rules-format.md` for the exact forms and the few fields left out). Error messages the
//! tools print to stderr are part of the text, as SCA reads both streams. A fact that cannot be
//! known (a runtime state in an offline image) makes the check an error, never a guess.

mod audit;
mod files;
mod firewall;
mod pkg;
mod sshd;
mod system;
mod sysv;

use regex::Regex;

use super::{Ctx, Outcome, OutputMatch, error};
use crate::cache::{Cache, FactError};
use crate::pack::QueryCheck;
use crate::query::{Filter, Grep, Query, Source};

pub(crate) use pkg::{dpkg_status_text, rpm_query_text};

/// Output beyond this is cut, as for commands.
const MAX_OUTPUT: usize = 256 * 1024;

impl Ctx<'_, '_> {
    pub(super) fn query(&self, q: &QueryCheck) -> Outcome {
        let text = match render(self.cache, &q.query.0) {
            Ok(t) => t,
            Err(e) => return error(e),
        };
        self.match_output(
            &q.query.0.to_string(),
            &text,
            &OutputMatch {
                output: q.output.as_ref(),
                no_output: q.no_output.as_ref(),
                line: q.line.as_ref(),
                line_unless: q.line_unless.as_ref(),
                value: q.value.as_ref(),
                occurrence: q.occurrence,
                compare: q.compare.as_ref(),
            },
        )
    }
}

/// The text `q` prints on the host behind `cache`.
///
/// # Errors
/// A message when a fact it needs is unknown (offline runtime state, unreadable database).
pub(crate) fn render(cache: &Cache<'_>, q: &Query) -> Result<String, String> {
    let mut text = source(cache, &q.source)?;
    for f in &q.filters {
        text = filter(f, &text)?;
    }
    if text.len() > MAX_OUTPUT {
        let mut cut = MAX_OUTPUT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Ok(text)
}

fn source(cache: &Cache<'_>, s: &Source) -> Result<String, String> {
    match s {
        Source::RpmQuery(_) | Source::RpmQueryAll(_) => pkg::rpm(cache, s),
        Source::DpkgStatus(_) | Source::DpkgShow { .. } => pkg::dpkg(cache, s),
        Source::IsEnabled(units) => Ok(system::is_enabled(cache, units)),
        Source::IsActive(units) => system::is_active(cache, units),
        Source::SystemctlShow(units) => system::show(cache, units),
        Source::SystemctlStatus(units) => system::status(cache, units),
        Source::Getenforce => system::getenforce(cache),
        Source::Sestatus => system::sestatus(cache),
        Source::Sysctl(keys) => system::sysctl(cache, keys),
        Source::ModprobeDryRun(m) => system::modprobe(cache, m),
        Source::Lsmod => system::lsmod(cache),
        Source::GrubbyInfoAll => system::grubby(cache),
        Source::AuthselectCurrent => system::authselect_current(cache),
        Source::AuthselectList => system::authselect_list(cache),
        Source::FirewalldState => system::firewalld(cache),
        Source::PsLabels => system::ps_labels(cache),
        Source::SsListening { tcp, udp } => system::ss(cache, *tcp, *udp),
        Source::SshdConfig { user } => sshd::effective(cache, user.as_deref()),
        Source::Findmnt {
            no_headings,
            target,
        } => system::findmnt(cache, *no_headings, target.as_deref()),
        Source::MountList => system::mount_list(cache),
        Source::InitctlShowConfig(job) => sysv::initctl_show_config(cache, job),
        Source::CrontabList(user) => files::crontab_list(cache, user),
        Source::NetstatAll => system::netstat_all(cache),
        Source::DpkgList(patterns) => pkg::dpkg_list(cache, patterns),
        Source::ChkconfigList(name) => sysv::chkconfig_list(cache, name.as_deref()),
        Source::TailFile { lines, file } => Ok(match cache.text(file) {
            Ok(t) => tail(&t, *lines),
            Err(FactError::NotFound(_)) => {
                format!("tail: cannot open '{file}' for reading: No such file or directory\n")
            }
            Err(e) => return Err(e.message()),
        }),
        Source::Stat {
            follow,
            format,
            paths,
        } => Ok(files::stat(cache, *follow, format.as_deref(), paths)),
        Source::LsLong(paths) => Ok(files::ls_long(cache, paths)),
        Source::Which(names) => Ok(files::which(cache, names)),
        Source::UseraddDefaults => Ok(files::useradd_defaults(cache)),
        Source::PasswdStatus(user) => files::passwd_status(cache, user),
        Source::Cat(paths) => Ok(files::cat(cache, paths)),
        Source::CutFiles {
            field,
            delim,
            files,
        } => Ok(files::cut_files(cache, *field, *delim, files)),
        Source::GrepFiles {
            grep,
            recursive,
            no_filename,
            paths,
        } => files::grep_files(cache, grep, *recursive, *no_filename, paths),
        Source::Find(f) => files::find(cache, f),
        Source::AuditctlList => audit::auditctl_list(cache),
        Source::AugenrulesCheck => audit::augenrules_check(cache),
        Source::NftList { tables_only } => firewall::nft(cache, *tables_only),
        Source::IptablesList {
            v6,
            chain,
            verbose,
            numeric,
        } => firewall::iptables(cache, *v6, chain.as_deref(), *verbose, *numeric),
        Source::UfwStatus { verbose } => firewall::ufw(cache, *verbose),
    }
}

fn compile(re: &str) -> Result<Regex, String> {
    Regex::new(re).map_err(|e| format!("regex {re:?}: {e}"))
}

/// Lines of `text` (without their newlines), as a pipe delivers them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
}

fn join(lines: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The lines a `grep` selects.
fn grep_lines<'t>(g: &Grep, re: &Regex, text: &'t str) -> Vec<&'t str> {
    lines(text).filter(|l| re.is_match(l) != g.invert).collect()
}

/// Applies one filter to the output so far.
pub(crate) fn filter(f: &Filter, text: &str) -> Result<String, String> {
    Ok(match f {
        Filter::Grep(g) => {
            let re = compile(&g.regex)?;
            let hits = grep_lines(g, &re, text);
            if g.count {
                format!("{}\n", hits.len())
            } else {
                join(hits.into_iter().map(str::to_string))
            }
        }
        Filter::Sort => {
            let mut v: Vec<&str> = lines(text).collect();
            v.sort_unstable();
            join(v.into_iter().map(str::to_string))
        }
        Filter::Uniq { count, repeated } => {
            let mut groups: Vec<(&str, usize)> = Vec::new();
            for l in lines(text) {
                match groups.last_mut() {
                    Some((last, n)) if *last == l => *n += 1,
                    _ => groups.push((l, 1)),
                }
            }
            join(
                groups
                    .into_iter()
                    .filter(|(_, n)| !repeated || *n > 1)
                    .map(|(l, n)| {
                        if *count {
                            format!("{n:>7} {l}")
                        } else {
                            l.to_string()
                        }
                    }),
            )
        }
        Filter::CountLines => format!("{}\n", text.matches('\n').count()),
        Filter::Tail(n) => tail(text, *n),
        Filter::Cut { field, delim } => join(lines(text).map(|l| cut(l, *field, *delim))),
        Filter::AwkRange { start, end } => {
            let (start, end) = (compile(start)?, compile(end)?);
            let mut out = Vec::new();
            let mut inside = false;
            for l in lines(text) {
                if !inside && start.is_match(l) {
                    inside = true;
                    out.push(l.to_string());
                    // A line may open and close a range (awk checks END on the same line).
                    if end.is_match(l) {
                        inside = false;
                    }
                    continue;
                }
                if inside {
                    out.push(l.to_string());
                    if end.is_match(l) {
                        inside = false;
                    }
                }
            }
            join(out)
        }
    })
}

/// The last `n` lines of `text`, each ended by a newline as `tail` prints them (a last line
/// without one stays without).
fn tail(text: &str, n: usize) -> String {
    // Empty input has no lines, but "\n" has one (empty) line, which tail prints.
    if n == 0 || text.is_empty() {
        return String::new();
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    let starts: Vec<usize> = std::iter::once(0)
        .chain(body.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let from = starts[starts.len().saturating_sub(n)];
    text[from..].to_string()
}

/// Field `field` of `line` as `cut -f` prints it (the whole line when it has no delimiter).
fn cut(line: &str, field: usize, delim: char) -> String {
    if !line.contains(delim) {
        return line.to_string();
    }
    line.split(delim).nth(field - 1).unwrap_or("").to_string()
}

#[cfg(test)]
mod tests;
