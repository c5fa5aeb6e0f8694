//! The runner's Prometheus metrics (SPEC 9). Cheap to clone: every handle shares its values.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Target {
    Kafka,
    Webhook,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Kafka => "kafka",
            Target::Webhook => "webhook",
        }
    }
}

// By hand: the derive would write the variant names as they are ("Kafka").
impl EncodeLabelValue for Target {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub target: Target,
}

type HistogramFamily = Family<TargetLabels, Histogram, fn() -> Histogram>;

#[derive(Clone)]
pub struct Metrics {
    pub claimed: Family<TargetLabels, Counter>,
    pub delivered: Family<TargetLabels, Counter>,
    pub retried: Family<TargetLabels, Counter>,
    pub dead: Family<TargetLabels, Counter>,
    /// `scheduled_for` to the broker's ack or the 2xx answer.
    pub lag: HistogramFamily,
    /// One attempt, request to answer.
    pub duration: HistogramFamily,
    /// Finished fires removed by retention.
    pub pruned: Counter,
    /// Due schedulers locked by one claim that found any (the claim's batch size).
    pub claim_batch: Histogram,
    /// Fires a claim created `pending` because their flexible window puts delivery later; they
    /// count in `claimed` when they are first leased.
    pub deferred: Counter,
    /// How long the oldest due work (a scheduler's `next_fire_at`, a fire's `available_at`)
    /// has been waiting, at this runner's last heartbeat: 0 while runners keep up.
    pub due_behind: Gauge<f64, std::sync::atomic::AtomicU64>,
}

fn lag_histogram() -> Histogram {
    Histogram::new([
        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0,
    ])
}

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            claimed: Family::default(),
            delivered: Family::default(),
            retried: Family::default(),
            dead: Family::default(),
            lag: Family::new_with_constructor(lag_histogram),
            duration: Family::new_with_constructor(duration_histogram),
            pruned: Counter::default(),
            claim_batch: Histogram::new([
                1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
            ]),
            deferred: Counter::default(),
            due_behind: Gauge::default(),
        }
    }
}

impl Metrics {
    /// Adds the runner's metrics to `registry`, named `scheduler_fires_*` and
    /// `scheduler_fire_*`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("scheduler");
        r.register(
            "fires_claimed",
            "Fires created by the runner's claims, by target",
            self.claimed.clone(),
        );
        r.register(
            "fires_delivered",
            "Fires delivered (broker ack or 2xx), by target",
            self.delivered.clone(),
        );
        r.register(
            "fires_retried",
            "Failed delivery attempts that will be retried, by target",
            self.retried.clone(),
        );
        r.register(
            "fires_dead",
            "Fires given up on (non-retryable failure, attempts or age exhausted), by target",
            self.dead.clone(),
        );
        r.register(
            "fire_lag_seconds",
            "Time from a fire's scheduled_for to its delivery",
            self.lag.clone(),
        );
        r.register(
            "fire_delivery_duration_seconds",
            "Duration of one delivery attempt",
            self.duration.clone(),
        );
        r.register(
            "fires_pruned",
            "Finished fires removed from the history by retention",
            self.pruned.clone(),
        );
        r.register(
            "claim_batch_size",
            "Due schedulers locked by one claim (claims that found none are not counted)",
            self.claim_batch.clone(),
        );
        r.register(
            "fires_deferred",
            "Fires created pending by a claim because their flexible time window delivers them later",
            self.deferred.clone(),
        );
        r.register(
            "due_behind_seconds",
            "Age of the oldest due scheduler or deliverable fire not yet taken, at the last heartbeat",
            self.due_behind.clone(),
        );
    }

    pub fn inc(family: &Family<TargetLabels, Counter>, target: Target) {
        family.get_or_create(&TargetLabels { target }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        let m = Metrics::default();
        let mut registry = Registry::default();
        m.register(&mut registry);
        Metrics::inc(&m.delivered, Target::Kafka);
        Metrics::inc(&m.dead, Target::Webhook);
        m.lag
            .get_or_create(&TargetLabels {
                target: Target::Kafka,
            })
            .observe(0.2);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"scheduler_fires_delivered_total{target="kafka"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"scheduler_fires_dead_total{target="webhook"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"scheduler_fire_lag_seconds_bucket{le="0.25",target="kafka"} 1"#),
            "{text}"
        );
    }
}
