//! `mynakit sandbox kiosk` (issue 8: R4, R5, R6) as a user runs it: the
//! real binary against `mynakit sandbox serve` on loopback (or the
//! in-process authority under `--home`), the sandbox card's state kept in
//! `<home>/sandbox-card.json` between commands. Reservations are made by
//! this test through the authority's API, as a phone makes them.

mod common;
use common::Served;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mynakit_core::layout::{jpki, kenmen};
use mynakit_core::{
    Application, AuthorityLink, AuthorityRequest, AuthorityResponse, CardFace, IdempotencyKey,
    Picture, SystemClock,
};
use mynakit_http::HttpAuthorityLink;
use mynakit_sandbox::VirtualCard;
use mynakit_sandbox::card_state;
use mynakit_sandbox::fixtures::FixtureKey;
use mynakit_sandbox::reset::token::{es256_sign, generate_p256, sec1};
use mynakit_sandbox::reset::wire::to_hex;
use mynakit_sandbox::reset::{
    CameraSubject, CaptureOutcome, CaptureRequest, Challenge, InProcessLink, Reservation,
    ReservationState, ResetAuthority, ResetKind, SandboxCamera, SessionOpened, capture_message,
    reservation_card_message, reservation_message,
};
use p256::ecdsa::SigningKey;
use rsa::Pkcs1v15Sign;
use sha2::{Digest, Sha256};

/// A fresh home directory, removed when dropped.
struct Home(PathBuf);

impl Home {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mynakit-kiosk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    fn card(&self) -> VirtualCard {
        card_state::load_or_create(&card_state::path_in(&self.0)).unwrap()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One run of the binary: its exit code and its JSON.
struct Run {
    code: Option<i32>,
    json: serde_json::Value,
}

/// Runs `mynakit --json sandbox kiosk …` with `secrets` in the environment
/// (or `stdin` piped), nothing else of ours inherited.
fn kiosk(
    home: &Path,
    authority: Option<&str>,
    chain: &str,
    kind: &str,
    secrets: &[(&str, &str)],
    stdin: Option<&str>,
) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mynakit"));
    command.args([
        "--json", "sandbox", "kiosk", "--chain", chain, "--kind", kind, "--home",
    ]);
    command.arg(home);
    if let Some(url) = authority {
        command.args(["--authority", url]);
    }
    for name in [
        "MYNAKIT_PIN",
        "MYNAKIT_SIGNING_PASSWORD",
        "MYNAKIT_NEW_PIN",
        "MYNAKIT_NEW_SIGNING_PASSWORD",
    ] {
        command.env_remove(name);
    }
    command.envs(secrets.iter().copied());
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Run {
        code: output.status.code(),
        json,
    }
}

/// Runs another `mynakit … --authority URL --json` command.
fn mynakit(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        json: serde_json::from_slice(&output.stdout).unwrap_or_default(),
    }
}

fn post(link: &dyn AuthorityLink, path: &str, body: &serde_json::Value) -> AuthorityResponse {
    pollster::block_on(mynakit_core::authority::send(
        link,
        AuthorityRequest::post(
            path,
            serde_json::to_vec(body).unwrap(),
            &IdempotencyKey::generate().unwrap(),
        ),
        &SystemClock,
    ))
    .unwrap()
}

fn state_of(link: &dyn AuthorityLink, id: &str) -> ReservationState {
    let answer =
        pollster::block_on(link.send(AuthorityRequest::get(format!("/v1/reservations/{id}"))))
            .unwrap();
    serde_json::from_slice::<Reservation>(&answer.body)
        .unwrap()
        .state
}

/// One phone (installation key) reserving for the sample card, through
/// the authority's API.
struct Phone {
    card: VirtualCard,
    device: SigningKey,
}

impl Phone {
    fn new() -> Self {
        Self {
            card: VirtualCard::sample(),
            device: generate_p256().unwrap(),
        }
    }

    fn device_key(&self) -> Vec<u8> {
        sec1(self.device.verifying_key())
    }

    fn kenmen(&self, file: mynakit_core::FileId) -> Vec<u8> {
        self.card
            .ef_content(Application::Kenmen, file)
            .unwrap()
            .to_vec()
    }

    /// A passed face check's token (R2), the frames from the sandbox camera.
    fn face_check_token(&self, link: &dyn AuthorityLink) -> Vec<u8> {
        let opened: SessionOpened = serde_json::from_slice(
            &post(
                link,
                "/v1/face-check/sessions",
                &serde_json::json!({
                    "auth_certificate": to_hex(self.card.auth_certificate().der()),
                    "device_key": to_hex(&self.device_key()),
                }),
            )
            .body,
        )
        .unwrap();
        let face_record = self.kenmen(kenmen::FACE);
        let photo =
            Picture::from_jpeg2000(&CardFace::parse(&face_record).unwrap().photo_jp2).unwrap();
        let frames = SandboxCamera::new(CameraSubject::Holder, 7).capture(
            &photo,
            &opened.actions,
            2,
            chrono::Utc::now(),
        );
        let message = capture_message(&opened.session_id, &opened.nonce, &face_record, &frames);
        let request = CaptureRequest {
            session_id: opened.session_id.clone(),
            face_record,
            cv_certificate: self.kenmen(kenmen::CV_CERTIFICATE),
            frames,
            device_signature: es256_sign(&self.device, &message),
        };
        let outcome: CaptureOutcome = serde_json::from_slice(
            &post(
                link,
                &format!("/v1/face-check/sessions/{}/captures", opened.session_id),
                &serde_json::to_value(&request).unwrap(),
            )
            .body,
        )
        .unwrap();
        assert!(outcome.passed, "the holder's own face passes");
        outcome.token.unwrap()
    }

    /// A reservation of `kind`, signed by the card's other key (R4).
    fn reserve(&self, link: &dyn AuthorityLink, kind: ResetKind) -> Reservation {
        let token = match kind {
            ResetKind::SigningPassword => Some(self.face_check_token(link)),
            ResetKind::AuthPin => None,
        };
        let challenge: Challenge =
            serde_json::from_slice(&post(link, "/v1/challenges", &serde_json::json!({})).body)
                .unwrap();
        let (certificate, card_key) = match kind {
            ResetKind::SigningPassword => (self.card.auth_certificate(), FixtureKey::CardAuth),
            ResetKind::AuthPin => (
                self.card.signing_certificate().unwrap(),
                FixtureKey::CardSigning,
            ),
        };
        let device_key = self.device_key();
        let card_message = reservation_card_message(&challenge.challenge, kind, &device_key);
        let message =
            reservation_message(&challenge.challenge, kind, token.as_deref(), &device_key);
        let jpki_signature = card_key
            .private_key()
            .sign(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(&card_message),
            )
            .unwrap();
        let body = serde_json::json!({
            "kind": kind,
            "challenge_id": challenge.challenge_id,
            "face_check_token": token.as_deref().map(to_hex),
            "certificate": to_hex(certificate.der()),
            "jpki_signature": to_hex(&jpki_signature),
            "token_label": "JPKIAPICCTOKEN2",
            "face_record": to_hex(&self.kenmen(kenmen::FACE)),
            "cv_certificate": to_hex(&self.kenmen(kenmen::CV_CERTIFICATE)),
            "device_key": to_hex(&device_key),
            "device_signature": to_hex(&es256_sign(&self.device, &message)),
        });
        let created = post(link, "/v1/reservations", &body);
        assert_eq!(created.status, 201);
        serde_json::from_slice(&created.body).unwrap()
    }
}

/// VERIFY through ordinary APDUs on the card as its state file keeps it:
/// the status word.
fn verify(card: &mut VirtualCard, file: mynakit_core::FileId, value: &str) -> u16 {
    let mut select = vec![0x00, 0xA4, 0x04, 0x0C, 0x0A];
    select.extend_from_slice(Application::Jpki.aid());
    assert_eq!(card.process(&select), [0x90, 0x00]);
    assert_eq!(
        card.process(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, file.0]),
        [0x90, 0x00]
    );
    let mut command = vec![0x00, 0x20, 0x00, 0x80, u8::try_from(value.len()).unwrap()];
    command.extend_from_slice(value.as_bytes());
    let answer = card.process(&command);
    u16::from_be_bytes([answer[0], answer[1]])
}

fn link(served: &Served) -> HttpAuthorityLink {
    HttpAuthorityLink::new(&served.base, Duration::from_secs(10)).unwrap()
}

#[test]
fn r4_a_signing_password_reset_redeemed_at_lawson_sets_the_new_password_on_the_saved_card() {
    let served = Served::start();
    let link = link(&served);
    let home = Home::new("signing");
    let reservation = Phone::new().reserve(&link, ResetKind::SigningPassword);
    let secrets = [
        ("MYNAKIT_PIN", "1234"),
        ("MYNAKIT_NEW_SIGNING_PASSWORD", "NEWPASS9"),
    ];
    let run = kiosk(
        &home.0,
        Some(&served.base),
        "lawson",
        "signing-password",
        &secrets,
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["reservation"]["id"], reservation.id.as_str());
    assert_eq!(run.json["reservation"]["state"], "redeemed");
    assert_eq!(run.json["reservation"]["redeemed_at_chain"], "lawson");
    assert_eq!(state_of(&link, &reservation.id), ReservationState::Redeemed);

    // The card, as the next command finds it: the new password verifies by
    // APDU, the old one does not.
    let mut card = home.card();
    assert_eq!(verify(&mut card, jpki::SIGNING_PIN, "NEWPASS9"), 0x9000);
    assert_eq!(verify(&mut card, jpki::SIGNING_PIN, "SANDBOX1"), 0x63C4);

    // Redeemed twice: refused by the authority (exit 13), the card untouched.
    let before = std::fs::read(card_state::path_in(&home.0)).unwrap();
    let again = kiosk(
        &home.0,
        Some(&served.base),
        "family-mart",
        "signing-password",
        &[
            ("MYNAKIT_PIN", "1234"),
            ("MYNAKIT_NEW_SIGNING_PASSWORD", "OTHER123"),
        ],
        None,
    );
    assert_eq!(again.code, Some(13), "{}", again.json);
    assert_eq!(again.json["error"]["kind"], "authority_refused");
    assert_eq!(again.json["error"]["refusal"], "already_redeemed");
    assert_eq!(std::fs::read(card_state::path_in(&home.0)).unwrap(), before);
}

#[test]
fn r6_a_pin_reset_at_lawson_is_refused_and_at_seven_eleven_done() {
    let served = Served::start();
    let link = link(&served);
    let home = Home::new("r6");
    let reservation = Phone::new().reserve(&link, ResetKind::AuthPin);
    let secrets = [
        ("MYNAKIT_SIGNING_PASSWORD", "SANDBOX1"),
        ("MYNAKIT_NEW_PIN", "5678"),
    ];
    let refused = kiosk(
        &home.0,
        Some(&served.base),
        "lawson",
        "auth-pin",
        &secrets,
        None,
    );
    assert_eq!(refused.code, Some(13), "{}", refused.json);
    assert_eq!(refused.json["error"]["refusal"], "chain_refused");
    // Refused before the card: the signing password was not even tried.
    assert_eq!(
        home.card().tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(5)
    );
    assert_eq!(state_of(&link, &reservation.id), ReservationState::Reserved);

    let done = kiosk(
        &home.0,
        Some(&served.base),
        "seven-eleven",
        "auth-pin",
        &secrets,
        None,
    );
    assert_eq!(done.code, Some(0), "{}", done.json);
    let mut card = home.card();
    assert_eq!(verify(&mut card, jpki::AUTH_PIN, "5678"), 0x9000);
    assert_eq!(verify(&mut card, jpki::AUTH_PIN, "1234"), 0x63C2);
}

#[test]
fn r5_a_kiosk_refuses_at_24_hours_and_one_second() {
    let served = Served::start();
    let link = link(&served);
    let home = Home::new("r5");
    let reservation = Phone::new().reserve(&link, ResetKind::AuthPin);
    let moved = mynakit(&[
        "sandbox",
        "clock",
        "advance",
        "86401s",
        "--authority",
        &served.base,
    ]);
    assert_eq!(moved.code, Some(0));
    let run = kiosk(
        &home.0,
        Some(&served.base),
        "aeon-retail",
        "auth-pin",
        &[
            ("MYNAKIT_SIGNING_PASSWORD", "SANDBOX1"),
            ("MYNAKIT_NEW_PIN", "5678"),
        ],
        None,
    );
    assert_eq!(run.code, Some(13), "{}", run.json);
    assert_eq!(run.json["error"]["refusal"], "reservation_expired");
    assert_eq!(state_of(&link, &reservation.id), ReservationState::Expired);
    let mut card = home.card();
    assert_eq!(verify(&mut card, jpki::AUTH_PIN, "1234"), 0x9000);
}

#[test]
fn a_wrong_other_secret_spends_one_try_keeps_the_reservation_and_survives_between_commands() {
    let served = Served::start();
    let link = link(&served);
    let home = Home::new("wrong");
    let reservation = Phone::new().reserve(&link, ResetKind::AuthPin);
    let wrong = kiosk(
        &home.0,
        Some(&served.base),
        "fuji",
        "auth-pin",
        &[
            ("MYNAKIT_SIGNING_PASSWORD", "WRONG123"),
            ("MYNAKIT_NEW_PIN", "5678"),
        ],
        None,
    );
    assert_eq!(wrong.code, Some(3), "{}", wrong.json);
    assert_eq!(wrong.json["error"]["kind"], "wrong_pin");
    assert_eq!(wrong.json["error"]["tries_left"], 4);
    assert_eq!(state_of(&link, &reservation.id), ReservationState::Reserved);
    // The spent try is in the saved card, as a chip keeps it.
    assert_eq!(
        home.card().tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(4)
    );

    // The next command, the right password (from standard input this
    // time, other secret first): done, and the counter is whole again.
    let right = kiosk(
        &home.0,
        Some(&served.base),
        "fuji",
        "auth-pin",
        &[],
        Some("sandbox1\n5678\n"),
    );
    assert_eq!(right.code, Some(0), "{}", right.json);
    let mut card = home.card();
    assert_eq!(
        card.tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(5)
    );
    assert_eq!(verify(&mut card, jpki::AUTH_PIN, "5678"), 0x9000);
}

#[test]
fn the_last_try_of_the_other_secret_is_spent_only_when_allowed() {
    let served = Served::start();
    let link = link(&served);
    let home = Home::new("last-try");
    Phone::new().reserve(&link, ResetKind::SigningPassword);
    let wrong = [
        ("MYNAKIT_PIN", "9999"),
        ("MYNAKIT_NEW_SIGNING_PASSWORD", "NEWPASS9"),
    ];
    for left in [2, 1] {
        let run = kiosk(
            &home.0,
            Some(&served.base),
            "ministop",
            "signing-password",
            &wrong,
            None,
        );
        assert_eq!(run.code, Some(3));
        assert_eq!(run.json["error"]["tries_left"], left);
    }
    let refused = kiosk(
        &home.0,
        Some(&served.base),
        "ministop",
        "signing-password",
        &[
            ("MYNAKIT_PIN", "1234"),
            ("MYNAKIT_NEW_SIGNING_PASSWORD", "NEWPASS9"),
        ],
        None,
    );
    assert_eq!(refused.code, Some(6), "{}", refused.json);
    assert_eq!(
        home.card().tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(1)
    );
}

#[test]
fn a_badly_formed_secret_is_refused_before_the_card_or_the_authority_is_touched() {
    let home = Home::new("format");
    let run = kiosk(
        &home.0,
        Some("http://127.0.0.1:9"),
        "seven-eleven",
        "auth-pin",
        &[
            ("MYNAKIT_SIGNING_PASSWORD", "SANDBOX1"),
            ("MYNAKIT_NEW_PIN", "12345"),
        ],
        None,
    );
    assert_eq!(run.code, Some(8), "{}", run.json);
    assert!(!card_state::path_in(&home.0).exists());
    let missing = kiosk(
        &home.0,
        None,
        "seven-eleven",
        "auth-pin",
        &[("MYNAKIT_SIGNING_PASSWORD", "SANDBOX1")],
        None,
    );
    assert_eq!(missing.code, Some(8), "{}", missing.json);
}

#[test]
fn w12_in_a_maintenance_window_the_kiosk_is_told_when_to_come_back() {
    let served = Served::start();
    let link = link(&served);
    let home = Home::new("maintenance");
    let reservation = Phone::new().reserve(&link, ResetKind::AuthPin);
    let window = mynakit(&["sandbox", "maintenance", "10m", "--authority", &served.base]);
    assert_eq!(window.code, Some(0), "{}", window.json);
    let left = window.json["retry_after"].as_u64().unwrap();
    assert!((599..=600).contains(&left), "{left}");

    // The phone side: a typed 503 with its wait.
    let refused = pollster::block_on(mynakit_core::authority::send(
        &link,
        AuthorityRequest::get(format!("/v1/reservations/{}", reservation.id)),
        &SystemClock,
    ));
    match refused {
        Err(mynakit_core::AuthorityError::OutOfService {
            retry_after: Some(wait),
        }) => assert!((599..=600).contains(&wait.as_secs()), "{wait:?}"),
        other => panic!("expected a 503 with Retry-After, got {other:?}"),
    }

    let secrets = [
        ("MYNAKIT_SIGNING_PASSWORD", "SANDBOX1"),
        ("MYNAKIT_NEW_PIN", "5678"),
    ];
    let run = kiosk(
        &home.0,
        Some(&served.base),
        "seven-eleven",
        "auth-pin",
        &secrets,
        None,
    );
    assert_eq!(run.code, Some(12), "{}", run.json);
    assert_eq!(run.json["error"]["kind"], "authority_unavailable");
    let wait = run.json["error"]["retry_after"].as_u64().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    assert_eq!(
        home.card().tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(5)
    );

    // The window ends by the authority's clock.
    let moved = mynakit(&[
        "sandbox",
        "clock",
        "advance",
        "10m",
        "--authority",
        &served.base,
    ]);
    assert_eq!(moved.code, Some(0));
    let done = kiosk(
        &home.0,
        Some(&served.base),
        "seven-eleven",
        "auth-pin",
        &secrets,
        None,
    );
    assert_eq!(done.code, Some(0), "{}", done.json);
    assert_eq!(state_of(&link, &reservation.id), ReservationState::Redeemed);
}

#[test]
fn without_authority_the_kiosk_uses_the_in_process_authority_kept_under_home() {
    let home = Home::new("in-process");
    std::fs::create_dir_all(&home.0).unwrap();
    let db = home.0.join("sandbox-authority.db");
    // A phone's reservation, made through the API of the authority whose
    // store the next commands open.
    let reservation = {
        let authority = Arc::new(ResetAuthority::open(&db, Arc::new(SystemClock)).unwrap());
        Phone::new().reserve(&InProcessLink::new(authority), ResetKind::AuthPin)
    };
    let run = kiosk(
        &home.0,
        None,
        "aeon-hokkaido",
        "auth-pin",
        &[
            ("MYNAKIT_SIGNING_PASSWORD", "SANDBOX1"),
            ("MYNAKIT_NEW_PIN", "5678"),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["reservation"]["id"], reservation.id.as_str());
    let authority = ResetAuthority::open(&db, Arc::new(SystemClock)).unwrap();
    let stored = authority.reservation(&reservation.id).unwrap();
    assert_eq!(stored.state, ReservationState::Redeemed);
    assert_eq!(
        stored.redeemed_at_chain,
        Some(mynakit_sandbox::reset::StoreChain::AeonHokkaido)
    );
    let mut card = home.card();
    assert_eq!(verify(&mut card, jpki::AUTH_PIN, "5678"), 0x9000);
}

#[test]
fn the_phone_reserves_with_the_saved_card_and_the_kiosk_redeems_it() {
    use mynakit_core::reset::{OtherSecret, ResetClient};
    use mynakit_core::{AuthPin, CardChannel, CheckCodeB, LastTry, SoftwareSecureArea, Store};
    use mynakit_sandbox::{LinkSwitches, Sandbox};

    let served = Served::start();
    let home = Home::new("phone");
    // The phone (mynakit_core's ResetClient) over loopback HTTP, tapping
    // the sandbox card as its state file keeps it.
    let sandbox = Sandbox::from_card(home.card());
    let client = ResetClient::new(
        Arc::new(link(&served)),
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(SoftwareSecureArea::in_memory()),
        Arc::new(SystemClock),
        &served.base,
    )
    .unwrap();
    let mut flow = pollster::block_on(client.begin(ResetKind::SigningPassword)).unwrap();
    let front =
        CheckCodeB::from_card_front("昭和60年6月15日", "2035年6月15日まで有効", "4821").unwrap();
    pollster::block_on(client.tap(
        &mut flow,
        &mut CardChannel::new(sandbox.transport(LinkSwitches::default())),
        &front,
        &OtherSecret::AuthPin(AuthPin::new("1234").unwrap()),
        LastTry::Refuse,
    ))
    .unwrap();
    let prompt = pollster::block_on(client.open_face_check(&mut flow)).unwrap();
    let photo = flow.chip_photo().unwrap().unwrap();
    let frames = SandboxCamera::new(CameraSubject::Holder, 3).capture(
        &photo,
        &prompt.actions,
        2,
        client.now(),
    );
    assert!(
        pollster::block_on(client.submit_capture(&mut flow, frames))
            .unwrap()
            .passed
    );
    let kept = pollster::block_on(client.reserve(&mut flow)).unwrap();
    card_state::save(&sandbox.card(), &card_state::path_in(&home.0)).unwrap();

    let run = kiosk(
        &home.0,
        Some(&served.base),
        "daiei",
        "signing-password",
        &[
            ("MYNAKIT_PIN", "1234"),
            ("MYNAKIT_NEW_SIGNING_PASSWORD", "KIOSK2026"),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["reservation"]["id"], kept.reservation.id.as_str());
    let refreshed = pollster::block_on(client.refresh()).unwrap();
    assert_eq!(refreshed[0].reservation.state, ReservationState::Redeemed);
    let mut card = home.card();
    assert_eq!(verify(&mut card, jpki::SIGNING_PIN, "KIOSK2026"), 0x9000);
}
