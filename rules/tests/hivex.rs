//! Cross-checks the hive parser and writer against an independent implementation: libhivex's
//! `hivexregedit` (Debian package libwin-hivex-perl, installed by scripts/setup.sh).
//!
//! 1. hivex writes values (its own cells and lists) into a hive our writer started; our parser
//!    must read them back exactly as our `.reg` reader understands the same text.
//! 2. hivex exports a hive our writer produced (big data, `ri` index roots, UTF-16 names); the
//!    exported `.reg` must describe the tree we wrote.
//!
//! Without `hivexregedit` the test is skipped with a visible message, unless `CI=true`.

use std::path::Path;
use std::process::Command;

use vigil_rules::hive::write::{KeyTree, Options, write_hive, write_hive_with};
use vigil_rules::hive::{Data, Hive, kind, reg};

fn hivexregedit() -> Option<&'static str> {
    let found = Command::new("hivexregedit")
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stdout.is_empty());
    if found {
        return Some("hivexregedit");
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but hivexregedit is missing: scripts/setup.sh installs libwin-hivex-perl"
    );
    let msg = "hivex cross-check: SKIPPED (install libwin-hivex-perl for hivexregedit)\n";
    let shown = std::fs::OpenOptions::new()
        .append(true)
        .open("/dev/stderr")
        .and_then(|mut f| std::io::Write::write_all(&mut f, msg.as_bytes()));
    if shown.is_err() {
        eprint!("{msg}");
    }
    None
}

fn sorted(mut t: KeyTree) -> KeyTree {
    t.values.sort_by_key(|v| v.0.to_uppercase());
    t.subkeys = t.subkeys.into_iter().map(sorted).collect();
    t.subkeys.sort_by_key(|k| k.name.to_uppercase());
    t
}

/// Reads a whole hive back into a tree with our parser.
fn read_tree(h: &Hive<Vec<u8>>, k: &vigil_rules::hive::Key) -> KeyTree {
    let mut t = KeyTree::new(&k.name);
    for v in h.values(k).expect("values") {
        t.values.push((v.name, v.kind, v.data));
    }
    for s in h.subkeys(k).expect("subkeys") {
        t.subkeys.push(read_tree(h, &s));
    }
    t
}

const MERGE: &str = r#"Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SOFTWARE\Policies]

[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft]

[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\WindowsFirewall]

[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\WindowsFirewall\PublicProfile]
"EnableFirewall"=dword:00000001
"DefaultInboundAction"=dword:00000001
"Plain"="C:\\Windows \"quoted\""
"Blob"=hex:de,ad,be,ef,01
"Paths"=hex(7):61,00,5c,00,62,00,00,00,63,00,00,00,00,00
"Big"=hex(b):ff,ff,ff,ff,ff,ff,ff,7f
"#;

/// hivexregedit reads `.reg` bytes as Latin-1, so non-ASCII text goes in as UTF-16 hex, the way
/// regedit itself exports unusual strings.
fn merge_text() -> String {
    let hex = |s: &str| {
        vigil_rules::hive::write::sz(s)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "{MERGE}\"Note\"=hex(1):{}\n@=hex(1):{}\n",
        hex("tường lửa \"công cộng\""),
        hex("mặc định")
    )
}

#[test]
fn hivex_writes_what_we_read_and_reads_what_we_write() {
    let Some(tool) = hivexregedit() else { return };
    let dir = tempfile::tempdir().expect("tempdir");

    // 1. hivex merges into a hive our writer started.
    let base = dir.path().join("SOFTWARE");
    std::fs::write(&base, write_hive(&KeyTree::new("ROOT"))).expect("write");
    let reg_file = dir.path().join("merge.reg");
    let merge = merge_text();
    std::fs::write(&reg_file, &merge).expect("write");
    let st = Command::new(tool)
        .args(["--merge", "--prefix", r"HKEY_LOCAL_MACHINE\SOFTWARE"])
        .arg(&base)
        .arg(&reg_file)
        .output()
        .expect("run hivexregedit");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let h = Hive::open(std::fs::read(&base).expect("read")).expect("our parser opens hivex's hive");
    let ours = h
        .key(r"Policies\Microsoft\WindowsFirewall\PublicProfile")
        .expect("read")
        .expect("key");
    let expected = reg::parse(&merge).expect("our .reg reader");
    let want = expected["SOFTWARE"]
        .get(r"Policies\Microsoft\WindowsFirewall\PublicProfile")
        .expect("key");
    let got = read_tree(&h, &ours);
    assert_eq!(sorted(got.clone()).values, sorted(want.clone()).values);
    let note = got.values.iter().find(|v| v.0 == "Note").expect("Note");
    assert_eq!(
        Data::decode(note.1, &note.2).text(),
        "tường lửa \"công cộng\""
    );

    // 2. hivex exports a hive our writer produced, with every structure we write.
    let mut tree = KeyTree::new("ROOT");
    for i in 0..40 {
        tree.key_mut(&format!(r"Packages\Package_for_KB{i:07}"))
            .set("CurrentState", kind::DWORD, 112u32.to_le_bytes().to_vec());
    }
    tree.key_mut("Dữ liệu").set(
        "Lớn",
        kind::BINARY,
        (0..50_000u32).map(|i| (i * 7) as u8).collect(),
    );
    tree.key_mut("Dữ liệu")
        .set("", kind::SZ, vigil_rules::hive::write::sz("x"));
    let ours = dir.path().join("OURS");
    let opts = Options {
        max_leaf: 8,
        ..Options::default()
    };
    std::fs::write(&ours, write_hive_with(&tree, opts)).expect("write");
    let out = Command::new(tool)
        .args(["--export", "--prefix", r"HKEY_LOCAL_MACHINE\SOFTWARE"])
        .arg(&ours)
        .arg(r"\")
        .output()
        .expect("run hivexregedit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let exported = reg::parse(&text).expect("hivex's export parses");
    let mut back = exported["SOFTWARE"].clone();
    back.name = "ROOT".into();
    assert_eq!(sorted(back), sorted(tree));
    assert!(Path::new(&ours).exists());
}
