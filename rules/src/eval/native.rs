//! Evaluation of the kinds that read state other tools show through commands (SELinux, boot
//! entries, processes), of recursive file searches, and of several comparisons on one line.

use vigil_proto::FileType;

use super::{Ctx, Outcome, error, fail, pass, verdict};
use crate::cache::{BootEntry, split_args};
use crate::compare::CmpMode;
use crate::pack::{
    BootCheck, BootSource, FileCheck, LineCompare, Patterns, ProcessCheck, SelinuxCheck,
    SysctlSource, policies,
};

/// A recursive search stops here rather than walk a whole image.
const MAX_WALK_ENTRIES: usize = 100_000;
const MAX_WALK_DEPTH: usize = 32;

impl Ctx<'_, '_> {
    pub(super) fn selinux(&self, s: &SelinuxCheck) -> Outcome {
        let st = match self.cache.selinux() {
            Ok(st) => st,
            Err(e) => return error(e.message()),
        };
        let mut notes = Vec::new();
        if let Some(modes) = &s.mode {
            let want = modes.list();
            let shown: Vec<&str> = want.iter().map(|m| m.as_str()).collect();
            let shown = shown.join("|");
            let runtime = match (s.source, st.runtime) {
                (SysctlSource::Persistent, _) => None,
                (SysctlSource::Runtime, None) => {
                    return error(
                        "SELinux runtime mode unknown: no /sys/fs/selinux (offline tree)",
                    );
                }
                (_, r) => r,
            };
            if let Some(r) = runtime {
                if !want.contains(&r) {
                    return fail(format!(
                        "SELinux is {} at runtime, expected {shown}",
                        r.as_str()
                    ));
                }
                notes.push(format!("SELinux is {} at runtime", r.as_str()));
            }
            if s.source != SysctlSource::Runtime {
                let why = st.boot_note.clone().unwrap_or_else(|| match st.config {
                    Some(_) => "/etc/selinux/config".to_string(),
                    None => "no /etc/selinux/config".to_string(),
                });
                if !want.contains(&st.boot) {
                    return fail(format!(
                        "SELinux will be {} at boot ({why}), expected {shown}",
                        st.boot.as_str()
                    ));
                }
                notes.push(format!("{} at boot ({why})", st.boot.as_str()));
            }
        }
        if let Some(p) = &s.policy {
            let want = policies(p);
            match &st.policy {
                Some(have) if want.contains(have) => notes.push(format!("policy {have}")),
                Some(have) => {
                    return fail(format!(
                        "SELinux policy is {have}, expected {}",
                        want.join("|")
                    ));
                }
                None => return fail("no SELINUXTYPE in /etc/selinux/config"),
            }
        }
        pass(notes.join("; "))
    }

    pub(super) fn boot(&self, b: &BootCheck) -> Outcome {
        let entries: Vec<BootEntry> = match b.source {
            BootSource::Entries => match self.cache.boot_entries() {
                Ok(e) => e.to_vec(),
                Err(e) => return error(e.message()),
            },
            BootSource::Running => match self.cache.text("/proc/cmdline") {
                Ok(t) => vec![BootEntry {
                    file: "/proc/cmdline".into(),
                    options: split_args(&t).join(" "),
                    ..BootEntry::default()
                }],
                Err(e) => return error(e.message()),
            },
        };
        let want = b.value.as_ref().map(|c| self.cmp_text(c));
        let what = match &want {
            Some(w) => format!("{} {w}", b.arg),
            None => b.arg.clone(),
        };
        let mut hits = Vec::new();
        let mut misses = Vec::new();
        for e in &entries {
            let name = if e.id.is_empty() {
                e.file.clone()
            } else {
                e.id.clone()
            };
            let v = e.arg(&b.arg).or_else(|| b.default.clone());
            let ok = match (&v, &b.value) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(v), Some(cmp)) => match self.holds(cmp, v, CmpMode::Auto) {
                    Ok(ok) => ok,
                    Err(e) => return error(e),
                },
            };
            let shown = match &v {
                Some(v) if v.is_empty() => format!("{name}: {}", b.arg),
                Some(v) => format!("{name}: {}={v}", b.arg),
                None => format!("{name}: no {}", b.arg),
            };
            if ok {
                hits.push(shown)
            } else {
                misses.push(shown)
            }
        }
        if b.present {
            verdict(
                misses.is_empty(),
                if misses.is_empty() {
                    format!("every boot entry has {what} ({})", hits.join(", "))
                } else {
                    format!("expected {what}: {}", misses.join(", "))
                },
            )
        } else {
            verdict(
                hits.is_empty(),
                if hits.is_empty() {
                    format!("no boot entry has {what}")
                } else {
                    hits.join(", ")
                },
            )
        }
    }

    pub(super) fn process(&self, p: &ProcessCheck) -> Outcome {
        let pids: Vec<String> = match self.cache.host.list_dir("/proc") {
            Ok(n) => n
                .into_iter()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .collect(),
            Err(e) => return error(format!("/proc: {e}")),
        };
        if pids.is_empty() {
            return error("no processes under /proc (offline tree): running processes unknown");
        }
        let found = pids.iter().find(|pid| {
            let comm = self.cache.host.read(&format!("/proc/{pid}/comm"));
            let comm = comm.map(|c| String::from_utf8_lossy(&c).trim().to_string());
            if comm.as_deref().is_ok_and(|c| c == p.name) {
                return true;
            }
            let argv0 = self
                .cache
                .host
                .read(&format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let first = c.split(|b| *b == 0).next().unwrap_or(&[]).to_vec();
                    String::from_utf8_lossy(&first).into_owned()
                })
                .unwrap_or_default();
            argv0.rsplit('/').next() == Some(p.name.as_str())
        });
        match (found, p.running) {
            (Some(pid), true) => pass(format!("{} runs (pid {pid})", p.name)),
            (Some(pid), false) => fail(format!("{} runs (pid {pid})", p.name)),
            (None, true) => fail(format!("no {} process", p.name)),
            (None, false) => pass(format!("no {} process", p.name)),
        }
    }

    /// The files a `file` check looks at and how to name them in evidence.
    pub(super) fn file_paths(&self, f: &FileCheck) -> Result<(Vec<String>, String), String> {
        if let Some(paths) = &f.path {
            return Ok((self.expand_all(&paths.0)?, paths.0.join(", ")));
        }
        let dirs = f.under.as_ref().map(|u| u.0.clone()).unwrap_or_default();
        let mut out = Vec::new();
        let mut seen = 0;
        for d in &dirs {
            self.walk(d, 0, &mut seen, &mut |path: &str, name: &str| {
                let named = f.name.as_ref().is_none_or(|n| n.all_match(name))
                    && !f.name_unless.as_ref().is_some_and(|n| n.any_match(name));
                if named {
                    out.push(path.to_string());
                }
            })?;
        }
        let mut shown = format!("files under {}", dirs.join(", "));
        if let Some(n) = &f.name {
            shown.push_str(&format!(" named {}", n.shown()));
        }
        Ok((out, shown))
    }

    /// Visits the regular files below `dir` in name order, not following symbolic links.
    fn walk(
        &self,
        dir: &str,
        depth: usize,
        seen: &mut usize,
        each: &mut dyn FnMut(&str, &str),
    ) -> Result<(), String> {
        if depth > MAX_WALK_DEPTH {
            return Err(format!(
                "{dir}: more than {MAX_WALK_DEPTH} directory levels"
            ));
        }
        let mut names = match self.cache.host.list_dir(dir) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("{dir}: {e}")),
        };
        names.sort();
        for n in names {
            *seen += 1;
            if *seen > MAX_WALK_ENTRIES {
                return Err(format!("more than {MAX_WALK_ENTRIES} entries below {dir}"));
            }
            let p = format!("{}/{n}", dir.trim_end_matches('/'));
            match self.cache.host.lstat(&p).map(|s| s.file_type) {
                Ok(FileType::Dir) => self.walk(&p, depth + 1, seen, each)?,
                Ok(FileType::File) => each(&p, &n),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{p}: {e}")),
            }
        }
        Ok(())
    }

    /// Values of the lines of `text` that match every `line` pattern, no `unless` pattern and
    /// every comparison of `compare`: the first capture of the first `line` pattern (or its match),
    /// or the line itself without `line` patterns.
    pub(super) fn line_values(
        &self,
        text: &str,
        line: Option<&Patterns>,
        unless: Option<&Patterns>,
        compare: Option<&Vec<LineCompare>>,
    ) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        'lines: for l in text.lines() {
            if line.is_some_and(|p| !p.all_match(l)) || unless.is_some_and(|u| u.any_match(l)) {
                continue;
            }
            for c in compare.into_iter().flatten() {
                let Some(cap) = c.pattern.0.captures(l) else {
                    continue 'lines;
                };
                let v = cap.get(1).or_else(|| cap.get(0)).map_or("", |m| m.as_str());
                if !self.holds(&c.value, v, CmpMode::Auto)? {
                    continue 'lines;
                }
            }
            let value = match line.and_then(|p| p.0.first()) {
                Some(first) => first
                    .0
                    .captures(l)
                    .and_then(|c| c.get(1).or_else(|| c.get(0)))
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
                None => l.to_string(),
            };
            out.push(value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use vigil_proto::Status;

    use crate::facts::RootFacts;
    use crate::pack::{Level, parse_pack};

    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new() -> Tree {
            let t = Tree(tempfile::tempdir().expect("tempdir"));
            t.write(
                "/etc/os-release",
                "ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.9\"\n",
            );
            t
        }
        fn write(&self, p: &str, text: &str) {
            let f = self.0.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, text).expect("write");
        }
        fn remove(&self, p: &str) {
            std::fs::remove_file(self.0.path().join(p.trim_start_matches('/'))).expect("rm");
        }
        fn status(&self, checks: &str, live: bool) -> (Status, String) {
            let text = format!(
                "id: t\nversion: \"1\"\ntitle: {{vi: t, en: t}}\napplies_to: [{{os: rhel, versions: [\"8\"]}}]\nrules:\n  - id: r\n    title: {{vi: a, en: a}}\n    rationale: {{vi: a, en: a}}\n    remediation: {{vi: a, en: a}}\n    severity: low\n    group: hardening\n    checks:\n{checks}"
            );
            let pack = parse_pack(&text, std::path::Path::new("t.yaml")).expect("pack");
            let facts = RootFacts::new(self.0.path(), SystemTime::now()).with_live(live);
            let r = crate::evaluate(&pack, &facts, Level::MIN).remove(0);
            (r.status, r.evidence)
        }
    }

    #[test]
    fn selinux_runtime_config_and_boot_overrides() {
        let t = Tree::new();
        t.write(
            "/etc/selinux/config",
            "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
        );
        t.write(
            "/boot/loader/entries/a-4.18.0.conf",
            "title R\nlinux /vmlinuz\noptions $kernelopts\n",
        );
        t.write("/boot/grub2/grubenv", "kernelopts=root=/dev/vda1 ro\n");
        let enforcing = "      - {kind: selinux, mode: enforcing, policy: [targeted, mls]}\n";
        // Offline without selinuxfs: the boot configuration decides.
        assert_eq!(t.status(enforcing, false).0, Status::Pass);
        let runtime = "      - {kind: selinux, mode: enforcing, source: runtime}\n";
        assert_eq!(t.status(runtime, false).0, Status::Error);
        // On the running host without selinuxfs SELinux is off.
        assert_eq!(t.status(runtime, true).0, Status::Fail);
        t.write("/sys/fs/selinux/enforce", "0");
        let (st, ev) = t.status(enforcing, false);
        assert_eq!(st, Status::Fail, "{ev}");
        assert!(ev.contains("permissive at runtime"), "{ev}");
        t.write("/sys/fs/selinux/enforce", "1");
        assert_eq!(t.status(enforcing, false).0, Status::Pass);
        // enforcing=0 on a boot entry makes the next boot permissive; selinux=0 disables.
        t.write(
            "/boot/grub2/grubenv",
            "kernelopts=root=/dev/vda1 ro enforcing=0\n",
        );
        let (st, ev) = t.status(enforcing, false);
        assert_eq!(st, Status::Fail);
        assert!(ev.contains("enforcing=0"), "{ev}");
        t.write(
            "/boot/grub2/grubenv",
            "kernelopts=root=/dev/vda1 ro selinux=0\n",
        );
        let not_disabled =
            "      - {kind: selinux, mode: [enforcing, permissive], source: persistent}\n";
        assert_eq!(t.status(not_disabled, false).0, Status::Fail);
        t.write(
            "/etc/selinux/config",
            "SELINUX=permissive\nSELINUXTYPE=minimum\n",
        );
        t.write("/boot/grub2/grubenv", "kernelopts=ro\n");
        assert_eq!(t.status(not_disabled, false).0, Status::Pass);
        let policy = "      - {kind: selinux, policy: targeted}\n";
        assert_eq!(t.status(policy, false).0, Status::Fail);
        t.remove("/etc/selinux/config");
        assert_eq!(t.status(not_disabled, false).0, Status::Fail);
    }

    #[test]
    fn boot_arguments_of_every_entry() {
        let t = Tree::new();
        t.write(
            "/boot/grub2/grubenv",
            "kernelopts=root=/dev/vda1 ro audit=1 audit_backlog_limit=8192\n",
        );
        t.write(
            "/boot/loader/entries/a-4.18.0-513.conf",
            "linux /vmlinuz-513\noptions $kernelopts\n",
        );
        t.write(
            "/boot/loader/entries/a-4.18.0-477.conf",
            "linux /vmlinuz-477\noptions root=/dev/vda1 ro\n",
        );
        let audit = "      - {kind: boot, arg: audit, value: \"== 1\"}\n";
        let (st, ev) = t.status(audit, false);
        assert_eq!(st, Status::Fail);
        assert!(ev.contains("a-4.18.0-477: no audit"), "{ev}");
        t.write(
            "/boot/loader/entries/a-4.18.0-477.conf",
            "linux /vmlinuz-477\noptions root=/dev/vda1 ro audit=1\n",
        );
        assert_eq!(t.status(audit, false).0, Status::Pass);
        let backlog =
            "      - {kind: boot, arg: audit_backlog_limit, value: \">= 8192\", default: 64}\n";
        assert_eq!(
            t.status(backlog, false).0,
            Status::Fail,
            "the 477 entry has the default"
        );
        let no_selinux0 = "      - {kind: boot, arg: selinux, value: \"== 0\", present: false}\n";
        assert_eq!(t.status(no_selinux0, false).0, Status::Pass);
        let running = "      - {kind: boot, arg: audit, source: running}\n";
        assert_eq!(t.status(running, false).0, Status::Error);
        t.write("/proc/cmdline", "BOOT_IMAGE=(hd0)/vmlinuz ro audit=1\n");
        assert_eq!(t.status(running, false).0, Status::Pass);
        // Without BLS entries, grub.cfg's linux lines count.
        for f in ["a-4.18.0-513", "a-4.18.0-477"] {
            t.remove(&format!("/boot/loader/entries/{f}.conf"));
        }
        assert_eq!(t.status(audit, false).0, Status::Error);
        t.write(
            "/boot/grub2/grub.cfg",
            "menuentry 'x' {\n  linux /vmlinuz ro audit=1\n}\n",
        );
        assert_eq!(t.status(audit, false).0, Status::Pass);
    }

    #[test]
    fn processes_files_under_directories_and_several_comparisons() {
        let t = Tree::new();
        let auditd = "      - {kind: process, name: auditd}\n";
        assert_eq!(t.status(auditd, false).0, Status::Error, "offline: unknown");
        t.write("/proc/1/comm", "systemd\n");
        t.write("/proc/812/comm", "auditd\n");
        assert_eq!(t.status(auditd, false).0, Status::Pass);
        t.write("/proc/812/comm", "bash\n");
        t.write("/proc/812/cmdline", "/sbin/auditd\0-n\0");
        assert_eq!(t.status(auditd, false).0, Status::Pass, "argv[0] counts");
        assert_eq!(
            t.status("      - {kind: process, name: crond}\n", false).0,
            Status::Fail
        );

        t.write("/etc/rsyslog.d/a/deep/x.conf", "*.* @@loghost:514\n");
        t.write("/etc/rsyslog.d/b.txt", "*.* @@other\n");
        let search = "      - kind: file\n        under: /etc/rsyslog.d\n        name: '\\.conf$'\n        line: '^\\*\\.\\* @@'\n";
        assert_eq!(t.status(search, false).0, Status::Pass);
        t.write("/etc/rsyslog.d/a/deep/x.conf", "# nothing\n");
        assert_eq!(
            t.status(search, false).0,
            Status::Fail,
            "b.txt is not a .conf"
        );

        t.write(
            "/etc/ssh/sshd_config",
            "LoginGraceTime 0\nLoginGraceTime 90\n",
        );
        let grace = "      - kind: file\n        path: /etc/ssh/sshd_config\n        compare:\n          - {pattern: 'LoginGraceTime\\s+(\\d+)', value: \"<= 60\"}\n          - {pattern: 'LoginGraceTime\\s+(\\d+)', value: \"> 0\"}\n";
        let (st, ev) = t.status(grace, false);
        assert_eq!(st, Status::Fail, "no single line satisfies both: {ev}");
        t.write(
            "/etc/ssh/sshd_config",
            "LoginGraceTime 0\nLoginGraceTime 45\n",
        );
        assert_eq!(t.status(grace, false).0, Status::Pass);
    }

    #[test]
    fn platform_versions_accept_point_releases() {
        let t = Tree::new();
        t.write("/etc/hosts", "x\n");
        assert_eq!(
            t.status("      - {kind: file, path: /etc/hosts}\n", false)
                .0,
            Status::Pass
        );
        t.write(
            "/etc/os-release",
            "ID=rocky\nID_LIKE=\"rhel\"\nVERSION_ID=\"80.1\"\n",
        );
        assert_eq!(
            t.status("      - {kind: file, path: /etc/hosts}\n", false)
                .0,
            Status::NotApplicable
        );
        t.remove("/etc/os-release");
        t.write(
            "/etc/redhat-release",
            "Rocky Linux release 8.9 (Green Obsidian)\n",
        );
        assert_eq!(
            t.status("      - {kind: file, path: /etc/hosts}\n", false)
                .0,
            Status::Pass
        );
    }
}
