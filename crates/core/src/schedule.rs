//! The timing part of a scheduler document, validated once.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::cron::CronExpr;
use crate::error::ValidationError;
use crate::expression::ScheduleExpression;
use crate::local::{local_of, resolve};

/// `type` of a scheduler document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    Recurring,
    NonRecurring,
}

impl ScheduleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recurring => "recurring",
            Self::NonRecurring => "non_recurring",
        }
    }
}

/// How often a recurring schedule fires: `trigger_frequency_unit` with its
/// `trigger_frequency_value` (1..=1_000_000), or a cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frequency {
    Minutes(u32),
    Hours(u32),
    Days(u32),
    Weeks(u32),
    Months(u32),
    Years(u32),
    Cron(CronExpr),
}

impl Frequency {
    /// The `trigger_frequency_unit` spelling.
    pub fn unit(&self) -> &'static str {
        match self {
            Self::Minutes(_) => "minutes",
            Self::Hours(_) => "hours",
            Self::Days(_) => "days",
            Self::Weeks(_) => "weeks",
            Self::Months(_) => "months",
            Self::Years(_) => "years",
            Self::Cron(_) => "cron",
        }
    }

    /// `trigger_frequency_value`; `None` for cron, where the value is ignored.
    pub fn value(&self) -> Option<u32> {
        match self {
            Self::Minutes(v)
            | Self::Hours(v)
            | Self::Days(v)
            | Self::Weeks(v)
            | Self::Months(v)
            | Self::Years(v) => Some(*v),
            Self::Cron(_) => None,
        }
    }

    pub fn cron(&self) -> Option<&CronExpr> {
        match self {
            Self::Cron(c) => Some(c),
            _ => None,
        }
    }
}

/// What to do when the runner finds a slot more than the grace period in the past
/// (downtime, a long pause of the runners, a non-recurring scheduler created in the past).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MisfirePolicy {
    /// One late fire for all the missed slots, at the most recent one, with the number of
    /// slots it stands in for recorded as skipped. The default: consumers hear that time
    /// passed without being flooded.
    #[default]
    FireOnce,
    /// No fire for the missed slots; carry on from the next future slot.
    Skip,
    /// Every missed slot fires (at most 100, the most recent ones), all marked late.
    FireAll,
}

impl MisfirePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FireOnce => "fire_once",
            Self::Skip => "skip",
            Self::FireAll => "fire_all",
        }
    }
}

impl fmt::Display for MisfirePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const MISFIRE_MESSAGE: &str = "misfire_policy must be one of: fire_once, skip, fire_all";

impl FromStr for MisfirePolicy {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fire_once" => Ok(Self::FireOnce),
            "skip" => Ok(Self::Skip),
            "fire_all" => Ok(Self::FireAll),
            _ => Err(ValidationError::new("misfire_policy", MISFIRE_MESSAGE)),
        }
    }
}

/// The precomputed rule that generates slots; see `slots.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Non-recurring: the single slot is `start`.
    Once,
    /// minutes / hours: `start + k * step`.
    Fixed {
        step_ms: i64,
    },
    /// days / weeks / months / years: local date of index k at local time `time`.
    Calendar {
        period: Period,
        time: NaiveTime,
    },
    Cron(CronExpr),
}

/// Local date of slot index k (k >= 0), in a form that makes "which k is near date D"
/// arithmetic rather than a walk from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    /// Date = day number `anchor + k * step` (days since 0001-01-01, chrono's CE count).
    Days { anchor: i64, step: i64 },
    /// Month number `anchor + k * step` (year * 12 + month0), on `day` clamped to the month.
    Months { anchor: i64, step: i64, day: u32 },
    /// Year `anchor + k * step`, on `month`/`day` (Feb 29 -> Feb 28 in common years).
    Years {
        anchor: i64,
        step: i64,
        month: u32,
        day: u32,
    },
}

/// A validated schedule: everything needed to compute fire times (SPEC 5), nothing else.
///
/// Built from a scheduler document with [`Schedule::from_json`]. Instants are kept at
/// millisecond precision, like the documents. The rules, in brief:
///
/// - minutes / hours are fixed durations from `start` (so "every 24 hours" drifts by an hour
///   in local time across a DST change; use days for wall-clock times).
/// - days / weeks / months / years count on the local calendar of `timezone`, from the local
///   date of `start`, at the local time of day of `trigger_time` (else of `start`). Months
///   keep the start's day of month, clamped to short months without drifting; years use the
///   month and day of `triger_month_and_day` (else the start's), Feb 29 falling on Feb 28 in
///   common years.
/// - A local time that does not exist (spring forward) is read with the offset in force
///   before the gap, so it fires as much later as the gap is wide (02:30 -> 03:30); a local
///   time that occurs twice fires once, at its first occurrence. The resulting sequence is
///   strictly increasing: instants that two local times map to are fired once.
/// - The first slot is the first one at or after `start`; none is after `end_datetime` (which
///   is inclusive) or after year 9999. `max_fires` limits [`Schedule::upcoming`],
///   [`Schedule::initial_next_fire`] and [`Schedule::plan`], not [`Schedule::slots_from`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub(crate) kind: ScheduleKind,
    pub(crate) frequency: Option<Frequency>,
    pub(crate) timezone: Tz,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: Option<DateTime<Utc>>,
    pub(crate) max_fires: Option<u32>,
    pub(crate) misfire_policy: MisfirePolicy,
    pub(crate) rule: Rule,
    /// `schedule_expression` as given, when the timing came from one.
    pub(crate) expression: Option<String>,
    /// `flexible_time_window_minutes`: 0 (off) to 1,440.
    pub(crate) flexible_window_minutes: u32,
}

const TYPE_MESSAGE: &str = "type must be one of: recurring, non_recurring";
const UNIT_MESSAGE: &str =
    "trigger_frequency_unit must be one of: minutes, hours, days, weeks, months, years, cron";
const VALUE_MESSAGE: &str = "trigger_frequency_value must be an integer from 1 to 1000000";
const MAX_VALUE: u32 = 1_000_000;
/// Largest `flexible_time_window_minutes` (a day, as in EventBridge).
pub const MAX_FLEXIBLE_WINDOW_MINUTES: u32 = 1_440;
const WINDOW_MESSAGE: &str = "flexible_time_window_minutes must be an integer from 0 (off) to 1440";
/// The fields a `schedule_expression` stands instead of (SPEC 5: never beside them).
const REPLACED_BY_EXPRESSION: [&str; 5] = [
    "trigger_frequency_unit",
    "trigger_frequency_value",
    "cron_expression",
    "trigger_time",
    "triger_month_and_day",
];

/// One timing field as the rules see it, whatever it was read from: a JSON document (a
/// request body, a stored document merged with an update) or a stored row's typed columns.
#[derive(Debug, Clone, Copy)]
enum Field<'a> {
    Str(&'a str),
    /// A JSON number (integral floats such as `30.0` count as integers).
    Num(&'a serde_json::Number),
    /// A typed integer column.
    Int(i64),
    /// A typed instant column.
    Time(DateTime<Utc>),
    /// Any other JSON value (bool, array, object).
    Other,
}

/// Where the rules read the timing fields from.
trait Fields {
    /// The field, or `None` when it is absent or null.
    fn field(&self, name: &str) -> Option<Field<'_>>;
}

impl Fields for Map<String, Value> {
    fn field(&self, name: &str) -> Option<Field<'_>> {
        Some(match Map::get(self, name)? {
            Value::Null => return None,
            Value::String(s) => Field::Str(s),
            Value::Number(n) => Field::Num(n),
            _ => Field::Other,
        })
    }
}

/// The timing columns of a stored scheduler, typed as the row holds them, so the runner
/// plans a fire from the row without building and parsing a JSON document. They went through
/// [`Schedule::from_json`] when they were written; [`Schedule::from_stored`] applies the very
/// same rules again (a row changed behind the API's back is refused the same way).
#[derive(Debug, Clone, Copy)]
pub struct StoredTiming<'a> {
    /// `type`.
    pub kind: &'a str,
    pub one_time_schedule_type: Option<&'a str>,
    pub trigger_frequency_unit: Option<&'a str>,
    pub trigger_frequency_value: Option<i64>,
    pub trigger_time: Option<DateTime<Utc>>,
    pub triger_month_and_day: Option<DateTime<Utc>>,
    pub start_datetime: DateTime<Utc>,
    pub timezone: &'a str,
    pub cron_expression: Option<&'a str>,
    pub schedule_expression: Option<&'a str>,
    pub flexible_time_window_minutes: i64,
    pub end_datetime: Option<DateTime<Utc>>,
    pub max_fires: Option<i64>,
    pub misfire_policy: &'a str,
}

impl<'a> Fields for StoredTiming<'a> {
    fn field(&self, name: &str) -> Option<Field<'_>> {
        let time = |t: Option<DateTime<Utc>>| t.map(Field::Time);
        let text = |t: Option<&'a str>| t.map(Field::Str);
        match name {
            "type" => Some(Field::Str(self.kind)),
            "one_time_schedule_type" => text(self.one_time_schedule_type),
            "trigger_frequency_unit" => text(self.trigger_frequency_unit),
            "trigger_frequency_value" => self.trigger_frequency_value.map(Field::Int),
            "trigger_time" => time(self.trigger_time),
            "triger_month_and_day" => time(self.triger_month_and_day),
            "start_datetime" => Some(Field::Time(self.start_datetime)),
            "timezone" => Some(Field::Str(self.timezone)),
            "cron_expression" => text(self.cron_expression),
            "schedule_expression" => text(self.schedule_expression),
            "flexible_time_window_minutes" => Some(Field::Int(self.flexible_time_window_minutes)),
            "end_datetime" => time(self.end_datetime),
            "max_fires" => self.max_fires.map(Field::Int),
            "misfire_policy" => Some(Field::Str(self.misfire_policy)),
            _ => None,
        }
    }
}

fn rfc3339_message(name: &str, example: &str) -> ValidationError {
    ValidationError::new(
        name,
        format!("{name} must be an RFC 3339 date-time (e.g. {example})"),
    )
}

/// Truncates to whole milliseconds (the documents' precision).
pub(crate) fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// An optional RFC 3339 field. An empty string counts as absent: form-built clients send
/// `""` for fields the user left blank.
fn datetime_field(
    doc: &(impl Fields + ?Sized),
    name: &str,
    example: &str,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    match doc.field(name) {
        None => Ok(None),
        Some(Field::Str("")) => Ok(None),
        Some(Field::Str(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(to_millis(t.to_utc())))
            .map_err(|_| rfc3339_message(name, example)),
        Some(Field::Time(t)) => Ok(Some(to_millis(t))),
        Some(_) => Err(rfc3339_message(name, example)),
    }
}

/// Integers (JSON integers, integral floats such as `30.0`, typed integers) within `lo..=hi`.
fn integer_field(v: Field<'_>, lo: u64, hi: u64) -> Option<u64> {
    let i = match v {
        Field::Int(i) => u64::try_from(i).ok()?,
        Field::Num(n) => {
            if let Some(u) = n.as_u64() {
                u
            } else if n.is_i64() {
                return None; // negative
            } else {
                let f = n.as_f64()?;
                if !(f.is_finite() && f.fract() == 0.0 && f >= 0.0 && f <= hi as f64) {
                    return None;
                }
                f as u64
            }
        }
        _ => return None,
    };
    (lo..=hi).contains(&i).then_some(i)
}

fn string_enum<'a>(
    doc: &'a (impl Fields + ?Sized),
    name: &str,
    message: &str,
) -> Result<Option<&'a str>, ValidationError> {
    match doc.field(name) {
        None => Ok(None),
        Some(Field::Str(s)) => Ok(Some(s)),
        Some(_) => Err(ValidationError::new(name, message)),
    }
}

impl Schedule {
    /// Builds a validated schedule from the timing fields of a scheduler document (the create
    /// body, or a stored document merged with an update). Other fields are ignored, unknown
    /// fields too, and JSON `null` counts as absent. The first problem found is returned,
    /// with a message that names the field and what it accepts.
    ///
    /// Fields that only describe a recurrence (`trigger_frequency_*`, `trigger_time`,
    /// `triger_month_and_day`, `cron_expression`) are not checked for `non_recurring`
    /// documents: the seed's documents keep stale ones there. `start_datetime` falls back to
    /// `start_date` (the three start fields carry the same instant; `start_time` is not used
    /// because old documents hold a bare time of day in it).
    pub fn from_json(doc: &Map<String, Value>) -> Result<Schedule, ValidationError> {
        Self::from_fields(doc)
    }

    /// The schedule of a stored row, from its typed columns: the rules of
    /// [`Schedule::from_json`] without a JSON document in between.
    pub fn from_stored(row: &StoredTiming<'_>) -> Result<Schedule, ValidationError> {
        Self::from_fields(row)
    }

    fn from_fields(doc: &(impl Fields + ?Sized)) -> Result<Schedule, ValidationError> {
        let given_kind = match string_enum(doc, "type", TYPE_MESSAGE)? {
            None => None,
            Some("recurring") => Some(ScheduleKind::Recurring),
            Some("non_recurring") => Some(ScheduleKind::NonRecurring),
            Some(_) => return Err(ValidationError::new("type", TYPE_MESSAGE)),
        };
        let expression = parse_expression(doc)?;
        let kind = match (&expression, given_kind) {
            (None, kind) => kind.unwrap_or(ScheduleKind::Recurring),
            (Some((text, parsed)), kind) => {
                let implied = match parsed {
                    ScheduleExpression::At(_) => ScheduleKind::NonRecurring,
                    _ => ScheduleKind::Recurring,
                };
                if kind.is_some_and(|k| k != implied) {
                    return Err(ValidationError::new(
                        "type",
                        format!(
                            "type {} does not match schedule_expression {text}, which is {} \
                             (give type {} or leave it out)",
                            kind.map_or("", ScheduleKind::as_str),
                            if implied == ScheduleKind::Recurring {
                                "recurring"
                            } else {
                                "a one-time schedule"
                            },
                            implied.as_str()
                        ),
                    ));
                }
                implied
            }
        };
        if kind == ScheduleKind::NonRecurring {
            let msg = "one_time_schedule_type must be one of: exact";
            match string_enum(doc, "one_time_schedule_type", msg)? {
                None | Some("exact") => {}
                Some(_) => return Err(ValidationError::new("one_time_schedule_type", msg)),
            }
        }

        let tz_msg = "timezone must be an IANA time zone name (e.g. UTC, Asia/Hong_Kong)";
        let timezone = match string_enum(doc, "timezone", tz_msg)? {
            None => Tz::UTC,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| ValidationError::new("timezone", tz_msg))?,
        };

        let frequency = match (kind, &expression) {
            (ScheduleKind::NonRecurring, _) => None,
            (ScheduleKind::Recurring, None) => Some(parse_frequency(doc)?),
            (ScheduleKind::Recurring, Some(_)) => None,
        };

        let example = "2024-09-11T14:35:00.000Z";
        // at(...) carries its own instant; a start given beside it (a stored document's, on
        // update) is replaced by it.
        let at_start = match &expression {
            Some((text, ScheduleExpression::At(local))) => Some(
                resolve(timezone, *local)
                    .map(|r| r.instant)
                    .ok_or_else(|| {
                        ValidationError::new(
                            "schedule_expression",
                            format!("schedule_expression {text} is out of range"),
                        )
                    })?,
            ),
            _ => None,
        };
        let start = match doc.field("start_datetime") {
            _ if at_start.is_some() => at_start,
            Some(Field::Str(s)) if !s.is_empty() => datetime_field(doc, "start_datetime", example)?,
            Some(Field::Time(_)) => datetime_field(doc, "start_datetime", example)?,
            Some(Field::Str(_)) | None => datetime_field(doc, "start_date", example)?,
            Some(_) => return Err(rfc3339_message("start_datetime", example)),
        }
        .ok_or_else(|| ValidationError::new("start_datetime", "start_datetime is required"))?;

        let (trigger_time, month_day) = match kind {
            ScheduleKind::NonRecurring => (None, None),
            ScheduleKind::Recurring if expression.is_some() => (None, None),
            ScheduleKind::Recurring => {
                let example = "1969-12-31T16:00:00.000Z";
                let time = datetime_field(doc, "trigger_time", example)?
                    .map(|t| local_of(timezone, t).time());
                let day = datetime_field(doc, "triger_month_and_day", example)?.map(|t| {
                    let local = local_of(timezone, t);
                    (local.month(), local.day())
                });
                (time, day)
            }
        };

        let end = datetime_field(doc, "end_datetime", example)?;
        if let Some(end) = end {
            if end <= start {
                return Err(ValidationError::new(
                    "end_datetime",
                    "end_datetime must be after start_datetime",
                ));
            }
        }

        let max_fires = match doc.field("max_fires") {
            None => None,
            Some(v) => Some(
                integer_field(v, 1, u64::from(u32::MAX))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        ValidationError::new(
                            "max_fires",
                            "max_fires must be an integer from 1 to 4294967295",
                        )
                    })?,
            ),
        };

        let misfire_policy = match string_enum(doc, "misfire_policy", MISFIRE_MESSAGE)? {
            None => MisfirePolicy::default(),
            Some(s) => s.parse()?,
        };

        let flexible_window_minutes = match doc.field("flexible_time_window_minutes") {
            None => 0,
            Some(v) => integer_field(v, 0, u64::from(MAX_FLEXIBLE_WINDOW_MINUTES))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    ValidationError::new("flexible_time_window_minutes", WINDOW_MESSAGE)
                })?,
        };

        let rule = match &expression {
            None => build_rule(frequency.as_ref(), timezone, start, trigger_time, month_day),
            Some((_, ScheduleExpression::At(_))) => Rule::Once,
            Some((_, ScheduleExpression::Rate { value, unit })) => Rule::Fixed {
                step_ms: i64::from(*value) * unit.millis(),
            },
            Some((_, ScheduleExpression::Cron(c))) => Rule::Cron(c.clone()),
        };
        Ok(Schedule {
            kind,
            frequency,
            timezone,
            start,
            end,
            max_fires,
            misfire_policy,
            rule,
            expression: expression.map(|(text, _)| text),
            flexible_window_minutes,
        })
    }

    /// `schedule_expression` as given, when the timing comes from one (then
    /// [`Schedule::frequency`] is `None`).
    pub fn expression(&self) -> Option<&str> {
        self.expression.as_deref()
    }

    /// `flexible_time_window_minutes` (0 = off).
    pub fn flexible_window_minutes(&self) -> u32 {
        self.flexible_window_minutes
    }

    pub fn kind(&self) -> ScheduleKind {
        self.kind
    }

    /// `None` for non-recurring schedules.
    pub fn frequency(&self) -> Option<&Frequency> {
        self.frequency.as_ref()
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.end
    }

    pub fn max_fires(&self) -> Option<u32> {
        self.max_fires
    }

    pub fn misfire_policy(&self) -> MisfirePolicy {
        self.misfire_policy
    }
}

/// `schedule_expression`, when given (a string other than `""`), with its parsed form. Refused
/// beside the frequency and cron fields it replaces.
fn parse_expression(
    doc: &(impl Fields + ?Sized),
) -> Result<Option<(String, ScheduleExpression)>, ValidationError> {
    let name = "schedule_expression";
    let text = match doc.field(name) {
        None => return Ok(None),
        Some(Field::Str("")) => return Ok(None),
        Some(Field::Str(s)) => s,
        Some(_) => {
            return Err(ValidationError::new(
                name,
                "schedule_expression must be a string such as \"rate(5 minutes)\", \
                 \"cron(0 12 ? * MON-FRI *)\" or \"at(2027-03-01T09:00:00)\"",
            ))
        }
    };
    for other in REPLACED_BY_EXPRESSION {
        let given = match doc.field(other) {
            None => false,
            Some(Field::Str(s)) => !s.is_empty(),
            Some(_) => true,
        };
        if given {
            return Err(ValidationError::new(
                name,
                format!(
                    "schedule_expression and {other} cannot both be given: the expression \
                     stands instead of trigger_frequency_unit, trigger_frequency_value, \
                     cron_expression, trigger_time and triger_month_and_day"
                ),
            ));
        }
    }
    let parsed = ScheduleExpression::parse(text)
        .map_err(|e| ValidationError::new(name, format!("schedule_expression is invalid {e}")))?;
    Ok(Some((text.to_owned(), parsed)))
}

fn parse_frequency(doc: &(impl Fields + ?Sized)) -> Result<Frequency, ValidationError> {
    let unit = string_enum(doc, "trigger_frequency_unit", UNIT_MESSAGE)?.ok_or_else(|| {
        ValidationError::new(
            "trigger_frequency_unit",
            "trigger_frequency_unit is required",
        )
    })?;
    if !matches!(
        unit,
        "minutes" | "hours" | "days" | "weeks" | "months" | "years" | "cron"
    ) {
        return Err(ValidationError::new("trigger_frequency_unit", UNIT_MESSAGE));
    }
    if unit == "cron" {
        let expr = match doc.field("cron_expression") {
            None => {
                return Err(ValidationError::new(
                    "cron_expression",
                    "cron_expression is required when trigger_frequency_unit is cron",
                ))
            }
            Some(Field::Str(s)) => s,
            Some(_) => {
                return Err(ValidationError::new(
                    "cron_expression",
                    "cron_expression must be a string (e.g. \"0 9 * * MON-FRI\")",
                ))
            }
        };
        return CronExpr::parse(expr).map(Frequency::Cron).map_err(|e| {
            ValidationError::new(
                "cron_expression",
                format!("cron_expression is invalid: {e}"),
            )
        });
    }
    let value = match doc.field("trigger_frequency_value") {
        None => {
            return Err(ValidationError::new(
                "trigger_frequency_value",
                "trigger_frequency_value is required",
            ))
        }
        Some(v) => integer_field(v, 1, u64::from(MAX_VALUE))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| ValidationError::new("trigger_frequency_value", VALUE_MESSAGE))?,
    };
    Ok(match unit {
        "minutes" => Frequency::Minutes(value),
        "hours" => Frequency::Hours(value),
        "days" => Frequency::Days(value),
        "weeks" => Frequency::Weeks(value),
        "months" => Frequency::Months(value),
        _ => Frequency::Years(value),
    })
}

fn build_rule(
    frequency: Option<&Frequency>,
    tz: Tz,
    start: DateTime<Utc>,
    trigger_time: Option<NaiveTime>,
    month_day: Option<(u32, u32)>,
) -> Rule {
    let local_start = local_of(tz, start);
    let date: NaiveDate = local_start.date();
    let time = trigger_time.unwrap_or_else(|| local_start.time());
    // Offsets are whole seconds, so local times keep the instants' millisecond precision;
    // drop anything finer defensively so slots stay on whole milliseconds.
    let time = time
        .with_nanosecond(time.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(time);
    let calendar = |period| Rule::Calendar { period, time };
    match frequency {
        None => Rule::Once,
        Some(Frequency::Minutes(v)) => Rule::Fixed {
            step_ms: i64::from(*v) * 60_000,
        },
        Some(Frequency::Hours(v)) => Rule::Fixed {
            step_ms: i64::from(*v) * 3_600_000,
        },
        Some(Frequency::Days(v)) => calendar(Period::Days {
            anchor: i64::from(date.num_days_from_ce()),
            step: i64::from(*v),
        }),
        Some(Frequency::Weeks(v)) => calendar(Period::Days {
            anchor: i64::from(date.num_days_from_ce()),
            step: 7 * i64::from(*v),
        }),
        Some(Frequency::Months(v)) => calendar(Period::Months {
            anchor: i64::from(date.year()) * 12 + i64::from(date.month0()),
            step: i64::from(*v),
            day: date.day(),
        }),
        Some(Frequency::Years(v)) => {
            let (month, day) = month_day.unwrap_or((date.month(), date.day()));
            calendar(Period::Years {
                anchor: i64::from(date.year()),
                step: i64::from(*v),
                month,
                day,
            })
        }
        Some(Frequency::Cron(c)) => Rule::Cron(c.clone()),
    }
}
