//! `mynakit`: the desktop front end of MynaKit. Talks to the sandbox virtual
//! card (default) or a PC/SC reader (`--features pcsc`), and serves the
//! virtual card to a real pcscd.

/// `println!` that shrugs off a closed standard output (`mynakit … | head`)
/// instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that shrugs off a closed standard error.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod air_time;
mod bench;
mod card_cmd;
mod demo;
mod failure;
mod home;
mod issuer_cmd;
mod kiosk_cmd;
mod output;
#[cfg(feature = "pcsc")]
mod pcsc_reader;
mod portal_admin_cmd;
mod portal_cmd;
mod reader;
#[cfg(feature = "pcsc")]
mod reader_memory;
mod readers_cmd;
mod reset_cmd;
mod sandbox_cmd;
mod secrets;
mod wallet_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::failure::Failure;
use crate::output::Output;
use crate::reader::ReaderArgs;

/// My Number card tool: JPKI certificates and signatures, Kenhojo and Kenmen records.
#[derive(Debug, Parser)]
#[command(name = "mynakit", version, about)]
struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    reader: ReaderArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Walk through everything the core does, on the sandbox virtual card.
    Demo,
    /// Commands for the card in the reader.
    #[command(subcommand)]
    Card(card_cmd::CardCommand),
    /// List the PC/SC readers and their cards (needs `--features pcsc`).
    Readers,
    /// APDUs, bytes and NFC air time of each JPKI operation, each from a fresh session;
    /// subcommands measure the reset app (tap round trips, token cost, authority load).
    Bench(bench::BenchArgs),
    /// The sandbox virtual card outside this process: served through vpcd, its transcript.
    #[command(subcommand)]
    Sandbox(sandbox_cmd::SandboxCommand),
    /// The PIN-reset app (issue 8): card front, reservation, kept reservations.
    Reset(reset_cmd::ResetArgs),
    /// The card-substitute record (issue 9): apply in one tap, show,
    /// refresh (re-issue, W6), present, revoke, notices.
    Wallet(wallet_cmd::WalletArgs),
    /// The Mynaportal-style app (issue 10): log in with the card (P2),
    /// terms (P7), the health-insurance registration (P1, P3, §6), the
    /// certificate's standing, consents (S1), agents (P5).
    Portal(portal_cmd::PortalArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    let result = match cli.command {
        Command::Demo => demo::run(&out),
        Command::Card(command) => card_cmd::run(command, &cli.reader, &out),
        Command::Readers => readers_cmd::run(&out),
        Command::Bench(args) => bench::run(&args, &cli.reader, &out),
        Command::Sandbox(command) => sandbox_cmd::run(command, &cli.reader, &out),
        Command::Reset(args) => reset_cmd::run(args, &out),
        Command::Wallet(args) => wallet_cmd::run(args, &out),
        Command::Portal(args) => portal_cmd::run(args, &cli.reader, &out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            out.failure(&failure);
            ExitCode::from(failure.exit_code())
        }
    }
}

/// The result of a command.
pub type CmdResult = Result<(), Failure>;
