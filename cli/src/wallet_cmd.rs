//! `mynakit wallet …`: the card-substitute record of issue 9 on the desktop
//! — apply in one tap on the sandbox card (W2–W4), the records kept on this
//! "phone" (`--home`), presentations with selective disclosure (W10), the
//! re-issue without the card (W6), revocation (W7), the issuer's notices
//! (W8, W9).
//!
//! The issuer is a served sandbox (`mynakit sandbox serve`, `--authority
//! URL`). The phone's secure area is the software stand-in under `--home`;
//! its "ask the user before every use" (W10) is a terminal question here
//! ([`TerminalApproval`]), never a silent yes.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use clap::{Args, Subcommand};
use mynakit_core::wallet::mdoc::{DeviceResponse, ElementId, ElementValue};
use mynakit_core::wallet::verifier::{StatusCheck, Verifier, VerifyFailure};
use mynakit_core::wallet::wire::{RecordStatus, RevocationReason};
use mynakit_core::wallet::{
    ApplySecret, ReapplyReason, WalletClient, WalletError, WalletRecord, WalletRefusal,
};
use mynakit_core::{
    AuthorityLink, CardChannel, KenhojoPin, SecureArea, SecureAreaError, SigningPassword,
    SoftwareSecureArea, Store, SystemClock, UserAuthenticator,
};
use mynakit_sandbox::card_state;
use mynakit_sandbox::{LinkSwitches, Sandbox};
use serde::Serialize;
use serde_json::{Value, json};

use crate::CmdResult;
use crate::card_cmd::{PIN_ENV, SIGNING_PASSWORD_ENV};
use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::output::Output;
use crate::secrets::read_secret;

/// How long one request to the issuer may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable the card-info PIN (券面事項入力補助用暗証番号)
/// is read from; else [`PIN_ENV`] (the two are normally the same 4 digits),
/// else standard input or a prompt.
pub const CARD_INFO_PIN_ENV: &str = "MYNAKIT_CARD_INFO_PIN";

/// Set to `yes` to approve every use of the device key without asking
/// (scripts and tests; each approval is still said on standard error).
pub const APPROVE_ENV: &str = "MYNAKIT_WALLET_APPROVE";

/// `mynakit wallet …`.
#[derive(Debug, Args)]
pub struct WalletArgs {
    #[command(flatten)]
    app: WalletAppArgs,
    #[command(subcommand)]
    command: WalletCommand,
}

/// Where the phone keeps its state, which issuer it talks to, how the user
/// approves the device key's uses.
#[derive(Debug, Args)]
pub struct WalletAppArgs {
    /// The issuer: a served sandbox (`mynakit sandbox serve`).
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8470",
        value_name = "URL"
    )]
    pub authority: String,
    /// The phone's state: its store (`phone.db`), software keys, the
    /// virtual card's state. Default: `$XDG_DATA_HOME/mynakit` or
    /// `~/.local/share/mynakit`.
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Approve every use of the device key without asking (the stand-in
    /// for the phone's biometric prompt, W10; each approval is still said
    /// on standard error). Also MYNAKIT_WALLET_APPROVE=yes.
    #[arg(long, global = true)]
    pub yes: bool,
}

/// The wallet commands.
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Apply for a record in one tap of the sandbox card (W2): the
    /// card-info PIN (MYNAKIT_CARD_INFO_PIN, else MYNAKIT_PIN) and the
    /// signing password (MYNAKIT_SIGNING_PASSWORD), else standard input one
    /// per line, or prompts — never arguments. One record in force per
    /// person (W3).
    Apply(ApplyArgs),
    /// The records on this phone, offline: validity in Japan time, status,
    /// uses, why it stopped, a re-issue due.
    Show(ShowArgs),
    /// Ask the issuer for the records' state and notices; re-issue when W6
    /// says so (one approval, no card), or say the card is needed again.
    Refresh,
    /// Present a record (ISO 18013-5 DeviceResponse): only the elements
    /// asked for, signed over the verifier's session transcript (one
    /// approval, W10; the use is counted, W6(3)).
    Present(PresentArgs),
    /// Write a fresh random verifier session transcript (CBOR) to FILE, to
    /// try `present` and `verify` with.
    Transcript(TranscriptArgs),
    /// Verify a presentation as a verifier would: the issuer's signature to
    /// its IACA anchor, every disclosed digest, validity, the device
    /// signature over the transcript, then the status list. The anchor and
    /// the list are fetched from `--authority` unless `--anchor FILE` (and
    /// `--status-list FILE`) or `--offline` say otherwise; without a usable
    /// list the status is "undetermined", never "revoked". Exit 22 the
    /// presentation is not genuine (the JSON's `check` says which check),
    /// 23 outside its validity, 24 revoked, 25 suspended.
    Verify(VerifyArgs),
    /// Revoke a record from this phone for good (W7(2), (3)): one approval.
    Revoke(RecordArgs),
    /// The issuer's notices to this holder and its public notices
    /// (W8, Art. 8); `--offline`: the ones kept from the last fetch.
    Notices(NoticesArgs),
}

/// Options of `wallet apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Spend the card-info PIN's last try if it comes to that.
    #[arg(long)]
    allow_pin_last_try: bool,
    /// Spend the signing password's last try if it comes to that (its own
    /// consent).
    #[arg(long)]
    allow_password_last_try: bool,
}

/// Options of `wallet show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Also print the newest record's elements (personal data: for the
    /// holder's own screen).
    #[arg(long)]
    elements: bool,
}

/// Which record.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The record's id. Default: the newest record not replaced.
    #[arg(long, value_name = "ID")]
    id: Option<String>,
}

/// Options of `wallet present`.
#[derive(Debug, Args)]
pub struct PresentArgs {
    #[command(flatten)]
    record: RecordArgs,
    /// The elements to disclose, comma-separated: `family_name,age_over_18`
    /// or `namespace/identifier`.
    #[arg(long, value_delimiter = ',', required = true)]
    elements: Vec<String>,
    /// The verifier's session transcript (CBOR bytes).
    #[arg(long, value_name = "FILE", conflicts_with = "transcript_new")]
    transcript: Option<PathBuf>,
    /// Make a fresh random transcript, write it here and present over it.
    #[arg(long, value_name = "FILE")]
    transcript_new: Option<PathBuf>,
    /// Where the DeviceResponse (CBOR) goes.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Options of `wallet verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The DeviceResponse (CBOR), as `wallet present --out` wrote it.
    file: PathBuf,
    /// The session transcript the verifier gave (CBOR).
    #[arg(long, value_name = "FILE")]
    transcript: PathBuf,
    /// The issuer's IACA certificate (DER) to trust, instead of fetching
    /// it from `--authority`.
    #[arg(long, value_name = "FILE")]
    anchor: Option<PathBuf>,
    /// The status list token (CWT) to use, instead of fetching it.
    #[arg(long, value_name = "FILE")]
    status_list: Option<PathBuf>,
    /// Fetch nothing: `--anchor` is then required, and without
    /// `--status-list` the status is undetermined.
    #[arg(long)]
    offline: bool,
    /// The verifier's time (RFC 3339). Default: the issuer's clock from its
    /// `Date` header when online (a served sandbox's clock may have been
    /// advanced), else this machine's.
    #[arg(long, value_name = "TIME")]
    at: Option<DateTime<Utc>>,
}

/// Options of `wallet transcript`.
#[derive(Debug, Args)]
pub struct TranscriptArgs {
    /// Where the transcript goes.
    file: PathBuf,
}

/// Options of `wallet notices`.
#[derive(Debug, Args)]
pub struct NoticesArgs {
    /// The notices kept from the last fetch, without asking the issuer.
    #[arg(long)]
    offline: bool,
}

/// Runs a wallet command.
pub fn run(args: WalletArgs, out: &Output) -> CmdResult {
    match &args.command {
        WalletCommand::Transcript(t) => transcript_cmd(t, out),
        WalletCommand::Verify(v) => verify_cmd(&args.app, v, out),
        command => {
            let phone = WalletPhone::open(&args.app)?;
            match command {
                WalletCommand::Apply(apply) => apply_cmd(&phone, apply, out),
                WalletCommand::Show(show) => show_cmd(&phone, show, out),
                WalletCommand::Refresh => refresh_cmd(&phone, out),
                WalletCommand::Present(present) => present_cmd(&phone, present, out),
                WalletCommand::Revoke(record) => revoke_cmd(&phone, record, out),
                WalletCommand::Notices(notices) => notices_cmd(&phone, notices, out),
                WalletCommand::Transcript(t) => transcript_cmd(t, out),
                WalletCommand::Verify(v) => verify_cmd(&args.app, v, out),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The user's approval: the desktop stand-in for the phone's biometric prompt.

/// The desktop's stand-in for the phone's "ask the user before every use"
/// (W10): a `[y/N]` question on the terminal, or — with `--yes` or
/// MYNAKIT_WALLET_APPROVE=yes — an approval said on standard error. Never
/// silent; without a terminal and without `--yes` it refuses
/// (`SecureAreaError::NoUserAuthentication`).
pub struct TerminalApproval {
    assume_yes: bool,
}

impl TerminalApproval {
    /// Approves without asking when `assume_yes`.
    pub fn new(assume_yes: bool) -> Self {
        Self { assume_yes }
    }
}

impl UserAuthenticator for TerminalApproval {
    fn authenticate(&self, alias: &str) -> Result<(), SecureAreaError> {
        if self.assume_yes {
            note!(
                "mynakit: approving this use of the device key {alias} (--yes: the stand-in for the phone's prompt, W10)"
            );
            return Ok(());
        }
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(SecureAreaError::NoUserAuthentication);
        }
        {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "approve this use of the device key {alias}? (W10) [y/N] "
            );
            let _ = err.flush();
        }
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|_| SecureAreaError::UserCancelled)?;
        if matches!(line.trim(), "y" | "Y" | "yes") {
            Ok(())
        } else {
            Err(SecureAreaError::UserCancelled)
        }
    }
}

// ---------------------------------------------------------------------------
// The phone.

/// One phone talking to one issuer, its state under the home directory.
pub struct WalletPhone {
    /// The home directory.
    pub home: Home,
    /// The wallet.
    pub client: WalletClient,
}

impl WalletPhone {
    /// Opens the phone under `app.home`, talking to `app.authority`.
    pub fn open(app: &WalletAppArgs) -> Result<Self, Failure> {
        let assume_yes =
            app.yes || std::env::var(APPROVE_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("yes"));
        let home = Home::open(app.home.as_deref())?;
        let store = Store::open(home.phone_db())
            .map_err(|e| Failure::Other(format!("{}: {e}", home.phone_db().display())))?;
        let secure_area: Arc<dyn SecureArea> = Arc::new(
            SoftwareSecureArea::open(home.software_keys())
                .map_err(|e| Failure::Other(e.to_string()))?
                .with_authenticator(Arc::new(TerminalApproval::new(assume_yes))),
        );
        let link: Arc<dyn AuthorityLink> = Arc::new(
            mynakit_http::HttpAuthorityLink::new(&app.authority, TIMEOUT)
                .map_err(|e| Failure::Input(e.to_string()))?,
        );
        let client = WalletClient::new(
            link,
            Arc::new(store),
            secure_area,
            Arc::new(SystemClock),
            app.authority.trim_end_matches('/'),
        )
        .map_err(|e| wallet_failure(&e))?;
        Ok(Self { home, client })
    }

    /// `id`, else the newest record not replaced.
    fn record_id(&self, id: Option<&str>) -> Result<String, Failure> {
        if let Some(id) = id {
            return Ok(id.to_owned());
        }
        self.client
            .records()
            .map_err(|e| wallet_failure(&e))?
            .into_iter()
            .find(|r| r.replaced_by.is_none())
            .map(|r| r.record_id)
            .ok_or_else(|| Failure::Coded {
                code: exit::BAD_INPUT,
                kind: "no_record",
                message: "no record on this phone: `mynakit wallet apply` first".into(),
                details: serde_json::Map::new(),
            })
    }
}

// ---------------------------------------------------------------------------
// Failures.

/// The snake_case name of a unit enum's Debug name (`RecordInForce` →
/// `record_in_force`).
pub fn snake_debug(value: &impl std::fmt::Debug) -> String {
    let debug = format!("{value:?}");
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

/// The CLI failure for a wallet error (exit codes in [`exit`]).
pub fn wallet_failure(error: &WalletError) -> Failure {
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
        WalletError::Card(e) => Failure::Card(e.clone()),
        WalletError::Authority(e) => crate::kiosk_cmd::authority_failure(e),
        WalletError::Refused { error, status } => Failure::AuthorityRefused {
            refusal: if *error == WalletRefusal::Unknown {
                format!("http_{status}")
            } else {
                snake_debug(error)
            },
            message: format!(
                "the issuer refused: {} (status {status})",
                snake_debug(error)
            ),
        },
        WalletError::RecordInForce { record_id } => Failure::Coded {
            code: exit::RECORD_IN_FORCE,
            kind: "record_in_force",
            message: format!(
                "a record is in force already ({record_id}): one per person (W3); revoke it first"
            ),
            details: json!({ "rule": "W3", "record_id": record_id })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        },
        WalletError::ReapplyWithCard { reason } => coded(
            exit::REAPPLY_WITH_CARD,
            "reapply_with_card",
            json!({ "rule": "W6", "reason": reapply_name(*reason) }),
        ),
        WalletError::RecordNotUsable { status, reason } => Failure::Coded {
            code: exit::RECORD_NOT_USABLE,
            kind: "record_not_usable",
            message: format!(
                "the record cannot be presented: it is {}{}",
                status_name(*status),
                match (status, reason) {
                    (RecordStatus::Suspended, _) =>
                        " (reported lost, W9: it comes back only by a re-issue after recovery)"
                            .to_owned(),
                    (_, Some(reason)) => format!(": {}", reason_words(*reason)),
                    (RecordStatus::Valid, None) => " but not valid yet".to_owned(),
                    _ => String::new(),
                }
            ),
            details: json!({ "status": status, "reason": reason })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        },
        WalletError::NoSuchRecord { .. } => coded(exit::BAD_INPUT, "no_such_record", json!({})),
        WalletError::ElementAbsent { element } => coded(
            exit::BAD_INPUT,
            "element_absent",
            json!({ "element": element }),
        ),
        WalletError::BadTranscript { .. } => coded(exit::BAD_INPUT, "bad_transcript", json!({})),
        WalletError::LastTry { secret } => coded(
            exit::LAST_TRY,
            "last_try_needs_confirmation",
            json!({
                "secret": secret,
                "confirm_with": match secret {
                    ApplySecret::CardInfoPin => "--allow-pin-last-try",
                    ApplySecret::SigningPassword => "--allow-password-last-try",
                },
            }),
        ),
        WalletError::BirthDateUnknown => coded(
            exit::BIRTH_DATE_UNKNOWN,
            "birth_date_unknown",
            json!({ "rule": "W2" }),
        ),
        WalletError::UserAuthenticationNotEnforced => coded(
            exit::NOT_SUPPORTED,
            "user_authentication_not_enforced",
            json!({ "rule": "W10" }),
        ),
        WalletError::SecureArea(
            SecureAreaError::UserCancelled
            | SecureAreaError::UserAuthenticationFailed
            | SecureAreaError::NoUserAuthentication,
        ) => Failure::Coded {
            code: exit::NOT_APPROVED,
            kind: "not_approved",
            message: format!(
                "{error}: the device key is used only with your approval (W10); answer y at the prompt, or pass --yes / {APPROVE_ENV}=yes in scripts"
            ),
            details: json!({ "rule": "W10" })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        },
        WalletError::SecureArea(SecureAreaError::KeyInvalidated { .. }) => coded(
            exit::REAPPLY_WITH_CARD,
            "reapply_with_card",
            json!({ "rule": "W6", "reason": "device_key_invalidated" }),
        ),
        _ => Failure::Other(error.to_string()),
    }
}

fn reapply_name(reason: ReapplyReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Printing records.

/// Japan time (UTC+9, no daylight saving): the time the rules count in (W5).
pub fn jst(at: DateTime<Utc>) -> String {
    match FixedOffset::east_opt(9 * 3600) {
        Some(japan) => at
            .with_timezone(&japan)
            .format("%Y-%m-%d %H:%M JST")
            .to_string(),
        None => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// A record as printed.
#[derive(Serialize)]
struct RecordJson<'a> {
    #[serde(flatten)]
    record: &'a WalletRecord,
    /// `valid_from` in Japan time.
    valid_from_jst: String,
    /// `valid_until` in Japan time (W5).
    valid_until_jst: String,
    /// Whether it is the record in force.
    in_force: bool,
}

impl<'a> From<&'a WalletRecord> for RecordJson<'a> {
    fn from(record: &'a WalletRecord) -> Self {
        Self {
            record,
            valid_from_jst: jst(record.valid_from),
            valid_until_jst: jst(record.valid_until),
            in_force: record.in_force(),
        }
    }
}

fn status_name(status: RecordStatus) -> String {
    crate::reset_cmd::snake(&status)
}

fn reason_words(reason: RevocationReason) -> String {
    format!("{} ({})", crate::reset_cmd::snake(&reason), reason.rule())
}

/// One record for people.
pub fn record_lines(record: &WalletRecord) -> Vec<String> {
    let mut lines = vec![
        format!(
            "record {}{}",
            record.record_id,
            if record.in_force() { " (in force)" } else { "" }
        ),
        format!(
            "  {}; valid {} – {} (W5)",
            status_name(record.status),
            jst(record.valid_from),
            jst(record.valid_until)
        ),
        format!("  uses: {} (W6(3))", record.uses),
    ];
    if let Some(reason) = record.revocation_reason {
        lines.push(format!("  stopped: {}", reason_words(reason)));
    }
    if let Some(by) = &record.replaced_by {
        lines.push(format!("  replaced by {by}"));
    }
    if let Some(due) = record.reissue_due {
        lines.push(format!(
            "  re-issue due: {} ({}) — `mynakit wallet refresh`",
            crate::reset_cmd::snake(&due),
            due.rule()
        ));
    }
    lines.push(format!(
        "  re-issue without the card possible until {} (the signing certificate, W6)",
        jst(record.signing_certificate_not_after)
    ));
    lines
}

fn records_human(records: &[WalletRecord]) -> String {
    if records.is_empty() {
        return "no records on this phone".to_owned();
    }
    records
        .iter()
        .flat_map(record_lines)
        .collect::<Vec<_>>()
        .join("\n")
}

/// An element's value as JSON and text (the portrait: its size only).
fn element_value(value: &ElementValue) -> (Value, String) {
    match value {
        ElementValue::Text(t) => (json!(t), t.clone()),
        ElementValue::Bytes(b) => (json!({ "bytes": b.len() }), format!("<{} bytes>", b.len())),
        ElementValue::Unsigned(n) => (json!(n), n.to_string()),
        ElementValue::Bool(b) => (json!(b), b.to_string()),
        ElementValue::FullDate(d) => (json!(d.to_string()), d.to_string()),
        ElementValue::Other(b) => (
            json!({ "cbor_bytes": b.len() }),
            format!("<{} bytes of CBOR>", b.len()),
        ),
    }
}

// ---------------------------------------------------------------------------
// The commands.

/// What `wallet apply` prints.
#[derive(Serialize)]
struct Applied<'a> {
    #[serde(flatten)]
    record: RecordJson<'a>,
    /// Card round trips of the one tap.
    tap_round_trips: usize,
    /// The device key's security level, as the platform reported it.
    security_level: String,
}

fn card_info_pin() -> Result<KenhojoPin, Failure> {
    let text = match std::env::var(CARD_INFO_PIN_ENV) {
        Ok(value) => zeroize::Zeroizing::new(value),
        Err(_) => read_secret(PIN_ENV, "card-info PIN (4 digits): ").map_err(Failure::Input)?,
    };
    KenhojoPin::new(&text).map_err(|e| Failure::Input(e.to_string()))
}

fn apply_cmd(phone: &WalletPhone, args: &ApplyArgs, out: &Output) -> CmdResult {
    // Both secrets first: nothing is sent before they are well formed.
    let pin = card_info_pin()?;
    let password = read_secret(SIGNING_PASSWORD_ENV, "signing password: ")
        .map_err(Failure::Input)
        .and_then(|p| SigningPassword::new(&p).map_err(|e| Failure::Input(e.to_string())))?;
    let card_path = phone.home.sandbox_card();
    let card = card_state::load_or_create(&card_path).map_err(|e| Failure::Other(e.to_string()))?;
    let sandbox = Sandbox::from_card(card);
    let client = &phone.client;
    let mut tap_round_trips = 0;
    let mut security_level = String::new();
    let outcome = pollster::block_on(async {
        let mut application = client.begin_application().await?;
        if args.allow_pin_last_try {
            application.allow_last_try(ApplySecret::CardInfoPin);
        }
        if args.allow_password_last_try {
            application.allow_last_try(ApplySecret::SigningPassword);
        }
        security_level = crate::reset_cmd::snake(&application.device_key().security_level);
        let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
        let tapped = client
            .tap(&mut application, &mut channel, &pin, &password)
            .await;
        tap_round_trips = channel.transcript().stats().round_trips;
        tapped?;
        client.submit_application(&mut application).await
    });
    // Whatever happened, the card keeps what the tap did (a spent try).
    card_state::save(&sandbox.card(), &card_path).map_err(|e| Failure::Other(e.to_string()))?;
    let record = outcome.map_err(|e| wallet_failure(&e))?;
    let applied = Applied {
        record: RecordJson::from(&record),
        tap_round_trips,
        security_level,
    };
    out.result(&applied, || {
        let mut lines = vec![format!(
            "one tap: {tap_round_trips} card round trips; device key: {} (W1)",
            applied.security_level
        )];
        lines.extend(record_lines(&record));
        lines.join("\n")
    });
    Ok(())
}

fn show_cmd(phone: &WalletPhone, args: &ShowArgs, out: &Output) -> CmdResult {
    let records = phone.client.records().map_err(|e| wallet_failure(&e))?;
    let mut elements = Vec::new();
    if args.elements
        && let Some(record) = records.iter().find(|r| r.replaced_by.is_none())
    {
        elements = pollster::block_on(phone.client.record_elements(&record.record_id))
            .map_err(|e| wallet_failure(&e))?;
    }
    let list: Vec<RecordJson<'_>> = records.iter().map(RecordJson::from).collect();
    let value = if args.elements {
        let map: serde_json::Map<String, Value> = elements
            .iter()
            .map(|(id, v)| (id.to_string(), element_value(v).0))
            .collect();
        json!({ "records": list, "elements": map })
    } else {
        json!({ "records": list })
    };
    out.result(&value, || {
        let mut text = records_human(&records);
        for (id, v) in &elements {
            text.push_str(&format!("\n  {id}: {}", element_value(v).1));
        }
        text
    });
    Ok(())
}

fn refresh_cmd(phone: &WalletPhone, out: &Output) -> CmdResult {
    let report = pollster::block_on(phone.client.refresh()).map_err(|e| wallet_failure(&e))?;
    let list: Vec<RecordJson<'_>> = report.records.iter().map(RecordJson::from).collect();
    let value = json!({
        "records": list,
        "reissued": report.reissued,
        "reapply": report.reapply,
        "notices": report.notices,
    });
    out.result(&value, || {
        let mut lines = Vec::new();
        if let Some(r) = &report.reissued {
            lines.push(format!(
                "re-issued ({}, {}): {} replaces {}",
                crate::reset_cmd::snake(&r.reason),
                r.reason.rule(),
                r.new_record_id,
                r.old_record_id
            ));
        }
        if let Some(reason) = report.reapply {
            lines.push(format!(
                "apply again with the card: {} (W6)",
                reapply_name(reason)
            ));
        }
        lines.push(records_human(&report.records));
        lines.extend(report.notices.iter().map(notice_line));
        lines.join("\n")
    });
    if let Some(reason) = report.reapply {
        return Err(wallet_failure(&WalletError::ReapplyWithCard { reason }));
    }
    Ok(())
}

/// A fresh verifier session transcript: the CBOR array `[null, null,
/// h'32 random bytes']` — no device engagement or reader key (no proximity
/// session on the desktop) and a random handover, so each transcript is
/// unique. A stand-in for ISO 18013-5's SessionTranscript, not one a real
/// reader makes.
pub fn fresh_transcript() -> Result<Vec<u8>, Failure> {
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).map_err(|e| Failure::Other(format!("no randomness: {e}")))?;
    let mut cbor = vec![0x83, 0xf6, 0xf6, 0x58, 0x20];
    cbor.extend_from_slice(&nonce);
    Ok(cbor)
}

fn transcript_cmd(args: &TranscriptArgs, out: &Output) -> CmdResult {
    let transcript = fresh_transcript()?;
    write_file(&args.file, &transcript)?;
    let value = json!({ "file": args.file, "bytes": transcript.len() });
    out.result(&value, || {
        format!(
            "a fresh verifier transcript ({} bytes of CBOR) in {}",
            transcript.len(),
            args.file.display()
        )
    });
    Ok(())
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure::Other(format!("{}: {e}", path.display())))
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))
}

fn present_cmd(phone: &WalletPhone, args: &PresentArgs, out: &Output) -> CmdResult {
    let elements = args
        .elements
        .iter()
        .map(|e| ElementId::parse(e.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::Input(e.to_string()))?;
    let transcript = match (&args.transcript, &args.transcript_new) {
        (Some(path), _) => read_file(path)?,
        (None, Some(path)) => {
            let transcript = fresh_transcript()?;
            write_file(path, &transcript)?;
            transcript
        }
        (None, None) => {
            return Err(Failure::Input(
                "give the verifier's --transcript FILE, or --transcript-new FILE".into(),
            ));
        }
    };
    let id = phone.record_id(args.record.id.as_deref())?;
    let response = pollster::block_on(phone.client.present(&id, &elements, &transcript))
        .map_err(|e| wallet_failure(&e))?;
    write_file(&args.out, &response)?;
    let names: Vec<String> = elements.iter().map(ToString::to_string).collect();
    let value = json!({
        "record_id": id,
        "elements": names,
        "out": args.out,
        "bytes": response.len(),
    });
    out.result(&value, || {
        format!(
            "presented {} element(s) of {id}: {} bytes in {}",
            names.len(),
            response.len(),
            args.out.display()
        )
    });
    Ok(())
}

/// A GET to `uri` (absolute) or `path` under `base`: the body and the
/// answer's `Date`.
fn fetch(base: &str, path: &str) -> Result<(Vec<u8>, Option<DateTime<Utc>>), Failure> {
    let link = mynakit_http::HttpAuthorityLink::new(base, TIMEOUT)
        .map_err(|e| Failure::Input(format!("{base}: {e}")))?;
    let answer =
        pollster::block_on(link.send(mynakit_core::AuthorityRequest::get(path))).map_err(|e| {
            Failure::AuthorityUnavailable {
                message: format!("{base}{path}: {e}"),
                retry_after: None,
            }
        })?;
    if answer.status != 200 {
        return Err(Failure::AuthorityUnavailable {
            message: format!("{base}{path}: status {}", answer.status),
            retry_after: answer
                .header("Retry-After")
                .and_then(|v| v.trim().parse().ok()),
        });
    }
    let date = answer
        .header("Date")
        .and_then(mynakit_core::parse_http_date);
    Ok((answer.body, date))
}

/// `http(s)://host[:port]` and the path of an absolute URI.
fn split_uri(uri: &str) -> Option<(String, String)> {
    let scheme = if uri.starts_with("https://") {
        "https://"
    } else if uri.starts_with("http://") {
        "http://"
    } else {
        return None;
    };
    let rest = uri.strip_prefix(scheme)?;
    let slash = rest.find('/')?;
    Some((
        format!("{scheme}{}", rest.get(..slash)?),
        rest.get(slash..)?.to_owned(),
    ))
}

/// The exit code, kind and failed check of a verification failure.
fn verify_failure(failure: &VerifyFailure) -> Failure {
    let (code, check) = match failure {
        VerifyFailure::Malformed(_) => (exit::PRESENTATION_INVALID, "malformed"),
        VerifyFailure::NoDocument { .. } => (exit::PRESENTATION_INVALID, "no_document"),
        VerifyFailure::DocType(_) => (exit::PRESENTATION_INVALID, "doc_type"),
        VerifyFailure::UntrustedIssuer(_) => (exit::PRESENTATION_INVALID, "untrusted_issuer"),
        VerifyFailure::IssuerSignature => (exit::PRESENTATION_INVALID, "issuer_signature"),
        VerifyFailure::DigestMismatch { .. } => (exit::PRESENTATION_INVALID, "digest_mismatch"),
        VerifyFailure::DeviceSignature => (exit::PRESENTATION_INVALID, "device_signature"),
        VerifyFailure::UnknownStatus(_) => (exit::PRESENTATION_INVALID, "unknown_status"),
        VerifyFailure::NotYetValid => (exit::PRESENTATION_OUTSIDE_VALIDITY, "not_yet_valid"),
        VerifyFailure::Expired => (exit::PRESENTATION_OUTSIDE_VALIDITY, "expired"),
        VerifyFailure::Revoked => (exit::PRESENTATION_REVOKED, "revoked"),
        VerifyFailure::Suspended => (exit::PRESENTATION_SUSPENDED, "suspended"),
    };
    Failure::Coded {
        code,
        kind: "presentation_refused",
        message: format!("verification failed at {check}: {failure}"),
        details: json!({ "check": check })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }
}

fn verify_cmd(app: &WalletAppArgs, args: &VerifyArgs, out: &Output) -> CmdResult {
    let response = read_file(&args.file)?;
    let transcript = read_file(&args.transcript)?;
    let base = app.authority.trim_end_matches('/');
    let mut issuer_time = None;
    let anchor = match (&args.anchor, args.offline) {
        (Some(path), _) => read_file(path)?,
        (None, true) => {
            return Err(Failure::Input(
                "--offline needs the issuer's IACA certificate: --anchor FILE".into(),
            ));
        }
        (None, false) => {
            let (der, date) = fetch(base, "/v1/wallet/iaca")?;
            issuer_time = date;
            der
        }
    };
    // The list named by the disclosed record's MSO (absent or unparsable:
    // the verifier says why, as "undetermined").
    let status_uri = DeviceResponse::from_cbor(&response)
        .ok()
        .and_then(|r| r.documents.into_iter().next())
        .and_then(|d| d.issuer_signed.mso().status.clone())
        .map(|s| s.uri);
    let mut list_note = None;
    let status_list = match (&args.status_list, args.offline, &status_uri) {
        (Some(path), _, _) => Some(read_file(path)?),
        (None, true, _) => {
            list_note = Some("offline: no status list fetched".to_owned());
            None
        }
        (None, false, None) => None,
        (None, false, Some(uri)) => match split_uri(uri) {
            Some((origin, path)) => match fetch(&origin, &path) {
                Ok((token, date)) => {
                    issuer_time = issuer_time.or(date);
                    Some(token)
                }
                Err(e) => {
                    list_note = Some(format!(
                        "the status list could not be fetched: {}",
                        e.message()
                    ));
                    None
                }
            },
            None => {
                list_note = Some(format!("{uri}: not an http(s) URI"));
                None
            }
        },
    };
    let now = args.at.or(issuer_time).unwrap_or_else(Utc::now);
    let verified = Verifier::new(vec![anchor])
        .verify(&response, &transcript, now, status_list.as_deref())
        .map_err(|e| verify_failure(&e))?;
    let (status, reason) = match &verified.status {
        StatusCheck::Valid => ("valid", None),
        StatusCheck::Undetermined { reason } => (
            "undetermined",
            Some(
                list_note
                    .clone()
                    .map_or_else(|| reason.clone(), |n| format!("{n}; {reason}")),
            ),
        ),
    };
    let elements: serde_json::Map<String, Value> = verified
        .elements
        .iter()
        .map(|(id, v)| (id.to_string(), element_value(v).0))
        .collect();
    let value = json!({
        "doc_type": verified.doc_type,
        "status": status,
        "status_reason": reason,
        "valid_from": verified.valid_from,
        "valid_until": verified.valid_until,
        "verified_at": now,
        "elements": elements,
    });
    out.result(&value, || {
        let mut lines = vec![format!(
            "genuine: issuer signature to the anchor, digests, device signature over the transcript; valid {} – {}",
            jst(verified.valid_from),
            jst(verified.valid_until)
        )];
        lines.push(match &reason {
            None => "status: valid (the issuer's signed list)".to_owned(),
            Some(reason) => format!("status: undetermined — {reason} (not revoked as far as this verifier knows)"),
        });
        for (id, v) in &verified.elements {
            lines.push(format!("  {id}: {}", element_value(v).1));
        }
        lines.join("\n")
    });
    Ok(())
}

fn revoke_cmd(phone: &WalletPhone, args: &RecordArgs, out: &Output) -> CmdResult {
    let id = phone.record_id(args.id.as_deref())?;
    let record = pollster::block_on(phone.client.revoke(&id)).map_err(|e| wallet_failure(&e))?;
    out.result(&RecordJson::from(&record), || {
        record_lines(&record).join("\n")
    });
    Ok(())
}

fn notice_line(notice: &mynakit_core::wallet::wire::Notice) -> String {
    let kind = serde_json::to_value(notice.kind).unwrap_or(Value::Null);
    let what = kind.get("kind").and_then(Value::as_str).unwrap_or("notice");
    let why = kind
        .get("reason")
        .and_then(Value::as_str)
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "notice {}: record {} {what}{why}",
        jst(notice.at),
        notice.record_id
    )
}

fn notices_cmd(phone: &WalletPhone, args: &NoticesArgs, out: &Output) -> CmdResult {
    if args.offline {
        let kept = phone
            .client
            .kept_notices()
            .map_err(|e| wallet_failure(&e))?;
        let value = json!({ "holder": kept });
        out.result(&value, || {
            if kept.is_empty() {
                "no notices kept".to_owned()
            } else {
                kept.iter().map(notice_line).collect::<Vec<_>>().join("\n")
            }
        });
        return Ok(());
    }
    let notices = pollster::block_on(phone.client.notices()).map_err(|e| wallet_failure(&e))?;
    out.result(&notices, || {
        let mut lines: Vec<String> = notices.holder.iter().map(notice_line).collect();
        for public in &notices.public {
            lines.push(format!(
                "public notice {}: {} record(s) revoked ({}): {}",
                jst(public.at),
                public.records,
                crate::reset_cmd::snake(&public.reason),
                public.text
            ));
        }
        if lines.is_empty() {
            "no notices".to_owned()
        } else {
            lines.join("\n")
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japan_time_is_nine_hours_ahead() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T15:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(jst(at), "2026-12-01 00:30 JST");
    }

    #[test]
    fn transcripts_are_cbor_and_fresh() {
        let a = fresh_transcript().unwrap();
        let b = fresh_transcript().unwrap();
        assert_eq!(a.len(), 37);
        assert_eq!(a.get(..5), Some(&[0x83, 0xf6, 0xf6, 0x58, 0x20][..]));
        assert_ne!(a, b);
    }

    #[test]
    fn refusals_get_their_wire_names_and_codes() {
        let f = wallet_failure(&WalletError::Refused {
            error: WalletRefusal::RecordSuspended,
            status: 409,
        });
        assert_eq!(f.to_json()["error"]["refusal"], "record_suspended");
        assert_eq!(f.exit_code(), exit::AUTHORITY_REFUSED);
        let f = wallet_failure(&WalletError::RecordInForce {
            record_id: "ab".into(),
        });
        assert_eq!(f.exit_code(), exit::RECORD_IN_FORCE);
        assert_eq!(f.to_json()["error"]["record_id"], "ab");
        let f = wallet_failure(&WalletError::SecureArea(SecureAreaError::UserCancelled));
        assert_eq!(f.exit_code(), exit::NOT_APPROVED);
    }

    #[test]
    fn approval_with_yes_never_asks() {
        assert!(TerminalApproval::new(true).authenticate("k").is_ok());
    }
}
