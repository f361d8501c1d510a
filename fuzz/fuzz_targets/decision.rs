#![no_main]
//! Fuzz target `decision`: see `fuzz/harness.rs` and `fuzz/README.md`.

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::decision(data));
