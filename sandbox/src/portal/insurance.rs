//! Terms versions (P7), a stand-in for the insurers and their intermediate
//! server (the insurer registry: insurers, their employers, members), the
//! health-insurance registration (P1 method 2, P3) and the insurer's view
//! of it (rules §6, the joint-use notice's table), all from the same rows,
//! so the phone's `InsuranceStatus` and the insurer's view cannot disagree.
//!
//! A member's authentication-certificate validity is kept on the member's
//! row (`cert_*` columns, as the intermediate server holds it daily):
//! refreshed from J-LIS's directory ([`jlis::latest_certificate`]) by the
//! clock's sweep for members linked to a person, written directly for the
//! benchmark's synthetic members (who have no card in J-LIS). The instants
//! at which renewal opens and at which the §6 flag drops to 0 are computed
//! once per certificate with `mynakit_core::portal::policy`, so the view's
//! reminder lists and counts are plain indexed SQL comparisons with the
//! clock's time.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use mynakit_core::portal::policy::{certificate_standing, expired_release_on, renewal_opens_on};
use mynakit_core::portal::wire::{
    AgentScope, AgreeTerms, CertificateStanding, DataItem, InsuranceStatus, InsuredCard,
    RegisterInsurance, ReleaseReason, TermsAgreement, TermsState, TermsVersion,
};
use mynakit_core::{ExpiryState, japan_date, jst};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::error::PortalError;
use super::http::{Request, Route, json, key, parse};
use super::{Caller, PortalAuthority, Remember, jlis, time};

pub(super) const SCHEMA: &str = "
CREATE TABLE terms_versions(version TEXT PRIMARY KEY, published_at INTEGER NOT NULL) STRICT;
CREATE TABLE terms_agreements(person TEXT NOT NULL,
    version TEXT NOT NULL REFERENCES terms_versions(version),
    agreed_at INTEGER NOT NULL, PRIMARY KEY(person, version)) STRICT;
CREATE TABLE insurers(number TEXT PRIMARY KEY, name TEXT NOT NULL) STRICT;
CREATE TABLE employers(id TEXT PRIMARY KEY, insurer TEXT NOT NULL REFERENCES insurers(number),
    name TEXT NOT NULL) STRICT;
CREATE TABLE members(id INTEGER PRIMARY KEY,
    insurer TEXT NOT NULL REFERENCES insurers(number),
    person TEXT UNIQUE,
    symbol TEXT NOT NULL, number TEXT NOT NULL, branch TEXT NOT NULL,
    employer TEXT REFERENCES employers(id),
    objected INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0,
    registered_on TEXT, released_on TEXT, release_reason INTEGER, serial TEXT,
    cert_not_before INTEGER, cert_not_after INTEGER,
    renewal_opens_at INTEGER, flag_zero_at INTEGER) STRICT;
CREATE INDEX members_insurer ON members(insurer, id);
CREATE INDEX members_employer ON members(employer, id);
CREATE INDEX members_due ON members(flag_zero_at) WHERE state = 1;
";

/// The terms version the sandbox starts with (P7). Ours, not the
/// Mynaportal's real version name.
pub const FIRST_TERMS_VERSION: &str = "2026-04";

/// The sandbox insurer (a made-up 健康保険組合 number: 8 digits, law
/// number 06; not a real insurer).
pub const SAMPLE_INSURER: &str = "06139901";
/// The sandbox insurer's employers (its joint-use group, §6).
pub const SAMPLE_EMPLOYERS: [&str; 2] = ["E001", "E002"];

/// Rows of the insurer's view per page when the query names none.
/// Policy: 1000.
pub const VIEW_PAGE: u32 = 1000;
/// The largest page of the insurer's view. Policy: 10 000.
pub const VIEW_PAGE_MAX: u32 = 10_000;

pub(super) fn seed(tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<(), PortalError> {
    tx.execute(
        "INSERT INTO terms_versions(version, published_at) VALUES (?1, ?2)",
        params![FIRST_TERMS_VERSION, now.timestamp()],
    )?;
    tx.execute(
        "INSERT INTO insurers(number, name) VALUES (?1, ?2)",
        params![SAMPLE_INSURER, "サンドボックス健康保険組合"],
    )?;
    for (id, name) in SAMPLE_EMPLOYERS.iter().zip(["サンプル商事", "テスト工業"]) {
        tx.execute(
            "INSERT INTO employers(id, insurer, name) VALUES (?1, ?2, ?3)",
            params![id, SAMPLE_INSURER, name],
        )?;
    }
    // The two sandbox holders, and two members who have no card link at
    // all (never registered, no certificate known): 紐付勧奨 material.
    let [first, second] = SAMPLE_EMPLOYERS;
    for (person, symbol, number, branch, employer) in [
        (Some(jlis::SAMPLE_PERSON), "1234", "5678", "01", first),
        (Some(jlis::AGENT_PERSON), "1234", "9012", "00", first),
        (None, "1234", "3456", "00", first),
        (None, "77", "1001", "02", second),
    ] {
        tx.execute(
            "INSERT INTO members(insurer, person, symbol, number, branch, employer)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![SAMPLE_INSURER, person, symbol, number, branch, employer],
        )?;
    }
    refresh_certificates(tx)
}

// ---------------------------------------------------------------- time

/// The instant a Japan date begins (00:00 JST), as seconds.
fn japan_midnight(day: NaiveDate) -> Option<i64> {
    day.and_time(NaiveTime::MIN)
        .and_local_timezone(jst())
        .single()
        .map(|t| t.timestamp())
}

fn date_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn date_of(text: Option<String>) -> Option<NaiveDate> {
    text.and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok())
}

/// A certificate's validity as the member row keeps it: `(not_before,
/// not_after, renewal_opens_at, flag_zero_at)`, the last two the instants
/// (00:00 JST) at which `certificate_standing` says renewal is open and
/// the §6 flag becomes 0 (`policy::expired_release_on`).
fn certificate_columns(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> (i64, i64, Option<i64>, Option<i64>) {
    let valid_until = japan_date(not_after);
    (
        not_before.timestamp(),
        not_after.timestamp(),
        japan_midnight(renewal_opens_on(valid_until)),
        expired_release_on(valid_until).and_then(japan_midnight),
    )
}

// ---------------------------------------------------------------- terms (P7)

fn current_terms(tx: &Transaction<'_>) -> Result<TermsVersion, PortalError> {
    tx.query_row(
        "SELECT version, published_at FROM terms_versions
         ORDER BY published_at DESC, rowid DESC LIMIT 1",
        [],
        |r| {
            Ok(TermsVersion {
                version: r.get(0)?,
                published_at: time(r.get(1)?),
            })
        },
    )
    .optional()?
    .ok_or_else(|| PortalError::internal("no terms version published"))
}

fn agreement(
    tx: &Transaction<'_>,
    person: &str,
    version: Option<&str>,
) -> Result<Option<TermsAgreement>, PortalError> {
    Ok(tx
        .query_row(
            "SELECT version, agreed_at FROM terms_agreements
             WHERE person = ?1 AND (?2 IS NULL OR version = ?2)
             ORDER BY agreed_at DESC, rowid DESC LIMIT 1",
            params![person, version],
            |r| {
                Ok(TermsAgreement {
                    version: r.get(0)?,
                    agreed_at: time(r.get(1)?),
                })
            },
        )
        .optional()?)
}

/// P7: the version in force and `person`'s latest agreement.
pub(crate) fn terms_state(tx: &Transaction<'_>, person: &str) -> Result<TermsState, PortalError> {
    Ok(TermsState {
        current: current_terms(tx)?,
        agreed: agreement(tx, person, None)?,
    })
}

/// P7: records that `person` agreed to `version` at `now`; refused with
/// `terms_outdated` unless it is the version in force. Agreeing again to
/// the same version answers the first agreement.
pub(crate) fn agree_terms(
    tx: &Transaction<'_>,
    person: &str,
    version: &str,
    now: DateTime<Utc>,
) -> Result<TermsAgreement, PortalError> {
    if current_terms(tx)?.version != version {
        return Err(PortalError::TermsOutdated);
    }
    if let Some(earlier) = agreement(tx, person, Some(version))? {
        return Ok(earlier);
    }
    tx.execute(
        "INSERT INTO terms_agreements(person, version, agreed_at) VALUES (?1, ?2, ?3)",
        params![person, version, now.timestamp()],
    )?;
    Ok(TermsAgreement {
        version: version.to_owned(),
        agreed_at: now,
    })
}

/// **Sandbox control** (P7): publishes `version` at `now`; it is in force
/// at once. Refused (`invalid_request`) when the name was published before
/// or sorts before the version in force (names are ordered, e.g.
/// `2026-04` < `2026-10`).
pub(crate) fn publish_terms(
    tx: &Transaction<'_>,
    version: &str,
    now: DateTime<Utc>,
) -> Result<TermsVersion, PortalError> {
    let version = version.trim();
    if version.is_empty() || version.len() > 64 {
        return Err(PortalError::bad("a terms version is 1 to 64 characters"));
    }
    let known: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM terms_versions WHERE version = ?1)",
        params![version],
        |r| r.get(0),
    )?;
    if known {
        return Err(PortalError::bad(format!(
            "terms version {version} was published before"
        )));
    }
    let current = current_terms(tx)?;
    if version < current.version.as_str() {
        return Err(PortalError::bad(format!(
            "terms version {version} is older than {} in force",
            current.version
        )));
    }
    // Never before the version in force: "in force" is the latest publication.
    let published_at = now.max(current.published_at);
    tx.execute(
        "INSERT INTO terms_versions(version, published_at) VALUES (?1, ?2)",
        params![version, published_at.timestamp()],
    )?;
    Ok(TermsVersion {
        version: version.to_owned(),
        published_at,
    })
}

/// P7: refuses a state change while `person` has not agreed to the terms
/// version in force (`terms_not_agreed` with that version).
pub(crate) fn require_current_terms(tx: &Transaction<'_>, person: &str) -> Result<(), PortalError> {
    let current = current_terms(tx)?;
    match agreement(tx, person, Some(&current.version))? {
        Some(_) => Ok(()),
        None => Err(PortalError::TermsNotAgreed {
            current_terms_version: current.version,
        }),
    }
}

// ---------------------------------------------------------------- members

/// A member row as the registration reads it.
struct Member {
    id: i64,
    insurer_number: String,
    insurer_name: String,
    symbol: String,
    number: String,
    branch: String,
    state: u8,
    registered_on: Option<NaiveDate>,
    released_on: Option<NaiveDate>,
    release_reason: Option<u8>,
}

fn member_of_person(tx: &Transaction<'_>, person: &str) -> Result<Option<Member>, PortalError> {
    Ok(tx
        .query_row(
            "SELECT m.id, m.insurer, i.name, m.symbol, m.number, m.branch, m.state,
                    m.registered_on, m.released_on, m.release_reason
             FROM members m JOIN insurers i ON i.number = m.insurer WHERE m.person = ?1",
            params![person],
            |r| {
                Ok(Member {
                    id: r.get(0)?,
                    insurer_number: r.get(1)?,
                    insurer_name: r.get(2)?,
                    symbol: r.get(3)?,
                    number: r.get(4)?,
                    branch: r.get(5)?,
                    state: r.get(6)?,
                    registered_on: date_of(r.get(7)?),
                    released_on: date_of(r.get(8)?),
                    release_reason: r.get(9)?,
                })
            },
        )
        .optional()?)
}

/// Copies each person-linked member's newest certificate from J-LIS's
/// directory onto the member row (the intermediate server's daily feed,
/// here at every transaction: a few rows), writing only what changed so
/// a read stays a read.
fn refresh_certificates(tx: &Transaction<'_>) -> Result<(), PortalError> {
    let persons: Vec<(i64, String)> = {
        let mut statement =
            tx.prepare_cached("SELECT id, person FROM members WHERE person IS NOT NULL")?;
        statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    for (id, person) in persons {
        let Some(certificate) = jlis::latest_certificate(tx, &person)? else {
            continue;
        };
        let (not_before, not_after, renewal_at, flag_zero_at) =
            certificate_columns(certificate.not_before, certificate.not_after);
        // P3: a registration follows the person's newest serial (旧番号 chain).
        tx.execute(
            "UPDATE members SET cert_not_before = ?2, cert_not_after = ?3,
                 renewal_opens_at = ?4, flag_zero_at = ?5,
                 serial = CASE WHEN state = 1 THEN ?6 ELSE serial END
             WHERE id = ?1 AND (cert_not_before IS NOT ?2 OR cert_not_after IS NOT ?3
                 OR renewal_opens_at IS NOT ?4 OR flag_zero_at IS NOT ?5
                 OR (state = 1 AND serial IS NOT ?6))",
            params![
                id,
                not_before,
                not_after,
                renewal_at,
                flag_zero_at,
                certificate.serial
            ],
        )?;
    }
    Ok(())
}

/// The clock's sweep (§6 reason 2): a registration whose member's
/// certificate expired three months or more ago (civil-law months, Japan
/// time: `policy::expired_release_on`) is released with reason 2, dated
/// the day it became due — not the day the sweep noticed.
pub(super) fn sweep(tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<(), PortalError> {
    refresh_certificates(tx)?;
    // flag_zero_at is 00:00 JST of the due day: +9 h gives that date in UTC.
    tx.execute(
        "UPDATE members SET state = 0, release_reason = 2,
             released_on = date(flag_zero_at + 32400, 'unixepoch')
         WHERE state = 1 AND flag_zero_at <= ?1",
        params![now.timestamp()],
    )?;
    Ok(())
}

/// P1, P3, §6: `person`'s registration as the phone shows it; the
/// certificate's standing from J-LIS's directory.
pub(crate) fn insurance_status(
    tx: &Transaction<'_>,
    person: &str,
    now: DateTime<Utc>,
) -> Result<InsuranceStatus, PortalError> {
    let certificate = standing(tx, person, now)?;
    let member = member_of_person(tx, person)?;
    Ok(match member {
        None => InsuranceStatus {
            registered: false,
            registered_on: None,
            released_on: None,
            release_reason: None,
            insured_card: None,
            certificate,
        },
        Some(m) => InsuranceStatus {
            registered: m.state == 1,
            registered_on: m.registered_on,
            released_on: m.released_on,
            release_reason: m.release_reason.and_then(ReleaseReason::from_code),
            insured_card: Some(InsuredCard {
                insurer_number: m.insurer_number.clone(),
                insurer_name: m.insurer_name.clone(),
                symbol: m.symbol.clone(),
                number: m.number.clone(),
                branch: m.branch.clone(),
            }),
            certificate,
        },
    })
}

fn standing(
    tx: &Transaction<'_>,
    person: &str,
    now: DateTime<Utc>,
) -> Result<CertificateStanding, PortalError> {
    let certificate = jlis::latest_certificate(tx, person)?.ok_or(PortalError::NotFound)?;
    Ok(certificate_standing(
        certificate.not_before,
        certificate.not_after,
        now,
    ))
}

/// P1 method 2, P3, P7: registers the principal's card as the health
/// insurance card. Checks, in order: the terms in force agreed
/// (`terms_not_agreed`), the body's version is that one (`terms_outdated`),
/// the insurer has the person (`no_insurer_record`), not registered
/// (`already_registered`), the certificate linked not revoked
/// (`certificate_revoked`) and valid now (`certificate_expired`). Links the certificate serial of the session —
/// or, for an agent (P5), the holder's newest serial. The first
/// registration's date is kept across a release and a new registration.
pub(crate) fn register(
    tx: &Transaction<'_>,
    caller: &Caller,
    terms_version: &str,
    now: DateTime<Utc>,
) -> Result<InsuranceStatus, PortalError> {
    let person = caller.principal.as_str();
    require_current_terms(tx, person)?;
    if current_terms(tx)?.version != terms_version {
        return Err(PortalError::TermsOutdated);
    }
    let member = member_of_person(tx, person)?.ok_or(PortalError::NoInsurerRecord)?;
    if member.state == 1 {
        return Err(PortalError::AlreadyRegistered);
    }
    let serial = if caller.is_agent() {
        jlis::latest_certificate(tx, person)?
            .ok_or(PortalError::NotFound)?
            .serial
    } else {
        caller.serial.clone()
    };
    // P3, §6: the registration hangs on a live certificate. A session
    // outliving a returned card (revoked, reason 3) or an agent acting for
    // a holder whose certificate expired must not link it again.
    let certificate = jlis::certificate(tx, &serial)?.ok_or(PortalError::NotFound)?;
    if certificate.revoked_at.is_some() {
        return Err(PortalError::CertificateRevoked);
    }
    if ExpiryState::at(certificate.not_before, certificate.not_after, now) != ExpiryState::Valid {
        return Err(PortalError::CertificateExpired);
    }
    tx.execute(
        "UPDATE members SET state = 1, serial = ?2,
             registered_on = COALESCE(registered_on, ?3),
             released_on = NULL, release_reason = NULL
         WHERE id = ?1",
        params![member.id, serial, date_text(japan_date(now))],
    )?;
    insurance_status(tx, person, now)
}

/// §6 reason 1 (or 3, the card returned): ends the registration of the
/// member linked to `person`, dated today (Japan). `not_registered` unless
/// registered.
pub(crate) fn release(
    tx: &Transaction<'_>,
    person: &str,
    reason: ReleaseReason,
    now: DateTime<Utc>,
) -> Result<(), PortalError> {
    let changed = tx.execute(
        "UPDATE members SET state = 0, released_on = ?2, release_reason = ?3
         WHERE person = ?1 AND state = 1",
        params![person, date_text(japan_date(now)), reason.code()],
    )?;
    if changed == 0 {
        return Err(PortalError::NotRegistered);
    }
    Ok(())
}

/// §6 reason 3: the card was returned. J-LIS revokes the person's
/// certificates, and a registration ends with reason 3 (state 0).
pub(crate) fn card_returned(
    tx: &Transaction<'_>,
    person: &str,
    now: DateTime<Utc>,
) -> Result<CardReturned, PortalError> {
    let member = member_of_person(tx, person)?;
    let revoked_certificates = jlis::revoke_person_certificates(tx, person, now)?;
    if member.is_none() && revoked_certificates == 0 {
        return Err(PortalError::NotFound);
    }
    let released = match release(tx, person, ReleaseReason::CardReturned, now) {
        Ok(()) => true,
        Err(PortalError::NotRegistered) => false,
        Err(e) => return Err(e),
    };
    Ok(CardReturned {
        revoked_certificates,
        released,
    })
}

/// `POST /v1/sandbox/insurer/card-returned`: what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardReturned {
    /// How many of the person's certificates J-LIS revoked.
    pub revoked_certificates: u64,
    /// Whether a registration was released (reason 3).
    pub released: bool,
}

/// `POST /v1/sandbox/insurer/card-returned` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardReturnedRequest {
    /// The person (J-LIS's id) who returned the card.
    pub person: String,
}

/// `POST /v1/sandbox/insurer/objections` body and answer: a member objects
/// to the joint use (opt-out, §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    /// The member's id in the insurer's registry (`InsurerRow::member`).
    pub member: u64,
}

/// §6 opt-out: the member is left out of every employer's view from now
/// on. Objecting again changes nothing. `not_found` for an unknown member.
pub(crate) fn object(tx: &Transaction<'_>, member: u64) -> Result<Objection, PortalError> {
    let id = i64::try_from(member).map_err(|_| PortalError::NotFound)?;
    let changed = tx.execute("UPDATE members SET objected = 1 WHERE id = ?1", params![id])?;
    if changed == 0 {
        return Err(PortalError::NotFound);
    }
    Ok(Objection { member })
}

// ---------------------------------------------------------------- the view (§6)

/// The member's identifiers at the insurer (被保険者証記号・番号・枝番).
/// Personal data: redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberKey {
    /// 記号.
    pub symbol: String,
    /// 番号.
    pub number: String,
    /// 枝番.
    pub branch: String,
}

impl fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemberKey(<redacted>)")
    }
}

/// One row of the insurer's view: the joint-use notice's items (§6).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsurerRow {
    /// The member's id in the registry (for objections).
    pub member: u64,
    /// Symbol, number, branch.
    #[serde(flatten)]
    pub card: MemberKey,
    /// 初回登録状態: 1 registered, 0 not (never, released, card returned).
    pub first_registration_state: u8,
    /// The first registration's date.
    pub registered_on: Option<NaiveDate>,
    /// The release date.
    pub released_on: Option<NaiveDate>,
    /// 初回登録解除区分: 1 member's request, 2 three months or more since
    /// the certificate expired, 3 card returned.
    pub release_reason: Option<u8>,
    /// 電子証明書有効期限切れ状態フラグ: 0 expired and not renewed for three
    /// months or more, 1 valid or expired under three months; `null` when
    /// no certificate of the member is known (no card).
    pub certificate_expiry_flag: Option<u8>,
}

impl fmt::Debug for InsurerRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsurerRow")
            .field("member", &self.member)
            .field("card", &self.card)
            .field("first_registration_state", &self.first_registration_state)
            .field("registered_on", &self.registered_on)
            .field("released_on", &self.released_on)
            .field("release_reason", &self.release_reason)
            .field("certificate_expiry_flag", &self.certificate_expiry_flag)
            .finish()
    }
}

/// One entry of the 再交付勧奨 list (renew the certificate): renewal is
/// open, or the certificate expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalReminder {
    /// Symbol, number, branch.
    #[serde(flatten)]
    pub card: MemberKey,
    /// The §6 flag: 1 renewal open or expired under three months, 0
    /// expired three months or more.
    pub certificate_expiry_flag: u8,
}

/// Counts over all the view's members (not only the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewTotals {
    /// Members in the view.
    pub members: u64,
    /// 紐付勧奨: members in state 0.
    pub link_reminders: u64,
    /// 再交付勧奨: members whose renewal is open or whose certificate expired.
    pub renewal_reminders: u64,
}

/// `GET /v1/sandbox/insurer/view`: the insurer's §6 table, one page of
/// members by id, with that page's two reminder lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsurerView {
    /// The insurer number.
    pub insurer_number: String,
    /// The insurer's name.
    pub insurer_name: String,
    /// The day (Japan) the view describes.
    pub as_of: NaiveDate,
    /// Counts over all members: on the first page only (no `after`), so
    /// walking the pages does not count a million rows each time.
    pub totals: Option<ViewTotals>,
    /// The page's rows, by member id.
    pub rows: Vec<InsurerRow>,
    /// 紐付勧奨 among the page's rows: state 0.
    pub link_reminders: Vec<MemberKey>,
    /// 再交付勧奨 among the page's rows.
    pub renewal_reminders: Vec<RenewalReminder>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_after: Option<u64>,
}

/// `GET /v1/sandbox/insurer/view?employer=E`: what an employer of the
/// insurer's group may see (§6 joint use): only its members who did not
/// object, only those a reminder concerns, and only the identifiers and
/// flag the two reminders need — no dates, no release reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmployerView {
    /// The insurer number.
    pub insurer_number: String,
    /// The employer.
    pub employer: String,
    /// The day (Japan) the view describes.
    pub as_of: NaiveDate,
    /// Counts over all the employer's members who did not object: on the
    /// first page only.
    pub totals: Option<ViewTotals>,
    /// 紐付勧奨 (page).
    pub link_reminders: Vec<MemberKey>,
    /// 再交付勧奨 (page).
    pub renewal_reminders: Vec<RenewalReminder>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_after: Option<u64>,
}

/// The view's query: `insurer` (default the sandbox insurer), `employer`,
/// `after` (a member id), `limit` (default [`VIEW_PAGE`], at most
/// [`VIEW_PAGE_MAX`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewQuery {
    /// The insurer number.
    pub insurer: Option<String>,
    /// An employer of its group.
    pub employer: Option<String>,
    /// Members with a larger id only.
    pub after: u64,
    /// Page size.
    pub limit: Option<u32>,
}

impl ViewQuery {
    /// Parses a query string (`a=b&c=d`, plain values).
    pub fn parse(query: &str) -> Result<Self, PortalError> {
        let mut out = Self::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if value.is_empty() || value.len() > 64 || !value.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(PortalError::bad(format!("query: bad value for {name}")));
            }
            match name {
                "insurer" => out.insurer = Some(value.to_owned()),
                "employer" => out.employer = Some(value.to_owned()),
                "after" => {
                    out.after = value
                        .parse()
                        .map_err(|_| PortalError::bad("query: after is a member id"))?;
                }
                "limit" => {
                    let limit: u32 = value
                        .parse()
                        .map_err(|_| PortalError::bad("query: limit is a number"))?;
                    if limit == 0 || limit > VIEW_PAGE_MAX {
                        return Err(PortalError::bad(format!(
                            "query: limit is 1 to {VIEW_PAGE_MAX}"
                        )));
                    }
                    out.limit = Some(limit);
                }
                _ => return Err(PortalError::bad(format!("query: unknown {name}"))),
            }
        }
        Ok(out)
    }
}

/// Either view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum View {
    /// The insurer's whole table.
    Insurer(InsurerView),
    /// An employer's part.
    Employer(EmployerView),
}

struct ViewRow {
    row: InsurerRow,
    renewal: bool,
}

fn view_row(r: &rusqlite::Row<'_>, now: i64) -> rusqlite::Result<ViewRow> {
    let member: i64 = r.get(0)?;
    let cert_not_after: Option<i64> = r.get(8)?;
    let renewal_at: Option<i64> = r.get(9)?;
    let flag_zero_at: Option<i64> = r.get(10)?;
    let flag = cert_not_after.map(|_| u8::from(flag_zero_at.is_none_or(|at| now < at)));
    Ok(ViewRow {
        row: InsurerRow {
            member: u64::try_from(member).unwrap_or_default(),
            card: MemberKey {
                symbol: r.get(1)?,
                number: r.get(2)?,
                branch: r.get(3)?,
            },
            first_registration_state: r.get(4)?,
            registered_on: date_of(r.get(5)?),
            released_on: date_of(r.get(6)?),
            release_reason: r.get(7)?,
            certificate_expiry_flag: flag,
        },
        renewal: cert_not_after.is_some() && renewal_at.is_some_and(|at| at <= now),
    })
}

const VIEW_COLUMNS: &str = "id, symbol, number, branch, state, registered_on, released_on,
    release_reason, cert_not_after, renewal_opens_at, flag_zero_at";

/// The insurer's view (§6) at `now`, or, with `employer`, that employer's
/// part. Filtering, counting and paging run in SQLite on the indexes; one
/// page of rows reaches Rust.
pub fn view(
    tx: &Transaction<'_>,
    query: &ViewQuery,
    now: DateTime<Utc>,
) -> Result<View, PortalError> {
    let insurer = query.insurer.as_deref().unwrap_or(SAMPLE_INSURER);
    let insurer_name: String = tx
        .query_row(
            "SELECT name FROM insurers WHERE number = ?1",
            params![insurer],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(PortalError::NotFound)?;
    let limit = query.limit.unwrap_or(VIEW_PAGE).clamp(1, VIEW_PAGE_MAX);
    let after = i64::try_from(query.after).unwrap_or(i64::MAX);
    let at = now.timestamp();
    let as_of = japan_date(now);
    let renewal = "(cert_not_after IS NOT NULL AND renewal_opens_at <= ?2)";
    let Some(employer) = &query.employer else {
        let totals = (after == 0)
            .then(|| {
                tx.query_row(
                    &format!(
                        "SELECT COUNT(*), COALESCE(SUM(state = 0), 0),
                             COALESCE(SUM({renewal}), 0)
                         FROM members WHERE insurer = ?1"
                    ),
                    params![insurer, at],
                    totals_of,
                )
            })
            .transpose()?;
        let mut statement = tx.prepare_cached(&format!(
            "SELECT {VIEW_COLUMNS} FROM members WHERE insurer = ?1 AND id > ?3
             ORDER BY id LIMIT ?4"
        ))?;
        let rows = statement
            .query_map(params![insurer, at, after, limit], |r| view_row(r, at))?
            .collect::<Result<Vec<_>, _>>()?;
        let next_after = next_after(&rows, limit, |r| r.row.member);
        let (link_reminders, renewal_reminders) = reminders(&rows);
        return Ok(View::Insurer(InsurerView {
            insurer_number: insurer.to_owned(),
            insurer_name,
            as_of,
            totals,
            rows: rows.into_iter().map(|r| r.row).collect(),
            link_reminders,
            renewal_reminders,
            next_after,
        }));
    };
    let in_group: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM employers WHERE id = ?1 AND insurer = ?2)",
        params![employer, insurer],
        |r| r.get(0),
    )?;
    if !in_group {
        return Err(PortalError::NotFound);
    }
    // §6 joint use: only members who did not object, only the reminders.
    let totals = (after == 0)
        .then(|| {
            tx.query_row(
                &format!(
                    "SELECT COUNT(*), COALESCE(SUM(state = 0), 0), COALESCE(SUM({renewal}), 0)
                     FROM members WHERE employer = ?1 AND objected = 0"
                ),
                params![employer, at],
                totals_of,
            )
        })
        .transpose()?;
    let mut statement = tx.prepare_cached(&format!(
        "SELECT {VIEW_COLUMNS} FROM members
         WHERE employer = ?1 AND objected = 0 AND id > ?3 AND (state = 0 OR {renewal})
         ORDER BY id LIMIT ?4"
    ))?;
    let rows = statement
        .query_map(params![employer, at, after, limit], |r| view_row(r, at))?
        .collect::<Result<Vec<_>, _>>()?;
    let next_after = next_after(&rows, limit, |r| r.row.member);
    let (link_reminders, renewal_reminders) = reminders(&rows);
    Ok(View::Employer(EmployerView {
        insurer_number: insurer.to_owned(),
        employer: employer.clone(),
        as_of,
        totals,
        link_reminders,
        renewal_reminders,
        next_after,
    }))
}

/// [`view`] in its own transaction (after the clock's sweeps): what the
/// sandbox admin route answers, for the CLI and the benchmark.
pub fn insurer_view(portal: &PortalAuthority, query: &ViewQuery) -> Result<View, PortalError> {
    portal.read(|tx, now| view(tx, query, now))
}

fn totals_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<ViewTotals> {
    let count = |i| {
        r.get::<_, i64>(i)
            .map(|n| u64::try_from(n).unwrap_or_default())
    };
    Ok(ViewTotals {
        members: count(0)?,
        link_reminders: count(1)?,
        renewal_reminders: count(2)?,
    })
}

fn next_after<T>(rows: &[T], limit: u32, id: impl Fn(&T) -> u64) -> Option<u64> {
    (rows.len() >= usize::try_from(limit).unwrap_or(usize::MAX))
        .then(|| rows.last().map(id))
        .flatten()
}

fn reminders(rows: &[ViewRow]) -> (Vec<MemberKey>, Vec<RenewalReminder>) {
    let link = rows
        .iter()
        .filter(|r| r.row.first_registration_state == 0)
        .map(|r| r.row.card.clone())
        .collect();
    let renewal = rows
        .iter()
        .filter(|r| r.renewal)
        .filter_map(|r| {
            r.row.certificate_expiry_flag.map(|flag| RenewalReminder {
                card: r.row.card.clone(),
                certificate_expiry_flag: flag,
            })
        })
        .collect();
    (link, renewal)
}

// ---------------------------------------------------------------- synthetic members

/// What [`add_synthetic_members`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntheticMembers {
    /// Members added.
    pub added: u64,
    /// Of which registered (state 1).
    pub registered: u64,
    /// Of which with a certificate known.
    pub with_certificate: u64,
}

/// **Sandbox/benchmark**: adds `count` members to the sandbox insurer in
/// one transaction, without a card link (no person in J-LIS). A
/// deterministic mix: one in five has no certificate; the others' last
/// valid day spreads from 200 days ago to about five years ahead (some in
/// the renewal window, some expired under and over three months); two in
/// three of those are registered (released with reason 2 on the due day
/// if already past it), one in fifty objects to the joint use. Their
/// certificate validity lives on their member rows only.
pub fn add_synthetic_members(
    portal: &PortalAuthority,
    count: u64,
) -> Result<SyntheticMembers, PortalError> {
    portal.read(|tx, now| {
        let mut made = SyntheticMembers {
            added: 0,
            registered: 0,
            with_certificate: 0,
        };
        let base: i64 =
            tx.query_row("SELECT COALESCE(MAX(id), 0) FROM members", [], |r| r.get(0))?;
        let registered_on = date_text(japan_date(now));
        let mut insert = tx.prepare_cached(
            "INSERT INTO members(insurer, symbol, number, branch, employer, objected, state,
                 registered_on, released_on, release_reason, serial, cert_not_before,
                 cert_not_after, renewal_opens_at, flag_zero_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, ?12, ?13, ?14)",
        )?;
        for i in 0..count {
            let n = base.saturating_add(i64::try_from(i).unwrap_or(i64::MAX));
            let employer = if n % 2 == 0 {
                SAMPLE_EMPLOYERS.first()
            } else {
                SAMPLE_EMPLOYERS.last()
            };
            let symbol = format!("{:04}", 2000 + n % 7000);
            let number = format!("{n:08}");
            let branch = format!("{:02}", n % 5);
            let objected = n % 50 == 0;
            let certificate = (n % 5 != 0).then(|| {
                let days = (n.wrapping_mul(7919)).rem_euclid(2000) - 200;
                let not_after = now + TimeDelta::days(days);
                let not_before = not_after - TimeDelta::days(5 * 365);
                certificate_columns(not_before, not_after)
            });
            let registered = certificate.is_some() && n % 3 != 0;
            let (state, released_on, reason) = match certificate {
                Some((_, _, _, Some(due))) if registered && due <= now.timestamp() => {
                    let day = time(due.saturating_add(9 * 3600)).date_naive();
                    (0u8, Some(date_text(day)), Some(2u8))
                }
                _ if registered => (1, None, None),
                _ => (0, None, None),
            };
            let (nb, na, renewal_at, flag_zero_at) = match certificate {
                Some((nb, na, r, f)) => (Some(nb), Some(na), r, f),
                None => (None, None, None, None),
            };
            insert.execute(params![
                SAMPLE_INSURER,
                symbol,
                number,
                branch,
                employer,
                objected,
                state,
                registered.then_some(registered_on.as_str()),
                released_on,
                reason,
                nb,
                na,
                renewal_at,
                flag_zero_at
            ])?;
            made.added += 1;
            made.registered += u64::from(state == 1);
            made.with_certificate += u64::from(certificate.is_some());
        }
        Ok(made)
    })
}

// ---------------------------------------------------------------- S1

/// S1: the value of one self-information item of `person`, as a consent
/// delivers it to a service.
pub(crate) fn self_information(
    tx: &Transaction<'_>,
    person: &str,
    item: DataItem,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, PortalError> {
    let status = insurance_status(tx, person, now)?;
    let value = match item {
        DataItem::InsuredCard => serde_json::to_value(&status.insured_card),
        DataItem::InsuranceRegistration => serde_json::to_value(RegistrationItem {
            registered: status.registered,
            registered_on: status.registered_on,
            released_on: status.released_on,
            release_reason: status.release_reason,
        }),
        DataItem::CertificateValidity => serde_json::to_value(&status.certificate),
    };
    value.map_err(PortalError::internal)
}

/// S1's `insurance_registration` item.
#[derive(Serialize)]
struct RegistrationItem {
    registered: bool,
    registered_on: Option<NaiveDate>,
    released_on: Option<NaiveDate>,
    release_reason: Option<ReleaseReason>,
}

// ---------------------------------------------------------------- routes

impl Remember for TermsAgreement {}
impl Remember for InsuranceStatus {}

/// `POST /v1/sandbox/portal/terms` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishTerms {
    /// The new version's name.
    pub version: String,
}

#[derive(Serialize)]
struct Keyed<'a, T> {
    principal: &'a str,
    body: &'a T,
}

pub(super) fn route(portal: &PortalAuthority, request: &Request<'_>, admin: bool) -> Route {
    let headers = request.headers;
    Some(match (request.method, request.segments) {
        ("GET", ["v1", "portal", "terms"]) => portal
            .read(|tx, now| {
                let caller = portal.caller(tx, now, headers, None)?;
                terms_state(tx, &caller.person)
            })
            .and_then(|state| json(200, &state)),
        ("POST", ["v1", "portal", "terms", "agreements"]) => changing(
            portal,
            request,
            None,
            "portal.terms.agree",
            |tx, now, caller, body: AgreeTerms| agree_terms(tx, &caller.person, &body.version, now),
        )
        .and_then(|agreement| json(201, &agreement)),
        ("GET", ["v1", "portal", "insurance"]) => portal
            .read(|tx, now| {
                let caller = portal.caller(tx, now, headers, Some(AgentScope::InsuranceRead))?;
                insurance_status(tx, &caller.principal, now)
            })
            .and_then(|status| json(200, &status)),
        ("POST", ["v1", "portal", "insurance", "registration"]) => changing(
            portal,
            request,
            Some(AgentScope::InsuranceManage),
            "portal.insurance.register",
            |tx, now, caller, body: RegisterInsurance| {
                register(tx, caller, &body.terms_version, now)
            },
        )
        .and_then(|status| json(201, &status)),
        ("POST", ["v1", "portal", "insurance", "release"]) => changing(
            portal,
            request,
            Some(AgentScope::InsuranceManage),
            "portal.insurance.release",
            |tx, now, caller, _: serde_json::Value| {
                // No P7 check: ending a registration protects the holder
                // and must not wait for an agreement (docs/portal-protocol.md).
                release(tx, &caller.principal, ReleaseReason::MemberRequest, now)?;
                insurance_status(tx, &caller.principal, now)
            },
        )
        .and_then(|status| json(200, &status)),
        ("POST", ["v1", "sandbox", "portal", "terms"]) if admin => {
            parse::<PublishTerms>(request.body)
                .and_then(|body| portal.read(|tx, now| publish_terms(tx, &body.version, now)))
                .and_then(|version| json(201, &version))
        }
        ("POST", ["v1", "sandbox", "insurer", "card-returned"]) if admin => {
            parse::<CardReturnedRequest>(request.body)
                .and_then(|body| portal.read(|tx, now| card_returned(tx, &body.person, now)))
                .and_then(|answer| json(200, &answer))
        }
        ("GET", ["v1", "sandbox", "insurer", "view"]) if admin => ViewQuery::parse(request.query)
            .and_then(|query| portal.read(|tx, now| view(tx, &query, now)))
            .and_then(|view| json(200, &view)),
        ("POST", ["v1", "sandbox", "insurer", "objections"]) if admin => {
            parse::<Objection>(request.body)
                .and_then(|body| portal.read(|tx, _| object(tx, body.member)))
                .and_then(|answer| json(200, &answer))
        }
        _ => return None,
    })
}

/// A state-changing route: the caller is resolved first in its own
/// transaction, so an expired token (the phone refreshes and retries with
/// the same key) or a grant outside its scope is never remembered under
/// the idempotency key; then the change runs idempotently.
fn changing<B, A>(
    portal: &PortalAuthority,
    request: &Request<'_>,
    needs: Option<AgentScope>,
    operation: &str,
    run: impl FnOnce(&Transaction<'_>, DateTime<Utc>, &Caller, B) -> Result<A, PortalError>,
) -> Result<A, PortalError>
where
    B: serde::de::DeserializeOwned + Serialize,
    A: Remember,
{
    let headers = request.headers;
    let body: B = parse(request.body)?;
    let key = key(headers)?;
    let caller = portal.read(|tx, now| portal.caller(tx, now, headers, needs))?;
    let keyed = Keyed {
        principal: &caller.principal,
        body: &body,
    };
    let request_json = serde_json::to_value(&keyed).map_err(PortalError::internal)?;
    portal.idempotent(key.as_ref(), operation, &request_json, |tx, now| {
        // Again inside: the grant may have ended in between (P5).
        let caller = portal.caller(tx, now, headers, needs)?;
        run(tx, now, &caller, body)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use mynakit_core::ManualClock;

    use super::*;
    use crate::portal::DEFAULT_BASE_URL;

    const TEST_INSURER: &str = "06139902";
    const TEST_EMPLOYER: &str = "E900";

    fn japan(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        jst()
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn portal_at(now: DateTime<Utc>) -> (PortalAuthority, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(now));
        let portal = PortalAuthority::in_memory(clock.clone(), DEFAULT_BASE_URL).unwrap();
        portal
            .read(|tx, _| {
                tx.execute(
                    "INSERT INTO insurers(number, name) VALUES (?1, 'test insurer')",
                    params![TEST_INSURER],
                )?;
                tx.execute(
                    "INSERT INTO employers(id, insurer, name) VALUES (?1, ?2, 'test employer')",
                    params![TEST_EMPLOYER, TEST_INSURER],
                )?;
                Ok(())
            })
            .unwrap();
        (portal, clock)
    }

    /// A member of the test insurer's employer, with a certificate valid
    /// through `valid_through` (none when `None`), registered or not.
    fn member(
        portal: &PortalAuthority,
        person: Option<&str>,
        number: &str,
        valid_through: Option<DateTime<Utc>>,
        registered_on: Option<NaiveDate>,
    ) -> u64 {
        portal
            .read(|tx, _| {
                let columns =
                    valid_through.map(|t| certificate_columns(t - TimeDelta::days(1800), t));
                tx.execute(
                    "INSERT INTO members(insurer, person, symbol, number, branch, employer, state,
                         registered_on, cert_not_before, cert_not_after, renewal_opens_at,
                         flag_zero_at)
                     VALUES (?1, ?2, '99', ?3, '00', ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        TEST_INSURER,
                        person,
                        number,
                        TEST_EMPLOYER,
                        u8::from(registered_on.is_some()),
                        registered_on.map(date_text),
                        columns.map(|c| c.0),
                        columns.map(|c| c.1),
                        columns.and_then(|c| c.2),
                        columns.and_then(|c| c.3)
                    ],
                )?;
                Ok(u64::try_from(tx.last_insert_rowid()).unwrap())
            })
            .unwrap()
    }

    fn insurer_view_of(portal: &PortalAuthority, query: &str) -> InsurerView {
        match insurer_view(portal, &ViewQuery::parse(query).unwrap()).unwrap() {
            View::Insurer(view) => view,
            View::Employer(_) => panic!("an employer's view for {query}"),
        }
    }

    fn row(portal: &PortalAuthority, member: u64) -> InsurerRow {
        insurer_view_of(portal, &format!("insurer={TEST_INSURER}"))
            .rows
            .into_iter()
            .find(|r| r.member == member)
            .unwrap()
    }

    #[test]
    fn p7_a_new_version_asks_again_and_old_or_duplicate_names_are_refused() {
        let (portal, clock) = portal_at(japan(2026, 5, 1, 12));
        let person = "person-p7";
        portal
            .read(|tx, now| {
                assert_eq!(
                    require_current_terms(tx, person),
                    Err(PortalError::TermsNotAgreed {
                        current_terms_version: FIRST_TERMS_VERSION.to_owned()
                    })
                );
                assert_eq!(
                    agree_terms(tx, person, "2025-01", now),
                    Err(PortalError::TermsOutdated)
                );
                let first = agree_terms(tx, person, FIRST_TERMS_VERSION, now)?;
                assert_eq!(first.agreed_at, now);
                require_current_terms(tx, person)
            })
            .unwrap();
        clock.advance(TimeDelta::hours(1));
        portal
            .read(|tx, now| {
                // Agreeing again answers the first agreement (its time).
                let again = agree_terms(tx, person, FIRST_TERMS_VERSION, now)?;
                assert_eq!(again.agreed_at, now - TimeDelta::hours(1));
                let published = publish_terms(tx, "2026-10", now)?;
                assert_eq!(published.version, "2026-10");
                assert_eq!(
                    require_current_terms(tx, person),
                    Err(PortalError::TermsNotAgreed {
                        current_terms_version: "2026-10".to_owned()
                    })
                );
                let state = terms_state(tx, person)?;
                assert!(!state.agreed_to_current());
                assert_eq!(
                    state.agreed.map(|a| a.version).as_deref(),
                    Some(FIRST_TERMS_VERSION)
                );
                assert!(matches!(
                    publish_terms(tx, "2026-10", now),
                    Err(PortalError::InvalidRequest { .. })
                ));
                assert!(matches!(
                    publish_terms(tx, "2026-05", now),
                    Err(PortalError::InvalidRequest { .. })
                ));
                assert_eq!(
                    agree_terms(tx, person, FIRST_TERMS_VERSION, now),
                    Err(PortalError::TermsOutdated)
                );
                agree_terms(tx, person, "2026-10", now)?;
                require_current_terms(tx, person)
            })
            .unwrap();
    }

    #[test]
    fn s6_the_flag_stays_1_under_three_months_and_the_sweep_releases_on_the_due_day() {
        let (portal, clock) = portal_at(japan(2030, 1, 20, 12));
        // Valid through 2030-05-10 (JST).
        let valid_through = jst()
            .with_ymd_and_hms(2030, 5, 10, 23, 59, 59)
            .unwrap()
            .with_timezone(&Utc);
        let id = member(
            &portal,
            None,
            "1",
            Some(valid_through),
            Some(day(2027, 1, 5)),
        );
        let at = |clock: &ManualClock, t| {
            clock.set(t);
            row(&portal, id)
        };
        let before = at(&clock, japan(2030, 2, 9, 12));
        assert_eq!(before.certificate_expiry_flag, Some(1));
        assert!(
            insurer_view_of(&portal, &format!("insurer={TEST_INSURER}"))
                .renewal_reminders
                .is_empty()
        );
        // Renewal opens on 02-10: 再交付勧奨, flag still 1.
        clock.set(japan(2030, 2, 10, 0));
        let view = insurer_view_of(&portal, &format!("insurer={TEST_INSURER}"));
        assert_eq!(view.renewal_reminders.len(), 1);
        assert_eq!(view.renewal_reminders[0].certificate_expiry_flag, 1);
        // Expired, under three months: still registered, flag 1.
        let expired = at(&clock, japan(2030, 8, 10, 23));
        assert_eq!(expired.first_registration_state, 1);
        assert_eq!(expired.certificate_expiry_flag, Some(1));
        assert_eq!(expired.release_reason, None);
        // The sweep runs late (09-20): released with reason 2 on 08-11, the due day.
        let gone = at(&clock, japan(2030, 9, 20, 9));
        assert_eq!(gone.first_registration_state, 0);
        assert_eq!(gone.certificate_expiry_flag, Some(0));
        assert_eq!(gone.release_reason, Some(2));
        assert_eq!(gone.released_on, Some(day(2030, 8, 11)));
        assert_eq!(gone.registered_on, Some(day(2027, 1, 5)));
        let view = insurer_view_of(&portal, &format!("insurer={TEST_INSURER}"));
        assert_eq!(view.link_reminders.len(), 1);
        assert_eq!(view.renewal_reminders[0].certificate_expiry_flag, 0);
    }

    #[test]
    fn s6_release_at_request_and_card_returned_set_their_reasons() {
        let (portal, clock) = portal_at(japan(2026, 5, 1, 12));
        let valid = Some(japan(2029, 1, 1, 0));
        let asked = member(
            &portal,
            Some("person-r1"),
            "1",
            valid,
            Some(day(2026, 4, 1)),
        );
        let returned = member(
            &portal,
            Some("person-r3"),
            "2",
            valid,
            Some(day(2026, 4, 1)),
        );
        clock.set(japan(2026, 6, 2, 8));
        portal
            .read(|tx, now| {
                release(tx, "person-r1", ReleaseReason::MemberRequest, now)?;
                assert_eq!(
                    release(tx, "person-r1", ReleaseReason::MemberRequest, now),
                    Err(PortalError::NotRegistered)
                );
                let answer = card_returned(tx, "person-r3", now)?;
                assert!(answer.released);
                assert_eq!(
                    card_returned(tx, "person-nobody", now),
                    Err(PortalError::NotFound)
                );
                Ok(())
            })
            .unwrap();
        for (id, reason) in [(asked, 1), (returned, 3)] {
            let r = row(&portal, id);
            assert_eq!(r.first_registration_state, 0);
            assert_eq!(r.release_reason, Some(reason));
            assert_eq!(r.released_on, Some(day(2026, 6, 2)));
            assert_eq!(r.registered_on, Some(day(2026, 4, 1)));
        }
    }

    #[test]
    fn s6_an_employer_sees_only_non_objectors_and_only_the_reminder_columns() {
        let (portal, _clock) = portal_at(japan(2026, 5, 1, 12));
        let never = member(&portal, None, "10", None, None);
        let _fine = member(
            &portal,
            None,
            "11",
            Some(japan(2029, 1, 1, 0)),
            Some(day(2026, 1, 1)),
        );
        let renew = member(
            &portal,
            None,
            "12",
            Some(japan(2026, 6, 1, 0)),
            Some(day(2026, 1, 1)),
        );
        let objector = member(&portal, None, "13", None, None);
        portal.read(|tx, _| object(tx, objector)).unwrap();
        // Objecting twice changes nothing; an unknown member is not found.
        portal.read(|tx, _| object(tx, objector)).unwrap();
        assert_eq!(
            portal.read(|tx, _| object(tx, 999_999)),
            Err(PortalError::NotFound)
        );

        let query =
            ViewQuery::parse(&format!("insurer={TEST_INSURER}&employer={TEST_EMPLOYER}")).unwrap();
        let View::Employer(view) = insurer_view(&portal, &query).unwrap() else {
            panic!("not an employer's view");
        };
        let numbers =
            |keys: &[MemberKey]| keys.iter().map(|k| k.number.clone()).collect::<Vec<_>>();
        assert_eq!(numbers(&view.link_reminders), ["10"]);
        assert_eq!(
            view.renewal_reminders
                .iter()
                .map(|r| r.card.number.as_str())
                .collect::<Vec<_>>(),
            ["12"]
        );
        assert_eq!(
            view.totals,
            Some(ViewTotals {
                members: 3,
                link_reminders: 1,
                renewal_reminders: 1
            })
        );
        let text = serde_json::to_string(&view).unwrap();
        for never_shown in [
            "registered_on",
            "released_on",
            "release_reason",
            "member\"",
            "\"13\"",
            "\"11\"",
        ] {
            assert!(!text.contains(never_shown), "{never_shown} in {text}");
        }
        // The insurer sees all four, the objector included.
        let whole = insurer_view_of(&portal, &format!("insurer={TEST_INSURER}"));
        assert_eq!(whole.totals.map(|t| t.members), Some(4));
        assert_eq!(numbers(&whole.link_reminders), ["10", "13"]);
        assert!(
            whole
                .rows
                .iter()
                .any(|r| r.member == never && r.certificate_expiry_flag.is_none())
        );
        assert!(
            whole
                .rows
                .iter()
                .any(|r| r.member == renew && r.certificate_expiry_flag == Some(1))
        );
        // An employer outside the insurer's group is not found.
        let stranger = ViewQuery::parse(&format!("insurer={TEST_INSURER}&employer=E001")).unwrap();
        assert_eq!(insurer_view(&portal, &stranger), Err(PortalError::NotFound));
    }

    #[test]
    fn synthetic_members_page_through_and_the_totals_match_the_pages() {
        let (portal, clock) = portal_at(japan(2026, 5, 1, 12));
        let made = add_synthetic_members(&portal, 2500).unwrap();
        assert_eq!(made.added, 2500);
        clock.advance(TimeDelta::days(200));
        let mut after = 0;
        let (mut rows, mut link, mut renewal, mut pages) = (0u64, 0u64, 0u64, 0);
        let mut totals = None;
        loop {
            let view = insurer_view_of(&portal, &format!("after={after}&limit=1000"));
            // Counted on the first page only.
            assert_eq!(view.totals.is_some(), pages == 0);
            totals = totals.or(view.totals);
            pages += 1;
            rows += view.rows.len() as u64;
            link += view.link_reminders.len() as u64;
            renewal += view.renewal_reminders.len() as u64;
            // The sweep left no registration whose flag is 0.
            assert!(
                view.rows.iter().all(
                    |r| r.first_registration_state == 0 || r.certificate_expiry_flag == Some(1)
                )
            );
            match view.next_after {
                Some(next) => after = next,
                None => break,
            }
        }
        let totals = totals.unwrap();
        assert_eq!(pages, 3);
        assert_eq!(
            (rows, link, renewal),
            (
                totals.members,
                totals.link_reminders,
                totals.renewal_reminders
            )
        );
        assert!(totals.renewal_reminders > 0 && totals.link_reminders > 0);
        assert!(rows >= 2500);
    }

    #[test]
    fn the_sweep_and_the_views_use_the_indexes() {
        let (portal, _clock) = portal_at(japan(2026, 5, 1, 12));
        portal
            .read(|tx, _| {
                let plan = |sql: &str| -> String {
                    let mut s = tx.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                    s.query_map([], |r| r.get::<_, String>(3))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                assert!(
                    plan("UPDATE members SET state = 0 WHERE state = 1 AND flag_zero_at <= 5")
                        .contains("members_due")
                );
                // The UNIQUE index on person: no scan of a million members.
                let linked = plan("SELECT id, person FROM members WHERE person IS NOT NULL");
                assert!(linked.starts_with("SEARCH"), "{linked}");
                assert!(
                    plan(&format!(
                    "SELECT {VIEW_COLUMNS} FROM members WHERE employer = 'E001' AND objected = 0
                     AND id > 0 ORDER BY id LIMIT 10"
                ))
                    .contains("members_employer")
                );
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn view_queries_are_checked() {
        assert!(ViewQuery::parse("limit=0").is_err());
        assert!(ViewQuery::parse("limit=10001").is_err());
        assert!(ViewQuery::parse("after=x").is_err());
        assert!(ViewQuery::parse("colour=red").is_err());
        assert_eq!(
            ViewQuery::parse("employer=E001&after=5&limit=20").unwrap(),
            ViewQuery {
                insurer: None,
                employer: Some("E001".to_owned()),
                after: 5,
                limit: Some(20)
            }
        );
    }

    #[test]
    fn s6_the_flag_and_reason_2_turn_at_exactly_midnight_japan_of_the_due_day() {
        let (portal, clock) = portal_at(japan(2030, 1, 20, 12));
        let valid_through = jst()
            .with_ymd_and_hms(2030, 5, 10, 23, 59, 59)
            .unwrap()
            .with_timezone(&Utc);
        let id = member(
            &portal,
            None,
            "1",
            Some(valid_through),
            Some(day(2027, 1, 5)),
        );
        let due = expired_release_on(day(2030, 5, 10)).unwrap();
        let midnight = time(japan_midnight(due).unwrap());
        clock.set(midnight - TimeDelta::seconds(1));
        let before = row(&portal, id);
        assert_eq!(
            (
                before.first_registration_state,
                before.certificate_expiry_flag
            ),
            (1, Some(1))
        );
        clock.set(midnight);
        let at = row(&portal, id);
        assert_eq!(
            (
                at.first_registration_state,
                at.certificate_expiry_flag,
                at.release_reason
            ),
            (0, Some(0), Some(2))
        );
        assert_eq!(at.released_on, Some(due));
    }

    #[test]
    fn p3_registration_refuses_a_revoked_or_expired_certificate() {
        let (portal, clock) = portal_at(japan(2026, 5, 1, 12));
        let certificate = portal
            .read(|tx, now| {
                agree_terms(tx, jlis::SAMPLE_PERSON, FIRST_TERMS_VERSION, now)?;
                jlis::latest_certificate(tx, jlis::SAMPLE_PERSON)
            })
            .unwrap()
            .unwrap();
        let holder = Caller {
            person: jlis::SAMPLE_PERSON.to_owned(),
            principal: jlis::SAMPLE_PERSON.to_owned(),
            grant: None,
            serial: certificate.serial.clone(),
        };
        let agent = Caller {
            person: jlis::AGENT_PERSON.to_owned(),
            principal: jlis::SAMPLE_PERSON.to_owned(),
            grant: Some("grant".to_owned()),
            serial: "not-the-holders".to_owned(),
        };
        // Expired (an agent acting after the holder's certificate lapsed).
        clock.set(certificate.not_after + TimeDelta::days(120));
        assert_eq!(
            portal.read(|tx, now| register(tx, &agent, FIRST_TERMS_VERSION, now)),
            Err(PortalError::CertificateExpired)
        );
        // Revoked (a session outliving the returned card).
        clock.set(japan(2026, 5, 2, 12));
        portal
            .read(|tx, now| card_returned(tx, jlis::SAMPLE_PERSON, now))
            .unwrap();
        assert_eq!(
            portal.read(|tx, now| register(tx, &holder, FIRST_TERMS_VERSION, now)),
            Err(PortalError::CertificateRevoked)
        );
        assert_eq!(
            portal.read(|tx, now| register(tx, &agent, FIRST_TERMS_VERSION, now)),
            Err(PortalError::CertificateRevoked)
        );
    }
}
