//! `mynakit`: the desktop front end of MynaKit. Talks to the sandbox virtual
//! card (default) or, later, a PC/SC reader.

mod card_cmd;
mod demo;
mod failure;
mod output;
mod reader;
mod secrets;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    let result = match cli.command {
        Command::Demo => demo::run(&out),
        Command::Card(command) => card_cmd::run(command, &cli.reader, &out),
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
