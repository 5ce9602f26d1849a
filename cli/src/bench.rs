//! `mynakit bench`: what each JPKI operation costs with our reader — APDUs,
//! bytes and NFC air time — each from a fresh session, as the peers in
//! card-protocol.md were measured. With `--card-transcript` the APDUs are
//! also counted from the virtual card's side, and must agree.
//!
//! Subcommands measure the reset app (issue 8): `bench authority` (a
//! bounded load generator for a served reset authority) and `bench token`
//! (the face-check token's mint and verify cost), `bench capture` (where
//! a capture's time goes) and `bench reset-tap`
//! (the card round trips of the reset tap).

#[path = "bench_authority.rs"]
mod authority;
#[path = "bench_capture.rs"]
mod capture;
#[path = "bench_portal.rs"]
mod portal;
#[path = "bench_portal_login.rs"]
mod portal_login;
#[path = "bench_reset_tap.rs"]
mod reset_tap;
#[path = "bench_token.rs"]
mod token;
#[path = "bench_wallet.rs"]
mod wallet;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mynakit_core::{AuthPin, LastTry, SigningPassword};
use mynakit_core::{FreeCertificate, JpkiKey};
use serde::Serialize;

use crate::CmdResult;
use crate::air_time::{BitRate, load_of};
use crate::card_cmd::{PIN_ENV, SIGNING_PASSWORD_ENV};
use crate::failure::Failure;
use crate::output::Output;
use crate::reader::{self, OpenCard, ReaderArgs};
use crate::sandbox_cmd::read_transcript;
use crate::secrets::read_secret;

/// Options of `bench`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// What to measure; without one, the JPKI operations on the card.
    #[command(subcommand)]
    what: Option<BenchCommand>,
    /// The card-side transcript of the card in the reader (`mynakit sandbox
    /// card --transcript FILE`): count each operation there too.
    #[arg(long, value_name = "FILE")]
    card_transcript: Option<PathBuf>,
    /// Print a Markdown table instead of text.
    #[arg(long)]
    markdown: bool,
}

/// The reset app's measurements (BENCHMARKS.md).
#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Throughput and latency of a served reset authority (`mynakit sandbox
    /// serve`) under a bounded load: sessions, passing captures (tokens),
    /// challenges, reservations of both kinds, cancels.
    Authority(authority::AuthorityBenchArgs),
    /// The face-check token's mint and verify cost (µs per operation).
    Token(token::TokenBenchArgs),
    /// Where the authority's time goes in one capture (ms per piece).
    Capture(capture::CaptureBenchArgs),
    /// Card round trips of the reset tap, each kind, extended-length and
    /// short-only links, on the in-process virtual card.
    ResetTap(reset_tap::ResetTapBenchArgs),
    /// Card round trips of the wallet's application tap (issue 9, W2), on
    /// the in-process virtual card, with where each APDU goes.
    WalletTap(wallet::WalletTapBenchArgs),
    /// The phone's cost of one wallet presentation (selective disclosure,
    /// device signature, DeviceResponse) and the issuer's of one record.
    Presentation(wallet::PresentationBenchArgs),
    /// Size and build+compress+sign time of the wallet's status list
    /// (2 bits per entry) at 10^6 and 10^7 entries.
    StatusList(wallet::StatusListBenchArgs),
    /// Re-issue throughput and latency (p50/p99) of a served sandbox
    /// wallet issuer on loopback (one chain: lost, recovered, re-issued).
    WalletIssuer(wallet::WalletIssuerBenchArgs),
    /// The sandbox insurer's view (issue 10, §6) at 10^5 and 10^6
    /// members: build, sweep, first pages, a walk over every page, memory.
    InsurerView(portal::InsurerViewBenchArgs),
    /// Card logins (issue 10, P2) per second and their p50/p99 against a
    /// served sandbox portal on loopback: authorize, the card's proof, the
    /// code exchange; the card's signature made in process, timed apart.
    PortalLogin(portal_login::PortalLoginBenchArgs),
}

/// The operations measured, in card-protocol.md's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    ReadAuthCertificate,
    ReadSigningCertificate,
    PinTries,
    AuthSign,
    SigningSign,
}

impl Operation {
    const ALL: [Self; 5] = [
        Self::ReadAuthCertificate,
        Self::ReadSigningCertificate,
        Self::PinTries,
        Self::AuthSign,
        Self::SigningSign,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::ReadAuthCertificate => "read auth certificate",
            Self::ReadSigningCertificate => "read signing certificate (VERIFY first)",
            Self::PinTries => "PIN tries (auth PIN and signing password)",
            Self::AuthSign => "VERIFY + sign, auth key",
            Self::SigningSign => "VERIFY + sign, signing key",
        }
    }

    async fn run(self, card: &mut OpenCard, secrets: &Secrets) -> CmdResult {
        let mut jpki = card.channel.jpki();
        match self {
            Self::ReadAuthCertificate => {
                jpki.read_certificate(FreeCertificate::Authentication)
                    .await?;
            }
            Self::ReadSigningCertificate => {
                jpki.read_signing_certificate(&secrets.password, LastTry::Refuse)
                    .await?;
            }
            Self::PinTries => {
                jpki.pin_status(JpkiKey::Authentication).await?;
                jpki.pin_status(JpkiKey::Signing).await?;
            }
            Self::AuthSign => {
                jpki.sign_with_auth_key(&secrets.pin, b"mynakit bench", LastTry::Refuse)
                    .await?;
            }
            Self::SigningSign => {
                jpki.sign_with_signing_key(&secrets.password, b"mynakit bench", LastTry::Refuse)
                    .await?;
            }
        }
        Ok(())
    }
}

struct Secrets {
    pin: AuthPin,
    password: SigningPassword,
}

/// One operation's cost.
#[derive(Debug, Serialize)]
struct Cost {
    operation: &'static str,
    apdus: usize,
    bytes_sent: usize,
    bytes_received: usize,
    /// APDUs the card's transcript recorded for this operation.
    card_side_apdus: Option<usize>,
    air_ms_106: f64,
    air_ms_424: f64,
}

/// Runs the benchmark.
pub fn run(args: &BenchArgs, reader_args: &ReaderArgs, out: &Output) -> CmdResult {
    match &args.what {
        Some(BenchCommand::Authority(args)) => return authority::run(args, out),
        Some(BenchCommand::Token(args)) => return token::run(args, out),
        Some(BenchCommand::Capture(args)) => return capture::run(args, out),
        Some(BenchCommand::ResetTap(args)) => return reset_tap::run(args, out),
        Some(BenchCommand::WalletTap(args)) => return wallet::run_tap(args, out),
        Some(BenchCommand::Presentation(args)) => return wallet::run_presentation(args, out),
        Some(BenchCommand::StatusList(args)) => return wallet::run_status_list(args, out),
        Some(BenchCommand::WalletIssuer(args)) => return wallet::run_issuer(args, out),
        Some(BenchCommand::InsurerView(args)) => return portal::run(args, out),
        Some(BenchCommand::PortalLogin(args)) => return portal_login::run(args, out),
        None => {}
    }
    let pin = read_secret(PIN_ENV, "4-digit PIN: ").map_err(Failure::Input)?;
    let password =
        read_secret(SIGNING_PASSWORD_ENV, "Signing password: ").map_err(Failure::Input)?;
    let secrets = Secrets {
        pin: AuthPin::new(&pin).map_err(|e| Failure::Input(e.to_string()))?,
        password: SigningPassword::new(&password).map_err(|e| Failure::Input(e.to_string()))?,
    };
    let card_count = |path: &PathBuf| read_transcript(path).map(|entries| entries.len());
    let mut costs = Vec::new();
    for operation in Operation::ALL {
        let before = args.card_transcript.as_ref().map(card_count).transpose()?;
        // A fresh session (for PC/SC, a fresh connection) per operation.
        let mut card = reader::open(reader_args, out)?;
        pollster::block_on(operation.run(&mut card, &secrets))?;
        let exchanges = card.channel.transcript().exchanges();
        let load = load_of(exchanges.iter().map(|e| (e.bytes_sent, e.bytes_received())));
        let stats = card.channel.transcript().stats();
        drop(card);
        let after = args.card_transcript.as_ref().map(card_count).transpose()?;
        let card_side_apdus = before.zip(after).map(|(b, a)| a.saturating_sub(b));
        if let Some(seen) = card_side_apdus
            && seen != stats.round_trips
        {
            return Err(Failure::Other(format!(
                "{}: we sent {} APDUs but the card's transcript recorded {seen}",
                operation.name(),
                stats.round_trips
            )));
        }
        costs.push(Cost {
            operation: operation.name(),
            apdus: stats.round_trips,
            bytes_sent: stats.bytes_sent,
            bytes_received: stats.bytes_received,
            card_side_apdus,
            air_ms_106: load.millis(BitRate::Kbps106),
            air_ms_424: load.millis(BitRate::Kbps424),
        });
    }
    if args.markdown && !out.is_json() {
        say!("| operation | APDUs | bytes sent / received | air time 106 / 424 kbit/s |");
        say!("|---|---:|---:|---:|");
        for c in &costs {
            say!(
                "| {} | {} | {} / {} | {:.1} / {:.1} ms |",
                c.operation,
                c.apdus,
                c.bytes_sent,
                c.bytes_received,
                c.air_ms_106,
                c.air_ms_424
            );
        }
        return Ok(());
    }
    out.result(&costs, || {
        costs
            .iter()
            .map(|c| {
                format!(
                    "{:<44} {:>2} APDUs, {:>5} bytes sent, {:>5} received; air {:>6.1} ms at 106 kbit/s, {:>5.1} ms at 424{}",
                    c.operation,
                    c.apdus,
                    c.bytes_sent,
                    c.bytes_received,
                    c.air_ms_106,
                    c.air_ms_424,
                    c.card_side_apdus
                        .map(|n| format!(" (card counted {n})"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
