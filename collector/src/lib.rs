//! Vigil collector.
//!
//! Enrolls agents under its own CA, terminates their QUIC/mTLS sessions (a thin async shell
//! around `vigil_proto::session`), stores findings idempotently behind the [`store::Store`] trait
//! and serves the API. `main.rs` only parses arguments and calls into [`cli`].

pub mod addr;
pub mod alerting;
pub mod app;
pub mod assets;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod enroll;
pub mod export;
pub mod federation;
pub mod fsutil;
pub mod http;
pub mod ingest;
pub mod ioc;
pub mod metrics;
pub mod notify;
pub mod pki;
pub mod policy;
pub mod report;
pub mod schedule;
pub mod scoring;
pub mod server;
pub mod store;
pub mod tls;
pub mod views;
pub mod vuln;
