//! Query strings, parsed by hand so each bad parameter gets a message naming it.

use std::collections::HashMap;

use scheduler_store::schedulers::EventTypeFilter;

use crate::ApiError;

pub(crate) const MAX_LIMIT: i64 = 100;
pub(crate) const DEFAULT_LIMIT: i64 = 10;
pub(crate) const MAX_SKIP: i64 = 1_000_000;
pub(crate) const MAX_PREVIEW: usize = 100;
pub(crate) const DEFAULT_PREVIEW: usize = 10;

/// The parameters the routes read; any other is ignored, whatever it holds.
const KNOWN: [&str; 4] = ["event_type", "limit", "skip", "count"];

/// The parameters of a query string. A parameter given twice is refused rather than guessed.
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !KNOWN.contains(&k.as_ref()) {
                continue;
            }
            // Postgres text cannot hold U+0000; no parameter needs it.
            if v.contains('\0') {
                return Err(ApiError::bad_request(format!(
                    "{k} must not contain NUL characters"
                )));
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(ApiError::bad_request(format!(
                    "{k} must be given at most once"
                )));
            }
        }
        Ok(Self(map))
    }

    fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("{name} must be an integer from {min} to {max}"))
                }),
        }
    }

    pub(crate) fn page(&self) -> Result<Page, ApiError> {
        Ok(Page {
            limit: self.int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?,
            skip: self.int("skip", 0, 0, MAX_SKIP)?,
        })
    }

    pub(crate) fn preview_count(&self) -> Result<usize, ApiError> {
        let max = i64::try_from(MAX_PREVIEW).unwrap_or(i64::MAX);
        let default = i64::try_from(DEFAULT_PREVIEW).unwrap_or(1);
        let n = self.int("count", default, 1, max)?;
        Ok(usize::try_from(n).unwrap_or(DEFAULT_PREVIEW))
    }

    /// `contains:a,b` matches any of a, b; a bare value matches exactly; empty means no filter.
    pub(crate) fn event_type(&self) -> EventTypeFilter {
        let Some(raw) = self.0.get("event_type") else {
            return EventTypeFilter::Any;
        };
        let values: Vec<String> = match raw.strip_prefix("contains:") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None if raw.is_empty() => Vec::new(),
            None => vec![raw.clone()],
        };
        if values.is_empty() {
            EventTypeFilter::Any
        } else {
            EventTypeFilter::OneOf(values)
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    pub limit: i64,
    pub skip: i64,
}

impl Page {
    pub(crate) fn has_more(&self, count: usize, total: i64) -> bool {
        self.skip + i64::try_from(count).unwrap_or(i64::MAX) < total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(q: &str) -> Result<(i64, i64), String> {
        Params::parse(Some(q))
            .and_then(|p| p.page())
            .map(|p| (p.limit, p.skip))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn paging() {
        assert_eq!(page(""), Ok((10, 0)));
        assert_eq!(page("limit=100&skip=5"), Ok((100, 5)));
        for bad in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "limit=x",
            "limit=",
            "limit=1.5",
        ] {
            assert_eq!(
                page(bad),
                Err("limit must be an integer from 1 to 100".into()),
                "{bad}"
            );
        }
        for bad in [
            "skip=-1",
            "skip=abc",
            "skip=99999999999999999999",
            "skip=1000001",
        ] {
            assert_eq!(
                page(bad),
                Err("skip must be an integer from 0 to 1000000".into()),
                "{bad}"
            );
        }
        assert_eq!(
            page("limit=1&limit=2"),
            Err("limit must be given at most once".into())
        );
    }

    #[test]
    fn event_type_filters() {
        let f = |q: &str| Params::parse(Some(q)).unwrap().event_type();
        assert_eq!(f(""), EventTypeFilter::Any);
        assert_eq!(f("event_type="), EventTypeFilter::Any);
        assert_eq!(f("event_type=contains%3A"), EventTypeFilter::Any);
        assert_eq!(
            f("event_type=board_automation"),
            EventTypeFilter::OneOf(vec!["board_automation".into()])
        );
        assert_eq!(
            f("event_type=contains%3Awhatsapp_outbound%2Ctelegram_outbound"),
            EventTypeFilter::OneOf(vec!["whatsapp_outbound".into(), "telegram_outbound".into()])
        );
    }
}
