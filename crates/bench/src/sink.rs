//! Where fires arrive: a webhook receiver in this process and a Kafka consumer on tansu, both
//! recording (fire id, scheduled_for, receive time) for every delivery.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::http::StatusCode;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::procs::{free_port, Proc};

/// One delivery as the sink saw it. Times in Unix milliseconds.
#[derive(Debug, Clone)]
pub struct Got {
    pub fire_id: String,
    pub scheduled_ms: f64,
    /// The planned delivery (`deliver_at`, present with a flexible window), else the slot.
    pub deliver_ms: f64,
    pub received_ms: f64,
}

#[derive(Default, Clone)]
pub struct Collector(Arc<Mutex<Vec<Got>>>);

impl Collector {
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn take(&self) -> Vec<Got> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Records an envelope received now; false when it is not one.
    pub fn record(&self, body: &[u8]) -> bool {
        let received_ms = now_ms();
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return false;
        };
        let (Some(id), Some(at)) = (v["fire_id"].as_str(), v["scheduled_for"].as_str()) else {
            return false;
        };
        let ms = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|t| t.timestamp_micros() as f64 / 1000.0)
        };
        let Some(scheduled_ms) = ms(at) else {
            return false;
        };
        let deliver_ms = v["deliver_at"]
            .as_str()
            .and_then(ms)
            .unwrap_or(scheduled_ms);
        self.0.lock().unwrap().push(Got {
            fire_id: id.to_owned(),
            scheduled_ms,
            deliver_ms,
            received_ms,
        });
        true
    }
}

pub fn now_ms() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1000.0
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The webhook receiver: `POST /hook` answers 204 and records the envelope.
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Collector,
    _task: AbortOnDrop,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let got = Collector::default();
        let g = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: Bytes| {
                let g = g.clone();
                async move {
                    if g.record(&body) {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::BAD_REQUEST
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            got,
            _task: AbortOnDrop(task),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
}

/// The tansu broker (in-memory storage) on a free loopback port.
pub struct Tansu {
    pub proc: Proc,
    pub brokers: String,
}

impl Tansu {
    pub async fn start(bin: &Path, logs: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(bin);
        cmd.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .env("RUST_LOG", "warn");
        let proc = Proc::spawn(cmd, "tansu", logs)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            anyhow::ensure!(Instant::now() < deadline, "tansu did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            proc,
            brokers: format!("127.0.0.1:{port}"),
        })
    }

    pub async fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .context("kafka admin client")?;
        let res = admin
            .create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .context("create topic")?;
        for r in res {
            r.map_err(|(t, e)| anyhow::anyhow!("create topic {t}: {e}"))?;
        }
        Ok(())
    }
}

/// Consumes `topic` (every partition assigned explicitly, from the beginning) into a collector
/// until dropped.
pub struct KafkaSink {
    pub got: Collector,
    _task: AbortOnDrop,
}

impl KafkaSink {
    pub fn start(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<Self> {
        let c: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", "scheduler-bench")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            // Lag is measured at this consumer: do not let the fetch wait add to it.
            .set("fetch.wait.max.ms", "10")
            .create()
            .context("kafka consumer")?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        c.assign(&tpl)?;
        let got = Collector::default();
        let g = got.clone();
        let task = tokio::spawn(async move {
            loop {
                match c.recv().await {
                    Ok(m) => {
                        g.record(m.payload().unwrap_or_default());
                    }
                    Err(e) => {
                        eprintln!("bench: consume: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(Self {
            got,
            _task: AbortOnDrop(task),
        })
    }
}
