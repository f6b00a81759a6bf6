//! An in-memory agent/collector pair on virtual time, in the spirit of quinn-proto's `Pair`.

use super::*;
use crate::finding::{AgentHealth, Finding, HealthKind, Severity};

struct Pair {
    now: Instant,
    agent: AgentSession,
    collector: CollectorSession,
}

impl Pair {
    fn new(cfg: SessionConfig) -> Self {
        let now = Instant::now();
        let hello = Hello {
            agent_id: "a1".into(),
            agent_version: "0.1.0".into(),
            policy_hash: None,
            policy_version: 0,
            ioc_version: 0,
        };
        Self {
            now,
            agent: AgentSession::new(now, cfg.clone(), hello),
            collector: CollectorSession::new(now, cfg),
        }
    }

    /// Moves every queued frame across, both ways, until quiet.
    fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(b) = self.agent.poll_transmit() {
                self.collector.handle(self.now, &b);
                moved = true;
            }
            while let Some(b) = self.collector.poll_transmit() {
                self.agent.handle(self.now, &b);
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.agent.handle_timeout(self.now);
        self.collector.handle_timeout(self.now);
    }

    fn establish(&mut self) {
        self.drive();
        match self.collector.poll_event() {
            Some(CollectorEvent::Hello {
                agent_id,
                proto_version,
                ..
            }) => {
                assert_eq!(agent_id, "a1");
                assert_eq!(proto_version, PROTO_VERSION);
            }
            other => panic!("expected hello, got {other:?}"),
        }
        self.collector.accept(0, 0, 0).expect("accept");
        self.drive();
        assert!(matches!(
            self.agent.poll_event(),
            Some(AgentEvent::Welcomed { .. })
        ));
        assert!(self.agent.is_established());
    }
}

fn env(seq: u64) -> Envelope {
    Envelope {
        seq,
        observed_at: 1_700_000_000_000,
        finding: Finding::AgentHealth(AgentHealth {
            kind: HealthKind::Started,
            message: format!("n{seq}"),
            counts: Default::default(),
            severity: Severity::Low,
        }),
    }
}

#[test]
fn batch_then_ack_frees_the_window() {
    let mut p = Pair::new(SessionConfig {
        max_inflight: 2,
        ..Default::default()
    });
    p.establish();
    p.agent.send_batch(vec![env(1), env(2)]).expect("batch 1");
    p.agent.send_batch(vec![env(3)]).expect("batch 2");
    assert!(!p.agent.can_send(), "window of 2 is full");
    p.drive();
    let mut got = Vec::new();
    while let Some(ev) = p.collector.poll_event() {
        if let CollectorEvent::Batch { findings, .. } = ev {
            got.extend(findings.iter().map(|f| f.seq));
        }
    }
    assert_eq!(got, vec![1, 2, 3]);
    p.collector.ack(2);
    p.drive();
    assert_eq!(
        p.agent.poll_event(),
        Some(AgentEvent::Acked { up_to_seq: 2 })
    );
    assert!(p.agent.can_send());
    assert_eq!(p.agent.acked_seq(), 2);
    // A stale ack is ignored.
    p.collector.ack(1);
    p.drive();
    assert_eq!(p.agent.poll_event(), None);
}

#[test]
fn agent_refuses_out_of_order_seq_locally() {
    let mut p = Pair::new(SessionConfig::default());
    p.establish();
    p.agent.send_batch(vec![env(5)]).expect("first");
    assert_eq!(
        p.agent.send_batch(vec![env(5)]),
        Err(SessionError::SeqOrder { seq: 5, last: 5 })
    );
    assert_eq!(p.agent.send_batch(vec![]), Err(SessionError::EmptyBatch));
}

#[test]
fn welcome_acked_seq_skips_already_stored() {
    let mut p = Pair::new(SessionConfig::default());
    p.drive();
    let _ = p.collector.poll_event();
    p.collector.accept(0, 0, 10).expect("accept");
    p.drive();
    assert!(matches!(
        p.agent.poll_event(),
        Some(AgentEvent::Welcomed { acked_seq: 10, .. })
    ));
    assert!(p.agent.send_batch(vec![env(10)]).is_err());
    assert!(p.agent.send_batch(vec![env(11)]).is_ok());
}

#[test]
fn heartbeat_due_on_virtual_time_and_idle_timeout() {
    let cfg = SessionConfig {
        heartbeat_interval: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(90),
        ..Default::default()
    };
    let mut p = Pair::new(cfg);
    p.establish();
    assert_eq!(
        p.agent.poll_timeout(),
        Some(p.now + Duration::from_secs(30))
    );
    p.advance(Duration::from_secs(29));
    assert_eq!(p.agent.poll_event(), None);
    p.advance(Duration::from_secs(1));
    assert_eq!(p.agent.poll_event(), Some(AgentEvent::HeartbeatDue));
    p.agent.send_heartbeat(0, 3, AgentStats::default());
    p.drive();
    assert!(matches!(
        p.collector.poll_event(),
        Some(CollectorEvent::Heartbeat { spool_depth: 3, .. })
    ));
    // The collector answers heartbeats with an ack; without it the agent times out.
    p.advance(Duration::from_secs(91));
    let closed =
        std::iter::from_fn(|| p.agent.poll_event()).find(|e| matches!(e, AgentEvent::Closed(_)));
    match closed {
        Some(AgentEvent::Closed(r)) => assert_eq!(r.code, code::TIMED_OUT),
        other => panic!("expected timeout, got {other:?}"),
    }
    assert_eq!(p.agent.poll_timeout(), None);
}

#[test]
fn collector_times_out_silent_agent() {
    let mut p = Pair::new(SessionConfig::default());
    p.advance(Duration::from_secs(121));
    assert!(p.collector.is_closed());
    assert!(
        matches!(p.collector.poll_event(), Some(CollectorEvent::Closed(r)) if r.code == code::TIMED_OUT)
    );
}

#[test]
fn unknown_future_version_is_negotiated_down_and_old_is_refused() {
    let now = Instant::now();
    let mut c = CollectorSession::new(now, SessionConfig::default());
    let hello = frame::encode(
        &serde_json::json!({"type":"hello","proto_version":7,"agent_id":"x","agent_version":"9"}),
        1 << 20,
    )
    .expect("encode");
    c.handle(now, &hello);
    assert!(matches!(
        c.poll_event(),
        Some(CollectorEvent::Hello {
            proto_version: 1,
            ..
        })
    ));

    let mut c = CollectorSession::new(now, SessionConfig::default());
    let hello = frame::encode(
        &serde_json::json!({"type":"hello","proto_version":0,"agent_id":"x","agent_version":"9"}),
        1 << 20,
    )
    .expect("encode");
    c.handle(now, &hello);
    match c.poll_event() {
        Some(CollectorEvent::Closed(r)) => {
            assert_eq!(r.code, code::UNSUPPORTED_VERSION);
            assert!(r.message.contains("upgrade the agent"), "{}", r.message);
        }
        other => panic!("expected close, got {other:?}"),
    }
    // The agent is told why.
    let mut d = FrameDecoder::new(1 << 20);
    d.push(&c.poll_transmit().expect("error frame"));
    assert!(matches!(
        d.decode::<CollectorMsg>(),
        Ok(Some(CollectorMsg::Error {
            code: code::UNSUPPORTED_VERSION,
            ..
        }))
    ));
}

#[test]
fn agent_shows_collector_refusal() {
    let mut p = Pair::new(SessionConfig::default());
    p.drive();
    let _ = p.collector.poll_event();
    p.collector.reject(code::UNAUTHORIZED, "agent revoked");
    p.drive();
    match p.agent.poll_event() {
        Some(AgentEvent::Closed(r)) => {
            assert!(r.by_peer);
            assert_eq!(r.code, code::UNAUTHORIZED);
            assert_eq!(r.message, "agent revoked");
        }
        other => panic!("expected close, got {other:?}"),
    }
}

#[test]
fn batch_before_accept_or_with_bad_seqs_is_a_protocol_error() {
    let now = Instant::now();
    let mut c = CollectorSession::new(now, SessionConfig::default());
    let b = frame::encode(
        &AgentMsg::Batch {
            first_seq: 1,
            findings: vec![env(1)],
        },
        1 << 20,
    )
    .expect("encode");
    c.handle(now, &b);
    assert!(matches!(c.poll_event(), Some(CollectorEvent::Closed(r)) if r.code == code::PROTOCOL));

    for bad in [
        AgentMsg::Batch {
            first_seq: 2,
            findings: vec![env(1)],
        },
        AgentMsg::Batch {
            first_seq: 3,
            findings: vec![env(3), env(3)],
        },
        AgentMsg::Batch {
            first_seq: 0,
            findings: vec![],
        },
        AgentMsg::Batch {
            first_seq: 0,
            findings: vec![env(0)],
        },
    ] {
        let mut p = Pair::new(SessionConfig::default());
        p.establish();
        let b = frame::encode(&bad, 1 << 20).expect("encode");
        p.collector.handle(p.now, &b);
        let closed = std::iter::from_fn(|| p.collector.poll_event())
            .any(|e| matches!(e, CollectorEvent::Closed(r) if r.code == code::PROTOCOL));
        assert!(closed, "{bad:?} should be refused");
    }
}

#[test]
fn garbage_closes_with_malformed_and_oversized_with_too_large() {
    let mut p = Pair::new(SessionConfig {
        max_frame: 1024,
        ..Default::default()
    });
    p.establish();
    p.collector
        .handle(p.now, &[0, 0, 0, 5, b'{', b'x', b'!', b'!', b'}']);
    assert!(
        matches!(p.collector.poll_event(), Some(CollectorEvent::Closed(r)) if r.code == code::MALFORMED)
    );

    let mut p = Pair::new(SessionConfig {
        max_frame: 1024,
        ..Default::default()
    });
    p.establish();
    p.collector.handle(p.now, &(1u32 << 30).to_be_bytes());
    assert!(
        matches!(p.collector.poll_event(), Some(CollectorEvent::Closed(r)) if r.code == code::TOO_LARGE)
    );
    // Further input is ignored, not buffered.
    p.collector.handle(p.now, &[0u8; 4096]);
    assert!(p.collector.poll_event().is_none());
}

#[test]
fn agent_batch_too_large_for_frame_is_refused_locally() {
    let mut p = Pair::new(SessionConfig {
        max_frame: 300,
        ..Default::default()
    });
    p.establish();
    let many: Vec<_> = (1..=20).map(env).collect();
    assert!(matches!(
        p.agent.send_batch(many),
        Err(SessionError::Frame(FrameError::TooLarge { .. }))
    ));
    // Nothing was recorded as sent, so a smaller batch with the same seqs still works.
    assert!(p.agent.send_batch(vec![env(1)]).is_ok());
}

fn signed_policy(version: u64, pad: usize) -> (crate::policy::PolicySigner, SignedBundle) {
    use crate::policy::{PackSource, PolicyBundle, PolicySigner};
    let der = PolicySigner::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("keygen");
    let k = PolicySigner::from_pkcs8(&der).expect("key");
    let b = PolicyBundle {
        version,
        agency: "tinh/so-a".into(),
        issued_at: 1,
        packs: vec![PackSource {
            name: "p".into(),
            version: "1".into(),
            source: "y".repeat(pad),
        }],
        settings: Default::default(),
    };
    let signed = k.sign(&b).expect("sign");
    (k, signed)
}

#[test]
fn a_policy_larger_than_a_frame_arrives_whole_and_verifies() {
    let mut p = Pair::new(SessionConfig {
        max_frame: 16 * 1024,
        ..Default::default()
    });
    p.establish();
    let (k, signed) = signed_policy(5, 100_000);
    p.collector.push_policy(&signed, 5).expect("push");
    p.drive();
    match p.agent.poll_event() {
        Some(AgentEvent::PolicyBundle(a)) => {
            assert_eq!(a.version, 5);
            let b = a.signed.verify(&k.public_key()).expect("verifies");
            assert_eq!(b.version, 5);
        }
        other => panic!("expected a policy bundle, got {other:?}"),
    }
    assert!(p.agent.poll_event().is_none(), "one transfer, one event");
    assert!(p.agent.is_established());
}

#[test]
fn a_broken_policy_transfer_is_reported_and_the_session_goes_on() {
    let mut p = Pair::new(SessionConfig::default());
    p.establish();
    let (_, signed) = signed_policy(5, 10);
    let mut chunks = crate::policy::split(&signed, 5, 1 << 20).expect("split");
    chunks[0].digest = format!("sha256:{}", "1".repeat(64));
    for chunk in chunks {
        p.collector
            .push(&CollectorMsg::PolicyUpdate { chunk })
            .expect("push");
    }
    p.drive();
    assert!(matches!(
        p.agent.poll_event(),
        Some(AgentEvent::PolicyRefused(
            crate::policy::PolicyError::Transfer(_)
        ))
    ));
    assert!(p.agent.is_established());
    p.agent.send_batch(vec![env(1)]).expect("still usable");
}

#[test]
fn policy_versions_travel_in_hello_welcome_and_heartbeat() {
    let now = Instant::now();
    let cfg = SessionConfig::default();
    let hello = Hello {
        agent_id: "a1".into(),
        agent_version: "0.1.0".into(),
        policy_hash: Some(format!("sha256:{}", "a".repeat(64))),
        policy_version: 4,
        ioc_version: 0,
    };
    let mut agent = AgentSession::new(now, cfg.clone(), hello);
    let mut coll = CollectorSession::new(now, cfg);
    while let Some(b) = agent.poll_transmit() {
        coll.handle(now, &b);
    }
    assert!(matches!(
        coll.poll_event(),
        Some(CollectorEvent::Hello {
            policy_version: 4,
            policy_hash: Some(_),
            ..
        })
    ));
    coll.accept(6, 0, 0).expect("accept");
    while let Some(b) = coll.poll_transmit() {
        agent.handle(now, &b);
    }
    assert!(matches!(
        agent.poll_event(),
        Some(AgentEvent::Welcomed {
            policy_version: 6,
            ..
        })
    ));
    let stats = AgentStats {
        policy_version: 6,
        ..Default::default()
    };
    agent.send_heartbeat(1, 0, stats);
    while let Some(b) = agent.poll_transmit() {
        coll.handle(now, &b);
    }
    match coll.poll_event() {
        Some(CollectorEvent::Heartbeat { stats, .. }) => assert_eq!(stats.policy_version, 6),
        other => panic!("expected a heartbeat, got {other:?}"),
    }
}

mod props {
    use super::*;
    use crate::msg::{AgentMsg, CollectorMsg};
    use proptest::prelude::*;

    fn arb_envelopes() -> impl Strategy<Value = Vec<Envelope>> {
        proptest::collection::vec((1u64..1000, ".{0,40}"), 1..20).prop_map(|v| {
            let mut seq = 0;
            v.into_iter()
                .map(|(d, m)| {
                    seq += d;
                    let mut e = env(seq);
                    if let Finding::AgentHealth(h) = &mut e.finding {
                        h.message = m;
                    }
                    e
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn agent_messages_roundtrip(findings in arb_envelopes(), depth in any::<u64>(), now in any::<i64>()) {
            let msgs = vec![
                AgentMsg::Batch { first_seq: findings[0].seq, findings },
                AgentMsg::Heartbeat { now, spool_depth: depth, stats: AgentStats::default() },
            ];
            for m in msgs {
                let b = frame::encode(&m, 1 << 20).expect("encode");
                let mut d = FrameDecoder::new(1 << 20);
                d.push(&b);
                prop_assert_eq!(d.decode::<AgentMsg>(), Ok(Some(m)));
            }
        }

        #[test]
        fn collector_messages_roundtrip(up in any::<u64>(), msg in ".{0,100}") {
            for m in [CollectorMsg::Ack { up_to_seq: up }, CollectorMsg::Error { code: 1, message: msg.clone() }] {
                let b = frame::encode(&m, 1 << 20).expect("encode");
                let mut d = FrameDecoder::new(1 << 20);
                d.push(&b);
                prop_assert_eq!(d.decode::<CollectorMsg>(), Ok(Some(m)));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_a_session(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..128), 0..8), established in any::<bool>()) {
            let mut p = Pair::new(SessionConfig { max_frame: 512, ..Default::default() });
            if established { p.establish(); }
            for c in &chunks {
                p.collector.handle(p.now, c);
                p.agent.handle(p.now, c);
            }
            while p.collector.poll_event().is_some() {}
            while p.agent.poll_event().is_some() {}
        }
    }
}
