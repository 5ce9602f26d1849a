//! The portal app's client: the session (tokens sealed in the store), the
//! login with the card (P2) and the calls every portal feature makes
//! through it (bearer token, automatic refresh, idempotency, P6 waits).
//! The features themselves are in `insurance`, `consents` and `agents`.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::error::{IdTokenError, PortalError, PortalRefusal};
use super::policy::{ID_TOKEN_LEEWAY, certificate_standing};
use super::wire::{
    APP_CLIENT_ID, APP_REDIRECT_URI, AUTHORIZE_PATH, AuthorizationResult, AuthorizeQuery,
    CardProof, CertificateStanding, ErrorBody, FORM_CONTENT_TYPE, IdTokenClaims, JWKS_PATH,
    LoginChallenge, ON_BEHALF_OF_HEADER, OPENID_SCOPE, PKCE_METHOD, PROOF_PATH, TOKEN_PATH,
    TokenRequest, TokenResponse, card_login_message,
};
use crate::card::channel::CardChannel;
use crate::card::error::CardError;
use crate::card::jpki::{DigestInfo, FreeCertificate, Jpki, JpkiKey};
use crate::card::pin::{AuthPin, LastTry};
use crate::platform::{
    AuthorityLink, AuthorityRequest, AuthorityResponse, CardTransport, Clock, CorrectedClock,
    JsonAnswerError, Method, SecureArea, SecureAreaError, read_json_answer,
};
use crate::store::{Store, StoreError, Vault, VaultSpec};

/// The sealed record kind of a session (its id: the portal's name).
const SESSION_KIND: &str = "portal.session";

/// One login in progress: PKCE verifier, `state`, `nonce`, the portal's
/// challenge and, after the tap, the card's proof. Kept in memory only: a
/// login the process loses is begun again (nothing at the portal changes
/// until the code is exchanged).
pub struct LoginFlow {
    verifier: Zeroizing<String>,
    state: String,
    nonce: String,
    challenge: LoginChallenge,
    proof: Option<CardProof>,
    certificate_validity: Option<(DateTime<Utc>, DateTime<Utc>)>,
    authorization: Option<AuthorizationResult>,
    /// The code's tokens, kept until the ID token is checked: a retry after
    /// a failed JWK Set fetch must not send the spent code again (that
    /// would revoke the tokens, RFC 6749 §4.1.2).
    tokens: Option<TokenResponse>,
    finished: bool,
}

impl fmt::Debug for LoginFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginFlow")
            .field("request_id", &self.challenge.request_id)
            .field("expires_at", &self.challenge.expires_at)
            .field("tapped", &self.proof.is_some())
            .finish_non_exhaustive()
    }
}

impl LoginFlow {
    /// Whether the card was tapped (the proof is ready to send).
    pub fn tapped(&self) -> bool {
        self.proof.is_some()
    }

    /// When the portal forgets the challenge: tap before then.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.challenge.expires_at
    }
}

/// What the phone keeps of a login, sealed: the tokens and what the app
/// shows. Not the certificate (the relying party keeps no raw certificate,
/// app-protocols §6): only its validity.
#[derive(Clone, Serialize, Deserialize)]
struct KeptSession {
    subject: String,
    auth_time: DateTime<Utc>,
    access_token: String,
    access_expires_at: DateTime<Utc>,
    refresh_token: String,
    refresh_expires_at: DateTime<Utc>,
    certificate_not_before: DateTime<Utc>,
    certificate_not_after: DateTime<Utc>,
}

impl Drop for KeptSession {
    fn drop(&mut self) {
        self.access_token.zeroize();
        self.refresh_token.zeroize();
    }
}

/// A logged-in session as the app shows it (no tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The pairwise subject the portal knows this app's holder by.
    pub subject: String,
    /// When the card proof was checked.
    pub logged_in_at: DateTime<Utc>,
    /// When the access token expires (it is refreshed by itself).
    pub access_expires_at: DateTime<Utc>,
    /// When the refresh token expires: after that, tap the card again.
    pub refresh_expires_at: DateTime<Utc>,
    /// The authentication certificate used to log in, by the corrected
    /// clock: valid until, renewal open from (app-protocols §7).
    pub certificate: CertificateStanding,
}

/// The Mynaportal-style app's client of one portal. `Send + Sync`.
pub struct PortalClient {
    pub(super) link: Arc<dyn AuthorityLink>,
    pub(super) store: Arc<Store>,
    secure_area: Arc<dyn SecureArea>,
    clock: CorrectedClock<Arc<dyn Clock>>,
    authority: String,
    vault: Mutex<Option<Arc<Vault>>>,
    on_behalf_of: Mutex<Option<String>>,
    jwks: Mutex<Option<JwkSet>>,
}

impl fmt::Debug for PortalClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalClient")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl PortalClient {
    /// A client of the portal whose issuer identifier (base URL) is
    /// `authority`, reached through `link`. The ID token's `iss` must be
    /// exactly `authority`.
    pub fn new(
        link: Arc<dyn AuthorityLink>,
        store: Arc<Store>,
        secure_area: Arc<dyn SecureArea>,
        clock: Arc<dyn Clock>,
        authority: &str,
    ) -> Result<Self, PortalError> {
        let offset = store.transaction(|tx| tx.clock_offset(authority))?;
        Ok(Self {
            link,
            store,
            secure_area,
            clock: CorrectedClock::new(clock, offset),
            authority: authority.to_owned(),
            vault: Mutex::new(None),
            on_behalf_of: Mutex::new(None),
            jwks: Mutex::new(None),
        })
    }

    /// The time by the portal's clock as last seen.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The portal's name (its issuer identifier).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// P5: act for the holder who granted `grant_id` (this app's user is
    /// their agent) on every later call, or for oneself with `None`.
    pub fn act_on_behalf_of(&self, grant_id: Option<String>) {
        *self
            .on_behalf_of
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = grant_id;
    }

    async fn vault(&self) -> Result<Arc<Vault>, PortalError> {
        if let Some(vault) = self
            .vault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(vault);
        }
        let vault =
            Arc::new(Vault::open(&self.secure_area, &self.store, &VaultSpec::PORTAL).await?);
        *self.vault.lock().unwrap_or_else(PoisonError::into_inner) = Some(vault.clone());
        Ok(vault)
    }

    // ---- login (P2) ------------------------------------------------------

    /// Step 1: a fresh PKCE verifier, `state` and `nonce`, and the portal's
    /// challenge for them (the authorization request, RFC 6749 §4.1.1 with
    /// RFC 7636 S256).
    pub async fn begin_login(&self) -> Result<LoginFlow, PortalError> {
        let verifier = Zeroizing::new(random_token(32)?);
        let code_challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_token(16)?;
        let nonce = random_token(16)?;
        let query = AuthorizeQuery {
            response_type: "code".to_owned(),
            client_id: APP_CLIENT_ID.to_owned(),
            redirect_uri: APP_REDIRECT_URI.to_owned(),
            scope: OPENID_SCOPE.to_owned(),
            state: state.clone(),
            nonce: nonce.clone(),
            code_challenge,
            code_challenge_method: PKCE_METHOD.to_owned(),
        };
        let query = serde_urlencoded::to_string(&query).map_err(|e| PortalError::BadAnswer {
            what: format!("the authorization query: {e}"),
        })?;
        let challenge: LoginChallenge = self
            .exchange(AuthorityRequest::get(format!("{AUTHORIZE_PATH}?{query}")))
            .await?;
        if challenge.challenge.len() != 32 || challenge.request_id.is_empty() {
            return Err(PortalError::BadAnswer {
                what: "a challenge that is not 32 bytes, or no request id".to_owned(),
            });
        }
        Ok(LoginFlow {
            verifier,
            state,
            nonce,
            challenge,
            proof: None,
            certificate_validity: None,
            authorization: None,
            tokens: None,
            finished: false,
        })
    }

    /// Step 2, the one tap: reads the user-authentication certificate,
    /// verifies the authentication PIN and has the card sign the
    /// challenge with the authentication key (P2), in one card session.
    /// `last_try` is the user's consent to spend the PIN's last try; without
    /// it nothing is sent when the card reports one try left
    /// ([`PortalError::LastTry`]). A card pulled away keeps nothing: tap
    /// again.
    pub async fn tap<T: CardTransport>(
        &self,
        flow: &mut LoginFlow,
        channel: &mut CardChannel<T>,
        pin: &AuthPin,
        last_try: LastTry,
    ) -> Result<(), PortalError> {
        let message = card_login_message(&flow.challenge.request_id, &flow.challenge.challenge);
        let mut jpki = Jpki::new(channel);
        let certificate = jpki
            .read_certificate(FreeCertificate::Authentication)
            .await?;
        jpki.verify_auth_pin(pin, last_try)
            .await
            .map_err(|e| match e {
                CardError::LastTryNeedsConfirmation => PortalError::LastTry,
                other => PortalError::Card(other),
            })?;
        let signature = jpki
            .sign(JpkiKey::Authentication, &DigestInfo::sha256(&message))
            .await?;
        // A damaged answer from the card is caught here, not at the portal.
        if !certificate.verifies_sha256_signature(&message, &signature) {
            return Err(PortalError::Card(CardError::malformed(
                "authentication signature",
                crate::card::error::Malformation::SignatureDoesNotVerify,
            )));
        }
        flow.certificate_validity = Some((certificate.not_before(), certificate.not_after()));
        flow.proof = Some(CardProof {
            request_id: flow.challenge.request_id.clone(),
            certificate: certificate.der().to_vec(),
            signature,
        });
        Ok(())
    }

    /// Step 3: sends the card's proof, exchanges the code for tokens (with
    /// the PKCE verifier), checks the ID token (ES256 by the portal's JWK
    /// Set, `iss`, `aud`, `nonce`, `exp`) and keeps the session sealed.
    /// After a retryable failure (no answer, 429, 503: P6) call it again
    /// with the same flow: it resumes where it stopped, under the same
    /// idempotency keys, without another tap. On success the certificate
    /// is dropped from the flow: only its validity is kept.
    pub async fn finish_login(&self, flow: &mut LoginFlow) -> Result<Session, PortalError> {
        if flow.finished {
            return Err(PortalError::OutOfOrder {
                step: "finish_login",
                needs: "a new login (this one is finished)",
            });
        }
        let (Some(proof), Some((not_before, not_after))) =
            (flow.proof.as_ref(), flow.certificate_validity)
        else {
            return Err(PortalError::OutOfOrder {
                step: "finish_login",
                needs: "the card tap",
            });
        };
        let request_id = flow.challenge.request_id.clone();
        let authorization = match flow.authorization.take() {
            Some(authorization) => authorization,
            None => {
                let body = serde_json::to_vec(proof).map_err(|e| PortalError::BadAnswer {
                    what: e.to_string(),
                })?;
                let authorization: AuthorizationResult = self
                    .send_once(
                        &format!("portal/login/{request_id}/proof"),
                        PROOF_PATH,
                        body,
                        "application/json",
                    )
                    .await?;
                if authorization.state != flow.state {
                    return Err(PortalError::StateMismatch);
                }
                authorization
            }
        };
        let code = authorization.code.clone();
        // Kept for a retry of the exchange below.
        flow.authorization = Some(authorization);
        let tokens = match flow.tokens.take() {
            Some(tokens) => tokens,
            None => {
                let form = form_of(&TokenRequest::AuthorizationCode {
                    code,
                    redirect_uri: APP_REDIRECT_URI.to_owned(),
                    client_id: APP_CLIENT_ID.to_owned(),
                    code_verifier: flow.verifier.to_string(),
                })?;
                self.send_once::<TokenResponse>(
                    &format!("portal/login/{request_id}/token"),
                    TOKEN_PATH,
                    form,
                    FORM_CONTENT_TYPE,
                )
                .await?
            }
        };
        // Kept for a retry of the check below.
        flow.tokens = Some(tokens.clone());
        let Some(id_token) = tokens.id_token.as_deref() else {
            return Err(PortalError::BadAnswer {
                what: "a token answer without an ID token".to_owned(),
            });
        };
        let claims = self.check_id_token(id_token, Some(&flow.nonce)).await?;
        let now = self.now();
        let kept = KeptSession {
            subject: claims.sub.clone(),
            auth_time: DateTime::from_timestamp(claims.auth_time, 0).unwrap_or(now),
            access_token: tokens.access_token.clone(),
            access_expires_at: after(now, tokens.expires_in)?,
            refresh_token: tokens.refresh_token.clone(),
            refresh_expires_at: after(now, tokens.refresh_token_expires_in)?,
            certificate_not_before: not_before,
            certificate_not_after: not_after,
        };
        self.keep_session(&kept).await?;
        flow.finished = true;
        flow.proof = None;
        flow.authorization = None;
        flow.tokens = None;
        Ok(self.session_of(&kept))
    }

    /// The session kept on the phone, if any (offline).
    pub async fn session(&self) -> Result<Option<Session>, PortalError> {
        Ok(self.kept_session().await?.map(|k| self.session_of(&k)))
    }

    /// The authentication certificate's standing as of the last login, by
    /// the corrected clock (offline): valid until, renewal open from, the
    /// §6 flag.
    pub async fn certificate_standing(&self) -> Result<CertificateStanding, PortalError> {
        let kept = self
            .kept_session()
            .await?
            .ok_or(PortalError::LoginRequired)?;
        Ok(certificate_standing(
            kept.certificate_not_before,
            kept.certificate_not_after,
            self.now(),
        ))
    }

    /// Forgets the session on this phone (the tokens lapse at the portal).
    pub async fn logout(&self) -> Result<(), PortalError> {
        let authority = self.authority.clone();
        self.store.transaction(|tx| {
            tx.remove_sealed(SESSION_KIND, &authority)?;
            tx.finish_operation("portal/refresh")?;
            Ok::<_, StoreError>(())
        })?;
        Ok(())
    }

    /// Renews the access token with the refresh token (rotated). A refresh
    /// token the portal refuses ends the session: [`PortalError::LoginRequired`].
    pub async fn refresh_session(&self) -> Result<Session, PortalError> {
        let kept = self
            .kept_session()
            .await?
            .ok_or(PortalError::LoginRequired)?;
        let renewed = self.refresh(&kept).await?;
        Ok(self.session_of(&renewed))
    }

    fn session_of(&self, kept: &KeptSession) -> Session {
        Session {
            subject: kept.subject.clone(),
            logged_in_at: kept.auth_time,
            access_expires_at: kept.access_expires_at,
            refresh_expires_at: kept.refresh_expires_at,
            certificate: certificate_standing(
                kept.certificate_not_before,
                kept.certificate_not_after,
                self.now(),
            ),
        }
    }

    async fn kept_session(&self) -> Result<Option<KeptSession>, PortalError> {
        let vault = self.vault().await?;
        let authority = self.authority.clone();
        let bytes = self
            .store
            .transaction(|tx| tx.sealed(&*vault, SESSION_KIND, &authority))?;
        match bytes {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| PortalError::Seal(crate::store::SealError::DoesNotOpen)),
        }
    }

    async fn keep_session(&self, kept: &KeptSession) -> Result<(), PortalError> {
        let vault = self.vault().await?;
        let bytes =
            Zeroizing::new(
                serde_json::to_vec(kept).map_err(|e| PortalError::BadAnswer {
                    what: e.to_string(),
                })?,
            );
        let authority = self.authority.clone();
        self.store
            .transaction(|tx| tx.put_sealed(&*vault, SESSION_KIND, &authority, &bytes))?;
        Ok(())
    }

    /// The refresh grant. Its idempotency key is kept until the new tokens
    /// are stored, so a process killed in between gets the same answer
    /// again instead of a spent refresh token.
    async fn refresh(&self, kept: &KeptSession) -> Result<KeptSession, PortalError> {
        if kept.refresh_expires_at <= self.now() {
            self.logout().await?;
            return Err(PortalError::LoginRequired);
        }
        let form = form_of(&TokenRequest::RefreshToken {
            refresh_token: kept.refresh_token.clone(),
            client_id: APP_CLIENT_ID.to_owned(),
        })?;
        let operation = "portal/refresh";
        let key = self.store.transaction(|tx| tx.idempotency_key(operation))?;
        let request = AuthorityRequest::post(TOKEN_PATH, form, &key)
            .header("Content-Type", FORM_CONTENT_TYPE);
        let tokens: TokenResponse = match self.exchange(request).await {
            Ok(tokens) => tokens,
            Err(PortalError::Refused {
                error: PortalRefusal::InvalidGrant,
                ..
            }) => {
                self.logout().await?;
                return Err(PortalError::LoginRequired);
            }
            Err(e) => {
                if !e.is_retryable() {
                    self.store
                        .transaction(|tx| tx.finish_operation(operation))?;
                }
                return Err(e);
            }
        };
        if let Some(id_token) = tokens.id_token.as_deref() {
            let checked = match self.check_id_token(id_token, None).await {
                Ok(claims) if claims.sub == kept.subject => Ok(()),
                Ok(_) => Err(IdTokenError::WrongSubject.into()),
                Err(e) => Err(e),
            };
            if let Err(e) = checked {
                // A token the phone will never accept ends the session (and
                // its kept key) rather than failing every later refresh the
                // same way; a JWK Set not fetched keeps the key for a retry.
                if !e.is_retryable() {
                    self.logout().await?;
                }
                return Err(e);
            }
        }
        let now = self.now();
        let mut renewed = kept.clone();
        renewed.access_token = tokens.access_token.clone();
        renewed.access_expires_at = after(now, tokens.expires_in)?;
        renewed.refresh_token = tokens.refresh_token.clone();
        renewed.refresh_expires_at = after(now, tokens.refresh_token_expires_in)?;
        let vault = self.vault().await?;
        let bytes =
            Zeroizing::new(
                serde_json::to_vec(&renewed).map_err(|e| PortalError::BadAnswer {
                    what: e.to_string(),
                })?,
            );
        let authority = self.authority.clone();
        self.store.transaction(|tx| {
            tx.put_sealed(&*vault, SESSION_KIND, &authority, &bytes)?;
            tx.finish_operation(operation)?;
            Ok::<_, StoreError>(())
        })?;
        Ok(renewed)
    }

    /// The portal's JWK Set: the one fetched before while it has a key with
    /// `kid` (a refresh then costs no extra request), else fetched now (a
    /// rotated key).
    async fn jwks_for(&self, kid: Option<&str>) -> Result<JwkSet, PortalError> {
        let cached = self
            .jwks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(jwks) = cached
            && kid.is_some_and(|kid| jwks.find(kid).is_some())
        {
            return Ok(jwks);
        }
        let jwks: JwkSet = self.exchange(AuthorityRequest::get(JWKS_PATH)).await?;
        *self.jwks.lock().unwrap_or_else(PoisonError::into_inner) = Some(jwks.clone());
        Ok(jwks)
    }

    /// Checks an ID token (OpenID Connect Core §3.1.3.7) against the
    /// portal's JWK Set, fetched now.
    async fn check_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<IdTokenClaims, PortalError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| IdTokenError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::ES256 {
            return Err(IdTokenError::Malformed(format!("alg {:?}", header.alg)).into());
        }
        let jwks = self.jwks_for(header.kid.as_deref()).await?;
        let candidates: Vec<_> = jwks
            .keys
            .iter()
            .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
            .collect();
        let mut validation = Validation::new(Algorithm::ES256);
        // Time is checked below by the corrected clock, not the phone's.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[&self.authority]);
        validation.set_audience(&[APP_CLIENT_ID]);
        let mut outcome = Err(IdTokenError::BadSignature);
        for jwk in candidates {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            match jsonwebtoken::decode::<IdTokenClaims>(token, &key, &validation) {
                Ok(data) => {
                    outcome = Ok(data.claims);
                    break;
                }
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind;
                    outcome = Err(match e.kind() {
                        ErrorKind::InvalidSignature => IdTokenError::BadSignature,
                        ErrorKind::InvalidIssuer => {
                            IdTokenError::WrongIssuer(claimed_issuer(token))
                        }
                        ErrorKind::InvalidAudience => IdTokenError::WrongAudience,
                        other => IdTokenError::Malformed(format!("{other:?}")),
                    });
                    if !matches!(outcome, Err(IdTokenError::BadSignature)) {
                        break;
                    }
                }
            }
        }
        let claims = outcome?;
        if let Some(nonce) = nonce
            && claims.nonce.as_deref() != Some(nonce)
        {
            return Err(IdTokenError::WrongNonce.into());
        }
        let now = self.now().timestamp();
        let leeway = i64::try_from(ID_TOKEN_LEEWAY.as_secs()).unwrap_or(60);
        if claims.exp.saturating_add(leeway) < now || claims.iat.saturating_sub(leeway) > now {
            return Err(IdTokenError::Expired.into());
        }
        Ok(claims)
    }

    // ---- calls -----------------------------------------------------------

    /// A call of the portal API on behalf of the session: the bearer token
    /// (refreshed first when expired, and once more if the portal says it
    /// is no longer valid), `On-Behalf-Of` when acting as an agent (P5),
    /// and, for a state-changing call, the idempotency key of `operation`
    /// kept in the store until a final answer (retry after a lost answer,
    /// 429 or 503 with the same key, P6). `body` is JSON.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        operation: Option<&str>,
    ) -> Result<T, PortalError> {
        let mut kept = self
            .kept_session()
            .await?
            .ok_or(PortalError::LoginRequired)?;
        if kept.access_expires_at <= self.now() {
            kept = self.refresh(&kept).await?;
        }
        let on_behalf_of = self
            .on_behalf_of
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // One key per request: the operation named with a digest of what it
        // sends and for whom, so a call with another body (a new terms
        // version, other scopes) never meets a key kept for an earlier one.
        let operation = operation
            .map(|operation| operation_name(operation, body.as_deref(), on_behalf_of.as_deref()));
        let operation = operation.as_deref();
        let key = match operation {
            Some(operation) if method.changes_state() => {
                Some(self.store.transaction(|tx| tx.idempotency_key(operation))?)
            }
            _ => None,
        };
        let build = |access_token: &str| {
            let mut request = match &key {
                Some(key) => {
                    AuthorityRequest::changing(method, path, body.clone().unwrap_or_default(), key)
                }
                None => AuthorityRequest::get(path),
            };
            if body.is_some() {
                request = request.header("Content-Type", "application/json");
            }
            request = request.header("Authorization", format!("Bearer {access_token}"));
            if let Some(grant) = &on_behalf_of {
                request = request.header(ON_BEHALF_OF_HEADER, grant.clone());
            }
            request
        };
        let mut outcome = self.exchange(build(&kept.access_token)).await;
        if let Err(PortalError::Refused {
            error: PortalRefusal::InvalidToken,
            ..
        }) = outcome
        {
            kept = self.refresh(&kept).await?;
            outcome = self.exchange(build(&kept.access_token)).await;
        }
        if let Some(operation) = operation
            && key.is_some()
            && outcome.as_ref().err().is_none_or(|e| !e.is_retryable())
        {
            self.store
                .transaction(|tx| tx.finish_operation(operation))?;
        }
        outcome
    }

    /// A state-changing request outside the session (the login's proof and
    /// code exchange), under the idempotency key of `operation`, kept until
    /// a final answer.
    async fn send_once<T: DeserializeOwned>(
        &self,
        operation: &str,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<T, PortalError> {
        let key = self.store.transaction(|tx| tx.idempotency_key(operation))?;
        let request = AuthorityRequest::post(path, body, &key).header("Content-Type", content_type);
        let outcome = self.exchange(request).await;
        if outcome.as_ref().err().is_none_or(|e| !e.is_retryable()) {
            self.store
                .transaction(|tx| tx.finish_operation(operation))?;
        }
        outcome
    }

    /// Sends one request and sorts the answer
    /// ([`read_json_answer`]): the portal's refusals typed, `terms_not_agreed`
    /// as [`PortalError::TermsNotAgreed`].
    pub(super) async fn exchange<T: DeserializeOwned>(
        &self,
        request: AuthorityRequest,
    ) -> Result<T, PortalError> {
        let response = self
            .link
            .send(request)
            .await
            .map_err(|e| PortalError::Authority(e.into()))?;
        self.observe_date(&response)?;
        match read_json_answer::<T, ErrorBody>(response, self.now()) {
            Ok(value) => Ok(value),
            Err(JsonAnswerError::Authority(e)) => Err(PortalError::Authority(e)),
            Err(JsonAnswerError::Garbled { status, what }) => Err(PortalError::AnswerGarbled {
                what: format!("status {status}: {what}"),
            }),
            Err(JsonAnswerError::Refused { status, body }) => {
                let error = serde_json::from_value::<PortalRefusal>(serde_json::Value::String(
                    body.error.clone(),
                ))
                .unwrap_or(PortalRefusal::Unknown);
                match (error, body.current_terms_version) {
                    (PortalRefusal::TermsNotAgreed, Some(current)) => {
                        Err(PortalError::TermsNotAgreed { current })
                    }
                    (error, _) => Err(PortalError::Refused { error, status }),
                }
            }
        }
    }

    fn observe_date(&self, response: &AuthorityResponse) -> Result<(), PortalError> {
        let Some(date) = response.header("Date") else {
            return Ok(());
        };
        if let Ok(offset) = self.clock.observe_date_header(date) {
            self.store
                .transaction(|tx| tx.record_clock_offset(&self.authority, &offset))?;
        }
        Ok(())
    }
}

/// `bytes` random bytes, base64url without padding (PKCE verifier: 32
/// bytes give 43 characters, RFC 7636 §4.1).
fn random_token(bytes: usize) -> Result<String, PortalError> {
    let mut buffer = Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(&mut buffer).map_err(|e| {
        PortalError::SecureArea(SecureAreaError::Unavailable {
            reason: format!("no randomness: {e}"),
        })
    })?;
    Ok(URL_SAFE_NO_PAD.encode(&*buffer))
}

/// The `iss` an ID token claims, read without checking it (for the error
/// message only).
fn claimed_issuer(token: &str) -> String {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Issuer>(&bytes).ok())
        .map(|i| i.iss)
        .unwrap_or_default()
}

fn form_of(request: &TokenRequest) -> Result<Vec<u8>, PortalError> {
    serde_urlencoded::to_string(request)
        .map(String::into_bytes)
        .map_err(|e| PortalError::BadAnswer {
            what: format!("the token request: {e}"),
        })
}

/// `operation` named for one request: a digest of the body and of the grant
/// acted under (no secret readable from it).
fn operation_name(operation: &str, body: Option<&[u8]>, on_behalf_of: Option<&str>) -> String {
    let mut hash = Sha256::new();
    hash.update(body.unwrap_or_default());
    hash.update([0]);
    hash.update(on_behalf_of.unwrap_or_default().as_bytes());
    let digest = hash.finalize();
    let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{operation}/{short}")
}

/// `now` plus a lifetime the portal gave in seconds; a lifetime no date
/// can hold is a wrong answer, not a panic.
fn after(now: DateTime<Utc>, secs: u64) -> Result<DateTime<Utc>, PortalError> {
    i64::try_from(secs)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|delta| now.checked_add_signed(delta))
        .ok_or_else(|| PortalError::BadAnswer {
            what: format!("a token lifetime of {secs} s"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifetime_no_date_can_hold_is_a_wrong_answer_not_a_panic() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(matches!(
            after(now, u64::MAX),
            Err(PortalError::BadAnswer { .. })
        ));
        assert!(matches!(
            after(now, 9_000_000_000_000),
            Err(PortalError::BadAnswer { .. })
        ));
        assert_eq!(after(now, 600).unwrap(), now + TimeDelta::seconds(600));
    }

    #[test]
    fn each_body_and_grant_names_its_own_operation() {
        let a = operation_name("portal/insurance/register", Some(b"{\"v\":1}"), None);
        assert_eq!(
            a,
            operation_name("portal/insurance/register", Some(b"{\"v\":1}"), None)
        );
        assert_ne!(
            a,
            operation_name("portal/insurance/register", Some(b"{\"v\":2}"), None)
        );
        assert_ne!(
            a,
            operation_name("portal/insurance/register", Some(b"{\"v\":1}"), Some("g1"))
        );
        assert!(a.starts_with("portal/insurance/register/"));
    }
}
