//! `mynakit sandbox kiosk`: a store's kiosk finishing a PIN reset (issue 8,
//! R1, R4–R6) with the sandbox card. It looks up the card's live
//! reservation, has the card check the other secret and take the new one,
//! then confirms the redemption — with the authority served
//! (`--authority URL`) or in process (its store in
//! `<home>/sandbox-authority.db`, shared with `mynakit reset …`).
//!
//! The card is the sandbox card whose state lives in
//! `<home>/sandbox-card.json` (`mynakit_sandbox::card_state`): whatever the
//! kiosk did to it (a new secret, a spent try) is saved before the command
//! ends, so the next command sees the same card.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use mynakit_core::layout::{Application, jpki};
use mynakit_core::{
    AuthPin, AuthorityError, AuthorityLink, CardError, CardSecret, IdempotencyKey, SigningPassword,
};
use mynakit_sandbox::KioskResetError;
use mynakit_sandbox::card_state::{self, CardStateError};
use mynakit_sandbox::reset::{
    InProcessLink, Kiosk, KioskError, Reservation, ResetAuthority, ResetError, ResetKind,
    SandboxClock, StoreChain,
};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::CmdResult;
use crate::card_cmd::{PIN_ENV, SIGNING_PASSWORD_ENV};
use crate::failure::Failure;
use crate::output::Output;
use crate::secrets::read_secret;

/// The in-process sandbox authority's store in the home directory (the
/// same file `mynakit reset …` uses, so successive commands talk to one
/// authority).
pub const AUTHORITY_DB: &str = "sandbox-authority.db";
/// The new 4-digit PIN of a PIN reset.
pub const NEW_PIN_ENV: &str = "MYNAKIT_NEW_PIN";
/// The new signing password of a signing-password reset.
pub const NEW_SIGNING_PASSWORD_ENV: &str = "MYNAKIT_NEW_SIGNING_PASSWORD";
/// How long a request to a served authority may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A store chain with reset kiosks (R6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Chain {
    /// Seven-Eleven: both kinds.
    SevenEleven,
    /// AEON Retail (Honshu/Shikoku): both kinds.
    AeonRetail,
    /// AEON Hokkaido (some stores): both kinds.
    AeonHokkaido,
    /// AEON Tohoku (some stores): both kinds.
    AeonTohoku,
    /// Fuji (some stores): both kinds.
    Fuji,
    /// Lawson: the signing password only.
    Lawson,
    /// FamilyMart: the signing password only.
    FamilyMart,
    /// Ministop: the signing password only.
    Ministop,
    /// Daiei (some stores): the signing password only.
    Daiei,
}

impl From<Chain> for StoreChain {
    fn from(chain: Chain) -> Self {
        match chain {
            Chain::SevenEleven => Self::SevenEleven,
            Chain::AeonRetail => Self::AeonRetail,
            Chain::AeonHokkaido => Self::AeonHokkaido,
            Chain::AeonTohoku => Self::AeonTohoku,
            Chain::Fuji => Self::Fuji,
            Chain::Lawson => Self::Lawson,
            Chain::FamilyMart => Self::FamilyMart,
            Chain::Ministop => Self::Ministop,
            Chain::Daiei => Self::Daiei,
        }
    }
}

/// What the kiosk resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The signing password (the 4-digit PIN is the other secret, R4).
    SigningPassword,
    /// The 4-digit user-authentication PIN (the signing password is the other secret).
    AuthPin,
}

impl From<Kind> for ResetKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::SigningPassword => Self::SigningPassword,
            Kind::AuthPin => Self::AuthPin,
        }
    }
}

/// Options of `sandbox kiosk`.
#[derive(Debug, Args)]
pub struct KioskArgs {
    /// The kiosk's store chain (R6: a 4-digit PIN only at seven-eleven,
    /// aeon-retail, aeon-hokkaido, aeon-tohoku and fuji).
    #[arg(long, value_enum)]
    chain: Chain,
    /// What to reset.
    #[arg(long, value_enum)]
    kind: Kind,
    /// A served authority (`mynakit sandbox serve`); default: the
    /// in-process sandbox authority whose store is
    /// `<home>/sandbox-authority.db`.
    #[arg(long, value_name = "URL")]
    authority: Option<String>,
    /// Where the sandbox card's state (`sandbox-card.json`) and the
    /// in-process authority's store live; default: `$XDG_DATA_HOME/mynakit`
    /// or `~/.local/share/mynakit`.
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Spend the other secret's last try (otherwise refused, exit 6: a wrong
    /// entry would block both secrets, and only the municipal office helps).
    #[arg(long)]
    allow_last_try: bool,
}

/// The home directory: `--home`, else `$XDG_DATA_HOME/mynakit`, else
/// `$HOME/.local/share/mynakit`.
pub fn home_dir(given: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(dir) = given {
        return Ok(dir.to_path_buf());
    }
    // The XDG base directory spec: a relative value is to be ignored.
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from)
        && data.is_absolute()
    {
        return Ok(data.join("mynakit"));
    }
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if home.is_absolute() => Ok(home.join(".local/share/mynakit")),
        _ => Err(Failure::Input(
            "no home directory: give --home DIR (or set XDG_DATA_HOME or HOME)".into(),
        )),
    }
}

/// What `sandbox kiosk` prints.
#[derive(Serialize)]
struct Redeemed<'a> {
    /// The redeemed reservation.
    reservation: &'a Reservation,
    /// The file holding the sandbox card's state.
    card_state: &'a Path,
}

/// Runs `sandbox kiosk`.
pub fn run(args: &KioskArgs, out: &Output) -> CmdResult {
    let kind = ResetKind::from(args.kind);
    let chain = StoreChain::from(args.chain);
    // Both secrets, format-checked, before the card or the authority is touched.
    let (other, new) = read_secrets(kind)?;
    let home = home_dir(args.home.as_deref())?;
    let card_path = card_state::path_in(&home);
    let mut card = card_state::load_or_create(&card_path).map_err(card_state_failure)?;
    let other_file = match kind {
        ResetKind::SigningPassword => jpki::AUTH_PIN,
        ResetKind::AuthPin => jpki::SIGNING_PIN,
    };
    if card.tries_left(Application::Jpki, other_file) == Some(1) && !args.allow_last_try {
        return Err(Failure::Card(CardError::LastTryNeedsConfirmation));
    }
    let link: Arc<dyn AuthorityLink> = match &args.authority {
        Some(url) => Arc::new(
            mynakit_http::HttpAuthorityLink::new(url, TIMEOUT)
                .map_err(|e| Failure::Input(e.to_string()))?,
        ),
        None => {
            let path = home.join(AUTHORITY_DB);
            let authority = ResetAuthority::open(&path, Arc::new(SandboxClock::new()))
                .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
            Arc::new(InProcessLink::new(Arc::new(authority)))
        }
    };
    let key = IdempotencyKey::generate().map_err(|e| Failure::Other(e.to_string()))?;
    let outcome = pollster::block_on(Kiosk::new(link, chain).redeem(
        &mut card,
        kind,
        other.as_str(),
        new.as_str(),
        &key,
    ));
    // Whatever happened, the card keeps what it did (a new secret, a spent try).
    card_state::save(&card, &card_path).map_err(card_state_failure)?;
    let reservation = outcome.map_err(kiosk_failure)?;
    let redeemed = Redeemed {
        reservation: &reservation,
        card_state: &card_path,
    };
    out.result(&redeemed, || {
        let what = match kind {
            ResetKind::SigningPassword => "signing password",
            ResetKind::AuthPin => "4-digit PIN",
        };
        format!(
            "the card's {what} is reset (reservation {}, redeemed at {})\nthe sandbox card's state: {}",
            reservation.id,
            chain_name(chain),
            card_path.display()
        )
    });
    Ok(())
}

/// The other secret (R4) and the new one, as VERIFY sends them.
fn read_secrets(kind: ResetKind) -> Result<(Zeroizing<String>, Zeroizing<String>), Failure> {
    let input = |e: mynakit_core::PinFormatError| Failure::Input(e.to_string());
    let (other, new) = match kind {
        ResetKind::SigningPassword => {
            let other = read_secret(PIN_ENV, "4-digit PIN: ").map_err(Failure::Input)?;
            let other = AuthPin::new(&other).map_err(input)?;
            let new = read_secret(NEW_SIGNING_PASSWORD_ENV, "New signing password: ")
                .map_err(Failure::Input)?;
            let new = SigningPassword::new(&new).map_err(input)?;
            (text(&other), text(&new))
        }
        ResetKind::AuthPin => {
            let other =
                read_secret(SIGNING_PASSWORD_ENV, "Signing password: ").map_err(Failure::Input)?;
            let other = SigningPassword::new(&other).map_err(input)?;
            let new = read_secret(NEW_PIN_ENV, "New 4-digit PIN: ").map_err(Failure::Input)?;
            let new = AuthPin::new(&new).map_err(input)?;
            (text(&other), text(&new))
        }
    };
    Ok((other?, new?))
}

/// A checked secret's bytes as text (they are ASCII by their format).
fn text(secret: &dyn CardSecret) -> Result<Zeroizing<String>, Failure> {
    std::str::from_utf8(secret.verify_data())
        .map(|s| Zeroizing::new(s.to_owned()))
        .map_err(|_| Failure::Input("a secret that is not ASCII".into()))
}

fn chain_name(chain: StoreChain) -> String {
    Chain::value_variants()
        .iter()
        .find(|c| StoreChain::from(**c) == chain)
        .and_then(|c| c.to_possible_value())
        .map_or_else(|| format!("{chain:?}"), |v| v.get_name().to_owned())
}

fn card_state_failure(e: CardStateError) -> Failure {
    match e {
        CardStateError::Malformed { .. } | CardStateError::OtherCard { .. } => Failure::Input(
            format!("{e} (delete it to start from a fresh sandbox card)"),
        ),
        CardStateError::Io { .. } | CardStateError::Card(_) => Failure::Other(e.to_string()),
    }
}

/// The authority's refusal kind (`reservation_expired`, …).
fn refusal_kind(error: &ResetError) -> String {
    serde_json::to_value(error)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "refused".to_owned())
}

/// Maps an authority error to the CLI's failures (exit 12 or 13).
pub fn authority_failure(error: &AuthorityError) -> Failure {
    match error {
        AuthorityError::Refused(response) => Failure::AuthorityRefused {
            refusal: format!("http_{}", response.status),
            message: error.to_string(),
        },
        other => Failure::AuthorityUnavailable {
            message: other.to_string(),
            retry_after: other.retry_after().map(|d| d.as_secs()),
        },
    }
}

fn kiosk_failure(error: KioskError) -> Failure {
    match error {
        KioskError::Authority(refusal) => Failure::AuthorityRefused {
            refusal: refusal_kind(&refusal),
            message: refusal.to_string(),
        },
        KioskError::Link(e) => authority_failure(&e),
        KioskError::BadAnswer { .. } | KioskError::Random(_) => Failure::Other(error.to_string()),
        KioskError::Unconfirmed {
            reservation_id,
            cause,
        } => {
            let prefix = format!(
                "the card took the new secret, but the redemption of {reservation_id} was not confirmed (run the same command again)"
            );
            match kiosk_failure(*cause) {
                Failure::AuthorityUnavailable {
                    message,
                    retry_after,
                } => Failure::AuthorityUnavailable {
                    message: format!("{prefix}: {message}"),
                    retry_after,
                },
                Failure::AuthorityRefused { refusal, message } => Failure::AuthorityRefused {
                    refusal,
                    message: format!("{prefix}: {message}"),
                },
                other => Failure::Other(format!("{prefix}: {}", other.message())),
            }
        }
        // The card refused: its tries as the card commands report them.
        KioskError::Card(KioskResetError::WrongOtherSecret { tries_left }) => {
            Failure::Card(CardError::WrongPin { tries_left })
        }
        KioskError::Card(KioskResetError::OtherSecretBlocked) => {
            Failure::Card(CardError::PinBlocked)
        }
        KioskError::Card(KioskResetError::BadNewSecret) => Failure::Input(error.to_string()),
        KioskError::Card(KioskResetError::NoSuchSecret) | KioskError::NoSigningCertificate => {
            Failure::Unsupported(error.to_string())
        }
    }
}
