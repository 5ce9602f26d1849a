//! `mynakit bench wallet-tap` and `bench presentation`: what the wallet
//! (issue 9) costs on the card and on the phone.
//!
//! - `wallet-tap`: the card round trips of the application's one tap
//!   (`WalletClient::tap`, W2) on the in-process virtual card, counted from
//!   the core's transcript like `bench reset-tap`, with where each APDU
//!   goes. The nonce comes from a stand-in issuer that answers only
//!   `POST /v1/wallet/nonces`: the tap itself never talks to the issuer.
//! - `presentation`: the phone's cost of one presentation (selective
//!   disclosure, the device signature over the transcript, the
//!   DeviceResponse) and, for scale, the issuer's cost of signing one
//!   record, on a record made from the sample holder's data.

use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeDelta, Utc};
use clap::Args;
use mynakit_core::wallet::WalletClient;
use mynakit_core::wallet::mdoc::{
    DOC_TYPE, ElementId, IssuerSigned, MsoInput, device_authentication_to_be_signed,
    device_response, elements_from_application, issue,
};
use mynakit_core::wallet::wire::{ApplicationData, NonceResponse, StatusReference};
use mynakit_core::{
    AuthorityLink, AuthorityRequest, AuthorityResponse, CardChannel, Exchange, KenhojoPin,
    LinkError, SigningPassword, SoftwareSecureArea, Store, SystemClock, UserAuthenticator,
};
use mynakit_sandbox::reset::token::{es256_sign, generate_p256, sec1};
use mynakit_sandbox::{CardSecrets, Sandbox};
use serde::Serialize;

use super::reset_tap::{LINKS, cost_named, print};
use crate::CmdResult;
use crate::failure::Failure;
use crate::output::Output;

/// Options of `bench wallet-tap`.
#[derive(Debug, Args)]
pub struct WalletTapBenchArgs {
    /// Print Markdown tables instead of text.
    #[arg(long)]
    markdown: bool,
}

/// Options of `bench presentation`.
#[derive(Debug, Args)]
pub struct PresentationBenchArgs {
    /// Presentations (and issues) to time.
    #[arg(long, default_value_t = 200)]
    rounds: u32,
}

/// A stand-in issuer for the tap: a fresh nonce, nothing else.
struct NonceOnly;

#[async_trait::async_trait]
impl AuthorityLink for NonceOnly {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        if !request.path().ends_with("/nonces") {
            return Ok(AuthorityResponse {
                status: 404,
                headers: Vec::new(),
                body: br#"{"error":"no_such_route"}"#.to_vec(),
            });
        }
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce).map_err(|e| LinkError::Unavailable {
            reason: e.to_string(),
        })?;
        let body = serde_json::to_vec(&NonceResponse {
            nonce: nonce.iter().map(|b| format!("{b:02x}")).collect(),
            expires_at: Utc::now() + TimeDelta::minutes(5),
        })
        .map_err(|e| LinkError::Unavailable {
            reason: e.to_string(),
        })?;
        Ok(AuthorityResponse {
            status: 201,
            headers: Vec::new(),
            body,
        })
    }
}

/// The bench approves the device key's uses (it makes one key per tap).
struct BenchApproval;

impl UserAuthenticator for BenchApproval {
    fn authenticate(&self, _alias: &str) -> Result<(), mynakit_core::SecureAreaError> {
        Ok(())
    }
}

/// Runs `bench wallet-tap`.
pub fn run_tap(args: &WalletTapBenchArgs, out: &Output) -> CmdResult {
    let mut costs = Vec::new();
    for (link, switches) in LINKS {
        let sandbox = Sandbox::new();
        let exchanges = pollster::block_on(tap(&sandbox, switches()))?;
        costs.push(cost_named("wallet application", link, &exchanges));
    }
    print(&costs, args.markdown, out);
    Ok(())
}

/// One application tap on a fresh session; the session's exchanges.
async fn tap(
    sandbox: &Sandbox,
    switches: mynakit_sandbox::LinkSwitches,
) -> Result<Vec<Exchange>, Failure> {
    let failed = |e: mynakit_core::wallet::WalletError| {
        Failure::Other(format!("the application tap failed: {e}"))
    };
    let store = Arc::new(Store::open_in_memory().map_err(|e| Failure::Other(e.to_string()))?);
    let client = WalletClient::new(
        Arc::new(NonceOnly),
        store,
        Arc::new(SoftwareSecureArea::in_memory().with_authenticator(Arc::new(BenchApproval))),
        Arc::new(SystemClock),
        "bench:nonce-only",
    )
    .map_err(failed)?;
    let secrets = CardSecrets::default();
    let pin = KenhojoPin::new(&secrets.kenhojo_pin).map_err(|e| Failure::Input(e.to_string()))?;
    let password = SigningPassword::new(&secrets.signing_password)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let mut application = client.begin_application().await.map_err(failed)?;
    let mut channel = CardChannel::new(sandbox.transport(switches));
    client
        .tap(&mut application, &mut channel, &pin, &password)
        .await
        .map_err(failed)?;
    if !application.tapped() {
        return Err(Failure::Other("the tap did not keep its evidence".into()));
    }
    Ok(channel.transcript().exchanges().to_vec())
}

/// What `bench presentation` prints: microseconds per operation (median of
/// the rounds).
#[derive(Debug, Serialize)]
struct PresentationCost {
    rounds: u32,
    elements_in_record: usize,
    elements_disclosed: usize,
    record_bytes: usize,
    response_bytes: usize,
    /// The issuer signs one record (salts, digests, MSO, COSE_Sign1).
    issue_us: u64,
    /// The phone parses the kept record.
    parse_us: u64,
    /// Selective disclosure.
    select_us: u64,
    /// The device signature over DeviceAuthentication (ES256, software key).
    device_sign_us: u64,
    /// The DeviceResponse CBOR.
    response_us: u64,
    /// Parse + select + sign + response: one presentation.
    present_total_us: u64,
}

fn median(mut samples: Vec<u64>) -> u64 {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or(0)
}

fn micros(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Runs `bench presentation`.
pub fn run_presentation(args: &PresentationBenchArgs, out: &Output) -> CmdResult {
    let bad = |e: String| Failure::Other(e);
    let holder = mynakit_sandbox::Holder::sample();
    let data = ApplicationData {
        name: holder.name.clone(),
        address: holder.address.clone(),
        birth_date: holder.birth_date,
        sex: 1,
        my_number: holder.my_number.expose().to_owned(),
        photo_jp2: holder.photo.clone(),
    };
    let now = Utc::now();
    let elements = elements_from_application(&data, now.date_naive());
    let issuer_key = generate_p256().map_err(|e| bad(e.to_string()))?;
    let device_key = generate_p256().map_err(|e| bad(e.to_string()))?;
    let mso = MsoInput {
        device_key: sec1(device_key.verifying_key()),
        signed: now,
        valid_from: now,
        valid_until: now + TimeDelta::days(30),
        status: Some(StatusReference {
            idx: 7,
            uri: "http://127.0.0.1:8470/v1/wallet/status-lists/1".into(),
        }),
    };
    let wanted: Vec<ElementId> = ["full_name_unicode", "age_over_20", "portrait"]
        .iter()
        .filter_map(|id| ElementId::parse(id).ok())
        .filter(|id| elements.iter().any(|(e, _)| e == id))
        .collect();
    let mut transcript = vec![0x83, 0xf6, 0xf6, 0x58, 0x20];
    transcript.extend_from_slice(&[7u8; 32]);
    let (mut issue_t, mut parse_t, mut select_t, mut sign_t, mut resp_t, mut total_t) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut record_bytes = 0;
    let mut response_bytes = 0;
    for _ in 0..args.rounds.max(1) {
        let start = Instant::now();
        let record = issue(&elements, &mso, &[], |tbs| {
            Ok::<_, ()>(es256_sign(&issuer_key, tbs))
        })
        .map_err(|e| bad(format!("issue: {e}")))?;
        issue_t.push(micros(start));
        record_bytes = record.len();

        let all = Instant::now();
        let start = Instant::now();
        let parsed = IssuerSigned::from_cbor(&record).map_err(|e| bad(e.to_string()))?;
        parse_t.push(micros(start));
        let start = Instant::now();
        let disclosed = parsed.select(&wanted).map_err(|e| bad(e.to_string()))?;
        select_t.push(micros(start));
        let start = Instant::now();
        let tbs = device_authentication_to_be_signed(&transcript, DOC_TYPE)
            .map_err(|e| bad(e.to_string()))?;
        let signature = es256_sign(&device_key, &tbs);
        sign_t.push(micros(start));
        let start = Instant::now();
        let response = device_response(&disclosed, &signature).map_err(|e| bad(e.to_string()))?;
        resp_t.push(micros(start));
        total_t.push(micros(all));
        response_bytes = response.len();
    }
    let cost = PresentationCost {
        rounds: args.rounds.max(1),
        elements_in_record: elements.len(),
        elements_disclosed: wanted.len(),
        record_bytes,
        response_bytes,
        issue_us: median(issue_t),
        parse_us: median(parse_t),
        select_us: median(select_t),
        device_sign_us: median(sign_t),
        response_us: median(resp_t),
        present_total_us: median(total_t),
    };
    out.result(&cost, || {
        format!(
            "record: {} elements, {} bytes; presentation of {}: {} bytes\n\
             median of {} rounds (µs): issue {}; present {} = parse {} + select {} + device signature {} + DeviceResponse {}",
            cost.elements_in_record,
            cost.record_bytes,
            cost.elements_disclosed,
            cost.response_bytes,
            cost.rounds,
            cost.issue_us,
            cost.present_total_us,
            cost.parse_us,
            cost.select_us,
            cost.device_sign_us,
            cost.response_us
        )
    });
    Ok(())
}
