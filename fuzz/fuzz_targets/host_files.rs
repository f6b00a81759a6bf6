//! Host files of an offline image (`vigil-agent check --root IMAGE` reads a tree from anywhere)
//! evaluated by the built-in baseline pack: the input is the contents of these files, split at
//! NUL bytes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vigil_fuzz::{MemFacts, parts};
use vigil_rules::{Level, Pack, builtin_packs, evaluate};

const PATHS: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/login.defs",
    "/etc/ssh/sshd_config",
    "/etc/os-release",
    "/proc/mounts",
    "/etc/fstab",
    "/var/lib/dpkg/status",
    "/etc/pam.d/common-auth",
    "/etc/pam.d/common-password",
    "/etc/sudoers",
    "/etc/sysctl.conf",
    "/proc/sys/net/ipv4/ip_forward",
    "/etc/audit/rules.d/audit.rules",
    "/etc/systemd/timesyncd.conf",
    "/proc/net/tcp",
    "/etc/default/grub",
    "/etc/security/pwquality.conf",
    "/etc/systemd/system/multi-user.target.wants/ssh.service",
];

static PACKS: LazyLock<Vec<Pack>> = LazyLock::new(|| builtin_packs().expect("built-in packs"));

fuzz_target!(|data: &[u8]| {
    let files = parts(data, PATHS.len());
    let host = MemFacts::new(
        PATHS
            .iter()
            .zip(files)
            .map(|(p, c)| (p.to_string(), c.to_vec())),
    );
    for p in PACKS.iter() {
        let _ = evaluate(p, &host, Level::new(3).unwrap_or(Level::MIN));
    }
});
