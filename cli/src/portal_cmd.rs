//! `mynakit portal …`: the Mynaportal-style app of issue 10 on the desktop —
//! the card login (P2: the authentication key and the 4-digit PIN, one
//! tap), the terms (P7), the health-insurance registration (P1, P3, §6),
//! the certificate's standing, consents for the self-information API (S1)
//! and agents (P5).
//!
//! The phone is `mynakit_core::portal::PortalClient`; its store and
//! software secure area live under `--home` (as the wallet's), the portal is
//! a served sandbox (`mynakit sandbox serve`, `--authority URL`). The card is
//! the sandbox card of `<home>/sandbox-card.json` (its PIN counter
//! survives), or a PC/SC reader with `--reader pcsc[:NAME]`. The logic is in
//! the core: these commands only read arguments and print answers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use mynakit_core::portal::wire::{
    Agency, AgentGrant, AgentScope, CertificateStanding, CertificateState, Consent, ConsentRequest,
    DataItem, InsuranceStatus, ReleaseReason, TermsState,
};
use mynakit_core::portal::{PortalClient, PortalError, PortalRefusal, Session};
use mynakit_core::{
    AuthPin, AuthorityError, AuthorityLink, CardChannel, CardTransport, LastTry, SecureArea,
    SoftwareSecureArea, Store, SystemClock,
};
use mynakit_sandbox::{Sandbox, card_state};
use serde::Serialize;
use serde_json::{Value, json};

use crate::CmdResult;
use crate::card_cmd::PIN_ENV;
use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::output::Output;
use crate::reader::ReaderArgs;
use crate::secrets::read_secret;
use crate::wallet_cmd::jst;

/// How long one request to the portal may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable an agent's invitation code is read from (else
/// standard input, else a prompt; never an argument: it is a one-time
/// secret).
pub const INVITATION_CODE_ENV: &str = "MYNAKIT_INVITATION_CODE";

/// `mynakit portal …`.
#[derive(Debug, Args)]
pub struct PortalArgs {
    #[command(flatten)]
    app: PortalAppArgs,
    #[command(subcommand)]
    command: PortalCommand,
}

/// Where the phone keeps its state, which portal it talks to, for whom.
#[derive(Debug, Args)]
pub struct PortalAppArgs {
    /// The portal: a served sandbox (`mynakit sandbox serve`). Its URL is
    /// also the issuer the ID token must name.
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
    /// Act as the agent of the holder who granted GRANT (P5): the call
    /// carries `On-Behalf-Of` and the portal checks the grant's scope.
    #[arg(long, global = true, value_name = "GRANT")]
    pub on_behalf_of: Option<String>,
}

/// The portal commands.
#[derive(Debug, Subcommand)]
pub enum PortalCommand {
    /// Log in with the card (P2): one tap reads the user-authentication
    /// certificate, verifies the 4-digit PIN (MYNAKIT_PIN, else standard
    /// input, else a prompt — never an argument) and signs the portal's
    /// challenge with the authentication key. The session is kept sealed on
    /// this phone; the certificate is not.
    Login(LoginArgs),
    /// Forget the session on this phone.
    Logout,
    /// The session kept on this phone (offline): subject, token expiries,
    /// the certificate's standing.
    Session,
    /// The terms in force and this holder's agreement (P7); `--accept
    /// VERSION` agrees to the version shown.
    Terms(TermsArgs),
    /// The health-insurance registration (P1, P3, §6).
    #[command(subcommand)]
    Insurance(InsuranceCommand),
    /// The user-authentication certificate's standing as of the last login,
    /// offline: valid until, renewal open from (three months before), the
    /// state and the insurer's expiry flag (§6).
    Certificate,
    /// Consents for the self-information API (S1).
    #[command(subcommand)]
    Consents(ConsentsCommand),
    /// The holder's agents (P5).
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// The agent's side (P5): accept an invitation, list what you may do.
    #[command(subcommand)]
    Agency(AgencyCommand),
}

/// Options of `portal login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Spend the PIN's last try if the card reports only one left.
    #[arg(long)]
    allow_last_try: bool,
    /// With `--reader sandbox`: whose sandbox card is tapped — the sample
    /// holder's (the home's `sandbox-card.json`, its counters kept), or the
    /// sample agent's (P5; a fresh card each time, nothing kept).
    #[arg(long, value_enum, default_value_t = SandboxCard::Sample)]
    sandbox_card: SandboxCard,
}

/// The sandbox's cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxCard {
    /// The sample holder's card (番号　花子).
    Sample,
    /// The sample agent's card (代理　太郎), for `portal agency`.
    Agent,
}

/// Options of `portal terms`.
#[derive(Debug, Args)]
pub struct TermsArgs {
    /// Agree to this version (the one `portal terms` shows in force).
    #[arg(long, value_name = "VERSION")]
    accept: Option<String>,
}

/// `portal insurance …`.
#[derive(Debug, Subcommand)]
pub enum InsuranceCommand {
    /// Register the card as the health-insurance card (P1 method 2): needs
    /// the login and the terms in force agreed (P7); usable from the next
    /// visit.
    Register(ShowCardArgs),
    /// The registration as the insurer sees it (§6).
    Status(ShowCardArgs),
    /// Release the registration (§6 reason 1: at the member's request).
    Release(ShowCardArgs),
}

/// Whether to print the insured card's symbol, number and branch.
#[derive(Debug, Args)]
pub struct ShowCardArgs {
    /// Also print the insured card's symbol, number and branch number
    /// (personal data: for the holder's own screen).
    #[arg(long)]
    show_card: bool,
}

/// `portal consents …`.
#[derive(Debug, Subcommand)]
pub enum ConsentsCommand {
    /// Every consent given, newest first.
    List,
    /// A service's request: what it asks for, why, for how long.
    Show(RequestArg),
    /// Grant a request: all the items it asks for, or `--items` (a subset).
    Grant(GrantArgs),
    /// Refuse a request: the service gets nothing.
    Refuse(RequestArg),
    /// Withdraw a consent: the service may fetch nothing more and deletes
    /// what it kept.
    Withdraw(ConsentArg),
}

/// A consent request.
#[derive(Debug, Args)]
pub struct RequestArg {
    /// The request's id, as the service showed it.
    request_id: String,
}

/// A consent.
#[derive(Debug, Args)]
pub struct ConsentArg {
    /// The consent's id, as `portal consents list` shows it.
    consent_id: String,
}

/// Options of `portal consents grant`.
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The request's id.
    request_id: String,
    /// The items granted, comma-separated (`insured_card`,
    /// `insurance_registration`, `certificate_validity`); default: every
    /// item the request asks for.
    #[arg(long, value_delimiter = ',')]
    items: Vec<String>,
}

/// `portal agents …`.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// The holder's delegations.
    List,
    /// Delegate scopes to an agent named LABEL; prints the one-time
    /// invitation code to give the agent.
    Add(AddAgentArgs),
    /// Change what an agent may do, effective at once.
    Change(ChangeAgentArgs),
    /// End a delegation, effective at once.
    Remove(GrantArg),
}

/// Options of `portal agents add`.
#[derive(Debug, Args)]
pub struct AddAgentArgs {
    /// A name for the agent (the holder's own label).
    label: String,
    /// Comma-separated: `insurance_read`, `insurance_manage`,
    /// `consents_read`, `consents_manage`.
    #[arg(long, value_delimiter = ',', required = true)]
    scopes: Vec<String>,
}

/// Options of `portal agents change`.
#[derive(Debug, Args)]
pub struct ChangeAgentArgs {
    /// The grant's id.
    grant_id: String,
    /// The new scopes, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    scopes: Vec<String>,
}

/// A delegation.
#[derive(Debug, Args)]
pub struct GrantArg {
    /// The grant's id.
    grant_id: String,
}

/// `portal agency …`.
#[derive(Debug, Subcommand)]
pub enum AgencyCommand {
    /// Accept a holder's invitation (logged in with your own card). The
    /// code comes from MYNAKIT_INVITATION_CODE, else standard input, else
    /// a prompt — never an argument (a one-time secret). Then act with
    /// `--on-behalf-of GRANT`.
    Accept,
    /// The delegations you hold.
    List,
}

/// Runs a portal command.
pub fn run(args: PortalArgs, reader: &ReaderArgs, out: &Output) -> CmdResult {
    let phone = PortalPhone::open(&args.app)?;
    match &args.command {
        PortalCommand::Login(login) => login_cmd(&phone, login, reader, out),
        PortalCommand::Logout => {
            block(phone.client.logout())?;
            out.result(&json!({ "logged_out": true }), || {
                "logged out: the session is gone from this phone".to_owned()
            });
            Ok(())
        }
        PortalCommand::Session => {
            let session = block(phone.client.session())?;
            out.result(&json!({ "session": session }), || match &session {
                Some(s) => session_lines(s).join("\n"),
                None => "no session: `mynakit portal login`".to_owned(),
            });
            Ok(())
        }
        PortalCommand::Terms(terms) => terms_cmd(&phone, terms, out),
        PortalCommand::Insurance(command) => insurance_cmd(&phone, command, out),
        PortalCommand::Certificate => {
            let standing = block(phone.client.certificate_standing())?;
            out.result(&standing, || standing_lines(&standing).join("\n"));
            Ok(())
        }
        PortalCommand::Consents(command) => consents_cmd(&phone, command, out),
        PortalCommand::Agents(command) => agents_cmd(&phone, command, out),
        PortalCommand::Agency(command) => agency_cmd(&phone, command, out),
    }
}

/// Runs one of the client's futures to its end, its error made a failure.
fn block<T>(
    future: impl std::future::Future<Output = Result<T, PortalError>>,
) -> Result<T, Failure> {
    pollster::block_on(future).map_err(|e| portal_failure(&e))
}

// ---------------------------------------------------------------------------
// The phone.

/// One phone talking to one portal, its state under the home directory.
pub struct PortalPhone {
    /// The home directory.
    pub home: Home,
    /// The portal app's client.
    pub client: PortalClient,
}

impl PortalPhone {
    /// Opens the phone under `app.home`, talking to `app.authority`, acting
    /// for `app.on_behalf_of` when given.
    pub fn open(app: &PortalAppArgs) -> Result<Self, Failure> {
        let home = Home::open(app.home.as_deref())?;
        let store = Store::open(home.phone_db())
            .map_err(|e| Failure::Other(format!("{}: {e}", home.phone_db().display())))?;
        // The vault's storage key needs no user approval (a phone keeps it
        // unlocked after the first unlock).
        let secure_area: Arc<dyn SecureArea> = Arc::new(
            SoftwareSecureArea::open(home.software_keys())
                .map_err(|e| Failure::Other(e.to_string()))?,
        );
        let link: Arc<dyn AuthorityLink> = Arc::new(
            mynakit_http::HttpAuthorityLink::new(&app.authority, TIMEOUT)
                .map_err(|e| Failure::Input(e.to_string()))?,
        );
        let client = PortalClient::new(
            link,
            Arc::new(store),
            secure_area,
            Arc::new(SystemClock),
            app.authority.trim_end_matches('/'),
        )
        .map_err(|e| portal_failure(&e))?;
        if let Some(grant) = &app.on_behalf_of {
            // It goes into a header: a plain id or nothing.
            if grant.is_empty()
                || grant.len() > 64
                || !grant
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(Failure::Input(format!(
                    "--on-behalf-of {grant:?}: not a grant id"
                )));
            }
            client.act_on_behalf_of(Some(grant.clone()));
        }
        Ok(Self { home, client })
    }
}

// ---------------------------------------------------------------------------
// Failures.

/// A JSON object's fields, for [`Failure::Coded`].
fn details(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The wire name of a portal refusal (`terms_outdated`, …).
pub fn refusal_name(refusal: PortalRefusal) -> String {
    crate::wallet_cmd::snake_debug(&refusal)
}

/// The CLI failure for a portal error (exit codes in [`exit`]).
pub fn portal_failure(error: &PortalError) -> Failure {
    match error {
        PortalError::Card(e) => Failure::Card(e.clone()),
        PortalError::LastTry => Failure::Coded {
            code: exit::LAST_TRY,
            kind: "last_try_needs_confirmation",
            message: "the PIN has one try left; nothing was sent. Rerun with --allow-last-try to spend it".into(),
            details: details(json!({ "confirm_with": "--allow-last-try" })),
        },
        PortalError::Authority(e) => portal_unavailable(e),
        PortalError::LoginRequired
        | PortalError::Refused {
            error: PortalRefusal::InvalidToken,
            ..
        } => Failure::Coded {
            code: exit::LOGIN_REQUIRED,
            kind: "login_required",
            message: "no session on this phone (never logged in, logged out, or it expired): `mynakit portal login` with the card (P2)".into(),
            details: details(json!({ "rule": "P2" })),
        },
        PortalError::TermsNotAgreed { current } => Failure::Coded {
            code: exit::TERMS_NOT_AGREED,
            kind: "terms_not_agreed",
            message: format!(
                "agree to the terms version {current} first (P7): `mynakit portal terms --accept {current}`"
            ),
            details: details(json!({ "rule": "P7", "current_terms_version": current })),
        },
        PortalError::Refused { error, status } => match error {
            PortalRefusal::CertificateUntrusted
            | PortalRefusal::NotAuthenticationCertificate
            | PortalRefusal::CertificateExpired
            | PortalRefusal::CertificateRevoked
            | PortalRefusal::BadCardSignature => Failure::Coded {
                code: exit::CARD_LOGIN_REFUSED,
                kind: "card_login_refused",
                message: format!(
                    "the portal refused the card's login: {}{}",
                    refusal_name(*error),
                    match error {
                        PortalRefusal::CertificateExpired =>
                            " (renew the card's certificates at the municipal office)",
                        PortalRefusal::CertificateRevoked => " (the certificate is revoked)",
                        _ => "",
                    }
                ),
                details: details(json!({ "rule": "P2", "refusal": refusal_name(*error) })),
            },
            PortalRefusal::OutsideAgentScope => Failure::Coded {
                code: exit::OUTSIDE_AGENT_SCOPE,
                kind: "outside_agent_scope",
                message: "outside what the holder delegated, or the delegation ended (P5)".into(),
                details: details(json!({ "rule": "P5", "refusal": "outside_agent_scope" })),
            },
            other => Failure::AuthorityRefused {
                refusal: if *other == PortalRefusal::Unknown {
                    format!("http_{status}")
                } else {
                    refusal_name(*other)
                },
                message: format!(
                    "the portal refused: {} (status {status})",
                    refusal_name(*other)
                ),
            },
        },
        other => Failure::Other(other.to_string()),
    }
}

/// 429 (P6) and 503 with their wait; other link failures as the other apps'.
fn portal_unavailable(error: &AuthorityError) -> Failure {
    let (reason, retry_after) = match error {
        AuthorityError::RateLimited { retry_after } => ("rate_limited", retry_after),
        AuthorityError::OutOfService { retry_after } => ("out_of_service", retry_after),
        other => return crate::kiosk_cmd::authority_failure(other),
    };
    let seconds = retry_after.map(|d| d.as_secs());
    Failure::Coded {
        code: exit::AUTHORITY_UNAVAILABLE,
        kind: "authority_unavailable",
        message: format!(
            "{error} (P6); this phone kept its state: run the same command again{}",
            seconds
                .map(|s| format!(" in {s} s"))
                .unwrap_or_else(|| " later".to_owned())
        ),
        details: details(json!({ "rule": "P6", "reason": reason, "retry_after": seconds })),
    }
}

// ---------------------------------------------------------------------------
// Printing.

fn state_words(state: CertificateState) -> &'static str {
    match state {
        CertificateState::Valid => "valid",
        CertificateState::RenewalOpen => "valid, renewal open",
        CertificateState::ExpiredUnderThreeMonths => "expired less than three months ago",
        CertificateState::ExpiredThreeMonthsOrMore => "expired three months ago or more",
    }
}

fn standing_lines(standing: &CertificateStanding) -> Vec<String> {
    vec![
        format!(
            "user-authentication certificate: {} (valid until {}, Japan time)",
            state_words(standing.state),
            standing.valid_until
        ),
        format!(
            "  renewal open from {} (three months before expiry)",
            standing.renewal_opens_on
        ),
        format!(
            "  insurer's expiry flag (§6): {} ({})",
            standing.expiry_flag,
            if standing.expiry_flag == 1 {
                "within validity, or expired less than three months ago"
            } else {
                "expired and not renewed for three months or more"
            }
        ),
    ]
}

fn session_lines(session: &Session) -> Vec<String> {
    let mut lines = vec![
        format!(
            "logged in {} as {} (pairwise subject)",
            jst(session.logged_in_at),
            session.subject
        ),
        format!(
            "  access until {}, then refreshed by itself until {} (then tap the card again)",
            jst(session.access_expires_at),
            jst(session.refresh_expires_at)
        ),
    ];
    lines.extend(standing_lines(&session.certificate));
    lines
}

fn reason_words(reason: ReleaseReason) -> &'static str {
    match reason {
        ReleaseReason::MemberRequest => "released at the member's request",
        ReleaseReason::CertificateExpired => "three months or more since the e-certificate expired",
        ReleaseReason::CardReturned => "the card was returned",
    }
}

/// The registration as printed: the §6 codes beside the names, the insured
/// card's identifiers only when asked for.
fn status_json(status: &InsuranceStatus, show_card: bool) -> Value {
    let card = status.insured_card.as_ref().map(|c| {
        let mut value = json!({
            "insurer_number": c.insurer_number,
            "insurer_name": c.insurer_name,
        });
        if show_card {
            value["symbol"] = json!(c.symbol);
            value["number"] = json!(c.number);
            value["branch"] = json!(c.branch);
        }
        value
    });
    json!({
        "registered": status.registered,
        "registration_state": u8::from(status.registered),
        "registered_on": status.registered_on,
        "released_on": status.released_on,
        "release_reason": status.release_reason,
        "release_reason_code": status.release_reason.map(ReleaseReason::code),
        "insured_card": card,
        "certificate": status.certificate,
    })
}

fn status_lines(status: &InsuranceStatus, show_card: bool) -> Vec<String> {
    let mut lines = vec![if status.registered {
        format!(
            "registered as the health-insurance card (state 1) since {}",
            status
                .registered_on
                .map_or_else(|| "-".to_owned(), |d| d.to_string())
        )
    } else {
        match (status.released_on, status.release_reason) {
            (Some(on), Some(reason)) => format!(
                "not registered (state 0): released on {on}, reason {} ({})",
                reason.code(),
                reason_words(reason)
            ),
            _ => "not registered (state 0): `mynakit portal insurance register`".to_owned(),
        }
    }];
    if let Some(card) = &status.insured_card {
        lines.push(format!(
            "  insurer {} ({})",
            card.insurer_name, card.insurer_number
        ));
        if show_card {
            lines.push(format!(
                "  insured card: symbol {} number {} branch {}",
                card.symbol, card.number, card.branch
            ));
        }
    }
    lines.extend(standing_lines(&status.certificate));
    lines
}

fn snake(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn names(values: &[impl Serialize]) -> String {
    values.iter().map(snake).collect::<Vec<_>>().join(", ")
}

fn request_lines(request: &ConsentRequest) -> Vec<String> {
    vec![
        format!(
            "request {} from {} ({}): {}",
            request.request_id,
            request.service_name,
            request.service_id,
            snake(&request.state)
        ),
        format!("  asks for: {}", names(&request.items)),
        format!("  purpose: {}", request.purpose),
        format!(
            "  kept for {} day(s) (S1); answer before {}",
            request.retention_days,
            jst(request.expires_at)
        ),
    ]
}

fn consent_lines(consent: &Consent) -> Vec<String> {
    let mut lines = vec![
        format!(
            "consent {} to {}: {} (request {})",
            consent.consent_id,
            consent.service_name,
            snake(&consent.state),
            consent.request_id
        ),
        format!("  items: {}", names(&consent.items)),
        format!("  purpose: {}", consent.purpose),
        format!(
            "  granted {}, kept until {} (S1)",
            jst(consent.granted_at),
            jst(consent.retain_until)
        ),
    ];
    if let Some(at) = consent.withdrawn_at {
        lines.push(format!("  withdrawn {}", jst(at)));
    }
    lines
}

fn grant_lines(grant: &AgentGrant) -> Vec<String> {
    let mut lines = vec![format!(
        "agent {} \"{}\": {}; scopes {} (since {})",
        grant.grant_id,
        grant.label,
        snake(&grant.state),
        names(&grant.scopes),
        jst(grant.created_at)
    )];
    if let Some(code) = &grant.invitation_code {
        lines.push(format!(
            "  invitation code (give it to the agent, once): {code}"
        ));
    }
    lines
}

fn agency_line(agency: &Agency) -> String {
    format!(
        "grant {}: {}; scopes {} — act with --on-behalf-of {}",
        agency.grant_id,
        snake(&agency.state),
        names(&agency.scopes),
        agency.grant_id
    )
}

/// One `snake_case` value of a wire enum.
fn parse_wire<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, Failure> {
    serde_json::from_value(Value::String(text.trim().to_owned()))
        .map_err(|_| Failure::Input(format!("{text:?} is not {what}")))
}

fn parse_scopes(texts: &[String]) -> Result<Vec<AgentScope>, Failure> {
    texts
        .iter()
        .map(|t| {
            parse_wire(
                t,
                "a scope (insurance_read, insurance_manage, consents_read, consents_manage)",
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The commands.

/// What `portal login` prints.
#[derive(Serialize)]
struct LoggedIn<'a> {
    #[serde(flatten)]
    session: &'a Session,
    /// Card round trips of the one tap.
    tap_round_trips: usize,
    /// Which card.
    card: String,
}

/// One login: the portal's challenge, the tap on `channel`, the proof and
/// the code exchanged. The card round trips go in `round_trips` whatever
/// happens.
async fn log_in<T: CardTransport>(
    client: &PortalClient,
    channel: &mut CardChannel<T>,
    pin: &AuthPin,
    last_try: LastTry,
    round_trips: &mut usize,
) -> Result<Session, PortalError> {
    let mut flow = client.begin_login().await?;
    let tapped = client.tap(&mut flow, channel, pin, last_try).await;
    *round_trips = channel.transcript().stats().round_trips;
    tapped?;
    // P6: a limit or maintenance after the tap is waited out (when the
    // portal says it is short) and the login resumed with the same proof:
    // the card is not tapped again.
    let mut outcome = client.finish_login(&mut flow).await;
    for _ in 0..RESUME_TRIES {
        let wait = match &outcome {
            Err(PortalError::Authority(e)) if e.is_retryable() => e.retry_after(),
            _ => None,
        };
        match wait {
            Some(wait) if wait <= MAX_RESUME_WAIT => {
                note!(
                    "mynakit: the portal asks to wait {} s (P6); resuming the login without another tap",
                    wait.as_secs()
                );
                std::thread::sleep(wait);
                outcome = client.finish_login(&mut flow).await;
            }
            _ => break,
        }
    }
    outcome
}

/// How many times a login is resumed after a 429 or 503 (P6).
const RESUME_TRIES: usize = 3;

/// The longest `Retry-After` a login waits out itself; longer, it stops
/// with exit 12 (run `portal login` again later).
const MAX_RESUME_WAIT: Duration = Duration::from_secs(10);

fn login_cmd(
    phone: &PortalPhone,
    args: &LoginArgs,
    reader: &ReaderArgs,
    out: &Output,
) -> CmdResult {
    // The PIN first: nothing is sent before it is well formed.
    let pin = read_secret(PIN_ENV, "4-digit PIN (user authentication): ")
        .map_err(Failure::Input)
        .and_then(|p| AuthPin::new(&p).map_err(|e| Failure::Input(e.to_string())))?;
    let last_try = if args.allow_last_try {
        LastTry::Allow
    } else {
        LastTry::Refuse
    };
    let mut round_trips = 0;
    let (outcome, card) = if reader.reader == "sandbox" && args.sandbox_card == SandboxCard::Agent {
        let sandbox = Sandbox::with_config(mynakit_sandbox::portal::jlis::agent_card_config())
            .map_err(|e| Failure::Other(e.to_string()))?;
        let mut channel = CardChannel::new(sandbox.transport(reader.sandbox_switches()));
        let outcome = pollster::block_on(log_in(
            &phone.client,
            &mut channel,
            &pin,
            last_try,
            &mut round_trips,
        ));
        (outcome, "sandbox agent's card".to_owned())
    } else if reader.reader == "sandbox" {
        // The home's sandbox card, so that its PIN counter (and a renewal,
        // `sandbox jlis renew`) carries over from one command to the next.
        let card_path = phone.home.sandbox_card();
        let card =
            card_state::load_or_create(&card_path).map_err(|e| Failure::Other(e.to_string()))?;
        let sandbox = Sandbox::from_card(card);
        let mut channel = CardChannel::new(sandbox.transport(reader.sandbox_switches()));
        let outcome = pollster::block_on(log_in(
            &phone.client,
            &mut channel,
            &pin,
            last_try,
            &mut round_trips,
        ));
        // Whatever happened, the card keeps what the tap did (a spent try).
        card_state::save(&sandbox.card(), &card_path).map_err(|e| Failure::Other(e.to_string()))?;
        (outcome, "sandbox virtual card".to_owned())
    } else {
        let mut card = crate::reader::open(reader, out)?;
        let outcome = pollster::block_on(log_in(
            &phone.client,
            &mut card.channel,
            &pin,
            last_try,
            &mut round_trips,
        ));
        (outcome, card.label.clone())
    };
    let session = outcome.map_err(|e| portal_failure(&e))?;
    let logged_in = LoggedIn {
        session: &session,
        tap_round_trips: round_trips,
        card,
    };
    out.result(&logged_in, || {
        let mut lines = vec![format!(
            "logged in with the {} (P2): one tap, {round_trips} card round trips",
            logged_in.card
        )];
        lines.extend(session_lines(&session));
        lines.join("\n")
    });
    Ok(())
}

fn terms_cmd(phone: &PortalPhone, args: &TermsArgs, out: &Output) -> CmdResult {
    if let Some(version) = &args.accept {
        let agreement = block(phone.client.accept_terms(version))?;
        out.result(&agreement, || {
            format!(
                "agreed to the terms version {} at {} (P7; recorded on this phone too)",
                agreement.version,
                jst(agreement.agreed_at)
            )
        });
        return Ok(());
    }
    let state: TermsState = block(phone.client.terms())?;
    let recorded = phone
        .client
        .recorded_terms_agreement()
        .map_err(|e| portal_failure(&e))?;
    let value = json!({
        "current": state.current,
        "agreed": state.agreed,
        "agreed_to_current": state.agreed_to_current(),
        "recorded_on_this_phone": recorded,
    });
    out.result(&value, || {
        let mut lines = vec![format!(
            "terms in force: version {} (published {})",
            state.current.version,
            jst(state.current.published_at)
        )];
        lines.push(match &state.agreed {
            Some(a) if state.agreed_to_current() => {
                format!("agreed to {} at {} (P7)", a.version, jst(a.agreed_at))
            }
            Some(a) => format!(
                "agreed to {} at {}: not the version in force — `mynakit portal terms --accept {}` (P7)",
                a.version,
                jst(a.agreed_at),
                state.current.version
            ),
            None => format!(
                "not agreed yet: `mynakit portal terms --accept {}` (P7)",
                state.current.version
            ),
        });
        lines.join("\n")
    });
    Ok(())
}

fn insurance_cmd(phone: &PortalPhone, command: &InsuranceCommand, out: &Output) -> CmdResult {
    let (status, show_card, done) = match command {
        InsuranceCommand::Register(a) => {
            // P7: the version the holder agreed to is the one sent; the
            // portal checks it is the one in force.
            let terms = block(phone.client.terms())?;
            let version = terms
                .agreed
                .as_ref()
                .map_or_else(|| terms.current.version.clone(), |a| a.version.clone());
            (
                block(phone.client.register_insurance(&version))?,
                a.show_card,
                Some("registered (P1 method 2): usable from the next visit"),
            )
        }
        InsuranceCommand::Status(a) => (block(phone.client.insurance_status())?, a.show_card, None),
        InsuranceCommand::Release(a) => (
            block(phone.client.release_insurance())?,
            a.show_card,
            Some("released at your request (§6 reason 1)"),
        ),
    };
    out.result(&status_json(&status, show_card), || {
        let mut lines: Vec<String> = done.map(str::to_owned).into_iter().collect();
        lines.extend(status_lines(&status, show_card));
        lines.join("\n")
    });
    Ok(())
}

fn consents_cmd(phone: &PortalPhone, command: &ConsentsCommand, out: &Output) -> CmdResult {
    let client = &phone.client;
    match command {
        ConsentsCommand::List => {
            let consents = block(client.consents())?;
            out.result(&consents, || {
                if consents.is_empty() {
                    "no consents given".to_owned()
                } else {
                    consents
                        .iter()
                        .flat_map(consent_lines)
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
        }
        ConsentsCommand::Show(r) => {
            let request = block(client.consent_request(&r.request_id))?;
            out.result(&request, || request_lines(&request).join("\n"));
        }
        ConsentsCommand::Grant(g) => {
            let items: Vec<DataItem> = if g.items.is_empty() {
                block(client.consent_request(&g.request_id))?.items
            } else {
                g.items
                    .iter()
                    .map(|i| {
                        parse_wire(
                            i,
                            "an item (insured_card, insurance_registration, certificate_validity)",
                        )
                    })
                    .collect::<Result<_, _>>()?
            };
            let consent = block(client.grant_consent(&g.request_id, &items))?;
            out.result(&consent, || consent_lines(&consent).join("\n"));
        }
        ConsentsCommand::Refuse(r) => {
            let request = block(client.refuse_consent(&r.request_id))?;
            out.result(&request, || request_lines(&request).join("\n"));
        }
        ConsentsCommand::Withdraw(c) => {
            let consent = block(client.withdraw_consent(&c.consent_id))?;
            out.result(&consent, || consent_lines(&consent).join("\n"));
        }
    }
    Ok(())
}

fn agents_cmd(phone: &PortalPhone, command: &AgentsCommand, out: &Output) -> CmdResult {
    let client = &phone.client;
    let grant = match command {
        AgentsCommand::List => {
            let grants = block(client.agents())?;
            out.result(&grants, || {
                if grants.is_empty() {
                    "no agents".to_owned()
                } else {
                    grants
                        .iter()
                        .flat_map(grant_lines)
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
            return Ok(());
        }
        AgentsCommand::Add(a) => block(client.add_agent(&a.label, &parse_scopes(&a.scopes)?))?,
        AgentsCommand::Change(c) => {
            block(client.change_agent(&c.grant_id, &parse_scopes(&c.scopes)?))?
        }
        AgentsCommand::Remove(g) => block(client.remove_agent(&g.grant_id))?,
    };
    out.result(&grant, || grant_lines(&grant).join("\n"));
    Ok(())
}

fn agency_cmd(phone: &PortalPhone, command: &AgencyCommand, out: &Output) -> CmdResult {
    match command {
        AgencyCommand::Accept => {
            let code = read_secret(INVITATION_CODE_ENV, "invitation code: ")
                .map_err(|e| Failure::Input(e.replace("PIN", "invitation code")))?;
            let code = code.trim();
            if code.is_empty() {
                return Err(Failure::Input("no invitation code given".into()));
            }
            let agency = block(phone.client.accept_agency(code))?;
            out.result(&agency, || agency_line(&agency));
        }
        AgencyCommand::List => {
            let agencies = block(phone.client.agencies())?;
            out.result(&agencies, || {
                if agencies.is_empty() {
                    "you act for no one".to_owned()
                } else {
                    agencies
                        .iter()
                        .map(agency_line)
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_not_agreed_names_the_version_in_force() {
        let f = portal_failure(&PortalError::TermsNotAgreed {
            current: "2026-12".into(),
        });
        assert_eq!(f.exit_code(), exit::TERMS_NOT_AGREED);
        assert_eq!(f.to_json()["error"]["current_terms_version"], "2026-12");
        assert!(f.message().contains("--accept 2026-12"));
    }

    #[test]
    fn a_refused_token_means_log_in_again() {
        for e in [
            PortalError::LoginRequired,
            PortalError::Refused {
                error: PortalRefusal::InvalidToken,
                status: 401,
            },
        ] {
            assert_eq!(portal_failure(&e).exit_code(), exit::LOGIN_REQUIRED);
        }
    }

    #[test]
    fn the_limit_and_maintenance_say_how_long_to_wait() {
        let f = portal_failure(&PortalError::Authority(AuthorityError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        }));
        assert_eq!(f.exit_code(), exit::AUTHORITY_UNAVAILABLE);
        let json = f.to_json();
        assert_eq!(json["error"]["reason"], "rate_limited");
        assert_eq!(json["error"]["retry_after"], 30);
        let f = portal_failure(&PortalError::Authority(AuthorityError::OutOfService {
            retry_after: None,
        }));
        assert_eq!(f.to_json()["error"]["reason"], "out_of_service");
    }

    #[test]
    fn certificate_refusals_and_agent_scope_have_their_codes() {
        let f = portal_failure(&PortalError::Refused {
            error: PortalRefusal::CertificateExpired,
            status: 403,
        });
        assert_eq!(f.exit_code(), exit::CARD_LOGIN_REFUSED);
        assert_eq!(f.to_json()["error"]["refusal"], "certificate_expired");
        let f = portal_failure(&PortalError::Refused {
            error: PortalRefusal::OutsideAgentScope,
            status: 403,
        });
        assert_eq!(f.exit_code(), exit::OUTSIDE_AGENT_SCOPE);
        let f = portal_failure(&PortalError::Refused {
            error: PortalRefusal::TermsOutdated,
            status: 409,
        });
        assert_eq!(f.exit_code(), exit::AUTHORITY_REFUSED);
        assert_eq!(f.to_json()["error"]["refusal"], "terms_outdated");
    }

    #[test]
    fn scopes_and_items_parse_by_their_wire_names() {
        assert_eq!(
            parse_scopes(&["insurance_read".into(), " consents_manage".into()]).unwrap(),
            vec![AgentScope::InsuranceRead, AgentScope::ConsentsManage]
        );
        assert!(parse_scopes(&["everything".into()]).is_err());
        let item: DataItem = parse_wire("insured_card", "an item").unwrap();
        assert_eq!(item, DataItem::InsuredCard);
    }
}
