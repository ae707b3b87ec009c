//! First in, first out: one list in order of insertion; a use changes
//! nothing, the victim is the entry inserted longest ago.

use super::policy::{policy_type, Order};
use super::slab::{Entry, List};

#[derive(Default)]
pub(crate) struct FifoOrder {
    list: List,
}

impl Order for FifoOrder {
    const NAME: &'static str = "fifo";
    #[inline]
    fn inserted(&mut self, entries: &mut [Entry], slot: u32) {
        self.list.push_front(entries, slot);
    }
    #[inline]
    fn used(&mut self, _entries: &mut [Entry], _slot: u32) {}
    #[inline]
    fn removed(&mut self, entries: &mut [Entry], slot: u32) {
        self.list.unlink(entries, slot);
    }
    #[inline]
    fn victim(&self, entries: &[Entry], keep: u32) -> u32 {
        self.list.oldest_except(entries, keep)
    }
}

policy_type!(
    /// A first-in-first-out cache: O(1) get, put and remove.
    Fifo,
    FifoOrder
);
