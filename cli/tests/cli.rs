//! The `mynakit` binary: output, JSON and exit codes, on the sandbox card.

use std::process::{Command, Output};

fn mynakit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mynakit"));
    cmd.args(args)
        .env_remove("MYNAKIT_PIN")
        .env_remove("MYNAKIT_SIGNING_PASSWORD")
        .env_remove("MYNAKIT_SECURITY_CODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("mynakit runs")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn demo_walks_through_with_round_trips() {
    let out = mynakit(&["demo"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("→ 2 round trips") && text.contains("(budget ≤ 2)"),
        "{text}"
    );
    assert!(
        text.contains("→ 4 round trips") && text.contains("(budget ≤ 4)"),
        "{text}"
    );
    assert!(text.contains("a try may have been spent"), "{text}");

    let steps = json(&mynakit(&["demo", "--json"], &[]));
    let steps = steps.as_array().expect("an array of steps");
    assert!(steps.len() >= 10);
    for step in steps {
        if let Some(budget) = step["budget"].as_u64() {
            assert!(step["round_trips"].as_u64().unwrap() <= budget, "{step}");
        }
    }
}

#[test]
fn status_reports_token_and_tries_as_json() {
    let out = mynakit(&["card", "status", "--json"], &[]);
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!(v["token"]["kind"], "physical_card");
    assert_eq!(
        v["tries"]["auth_pin"],
        serde_json::json!({ "state": "tries_left", "tries": 3 })
    );
    assert_eq!(v["tries"]["signing_password"]["tries"], 5);
}

#[test]
fn sign_verifies_and_a_wrong_pin_exits_3_with_tries_left() {
    let ok = mynakit(
        &["card", "sign", "--message", "hello", "--json"],
        &[("MYNAKIT_PIN", "1234")],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(json(&ok)["verified_with_certificate"], true);

    let wrong = mynakit(
        &["card", "sign", "--message", "hello", "--json"],
        &[("MYNAKIT_PIN", "0000")],
    );
    assert_eq!(wrong.status.code(), Some(3));
    let v = json(&wrong);
    assert_eq!(v["error"]["kind"], "wrong_pin");
    assert_eq!(v["error"]["tries_left"], 2);
}

#[test]
fn input_errors_send_nothing_and_exit_8() {
    let out = mynakit(
        &["card", "sign", "--message", "x"],
        &[("MYNAKIT_PIN", "12")],
    );
    assert_eq!(out.status.code(), Some(8));
    assert!(String::from_utf8_lossy(&out.stderr).contains("4 digits"));
}

#[test]
fn the_last_try_needs_the_flag() {
    let env = [("MYNAKIT_PIN", "1234")];
    let refused = mynakit(
        &["card", "sign", "--message", "x", "--sandbox-pin-tries", "1"],
        &env,
    );
    assert_eq!(refused.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--allow-last-try"));
    let allowed = mynakit(
        &[
            "card",
            "sign",
            "--message",
            "x",
            "--sandbox-pin-tries",
            "1",
            "--allow-last-try",
        ],
        &env,
    );
    assert!(allowed.status.success());
}

#[test]
fn a_card_pulled_away_exits_5_or_7_during_verify() {
    let env = [("MYNAKIT_PIN", "1234")];
    let at_select = mynakit(
        &[
            "card",
            "sign",
            "--message",
            "x",
            "--sandbox-remove-at",
            "1",
            "--json",
        ],
        &env,
    );
    assert_eq!(at_select.status.code(), Some(5));
    assert_eq!(json(&at_select)["error"]["kind"], "card_removed");
    let at_verify = mynakit(
        &[
            "card",
            "sign",
            "--message",
            "x",
            "--sandbox-remove-at",
            "3",
            "--json",
        ],
        &env,
    );
    assert_eq!(at_verify.status.code(), Some(7));
    assert_eq!(json(&at_verify)["error"]["kind"], "verify_outcome_unknown");
}

#[test]
fn certs_kenhojo_and_kenmen() {
    let certs = mynakit(
        &["card", "certs", "--signing", "--json"],
        &[("MYNAKIT_SIGNING_PASSWORD", "sandbox1")],
    );
    assert!(
        certs.status.success(),
        "{}",
        String::from_utf8_lossy(&certs.stderr)
    );
    let v = json(&certs);
    assert_eq!(v[0]["chain"]["anchor"]["subject"], v[1]["subject"]);
    assert_eq!(v[2]["attributes"]["name"], "番号\u{3000}花子");

    let kenhojo = mynakit(&["card", "kenhojo", "--json"], &[("MYNAKIT_PIN", "1234")]);
    let v = json(&kenhojo);
    assert_eq!(v["birth_date"], "1985-06-15");
    assert!(v["my_number"].is_null(), "not read unless asked");

    let dir = std::env::temp_dir().join(format!("mynakit-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let photo = dir.join("face.jp2");
    let kenmen = mynakit(
        &[
            "card",
            "kenmen",
            "--birth-date",
            "昭和60年6月15日",
            "--expiry",
            "2035年6月15日まで有効",
            "--photo-out",
            photo.to_str().unwrap(),
        ],
        &[("MYNAKIT_SECURITY_CODE", "4821")],
    );
    assert!(
        kenmen.status.success(),
        "{}",
        String::from_utf8_lossy(&kenmen.stderr)
    );
    assert!(
        std::fs::read(&photo)
            .unwrap()
            .starts_with(&[0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20])
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_sandbox_holder_is_configurable() {
    let pin = [("MYNAKIT_PIN", "1234")];
    let custom = &[
        "card",
        "kenhojo",
        "--json",
        "--sandbox-name",
        "試験 太郎",
        "--sandbox-birth-date",
        "1989-01-07",
        "--sandbox-sex",
        "1",
    ];
    let v = json(&mynakit(custom, &pin));
    assert_eq!(v["name"], "試験\u{3000}太郎");
    assert_eq!(v["birth_date"], "1989-01-07");
    assert_eq!(v["sex"], "male");
    // The printed front of such a card: 昭和64年1月7日 opens the face record.
    let face = mynakit(
        &[
            "card",
            "kenmen",
            "--json",
            "--birth-date",
            "昭和64年1月7日",
            "--expiry",
            "2035",
            "--sandbox-birth-date",
            "1989-01-07",
        ],
        &[("MYNAKIT_SECURITY_CODE", "4821")],
    );
    assert!(
        face.status.success(),
        "{}",
        String::from_utf8_lossy(&face.stderr)
    );
    assert_eq!(json(&face)["birth_date"], "1989-01-07");
    let unknown = json(&mynakit(
        &[
            "card",
            "kenhojo",
            "--json",
            "--sandbox-birth-date",
            "unknown",
        ],
        &pin,
    ));
    assert!(unknown["birth_date"].is_null());
    let bad = mynakit(
        &["card", "status", "--sandbox-birth-date", "1989/01/07"],
        &[],
    );
    assert_eq!(bad.status.code(), Some(8));
}

/// Issue 7, item 8: an anchor file of one's own, and a refusal that says why.
#[test]
fn anchors_come_from_a_file_and_a_refused_chain_says_why() {
    let dir = std::env::temp_dir().join(format!("mynakit-anchors-{}", std::process::id()));
    let dir_arg = dir.to_string_lossy().into_owned();
    let out = mynakit(&["card", "certs", "--out-dir", &dir_arg, "--json"], &[]);
    assert!(out.status.success());

    // The card's own root, given as an anchor file: the chain is trusted.
    let root = dir.join("auth-ca.der").to_string_lossy().into_owned();
    let v = json(&mynakit(
        &["card", "certs", "--anchors", &root, "--json"],
        &[],
    ));
    assert_eq!(v[0]["chain"]["trusted"], true, "{v}");

    // The production roots do not know the sandbox CA: "unknown CA".
    let v = json(&mynakit(
        &["card", "certs", "--anchors", "production", "--json"],
        &[],
    ));
    assert_eq!(v[0]["chain"]["trusted"], false, "{v}");
    let why = v[0]["chain"]["reason"].as_str().unwrap_or_default();
    assert!(why.starts_with("unknown CA"), "{v}");

    // A holder's certificate is no anchor: refused before anything is read.
    let leaf = dir.join("auth.der").to_string_lossy().into_owned();
    let out = mynakit(&["card", "certs", "--anchors", &leaf, "--json"], &[]);
    assert_eq!(out.status.code(), Some(8), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a CA certificate")
            || String::from_utf8_lossy(&out.stdout).contains("not a CA certificate"),
        "{out:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
