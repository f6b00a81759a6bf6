//! Test support shared by the integration tests of `vigil-rules`.

pub mod rpmdb;
