//! The rpm database reader against databases written by rpm itself (Debian's `rpm` tools), in
//! both formats, and rpm's version order against `rpm.vercmp`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use support::rpmdb::{self, BdbLayout, StandIn};
use vigil_rules::RootFacts;
use vigil_rules::rpm::{Backend, read};

fn stand_ins() -> Vec<StandIn> {
    vec![
        StandIn::new("bash", "5.1.8", "9.el9"),
        StandIn {
            epoch: Some(1),
            ..StandIn::new("openssl", "3.0.7", "27.el9")
        },
        StandIn::new("kernel", "5.14.0", "427.13.1.el9_4"),
        StandIn::new("kernel", "5.14.0", "362.8.1.el9_3"),
        StandIn {
            arch: "noarch",
            ..StandIn::new("crypto-policies", "20240202", "1.git283706d.el9")
        },
        StandIn::new("openssh-server", "8.7p1", "38.el9_4.1"),
    ]
}

/// Our reading of the database under `root`, as `name-version-release.arch` lines.
fn ours(root: &Path) -> (Backend, Vec<String>) {
    let db = read(&RootFacts::new(root, SystemTime::now()))
        .expect("readable")
        .expect("a database");
    assert!(db.unreadable.is_empty(), "{:?}", db.unreadable);
    let mut v: Vec<String> = db.packages.iter().map(|p| p.nvra()).collect();
    v.sort();
    (db.backend, v)
}

#[test]
fn both_formats_read_like_rpm_reads_them() {
    if !rpmdb::rpm_tools("both_formats_read_like_rpm_reads_them") {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let pkgs = stand_ins();
    let rpms = rpmdb::build(work.path(), &pkgs);
    let root = work.path().join("root");
    rpmdb::install(&root, &rpms);
    let mut want: Vec<String> = pkgs.iter().map(StandIn::nvra).collect();
    want.sort();
    assert_eq!(
        rpmdb::rpm_lists(&root, false),
        want,
        "rpm lists its own database"
    );
    assert_eq!(ours(&root), (Backend::Sqlite, want.clone()));
    let db = read(&RootFacts::new(&root, SystemTime::now()))
        .expect("read")
        .expect("db");
    let openssl = db
        .packages
        .iter()
        .find(|p| p.name == "openssl")
        .expect("openssl");
    assert_eq!(openssl.evr(), "1:3.0.7-27.el9");
    assert!(openssl.install_time.is_some());
    assert_eq!(db.packages.iter().filter(|p| p.name == "kernel").count(), 2);

    for layout in [
        BdbLayout::default(),
        BdbLayout {
            page_size: 512,
            buckets: 8,
            big_endian: true,
        },
        BdbLayout {
            page_size: 65536,
            buckets: 1,
            big_endian: false,
        },
    ] {
        let r = work
            .path()
            .join(format!("bdb-{}-{}", layout.page_size, layout.big_endian));
        rpmdb::install(&r, &rpms);
        rpmdb::convert_to_bdb(&r, layout);
        assert_eq!(
            rpmdb::rpm_lists(&r, true),
            want,
            "rpm's own Berkeley DB reader lists the written file ({layout:?})"
        );
        assert_eq!(ours(&r), (Backend::BerkeleyDb, want.clone()), "{layout:?}");
    }
}

#[test]
fn sysimage_location_and_absent_database() {
    if !rpmdb::rpm_tools("sysimage_location_and_absent_database") {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let rpms = rpmdb::build(work.path(), &stand_ins()[..1]);
    let root = work.path().join("root");
    assert!(
        read(&RootFacts::new(&root, SystemTime::now()))
            .expect("ok")
            .is_none()
    );
    rpmdb::install(&root, &rpms);
    // Fedora 36+ and RHEL 10 keep the database in /usr/lib/sysimage/rpm.
    std::fs::create_dir_all(root.join("usr/lib/sysimage")).expect("mkdir");
    std::fs::rename(root.join("var/lib/rpm"), root.join("usr/lib/sysimage/rpm")).expect("mv");
    let db = read(&RootFacts::new(&root, SystemTime::now()))
        .expect("ok")
        .expect("db");
    assert_eq!(db.path, "/usr/lib/sysimage/rpm/rpmdb.sqlite");
    assert_eq!(db.packages.len(), 1);
    // A damaged database is an error naming the file, never a panic.
    let f = root.join("usr/lib/sysimage/rpm/rpmdb.sqlite");
    let mut bytes = std::fs::read(&f).expect("read");
    bytes.truncate(200);
    std::fs::write(&f, bytes).expect("write");
    let e = read(&RootFacts::new(&root, SystemTime::now())).expect_err("damaged");
    assert!(
        e.to_string().contains("/usr/lib/sysimage/rpm/rpmdb.sqlite"),
        "{e}"
    );
}

/// Our `rpmvercmp` against rpm's own, through rpm's embedded Lua (`rpm.vercmp`).
#[test]
fn version_order_matches_rpm() {
    if !rpmdb::rpm_tools("version_order_matches_rpm") {
        return;
    }
    let parts = [
        "0",
        "1",
        "01",
        "1.0",
        "1.0.1",
        "1.0a",
        "1.0~rc1",
        "1.0^git1",
        "1.0^",
        "1.0~",
        "a",
        "b",
        "1a",
        "1_0",
        "2.0.1a",
        "5.5p1",
        "5.5p10",
        "10xyz",
        "xyz10",
        "el9",
        "el9_4",
        "1.el9",
        "~~",
        "^^",
        "1.0~rc1^git1",
        "20240202",
        "1.git283706d",
    ];
    let mut pairs = Vec::new();
    for a in parts {
        for b in parts {
            pairs.push((a, b));
        }
    }
    // rpm's Lua `print` appends to the macro's expansion without a separator.
    let lua: String = pairs
        .iter()
        .map(|(a, b)| format!("rpm.vercmp('{a}', '{b}')"))
        .collect::<Vec<_>>()
        .join(", ");
    let lua = format!("print(table.concat({{{lua}}}, ' '))");
    let out = Command::new("rpm")
        .arg("--eval")
        .arg(format!("%{{lua: {lua}}}"))
        .output()
        .expect("rpm --eval");
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Vec<i32> = text
        .split_whitespace()
        .map(|w| w.parse().expect("a number"))
        .collect();
    assert_eq!(got.len(), pairs.len(), "{text}");
    for ((a, b), want) in pairs.iter().zip(got) {
        let ours = vigil_rules::compare::rpmvercmp(a, b) as i32;
        assert_eq!(ours, want.signum(), "rpmvercmp({a:?}, {b:?})");
    }
}
