//! A record of every exchange with the card, for counting round trips and tracing flows.

use std::time::Duration;

use serde::Serialize;

use super::apdu::CommandApdu;
use super::status::StatusWord;
use crate::hex::Hex;
use crate::platform::TransportError;

/// What came back for one command: its size and status word. The data itself
/// is not kept: answers carry the My Number, the holder's name and address,
/// and the face photo, and a transcript is made to be shown and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// Bytes received, status word included.
    pub length: usize,
    /// The status word (absent when fewer than two bytes came back).
    #[serde(serialize_with = "serialize_sw")]
    pub status: Option<StatusWord>,
}

fn serialize_sw<S: serde::Serializer>(sw: &Option<StatusWord>, s: S) -> Result<S::Ok, S::Error> {
    match sw {
        Some(sw) => s.serialize_some(&sw.to_string()),
        None => s.serialize_none(),
    }
}

impl Answer {
    /// Summarises raw response bytes.
    pub fn of(bytes: &[u8]) -> Self {
        let status = match bytes {
            [.., sw1, sw2] => Some(StatusWord::from_bytes(*sw1, *sw2)),
            _ => None,
        };
        Self {
            length: bytes.len(),
            status,
        }
    }
}

/// The bytes a secret is counted as in a transcript: the longest secret the
/// card takes (a 16-character signing password), so lengths do not leak.
pub const SECRET_SLOT: usize = 16;

/// One command and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// The command as sent; for VERIFY with data, only the 4-byte header.
    pub command: Vec<u8>,
    /// True when the command's secret data was left out of [`Self::command`].
    pub redacted: bool,
    /// Bytes sent. For a command carrying a secret this counts the secret
    /// as [`SECRET_SLOT`] bytes whatever its length, so that neither the
    /// trace nor the totals reveal how long a password is.
    pub bytes_sent: usize,
    /// The answer's size and status word, or the transport error that replaced it.
    pub outcome: Result<Answer, TransportError>,
    /// How long the exchange took.
    pub elapsed: Duration,
}

impl Exchange {
    /// Records an exchange of `command`, sent as `encoded`, dropping a VERIFY's PIN.
    pub fn record(
        command: &CommandApdu,
        encoded: &[u8],
        outcome: Result<Answer, TransportError>,
        elapsed: Duration,
    ) -> Self {
        let redacted = command.carries_secret();
        let (shown, bytes_sent) = if redacted {
            let header = encoded.get(..4).unwrap_or(encoded).to_vec();
            // Header, one Lc byte and the secret rounded up to the longest one.
            let sent = header.len() + 1 + SECRET_SLOT;
            (header, sent)
        } else {
            (encoded.to_vec(), encoded.len())
        };
        Self {
            command: shown,
            redacted,
            bytes_sent,
            outcome,
            elapsed,
        }
    }

    /// Bytes received (0 when the exchange failed).
    pub fn bytes_received(&self) -> usize {
        self.outcome.as_ref().map_or(0, |a| a.length)
    }

    /// A one-line trace: `>> 00A4040C… << [1200 bytes] 9000`.
    pub fn trace_line(&self) -> String {
        let cmd = Hex(&self.command);
        let secret = if self.redacted { " <PIN redacted>" } else { "" };
        match &self.outcome {
            Ok(Answer {
                length,
                status: Some(sw),
            }) if *length > 2 => format!(">> {cmd}{secret}  << [{} bytes] {sw}", length - 2),
            Ok(Answer {
                status: Some(sw), ..
            }) => format!(">> {cmd}{secret}  << {sw}"),
            Ok(Answer {
                length,
                status: None,
            }) => format!(">> {cmd}{secret}  << {length} bytes, no status word"),
            Err(e) => format!(">> {cmd}{secret}  !! {e}"),
        }
    }
}

/// Totals over some exchanges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TranscriptStats {
    /// Commands sent (each is one round trip).
    pub round_trips: usize,
    /// Bytes sent.
    pub bytes_sent: usize,
    /// Bytes received.
    pub bytes_received: usize,
    /// Time spent waiting on the card.
    pub elapsed: Duration,
}

/// Every exchange of a session, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Transcript {
    exchanges: Vec<Exchange>,
}

impl Transcript {
    /// Appends an exchange.
    pub fn push(&mut self, exchange: Exchange) {
        self.exchanges.push(exchange);
    }

    /// All exchanges so far.
    pub fn exchanges(&self) -> &[Exchange] {
        &self.exchanges
    }

    /// Number of exchanges so far; pass it to [`Self::stats_since`] to measure one flow.
    pub fn mark(&self) -> usize {
        self.exchanges.len()
    }

    /// Totals over the whole session.
    pub fn stats(&self) -> TranscriptStats {
        self.stats_since(0)
    }

    /// Totals over the exchanges after `mark`.
    pub fn stats_since(&self, mark: usize) -> TranscriptStats {
        self.exchanges.get(mark..).unwrap_or_default().iter().fold(
            TranscriptStats::default(),
            |acc, e| TranscriptStats {
                round_trips: acc.round_trips + 1,
                bytes_sent: acc.bytes_sent + e.bytes_sent,
                bytes_received: acc.bytes_received + e.bytes_received(),
                elapsed: acc.elapsed + e.elapsed,
            },
        )
    }
}
