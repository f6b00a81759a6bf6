//! Golden outputs of every query renderer on a small tree. The forms follow the real tools;
//! `rules/tests/query.rs` checks the filters and `stat` against coreutils and grep themselves.

use std::time::SystemTime;

use super::render;
use crate::cache::Cache;
use crate::facts::RootFacts;
use crate::query::parse;

struct Tree(tempfile::TempDir);

impl Tree {
    fn new() -> Tree {
        let t = Tree(tempfile::tempdir().expect("tempdir"));
        t.write(
            "/etc/os-release",
            "ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n",
        );
        t.write(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1000:1001::/home/bob:/bin/bash\n",
        );
        t.write(
            "/etc/shadow",
            "root:$6$salt$hash:19800:0:99999:7:::\nalice:!!:19800:1:90:7:45::\nbob::19800::::::\n",
        );
        t.write("/etc/group", "root:x:0:\nwheel:x:10:\nalice:x:1000:\n");
        t
    }
    fn path(&self, p: &str) -> std::path::PathBuf {
        self.0.path().join(p.trim_start_matches('/'))
    }
    fn write(&self, p: &str, text: &str) {
        let f = self.path(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(f, text).expect("write");
    }
    fn render(&self, q: &str, live: bool) -> Result<String, String> {
        let facts = RootFacts::new(self.0.path(), SystemTime::now()).with_live(live);
        let cache = Cache::new(&facts);
        render(&cache, &parse(q).expect("query parses"))
    }
    fn out(&self, q: &str) -> String {
        self.render(q, false).unwrap_or_else(|e| panic!("{q}: {e}"))
    }
}

#[test]
fn systemd_selinux_sysctl_and_boot() {
    let t = Tree::new();
    t.write(
        "/usr/lib/systemd/system/cups.service",
        "[Unit]\n[Install]\nWantedBy=multi-user.target\n",
    );
    t.write(
        "/usr/lib/systemd/system/auditd.service",
        "[Unit]\n[Install]\nWantedBy=multi-user.target\n",
    );
    t.write(
        "/usr/lib/systemd/system/systemd-journald.service",
        "[Unit]\n[Service]\n",
    );
    t.write(
        "/usr/lib/systemd/system/getty@.service",
        "[Install]\nWantedBy=getty.target\n",
    );
    std::fs::create_dir_all(t.path("/etc/systemd/system/multi-user.target.wants")).expect("mkdir");
    std::os::unix::fs::symlink(
        "/usr/lib/systemd/system/auditd.service",
        t.path("/etc/systemd/system/multi-user.target.wants/auditd.service"),
    )
    .expect("link");
    std::os::unix::fs::symlink("/dev/null", t.path("/etc/systemd/system/rsh.socket"))
        .expect("mask");
    assert_eq!(
        t.out("systemctl is-enabled cups auditd systemd-journald rsh.socket nope.service getty@.service"),
        "disabled\nenabled\nstatic\nmasked\nFailed to get unit file state for nope.service: No such file or directory\nindirect\n"
    );
    assert!(
        t.render("systemctl is-active auditd", false).is_err(),
        "offline: unknown"
    );
    t.write(
        "/sys/fs/cgroup/system.slice/auditd.service/cgroup.procs",
        "812\n",
    );
    assert_eq!(
        t.out("systemctl is-active auditd cups"),
        "active\ninactive\n"
    );
    assert_eq!(
        t.out("systemctl show auditd | grep -c '^ActiveState=active'"),
        "1\n"
    );
    t.write(
        "/usr/lib/systemd/system/cups.service",
        "[Unit]\nDescription=CUPS Scheduler\n[Install]\nWantedBy=multi-user.target\n",
    );
    assert_eq!(
        t.out("systemctl status auditd cups rsh.socket nope"),
        "\u{25cf} auditd.service - auditd.service\n     \
         Loaded: loaded (/usr/lib/systemd/system/auditd.service; enabled)\n     \
         Active: active (running)\n\n\
         \u{25cb} cups.service - CUPS Scheduler\n     \
         Loaded: loaded (/usr/lib/systemd/system/cups.service; disabled)\n     \
         Active: inactive (dead)\n\n\
         \u{25cb} rsh.socket\n     Loaded: masked (Reason: Unit rsh.socket is masked.)\n     \
         Active: inactive (dead)\n\n\
         Unit nope.service could not be found.\n"
    );

    assert!(t.render("getenforce", false).is_err());
    t.write("/sys/fs/selinux/enforce", "1\n");
    t.write(
        "/etc/selinux/config",
        "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
    );
    assert_eq!(t.out("getenforce"), "Enforcing\n");
    let s = t.out("sestatus");
    assert!(
        s.starts_with("SELinux status:                 enabled\n"),
        "{s}"
    );
    assert!(
        s.contains("\nLoaded policy name:             targeted\n"),
        "{s}"
    );
    assert!(
        s.contains("\nCurrent mode:                   enforcing\n"),
        "{s}"
    );
    assert!(
        s.contains("\nMode from config file:          enforcing\n"),
        "{s}"
    );

    assert!(
        t.render("sysctl net.ipv4.ip_forward", false).is_err(),
        "no /proc/sys offline"
    );
    t.write("/proc/sys/net/ipv4/ip_forward", "0\n");
    t.write("/proc/sys/net/ipv4/ip_local_port_range", "32768\t60999\n");
    assert_eq!(
        t.out("sysctl net.ipv4.ip_forward net.ipv4.ip_local_port_range net.ipv4.nope"),
        "net.ipv4.ip_forward = 0\nnet.ipv4.ip_local_port_range = 32768\t60999\nsysctl: cannot stat /proc/sys/net/ipv4/nope: No such file or directory\n"
    );

    t.write(
        "/boot/grub2/grubenv",
        "kernelopts=root=/dev/mapper/rl-root ro audit=1\n",
    );
    t.write(
        "/boot/loader/entries/m-5.14.0-427.el9.x86_64.conf",
        "title Rocky Linux (5.14.0-427.el9.x86_64)\nlinux /vmlinuz-5.14.0-427.el9.x86_64\ninitrd /initramfs-5.14.0-427.el9.x86_64.img $tuned_initrd\noptions $kernelopts audit_backlog_limit=8192\n",
    );
    assert_eq!(
        t.out("grubby --info=ALL"),
        "index=0\nkernel=\"/boot/vmlinuz-5.14.0-427.el9.x86_64\"\nargs=\"ro audit=1 audit_backlog_limit=8192\"\nroot=\"/dev/mapper/rl-root\"\ninitrd=\"/boot/initramfs-5.14.0-427.el9.x86_64.img\"\ntitle=\"Rocky Linux (5.14.0-427.el9.x86_64)\"\nid=\"m-5.14.0-427.el9.x86_64\"\n"
    );
}

#[test]
fn modules_mounts_authselect_and_firewall() {
    let t = Tree::new();
    t.write(
        "/etc/modprobe.d/vigil.conf",
        "install cramfs /bin/false\nblacklist cramfs\n",
    );
    t.write("/lib/modules/5.14.0-427.el9.x86_64/modules.dep", "kernel/fs/udf/udf.ko.xz: kernel/lib/crc-itu-t.ko.xz\nkernel/fs/fat/vfat.ko.xz: kernel/fs/fat/fat.ko.xz\n");
    t.write(
        "/lib/modules/5.14.0-427.el9.x86_64/modules.builtin",
        "kernel/fs/ext4/ext4.ko\n",
    );
    assert_eq!(t.out("modprobe -n -v cramfs"), "install /bin/false \n");
    assert_eq!(
        t.out("modprobe -n -v udf"),
        "insmod /lib/modules/5.14.0-427.el9.x86_64/kernel/lib/crc-itu-t.ko.xz \ninsmod /lib/modules/5.14.0-427.el9.x86_64/kernel/fs/udf/udf.ko.xz \n"
    );
    assert_eq!(t.out("modprobe -n -v ext4"), "builtin ext4\n");
    assert_eq!(
        t.out("modprobe -n -v squashfs"),
        "modprobe: FATAL: Module squashfs not found in directory /lib/modules/5.14.0-427.el9.x86_64\n"
    );
    assert!(t.render("lsmod", false).is_err());
    t.write(
        "/proc/modules",
        "udf 139264 0 - Live 0x0000000000000000\ncrc_itu_t 12288 1 udf, Live 0x0\n",
    );
    assert_eq!(
        t.out("lsmod"),
        "Module                  Size  Used by\nudf                   139264  0\ncrc_itu_t              12288  1 udf\n"
    );
    t.write(
        "/proc/mounts",
        "/dev/vda1 / xfs rw,relatime 0 0\ntmpfs /tmp tmpfs rw,nosuid,nodev,noexec 0 0\n",
    );
    assert_eq!(
        t.out("findmnt --kernel /tmp"),
        "TARGET SOURCE FSTYPE OPTIONS\n/tmp   tmpfs  tmpfs  rw,nosuid,nodev,noexec\n"
    );
    assert_eq!(
        t.out("findmnt -kn /tmp"),
        "/tmp tmpfs tmpfs rw,nosuid,nodev,noexec\n"
    );
    assert_eq!(t.out("findmnt -n /var"), "");
    assert_eq!(
        t.out("mount"),
        "/dev/vda1 on / type xfs (rw,relatime)\ntmpfs on /tmp type tmpfs (rw,nosuid,nodev,noexec)\n"
    );
    assert_eq!(
        t.out("mount | grep -E '\\s/tmp\\s'"),
        "tmpfs on /tmp type tmpfs (rw,nosuid,nodev,noexec)\n"
    );
    assert_eq!(
        t.out("authselect current"),
        "No existing configuration detected.\n"
    );
    t.write(
        "/etc/authselect/authselect.conf",
        "custom/hardened\nwith-faillock\nwith-pwhistory\n",
    );
    assert_eq!(
        t.out("authselect current"),
        "Profile ID: custom/hardened\nEnabled features:\n- with-faillock\n- with-pwhistory\n"
    );
    t.write(
        "/etc/authselect/custom/hardened/README",
        "Hardened local profile\n",
    );
    assert!(t.out("authselect list").contains("- custom/hardened"));
    t.write(
        "/usr/lib/systemd/system/firewalld.service",
        "[Install]\nWantedBy=multi-user.target\n",
    );
    t.write(
        "/sys/fs/cgroup/system.slice/sshd.service/cgroup.procs",
        "1\n",
    );
    assert_eq!(t.out("firewall-cmd --state"), "not running\n");
}

#[test]
fn files_accounts_and_pipelines() {
    let t = Tree::new();
    t.write("/etc/motd", "");
    t.write("/etc/default/useradd", "GROUP=100\nINACTIVE=30\n");
    assert_eq!(
        t.out("useradd -D"),
        "GROUP=100\nHOME=/home\nINACTIVE=30\nEXPIRE=\nSHELL=/bin/sh\nSKEL=/etc/skel\nCREATE_MAIL_SPOOL=no\n"
    );
    assert_eq!(
        t.out("passwd -S root"),
        "root PS 2024-03-18 0 99999 7 -1 (Password set, SHA512 crypt.)\n"
    );
    assert_eq!(
        t.out("passwd -S alice"),
        "alice LK 2024-03-18 1 90 7 45 (Password locked.)\n"
    );
    assert_eq!(
        t.out("passwd -S bob"),
        "bob NP 2024-03-18 -1 -1 -1 -1 (Empty password.)\n"
    );
    let st = t.out("stat -Lc '%n %a %A %U %G' /etc/motd /etc/nope");
    let mode = std::fs::metadata(t.path("/etc/motd")).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o7777
    });
    let mode = mode.expect("mode");
    assert!(st.starts_with(&format!("/etc/motd {mode:o} -")), "{st}");
    assert!(
        st.ends_with("stat: cannot statx '/etc/nope': No such file or directory\n"),
        "{st}"
    );
    assert!(
        t.out("stat /etc/motd")
            .contains(&format!("Access: ({mode:04o}/-"))
    );
    std::fs::create_dir_all(t.path("/usr/sbin")).expect("mkdir");
    std::os::unix::fs::symlink("../bin/kmod", t.path("/usr/sbin/lsmod")).expect("link");
    assert!(
        t.out("ls -l /usr/sbin/lsmod")
            .trim_end()
            .ends_with("/usr/sbin/lsmod -> ../bin/kmod")
    );
    t.write("/usr/bin/kmod", "#!");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            t.path("/usr/bin/kmod"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
    }
    assert_eq!(t.out("which kmod nonexistent"), "/usr/bin/kmod\n");
    assert_eq!(
        t.out("cut -f3 -d: /etc/passwd | sort | uniq -dc | wc -l"),
        "1\n"
    );
    assert_eq!(t.out("cut -f1 -d: /etc/passwd | sort | uniq -d"), "");
    assert_eq!(
        t.out("cut -f3 -d: /etc/passwd | sort | uniq -dc"),
        "      2 1000\n"
    );
    t.write("/etc/profile.d/a.sh", "TMOUT=900\n");
    t.write("/etc/profile.d/b.sh", "export TMOUT\n");
    assert_eq!(
        t.out("cat /etc/profile.d/*.sh /etc/nope"),
        "TMOUT=900\nexport TMOUT\ncat: /etc/nope: No such file or directory\n"
    );
    t.write("/etc/yum.repos.d/a.repo", "[a]\ngpgcheck=1\n");
    t.write("/etc/yum.repos.d/sub/b.repo", "[b]\ngpgcheck=0\n");
    assert_eq!(
        t.out("grep -Rh ^gpgcheck /etc/yum.repos.d/"),
        "gpgcheck=1\ngpgcheck=0\n"
    );
    assert_eq!(
        t.out("grep -R 'gpgcheck=0' /etc/yum.repos.d"),
        "/etc/yum.repos.d/sub/b.repo:gpgcheck=0\n"
    );
    t.write("/etc/audit/auditd.conf", "x\n");
    t.write("/etc/audit/rules.d/a.rules", "x\n");
    t.write("/etc/audit/rules.d/notes.txt", "x\n");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            t.path("/etc/audit/rules.d/a.rules"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        std::fs::set_permissions(
            t.path("/etc/audit/auditd.conf"),
            std::fs::Permissions::from_mode(0o640),
        )
        .expect("chmod");
    }
    assert_eq!(
        t.out("find /etc/audit/ -type f '(' -name '*.conf' -o -name '*.rules' ')' -exec stat -Lc '%n %a' '{}' +"),
        "/etc/audit/auditd.conf 640\n/etc/audit/rules.d/a.rules 644\n"
    );
    assert_eq!(
        t.out("find /etc/audit/ -type f '(' -name '*.conf' -o -name '*.rules' ')' -exec stat -Lc %a '{}' + | grep -cvE '^(000|040|200|400|600|240|440|640)'"),
        "1\n"
    );
    assert_eq!(t.out("find /etc/audit -type f -perm /o+w"), "");
    t.write(
        "/tmp/nft",
        "table inet filter {\n  chain input {\n    type filter hook input priority 0;\n    iif \"lo\" accept\n  }\n  chain output {\n  }\n}\n",
    );
    assert_eq!(
        t.out("cat /tmp/nft | awk '/hook input/,/}/'"),
        "    type filter hook input priority 0;\n    iif \"lo\" accept\n  }\n"
    );
}

#[test]
fn packages_from_dpkg() {
    let t = Tree::new();
    t.write(
        "/var/lib/dpkg/status",
        "Package: nftables\nStatus: install ok installed\nVersion: 1.0.6-2+deb12u2\n\n",
    );
    assert_eq!(
        t.out("dpkg -s nftables iptables"),
        "Package: nftables\nStatus: install ok installed\nVersion: 1.0.6-2+deb12u2\n\ndpkg-query: package 'iptables' is not installed and no information is available\nUse dpkg --info (= dpkg-deb --info) to examine archive files.\n"
    );
    assert_eq!(
        t.out("dpkg-query -W '-f=${binary:Package}\\t${Status}\\t${db:Status-Status}\\n' nftables iptables"),
        "dpkg-query: no packages found matching iptables\nnftables\tinstall ok installed\tinstalled\n"
    );
    // SCA passes the single quotes and backslash-escaped letters of its rule to dpkg-query as
    // they are: no separators, and every package on one line.
    t.write(
        "/var/lib/dpkg/status",
        "Package: nftables\nStatus: install ok installed\nVersion: 1.0.6\n\nPackage: iptables\nStatus: install ok installed\nVersion: 1.8.9\n\n",
    );
    assert_eq!(
        t.out("dpkg-query -W '-f='\\''${binary:Package}t${Status}n'\\''' nftables iptables ufw"),
        "dpkg-query: no packages found matching ufw\n'nftablestinstall ok installedn''iptablestinstall ok installedn'"
    );
    assert!(t.render("rpm -q aide", false).is_err(), "no rpm database");
}

#[test]
fn ps_lists_labels() {
    let t = Tree::new();
    assert!(t.render("ps -eZ", false).is_err(), "offline: unknown");
    t.write("/proc/1/comm", "systemd\n");
    t.write("/proc/1/attr/current", "system_u:system_r:init_t:s0\0");
    t.write("/proc/812/comm", "java\n");
    t.write(
        "/proc/812/attr/current",
        "system_u:system_r:unconfined_service_t:s0",
    );
    t.write("/proc/net/tcp", "");
    let out = t.out("ps -eZ");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["LABEL", "PID", "TTY", "TIME", "CMD"],
            vec!["system_u:system_r:init_t:s0", "1", "?", "-", "systemd"],
            vec![
                "system_u:system_r:unconfined_service_t:s0",
                "812",
                "?",
                "-",
                "java"
            ],
        ]
    );
    assert!(parse("ps -ef").is_err());
}

#[test]
fn ss_lists_listening_sockets() {
    let t = Tree::new();
    assert!(
        t.render("ss -lntu", false).is_err(),
        "no /proc/net: unknown"
    );
    let head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    t.write(
        "/proc/net/tcp",
        &format!(
            "{head}   0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n   1: 0A00020F:0016 0A000201:D431 01 00000000:00000000 00:00000000 00000000     0        0 2\n"
        ),
    );
    t.write(
        "/proc/net/tcp6",
        &format!(
            "{head}   0: 00000000000000000000000001000000:0019 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3\n"
        ),
    );
    t.write(
        "/proc/net/udp",
        &format!(
            "{head}   0: 00000000:0143 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4\n"
        ),
    );
    let all = t.out("ss -lntu");
    let rows: Vec<Vec<&str>> = all
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["tcp", "LISTEN", "0", "0", "127.0.0.1:25", "0.0.0.0:*"],
            ["tcp", "LISTEN", "0", "0", "[::1]:25", "[::]:*"],
            ["udp", "UNCONN", "0", "0", "0.0.0.0:323", "0.0.0.0:*"],
        ],
        "{all}"
    );
    assert!(all.starts_with("Netid State  Recv-Q Send-Q"), "{all}");
    let net = t.out("netstat -an");
    let rows: Vec<Vec<&str>> = net
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["tcp", "0", "0", "127.0.0.1:25", "0.0.0.0:*", "LISTEN"],
            vec!["tcp6", "0", "0", "::1:25", ":::*", "LISTEN"],
            vec!["udp", "0", "0", "0.0.0.0:323", "0.0.0.0:*"],
        ],
        "{net}"
    );
    assert!(net.contains("\nProto Recv-Q Send-Q Local Address"), "{net}");
    assert!(parse("netstat -anp").is_err());
    assert_eq!(t.out("ss -l -n -t").lines().count(), 3, "TCP only");
    assert_eq!(t.out("ss -lnu").lines().count(), 2, "UDP only");
    for bad in ["ss -lntup", "ss -a", "ss -ln", "ss --listening"] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn chkconfig_lists_sysv_links_and_xinetd() {
    let t = Tree::new();
    t.write("/etc/rc.d/init.d/auditd", "#!/bin/sh\n");
    t.write("/etc/rc.d/init.d/functions", "# library\n");
    for l in 0..7 {
        let name = if (2..=5).contains(&l) {
            "S11auditd"
        } else {
            "K88auditd"
        };
        t.write(&format!("/etc/rc.d/rc{l}.d/{name}"), "");
    }
    t.write(
        "/etc/xinetd.d/telnet",
        "service telnet\n{\n\tdisable\t= yes\n}\n",
    );
    t.write(
        "/etc/xinetd.d/rsync",
        "service rsync\n{\n\tdisable = no\n}\n",
    );
    assert_eq!(
        t.out("chkconfig --list auditd"),
        "auditd         \t0:off\t1:off\t2:on\t3:on\t4:on\t5:on\t6:off\n"
    );
    assert_eq!(t.out("chkconfig --list telnet"), "\ttelnet:\toff\n");
    assert_eq!(t.out("chkconfig --list rsync"), "\trsync:\ton\n");
    assert_eq!(
        t.out("chkconfig --list cups"),
        "error reading information on service cups: No such file or directory\n"
    );
    assert_eq!(
        t.out("chkconfig --list"),
        "auditd         \t0:off\t1:off\t2:on\t3:on\t4:on\t5:on\t6:off\n\nxinetd based services:\n\trsync:\ton\n\ttelnet:\toff\n"
    );
    // Debian's layout: /etc/init.d and /etc/rcN.d.
    let d = Tree::new();
    d.write("/etc/init.d/rsyslog", "#!/bin/sh\n");
    d.write("/etc/rc2.d/S01rsyslog", "");
    assert_eq!(
        d.out("chkconfig --list rsyslog"),
        "rsyslog        \t0:off\t1:off\t2:on\t3:off\t4:off\t5:off\t6:off\n"
    );
    assert!(parse("chkconfig telnet off").is_err(), "changes state");
}

#[test]
fn tail_of_a_file_and_a_pipeline() {
    let t = Tree::new();
    t.write("/etc/audit/audit.rules", "-D\n-w /etc/passwd -p wa\n-e 2\n");
    assert_eq!(t.out("tail -1 /etc/audit/audit.rules"), "-e 2\n");
    assert_eq!(
        t.out("tail -n 2 /etc/audit/audit.rules"),
        "-w /etc/passwd -p wa\n-e 2\n"
    );
    assert_eq!(
        t.out("tail -1 /etc/nope"),
        "tail: cannot open '/etc/nope' for reading: No such file or directory\n"
    );
    assert_eq!(
        t.out("grep -h ^- /etc/audit/audit.rules | tail -1"),
        "-e 2\n"
    );
    assert_eq!(
        t.out("cat /etc/audit/audit.rules | tail -5"),
        "-D\n-w /etc/passwd -p wa\n-e 2\n"
    );
    t.write("/etc/x", "a\nb");
    assert_eq!(t.out("tail -1 /etc/x"), "b");
    // One empty line is still a line (found by the coreutils comparison).
    t.write("/etc/blank", "\n");
    assert_eq!(t.out("tail -1 /etc/blank"), "\n");
    t.write("/etc/two", "a\n\n");
    assert_eq!(t.out("tail -1 /etc/two"), "\n");
    t.write("/etc/empty", "");
    assert_eq!(t.out("tail -1 /etc/empty"), "");
    assert!(parse("tail -n 0 /etc/two").is_err());
    assert!(parse("tail -f /var/log/messages").is_err());
    assert!(parse("tail -1 /etc/a /etc/b").is_err());
}

#[test]
fn stat_takes_a_glued_format() {
    let t = Tree::new();
    t.write("/etc/motd", "hi\n");
    assert_eq!(t.out("stat -L -c%F /etc/motd"), "regular file\n");
    assert_eq!(t.out("stat -c%s /etc/motd"), "3\n");
}

#[test]
fn upstart_jobs_and_crontabs() {
    let t = Tree::new();
    t.write(
        "/etc/init/rsyslog.conf",
        "description \"system logging\"\n# start on never\nstart on filesystem\nstop on runlevel [06]\n",
    );
    t.write(
        "/etc/init/cron.conf",
        "start on (runlevel [2345]\n          and filesystem)\nemits cron-ready done\n",
    );
    assert_eq!(
        t.out("initctl show-config rsyslog"),
        "rsyslog\n  start on filesystem\n  stop on runlevel [06]\n"
    );
    assert_eq!(
        t.out("initctl show-config cron"),
        "cron\n  emits cron-ready\n  emits done\n  start on (runlevel [2345] and filesystem)\n"
    );
    assert_eq!(
        t.out("initctl show-config autofs"),
        "initctl: Unknown job: autofs\n"
    );
    assert!(parse("initctl stop cron").is_err(), "changes state");
    assert!(parse("initctl show-config ../x").is_err());

    // Red Hat's spool.
    t.write("/var/spool/cron/root", "0 5 * * * /usr/sbin/aide --check\n");
    assert_eq!(
        t.out("crontab -u root -l"),
        "0 5 * * * /usr/sbin/aide --check\n"
    );
    assert_eq!(t.out("crontab -l -u alice"), "no crontab for alice\n");
    // Debian's, with the header its crontab hides.
    t.write(
        "/var/spool/cron/crontabs/root",
        "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n# (/tmp/x installed on Mon)\n# (Cron version)\n# m h dom mon dow command\n0 5 * * * /usr/bin/aide --check\n",
    );
    assert_eq!(
        t.out("crontab -u root -l"),
        "# m h dom mon dow command\n0 5 * * * /usr/bin/aide --check\n"
    );
    assert!(parse("crontab -r").is_err(), "removes the crontab");
    assert!(parse("crontab -u ../root -l").is_err());
}

#[test]
fn dpkg_list_shows_states() {
    let t = Tree::new();
    t.write(
        "/var/lib/dpkg/status",
        "Package: xserver-xorg-core\nStatus: install ok installed\nVersion: 2:21.1.7-3\nArchitecture: amd64\nDescription: Xorg X server - core server\n long text\n\nPackage: nis\nStatus: deinstall ok config-files\nVersion: 4.4\nArchitecture: amd64\nDescription: clients for NIS\n",
    );
    let out = t.out("dpkg -l xserver-xorg-core* nis telnet");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "dpkg-query: no packages found matching telnet");
    assert_eq!(lines[1], "Desired=Unknown/Install/Remove/Purge/Hold");
    assert_eq!(
        lines[4],
        "||/ Name              Version    Architecture Description"
    );
    assert_eq!(
        lines[7],
        "ii  xserver-xorg-core 2:21.1.7-3 amd64        Xorg X server - core server"
    );
    assert_eq!(
        lines[6],
        "rc  nis               4.4        amd64        clients for NIS"
    );
    assert_eq!(
        t.out("dpkg -l telnet"),
        "dpkg-query: no packages found matching telnet\n"
    );
    assert!(parse("dpkg -l --admindir=/tmp").is_err());
}
