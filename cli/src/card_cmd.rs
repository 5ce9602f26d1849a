//! `mynakit card …`: one card operation per command.

use std::path::PathBuf;

use chrono::Utc;
use clap::{Args, Subcommand, ValueEnum};
use mynakit_core::CheckCodeB;
use mynakit_core::PinStatus;
use mynakit_core::TranscriptStats;
use mynakit_core::japan_date;
use mynakit_core::{AuthPin, KenhojoPin, LastTry, SigningPassword};
use mynakit_core::{
    CardCertificate, CertificateRole, ChainError, ExpiryState, PersonalAttributes, TrustedAnchor,
};
use mynakit_core::{FreeCertificate, JpkiKey, TokenKind};
use serde::Serialize;

use crate::CmdResult;
use crate::failure::Failure;
use crate::output::Output;
use crate::reader::{self, OpenCard, ReaderArgs};
use crate::secrets::read_secret;

/// Environment variable holding the 4-digit PIN (JPKI authentication and Kenhojo).
pub const PIN_ENV: &str = "MYNAKIT_PIN";
/// Environment variable holding the signing password.
pub const SIGNING_PASSWORD_ENV: &str = "MYNAKIT_SIGNING_PASSWORD";
/// Environment variable holding the card-front security code.
pub const SECURITY_CODE_ENV: &str = "MYNAKIT_SECURITY_CODE";

/// Card commands.
#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Token kind, certificates present and PIN tries (no try is spent).
    Status,
    /// Read and check the certificates.
    Certs(CertsArgs),
    /// Tries left for each PIN, read without spending a try.
    Tries,
    /// Sign a message with the authentication or signing key.
    Sign(SignArgs),
    /// Read name, address, birth date and sex (Kenhojo, 4-digit PIN).
    Kenhojo(KenhojoArgs),
    /// Read the card face record with the face photo (Kenmen, 照合番号B from the card front).
    Kenmen(KenmenArgs),
}

/// Options of `card certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Also read the signing certificate (asks for the signing password).
    #[arg(long)]
    signing: bool,
    /// Spend the last PIN try if only one is left.
    #[arg(long)]
    allow_last_try: bool,
    /// Write each certificate as DER into this folder.
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

/// Which key signs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyChoice {
    /// User-authentication key (4-digit PIN).
    Auth,
    /// Signing key (signing password).
    Signing,
}

/// Options of `card sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Which key.
    #[arg(long, value_enum, default_value_t = KeyChoice::Auth)]
    key: KeyChoice,
    /// The message to sign (its SHA-256 is signed).
    #[arg(long, conflicts_with = "input")]
    message: Option<String>,
    /// A file whose content is signed.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Write the raw signature here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Spend the last PIN try if only one is left.
    #[arg(long)]
    allow_last_try: bool,
}

/// Options of `card kenhojo`.
#[derive(Debug, Args)]
pub struct KenhojoArgs {
    /// Also read the My Number (only with a legal basis for handling it).
    #[arg(long)]
    my_number: bool,
    /// Spend the last PIN try if only one is left.
    #[arg(long)]
    allow_last_try: bool,
}

/// Options of `card kenmen`.
#[derive(Debug, Args)]
pub struct KenmenArgs {
    /// Birth date as printed on the card front, e.g. "昭和60年6月15日".
    #[arg(long)]
    birth_date: String,
    /// Expiry as printed (only the Western year is used), e.g. "2035年6月15日まで有効" or "2035".
    #[arg(long)]
    expiry: String,
    /// Write the face photo (JPEG 2000) here.
    #[arg(long)]
    photo_out: Option<PathBuf>,
    /// Spend the last try if only one is left.
    #[arg(long)]
    allow_last_try: bool,
}

fn last_try(allow: bool) -> LastTry {
    if allow {
        LastTry::Allow
    } else {
        LastTry::Refuse
    }
}

/// Runs one card command.
pub fn run(command: CardCommand, reader_args: &ReaderArgs, out: &Output) -> CmdResult {
    let mut card = reader::open(reader_args, out)?;
    let mark = card.channel.transcript().mark();
    let result = pollster::block_on(dispatch(command, &mut card, out));
    let stats = card.channel.transcript().stats_since(mark);
    if !out.is_json() {
        note!(
            "({} round trips, {} bytes sent, {} received)",
            stats.round_trips,
            stats.bytes_sent,
            stats.bytes_received
        );
    }
    result
}

async fn dispatch(command: CardCommand, card: &mut OpenCard, out: &Output) -> CmdResult {
    match command {
        CardCommand::Status => status(card, out).await,
        CardCommand::Certs(args) => certs(card, args, out).await,
        CardCommand::Tries => tries(card, out).await,
        CardCommand::Sign(args) => sign(card, args, out).await,
        CardCommand::Kenhojo(args) => kenhojo(card, args, out).await,
        CardCommand::Kenmen(args) => kenmen(card, args, out).await,
    }
}

/// PIN states of one card.
#[derive(Debug, Serialize)]
pub struct Tries {
    /// The user-authentication PIN.
    pub auth_pin: PinStatus,
    /// The signing password (absent without a signing certificate).
    pub signing_password: Option<PinStatus>,
}

async fn read_tries(card: &mut OpenCard, signing: bool) -> Result<Tries, Failure> {
    let mut jpki = card.channel.jpki();
    let auth_pin = jpki.pin_status(JpkiKey::Authentication).await?;
    let signing_password = if signing {
        Some(jpki.pin_status(JpkiKey::Signing).await?)
    } else {
        None
    };
    Ok(Tries {
        auth_pin,
        signing_password,
    })
}

async fn status(card: &mut OpenCard, out: &Output) -> CmdResult {
    #[derive(Serialize)]
    struct Status {
        reader: String,
        token: TokenKind,
        signing_certificate: bool,
        authentication_certificate: bool,
        tries: Tries,
        round_trips: TranscriptStats,
    }
    let mark = card.channel.transcript().mark();
    let jpki = card.channel.jpki().status().await?;
    let status = Status {
        reader: card.label.clone(),
        token: jpki.token_kind,
        signing_certificate: jpki.certificates.signing,
        authentication_certificate: jpki.certificates.authentication,
        tries: Tries {
            auth_pin: jpki.auth_pin,
            signing_password: jpki.signing_password,
        },
        round_trips: card.channel.transcript().stats_since(mark),
    };
    out.result(&status, || {
        let signing = status.tries.signing_password.as_ref().map_or_else(|| "no signing certificate".to_owned(), ToString::to_string);
        format!(
            "reader:            {}\ntoken:             {:?}\ncertificates:      authentication {}, signing {}\nauth PIN:          {}\nsigning password:  {}",
            status.reader,
            status.token,
            yes_no(status.authentication_certificate),
            yes_no(status.signing_certificate),
            &status.tries.auth_pin,
            signing
        )
    });
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "present" } else { "absent" }
}

async fn tries(card: &mut OpenCard, out: &Output) -> CmdResult {
    let presence = card.channel.jpki().certificate_presence().await?;
    let tries = read_tries(card, presence.signing).await?;
    let kenhojo = card.channel.kenhojo().pin_status().await?;
    #[derive(Serialize)]
    struct AllTries<'a> {
        #[serde(flatten)]
        jpki: &'a Tries,
        kenhojo_pin: PinStatus,
    }
    let all = AllTries {
        jpki: &tries,
        kenhojo_pin: kenhojo,
    };
    out.result(&all, || {
        format!(
            "auth PIN:          {}\nsigning password:  {}\nKenhojo PIN:       {}",
            &tries.auth_pin,
            tries
                .signing_password
                .as_ref()
                .map_or_else(|| "no signing certificate".to_owned(), ToString::to_string),
            &kenhojo
        )
    });
    Ok(())
}

/// A certificate as shown by `card certs`.
#[derive(Debug, Serialize)]
pub struct CertReport {
    /// Which certificate.
    pub role: &'static str,
    /// Its summary.
    #[serde(flatten)]
    pub info: mynakit_core::CertificateInfo,
    /// Expiry state now.
    pub expiry_state: Option<ExpiryState>,
    /// The anchor it chains to, or why not.
    pub chain: Option<ChainReport>,
    /// Personal attributes (signing certificate).
    pub attributes: Option<PersonalAttributes>,
}

/// The chain check of a holder's certificate, as JSON.
#[derive(Debug, Serialize)]
pub struct ChainReport {
    /// A trusted anchor issued it, for the role it was read as.
    pub trusted: bool,
    /// The anchor, when trusted.
    pub anchor: Option<TrustedAnchor>,
    /// Which check refused it: `unknown_ca`, `wrong_role`, `bad_signature`,
    /// `not_a_leaf`, `unknown_role`, `unsupported_algorithm`, `malformed`.
    pub refusal: Option<&'static str>,
    /// Why, in words.
    pub reason: Option<String>,
}

impl From<Result<TrustedAnchor, ChainError>> for ChainReport {
    fn from(result: Result<TrustedAnchor, ChainError>) -> Self {
        match result {
            Ok(anchor) => Self {
                trusted: true,
                anchor: Some(anchor),
                refusal: None,
                reason: None,
            },
            Err(e) => Self {
                trusted: false,
                anchor: None,
                refusal: Some(match e {
                    ChainError::UntrustedIssuer { .. } => "unknown_ca",
                    ChainError::WrongRole { .. } => "wrong_role",
                    ChainError::BadSignature => "bad_signature",
                    ChainError::NotALeaf => "not_a_leaf",
                    ChainError::UnknownRole(_) => "unknown_role",
                    ChainError::UnsupportedAlgorithm(_) => "unsupported_algorithm",
                    ChainError::Malformed(_) => "malformed",
                }),
                reason: Some(e.to_string()),
            },
        }
    }
}

fn report(
    role: &'static str,
    cert: &CardCertificate,
    chain: Option<Result<TrustedAnchor, ChainError>>,
) -> Result<CertReport, Failure> {
    let is_leaf = chain.is_some();
    Ok(CertReport {
        role,
        info: cert.info(),
        expiry_state: is_leaf.then(|| cert.expiry_state(Utc::now())),
        chain: chain.map(Into::into),
        attributes: cert
            .personal_attributes()
            .map_err(|e| Failure::Verification(e.to_string()))?,
    })
}

fn human_report(r: &CertReport) -> String {
    let mut s = format!(
        "{}:\n  subject:  {}\n  issuer:   {}\n  serial:   {}\n  valid:    {} – {} (Japan time)\n  sha256:   {}\n",
        r.role,
        r.info.subject,
        r.info.issuer,
        r.info.serial,
        japan_date(r.info.not_before),
        japan_date(r.info.not_after),
        r.info.sha256
    );
    if let Some(state) = r.expiry_state {
        s += &format!(
            "  state:    {state:?} (insurer flag {})\n",
            state.insurer_flag()
        );
    }
    if let Some(chain) = &r.chain {
        s += &match (&chain.anchor, &chain.reason) {
            (Some(anchor), _) => format!("  chain:    trusted, anchor {}\n", anchor.subject),
            (None, why) => format!(
                "  chain:    NOT TRUSTED: {}\n",
                why.as_deref().unwrap_or("refused")
            ),
        };
    }
    if let Some(a) = &r.attributes {
        s += &format!(
            "  name:     {}\n  birth:    {}\n  sex:      {}\n  address:  {}\n",
            a.name, a.birth_date_code, a.sex_code, a.address
        );
    }
    s
}

async fn certs(card: &mut OpenCard, args: CertsArgs, out: &Output) -> CmdResult {
    let auth = card
        .channel
        .jpki()
        .read_certificate(FreeCertificate::Authentication)
        .await?;
    let auth_ca = card
        .channel
        .jpki()
        .read_certificate(FreeCertificate::AuthenticationCa)
        .await?;
    let mut reports = vec![
        report(
            "authentication certificate",
            &auth,
            Some(
                card.anchors
                    .verify(&auth, CertificateRole::Authentication, &[&auth_ca]),
            ),
        )?,
        report("authentication CA certificate", &auth_ca, None)?,
    ];
    let mut ders = vec![
        ("auth.der", auth.der().to_vec()),
        ("auth-ca.der", auth_ca.der().to_vec()),
    ];
    if args.signing {
        let password = signing_password()?;
        let signing = card
            .channel
            .jpki()
            .read_signing_certificate(&password, last_try(args.allow_last_try))
            .await?;
        let signing_ca = card
            .channel
            .jpki()
            .read_certificate(FreeCertificate::SigningCa)
            .await?;
        reports.push(report(
            "signing certificate",
            &signing,
            Some(
                card.anchors
                    .verify(&signing, CertificateRole::Signing, &[&signing_ca]),
            ),
        )?);
        reports.push(report("signing CA certificate", &signing_ca, None)?);
        ders.push(("signing.der", signing.der().to_vec()));
        ders.push(("signing-ca.der", signing_ca.der().to_vec()));
    }
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Other(format!("{}: {e}", dir.display())))?;
        for (name, der) in &ders {
            let path = dir.join(name);
            std::fs::write(&path, der)
                .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
        }
    }
    out.result(&reports, || {
        reports
            .iter()
            .map(human_report)
            .collect::<Vec<_>>()
            .join("\n")
    });
    let untrusted = reports.iter().find_map(|r| match &r.chain {
        Some(ChainReport {
            trusted: false,
            reason,
            ..
        }) => Some(format!(
            "{}: {}",
            r.role,
            reason.as_deref().unwrap_or("refused")
        )),
        _ => None,
    });
    untrusted.map_or(Ok(()), |why| Err(Failure::Verification(why)))
}

fn auth_pin() -> Result<AuthPin, Failure> {
    let text = read_secret(PIN_ENV, "4-digit PIN: ").map_err(Failure::Input)?;
    AuthPin::new(&text).map_err(|e| Failure::Input(e.to_string()))
}

fn signing_password() -> Result<SigningPassword, Failure> {
    let text = read_secret(SIGNING_PASSWORD_ENV, "Signing password: ").map_err(Failure::Input)?;
    SigningPassword::new(&text).map_err(|e| Failure::Input(e.to_string()))
}

async fn sign(card: &mut OpenCard, args: SignArgs, out: &Output) -> CmdResult {
    let message = match (&args.message, &args.input) {
        (Some(m), _) => m.clone().into_bytes(),
        (None, Some(path)) => {
            std::fs::read(path).map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?
        }
        (None, None) => return Err(Failure::Input("give --message or --input".into())),
    };
    let policy = last_try(args.allow_last_try);
    let (signature, cert) = match args.key {
        KeyChoice::Auth => {
            let pin = auth_pin()?;
            let signature = card
                .channel
                .jpki()
                .sign_with_auth_key(&pin, &message, policy)
                .await?;
            let cert = card
                .channel
                .jpki()
                .read_certificate(FreeCertificate::Authentication)
                .await?;
            (signature, cert)
        }
        KeyChoice::Signing => {
            let password = signing_password()?;
            let signature = card
                .channel
                .jpki()
                .sign_with_signing_key(&password, &message, policy)
                .await?;
            let cert = card
                .channel
                .jpki()
                .read_signing_certificate(&password, policy)
                .await?;
            (signature, cert)
        }
    };
    // The signature is checked against the certificate the card holds for that key.
    let verified = cert.verifies_sha256_signature(&message, &signature);
    if let Some(path) = &args.out {
        std::fs::write(path, &signature)
            .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    }
    #[derive(Serialize)]
    struct Signed {
        key: &'static str,
        signature_hex: String,
        verified_with_certificate: bool,
    }
    let signed = Signed {
        key: match args.key {
            KeyChoice::Auth => "authentication",
            KeyChoice::Signing => "signing",
        },
        signature_hex: mynakit_core::Hex(&signature).to_string(),
        verified_with_certificate: verified,
    };
    out.result(&signed, || {
        format!(
            "signed with the {} key ({} bytes); verifies with its certificate: {}\n{}",
            signed.key,
            signature.len(),
            verified,
            signed.signature_hex
        )
    });
    if verified {
        Ok(())
    } else {
        Err(Failure::Verification(
            "the signature does not verify with the card's certificate".into(),
        ))
    }
}

async fn kenhojo(card: &mut OpenCard, args: KenhojoArgs, out: &Output) -> CmdResult {
    let text = read_secret(PIN_ENV, "4-digit PIN: ").map_err(Failure::Input)?;
    let pin = KenhojoPin::new(&text).map_err(|e| Failure::Input(e.to_string()))?;
    let policy = last_try(args.allow_last_try);
    let info = card.channel.kenhojo().read_basic_info(&pin, policy).await?;
    let my_number = if args.my_number {
        Some(card.channel.kenhojo().read_my_number(&pin, policy).await?)
    } else {
        None
    };
    #[derive(Serialize)]
    struct Kenhojo<'a> {
        #[serde(flatten)]
        info: &'a mynakit_core::BasicInfo,
        my_number: Option<&'a str>,
    }
    let shown = Kenhojo {
        info: &info,
        my_number: my_number.as_ref().map(|n| n.expose()),
    };
    out.result(&shown, || {
        let mut s = format!(
            "name:        {}\naddress:     {}\nbirth date:  {}\nsex:         {:?}",
            info.name,
            info.address,
            info.birth_date
                .map_or_else(|| "unknown".into(), |d| d.to_string()),
            info.sex
        );
        if let Some(n) = &my_number {
            s += &format!("\nMy Number:   {}", n.expose());
        }
        s
    });
    Ok(())
}

async fn kenmen(card: &mut OpenCard, args: KenmenArgs, out: &Output) -> CmdResult {
    let security_code = read_secret(
        SECURITY_CODE_ENV,
        "Security code (4 digits on the card front): ",
    )
    .map_err(Failure::Input)?;
    let code = CheckCodeB::from_card_front(&args.birth_date, &args.expiry, &security_code)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let face = card
        .channel
        .kenmen()
        .read_face(&code, last_try(args.allow_last_try))
        .await?;
    if let Some(path) = &args.photo_out {
        std::fs::write(path, &face.photo_jp2)
            .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    }
    #[derive(Serialize)]
    struct Face<'a> {
        #[serde(flatten)]
        face: &'a mynakit_core::CardFace,
        photo_bytes: usize,
    }
    let shown = Face {
        face: &face,
        photo_bytes: face.photo_jp2.len(),
    };
    out.result(&shown, || {
        format!(
            "birth date:   {}\nsex:          {:?}\ncard expiry:  {}\nface photo:   {} bytes (JPEG 2000){}",
            face.birth_date.map_or_else(|| "unknown".into(), |d| d.to_string()),
            face.sex,
            face.card_expiry,
            face.photo_jp2.len(),
            args.photo_out.as_ref().map(|p| format!(", written to {}", p.display())).unwrap_or_default()
        )
    });
    Ok(())
}
