//! faultline-scenario: the TOML side of faultline. [`Scenario`] is a
//! scenario file parsed and validated, every user mistake located by file,
//! line and column; [`edit`] rewrites scenario text (what `explore --swarm`
//! and `shrink` do). The engine (`faultline-sim`) knows nothing of TOML:
//! [`Scenario::world_config`] is where a scenario becomes an engine
//! configuration.

mod bounds;
mod bytes;
pub mod edit;
mod place;
mod scenario;

pub use bounds::{ParamRange, SwarmBounds, SwarmParam, LATENCY_FAMILIES, MAX_SLOW_LINKS};
pub use bytes::{Bytes, BYTE_UNITS};
pub use place::Step;
pub use scenario::*;
