//! Coverage points ("sometimes" assertions): a process marks a rare path it
//! has taken with [`crate::Ctx::reached`], and the run counts each point.
//! Coverage is observation only: it never enters the trace or the
//! fingerprint, so marking a new point changes no run.

use std::collections::BTreeMap;

/// How often each coverage point was reached in one run, by name.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// Keyed by the point's literal: a hit after the first only bumps a
    /// counter, and iteration is in name order whatever the order of hits.
    hits: BTreeMap<&'static str, u64>,
}

impl Coverage {
    /// Counts one hit of `point`.
    #[inline]
    pub fn reach(&mut self, point: &'static str) {
        let count = self.hits.entry(point).or_insert(0);
        *count = count.saturating_add(1);
    }

    /// Hits of `point`; 0 if it was never reached.
    pub fn hits(&self, point: &str) -> u64 {
        self.hits.get(point).copied().unwrap_or(0)
    }

    /// Every point reached, in name order, with its hits.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.hits.iter().map(|(k, v)| (*k, *v))
    }

    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_point_and_lists_them_in_name_order() {
        let mut c = Coverage::default();
        c.reach("b");
        c.reach("a");
        c.reach("b");
        assert_eq!(c.hits("b"), 2);
        assert_eq!(c.hits("never"), 0);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![("a", 1), ("b", 2)]);
    }
}
