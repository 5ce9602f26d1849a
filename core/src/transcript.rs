//! A record of every exchange with the card, for counting round trips and tracing flows.

use std::time::Duration;

use serde::Serialize;

use crate::apdu::{CommandApdu, Hex};
use crate::transport::TransportError;

/// One command and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// The command as sent; for VERIFY with data, only the 4-byte header.
    pub command: Vec<u8>,
    /// True when the command's secret data was left out of [`Self::command`].
    pub redacted: bool,
    /// Bytes actually sent (the full command, secrets included).
    pub bytes_sent: usize,
    /// The raw response, or the transport error that replaced it.
    pub outcome: Result<Vec<u8>, TransportError>,
    /// How long the exchange took.
    pub elapsed: Duration,
}

impl Exchange {
    /// Records an exchange of `command`, sent as `encoded`, dropping a VERIFY's PIN.
    pub fn record(
        command: &CommandApdu,
        encoded: &[u8],
        outcome: Result<Vec<u8>, TransportError>,
        elapsed: Duration,
    ) -> Self {
        let redacted = command.carries_secret();
        let shown = if redacted {
            encoded[..4.min(encoded.len())].to_vec()
        } else {
            encoded.to_vec()
        };
        Self {
            command: shown,
            redacted,
            bytes_sent: encoded.len(),
            outcome,
            elapsed,
        }
    }

    /// Bytes received (0 when the exchange failed).
    pub fn bytes_received(&self) -> usize {
        self.outcome.as_ref().map_or(0, Vec::len)
    }

    /// A one-line trace: `>> 00A4040C… << 9000`.
    pub fn trace_line(&self) -> String {
        let cmd = Hex(&self.command);
        let secret = if self.redacted { " <PIN redacted>" } else { "" };
        match &self.outcome {
            Ok(resp) if resp.len() > 2 => {
                format!(
                    ">> {cmd}{secret}  << [{} bytes] {}",
                    resp.len() - 2,
                    Hex(&resp[resp.len() - 2..])
                )
            }
            Ok(resp) => format!(">> {cmd}{secret}  << {}", Hex(resp)),
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
