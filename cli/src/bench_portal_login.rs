//! `mynakit bench portal-login`: how many card logins (P2) a served sandbox
//! portal (`mynakit sandbox serve`) completes per second on loopback, and
//! their latency (p50/p99).
//!
//! One login is the phone's three requests, as `PortalClient` sends them:
//! the authorization request (`GET /v1/portal/authorize`, PKCE S256, state,
//! nonce), the card's proof (`POST /v1/portal/authorize/proof`: the
//! sandbox card's authentication certificate and its signature over the
//! challenge) and the code exchange (`POST /v1/portal/token`, form, the
//! PKCE verifier), the last two under idempotency keys. The card's
//! signature is made in this process between the first and second request
//! with the sandbox card's fixture authentication key (RSA-2048 PKCS#1
//! v1.5, SHA-256) — what the card's COMPUTE DIGITAL SIGNATURE computes —
//! and timed apart: the login latency is the three requests' time (the
//! portal's work and loopback HTTP), not the card's. The phone's own checks
//! (the ID token against the JWK Set) are not part of it. One login at a
//! time: the served sandbox answers one request at a time.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use mynakit_core::portal::wire::{
    APP_CLIENT_ID, APP_REDIRECT_URI, AUTHORIZE_PATH, AuthorizationResult, AuthorizeQuery,
    CardProof, FORM_CONTENT_TYPE, LoginChallenge, OPENID_SCOPE, PKCE_METHOD, PROOF_PATH,
    TOKEN_PATH, TokenRequest, TokenResponse, card_login_message,
};
use mynakit_core::{AuthorityLink, AuthorityRequest, AuthorityResponse, IdempotencyKey};
use mynakit_sandbox::VirtualCard;
use mynakit_sandbox::fixtures::FixtureKey;
use rsa::Pkcs1v15Sign;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::CmdResult;
use crate::failure::Failure;
use crate::output::Output;

/// Options of `bench portal-login`.
#[derive(Debug, Args)]
pub struct PortalLoginBenchArgs {
    /// The served sandbox (`mynakit sandbox serve`); its portal's J-LIS
    /// directory knows the sample card.
    #[arg(long, default_value = "http://127.0.0.1:8470", value_name = "URL")]
    authority: String,
    /// Logins to make.
    #[arg(long, default_value_t = 300)]
    logins: u32,
    /// Logins made first and not counted (connection set-up, caches).
    #[arg(long, default_value_t = 10)]
    warmup: u32,
}

/// What `bench portal-login` prints.
#[derive(Debug, Serialize)]
struct LoginCost {
    logins: u32,
    /// Wall time of the counted logins, the card's signatures included.
    seconds: f64,
    /// Logins per second of wall time (one at a time, signatures included).
    logins_per_second: f64,
    /// Logins per second of request time (the three requests only).
    logins_per_second_of_request_time: f64,
    /// One login's three requests.
    login_p50_ms: f64,
    login_p99_ms: f64,
    login_max_ms: f64,
    /// Each request alone.
    authorize_p50_ms: f64,
    authorize_p99_ms: f64,
    proof_p50_ms: f64,
    proof_p99_ms: f64,
    token_p50_ms: f64,
    token_p99_ms: f64,
    /// The card's signature made in this process (not in the latency).
    card_signature_p50_ms: f64,
}

fn millis(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
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

fn random_token(bytes: usize) -> Result<String, Failure> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| Failure::Other(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(&buffer))
}

/// The JSON of a 2xx, else a failure naming the step.
fn answer<T: DeserializeOwned>(step: &str, answer: &AuthorityResponse) -> Result<T, Failure> {
    if !(200..300).contains(&answer.status) {
        return Err(Failure::Other(format!(
            "{step}: status {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )));
    }
    serde_json::from_slice(&answer.body).map_err(|e| Failure::Other(format!("{step}: {e}")))
}

/// One login's times, ms: authorize, signature, proof, token.
struct Times {
    authorize: f64,
    signature: f64,
    proof: f64,
    token: f64,
}

struct Bench {
    link: mynakit_http::HttpAuthorityLink,
    certificate: Vec<u8>,
}

impl Bench {
    fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, Failure> {
        pollster::block_on(self.link.send(request)).map_err(|e| Failure::AuthorityUnavailable {
            message: e.to_string(),
            retry_after: None,
        })
    }

    fn login(&self) -> Result<Times, Failure> {
        let verifier = random_token(32)?;
        let query = AuthorizeQuery {
            response_type: "code".to_owned(),
            client_id: APP_CLIENT_ID.to_owned(),
            redirect_uri: APP_REDIRECT_URI.to_owned(),
            scope: OPENID_SCOPE.to_owned(),
            state: random_token(16)?,
            nonce: random_token(16)?,
            code_challenge: URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            code_challenge_method: PKCE_METHOD.to_owned(),
        };
        let query =
            serde_urlencoded::to_string(&query).map_err(|e| Failure::Other(e.to_string()))?;
        let start = Instant::now();
        let challenge: LoginChallenge = answer(
            "authorize",
            &self.send(AuthorityRequest::get(format!("{AUTHORIZE_PATH}?{query}")))?,
        )?;
        let authorize = millis(start);

        let start = Instant::now();
        let message = card_login_message(&challenge.request_id, &challenge.challenge);
        let signature = FixtureKey::CardAuth
            .private_key()
            .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&message))
            .map_err(|e| Failure::Other(format!("the card's signature: {e}")))?;
        let signature_ms = millis(start);

        let key = |_: ()| IdempotencyKey::generate().map_err(|e| Failure::Other(e.to_string()));
        let body = serde_json::to_vec(&CardProof {
            request_id: challenge.request_id.clone(),
            certificate: self.certificate.clone(),
            signature,
        })
        .map_err(|e| Failure::Other(e.to_string()))?;
        let start = Instant::now();
        let result: AuthorizationResult = answer(
            "proof",
            &self.send(
                AuthorityRequest::post(PROOF_PATH, body, &key(())?)
                    .header("Content-Type", "application/json"),
            )?,
        )?;
        let proof = millis(start);

        let form = serde_urlencoded::to_string(&TokenRequest::AuthorizationCode {
            code: result.code.clone(),
            redirect_uri: APP_REDIRECT_URI.to_owned(),
            client_id: APP_CLIENT_ID.to_owned(),
            code_verifier: verifier,
        })
        .map_err(|e| Failure::Other(e.to_string()))?;
        let start = Instant::now();
        let tokens: TokenResponse = answer(
            "token",
            &self.send(
                AuthorityRequest::post(TOKEN_PATH, form.into_bytes(), &key(())?)
                    .header("Content-Type", FORM_CONTENT_TYPE),
            )?,
        )?;
        let token = millis(start);
        if tokens.id_token.is_none() {
            return Err(Failure::Other("token: no ID token".into()));
        }
        Ok(Times {
            authorize,
            signature: signature_ms,
            proof,
            token,
        })
    }
}

/// Runs `bench portal-login`.
pub fn run(args: &PortalLoginBenchArgs, out: &Output) -> CmdResult {
    let base = args.authority.trim_end_matches('/');
    let bench = Bench {
        link: mynakit_http::HttpAuthorityLink::new(base, Duration::from_secs(30))
            .map_err(|e| Failure::Input(e.to_string()))?,
        certificate: VirtualCard::sample().auth_certificate().der().to_vec(),
    };
    for _ in 0..args.warmup {
        bench.login()?;
    }
    let logins = args.logins.max(1);
    let mut times = Vec::new();
    let start = Instant::now();
    for _ in 0..logins {
        times.push(bench.login()?);
    }
    let seconds = start.elapsed().as_secs_f64();
    let sorted = |f: &dyn Fn(&Times) -> f64| {
        let mut v: Vec<f64> = times.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let login = sorted(&|t| t.authorize + t.proof + t.token);
    let authorize = sorted(&|t| t.authorize);
    let proof = sorted(&|t| t.proof);
    let token = sorted(&|t| t.token);
    let signature = sorted(&|t| t.signature);
    let request_seconds: f64 = login.iter().sum::<f64>() / 1000.0;
    let cost = LoginCost {
        logins,
        seconds,
        logins_per_second: f64::from(logins) / seconds,
        logins_per_second_of_request_time: if request_seconds > 0.0 {
            f64::from(logins) / request_seconds
        } else {
            0.0
        },
        login_p50_ms: percentile(&login, 0.50),
        login_p99_ms: percentile(&login, 0.99),
        login_max_ms: login.last().copied().unwrap_or(0.0),
        authorize_p50_ms: percentile(&authorize, 0.50),
        authorize_p99_ms: percentile(&authorize, 0.99),
        proof_p50_ms: percentile(&proof, 0.50),
        proof_p99_ms: percentile(&proof, 0.99),
        token_p50_ms: percentile(&token, 0.50),
        token_p99_ms: percentile(&token, 0.99),
        card_signature_p50_ms: percentile(&signature, 0.50),
    };
    out.result(&cost, || {
        format!(
            "{} logins in {:.1} s: {:.1} logins/s (card signatures in process included), {:.1} per s of request time\n\
             one login (authorize + proof + token): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n\
             authorize p50 {:.1} / p99 {:.1} ms; proof p50 {:.1} / p99 {:.1} ms; token p50 {:.1} / p99 {:.1} ms\n\
             the card's signature (in process, not in the latency): p50 {:.1} ms",
            cost.logins,
            cost.seconds,
            cost.logins_per_second,
            cost.logins_per_second_of_request_time,
            cost.login_p50_ms,
            cost.login_p99_ms,
            cost.login_max_ms,
            cost.authorize_p50_ms,
            cost.authorize_p99_ms,
            cost.proof_p50_ms,
            cost.proof_p99_ms,
            cost.token_p50_ms,
            cost.token_p99_ms,
            cost.card_signature_p50_ms
        )
    });
    Ok(())
}
