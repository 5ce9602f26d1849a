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
    /// Serve the reference reset authority (issue 8) over HTTP until
    /// SIGTERM/SIGINT: the API of docs/reset-protocol.md. Prints the
    /// address it listens on as the first line of standard output. A
    /// sandbox: its test keys and anchors are never to be trusted.
    Serve(AuthorityArgs),
    /// The served sandbox authority's clock.
    #[command(subcommand)]
    Clock(ClockCommand),
    /// Open a maintenance window on a served sandbox authority (W12): every
    /// API route answers 503 with Retry-After until it ends by the
    /// authority's clock (`clock advance` past it ends it too; `0s` ends it
    /// now). A real authority refuses: the route exists only in
    /// `mynakit sandbox serve`.
    Maintenance(MaintenanceArgs),
    /// A store kiosk (issue 8; R4, R5, R6): redeem the reservation of the
    /// sandbox card (its state in <home>/sandbox-card.json) and set the new
    /// secret. The other secret comes from MYNAKIT_PIN (for a
    /// signing-password reset) or MYNAKIT_SIGNING_PASSWORD (for a PIN
    /// reset), the new one from MYNAKIT_NEW_SIGNING_PASSWORD or
    /// MYNAKIT_NEW_PIN; else from standard input, one per line (other
    /// first), or a prompt — never from an argument. The card is the sample
    /// card of the state file: the global --sandbox-* switches do not apply.
    Kiosk(crate::kiosk_cmd::KioskArgs),
    /// The wallet issuer's sandbox admin (issue 9) on a served sandbox:
    /// revoke with a reason, report a phone lost, recovered, a key
    /// compromised, revoke a signing certificate (W4, W6(4), W7–W9).
    Issuer(crate::issuer_cmd::IssuerArgs),
    /// The portal's insurer (issue 10, §6): its view (the notice's codes,
    /// the two reminder lists; `--employer` for an employer's part) and a
    /// member's objection to the joint use.
    Insurer(crate::portal_admin_cmd::InsurerArgs),
    /// The portal's operator (issue 10): publish a terms version (P7),
    /// limit use (P6: 429 with Retry-After).
    Portal(crate::portal_admin_cmd::PortalAdminArgs),
    /// A holder returned the card (§6 reason 3): J-LIS revokes its
    /// certificates, the insurer's registration is released (state 0).
    CardReturned(crate::portal_admin_cmd::CardReturnedArgs),
    /// J-LIS (issue 10, P3/P4): renew the home's sandbox card's
    /// certificates (new serial linked to the earlier one), or revoke one.
    Jlis(crate::portal_admin_cmd::JlisArgs),
    /// The sample third-party service (S1): ask for consent, read what it
    /// keeps, its purge log.
    Service(crate::portal_admin_cmd::ServiceArgs),
}

/// Options of `sandbox maintenance`.
#[derive(Debug, Args)]
pub struct MaintenanceArgs {
    /// How long from now: a whole number and s, m, h or d (`10m`; `0s` ends a window).
    length: String,
    /// The served sandbox.
    #[arg(long, default_value = "http://127.0.0.1:8470", value_name = "URL")]
    authority: String,
}

/// `sandbox clock …`.
#[derive(Debug, Subcommand)]
pub enum ClockCommand {
    /// Move a served sandbox authority's clock forward (e.g. `25h` to see a
    /// reservation expire, R5). A real authority refuses: the route exists
    /// only in `mynakit sandbox serve`.
    Advance(AdvanceArgs),
}

/// Options of `sandbox clock advance`.
#[derive(Debug, Args)]
pub struct AdvanceArgs {
    /// How far: a whole number and s, m, h or d (`25h`, `90m`).
    by: String,
    /// The served sandbox.
    #[arg(long, default_value = "http://127.0.0.1:8470", value_name = "URL")]
    authority: String,
}

/// Options of `sandbox serve`.
#[derive(Debug, Args)]
pub struct AuthorityArgs {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8470", value_name = "HOST:PORT")]
    listen: String,
    /// The authority's SQLite database (created if missing); default: in
    /// memory, gone when the server stops.
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
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
        SandboxCommand::Serve(args) => serve_authority(&args),
        SandboxCommand::Clock(ClockCommand::Advance(args)) => advance_clock(&args, out),
        SandboxCommand::Maintenance(args) => maintenance(&args, out),
        SandboxCommand::Kiosk(args) => crate::kiosk_cmd::run(&args, out),
        SandboxCommand::Issuer(args) => crate::issuer_cmd::run(&args, out),
        SandboxCommand::Insurer(args) => crate::portal_admin_cmd::insurer(&args, out),
        SandboxCommand::Portal(args) => crate::portal_admin_cmd::portal(&args, out),
        SandboxCommand::CardReturned(args) => crate::portal_admin_cmd::card_returned(&args, out),
        SandboxCommand::Jlis(args) => crate::portal_admin_cmd::jlis(&args, out),
        SandboxCommand::Service(args) => crate::portal_admin_cmd::service(&args, out),
    }
}

/// `mynakit sandbox serve`: one request at a time (the stores serialise
/// them anyway), each answered by `served::handle_served`: the reset
/// authority (issue 8), the wallet issuer (issue 9) and the portal (issue
/// 10) on one sandbox clock, so `sandbox clock advance` moves all three.
fn serve_authority(args: &AuthorityArgs) -> CmdResult {
    use std::io::{Read, Write};

    use mynakit_sandbox::portal::PortalAuthority;
    use mynakit_sandbox::reset::ResetAuthority;
    use mynakit_sandbox::served::handle_served;
    use mynakit_sandbox::wallet::{WalletIssuer, http::MAX_BODY};

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| Failure::Other(format!("cannot handle signal {signal}: {e}")))?;
    }
    let sandbox_clock = Arc::new(mynakit_sandbox::reset::SandboxClock::new());
    let clock: Arc<dyn mynakit_core::Clock> = sandbox_clock.clone();
    let authority = match &args.db {
        Some(path) => ResetAuthority::open(path, clock.clone()),
        None => ResetAuthority::in_memory(clock.clone()),
    }
    .map_err(|e| Failure::Other(format!("the authority's store: {e}")))?;
    let server = tiny_http::Server::http(args.listen.as_str())
        .map_err(|e| Failure::Other(format!("cannot listen on {}: {e}", args.listen)))?;
    let address = server
        .server_addr()
        .to_ip()
        .map_or_else(|| args.listen.clone(), |a| a.to_string());
    // The issuer's public base URL is where it listens: the status lists'
    // URIs in the records it signs point there.
    let base_url = format!("http://{address}");
    let issuer = match &args.db {
        // Its own tables in a file next to the authority's.
        Some(path) => {
            WalletIssuer::open(&path.with_extension("wallet.db"), clock.clone(), &base_url)
        }
        None => WalletIssuer::in_memory(clock.clone(), &base_url),
    }
    .map_err(|e| Failure::Other(format!("the wallet issuer's store: {e}")))?;
    // The portal's issuer identifier (every ID token's `iss`) is where it
    // listens too.
    let portal = match &args.db {
        Some(path) => PortalAuthority::open(&path.with_extension("portal.db"), clock, &base_url),
        None => PortalAuthority::in_memory(clock, &base_url),
    }
    .map_err(|e| Failure::Other(format!("the portal's store: {e}")))?;
    let mut stdout = std::io::stdout();
    // The first line is for scripts and tests waiting for the port.
    let _ = writeln!(stdout, "listening on {base_url}");
    let _ = stdout.flush();
    while !stop.load(Ordering::Relaxed) {
        let mut request = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(e) => return Err(Failure::Other(format!("the server failed: {e}"))),
        };
        let mut body = Vec::new();
        let limit = u64::try_from(MAX_BODY.max(mynakit_sandbox::reset::http::MAX_BODY) + 1)
            .unwrap_or(u64::MAX);
        if request
            .as_reader()
            .take(limit)
            .read_to_end(&mut body)
            .is_err()
        {
            let _ = request.respond(tiny_http::Response::empty(400));
            continue;
        }
        // Every header goes on: the wallet reads `Authorization` too.
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_owned()))
            .collect();
        let method = request.method().as_str().to_ascii_uppercase();
        let answer = handle_served(
            &authority,
            &issuer,
            &portal,
            &sandbox_clock,
            &method,
            request.url(),
            &headers,
            &body,
        );
        let mut response =
            tiny_http::Response::from_data(answer.body).with_status_code(answer.status);
        for (name, value) in &answer.headers {
            if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(header);
            }
        }
        // A client that went away is its own business; keep serving.
        let _ = request.respond(response);
    }
    Ok(())
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

/// `mynakit sandbox clock advance BY`: asks a served sandbox to move its
/// clock; prints the authority's new time.
fn advance_clock(args: &AdvanceArgs, out: &Output) -> CmdResult {
    use mynakit_core::{AuthorityLink, AuthorityRequest, IdempotencyKey};

    #[derive(Serialize, serde::Deserialize)]
    struct Moved {
        now: chrono::DateTime<chrono::Utc>,
    }

    if mynakit_sandbox::reset::clock::parse_duration(&args.by).is_none() {
        return Err(Failure::Input(format!(
            "{}: a whole number and s, m, h or d (25h, 90m)",
            args.by
        )));
    }
    let link = mynakit_http::HttpAuthorityLink::new(&args.authority, Duration::from_secs(10))
        .map_err(|e| Failure::Input(e.to_string()))?;
    let key = IdempotencyKey::generate().map_err(|e| Failure::Other(e.to_string()))?;
    let body = serde_json::to_vec(&serde_json::json!({ "by": args.by }))
        .map_err(|e| Failure::Other(e.to_string()))?;
    let request = AuthorityRequest::post("/v1/sandbox/clock/advance", body, &key);
    let answer = pollster::block_on(link.send(request))
        .map_err(|e| Failure::Other(format!("{}: {e}", args.authority)))?;
    if answer.status != 200 {
        return Err(Failure::Other(format!(
            "{} refused (status {}): not a served sandbox?",
            args.authority, answer.status
        )));
    }
    let moved: Moved = serde_json::from_slice(&answer.body)
        .map_err(|e| Failure::Other(format!("unexpected answer: {e}")))?;
    out.result(&moved, || {
        format!("the authority's time is now {}", moved.now)
    });
    Ok(())
}

/// `mynakit sandbox maintenance FOR`: asks a served sandbox to answer 503
/// for that long; prints when the window ends.
fn maintenance(args: &MaintenanceArgs, out: &Output) -> CmdResult {
    use mynakit_core::{AuthorityLink, AuthorityRequest, IdempotencyKey};

    #[derive(Serialize, serde::Deserialize)]
    struct Window {
        until: chrono::DateTime<chrono::Utc>,
        retry_after: u64,
    }

    if mynakit_sandbox::reset::clock::parse_duration(&args.length).is_none() {
        return Err(Failure::Input(format!(
            "{}: a whole number and s, m, h or d (10m, 30s)",
            args.length
        )));
    }
    let link = mynakit_http::HttpAuthorityLink::new(&args.authority, Duration::from_secs(10))
        .map_err(|e| Failure::Input(e.to_string()))?;
    let key = IdempotencyKey::generate().map_err(|e| Failure::Other(e.to_string()))?;
    let body = serde_json::to_vec(&serde_json::json!({ "for": args.length }))
        .map_err(|e| Failure::Other(e.to_string()))?;
    let request = AuthorityRequest::post("/v1/sandbox/maintenance", body, &key);
    let answer =
        pollster::block_on(link.send(request)).map_err(|e| Failure::AuthorityUnavailable {
            message: format!("{}: {e}", args.authority),
            retry_after: None,
        })?;
    if answer.status != 200 {
        return Err(Failure::Other(format!(
            "{} refused (status {}): not a served sandbox?",
            args.authority, answer.status
        )));
    }
    let window: Window = serde_json::from_slice(&answer.body)
        .map_err(|e| Failure::Other(format!("unexpected answer: {e}")))?;
    out.result(&window, || {
        if window.retry_after == 0 {
            "the authority is in service".to_owned()
        } else {
            format!(
                "the authority answers 503 until {} ({} s)",
                window.until, window.retry_after
            )
        }
    });
    Ok(())
}
