use super::write::{KeyTree, ListKind, Options, multi_sz, sz, write_hive, write_hive_with};
use super::*;

fn sample() -> KeyTree {
    let mut root = KeyTree::new("ROOT");
    let k = root.key_mut(r"Policies\Microsoft\WindowsFirewall\PublicProfile");
    k.set("EnableFirewall", kind::DWORD, 1u32.to_le_bytes().to_vec());
    k.set("Name", kind::SZ, sz("Công khai"));
    k.set("", kind::SZ, sz("default"));
    let m = root.key_mut(r"Multi");
    m.set("List", kind::MULTI_SZ, multi_sz(&["a", "b c"]));
    m.set(
        "Big",
        kind::BINARY,
        (0..40_000u32).map(|i| i as u8).collect(),
    );
    m.set("Q", kind::QWORD, 7u64.to_le_bytes().to_vec());
    m.set("Three", kind::BINARY, vec![1, 2, 3]);
    m.set("Rid", 0x1F5, Vec::new());
    root.key_mut("Thư mục");
    root
}

fn open(bytes: Vec<u8>) -> Hive<Vec<u8>> {
    Hive::open(bytes).expect("valid hive")
}

#[test]
fn written_hives_read_back() {
    let h = open(write_hive(&sample()));
    let k = h
        .key(r"policies\MICROSOFT\WindowsFirewall\publicprofile")
        .expect("read")
        .expect("key found case-insensitively");
    assert_eq!(k.name, "PublicProfile");
    let v = h.value(&k, "enablefirewall").expect("read").expect("value");
    assert_eq!(Data::decode(v.kind, &v.data), Data::Dword(1));
    let name = h.value(&k, "Name").expect("read").expect("value");
    assert_eq!(Data::decode(name.kind, &name.data).text(), "Công khai");
    let def = h.value(&k, "").expect("read").expect("default value");
    assert_eq!(Data::decode(def.kind, &def.data).text(), "default");
    let m = h.key("Multi").expect("read").expect("key");
    let vals = h.values(&m).expect("values");
    let get = |n: &str| vals.iter().find(|v| v.name == n).expect(n);
    assert_eq!(
        Data::decode(get("List").kind, &get("List").data),
        Data::Multi(vec!["a".into(), "b c".into()])
    );
    assert_eq!(get("Big").data.len(), 40_000, "big data is reassembled");
    assert_eq!(get("Big").data[39_999], (39_999u32 % 256) as u8);
    assert_eq!(Data::decode(get("Q").kind, &get("Q").data).text(), "7");
    assert_eq!(get("Three").data, [1, 2, 3], "inline data keeps its length");
    assert_eq!(get("Rid").kind, 0x1F5, "unusual types survive");
    assert!(h.key("Thư mục").expect("read").is_some(), "UTF-16 names");
    assert!(h.key(r"Policies\Nope").expect("read").is_none());
    let names: Vec<String> = h
        .subkeys(&h.root().expect("root"))
        .expect("subkeys")
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(
        names,
        ["Multi", "Policies", "Thư mục"],
        "sorted as Windows sorts"
    );
}

#[test]
fn every_subkey_list_form_is_read() {
    let mut root = KeyTree::new("R");
    for i in 0..300 {
        root.key_mut(&format!("Package_{i:04}")).set(
            "N",
            kind::DWORD,
            (i as u32).to_le_bytes().to_vec(),
        );
    }
    for list in [ListKind::Hash, ListKind::Fast, ListKind::Index] {
        let opts = Options {
            list,
            max_leaf: 64,
            minor: 5,
        };
        let h = open(write_hive_with(&root, opts));
        let r = h.root().expect("root");
        assert_eq!(h.subkeys(&r).expect("list").len(), 300, "{list:?} under ri");
        let k = h.subkey(&r, "package_0217").expect("read").expect("found");
        let v = h.value(&k, "N").expect("read").expect("value");
        assert_eq!(Data::decode(v.kind, &v.data), Data::Dword(217));
    }
}

#[test]
fn dirty_and_foreign_files_are_refused() {
    let good = write_hive(&sample());
    let mut seq = good.clone();
    seq[8] = 2;
    let sum = checksum(&seq);
    seq[508..512].copy_from_slice(&sum.to_le_bytes());
    assert!(matches!(Hive::open(seq), Err(HiveError::Dirty(m)) if m.contains("sequence")));
    let mut sum = good.clone();
    sum[100] ^= 1;
    assert!(matches!(Hive::open(sum), Err(HiveError::Dirty(m)) if m.contains("checksum")));
    let mut log = good.clone();
    log[28] = 1;
    let s = checksum(&log);
    log[508..512].copy_from_slice(&s.to_le_bytes());
    assert!(matches!(Hive::open(log), Err(HiveError::Format(m)) if m.contains("transaction log")));
    assert!(matches!(
        Hive::open(b"not a hive".to_vec()),
        Err(HiveError::Format(_))
    ));
    assert!(matches!(
        Hive::open(good[..5000].to_vec()),
        Err(HiveError::Format(_))
    ));
}

#[test]
fn hostile_offsets_are_errors_not_panics() {
    let good = write_hive(&sample());
    // Point the root at garbage, at the end of the file, and at an unallocated cell.
    for root in [0u32, 8, 0x7FFF_FFF8, good.len() as u32, 0xFFFF_FFFF] {
        let mut b = good.clone();
        b[36..40].copy_from_slice(&root.to_le_bytes());
        let s = checksum(&b);
        b[508..512].copy_from_slice(&s.to_le_bytes());
        assert!(Hive::open(b).is_err(), "root {root:#x}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Flipping bytes of a valid hive never panics: every lookup answers or errs.
    #[test]
    fn corrupted_hives_never_panic(
        flips in proptest::collection::vec((0usize..20_000, proptest::num::u8::ANY), 1..40),
    ) {
        let mut b = write_hive(&sample());
        for (at, v) in flips {
            let i = 4096 + at % (b.len() - 4096);
            b[i] = v;
        }
        if let Ok(h) = Hive::open(b) {
            if let Ok(Some(k)) = h.key(r"Policies\Microsoft\WindowsFirewall\PublicProfile") {
                let _ = h.values(&k);
                let _ = h.value(&k, "EnableFirewall");
            }
            if let Ok(r) = h.root() {
                let _ = h.subkeys(&r);
            }
            let _ = h.key("Multi").map(|k| k.map(|k| h.values(&k)));
        }
    }

    /// Random trees survive a write and a read unchanged.
    #[test]
    fn random_trees_round_trip(
        keys in proptest::collection::btree_map("[a-z][a-z0-9 _.-]{0,12}", proptest::collection::vec(proptest::num::u8::ANY, 0..20_000), 1..12),
    ) {
        let mut root = KeyTree::new("R");
        for (name, data) in &keys {
            root.key_mut(&format!("Sub\\{name}")).set("v", kind::BINARY, data.clone());
        }
        let h = open(write_hive(&root));
        for (name, data) in &keys {
            let k = h.key(&format!("Sub\\{name}")).expect("read").expect("key");
            let v = h.value(&k, "V").expect("read").expect("value");
            proptest::prop_assert_eq!(&v.data, data);
        }
    }
}

#[test]
fn reg_text_builds_hives() {
    let text = r#"Windows Registry Editor Version 5.00

; comment
[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Test]
"On"=dword:00000001
"Path"="C:\\Windows \"quoted\""
@="def"
"Bin"=hex:01,02,\
  03,04,05
"Multi"=hex(7):61,00,00,00,62,00,00,00,00,00
"Q"=hex(b):2a,00,00,00,00,00,00,00

[HKLM\SYSTEM\ControlSet001\Services\X]
"Start"=dword:00000004
"#;
    let mut hives = reg::parse(text).expect("parses");
    let sw = &hives["SOFTWARE"];
    let k = sw.get(r"Policies\Test").expect("key");
    let find = |n: &str| k.values.iter().find(|v| v.0 == n).expect(n);
    assert_eq!(find("On").2, 1u32.to_le_bytes());
    assert_eq!(
        Data::decode(kind::SZ, &find("Path").2).text(),
        r#"C:\Windows "quoted""#
    );
    assert_eq!(find("Bin").2, [1, 2, 3, 4, 5]);
    assert_eq!(
        Data::decode(find("Multi").1, &find("Multi").2),
        Data::Multi(vec!["a".into(), "b".into()])
    );
    assert_eq!(Data::decode(find("Q").1, &find("Q").2), Data::Qword(42));
    assert_eq!(Data::decode(kind::SZ, &find("").2).text(), "def");
    reg::apply(
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Test]\n\"On\"=-\n[-HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\X]\n",
        &mut hives,
    )
    .expect("applies");
    assert!(
        hives["SOFTWARE"]
            .get(r"Policies\Test")
            .expect("key")
            .values
            .iter()
            .all(|v| v.0 != "On")
    );
    assert!(hives["SYSTEM"].get(r"ControlSet001\Services\X").is_none());
    for (bad, line) in [
        ("[HKEY_CURRENT_USER\\X]\n", 1),
        ("\"a\"=dword:1\n", 1),
        ("[HKLM\\SOFTWARE\\X]\n\"a\"=dword:zz\n", 2),
        ("[HKLM\\SOFTWARE\\X]\n\n\"a\"=\"open\n", 3),
        ("[HKLM\\SOFTWARE\\X\n", 1),
    ] {
        let e = reg::parse(bad).expect_err(bad);
        assert_eq!(e.line, line, "{bad}: {e}");
    }
}
