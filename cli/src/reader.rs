//! Opening the card: the sandbox virtual card, or a PC/SC reader (with the
//! `pcsc` feature).

use std::time::Duration;

use clap::Args;
use std::path::PathBuf;

use mynakit_core::TrustAnchors;
use mynakit_core::{CardChannel, CardTransport, LinkCapabilities, TransportError};
use mynakit_sandbox::{
    CardConfig, LinkSwitches, Removal, RemovalPoint, Sandbox, SandboxCa, VirtualTransport,
};

use crate::failure::Failure;
use crate::output::Output;

/// Which roots a card's certificates must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchors {
    /// The six production JPKI roots (card-protocol.md).
    Production,
    /// The sandbox CA's two roots: for the virtual card, also behind PC/SC.
    Sandbox,
    /// The CA certificates of a file (PEM or DER): a J-LIS test hierarchy's
    /// roots, or an organisation's own.
    File(PathBuf),
}

impl std::str::FromStr for Anchors {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Self::Production),
            "sandbox" => Ok(Self::Sandbox),
            "" => Err("expected production, sandbox or a certificate file".into()),
            path => Ok(Self::File(PathBuf::from(path))),
        }
    }
}

/// Reader options shared by every card command.
#[derive(Debug, Args)]
pub struct ReaderArgs {
    /// Which reader: `sandbox` (the in-process virtual card, default),
    /// `pcsc` (the first PC/SC reader with a card) or `pcsc:NAME` (that
    /// reader; the start of its name is enough, and the first matching
    /// reader with a card is used).
    #[arg(long, global = true, default_value = "sandbox")]
    pub reader: String,
    /// PC/SC: seconds to wait for a card (and for another program to release it).
    #[arg(long, global = true, default_value_t = 30, value_name = "SECONDS")]
    pub wait: u64,
    /// Roots certificates must chain to [default: sandbox for the sandbox
    /// reader, production for PC/SC readers].
    /// `production`, `sandbox`, or a PEM/DER file of CA certificates.
    #[arg(long, global = true, value_name = "production|sandbox|FILE")]
    pub anchors: Option<Anchors>,
    /// Sandbox: the link has no extended length (short APDUs only).
    #[arg(long, global = true)]
    pub sandbox_no_extended: bool,
    /// Sandbox: the longest APDU the link carries, status word included.
    #[arg(long, global = true)]
    pub sandbox_max_transceive: Option<u32>,
    /// Sandbox: the card is pulled away at this exchange (1-based), after the card processed it.
    #[arg(long, global = true)]
    pub sandbox_remove_at: Option<usize>,
    /// Sandbox: the card's auth PIN starts with this many tries.
    #[arg(long, global = true)]
    pub sandbox_pin_tries: Option<u8>,
    /// Sandbox: the card's signing password starts with this many tries.
    #[arg(long, global = true)]
    pub sandbox_signing_tries: Option<u8>,
    /// Sandbox: a child's card, without a signing certificate.
    #[arg(long, global = true)]
    pub sandbox_no_signing_certificate: bool,
    /// Sandbox: the card answers this many milliseconds late.
    #[arg(long, global = true)]
    pub sandbox_delay_ms: Option<u64>,
    /// Sandbox holder: name, family and given name separated by a space.
    #[arg(long, global = true, value_name = "NAME")]
    pub sandbox_name: Option<String>,
    /// Sandbox holder: address.
    #[arg(long, global = true, value_name = "ADDRESS")]
    pub sandbox_address: Option<String>,
    /// Sandbox holder: birth date `YYYY-MM-DD`, or `unknown` (rules.md R7).
    #[arg(long, global = true, value_name = "DATE")]
    pub sandbox_birth_date: Option<String>,
    /// Sandbox holder: sex code (1 male, 2 female, 9 not applicable).
    #[arg(long, global = true, value_name = "CODE")]
    pub sandbox_sex: Option<String>,
    /// Sandbox holder: the 4-digit security code printed on the card front.
    #[arg(long, global = true, value_name = "DIGITS")]
    pub sandbox_security_code: Option<String>,
}

impl ReaderArgs {
    /// The link switches the sandbox options describe.
    pub fn sandbox_switches(&self) -> LinkSwitches {
        let defaults = LinkSwitches::default();
        LinkSwitches {
            extended_length: !self.sandbox_no_extended,
            max_transceive_length: self
                .sandbox_max_transceive
                .unwrap_or(defaults.max_transceive_length),
            remove_at: self.sandbox_remove_at.map(|exchange| Removal {
                exchange,
                point: RemovalPoint::AfterCard,
            }),
            answer_delay: self
                .sandbox_delay_ms
                .map_or(defaults.answer_delay, Duration::from_millis),
        }
    }

    /// The card the sandbox options describe: the sample holder with the
    /// details, retry counters and certificates asked for. The card checks
    /// the result ([`CardConfig::validate`]) when it is built.
    pub fn sandbox_config(&self) -> Result<CardConfig, String> {
        let mut config = CardConfig::sample();
        let holder = &mut config.holder;
        if let Some(name) = &self.sandbox_name {
            // The card separates family and given name with U+3000.
            holder.name = name.replacen(' ', "\u{3000}", 1);
        }
        if let Some(address) = &self.sandbox_address {
            holder.address.clone_from(address);
        }
        match self.sandbox_birth_date.as_deref() {
            None => {}
            Some("unknown") => holder.birth_date = None,
            Some(text) => {
                let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_err(|_| "--sandbox-birth-date takes YYYY-MM-DD or `unknown`".to_owned())?;
                holder.birth_date = Some(date);
            }
        }
        if let Some(code) = &self.sandbox_sex {
            holder.sex = mynakit_core::Sex::from_code(code)
                .ok_or_else(|| "--sandbox-sex takes 1, 2 or 9".to_owned())?;
        }
        if let Some(code) = &self.sandbox_security_code {
            holder.security_code.clone_from(code);
        }
        if let Some(tries) = self.sandbox_pin_tries {
            config.tries.auth_pin = tries;
        }
        if let Some(tries) = self.sandbox_signing_tries {
            config.tries.signing_password = tries;
        }
        if self.sandbox_no_signing_certificate {
            config.with_signing_certificate = false;
        }
        Ok(config)
    }

    fn anchors(&self, default: Anchors) -> Result<TrustAnchors, Failure> {
        match self.anchors.clone().unwrap_or(default) {
            Anchors::Production => Ok(TrustAnchors::production()),
            Anchors::Sandbox => Ok(SandboxCa::fixture().trust_anchors()),
            Anchors::File(path) => {
                let contents = std::fs::read(&path)
                    .map_err(|e| Failure::Input(format!("--anchors {}: {e}", path.display())))?;
                TrustAnchors::none()
                    .with_anchor_file(&contents)
                    .map_err(|e| Failure::Input(format!("--anchors {}: {e}", path.display())))
            }
        }
    }
}

/// The transports the CLI can drive.
pub enum ReaderTransport {
    /// The in-process virtual card.
    Sandbox(VirtualTransport),
    /// A PC/SC reader.
    #[cfg(feature = "pcsc")]
    Pcsc(crate::pcsc_reader::PcscTransport),
}

#[async_trait::async_trait]
impl CardTransport for ReaderTransport {
    fn capabilities(&self) -> LinkCapabilities {
        match self {
            Self::Sandbox(t) => t.capabilities(),
            #[cfg(feature = "pcsc")]
            Self::Pcsc(t) => t.capabilities(),
        }
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self {
            Self::Sandbox(t) => t.transmit(command).await,
            #[cfg(feature = "pcsc")]
            Self::Pcsc(t) => t.transmit(command).await,
        }
    }
}

/// An opened card: a fresh session, and the anchors its certificates must chain to.
pub struct OpenCard {
    /// The session.
    pub channel: CardChannel<ReaderTransport>,
    /// Trusted roots for this reader's cards.
    pub anchors: TrustAnchors,
    /// A name for the reader.
    pub label: String,
}

impl Drop for OpenCard {
    fn drop(&mut self) {
        // A PC/SC reader whose card refused extended length is opened
        // short-only next time, saving the APDU that learnt it.
        #[cfg(feature = "pcsc")]
        if let ReaderTransport::Pcsc(transport) = self.channel.transport()
            && self.channel.extended_length_refused()
        {
            crate::reader_memory::remember_short_only(&transport.reader_name());
        }
    }
}

/// The failure of a build without PC/SC support.
#[cfg(not(feature = "pcsc"))]
pub fn no_pcsc_support() -> Failure {
    Failure::Unsupported(
        "this mynakit was built without PC/SC support: rebuild with \
         `cargo build -p mynakit-cli --features pcsc` (needs libpcsclite-dev and pkg-config)"
            .into(),
    )
}

/// Opens the reader named by `--reader`.
pub fn open(args: &ReaderArgs, _out: &Output) -> Result<OpenCard, Failure> {
    match args.reader.as_str() {
        "sandbox" => {
            let sandbox = Sandbox::with_config(args.sandbox_config().map_err(Failure::Input)?)
                .map_err(|e| Failure::Input(e.to_string()))?;
            let transport = sandbox.transport(args.sandbox_switches());
            Ok(OpenCard {
                channel: CardChannel::new(ReaderTransport::Sandbox(transport)),
                anchors: args.anchors(Anchors::Sandbox)?,
                label: "sandbox virtual card".into(),
            })
        }
        "pcsc" => open_pcsc(args, None),
        other => match other.strip_prefix("pcsc:") {
            Some(name) if !name.is_empty() => open_pcsc(args, Some(name)),
            _ => Err(Failure::Input(format!(
                "unknown reader {other:?}: use `sandbox`, `pcsc` or `pcsc:NAME`"
            ))),
        },
    }
}

#[cfg(feature = "pcsc")]
fn open_pcsc(args: &ReaderArgs, name: Option<&str>) -> Result<OpenCard, Failure> {
    let mut transport = crate::pcsc_reader::open(name, Duration::from_secs(args.wait))?;
    let label = transport.reader_name();
    if crate::reader_memory::is_short_only(&label) {
        transport.use_short_apdus();
    }
    Ok(OpenCard {
        channel: CardChannel::new(ReaderTransport::Pcsc(transport)),
        anchors: args.anchors(Anchors::Production)?,
        label,
    })
}

#[cfg(not(feature = "pcsc"))]
fn open_pcsc(_args: &ReaderArgs, _name: Option<&str>) -> Result<OpenCard, Failure> {
    Err(no_pcsc_support())
}
