//! Named counters and histograms a run records. Histograms are HdrHistograms
//! that saturate at their highest trackable value instead of failing, so an
//! outlier can never end a run.

use hdrhistogram::Histogram;

/// Highest value a histogram tracks exactly (an hour, in microseconds);
/// anything above is clamped to it.
pub const HISTOGRAM_MAX: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    // Three significant figures over 1..=HISTOGRAM_MAX: well within the
    // bounds hdrhistogram accepts, so this construction cannot fail.
    Histogram::new_with_bounds(1, HISTOGRAM_MAX, 3).expect("static histogram bounds are valid")
}

/// A histogram whose trials may be censored: the run (or the next trial)
/// ended before the measured event happened, so a trial's value is only
/// known to exceed the time it was watched. Such trials are never dropped:
/// `counter` counts them and `bounds` records how long each was watched,
/// the lower bound of its value, so reports show them as "> T".
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Censored {
    pub histogram: &'static str,
    pub counter: &'static str,
    pub bounds: &'static str,
}

/// Every histogram whose trials may be censored.
pub const CENSORED: [Censored; 3] = [
    Censored { histogram: "failover_us", counter: "failover_censored", bounds: "failover_censored_us" },
    Censored { histogram: "elected_us", counter: "elected_censored", bounds: "elected_censored_us" },
    Censored {
        histogram: "first_election_us",
        counter: "first_election_censored",
        bounds: "first_election_censored_us",
    },
];

/// The censoring of histogram `histogram`, if its trials may be censored.
pub fn censored(histogram: &str) -> Option<&'static Censored> {
    CENSORED.iter().find(|c| c.histogram == histogram || c.bounds == histogram)
}

#[derive(Default, Clone, Debug)]
pub struct Metrics {
    /// Few counters, updated in hot loops: a vector scanned with a pointer
    /// comparison first (a literal's address is stable) beats a map keyed by
    /// string comparison. Iteration sorts by name, so order never depends on
    /// insertion.
    counters: Vec<(&'static str, u64)>,
    /// Histograms, found the same way, for the same reason.
    histograms: Vec<(&'static str, Histogram<u64>)>,
}

/// Where `name` sits among `entries`: by the literal's address first, then
/// by its text (the same name from another literal).
#[inline]
fn position<T>(entries: &[(&'static str, T)], name: &str) -> Option<usize> {
    entries
        .iter()
        .position(|(k, _)| std::ptr::eq(k.as_ptr(), name.as_ptr()) && k.len() == name.len())
        .or_else(|| entries.iter().position(|(k, _)| *k == name))
}

impl Metrics {
    #[inline]
    fn counter_mut(&mut self, name: &'static str) -> &mut u64 {
        let i = match position(&self.counters, name) {
            Some(i) => i,
            None => {
                self.counters.push((name, 0));
                self.counters.len() - 1
            }
        };
        &mut self.counters[i].1
    }
    pub fn count(&mut self, name: &'static str, delta: u64) {
        let c = self.counter_mut(name);
        *c = c.saturating_add(delta);
    }
    pub fn set_max(&mut self, name: &'static str, value: u64) {
        let c = self.counter_mut(name);
        *c = (*c).max(value);
    }
    /// Records a censored trial of histogram `histogram` (one of
    /// [`CENSORED`]), watched for `watched_us` without its event happening.
    pub fn censor(&mut self, histogram: &str, watched_us: u64) {
        if let Some(c) = censored(histogram) {
            self.count(c.counter, 1);
            self.record(c.bounds, watched_us);
        }
    }
    pub fn record(&mut self, name: &'static str, value: u64) {
        let i = match position(&self.histograms, name) {
            Some(i) => i,
            None => {
                self.histograms.push((name, new_histogram()));
                self.histograms.len() - 1
            }
        };
        self.histograms[i].1.saturating_record(value.clamp(1, HISTOGRAM_MAX));
    }
    /// Adds `other`'s counters and histogram samples to these.
    pub fn add(&mut self, other: &Metrics) {
        for &(name, value) in &other.counters {
            self.count(name, value);
        }
        for (name, h) in &other.histograms {
            let i = match position(&self.histograms, name) {
                Some(i) => i,
                None => {
                    self.histograms.push((name, new_histogram()));
                    self.histograms.len() - 1
                }
            };
            // Every histogram here has the same bounds, so adding cannot fail.
            let _ = self.histograms[i].1.add(h);
        }
    }
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.iter().find(|(k, _)| *k == name).map_or(0, |(_, v)| *v)
    }
    /// Every counter, sorted by name.
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let mut sorted = self.counters.clone();
        sorted.sort_unstable_by_key(|(k, _)| *k);
        sorted.into_iter()
    }
    pub fn histogram(&self, name: &str) -> Option<&Histogram<u64>> {
        position(&self.histograms, name).map(|i| &self.histograms[i].1)
    }
    /// Every histogram, sorted by name.
    pub fn histograms(&self) -> impl Iterator<Item = (&'static str, &Histogram<u64>)> + '_ {
        let mut sorted: Vec<(&'static str, &Histogram<u64>)> = self.histograms.iter().map(|(k, v)| (*k, v)).collect();
        sorted.sort_unstable_by_key(|(k, _)| *k);
        sorted.into_iter()
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
