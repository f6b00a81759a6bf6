//! What to send, to whom and when: pure, with time as an argument, and serialisable so the
//! notifier can persist it between runs.
//!
//! The policy, per recipient: an alert it should hear about is sent at once if nothing was
//! sent to it within the digest window; otherwise it waits, and when the window since the last
//! message has passed, everything that waited goes out as one digest. So a recipient gets at
//! most one message per window plus the first, however many alerts an incident raises; a
//! digest lists the first [`DIGEST_ITEMS`] alerts and counts the rest.
//!
//! Messages wait in a bounded queue until sent. A failed attempt is retried after a backoff
//! that doubles from [`FIRST_BACKOFF_S`] up to [`MAX_BACKOFF_S`]; after [`MAX_ATTEMPTS`] the
//! message is dropped (and counted). When the queue is full the oldest message is dropped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use vigil_proto::Severity;

use crate::store::AlertParams;

/// Alerts listed in one digest; the rest are counted.
pub const DIGEST_ITEMS: usize = 50;
/// Messages kept waiting at most (all recipients together).
pub const MAX_QUEUE: usize = 1000;
/// First retry delay, seconds.
pub const FIRST_BACKOFF_S: i64 = 15;
/// Longest retry delay, seconds.
pub const MAX_BACKOFF_S: i64 = 3600;
/// Attempts before a message is dropped (about a day with the delays above).
pub const MAX_ATTEMPTS: u32 = 30;
/// How long a missing alert id below taken ones is waited for, seconds. PostgreSQL hands out
/// ids when rows are inserted, so a transaction that commits later can show a smaller id after
/// a larger one is read; an id that never shows was rolled back.
pub const GAP_GRACE_S: i64 = 120;

/// What a message says about one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Alert id.
    pub id: i64,
    /// Alert kind.
    pub kind: String,
    /// Severity.
    pub severity: Severity,
    /// Agency of the host (empty when the host is unknown).
    pub agency: String,
    /// Host name (the agent id when unknown).
    pub host: String,
    /// English one-line title.
    pub title: String,
    /// Facts for the localised title.
    #[serde(default)]
    pub params: AlertParams,
    /// When raised, Unix seconds.
    pub opened_at: i64,
}

/// A message to one recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// One alert, sent at once.
    Alert(Item),
    /// Alerts that waited out the window.
    Digest {
        /// The first [`DIGEST_ITEMS`] of them.
        items: Vec<Item>,
        /// How many more.
        more: u64,
    },
}

impl Message {
    /// Alerts the message covers.
    pub fn alert_count(&self) -> u64 {
        match self {
            Self::Alert(_) => 1,
            Self::Digest { items, more } => items.len() as u64 + more,
        }
    }
}

/// Who hears about what (the policy's view of a recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Recipient name.
    pub name: String,
    /// Agency subtree, `None` for all.
    pub agency: Option<String>,
    /// Lowest severity.
    pub min_severity: Severity,
}

impl Route {
    /// True if an alert on a host of `agency` with `severity` is for this recipient.
    pub fn wants(&self, agency: &str, severity: Severity) -> bool {
        severity >= self.min_severity
            && self
                .agency
                .as_deref()
                .is_none_or(|root| crate::scoring::in_subtree(agency, root))
    }
}

/// A message waiting to be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    /// Queue-unique id.
    pub id: u64,
    /// Recipient name.
    pub to: String,
    /// What to send.
    pub message: Message,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before (Unix seconds).
    pub next_at: i64,
    /// When queued (Unix seconds).
    pub queued_at: i64,
    /// Why the last attempt failed (never a secret: transport errors name hosts, not keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Per-recipient digest state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// When the last message to it was queued.
    pub last_at: Option<i64>,
    /// Alerts waiting for the digest.
    pub pending: Vec<Item>,
    /// Alerts waiting beyond [`DIGEST_ITEMS`].
    pub more: u64,
}

/// Everything the notifier must not forget across a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outbox {
    /// Every alert up to this id was taken (or given up as never committed).
    pub cursor: i64,
    /// Alerts above the cursor already taken: those after a missing id.
    #[serde(default)]
    pub taken: BTreeSet<i64>,
    /// When each missing id above the cursor was first seen missing.
    #[serde(default)]
    pub gaps: BTreeMap<i64, i64>,
    /// Digest state by recipient name.
    pub slots: BTreeMap<String, Slot>,
    /// Messages to send, oldest first.
    pub queue: VecDeque<Queued>,
    /// Next queue id.
    pub next_id: u64,
    /// This notifier's id in the store's notification claims (collectors sharing a database
    /// send each alert once per recipient); made at first start.
    #[serde(default)]
    pub owner: String,
}

/// What happened to a failed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Tried again at this time.
    At(i64),
    /// Dropped after [`MAX_ATTEMPTS`].
    GaveUp,
}

impl Outbox {
    /// Forgets recipients that are no longer configured (and their queued messages); returns
    /// how many messages were dropped.
    pub fn retain(&mut self, routes: &[Route]) -> usize {
        let known = |n: &str| routes.iter().any(|r| r.name == n);
        self.slots.retain(|n, _| known(n));
        let before = self.queue.len();
        self.queue.retain(|q| known(&q.to));
        before - self.queue.len()
    }

    /// Takes a new alert: queued at once for recipients not messaged within `window`, kept for
    /// the digest of the others. Returns how many messages were dropped to make room.
    /// An alert at or below the cursor, or taken before, is ignored.
    pub fn offer(&mut self, routes: &[Route], item: &Item, window: i64, now: i64) -> usize {
        if item.id <= self.cursor || !self.taken.insert(item.id) {
            return 0;
        }
        let mut dropped = 0;
        for r in routes
            .iter()
            .filter(|r| r.wants(&item.agency, item.severity))
        {
            let slot = self.slots.entry(r.name.clone()).or_default();
            if slot.last_at.is_none_or(|t| now - t >= window) && slot.pending.is_empty() {
                slot.last_at = Some(now);
                dropped += self.push(&r.name, Message::Alert(item.clone()), now);
            } else if slot.pending.len() < DIGEST_ITEMS {
                slot.pending.push(item.clone());
            } else {
                slot.more += 1;
            }
        }
        dropped
    }

    /// Moves the cursor over the taken alerts that follow it; a missing id stops it until it
    /// shows up or [`GAP_GRACE_S`] has passed since it was first seen missing.
    pub fn advance(&mut self, now: i64) {
        loop {
            let next = self.cursor + 1;
            if self.taken.remove(&next) {
                self.cursor = next;
                self.gaps.remove(&next);
                continue;
            }
            if self.taken.first().is_none() {
                break;
            }
            let since = *self.gaps.entry(next).or_insert(now);
            if now - since < GAP_GRACE_S {
                break;
            }
            self.gaps.remove(&next);
            self.cursor = next;
        }
        let cursor = self.cursor;
        self.gaps.retain(|id, _| *id > cursor);
    }

    /// Queues the digests whose window has passed; returns how many messages were dropped to
    /// make room.
    pub fn flush(&mut self, window: i64, now: i64) -> usize {
        let mut ready = Vec::new();
        for (name, slot) in &mut self.slots {
            let due = slot.last_at.is_none_or(|t| now - t >= window);
            if due && !slot.pending.is_empty() {
                slot.last_at = Some(now);
                let items = std::mem::take(&mut slot.pending);
                let more = std::mem::take(&mut slot.more);
                ready.push((name.clone(), Message::Digest { items, more }));
            }
        }
        ready
            .into_iter()
            .map(|(to, m)| self.push(&to, m, now))
            .sum()
    }

    /// Ids of the messages due at `now`, oldest first.
    pub fn due(&self, now: i64) -> Vec<u64> {
        self.queue
            .iter()
            .filter(|q| q.next_at <= now)
            .map(|q| q.id)
            .collect()
    }

    /// The queued message `id`.
    pub fn get(&self, id: u64) -> Option<&Queued> {
        self.queue.iter().find(|q| q.id == id)
    }

    /// Removes a sent message.
    pub fn sent(&mut self, id: u64) {
        self.queue.retain(|q| q.id != id);
    }

    /// Records a failed attempt of `id` and why.
    pub fn failed(&mut self, id: u64, now: i64, error: &str) -> Retry {
        let Some(pos) = self.queue.iter().position(|q| q.id == id) else {
            return Retry::GaveUp;
        };
        let q = &mut self.queue[pos];
        q.attempts += 1;
        q.last_error = Some(error.chars().take(500).collect());
        if q.attempts >= MAX_ATTEMPTS {
            self.queue.remove(pos);
            return Retry::GaveUp;
        }
        let shift = (q.attempts - 1).min(20);
        let delay = FIRST_BACKOFF_S
            .saturating_mul(1 << shift)
            .min(MAX_BACKOFF_S);
        q.next_at = now + delay;
        Retry::At(q.next_at)
    }

    /// Age in seconds of the oldest queued message (0 when empty).
    pub fn oldest_age(&self, now: i64) -> i64 {
        self.queue
            .iter()
            .map(|q| now - q.queued_at)
            .max()
            .unwrap_or(0)
            .max(0)
    }

    fn push(&mut self, to: &str, message: Message, now: i64) -> usize {
        let mut dropped = 0;
        while self.queue.len() >= MAX_QUEUE {
            self.queue.pop_front();
            dropped += 1;
        }
        self.next_id += 1;
        self.queue.push_back(Queued {
            id: self.next_id,
            to: to.to_owned(),
            message,
            attempts: 0,
            next_at: now,
            queued_at: now,
            last_error: None,
        });
        dropped
    }
}
