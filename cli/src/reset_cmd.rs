//! `mynakit reset …`: the PIN-reset app of issue 8 on the desktop — the
//! card front (R7, R8), the reservation (one tap, a face check for the
//! signing password, R1–R6), the kept reservations, cancelling.
//!
//! The phone's state lives under `--home` ([`crate::home`]); the authority
//! is a served sandbox (`--authority URL`) or, by default, an in-process
//! sandbox authority on `<home>/sandbox-authority.db`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use mynakit_core::reset::{CardFront, FrontError, FrontField, FrontReading};
use serde::Serialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::CmdResult;
use crate::failure::{Failure, exit};
use crate::output::Output;

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
        ResetCommand::Reserve(_) | ResetCommand::List(_) | ResetCommand::Cancel(_) => {
            Err(Failure::Unsupported(
                "reset reserve, list and cancel need the phone's reset client (not in this build yet)"
                    .into(),
            ))
        }
    }
}

/// The card-front text: the argument, else the environment, else all of
/// standard input (not a terminal).
pub fn front_text(argument: Option<&str>) -> Result<Option<Zeroizing<String>>, Failure> {
    if let Some(text) = argument {
        return Ok(Some(Zeroizing::new(text.to_owned())));
    }
    if let Ok(text) = std::env::var(FRONT_ENV) {
        return Ok(Some(Zeroizing::new(text)));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
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
    let text = front_text(args.text.as_deref())?.ok_or_else(|| {
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
