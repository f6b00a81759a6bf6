//! A private PostgreSQL schema for a test, and collectors that use it.
//!
//! Needs PostgreSQL at `VIGIL_TEST_PG` (default `postgres://postgres@127.0.0.1/test`): with
//! `CI=true` an unreachable server fails the test, otherwise it is skipped with a message.

use crate::Collector;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1/test";

/// A fresh schema, dropped at the end.
#[derive(Debug)]
pub struct Schema {
    url: String,
    name: String,
}

impl Schema {
    /// A new schema; `None` (after saying so) when PostgreSQL is unreachable outside CI.
    ///
    /// # Panics
    /// When PostgreSQL is unreachable with `CI=true`, or the schema cannot be created.
    pub fn new() -> Option<Self> {
        let url = std::env::var("VIGIL_TEST_PG").unwrap_or_else(|_| DEFAULT_URL.into());
        let mut c = match postgres::Client::connect(&url, postgres::NoTls) {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "PostgreSQL not reachable at {url} (CI=true): {e}"
                );
                eprintln!("SKIPPED: PostgreSQL not reachable at {url}: {e}");
                return None;
            }
        };
        let name = format!("vigil_e2e_{:016x}", rand::random::<u64>());
        c.batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("schema");
        Some(Self { url, name })
    }

    /// The URL the collectors use: the schema first on the search path.
    pub fn collector_url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.url, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// Points `c` at PostgreSQL `url`, with a fast schedule (scores, alert rules and a short
/// silence threshold) so tests see their effects within seconds.
pub fn use_postgres(c: &Collector, url: &str) {
    c.set_config_tables(&format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n\n\
         [schedule]\nrecompute = \"1s\"\nalert_rules = \"1s\"\n\n\
         [alerts]\nsilent_after = \"4s\"\n"
    ));
}
