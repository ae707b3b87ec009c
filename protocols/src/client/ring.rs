//! A consistent-hash ring (Karger et al., STOC 1997), as memcached clients
//! and groupcache place keys: each node owns `replicas` points on a 64-bit
//! ring, and a key belongs to the first point at or after its own hash.
//! Adding or removing a node moves only the keys next to its points.

/// A ring of virtual-node points, sorted by hash.
#[derive(Clone, Debug)]
pub struct HashRing {
    points: Vec<(u64, u32)>,
    nodes: u32,
}

/// SplitMix64's finaliser: a fixed, well-mixed 64-bit hash, the same on every
/// machine (the ring must not depend on the process's hasher).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl HashRing {
    /// The ring of nodes `0..nodes`, each with `replicas` points (at least 1).
    pub fn new(nodes: u32, replicas: u32) -> HashRing {
        let replicas = replicas.max(1);
        let mut points: Vec<(u64, u32)> =
            (0..nodes).flat_map(|n| (0..replicas).map(move |r| (mix(u64::from(n) << 32 | u64::from(r)), n))).collect();
        points.sort_unstable();
        HashRing { points, nodes }
    }

    fn start(&self, key: u64) -> usize {
        let h = mix(key ^ 0x5bd1_e995_5bd1_e995);
        self.points.partition_point(|&(p, _)| p < h) % self.points.len().max(1)
    }

    /// How many nodes the ring places keys on.
    pub fn nodes(&self) -> u32 {
        self.nodes
    }

    /// The node that owns `key`.
    pub fn owner(&self, key: u64) -> Option<u32> {
        self.successors(key).next()
    }

    /// The distinct nodes in ring order from `key`'s point: the owner first,
    /// then where its replicas (or a failover) go.
    pub fn successors(&self, key: u64) -> impl Iterator<Item = u32> + '_ {
        let start = self.start(key);
        let len = self.points.len();
        let mut seen = vec![false; self.nodes as usize];
        (0..len).filter_map(move |i| {
            let node = self.points[(start + i) % len].1;
            (!std::mem::replace(&mut seen[node as usize], true)).then_some(node)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_an_owner_and_successors_are_distinct() {
        let ring = HashRing::new(5, 50);
        for key in 0..1_000 {
            let all: Vec<u32> = ring.successors(key).collect();
            assert_eq!(all.len(), 5, "key {key}: {all:?}");
            let mut sorted = all.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 5);
            assert_eq!(ring.owner(key), Some(all[0]));
        }
    }

    #[test]
    fn keys_spread_over_nodes() {
        let ring = HashRing::new(4, 100);
        let mut counts = [0u32; 4];
        for key in 0..40_000 {
            counts[ring.owner(key).unwrap_or(0) as usize] += 1;
        }
        // With 100 points per node the largest share stays within about a
        // third of the mean (10,000); a ring without virtual nodes would not.
        assert!(counts.iter().all(|&c| (6_500..=13_500).contains(&c)), "{counts:?}");
    }

    #[test]
    fn removing_a_node_moves_only_its_keys() {
        let (five, four) = (HashRing::new(5, 50), HashRing::new(4, 50));
        for key in 0..5_000 {
            let before = five.owner(key);
            if before != Some(4) {
                assert_eq!(four.owner(key), before, "key {key} moved although its owner stayed");
            }
        }
    }

    /// Share of `keys` keys each of `nodes` nodes owns.
    fn shares(ring: &HashRing, keys: u64) -> Vec<f64> {
        let mut counts = vec![0u64; ring.nodes() as usize];
        for key in 0..keys {
            counts[ring.owner(key).unwrap_or(0) as usize] += 1;
        }
        counts.into_iter().map(|c| c as f64 / keys as f64).collect()
    }

    /// The analysis of consistent hashing with v points per node: a node
    /// that joins n others takes about 1/(n + 1) of the keys (and only
    /// those move), and a node's share of the ring is a sum of v spacings
    /// between uniform points, so the shares' coefficient of variation is
    /// about 1/√v. Measured over 10⁶ keys; the figures print with
    /// `--nocapture`.
    #[test]
    fn remapping_and_load_spread_follow_the_analysis() {
        let keys = 1_000_000u64;
        for v in [50u32, 100, 200] {
            let (ten, eleven) = (HashRing::new(10, v), HashRing::new(11, v));
            let (mut moved, mut between_old) = (0u64, 0u64);
            for k in 0..keys {
                let (before, after) = (ten.owner(k), eleven.owner(k));
                if before != after {
                    moved += 1;
                    between_old += u64::from(after != Some(10));
                }
            }
            assert_eq!(between_old, 0, "v = {v}: keys moved between old nodes");
            let moved = moved as f64 / keys as f64;
            let expected = 1.0 / 11.0;
            println!(
                "v = {v}: join of an 11th node moved {moved:.4} of the keys, 1/(n+1) = {expected:.4}, ratio {:.3}",
                moved / expected
            );
            assert!((moved / expected - 1.0).abs() < 3.0 / f64::from(v).sqrt(), "v = {v}: moved {moved:.4}");

            let nodes = 200;
            let s = shares(&HashRing::new(nodes, v), keys * 2);
            let mean = 1.0 / f64::from(nodes);
            let var = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / f64::from(nodes - 1);
            let cv = var.sqrt() / mean;
            let predicted = 1.0 / f64::from(v).sqrt();
            println!(
                "v = {v}: load CV over {nodes} nodes {cv:.4}, 1/sqrt(v) = {predicted:.4}, ratio {:.3}",
                cv / predicted
            );
            assert!((cv / predicted - 1.0).abs() < 0.25, "v = {v}: CV {cv:.4} vs {predicted:.4}");
        }
    }
}
