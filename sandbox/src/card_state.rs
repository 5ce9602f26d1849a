//! The sandbox card's state from one command to the next (issue 8): a
//! physical card keeps its secrets and try counters in the chip, so the
//! virtual card that stands in for it keeps them in a file —
//! `<home>/sandbox-card.json` ([`FILE_NAME`]) — for `mynakit reset …` and
//! `mynakit sandbox kiosk` to act on one card.
//!
//! Only the card's mutable state is saved: every PIN, password and
//! check-code EF of the four applications (value, tries left; a blocked
//! secret is one with no try left, or no value). Everything else
//! (certificates, keys, records, photo) is built again from the sample
//! holder's fixture ([`CardConfig::sample`]), and the file names the card
//! it belongs to (its authentication certificate's SHA-256), so a state
//! is never put into another card.
//!
//! **The file holds the sandbox card's secrets in clear**, like the chip
//! of the card it stands in for; they are sandbox secrets, never real ones.
//! It is written with permissions 0600 (Unix) and atomically: a temporary
//! file in the same directory, synced, then renamed over the old one, so a
//! process killed while saving leaves the previous state, never half a
//! file. Two commands saving at once: the last rename wins.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use mynakit_core::layout::{Application, FileId};
use mynakit_core::reset::wire::to_hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::card::VirtualCard;
use crate::error::SandboxError;
use crate::files::ElementaryFile;
use crate::holder::CardConfig;

/// The state file's name in the home directory.
pub const FILE_NAME: &str = "sandbox-card.json";

/// The format tag at the top of the file (changes with an incompatible layout).
pub const FORMAT: &str = "mynakit-sandbox-card/1";

/// The applications whose secrets are saved, with their names in the file.
const APPLICATIONS: [(Application, &str); 4] = [
    (Application::Jpki, "jpki"),
    (Application::Kenhojo, "kenhojo"),
    (Application::Kenmen, "kenmen"),
    (Application::Common, "common"),
];

/// Why the card's state could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardStateError {
    /// The file or its directory could not be read or written.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// The file is not a sandbox card's state (nothing was changed: delete
    /// it to start again from a fresh card).
    #[error("{}: not a sandbox card state: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong (never a secret).
        reason: String,
    },
    /// The file is the state of another card than the sample card.
    #[error("{}: the state of another card", path.display())]
    OtherCard {
        /// The file.
        path: PathBuf,
    },
    /// The sample card could not be built.
    #[error(transparent)]
    Card(#[from] SandboxError),
}

/// The file's content.
#[derive(Serialize, Deserialize)]
struct Saved {
    format: String,
    /// SHA-256 of the card's authentication certificate, hex.
    card: String,
    /// The day the card's certificates were issued, when J-LIS renewed
    /// them (`VirtualCard::renew_certificates`); absent in files written
    /// before renewals existed: the sample's day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificates_issued_on: Option<chrono::NaiveDate>,
    secrets: Vec<SavedSecret>,
}

/// One PIN, password or check-code EF.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedSecret {
    #[zeroize(skip)]
    application: String,
    file: u8,
    /// In clear: a sandbox secret (see the module's docs).
    value: Option<String>,
    tries_left: u8,
}

/// The state file in `home`.
pub fn path_in(home: &Path) -> PathBuf {
    home.join(FILE_NAME)
}

/// The sample card with the state saved at `path`; a fresh sample card,
/// saved there (directories created), when there is no file yet.
pub fn load_or_create(path: &Path) -> Result<VirtualCard, CardStateError> {
    let mut card = VirtualCard::new(CardConfig::sample())?;
    match fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            // Only the position of a parse error: its text could quote a secret.
            let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| {
                malformed(
                    path,
                    format!(
                        "not the expected JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                )
            })?;
            if let Some(issued_on) = saved.certificates_issued_on
                && issued_on != card.certificates_issued_on()
            {
                card.renew_certificates(issued_on)?;
            }
            restore(&mut card, &saved, path)?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => save(&card, path)?,
        Err(e) => return Err(io(path, e)),
    }
    Ok(card)
}

/// Saves `card`'s mutable state at `path`, atomically (directories created).
pub fn save(card: &VirtualCard, path: &Path) -> Result<(), CardStateError> {
    let saved = snapshot(card, path)?;
    let bytes = Zeroizing::new(serde_json::to_vec_pretty(&saved).map_err(|e| malformed(path, e))?);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| malformed(path, "no file name"))?;
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| io(path, e))?;
    // Same directory, so the rename is atomic; a unique name, so a
    // concurrent save never writes into this one.
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        to_hex(&suffix)
    ));
    let written = write_synced(&temporary, &bytes).and_then(|()| {
        fs::rename(&temporary, path).map_err(|e| io(path, e))?;
        // The rename itself reaches the disk with the directory's sync;
        // a failure here loses nothing already renamed.
        if let Ok(handle) = File::open(&dir) {
            let _ = handle.sync_all();
        }
        Ok(())
    });
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CardStateError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The sandbox card's secrets: readable by their owner only.
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| io(path, e))?;
    file.write_all(bytes).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}

fn fingerprint(card: &VirtualCard) -> String {
    to_hex(&Sha256::digest(card.auth_certificate().der()))
}

fn snapshot(card: &VirtualCard, path: &Path) -> Result<Saved, CardStateError> {
    let mut secrets = Vec::new();
    for (app, name) in APPLICATIONS {
        for (file, secret) in card.files().app(app).secrets() {
            let value = match secret.value() {
                Some(bytes) => Some(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| malformed(path, "a secret that is not text"))?,
                ),
                None => None,
            };
            secrets.push(SavedSecret {
                application: name.to_owned(),
                file: file.0,
                value,
                tries_left: secret.tries_left(),
            });
        }
    }
    Ok(Saved {
        format: FORMAT.to_owned(),
        card: fingerprint(card),
        certificates_issued_on: (card.certificates_issued_on() != CardConfig::sample().issued_on)
            .then(|| card.certificates_issued_on()),
        secrets,
    })
}

fn restore(card: &mut VirtualCard, saved: &Saved, path: &Path) -> Result<(), CardStateError> {
    if saved.format != FORMAT {
        return Err(malformed(
            path,
            format!("format {:?}, expected {FORMAT:?}", saved.format),
        ));
    }
    if saved.card != fingerprint(card) {
        return Err(CardStateError::OtherCard {
            path: path.to_path_buf(),
        });
    }
    // Checked in full before anything changes, so a bad file changes nothing.
    let mut changes = Vec::with_capacity(saved.secrets.len());
    for entry in &saved.secrets {
        let app = APPLICATIONS
            .iter()
            .find(|(_, name)| *name == entry.application)
            .map(|(app, _)| *app)
            .ok_or_else(|| malformed(path, format!("no application {:?}", entry.application)))?;
        let Some(ElementaryFile::Secret(secret)) = card.files().app(app).get(FileId(entry.file))
        else {
            return Err(malformed(
                path,
                format!("{} has no secret EF {:04X}", entry.application, entry.file),
            ));
        };
        if entry.tries_left > secret.max_tries() {
            return Err(malformed(
                path,
                format!(
                    "{} EF {:04X}: {} tries left of at most {}",
                    entry.application,
                    entry.file,
                    entry.tries_left,
                    secret.max_tries()
                ),
            ));
        }
        changes.push((app, FileId(entry.file), entry));
    }
    for (app, file, entry) in changes {
        if let Some(ElementaryFile::Secret(secret)) = card.files_mut().app_mut(app).get_mut(file) {
            secret.restore(entry.value.as_deref().map(str::as_bytes), entry.tries_left);
        }
    }
    Ok(())
}

fn io(path: &Path, e: impl std::fmt::Display) -> CardStateError {
    CardStateError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn malformed(path: &Path, reason: impl std::fmt::Display) -> CardStateError {
    CardStateError::Malformed {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mynakit-card-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_renewed_card_is_the_renewed_card_after_a_restart_and_a_renewal_keeps_the_pins() {
        let dir = scratch("renewal");
        let path = path_in(&dir);
        let mut card = load_or_create(&path).unwrap();
        let before = card.auth_certificate().clone();
        // One wrong PIN try, kept across the renewal and the restart.
        {
            let app = card.files_mut().app_mut(Application::Jpki);
            if let Some(ElementaryFile::Secret(secret)) =
                app.get_mut(mynakit_core::layout::jpki::AUTH_PIN)
            {
                assert!(!secret.attempt(b"9999"));
            }
        }
        let tries = card.tries_left(Application::Jpki, mynakit_core::layout::jpki::AUTH_PIN);
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        card.renew_certificates(day).unwrap();
        assert_ne!(card.auth_certificate().serial_hex(), before.serial_hex());
        assert_ne!(
            card.signing_certificate().unwrap().serial_hex(),
            VirtualCard::sample()
                .signing_certificate()
                .unwrap()
                .serial_hex()
        );
        assert_eq!(card.certificates_issued_on(), day);
        // The card answers the new certificate from EF 000A.
        assert_eq!(
            card.ef_content(Application::Jpki, mynakit_core::layout::jpki::AUTH_CERT),
            Some(card.auth_certificate().der())
        );
        save(&card, &path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(
            again.auth_certificate().der(),
            card.auth_certificate().der()
        );
        assert_eq!(
            again.tries_left(Application::Jpki, mynakit_core::layout::jpki::AUTH_PIN),
            tries
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_written_before_renewals_existed_still_loads_as_the_sample_card() {
        let dir = scratch("old");
        let path = path_in(&dir);
        let card = load_or_create(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("certificates_issued_on"), "{text}");
        let again = load_or_create(&path).unwrap();
        assert_eq!(
            again.auth_certificate().der(),
            card.auth_certificate().der()
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
