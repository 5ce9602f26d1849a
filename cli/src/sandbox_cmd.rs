//! `mynakit sandbox …`: the virtual card outside this process — served to a
//! real pcscd through vsmartcard's vpcd — and its card-side transcript.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand};
use mynakit_sandbox::vpcd::{self, Ending, VpcdCard, VpcdError};
use mynakit_sandbox::{TranscriptEntry, TranscriptWriter, VirtualCard};
use serde::Serialize;

use crate::CmdResult;
use crate::air_time::{BitRate, load_of};
use crate::failure::Failure;
use crate::output::Output;
use crate::reader::ReaderArgs;

/// Sandbox commands.
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Serve the virtual card to pcscd through vsmartcard's vpcd, until
    /// pcscd goes, the scheduled removal (--sandbox-remove-at) happens, or
    /// SIGTERM/SIGINT (the card is then removed, mid-command if need be).
    /// Holder and fault options: the global --sandbox-* switches.
    Card(ServeArgs),
    /// APDUs, bytes and NFC air time in a card-side transcript.
    TranscriptStats(StatsArgs),
}

/// Options of `sandbox card`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// vpcd's address; port 35963 is the reader "Virtual PCD 00 00".
    #[arg(long, value_name = "HOST:PORT")]
    vpcd: String,
    /// Write the card-side transcript here: one line per APDU, VERIFY data
    /// and all response data left out.
    #[arg(long, value_name = "FILE")]
    transcript: Option<PathBuf>,
    /// Seconds to keep trying to reach vpcd (pcscd may still be starting).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    connect_timeout: u64,
}

/// Options of `sandbox transcript-stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The transcript `sandbox card --transcript` wrote.
    file: PathBuf,
    /// Leave out the first N commands (to measure what came after them).
    #[arg(long, default_value_t = 0)]
    skip: usize,
}

/// Runs a sandbox command.
pub fn run(command: SandboxCommand, reader: &ReaderArgs, out: &Output) -> CmdResult {
    match command {
        SandboxCommand::Card(args) => serve(&args, reader, out),
        SandboxCommand::TranscriptStats(args) => stats(&args, out),
    }
}

fn serve(args: &ServeArgs, reader: &ReaderArgs, out: &Output) -> CmdResult {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| Failure::Other(format!("cannot handle signal {signal}: {e}")))?;
    }
    let card = VirtualCard::new(reader.sandbox_config().map_err(Failure::Input)?)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let mut card = VpcdCard::new(card, reader.sandbox_switches());
    if let Some(path) = &args.transcript {
        let file = std::fs::File::create(path)
            .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
        card = card.with_transcript(TranscriptWriter::new(Box::new(file)));
    }
    let stream = match vpcd::connect(&args.vpcd, Duration::from_secs(args.connect_timeout), &stop) {
        Ok(stream) => stream,
        Err(_) if stop.load(Ordering::SeqCst) => return Ok(()),
        Err(e) => return Err(vpcd_failure(e)),
    };
    note!("mynakit: virtual card inserted into vpcd at {}", args.vpcd);
    let ending = card.serve(stream, &stop).map_err(vpcd_failure)?;
    let why = match ending {
        Ending::ReaderClosed => "vpcd closed the connection".to_owned(),
        Ending::Removed { at } => format!("removed at command {at}, as scheduled"),
        Ending::Stopped => "stopped by a signal".to_owned(),
    };
    #[derive(Serialize)]
    struct Served {
        commands: usize,
        ended: String,
    }
    let served = Served {
        commands: card.commands(),
        ended: why,
    };
    out.result(&served, || {
        format!(
            "virtual card removed after {} commands: {}",
            served.commands, served.ended
        )
    });
    Ok(())
}

fn vpcd_failure(e: VpcdError) -> Failure {
    Failure::Other(e.to_string())
}

/// Totals of a stretch of card-side transcript.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TranscriptTotals {
    /// Commands (round trips).
    pub apdus: usize,
    /// Command bytes.
    pub bytes_sent: usize,
    /// Response bytes, status words included.
    pub bytes_received: usize,
    /// Commands the card never answered (removed mid-command).
    pub unanswered: usize,
    /// NFC air time at 106 kbit/s, ms (model in `air_time`).
    pub air_ms_106: f64,
    /// NFC air time at 424 kbit/s, ms.
    pub air_ms_424: f64,
}

impl TranscriptTotals {
    /// Totals of `entries`.
    pub fn of(entries: &[TranscriptEntry]) -> Self {
        let load = load_of(
            entries
                .iter()
                .map(|e| (e.command_bytes, e.response_bytes.unwrap_or(0))),
        );
        Self {
            apdus: entries.len(),
            bytes_sent: entries.iter().map(|e| e.command_bytes).sum(),
            bytes_received: entries.iter().filter_map(|e| e.response_bytes).sum(),
            unanswered: entries
                .iter()
                .filter(|e| e.response_bytes.is_none())
                .count(),
            air_ms_106: load.millis(BitRate::Kbps106),
            air_ms_424: load.millis(BitRate::Kbps424),
        }
    }
}

/// Reads every command of a card-side transcript.
pub fn read_transcript(path: &std::path::Path) -> Result<Vec<TranscriptEntry>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    TranscriptEntry::parse_all(&text).map_err(Failure::Input)
}

fn stats(args: &StatsArgs, out: &Output) -> CmdResult {
    let entries = read_transcript(&args.file)?;
    let totals = TranscriptTotals::of(entries.get(args.skip..).unwrap_or_default());
    out.result(&totals, || {
        format!(
            "{} APDUs, {} bytes sent, {} received ({} unanswered); NFC air time {:.1} ms at 106 kbit/s, {:.1} ms at 424 kbit/s",
            totals.apdus,
            totals.bytes_sent,
            totals.bytes_received,
            totals.unanswered,
            totals.air_ms_106,
            totals.air_ms_424
        )
    });
    Ok(())
}
