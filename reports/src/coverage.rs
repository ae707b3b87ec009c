//! Coverage over many runs: for each coverage point, how many seeds reached
//! it and how often in all, and `coverage.csv`, one row per scenario x point.
//! A point no seed reached is a path the scenario never tests. Like
//! results.csv, the table is a pure function of the records: the same batch
//! gives the same bytes however it was run, resumed or merged.

use std::collections::BTreeMap;

use crate::error::ReportError;
use crate::record::RunRecord;

/// One point over a set of runs.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PointTally {
    /// Runs that reached it at least once.
    pub seeds_reached: u64,
    /// Hits over all runs.
    pub hits: u64,
}

/// Every point over a set of runs, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageTally {
    /// Runs counted.
    pub seeds_total: u64,
    /// Every point a run reported, reached or not (a run reports each point
    /// its protocol declares, with 0 hits when it never reached it).
    pub points: BTreeMap<String, PointTally>,
}

impl CoverageTally {
    /// Counts one run's coverage (`point -> hits`).
    pub fn add_run(&mut self, coverage: &BTreeMap<String, u64>) {
        self.seeds_total += 1;
        for (point, &hits) in coverage {
            let tally = match self.points.get_mut(point) {
                Some(t) => t,
                None => self.points.entry(point.clone()).or_default(),
            };
            tally.hits = tally.hits.saturating_add(hits);
            if hits > 0 {
                tally.seeds_reached += 1;
            }
        }
    }

    /// Adds another tally's runs to this one.
    pub fn merge(&mut self, other: &CoverageTally) {
        self.seeds_total += other.seeds_total;
        for (point, t) in &other.points {
            let mine = self.points.entry(point.clone()).or_default();
            mine.seeds_reached += t.seeds_reached;
            mine.hits = mine.hits.saturating_add(t.hits);
        }
    }

    /// Points that some run reports and none reached, in name order.
    pub fn never_reached(&self) -> impl Iterator<Item = &str> {
        self.points.iter().filter(|(_, t)| t.seeds_reached == 0).map(|(p, _)| p.as_str())
    }
}

/// The coverage of each scenario of a batch, in scenario order (`records`
/// sorted by [`RunRecord::key`]): (scenario index, scenario name, protocol, tally).
pub fn by_scenario(records: &[RunRecord]) -> Vec<(usize, String, String, CoverageTally)> {
    let mut scenarios: BTreeMap<usize, (String, String, CoverageTally)> = BTreeMap::new();
    for r in records {
        let (_, _, tally) = scenarios
            .entry(r.scenario_index)
            .or_insert_with(|| (r.scenario.clone(), r.protocol.clone(), CoverageTally::default()));
        tally.add_run(&r.coverage);
    }
    scenarios.into_iter().map(|(i, (name, protocol, tally))| (i, name, protocol, tally)).collect()
}

/// The columns of coverage.csv.
pub const COLUMNS: [&str; 5] = ["scenario", "point", "seeds_reached", "hits", "seeds_total"];

/// coverage.csv: one row per scenario x point, scenarios in batch order and
/// points in name order. `records` must be sorted by [`RunRecord::key`].
pub fn coverage_csv(records: &[RunRecord]) -> Result<Vec<u8>, ReportError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(COLUMNS)?;
    for (_, scenario, _, tally) in by_scenario(records) {
        for (point, t) in &tally.points {
            out.write_record([
                scenario.as_str(),
                point.as_str(),
                &t.seeds_reached.to_string(),
                &t.hits.to_string(),
                &tally.seeds_total.to_string(),
            ])?;
        }
    }
    out.into_inner().map_err(|e| ReportError::Csv(e.into_error().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(points: &[(&str, u64)]) -> BTreeMap<String, u64> {
        points.iter().map(|(p, h)| (p.to_string(), *h)).collect()
    }

    #[test]
    fn counts_seeds_and_hits_and_lists_points_no_run_reached() {
        let mut t = CoverageTally::default();
        t.add_run(&run(&[("a", 3), ("b", 0)]));
        t.add_run(&run(&[("a", 1), ("b", 0), ("c", 2)]));
        assert_eq!(t.seeds_total, 2);
        assert_eq!(t.points["a"], PointTally { seeds_reached: 2, hits: 4 });
        assert_eq!(t.points["c"], PointTally { seeds_reached: 1, hits: 2 });
        assert_eq!(t.never_reached().collect::<Vec<_>>(), vec!["b"]);
        let mut twice = t.clone();
        twice.merge(&t);
        assert_eq!(twice.points["a"], PointTally { seeds_reached: 4, hits: 8 });
        assert_eq!(twice.seeds_total, 4);
    }
}
