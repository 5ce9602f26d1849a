//! `mynakit wallet …` and `mynakit sandbox issuer …` (issue 9): the real
//! binary against a served sandbox, with a temporary `--home` so successive
//! commands behave like one phone.

mod common;
use common::Served;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary home, removed when dropped.
struct TempHome(PathBuf);

impl TempHome {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "mynakit-wallet-{name}-{}-{}",
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

    fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `mynakit --json wallet --authority BASE --home HOME ARGS` with the
/// sandbox card's secrets; `approve` sets MYNAKIT_WALLET_APPROVE=yes.
fn wallet(served: &Served, home: &TempHome, args: &[&str], approve: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mynakit"));
    cmd.args(["--json", "wallet", "--authority", &served.base, "--home"])
        .arg(home.path())
        .args(args)
        .env_remove("MYNAKIT_PIN")
        .env_remove("MYNAKIT_WALLET_APPROVE")
        .env("MYNAKIT_CARD_INFO_PIN", "1234")
        .env("MYNAKIT_SIGNING_PASSWORD", "SANDBOX1")
        .stdin(Stdio::null());
    if approve {
        cmd.env("MYNAKIT_WALLET_APPROVE", "yes");
    }
    cmd.output().expect("mynakit runs")
}

fn issuer(served: &Served, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args(["--json", "sandbox", "issuer", "--authority", &served.base])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("mynakit runs")
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
fn apply_show_present_lose_recover_revoke() {
    let served = Served::start();
    let home = TempHome::new("flow");

    // W2: one tap; the device key's use is approved and said so (W10).
    let applied = wallet(&served, &home, &["apply"], true);
    assert_eq!(
        code(&applied),
        0,
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let applied_json = json(&applied);
    let id = applied_json["record_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(applied_json["tap_round_trips"], 14);
    assert_eq!(applied_json["status"], "valid");
    assert!(
        String::from_utf8_lossy(&applied.stderr).contains("approving this use of the device key")
    );

    // Japan time, in force, no uses yet.
    let shown = json(&wallet(&served, &home, &["show"], false));
    let record = &shown["records"][0];
    assert_eq!(record["record_id"], id.as_str());
    assert_eq!(record["in_force"], true);
    assert_eq!(record["uses"], 0);
    assert!(
        record["valid_until_jst"]
            .as_str()
            .unwrap()
            .ends_with(" JST")
    );

    // W3: a second application while one is in force.
    let again = wallet(&served, &home, &["apply"], true);
    assert_eq!(code(&again), 18);
    assert_eq!(json(&again)["error"]["record_id"], id.as_str());

    // W10: no terminal and no approval: refused, nothing written.
    let out = home.file("response.cbor");
    let transcript = home.file("transcript.cbor");
    let refused = wallet(
        &served,
        &home,
        &[
            "present",
            "--elements",
            "age_over_20",
            "--transcript-new",
            &transcript,
            "--out",
            &out,
        ],
        false,
    );
    assert_eq!(code(&refused), 21);
    assert!(!Path::new(&out).exists());

    // Selective disclosure over a fresh transcript.
    let presented = wallet(
        &served,
        &home,
        &[
            "present",
            "--elements",
            "full_name_unicode,age_over_20",
            "--transcript",
            &transcript,
            "--out",
            &out,
        ],
        true,
    );
    assert_eq!(code(&presented), 0);
    let presented_json = json(&presented);
    assert_eq!(presented_json["record_id"], id.as_str());
    let response = std::fs::read(&out).unwrap();
    assert_eq!(presented_json["bytes"], response.len());
    // The DeviceResponse carries the document type.
    assert!(
        response
            .windows(b"org.iso.23220.1.jp.mnc".len())
            .any(|w| w == b"org.iso.23220.1.jp.mnc")
    );

    // The verifier: genuine and valid, the anchor and list fetched.
    let verified = wallet(
        &served,
        &home,
        &["verify", &out, "--transcript", &transcript],
        false,
    );
    assert_eq!(
        code(&verified),
        0,
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let verified_json = json(&verified);
    assert_eq!(verified_json["status"], "valid");
    assert_eq!(
        verified_json["elements"]["org.iso.23220.1/age_over_20"],
        true
    );
    assert!(
        verified_json["elements"]
            .get("org.iso.23220.1.jp/portrait")
            .is_none()
    );
    // Another session's transcript: a replay (exit 22, which check).
    let other = home.file("other.cbor");
    let made = Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args(["wallet", "transcript", &other])
        .output()
        .unwrap();
    assert_eq!(code(&made), 0);
    let replay = wallet(
        &served,
        &home,
        &["verify", &out, "--transcript", &other],
        false,
    );
    assert_eq!(code(&replay), 22);
    assert_eq!(json(&replay)["error"]["check"], "device_signature");
    // Offline with the anchor: undetermined, never revoked.
    let anchor = home.file("iaca.der");
    let iaca = Command::new("curl")
        .args([
            "-sf",
            "-o",
            &anchor,
            &format!("{}/v1/wallet/iaca", served.base),
        ])
        .status();
    if iaca.is_ok_and(|s| s.success()) {
        let offline = wallet(
            &served,
            &home,
            &[
                "verify",
                &out,
                "--transcript",
                &transcript,
                "--anchor",
                &anchor,
                "--offline",
            ],
            false,
        );
        assert_eq!(code(&offline), 0);
        assert_eq!(json(&offline)["status"], "undetermined");
    }
    // Another issuer's anchor (here: not a certificate at all) is refused.
    std::fs::write(home.file("junk.der"), b"not a certificate").unwrap();
    let untrusted = wallet(
        &served,
        &home,
        &[
            "verify",
            &out,
            "--transcript",
            &transcript,
            "--anchor",
            &home.file("junk.der"),
        ],
        false,
    );
    assert_eq!(code(&untrusted), 22);
    assert_eq!(json(&untrusted)["error"]["check"], "untrusted_issuer");

    // An element the record does not have, a name that is no element.
    let absent = wallet(
        &served,
        &home,
        &[
            "present",
            "--elements",
            "no_such_element",
            "--transcript",
            &transcript,
            "--out",
            &out,
        ],
        true,
    );
    assert_eq!(code(&absent), 8);

    // W9: lost, the phone hears it, presentations stop (exit 20).
    assert_eq!(code(&issuer(&served, &["report-lost", &id])), 0);
    let refreshed = json(&wallet(&served, &home, &["refresh"], true));
    assert_eq!(refreshed["records"][0]["status"], "suspended");
    assert!(
        refreshed["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "suspended")
    );
    let suspended = wallet(
        &served,
        &home,
        &[
            "present",
            "--elements",
            "age_over_20",
            "--transcript",
            &transcript,
            "--out",
            &out,
        ],
        true,
    );
    assert_eq!(code(&suspended), 20);
    assert_eq!(json(&suspended)["error"]["status"], "suspended");
    // The verifier sees the suspension in the signed list (exit 25).
    let seen = wallet(
        &served,
        &home,
        &["verify", &out, "--transcript", &transcript],
        false,
    );
    assert_eq!(code(&seen), 25);
    assert_eq!(json(&seen)["error"]["check"], "suspended");
    // Twice lost: the issuer's own refusal kind.
    let twice = issuer(&served, &["report-lost", &id]);
    assert_eq!(code(&twice), 13);
    assert_eq!(json(&twice)["error"]["refusal"], "record_suspended");

    // W6(4): recovered, the next refresh re-issues.
    assert_eq!(code(&issuer(&served, &["recovered", &id])), 0);
    let reissued = json(&wallet(&served, &home, &["refresh"], true));
    assert_eq!(reissued["reissued"]["old_record_id"], id.as_str());
    assert_eq!(reissued["reissued"]["reason"], "recovered");
    let new_id = reissued["reissued"]["new_record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_id, id);

    // W7(2): revoked from the phone; the record stops.
    let revoked = wallet(&served, &home, &["revoke"], true);
    assert_eq!(code(&revoked), 0);
    let revoked_json = json(&revoked);
    assert_eq!(revoked_json["record_id"], new_id.as_str());
    assert_eq!(revoked_json["status"], "revoked");
    assert_eq!(revoked_json["revocation_reason"], "holder_request");

    // The notices, online and kept.
    let notices = json(&wallet(&served, &home, &["notices"], false));
    assert!(notices["holder"].as_array().unwrap().len() >= 3);
    let kept = json(&wallet(&served, &home, &["notices", "--offline"], false));
    assert!(!kept["holder"].as_array().unwrap().is_empty());

    // The issuer's admin view has both records, the first replaced.
    let records = json(&issuer(&served, &["records"]));
    let list = records.as_array().unwrap();
    assert!(
        list.iter()
            .any(|r| r["record_id"] == id.as_str() && r["replaced_by"] == new_id.as_str())
    );
}

#[test]
fn refusals_and_unreachable_issuer_have_their_codes() {
    let mut served = Served::start();
    let home = TempHome::new("refusals");
    // Nothing to present yet.
    let transcript = home.file("t.cbor");
    let none = wallet(
        &served,
        &home,
        &[
            "present",
            "--elements",
            "age_over_20",
            "--transcript-new",
            &transcript,
            "--out",
            &home.file("r.cbor"),
        ],
        true,
    );
    assert_eq!(code(&none), 8);
    assert_eq!(json(&none)["error"]["kind"], "no_record");
    // A malformed card-info PIN: nothing sent.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mynakit"));
    let bad_pin = cmd
        .args(["--json", "wallet", "--authority", &served.base, "--home"])
        .arg(home.path())
        .args(["--yes", "apply"])
        .env("MYNAKIT_CARD_INFO_PIN", "12")
        .env("MYNAKIT_SIGNING_PASSWORD", "SANDBOX1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&bad_pin), 8);
    // The admin with a bad record id: refused before anything is sent.
    assert_eq!(code(&issuer(&served, &["report-lost", "../x"])), 8);
    // The issuer gone (W12): unavailable, exit 12.
    served.stop();
    let gone = wallet(&served, &home, &["apply"], true);
    assert_eq!(code(&gone), 12);
    assert_eq!(json(&gone)["error"]["kind"], "authority_unavailable");
}

#[test]
fn a_fresh_transcript_is_cbor_and_never_the_same() {
    let home = TempHome::new("transcript");
    let run = |name: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_mynakit"))
            .args(["wallet", "transcript"])
            .arg(home.file(name))
            .output()
            .unwrap();
        assert_eq!(code(&output), 0);
        std::fs::read(home.file(name)).unwrap()
    };
    let a = run("a.cbor");
    let b = run("b.cbor");
    assert_eq!(a.first(), Some(&0x83), "a CBOR array of three");
    assert_ne!(a, b);
}

#[test]
fn the_demo_walks_the_wallet_through_loss_and_recovery() {
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
    let step = |needle: &str| -> String {
        steps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["title"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no step {needle:?}"))["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let apply = steps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"].as_str().unwrap().contains("Wallet: apply"))
        .unwrap();
    assert_eq!(apply["round_trips"], 14);
    assert!(step("Wallet: present").contains("status VALID"));
    assert!(step("a month passes").contains("validity_ended, W6(1)"));
    let lost = step("reported lost");
    assert!(lost.contains("refused — the record is suspended"), "{lost}");
    assert!(lost.contains("refresh: suspended"), "{lost}");
    let recovered = step("recovered");
    assert!(
        recovered.contains("W6(4)") && recovered.contains("status VALID"),
        "{recovered}"
    );
}

#[test]
fn an_issuer_key_compromise_ends_the_record_and_the_old_anchor() {
    let served = Served::start();
    let home = TempHome::new("compromise");
    assert_eq!(code(&wallet(&served, &home, &["apply"], true)), 0);
    let out = home.file("r.cbor");
    let transcript = home.file("t.cbor");
    let presented = wallet(
        &served,
        &home,
        &[
            "present",
            "--elements",
            "age_over_20",
            "--transcript-new",
            &transcript,
            "--out",
            &out,
        ],
        true,
    );
    assert_eq!(code(&presented), 0);
    // W8(1)(4): every record revoked, a public notice with the count.
    let compromised = issuer(&served, &["issuer-key-compromise"]);
    assert_eq!(
        code(&compromised),
        0,
        "{}",
        String::from_utf8_lossy(&compromised.stderr)
    );
    assert_eq!(json(&compromised)["records"], 1);
    // The verifier now pins the new IACA: the old presentation is refused.
    let old = wallet(
        &served,
        &home,
        &["verify", &out, "--transcript", &transcript],
        false,
    );
    assert_eq!(code(&old), 22);
    assert_eq!(json(&old)["error"]["check"], "untrusted_issuer");
    // The phone hears it: the card is needed again (exit 19).
    let refreshed = wallet(&served, &home, &["refresh"], true);
    assert_eq!(
        code(&refreshed),
        19,
        "{}",
        String::from_utf8_lossy(&refreshed.stdout)
    );
    // One JSON document: the report, which says why; the failure on stderr.
    assert_eq!(json(&refreshed)["reapply"], "record_revoked");
    assert!(String::from_utf8_lossy(&refreshed.stderr).contains("apply again with the card"));
    let notices = json(&wallet(&served, &home, &["notices"], false));
    assert_eq!(notices["public"].as_array().unwrap().len(), 1);
}
