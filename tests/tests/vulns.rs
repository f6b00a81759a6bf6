//! Vulnerable packages end to end (issue 23): a real agent reports this machine's dpkg database,
//! advisories written for packages it really has are imported with `vuln import`, and the
//! collector lists the host under the advisory's CVE — through the ingest path (advisory first,
//! then the agent's inventory) within 10 s, and through the import path (inventory first). An
//! advisory corrected to a fixed version at or below the installed one clears the host.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigil_e2e::{Agent, Collector, code, stderr, wait_for};

/// The OSV ecosystem of an inventory's OS, for the releases the matcher knows.
fn ecosystem(inv: &Value) -> Option<String> {
    let (os, ver) = (inv["os"].as_str()?, inv["os_version"].as_str()?);
    if os.starts_with("Debian") {
        Some(format!("Debian:{}", ver.split('.').next()?))
    } else if os.starts_with("Ubuntu") {
        Some(format!("Ubuntu:{}:LTS", ver.get(..5)?))
    } else {
        None
    }
}

fn advisory(dir: &Path, id: &str, cve: &str, eco: &str, package: &str, fixed: &str) -> String {
    let doc = json!({
        "id": id,
        "modified": "2026-12-01T00:00:00Z",
        "aliases": [cve],
        "summary": format!("{package}: test advisory"),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{
            "package": {"ecosystem": eco, "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]
        }]
    });
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, doc.to_string()).expect("write advisory");
    path.to_str().expect("utf8").to_owned()
}

fn affected(c: &Collector, cve: &str) -> Vec<Value> {
    let v: Value =
        serde_json::from_str(&c.ok(&["query", "vulns", "--cve", cve, "--json"])).expect("json");
    v["vulns"].as_array().cloned().unwrap_or_default()
}

fn installed(inv: &Value, name: &str) -> Option<(String, Option<String>)> {
    inv["packages"].as_array()?.iter().find_map(|p| {
        (p["name"] == name).then(|| {
            (
                p["version"].as_str().unwrap_or_default().to_owned(),
                p["source"].as_str().map(str::to_owned),
            )
        })
    })
}

#[test]
fn a_real_inventory_is_listed_under_an_advisory_and_cleared_by_its_fix() {
    if !Path::new("/var/lib/dpkg/status").exists() {
        eprintln!("SKIPPED: no dpkg database on this machine");
        return;
    }
    let mut c = Collector::init();
    // This machine's release, as the agent will report it (sysinfo reads os-release).
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |k: &str| {
        os_release.lines().find_map(|l| {
            l.strip_prefix(&format!("{k}="))
                .map(|v| v.trim_matches('"').to_owned())
        })
    };
    let probe = json!({"os": field("NAME"), "os_version": field("VERSION_ID")});
    let Some(eco) = ecosystem(&probe) else {
        eprintln!("SKIPPED: this machine is neither Debian nor Ubuntu ({probe})");
        return;
    };
    let dir = c.tmp.path().join("advisories");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let dpkg_version = String::from_utf8(
        std::process::Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", "dpkg"])
            .output()
            .expect("dpkg-query")
            .stdout,
    )
    .expect("utf8");
    // Ingest path: the advisory is there before the host reports.
    let a1 = advisory(
        &dir,
        "VIGIL-E2E-1",
        "CVE-2099-0001",
        &eco,
        "dpkg",
        &format!("{dpkg_version}+vigil1"),
    );
    let out = c.ok(&["vuln", "import", &a1]);
    assert!(out.contains("imported 1 advisories"), "{out}");
    c.start();
    let mut a = Agent::new(c.tmp.path(), "vulnhost", "");
    a.enroll(&c.token(&[]), "m-vuln");
    let started = Instant::now();
    a.start();
    let rows = wait_for(
        Duration::from_secs(10),
        "the host listed under CVE-2099-0001",
        || {
            let r = affected(&c, "CVE-2099-0001");
            (!r.is_empty()).then_some(r)
        },
    );
    eprintln!("listed {:?} after the agent started", started.elapsed());
    // dpkg itself, and the binaries built from the dpkg source (libdpkg-perl, dpkg-dev, …).
    let row = rows
        .iter()
        .find(|r| r["package"] == "dpkg")
        .expect("dpkg listed");
    assert!(rows.iter().all(|r| r["host"] == a.id.as_str()), "{rows:?}");
    assert_eq!(row["installed"], dpkg_version.as_str());
    assert_eq!(row["severity"], "critical");

    // Import path: an advisory naming the source package of libc6 (glibc), after the inventory.
    let host = c
        .hosts()
        .into_iter()
        .find(|h| h["id"] == a.id.as_str())
        .expect("host");
    let inv = &host["inventory"];
    let (pkg, (version, source)) = ["libc6", "bash", "coreutils"]
        .iter()
        .find_map(|n| installed(inv, n).map(|v| (*n, v)))
        .expect("a base package");
    let named = source.clone().unwrap_or_else(|| pkg.to_owned());
    let a2 = advisory(
        &dir,
        "VIGIL-E2E-2",
        "CVE-2099-0002",
        &eco,
        &named,
        &format!("{version}.1"),
    );
    c.ok(&["vuln", "import", &a2]);
    let rows = affected(&c, "CVE-2099-0002");
    let row = rows
        .iter()
        .find(|r| r["package"] == pkg)
        .unwrap_or_else(|| panic!("listed at once by the import's re-match: {rows:?}"));
    assert_eq!(
        row["fixed"],
        format!("{version}.1"),
        "{named} names the installed {pkg}"
    );

    // The corrected advisory (fixed at the installed version) clears the host.
    let fixed = advisory(
        &dir,
        "VIGIL-E2E-1",
        "CVE-2099-0001",
        &eco,
        "dpkg",
        &dpkg_version,
    );
    c.ok(&["vuln", "import", &fixed]);
    assert!(
        affected(&c, "CVE-2099-0001").is_empty(),
        "cleared by the fix"
    );
    assert!(
        !affected(&c, "CVE-2099-0002").is_empty(),
        "the other advisory stays"
    );

    // A malformed advisory is refused whole, with its file and line; nothing changes.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\n  \"id\": \"X\",\n  \"affected\": [,]\n}\n").expect("write");
    let out = vigil_e2e::run(
        &mut c.cmd(&["vuln", "import", dir.to_str().expect("utf8")]),
        Duration::from_secs(20),
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad.json: line 3"),
        "{}",
        stderr(&out)
    );
    let list: Value = serde_json::from_str(&c.ok(&["vuln", "list", "--json"])).expect("json");
    assert_eq!(list["imports"].as_array().map(Vec::len), Some(3), "{list}");
}
