//! The scheduler's domain core: validated schedule documents, scheduler ids, and the pure
//! timing engine (SPEC section 5) that computes fire times and misfire plans.
//!
//! Pure by design: no I/O, no clock (every function takes the time it needs), so the runner,
//! the API and `scheduler preview` agree on every instant, and tests can jump through DST
//! changes and month ends without waiting.

mod cron;
mod error;
mod expression;
mod flexible;
mod ids;
pub mod job;
mod local;
mod plan;
mod schedule;
mod slots;

pub use cron::{CronError, CronExpr};
pub use error::ValidationError;
pub use expression::{ExpressionError, RateUnit, ScheduleExpression};
pub use ids::{validate_tenant_id, InvalidSchedulerId, SchedulerId, MAX_TENANT_ID_LEN};
pub use plan::{Plan, PlanInput, PlannedFire, FIRE_ALL_LIMIT};
pub use schedule::{
    Frequency, MisfirePolicy, Schedule, ScheduleKind, StoredTiming, MAX_FLEXIBLE_WINDOW_MINUTES,
};
pub use slots::Slots;
