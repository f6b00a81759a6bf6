//! Shared helpers of Vigil's benchmarks: sample findings and timing.

use std::collections::BTreeMap;

pub mod seed;

use vigil_proto::{
    AgentHealth, CheckResult, Envelope, FileEvent, FileEventKind, FileMeta, FileType, Finding,
    HealthKind, Severity, Status,
};

/// A realistic mix of findings (check results, file events, health), `n` of them from seq 1.
pub fn sample_envelopes(n: u64) -> Vec<Envelope> {
    (1..=n)
        .map(|seq| Envelope {
            seq,
            observed_at: 1_795_000_000_000 + seq as i64,
            finding: sample_finding(seq),
        })
        .collect()
}

/// One finding of the mix.
pub fn sample_finding(i: u64) -> Finding {
    match i % 3 {
        0 => Finding::CheckResult(CheckResult {
            rule_id: format!("lnx-ssh-{i}"),
            pack: "linux-baseline@1.0.0".into(),
            status: Status::Fail,
            severity: Severity::High,
            group: "hardening".into(),
            controls: vec!["tcvn-14423:4.5.2.1".into(), "cis-debian12:5.2.4".into()],
            evidence: "PermitRootLogin yes in /etc/ssh/sshd_config line 32".into(),
        }),
        1 => Finding::FileEvent(FileEvent {
            path: format!("/etc/cron.d/job-{i}"),
            kind: FileEventKind::Modified,
            old: Some(meta(i)),
            new: Some(meta(i + 1)),
            changed: vec!["hash".into(), "mtime".into(), "size".into()],
            process: None,
            tag: None,
            summary: None,
            count: None,
            severity: Severity::Medium,
        }),
        _ => Finding::AgentHealth(AgentHealth {
            kind: HealthKind::Other,
            message: format!("sample {i}"),
            counts: BTreeMap::from([("low".to_string(), i)]),
            severity: Severity::Low,
        }),
    }
}

fn meta(i: u64) -> FileMeta {
    FileMeta {
        file_type: FileType::File,
        size: 1000 + i,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1_795_000_000 + i as i64,
        hash: Some(format!("blake3:{:064x}", i)),
        link_target: None,
    }
}
