//! The simulated province of `demo --province`: twelve agencies (departments and communes) with
//! their hosts, the machines they registered without an agent, and how every host's result of
//! every rule of the real built-in catalogue changes over 90 days.
//!
//! Pure and seeded: the same province on every run. An agency's share of passing rules moves
//! from `start` to `end` in steps on its campaign days (a hardening drive, or for one department
//! a slow decline); each host has its own lag behind the agency average, and a rule passes on a
//! host while the host's fixed draw for that rule stays under the agency's level of the day, so
//! results only change on campaign days and the same rules stay fixed once fixed. Critical rules
//! are failed far less often than low ones, as in a real province. No score is written here:
//! scores come from the collector's scoring code over what the simulated agents deliver.

use std::collections::BTreeMap;

use vigil_proto::{CheckResult, Severity, Status};

/// Days of history before today.
pub(crate) const DAYS: u32 = 90;

/// Path of the province root (also the single-agent demo's root).
pub(crate) const ROOT: &str = "demo";

/// One agency as planned.
#[derive(Debug, Clone)]
pub(crate) struct AgencySpec {
    /// Last path segment under [`ROOT`].
    pub(crate) slug: &'static str,
    /// Display name.
    pub(crate) name: &'static str,
    /// Required security level.
    pub(crate) level: u8,
    /// Host-name prefix.
    prefix: &'static str,
    /// Hosts with a (simulated) agent, servers first.
    hosts: usize,
    servers: usize,
    /// Registered machines without an agent.
    unmanaged: usize,
    /// Share of passing rules on day 0 and today.
    start: f64,
    end: f64,
    /// Days on which the share moves (equal steps).
    campaigns: &'static [u32],
}

const AGENCIES: &[AgencySpec] = &[
    spec(
        "vp-ubnd",
        "Văn phòng UBND tỉnh",
        3,
        "vpubnd",
        (30, 3, 1),
        (0.70, 0.94),
        &[18, 41, 66],
    ),
    spec(
        "so-tai-chinh",
        "Sở Tài chính",
        3,
        "stc",
        (26, 2, 1),
        (0.80, 0.90),
        &[30, 75],
    ),
    spec(
        "so-khcn",
        "Sở Khoa học và Công nghệ",
        3,
        "skhcn",
        (20, 3, 0),
        (0.78, 0.97),
        &[10, 35, 60, 80],
    ),
    spec(
        "so-y-te",
        "Sở Y tế",
        2,
        "syt",
        (34, 2, 2),
        (0.88, 0.74),
        &[28, 57, 84],
    ),
    spec(
        "so-gddt",
        "Sở Giáo dục và Đào tạo",
        2,
        "sgddt",
        (40, 2, 2),
        (0.62, 0.82),
        &[22, 50, 77],
    ),
    spec(
        "so-noi-vu",
        "Sở Nội vụ",
        2,
        "snv",
        (15, 1, 0),
        (0.76, 0.77),
        &[45],
    ),
    spec(
        "so-nnmt",
        "Sở Nông nghiệp và Môi trường",
        2,
        "snnmt",
        (18, 1, 1),
        (0.58, 0.86),
        &[12, 33, 54, 70],
    ),
    spec(
        "thanh-tra",
        "Thanh tra tỉnh",
        2,
        "ttt",
        (8, 1, 0),
        (0.83, 0.89),
        &[63],
    ),
    spec(
        "phuong-an-binh",
        "Phường An Bình",
        2,
        "pab",
        (12, 1, 1),
        (0.55, 0.79),
        &[25, 58],
    ),
    spec(
        "xa-tan-thanh",
        "Xã Tân Thành",
        1,
        "xtt",
        (7, 0, 0),
        (0.50, 0.68),
        &[40, 82],
    ),
    // Too many machines without an agent: listed apart as "not ranked" (low coverage).
    spec(
        "xa-hoa-loc",
        "Xã Hòa Lộc",
        1,
        "xhl",
        (6, 0, 4),
        (0.48, 0.61),
        &[52],
    ),
    spec(
        "xa-binh-minh",
        "Xã Bình Minh",
        1,
        "xbm",
        (5, 0, 2),
        (0.45, 0.70),
        &[36, 71],
    ),
];

#[allow(clippy::too_many_arguments)]
const fn spec(
    slug: &'static str,
    name: &'static str,
    level: u8,
    prefix: &'static str,
    (hosts, servers, unmanaged): (usize, usize, usize),
    (start, end): (f64, f64),
    campaigns: &'static [u32],
) -> AgencySpec {
    AgencySpec {
        slug,
        name,
        level,
        prefix,
        hosts,
        servers,
        unmanaged,
        start,
        end,
        campaigns,
    }
}

/// Operating systems of the simulated hosts (the catalogue is the Linux baseline).
const OS: &[&str] = &[
    "Ubuntu 22.04.4 LTS",
    "Debian GNU/Linux 12",
    "Ubuntu 24.04 LTS",
];

/// One simulated host.
#[derive(Debug, Clone)]
pub(crate) struct HostPlan {
    /// Index into [`Province::agencies`].
    pub(crate) agency: usize,
    /// Host name (lower-case).
    pub(crate) hostname: String,
    /// Machine id (unique in the province).
    pub(crate) machine_id: String,
    /// Server (weight 3 or 5) or workstation.
    pub(crate) server: bool,
    /// Security level of its system.
    pub(crate) level: u8,
    /// OS description.
    pub(crate) os: &'static str,
    /// Its own distance to the agency average (−0.12 … +0.06).
    skill: f64,
    seed: u64,
}

/// One rule of the catalogue, as results carry it.
#[derive(Debug, Clone)]
struct RulePlan {
    id: String,
    pack: String,
    severity: Severity,
    group: &'static str,
    controls: Vec<String>,
    min_level: u8,
}

/// The whole province.
#[derive(Debug, Clone)]
pub(crate) struct Province {
    /// Agencies, in [`AGENCIES`] order.
    pub(crate) agencies: Vec<AgencySpec>,
    /// Every simulated host.
    pub(crate) hosts: Vec<HostPlan>,
    rules: Vec<RulePlan>,
}

impl AgencySpec {
    /// Full path.
    pub(crate) fn id(&self) -> String {
        format!("{ROOT}/{}", self.slug)
    }

    /// Host names of its registered machines without an agent.
    pub(crate) fn unmanaged(&self) -> Vec<String> {
        (1..=self.unmanaged)
            .map(|i| format!("{}-pc{:02}", self.prefix, self.hosts + i))
            .collect()
    }

    /// Share of passing rules on `day`: `start`, then equal steps on each campaign day.
    fn quality(&self, day: u32) -> f64 {
        let done = self.campaigns.iter().filter(|&&c| c <= day).count();
        let steps = self.campaigns.len().max(1);
        self.start + (self.end - self.start) * done as f64 / steps as f64
    }
}

impl Province {
    /// The province, its hosts and the built-in rule catalogue.
    pub(crate) fn new() -> Self {
        let mut rules = Vec::new();
        // The built-in packs are compiled in and tested; without them hosts report nothing.
        for pack in vigil_rules::builtin_packs().unwrap_or_default() {
            let tag = format!("{}@{}", pack.id, pack.version);
            for r in pack.rules {
                rules.push(RulePlan {
                    id: r.id,
                    pack: tag.clone(),
                    severity: r.severity,
                    group: r.group.as_str(),
                    controls: r.controls,
                    min_level: r.min_level.map_or(1, |l| l.get()),
                });
            }
        }
        let mut hosts = Vec::new();
        for (a, spec) in AGENCIES.iter().enumerate() {
            for i in 0..spec.hosts {
                let server = i < spec.servers;
                let hostname = if server {
                    format!("{}-srv{:02}", spec.prefix, i + 1)
                } else {
                    format!("{}-pc{:02}", spec.prefix, i + 1 - spec.servers)
                };
                let seed = hash(&[spec.slug, &hostname]);
                hosts.push(HostPlan {
                    agency: a,
                    machine_id: format!("sim-{}", &hex64(seed)),
                    server,
                    level: spec.level,
                    os: OS[(seed % OS.len() as u64) as usize],
                    skill: -0.12 + 0.18 * unit(seed ^ 0x5eed),
                    seed,
                    hostname,
                });
            }
        }
        Self {
            agencies: AGENCIES.to_vec(),
            hosts,
            rules,
        }
    }

    /// Result of every catalogue rule on host `h` on `day` (0 = 90 days ago).
    pub(crate) fn statuses(&self, h: &HostPlan, day: u32) -> Vec<Status> {
        let q = self.agencies[h.agency].quality(day) + h.skill;
        self.rules
            .iter()
            .map(|r| {
                if r.min_level > h.level {
                    return Status::NotApplicable;
                }
                let draw = unit(h.seed ^ hash(&[&r.id]));
                // About one result in seventy cannot be checked on a host (a missing tool).
                if unit(h.seed ^ hash(&[&r.id, "error"])) < 0.015 {
                    return Status::Error;
                }
                // Critical rules are rarely failed, low ones more often than the average.
                let miss = (1.0 - q).clamp(0.0, 1.0)
                    * match r.severity {
                        Severity::Critical => 0.06,
                        Severity::High => 0.8,
                        Severity::Medium => 1.0,
                        Severity::Low => 1.3,
                    };
                if draw < miss {
                    Status::Fail
                } else {
                    Status::Pass
                }
            })
            .collect()
    }

    /// The check results of host `h` whose status differs from `before` (all of them when
    /// `before` is empty).
    pub(crate) fn changes(&self, now: &[Status], before: &[Status]) -> Vec<CheckResult> {
        self.rules
            .iter()
            .zip(now)
            .enumerate()
            .filter(|(i, (_, s))| before.get(*i) != Some(s))
            .map(|(_, (r, s))| CheckResult {
                rule_id: r.id.clone(),
                pack: r.pack.clone(),
                status: *s,
                severity: r.severity,
                group: r.group.to_owned(),
                controls: r.controls.clone(),
                evidence: String::new(),
            })
            .collect()
    }

    /// Rule ids of the critical rules host `h` fails in `statuses`.
    pub(crate) fn critical_failures(&self, statuses: &[Status]) -> Vec<String> {
        self.rules
            .iter()
            .zip(statuses)
            .filter(|(r, s)| r.severity == Severity::Critical && **s == Status::Fail)
            .map(|(r, _)| r.id.clone())
            .collect()
    }

    /// Hosts per agency index.
    pub(crate) fn hosts_of(&self) -> BTreeMap<usize, Vec<&HostPlan>> {
        let mut out: BTreeMap<usize, Vec<&HostPlan>> = BTreeMap::new();
        for h in &self.hosts {
            out.entry(h.agency).or_default().push(h);
        }
        out
    }
}

impl HostPlan {
    /// A fixed draw in [0, 1) for this host and `what`.
    pub(crate) fn draw(&self, what: &str) -> f64 {
        unit(self.seed ^ hash(&[what]))
    }
}

/// FNV-1a over the parts (with a separator), then mixed: stable across runs and platforms.
fn hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    mix(h)
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) from `x`.
fn unit(x: u64) -> f64 {
    (mix(x) >> 11) as f64 / (1u64 << 53) as f64
}

fn hex64(x: u64) -> String {
    format!("{x:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_province_has_twelve_agencies_of_five_to_forty_hosts() {
        let p = Province::new();
        assert_eq!(p.agencies.len(), 12);
        let by = p.hosts_of();
        for (i, a) in p.agencies.iter().enumerate() {
            let n = by.get(&i).map_or(0, Vec::len);
            assert!((5..=40).contains(&n), "{}: {n} hosts", a.name);
        }
        let mut names: Vec<&str> = p.hosts.iter().map(|h| h.hostname.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), p.hosts.len(), "host names are unique");
        assert!(p.rules.len() > 100, "the real catalogue: {}", p.rules.len());
    }

    #[test]
    fn results_change_only_on_campaign_days_and_improving_agencies_improve() {
        let p = Province::new();
        let vp = p.hosts.iter().filter(|h| h.agency == 0);
        let (mut fails_start, mut fails_end) = (0, 0);
        for h in vp {
            let s0 = p.statuses(h, 0);
            assert_eq!(s0, p.statuses(h, 17), "no campaign before day 18");
            assert!(p.changes(&s0, &s0).is_empty());
            assert_eq!(p.changes(&s0, &[]).len(), s0.len());
            fails_start += s0.iter().filter(|s| **s == Status::Fail).count();
            fails_end += p
                .statuses(h, DAYS)
                .iter()
                .filter(|s| **s == Status::Fail)
                .count();
        }
        assert!(fails_end * 2 < fails_start, "{fails_start} → {fails_end}");
    }
}
