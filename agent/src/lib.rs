//! Vigil host agent.
//!
//! Engines (checks, FIM, netwatch, inventory) push findings into a [`vigil_proto::FindingSink`];
//! the uplink spools them durably and streams them to the collector over QUIC with mutual TLS.
//! `main.rs` only parses arguments and wires these modules together.

pub mod check;
pub mod units;
