//! `[store]` of collector.toml: which backend, and where its data is.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[store]` as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// `sqlite` (default) or `postgres`.
    pub backend: Option<String>,
    /// SQLite file (relative to the data dir) or PostgreSQL URL.
    pub url: Option<String>,
}

/// Storage backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// SQLite file.
    Sqlite(PathBuf),
    /// PostgreSQL URL.
    Postgres(String),
}

impl RawStore {
    /// The SQLite file under the data dir (default) or a PostgreSQL URL; problems of the file
    /// `f` go to `errs`.
    pub fn validate(self, data_dir: &Path, f: &str, errs: &mut Vec<String>) -> StoreConfig {
        match self.backend.as_deref().unwrap_or("sqlite") {
            "sqlite" => {
                StoreConfig::Sqlite(data_dir.join(self.url.unwrap_or_else(|| "vigil.db".into())))
            }
            "postgres" => match self.url {
                Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                    StoreConfig::Postgres(u)
                }
                _ => {
                    errs.push(format!(
                        "{f}: store.url: backend postgres needs a postgres:// URL"
                    ));
                    StoreConfig::Sqlite(data_dir.join("vigil.db"))
                }
            },
            other => {
                errs.push(format!(
                    "{f}: store.backend: {other:?} is not a backend, expected sqlite or postgres"
                ));
                StoreConfig::Sqlite(data_dir.join("vigil.db"))
            }
        }
    }
}
