//! `mynakit bench reset-tap`: the card round trips of the reset app's one
//! tap (issue 8, step 3: `ResetClient::tap`), each kind, on an
//! extended-length and a short-only link, counted from the core's
//! transcript on the in-process virtual card, with where each APDU goes and
//! the NFC air time of the bytes.

use std::sync::Arc;

use clap::Args;
use mynakit_core::layout::{Application, ins, jpki, kenhojo, kenmen};
use mynakit_core::reset::{OtherSecret, ResetClient, ResetError};
use mynakit_core::{
    AuthPin, CardChannel, CheckCodeB, Clock, Exchange, LastTry, SigningPassword,
    SoftwareSecureArea, Store,
};
use mynakit_sandbox::reset::authority::ISSUER;
use mynakit_sandbox::reset::{InProcessLink, ResetAuthority, ResetKind, SandboxClock};
use mynakit_sandbox::{CardSecrets, LinkSwitches, Sandbox};
use serde::Serialize;

use crate::CmdResult;
use crate::air_time::{BitRate, load_of};
use crate::failure::Failure;
use crate::output::Output;

/// Options of `bench reset-tap`.
#[derive(Debug, Args)]
pub struct ResetTapBenchArgs {
    /// The user has confirmed that a last try may be spent, of the other
    /// secret (`LastTry::Allow`) and of 照合番号B (its own consent): no
    /// counter read before each VERIFY.
    #[arg(long)]
    allow_last_try: bool,
    /// Print Markdown tables instead of text.
    #[arg(long)]
    markdown: bool,
}

/// One APDU of the tap.
#[derive(Debug, Serialize)]
pub struct Step {
    what: String,
    bytes_sent: usize,
    bytes_received: usize,
}

/// One tap's cost.
#[derive(Debug, Serialize)]
pub struct TapCost {
    kind: &'static str,
    link: &'static str,
    apdus: usize,
    bytes_sent: usize,
    bytes_received: usize,
    air_ms_106: f64,
    air_ms_424: f64,
    steps: Vec<Step>,
}

/// Builds a link's switches.
type LinkOf = fn() -> LinkSwitches;

/// The links measured.
pub const LINKS: [(&str, LinkOf); 2] = [
    ("extended length", LinkSwitches::default),
    ("short APDUs only", LinkSwitches::short_only),
];

/// Runs the benchmark.
pub fn run(args: &ResetTapBenchArgs, out: &Output) -> CmdResult {
    let last_try = if args.allow_last_try {
        LastTry::Allow
    } else {
        LastTry::Refuse
    };
    let mut costs = Vec::new();
    for kind in [ResetKind::SigningPassword, ResetKind::AuthPin] {
        for (link, switches) in LINKS {
            let sandbox = Sandbox::new();
            let exchanges = pollster::block_on(tap(&sandbox, switches(), kind, last_try))?;
            costs.push(cost(kind, link, &exchanges));
        }
    }
    print(&costs, args.markdown, out);
    Ok(())
}

/// One tap of the phone's reset flow (`ResetClient::tap`, after `begin`
/// fetched the challenge from an in-process authority) on a fresh session
/// over `switches`; the session's exchanges.
async fn tap(
    sandbox: &Sandbox,
    switches: LinkSwitches,
    kind: ResetKind,
    last_try: LastTry,
) -> Result<Vec<Exchange>, Failure> {
    let failed = |e: ResetError| Failure::Other(format!("the reset flow failed: {e}"));
    let clock: Arc<dyn Clock> = Arc::new(SandboxClock::new());
    let authority = Arc::new(
        ResetAuthority::in_memory(Arc::clone(&clock)).map_err(|e| Failure::Other(e.to_string()))?,
    );
    let store = Arc::new(Store::open_in_memory().map_err(|e| Failure::Other(e.to_string()))?);
    let client = ResetClient::new(
        Arc::new(InProcessLink::new(authority)),
        store,
        Arc::new(SoftwareSecureArea::in_memory()),
        clock,
        ISSUER,
    )
    .map_err(failed)?;
    let holder = sandbox.card().holder().clone();
    let expiry = holder.card_expiry.format("%Y").to_string();
    let code = CheckCodeB::from_card_front("昭和60年6月15日", &expiry, &holder.security_code)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let secrets = CardSecrets::default();
    let other = match kind {
        ResetKind::SigningPassword => OtherSecret::AuthPin(
            AuthPin::new(&secrets.auth_pin).map_err(|e| Failure::Input(e.to_string()))?,
        ),
        ResetKind::AuthPin => OtherSecret::SigningPassword(
            SigningPassword::new(&secrets.signing_password)
                .map_err(|e| Failure::Input(e.to_string()))?,
        ),
    };
    let mut flow = client.begin(kind).await.map_err(failed)?;
    if last_try == LastTry::Allow {
        // Both consents: the other secret's and 照合番号B's own.
        flow.allow_check_code_last_try();
    }
    let mut channel = CardChannel::new(sandbox.transport(switches));
    client
        .tap(&mut flow, &mut channel, &code, &other, last_try)
        .await
        .map_err(failed)?;
    if !flow.tapped() {
        return Err(Failure::Other("the tap did not keep its evidence".into()));
    }
    Ok(channel.transcript().exchanges().to_vec())
}

fn cost(kind: ResetKind, link: &'static str, exchanges: &[Exchange]) -> TapCost {
    cost_named(kind_name(kind), link, exchanges)
}

/// One session's cost, its APDUs named (also `bench wallet-tap`'s).
pub fn cost_named(kind: &'static str, link: &'static str, exchanges: &[Exchange]) -> TapCost {
    let load = load_of(exchanges.iter().map(|e| (e.bytes_sent, e.bytes_received())));
    let mut namer = Namer::default();
    TapCost {
        kind,
        link,
        apdus: exchanges.len(),
        bytes_sent: exchanges.iter().map(|e| e.bytes_sent).sum(),
        bytes_received: exchanges.iter().map(Exchange::bytes_received).sum(),
        air_ms_106: load.millis(BitRate::Kbps106),
        air_ms_424: load.millis(BitRate::Kbps424),
        steps: exchanges
            .iter()
            .map(|e| Step {
                what: namer.name(e),
                bytes_sent: e.bytes_sent,
                bytes_received: e.bytes_received(),
            })
            .collect(),
    }
}

fn kind_name(kind: ResetKind) -> &'static str {
    match kind {
        ResetKind::SigningPassword => "signing-password reset",
        ResetKind::AuthPin => "PIN reset",
    }
}

/// Names APDUs from their header, following the selected application
/// (also `bench wallet-tap`'s).
#[derive(Default)]
pub struct Namer {
    app: Option<Application>,
}

impl Namer {
    /// The name of the next APDU of the session.
    pub fn name(&mut self, exchange: &Exchange) -> String {
        let c = &exchange.command;
        let (Some(&ins_byte), Some(&p1), Some(&p2)) = (c.get(1), c.get(2), c.get(3)) else {
            return "(no header)".into();
        };
        // Case 1 is 4 bytes, a short Le one more; extended forms are longer
        // with a leading 00 after the header.
        let extended = c.len() > 5 && c.get(4) == Some(&0) && !exchange.redacted;
        match ins_byte {
            ins::SELECT if p1 == 0x04 => {
                self.app = c.get(5..).and_then(Application::from_aid);
                format!("SELECT AP {}", self.app_name())
            }
            ins::SELECT => format!(
                "SELECT EF {:02X}{:02X}",
                c.get(5).unwrap_or(&0),
                c.get(6).unwrap_or(&0)
            ),
            ins::READ_BINARY if p1 & 0x80 != 0 => format!(
                "READ BINARY {} by SFI{}",
                self.file_name(p1 & 0x1F),
                if extended {
                    ", extended Le"
                } else {
                    ", short Le"
                }
            ),
            ins::READ_BINARY => format!(
                "READ BINARY at offset {} (continued)",
                u16::from_be_bytes([p1, p2])
            ),
            ins::VERIFY if !exchange.redacted => {
                format!(
                    "VERIFY {}, no data: tries left, none spent",
                    self.file_name(p2 & 0x1F)
                )
            }
            ins::VERIFY => format!("VERIFY {}", self.file_name(p2 & 0x1F)),
            ins::COMPUTE_DIGITAL_SIGNATURE => {
                format!("COMPUTE DIGITAL SIGNATURE, {}", self.file_name(p2 & 0x1F))
            }
            ins::GET_RESPONSE => "GET RESPONSE".into(),
            other => format!("INS {other:02X}"),
        }
    }

    fn app_name(&self) -> &'static str {
        match self.app {
            Some(Application::Jpki) => "JPKI",
            Some(Application::Kenhojo) => "Kenhojo",
            Some(Application::Kenmen) => "Kenmen",
            _ => "(unknown)",
        }
    }

    fn file_name(&self, sfi: u8) -> String {
        let name = match (self.app, sfi) {
            (Some(Application::Kenmen), f) if f == kenmen::FACE.0 => "face record (EF 0002)",
            (Some(Application::Kenmen), f) if f == kenmen::CV_CERTIFICATE.0 => {
                "CV certificate (EF 0004)"
            }
            (Some(Application::Kenmen), f) if f == kenmen::CHECK_CODE_B.0 => "照合番号B",
            (Some(Application::Kenmen), f) if f == kenmen::CHECK_CODE_A.0 => "照合番号A",
            (Some(Application::Kenhojo), f) if f == kenhojo::BASIC_FOUR.0 => "basic four (EF 0002)",
            (Some(Application::Kenhojo), f) if f == kenhojo::MY_NUMBER.0 => "My Number (EF 0001)",
            (Some(Application::Kenhojo), f) if f == kenhojo::PIN.0 => "card-info PIN",
            (Some(Application::Jpki), f) if f == jpki::TOKEN_INFO.0 => "token label (EF 0006)",
            (Some(Application::Jpki), f) if f == jpki::AUTH_CERT.0 => "auth certificate",
            (Some(Application::Jpki), f) if f == jpki::SIGNING_CERT.0 => "signing certificate",
            (Some(Application::Jpki), f) if f == jpki::AUTH_PIN.0 => "auth PIN",
            (Some(Application::Jpki), f) if f == jpki::SIGNING_PIN.0 => "signing password",
            (Some(Application::Jpki), f) if f == jpki::AUTH_KEY.0 => "auth key",
            (Some(Application::Jpki), f) if f == jpki::SIGNING_KEY.0 => "signing key",
            _ => return format!("EF {sfi:02X}"),
        };
        name.to_owned()
    }
}

/// Prints the costs (text, JSON or Markdown tables).
pub fn print(costs: &[TapCost], markdown: bool, out: &Output) {
    if markdown && !out.is_json() {
        say!("| kind | link | APDUs | bytes sent / received | air time 106 / 424 kbit/s |");
        say!("|---|---|---:|---:|---:|");
        for c in costs {
            say!(
                "| {} | {} | {} | {} / {} | {:.1} / {:.1} ms |",
                c.kind,
                c.link,
                c.apdus,
                c.bytes_sent,
                c.bytes_received,
                c.air_ms_106,
                c.air_ms_424
            );
        }
        for c in costs {
            say!("\n{}, {}:\n", c.kind, c.link);
            say!("| # | APDU | bytes sent / received |");
            say!("|---:|---|---:|");
            for (i, s) in c.steps.iter().enumerate() {
                say!(
                    "| {} | {} | {} / {} |",
                    i + 1,
                    s.what,
                    s.bytes_sent,
                    s.bytes_received
                );
            }
        }
        return;
    }
    out.result(&costs, || {
        let mut lines = Vec::new();
        for c in costs {
            lines.push(format!(
                "{}, {}: {} APDUs, {} bytes sent, {} received; air {:.1} ms at 106 kbit/s, {:.1} ms at 424",
                c.kind, c.link, c.apdus, c.bytes_sent, c.bytes_received, c.air_ms_106, c.air_ms_424
            ));
            for (i, s) in c.steps.iter().enumerate() {
                lines.push(format!(
                    "  {:>2}. {:<64} {:>5} / {:>5} bytes",
                    i + 1,
                    s.what,
                    s.bytes_sent,
                    s.bytes_received
                ));
            }
        }
        lines.join("\n")
    });
}
