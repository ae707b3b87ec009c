//! Machines: what makes one node's host differ from another's. Real machines
//! do not boot at the same instant, their clocks do not read the same time
//! and do not tick at the same rate, and their disks take time to write.
//! Without those differences a cluster whose nodes all arm the same timeout
//! at t = 0 stays in lockstep forever, which no real cluster does.
//!
//! Each node draws its start-up delay, clock offset and clock rate once per
//! run, from its own random stream ([`Stream::Machine`]), so the draws change
//! nothing else in the run. A bound of zero draws nothing: the node starts at
//! t = 0 with a true clock.

use rand::Rng;
use serde::Serialize;

use crate::disk::DiskConfig;
use crate::rng::{stream, Stream};
use crate::time::{Duration, Time};

/// How the scenario's machines may differ.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MachineConfig {
    /// Every node's disk; `None` makes writes durable at once.
    pub disk: Option<DiskConfig>,
    /// Nodes whose disk differs from `disk` (`None`: instant).
    pub disk_overrides: Vec<(u32, Option<DiskConfig>)>,
    /// A node boots at a uniform time in `[0, start_jitter]`; until then it
    /// is down (messages to it are dropped).
    pub start_jitter: Duration,
    /// A node's clock starts ahead of true time by a uniform `[0, clock_offset]`.
    pub clock_offset: Duration,
    /// A node's clock runs at `1 + d * 1e-6` for a uniform `d` in
    /// `[-clock_drift_ppm, clock_drift_ppm]`.
    pub clock_drift_ppm: f64,
}

/// Ordinary servers: quartz clocks are specified to about ±100 ppm, NTP keeps
/// hosts within a few milliseconds of each other, and processes of one
/// cluster come up some milliseconds apart.
pub const TYPICAL_START_JITTER: Duration = Duration::from_millis(10);
pub const TYPICAL_CLOCK_OFFSET: Duration = Duration::from_millis(5);
pub const TYPICAL_CLOCK_DRIFT_PPM: f64 = 100.0;

/// The largest drift a scenario may set: ±10% is already a broken clock
/// (clock faults model worse).
pub const MAX_CLOCK_DRIFT_PPM: f64 = 100_000.0;

impl MachineConfig {
    /// Identical machines: every node boots at 0 with a true clock and an
    /// instant disk.
    pub fn ideal() -> MachineConfig {
        MachineConfig {
            disk: None,
            disk_overrides: Vec::new(),
            start_jitter: Duration::ZERO,
            clock_offset: Duration::ZERO,
            clock_drift_ppm: 0.0,
        }
    }

    /// Machines as ordinary servers differ: the `TYPICAL_*` bounds, with an
    /// instant disk.
    pub fn typical() -> MachineConfig {
        MachineConfig {
            start_jitter: TYPICAL_START_JITTER,
            clock_offset: TYPICAL_CLOCK_OFFSET,
            clock_drift_ppm: TYPICAL_CLOCK_DRIFT_PPM,
            ..MachineConfig::ideal()
        }
    }

    /// Node `node`'s disk.
    pub fn disk_of(&self, node: u32) -> Option<&DiskConfig> {
        match self.disk_overrides.iter().rev().find(|(n, _)| *n == node) {
            Some((_, disk)) => disk.as_ref(),
            None => self.disk.as_ref(),
        }
    }

    /// What node `node` drew in the run of `seed`.
    pub fn draw(&self, seed: u64, node: u32) -> Machine {
        let mut m = Machine { start: Time::ZERO, clock_offset: Duration::ZERO, clock_rate: 1.0 };
        if self.start_jitter.is_zero() && self.clock_offset.is_zero() && self.clock_drift_ppm == 0.0 {
            return m;
        }
        let mut rng = stream(seed, Stream::Machine(node));
        let start = rng.gen_range(0..=self.start_jitter.as_nanos());
        let offset = rng.gen_range(0..=self.clock_offset.as_nanos());
        let drift =
            if self.clock_drift_ppm > 0.0 { rng.gen_range(-self.clock_drift_ppm..=self.clock_drift_ppm) } else { 0.0 };
        m.start = Time::ZERO + Duration::from_nanos(start);
        m.clock_offset = Duration::from_nanos(offset);
        m.clock_rate = 1.0 + drift * 1e-6;
        m
    }
}

/// One node's machine in one run.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Machine {
    /// When it boots.
    pub start: Time,
    /// How far its clock reads ahead of true time at boot.
    pub clock_offset: Duration,
    /// How fast its clock runs against true time.
    pub clock_rate: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_machines_draw_nothing() {
        let m = MachineConfig::ideal().draw(7, 3);
        assert_eq!(m, Machine { start: Time::ZERO, clock_offset: Duration::ZERO, clock_rate: 1.0 });
    }

    #[test]
    fn typical_machines_stay_within_their_bounds_and_differ() {
        let config = MachineConfig::typical();
        let draws: Vec<Machine> = (0..100).map(|n| config.draw(1, n)).collect();
        for m in &draws {
            assert!(m.start.since(Time::ZERO) <= TYPICAL_START_JITTER);
            assert!(m.clock_offset <= TYPICAL_CLOCK_OFFSET);
            assert!((m.clock_rate - 1.0).abs() <= TYPICAL_CLOCK_DRIFT_PPM * 1e-6 + 1e-12);
        }
        let starts: std::collections::BTreeSet<Time> = draws.iter().map(|m| m.start).collect();
        assert_eq!(starts.len(), 100, "no two nodes boot at the same instant");
        assert_eq!(config.draw(1, 5), draws[5], "a seed rules the draw");
    }

    #[test]
    fn a_node_override_replaces_the_default_disk() {
        let disk = DiskConfig { latency: crate::rng::Latency::Constant { value: Duration::from_millis(5) } };
        let config =
            MachineConfig { disk: Some(disk.clone()), disk_overrides: vec![(2, None)], ..MachineConfig::ideal() };
        assert_eq!(config.disk_of(1), Some(&disk));
        assert_eq!(config.disk_of(2), None);
    }
}
