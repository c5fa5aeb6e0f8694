use scheduler_store::StoreError;

/// Why a runner could not start (or, rarely, stop cleanly).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("invalid runner configuration: {0}")]
    Config(String),
    #[error("cannot create the Kafka producer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("cannot create the webhook HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}
