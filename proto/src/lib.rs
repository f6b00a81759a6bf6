//! Sans-IO wire protocol of Vigil.
//!
//! Like `quinn-proto`, this crate contains no networking code and never reads the clock: callers
//! hand it bytes and `now`, and take frames, events and timeouts out. The agent and the collector
//! are thin async shells around it, and tests drive both ends in memory on virtual time.
//!
//! - [`finding`]: what engines observe, and the [`FindingSink`] they push into.
//! - [`frame`]: 4-byte big-endian length + JSON body, bounded size, hostile-input safe.
//! - [`limits`]: the length caps on every string an agent supplies.
//! - [`msg`]: the messages of a session and of enrollment.
//! - [`session`]: the state machines of both ends.
//! - [`token`]: enrollment tokens.

pub mod finding;
pub mod frame;
pub mod limits;
pub mod msg;
pub mod session;
pub mod token;
pub mod units;

pub use finding::{
    AgentHealth, CheckResult, DiskInfo, Envelope, FileEvent, FileEventKind, FileMeta, FileType,
    Finding, FindingSink, HealthKind, Inventory, NetEvent, NetEventKind, Package, Severity, Status,
};

/// ALPN of an established agent session (client certificate required).
pub const ALPN: &[u8] = b"vigil/1";
/// ALPN of the enrollment exchange (no client certificate; a token instead).
pub const ALPN_ENROLL: &[u8] = b"vigil-enroll/1";
/// Highest protocol version this build speaks.
pub const PROTO_VERSION: u32 = 1;
/// Lowest protocol version this build accepts.
pub const MIN_PROTO_VERSION: u32 = 1;
