//! `mynakit bench authority`: a bounded load generator for a served reset
//! authority (`mynakit sandbox serve`), over the desktop's HTTP link
//! (`mynakit_http`, ureq) — the same requests a phone sends
//! (docs/reset-protocol.md), built as `sandbox/tests/reset.rs` builds them.
//!
//! The run is a fixed number of flows (`--requests`), each on its own card
//! and installation key, in phases: open a face-check session, submit a
//! capture that passes (the token is minted here), fetch challenges, reserve
//! a signing-password reset (with the token) and a PIN reset (no token, R3),
//! then cancel both. Each phase sends its requests from `--concurrency`
//! threads and is timed on its own; the request bodies (camera frames, card
//! and installation-key signatures) are built before a phase starts, so the
//! client's own work stays out of the timed part as far as it can (the
//! threads still share the machine's cores with the server). With
//! `--authority in-process` the same requests go to an authority in this
//! process through `InProcessLink` (the same routing function as the
//! server's, no HTTP), which shows what HTTP and the server add.
//!
//! Every answer is checked (status and body; a capture must pass): a
//! refusal is counted as a failure, with its status and `error`, never as
//! throughput, and the command fails when any request failed. Lock-out
//! (R11) and idempotency stay on in the authority: every request carries a
//! fresh idempotency key, and each flow has its own card so that "one live
//! reservation per card and kind" and the per-card lock-out never make one
//! flow wait for another.
//!
//! Distinct cards: the sandbox CA issues each flow's authentication and
//! signing certificates for the fixture card keys, with an issue date one
//! day earlier per flow (the certificate's serial and subject follow from
//! it), so each flow is a different card to the authority. The face record
//! is the sample card's for every flow: the authority does not bind the
//! record to the certificate yet (reset-protocol.md, known limits).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use clap::Args;
use mynakit_core::layout::{Application, jpki, kenmen};
use mynakit_core::{
    AuthorityLink, AuthorityRequest, AuthorityResponse, CardFace, Clock, IdempotencyKey, Picture,
};
use mynakit_http::HttpAuthorityLink;
use mynakit_sandbox::fixtures::FixtureKey;
use mynakit_sandbox::reset::http::CancelBody;
use mynakit_sandbox::reset::token::{es256_sign, generate_p256, sec1};
use mynakit_sandbox::reset::{
    CameraSubject, CaptureOutcome, CaptureRequest, Challenge, InProcessLink, OpenSessionRequest,
    Policy, Reservation, ReservationState, ReserveRequest, ResetAuthority, ResetKind,
    SandboxCamera, SandboxClock, SessionOpened, cancel_message, capture_message,
    reservation_card_message, reservation_message,
};
use mynakit_sandbox::{Holder, SandboxCa, VirtualCard};
use p256::ecdsa::SigningKey;
use rsa::Pkcs1v15Sign;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::CmdResult;
use crate::failure::Failure;
use crate::output::Output;

/// Most flows one run may ask for: keeps a run to seconds (each flow is a
/// distinct card, issued by the sandbox CA before the run).
const MAX_REQUESTS: usize = 1000;
/// Most client threads.
const MAX_CONCURRENCY: usize = 16;
/// Each request's time limit: a request that takes longer is a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Camera frames per liveness action (as the sandbox's tests take them).
const FRAMES_PER_ACTION: usize = 2;

/// Options of `bench authority`.
#[derive(Debug, Args)]
pub struct AuthorityBenchArgs {
    /// The served authority (`mynakit sandbox serve` prints it), or
    /// `in-process`: a fresh authority in this process behind
    /// `InProcessLink` (the same routing function, no HTTP), to see what
    /// HTTP adds.
    #[arg(long, value_name = "URL")]
    authority: String,
    /// Client threads sending at once.
    #[arg(long, default_value_t = 1, value_name = "N")]
    concurrency: usize,
    /// Flows: each phase sends this many requests (challenges twice as many:
    /// one per reservation).
    #[arg(long, default_value_t = 100, value_name = "M")]
    requests: usize,
    /// Print Markdown table rows instead of text.
    #[arg(long)]
    markdown: bool,
}

/// One flow's card and phone.
struct Flow {
    auth_certificate: Vec<u8>,
    signing_certificate: Vec<u8>,
    device: SigningKey,
    device_key: Vec<u8>,
}

/// What every flow shares: the sample card's Kenmen files and photo.
struct Shared {
    face_record: Vec<u8>,
    cv_certificate: Vec<u8>,
    token_label: String,
    photo: Picture,
}

/// One phase's result.
#[derive(Debug, Serialize)]
struct PhaseResult {
    phase: &'static str,
    requests: usize,
    ok: usize,
    failed: usize,
    /// Failures by status and `error` kind.
    failures: BTreeMap<String, usize>,
    wall_seconds: f64,
    /// Successful requests per second of the phase's wall time.
    per_second: f64,
    /// Latency of the successful requests, milliseconds.
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// The whole run.
#[derive(Debug, Serialize)]
struct RunResult {
    authority: String,
    concurrency: usize,
    flows: usize,
    /// /proc/loadavg's 1-minute figure before and after the run (Linux).
    load_before: Option<f64>,
    load_after: Option<f64>,
    phases: Vec<PhaseResult>,
}

fn bad(reason: impl Into<String>) -> Failure {
    Failure::Other(reason.into())
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs the benchmark.
pub fn run(args: &AuthorityBenchArgs, out: &Output) -> CmdResult {
    let run = measure(args)?;
    print(&run, args.markdown, out);
    let failed: usize = run.phases.iter().map(|p| p.failed).sum();
    let skipped: usize = run
        .phases
        .iter()
        .map(|p| p.requests.saturating_sub(p.ok + p.failed))
        .sum();
    if failed > 0 || skipped > 0 {
        return Err(bad(format!(
            "{failed} requests failed and {skipped} were not answered (their flow had failed, or a client thread stopped); see the phases above"
        )));
    }
    Ok(())
}

/// Runs every phase; failures are in the phases' counts.
fn measure(args: &AuthorityBenchArgs) -> Result<RunResult, Failure> {
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return Err(Failure::Input(format!(
            "--concurrency must be 1 to {MAX_CONCURRENCY}"
        )));
    }
    if !(1..=MAX_REQUESTS).contains(&args.requests) {
        return Err(Failure::Input(format!(
            "--requests must be 1 to {MAX_REQUESTS} (a bounded run, not a soak test)"
        )));
    }
    let target = if args.authority == IN_PROCESS {
        let clock: Arc<dyn Clock> = Arc::new(SandboxClock::new());
        Target::InProcess(Arc::new(
            ResetAuthority::in_memory(clock).map_err(|e| bad(e.to_string()))?,
        ))
    } else {
        // Checked once here so that each thread's own link cannot fail to build.
        HttpAuthorityLink::new(&args.authority, REQUEST_TIMEOUT)
            .map_err(|e| Failure::Input(e.to_string()))?;
        Target::Http(&args.authority)
    };
    let load_before = load_average();
    let shared = shared()?;
    let flows = flows(args.requests)?;
    let mut phases = Vec::new();
    let bench = Bench {
        target,
        concurrency: args.concurrency,
    };

    // 1. Sessions.
    let bodies = flows
        .iter()
        .map(|f| {
            json_body(&OpenSessionRequest {
                auth_certificate: f.auth_certificate.clone(),
                device_key: f.device_key.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (result, sessions) = bench.phase(
        "open face-check session",
        &bodies,
        |body| post("/v1/face-check/sessions", body),
        |response| expect::<SessionOpened>(response, 201),
    );
    phases.push(result);

    // 2. Captures that pass: the token is minted here.
    let captures = flows
        .iter()
        .zip(&sessions)
        .enumerate()
        .map(|(i, (flow, session))| {
            session
                .as_ref()
                .map(|s| capture_body(&shared, flow, s, i as u64))
                .transpose()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (result, outcomes) = bench.phase_of_some(
        "capture → pass (token minted)",
        &captures,
        |(path, body)| post(path, body),
        |response| {
            let outcome = expect::<CaptureOutcome>(response, 200)?;
            match (outcome.passed, outcome.token) {
                (true, Some(token)) => Ok(token),
                _ => Err(format!(
                    "200 face check failed ({} attempts left)",
                    outcome.attempts_left
                )),
            }
        },
    );
    phases.push(result);

    // 3. Challenges: one per reservation, both kinds.
    let empty = vec![Vec::new(); 2 * flows.len()];
    let (result, challenges) = bench.phase(
        "challenge",
        &empty,
        |body| post("/v1/challenges", body),
        |response| expect::<Challenge>(response, 201),
    );
    phases.push(result);
    let (password_challenges, pin_challenges) = challenges.split_at(flows.len());

    // 4. Signing-password reservations (R2: with the token, R4: auth key).
    let password = flows
        .iter()
        .zip(password_challenges.iter().zip(&outcomes))
        .map(|(flow, (challenge, token))| match (challenge, token) {
            (Some(c), Some(t)) => Some(reserve_body(
                &shared,
                flow,
                ResetKind::SigningPassword,
                c,
                Some(t),
            ))
            .transpose(),
            _ => Ok(None),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let reserved = |response: AuthorityResponse| {
        let reservation = expect::<Reservation>(response, 201)?;
        if reservation.state == ReservationState::Reserved {
            Ok(reservation.id)
        } else {
            Err(format!("201 but {:?}", reservation.state))
        }
    };
    let (result, password_ids) = bench.phase_of_some(
        "reservation, signing password (token)",
        &password,
        |body| post("/v1/reservations", body),
        reserved,
    );
    phases.push(result);

    // 5. PIN reservations (R3: no token, R4: signing key).
    let pin = flows
        .iter()
        .zip(pin_challenges)
        .map(|(flow, challenge)| {
            challenge
                .as_ref()
                .map(|c| reserve_body(&shared, flow, ResetKind::AuthPin, c, None))
                .transpose()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (result, pin_ids) = bench.phase_of_some(
        "reservation, auth PIN (no token)",
        &pin,
        |body| post("/v1/reservations", body),
        reserved,
    );
    phases.push(result);

    // 6. Cancel every reservation made.
    let cancels = flows
        .iter()
        .zip(&password_ids)
        .chain(flows.iter().zip(&pin_ids))
        .map(|(flow, id)| id.as_ref().map(|id| cancel_body(flow, id)).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let (result, _) = bench.phase_of_some(
        "cancel",
        &cancels,
        |(path, body)| post(path, body),
        |response| {
            let reservation = expect::<Reservation>(response, 200)?;
            if reservation.state == ReservationState::Cancelled {
                Ok(())
            } else {
                Err(format!("200 but {:?}", reservation.state))
            }
        },
    );
    phases.push(result);

    Ok(RunResult {
        authority: args.authority.clone(),
        concurrency: args.concurrency,
        flows: flows.len(),
        load_before,
        load_after: load_average(),
        phases,
    })
}

fn print(run: &RunResult, markdown: bool, out: &Output) {
    if markdown && !out.is_json() {
        for p in &run.phases {
            say!(
                "| {} | {} | {} | {}/{} | {:.0} | {:.1} | {:.1} |",
                run.concurrency,
                p.phase,
                p.requests,
                p.ok,
                p.failed,
                p.per_second,
                p.p50_ms,
                p.p99_ms
            );
        }
        return;
    }
    out.result(run, || {
        let mut lines = vec![format!(
            "{} flows, {} client threads against {} (load average {} before, {} after)",
            run.flows,
            run.concurrency,
            run.authority,
            run.load_before
                .map_or_else(|| "?".to_owned(), |l| format!("{l:.2}")),
            run.load_after
                .map_or_else(|| "?".to_owned(), |l| format!("{l:.2}")),
        )];
        for p in &run.phases {
            lines.push(format!(
                "{:<40} {:>4} ok {:>3} failed in {:>6.2} s: {:>6.0}/s; p50 {:>6.1} ms, p99 {:>6.1} ms, max {:>6.1} ms",
                p.phase, p.ok, p.failed, p.wall_seconds, p.per_second, p.p50_ms, p.p99_ms, p.max_ms
            ));
            for (kind, count) in &p.failures {
                lines.push(format!("    {count} × {kind}"));
            }
        }
        lines.join("\n")
    });
}

/// The sample card's Kenmen files, token label and photo.
fn shared() -> Result<Shared, Failure> {
    let card = VirtualCard::sample();
    let file = |app: Application, id| {
        card.ef_content(app, id)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| bad("the sample card lacks a file"))
    };
    let face_record = file(Application::Kenmen, kenmen::FACE)?;
    let cv_certificate = file(Application::Kenmen, kenmen::CV_CERTIFICATE)?;
    let label = file(Application::Jpki, jpki::TOKEN_INFO)?;
    let token_label = String::from_utf8_lossy(&label)
        .trim_end_matches([' ', '\0'])
        .to_owned();
    let face = CardFace::parse(&face_record).map_err(|e| bad(e.to_string()))?;
    let photo = Picture::from_jpeg2000(&face.photo_jp2).map_err(|e| bad(e.to_string()))?;
    Ok(Shared {
        face_record,
        cv_certificate,
        token_label,
        photo,
    })
}

/// `count` distinct cards (issued one day apart, the newest yesterday, so
/// that every certificate is valid now) and installation keys.
fn flows(count: usize) -> Result<Vec<Flow>, Failure> {
    let ca = SandboxCa::fixture();
    let holder = Holder::sample();
    let yesterday = Utc::now().date_naive() - TimeDelta::days(1);
    (0..count)
        .map(|i| {
            let issued_on: NaiveDate = yesterday - TimeDelta::days(i64::try_from(i).unwrap_or(0));
            let issue = |e: mynakit_sandbox::SandboxError| bad(e.to_string());
            let auth = ca
                .issue_authentication(
                    &holder,
                    issued_on,
                    FixtureKey::CardAuth.private_key().as_public_key(),
                )
                .map_err(issue)?;
            let signing = ca
                .issue_signing(
                    &holder,
                    issued_on,
                    FixtureKey::CardSigning.private_key().as_public_key(),
                )
                .map_err(issue)?;
            let device = generate_p256().map_err(|e| bad(e.to_string()))?;
            Ok(Flow {
                auth_certificate: auth.der().to_vec(),
                signing_certificate: signing.der().to_vec(),
                device_key: sec1(device.verifying_key()),
                device,
            })
        })
        .collect()
}

fn json_body<T: Serialize>(value: &T) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(value).map_err(|e| bad(e.to_string()))
}

/// The capture request for `session`: the holder in front of the sandbox
/// camera, frames from the session's opening on.
fn capture_body(
    shared: &Shared,
    flow: &Flow,
    session: &SessionOpened,
    seed: u64,
) -> Result<(String, Vec<u8>), Failure> {
    // The session opened start_deadline before its start_by (policy default).
    let opened: DateTime<Utc> = session.start_by - Policy::default().start_deadline;
    let frames = SandboxCamera::new(CameraSubject::Holder, seed).capture(
        &shared.photo,
        &session.actions,
        FRAMES_PER_ACTION,
        opened,
    );
    let message = capture_message(
        &session.session_id,
        &session.nonce,
        &shared.face_record,
        &frames,
    );
    let request = CaptureRequest {
        session_id: session.session_id.clone(),
        face_record: shared.face_record.clone(),
        cv_certificate: shared.cv_certificate.clone(),
        frames,
        device_signature: es256_sign(&flow.device, &message),
    };
    Ok((
        format!("/v1/face-check/sessions/{}/captures", session.session_id),
        json_body(&request)?,
    ))
}

/// A reservation signed by the card's other key (R4) and the installation key.
fn reserve_body(
    shared: &Shared,
    flow: &Flow,
    kind: ResetKind,
    challenge: &Challenge,
    token: Option<&Vec<u8>>,
) -> Result<Vec<u8>, Failure> {
    let (certificate, card_key) = match kind {
        ResetKind::SigningPassword => (&flow.auth_certificate, FixtureKey::CardAuth),
        ResetKind::AuthPin => (&flow.signing_certificate, FixtureKey::CardSigning),
    };
    let card_message = reservation_card_message(&challenge.challenge, kind, &flow.device_key);
    let jpki_signature = card_key
        .private_key()
        .sign(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(&card_message),
        )
        .map_err(|e| bad(e.to_string()))?;
    let message = reservation_message(
        &challenge.challenge,
        kind,
        token.map(Vec::as_slice),
        &flow.device_key,
    );
    json_body(&ReserveRequest {
        kind,
        challenge_id: challenge.challenge_id.clone(),
        face_check_token: token.cloned(),
        certificate: certificate.clone(),
        jpki_signature,
        token_label: shared.token_label.clone(),
        face_record: shared.face_record.clone(),
        cv_certificate: shared.cv_certificate.clone(),
        device_key: flow.device_key.clone(),
        device_signature: es256_sign(&flow.device, &message),
    })
}

fn cancel_body(flow: &Flow, id: &str) -> Result<(String, Vec<u8>), Failure> {
    Ok((
        format!("/v1/reservations/{id}/cancel"),
        json_body(&CancelBody {
            device_signature: es256_sign(&flow.device, &cancel_message(id)),
        })?,
    ))
}

/// A POST with a fresh idempotency key. `None` only if the OS's random
/// source failed.
fn post(path: &str, body: &[u8]) -> Option<AuthorityRequest> {
    let key = IdempotencyKey::generate().ok()?;
    Some(
        AuthorityRequest::post(path, body.to_vec(), &key)
            .header("Content-Type", "application/json"),
    )
}

/// The answer's body as `T` if its status is `status`; otherwise the status
/// and the authority's `error` kind.
fn expect<T: serde::de::DeserializeOwned>(
    response: AuthorityResponse,
    status: u16,
) -> Result<T, String> {
    if response.status != status {
        let kind = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| "(no error kind)".to_owned());
        return Err(format!("{} {kind}", response.status));
    }
    serde_json::from_slice(&response.body)
        .map_err(|e| format!("{status} with a body that does not parse: {e}"))
}

/// `--authority in-process`.
const IN_PROCESS: &str = "in-process";

/// Where the requests go.
enum Target<'a> {
    /// A served authority at this base address.
    Http(&'a str),
    /// An authority in this process, through `InProcessLink`.
    InProcess(Arc<ResetAuthority>),
}

impl Target<'_> {
    /// A link of the thread's own (for HTTP, its own client and connection).
    fn link(&self) -> Option<Box<dyn AuthorityLink>> {
        match self {
            Self::Http(url) => HttpAuthorityLink::new(url, REQUEST_TIMEOUT)
                .ok()
                .map(|l| Box::new(l) as Box<dyn AuthorityLink>),
            Self::InProcess(authority) => Some(Box::new(InProcessLink::new(Arc::clone(authority)))),
        }
    }
}

/// Where and how hard to send.
struct Bench<'a> {
    target: Target<'a>,
    concurrency: usize,
}

/// One request's outcome: its latency and what it gave.
type Sent<O> = (usize, Duration, Result<O, String>);

impl Bench<'_> {
    /// [`Self::phase_of_some`] where every item is sent.
    fn phase<I: Sync, O: Send>(
        &self,
        name: &'static str,
        items: &[I],
        request: impl Fn(&I) -> Option<AuthorityRequest> + Sync,
        check: impl Fn(AuthorityResponse) -> Result<O, String> + Sync,
    ) -> (PhaseResult, Vec<Option<O>>) {
        let items: Vec<Option<&I>> = items.iter().map(Some).collect();
        self.phase_of_some(name, &items, |i| request(i), check)
    }

    /// Sends one request per `Some` item from `concurrency` threads, each
    /// with its own HTTP client, taking the next item as it finishes one;
    /// times each request (build, send, answer read) and the whole phase.
    /// A `None` item (its flow failed earlier) is not sent and counts as
    /// neither success nor failure here. Answers come back in item order,
    /// `None` where the request was not sent or failed.
    fn phase_of_some<I: Sync, O: Send>(
        &self,
        name: &'static str,
        items: &[Option<I>],
        request: impl Fn(&I) -> Option<AuthorityRequest> + Sync,
        check: impl Fn(AuthorityResponse) -> Result<O, String> + Sync,
    ) -> (PhaseResult, Vec<Option<O>>) {
        let next = AtomicUsize::new(0);
        let started = Instant::now();
        let per_thread: Vec<Vec<Sent<O>>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..self.concurrency)
                .map(|_| {
                    scope.spawn(|| {
                        let mut sent = Vec::new();
                        let Some(link) = self.target.link() else {
                            return sent;
                        };
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some(slot) = items.get(index) else {
                                return sent;
                            };
                            let Some(item) = slot else { continue };
                            let began = Instant::now();
                            let answer = request(item)
                                .ok_or_else(|| "no randomness for an idempotency key".to_owned())
                                .and_then(|r| {
                                    pollster::block_on(link.send(r)).map_err(|e| e.to_string())
                                });
                            let took = began.elapsed();
                            sent.push((index, took, answer.and_then(&check)));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_default())
                .collect()
        });
        let wall = started.elapsed();
        let mut answers: Vec<Option<O>> = items.iter().map(|_| None).collect();
        let mut latencies = Vec::new();
        let mut failures = BTreeMap::new();
        for (index, took, outcome) in per_thread.into_iter().flatten() {
            match outcome {
                Ok(answer) => {
                    latencies.push(took);
                    if let Some(slot) = answers.get_mut(index) {
                        *slot = Some(answer);
                    }
                }
                Err(kind) => *failures.entry(kind).or_insert(0) += 1,
            }
        }
        latencies.sort_unstable();
        let ok = latencies.len();
        let failed = failures.values().sum();
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let result = PhaseResult {
            phase: name,
            requests: items.len(),
            ok,
            failed,
            failures,
            wall_seconds: wall.as_secs_f64(),
            per_second: if wall.is_zero() {
                0.0
            } else {
                ok as f64 / wall.as_secs_f64()
            },
            p50_ms: ms(percentile(&latencies, 50)),
            p99_ms: ms(percentile(&latencies, 99)),
            max_ms: ms(latencies.last()),
        };
        (result, answers)
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: usize) -> Option<&Duration> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(concurrency: usize, requests: usize) -> AuthorityBenchArgs {
        AuthorityBenchArgs {
            authority: IN_PROCESS.to_owned(),
            concurrency,
            requests,
            markdown: false,
        }
    }

    #[test]
    fn every_phase_of_a_small_in_process_run_succeeds() {
        let run = measure(&args(2, 3)).unwrap();
        let counts: Vec<_> = run
            .phases
            .iter()
            .map(|p| (p.phase, p.requests, p.ok, p.failed))
            .collect();
        assert_eq!(
            counts,
            [
                ("open face-check session", 3, 3, 0),
                ("capture → pass (token minted)", 3, 3, 0),
                ("challenge", 6, 6, 0),
                ("reservation, signing password (token)", 3, 3, 0),
                ("reservation, auth PIN (no token)", 3, 3, 0),
                ("cancel", 6, 6, 0),
            ]
        );
        assert!(
            run.phases
                .iter()
                .all(|p| p.per_second > 0.0 && p.p99_ms >= p.p50_ms)
        );
    }

    #[test]
    fn refusals_are_failures_with_their_kind_not_throughput() {
        let clock: Arc<dyn Clock> = Arc::new(SandboxClock::new());
        let bench = Bench {
            target: Target::InProcess(Arc::new(ResetAuthority::in_memory(clock).unwrap())),
            concurrency: 2,
        };
        // Captures without the body's fields: 400 bad_request, and one item
        // not sent (its flow failed earlier).
        let items: Vec<Option<(String, Vec<u8>)>> = (0..4)
            .map(|i| {
                Some((
                    format!("/v1/face-check/sessions/{i:032x}/captures"),
                    b"{}".to_vec(),
                ))
            })
            .chain([None])
            .collect();
        let (result, answers) = bench.phase_of_some(
            "capture",
            &items,
            |(path, body)| post(path, body),
            |response| expect::<CaptureOutcome>(response, 200),
        );
        assert_eq!((result.requests, result.ok, result.failed), (5, 0, 4));
        assert_eq!(result.per_second, 0.0);
        assert_eq!(
            result.failures,
            BTreeMap::from([("400 bad_request".to_owned(), 4)])
        );
        assert!(answers.iter().all(Option::is_none));

        // The same phase that accepts the answer counts it as throughput.
        let (result, answers) = bench.phase(
            "challenge",
            &[Vec::new(), Vec::new()],
            |body| post("/v1/challenges", body),
            |response| expect::<Challenge>(response, 201),
        );
        assert_eq!((result.ok, result.failed), (2, 0));
        assert!(answers.iter().all(Option::is_some));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50), Some(&Duration::from_millis(50)));
        assert_eq!(percentile(&ms, 99), Some(&Duration::from_millis(99)));
        assert_eq!(percentile(&ms[..1], 99), Some(&Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn the_run_is_bounded() {
        assert!(measure(&args(0, 1)).is_err());
        assert!(measure(&args(MAX_CONCURRENCY + 1, 1)).is_err());
        assert!(measure(&args(1, 0)).is_err());
        assert!(measure(&args(1, MAX_REQUESTS + 1)).is_err());
    }
}
