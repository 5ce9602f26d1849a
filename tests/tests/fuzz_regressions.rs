//! Replays the fuzz regression corpus (`fuzz/regressions/<target>/`) and
//! the seeds taken from real sandbox sessions through the same harnesses
//! the fuzzers run (`mynakit_tests::fuzzing`), so every finding stays fixed
//! without cargo-fuzz or a nightly toolchain. A harness panics on a
//! violated property; a clean replay is the assertion.

use std::path::{Path, PathBuf};

use mynakit_tests::fuzzing::{TARGETS, seeds};

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions")
}

#[test]
fn regression_corpus_replays_through_every_harness() {
    let root = regressions_dir();
    let mut replayed = 0;
    for entry in std::fs::read_dir(&root).expect("fuzz/regressions exists") {
        let dir = entry.expect("readable directory entry").path();
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 directory name")
            .to_owned();
        let Some((_, harness)) = TARGETS.iter().find(|(target, _)| *target == name) else {
            panic!("fuzz/regressions/{name} names no fuzz target");
        };
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("readable target directory")
            .map(|e| e.expect("readable file entry").path())
            .collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).expect("readable regression input");
            harness(&bytes);
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len(), "only {replayed} inputs replayed");
}

#[test]
fn every_target_has_regression_inputs() {
    for (target, _) in TARGETS {
        let dir = regressions_dir().join(target);
        let count = std::fs::read_dir(&dir)
            .map(|entries| entries.count())
            .unwrap_or(0);
        assert!(count > 0, "fuzz/regressions/{target} is empty or missing");
    }
}

#[test]
fn seeds_from_real_sessions_pass_every_harness() {
    let seeds = seeds();
    for (target, _) in TARGETS {
        assert!(
            seeds.iter().any(|(t, ..)| *t == target),
            "no seed for {target}"
        );
    }
    for (target, _, bytes) in &seeds {
        let (_, harness) = TARGETS
            .iter()
            .find(|(t, _)| t == target)
            .expect("every seed names a target");
        harness(bytes);
    }
}

#[test]
fn the_long_form_record_in_the_corpus_parses_as_a_card_face() {
    // Lengths written the real card's way (`DF25 82 00 A9`): the record
    // parser before the BER rewrite failed it with `TruncatedInput`.
    let bytes = std::fs::read(regressions_dir().join("records/long-form-lengths"))
        .expect("the long-form regression input exists");
    let face = mynakit_core::CardFace::parse(&bytes).expect("long-form lengths parse");
    assert_eq!(face.name_image.len(), 0xA9);
    assert_eq!(face.signature.len(), 256);
    assert_eq!(face.card_expiry.to_string(), "2035-06-15");
}
