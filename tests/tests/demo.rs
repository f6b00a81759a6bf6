//! `vigil-collector demo --province`, as a newcomer runs it: the real collector binary with its
//! real local agent and a simulated province of real QUIC agents, read through the HTTP API.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_e2e::webdriver::{Browser, browser_paths};
use vigil_e2e::{Proc, bin, bin_dir, free_tcp_port, free_udp_port, wait_for};

/// A debug build on a shared two-core machine takes about 90 s to build the province; the
/// release build the README runs takes far less.
const BUILD_DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn demo_province_ranks_agencies_with_history_and_leaves_no_process_behind() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("demo");
    let http = format!("127.0.0.1:{}", free_tcp_port());
    let mut demo = Proc::spawn(
        Command::new(bin("vigil-collector"))
            .args(["demo", "--province", "--data-dir"])
            .arg(&data)
            .args(["--quic", &format!("127.0.0.1:{}", free_udp_port())])
            .args(["--http", &http])
            .arg("--agent-bin")
            .arg(bin("vigil-agent")),
        tmp.path().join("demo.log"),
    );
    let started = Instant::now();
    wait_for(BUILD_DEADLINE, "the demo's dashboard line", || {
        assert!(demo.alive(), "the demo exited: {}", demo.log_text());
        demo.log_text().contains("Dashboard: ").then_some(())
    });
    eprintln!(
        "demo --province: dashboard after {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let children = children_of(demo.pid());
    assert!(!children.is_empty(), "the real local agent runs beside it");

    let token = api_token(&data);
    // The console's score cache refreshes in the background: ask until the ranking is there.
    let overview = wait_for(Duration::from_secs(60), "a ranking of 8 agencies", || {
        let v = get(&http, "/api/v1/overview", &token);
        let ranked = v["agencies"]
            .as_array()?
            .iter()
            .filter(|a| a["eligible"] == true && a["id"] != "demo")
            .count();
        (ranked >= 8).then_some(v)
    });
    for a in overview["agencies"].as_array().expect("agencies") {
        let id = a["id"].as_str().expect("id");
        if a["eligible"] != true || id == "demo" {
            continue;
        }
        let page = get(
            &http,
            &format!("/api/v1/agencies/{}", id.replace('/', "%2F")),
            &token,
        );
        // One point per day; the oldest, 90 days back, leaves the window as the test runs.
        let trend = page["trend"]["full"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let oldest_ms = trend
            .first()
            .and_then(|p| p[0].as_i64())
            .unwrap_or(i64::MAX);
        let age_days = (vigil_e2e::now_s() * 1000 - oldest_ms) / 86_400_000;
        assert!(
            trend.len() >= 89 && age_days >= 88,
            "{id}: {} daily points, the oldest {age_days} days old",
            trend.len()
        );
        let score = page["agency"]["a"].as_f64().expect("A");
        let lost: f64 = page["breakdown"]
            .as_array()
            .expect("breakdown")
            .iter()
            .filter_map(|c| c["points"].as_f64())
            .sum::<f64>()
            + page["breakdown_rest"].as_f64().unwrap_or(0.0);
        assert!(
            (lost - (100.0 - score)).abs() < 0.2,
            "{id}: the breakdown sums to {lost}, A = {score}"
        );
    }
    // Simulated hosts are marked; the real local agent is not.
    let hosts = get(&http, "/api/v1/hosts", &token)["hosts"]
        .as_array()
        .cloned()
        .expect("hosts");
    let real: Vec<&Value> = hosts.iter().filter(|h| h["simulated"] != true).collect();
    assert_eq!(real.len(), 1, "only the local agent is real: {real:?}");
    assert!(hosts.len() > 200, "{} hosts", hosts.len());
    let alerts = get(&http, "/api/v1/alerts?state=open", &token)["alerts"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(alerts > 0, "today's incidents became alerts");
    province_in_the_browser(&http, &data);

    assert!(
        demo.terminate(),
        "the demo stops on SIGTERM: {}",
        demo.log_text()
    );
    for pid in children {
        let gone = wait_for(
            Duration::from_secs(10),
            "the demo's children to exit",
            || Some(!Path::new(&format!("/proc/{pid}")).exists() || zombie(pid)),
        );
        assert!(gone, "process {pid} outlived the demo");
    }
    let data_dir = data.display().to_string();
    let left: Vec<u32> = all_pids()
        .into_iter()
        .filter(|p| cmdline(*p).contains(&data_dir) && !zombie(*p))
        .collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// The console of the province in headless Chromium: the ranking, an agency and one of its
/// simulated hosts, marked as such. Screenshots (docs/console.md shows them) are kept under
/// `target/<profile>/artefacts/demo/`.
fn province_in_the_browser(http: &str, data: &Path) {
    if browser_paths().is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but chromium/chromedriver are missing (scripts/setup.sh installs them)"
        );
        eprintln!("SKIPPED the province in the browser: install chromium and chromium-driver");
        return;
    }
    let shots = bin_dir().join("artefacts").join("demo");
    let _ = std::fs::remove_dir_all(&shots);
    let password = std::fs::read_to_string(data.join("demo-admin-password")).expect("password");
    let mut b = Browser::start(data.parent().expect("tmp"));
    b.goto(&format!("http://{http}/"));
    let name = b.wait("input[name=name]");
    b.type_into(&name, "admin");
    let pass = b.wait("input[name=password]");
    b.type_into(&pass, password.trim());
    let submit = b.wait("button[type=submit]");
    b.click(&submit);
    b.wait_text("Xếp hạng đơn vị");
    let ranked = b.find_all("[data-test=ranking] tr[data-agency]").len();
    assert!(ranked >= 8, "{ranked} agencies ranked in the console");
    assert!(
        b.find_all("[data-test=ranking] svg.spark").len() >= 8,
        "sparklines"
    );
    b.screenshot(&shots.join("province-overview.png"));

    let link = b.wait("[data-test=ranking] tr[data-agency='demo/so-y-te'] a");
    b.click(&link);
    b.wait_text("Vì sao chưa đạt 100 điểm");
    b.wait("[data-test=hosts] tbody tr [data-test=simulated]");
    b.screenshot(&shots.join("province-agency.png"));

    let host = b.wait("[data-test=hosts] tbody tr a");
    b.click(&host);
    b.wait("[data-test=checks] tbody tr");
    b.wait_text("Máy mô phỏng");
    b.screenshot(&shots.join("province-host.png"));
}

/// Creates an API token for the demo's `admin`.
fn api_token(data: &Path) -> String {
    let out = Command::new(bin("vigil-collector"))
        .args(["api-token", "create", "--user", "admin", "--data-dir"])
        .arg(data)
        .output()
        .expect("api-token create");
    assert!(
        out.status.success(),
        "api-token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `GET path` over plain HTTP/1.0 (the demo's console is plain HTTP on loopback).
fn get(addr: &str, path: &str, token: &str) -> Value {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("response");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{path}: {head}\n{body}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Fields of `/proc/<pid>/stat` after the command name.
fn stat(pid: u32) -> Vec<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').map(str::to_owned).collect())
        .unwrap_or_default()
}

fn zombie(pid: u32) -> bool {
    stat(pid).first().is_some_and(|s| s == "Z")
}

fn children_of(parent: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|p| stat(*p).get(1).and_then(|pp| pp.parse().ok()) == Some(parent))
        .collect()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}
