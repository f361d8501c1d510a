//! The hook's allocator: a bump arena first, the system allocator after.
//!
//! The hook lives for a millisecond on every container start and allocates
//! ~150 KB in ~800 blocks (megabytes for a config with a thousand mounts).
//! glibc's malloc/free/realloc were a quarter of its instructions, and each
//! fresh heap page was a page fault (~3 µs in a VM). So in hook mode
//! ([`HookAllocator::use_arena`]) blocks come from one reserved region,
//! handed out by bumping a pointer and made resident [`POPULATE_STEP`] at a
//! time (`MADV_POPULATE_WRITE`: one system call instead of a fault per page).
//! Freeing is a no-op except for the latest block, which is what `Vec`
//! growth reallocates: the hook's memory only grows, and it exits soon.
//! Past [`ARENA_SIZE`] the system allocator serves. The other commands
//! (`install --watch` runs for days) never turn the arena on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// Address space reserved (not memory: pages become resident as used).
pub const ARENA_SIZE: usize = 256 << 20;
/// Larger blocks go to the system allocator.
pub const ARENA_MAX_BLOCK: usize = 16 << 20;
/// How much is made resident at once; the typical hook run fits in one step.
pub const POPULATE_STEP: usize = 64 << 10;

/// A bump allocator over `[start, end)`. Thread-safe: allocation is a
/// compare-and-swap of the next free address.
pub struct Bump {
    start: usize,
    end: usize,
    next: AtomicUsize,
    /// Below this address the region is resident; 0 turns populating off.
    populated: AtomicUsize,
}

impl Bump {
    /// # Safety
    /// `[start, start + len)` must be writable memory that outlives the
    /// `Bump` and is used by nothing else.
    pub const unsafe fn new(start: usize, len: usize) -> Self {
        Bump {
            start,
            end: start + len,
            next: AtomicUsize::new(start),
            populated: AtomicUsize::new(0),
        }
    }

    /// Make the region resident ahead of use, [`POPULATE_STEP`] at a time
    /// (for a region from `mmap`).
    fn populating(self) -> Self {
        self.populated.store(self.start, Ordering::Relaxed);
        self
    }

    /// Make `[.., end)` resident if it is not yet: best effort, a kernel
    /// without `MADV_POPULATE_WRITE` (< 5.14) faults pages in as usual.
    fn populate_to(&self, end: usize) {
        let done = self.populated.load(Ordering::Relaxed);
        if done == 0 || end <= done {
            return;
        }
        let to = end
            .div_ceil(POPULATE_STEP)
            .saturating_mul(POPULATE_STEP)
            .min(self.end);
        if self
            .populated
            .compare_exchange(done, to, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: [done, to) lies inside the region this Bump manages.
            unsafe {
                libc::madvise(
                    done as *mut libc::c_void,
                    to - done,
                    libc::MADV_POPULATE_WRITE,
                )
            };
        }
    }

    /// Whether `ptr` was handed out by this arena.
    pub fn owns(&self, ptr: *mut u8) -> bool {
        (self.start..self.end).contains(&(ptr as usize))
    }

    /// A block for `layout`, or `None` when it does not fit.
    pub fn alloc(&self, layout: Layout) -> Option<*mut u8> {
        let mut next = self.next.load(Ordering::Relaxed);
        loop {
            let start = next.checked_add(layout.align() - 1)? & !(layout.align() - 1);
            let end = start.checked_add(layout.size())?;
            if end > self.end {
                return None;
            }
            match self
                .next
                .compare_exchange_weak(next, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.populate_to(end);
                    return Some(start as *mut u8);
                }
                Err(now) => next = now,
            }
        }
    }

    /// Give back a block: only the latest one can be reused.
    pub fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let end = ptr as usize + layout.size();
        let _ = self
            .next
            .compare_exchange(end, ptr as usize, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Grow or shrink the latest block in place; `false` when it is not the
    /// latest or the arena has no room.
    pub fn resize_in_place(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> bool {
        let old_end = ptr as usize + layout.size();
        let Some(new_end) = (ptr as usize).checked_add(new_size) else {
            return false;
        };
        let resized = new_end <= self.end
            && self
                .next
                .compare_exchange(old_end, new_end, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if resized {
            self.populate_to(new_end);
        }
        resized
    }
}

const OFF: u8 = 0;
const UNMAPPED: u8 = 1;
const MAPPING: u8 = 2;
const READY: u8 = 3;
const FAILED: u8 = 4;

/// The global allocator of the binary: see the module documentation.
pub struct HookAllocator {
    state: AtomicU8,
    bump: std::cell::UnsafeCell<Bump>,
}

// SAFETY: `bump` is written once, by the thread that moves `state` from
// UNMAPPED to MAPPING, before it publishes READY with Release ordering; every
// other access reads it after observing READY with Acquire ordering. Bump
// itself is thread-safe.
unsafe impl Sync for HookAllocator {}

impl HookAllocator {
    pub const fn new() -> Self {
        HookAllocator {
            state: AtomicU8::new(OFF),
            // SAFETY: an empty range owns nothing and hands out nothing.
            bump: std::cell::UnsafeCell::new(unsafe { Bump::new(0, 0) }),
        }
    }

    /// Serve from the arena from now on (hook mode). Blocks allocated before
    /// stay the system allocator's.
    pub fn use_arena(&self) {
        let _ = self
            .state
            .compare_exchange(OFF, UNMAPPED, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The arena, mapping it on first use; `None` while another thread maps
    /// it or when mapping failed (the system allocator serves then).
    fn arena(&self) -> Option<&Bump> {
        match self.state.load(Ordering::Acquire) {
            // SAFETY: READY is published after `bump` was written (see Sync).
            READY => Some(unsafe { &*self.bump.get() }),
            UNMAPPED => {
                if self
                    .state
                    .compare_exchange(UNMAPPED, MAPPING, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {
                    return None;
                }
                // SAFETY: an anonymous private mapping; no memory is aliased.
                let base = unsafe {
                    libc::mmap(
                        ptr::null_mut(),
                        ARENA_SIZE,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                        -1,
                        0,
                    )
                };
                if base == libc::MAP_FAILED {
                    self.state.store(FAILED, Ordering::Release);
                    return None;
                }
                // SAFETY: only this thread (the one that won MAPPING) writes
                // `bump`, and nobody reads it before READY; the mapping lives
                // for the whole process.
                unsafe { *self.bump.get() = Bump::new(base as usize, ARENA_SIZE).populating() };
                self.state.store(READY, Ordering::Release);
                // SAFETY: just written, see above.
                Some(unsafe { &*self.bump.get() })
            }
            _ => None,
        }
    }

    /// The arena if it is mapped, without mapping it.
    fn mapped(&self) -> Option<&Bump> {
        // SAFETY: READY is published after `bump` was written (see Sync).
        (self.state.load(Ordering::Acquire) == READY).then(|| unsafe { &*self.bump.get() })
    }
}

impl Default for HookAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks come either from the arena (disjoint, aligned, inside a
// live mapping) or from `System`; `owns` tells which, so each block goes back
// to where it came from.
unsafe impl GlobalAlloc for HookAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() <= ARENA_MAX_BLOCK
            && let Some(p) = self.arena().and_then(|a| a.alloc(layout))
        {
            return p;
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() <= ARENA_MAX_BLOCK
            && let Some(p) = self.arena().and_then(|a| a.alloc(layout))
        {
            // Fresh arena memory is zero, but a freed latest block handed
            // out again is not.
            // SAFETY: p is a fresh block of layout.size() bytes.
            unsafe { ptr::write_bytes(p, 0, layout.size()) };
            return p;
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.mapped() {
            Some(arena) if arena.owns(ptr) => arena.dealloc(ptr, layout),
            // SAFETY: not the arena's, so System's, with the caller's guarantees.
            _ => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(arena) = self.mapped().filter(|a| a.owns(ptr)) else {
            // SAFETY: not the arena's, so System's, with the caller's guarantees.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        if new_size <= ARENA_MAX_BLOCK && arena.resize_in_place(ptr, layout, new_size) {
            return ptr;
        }
        // SAFETY: the caller guarantees new_size with layout's alignment is a
        // valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a valid layout, as above.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct; copy the smaller size.
            unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            arena.dealloc(ptr, layout);
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(len: usize) -> (Vec<u64>, Bump) {
        let mut buf = vec![0u64; len / 8];
        // SAFETY: the Vec outlives the Bump within each test and is not
        // otherwise touched.
        let bump = unsafe { Bump::new(buf.as_mut_ptr() as usize, len) };
        (buf, bump)
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_inside() {
        let (_buf, bump) = region(4096);
        let a = bump.alloc(layout(3, 1)).unwrap_or(ptr::null_mut()) as usize;
        let b = bump.alloc(layout(16, 16)).unwrap_or(ptr::null_mut()) as usize;
        let c = bump.alloc(layout(8, 8)).unwrap_or(ptr::null_mut()) as usize;
        assert!(a != 0 && b != 0 && c != 0);
        assert_eq!(b % 16, 0);
        assert_eq!(c % 8, 0);
        assert!(a + 3 <= b && b + 16 <= c);
        assert!(bump.owns(c as *mut u8));
    }

    #[test]
    fn a_full_arena_refuses_and_owns_nothing_outside() {
        let (_buf, bump) = region(64);
        assert!(bump.alloc(layout(48, 8)).is_some());
        assert!(bump.alloc(layout(32, 8)).is_none());
        assert!(bump.alloc(layout(16, 8)).is_some());
        assert!(bump.alloc(layout(1, 1)).is_none());
        let outside = std::ptr::dangling_mut::<u8>();
        assert!(!bump.owns(outside));
    }

    #[test]
    fn only_the_latest_block_is_reused_or_resized() {
        let (_buf, bump) = region(256);
        let a = bump.alloc(layout(32, 8)).unwrap_or(ptr::null_mut());
        let b = bump.alloc(layout(32, 8)).unwrap_or(ptr::null_mut());
        // Not the latest: freeing it changes nothing, nor can it grow.
        bump.dealloc(a, layout(32, 8));
        assert!(!bump.resize_in_place(a, layout(32, 8), 64));
        // The latest grows in place, then is freed and handed out again.
        assert!(bump.resize_in_place(b, layout(32, 8), 64));
        bump.dealloc(b, layout(64, 8));
        assert_eq!(bump.alloc(layout(8, 8)), Some(b));
        // No growth past the end.
        assert!(!bump.resize_in_place(b, layout(8, 8), 4096));
    }

    #[test]
    fn the_arena_is_off_until_turned_on() {
        let global = HookAllocator::new();
        // SAFETY: the block is freed once with its layout.
        unsafe {
            let p = global.alloc(layout(16, 8));
            assert!(global.mapped().is_none());
            global.dealloc(p, layout(16, 8));
        }
    }

    #[test]
    fn the_global_allocator_round_trips_through_both_sides() {
        let global = HookAllocator::new();
        global.use_arena();
        // SAFETY: each block is used within its layout and freed once.
        unsafe {
            let small = layout(100, 8);
            let p = global.alloc(small);
            assert!(!p.is_null());
            ptr::write_bytes(p, 7, 100);
            let grown = global.realloc(p, small, 200);
            assert!(!grown.is_null());
            assert_eq!(*grown.add(99), 7);
            let big = layout(ARENA_MAX_BLOCK + 1, 8);
            let resident = global.mapped().map(|a| a.populated.load(Ordering::Relaxed));
            assert_eq!(resident, global.mapped().map(|a| a.start + POPULATE_STEP));
            let q = global.alloc_zeroed(big);
            assert!(!q.is_null());
            assert!(
                !global.mapped().is_some_and(|a| a.owns(q)),
                "a big block is the system's"
            );
            assert_eq!(*q.add(ARENA_MAX_BLOCK), 0);
            global.dealloc(q, big);
            let z = global.alloc_zeroed(layout(64, 8));
            assert!(global.mapped().is_some_and(|a| a.owns(z)));
            assert!((0..64).all(|i| *z.add(i) == 0));
            global.dealloc(z, layout(64, 8));
            global.dealloc(grown, layout(200, 8));
        }
    }
}
