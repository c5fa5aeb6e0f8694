//! Turning local wall-clock times into instants, with the contract's daylight-saving rules.

use chrono::{DateTime, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{GapInfo, Tz};

/// A local time resolved to an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub instant: DateTime<Utc>,
    /// The local time did not exist (a spring-forward gap) and was moved forward. Such an
    /// instant can land after the instants of local times that come later on the wall clock,
    /// which is why slot iteration buffers shifted candidates (see `slots.rs`).
    pub shifted: bool,
}

/// Offset of `tz` at `instant`, in seconds east of UTC.
pub(crate) fn offset_at(tz: Tz, instant: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&instant.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The wall-clock time in `tz` at `instant`.
pub(crate) fn local_of(tz: Tz, instant: DateTime<Utc>) -> NaiveDateTime {
    let utc = instant.naive_utc();
    // Only fails within a day of the end of chrono's range, far outside any schedule.
    utc.checked_add_signed(TimeDelta::seconds(i64::from(offset_at(tz, instant))))
        .unwrap_or(utc)
}

fn at_offset(local: NaiveDateTime, offset_secs: i32) -> Option<DateTime<Utc>> {
    local
        .checked_sub_signed(TimeDelta::seconds(i64::from(offset_secs)))
        .map(|naive| naive.and_utc())
}

/// Resolves `local` in `tz`: a time that occurs twice (fall back) gives the earlier instant; a
/// time that does not exist (spring forward) is read with the offset in force before the gap,
/// so 02:30 in a one-hour gap at 02:00 becomes 03:30 (and in Lord Howe's 30-minute gap, 02:15
/// becomes 02:45). `None` only for local times at the very edge of chrono's range.
pub(crate) fn resolve(tz: Tz, local: NaiveDateTime) -> Option<Resolved> {
    let offset = match tz.offset_from_local_datetime(&local) {
        chrono::LocalResult::Single(o) => o.fix().local_minus_utc(),
        chrono::LocalResult::Ambiguous(a, b) => {
            // The earlier instant has the larger offset.
            a.fix().local_minus_utc().max(b.fix().local_minus_utc())
        }
        chrono::LocalResult::None => {
            let before_gap = GapInfo::new(&local, &tz)
                .and_then(|gap| gap.begin)
                .map(|(_, offset)| offset.fix().local_minus_utc())
                // chrono-tz always knows the span before a gap; this fallback only keeps the
                // function total.
                .unwrap_or_else(|| offset_at(tz, local.and_utc()));
            return at_offset(local, before_gap).map(|instant| Resolved {
                instant,
                shifted: true,
            });
        }
    };
    at_offset(local, offset).map(|instant| Resolved {
        instant,
        shifted: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn gaps_and_overlaps() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let r = resolve(ny, naive("2024-03-10 02:30:00")).unwrap();
        assert_eq!(r.instant, utc("2024-03-10T07:30:00Z"));
        assert!(r.shifted);
        let r = resolve(ny, naive("2024-11-03 01:30:00")).unwrap();
        assert_eq!(r.instant, utc("2024-11-03T05:30:00Z"));
        assert!(!r.shifted);

        let lh: Tz = "Australia/Lord_Howe".parse().unwrap();
        // DST starts 2024-10-06 02:00 (+10:30 -> +11:00).
        let r = resolve(lh, naive("2024-10-06 02:15:00")).unwrap();
        assert_eq!(r.instant, utc("2024-10-05T15:45:00Z"));
        assert!(r.shifted);
        // DST ends 2024-04-07 02:00 -> 01:30; 01:45 happens twice, first at +11:00.
        let r = resolve(lh, naive("2024-04-07 01:45:00")).unwrap();
        assert_eq!(r.instant, utc("2024-04-06T14:45:00Z"));

        // Apia skipped 2011-12-30 entirely: the whole day resolves with the old -10:00.
        let apia: Tz = "Pacific/Apia".parse().unwrap();
        let r = resolve(apia, naive("2011-12-30 12:00:00")).unwrap();
        assert_eq!(r.instant, utc("2011-12-30T22:00:00Z"));
        assert_eq!(
            resolve(apia, naive("2011-12-31 12:00:00")).unwrap().instant,
            r.instant
        );
    }

    #[test]
    fn local_of_round_trips() {
        let hk: Tz = "Asia/Hong_Kong".parse().unwrap();
        assert_eq!(
            local_of(hk, utc("1969-12-31T16:00:00Z")),
            naive("1970-01-01 00:00:00")
        );
    }
}
