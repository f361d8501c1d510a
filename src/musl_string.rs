//! `memcmp`, `bcmp` and `memcpy` for the static musl build. musl's compare a
//! byte at a time, and its `memcpy` starts a `rep movsq` and moves the ends
//! a byte at a time even for a few bytes; the hook compares and copies short
//! strings (paths, names) thousands of times at 1000 mounts
//! (docs/performance.md). These compare eight bytes at a time, copy up to 32
//! bytes by two overlapping loads and stores and more 32 bytes at a time, the
//! tails by overlapping loads; in the musl build the linker takes them
//! instead of libc.a's (elsewhere they are only tested).

use std::ffi::c_int;

/// The `N` bytes at `p + i`, big-endian: their order is the bytes' order.
///
/// # Safety
/// `p + i .. p + i + N` is readable.
#[inline(always)]
unsafe fn load<const N: usize>(p: *const u8, i: usize) -> u64 {
    // SAFETY: the caller's.
    let bytes = unsafe { p.add(i).cast::<[u8; N]>().read_unaligned() };
    bytes.iter().fold(0, |word, b| (word << 8) | u64::from(*b))
}

/// The bytes `0..n` (n < 8) as one number ordered as the bytes: two loads
/// that overlap where `n` is not a power of two (the overlapped bytes are
/// the same in both operands when the first load's are).
///
/// # Safety
/// `p .. p + n` is readable.
#[inline(always)]
unsafe fn short(p: *const u8, n: usize) -> u64 {
    // SAFETY: each load is inside `p .. p + n`.
    unsafe {
        match n {
            4.. => (load::<4>(p, 0) << 32) | load::<4>(p, n - 4),
            2.. => (load::<2>(p, 0) << 16) | load::<2>(p, n - 2),
            1 => load::<1>(p, 0),
            0 => 0,
        }
    }
}

fn order(x: u64, y: u64) -> c_int {
    match x.cmp(&y) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// # Safety
/// `a` and `b` are readable for `n` bytes (the C contract).
#[cfg_attr(target_env = "musl", unsafe(no_mangle))]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> c_int {
    if n < 8 {
        // SAFETY: n bytes of each are readable.
        return order(unsafe { short(a, n) }, unsafe { short(b, n) });
    }
    let mut i = 0;
    loop {
        // The last word overlaps the one before unless n is a multiple of 8.
        let at = i.min(n - 8);
        // SAFETY: at + 8 <= n.
        let (x, y) = unsafe { (load::<8>(a, at), load::<8>(b, at)) };
        if x != y {
            return order(x, y);
        }
        if at == n - 8 {
            return 0;
        }
        i += 8;
    }
}

/// # Safety
/// As [`memcmp`].
#[cfg_attr(target_env = "musl", unsafe(no_mangle))]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> c_int {
    // SAFETY: the caller's contract is memcmp's.
    unsafe { memcmp(a, b, n) }
}

/// # Safety
/// `src` is readable and `dst` writable for `n` bytes (the C contract). As
/// musl's `memmove` hands a forward copy to `memcpy`, an overlap with `dst`
/// below `src` is copied right too: every load of a short copy comes before
/// its stores, and a long copy loads its last 32 bytes first and moves the
/// rest forward, each block loaded before it is stored.
#[cfg_attr(target_env = "musl", unsafe(no_mangle))]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    /// Copy `n` bytes, `N <= n <= 2 * N`, as two `N`-byte moves that overlap.
    ///
    /// # Safety
    /// As `memcpy`'s, with `N <= n`.
    #[inline(always)]
    unsafe fn two<const N: usize>(dst: *mut u8, src: *const u8, n: usize) {
        // SAFETY: both moves are inside the n bytes.
        unsafe {
            let head = src.cast::<[u8; N]>().read_unaligned();
            let tail = src.add(n - N).cast::<[u8; N]>().read_unaligned();
            dst.cast::<[u8; N]>().write_unaligned(head);
            dst.add(n - N).cast::<[u8; N]>().write_unaligned(tail);
        }
    }
    // SAFETY: each arm stays inside the n bytes of both.
    unsafe {
        match n {
            0 => {}
            1 => *dst = *src,
            2..=3 => two::<2>(dst, src, n),
            4..=7 => two::<4>(dst, src, n),
            8..=15 => two::<8>(dst, src, n),
            16..=32 => two::<16>(dst, src, n),
            // Not `rep movsb`: without the processor's fast-strings feature
            // (ERMS, which this VM's processor does not report) it moves
            // about a byte per cycle, and asking which processor this is
            // costs a hypervisor trap.
            _ => {
                let tail = src.add(n - 32).cast::<[u8; 32]>().read_unaligned();
                let mut i = 0;
                while i < n - 32 {
                    let block = src.add(i).cast::<[u8; 32]>().read_unaligned();
                    dst.add(i).cast::<[u8; 32]>().write_unaligned(block);
                    i += 32;
                }
                dst.add(n - 32).cast::<[u8; 32]>().write_unaligned(tail);
            }
        }
    }
    dst
}

/// musl's `memmove` calls its forward copy by this name (defined beside
/// its `memcpy`, which would otherwise be linked in again).
///
/// # Safety
/// As [`memcpy`].
#[cfg(target_env = "musl")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __memcpy_fwd(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract is memcpy's.
    unsafe { memcpy(dst, src, n) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length to 300, at every alignment, and the forward overlap
    /// musl's memmove hands on.
    #[test]
    fn copies_every_length() {
        let src: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..300 {
            for off in 0..8 {
                let mut dst = vec![0xAAu8; 400];
                // SAFETY: n + off <= 400 in both.
                unsafe { memcpy(dst.as_mut_ptr().add(off), src.as_ptr().add(off), n) };
                assert_eq!(&dst[off..off + n], &src[off..off + n], "{n} {off}");
                assert!(dst[..off].iter().chain(&dst[off + n..]).all(|b| *b == 0xAA));
            }
            for shift in 1..40 {
                let mut buf = src.clone();
                // SAFETY: shift + n <= 400; dst below src, as memmove passes it.
                unsafe { memcpy(buf.as_mut_ptr(), buf.as_ptr().add(shift), n) };
                assert_eq!(&buf[..n], &src[shift..shift + n], "{n} {shift}");
            }
        }
    }

    /// Against the byte-by-byte definition, every length to 40 and a
    /// difference at every position, both ways.
    #[test]
    fn orders_as_the_bytes_do() {
        let sign = |x: c_int| x.signum();
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            // SAFETY: both are n bytes long.
            assert_eq!(
                unsafe { memcmp(a.as_ptr(), a.clone().as_ptr(), n) },
                0,
                "{n}"
            );
            for at in 0..n {
                for delta in [1u8, 0x80, 0xff] {
                    let mut b = a.clone();
                    b[at] = b[at].wrapping_add(delta);
                    let want = sign(c_int::from(a[at]) - c_int::from(b[at]));
                    // SAFETY: both are n bytes long.
                    let (ab, ba) = unsafe {
                        (
                            memcmp(a.as_ptr(), b.as_ptr(), n),
                            memcmp(b.as_ptr(), a.as_ptr(), n),
                        )
                    };
                    assert_eq!((sign(ab), sign(ba)), (want, -want), "{n} {at} {delta}");
                    // SAFETY: both are n bytes long.
                    assert_ne!(unsafe { bcmp(a.as_ptr(), b.as_ptr(), n) }, 0);
                }
            }
        }
    }
}
