//! `agency move|rename|dissolve`, `host set`, `assets import|list`, `score` and `alerts assign`:
//! the organisation tree and the numbers the province reads.

use super::term::{self, errln, outln, wline};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use serde::Serialize;
use vigil_rules::score::{AgencyScore, Ineligible, Verdict};

use super::{DirArgs, Failure, fmt_time, load, now_s, open_store, validate_agency_id};
use crate::scoring::{self, AgencyScores, RuleCatalog, Scores, in_subtree};
use crate::store::{MoveOutcome, StoreError};

use clap::Subcommand;
/// `host` subcommands.
#[derive(Debug, Subcommand)]
pub enum HostCmd {
    /// Change a host's role and/or security level (audited).
    Set {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Agent id (see `hosts`).
        #[arg(long)]
        id: String,
        /// Role.
        #[arg(long, value_parser = ["workstation", "server"])]
        role: Option<String>,
        /// Security level of the host's system (1–5).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
        level: Option<u8>,
    },
}

/// `assets` subcommands.
#[derive(Debug, Subcommand)]
pub enum AssetsCmd {
    /// Import a CSV with the header `agency,hostname,role,level` (any order, other columns
    /// ignored). All or nothing: any bad line rejects the whole file. Agents are matched to
    /// assets of their agency by host name.
    Import {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// The CSV file.
        file: PathBuf,
        /// Check the file and report, without importing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List registered assets.
    List {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"assets": [...]}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `host` subcommand.
pub(super) fn run_host(cmd: HostCmd) -> Result<(), Failure> {
    match cmd {
        HostCmd::Set {
            dir,
            id,
            role,
            level,
        } => host_set(&dir, &id, role.as_deref(), level),
    }
}

/// Runs an `assets` subcommand.
pub(super) fn run_assets(cmd: AssetsCmd) -> Result<(), Failure> {
    match cmd {
        AssetsCmd::Import { dir, file, dry_run } => assets_import(&dir, &file, dry_run),
        AssetsCmd::List { dir, json } => assets_list(&dir, json),
    }
}

fn store_err(e: StoreError) -> Failure {
    match e {
        StoreError::NotFound(_) | StoreError::Conflict(_) | StoreError::Invalid(_) => {
            Failure::usage(anyhow!(e))
        }
        other => other.into(),
    }
}

fn moved(out: &MoveOutcome) -> String {
    let mut s = format!(
        "{} agencies, {} agents, {} assets, {} tokens, {} score history points, {} user scopes",
        out.agencies, out.agents, out.assets, out.tokens, out.history, out.users
    );
    if out.users_disabled > 0 {
        s.push_str(&format!(
            "; {} user(s) scoped to the dissolved agency disabled (see `user list`; add them \
             again with a new --scope)",
            out.users_disabled
        ));
    }
    s
}

/// `agency move --id FROM --to TO`.
pub(super) fn agency_move(dir: &DirArgs, id: &str, to: &str) -> Result<(), Failure> {
    validate_agency_id(id)?;
    validate_agency_id(to)?;
    let store = open_store(&load(dir)?)?;
    let out = store
        .agency_move(id, to, "cli", now_s())
        .map_err(store_err)?;
    outln!("moved {id} -> {to}: {}", moved(&out));
    Ok(())
}

/// `agency rename --id PATH --name NAME`.
pub(super) fn agency_rename(dir: &DirArgs, id: &str, name: &str) -> Result<(), Failure> {
    if name.trim().is_empty() {
        return Err(Failure::usage(anyhow!("--name must not be empty")));
    }
    let store = open_store(&load(dir)?)?;
    if !store.agency_rename(id, name.trim(), "cli", now_s())? {
        return Err(Failure::usage(anyhow!(
            "no agency {id:?} (see `agency list`)"
        )));
    }
    outln!("agency {id} is now named {:?}", name.trim());
    Ok(())
}

/// `agency dissolve --id PATH...`: each in its own transaction, in the order given.
pub(super) fn agency_dissolve(dir: &DirArgs, ids: &[String]) -> Result<(), Failure> {
    for id in ids {
        validate_agency_id(id)?;
    }
    let store = open_store(&load(dir)?)?;
    let mut total = MoveOutcome::default();
    for (i, id) in ids.iter().enumerate() {
        let out = store.agency_dissolve(id, "cli", now_s()).map_err(|e| {
            let done = if i == 0 {
                String::new()
            } else {
                format!(
                    " ({} dissolved before it stay dissolved)",
                    ids[..i].join(", ")
                )
            };
            Failure::usage(anyhow!("dissolving {id}: {e}{done}"))
        })?;
        let parent = crate::store::parent_of(id).unwrap_or_default();
        outln!("dissolved {id} into {parent}: {}", moved(&out));
        total += out;
    }
    if ids.len() > 1 {
        outln!("total: {}", moved(&total));
    }
    Ok(())
}

/// `host set --id AGENT [--role R] [--level N]`.
pub(super) fn host_set(
    dir: &DirArgs,
    id: &str,
    role: Option<&str>,
    level: Option<u8>,
) -> Result<(), Failure> {
    if role.is_none() && level.is_none() {
        return Err(Failure::usage(anyhow!(
            "give --role and/or --level to change"
        )));
    }
    let store = open_store(&load(dir)?)?;
    if !store.agent_set_profile(id, role, level, "cli", now_s())? {
        return Err(Failure::usage(anyhow!(
            "no agent with id {id:?} (see `hosts`)"
        )));
    }
    let a = store
        .agent(id)?
        .ok_or_else(|| anyhow!("agent {id} vanished"))?;
    outln!(
        "{id} ({}): role {}, level {}",
        a.hostname,
        a.role,
        a.level
            .map_or_else(|| "of its agency".to_owned(), |l| l.to_string())
    );
    Ok(())
}

/// `assets import FILE [--dry-run]`.
pub(super) fn assets_import(dir: &DirArgs, file: &Path, dry_run: bool) -> Result<(), Failure> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let assets = crate::assets::parse_assets(&text).map_err(|e| {
        Failure::usage(anyhow!(
            "{}: nothing imported:\n{}",
            file.display(),
            e.0.join("\n")
        ))
    })?;
    let store = open_store(&load(dir)?)?;
    let bar = super::term::progress(&format!("checking {} assets", assets.len()));
    let known: HashSet<String> = store.agencies()?.into_iter().map(|a| a.id).collect();
    let missing = crate::assets::unknown_agencies(&assets, &known);
    if !missing.is_empty() {
        return Err(Failure::usage(anyhow!(
            "{}: nothing imported:\n{}",
            file.display(),
            missing.join("\n")
        )));
    }
    if dry_run {
        bar.finish_and_clear();
        outln!(
            "{}: {} assets are valid (dry run, nothing imported)",
            file.display(),
            assets.len()
        );
        return Ok(());
    }
    bar.set_message(format!("importing {} assets", assets.len()));
    let out = store.assets_import(&assets, "cli", now_s());
    bar.finish_and_clear();
    let out = out.map_err(store_err)?;
    outln!(
        "{}: {} assets: {} added, {} updated, {} unchanged",
        file.display(),
        assets.len(),
        out.added,
        out.updated,
        out.unchanged
    );
    Ok(())
}

/// `{"assets": [...]}`.
#[derive(Serialize)]
struct AssetList<'a> {
    assets: &'a [crate::store::Asset],
}

/// `assets list [--json]`.
pub(super) fn assets_list(dir: &DirArgs, json: bool) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    let all = store.assets()?;
    if json {
        println!("{}", term::json(&AssetList { assets: &all }));
    } else {
        let mut out = std::io::stdout().lock();
        for a in &all {
            wline!(
                out,
                "{:<32} {:<32} {:<12} level {}",
                a.agency,
                a.hostname,
                a.role,
                a.level
            );
        }
        errln!("{} asset(s)", all.len());
    }
    Ok(())
}

/// `alerts assign --id N (--to USER | --nobody)`.
pub(super) fn alert_assign(dir: &DirArgs, id: i64, to: Option<&str>) -> Result<(), Failure> {
    let store = open_store(&load(dir)?)?;
    if !store.alert_assign(id, to, "cli", now_s())? {
        return Err(Failure::usage(anyhow!(
            "no alert #{id} (see `alerts list`)"
        )));
    }
    match to {
        Some(u) => outln!("alert #{id} is assigned to {u}"),
        None => outln!("alert #{id} is unassigned"),
    }
    Ok(())
}

fn reasons(s: &AgencyScore) -> String {
    s.ranking
        .reasons
        .iter()
        .map(|r| match r {
            Ineligible::TooFewHosts { hosts, min } => format!("{hosts} hosts (< {min})"),
            Ineligible::LowCoverage { coverage, min } => {
                format!("coverage {:.0}% (< {:.0}%)", coverage * 100.0, min * 100.0)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Agencies ranked by `A_common` among the leaves of the tree (or the subtree of `under`), and
/// those left out with their reasons.
fn ranking<'a>(
    scores: &'a Scores,
    under: Option<&str>,
) -> (Vec<&'a AgencyScores>, Vec<&'a AgencyScores>) {
    let ids: Vec<&str> = scores.agencies.iter().map(|a| a.id.as_str()).collect();
    let is_leaf = |id: &str| !ids.iter().any(|o| *o != id && in_subtree(o, id));
    let mut ranked = Vec::new();
    let mut apart = Vec::new();
    for a in &scores.agencies {
        if !is_leaf(&a.id) || under.is_some_and(|u| !in_subtree(&a.id, u)) {
            continue;
        }
        if a.common.ranking.eligible {
            ranked.push(a);
        } else {
            apart.push(a);
        }
    }
    ranked.sort_by(|a, b| {
        b.common
            .score
            .total_cmp(&a.common.score)
            .then_with(|| a.id.cmp(&b.id))
    });
    (ranked, apart)
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// `score --json` (docs/cli-json.md). Fields are in alphabetical order, as the output has always
/// been.
#[derive(Serialize)]
struct ScoreJson<'a> {
    agencies: &'a [&'a AgencyScores],
    computed_at: i64,
    hosts: Vec<&'a crate::scoring::HostScores>,
    history: Option<Vec<crate::store::ScorePoint>>,
    not_ranked: Vec<NotRanked<'a>>,
    ranking: Vec<RankRow<'a>>,
    rule_pack_version: &'a str,
    scoring_version: &'a str,
}

/// One ranked agency of `score --json`.
#[derive(Serialize)]
struct RankRow<'a> {
    a: f64,
    a_common: f64,
    a_level: f64,
    agency: &'a str,
    coverage: f64,
    name: &'a str,
    rank: usize,
}

impl<'a> RankRow<'a> {
    fn new((i, a): (usize, &&'a AgencyScores)) -> Self {
        Self {
            a: a.full.score,
            a_common: a.common.score,
            a_level: a.level_view.score,
            agency: &a.id,
            coverage: a.full.coverage,
            name: &a.name,
            rank: i + 1,
        }
    }
}

/// An agency left out of the ranking, with why.
#[derive(Serialize)]
struct NotRanked<'a> {
    agency: &'a str,
    name: &'a str,
    reasons: &'a [Ineligible],
}

/// `score [--agency PATH] [--since DUR] [--json]`.
pub(super) fn score(
    dir: &DirArgs,
    agency: Option<&str>,
    since: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let store = open_store(&cfg)?;
    let now = crate::clock::now_ms();
    let inputs = scoring::Inputs::load(&*store)?;
    if let Some(a) = agency
        && !inputs.agencies.iter().any(|x| x.id == a)
    {
        return Err(Failure::usage(anyhow!(
            "no agency {a:?} (see `agency list`)"
        )));
    }
    let since_ms = since
        .map(super::parse_since)
        .transpose()
        .map_err(|e| Failure::usage(anyhow!("--since: {e}")))?;
    let scores = scoring::compute(&inputs, &cfg.scoring, &RuleCatalog::builtin(), now);
    let (ranked, apart) = ranking(&scores, agency);
    let shown: Vec<&AgencyScores> = scores
        .agencies
        .iter()
        .filter(|a| agency.is_none_or(|root| in_subtree(&a.id, root)))
        .collect();
    let history = match (agency, since_ms) {
        (Some(a), Some(t)) => Some(store.score_history("agency", a, t)?),
        _ => None,
    };
    let view = ScoreView {
        scores: &scores,
        shown,
        ranked,
        apart,
        history,
        agency,
        since_ms,
    };
    if json {
        print_score_json(&view);
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    print_agencies(&mut out, &view, now);
    let min = &cfg.scoring.config().ranking;
    wline!(out);
    wline!(
        out,
        "Ranking by A_common (at least {} hosts and {:.0}% coverage):",
        min.min_hosts,
        min.min_coverage * 100.0
    );
    print_ranking(&mut out, &view);
    if let Some(root) = agency
        && let Some(a) = view.shown.first()
    {
        print_why(&mut out, &view, root, a);
    }
    print_history(&mut out, &view);
    let failing = scores
        .hosts
        .iter()
        .filter(|h| {
            agency.is_none_or(|r| in_subtree(&h.agency, r)) && h.full.verdict == Verdict::Fail
        })
        .count();
    errln!("{failing} host(s) \"Không đạt\"");
    Ok(())
}

/// What `score` shows, computed once for the JSON and the table.
struct ScoreView<'a> {
    scores: &'a Scores,
    shown: Vec<&'a AgencyScores>,
    ranked: Vec<&'a AgencyScores>,
    apart: Vec<&'a AgencyScores>,
    history: Option<Vec<crate::store::ScorePoint>>,
    agency: Option<&'a str>,
    since_ms: Option<i64>,
}

/// `score --json`.
fn print_score_json(view: &ScoreView<'_>) {
    let ScoreView {
        scores,
        shown,
        ranked,
        apart,
        history,
        agency,
        ..
    } = view;
    let hosts: Vec<_> = agency.map_or_else(Vec::new, |root| {
        scores
            .hosts
            .iter()
            .filter(|h| in_subtree(&h.agency, root))
            .collect()
    });
    let v = ScoreJson {
        agencies: shown,
        computed_at: scores.computed_at,
        hosts,
        history: history.clone(),
        not_ranked: apart
            .iter()
            .map(|a| NotRanked {
                agency: &a.id,
                name: &a.name,
                reasons: &a.common.ranking.reasons,
            })
            .collect(),
        ranking: ranked.iter().enumerate().map(RankRow::new).collect(),
        rule_pack_version: &scores.rule_pack_version,
        scoring_version: &scores.scoring_version,
    };
    println!("{}", term::json(&v));
}

/// The table of agencies under the scope.
fn print_agencies(out: &mut impl Write, view: &ScoreView<'_>, now: i64) {
    let scores = view.scores;
    wline!(
        out,
        "Scores at {} (rule packs: {}; scoring: {})",
        fmt_time(now / 1000),
        if scores.rule_pack_version.is_empty() {
            "no results yet"
        } else {
            &scores.rule_pack_version
        },
        scores.scoring_version
    );
    wline!(
        out,
        "{:<36} {:>6} {:>8} {:>7} {:>8} {:>6} {:>6} {:>8} {:>5} {:>5}",
        "AGENCY",
        "A",
        "A_COMMON",
        "A_LEVEL",
        "COVERAGE",
        "HOSTS",
        "AGENTS",
        "FAILING",
        "CRIT",
        "HIGH"
    );
    for a in &view.shown {
        let depth = a.id.matches('/').count();
        wline!(
            out,
            "{:<36} {:>6.1} {:>8.1} {:>7.1} {:>7.0}% {:>6} {:>6} {:>8} {:>5} {:>5}",
            format!("{}{}", "  ".repeat(depth), a.id),
            a.full.score,
            a.common.score,
            a.level_view.score,
            a.full.coverage * 100.0,
            a.full.hosts,
            a.full.hosts_with_agent,
            a.hosts_failing,
            a.open_alerts.get("critical").copied().unwrap_or(0),
            a.open_alerts.get("high").copied().unwrap_or(0),
        );
    }
}

/// The ranking by A_common and the agencies left out of it.
fn print_ranking(out: &mut impl Write, view: &ScoreView<'_>) {
    let (ranked, apart) = (&view.ranked, &view.apart);
    for (i, a) in ranked.iter().enumerate() {
        wline!(
            out,
            "{:>3}. {:<36} {:>6.1}  {}",
            i + 1,
            a.id,
            a.common.score,
            a.name
        );
    }
    if ranked.is_empty() {
        wline!(out, "     (no agency qualifies yet)");
    }
    if !apart.is_empty() {
        wline!(out, "Not ranked:");
        for a in apart.iter() {
            wline!(out, "     {:<36} {}", a.id, reasons(&a.common));
        }
    }
}

/// Why one agency is not at 100: its largest costs, then its hosts.
fn print_why(out: &mut impl Write, view: &ScoreView<'_>, root: &str, a: &AgencyScores) {
    let scores = view.scores;
    wline!(out);
    wline!(
        out,
        "Why {} is not 100 (A = {:.1}; largest costs first):",
        root,
        a.full.score
    );
    for it in a.full.breakdown.iter().take(15) {
        wline!(
            out,
            "  -{:>6.2}  {:<16} {}",
            it.points,
            it.kind.as_str(),
            it.label
        );
    }
    if a.full.breakdown.len() > 15 {
        let rest: f64 = a.full.breakdown[15..].iter().map(|i| i.points).sum();
        wline!(
            out,
            "  -{rest:>6.2}  ({} smaller items)",
            a.full.breakdown.len() - 15
        );
    }
    wline!(out);
    wline!(out, "Hosts:");
    for h in scores.hosts.iter().filter(|h| in_subtree(&h.agency, root)) {
        wline!(
            out,
            "  {:<36} {:<24} {:>6.1}  {:<10} {}",
            h.id,
            h.hostname,
            h.full.score,
            h.full.verdict.label_vi(),
            if h.full.fresh { "" } else { "stale" }
        );
    }
}

/// The agency's score history since `--since`.
fn print_history(out: &mut impl Write, view: &ScoreView<'_>) {
    let since_ms = view.since_ms;
    if let Some(h) = &view.history {
        wline!(out);
        wline!(
            out,
            "History of A since {}:",
            fmt_time(since_ms.unwrap_or(0) / 1000)
        );
        for p in h.iter().filter(|p| p.view == "full") {
            wline!(
                out,
                "  {}  {:>6.1}  coverage {:>3.0}%  {}",
                fmt_time(p.computed_at / 1000),
                p.score,
                p.coverage.unwrap_or(0.0) * 100.0,
                p.rule_pack_version
            );
        }
        let full: Vec<_> = h.iter().filter(|p| p.view == "full").collect();
        if let (Some(first), Some(last)) = (full.first(), full.last()) {
            wline!(
                out,
                "  change: {:+.1} points",
                round(last.score - first.score, 1)
            );
        }
    }
}
