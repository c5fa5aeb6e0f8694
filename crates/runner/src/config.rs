//! The runner's configuration: one struct, checked once by [`crate::Runner::new`].

use std::time::Duration;

pub use scheduler_store::fires::Retention;

/// How a failed delivery is retried (SPEC 6). A job's `retry` overrides the two limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in all, the first one included (default 8).
    pub max_attempts: u32,
    /// How long after the fire was created it may still be retried (default 24 h).
    pub max_age: Duration,
    /// The first backoff ceiling (default 1 s); it doubles with each attempt...
    pub base: Duration,
    /// ...up to this (default 10 min). The delay is uniform in `0..=ceiling` (full jitter).
    pub cap: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            max_age: Duration::from_secs(24 * 3600),
            base: Duration::from_secs(1),
            cap: Duration::from_secs(600),
        }
    }
}

/// Where Kafka jobs are produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `bootstrap.servers` (`KAFKA_BROKERS`).
    pub brokers: String,
    /// Further librdkafka properties (`KAFKA_*` passed through, see [`librdkafka_settings`]),
    /// applied over the runner's defaults. `enable.idempotence` and `acks` are always set to
    /// `true` and `all`: the delivery guarantee depends on them.
    pub settings: Vec<(String, String)>,
    /// `message.timeout.ms` unless `settings` sets it (default 30 s): how long one produce may
    /// wait for the broker's acknowledgement before the attempt counts as failed.
    pub message_timeout: Duration,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            settings: Vec::new(),
            message_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Names this runner's leases. Default: hostname, pid and a random suffix, so two runners
    /// (or one restarted in the same pod) never share an owner.
    pub owner: String,
    /// Most schedulers (and fires) taken in one claim (default 500).
    pub batch_size: u32,
    /// Most deliveries in flight at once (default 256).
    pub concurrency: usize,
    /// Claim loops sharing those deliveries (default 2): one claims the next batch while
    /// another waits for free delivery slots.
    pub claimers: usize,
    /// Longest wait between two looks at the database when nothing wakes the runner (default
    /// 1 s).
    pub poll_interval: Duration,
    /// How long a fire taken for delivery stays this runner's (default 30 s). Leases of fires
    /// still in flight are renewed every third of it; a runner that dies lets them expire.
    pub lease: Duration,
    /// How late a slot may be planned and still count as on time (default 60 s).
    pub misfire_grace: Duration,
    /// Deliver webhooks to loopback, private and other non-public addresses (default false).
    pub webhook_allow_private: bool,
    /// Also produce dead fires here, when set (and Kafka is configured).
    pub dead_letter_topic: Option<String>,
    pub retry: RetryConfig,
    /// None: Kafka jobs fail (and are retried) with "Kafka is not configured".
    pub kafka: Option<KafkaConfig>,
    /// The whole of a stopping runner's shutdown (default 20 s, inside Kubernetes' default
    /// 30 s grace period): in-flight deliveries get it less a reserve (a fifth, 0.5 to 5 s) in
    /// which outcomes are written and the leases still held are given back; `Runner::run`
    /// returns within it.
    pub shutdown_deadline: Duration,
    /// How long finished fires are kept (`FIRE_RETENTION`, `DEAD_FIRE_RETENTION`).
    pub retention: Retention,
    /// How often the runner looks for fires past their retention (default 10 s).
    pub prune_interval: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            owner: default_owner(),
            batch_size: 500,
            concurrency: 256,
            claimers: 2,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            misfire_grace: Duration::from_secs(60),
            webhook_allow_private: false,
            dead_letter_topic: None,
            retry: RetryConfig::default(),
            kafka: None,
            shutdown_deadline: Duration::from_secs(20),
            retention: Retention::default(),
            prune_interval: Duration::from_secs(10),
        }
    }
}

impl RunnerConfig {
    /// Checks the values; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |d: Duration, name: &str| {
            if d.is_zero() {
                Err(format!("{name} must be greater than zero"))
            } else {
                Ok(())
            }
        };
        if self.owner.trim().is_empty() {
            return Err("runner owner id must not be empty".into());
        }
        if self.batch_size == 0 || self.batch_size > 10_000 {
            return Err("runner batch size must be from 1 to 10000".into());
        }
        if self.concurrency == 0 || self.concurrency > 100_000 {
            return Err("runner concurrency must be from 1 to 100000".into());
        }
        if self.claimers == 0 || self.claimers > 16 {
            return Err("runner claimers must be from 1 to 16".into());
        }
        positive(self.poll_interval, "runner poll interval")?;
        if self.lease < Duration::from_secs(1) {
            return Err("runner lease must be at least 1 s".into());
        }
        positive(self.shutdown_deadline, "runner shutdown deadline")?;
        positive(self.prune_interval, "runner prune interval")?;
        for (d, name) in [
            (self.retention.finished, "FIRE_RETENTION"),
            (self.retention.dead, "DEAD_FIRE_RETENTION"),
        ] {
            if d < chrono::TimeDelta::minutes(1) || d > chrono::TimeDelta::days(3650) {
                return Err(format!("{name} must be from 1 minute to 3650 days"));
            }
        }
        if self.retry.max_attempts == 0 {
            return Err("retry max_attempts must be at least 1".into());
        }
        positive(self.retry.max_age, "retry max_age")?;
        positive(self.retry.base, "retry base")?;
        if self.retry.cap < self.retry.base {
            return Err("retry cap must be at least the retry base".into());
        }
        if let Some(k) = &self.kafka {
            if k.brokers.trim().is_empty() {
                return Err("KAFKA_BROKERS must not be empty".into());
            }
            positive(k.message_timeout, "Kafka message timeout")?;
        }
        if let Some(t) = &self.dead_letter_topic {
            if t.trim().is_empty() {
                return Err("DEAD_LETTER_TOPIC must not be empty when set".into());
            }
            if self.kafka.is_none() {
                return Err("DEAD_LETTER_TOPIC needs KAFKA_BROKERS".into());
            }
        }
        Ok(())
    }
}

/// `hostname-pid-random`.
pub fn default_owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "runner".to_owned());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// The librdkafka properties among environment variables: `KAFKA_SASL_MECHANISM=PLAIN`
/// becomes `sasl.mechanism=PLAIN`. `KAFKA_BROKERS` is not one of them (it is
/// [`KafkaConfig::brokers`]).
pub fn librdkafka_settings<I>(vars: I) -> Vec<(String, String)>
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut out: Vec<(String, String)> = vars
        .into_iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix("KAFKA_")?;
            if rest.is_empty() || rest == "BROKERS" {
                return None;
            }
            Some((rest.to_ascii_lowercase().replace('_', "."), v))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_as_documented() {
        let c = RunnerConfig::default();
        c.validate().unwrap();
        assert_eq!((c.batch_size, c.concurrency), (500, 256));
        assert_eq!(c.retry.max_attempts, 8);
        assert!(c.owner.contains(&std::process::id().to_string()));
        assert_ne!(default_owner(), default_owner());
    }

    #[test]
    fn kafka_passthrough() {
        let vars = [
            ("KAFKA_BROKERS", "b:9092"),
            ("KAFKA_SASL_MECHANISM", "PLAIN"),
            ("KAFKA_MESSAGE_TIMEOUT_MS", "5000"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(
            librdkafka_settings(vars),
            vec![
                ("message.timeout.ms".to_owned(), "5000".to_owned()),
                ("sasl.mechanism".to_owned(), "PLAIN".to_owned())
            ]
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        let c = RunnerConfig {
            concurrency: 0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("concurrency"));
        let c = RunnerConfig {
            dead_letter_topic: Some("dlt".into()),
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("KAFKA_BROKERS"));
    }
}
