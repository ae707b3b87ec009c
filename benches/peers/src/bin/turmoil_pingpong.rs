//! The pingpong workload on turmoil 0.7: each node is a turmoil host with a
//! UDP socket that answers every datagram with one to a random other host;
//! turmoil's links are given latency 1–2 ms. A driver client ends the run
//! once the deliveries reach the total.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_peers::{args, other, report};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use turmoil::net::UdpSocket;

const PORT: u16 = 7000;

fn main() {
    let (nodes, in_flight, total) = args(2_000_000);
    let delivered = Arc::new(AtomicU64::new(0));
    let mut sim = turmoil::Builder::new()
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(2))
        .tick_duration(Duration::from_micros(100))
        .simulation_duration(Duration::from_secs(1_000_000))
        .rng_seed(1)
        .build();
    let hosts: Arc<Vec<String>> = Arc::new((0..nodes).map(|i| format!("node{i}")).collect());
    for me in 0..nodes {
        let name = hosts[me as usize].clone();
        let (delivered, hosts) = (Arc::clone(&delivered), Arc::clone(&hosts));
        sim.host(name.as_str(), move || {
            let (delivered, hosts) = (Arc::clone(&delivered), Arc::clone(&hosts));
            async move {
                let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
                let mut rng = ChaCha8Rng::seed_from_u64(me);
                // This node's share of the messages started at time zero.
                let share = in_flight / nodes + u64::from(me < in_flight % nodes);
                for _ in 0..share {
                    let to = other(rng.random_range(0..nodes - 1), me);
                    socket.send_to(b"ping", (hosts[to as usize].as_str(), PORT)).await?;
                }
                let mut buf = [0u8; 16];
                loop {
                    socket.recv_from(&mut buf).await?;
                    if delivered.fetch_add(1, Ordering::Relaxed) + 1 >= total {
                        return Ok(());
                    }
                    let to = other(rng.random_range(0..nodes - 1), me);
                    socket.send_to(b"ping", (hosts[to as usize].as_str(), PORT)).await?;
                }
            }
        });
    }
    let watched = Arc::clone(&delivered);
    sim.client("driver", async move {
        while watched.load(Ordering::Relaxed) < total {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    });
    let started = Instant::now();
    if let Err(e) = sim.run() {
        eprintln!("turmoil: the run failed: {e}");
        std::process::exit(1);
    }
    let wall = started.elapsed();
    report("turmoil", nodes, in_flight, delivered.load(Ordering::Relaxed), sim.elapsed(), wall);
}
