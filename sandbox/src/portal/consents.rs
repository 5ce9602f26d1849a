//! The consent broker and the sandbox's one sample third-party service
//! (S1, `docs/portal-protocol.md` "Third-party service").
//!
//! The service (`sample-health-app`) asks for named items with a purpose
//! and a retention period; the holder (or an agent with `consents_manage`,
//! P5) grants a subset or refuses, after agreeing to the terms in force
//! (P7). On a grant the service fetches, in process and at once, exactly
//! the granted items (`insurance::self_information`) and keeps them with
//! the purpose and `retain_until`. The clock's sweep purges its copy when
//! the retention ends; a withdrawal purges it at once; both are logged.
//!
//! **A stand-in**: the service's copy is personal data kept in the
//! sandbox's own store (in clear, as the portal's registries are), to show
//! what a service holds and when it must let go of it. Nothing is kept
//! past `retain_until`: the copy carries its own end, every transaction
//! sweeps before its work, and the service's read checks the end again.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::portal::policy::{CONSENT_REQUEST_LIFETIME, MAX_RETENTION_DAYS};
use mynakit_core::portal::wire::{
    AgentScope, Consent, ConsentRequest, ConsentRequestState, ConsentState, DataItem, GrantConsent,
};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::PortalError;
use super::http::{Reply, Request, Route, json, key, parse};
use super::{Caller, PortalAuthority, Remember, insurance, random_hex, time};

/// The sandbox's sample third-party service.
pub const SAMPLE_SERVICE_ID: &str = "sample-health-app";
/// Its name, as the holder is shown it.
pub const SAMPLE_SERVICE_NAME: &str = "Sample Health App";
/// The longest purpose a service may state, in characters. Policy: 500,
/// room for a sentence or two; not an official number.
pub const MAX_PURPOSE_CHARS: usize = 500;

/// The longest a copy may be kept, seconds: [`MAX_RETENTION_DAYS`] days,
/// written out in [`SCHEMA`]'s check (a test ties the two).
#[cfg(test)]
const MAX_RETENTION_SECONDS: i64 = 31_536_000;

// S1: the store itself refuses a copy kept longer than the policy allows,
// and any change to a copy (its end included): it is only ever purged.
pub(super) const SCHEMA: &str = "
CREATE TABLE services(service_id TEXT PRIMARY KEY, name TEXT NOT NULL) STRICT;
CREATE TABLE consent_requests(
    request_id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(service_id),
    items TEXT NOT NULL,
    purpose TEXT NOT NULL,
    retention_days INTEGER NOT NULL CHECK (retention_days > 0),
    requested_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    holder TEXT,
    answered_by TEXT,
    answered_at INTEGER) STRICT;
CREATE INDEX consent_requests_pending ON consent_requests(state, expires_at);
CREATE TABLE consents(
    consent_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE REFERENCES consent_requests(request_id),
    holder TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    service_id TEXT NOT NULL REFERENCES services(service_id),
    items TEXT NOT NULL,
    purpose TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    retain_until INTEGER NOT NULL CHECK (retain_until > granted_at),
    state TEXT NOT NULL,
    withdrawn_at INTEGER) STRICT;
CREATE INDEX consents_holder ON consents(holder, granted_at);
CREATE INDEX consents_in_force ON consents(state, retain_until);
CREATE TABLE service_copies(
    consent_id TEXT PRIMARY KEY REFERENCES consents(consent_id),
    service_id TEXT NOT NULL REFERENCES services(service_id),
    purpose TEXT NOT NULL,
    data TEXT NOT NULL,
    unavailable TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    retain_until INTEGER NOT NULL CHECK (retain_until > fetched_at)
        CHECK (retain_until - fetched_at <= 31536000)) STRICT;
CREATE INDEX service_copies_until ON service_copies(retain_until);
CREATE TRIGGER service_copies_keep_their_end BEFORE UPDATE ON service_copies
BEGIN SELECT RAISE(ABORT, 'a service copy is never changed, only purged'); END;
CREATE TABLE service_purges(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id TEXT NOT NULL,
    consent_id TEXT NOT NULL,
    items TEXT NOT NULL,
    reason TEXT NOT NULL,
    purged_at INTEGER NOT NULL) STRICT;
";

/// `POST /v1/services/{service}/consent-requests`: what a service asks
/// the holder for (S1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskConsent {
    /// The items wanted (at least one).
    pub items: Vec<DataItem>,
    /// What they will be used for, and only for (S1).
    pub purpose: String,
    /// How long the service will keep them: 1 to
    /// [`MAX_RETENTION_DAYS`] days (S1).
    pub retention_days: u32,
}

/// `GET /v1/services/{service}/data/{consent_id}`: what the service keeps
/// under one consent — only the granted items, with the purpose and the
/// end of the retention (S1). Personal data: redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCopy {
    /// The consent it was fetched under.
    pub consent_id: String,
    /// The service.
    pub service_id: String,
    /// The only purpose it may be used for.
    pub purpose: String,
    /// When the service fetched it (the grant).
    pub fetched_at: DateTime<Utc>,
    /// When it is purged.
    pub retain_until: DateTime<Utc>,
    /// The values, by item: only items granted.
    pub data: BTreeMap<DataItem, serde_json::Value>,
    /// Granted items the portal had no value for (e.g. no insurer record).
    pub unavailable: Vec<DataItem>,
}

impl fmt::Debug for ServiceCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceCopy")
            .field("consent_id", &self.consent_id)
            .field("service_id", &self.service_id)
            .field("fetched_at", &self.fetched_at)
            .field("retain_until", &self.retain_until)
            .field("items", &self.data.keys().collect::<Vec<_>>())
            .field("unavailable", &self.unavailable)
            .finish_non_exhaustive()
    }
}

/// Why a service's copy was purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeReason {
    /// The agreed retention period ended (the clock's sweep).
    RetentionEnded,
    /// The holder withdrew the consent.
    Withdrawn,
}

/// One line of a service's purge log
/// (`GET /v1/sandbox/services/{service}/purges`, oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purge {
    /// The service.
    pub service_id: String,
    /// The consent the copy was kept under.
    pub consent_id: String,
    /// The items that were kept (names only).
    pub items: Vec<DataItem>,
    /// Why.
    pub reason: PurgeReason,
    /// When.
    pub purged_at: DateTime<Utc>,
}

impl Remember for ConsentRequest {}
impl Remember for Consent {}

/// How the service fetches one item of a person (S1): the portal's
/// self-information API, in process. A parameter so that the broker can
/// be tested on its own.
type Fetch =
    fn(&Transaction<'_>, &str, DataItem, DateTime<Utc>) -> Result<serde_json::Value, PortalError>;

pub(super) fn seed(tx: &Transaction<'_>, _now: DateTime<Utc>) -> Result<(), PortalError> {
    tx.execute(
        "INSERT INTO services(service_id, name) VALUES (?1, ?2)",
        params![SAMPLE_SERVICE_ID, SAMPLE_SERVICE_NAME],
    )?;
    Ok(())
}

/// The clock's part (S1): unanswered requests lapse; a consent whose
/// retention ended is marked expired and the service's copy purged (and
/// any copy past its own end, whatever its consent says).
pub(super) fn sweep(tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<(), PortalError> {
    let now_s = now.timestamp();
    tx.execute(
        "UPDATE consent_requests SET state = ?1 WHERE state = ?2 AND expires_at <= ?3",
        params![
            text(ConsentRequestState::Expired)?,
            text(ConsentRequestState::Pending)?,
            now_s
        ],
    )?;
    let ended: Vec<String> = {
        let mut statement = tx.prepare(
            "SELECT consent_id FROM consents WHERE state = ?1 AND retain_until <= ?2
             UNION SELECT consent_id FROM service_copies WHERE retain_until <= ?2",
        )?;
        let rows =
            statement.query_map(params![text(ConsentState::Active)?, now_s], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for consent_id in ended {
        tx.execute(
            "UPDATE consents SET state = ?1 WHERE consent_id = ?2 AND state = ?3",
            params![
                text(ConsentState::Expired)?,
                consent_id,
                text(ConsentState::Active)?
            ],
        )?;
        purge(tx, &consent_id, PurgeReason::RetentionEnded, now)?;
    }
    Ok(())
}

/// Deletes the service's copy under `consent_id`, if it keeps one, and
/// logs it.
fn purge(
    tx: &Transaction<'_>,
    consent_id: &str,
    reason: PurgeReason,
    now: DateTime<Utc>,
) -> Result<(), PortalError> {
    let copy: Option<(String, String)> = tx
        .query_row(
            "SELECT service_id, data FROM service_copies WHERE consent_id = ?1",
            params![consent_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((service_id, data)) = copy else {
        return Ok(());
    };
    let data: BTreeMap<DataItem, serde_json::Value> = from_text(&data)?;
    let items: Vec<DataItem> = data.into_keys().collect();
    tx.execute(
        "DELETE FROM service_copies WHERE consent_id = ?1",
        params![consent_id],
    )?;
    tx.execute(
        "INSERT INTO service_purges(service_id, consent_id, items, reason, purged_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            service_id,
            consent_id,
            to_text(&items)?,
            text(reason)?,
            now.timestamp()
        ],
    )?;
    Ok(())
}

// ---- the service's side ---------------------------------------------------

fn service_name(tx: &Transaction<'_>, service_id: &str) -> Result<String, PortalError> {
    tx.query_row(
        "SELECT name FROM services WHERE service_id = ?1",
        params![service_id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or(PortalError::NotFound)
}

/// A service asks (S1). Refused: no items, no purpose or one too long, a
/// retention of 0 days or over [`MAX_RETENTION_DAYS`].
pub(crate) fn ask(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    service_id: &str,
    ask: &AskConsent,
) -> Result<ConsentRequest, PortalError> {
    let service_name = service_name(tx, service_id)?;
    let items = distinct(&ask.items);
    if items.is_empty() {
        return Err(PortalError::bad(
            "a consent request names at least one item",
        ));
    }
    let purpose = ask.purpose.trim();
    if purpose.is_empty()
        || purpose.chars().count() > MAX_PURPOSE_CHARS
        || purpose.chars().any(char::is_control)
    {
        return Err(PortalError::bad(format!(
            "the purpose is 1 to {MAX_PURPOSE_CHARS} characters of text"
        )));
    }
    if ask.retention_days == 0 || ask.retention_days > MAX_RETENTION_DAYS {
        return Err(PortalError::bad(format!(
            "the retention is 1 to {MAX_RETENTION_DAYS} days"
        )));
    }
    let lifetime = TimeDelta::from_std(CONSENT_REQUEST_LIFETIME).map_err(PortalError::internal)?;
    let request = ConsentRequest {
        request_id: random_hex::<16>()?,
        service_id: service_id.to_owned(),
        service_name,
        items,
        purpose: purpose.to_owned(),
        retention_days: ask.retention_days,
        requested_at: now,
        expires_at: now + lifetime,
        state: ConsentRequestState::Pending,
    };
    tx.execute(
        "INSERT INTO consent_requests(request_id, service_id, items, purpose, retention_days,
             requested_at, expires_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            request.request_id,
            request.service_id,
            to_text(&request.items)?,
            request.purpose,
            request.retention_days,
            request.requested_at.timestamp(),
            request.expires_at.timestamp(),
            text(request.state)?
        ],
    )?;
    Ok(request)
}

/// What the service keeps under `consent_id`: only while the consent is
/// in force and its retention runs (else `consent_not_in_force`; the copy
/// is gone then).
pub(crate) fn service_copy(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    service_id: &str,
    consent_id: &str,
) -> Result<ServiceCopy, PortalError> {
    service_name(tx, service_id)?;
    let state: Option<String> = tx
        .query_row(
            "SELECT state FROM consents WHERE consent_id = ?1 AND service_id = ?2",
            params![consent_id, service_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(state) = state else {
        return Err(PortalError::NotFound);
    };
    if from_text_value::<ConsentState>(&state)? != ConsentState::Active {
        return Err(PortalError::ConsentNotInForce);
    }
    // The retention is checked here too, not only by the sweep.
    let copy = tx
        .query_row(
            "SELECT purpose, data, unavailable, fetched_at, retain_until FROM service_copies
             WHERE consent_id = ?1 AND retain_until > ?2",
            params![consent_id, now.timestamp()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((purpose, data, unavailable, fetched_at, retain_until)) = copy else {
        return Err(PortalError::ConsentNotInForce);
    };
    Ok(ServiceCopy {
        consent_id: consent_id.to_owned(),
        service_id: service_id.to_owned(),
        purpose,
        fetched_at: time(fetched_at),
        retain_until: time(retain_until),
        data: from_text(&data)?,
        unavailable: from_text(&unavailable)?,
    })
}

/// The service's purge log, oldest first.
pub(crate) fn purges(tx: &Transaction<'_>, service_id: &str) -> Result<Vec<Purge>, PortalError> {
    service_name(tx, service_id)?;
    let mut statement = tx.prepare(
        "SELECT consent_id, items, reason, purged_at FROM service_purges
         WHERE service_id = ?1 ORDER BY seq",
    )?;
    let rows = statement.query_map(params![service_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut purges = Vec::new();
    for row in rows {
        let (consent_id, items, reason, purged_at) = row?;
        purges.push(Purge {
            service_id: service_id.to_owned(),
            consent_id,
            items: from_text(&items)?,
            reason: from_text_value(&reason)?,
            purged_at: time(purged_at),
        });
    }
    Ok(purges)
}

// ---- the holder's side ----------------------------------------------------

struct RequestRow {
    request: ConsentRequest,
    holder: Option<String>,
}

fn request_row(tx: &Transaction<'_>, request_id: &str) -> Result<RequestRow, PortalError> {
    let row = tx
        .query_row(
            "SELECT r.service_id, s.name, r.items, r.purpose, r.retention_days, r.requested_at,
                    r.expires_at, r.state, r.holder
             FROM consent_requests r JOIN services s ON s.service_id = r.service_id
             WHERE r.request_id = ?1",
            params![request_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((service_id, service_name, items, purpose, retention_days, at, until, state, holder)) =
        row
    else {
        return Err(PortalError::NotFound);
    };
    Ok(RequestRow {
        request: ConsentRequest {
            request_id: request_id.to_owned(),
            service_id,
            service_name,
            items: from_text(&items)?,
            purpose,
            retention_days,
            requested_at: time(at),
            expires_at: time(until),
            state: from_text_value(&state)?,
        },
        holder,
    })
}

/// A request as `principal` sees it: any pending one (its id is what the
/// service gave the holder), or one answered for `principal`; one
/// answered for someone else is not found.
fn request_for(
    tx: &Transaction<'_>,
    principal: &str,
    request_id: &str,
) -> Result<ConsentRequest, PortalError> {
    let row = request_row(tx, request_id)?;
    match row.holder {
        Some(holder) if holder != principal => Err(PortalError::NotFound),
        _ => Ok(row.request),
    }
}

/// A request that can still be answered: pending and not lapsed.
fn answerable(
    tx: &Transaction<'_>,
    caller: &Caller,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<ConsentRequest, PortalError> {
    let request = request_for(tx, &caller.principal, request_id)?;
    // P7: every state change needs the terms in force agreed to (the
    // holder's, whoever acts).
    insurance::require_current_terms(tx, &caller.principal)?;
    if request.state != ConsentRequestState::Pending || request.expires_at <= now {
        return Err(PortalError::ConsentNotInForce);
    }
    Ok(request)
}

fn mark_answered(
    tx: &Transaction<'_>,
    caller: &Caller,
    request_id: &str,
    state: ConsentRequestState,
    now: DateTime<Utc>,
) -> Result<(), PortalError> {
    tx.execute(
        "UPDATE consent_requests SET state = ?1, holder = ?2, answered_by = ?3, answered_at = ?4
         WHERE request_id = ?5",
        params![
            text(state)?,
            caller.principal,
            caller.person,
            now.timestamp(),
            request_id
        ],
    )?;
    Ok(())
}

/// Grants `items` (a non-empty subset of those asked, else
/// `items_not_requested`); the service then fetches exactly those, at
/// once, through `fetch`, and keeps them until `retain_until`.
fn grant(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    caller: &Caller,
    request_id: &str,
    grant: &GrantConsent,
    fetch: Fetch,
) -> Result<Consent, PortalError> {
    let request = answerable(tx, caller, request_id, now)?;
    let items = distinct(&grant.items);
    if items.is_empty() || items.iter().any(|i| !request.items.contains(i)) {
        return Err(PortalError::ItemsNotRequested);
    }
    let retention = TimeDelta::try_days(i64::from(request.retention_days))
        .ok_or_else(|| PortalError::internal("retention out of range"))?;
    let consent = Consent {
        consent_id: random_hex::<16>()?,
        request_id: request.request_id.clone(),
        service_id: request.service_id.clone(),
        service_name: request.service_name.clone(),
        items,
        purpose: request.purpose.clone(),
        granted_at: now,
        retain_until: now + retention,
        state: ConsentState::Active,
        withdrawn_at: None,
    };
    mark_answered(tx, caller, request_id, ConsentRequestState::Granted, now)?;
    tx.execute(
        "INSERT INTO consents(consent_id, request_id, holder, granted_by, service_id, items,
             purpose, granted_at, retain_until, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            consent.consent_id,
            consent.request_id,
            caller.principal,
            caller.person,
            consent.service_id,
            to_text(&consent.items)?,
            consent.purpose,
            consent.granted_at.timestamp(),
            consent.retain_until.timestamp(),
            text(consent.state)?
        ],
    )?;
    // The service's fetch: exactly the granted items, nothing else.
    let mut data = BTreeMap::new();
    let mut unavailable = Vec::new();
    for item in &consent.items {
        match fetch(tx, &caller.principal, *item, now) {
            // No value (null): nothing to keep.
            Ok(serde_json::Value::Null) => unavailable.push(*item),
            Ok(value) => {
                data.insert(*item, value);
            }
            // A failure inside is not remembered and rolls everything back.
            Err(e @ PortalError::Internal { .. }) => return Err(e),
            // No value (e.g. no insurer record): the service keeps none.
            Err(_) => unavailable.push(*item),
        }
    }
    tx.execute(
        "INSERT INTO service_copies(consent_id, service_id, purpose, data, unavailable,
             fetched_at, retain_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            consent.consent_id,
            consent.service_id,
            consent.purpose,
            to_text(&data)?,
            to_text(&unavailable)?,
            now.timestamp(),
            consent.retain_until.timestamp()
        ],
    )?;
    Ok(consent)
}

/// Refuses the request: the service gets nothing.
fn refuse(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    caller: &Caller,
    request_id: &str,
) -> Result<ConsentRequest, PortalError> {
    let mut request = answerable(tx, caller, request_id, now)?;
    mark_answered(tx, caller, request_id, ConsentRequestState::Refused, now)?;
    request.state = ConsentRequestState::Refused;
    Ok(request)
}

fn consent_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConsentFields> {
    Ok(ConsentFields {
        consent_id: r.get(0)?,
        request_id: r.get(1)?,
        service_id: r.get(2)?,
        service_name: r.get(3)?,
        items: r.get(4)?,
        purpose: r.get(5)?,
        granted_at: r.get(6)?,
        retain_until: r.get(7)?,
        state: r.get(8)?,
        withdrawn_at: r.get(9)?,
    })
}

const CONSENT_COLUMNS: &str = "c.consent_id, c.request_id, c.service_id, s.name, c.items,
    c.purpose, c.granted_at, c.retain_until, c.state, c.withdrawn_at
    FROM consents c JOIN services s ON s.service_id = c.service_id";

struct ConsentFields {
    consent_id: String,
    request_id: String,
    service_id: String,
    service_name: String,
    items: String,
    purpose: String,
    granted_at: i64,
    retain_until: i64,
    state: String,
    withdrawn_at: Option<i64>,
}

impl ConsentFields {
    fn consent(self) -> Result<Consent, PortalError> {
        Ok(Consent {
            consent_id: self.consent_id,
            request_id: self.request_id,
            service_id: self.service_id,
            service_name: self.service_name,
            items: from_text(&self.items)?,
            purpose: self.purpose,
            granted_at: time(self.granted_at),
            retain_until: time(self.retain_until),
            state: from_text_value(&self.state)?,
            withdrawn_at: self.withdrawn_at.map(time),
        })
    }
}

/// The consents `principal` gave, newest first.
fn consents(tx: &Transaction<'_>, principal: &str) -> Result<Vec<Consent>, PortalError> {
    let mut statement = tx.prepare(&format!(
        "SELECT {CONSENT_COLUMNS} WHERE c.holder = ?1 ORDER BY c.granted_at DESC, c.rowid DESC"
    ))?;
    let rows = statement.query_map(params![principal], consent_of_row)?;
    let mut consents = Vec::new();
    for row in rows {
        consents.push(row?.consent()?);
    }
    Ok(consents)
}

/// Withdraws a consent in force: the service's copy is purged at once,
/// whatever terms version the holder agreed to (S1, P7 exemption).
fn withdraw(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    caller: &Caller,
    consent_id: &str,
) -> Result<Consent, PortalError> {
    let fields = tx
        .query_row(
            &format!("SELECT {CONSENT_COLUMNS} WHERE c.consent_id = ?1 AND c.holder = ?2"),
            params![consent_id, caller.principal],
            consent_of_row,
        )
        .optional()?
        .ok_or(PortalError::NotFound)?;
    let mut consent = fields.consent()?;
    // No P7 check: a withdrawal takes the holder's data back from the
    // service (S1) and must not wait for agreement to a newly published
    // terms version (docs/portal-protocol.md, P7).
    if consent.state != ConsentState::Active {
        return Err(PortalError::ConsentNotInForce);
    }
    tx.execute(
        "UPDATE consents SET state = ?1, withdrawn_at = ?2 WHERE consent_id = ?3",
        params![text(ConsentState::Withdrawn)?, now.timestamp(), consent_id],
    )?;
    purge(tx, consent_id, PurgeReason::Withdrawn, now)?;
    consent.state = ConsentState::Withdrawn;
    consent.withdrawn_at = Some(now);
    Ok(consent)
}

// ---- routes -----------------------------------------------------------------

pub(super) fn route(portal: &PortalAuthority, request: &Request<'_>, admin: bool) -> Route {
    let headers = request.headers;
    let outcome = match (request.method, request.segments) {
        ("POST", ["v1", "services", service, "consent-requests"]) => {
            service_asks(portal, request, service)
        }
        // The service's own copy is the service's, not the portal's to show
        // to a bearer (an agent with consents_read lists the ids): sandbox
        // admin only, as the service's stand-in.
        ("GET", ["v1", "sandbox", "services", service, "data", consent_id]) if admin => portal
            .read(|tx, now| service_copy(tx, now, service, consent_id))
            .and_then(|copy| json(200, &copy)),
        ("GET", ["v1", "sandbox", "services", service, "purges"]) if admin => portal
            .read(|tx, _| purges(tx, service))
            .and_then(|purges| json(200, &purges)),
        ("GET", ["v1", "portal", "consent-requests", id]) => portal
            .read(|tx, now| {
                let caller = portal.caller(tx, now, headers, Some(AgentScope::ConsentsRead))?;
                request_for(tx, &caller.principal, id)
            })
            .and_then(|r| json(200, &r)),
        ("POST", ["v1", "portal", "consent-requests", id, "grant"]) => {
            holder_grants(portal, request, id)
        }
        ("POST", ["v1", "portal", "consent-requests", id, "refusal"]) => {
            holder_refuses(portal, request, id)
        }
        ("GET", ["v1", "portal", "consents"]) => portal
            .read(|tx, now| {
                let caller = portal.caller(tx, now, headers, Some(AgentScope::ConsentsRead))?;
                consents(tx, &caller.principal)
            })
            .and_then(|c| json(200, &c)),
        ("DELETE", ["v1", "portal", "consents", id]) => changing(
            portal,
            request,
            "portal/consents/withdraw",
            id,
            |tx, now, caller| withdraw(tx, now, caller, id),
        )
        .and_then(|c| json(200, &c)),
        _ => return None,
    };
    Some(outcome)
}

fn service_asks(
    portal: &PortalAuthority,
    request: &Request<'_>,
    service: &str,
) -> Result<Reply, PortalError> {
    let body: AskConsent = parse(request.body)?;
    let asked = portal.idempotent(
        key(request.headers)?.as_ref(),
        "services/consent-requests",
        &(service, &body),
        |tx, now| ask(tx, now, service, &body),
    )?;
    json(201, &asked)
}

fn holder_grants(
    portal: &PortalAuthority,
    request: &Request<'_>,
    id: &str,
) -> Result<Reply, PortalError> {
    let body: GrantConsent = parse(request.body)?;
    let consent = changing(
        portal,
        request,
        "portal/consents/grant",
        &(id, &body),
        |tx, now, caller| grant(tx, now, caller, id, &body, insurance::self_information),
    )?;
    json(201, &consent)
}

fn holder_refuses(
    portal: &PortalAuthority,
    request: &Request<'_>,
    id: &str,
) -> Result<Reply, PortalError> {
    // The body is `{}`; anything else that is JSON is ignored.
    let _: serde_json::Value = parse(request.body)?;
    let refused = changing(
        portal,
        request,
        "portal/consents/refuse",
        &id,
        |tx, now, caller| refuse(tx, now, caller, id),
    )?;
    json(200, &refused)
}

/// A state change of the holder's consents (`consents_manage` for an
/// agent, P5), under the request's idempotency key. The caller is resolved
/// first in its own transaction (as insurance.rs's `changing`), so an
/// expired token (the phone refreshes and resends under the same key) or
/// a grant outside its scope is never remembered under the key. The key's
/// remembered answer is bound to the request, the bearer's grant header
/// and the principal, so a replay answers the same caller's same request.
fn changing<A: Remember>(
    portal: &PortalAuthority,
    request: &Request<'_>,
    operation: &str,
    what: &impl Serialize,
    run: impl FnOnce(&Transaction<'_>, DateTime<Utc>, &Caller) -> Result<A, PortalError>,
) -> Result<A, PortalError> {
    let headers = request.headers;
    let on_behalf = super::http::header(headers, mynakit_core::portal::wire::ON_BEHALF_OF_HEADER);
    let key = key(headers)?;
    let needs = Some(AgentScope::ConsentsManage);
    let caller = portal.read(|tx, now| portal.caller(tx, now, headers, needs))?;
    portal.idempotent(
        key.as_ref(),
        operation,
        &(what, on_behalf, &caller.principal),
        |tx, now| {
            // Again inside: the grant may have ended in between (P5).
            let caller = portal.caller(tx, now, headers, needs)?;
            run(tx, now, &caller)
        },
    )
}

// ---- storage helpers --------------------------------------------------------

/// The items once each, in a fixed order.
fn distinct(items: &[DataItem]) -> Vec<DataItem> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items
}

/// An enum's wire name (its serde string).
pub(super) fn text<T: Serialize>(value: T) -> Result<String, PortalError> {
    match serde_json::to_value(value).map_err(PortalError::internal)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(PortalError::internal(format!("not a name: {other}"))),
    }
}

/// The enum a wire name names.
pub(super) fn from_text_value<T: DeserializeOwned>(name: &str) -> Result<T, PortalError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(PortalError::internal)
}

pub(super) fn to_text<T: Serialize>(value: &T) -> Result<String, PortalError> {
    serde_json::to_string(value).map_err(PortalError::internal)
}

pub(super) fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, PortalError> {
    serde_json::from_str(text).map_err(PortalError::internal)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::sync::Arc;

    use mynakit_core::ManualClock;

    fn start() -> DateTime<Utc> {
        time(1_800_000_000)
    }

    fn world() -> (Arc<ManualClock>, PortalAuthority) {
        let clock = Arc::new(ManualClock::new(start()));
        let portal = PortalAuthority::in_memory(clock.clone(), super::super::DEFAULT_BASE_URL)
            .expect("portal");
        for person in ["person-a", "person-b", "person-without-insurer"] {
            agree(&portal, person);
        }
        (clock, portal)
    }

    /// P7: `person` agrees to the version in force (the version read from
    /// the refusal, as a phone reads it).
    pub(in crate::portal) fn agree(portal: &PortalAuthority, person: &str) {
        portal
            .read(
                |tx, now| match insurance::require_current_terms(tx, person) {
                    Err(PortalError::TermsNotAgreed {
                        current_terms_version,
                    }) => insurance::agree_terms(tx, person, &current_terms_version, now).map(drop),
                    other => other,
                },
            )
            .expect("terms agreed");
    }

    fn holder(person: &str) -> Caller {
        Caller {
            person: person.to_owned(),
            principal: person.to_owned(),
            grant: None,
            serial: "01".to_owned(),
        }
    }

    /// The self-information API as this room's tests see it: every item
    /// has a value naming the person and the item, except the insured
    /// card of `person-without-insurer`.
    fn fake_fetch(
        _tx: &Transaction<'_>,
        person: &str,
        item: DataItem,
        _now: DateTime<Utc>,
    ) -> Result<serde_json::Value, PortalError> {
        if person == "person-without-insurer" && item == DataItem::InsuredCard {
            return Err(PortalError::NoInsurerRecord);
        }
        if person == "person-without-insurer" && item == DataItem::InsuranceRegistration {
            return Ok(serde_json::Value::Null);
        }
        Ok(serde_json::json!({ "person": person, "item": text(item)? }))
    }

    fn asked(portal: &PortalAuthority, items: &[DataItem], days: u32) -> ConsentRequest {
        portal
            .read(|tx, now| {
                ask(
                    tx,
                    now,
                    SAMPLE_SERVICE_ID,
                    &AskConsent {
                        items: items.to_vec(),
                        purpose: "reminders for your check-ups".to_owned(),
                        retention_days: days,
                    },
                )
            })
            .expect("ask")
    }

    fn granted(
        portal: &PortalAuthority,
        caller: &Caller,
        request: &str,
        items: &[DataItem],
    ) -> Result<Consent, PortalError> {
        portal.read(|tx, now| {
            grant(
                tx,
                now,
                caller,
                request,
                &GrantConsent {
                    items: items.to_vec(),
                },
                fake_fetch,
            )
        })
    }

    fn copy(portal: &PortalAuthority, consent: &str) -> Result<ServiceCopy, PortalError> {
        portal.read(|tx, now| service_copy(tx, now, SAMPLE_SERVICE_ID, consent))
    }

    fn log(portal: &PortalAuthority) -> Vec<Purge> {
        portal
            .read(|tx, _| purges(tx, SAMPLE_SERVICE_ID))
            .expect("purges")
    }

    const ALL: [DataItem; 3] = [
        DataItem::InsuredCard,
        DataItem::InsuranceRegistration,
        DataItem::CertificateValidity,
    ];

    #[test]
    fn the_service_routes_answer_over_http_and_the_purge_log_is_the_sandbox_s() {
        let (_, portal) = world();
        let send = |method: &str, path: &str, body: &[u8]| {
            super::super::handle_sandbox(&portal, method, path, &[], body)
        };
        let body = br#"{"items":["insured_card"],"purpose":"p","retention_days":7}"#;
        let asked = send(
            "POST",
            "/v1/services/sample-health-app/consent-requests",
            body,
        );
        assert_eq!(asked.status, 201);
        let asked: ConsentRequest = serde_json::from_slice(&asked.body).unwrap();
        assert_eq!(asked.retention_days, 7);
        let unknown = send("POST", "/v1/services/nobody/consent-requests", body);
        assert_eq!(unknown.status, 404);
        let garbled = send(
            "POST",
            "/v1/services/sample-health-app/consent-requests",
            b"{}",
        );
        assert_eq!(garbled.status, 400);
        let log = send("GET", "/v1/sandbox/services/sample-health-app/purges", b"");
        assert_eq!(log.status, 200);
        assert_eq!(log.body, b"[]");
        // Not on the public API.
        let public = super::super::handle(
            &portal,
            "GET",
            "/v1/sandbox/services/sample-health-app/purges",
            &[],
            b"",
        );
        assert_eq!(public.status, 404);
        // The holder's routes need a session.
        let holder = send(
            "GET",
            &format!("/v1/portal/consent-requests/{}", asked.request_id),
            b"",
        );
        assert_eq!(holder.status, 401);
    }

    #[test]
    fn a_service_asks_within_the_policy_s_bounds() {
        let (_, portal) = world();
        let ask_with = |items: Vec<DataItem>, purpose: &str, days: u32| {
            portal.read(|tx, now| {
                ask(
                    tx,
                    now,
                    SAMPLE_SERVICE_ID,
                    &AskConsent {
                        items,
                        purpose: purpose.to_owned(),
                        retention_days: days,
                    },
                )
            })
        };
        let ok = ask_with(vec![DataItem::InsuredCard, DataItem::InsuredCard], "p", 30).unwrap();
        assert_eq!(ok.items, vec![DataItem::InsuredCard]);
        assert_eq!(ok.state, ConsentRequestState::Pending);
        assert_eq!(ok.service_name, SAMPLE_SERVICE_NAME);
        assert_eq!(
            ok.expires_at - ok.requested_at,
            TimeDelta::from_std(CONSENT_REQUEST_LIFETIME).unwrap()
        );
        assert!(ask_with(vec![DataItem::InsuredCard], "p", MAX_RETENTION_DAYS).is_ok());
        for (items, purpose, days) in [
            (vec![], "p", 30),
            (vec![DataItem::InsuredCard], "p", MAX_RETENTION_DAYS + 1),
            (vec![DataItem::InsuredCard], "p", 0),
            (vec![DataItem::InsuredCard], "  ", 30),
        ] {
            assert!(
                matches!(
                    ask_with(items.clone(), purpose, days),
                    Err(PortalError::InvalidRequest { .. })
                ),
                "{items:?} {purpose:?} {days}"
            );
        }
        let unknown = portal.read(|tx, now| {
            ask(
                tx,
                now,
                "another-service",
                &AskConsent {
                    items: vec![DataItem::InsuredCard],
                    purpose: "p".to_owned(),
                    retention_days: 1,
                },
            )
        });
        assert_eq!(unknown, Err(PortalError::NotFound));
    }

    #[test]
    fn the_service_keeps_exactly_the_granted_items_until_retention_ends() {
        let (clock, portal) = world();
        let request = asked(&portal, &ALL, 30);
        let alice = holder("person-a");
        // S1: not asked → refused; none → refused.
        assert_eq!(
            granted(&portal, &alice, &request.request_id, &[]),
            Err(PortalError::ItemsNotRequested)
        );
        let narrow = asked(&portal, &[DataItem::CertificateValidity], 30);
        assert_eq!(
            granted(
                &portal,
                &alice,
                &narrow.request_id,
                &[DataItem::InsuredCard]
            ),
            Err(PortalError::ItemsNotRequested)
        );
        let consent = granted(
            &portal,
            &alice,
            &request.request_id,
            &[DataItem::CertificateValidity],
        )
        .unwrap();
        assert_eq!(consent.items, vec![DataItem::CertificateValidity]);
        assert_eq!(consent.retain_until, start() + TimeDelta::days(30));
        let kept = copy(&portal, &consent.consent_id).unwrap();
        assert_eq!(
            kept.data.keys().copied().collect::<Vec<_>>(),
            vec![DataItem::CertificateValidity]
        );
        assert_eq!(
            kept.data[&DataItem::CertificateValidity]["person"],
            "person-a"
        );
        assert_eq!(kept.purpose, "reminders for your check-ups");
        assert!(!format!("{kept:?}").contains("person-a"));
        // Answered once.
        assert_eq!(
            granted(
                &portal,
                &alice,
                &request.request_id,
                &[DataItem::InsuredCard]
            ),
            Err(PortalError::ConsentNotInForce)
        );
        // Another person does not see it.
        assert_eq!(
            portal.read(|tx, _| request_for(tx, "person-b", &request.request_id)),
            Err(PortalError::NotFound)
        );

        // The last second of the retention: still kept.
        clock.advance(TimeDelta::days(30) - TimeDelta::seconds(1));
        assert!(copy(&portal, &consent.consent_id).is_ok());
        assert!(log(&portal).is_empty());
        clock.advance(TimeDelta::seconds(1));
        assert_eq!(
            copy(&portal, &consent.consent_id),
            Err(PortalError::ConsentNotInForce)
        );
        let rows: i64 = portal
            .read(
                |tx, _| Ok(tx.query_row("SELECT count(*) FROM service_copies", [], |r| r.get(0))?),
            )
            .unwrap();
        assert_eq!(rows, 0, "the copy itself is gone");
        assert_eq!(
            log(&portal),
            vec![Purge {
                service_id: SAMPLE_SERVICE_ID.to_owned(),
                consent_id: consent.consent_id.clone(),
                items: vec![DataItem::CertificateValidity],
                reason: PurgeReason::RetentionEnded,
                purged_at: start() + TimeDelta::days(30),
            }]
        );
        let listed = portal.read(|tx, _| consents(tx, "person-a")).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].state, ConsentState::Expired);
        // Withdrawing an expired consent: not in force.
        assert_eq!(
            portal.read(|tx, now| withdraw(tx, now, &alice, &consent.consent_id)),
            Err(PortalError::ConsentNotInForce)
        );
    }

    #[test]
    fn the_store_refuses_a_copy_kept_longer_or_changed() {
        assert_eq!(
            MAX_RETENTION_SECONDS,
            i64::from(MAX_RETENTION_DAYS) * 86_400
        );
        assert!(SCHEMA.contains(&format!("<= {MAX_RETENTION_SECONDS})")));
        let (_, portal) = world();
        let request = asked(&portal, &[DataItem::CertificateValidity], 2);
        let consent = granted(
            &portal,
            &holder("person-a"),
            &request.request_id,
            &[DataItem::CertificateValidity],
        )
        .unwrap();
        let stretched = portal.read(|tx, _| {
            tx.execute(
                "UPDATE service_copies SET retain_until = retain_until + 86400",
                [],
            )?;
            Ok(())
        });
        assert!(matches!(stretched, Err(PortalError::Internal { .. })));
        let keep_until = |seconds: i64| {
            portal.read(|tx, now| {
                tx.execute(
                    "DELETE FROM service_copies WHERE consent_id = ?1",
                    params![consent.consent_id],
                )?;
                tx.execute(
                    "INSERT INTO service_copies(consent_id, service_id, purpose, data,
                         unavailable, fetched_at, retain_until)
                     VALUES (?1, ?2, 'p', '{}', '[]', ?3, ?4)",
                    params![
                        consent.consent_id,
                        SAMPLE_SERVICE_ID,
                        now.timestamp(),
                        now.timestamp() + seconds
                    ],
                )?;
                Err::<(), _>(PortalError::NotFound)
            })
        };
        // Within the policy the row is taken (then rolled back); over it, not.
        assert_eq!(
            keep_until(MAX_RETENTION_SECONDS),
            Err(PortalError::NotFound)
        );
        assert!(matches!(
            keep_until(MAX_RETENTION_SECONDS + 1),
            Err(PortalError::Internal { .. })
        ));
        assert_eq!(
            copy(&portal, &consent.consent_id).unwrap().retain_until,
            start() + TimeDelta::days(2)
        );
    }

    #[test]
    fn a_copy_past_its_end_is_purged_whatever_its_consent_says() {
        let (clock, portal) = world();
        let request = asked(&portal, &[DataItem::InsuranceRegistration], 2);
        let consent = granted(
            &portal,
            &holder("person-a"),
            &request.request_id,
            &[DataItem::InsuranceRegistration],
        )
        .unwrap();
        // A consent row stretched by mistake must not stretch the copy.
        portal
            .read(|tx, _| {
                tx.execute(
                    "UPDATE consents SET retain_until = retain_until + 86400000",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        clock.advance(TimeDelta::days(2));
        assert_eq!(
            copy(&portal, &consent.consent_id),
            Err(PortalError::ConsentNotInForce)
        );
        assert_eq!(log(&portal).len(), 1);
    }

    #[test]
    fn p7_no_answer_without_the_terms_in_force_agreed() {
        let (_, portal) = world();
        let request = asked(&portal, &ALL, 30);
        let stranger = holder("person-c");
        assert!(matches!(
            granted(&portal, &stranger, &request.request_id, &ALL),
            Err(PortalError::TermsNotAgreed { .. })
        ));
        assert!(matches!(
            portal.read(|tx, now| refuse(tx, now, &stranger, &request.request_id)),
            Err(PortalError::TermsNotAgreed { .. })
        ));
        // Nothing changed: still pending, nothing kept.
        assert_eq!(
            portal
                .read(|tx, _| request_for(tx, "person-c", &request.request_id))
                .unwrap()
                .state,
            ConsentRequestState::Pending
        );
        agree(&portal, "person-c");
        assert!(granted(&portal, &stranger, &request.request_id, &ALL).is_ok());
    }

    #[test]
    fn a_refusal_gives_nothing_and_a_lapsed_request_cannot_be_answered() {
        let (clock, portal) = world();
        let alice = holder("person-a");
        let request = asked(&portal, &ALL, 30);
        let refused = portal
            .read(|tx, now| refuse(tx, now, &alice, &request.request_id))
            .unwrap();
        assert_eq!(refused.state, ConsentRequestState::Refused);
        assert_eq!(
            granted(&portal, &alice, &request.request_id, &ALL),
            Err(PortalError::ConsentNotInForce)
        );
        assert!(
            portal
                .read(|tx, _| consents(tx, "person-a"))
                .unwrap()
                .is_empty()
        );
        let copies: i64 = portal
            .read(
                |tx, _| Ok(tx.query_row("SELECT count(*) FROM service_copies", [], |r| r.get(0))?),
            )
            .unwrap();
        assert_eq!(copies, 0);

        let late = asked(&portal, &ALL, 30);
        clock.advance(TimeDelta::from_std(CONSENT_REQUEST_LIFETIME).unwrap());
        assert_eq!(
            granted(&portal, &alice, &late.request_id, &ALL),
            Err(PortalError::ConsentNotInForce)
        );
        assert_eq!(
            portal
                .read(|tx, _| request_for(tx, "person-a", &late.request_id))
                .unwrap()
                .state,
            ConsentRequestState::Expired
        );
    }

    #[test]
    fn withdrawal_purges_at_once_and_lists_newest_first() {
        let (clock, portal) = world();
        let alice = holder("person-a");
        let first = asked(&portal, &ALL, 30);
        let one = granted(&portal, &alice, &first.request_id, &ALL).unwrap();
        clock.advance(TimeDelta::seconds(5));
        let second = asked(&portal, &[DataItem::InsuredCard], 30);
        let two = granted(
            &portal,
            &alice,
            &second.request_id,
            &[DataItem::InsuredCard],
        )
        .unwrap();
        let listed = portal.read(|tx, _| consents(tx, "person-a")).unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|c| c.consent_id.as_str())
                .collect::<Vec<_>>(),
            vec![two.consent_id.as_str(), one.consent_id.as_str()]
        );
        // Someone else cannot withdraw it.
        assert_eq!(
            portal.read(|tx, now| withdraw(tx, now, &holder("person-b"), &one.consent_id)),
            Err(PortalError::NotFound)
        );
        let withdrawn = portal
            .read(|tx, now| withdraw(tx, now, &alice, &one.consent_id))
            .unwrap();
        assert_eq!(withdrawn.state, ConsentState::Withdrawn);
        assert_eq!(
            withdrawn.withdrawn_at,
            Some(start() + TimeDelta::seconds(5))
        );
        assert_eq!(
            copy(&portal, &one.consent_id),
            Err(PortalError::ConsentNotInForce)
        );
        let purged = log(&portal);
        assert_eq!(purged.len(), 1);
        assert_eq!(purged[0].reason, PurgeReason::Withdrawn);
        assert_eq!(purged[0].items, ALL.to_vec());
        // The other consent's copy is untouched.
        assert!(copy(&portal, &two.consent_id).is_ok());
        // Its retention ending later does not purge it twice.
        clock.advance(TimeDelta::days(31));
        assert_eq!(log(&portal).len(), 2);
    }

    #[test]
    fn an_item_without_a_value_is_not_kept_and_an_agent_grants_for_the_holder() {
        let (_, portal) = world();
        let request = asked(&portal, &ALL, 30);
        let agent = Caller {
            person: "person-agent".to_owned(),
            principal: "person-without-insurer".to_owned(),
            grant: Some("g".to_owned()),
            serial: "02".to_owned(),
        };
        let consent = granted(&portal, &agent, &request.request_id, &ALL).unwrap();
        let kept = copy(&portal, &consent.consent_id).unwrap();
        assert_eq!(
            kept.unavailable,
            vec![DataItem::InsuredCard, DataItem::InsuranceRegistration]
        );
        assert!(!kept.data.contains_key(&DataItem::InsuredCard));
        assert_eq!(
            kept.data[&DataItem::CertificateValidity]["person"],
            "person-without-insurer"
        );
        // The consent is the holder's, not the agent's.
        assert_eq!(
            portal
                .read(|tx, _| consents(tx, "person-without-insurer"))
                .unwrap()
                .len(),
            1
        );
        assert!(
            portal
                .read(|tx, _| consents(tx, "person-agent"))
                .unwrap()
                .is_empty()
        );
    }
}
