//! A small synchronous WebDriver client for the console's browser tests: Debian's `chromedriver`
//! driving Debian's `chromium` headless, over plain HTTP on loopback. It speaks just the W3C
//! commands the tests use; a test never downloads a browser.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Proc, free_tcp_port, wait_for};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian installs the browser and its driver (`apt-get install chromium chromium-driver`).
pub fn browser_paths() -> Option<(PathBuf, PathBuf)> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())?;
    let driver = PathBuf::from("/usr/bin/chromedriver");
    driver.exists().then_some((chromium, driver))
}

/// A running chromedriver with one headless Chromium session.
pub struct Browser {
    driver: Proc,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
    /// Where downloads land.
    pub downloads: PathBuf,
}

/// One element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Element {
    /// The driver's id of the element (to pass it to a script as
    /// `{"element-6066-11e4-a52e-4f735466cecf": id}`).
    pub fn id(&self) -> &str {
        &self.0
    }
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a session with a fresh profile.
    pub fn start(base: &Path) -> Self {
        let (chromium, driver_bin) = browser_paths().expect("chromium and chromedriver");
        let port = free_tcp_port();
        let mut cmd = Command::new(driver_bin);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1");
        let driver = Proc::spawn(&mut cmd, base.join("chromedriver.log"));
        wait_for(Duration::from_secs(20), "chromedriver to listen", || {
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = base.join("downloads");
        std::fs::create_dir_all(&downloads).expect("downloads dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            },
        }}});
        let v = request(port, "POST", "/session", Some(&caps)).expect("new session");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        let mut b = Self {
            driver,
            port,
            session,
            _profile: profile,
            downloads,
        };
        // Headless Chromium needs to be told that downloads are allowed, and where.
        let dl = b.downloads.display().to_string();
        if let Err(e) = b.try_cmd(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": "Browser.setDownloadBehavior",
                   "params": {"behavior": "allow", "downloadPath": dl}}),
        ) {
            eprintln!("webdriver: setDownloadBehavior failed ({e}); relying on the profile prefs");
        }
        b
    }

    fn cmd(&mut self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("/session/{}{path}", self.session);
        let body = (method == "POST").then_some(&body);
        match request(self.port, method, &url, body) {
            Ok(v) => v["value"].clone(),
            Err(e) => panic!("webdriver {method} {path}: {e}"),
        }
    }

    fn try_cmd(&mut self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("/session/{}{path}", self.session);
        let body = (method == "POST").then_some(&body);
        request(self.port, method, &url, body).map(|v| v["value"].clone())
    }

    /// Navigates.
    pub fn goto(&mut self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    /// Runs a script and returns its value.
    pub fn exec(&mut self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// The elements matching a CSS selector now.
    pub fn find_all(&mut self, css: &str) -> Vec<Element> {
        let v = self.cmd(
            "POST",
            "/elements",
            json!({"using": "css selector", "value": css}),
        );
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until an element matches `css` and returns the first.
    pub fn wait(&mut self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(e) = self.find_all(css).into_iter().next() {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} after 20 s; page text: {}",
                self.body_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the page's text contains `needle`.
    pub fn wait_text(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.body_text();
            if text.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no text {needle:?} after 20 s; page text: {text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The visible text of the page.
    pub fn body_text(&mut self) -> String {
        self.exec("return document.body.innerText", json!([]))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Visible text of an element.
    pub fn text(&mut self, e: &Element) -> String {
        self.cmd("GET", &format!("/element/{}/text", e.0), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// An attribute of an element.
    pub fn attr(&mut self, e: &Element, name: &str) -> Option<String> {
        self.cmd(
            "GET",
            &format!("/element/{}/attribute/{name}", e.0),
            Value::Null,
        )
        .as_str()
        .map(str::to_owned)
    }

    /// Clicks.
    pub fn click(&mut self, e: &Element) {
        self.cmd("POST", &format!("/element/{}/click", e.0), json!({}));
    }

    /// Clears a field and types into it.
    pub fn type_into(&mut self, e: &Element, text: &str) {
        self.cmd("POST", &format!("/element/{}/clear", e.0), json!({}));
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            json!({ "text": text }),
        );
    }

    /// Accepts a `confirm()` dialog if one is open.
    pub fn accept_dialog(&mut self) {
        let _ = self.try_cmd("POST", "/alert/accept", json!({}));
    }

    /// Saves a PNG screenshot.
    pub fn screenshot(&mut self, path: &Path) {
        use base64::Engine as _;
        let v = self.cmd("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("screenshot base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("artefact dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = format!("/session/{}", self.session);
        let _ = request(self.port, "DELETE", &url, None);
        self.driver.terminate();
    }
}

/// One HTTP/1.1 request to the driver (`Connection: close`, the whole body read).
fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(payload.as_bytes()))
        .map_err(|e| e.to_string())?;
    // The driver may keep the connection open: read the header, then exactly the body.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let header_end = loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the header ended".into());
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..header_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    let length: Option<usize> = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok());
    let mut body = raw[header_end..].to_vec();
    match length {
        Some(len) => {
            while body.len() < len {
                let n = s.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed inside the body".into());
                }
                body.extend_from_slice(&buf[..n]);
            }
            body.truncate(len);
        }
        None => {
            s.read_to_end(&mut body).map_err(|e| e.to_string())?;
        }
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&body)
    } else {
        body
    };
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status >= 400 {
        return Err(format!("HTTP {status}: {v}"));
    }
    Ok(v)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
