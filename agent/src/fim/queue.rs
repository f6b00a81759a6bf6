//! The bounded queue between the file watcher's thread and the FIM engine.
//!
//! `std::sync::mpsc::sync_channel(n)` allocates and writes all `n` slots when it is created: with
//! the 65,536 events the engine tolerates between two drains, that held ~4.5 MiB for the agent's
//! whole life although the queue is empty nearly always. This queue counts its length against the
//! bound and keeps the messages in an unbounded channel, whose blocks are allocated as messages
//! arrive and freed as they leave. A wake-up (shutdown, an overflow flag raised without a message)
//! is never refused, so the engine can sleep until its next deadline instead of polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::time::Duration;

/// A queue of at most `cap` messages (wake-ups not counted).
pub(super) fn bounded<T>(cap: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    let (tx, rx) = mpsc::channel();
    let len = Arc::new(AtomicUsize::new(0));
    (
        QueueSender {
            tx,
            len: len.clone(),
            cap: cap.max(1),
        },
        QueueReceiver { rx, len },
    )
}

enum Item<T> {
    Msg(T),
    Wake,
}

/// Why [`QueueSender::try_send`] did not queue a message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SendError {
    /// The queue holds `cap` messages.
    Full,
    /// The receiver is gone.
    Disconnected,
}

/// The sending side; clones share the bound.
pub(super) struct QueueSender<T> {
    tx: mpsc::Sender<Item<T>>,
    len: Arc<AtomicUsize>,
    cap: usize,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            len: self.len.clone(),
            cap: self.cap,
        }
    }
}

impl<T> std::fmt::Debug for QueueSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueSender")
            .field("len", &self.len.load(Ordering::Relaxed))
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

impl<T> QueueSender<T> {
    /// Queues `m` unless the queue is full; never blocks.
    pub(super) fn try_send(&self, m: T) -> Result<(), SendError> {
        if self.len.fetch_add(1, Ordering::AcqRel) >= self.cap {
            self.len.fetch_sub(1, Ordering::AcqRel);
            return Err(SendError::Full);
        }
        self.tx.send(Item::Msg(m)).map_err(|_| {
            self.len.fetch_sub(1, Ordering::AcqRel);
            SendError::Disconnected
        })
    }

    /// Wakes the receiver (even when the queue is full).
    pub(super) fn wake(&self) {
        let _ = self.tx.send(Item::Wake);
    }
}

/// The receiving side.
pub(super) struct QueueReceiver<T> {
    rx: mpsc::Receiver<Item<T>>,
    len: Arc<AtomicUsize>,
}

impl<T> QueueReceiver<T> {
    /// The next message, `None` for a wake-up, or why there is none within `timeout`.
    pub(super) fn recv_timeout(&self, timeout: Duration) -> Result<Option<T>, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).map(|i| self.took(i))
    }

    /// The next message if one is queued, `None` for a wake-up.
    pub(super) fn try_recv(&self) -> Result<Option<T>, TryRecvError> {
        self.rx.try_recv().map(|i| self.took(i))
    }

    fn took(&self, i: Item<T>) -> Option<T> {
        match i {
            Item::Msg(m) => {
                self.len.fetch_sub(1, Ordering::AcqRel);
                Some(m)
            }
            Item::Wake => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound counts messages only: a full queue refuses messages but not wake-ups, and
    /// taking one message makes room for one more.
    #[test]
    fn a_full_queue_refuses_messages_but_not_wake_ups() {
        let (tx, rx) = bounded::<u32>(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.clone().try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(SendError::Full));
        tx.wake();
        assert_eq!(rx.try_recv(), Ok(Some(1)));
        assert_eq!(tx.try_send(4), Ok(()));
        assert_eq!(tx.try_send(5), Err(SendError::Full));
        assert_eq!(rx.try_recv(), Ok(Some(2)));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Ok(None),
            "the wake-up"
        );
        assert_eq!(rx.try_recv(), Ok(Some(4)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(tx);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Disconnected)
        );
    }

    /// A wake-up from another thread ends a long wait at once.
    #[test]
    fn a_wake_up_ends_a_long_wait() {
        let (tx, rx) = bounded::<u32>(1);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.wake();
            tx
        });
        let start = std::time::Instant::now();
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(None));
        assert!(start.elapsed() < Duration::from_secs(10));
        drop(t.join());
    }
}
