//! `mynakit reset …`: the PIN-reset app of issue 8 on the desktop — the
//! card front (R7, R8), the reservation (one tap, a face check for the
//! signing password, R1–R6), the kept reservations, cancelling.
//!
//! The phone's state lives under `--home` ([`crate::home`]); the authority
//! is a served sandbox (`--authority URL`) or, by default, an in-process
//! sandbox authority on `<home>/sandbox-authority.db`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use mynakit_core::reset::{
    CardFront, FrontError, FrontField, FrontReading, KeptReservation, OtherSecret, Refusal,
    ReservationState, ResetClient, ResetError, ResetKind, StoreChain,
};
use mynakit_core::{
    AuthPin, AuthorityLink, CardChannel, JapaneseDate, LastTry, SecureArea, SigningPassword,
    SoftwareSecureArea, Store, SystemClock,
};
use mynakit_sandbox::card_state;
use mynakit_sandbox::reset::{
    CameraSubject, InProcessLink, ResetAuthority, SandboxCamera, SandboxClock,
};
use mynakit_sandbox::{Holder, LinkSwitches, Sandbox};
use serde::Serialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::CmdResult;
use crate::card_cmd::{PIN_ENV, SIGNING_PASSWORD_ENV};
use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::output::Output;
use crate::secrets::read_secret;

/// How long one request to a served authority may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The name the phone's store keeps the in-process sandbox authority's
/// reservations and clock offset under (a served one: its URL).
pub const IN_PROCESS_AUTHORITY: &str = "sandbox:in-process";

/// Camera frames per liveness action (the sandbox camera; a phone takes
/// what its camera gives).
const FRAMES_PER_ACTION: usize = 2;

/// The environment variable `reset front` and `reset reserve` read the
/// card-front text from when no argument gives it.
pub const FRONT_ENV: &str = "MYNAKIT_CARD_FRONT";

/// `mynakit reset …`.
#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    app: AppArgs,
    #[command(subcommand)]
    command: ResetCommand,
}

/// Where the phone keeps its state and which authority it talks to.
#[derive(Debug, Args)]
pub struct AppArgs {
    /// The reset authority: a served sandbox (`mynakit sandbox serve`).
    /// Default: an in-process sandbox authority on
    /// `<home>/sandbox-authority.db`.
    #[arg(long, global = true, value_name = "URL")]
    pub authority: Option<String>,
    /// The phone's state: its store (`phone.db`), software keys, the
    /// virtual card's state. Default: `$XDG_DATA_HOME/mynakit` or
    /// `~/.local/share/mynakit`.
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
}

/// The reset commands.
#[derive(Debug, Subcommand)]
pub enum ResetCommand {
    /// Read the card front from its OCR text: birth date, expiry year,
    /// security code, and every character corrected (R8). The security
    /// code is shown masked, and in full only in the `--json` output;
    /// 照合番号B is never shown, only whether it could be formed. A blank or
    /// unknown birth date stops here (R7, exit 14).
    Front(FrontArgs),
    /// Reserve a reset on the sandbox card: begin, one tap, the face check
    /// (signing password only, R2), the reservation (valid 24 h, R5; the
    /// store chains whose kiosks finish it, R6). The other secret (R4) comes
    /// from MYNAKIT_PIN (signing-password reset) or MYNAKIT_SIGNING_PASSWORD
    /// (PIN reset), else standard input or a prompt — never an argument.
    Reserve(ReserveArgs),
    /// The reservations this phone keeps, with time left by the authority's
    /// clock and the chains whose kiosks finish them. Offline unless
    /// `--refresh`.
    List(ListArgs),
    /// Cancel a live reservation made by this phone.
    Cancel(CancelArgs),
}

/// Options of `reset front`.
#[derive(Debug, Args)]
pub struct FrontArgs {
    /// The OCR text of the card front. Default: MYNAKIT_CARD_FRONT, else
    /// standard input. (An argument is visible to other users in the
    /// process list, and the text holds the security code.)
    #[arg(long, value_name = "TEXT")]
    text: Option<String>,
}

/// What to reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// The signing password (6–16 characters): needs the 4-digit PIN (R4)
    /// and a face check (R2).
    SigningPassword,
    /// The user-authentication PIN (4 digits): needs the signing password
    /// (R4), no face check (R3).
    AuthPin,
}

/// Who faces the sandbox camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FaceArg {
    /// The card's holder.
    Holder,
    /// Someone else.
    Another,
    /// The holder in a mask (R2: fails).
    Masked,
    /// The holder in sunglasses (R2: fails).
    Sunglasses,
}

/// Options of `reset reserve`.
#[derive(Debug, Args)]
pub struct ReserveArgs {
    /// What to reset.
    #[arg(long, value_enum)]
    kind: KindArg,
    /// The card front's OCR text (see `reset front`). Default:
    /// MYNAKIT_CARD_FRONT, else the sandbox card's own front.
    #[arg(long, value_name = "TEXT")]
    front_text: Option<String>,
    /// Spend the other secret's last try if it comes to that.
    #[arg(long)]
    allow_last_try: bool,
    /// Spend 照合番号B's last try if it comes to that (its own consent;
    /// check the card front first).
    #[arg(long)]
    allow_check_code_last_try: bool,
    /// Sandbox camera: who is in front of it.
    #[arg(long, value_enum, default_value = "holder")]
    sandbox_face: FaceArg,
}

/// Options of `reset list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Ask the authority for the current state first (online).
    #[arg(long)]
    refresh: bool,
}

/// Options of `reset cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The reservation's id (as `reset list` shows it).
    id: String,
}

/// Runs a reset command.
pub fn run(args: ResetArgs, out: &Output) -> CmdResult {
    match args.command {
        ResetCommand::Front(front) => front_cmd(&front, out),
        ResetCommand::Reserve(reserve) => reserve_cmd(&args.app, &reserve, out),
        ResetCommand::List(list) => list_cmd(&args.app, &list, out),
        ResetCommand::Cancel(cancel) => cancel_cmd(&args.app, &cancel, out),
    }
}

/// The card-front text: the argument, else the environment, else (when
/// `from_stdin`) all of standard input (not a terminal).
pub fn front_text(
    argument: Option<&str>,
    from_stdin: bool,
) -> Result<Option<Zeroizing<String>>, Failure> {
    if let Some(text) = argument {
        return Ok(Some(Zeroizing::new(text.to_owned())));
    }
    if let Ok(text) = std::env::var(FRONT_ENV) {
        return Ok(Some(Zeroizing::new(text)));
    }
    let stdin = std::io::stdin();
    if !from_stdin || stdin.is_terminal() {
        return Ok(None);
    }
    let mut text = Zeroizing::new(String::new());
    stdin.lock().read_to_string(&mut text).map_err(|e| {
        Failure::Input(format!(
            "could not read the card front from standard input: {e}"
        ))
    })?;
    Ok((!text.trim().is_empty()).then_some(text))
}

fn front_cmd(args: &FrontArgs, out: &Output) -> CmdResult {
    let text = front_text(args.text.as_deref(), true)?.ok_or_else(|| {
        Failure::Input(format!(
            "no card-front text: give --text, set {FRONT_ENV} or pipe it on standard input"
        ))
    })?;
    let reading = FrontReading::read(&text);
    match reading.card_front() {
        Ok(front) => {
            let value = front_json(&reading, Some(&front));
            out.result(&value, || front_human(&reading, Some(&front)));
            Ok(())
        }
        Err(error) => {
            if !out.is_json() {
                say!("{}", front_human(&reading, None));
            }
            Err(front_failure(&error, Some(front_json(&reading, None))))
        }
    }
}

/// The failure for a card front that cannot be used; `reading` goes into
/// the JSON.
pub fn front_failure(error: &FrontError, reading: Option<Value>) -> Failure {
    let kind = match error {
        FrontError::BirthDateUnknown => "birth_date_unknown",
        FrontError::BirthDateNotFound => "birth_date_not_found",
        FrontError::BirthDate(_) => "birth_date_unreadable",
        FrontError::ExpiryNotFound => "expiry_not_found",
        FrontError::ExpiryYear(_) => "expiry_unreadable",
        FrontError::SecurityCodeNotFound => "security_code_not_found",
        FrontError::SecurityCodeAmbiguous { .. } => "security_code_ambiguous",
        FrontError::SecurityCode => "security_code_invalid",
        FrontError::CheckCode(_) => "check_code_invalid",
        FrontError::TooLong => "card_front_too_long",
    };
    let mut details = serde_json::Map::new();
    if let Some(field) = error.field() {
        details.insert("field".into(), json!(field.as_str()));
    }
    if error.stops_the_flow() {
        details.insert("rule".into(), json!("R7"));
    }
    if let Some(reading) = reading {
        details.insert("reading".into(), reading);
    }
    Failure::Coded {
        code: if error.stops_the_flow() {
            exit::BIRTH_DATE_UNKNOWN
        } else {
            exit::BAD_INPUT
        },
        kind,
        message: error.to_string(),
        details,
    }
}

/// One field of the reading, for the JSON.
#[derive(Serialize)]
struct FieldJson {
    read: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The reading as JSON: every field (the security code in full: `--json`
/// is where a script asked for it), the corrections, whether 照合番号B
/// was formed (never the code itself).
pub fn front_json(reading: &FrontReading, front: Option<&CardFront>) -> Value {
    let birth = match reading.birth_date() {
        Ok(date) => FieldJson {
            read: true,
            value: Some(json!({
                "printed": date.to_string(),
                "era": date.era().name(),
                "era_year": date.year(),
                "month": date.month(),
                "day": date.day(),
                "gregorian": date.to_gregorian().to_string(),
                "western_on_card": front.map(CardFront::birth_date_western),
            })),
            text: reading.birth_date_text().map(str::to_owned),
            error: None,
        },
        Err(e) => FieldJson {
            read: false,
            value: None,
            text: reading.birth_date_text().map(str::to_owned),
            error: Some(e.to_string()),
        },
    };
    let expiry = match reading.expiry_year() {
        Ok(year) => FieldJson {
            read: true,
            value: Some(json!(year)),
            text: reading.expiry_text().map(str::to_owned),
            error: None,
        },
        Err(e) => FieldJson {
            read: false,
            value: None,
            text: reading.expiry_text().map(str::to_owned),
            error: Some(e.to_string()),
        },
    };
    let code = match (reading.security_code(), front) {
        (Ok(()), Some(front)) => FieldJson {
            read: true,
            value: Some(json!(front.security_code_digits())),
            text: None,
            error: None,
        },
        (Ok(()), None) => FieldJson {
            read: true,
            value: None,
            text: None,
            error: None,
        },
        (Err(e), _) => FieldJson {
            read: false,
            value: None,
            text: None,
            error: Some(e.to_string()),
        },
    };
    json!({
        "birth_date": birth,
        "expiry_year": expiry,
        "security_code": code,
        "check_code_formed": front.is_some(),
        "corrections": reading.corrections(),
        "ignored_long_numbers": reading.ignored_long_numbers(),
    })
}

/// The reading for people: the security code masked, 照合番号B never shown.
pub fn front_human(reading: &FrontReading, front: Option<&CardFront>) -> String {
    let mut lines = Vec::new();
    lines.push(match reading.birth_date() {
        Ok(date) => {
            let western = if front.is_some_and(CardFront::birth_date_western) {
                " — printed in the Western calendar"
            } else {
                ""
            };
            format!("birth date:    {date} ({}){western}", date.to_gregorian())
        }
        Err(e) => format!("birth date:    not read — {e}"),
    });
    lines.push(match reading.expiry_year() {
        Ok(year) => format!("expiry year:   {year}"),
        Err(e) => format!("expiry year:   not read — {e}"),
    });
    lines.push(match reading.security_code() {
        Ok(()) => "security code: **** (read; shown only with --json)".to_owned(),
        Err(e) => format!("security code: not read — {e}"),
    });
    lines.push(format!(
        "照合番号B:     {}",
        if front.is_some() {
            "formed"
        } else {
            "not formed"
        }
    ));
    if reading.corrections().is_empty() {
        lines.push("corrected:     nothing".to_owned());
    } else {
        lines.push("corrected (check these on the card, R8):".to_owned());
        for c in reading.corrections() {
            // The security code's characters are its digits: not shown.
            lines.push(if c.field == FrontField::SecurityCode {
                format!("  {} at {}: a misread digit", c.field.as_str(), c.position)
            } else {
                format!(
                    "  {} at {}: '{}' → '{}'",
                    c.field.as_str(),
                    c.position,
                    c.from,
                    c.to
                )
            });
        }
    }
    if reading.ignored_long_numbers() > 0 {
        lines.push(format!(
            "ignored:       {} long number(s), unread (the My Number is never read, R8)",
            reading.ignored_long_numbers()
        ));
    }
    lines.join("\n")
}

// ---------------------------------------------------------------------------
// The phone: store, secure area, authority link, reset client.

/// One phone talking to one authority, its state under the home directory.
pub struct Phone {
    /// The home directory.
    pub home: Home,
    /// The reset client.
    pub client: ResetClient,
}

impl Phone {
    /// Opens the phone under `app.home`, talking to `app.authority` (or the
    /// in-process sandbox authority on `<home>/sandbox-authority.db`).
    pub fn open(app: &AppArgs) -> Result<Self, Failure> {
        let home = Home::open(app.home.as_deref())?;
        let store = Store::open(home.phone_db())
            .map_err(|e| Failure::Other(format!("{}: {e}", home.phone_db().display())))?;
        let secure_area: Arc<dyn SecureArea> = Arc::new(
            SoftwareSecureArea::open(home.software_keys())
                .map_err(|e| Failure::Other(e.to_string()))?,
        );
        let (link, name): (Arc<dyn AuthorityLink>, String) = match &app.authority {
            Some(url) => (
                Arc::new(
                    mynakit_http::HttpAuthorityLink::new(url, TIMEOUT)
                        .map_err(|e| Failure::Input(e.to_string()))?,
                ),
                url.trim_end_matches('/').to_owned(),
            ),
            None => {
                let path = home.sandbox_authority();
                let authority = ResetAuthority::open(&path, Arc::new(SandboxClock::new()))
                    .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
                (
                    Arc::new(InProcessLink::new(Arc::new(authority))),
                    IN_PROCESS_AUTHORITY.to_owned(),
                )
            }
        };
        let client = ResetClient::new(
            link,
            Arc::new(store),
            secure_area,
            Arc::new(SystemClock),
            &name,
        )
        .map_err(|e| reset_failure(&e))?;
        Ok(Self { home, client })
    }
}

impl From<KindArg> for ResetKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::SigningPassword => Self::SigningPassword,
            KindArg::AuthPin => Self::AuthPin,
        }
    }
}

impl From<FaceArg> for CameraSubject {
    fn from(face: FaceArg) -> Self {
        match face {
            FaceArg::Holder => Self::Holder,
            FaceArg::Another => Self::AnotherHolder,
            FaceArg::Masked => Self::Masked,
            FaceArg::Sunglasses => Self::Sunglasses,
        }
    }
}

/// The text printed on the front of the sandbox card, as an OCR would read
/// it: the birth date with its era (or `不詳`, R7), the expiry, the
/// security code.
pub fn sandbox_front_text(holder: &Holder) -> String {
    let birth = holder
        .birth_date
        .and_then(|date| JapaneseDate::from_gregorian(date).ok())
        .map_or_else(|| "生年月日 不詳".to_owned(), |date| format!("{date}生"));
    format!(
        "{birth}\n{}まで有効\nセキュリティコード {}",
        holder.card_expiry.format("%Y年%-m月%-d日"),
        holder.security_code
    )
}

/// The other secret (R4), read and format-checked before anything is sent.
pub fn other_secret(kind: ResetKind) -> Result<OtherSecret, Failure> {
    let input = |e: mynakit_core::PinFormatError| Failure::Input(e.to_string());
    Ok(match kind {
        ResetKind::SigningPassword => {
            let pin =
                read_secret(PIN_ENV, "4-digit PIN (the other secret): ").map_err(Failure::Input)?;
            OtherSecret::AuthPin(AuthPin::new(&pin).map_err(input)?)
        }
        ResetKind::AuthPin => {
            let password = read_secret(
                SIGNING_PASSWORD_ENV,
                "Signing password (the other secret): ",
            )
            .map_err(Failure::Input)?;
            OtherSecret::SigningPassword(SigningPassword::new(&password).map_err(input)?)
        }
    })
}

/// A reservation as printed.
#[derive(Serialize)]
struct ReservationJson {
    id: String,
    kind: ResetKind,
    state: ReservationState,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// Seconds left to finish at a kiosk (by the authority's clock), while reserved.
    time_left_seconds: Option<u64>,
    /// The chains whose kiosks finish this kind (R6).
    stores: Vec<StoreChain>,
    /// Of those, the chains where only some stores have a kiosk.
    partial_chains: Vec<StoreChain>,
    redeemed_at_chain: Option<StoreChain>,
}

impl From<&KeptReservation> for ReservationJson {
    fn from(kept: &KeptReservation) -> Self {
        let r = &kept.reservation;
        Self {
            id: r.id.clone(),
            kind: r.kind,
            state: kept.state_now,
            created_at: r.created_at,
            expires_at: r.expires_at,
            time_left_seconds: kept.time_left.map(|d| d.as_secs()),
            stores: r.stores.clone(),
            partial_chains: kept.partial_chains.clone(),
            redeemed_at_chain: r.redeemed_at_chain,
        }
    }
}

/// The serde (snake_case) name of a unit enum value.
pub fn snake<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn kind_name(kind: ResetKind) -> &'static str {
    match kind {
        ResetKind::SigningPassword => "signing password",
        ResetKind::AuthPin => "4-digit PIN",
    }
}

fn time_left_text(left: Option<Duration>) -> String {
    match left {
        Some(left) => {
            let minutes = left.as_secs() / 60;
            format!("{} h {:02} min left", minutes / 60, minutes % 60)
        }
        None => "no time left".to_owned(),
    }
}

/// One reservation for people.
pub fn reservation_lines(kept: &KeptReservation) -> Vec<String> {
    let r = &kept.reservation;
    let stores: Vec<String> = r
        .stores
        .iter()
        .map(|chain| {
            let name = snake(chain);
            if kept.partial_chains.contains(chain) {
                format!("{name} (some stores)")
            } else {
                name
            }
        })
        .collect();
    let mut lines = vec![
        format!("reservation {}", r.id),
        format!(
            "  {} reset, {}{}",
            kind_name(r.kind),
            snake(&kept.state_now),
            if kept.state_now == ReservationState::Reserved {
                format!(" — {}", time_left_text(kept.time_left))
            } else {
                String::new()
            }
        ),
        format!(
            "  made {}, finish at a kiosk by {} (R5: 24 h, the authority's clock)",
            r.created_at, r.expires_at
        ),
        format!("  kiosks (R6): {}", stores.join(", ")),
    ];
    if let Some(chain) = r.redeemed_at_chain {
        lines.push(format!("  redeemed at {}", snake(&chain)));
    }
    lines
}

/// The CLI failure for a reset error.
pub fn reset_failure(error: &ResetError) -> Failure {
    let coded = |code: u8, kind: &'static str, details: Value| Failure::Coded {
        code,
        kind,
        message: error.to_string(),
        details: match details {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    };
    match error {
        ResetError::Card(e) => Failure::Card(e.clone()),
        ResetError::Authority(e) => crate::kiosk_cmd::authority_failure(e),
        ResetError::Refused {
            error: Refusal::AlreadyReserved,
            id,
            ..
        } => Failure::Coded {
            code: exit::ALREADY_RESERVED,
            kind: "already_reserved",
            message: format!(
                "a reservation of this kind is live already{} (one per card and kind): finish it at a kiosk, or cancel it",
                id.as_deref()
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default()
            ),
            details: json!({ "id": id }).as_object().cloned().unwrap_or_default(),
        },
        ResetError::Refused {
            error: Refusal::BirthDateUnknown,
            ..
        }
        | ResetError::BirthDateUnknown => coded(
            exit::BIRTH_DATE_UNKNOWN,
            "birth_date_unknown",
            json!({ "rule": "R7" }),
        ),
        ResetError::Refused {
            error: Refusal::LockedOut,
            ..
        } => coded(exit::LOCKED_OUT, "locked_out", json!({ "rule": "R11" })),
        ResetError::Refused { error, status, .. } => Failure::AuthorityRefused {
            refusal: refusal_name(error),
            message: format!("{error} (status {status})", error = refusal_name(error)),
        },
        ResetError::LockedOut { until, retry_after } => Failure::Coded {
            code: exit::LOCKED_OUT,
            kind: "locked_out",
            message: format!(
                "locked out after too many failed attempts (R11){}",
                match (until, retry_after) {
                    (Some(until), _) => format!(" until {until}"),
                    (None, Some(wait)) => format!(" for {} s", wait.as_secs()),
                    (None, None) => String::new(),
                }
            ),
            details: json!({
                "rule": "R11",
                "until": until,
                "retry_after": retry_after.map(|d| d.as_secs()),
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        },
        ResetError::FaceCheckFailed { attempts_left } => coded(
            exit::FACE_CHECK_FAILED,
            "face_check_failed",
            json!({ "rule": "R2", "attempts_left": attempts_left }),
        ),
        ResetError::NotPhysicalCard { .. } => coded(
            exit::NOT_SUPPORTED,
            "not_a_physical_card",
            json!({ "rule": "R10" }),
        ),
        ResetError::WrongSecretForKind => Failure::Input(error.to_string()),
        ResetError::CheckCodeLastTry => coded(
            exit::LAST_TRY,
            "check_code_last_try",
            json!({ "confirm_with": "--allow-check-code-last-try" }),
        ),
        _ => Failure::Other(error.to_string()),
    }
}

/// The authority's snake_case name of a refusal (`chain_refused`, …).
fn refusal_name(refusal: &Refusal) -> String {
    let debug = format!("{refusal:?}");
    let mut name = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

// ---------------------------------------------------------------------------
// The commands.

/// What `reset reserve` prints.
#[derive(Serialize)]
struct Reserved {
    #[serde(flatten)]
    reservation: ReservationJson,
    /// Card round trips of the one tap.
    tap_round_trips: usize,
    /// Whether a face check ran and passed (R2); `null` for a PIN reset (R3).
    face_check_passed: Option<bool>,
    /// Characters of the card front this reader corrected (R8).
    front_corrections: usize,
}

fn reserve_cmd(app: &AppArgs, args: &ReserveArgs, out: &Output) -> CmdResult {
    let kind = ResetKind::from(args.kind);
    // The other secret first: nothing is sent before it is well formed.
    let other = other_secret(kind)?;
    let phone = Phone::open(app)?;
    let card_path = phone.home.sandbox_card();
    let card = card_state::load_or_create(&card_path).map_err(|e| Failure::Other(e.to_string()))?;
    let sandbox = Sandbox::from_card(card);

    // Standard input is for the other secret, not the front.
    let text = match front_text(args.front_text.as_deref(), false)? {
        Some(text) => text,
        None => Zeroizing::new(sandbox_front_text(sandbox.card().holder())),
    };
    let reading = FrontReading::read(&text);
    let front = reading
        .card_front()
        .map_err(|e| front_failure(&e, Some(front_json(&reading, None))))?;
    let last_try = if args.allow_last_try {
        LastTry::Allow
    } else {
        LastTry::Refuse
    };

    let client = &phone.client;
    let mut tap_round_trips = 0;
    let outcome = pollster::block_on(async {
        let mut flow = client.begin(kind).await?;
        if args.allow_check_code_last_try {
            flow.allow_check_code_last_try();
        }
        let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
        let tapped = client
            .tap(
                &mut flow,
                &mut channel,
                front.check_code(),
                &other,
                last_try,
            )
            .await;
        tap_round_trips = channel.transcript().stats().round_trips;
        tapped?;
        let mut passed = None;
        if kind.needs_face_check() {
            let prompt = client.open_face_check(&mut flow).await?;
            let photo = match flow.chip_photo() {
                Some(Ok(photo)) => photo,
                Some(Err(e)) => {
                    return Err(ResetError::BadAnswer {
                        what: format!("the chip photo does not decode: {e}"),
                    });
                }
                None => {
                    return Err(ResetError::OutOfOrder {
                        step: "the face check",
                        needs: "the tap",
                    });
                }
            };
            let seed = Utc::now().timestamp_subsec_nanos().into();
            let frames = SandboxCamera::new(args.sandbox_face.into(), seed).capture(
                &photo,
                &prompt.actions,
                FRAMES_PER_ACTION,
                client.now(),
            );
            let result = client.submit_capture(&mut flow, frames).await?;
            if !result.passed {
                return Err(ResetError::FaceCheckFailed {
                    attempts_left: result.attempts_left,
                });
            }
            passed = Some(true);
        }
        let kept = client.reserve(&mut flow).await?;
        Ok((kept, passed))
    });
    // Whatever happened, the card keeps what the tap did (a spent try).
    card_state::save(&sandbox.card(), &card_path).map_err(|e| Failure::Other(e.to_string()))?;
    let (kept, passed) = outcome.map_err(|e| reset_failure(&e))?;
    let reserved = Reserved {
        reservation: ReservationJson::from(&kept),
        tap_round_trips,
        face_check_passed: passed,
        front_corrections: front.corrections().len(),
    };
    out.result(&reserved, || {
        let mut lines = vec![format!(
            "one tap: {tap_round_trips} card round trips{}",
            match passed {
                Some(true) => "; face check passed (R2)",
                _ => "; no face check for the 4-digit PIN (R3)",
            }
        )];
        lines.extend(reservation_lines(&kept));
        lines.join("\n")
    });
    Ok(())
}

fn list_cmd(app: &AppArgs, args: &ListArgs, out: &Output) -> CmdResult {
    let phone = Phone::open(app)?;
    let kept = if args.refresh {
        pollster::block_on(phone.client.refresh())
    } else {
        phone.client.reservations()
    }
    .map_err(|e| reset_failure(&e))?;
    let list: Vec<ReservationJson> = kept.iter().map(ReservationJson::from).collect();
    out.result(&list, || {
        if kept.is_empty() {
            return "no reservations kept on this phone".to_owned();
        }
        kept.iter()
            .flat_map(reservation_lines)
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

fn cancel_cmd(app: &AppArgs, args: &CancelArgs, out: &Output) -> CmdResult {
    let phone = Phone::open(app)?;
    let kept = pollster::block_on(phone.client.cancel(&args.id)).map_err(|e| reset_failure(&e))?;
    let value = ReservationJson::from(&kept);
    out.result(&value, || reservation_lines(&kept).join("\n"));
    Ok(())
}
