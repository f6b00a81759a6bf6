use vigil_proto::msg::HostIdentity;
use vigil_proto::token::EnrollToken;
use vigil_rules::score::Scoring;

use super::*;
use crate::alerting::AlertSettings;
use crate::federation::publish;
use crate::federation::sign::Signer;
use crate::federation::summary::graft;
use crate::pki::{PkiPaths, ServerNames};
use crate::scoring::{Inputs, RuleCatalog, compute};
use crate::store::{Agency, SqliteStore};

struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    ca: Ca,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("pki")).expect("mkdir");
    let names = ServerNames {
        dns: vec!["localhost".into()],
        ips: vec![],
    };
    let ca = crate::pki::init(&PkiPaths::new(dir.path()), "Tỉnh", &names).expect("ca");
    let store = SqliteStore::open_in_memory().expect("store");
    let agency = Agency {
        id: "tinh".into(),
        name: "Tỉnh".into(),
        level: 2,
    };
    store.agency_add(&agency).expect("agency");
    Fixture {
        _dir: dir,
        store,
        ca,
    }
}

fn request(token: &str, key: &rcgen::KeyPair) -> EnrollRequest {
    let csr = rcgen::CertificateParams::default()
        .serialize_request(key)
        .and_then(|c| c.pem())
        .expect("csr");
    EnrollRequest {
        proto_version: vigil_proto::PROTO_VERSION,
        secret: EnrollToken::decode(token).expect("token").secret_b64(),
        csr_pem: csr,
        host: HostIdentity {
            machine_id: "vigil-collector".into(),
            hostname: "xa-nghi-loc".into(),
            os: "vigil-collector".into(),
        },
        agent_version: "0".into(),
    }
}

const T0: i64 = 1_800_000_000;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0).expect("time")
}

/// Enrolls a downstream; returns its identity (as a session sees it) and its signer.
fn enrolled(f: &Fixture) -> (DownstreamIdentity, Signer) {
    let addrs = vec!["127.0.0.1:4433".to_owned()];
    let (token, _) = create_fed_token(
        &f.store,
        &f.ca,
        "tinh",
        (Duration::from_secs(60), 1),
        addrs,
        T0,
    )
    .expect("token");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let EnrollResponse::Ok {
        cert_pem, agency, ..
    } = enroll(&f.store, &f.ca, &request(&token, &key), now())
    else {
        panic!("downstream enrollment refused");
    };
    assert_eq!(agency, "tinh");
    let der = crate::pki::pem_certs(&cert_pem).expect("cert").remove(0);
    assert!(
        crate::pki::cert_identity(&der).is_err(),
        "a downstream's certificate is no agent's"
    );
    let who = downstream_identity(&der).expect("identity");
    (who, Signer::from_pem(&key.serialize_pem()).expect("signer"))
}

/// A real summary of a collector whose tree is the agency `path`.
fn body(downstream_id: &str, path: &str) -> String {
    let inputs = Inputs {
        agencies: vec![Agency {
            id: path.into(),
            name: "Xã".into(),
            level: 2,
        }],
        ..Inputs::default()
    };
    let scores = compute(&inputs, &Scoring::default(), &RuleCatalog::builtin(), 1_000);
    serde_json::to_string(&publish::build(downstream_id, &inputs, &scores)).expect("json")
}

#[test]
fn tokens_admit_their_own_kind_only() {
    let f = fixture();
    let addrs = vec!["127.0.0.1:4433".to_owned()];
    let (fed_token, _) = create_fed_token(
        &f.store,
        &f.ca,
        "tinh",
        (Duration::from_secs(60), 1),
        addrs.clone(),
        T0,
    )
    .expect("fed token");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    // An agent presenting a federation token is refused, and the token is not used up.
    let (resp, _) = crate::enroll::handle(
        &f.store,
        &f.ca,
        &AlertSettings::default(),
        request(&fed_token, &key),
        now(),
    );
    assert!(
        matches!(&resp, EnrollResponse::Error { message, .. } if message.contains("downstream collector")),
        "{resp:?}"
    );
    // A collector presenting an agent's token is refused.
    let (agent_token, _) = crate::enroll::create_token(
        &f.store,
        &f.ca,
        "tinh",
        Duration::from_secs(60),
        5,
        addrs,
        T0,
    )
    .expect("agent token");
    let resp = enroll(&f.store, &f.ca, &request(&agent_token, &key), now());
    assert!(
        matches!(&resp, EnrollResponse::Error { message, .. } if message.contains("not a federation token")),
        "{resp:?}"
    );
    // The federation token still works, once.
    let resp = enroll(&f.store, &f.ca, &request(&fed_token, &key), now());
    assert!(matches!(resp, EnrollResponse::Ok { .. }), "{resp:?}");
    let again = enroll(&f.store, &f.ca, &request(&fed_token, &key), now());
    assert!(matches!(again, EnrollResponse::Error { .. }), "{again:?}");
}

#[test]
fn only_signed_summaries_of_the_session_downstream_within_its_subtree_are_stored() {
    let f = fixture();
    let (who, signer) = enrolled(&f);
    let (other, other_signer) = enrolled(&f);
    let good = body(&who.id, "xa");
    let sig = signer.sign(good.as_bytes()).expect("sign");
    let store: &dyn Store = &f.store;
    let stored = on_summary(store, &who, (1, &good, &sig), 10).expect("store");
    assert_eq!(stored, (UpMsg::Ack { up_to_seq: 1 }, false));
    // A resend after a lost ack is acknowledged and stored once.
    let again = on_summary(store, &who, (1, &good, &sig), 11).expect("store");
    assert_eq!(again, (UpMsg::Ack { up_to_seq: 1 }, false));
    let refused =
        |r: Result<(UpMsg, bool), StoreError>| matches!(r, Ok((UpMsg::Error { .. }, true)));
    // Tampered body, or another key's signature.
    let tampered = good.replace("\"Xã\"", "\"Xa\"");
    assert_ne!(tampered, good);
    assert!(refused(on_summary(store, &who, (2, &tampered, &sig), 12)));
    let forged = other_signer.sign(good.as_bytes()).expect("sign");
    assert!(refused(on_summary(store, &who, (2, &good, &forged), 12)));
    // Signed by the session's key, but naming another downstream.
    let theirs = body(&other.id, "xa");
    let sig_theirs = signer.sign(theirs.as_bytes()).expect("sign");
    assert!(refused(on_summary(
        store,
        &who,
        (2, &theirs, &sig_theirs),
        12
    )));
    // An agency outside the enrolled subtree.
    let escape = good.replace("\"xa\"", "\"../vn\"");
    assert_ne!(escape, good);
    let sig_escape = signer.sign(escape.as_bytes()).expect("sign");
    assert!(refused(on_summary(
        store,
        &who,
        (2, &escape, &sig_escape),
        12
    )));
    // Only the good summary is there, under the enrolled agency.
    let latest = f.store.federation().fed_latest().expect("latest");
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].seq, 1);
    let g = graft(&latest, &["tinh"], 1_000);
    assert_eq!(
        g.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        ["tinh/xa"]
    );
    // A revoked downstream stores nothing more.
    assert!(
        f.store
            .federation()
            .fed_downstream_revoke(&who.id, 20)
            .expect("revoke")
    );
    let sig2 = signer.sign(good.as_bytes()).expect("sign");
    assert!(on_summary(store, &who, (2, &good, &sig2), 21).is_err());
}

#[test]
fn a_downstream_gets_a_minute_of_summaries_then_waits() {
    let t0 = 1_000_000;
    let mut b = SummaryBudget::full(t0);
    // A minute's worth at once (a spool drained after an outage) ...
    for i in 0..SUMMARIES_PER_MINUTE {
        assert_eq!(b.take(t0, 1000), Ok(()), "summary {i}");
    }
    // ... then one per second: the next waits a second, and is taken a second later.
    let wait = b.take(t0, 1000).expect_err("over budget");
    assert!(
        wait > Duration::from_millis(990) && wait <= Duration::from_millis(1000),
        "{wait:?}"
    );
    assert_eq!(b.take(t0 + 1000, 1000), Ok(()));
    assert!(b.take(t0 + 1000, 1000).is_err());
    // Bytes are budgeted too: a minute's bytes in large summaries, then a wait for the bytes.
    let mut b = SummaryBudget::full(t0);
    let big = vigil_proto::fed::MAX_SUMMARY_BODY;
    let fits = SUMMARY_BYTES_PER_MINUTE / big;
    for _ in 0..fits {
        assert_eq!(b.take(t0, big), Ok(()));
    }
    let wait = b.take(t0, big).expect_err("bytes spent");
    assert!(wait > Duration::from_secs(1), "{wait:?}");
    assert_eq!(b.take(t0 + 60_000, big), Ok(()));
    // A clock going back refills nothing and breaks nothing.
    assert!(b.take(t0, usize::MAX).is_err());
    // Budgets are per downstream.
    let all = Budgets::default();
    for _ in 0..SUMMARIES_PER_MINUTE {
        assert!(all.take("d1", t0, 10).is_ok());
    }
    assert!(all.take("d1", t0, 10).is_err());
    assert!(all.take("d2", t0, 10).is_ok());
}
