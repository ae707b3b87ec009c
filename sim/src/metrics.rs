//! Named counters and histograms a run records. Histograms are HdrHistograms
//! that saturate at their highest trackable value instead of failing, so an
//! outlier can never end a run.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Highest value a histogram tracks exactly (an hour, in microseconds);
/// anything above is clamped to it.
pub const HISTOGRAM_MAX: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    // Three significant figures over 1..=HISTOGRAM_MAX: well within the
    // bounds hdrhistogram accepts, so this construction cannot fail.
    Histogram::new_with_bounds(1, HISTOGRAM_MAX, 3).expect("static histogram bounds are valid")
}

#[derive(Default, Clone, Debug)]
pub struct Metrics {
    counters: BTreeMap<&'static str, u64>,
    histograms: BTreeMap<&'static str, Histogram<u64>>,
}

impl Metrics {
    pub fn count(&mut self, name: &'static str, delta: u64) {
        let c = self.counters.entry(name).or_insert(0);
        *c = c.saturating_add(delta);
    }
    pub fn set_max(&mut self, name: &'static str, value: u64) {
        let c = self.counters.entry(name).or_insert(0);
        *c = (*c).max(value);
    }
    pub fn record(&mut self, name: &'static str, value: u64) {
        self.histograms.entry(name).or_insert_with(new_histogram).saturating_record(value.clamp(1, HISTOGRAM_MAX));
    }
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counters.iter().map(|(k, v)| (*k, *v))
    }
    pub fn histogram(&self, name: &str) -> Option<&Histogram<u64>> {
        self.histograms.get(name)
    }
    pub fn histograms(&self) -> impl Iterator<Item = (&'static str, &Histogram<u64>)> + '_ {
        self.histograms.iter().map(|(k, v)| (*k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outliers_saturate_instead_of_panicking() {
        let mut m = Metrics::default();
        m.record("latency_us", u64::MAX);
        m.record("latency_us", 0);
        let h = m.histogram("latency_us").unwrap();
        assert_eq!(h.len(), 2);
        assert!(h.max() >= HISTOGRAM_MAX - HISTOGRAM_MAX / 1000);
    }
}
