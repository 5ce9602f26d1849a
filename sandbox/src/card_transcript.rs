//! The card-side transcript: one line per APDU the virtual card received,
//! written as it happens, so round trips can be counted from the card's
//! side whoever the client is (our reader, OpenSC, anything behind pcscd).
//!
//! A line reads
//!
//! ```text
//! 0004 +    12ms > 0020009804******** < 9000
//! ```
//!
//! — the command number, milliseconds since the card was inserted, the
//! command in hex, and the answer as its data length and status word
//! (`< 256B 9000`). The length byte and data of VERIFY (and of any other
//! PIN-carrying command) are replaced by a fixed run of `**`, as long as the
//! longest secret: neither the PIN nor its length reaches the file (the
//! round trip stays countable). Response data is never
//! written either (it can be the holder's name, address or My Number); only
//! its length is. Card events (power, reset, ATR, removal) are `#` lines.

use std::io::{self, Write};
use std::time::Instant;

use mynakit_core::layout::ins;
use mynakit_core::{CommandApdu, Hex, SECRET_SLOT};

/// Instructions whose data is a PIN or password: VERIFY, and — though the
/// virtual card refuses them — CHANGE REFERENCE DATA and RESET RETRY
/// COUNTER, which a client could still send.
const SECRET_INSTRUCTIONS: [u8; 3] = [ins::VERIFY, 0x24, 0x2C];

/// The hex of `command` with the data of any PIN-carrying command
/// ([`SECRET_INSTRUCTIONS`]) replaced by `**` per byte.
pub fn redacted_hex(command: &[u8]) -> String {
    let carries_secret = command
        .get(1)
        .is_some_and(|i| SECRET_INSTRUCTIONS.contains(i));
    if !carries_secret || command.len() <= 4 {
        return Hex(command).to_string();
    }
    // A command with no data (a counter read) is shown whole. Otherwise only
    // the header: the length byte(s) would tell the secret's length, so
    // they and the data become one fixed-size mask (one Lc byte and
    // SECRET_SLOT data bytes); a command that does not parse is masked too.
    if let Ok(parsed) = CommandApdu::parse(command)
        && parsed.data.is_empty()
    {
        return Hex(command).to_string();
    }
    let header = command.get(..4).unwrap_or(command);
    format!("{}{}", Hex(header), "**".repeat(1 + SECRET_SLOT))
}

/// Writes the transcript lines, flushing each one before the card answers,
/// so a reader of the file sees a command as soon as the client has its answer.
pub struct TranscriptWriter {
    out: Box<dyn Write + Send>,
    commands: usize,
    started: Instant,
}

impl std::fmt::Debug for TranscriptWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptWriter")
            .field("commands", &self.commands)
            .finish_non_exhaustive()
    }
}

impl TranscriptWriter {
    /// A transcript written to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out,
            commands: 0,
            started: Instant::now(),
        }
    }

    /// Commands written so far.
    pub fn commands(&self) -> usize {
        self.commands
    }

    fn prefix(&self) -> String {
        format!(
            "{:04} +{:>6}ms",
            self.commands,
            self.started.elapsed().as_millis()
        )
    }

    /// Records one command and the card's answer; `None` when no answer
    /// left the card (it was removed mid-command).
    pub fn command(&mut self, command: &[u8], answer: Option<&[u8]>) -> io::Result<()> {
        self.commands += 1;
        let answer = match answer {
            Some([sw1, sw2]) => format!("{sw1:02X}{sw2:02X}"),
            Some([data @ .., sw1, sw2]) => format!("{}B {sw1:02X}{sw2:02X}", data.len()),
            // The card always ends with a status word; anything else is shown as is.
            Some(other) => format!("{}B ????", other.len()),
            None => "(no answer: card removed)".to_owned(),
        };
        let line = format!("{} > {} < {answer}\n", self.prefix(), redacted_hex(command));
        self.out.write_all(line.as_bytes())?;
        self.out.flush()
    }

    /// Records a card event (`# power on`, …).
    pub fn event(&mut self, what: &str) -> io::Result<()> {
        let line = format!("# {} {what}\n", self.prefix());
        self.out.write_all(line.as_bytes())?;
        self.out.flush()
    }
}

/// One command read back from a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptEntry {
    /// The instruction byte.
    pub ins: u8,
    /// Bytes of the command.
    pub command_bytes: usize,
    /// Bytes of the answer, status word included; `None` if there was none.
    pub response_bytes: Option<usize>,
}

impl TranscriptEntry {
    /// Parses one transcript line; `None` for `#` event lines and blank lines.
    pub fn parse(line: &str) -> Option<Result<Self, String>> {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        Some(Self::parse_command(line).ok_or_else(|| format!("not a transcript line: {line:?}")))
    }

    fn parse_command(line: &str) -> Option<Self> {
        let (_, rest) = line.split_once(" > ")?;
        let (command, answer) = rest.split_once(" < ")?;
        if command.len() % 2 != 0 || command.len() < 8 {
            return None;
        }
        let ins = u8::from_str_radix(command.get(2..4)?, 16).ok()?;
        let response_bytes = if answer.starts_with('(') {
            None
        } else {
            match answer.split_once("B ") {
                Some((data, _sw)) => Some(data.parse::<usize>().ok()? + 2),
                None if answer.len() == 4 => Some(2),
                None => return None,
            }
        };
        Some(Self {
            ins,
            command_bytes: command.len() / 2,
            response_bytes,
        })
    }

    /// Every command in a transcript's text, in order.
    pub fn parse_all(text: &str) -> Result<Vec<Self>, String> {
        text.lines().filter_map(Self::parse).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A `Write` the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn neither_verify_data_nor_its_length_reaches_the_file() {
        let mask = "**".repeat(1 + SECRET_SLOT);
        assert_eq!(
            redacted_hex(&[0, 0x20, 0, 0x98, 4, b'1', b'2', b'3', b'4']),
            format!("00200098{mask}")
        );
        // A 6- and a 16-character password leave the same line.
        assert_eq!(
            redacted_hex(&[0, 0x20, 0, 0x9B, 6, b'A', b'B', b'C', b'1', b'2', b'3']),
            redacted_hex(&[
                0, 0x20, 0, 0x9B, 16, b'A', b'B', b'C', b'D', b'E', b'F', b'G', b'H', b'1', b'2',
                b'3', b'4', b'5', b'6', b'7', b'8'
            ])
        );
        assert_eq!(redacted_hex(&[0, 0x20, 0, 0x80]), "00200080");
        assert_eq!(
            redacted_hex(&[0, 0x20, 0, 0x80, 0, 0, 2, b'4', b'2']),
            format!("00200080{mask}")
        );
        // Malformed: everything after the header is hidden.
        assert_eq!(
            redacted_hex(&[0, 0x20, 0, 0x80, 9, b'4']),
            format!("00200080{mask}")
        );
        assert_eq!(redacted_hex(&[0, 0xB0, 0, 0, 4]), "00B0000004");
        // CHANGE REFERENCE DATA carries two PINs.
        assert_eq!(
            redacted_hex(&[
                0, 0x24, 0, 0x98, 8, b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8'
            ]),
            format!("00240098{mask}")
        );
    }

    #[test]
    fn lines_round_trip_to_counts_without_data() {
        let sink = Shared::default();
        let mut writer = TranscriptWriter::new(Box::new(sink.clone()));
        writer.event("power on").unwrap();
        writer
            .command(&[0, 0xA4, 4, 0x0C, 1, 0xD3], Some(&[0x90, 0]))
            .unwrap();
        writer
            .command(
                &[0, 0x20, 0, 0x98, 4, b'9', b'8', b'7', b'6'],
                Some(&[0x63, 0xC2]),
            )
            .unwrap();
        let mut certificate = vec![0x42; 1500];
        certificate.extend_from_slice(&[0x90, 0x00]);
        writer
            .command(&[0, 0xB0, 0x8A, 0, 0, 0, 0], Some(&certificate))
            .unwrap();
        writer.command(&[0x80, 0x2A, 0, 0x97, 1, 0], None).unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("39383736"), "{text}");
        assert!(
            !text.contains("4242"),
            "response data must not be written: {text}"
        );
        assert_eq!(writer.commands(), 4);
        let entries = TranscriptEntry::parse_all(&text).unwrap();
        assert_eq!(
            entries,
            [
                TranscriptEntry {
                    ins: 0xA4,
                    command_bytes: 6,
                    response_bytes: Some(2)
                },
                TranscriptEntry {
                    ins: 0x20,
                    // Header and the fixed mask, whatever the PIN's length.
                    command_bytes: 4 + 1 + SECRET_SLOT,
                    response_bytes: Some(2)
                },
                TranscriptEntry {
                    ins: 0xB0,
                    command_bytes: 7,
                    response_bytes: Some(1502)
                },
                TranscriptEntry {
                    ins: 0x2A,
                    command_bytes: 6,
                    response_bytes: None
                },
            ]
        );
        assert!(TranscriptEntry::parse("garbage").unwrap().is_err());
    }
}
