//! The hook's allocator: an arena first, the system allocator after.
//!
//! The hook lives for a millisecond on every container start and makes
//! hundreds of allocations (tens of thousands for a thousand mounts), most
//! of them short-lived. glibc's malloc was a quarter of its instructions and
//! each fresh heap page a fault, so in hook mode
//! ([`HookAllocator::use_arena`]) blocks come from one reserved region, made
//! resident [`POPULATE_STEP`] at a time (`MADV_POPULATE_WRITE`: one system
//! call instead of a fault per page):
//!
//! - Blocks are aligned to and sized in [`MIN_CLASS`] bytes. Up to
//!   [`MAX_CLASS`] (and alignment `MIN_CLASS`) a request is rounded up to a
//!   size class: 16-byte steps to 256, then four per power of two.
//! - A class block comes from its free list, else from the current chunk (a
//!   free block of at least [`CHUNK_MIN`]), else from the end of the used
//!   part. Larger blocks and alignments always come from the end.
//! - Freed, the latest block moves the end back, another class block goes on
//!   its list, another large block is cut into class blocks. The latest
//!   block grows and shrinks in place (`Vec` growth).
//! - Past [`ARENA_MAX_BLOCK`] or the region's end, the system allocator
//!   serves.
//! - Only the thread that turned the arena on uses it, without atomics; other
//!   threads get the system allocator, and an arena block they free leaks.
//!
//! The other commands (`install --watch` runs for days) never turn it on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Address space reserved (not memory: pages become resident as used).
pub const ARENA_SIZE: usize = 256 << 20;
/// Larger blocks go to the system allocator.
pub const ARENA_MAX_BLOCK: usize = 16 << 20;
/// How much is made resident at once; the typical hook run fits in one step.
pub const POPULATE_STEP: usize = 64 << 10;
/// The smallest class, and the alignment and granule of every arena block:
/// any run of free space splits into whole class blocks.
pub const MIN_CLASS: usize = 16;
/// Classes are [`MIN_CLASS`] apart up to here: most of the hook's blocks are
/// small (with a thousand mounts, thousands of 90-98 bytes each, which a
/// power-of-two class would round up by a quarter).
const STEP_CLASSES_TO: usize = 256;
/// The largest class: some short-lived buffers reach 8 KiB.
pub const MAX_CLASS: usize = 8 << 10;
/// 16 step classes, then 4 per power of two from 256 to MAX_CLASS.
const CLASSES: usize = STEP_CLASSES_TO / MIN_CLASS
    + 4 * (MAX_CLASS.trailing_zeros() - STEP_CLASSES_TO.trailing_zeros()) as usize;

/// Each class's block size.
const CLASS_SIZE: [usize; CLASSES] = {
    let mut sizes = [0; CLASSES];
    let mut class = 0;
    while class < CLASSES {
        sizes[class] = if class < STEP_CLASSES_TO / MIN_CLASS {
            (class + 1) * MIN_CLASS
        } else {
            let k = class - STEP_CLASSES_TO / MIN_CLASS;
            (STEP_CLASSES_TO << (k / 4)) / 4 * (5 + k % 4)
        };
        class += 1;
    }
    sizes
};

/// The class serving `layout`, or `None` for a large block.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if layout.align() > MIN_CLASS || size > MAX_CLASS {
        return None;
    }
    Some(class_up(size))
}

/// The smallest class of at least `size` bytes (at most MAX_CLASS).
#[inline]
const fn class_up(size: usize) -> usize {
    if size <= STEP_CLASSES_TO {
        size.saturating_sub(1) / MIN_CLASS
    } else {
        // 4 classes per power of two: the exponent and the next two bits.
        let n = size - 1;
        let exp = (usize::BITS - 1 - n.leading_zeros()) as usize;
        let quarter = (n >> (exp - 2)) & 3;
        STEP_CLASSES_TO / MIN_CLASS
            + (exp - STEP_CLASSES_TO.trailing_zeros() as usize) * 4
            + quarter
    }
}

/// A free block at least this large can become the chunk that smaller
/// classes are carved from. Splitting smaller ones too saved little memory
/// (in allocation traces of the hook) for a split per allocation.
pub const CHUNK_MIN: usize = 1 << 10;
const CHUNK_MIN_CLASS: usize = class_up(CHUNK_MIN);

/// The largest class that fits in `len` bytes (a multiple of MIN_CLASS, not 0).
fn class_within(len: usize) -> usize {
    if len <= STEP_CLASSES_TO {
        len / MIN_CLASS - 1
    } else if len >= MAX_CLASS {
        CLASSES - 1
    } else {
        let exp = (usize::BITS - 1 - len.leading_zeros()) as usize;
        let quarter = (len >> (exp - 2)) & 3;
        // quarter 0 is the power of two itself: the previous group's last.
        STEP_CLASSES_TO / MIN_CLASS
            + (exp - STEP_CLASSES_TO.trailing_zeros() as usize) * 4
            + quarter
            - 1
    }
}

/// How many bytes an arena block for `layout` spans.
#[inline]
fn block_size(layout: Layout) -> usize {
    match class_of(layout) {
        Some(class) => CLASS_SIZE[class],
        // At most ARENA_MAX_BLOCK here, or checked by the caller. Never 0,
        // so no two blocks share an address.
        None => layout.size().max(1).next_multiple_of(MIN_CLASS),
    }
}

/// Size-class free lists over a bump region `[start, end)`. Not thread-safe
/// (`&mut self`): [`HookAllocator`] lets only its owner thread in.
struct Arena {
    start: usize,
    end: usize,
    /// The end of the used part: everything listed or live lies below.
    next: usize,
    /// Below this address the region is resident.
    populated: usize,
    /// Per class, the first free block or 0. A free block's first word holds
    /// the address of the next one (an intrusive singly linked list).
    free: [usize; CLASSES],
    /// Free space `[chunk, chunk_end)` that class blocks are carved from
    /// when their list is empty (it is neither listed nor in use).
    chunk: usize,
    chunk_end: usize,
    /// For classes from CHUNK_MIN_CLASS, bit `class` is set when that list
    /// may be non-empty (`pop` leaves it set; `take_chunk` clears it).
    listed: u64,
}

impl Arena {
    /// An arena that owns nothing and hands out nothing.
    const fn empty() -> Self {
        Arena {
            start: 0,
            end: 0,
            next: 0,
            populated: 0,
            free: [0; CLASSES],
            chunk: 0,
            chunk_end: 0,
            listed: 0,
        }
    }

    /// An arena over resident memory (`start` is rounded up to
    /// [`MIN_CLASS`]).
    ///
    /// # Safety
    /// `[start, start + len)` must be writable memory that outlives the
    /// `Arena` and is used by nothing else.
    unsafe fn new(start: usize, len: usize) -> Self {
        let end = start + len;
        let start = start.next_multiple_of(MIN_CLASS).min(end);
        Arena {
            start,
            end,
            next: start,
            populated: end,
            ..Arena::empty()
        }
    }

    /// Make the region resident ahead of use, [`POPULATE_STEP`] at a time
    /// (for a region from `mmap`).
    fn populating(mut self) -> Self {
        self.populated = self.start;
        self
    }

    /// Make `[.., end)` resident if it is not yet.
    #[inline]
    fn populate_to(&mut self, end: usize) {
        if end > self.populated {
            self.populate_more(end);
        }
    }

    /// Best effort: a kernel without `MADV_POPULATE_WRITE` (< 5.14) faults
    /// pages in as usual.
    #[cold]
    fn populate_more(&mut self, end: usize) {
        let done = self.populated;
        let to = end
            .div_ceil(POPULATE_STEP)
            .saturating_mul(POPULATE_STEP)
            .min(self.end);
        self.populated = to;
        // SAFETY: [done, to) lies inside the region this Arena manages.
        unsafe {
            libc::madvise(
                done as *mut libc::c_void,
                to - done,
                libc::MADV_POPULATE_WRITE,
            )
        };
    }

    /// Whether `ptr` was handed out by this arena.
    #[inline]
    fn owns(&self, ptr: *mut u8) -> bool {
        (self.start..self.end).contains(&(ptr as usize))
    }

    /// List a free block of `class`.
    #[inline]
    fn push(&mut self, class: usize, block: usize) {
        // SAFETY: `block` is a free block of this arena (below `next`, so
        // resident), at least MIN_CLASS bytes, aligned to them, unused.
        unsafe { *(block as *mut usize) = self.free[class] };
        self.free[class] = block;
        if class >= CHUNK_MIN_CLASS {
            self.listed |= 1 << class;
        }
    }

    #[inline]
    fn pop(&mut self, class: usize) -> Option<usize> {
        let block = self.free[class];
        if block == 0 {
            return None;
        }
        // SAFETY: a listed block holds the next one's address (see `push`).
        self.free[class] = unsafe { *(block as *const usize) };
        Some(block)
    }

    /// List the free run `[at, at + len)` (`len` a multiple of MIN_CLASS) as
    /// class blocks, largest first.
    fn cut(&mut self, mut at: usize, mut len: usize) {
        while len > 0 {
            let class = class_within(len);
            self.push(class, at);
            at += CLASS_SIZE[class];
            len -= CLASS_SIZE[class];
        }
    }

    /// A block of `class`, whose list is empty, carved from the chunk; when
    /// the chunk is too small, the smallest listed block that can be a chunk
    /// and is larger than `class` becomes the chunk (the old one's rest is
    /// listed).
    fn carve(&mut self, class: usize) -> Option<usize> {
        let size = CLASS_SIZE[class];
        if self.chunk_end - self.chunk < size {
            let (block, len) = self.take_chunk(class)?;
            if self.chunk_end > self.chunk {
                self.cut(self.chunk, self.chunk_end - self.chunk);
            }
            self.chunk = block;
            self.chunk_end = block + len;
        }
        let block = self.chunk;
        self.chunk += size;
        Some(block)
    }

    /// Unlist the smallest block that can be a chunk and is larger than
    /// `class`: its address and size.
    fn take_chunk(&mut self, class: usize) -> Option<(usize, usize)> {
        loop {
            let larger = self.listed & (!1u64 << class);
            if larger == 0 {
                return None;
            }
            let from = larger.trailing_zeros() as usize;
            match self.pop(from) {
                Some(block) => return Some((block, CLASS_SIZE[from])),
                None => self.listed &= !(1 << from),
            }
        }
    }

    /// `size` bytes aligned to `align` (powers of two; `size` a multiple
    /// and `align` at least MIN_CLASS) from the end of the used part.
    fn bump(&mut self, align: usize, size: usize) -> Option<usize> {
        let start = self.next.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(size)?;
        if end > self.end {
            return None;
        }
        self.populate_to(end);
        let gap = start - self.next;
        if gap > 0 {
            self.cut(self.next, gap);
        }
        self.next = end;
        Some(start)
    }

    /// A block for `layout`, or `None` when it does not fit.
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<*mut u8> {
        let block = match class_of(layout) {
            Some(class) => match self.pop(class) {
                Some(block) => block,
                None => match self.carve(class) {
                    Some(block) => block,
                    None => self.bump(MIN_CLASS, CLASS_SIZE[class])?,
                },
            },
            None if layout.size() <= ARENA_MAX_BLOCK => {
                self.bump(layout.align().max(MIN_CLASS), block_size(layout))?
            }
            None => return None,
        };
        Some(block as *mut u8)
    }

    /// Give back a block this arena handed out for `layout`.
    ///
    /// # Safety
    /// `ptr` is a live block this arena handed out for `layout`, unused
    /// from now on.
    #[inline]
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        let at = ptr as usize;
        let size = block_size(layout);
        if at + size == self.next {
            self.next = at;
            return;
        }
        match class_of(layout) {
            Some(class) => self.push(class, at),
            None => self.cut(at, size),
        }
    }

    /// Resize a block this arena handed out for `layout`: in place when the
    /// class stays, when it is the latest block, or when it shrinks (the
    /// tail is listed); else moved to a new block (the old one freed).
    /// `None` when the arena has no room (the block is untouched then).
    ///
    /// # Safety
    /// `ptr` is a live block this arena handed out for `layout`, and
    /// `new_size` with `layout.align()` makes a valid layout (as for
    /// `GlobalAlloc::realloc`).
    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> Option<*mut u8> {
        if new_size > ARENA_MAX_BLOCK {
            return None;
        }
        // SAFETY: a valid layout, by the caller's guarantee.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (at, old, new) = (ptr as usize, block_size(layout), block_size(new_layout));
        if new == old {
            return Some(ptr);
        }
        if at + old == self.next {
            let end = at + new;
            if end <= self.end {
                self.populate_to(end);
                self.next = end;
                return Some(ptr);
            }
        } else if new < old {
            // Aligned as before, and every block only needs MIN_CLASS.
            self.cut(at + new, old - new);
            return Some(ptr);
        }
        let moved = self.alloc(new_layout)?;
        // SAFETY: both blocks are live and distinct; copy the smaller size.
        unsafe { ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size)) };
        // SAFETY: the caller's block, copied out and no longer used.
        unsafe { self.dealloc(ptr, layout) };
        Some(moved)
    }
}

thread_local! {
    /// The address of the [`HookAllocator`] whose arena this thread owns, or
    /// 0. A const-initialised `Cell` without drop glue: reading it is one
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
    arena: UnsafeCell<Arena>,
}

// SAFETY: `arena` is read and written only by the thread whose OWNER holds
// this allocator's address (`owned`). One thread at most ever stores it: the
// one whose `use_arena` wins `claimed`, after it wrote `arena` itself.
// `use_arena` takes `&'static self`, so that address names this allocator for
// the rest of the process (no later allocator can reuse it), and a
// thread-local is set only by its own thread, so no other thread ever takes
// itself for the owner. Other threads read only the atomics `start` and
// `end`. The owner does not re-enter `arena`: `Arena` never allocates, and
// could panic (whose hook allocates) only on a broken invariant, an
// out-of-range class index. A signal handler that allocates would be unsound
// with glibc's malloc too.
unsafe impl Sync for HookAllocator {}

impl HookAllocator {
    pub const fn new() -> Self {
        Self::with_len(ARENA_SIZE)
    }

    const fn with_len(len: usize) -> Self {
        HookAllocator {
            claimed: AtomicBool::new(false),
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            len,
            arena: UnsafeCell::new(Arena::empty()),
        }
    }

    /// Serve the calling thread from the arena from now on (hook mode).
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
        // Where transparent hugepages are `always` (RHEL's default), the
        // first touch of this large region (which the kernel aligns to 2 MiB)
        // would zero a whole 2 MiB huge page, on every container start, where
        // a typical run uses 64 KiB. Best effort: without it that only costs
        // time.
        // SAFETY: advice on the mapping just made, which nothing uses yet.
        unsafe { libc::madvise(base, self.len, libc::MADV_NOHUGEPAGE) };
        // SAFETY: the mapping is writable, lives for the whole process and
        // is used by nothing else. No thread owns the arena yet (OWNER is
        // set below), so nothing reads `arena` meanwhile.
        unsafe { *self.arena.get() = Arena::new(base as usize, self.len).populating() };
        self.start.store(base as usize, Ordering::Release);
        self.end.store(base as usize + self.len, Ordering::Release);
        OWNER.set(self as *const Self as usize);
    }

    /// The arena, when the calling thread owns it.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn owned(&self) -> Option<&mut Arena> {
        let me = self as *const Self as usize;
        // SAFETY: only the owner thread gets here (see Sync), and each
        // GlobalAlloc method holds this borrow alone.
        OWNER
            .try_with(|owner| owner.get() == me)
            .unwrap_or(false)
            .then(|| unsafe { &mut *self.arena.get() })
    }

    /// Whether `ptr` lies in the arena's region (for a thread that does not
    /// own it). A thread holding an arena block got it from the owner after
    /// the bounds were stored, so it sees them.
    #[inline]
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

// SAFETY: blocks come either from the arena (disjoint, aligned, inside a
// live mapping) or from `System`; the region's bounds tell which, so each
// block goes back to where it came from, or (an arena block freed by another
// thread) nowhere.
unsafe impl GlobalAlloc for HookAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = self.owned().and_then(|a| a.alloc(layout)) {
            return p;
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = self.owned().and_then(|a| a.alloc(layout)) {
            // Fresh arena memory is zero, but a reused block is not.
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
            // SAFETY: an arena block, with the caller's guarantees.
            Some(arena) if arena.owns(ptr) => unsafe { arena.dealloc(ptr, layout) },
            // Another thread's free of an arena block: the lists are the
            // owner's, so the block is leaked.
            None if self.in_region(ptr) => {}
            // SAFETY: not the arena's, so System's, with the caller's guarantees.
            _ => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let mut arena = match self.owned() {
            Some(arena) if arena.owns(ptr) => Some(arena),
            // Another thread's arena block: copied out below.
            None if self.in_region(ptr) => None,
            // SAFETY: not the arena's, so System's, with the caller's guarantees.
            _ => return unsafe { System.realloc(ptr, layout, new_size) },
        };
        // SAFETY: an arena block, with the caller's guarantees.
        if let Some(p) = arena
            .as_mut()
            .and_then(|a| unsafe { a.realloc(ptr, layout, new_size) })
        {
            return p;
        }
        // The arena is full, or another thread holds an arena block: copy it
        // into a System block.
        // SAFETY: the caller guarantees new_size with layout's alignment is a
        // valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a valid layout, as above.
        let new = unsafe { System.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct; copy the smaller size.
            unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            if let Some(arena) = arena {
                // SAFETY: the caller's arena block, copied out.
                unsafe { arena.dealloc(ptr, layout) };
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test memory aligned like a page, as an mmap region is.
    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    fn region(len: usize) -> (Vec<Page>, Arena) {
        let mut buf: Vec<Page> = (0..len / 4096).map(|_| Page([0; 4096])).collect();
        // SAFETY: the Vec outlives the Arena within each test and is not
        // otherwise touched.
        let arena = unsafe { Arena::new(buf.as_mut_ptr() as usize, len) };
        (buf, arena)
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap_or_else(|e| panic!("{e}"))
    }

    fn take(arena: &mut Arena, l: Layout) -> usize {
        arena
            .alloc(l)
            .unwrap_or_else(|| panic!("no room for {l:?}")) as usize
    }

    /// An allocator that lives for the rest of the test process, as the
    /// binary's static does (`use_arena` needs that).
    fn leaked(len: usize) -> &'static HookAllocator {
        Box::leak(Box::new(HookAllocator::with_len(len)))
    }

    fn in_arena(global: &HookAllocator, p: *mut u8) -> bool {
        global.in_region(p)
    }

    #[test]
    fn classes_round_up_to_the_next_size_and_cut_down_to_the_last() {
        assert_eq!(CLASS_SIZE[..3], [16, 32, 48]);
        assert_eq!(CLASS_SIZE[15..21], [256, 320, 384, 448, 512, 640]);
        assert_eq!(CLASS_SIZE[CLASSES - 1], MAX_CLASS);
        assert!(CLASS_SIZE.windows(2).all(|w| w[0] < w[1]));
        assert!(CLASS_SIZE.iter().all(|s| s % MIN_CLASS == 0));
        for size in 0..=MAX_CLASS {
            let class = class_of(layout(size, 8)).unwrap_or(CLASSES);
            assert!(CLASS_SIZE[class] >= size, "{size}");
            assert!(class == 0 || CLASS_SIZE[class - 1] < size, "{size}");
        }
        for len in (MIN_CLASS..=2 * MAX_CLASS).step_by(MIN_CLASS) {
            let class = class_within(len);
            assert!(CLASS_SIZE[class] <= len, "{len}");
            assert!(class == CLASSES - 1 || CLASS_SIZE[class + 1] > len, "{len}");
        }
        assert_eq!(class_of(layout(MAX_CLASS + 1, 8)), None);
        assert_eq!(class_of(layout(8, 2 * MIN_CLASS)), None);
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_inside() {
        let (_buf, mut arena) = region(1 << 20);
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
            layout(MAX_CLASS + 8, 8),
            layout(10, 2 * MAX_CLASS),
            layout(3 * MAX_CLASS, 64),
        ];
        // Live blocks; each round frees some blocks, which the next rounds
        // get back (from the lists, so their alignment is checked too).
        let mut live: Vec<(usize, Layout)> = Vec::new();
        for round in 0..4 {
            let mut this_round = Vec::new();
            for l in layouts {
                let p = take(&mut arena, l);
                assert_eq!(p % l.align(), 0, "{l:?} in round {round}");
                assert!(arena.owns(p as *mut u8) && p + l.size() <= arena.end);
                for &(q, m) in live.iter().chain(&this_round) {
                    assert!(p + l.size() <= q || q + m.size() <= p, "{l:?} overlaps");
                }
                this_round.push((p, l));
            }
            for (i, (p, l)) in this_round.into_iter().enumerate() {
                if (i + round) % 2 == 0 {
                    // SAFETY: a live block of this layout, freed once.
                    unsafe { arena.dealloc(p as *mut u8, l) };
                } else {
                    live.push((p, l));
                }
            }
        }
    }

    #[test]
    fn a_freed_block_is_reused_by_its_class() {
        let (_buf, mut arena) = region(1 << 16);
        let a = take(&mut arena, layout(24, 8));
        let b = take(&mut arena, layout(24, 8));
        // SAFETY (here and below): live blocks with their layouts, each freed
        // once.
        unsafe { arena.dealloc(a as *mut u8, layout(24, 8)) };
        // A larger class does not get it; the same class (rounded) does.
        let c = take(&mut arena, layout(40, 8));
        assert!(c > b);
        assert_eq!(take(&mut arena, layout(32, 16)), a);
        // The list is empty again: a fresh block.
        let d = take(&mut arena, layout(17, 1));
        assert!(d > c);
        let _e = take(&mut arena, layout(1, 1));
        // Last in, first out.
        unsafe {
            arena.dealloc(a as *mut u8, layout(32, 16));
            arena.dealloc(d as *mut u8, layout(17, 1));
        }
        assert_eq!(take(&mut arena, layout(30, 2)), d);
        assert_eq!(take(&mut arena, layout(30, 2)), a);
    }

    #[test]
    fn a_larger_free_block_becomes_the_chunk() {
        let (_buf, mut arena) = region(1 << 16);
        let big = take(&mut arena, layout(1000, 8));
        let _pin = take(&mut arena, layout(8, 8));
        // SAFETY: a live block of this layout, freed once.
        unsafe { arena.dealloc(big as *mut u8, layout(1000, 8)) };
        // 1024 bytes: 100 (112) first, the rest carved by the next requests.
        assert_eq!(take(&mut arena, layout(100, 8)), big);
        let rest: Vec<usize> = [768, 128, 16]
            .iter()
            .map(|&n| take(&mut arena, layout(n, 8)))
            .collect();
        assert_eq!(rest, [big + 112, big + 112 + 768, big + 112 + 768 + 128]);
        // All used: fresh memory again.
        assert!(take(&mut arena, layout(16, 8)) > big + 1024);
        // A block smaller than CHUNK_MIN is not split.
        let half = take(&mut arena, layout(CHUNK_MIN / 2, 8));
        let _pin = take(&mut arena, layout(8, 8));
        // SAFETY: a live block of this layout, freed once.
        unsafe { arena.dealloc(half as *mut u8, layout(CHUNK_MIN / 2, 8)) };
        assert!(take(&mut arena, layout(16, 8)) > half + CHUNK_MIN / 2);
        assert_eq!(take(&mut arena, layout(CHUNK_MIN / 2, 8)), half);
    }

    #[test]
    fn the_rest_of_a_chunk_is_listed_when_the_next_one_is_taken() {
        let (_buf, mut arena) = region(1 << 16);
        let a = take(&mut arena, layout(CHUNK_MIN, 8));
        let _pin = take(&mut arena, layout(8, 8));
        let b = take(&mut arena, layout(4 * CHUNK_MIN, 8));
        let _pin = take(&mut arena, layout(8, 8));
        // SAFETY: live blocks with their layouts, each freed once.
        unsafe {
            arena.dealloc(a as *mut u8, layout(CHUNK_MIN, 8));
            arena.dealloc(b as *mut u8, layout(4 * CHUNK_MIN, 8));
        }
        // a is the smallest fit; 1024 - 768 = 256 bytes stay in the chunk.
        assert_eq!(take(&mut arena, layout(768, 8)), a);
        // Too big for the rest: b becomes the chunk, the rest is listed.
        assert_eq!(take(&mut arena, layout(300, 8)), b);
        assert_eq!(take(&mut arena, layout(256, 8)), a + 768);
        assert_eq!(take(&mut arena, layout(200, 8)), b + 320);
    }

    #[test]
    fn the_latest_block_goes_back_to_the_end() {
        let (_buf, mut arena) = region(1 << 16);
        let a = take(&mut arena, layout(100, 8));
        let b = take(&mut arena, layout(5000, 8));
        let next = arena.next;
        // SAFETY: live blocks with their layouts, each freed once.
        unsafe {
            arena.dealloc(b as *mut u8, layout(5000, 8));
            assert_eq!(arena.next, b);
            arena.dealloc(a as *mut u8, layout(100, 8));
        }
        assert_eq!(arena.next, a);
        assert_eq!(take(&mut arena, layout(MAX_CLASS * 2, 8)), a);
        assert!(arena.next > next && arena.listed == 0);
    }

    #[test]
    fn alignment_gaps_feed_the_classes() {
        let (_buf, mut arena) = region(1 << 16);
        let small = take(&mut arena, layout(16, 8));
        let page = take(&mut arena, layout(64, 4096));
        assert_eq!(page % 4096, 0);
        // The gap between them (4080 bytes) was cut into class blocks.
        let gap: Vec<usize> = [3584, 448, 48]
            .iter()
            .map(|&n| take(&mut arena, layout(n, 8)))
            .collect();
        assert_eq!(
            gap,
            [small + 16, small + 16 + 3584, small + 16 + 3584 + 448]
        );
        assert!(take(&mut arena, layout(16, 8)) > page);
    }

    #[test]
    fn a_full_arena_refuses_and_owns_nothing_outside() {
        let (_buf, mut arena) = region(4096);
        let a = take(&mut arena, layout(2048, 8));
        take(&mut arena, layout(1024, 8));
        assert!(arena.alloc(layout(2048, 8)).is_none());
        assert!(arena.alloc(layout(MAX_CLASS + 1, 8)).is_none());
        take(&mut arena, layout(1024, 8));
        assert!(arena.alloc(layout(1, 1)).is_none());
        // Full, it still serves what is freed.
        // SAFETY: a live block of this layout, freed once.
        unsafe { arena.dealloc(a as *mut u8, layout(2048, 8)) };
        assert_eq!(take(&mut arena, layout(1500, 8)), a);
        assert_eq!(take(&mut arena, layout(500, 8)), a + 1536);
        assert!(arena.alloc(layout(1, 1)).is_none());
        assert!(!arena.owns(std::ptr::dangling_mut::<u8>()));
        assert!(!arena.owns((arena.end) as *mut u8));
    }

    #[test]
    fn large_blocks_resize_in_place_at_the_end_or_when_shrinking() {
        let (_buf, mut arena) = region(1 << 17);
        let big = layout(MAX_CLASS + 100, 8);
        let two = layout(2 * MAX_CLASS, 8);
        let a = take(&mut arena, big);
        let b = take(&mut arena, big);
        // SAFETY: each block is live, with its layout, when passed.
        unsafe {
            // Not the latest: freed, it is cut into class blocks.
            arena.dealloc(a as *mut u8, big);
            assert_eq!(take(&mut arena, layout(MAX_CLASS, 8)), a);
            assert_eq!(take(&mut arena, layout(100, 8)), a + MAX_CLASS);
            let c = take(&mut arena, big) as *mut u8;
            assert!(c as usize > b);
            // The latest grows and shrinks in place.
            assert_eq!(arena.realloc(c, big, 3 * MAX_CLASS), Some(c));
            assert_eq!(arena.next, c as usize + 3 * MAX_CLASS);
            assert_eq!(
                arena.realloc(c, layout(3 * MAX_CLASS, 8), MAX_CLASS + 1),
                Some(c)
            );
            assert_eq!(arena.next, c as usize + MAX_CLASS + 16);
            // Not the latest: it moves to grow, but shrinks in place.
            let moved = arena.realloc(b as *mut u8, big, 2 * MAX_CLASS);
            let moved = moved.unwrap_or(ptr::null_mut());
            assert!(moved > c);
            let kept = arena.realloc(c, layout(MAX_CLASS + 1, 8), 4000);
            assert_eq!(kept, Some(c));
            assert_eq!(take(&mut arena, layout(4000, 8)), c as usize + 4096);
            // The latest, freed, is handed out again.
            arena.dealloc(moved, two);
            assert_eq!(take(&mut arena, two), moved as usize);
            // No growth past the end, and the block stays.
            assert_eq!(arena.realloc(moved, two, 1 << 20), None);
            assert_eq!(arena.next, moved as usize + 2 * MAX_CLASS);
        }
    }

    #[test]
    fn random_traffic_keeps_blocks_apart_and_intact() {
        let (_buf, mut arena) = region(1 << 20);
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
        for step in 0..50_000u32 {
            let tag = step as u8;
            let size = match random(10) {
                0 => random(3 * MAX_CLASS as u64),
                1..=3 => random(1000),
                _ => random(200),
            };
            let l = layout(size, [1, 8, 16, 32, 256][random(5).min(random(5))]);
            let pick = (random(4) > 0 && !live.is_empty())
                .then(|| live.range(random(1 << 20) + arena.start..).next())
                .flatten()
                .map(|(&p, &v)| (p, v));
            match (random(3), pick) {
                (0, Some((p, (old, t)))) => {
                    assert!(intact(p, old, t), "block {p:x} {old:?} overwritten");
                    live.remove(&p);
                    // SAFETY: a live block with its layout, freed once.
                    unsafe { arena.dealloc(p as *mut u8, old) };
                }
                (1, Some((p, (old, t)))) => {
                    assert!(intact(p, old, t), "block {p:x} {old:?} overwritten");
                    // SAFETY: a live block with its layout.
                    let Some(q) = (unsafe { arena.realloc(p as *mut u8, old, size) }) else {
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
                    let Some(p) = arena.alloc(l) else { continue };
                    let p = p as usize;
                    assert_eq!(p % l.align(), 0);
                    assert!(p >= arena.start && p + l.size() <= arena.end);
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
    fn the_arena_is_off_until_turned_on() {
        let global = HookAllocator::new();
        // SAFETY: the block is freed once with its layout.
        unsafe {
            let p = global.alloc(layout(16, 8));
            assert!(!p.is_null());
            assert!(global.owned().is_none());
            assert!(!in_arena(&global, p));
            global.dealloc(p, layout(16, 8));
        }
    }

    #[test]
    fn realloc_keeps_the_contents_growing_and_shrinking() {
        let global = leaked(ARENA_SIZE);
        global.use_arena();
        let sizes = [
            10,
            16,
            17,
            100,
            3000,
            MAX_CLASS,
            MAX_CLASS + 1,
            100_000,
            5000,
            200,
            7,
        ];
        // SAFETY: each block is used within its layout and freed once.
        unsafe {
            // Something in between, so that some growth cannot be in place.
            let pin = global.alloc(layout(8, 8));
            let mut p = global.alloc(layout(sizes[0], 4));
            for i in 0..sizes[0] {
                *p.add(i) = i as u8;
            }
            for w in sizes.windows(2) {
                let (old, new) = (w[0], w[1]);
                p = global.realloc(p, layout(old, 4), new);
                assert!(!p.is_null() && in_arena(global, p), "{old} -> {new}");
                assert_eq!(p as usize % 4, 0);
                for i in 0..old.min(new) {
                    assert_eq!(*p.add(i), i as u8, "byte {i} after {old} -> {new}");
                }
                for i in old.min(new)..new {
                    *p.add(i) = i as u8;
                }
            }
            global.dealloc(p, layout(7, 4));
            global.dealloc(pin, layout(8, 8));
        }
    }

    #[test]
    fn the_global_allocator_round_trips_through_both_sides() {
        let global = leaked(ARENA_SIZE);
        // A block from before the arena stays the system's.
        // SAFETY: each block is used within its layout and freed once.
        unsafe {
            let before = global.alloc(layout(32, 8));
            global.use_arena();
            assert!(!in_arena(global, before));
            let small = layout(100, 8);
            let p = global.alloc(small);
            assert!(in_arena(global, p));
            let resident = global.owned().map(|a| a.populated);
            assert_eq!(resident, global.owned().map(|a| a.start + POPULATE_STEP));
            ptr::write_bytes(p, 7, 100);
            global.dealloc(p, small);
            // A reused block is zeroed when asked.
            let z = global.alloc_zeroed(layout(128, 8));
            assert_eq!(z, p);
            assert!((0..128).all(|i| *z.add(i) == 0));
            let big = layout(ARENA_MAX_BLOCK + 1, 8);
            let q = global.alloc_zeroed(big);
            assert!(!q.is_null());
            assert!(!in_arena(global, q), "a big block is the system's");
            assert_eq!(*q.add(ARENA_MAX_BLOCK), 0);
            global.dealloc(q, big);
            let before = global.realloc(before, layout(32, 8), 64);
            assert!(!in_arena(global, before));
            global.dealloc(before, layout(64, 8));
            global.dealloc(z, layout(128, 8));
        }
    }

    #[test]
    fn other_threads_get_the_system_allocator_and_leak_arena_blocks() {
        let global = leaked(ARENA_SIZE);
        global.use_arena();
        let l = layout(48, 8);
        // SAFETY: each block is used within its layout and freed once.
        unsafe {
            let a = global.alloc(l);
            let c = global.alloc(l);
            let r = global.alloc(layout(40, 8));
            assert!(in_arena(global, a) && in_arena(global, c) && in_arena(global, r));
            ptr::write_bytes(a, 0xa5, 48);
            ptr::write_bytes(r, 0x5a, 40);
            global.dealloc(c, l);
            let (a_at, r_at) = (a as usize, r as usize);
            let moved = std::thread::spawn(move || {
                // Not the owner, even after asking.
                global.use_arena();
                assert!(global.owned().is_none());
                let own = global.alloc(l);
                assert!(!own.is_null() && !in_arena(global, own));
                global.dealloc(own, l);
                // Freeing an arena block leaves it alone (no list link
                // written into it).
                global.dealloc(a_at as *mut u8, l);
                assert!((0..48).all(|i| *(a_at as *const u8).add(i) == 0xa5));
                // Reallocating one copies it out.
                let moved = global.realloc(r_at as *mut u8, layout(40, 8), 400);
                assert!(!moved.is_null() && !in_arena(global, moved));
                assert!((0..40).all(|i| *moved.add(i) == 0x5a));
                moved as usize
            })
            .join()
            .unwrap_or_else(|_| panic!("the other thread failed"));
            // The owner's list is as it left it: c, then fresh blocks, never
            // the block the other thread freed.
            assert_eq!(global.alloc(l), c);
            let fresh = global.alloc(l);
            assert!(fresh != a && in_arena(global, fresh));
            // The copied-out block is the system's, wherever it is freed.
            global.dealloc(moved as *mut u8, layout(400, 8));
            global.dealloc(fresh, l);
            global.dealloc(c, l);
        }
    }

    #[test]
    fn an_exhausted_arena_falls_back_to_the_system_allocator() {
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
                if !in_arena(global, p) {
                    break;
                }
                assert!(blocks.len() <= len / 4096, "the arena never filled");
            }
            let outside = blocks.pop().unwrap_or(ptr::null_mut());
            let grown = global.realloc(blocks[0], l, MAX_CLASS * 4);
            assert!(!grown.is_null() && !in_arena(global, grown));
            assert!((0..4096).all(|i| *grown.add(i) == 0));
            // The arena's blocks are intact; freed, they serve again.
            for (n, &p) in blocks.iter().enumerate().skip(1) {
                assert_eq!(*p, n as u8);
            }
            global.dealloc(blocks[1], l);
            assert_eq!(global.alloc(l), blocks[1]);
            assert!(
                blocks[0] == global.alloc(l),
                "the moved-out block was freed"
            );
            global.dealloc(outside, l);
            global.dealloc(grown, layout(MAX_CLASS * 4, 8));
        }
    }

    #[test]
    fn the_region_is_kept_off_huge_pages() {
        let global = leaked(ARENA_SIZE);
        global.use_arena();
        let start = global.start.load(Ordering::Relaxed);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        let header = format!("{start:x}-");
        let flags = smaps
            .lines()
            .skip_while(|line| !line.starts_with(&header))
            .find(|line| line.starts_with("VmFlags:"))
            .unwrap_or_else(|| panic!("no mapping at {start:x}"));
        assert!(flags.split_whitespace().any(|f| f == "nh"), "{flags}");
    }
}
