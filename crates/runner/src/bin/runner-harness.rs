//! A bare runner process for the tests that kill or signal a real process (SIGKILL mid-burst,
//! SIGTERM drain). Not the product binary (that is `scheduler serve --role runner`): it reads a
//! few environment variables, runs one Runner on the system clock, and exits 0 after SIGTERM.
//!
//! DATABASE_URL (required), KAFKA_BROKERS, RUNNER_OWNER, RUNNER_LEASE_MS, RUNNER_BATCH_SIZE,
//! RUNNER_CONCURRENCY, RUNNER_POLL_MS, RUNNER_SHUTDOWN_MS, WEBHOOK_ALLOW_PRIVATE.

use std::time::Duration;

use scheduler_runner::{Clock, KafkaConfig, Runner, RunnerConfig};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn millis(name: &str) -> Option<Duration> {
    var(name).map(|v| {
        Duration::from_millis(
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be an integer")),
        )
    })
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let url = var("DATABASE_URL").expect("DATABASE_URL is required");
    let pool = scheduler_store::connect(&url, &scheduler_store::PoolConfig::default())
        .await
        .expect("connect to the database");
    let mut cfg = RunnerConfig {
        webhook_allow_private: var("WEBHOOK_ALLOW_PRIVATE").is_some_and(|v| v == "true"),
        kafka: var("KAFKA_BROKERS").map(KafkaConfig::new),
        ..RunnerConfig::default()
    };
    if let Some(o) = var("RUNNER_OWNER") {
        cfg.owner = o;
    }
    if let Some(d) = millis("RUNNER_LEASE_MS") {
        cfg.lease = d;
    }
    if let Some(d) = millis("RUNNER_POLL_MS") {
        cfg.poll_interval = d;
    }
    if let Some(d) = millis("RUNNER_SHUTDOWN_MS") {
        cfg.shutdown_deadline = d;
    }
    if let Some(n) = var("RUNNER_BATCH_SIZE") {
        cfg.batch_size = n.parse().expect("RUNNER_BATCH_SIZE");
    }
    if let Some(n) = var("RUNNER_CONCURRENCY") {
        cfg.concurrency = n.parse().expect("RUNNER_CONCURRENCY");
    }
    let runner = Runner::new(pool, cfg, Clock::system()).expect("runner configuration");
    let shutdown = CancellationToken::new();
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let token = shutdown.clone();
    tokio::spawn(async move {
        term.recv().await;
        eprintln!("runner-harness: SIGTERM");
        token.cancel();
    });
    eprintln!("runner-harness: running as {}", runner.owner());
    runner.run(shutdown).await.expect("runner");
    eprintln!("runner-harness: stopped");
}
