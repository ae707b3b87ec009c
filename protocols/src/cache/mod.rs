//! Cache eviction policies, traces to replay through them, miss-ratio
//! curves and Che's approximation.
//!
//! The policies — [`Lru`], [`Lfu`] and [`Fifo`] — share one interface,
//! [`Policy`], and one core: keys are `u64`, entries live in an index-based
//! slab threaded by intrusive doubly linked lists, and a map with a fixed,
//! seedless hasher (rustc-hash's Fx hash, which the engine already uses)
//! finds a key's slot. Every operation is O(1). The policies know nothing of
//! the simulator: a replay drives them from a trace ([`replay`]), and a cache
//! node can drive them from its messages.
//!
//! # Semantics
//!
//! - **Capacity** is a number of entries and optionally a number of bytes
//!   ([`Capacity`]); each entry has a size in bytes. Neither may be zero.
//! - **A use** is a hit ([`Policy::get`] of a live entry) or an overwrite
//!   ([`Policy::put`] of a key whose entry is live). An overwrite sets the
//!   entry's size and expiry. LRU moves a used entry to the front, LFU adds
//!   one to its count, FIFO does nothing.
//! - **Eviction happens before insert**: a new entry first evicts, in the
//!   policy's order, until one more entry and its bytes fit; an overwrite
//!   that grows an entry evicts other entries until the bytes fit again.
//!   LRU evicts the least recently used entry, FIFO the one inserted longest
//!   ago, LFU the least frequently used one, ties going to the least recently
//!   used among them (a new entry has count 1).
//! - **An LFU count does not survive eviction**: a key that returns starts
//!   again at 1.
//! - **Too large**: an entry larger than the byte capacity is not admitted
//!   ([`Put::TooLarge`]) and evicts nothing; if its key held an entry, that
//!   entry is removed, so the cache never serves the old value.
//! - **TTL** is expire-after-write ([`Ttl`]): a write at `t` expires at
//!   `t + ttl + jitter`, the jitter chosen by the caller (a value, or a draw
//!   from a generator it seeds). Reads do not extend it. An entry is expired
//!   at and after its expiry time. **An expired entry is a miss and is
//!   removed when touched** (get, put or remove); until then it stays
//!   resident, counts towards the capacity, and leaves through eviction in the
//!   policy's order like any other entry (lazy expiry). A put of an expired
//!   key is an insert, not a use.
//!
//! # Replay
//!
//! A request of a trace is a get; a miss is followed by a put of the
//! request's size (demand fill). The object hit ratio counts hits per
//! request, the byte hit ratio counts the bytes of the requests that hit.

pub mod che;
mod fifo;
mod lfu;
mod lru;
pub mod mrc;
mod policy;
pub mod replay;
mod slab;
pub mod trace;
pub mod zipf;

pub use fifo::Fifo;
pub use lfu::Lfu;
pub use lru::Lru;
pub use policy::{Capacity, CapacityError, Policy, Put, Ttl};
pub use replay::{replay, ReplayOptions, ReplayStats};
pub use trace::{Trace, TraceError};

/// A cache key. Traces whose keys are not numbers hash them to one
/// ([`trace::key_of`]).
pub type Key = u64;

/// The policies by name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyKind {
    Lru,
    Lfu,
    Fifo,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 3] = [PolicyKind::Lru, PolicyKind::Lfu, PolicyKind::Fifo];

    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Lru => "lru",
            PolicyKind::Lfu => "lfu",
            PolicyKind::Fifo => "fifo",
        }
    }

    /// The policy called `name` (`lru`, `lfu`, `fifo`; any case).
    pub fn parse(name: &str) -> Result<PolicyKind, String> {
        PolicyKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| format!("unknown cache policy `{}`; the policies are lru, lfu and fifo", name.trim()))
    }

    /// An empty cache of this policy.
    pub fn build(self, capacity: Capacity) -> Box<dyn Policy + Send> {
        match self {
            PolicyKind::Lru => Box::new(Lru::new(capacity)),
            PolicyKind::Lfu => Box::new(Lfu::new(capacity)),
            PolicyKind::Fifo => Box::new(Fifo::new(capacity)),
        }
    }
}

impl std::fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
