//! Is the collector still there? A QUIC connection whose peer died (a collector killed with
//! `kill -9`) only ends at the idle timeout (60 s by default), and while the agent has findings
//! in flight its packets go out at the loss-recovery timer's doubling intervals. A restarted
//! collector answers the next of those packets with a stateless reset, but that packet may be
//! many seconds away. So the uplink watches the connection itself: findings sent and not
//! acknowledged, and nothing at all heard from the collector (not even a transport
//! acknowledgement, which a live peer sends within milliseconds whatever its load) for
//! [`PROBE_AFTER`], make it send a heartbeat, which a live collector acknowledges at once; still
//! nothing by [`DEAD_AFTER`] and the connection is given up and a new one dialled.
//!
//! Pure: the uplink feeds it the connection's received-datagram count and whether it awaits an
//! acknowledgement; it answers what to do.

use std::time::{Duration, Instant};

/// Silence, with findings awaiting acknowledgement, after which the agent probes.
pub(super) const PROBE_AFTER: Duration = Duration::from_secs(2);
/// Silence after which the connection is taken for dead.
pub(super) const DEAD_AFTER: Duration = Duration::from_secs(4);

/// What the uplink should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Nothing.
    Fine,
    /// Send something the collector must acknowledge.
    Probe,
    /// Give the connection up.
    Dead,
}

/// Silence tracking for one connection.
#[derive(Debug)]
pub(super) struct Liveness {
    rx: u64,
    heard: Instant,
    probed: bool,
}

impl Liveness {
    /// Starts with `rx` datagrams received so far.
    pub(super) fn new(now: Instant, rx: u64) -> Self {
        Self {
            rx,
            heard: now,
            probed: false,
        }
    }

    /// `rx`: datagrams received on the connection so far; `awaiting`: findings were sent and
    /// are not acknowledged yet.
    pub(super) fn check(&mut self, now: Instant, rx: u64, awaiting: bool) -> Verdict {
        if rx != self.rx || !awaiting {
            // Heard from the collector, or nothing expected from it: silence starts again.
            self.rx = rx;
            self.heard = now;
            self.probed = false;
            return Verdict::Fine;
        }
        let silent = now.saturating_duration_since(self.heard);
        if silent >= DEAD_AFTER {
            Verdict::Dead
        } else if silent >= PROBE_AFTER && !std::mem::replace(&mut self.probed, true) {
            Verdict::Probe
        } else {
            Verdict::Fine
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn silence_while_awaiting_probes_once_then_gives_up() {
        let t = Instant::now();
        let mut l = Liveness::new(t, 10);
        assert_eq!(l.check(t + S, 10, true), Verdict::Fine);
        assert_eq!(l.check(t + PROBE_AFTER, 10, true), Verdict::Probe);
        assert_eq!(l.check(t + PROBE_AFTER + S / 2, 10, true), Verdict::Fine);
        assert_eq!(l.check(t + DEAD_AFTER, 10, true), Verdict::Dead);
    }

    #[test]
    fn anything_heard_starts_the_silence_again() {
        let t = Instant::now();
        let mut l = Liveness::new(t, 10);
        assert_eq!(l.check(t + PROBE_AFTER, 10, true), Verdict::Probe);
        // The probe was answered.
        assert_eq!(l.check(t + 3 * S, 11, true), Verdict::Fine);
        assert_eq!(l.check(t + DEAD_AFTER, 11, true), Verdict::Fine);
        assert_eq!(l.check(t + 3 * S + PROBE_AFTER, 11, true), Verdict::Probe);
    }

    #[test]
    fn an_idle_connection_is_never_given_up() {
        let t = Instant::now();
        let mut l = Liveness::new(t, 10);
        for s in 1..120 {
            assert_eq!(l.check(t + s * S, 10, false), Verdict::Fine);
        }
        // Findings sent after a long quiet spell: silence counts from when they were awaited.
        assert_eq!(l.check(t + 120 * S, 10, true), Verdict::Fine);
        assert_eq!(l.check(t + 119 * S + PROBE_AFTER, 10, true), Verdict::Probe);
    }
}
