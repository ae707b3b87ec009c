//! Least recently used: one list in order of last use; a use moves an entry
//! to the front, the victim is the back.

use super::policy::{policy_type, Order};
use super::slab::{Entry, List};

#[derive(Default)]
pub(crate) struct LruOrder {
    list: List,
}

impl Order for LruOrder {
    const NAME: &'static str = "lru";
    #[inline]
    fn inserted(&mut self, entries: &mut [Entry], slot: u32) {
        self.list.push_front(entries, slot);
    }
    #[inline]
    fn used(&mut self, entries: &mut [Entry], slot: u32) {
        self.list.move_to_front(entries, slot);
    }
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
    /// A least-recently-used cache: O(1) get, put and remove.
    Lru,
    LruOrder
);
