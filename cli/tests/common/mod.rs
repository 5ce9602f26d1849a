//! What the CLI's suites share: a served sandbox authority on loopback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// `mynakit sandbox serve --listen 127.0.0.1:0`, stopped when dropped.
pub struct Served {
    child: Child,
    /// Its base address, as it printed it (`http://127.0.0.1:PORT`).
    pub base: String,
}

impl Served {
    /// Starts it and waits for its `listening on …` line.
    pub fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mynakit"))
            .args(["sandbox", "serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_owned();
        Self { child, base }
    }

    /// Stops it (the authority becomes unreachable).
    #[allow(dead_code)] // Used by some of the suites that include this module.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}
