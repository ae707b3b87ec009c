//! faultline-sim: a deterministic discrete-event engine for distributed
//! protocols. It knows nothing of any protocol: it hosts [`Process`]es (sans-I/O
//! state machines), moves their messages through a faulty [`net::Network`],
//! fires their timers on a virtual clock, gives each node a machine of its own
//! ([`machine`]: start-up time, clock offset and drift, and a [`disk`] whose
//! writes take time), applies scheduled faults, and feeds every event into a
//! fingerprint. One seed rules a run.

pub mod chaos;
pub mod coverage;
pub mod disk;
pub mod fault;
pub mod machine;
pub mod mem;
pub mod metrics;
pub mod net;
pub mod process;
pub mod queue;
pub mod report;
pub mod rng;
pub mod time;
pub mod trace;
pub mod world;

pub use coverage::Coverage;
pub use disk::DiskConfig;
pub use fault::{AppliedFault, FaultAction, FaultWindow, NodeRef, ScheduledFault};
pub use machine::MachineConfig;
pub use metrics::Metrics;
pub use net::{LinkConfig, LinkKind};
pub use process::{Addr, ClientId, Ctx, Message, NodeId, Process, Role, TimerId};
pub use report::{CheckClass, CheckResult, RoleSpec, RunReport, Timeline, Verdict};
pub use rng::{Latency, Probability, SimRng};
pub use time::{Duration, Time};
pub use world::{EndReason, Limits, Monitor, NetStats, RunOutcome, Violation, World, WorldConfig};
