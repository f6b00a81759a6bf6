//! Query renderers against the real tools: the filters (`grep`, `sort`, `uniq`, `wc`, `cut`,
//! `tail`, `awk` ranges) and `stat -c` give byte-for-byte what coreutils, GNU grep and awk print
//! for the same input.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use vigil_rules::query::parse;

/// Runs a real pipeline stage over `input` with the C locale.
fn real(argv: &[&str], input: &str) -> String {
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed");
    let out = child.wait_with_output().expect("wait");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Our rendering of `cat FILE | FILTER` where FILE holds `input`.
fn ours(filter: &str, input: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in"), input).expect("write");
    let q = parse(&format!("cat /in | {filter}")).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let facts = vigil_rules::RootFacts::new(dir.path(), SystemTime::now());
    vigil_rules::query_text(&q, &facts).expect("renders")
}

const FILTERS: &[&[&str]] = &[
    &["sort"],
    &["uniq"],
    &["uniq", "-c"],
    &["uniq", "-d"],
    &["uniq", "-dc"],
    &["wc", "-l"],
    &["cut", "-f2", "-d:"],
    &["cut", "-f1", "-d", ":"],
    &["grep", "-c", "a"],
    &["grep", "-v", "^b"],
    &["grep", "-cvE", "^(a|b:)"],
    &["grep", "-E", "a+:|c$"],
    &["grep", "x\\(y\\)*"],
    &["grep", "-i", "[[:upper:]]"],
    &["awk", "/a/,/c/"],
    &["tail", "-1"],
    &["tail", "-n", "3"],
];

fn quote(argv: &[&str]) -> String {
    argv.iter()
        .map(|a| vigil_rules::query::shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    #[test]
    fn filters_print_what_the_tools_print(
        lines in proptest::collection::vec("[abcxyAB:]{0,6}", 0..12),
    ) {
        let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
        // uniq sees sorted input in the pipelines that matter; test both orders.
        for argv in FILTERS {
            let want = real(argv, &input);
            let got = ours(&quote(argv), &input);
            proptest::prop_assert_eq!(&got, &want, "{:?} over {:?}", argv, input);
        }
    }
}

/// The edge inputs random lines reach only by luck: no lines, empty lines, no final newline.
#[test]
fn filters_agree_on_edge_inputs() {
    for input in [
        "",
        "\n",
        "\n\n",
        "a",
        "a\n\n",
        "\na",
        "b:\n\nb:\n",
        "A\na\nA",
    ] {
        for argv in FILTERS {
            assert_eq!(
                ours(&quote(argv), input),
                real(argv, input),
                "{argv:?} over {input:?}"
            );
        }
    }
}

#[test]
fn stat_formats_match_coreutils() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc/sub")).expect("mkdir");
    std::fs::write(root.join("etc/a"), "x").expect("write");
    std::fs::write(root.join("etc/sub/b"), "").expect("write");
    std::os::unix::fs::symlink("a", root.join("etc/link")).expect("link");
    use std::os::unix::fs::PermissionsExt;
    for (p, m) in [("etc/a", 0o4750), ("etc/sub/b", 0o600), ("etc/sub", 0o1777)] {
        std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(m)).expect("chmod");
    }
    let facts = vigil_rules::RootFacts::new(root, SystemTime::now());
    for fmt in ["%n %a %u %g", "%A %s", "%a/%A %F"] {
        for (flag, paths) in [
            ("-Lc", ["/etc/a", "/etc/link", "/etc/sub"]),
            ("-c", ["/etc/a", "/etc/link", "/etc/sub/b"]),
        ] {
            let q = parse(&format!(
                "stat {flag} {} {}",
                quote(&[fmt]),
                paths.join(" ")
            ))
            .expect("parses");
            let got = vigil_rules::query_text(&q, &facts).expect("renders");
            let host: Vec<String> = paths
                .iter()
                .map(|p| root.join(&p[1..]).display().to_string())
                .collect();
            let out = Command::new("stat")
                .arg(flag)
                .arg(fmt)
                .args(&host)
                .env("LC_ALL", "C")
                .output()
                .expect("stat");
            let mut want = String::from_utf8_lossy(&out.stdout).into_owned();
            for (h, p) in host.iter().zip(paths) {
                want = want.replace(h.as_str(), p);
            }
            assert_eq!(got, want, "stat {flag} {fmt:?}");
            // The format glued to its option (`-c%a`), as getopt and SCA policies allow.
            let glued = parse(&format!(
                "stat {} {}",
                quote(&[&format!("{flag}{fmt}")]),
                paths.join(" ")
            ))
            .expect("parses");
            let got = vigil_rules::query_text(&glued, &facts).expect("renders");
            assert_eq!(got, want, "stat {flag}{fmt:?}");
        }
    }
}
