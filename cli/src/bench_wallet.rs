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
use mynakit_core::wallet::status_list::{
    Status, StatusList, StatusListToken, sign_status_list_token,
};
use mynakit_core::wallet::verifier::{StatusCheck, Verifier};
use mynakit_core::wallet::wire::{ApplicationData, NonceResponse, StatusReference};
use mynakit_core::{
    AuthorityLink, AuthorityRequest, AuthorityResponse, CardChannel, Exchange, KenhojoPin,
    LinkError, SigningPassword, SoftwareSecureArea, Store, SystemClock, UserAuthenticator,
};
use mynakit_sandbox::iaca::IssuerKeys;
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
    /// The verifier: chain to the IACA, MSO signature, digests, validity,
    /// device signature; no status list.
    verify_us: u64,
    /// The same and the status list token (2^20 entries: signature,
    /// inflate, lookup).
    verify_with_list_us: u64,
    /// The status list token's size.
    status_list_token_bytes: usize,
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
    let issuer_keys = IssuerKeys::generate(now).map_err(bad)?;
    let x5chain = issuer_keys.x5chain();
    let uri = "http://127.0.0.1:8470/v1/wallet/status-lists/1";
    let device_key = generate_p256().map_err(|e| bad(e.to_string()))?;
    let mso = MsoInput {
        device_key: sec1(device_key.verifying_key()),
        signed: now,
        valid_from: now,
        valid_until: now + TimeDelta::days(30),
        status: Some(StatusReference {
            idx: 7,
            uri: uri.into(),
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
    // The issuer's list at its policy size (2^20, 2 bits), ours VALID.
    let list = StatusList::new(2, 1 << 20).map_err(|e| bad(e.to_string()))?;
    let token = sign_status_list_token(
        &StatusListToken {
            uri: uri.into(),
            issued_at: now,
            expires_at: now + TimeDelta::hours(24),
            ttl: Some(TimeDelta::minutes(20)),
            list,
        },
        &x5chain,
        |tbs| Ok::<_, ()>(issuer_keys.sign(tbs)),
    )
    .map_err(|e| bad(e.to_string()))?;
    let verifier = Verifier::new(vec![issuer_keys.iaca_der().to_vec()]);
    let (mut verify_t, mut verify_list_t) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds.max(1) {
        let start = Instant::now();
        let record = issue(&elements, &mso, &x5chain, |tbs| {
            Ok::<_, ()>(issuer_keys.sign(tbs))
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

        let start = Instant::now();
        verifier
            .verify(&response, &transcript, now, None)
            .map_err(|e| bad(format!("verify: {e}")))?;
        verify_t.push(micros(start));
        let start = Instant::now();
        let verified = verifier
            .verify(&response, &transcript, now, Some(&token))
            .map_err(|e| bad(format!("verify with the list: {e}")))?;
        verify_list_t.push(micros(start));
        if verified.status != StatusCheck::Valid {
            return Err(bad(format!(
                "the list did not say VALID: {:?}",
                verified.status
            )));
        }
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
        verify_us: median(verify_t),
        verify_with_list_us: median(verify_list_t),
        status_list_token_bytes: token.len(),
    };
    out.result(&cost, || {
        format!(
            "record: {} elements, {} bytes; presentation of {}: {} bytes\n\
             median of {} rounds (µs): issue {}; present {} = parse {} + select {} + device signature {} + DeviceResponse {}\n\
             verify {} without a status list, {} with the issuer's list ({} bytes, 2^20 entries)",
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
            cost.response_us,
            cost.verify_us,
            cost.verify_with_list_us,
            cost.status_list_token_bytes
        )
    });
    Ok(())
}

/// Options of `bench status-list`.
#[derive(Debug, Args)]
pub struct StatusListBenchArgs {
    /// List sizes (entries), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000_000u64, 10_000_000])]
    sizes: Vec<u64>,
    /// Entries not VALID, per thousand, comma-separated (random indices,
    /// INVALID; one in ten of them SUSPENDED).
    #[arg(long, value_delimiter = ',', default_values_t = [0u64, 1, 10])]
    permille: Vec<u64>,
}

/// One status list measured.
#[derive(Debug, Serialize)]
struct StatusListCost {
    entries: u64,
    not_valid_permille: u64,
    raw_bytes: u64,
    zlib_bytes: usize,
    token_bytes: usize,
    /// Setting the entries (random indices).
    fill_ms: f64,
    /// zlib alone.
    compress_ms: f64,
    /// The CWT: claims, zlib again, COSE_Sign1 ES256 with the x5chain.
    build_compress_sign_ms: f64,
}

fn millis(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Runs `bench status-list`.
pub fn run_status_list(args: &StatusListBenchArgs, out: &Output) -> CmdResult {
    let bad = |e: String| Failure::Other(e);
    let now = Utc::now();
    let keys = IssuerKeys::generate(now).map_err(bad)?;
    let x5chain = keys.x5chain();
    let mut costs = Vec::new();
    for &entries in &args.sizes {
        for &permille in &args.permille {
            let start = Instant::now();
            let mut list = StatusList::new(2, entries).map_err(|e| bad(e.to_string()))?;
            let marked = entries.saturating_mul(permille) / 1000;
            let mut random = [0u8; 8];
            for n in 0..marked {
                getrandom::fill(&mut random).map_err(|e| bad(e.to_string()))?;
                let idx = u64::from_le_bytes(random) % entries.max(1);
                let status = if n % 10 == 0 {
                    Status::Suspended
                } else {
                    Status::Invalid
                };
                list.set(idx, status).map_err(|e| bad(e.to_string()))?;
            }
            let fill_ms = millis(start);
            let start = Instant::now();
            let zlib = list.to_zlib();
            let compress_ms = millis(start);
            let start = Instant::now();
            let token = sign_status_list_token(
                &StatusListToken {
                    uri: "http://127.0.0.1:8470/v1/wallet/status-lists/1".into(),
                    issued_at: now,
                    expires_at: now + TimeDelta::hours(24),
                    ttl: Some(TimeDelta::minutes(20)),
                    list,
                },
                &x5chain,
                |tbs| Ok::<_, ()>(keys.sign(tbs)),
            )
            .map_err(|e| bad(e.to_string()))?;
            let sign_ms = millis(start);
            costs.push(StatusListCost {
                entries,
                not_valid_permille: permille,
                raw_bytes: entries.div_ceil(4),
                zlib_bytes: zlib.len(),
                token_bytes: token.len(),
                fill_ms,
                compress_ms,
                build_compress_sign_ms: sign_ms,
            });
        }
    }
    out.result(&costs, || {
        let mut lines = vec![
            "| entries | not VALID | raw | zlib | token | fill | compress | build+compress+sign |"
                .to_owned(),
            "|---:|---:|---:|---:|---:|---:|---:|---:|".to_owned(),
        ];
        for c in &costs {
            lines.push(format!(
                "| {} | {}‰ | {} B | {} B | {} B | {:.1} ms | {:.1} ms | {:.1} ms |",
                c.entries,
                c.not_valid_permille,
                c.raw_bytes,
                c.zlib_bytes,
                c.token_bytes,
                c.fill_ms,
                c.compress_ms,
                c.build_compress_sign_ms
            ));
        }
        lines.join("\n")
    });
    Ok(())
}

/// Options of `bench wallet-issuer`.
#[derive(Debug, Args)]
pub struct WalletIssuerBenchArgs {
    /// The served sandbox (`mynakit sandbox serve`); its issuer gets one
    /// application of the sandbox card, then the re-issues.
    #[arg(long, default_value = "http://127.0.0.1:8470", value_name = "URL")]
    authority: String,
    /// Re-issues to make.
    #[arg(long, default_value_t = 200)]
    reissues: u32,
}

/// Times the re-issue requests going through it.
struct Timed {
    inner: mynakit_http::HttpAuthorityLink,
    reissue_ms: std::sync::Mutex<Vec<f64>>,
}

#[async_trait::async_trait]
impl AuthorityLink for Timed {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        let reissue = request.path().ends_with("/reissues");
        let start = Instant::now();
        let answer = self.inner.send(request).await;
        if reissue {
            self.reissue_ms
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(millis(start));
        }
        answer
    }
}

/// What `bench wallet-issuer` prints.
#[derive(Debug, Serialize)]
struct IssuerCost {
    reissues: usize,
    seconds: f64,
    /// Whole cycles (lost, recovered, the phone's refresh and re-issue) per second.
    cycles_per_second: f64,
    /// The re-issue request alone (`POST …/reissues`, a signed mdoc back).
    reissue_p50_ms: f64,
    reissue_p99_ms: f64,
    reissue_max_ms: f64,
    reissues_per_second_of_request_time: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
        .unwrap_or(0.0)
}

/// Runs `bench wallet-issuer`: one application, then `reissues` cycles of
/// the admin's report-lost and recovered (W9, W6(4)) and the phone's
/// refresh, which re-issues; the re-issue request timed on its own. One
/// chain, so one request at a time (a chain's re-issues are serial by
/// nature: each replaces the last).
pub fn run_issuer(args: &WalletIssuerBenchArgs, out: &Output) -> CmdResult {
    let bad = |e: String| Failure::Other(e);
    let failed = |e: mynakit_core::wallet::WalletError| crate::wallet_cmd::wallet_failure(&e);
    let base = args.authority.trim_end_matches('/');
    let link = Arc::new(Timed {
        inner: mynakit_http::HttpAuthorityLink::new(base, std::time::Duration::from_secs(30))
            .map_err(|e| Failure::Input(e.to_string()))?,
        reissue_ms: std::sync::Mutex::new(Vec::new()),
    });
    let store = Arc::new(Store::open_in_memory().map_err(|e| bad(e.to_string()))?);
    let client = WalletClient::new(
        link.clone(),
        store,
        Arc::new(SoftwareSecureArea::in_memory().with_authenticator(Arc::new(BenchApproval))),
        Arc::new(SystemClock),
        base,
    )
    .map_err(failed)?;
    let sandbox = Sandbox::new();
    let secrets = CardSecrets::default();
    let pin = KenhojoPin::new(&secrets.kenhojo_pin).map_err(|e| Failure::Input(e.to_string()))?;
    let password = SigningPassword::new(&secrets.signing_password)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let admin = |path: String| -> Result<(), Failure> {
        let key = mynakit_core::IdempotencyKey::generate().map_err(|e| bad(e.to_string()))?;
        let answer = pollster::block_on(link.inner.send(AuthorityRequest::post(
            path,
            b"{}".to_vec(),
            &key,
        )))
        .map_err(|e| bad(e.to_string()))?;
        if answer.status != 200 {
            return Err(bad(format!("the admin route answered {}", answer.status)));
        }
        Ok(())
    };
    let mut record_id = pollster::block_on(async {
        let mut application = client.begin_application().await?;
        let mut channel = CardChannel::new(sandbox.transport(Default::default()));
        client
            .tap(&mut application, &mut channel, &pin, &password)
            .await?;
        client.submit_application(&mut application).await
    })
    .map_err(failed)?
    .record_id;
    let start = Instant::now();
    for _ in 0..args.reissues.max(1) {
        admin(format!("/v1/sandbox/wallet/records/{record_id}/lost"))?;
        admin(format!("/v1/sandbox/wallet/records/{record_id}/recovered"))?;
        let report = pollster::block_on(client.refresh()).map_err(failed)?;
        record_id = report
            .reissued
            .ok_or_else(|| bad("the refresh did not re-issue".into()))?
            .new_record_id;
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut times = link
        .reissue_ms
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    times.sort_by(f64::total_cmp);
    let total: f64 = times.iter().sum();
    let cost = IssuerCost {
        reissues: times.len(),
        seconds,
        cycles_per_second: f64::from(args.reissues.max(1)) / seconds,
        reissue_p50_ms: percentile(&times, 0.50),
        reissue_p99_ms: percentile(&times, 0.99),
        reissue_max_ms: times.last().copied().unwrap_or(0.0),
        reissues_per_second_of_request_time: if total > 0.0 {
            times.len() as f64 * 1000.0 / total
        } else {
            0.0
        },
    };
    out.result(&cost, || {
        format!(
            "{} re-issues in {:.1} s ({:.1} lost/recovered/refresh cycles per s); the re-issue request: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({:.0} per s of request time)",
            cost.reissues,
            cost.seconds,
            cost.cycles_per_second,
            cost.reissue_p50_ms,
            cost.reissue_p99_ms,
            cost.reissue_max_ms,
            cost.reissues_per_second_of_request_time
        )
    });
    Ok(())
}
