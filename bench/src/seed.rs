//! A seeded province for the collector benchmarks (`score`, `console`): agencies, hosts with
//! check results through the real ingest path, registered assets and open alerts.

use std::time::Instant;

use vigil_collector::store::{Agency, Asset, NewAgent, NewAlert, Store};
use vigil_proto::{CheckResult, Envelope, Finding, Severity, Status};
use vigil_rules::pack::GROUPS;

/// The benchmarks' clock, ms since the epoch.
pub const NOW: i64 = 1_800_000_000_000;

/// Fills `store`: a province `tinh` with `agencies` communes, `hosts` agents spread over them with
/// `rules` check results each, every 10th host registered as an asset, every 50th asset without
/// an agent, and a critical alert on every 100th host.
///
/// # Errors
/// Store errors.
pub fn fill(store: &dyn Store, hosts: usize, agencies: usize, rules: usize) -> anyhow::Result<()> {
    let t = Instant::now();
    store.agency_add(&Agency {
        id: "tinh".into(),
        name: "Tỉnh".into(),
        level: 2,
    })?;
    for a in 0..agencies {
        store.agency_add(&Agency {
            id: format!("tinh/xa-{a:03}"),
            name: format!("Xã {a}"),
            level: if a % 4 == 0 { 3 } else { 2 },
        })?;
    }
    let mut assets = Vec::new();
    for h in 0..hosts {
        let id = format!("agent-{h:05}");
        let agency = format!("tinh/xa-{:03}", h % agencies);
        store.agent_enroll(
            &NewAgent {
                id: id.clone(),
                agency: agency.clone(),
                machine_id: format!("m-{h}"),
                hostname: format!("pc-{h:05}"),
                os: "Debian 12".into(),
                cert_serial: format!("s-{h}"),
                cert_not_after: NOW / 1000 + 86_400 * 365,
                agent_version: "0.1.0".into(),
                token_id: "t".into(),
            },
            NOW / 1000 - 3600,
        )?;
        // Every 10th host is registered as an asset; every 50th registered machine has no agent.
        if h % 10 == 0 {
            assets.push(Asset {
                agency: agency.clone(),
                hostname: format!("pc-{h:05}"),
                role: if h % 20 == 0 { "server" } else { "workstation" }.into(),
                level: 2,
            });
        }
        if h % 50 == 0 {
            assets.push(Asset {
                agency,
                hostname: format!("missing-{h:05}"),
                role: "workstation".into(),
                level: 2,
            });
        }
        let batch: Vec<Envelope> = (0..rules)
            .map(|r| Envelope {
                seq: r as u64 + 1,
                observed_at: NOW - 60_000,
                finding: Finding::CheckResult(CheckResult {
                    rule_id: format!("lnx-rule-{r:03}"),
                    pack: "linux-baseline@1.0.0".into(),
                    status: match (h + r) % 10 {
                        0 => Status::Fail,
                        1 => Status::Error,
                        2 => Status::NotApplicable,
                        _ => Status::Pass,
                    },
                    severity: Severity::ALL[r % 4],
                    group: GROUPS[r % GROUPS.len()].into(),
                    controls: vec![],
                    evidence: String::new(),
                }),
            })
            .collect();
        store.ingest(&id, &batch, NOW - 30_000)?;
        store.agent_seen(&id, NOW / 1000 - 60, None, None)?;
        if h % 100 == 0 {
            store.alert_raise(
                &NewAlert {
                    key: format!("bench:{id}"),
                    kind: "ioc_hit".into(),
                    severity: Severity::Critical,
                    agent_id: id,
                    title: "bench".into(),
                    other_agency: None,
                },
                NOW / 1000 - 7200,
            )?;
        }
        if (h + 1) % 2000 == 0 {
            eprintln!(
                "  filled {}/{hosts} hosts ({:.0} s)",
                h + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    store.assets_import(&assets, "bench", NOW / 1000)?;
    eprintln!(
        "  filled in {:.1} s: {hosts} hosts, {agencies} agencies, {rules} results each, {} assets",
        t.elapsed().as_secs_f64(),
        assets.len()
    );
    Ok(())
}
