//! `mynakit portal …` and the portal's sandbox admin (issue 10): the real
//! binary against a served sandbox, with a temporary `--home` so successive
//! commands behave like one phone with one card.

mod common;
use common::Served;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary home, removed when dropped.
struct TempHome(PathBuf);

impl TempHome {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "mynakit-portal-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `mynakit --json portal --authority BASE --home HOME ARGS`, the PIN from
/// MYNAKIT_PIN when given, standard input closed.
fn portal_with(
    served: &Served,
    home: &TempHome,
    pin: Option<&str>,
    env: &[(&str, &str)],
    args: &[&str],
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mynakit"));
    cmd.args(["--json", "portal", "--authority", &served.base, "--home"])
        .arg(home.path())
        .args(args)
        .env_remove("MYNAKIT_PIN")
        .env_remove("MYNAKIT_INVITATION_CODE")
        .stdin(Stdio::null());
    if let Some(pin) = pin {
        cmd.env("MYNAKIT_PIN", pin);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().expect("mynakit runs")
}

fn portal(served: &Served, home: &TempHome, args: &[&str]) -> Output {
    portal_with(served, home, None, &[], args)
}

fn login(served: &Served, home: &TempHome) -> serde_json::Value {
    let out = portal_with(served, home, Some("1234"), &[], &["login"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    json(&out)
}

/// `mynakit --json sandbox ARGS --authority BASE` (and `--home` for J-LIS).
fn sandbox(served: &Served, home: Option<&TempHome>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mynakit"));
    cmd.args(["--json", "sandbox"])
        .args(args)
        .args(["--authority", &served.base]);
    if let Some(home) = home {
        cmd.arg("--home").arg(home.path());
    }
    cmd.stdin(Stdio::null()).output().expect("mynakit runs")
}

fn ok(output: Output) -> serde_json::Value {
    assert_eq!(
        code(&output),
        0,
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    json(&output)
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

#[test]
fn login_with_the_card_keeps_the_account_through_a_renewal_and_refuses_a_revoked_certificate() {
    let served = Served::start();
    let home = TempHome::new("login");

    // Nothing to show before a login (exit 26), offline.
    let none = portal(&served, &home, &["certificate"]);
    assert_eq!(code(&none), 26);
    assert_eq!(json(&none)["error"]["kind"], "login_required");

    // No PIN anywhere: refused before anything is sent (exit 8).
    let no_pin = portal(&served, &home, &["login"]);
    assert_eq!(code(&no_pin), 8);

    // A wrong PIN spends one try, as the card says (exit 3), and the
    // home's card keeps the count.
    let wrong = portal_with(&served, &home, Some("9999"), &[], &["login"]);
    assert_eq!(code(&wrong), 3);
    assert_eq!(json(&wrong)["error"]["tries_left"], 2);
    let wrong = portal_with(&served, &home, Some("9999"), &[], &["login"]);
    assert_eq!(json(&wrong)["error"]["tries_left"], 1);
    // One try left: nothing is sent without the confirmation (exit 6).
    let last = portal_with(&served, &home, Some("1234"), &[], &["login"]);
    assert_eq!(code(&last), 6, "{}", String::from_utf8_lossy(&last.stdout));
    assert_eq!(json(&last)["error"]["confirm_with"], "--allow-last-try");

    // P2: one tap — certificate, PIN, signature.
    let session = ok(portal_with(
        &served,
        &home,
        Some("1234"),
        &[],
        &["login", "--allow-last-try"],
    ));
    let subject = session["subject"].as_str().unwrap().to_owned();
    assert_eq!(subject.len(), 64);
    assert!(session["tap_round_trips"].as_u64().unwrap() <= 6);
    assert_eq!(session["certificate"]["state"], "valid");
    let first_until = session["certificate"]["valid_until"]
        .as_str()
        .unwrap()
        .to_owned();

    // The standing, offline: valid until, renewal three months before.
    let standing = ok(portal(&served, &home, &["certificate"]));
    assert_eq!(standing["valid_until"], first_until.as_str());
    assert_eq!(standing["expiry_flag"], 1);
    let renewal = standing["renewal_opens_on"].as_str().unwrap();
    assert!(renewal < first_until.as_str());

    // P3/P4: J-LIS renews the card's certificates; the next login finds
    // the same account through the earlier serial.
    let renewed = ok(sandbox(&served, Some(&home), &["jlis", "renew"]));
    assert_ne!(renewed["serial"], renewed["previous_serial"]);
    let again = login(&served, &home);
    assert_eq!(again["subject"], subject.as_str());
    assert!(again["certificate"]["valid_until"].as_str().unwrap() > first_until.as_str());

    // P2: a revoked certificate cannot log in (exit 28).
    ok(sandbox(&served, Some(&home), &["jlis", "revoke"]));
    let revoked = portal_with(&served, &home, Some("1234"), &[], &["login"]);
    assert_eq!(code(&revoked), 28);
    assert_eq!(json(&revoked)["error"]["refusal"], "certificate_revoked");
}

#[test]
fn the_portals_use_limit_is_exit_12_with_its_wait_and_the_phone_keeps_its_session() {
    let served = Served::start();
    let home = TempHome::new("limit");
    login(&served, &home);

    // P6: 429 with Retry-After on every API route.
    let limited = ok(sandbox(&served, None, &["portal", "limit", "2m"]));
    assert!(limited["retry_after"].as_u64().unwrap() > 100);
    let refused = portal_with(&served, &home, Some("1234"), &[], &["login"]);
    assert_eq!(code(&refused), 12);
    let error = &json(&refused)["error"];
    assert_eq!(error["reason"], "rate_limited");
    assert!(error["retry_after"].as_u64().unwrap() > 100);
    // The session kept on the phone is untouched.
    let session = ok(portal(&served, &home, &["session"]));
    assert!(session["session"]["subject"].is_string());

    // The limit lifted, the same login goes through.
    ok(sandbox(&served, None, &["portal", "limit", "0s"]));
    login(&served, &home);
}
