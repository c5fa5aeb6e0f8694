//! Scheduler ids: 24 lowercase hex characters, laid out like a MongoDB ObjectId so that the ids
//! the seed API shows (`66e400607c85c0dc11b46f21`) and ours look and sort alike.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use rand::Rng;

/// The id of a scheduler (`_id`).
///
/// Layout (12 bytes, hex encoded): 4 bytes big-endian unix seconds, 5 random bytes chosen once
/// per process, 3-byte counter starting at a random value. The leading timestamp makes ids
/// created by one process increase with time, so "newest first" can break ties on `_id`; the
/// per-process random part keeps replicas from colliding without any coordination.
///
/// A value of this type is always valid: parse untrusted input with [`SchedulerId::parse`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchedulerId([u8; 24]);

/// The text given as a scheduler id is not 24 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scheduler id must be 24 lowercase hexadecimal characters")]
pub struct InvalidSchedulerId;

struct ProcessPart {
    random: [u8; 5],
    counter: AtomicU32,
}

fn process_part() -> &'static ProcessPart {
    static PART: OnceLock<ProcessPart> = OnceLock::new();
    PART.get_or_init(|| {
        let mut rng = rand::thread_rng();
        ProcessPart {
            random: rng.gen(),
            counter: AtomicU32::new(rng.gen::<u32>() & 0x00ff_ffff),
        }
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl SchedulerId {
    /// A new id for a scheduler created at `now`. Instants before 1970 or after 2106 (outside
    /// the 4-byte timestamp) are clamped rather than wrapped, so ordering is never inverted.
    pub fn generate(now: DateTime<Utc>) -> Self {
        let part = process_part();
        let counter = part.counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        Self::from_parts(now.timestamp(), part.random, counter)
    }

    fn from_parts(unix_seconds: i64, random: [u8; 5], counter: u32) -> Self {
        let secs = u32::try_from(unix_seconds.max(0)).unwrap_or(u32::MAX);
        let mut raw = [0u8; 12];
        raw[..4].copy_from_slice(&secs.to_be_bytes());
        raw[4..9].copy_from_slice(&random);
        raw[9..].copy_from_slice(&counter.to_be_bytes()[1..]);
        let mut hex = [0u8; 24];
        for (i, byte) in raw.iter().enumerate() {
            hex[2 * i] = HEX[usize::from(byte >> 4)];
            hex[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        Self(hex)
    }

    /// Accepts exactly 24 characters of `0-9a-f`. Uppercase is refused so that one scheduler
    /// has one spelling (ids are compared as text in the database).
    pub fn parse(s: &str) -> Result<Self, InvalidSchedulerId> {
        let bytes = s.as_bytes();
        if bytes.len() != 24 || !bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(InvalidSchedulerId);
        }
        let mut hex = [0u8; 24];
        hex.copy_from_slice(bytes);
        Ok(Self(hex))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The creation second encoded in the id.
    pub fn timestamp(&self) -> DateTime<Utc> {
        let secs = u32::from_str_radix(&self.as_str()[..8], 16).unwrap_or(0);
        DateTime::from_timestamp(i64::from(secs), 0).unwrap_or_default()
    }
}

impl FromStr for SchedulerId {
    type Err = InvalidSchedulerId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for SchedulerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SchedulerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SchedulerId({})", self.as_str())
    }
}

impl serde::Serialize for SchedulerId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SchedulerId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Longest organization or user id.
pub const MAX_TENANT_ID_LEN: usize = 128;

/// Organization and user ids: 1 to 128 characters of letters, digits and `_ - . : @` (the seed's
/// are `org_imbrace`, `u_ed1ffffc-73ca-...`). One rule for the admin API and the admin CLI, so
/// neither can create a tenant the other could not address.
pub fn validate_tenant_id(field: &str, id: &str) -> Result<(), crate::ValidationError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_TENANT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(crate::ValidationError::new(
            field,
            format!("{field} must be 1 to {MAX_TENANT_ID_LEN} characters of letters, digits and _ - . : @"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn layout_matches_object_id() {
        let id = SchedulerId::from_parts(0x66e4_0060, [0x7c, 0x85, 0xc0, 0xdc, 0x11], 0xb4_6f21);
        assert_eq!(id.as_str(), "66e400607c85c0dc11b46f21");
        assert_eq!(id.timestamp().timestamp(), 0x66e4_0060);
        assert_eq!(id.to_string(), id.as_str());
    }

    #[test]
    fn generated_ids_are_valid_and_time_ordered() {
        let t1 = Utc.with_ymd_and_hms(2024, 9, 13, 9, 5, 36).unwrap();
        let t2 = t1 + chrono::Duration::seconds(1);
        let a = SchedulerId::generate(t1);
        let b = SchedulerId::generate(t1);
        let c = SchedulerId::generate(t2);
        assert_ne!(a, b);
        assert!(a.as_str() < c.as_str() && b.as_str() < c.as_str());
        assert_eq!(SchedulerId::parse(a.as_str()), Ok(a));
        assert_eq!(a.timestamp(), t1);
        // Clamped, not wrapped.
        let early = SchedulerId::generate(Utc.with_ymd_and_hms(1960, 1, 1, 0, 0, 0).unwrap());
        assert!(early.as_str().starts_with("00000000"));
        let late = SchedulerId::generate(Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap());
        assert!(late.as_str().starts_with("ffffffff"));
    }

    #[test]
    fn parse_rejects_everything_else() {
        for bad in [
            "",
            "66e400607c85c0dc11b46f2",
            "66e400607c85c0dc11b46f211",
            "66E400607C85C0DC11B46F21",
            "66e400607c85c0dc11b46f2g",
            " 66e400607c85c0dc11b46f2",
            "66e400607c85c0dc11b46f2\u{e9}",
            "zzzzzzzzzzzzzzzzzzzzzzzz",
        ] {
            assert_eq!(SchedulerId::parse(bad), Err(InvalidSchedulerId), "{bad:?}");
            assert!(bad.parse::<SchedulerId>().is_err());
        }
    }

    #[test]
    fn serde_round_trip() {
        let id = SchedulerId::parse("670f972990e5ee13019669cc").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"670f972990e5ee13019669cc\"");
        assert_eq!(serde_json::from_str::<SchedulerId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SchedulerId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<SchedulerId>("12").is_err());
    }

    #[test]
    fn tenant_ids_follow_one_rule() {
        for ok in [
            "org_imbrace",
            "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a",
            "a",
            "x.y:z@w",
        ] {
            assert!(super::validate_tenant_id("user_id", ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in ["", "org/x", "org x", "é", long.as_str()] {
            let err = super::validate_tenant_id("user_id", bad).unwrap_err();
            assert_eq!(err.field, "user_id");
            assert!(
                err.message.starts_with("user_id must be"),
                "{}",
                err.message
            );
        }
    }
}
