//! Sans-IO wire protocol of Vigil.
//!
//! Like `quinn-proto`, this crate contains no networking code and never reads the clock: callers
//! hand it bytes and `now`, and take frames, events and timeouts out. The agent and the collector
//! are thin async shells around it, and tests drive both ends in memory on virtual time.

pub mod finding;

pub use finding::{
    AgentHealth, CheckResult, DiskInfo, Envelope, FileEvent, FileEventKind, FileMeta, FileType,
    Finding, FindingSink, HealthKind, Inventory, NetEvent, NetEventKind, Package, Severity, Status,
};
