//! Validation of a scheduler's `job`: pure functions over JSON, shared by the API (which
//! validates what clients send) and the runner (which reads the target to deliver to).
//!
//! The stored `job` is the client's object as given (minus `data.files[].file`, browser upload
//! placeholders); [`JobSpec`] is the typed reading of it that delivery needs.

use std::fmt;

use serde_json::{Map, Value};
use url::Url;

/// Largest `job.data`, serialized.
pub const MAX_DATA_BYTES: usize = 256 * 1024;
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const MAX_TIMEOUT_MS: u32 = 60_000;
pub const MAX_RETRY_ATTEMPTS: u32 = 100;
/// One week.
pub const MAX_RETRY_AGE_SECS: u32 = 604_800;
const MAX_TOPIC_LEN: usize = 249;
const MAX_URL_LEN: usize = 2048;
const MAX_HEADERS: usize = 50;
const MAX_HEADER_VALUE_LEN: usize = 4096;

/// A rejected part of `job`; `message` names the field and is meant for the API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub field: String,
    pub message: String,
}

impl JobError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JobError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl WebhookMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobTarget {
    Kafka {
        topic: String,
    },
    Webhook {
        url: Url,
        method: WebhookMethod,
        /// Extra request headers, in the order given.
        headers: Vec<(String, String)>,
        timeout_ms: u32,
    },
}

/// Per-job override of the delivery retry limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: Option<u32>,
    pub max_age_secs: Option<u32>,
}

/// The typed reading of a valid `job`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub target: JobTarget,
    /// `job.data`, the payload delivered in the envelope (absent: none).
    pub data: Option<Map<String, Value>>,
    pub workflow_id: Option<String>,
    pub retry: Option<RetryPolicy>,
}

/// Validates `job` and returns the object to store (as given, with `data.files[].file`
/// dropped) and its typed reading.
pub fn validate_job(job: &Value) -> Result<(Value, JobSpec), JobError> {
    let Value::Object(obj) = job else {
        return Err(JobError::new("job", "job must be an object"));
    };
    if contains_nul(job) {
        return Err(JobError::new(
            "job",
            "job must not contain NUL characters (\\u0000)",
        ));
    }
    let kind = match obj.get("type") {
        None | Some(Value::Null) => {
            return Err(JobError::new(
                "job.type",
                "job.type is required: one of kafka, webhook",
            ))
        }
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(JobError::new(
                "job.type",
                "job.type must be a string: one of kafka, webhook",
            ))
        }
    };
    let target = match kind {
        "kafka" => kafka_target(obj)?,
        "webhook" => webhook_target(obj)?,
        _ => {
            return Err(JobError::new(
                "job.type",
                "job.type must be one of kafka, webhook",
            ))
        }
    };
    let data = match obj.get("data") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(strip_file_placeholders(m.clone())),
        Some(_) => return Err(JobError::new("job.data", "job.data must be an object")),
    };
    if let Some(d) = &data {
        // Serializing a map of JSON values cannot fail; count an error as oversize anyway.
        let size = serde_json::to_vec(d).map_or(usize::MAX, |v| v.len());
        if size > MAX_DATA_BYTES {
            return Err(JobError::new(
                "job.data",
                format!("job.data must be at most 256 KiB when serialized (it is {size} bytes)"),
            ));
        }
    }
    let workflow_id = match obj.get("workflow_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(JobError::new(
                "job.workflow_id",
                "job.workflow_id must be a string",
            ))
        }
    };
    let retry = match obj.get("retry") {
        None | Some(Value::Null) => None,
        Some(Value::Object(r)) => Some(RetryPolicy {
            max_attempts: optional_int(
                r.get("max_attempts"),
                "job.retry.max_attempts",
                1,
                MAX_RETRY_ATTEMPTS,
            )?,
            max_age_secs: optional_int(
                r.get("max_age_secs"),
                "job.retry.max_age_secs",
                1,
                MAX_RETRY_AGE_SECS,
            )?,
        }),
        Some(_) => {
            return Err(JobError::new(
                "job.retry",
                "job.retry must be an object with max_attempts and/or max_age_secs",
            ))
        }
    };

    let mut stored = obj.clone();
    if let Some(d) = &data {
        stored.insert("data".to_owned(), Value::Object(d.clone()));
    }
    Ok((
        Value::Object(stored),
        JobSpec {
            target,
            data,
            workflow_id,
            retry,
        },
    ))
}

/// The typed reading of a stored job (already validated when it was written).
pub fn job_spec(job: &Value) -> Result<JobSpec, JobError> {
    validate_job(job).map(|(_, spec)| spec)
}

fn kafka_target(obj: &Map<String, Value>) -> Result<JobTarget, JobError> {
    let topic = match obj.get("topic") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(JobError::new(
                "job.topic",
                "job.topic is required for kafka jobs",
            ))
        }
        Some(_) => return Err(JobError::new("job.topic", "job.topic must be a string")),
    };
    let legal = topic
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if topic.len() > MAX_TOPIC_LEN || !legal || topic == "." || topic == ".." {
        return Err(JobError::new(
            "job.topic",
            "job.topic must be a Kafka topic name: 1 to 249 characters of a-z, A-Z, 0-9, '.', '_', '-'",
        ));
    }
    Ok(JobTarget::Kafka {
        topic: topic.clone(),
    })
}

fn webhook_target(obj: &Map<String, Value>) -> Result<JobTarget, JobError> {
    let raw = match obj.get("url") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(JobError::new(
                "job.url",
                "job.url is required for webhook jobs",
            ))
        }
        Some(_) => return Err(JobError::new("job.url", "job.url must be a string")),
    };
    let bad_url = || JobError::new("job.url", "job.url must be an absolute http or https URL");
    if raw.len() > MAX_URL_LEN {
        return Err(JobError::new(
            "job.url",
            format!("job.url must be at most {MAX_URL_LEN} characters"),
        ));
    }
    let url = Url::parse(raw.trim()).map_err(|_| bad_url())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad_url());
    }
    let method = match obj.get("method") {
        None | Some(Value::Null) => WebhookMethod::Post,
        Some(Value::String(s)) => match s.to_ascii_uppercase().as_str() {
            "GET" => WebhookMethod::Get,
            "POST" => WebhookMethod::Post,
            "PUT" => WebhookMethod::Put,
            "PATCH" => WebhookMethod::Patch,
            "DELETE" => WebhookMethod::Delete,
            _ => return Err(method_error()),
        },
        Some(_) => return Err(method_error()),
    };
    let headers = match obj.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(h)) => webhook_headers(h)?,
        Some(_) => return Err(headers_error()),
    };
    let timeout_ms = optional_int(obj.get("timeout_ms"), "job.timeout_ms", 1, MAX_TIMEOUT_MS)?
        .unwrap_or(DEFAULT_TIMEOUT_MS);
    Ok(JobTarget::Webhook {
        url,
        method,
        headers,
        timeout_ms,
    })
}

fn method_error() -> JobError {
    JobError::new(
        "job.method",
        "job.method must be one of GET, POST, PUT, PATCH, DELETE",
    )
}

fn headers_error() -> JobError {
    JobError::new(
        "job.headers",
        "job.headers must be an object of string values",
    )
}

/// Headers the delivery sets itself: a job may not override them (the signature ones would let
/// a client forge what receivers verify).
fn reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("webhook-")
        || matches!(
            name.as_str(),
            "host"
                | "content-length"
                | "transfer-encoding"
                | "connection"
                | "keep-alive"
                | "upgrade"
                | "te"
                | "trailer"
                | "proxy-connection"
        )
}

fn webhook_headers(h: &Map<String, Value>) -> Result<Vec<(String, String)>, JobError> {
    if h.len() > MAX_HEADERS {
        return Err(JobError::new(
            "job.headers",
            format!("job.headers may have at most {MAX_HEADERS} entries"),
        ));
    }
    let mut out = Vec::with_capacity(h.len());
    for (name, value) in h {
        let token = !name.is_empty()
            && name.len() <= 256
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(JobError::new(
                "job.headers",
                "job.headers names must be HTTP header names (letters, digits and !#$%&'*+-.^_`|~)",
            ));
        }
        if reserved_header(name) {
            return Err(JobError::new(
                "job.headers",
                format!("job.headers may not set {name}: the delivery sets it"),
            ));
        }
        let Value::String(v) = value else {
            return Err(headers_error());
        };
        if v.len() > MAX_HEADER_VALUE_LEN || v.chars().any(|c| c.is_control() && c != '\t') {
            return Err(JobError::new(
                "job.headers",
                format!(
                    "job.headers values must be at most {MAX_HEADER_VALUE_LEN} characters without control characters"
                ),
            ));
        }
        out.push((name.clone(), v.clone()));
    }
    Ok(out)
}

fn optional_int(
    v: Option<&Value>,
    field: &str,
    min: u32,
    max: u32,
) -> Result<Option<u32>, JobError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(|| range_error(field, min, max)),
        Some(_) => Err(range_error(field, min, max)),
    }
}

fn range_error(field: &str, min: u32, max: u32) -> JobError {
    JobError::new(
        field,
        format!("{field} must be an integer from {min} to {max}"),
    )
}

/// True when a string or key anywhere in `v` holds U+0000, which Postgres cannot store in
/// `jsonb` or `text`.
pub fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// `data.files[]` entries come from a browser form with an empty `file` object standing for the
/// upload itself; it carries nothing and is dropped (the seed API does the same).
fn strip_file_placeholders(mut data: Map<String, Value>) -> Map<String, Value> {
    if let Some(Value::Array(files)) = data.get_mut("files") {
        for f in files.iter_mut() {
            if let Value::Object(entry) = f {
                entry.remove("file");
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(job: Value) -> String {
        validate_job(&job).unwrap_err().message
    }

    #[test]
    fn kafka_job_of_the_seed() {
        let job = json!({"type": "kafka", "topic": "ROUTER.OUTGOING_MESSAGE", "data": {}, "workflow_id": "123"});
        let (stored, spec) = validate_job(&job).unwrap();
        assert_eq!(stored, job);
        assert_eq!(
            spec.target,
            JobTarget::Kafka {
                topic: "ROUTER.OUTGOING_MESSAGE".into()
            }
        );
        assert_eq!(spec.workflow_id.as_deref(), Some("123"));
    }

    #[test]
    fn webhook_job_drops_file_placeholders_and_keeps_the_rest() {
        let job = json!({"type": "webhook", "method": "POST", "url": "https://example.com/hook",
            "data": {"message": "m", "files": [{"id": "x", "file": {}, "name": "a.jpg"}]},
            "extra": [1, 2]});
        let (stored, spec) = validate_job(&job).unwrap();
        assert_eq!(
            stored["data"]["files"][0],
            json!({"id": "x", "name": "a.jpg"})
        );
        assert_eq!(stored["extra"], json!([1, 2]));
        let JobTarget::Webhook {
            method, timeout_ms, ..
        } = spec.target
        else {
            panic!("webhook")
        };
        assert_eq!(method, WebhookMethod::Post);
        assert_eq!(timeout_ms, DEFAULT_TIMEOUT_MS);
    }

    #[test]
    fn rejections_name_the_field() {
        assert_eq!(err(json!([])), "job must be an object");
        assert!(err(json!({})).starts_with("job.type is required"));
        assert_eq!(
            err(json!({"type": "sqs"})),
            "job.type must be one of kafka, webhook"
        );
        assert_eq!(
            err(json!({"type": "kafka"})),
            "job.topic is required for kafka jobs"
        );
        assert_eq!(
            err(json!({"type": "kafka", "topic": ""})),
            "job.topic is required for kafka jobs"
        );
        assert!(err(json!({"type": "kafka", "topic": "a b"})).starts_with("job.topic must be"));
        assert_eq!(
            err(json!({"type": "webhook"})),
            "job.url is required for webhook jobs"
        );
        for url in [
            "ftp://x",
            "not a url",
            "https://",
            "file:///etc/passwd",
            "http//x",
        ] {
            assert!(
                err(json!({"type": "webhook", "url": url})).starts_with("job.url must be"),
                "{url}"
            );
        }
        let hook = |extra: Value| {
            let mut j = json!({"type": "webhook", "url": "http://h/x"});
            for (k, v) in extra.as_object().unwrap() {
                j[k] = v.clone();
            }
            err(j)
        };
        assert!(hook(json!({"method": "TRACE"})).starts_with("job.method"));
        assert!(hook(json!({"headers": {"a": 1}})).starts_with("job.headers"));
        assert!(hook(json!({"headers": {"bad name": "x"}})).starts_with("job.headers"));
        assert!(hook(json!({"headers": {"Webhook-Signature": "x"}})).starts_with("job.headers"));
        assert!(hook(json!({"headers": {"x": "a\r\nb"}})).starts_with("job.headers"));
        assert!(hook(json!({"timeout_ms": 0})).starts_with("job.timeout_ms"));
        assert!(hook(json!({"timeout_ms": 60001})).starts_with("job.timeout_ms"));
        assert!(hook(json!({"timeout_ms": 1.5})).starts_with("job.timeout_ms"));
        assert!(hook(json!({"retry": {"max_attempts": 0}})).starts_with("job.retry.max_attempts"));
        assert!(
            hook(json!({"retry": {"max_age_secs": 604801}})).starts_with("job.retry.max_age_secs")
        );
        assert!(hook(json!({"retry": 3})).starts_with("job.retry"));
        assert!(hook(json!({"data": "x"})).starts_with("job.data"));
        assert!(hook(json!({"data": {"a\u{0}": 1}})).contains("NUL"));
        assert!(hook(json!({"data": {"a": ["\u{0}"]}})).contains("NUL"));
        let big = "x".repeat(MAX_DATA_BYTES);
        assert!(hook(json!({"data": {"big": big}})).starts_with("job.data must be at most"));
    }
}
