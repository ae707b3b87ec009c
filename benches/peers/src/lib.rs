//! What the peer binaries share: the workload's shape and its report line.
//!
//! The workload is `faultline bench`'s pingpong: `nodes` nodes, `in_flight`
//! messages started at time zero, and every delivery answered by one new
//! message to a uniformly chosen other node, after a latency uniform in
//! 1–2 ms. One delivery is one event. Each binary runs until `total`
//! deliveries and prints `events_per_s=…` for `ci/compare-peers.sh`.

use std::time::Duration;

/// The latency bounds, in nanoseconds.
pub const MIN_LATENCY_NS: u64 = 1_000_000;
pub const MAX_LATENCY_NS: u64 = 2_000_000;

/// `(nodes, in_flight, total)` from the command line, with defaults.
pub fn args(default_total: u64) -> (u64, u64, u64) {
    let mut numbers = std::env::args().skip(1).map(|a| {
        a.parse::<u64>().unwrap_or_else(|_| {
            eprintln!("usage: NODES IN_FLIGHT TOTAL_DELIVERIES (whole numbers); got {a:?}");
            std::process::exit(2)
        })
    });
    let nodes = numbers.next().unwrap_or(5).max(2);
    let in_flight = numbers.next().unwrap_or(1_000);
    let total = numbers.next().unwrap_or(default_total);
    (nodes, in_flight, total)
}

/// The one line each binary prints.
pub fn report(engine: &str, nodes: u64, in_flight: u64, delivered: u64, virtual_time: Duration, wall: Duration) {
    println!(
        "{engine}: nodes={nodes} in_flight={in_flight} delivered={delivered} virtual_s={:.3} wall_s={:.3} events_per_s={:.0}",
        virtual_time.as_secs_f64(),
        wall.as_secs_f64(),
        delivered as f64 / wall.as_secs_f64()
    );
}

/// A uniformly chosen node other than `me`, from a draw in `0..nodes - 1`.
pub fn other(draw: u64, me: u64) -> u64 {
    if draw >= me {
        draw + 1
    } else {
        draw
    }
}
