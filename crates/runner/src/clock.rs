//! The runner's source of "now". Claims, leases, retry times and envelope times all come from
//! it, so tests can set and advance time instead of sleeping through it.

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
    System,
    Manual {
        now: Mutex<DateTime<Utc>>,
        moved: watch::Sender<()>,
    },
}

impl Clock {
    pub fn system() -> Self {
        Self {
            inner: Arc::new(Inner::System),
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
            Inner::System => Utc::now(),
            Inner::Manual { now, .. } => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    pub fn is_manual(&self) -> bool {
        matches!(&*self.inner, Inner::Manual { .. })
    }

    /// Moves a manual clock to `t` (backwards too). Panics on the system clock: a test bug.
    pub fn set(&self, t: DateTime<Utc>) {
        match &*self.inner {
            Inner::System => panic!("the system clock cannot be set"),
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
            Inner::System => None,
            Inner::Manual { moved, .. } => Some(moved.subscribe()),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.inner {
            Inner::System => f.write_str("Clock::System"),
            Inner::Manual { .. } => write!(f, "Clock::Manual({})", self.now()),
        }
    }
}
