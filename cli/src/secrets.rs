//! Reading PINs: from an environment variable, piped standard input, or a
//! prompt with echo off. Never from a command-line argument, which other
//! users can see in the process list.

use std::io::{BufRead, IsTerminal};

use zeroize::Zeroizing;

/// Reads a secret from `env_var`, else standard input (a prompt when it is a terminal).
pub fn read_secret(env_var: &str, prompt: &str) -> Result<Zeroizing<String>, String> {
    if let Ok(value) = std::env::var(env_var) {
        return Ok(Zeroizing::new(value));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| format!("could not read the PIN: {e}"));
    }
    let mut line = Zeroizing::new(String::new());
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("could not read the PIN from standard input: {e}"))?;
    let value = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if value.is_empty() {
        return Err(format!(
            "no PIN given: set {env_var} or pipe it on standard input"
        ));
    }
    Ok(value)
}
