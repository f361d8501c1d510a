//! `memcmp` and `bcmp` for the static musl build. musl's compare a byte at a
//! time; the hook compares long paths (kubelet's volume directories) a few
//! thousand times at 1000 mounts, where that cost ~15% of the instructions
//! (docs/performance.md). These compare eight bytes at a time, the tail by
//! overlapping loads; in the musl build the linker takes them instead of
//! libc.a's (elsewhere they are only tested).

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

#[cfg(test)]
mod tests {
    use super::*;

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
