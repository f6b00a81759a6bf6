//! Test support shared by the integration tests of `vigil-rules`.

#![allow(dead_code)]

pub mod fixture;
pub mod rpmdb;
