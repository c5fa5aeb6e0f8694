//! Kafka delivery: one idempotent producer per runner; success only on the broker's ack.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;

use crate::config::KafkaConfig;
use crate::retry::Failure;

/// One message to produce.
pub struct KafkaMessage<'a> {
    pub topic: &'a str,
    pub key: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

pub struct KafkaSink {
    config: ClientConfig,
    /// Replaced when librdkafka reports a fatal error (e.g. the idempotence state was lost on
    /// the broker side): a producer in that state refuses every further message.
    producer: RwLock<Arc<FutureProducer>>,
    /// Replaced producers, kept until no delivery uses them and then dropped off the async
    /// runtime (dropping one blocks while it purges its queue and joins its thread).
    retired: Mutex<Vec<Arc<FutureProducer>>>,
    /// Bound on one produce (the message timeout plus a margin for the local queue).
    send_timeout: Duration,
    /// When the current producer last had a message acknowledged (or was created).
    last_ack: Mutex<Instant>,
    /// No acknowledgement for this long while messages fail: the producer is replaced.
    stall_limit: Duration,
}

impl KafkaSink {
    pub fn new(cfg: &KafkaConfig) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &cfg.brokers)
            .set("client.id", "scheduler-runner")
            .set(
                "message.timeout.ms",
                cfg.message_timeout.as_millis().to_string(),
            )
            // Every millisecond waited here is lag; under load the producer batches whatever
            // queued while a request was in flight anyway.
            .set("linger.ms", "1");
        for (k, v) in &cfg.settings {
            config.set(k, v);
        }
        // Not overridable: the exactly-once-per-attempt guarantee rests on them.
        config.set("enable.idempotence", "true").set("acks", "all");
        let timeout_ms: u64 = config
            .get("message.timeout.ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30_000);
        let producer: FutureProducer = config.create()?;
        Ok(Self {
            config,
            producer: RwLock::new(Arc::new(producer)),
            retired: Mutex::new(Vec::new()),
            send_timeout: Duration::from_millis(timeout_ms) + Duration::from_secs(10),
            last_ack: Mutex::new(Instant::now()),
            stall_limit: Duration::from_millis(timeout_ms) * 2,
        })
    }

    fn current(&self) -> Arc<FutureProducer> {
        self.producer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Produces one message and waits for the broker's acknowledgement.
    pub async fn send(&self, msg: KafkaMessage<'_>) -> Result<(), Failure> {
        let producer = self.current();
        let mut headers = OwnedHeaders::new_with_capacity(msg.headers.len());
        for (k, v) in msg.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(*v),
            });
        }
        let record = FutureRecord::to(msg.topic)
            .key(msg.key)
            .payload(msg.payload)
            .headers(headers);
        // The queue timeout only covers a full local queue; the delivery itself is bounded by
        // message.timeout.ms, and the outer timeout is a last guard.
        let send = producer.send(record, Timeout::After(Duration::from_secs(5)));
        let result = match tokio::time::timeout(self.send_timeout, send).await {
            Ok(Ok(_)) => {
                *self.last_ack.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
                return Ok(());
            }
            Ok(Err((e, _))) => e,
            Err(_) => return Err(Failure::Retryable("Kafka produce timed out".to_owned())),
        };
        let stalled = self
            .last_ack
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
            > self.stall_limit;
        if let Some((code, reason)) = producer.client().fatal_error() {
            self.replace(&producer, code, &reason);
        } else if let Some(code) = result.rdkafka_error_code().filter(|c| lost_idempotence(*c)) {
            // Not always raised as fatal (e.g. a broker that restarted or fenced the producer
            // after an outage), but the producer refuses every message from then on.
            self.replace(&producer, code, &result.to_string());
        } else if stalled {
            // Nothing acknowledged for two message timeouts: after a broker lost its state
            // (restarted without it) a producer can keep timing out where a new one succeeds.
            let code = result
                .rdkafka_error_code()
                .unwrap_or(RDKafkaErrorCode::MessageTimedOut);
            self.replace(
                &producer,
                code,
                "no acknowledgement for two message timeouts",
            );
        }
        Err(classify(&result))
    }

    fn replace(&self, failed: &Arc<FutureProducer>, code: RDKafkaErrorCode, reason: &str) {
        let mut slot = self
            .producer
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !Arc::ptr_eq(&slot, failed) {
            return; // Another delivery replaced it already.
        }
        tracing::error!(%code, reason, "Kafka producer is stuck; creating a new one");
        match self.config.create::<FutureProducer>() {
            Ok(p) => {
                // The new producer gets its own full stall window.
                *self.last_ack.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
                let old = std::mem::replace(&mut *slot, Arc::new(p));
                drop(slot);
                let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
                let unused: Vec<_> = {
                    let (unused, used) = std::mem::take(&mut *retired)
                        .into_iter()
                        .partition(|p| Arc::strong_count(p) == 1);
                    *retired = used;
                    unused
                };
                retired.push(old);
                if !unused.is_empty() {
                    if let Ok(rt) = tokio::runtime::Handle::try_current() {
                        rt.spawn_blocking(move || drop(unused));
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot create a new Kafka producer"),
        }
    }

    /// Waits for queued messages (shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.current().flush(Timeout::After(timeout)) {
            tracing::warn!(error = %e, "Kafka flush at shutdown did not complete");
        }
    }

    /// True when a broker answers a metadata request within `timeout` (readiness).
    pub fn reachable(&self, timeout: Duration) -> bool {
        self.current()
            .client()
            .fetch_metadata(None, Timeout::After(timeout))
            .is_ok()
    }
}

/// Errors after which a producer's idempotence state (producer id, epoch, sequence numbers)
/// no longer matches the broker's.
fn lost_idempotence(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::UnknownProducerId
            | RDKafkaErrorCode::OutOfOrderSequenceNumber
            | RDKafkaErrorCode::InvalidProducerIdMapping
            | RDKafkaErrorCode::Fatal
    )
}

fn classify(e: &KafkaError) -> Failure {
    let msg = format!("Kafka produce failed: {e}");
    match e.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidTopic
            | RDKafkaErrorCode::TopicAuthorizationFailed,
        ) => Failure::Permanent(msg),
        _ => Failure::Retryable(msg),
    }
}
