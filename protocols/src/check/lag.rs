//! How far reads lag, split by the side of a partition the answering
//! replica was on: the staleness figures of services whose replicas answer
//! reads from their own state (ZAB's servers, gossip-kv's replicas).

use faultline_sim::fault::partition_spans;
use faultline_sim::metrics::Metrics;
use faultline_sim::{AppliedFault, Time};

/// The most reads a run keeps for the split (16 bytes each: 16 MiB); past
/// it `read_samples_dropped` counts those left out.
pub const MAX_READ_SAMPLES: usize = 1 << 20;

/// One read: when, which replica answered it, how far it lagged (in the
/// service's own unit: transactions, versions) and, where the service
/// measures it, for how long what it read had been superseded.
#[derive(Copy, Clone)]
struct ReadSample {
    at_ns: u64,
    node: u32,
    lag: u32,
    /// Microseconds; `u32::MAX` when not measured.
    lag_us: u32,
}

/// The metric names one side's figures go under.
pub struct SideNames {
    /// Reads answered on that side.
    pub reads: &'static str,
    /// Of them, those that lagged.
    pub lagging: &'static str,
    /// Histogram of the lag of those that lagged.
    pub lag: &'static str,
    /// Histogram of how long what they read had been superseded, in
    /// microseconds, for the reads that measured it.
    pub lag_us: Option<&'static str>,
}

/// Reads kept for the split by side at the end of a run.
#[derive(Default)]
pub struct ReadLags {
    samples: Vec<ReadSample>,
    dropped: u64,
}

impl ReadLags {
    /// Keeps one read; `lag_us`, when the service measures it, saturates
    /// at about 71 virtual minutes.
    pub fn push(&mut self, at: Time, node: u32, lag: u64, lag_us: Option<u64>) {
        if self.samples.len() < MAX_READ_SAMPLES {
            let lag = u32::try_from(lag).unwrap_or(u32::MAX);
            let lag_us = lag_us.map_or(u32::MAX, |us| u32::try_from(us).unwrap_or(u32::MAX - 1));
            self.samples.push(ReadSample { at_ns: at.as_nanos(), node, lag, lag_us });
        } else {
            self.dropped += 1;
        }
    }

    /// Records the reads answered while a partition was in force under the
    /// side of the replica that answered: `majority` when its side holds
    /// more than half of the `nodes`, `minority` when not.
    pub fn split_by_side(
        &self,
        now: Time,
        faults: &[AppliedFault],
        nodes: u32,
        majority: &SideNames,
        minority: &SideNames,
        metrics: &mut Metrics,
    ) {
        if self.dropped > 0 {
            metrics.count("read_samples_dropped", self.dropped);
        }
        let spans = partition_spans(faults, now);
        if spans.is_empty() {
            return;
        }
        for r in &self.samples {
            // Spans are in time order and do not overlap.
            let i = spans.partition_point(|s| s.end_ns <= r.at_ns);
            let Some(span) = spans.get(i).filter(|s| s.start_ns <= r.at_ns) else { continue };
            let Some(side) = span.groups.iter().find(|g| g.contains(&r.node)) else { continue };
            let names = if side.len() * 2 > nodes as usize { majority } else { minority };
            metrics.count(names.reads, 1);
            if r.lag > 0 {
                metrics.count(names.lagging, 1);
                metrics.record(names.lag, u64::from(r.lag));
                if let (Some(name), true) = (names.lag_us, r.lag_us != u32::MAX) {
                    metrics.record(name, u64::from(r.lag_us));
                }
            }
        }
    }
}
