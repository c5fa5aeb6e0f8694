//! What the runner does with a scheduler whose `next_fire_at` has come.

use chrono::{DateTime, TimeDelta, Utc};

use crate::schedule::{MisfirePolicy, Schedule, ScheduleKind};

/// Most missed slots that `fire_all` replays (SPEC 6).
pub const FIRE_ALL_LIMIT: usize = 100;

/// The runner's view of one due scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanInput<'a> {
    /// The scheduler's `_id`: with its flexible window, it decides each fire's delivery instant.
    pub scheduler_id: &'a str,
    /// The scheduler's `next_fire_at`, at or before `now`.
    pub due: DateTime<Utc>,
    /// Fires recorded so far (`fire_count`).
    pub fired: u64,
    pub now: DateTime<Utc>,
    /// How late a slot may be and still count as on time (default 60 s, SPEC 6).
    pub grace: TimeDelta,
}

/// One fire to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedFire {
    pub scheduled_for: DateTime<Utc>,
    /// Fired more than the grace period after `scheduled_for`.
    pub late: bool,
    /// Missed slots this fire stands in for and that get no fire of their own.
    pub skipped_slots: u32,
    /// When it is planned to be delivered: `scheduled_for` without a flexible window, else a
    /// point of the window (see [`Schedule::delivery_instant`]). It may already have passed
    /// (a late fire); the runner never delivers before it.
    pub deliver_at: DateTime<Utc>,
}

/// The fires to record now and the scheduler's new `next_fire_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub fires: Vec<PlannedFire>,
    /// `None`: the scheduler is finished (no slot left, or `max_fires` reached).
    pub next_fire_at: Option<DateTime<Utc>>,
}

impl Schedule {
    /// Plans the fires for a scheduler whose `next_fire_at` (`due`) is at or before `now`.
    ///
    /// On time (`now - due <= grace`): fire `due`; next is the slot after `due`, so a runner
    /// that fell behind by less than the grace catches up slot by slot.
    ///
    /// Late: the missed slots are `due` and every slot up to and including `now`.
    /// `fire_once` fires once, at the most recent missed slot, recording the others as
    /// skipped; `skip` fires nothing; `fire_all` fires the most recent
    /// min(missed, 100) missed slots, the earliest of them carrying the count of the older
    /// ones left out. For every policy the next fire is the first slot strictly after `now`
    /// (a slot equal to `now` counts as missed, so it is not fired twice).
    ///
    /// Never plans more than `max_fires - fired` fires; when they are used up the next fire
    /// is `None`. A non-recurring scheduler fires its one slot (late or not, per the policy;
    /// `skip` finishes it unfired) and then is finished, whatever it fired before (it was
    /// re-armed).
    pub fn plan(&self, input: PlanInput<'_>) -> Plan {
        let PlanInput {
            scheduler_id,
            due,
            fired,
            now,
            grace,
        } = input;
        let late = now.signed_duration_since(due) > grace;
        // A one-shot is armed by having a `next_fire_at`: the API sets one when it is created
        // or given a new instant (re-armed, even after it fired), and the claim clears it. So
        // its earlier fires do not count here.
        if self.kind == ScheduleKind::NonRecurring {
            let fires = if late && self.misfire_policy == MisfirePolicy::Skip {
                Vec::new()
            } else {
                vec![PlannedFire {
                    scheduled_for: due,
                    late,
                    skipped_slots: 0,
                    deliver_at: self.delivery_instant(scheduler_id, due),
                }]
            };
            return Plan {
                fires,
                next_fire_at: None,
            };
        }

        let remaining = self.remaining(fired);
        if remaining == 0 {
            return Plan {
                fires: Vec::new(),
                next_fire_at: None,
            };
        }
        if !late {
            let next_fire_at = if remaining > 1 {
                self.next_after(due)
            } else {
                None
            };
            return Plan {
                fires: vec![PlannedFire {
                    scheduled_for: due,
                    late: false,
                    skipped_slots: 0,
                    deliver_at: self.delivery_instant(scheduler_id, due),
                }],
                next_fire_at,
            };
        }

        // `due` is a slot the runner stored; count it even if the schedule no longer has it.
        let missed = self.count_slots(due, now).max(1);
        let to_fire = match self.misfire_policy {
            MisfirePolicy::Skip => 0,
            MisfirePolicy::FireOnce => 1,
            MisfirePolicy::FireAll => missed.min(FIRE_ALL_LIMIT as u64).min(remaining) as usize,
        };
        let mut recent = self.last_slots(due, now, to_fire);
        if recent.is_empty() && to_fire > 0 {
            recent.push(due);
        }
        let skipped = missed.saturating_sub(recent.len() as u64);
        let fires: Vec<PlannedFire> = recent
            .iter()
            .enumerate()
            .map(|(i, &scheduled_for)| PlannedFire {
                scheduled_for,
                late: true,
                skipped_slots: if i == 0 {
                    u32::try_from(skipped).unwrap_or(u32::MAX)
                } else {
                    0
                },
                deliver_at: self.delivery_instant(scheduler_id, scheduled_for),
            })
            .collect();
        let next_fire_at = if fires.len() as u64 >= remaining {
            None
        } else {
            self.next_after(now)
        };
        Plan {
            fires,
            next_fire_at,
        }
    }
}
