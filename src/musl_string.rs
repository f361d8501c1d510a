//! `memcmp` and `bcmp` for the static musl build. musl's compare a byte at a
//! time; the hook compares long paths (kubelet's volume directories) a few
//! thousand times at 1000 mounts, where that cost ~15% of the instructions
//! (docs/performance.md). These compare eight bytes at a time; the linker
//! takes them instead of libc.a's.

use std::ffi::c_int;

/// # Safety
/// `a` and `b` are readable for `n` bytes (the C contract).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> c_int {
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, inside both buffers.
        let (x, y) = unsafe {
            (
                a.add(i).cast::<u64>().read_unaligned(),
                b.add(i).cast::<u64>().read_unaligned(),
            )
        };
        if x != y {
            // Big-endian order is the bytes' order.
            return if u64::from_be(x) < u64::from_be(y) {
                -1
            } else {
                1
            };
        }
        i += 8;
    }
    while i < n {
        // SAFETY: i < n, inside both buffers.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return c_int::from(x) - c_int::from(y);
        }
        i += 1;
    }
    0
}

/// # Safety
/// As [`memcmp`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> c_int {
    // SAFETY: the caller's contract is memcmp's.
    unsafe { memcmp(a, b, n) }
}
