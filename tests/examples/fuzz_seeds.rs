//! Writes the fuzzers' starting corpus: `cargo run -p mynakit-tests --example
//! fuzz_seeds -- fuzz/corpus` creates `fuzz/corpus/<target>/<seed>` files
//! from real sessions with the sandbox card.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let seeds = mynakit_tests::fuzzing::seeds();
    for (target, name, bytes) in &seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
    }
    println!("{} seeds written under {}", seeds.len(), root.display());
    Ok(())
}
