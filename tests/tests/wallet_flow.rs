//! The card-substitute wallet on the phone (`mynakit_core::wallet`, issue
//! 9) against the reference J-LIS issuer in process: apply in one tap,
//! present, verify, and the record's life (W2–W10), with the phone's clock
//! and the issuer's the same manual clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::{DateTime, Duration, TimeDelta, Utc};
use mynakit_core::wallet::mdoc::{ElementId, ElementValue};
use mynakit_core::wallet::status_list::Status;
use mynakit_core::wallet::verifier::{StatusCheck, Verifier, VerifyFailure};
use mynakit_core::wallet::wire::{NoticeKind, RecordStatus, ReissueReason, RevocationReason};
use mynakit_core::wallet::{
    ReapplyReason, WalletApplication, WalletClient, WalletError, WalletRecord,
};
use mynakit_core::{
    CardChannel, Clock, IdempotencyKey, KenhojoPin, ManualClock, SecureAreaError, SigningPassword,
    SoftwareSecureArea, Store, UserAuthenticator,
};
use mynakit_sandbox::wallet::{WalletIssuer, WalletLink};
use mynakit_sandbox::{LinkSwitches, Sandbox, VirtualTransport};
use mynakit_tests::{PIN, SIGNING_PASSWORD, block_on};

const ISSUER: &str = "http://issuer.sandbox.mynakit.invalid";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The phone's lock screen: approves unless told to refuse; counts prompts.
#[derive(Default)]
struct LockScreen {
    refuse: AtomicBool,
    prompts: AtomicUsize,
}

impl UserAuthenticator for LockScreen {
    fn authenticate(&self, _alias: &str) -> Result<(), SecureAreaError> {
        self.prompts.fetch_add(1, Ordering::SeqCst);
        if self.refuse.load(Ordering::SeqCst) {
            Err(SecureAreaError::UserCancelled)
        } else {
            Ok(())
        }
    }
}

/// A verifier's transcript: any CBOR the verifier and the phone share
/// (here `[null, null, tag]`, the shape of an ISO 18013-5 SessionTranscript).
fn transcript(tag: &str) -> Vec<u8> {
    assert!(tag.len() < 24);
    let mut bytes = vec![0x83, 0xf6, 0xf6, 0x60 + tag.len() as u8];
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}

fn element(identifier: &str) -> ElementId {
    ElementId::parse(identifier).unwrap()
}

struct World {
    clock: Arc<ManualClock>,
    issuer: Arc<WalletIssuer>,
    sandbox: Sandbox,
}

impl World {
    fn at(start: DateTime<Utc>) -> Self {
        let clock = Arc::new(ManualClock::new(start));
        let issuer = Arc::new(WalletIssuer::in_memory(clock.clone(), ISSUER).unwrap());
        Self {
            clock,
            issuer,
            sandbox: Sandbox::new(),
        }
    }

    fn phone(&self) -> Phone<'_> {
        let lock = Arc::new(LockScreen::default());
        let secure_area =
            Arc::new(SoftwareSecureArea::in_memory().with_authenticator(lock.clone()));
        let client = WalletClient::new(
            Arc::new(WalletLink::new(self.issuer.clone())),
            Arc::new(Store::open_in_memory().unwrap()),
            secure_area.clone(),
            self.clock.clone(),
            ISSUER,
        )
        .unwrap();
        Phone {
            world: self,
            lock,
            secure_area,
            client,
        }
    }

    fn channel(&self) -> CardChannel<VirtualTransport> {
        CardChannel::new(self.sandbox.transport(LinkSwitches::default()))
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(vec![self.issuer.iaca_der()])
    }

    fn key() -> IdempotencyKey {
        IdempotencyKey::generate().unwrap()
    }

    fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }
}

struct Phone<'w> {
    world: &'w World,
    lock: Arc<LockScreen>,
    secure_area: Arc<SoftwareSecureArea>,
    client: WalletClient,
}

impl Phone<'_> {
    fn begin(&self) -> WalletApplication {
        block_on(self.client.begin_application()).unwrap()
    }

    fn tap(&self, application: &mut WalletApplication) -> Result<(), WalletError> {
        block_on(self.client.tap(
            application,
            &mut self.world.channel(),
            &KenhojoPin::new(PIN).unwrap(),
            &SigningPassword::new(SIGNING_PASSWORD).unwrap(),
        ))
    }

    fn apply(&self) -> WalletRecord {
        let mut application = self.begin();
        self.tap(&mut application).unwrap();
        block_on(self.client.submit_application(&mut application)).unwrap()
    }

    fn present(&self, record: &str, elements: &[&str], tag: &str) -> Result<Vec<u8>, WalletError> {
        let wanted: Vec<ElementId> = elements.iter().map(|e| element(e)).collect();
        block_on(self.client.present(record, &wanted, &transcript(tag)))
    }

    fn status_list(&self, record: &WalletRecord) -> Vec<u8> {
        block_on(
            self.client
                .status_list(&record.status_uri, Duration::zero()),
        )
        .unwrap()
        .unwrap()
    }

    fn current(&self) -> WalletRecord {
        self.client
            .records()
            .unwrap()
            .into_iter()
            .find(|r| r.replaced_by.is_none())
            .unwrap()
    }
}

fn text(elements: &[(ElementId, ElementValue)], identifier: &str) -> Option<String> {
    elements
        .iter()
        .find(|(id, _)| id.identifier == identifier)
        .and_then(|(_, value)| match value {
            ElementValue::Text(text) => Some(text.clone()),
            _ => None,
        })
}

#[test]
fn w2_w4_w5_w10_apply_in_one_tap_then_present_only_what_was_asked_and_verify_it() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let phone = world.phone();
    let record = phone.apply();
    assert_eq!(record.status, RecordStatus::Valid);
    assert_eq!(record.uses, 0);
    // W5: from the day of issue (1 July in Japan) to the end of 31 July JST.
    assert_eq!(record.valid_from, at("2026-07-01T01:00:00Z"));
    assert_eq!(record.valid_until, at("2026-08-01T00:00:00+09:00"));
    // One prompt so far: the device key signed the application.
    assert_eq!(phone.lock.prompts.load(Ordering::SeqCst), 1);

    let elements = block_on(phone.client.record_elements(&record.record_id)).unwrap();
    assert!(
        text(&elements, "full_name_unicode").is_some_and(|n| n.contains('\u{3000}')),
        "the name from Kenhojo"
    );
    assert_eq!(
        text(&elements, "individual_number_unicode").map(|n| n.len()),
        Some(12)
    );
    assert!(elements.iter().any(|(id, v)| id.identifier == "portrait"
        && matches!(v, ElementValue::Bytes(b) if !b.is_empty())));

    let response = phone
        .present(
            &record.record_id,
            &["age_over_20", "portrait"],
            "verifier-1",
        )
        .unwrap();
    assert_eq!(
        phone.lock.prompts.load(Ordering::SeqCst),
        2,
        "W10: one prompt per use"
    );
    assert_eq!(phone.client.record(&record.record_id).unwrap().uses, 1);
    let verified = world
        .verifier()
        .verify(
            &response,
            &transcript("verifier-1"),
            world.clock.now(),
            Some(&phone.status_list(&record)),
        )
        .unwrap();
    let mut disclosed: Vec<_> = verified
        .elements
        .iter()
        .map(|(id, _)| id.identifier.clone())
        .collect();
    disclosed.sort();
    assert_eq!(
        disclosed,
        ["age_over_20", "portrait"],
        "selective disclosure"
    );
    assert!(
        verified
            .elements
            .iter()
            .any(|(id, v)| id.identifier == "age_over_20" && *v == ElementValue::Bool(true))
    );
    assert_eq!(verified.status, StatusCheck::Valid);

    // The same response under another verifier's transcript: a replay.
    assert!(matches!(
        world.verifier().verify(
            &response,
            &transcript("verifier-2"),
            world.clock.now(),
            None
        ),
        Err(VerifyFailure::DeviceSignature)
    ));
    // Without a status list the status is undetermined, never "revoked".
    let unknown = world
        .verifier()
        .verify(
            &response,
            &transcript("verifier-1"),
            world.clock.now(),
            None,
        )
        .unwrap();
    assert!(matches!(unknown.status, StatusCheck::Undetermined { .. }));
}

#[test]
fn w3_nobody_applies_while_a_record_is_in_force_on_this_or_another_phone() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let phone = world.phone();
    let record = phone.apply();
    match block_on(phone.client.begin_application()) {
        Err(WalletError::RecordInForce { record_id }) => assert_eq!(record_id, record.record_id),
        other => panic!("{other:?}"),
    }
    // A second phone with the same card: the issuer refuses (W3).
    let other = world.phone();
    let mut application = other.begin();
    other.tap(&mut application).unwrap();
    match block_on(other.client.submit_application(&mut application)) {
        Err(WalletError::RecordInForce { record_id }) => assert_eq!(record_id, record.record_id),
        other => panic!("{other:?}"),
    }
    assert!(other.client.records().unwrap().is_empty());
    // Revoked from the first phone (W7(2)), the second may apply.
    let revoked = block_on(phone.client.revoke(&record.record_id)).unwrap();
    assert_eq!(revoked.status, RecordStatus::Revoked);
    assert_eq!(
        revoked.revocation_reason,
        Some(RevocationReason::HolderRequest)
    );
    let second = other.apply();
    assert_eq!(second.status, RecordStatus::Valid);
}

#[test]
fn w10_no_presentation_without_the_user_and_none_with_an_invalidated_key() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    // A phone without a lock screen cannot even make the device key.
    let bare = WalletClient::new(
        Arc::new(WalletLink::new(world.issuer.clone())),
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(SoftwareSecureArea::in_memory()),
        world.clock.clone(),
        ISSUER,
    )
    .unwrap();
    assert!(matches!(
        block_on(bare.begin_application()),
        Err(WalletError::SecureArea(
            SecureAreaError::NoUserAuthentication
        ))
    ));

    let phone = world.phone();
    let record = phone.apply();
    phone.lock.refuse.store(true, Ordering::SeqCst);
    assert!(matches!(
        phone.present(&record.record_id, &["age_over_18"], "t"),
        Err(WalletError::SecureArea(SecureAreaError::UserCancelled))
    ));
    phone.lock.refuse.store(false, Ordering::SeqCst);
    phone
        .present(&record.record_id, &["age_over_18"], "t")
        .unwrap();
    // The lock screen removed: the key is invalidated, the record unusable,
    // and the app is told to apply again with the card.
    assert_eq!(phone.secure_area.invalidate_user_bound_keys().unwrap(), 1);
    assert!(matches!(
        phone.present(&record.record_id, &["age_over_18"], "t"),
        Err(WalletError::ReapplyWithCard {
            reason: ReapplyReason::DeviceKeyInvalidated
        })
    ));
    // Refresh says the same: the card is needed for a new record.
    let report = block_on(phone.client.refresh()).unwrap();
    assert!(report.reissued.is_none());
    assert_eq!(report.reapply, Some(ReapplyReason::DeviceKeyInvalidated));
    // The key cannot revoke it either; a new application with the card
    // replaces it (W3 holds: the old one stops as the new one is issued).
    assert!(matches!(
        block_on(phone.client.revoke(&record.record_id)),
        Err(WalletError::ReapplyWithCard { .. })
    ));
    let second = phone.apply();
    assert_eq!(second.status, RecordStatus::Valid);
    let old = phone.client.record(&record.record_id).unwrap();
    assert_eq!(old.replaced_by.as_deref(), Some(second.record_id.as_str()));
    let in_force: Vec<_> = world
        .issuer
        .records()
        .unwrap()
        .into_iter()
        .filter(|r| r.status == RecordStatus::Valid)
        .map(|r| r.record_id)
        .collect();
    assert_eq!(in_force, std::slice::from_ref(&second.record_id));
    phone
        .present(&second.record_id, &["age_over_18"], "t2")
        .unwrap();
}

#[test]
fn an_element_the_record_does_not_have_is_a_typed_refusal_and_costs_no_prompt() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let phone = world.phone();
    let record = phone.apply();
    let prompts = phone.lock.prompts.load(Ordering::SeqCst);
    match phone.present(
        &record.record_id,
        &["org.iso.23220.1/driving_privileges"],
        "t",
    ) {
        Err(WalletError::ElementAbsent { element }) => {
            assert!(element.contains("driving_privileges"), "{element}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(phone.lock.prompts.load(Ordering::SeqCst), prompts);
    assert_eq!(phone.client.record(&record.record_id).unwrap().uses, 0);
}

#[test]
fn w5_w6_1_a_month_passes_and_the_record_is_re_issued_without_the_card() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let phone = world.phone();
    let first = phone.apply();
    let response = phone
        .present(&first.record_id, &["age_over_18"], "t")
        .unwrap();
    // The last second of 31 July in Japan: still valid.
    world.clock.set(at("2026-07-31T14:59:59Z"));
    assert_eq!(
        phone.client.records().unwrap()[0].status,
        RecordStatus::Valid
    );
    // Midnight in Japan (15:00 UTC, still 31 July in UTC): expired (W5).
    world.clock.set(at("2026-07-31T15:00:00Z"));
    let expired = phone.client.record(&first.record_id).unwrap();
    assert_eq!(expired.status, RecordStatus::Expired);
    assert_eq!(expired.reissue_due, Some(ReissueReason::ValidityEnded));
    assert!(matches!(
        world
            .verifier()
            .verify(&response, &transcript("t"), world.clock.now(), None),
        Err(VerifyFailure::Expired)
    ));
    assert!(matches!(
        phone.present(&first.record_id, &["age_over_18"], "t"),
        Err(WalletError::RecordNotUsable {
            status: RecordStatus::Expired,
            ..
        })
    ));
    let report = block_on(phone.client.refresh()).unwrap();
    let reissued = report.reissued.expect("W6(1): re-issued");
    assert_eq!(reissued.reason, ReissueReason::ValidityEnded);
    assert_eq!(reissued.old_record_id, first.record_id);
    let second = phone.client.record(&reissued.new_record_id).unwrap();
    assert_eq!(second.status, RecordStatus::Valid);
    // Issued 1 August 00:00 JST: valid to the end of 31 August JST.
    assert_eq!(second.valid_until, at("2026-09-01T00:00:00+09:00"));
    let old = phone.client.record(&first.record_id).unwrap();
    assert_eq!(old.replaced_by.as_deref(), Some(second.record_id.as_str()));
    assert!(!old.in_force());
    // The new record presents and verifies.
    let response = phone
        .present(&second.record_id, &["age_in_years"], "t2")
        .unwrap();
    let verified = world
        .verifier()
        .verify(
            &response,
            &transcript("t2"),
            world.clock.now(),
            Some(&phone.status_list(&second)),
        )
        .unwrap();
    assert_eq!(verified.status, StatusCheck::Valid);
    // Exactly one record in force at the issuer.
    let in_force: Vec<_> = world
        .issuer
        .records()
        .unwrap()
        .into_iter()
        .filter(|r| r.status == RecordStatus::Valid)
        .collect();
    assert_eq!(in_force.len(), 1);
    assert_eq!(in_force[0].record_id, second.record_id);
}

#[test]
fn w6_2_w8_1_3_the_birthday_revokes_the_record_and_a_new_one_with_the_new_age_follows() {
    // The sandbox holder was born on 15 June 1985 (Showa 60).
    let world = World::at(at("2026-06-10T03:00:00Z"));
    let phone = world.phone();
    let first = phone.apply();
    let age = |record: &str| {
        block_on(phone.client.record_elements(record))
            .unwrap()
            .into_iter()
            .find(|(id, _)| id.identifier == "age_in_years")
            .map(|(_, v)| v)
    };
    assert_eq!(age(&first.record_id), Some(ElementValue::Unsigned(40)));
    let response = phone
        .present(&first.record_id, &["age_in_years"], "t")
        .unwrap();
    // 15 June 00:00 in Japan is 14 June 15:00 UTC.
    world.clock.set(at("2026-06-14T15:00:00Z"));
    let status = phone.status_list(&first);
    assert!(matches!(
        world.verifier().verify(
            &response,
            &transcript("t"),
            world.clock.now(),
            Some(&status)
        ),
        Err(VerifyFailure::Revoked)
    ));
    let report = block_on(phone.client.refresh()).unwrap();
    let reissued = report.reissued.expect("W6(2)");
    assert_eq!(reissued.reason, ReissueReason::Birthday);
    let old = phone.client.record(&first.record_id).unwrap();
    assert_eq!(old.revocation_reason, Some(RevocationReason::Birthday));
    assert_eq!(
        age(&reissued.new_record_id),
        Some(ElementValue::Unsigned(41))
    );
}

#[test]
fn w6_3_more_uses_than_the_policy_count_bring_a_new_record() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let phone = world.phone();
    let first = phone.apply();
    for n in 0..=mynakit_core::wallet::policy::MAX_USES_BEFORE_REISSUE {
        phone
            .present(&first.record_id, &["age_over_18"], &format!("t{n}"))
            .unwrap();
    }
    let record = phone.client.record(&first.record_id).unwrap();
    assert_eq!(record.reissue_due, Some(ReissueReason::UsageCount));
    let report = block_on(phone.client.refresh()).unwrap();
    assert_eq!(report.reissued.unwrap().reason, ReissueReason::UsageCount);
    assert_eq!(phone.current().uses, 0);
}

#[test]
fn w9_w6_4_lost_suspends_recovered_re_issues_and_the_holder_is_told() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let phone = world.phone();
    let first = phone.apply();
    let response = phone
        .present(&first.record_id, &["age_over_18"], "t")
        .unwrap();
    world
        .issuer
        .report_lost(&World::key(), &first.record_id)
        .unwrap();
    assert!(matches!(
        world.verifier().verify(
            &response,
            &transcript("t"),
            world.clock.now(),
            Some(&phone.status_list(&first))
        ),
        Err(VerifyFailure::Suspended)
    ));
    let report = block_on(phone.client.refresh()).unwrap();
    assert!(report.reissued.is_none());
    assert_eq!(
        phone.client.record(&first.record_id).unwrap().status,
        RecordStatus::Suspended
    );
    assert!(
        report
            .notices
            .iter()
            .any(|n| n.record_id == first.record_id && n.kind == NoticeKind::Suspended)
    );
    assert!(matches!(
        phone.present(&first.record_id, &["age_over_18"], "t"),
        Err(WalletError::RecordNotUsable {
            status: RecordStatus::Suspended,
            ..
        })
    ));
    world
        .issuer
        .recovered(&World::key(), &first.record_id)
        .unwrap();
    let report = block_on(phone.client.refresh()).unwrap();
    let reissued = report.reissued.expect("W6(4)");
    assert_eq!(reissued.reason, ReissueReason::Recovered);
    let second = phone.client.record(&reissued.new_record_id).unwrap();
    assert_eq!(second.status, RecordStatus::Valid);
    phone
        .present(&second.record_id, &["age_over_18"], "t3")
        .unwrap();
}

#[test]
fn w8_1_1_a_revoked_signing_certificate_revokes_the_record_notifies_and_asks_for_the_card() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let phone = world.phone();
    let first = phone.apply();
    let serial = world
        .sandbox
        .card()
        .signing_certificate()
        .unwrap()
        .serial_hex();
    world
        .issuer
        .revoke_certificate(&World::key(), &serial)
        .unwrap();
    let report = block_on(phone.client.refresh()).unwrap();
    assert_eq!(report.reapply, Some(ReapplyReason::CertificateRevoked));
    assert!(report.reissued.is_none());
    let record = phone.client.record(&first.record_id).unwrap();
    assert_eq!(record.status, RecordStatus::Revoked);
    assert_eq!(
        record.revocation_reason,
        Some(RevocationReason::CertificateRevoked)
    );
    // Art. 8(2): the holder is told for reason (1).
    assert!(report.notices.iter().any(|n| n.kind
        == NoticeKind::Revoked {
            reason: RevocationReason::CertificateRevoked
        }));
    // And applying again with that card is refused (W4).
    let mut application = phone.begin();
    phone.tap(&mut application).unwrap();
    assert!(matches!(
        block_on(phone.client.submit_application(&mut application)),
        Err(WalletError::Refused {
            error: mynakit_core::wallet::WalletRefusal::CertificateRevoked,
            ..
        })
    ));
}

#[test]
fn personal_data_is_never_in_the_store_in_clear() {
    let dir = std::env::temp_dir().join(format!("mynakit-wallet-at-rest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let lock = Arc::new(LockScreen::default());
    let store = Arc::new(Store::open(dir.join("phone.db")).unwrap());
    let client = WalletClient::new(
        Arc::new(WalletLink::new(world.issuer.clone())),
        store.clone(),
        Arc::new(SoftwareSecureArea::in_memory().with_authenticator(lock)),
        world.clock.clone(),
        ISSUER,
    )
    .unwrap();
    let mut application = block_on(client.begin_application()).unwrap();
    block_on(client.tap(
        &mut application,
        &mut world.channel(),
        &KenhojoPin::new(PIN).unwrap(),
        &SigningPassword::new(SIGNING_PASSWORD).unwrap(),
    ))
    .unwrap();
    let record = block_on(client.submit_application(&mut application)).unwrap();
    let elements = block_on(client.record_elements(&record.record_id)).unwrap();
    let name = text(&elements, "full_name_unicode").unwrap();
    let number = text(&elements, "individual_number_unicode").unwrap();
    let address = text(&elements, "resident_address_unicode").unwrap();
    drop(client);
    drop(store);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    for secret in [name.as_str(), number.as_str(), address.as_str()] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "found in the store's files"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_status_list_is_reused_within_its_ttl_and_fetched_again_after() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let phone = world.phone();
    let record = phone.apply();
    let ttl = Duration::minutes(20);
    let first = block_on(phone.client.status_list(&record.status_uri, ttl))
        .unwrap()
        .unwrap();
    world
        .issuer
        .report_lost(&World::key(), &record.record_id)
        .unwrap();
    world.advance(TimeDelta::minutes(5));
    let cached = block_on(phone.client.status_list(&record.status_uri, ttl))
        .unwrap()
        .unwrap();
    assert_eq!(cached, first, "within the ttl: the kept token");
    world.advance(TimeDelta::minutes(16));
    let fresh = block_on(phone.client.status_list(&record.status_uri, ttl))
        .unwrap()
        .unwrap();
    assert_ne!(fresh, first);
    let list = mynakit_core::wallet::status_list::verify_status_list_token(
        &fresh,
        &[world.issuer.iaca_der()],
        &record.status_uri,
        world.clock.now(),
    )
    .unwrap();
    assert_eq!(list.list.get(record.status_idx), Some(Status::Suspended));
}

#[test]
fn w6_once_the_signing_certificate_has_expired_a_due_re_issue_asks_for_the_card_instead() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let phone = world.phone();
    let first = phone.apply();
    let not_after = world
        .sandbox
        .card()
        .signing_certificate()
        .unwrap()
        .not_after();
    assert_eq!(first.signing_certificate_not_after, not_after);
    // A record issued within the certificate's last month, then past both.
    world
        .issuer
        .admin_revoke(
            &World::key(),
            &first.record_id,
            RevocationReason::Operational,
        )
        .unwrap();
    block_on(phone.client.refresh()).unwrap();
    world.clock.set(not_after - TimeDelta::days(10));
    let last = phone.apply();
    assert!(last.valid_until > not_after, "W5 runs past the certificate");
    world.clock.set(last.valid_until);
    let report = block_on(phone.client.refresh()).unwrap();
    assert_eq!(report.reapply, Some(ReapplyReason::CertificateExpired));
    assert!(report.reissued.is_none());
    // A JPKI certificate ends on the fifth birthday after issue, so the
    // birthday (W8(1)(3)) has stopped the record too; no new one follows.
    let stopped = phone.client.record(&last.record_id).unwrap();
    assert!(!stopped.in_force(), "{stopped:?}");
    assert_eq!(stopped.revocation_reason, Some(RevocationReason::Birthday));
    // And the card with that certificate cannot apply any more (W4).
    let mut application = phone.begin();
    phone.tap(&mut application).unwrap();
    assert!(matches!(
        block_on(phone.client.submit_application(&mut application)),
        Err(WalletError::Refused {
            error: mynakit_core::wallet::WalletRefusal::CertificateExpired,
            ..
        })
    ));
}

#[test]
fn a_status_list_from_another_trusted_issuer_says_nothing_about_this_record() {
    let world = World::at(at("2026-07-01T01:00:00Z"));
    let phone = world.phone();
    let record = phone.apply();
    let response = phone
        .present(&record.record_id, &["age_over_18"], "t")
        .unwrap();
    world
        .issuer
        .admin_revoke(
            &World::key(),
            &record.record_id,
            RevocationReason::Operational,
        )
        .unwrap();
    // A second issuer the verifier also trusts, publishing a list under
    // the same URI in which every entry is VALID.
    let other = WalletIssuer::in_memory(world.clock.clone(), ISSUER).unwrap();
    let foreign = other.status_list(1).unwrap();
    let verifier = Verifier::new(vec![world.issuer.iaca_der(), other.iaca_der()]);
    let verified = verifier
        .verify(
            &response,
            &transcript("t"),
            world.clock.now(),
            Some(&foreign),
        )
        .unwrap();
    assert!(
        matches!(verified.status, StatusCheck::Undetermined { .. }),
        "{:?}",
        verified.status
    );
    // The record's own issuer's list still says revoked.
    assert!(matches!(
        verifier.verify(
            &response,
            &transcript("t"),
            world.clock.now(),
            Some(&phone.status_list(&record))
        ),
        Err(VerifyFailure::Revoked)
    ));
}
