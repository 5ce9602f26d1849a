//! The reference J-LIS issuer of the card-substitute record (issue 9): the
//! card registry, nonces, issuance, re-issue, revocation and suspension,
//! the status list, notices, over its own SQLite store and a clock that
//! tests and demos move. The HTTP form is `docs/wallet-protocol.md`.
//!
//! Every state-changing operation takes the request's idempotency key: a
//! retry with the same key and the same request gets the first answer back
//! (errors included) and changes nothing; the same key with another request
//! is refused. Only internal failures are not remembered.
//!
//! **What the store keeps** (a stand-in for J-LIS's systems, never to be
//! trusted outside tests): per application, the signing certificate, the
//! device public key, the application data as the card signed it (name,
//! address, birth date, sex, My Number, photo: needed to re-issue without
//! the card, W6), the person as an HMAC of the My Number (never the number
//! as a key or in a log), a SHA-256 of the holder token (never the token);
//! per record, its status-list index, validity, state and reason, the uses
//! the phone reported. The issued records themselves are kept only in the
//! idempotency answers (their holder token sealed by a pad only the retry
//! can rebuild).

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use mynakit_core::wallet::mdoc;
use mynakit_core::wallet::policy::validity_of_record_issued_at;
use mynakit_core::wallet::status_list::{self, Status, StatusList, StatusListToken};
use mynakit_core::wallet::wire::{
    ApplicationData, ApplyRequest, CertificateStatus, IssuedRecord, NonceResponse, Notice,
    NoticeKind, NoticeList, PublicNotice, PublicNoticeList, RecordState, RecordStatus,
    ReissueReason, ReissueRequest, RevocationReason, RevokeRequest, StatusReference, apply_message,
    new_record_id, reissue_message, revoke_message,
};
use mynakit_core::{Clock, IdempotencyKey, TrustAnchors, UserAuthentication, japan_date};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::WalletError;
use super::policy::{IssuerPolicy, STATUS_BITS, STATUS_LIST_NUMBER};
use super::registry;
use crate::iaca::IssuerKeys;
use crate::reset::token::es256_verify;
use crate::reset::wire::{from_hex, to_hex};

/// The public base URL a sandbox issuer uses when none is given.
pub const DEFAULT_BASE_URL: &str = "https://issuer.sandbox.mynakit.invalid";

const SCHEMA: &str = "
CREATE TABLE settings(name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
CREATE TABLE nonces(nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL,
  used INTEGER NOT NULL) STRICT;
CREATE TABLE revoked_certificates(serial TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL) STRICT;
CREATE TABLE applications(
  id TEXT PRIMARY KEY, person TEXT NOT NULL, certificate BLOB NOT NULL,
  serial TEXT NOT NULL, certificate_not_after INTEGER NOT NULL, device_key BLOB NOT NULL,
  data BLOB NOT NULL, birth_date TEXT, token_hash BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL, lost INTEGER NOT NULL, recovered INTEGER NOT NULL,
  ended TEXT) STRICT;
CREATE INDEX applications_by_person ON applications(person);
CREATE INDEX applications_by_serial ON applications(serial);
CREATE TABLE records(
  id TEXT PRIMARY KEY, application TEXT NOT NULL REFERENCES applications(id),
  idx INTEGER NOT NULL UNIQUE, issued_at INTEGER NOT NULL, valid_until INTEGER NOT NULL,
  birthday_at INTEGER,
  state TEXT NOT NULL CHECK (state IN ('valid', 'suspended', 'revoked')),
  reason TEXT, revoked_at INTEGER, replaced_by TEXT, reissue_reason TEXT,
  uses INTEGER NOT NULL) STRICT;
CREATE INDEX records_by_application ON records(application);
CREATE TABLE notices(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
  application TEXT NOT NULL REFERENCES applications(id), record TEXT NOT NULL,
  kind TEXT NOT NULL, at INTEGER NOT NULL) STRICT;
CREATE TABLE public_notices(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
  reason TEXT NOT NULL, records INTEGER NOT NULL, text TEXT NOT NULL, at INTEGER NOT NULL) STRICT;
CREATE TABLE idempotency(key TEXT PRIMARY KEY, operation TEXT NOT NULL,
  request BLOB NOT NULL, answer TEXT NOT NULL) STRICT;
";

fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], WalletError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(WalletError::internal)?;
    Ok(bytes)
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// An enum's snake_case name, as the store keeps it.
fn name_of<T: Serialize>(value: &T) -> Result<String, WalletError> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| WalletError::internal("enum name"))
}

fn from_name<T: DeserializeOwned>(name: &str) -> Result<T, WalletError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| WalletError::internal("stored enum"))
}

/// What the holder's bearer token is stored as.
fn token_hash(token: &str) -> Vec<u8> {
    sha256(&[b"mynakit wallet holder token v1\0", token.as_bytes()]).to_vec()
}

/// An answer remembered under an idempotency key. An issued record's
/// holder token is sealed with a pad derived from what only the retry
/// brings (the request itself, or the bearer token), so the store never
/// holds the token.
trait Remember: Serialize + DeserializeOwned {
    fn seal(&mut self, _pad: &[u8; 32]) {}
}

impl Remember for IssuedRecord {
    fn seal(&mut self, pad: &[u8; 32]) {
        if let Some(bytes) = from_hex(&self.holder_token) {
            let sealed: Vec<u8> = bytes
                .iter()
                .zip(pad.iter().cycle())
                .map(|(b, p)| b ^ p)
                .collect();
            self.holder_token = to_hex(&sealed);
        }
    }
}
impl Remember for RecordState {}
impl Remember for NonceResponse {}
impl Remember for PublicNotice {}
impl Remember for CertificateRevocation {}

#[derive(Serialize, Deserialize)]
enum Remembered<T> {
    Ok(T),
    Err(WalletError),
}

/// The answer to the admin's certificate revocation (W8(1)(1)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRevocation {
    /// The serial put on the revocation list, lowercase hex.
    pub serial: String,
    /// How many records it revoked.
    pub records_revoked: u64,
}

/// A record as the sandbox's admin lists it: no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRecord {
    /// The record.
    pub record_id: String,
    /// Its state now.
    pub status: RecordStatus,
    /// Why it was revoked.
    pub revocation_reason: Option<RevocationReason>,
    /// What replaced it.
    pub replaced_by: Option<String>,
    /// Its index in status list 1.
    pub idx: u64,
    /// Validity.
    pub valid_from: DateTime<Utc>,
    /// End of validity (W5).
    pub valid_until: DateTime<Utc>,
    /// The serial of the signing certificate it was applied with.
    pub certificate_serial: String,
}

/// A record's state in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Valid,
    Suspended,
    Revoked,
}

impl State {
    fn parse(text: &str) -> Result<Self, WalletError> {
        match text {
            "valid" => Ok(Self::Valid),
            "suspended" => Ok(Self::Suspended),
            "revoked" => Ok(Self::Revoked),
            _ => Err(WalletError::internal("stored state")),
        }
    }

    /// Its entry in the status list. A record past its validity stays
    /// VALID there: the verifier checks `validUntil` itself.
    fn status(self) -> Status {
        match self {
            Self::Valid => Status::Valid,
            Self::Suspended => Status::Suspended,
            Self::Revoked => Status::Invalid,
        }
    }
}

#[derive(Debug, Clone)]
struct RecordRow {
    id: String,
    application: String,
    idx: u64,
    issued_at: DateTime<Utc>,
    valid_until: DateTime<Utc>,
    state: State,
    reason: Option<RevocationReason>,
    replaced_by: Option<String>,
}

const RECORD_COLUMNS: &str =
    "id, application, idx, issued_at, valid_until, state, reason, replaced_by";

fn record_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

type RawRecord = (
    String,
    String,
    i64,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
);

fn parse_record(raw: RawRecord) -> Result<RecordRow, WalletError> {
    let (id, application, idx, issued_at, valid_until, state, reason, replaced_by) = raw;
    Ok(RecordRow {
        id,
        application,
        idx: u64::try_from(idx).map_err(WalletError::internal)?,
        issued_at: time(issued_at),
        valid_until: time(valid_until),
        state: State::parse(&state)?,
        reason: reason.as_deref().map(from_name).transpose()?,
        replaced_by,
    })
}

/// An application (a chain of records with one device key and one holder
/// token).
#[derive(Debug, Clone)]
struct ApplicationRow {
    id: String,
    serial: String,
    certificate_not_after: DateTime<Utc>,
    device_key: Vec<u8>,
    birth_date: Option<NaiveDate>,
    lost: bool,
    recovered: bool,
    ended: Option<RevocationReason>,
}

const APPLICATION_COLUMNS: &str =
    "id, serial, certificate_not_after, device_key, birth_date, lost, recovered, ended";

type RawApplication = (
    String,
    String,
    i64,
    Vec<u8>,
    Option<String>,
    bool,
    bool,
    Option<String>,
);

fn application_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawApplication> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn parse_application(raw: RawApplication) -> Result<ApplicationRow, WalletError> {
    let (id, serial, not_after, device_key, birth_date, lost, recovered, ended) = raw;
    Ok(ApplicationRow {
        id,
        serial,
        certificate_not_after: time(not_after),
        device_key,
        birth_date: birth_date
            .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
            .transpose()
            .map_err(|_| WalletError::internal("stored birth date"))?,
        lost,
        recovered,
        ended: ended.as_deref().map(from_name).transpose()?,
    })
}

/// The signed status list last published, kept until a status changes or
/// its ttl passes.
struct PublishedList {
    version: i64,
    issued_at: DateTime<Utc>,
    token: Vec<u8>,
}

/// The reference issuer.
pub struct WalletIssuer {
    db: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    policy: IssuerPolicy,
    anchors: TrustAnchors,
    base_url: String,
    person_secret: Zeroizing<Vec<u8>>,
    keys: Mutex<IssuerKeys>,
    published: Mutex<Option<PublishedList>>,
    maintenance_until: Mutex<Option<DateTime<Utc>>>,
}

impl fmt::Debug for WalletIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletIssuer")
            .field("base_url", &self.base_url)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl WalletIssuer {
    /// An issuer with its store in memory, publishing under `base_url`
    /// (the address verifiers and phones reach it at, no trailing slash):
    /// the sandbox's JPKI signing root as its registry's anchor, fresh
    /// issuer keys, the default policy.
    pub fn in_memory(clock: Arc<dyn Clock>, base_url: &str) -> Result<Self, WalletError> {
        Self::with_connection(Connection::open_in_memory()?, clock, base_url)
    }

    /// The same with its store in the file at `path` (created if need be);
    /// its keys and person secret are kept there, so records and status
    /// lists survive a restart.
    pub fn open(path: &Path, clock: Arc<dyn Clock>, base_url: &str) -> Result<Self, WalletError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        Self::with_connection(connection, clock, base_url)
    }

    fn with_connection(
        mut connection: Connection,
        clock: Arc<dyn Clock>,
        base_url: &str,
    ) -> Result<Self, WalletError> {
        connection.pragma_update(None, "foreign_keys", true)?;
        let now = clock.now();
        let tx = connection.transaction()?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version == 0 {
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", 1)?;
        }
        let person_secret = match setting(&tx, "person_secret")? {
            Some(secret) => secret,
            None => {
                let secret = random_bytes::<32>()?.to_vec();
                set_setting(&tx, "person_secret", &secret)?;
                secret
            }
        };
        let keys = match setting(&tx, "issuer_keys")?
            .and_then(|stored| IssuerKeys::from_persisted(&stored).ok())
        {
            Some(keys) => keys,
            None => {
                let keys = IssuerKeys::generate(now).map_err(WalletError::internal)?;
                set_setting(&tx, "issuer_keys", &keys.to_persisted())?;
                keys
            }
        };
        tx.commit()?;
        Ok(Self {
            db: Mutex::new(connection),
            clock,
            policy: IssuerPolicy::default(),
            anchors: registry::signing_anchors(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            person_secret: Zeroizing::new(person_secret),
            keys: Mutex::new(keys),
            published: Mutex::new(None),
            maintenance_until: Mutex::new(None),
        })
    }

    /// Replaces the policy values.
    pub fn with_policy(mut self, policy: IssuerPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> &IssuerPolicy {
        &self.policy
    }

    /// The issuer's clock (its time decides validity, birthdays, nonces).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The public base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URI of the status list every record points to (its `sub`).
    pub fn status_list_uri(&self) -> String {
        format!(
            "{}/v1/wallet/status-lists/{STATUS_LIST_NUMBER}",
            self.base_url
        )
    }

    /// The IACA root certificate (DER): what verifiers pin.
    pub fn iaca_der(&self) -> Vec<u8> {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iaca_der()
            .to_vec()
    }

    /// **Sandbox control** (W12): every API route answers `503` with
    /// `Retry-After` for `length` from now, by the issuer's clock; a zero
    /// length ends a window. Returns the window's end.
    pub fn begin_maintenance(&self, length: TimeDelta) -> DateTime<Utc> {
        let until = self
            .clock
            .now()
            .checked_add_signed(length.max(TimeDelta::zero()))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        *self
            .maintenance_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(until);
        until
    }

    /// The end of the maintenance window in force now, if one is.
    pub fn maintenance_until(&self) -> Option<DateTime<Utc>> {
        let until = *self
            .maintenance_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.filter(|until| self.clock.now() < *until)
    }

    fn now(&self) -> DateTime<Utc> {
        // Whole seconds: the store keeps seconds.
        time(self.clock.now().timestamp())
    }

    /// Runs `run` in one transaction under the idempotency key, after the
    /// birthday sweep (W8(1)(3)). `pad_input` is what only the request's
    /// sender has (see [`Remember`]).
    fn idempotent<Q: Serialize, A: Remember>(
        &self,
        key: &IdempotencyKey,
        operation: &str,
        request: &Q,
        pad_input: &[u8],
        run: impl FnOnce(&Transaction<'_>, DateTime<Utc>) -> Result<A, WalletError>,
    ) -> Result<A, WalletError> {
        let request_json =
            Zeroizing::new(serde_json::to_vec(request).map_err(WalletError::internal)?);
        let request_digest = sha256(&[&request_json]).to_vec();
        let pad = sha256(&[
            b"mynakit wallet remembered answer v1\0",
            &request_json,
            pad_input,
        ]);
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = self.now();
        self.sweep(&tx, now)?;
        let earlier: Option<(String, Vec<u8>, String)> = tx
            .query_row(
                "SELECT operation, request, answer FROM idempotency WHERE key = ?1",
                params![key.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((op, digest_then, answer)) = earlier {
            // The sweep may have changed something: keep it.
            tx.commit()?;
            if op != operation || digest_then != request_digest {
                return Err(WalletError::IdempotencyKeyReused);
            }
            return match serde_json::from_str(&answer).map_err(WalletError::internal)? {
                Remembered::Ok(mut a) => {
                    A::seal(&mut a, &pad);
                    Ok(a)
                }
                Remembered::Err(e) => Err(e),
            };
        }
        let outcome = run(&tx, now);
        if let Err(WalletError::Internal { .. }) = outcome {
            // Not remembered: rolled back on drop, a retry runs again.
            return outcome;
        }
        let remembered = match &outcome {
            Ok(a) => {
                let mut sealed = serde_json::from_value::<A>(
                    serde_json::to_value(a).map_err(WalletError::internal)?,
                )
                .map_err(WalletError::internal)?;
                sealed.seal(&pad);
                serde_json::to_string(&Remembered::Ok(sealed))
            }
            Err(e) => serde_json::to_string(&Remembered::<A>::Err(e.clone())),
        }
        .map_err(WalletError::internal)?;
        tx.execute(
            "INSERT INTO idempotency(key, operation, request, answer) VALUES (?1, ?2, ?3, ?4)",
            params![key.as_str(), operation, request_digest, remembered],
        )?;
        tx.commit()?;
        outcome
    }

    /// Reads in one transaction (after the birthday sweep, which may write).
    fn read<A>(
        &self,
        run: impl FnOnce(&Transaction<'_>, DateTime<Utc>) -> Result<A, WalletError>,
    ) -> Result<A, WalletError> {
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = self.now();
        self.sweep(&tx, now)?;
        let a = run(&tx, now)?;
        tx.commit()?;
        Ok(a)
    }

    /// W8(1)(3): a record in force whose holder's birthday has arrived (in
    /// Japan) is revoked, at the birthday, whether or not the phone asks:
    /// run before every operation and every status list, so whoever looks
    /// next sees it. The chain goes on: a re-issue is due (W6(2)).
    fn sweep(&self, tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<(), WalletError> {
        let changed = tx.execute(
            "UPDATE records SET state = 'revoked', reason = 'birthday', revoked_at = birthday_at
             WHERE state != 'revoked' AND replaced_by IS NULL AND birthday_at IS NOT NULL
               AND birthday_at <= ?1 AND birthday_at < valid_until",
            params![now.timestamp()],
        )?;
        if changed > 0 {
            bump_status_version(tx)?;
        }
        Ok(())
    }

    // ----- nonces -----

    /// `POST /v1/wallet/nonces`: a one-time nonce.
    pub fn nonce(&self, key: &IdempotencyKey) -> Result<NonceResponse, WalletError> {
        self.idempotent(key, "nonce", &(), &[], |tx, now| {
            let nonce = to_hex(&random_bytes::<32>()?);
            let expires_at = now + self.policy.nonce_lifetime;
            tx.execute(
                "INSERT INTO nonces(nonce, expires_at, used) VALUES (?1, ?2, 0)",
                params![nonce, expires_at.timestamp()],
            )?;
            Ok(NonceResponse { nonce, expires_at })
        })
    }

    /// Spends a nonce, whatever happens next.
    fn spend_nonce(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        nonce: &str,
    ) -> Result<(), WalletError> {
        let row: Option<(i64, bool)> = tx
            .query_row(
                "SELECT expires_at, used FROM nonces WHERE nonce = ?1",
                params![nonce],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((expires_at, used)) = row else {
            return Err(WalletError::NonceNotFound);
        };
        if used {
            return Err(WalletError::NonceUsed);
        }
        tx.execute(
            "UPDATE nonces SET used = 1 WHERE nonce = ?1",
            params![nonce],
        )?;
        if now > time(expires_at) {
            return Err(WalletError::NonceExpired);
        }
        Ok(())
    }

    // ----- apply (W2-W4) -----

    /// `POST /v1/wallet/applications`: checks in this order — the nonce;
    /// the signing certificate (W4: chain to the sandbox JPKI signing CA, a
    /// signing certificate, valid now, not revoked); the card's signature
    /// (W2); the device signature; the device key asks before every use
    /// (W10) and its level is accepted; the data matches the certificate;
    /// no record in force for this person (W3) — then issues.
    pub fn apply(
        &self,
        key: &IdempotencyKey,
        request: &ApplyRequest,
    ) -> Result<IssuedRecord, WalletError> {
        self.idempotent(key, "apply", request, &[], |tx, now| {
            self.apply_in(tx, now, request)
        })
    }

    fn apply_in(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        request: &ApplyRequest,
    ) -> Result<IssuedRecord, WalletError> {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&request.device_key.public_key)
            .map_err(|_| WalletError::bad("device_key.public_key is not a SEC1 P-256 key"))?;
        registry::check_data_shape(&request.data)?;
        self.spend_nonce(tx, now, &request.nonce)?;
        // W4.
        let certificate =
            registry::check_signing_certificate(&self.anchors, &request.signing_certificate, now)?;
        let serial = registry::serial_key(&certificate.serial_hex());
        if certificate_revoked(tx, &serial)? {
            return Err(WalletError::CertificateRevoked);
        }
        // W2: the card's signing key over the nonce, the device key and the data.
        let message = apply_message(
            &request.nonce,
            &request.device_key.public_key,
            &request.data.digest(),
        );
        if !certificate.verifies_sha256_signature(&message, &request.card_signature) {
            return Err(WalletError::BadCardSignature);
        }
        if !es256_verify(
            &request.device_key.public_key,
            &message,
            &request.device_signature,
        ) {
            return Err(WalletError::BadDeviceSignature);
        }
        // W10: the key itself must ask for the user before every use.
        if request.device_key.user_authentication != UserAuthentication::EveryUse {
            return Err(WalletError::UserAuthenticationRequired);
        }
        if !self
            .policy
            .accepted_security_levels
            .contains(&request.device_key.security_level)
        {
            return Err(WalletError::SecurityLevelRefused);
        }
        registry::check_data_matches(&request.data, &certificate)?;
        let person = registry::person_key(&self.person_secret, &request.data.my_number)?;
        // W3: nobody may apply while they hold a record in force.
        if let Some(record_id) = record_in_force(tx, &person, now)? {
            // Unless the application replaces exactly that record, proved
            // by its holder token (its device key is gone): the old one is
            // superseded below, in this transaction.
            let replacing = request.replaces.as_ref().is_some_and(|r| {
                r.record_id == record_id
                    && self
                        .holders_record(tx, &r.holder_token, &r.record_id)
                        .is_ok()
            });
            if !replacing {
                return Err(WalletError::RecordInForce { record_id });
            }
        }
        // Earlier chains of this person end here: exactly one chain can
        // re-issue (an expired record's chain could otherwise come back).
        let earlier = person_chains(tx, &person)?;
        let token = to_hex(&random_bytes::<32>()?);
        let application = to_hex(&random_bytes::<16>()?);
        let data_json =
            Zeroizing::new(serde_json::to_vec(&request.data).map_err(WalletError::internal)?);
        tx.execute(
            "INSERT INTO applications(id, person, certificate, serial, certificate_not_after,
               device_key, data, birth_date, token_hash, created_at, lost, recovered, ended)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, 0, NULL)",
            params![
                application,
                person,
                certificate.der(),
                serial,
                certificate.not_after().timestamp(),
                request.device_key.public_key,
                data_json.as_slice(),
                request.data.birth_date.map(|d| d.to_string()),
                token_hash(&token),
                now.timestamp(),
            ],
        )?;
        let app = load_application(tx, &application)?;
        let issued = self.issue_record(tx, now, &app, &request.data, None, &token)?;
        for (chain, current) in earlier {
            end_chain(tx, &chain, RevocationReason::Superseded)?;
            if let Some(current) = current {
                supersede(tx, now, &current, &issued.record_id)?;
            }
        }
        Ok(issued)
    }

    /// Issues a record of `app` now: W5 validity, a fresh random index in
    /// the status list, the elements computed on today's Japan date.
    fn issue_record(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        app: &ApplicationRow,
        data: &ApplicationData,
        reason: Option<ReissueReason>,
        token: &str,
    ) -> Result<IssuedRecord, WalletError> {
        let (valid_from, valid_until) = validity_of_record_issued_at(now)
            .ok_or_else(|| WalletError::internal("validity beyond the calendar"))?;
        let idx = self.allocate_index(tx)?;
        let status = StatusReference {
            uri: self.status_list_uri(),
            idx,
        };
        let today = japan_date(now);
        let elements = mdoc::elements_from_application(data, today);
        let mso = mdoc::MsoInput {
            device_key: app.device_key.clone(),
            signed: now,
            valid_from,
            valid_until,
            status: Some(status.clone()),
        };
        let issuer_signed = {
            let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            mdoc::issue(&elements, &mso, &keys.x5chain(), |tbs| {
                Ok::<_, std::convert::Infallible>(keys.sign(tbs))
            })
            .map_err(WalletError::internal)?
        };
        let birthday_at = app
            .birth_date
            .and_then(|birth| registry::next_birthday(birth, today))
            .and_then(registry::start_of_japan_day);
        let record_id = new_record_id(&random_bytes::<16>()?);
        tx.execute(
            "INSERT INTO records(id, application, idx, issued_at, valid_until, birthday_at, state,
               reason, revoked_at, replaced_by, reissue_reason, uses)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'valid', NULL, NULL, NULL, ?7, 0)",
            params![
                record_id,
                app.id,
                i64::try_from(idx).map_err(WalletError::internal)?,
                valid_from.timestamp(),
                valid_until.timestamp(),
                birthday_at.map(|t| t.timestamp()),
                reason.map(|r| name_of(&r)).transpose()?,
            ],
        )?;
        bump_status_version(tx)?;
        Ok(IssuedRecord {
            record_id,
            issuer_signed,
            valid_from,
            valid_until,
            status,
            holder_token: token.to_owned(),
            signing_certificate_not_after: app.certificate_not_after,
            reissue_reason: reason,
        })
    }

    /// A random index never used before (draft-ietf-oauth-status-list:
    /// random allocation for unlinkability).
    fn allocate_index(&self, tx: &Transaction<'_>) -> Result<u64, WalletError> {
        let size = self.policy.status_list_size.max(1);
        let used: i64 = tx.query_row("SELECT count(*) FROM records", [], |r| r.get(0))?;
        if u64::try_from(used).map_err(WalletError::internal)? >= size {
            return Err(WalletError::internal("status list 1 is full"));
        }
        let taken = |idx: u64| -> Result<bool, WalletError> {
            let idx = i64::try_from(idx).map_err(WalletError::internal)?;
            Ok(tx
                .query_row("SELECT 1 FROM records WHERE idx = ?1", params![idx], |_| {
                    Ok(())
                })
                .optional()?
                .is_some())
        };
        let start = u64::from_be_bytes(random_bytes::<8>()?) % size;
        // Random probes first; a nearly full list falls back to a scan
        // from a random start (never reached at the default size).
        for _ in 0..64 {
            let idx = u64::from_be_bytes(random_bytes::<8>()?) % size;
            if !taken(idx)? {
                return Ok(idx);
            }
        }
        for step in 0..size {
            let idx = (start + step) % size;
            if !taken(idx)? {
                return Ok(idx);
            }
        }
        Err(WalletError::internal("status list 1 is full"))
    }

    // ----- the holder's reads -----

    /// The application whose holder token this is.
    fn holder(&self, tx: &Transaction<'_>, token: &str) -> Result<ApplicationRow, WalletError> {
        let id: Option<String> = tx
            .query_row(
                "SELECT id FROM applications WHERE token_hash = ?1",
                params![token_hash(token)],
                |r| r.get(0),
            )
            .optional()?;
        let id = id.ok_or(WalletError::Unauthorized)?;
        load_application(tx, &id)
    }

    /// A record of the holder's chain.
    fn holders_record(
        &self,
        tx: &Transaction<'_>,
        token: &str,
        record_id: &str,
    ) -> Result<(ApplicationRow, RecordRow), WalletError> {
        let app = self.holder(tx, token)?;
        let record = load_record(tx, record_id)?
            .filter(|r| r.application == app.id)
            .ok_or(WalletError::RecordNotFound)?;
        Ok((app, record))
    }

    /// `GET /v1/wallet/records/{id}` (bearer).
    pub fn record_state(&self, token: &str, record_id: &str) -> Result<RecordState, WalletError> {
        self.read(|tx, now| {
            let (app, record) = self.holders_record(tx, token, record_id)?;
            self.state_of(tx, now, &app, &record)
        })
    }

    fn certificate_status(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        app: &ApplicationRow,
    ) -> Result<CertificateStatus, WalletError> {
        Ok(if certificate_revoked(tx, &app.serial)? {
            CertificateStatus::Revoked
        } else if now > app.certificate_not_after {
            CertificateStatus::Expired
        } else {
            CertificateStatus::Valid
        })
    }

    /// The W6 reasons due now, most pressing first; W6(3) (uses) depends
    /// on what the phone reports and is not listed. Granted only while the
    /// signing certificate is valid (checked first at re-issue): a reason
    /// due with an expired or revoked certificate tells the phone to apply
    /// again with the card.
    fn due(
        &self,
        now: DateTime<Utc>,
        app: &ApplicationRow,
        record: &RecordRow,
    ) -> Result<Vec<ReissueReason>, WalletError> {
        if record.replaced_by.is_some() || app.ended.is_some() || app.lost {
            return Ok(Vec::new());
        }
        let mut due = Vec::new();
        if app.recovered {
            due.push(ReissueReason::Recovered);
        }
        if record.state == State::Revoked && record.reason == Some(RevocationReason::Birthday) {
            due.push(ReissueReason::Birthday);
        }
        if record.state == State::Valid && now >= record.valid_until {
            due.push(ReissueReason::ValidityEnded);
        }
        Ok(due)
    }

    fn state_of(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        app: &ApplicationRow,
        record: &RecordRow,
    ) -> Result<RecordState, WalletError> {
        let status = match record.state {
            State::Revoked => RecordStatus::Revoked,
            State::Suspended => RecordStatus::Suspended,
            State::Valid if now >= record.valid_until => RecordStatus::Expired,
            State::Valid => RecordStatus::Valid,
        };
        Ok(RecordState {
            record_id: record.id.clone(),
            status,
            revocation_reason: record.reason,
            reissue_due: self.due(now, app, record)?.first().copied(),
            replaced_by: record.replaced_by.clone(),
            signing_certificate: self.certificate_status(tx, now, app)?,
        })
    }

    /// `GET /v1/wallet/notices` (bearer): the chain's notices, oldest first.
    pub fn notices(&self, token: &str) -> Result<NoticeList, WalletError> {
        self.read(|tx, _| {
            let app = self.holder(tx, token)?;
            let mut statement = tx.prepare(
                "SELECT id, record, kind, at FROM notices WHERE application = ?1 ORDER BY seq",
            )?;
            let rows = statement
                .query_map(params![app.id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let notices = rows
                .into_iter()
                .map(|(id, record_id, kind, at)| {
                    Ok(Notice {
                        id,
                        record_id,
                        kind: serde_json::from_str(&kind).map_err(WalletError::internal)?,
                        at: time(at),
                    })
                })
                .collect::<Result<Vec<_>, WalletError>>()?;
            Ok(NoticeList { notices })
        })
    }

    /// `GET /v1/wallet/public-notices` (Art. 8(3)).
    pub fn public_notices(&self) -> Result<PublicNoticeList, WalletError> {
        self.read(|tx, _| {
            let mut statement = tx
                .prepare("SELECT id, reason, records, text, at FROM public_notices ORDER BY seq")?;
            let rows = statement
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let notices = rows
                .into_iter()
                .map(|(id, reason, records, text, at)| {
                    Ok(PublicNotice {
                        id,
                        reason: from_name(&reason)?,
                        records: u64::try_from(records).map_err(WalletError::internal)?,
                        text,
                        at: time(at),
                    })
                })
                .collect::<Result<Vec<_>, WalletError>>()?;
            Ok(PublicNoticeList { notices })
        })
    }

    // ----- re-issue (W6) -----

    /// `POST /v1/wallet/records/{id}/reissues` (bearer): a new record for
    /// the same device key, while the signing certificate used to apply is
    /// valid and not revoked (W6). The old record becomes INVALID
    /// (Superseded; one already revoked at the birthday keeps reason
    /// Birthday, W8(1)(3)): exactly one record in force.
    pub fn reissue(
        &self,
        key: &IdempotencyKey,
        token: &str,
        record_id: &str,
        request: &ReissueRequest,
    ) -> Result<IssuedRecord, WalletError> {
        // The token authenticates before anything is remembered: a wrong
        // one changes nothing, and only the holder can replay the answer.
        self.read(|tx, _| self.holders_record(tx, token, record_id).map(|_| ()))?;
        self.idempotent(
            key,
            "reissue",
            &(record_id, request),
            token.as_bytes(),
            |tx, now| self.reissue_in(tx, now, token, record_id, request),
        )
    }

    fn reissue_in(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        token: &str,
        record_id: &str,
        request: &ReissueRequest,
    ) -> Result<IssuedRecord, WalletError> {
        let (app, record) = self.holders_record(tx, token, record_id)?;
        self.spend_nonce(tx, now, &request.nonce)?;
        let message = reissue_message(&request.nonce, record_id, request.reason, request.uses);
        if !es256_verify(&app.device_key, &message, &request.device_signature) {
            return Err(WalletError::BadDeviceSignature);
        }
        tx.execute(
            "UPDATE records SET uses = max(uses, ?2) WHERE id = ?1",
            params![record_id, i64::try_from(request.uses).unwrap_or(i64::MAX)],
        )?;
        // W6: only while the signing certificate used to apply is valid.
        match self.certificate_status(tx, now, &app)? {
            CertificateStatus::Revoked => return Err(WalletError::CertificateRevoked),
            CertificateStatus::Expired => return Err(WalletError::CertificateExpired),
            CertificateStatus::Valid => {}
        }
        if let Some(by) = &record.replaced_by {
            return Err(WalletError::RecordRevoked {
                reason: format!("replaced by {by}"),
            });
        }
        if let Some(ended) = app.ended {
            return Err(WalletError::RecordRevoked {
                reason: format!("{} ({})", name_of(&ended)?, ended.rule()),
            });
        }
        if app.lost {
            return Err(WalletError::RecordSuspended);
        }
        let due = self.due(now, &app, &record)?;
        let granted = due.contains(&request.reason)
            || (request.reason == ReissueReason::UsageCount
                && request.uses > self.policy.max_uses_before_reissue
                && record.state == State::Valid);
        if !granted {
            if record.state == State::Revoked {
                let reason = record.reason.map(|r| name_of(&r)).transpose()?;
                return Err(WalletError::RecordRevoked {
                    reason: reason.unwrap_or_default(),
                });
            }
            let seen = match due.first() {
                Some(d) => format!(
                    "{} ({}) is due, not {}",
                    name_of(d)?,
                    d.rule(),
                    name_of(&request.reason)?
                ),
                None => format!(
                    "{} ({}) is not due",
                    name_of(&request.reason)?,
                    request.reason.rule()
                ),
            };
            return Err(WalletError::NotDue { reason: seen });
        }
        let data = load_data(tx, &app.id)?;
        let issued = self.issue_record(tx, now, &app, &data, Some(request.reason), token)?;
        supersede(tx, now, &record, &issued.record_id)?;
        tx.execute(
            "UPDATE applications SET recovered = 0 WHERE id = ?1",
            params![app.id],
        )?;
        add_notice(
            tx,
            now,
            &app.id,
            record_id,
            NoticeKind::Reissued {
                reason: request.reason,
            },
        )?;
        Ok(issued)
    }

    // ----- revocation and suspension -----

    /// `POST /v1/wallet/records/{id}/revocations` (bearer): the holder stops
    /// the record from the phone (W7(2), (3)); the chain ends.
    pub fn revoke(
        &self,
        key: &IdempotencyKey,
        token: &str,
        record_id: &str,
        request: &RevokeRequest,
    ) -> Result<RecordState, WalletError> {
        self.read(|tx, _| self.holders_record(tx, token, record_id).map(|_| ()))?;
        self.idempotent(
            key,
            "revoke",
            &(record_id, request),
            token.as_bytes(),
            |tx, now| {
                let (app, record) = self.holders_record(tx, token, record_id)?;
                self.spend_nonce(tx, now, &request.nonce)?;
                let message = revoke_message(&request.nonce, record_id);
                if !es256_verify(&app.device_key, &message, &request.device_signature) {
                    return Err(WalletError::BadDeviceSignature);
                }
                refuse_revoked(&app, &record)?;
                self.stop(tx, now, &app, &record, RevocationReason::HolderRequest)?;
                self.state_after(tx, now, record_id)
            },
        )
    }

    fn state_after(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        record_id: &str,
    ) -> Result<RecordState, WalletError> {
        let record = load_record(tx, record_id)?.ok_or(WalletError::RecordNotFound)?;
        let app = load_application(tx, &record.application)?;
        self.state_of(tx, now, &app, &record)
    }

    /// Revokes `record` for `reason` and ends its chain; the holder is
    /// notified for Art. 8(2)'s reasons and for their own requests.
    fn stop(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        app: &ApplicationRow,
        record: &RecordRow,
        reason: RevocationReason,
    ) -> Result<bool, WalletError> {
        end_chain(tx, &app.id, reason)?;
        let revoked = if record.state == State::Revoked {
            false
        } else {
            tx.execute(
                "UPDATE records SET state = 'revoked', reason = ?2, revoked_at = ?3 WHERE id = ?1",
                params![record.id, name_of(&reason)?, now.timestamp()],
            )?;
            bump_status_version(tx)?;
            true
        };
        let confirmed = matches!(
            reason,
            RevocationReason::HolderRequest | RevocationReason::KeyCompromise
        );
        if revoked && (reason.notifies_holder() || confirmed) {
            add_notice(tx, now, &app.id, &record.id, NoticeKind::Revoked { reason })?;
        }
        Ok(revoked)
    }

    /// The admin's record, which must be the current one of its chain.
    fn admin_record(
        &self,
        tx: &Transaction<'_>,
        record_id: &str,
    ) -> Result<(ApplicationRow, RecordRow), WalletError> {
        let record = load_record(tx, record_id)?.ok_or(WalletError::RecordNotFound)?;
        let app = load_application(tx, &record.application)?;
        Ok((app, record))
    }

    /// **Sandbox admin** (the authority): revokes a record for a recording
    /// error (W8(1)(2): the holder is notified, Art. 8(2)) or technical or
    /// operational necessity (W8(1)(5): a public notice, Art. 8(3)). The
    /// other reasons have their own operations: [`Self::revoke_certificate`]
    /// (1), the birthday sweep (3), [`Self::issuer_key_compromised`] (4).
    pub fn admin_revoke(
        &self,
        key: &IdempotencyKey,
        record_id: &str,
        reason: RevocationReason,
    ) -> Result<RecordState, WalletError> {
        self.idempotent(key, "admin_revoke", &(record_id, reason), &[], |tx, now| {
            if !matches!(
                reason,
                RevocationReason::RecordingError | RevocationReason::Operational
            ) {
                return Err(WalletError::bad(
                    "reason: recording_error (W8(1)(2)) or operational (W8(1)(5)); the others have their own routes",
                ));
            }
            let (app, record) = self.admin_record(tx, record_id)?;
            refuse_revoked(&app, &record)?;
            self.stop(tx, now, &app, &record, reason)?;
            if reason.public_notice() {
                add_public_notice(tx, now, reason, 1)?;
            }
            self.state_after(tx, now, record_id)
        })
    }

    /// **Sandbox admin** (the call centre, W9): the phone was reported
    /// lost; the record is SUSPENDED in the status list and the holder
    /// notified. Nothing is re-issued while the chain is lost.
    pub fn report_lost(
        &self,
        key: &IdempotencyKey,
        record_id: &str,
    ) -> Result<RecordState, WalletError> {
        self.idempotent(key, "report_lost", &record_id, &[], |tx, now| {
            let (app, record) = self.admin_record(tx, record_id)?;
            refuse_revoked(&app, &record)?;
            if app.lost || record.state == State::Suspended {
                return Err(WalletError::RecordSuspended);
            }
            tx.execute(
                "UPDATE applications SET lost = 1, recovered = 0 WHERE id = ?1",
                params![app.id],
            )?;
            tx.execute(
                "UPDATE records SET state = 'suspended' WHERE id = ?1",
                params![record_id],
            )?;
            bump_status_version(tx)?;
            add_notice(tx, now, &app.id, record_id, NoticeKind::Suspended)?;
            self.state_after(tx, now, record_id)
        })
    }

    /// **Sandbox admin** (the call centre, W6(4)): the holder has the phone
    /// back. The suspension is lifted for the chain — a re-issue is due
    /// (reason `recovered`) — but the suspended record itself stays
    /// SUSPENDED until the new one replaces it: a record that was out of
    /// the holder's hands is never made VALID again; the phone gets a fresh
    /// one at once (same device key, proved by its signature).
    pub fn recovered(
        &self,
        key: &IdempotencyKey,
        record_id: &str,
    ) -> Result<RecordState, WalletError> {
        self.idempotent(key, "recovered", &record_id, &[], |tx, now| {
            let (app, record) = self.admin_record(tx, record_id)?;
            if record.replaced_by.is_some() || app.ended.is_some() {
                refuse_revoked(&app, &record)?;
            }
            if !app.lost {
                return Err(WalletError::NotDue {
                    reason: "the phone was not reported lost".into(),
                });
            }
            tx.execute(
                "UPDATE applications SET lost = 0, recovered = 1 WHERE id = ?1",
                params![app.id],
            )?;
            add_notice(tx, now, &app.id, record_id, NoticeKind::Resumed)?;
            self.state_after(tx, now, record_id)
        })
    }

    /// **Sandbox admin** (the call centre, W7(1)): the holder reported the
    /// device key compromised; the record is revoked and the chain ends
    /// (a record already revoked — at a birthday, say — can no longer be
    /// re-issued either).
    pub fn compromised(
        &self,
        key: &IdempotencyKey,
        record_id: &str,
    ) -> Result<RecordState, WalletError> {
        self.idempotent(key, "compromised", &record_id, &[], |tx, now| {
            let (app, record) = self.admin_record(tx, record_id)?;
            if record.replaced_by.is_some() {
                refuse_revoked(&app, &record)?;
            }
            self.stop(tx, now, &app, &record, RevocationReason::KeyCompromise)?;
            self.state_after(tx, now, record_id)
        })
    }

    /// **Sandbox admin** (the card registry, W4, W8(1)(1)): puts a signing
    /// certificate's serial on the revocation list and revokes every
    /// record applied with it (the holders are notified, Art. 8(2)).
    pub fn revoke_certificate(
        &self,
        key: &IdempotencyKey,
        serial_hex: &str,
    ) -> Result<CertificateRevocation, WalletError> {
        let serial = registry::serial_key(serial_hex);
        if serial.is_empty() || from_hex(&serial).is_none() {
            return Err(WalletError::bad("serial: hex digits"));
        }
        self.idempotent(key, "revoke_certificate", &serial, &[], |tx, now| {
            tx.execute(
                "INSERT OR IGNORE INTO revoked_certificates(serial, revoked_at) VALUES (?1, ?2)",
                params![serial, now.timestamp()],
            )?;
            let chains: Vec<String> = {
                let mut statement = tx.prepare(
                    "SELECT id FROM applications WHERE serial = ?1 AND ended IS NULL ORDER BY created_at",
                )?;
                statement
                    .query_map(params![serial], |r| r.get(0))?
                    .collect::<Result<Vec<_>, _>>()?
            };
            let mut records_revoked = 0;
            for chain in chains {
                let app = load_application(tx, &chain)?;
                match current_record(tx, &chain)? {
                    Some(record) => {
                        if self.stop(tx, now, &app, &record, RevocationReason::CertificateRevoked)? {
                            records_revoked += 1;
                        }
                    }
                    None => end_chain(tx, &chain, RevocationReason::CertificateRevoked)?,
                }
            }
            Ok(CertificateRevocation {
                serial: serial.clone(),
                records_revoked,
            })
        })
    }

    /// **Sandbox admin** (the authority, W8(1)(4)): the issuer's signing
    /// key leaked. Every chain ends and every record not yet revoked is
    /// revoked (holders notified, Art. 8(2)); a public notice says how
    /// many (Art. 8(3)); the issuer's keys (IACA and document signer) are
    /// replaced, so verifiers must pin the new IACA (`GET /v1/wallet/iaca`).
    pub fn issuer_key_compromised(
        &self,
        key: &IdempotencyKey,
    ) -> Result<PublicNotice, WalletError> {
        let notice = self.idempotent(key, "issuer_key_compromised", &(), &[], |tx, now| {
            let chains: Vec<String> = {
                let mut statement = tx.prepare(
                    "SELECT id FROM applications WHERE ended IS NULL ORDER BY created_at",
                )?;
                statement
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<Vec<_>, _>>()?
            };
            let mut count = 0;
            for chain in chains {
                let app = load_application(tx, &chain)?;
                match current_record(tx, &chain)? {
                    Some(record) => {
                        if self.stop(
                            tx,
                            now,
                            &app,
                            &record,
                            RevocationReason::IssuerKeyCompromise,
                        )? {
                            count += 1;
                        }
                    }
                    None => end_chain(tx, &chain, RevocationReason::IssuerKeyCompromise)?,
                }
            }
            let keys = IssuerKeys::generate(now).map_err(WalletError::internal)?;
            set_setting(tx, "issuer_keys", &keys.to_persisted())?;
            bump_status_version(tx)?;
            add_public_notice(tx, now, RevocationReason::IssuerKeyCompromise, count)
        })?;
        // The new keys are used once they are stored (a failed commit keeps
        // the old ones in both places).
        self.reload_keys()?;
        Ok(notice)
    }

    fn reload_keys(&self) -> Result<(), WalletError> {
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = db.transaction()?;
        if let Some(keys) =
            setting(&tx, "issuer_keys")?.and_then(|stored| IssuerKeys::from_persisted(&stored).ok())
        {
            *self.keys.lock().unwrap_or_else(PoisonError::into_inner) = keys;
        }
        tx.commit()?;
        Ok(())
    }

    /// **Sandbox admin**: every record, newest first, without personal data.
    pub fn records(&self) -> Result<Vec<AdminRecord>, WalletError> {
        self.read(|tx, now| {
            let mut statement = tx.prepare(&format!(
                "SELECT {RECORD_COLUMNS} FROM records ORDER BY issued_at DESC, id"
            ))?;
            let rows = statement
                .query_map([], record_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|raw| {
                    let record = parse_record(raw)?;
                    let app = load_application(tx, &record.application)?;
                    let state = self.state_of(tx, now, &app, &record)?;
                    Ok(AdminRecord {
                        record_id: record.id,
                        status: state.status,
                        revocation_reason: record.reason,
                        replaced_by: record.replaced_by,
                        idx: record.idx,
                        valid_from: record.issued_at,
                        valid_until: record.valid_until,
                        certificate_serial: app.serial,
                    })
                })
                .collect()
        })
    }

    // ----- the status list -----

    /// `GET /v1/wallet/status-lists/{n}`: the signed status list token
    /// (CWT, `application/statuslist+cwt`), 2 bits per record. Signed
    /// again when a status changed or the last one is older than its ttl.
    pub fn status_list(&self, number: u32) -> Result<Vec<u8>, WalletError> {
        if number != STATUS_LIST_NUMBER {
            return Err(WalletError::StatusListNotFound);
        }
        let (version, now, entries) = self.read(|tx, now| {
            let version = status_version(tx)?;
            {
                let published = self
                    .published
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let fresh = published.as_ref().is_some_and(|p| {
                    p.version == version && now < p.issued_at + self.policy.status_list_ttl
                });
                if fresh {
                    return Ok((version, now, None));
                }
            }
            let mut statement = tx.prepare("SELECT idx, state FROM records")?;
            let rows = statement
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((version, now, Some(rows)))
        })?;
        let Some(entries) = entries else {
            let published = self
                .published
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            return published
                .as_ref()
                .map(|p| p.token.clone())
                .ok_or_else(|| WalletError::internal("status list cache"));
        };
        let mut list = StatusList::new(STATUS_BITS, self.policy.status_list_size)
            .map_err(WalletError::internal)?;
        for (idx, state) in entries {
            let idx = u64::try_from(idx).map_err(WalletError::internal)?;
            list.set(idx, State::parse(&state)?.status())
                .map_err(WalletError::internal)?;
        }
        let token = StatusListToken {
            uri: self.status_list_uri(),
            issued_at: now,
            expires_at: now + self.policy.status_list_lifetime,
            ttl: Some(self.policy.status_list_ttl),
            list,
        };
        let signed = {
            let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            status_list::sign_status_list_token(&token, &keys.x5chain(), |tbs| {
                Ok::<_, std::convert::Infallible>(keys.sign(tbs))
            })
            .map_err(WalletError::internal)?
        };
        *self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(PublishedList {
            version,
            issued_at: now,
            token: signed.clone(),
        });
        Ok(signed)
    }
}

fn setting(tx: &Transaction<'_>, name: &str) -> Result<Option<Vec<u8>>, WalletError> {
    Ok(tx
        .query_row(
            "SELECT value FROM settings WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()?)
}

fn set_setting(tx: &Transaction<'_>, name: &str, value: &[u8]) -> Result<(), WalletError> {
    tx.execute(
        "INSERT OR REPLACE INTO settings(name, value) VALUES (?1, ?2)",
        params![name, value],
    )?;
    Ok(())
}

/// A counter bumped whenever a status (or the keys) changes: the cached
/// status list is signed again.
fn status_version(tx: &Transaction<'_>) -> Result<i64, WalletError> {
    Ok(setting(tx, "status_version")?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(0, i64::from_be_bytes))
}

fn bump_status_version(tx: &Transaction<'_>) -> Result<(), WalletError> {
    let next = status_version(tx)?.wrapping_add(1);
    set_setting(tx, "status_version", &next.to_be_bytes())
}

fn certificate_revoked(tx: &Transaction<'_>, serial: &str) -> Result<bool, WalletError> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM revoked_certificates WHERE serial = ?1",
            params![serial],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn load_record(tx: &Transaction<'_>, id: &str) -> Result<Option<RecordRow>, WalletError> {
    tx.query_row(
        &format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = ?1"),
        params![id],
        record_row,
    )
    .optional()?
    .map(parse_record)
    .transpose()
}

/// The record of a chain nothing replaced.
fn current_record(
    tx: &Transaction<'_>,
    application: &str,
) -> Result<Option<RecordRow>, WalletError> {
    tx.query_row(
        &format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE application = ?1 AND replaced_by IS NULL
             ORDER BY issued_at DESC LIMIT 1"
        ),
        params![application],
        record_row,
    )
    .optional()?
    .map(parse_record)
    .transpose()
}

fn load_application(tx: &Transaction<'_>, id: &str) -> Result<ApplicationRow, WalletError> {
    let raw = tx.query_row(
        &format!("SELECT {APPLICATION_COLUMNS} FROM applications WHERE id = ?1"),
        params![id],
        application_row,
    )?;
    parse_application(raw)
}

fn load_data(tx: &Transaction<'_>, application: &str) -> Result<ApplicationData, WalletError> {
    let json: Zeroizing<Vec<u8>> = Zeroizing::new(tx.query_row(
        "SELECT data FROM applications WHERE id = ?1",
        params![application],
        |r| r.get(0),
    )?);
    serde_json::from_slice(&json).map_err(|_| WalletError::internal("stored application data"))
}

/// W3: the person's record in force — valid or suspended, not past its
/// validity, not replaced — if any. A suspended record counts (the phone
/// may be found again): to apply on another phone, revoke it first.
fn record_in_force(
    tx: &Transaction<'_>,
    person: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, WalletError> {
    Ok(tx
        .query_row(
            "SELECT r.id FROM records r JOIN applications a ON a.id = r.application
             WHERE a.person = ?1 AND r.state != 'revoked' AND r.replaced_by IS NULL
               AND r.valid_until > ?2
             ORDER BY r.issued_at DESC LIMIT 1",
            params![person, now.timestamp()],
            |r| r.get(0),
        )
        .optional()?)
}

/// The person's chains still open, with their current records.
fn person_chains(
    tx: &Transaction<'_>,
    person: &str,
) -> Result<Vec<(String, Option<RecordRow>)>, WalletError> {
    let chains: Vec<String> = {
        let mut statement =
            tx.prepare("SELECT id FROM applications WHERE person = ?1 AND ended IS NULL")?;
        statement
            .query_map(params![person], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?
    };
    chains
        .into_iter()
        .map(|chain| Ok((chain.clone(), current_record(tx, &chain)?)))
        .collect()
}

fn end_chain(
    tx: &Transaction<'_>,
    application: &str,
    reason: RevocationReason,
) -> Result<(), WalletError> {
    tx.execute(
        "UPDATE applications SET ended = ?2, lost = 0, recovered = 0 WHERE id = ?1 AND ended IS NULL",
        params![application, name_of(&reason)?],
    )?;
    Ok(())
}

/// The old record gives way to `new`: INVALID (Superseded) unless it was
/// revoked already (at a birthday: it keeps that reason).
fn supersede(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    old: &RecordRow,
    new: &str,
) -> Result<(), WalletError> {
    if old.state != State::Revoked {
        tx.execute(
            "UPDATE records SET state = 'revoked', reason = 'superseded', revoked_at = ?2 WHERE id = ?1",
            params![old.id, now.timestamp()],
        )?;
    }
    tx.execute(
        "UPDATE records SET replaced_by = ?2 WHERE id = ?1",
        params![old.id, new],
    )?;
    bump_status_version(tx)
}

/// Refuses to act on a record that was replaced, revoked, or whose chain
/// ended.
fn refuse_revoked(app: &ApplicationRow, record: &RecordRow) -> Result<(), WalletError> {
    if let Some(by) = &record.replaced_by {
        return Err(WalletError::RecordRevoked {
            reason: format!("replaced by {by}"),
        });
    }
    if record.state == State::Revoked {
        let reason = record.reason.map(|r| name_of(&r)).transpose()?;
        return Err(WalletError::RecordRevoked {
            reason: reason.unwrap_or_default(),
        });
    }
    if let Some(ended) = app.ended {
        return Err(WalletError::RecordRevoked {
            reason: name_of(&ended)?,
        });
    }
    Ok(())
}

fn add_notice(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    application: &str,
    record: &str,
    kind: NoticeKind,
) -> Result<(), WalletError> {
    tx.execute(
        "INSERT INTO notices(id, application, record, kind, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            to_hex(&random_bytes::<16>()?),
            application,
            record,
            serde_json::to_string(&kind).map_err(WalletError::internal)?,
            now.timestamp()
        ],
    )?;
    Ok(())
}

fn add_public_notice(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    reason: RevocationReason,
    records: u64,
) -> Result<PublicNotice, WalletError> {
    let text = match reason {
        RevocationReason::IssuerKeyCompromise => format!(
            "The issuer's signing key may have leaked: {records} card-substitute records were revoked (W8(1)(4)). Apply again with your card."
        ),
        _ => format!(
            "{records} card-substitute record(s) were revoked for technical or operational reasons (W8(1)(5))."
        ),
    };
    let notice = PublicNotice {
        id: to_hex(&random_bytes::<16>()?),
        reason,
        records,
        text,
        at: now,
    };
    tx.execute(
        "INSERT INTO public_notices(id, reason, records, text, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            notice.id,
            name_of(&reason)?,
            i64::try_from(records).map_err(WalletError::internal)?,
            notice.text,
            now.timestamp()
        ],
    )?;
    Ok(notice)
}
