//! The sandbox card's state between commands (`card_state`): secrets and
//! counters survive a save and a load, the file is written atomically, and
//! a bad file is refused without being overwritten.

mod common;

use std::path::{Path, PathBuf};

use common::{select_app, select_ef, status, verify};
use mynakit_core::layout::{Application, jpki, kenmen};
use mynakit_sandbox::card_state::{self, CardStateError};
use mynakit_sandbox::{KioskTarget, VirtualCard};

/// A fresh directory under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("mynakit-card-state-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn verify_jpki(card: &mut VirtualCard, file: mynakit_core::FileId, value: &str) -> u16 {
    assert_eq!(status(card, &select_app(Application::Jpki)), 0x9000);
    assert_eq!(status(card, &select_ef(file)), 0x9000);
    status(card, &verify(file, value.as_bytes()))
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_missing_file_gives_a_fresh_sample_card_and_is_created() {
    let dir = scratch("fresh");
    let path = card_state::path_in(&dir.join("nested"));
    assert_eq!(path.file_name().unwrap(), card_state::FILE_NAME);
    let card = card_state::load_or_create(&path).unwrap();
    assert!(path.exists());
    assert_eq!(card.tries_left(Application::Jpki, jpki::AUTH_PIN), Some(3));
    assert_eq!(
        card.tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(5)
    );
    assert_eq!(
        card.auth_certificate().der(),
        VirtualCard::sample().auth_certificate().der()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the sandbox card's secrets: owner only"
        );
    }
    assert!(leftovers(path.parent().unwrap()).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_kiosk_reset_and_a_spent_try_survive_between_commands() {
    let dir = scratch("survive");
    let path = card_state::path_in(&dir);
    let mut card = card_state::load_or_create(&path).unwrap();
    // One wrong PIN try, then the kiosk sets a new signing password (R4).
    assert_eq!(verify_jpki(&mut card, jpki::AUTH_PIN, "9999"), 0x63C2);
    card.kiosk_reset(KioskTarget::SigningPassword, "1234", "NEWPASS9")
        .unwrap();
    assert_eq!(verify_jpki(&mut card, jpki::AUTH_PIN, "0000"), 0x63C2);
    card_state::save(&card, &path).unwrap();
    assert!(leftovers(&dir).is_empty(), "no temporary file left behind");

    // The next command: the same card, as the chip would keep it.
    let mut next = card_state::load_or_create(&path).unwrap();
    assert_eq!(next.tries_left(Application::Jpki, jpki::AUTH_PIN), Some(2));
    // Nothing verified carries over: a new command is a new tap.
    assert!(!next.is_verified(jpki::AUTH_PIN));
    assert_eq!(
        verify_jpki(&mut next, jpki::SIGNING_PIN, "NEWPASS9"),
        0x9000
    );
    assert_eq!(
        verify_jpki(&mut next, jpki::SIGNING_PIN, "SANDBOX1"),
        0x63C4
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("NEWPASS9"),
        "the sandbox's secrets are kept in clear"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_blocked_secret_stays_blocked_and_other_applications_keep_their_counters() {
    let dir = scratch("blocked");
    let path = card_state::path_in(&dir);
    let mut card = card_state::load_or_create(&path).unwrap();
    for _ in 0..3 {
        verify_jpki(&mut card, jpki::AUTH_PIN, "9999");
    }
    // A wrong 照合番号B on the card face spends a Kenmen try.
    assert_eq!(status(&mut card, &select_app(Application::Kenmen)), 0x9000);
    let wrong = status(&mut card, &verify(kenmen::CHECK_CODE_B, b"00000000000000"));
    assert_eq!(wrong & 0xFFF0, 0x63C0);
    let kenmen_left = card.tries_left(Application::Kenmen, kenmen::CHECK_CODE_B);
    card_state::save(&card, &path).unwrap();

    let mut next = card_state::load_or_create(&path).unwrap();
    assert_eq!(next.tries_left(Application::Jpki, jpki::AUTH_PIN), Some(0));
    assert_eq!(
        verify_jpki(&mut next, jpki::AUTH_PIN, "1234"),
        0x6984,
        "blocked"
    );
    assert_eq!(
        next.tries_left(Application::Kenmen, kenmen::CHECK_CODE_B),
        kenmen_left
    );
    // The kiosk unblocks it, and that too survives.
    next.kiosk_reset(KioskTarget::AuthPin, "SANDBOX1", "5678")
        .unwrap();
    card_state::save(&next, &path).unwrap();
    let mut last = card_state::load_or_create(&path).unwrap();
    assert_eq!(verify_jpki(&mut last, jpki::AUTH_PIN, "5678"), 0x9000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_half_written_temporary_file_from_a_killed_save_changes_nothing() {
    let dir = scratch("killed");
    let path = card_state::path_in(&dir);
    let mut card = card_state::load_or_create(&path).unwrap();
    verify_jpki(&mut card, jpki::AUTH_PIN, "9999");
    card_state::save(&card, &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    // What a process killed between write and rename leaves: a partial
    // temporary file beside the state, never a partial state.
    let partial = &before[..before.len() / 2];
    std::fs::write(dir.join(".sandbox-card.json.0011223344556677.tmp"), partial).unwrap();
    let again = card_state::load_or_create(&path).unwrap();
    assert_eq!(again.tries_left(Application::Jpki, jpki::AUTH_PIN), Some(2));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_truncated_file_is_refused_and_left_as_it_is() {
    let dir = scratch("truncated");
    let path = card_state::path_in(&dir);
    card_state::load_or_create(&path).unwrap();
    let whole = std::fs::read(&path).unwrap();
    let half = &whole[..whole.len() / 2];
    std::fs::write(&path, half).unwrap();
    match card_state::load_or_create(&path) {
        Err(CardStateError::Malformed { reason, .. }) => {
            assert!(reason.contains("line"), "{reason}")
        }
        other => panic!("expected a malformed state, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        half,
        "a bad file is never overwritten"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_state_of_another_card_or_with_impossible_counters_is_refused() {
    let dir = scratch("other");
    let path = card_state::path_in(&dir);
    card_state::load_or_create(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();

    let mut other = value.clone();
    other["card"] = serde_json::json!("00".repeat(32));
    std::fs::write(&path, serde_json::to_vec(&other).unwrap()).unwrap();
    assert!(matches!(
        card_state::load_or_create(&path),
        Err(CardStateError::OtherCard { .. })
    ));

    let auth_pin = value["secrets"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["application"] == "jpki" && s["file"] == jpki::AUTH_PIN.0)
        .unwrap();
    auth_pin["tries_left"] = serde_json::json!(9);
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    assert!(matches!(
        card_state::load_or_create(&path),
        Err(CardStateError::Malformed { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_file_never_quotes_a_secret() {
    let dir = scratch("quote");
    let path = card_state::path_in(&dir);
    card_state::load_or_create(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    // The PIN as a number where text belongs: serde would quote it.
    let broken = text.replacen("\"value\": \"1234\"", "\"value\": 1234", 1);
    assert_ne!(broken, text);
    std::fs::write(&path, broken).unwrap();
    let error = card_state::load_or_create(&path).unwrap_err();
    assert!(!error.to_string().contains("1234"), "{error}");
    assert!(!format!("{error:?}").contains("1234"), "{error:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_signing_password_in_lower_case_is_stored_as_verify_sends_it() {
    let mut card = VirtualCard::sample();
    card.kiosk_reset(KioskTarget::SigningPassword, "1234", "newpass9")
        .unwrap();
    // The core upper-cases a signing password before VERIFY.
    assert_eq!(
        verify_jpki(&mut card, jpki::SIGNING_PIN, "NEWPASS9"),
        0x9000
    );
}
