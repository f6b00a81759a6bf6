//! Sans-IO wire protocol of Vigil.
//!
//! Like `quinn-proto`, this crate contains no networking code and never reads the clock: callers
//! hand it bytes and `now`, and take frames, events and timeouts out. The agent and the collector
//! are thin async shells around it, and tests drive both ends in memory on virtual time.
//!
//! - [`config`]: TOML config files parsed with every problem reported at once.
//! - [`fed`]: federation messages (downstream collector → upstream collector).
//! - [`finding`]: what engines observe, and the [`FindingSink`] they push into.
//! - [`frame`]: 4-byte big-endian length + JSON body, bounded size, hostile-input safe.
//! - [`limits`]: the length caps on every string an agent supplies.
//! - [`msg`]: the messages of a session and of enrollment.
//! - [`policy`]: signed central policy bundles, their canonical form, chunking and reassembly.
//! - [`session`]: the state machines of both ends.
//! - [`token`]: enrollment tokens.

pub mod config;
pub mod fed;
pub mod finding;
pub mod frame;
pub mod limits;
pub mod msg;
pub mod policy;
pub mod session;
pub mod token;
pub mod units;

pub use finding::{
    AgentHealth, CheckResult, DiskInfo, Envelope, FileEvent, FileEventKind, FileMeta, FileType,
    Finding, FindingSink, HealthKind, Inventory, LocalUser, Membership, NetEvent, NetEventKind,
    NetInterface, Package, RegistryData, RegistryEvent, Severity, Status,
};

/// An error and its causes on one line, each said once: `outer: cause: root`. A cause whose text
/// the message before it already contains is left out (an error that prints its source as part
/// of its own message, as `"{path}: {source}"` does, would otherwise say it twice).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// ALPN of an established agent session (client certificate required).
pub const ALPN: &[u8] = b"vigil/1";
/// ALPN of the enrollment exchange (no client certificate; a token instead).
pub const ALPN_ENROLL: &[u8] = b"vigil-enroll/1";
/// Highest protocol version this build speaks.
pub const PROTO_VERSION: u32 = 1;
/// Lowest protocol version this build accepts.
pub const MIN_PROTO_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("{path}: {source}")]
        Says {
            path: String,
            source: std::io::Error,
        },
        #[error("reading the rule pack")]
        Wraps(#[source] std::io::Error),
    }

    #[test]
    fn error_chain_says_each_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let says = Outer::Says {
            path: "/x".into(),
            source: io(),
        };
        assert_eq!(error_chain(&says), "/x: no such file");
        assert_eq!(
            error_chain(&Outer::Wraps(io())),
            "reading the rule pack: no such file"
        );
    }
}
