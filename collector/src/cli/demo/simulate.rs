//! Runs the simulated province of `demo --province` against the demo's own running collector.
//!
//! Every simulated host is a real agent shell of [`vigil_agent::sim`]: enrolled with a real
//! simulation token (so the collector marks it simulated), streaming its spool over its own
//! QUIC + mTLS connection. Nothing is written into the store in their name. The 90 days of
//! history are played day by day: each host delivers the results that changed that day, with
//! that day as their observation time, and once the collector has acknowledged everything the
//! collector's own scoring runs as of that day ([`Inputs::as_of`], [`scoring::compute`],
//! [`scoring::history_points`]). Today then brings file changes, IOC hits, a new listener on a
//! server and a full spool, which the collector's alert rules turn into alerts.
//!
//! The state of the simulated agents lives in `<data dir>/province/`; once the province is
//! complete a later run reopens it rather than building it again.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vigil_agent::config::AgentConfig;
use vigil_agent::sim::SimAgent;
use vigil_agent::state::StatePaths;
use vigil_proto::msg::HostIdentity;
use vigil_proto::token::EnrollToken;
use vigil_proto::{Finding, Status};
use vigil_rules::score::Scoring;

use super::events;
use super::province::{DAYS, Province};
use crate::cli::term::errln;
use crate::config::Config;
use crate::pki::{Ca, PkiPaths};
use crate::scoring::{self, Inputs, RuleCatalog};
use crate::store::{AlertState, Asset, ScorePoint, Store};

/// Directory of the simulated agents' state, under the data directory.
pub(crate) const DIR: &str = "province";
/// Written into [`DIR`] once the province is complete.
const READY: &str = "READY";
const DAY_MS: i64 = 86_400_000;
/// The longest the collector may take to acknowledge one simulated day.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(180);
/// Enrollments at once.
const PARALLEL_ENROLLMENTS: usize = 8;
/// Who the demo's own actions are audited as.
const ACTOR: &str = "demo";

/// The running simulated agents.
#[derive(Debug)]
pub(crate) struct Simulation {
    /// Simulated hosts.
    pub(crate) hosts: usize,
    /// Their uplinks, running until the shutdown switch flips.
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

/// Builds the province on the first run (agencies, registered machines, enrollment, 90 days of
/// history, today's incidents) or reopens it, and starts every simulated agent. Blocking: call
/// it off the runtime, which `rt` drives.
///
/// # Errors
/// A half-built province from an interrupted run, enrollment, store or delivery failures.
pub(crate) fn start(
    cfg: &Config,
    store: &dyn Store,
    rt: &Handle,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<Simulation> {
    let dir = cfg.data_dir.join(DIR);
    let province = Province::new();
    let acfg = agent_config();
    if dir.join(READY).exists() {
        let mut uplinks = Vec::with_capacity(province.hosts.len());
        for h in &province.hosts {
            uplinks.push(SimAgent::open(StatePaths::new(dir.join(&h.hostname)), &acfg)?.1);
        }
        return Ok(Simulation {
            hosts: province.hosts.len(),
            tasks: vigil_agent::sim::run_fleet(rt, uplinks, shutdown)?,
        });
    }
    if dir.exists() {
        bail!(
            "{}: an earlier `demo --province` stopped before the province was complete; \
             remove {} (or choose another --data-dir) and run it again",
            dir.display(),
            cfg.data_dir.display()
        );
    }
    crate::fsutil::create_private_dir(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let started = Instant::now();
    organise(store, &province)?;
    errln!(
        "province: enrolling {} simulated hosts in {} agencies…",
        province.hosts.len(),
        province.agencies.len()
    );
    let now = crate::clock::now_ms();
    let (agents, tasks) = enroll(cfg, store, rt, &province, &dir, &acfg, now, shutdown)?;
    set_profiles(store, &province, &agents)?;
    history(store, &cfg.scoring, &province, &agents, now, shutdown)?;
    today(store, &cfg.scoring, &province, &agents, shutdown)?;
    // Building the province allocated far more than running it needs; give that back.
    vigil_agent::mem::trim();
    crate::fsutil::write_private(&dir.join(READY), b"")
        .with_context(|| format!("writing {}", dir.join(READY).display()))?;
    errln!(
        "province: ready in {:.0} s ({} simulated hosts, {DAYS} days of history)",
        started.elapsed().as_secs_f64(),
        province.hosts.len()
    );
    Ok(Simulation {
        hosts: province.hosts.len(),
        tasks,
    })
}

/// Simulated agents heartbeat every minute (the collector expects one within two) and keep
/// small spools: a province of them must stay light.
fn agent_config() -> AgentConfig {
    let mut raw = vigil_agent::config::RawConfig::default();
    raw.uplink.heartbeat_interval = Some("60s".into());
    raw.uplink.idle_timeout = Some("110s".into());
    raw.uplink.max_backoff = Some("5s".into());
    raw.spool.max_size = Some("4MiB".into());
    raw.spool.segment_size = Some("256KiB".into());
    // Fixed, valid values: a failure here is a programming error caught by the demo's tests.
    raw.validate(Path::new("(province demo)"))
        .unwrap_or_default()
}

/// The agencies, and the machines each registered: its servers (role and level) and those
/// without an agent.
fn organise(store: &dyn Store, p: &Province) -> anyhow::Result<()> {
    super::ensure_agency(store, super::province::ROOT, "Tỉnh Demo", 2)?;
    let mut assets = Vec::new();
    for a in &p.agencies {
        super::ensure_agency(store, &a.id(), a.name, a.level)?;
        for hostname in a.unmanaged() {
            assets.push(Asset {
                agency: a.id(),
                hostname,
                role: "workstation".into(),
                level: a.level,
            });
        }
    }
    for h in p.hosts.iter().filter(|h| h.server) {
        assets.push(Asset {
            agency: p.agencies[h.agency].id(),
            hostname: h.hostname.clone(),
            role: "server".into(),
            level: h.level,
        });
    }
    store.assets_import(&assets, ACTOR, now_s())?;
    Ok(())
}

/// Enrolls every simulated host with its agency's simulation token, a few at a time; each one
/// starts its uplink at once with its results of the first day (observed that morning), so the
/// collector stores the first day while the others enroll.
#[allow(clippy::too_many_arguments)]
fn enroll(
    cfg: &Config,
    store: &dyn Store,
    rt: &Handle,
    p: &Province,
    dir: &Path,
    acfg: &AgentConfig,
    now: i64,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<(Vec<SimAgent>, Vec<JoinHandle<()>>)> {
    let ca = Ca::load(&PkiPaths::new(&cfg.data_dir))?;
    let mut tokens = HashMap::new();
    for (a, hosts) in p.hosts_of() {
        let (text, _) = crate::enroll::create_simulation_token(
            store,
            &ca,
            &p.agencies[a].id(),
            Duration::from_secs(3600),
            u32::try_from(hosts.len())?,
            cfg.advertise.clone(),
            now_s(),
        )?;
        tokens.insert(a, EnrollToken::decode(&text)?);
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(PARALLEL_ENROLLMENTS));
    let endpoint = {
        let _in = rt.enter();
        vigil_agent::sim::client_endpoint()?
    };
    let mut set = tokio::task::JoinSet::new();
    for (i, h) in p.hosts.iter().enumerate() {
        let token = tokens[&h.agency].clone();
        let state = StatePaths::new(dir.join(&h.hostname));
        let host = HostIdentity {
            machine_id: h.machine_id.clone(),
            hostname: h.hostname.clone(),
            os: h.os.into(),
        };
        let mut first: Vec<Finding> = p
            .changes(&p.statuses(h, 0), &[])
            .into_iter()
            .map(Finding::CheckResult)
            .collect();
        first.push(events::inventory(h));
        first.extend(events::baseline_listeners(h));
        let observed = morning(h, now, 0);
        let (acfg, permits, stop) = (acfg.clone(), permits.clone(), shutdown.clone());
        let (endpoint, rt2) = (endpoint.clone(), rt.clone());
        set.spawn_on(
            async move {
                let _turn = permits.acquire_owned().await?;
                let (agent, up) = SimAgent::enroll(state, &token, host, &acfg).await?;
                agent.send(observed, first)?;
                let task = rt2.spawn(up.with_endpoint(endpoint).run(stop));
                anyhow::Ok((i, agent, task))
            },
            rt,
        );
    }
    rt.block_on(async {
        let mut done = BTreeMap::new();
        while let Some(r) = set.join_next().await {
            let (i, agent, task) = r.context("an enrollment task failed")??;
            done.insert(i, (agent, task));
        }
        Ok(done.into_values().unzip())
    })
}

/// Servers are servers: role and level as an administrator sets them (`host set`).
fn set_profiles(store: &dyn Store, p: &Province, agents: &[SimAgent]) -> anyhow::Result<()> {
    for (h, a) in p.hosts.iter().zip(agents) {
        if h.server {
            store.agent_set_profile(&a.id, Some("server"), Some(h.level), ACTOR, now_s())?;
        }
    }
    Ok(())
}

/// Plays the 90 days before today: each day the hosts deliver what changed, observed that day,
/// and the collector's scoring records the day as of its evening. (The first day's results were
/// sent at enrollment.) A day on which no host delivered anything has exactly the inputs of the
/// day before, and time plays no part in a simulated past day (every host reports daily and
/// no alert was open yet), so its scores are the day before's, recorded with the day's time.
fn history(
    store: &dyn Store,
    scoring: &Scoring,
    p: &Province,
    agents: &[SimAgent],
    now: i64,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let catalog = RuleCatalog::builtin();
    let mut before: Vec<Vec<Status>> = p.hosts.iter().map(|h| p.statuses(h, 0)).collect();
    let mut latest = Latest::default();
    let all: Vec<usize> = (0..agents.len()).collect();
    let started = Instant::now();
    for day in 0..DAYS {
        let mut sent = Vec::new();
        for (i, h) in p.hosts.iter().enumerate().filter(|_| day > 0) {
            let statuses = p.statuses(h, day);
            let changes = p.changes(&statuses, &before[i]);
            if !changes.is_empty() {
                agents[i].send(
                    morning(h, now, day),
                    changes.into_iter().map(Finding::CheckResult),
                )?;
                sent.push(i);
            }
            before[i] = statuses;
        }
        wait_delivered(agents, if day == 0 { &all } else { &sent }, stop)?;
        latest.record(
            store,
            scoring,
            &catalog,
            evening(now, day),
            day == 0 || !sent.is_empty(),
        )?;
        if day % 15 == 14 {
            errln!(
                "province: day {}/{DAYS} of history recorded ({:.0} s)",
                day + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// The evening of simulated `day`, `DAYS - day` days before `now`: when the day is scored.
fn evening(now: i64, day: u32) -> i64 {
    now - i64::from(DAYS - day) * DAY_MS
}

/// When host `h` observes its results of `day`: in the morning, at its own time.
fn morning(h: &super::province::HostPlan, now: i64, day: u32) -> i64 {
    evening(now, day) - 12 * 3_600_000 + (h.draw("clock") * 6.0 * 3_600_000.0) as i64
}

/// Today: incidents arrive and become alerts; the critical failures fixed during the 90 days
/// are resolved (as the agencies' staff would have), one IOC hit is being handled; then
/// today's scores are recorded.
fn today(
    store: &dyn Store,
    scoring: &Scoring,
    p: &Province,
    agents: &[SimAgent],
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    store.ioc_import(&events::indicators())?;
    let now = crate::clock::now_ms();
    let index: HashMap<&str, usize> = p
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.hostname.as_str(), i))
        .collect();
    let mut sent = Vec::new();
    for (host, findings) in events::incidents() {
        let i = *index
            .get(host)
            .with_context(|| format!("incident on an unknown host {host}"))?;
        agents[i].send(now, findings)?;
        sent.push(i);
    }
    wait_delivered(agents, &sent, stop)?;
    triage(store, p, agents)?;
    scoring::recompute(store, scoring, &RuleCatalog::builtin(), now)?;
    Ok(())
}

/// Resolves the alerts of critical rules that pass today and takes the first IOC hit in hand.
fn triage(store: &dyn Store, p: &Province, agents: &[SimAgent]) -> anyhow::Result<()> {
    let host_of: HashMap<&str, usize> = agents
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let now = now_s();
    let mut taken = false;
    for a in store.alerts(Some(AlertState::Open))? {
        let Some(&i) = host_of.get(a.agent_id.as_str()) else {
            continue;
        };
        match a.kind.as_str() {
            "critical_rule_failed" => {
                let failing = p.critical_failures(&p.statuses(&p.hosts[i], DAYS));
                let rule = a.params.get("rule").and_then(|r| r.as_str());
                if rule.is_some_and(|r| !failing.iter().any(|f| f == r)) {
                    let why = "Đã khắc phục trong đợt rà soát cấu hình (dữ liệu mô phỏng)";
                    store.alert_set_state(a.id, AlertState::Resolved, ACTOR, Some(why), now)?;
                }
            }
            "ioc_hit" if !taken => {
                store.alert_set_state(a.id, AlertState::Acknowledged, ACTOR, None, now)?;
                store.alert_assign(a.id, Some("admin"), ACTOR, now)?;
                taken = true;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Waits until the collector has acknowledged everything the agents `sent` were given, or the
/// demo is stopping.
fn wait_delivered(
    agents: &[SimAgent],
    sent: &[usize],
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    for &i in sent {
        while !agents[i].delivered() {
            if *stop.borrow() {
                bail!("the demo is stopping");
            }
            if Instant::now() > deadline {
                bail!(
                    "the collector has not acknowledged the findings of simulated agent {} \
                     within {} s",
                    agents[i].id,
                    DELIVERY_DEADLINE.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}

/// The latest history point of every series, and the latest scores, as the time-travelling
/// recompute goes.
#[derive(Debug, Default)]
struct Latest {
    points: HashMap<(String, String, String), ScorePoint>,
    scores: Option<scoring::Scores>,
}

impl Latest {
    /// Scores the store as of `t` (or, when nothing was delivered since the last time, takes the
    /// last scores at `t`) and records the points worth keeping.
    fn record(
        &mut self,
        store: &dyn Store,
        scoring: &Scoring,
        catalog: &RuleCatalog,
        t: i64,
        changed: bool,
    ) -> anyhow::Result<()> {
        let scores = match self.scores.take() {
            Some(mut s) if !changed => {
                s.computed_at = t;
                s
            }
            _ => scoring::compute(&Inputs::load(store)?.as_of(t), scoring, catalog, t),
        };
        let last: Vec<ScorePoint> = self.points.values().cloned().collect();
        let points = scoring::history_points(&scores, &last);
        store.scores_record(&points)?;
        for p in points {
            self.points
                .insert((p.scope.clone(), p.id.clone(), p.view.clone()), p);
        }
        self.scores = Some(scores);
        Ok(())
    }
}

fn now_s() -> i64 {
    crate::clock::now_ms() / 1000
}
