//! Fuzz target `virtual_card`: see `mynakit_tests::fuzzing::virtual_card` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mynakit_tests::fuzzing::virtual_card(data));
