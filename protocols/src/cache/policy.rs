//! The interface every policy implements, its capacity and TTL types, and the
//! core the three policies share: index map, slab, byte accounting, expiry
//! and eviction-until-fit. A policy only decides the order of its entries
//! ([`Order`]): which one a use moves and which one is evicted next.

use faultline_sim::{Duration, Time};
use rand::Rng;
use rustc_hash::FxHashMap;

use super::slab::{Entry, NIL};
use super::Key;

/// What a cache does; every policy and the test suite's reference models
/// implement it, and the replay drives it.
pub trait Policy {
    /// The policy's name: `lru`, `lfu` or `fifo`.
    fn name(&self) -> &'static str;
    fn capacity(&self) -> Capacity;
    /// Looks `key` up at `now`: `true` is a hit, and a hit is a use. An
    /// expired entry is a miss and is removed.
    fn get(&mut self, key: Key, now: Time) -> bool;
    /// Writes `key` with `size` bytes that never expires (see
    /// [`Policy::put_expiring`]).
    fn put(&mut self, key: Key, size: u32, now: Time) -> Put {
        self.put_expiring(key, size, now, Time::MAX)
    }
    /// Writes `key` with `size` bytes at `now`, expiring at `expires_at`
    /// ([`Time::MAX`]: never). An overwrite of a live entry is a use and sets
    /// its size and expiry; a new entry first evicts until both it and the
    /// entries fit.
    fn put_expiring(&mut self, key: Key, size: u32, now: Time, expires_at: Time) -> Put;
    /// Removes `key`; `true` if it was resident (expired or not).
    fn remove(&mut self, key: Key) -> bool;
    /// Resident entries, expired ones included until they are touched or evicted.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The resident entries' bytes.
    fn bytes(&self) -> u64;
    /// Every resident entry as (key, size), sorted by key.
    fn resident(&self) -> Vec<(Key, u32)>;
}

/// What a put did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Put {
    /// A new entry (an expired one it replaces counts as gone).
    Inserted,
    /// A live entry was overwritten: a use.
    Updated,
    /// Larger than the byte capacity: not admitted, and an entry the key
    /// held before is removed (the cache never serves a stale value).
    TooLarge,
}

/// A capacity the caller got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    #[error("a cache capacity must be at least 1 entry")]
    ZeroEntries,
    #[error("a cache capacity of {0} entries is above the most a cache holds, {max}", max = Capacity::MAX_ENTRIES)]
    TooManyEntries(u64),
    #[error("a cache's byte capacity must be at least 1 byte")]
    ZeroBytes,
}

/// How much a cache holds: a number of entries and, optionally, bytes. A new
/// entry evicts until both fit.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    entries: u32,
    bytes: Option<u64>,
}

impl Capacity {
    /// The most entries a cache holds (slots are 32-bit indices).
    pub const MAX_ENTRIES: u32 = 1 << 31;

    /// At most `entries` entries, of any size.
    pub fn entries(entries: u64) -> Result<Capacity, CapacityError> {
        match entries {
            0 => Err(CapacityError::ZeroEntries),
            n if n > u64::from(Capacity::MAX_ENTRIES) => Err(CapacityError::TooManyEntries(n)),
            n => Ok(Capacity { entries: n as u32, bytes: None }),
        }
    }

    /// At most `bytes` bytes, in up to [`Capacity::MAX_ENTRIES`] entries.
    pub fn bytes(bytes: u64) -> Result<Capacity, CapacityError> {
        Capacity { entries: Capacity::MAX_ENTRIES, bytes: None }.with_bytes(bytes)
    }

    /// This capacity, also bounded by `bytes` bytes.
    pub fn with_bytes(self, bytes: u64) -> Result<Capacity, CapacityError> {
        match bytes {
            0 => Err(CapacityError::ZeroBytes),
            b => Ok(Capacity { bytes: Some(b), ..self }),
        }
    }

    pub fn max_entries(&self) -> u32 {
        self.entries
    }

    pub fn max_bytes(&self) -> Option<u64> {
        self.bytes
    }

    /// Whether an entry of `size` bytes can be admitted at all.
    pub fn admits(&self, size: u32) -> bool {
        self.bytes.is_none_or(|b| u64::from(size) <= b)
    }
}

/// Expire-after-write: an entry written at `t` expires at `t + after_write +
/// jitter`, with `jitter` in `0..=jitter_max`. The jitter is the caller's to
/// choose — a value, or a draw from a generator the caller seeds — so a
/// replay stays deterministic. Reads do not extend an entry's life.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ttl {
    pub after_write: Duration,
    pub jitter_max: Duration,
}

impl Ttl {
    /// The expiry of an entry written at `written` with `jitter` (clamped to
    /// `jitter_max`).
    pub fn expires_at(&self, written: Time, jitter: Duration) -> Time {
        let jitter = Duration::from_nanos(jitter.as_nanos().min(self.jitter_max.as_nanos()));
        written + self.after_write + jitter
    }

    /// The expiry of an entry written at `written`, its jitter drawn
    /// uniformly from `0..=jitter_max` (no draw when `jitter_max` is zero).
    pub fn draw_expires_at(&self, written: Time, rng: &mut impl Rng) -> Time {
        let jitter = match self.jitter_max.as_nanos() {
            0 => 0,
            max => rng.gen_range(0..=max),
        };
        self.expires_at(written, Duration::from_nanos(jitter))
    }
}

/// The order a policy keeps its entries in.
pub(crate) trait Order: Default {
    const NAME: &'static str;
    /// A new entry arrived in `slot`.
    fn inserted(&mut self, entries: &mut [Entry], slot: u32);
    /// The entry in `slot` was used (a hit or an overwrite).
    fn used(&mut self, entries: &mut [Entry], slot: u32);
    /// The entry in `slot` leaves (evicted, removed or expired).
    fn removed(&mut self, entries: &mut [Entry], slot: u32);
    /// The entry to evict next, never `keep`; [`NIL`] when there is none.
    fn victim(&self, entries: &[Entry], keep: u32) -> u32;
}

/// The part of a cache every policy shares.
pub(crate) struct Core<O> {
    index: FxHashMap<Key, u32>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    bytes: u64,
    capacity: Capacity,
    order: O,
}

/// Slots allocated up front at most; a larger cache grows as it fills.
const PREALLOCATED_ENTRIES_MAX: u32 = 1 << 20;

impl<O: Order> Core<O> {
    pub fn new(capacity: Capacity) -> Core<O> {
        let initial = capacity.entries.min(PREALLOCATED_ENTRIES_MAX) as usize;
        let mut index = FxHashMap::default();
        index.reserve(initial);
        Core { index, entries: Vec::with_capacity(initial), free: Vec::new(), bytes: 0, capacity, order: O::default() }
    }

    #[inline]
    pub fn get(&mut self, key: Key, now: Time) -> bool {
        let Some(&slot) = self.index.get(&key) else { return false };
        if self.entries[slot as usize].is_expired(now) {
            self.remove_slot(slot);
            return false;
        }
        self.order.used(&mut self.entries, slot);
        true
    }

    #[inline]
    pub fn put(&mut self, key: Key, size: u32, now: Time, expires_at: Time) -> Put {
        if let Some(&slot) = self.index.get(&key) {
            if self.entries[slot as usize].is_expired(now) {
                self.remove_slot(slot);
            } else if !self.capacity.admits(size) {
                self.remove_slot(slot);
                return Put::TooLarge;
            } else {
                let e = &mut self.entries[slot as usize];
                self.bytes = self.bytes - u64::from(e.size) + u64::from(size);
                e.size = size;
                e.expires_at = expires_at;
                self.order.used(&mut self.entries, slot);
                self.evict_to_fit(slot, false, 0);
                return Put::Updated;
            }
        }
        if !self.capacity.admits(size) {
            return Put::TooLarge;
        }
        self.evict_to_fit(NIL, true, size);
        let entry = Entry { key, expires_at, size, prev: NIL, next: NIL, bucket: NIL };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot as usize] = entry;
                slot
            }
            None => {
                self.entries.push(entry);
                (self.entries.len() - 1) as u32
            }
        };
        self.index.insert(key, slot);
        self.bytes += u64::from(size);
        self.order.inserted(&mut self.entries, slot);
        Put::Inserted
    }

    pub fn remove(&mut self, key: Key) -> bool {
        match self.index.get(&key) {
            Some(&slot) => {
                self.remove_slot(slot);
                true
            }
            None => false,
        }
    }

    /// Evicts, never `keep`, until one more entry (if `new_entry`) and
    /// `new_bytes` more bytes fit.
    #[inline]
    fn evict_to_fit(&mut self, keep: u32, new_entry: bool, new_bytes: u32) {
        let max_bytes = self.capacity.bytes.unwrap_or(u64::MAX);
        while (new_entry && self.index.len() >= self.capacity.entries as usize)
            || self.bytes + u64::from(new_bytes) > max_bytes
        {
            let victim = self.order.victim(&self.entries, keep);
            // An admitted entry fits an empty cache, so there is always a victim.
            debug_assert_ne!(victim, NIL, "nothing left to evict");
            if victim == NIL {
                return;
            }
            self.remove_slot(victim);
        }
    }

    fn remove_slot(&mut self, slot: u32) {
        self.order.removed(&mut self.entries, slot);
        let e = self.entries[slot as usize];
        self.index.remove(&e.key);
        self.bytes -= u64::from(e.size);
        self.free.push(slot);
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn capacity(&self) -> Capacity {
        self.capacity
    }

    pub fn resident(&self) -> Vec<(Key, u32)> {
        let mut out: Vec<(Key, u32)> = self
            .index
            .values()
            .map(|&slot| (self.entries[slot as usize].key, self.entries[slot as usize].size))
            .collect();
        out.sort_unstable();
        out
    }
}

/// A public policy type over [`Core`] with its [`Order`].
macro_rules! policy_type {
    ($(#[$doc:meta])* $name:ident, $order:ty) => {
        $(#[$doc])*
        pub struct $name {
            core: $crate::cache::policy::Core<$order>,
        }

        impl $name {
            pub fn new(capacity: $crate::cache::Capacity) -> $name {
                $name { core: $crate::cache::policy::Core::new(capacity) }
            }
        }

        impl $crate::cache::Policy for $name {
            fn name(&self) -> &'static str {
                <$order as $crate::cache::policy::Order>::NAME
            }
            fn capacity(&self) -> $crate::cache::Capacity {
                self.core.capacity()
            }
            #[inline]
            fn get(&mut self, key: $crate::cache::Key, now: faultline_sim::Time) -> bool {
                self.core.get(key, now)
            }
            #[inline]
            fn put_expiring(
                &mut self,
                key: $crate::cache::Key,
                size: u32,
                now: faultline_sim::Time,
                expires_at: faultline_sim::Time,
            ) -> $crate::cache::Put {
                self.core.put(key, size, now, expires_at)
            }
            fn remove(&mut self, key: $crate::cache::Key) -> bool {
                self.core.remove(key)
            }
            fn len(&self) -> usize {
                self.core.len()
            }
            fn bytes(&self) -> u64 {
                self.core.bytes()
            }
            fn resident(&self) -> Vec<($crate::cache::Key, u32)> {
                self.core.resident()
            }
        }
    };
}
pub(crate) use policy_type;
