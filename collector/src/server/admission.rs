//! Which new QUIC connections the collector takes on: a handshake budget that spoofed Initials
//! cannot exhaust and one source address cannot monopolise (DESIGN §10). Pure: time is an
//! argument.
//!
//! - A global token bucket (`quic.max_new_connections_per_sec`) bounds handshake work.
//! - An Initial from an address QUIC has not validated is answered with a Retry (a stateless
//!   packet carrying a token the client must echo, which a spoofed source never receives) when
//!   the collector is under load: less than half the global budget left, half of the handshake
//!   slots busy, or the address's own share spent. Otherwise it may use the top half of the
//!   global budget, never the address's share, so spoofing someone's address cannot spend it.
//! - A validated address gets at most its share of the budget (a quarter, at least one per
//!   second), so one busy or hostile address leaves room for every other agency's agents and
//!   enrollments. The per-address table is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::addr::key as addr_key;

/// Handshakes in progress at once; past half of it, unvalidated addresses get a Retry, and at
/// the limit new connections are refused.
pub(crate) const MAX_HANDSHAKING: usize = 256;
/// Source addresses whose share is tracked; more are evicted, full buckets first.
const MAX_ADDRESSES: usize = 10_000;

/// What to do with a new connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Start the handshake.
    Accept,
    /// Ask the client to prove its address first.
    Retry,
    /// Refuse (the client backs off).
    Refuse,
}

/// A token bucket: `rate` per second, holding at most `rate`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(rate: f64, now: Instant) -> Self {
        Self {
            tokens: rate,
            last: now,
        }
    }

    fn level(&mut self, rate: f64, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * rate).min(rate);
        self.tokens
    }

    fn take(&mut self, rate: f64, now: Instant) -> bool {
        if self.level(rate, now) >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The handshake budget of one endpoint.
#[derive(Debug)]
pub(crate) struct Admission {
    rate: f64,
    share: f64,
    global: Bucket,
    addresses: HashMap<IpAddr, Bucket>,
}

impl Admission {
    /// A budget of `rate` new connections per second, a quarter of it (at least 1) per address.
    pub(crate) fn new(rate: u32, now: Instant) -> Self {
        let rate = f64::from(rate.max(1));
        let share = (rate / 4.0).max(1.0);
        Self {
            rate,
            share,
            global: Bucket::full(rate, now),
            addresses: HashMap::new(),
        }
    }

    /// Decides an attempt from `ip`, `validated` when it carries a Retry token, while
    /// `handshaking` handshakes are in progress.
    pub(crate) fn decide(
        &mut self,
        ip: IpAddr,
        validated: bool,
        handshaking: usize,
        now: Instant,
    ) -> Verdict {
        if handshaking >= MAX_HANDSHAKING {
            return Verdict::Refuse;
        }
        let key = addr_key(ip);
        let share = self.share;
        if !validated {
            let own = self
                .addresses
                .get_mut(&key)
                .map_or(share, |b| b.level(share, now));
            let loaded = self.global.level(self.rate, now) < self.rate / 2.0
                || handshaking >= MAX_HANDSHAKING / 2
                || own < 1.0;
            return if loaded {
                Verdict::Retry
            } else if self.global.take(self.rate, now) {
                Verdict::Accept
            } else {
                Verdict::Retry
            };
        }
        if self.addresses.len() >= MAX_ADDRESSES && !self.addresses.contains_key(&key) {
            self.evict(now);
        }
        let own = self
            .addresses
            .entry(key)
            .or_insert_with(|| Bucket::full(share, now));
        if !own.take(share, now) {
            return Verdict::Refuse;
        }
        if self.global.take(self.rate, now) {
            Verdict::Accept
        } else {
            Verdict::Refuse
        }
    }

    /// Drops the addresses whose share is full again (they behave as new ones), then, if still
    /// full, an arbitrary eighth.
    fn evict(&mut self, now: Instant) {
        let share = self.share;
        self.addresses.retain(|_, b| b.level(share, now) < share);
        if self.addresses.len() >= MAX_ADDRESSES {
            let drop: Vec<IpAddr> = self
                .addresses
                .keys()
                .take(MAX_ADDRESSES / 8)
                .copied()
                .collect();
            for k in drop {
                self.addresses.remove(&k);
            }
        }
    }

    /// Addresses tracked (tests).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.addresses.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_flood_of_unvalidated_initials_gets_retries_and_leaves_the_budget_to_others() {
        let t0 = Instant::now();
        let mut a = Admission::new(200, t0);
        let (attacker, agent) = (ip("127.0.0.2"), ip("127.0.0.1"));
        // 1,000 spoofed Initials in one second; the ones accepted never finish their handshake.
        let mut handshaking = 0;
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(i);
            if a.decide(attacker, false, handshaking, now) == Verdict::Accept {
                handshaking += 1;
            }
        }
        assert!(handshaking <= MAX_HANDSHAKING / 2, "{handshaking}");
        let now = t0 + Duration::from_millis(1000);
        // The agent is asked to validate, then gets in.
        assert_eq!(a.decide(agent, false, handshaking, now), Verdict::Retry);
        assert_eq!(a.decide(agent, true, handshaking, now), Verdict::Accept);
    }

    #[test]
    fn one_validated_address_gets_only_its_share() {
        let t0 = Instant::now();
        let mut a = Admission::new(200, t0);
        let busy = ip("192.0.2.7");
        let taken = (0..200)
            .filter(|_| a.decide(busy, true, 0, t0) == Verdict::Accept)
            .count();
        assert_eq!(taken, 50, "a quarter of the budget");
        assert_eq!(a.decide(ip("192.0.2.8"), true, 0, t0), Verdict::Accept);
        // Its unvalidated attempts are retried rather than spending the others' part.
        assert_eq!(a.decide(busy, false, 0, t0), Verdict::Retry);
        // The share refills.
        assert_eq!(
            a.decide(busy, true, 0, t0 + Duration::from_millis(100)),
            Verdict::Accept
        );
    }

    #[test]
    fn handshake_slots_and_the_address_table_are_bounded() {
        let t0 = Instant::now();
        let mut a = Admission::new(100_000, t0);
        assert_eq!(
            a.decide(ip("10.0.0.1"), false, MAX_HANDSHAKING / 2, t0),
            Verdict::Retry
        );
        assert_eq!(
            a.decide(ip("10.0.0.1"), true, MAX_HANDSHAKING, t0),
            Verdict::Refuse
        );
        for i in 0..(MAX_ADDRESSES as u32 + 500) {
            let now = t0 + Duration::from_secs(u64::from(i));
            a.decide(IpAddr::from(i.to_be_bytes()), true, 0, now);
        }
        assert!(a.tracked() <= MAX_ADDRESSES, "{}", a.tracked());
        // IPv6 neighbours in one /64 share a key.
        assert_eq!(
            addr_key(ip("2001:db8::1")),
            addr_key(ip("2001:db8::ffff:1"))
        );
    }
}
