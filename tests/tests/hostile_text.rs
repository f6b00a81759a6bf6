//! Agent text never reaches a terminal raw (issue 17, item 9): a hostile agent enrolls with a
//! host name full of terminal escapes and reports packages, paths and rule ids full of them;
//! every human output of the collector's CLI shows them as visible escapes, and every `--json`
//! output stays valid JSON with the same characters as `\u` escapes.

use std::collections::BTreeMap;

use vigil_e2e::Collector;
use vigil_e2e::hostile::{self, RawSession};
use vigil_proto::{
    CheckResult, FileEvent, FileEventKind, Finding, Inventory, Package, Severity, Status,
};

/// OSC 52 (clipboard write), a C1 CSI, BEL, a bidi override and a fake second line.
const EVIL: &str = "x\x1b]52;c;cHduZWQ=\x07\u{9b}31m\u{202e}\nFAKE-ROW";

fn hostile_findings() -> Vec<Finding> {
    vec![
        Finding::Inventory(Inventory {
            hostname: format!("host{EVIL}"),
            packages: vec![Package {
                name: "openssl".into(),
                version: format!("3.0{EVIL}"),
                source: None,
            }],
            ..Inventory::default()
        }),
        Finding::CheckResult(CheckResult {
            rule_id: format!("rule{EVIL}"),
            pack: format!("pack{EVIL}@1"),
            status: Status::Fail,
            severity: Severity::Critical,
            group: "hardening".into(),
            controls: vec![],
            evidence: format!("evidence{EVIL}"),
        }),
        Finding::FileEvent(FileEvent {
            path: format!("/etc/{EVIL}"),
            kind: FileEventKind::Modified,
            old: None,
            new: None,
            changed: vec![],
            process: None,
            tag: None,
            summary: None,
            count: None,
            severity: Severity::High,
        }),
        Finding::AgentHealth(vigil_proto::AgentHealth {
            kind: vigil_proto::HealthKind::SpoolDropped,
            message: format!("dropped{EVIL}"),
            counts: BTreeMap::new(),
            severity: Severity::High,
        }),
    ]
}

/// Bytes that must not appear in terminal output: C0 controls other than the line ends the
/// CLI writes itself, DEL, C1 controls and the bidi override.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| (c.is_control() && c != '\n') || c == '\u{202e}')
        .collect()
}

#[test]
fn agent_text_is_escaped_in_every_human_and_json_output() {
    let mut c = Collector::init();
    c.start();
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let token = c.token(&[]);
    let id = rt
        .block_on(hostile::enroll(
            c.tmp.path(),
            "evil",
            &token,
            hostile::host("m-evil", &format!("pc{EVIL}")),
        ))
        .expect("enroll");
    rt.block_on(async {
        let mut s = RawSession::open(&id, &c.quic).await.expect("session");
        s.send(hostile_findings()).await.expect("stored");
    });

    let human: &[&[&str]] = &[
        &["hosts"],
        &["hosts", "--all"],
        &["findings", "--limit", "0"],
        &["alerts", "list"],
        &["query", "packages", "--name", "openssl"],
        &["score", "--agency", "p/a"],
        &["score"],
        &["gaps"],
        &["token", "list"],
        &["agency", "list"],
    ];
    for args in human {
        let out = c.ok(args);
        assert!(
            raw_controls(&out).is_empty(),
            "`{}` wrote raw control characters {:?}:\n{out}",
            args.join(" "),
            raw_controls(&out)
        );
        assert!(
            !out.lines().any(|l| l.starts_with("FAKE-ROW")),
            "`{}` let the agent start a line of its own:\n{out}",
            args.join(" ")
        );
    }
    // The escaped text is still there to read.
    assert!(
        c.ok(&["hosts"])
            .contains("pcx\\x1b]52;c;cHduZWQ=\\x07\\u{9b}31m\\u{202e}\\nFAKE-ROW")
    );

    let json: &[&[&str]] = &[
        &["hosts", "--json"],
        &["findings", "--json", "--limit", "0"],
        &["alerts", "list", "--json"],
        &["query", "packages", "--name", "openssl", "--json"],
        &["score", "--agency", "p/a", "--json"],
    ];
    for args in json {
        let out = c.ok(args);
        assert!(
            raw_controls(&out).is_empty(),
            "`{}` wrote raw control characters:\n{out}",
            args.join(" ")
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        assert!(v.to_string().contains("\\u001b]52"), "{out}");
    }
}
