//! Percentiles and per-second series over the collected deliveries.

use serde_json::{json, Value};

/// Nearest-rank style percentile of an ascending slice (0 when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// Sorts `v` in place and summarizes it.
    pub fn of(v: &mut [f64]) -> Self {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Self {
            n,
            p50: percentile(v, 50.0),
            p90: percentile(v, 90.0),
            p99: percentile(v, 99.0),
            max: v.last().copied().unwrap_or(0.0),
            mean: if n == 0 {
                0.0
            } else {
                v.iter().sum::<f64>() / n as f64
            },
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "n": self.n,
            "p50": round1(self.p50),
            "p90": round1(self.p90),
            "p99": round1(self.p99),
            "max": round1(self.max),
            "mean": round1(self.mean),
        })
    }
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Counts per one-second bucket of `t_ms - origin_ms` (negative offsets go to bucket 0).
pub fn per_second(times_ms: impl Iterator<Item = f64>, origin_ms: f64) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for t in times_ms {
        let i = ((t - origin_ms) / 1000.0).floor().max(0.0) as usize;
        if out.len() <= i {
            out.resize(i + 1, 0);
        }
        out[i] += 1;
    }
    out
}

/// `points` (x, y) of the empirical distribution of ascending `sorted`, at most `steps + 1`.
pub fn cdf(sorted: &[f64], steps: usize) -> Vec<(f64, f64)> {
    if sorted.is_empty() {
        return Vec::new();
    }
    (0..=steps)
        .map(|k| {
            let q = k as f64 / steps as f64 * 100.0;
            (percentile(sorted, q.max(0.0001)), q)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_buckets() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of(&mut v);
        assert_eq!((s.p50, s.p99, s.max), (50.0, 99.0, 100.0));
        assert_eq!(
            per_second([0.0, 999.0, 1000.0, 2500.0].into_iter(), 0.0),
            [2, 1, 1]
        );
    }
}
