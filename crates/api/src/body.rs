//! JSON request bodies, read and parsed here rather than by axum's `Json` extractor, so every
//! failure is a `{"message"}` and duplicate keys are refused instead of silently overwritten.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::ApiError;

/// The raw bytes of a JSON request body: the content type was checked and the size limit
/// (`DefaultBodyLimit`) held. Parse with [`JsonBody::object`].
pub(crate) struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/json".to_owned(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("request body is too large".to_owned())
            } else {
                ApiError::bad_request("cannot read the request body")
            }
        })?;
        Ok(Self(bytes))
    }
}

impl JsonBody {
    pub(crate) fn object(&self) -> Result<Map<String, Value>, ApiError> {
        parse_object(&self.0)
    }
}

/// A JSON object body that may be left out: no body at all (empty) gives `None`; a body must be
/// a JSON object with a JSON content type, as for [`JsonBody`].
pub(crate) struct OptionalJsonObject(pub Option<Map<String, Value>>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json_content_type(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("request body is too large".to_owned())
            } else {
                ApiError::bad_request("cannot read the request body")
            }
        })?;
        if bytes.is_empty() {
            return Ok(Self(None));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/json".to_owned(),
            ));
        }
        parse_object(&bytes).map(|map| Self(Some(map)))
    }
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// Parses a request body that must be one JSON object. Refuses non-UTF-8 bytes, malformed
/// JSON, duplicate keys at any depth, nesting past serde_json's recursion limit (128), and
/// anything but an object at the top.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("request body is not valid UTF-8"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    let StrictValue(value) = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request("request body must be a JSON object")),
    }
}

/// Parses the `payload` part of a multipart form: the same JSON object as a JSON body, with
/// the seed API's messages (`payload is required` when it is blank, `Invalid JSON in payload`
/// when it does not parse).
pub(crate) fn parse_payload(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let invalid = || ApiError::bad_request("Invalid JSON in payload");
    let text = std::str::from_utf8(bytes).map_err(|_| invalid())?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("payload is required"));
    }
    let StrictValue(value) = serde_json::from_str(text).map_err(|_| invalid())?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request("payload must be a JSON object")),
    }
}

/// A `serde_json::Value` whose objects may not repeat a key.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(StrictValue(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(StrictValue(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(StrictValue(Value::Number(v.into())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Number::from_f64(v)
            .map(|n| StrictValue(Value::Number(n)))
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(StrictValue(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(StrictValue(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        StrictValue::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(StrictValue(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let shown: String = key.chars().take(64).collect();
                return Err(de::Error::custom(format_args!("duplicate key \"{shown}\"")));
            }
            let StrictValue(v) = access.next_value()?;
            map.insert(key, v);
        }
        Ok(StrictValue(Value::Object(map)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Result<Map<String, Value>, ApiError>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn accepts_objects() {
        let m = parse_object(br#"{"a": {"b": [1, 2.5, null, true, "x"]}}"#).unwrap();
        assert_eq!(m["a"]["b"][4], "x");
    }

    #[test]
    fn refuses_duplicate_keys_at_any_depth() {
        assert!(message(parse_object(br#"{"a":1,"a":2}"#)).contains("duplicate key \"a\""));
        assert!(message(parse_object(br#"{"j":{"t":1,"t":1}}"#)).contains("duplicate key \"t\""));
        assert!(message(parse_object(br#"{"j":[{"t":1,"t":1}]}"#)).contains("duplicate"));
    }

    #[test]
    fn refuses_everything_else() {
        assert!(message(parse_object(b"")).contains("JSON object"));
        assert!(message(parse_object(b"[1]")).contains("JSON object"));
        assert!(message(parse_object(b"null")).contains("JSON object"));
        assert!(message(parse_object(b"{\"a\":\"\xff\"}")).contains("UTF-8"));
        assert!(message(parse_object(b"{\"a\":")).contains("not valid JSON"));
        assert!(message(parse_object(b"{\"a\":1e400}")).contains("not valid JSON"));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(message(parse_object(deep.as_bytes())).contains("recursion limit"));
    }
}
