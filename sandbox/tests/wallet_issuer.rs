//! The reference wallet issuer (issue 9), through its HTTP routes in
//! process: every route, every refusal, and the rules W3–W9 with the clock
//! moving through months, birthdays and a Japan-only day boundary. The card
//! signatures are real: the sandbox CA issues the signing certificates and
//! the fixture signing key signs (PKCS#1 v1.5, SHA-256) as the card does.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use mynakit_core::wallet::mdoc::IssuerSigned;
use mynakit_core::wallet::policy::validity_of_record_issued_at;
use mynakit_core::wallet::status_list::{Status, verify_status_list_token};
use mynakit_core::wallet::wire::{
    ApplicationData, ApplyRequest, CertificateStatus, DeviceKeyDescription, IssuedRecord,
    NonceResponse, NoticeKind, NoticeList, PublicNoticeList, RecordState, RecordStatus,
    ReissueReason, ReissueRequest, RevocationReason, RevokeRequest, WalletErrorBody, apply_message,
    reissue_message, revoke_message,
};
use mynakit_core::{
    AuthorityResponse, CardCertificate, Clock, IdempotencyKey, ManualClock, SecurityLevel,
    UserAuthentication,
};
use mynakit_sandbox::fixtures::FixtureKey;
use mynakit_sandbox::reset::token::{es256_sign, generate_p256, sec1};
use mynakit_sandbox::wallet::{
    AdminRecord, DEFAULT_BASE_URL, IssuerPolicy, WalletIssuer, handle_sandbox,
};
use mynakit_sandbox::{Holder, SandboxCa};
use p256::ecdsa::SigningKey;
use rsa::Pkcs1v15Sign;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// 2026-06-01 18:00 in Japan: two weeks before the sample holder's
/// birthday (15 June).
fn start() -> DateTime<Utc> {
    at("2026-06-01T09:00:00Z")
}

fn key() -> IdempotencyKey {
    IdempotencyKey::generate().unwrap()
}

/// A card holder: who they are and their signing certificate (issued by
/// the sandbox CA over the fixture signing key, which signs for them).
#[derive(Clone)]
struct Person {
    holder: Holder,
    certificate: CardCertificate,
}

impl Person {
    /// The sample holder (born 1985-06-15), certificate issued 2025-04-01
    /// (valid through 2029-06-15).
    fn sample() -> Self {
        Self::new(Holder::sample(), d(2025, 4, 1))
    }

    /// Another holder; `issued_on` also makes the certificate's serial
    /// (the sandbox derives it from key and date).
    fn other(name: &str, my_number_body: &str, birth: NaiveDate, issued_on: NaiveDate) -> Self {
        let digit = mynakit_core::check_digit(my_number_body.as_bytes());
        let holder = Holder {
            name: name.to_owned(),
            birth_date: Some(birth),
            my_number: mynakit_core::MyNumber::new(&format!("{my_number_body}{digit}")).unwrap(),
            ..Holder::sample()
        };
        Self::new(holder, issued_on)
    }

    /// A holder born in January: no birthday in this file's summer months.
    fn winter() -> Self {
        Self::other("冬生　一郎", "14142135623", d(1980, 1, 10), d(2025, 2, 1))
    }

    fn new(holder: Holder, issued_on: NaiveDate) -> Self {
        let certificate = SandboxCa::fixture()
            .issue_signing(
                &holder,
                issued_on,
                FixtureKey::CardSigning.private_key().as_public_key(),
            )
            .unwrap();
        Self {
            holder,
            certificate,
        }
    }

    fn data(&self) -> ApplicationData {
        ApplicationData {
            name: self.holder.name.clone(),
            address: self.holder.address.clone(),
            birth_date: self.holder.birth_date,
            sex: 2,
            my_number: self.holder.my_number.expose().to_owned(),
            photo_jp2: self.holder.photo.clone(),
        }
    }

    fn serial(&self) -> String {
        self.certificate.serial_hex().to_ascii_lowercase()
    }
}

/// A card's signature over `message`, as COMPUTE DIGITAL SIGNATURE makes
/// it over a SHA-256 DigestInfo.
fn card_sign(message: &[u8]) -> Vec<u8> {
    FixtureKey::CardSigning
        .private_key()
        .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message))
        .unwrap()
}

/// One phone (device key) and the issuer it talks to, over the routes.
struct World {
    clock: Arc<ManualClock>,
    issuer: Arc<WalletIssuer>,
    device: SigningKey,
}

/// An answer: status and JSON (or raw bytes for the binary routes).
struct Answer {
    response: AuthorityResponse,
}

impl Answer {
    fn status(&self) -> u16 {
        self.response.status
    }

    fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.response.body).unwrap_or_else(|e| {
            panic!(
                "status {}: {e}: {}",
                self.response.status,
                String::from_utf8_lossy(&self.response.body)
            )
        })
    }

    /// The refusal's kind, checking its status.
    fn refusal(&self, status: u16) -> WalletErrorBody {
        assert_eq!(
            self.response.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.response.body)
        );
        self.json()
    }

    fn kind(&self, status: u16) -> String {
        self.refusal(status).error
    }
}

impl World {
    fn new() -> Self {
        Self::with_policy(IssuerPolicy::default())
    }

    fn with_policy(policy: IssuerPolicy) -> Self {
        Self::at(start(), policy)
    }

    fn at(now: DateTime<Utc>, policy: IssuerPolicy) -> Self {
        let clock = Arc::new(ManualClock::new(now));
        let issuer = Arc::new(
            WalletIssuer::in_memory(clock.clone(), DEFAULT_BASE_URL)
                .unwrap()
                .with_policy(policy),
        );
        Self {
            clock,
            issuer,
            device: generate_p256().unwrap(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn set(&self, now: DateTime<Utc>) {
        self.clock.set(now);
    }

    fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    fn device_key(&self) -> Vec<u8> {
        sec1(self.device.verifying_key())
    }

    fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        Answer {
            response: handle_sandbox(&self.issuer, method, path, &headers, body),
        }
    }

    fn post_keyed<T: Serialize>(
        &self,
        path: &str,
        key: &IdempotencyKey,
        token: Option<&str>,
        body: &T,
    ) -> Answer {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Idempotency-Key", key.as_str())];
        if let Some(b) = &bearer {
            headers.push(("Authorization", b.as_str()));
        }
        self.call("POST", path, &headers, &serde_json::to_vec(body).unwrap())
    }

    fn post<T: Serialize>(&self, path: &str, token: Option<&str>, body: &T) -> Answer {
        self.post_keyed(path, &key(), token, body)
    }

    fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| vec![("Authorization", b)])
            .unwrap_or_default();
        self.call("GET", path, &headers, &[])
    }

    fn nonce(&self) -> String {
        let answer = self.post("/v1/wallet/nonces", None, &serde_json::json!({}));
        assert_eq!(answer.status(), 201);
        answer.json::<NonceResponse>().nonce
    }

    fn apply_request(&self, person: &Person) -> ApplyRequest {
        self.apply_request_with(person, &self.nonce())
    }

    fn apply_request_with(&self, person: &Person, nonce: &str) -> ApplyRequest {
        let data = person.data();
        let device_key = self.device_key();
        let message = apply_message(nonce, &device_key, &data.digest());
        ApplyRequest {
            nonce: nonce.to_owned(),
            data,
            device_key: DeviceKeyDescription {
                public_key: device_key,
                security_level: SecurityLevel::Software,
                user_authentication: UserAuthentication::EveryUse,
                attestation: Vec::new(),
            },
            signing_certificate: person.certificate.der().to_vec(),
            card_signature: card_sign(&message),
            device_signature: es256_sign(&self.device, &message),
            replaces: None,
        }
    }

    /// Signs `request` again after a change to its data or device key.
    fn resign(&self, request: &mut ApplyRequest) {
        let message = apply_message(
            &request.nonce,
            &request.device_key.public_key,
            &request.data.digest(),
        );
        request.card_signature = card_sign(&message);
        request.device_signature = es256_sign(&self.device, &message);
    }

    fn apply_answer(&self, request: &ApplyRequest) -> Answer {
        self.post("/v1/wallet/applications", None, request)
    }

    fn apply(&self, person: &Person) -> IssuedRecord {
        let answer = self.apply_answer(&self.apply_request(person));
        assert_eq!(
            answer.status(),
            201,
            "{}",
            String::from_utf8_lossy(&answer.response.body)
        );
        answer.json()
    }

    fn reissue_request(&self, record_id: &str, reason: ReissueReason, uses: u64) -> ReissueRequest {
        let nonce = self.nonce();
        let message = reissue_message(&nonce, record_id, reason, uses);
        ReissueRequest {
            nonce,
            reason,
            uses,
            device_signature: es256_sign(&self.device, &message),
        }
    }

    fn reissue_answer(&self, record: &IssuedRecord, reason: ReissueReason, uses: u64) -> Answer {
        let request = self.reissue_request(&record.record_id, reason, uses);
        self.post(
            &format!("/v1/wallet/records/{}/reissues", record.record_id),
            Some(&record.holder_token),
            &request,
        )
    }

    fn reissue(&self, record: &IssuedRecord, reason: ReissueReason, uses: u64) -> IssuedRecord {
        let answer = self.reissue_answer(record, reason, uses);
        assert_eq!(
            answer.status(),
            201,
            "{}",
            String::from_utf8_lossy(&answer.response.body)
        );
        answer.json()
    }

    fn state(&self, record: &IssuedRecord) -> RecordState {
        self.state_of(&record.record_id, &record.holder_token)
    }

    fn state_of(&self, record_id: &str, token: &str) -> RecordState {
        let answer = self.get(&format!("/v1/wallet/records/{record_id}"), Some(token));
        assert_eq!(answer.status(), 200);
        answer.json()
    }

    fn notices(&self, token: &str) -> Vec<NoticeKind> {
        let answer = self.get("/v1/wallet/notices", Some(token));
        assert_eq!(answer.status(), 200);
        answer
            .json::<NoticeList>()
            .notices
            .into_iter()
            .map(|n| n.kind)
            .collect()
    }

    fn public_notices(&self) -> PublicNoticeList {
        let answer = self.get("/v1/wallet/public-notices", None);
        assert_eq!(answer.status(), 200);
        answer.json()
    }

    fn iaca(&self) -> Vec<u8> {
        let answer = self.get("/v1/wallet/iaca", None);
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.response.header("Content-Type"),
            Some("application/pkix-cert")
        );
        answer.response.body
    }

    fn status_list_bytes(&self) -> Vec<u8> {
        let answer = self.get("/v1/wallet/status-lists/1", None);
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.response.header("Content-Type"),
            Some("application/statuslist+cwt")
        );
        answer.response.body
    }

    /// What a verifier reads in the published list for `record` (the
    /// token verified against the issuer's IACA, its uri and exp).
    fn listed(&self, record: &IssuedRecord) -> Status {
        let token = verify_status_list_token(
            &self.status_list_bytes(),
            &[self.iaca()],
            &record.status.uri,
            self.now(),
        )
        .unwrap();
        token.list.get(record.status.idx).unwrap()
    }

    fn admin(&self, record_id: &str, action: &str, body: &Value) -> Answer {
        self.post(
            &format!("/v1/sandbox/wallet/records/{record_id}/{action}"),
            None,
            body,
        )
    }

    fn admin_records(&self) -> Vec<AdminRecord> {
        let answer = self.get("/v1/sandbox/wallet/records", None);
        assert_eq!(answer.status(), 200);
        answer.json()
    }

    /// Records the issuer holds in force (valid or suspended, not expired).
    fn in_force(&self) -> usize {
        self.admin_records()
            .iter()
            .filter(|r| matches!(r.status, RecordStatus::Valid | RecordStatus::Suspended))
            .count()
    }
}

// ----- nonces and apply (W2–W5) -----

#[test]
fn a_nonce_is_one_time_and_lives_the_policy_s_five_minutes() {
    let world = World::new();
    let answer = world.post("/v1/wallet/nonces", None, &serde_json::json!({}));
    assert_eq!(answer.status(), 201);
    let nonce: NonceResponse = answer.json();
    assert_eq!(nonce.nonce.len(), 64);
    assert_eq!(nonce.expires_at, start() + TimeDelta::minutes(5));
    assert_ne!(world.nonce(), nonce.nonce);
    // A state-changing request without an idempotency key is refused.
    let answer = world.call("POST", "/v1/wallet/nonces", &[], b"{}");
    assert_eq!(answer.kind(400), "bad_request");
    let answer = world.call(
        "POST",
        "/v1/wallet/nonces",
        &[("Idempotency-Key", "not-a-key")],
        b"{}",
    );
    assert_eq!(answer.kind(400), "bad_request");
}

#[test]
fn w2_w4_w5_an_application_signed_by_the_card_issues_a_month_long_record() {
    let world = World::new();
    let person = Person::sample();
    let record = world.apply(&person);
    assert_eq!(record.record_id.len(), 32);
    assert_eq!(record.holder_token.len(), 64);
    assert_eq!(record.reissue_reason, None);
    // W5: from the moment of issue through the end of 30 June in Japan
    // (issued 1 June JST).
    assert_eq!(record.valid_from, start());
    assert_eq!(record.valid_until, at("2026-07-01T00:00:00+09:00"));
    assert_eq!(
        record.signing_certificate_not_after,
        person.certificate.not_after()
    );
    assert_eq!(
        record.status.uri,
        format!("{DEFAULT_BASE_URL}/v1/wallet/status-lists/1")
    );
    assert!(record.status.idx < IssuerPolicy::default().status_list_size);
    // The MSO says the same, bound to the phone's device key.
    let signed = IssuerSigned::from_cbor(&record.issuer_signed).unwrap();
    let mso = signed.mso();
    assert_eq!(mso.device_key, world.device_key());
    assert_eq!(mso.valid_from, record.valid_from);
    assert_eq!(mso.valid_until, record.valid_until);
    assert_eq!(mso.status.as_ref(), Some(&record.status));
    assert_eq!(mso.doc_type, "org.iso.23220.1.jp.mnc");

    let state = world.state(&record);
    assert_eq!(state.status, RecordStatus::Valid);
    assert_eq!(state.reissue_due, None);
    assert_eq!(state.signing_certificate, CertificateStatus::Valid);
    assert_eq!(world.listed(&record), Status::Valid);
    assert!(world.notices(&record.holder_token).is_empty());
}

#[test]
fn status_indices_are_drawn_at_random_and_never_shared() {
    let world = World::new();
    let mut indices = Vec::new();
    for n in 0..6u32 {
        let person = Person::other(
            "試験　太郎",
            &format!("{:011}", 20_000_000_000u64 + u64::from(n)),
            d(1990, 1, 1),
            d(2025, 1, 1 + n),
        );
        let world_for = World {
            clock: world.clock.clone(),
            issuer: world.issuer.clone(),
            device: generate_p256().unwrap(),
        };
        indices.push(world_for.apply(&person).status.idx);
    }
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), indices.len(), "{indices:?}");
    // Random over 2^20: six draws in order (or all below 6) would be a
    // sequential allocator.
    assert!(indices.windows(2).any(|w| w[0] > w[1]) || indices.iter().any(|&i| i > 6));
}

#[test]
fn the_application_checks_run_in_the_documented_order_and_each_refuses() {
    let world = World::new();
    let person = Person::sample();

    // The nonce: unknown, used, expired.
    let request = world.apply_request_with(&person, &"00".repeat(32));
    assert_eq!(world.apply_answer(&request).kind(404), "nonce_not_found");
    let request = world.apply_request(&person);
    let mut broken = request.clone();
    broken.card_signature[10] ^= 1;
    assert_eq!(world.apply_answer(&broken).kind(403), "bad_card_signature");
    // The refusal spent the nonce: the good request with it is now late.
    assert_eq!(world.apply_answer(&request).kind(409), "nonce_used");
    let request = world.apply_request(&person);
    world.advance(TimeDelta::minutes(5) + TimeDelta::seconds(1));
    assert_eq!(world.apply_answer(&request).kind(410), "nonce_expired");
    world.set(start());

    // W4: an authentication certificate is not a signing certificate (it
    // does not chain to the signing root either).
    let mut request = world.apply_request(&person);
    request.signing_certificate = mynakit_sandbox::VirtualCard::sample()
        .auth_certificate()
        .der()
        .to_vec();
    assert_eq!(
        world.apply_answer(&request).kind(403),
        "certificate_refused"
    );
    // Not a certificate at all.
    let mut request = world.apply_request(&person);
    request.signing_certificate = vec![0x30, 0x03, 0x02, 0x01, 0x01];
    assert_eq!(
        world.apply_answer(&request).kind(403),
        "certificate_refused"
    );

    // W2: the device's signature.
    let mut request = world.apply_request(&person);
    request.device_signature[5] ^= 1;
    assert_eq!(
        world.apply_answer(&request).kind(403),
        "bad_device_signature"
    );

    // W10: a key that does not ask before every use.
    let mut request = world.apply_request(&person);
    request.device_key.user_authentication = UserAuthentication::None;
    assert_eq!(
        world.apply_answer(&request).kind(403),
        "user_authentication_required"
    );

    // The data must say what the certificate says.
    for field in ["name", "address", "birth_date", "sex"] {
        let mut request = world.apply_request(&person);
        match field {
            "name" => request.data.name.push('x'),
            "address" => request.data.address.push('x'),
            "birth_date" => request.data.birth_date = Some(d(1985, 6, 16)),
            _ => request.data.sex = 1,
        }
        world.resign(&mut request);
        let refusal = world.apply_answer(&request).refusal(403);
        assert_eq!(refusal.error, "data_mismatch");
        assert!(refusal.detail.unwrap().contains(field));
    }
    // What the certificate cannot vouch for is checked for shape: a 400
    // before the nonce is spent.
    let mut request = world.apply_request(&person);
    request.data.my_number = "123456789012".into();
    world.resign(&mut request);
    assert_eq!(world.apply_answer(&request).kind(400), "bad_request");
    let mut request = world.apply_request(&person);
    request.device_key.public_key = vec![4; 65];
    assert_eq!(world.apply_answer(&request).kind(400), "bad_request");
    let answer = world.call(
        "POST",
        "/v1/wallet/applications",
        &[("Idempotency-Key", key().as_str())],
        b"{\"nonce\": 1}",
    );
    assert_eq!(answer.kind(400), "bad_request");

    // Nothing was issued by any of these.
    assert!(world.admin_records().is_empty());
    world.apply(&person);
}

#[test]
fn the_security_level_is_the_policy_s_choice() {
    let world = World::with_policy(IssuerPolicy {
        accepted_security_levels: vec![SecurityLevel::StrongBox, SecurityLevel::SecureEnclave],
        ..IssuerPolicy::default()
    });
    let request = world.apply_request(&Person::sample());
    assert_eq!(
        world.apply_answer(&request).kind(403),
        "security_level_refused"
    );
}

#[test]
fn w4_an_expired_or_revoked_signing_certificate_is_refused_at_apply() {
    let world = World::new();
    // Issued 2020-04-01: its fifth birthday after issue is 15 June 2024.
    let expired = Person::new(Holder::sample(), d(2020, 4, 1));
    assert!(expired.certificate.not_after() < start());
    let request = world.apply_request(&expired);
    assert_eq!(
        world.apply_answer(&request).kind(403),
        "certificate_expired"
    );

    let person = Person::sample();
    let revoked = world.post(
        "/v1/sandbox/wallet/certificates/revocations",
        None,
        &serde_json::json!({ "serial": person.serial().to_uppercase() }),
    );
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.json::<Value>()["records_revoked"], 0);
    let request = world.apply_request(&person);
    assert_eq!(
        world.apply_answer(&request).kind(403),
        "certificate_revoked"
    );
    assert!(world.admin_records().is_empty());
}

#[test]
fn w4_a_certificate_not_yet_valid_is_refused() {
    // The sample certificate starts 2025-04-01 00:00 JST.
    let world = World::at(at("2025-03-31T14:00:00Z"), IssuerPolicy::default());
    let request = world.apply_request(&Person::sample());
    assert_eq!(
        world.apply_answer(&request).kind(403),
        "certificate_refused"
    );
}

#[test]
fn w3_no_second_application_while_a_record_is_in_force() {
    let world = World::new();
    let person = Person::sample();
    let first = world.apply(&person);
    // Another phone, the same person.
    let other_phone = World {
        clock: world.clock.clone(),
        issuer: world.issuer.clone(),
        device: generate_p256().unwrap(),
    };
    let refusal = other_phone
        .apply_answer(&other_phone.apply_request(&person))
        .refusal(409);
    assert_eq!(refusal.error, "record_in_force");
    assert_eq!(refusal.record_id.as_deref(), Some(first.record_id.as_str()));
    // Suspended counts as in force too (the phone may be found again).
    assert_eq!(
        world.admin(&first.record_id, "lost", &Value::Null).status(),
        200
    );
    let refusal = other_phone
        .apply_answer(&other_phone.apply_request(&person))
        .refusal(409);
    assert_eq!(refusal.error, "record_in_force");
    // Another person is not affected.
    let someone = Person::other("別人　次郎", "27182818284", d(1970, 1, 1), d(2025, 5, 1));
    other_phone.apply(&someone);
}

#[test]
fn w3_after_the_validity_ends_a_new_application_replaces_the_old_chain() {
    let world = World::new();
    let person = Person::winter();
    let first = world.apply(&person);
    world.set(first.valid_until);
    // Not in force any more: apply again (from a new phone).
    let phone = World {
        clock: world.clock.clone(),
        issuer: world.issuer.clone(),
        device: generate_p256().unwrap(),
    };
    let second = phone.apply(&person);
    // The old chain cannot come back: exactly one record in force.
    let state = world.state(&first);
    assert_eq!(state.status, RecordStatus::Revoked);
    assert_eq!(state.revocation_reason, Some(RevocationReason::Superseded));
    assert_eq!(
        state.replaced_by.as_deref(),
        Some(second.record_id.as_str())
    );
    assert_eq!(state.reissue_due, None);
    assert_eq!(
        world
            .reissue_answer(&first, ReissueReason::ValidityEnded, 0)
            .kind(410),
        "record_revoked"
    );
    assert_eq!(world.in_force(), 1);
}

#[test]
fn idempotent_retries_answer_the_same_and_create_nothing_twice() {
    let world = World::new();
    let person = Person::winter();
    let request = world.apply_request(&person);
    let k = key();
    let first = world.post_keyed("/v1/wallet/applications", &k, None, &request);
    assert_eq!(first.status(), 201);
    let again = world.post_keyed("/v1/wallet/applications", &k, None, &request);
    assert_eq!(again.status(), 201);
    let (a, b): (IssuedRecord, IssuedRecord) = (first.json(), again.json());
    assert_eq!(a, b, "the same record, the same holder token");
    assert_eq!(world.admin_records().len(), 1);
    // The same key with another body.
    let mut other = request.clone();
    other.nonce = world.nonce();
    let answer = world.post_keyed("/v1/wallet/applications", &k, None, &other);
    assert_eq!(answer.kind(422), "idempotency_key_reused");
    // A refusal is remembered too: the retry gets it, not a second try.
    let bad = world.apply_request(&person);
    let k2 = key();
    let refused = world.post_keyed("/v1/wallet/applications", &k2, None, &bad);
    assert_eq!(refused.kind(409), "record_in_force");
    assert_eq!(
        world
            .post_keyed("/v1/wallet/applications", &k2, None, &bad)
            .kind(409),
        "record_in_force"
    );

    // A re-issue retried after a lost answer: one new record.
    world.set(a.valid_until);
    let request = world.reissue_request(&a.record_id, ReissueReason::ValidityEnded, 3);
    let path = format!("/v1/wallet/records/{}/reissues", a.record_id);
    let k3 = key();
    let one: IssuedRecord = world
        .post_keyed(&path, &k3, Some(&a.holder_token), &request)
        .json();
    let two: IssuedRecord = world
        .post_keyed(&path, &k3, Some(&a.holder_token), &request)
        .json();
    assert_eq!(one, two);
    assert_eq!(one.holder_token, a.holder_token);
    assert_eq!(world.admin_records().len(), 2);
    assert_eq!(world.in_force(), 1);
    // Another holder token cannot replay it.
    let answer = world.post_keyed(&path, &k3, Some(&"ab".repeat(32)), &request);
    assert_eq!(answer.kind(401), "unauthorized");
}

// ----- re-issue (W6) -----

#[test]
fn w6_1_a_month_passes_and_the_record_is_re_issued_without_the_card() {
    let world = World::new();
    let first = world.apply(&Person::winter());
    // Not before the validity ends.
    world.set(first.valid_until - TimeDelta::seconds(1));
    assert_eq!(world.state(&first).reissue_due, None);
    assert_eq!(
        world
            .reissue_answer(&first, ReissueReason::ValidityEnded, 0)
            .kind(409),
        "not_due"
    );
    // From the first second of 1 July in Japan.
    world.set(first.valid_until);
    let state = world.state(&first);
    assert_eq!(state.status, RecordStatus::Expired);
    assert_eq!(state.reissue_due, Some(ReissueReason::ValidityEnded));
    // Expiry wins over status: the list still says VALID.
    assert_eq!(world.listed(&first), Status::Valid);
    // A reason the issuer does not see is refused.
    assert_eq!(
        world
            .reissue_answer(&first, ReissueReason::Recovered, 0)
            .kind(409),
        "not_due"
    );
    let second = world.reissue(&first, ReissueReason::ValidityEnded, 7);
    assert_eq!(second.reissue_reason, Some(ReissueReason::ValidityEnded));
    assert_eq!(second.valid_from, first.valid_until);
    assert_eq!(second.valid_until, at("2026-08-01T00:00:00+09:00"));
    assert_ne!(second.status.idx, first.status.idx);
    let mso = IssuerSigned::from_cbor(&second.issuer_signed).unwrap();
    assert_eq!(mso.mso().device_key, world.device_key(), "same device key");
    // The old record is INVALID (superseded), the new one VALID.
    assert_eq!(world.listed(&first), Status::Invalid);
    assert_eq!(world.listed(&second), Status::Valid);
    let old = world.state(&first);
    assert_eq!(old.revocation_reason, Some(RevocationReason::Superseded));
    assert_eq!(old.replaced_by.as_deref(), Some(second.record_id.as_str()));
    assert_eq!(world.in_force(), 1);
    assert_eq!(
        world.notices(&first.holder_token),
        [NoticeKind::Reissued {
            reason: ReissueReason::ValidityEnded
        }]
    );
    // The old record cannot be re-issued again.
    assert_eq!(
        world
            .reissue_answer(&first, ReissueReason::ValidityEnded, 0)
            .kind(410),
        "record_revoked"
    );
}

#[test]
fn w6_2_w8_1_3_the_birthday_revokes_at_midnight_in_japan_which_is_15_00_utc() {
    let world = World::new();
    let first = world.apply(&Person::sample());
    // 14 June 23:59:59 in Japan.
    world.set(at("2026-06-14T14:59:59Z"));
    assert_eq!(world.listed(&first), Status::Valid);
    assert_eq!(world.state(&first).status, RecordStatus::Valid);
    // 15 June 00:00 in Japan, still 14 June in UTC: the birthday. Nobody
    // asked: the verifier's read of the list already shows it.
    world.set(at("2026-06-14T15:00:00Z"));
    assert_eq!(world.listed(&first), Status::Invalid);
    let state = world.state(&first);
    assert_eq!(state.status, RecordStatus::Revoked);
    assert_eq!(state.revocation_reason, Some(RevocationReason::Birthday));
    assert_eq!(state.reissue_due, Some(ReissueReason::Birthday));
    // The phone asks later; the new record is computed on the new age.
    world.advance(TimeDelta::hours(30));
    let second = world.reissue(&first, ReissueReason::Birthday, 2);
    assert_eq!(second.reissue_reason, Some(ReissueReason::Birthday));
    assert_eq!(second.valid_until, at("2026-07-16T00:00:00+09:00"));
    let old = world.state(&first);
    assert_eq!(old.revocation_reason, Some(RevocationReason::Birthday));
    assert_eq!(old.replaced_by.as_deref(), Some(second.record_id.as_str()));
    assert_eq!(world.listed(&second), Status::Valid);
    // The next birthday is a year away: a month later only the validity.
    world.set(second.valid_until);
    assert_eq!(
        world.state(&second).reissue_due,
        Some(ReissueReason::ValidityEnded)
    );
    assert_eq!(world.listed(&second), Status::Valid);
}

#[test]
fn a_birthday_after_the_validity_ends_does_not_touch_the_record() {
    // Issued 2026-05-01: valid through 31 May; the birthday is 15 June.
    let world = World::at(at("2026-05-01T03:00:00Z"), IssuerPolicy::default());
    let record = world.apply(&Person::sample());
    world.set(at("2026-06-20T00:00:00Z"));
    let state = world.state(&record);
    assert_eq!(state.status, RecordStatus::Expired);
    assert_eq!(state.revocation_reason, None);
    assert_eq!(state.reissue_due, Some(ReissueReason::ValidityEnded));
    assert_eq!(world.listed(&record), Status::Valid);
}

#[test]
fn w6_3_more_uses_than_the_policy_count_make_a_re_issue_due() {
    let world = World::new();
    let first = world.apply(&Person::sample());
    world.advance(TimeDelta::days(3));
    let max = IssuerPolicy::default().max_uses_before_reissue;
    assert_eq!(
        world
            .reissue_answer(&first, ReissueReason::UsageCount, max)
            .kind(409),
        "not_due"
    );
    let second = world.reissue(&first, ReissueReason::UsageCount, max + 1);
    assert_eq!(second.reissue_reason, Some(ReissueReason::UsageCount));
    assert_eq!(second.valid_from, start() + TimeDelta::days(3));
    assert_eq!(world.listed(&first), Status::Invalid);
    assert_eq!(world.in_force(), 1);
}

#[test]
fn a_re_issue_needs_the_device_key_and_a_fresh_nonce() {
    let world = World::new();
    let first = world.apply(&Person::sample());
    world.set(first.valid_until);
    let mut request = world.reissue_request(&first.record_id, ReissueReason::ValidityEnded, 0);
    // Signed over other uses than sent.
    request.uses = 1;
    let path = format!("/v1/wallet/records/{}/reissues", first.record_id);
    assert_eq!(
        world
            .post(&path, Some(&first.holder_token), &request)
            .kind(403),
        "bad_device_signature"
    );
    // Another phone's key.
    let thief = World {
        clock: world.clock.clone(),
        issuer: world.issuer.clone(),
        device: generate_p256().unwrap(),
    };
    let request = thief.reissue_request(&first.record_id, ReissueReason::ValidityEnded, 0);
    assert_eq!(
        world
            .post(&path, Some(&first.holder_token), &request)
            .kind(403),
        "bad_device_signature"
    );
    assert_eq!(world.in_force(), 0);
}

#[test]
fn w4_w6_an_expired_or_revoked_signing_certificate_stops_re_issue() {
    // Born 1990-06-20, certificate issued 2021-07-01: it ends with 20 June 2026.
    let person = Person::other("期限　切子", "16180339887", d(1990, 6, 20), d(2021, 7, 1));
    assert_eq!(
        person.certificate.not_after(),
        at("2026-06-20T23:59:59+09:00")
    );
    let world = World::new();
    let first = world.apply(&person);
    // 21 June in Japan: the birthday revoked the record, and the
    // certificate has ended — apply again with the card.
    world.set(at("2026-06-20T15:00:00Z"));
    let state = world.state(&first);
    assert_eq!(state.signing_certificate, CertificateStatus::Expired);
    // Due by W6(2), but not grantable: the phone is told to use the card.
    assert_eq!(state.reissue_due, Some(ReissueReason::Birthday));
    assert_eq!(
        world
            .reissue_answer(&first, ReissueReason::Birthday, 0)
            .kind(403),
        "certificate_expired"
    );

    // Revoked in the registry: the record is revoked with it (W8(1)(1))
    // and nothing is re-issued.
    let world = World::new();
    let person = Person::sample();
    let record = world.apply(&person);
    let answer = world.post(
        "/v1/sandbox/wallet/certificates/revocations",
        None,
        &serde_json::json!({ "serial": person.serial() }),
    );
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>()["records_revoked"], 1);
    let state = world.state(&record);
    assert_eq!(state.signing_certificate, CertificateStatus::Revoked);
    assert_eq!(
        state.revocation_reason,
        Some(RevocationReason::CertificateRevoked)
    );
    assert_eq!(world.listed(&record), Status::Invalid);
    assert_eq!(
        world.notices(&record.holder_token),
        [NoticeKind::Revoked {
            reason: RevocationReason::CertificateRevoked
        }]
    );
    world.set(record.valid_until);
    assert_eq!(
        world
            .reissue_answer(&record, ReissueReason::ValidityEnded, 0)
            .kind(403),
        "certificate_revoked"
    );
    assert_eq!(
        world.apply_answer(&world.apply_request(&person)).kind(403),
        "certificate_revoked"
    );
}

// ----- loss, recovery, revocation (W7–W9) -----

#[test]
fn w9_w6_4_lost_suspends_recovered_re_issues_to_the_same_key() {
    let world = World::new();
    let first = world.apply(&Person::sample());
    world.advance(TimeDelta::days(2));
    let answer = world.admin(&first.record_id, "lost", &Value::Null);
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<RecordState>().status, RecordStatus::Suspended);
    assert_eq!(world.listed(&first), Status::Suspended);
    assert_eq!(
        world
            .admin(&first.record_id, "lost", &Value::Null)
            .kind(409),
        "record_suspended"
    );
    // Nothing is re-issued to a lost phone, whatever it says.
    assert_eq!(
        world
            .reissue_answer(&first, ReissueReason::Recovered, 0)
            .kind(409),
        "record_suspended"
    );
    assert_eq!(
        world
            .reissue_answer(&first, ReissueReason::UsageCount, 1000)
            .kind(409),
        "record_suspended"
    );
    // The birthday passes while it is lost: revoked, still no re-issue.
    world.set(at("2026-06-16T00:00:00Z"));
    assert_eq!(world.listed(&first), Status::Invalid);
    assert_eq!(world.state(&first).reissue_due, None);
    assert_eq!(
        world
            .reissue_answer(&first, ReissueReason::Birthday, 0)
            .kind(409),
        "record_suspended"
    );
    // Found again (W6(4)): a re-issue is due.
    let answer = world.admin(&first.record_id, "recovered", &Value::Null);
    assert_eq!(answer.status(), 200);
    let state: RecordState = answer.json();
    assert_eq!(state.reissue_due, Some(ReissueReason::Recovered));
    let second = world.reissue(&first, ReissueReason::Recovered, 0);
    assert_eq!(second.reissue_reason, Some(ReissueReason::Recovered));
    assert_eq!(world.listed(&second), Status::Valid);
    assert_eq!(
        world.notices(&first.holder_token),
        [
            NoticeKind::Suspended,
            NoticeKind::Resumed,
            NoticeKind::Reissued {
                reason: ReissueReason::Recovered
            }
        ]
    );
    assert_eq!(world.in_force(), 1);
    // Recovered twice: the phone was not lost any more.
    assert_eq!(
        world
            .admin(&second.record_id, "recovered", &Value::Null)
            .kind(409),
        "not_due"
    );
}

#[test]
fn w6_4_a_recovered_record_stays_suspended_until_the_new_one_replaces_it() {
    let world = World::new();
    let first = world.apply(&Person::sample());
    world.admin(&first.record_id, "lost", &Value::Null);
    world.admin(&first.record_id, "recovered", &Value::Null);
    // Never VALID again: it was out of the holder's hands.
    assert_eq!(world.listed(&first), Status::Suspended);
    assert_eq!(world.state(&first).status, RecordStatus::Suspended);
    let second = world.reissue(&first, ReissueReason::Recovered, 0);
    assert_eq!(world.listed(&first), Status::Invalid);
    assert_eq!(
        world.state(&first).revocation_reason,
        Some(RevocationReason::Superseded)
    );
    assert_eq!(world.listed(&second), Status::Valid);
}

#[test]
fn w7_2_the_holder_revokes_from_the_phone() {
    let world = World::new();
    let person = Person::sample();
    let record = world.apply(&person);
    let path = format!("/v1/wallet/records/{}/revocations", record.record_id);
    let nonce = world.nonce();
    // Another record's message does not revoke this one.
    let wrong = RevokeRequest {
        nonce: nonce.clone(),
        device_signature: es256_sign(&world.device, &revoke_message(&nonce, &"0".repeat(32))),
    };
    assert_eq!(
        world
            .post(&path, Some(&record.holder_token), &wrong)
            .kind(403),
        "bad_device_signature"
    );
    let nonce = world.nonce();
    let request = RevokeRequest {
        device_signature: es256_sign(&world.device, &revoke_message(&nonce, &record.record_id)),
        nonce,
    };
    let answer = world.post(&path, Some(&record.holder_token), &request);
    assert_eq!(answer.status(), 200);
    let state: RecordState = answer.json();
    assert_eq!(state.status, RecordStatus::Revoked);
    assert_eq!(
        state.revocation_reason,
        Some(RevocationReason::HolderRequest)
    );
    assert_eq!(world.listed(&record), Status::Invalid);
    assert_eq!(
        world.notices(&record.holder_token),
        [NoticeKind::Revoked {
            reason: RevocationReason::HolderRequest
        }]
    );
    // Revoked twice, or re-issued after: refused.
    let nonce = world.nonce();
    let again = RevokeRequest {
        device_signature: es256_sign(&world.device, &revoke_message(&nonce, &record.record_id)),
        nonce,
    };
    assert_eq!(
        world
            .post(&path, Some(&record.holder_token), &again)
            .kind(410),
        "record_revoked"
    );
    world.set(record.valid_until);
    assert_eq!(
        world
            .reissue_answer(&record, ReissueReason::ValidityEnded, 0)
            .kind(410),
        "record_revoked"
    );
    // W3: nothing in force, so the card can apply again.
    world.apply(&person);
}

#[test]
fn w7_1_a_compromised_key_revokes_and_ends_the_chain() {
    let world = World::new();
    let record = world.apply(&Person::sample());
    let answer = world.admin(&record.record_id, "compromised", &Value::Null);
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<RecordState>().revocation_reason,
        Some(RevocationReason::KeyCompromise)
    );
    assert_eq!(world.listed(&record), Status::Invalid);
    assert_eq!(
        world.notices(&record.holder_token),
        [NoticeKind::Revoked {
            reason: RevocationReason::KeyCompromise
        }]
    );
    world.set(record.valid_until);
    assert_eq!(
        world
            .reissue_answer(&record, ReissueReason::ValidityEnded, 0)
            .kind(410),
        "record_revoked"
    );
}

#[test]
fn w7_1_a_compromise_after_the_birthday_stops_the_birthday_re_issue() {
    let world = World::new();
    let record = world.apply(&Person::sample());
    world.set(at("2026-06-15T00:00:00Z"));
    assert_eq!(
        world.state(&record).reissue_due,
        Some(ReissueReason::Birthday)
    );
    assert_eq!(
        world
            .admin(&record.record_id, "compromised", &Value::Null)
            .status(),
        200
    );
    assert_eq!(world.state(&record).reissue_due, None);
    assert_eq!(
        world
            .reissue_answer(&record, ReissueReason::Birthday, 0)
            .kind(410),
        "record_revoked"
    );
}

#[test]
fn w8_1_2_and_5_admin_revocations_notify_as_article_8_says() {
    let world = World::new();
    let person = Person::sample();
    let record = world.apply(&person);
    let answer = world.admin(
        &record.record_id,
        "revocations",
        &serde_json::json!({ "reason": "recording_error" }),
    );
    assert_eq!(answer.status(), 200);
    assert_eq!(world.listed(&record), Status::Invalid);
    // (2): the holder is notified, no public notice.
    assert_eq!(
        world.notices(&record.holder_token),
        [NoticeKind::Revoked {
            reason: RevocationReason::RecordingError
        }]
    );
    assert!(world.public_notices().notices.is_empty());
    assert_eq!(
        world
            .admin(
                &record.record_id,
                "revocations",
                &serde_json::json!({ "reason": "recording_error" })
            )
            .kind(410),
        "record_revoked"
    );

    // (5): a public notice; no notice to the holder (Art. 8(2) lists (1),
    // (2), (4) only).
    let again = world.apply(&person);
    let answer = world.admin(
        &again.record_id,
        "revocations",
        &serde_json::json!({ "reason": "operational" }),
    );
    assert_eq!(answer.status(), 200);
    assert!(world.notices(&again.holder_token).is_empty());
    let public = world.public_notices().notices;
    assert_eq!(public.len(), 1);
    assert_eq!(public[0].reason, RevocationReason::Operational);
    assert_eq!(public[0].records, 1);
    assert_eq!(world.listed(&again), Status::Invalid);

    // The other reasons have their own routes.
    let third = world.apply(&person);
    for reason in [
        "birthday",
        "certificate_revoked",
        "holder_request",
        "superseded",
    ] {
        assert_eq!(
            world
                .admin(
                    &third.record_id,
                    "revocations",
                    &serde_json::json!({ "reason": reason })
                )
                .kind(400),
            "bad_request",
            "{reason}"
        );
    }
    assert_eq!(world.listed(&third), Status::Valid);
}

#[test]
fn w8_1_4_an_issuer_key_leak_revokes_every_record_and_replaces_the_keys() {
    let world = World::new();
    let a = world.apply(&Person::sample());
    let phone = World {
        clock: world.clock.clone(),
        issuer: world.issuer.clone(),
        device: generate_p256().unwrap(),
    };
    let b = phone.apply(&Person::other(
        "別人　次郎",
        "27182818284",
        d(1970, 1, 1),
        d(2025, 5, 1),
    ));
    let old_iaca = world.iaca();
    let answer = world.post(
        "/v1/sandbox/wallet/issuer-key/compromise",
        None,
        &serde_json::json!({}),
    );
    assert_eq!(answer.status(), 200);
    let public = world.public_notices().notices;
    assert_eq!(public.len(), 1);
    assert_eq!(public[0].reason, RevocationReason::IssuerKeyCompromise);
    assert_eq!(public[0].records, 2);
    for record in [&a, &b] {
        assert_eq!(
            world.notices(&record.holder_token),
            [NoticeKind::Revoked {
                reason: RevocationReason::IssuerKeyCompromise
            }]
        );
        assert_eq!(world.listed(record), Status::Invalid);
    }
    // New keys: the list verifies against the new IACA only.
    let new_iaca = world.iaca();
    assert_ne!(new_iaca, old_iaca);
    assert!(
        verify_status_list_token(
            &world.status_list_bytes(),
            &[old_iaca],
            &a.status.uri,
            world.now()
        )
        .is_err()
    );
    // The holders apply again with the card.
    world.apply(&Person::sample());
}

// ----- reads, routes, the served parts -----

#[test]
fn the_holder_s_reads_need_the_holder_s_token() {
    let world = World::new();
    let record = world.apply(&Person::sample());
    let path = format!("/v1/wallet/records/{}", record.record_id);
    let answer = world.get(&path, None);
    assert_eq!(answer.kind(401), "unauthorized");
    assert_eq!(answer.response.header("WWW-Authenticate"), Some("Bearer"));
    assert_eq!(
        world.get(&path, Some(&"cd".repeat(32))).kind(401),
        "unauthorized"
    );
    assert_eq!(
        world
            .call("GET", &path, &[("Authorization", "Basic abc")], &[])
            .kind(401),
        "unauthorized"
    );
    assert_eq!(
        world.get("/v1/wallet/notices", None).kind(401),
        "unauthorized"
    );
    // Another holder's token does not see this record.
    let phone = World {
        clock: world.clock.clone(),
        issuer: world.issuer.clone(),
        device: generate_p256().unwrap(),
    };
    let other = phone.apply(&Person::other(
        "別人　次郎",
        "27182818284",
        d(1970, 1, 1),
        d(2025, 5, 1),
    ));
    assert_eq!(
        world.get(&path, Some(&other.holder_token)).kind(404),
        "record_not_found"
    );
    assert_eq!(
        world
            .get(
                "/v1/wallet/records/..%2F..%2Fadmin",
                Some(&record.holder_token)
            )
            .kind(404),
        "record_not_found"
    );
    // The token is case-insensitive hex, the scheme too.
    let answer = world.call(
        "GET",
        &path,
        &[(
            "authorization",
            &format!("bearer {}", record.holder_token.to_uppercase()),
        )],
        &[],
    );
    assert_eq!(answer.status(), 200);
}

#[test]
fn unknown_routes_and_lists_are_404_and_every_answer_is_dated() {
    let world = World::new();
    assert_eq!(
        world.get("/v1/wallet/nothing", None).kind(404),
        "no_such_route"
    );
    assert_eq!(
        world
            .call("DELETE", "/v1/wallet/nonces", &[], &[])
            .kind(404),
        "no_such_route"
    );
    assert_eq!(
        world.get("/v1/wallet/status-lists/2", None).kind(404),
        "status_list_not_found"
    );
    assert_eq!(
        world.get("/v1/wallet/status-lists/x", None).kind(404),
        "status_list_not_found"
    );
    assert_eq!(
        world.admin(&"0".repeat(32), "lost", &Value::Null).kind(404),
        "record_not_found"
    );
    assert_eq!(
        world.get("/v1/sandbox/wallet/nothing", None).kind(404),
        "no_such_route"
    );
    let answer = world.get("/v1/wallet/public-notices", None);
    assert_eq!(
        answer.response.date(),
        Some(start()),
        "the issuer's clock in Date"
    );
    let big = vec![b' '; mynakit_sandbox::wallet::http::MAX_BODY + 1];
    assert_eq!(
        world
            .call(
                "POST",
                "/v1/wallet/applications",
                &[("Idempotency-Key", key().as_str())],
                &big
            )
            .kind(400),
        "bad_request"
    );
}

#[test]
fn the_status_list_is_signed_again_only_when_something_changed_or_its_ttl_passed() {
    let world = World::new();
    let record = world.apply(&Person::sample());
    let one = world.status_list_bytes();
    world.advance(TimeDelta::minutes(1));
    assert_eq!(world.status_list_bytes(), one, "cached: nothing changed");
    let token =
        verify_status_list_token(&one, &[world.iaca()], &record.status.uri, world.now()).unwrap();
    assert_eq!(token.issued_at, start());
    assert_eq!(token.expires_at, start() + TimeDelta::hours(24));
    world.admin(&record.record_id, "lost", &Value::Null);
    let two = world.status_list_bytes();
    assert_ne!(two, one, "a status changed");
    world.advance(TimeDelta::minutes(20));
    let three = world.status_list_bytes();
    assert_ne!(three, two, "older than its ttl");
    let token =
        verify_status_list_token(&three, &[world.iaca()], &record.status.uri, world.now()).unwrap();
    assert_eq!(token.issued_at, world.now());
}

#[test]
fn a_maintenance_window_answers_503_with_retry_after_and_runs_nothing() {
    let world = World::new();
    let until = world.issuer.begin_maintenance(TimeDelta::minutes(10));
    assert_eq!(until, start() + TimeDelta::minutes(10));
    let answer = world.post("/v1/wallet/nonces", None, &serde_json::json!({}));
    assert_eq!(answer.kind(503), "out_of_service");
    assert_eq!(answer.response.header("Retry-After"), Some("600"));
    assert_eq!(
        world.get("/v1/wallet/status-lists/1", None).kind(503),
        "out_of_service"
    );
    // The sandbox's admin still answers.
    assert_eq!(world.get("/v1/sandbox/wallet/records", None).status(), 200);
    world.advance(TimeDelta::minutes(10));
    assert_eq!(world.get("/v1/wallet/status-lists/1", None).status(), 200);
}

#[test]
fn w5_a_day_boundary_in_japan_that_is_not_one_in_utc() {
    // 15 January 23:59:59 in Japan: the month counts from the 15th.
    let world = World::at(at("2026-01-15T14:59:59Z"), IssuerPolicy::default());
    let record = world.apply(&Person::sample());
    assert_eq!(record.valid_until, at("2026-02-15T00:00:00+09:00"));
    assert_eq!(
        Some((record.valid_from, record.valid_until)),
        validity_of_record_issued_at(record.valid_from)
    );
    // One second later it is the 16th in Japan, still the 15th in UTC.
    let world = World::at(at("2026-01-15T15:00:00Z"), IssuerPolicy::default());
    let record = world.apply(&Person::sample());
    assert_eq!(record.valid_until, at("2026-02-16T00:00:00+09:00"));
    // It expires at 15:00 UTC, the Japan midnight.
    world.set(at("2026-02-15T14:59:59Z"));
    assert_eq!(world.state(&record).status, RecordStatus::Valid);
    world.set(at("2026-02-15T15:00:00Z"));
    assert_eq!(world.state(&record).status, RecordStatus::Expired);
}

#[test]
fn the_clock_moves_through_months_and_a_birthday_with_one_record_in_force() {
    // From 1 May: 1 May–31 May, 1 June (ValidityEnded), 15 June
    // (Birthday), 15 July (ValidityEnded): four records, one in force.
    let world = World::at(at("2026-05-01T01:00:00Z"), IssuerPolicy::default());
    let mut record = world.apply(&Person::sample());
    let mut reasons = Vec::new();
    let end = at("2026-08-01T00:00:00Z");
    while world.now() < end {
        world.advance(TimeDelta::hours(6));
        let state = world.state(&record);
        if let Some(reason) = state.reissue_due {
            record = world.reissue(&record, reason, 0);
            reasons.push((reason, record.valid_from));
            assert_eq!(world.in_force(), 1);
            assert_eq!(world.listed(&record), Status::Valid);
        }
    }
    assert_eq!(
        reasons.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        [
            ReissueReason::ValidityEnded,
            ReissueReason::Birthday,
            ReissueReason::ValidityEnded
        ]
    );
    // Each was due at the Japan midnight and taken at the next 6-hour step.
    assert!(reasons[0].1 >= at("2026-06-01T00:00:00+09:00"));
    assert!(reasons[1].1 >= at("2026-06-15T00:00:00+09:00"));
    assert!(reasons[1].1 < at("2026-06-15T06:00:00+09:00"));
    assert_eq!(world.admin_records().len(), 4);
}

#[test]
fn the_store_survives_a_restart_with_its_keys_and_records() {
    let dir = std::env::temp_dir().join(format!(
        "mynakit-wallet-issuer-{}",
        hex_of(&IdempotencyKey::generate().unwrap().to_string())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("issuer.db");
    let clock = Arc::new(ManualClock::new(start()));
    let world = World {
        clock: clock.clone(),
        issuer: Arc::new(WalletIssuer::open(&path, clock.clone(), DEFAULT_BASE_URL).unwrap()),
        device: generate_p256().unwrap(),
    };
    let record = world.apply(&Person::sample());
    let iaca = world.iaca();
    drop(world.issuer);
    let again = World {
        clock: clock.clone(),
        issuer: Arc::new(WalletIssuer::open(&path, clock, DEFAULT_BASE_URL).unwrap()),
        device: world.device,
    };
    assert_eq!(again.iaca(), iaca);
    assert_eq!(again.state(&record).status, RecordStatus::Valid);
    assert_eq!(again.listed(&record), Status::Valid);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn hex_of(text: &str) -> String {
    text.chars().filter(char::is_ascii_hexdigit).collect()
}

#[test]
fn the_served_sandbox_routes_both_authorities_and_its_clock_moves_the_issuer() {
    use mynakit_sandbox::reset::{ResetAuthority, SandboxClock};
    use mynakit_sandbox::wallet::handle_served;

    let clock = Arc::new(SandboxClock::new());
    let shared: Arc<dyn Clock> = clock.clone();
    let authority = ResetAuthority::in_memory(shared.clone()).unwrap();
    let issuer = WalletIssuer::in_memory(shared, "http://127.0.0.1:8470").unwrap();
    let headers = |k: &IdempotencyKey| vec![("Idempotency-Key".to_owned(), k.to_string())];
    let served = |method: &str, path: &str, headers: &[(String, String)], body: &[u8]| {
        handle_served(&authority, &issuer, &clock, method, path, headers, body)
    };
    let nonce = served("POST", "/v1/wallet/nonces", &headers(&key()), b"{}");
    assert_eq!(nonce.status, 201);
    let nonce: NonceResponse = serde_json::from_slice(&nonce.body).unwrap();
    // The reset authority's routes are still there.
    assert_eq!(
        served("POST", "/v1/challenges", &headers(&key()), b"").status,
        201
    );
    // Advancing the sandbox clock moves the issuer's clock too.
    let before = issuer.clock().now();
    let moved = served(
        "POST",
        "/v1/sandbox/clock/advance",
        &headers(&key()),
        br#"{"by": "32d"}"#,
    );
    assert_eq!(moved.status, 200);
    assert!(issuer.clock().now() - before >= TimeDelta::days(32));
    assert!(issuer.clock().now() > nonce.expires_at);
    // One maintenance window closes both.
    let window = served(
        "POST",
        "/v1/sandbox/maintenance",
        &headers(&key()),
        br#"{"for": "10m"}"#,
    );
    assert_eq!(window.status, 200);
    assert_eq!(
        served("GET", "/v1/wallet/public-notices", &[], b"").status,
        503
    );
    assert_eq!(
        served("POST", "/v1/challenges", &headers(&key()), b"").status,
        503
    );
    // The status list's uri is under the served address.
    assert_eq!(
        issuer.status_list_uri(),
        "http://127.0.0.1:8470/v1/wallet/status-lists/1"
    );
}

#[test]
fn the_in_process_link_speaks_the_same_routes() {
    use mynakit_core::{AuthorityLink, AuthorityRequest};
    use mynakit_sandbox::wallet::WalletLink;

    let world = World::new();
    let record = world.apply(&Person::sample());
    let link = WalletLink::new(world.issuer.clone());
    let request = AuthorityRequest::get(format!("/v1/wallet/records/{}", record.record_id))
        .header("Authorization", format!("Bearer {}", record.holder_token));
    let answer = pollster::block_on(link.send(request)).unwrap();
    assert_eq!(answer.status, 200);
    let state: RecordState = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(state.record_id, record.record_id);
    let lost = AuthorityRequest::post(
        format!("/v1/sandbox/wallet/records/{}/lost", record.record_id),
        Vec::new(),
        &key(),
    );
    assert_eq!(pollster::block_on(link.send(lost)).unwrap().status, 200);
    assert_eq!(world.listed(&record), Status::Suspended);
}

#[test]
fn the_issuer_s_debug_and_store_keep_no_my_number_in_clear_as_a_key() {
    let world = World::new();
    let person = Person::sample();
    world.apply(&person);
    let debug = format!("{:?}", world.issuer);
    assert!(!debug.contains(person.holder.my_number.expose()));
    assert!(!debug.contains("花子"));
    let listed = serde_json::to_string(&world.admin_records()).unwrap();
    assert!(!listed.contains(person.holder.my_number.expose()));
    assert!(!listed.contains("花子"));
}

/// The phone's side of a presentation: every element disclosed, the
/// device key signing the verifier's transcript.
fn present(world: &World, record: &IssuedRecord, transcript: &[u8]) -> Vec<u8> {
    use mynakit_core::wallet::mdoc::{
        DOC_TYPE, device_authentication_to_be_signed, device_response,
    };
    let signed = IssuerSigned::from_cbor(&record.issuer_signed).unwrap();
    let all: Vec<_> = signed.elements().into_iter().map(|(id, _)| id).collect();
    let disclosed = signed.select(&all).unwrap();
    let tbs = device_authentication_to_be_signed(transcript, DOC_TYPE).unwrap();
    device_response(&disclosed, &es256_sign(&world.device, &tbs)).unwrap()
}

fn transcript() -> Vec<u8> {
    let mut bytes = Vec::new();
    ciborium::into_writer(
        &ciborium::value::Value::Array(vec![
            ciborium::value::Value::Null,
            ciborium::value::Value::Null,
            ciborium::value::Value::Text("wallet_issuer test".into()),
        ]),
        &mut bytes,
    )
    .unwrap();
    bytes
}

#[test]
fn the_issued_record_verifies_with_the_core_s_verifier_and_ages_change_at_the_birthday() {
    use mynakit_core::wallet::mdoc::ElementValue;
    use mynakit_core::wallet::verifier::{StatusCheck, Verifier, VerifyFailure};

    let world = World::new();
    let record = world.apply(&Person::sample());
    let verifier = Verifier::new(vec![world.iaca()]);
    let age = |presentation: &mynakit_core::wallet::verifier::VerifiedPresentation| {
        presentation
            .elements
            .iter()
            .find(|(id, _)| id.identifier == "age_in_years")
            .map(|(_, v)| v.clone())
    };
    let checked = verifier
        .verify(
            &present(&world, &record, &transcript()),
            &transcript(),
            world.now(),
            Some(&world.status_list_bytes()),
        )
        .unwrap();
    assert_eq!(checked.status, StatusCheck::Valid);
    assert_eq!(checked.valid_until, record.valid_until);
    // Born 1985-06-15: 40 on 1 June 2026.
    assert_eq!(age(&checked), Some(ElementValue::Unsigned(40)));
    assert!(checked.elements.iter().any(|(id, v)| {
        id.identifier == "individual_number_unicode"
            && *v == ElementValue::Text(Person::sample().holder.my_number.expose().to_owned())
    }));

    // The birthday: the old record reads as revoked, the new one says 41.
    world.set(at("2026-06-14T15:00:01Z"));
    let old = present(&world, &record, &transcript());
    assert_eq!(
        verifier.verify(
            &old,
            &transcript(),
            world.now(),
            Some(&world.status_list_bytes())
        ),
        Err(VerifyFailure::Revoked)
    );
    let new = world.reissue(&record, ReissueReason::Birthday, 1);
    let checked = verifier
        .verify(
            &present(&world, &new, &transcript()),
            &transcript(),
            world.now(),
            Some(&world.status_list_bytes()),
        )
        .unwrap();
    assert_eq!(checked.status, StatusCheck::Valid);
    assert_eq!(age(&checked), Some(ElementValue::Unsigned(41)));

    // Lost: SUSPENDED to a verifier.
    world.admin(&new.record_id, "lost", &Value::Null);
    assert_eq!(
        verifier.verify(
            &present(&world, &new, &transcript()),
            &transcript(),
            world.now(),
            Some(&world.status_list_bytes())
        ),
        Err(VerifyFailure::Suspended)
    );
}
