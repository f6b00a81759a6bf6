//! `notify status` and `notify test`: the notifier's queue as it persisted it, and a test
//! message to each recipient through the real channels (docs/notifications.md).

use std::sync::Arc;

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::json;

use super::term::outln;
use super::{DirArgs, Failure, fmt_time, load, runtime};
use crate::notify::policy::Message;
use crate::notify::{Deliver as _, Transports};

/// `notify` subcommands.
#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// What waits to be sent: each queued message with its attempts and last error, and the
    /// alerts waiting for each recipient's digest. Reads the state file; the collector may run.
    Status {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Print `{"cursor": …, "queue": [...], "pending": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Send a test message to every recipient (or the one named) now, through the configured
    /// mail server and webhooks; exits 3 if any delivery fails.
    Test {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Only the recipient of this name.
        #[arg(long, value_name = "NAME")]
        to: Option<String>,
    },
}

/// Runs a `notify` subcommand.
pub(super) fn run(cmd: NotifyCmd) -> Result<(), Failure> {
    match cmd {
        NotifyCmd::Status { dir, json } => status(&dir, json),
        NotifyCmd::Test { dir, to } => test(&dir, to.as_deref()),
    }
}

fn status(dir: &DirArgs, as_json: bool) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let Some(o) = crate::notify::load_state(&cfg.notify.state_file)? else {
        if as_json {
            outln!("{}", json!({"cursor": null, "queue": [], "pending": []}));
        } else {
            outln!(
                "notifications have not run yet ({} does not exist)",
                cfg.notify.state_file.display()
            );
        }
        return Ok(());
    };
    let queue: Vec<_> = o
        .queue
        .iter()
        .map(|q| {
            json!({
                "id": q.id,
                "to": q.to,
                "type": match q.message { Message::Alert(_) => "alert", Message::Digest { .. } => "digest" },
                "alerts": q.message.alert_count(),
                "attempts": q.attempts,
                "queued_at": q.queued_at,
                "next_at": q.next_at,
                "last_error": q.last_error,
            })
        })
        .collect();
    let pending: Vec<_> = o
        .slots
        .iter()
        .filter(|(_, s)| !s.pending.is_empty())
        .map(|(to, s)| json!({"to": to, "alerts": s.pending.len() as u64 + s.more, "last_sent_at": s.last_at}))
        .collect();
    if as_json {
        outln!(
            "{}",
            json!({"cursor": o.cursor, "queue": queue, "pending": pending})
        );
        return Ok(());
    }
    outln!(
        "alerts read up to id {}; {} message(s) queued",
        o.cursor,
        o.queue.len()
    );
    for q in &o.queue {
        outln!(
            "  #{} to {}: {} alert(s), {} failed attempt(s), queued {}, next try {}{}",
            q.id,
            q.to,
            q.message.alert_count(),
            q.attempts,
            fmt_time(q.queued_at),
            fmt_time(q.next_at),
            q.last_error
                .as_deref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        );
    }
    for (to, s) in o.slots.iter().filter(|(_, s)| !s.pending.is_empty()) {
        outln!(
            "  {} alert(s) wait for the digest to {to}",
            s.pending.len() as u64 + s.more
        );
    }
    Ok(())
}

fn test(dir: &DirArgs, only: Option<&str>) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let targets: Vec<_> = cfg
        .notify
        .recipients
        .iter()
        .filter(|r| only.is_none_or(|n| r.name == n))
        .collect();
    if targets.is_empty() {
        return Err(Failure::usage(anyhow!(match only {
            Some(n) => format!("no recipient named {n:?} in [notify]"),
            None => "no recipient in [notify]".to_owned(),
        })));
    }
    let transports =
        Arc::new(Transports::new(&cfg.notify).map_err(|e| anyhow!("[notify]:\n{}", e.join("\n")))?);
    let now = crate::clock::now_ms() / 1000;
    let msg = crate::notify::test_message(&cfg.name, now);
    let failed = runtime()?.block_on(async {
        let mut failed = 0;
        for r in targets {
            let m = crate::notify::render(&cfg.name, r, 0, &msg, now);
            match transports.deliver(r, &m, now).await {
                Ok(()) => outln!("{}: sent", r.name),
                Err(e) => {
                    failed += 1;
                    outln!("{}: failed: {e}", r.name);
                }
            }
        }
        failed
    });
    if failed > 0 {
        return Err(anyhow!("{failed} test message(s) failed").into());
    }
    Ok(())
}
