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

/// The sample holder's row of the insurer's view, found by the insured
/// card's number.
fn row_of<'a>(view: &'a serde_json::Value, number: &str) -> &'a serde_json::Value {
    view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["number"] == number)
        .unwrap_or_else(|| panic!("no row for the member in {view}"))
}

fn listed(view: &serde_json::Value, list: &str, number: &str) -> bool {
    view[list]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["number"] == number)
}

#[test]
fn terms_registration_the_insurers_view_and_release_reason_1() {
    let served = Served::start();
    let home = TempHome::new("insurance");

    // Before the login: exit 26, nothing sent.
    assert_eq!(code(&portal(&served, &home, &["insurance", "status"])), 26);
    login(&served, &home);

    // P7: registering before agreeing names the version in force (27).
    let refused = portal(&served, &home, &["insurance", "register"]);
    assert_eq!(code(&refused), 27);
    let current = json(&refused)["error"]["current_terms_version"]
        .as_str()
        .unwrap()
        .to_owned();
    let terms = ok(portal(&served, &home, &["terms"]));
    assert_eq!(terms["current"]["version"], current.as_str());
    assert_eq!(terms["agreed_to_current"], false);
    let agreed = ok(portal(&served, &home, &["terms", "--accept", &current]));
    assert_eq!(agreed["version"], current.as_str());
    let terms = ok(portal(&served, &home, &["terms"]));
    assert_eq!(terms["agreed_to_current"], true);
    assert_eq!(terms["recorded_on_this_phone"]["version"], current.as_str());

    // P1: registered; the insured card's identifiers only when asked.
    let registered = ok(portal(&served, &home, &["insurance", "register"]));
    assert_eq!(registered["registered"], true);
    assert_eq!(registered["registration_state"], 1);
    assert!(registered["insured_card"]["number"].is_null());
    let status = ok(portal(
        &served,
        &home,
        &["insurance", "status", "--show-card"],
    ));
    assert_eq!(status["registered"], true);
    let number = status["insured_card"]["number"]
        .as_str()
        .unwrap()
        .to_owned();

    // §6: the insurer sees state 1, the registration date, flag 1.
    let view = ok(sandbox(&served, None, &["insurer", "view"]));
    let row = row_of(&view, &number);
    assert_eq!(row["first_registration_state"], 1);
    assert_eq!(row["registered_on"], status["registered_on"]);
    assert_eq!(row["certificate_expiry_flag"], 1);
    assert!(row["release_reason"].is_null());
    assert!(!listed(&view, "link_reminders", &number));

    // Registering twice is refused (13, already_registered).
    let twice = portal(&served, &home, &["insurance", "register"]);
    assert_eq!(code(&twice), 13);
    assert_eq!(json(&twice)["error"]["refusal"], "already_registered");

    // Reason 1: released at the member's request; the insurer's reminder.
    let released = ok(portal(&served, &home, &["insurance", "release"]));
    assert_eq!(released["registered"], false);
    assert_eq!(released["release_reason_code"], 1);
    let view = ok(sandbox(&served, None, &["insurer", "view"]));
    let row = row_of(&view, &number);
    assert_eq!(row["first_registration_state"], 0);
    assert_eq!(row["release_reason"], 1);
    assert!(listed(&view, "link_reminders", &number));

    // P7: a new version asks again before the next state change.
    ok(sandbox(
        &served,
        None,
        &["portal", "publish-terms", "2099-01-sandbox"],
    ));
    let again = portal(&served, &home, &["insurance", "register"]);
    assert_eq!(code(&again), 27);
    assert_eq!(
        json(&again)["error"]["current_terms_version"],
        "2099-01-sandbox"
    );
    // Reading is allowed meanwhile.
    ok(portal(&served, &home, &["insurance", "status"]));
}

#[test]
fn a_consent_gives_the_service_only_what_was_granted_until_it_is_withdrawn() {
    let served = Served::start();
    let home = TempHome::new("consents");
    login(&served, &home);
    let current = ok(portal(&served, &home, &["terms"]))["current"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(portal(&served, &home, &["terms", "--accept", &current]));
    ok(portal(&served, &home, &["insurance", "register"]));

    // S1: the service asks for two items, a purpose, a retention.
    let request = ok(sandbox(
        &served,
        None,
        &[
            "service",
            "request",
            "--items",
            "insured_card,certificate_validity",
            "--purpose",
            "remind me to renew",
            "--retention-days",
            "30",
        ],
    ));
    let request_id = request["request_id"].as_str().unwrap().to_owned();
    let shown = ok(portal(&served, &home, &["consents", "show", &request_id]));
    assert_eq!(shown["state"], "pending");
    assert_eq!(shown["purpose"], "remind me to renew");

    // The holder grants one of the two.
    let consent = ok(portal(
        &served,
        &home,
        &[
            "consents",
            "grant",
            &request_id,
            "--items",
            "certificate_validity",
        ],
    ));
    assert_eq!(consent["state"], "active");
    assert_eq!(
        consent["items"],
        serde_json::json!(["certificate_validity"])
    );
    let consent_id = consent["consent_id"].as_str().unwrap().to_owned();
    let copy = ok(sandbox(&served, None, &["service", "data", &consent_id]));
    let data = copy["data"].as_object().unwrap();
    assert!(data.contains_key("certificate_validity"), "{copy}");
    assert!(!data.contains_key("insured_card"), "{copy}");
    let list = ok(portal(&served, &home, &["consents", "list"]));
    assert_eq!(list[0]["consent_id"], consent_id.as_str());

    // Withdrawn: the service's copy is gone (13, consent_not_in_force)
    // and the purge is logged.
    let withdrawn = ok(portal(
        &served,
        &home,
        &["consents", "withdraw", &consent_id],
    ));
    assert_eq!(withdrawn["state"], "withdrawn");
    let gone = sandbox(&served, None, &["service", "data", &consent_id]);
    assert_eq!(code(&gone), 13);
    assert_eq!(json(&gone)["error"]["refusal"], "consent_not_in_force");
    let purges = ok(sandbox(&served, None, &["service", "purges"]));
    assert!(
        purges
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["consent_id"] == consent_id.as_str() && p["reason"] == "withdrawn"),
        "{purges}"
    );

    // A refused request gives nothing.
    let other = ok(sandbox(
        &served,
        None,
        &[
            "service",
            "request",
            "--items",
            "insured_card",
            "--purpose",
            "marketing",
            "--retention-days",
            "365",
        ],
    ));
    let other_id = other["request_id"].as_str().unwrap();
    let refused = ok(portal(&served, &home, &["consents", "refuse", other_id]));
    assert_eq!(refused["state"], "refused");
}

#[test]
fn an_agent_acts_within_the_delegation_until_the_holder_ends_it() {
    let served = Served::start();
    let holder = TempHome::new("holder");
    let agent = TempHome::new("agent");
    login(&served, &holder);
    let current = ok(portal(&served, &holder, &["terms"]))["current"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(portal(&served, &holder, &["terms", "--accept", &current]));
    ok(portal(&served, &holder, &["insurance", "register"]));

    // P5: the holder delegates reading the registration only.
    let grant = ok(portal(
        &served,
        &holder,
        &["agents", "add", "my son", "--scopes", "insurance_read"],
    ));
    let grant_id = grant["grant_id"].as_str().unwrap().to_owned();
    let code_text = grant["invitation_code"].as_str().unwrap().to_owned();

    // The agent logs in with their own card and accepts (the code from
    // the environment, never an argument).
    ok(portal_with(
        &served,
        &agent,
        Some("1234"),
        &[],
        &["login", "--sandbox-card", "agent"],
    ));
    ok(portal(&served, &agent, &["terms", "--accept", &current]));
    let accepted = ok(portal_with(
        &served,
        &agent,
        None,
        &[("MYNAKIT_INVITATION_CODE", &code_text)],
        &["agency", "accept"],
    ));
    assert_eq!(accepted["grant_id"], grant_id.as_str());

    // Within the scope: the holder's registration.
    let on_behalf = ["--on-behalf-of", grant_id.as_str()];
    let read = ok(portal(
        &served,
        &agent,
        &[&on_behalf[..], &["insurance", "status"]].concat(),
    ));
    assert_eq!(read["registered"], true);
    // Outside it: releasing (29), and the registration stays.
    let release = portal(
        &served,
        &agent,
        &[&on_behalf[..], &["insurance", "release"]].concat(),
    );
    assert_eq!(code(&release), 29);
    assert_eq!(
        ok(portal(&served, &holder, &["insurance", "status"]))["registered"],
        true
    );

    // The holder ends it: effective at once.
    let ended = ok(portal(&served, &holder, &["agents", "remove", &grant_id]));
    assert_eq!(ended["state"], "ended");
    let after = portal(
        &served,
        &agent,
        &[&on_behalf[..], &["insurance", "status"]].concat(),
    );
    assert_eq!(code(&after), 29);
}

#[test]
fn a_returned_card_is_reason_3_and_an_objector_leaves_the_employers_view() {
    let served = Served::start();
    let home = TempHome::new("returned");
    login(&served, &home);
    let current = ok(portal(&served, &home, &["terms"]))["current"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(portal(&served, &home, &["terms", "--accept", &current]));
    ok(portal(&served, &home, &["insurance", "register"]));
    let status = ok(portal(
        &served,
        &home,
        &["insurance", "status", "--show-card"],
    ));
    let number = status["insured_card"]["number"]
        .as_str()
        .unwrap()
        .to_owned();

    // §6 joint use: the employer sees only the reminder columns; once the
    // member objects, not the member at all.
    let view = ok(sandbox(&served, None, &["insurer", "view"]));
    let member = row_of(&view, &number)["member"].as_u64().unwrap();
    // Released first, so that the member is on a reminder list.
    ok(portal(&served, &home, &["insurance", "release"]));
    let employer = ok(sandbox(
        &served,
        None,
        &["insurer", "view", "--employer", "E001"],
    ));
    assert!(employer.get("rows").is_none(), "{employer}");
    assert!(listed(&employer, "link_reminders", &number), "{employer}");
    ok(sandbox(
        &served,
        None,
        &["insurer", "object", &member.to_string()],
    ));
    let employer = ok(sandbox(
        &served,
        None,
        &["insurer", "view", "--employer", "E001"],
    ));
    assert!(!listed(&employer, "link_reminders", &number), "{employer}");
    // The insurer itself still sees the member.
    let view = ok(sandbox(&served, None, &["insurer", "view"]));
    assert!(listed(&view, "link_reminders", &number));

    // Reason 3: the card returned (the default person is the sample
    // holder); its certificates are revoked, so the card cannot log in.
    ok(portal(&served, &home, &["insurance", "register"]));
    let returned = ok(sandbox(&served, None, &["card-returned"]));
    assert_eq!(returned["released"], true);
    let view = ok(sandbox(&served, None, &["insurer", "view"]));
    let row = row_of(&view, &number);
    assert_eq!(row["first_registration_state"], 0);
    assert_eq!(row["release_reason"], 3);
    let refused = portal_with(&served, &home, Some("1234"), &[], &["login"]);
    assert_eq!(code(&refused), 28);
    assert_eq!(json(&refused)["error"]["refusal"], "certificate_revoked");
}

#[test]
fn the_demo_walks_the_portal_to_release_reason_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args(["--json", "demo"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let steps = json(&output);
    let step = |needle: &str| -> (serde_json::Value, String) {
        let step = steps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["title"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no step {needle:?}"))
            .clone();
        let lines = step["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("\n");
        (step, lines)
    };
    let (login, _) = step("Portal: log in with the card");
    assert!(login["round_trips"].as_u64().unwrap() <= 6, "{login}");
    let (_, terms) = step("Portal: the terms");
    assert!(terms.contains("agree to the terms version"), "{terms}");
    let (_, registered) = step("Portal: register");
    assert!(registered.contains("registered: true"), "{registered}");
    let (_, view) = step("Portal: the insurer's view");
    assert!(
        view.contains("first-registration state 1") && view.contains("expiry flag 1"),
        "{view}"
    );
    let (_, expired) = step("three months pass");
    assert!(
        expired.contains("first-registration state 0")
            && expired.contains("reason 2, expiry flag 0"),
        "{expired}"
    );
    assert!(
        expired.contains("expired_three_months_or_more"),
        "{expired}"
    );
    let (_, renewed) = step("Portal: the card renewed");
    assert!(
        renewed.contains("same subject: true") && renewed.contains("reason 2"),
        "{renewed}"
    );
}

#[test]
fn a_limit_that_begins_during_the_tap_is_waited_out_without_another_tap() {
    let served = Served::start();
    let home = TempHome::new("resume");
    // A slow card: the tap takes a few seconds.
    let login = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mynakit"));
        cmd.args(["--json", "--sandbox-delay-ms", "400", "portal"])
            .args(["--authority", &served.base, "--home"])
            .arg(home.path())
            .arg("login")
            .env("MYNAKIT_PIN", "1234")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    // P6: the portal starts limiting use while the card is being read.
    std::thread::sleep(std::time::Duration::from_millis(600));
    ok(sandbox(&served, None, &["portal", "limit", "3s"]));
    let output = login.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(code(&output), 0, "{stderr}");
    assert!(
        stderr.contains("resuming the login without another tap"),
        "{stderr}"
    );
    // One tap only.
    assert_eq!(json(&output)["tap_round_trips"], 5);
}
