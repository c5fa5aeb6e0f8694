use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scheduler_store::tenancy;
use scheduler_store::testing::fresh_db;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn start(database_url: &str, extra: &[&str]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_scheduler"))
            .args(["serve", "--migrate", "--listen", &listen])
            .args(extra)
            .env("DATABASE_URL", database_url)
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn scheduler serve");
        Server {
            child,
            base: format!("http://{listen}"),
        }
    }

    pub async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("scheduler exited early: {status}");
            }
            assert!(Instant::now() < deadline, "not ready within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `signal` and waits (bounded) for the exit status.
    pub fn stop(mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill");
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("did not exit within 30 s of {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn serve_answers_the_seed_api_and_stops_cleanly_on_sigterm() {
    let db = fresh_db().await;
    tenancy::ensure_user(&db.pool, "org_imbrace", "u_imbrace_agent1")
        .await
        .unwrap();
    let token = tenancy::issue_token(&db.pool, "org_imbrace")
        .await
        .unwrap()
        .token;
    let mut server = Server::start(&db.url, &[]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    server.wait_ready(&client).await;

    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let url = format!(
        "{}/v1/organization/org_imbrace/users/u_imbrace_agent1/schedulers",
        server.base
    );
    let created = client
        .post(&url)
        .header("x-access-token", &token)
        .header("content-type", "application/json")
        .body(r#"{"type":"recurring","name":"testing schedule","event_type":"whatsapp","job":{"type":"kafka","topic":"ROUTER.OUTGOING_MESSAGE","data":{}},"trigger_frequency_unit":"years","trigger_frequency_value":1,"triger_month_and_day":"1969-12-31T16:32:00.000Z","trigger_time":"1969-12-31T16:00:00.000Z","start_datetime":"2024-09-11T14:35:00.000Z"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let unauthorized = client
        .get(&url)
        .header("x-access-token", "api_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);

    let status = server.stop("-TERM");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn serve_fails_fast_on_bad_configuration() {
    let out = Command::new(env!("CARGO_BIN_EXE_scheduler"))
        .args(["serve", "--listen", "not-an-address"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));

    let out = Command::new(env!("CARGO_BIN_EXE_scheduler"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-acquire-timeout-secs",
            "1",
        ])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
