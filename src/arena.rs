//! The hook's allocator: a bump region first, the system allocator after.
//!
//! The hook lives for a millisecond on every container start and frees
//! little before it exits, so in hook mode ([`HookAllocator::use_arena`])
//! blocks come from one reserved region of [`REGION_SIZE`], bumped, made
//! resident [`POPULATE_STEP`] at a time (`MADV_POPULATE_WRITE`: one system
//! call instead of a fault per page). Nothing is freed except the latest
//! block, which moves the end back; the latest block grows and shrinks in
//! place (`Vec` growth). A request that does not fit the rest of the region
//! goes to the system allocator, and each block goes back to where it came
//! from (told apart by address).
//! Only the thread that turned the region on bumps, without atomics; other
//! threads get the system allocator, and a region block they free leaks.
//! The other commands (`install --watch` runs for days) never turn it on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The region's size. A warm start with 1000 mounts uses ~570 KiB of it;
/// what does not fit goes to the system allocator, which frees: a start
/// that parses a hundred policies (a cold policy cache) allocates ~5 MiB in
/// all, which a region that never frees would keep resident. Smaller than a
/// huge page, so never backed by one.
pub const REGION_SIZE: usize = 1 << 20;
/// How much is made resident at once; the typical hook run fits in one step.
pub const POPULATE_STEP: usize = 64 << 10;

/// A bump pointer over `[next, end)`. Not thread-safe (`&mut self`):
/// [`HookAllocator`] lets only its owner thread in.
struct Bump {
    start: usize,
    end: usize,
    /// The end of the used part.
    next: usize,
    /// Below this address the region is resident.
    populated: usize,
}

impl Bump {
    /// A region that hands out nothing.
    const EMPTY: Bump = Bump {
        start: 0,
        end: 0,
        next: 0,
        populated: 0,
    };

    /// Whether `ptr` was handed out by this region.
    fn owns(&self, ptr: *mut u8) -> bool {
        (self.start..self.end).contains(&(ptr as usize))
    }

    /// `layout.size()` bytes aligned to `layout.align()`, or `None` when
    /// they do not fit.
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<*mut u8> {
        let at = self.next.checked_add(layout.align() - 1)? & !(layout.align() - 1);
        self.bump_to(at.checked_add(layout.size())?)?;
        Some(at as *mut u8)
    }

    /// Move the end of the used part to `end`, if the region reaches it.
    #[inline]
    fn bump_to(&mut self, end: usize) -> Option<()> {
        if end > self.end {
            return None;
        }
        if end > self.populated {
            self.populate(end);
        }
        self.next = end;
        Some(())
    }

    /// Make `[.., end)` resident, [`POPULATE_STEP`] at a time from the
    /// start. Best effort: a kernel without `MADV_POPULATE_WRITE` (< 5.14)
    /// faults pages in as usual.
    #[cold]
    fn populate(&mut self, end: usize) {
        let from = self.populated;
        let steps = (end - self.start).next_multiple_of(POPULATE_STEP);
        self.populated = (self.start + steps).min(self.end);
        // SAFETY: advice on [from, populated), inside the region this Bump
        // manages; it only makes pages resident.
        unsafe {
            libc::madvise(
                from as *mut libc::c_void,
                self.populated - from,
                libc::MADV_POPULATE_WRITE,
            )
        };
    }

    /// Give back a block of this region: only the latest one is reused.
    fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.next {
            self.next = ptr as usize;
        }
    }

    /// Resize a block of this region: in place when it is the latest one or
    /// shrinks, else copied to a new block (the old one is not reused).
    /// `None` when the region has no room (the block is untouched then).
    ///
    /// # Safety
    /// `ptr` is a live block this region handed out for `layout`.
    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> Option<*mut u8> {
        let at = ptr as usize;
        if at + layout.size() == self.next {
            return self.bump_to(at.checked_add(new_size)?).map(|()| ptr);
        }
        if new_size <= layout.size() {
            return Some(ptr);
        }
        let moved = self.alloc(Layout::from_size_align(new_size, layout.align()).ok()?)?;
        // SAFETY: distinct live blocks, the old one the smaller.
        unsafe { ptr::copy_nonoverlapping(ptr, moved, layout.size()) };
        Some(moved)
    }
}

thread_local! {
    /// The address of the [`HookAllocator`] whose region this thread owns,
    /// or 0. A const-initialised `Cell` without drop glue: reading it is one
    /// load relative to the thread pointer, no lazy set-up.
    static OWNER: Cell<usize> = const { Cell::new(0) };
}

/// The global allocator of the binary: see the module documentation.
pub struct HookAllocator {
    /// Set by the one call of `use_arena` that maps the region.
    claimed: AtomicBool,
    /// The region's bounds once mapped (0, 0 before), for threads other than
    /// the owner to tell its blocks apart.
    start: AtomicUsize,
    end: AtomicUsize,
    /// How much address space to reserve.
    len: usize,
    /// Touched only by the owner thread.
    bump: UnsafeCell<Bump>,
}

// SAFETY: `bump` is read and written only by the thread whose OWNER holds
// this allocator's address (`owned`). One thread at most ever stores it: the
// one whose `use_arena` wins `claimed`, after it wrote `bump` itself.
// `use_arena` takes `&'static self`, so that address names this allocator for
// the rest of the process, and a thread-local is set only by its own thread.
// Other threads read only the atomics `start` and `end`. `Bump` never
// allocates, so the owner does not re-enter it.
unsafe impl Sync for HookAllocator {}

impl HookAllocator {
    pub const fn new() -> Self {
        Self::with_len(REGION_SIZE)
    }

    const fn with_len(len: usize) -> Self {
        HookAllocator {
            claimed: AtomicBool::new(false),
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            len,
            bump: UnsafeCell::new(Bump::EMPTY),
        }
    }

    /// Serve the calling thread from the region from now on (hook mode).
    /// Blocks allocated before stay the system allocator's; only the first
    /// call does anything.
    pub fn use_arena(&'static self) {
        if self.claimed.swap(true, Ordering::Relaxed) {
            return;
        }
        // SAFETY: an anonymous private mapping; no memory is aliased.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                self.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return;
        }
        let (start, end) = (base as usize, base as usize + self.len);
        // SAFETY: no thread owns the region yet (OWNER is set below), so
        // nothing else reads or writes `bump` meanwhile.
        unsafe {
            *self.bump.get() = Bump {
                start,
                end,
                next: start,
                populated: start,
            }
        };
        self.start.store(start, Ordering::Release);
        self.end.store(end, Ordering::Release);
        OWNER.set(self as *const Self as usize);
    }

    /// The region, when the calling thread owns it.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn owned(&self) -> Option<&mut Bump> {
        let me = self as *const Self as usize;
        // SAFETY: only the owner thread gets here (see Sync), and each
        // GlobalAlloc method holds this borrow alone.
        OWNER
            .try_with(|owner| owner.get() == me)
            .unwrap_or(false)
            .then(|| unsafe { &mut *self.bump.get() })
    }

    /// Whether `ptr` lies in the region (for a thread that does not own it).
    /// A thread holding a region block got it from the owner after the
    /// bounds were stored, so it sees them.
    fn in_region(&self, ptr: *mut u8) -> bool {
        let ptr = ptr as usize;
        ptr >= self.start.load(Ordering::Acquire) && ptr < self.end.load(Ordering::Acquire)
    }
}

impl Default for HookAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks come either from the region (disjoint, aligned, inside a
// live mapping) or from `System`; the region's bounds tell which, so each
// block goes back to where it came from, or (a region block freed by another
// thread) nowhere.
unsafe impl GlobalAlloc for HookAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = self.owned().and_then(|b| b.alloc(layout)) {
            return p;
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = self.owned().and_then(|b| b.alloc(layout)) {
            // Region memory can have been used before (a freed latest block).
            // SAFETY: p is a fresh block of layout.size() bytes.
            unsafe { ptr::write_bytes(p, 0, layout.size()) };
            return p;
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.owned() {
            Some(bump) if bump.owns(ptr) => bump.dealloc(ptr, layout),
            // Another thread's free of a region block: leaked.
            None if self.in_region(ptr) => {}
            // SAFETY: not the region's, so System's, with the caller's guarantees.
            _ => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let mut bump = match self.owned() {
            Some(bump) if bump.owns(ptr) => Some(bump),
            // Another thread's region block: copied out below.
            None if self.in_region(ptr) => None,
            // SAFETY: not the region's, so System's, with the caller's guarantees.
            _ => return unsafe { System.realloc(ptr, layout, new_size) },
        };
        // SAFETY: a region block, with the caller's guarantees.
        if let Some(p) = bump
            .as_mut()
            .and_then(|b| unsafe { b.realloc(ptr, layout, new_size) })
        {
            return p;
        }
        // The region is full, or another thread holds a region block: copy
        // it into a System block.
        // SAFETY: the caller guarantees new_size with layout's alignment is a
        // valid layout; both blocks are live and distinct.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = System.alloc(new_layout);
            if !new.is_null() {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                if let Some(bump) = bump {
                    bump.dealloc(ptr, layout);
                }
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test memory aligned like a page, as an mmap region is.
    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    /// A region over resident test memory (`populated` at its end: no
    /// `madvise` on it).
    fn region(len: usize) -> (Vec<Page>, Bump) {
        let mut buf: Vec<Page> = (0..len / 4096).map(|_| Page([0; 4096])).collect();
        let start = buf.as_mut_ptr() as usize;
        let end = start + len;
        let bump = Bump {
            start,
            end,
            next: start,
            populated: end,
        };
        (buf, bump)
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap_or_else(|e| panic!("{e}"))
    }

    fn take(bump: &mut Bump, l: Layout) -> usize {
        bump.alloc(l).unwrap_or_else(|| panic!("no room for {l:?}")) as usize
    }

    /// An allocator that lives for the rest of the test process, as the
    /// binary's static does (`use_arena` needs that).
    fn leaked(len: usize) -> &'static HookAllocator {
        Box::leak(Box::new(HookAllocator::with_len(len)))
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_inside() {
        let (_buf, mut bump) = region(1 << 20);
        let layouts = [
            layout(3, 1),
            layout(16, 16),
            layout(8, 8),
            layout(24, 32),
            layout(1, 64),
            layout(100, 128),
            layout(5, 256),
            layout(300, 4),
            layout(4096, 4096),
            layout(10, 1 << 14),
        ];
        let mut live: Vec<(usize, Layout)> = Vec::new();
        for round in 0..4 {
            for l in layouts {
                let p = take(&mut bump, l);
                assert_eq!(p % l.align(), 0, "{l:?} in round {round}");
                assert!(bump.owns(p as *mut u8) && p + l.size() <= bump.end);
                for &(q, m) in &live {
                    assert!(p + l.size() <= q || q + m.size() <= p, "{l:?} overlaps");
                }
                live.push((p, l));
            }
            // The latest block freed is handed out again.
            let (p, l) = live.pop().unwrap_or_else(|| panic!("no block"));
            bump.dealloc(p as *mut u8, l);
            assert_eq!(take(&mut bump, l), p);
            live.push((p, l));
        }
    }

    #[test]
    fn only_the_latest_block_goes_back_to_the_end() {
        let (_buf, mut bump) = region(1 << 16);
        let a = take(&mut bump, layout(100, 8));
        let b = take(&mut bump, layout(5000, 8));
        let c = take(&mut bump, layout(10, 1));
        // Not the latest: nothing moves.
        bump.dealloc(b as *mut u8, layout(5000, 8));
        assert_eq!(bump.next, c + 10);
        // The latest, then the one before it.
        bump.dealloc(c as *mut u8, layout(10, 1));
        assert_eq!(bump.next, b + 5000);
        let d = take(&mut bump, layout(100, 8));
        assert!(d >= b + 5000);
        bump.dealloc(d as *mut u8, layout(100, 8));
        bump.dealloc(a as *mut u8, layout(100, 8));
        assert_eq!(bump.next, b + 5000, "a is not the latest");
    }

    #[test]
    fn the_latest_block_resizes_in_place_others_move_to_grow() {
        let (_buf, mut bump) = region(1 << 17);
        let big = layout(10_000, 8);
        // SAFETY: each block is live, with its layout, when passed.
        unsafe {
            let a = take(&mut bump, big) as *mut u8;
            ptr::write_bytes(a, 0xa5, 10_000);
            // The latest grows and shrinks in place.
            assert_eq!(bump.realloc(a, big, 30_000), Some(a));
            assert_eq!(bump.next, a as usize + 30_000);
            assert_eq!(bump.realloc(a, layout(30_000, 8), 10_000), Some(a));
            assert_eq!(bump.next, a as usize + 10_000);
            let b = take(&mut bump, layout(8, 8)) as *mut u8;
            // Not the latest: it shrinks in place, and moves to grow.
            assert_eq!(bump.realloc(a, big, 5_000), Some(a));
            let moved = bump.realloc(a, layout(5_000, 8), 20_000);
            let moved = moved.unwrap_or(ptr::null_mut());
            assert!(moved > b);
            assert!((0..5_000).all(|i| *moved.add(i) == 0xa5));
            assert_eq!(bump.next, moved as usize + 20_000);
            // No growth past the end, and the block stays.
            assert_eq!(bump.realloc(moved, layout(20_000, 8), 1 << 20), None);
            assert_eq!(bump.next, moved as usize + 20_000);
        }
    }

    #[test]
    fn a_full_region_refuses_and_owns_nothing_outside() {
        let (_buf, mut bump) = region(4096);
        let a = take(&mut bump, layout(2048, 8));
        take(&mut bump, layout(1024, 8));
        assert!(bump.alloc(layout(2048, 8)).is_none());
        assert!(bump.alloc(layout(8, 4096)).is_none());
        let c = take(&mut bump, layout(1024, 8));
        assert!(bump.alloc(layout(1, 1)).is_none());
        assert!(bump.alloc(layout(usize::MAX / 2, 1)).is_none());
        // Full, it still serves the latest block again.
        bump.dealloc(c as *mut u8, layout(1024, 8));
        assert_eq!(take(&mut bump, layout(1000, 8)), c);
        assert!(bump.owns(a as *mut u8));
        assert!(!bump.owns(std::ptr::dangling_mut::<u8>()));
        assert!(!bump.owns(bump.end as *mut u8));
    }

    #[test]
    fn random_traffic_keeps_blocks_apart_and_intact() {
        let (_buf, mut bump) = region(1 << 22);
        // Live blocks by address: (layout, the byte they are filled with).
        let mut live = std::collections::BTreeMap::<usize, (Layout, u8)>::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as usize
        };
        let fill = |p: usize, l: Layout, tag: u8| {
            // SAFETY: a live block of l.size() bytes.
            unsafe { ptr::write_bytes(p as *mut u8, tag, l.size()) }
        };
        let intact = |p: usize, l: Layout, tag: u8| {
            // SAFETY: a live block of l.size() bytes.
            (0..l.size()).all(|i| unsafe { *(p as *const u8).add(i) } == tag)
        };
        for step in 0..20_000u32 {
            let tag = step as u8;
            let size = match random(10) {
                0 => random(20_000),
                1..=3 => random(1000),
                _ => random(200),
            } + 1;
            let l = layout(size, [1, 8, 16, 32, 256][random(5).min(random(5))]);
            // The latest block half the time, else one at random.
            let pick = match random(2) {
                0 => live.iter().next_back(),
                _ => live.range(random(1 << 22) + bump.start..).next(),
            }
            .map(|(&p, &v)| (p, v));
            match (random(3), pick) {
                (0, Some((p, (old, t)))) => {
                    assert!(intact(p, old, t), "block {p:x} {old:?} overwritten");
                    live.remove(&p);
                    bump.dealloc(p as *mut u8, old);
                }
                (1, Some((p, (old, t)))) => {
                    assert!(intact(p, old, t), "block {p:x} {old:?} overwritten");
                    // SAFETY: a live block with its layout.
                    let Some(q) = (unsafe { bump.realloc(p as *mut u8, old, size) }) else {
                        continue;
                    };
                    let new = layout(size, old.align());
                    let kept = layout(size.min(old.size()), 1);
                    assert!(intact(q as usize, kept, t), "{old:?} -> {size} lost bytes");
                    live.remove(&p);
                    assert!(live.insert(q as usize, (new, tag)).is_none());
                    fill(q as usize, new, tag);
                }
                _ => {
                    let Some(p) = bump.alloc(l) else { continue };
                    let p = p as usize;
                    assert_eq!(p % l.align(), 0);
                    assert!(p >= bump.start && p + l.size() <= bump.end);
                    if let Some((&q, &(m, _))) = live.range(..=p).next_back() {
                        assert!(q + m.size() <= p, "{l:?} at {p:x} overlaps");
                    }
                    if let Some((&q, _)) = live.range(p + 1..).next() {
                        assert!(p + l.size() <= q, "{l:?} at {p:x} overlaps");
                    }
                    assert!(live.insert(p, (l, tag)).is_none(), "{p:x} handed out twice");
                    fill(p, l, tag);
                }
            }
        }
    }

    #[test]
    fn the_region_is_off_until_turned_on() {
        let global = HookAllocator::new();
        // SAFETY: the block is freed once with its layout.
        unsafe {
            let p = global.alloc(layout(16, 8));
            assert!(!p.is_null());
            assert!(global.owned().is_none());
            assert!(!global.in_region(p));
            global.dealloc(p, layout(16, 8));
        }
    }

    #[test]
    fn realloc_keeps_the_contents_growing_and_shrinking() {
        let global = leaked(REGION_SIZE);
        global.use_arena();
        let sizes = [10, 16, 17, 100, 3000, 100_000, 5000, 200, 7];
        // SAFETY: each block is used within its layout and freed once.
        unsafe {
            let mut p = global.alloc(layout(sizes[0], 4));
            for i in 0..sizes[0] {
                *p.add(i) = i as u8;
            }
            for (n, w) in sizes.windows(2).enumerate() {
                let (old, new) = (w[0], w[1]);
                // Every other step, something after it: no growth in place.
                let pin = (n % 2 == 1).then(|| global.alloc(layout(8, 8)));
                let before = p;
                p = global.realloc(p, layout(old, 4), new);
                assert!(!p.is_null() && global.in_region(p), "{old} -> {new}");
                assert_eq!(p as usize % 4, 0);
                assert_eq!(p == before, pin.is_none() || new <= old, "{old} -> {new}");
                for i in 0..old.min(new) {
                    assert_eq!(*p.add(i), i as u8, "byte {i} after {old} -> {new}");
                }
                for i in old.min(new)..new {
                    *p.add(i) = i as u8;
                }
            }
            global.dealloc(p, layout(7, 4));
        }
    }

    #[test]
    fn the_global_allocator_round_trips_through_both_sides() {
        let global = leaked(REGION_SIZE);
        // A block from before the region stays the system's.
        // SAFETY: each block is used within its layout and freed once.
        unsafe {
            let before = global.alloc(layout(32, 8));
            global.use_arena();
            assert!(!global.in_region(before));
            let small = layout(100, 8);
            let p = global.alloc(small);
            assert!(global.in_region(p));
            let resident = global.owned().map(|b| b.populated);
            assert_eq!(resident, global.owned().map(|b| b.start + POPULATE_STEP));
            ptr::write_bytes(p, 7, 100);
            global.dealloc(p, small);
            // A reused block is zeroed when asked.
            let z = global.alloc_zeroed(layout(128, 8));
            assert_eq!(z, p);
            assert!((0..128).all(|i| *z.add(i) == 0));
            // Larger than the region: the system's.
            let big = layout(REGION_SIZE + 1, 8);
            let q = global.alloc_zeroed(big);
            assert!(!q.is_null());
            assert!(!global.in_region(q), "a big block is the system's");
            assert_eq!(*q.add(REGION_SIZE), 0);
            global.dealloc(q, big);
            let before = global.realloc(before, layout(32, 8), 64);
            assert!(!global.in_region(before));
            global.dealloc(before, layout(64, 8));
            global.dealloc(z, layout(128, 8));
        }
    }

    #[test]
    fn other_threads_get_the_system_allocator_and_leak_region_blocks() {
        let global = leaked(REGION_SIZE);
        global.use_arena();
        let l = layout(48, 8);
        // SAFETY: each block is used within its layout and freed once.
        unsafe {
            let a = global.alloc(l);
            let r = global.alloc(layout(40, 8));
            assert!(global.in_region(a) && global.in_region(r));
            ptr::write_bytes(a, 0xa5, 48);
            ptr::write_bytes(r, 0x5a, 40);
            let (a_at, r_at) = (a as usize, r as usize);
            let moved = std::thread::spawn(move || {
                // Not the owner, even after asking.
                global.use_arena();
                assert!(global.owned().is_none());
                let own = global.alloc(l);
                assert!(!own.is_null() && !global.in_region(own));
                global.dealloc(own, l);
                // Freeing a region block leaves it alone.
                global.dealloc(a_at as *mut u8, l);
                assert!((0..48).all(|i| *(a_at as *const u8).add(i) == 0xa5));
                // Reallocating one copies it out.
                let moved = global.realloc(r_at as *mut u8, layout(40, 8), 400);
                assert!(!moved.is_null() && !global.in_region(moved));
                assert!((0..40).all(|i| *moved.add(i) == 0x5a));
                moved as usize
            })
            .join()
            .unwrap_or_else(|_| panic!("the other thread failed"));
            // The owner's end is where it left it: r is still the latest.
            let next = global.owned().map(|b| b.next);
            assert_eq!(next, Some(r as usize + 40));
            // The copied-out block is the system's, wherever it is freed.
            global.dealloc(moved as *mut u8, layout(400, 8));
            global.dealloc(r, layout(40, 8));
            global.dealloc(a, l);
            assert_eq!(global.owned().map(|b| b.next), Some(a as usize));
        }
    }

    #[test]
    fn an_exhausted_region_falls_back_to_the_system_allocator() {
        let len = 256 << 10;
        let global = leaked(len);
        global.use_arena();
        let l = layout(4096, 8);
        let mut blocks = Vec::new();
        // SAFETY: each block is used within its layout and freed once.
        unsafe {
            loop {
                let p = global.alloc(l);
                assert!(!p.is_null());
                ptr::write_bytes(p, blocks.len() as u8, 4096);
                blocks.push(p);
                if !global.in_region(p) {
                    break;
                }
                assert!(blocks.len() <= len / 4096, "the region never filled");
            }
            let outside = blocks.pop().unwrap_or(ptr::null_mut());
            // The latest region block cannot grow: it moves out, and its
            // room is handed out again.
            let last = blocks.pop().unwrap_or(ptr::null_mut());
            let grown = global.realloc(last, l, 4 * 4096);
            assert!(!grown.is_null() && !global.in_region(grown));
            assert!((0..4096).all(|i| *grown.add(i) == blocks.len() as u8));
            assert_eq!(global.alloc(l), last);
            // The region's blocks are intact.
            for (n, &p) in blocks.iter().enumerate() {
                assert_eq!(*p, n as u8);
            }
            global.dealloc(outside, l);
            global.dealloc(grown, layout(4 * 4096, 8));
        }
    }
}
