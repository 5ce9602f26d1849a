//! The phone's home on the desktop: where the app commands keep what a
//! phone keeps, so that successive commands behave like one phone talking
//! to one authority (issue 8).
//!
//! `--home DIR`, else `$XDG_DATA_HOME/mynakit`, else `~/.local/share/mynakit`.
//! Inside:
//! - `phone.db`: the phone's store (`mynakit_core::Store`);
//! - `software-keys`: the software stand-in for the phone's secure area
//!   (the installation key; a phone keeps it in its hardware);
//! - `sandbox-card.json`: the virtual card's state (secrets, counters), so
//!   the card too survives from one command to the next;
//! - `sandbox-authority.db`: the in-process sandbox authority's store, used
//!   when no `--authority URL` is given.

use std::path::{Path, PathBuf};

use crate::failure::Failure;

/// The phone's home directory.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// `dir`, or the user's data directory (`kiosk_cmd::home_dir`); created
    /// (owner-only on Unix: it holds keys) when missing.
    pub fn open(dir: Option<&Path>) -> Result<Self, Failure> {
        // One rule for every command that keeps the phone's state (the
        // kiosk command's).
        let dir = crate::kiosk_cmd::home_dir(dir)?;
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .map_err(|e| Failure::Other(format!("{}: {e}", dir.display())))?;
        Ok(Self { dir })
    }

    /// The phone's store.
    pub fn phone_db(&self) -> PathBuf {
        self.dir.join("phone.db")
    }

    /// The software secure area's key file.
    pub fn software_keys(&self) -> PathBuf {
        self.dir.join("software-keys")
    }

    /// The virtual card's persisted state.
    pub fn sandbox_card(&self) -> PathBuf {
        mynakit_sandbox::card_state::path_in(&self.dir)
    }

    /// The in-process sandbox authority's store.
    pub fn sandbox_authority(&self) -> PathBuf {
        self.dir.join(crate::kiosk_cmd::AUTHORITY_DB)
    }
}
