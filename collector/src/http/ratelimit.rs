//! Limits failed logins per client address and per user name (`[http] login_max_failures` in a
//! `login_window`), so passwords cannot be guessed at the speed of the network.
//!
//! A counter starts at the first failure and lasts one window; at `max_failures` the key is
//! blocked until the window ends and every login attempt for it answers 429 with `Retry-After`,
//! without checking the password. A success clears the user name's counter (not the address's:
//! an attacker with one valid account could otherwise reset their own counter between guesses).
//! IPv6 clients count per /64, the block one host usually holds.
//!
//! Memory is bounded: each of the two tables holds at most `capacity` keys. When one is full,
//! expired counters are dropped first, then the oldest eighth.

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

/// The failure counters of one collector process.
#[derive(Debug)]
pub struct LoginLimiter {
    limit: LoginLimit,
    tables: Mutex<(Table<IpAddr>, Table<String>)>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LoginLimit::default())
    }
}

/// The key of a client address: IPv4 as is, IPv6 by its /64.
fn addr_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::from(seg)
            }
        },
    }
}

/// The key of a user name (names are case-sensitive lowercase; bounded so a long name costs
/// nothing).
fn name_key(name: &str) -> String {
    name.chars().take(64).collect()
}

impl LoginLimiter {
    /// A limiter with these settings.
    pub fn new(limit: LoginLimit) -> Self {
        Self {
            limit,
            tables: Mutex::new((
                Table {
                    map: HashMap::new(),
                },
                Table {
                    map: HashMap::new(),
                },
            )),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut (Table<IpAddr>, Table<String>)) -> T) -> T {
        let mut g = self
            .tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    /// How long the client or the name is still blocked, if it is.
    pub fn blocked_for(
        &self,
        ip: Option<IpAddr>,
        name: Option<&str>,
        now: Instant,
    ) -> Option<Duration> {
        let lim = self.limit;
        self.with(|(ips, names)| {
            let a = ip.and_then(|ip| ips.blocked_for(&addr_key(ip), now, &lim));
            let b = name.and_then(|n| names.blocked_for(&name_key(n), now, &lim));
            a.max(b)
        })
    }

    /// Counts a failed login.
    pub fn failed(&self, ip: Option<IpAddr>, name: Option<&str>, now: Instant) {
        let lim = self.limit;
        self.with(|(ips, names)| {
            if let Some(ip) = ip {
                ips.fail(addr_key(ip), now, &lim);
            }
            if let Some(n) = name {
                names.fail(name_key(n), now, &lim);
            }
        });
    }

    /// Clears the name's counter after a successful login.
    pub fn succeeded(&self, name: &str) {
        self.with(|(_, names)| names.map.remove(&name_key(name)));
    }

    /// Keys held (addresses, names), for tests and metrics.
    pub fn len(&self) -> (usize, usize) {
        self.with(|(ips, names)| (ips.map.len(), names.map.len()))
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

/// Middleware of `POST /api/v1/login`: refuses blocked clients and names with 429, and counts
/// the 401 answers of the login handler.
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
    if let Some(wait) = limiter.blocked_for(ip, name.as_deref(), Instant::now()) {
        tracing::warn!(client = ?ip, user = ?name, "Login refused: too many failures.");
        let mut r = ApiError::Client(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; try again later".into(),
        )
        .into_response();
        let secs = wait.as_secs().max(1);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let r = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    match r.status() {
        StatusCode::UNAUTHORIZED => limiter.failed(ip, name.as_deref(), Instant::now()),
        s if s.is_success() => {
            if let Some(n) = &name {
                limiter.succeeded(n);
            }
        }
        _ => {}
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

    #[test]
    fn blocks_after_max_failures_until_the_window_ends() {
        let l = lim(3, 100);
        let t0 = Instant::now();
        let ip = Some(IpAddr::from([192, 0, 2, 1]));
        for _ in 0..2 {
            l.failed(ip, Some("an"), t0);
        }
        assert_eq!(l.blocked_for(ip, Some("an"), t0), None);
        l.failed(ip, Some("an"), t0 + Duration::from_secs(10));
        assert_eq!(
            l.blocked_for(ip, None, t0 + Duration::from_secs(20)),
            Some(Duration::from_secs(40)),
            "the address is blocked for the rest of the window"
        );
        assert!(
            l.blocked_for(None, Some("an"), t0).is_some(),
            "and so is the name"
        );
        let other = Some(IpAddr::from([192, 0, 2, 2]));
        assert!(l.blocked_for(other, Some("an"), t0).is_some());
        assert_eq!(l.blocked_for(other, Some("bo"), t0), None);
        assert_eq!(
            l.blocked_for(ip, Some("an"), t0 + Duration::from_secs(60)),
            None,
            "the window is over"
        );
        // A new window starts with the next failure.
        l.failed(ip, Some("an"), t0 + Duration::from_secs(61));
        assert_eq!(
            l.blocked_for(ip, Some("an"), t0 + Duration::from_secs(61)),
            None
        );
    }

    #[test]
    fn success_clears_the_name_but_not_the_address() {
        let l = lim(2, 100);
        let t0 = Instant::now();
        let ip = Some(IpAddr::from([192, 0, 2, 1]));
        l.failed(ip, Some("an"), t0);
        l.failed(ip, Some("an"), t0);
        l.succeeded("an");
        assert_eq!(l.blocked_for(None, Some("an"), t0), None);
        assert!(l.blocked_for(ip, Some("an"), t0).is_some());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let l = lim(2, 100);
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        l.failed(Some(a), None, t0);
        l.failed(Some(b), None, t0);
        assert!(l.blocked_for(Some(a), None, t0).is_some());
        assert_eq!(l.blocked_for(Some(c), None, t0), None);
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        l.failed(Some(v4), None, t0);
        l.failed(Some(mapped), None, t0);
        assert!(l.blocked_for(Some(v4), None, t0).is_some());
    }

    #[test]
    fn tables_stay_bounded_and_keep_the_newest() {
        let l = lim(2, 64);
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let at = t0 + Duration::from_millis(u64::from(i));
            l.failed(
                Some(IpAddr::from(i.to_be_bytes())),
                Some(&format!("u{i}")),
                at,
            );
        }
        let (ips, names) = l.len();
        assert!(ips <= 64 && names <= 64, "{ips} {names}");
        // The newest key survived eviction with its count.
        let last = Some(IpAddr::from(999u32.to_be_bytes()));
        let at = t0 + Duration::from_millis(1000);
        l.failed(last, None, at);
        assert!(l.blocked_for(last, None, at).is_some());
        // Expired counters go first.
        let l = lim(2, 4);
        for i in 0..4u8 {
            l.failed(Some(IpAddr::from([10, 0, 0, i])), None, t0);
        }
        assert_eq!(l.len().0, 4);
        let later = t0 + Duration::from_secs(120);
        l.failed(Some(IpAddr::from([10, 0, 1, 1])), None, later);
        assert_eq!(l.len().0, 1);
    }
}
