//! Lowering the CPU and I/O priority of one thread (the scanner workers of scheduled scans).
//!
//! On Linux both the nice value and the I/O priority are per thread when addressed by thread id,
//! so a background scan yields to the rest of the host, and to the agent's own realtime side,
//! without touching the process. The nice value goes through `rustix`; `ioprio_set` has no safe
//! wrapper in our dependencies, so it is the one raw system call here. Priorities are only ever
//! lowered: a thread already nicer than asked keeps its value, which also means an unprivileged
//! agent never needs `CAP_SYS_NICE`.

use std::io;

use rustix::process::{getpriority_process, setpriority_process};
use rustix::thread::gettid;

use crate::platform::{IoClass, ScanPriority};

/// Lowers the calling thread's priority as configured.
///
/// # Errors
/// The system call that failed (e.g. `ioprio_set` refused by a seccomp filter); the nice value
/// may already be applied then.
pub fn lower_current_thread(p: &ScanPriority) -> io::Result<()> {
    let tid = gettid();
    if p.nice > 0 {
        let current = getpriority_process(Some(tid)).map_err(io::Error::from)?;
        if current < p.nice {
            setpriority_process(Some(tid), p.nice).map_err(io::Error::from)?;
        }
    }
    let wanted = match p.io {
        IoClass::Unchanged => return Ok(()),
        IoClass::BestEffortLowest => ioprio_value(IOPRIO_CLASS_BE, 7),
        IoClass::Idle => ioprio_value(IOPRIO_CLASS_IDLE, 0),
    };
    let current = ioprio_get_thread(0)?;
    if is_lower_or_equal(current, wanted) {
        return Ok(());
    }
    ioprio_set_thread(wanted)
}

/// Nice value of thread `tid` (`0`: the calling thread), for tests and diagnostics.
///
/// # Errors
/// No such thread.
pub fn nice_of(tid: i32) -> io::Result<i32> {
    // `Pid` is never 0; `None` addresses the calling thread.
    let pid = match tid {
        0 => None,
        t => Some(rustix::process::Pid::from_raw(t).ok_or(io::ErrorKind::InvalidInput)?),
    };
    getpriority_process(pid).map_err(io::Error::from)
}

/// I/O scheduling class and level of thread `tid` (`0`: the calling thread), as `ioprio_get`
/// reports them: class 0 none, 1 realtime, 2 best-effort, 3 idle.
///
/// # Errors
/// No such thread, or the call is not permitted.
pub fn io_priority_of(tid: i32) -> io::Result<(u32, u32)> {
    let v = ioprio_get_thread(tid)?;
    Ok((v >> IOPRIO_CLASS_SHIFT, v & IOPRIO_PRIO_MASK))
}

const IOPRIO_CLASS_SHIFT: u32 = 13;
const IOPRIO_PRIO_MASK: u32 = (1 << IOPRIO_CLASS_SHIFT) - 1;
const IOPRIO_CLASS_RT: u32 = 1;
const IOPRIO_CLASS_BE: u32 = 2;
const IOPRIO_CLASS_IDLE: u32 = 3;
/// `which` argument: `who` is a thread id (0 = the caller).
const IOPRIO_WHO_PROCESS: libc::c_int = 1;

fn ioprio_value(class: u32, level: u32) -> u32 {
    (class << IOPRIO_CLASS_SHIFT) | level
}

/// Whether I/O priority `current` is already no higher than `wanted` (classes order realtime,
/// best-effort, idle; class 0 "none" is best-effort derived from the nice value).
fn is_lower_or_equal(current: u32, wanted: u32) -> bool {
    let rank = |v: u32| match v >> IOPRIO_CLASS_SHIFT {
        IOPRIO_CLASS_RT => (0, v & IOPRIO_PRIO_MASK),
        IOPRIO_CLASS_IDLE => (2, 0),
        IOPRIO_CLASS_BE => (1, v & IOPRIO_PRIO_MASK),
        // No class set: best-effort at a level derived from nice, at most 7; treat as 4 (the
        // default) so that asking for best-effort 7 still sets it.
        _ => (1, 4),
    };
    rank(current) >= rank(wanted)
}

#[allow(
    unsafe_code,
    reason = "ioprio_get has no safe wrapper in libc or rustix"
)]
fn ioprio_get_thread(tid: i32) -> io::Result<u32> {
    // SAFETY: `ioprio_get(which, who)` takes two integers and touches no memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(r).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

#[allow(
    unsafe_code,
    reason = "ioprio_set has no safe wrapper in libc or rustix"
)]
fn ioprio_set_thread(value: u32) -> io::Result<()> {
    // SAFETY: `ioprio_set(which, who, ioprio)` takes three integers and touches no memory of
    // ours; `who` = 0 is the calling thread.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_int,
            value as libc::c_int,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_only_the_calling_thread_and_never_raises() {
        let before = nice_of(0).expect("nice");
        let (nice, io) = std::thread::spawn(|| {
            let p = ScanPriority {
                nice: 7,
                io: IoClass::Idle,
            };
            lower_current_thread(&p).expect("lower");
            // A weaker request afterwards leaves the lower priority in place.
            let weaker = ScanPriority {
                nice: 3,
                io: IoClass::BestEffortLowest,
            };
            lower_current_thread(&weaker).expect("no-op");
            (
                nice_of(0).expect("nice"),
                io_priority_of(0).expect("ioprio"),
            )
        })
        .join()
        .expect("thread");
        assert_eq!(nice, before.max(7));
        assert_eq!(io.0, IOPRIO_CLASS_IDLE);
        assert_eq!(
            nice_of(0).expect("nice"),
            before,
            "the test thread is untouched"
        );
        assert!(is_lower_or_equal(
            ioprio_value(IOPRIO_CLASS_BE, 7),
            ioprio_value(IOPRIO_CLASS_BE, 7)
        ));
        assert!(!is_lower_or_equal(0, ioprio_value(IOPRIO_CLASS_BE, 7)));
        assert!(!is_lower_or_equal(
            ioprio_value(IOPRIO_CLASS_BE, 7),
            ioprio_value(IOPRIO_CLASS_IDLE, 0)
        ));
    }
}
