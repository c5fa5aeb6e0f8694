//! Slot enumeration: the instants at which a schedule fires.
//!
//! Calendar units and cron produce *local* candidate times in order; each is resolved to an
//! instant with the DST rules of `local.rs`. Resolution keeps the order of local times except
//! for candidates moved forward out of a spring-forward gap, which can land after (or on) the
//! instants of later candidates. So the iterator holds shifted candidates back in a small
//! sorted buffer and releases them once a non-shifted candidate at or after them has been
//! seen: non-shifted candidates resolve in increasing order (the earliest-instant rule keeps
//! overlaps monotonic), and nothing after a non-shifted candidate can resolve before it.
//! Duplicates (Pacific/Apia's skipped 2011-12-30, or a gap time moved onto a time the cron
//! expression also matches) are emitted once.
//!
//! Finding the first slot at or after `t` never walks from the start: fixed units compute
//! the index, calendar units jump to the index of the local date two days before `t` (the
//! largest DST shift is a day), and cron starts its search at the local time of `t`, or one
//! gap width earlier right after a spring-forward change (see `gap_margin`).

use std::collections::VecDeque;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeDelta, Utc};

use crate::cron::{days_in_month, is_leap, MAX_YEAR};
use crate::local::{local_of, offset_at, resolve, Resolved};
use crate::schedule::{Period, Rule, Schedule, ScheduleKind};

/// 9999-12-31T23:59:59.999Z: no slot is produced after it (RFC 3339 has four-digit years).
const MAX_INSTANT_MS: i64 = 253_402_300_799_999;

/// Calendar ranges with at most this many slots are counted by walking them (exact);
/// longer ones arithmetically.
const EXACT_COUNT_LIMIT: u64 = 10_000;

/// Counting missed cron slots iterates them; past this many the count saturates, so one
/// plan() after months of downtime of a per-second expression stays well under a second.
pub(crate) const CRON_COUNT_CAP: u64 = 1_000_000;

pub(crate) fn max_instant() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(MAX_INSTANT_MS).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first whole millisecond at or after `t` (slots are whole milliseconds).
fn ceil_ms(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let floor = t.timestamp_millis();
    let exact = t.timestamp_subsec_nanos().is_multiple_of(1_000_000);
    DateTime::from_timestamp_millis(if exact { floor } else { floor.checked_add(1)? })
}

impl Period {
    /// Local date of slot index `k`, `None` past year 10000.
    pub(crate) fn date(&self, k: i64) -> Option<NaiveDate> {
        match *self {
            Period::Days { anchor, step } => {
                let n = anchor.checked_add(k.checked_mul(step)?)?;
                let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(n).ok()?)?;
                (date.year() <= MAX_YEAR + 1).then_some(date)
            }
            Period::Months { anchor, step, day } => {
                let m = anchor.checked_add(k.checked_mul(step)?)?;
                let year = i32::try_from(m.div_euclid(12)).ok()?;
                if year > MAX_YEAR + 1 {
                    return None;
                }
                let month = m.rem_euclid(12) as u32 + 1;
                NaiveDate::from_ymd_opt(year, month, day.min(days_in_month(year, month)))
            }
            Period::Years {
                anchor,
                step,
                month,
                day,
            } => {
                let year = i32::try_from(anchor.checked_add(k.checked_mul(step)?)?).ok()?;
                if year > MAX_YEAR + 1 {
                    return None;
                }
                let day = if month == 2 && day == 29 && !is_leap(year) {
                    28
                } else {
                    day
                };
                NaiveDate::from_ymd_opt(year, month, day)
            }
        }
    }

    /// A lower bound for the first index whose date is on or after `date`: exact at month or
    /// year granularity, which is all the callers need (they scan forward from it).
    fn first_index_from(&self, date: NaiveDate) -> i64 {
        let (diff, step) = match *self {
            Period::Days { anchor, step } => (i64::from(date.num_days_from_ce()) - anchor, step),
            Period::Months { anchor, step, .. } => (
                i64::from(date.year()) * 12 + i64::from(date.month0()) - anchor,
                step,
            ),
            Period::Years { anchor, step, .. } => (i64::from(date.year()) - anchor, step),
        };
        if diff <= 0 {
            0
        } else {
            diff.div_euclid(step) + i64::from(diff.rem_euclid(step) != 0)
        }
    }
}

enum Generator {
    Once { done: bool },
    Fixed { next_ms: i64, step_ms: i64 },
    Calendar { k: i64 },
    Cron { cursor: NaiveDateTime },
}

/// Slots of a schedule at or after some instant, ascending and strictly increasing, never
/// before `start` nor after `end_datetime`. Lazy and unbounded for recurring schedules (it
/// ends after year 9999); `max_fires` is not applied here (see [`Schedule::upcoming`]).
pub struct Slots<'a> {
    schedule: &'a Schedule,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    generator: Generator,
    /// Shifted candidates not yet released, sorted descending (smallest last). Stays empty,
    /// and so never allocates, outside DST gaps.
    pending: Vec<DateTime<Utc>>,
    /// Instant of the latest non-shifted candidate: no later candidate resolves before it.
    frontier: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    exhausted: bool,
}

impl<'a> Slots<'a> {
    fn new(schedule: &'a Schedule, t: DateTime<Utc>) -> Self {
        let hi = schedule.end.map_or(max_instant(), |e| e.min(max_instant()));
        let lo = ceil_ms(t).map(|t| t.max(schedule.start));
        let mut slots = Slots {
            schedule,
            lo: lo.unwrap_or(hi),
            hi,
            generator: Generator::Once { done: true },
            pending: Vec::new(),
            frontier: None,
            last: None,
            exhausted: true,
        };
        let Some(lo) = lo.filter(|lo| *lo <= hi) else {
            return slots;
        };
        let tz = schedule.timezone;
        let generator = match &schedule.rule {
            Rule::Once => Some(Generator::Once { done: false }),
            Rule::Fixed { step_ms } => {
                let start_ms = schedule.start.timestamp_millis();
                let diff = lo.timestamp_millis() - start_ms;
                let k = diff / step_ms + i64::from(diff % step_ms != 0);
                k.checked_mul(*step_ms)
                    .and_then(|d| d.checked_add(start_ms))
                    .map(|next_ms| Generator::Fixed {
                        next_ms,
                        step_ms: *step_ms,
                    })
            }
            Rule::Calendar { period, .. } => local_of(tz, lo)
                .date()
                .checked_sub_days(Days::new(2))
                .map(|from| Generator::Calendar {
                    k: period.first_index_from(from),
                }),
            Rule::Cron(_) => local_of(tz, lo)
                .checked_sub_signed(gap_margin(schedule, lo))
                .map(|cursor| Generator::Cron { cursor }),
        };
        if let Some(generator) = generator {
            slots.generator = generator;
            slots.lo = lo;
            slots.exhausted = false;
        }
        slots
    }

    fn next_candidate(&mut self) -> Option<Resolved> {
        let schedule = self.schedule;
        match &mut self.generator {
            Generator::Once { done } => {
                if *done {
                    return None;
                }
                *done = true;
                Some(Resolved {
                    instant: schedule.start,
                    shifted: false,
                })
            }
            Generator::Fixed { next_ms, step_ms } => {
                let instant = DateTime::from_timestamp_millis(*next_ms)?;
                *next_ms = next_ms.checked_add(*step_ms).unwrap_or(i64::MAX);
                Some(Resolved {
                    instant,
                    shifted: false,
                })
            }
            Generator::Calendar { k } => {
                let Rule::Calendar { period, time } = &schedule.rule else {
                    return None;
                };
                let date = period.date(*k)?;
                *k += 1;
                resolve(schedule.timezone, date.and_time(*time))
            }
            Generator::Cron { cursor } => {
                let Rule::Cron(expr) = &schedule.rule else {
                    return None;
                };
                let m = expr.next_match(*cursor)?;
                *cursor = m.checked_add_signed(TimeDelta::seconds(1))?;
                resolve(schedule.timezone, m)
            }
        }
    }
}

impl Iterator for Slots<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        loop {
            if let Some(&min) = self.pending.last() {
                if self.exhausted || self.frontier.is_some_and(|f| min <= f) {
                    self.pending.pop();
                    if self.last.is_none_or(|l| min > l) {
                        self.last = Some(min);
                        return Some(min);
                    }
                    continue;
                }
            }
            if self.exhausted {
                return None;
            }
            let Some(Resolved { instant, shifted }) = self.next_candidate() else {
                self.exhausted = true;
                continue;
            };
            if !shifted {
                self.frontier = Some(instant);
                if instant > self.hi {
                    self.exhausted = true;
                    continue;
                }
                if self.pending.is_empty() {
                    if instant >= self.lo && self.last.is_none_or(|l| instant > l) {
                        self.last = Some(instant);
                        return Some(instant);
                    }
                    continue;
                }
            }
            if instant >= self.lo && instant <= self.hi {
                let at = self.pending.partition_point(|&p| p > instant);
                self.pending.insert(at, instant);
            }
        }
    }
}

/// How far before the local time of `t` the cron search must start so as not to miss local
/// times that a spring-forward gap moved to `t` or later. Zero except within one gap width
/// after a forward change of offset (then the width: 1 h for most zones, 24 h for Apia).
/// The previous 26 hours are sampled every 5 hours; zones do not change offset twice in
/// five hours, and no gap is wider than a day.
fn gap_margin(schedule: &Schedule, t: DateTime<Utc>) -> TimeDelta {
    let tz = schedule.timezone;
    let now = offset_at(tz, t);
    let lowest = [1, 6, 11, 16, 21, 26]
        .iter()
        .filter_map(|&h| t.checked_sub_signed(TimeDelta::hours(h)))
        .map(|past| offset_at(tz, past))
        .min()
        .unwrap_or(now);
    if lowest >= now {
        return TimeDelta::zero();
    }
    let width = TimeDelta::seconds(i64::from(now - lowest));
    match t.checked_sub_signed(width) {
        Some(before) if offset_at(tz, before) == now => TimeDelta::zero(),
        _ => width,
    }
}

impl Schedule {
    /// Slots `>= t`, ascending, strictly increasing, never before `start` nor after `end`.
    /// Ignores `max_fires`. Unbounded for recurring schedules (lazy).
    pub fn slots_from(&self, t: DateTime<Utc>) -> Slots<'_> {
        Slots::new(self, t)
    }

    /// The first slot `>= t`.
    pub fn first_at_or_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.slots_from(t).next()
    }

    /// The first slot strictly after `t`: what follows a fire at `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Slots are whole milliseconds, so "> t" is ">= the next millisecond after t".
        let next_ms = t.timestamp_millis().checked_add(1)?;
        self.first_at_or_after(DateTime::from_timestamp_millis(next_ms)?)
    }

    /// The next `count` fires of a scheduler that has fired `fired` times, from `from` on
    /// (slots `>= from`), stopping at `max_fires`. Non-recurring: `[start]` if it has not
    /// fired and `start >= from`, else nothing (a past one-shot still fires once, late, but
    /// that is not "upcoming").
    pub fn upcoming(&self, from: DateTime<Utc>, fired: u64, count: usize) -> Vec<DateTime<Utc>> {
        let limit = self.remaining(fired).min(count as u64) as usize;
        match self.kind {
            ScheduleKind::NonRecurring => {
                if fired == 0 && limit > 0 && self.start >= from {
                    vec![self.start]
                } else {
                    Vec::new()
                }
            }
            ScheduleKind::Recurring => self.slots_from(from).take(limit).collect(),
        }
    }

    /// `next_fire_at` for a scheduler created, updated or resumed at `now` that has fired
    /// `fired` times. Non-recurring: `start` until it has fired, even when `start` is past
    /// (it then fires at once, late, subject to the misfire policy). Recurring: the first slot
    /// `>= now` (a past start is allowed and does not cause catch-up fires), `None` when
    /// `max_fires` is reached or no slot is left.
    pub fn initial_next_fire(&self, now: DateTime<Utc>, fired: u64) -> Option<DateTime<Utc>> {
        if self.remaining(fired) == 0 {
            return None;
        }
        match self.kind {
            ScheduleKind::NonRecurring => (fired == 0).then_some(self.start),
            ScheduleKind::Recurring => self.first_at_or_after(now),
        }
    }

    /// `next_fire_at` after an edit of the timing at `now`, for a scheduler whose stored
    /// `next_fire_at` was `due` and that has fired `fired` times. A slot that was due (at or
    /// before `now`) but not claimed yet is kept when the edited schedule still has it and
    /// fires are left, so an edit that does not move the slots (`end_datetime`, `max_fires`,
    /// an equivalent zone) never drops a fire; otherwise as [`Schedule::initial_next_fire`].
    pub fn next_fire_after_edit(
        &self,
        due: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        fired: u64,
    ) -> Option<DateTime<Utc>> {
        if let Some(t) = due.filter(|t| *t <= now) {
            if self.remaining(fired) > 0 && self.first_at_or_after(t) == Some(t) {
                return Some(t);
            }
        }
        self.initial_next_fire(now, fired)
    }

    /// Fires left before `max_fires` (`u64::MAX` when unlimited).
    pub(crate) fn remaining(&self, fired: u64) -> u64 {
        self.max_fires
            .map_or(u64::MAX, |m| u64::from(m).saturating_sub(fired))
    }

    /// Number of slots in `[a, b]`: arithmetic for fixed units; for calendar units walked
    /// (exact) up to [`EXACT_COUNT_LIMIT`] slots and arithmetic beyond, where a local date a
    /// zone skipped entirely (Apia, 2011-12-30) still counts as one; iteration capped at
    /// [`CRON_COUNT_CAP`] for cron.
    pub(crate) fn count_slots(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> u64 {
        let hi = self.end.map_or(max_instant(), |e| e.min(max_instant()));
        let b = b.min(hi);
        let Some(a) = ceil_ms(a).map(|a| a.max(self.start)) else {
            return 0;
        };
        if a > b {
            return 0;
        }
        match &self.rule {
            Rule::Once => u64::from(self.start >= a && self.start <= b),
            Rule::Fixed { step_ms } => {
                let start = self.start.timestamp_millis();
                let (da, db) = (a.timestamp_millis() - start, b.timestamp_millis() - start);
                let first = da / step_ms + i64::from(da % step_ms != 0);
                let last = db / step_ms;
                u64::try_from(last - first + 1).unwrap_or(0)
            }
            Rule::Calendar { period, time } => {
                let index = |x: DateTime<Utc>| -> i64 {
                    let Some(from) = local_of(self.timezone, x)
                        .date()
                        .checked_sub_days(Days::new(2))
                    else {
                        return 0;
                    };
                    let mut k = period.first_index_from(from);
                    while let Some(date) = period.date(k) {
                        match resolve(self.timezone, date.and_time(*time)) {
                            Some(r) if r.instant < x => k += 1,
                            _ => break,
                        }
                    }
                    k
                };
                let after_b = b + TimeDelta::milliseconds(1);
                let local_slots = u64::try_from(index(after_b) - index(a)).unwrap_or(0);
                // The index difference counts local slots; two of them can resolve to one
                // instant where a zone skipped a whole day (Pacific/Apia, 2011-12-30), and the
                // slot sequence emits that instant once. Walk short ranges so the count matches
                // the fires exactly; past EXACT_COUNT_LIMIT the arithmetic stands (off by at
                // most one per skipped day in the range).
                if local_slots <= EXACT_COUNT_LIMIT {
                    self.slots_from(a).take_while(|s| *s <= b).count() as u64
                } else {
                    local_slots
                }
            }
            Rule::Cron(_) => self
                .slots_from(a)
                .take_while(|s| *s <= b)
                .take(CRON_COUNT_CAP as usize)
                .count() as u64,
        }
    }

    /// The latest `n` slots in `[a, b]`, ascending. Looks back from `b` through windows that
    /// grow fourfold, so the cost follows `n`, not the length of `[a, b]`.
    pub(crate) fn last_slots(
        &self,
        a: DateTime<Utc>,
        b: DateTime<Utc>,
        n: usize,
    ) -> Vec<DateTime<Utc>> {
        if n == 0 || a > b {
            return Vec::new();
        }
        let mut width = TimeDelta::minutes(1);
        loop {
            let from = b.checked_sub_signed(width).map_or(a, |f| f.max(a));
            let mut ring = VecDeque::with_capacity(n);
            for slot in self.slots_from(from) {
                if slot > b {
                    break;
                }
                if ring.len() == n {
                    ring.pop_front();
                }
                ring.push_back(slot);
            }
            if ring.len() == n || from == a {
                return ring.into();
            }
            width = width.checked_mul(4).unwrap_or(TimeDelta::MAX);
        }
    }
}
