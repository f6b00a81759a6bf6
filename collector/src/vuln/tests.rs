//! The OSV fixtures of `testdata/vuln/` against hosts of every case, on both backends: which
//! (host, advisory, package) pairs are affected, with which fixed version, since when; imports
//! that refuse a whole set; zips; re-matching one host; the critical-on-server alert.

use std::path::{Path, PathBuf};

use vigil_proto::{Envelope, Finding, Inventory, Package};

use super::load::load;
use super::rematch::{IndexCache, advisory_rows, load_index, rematch_all, rematch_host};
use crate::store::vuln::VulnFilter;
use crate::store::{Agency, NewAgent, SqliteStore, Store};

fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/vuln")
        .join(p)
}

type Pkg<'a> = (&'a str, &'a str, Option<&'a str>);

/// (agent id, OS, OS version, packages).
const HOSTS: &[(&str, &str, &str, &[Pkg<'static>])] = &[
    (
        "deb-srv",
        "Debian GNU/Linux",
        "12",
        &[
            ("libssl3:amd64", "3.0.11-1~deb12u2", Some("openssl")),
            ("libssl3:i386", "3.0.11-1~deb12u2", Some("openssl")),
            ("openssl", "3.0.11-1~deb12u2", None),
            ("libc6", "2.36-9+deb12u4", Some("glibc")),
            ("tzdata", "2024a-0+deb12u1", None),
            ("bash", "5.2.15-2+b7", None),
        ],
    ),
    (
        "deb-ok",
        "Debian GNU/Linux",
        "12",
        &[
            ("libssl3", "3.0.15-1~deb12u1", Some("openssl")),
            ("libc6", "2.36-9+deb12u8", Some("glibc")),
            ("tzdata", "2025b-0+deb12u1", None),
        ],
    ),
    (
        "deb-old-glibc",
        "Debian GNU/Linux",
        "12",
        &[("libc6", "2.36-8", Some("glibc"))],
    ),
    (
        "deb11",
        "Debian GNU/Linux",
        "11",
        &[("libssl1.1", "1.1.1w-0+deb11u1", Some("openssl"))],
    ),
    (
        "ubu-listed",
        "Ubuntu",
        "24.04",
        &[
            ("curl", "8.5.0-2ubuntu10.1", None),
            ("libcurl4t64", "8.5.0-2ubuntu10.1", Some("curl")),
        ],
    ),
    (
        "ubu-fixed",
        "Ubuntu",
        "24.04",
        &[("curl", "8.5.0-2ubuntu10.4", None)],
    ),
    (
        "ubu-2204",
        "Ubuntu",
        "22.04.4 LTS",
        &[("curl", "8.5.0-2ubuntu10.1", None)],
    ),
    (
        "ubu-1804",
        "Ubuntu",
        "18.04",
        &[("curl", "7.58.0-2ubuntu3.24", None)],
    ),
    (
        "rocky-old",
        "Rocky Linux",
        "9.3",
        &[
            ("openssh", "8.7p1-38.el9", None),
            ("openssl", "1:3.0.7-24.el9", None),
        ],
    ),
    (
        "rocky-ok",
        "Rocky Linux",
        "9.4",
        &[
            ("openssh", "8.7p1-38.el9_4.4", None),
            ("openssl", "1:3.0.7-27.el9", None),
        ],
    ),
    (
        "rocky8",
        "Rocky Linux",
        "8.10",
        &[("openssh", "8.0p1-19.el8", None)],
    ),
    ("win", "Windows", "11", &[("openssl", "1.0", None)]),
];

/// (host, advisory, package, fixed) expected after importing debian/, ubuntu/, rocky/.
const EXPECTED: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "deb-srv",
        "DSA-9001-1",
        "libssl3:amd64",
        Some("3.0.15-1~deb12u1"),
    ),
    (
        "deb-srv",
        "DSA-9001-1",
        "libssl3:i386",
        Some("3.0.15-1~deb12u1"),
    ),
    ("deb-srv", "DSA-9001-1", "openssl", Some("3.0.15-1~deb12u1")),
    ("deb-srv", "DSA-9004-1", "libc6", Some("2.36-9+deb12u8")),
    ("deb-srv", "DSA-9004-1", "tzdata", None),
    ("deb11", "DSA-9001-1", "libssl1.1", Some("1.1.1w-0+deb11u2")),
    (
        "rocky-old",
        "RLSA-2026:9003",
        "openssh",
        Some("8.7p1-38.el9_4.4"),
    ),
    (
        "rocky-old",
        "RLSA-2026:9003",
        "openssl",
        Some("1:3.0.7-27.el9"),
    ),
    ("ubu-1804", "USN-9002-1", "curl", None),
    (
        "ubu-listed",
        "USN-9002-1",
        "curl",
        Some("8.5.0-2ubuntu10.4"),
    ),
    (
        "ubu-listed",
        "USN-9002-1",
        "libcurl4t64",
        Some("8.5.0-2ubuntu10.4"),
    ),
];

fn inventory(os: &str, version: &str, pkgs: &[Pkg<'_>]) -> Finding {
    Finding::Inventory(Inventory {
        hostname: "h".into(),
        os: os.into(),
        os_version: version.into(),
        packages: pkgs
            .iter()
            .map(|(n, v, s)| Package {
                name: (*n).into(),
                version: (*v).into(),
                source: s.map(str::to_string),
            })
            .collect(),
        ..Inventory::default()
    })
}

fn ingest(s: &dyn Store, id: &str, seq: u64, f: Finding) {
    let e = Envelope {
        seq,
        observed_at: 1,
        finding: f,
    };
    s.ingest(id, &[e], 1_000_000).expect("ingest");
}

fn seed(s: &dyn Store) {
    s.agency_add(&Agency {
        id: "p".into(),
        name: "P".into(),
        level: 2,
    })
    .expect("agency");
    for (i, (id, os, ver, pkgs)) in HOSTS.iter().enumerate() {
        enroll(s, id, &format!("m{i}"), &format!("{os} {ver}"));
        ingest(s, id, 1, inventory(os, ver, pkgs));
    }
    s.agent_set_profile("deb-srv", Some("server"), None, "test", 1)
        .expect("role");
}

/// Enrolls agent `id` of agency `p`.
fn enroll(s: &dyn Store, id: &str, machine_id: &str, os: &str) {
    s.agent_enroll(
        &NewAgent {
            id: id.into(),
            agency: "p".into(),
            machine_id: machine_id.into(),
            hostname: format!("host-{id}"),
            os: os.into(),
            cert_serial: format!("serial-{id}"),
            cert_not_after: 2_000_000_000,
            agent_version: "0.1.0".into(),
            token_id: "tok".into(),
            simulated: false,
        },
        1,
    )
    .expect("enroll");
}

fn import(s: &dyn Store, dirs: &[&str], now: i64) {
    for d in dirs {
        let advisories = load(&testdata(d)).expect("fixtures load");
        s.vulns()
            .vuln_import(d, &advisory_rows(&advisories), now)
            .expect("import");
    }
    let index = load_index(s).expect("index");
    rematch_all(s, &index, now).expect("rematch");
}

fn all(s: &dyn Store) -> Vec<(String, String, String, Option<String>)> {
    s.vulns()
        .vuln_matches(&VulnFilter::All)
        .expect("matches")
        .into_iter()
        .map(|m| (m.host, m.advisory, m.package, m.fixed))
        .collect()
}

fn owned(v: &[(&str, &str, &str, Option<&str>)]) -> Vec<(String, String, String, Option<String>)> {
    let mut out: Vec<_> = v
        .iter()
        .map(|(h, a, p, f)| {
            (
                h.to_string(),
                a.to_string(),
                p.to_string(),
                f.map(str::to_string),
            )
        })
        .collect();
    out.sort();
    out
}

fn scenario(s: &dyn Store) {
    seed(s);
    import(s, &["debian", "ubuntu", "rocky", "withdrawn"], 1000);
    assert_eq!(
        all(s),
        owned(EXPECTED),
        "affected, fixed and not-affected hosts"
    );

    // Severity and CVE lookups.
    let by_cve = s
        .vulns()
        .vuln_matches(&VulnFilter::Advisory("CVE-2026-10001".into()))
        .expect("by cve");
    let hosts: std::collections::BTreeSet<&str> = by_cve.iter().map(|m| m.host.as_str()).collect();
    assert_eq!(hosts.into_iter().collect::<Vec<_>>(), ["deb-srv", "deb11"]);
    assert!(
        by_cve
            .iter()
            .all(|m| m.severity.as_deref() == Some("critical"))
    );
    assert!(by_cve.iter().all(|m| m.cvss == Some(9.8)));
    assert_eq!(by_cve[0].cves, ["CVE-2026-10001"]);
    let rocky = s
        .vulns()
        .vuln_matches(&VulnFilter::Host("rocky-old".into()))
        .expect("host");
    assert!(
        rocky
            .iter()
            .all(|m| m.severity.as_deref() == Some("high") && m.since == 1000)
    );
    let none = s
        .vulns()
        .vuln_matches(&VulnFilter::Advisory("CVE-2026-10006".into()))
        .expect("withdrawn");
    assert!(none.is_empty(), "a withdrawn advisory matches nothing");

    // The server got one critical alert per affected package; workstations none.
    let alerts: Vec<_> = s
        .alerts(None)
        .expect("alerts")
        .into_iter()
        .filter(|a| a.kind == "critical_vulnerability")
        .collect();
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    assert!(alerts.iter().all(|a| a.agent_id == "deb-srv"));

    // A second full re-match keeps "since".
    let index = load_index(s).expect("index");
    rematch_all(s, &index, 2000).expect("rematch");
    assert_eq!(all(s), owned(EXPECTED));
    let srv = s
        .vulns()
        .vuln_matches(&VulnFilter::Host("deb-srv".into()))
        .expect("host");
    assert!(
        srv.iter().all(|m| m.since == 1000),
        "since survives re-matching"
    );

    // One host patches openssl: re-matching it alone clears those rows only.
    let patched: Vec<Pkg<'_>> = vec![
        ("libssl3:amd64", "3.0.15-1~deb12u1", Some("openssl")),
        ("libssl3:i386", "3.0.15-1~deb12u1", Some("openssl")),
        ("openssl", "3.0.15-1~deb12u1", None),
        ("libc6", "2.36-9+deb12u4", Some("glibc")),
        ("tzdata", "2024a-0+deb12u1", None),
    ];
    ingest(
        s,
        "deb-srv",
        2,
        inventory("Debian GNU/Linux", "12", &patched),
    );
    let cache = IndexCache::default();
    assert_eq!(
        rematch_host(s, &cache, "deb-srv", 3000).expect("one host"),
        2
    );
    let mut want: Vec<_> = EXPECTED
        .iter()
        .filter(|(h, a, _, _)| !(*h == "deb-srv" && *a == "DSA-9001-1"))
        .copied()
        .collect();
    assert_eq!(all(s), owned(&want));

    // A corrected advisory (tzdata fixed at the installed version) clears that row on import.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("DSA-9004-1.json"),
        r#"{"id": "DSA-9004-1", "modified": "2026-03-09T00:00:00Z", "upstream": ["CVE-2026-10004"],
            "affected": [
              {"package": {"ecosystem": "Debian:12", "name": "glibc"},
               "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.36-9"}, {"fixed": "2.36-9+deb12u8"}]}]},
              {"package": {"ecosystem": "Debian:12", "name": "tzdata"},
               "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2024a-0+deb12u1"}]}]}]}"#,
    )
    .expect("write");
    let advisories = load(dir.path()).expect("load");
    s.vulns()
        .vuln_import("fix", &advisory_rows(&advisories), 4000)
        .expect("import");
    rematch_all(s, &load_index(s).expect("index"), 4000).expect("rematch");
    want.retain(|(h, _, p, _)| !(*h == "deb-srv" && *p == "tzdata"));
    assert_eq!(all(s), owned(&want));
    let imports = s.vulns().vuln_imports().expect("imports");
    assert_eq!(
        imports
            .iter()
            .map(|i| (i.version, i.source.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, "debian"),
            (2, "ubuntu"),
            (3, "rocky"),
            (4, "withdrawn"),
            (5, "fix")
        ]
    );
    assert_eq!(imports[0].advisories, 2);
    assert_eq!(imports[4].imported_at, 4000);

    // The running collector's cache follows the new version.
    assert_eq!(rematch_host(s, &cache, "deb-srv", 5000).expect("host"), 1);
}

#[test]
fn fixtures_match_exactly_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = SqliteStore::open(&dir.path().join("v.db")).expect("open");
    scenario(&s);
}

#[test]
fn fixtures_match_exactly_on_postgres() {
    let url = std::env::var("VIGIL_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into());
    if let Err(e) = ::postgres::Client::connect(&url, ::postgres::NoTls) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL not reachable at {url} (CI=true): {e}"
        );
        eprintln!("SKIPPED: PostgreSQL not reachable at {url}: {e}");
        return;
    }
    let schema = format!("vigil_vuln_{:016x}", rand::random::<u64>());
    let result = std::panic::catch_unwind(|| {
        let s = crate::store::PostgresStore::open_with_schema(&url, &schema).expect("open");
        scenario(&s);
    });
    if let Ok(mut c) = ::postgres::Client::connect(&url, ::postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
    }
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn a_malformed_set_is_refused_whole_with_file_and_line() {
    let err = load(&testdata("malformed")).expect_err("refused").0;
    assert_eq!(err.len(), 2, "{err:?}");
    assert!(
        err[0].contains("event.json") && err[0].contains("affected[0].ranges[0].events[0]"),
        "{}",
        err[0]
    );
    assert!(err[1].contains("syntax.json: line 6"), "{}", err[1]);
    let one = load(&testdata("malformed/syntax.json"))
        .expect_err("refused")
        .0;
    assert!(one[0].contains("line 6"), "{one:?}");
    assert!(load(&testdata("nowhere")).is_err());
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(load(empty.path()).expect_err("empty").0[0].contains("no *.json"));
}

#[test]
fn an_osv_dev_zip_is_read_and_a_bad_entry_named() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let write_zip = |name: &str, entries: &[(&str, String)]| {
        let path = dir.path().join(name);
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (n, body) in entries {
            z.start_file(*n, opts).expect("entry");
            z.write_all(body.as_bytes()).expect("write");
        }
        z.finish().expect("finish");
        path
    };
    let read = |p: &str| std::fs::read_to_string(testdata(p)).expect("fixture");
    let good = write_zip(
        "all.zip",
        &[
            ("DSA-9001-1.json", read("debian/DSA-9001-1.json")),
            ("DSA-9004-1.json", read("debian/DSA-9004-1.json")),
        ],
    );
    let got = load(&good).expect("zip");
    assert_eq!(
        got.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["DSA-9001-1", "DSA-9004-1"]
    );
    let bad = write_zip(
        "bad.zip",
        &[
            ("DSA-9001-1.json", read("debian/DSA-9001-1.json")),
            ("DSA-9101-1.json", read("malformed/syntax.json")),
        ],
    );
    let err = load(&bad).expect_err("refused").0;
    assert_eq!(err.len(), 1);
    assert!(
        err[0].contains("bad.zip!DSA-9101-1.json: line 6"),
        "{err:?}"
    );
    let garbage = dir.path().join("garbage.zip");
    std::fs::write(&garbage, b"PK\x03\x04not a zip").expect("write");
    assert!(load(&garbage).expect_err("garbage").0[0].contains("not a readable zip"));
}

/// A Windows host's inventory: the OS, its full build and its installed updates.
fn windows_inventory(build: &str, kbs: &[&str]) -> Finding {
    Finding::Inventory(Inventory {
        hostname: "pc".into(),
        os: "Windows 11 Pro".into(),
        os_version: "23H2".into(),
        build: build.into(),
        hotfixes: kbs.iter().map(|k| k.to_string()).collect(),
        packages: vec![Package {
            name: "7-Zip 23.01 (x64)".into(),
            version: "23.01".into(),
            source: None,
        }],
        ..Inventory::default()
    })
}

#[test]
fn windows_hosts_match_by_build_and_installed_updates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = SqliteStore::open(&dir.path().join("w.db")).expect("open");
    seed(&s);
    // (agent, build, installed updates)
    let pcs: &[(&str, &str, &[&str])] = &[
        ("w-old", "22631.3000", &[]),
        ("w-patched", "22631.3296", &["KB5036001"]),
        // Updated but not yet restarted: the build is old, the fixing update is installed.
        ("w-kb", "22631.3000", &["kb5035853", "KB5036001"]),
        ("w10", "19045.4000", &[]),
        ("w10-ok", "19045.4291", &[]),
        ("w24h2", "26100.1", &[]),
        ("w-garbled", "not-a-build", &[]),
    ];
    for (i, (id, build, kbs)) in pcs.iter().enumerate() {
        enroll(&s, id, &format!("wm{i}"), "Windows 11 Pro");
        ingest(&s, id, 1, windows_inventory(build, kbs));
    }
    import(&s, &["windows"], 1000);
    let got: Vec<_> = all(&s)
        .into_iter()
        .filter(|(h, ..)| h.starts_with('w'))
        .collect();
    assert_eq!(
        got,
        owned(&[
            (
                "w-old",
                "CVE-2026-20001",
                "Windows",
                Some("22631.3296 (KB5035853)")
            ),
            ("w-old", "CVE-2026-20002", "Windows", Some("KB5036001")),
            (
                "w10",
                "CVE-2026-20001",
                "Windows",
                Some("19045.4170 (KB5035845)")
            ),
        ]),
        "by build, by installed update, other builds and garbled builds untouched"
    );
    let w = s
        .vulns()
        .vuln_matches(&VulnFilter::Host("w-old".into()))
        .expect("host");
    assert_eq!(w[0].installed, "22631.3000");
    assert_eq!(w[0].severity.as_deref(), Some("high"));
    assert_eq!(w[1].severity.as_deref(), Some("critical"));
    // The Debian entry of the same advisory still matches Debian hosts only by package name.
    assert!(
        all(&s)
            .iter()
            .all(|(h, a, ..)| a != "CVE-2026-20001" || h.starts_with('w'))
    );

    // The PC installs the update and restarts: re-matching it alone clears its rows.
    ingest(
        &s,
        "w-old",
        2,
        windows_inventory("22631.3447", &["KB5036001"]),
    );
    let cache = IndexCache::default();
    assert_eq!(rematch_host(&s, &cache, "w-old", 2000).expect("host"), 0);
}

#[test]
fn windows_entries_name_the_os_and_a_fix() {
    let err = load(&testdata("malformed-windows")).expect_err("refused").0;
    assert_eq!(err.len(), 4, "{err:?}");
    let text = err.join("\n");
    assert!(
        text.contains("otherbuild.json") && text.contains("not a build of Windows:22631"),
        "{text}"
    );
    assert!(
        text.contains("badkb.json") && text.contains("ecosystem_specific.kb[0]"),
        "{text}"
    );
    assert!(
        text.contains("nofix.json") && text.contains("fixed build"),
        "{text}"
    );
    assert!(
        text.contains("program.json") && text.contains("\"7-Zip\""),
        "{text}"
    );
}
