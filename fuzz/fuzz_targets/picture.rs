//! Fuzz target `picture`: see `mynakit_tests::fuzzing::picture` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mynakit_tests::fuzzing::picture(data));
