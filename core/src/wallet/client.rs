//! The phone's side of the card-substitute record (issue 9): apply in one
//! tap, keep the record sealed, present it with the user's authentication,
//! re-issue it without the card, revoke it, read the issuer's notices.
//!
//! The issuer decides; the phone mirrors what it last heard and works
//! offline from that ([`WalletClient::records`]). Every state-changing
//! request goes under an idempotency key committed before it is sent, with
//! its body kept for a retry (W12: the issuer may be unavailable at any
//! moment), so a retry never makes a second record.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::error::{ApplySecret, ReapplyReason, WalletError, WalletRefusal};
use super::mdoc::{
    DOC_TYPE, ElementId, ElementValue, IssuerSigned, MdocError, device_authentication_to_be_signed,
    device_response,
};
use super::policy::MAX_USES_BEFORE_REISSUE;
use super::status_list::claimed_ttl;
use super::wire::{
    API_PREFIX, ApplicationData, ApplyRequest, CertificateStatus, DeviceKeyDescription, HexBytes,
    IssuedRecord, NonceResponse, Notice, NoticeList, PublicNotice, PublicNoticeList, RecordState,
    RecordStatus, ReissueReason, ReissueRequest, Replaces, RevocationReason, RevokeRequest,
    WalletErrorBody, apply_message, is_record_id, reissue_message, revoke_message,
};
use crate::card::channel::CardChannel;
use crate::card::check_code::CheckCodeA;
use crate::card::error::CardError;
use crate::card::jpki::{DigestInfo, Jpki, JpkiKey};
use crate::card::kenhojo::Kenhojo;
use crate::card::kenmen::Kenmen;
use crate::card::pin::{KenhojoPin, LastTry, SigningPassword};
use crate::hex::to_hex;
use crate::jp::person::Sex;
use crate::platform::{
    AuthorityLink, AuthorityRequest, AuthorityResponse, CardTransport, Clock, CorrectedClock,
    IdempotencyKey, JsonAnswerError, KeyInfo, KeySpec, SecureArea, SecureAreaError,
    UserAuthentication, read_json_answer,
};
use crate::store::{Store, StoreError, StoreTx};
use crate::store::{Vault, VaultSpec};

/// The sealed-record kind of a record's `IssuerSigned` bytes.
const RECORD_KIND: &str = "wallet.record";
/// The sealed-record kind of a record's holder token.
const TOKEN_KIND: &str = "wallet.holder_token";
/// The sealed-record kind of an application sent without a final answer
/// (personal data inside): re-sent after a restart, so an application the
/// issuer acted on is never lost between its answer and the store.
const PENDING_APPLICATION_KIND: &str = "wallet.pending_application";
/// Device keys are named by this prefix and a random suffix.
const DEVICE_KEY_PREFIX: &str = "mynakit.wallet.device.";

/// What the tap read and the card signed, held until the request is sent.
struct Evidence {
    data: ApplicationData,
    signing_certificate: Vec<u8>,
    card_signature: Vec<u8>,
}

/// One application, from [`WalletClient::begin_application`] to
/// [`WalletClient::submit_application`]. Held in memory by the app.
pub struct WalletApplication {
    nonce: String,
    /// The record in force this application replaces: its device key is
    /// gone, so it can neither be used nor revoked with it.
    replaces: Option<String>,
    device_key_alias: String,
    device_key: KeyInfo,
    evidence: Option<Evidence>,
    /// The request sent without a final answer yet: sent again byte for
    /// byte (personal data inside: wiped when dropped).
    pending: Option<Zeroizing<Vec<u8>>>,
    pin_last_try: LastTry,
    password_last_try: LastTry,
}

impl fmt::Debug for WalletApplication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletApplication")
            .field("device_key_alias", &self.device_key_alias)
            .field("security_level", &self.device_key.security_level)
            .field("tapped", &self.evidence.is_some())
            .field("sent", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl WalletApplication {
    /// Records that the user agreed to spend the last try of `secret`, after
    /// a tap answered [`WalletError::LastTry`]. Each secret has its own
    /// consent.
    pub fn allow_last_try(&mut self, secret: ApplySecret) {
        match secret {
            ApplySecret::CardInfoPin => self.pin_last_try = LastTry::Allow,
            ApplySecret::SigningPassword => self.password_last_try = LastTry::Allow,
        }
    }

    /// Whether the tap is done.
    pub fn tapped(&self) -> bool {
        self.evidence.is_some()
    }

    /// Where the new device key lives, as the platform reported it.
    pub fn device_key(&self) -> &KeyInfo {
        &self.device_key
    }
}

/// An application kept sealed until the issuer's final answer.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingApplication {
    device_key_alias: String,
    #[serde(default)]
    replaces: Option<String>,
    #[serde(with = "crate::hex::hex_bytes")]
    device_key: Vec<u8>,
    body: String,
}

impl Drop for PendingApplication {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.body);
    }
}

/// A record as the phone last knew it. No personal data: the elements are
/// read with [`WalletClient::record_elements`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalletRecord {
    /// The issuer's id of the record.
    pub record_id: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// Start of validity.
    pub valid_from: DateTime<Utc>,
    /// End of validity (W5).
    pub valid_until: DateTime<Utc>,
    /// Its state now: the issuer's last word, and `Expired` once the
    /// (corrected) clock passes `valid_until` (expiry wins over status).
    pub status: RecordStatus,
    /// Why it stopped, when it was revoked.
    pub revocation_reason: Option<RevocationReason>,
    /// The record that replaced it.
    pub replaced_by: Option<String>,
    /// Presentations made with it (W6(3), W10: each counted).
    pub uses: u64,
    /// A re-issue the phone would ask for at the next refresh, as far as it
    /// can tell offline (validity ended, uses above the policy count).
    pub reissue_due: Option<ReissueReason>,
    /// When the signing certificate used to apply expires: re-issue without
    /// the card is possible until then (W6).
    pub signing_certificate_not_after: DateTime<Utc>,
    /// Where its status is published.
    pub status_uri: String,
    /// Its index there.
    pub status_idx: u64,
}

impl WalletRecord {
    /// Whether this record is the one in force (valid or suspended, not
    /// expired, not replaced).
    pub fn in_force(&self) -> bool {
        matches!(self.status, RecordStatus::Valid | RecordStatus::Suspended)
            && self.replaced_by.is_none()
    }
}

/// What [`WalletClient::refresh`] found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshReport {
    /// Every record, after the refresh, newest first.
    pub records: Vec<WalletRecord>,
    /// A record issued in place of another (W6): old id, new id, why.
    pub reissued: Option<Reissued>,
    /// The card must be tapped again for a new record (W6's condition
    /// failed, or the device key is gone).
    pub reapply: Option<ReapplyReason>,
    /// The issuer's notices to this holder, oldest first.
    pub notices: Vec<Notice>,
}

/// A re-issue that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reissued {
    /// The record replaced.
    pub old_record_id: String,
    /// The new record.
    pub new_record_id: String,
    /// Why (W6).
    pub reason: ReissueReason,
}

/// The notices for the holder and the public ones (W8, Art. 8(2), (3)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notices {
    /// To this holder, oldest first.
    pub holder: Vec<Notice>,
    /// Public notices (issuer key leaks, operational revocations).
    pub public: Vec<PublicNotice>,
}

/// The wallet on the phone. `Send + Sync`; one per issuer.
pub struct WalletClient {
    link: Arc<dyn AuthorityLink>,
    store: Arc<Store>,
    secure_area: Arc<dyn SecureArea>,
    clock: CorrectedClock<Arc<dyn Clock>>,
    authority: String,
    vault: Mutex<Option<Arc<Vault>>>,
}

impl fmt::Debug for WalletClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletClient")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl WalletClient {
    /// A wallet talking to the issuer `authority` (its name or base URL:
    /// the key of its records and clock offset in the store) over `link`.
    pub fn new(
        link: Arc<dyn AuthorityLink>,
        store: Arc<Store>,
        secure_area: Arc<dyn SecureArea>,
        clock: Arc<dyn Clock>,
        authority: &str,
    ) -> Result<Self, WalletError> {
        let offset = store.transaction(|tx| tx.clock_offset(authority))?;
        Ok(Self {
            link,
            store,
            secure_area,
            clock: CorrectedClock::new(clock, offset),
            authority: authority.to_owned(),
            vault: Mutex::new(None),
        })
    }

    /// The time by the issuer's clock as last seen.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn vault(&self) -> Result<Arc<Vault>, WalletError> {
        if let Some(vault) = self
            .vault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(vault);
        }
        let vault =
            Arc::new(Vault::open(&self.secure_area, &self.store, &VaultSpec::WALLET).await?);
        *self.vault.lock().unwrap_or_else(PoisonError::into_inner) = Some(vault.clone());
        Ok(vault)
    }

    /// Step 1: fetches the issuer's nonce and makes the device key in the
    /// secure area — user authentication before every use (W10), StrongBox
    /// when present, attested over the nonce. Refused while a record is in
    /// force on this phone (W3; the issuer checks too).
    pub async fn begin_application(&self) -> Result<WalletApplication, WalletError> {
        self.resume_applications().await?;
        let mut replaces = None;
        if let Some(record) = self.records()?.into_iter().find(WalletRecord::in_force) {
            // W3, unless the record's device key is gone (lock screen
            // removed, biometrics changed): then the new application, with
            // the card, replaces it — nothing else could stop it.
            if self.device_key_usable(&record.record_id).await? {
                return Err(WalletError::RecordInForce {
                    record_id: record.record_id,
                });
            }
            replaces = Some(record.record_id);
        }
        let nonce = self.nonce().await?;
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(|e| {
            WalletError::SecureArea(SecureAreaError::Unavailable {
                reason: format!("no randomness: {e}"),
            })
        })?;
        let alias = format!("{DEVICE_KEY_PREFIX}{}", to_hex(&suffix));
        let info = self
            .secure_area
            .create_key(
                alias.clone(),
                KeySpec::device_key(nonce.as_bytes().to_vec()),
            )
            .await?;
        if info.user_authentication != UserAuthentication::EveryUse {
            // W10: a key the platform would use without asking cannot carry
            // the record. Best effort: the key is useless either way.
            let _ = self.secure_area.delete_key(alias).await;
            return Err(WalletError::UserAuthenticationNotEnforced);
        }
        Ok(WalletApplication {
            nonce,
            replaces,
            device_key_alias: alias,
            device_key: info,
            evidence: None,
            pending: None,
            pin_last_try: LastTry::Refuse,
            password_last_try: LastTry::Refuse,
        })
    }

    /// Step 2, the one tap (W2): Kenhojo's basic four and the My Number
    /// (card-info PIN, one VERIFY), Kenmen's face record opened with
    /// 照合番号A = that My Number, the JPKI signing certificate (signing
    /// password) and the card's signature over the nonce, the device key
    /// and the data. No try is spent past a last one the user did not
    /// allow ([`WalletApplication::allow_last_try`]).
    pub async fn tap<T: CardTransport>(
        &self,
        application: &mut WalletApplication,
        channel: &mut CardChannel<T>,
        card_info_pin: &KenhojoPin,
        signing_password: &SigningPassword,
    ) -> Result<(), WalletError> {
        let last_try = |secret: ApplySecret| {
            move |e: CardError| match e {
                CardError::LastTryNeedsConfirmation => WalletError::LastTry { secret },
                other => WalletError::Card(other),
            }
        };
        let mut kenhojo = Kenhojo::new(channel);
        let basic = kenhojo
            .read_basic_info(card_info_pin, application.pin_last_try)
            .await
            .map_err(last_try(ApplySecret::CardInfoPin))?;
        if basic.birth_date.is_none() {
            // Ages and the birthday re-issue (W6(2)) need it; stop before
            // the signing password is tried.
            return Err(WalletError::BirthDateUnknown);
        }
        let my_number = kenhojo
            .read_my_number(card_info_pin, application.pin_last_try)
            .await
            .map_err(last_try(ApplySecret::CardInfoPin))?;
        // 照合番号A is the number just read: right by construction, so its
        // last try is never spent here (the card's counter decides).
        let face = Kenmen::new(channel)
            .read_face_record_with_check_code_a(
                &CheckCodeA::from_my_number(&my_number),
                LastTry::Refuse,
            )
            .await?;
        let data = ApplicationData {
            name: basic.name.clone(),
            address: basic.address.clone(),
            birth_date: basic.birth_date,
            sex: match basic.sex {
                Sex::Male => 1,
                Sex::Female => 2,
                Sex::NotApplicable => 9,
            },
            my_number: my_number.expose().to_owned(),
            photo_jp2: face.face().photo_jp2.clone(),
        };
        let message = apply_message(
            &application.nonce,
            &application.device_key.public_key,
            &data.digest(),
        );
        let mut jpki = Jpki::new(channel);
        let certificate = jpki
            .read_signing_certificate(signing_password, application.password_last_try)
            .await
            .map_err(last_try(ApplySecret::SigningPassword))?;
        let card_signature = jpki
            .sign(JpkiKey::Signing, &DigestInfo::sha256(&message))
            .await?;
        application.evidence = Some(Evidence {
            data,
            signing_certificate: certificate.der().to_vec(),
            card_signature,
        });
        Ok(())
    }

    /// Step 3, after the card is put away: the device key signs the same
    /// message (one prompt for the user), the application goes to the
    /// issuer (W4), and the record comes back, checked to be bound to our
    /// key, and is kept sealed. A retry after a failure sends the same
    /// request under the same key.
    pub async fn submit_application(
        &self,
        application: &mut WalletApplication,
    ) -> Result<WalletRecord, WalletError> {
        let Some(evidence) = &application.evidence else {
            return Err(WalletError::OutOfOrder {
                step: "sending the application",
                needs: "the tap",
            });
        };
        let vault = self.vault().await?;
        let operation = format!("wallet/apply/{}", application.nonce);
        if application.pending.is_some() {
            // Sent before without a final answer: a refresh in between may
            // have resumed it to its end.
            let pending = self.store.transaction(|tx| tx.pending_operations())?;
            if !pending.contains(&operation) {
                application.pending = None;
                return self.record_of_key(&application.device_key_alias);
            }
        }
        let body = match &application.pending {
            Some(body) => body.to_vec(),
            None => {
                let message = apply_message(
                    &application.nonce,
                    &application.device_key.public_key,
                    &evidence.data.digest(),
                );
                let device_signature = self
                    .secure_area
                    .sign(application.device_key_alias.clone(), message)
                    .await?;
                let request = ApplyRequest {
                    nonce: application.nonce.clone(),
                    data: evidence.data.clone(),
                    device_key: DeviceKeyDescription {
                        public_key: application.device_key.public_key.clone(),
                        security_level: application.device_key.security_level,
                        user_authentication: application.device_key.user_authentication,
                        attestation: application
                            .device_key
                            .attestation
                            .iter()
                            .cloned()
                            .map(HexBytes)
                            .collect(),
                    },
                    signing_certificate: evidence.signing_certificate.clone(),
                    card_signature: evidence.card_signature.clone(),
                    device_signature,
                    replaces: match &application.replaces {
                        Some(record_id) => Some(Replaces {
                            record_id: record_id.clone(),
                            holder_token: self.holder_token(&vault, record_id)?.to_string(),
                        }),
                        None => None,
                    },
                };
                let body = json(&request)?;
                application.pending = Some(Zeroizing::new(body.clone()));
                body
            }
        };
        let alias = application.device_key_alias.clone();
        let public_key = application.device_key.public_key.clone();
        let kept = PendingApplication {
            device_key_alias: alias.clone(),
            replaces: application.replaces.clone(),
            device_key: public_key.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let kept = Zeroizing::new(serde_json::to_vec(&kept).unwrap_or_default());
        self.store.transaction(|tx| {
            tx.idempotency_key(&operation)?;
            tx.put_sealed(vault.as_ref(), PENDING_APPLICATION_KIND, &operation, &kept)
        })?;
        let result = self
            .send_application(
                &vault,
                &operation,
                body,
                &alias,
                &public_key,
                application.replaces.as_deref(),
            )
            .await;
        if settled(&result) {
            application.pending = None;
        }
        let issued = result?;
        self.record(&issued.record_id)
    }

    async fn send_application(
        &self,
        vault: &Arc<Vault>,
        operation: &str,
        body: Vec<u8>,
        alias: &str,
        public_key: &[u8],
        replaces: Option<&str>,
    ) -> Result<IssuedRecord, WalletError> {
        self.post(
            operation,
            &format!("{API_PREFIX}/applications"),
            body,
            None,
            |issued: &IssuedRecord| check_issued(issued, public_key),
            |tx, issued: &IssuedRecord| self.keep_issued(tx, vault, issued, alias, replaces),
        )
        .await
    }

    /// Sends again every application sent without a final answer before
    /// the app stopped (killed, or the issuer unreachable): the issuer
    /// answers a repeat with its first answer, so a record it made is kept
    /// now. Called by [`Self::begin_application`] and [`Self::refresh`].
    pub async fn resume_applications(&self) -> Result<Vec<WalletRecord>, WalletError> {
        let operations = self
            .store
            .transaction(|tx| tx.sealed_ids(PENDING_APPLICATION_KIND))?;
        if operations.is_empty() {
            return Ok(Vec::new());
        }
        let vault = self.vault().await?;
        let pending = self.store.transaction(|tx| tx.pending_operations())?;
        let mut kept = Vec::new();
        for operation in operations {
            if !pending.contains(&operation) {
                // Its key was forgotten with a final answer.
                self.store
                    .transaction(|tx| tx.remove_sealed(PENDING_APPLICATION_KIND, &operation))?;
                continue;
            }
            let Some(bytes) = self.store.transaction(|tx| {
                tx.sealed(vault.as_ref(), PENDING_APPLICATION_KIND, &operation)
            })?
            else {
                continue;
            };
            let Ok(application) = serde_json::from_slice::<PendingApplication>(&bytes) else {
                continue;
            };
            match self
                .send_application(
                    &vault,
                    &operation,
                    application.body.clone().into_bytes(),
                    &application.device_key_alias,
                    &application.device_key,
                    application.replaces.as_deref(),
                )
                .await
            {
                Ok(issued) => kept.push(self.record(&issued.record_id)?),
                // A refusal is final and was forgotten with its key; the
                // app learns it by applying again.
                Err(e) if !unanswered(&e) && !matches!(e, WalletError::Store(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(kept)
    }

    /// The record bound to the device key `alias`, if the phone kept one.
    fn record_of_key(&self, alias: &str) -> Result<WalletRecord, WalletError> {
        let id: Option<String> = self.store.transaction(|tx| {
            tx.sql()
                .query_row(
                    "SELECT record_id FROM wallet_records
                     WHERE authority = ?1 AND device_key_alias = ?2
                     ORDER BY issued_at DESC LIMIT 1",
                    [&self.authority, alias],
                    |row| row.get(0),
                )
                .optional()
                .map_err(StoreError::from)
        })?;
        match id {
            Some(id) => self.record(&id),
            None => Err(WalletError::OutOfOrder {
                step: "sending the application again",
                needs: "a new application (the issuer refused the first)",
            }),
        }
    }

    /// The records on this phone, newest first, offline: the issuer's last
    /// word and the corrected clock.
    pub fn records(&self) -> Result<Vec<WalletRecord>, WalletError> {
        let now = self.now();
        let rows = self.store.transaction(|tx| {
            let mut statement = tx.sql().prepare_cached(
                "SELECT record_id FROM wallet_records WHERE authority = ?1
                 ORDER BY issued_at DESC, record_id",
            )?;
            let ids = statement
                .query_map([&self.authority], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            ids.iter()
                .map(|id| read_record(tx, &self.authority, id, now))
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// One record, offline.
    pub fn record(&self, record_id: &str) -> Result<WalletRecord, WalletError> {
        let now = self.now();
        self.store
            .transaction(|tx| read_record(tx, &self.authority, record_id, now))?
            .ok_or_else(|| WalletError::NoSuchRecord {
                id: record_id.to_owned(),
            })
    }

    /// The record's elements (personal data: for the holder's own screen).
    /// Opens the vault; no user prompt (a presentation prompts).
    pub async fn record_elements(
        &self,
        record_id: &str,
    ) -> Result<Vec<(ElementId, ElementValue)>, WalletError> {
        Ok(self.issuer_signed(record_id).await?.elements())
    }

    async fn issuer_signed(&self, record_id: &str) -> Result<IssuerSigned, WalletError> {
        let vault = self.vault().await?;
        let bytes = self
            .store
            .transaction(|tx| tx.sealed(vault.as_ref(), RECORD_KIND, record_id))?
            .ok_or_else(|| WalletError::NoSuchRecord {
                id: record_id.to_owned(),
            })?;
        IssuerSigned::from_cbor(&bytes).map_err(|e| WalletError::BadAnswer {
            what: format!("the kept record does not parse: {e}"),
        })
    }

    /// A presentation (ISO 18013-5 `DeviceResponse`) of `elements` only
    /// (selective disclosure), the device key signing the verifier's
    /// `session_transcript` (CBOR) after the user's authentication (W10).
    /// The use is counted before the prompt (W6(3)): a use never goes
    /// uncounted, a cancelled prompt may count one too many.
    pub async fn present(
        &self,
        record_id: &str,
        elements: &[ElementId],
        session_transcript: &[u8],
    ) -> Result<Vec<u8>, WalletError> {
        let record = self.record(record_id)?;
        if record.status != RecordStatus::Valid || record.replaced_by.is_some() {
            return Err(WalletError::RecordNotUsable {
                status: record.status,
                reason: record.revocation_reason,
            });
        }
        if self.now() < record.valid_from {
            return Err(WalletError::RecordNotUsable {
                status: RecordStatus::Valid,
                reason: None,
            });
        }
        if self
            .kept_body(&format!("wallet/revoke/{record_id}"))?
            .is_some()
        {
            // The holder asked to stop it; the answer is pending.
            return Err(WalletError::RecordNotUsable {
                status: RecordStatus::Revoked,
                reason: Some(RevocationReason::HolderRequest),
            });
        }
        let alias = self.device_key_alias(record_id)?;
        match self.secure_area.key_info(alias.clone()).await {
            Ok(Some(info)) if info.user_authentication == UserAuthentication::EveryUse => {}
            Ok(Some(_)) => return Err(WalletError::UserAuthenticationNotEnforced),
            Ok(None) | Err(SecureAreaError::KeyInvalidated { .. }) => {
                return Err(WalletError::ReapplyWithCard {
                    reason: ReapplyReason::DeviceKeyInvalidated,
                });
            }
            Err(e) => return Err(e.into()),
        }
        let issuer_signed = self.issuer_signed(record_id).await?;
        let disclosed = issuer_signed.select(elements).map_err(|e| match e {
            MdocError::ElementAbsent { element } => WalletError::ElementAbsent { element },
            other => WalletError::BadAnswer {
                what: other.to_string(),
            },
        })?;
        let to_be_signed = device_authentication_to_be_signed(session_transcript, DOC_TYPE)
            .map_err(|e| WalletError::BadTranscript {
                what: e.to_string(),
            })?;
        self.store.transaction(|tx| {
            tx.sql().execute(
                "UPDATE wallet_records SET uses = uses + 1
                 WHERE authority = ?1 AND record_id = ?2",
                params![self.authority, record_id],
            )?;
            Ok::<_, StoreError>(())
        })?;
        let signature = match self.secure_area.sign(alias, to_be_signed).await {
            Ok(signature) => signature,
            Err(SecureAreaError::KeyInvalidated { .. }) => {
                return Err(WalletError::ReapplyWithCard {
                    reason: ReapplyReason::DeviceKeyInvalidated,
                });
            }
            Err(e) => return Err(e.into()),
        };
        device_response(&disclosed, &signature).map_err(|e| WalletError::BadAnswer {
            what: e.to_string(),
        })
    }

    /// Asks the issuer for the record's state and the holder's notices,
    /// and re-issues when W6 says so (validity ended, birthday, uses above
    /// the policy count, phone recovered) while the signing certificate is
    /// valid — one user prompt, no card. When it is not, says so
    /// ([`RefreshReport::reapply`]). The issuer unreachable (W12): the
    /// error, with everything kept as it was.
    pub async fn refresh(&self) -> Result<RefreshReport, WalletError> {
        self.resume_applications().await?;
        let mut reissued = None;
        let mut reapply = None;
        let current = self
            .records()?
            .into_iter()
            .find(|r| r.replaced_by.is_none());
        if let Some(record) = &current
            && self
                .kept_body(&format!("wallet/revoke/{}", record.record_id))?
                .is_some()
        {
            // The holder asked to stop this record (W7(2), (3)) and the
            // answer never came: that request goes first, and nothing is
            // re-issued in its place.
            self.revoke(&record.record_id).await?;
            return Ok(RefreshReport {
                records: self.records()?,
                reissued: None,
                reapply: None,
                notices: self.kept_notices()?,
            });
        }
        if let Some(record) = &current
            && let Some(body) = self.kept_body(&format!("wallet/reissue/{}", record.record_id))?
            && let Ok(request) = serde_json::from_slice::<ReissueRequest>(&body)
        {
            // A re-issue sent before without a final answer (the app was
            // stopped, or the issuer unreachable): the same request again,
            // before anything else, so a record the issuer made is kept.
            match self.reissue(record, request.reason).await {
                Ok(new_record_id) => {
                    reissued = Some(Reissued {
                        old_record_id: record.record_id.clone(),
                        new_record_id,
                        reason: request.reason,
                    });
                }
                // Its nonce lapsed before the issuer ever saw it (the
                // refusal is final and forgot the key): decide afresh below.
                Err(WalletError::Refused {
                    error: WalletRefusal::NonceExpired | WalletRefusal::NonceUnknown,
                    ..
                }) => {}
                Err(WalletError::ReapplyWithCard { reason }) => {
                    self.forget_body(&format!("wallet/reissue/{}", record.record_id))?;
                    reapply = Some(reason);
                }
                Err(WalletError::Refused {
                    error: WalletRefusal::CertificateExpired,
                    ..
                }) => reapply = Some(ReapplyReason::CertificateExpired),
                Err(WalletError::Refused {
                    error: WalletRefusal::CertificateRevoked,
                    ..
                }) => reapply = Some(ReapplyReason::CertificateRevoked),
                Err(e) => return Err(e),
            }
        }
        if reissued.is_none()
            && reapply.is_none()
            && let Some(record) = &current
            && record.in_force()
            && !self.device_key_usable(&record.record_id).await?
        {
            // W10, W11: the record cannot be used any more; a new
            // application with the card replaces it.
            reapply = Some(ReapplyReason::DeviceKeyInvalidated);
        }
        let current = current.filter(|_| reissued.is_none() && reapply.is_none());
        if let Some(record) = current {
            let state = self.fetch_state(&record.record_id).await?;
            let record = self.record(&record.record_id)?;
            let reason = state.reissue_due.or(record.reissue_due).filter(|_| {
                matches!(record.status, RecordStatus::Valid | RecordStatus::Expired)
                    || state.revocation_reason == Some(RevocationReason::Birthday)
                    || state.reissue_due == Some(ReissueReason::Recovered)
            });
            match (state.signing_certificate, reason) {
                (CertificateStatus::Expired, Some(_)) => {
                    reapply = Some(ReapplyReason::CertificateExpired);
                }
                (CertificateStatus::Revoked, _) => {
                    reapply = Some(ReapplyReason::CertificateRevoked);
                }
                (CertificateStatus::Valid, Some(reason)) => {
                    match self.reissue(&record, reason).await {
                        Ok(new_record_id) => {
                            reissued = Some(Reissued {
                                old_record_id: record.record_id.clone(),
                                new_record_id,
                                reason,
                            });
                        }
                        Err(WalletError::ReapplyWithCard { reason }) => reapply = Some(reason),
                        Err(WalletError::Refused {
                            error: WalletRefusal::CertificateExpired,
                            ..
                        }) => reapply = Some(ReapplyReason::CertificateExpired),
                        Err(WalletError::Refused {
                            error: WalletRefusal::CertificateRevoked,
                            ..
                        }) => reapply = Some(ReapplyReason::CertificateRevoked),
                        Err(e) => return Err(e),
                    }
                }
                (_, None) if state.status == RecordStatus::Revoked => {
                    reapply = Some(ReapplyReason::RecordRevoked);
                }
                (_, None) => {}
            }
        }
        let notices = match self.holder_token_of_latest().await? {
            Some(token) => self.fetch_notices(&token).await?,
            None => Vec::new(),
        };
        Ok(RefreshReport {
            records: self.records()?,
            reissued,
            reapply,
            notices,
        })
    }

    async fn reissue(
        &self,
        record: &WalletRecord,
        reason: ReissueReason,
    ) -> Result<String, WalletError> {
        let vault = self.vault().await?;
        let token = self.holder_token(&vault, &record.record_id)?;
        let alias = self.device_key_alias(&record.record_id)?;
        let public_key = match self.secure_area.key_info(alias.clone()).await {
            Ok(Some(info)) => info.public_key,
            Ok(None) | Err(SecureAreaError::KeyInvalidated { .. }) => {
                return Err(WalletError::ReapplyWithCard {
                    reason: ReapplyReason::DeviceKeyInvalidated,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let operation = format!("wallet/reissue/{}", record.record_id);
        let body = match self.kept_body(&operation)? {
            Some(body) => body,
            None => {
                let nonce = self.nonce().await?;
                let message = reissue_message(&nonce, &record.record_id, reason, record.uses);
                let device_signature = self.sign_with_device_key(&alias, message).await?;
                let body = json(&ReissueRequest {
                    nonce,
                    reason,
                    uses: record.uses,
                    device_signature,
                })?;
                self.keep_body(&operation, &body)?;
                body
            }
        };
        let old = record.record_id.clone();
        let issued = self
            .post(
                &operation,
                &format!("{API_PREFIX}/records/{}/reissues", record_path_id(&old)?),
                body,
                Some(&token),
                |issued: &IssuedRecord| check_issued(issued, &public_key),
                |tx, issued: &IssuedRecord| {
                    self.keep_issued(tx, &vault, issued, &alias, Some(&old))
                },
            )
            .await?;
        Ok(issued.record_id)
    }

    /// Stops the record for good (W7(2), (3): before the phone is given up,
    /// or to stop using it), from the phone only: the device key signs (one
    /// prompt). The sealed record is deleted once the issuer confirms.
    pub async fn revoke(&self, record_id: &str) -> Result<WalletRecord, WalletError> {
        match self.revoke_once(record_id).await {
            // A kept request whose nonce lapsed before the issuer saw it
            // (the refusal is final and forgot it): once more, afresh.
            Err(WalletError::Refused {
                error: WalletRefusal::NonceExpired | WalletRefusal::NonceUnknown,
                ..
            }) => self.revoke_once(record_id).await,
            other => other,
        }
    }

    async fn revoke_once(&self, record_id: &str) -> Result<WalletRecord, WalletError> {
        let record = self.record(record_id)?;
        let vault = self.vault().await?;
        let token = self.holder_token(&vault, record_id)?;
        let alias = self.device_key_alias(record_id)?;
        let operation = format!("wallet/revoke/{record_id}");
        let body = match self.kept_body(&operation)? {
            Some(body) => body,
            None => {
                let nonce = self.nonce().await?;
                let message = revoke_message(&nonce, &record.record_id);
                let device_signature = self.sign_with_device_key(&alias, message).await?;
                let body = json(&RevokeRequest {
                    nonce,
                    device_signature,
                })?;
                self.keep_body(&operation, &body)?;
                body
            }
        };
        self.post(
            &operation,
            &format!(
                "{API_PREFIX}/records/{}/revocations",
                record_path_id(record_id)?
            ),
            body,
            Some(&token),
            |_: &RecordState| Ok(()),
            |tx, state: &RecordState| {
                self.keep_state(tx, state)?;
                tx.remove_sealed(RECORD_KIND, record_id)?;
                Ok(())
            },
        )
        .await?;
        self.record(record_id)
    }

    /// The holder's notices and the public ones, fetched now (kept for
    /// offline reading).
    pub async fn notices(&self) -> Result<Notices, WalletError> {
        let holder = match self.holder_token_of_latest().await? {
            Some(token) => self.fetch_notices(&token).await?,
            None => Vec::new(),
        };
        let public: PublicNoticeList = self
            .exchange(AuthorityRequest::get(format!(
                "{API_PREFIX}/public-notices"
            )))
            .await?;
        Ok(Notices {
            holder,
            public: public.notices,
        })
    }

    /// The notices kept from the last fetch, offline.
    pub fn kept_notices(&self) -> Result<Vec<Notice>, WalletError> {
        let bodies: Vec<String> = self.store.transaction(|tx| {
            let mut statement = tx
                .sql()
                .prepare_cached("SELECT body FROM wallet_notices WHERE authority = ?1")?;
            let rows = statement
                .query_map([&self.authority], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok::<_, StoreError>(rows)
        })?;
        let mut notices: Vec<Notice> = bodies
            .iter()
            .filter_map(|b| serde_json::from_str(b).ok())
            .collect();
        notices.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        Ok(notices)
    }

    /// The status list token at `uri` (one of this issuer's), fetched or
    /// reused from the store within the shorter of `ttl` and the token's
    /// own `ttl` claim (the caller verifies it: see
    /// `wallet::verifier`). `None`: neither fetched nor kept — the status
    /// is then undetermined, never "revoked".
    pub async fn status_list(
        &self,
        uri: &str,
        ttl: chrono::Duration,
    ) -> Result<Option<Vec<u8>>, WalletError> {
        let now = self.now();
        let kept: Option<(Vec<u8>, i64)> = self.store.transaction(|tx| {
            Ok::<_, StoreError>(
                tx.sql()
                    .query_row(
                        "SELECT token, fetched_at FROM wallet_status_lists WHERE uri = ?1",
                        [uri],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?,
            )
        })?;
        if let Some((token, fetched_at)) = &kept
            && let Some(fetched) = DateTime::from_timestamp_millis(*fetched_at)
            && now >= fetched
            && now - fetched < claimed_ttl(token).map_or(ttl, |own| own.min(ttl))
        {
            return Ok(Some(token.clone()));
        }
        let Some(path) = path_of(uri) else {
            return Ok(kept.map(|(token, _)| token));
        };
        match self.link.send(AuthorityRequest::get(path)).await {
            Ok(response) if response.status == 200 => {
                self.observe_date(&response)?;
                let fetched_at = self.now().timestamp_millis();
                self.store.transaction(|tx| {
                    tx.sql().execute(
                        "INSERT INTO wallet_status_lists (uri, token, fetched_at)
                         VALUES (?1, ?2, ?3)
                         ON CONFLICT (uri) DO UPDATE SET token = excluded.token,
                                                         fetched_at = excluded.fetched_at",
                        params![uri, response.body, fetched_at],
                    )?;
                    Ok::<_, StoreError>(())
                })?;
                Ok(Some(response.body))
            }
            // Unreachable or refusing: the kept one (its `exp` tells the
            // verifier whether it still counts), or nothing.
            _ => Ok(kept.map(|(token, _)| token)),
        }
    }

    async fn fetch_state(&self, record_id: &str) -> Result<RecordState, WalletError> {
        let vault = self.vault().await?;
        let token = self.holder_token(&vault, record_id)?;
        let state: RecordState = self
            .exchange(
                AuthorityRequest::get(format!(
                    "{API_PREFIX}/records/{}",
                    record_path_id(record_id)?
                ))
                .header("Authorization", format!("Bearer {}", token.as_str())),
            )
            .await?;
        if state.record_id != record_id {
            return Err(WalletError::BadAnswer {
                what: "the state of another record".to_owned(),
            });
        }
        self.store.transaction(|tx| self.keep_state(tx, &state))?;
        Ok(state)
    }

    async fn fetch_notices(&self, token: &str) -> Result<Vec<Notice>, WalletError> {
        let list: NoticeList = self
            .exchange(
                AuthorityRequest::get(format!("{API_PREFIX}/notices"))
                    .header("Authorization", format!("Bearer {token}")),
            )
            .await?;
        self.store.transaction(|tx| {
            for notice in &list.notices {
                let body = serde_json::to_string(notice).unwrap_or_default();
                tx.sql().execute(
                    "INSERT INTO wallet_notices (authority, id, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (authority, id) DO UPDATE SET body = excluded.body",
                    params![self.authority, notice.id, body],
                )?;
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(list.notices)
    }

    async fn holder_token_of_latest(&self) -> Result<Option<Zeroizing<String>>, WalletError> {
        let Some(latest) = self.records()?.into_iter().next() else {
            return Ok(None);
        };
        let vault = self.vault().await?;
        Ok(Some(self.holder_token(&vault, &latest.record_id)?))
    }

    fn holder_token(
        &self,
        vault: &Vault,
        record_id: &str,
    ) -> Result<Zeroizing<String>, WalletError> {
        let bytes = self
            .store
            .transaction(|tx| tx.sealed(vault, TOKEN_KIND, record_id))?
            .ok_or_else(|| WalletError::NoSuchRecord {
                id: record_id.to_owned(),
            })?;
        Ok(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn device_key_alias(&self, record_id: &str) -> Result<String, WalletError> {
        self.store
            .transaction(|tx| {
                tx.sql()
                    .query_row(
                        "SELECT device_key_alias FROM wallet_records
                         WHERE authority = ?1 AND record_id = ?2",
                        [&self.authority, record_id],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(StoreError::from)
            })?
            .ok_or_else(|| WalletError::NoSuchRecord {
                id: record_id.to_owned(),
            })
    }

    /// Whether the record's device key is still there and usable (not
    /// invalidated by the platform).
    async fn device_key_usable(&self, record_id: &str) -> Result<bool, WalletError> {
        let alias = self.device_key_alias(record_id)?;
        match self.secure_area.key_info(alias).await {
            Ok(Some(_)) => Ok(true),
            Ok(None) | Err(SecureAreaError::KeyInvalidated { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn sign_with_device_key(
        &self,
        alias: &str,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, WalletError> {
        match self.secure_area.sign(alias.to_owned(), message).await {
            Ok(signature) => Ok(signature),
            Err(SecureAreaError::KeyInvalidated { .. } | SecureAreaError::KeyNotFound { .. }) => {
                Err(WalletError::ReapplyWithCard {
                    reason: ReapplyReason::DeviceKeyInvalidated,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A fresh nonce. Minting one changes nothing worth repeating, so each
    /// request has a key of its own, never kept.
    async fn nonce(&self) -> Result<String, WalletError> {
        let key = IdempotencyKey::generate().map_err(|e| {
            WalletError::SecureArea(SecureAreaError::Unavailable {
                reason: e.to_string(),
            })
        })?;
        let nonce: NonceResponse = self
            .exchange(AuthorityRequest::post(
                format!("{API_PREFIX}/nonces"),
                Vec::new(),
                &key,
            ))
            .await?;
        Ok(nonce.nonce)
    }

    /// A request body kept for `operation` (no personal data: re-issue and
    /// revocation bodies carry a nonce, ids and signatures), so a retry
    /// after a restart sends the same bytes under the same key.
    fn kept_body(&self, operation: &str) -> Result<Option<Vec<u8>>, WalletError> {
        let pending = self.store.transaction(|tx| tx.pending_operations())?;
        if !pending.iter().any(|p| p == operation) {
            // A body without its key is from an operation that finished.
            self.store
                .transaction(|tx| tx.remove_setting(&body_setting(operation)))?;
            return Ok(None);
        }
        let text = self
            .store
            .transaction(|tx| tx.setting(&body_setting(operation)))?;
        Ok(text.map(String::into_bytes))
    }

    /// Forgets an operation that cannot go on (its key and kept body).
    fn forget_body(&self, operation: &str) -> Result<(), WalletError> {
        self.store.transaction(|tx| {
            tx.finish_operation(operation)?;
            tx.remove_setting(&body_setting(operation))?;
            Ok::<_, StoreError>(())
        })?;
        Ok(())
    }

    fn keep_body(&self, operation: &str, body: &[u8]) -> Result<(), WalletError> {
        let text = String::from_utf8_lossy(body).into_owned();
        self.store.transaction(|tx| {
            tx.idempotency_key(operation)?;
            tx.set_setting(&body_setting(operation), &text)
        })?;
        Ok(())
    }

    fn keep_issued(
        &self,
        tx: &StoreTx<'_>,
        vault: &Vault,
        issued: &IssuedRecord,
        device_key_alias: &str,
        replaces: Option<&str>,
    ) -> Result<(), StoreError> {
        let issued_at = self.now().timestamp_millis();
        tx.sql().execute(
            "INSERT INTO wallet_records (record_id, authority, device_key_alias, issued_at,
                 valid_from, valid_until, status_uri, status_idx,
                 signing_certificate_not_after, uses, state, reason, replaced_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 'valid', NULL, NULL)
             ON CONFLICT (record_id) DO NOTHING",
            params![
                issued.record_id,
                self.authority,
                device_key_alias,
                issued_at,
                issued.valid_from.timestamp_millis(),
                issued.valid_until.timestamp_millis(),
                issued.status.uri,
                i64::try_from(issued.status.idx).unwrap_or(i64::MAX),
                issued.signing_certificate_not_after.timestamp_millis(),
            ],
        )?;
        tx.put_sealed(vault, RECORD_KIND, &issued.record_id, &issued.issuer_signed)?;
        tx.put_sealed(
            vault,
            TOKEN_KIND,
            &issued.record_id,
            issued.holder_token.as_bytes(),
        )?;
        if let Some(old) = replaces {
            let reason = match issued.reissue_reason {
                Some(ReissueReason::Birthday) => RevocationReason::Birthday,
                _ => RevocationReason::Superseded,
            };
            tx.sql().execute(
                "UPDATE wallet_records SET state = 'revoked', reason = ?3, replaced_by = ?4
                 WHERE authority = ?1 AND record_id = ?2",
                params![self.authority, old, reason_text(reason), issued.record_id],
            )?;
            // The old record's personal data is no longer needed.
            tx.remove_sealed(RECORD_KIND, old)?;
        }
        Ok(())
    }

    fn keep_state(&self, tx: &StoreTx<'_>, state: &RecordState) -> Result<(), StoreError> {
        tx.sql().execute(
            "UPDATE wallet_records SET state = ?3, reason = ?4,
                 replaced_by = COALESCE(?5, replaced_by)
             WHERE authority = ?1 AND record_id = ?2",
            params![
                self.authority,
                state.record_id,
                status_text(state.status),
                state.revocation_reason.map(reason_text),
                state.replaced_by,
            ],
        )?;
        Ok(())
    }

    /// A state-changing request: its idempotency key is committed before it
    /// is sent and forgotten, with `keep`'s writes, once a final answer
    /// arrives. `check` runs on a success before anything is kept.
    #[allow(clippy::too_many_arguments)]
    async fn post<T: DeserializeOwned>(
        &self,
        operation: &str,
        path: &str,
        body: Vec<u8>,
        bearer: Option<&str>,
        check: impl FnOnce(&T) -> Result<(), WalletError>,
        keep: impl FnOnce(&StoreTx<'_>, &T) -> Result<(), StoreError>,
    ) -> Result<T, WalletError> {
        let key = self.store.transaction(|tx| tx.idempotency_key(operation))?;
        let mut request =
            AuthorityRequest::post(path, body, &key).header("Content-Type", "application/json");
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let result = match self.exchange::<T>(request).await {
            // The issuer acted but its answer cannot be right for us: the
            // key and the body stay, so the holder can still reach what it
            // made (a retry gets the same answer; support can look it up
            // by the key), instead of the phone forgetting a live record.
            Ok(value) => match check(&value) {
                Ok(()) => Ok(value),
                Err(e) => return Err(e),
            },
            Err(e) => Err(e),
        };
        let body_setting = body_setting(operation);
        match &result {
            Ok(value) => self.store.transaction(|tx| {
                keep(tx, value)?;
                tx.finish_operation(operation)?;
                tx.remove_setting(&body_setting)?;
                tx.remove_sealed(PENDING_APPLICATION_KIND, operation)?;
                Ok::<_, StoreError>(())
            })?,
            Err(e) if !unanswered(e) => {
                self.store.transaction(|tx| {
                    tx.finish_operation(operation)?;
                    tx.remove_setting(&body_setting)?;
                    tx.remove_sealed(PENDING_APPLICATION_KIND, operation)?;
                    Ok::<_, StoreError>(())
                })?;
            }
            Err(_) => {}
        }
        result
    }

    /// Sends `request` and sorts the answer: the body of a 2xx, or a typed
    /// error. Every answer's `Date` corrects the clock.
    async fn exchange<T: DeserializeOwned>(
        &self,
        request: AuthorityRequest,
    ) -> Result<T, WalletError> {
        let response = self
            .link
            .send(request)
            .await
            .map_err(|e| WalletError::Authority(e.into()))?;
        self.observe_date(&response)?;
        match read_json_answer::<T, WalletErrorBody>(response, self.now()) {
            Ok(value) => Ok(value),
            Err(JsonAnswerError::Authority(e)) => Err(WalletError::Authority(e)),
            Err(JsonAnswerError::Garbled { status, what }) => Err(WalletError::AnswerGarbled {
                what: format!("status {status}: {what}"),
            }),
            Err(JsonAnswerError::Refused { status, body }) => {
                let error = serde_json::from_value::<WalletRefusal>(serde_json::Value::String(
                    body.error.clone(),
                ))
                .unwrap_or(WalletRefusal::Unknown);
                match (error, body.record_id) {
                    (WalletRefusal::RecordInForce, Some(record_id)) => {
                        Err(WalletError::RecordInForce { record_id })
                    }
                    (error, _) => Err(WalletError::Refused { error, status }),
                }
            }
        }
    }

    fn observe_date(&self, response: &AuthorityResponse) -> Result<(), WalletError> {
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

/// A record from the issuer is ours only if it parses, is the My Number
/// card document, and is bound to the key we made.
fn check_issued(issued: &IssuedRecord, device_key: &[u8]) -> Result<(), WalletError> {
    if !is_record_id(&issued.record_id) {
        return Err(WalletError::BadAnswer {
            what: "a record id that is not 32 hex digits".to_owned(),
        });
    }
    let parsed =
        IssuerSigned::from_cbor(&issued.issuer_signed).map_err(|e| WalletError::AnswerGarbled {
            what: format!("the record does not parse: {e}"),
        })?;
    let mso = parsed.mso();
    if mso.doc_type != DOC_TYPE {
        return Err(WalletError::BadAnswer {
            what: format!("a record of document type {}", mso.doc_type),
        });
    }
    if mso.device_key != device_key {
        return Err(WalletError::BadAnswer {
            what: "a record bound to another device key".to_owned(),
        });
    }
    if mso.valid_until != issued.valid_until || mso.valid_from != issued.valid_from {
        return Err(WalletError::BadAnswer {
            what: "the record's validity differs from the answer's".to_owned(),
        });
    }
    Ok(())
}

fn read_record(
    tx: &StoreTx<'_>,
    authority: &str,
    record_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<WalletRecord>, StoreError> {
    type Row = (
        i64,
        i64,
        i64,
        String,
        i64,
        i64,
        i64,
        String,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = tx
        .sql()
        .query_row(
            "SELECT issued_at, valid_from, valid_until, status_uri, status_idx,
                    signing_certificate_not_after, uses, state, reason, replaced_by
             FROM wallet_records WHERE authority = ?1 AND record_id = ?2",
            [authority, record_id],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                    row.get(8)?,
                    row.get(9)?,
                ))
            },
        )
        .optional()?;
    let Some((issued, from, until, uri, idx, not_after, uses, state, reason, replaced_by)) = row
    else {
        return Ok(None);
    };
    let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let valid_until = at(until);
    let uses = u64::try_from(uses).unwrap_or(0);
    let mut status = parse_status(&state);
    // Expiry wins over status (draft-ietf-oauth-status-list §: an expired
    // token is expired whatever its list says).
    if status == RecordStatus::Valid && now >= valid_until {
        status = RecordStatus::Expired;
    }
    let reissue_due = if replaced_by.is_some() {
        None
    } else if status == RecordStatus::Expired {
        Some(ReissueReason::ValidityEnded)
    } else if status == RecordStatus::Valid && uses > MAX_USES_BEFORE_REISSUE {
        Some(ReissueReason::UsageCount)
    } else {
        None
    };
    Ok(Some(WalletRecord {
        record_id: record_id.to_owned(),
        issued_at: at(issued),
        valid_from: at(from),
        valid_until,
        status,
        revocation_reason: reason.as_deref().and_then(parse_reason),
        replaced_by,
        uses,
        reissue_due,
        signing_certificate_not_after: at(not_after),
        status_uri: uri,
        status_idx: u64::try_from(idx).unwrap_or(0),
    }))
}

fn status_text(status: RecordStatus) -> &'static str {
    match status {
        RecordStatus::Valid => "valid",
        RecordStatus::Suspended => "suspended",
        RecordStatus::Revoked => "revoked",
        RecordStatus::Expired => "expired",
    }
}

fn parse_status(text: &str) -> RecordStatus {
    match text {
        "suspended" => RecordStatus::Suspended,
        "revoked" => RecordStatus::Revoked,
        "expired" => RecordStatus::Expired,
        _ => RecordStatus::Valid,
    }
}

fn reason_text(reason: RevocationReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn parse_reason(text: &str) -> Option<RevocationReason> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

fn body_setting(operation: &str) -> String {
    format!("wallet.pending_body.{operation}")
}

/// `id` if it is a record id (it goes into a request path).
fn record_path_id(id: &str) -> Result<&str, WalletError> {
    if is_record_id(id) {
        Ok(id)
    } else {
        Err(WalletError::NoSuchRecord { id: id.to_owned() })
    }
}

/// The path of an absolute `http(s)://host/path` URI.
fn path_of(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let slash = rest.find('/')?;
    rest.get(slash..).map(str::to_owned)
}

/// Whether a request was left without the issuer's final answer.
fn unanswered(error: &WalletError) -> bool {
    match error {
        WalletError::Authority(e) => e.is_retryable(),
        WalletError::AnswerGarbled { .. } => true,
        _ => false,
    }
}

/// Whether a result is final (the kept body can go).
fn settled<T>(result: &Result<T, WalletError>) -> bool {
    match result {
        Ok(_) => true,
        Err(WalletError::Store(_) | WalletError::BadAnswer { .. }) => false,
        Err(e) => !unanswered(e),
    }
}

fn json(value: &impl Serialize) -> Result<Vec<u8>, WalletError> {
    serde_json::to_vec(value).map_err(|e| WalletError::BadAnswer {
        what: format!("a request that does not serialize: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_list_paths_come_from_absolute_uris_only() {
        assert_eq!(
            path_of("http://127.0.0.1:8080/v1/wallet/status-lists/1").as_deref(),
            Some("/v1/wallet/status-lists/1")
        );
        assert_eq!(path_of("/v1/wallet/status-lists/1"), None);
        assert_eq!(path_of("ftp://x/y"), None);
    }

    #[test]
    fn stored_states_and_reasons_read_back() {
        for status in [
            RecordStatus::Valid,
            RecordStatus::Suspended,
            RecordStatus::Revoked,
            RecordStatus::Expired,
        ] {
            assert_eq!(parse_status(status_text(status)), status);
        }
        assert_eq!(
            parse_reason(&reason_text(RevocationReason::Birthday)),
            Some(RevocationReason::Birthday)
        );
    }
}
