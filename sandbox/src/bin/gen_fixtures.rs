//! Generates the sandbox's RSA keys and root certificates into
//! `sandbox/fixtures/`. Run once, commit the output:
//!
//! ```text
//! cargo run --release -p mynakit-sandbox --bin gen-fixtures [--all]
//! ```
//!
//! Without `--all` it writes only the keys whose file is missing or empty
//! (a key added to `FixtureKey` later), leaving every existing key and
//! certificate as it is; the roots are re-signed only when their key is new.
//!
//! The library embeds the fixture files, so they must exist for this binary
//! to build; to start from nothing, create empty placeholders first (this
//! program never reads them). Images come from `fixtures/make_images.py`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mynakit_sandbox::ca::{Hierarchy, build_root};
use mynakit_sandbox::fixtures::FixtureKey;
use rsa::PrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::pkcs8::EncodePrivateKey;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn run() -> Result<(), String> {
    let dir = fixtures_dir();
    let all = std::env::args().skip(1).any(|a| a == "--all");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut generated = Vec::new();
    for which in FixtureKey::ALL {
        let path = dir.join(which.file_name());
        let exists = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
        if exists && !all {
            continue;
        }
        let key =
            PrivateKey::new(&mut getrandom::SysRng, 2048).map_err(|e| format!("{which:?}: {e}"))?;
        let der = key.to_pkcs8_der().map_err(|e| format!("{which:?}: {e}"))?;
        std::fs::write(&path, der.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
        generated.push((which, der));
    }
    // Sign the roots with the keys just written (the embedded ones are the old ones).
    for (hierarchy, which, file) in [
        (
            Hierarchy::Authentication,
            FixtureKey::AuthRoot,
            "auth-root.der",
        ),
        (
            Hierarchy::Signing,
            FixtureKey::SigningRoot,
            "signing-root.der",
        ),
    ] {
        let Some(der) = generated
            .iter()
            .find(|(k, _)| *k == which)
            .map(|(_, d)| d.as_bytes())
        else {
            continue;
        };
        let key = PrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
        let cert = build_root(hierarchy, &key).map_err(|e| e.to_string())?;
        let path = dir.join(file);
        std::fs::write(&path, cert.der()).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {} ({})", path.display(), cert.subject());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-fixtures: {e}");
            ExitCode::FAILURE
        }
    }
}
