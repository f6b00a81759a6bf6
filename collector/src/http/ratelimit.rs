//! Limits failed logins (`[http] login_max_failures` in a `login_window`), so passwords cannot
//! be guessed at the speed of the network and cannot be used to lock people out.
//!
//! An attempt is counted as a failure *before* its password is checked, atomically with the
//! decision to let it through, and uncounted if it succeeds: a hundred parallel guesses get as
//! many password checks as the limit allows, not a hundred. Three counters decide:
//! - per (address, name): `login_max_failures` (default 5) per window;
//! - per address, any name: four times that (spraying many names from one place);
//! - per name, any address: four times that. Past it the name is under attack from many places,
//!   and only addresses from which the name has logged in successfully before (in the last 30
//!   days) may still try it: a flood of wrong passwords for `admin` does not lock the admin out
//!   of their usual workstation.
//!
//! A success clears its (address, name) counter and remembers the address as good for the name;
//! it does not clear the address's counter (an attacker holding one valid account could
//! otherwise reset their own counter between guesses). IPv6 clients count per /64, the block
//! one host usually holds. Counters live in this process (collectors sharing a database count
//! separately). Memory is bounded: each table holds at most `capacity` keys; when one is full,
//! expired counters go first, then the oldest eighth.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::{ApiError, AppState};

/// Settings of the login limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    /// Failures allowed per key within a window.
    pub max_failures: u32,
    /// Length of the window.
    pub window: Duration,
    /// Most keys kept per table (addresses, names).
    pub capacity: usize,
}

impl Default for LoginLimit {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(15 * 60),
            capacity: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    start: Instant,
    failures: u32,
}

#[derive(Debug)]
struct Table<K> {
    map: HashMap<K, Counter>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn live(&self, k: &K, now: Instant, window: Duration) -> Option<Counter> {
        self.map
            .get(k)
            .copied()
            .filter(|c| now.saturating_duration_since(c.start) < window)
    }

    fn fail(&mut self, k: K, now: Instant, lim: &LoginLimit) {
        let live = self.live(&k, now, lim.window);
        if live.is_none() && !self.map.contains_key(&k) && self.map.len() >= lim.capacity {
            self.evict(now, lim);
        }
        let c = match live {
            Some(c) => Counter {
                failures: c.failures.saturating_add(1),
                ..c
            },
            None => Counter {
                start: now,
                failures: 1,
            },
        };
        self.map.insert(k, c);
    }

    /// Takes back one failure counted for an attempt that turned out not to be one.
    fn unfail(&mut self, k: &K) {
        if let Some(c) = self.map.get_mut(k) {
            c.failures = c.failures.saturating_sub(1);
        }
    }

    fn evict(&mut self, now: Instant, lim: &LoginLimit) {
        self.map
            .retain(|_, c| now.saturating_duration_since(c.start) < lim.window);
        if self.map.len() < lim.capacity {
            return;
        }
        let mut starts: Vec<Instant> = self.map.values().map(|c| c.start).collect();
        let cut = (starts.len() / 8).max(1);
        let (_, nth, _) = starts.select_nth_unstable(cut - 1);
        let cutoff = *nth;
        self.map.retain(|_, c| c.start > cutoff);
    }

    /// When the key is blocked: the time left until its window ends.
    fn blocked_for(&self, k: &K, now: Instant, lim: &LoginLimit) -> Option<Duration> {
        self.live(k, now, lim.window)
            .filter(|c| c.failures >= lim.max_failures)
            .map(|c| {
                lim.window
                    .saturating_sub(now.saturating_duration_since(c.start))
            })
    }
}

/// Failures per address, and per name from anywhere, as multiples of the per-pair limit.
const WIDE_LIMIT_FACTOR: u32 = 4;
/// How long a successful login keeps its address good for its name.
const GOOD_FOR: Duration = Duration::from_secs(30 * 86_400);

#[derive(Debug)]
struct Tables {
    pairs: Table<(IpAddr, String)>,
    addresses: Table<IpAddr>,
    names: Table<String>,
    /// (address, name) → last successful login.
    good: HashMap<(IpAddr, String), Instant>,
}

/// The failure counters of one collector process.
#[derive(Debug)]
pub struct LoginLimiter {
    limit: LoginLimit,
    tables: Mutex<Tables>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LoginLimit::default())
    }
}

use crate::addr::key as addr_key;

/// The key of a user name (names are case-sensitive lowercase; bounded so a long name costs
/// nothing).
fn name_key(name: &str) -> String {
    name.chars().take(64).collect()
}

/// An attempt let through and counted as a failure until it is known to have succeeded.
#[derive(Debug)]
#[must_use = "report the outcome with LoginLimiter::finish"]
pub struct Attempt {
    ip: Option<IpAddr>,
    name: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The password was right.
    Succeeded,
    /// The password was checked and wrong.
    Failed,
    /// No password was checked (a malformed request, or no hashing slot free).
    NotChecked,
}

impl LoginLimiter {
    /// A limiter with these settings.
    pub fn new(limit: LoginLimit) -> Self {
        Self {
            limit,
            tables: Mutex::new(Tables {
                pairs: Table::default(),
                addresses: Table::default(),
                names: Table::default(),
                good: HashMap::new(),
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tables) -> T) -> T {
        let mut g = self
            .tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    fn wide(&self) -> LoginLimit {
        LoginLimit {
            max_failures: self.limit.max_failures.saturating_mul(WIDE_LIMIT_FACTOR),
            ..self.limit
        }
    }

    /// Lets an attempt through and counts it, or says how long the client must wait.
    ///
    /// # Errors
    /// The time left until the blocking counter's window ends.
    pub fn begin(
        &self,
        ip: Option<IpAddr>,
        name: Option<&str>,
        now: Instant,
    ) -> Result<Attempt, Duration> {
        let (lim, wide) = (self.limit, self.wide());
        let ip = ip.map(addr_key);
        let name = name.map(name_key);
        self.with(|t| {
            let pair = ip.zip(name.clone());
            let good = pair
                .as_ref()
                .and_then(|p| t.good.get(p))
                .is_some_and(|&at| now.saturating_duration_since(at) < GOOD_FOR);
            let blocked = [
                pair.as_ref()
                    .and_then(|p| t.pairs.blocked_for(p, now, &lim)),
                ip.and_then(|i| t.addresses.blocked_for(&i, now, &wide)),
                name.as_ref()
                    .filter(|_| !good)
                    .and_then(|n| t.names.blocked_for(n, now, &wide)),
            ]
            .into_iter()
            .flatten()
            .max();
            if let Some(wait) = blocked {
                return Err(wait);
            }
            if let Some(p) = pair {
                t.pairs.fail(p, now, &lim);
            }
            if let Some(i) = ip {
                t.addresses.fail(i, now, &wide);
            }
            if let Some(n) = &name {
                t.names.fail(n.clone(), now, &wide);
            }
            Ok(Attempt { ip, name })
        })
    }

    /// Records how an attempt ended: only checked wrong passwords stay counted.
    pub fn finish(&self, a: Attempt, outcome: Outcome, now: Instant) {
        if outcome == Outcome::Failed {
            return;
        }
        let capacity = self.limit.capacity;
        self.with(|t| {
            if let Some(i) = a.ip {
                t.addresses.unfail(&i);
            }
            if let Some(n) = &a.name {
                t.names.unfail(n);
            }
            let Some(pair) = a.ip.zip(a.name) else {
                return;
            };
            if outcome == Outcome::NotChecked {
                t.pairs.unfail(&pair);
                return;
            }
            t.pairs.map.remove(&pair);
            if t.good.len() >= capacity && !t.good.contains_key(&pair) {
                t.good
                    .retain(|_, at| now.saturating_duration_since(*at) < GOOD_FOR);
                if t.good.len() >= capacity {
                    t.good.clear();
                }
            }
            t.good.insert(pair, now);
        });
    }

    /// Keys held (pairs, addresses, names), for tests and metrics.
    pub fn len(&self) -> (usize, usize, usize) {
        self.with(|t| (t.pairs.map.len(), t.addresses.map.len(), t.names.map.len()))
    }
}

/// The address of the client of a connection, set by the server for every request.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Self(*s.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<
        axum::serve::IncomingStream<'_, super::listen::TlsListener>,
    > for Peer
{
    fn connect_info(s: axum::serve::IncomingStream<'_, super::listen::TlsListener>) -> Self {
        Self(*s.remote_addr())
    }
}

/// Largest login body read by the limiter (the API's own limit is the same).
const MAX_LOGIN_BODY: usize = 16 * 1024;

/// Middleware of `POST /api/v1/login`: refuses blocked clients and names with 429 and counts
/// the attempt before the handler checks the password (see the module documentation).
pub(super) async fn login_guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || req.uri().path() != "/api/v1/login" {
        return next.run(req).await;
    }
    let ip = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0.0.ip());
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_LOGIN_BODY).await else {
        return ApiError::Client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large".into(),
        )
        .into_response();
    };
    // The handler validates the body; here only the name is needed, when there is one.
    let name: Option<String> = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_owned));
    let limiter = st.login_limit.clone();
    let attempt = match limiter.begin(ip, name.as_deref(), Instant::now()) {
        Ok(a) => a,
        Err(wait) => {
            tracing::warn!(client = ?ip, user = ?name, "Login refused: too many failures.");
            return too_many(wait);
        }
    };
    let r = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let outcome = match r.status() {
        StatusCode::UNAUTHORIZED => Outcome::Failed,
        s if s.is_success() => Outcome::Succeeded,
        _ => Outcome::NotChecked,
    };
    limiter.finish(attempt, outcome, Instant::now());
    r
}

/// 429 with `Retry-After`.
fn too_many(wait: Duration) -> Response {
    let mut r = ApiError::Client(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed logins; try again later".into(),
    )
    .into_response();
    let secs = wait.as_secs().max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(max: u32, cap: usize) -> LoginLimiter {
        LoginLimiter::new(LoginLimit {
            max_failures: max,
            window: Duration::from_secs(60),
            capacity: cap,
        })
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    /// One attempt that ends with `outcome`; false when it was not let through.
    fn attempt(
        l: &LoginLimiter,
        ip: Option<IpAddr>,
        name: &str,
        outcome: Outcome,
        at: Instant,
    ) -> bool {
        match l.begin(ip, Some(name), at) {
            Ok(a) => {
                l.finish(a, outcome, at);
                true
            }
            Err(_) => false,
        }
    }

    #[test]
    fn attempts_count_before_the_password_is_checked() {
        let l = lim(3, 100);
        let t0 = Instant::now();
        // Ten parallel guesses: only three are let through to a password check.
        let through: Vec<Attempt> = (0..10)
            .filter_map(|_| l.begin(ip(1), Some("an"), t0).ok())
            .collect();
        assert_eq!(through.len(), 3);
        for a in through {
            l.finish(a, Outcome::Failed, t0);
        }
        let wait = l.begin(ip(1), Some("an"), t0 + Duration::from_secs(20));
        assert_eq!(
            wait.err(),
            Some(Duration::from_secs(40)),
            "blocked for the rest of the window"
        );
        assert!(
            attempt(
                &l,
                ip(1),
                "an",
                Outcome::Failed,
                t0 + Duration::from_secs(60)
            ),
            "over"
        );
    }

    #[test]
    fn a_name_under_attack_stays_open_to_its_good_addresses_only() {
        let l = lim(2, 100);
        let t0 = Instant::now();
        assert!(attempt(&l, ip(200), "admin", Outcome::Succeeded, t0));
        // Wrong passwords from many addresses: 4 × 2 per name.
        let mut n = 0;
        for i in 1..=20 {
            if attempt(&l, ip(i), "admin", Outcome::Failed, t0) {
                n += 1;
            }
        }
        assert_eq!(n, 8);
        assert!(
            l.begin(ip(50), Some("admin"), t0).is_err(),
            "an unknown address waits"
        );
        assert!(
            attempt(&l, ip(200), "admin", Outcome::Succeeded, t0),
            "the usual one does not"
        );
        assert!(
            attempt(&l, ip(50), "bo", Outcome::Failed, t0),
            "other names are not affected"
        );
    }

    #[test]
    fn one_address_spraying_names_is_limited_and_successes_do_not_reset_it() {
        let l = lim(2, 100);
        let t0 = Instant::now();
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        let through = names
            .iter()
            .filter(|n| attempt(&l, ip(9), n, Outcome::Failed, t0))
            .count();
        assert_eq!(through, 8, "4 × 2 per address");
        assert!(l.begin(ip(9), Some("z"), t0).is_err());
        assert!(
            attempt(&l, ip(10), "z", Outcome::Succeeded, t0),
            "other addresses are not"
        );
    }

    #[test]
    fn unchecked_and_successful_attempts_are_not_failures() {
        let l = lim(2, 100);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(attempt(&l, ip(1), "an", Outcome::NotChecked, t0));
            assert!(attempt(&l, ip(1), "an", Outcome::Succeeded, t0));
        }
        assert!(attempt(&l, ip(1), "an", Outcome::Failed, t0));
        assert!(
            attempt(&l, ip(1), "an", Outcome::Succeeded, t0),
            "a success clears its pair"
        );
        assert!(attempt(&l, ip(1), "an", Outcome::Failed, t0));
        assert!(attempt(&l, ip(1), "an", Outcome::Failed, t0));
        assert!(l.begin(ip(1), Some("an"), t0).is_err());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let l = lim(2, 100);
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert!(attempt(&l, Some(a), "x", Outcome::Failed, t0));
        assert!(attempt(&l, Some(b), "x", Outcome::Failed, t0));
        assert!(l.begin(Some(a), Some("x"), t0).is_err());
        assert!(l.begin(Some(c), Some("x"), t0).is_ok());
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert!(attempt(&l, Some(v4), "y", Outcome::Failed, t0));
        assert!(attempt(&l, Some(mapped), "y", Outcome::Failed, t0));
        assert!(l.begin(Some(v4), Some("y"), t0).is_err());
    }

    #[test]
    fn tables_stay_bounded() {
        let l = lim(2, 64);
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let at = t0 + Duration::from_millis(u64::from(i));
            let ip = Some(IpAddr::from(i.to_be_bytes()));
            attempt(&l, ip, &format!("u{i}"), Outcome::Failed, at);
        }
        let (pairs, ips, names) = l.len();
        assert!(
            pairs <= 64 && ips <= 64 && names <= 64,
            "{pairs} {ips} {names}"
        );
    }
}
