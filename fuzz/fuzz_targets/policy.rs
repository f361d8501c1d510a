#![no_main]
//! Fuzz target `policy`: see `fuzz/harness.rs` and `fuzz/README.md`.

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::policy(data));
