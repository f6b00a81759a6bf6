//! Federation (issue 19): a collector enrolled to an upstream collector pushes signed posture
//! summaries of its tree there, and an upstream shows its downstreams' trees as federated
//! subtrees of its own (commune → province → national).
//!
//! - [`summary`]: what a summary holds, its checks at the upstream, and the graft into the
//!   upstream's tree (used by scoring, so every view shows federated agencies).
//! - [`publish`]: a summary built from this collector's scores.
//! - [`sign`]: ECDSA P-256 signatures of summaries.
//! - [`upstream`]: federation tokens, enrollment and summary sessions at the upstream.
//! - [`downstream`]: `upstream enroll` and the link that spools and pushes summaries.
//!
//! Design: the wire messages are in `vigil_proto::fed`; a session is one-way (summaries up,
//! acks down), reusing the findings' at-least-once delivery: per-downstream `seq`, spool
//! deleted on ack, idempotent store on `(downstream, seq)`, gaps recorded.

pub mod config;
pub mod downstream;
mod link;
pub mod publish;
pub mod sign;
pub mod summary;
pub mod upstream;
