//! The portal app's login with the card (P2, issue 10): the phone's
//! `PortalClient` (begin_login → tap → finish_login, refresh) against the
//! reference portal in process (`PortalLink`), the phone's clock and the
//! portal's the same manual clock. The pairwise subject, renewal (P3/P4),
//! and the faults: each a typed error, nothing lost.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use mynakit_core::layout::{Application, jpki};
use mynakit_core::portal::wire::{
    APP_CLIENT_ID, APP_REDIRECT_URI, AUTHORIZE_PATH, AuthorizationResult, CARD_LOGIN_ACR,
    CardProof, ErrorBody, IdTokenClaims, JWKS_PATH, LoginChallenge, PROOF_PATH, TOKEN_PATH,
    TokenResponse, card_login_message,
};
use mynakit_core::portal::{LoginFlow, PortalClient, PortalError, PortalRefusal, Session};
use mynakit_core::{
    AuthPin, AuthorityError, AuthorityLink, AuthorityRequest, AuthorityResponse, CardChannel,
    CardError, Clock, DigestInfo, FreeCertificate, IdempotencyKey, Jpki, JpkiKey, LastTry,
    LinkError, ManualClock, SoftwareSecureArea, Store, TransportError,
};
use mynakit_sandbox::portal::{PortalAuthority, PortalLink, jlis, login};
use mynakit_sandbox::{LinkSwitches, RemovalPoint, Sandbox, VirtualTransport};
use mynakit_tests::{PIN, block_on, is_sign};
use sha2::{Digest, Sha256};

const PORTAL: &str = "https://portal.sandbox.mynakit.invalid";
const RP: &str = "sample-rp";
const RP_REDIRECT: &str = "http://127.0.0.1:8765/callback";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-01T01:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The portal limits use (P6) while this request arrives: 429.
    Limited,
    /// The portal is in maintenance while this request arrives: 503.
    Maintenance,
    /// The portal acts, the answer is lost on the way.
    AnswerLost,
}

/// One request and its answer, as the link saw them.
struct Seen {
    method: String,
    path: String,
    body: Vec<u8>,
    status: u16,
    answer: Vec<u8>,
}

/// The portal in process behind a link that records every exchange and
/// fails one chosen request.
struct TestLink {
    portal: Arc<PortalAuthority>,
    inner: PortalLink,
    sent: AtomicUsize,
    fail: Mutex<Option<(usize, Fault)>>,
    seen: Mutex<Vec<Seen>>,
}

#[async_trait::async_trait]
impl AuthorityLink for TestLink {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        let n = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        let fault = self
            .fail
            .lock()
            .unwrap()
            .filter(|(at, _)| *at == n)
            .map(|(_, f)| f);
        let (method, path, body) = (
            request.method().as_str().to_owned(),
            request.path().to_owned(),
            request.body().to_vec(),
        );
        match fault {
            Some(Fault::Limited) => {
                self.portal.limit_use(TimeDelta::minutes(2));
            }
            Some(Fault::Maintenance) => {
                self.portal.begin_maintenance(TimeDelta::minutes(2));
            }
            // The portal acts as usual; the answer is dropped below.
            Some(Fault::AnswerLost) | None => {}
        }
        let answer = self.inner.send(request).await;
        self.portal.limit_use(TimeDelta::zero());
        self.portal.begin_maintenance(TimeDelta::zero());
        let answer = answer?;
        self.seen.lock().unwrap().push(Seen {
            method,
            path,
            body,
            status: answer.status,
            answer: answer.body.clone(),
        });
        if fault == Some(Fault::AnswerLost) {
            return Err(LinkError::AnswerLost {
                reason: "test: connection reset".into(),
            });
        }
        Ok(answer)
    }
}

impl TestLink {
    /// The answer body of the last request to `path` with `status`.
    fn last_answer(&self, path: &str, status: u16) -> Vec<u8> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.path.starts_with(path) && s.status == status)
            .map(|s| s.answer.clone())
            .unwrap_or_else(|| panic!("no {status} answer to {path}"))
    }

    fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    s.method,
                    s.path.split('?').next().unwrap_or_default()
                )
            })
            .collect()
    }

    fn last_request_body(&self, path: &str) -> Vec<u8> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.path.starts_with(path))
            .map(|s| s.body.clone())
            .unwrap()
    }
}

struct World {
    clock: Arc<ManualClock>,
    portal: Arc<PortalAuthority>,
    sandbox: Sandbox,
}

impl World {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let portal = Arc::new(PortalAuthority::in_memory(clock.clone(), PORTAL).unwrap());
        Self {
            clock,
            portal,
            sandbox: Sandbox::new(),
        }
    }

    fn link(&self) -> Arc<TestLink> {
        Arc::new(TestLink {
            portal: self.portal.clone(),
            inner: PortalLink::new(self.portal.clone()),
            sent: AtomicUsize::new(0),
            fail: Mutex::new(None),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn phone_on(&self, link: Arc<TestLink>, store: Arc<Store>) -> PortalClient {
        PortalClient::new(
            link,
            store,
            Arc::new(SoftwareSecureArea::in_memory()),
            self.clock.clone(),
            PORTAL,
        )
        .unwrap()
    }

    fn phone(&self) -> (PortalClient, Arc<TestLink>) {
        let link = self.link();
        let phone = self.phone_on(link.clone(), Arc::new(Store::open_in_memory().unwrap()));
        (phone, link)
    }

    fn channel(&self) -> CardChannel<VirtualTransport> {
        CardChannel::new(self.sandbox.transport(LinkSwitches::default()))
    }

    fn auth_tries(&self) -> Option<u8> {
        self.sandbox
            .card()
            .tries_left(Application::Jpki, jpki::AUTH_PIN)
    }

    /// A request straight to the portal (admin routes, hand-made OAuth).
    fn send(&self, request: AuthorityRequest) -> AuthorityResponse {
        block_on(PortalLink::new(self.portal.clone()).send(request)).unwrap()
    }

    fn post_json(&self, path: &str, body: &serde_json::Value) -> AuthorityResponse {
        self.send(
            AuthorityRequest::post(path, serde_json::to_vec(body).unwrap(), &key())
                .header("Content-Type", "application/json"),
        )
    }
}

fn key() -> IdempotencyKey {
    IdempotencyKey::generate().unwrap()
}

fn pin() -> AuthPin {
    AuthPin::new(PIN).unwrap()
}

fn tap(world: &World, phone: &PortalClient, flow: &mut LoginFlow) -> Result<(), PortalError> {
    block_on(phone.tap(flow, &mut world.channel(), &pin(), LastTry::Refuse))
}

fn login(world: &World, phone: &PortalClient) -> Result<Session, PortalError> {
    let mut flow = block_on(phone.begin_login())?;
    tap(world, phone, &mut flow)?;
    block_on(phone.finish_login(&mut flow))
}

fn refused(error: &PortalError) -> (PortalRefusal, u16) {
    match error {
        PortalError::Refused { error, status } => (*error, *status),
        other => panic!("not a refusal: {other:?}"),
    }
}

fn refusal_of(answer: &AuthorityResponse) -> (u16, String) {
    let body: ErrorBody = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|_| panic!("{}: {:?}", answer.status, answer.body));
    (answer.status, body.error)
}

// ---- a hand-made OAuth client (the second relying party, and what the
// phone's client never sends) ----------------------------------------------

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn from_base64url(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let values: Vec<u32> = text
        .bytes()
        .map(|c| ALPHABET.iter().position(|a| *a == c).unwrap() as u32)
        .collect();
    let mut out = Vec::new();
    for chunk in values.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, v)| n | (v << (18 - 6 * i)));
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

fn claims_of(id_token: &str) -> (serde_json::Value, IdTokenClaims) {
    let mut parts = id_token.split('.');
    let header = serde_json::from_slice(&from_base64url(parts.next().unwrap())).unwrap();
    let claims = serde_json::from_slice(&from_base64url(parts.next().unwrap())).unwrap();
    (header, claims)
}

/// The authorization request of `client` with the challenge of `verifier`.
fn authorize(world: &World, client: &str, redirect: &str, verifier: &str) -> LoginChallenge {
    let challenge = base64url(&Sha256::digest(verifier.as_bytes()));
    let query = [
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect),
        ("scope", "openid"),
        ("state", "state-1"),
        ("nonce", "nonce-1"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let query = String::from_utf8(form(&query)).unwrap();
    let answer = world.send(AuthorityRequest::get(format!("{AUTHORIZE_PATH}?{query}")));
    assert_eq!(
        answer.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    serde_json::from_slice(&answer.body).unwrap()
}

/// The card's proof for `challenge`, made with the core's JPKI commands.
fn card_proof(sandbox: &Sandbox, challenge: &LoginChallenge) -> CardProof {
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    let message = card_login_message(&challenge.request_id, &challenge.challenge);
    block_on(async {
        let mut jpki = Jpki::new(&mut channel);
        let certificate = jpki
            .read_certificate(FreeCertificate::Authentication)
            .await
            .unwrap();
        jpki.verify_auth_pin(&pin(), LastTry::Refuse).await.unwrap();
        let signature = jpki
            .sign(JpkiKey::Authentication, &DigestInfo::sha256(&message))
            .await
            .unwrap();
        CardProof {
            request_id: challenge.request_id.clone(),
            certificate: certificate.der().to_vec(),
            signature,
        }
    })
}

fn send_proof(world: &World, proof: &CardProof) -> AuthorityResponse {
    world.send(
        AuthorityRequest::post(PROOF_PATH, serde_json::to_vec(proof).unwrap(), &key())
            .header("Content-Type", "application/json"),
    )
}

fn send_token(world: &World, fields: &[(&str, &str)]) -> AuthorityResponse {
    world.send(
        AuthorityRequest::post(TOKEN_PATH, form(fields), &key())
            .header("Content-Type", "application/x-www-form-urlencoded"),
    )
}

fn exchange_code(
    world: &World,
    client: &str,
    redirect: &str,
    code: &str,
    verifier: &str,
) -> AuthorityResponse {
    send_token(
        world,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", client),
            ("code_verifier", verifier),
        ],
    )
}

/// A whole login of the sample RP by hand: its tokens.
fn rp_login(world: &World, verifier: &str) -> TokenResponse {
    let challenge = authorize(world, RP, RP_REDIRECT, verifier);
    let answer = send_proof(world, &card_proof(&world.sandbox, &challenge));
    assert_eq!(answer.status, 200);
    let authorization: AuthorizationResult = serde_json::from_slice(&answer.body).unwrap();
    assert!(
        authorization
            .redirect_to
            .starts_with(&format!("{RP_REDIRECT}?code="))
    );
    assert_eq!(authorization.state, "state-1");
    let answer = exchange_code(world, RP, RP_REDIRECT, &authorization.code, verifier);
    assert_eq!(
        answer.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    serde_json::from_slice(&answer.body).unwrap()
}

const VERIFIER: &str = "a-verifier-of-forty-three-characters-or-more-0123";

// ---- the happy path ----------------------------------------------------

#[test]
fn the_card_logs_in_with_a_checked_id_token_and_the_session_refreshes() {
    let world = World::new();
    let (phone, link) = world.phone();
    assert!(block_on(phone.session()).unwrap().is_none());
    let full = world.auth_tries();
    let session = login(&world, &phone).unwrap();
    assert_eq!(world.auth_tries(), full, "the right PIN spends nothing");
    assert_eq!(
        link.requests(),
        [
            format!("GET {AUTHORIZE_PATH}"),
            format!("POST {PROOF_PATH}"),
            format!("POST {TOKEN_PATH}"),
            format!("GET {JWKS_PATH}"),
        ]
    );
    assert_eq!(session.logged_in_at, world.clock.now());
    assert_eq!(session.access_expires_at, start() + TimeDelta::minutes(10));
    assert_eq!(session.refresh_expires_at, start() + TimeDelta::hours(24));
    // The sample certificate: valid through 2029-06-15 (her birthday).
    assert_eq!(
        session.certificate.valid_until,
        NaiveDate::from_ymd_opt(2029, 6, 15).unwrap()
    );
    assert_eq!(block_on(phone.session()).unwrap(), Some(session.clone()));

    // The ID token as the portal sent it.
    let tokens: TokenResponse = serde_json::from_slice(&link.last_answer(TOKEN_PATH, 200)).unwrap();
    let (header, claims) = claims_of(tokens.id_token.as_deref().unwrap());
    assert_eq!(header["alg"], "ES256");
    let jwks: serde_json::Value =
        serde_json::from_slice(&link.last_answer(JWKS_PATH, 200)).unwrap();
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
    assert_eq!(claims.iss, PORTAL);
    assert_eq!(claims.aud, APP_CLIENT_ID);
    assert_eq!(claims.sub, session.subject);
    assert_eq!(claims.acr, CARD_LOGIN_ACR);
    assert_eq!(claims.amr, ["hwk", "pin"]);
    assert_eq!(claims.auth_time, start().timestamp());
    assert_eq!(claims.exp - claims.iat, 600);
    assert!(claims.nonce.as_deref().is_some_and(|n| n.len() >= 16));
    // Pairwise, never the serial.
    let serial = jlis::serial_key(world.sandbox.card().auth_certificate());
    assert!(!claims.sub.contains(&serial), "{} {serial}", claims.sub);
    assert_eq!(
        claims.sub,
        login::pairwise_subject(&world.portal, APP_CLIENT_ID, jlis::SAMPLE_PERSON).unwrap()
    );
    // The portal knows the access token's session: the person, the serial.
    assert_eq!(
        login::session_person(&world.portal, &tokens.access_token).unwrap(),
        (jlis::SAMPLE_PERSON.to_owned(), serial.clone())
    );
    assert_eq!(
        login::account_link(&world.portal, jlis::SAMPLE_PERSON).unwrap(),
        Some((serial, None))
    );

    // The access token lapses; the refresh token renews it (rotated).
    world.clock.advance(TimeDelta::minutes(11));
    assert!(login::session_person(&world.portal, &tokens.access_token).is_err());
    let renewed = block_on(phone.refresh_session()).unwrap();
    assert_eq!(renewed.subject, session.subject);
    assert_eq!(renewed.logged_in_at, session.logged_in_at);
    assert_eq!(renewed.access_expires_at, start() + TimeDelta::minutes(21));
    let rotated: TokenResponse =
        serde_json::from_slice(&link.last_answer(TOKEN_PATH, 200)).unwrap();
    assert_ne!(rotated.refresh_token, tokens.refresh_token);
    assert!(login::session_person(&world.portal, &rotated.access_token).is_ok());
    assert_eq!(
        claims_of(rotated.id_token.as_deref().unwrap()).1.nonce,
        None
    );
}

#[test]
fn the_same_person_has_another_subject_at_the_second_relying_party() {
    let world = World::new();
    let (phone, _) = world.phone();
    let session = login(&world, &phone).unwrap();
    let tokens = rp_login(&world, VERIFIER);
    let (_, claims) = claims_of(tokens.id_token.as_deref().unwrap());
    assert_eq!(claims.aud, RP);
    assert_eq!(claims.nonce.as_deref(), Some("nonce-1"));
    assert_ne!(claims.sub, session.subject, "pairwise (OIDC Core §8.1)");
    assert_eq!(
        claims.sub,
        login::pairwise_subject(&world.portal, RP, jlis::SAMPLE_PERSON).unwrap()
    );
    // The same RP again (another loopback port): the same subject.
    let again = {
        let challenge = authorize(&world, RP, "http://127.0.0.1:50123/callback", VERIFIER);
        let answer = send_proof(&world, &card_proof(&world.sandbox, &challenge));
        let authorization: AuthorizationResult = serde_json::from_slice(&answer.body).unwrap();
        let answer = exchange_code(
            &world,
            RP,
            "http://127.0.0.1:50123/callback",
            &authorization.code,
            VERIFIER,
        );
        serde_json::from_slice::<TokenResponse>(&answer.body).unwrap()
    };
    assert_eq!(
        claims_of(again.id_token.as_deref().unwrap()).1.sub,
        claims.sub
    );
    // Another person (the sample agent's card): another subject.
    let agent = World {
        clock: world.clock.clone(),
        portal: world.portal.clone(),
        sandbox: Sandbox::with_config(jlis::agent_card_config()).unwrap(),
    };
    let (agent_phone, _) = agent.phone();
    let agent_session = login(&agent, &agent_phone).unwrap();
    assert_ne!(agent_session.subject, session.subject);
    assert_eq!(
        agent_session.subject,
        login::pairwise_subject(&world.portal, APP_CLIENT_ID, jlis::AGENT_PERSON).unwrap()
    );
}

#[test]
fn a_renewed_certificate_finds_the_same_account_at_its_first_login() {
    let world = World::new();
    let (phone, _) = world.phone();
    let first = login(&world, &phone).unwrap();
    let old_serial = jlis::serial_key(world.sandbox.card().auth_certificate());
    // The municipal window renews the card's certificates (new serials).
    world
        .sandbox
        .card()
        .renew_certificates(NaiveDate::from_ymd_opt(2026, 3, 31).unwrap())
        .unwrap();
    let renewed = world.sandbox.card().auth_certificate().clone();
    let new_serial = jlis::serial_key(&renewed);
    assert_ne!(new_serial, old_serial);
    // Before J-LIS's directory has it, the portal knows no one by it.
    let error = login(&world, &phone).unwrap_err();
    assert_eq!(
        refused(&error),
        (PortalRefusal::CertificateUntrusted, 403),
        "{error:?}"
    );
    let answer = world.post_json(
        "/v1/sandbox/jlis/renewals",
        &serde_json::json!({
            "certificate": mynakit_core::reset::wire::to_hex(renewed.der()),
            "previous_serial": old_serial,
        }),
    );
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    // P3/P4: the first login with the new serial re-links the account.
    let second = login(&world, &phone).unwrap();
    assert_eq!(
        second.subject, first.subject,
        "the same person, the same sub"
    );
    assert_eq!(
        login::account_link(&world.portal, jlis::SAMPLE_PERSON).unwrap(),
        Some((new_serial.clone(), Some(old_serial.clone())))
    );
    // P4: J-LIS revoked the old certificate at the renewal; a login with it
    // is refused and does not move the account back to it.
    let old = jlis::authentication_certificate_of(&mynakit_sandbox::CardConfig::sample()).unwrap();
    assert_eq!(jlis::serial_key(&old), old_serial);
    let challenge = authorize(&world, APP_CLIENT_ID, APP_REDIRECT_URI, VERIFIER);
    let mut proof = card_proof(&world.sandbox, &challenge);
    proof.certificate = old.der().to_vec();
    assert_eq!(
        refusal_of(&send_proof(&world, &proof)),
        (403, "certificate_revoked".to_owned())
    );
    assert_eq!(
        login::account_link(&world.portal, jlis::SAMPLE_PERSON).unwrap(),
        Some((new_serial.clone(), Some(old_serial.clone())))
    );
    // The old serial is not the person's newest any more: a second renewal
    // naming it is refused.
    let answer = world.post_json(
        "/v1/sandbox/jlis/renewals",
        &serde_json::json!({
            "certificate": mynakit_core::reset::wire::to_hex(
                jlis::authentication_certificate_of(&jlis::agent_card_config()).unwrap().der()
            ),
            "previous_serial": old_serial,
        }),
    );
    assert_eq!(refusal_of(&answer).0, 400);
}

// ---- card faults --------------------------------------------------------

#[test]
fn a_wrong_pin_is_counted_by_the_card_and_the_last_try_needs_consent() {
    let world = World::new();
    let (phone, link) = world.phone();
    let full = world.auth_tries().unwrap();
    assert!(full >= 3);
    let mut flow = block_on(phone.begin_login()).unwrap();
    let wrong = AuthPin::new("9999").unwrap();
    for expected in (1..full).rev() {
        let error = block_on(phone.tap(&mut flow, &mut world.channel(), &wrong, LastTry::Refuse))
            .unwrap_err();
        assert!(
            matches!(error, PortalError::Card(CardError::WrongPin { tries_left }) if tries_left == expected),
            "{error:?}"
        );
        assert_eq!(world.auth_tries(), Some(expected));
        assert!(!flow.tapped());
    }
    // One try left: without consent nothing is sent, nothing spent.
    for candidate in [&wrong, &pin()] {
        let error =
            block_on(phone.tap(&mut flow, &mut world.channel(), candidate, LastTry::Refuse))
                .unwrap_err();
        assert!(matches!(error, PortalError::LastTry), "{error:?}");
        assert_eq!(world.auth_tries(), Some(1));
    }
    assert!(!flow.tapped());
    let before = link.sent.load(Ordering::SeqCst);
    block_on(phone.tap(&mut flow, &mut world.channel(), &pin(), LastTry::Allow)).unwrap();
    assert_eq!(
        world.auth_tries(),
        Some(full),
        "the right PIN restores the counter"
    );
    assert_eq!(
        link.sent.load(Ordering::SeqCst),
        before,
        "a tap sends nothing"
    );
    block_on(phone.finish_login(&mut flow)).unwrap();
    assert!(block_on(phone.session()).unwrap().is_some());
}

#[test]
fn the_card_pulled_at_every_exchange_of_the_login_tap_spends_no_try_and_the_next_tap_finishes() {
    let world = World::new();
    let (phone, _) = world.phone();
    let full = world.auth_tries();
    for switches in [LinkSwitches::default(), LinkSwitches::short_only()] {
        let mut flow = block_on(phone.begin_login()).unwrap();
        let mut channel = CardChannel::new(world.sandbox.transport(switches));
        block_on(phone.tap(&mut flow, &mut channel, &pin(), LastTry::Refuse)).unwrap();
        let total = channel.transport().exchanges();
        assert!(total >= 5, "{total}");
        for at in 1..=total {
            for point in [RemovalPoint::BeforeCard, RemovalPoint::AfterCard] {
                let context = format!("card pulled at exchange {at}/{total} ({point:?})");
                let mut flow = block_on(phone.begin_login()).unwrap();
                let mut channel =
                    CardChannel::new(world.sandbox.transport(switches.removing_at(at, point)));
                let error = block_on(phone.tap(&mut flow, &mut channel, &pin(), LastTry::Refuse))
                    .expect_err(&context);
                let exchanges = channel.transcript().exchanges();
                let lost = &exchanges[at - 1];
                match &error {
                    PortalError::Card(CardError::VerifyOutcomeUnknown {
                        cause: TransportError::CardRemoved,
                        ..
                    }) => assert!(lost.redacted, "{context}: {error:?}"),
                    PortalError::Card(CardError::Transport(TransportError::CardRemoved)) => {
                        assert!(!lost.redacted, "{context}");
                        assert!(error.is_retryable(), "{context}");
                    }
                    other => panic!("{context}: {other:?}"),
                }
                for later in &exchanges[at..] {
                    assert!(
                        !later.redacted && !is_sign(&later.command),
                        "{context}: {} after the loss",
                        later.trace_line()
                    );
                }
                assert_eq!(world.auth_tries(), full, "{context}");
                assert!(!flow.tapped(), "{context}");
                // The next tap of the same flow finishes the login.
                let mut channel = CardChannel::new(world.sandbox.transport(switches));
                block_on(phone.tap(&mut flow, &mut channel, &pin(), LastTry::Refuse))
                    .unwrap_or_else(|e| panic!("{context}: the next tap: {e:?}"));
                block_on(phone.finish_login(&mut flow))
                    .unwrap_or_else(|e| panic!("{context}: finish: {e:?}"));
            }
        }
    }
}

// ---- the portal's refusals of the proof ----------------------------------

#[test]
fn a_signing_certificate_offered_for_login_is_refused_as_such() {
    let world = World::new();
    let challenge = authorize(&world, APP_CLIENT_ID, APP_REDIRECT_URI, VERIFIER);
    let mut proof = card_proof(&world.sandbox, &challenge);
    proof.certificate = world
        .sandbox
        .card()
        .signing_certificate()
        .unwrap()
        .der()
        .to_vec();
    let answer = send_proof(&world, &proof);
    assert_eq!(
        refusal_of(&answer),
        (403, "not_authentication_certificate".to_owned())
    );
    // The challenge is spent by that proof.
    let honest = card_proof(&world.sandbox, &challenge);
    assert_eq!(
        refusal_of(&send_proof(&world, &honest)),
        (404, "challenge_unknown".to_owned())
    );
    // A certificate from no JPKI CA at all, and a signature by another key.
    let challenge = authorize(&world, APP_CLIENT_ID, APP_REDIRECT_URI, VERIFIER);
    let mut proof = card_proof(&world.sandbox, &challenge);
    proof.certificate = mynakit_sandbox::fixtures::AUTH_ROOT_CERT_DER.to_vec();
    assert_eq!(
        refusal_of(&send_proof(&world, &proof)),
        (403, "certificate_untrusted".to_owned())
    );
    let challenge = authorize(&world, APP_CLIENT_ID, APP_REDIRECT_URI, VERIFIER);
    let mut proof = card_proof(&world.sandbox, &challenge);
    proof.signature[10] ^= 1;
    assert_eq!(
        refusal_of(&send_proof(&world, &proof)),
        (403, "bad_card_signature".to_owned())
    );
}

#[test]
fn an_expired_certificate_is_refused_and_nothing_is_kept() {
    let world = World::new();
    // The sample certificate's last day is 2029-06-15 (Japan).
    world.clock.set(
        DateTime::parse_from_rfc3339("2029-06-15T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
    );
    let (phone, _) = world.phone();
    let error = login(&world, &phone).unwrap_err();
    assert_eq!(refused(&error), (PortalRefusal::CertificateExpired, 403));
    assert!(block_on(phone.session()).unwrap().is_none());
    // A second before, it logs in.
    world.clock.advance(TimeDelta::seconds(-1));
    login(&world, &phone).unwrap();
}

#[test]
fn a_revoked_certificate_is_refused() {
    let world = World::new();
    let (phone, _) = world.phone();
    let serial = jlis::serial_key(world.sandbox.card().auth_certificate());
    let answer = world.post_json(
        "/v1/sandbox/jlis/revocations",
        &serde_json::json!({ "serial": serial.to_uppercase() }),
    );
    assert_eq!(answer.status, 200);
    let error = login(&world, &phone).unwrap_err();
    assert_eq!(refused(&error), (PortalRefusal::CertificateRevoked, 403));
    assert!(block_on(phone.session()).unwrap().is_none());
    // The agent's card is not revoked.
    let agent = World {
        clock: world.clock.clone(),
        portal: world.portal.clone(),
        sandbox: Sandbox::with_config(jlis::agent_card_config()).unwrap(),
    };
    let (agent_phone, _) = agent.phone();
    login(&agent, &agent_phone).unwrap();
}

#[test]
fn a_challenge_is_used_once_and_lives_five_minutes() {
    let world = World::new();
    let (phone, link) = world.phone();
    login(&world, &phone).unwrap();
    // The proof the phone sent, replayed under another key.
    let proof: CardProof = serde_json::from_slice(&link.last_request_body(PROOF_PATH)).unwrap();
    assert_eq!(
        refusal_of(&send_proof(&world, &proof)),
        (404, "challenge_unknown".to_owned())
    );
    // A challenge past its lifetime.
    let mut flow = block_on(phone.begin_login()).unwrap();
    tap(&world, &phone, &mut flow).unwrap();
    world
        .clock
        .advance(TimeDelta::minutes(5) + TimeDelta::seconds(1));
    let error = block_on(phone.finish_login(&mut flow)).unwrap_err();
    assert_eq!(refused(&error), (PortalRefusal::ChallengeExpired, 410));
}

// ---- the token endpoint --------------------------------------------------

#[test]
fn a_wrong_pkce_verifier_is_refused_and_spends_the_code() {
    let world = World::new();
    let challenge = authorize(&world, RP, RP_REDIRECT, VERIFIER);
    let answer = send_proof(&world, &card_proof(&world.sandbox, &challenge));
    let authorization: AuthorizationResult = serde_json::from_slice(&answer.body).unwrap();
    let other = "another-verifier-of-forty-three-characters-000000";
    let answer = exchange_code(&world, RP, RP_REDIRECT, &authorization.code, other);
    assert_eq!(refusal_of(&answer), (400, "invalid_grant".to_owned()));
    let answer = exchange_code(&world, RP, RP_REDIRECT, &authorization.code, VERIFIER);
    assert_eq!(
        refusal_of(&answer),
        (400, "invalid_grant".to_owned()),
        "no second guess"
    );
    // Another redirect or client than the code's is refused too.
    let challenge = authorize(&world, RP, RP_REDIRECT, VERIFIER);
    let answer = send_proof(&world, &card_proof(&world.sandbox, &challenge));
    let authorization: AuthorizationResult = serde_json::from_slice(&answer.body).unwrap();
    let answer = exchange_code(
        &world,
        APP_CLIENT_ID,
        APP_REDIRECT_URI,
        &authorization.code,
        VERIFIER,
    );
    assert_eq!(refusal_of(&answer), (400, "invalid_grant".to_owned()));
    // A grant type the portal does not serve, and an unknown client.
    let answer = send_token(&world, &[("grant_type", "password"), ("client_id", RP)]);
    assert_eq!(
        refusal_of(&answer),
        (400, "unsupported_grant_type".to_owned())
    );
    let answer = exchange_code(&world, "nobody", RP_REDIRECT, "x", VERIFIER);
    assert_eq!(refusal_of(&answer), (401, "invalid_client".to_owned()));
}

#[test]
fn a_code_used_twice_is_refused_and_revokes_its_tokens() {
    let world = World::new();
    let (phone, link) = world.phone();
    login(&world, &phone).unwrap();
    let authorization: AuthorizationResult =
        serde_json::from_slice(&link.last_answer(PROOF_PATH, 200)).unwrap();
    let tokens: TokenResponse = serde_json::from_slice(&link.last_answer(TOKEN_PATH, 200)).unwrap();
    assert!(login::session_person(&world.portal, &tokens.access_token).is_ok());
    // The phone's own retry (the same idempotency key) is not a second use:
    // it gets the first answer.
    let first_token_request = {
        let seen = link.seen.lock().unwrap();
        seen.iter()
            .find(|s| s.path == TOKEN_PATH)
            .map(|s| s.body.clone())
            .unwrap()
    };
    assert!(String::from_utf8_lossy(&first_token_request).contains("authorization_code"));
    // An attacker's second use (another request, no key of the phone's).
    let verifier = String::from_utf8(first_token_request.clone()).unwrap();
    let verifier = verifier
        .split('&')
        .find_map(|kv| kv.strip_prefix("code_verifier="))
        .unwrap()
        .to_owned();
    let answer = exchange_code(
        &world,
        APP_CLIENT_ID,
        APP_REDIRECT_URI,
        &authorization.code,
        &verifier,
    );
    assert_eq!(refusal_of(&answer), (400, "invalid_grant".to_owned()));
    // RFC 6749 §4.1.2: what the code gave is revoked.
    assert!(login::session_person(&world.portal, &tokens.access_token).is_err());
    let error = block_on(phone.refresh_session()).unwrap_err();
    assert!(matches!(error, PortalError::LoginRequired), "{error:?}");
    assert!(block_on(phone.session()).unwrap().is_none());
}

#[test]
fn an_expired_refresh_token_asks_for_the_card_again() {
    let world = World::new();
    let (phone, link) = world.phone();
    login(&world, &phone).unwrap();
    let sent = link.sent.load(Ordering::SeqCst);
    world.clock.advance(TimeDelta::hours(24));
    let error = block_on(phone.refresh_session()).unwrap_err();
    assert!(matches!(error, PortalError::LoginRequired), "{error:?}");
    assert_eq!(
        link.sent.load(Ordering::SeqCst),
        sent,
        "known lapsed: nothing sent"
    );
    assert!(block_on(phone.session()).unwrap().is_none());
    // The portal refuses it too (a phone whose clock was behind).
    let tokens: TokenResponse = serde_json::from_slice(&link.last_answer(TOKEN_PATH, 200)).unwrap();
    let answer = send_token(
        &world,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
            ("client_id", APP_CLIENT_ID),
        ],
    );
    assert_eq!(refusal_of(&answer), (400, "invalid_grant".to_owned()));
    login(&world, &phone).unwrap();
}

#[test]
fn a_refresh_never_outlives_a_day_from_the_card_tap() {
    let world = World::new();
    let (phone, link) = world.phone();
    let tapped = login(&world, &phone).unwrap();
    let day_end = tapped.logged_in_at + TimeDelta::hours(24);
    assert_eq!(tapped.refresh_expires_at, day_end);
    // Refreshes through the day keep the tap's end, however late they come.
    for _ in 0..2 {
        world.clock.advance(TimeDelta::hours(11));
        let renewed = block_on(phone.refresh_session()).unwrap();
        assert_eq!(
            renewed.refresh_expires_at, day_end,
            "policy.rs: a card tap at least daily"
        );
        assert!(renewed.access_expires_at <= day_end);
    }
    let tokens: TokenResponse = serde_json::from_slice(&link.last_answer(TOKEN_PATH, 200)).unwrap();
    // 22 h after the tap: the last refresh token lives 2 h, not 24 h.
    assert_eq!(tokens.refresh_token_expires_in, 2 * 60 * 60);
    world.clock.advance(TimeDelta::hours(2));
    let error = block_on(phone.refresh_session()).unwrap_err();
    assert!(matches!(error, PortalError::LoginRequired), "{error:?}");
    // The portal refuses it too (a phone whose clock was behind).
    let answer = send_token(
        &world,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
            ("client_id", APP_CLIENT_ID),
        ],
    );
    assert_eq!(refusal_of(&answer), (400, "invalid_grant".to_owned()));
    // A new tap, a new day.
    let again = login(&world, &phone).unwrap();
    assert_eq!(
        again.refresh_expires_at,
        world.clock.now() + TimeDelta::hours(24)
    );
}

/// A live session on `phone`; then `end` (a revocation at J-LIS); the
/// next call is refused: the access token (`invalid_token`), then the
/// phone's refresh (`invalid_grant`): `LoginRequired`.
fn a_live_session_ends_with(end: impl FnOnce(&World) -> AuthorityResponse) {
    let world = World::new();
    let (phone, link) = world.phone();
    login(&world, &phone).unwrap();
    block_on(phone.consents()).unwrap();
    let answer = end(&world);
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let sent = link.sent.load(Ordering::SeqCst);
    let error = block_on(phone.consents()).unwrap_err();
    assert!(matches!(error, PortalError::LoginRequired), "{error:?}");
    let requests = link.requests();
    let tail: Vec<&str> = requests
        .iter()
        .skip(sent)
        .map(|r| r.split(' ').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        tail,
        ["/v1/portal/consents", TOKEN_PATH],
        "the call, then the refresh"
    );
    assert!(block_on(phone.session()).unwrap().is_none());
}

#[test]
fn a_revoked_certificate_ends_its_live_session() {
    a_live_session_ends_with(|world| {
        let serial = jlis::serial_key(world.sandbox.card().auth_certificate());
        world.post_json(
            "/v1/sandbox/jlis/revocations",
            &serde_json::json!({ "serial": serial }),
        )
    });
}

#[test]
fn a_returned_card_ends_its_live_session() {
    a_live_session_ends_with(|world| {
        world.post_json(
            "/v1/sandbox/insurer/card-returned",
            &serde_json::json!({ "person": jlis::SAMPLE_PERSON }),
        )
    });
}

#[test]
fn a_spent_refresh_token_presented_again_ends_the_session() {
    let world = World::new();
    let (phone, link) = world.phone();
    login(&world, &phone).unwrap();
    let stolen: TokenResponse = serde_json::from_slice(&link.last_answer(TOKEN_PATH, 200)).unwrap();
    block_on(phone.refresh_session()).unwrap();
    let current: TokenResponse =
        serde_json::from_slice(&link.last_answer(TOKEN_PATH, 200)).unwrap();
    assert!(login::session_person(&world.portal, &current.access_token).is_ok());
    let answer = send_token(
        &world,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &stolen.refresh_token),
            ("client_id", APP_CLIENT_ID),
        ],
    );
    assert_eq!(refusal_of(&answer), (400, "invalid_grant".to_owned()));
    // The whole session ends: the phone's current tokens too.
    assert!(login::session_person(&world.portal, &current.access_token).is_err());
    let error = block_on(phone.refresh_session()).unwrap_err();
    assert!(matches!(error, PortalError::LoginRequired), "{error:?}");
    // Another client's refresh token is refused.
    let rp = rp_login(&world, VERIFIER);
    let answer = send_token(
        &world,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rp.refresh_token),
            ("client_id", APP_CLIENT_ID),
        ],
    );
    assert_eq!(refusal_of(&answer), (400, "invalid_grant".to_owned()));
}

// ---- the portal unavailable (P6) -------------------------------------------

/// A login and a refresh; a retryable failure of a step is retried once.
fn login_and_refresh(world: &World, link: &Arc<TestLink>, context: &str) -> (Session, Session) {
    let phone = world.phone_on(link.clone(), Arc::new(Store::open_in_memory().unwrap()));
    let retried = |error: PortalError, name: &str| {
        let fault = link.fail.lock().unwrap().map(|(_, f)| f);
        match (fault, &error) {
            (
                Some(Fault::Limited),
                PortalError::Authority(AuthorityError::RateLimited { retry_after }),
            ) => assert_eq!(
                *retry_after,
                Some(std::time::Duration::from_secs(120)),
                "{context}"
            ),
            (
                Some(Fault::Maintenance),
                PortalError::Authority(AuthorityError::OutOfService { retry_after }),
            ) => assert_eq!(
                *retry_after,
                Some(std::time::Duration::from_secs(120)),
                "{context}"
            ),
            (
                Some(Fault::AnswerLost),
                PortalError::Authority(AuthorityError::AnswerLost { .. }),
            ) => {}
            _ => panic!("{context}: {name} failed with {error:?}"),
        }
        assert!(error.is_retryable(), "{context}");
    };
    let mut flow = match block_on(phone.begin_login()) {
        Ok(flow) => flow,
        Err(e) => {
            retried(e, "begin_login");
            block_on(phone.begin_login()).unwrap()
        }
    };
    tap(world, &phone, &mut flow).unwrap();
    let session = match block_on(phone.finish_login(&mut flow)) {
        Ok(session) => session,
        Err(e) => {
            retried(e, "finish_login");
            assert!(block_on(phone.session()).unwrap().is_none(), "{context}");
            block_on(phone.finish_login(&mut flow))
                .unwrap_or_else(|e| panic!("{context}: finish_login again: {e:?}"))
        }
    };
    world.clock.advance(TimeDelta::minutes(11));
    let renewed = match block_on(phone.refresh_session()) {
        Ok(renewed) => renewed,
        Err(e) => {
            retried(e, "refresh");
            // The session is kept as it was.
            assert_eq!(
                block_on(phone.session())
                    .unwrap()
                    .map(|s| s.access_expires_at),
                Some(session.access_expires_at),
                "{context}"
            );
            block_on(phone.refresh_session())
                .unwrap_or_else(|e| panic!("{context}: refresh again: {e:?}"))
        }
    };
    (session, renewed)
}

#[test]
fn the_portal_unavailable_at_every_request_of_the_login_keeps_the_state_and_a_retry_succeeds() {
    let world = World::new();
    let clean = world.link();
    let (session, _) = login_and_refresh(&world, &clean, "clean run");
    let requests = clean.sent.load(Ordering::SeqCst);
    // authorize, proof, token, jwks; refresh: token (the JWK Set is kept).
    assert_eq!(requests, 5, "{:?}", clean.requests());
    for at in 1..=requests {
        for fault in [Fault::Limited, Fault::Maintenance, Fault::AnswerLost] {
            let context = format!("request {at}/{requests} ({fault:?})");
            world.clock.set(start());
            let link = world.link();
            *link.fail.lock().unwrap() = Some((at, fault));
            let (first, renewed) = login_and_refresh(&world, &link, &context);
            assert_eq!(first.subject, session.subject, "{context}");
            assert_eq!(renewed.subject, session.subject, "{context}");
            // No code was sent twice (that would have revoked the tokens):
            // the renewed session works at the portal.
            let tokens: TokenResponse =
                serde_json::from_slice(&link.last_answer(TOKEN_PATH, 200)).unwrap();
            assert!(
                login::session_person(&world.portal, &tokens.access_token).is_ok(),
                "{context}: {:?}",
                link.requests()
            );
        }
    }
}

// ---- the process killed (the phone's store) --------------------------------

/// Stops the process (in effect) at the `at`-th store write: before its
/// commit (`after: false`) or just after it.
struct Killer {
    at: usize,
    after: bool,
    writes: AtomicUsize,
    fired: AtomicBool,
}

#[test]
fn the_process_killed_at_every_store_write_of_login_and_refresh_leaves_a_consistent_session() {
    let world = World::new();
    let dir = std::env::temp_dir().join(format!("mynakit-portal-kill-{}", std::process::id()));
    let open = |killer: Option<Arc<Killer>>| {
        let mut store = Store::open(dir.join("phone.db")).unwrap();
        if let Some(killer) = killer {
            store = store.with_write_observer(move |committed| {
                if committed != killer.after || killer.fired.load(Ordering::SeqCst) {
                    return;
                }
                if killer.writes.fetch_add(1, Ordering::SeqCst) + 1 == killer.at {
                    killer.fired.store(true, Ordering::SeqCst);
                    panic!("killed at a store write");
                }
            });
        }
        PortalClient::new(
            world.link(),
            Arc::new(store),
            Arc::new(SoftwareSecureArea::open(dir.join("keys")).unwrap()),
            world.clock.clone(),
            PORTAL,
        )
        .unwrap()
    };
    let run = |killer: Option<Arc<Killer>>| -> Result<(), ()> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let phone = open(killer);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            login(&world, &phone).unwrap();
            world.clock.advance(TimeDelta::minutes(11));
            block_on(phone.refresh_session()).unwrap();
        }));
        drop(phone);
        outcome.map_err(|_| ())
    };
    let counter = Arc::new(Killer {
        at: usize::MAX,
        after: false,
        writes: AtomicUsize::new(0),
        fired: AtomicBool::new(false),
    });
    run(Some(counter.clone())).unwrap();
    let writes = counter.writes.load(Ordering::SeqCst);
    assert!(writes >= 5, "{writes} writes in a login and a refresh");
    for at in 1..=writes {
        for after in [false, true] {
            let context = format!("killed at write {at}/{writes}, after commit: {after}");
            world.clock.set(start());
            let killer = Arc::new(Killer {
                at,
                after,
                writes: AtomicUsize::new(0),
                fired: AtomicBool::new(false),
            });
            assert!(run(Some(killer.clone())).is_err(), "{context}");
            assert!(killer.fired.load(Ordering::SeqCst), "{context}");
            // The app starts again over the same files.
            let phone = open(None);
            match block_on(phone.session()).unwrap_or_else(|e| panic!("{context}: {e:?}")) {
                // A whole session: it refreshes (a refresh that was
                // unanswered is resumed under its key) and works.
                Some(kept) => {
                    let renewed = block_on(phone.refresh_session())
                        .unwrap_or_else(|e| panic!("{context}: refresh: {e:?}"));
                    assert_eq!(renewed.subject, kept.subject, "{context}");
                }
                // None at all: the login is begun again and works.
                None => {
                    login(&world, &phone).unwrap_or_else(|e| panic!("{context}: login: {e:?}"));
                    block_on(phone.refresh_session())
                        .unwrap_or_else(|e| panic!("{context}: refresh: {e:?}"));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- the served sandbox ------------------------------------------------------

#[test]
fn the_served_sandbox_answers_the_portal_and_its_controls_reach_it() {
    use mynakit_sandbox::reset::{ResetAuthority, SandboxClock};
    use mynakit_sandbox::served::handle_served;
    use mynakit_sandbox::wallet::WalletIssuer;

    let clock = Arc::new(SandboxClock::new());
    let shared: Arc<dyn Clock> = clock.clone();
    let authority = ResetAuthority::in_memory(shared.clone()).unwrap();
    let issuer = WalletIssuer::in_memory(shared.clone(), "http://127.0.0.1:8470").unwrap();
    let portal = PortalAuthority::in_memory(shared, "http://127.0.0.1:8470").unwrap();
    let served = |method: &str, path: &str, body: &[u8]| {
        let headers = vec![("Idempotency-Key".to_owned(), key().to_string())];
        handle_served(
            &authority, &issuer, &portal, &clock, method, path, &headers, body,
        )
    };
    let discovery = served("GET", "/.well-known/openid-configuration", b"");
    assert_eq!(discovery.status, 200);
    let discovery: serde_json::Value = serde_json::from_slice(&discovery.body).unwrap();
    assert_eq!(discovery["issuer"], "http://127.0.0.1:8470");
    assert_eq!(
        discovery["jwks_uri"],
        "http://127.0.0.1:8470/v1/portal/jwks"
    );
    assert_eq!(served("GET", JWKS_PATH, b"").status, 200);
    // P6: use limited → 429 with Retry-After on the API, admin still answers.
    let limited = served("POST", "/v1/sandbox/portal/limit", br#"{"length": "2m"}"#);
    assert_eq!(limited.status, 200);
    let answer = served("GET", JWKS_PATH, b"");
    assert_eq!(answer.status, 429);
    // The served clock is the system's: a second may have passed.
    let wait: u64 = answer.header("Retry-After").unwrap().parse().unwrap();
    assert!((115..=120).contains(&wait), "{wait}");
    assert_eq!(
        served("POST", "/v1/sandbox/portal/limit", br#"{"length": 0}"#).status,
        200
    );
    assert_eq!(served("GET", JWKS_PATH, b"").status, 200);
    // The sandbox's maintenance closes the portal too.
    let window = served("POST", "/v1/sandbox/maintenance", br#"{"for": "10m"}"#);
    assert_eq!(window.status, 200);
    assert_eq!(served("GET", JWKS_PATH, b"").status, 503);
    // The clock moves the portal's time (one clock).
    let before = portal.clock().now();
    assert_eq!(
        served("POST", "/v1/sandbox/clock/advance", br#"{"by": "11m"}"#).status,
        200
    );
    assert!(portal.clock().now() - before >= TimeDelta::minutes(11));
    assert_eq!(served("GET", JWKS_PATH, b"").status, 200);
    // The reset authority's routes are still there.
    assert_eq!(served("POST", "/v1/challenges", b"").status, 201);
}

#[test]
fn the_authorization_request_is_refused_without_state_nonce_or_s256() {
    let world = World::new();
    let challenge = base64url(&Sha256::digest(VERIFIER.as_bytes()));
    let base = [
        ("response_type", "code"),
        ("client_id", RP),
        ("redirect_uri", RP_REDIRECT),
        ("scope", "openid"),
        ("state", "s"),
        ("nonce", "n"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let ask = |change: &[(&str, Option<&str>)]| {
        let query: Vec<(&str, &str)> = base
            .iter()
            .filter_map(|(k, v)| match change.iter().find(|(c, _)| c == k) {
                Some((_, Some(new))) => Some((*k, *new)),
                Some((_, None)) => None,
                None => Some((*k, *v)),
            })
            .collect();
        let query = String::from_utf8(form(&query)).unwrap();
        refusal_of(&world.send(AuthorityRequest::get(format!("{AUTHORIZE_PATH}?{query}"))))
    };
    let bad = |kind: &str| (400, kind.to_owned());
    assert_eq!(ask(&[("state", None)]), bad("invalid_request"));
    assert_eq!(ask(&[("nonce", None)]), bad("invalid_request"));
    assert_eq!(ask(&[("code_challenge", None)]), bad("invalid_request"));
    assert_eq!(
        ask(&[("code_challenge_method", Some("plain"))]),
        bad("invalid_request")
    );
    assert_eq!(
        ask(&[("response_type", Some("token"))]),
        bad("unsupported_response_type")
    );
    assert_eq!(
        ask(&[("scope", Some("openid email"))]),
        bad("invalid_scope")
    );
    assert_eq!(
        ask(&[("redirect_uri", Some("https://evil.example/cb"))]),
        (401, "invalid_client".to_owned())
    );
    assert_eq!(
        ask(&[("client_id", Some("nobody"))]),
        (401, "invalid_client".to_owned())
    );
}

#[test]
fn the_portals_store_holds_no_token_or_code_in_clear_even_in_remembered_answers() {
    let dir = std::env::temp_dir().join(format!("mynakit-portal-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let path = dir.join("portal.db");
    let world = World {
        clock: clock.clone(),
        portal: Arc::new(PortalAuthority::open(&path, clock, PORTAL).unwrap()),
        sandbox: Sandbox::new(),
    };
    // Every answer of the login and the refresh lost once, so each is
    // remembered under its key and replayed to the retry.
    let mut secrets = Vec::new();
    for at in [2, 3, 5] {
        world.clock.set(start());
        let link = world.link();
        *link.fail.lock().unwrap() = Some((at, Fault::AnswerLost));
        login_and_refresh(&world, &link, &format!("answer {at} lost"));
        for seen in link.seen.lock().unwrap().iter() {
            if let Ok(tokens) = serde_json::from_slice::<TokenResponse>(&seen.answer) {
                secrets.push(tokens.access_token.clone());
                secrets.push(tokens.refresh_token.clone());
            }
            if let Ok(authorization) = serde_json::from_slice::<AuthorizationResult>(&seen.answer) {
                secrets.push(authorization.code.clone());
            }
        }
    }
    assert!(secrets.len() >= 9, "{}", secrets.len());
    drop(world);
    let db = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut remembered = 0;
    for table in &tables {
        let mut statement = db.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = statement.column_count();
        let mut rows = statement.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let text = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        String::from_utf8_lossy(t).into_owned()
                    }
                    _ => continue,
                };
                if table == "idempotency" && text.contains("sealed:") {
                    remembered += 1;
                }
                for secret in &secrets {
                    assert!(
                        !text.contains(secret.as_str()),
                        "{table} holds a secret in clear"
                    );
                }
            }
        }
    }
    assert!(
        remembered >= 3,
        "the lost answers were remembered ({remembered})"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
