use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use vigil_proto::policy::{
    Assembled, PackSource as Source, PolicyBundle, PolicySettings, PolicySigner, SignedBundle,
};
use vigil_proto::session::{AgentEvent, AgentSession, CollectorEvent, CollectorSession, Hello};

use super::*;
use crate::policy::{PackSource, merge_packs};
use vigil_proto::{Finding, Severity};

const PACK: &str = r#"
id: central-extra
version: "3"
title: {vi: Bổ sung, en: Extra}
rules:
  - id: has-hosts
    title: {vi: Có tệp hosts, en: hosts exists}
    rationale: {vi: a, en: b}
    remediation: {vi: a, en: b}
    severity: high
    group: hardening
    checks:
      - {kind: file, path: /etc/hosts}
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    state: StatePaths,
    key: PolicySigner,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StatePaths::new(dir.path().join("state"));
    state.create().expect("state dir");
    let der = PolicySigner::generate_pkcs8(&SystemRandom::new()).expect("keygen");
    let key = PolicySigner::from_pkcs8(&der).expect("key");
    PolicyStore::new(&state)
        .pin_key(&key.public_key())
        .expect("pin");
    Fixture {
        _dir: dir,
        state,
        key,
    }
}

fn bundle(version: u64, agency: &str) -> PolicyBundle {
    PolicyBundle {
        version,
        agency: agency.into(),
        issued_at: 1_760_000_000,
        packs: vec![Source {
            name: "central-extra".into(),
            version: "3".into(),
            source: PACK.into(),
        }],
        settings: PolicySettings {
            check_interval_s: Some(600),
            agency_level: Some(3),
            ..Default::default()
        },
    }
}

fn transfer(f: &Fixture, b: &PolicyBundle) -> Assembled {
    Assembled {
        version: b.version,
        signed: f.key.sign(b).expect("sign"),
    }
}

fn open(f: &Fixture) -> (PolicyAgent, Option<Refusal>) {
    PolicyAgent::open(&f.state, "tinh/so-a/phong-1", AgentConfig::default())
}

#[test]
fn a_signed_bundle_for_our_subtree_is_applied_published_and_survives_a_restart() {
    let f = fixture();
    let (mut p, problem) = open(&f);
    assert!(problem.is_none());
    assert_eq!(p.version(), 0);
    let mut rx = p.subscribe();
    let a = p
        .offer(transfer(&f, &bundle(5, "tinh/so-a")))
        .expect("applied");
    assert_eq!(a.packs[0].id, "central-extra");
    assert!(rx.has_changed().expect("sender alive"), "engines are told");
    assert_eq!(
        rx.borrow_and_update().as_ref().map(|a| a.bundle.version),
        Some(5)
    );
    drop(p);
    let (p, problem) = open(&f);
    assert!(problem.is_none());
    assert_eq!(p.version(), 5);
    assert_eq!(
        p.digest(),
        Some(f.key.sign(&bundle(5, "tinh/so-a")).expect("sign").digest())
    );
    // The version in force survives the restart, so a replay is still refused.
    let mut p = p;
    let r = p
        .offer(transfer(&f, &bundle(5, "tinh/so-a")))
        .expect_err("replay");
    assert!(r.reason.contains("not newer"), "{}", r.reason);
}

#[test]
fn refusals_keep_the_policy_in_force_and_say_why() {
    let f = fixture();
    let (mut p, _) = open(&f);
    p.offer(transfer(&f, &bundle(5, "tinh/so-a"))).expect("v5");
    let on_disk = std::fs::read(PolicyStore::new(&f.state).current()).expect("stored");

    let mut cases: Vec<(&str, Assembled)> = Vec::new();
    // One byte changed anywhere in the blob.
    let good = transfer(&f, &bundle(6, "tinh/so-a"));
    let mut bytes = good.signed.as_bytes().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    cases.push((
        "signature",
        Assembled {
            version: 6,
            signed: SignedBundle::from_bytes(bytes).expect("len"),
        },
    ));
    cases.push(("not newer", transfer(&f, &bundle(5, "tinh/so-a"))));
    cases.push(("not newer", transfer(&f, &bundle(4, "tinh/so-a"))));
    cases.push(("agency", transfer(&f, &bundle(7, "tinh/so-b"))));
    cases.push(("agency", transfer(&f, &bundle(7, "tinh/so-a/phong-2"))));
    let mut out_of_range = bundle(8, "tinh");
    out_of_range.settings.check_interval_s = Some(1);
    cases.push(("outside the local range", transfer(&f, &out_of_range)));
    let mut level = bundle(8, "tinh");
    level.settings.agency_level = Some(9);
    cases.push(("agency_level", transfer(&f, &level)));
    let mut fim = bundle(8, "tinh");
    fim.settings.fim_paths = Some(vec!["relative/path".into()]);
    cases.push(("fim path", transfer(&f, &fim)));
    let mut broken_pack = bundle(8, "tinh");
    broken_pack.packs[0].source = "id: [".into();
    cases.push(("policy v8 pack central-extra", transfer(&f, &broken_pack)));
    let mut renamed = bundle(8, "tinh");
    renamed.packs[0].name = "other".into();
    cases.push(("declares id", transfer(&f, &renamed)));
    let mut lied = transfer(&f, &bundle(9, "tinh"));
    lied.version = 10;
    cases.push(("claimed version 10", lied));
    let other = PolicySigner::from_pkcs8(
        &PolicySigner::generate_pkcs8(&SystemRandom::new()).expect("keygen"),
    )
    .expect("key");
    cases.push((
        "signature",
        Assembled {
            version: 11,
            signed: other.sign(&bundle(11, "tinh")).expect("sign"),
        },
    ));

    let rx = p.subscribe();
    for (why, a) in cases {
        let r = p.offer(a).expect_err(why);
        assert!(r.reason.contains(why), "{why}: {}", r.reason);
        assert_eq!(p.version(), 5, "{why}: kept");
        let Finding::AgentHealth(h) = r.finding(p.version()) else {
            panic!("health finding")
        };
        assert!(h.message.starts_with("policy refused: "), "{}", h.message);
        assert_eq!(h.kind, vigil_proto::HealthKind::PolicyRefused);
        assert_eq!(h.counts.get("policy_version_kept"), Some(&5));
        assert_eq!(h.severity, Severity::High);
    }
    assert!(!rx.has_changed().expect("alive"), "nothing published");
    assert_eq!(
        std::fs::read(PolicyStore::new(&f.state).current()).expect("stored"),
        on_disk,
        "the file in force is untouched"
    );
}

#[test]
fn without_a_pinned_key_or_with_policy_disabled_everything_is_refused() {
    let f = fixture();
    PolicyStore::new(&f.state).unpin().expect("unpin");
    let (mut p, _) = open(&f);
    let r = p
        .offer(transfer(&f, &bundle(1, "tinh")))
        .expect_err("no key");
    assert!(r.reason.contains("re-enroll"), "{}", r.reason);

    let f = fixture();
    let mut cfg = AgentConfig::default();
    cfg.policy.accept = false;
    let (mut p, _) = PolicyAgent::open(&f.state, "tinh", cfg);
    let r = p
        .offer(transfer(&f, &bundle(1, "tinh")))
        .expect_err("disabled");
    assert!(r.reason.contains("policy.accept"), "{}", r.reason);
}

/// A crash at any step of the apply leaves exactly one complete, verified version on restart:
/// the old one before the rename, the new one after it.
#[test]
fn a_crash_mid_apply_comes_back_with_one_consistent_version() {
    for (stop, expect) in [
        (Step::HalfWritten, 5),
        (Step::Synced, 5),
        (Step::Renamed, 6),
        (Step::Done, 6),
    ] {
        let f = fixture();
        let (mut p, _) = open(&f);
        p.offer(transfer(&f, &bundle(5, "tinh/so-a"))).expect("v5");
        let r = p.offer_until(transfer(&f, &bundle(6, "tinh/so-a")), stop);
        assert_eq!(r.is_ok(), stop == Step::Done, "{stop:?}");
        drop(p); // the crash
        let (p, problem) = open(&f);
        assert!(problem.is_none(), "{stop:?}: {problem:?}");
        assert_eq!(p.version(), expect, "{stop:?}");
        let store = PolicyStore::new(&f.state);
        let stored = store
            .load(&f.key.public_key())
            .expect("loads")
            .expect("present");
        assert_eq!(stored.bundle.version, expect, "{stop:?}");
        let leftovers: Vec<_> = std::fs::read_dir(store.current().parent().expect("dir"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, ["current.bin"], "{stop:?}: no staging file left");
    }
}

#[test]
fn a_damaged_policy_file_is_set_aside_at_start() {
    let f = fixture();
    let (mut p, _) = open(&f);
    p.offer(transfer(&f, &bundle(5, "tinh/so-a"))).expect("v5");
    drop(p);
    let path = PolicyStore::new(&f.state).current();
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).expect("tamper");
    let (p, problem) = open(&f);
    assert_eq!(p.version(), 0, "local configuration runs");
    let problem = problem.expect("reported");
    assert!(problem.reason.contains("signature"), "{}", problem.reason);
}

#[test]
fn settings_are_laid_over_the_local_configuration() {
    let local = AgentConfig::default();
    let mut b = bundle(1, "tinh");
    b.settings = PolicySettings {
        check_interval_s: Some(900),
        fim_paths: Some(vec!["/srv/app".into()]),
        fim_exclude: Some(vec!["*.log".into()]),
        netwatch_interval_s: Some(10),
        inventory_interval_s: Some(7200),
        storm_threshold: Some(500),
        spool_budget_bytes: Some(64 << 20),
        agency_level: Some(4),
    };
    let eff = effective(&local, Some(&b)).expect("merges");
    assert_eq!(eff.checks.interval, Duration::from_secs(900));
    assert_eq!(eff.checks.level.get(), 4);
    assert_eq!(eff.netwatch.interval, Duration::from_secs(10));
    assert_eq!(eff.inventory_interval, Duration::from_secs(7200));
    assert_eq!(eff.fim.storm_threshold, 500);
    assert_eq!(eff.spool.max_bytes, 64 << 20);
    assert_eq!(eff.fim.paths.len(), 1);
    assert!(eff.fim.paths[0].path.ends_with("app"));
    // Local-only settings are untouched.
    assert_eq!(eff.heartbeat_interval, local.heartbeat_interval);
    assert_eq!(eff.collector, local.collector);
    assert_eq!(eff.checks.packs, local.checks.packs);
    // Nothing central: the local configuration as is.
    let same = effective(&local, None).expect("local");
    assert_eq!(same.checks, local.checks);
}

/// An absolute path of this platform from a Unix one (`/etc` → `C:\etc` on Windows).
fn abs(p: &str) -> String {
    if cfg!(windows) {
        format!("C:{}", p.replace('/', "\\"))
    } else {
        p.to_owned()
    }
}

#[test]
fn local_limits_come_from_agent_toml_and_refuse_what_is_outside() {
    let cfg = crate::config::parse(
        &format!(
            "[policy]\ncheck_interval = [\"10m\", \"2h\"]\nlevel = [2, 4]\n\
             storm_threshold = [50, 60]\nfim_roots = ['{}']\npacks = false\n",
            abs("/etc")
        ),
        std::path::Path::new("agent.toml"),
    )
    .expect("valid");
    let l = &cfg.policy;
    let ok = PolicySettings {
        check_interval_s: Some(600),
        agency_level: Some(2),
        storm_threshold: Some(55),
        fim_paths: Some(vec![abs("/etc/ssh")]),
        ..Default::default()
    };
    assert_eq!(l.check(&ok, false), Ok(()));
    let bad = PolicySettings {
        check_interval_s: Some(60),
        agency_level: Some(5),
        storm_threshold: Some(61),
        fim_paths: Some(vec![abs("/home"), abs("/etc/../root")]),
        ..Default::default()
    };
    let errors = l.check(&bad, true).expect_err("outside");
    assert_eq!(errors.len(), 6, "every violation is named: {errors:?}");
    let e = crate::config::parse(
        "[policy]\ncheck_interval = [\"2h\", \"10m\"]\nlevel = [0, 9]\nfim_roots = [\"etc\"]\n",
        std::path::Path::new("agent.toml"),
    )
    .expect_err("invalid")
    .to_string();
    for field in ["policy.check_interval", "policy.level", "policy.fim_roots"] {
        assert!(e.contains(field), "{field} in {e}");
    }
}

#[test]
fn central_packs_replace_local_ones_of_the_same_id_and_local_ones_stay_marked() {
    let f = fixture();
    let (mut p, _) = open(&f);
    let a = p.offer(transfer(&f, &bundle(1, "tinh"))).expect("applied");
    let origin = std::path::Path::new("local");
    let local_same = vigil_rules::parse_pack(PACK, origin).expect("pack");
    let local_other =
        vigil_rules::parse_pack(&PACK.replace("central-extra", "mine"), origin).expect("pack");
    let merged = merge_packs(Some(&a), vec![local_same, local_other]);
    let ids: Vec<_> = merged.iter().map(|(s, p)| (p.id.as_str(), *s)).collect();
    assert_eq!(
        ids,
        [
            ("central-extra", PackSource::Central),
            ("mine", PackSource::Local)
        ]
    );
    assert_eq!(merge_packs(None, Vec::new()).len(), 0);
}

/// The whole protocol path: the collector session chunks a bundle bigger than a frame, the
/// agent session reassembles it, and the policy agent verifies and applies it.
#[test]
fn a_chunked_bundle_through_the_sessions_is_applied() {
    let f = fixture();
    let (mut p, _) = open(&f);
    let now = Instant::now();
    let cfg = vigil_proto::session::SessionConfig {
        max_frame: 8 * 1024,
        ..Default::default()
    };
    let hello = Hello {
        agent_id: "a1".into(),
        agent_version: "t".into(),
        policy_hash: p.digest(),
        policy_version: p.version(),
        ioc_version: 0,
    };
    let mut agent = AgentSession::new(now, cfg.clone(), hello);
    let mut coll = CollectorSession::new(now, cfg);
    let pump = |from: &mut dyn FnMut() -> Option<Vec<u8>>, to: &mut dyn FnMut(&[u8])| {
        while let Some(b) = from() {
            to(&b);
        }
    };
    pump(&mut || agent.poll_transmit(), &mut |b| coll.handle(now, b));
    assert!(matches!(
        coll.poll_event(),
        Some(CollectorEvent::Hello {
            policy_version: 0,
            ..
        })
    ));
    let mut b = bundle(3, "tinh/so-a");
    b.packs[0]
        .source
        .push_str(&format!("# {}\n", "x".repeat(40_000)));
    let signed = f.key.sign(&b).expect("sign");
    coll.accept(3, 0, 0).expect("accept");
    coll.push_policy(&signed, 3).expect("push");
    pump(&mut || coll.poll_transmit(), &mut |b| agent.handle(now, b));
    assert!(matches!(
        agent.poll_event(),
        Some(AgentEvent::Welcomed {
            policy_version: 3,
            ..
        })
    ));
    match agent.poll_event() {
        Some(AgentEvent::PolicyBundle(a)) => {
            let applied = p.offer(a).expect("applied");
            assert_eq!(applied.bundle, b);
        }
        other => panic!("expected a bundle, got {other:?}"),
    }
    assert_eq!(p.version(), 3);
}
