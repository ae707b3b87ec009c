//! Availability and staleness under partition — the two axes of the CAP
//! comparison — read off the clients' history and the partitions that
//! actually happened.
//!
//! Definitions (the README repeats them):
//! - an operation invoked while a partition is in force is *available* if it
//!   completed successfully while the cluster was still partitioned (without
//!   a break since the invocation; overlapping partitions may change the
//!   sides meanwhile): an operation that waited out the partition and
//!   succeeded after the heal was not served by the partitioned system, so it
//!   counts against availability;
//! - an operation is on the *minority* or *majority* side by its client's
//!   home node, for operations invoked while a partition is in force;
//! - a read is *stale* if it returned a value older than the latest write
//!   that completed before the read began: the value it returned was written
//!   by a write that finished before that latest write started (or the key
//!   read as absent although a write had completed).

use std::collections::BTreeMap;

use faultline_sim::{AppliedFault, Metrics, Time};

use super::history::{OpKind, Operation, Outcome, Value};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SideFigures {
    pub ops: u64,
    pub ok: u64,
    pub reads: u64,
    pub stale_reads: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapFigures {
    pub minority: SideFigures,
    pub majority: SideFigures,
    /// Reads and stale reads over the whole run.
    pub reads: u64,
    pub stale_reads: u64,
    /// Virtual time some partition was in force.
    pub partitioned_ns: u64,
}

impl CapFigures {
    /// Records the figures as counters (they become result columns).
    pub fn record(&self, metrics: &mut Metrics) {
        metrics.count("reads_total", self.reads);
        metrics.count("stale_reads", self.stale_reads);
        if self.partitioned_ns > 0 {
            metrics.count("partitioned_ms", self.partitioned_ns / 1_000_000);
            metrics.count("minority_ops", self.minority.ops);
            metrics.count("minority_ops_ok", self.minority.ok);
            metrics.count("minority_stale_reads", self.minority.stale_reads);
            metrics.count("majority_ops", self.majority.ops);
            metrics.count("majority_ops_ok", self.majority.ok);
            metrics.count("majority_stale_reads", self.majority.stale_reads);
        }
    }
}

/// Partitions in force over [start, end), with the sides they leave, and
/// `until`: the end of the unbroken partitioned stretch this span belongs to
/// (overlapping partitions change the sides without ending the stretch).
struct Window {
    start: u64,
    end: u64,
    until: u64,
    groups: Vec<Vec<u32>>,
}

fn windows(faults: &[AppliedFault], end: Time) -> Vec<Window> {
    let spans = faultline_sim::fault::partition_spans(faults, end);
    let mut out: Vec<Window> = spans
        .into_iter()
        .map(|s| Window { start: s.start_ns, end: s.end_ns, until: s.end_ns, groups: s.groups })
        .collect();
    for i in (0..out.len().saturating_sub(1)).rev() {
        if out[i].end == out[i + 1].start {
            out[i].until = out[i + 1].until;
        }
    }
    out
}

/// Whether each read in `ops` is stale, by index; `None` for non-reads.
fn stale_flags(ops: &[Operation]) -> Vec<Option<bool>> {
    // Per key: completed writes as (complete, invoke, value), and who wrote
    // each value.
    let mut writes: BTreeMap<u64, Vec<(u64, u64, Value)>> = BTreeMap::new();
    let mut writer: BTreeMap<(u64, Value), (u64, Option<u64>)> = BTreeMap::new();
    for op in ops {
        let written = match (&op.kind, &op.outcome) {
            (OpKind::Put { key, value }, Outcome::Written | Outcome::Unknown) => Some((*key, *value)),
            (OpKind::Cas { key, new, .. }, Outcome::Cas { swapped: true } | Outcome::Unknown) => Some((*key, *new)),
            _ => None,
        };
        if let Some((key, value)) = written {
            writer.insert((key, value), (op.invoke_ns, op.complete_ns));
            if let (Some(done), false) = (op.complete_ns, matches!(op.outcome, Outcome::Unknown)) {
                writes.entry(key).or_default().push((done, op.invoke_ns, value));
            }
        }
    }
    writes.values_mut().for_each(|w| w.sort_unstable());
    ops.iter()
        .map(|op| {
            let (OpKind::Get { key }, Outcome::Read { value }) = (&op.kind, &op.outcome) else { return None };
            let done = writes.get(key).map_or(&[][..], |w| &w[..]);
            // The latest write completed before the read began.
            let before = done.partition_point(|&(complete, _, _)| complete < op.invoke_ns);
            let Some(&(_, latest_invoke, latest_value)) = before.checked_sub(1).map(|i| &done[i]) else {
                return Some(false);
            };
            Some(match value {
                None => true,
                Some(v) if *v == latest_value => false,
                Some(v) => match writer.get(&(*key, *v)) {
                    Some(&(_, Some(complete))) => complete < latest_invoke,
                    _ => false,
                },
            })
        })
        .collect()
}

/// Availability per side and staleness; `homes[c]` is client `c`'s home node.
pub fn analyse(ops: &[Operation], homes: &[u32], nodes: u32, faults: &[AppliedFault], end: Time) -> CapFigures {
    let windows = windows(faults, end);
    let stale = stale_flags(ops);
    let mut figures = CapFigures {
        partitioned_ns: windows.iter().map(|w| w.end.saturating_sub(w.start)).sum(),
        ..CapFigures::default()
    };
    for (op, stale) in ops.iter().zip(&stale) {
        if let Some(s) = stale {
            figures.reads += 1;
            figures.stale_reads += u64::from(*s);
        }
        let Some(window) = windows.iter().find(|w| w.start <= op.invoke_ns && op.invoke_ns < w.end) else { continue };
        let Some(&home) = homes.get(op.client as usize) else { continue };
        let Some(group) = window.groups.iter().find(|g| g.contains(&home)) else { continue };
        let side = if group.len() * 2 > nodes as usize { &mut figures.majority } else { &mut figures.minority };
        side.ops += 1;
        let succeeded = !matches!(op.outcome, Outcome::Unknown | Outcome::Failed);
        side.ok += u64::from(succeeded && op.complete_ns.is_some_and(|done| done < window.until));
        if let Some(s) = stale {
            side.reads += 1;
            side.stale_reads += u64::from(*s);
        }
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u32, invoke: u64, complete: Option<u64>, kind: OpKind, outcome: Outcome) -> Operation {
        Operation { client, invoke_ns: invoke, complete_ns: complete, kind, outcome, at: None, sync: false }
    }

    #[test]
    fn stale_reads_are_those_older_than_a_completed_write() {
        let put = |c, i, d, v| op(c, i, Some(d), OpKind::Put { key: 1, value: v }, Outcome::Written);
        let get = |c, i, d, v| op(c, i, Some(d), OpKind::Get { key: 1 }, Outcome::Read { value: v });
        let ops = vec![
            put(0, 0, 10, 1),
            put(0, 20, 30, 2),
            get(1, 40, 50, Some(2)), // fresh
            get(1, 60, 70, Some(1)), // stale: 1 was overwritten by 2 before the read began
            get(2, 25, 35, Some(1)), // concurrent with the write of 2: not stale
            get(2, 5, 8, None),      // nothing completed yet: not stale
            get(2, 80, 90, None),    // absent after a completed write: stale
        ];
        let flags = stale_flags(&ops);
        assert_eq!(flags, vec![None, None, Some(false), Some(true), Some(false), Some(false), Some(true)]);
    }

    #[test]
    fn sides_follow_the_client_home_node() {
        let faults = vec![
            AppliedFault {
                at: Time::from_nanos(100),
                kind: "partition",
                nodes: vec![0, 1, 2, 3, 4],
                description: String::new(),
                groups: vec![vec![0, 1], vec![2, 3, 4]],
            },
            AppliedFault {
                at: Time::from_nanos(200),
                kind: "heal",
                nodes: vec![],
                description: String::new(),
                groups: vec![],
            },
        ];
        let w = |c, i, outcome| op(c, i, Some(i + 5), OpKind::Put { key: 1, value: i }, outcome);
        let late = op(2, 190, Some(210), OpKind::Put { key: 1, value: 9 }, Outcome::Written);
        let ops = vec![w(0, 150, Outcome::Unknown), w(2, 150, Outcome::Written), w(0, 250, Outcome::Written), late];
        let homes = [0, 1, 2];
        let f = analyse(&ops, &homes, 5, &faults, Time::from_nanos(300));
        assert_eq!((f.minority.ops, f.minority.ok), (1, 0));
        // The write invoked at 190 completed at 210, after the heal at 200:
        // the partitioned system did not serve it.
        assert_eq!((f.majority.ops, f.majority.ok), (2, 1));
        assert_eq!(f.partitioned_ns, 100);
    }

    #[test]
    fn overlapping_partitions_keep_the_cluster_partitioned_until_the_last_heal() {
        let fault = |at, kind, groups: Vec<Vec<u32>>, description: &str| AppliedFault {
            at: Time::from_nanos(at),
            kind,
            nodes: vec![],
            description: description.to_string(),
            groups,
        };
        let faults = vec![
            fault(100, "partition", vec![vec![0, 1], vec![2, 3, 4]], "partition [[0, 1]]"),
            fault(150, "isolate", vec![vec![4], vec![0, 1, 2, 3]], "isolate n4"),
            fault(200, "heal", vec![], "heal partition #0"),
            fault(300, "heal", vec![], "heal isolate #1"),
        ];
        let put = |c, i, d| op(c, i, Some(d), OpKind::Put { key: 1, value: i }, Outcome::Written);
        // Invoked on the minority side at 160, done at 250: partition #0 had
        // healed, but n4 was still cut off, so the cluster was partitioned
        // the whole time. Invoked at 160 on n2's side, done at 320: after
        // the last heal, not available.
        let ops = vec![put(0, 160, 250), put(1, 160, 320)];
        let f = analyse(&ops, &[0, 2], 5, &faults, Time::from_nanos(400));
        assert_eq!((f.minority.ops, f.minority.ok), (2, 1), "{f:?}");
        assert_eq!(f.partitioned_ns, 200);
    }
}
