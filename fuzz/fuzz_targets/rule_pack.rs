//! A rule pack parsed and evaluated over a small in-memory host (no real file is read).
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vigil_fuzz::MemFacts;
use vigil_rules::{Level, evaluate, parse_pack};

static HOST: LazyLock<MemFacts> = LazyLock::new(|| {
    let f = |p: &str, c: &str| (p.to_string(), c.as_bytes().to_vec());
    MemFacts::new([
        f(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nu:x:1000:1000::/home/u:/bin/sh\n",
        ),
        f(
            "/etc/shadow",
            "root:!:19000:0:99999:7:::\nu:$y$j9T$a$b:19000:1:90:7:::\n",
        ),
        f("/etc/group", "root:x:0:\nsudo:x:27:u\n"),
        f(
            "/etc/login.defs",
            "PASS_MAX_DAYS 90\nPASS_MIN_DAYS 1\nUMASK 027\n",
        ),
        f(
            "/etc/ssh/sshd_config",
            "PermitRootLogin no\nMaxAuthTries 4\nInclude /etc/ssh/sshd_config.d/*.conf\n",
        ),
        f("/etc/ssh/sshd_config.d/a.conf", "X11Forwarding no\n"),
        f("/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
        f("/etc/debian_version", "12.5\n"),
        f("/proc/sys/net/ipv4/ip_forward", "0\n"),
        f(
            "/proc/mounts",
            "/dev/sda1 / ext4 rw,relatime 0 0\ntmpfs /tmp tmpfs rw,nosuid,nodev,noexec 0 0\n",
        ),
        f("/etc/fstab", "UUID=x / ext4 defaults 0 1\n"),
        f(
            "/var/lib/dpkg/status",
            "Package: openssh-server\nStatus: install ok installed\nVersion: 1:9.2p1-2\n\n",
        ),
        f(
            "/etc/pam.d/common-auth",
            "auth required pam_faillock.so deny=5\n",
        ),
        f(
            "/etc/systemd/system/multi-user.target.wants/ssh.service",
            "[Unit]\n",
        ),
        f(
            "/proc/net/tcp",
            "  sl  local_address rem_address   st\n   0: 00000000:0016 00000000:0000 0A 0 0 0 0 0 0 0 0 1 0\n",
        ),
        f("!command", "enabled\nmaxauthtries 4\n"),
    ])
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pack) = parse_pack(text, Path::new("fuzz.yaml")) {
        for level in [Level::MIN, Level::new(5).unwrap_or(Level::MIN)] {
            let _ = evaluate(&pack, &*HOST, level);
        }
    }
});
