//! The portal's features on top of the session: terms (P7), the
//! health-insurance registration (P1, P3), consents for the
//! self-information API (S1) and agents (P5). Each is one call of the
//! portal API through [`PortalClient::call`](super::client::PortalClient).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::client::PortalClient;
use super::error::PortalError;
use super::wire::{
    API_PREFIX, AcceptAgency, AddAgent, Agency, AgentGrant, AgentScope, AgreeTerms, ChangeAgent,
    Consent, ConsentRequest, DataItem, GrantConsent, InsuranceStatus, RegisterInsurance,
    TermsAgreement, TermsState,
};
use crate::platform::Method;

/// The store setting of the last terms agreement (P7), per portal.
fn terms_setting(authority: &str) -> String {
    format!("portal.terms_agreement.{authority}")
}

/// Ids in paths are the portal's own: refused unless they are plain
/// tokens, so that nothing from outside can reach another route.
fn path_id(id: &str) -> Result<&str, PortalError> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(id)
    } else {
        Err(PortalError::BadAnswer {
            what: format!("not an id: {id:?}"),
        })
    }
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, PortalError> {
    serde_json::to_vec(value).map_err(|e| PortalError::BadAnswer {
        what: e.to_string(),
    })
}

/// What the phone recorded of its last agreement (P7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedAgreement {
    /// The version.
    pub version: String,
    /// When the portal recorded it.
    pub agreed_at: DateTime<Utc>,
}

impl PortalClient {
    /// P7: the terms in force and the holder's last agreement.
    pub async fn terms(&self) -> Result<TermsState, PortalError> {
        self.call(Method::Get, &format!("{API_PREFIX}/terms"), None, None)
            .await
    }

    /// P7: agrees to `version` (what the holder was shown). Refused with
    /// `terms_outdated` if another version is in force. The agreement
    /// (version and time) is also recorded on the phone.
    pub async fn accept_terms(&self, version: &str) -> Result<TermsAgreement, PortalError> {
        let agreement: TermsAgreement = self
            .call(
                Method::Post,
                &format!("{API_PREFIX}/terms/agreements"),
                Some(json(&AgreeTerms {
                    version: version.to_owned(),
                })?),
                Some(&format!("portal/terms/{version}")),
            )
            .await?;
        let text = json(&RecordedAgreement {
            version: agreement.version.clone(),
            agreed_at: agreement.agreed_at,
        })?;
        let text = String::from_utf8_lossy(&text).into_owned();
        let setting = terms_setting(self.authority());
        self.store
            .transaction(|tx| tx.set_setting(&setting, &text))?;
        Ok(agreement)
    }

    /// P7: the agreement this phone recorded last (offline).
    pub fn recorded_terms_agreement(&self) -> Result<Option<RecordedAgreement>, PortalError> {
        let setting = terms_setting(self.authority());
        let text = self.store.transaction(|tx| tx.setting(&setting))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// P1, P3, §6: the holder's registration as the insurer sees it.
    pub async fn insurance_status(&self) -> Result<InsuranceStatus, PortalError> {
        self.call(Method::Get, &format!("{API_PREFIX}/insurance"), None, None)
            .await
    }

    /// P1 method 2: registers the card as the health-insurance card (after
    /// the card login). Needs agreement to the terms in force (P7:
    /// [`PortalError::TermsNotAgreed`] otherwise); usable from the next
    /// visit.
    pub async fn register_insurance(
        &self,
        terms_version: &str,
    ) -> Result<InsuranceStatus, PortalError> {
        self.call(
            Method::Post,
            &format!("{API_PREFIX}/insurance/registration"),
            Some(json(&RegisterInsurance {
                terms_version: terms_version.to_owned(),
            })?),
            Some("portal/insurance/register"),
        )
        .await
    }

    /// Releases the registration at the holder's request (§6 reason 1).
    pub async fn release_insurance(&self) -> Result<InsuranceStatus, PortalError> {
        self.call(
            Method::Post,
            &format!("{API_PREFIX}/insurance/release"),
            Some(b"{}".to_vec()),
            Some("portal/insurance/release"),
        )
        .await
    }

    /// S1: a service's request, as the holder is asked about it.
    pub async fn consent_request(&self, request_id: &str) -> Result<ConsentRequest, PortalError> {
        let id = path_id(request_id)?;
        self.call(
            Method::Get,
            &format!("{API_PREFIX}/consent-requests/{id}"),
            None,
            None,
        )
        .await
    }

    /// S1: grants `items` (a subset of those asked) for the request's
    /// purpose and retention period.
    pub async fn grant_consent(
        &self,
        request_id: &str,
        items: &[DataItem],
    ) -> Result<Consent, PortalError> {
        let id = path_id(request_id)?;
        self.call(
            Method::Post,
            &format!("{API_PREFIX}/consent-requests/{id}/grant"),
            Some(json(&GrantConsent {
                items: items.to_vec(),
            })?),
            Some(&format!("portal/consents/{id}/grant")),
        )
        .await
    }

    /// S1: refuses the request; the service gets nothing.
    pub async fn refuse_consent(&self, request_id: &str) -> Result<ConsentRequest, PortalError> {
        let id = path_id(request_id)?;
        self.call(
            Method::Post,
            &format!("{API_PREFIX}/consent-requests/{id}/refusal"),
            Some(b"{}".to_vec()),
            Some(&format!("portal/consents/{id}/refuse")),
        )
        .await
    }

    /// S1: every consent the holder gave, newest first.
    pub async fn consents(&self) -> Result<Vec<Consent>, PortalError> {
        self.call(Method::Get, &format!("{API_PREFIX}/consents"), None, None)
            .await
    }

    /// S1: withdraws a consent: the service may fetch nothing more and
    /// deletes what it kept.
    pub async fn withdraw_consent(&self, consent_id: &str) -> Result<Consent, PortalError> {
        let id = path_id(consent_id)?;
        self.call(
            Method::Delete,
            &format!("{API_PREFIX}/consents/{id}"),
            None,
            Some(&format!("portal/consents/{id}/withdraw")),
        )
        .await
    }

    /// P5: the holder's delegations.
    pub async fn agents(&self) -> Result<Vec<AgentGrant>, PortalError> {
        self.call(Method::Get, &format!("{API_PREFIX}/agents"), None, None)
            .await
    }

    /// P5: delegates `scopes` to an agent named `label`; the answer carries
    /// the one-time invitation code to give the agent.
    pub async fn add_agent(
        &self,
        label: &str,
        scopes: &[AgentScope],
    ) -> Result<AgentGrant, PortalError> {
        let operation = format!("portal/agents/add/{}", crate::hex::to_hex(label.as_bytes()));
        self.call(
            Method::Post,
            &format!("{API_PREFIX}/agents"),
            Some(json(&AddAgent {
                label: label.to_owned(),
                scopes: scopes.to_vec(),
            })?),
            Some(&operation),
        )
        .await
    }

    /// P5: changes what the agent may do, effective at once.
    pub async fn change_agent(
        &self,
        grant_id: &str,
        scopes: &[AgentScope],
    ) -> Result<AgentGrant, PortalError> {
        let id = path_id(grant_id)?;
        self.call(
            Method::Patch,
            &format!("{API_PREFIX}/agents/{id}"),
            Some(json(&ChangeAgent {
                scopes: scopes.to_vec(),
            })?),
            Some(&format!("portal/agents/{id}/change")),
        )
        .await
    }

    /// P5: ends the delegation, effective at once.
    pub async fn remove_agent(&self, grant_id: &str) -> Result<AgentGrant, PortalError> {
        let id = path_id(grant_id)?;
        self.call(
            Method::Delete,
            &format!("{API_PREFIX}/agents/{id}"),
            None,
            Some(&format!("portal/agents/{id}/remove")),
        )
        .await
    }

    /// P5, the agent's side: accepts a holder's invitation (logged in with
    /// the agent's own card). Then [`PortalClient::act_on_behalf_of`] with
    /// the grant id.
    pub async fn accept_agency(&self, invitation_code: &str) -> Result<Agency, PortalError> {
        self.call(
            Method::Post,
            &format!("{API_PREFIX}/agencies"),
            Some(json(&AcceptAgency {
                invitation_code: invitation_code.to_owned(),
            })?),
            Some("portal/agencies/accept"),
        )
        .await
    }

    /// P5, the agent's side: the delegations this user holds.
    pub async fn agencies(&self) -> Result<Vec<Agency>, PortalError> {
        self.call(Method::Get, &format!("{API_PREFIX}/agencies"), None, None)
            .await
    }
}
