//! Flexible time windows: where in `[slot, slot + window)` each slot is delivered.
//!
//! Thousands of schedulers "every day at 09:00" would all be due in the same millisecond. With
//! `flexible_time_window_minutes` set, each slot's delivery is moved to a point of its window
//! chosen by a hash of the scheduler id and the slot: the same on every runner, on every retry
//! of the claim and after a restart (so it needs no storage), different between schedulers and
//! between the slots of one scheduler, and uniformly spread over the window.
//!
//! SHA-256 rather than std's `DefaultHasher`/`RandomState`: those are seeded per process (and
//! their algorithm may change between Rust releases), so two runners would disagree.

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use crate::schedule::Schedule;
use crate::slots::max_instant;

/// Domain separation for the hash, versioned so a future change of the spread is explicit.
const DOMAIN: &[u8] = b"scheduler/flexible-time-window/v1\0";

/// Offset in `[0, window_ms)` for `scheduler_id`'s slot at `slot_ms` (`window_ms > 0`).
pub(crate) fn offset_ms(scheduler_id: &str, slot_ms: i64, window_ms: u64) -> u64 {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update((scheduler_id.len() as u64).to_be_bytes());
    h.update(scheduler_id.as_bytes());
    h.update(slot_ms.to_be_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // Multiply-shift maps a uniform 64-bit value onto [0, window_ms) without the modulo's
    // (here negligible, < 1e-11) bias and without a division.
    ((u128::from(u64::from_be_bytes(first)) * u128::from(window_ms)) >> 64) as u64
}

impl Schedule {
    /// The planned delivery instant of the slot `slot` of the scheduler `scheduler_id` (its
    /// `_id`, 24 hex characters): `slot` itself when the flexible window is off, else a point
    /// of `[slot, slot + window)` at whole milliseconds, a pure function of the id, the slot
    /// and the window length. Never before `slot`, never at or after `slot + window` (and never
    /// after 9999-12-31T23:59:59.999Z). The fire keeps `slot` as its `scheduled_for` and id.
    pub fn delivery_instant(&self, scheduler_id: &str, slot: DateTime<Utc>) -> DateTime<Utc> {
        let window_ms = u64::from(self.flexible_window_minutes) * 60_000;
        if window_ms == 0 {
            return slot;
        }
        let offset = offset_ms(scheduler_id, slot.timestamp_millis(), window_ms);
        // offset < 86_400_000, so the conversion cannot fail.
        let delta = TimeDelta::milliseconds(i64::try_from(offset).unwrap_or(0));
        slot.checked_add_signed(delta)
            .map_or(slot, |t| t.min(max_instant().max(slot)))
    }

    /// The flexible window's length (zero when off).
    pub fn flexible_window(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.flexible_window_minutes))
    }
}
