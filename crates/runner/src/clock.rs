//! The runner's source of "now". Claims, leases, retry times and envelope times all come from
//! it, so tests can set and advance time instead of sleeping through it.
//!
//! The system clock follows the database's: the runner measures the offset between its own
//! clock and Postgres' at start and on every heartbeat ([`Clock::sync`]), so due-ness and lease
//! expiry are judged on one clock, and a runner whose clock runs ahead does not take live
//! leases (nor one running behind leave due work waiting).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

/// A clock: the system's, or a manual one that moves only when told to.
///
/// Cloning shares the clock. A manual clock also wakes the runner when it is moved, so a test
/// that advances it does not wait for the next poll.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

enum Inner {
    /// The machine's clock plus the measured offset to the database's, in microseconds.
    System { offset_us: AtomicI64 },
    Manual {
        now: Mutex<DateTime<Utc>>,
        moved: watch::Sender<()>,
    },
}

impl Clock {
    pub fn system() -> Self {
        Self::system_skewed(TimeDelta::zero())
    }

    /// The system clock off by `skew` until the first [`Clock::sync`] (tests of clock skew).
    pub fn system_skewed(skew: TimeDelta) -> Self {
        Self {
            inner: Arc::new(Inner::System {
                offset_us: AtomicI64::new(skew.num_microseconds().unwrap_or(0)),
            }),
        }
    }

    /// Sets the system clock's offset from a reading of the reference clock (`reference`,
    /// the database's) taken between this clock's `before` and `after`: the reading is taken
    /// to be the middle of the round trip. No-op on a manual clock.
    pub fn sync(&self, before: DateTime<Utc>, reference: DateTime<Utc>, after: DateTime<Utc>) {
        if let Inner::System { offset_us } = &*self.inner {
            let mid = before + (after - before) / 2;
            let offset = (reference - mid).num_microseconds().unwrap_or(0);
            offset_us.store(offset, Ordering::Relaxed);
        }
    }

    /// The current offset of the system clock from the reference (zero for a manual clock).
    pub fn offset(&self) -> TimeDelta {
        match &*self.inner {
            Inner::System { offset_us } => {
                TimeDelta::microseconds(offset_us.load(Ordering::Relaxed))
            }
            Inner::Manual { .. } => TimeDelta::zero(),
        }
    }

    /// A clock standing at `start` until [`Clock::set`] or [`Clock::advance`] moves it.
    pub fn manual(start: DateTime<Utc>) -> Self {
        let (moved, _) = watch::channel(());
        Self {
            inner: Arc::new(Inner::Manual {
                now: Mutex::new(start),
                moved,
            }),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &*self.inner {
            Inner::System { offset_us } => {
                Utc::now() + TimeDelta::microseconds(offset_us.load(Ordering::Relaxed))
            }
            Inner::Manual { now, .. } => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    pub fn is_manual(&self) -> bool {
        matches!(&*self.inner, Inner::Manual { .. })
    }

    /// Moves a manual clock to `t` (backwards too). Panics on the system clock: a test bug.
    pub fn set(&self, t: DateTime<Utc>) {
        match &*self.inner {
            Inner::System { .. } => panic!("the system clock cannot be set"),
            Inner::Manual { now, moved } => {
                *now.lock().unwrap_or_else(PoisonError::into_inner) = t;
                moved.send_replace(());
            }
        }
    }

    pub fn advance(&self, by: TimeDelta) {
        let t = self.now() + by;
        self.set(t);
    }

    /// A receiver that changes whenever a manual clock moves (never for the system clock).
    pub(crate) fn subscribe(&self) -> Option<watch::Receiver<()>> {
        match &*self.inner {
            Inner::System { .. } => None,
            Inner::Manual { moved, .. } => Some(moved.subscribe()),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.inner {
            Inner::System { .. } => write!(f, "Clock::System(offset {})", self.offset()),
            Inner::Manual { .. } => write!(f, "Clock::Manual({})", self.now()),
        }
    }
}
