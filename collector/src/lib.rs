//! Vigil collector.
//!
//! Enrolls agents under its own CA, terminates their QUIC/mTLS sessions (a thin async shell
//! around `vigil_proto::session`), stores findings idempotently behind the [`store::Store`] trait
//! and serves the API. `main.rs` only parses arguments and calls into [`cli`].

pub mod fsutil;
pub mod pki;
pub mod store;
