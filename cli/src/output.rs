//! Human or JSON output.

use std::cell::Cell;

use serde::Serialize;

use crate::failure::Failure;

/// Where results go: text for people, one JSON document for scripts.
pub struct Output {
    json: bool,
    /// Set once a JSON result is on standard output: a later failure then
    /// goes to standard error, so scripts always read exactly one document.
    printed: Cell<bool>,
}

impl Output {
    /// Text unless `json`.
    pub fn new(json: bool) -> Self {
        Self {
            json,
            printed: Cell::new(false),
        }
    }

    /// True when printing JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a result: `value` as JSON, or `human` as text.
    pub fn result<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => {
                    say!("{text}");
                    self.printed.set(true);
                }
                Err(e) => note!("mynakit: could not encode the result as JSON: {e}"),
            }
        } else {
            say!("{}", human());
        }
    }

    /// Prints a failure: JSON on standard output (unless a result already
    /// is), text on standard error.
    pub fn failure(&self, failure: &Failure) {
        if self.json && !self.printed.get() {
            say!("{}", failure.to_json());
        } else {
            note!("mynakit: {}", failure.message());
        }
    }
}
