//! The reference portal (issue 10): the authorization server of the card
//! login (P2: OpenID Connect code flow with PKCE S256, the card's
//! authentication signature as the user's proof), a stand-in for J-LIS's
//! certificate directory (revocations, a person's earlier serials, P3/P4),
//! terms versions (P7), the insurer registry and the health-insurance
//! registration (P1, P3) with the insurer's view (§6), the consent broker
//! with one sample third-party service (S1), and agents (P5) — over its
//! own SQLite store and a clock tests and demos move. The HTTP form is
//! `docs/portal-protocol.md`.
//!
//! **A stand-in**: its signing key, pairwise secret and registries live in
//! its store in clear; never to be trusted outside tests.
//!
//! Rooms: `jlis` (certificates and persons), `login` (authorization
//! server, sessions), `insurance` (terms, registration, insurer registry
//! and view), `consents` (broker and sample service), `agents`; `http`
//! answers the routes.

pub mod agents;
pub mod consents;
pub mod error;
pub mod http;
pub mod insurance;
pub mod jlis;
pub mod login;

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::portal::wire::{AgentScope, ON_BEHALF_OF_HEADER};
use mynakit_core::{Clock, IdempotencyKey};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use error::PortalError;
pub use http::{PortalLink, handle, handle_sandbox};

/// The public base URL (issuer identifier) a sandbox portal uses when none
/// is given.
pub const DEFAULT_BASE_URL: &str = "https://portal.sandbox.mynakit.invalid";

const COMMON_SCHEMA: &str = "
CREATE TABLE settings(name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
CREATE TABLE idempotency(key TEXT PRIMARY KEY, operation TEXT NOT NULL,
    request BLOB NOT NULL, answer TEXT NOT NULL) STRICT;
";

/// Who is calling a portal API route: the person logged in, and, when an
/// agent acts (P5), the holder it acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The person whose card logged in.
    pub person: String,
    /// The person whose data the call is about: `person`, or the holder
    /// an agent acts for.
    pub principal: String,
    /// The agent grant used, if acting for someone else.
    pub grant: Option<String>,
    /// The authentication certificate's serial the session came from
    /// (P3: the registration hangs on it).
    pub serial: String,
}

impl Caller {
    /// Whether the caller acts for someone else (P5).
    pub fn is_agent(&self) -> bool {
        self.grant.is_some()
    }
}

/// The reference portal.
pub struct PortalAuthority {
    db: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    base_url: String,
    maintenance_until: Mutex<Option<DateTime<Utc>>>,
    limited_until: Mutex<Option<DateTime<Utc>>>,
}

impl fmt::Debug for PortalAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalAuthority")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// An answer remembered under an idempotency key. An answer carrying
/// secrets (tokens, codes) seals them with a pad derived from what only the
/// retry brings (the key, of which the store keeps only a hash, and the
/// request), so the store never holds them.
pub(crate) trait Remember: Serialize + DeserializeOwned {
    /// Seals (or, applied again, unseals) the answer's secrets with `pad`.
    fn seal(&mut self, _pad: &[u8; 32]) {}
}

#[derive(Serialize, Deserialize)]
enum Remembered<T> {
    Ok(T),
    Err(PortalError),
}

pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], PortalError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(PortalError::internal)?;
    Ok(bytes)
}

/// A random id or secret token: `N` random bytes, lowercase hex.
pub(crate) fn random_hex<const N: usize>() -> Result<String, PortalError> {
    Ok(random_bytes::<N>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

pub(crate) fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

impl PortalAuthority {
    /// A portal with its store in memory, its issuer identifier
    /// `base_url` (no trailing slash), seeded with the sandbox's persons,
    /// insurer registry and first terms version.
    pub fn in_memory(clock: Arc<dyn Clock>, base_url: &str) -> Result<Self, PortalError> {
        Self::with_connection(Connection::open_in_memory()?, clock, base_url)
    }

    /// The same with its store in the file at `path` (created if need be).
    pub fn open(path: &Path, clock: Arc<dyn Clock>, base_url: &str) -> Result<Self, PortalError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        Self::with_connection(connection, clock, base_url)
    }

    fn with_connection(
        mut connection: Connection,
        clock: Arc<dyn Clock>,
        base_url: &str,
    ) -> Result<Self, PortalError> {
        connection.pragma_update(None, "foreign_keys", true)?;
        let now = clock.now();
        let tx = connection.transaction()?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version == 0 {
            tx.execute_batch(COMMON_SCHEMA)?;
            tx.execute_batch(jlis::SCHEMA)?;
            tx.execute_batch(login::SCHEMA)?;
            tx.execute_batch(insurance::SCHEMA)?;
            tx.execute_batch(consents::SCHEMA)?;
            tx.execute_batch(agents::SCHEMA)?;
            jlis::seed(&tx, now)?;
            login::seed(&tx, now)?;
            insurance::seed(&tx, now)?;
            consents::seed(&tx, now)?;
            tx.pragma_update(None, "user_version", 1)?;
        }
        tx.commit()?;
        Ok(Self {
            db: Mutex::new(connection),
            clock,
            base_url: base_url.trim_end_matches('/').to_owned(),
            maintenance_until: Mutex::new(None),
            limited_until: Mutex::new(None),
        })
    }

    /// The portal's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The issuer identifier (base URL).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        // Whole seconds: the store keeps seconds.
        time(self.clock.now().timestamp())
    }

    /// **Sandbox control** (maintenance, W12/P6): every API route answers
    /// `503` with `Retry-After` for `length` from now; zero ends it.
    pub fn begin_maintenance(&self, length: TimeDelta) -> DateTime<Utc> {
        let until = self.until(length);
        // Zero ends the window outright: a clock later set back must not
        // find it in force again.
        *self
            .maintenance_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            (length > TimeDelta::zero()).then_some(until);
        until
    }

    /// The end of the maintenance window in force, if one is.
    pub fn maintenance_until(&self) -> Option<DateTime<Utc>> {
        let until = *self
            .maintenance_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.filter(|until| self.clock.now() < *until)
    }

    /// **Sandbox control** (P6: use limited when traffic is concentrated):
    /// every API route answers `429` with `Retry-After` for `length` from
    /// now; zero ends it.
    pub fn limit_use(&self, length: TimeDelta) -> DateTime<Utc> {
        let until = self.until(length);
        *self
            .limited_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            (length > TimeDelta::zero()).then_some(until);
        until
    }

    /// The end of the use limit in force, if one is.
    pub fn limited_until(&self) -> Option<DateTime<Utc>> {
        let until = *self
            .limited_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.filter(|until| self.clock.now() < *until)
    }

    fn until(&self, length: TimeDelta) -> DateTime<Utc> {
        self.clock
            .now()
            .checked_add_signed(length.max(TimeDelta::zero()))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The clock's sweeps, run in every transaction before its work: the
    /// §6 release reason 2 (`insurance`), the end of consents' retention
    /// with the service's purge (S1, `consents`), lapsed requests.
    fn sweep(&self, tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<(), PortalError> {
        insurance::sweep(tx, now)?;
        consents::sweep(tx, now)?;
        Ok(())
    }

    /// Runs `run` in one transaction after the sweeps. With an idempotency
    /// key, a retry with the same key and request gets the first answer
    /// (errors included) and changes nothing; the same key with another
    /// request is refused. Without one (an OAuth client that sends none),
    /// it just runs. Internal failures are not remembered.
    pub(crate) fn idempotent<Q: Serialize, A: Remember>(
        &self,
        key: Option<&IdempotencyKey>,
        operation: &str,
        request: &Q,
        run: impl FnOnce(&Transaction<'_>, DateTime<Utc>) -> Result<A, PortalError>,
    ) -> Result<A, PortalError> {
        let request_json =
            zeroize::Zeroizing::new(serde_json::to_vec(request).map_err(PortalError::internal)?);
        let request_digest = sha256(&[&request_json]).to_vec();
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = self.now();
        self.sweep(&tx, now)?;
        let Some(key) = key else {
            let outcome = run(&tx, now);
            if !matches!(outcome, Err(PortalError::Internal { .. })) {
                tx.commit()?;
            }
            return outcome;
        };
        // The store keeps the key's hash, and the pad mixes in the key
        // itself: only a retry holding the key (128 random bits, the
        // phone's) unseals, however guessable the request is.
        let key_id = sha256(&[
            b"mynakit portal idempotency key v1\0",
            key.as_str().as_bytes(),
        ])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
        let pad = sha256(&[
            b"mynakit portal remembered answer v2\0",
            key.as_str().as_bytes(),
            b"\0",
            &request_json,
        ]);
        let earlier: Option<(String, Vec<u8>, String)> = tx
            .query_row(
                "SELECT operation, request, answer FROM idempotency WHERE key = ?1",
                params![key_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((op, digest_then, answer)) = earlier {
            tx.commit()?;
            if op != operation || digest_then != request_digest {
                return Err(PortalError::IdempotencyKeyReused);
            }
            return match serde_json::from_str(&answer).map_err(PortalError::internal)? {
                Remembered::Ok(mut a) => {
                    A::seal(&mut a, &pad);
                    Ok(a)
                }
                Remembered::Err(e) => Err(e),
            };
        }
        let outcome = run(&tx, now);
        if let Err(PortalError::Internal { .. }) = outcome {
            return outcome;
        }
        let remembered = match &outcome {
            Ok(a) => {
                let mut sealed = serde_json::from_value::<A>(
                    serde_json::to_value(a).map_err(PortalError::internal)?,
                )
                .map_err(PortalError::internal)?;
                sealed.seal(&pad);
                serde_json::to_string(&Remembered::Ok(sealed))
            }
            Err(e) => serde_json::to_string(&Remembered::<A>::Err(e.clone())),
        }
        .map_err(PortalError::internal)?;
        tx.execute(
            "INSERT INTO idempotency(key, operation, request, answer) VALUES (?1, ?2, ?3, ?4)",
            params![key_id, operation, request_digest, remembered],
        )?;
        tx.commit()?;
        outcome
    }

    /// Reads (and may write) in one transaction after the sweeps, with no
    /// idempotency key (GETs, the sandbox's admin).
    pub(crate) fn read<A>(
        &self,
        run: impl FnOnce(&Transaction<'_>, DateTime<Utc>) -> Result<A, PortalError>,
    ) -> Result<A, PortalError> {
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = self.now();
        self.sweep(&tx, now)?;
        let a = run(&tx, now)?;
        tx.commit()?;
        Ok(a)
    }

    /// Who calls: the session of the bearer token (`login`), and with
    /// `On-Behalf-Of`, the holder whose grant (`agents`) allows `needs`
    /// (P5). A route only the holder may use (managing agents) passes
    /// `None`: an agent is refused there.
    pub(crate) fn caller(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        headers: &[(String, String)],
        needs: Option<AgentScope>,
    ) -> Result<Caller, PortalError> {
        let token = http::bearer(headers).ok_or(PortalError::InvalidToken)?;
        let session = login::session_of_access_token(tx, &token, now)?;
        match http::header(headers, ON_BEHALF_OF_HEADER) {
            None => Ok(Caller {
                principal: session.person.clone(),
                person: session.person,
                grant: None,
                serial: session.serial,
            }),
            Some(grant) => {
                let Some(needs) = needs else {
                    return Err(PortalError::OutsideAgentScope);
                };
                let principal = agents::principal_for(tx, &session.person, grant, needs)?;
                Ok(Caller {
                    person: session.person,
                    principal,
                    grant: Some(grant.to_owned()),
                    serial: session.serial,
                })
            }
        }
    }
}

/// A setting of the portal's store.
pub(crate) fn setting(tx: &Transaction<'_>, name: &str) -> Result<Option<Vec<u8>>, PortalError> {
    Ok(tx
        .query_row(
            "SELECT value FROM settings WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()?)
}

/// Sets a setting of the portal's store.
pub(crate) fn set_setting(
    tx: &Transaction<'_>,
    name: &str,
    value: &[u8],
) -> Result<(), PortalError> {
    tx.execute(
        "INSERT INTO settings(name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}
