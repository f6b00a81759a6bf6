use proptest::prelude::*;
use ring::rand::SystemRandom;

use super::sign::SIGNATURE_LEN;
use super::*;
use crate::limits;

fn signer() -> PolicySigner {
    let der = PolicySigner::generate_pkcs8(&SystemRandom::new()).expect("keygen");
    PolicySigner::from_pkcs8(&der).expect("load")
}

fn bundle() -> PolicyBundle {
    PolicyBundle {
        version: 7,
        agency: "tinh/so-a".into(),
        issued_at: 1_760_000_000,
        packs: vec![
            PackSource {
                name: "a-extra".into(),
                version: "1.0.0".into(),
                source: "id: a-extra\nversion: 1.0.0\nrules: []\n".into(),
            },
            PackSource {
                name: "b-more".into(),
                version: "2".into(),
                source: "ư".into(),
            },
        ],
        settings: PolicySettings {
            check_interval_s: Some(600),
            fim_paths: Some(vec!["/etc".into(), "/usr/bin".into()]),
            fim_exclude: Some(vec!["*.swp".into()]),
            netwatch_interval_s: None,
            inventory_interval_s: Some(3600),
            storm_threshold: Some(100),
            spool_budget_bytes: None,
            agency_level: Some(3),
        },
    }
}

/// The encoding of `bundle()` written out by hand from the grammar in `canon.rs`: a change of
/// the byte form (which would void every signature in the field) must show up here.
#[test]
fn canonical_encoding_is_the_documented_one() {
    let mut want: Vec<u8> = b"VIGILPOL\x00\x01".to_vec();
    want.extend_from_slice(&7u64.to_be_bytes());
    let s = |w: &mut Vec<u8>, t: &str| {
        w.extend_from_slice(&(t.len() as u32).to_be_bytes());
        w.extend_from_slice(t.as_bytes());
    };
    s(&mut want, "tinh/so-a");
    want.extend_from_slice(&1_760_000_000i64.to_be_bytes());
    want.extend_from_slice(&2u32.to_be_bytes());
    for t in [
        "a-extra",
        "1.0.0",
        "id: a-extra\nversion: 1.0.0\nrules: []\n",
        "b-more",
        "2",
        "ư",
    ] {
        s(&mut want, t);
    }
    want.push(1);
    want.extend_from_slice(&600u64.to_be_bytes());
    want.push(1);
    want.extend_from_slice(&2u32.to_be_bytes());
    s(&mut want, "/etc");
    s(&mut want, "/usr/bin");
    want.push(1);
    want.extend_from_slice(&1u32.to_be_bytes());
    s(&mut want, "*.swp");
    want.push(0);
    want.push(1);
    want.extend_from_slice(&3600u64.to_be_bytes());
    want.push(1);
    want.extend_from_slice(&100u64.to_be_bytes());
    want.push(0);
    want.push(1);
    want.push(3);
    let got = encode_bundle(&bundle()).expect("encode");
    assert_eq!(got, want);
    assert_eq!(decode_bundle(&got).expect("decode"), bundle());
}

#[test]
fn decoder_refuses_every_other_spelling() {
    let good = encode_bundle(&bundle()).expect("encode");
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        decode_bundle(&trailing),
        Err(PolicyError::Malformed(_))
    ));
    for cut in [0, 5, 10, 20, good.len() - 1] {
        assert!(decode_bundle(&good[..cut]).is_err(), "cut at {cut}");
    }
    let mut bad_tag = good.clone();
    let last_tag = good.len() - 2; // agency_level's tag
    bad_tag[last_tag] = 2;
    assert!(matches!(
        decode_bundle(&bad_tag),
        Err(PolicyError::Malformed(_))
    ));
    let mut bad_magic = good.clone();
    bad_magic[9] = 2; // format 2
    assert!(decode_bundle(&bad_magic).is_err());

    let mut unsorted = bundle();
    unsorted.packs.reverse();
    assert!(matches!(
        encode_bundle(&unsorted),
        Err(PolicyError::Malformed(_))
    ));
    let mut dup = bundle();
    dup.packs[1].name = dup.packs[0].name.clone();
    assert!(encode_bundle(&dup).is_err());
}

#[test]
fn decoder_never_allocates_a_claimed_count() {
    let mut b: Vec<u8> = b"VIGILPOL\x00\x01".to_vec();
    b.extend_from_slice(&1u64.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes());
    b.push(b'x');
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&200u32.to_be_bytes()); // 200 packs claimed, none there
    assert!(matches!(decode_bundle(&b), Err(PolicyError::Malformed(_))));
    let n = b.len();
    b[n - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(decode_bundle(&b), Err(PolicyError::TooLarge(_))));
}

#[test]
fn signature_verifies_and_any_flipped_byte_is_refused() {
    let k = signer();
    let signed = k.sign(&bundle()).expect("sign");
    assert_eq!(signed.verify(&k.public_key()).expect("verify"), bundle());
    let bytes = signed.as_bytes();
    // Every position: the signature, the magic, the version, the packs, the settings.
    for i in 0..bytes.len() {
        let mut t = bytes.to_vec();
        t[i] ^= 0x01;
        let t = SignedBundle::from_bytes(t).expect("length unchanged");
        assert_eq!(
            t.verify(&k.public_key()),
            Err(PolicyError::BadSignature),
            "byte {i} flipped"
        );
    }
    let other = signer();
    assert_eq!(
        signed.verify(&other.public_key()),
        Err(PolicyError::BadSignature)
    );
}

#[test]
fn signing_is_deterministic_and_the_digest_names_the_blob() {
    let k = signer();
    let a = k.sign(&bundle()).expect("sign");
    let b = k.sign(&bundle()).expect("sign");
    assert_eq!(a, b, "Ed25519 signatures are deterministic");
    let mut newer = bundle();
    newer.version += 1;
    assert_ne!(a.digest(), k.sign(&newer).expect("sign").digest());
    assert!(a.digest().starts_with("sha256:") && a.digest().len() == 71);
}

#[test]
fn public_key_text_round_trips_and_refuses_junk() {
    let pk = signer().public_key();
    let text = pk.to_string();
    assert!(text.starts_with("ed25519:") && text.len() == 8 + 64);
    assert_eq!(
        PolicyPublicKey::parse(&format!(" {text}\n")).expect("parse"),
        pk
    );
    for bad in [
        "",
        "ed25519:",
        "ed25519:zz",
        &text[1..],
        &text[..text.len() - 2],
        "rsa:00",
    ] {
        assert!(PolicyPublicKey::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(pk.fingerprint().len(), 16);
}

#[test]
fn version_must_grow_and_subtree_must_cover_the_agent() {
    let b = bundle(); // version 7 for tinh/so-a
    assert!(check_applicable(&b, 0, "tinh/so-a").is_ok());
    assert!(check_applicable(&b, 6, "tinh/so-a/phong-1").is_ok());
    assert_eq!(
        check_applicable(&b, 7, "tinh/so-a"),
        Err(PolicyError::NotNewer { got: 7, applied: 7 })
    );
    assert!(matches!(
        check_applicable(&b, 9, "tinh/so-a"),
        Err(PolicyError::NotNewer { .. })
    ));
    for other in [
        "tinh/so-b",
        "tinh",
        "tinh/so-ab",
        "tinh/so-a-x/y",
        "",
        "x/tinh/so-a",
    ] {
        assert!(
            matches!(
                check_applicable(&b, 0, other),
                Err(PolicyError::OtherSubtree { .. })
            ),
            "{other}"
        );
    }
    assert!(covers("tinh", "tinh/so-a"));
    assert!(!covers("", "tinh"));
}

fn transfer(signed: &SignedBundle, max_frame: usize) -> Vec<PolicyChunk> {
    split(signed, 7, max_frame).expect("split")
}

fn big_bundle(bytes: usize) -> PolicyBundle {
    let mut b = bundle();
    b.packs[1].source = "x".repeat(bytes);
    b
}

#[test]
fn chunks_fit_their_frames_and_reassemble() {
    let k = signer();
    let signed = k.sign(&big_bundle(3 << 20)).expect("sign");
    for max_frame in [16 * 1024, 64 * 1024, crate::frame::DEFAULT_MAX_FRAME] {
        let chunks = transfer(&signed, max_frame);
        assert!(
            chunks.len() > 1,
            "3 MiB needs several frames of {max_frame}"
        );
        let mut asm = PolicyAssembler::new();
        let mut done = None;
        for c in chunks {
            let msg = crate::msg::CollectorMsg::PolicyUpdate { chunk: c.clone() };
            let frame = crate::frame::encode(&msg, max_frame).expect("chunk fits its frame");
            assert!(frame.len() - 4 <= max_frame);
            assert!(done.is_none(), "complete before the last chunk");
            done = asm.push(c).expect("chunk accepted");
        }
        let done = done.expect("complete");
        assert_eq!(done.version, 7);
        assert_eq!(done.signed, signed);
        assert!(!asm.in_progress());
    }
    assert!(split(&signed, 7, 1000).is_err(), "no room for a chunk");
    assert!(
        matches!(split(&signed, 7, 4096), Err(PolicyError::TooLarge(_))),
        "3 MiB in 4 KiB frames needs more than POLICY_CHUNKS chunks"
    );
}

#[test]
fn reassembly_refuses_broken_transfers() {
    let k = signer();
    let signed = k.sign(&big_bundle(20_000)).expect("sign");
    let good = transfer(&signed, 8192);
    assert!(good.len() >= 3);
    let run = |chunks: Vec<PolicyChunk>| {
        let mut asm = PolicyAssembler::new();
        let mut last = Ok(None);
        for c in chunks {
            last = asm.push(c);
            if last.is_err() {
                assert!(!asm.in_progress(), "an error drops the partial transfer");
                break;
            }
        }
        last
    };
    assert!(matches!(run(good.clone()), Ok(Some(_))));

    let mut skipped = good.clone();
    skipped.remove(1);
    assert!(matches!(run(skipped), Err(PolicyError::Transfer(_))));
    let mut dup = good.clone();
    dup.insert(1, good[1].clone());
    assert!(matches!(run(dup), Err(PolicyError::Transfer(_))));
    assert!(matches!(
        run(good[1..].to_vec()),
        Err(PolicyError::Transfer(_))
    ));

    let mut other_version = good.clone();
    other_version[1].version = 8;
    assert!(matches!(run(other_version), Err(PolicyError::Transfer(_))));
    let mut other_digest = good.clone();
    for c in &mut other_digest {
        c.digest = format!("sha256:{}", "0".repeat(64));
    }
    assert!(matches!(run(other_digest), Err(PolicyError::Transfer(_))));
    let mut bad_b64 = good.clone();
    bad_b64[1].data = "!!!".into();
    assert!(matches!(run(bad_b64), Err(PolicyError::Transfer(_))));
    let mut short = good.clone();
    for c in &mut short {
        c.total_len += 1;
    }
    assert!(matches!(run(short), Err(PolicyError::Transfer(_))));

    let mut huge = good[0].clone();
    huge.total_len = (limits::POLICY_BUNDLE + SIGNATURE_LEN + 1) as u64;
    assert!(matches!(run(vec![huge]), Err(PolicyError::TooLarge(_))));
    let mut many = good[0].clone();
    many.count = limits::POLICY_CHUNKS as u32 + 1;
    assert!(matches!(run(vec![many]), Err(PolicyError::TooLarge(_))));
    let mut zero = good[0].clone();
    zero.count = 0;
    assert!(run(vec![zero]).is_err());
    let mut past = good[0].clone();
    past.index = past.count;
    assert!(run(vec![past]).is_err());
}

#[test]
fn chunk_zero_restarts_a_transfer() {
    let k = signer();
    let old = k.sign(&big_bundle(20_000)).expect("sign");
    let mut nb = big_bundle(20_000);
    nb.version = 8;
    let new = k.sign(&nb).expect("sign");
    let mut asm = PolicyAssembler::new();
    let first = transfer(&old, 8192);
    assert_eq!(asm.push(first[0].clone()), Ok(None));
    let mut done = None;
    for c in split(&new, 8, 8192).expect("split") {
        done = asm
            .push(c)
            .expect("the new transfer replaces the partial one");
    }
    assert_eq!(done.expect("complete").signed, new);
}

#[test]
fn oversized_bundles_are_not_signed() {
    let k = signer();
    let mut b = bundle();
    b.settings.fim_paths = Some(vec!["/x".into(); limits::POLICY_PATHS + 1]);
    assert!(matches!(k.sign(&b), Err(PolicyError::TooLarge(_))));
    let mut b = bundle();
    b.agency = "a".repeat(limits::AGENCY + 1);
    assert!(matches!(k.sign(&b), Err(PolicyError::TooLarge(_))));
    let mut b = bundle();
    b.packs[0].source = "x".repeat(limits::POLICY_BUNDLE);
    assert!(matches!(k.sign(&b), Err(PolicyError::TooLarge(_))));
}

fn arb_opt_list() -> impl Strategy<Value = Option<Vec<String>>> {
    proptest::option::of(proptest::collection::vec("[ -~]{1,20}", 0..4))
}

prop_compose! {
    fn arb_bundle()(
        version in any::<u64>(),
        agency in "[a-z]{1,8}(/[a-z0-9-]{1,8}){0,3}",
        issued_at in any::<i64>(),
        names in proptest::collection::btree_set("[a-z0-9.-]{1,12}", 0..4),
        src in ".{0,40}",
        ints in proptest::collection::vec(proptest::option::of(any::<u64>()), 5),
        paths in arb_opt_list(),
        excl in arb_opt_list(),
        level in proptest::option::of(any::<u8>()),
    ) -> PolicyBundle {
        PolicyBundle {
            version,
            agency,
            issued_at,
            packs: names.into_iter().map(|n| PackSource {
                name: n.clone(), version: "1".into(), source: format!("{n}{src}"),
            }).collect(),
            settings: PolicySettings {
                check_interval_s: ints[0],
                fim_paths: paths,
                fim_exclude: excl,
                netwatch_interval_s: ints[1],
                inventory_interval_s: ints[2],
                storm_threshold: ints[3],
                spool_budget_bytes: ints[4],
                agency_level: level,
            },
        }
    }
}

proptest! {
    #[test]
    fn encode_decode_encode_is_stable(b in arb_bundle()) {
        let bytes = encode_bundle(&b).expect("encode");
        let back = decode_bundle(&bytes).expect("decode");
        prop_assert_eq!(&back, &b);
        prop_assert_eq!(encode_bundle(&back).expect("re-encode"), bytes);
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut with_magic = b"VIGILPOL\x00\x01".to_vec();
        with_magic.extend_from_slice(&bytes);
        for input in [&bytes, &with_magic] {
            if let Ok(b) = decode_bundle(input) {
                prop_assert_eq!(&encode_bundle(&b).expect("re-encode"), input);
            }
        }
    }
}
