//! A minimal W3C WebDriver client over reqwest (already a test dependency): the dozen commands
//! the console test uses, talking to Debian's chromedriver, which drives headless Chromium.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver, killed on drop.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bin(var: &str, fallback: &str) -> String {
    std::env::var(var).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| {
        assert!(
            Path::new(fallback).exists(),
            "{var} is not set and {fallback} is missing: run scripts/ensure-chromium.sh (make test does)"
        );
        fallback.to_owned()
    })
}

impl Driver {
    pub async fn start(client: &reqwest::Client) -> Driver {
        let port = crate::serve::free_port();
        let child = Command::new(bin("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{url}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { child, url }
    }
}

pub struct Browser {
    client: reqwest::Client,
    session: String,
    /// Where the chromium profile lives (a new empty one per test).
    _profile: std::path::PathBuf,
}

impl Browser {
    pub async fn new(client: &reqwest::Client, driver: &Driver) -> Browser {
        let profile =
            std::env::temp_dir().join(format!("console-chromium-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": bin("CHROMIUM_BIN", "/usr/bin/chromium"),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let r: Value = client
            .post(format!("{}/session", driver.url))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        Browser {
            client: client.clone(),
            session: format!("{}/session/{session}", driver.url),
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.session));
        // chromedriver refuses a body on GET.
        if method != reqwest::Method::GET {
            request = request.json(&body);
        }
        let r = request.send().await.expect("webdriver call");
        let v: Value = r.json().await.expect("webdriver json");
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, body).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching `css`, if any now.
    pub async fn try_find(&self, css: &str) -> Option<String> {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits (up to `secs`) for an element matching `css` whose text contains `text`.
    pub async fn wait_text(&self, css: &str, text: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let els = self
                .post("/elements", json!({"using": "css selector", "value": css}))
                .await;
            for e in els.as_array().into_iter().flatten() {
                if let Some(id) = e[ELEMENT].as_str() {
                    let t = self.text(id).await;
                    if t.contains(text) {
                        return id.to_owned();
                    }
                }
            }
            if Instant::now() > deadline {
                let body = self.try_find("body").await.unwrap_or_default();
                panic!(
                    "no {css} with text {text:?} within {secs} s at {}; page: {}",
                    self.url().await,
                    self.text(&body).await
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn find(&self, css: &str) -> String {
        self.wait_text(css, "", 10).await
    }

    pub async fn text(&self, el: &str) -> String {
        self.call(
            reqwest::Method::GET,
            &format!("/element/{el}/text"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.post(&format!("/element/{el}/click"), json!({})).await;
    }

    /// Replaces an input's value by typing (as a keyboard user would).
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.post(&format!("/element/{el}/clear"), json!({})).await;
        self.post(&format!("/element/{el}/value"), json!({ "text": text }))
            .await;
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await;
    }

    pub async fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
    }

    /// A screenshot of the whole page at `width` CSS pixels, saved as PNG.
    pub async fn screenshot(&self, path: &Path, width: u32) {
        let mobile = width < 600;
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let height = self
            .execute("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(400, 4000);
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true,
                       "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}),
            )
            .await;
        let data = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 png");
        std::fs::write(path, data).expect("write screenshot");
        self.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
    }

    pub async fn quit(self) {
        let _ = self.client.delete(&self.session).send().await;
    }
}
