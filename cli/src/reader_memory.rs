//! What the desktop remembers per PC/SC reader between runs: readers whose
//! card or driver refused extended-length APDUs. Without it every `mynakit`
//! command would spend one APDU learning that again (issue 7, item 10).
//!
//! A JSON list of reader names in `$XDG_CACHE_HOME/mynakit/` (or
//! `~/.cache/mynakit/`); best effort: a cache that cannot be read or written
//! only costs that one APDU.

use std::path::PathBuf;

const FILE: &str = "short-only-readers.json";

fn path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("mynakit").join(FILE))
}

fn load() -> Vec<String> {
    path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// True when `reader` refused extended length in an earlier run.
pub fn is_short_only(reader: &str) -> bool {
    load().iter().any(|r| r == reader)
}

/// Remembers that `reader` refused extended length.
pub fn remember_short_only(reader: &str) {
    let mut readers = load();
    if readers.iter().any(|r| r == reader) {
        return;
    }
    readers.push(reader.to_owned());
    let Some(path) = path() else { return };
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            // Write then rename: a run killed mid-write leaves the old list.
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec(&readers).unwrap_or_default())?;
            std::fs::rename(&tmp, &path)
        });
    if let Err(e) = written {
        eprintln!("mynakit: could not remember the reader's link limits: {e}");
    }
}
