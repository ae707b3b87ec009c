//! The event queue: 16-byte keys ordered by (time, insertion sequence), so
//! simultaneous events keep a stable order, with the payloads kept in a slab
//! beside them. This is the hot loop: moving a key never touches a payload.
//!
//! The keys live in a binary heap while few events are pending, and in a
//! radix heap (Ahuja, Mehlhorn, Orlin & Tarjan, 1990) while many are. A
//! simulator's keys suit a radix heap: every key pushed is at least the
//! last one popped (events are never scheduled in the past, and the
//! sequence only grows), so keys can be bucketed by the highest bit in
//! which they differ from it. A push is an XOR and a leading-zero count,
//! and a key moves down a bucket level at most once per bit. The binary
//! heap is faster on small sets that fit the cache; past some tens of
//! thousands of keys its sift walks a path of cache misses, and the radix
//! heap, whose buckets are scanned in order, is several times faster
//! (`cargo bench -p faultline-sim --bench queue` measures both). Either
//! pops the same keys in the same order, so the switch changes no run.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::time::Time;

#[derive(Copy, Clone, PartialEq, Eq)]
struct Entry {
    /// Time in the high 64 bits, sequence in the low 64: one comparison orders
    /// both. The slab slot travels in the low bits of the sequence word.
    key: u128,
}

impl Ord for Entry {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        other.key.cmp(&self.key)
    }
}
impl PartialOrd for Entry {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keys bucketed by the highest bit in which they differ from `last`: bucket
/// 0 holds keys equal to `last`, bucket `b` (1..=128) those whose highest
/// differing bit is `b - 1`. Every key held is at least `last`.
struct RadixHeap {
    last: u128,
    buckets: Vec<Vec<u128>>,
    /// Bit `b - 1` is set when bucket `b` (1..=128) holds a key.
    occupied: u128,
    len: usize,
}

impl RadixHeap {
    fn new(keys: impl IntoIterator<Item = u128>) -> RadixHeap {
        let mut heap = RadixHeap { last: 0, buckets: (0..=128).map(|_| Vec::new()).collect(), occupied: 0, len: 0 };
        for key in keys {
            heap.push(key);
        }
        heap
    }

    #[inline(always)]
    fn put(&mut self, key: u128) {
        let b = (128 - (key ^ self.last).leading_zeros()) as usize;
        self.buckets[b].push(key);
        if b > 0 {
            self.occupied |= 1 << (b - 1);
        }
    }

    #[inline(always)]
    fn push(&mut self, key: u128) {
        if key < self.last {
            self.rebase(key);
        }
        self.put(key);
        self.len += 1;
    }

    /// A key below `last`: possible only after a peek that was not followed
    /// by its pop (the peek made the smallest key `last`). Every key is
    /// bucketed again around the new, lower `last`.
    #[cold]
    #[inline(never)]
    fn rebase(&mut self, key: u128) {
        let keys = self.drain();
        self.last = key;
        for k in keys {
            self.put(k);
        }
    }

    /// Takes every key out (in no particular order).
    fn drain(&mut self) -> Vec<u128> {
        let mut keys = Vec::with_capacity(self.len);
        for bucket in &mut self.buckets {
            keys.append(bucket);
        }
        self.occupied = 0;
        keys
    }

    /// The smallest key, brought to bucket 0 (which makes it `last`).
    #[inline(always)]
    fn min(&mut self) -> Option<u128> {
        if !self.buckets[0].is_empty() {
            return Some(self.last);
        }
        if self.occupied == 0 {
            return None;
        }
        Some(self.refill())
    }

    /// Empties the lowest occupied bucket into the buckets below it, around
    /// its smallest key, which becomes `last` and lands in bucket 0.
    #[inline(never)]
    fn refill(&mut self) -> u128 {
        let b = self.occupied.trailing_zeros() as usize + 1;
        self.occupied &= !(1 << (b - 1));
        let mut keys = std::mem::take(&mut self.buckets[b]);
        self.last = keys.iter().copied().min().unwrap_or(self.last);
        for &k in &keys {
            self.put(k);
        }
        keys.clear();
        // The emptied vector keeps its capacity for this level's next keys.
        self.buckets[b] = keys;
        self.last
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<u128> {
        self.min()?;
        self.len -= 1;
        self.buckets[0].pop()
    }
}

/// Where the keys are: in a binary heap while few are pending, in a radix
/// heap while many are.
enum Keys {
    Binary(BinaryHeap<Entry>),
    Radix(RadixHeap),
}

/// Pending events above which the keys move to a radix heap, and below
/// which they move back (apart, so a size near one bound does not move
/// them to and fro). Measured by the queue benchmark on this project's
/// reference machine: the binary heap is faster at 10⁴ pending, the radix
/// heap from a few times that on.
const TO_RADIX: usize = 1 << 15;
const TO_BINARY: usize = 1 << 13;

/// Bits of the low word that hold the slab slot; the rest hold the sequence.
const SLOT_BITS: u32 = 24;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
/// The most events that may be pending at once (the slot space).
pub const MAX_PENDING_EVENTS: usize = 1 << SLOT_BITS;

pub struct EventQueue<T> {
    keys: Keys,
    slab: Vec<Option<T>>,
    free: Vec<u32>,
    next_seq: u64,
}

/// The queue is full: more than [`MAX_PENDING_EVENTS`] events pending.
#[derive(Debug)]
pub struct QueueFull;

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue { keys: Keys::Binary(BinaryHeap::new()), slab: Vec::new(), free: Vec::new(), next_seq: 0 }
    }
}

impl<T> EventQueue<T> {
    /// Schedules `payload` at `time`; events at equal times pop in push order.
    #[inline(always)]
    pub fn push(&mut self, time: Time, payload: T) -> Result<(), QueueFull> {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(payload);
                slot
            }
            None => {
                if self.slab.len() >= MAX_PENDING_EVENTS {
                    return Err(QueueFull);
                }
                self.slab.push(Some(payload));
                (self.slab.len() - 1) as u32
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let low = (seq << SLOT_BITS) | u64::from(slot);
        let key = (u128::from(time.as_nanos()) << 64) | u128::from(low);
        match &mut self.keys {
            Keys::Binary(heap) => {
                heap.push(Entry { key });
                if heap.len() > TO_RADIX {
                    self.move_to_radix();
                }
            }
            Keys::Radix(heap) => heap.push(key),
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn move_to_radix(&mut self) {
        if let Keys::Binary(heap) = &mut self.keys {
            let keys = std::mem::take(heap).into_vec();
            self.keys = Keys::Radix(RadixHeap::new(keys.into_iter().map(|e| e.key)));
        }
    }

    #[cold]
    #[inline(never)]
    fn move_to_binary(&mut self) {
        if let Keys::Radix(heap) = &mut self.keys {
            let keys = heap.drain();
            self.keys = Keys::Binary(keys.into_iter().map(|key| Entry { key }).collect());
        }
    }

    /// Removes and returns the earliest event.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<(Time, T)> {
        let key = match &mut self.keys {
            Keys::Binary(heap) => heap.pop()?.key,
            Keys::Radix(heap) => {
                let key = heap.pop()?;
                if heap.len < TO_BINARY {
                    self.move_to_binary();
                }
                key
            }
        };
        let time = Time::from_nanos((key >> 64) as u64);
        let slot = (key as u64 & SLOT_MASK) as u32;
        let payload = self.slab[slot as usize].take()?;
        self.free.push(slot);
        Some((time, payload))
    }

    /// The time of the earliest event. Takes `&mut self`: a radix heap
    /// brings its smallest key to the front to find it.
    #[inline(always)]
    pub fn peek_time(&mut self) -> Option<Time> {
        let key = match &mut self.keys {
            Keys::Binary(heap) => heap.peek()?.key,
            Keys::Radix(heap) => heap.min()?,
        };
        Some(Time::from_nanos((key >> 64) as u64))
    }

    pub fn len(&self) -> usize {
        match &self.keys {
            Keys::Binary(heap) => heap.len(),
            Keys::Radix(heap) => heap.len,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simultaneous_events_pop_in_insertion_order() {
        let mut q = EventQueue::default();
        let t = Time::from_nanos(5);
        for i in 0..100 {
            q.push(t, i).unwrap();
        }
        q.push(Time::from_nanos(1), 1000).unwrap();
        assert_eq!(q.pop(), Some((Time::from_nanos(1), 1000)));
        let order: Vec<i32> = std::iter::from_fn(|| q.pop().map(|(_, v)| v)).collect();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
    }

    /// Pops come in (time, push order) whatever the mix of pushes, pops and
    /// peeks: checked against a sorted oracle.
    #[test]
    fn pops_agree_with_an_oracle() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for spread in [1u64, 10, 1_000, 1 << 40] {
            let mut q = EventQueue::default();
            let mut oracle = std::collections::BTreeSet::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for _ in 0..20_000 {
                match rng.gen_range(0..4) {
                    0 | 1 => {
                        let t = now + rng.gen_range(0..spread);
                        q.push(Time::from_nanos(t), seq).unwrap();
                        oracle.insert((t, seq));
                        seq += 1;
                    }
                    2 => assert_eq!(q.peek_time(), oracle.first().map(|&(t, _)| Time::from_nanos(t))),
                    _ => {
                        let got = q.pop();
                        assert_eq!(got, oracle.pop_first().map(|(t, s)| (Time::from_nanos(t), s)));
                        if let Some((t, _)) = got {
                            now = t.as_nanos();
                        }
                    }
                }
                assert_eq!(q.len(), oracle.len());
            }
        }
    }

    /// The radix heap alone, with peeks between pops (a peek not followed by
    /// its pop lets a key below `last` in, which rebases the buckets).
    #[test]
    fn radix_heap_agrees_with_a_sorted_oracle() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for spread in [1u64, 10, 1_000, 1 << 40] {
            let mut radix = RadixHeap::new([]);
            let mut oracle = std::collections::BTreeSet::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for _ in 0..20_000 {
                match rng.gen_range(0..4) {
                    0 | 1 => {
                        let key = (u128::from(now + rng.gen_range(0..spread)) << 64) | u128::from(seq);
                        seq += 1;
                        radix.push(key);
                        oracle.insert(key);
                    }
                    2 => assert_eq!(radix.min(), oracle.first().copied()),
                    _ => {
                        let got = radix.pop();
                        assert_eq!(got, oracle.pop_first());
                        if let Some(key) = got {
                            now = (key >> 64) as u64;
                        }
                    }
                }
                assert_eq!(radix.len, oracle.len());
            }
        }
    }

    /// Growing past `TO_RADIX` and shrinking below `TO_BINARY`, twice, the
    /// queue pops exactly what a sorted oracle pops.
    #[test]
    fn switching_heaps_keeps_the_order() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut q = EventQueue::default();
        let mut oracle = std::collections::BTreeSet::new();
        let (mut now, mut seq) = (0u64, 0u64);
        let mut switches = 0;
        for _ in 0..2 {
            while q.len() <= TO_RADIX + 10 {
                let t = now + rng.gen_range(0..1_000_000);
                q.push(Time::from_nanos(t), seq).unwrap();
                oracle.insert((t, seq));
                seq += 1;
                if rng.gen_bool(0.3) {
                    let got = q.pop();
                    assert_eq!(got, oracle.pop_first().map(|(t, s)| (Time::from_nanos(t), s)));
                    now = got.map_or(now, |(t, _)| t.as_nanos());
                }
            }
            assert!(matches!(q.keys, Keys::Radix(_)));
            while q.len() >= TO_BINARY - 10 {
                assert_eq!(q.peek_time(), oracle.first().map(|&(t, _)| Time::from_nanos(t)));
                let got = q.pop();
                assert_eq!(got, oracle.pop_first().map(|(t, s)| (Time::from_nanos(t), s)));
                now = got.map_or(now, |(t, _)| t.as_nanos());
            }
            assert!(matches!(q.keys, Keys::Binary(_)));
            switches += 2;
        }
        assert_eq!(switches, 4);
        while let Some(expected) = oracle.pop_first() {
            assert_eq!(q.pop(), Some((Time::from_nanos(expected.0), expected.1)));
        }
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn slots_are_reused() {
        let mut q = EventQueue::default();
        for round in 0..10u64 {
            for i in 0..50u64 {
                q.push(Time::from_nanos(round * 100 + i), i).unwrap();
            }
            while q.pop().is_some() {}
        }
        assert!(q.slab.len() <= 50);
    }
}
