//! `backup` and `restore`: the data directory and its SQLite database as one archive
//! ([`crate::backup`], docs/operations.md).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use clap::Args;

use super::term::outln;
use super::{DirArgs, Failure, load};
use crate::backup::{self, Source};
use crate::config::StoreConfig;

/// `vigil-collector backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Data directory or config file.
    #[command(flatten)]
    pub dir: DirArgs,
    /// Archive to write (must not exist). It holds the CA key: keep it like the key itself.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// PostgreSQL only: archive the keys and configuration without the database, which you back
    /// up with pg_dump (docs/operations.md).
    #[arg(long)]
    pub without_database: bool,
}

/// `vigil-collector restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Archive written by `backup`.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// New data directory: must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
}

pub(super) fn backup(a: &BackupArgs) -> Result<(), Failure> {
    let cfg = load(&a.dir)?;
    let db = match (&cfg.store, a.without_database) {
        (StoreConfig::Sqlite(p), false) => Some(p.clone()),
        (StoreConfig::Sqlite(_), true) => {
            return Err(Failure::usage(anyhow!(
                "--without-database is for PostgreSQL; a SQLite database is always archived"
            )));
        }
        (StoreConfig::Postgres(_), false) => {
            return Err(Failure::usage(anyhow!(
                "the database is PostgreSQL: back it up with pg_dump (docs/operations.md), then \
                 run `vigil-collector backup --to FILE --without-database` for the keys and \
                 configuration"
            )));
        }
        (StoreConfig::Postgres(_), true) => None,
    };
    if a.to.exists() {
        return Err(Failure::usage(anyhow!(
            "{} exists; choose a new file name",
            a.to.display()
        )));
    }
    let data_dir = std::fs::canonicalize(&cfg.data_dir)
        .with_context(|| format!("reading {}", cfg.data_dir.display()))?;
    let snapshot = backup::with_suffix(&a.to, ".db-snapshot");
    let r = archive(a, &data_dir, db.as_deref(), &snapshot);
    let _ = std::fs::remove_file(&snapshot);
    let m = r?;
    let bytes: u64 = m.files.iter().map(|f| f.size).sum();
    outln!(
        "Backup written to {} ({} files, {bytes} bytes{}). It holds the collector's CA key: \
         whoever has it can impersonate this collector to its agents; keep it encrypted and \
         offline.",
        a.to.display(),
        m.files.len(),
        if m.database.is_some() {
            ", database included"
        } else {
            "; the database is NOT included: pg_dump it"
        }
    );
    Ok(())
}

fn archive(
    a: &BackupArgs,
    data_dir: &Path,
    db: Option<&Path>,
    snapshot: &Path,
) -> Result<backup::Manifest, Failure> {
    let db_rel = match db {
        Some(p) => {
            let abs =
                std::fs::canonicalize(p).with_context(|| format!("reading {}", p.display()))?;
            let rel = abs.strip_prefix(data_dir).map_err(|_| {
                anyhow!(
                    "the SQLite database {} is outside the data directory; back it up with \
                     `sqlite3 {} .backup FILE` and this command with it moved inside",
                    abs.display(),
                    abs.display()
                )
            })?;
            Some(rel_string(rel)?)
        }
        None => None,
    };
    let out_abs =
        a.to.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| Ok(PathBuf::from(".")), std::fs::canonicalize)
            .with_context(|| format!("reading the directory of {}", a.to.display()))?;
    let mut files = Vec::new();
    collect(
        data_dir,
        data_dir,
        db_rel.as_deref(),
        &out_abs,
        a,
        &mut files,
    )?;
    if let (Some(src), Some(rel)) = (db, &db_rel) {
        backup::snapshot_sqlite(src, snapshot)?;
        files.push((rel.clone(), Source::File(snapshot.to_path_buf())));
    }
    Ok(backup::write(
        &a.to,
        crate::server::now_ms() / 1000,
        db_rel.as_deref(),
        &files,
    )?)
}

/// Every regular file under `dir` but the database (and its journals) and the archive being
/// written.
fn collect(
    root: &Path,
    dir: &Path,
    db: Option<&str>,
    out_dir: &Path,
    a: &BackupArgs,
    files: &mut Vec<(String, Source)>,
) -> Result<(), Failure> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    let ours = a.to.file_name().map(|n| n.to_string_lossy().into_owned());
    for e in entries {
        let path = e.path();
        let ty = e.file_type()?;
        let rel = rel_string(path.strip_prefix(root).unwrap_or(&path))?;
        if ty.is_dir() {
            collect(root, &path, db, out_dir, a, files)?;
            continue;
        }
        if !ty.is_file() {
            tracing::warn!(path = %path.display(), "Not a regular file; left out of the backup.");
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let is_db = db.is_some_and(|d| {
            ["", "-wal", "-shm", "-journal"]
                .iter()
                .any(|s| rel == format!("{d}{s}"))
        });
        let is_ours = dir == out_dir && ours.as_deref().is_some_and(|o| name.starts_with(o));
        if is_db || is_ours {
            continue;
        }
        files.push((rel, Source::Bytes(backup::read_small(&path)?)));
    }
    Ok(())
}

fn rel_string(p: &Path) -> Result<String, Failure> {
    let parts: Option<Vec<&str>> = p.components().map(|c| c.as_os_str().to_str()).collect();
    parts
        .map(|v| v.join("/"))
        .ok_or_else(|| Failure::usage(anyhow!("{} is not valid UTF-8", p.display())))
}

pub(super) fn restore(a: &RestoreArgs) -> Result<(), Failure> {
    let m = backup::restore(&a.from, &a.data_dir)?;
    let taken = time::OffsetDateTime::from_unix_timestamp(m.created_at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| m.created_at.to_string());
    outln!(
        "Restored {} files of the backup taken {taken} into {}.",
        m.files.len(),
        a.data_dir.display()
    );
    if m.database.is_none() {
        outln!(
            "The archive has no database: restore the PostgreSQL dump with pg_restore and check \
             store.url in collector.toml before starting."
        );
    }
    outln!(
        "collector.toml keeps the original listen addresses: stop the old collector (or edit \
         them) before `vigil-collector run --data-dir {}`.",
        a.data_dir.display()
    );
    Ok(())
}
