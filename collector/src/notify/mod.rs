//! Notifications of new alerts by e-mail and signed webhook (`[notify]` in collector.toml,
//! docs/notifications.md).
//!
//! The seam with alerting is the alerts table itself: every path that raises an alert (agent
//! batches, periodic rules, enrollment, vulnerability matching) commits it to the store, and
//! the notifier reads new alerts in creation order after a persisted cursor
//! ([`crate::store::Store::alerts_after`]). Nothing on the raising paths calls the notifier, so
//! a slow or failing mail server never delays ingest, and an alert committed just before a
//! crash is still notified after the restart.
//!
//! [`policy`] decides (purely, time as an argument) what goes to whom and when: first alert at
//! once, then one digest per recipient per window. The [`Deliver`] trait is where rendered
//! messages leave: [`Transports`] (SMTP and webhooks) in the collector, a recorder in tests.
//! The cursor, digests and queue live in a 0600 state file written before each send, so
//! delivery is at-least-once (a crash between a send and the next write repeats that send).

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;
use tracing::{debug, info, warn};

pub mod config;
pub mod policy;
pub mod smtp;
pub mod text;
pub mod webhook;

pub use config::{Channel, NotifyConfig, RawNotify, Recipient};
use policy::{Item, Message, Outbox, Retry, Route};

use crate::store::{Alert, Store};

/// Alerts read from the store per page.
const PAGE: u32 = 500;
/// Pages read per tick at most (the rest wait for the next tick).
const MAX_PAGES: usize = 20;

/// A message ready to leave, in every form a channel may need.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// The webhook's JSON body.
    pub json: Vec<u8>,
}

/// Where rendered notifications go.
pub trait Deliver: Send + Sync {
    /// Sends `m` to `to` at `now` (Unix seconds).
    fn deliver<'a>(
        &'a self,
        to: &'a Recipient,
        m: &'a Rendered,
        now: i64,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// The real channels: one mailer, one prepared webhook per webhook recipient.
#[derive(Debug)]
pub struct Transports {
    mailer: Option<smtp::Mailer>,
    webhooks: HashMap<String, webhook::Webhook>,
}

impl Transports {
    /// Prepares every channel of `cfg`, reading its secrets.
    ///
    /// # Errors
    /// Every secret or CA that cannot be read, each naming its recipient (never a value).
    pub fn new(cfg: &NotifyConfig) -> Result<Self, Vec<String>> {
        let mut errs = Vec::new();
        let mailer = match &cfg.smtp {
            Some(s) => smtp::Mailer::new(s)
                .map_err(|e| errs.push(format!("notify.smtp: {e}")))
                .ok(),
            None => None,
        };
        let mut webhooks = HashMap::new();
        for r in &cfg.recipients {
            if let Channel::Webhook { url, key, ca } = &r.channel {
                let hook = key
                    .load()
                    .and_then(|k| webhook::Webhook::new(url, k, ca.as_deref()));
                match hook {
                    Ok(h) => {
                        webhooks.insert(r.name.clone(), h);
                    }
                    Err(e) => errs.push(format!("notify recipient {:?}: {e}", r.name)),
                }
            }
        }
        if errs.is_empty() {
            Ok(Self { mailer, webhooks })
        } else {
            Err(errs)
        }
    }
}

impl Deliver for Transports {
    fn deliver<'a>(
        &'a self,
        to: &'a Recipient,
        m: &'a Rendered,
        now: i64,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            match &to.channel {
                Channel::Email(addr) => match &self.mailer {
                    Some(mailer) => mailer.send(addr, &m.subject, m.text.clone()).await,
                    None => Err("no [notify.smtp] server".into()),
                },
                Channel::Webhook { .. } => match self.webhooks.get(&to.name) {
                    Some(h) => h.post(m.json.clone(), now).await,
                    None => Err("webhook not prepared".into()),
                },
            }
        })
    }
}

/// A test message (`vigil-collector notify test`): a low-severity item of kind `notify_test`.
pub fn test_message(org: &str, now: i64) -> Message {
    Message::Alert(Item {
        id: 0,
        kind: "notify_test".into(),
        severity: vigil_proto::Severity::Low,
        agency: String::new(),
        host: org.to_owned(),
        title: "Test notification: this recipient is configured correctly".into(),
        params: Default::default(),
        opened_at: now,
    })
}

/// Renders `m` for `to`.
pub fn render(org: &str, to: &Recipient, delivery: u64, m: &Message, now: i64) -> Rendered {
    let subject = text::subject(to.lang, org, m);
    let body = text::body(to.lang, org, m);
    let items: Vec<&Item> = match m {
        Message::Alert(i) => vec![i],
        Message::Digest { items, .. } => items.iter().collect(),
    };
    let alerts: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            json!({
                "id": i.id,
                "kind": i.kind,
                "severity": i.severity,
                "agency": i.agency,
                "host": i.host,
                "title": i.title,
                "title_localized": text::title(to.lang, i),
                "params": i.params,
                "opened_at": i.opened_at,
            })
        })
        .collect();
    let doc = json!({
        "version": 1,
        "type": match m { Message::Alert(_) => "alert", Message::Digest { .. } => "digest" },
        "collector": org,
        "recipient": to.name,
        "delivery": delivery,
        "lang": to.lang.code(),
        "sent_at": now,
        "alert_count": m.alert_count(),
        "alerts": alerts,
        "subject": subject,
        "text": body,
    });
    Rendered {
        subject,
        text: body,
        json: doc.to_string().into_bytes(),
    }
}

/// The notifier: reads new alerts, applies the policy, sends, persists.
pub struct Notifier {
    cfg: NotifyConfig,
    org: String,
    store: Arc<dyn Store>,
    deliver: Arc<dyn Deliver>,
    routes: Vec<Route>,
    outbox: Outbox,
}

impl Notifier {
    /// Loads the persisted state (or, on the first run, starts after the newest alert: alerts
    /// raised before notifications were configured are not sent).
    ///
    /// # Errors
    /// An unreadable or corrupt state file, or a store error on the first run.
    pub fn new(
        cfg: NotifyConfig,
        org: String,
        store: Arc<dyn Store>,
        deliver: Arc<dyn Deliver>,
    ) -> anyhow::Result<Self> {
        let routes: Vec<Route> = cfg
            .recipients
            .iter()
            .map(|r| Route {
                name: r.name.clone(),
                agency: r.agency.clone(),
                min_severity: r.min_severity,
            })
            .collect();
        let mut outbox = match load_state(&cfg.state_file)? {
            Some(o) => o,
            None => Outbox {
                cursor: store.alerts(None)?.first().map_or(0, |a| a.id),
                ..Outbox::default()
            },
        };
        let fresh = outbox.owner.is_empty();
        if fresh {
            outbox.owner = uuid::Uuid::new_v4().to_string();
        }
        let gone = outbox.retain(&routes);
        if gone > 0 {
            warn!(
                count = gone,
                "Queued notifications to recipients no longer configured were dropped."
            );
        }
        let n = Self {
            cfg,
            org,
            store,
            deliver,
            routes,
            outbox,
        };
        if fresh {
            // The id is kept before it claims anything: a claim must never outlive its holder.
            n.save()?;
        }
        Ok(n)
    }

    /// Runs until `shutdown`, one tick per poll interval.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        info!(
            recipients = self.routes.len(),
            cursor = self.outbox.cursor,
            "Notifier started."
        );
        loop {
            if let Err(e) = self.tick(now_s()).await {
                warn!(error = %e, "Notifier tick failed; retrying at the next one.");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.poll_interval) => {}
                _ = shutdown.changed() => break,
            }
        }
        if let Err(e) = self.save() {
            warn!(error = %e, "Saving the notifier state failed.");
        }
    }

    /// Reads new alerts, queues and sends what is due at `now`.
    ///
    /// # Errors
    /// Store errors or a failure to persist the state (nothing is sent then).
    pub async fn tick(&mut self, now: i64) -> anyhow::Result<()> {
        let window = i64::try_from(self.cfg.digest_window.as_secs()).unwrap_or(i64::MAX);
        let mut dropped = 0;
        let mut after = self.outbox.cursor;
        for _ in 0..MAX_PAGES {
            let (store, routes) = (self.store.clone(), self.routes.clone());
            let owner = self.outbox.owner.clone();
            let page = tokio::task::spawn_blocking(move || {
                let page = read_page(&*store, after)?;
                claim_page(&*store, page, &routes, &owner, now)
            })
            .await??;
            for (item, routes) in &page {
                // An alert whose every recipient another collector claimed is still taken, so
                // the cursor moves past it.
                dropped += self.outbox.offer(routes, item, window, now);
            }
            let page: Vec<&Item> = page.iter().map(|(i, _)| i).collect();
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = last.id,
                _ => break,
            }
        }
        self.outbox.advance(now);
        dropped += self.outbox.flush(window, now);
        for _ in 0..dropped {
            crate::metrics::record(crate::metrics::Event::NotificationDropped);
        }
        // Persist what was queued before anything leaves: a crash now repeats, never loses.
        self.save()?;
        for id in self.outbox.due(now) {
            self.send_one(id, now).await;
        }
        self.save()?;
        crate::metrics::record(crate::metrics::Event::NotifyQueue {
            depth: self.outbox.queue.len() as u64,
            oldest_age_s: self.outbox.oldest_age(now),
        });
        Ok(())
    }

    async fn send_one(&mut self, id: u64, now: i64) {
        let Some(q) = self.outbox.get(id).cloned() else {
            return;
        };
        let Some(to) = self.cfg.recipients.iter().find(|r| r.name == q.to) else {
            self.outbox.sent(id);
            return;
        };
        let channel = to.channel.label();
        let m = render(&self.org, to, id, &q.message, now);
        match self.deliver.deliver(to, &m, now).await {
            Ok(()) => {
                debug!(to = %to.name, alerts = q.message.alert_count(), "Notification sent.");
                self.outbox.sent(id);
                crate::metrics::record(crate::metrics::Event::NotificationSent { channel });
            }
            Err(e) => {
                crate::metrics::record(crate::metrics::Event::NotificationFailed { channel });
                match self.outbox.failed(id, now, &e) {
                    Retry::At(t) => {
                        warn!(to = %to.name, error = %e, retry_in_s = t - now, "Notification failed; will retry.");
                    }
                    Retry::GaveUp => {
                        warn!(to = %to.name, error = %e, "Notification failed too often; dropped.");
                        crate::metrics::record(crate::metrics::Event::NotificationDropped);
                    }
                }
            }
        }
    }

    /// The state as persisted (for tests and status).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    fn save(&self) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(&self.outbox)?;
        crate::fsutil::write_private(&self.cfg.state_file, &bytes)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", self.cfg.state_file.display()))
    }
}

/// Each alert of `page` with the recipients this notifier (`owner`) claimed it for in the store
/// (collectors sharing a PostgreSQL database: the first to claim an alert for a recipient sends
/// it, the others leave it).
fn claim_page(
    store: &dyn Store,
    page: Vec<Item>,
    routes: &[Route],
    owner: &str,
    now: i64,
) -> crate::store::Result<Vec<(Item, Vec<Route>)>> {
    page.into_iter()
        .map(|item| {
            let mut mine = Vec::new();
            for r in routes
                .iter()
                .filter(|r| r.wants(&item.agency, item.severity))
            {
                if store.notify_claim(item.id, &r.name, owner, now)? {
                    mine.push(r.clone());
                }
            }
            Ok((item, mine))
        })
        .collect()
}

/// The next page of alerts after `after`, with their hosts' names and agencies.
fn read_page(store: &dyn Store, after: i64) -> crate::store::Result<Vec<Item>> {
    let alerts = store.alerts_after(after, PAGE)?;
    let mut hosts: HashMap<String, (String, String)> = HashMap::new();
    let mut out = Vec::with_capacity(alerts.len());
    for a in alerts {
        if !hosts.contains_key(&a.agent_id) {
            let h = store.agent(&a.agent_id)?.map_or_else(
                || (String::new(), a.agent_id.clone()),
                |r| (r.agency, r.hostname),
            );
            hosts.insert(a.agent_id.clone(), h);
        }
        let (agency, host) = hosts.get(&a.agent_id).cloned().unwrap_or_default();
        out.push(item(a, agency, host));
    }
    Ok(out)
}

/// Longest agent-derived text kept per field of a notification, in characters: an agent may
/// send 64 KiB of evidence, and a digest of 50 such alerts must stay a readable mail.
const MAX_FIELD: usize = 300;

fn item(a: Alert, agency: String, host: String) -> Item {
    let params = a
        .params
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, serde_json::Value::String(cap(&s))),
            v => (k, v),
        })
        .collect();
    Item {
        id: a.id,
        kind: a.kind,
        severity: a.severity,
        agency,
        host: cap(&host),
        title: cap(&a.title),
        params,
        opened_at: a.opened_at,
    }
}

/// `s` cut to [`MAX_FIELD`] characters (marked with `…`).
fn cap(s: &str) -> String {
    if s.chars().count() <= MAX_FIELD {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_FIELD).collect();
    out.push('…');
    out
}

/// The persisted state, `None` before the first run.
///
/// # Errors
/// An unreadable or corrupt file.
pub fn load_state(path: &Path) -> anyhow::Result<Option<Outbox>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
            anyhow::anyhow!(
                "{} is corrupt ({e}); move it away to start over",
                path.display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

fn now_s() -> i64 {
    crate::clock::now_ms() / 1000
}

#[cfg(test)]
mod tests;
