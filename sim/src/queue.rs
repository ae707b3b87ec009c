//! The event queue: a binary heap of small entries ordered by (time,
//! insertion sequence), so simultaneous events keep a stable order, with the
//! payloads kept in a slab beside it. This is the hot loop: a heap entry is
//! 16 bytes and moving it never touches a payload.

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

/// Bits of the low word that hold the slab slot; the rest hold the sequence.
const SLOT_BITS: u32 = 24;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
/// The most events that may be pending at once (the slot space).
pub const MAX_PENDING_EVENTS: usize = 1 << SLOT_BITS;

pub struct EventQueue<T> {
    heap: BinaryHeap<Entry>,
    slab: Vec<Option<T>>,
    free: Vec<u32>,
    next_seq: u64,
}

/// The queue is full: more than [`MAX_PENDING_EVENTS`] events pending.
#[derive(Debug)]
pub struct QueueFull;

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), slab: Vec::new(), free: Vec::new(), next_seq: 0 }
    }
}

impl<T> EventQueue<T> {
    /// Schedules `payload` at `time`; events at equal times pop in push order.
    #[inline]
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
        self.heap.push(Entry { key: (u128::from(time.as_nanos()) << 64) | u128::from(low) });
        Ok(())
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, T)> {
        let entry = self.heap.pop()?;
        let time = Time::from_nanos((entry.key >> 64) as u64);
        let slot = (entry.key as u64 & SLOT_MASK) as u32;
        let payload = self.slab[slot as usize].take()?;
        self.free.push(slot);
        Some((time, payload))
    }

    pub fn peek_time(&self) -> Option<Time> {
        self.heap.peek().map(|e| Time::from_nanos((e.key >> 64) as u64))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
