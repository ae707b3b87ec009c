//! Faults scheduled at virtual times: partitions, crashes, restarts, pauses
//! and clock drift. A fault may name a node by id or by the role the protocol
//! reports at that moment ("leader"), resolved when the fault fires.

use std::fmt;

use serde::Serialize;

use crate::time::{Duration, Time};

/// Which node a fault hits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRef {
    Id(u32),
    /// The lowest-numbered running node that reports this role.
    Role(String),
    /// A running node chosen by the fault stream (for restart: a crashed one).
    Random,
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeRef::Id(i) => write!(f, "n{i}"),
            NodeRef::Role(r) => write!(f, "the {r}"),
            NodeRef::Random => write!(f, "a random node"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Splits the nodes into groups that cannot reach each other; nodes named
    /// in no group form one more group.
    Partition {
        groups: Vec<Vec<u32>>,
    },
    /// Blocks traffic from every node of `from` to every node of `to` only.
    PartitionOneway {
        from: Vec<u32>,
        to: Vec<u32>,
    },
    /// Cuts one node off from all others, both ways.
    Isolate {
        node: NodeRef,
    },
    /// Removes every cut.
    Heal,
    /// Stops a node: its volatile state is lost, its durable state kept.
    Crash {
        node: NodeRef,
    },
    /// Restarts a crashed node from its durable state.
    Restart {
        node: NodeRef,
    },
    /// Freezes a node (a GC pause): its timers and deliveries wait.
    Pause {
        node: NodeRef,
    },
    Resume {
        node: NodeRef,
    },
    /// Sets how fast a node's clock runs: 0.5 means its timers take twice as
    /// long in true time.
    ClockRate {
        node: NodeRef,
        rate: f64,
    },
    /// Multiplies the latency of a node's disk writes started from now on
    /// (a disk that is failing, or shared with a noisy neighbour). Slow-disk
    /// faults in force on one node multiply together. No effect on a node
    /// without a `[disk]`.
    SlowDisk {
        node: NodeRef,
        factor: f64,
    },
}

/// A fault and when it fires; `undo_after` schedules its end, which removes
/// what this fault did and nothing else, so overlapping faults compose:
///
/// - a partition, one-way cut or isolation heals alone; other partitions and
///   cuts stay in force (an explicit `Heal` and the liveness phase heal all);
/// - a crash's restart fires only if that crash is what holds the node down
///   (not when the node was restarted, and perhaps crashed again, since);
/// - pauses count: the node resumes when every pause on it has ended (an
///   explicit `Resume` ends them all);
/// - a clock change's end sets the rate of the latest clock change still in
///   force on the node, or the true rate when none is (a restart resets the
///   clock, and a lasting change, one without `undo_after`, replaces the
///   earlier ones).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduledFault {
    pub at: Time,
    pub action: FaultAction,
    pub undo_after: Option<Duration>,
    /// Timed by an event the protocol reports instead: from `at` on, the
    /// fault waits for a node to take a role, then strikes after a delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<RoleTrigger>,
}

/// "When a node next becomes `role`, wait a uniform delay in
/// `[delay_min, delay_max]`, then strike": e.g. crash a new leader 0-20 ms
/// after its election, before it has committed anything.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoleTrigger {
    pub role: String,
    pub delay_min: Duration,
    pub delay_max: Duration,
}

/// A fault as it actually happened, for summaries and reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppliedFault {
    pub at: Time,
    pub kind: &'static str,
    pub nodes: Vec<u32>,
    pub description: String,
    /// For a partition or isolation: the groups that can no longer reach each
    /// other (every node in exactly one). Empty for other faults.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<u32>>,
}

impl AppliedFault {
    /// Whether this fault ends one partition or all of them (a heal, or the
    /// start of the liveness phase); [`AppliedFault::undoes`] tells which.
    pub fn heals(&self) -> bool {
        self.kind == "heal" || self.kind == "liveness"
    }

    /// Whether this fault ends every partition and cut: an explicit heal or
    /// the start of the liveness phase.
    pub fn heals_all(&self) -> bool {
        self.heals() && self.undoes().is_none()
    }

    /// For the end of an earlier fault, that fault's index in the applied
    /// list: the end of a partition reads `heal partition #3`, of a crash
    /// `restart n2 from durable state (ends crash #3)`, of a pause `resume n2
    /// (ends pause #3)`, of a clock change `n2 clock runs at 1x (ends
    /// clock_rate #3)`. `None` for a fault that ends nothing in particular.
    pub fn undoes(&self) -> Option<usize> {
        if !matches!(self.kind, "heal" | "restart" | "resume" | "clock_rate" | "slow_disk") {
            return None;
        }
        let (_, after) = self.description.rsplit_once('#')?;
        let digits: &str = &after[..after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len())];
        digits.parse().ok()
    }
}

impl FaultAction {
    pub fn kind_name(&self) -> &'static str {
        match self {
            FaultAction::Partition { .. } => "partition",
            FaultAction::PartitionOneway { .. } => "partition_oneway",
            FaultAction::Isolate { .. } => "isolate",
            FaultAction::Heal => "heal",
            FaultAction::Crash { .. } => "crash",
            FaultAction::Restart { .. } => "restart",
            FaultAction::Pause { .. } => "pause",
            FaultAction::Resume { .. } => "resume",
            FaultAction::ClockRate { .. } => "clock_rate",
            FaultAction::SlowDisk { .. } => "slow_disk",
        }
    }
}

/// A span of virtual time during which a fault was in force, for shading
/// plots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FaultWindow {
    pub start_ns: u64,
    pub end_ns: u64,
    pub kind: String,
    pub nodes: Vec<u32>,
}

/// Pairs each fault with what undid it: a partition, cut or isolation with
/// its own heal (or a heal of everything), crashes with the node's restart,
/// pauses with its resume, clock changes with the next change of that node's
/// clock; whatever is still in force at `end` runs to it.
pub fn windows(applied: &[AppliedFault], end: Time) -> Vec<FaultWindow> {
    let mut out = Vec::new();
    let mut open: Vec<(usize, u64, &'static str, Vec<u32>)> = Vec::new();
    for (id, f) in applied.iter().enumerate() {
        let at = f.at.as_nanos();
        let undoes = f.undoes();
        let closes = |opened: usize, kind: &str, nodes: &[u32]| -> bool {
            match f.kind {
                "liveness" => true,
                "heal" => {
                    matches!(kind, "partition" | "partition_oneway" | "isolate")
                        && !matches!(undoes, Some(u) if u != opened)
                }
                "restart" => kind == "crash" && nodes == f.nodes.as_slice(),
                "resume" => kind == "pause" && nodes == f.nodes.as_slice(),
                "clock_rate" => kind == "clock_rate" && nodes == f.nodes.as_slice(),
                "slow_disk" => kind == "slow_disk" && nodes == f.nodes.as_slice() && undoes == Some(opened),
                _ => false,
            }
        };
        let mut still = Vec::new();
        for (opened, start, kind, nodes) in open.drain(..) {
            if closes(opened, kind, &nodes) {
                out.push(FaultWindow { start_ns: start, end_ns: at, kind: kind.to_string(), nodes });
            } else {
                still.push((opened, start, kind, nodes));
            }
        }
        open = still;
        if matches!(f.kind, "partition" | "partition_oneway" | "isolate" | "crash" | "pause")
            || (f.kind == "clock_rate" && !f.description.contains(" at 1x"))
            || (f.kind == "slow_disk" && undoes.is_none())
        {
            open.push((id, at, f.kind, f.nodes.clone()));
        }
    }
    for (_, start, kind, nodes) in open {
        out.push(FaultWindow { start_ns: start, end_ns: end.as_nanos(), kind: kind.to_string(), nodes });
    }
    out.sort_by_key(|w| (w.start_ns, w.end_ns));
    out
}

/// A span of virtual time with the same partitions in force, and the sides
/// they leave: nodes on one side share a group in every partition (or
/// isolation) in force, so overlapping partitions refine each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionSpan {
    pub start_ns: u64,
    pub end_ns: u64,
    /// Every node of the partitions' groups in exactly one side, sides in
    /// order of their lowest node.
    pub groups: Vec<Vec<u32>>,
}

/// Per node (of `nodes`), whether a crash, restart, pause or resume touched
/// it after `cutoff_ns`, or it is an end of a one-way cut in force at any
/// time after then: the nodes an end-of-run check over "the last W" cannot
/// call settled.
pub fn unsettled_after(applied: &[AppliedFault], cutoff_ns: u64, nodes: usize) -> Vec<bool> {
    let mut unsettled = vec![false; nodes];
    for (i, f) in applied.iter().enumerate() {
        let touched = match f.kind {
            "crash" | "restart" | "pause" | "resume" => f.at.as_nanos() > cutoff_ns,
            "partition_oneway" => {
                let healed = applied[i + 1..].iter().find(|h| h.heals() && h.undoes().is_none_or(|j| j == i));
                healed.is_none_or(|h| h.at.as_nanos() > cutoff_ns)
            }
            _ => false,
        };
        if touched {
            for &n in &f.nodes {
                if let Some(u) = unsettled.get_mut(n as usize) {
                    *u = true;
                }
            }
        }
    }
    unsettled
}

/// The spans during which at least one partition or isolation was in force,
/// each with the sides the partitions in force leave. A partition ends at its
/// own heal (`heal partition #3`) or at a heal of everything; one-way cuts
/// have no sides and are left out. Spans run to `end` if nothing heals them.
pub fn partition_spans(applied: &[AppliedFault], end: Time) -> Vec<PartitionSpan> {
    let mut spans = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut since = 0;
    let sides = |open: &[usize]| -> Vec<Vec<u32>> {
        let mut by_key: std::collections::BTreeMap<Vec<usize>, Vec<u32>> = std::collections::BTreeMap::new();
        let mut nodes: Vec<u32> = open.iter().flat_map(|&i| applied[i].groups.iter().flatten().copied()).collect();
        nodes.sort_unstable();
        nodes.dedup();
        for node in nodes {
            let key = open
                .iter()
                .map(|&i| applied[i].groups.iter().position(|g| g.contains(&node)).unwrap_or(usize::MAX))
                .collect();
            by_key.entry(key).or_default().push(node);
        }
        let mut groups: Vec<Vec<u32>> = by_key.into_values().collect();
        groups.sort();
        groups
    };
    for (id, f) in applied.iter().enumerate() {
        let at = f.at.as_nanos();
        let before = open.clone();
        if f.heals_all() {
            open.clear();
        } else if let (true, Some(undone)) = (f.heals(), f.undoes()) {
            open.retain(|&i| i != undone);
        }
        if !f.groups.is_empty() {
            open.push(id);
        }
        if open != before {
            if !before.is_empty() && at > since {
                spans.push(PartitionSpan { start_ns: since, end_ns: at, groups: sides(&before) });
            }
            since = at;
        }
    }
    if !open.is_empty() && end.as_nanos() > since {
        spans.push(PartitionSpan { start_ns: since, end_ns: end.as_nanos(), groups: sides(&open) });
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(ms: u64, kind: &'static str, nodes: &[u32], description: &str) -> AppliedFault {
        AppliedFault {
            at: Time::from_nanos(ms * 1_000_000),
            kind,
            nodes: nodes.to_vec(),
            description: description.into(),
            groups: Vec::new(),
        }
    }

    #[test]
    fn faults_pair_with_what_undid_them() {
        let faults = [
            applied(100, "partition", &[0, 1, 2], ""),
            applied(150, "crash", &[2], ""),
            applied(200, "heal", &[], ""),
            applied(250, "crash", &[1], ""),
            applied(300, "restart", &[2], ""),
            applied(400, "pause", &[0], ""),
        ];
        let w = windows(&faults, Time::from_nanos(1_000_000_000));
        let spans: Vec<(u64, u64, &str)> =
            w.iter().map(|w| (w.start_ns / 1_000_000, w.end_ns / 1_000_000, w.kind.as_str())).collect();
        assert_eq!(
            spans,
            [(100, 200, "partition"), (150, 300, "crash"), (250, 1000, "crash"), (400, 1000, "pause")],
            "n1's crash and n0's pause run to the end; n2's crash ends at its restart"
        );
    }

    #[test]
    fn overlapping_partitions_end_at_their_own_heal() {
        let faults = [
            applied(100, "partition", &[0, 1, 2], "partition [[0]] (unlisted nodes form their own group)"),
            applied(150, "partition_oneway", &[1, 2], "cut [1] -> [2]"),
            applied(200, "heal", &[], "heal partition #0"),
            applied(300, "heal", &[], "heal partition_oneway #1"),
            applied(400, "partition", &[0, 1, 2], ""),
            applied(500, "heal", &[], "heal all partitions"),
        ];
        assert_eq!(faults[2].undoes(), Some(0));
        assert!(faults[2].heals() && !faults[2].heals_all());
        assert!(faults[5].heals_all());
        let w = windows(&faults, Time::from_nanos(1_000_000_000));
        let spans: Vec<(u64, u64, &str)> =
            w.iter().map(|w| (w.start_ns / 1_000_000, w.end_ns / 1_000_000, w.kind.as_str())).collect();
        assert_eq!(spans, [(100, 200, "partition"), (150, 300, "partition_oneway"), (400, 500, "partition")]);
    }

    #[test]
    fn overlapping_partitions_refine_each_other() {
        let with_groups = |mut f: AppliedFault, groups: Vec<Vec<u32>>| {
            f.groups = groups;
            f
        };
        let faults = [
            with_groups(applied(100, "partition", &[0, 1, 2, 3], ""), vec![vec![0, 1], vec![2, 3]]),
            with_groups(applied(150, "isolate", &[1], ""), vec![vec![1], vec![0, 2, 3]]),
            applied(200, "heal", &[], "heal partition #0"),
            applied(300, "heal", &[], "heal isolate #1"),
        ];
        let spans: Vec<(u64, u64, Vec<Vec<u32>>)> = partition_spans(&faults, Time::from_nanos(1_000_000_000))
            .into_iter()
            .map(|s| (s.start_ns / 1_000_000, s.end_ns / 1_000_000, s.groups))
            .collect();
        assert_eq!(
            spans,
            [
                (100, 150, vec![vec![0, 1], vec![2, 3]]),
                (150, 200, vec![vec![0], vec![1], vec![2, 3]]),
                (200, 300, vec![vec![0, 2, 3], vec![1]]),
            ]
        );
    }
}
