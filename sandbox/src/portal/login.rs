//! The portal's authorization server (P2, `docs/portal-protocol.md`,
//! "Login with the card"): OpenID Connect discovery and JWK Set, the
//! clients registry, the authorization request (a challenge bound to the
//! client, redirect URI, `state`, `nonce` and PKCE challenge), the card's
//! proof (checked in the documented order), the token endpoint (code with
//! PKCE S256, one use; refresh tokens rotated, a replay ends the session),
//! the ID token (ES256, pairwise `sub`) and the sessions the API's bearer
//! tokens belong to.
//!
//! **A stand-in**: the ES256 signing key and the pairwise secret are made
//! at the portal's first start and kept in its `settings` table in clear
//! (a real authorization server keeps them in an HSM). Codes and tokens
//! are kept as SHA-256 hashes only; an answer remembered under an
//! idempotency key has its code and tokens sealed ([`Remember`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mynakit_core::portal::policy::{
    ACCESS_TOKEN_LIFETIME, CHALLENGE_LIFETIME, CODE_LIFETIME, ID_TOKEN_LIFETIME,
    REFRESH_TOKEN_LIFETIME,
};
use mynakit_core::portal::wire::{
    APP_CLIENT_ID, APP_REDIRECT_URI, AUTHORIZE_PATH, AuthorizationResult, CARD_LOGIN_ACR,
    CARD_LOGIN_AMR, CardProof, DISCOVERY_PATH, Discovery, IdTokenClaims, JWKS_PATH, LoginChallenge,
    OPENID_SCOPE, PKCE_METHOD, TOKEN_PATH, TokenResponse, card_login_message,
};
use mynakit_core::reset::wire::to_hex;
use mynakit_core::{CardCertificate, CertificateRole, ChainError, ExpiryState};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::error::PortalError;
use super::http::{Reply, Request, Route, json, key, parse};
use super::{PortalAuthority, Remember, jlis, random_hex, set_setting, setting, sha256};

pub(super) const SCHEMA: &str = "
CREATE TABLE clients(id TEXT PRIMARY KEY, redirect_uri TEXT NOT NULL,
    loopback INTEGER NOT NULL, sector TEXT NOT NULL) STRICT;
CREATE TABLE authorizations(request_id TEXT PRIMARY KEY, client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL, state TEXT NOT NULL, nonce TEXT NOT NULL,
    code_challenge TEXT NOT NULL, challenge BLOB NOT NULL, expires_at INTEGER NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0) STRICT;
CREATE TABLE accounts(person TEXT PRIMARY KEY REFERENCES persons(id),
    serial TEXT NOT NULL, linked_at INTEGER NOT NULL, relinked_from TEXT) STRICT;
CREATE TABLE codes(hash BLOB PRIMARY KEY, client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL, code_challenge TEXT NOT NULL, nonce TEXT NOT NULL,
    person TEXT NOT NULL, serial TEXT NOT NULL, auth_time INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, used_at INTEGER, session TEXT) STRICT;
CREATE TABLE sessions(id TEXT PRIMARY KEY, client_id TEXT NOT NULL, person TEXT NOT NULL,
    serial TEXT NOT NULL, auth_time INTEGER NOT NULL, nonce TEXT NOT NULL,
    ended_at INTEGER) STRICT;
CREATE TABLE access_tokens(hash BLOB PRIMARY KEY, session TEXT NOT NULL REFERENCES sessions(id),
    expires_at INTEGER NOT NULL) STRICT;
CREATE TABLE refresh_tokens(hash BLOB PRIMARY KEY, session TEXT NOT NULL REFERENCES sessions(id),
    expires_at INTEGER NOT NULL, spent_at INTEGER) STRICT;
";

/// The second relying party (`docs/portal-protocol.md`): a loopback
/// redirect on any port (RFC 8252 §7.3).
pub const SAMPLE_RP_CLIENT_ID: &str = "sample-rp";
/// Its registered redirect URI; the port may be any.
pub const SAMPLE_RP_REDIRECT_URI: &str = "http://127.0.0.1/callback";

const SIGNING_KEY_SETTING: &str = "login.signing_key";
const PAIRWISE_SECRET_SETTING: &str = "login.pairwise_secret";

pub(super) fn seed(tx: &Transaction<'_>, _now: DateTime<Utc>) -> Result<(), PortalError> {
    // The sector identifiers (OpenID Connect Core §8.1) are ours: the
    // app's private-use scheme, the sample RP's name.
    for (id, redirect, loopback, sector) in [
        (APP_CLIENT_ID, APP_REDIRECT_URI, false, "jp.mynakit.portal"),
        (
            SAMPLE_RP_CLIENT_ID,
            SAMPLE_RP_REDIRECT_URI,
            true,
            "sample-rp.sandbox.invalid",
        ),
    ] {
        tx.execute(
            "INSERT INTO clients(id, redirect_uri, loopback, sector) VALUES (?1, ?2, ?3, ?4)",
            params![id, redirect, loopback, sector],
        )?;
    }
    let key = generate_p256()?;
    set_setting(
        tx,
        SIGNING_KEY_SETTING,
        &Zeroizing::new(key.to_bytes().to_vec()),
    )?;
    set_setting(
        tx,
        PAIRWISE_SECRET_SETTING,
        &*Zeroizing::new(super::random_bytes::<32>()?),
    )?;
    Ok(())
}

fn generate_p256() -> Result<SigningKey, PortalError> {
    // Almost every 32 bytes are a scalar; retry the rare ones that are not.
    for _ in 0..16 {
        let bytes = Zeroizing::new(super::random_bytes::<32>()?);
        if let Ok(key) = SigningKey::from_slice(&*bytes) {
            return Ok(key);
        }
    }
    Err(PortalError::internal("no P-256 key from the random source"))
}

fn signing_key(tx: &Transaction<'_>) -> Result<SigningKey, PortalError> {
    let bytes = Zeroizing::new(
        setting(tx, SIGNING_KEY_SETTING)?.ok_or_else(|| PortalError::internal("no signing key"))?,
    );
    SigningKey::from_slice(&bytes).map_err(PortalError::internal)
}

/// The public JWK of the portal's key, and its `kid` (the RFC 7638
/// thumbprint).
fn public_jwk(key: &SigningKey) -> Result<(serde_json::Value, String), PortalError> {
    let point = key.verifying_key().to_sec1_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(PortalError::internal("the public key is the identity"));
    };
    let x = URL_SAFE_NO_PAD.encode(x);
    let y = URL_SAFE_NO_PAD.encode(y);
    // RFC 7638 §3.2: the required members, in lexicographic order, no spaces.
    let thumbprint_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(sha256(&[thumbprint_input.as_bytes()]));
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256", "x": x, "y": y,
        "kid": kid, "use": "sig", "alg": "ES256",
    });
    Ok((jwk, kid))
}

struct Client {
    redirect_uri: String,
    loopback: bool,
    sector: String,
}

fn client(tx: &Transaction<'_>, id: &str) -> Result<Option<Client>, PortalError> {
    Ok(tx
        .query_row(
            "SELECT redirect_uri, loopback, sector FROM clients WHERE id = ?1",
            params![id],
            |r| {
                Ok(Client {
                    redirect_uri: r.get(0)?,
                    loopback: r.get(1)?,
                    sector: r.get(2)?,
                })
            },
        )
        .optional()?)
}

impl Client {
    /// Exact match; a loopback client's registered URI matches with any
    /// port (RFC 8252 §7.3).
    fn accepts_redirect(&self, uri: &str) -> bool {
        if uri == self.redirect_uri {
            return true;
        }
        if !self.loopback {
            return false;
        }
        let Some(rest) = self
            .redirect_uri
            .strip_prefix("http://127.0.0.1")
            .and_then(|path| uri.strip_prefix("http://127.0.0.1:").map(|r| (path, r)))
        else {
            return false;
        };
        let (path, given) = rest;
        let digits = given.chars().take_while(char::is_ascii_digit).count();
        let (port, given_path) = given.split_at(digits);
        !port.is_empty() && port.len() <= 5 && port.parse::<u16>().is_ok() && given_path == path
    }
}

/// The pairwise subject of `person` for the client `client_id`
/// (OpenID Connect Core §8.1): HMAC-SHA256 of the client's sector and the
/// person under the portal's secret, hex. Never the serial nor the My
/// Number; the same after a renewal (P3, P4).
pub fn pairwise_subject(
    portal: &PortalAuthority,
    client_id: &str,
    person: &str,
) -> Result<String, PortalError> {
    portal.read(|tx, _| {
        let sector = client(tx, client_id)?
            .ok_or_else(|| PortalError::InvalidClient {
                reason: "unknown client".into(),
            })?
            .sector;
        subject(tx, &sector, person)
    })
}

fn subject(tx: &Transaction<'_>, sector: &str, person: &str) -> Result<String, PortalError> {
    let secret = Zeroizing::new(
        setting(tx, PAIRWISE_SECRET_SETTING)?
            .ok_or_else(|| PortalError::internal("no pairwise secret"))?,
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).map_err(PortalError::internal)?;
    mac.update(sector.as_bytes());
    mac.update(&[0]);
    mac.update(person.as_bytes());
    Ok(to_hex(&mac.finalize().into_bytes()))
}

pub(super) fn route(portal: &PortalAuthority, request: &Request<'_>, admin: bool) -> Route {
    let path = format!("/{}", request.segments.join("/"));
    match (request.method, path.as_str()) {
        ("POST", LIMIT_PATH) if admin => Some(limit(portal, request.body)),
        ("GET", DISCOVERY_PATH) => Some(json(200, &discovery(portal))),
        ("GET", JWKS_PATH) => Some(jwks(portal)),
        ("GET", AUTHORIZE_PATH) => Some(authorize(portal, request.query)),
        ("POST", PROOF) => Some(proof(portal, request)),
        ("POST", TOKEN_PATH) => Some(token(portal, request)),
        _ => None,
    }
}

const PROOF: &str = mynakit_core::portal::wire::PROOF_PATH;

/// Sandbox admin: limit use (P6).
pub const LIMIT_PATH: &str = "/v1/sandbox/portal/limit";

/// **Sandbox control** (P6, use limited when traffic is concentrated):
/// `POST /v1/sandbox/portal/limit {"length": "10m"}` (or a number of
/// seconds) makes every API route answer 429 with `Retry-After` for that
/// long; `"0s"` ends it. Answers `{"until", "retry_after"}`.
fn limit(portal: &PortalAuthority, body: &[u8]) -> Result<Reply, PortalError> {
    #[derive(Deserialize)]
    struct Limit {
        length: serde_json::Value,
    }
    let Limit { length } = parse(body)?;
    let length = match &length {
        serde_json::Value::String(text) => crate::reset::clock::parse_duration(text),
        serde_json::Value::Number(n) => n.as_i64().and_then(TimeDelta::try_seconds),
        _ => None,
    }
    .filter(|l| *l >= TimeDelta::zero())
    .ok_or_else(|| PortalError::bad("length: like 10m, 30s, 2h, or seconds"))?;
    let until = portal.limit_use(length);
    let retry_after = (until - portal.clock().now()).num_seconds().max(0);
    json(
        200,
        &serde_json::json!({ "until": until, "retry_after": retry_after }),
    )
}

fn discovery(portal: &PortalAuthority) -> Discovery {
    let base = portal.base_url();
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    Discovery {
        issuer: base.to_owned(),
        authorization_endpoint: format!("{base}{AUTHORIZE_PATH}"),
        token_endpoint: format!("{base}{TOKEN_PATH}"),
        jwks_uri: format!("{base}{JWKS_PATH}"),
        response_types_supported: strings(&["code"]),
        grant_types_supported: strings(&["authorization_code", "refresh_token"]),
        subject_types_supported: strings(&["pairwise"]),
        id_token_signing_alg_values_supported: strings(&["ES256"]),
        code_challenge_methods_supported: strings(&[PKCE_METHOD]),
        token_endpoint_auth_methods_supported: strings(&["none"]),
        scopes_supported: strings(&[OPENID_SCOPE]),
    }
}

fn jwks(portal: &PortalAuthority) -> Result<Reply, PortalError> {
    let (jwk, _) = portal.read(|tx, _| public_jwk(&signing_key(tx)?))?;
    json(200, &serde_json::json!({ "keys": [jwk] }))
}

/// The authorization query as sent: every field optional, so a missing
/// one is the documented refusal, not a parse error.
#[derive(Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// Longest `state` or `nonce` kept (ours: they are the client's opaque values).
const MAX_OPAQUE: usize = 512;

fn authorize(portal: &PortalAuthority, query: &str) -> Result<Reply, PortalError> {
    let params: AuthorizeParams = serde_urlencoded::from_str(query)
        .map_err(|e| PortalError::bad(format!("the query: {e}")))?;
    let present = |value: &Option<String>, name: &str| match value.as_deref() {
        Some(v) if !v.is_empty() && v.len() <= MAX_OPAQUE => Ok(v.to_owned()),
        _ => Err(PortalError::bad(format!("{name} is required"))),
    };
    let client_id = present(&params.client_id, "client_id")?;
    let redirect_uri = present(&params.redirect_uri, "redirect_uri")?;
    let challenge = portal.read(|tx, now| {
        // RFC 6749 §4.1.2.1: the client and its redirect first; nothing is
        // sent to an unverified redirect.
        let known = client(tx, &client_id)?.ok_or_else(|| PortalError::InvalidClient {
            reason: "unknown client".into(),
        })?;
        if !known.accepts_redirect(&redirect_uri) {
            return Err(PortalError::InvalidClient {
                reason: "redirect_uri not registered for the client".into(),
            });
        }
        if params.response_type.as_deref() != Some("code") {
            return Err(PortalError::UnsupportedResponseType);
        }
        if params.scope.as_deref() != Some(OPENID_SCOPE) {
            return Err(PortalError::InvalidScope);
        }
        let state = present(&params.state, "state")?;
        let nonce = present(&params.nonce, "nonce")?;
        let code_challenge = present(&params.code_challenge, "code_challenge")?;
        if params.code_challenge_method.as_deref() != Some(PKCE_METHOD) {
            return Err(PortalError::bad("code_challenge_method must be S256"));
        }
        // RFC 7636 §4.2: BASE64URL(SHA-256) is 43 characters.
        if code_challenge.len() != 43 || URL_SAFE_NO_PAD.decode(&code_challenge).is_err() {
            return Err(PortalError::bad("code_challenge is not an S256 challenge"));
        }
        let request_id = random_hex::<16>()?;
        let challenge = super::random_bytes::<32>()?.to_vec();
        let expires_at = now + lifetime(CHALLENGE_LIFETIME);
        tx.execute(
            "INSERT INTO authorizations(request_id, client_id, redirect_uri, state, nonce,
                 code_challenge, challenge, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                request_id,
                client_id,
                redirect_uri,
                state,
                nonce,
                code_challenge,
                challenge,
                expires_at.timestamp()
            ],
        )?;
        Ok(LoginChallenge {
            request_id,
            challenge,
            expires_at,
        })
    })?;
    json(200, &challenge)
}

fn lifetime(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// Whole seconds left of `left` (none when it is past).
fn remaining(left: TimeDelta) -> u64 {
    u64::try_from(left.num_seconds()).unwrap_or(0)
}

/// XORs `text` with a keystream from `pad` and `label`: sealed texts are
/// `sealed:<hex>`; sealing a sealed text opens it.
fn seal_text(text: &mut String, pad: &[u8; 32], label: &str) {
    const SEALED: &str = "sealed:";
    let opening = text.starts_with(SEALED);
    let bytes = Zeroizing::new(if opening {
        mynakit_core::reset::wire::from_hex(text.get(SEALED.len()..).unwrap_or_default())
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    });
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    for (block, chunk) in bytes.chunks(32).enumerate() {
        let stream = sha256(&[pad, label.as_bytes(), &block.to_be_bytes()]);
        out.extend(chunk.iter().zip(stream.iter()).map(|(b, s)| b ^ s));
    }
    text.zeroize();
    *text = if opening {
        String::from_utf8(out.to_vec()).unwrap_or_default()
    } else {
        format!("{SEALED}{}", to_hex(&out))
    };
}

impl Remember for AuthorizationResult {
    fn seal(&mut self, pad: &[u8; 32]) {
        seal_text(&mut self.code, pad, "code");
        seal_text(&mut self.redirect_to, pad, "redirect_to");
    }
}

impl Remember for TokenResponse {
    fn seal(&mut self, pad: &[u8; 32]) {
        seal_text(&mut self.access_token, pad, "access_token");
        seal_text(&mut self.refresh_token, pad, "refresh_token");
        if let Some(id_token) = &mut self.id_token {
            seal_text(id_token, pad, "id_token");
        }
    }
}

/// The proof's checks in the documented order; the challenge is spent by
/// the first proof, accepted or not.
fn proof(portal: &PortalAuthority, request: &Request<'_>) -> Result<Reply, PortalError> {
    let key = key(request.headers)?;
    let card_proof: CardProof = parse(request.body)?;
    let result = portal.idempotent(key.as_ref(), "login/proof", &card_proof, |tx, now| {
        check_proof(tx, now, &card_proof)
    })?;
    json(200, &result)
}

fn check_proof(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    proof: &CardProof,
) -> Result<AuthorizationResult, PortalError> {
    struct Pending {
        client_id: String,
        redirect_uri: String,
        state: String,
        nonce: String,
        code_challenge: String,
        challenge: Vec<u8>,
        expires_at: i64,
    }
    let pending = tx
        .query_row(
            "SELECT client_id, redirect_uri, state, nonce, code_challenge, challenge, expires_at
             FROM authorizations WHERE request_id = ?1 AND spent = 0",
            params![proof.request_id],
            |r| {
                Ok(Pending {
                    client_id: r.get(0)?,
                    redirect_uri: r.get(1)?,
                    state: r.get(2)?,
                    nonce: r.get(3)?,
                    code_challenge: r.get(4)?,
                    challenge: r.get(5)?,
                    expires_at: r.get(6)?,
                })
            },
        )
        .optional()?
        .ok_or(PortalError::ChallengeUnknown)?;
    tx.execute(
        "UPDATE authorizations SET spent = 1 WHERE request_id = ?1",
        params![proof.request_id],
    )?;
    if now.timestamp() > pending.expires_at {
        return Err(PortalError::ChallengeExpired);
    }
    let untrusted = |reason: String| PortalError::CertificateUntrusted { reason };
    let certificate = CardCertificate::from_der(proof.certificate.clone())
        .map_err(|e| untrusted(e.to_string()))?;
    // The role is judged before the chain by `verify`: a signing
    // certificate is refused as such whichever root issued it.
    jlis::authentication_anchors()
        .verify(&certificate, CertificateRole::Authentication, &[])
        .map_err(|e| match e {
            ChainError::WrongRole { .. } => PortalError::NotAuthenticationCertificate,
            other => untrusted(other.to_string()),
        })?;
    if certificate.expiry_state(now) != ExpiryState::Valid {
        return Err(PortalError::CertificateExpired);
    }
    let row = jlis::person_of_certificate(tx, &certificate)?
        .ok_or_else(|| untrusted("not in J-LIS's directory".into()))?;
    if row.revoked_at.is_some_and(|at| at <= now) {
        return Err(PortalError::CertificateRevoked);
    }
    let message = card_login_message(&proof.request_id, &pending.challenge);
    if !certificate.verifies_sha256_signature(&message, &proof.signature) {
        return Err(PortalError::BadCardSignature);
    }
    link_account(tx, now, &row)?;
    let code = random_hex::<32>()?;
    tx.execute(
        "INSERT INTO codes(hash, client_id, redirect_uri, code_challenge, nonce, person, serial,
             auth_time, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            sha256(&[code.as_bytes()]).to_vec(),
            pending.client_id,
            pending.redirect_uri,
            pending.code_challenge,
            pending.nonce,
            row.person,
            row.serial,
            now.timestamp(),
            (now + lifetime(CODE_LIFETIME)).timestamp()
        ],
    )?;
    #[derive(Serialize)]
    struct Redirect<'a> {
        code: &'a str,
        state: &'a str,
    }
    let query = Zeroizing::new(
        serde_urlencoded::to_string(Redirect {
            code: &code,
            state: &pending.state,
        })
        .map_err(PortalError::internal)?,
    );
    Ok(AuthorizationResult {
        redirect_to: format!("{}?{}", pending.redirect_uri, *query),
        code,
        state: pending.state,
    })
}

/// P4: the account is linked to the serial of the first login; the first
/// login with a renewed certificate (a later serial of the same person,
/// P3) re-links it, remembering the serial it came from.
fn link_account(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    row: &jlis::CertificateRow,
) -> Result<(), PortalError> {
    let linked: Option<String> = tx
        .query_row(
            "SELECT serial FROM accounts WHERE person = ?1",
            params![row.person],
            |r| r.get(0),
        )
        .optional()?;
    match linked {
        None => {
            tx.execute(
                "INSERT INTO accounts(person, serial, linked_at) VALUES (?1, ?2, ?3)",
                params![row.person, row.serial, now.timestamp()],
            )?;
        }
        Some(serial) if serial == row.serial => {}
        Some(serial) => {
            tx.execute(
                "UPDATE accounts SET serial = ?2, linked_at = ?3, relinked_from = ?4
                 WHERE person = ?1",
                params![row.person, row.serial, now.timestamp(), serial],
            )?;
        }
    }
    Ok(())
}

/// The serial an account is linked to now, and the one it was re-linked
/// from (P4), if the person ever logged in.
pub fn account_link(
    portal: &PortalAuthority,
    person: &str,
) -> Result<Option<(String, Option<String>)>, PortalError> {
    portal.read(|tx, _| {
        Ok(tx
            .query_row(
                "SELECT serial, relinked_from FROM accounts WHERE person = ?1",
                params![person],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    })
}

/// The token request as sent, every field optional (RFC 6749 §4.1.3, §6).
#[derive(Serialize, Deserialize, Default)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
}

impl Drop for TokenForm {
    fn drop(&mut self) {
        for secret in [
            &mut self.code,
            &mut self.code_verifier,
            &mut self.refresh_token,
        ]
        .into_iter()
        .flatten()
        {
            secret.zeroize();
        }
    }
}

fn token(portal: &PortalAuthority, request: &Request<'_>) -> Result<Reply, PortalError> {
    let key = key(request.headers)?;
    let form: TokenForm = serde_urlencoded::from_bytes(request.body)
        .map_err(|e| PortalError::bad(format!("the form: {e}")))?;
    let answer = portal.idempotent(key.as_ref(), "login/token", &form, |tx, now| {
        let client_id = form
            .client_id
            .as_deref()
            .ok_or_else(|| PortalError::bad("client_id is required"))?;
        let client = client(tx, client_id)?.ok_or_else(|| PortalError::InvalidClient {
            reason: "unknown client".into(),
        })?;
        match form.grant_type.as_deref() {
            Some("authorization_code") => {
                exchange_code(tx, now, portal.base_url(), client_id, &client, &form)
            }
            Some("refresh_token") => refresh(tx, now, portal.base_url(), client_id, &client, &form),
            Some(_) => Err(PortalError::UnsupportedGrantType),
            None => Err(PortalError::bad("grant_type is required")),
        }
    })?;
    json(200, &answer)
}

fn invalid_grant(reason: &str) -> PortalError {
    PortalError::InvalidGrant {
        reason: reason.to_owned(),
    }
}

fn exchange_code(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    issuer: &str,
    client_id: &str,
    client: &Client,
    form: &TokenForm,
) -> Result<TokenResponse, PortalError> {
    let (Some(code), Some(redirect_uri), Some(verifier)) = (
        form.code.as_deref(),
        form.redirect_uri.as_deref(),
        form.code_verifier.as_deref(),
    ) else {
        return Err(PortalError::bad(
            "code, redirect_uri and code_verifier are required",
        ));
    };
    let hash = sha256(&[code.as_bytes()]).to_vec();
    struct Issued {
        client_id: String,
        redirect_uri: String,
        code_challenge: String,
        nonce: String,
        person: String,
        serial: String,
        auth_time: i64,
        expires_at: i64,
        used_at: Option<i64>,
        session: Option<String>,
    }
    let issued = tx
        .query_row(
            "SELECT client_id, redirect_uri, code_challenge, nonce, person, serial, auth_time,
                 expires_at, used_at, session FROM codes WHERE hash = ?1",
            params![hash],
            |r| {
                Ok(Issued {
                    client_id: r.get(0)?,
                    redirect_uri: r.get(1)?,
                    code_challenge: r.get(2)?,
                    nonce: r.get(3)?,
                    person: r.get(4)?,
                    serial: r.get(5)?,
                    auth_time: r.get(6)?,
                    expires_at: r.get(7)?,
                    used_at: r.get(8)?,
                    session: r.get(9)?,
                })
            },
        )
        .optional()?
        .ok_or_else(|| invalid_grant("unknown code"))?;
    if issued.used_at.is_some() {
        // RFC 6749 §4.1.2: a code used twice revokes what it gave.
        if let Some(session) = &issued.session {
            end_session(tx, session, now)?;
        }
        return Err(invalid_grant("the code was used"));
    }
    // Spent by this attempt, whatever its outcome (no guessing the verifier).
    tx.execute(
        "UPDATE codes SET used_at = ?2 WHERE hash = ?1",
        params![hash, now.timestamp()],
    )?;
    if now.timestamp() > issued.expires_at {
        return Err(invalid_grant("the code expired"));
    }
    if issued.client_id != client_id || issued.redirect_uri != redirect_uri {
        return Err(invalid_grant("another client's or redirect's code"));
    }
    // RFC 7636 §4.1: 43 to 128 characters; §4.6: S256.
    let derived = URL_SAFE_NO_PAD.encode(sha256(&[verifier.as_bytes()]));
    if !(43..=128).contains(&verifier.len()) || derived != issued.code_challenge {
        return Err(invalid_grant("the PKCE verifier does not match"));
    }
    let session = random_hex::<16>()?;
    tx.execute(
        "INSERT INTO sessions(id, client_id, person, serial, auth_time, nonce)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            session,
            client_id,
            issued.person,
            issued.serial,
            issued.auth_time,
            issued.nonce
        ],
    )?;
    tx.execute(
        "UPDATE codes SET session = ?2 WHERE hash = ?1",
        params![hash, session],
    )?;
    let claims = IdTokenClaims {
        iss: issuer.to_owned(),
        sub: subject(tx, &client.sector, &issued.person)?,
        aud: client_id.to_owned(),
        exp: (now + lifetime(ID_TOKEN_LIFETIME)).timestamp(),
        iat: now.timestamp(),
        auth_time: issued.auth_time,
        nonce: Some(issued.nonce),
        acr: CARD_LOGIN_ACR.to_owned(),
        amr: CARD_LOGIN_AMR.iter().map(|s| (*s).to_owned()).collect(),
    };
    issue_tokens(tx, now, &session, &claims)
}

fn refresh(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    issuer: &str,
    client_id: &str,
    client: &Client,
    form: &TokenForm,
) -> Result<TokenResponse, PortalError> {
    let Some(token) = form.refresh_token.as_deref() else {
        return Err(PortalError::bad("refresh_token is required"));
    };
    let hash = sha256(&[token.as_bytes()]).to_vec();
    let (session, expires_at, spent_at): (String, i64, Option<i64>) = tx
        .query_row(
            "SELECT session, expires_at, spent_at FROM refresh_tokens WHERE hash = ?1",
            params![hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or_else(|| invalid_grant("unknown refresh token"))?;
    if spent_at.is_some() {
        // A spent refresh token again: stolen or replayed; the session ends.
        end_session(tx, &session, now)?;
        return Err(invalid_grant("the refresh token was used"));
    }
    if now.timestamp() >= expires_at {
        return Err(invalid_grant("the refresh token expired"));
    }
    let (owner, person, auth_time, ended_at): (String, String, i64, Option<i64>) = tx.query_row(
        "SELECT client_id, person, auth_time, ended_at FROM sessions WHERE id = ?1",
        params![session],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    if ended_at.is_some() {
        return Err(invalid_grant("the session ended"));
    }
    if owner != client_id {
        return Err(invalid_grant("another client's refresh token"));
    }
    // P2: a session lives no longer than its certificate's standing (a
    // revocation, a returned card, a renewal end it).
    if certificate_revoked(tx, &session, now)? {
        end_session(tx, &session, now)?;
        return Err(invalid_grant("the session's certificate is revoked"));
    }
    tx.execute(
        "UPDATE refresh_tokens SET spent_at = ?2 WHERE hash = ?1",
        params![hash, now.timestamp()],
    )?;
    let claims = IdTokenClaims {
        iss: issuer.to_owned(),
        sub: subject(tx, &client.sector, &person)?,
        aud: client_id.to_owned(),
        exp: (now + lifetime(ID_TOKEN_LIFETIME)).timestamp(),
        iat: now.timestamp(),
        auth_time,
        nonce: None,
        acr: CARD_LOGIN_ACR.to_owned(),
        amr: CARD_LOGIN_AMR.iter().map(|s| (*s).to_owned()).collect(),
    };
    issue_tokens(tx, now, &session, &claims)
}

/// Whether the certificate `session` logged in with is revoked by now.
fn certificate_revoked(
    tx: &Transaction<'_>,
    session: &str,
    now: DateTime<Utc>,
) -> Result<bool, PortalError> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM sessions s JOIN certificates c ON c.serial = s.serial
             WHERE s.id = ?1 AND c.revoked_at IS NOT NULL AND c.revoked_at <= ?2",
            params![session, now.timestamp()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Tokens for `session`. Every token ends by the card tap's `auth_time`
/// plus [`REFRESH_TOKEN_LIFETIME`]: a refresh gives a new token, never a
/// longer session, so a tap is needed at least daily (policy.rs).
fn issue_tokens(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    session: &str,
    claims: &IdTokenClaims,
) -> Result<TokenResponse, PortalError> {
    let access_token = random_hex::<32>()?;
    let refresh_token = random_hex::<32>()?;
    let session_end = DateTime::from_timestamp(claims.auth_time, 0)
        .ok_or_else(|| PortalError::internal("auth_time out of range"))?
        + lifetime(REFRESH_TOKEN_LIFETIME);
    let access_expires = (now + lifetime(ACCESS_TOKEN_LIFETIME)).min(session_end);
    let refresh_expires = (now + lifetime(REFRESH_TOKEN_LIFETIME)).min(session_end);
    tx.execute(
        "INSERT INTO access_tokens(hash, session, expires_at) VALUES (?1, ?2, ?3)",
        params![
            sha256(&[access_token.as_bytes()]).to_vec(),
            session,
            access_expires.timestamp()
        ],
    )?;
    tx.execute(
        "INSERT INTO refresh_tokens(hash, session, expires_at) VALUES (?1, ?2, ?3)",
        params![
            sha256(&[refresh_token.as_bytes()]).to_vec(),
            session,
            refresh_expires.timestamp()
        ],
    )?;
    let id_token = sign_id_token(tx, claims)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: remaining(access_expires - now),
        refresh_token,
        refresh_token_expires_in: remaining(refresh_expires - now),
        id_token: Some(id_token),
        scope: OPENID_SCOPE.to_owned(),
    })
}

fn sign_id_token(tx: &Transaction<'_>, claims: &IdTokenClaims) -> Result<String, PortalError> {
    let key = signing_key(tx)?;
    let (_, kid) = public_jwk(&key)?;
    let secret = p256::SecretKey::from(&key);
    let der = secret.to_pkcs8_der().map_err(PortalError::internal)?;
    let encoding = EncodingKey::from_ec_der(der.as_bytes());
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid);
    jsonwebtoken::encode(&header, claims, &encoding).map_err(PortalError::internal)
}

/// Ends a session: its access and refresh tokens stop working.
fn end_session(tx: &Transaction<'_>, session: &str, now: DateTime<Utc>) -> Result<(), PortalError> {
    tx.execute(
        "UPDATE sessions SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL",
        params![session, now.timestamp()],
    )?;
    Ok(())
}

/// The session an access token belongs to.
pub(crate) struct SessionRow {
    /// The person.
    pub person: String,
    /// The certificate serial it logged in with.
    pub serial: String,
}

/// The live session of a bearer token: known, unexpired, its session not
/// ended; else `invalid_token`.
pub(crate) fn session_of_access_token(
    tx: &Transaction<'_>,
    token: &str,
    now: DateTime<Utc>,
) -> Result<SessionRow, PortalError> {
    let hash = sha256(&[token.as_bytes()]).to_vec();
    // P2: a revoked certificate (J-LIS, a returned card, a renewal) ends
    // its sessions at once, not at the access token's expiry.
    tx.query_row(
        "SELECT s.person, s.serial FROM access_tokens a JOIN sessions s ON s.id = a.session
         JOIN certificates c ON c.serial = s.serial
         WHERE a.hash = ?1 AND a.expires_at > ?2 AND s.ended_at IS NULL
           AND (c.revoked_at IS NULL OR c.revoked_at > ?2)",
        params![hash, now.timestamp()],
        |r| {
            Ok(SessionRow {
                person: r.get(0)?,
                serial: r.get(1)?,
            })
        },
    )
    .optional()?
    .ok_or(PortalError::InvalidToken)
}

/// Who an access token logs in as (sandbox tests and the CLI's admin):
/// the person and the serial the session came from.
pub fn session_person(
    portal: &PortalAuthority,
    access_token: &str,
) -> Result<(String, String), PortalError> {
    portal.read(|tx, now| {
        session_of_access_token(tx, access_token, now).map(|s| (s.person, s.serial))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> Client {
        Client {
            redirect_uri: SAMPLE_RP_REDIRECT_URI.to_owned(),
            loopback: true,
            sector: String::new(),
        }
    }

    #[test]
    fn a_loopback_redirect_matches_on_any_port_and_nothing_else() {
        let c = loopback();
        assert!(c.accepts_redirect("http://127.0.0.1:49152/callback"));
        assert!(c.accepts_redirect("http://127.0.0.1/callback"));
        assert!(!c.accepts_redirect("http://127.0.0.1:49152/other"));
        assert!(!c.accepts_redirect("http://127.0.0.1:99999/callback"));
        assert!(!c.accepts_redirect("http://127.0.0.1:/callback"));
        assert!(!c.accepts_redirect("http://127.0.0.1.evil:80/callback"));
        assert!(!c.accepts_redirect("http://localhost:8080/callback"));
        let app = Client {
            redirect_uri: APP_REDIRECT_URI.to_owned(),
            loopback: false,
            sector: String::new(),
        };
        assert!(app.accepts_redirect(APP_REDIRECT_URI));
        assert!(!app.accepts_redirect("jp.mynakit.portal:/other"));
    }

    #[test]
    fn sealing_twice_gives_the_text_back_and_once_hides_it() {
        let pad = [7u8; 32];
        let token = "a".repeat(70);
        let mut text = token.clone();
        seal_text(&mut text, &pad, "t");
        assert!(!text.contains(&token));
        assert!(text.starts_with("sealed:"));
        seal_text(&mut text, &pad, "t");
        assert_eq!(text, token);
    }
}
