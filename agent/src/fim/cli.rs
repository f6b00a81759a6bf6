//! `vigil-agent fim baseline|check`: the library side of the CLI.
//!
//! `main.rs` parses arguments into [`FimCliOptions`] and maps the result: `Ok(code)` is the exit
//! code (0 no change, 1 changes), `Err(e)` exits with [`FimError::exit_code`] (2 usage or
//! config, 3 runtime). This layer reads the clock and the terminal; the comparison is in
//! [`super::diff`]. The JSON schema is documented in `docs/fim.md`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use vigil_proto::{FileEvent, FileEventKind};

use super::FimError;
pub use super::baseline::baseline_path;
use super::baseline::{self, Baseline};
use super::config::{FimConfig, is_under};
use super::diff::{thousands, to_event};
use super::entry::now;
use super::scan::{ScanRequest, ScanStats, bytes_of, scan, scan_diff, top_level_targets};

/// Output format of `fim check` and `fim baseline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned text for people.
    #[default]
    Table,
    /// The stable JSON schema of `docs/fim.md`.
    Json,
}

/// Options of `vigil-agent fim baseline|check`.
#[derive(Debug, Clone)]
pub struct FimCliOptions {
    /// Directory standing for `/` (`--root`).
    pub root: PathBuf,
    /// Restrict to these host paths (`--path`, repeatable); empty: the configured trees.
    pub paths: Vec<String>,
    /// Output format (`--format`).
    pub format: OutputFormat,
    /// Re-hash every file instead of only those whose metadata changed (`--full`).
    pub full: bool,
    /// Progress line on stderr: `None` = when stderr is a terminal.
    pub progress: Option<bool>,
}

impl Default for FimCliOptions {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
            paths: Vec::new(),
            format: OutputFormat::Table,
            full: false,
            progress: None,
        }
    }
}

/// `fim baseline`: scans the trees and stores the baseline. With `--path`, only those trees are
/// re-recorded and the rest of an existing baseline is kept.
///
/// # Errors
/// Usage errors (bad `--path`), I/O errors writing the baseline.
pub fn run_baseline(
    cfg: &FimConfig,
    opts: &FimCliOptions,
    state_dir: &Path,
    out: &mut dyn Write,
) -> Result<u8, FimError> {
    let cfg = scoped(cfg, opts)?;
    let targets = top_level_targets(&cfg);
    let path = baseline_path(state_dir, &opts.root);
    let started_at = now();
    let clock = Instant::now();
    let (bar, progress) = scan_progress(opts);
    let res = scan(&ScanRequest {
        root: &opts.root,
        cfg: &cfg,
        targets: bytes_of(&targets),
        algo: cfg.hash,
        reuse: None,
        threads: cfg.threads,
        max_read_rate: None,
        priority: None,
        stop: None,
        progress: Some(&progress),
    });
    bar.finish_and_clear();
    let mut base = Baseline {
        algo: cfg.hash,
        started_at,
        scope: targets.clone(),
        entries: res.entries,
    };
    if !opts.paths.is_empty() {
        // Keep the rest of an existing baseline of the same algorithm.
        if let Ok(Some((old, _))) = baseline::load(&path)
            && old.algo == base.algo
        {
            let mut kept = old.entries;
            kept.retain(|k| !targets.iter().any(|t| is_under(k, t.as_bytes())));
            kept.apply(base.entries.iter().map(|(k, v)| (k, Some(v))));
            base.entries = kept;
            for s in old.scope {
                if !targets.iter().any(|t| is_under(s.as_bytes(), t.as_bytes())) {
                    base.scope.push(s);
                }
            }
            base.scope.sort();
        }
    }
    baseline::write_atomic(&path, &base.encode())?;
    let elapsed = clock.elapsed();
    warn_errors(&res.stats);
    let w = |e: std::io::Error| FimError::io(Path::new("<stdout>"), e);
    match opts.format {
        OutputFormat::Json => {
            let v = json!({"baseline": {
                "path": path.display().to_string(),
                "algo": base.algo.as_str(),
                "scope": base.scope,
                "entries": base.entries.len(),
                "hashed_files": res.stats.hashed_files,
                "hashed_bytes": res.stats.hashed_bytes,
                "errors": res.stats.errors,
                "elapsed_ms": elapsed.as_millis() as u64,
            }});
            writeln!(out, "{v}").map_err(w)?;
        }
        OutputFormat::Table => {
            writeln!(
                out,
                "Baseline of {} paths ({} files, {} MiB hashed with {}) written to {} in {:.2} s.",
                thousands(base.entries.len() as u64),
                thousands(res.stats.hashed_files),
                res.stats.hashed_bytes >> 20,
                base.algo.as_str(),
                path.display(),
                elapsed.as_secs_f64()
            )
            .map_err(w)?;
        }
    }
    Ok(0)
}

/// `fim check`: compares the trees with the baseline. Returns 1 when anything changed, else 0.
///
/// # Errors
/// [`FimError::NoBaseline`], usage errors (a `--path` outside the baseline), damaged baseline
/// files, output errors.
pub fn run_check(
    cfg: &FimConfig,
    opts: &FimCliOptions,
    state_dir: &Path,
    out: &mut dyn Write,
) -> Result<u8, FimError> {
    let path = baseline_path(state_dir, &opts.root);
    let (base, fell_back) =
        baseline::load(&path)?.ok_or_else(|| FimError::NoBaseline(path.clone()))?;
    if fell_back {
        eprintln!(
            "warning: {} is damaged; compared with the previous baseline",
            path.display()
        );
    }
    let cfg = scoped(cfg, opts)?;
    let mut targets = Vec::new();
    let mut errors = Vec::new();
    for t in top_level_targets(&cfg) {
        if base.covers(t.as_bytes()) {
            targets.push(t);
        } else if opts.paths.is_empty() {
            eprintln!("warning: {t} is not in the baseline; run `vigil-agent fim baseline`");
        } else {
            errors.push(format!("--path {t}: not covered by the baseline"));
        }
    }
    if !errors.is_empty() {
        return Err(FimError::Usage(errors));
    }
    let clock = Instant::now();
    let (bar, progress) = scan_progress(opts);
    // Compared while scanning: the current state is never held in memory, only the changes.
    let req = ScanRequest {
        root: &opts.root,
        cfg: &cfg,
        targets: bytes_of(&targets),
        algo: base.algo,
        reuse: (!opts.full).then_some(&base),
        threads: cfg.threads,
        max_read_rate: None,
        priority: None,
        stop: None,
        progress: Some(&progress),
    };
    let (changes, stats) = scan_diff(&req, &base.entries, &targets);
    bar.finish_and_clear();
    let events: Vec<FileEvent> = changes
        .iter()
        .map(|c| to_event(&cfg, base.algo, c, None))
        .collect();
    drop(changes);
    let elapsed = clock.elapsed();
    warn_errors(&stats);
    write_report(
        out,
        opts.format,
        &events,
        &stats,
        &base,
        &path,
        elapsed.as_millis() as u64,
    )
    .map_err(|e| FimError::io(Path::new("<stdout>"), e))?;
    Ok(u8::from(!events.is_empty()))
}

fn scoped(cfg: &FimConfig, opts: &FimCliOptions) -> Result<FimConfig, FimError> {
    if opts.paths.is_empty() {
        Ok(cfg.clone())
    } else {
        cfg.restrict_to(&opts.paths).map_err(FimError::Usage)
    }
}

fn write_report(
    out: &mut dyn Write,
    format: OutputFormat,
    events: &[FileEvent],
    stats: &ScanStats,
    base: &Baseline,
    path: &Path,
    elapsed_ms: u64,
) -> std::io::Result<()> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for k in ["created", "modified", "deleted", "attrs", "type_changed"] {
        counts.insert(k, 0);
    }
    for e in events {
        *counts.entry(kind_name(e.kind)).or_default() += 1;
    }
    match format {
        OutputFormat::Json => {
            let v = json!({
                "changes": events,
                "summary": {
                    "created": counts["created"],
                    "modified": counts["modified"],
                    "deleted": counts["deleted"],
                    "attrs": counts["attrs"],
                    "type_changed": counts["type_changed"],
                    "total": events.len(),
                    "scanned": stats.entries,
                    "hashed_files": stats.hashed_files,
                    "reused_hashes": stats.reused,
                    "errors": stats.errors,
                    "elapsed_ms": elapsed_ms,
                    "baseline": {
                        "path": path.display().to_string(),
                        "algo": base.algo.as_str(),
                        "started_at": base.started_at.secs,
                    },
                }
            });
            writeln!(out, "{v}")
        }
        OutputFormat::Table => {
            for e in events {
                let detail = if e.changed.is_empty() {
                    String::new()
                } else {
                    e.changed.join(",")
                };
                writeln!(
                    out,
                    "{:<12} {:<8} {} {}",
                    kind_name(e.kind),
                    e.severity.as_str(),
                    e.path,
                    detail
                )?;
            }
            writeln!(
                out,
                "{} changes ({} created, {} modified, {} deleted, {} attributes, {} type) in {} \
                 paths, {:.2} s.",
                events.len(),
                counts["created"],
                counts["modified"],
                counts["deleted"],
                counts["attrs"],
                counts["type_changed"],
                thousands(stats.entries),
                elapsed_ms as f64 / 1000.0
            )
        }
    }
}

fn kind_name(k: FileEventKind) -> &'static str {
    match k {
        FileEventKind::Created => "created",
        FileEventKind::Modified => "modified",
        FileEventKind::Deleted => "deleted",
        FileEventKind::Attrs => "attrs",
        FileEventKind::TypeChanged => "type_changed",
        FileEventKind::Rescan => "rescan",
        FileEventKind::Summary => "summary",
    }
}

/// A spinner counting paths, hashed files and bytes while a scan runs (terminal only).
fn scan_progress(opts: &FimCliOptions) -> (indicatif::ProgressBar, impl Fn(&ScanStats) + Sync) {
    let pb = crate::progress::bar(None, "paths", opts.progress);
    let shown = pb.clone();
    let update = move |s: &ScanStats| {
        shown.set_message(format!(
            "{} paths, {} files hashed, {} MiB",
            thousands(s.entries),
            thousands(s.hashed_files),
            s.hashed_bytes >> 20
        ));
        shown.tick();
    };
    (pb, update)
}

fn warn_errors(stats: &ScanStats) {
    for e in &stats.errors {
        eprintln!("warning: unverified: {e}");
    }
    if stats.error_count > stats.errors.len() as u64 {
        eprintln!(
            "warning: {} more unverified paths",
            stats.error_count - stats.errors.len() as u64
        );
    }
}
