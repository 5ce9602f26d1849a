//! A stand-in for J-LIS's directory of authentication certificates: which
//! person each serial was issued to, its validity, its revocation, and the
//! serial it replaced (旧番号, P3: the portal follows a person's earlier
//! serials so a renewed certificate keeps the account and registration).
//!
//! Seeded with the sandbox's two cards: the sample card
//! ([`crate::CardConfig::sample`], [`SAMPLE_PERSON`]) and the sample
//! agent's ([`agent_card_config`], [`AGENT_PERSON`]). The sandbox admin
//! records renewals and revocations (`/v1/sandbox/jlis/…`), as J-LIS does
//! when a municipal window re-issues or revokes a card's certificates.
//!
//! A real relying party learns revocations from J-LIS's CRL/OCSP and the
//! earlier serials through the JPKI platform operator; here both are rows.

use chrono::{DateTime, NaiveDate, Utc};
use mynakit_core::reset::wire::from_hex;
use mynakit_core::{CardCertificate, CertificateRole, MyNumber, TrustAnchors};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::error::PortalError;
use super::http::{Reply, Request, Route, json, parse};
use super::{PortalAuthority, time};
use crate::ca::{Hierarchy, SandboxCa};
use crate::fixtures::FixtureKey;
use crate::holder::{CardConfig, Holder};

pub(super) const SCHEMA: &str = "
CREATE TABLE persons(id TEXT PRIMARY KEY, label TEXT NOT NULL) STRICT;
CREATE TABLE certificates(serial TEXT PRIMARY KEY,
    person TEXT NOT NULL REFERENCES persons(id),
    not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,
    revoked_at INTEGER, previous_serial TEXT REFERENCES certificates(serial)) STRICT;
CREATE INDEX certificates_person ON certificates(person);
";

/// The sample card's holder (the sandbox's `CardConfig::sample()`).
pub const SAMPLE_PERSON: &str = "person-sample";
/// A second holder, the sample agent (P5).
pub const AGENT_PERSON: &str = "person-agent";

/// The sample agent's card: another holder (名前 and My Number differ), its
/// certificates issued on another day so their serials differ from the
/// sample card's. The keys are the same fixture keys (sandbox only).
pub fn agent_card_config() -> CardConfig {
    let mut config = CardConfig::sample();
    let holder = &mut config.holder;
    holder.name = "代理\u{3000}太郎".to_owned();
    holder.address = "東京都千代田区霞が関一丁目３番１号".to_owned();
    holder.birth_date = NaiveDate::from_ymd_opt(1980, 1, 20);
    holder.sex = mynakit_core::Sex::Male;
    // e, with the check digit the number itself needs.
    if let Some(number) = (0..10).find_map(|d| MyNumber::new(&format!("27182818284{d}")).ok()) {
        holder.my_number = number;
    }
    holder.security_code = "7315".to_owned();
    if let Some(day) = NaiveDate::from_ymd_opt(2025, 5, 12) {
        config.issued_on = day;
    }
    config
}

/// The authentication certificate the sandbox CA issues for `config` (what
/// `VirtualCard::new(config).auth_certificate()` holds).
pub fn authentication_certificate_of(config: &CardConfig) -> Result<CardCertificate, PortalError> {
    authentication_certificate(&config.holder, config.issued_on)
}

fn authentication_certificate(
    holder: &Holder,
    issued_on: NaiveDate,
) -> Result<CardCertificate, PortalError> {
    SandboxCa::fixture()
        .issue_authentication(
            holder,
            issued_on,
            FixtureKey::CardAuth.private_key().as_public_key(),
        )
        .map_err(PortalError::internal)
}

/// The anchors of the portal's login: the sandbox JPKI **authentication**
/// root only (a signing certificate never chains here, P2).
pub fn authentication_anchors() -> TrustAnchors {
    TrustAnchors::none()
        .with_certificate(SandboxCa::fixture().root(Hierarchy::Authentication).clone())
}

/// A certificate's serial as the directory keys it: lowercase hex.
pub fn serial_key(certificate: &CardCertificate) -> String {
    certificate.serial_hex().trim().to_ascii_lowercase()
}

pub(super) fn seed(tx: &Transaction<'_>, _now: DateTime<Utc>) -> Result<(), PortalError> {
    for (person, label, config) in [
        (SAMPLE_PERSON, "sample holder", CardConfig::sample()),
        (AGENT_PERSON, "sample agent", agent_card_config()),
    ] {
        tx.execute(
            "INSERT INTO persons(id, label) VALUES (?1, ?2)",
            params![person, label],
        )?;
        let certificate = authentication_certificate_of(&config)?;
        insert(tx, &certificate, person, None)?;
    }
    Ok(())
}

fn insert(
    tx: &Transaction<'_>,
    certificate: &CardCertificate,
    person: &str,
    previous_serial: Option<&str>,
) -> Result<CertificateRow, PortalError> {
    let row = CertificateRow {
        serial: serial_key(certificate),
        person: person.to_owned(),
        not_before: certificate.not_before(),
        not_after: certificate.not_after(),
        revoked_at: None,
        previous_serial: previous_serial.map(str::to_owned),
    };
    tx.execute(
        "INSERT INTO certificates(serial, person, not_before, not_after, revoked_at,
             previous_serial) VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
        params![
            row.serial,
            row.person,
            row.not_before.timestamp(),
            row.not_after.timestamp(),
            row.previous_serial
        ],
    )?;
    Ok(row)
}

/// One authentication certificate in J-LIS's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRow {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The person it was issued to.
    pub person: String,
    /// Validity start.
    pub not_before: DateTime<Utc>,
    /// Validity end.
    pub not_after: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The serial it replaced (旧番号), if a renewal.
    pub previous_serial: Option<String>,
}

const COLUMNS: &str = "serial, person, not_before, not_after, revoked_at, previous_serial";

fn row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<CertificateRow> {
    Ok(CertificateRow {
        serial: r.get(0)?,
        person: r.get(1)?,
        not_before: time(r.get(2)?),
        not_after: time(r.get(3)?),
        revoked_at: r.get::<_, Option<i64>>(4)?.map(time),
        previous_serial: r.get(5)?,
    })
}

/// The directory's row of `serial` (lowercase hex).
pub(crate) fn certificate(
    tx: &Transaction<'_>,
    serial: &str,
) -> Result<Option<CertificateRow>, PortalError> {
    Ok(tx
        .query_row(
            &format!("SELECT {COLUMNS} FROM certificates WHERE serial = ?1"),
            params![serial],
            row_of,
        )
        .optional()?)
}

/// The person's newest authentication certificate.
pub(crate) fn latest_certificate(
    tx: &Transaction<'_>,
    person: &str,
) -> Result<Option<CertificateRow>, PortalError> {
    Ok(tx
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM certificates WHERE person = ?1
                 ORDER BY not_before DESC, rowid DESC LIMIT 1"
            ),
            params![person],
            row_of,
        )
        .optional()?)
}

/// Revokes every certificate of `person` (the card was returned, §6
/// reason 3); returns how many.
pub(crate) fn revoke_person_certificates(
    tx: &Transaction<'_>,
    person: &str,
    now: DateTime<Utc>,
) -> Result<u64, PortalError> {
    let changed = tx.execute(
        "UPDATE certificates SET revoked_at = ?2 WHERE person = ?1 AND revoked_at IS NULL",
        params![person, now.timestamp()],
    )?;
    Ok(u64::try_from(changed).unwrap_or(0))
}

/// `serial` and the serials it replaced, newest first (旧番号, P3): what
/// a room whose records hang on a serial (the insurance registration)
/// searches to find them again after a renewal. A loop in the links (never
/// written by this directory) ends the walk.
pub fn serial_chain(tx: &Transaction<'_>, serial: &str) -> Result<Vec<String>, PortalError> {
    let mut chain = vec![serial.to_owned()];
    let mut next = certificate(tx, serial)?.and_then(|row| row.previous_serial);
    while let Some(serial) = next {
        if chain.contains(&serial) {
            break;
        }
        next = certificate(tx, &serial)?.and_then(|row| row.previous_serial);
        chain.push(serial);
    }
    Ok(chain)
}

/// The person `certificate` was issued to, with its directory row: found
/// by its serial; a serial the directory does not know, by no one (the
/// portal refuses it). The person of a renewed certificate is the person
/// of the serial it replaced (recorded by the renewal).
pub(crate) fn person_of_certificate(
    tx: &Transaction<'_>,
    certificate: &CardCertificate,
) -> Result<Option<CertificateRow>, PortalError> {
    let serial = serial_key(certificate);
    let Some(row) = self::certificate(tx, &serial)? else {
        return Ok(None);
    };
    // The row's own period is J-LIS's: it must be this certificate's.
    if row.not_before != certificate.not_before() || row.not_after != certificate.not_after() {
        return Ok(None);
    }
    Ok(Some(row))
}

/// J-LIS re-issued a holder's authentication certificate (sandbox admin,
/// `POST /v1/sandbox/jlis/renewals`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewal {
    /// The new authentication certificate, DER, hex.
    pub certificate: String,
    /// The serial it replaces (lowercase hex).
    pub previous_serial: String,
}

/// An authentication certificate revoked (sandbox admin,
/// `POST /v1/sandbox/jlis/revocations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Its serial (hex, any case).
    pub serial: String,
}

/// Records a renewal: the new certificate must be a sandbox authentication
/// certificate unknown to the directory; it belongs to the person of
/// `previous_serial`, which must be that person's newest. The previous
/// certificate is revoked at `now`, as JPKI revokes the old certificate at
/// a renewal: a login with it is refused (P2) and cannot move the account
/// back to it (P4); its sessions end (login.rs).
pub(crate) fn record_renewal(
    tx: &Transaction<'_>,
    renewal: &Renewal,
    now: DateTime<Utc>,
) -> Result<CertificateRow, PortalError> {
    let der =
        from_hex(&renewal.certificate).ok_or_else(|| PortalError::bad("certificate: not hex"))?;
    let certificate = CardCertificate::from_der(der)
        .map_err(|e| PortalError::bad(format!("certificate: {e}")))?;
    authentication_anchors()
        .verify(&certificate, CertificateRole::Authentication, &[])
        .map_err(|e| PortalError::CertificateUntrusted {
            reason: e.to_string(),
        })?;
    let previous = renewal.previous_serial.trim().to_ascii_lowercase();
    let earlier = self::certificate(tx, &previous)?.ok_or(PortalError::NotFound)?;
    let serial = serial_key(&certificate);
    if let Some(known) = self::certificate(tx, &serial)? {
        // The same renewal recorded again: the same answer.
        if known.previous_serial.as_deref() == Some(previous.as_str()) {
            return Ok(known);
        }
        return Err(PortalError::bad(
            "that certificate is already in the directory",
        ));
    }
    if latest_certificate(tx, &earlier.person)?.map(|row| row.serial) != Some(previous.clone()) {
        return Err(PortalError::bad(
            "the earlier serial is not the person's newest certificate",
        ));
    }
    let row = insert(tx, &certificate, &earlier.person, Some(&previous))?;
    tx.execute(
        "UPDATE certificates SET revoked_at = ?2 WHERE serial = ?1 AND revoked_at IS NULL",
        params![previous, now.timestamp()],
    )?;
    Ok(row)
}

fn revoke(
    tx: &Transaction<'_>,
    revocation: &Revocation,
    now: DateTime<Utc>,
) -> Result<CertificateRow, PortalError> {
    let serial = revocation.serial.trim().to_ascii_lowercase();
    tx.execute(
        "UPDATE certificates SET revoked_at = ?2 WHERE serial = ?1 AND revoked_at IS NULL",
        params![serial, now.timestamp()],
    )?;
    self::certificate(tx, &serial)?.ok_or(PortalError::NotFound)
}

pub(super) fn route(portal: &PortalAuthority, request: &Request<'_>, admin: bool) -> Route {
    if !admin {
        return None;
    }
    match (request.method, request.segments) {
        ("POST", ["v1", "sandbox", "jlis", "renewals"]) => Some(renew(portal, request)),
        ("POST", ["v1", "sandbox", "jlis", "revocations"]) => Some(revocation(portal, request)),
        ("GET", ["v1", "sandbox", "jlis", "persons", person, "certificate"]) => Some(
            portal
                .read(|tx, _| latest_certificate(tx, person))
                .and_then(|row| row.ok_or(PortalError::NotFound))
                .and_then(|row| json(200, &row)),
        ),
        _ => None,
    }
}

fn renew(portal: &PortalAuthority, request: &Request<'_>) -> Result<Reply, PortalError> {
    let renewal: Renewal = parse(request.body)?;
    let row = portal.read(|tx, now| record_renewal(tx, &renewal, now))?;
    json(201, &row)
}

fn revocation(portal: &PortalAuthority, request: &Request<'_>) -> Result<Reply, PortalError> {
    let revocation: Revocation = parse(request.body)?;
    let row = portal.read(|tx, now| revoke(tx, &revocation, now))?;
    json(200, &row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VirtualCard;

    #[test]
    fn the_seeded_certificates_are_the_cards_own() {
        let sample = VirtualCard::sample();
        let agent = VirtualCard::new(agent_card_config()).unwrap();
        assert_eq!(
            authentication_certificate_of(&CardConfig::sample())
                .unwrap()
                .der(),
            sample.auth_certificate().der()
        );
        assert_eq!(
            authentication_certificate_of(&agent_card_config())
                .unwrap()
                .der(),
            agent.auth_certificate().der()
        );
        assert_ne!(
            serial_key(sample.auth_certificate()),
            serial_key(agent.auth_certificate())
        );
    }
}
