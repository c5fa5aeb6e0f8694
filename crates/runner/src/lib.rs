//! The runner (SPEC 6): claims due schedulers from Postgres, records each fire durably, then
//! delivers it to a Kafka topic or a webhook with leases, retries and a fire history, so a fire
//! is never lost and a slot never fires twice.
//!
//! ```text
//! loop:  claim_due (locks due schedulers, inserts their fires leased to us, commits)
//!        lease_available (manual runs, retries whose time came, expired leases)
//!        deliver each fire on its own task, at most `concurrency` at once
//!        record delivered (batched) / retrying / dead
//!        sleep until NOTIFY, the next due instant, or the poll interval
//! ```
//! No row lock or pool connection is held across a network call: the claim commits before
//! any delivery starts, and outcomes are written after the delivery returns.

mod clock;
mod config;
mod envelope;
mod error;
mod kafka;
mod metrics;
pub mod retry;
mod runner;
pub mod webhook;

pub use clock::Clock;
pub use config::{
    default_owner, librdkafka_settings, KafkaConfig, Retention, RetryConfig, RunnerConfig,
};
pub use envelope::{envelope, file_item};
pub use error::RunnerError;
pub use metrics::{Metrics, Target};
pub use runner::Runner;
