//! The bytes of a JSON string that are not plain: `"`, `\\` and control
//! characters, which end a run of plain bytes reading config.json. Found
//! eight or sixteen bytes at a time (memchr finds at most three given bytes,
//! not a byte class).

/// Whether `byte` ends a plain run of string bytes: `"`, `\\` or a control
/// character.
pub fn special(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The high bit of each byte of `word` (little-endian) that is [`special`]:
/// the "has less" and "has zero" tricks. A borrow can mark a byte above a
/// hit too, never one below: the lowest mark is exact.
#[inline(always)]
pub fn specials(word: u64) -> u64 {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (control | zero(word ^ (ONES * u64::from(b'"'))) | zero(word ^ (ONES * u64::from(b'\\'))))
        & HIGHS
}

/// One bit per byte of `chunk` that ends a plain run (SSE2, which every
/// x86_64 has).
#[cfg(target_arch = "x86_64")]
pub fn stops16(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is in every x86_64 CPU (the target's baseline), and the
    // unaligned load reads the 16 bytes of `chunk`.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Unsigned b < 0x20 <=> min(b, 0x1f) == b.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}
