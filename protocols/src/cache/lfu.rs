//! Least frequently used, in O(1) per operation (K. Shah, A. Mitra,
//! D. Matani, "An O(1) algorithm for implementing the LFU cache eviction
//! scheme", 2010): entries sit in frequency buckets, the buckets in a list
//! in ascending frequency. A use moves an entry from bucket `f` to bucket
//! `f + 1` (created next to `f` if missing; `f` is dropped once empty), so
//! the lowest frequency is always the first bucket. Within a bucket entries
//! are in order of arrival there, which is the order of last use: the victim
//! is the least recently used entry of the lowest frequency. A new entry
//! starts at frequency 1; a count leaves with its entry.

use super::policy::{policy_type, Order};
use super::slab::{Entry, List, NIL};

struct Bucket {
    /// How many uses (the insert included) each entry here has had.
    frequency: u64,
    items: List,
    /// The neighbouring buckets, lower and higher frequency.
    lower: u32,
    higher: u32,
}

pub(crate) struct LfuOrder {
    buckets: Vec<Bucket>,
    free: Vec<u32>,
    /// The bucket of the lowest frequency; [`NIL`] when empty.
    lowest: u32,
}

impl Default for LfuOrder {
    fn default() -> LfuOrder {
        LfuOrder { buckets: Vec::new(), free: Vec::new(), lowest: NIL }
    }
}

impl LfuOrder {
    /// A new, empty bucket of `frequency` right above `lower` ([`NIL`]: as
    /// the lowest).
    fn new_bucket(&mut self, frequency: u64, lower: u32) -> u32 {
        let higher = if lower == NIL { self.lowest } else { self.buckets[lower as usize].higher };
        let bucket = Bucket { frequency, items: List::EMPTY, lower, higher };
        let b = match self.free.pop() {
            Some(b) => {
                self.buckets[b as usize] = bucket;
                b
            }
            None => {
                self.buckets.push(bucket);
                (self.buckets.len() - 1) as u32
            }
        };
        if lower == NIL {
            self.lowest = b;
        } else {
            self.buckets[lower as usize].higher = b;
        }
        if higher != NIL {
            self.buckets[higher as usize].lower = b;
        }
        b
    }

    /// Takes `slot` out of its bucket, dropping the bucket if that empties it.
    fn leave_bucket(&mut self, entries: &mut [Entry], slot: u32) {
        let b = entries[slot as usize].bucket;
        let bucket = &mut self.buckets[b as usize];
        bucket.items.unlink(entries, slot);
        if bucket.items.is_empty() {
            let (lower, higher) = (bucket.lower, bucket.higher);
            if lower == NIL {
                self.lowest = higher;
            } else {
                self.buckets[lower as usize].higher = higher;
            }
            if higher != NIL {
                self.buckets[higher as usize].lower = lower;
            }
            self.free.push(b);
        }
    }
}

impl Order for LfuOrder {
    const NAME: &'static str = "lfu";

    fn inserted(&mut self, entries: &mut [Entry], slot: u32) {
        let b = match self.lowest {
            NIL => self.new_bucket(1, NIL),
            b if self.buckets[b as usize].frequency == 1 => b,
            _ => self.new_bucket(1, NIL),
        };
        self.buckets[b as usize].items.push_front(entries, slot);
        entries[slot as usize].bucket = b;
    }

    fn used(&mut self, entries: &mut [Entry], slot: u32) {
        let b = entries[slot as usize].bucket;
        let (frequency, higher) = (self.buckets[b as usize].frequency, self.buckets[b as usize].higher);
        let next = frequency.saturating_add(1);
        let target = if higher != NIL && self.buckets[higher as usize].frequency == next {
            higher
        } else if self.buckets[b as usize].items.head == slot && self.buckets[b as usize].items.tail == slot {
            // Alone in its bucket: the bucket itself moves up a frequency.
            self.buckets[b as usize].frequency = next;
            return;
        } else {
            self.new_bucket(next, b)
        };
        self.leave_bucket(entries, slot);
        self.buckets[target as usize].items.push_front(entries, slot);
        entries[slot as usize].bucket = target;
    }

    fn removed(&mut self, entries: &mut [Entry], slot: u32) {
        self.leave_bucket(entries, slot);
    }

    fn victim(&self, entries: &[Entry], keep: u32) -> u32 {
        let mut b = self.lowest;
        while b != NIL {
            let bucket = &self.buckets[b as usize];
            let v = bucket.items.oldest_except(entries, keep);
            if v != NIL {
                return v;
            }
            // Only `keep` is in this bucket: the next one up holds the victim.
            b = bucket.higher;
        }
        NIL
    }
}

policy_type!(
    /// A least-frequently-used cache (ties: least recently used among the
    /// lowest frequency): O(1) get, put and remove.
    Lfu,
    LfuOrder
);
