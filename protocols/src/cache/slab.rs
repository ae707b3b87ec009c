//! The storage every policy shares: entries in one `Vec` (a slab), found by
//! slot index, and doubly linked lists threaded through the entries' `prev`
//! and `next` indices. No `Rc<RefCell>`: a link is a `u32`, a slot is reused
//! after its entry leaves, and the whole cache is two allocations plus the
//! index map.

use faultline_sim::Time;

use super::Key;

/// "No entry": the end of a list.
pub(crate) const NIL: u32 = u32::MAX;

/// One resident entry. 32 bytes: key, expiry, size and three links.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub key: Key,
    /// When the entry expires; [`Time::MAX`] for never.
    pub expires_at: Time,
    pub size: u32,
    pub prev: u32,
    pub next: u32,
    /// LFU: the frequency bucket holding the entry (unused by LRU and FIFO).
    pub bucket: u32,
}

impl Entry {
    pub fn is_expired(&self, now: Time) -> bool {
        self.expires_at != Time::MAX && now >= self.expires_at
    }
}

/// A doubly linked list over slab slots: `head` is the newest end (the most
/// recently used or inserted), `tail` the oldest.
#[derive(Clone, Copy, Debug)]
pub(crate) struct List {
    pub head: u32,
    pub tail: u32,
}

impl Default for List {
    fn default() -> List {
        List::EMPTY
    }
}

impl List {
    pub const EMPTY: List = List { head: NIL, tail: NIL };

    pub fn is_empty(&self) -> bool {
        self.head == NIL
    }

    #[inline]
    pub fn push_front(&mut self, entries: &mut [Entry], slot: u32) {
        let old_head = self.head;
        {
            let e = &mut entries[slot as usize];
            e.prev = NIL;
            e.next = old_head;
        }
        if old_head == NIL {
            self.tail = slot;
        } else {
            entries[old_head as usize].prev = slot;
        }
        self.head = slot;
    }

    #[inline]
    pub fn unlink(&mut self, entries: &mut [Entry], slot: u32) {
        let Entry { prev, next, .. } = entries[slot as usize];
        if prev == NIL {
            self.head = next;
        } else {
            entries[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            entries[next as usize].prev = prev;
        }
    }

    /// Moves `slot`, already in this list, to the newest end.
    #[inline]
    pub fn move_to_front(&mut self, entries: &mut [Entry], slot: u32) {
        if self.head != slot {
            self.unlink(entries, slot);
            self.push_front(entries, slot);
        }
    }

    /// The oldest entry other than `keep`: the tail, or the one before it
    /// when the tail is `keep`. [`NIL`] when there is none.
    #[inline]
    pub fn oldest_except(&self, entries: &[Entry], keep: u32) -> u32 {
        if self.tail == keep && keep != NIL {
            entries[keep as usize].prev
        } else {
            self.tail
        }
    }
}
