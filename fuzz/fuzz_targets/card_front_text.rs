//! Fuzz target `card_front_text`: see `mynakit_tests::fuzzing::card_front_text` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mynakit_tests::fuzzing::card_front_text(data));
