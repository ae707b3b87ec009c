//! What a batch runs: a range of seeds for every scenario, optionally cut into
//! disjoint shards so several machines can share the work.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Upper bound on the runs one batch (all shards together) may hold, so a typo
/// such as `1..=10000000000` is refused instead of filling memory.
pub const MAX_RUNS_PER_BATCH: u64 = 10_000_000;

/// An inclusive range of seeds. `1..=1000`, `1..1001` and `1..=1000` written
/// any other way are the same range.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRange {
    pub first: u64,
    pub last: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct WorkSpecError(pub String);

impl SeedRange {
    pub fn len(&self) -> u64 {
        (self.last - self.first).saturating_add(1)
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn contains(&self, seed: u64) -> bool {
        (self.first..=self.last).contains(&seed)
    }
}

impl FromStr for SeedRange {
    type Err = WorkSpecError;

    fn from_str(text: &str) -> Result<SeedRange, WorkSpecError> {
        let syntax = || {
            WorkSpecError(format!(
                "`{text}` is not a seed range: write `A..=B` (both ends included), `A..B` (B excluded) or one seed `N`"
            ))
        };
        let number = |s: &str| s.trim().parse::<u64>().map_err(|_| syntax());
        let text = text.trim();
        let range = if let Some((a, b)) = text.split_once("..=") {
            SeedRange { first: number(a)?, last: number(b)? }
        } else if let Some((a, b)) = text.split_once("..") {
            let (first, end) = (number(a)?, number(b)?);
            if end <= first {
                return Err(WorkSpecError(format!("seed range `{text}` is empty: its end must be above its start")));
            }
            SeedRange { first, last: end - 1 }
        } else {
            let seed = number(text)?;
            SeedRange { first: seed, last: seed }
        };
        if range.last < range.first {
            return Err(WorkSpecError(format!("seed range `{text}` is empty: its end must not be below its start")));
        }
        Ok(range)
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.first, self.last)
    }
}

/// The `index`-th (1-based) of `count` disjoint slices of a batch's work list:
/// work item `i` belongs to shard `i % count + 1`, so every shard gets a share
/// of every scenario.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn new(index: u64, count: u64) -> Result<Shard, WorkSpecError> {
        if count == 0 || count > u64::from(u32::MAX) {
            return Err(WorkSpecError(format!("shard count {count} is invalid: it must be at least 1")));
        }
        if index == 0 || index > count {
            return Err(WorkSpecError(format!(
                "shard {index} of {count} does not exist: shards are numbered 1 to {count}"
            )));
        }
        Ok(Shard { index: index as u32, count: count as u32 })
    }

    pub fn owns(&self, work_index: u64) -> bool {
        work_index % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl FromStr for Shard {
    type Err = WorkSpecError;

    fn from_str(text: &str) -> Result<Shard, WorkSpecError> {
        let syntax =
            || WorkSpecError(format!("`{text}` is not a shard: write `K/N`, the K-th of N shards (1 <= K <= N)"));
        let (k, n) = text.split_once('/').ok_or_else(syntax)?;
        let k = k.trim().parse::<u64>().map_err(|_| syntax())?;
        let n = n.trim().parse::<u64>().map_err(|_| syntax())?;
        Shard::new(k, n)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Refuses a batch of more than [`MAX_RUNS_PER_BATCH`] runs.
pub fn check_size(scenarios: usize, seeds: SeedRange) -> Result<(), WorkSpecError> {
    let total = (scenarios as u64).saturating_mul(seeds.len());
    if total > MAX_RUNS_PER_BATCH {
        return Err(WorkSpecError(format!(
            "{scenarios} scenarios x {} seeds is {total} runs, more than the {MAX_RUNS_PER_BATCH} one batch may hold; \
             split it into several batches",
            seeds.len()
        )));
    }
    Ok(())
}

/// One run of a batch: a scenario (by its position on the command line) and a seed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkItem {
    pub scenario_index: usize,
    pub seed: u64,
}

/// Every run of the batch (or of one shard of it), in (scenario, seed) order.
pub fn work_list(scenarios: usize, seeds: SeedRange, shard: Option<Shard>) -> Result<Vec<WorkItem>, WorkSpecError> {
    check_size(scenarios, seeds)?;
    let mut items = Vec::new();
    let mut index = 0u64;
    for scenario_index in 0..scenarios {
        for seed in seeds.first..=seeds.last {
            if shard.is_none_or(|s| s.owns(index)) {
                items.push(WorkItem { scenario_index, seed });
            }
            index += 1;
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_in_every_spelling() {
        assert_eq!("1..=1000".parse(), Ok(SeedRange { first: 1, last: 1000 }));
        assert_eq!("1..1001".parse(), Ok(SeedRange { first: 1, last: 1000 }));
        assert_eq!("7".parse(), Ok(SeedRange { first: 7, last: 7 }));
        assert_eq!(" 3 ..= 4 ".parse(), Ok(SeedRange { first: 3, last: 4 }));
        for bad in ["", "a..b", "1-10", "5..5", "5..=4", "1..=", "..=3", "-1", "1,2"] {
            assert!(bad.parse::<SeedRange>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn shards_validate_and_partition_the_work() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "1", "a/b", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad:?} should be refused");
        }
        let seeds = SeedRange { first: 1, last: 10 };
        let all = work_list(3, seeds, None).unwrap();
        let mut together: Vec<WorkItem> =
            (1..=4).flat_map(|k| work_list(3, seeds, Some(Shard { index: k, count: 4 })).unwrap()).collect();
        together.sort();
        assert_eq!(together, all);
    }

    #[test]
    fn oversized_batches_are_refused() {
        assert!(work_list(2, SeedRange { first: 0, last: u64::MAX }, None).is_err());
    }
}
