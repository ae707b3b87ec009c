//! faultline-protocols: the protocol nodes faultline hosts, their clients,
//! invariants, checkers and bug knobs, and the registry that maps a scenario's
//! `protocol = "..."` to the code that runs it.

pub mod cache;
pub mod check;
pub mod client;
pub mod echo;
pub mod gossip;
pub mod gossip_kv;
pub mod harness;
pub mod idle;
pub mod kv;
pub mod multipaxos;
pub mod paxos;
pub mod pingpong;
pub mod raft;
pub mod registry;
pub mod swim;
pub mod zab;

pub use harness::{CoveragePoint, Protocol, ProtocolInfo};
pub use registry::{load_scenario, parse_scenario, Loaded, ProtocolEntry, Registry, RunOptions, PROTOCOLS};
