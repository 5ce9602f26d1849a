//! Human or JSON output.

use serde::Serialize;

use crate::failure::Failure;

/// Where results go: text for people, one JSON document for scripts.
pub struct Output {
    json: bool,
}

impl Output {
    /// Text unless `json`.
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// True when printing JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a result: `value` as JSON, or `human` as text.
    pub fn result<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("mynakit: could not encode the result as JSON: {e}"),
            }
        } else {
            println!("{}", human());
        }
    }

    /// Prints a failure: JSON on standard output, text on standard error.
    pub fn failure(&self, failure: &Failure) {
        if self.json {
            println!("{}", failure.to_json());
        } else {
            eprintln!("mynakit: {}", failure.message());
        }
    }
}
