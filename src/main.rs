//! The `faultline` command line. Thin: everything is in the library
//! (`src/lib.rs`), which downstream crates call with protocols of their own.

use std::process::ExitCode;

fn main() -> ExitCode {
    faultline::main_with(&[])
}

/// mimalloc, counted per thread so each run is bounded in memory
/// (`[limits] max_memory`). mimalloc: a simulation allocates and frees many small messages, log
/// entries and history records; it runs the Raft throughput scenario about
/// a fifth faster than the system allocator. Allocation addresses never reach
/// a simulation, so the allocator cannot change a run.
#[global_allocator]
static GLOBAL: faultline_sim::mem::Counting<mimalloc::MiMalloc> = faultline_sim::mem::Counting::new(mimalloc::MiMalloc);
