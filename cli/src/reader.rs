//! Opening the card: the sandbox virtual card, or (later) a PC/SC reader.

use std::time::Duration;

use clap::Args;
use mynakit_core::cert::TrustAnchors;
use mynakit_core::{CardChannel, CardTransport, LinkCapabilities, TransportError};
use mynakit_sandbox::{CardConfig, LinkSwitches, Removal, RemovalPoint, Sandbox, VirtualTransport};

use crate::failure::Failure;
use crate::output::Output;

/// Reader options shared by every card command.
#[derive(Debug, Args)]
pub struct ReaderArgs {
    /// Which reader: `sandbox` (the virtual card, default).
    #[arg(long, global = true, default_value = "sandbox")]
    pub reader: String,
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
    /// Sandbox: the card answers this many milliseconds late.
    #[arg(long, global = true)]
    pub sandbox_delay_ms: Option<u64>,
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
}

/// The transports the CLI can drive.
pub enum ReaderTransport {
    /// The in-process virtual card.
    Sandbox(VirtualTransport),
}

impl CardTransport for ReaderTransport {
    fn capabilities(&self) -> LinkCapabilities {
        match self {
            Self::Sandbox(t) => t.capabilities(),
        }
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self {
            Self::Sandbox(t) => t.transmit(command).await,
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

/// Opens the reader named by `--reader`.
pub fn open(args: &ReaderArgs, _out: &Output) -> Result<OpenCard, Failure> {
    match args.reader.as_str() {
        "sandbox" => {
            let mut config = CardConfig::sample();
            if let Some(tries) = args.sandbox_pin_tries {
                config.tries.auth_pin = tries;
            }
            let sandbox =
                Sandbox::with_config(config).map_err(|e| Failure::Input(e.to_string()))?;
            let transport = sandbox.transport(args.sandbox_switches());
            Ok(OpenCard {
                channel: CardChannel::new(ReaderTransport::Sandbox(transport)),
                anchors: sandbox.trust_anchors(),
                label: "sandbox virtual card".into(),
            })
        }
        other => Err(Failure::Input(format!(
            "unknown reader {other:?}: use `sandbox`"
        ))),
    }
}
