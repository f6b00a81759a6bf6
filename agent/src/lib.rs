//! Vigil host agent.
//!
//! Engines (checks, FIM, netwatch, inventory) push findings into a [`vigil_proto::FindingSink`];
//! the uplink spools them durably and streams them to the collector over QUIC with mutual TLS.
//! `main.rs` only calls [`cli::main`]. The same source builds for Linux and Windows; what differs
//! between them sits behind [`platform`] and the per-engine readers it names.

/// Size and duration parsing shared with the collector (defined in `vigil-proto`).
pub use vigil_proto::units;

pub mod central;
pub mod check;
pub mod cli;
pub mod config;
pub mod enroll;
pub mod fim;
pub mod inventory;
pub mod ioc;
pub mod logging;
pub mod mem;
pub mod netwatch;
pub mod packages;
pub mod platform;
pub mod policy;
mod progress;
pub mod quic_socket;
pub mod rules_cmd;
pub mod run;
pub mod sim;
pub mod spool;
pub mod state;
pub mod tls;
pub mod uplink;
