//! Memory held by the current thread, counted by a global allocator wrapper,
//! so a run can be bounded in memory as it is in time and events.
//!
//! A run lives on one thread (a batch runs many, each on its own), so the
//! bytes the thread holds, measured from the run's start, are the run's own.
//! The count is of requested sizes, which the same binary requests in the
//! same order for the same seed: a run that ends at its memory bound ends at
//! the same event every time. A binary that does not install [`Counting`]
//! counts nothing, and [`installed`] says so.
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: faultline_sim::mem::Counting<std::alloc::System> = faultline_sim::mem::Counting::new(std::alloc::System);
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    /// Bytes allocated minus bytes freed on this thread. Signed: memory
    /// allocated on one thread may be freed on another.
    static HELD: Cell<i64> = const { Cell::new(0) };
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A global allocator that counts, per thread, the bytes it hands out and
/// takes back, and passes every call to `A`.
pub struct Counting<A> {
    inner: A,
}

impl<A> Counting<A> {
    pub const fn new(inner: A) -> Counting<A> {
        Counting { inner }
    }
}

#[inline]
fn add(bytes: i64) {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
    // `try_with`: a thread being torn down has no counter left; its
    // allocations go uncounted rather than abort.
    let _ = HELD.try_with(|h| h.set(h.get().wrapping_add(bytes)));
}

// SAFETY: every call is passed unchanged to `inner`, a `GlobalAlloc`; the
// wrapper only counts sizes, and neither allocates nor panics.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.inner.alloc(layout);
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.inner.alloc_zeroed(layout);
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.inner.dealloc(ptr, layout);
        add(-(layout.size() as i64));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = self.inner.realloc(ptr, layout, new_size);
        if !p.is_null() {
            add(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

/// Whether the running binary's global allocator is a [`Counting`] one (it
/// has counted an allocation): memory bounds are enforced.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Bytes this thread holds now, as counted since it started (may be
/// negative on a thread that frees what others allocated).
#[inline]
pub fn held() -> i64 {
    HELD.try_with(Cell::get).unwrap_or(0)
}

/// A mark of this thread's holding, to measure what a run adds to it.
#[derive(Copy, Clone, Debug)]
pub struct Mark(i64);

impl Mark {
    pub fn now() -> Mark {
        Mark(held())
    }

    /// Bytes held now beyond the mark (zero if fewer).
    #[inline]
    pub fn since(self) -> u64 {
        held().saturating_sub(self.0).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_allocator_nothing_is_counted() {
        // The test binary uses the system allocator directly.
        let mark = Mark::now();
        let v = vec![0u8; 1 << 20];
        assert_eq!(mark.since(), 0);
        drop(v);
    }
}
