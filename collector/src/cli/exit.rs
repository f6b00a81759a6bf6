//! Exit codes of `vigil-collector`, in one place. Every command returns `Result<(), Failure>`;
//! `main` prints the error and exits with its code.

use crate::config::ConfigError;

/// The command line or collector.toml is wrong: fix the input and run again.
pub const USAGE: u8 = 2;
/// Anything else failed while running (store, network, files).
pub const RUNTIME: u8 = 3;

/// An error with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub(super) code: u8,
    pub(super) err: anyhow::Error,
}

impl Failure {
    pub(super) fn usage(err: impl Into<anyhow::Error>) -> Self {
        Self {
            code: USAGE,
            err: err.into(),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let err = e.into();
        let code = if err.downcast_ref::<ConfigError>().is_some() {
            USAGE
        } else {
            RUNTIME
        };
        Self { code, err }
    }
}
