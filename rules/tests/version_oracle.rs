//! Version order against the package managers themselves: `dpkg --compare-versions` and rpm's
//! `rpm.vercmp` decide a generated corpus of pairs, and [`compare_debian_versions`] /
//! [`compare_rpm_versions`] must agree with every answer.
//!
//! The corpus is deterministic (a fixed-seed generator), mixes independent versions with near
//! neighbours (one character changed, a `~` or a suffix added, leading zeros, epoch 0), so most
//! pairs differ late, where the rules are subtle. The tools run in batches from one shell script
//! (dpkg) or one Lua loop (rpm), so 10,000 pairs take seconds. A machine without the tool skips
//! with a visible message, unless `CI=true`.

use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigil_rules::{compare_debian_versions, compare_rpm_versions};

const PAIRS: usize = 12_000;
const TOOL_BUDGET: Duration = Duration::from_secs(300);

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick(&mut self, set: &[u8]) -> char {
        char::from(set[self.below(set.len())])
    }
}

const DIGITS: &[u8] = b"0123456789";
const DPKG_UP: &[u8] = b"0123456789012345abczABZ.+~";
const DPKG_REV: &[u8] = b"0123456789012345abzAZ.+~";
const RPM_CHARS: &[u8] = b"0123456789012345abczABZ._+~^";

fn word(rng: &mut Rng, first: &[u8], rest: &[u8], max: usize) -> String {
    let mut s = String::new();
    s.push(rng.pick(first));
    for _ in 0..rng.below(max) {
        s.push(rng.pick(rest));
    }
    s
}

fn dpkg_version(rng: &mut Rng) -> String {
    let mut v = String::new();
    if rng.below(5) == 0 {
        v.push_str(&format!("{}:", rng.below(3)));
    }
    v.push_str(&word(rng, DIGITS, DPKG_UP, 7));
    if rng.below(3) != 0 {
        v.push('-');
        v.push_str(&word(rng, DPKG_REV, DPKG_REV, 5));
    }
    v
}

fn rpm_version(rng: &mut Rng) -> String {
    let mut v = String::new();
    if rng.below(5) == 0 {
        v.push_str(&format!("{}:", rng.below(3)));
    }
    v.push_str(&word(rng, DIGITS, RPM_CHARS, 7));
    v.push('-');
    v.push_str(&word(rng, RPM_CHARS, RPM_CHARS, 5));
    v
}

/// A near neighbour of `v`: the interesting pairs differ in one late place. `safe` lists the
/// characters that keep the version valid when inserted after the first one.
fn neighbour(rng: &mut Rng, v: &str, safe: &[u8]) -> String {
    let mut s: Vec<char> = v.chars().collect();
    // Never touch the epoch separator or the first upstream digit.
    let start = s.iter().position(|c| *c == ':').map_or(1, |p| p + 2);
    let at = if s.len() > start {
        start + rng.below(s.len() - start)
    } else {
        s.len()
    };
    match rng.below(6) {
        0 if at < s.len() && s[at] != '-' => s[at] = rng.pick(safe),
        1 => s.insert(at, rng.pick(safe)),
        2 => s.push('~'),
        3 => s.push(rng.pick(safe)),
        4 => {
            if let Some(d) = s.iter().rposition(|c| c.is_ascii_digit()) {
                s.insert(d, '0');
            }
        }
        _ => {
            if !s.contains(&':') {
                s.splice(0..0, "0:".chars());
            }
        }
    }
    s.into_iter().collect()
}

fn corpus(seed: u64, make: fn(&mut Rng) -> String, safe: &[u8]) -> Vec<(String, String)> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(PAIRS);
    while out.len() < PAIRS {
        let a = make(&mut rng);
        let b = if rng.below(3) == 0 {
            make(&mut rng)
        } else {
            neighbour(&mut rng, &a, safe)
        };
        out.push((a, b));
    }
    out
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required when CI=true"
        );
        eprintln!("SKIPPED: {tool} is not installed; the oracle test did not run");
    }
    found
}

fn parse_answer(line: &str) -> Ordering {
    match line.trim() {
        "L" | "-1" => Ordering::Less,
        "E" | "0" => Ordering::Equal,
        "G" | "1" => Ordering::Greater,
        other => panic!("unexpected tool answer {other:?}"),
    }
}

/// Runs `sh` on `script` and returns its output lines.
fn run_shell(script: String) -> std::process::Child {
    let mut child = Command::new("sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let mut stdin = child.stdin.take().expect("stdin");
    std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    child
}

#[test]
fn debian_order_agrees_with_dpkg_on_generated_pairs() {
    if !have("dpkg") {
        return;
    }
    let pairs = corpus(0x5eed_d9c6, dpkg_version, b"0123456789az.+~");
    let started = Instant::now();
    // Two shells in parallel, each one `dpkg` call per pair (two when the first says "not less").
    let children: Vec<_> = pairs
        .chunks(PAIRS.div_ceil(2))
        .map(|chunk| {
            let mut script = String::new();
            for (a, b) in chunk {
                script.push_str(&format!(
                    "if dpkg --compare-versions '{a}' lt '{b}'; then echo L; \
                     elif dpkg --compare-versions '{a}' eq '{b}'; then echo E; else echo G; fi\n"
                ));
            }
            run_shell(script)
        })
        .collect();
    let mut answers = Vec::with_capacity(PAIRS);
    for child in children {
        let out = child.wait_with_output().expect("dpkg batch");
        assert!(out.status.success(), "dpkg batch failed");
        answers.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(parse_answer),
        );
    }
    assert!(
        started.elapsed() < TOOL_BUDGET,
        "dpkg batch took {:?}",
        started.elapsed()
    );
    assert_eq!(answers.len(), pairs.len(), "one answer per pair");
    let mut wrong = Vec::new();
    for ((a, b), want) in pairs.iter().zip(&answers) {
        if compare_debian_versions(a, b) != *want {
            wrong.push(format!("{a} vs {b}: dpkg {want:?}"));
        }
    }
    let equal = answers.iter().filter(|o| o.is_eq()).count();
    assert!(equal > 100, "the corpus has equal pairs ({equal})");
    assert!(
        wrong.is_empty(),
        "{} disagreements: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(20)]
    );
}

#[test]
fn rpm_order_agrees_with_rpm_vercmp_on_generated_pairs() {
    if !have("rpm") {
        return;
    }
    let pairs = corpus(0x5eed_0a9e, rpm_version, b"0123456789az._+~^");
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("pairs");
    let mut text = String::new();
    for (a, b) in &pairs {
        text.push_str(&format!("{a} {b}\n"));
    }
    std::fs::write(&list, text).expect("write pairs");
    let lua = format!(
        "%{{lua: for l in io.lines('{}') do local a, b = l:match('^(%S+) (%S+)$'); \
         print(rpm.vercmp(a, b)) print('\\n') end}}",
        list.display()
    );
    let started = Instant::now();
    let out = Command::new("rpm")
        .arg("--eval")
        .arg(lua)
        .output()
        .expect("rpm");
    assert!(
        out.status.success(),
        "rpm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < TOOL_BUDGET);
    let answers: Vec<Ordering> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_answer)
        .collect();
    assert_eq!(answers.len(), pairs.len(), "one answer per pair");
    let mut wrong = Vec::new();
    for ((a, b), want) in pairs.iter().zip(&answers) {
        if compare_rpm_versions(a, b) != *want {
            wrong.push(format!("{a} vs {b}: rpm {want:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} disagreements: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(20)]
    );
}
