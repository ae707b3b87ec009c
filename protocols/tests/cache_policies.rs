//! The cache policies against obviously correct reference models: a `Vec`
//! of entries searched in full on every operation, victims chosen by a
//! minimum over explicit timestamps and counts. Random sequences of gets,
//! puts and removes, with sizes, byte capacities, TTLs and jitter, must give
//! the same answer and leave the same resident set after every step, for
//! LRU, LFU and FIFO. Then the documented semantics, one table case each.

use faultline_protocols::cache::{Capacity, Fifo, Key, Lfu, Lru, Policy, PolicyKind, Put, Ttl};
use faultline_sim::{Duration, Time};
use proptest::prelude::*;

/// One entry of the reference model, with the facts each policy orders by.
#[derive(Clone, Debug)]
struct ModelEntry {
    key: Key,
    size: u32,
    expires_at: Time,
    /// When it was inserted, and last used (an insert is its first use), on
    /// the model's own operation counter.
    inserted: u64,
    last_use: u64,
    frequency: u64,
}

/// The reference cache: O(n) per operation, written for obviousness.
struct Model {
    kind: PolicyKind,
    capacity: Capacity,
    entries: Vec<ModelEntry>,
    clock: u64,
}

impl Model {
    fn new(kind: PolicyKind, capacity: Capacity) -> Model {
        Model { kind, capacity, entries: Vec::new(), clock: 0 }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn find(&self, key: Key) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }

    fn expired(e: &ModelEntry, now: Time) -> bool {
        e.expires_at != Time::MAX && now >= e.expires_at
    }

    fn use_entry(&mut self, i: usize) {
        let t = self.tick();
        self.entries[i].last_use = t;
        self.entries[i].frequency += 1;
    }

    fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|e| u64::from(e.size)).sum()
    }

    /// The entry the policy evicts next, never `keep`.
    fn victim(&self, keep: Option<Key>) -> usize {
        let candidates = self.entries.iter().enumerate().filter(|(_, e)| Some(e.key) != keep);
        let chosen = match self.kind {
            PolicyKind::Lru => candidates.min_by_key(|(_, e)| e.last_use),
            PolicyKind::Fifo => candidates.min_by_key(|(_, e)| e.inserted),
            PolicyKind::Lfu => candidates.min_by_key(|(_, e)| (e.frequency, e.last_use)),
        };
        chosen.expect("something to evict").0
    }

    fn evict_until_fit(&mut self, keep: Option<Key>, new_entry: bool, new_bytes: u32) {
        let max_bytes = self.capacity.max_bytes().unwrap_or(u64::MAX);
        while (new_entry && self.entries.len() >= self.capacity.max_entries() as usize)
            || self.total_bytes() + u64::from(new_bytes) > max_bytes
        {
            let v = self.victim(keep);
            self.entries.remove(v);
        }
    }
}

impl Policy for Model {
    fn name(&self) -> &'static str {
        "model"
    }
    fn capacity(&self) -> Capacity {
        self.capacity
    }
    fn get(&mut self, key: Key, now: Time) -> bool {
        match self.find(key) {
            Some(i) if Model::expired(&self.entries[i], now) => {
                self.entries.remove(i);
                false
            }
            Some(i) => {
                self.use_entry(i);
                true
            }
            None => false,
        }
    }
    fn put_expiring(&mut self, key: Key, size: u32, now: Time, expires_at: Time) -> Put {
        if let Some(i) = self.find(key) {
            if Model::expired(&self.entries[i], now) {
                self.entries.remove(i);
            } else if !self.capacity.admits(size) {
                self.entries.remove(i);
                return Put::TooLarge;
            } else {
                self.entries[i].size = size;
                self.entries[i].expires_at = expires_at;
                self.use_entry(i);
                self.evict_until_fit(Some(key), false, 0);
                return Put::Updated;
            }
        }
        if !self.capacity.admits(size) {
            return Put::TooLarge;
        }
        self.evict_until_fit(None, true, size);
        let t = self.tick();
        self.entries.push(ModelEntry { key, size, expires_at, inserted: t, last_use: t, frequency: 1 });
        Put::Inserted
    }
    fn remove(&mut self, key: Key) -> bool {
        match self.find(key) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }
    fn len(&self) -> usize {
        self.entries.len()
    }
    fn bytes(&self) -> u64 {
        self.total_bytes()
    }
    fn resident(&self) -> Vec<(Key, u32)> {
        let mut r: Vec<(Key, u32)> = self.entries.iter().map(|e| (e.key, e.size)).collect();
        r.sort_unstable();
        r
    }
}

fn build(kind: PolicyKind, capacity: Capacity) -> Box<dyn Policy> {
    match kind {
        PolicyKind::Lru => Box::new(Lru::new(capacity)),
        PolicyKind::Lfu => Box::new(Lfu::new(capacity)),
        PolicyKind::Fifo => Box::new(Fifo::new(capacity)),
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Advance the clock by `dt` nanoseconds, then look `key` up.
    Get {
        key: Key,
        dt: u64,
    },
    /// Advance, then write; `jitter` is the caller-supplied TTL jitter.
    Put {
        key: Key,
        size: u32,
        dt: u64,
        jitter: u64,
    },
    Remove {
        key: Key,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u64..12, 0u64..4).prop_map(|(key, dt)| Op::Get { key, dt }),
        5 => (0u64..12, 0u32..12, 0u64..4, 0u64..6).prop_map(|(key, size, dt, jitter)| Op::Put { key, size, dt, jitter }),
        1 => (0u64..12).prop_map(|key| Op::Remove { key }),
    ]
}

fn kind() -> impl Strategy<Value = PolicyKind> {
    prop_oneof![Just(PolicyKind::Lru), Just(PolicyKind::Lfu), Just(PolicyKind::Fifo)]
}

/// Entries 1..=6, and half the time a byte capacity of 1..=30 too.
fn capacity() -> impl Strategy<Value = Capacity> {
    (1u64..=6, prop::option::of(1u64..=30)).prop_map(|(entries, bytes)| {
        let c = Capacity::entries(entries).unwrap();
        match bytes {
            Some(b) => c.with_bytes(b).unwrap(),
            None => c,
        }
    })
}

/// Half the time a TTL of 0..=12 ns with jitter up to 0..=4 ns.
fn ttl() -> impl Strategy<Value = Option<Ttl>> {
    prop::option::of((0u64..=12, 0u64..=4).prop_map(|(after, jitter)| Ttl {
        after_write: Duration::from_nanos(after),
        jitter_max: Duration::from_nanos(jitter),
    }))
}

/// Runs `ops` on the policy and its model side by side, comparing after every step.
fn agree(kind: PolicyKind, capacity: Capacity, ttl: Option<Ttl>, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut cache = build(kind, capacity);
    let mut model = Model::new(kind, capacity);
    let mut now = Time::ZERO;
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Get { key, dt } => {
                now += Duration::from_nanos(dt);
                prop_assert_eq!(cache.get(key, now), model.get(key, now), "step {}: {:?}", step, op);
            }
            Op::Put { key, size, dt, jitter } => {
                now += Duration::from_nanos(dt);
                let expires_at = ttl.map_or(Time::MAX, |t| t.expires_at(now, Duration::from_nanos(jitter)));
                prop_assert_eq!(
                    cache.put_expiring(key, size, now, expires_at),
                    model.put_expiring(key, size, now, expires_at),
                    "step {}: {:?}",
                    step,
                    op
                );
            }
            Op::Remove { key } => {
                prop_assert_eq!(cache.remove(key), model.remove(key), "step {}: {:?}", step, op);
            }
        }
        prop_assert_eq!(cache.resident(), model.resident(), "resident set after step {}: {:?}", step, op);
        prop_assert_eq!(cache.len(), model.len());
        prop_assert_eq!(cache.bytes(), model.bytes());
        prop_assert!(cache.len() <= capacity.max_entries() as usize);
        prop_assert!(capacity.max_bytes().is_none_or(|b| cache.bytes() <= b));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn cache_policies_agree_with_their_reference_models(
        kind in kind(),
        capacity in capacity(),
        ttl in ttl(),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        agree(kind, capacity, ttl, &ops)?;
    }

    /// Long runs on a larger cache, without byte capacity or TTL: deep LFU
    /// bucket lists and long recency chains.
    #[test]
    fn cache_policies_agree_over_long_runs(
        kind in kind(),
        entries in 1u64..=24,
        ops in prop::collection::vec(op(), 500..2000),
    ) {
        agree(kind, Capacity::entries(entries).unwrap(), None, &ops)?;
    }
}

// The documented semantics, one case each.

fn at(ns: u64) -> Time {
    Time::from_nanos(ns)
}

/// Puts `keys` (1 byte each, never expiring) at time zero.
fn fill(cache: &mut dyn Policy, keys: &[Key]) {
    for &k in keys {
        cache.put(k, 1, Time::ZERO);
    }
}

fn keys(cache: &dyn Policy) -> Vec<Key> {
    cache.resident().into_iter().map(|(k, _)| k).collect()
}

#[test]
fn cache_lru_evicts_the_least_recently_used_and_a_hit_is_a_use() {
    let mut lru = Lru::new(Capacity::entries(2).unwrap());
    fill(&mut lru, &[1, 2]);
    assert!(lru.get(1, Time::ZERO));
    assert_eq!(lru.put(3, 1, Time::ZERO), Put::Inserted);
    assert_eq!(keys(&lru), [1, 3]);
}

#[test]
fn cache_an_overwrite_is_a_use_and_sets_the_size() {
    // LRU: overwriting 1 makes 2 the least recently used.
    let mut lru = Lru::new(Capacity::entries(2).unwrap());
    fill(&mut lru, &[1, 2]);
    assert_eq!(lru.put(1, 7, Time::ZERO), Put::Updated);
    lru.put(3, 1, Time::ZERO);
    assert_eq!(lru.resident(), [(1, 7), (3, 1)]);
    assert_eq!(lru.bytes(), 8);
    // An overwrite that grows an entry past the byte capacity evicts others, never itself.
    let mut fifo = Fifo::new(Capacity::entries(10).unwrap().with_bytes(10).unwrap());
    fill(&mut fifo, &[1, 2, 3]);
    assert_eq!(fifo.put(1, 9, Time::ZERO), Put::Updated);
    assert_eq!(fifo.resident(), [(1, 9), (3, 1)]);
}

#[test]
fn cache_fifo_ignores_uses() {
    let mut fifo = Fifo::new(Capacity::entries(2).unwrap());
    fill(&mut fifo, &[1, 2]);
    assert!(fifo.get(1, Time::ZERO));
    fifo.put(3, 1, Time::ZERO);
    assert_eq!(keys(&fifo), [2, 3]);
}

#[test]
fn cache_lfu_evicts_the_least_frequent_and_breaks_ties_by_recency() {
    let mut lfu = Lfu::new(Capacity::entries(3).unwrap());
    fill(&mut lfu, &[1, 2, 3]);
    for k in [1, 1, 2, 3] {
        assert!(lfu.get(k, Time::ZERO));
    }
    // Counts 1:3, 2:2, 3:2; 2 was used before 3, so 2 goes.
    lfu.put(4, 1, Time::ZERO);
    assert_eq!(keys(&lfu), [1, 3, 4]);
    // 4 is alone at count 1.
    lfu.put(5, 1, Time::ZERO);
    assert_eq!(keys(&lfu), [1, 3, 5]);
}

#[test]
fn cache_an_lfu_count_does_not_survive_eviction() {
    let mut lfu = Lfu::new(Capacity::entries(2).unwrap());
    fill(&mut lfu, &[1]);
    for _ in 0..5 {
        lfu.get(1, Time::ZERO);
    }
    lfu.remove(1);
    fill(&mut lfu, &[2, 1]);
    lfu.get(2, Time::ZERO);
    // 1 is back at count 1, below 2's count of 2.
    lfu.put(3, 1, Time::ZERO);
    assert_eq!(keys(&lfu), [2, 3]);
}

#[test]
fn cache_an_entry_larger_than_the_byte_capacity_is_not_admitted() {
    let mut lru = Lru::new(Capacity::bytes(10).unwrap());
    fill(&mut lru, &[1, 2]);
    assert_eq!(lru.put(3, 11, Time::ZERO), Put::TooLarge);
    assert_eq!(keys(&lru), [1, 2], "nothing is evicted for it");
    assert_eq!(lru.put(1, 11, Time::ZERO), Put::TooLarge);
    assert_eq!(keys(&lru), [2], "the old value of an overwritten key is gone");
    assert_eq!(lru.put(4, 10, Time::ZERO), Put::Inserted);
    assert_eq!(lru.resident(), [(4, 10)]);
}

#[test]
fn cache_an_expired_entry_is_a_miss_and_is_removed_when_touched() {
    let ttl = Ttl { after_write: Duration::from_nanos(10), jitter_max: Duration::from_nanos(5) };
    assert_eq!(ttl.expires_at(at(100), Duration::from_nanos(3)), at(113));
    assert_eq!(ttl.expires_at(at(100), Duration::from_nanos(99)), at(115), "jitter is clamped");
    let mut lru = Lru::new(Capacity::entries(4).unwrap());
    lru.put_expiring(1, 1, at(0), ttl.expires_at(at(0), Duration::ZERO));
    lru.put_expiring(2, 1, at(0), ttl.expires_at(at(0), Duration::ZERO));
    assert!(lru.get(1, at(9)), "live before its expiry; a read does not extend it");
    assert!(!lru.get(1, at(10)), "expired at its expiry time");
    assert_eq!(keys(&lru), [2], "removed when touched; untouched ones stay until evicted");
    assert_eq!(lru.put(2, 1, at(20)), Put::Inserted, "a put of an expired key is an insert");
}

#[test]
fn cache_ttl_jitter_drawn_from_a_seeded_generator_repeats() {
    use rand::SeedableRng;
    let ttl = Ttl { after_write: Duration::from_secs(60), jitter_max: Duration::from_secs(10) };
    let draw = |seed| {
        let mut rng = faultline_sim::SimRng::seed_from_u64(seed);
        (0..50).map(|_| ttl.draw_expires_at(Time::ZERO, &mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(draw(3), draw(3));
    assert!(draw(3).iter().all(|&t| t >= at(60_000_000_000) && t <= at(70_000_000_000)));
    assert_ne!(draw(3), draw(4));
}

#[test]
fn cache_capacities_of_zero_or_beyond_the_slab_are_refused() {
    assert!(Capacity::entries(0).is_err());
    assert!(Capacity::bytes(0).is_err());
    assert!(Capacity::entries(u64::from(Capacity::MAX_ENTRIES) + 1).is_err());
    assert_eq!(PolicyKind::parse("LFU"), Ok(PolicyKind::Lfu));
    assert!(PolicyKind::parse("arc").unwrap_err().contains("lru, lfu and fifo"));
}
