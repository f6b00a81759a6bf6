//! `status`: this agent's identity and what its uplink last reported.

use anyhow::Context as _;
use serde::Serialize;

use super::Failure;
use crate::state::{Identity, StatePaths};

/// `status --json`.
#[derive(Serialize)]
struct StatusJson<'a> {
    identity: &'a Identity,
    status: Option<&'a crate::uplink::Status>,
}

/// Prints the identity and the last status the running agent wrote.
pub(super) fn status(state: &StatePaths, json: bool) -> Result<u8, Failure> {
    let id = state.load_identity()?;
    let st: Option<crate::uplink::Status> = std::fs::read(state.status())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if json {
        let out = StatusJson {
            identity: &id,
            status: st.as_ref(),
        };
        println!(
            "{}",
            serde_json::to_string(&out).context("encoding the status")?
        );
    } else {
        println!("agent id:     {}", id.agent_id);
        println!("agency:       {}", id.agency);
        println!("collectors:   {}", id.collectors.join(", "));
        println!("cert expires: {}", fmt_unix(id.cert_not_after));
        match st {
            Some(s) => {
                println!(
                    "connected:    {}{}",
                    if s.connected { "yes, to " } else { "no" },
                    if s.connected {
                        s.collector.as_str()
                    } else {
                        ""
                    }
                );
                println!(
                    "spool:        {} unacknowledged, acked up to #{}, next #{}",
                    s.spool_depth, s.acked_seq, s.next_seq
                );
                let c = &s.counters;
                println!(
                    "counters:     {} findings, {} dropped (spool full), {} spool errors, \
                     {} FIM overflows, {} check runs, {} reconnects",
                    c.findings,
                    c.spool_dropped,
                    c.spool_errors,
                    c.fim_overflows,
                    c.checks_run,
                    c.reconnects
                );
                if let Some(e) = s.last_error {
                    println!("last error:   {e}");
                }
                print_policy(&s.policy);
                println!("updated:      {}", fmt_unix(s.updated_at / 1000));
            }
            None => {
                println!("status:       the agent has not run yet");
                print_stored_policy(state);
            }
        }
    }
    Ok(0)
}

/// The policy on disk, for an agent that has not run since it was applied.
fn print_stored_policy(state: &StatePaths) {
    let store = crate::policy::PolicyStore::new(state);
    let stored = match store.key() {
        Ok(Some(key)) => store.load(&key).map_err(|e| e.to_string()),
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    };
    match stored {
        Ok(Some(s)) => println!(
            "policy:       central, version {} for {} (on disk)",
            s.bundle.version, s.bundle.agency
        ),
        Ok(None) => println!("policy:       local only (no central policy applied)"),
        Err(e) => println!("policy:       stored central policy unusable: {e}"),
    }
}

fn print_policy(p: &crate::policy::PolicyStatus) {
    if p.version > 0 {
        println!(
            "policy:       central, version {} for {} ({})",
            p.version,
            p.agency.as_deref().unwrap_or("?"),
            p.digest.as_deref().unwrap_or("?")
        );
    } else {
        println!("policy:       local only (no central policy applied)");
    }
    for crate::policy::PackStatus { pack, source } in &p.packs {
        let source = match source {
            crate::policy::PackSource::Central => "central",
            crate::policy::PackSource::Local => "local",
        };
        println!("  pack:       {pack} ({source})");
    }
    if let Some(r) = &p.last_refusal {
        println!("  refused:    {r}");
    }
}

fn fmt_unix(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_dates() {
        assert_eq!(super::fmt_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::fmt_unix(1_795_000_000), "2026-11-18 11:06:40 UTC");
        assert_eq!(super::fmt_unix(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
