//! Read-only queries that Vigil answers natively: the text a command (or a short pipeline) would
//! print, computed from the host's files instead of running anything.
//!
//! Wazuh SCA policies ask for facts through commands (`rpm -q aide`, `sysctl net.ipv4.ip_forward`,
//! `systemctl is-enabled cups`, `stat -Lc "%a" /etc/passwd`, `cut -f3 -d: /etc/passwd | sort |
//! uniq -dc | wc -l`) and match regexes against what they print. A `query` check names such a
//! command line; the evaluator renders its output from the same facts the other checks read (rpm
//! and dpkg databases, unit files, selinuxfs, boot entries, `/proc`), so the check gives the
//! policy's verdict without a process, a shell or the allow-list, and works on an offline image.
//!
//! This module is the language: a command line in shell syntax (quotes and backslashes, `|`
//! between stages, no expansions) parsed into a typed [`Query`]: one [`Source`] and [`Filter`]s.
//! Only the forms listed here parse; anything else is refused when the pack loads. Rendering lives
//! in the evaluator.

mod parse;
pub(crate) mod regex;

use std::fmt;

pub use parse::parse;

/// A parsed query: a source command and the filters its output goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The first stage.
    pub source: Source,
    /// Later stages, in order.
    pub filters: Vec<Filter>,
    /// Every stage as argv, to print the query back.
    pub(crate) stages: Vec<Vec<String>>,
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self
            .stages
            .iter()
            .map(|argv| {
                argv.iter()
                    .map(|a| shell_quote(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        f.write_str(&shown.join(" | "))
    }
}

/// Quotes one word for a POSIX shell (single quotes unless it is plainly safe).
pub fn shell_quote(a: &str) -> String {
    let safe = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+%@^".contains(c));
    if safe {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// The command whose output is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `rpm -q NAME...`: one `name-version-release.arch` line per installed instance, or
    /// `package NAME is not installed`.
    RpmQuery(Vec<String>),
    /// `rpm -qa [GLOB...]`: every installed package (matching a glob).
    RpmQueryAll(Vec<String>),
    /// `dpkg -s NAME...` / `dpkg-query -s NAME...`.
    DpkgStatus(Vec<String>),
    /// `dpkg-query -W [-f=FORMAT] NAME...`.
    DpkgShow {
        /// `${field}` format with `\t` and `\n` escapes.
        format: String,
        /// Package names.
        names: Vec<String>,
    },
    /// `systemctl is-enabled UNIT...`.
    IsEnabled(Vec<String>),
    /// `systemctl is-active UNIT...`.
    IsActive(Vec<String>),
    /// `systemctl status UNIT...` (the `Loaded:` and `Active:` lines; no journal).
    SystemctlStatus(Vec<String>),
    /// `systemctl show UNIT...` (`Id`, `LoadState`, `ActiveState`, `UnitFileState`).
    SystemctlShow(Vec<String>),
    /// `getenforce`.
    Getenforce,
    /// `sestatus`.
    Sestatus,
    /// `sysctl KEY...` (runtime values).
    Sysctl(Vec<String>),
    /// `modprobe -n -v MODULE` (what loading would do).
    ModprobeDryRun(String),
    /// `lsmod`.
    Lsmod,
    /// `stat [-L] [-c FORMAT] PATH...`.
    Stat {
        /// `-L`: follow symbolic links.
        follow: bool,
        /// `-c` / `--format`; `None` is the default multi-line output.
        format: Option<String>,
        /// Paths as given.
        paths: Vec<String>,
    },
    /// `ls -l PATH...`.
    LsLong(Vec<String>),
    /// `which NAME...`.
    Which(Vec<String>),
    /// `useradd -D`.
    UseraddDefaults,
    /// `passwd -S USER`.
    PasswdStatus(String),
    /// `grubby --info=ALL`.
    GrubbyInfoAll,
    /// `authselect current`.
    AuthselectCurrent,
    /// `authselect list`.
    AuthselectList,
    /// `firewall-cmd --state`.
    FirewalldState,
    /// `ps -eZ`: every process with its SELinux label.
    PsLabels,
    /// `ss -lntu` (`-l` and `-n` with `-t` and/or `-u`): listening TCP and unconnected UDP sockets.
    SsListening {
        /// `-t`.
        tcp: bool,
        /// `-u`.
        udp: bool,
    },
    /// `sshd -T [-C user=NAME]`: the effective server configuration.
    SshdConfig {
        /// The `-C user=` connection whose `Match User` blocks apply; none applies without it.
        user: Option<String>,
    },
    /// `findmnt [-k] [-n] [TARGET]`.
    Findmnt {
        /// `-n`: no header line.
        no_headings: bool,
        /// Mount point to show; all when absent.
        target: Option<String>,
    },
    /// `mount` without arguments: the mount table, one `SOURCE on TARGET type FSTYPE (OPTIONS)`
    /// line per mount.
    MountList,
    /// `chkconfig --list [NAME]`: SysV services with their runlevels from the `rcN.d` links, and
    /// xinetd services (`/etc/xinetd.d`) on or off.
    ChkconfigList(Option<String>),
    /// `initctl show-config JOB`: an upstart job's name and its `emits`, `start on` and `stop on`
    /// stanzas from `/etc/init/JOB.conf`.
    InitctlShowConfig(String),
    /// `crontab -u USER -l`: the user's crontab from the cron spool.
    CrontabList(String),
    /// `netstat -an` (also `-na`, `-a -n`): the listening TCP and unconnected UDP sockets.
    NetstatAll,
    /// `dpkg -l [PATTERN...]`: packages of the dpkg database with their states.
    DpkgList(Vec<String>),
    /// `tail -N FILE` / `tail -n N FILE`: the last lines of one file.
    TailFile {
        /// Lines kept.
        lines: usize,
        /// The file.
        file: String,
    },
    /// `cat FILE...` (a `*` in the last component is expanded as a shell would).
    Cat(Vec<String>),
    /// `cut -f N -d C FILE...`.
    CutFiles {
        /// 1-based field.
        field: usize,
        /// Delimiter.
        delim: char,
        /// Files.
        files: Vec<String>,
    },
    /// `grep [-R] [-h] [-E] [-i] [-v] PATTERN PATH...`.
    GrepFiles {
        /// Options and pattern.
        grep: Grep,
        /// `-R`/`-r`: search directories recursively.
        recursive: bool,
        /// `-h`: no file name prefix.
        no_filename: bool,
        /// Files and directories.
        paths: Vec<String>,
    },
    /// `auditctl -l`: the audit rules auditd loads at start, listed as auditctl lists them.
    AuditctlList,
    /// `augenrules --check`: whether `/etc/audit/audit.rules` is what `rules.d` compiles to.
    AugenrulesCheck,
    /// `nft list ruleset` (`tables_only`: `nft list tables`), from the configuration loaded at boot.
    NftList {
        /// `nft list tables`.
        tables_only: bool,
    },
    /// `iptables -L [CHAIN] [-v] [-n]` / `ip6tables …`, from the saved rules loaded at boot.
    IptablesList {
        /// `ip6tables`.
        v6: bool,
        /// One chain; all when absent.
        chain: Option<String>,
        /// `-v`.
        verbose: bool,
        /// `-n`.
        numeric: bool,
    },
    /// `ufw status [verbose]`.
    UfwStatus {
        /// `verbose`.
        verbose: bool,
    },
    /// `find DIR... [-xdev] [-type f] [-name G | \( -name G -o -name G \)] [-perm /M|-M]
    /// [-exec stat ...|ls -l {} +|\;]`.
    Find(Find),
}

/// A `find` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Find {
    /// Start directories.
    pub roots: Vec<String>,
    /// `-type f`.
    pub files_only: bool,
    /// `-name` globs (any matches); empty matches every name.
    pub names: Vec<String>,
    /// `-perm /MODE` (any bit) or `-perm -MODE` (all bits).
    pub perm: Option<PermTest>,
    /// What each found file prints.
    pub exec: Exec,
}

/// A `-perm` test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermTest {
    /// `/MODE`: some of the bits are set.
    Any(u32),
    /// `-MODE`: all of the bits are set.
    All(u32),
}

/// The action of a `find`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exec {
    /// Print the path.
    Print,
    /// `-exec stat [-L] [-c FORMAT] {}`.
    Stat {
        /// `-L`.
        follow: bool,
        /// `-c FORMAT`.
        format: Option<String>,
    },
    /// `-exec ls -l {}`.
    LsLong,
}

/// A line filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `grep [-c] [-v] [-E] [-i] PATTERN`.
    Grep(Grep),
    /// `sort` (byte order).
    Sort,
    /// `uniq [-c] [-d]`.
    Uniq {
        /// `-c`: prefix counts.
        count: bool,
        /// `-d`: only repeated lines.
        repeated: bool,
    },
    /// `wc -l`.
    CountLines,
    /// `tail -N` / `tail -n N`: the last N lines.
    Tail(usize),
    /// `cut -f N -d C`.
    Cut {
        /// 1-based field.
        field: usize,
        /// Delimiter.
        delim: char,
    },
    /// `awk '/START/,/END/'`: the lines from one matching START to the next matching END.
    AwkRange {
        /// Regex that opens a range.
        start: String,
        /// Regex that closes it.
        end: String,
    },
}

/// Options and pattern of a `grep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grep {
    /// The pattern translated to Rust syntax (from BRE, or ERE with `-E`).
    pub regex: String,
    /// `-v`.
    pub invert: bool,
    /// `-c`.
    pub count: bool,
}
