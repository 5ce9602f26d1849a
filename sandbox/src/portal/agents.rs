//! Agents (P5: "an agent acts only within the scope the holder delegated;
//! the holder changes or ends it promptly").
//!
//! The holder makes a grant (label, scopes) and gets a one-time
//! invitation code, shown once: the store keeps only its hash, and the
//! answer remembered under the idempotency key keeps it sealed
//! ([`Remember`]). Another person, logged in with their own card, accepts
//! it (`POST /v1/portal/agencies`) and from then names the grant in
//! `On-Behalf-Of`; [`principal_for`] answers, on every request, whether
//! the grant lets that person act with the scope the route needs. A
//! change or an end is a row update read by the next request: effective
//! at once. Only the holder manages grants (`caller(…, None)` refuses an
//! agent).

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::portal::wire::{
    AcceptAgency, AddAgent, Agency, AgentGrant, AgentGrantState, AgentScope, ChangeAgent,
};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use zeroize::Zeroizing;

use super::consents::{from_text, from_text_value, text, to_text};
use super::error::PortalError;
use super::http::{Reply, Request, Route, json, key, parse};
use super::{Caller, PortalAuthority, Remember, insurance, random_hex, sha256, time};

/// How long an invitation code can be accepted. Policy: 72 hours, time to
/// hand the code over in person; not an official number. A grant still
/// invited then is ended.
pub const INVITATION_LIFETIME: TimeDelta = TimeDelta::hours(72);
/// The longest label, in characters. Policy: 64.
pub const MAX_LABEL_CHARS: usize = 64;

pub(super) const SCHEMA: &str = "
CREATE TABLE agent_grants(
    grant_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    label TEXT NOT NULL,
    scopes TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    invitation_hash BLOB UNIQUE,
    invitation_expires_at INTEGER NOT NULL,
    agent TEXT,
    accepted_at INTEGER,
    ended_at INTEGER) STRICT;
CREATE INDEX agent_grants_holder ON agent_grants(holder, created_at);
CREATE INDEX agent_grants_agent ON agent_grants(agent, created_at);
";

/// The answer that made a grant carries the invitation code; the copy
/// remembered under the idempotency key holds it XORed with the pad only
/// a retry brings, so the store never holds the code.
impl Remember for AgentGrant {
    fn seal(&mut self, pad: &[u8; 32]) {
        if let Some(code) = &mut self.invitation_code {
            let sealed = decode_hex(code).map(|bytes| {
                let mixed: Zeroizing<Vec<u8>> = Zeroizing::new(
                    bytes
                        .iter()
                        .zip(pad.iter().cycle())
                        .map(|(b, p)| b ^ p)
                        .collect(),
                );
                encode_hex(&mixed)
            });
            match sealed {
                Some(sealed) => *code = sealed,
                // Not hex: never ours; dropped rather than kept in clear.
                None => self.invitation_code = None,
            }
        }
    }
}

impl Remember for Agency {}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digits: Vec<u8> = text
        .chars()
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    Some(Zeroizing::new(
        digits
            .chunks(2)
            .map(|p| p.iter().fold(0, |a, d| a * 16 + d))
            .collect(),
    ))
}

fn invitation_hash(code: &str) -> Vec<u8> {
    sha256(&[b"mynakit portal invitation v1\0", code.as_bytes()]).to_vec()
}

/// P5: the holder whose grant `grant_id` lets `agent` act with `needs`:
/// active, accepted by `agent`, holding the scope. Anything else (no such
/// grant, invited, ended, another person's, the scope not held) is
/// `outside_agent_scope`, read afresh on every request.
pub(crate) fn principal_for(
    tx: &Transaction<'_>,
    agent: &str,
    grant: &str,
    needs: AgentScope,
) -> Result<String, PortalError> {
    let row: Option<(String, String, String, Option<String>)> = tx
        .query_row(
            "SELECT holder, scopes, state, agent FROM agent_grants WHERE grant_id = ?1",
            params![grant],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((holder, scopes, state, accepted_by)) = row else {
        return Err(PortalError::OutsideAgentScope);
    };
    let scopes: Vec<AgentScope> = from_text(&scopes)?;
    let state: AgentGrantState = from_text_value(&state)?;
    if state == AgentGrantState::Active
        && accepted_by.as_deref() == Some(agent)
        && scopes.contains(&needs)
    {
        Ok(holder)
    } else {
        Err(PortalError::OutsideAgentScope)
    }
}

/// Ends the grants whose invitation lapsed unaccepted.
fn lapse_invitations(tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<(), PortalError> {
    tx.execute(
        "UPDATE agent_grants SET state = ?1, ended_at = invitation_expires_at,
             invitation_hash = NULL
         WHERE state = ?2 AND invitation_expires_at <= ?3",
        params![
            text(AgentGrantState::Ended)?,
            text(AgentGrantState::Invited)?,
            now.timestamp()
        ],
    )?;
    Ok(())
}

/// The scopes once each, in a fixed order; at least one.
fn scopes_of(scopes: &[AgentScope]) -> Result<Vec<AgentScope>, PortalError> {
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(PortalError::bad("a grant holds at least one scope"));
    }
    Ok(scopes)
}

struct GrantRow {
    grant: AgentGrant,
    holder: String,
}

const GRANT_COLUMNS: &str = "grant_id, label, scopes, state, created_at, holder FROM agent_grants";

fn grant_of_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, String, String, i64, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn grant_row(
    fields: (String, String, String, String, i64, String),
) -> Result<GrantRow, PortalError> {
    let (grant_id, label, scopes, state, created_at, holder) = fields;
    Ok(GrantRow {
        grant: AgentGrant {
            grant_id,
            label,
            scopes: from_text(&scopes)?,
            state: from_text_value(&state)?,
            created_at: time(created_at),
            invitation_code: None,
        },
        holder,
    })
}

/// The holder's grant `grant_id` (another's is not found).
fn holders_grant(
    tx: &Transaction<'_>,
    holder: &str,
    grant_id: &str,
) -> Result<AgentGrant, PortalError> {
    let fields = tx
        .query_row(
            &format!("SELECT {GRANT_COLUMNS} WHERE grant_id = ?1"),
            params![grant_id],
            grant_of_row,
        )
        .optional()?
        .ok_or(PortalError::NotFound)?;
    let row = grant_row(fields)?;
    if row.holder != holder {
        return Err(PortalError::NotFound);
    }
    Ok(row.grant)
}

/// The holder's grants, newest first.
fn grants(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    holder: &str,
) -> Result<Vec<AgentGrant>, PortalError> {
    lapse_invitations(tx, now)?;
    let mut statement = tx.prepare(&format!(
        "SELECT {GRANT_COLUMNS} WHERE holder = ?1 ORDER BY created_at DESC, rowid DESC"
    ))?;
    let rows = statement.query_map(params![holder], grant_of_row)?;
    let mut grants = Vec::new();
    for row in rows {
        grants.push(grant_row(row?)?.grant);
    }
    Ok(grants)
}

/// Delegates `scopes` (P5): the answer alone carries the invitation code.
fn add(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    holder: &str,
    add: &AddAgent,
) -> Result<AgentGrant, PortalError> {
    insurance::require_current_terms(tx, holder)?;
    let label = add.label.trim();
    if label.is_empty()
        || label.chars().count() > MAX_LABEL_CHARS
        || label.chars().any(char::is_control)
    {
        return Err(PortalError::bad(format!(
            "the label is 1 to {MAX_LABEL_CHARS} characters of text"
        )));
    }
    let scopes = scopes_of(&add.scopes)?;
    let grant_id = random_hex::<16>()?;
    let code = random_hex::<16>()?;
    tx.execute(
        "INSERT INTO agent_grants(grant_id, holder, label, scopes, state, created_at,
             invitation_hash, invitation_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            grant_id,
            holder,
            label,
            to_text(&scopes)?,
            text(AgentGrantState::Invited)?,
            now.timestamp(),
            invitation_hash(&code),
            (now + INVITATION_LIFETIME).timestamp()
        ],
    )?;
    Ok(AgentGrant {
        grant_id,
        label: label.to_owned(),
        scopes,
        state: AgentGrantState::Invited,
        created_at: now,
        invitation_code: Some(code),
    })
}

/// Replaces the scopes, for the next request on.
fn change(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    holder: &str,
    grant_id: &str,
    change: &ChangeAgent,
) -> Result<AgentGrant, PortalError> {
    lapse_invitations(tx, now)?;
    let mut grant = holders_grant(tx, holder, grant_id)?;
    insurance::require_current_terms(tx, holder)?;
    if grant.state == AgentGrantState::Ended {
        return Err(PortalError::bad("the grant has ended"));
    }
    let scopes = scopes_of(&change.scopes)?;
    tx.execute(
        "UPDATE agent_grants SET scopes = ?1 WHERE grant_id = ?2",
        params![to_text(&scopes)?, grant_id],
    )?;
    grant.scopes = scopes;
    Ok(grant)
}

/// Ends the grant (an invitation not yet accepted can no longer be); an
/// ended one is answered as it is.
fn end(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    holder: &str,
    grant_id: &str,
) -> Result<AgentGrant, PortalError> {
    lapse_invitations(tx, now)?;
    let mut grant = holders_grant(tx, holder, grant_id)?;
    insurance::require_current_terms(tx, holder)?;
    if grant.state != AgentGrantState::Ended {
        tx.execute(
            "UPDATE agent_grants SET state = ?1, ended_at = ?2, invitation_hash = NULL
             WHERE grant_id = ?3",
            params![text(AgentGrantState::Ended)?, now.timestamp(), grant_id],
        )?;
        grant.state = AgentGrantState::Ended;
    }
    Ok(grant)
}

/// The agent accepts an invitation with its own login: one use; the
/// holder cannot be their own agent.
fn accept(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    agent: &str,
    accept: &AcceptAgency,
) -> Result<Agency, PortalError> {
    lapse_invitations(tx, now)?;
    // P7: accepting is a state change of the agent's own.
    insurance::require_current_terms(tx, agent)?;
    let row: Option<(String, String, String)> = tx
        .query_row(
            "SELECT grant_id, holder, scopes FROM agent_grants
             WHERE invitation_hash = ?1 AND state = ?2",
            params![
                invitation_hash(&accept.invitation_code),
                text(AgentGrantState::Invited)?
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((grant_id, holder, scopes)) = row else {
        return Err(PortalError::NotFound);
    };
    if holder == agent {
        return Err(PortalError::bad("a holder cannot be their own agent"));
    }
    tx.execute(
        "UPDATE agent_grants SET state = ?1, agent = ?2, accepted_at = ?3, invitation_hash = NULL
         WHERE grant_id = ?4",
        params![
            text(AgentGrantState::Active)?,
            agent,
            now.timestamp(),
            grant_id
        ],
    )?;
    Ok(Agency {
        grant_id,
        scopes: from_text(&scopes)?,
        state: AgentGrantState::Active,
    })
}

/// The grants `agent` accepted, newest first.
fn agencies(tx: &Transaction<'_>, agent: &str) -> Result<Vec<Agency>, PortalError> {
    let mut statement = tx.prepare(
        "SELECT grant_id, scopes, state FROM agent_grants WHERE agent = ?1
         ORDER BY accepted_at DESC, rowid DESC",
    )?;
    let rows = statement.query_map(params![agent], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut agencies = Vec::new();
    for row in rows {
        let (grant_id, scopes, state) = row?;
        agencies.push(Agency {
            grant_id,
            scopes: from_text(&scopes)?,
            state: from_text_value(&state)?,
        });
    }
    Ok(agencies)
}

// ---- routes -----------------------------------------------------------------

pub(super) fn route(portal: &PortalAuthority, request: &Request<'_>, _admin: bool) -> Route {
    let headers = request.headers;
    let outcome = match (request.method, request.segments) {
        ("GET", ["v1", "portal", "agents"]) => portal
            .read(|tx, now| {
                let caller = own(portal, tx, now, headers)?;
                grants(tx, now, &caller.person)
            })
            .and_then(|g| json(200, &g)),
        ("POST", ["v1", "portal", "agents"]) => holder_adds(portal, request),
        ("PATCH", ["v1", "portal", "agents", id]) => holder_changes(portal, request, id),
        ("DELETE", ["v1", "portal", "agents", id]) => own_change(
            portal,
            request,
            "portal/agents/end",
            id,
            |tx, now, caller| end(tx, now, &caller.person, id),
        )
        .and_then(|g| json(200, &g)),
        ("POST", ["v1", "portal", "agencies"]) => agent_accepts(portal, request),
        ("GET", ["v1", "portal", "agencies"]) => portal
            .read(|tx, now| {
                let caller = own(portal, tx, now, headers)?;
                agencies(tx, &caller.person)
            })
            .and_then(|a| json(200, &a)),
        _ => return None,
    };
    Some(outcome)
}

/// The caller acting for themselves: agents, agencies (and terms) are
/// never managed on someone's behalf (P5).
fn own(
    portal: &PortalAuthority,
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    headers: &[(String, String)],
) -> Result<Caller, PortalError> {
    portal.caller(tx, now, headers, None)
}

fn holder_adds(portal: &PortalAuthority, request: &Request<'_>) -> Result<Reply, PortalError> {
    let body: AddAgent = parse(request.body)?;
    let grant = own_change(
        portal,
        request,
        "portal/agents/add",
        &body,
        |tx, now, caller| add(tx, now, &caller.person, &body),
    )?;
    json(201, &grant)
}

fn holder_changes(
    portal: &PortalAuthority,
    request: &Request<'_>,
    id: &str,
) -> Result<Reply, PortalError> {
    let body: ChangeAgent = parse(request.body)?;
    let grant = own_change(
        portal,
        request,
        "portal/agents/change",
        &(id, &body),
        |tx, now, caller| change(tx, now, &caller.person, id, &body),
    )?;
    json(200, &grant)
}

fn agent_accepts(portal: &PortalAuthority, request: &Request<'_>) -> Result<Reply, PortalError> {
    let body: AcceptAgency = parse(request.body)?;
    let agency = own_change(
        portal,
        request,
        "portal/agencies/accept",
        // The code itself is hashed into the remembered request, never kept.
        &encode_hex(&invitation_hash(&body.invitation_code)),
        |tx, now, caller| accept(tx, now, &caller.person, &body),
    )?;
    json(201, &agency)
}

/// A change of the caller's own (never on behalf), under the request's
/// idempotency key.
fn own_change<A: Remember>(
    portal: &PortalAuthority,
    request: &Request<'_>,
    operation: &str,
    what: &impl Serialize,
    run: impl FnOnce(&Transaction<'_>, DateTime<Utc>, &Caller) -> Result<A, PortalError>,
) -> Result<A, PortalError> {
    let headers = request.headers;
    portal.idempotent(key(headers)?.as_ref(), operation, what, |tx, now| {
        let caller = own(portal, tx, now, headers)?;
        run(tx, now, &caller)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use mynakit_core::{IdempotencyKey, ManualClock};

    fn start() -> DateTime<Utc> {
        time(1_800_000_000)
    }

    fn world() -> (Arc<ManualClock>, PortalAuthority) {
        let clock = Arc::new(ManualClock::new(start()));
        let portal = PortalAuthority::in_memory(clock.clone(), super::super::DEFAULT_BASE_URL)
            .expect("portal");
        for person in ["holder", "agent", "someone-else"] {
            super::super::consents::tests::agree(&portal, person);
        }
        (clock, portal)
    }

    #[test]
    fn p7_no_grant_is_made_or_accepted_without_the_terms_in_force_agreed() {
        let (_, portal) = world();
        let made = portal.read(|tx, now| {
            add(
                tx,
                now,
                "newcomer",
                &AddAgent {
                    label: "x".to_owned(),
                    scopes: vec![AgentScope::ConsentsRead],
                },
            )
        });
        assert!(matches!(made, Err(PortalError::TermsNotAgreed { .. })));
        let grant = added(&portal, "holder", &[AgentScope::ConsentsRead]);
        let code = grant.invitation_code.clone().unwrap();
        assert!(matches!(
            accepted(&portal, "newcomer", &code),
            Err(PortalError::TermsNotAgreed { .. })
        ));
        // The code was not spent by the refused acceptance.
        assert!(accepted(&portal, "agent", &code).is_ok());
    }

    fn added(portal: &PortalAuthority, holder: &str, scopes: &[AgentScope]) -> AgentGrant {
        portal
            .read(|tx, now| {
                add(
                    tx,
                    now,
                    holder,
                    &AddAgent {
                        label: "my daughter".to_owned(),
                        scopes: scopes.to_vec(),
                    },
                )
            })
            .expect("add")
    }

    fn accepted(portal: &PortalAuthority, agent: &str, code: &str) -> Result<Agency, PortalError> {
        portal.read(|tx, now| {
            accept(
                tx,
                now,
                agent,
                &AcceptAgency {
                    invitation_code: code.to_owned(),
                },
            )
        })
    }

    fn principal(
        portal: &PortalAuthority,
        agent: &str,
        grant: &str,
        needs: AgentScope,
    ) -> Result<String, PortalError> {
        portal.read(|tx, _| principal_for(tx, agent, grant, needs))
    }

    #[test]
    fn an_accepted_grant_lets_its_agent_act_within_its_scopes_only() {
        let (_, portal) = world();
        let grant = added(
            &portal,
            "holder",
            &[AgentScope::ConsentsRead, AgentScope::ConsentsRead],
        );
        assert_eq!(grant.scopes, vec![AgentScope::ConsentsRead]);
        assert_eq!(grant.state, AgentGrantState::Invited);
        let code = grant.invitation_code.clone().expect("code");
        // Invited: nobody acts yet.
        assert_eq!(
            principal(&portal, "agent", &grant.grant_id, AgentScope::ConsentsRead),
            Err(PortalError::OutsideAgentScope)
        );
        // The store holds the hash, not the code.
        let stored: Vec<u8> = portal
            .read(|tx, _| {
                Ok(tx.query_row("SELECT invitation_hash FROM agent_grants", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(stored, invitation_hash(&code));
        // The holder cannot be their own agent.
        assert!(matches!(
            accepted(&portal, "holder", &code),
            Err(PortalError::InvalidRequest { .. })
        ));
        let agency = accepted(&portal, "agent", &code).unwrap();
        assert_eq!(agency.grant_id, grant.grant_id);
        assert_eq!(agency.state, AgentGrantState::Active);
        // One use.
        assert_eq!(
            accepted(&portal, "someone-else", &code),
            Err(PortalError::NotFound)
        );
        assert_eq!(
            principal(&portal, "agent", &grant.grant_id, AgentScope::ConsentsRead),
            Ok("holder".to_owned())
        );
        for needs in [
            AgentScope::ConsentsManage,
            AgentScope::InsuranceRead,
            AgentScope::InsuranceManage,
        ] {
            assert_eq!(
                principal(&portal, "agent", &grant.grant_id, needs),
                Err(PortalError::OutsideAgentScope),
                "{needs:?}"
            );
        }
        // Another person naming the grant gets nothing.
        assert_eq!(
            principal(
                &portal,
                "intruder",
                &grant.grant_id,
                AgentScope::ConsentsRead
            ),
            Err(PortalError::OutsideAgentScope)
        );
        assert_eq!(
            principal(&portal, "agent", "no-such-grant", AgentScope::ConsentsRead),
            Err(PortalError::OutsideAgentScope)
        );
        assert_eq!(
            portal.read(|tx, _| agencies(tx, "agent")).unwrap(),
            vec![agency]
        );
    }

    #[test]
    fn changes_and_ends_apply_to_the_next_check_and_only_the_holder_makes_them() {
        let (_, portal) = world();
        let grant = added(&portal, "holder", &[AgentScope::InsuranceRead]);
        accepted(&portal, "agent", grant.invitation_code.as_deref().unwrap()).unwrap();
        let id = grant.grant_id.as_str();
        let change_to = |who: &str, scopes: Vec<AgentScope>| {
            portal.read(|tx, now| change(tx, now, who, id, &ChangeAgent { scopes }))
        };
        assert_eq!(
            change_to("agent", vec![AgentScope::InsuranceManage]),
            Err(PortalError::NotFound)
        );
        assert!(matches!(
            change_to("holder", vec![]),
            Err(PortalError::InvalidRequest { .. })
        ));
        let changed = change_to("holder", vec![AgentScope::InsuranceManage]).unwrap();
        assert_eq!(changed.scopes, vec![AgentScope::InsuranceManage]);
        assert_eq!(changed.invitation_code, None);
        assert_eq!(
            principal(&portal, "agent", id, AgentScope::InsuranceRead),
            Err(PortalError::OutsideAgentScope)
        );
        assert!(principal(&portal, "agent", id, AgentScope::InsuranceManage).is_ok());
        assert_eq!(
            portal.read(|tx, now| end(tx, now, "agent", id)),
            Err(PortalError::NotFound)
        );
        let ended = portal.read(|tx, now| end(tx, now, "holder", id)).unwrap();
        assert_eq!(ended.state, AgentGrantState::Ended);
        assert_eq!(
            principal(&portal, "agent", id, AgentScope::InsuranceManage),
            Err(PortalError::OutsideAgentScope)
        );
        assert!(matches!(
            change_to("holder", vec![AgentScope::InsuranceRead]),
            Err(PortalError::InvalidRequest { .. })
        ));
        // Ending again answers the ended grant.
        assert_eq!(
            portal.read(|tx, now| end(tx, now, "holder", id)),
            Ok(ended.clone())
        );
        assert_eq!(
            portal.read(|tx, _| agencies(tx, "agent")).unwrap()[0].state,
            AgentGrantState::Ended
        );
        let listed = portal.read(|tx, now| grants(tx, now, "holder")).unwrap();
        assert_eq!(listed, vec![ended]);
    }

    #[test]
    fn an_invitation_lapses_unaccepted_and_an_ended_one_cannot_be_accepted() {
        let (clock, portal) = world();
        let late = added(&portal, "holder", &[AgentScope::ConsentsRead]);
        let cancelled = added(&portal, "holder", &[AgentScope::ConsentsRead]);
        portal
            .read(|tx, now| end(tx, now, "holder", &cancelled.grant_id))
            .unwrap();
        assert_eq!(
            accepted(
                &portal,
                "agent",
                cancelled.invitation_code.as_deref().unwrap()
            ),
            Err(PortalError::NotFound)
        );
        clock.advance(INVITATION_LIFETIME);
        assert_eq!(
            accepted(&portal, "agent", late.invitation_code.as_deref().unwrap()),
            Err(PortalError::NotFound)
        );
        let listed = portal.read(|tx, now| grants(tx, now, "holder")).unwrap();
        assert!(listed.iter().all(|g| g.state == AgentGrantState::Ended));
        assert!(listed.iter().all(|g| g.invitation_code.is_none()));
    }

    #[test]
    fn the_remembered_answer_keeps_the_code_sealed_and_a_retry_gets_it_back() {
        let (_, portal) = world();
        let key = IdempotencyKey::parse("0123456789abcdef0123456789abcdef").unwrap();
        let body = AddAgent {
            label: "a friend".to_owned(),
            scopes: vec![AgentScope::ConsentsRead],
        };
        let run = || {
            portal.idempotent(Some(&key), "portal/agents/add", &body, |tx, now| {
                add(tx, now, "holder", &body)
            })
        };
        let first = run().unwrap();
        let code = first.invitation_code.clone().unwrap();
        let remembered: String = portal
            .read(|tx, _| Ok(tx.query_row("SELECT answer FROM idempotency", [], |r| r.get(0))?))
            .unwrap();
        assert!(!remembered.contains(&code), "the code is kept in clear");
        // Nor can the store's holder unseal it from what the store has: the
        // key only as a hash, the request (a guessable label) only as a
        // digest. Try the request alone as the pad, the best they have.
        let (stored_key, digest): (String, Vec<u8>) = portal
            .read(|tx, _| {
                Ok(
                    tx.query_row("SELECT key, request FROM idempotency", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?,
                )
            })
            .unwrap();
        assert_ne!(stored_key, key.as_str());
        let request_json = serde_json::to_vec(&body).unwrap();
        assert_eq!(digest, sha256(&[&request_json]).to_vec(), "guessed right");
        let mut guessed: AgentGrant = match serde_json::from_str::<serde_json::Value>(&remembered)
            .unwrap()
            .get("Ok")
        {
            Some(answer) => serde_json::from_value(answer.clone()).unwrap(),
            None => panic!("not a remembered success: {remembered}"),
        };
        guessed.seal(&sha256(&[
            b"mynakit portal remembered answer v1\0",
            &request_json,
        ]));
        assert_ne!(guessed.invitation_code, Some(code.clone()));
        let again = run().unwrap();
        assert_eq!(again.invitation_code, Some(code));
        assert_eq!(again, first);
        // One grant, not two.
        assert_eq!(
            portal
                .read(|tx, now| grants(tx, now, "holder"))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_label_and_scopes_are_checked() {
        let (_, portal) = world();
        for (label, scopes) in [
            ("", vec![AgentScope::ConsentsRead]),
            ("a\nb", vec![AgentScope::ConsentsRead]),
            ("x", vec![]),
        ] {
            let outcome = portal.read(|tx, now| {
                add(
                    tx,
                    now,
                    "holder",
                    &AddAgent {
                        label: label.to_owned(),
                        scopes: scopes.clone(),
                    },
                )
            });
            assert!(
                matches!(outcome, Err(PortalError::InvalidRequest { .. })),
                "{label:?} {scopes:?}"
            );
        }
    }
}
