//! The Linux sandbox of command-check children: reading only.
//!
//! Between fork and exec the child
//! 1. sets `no_new_privs`, so neither set-uid binaries nor file capabilities nor root's execve
//!    rule can give it back what it drops;
//! 2. empties its capability bounding set but for `CAP_DAC_READ_SEARCH` (when the agent holds
//!    `CAP_SETPCAP`; without it, `no_new_privs` and step 4 bound the child just as well);
//! 3. unless its allow-list entry says `@root`, becomes uid/gid 65534 with no supplementary
//!    groups, so it owns no file and root-only services (PID 1, polkit) refuse its requests;
//! 4. keeps `CAP_DAC_READ_SEARCH` alone in its permitted, effective and inheritable sets, and as
//!    an ambient capability when it is not root, so it still reads files only root may read.
//!
//! A step that fails makes the spawn fail: a command never runs with more than it should.
//! Running unprivileged already (a developer's `vigil-agent check`), the child stays that user.
//! Why this and not a read-only mount namespace: see docs/rules-format.md, "Command sandbox".

// `pre_exec` is the only way to run code between fork and exec; it is the one unsafe call here.
#![allow(unsafe_code)]

use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command};

use rustix::io::Errno;
use rustix::process::{Gid, Pid, Signal, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};

use super::allow::RunAs;

/// The uid (and gid) commands run as unless their entry says `@root`: `nobody`, which owns
/// nothing on Debian and Ubuntu.
pub const SANDBOX_UID: u32 = 65534;

/// The highest capability number tried when emptying the bounding set; the kernel answers
/// `EINVAL` past its own last one.
const MAX_CAP: u32 = 63;

/// Refuses a program someone other than root could have replaced: it and its directory must be
/// owned by root and writable by nobody else.
pub(super) fn check_program(program: &str) -> Result<(), String> {
    let path = Path::new(program);
    let real = path
        .canonicalize()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let m = std::fs::metadata(&real).map_err(|e| format!("cannot start {program}: {e}"))?;
    if !m.is_file() {
        return Err(format!("not run: {program} is not a regular file"));
    }
    let dir = real.parent().unwrap_or(Path::new("/"));
    let dm = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (what, meta) in [(real.as_path(), &m), (dir, &dm)] {
        if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
            return Err(format!(
                "not run: {} must be owned by root and writable by nobody else (owner uid {}, \
                 mode {:04o})",
                what.display(),
                meta.uid(),
                meta.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

/// Arranges for `cmd` to drop everything but reading before it executes, in its own process
/// group (so a timeout kills what it started too).
pub(super) fn confine(cmd: &mut Command, run_as: RunAs) -> Result<(), String> {
    let switch_uid = run_as == RunAs::Nobody && rustix::process::geteuid().is_root();
    cmd.process_group(0);
    // SAFETY: the closure runs in the forked child before exec. It only makes system calls
    // through rustix's raw syscall layer: no allocation, no locks, nothing that another thread of
    // the parent could have left in an inconsistent state, so it is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || drop_privileges(switch_uid));
    }
    Ok(())
}

/// Kills the child's whole process group.
pub(super) fn kill_tree(child: &mut Child) {
    let group = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    if let Some(pid) = group
        && rustix::process::kill_process_group(pid, Signal::KILL).is_ok()
    {
        return;
    }
    let _ = child.kill();
}

fn drop_privileges(switch_uid: bool) -> io::Result<()> {
    use rustix::thread as t;
    t::set_no_new_privs(true)?;
    for cap in 0..=MAX_CAP {
        let one = CapabilitySet::from_bits_retain(1 << cap);
        if one == CapabilitySet::DAC_READ_SEARCH {
            continue;
        }
        match t::remove_capability_from_bounding_set(one) {
            Ok(()) => {}
            // Past the kernel's last capability, or no CAP_SETPCAP to drop with.
            Err(Errno::INVAL | Errno::PERM) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if switch_uid {
        let (uid, gid) = (Uid::from_raw(SANDBOX_UID), Gid::from_raw(SANDBOX_UID));
        t::set_keep_capabilities(true)?;
        t::set_thread_groups(&[])?;
        t::set_thread_res_gid(gid, gid, gid)?;
        t::set_thread_res_uid(uid, uid, uid)?;
    }
    let keep = t::capabilities(None)?.permitted & CapabilitySet::DAC_READ_SEARCH;
    t::set_capabilities(
        None,
        CapabilitySets {
            effective: keep,
            permitted: keep,
            inheritable: keep,
        },
    )?;
    match t::clear_ambient_capability_set() {
        // EINVAL: a kernel without ambient capabilities (before 4.3); nothing to clear.
        Ok(()) | Err(Errno::INVAL) => {}
        Err(e) => return Err(e.into()),
    }
    if !keep.is_empty() && !rustix::process::getuid().is_root() {
        // A non-root child keeps a capability across exec only as an ambient one.
        t::configure_capability_in_ambient_set(CapabilitySet::DAC_READ_SEARCH, true)?;
    }
    Ok(())
}
