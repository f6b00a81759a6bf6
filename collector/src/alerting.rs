//! Built-in alert rules applied to what an agent delivers (pure: findings in, alerts out).
//!
//! Each alert has a dedupe key, so a condition seen again counts on the same alert instead of
//! opening a new one. Rules so far: sequence gap, IOC hit, failed critical rule, change on a
//! critical file path, spool drops. (Silence, new listeners on servers, duplicate machine ids and
//! certificate expiry need the periodic evaluator that comes with the rest of the alert engine.)

use vigil_proto::{Envelope, FileEventKind, Finding, HealthKind, NetEventKind, Severity, Status};

use crate::store::NewAlert;

/// Alerts raised by one stored batch and the gaps it revealed.
pub fn alerts_for(agent_id: &str, batch: &[Envelope], gaps: &[(u64, u64)]) -> Vec<NewAlert> {
    let mut out: Vec<NewAlert> = gaps
        .iter()
        .map(|(from, to)| NewAlert {
            key: format!("gap:{agent_id}:{from}-{to}"),
            kind: "seq_gap".into(),
            severity: Severity::High,
            agent_id: agent_id.into(),
            title: format!(
                "findings #{from}..=#{to} from this agent never arrived ({} missing)",
                to - from + 1
            ),
        })
        .collect();
    for e in batch {
        let alert = match &e.finding {
            Finding::NetEvent(n) if n.kind == NetEventKind::IocHit => {
                let what = n.indicator.as_deref().unwrap_or("?");
                let who = n.exe.as_deref().unwrap_or("unknown process");
                Some((
                    "ioc_hit",
                    Severity::Critical,
                    format!("ioc:{agent_id}:{what}:{who}"),
                    format!("{who} matched indicator {what}"),
                ))
            }
            Finding::CheckResult(c)
                if c.status == Status::Fail && c.severity == Severity::Critical =>
            {
                Some((
                    "critical_rule_failed",
                    Severity::Critical,
                    format!("rule:{agent_id}:{}:{}", c.pack, c.rule_id),
                    format!("critical rule {} fails: {}", c.rule_id, c.evidence),
                ))
            }
            Finding::FileEvent(f)
                if f.severity >= Severity::High && f.kind != FileEventKind::Rescan =>
            {
                Some((
                    "fim_critical_path",
                    f.severity,
                    format!("fim:{agent_id}:{}", f.path),
                    format!("{} {:?} on a critical path", f.path, f.kind).to_lowercase(),
                ))
            }
            Finding::AgentHealth(h) if h.kind == HealthKind::SpoolDropped => Some((
                "spool_dropped",
                Severity::High,
                format!("spool:{agent_id}:{}", e.seq),
                h.message.clone(),
            )),
            _ => None,
        };
        if let Some((kind, severity, key, title)) = alert {
            out.push(NewAlert {
                key,
                kind: kind.into(),
                severity,
                agent_id: agent_id.into(),
                title,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::{CheckResult, NetEvent};

    fn env(seq: u64, finding: Finding) -> Envelope {
        Envelope {
            seq,
            observed_at: 0,
            finding,
        }
    }

    #[test]
    fn gaps_ioc_hits_and_critical_failures_raise_alerts_and_nothing_else_does() {
        let check = |status, severity| {
            Finding::CheckResult(CheckResult {
                rule_id: "r1".into(),
                pack: "p@1".into(),
                status,
                severity,
                group: "hardening".into(),
                controls: vec![],
                evidence: "PermitRootLogin yes".into(),
            })
        };
        let hit = Finding::NetEvent(NetEvent {
            kind: NetEventKind::IocHit,
            proto: "tcp".into(),
            local: "10.0.0.2:5000".into(),
            remote: Some("203.0.113.7:443".into()),
            pid: Some(1),
            exe: Some("/tmp/x".into()),
            user: None,
            cmdline: None,
            indicator: Some("ip:203.0.113.7".into()),
            note: None,
            severity: Severity::Critical,
        });
        let batch = vec![
            env(1, check(Status::Fail, Severity::Critical)),
            env(2, check(Status::Fail, Severity::High)),
            env(3, check(Status::Pass, Severity::Critical)),
            env(4, hit),
        ];
        let a = alerts_for("a1", &batch, &[(7, 9)]);
        let kinds: Vec<&str> = a.iter().map(|x| x.kind.as_str()).collect();
        assert_eq!(kinds, vec!["seq_gap", "critical_rule_failed", "ioc_hit"]);
        assert!(a[0].title.contains("#7..=#9") && a[0].title.contains("3 missing"));
        assert_eq!(a[1].key, "rule:a1:p@1:r1");
        assert_eq!(a[2].severity, Severity::Critical);
        // The same condition twice gives the same key (deduplicated by the store).
        assert_eq!(alerts_for("a1", &batch[..1], &[])[0].key, a[1].key);
    }
}
