//! Fuzz target `apdu`: see `mynakit_tests::fuzzing::apdu` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mynakit_tests::fuzzing::apdu(data));
