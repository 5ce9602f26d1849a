//! `mynakit reset …` (issue 8): the real binary with a temporary `--home`,
//! so successive commands behave like one phone.

mod common;
use common::Served;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary home, removed when dropped.
struct TempHome(PathBuf);

impl TempHome {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "mynakit-reset-{name}-{}-{}",
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

fn mynakit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mynakit"));
    cmd.args(args)
        .env_remove("MYNAKIT_PIN")
        .env_remove("MYNAKIT_SIGNING_PASSWORD")
        .env_remove("MYNAKIT_SECURITY_CODE")
        .env_remove("MYNAKIT_CARD_FRONT")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("mynakit runs")
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

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The sample card's front, misread in three places, with a My Number
/// that must never be read (R8).
const MISREAD_FRONT: &str = "氏名 番号 花子\n昭和6O年 6月15日生\n2O35年 6月15日まで有効\nセキュリティコード ４8Z1\n個人番号 1234 5678 9012";

#[test]
fn front_reads_corrects_and_masks_the_security_code() {
    let out = mynakit(&["reset", "front", "--text", MISREAD_FRONT], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = text(&out);
    assert!(shown.contains("昭和60年6月15日 (1985-06-15)"), "{shown}");
    assert!(shown.contains("expiry year:   2035"), "{shown}");
    assert!(shown.contains("security code: ****"), "{shown}");
    assert!(shown.contains("照合番号B:     formed"), "{shown}");
    assert!(shown.contains("birth_date at 3: 'O' → '0'"), "{shown}");
    assert!(shown.contains("expiry_year at 1: 'O' → '0'"), "{shown}");
    // Neither the security code, nor 照合番号B, nor the My Number.
    for secret in [
        "4821",
        "60061520354821",
        "1234 5678 9012",
        "123456789012",
        "'Z'",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }

    let out = mynakit(&["--json", "reset", "front", "--text", MISREAD_FRONT], &[]);
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!(v["birth_date"]["value"]["era"], "Showa");
    assert_eq!(v["birth_date"]["value"]["era_year"], 60);
    assert_eq!(v["birth_date"]["value"]["gregorian"], "1985-06-15");
    assert_eq!(v["expiry_year"]["value"], 2035);
    // --json is where the security code is given in full.
    assert_eq!(v["security_code"]["value"], "4821");
    assert_eq!(v["check_code_formed"], true);
    assert_eq!(v["ignored_long_numbers"], 1);
    let corrections: Vec<(String, u64, String, String)> = v["corrections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap().to_owned(),
                c["position"].as_u64().unwrap(),
                c["from"].as_str().unwrap().to_owned(),
                c["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("expiry_year", 1, "O", "0"),
        ("birth_date", 3, "O", "0"),
        ("security_code", 0, "４", "4"),
        ("security_code", 2, "Z", "2"),
    ]
    .map(|(f, p, a, b)| (f.to_owned(), p, a.to_owned(), b.to_owned()));
    assert_eq!(corrections, expected);
    let whole = String::from_utf8_lossy(&out.stdout);
    assert!(
        !whole.contains("60061520354821") && !whole.contains("5678"),
        "{whole}"
    );
}

#[test]
fn front_from_the_environment_or_standard_input() {
    let front = "平成元年1月8日生 2029年1月8日まで有効 セキュリティコード 0007";
    let out = mynakit(
        &["--json", "reset", "front"],
        &[("MYNAKIT_CARD_FRONT", front)],
    );
    assert!(out.status.success());
    assert_eq!(
        json(&out)["birth_date"]["value"]["printed"],
        "平成元年1月8日"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args(["--json", "reset", "front"])
        .env_remove("MYNAKIT_CARD_FRONT")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all("令和2年12月24日生\n2030年まで有効\n9999\n".as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!(v["birth_date"]["value"]["printed"], "令和2年12月24日");
    assert_eq!(v["security_code"]["value"], "9999");

    // Nothing given at all: a usage error (8), nothing read.
    let out = mynakit(&["reset", "front"], &[]);
    assert_eq!(out.status.code(), Some(8));
}

#[test]
fn a_blank_or_unknown_birth_date_stops_with_r7() {
    for front in [
        "生年月日 不詳 2035年3月1日まで有効 セキュリティコード 1234",
        "昭和  年  月  日生\n2035年3月1日まで有効\n1234",
        "2035年3月1日まで有効 セキュリティコード 1234",
    ] {
        let out = mynakit(&["--json", "reset", "front", "--text", front], &[]);
        assert_eq!(out.status.code(), Some(14), "{front}");
        let v = json(&out);
        assert_eq!(v["error"]["rule"], "R7", "{v}");
        assert_eq!(v["error"]["field"], "birth_date");
        assert!(
            ["birth_date_unknown", "birth_date_not_found"]
                .contains(&v["error"]["kind"].as_str().unwrap()),
            "{v}"
        );
        // What was read is still there for the screen.
        assert_eq!(v["error"]["reading"]["expiry_year"]["value"], 2035, "{v}");
        let out = mynakit(&["reset", "front", "--text", front], &[]);
        assert_eq!(out.status.code(), Some(14));
        assert!(String::from_utf8_lossy(&out.stderr).contains("R7"));
    }
    // A field the user can fix is a bad-input failure (8), not R7.
    let out = mynakit(
        &[
            "--json",
            "reset",
            "front",
            "--text",
            "昭和60年6月15日生 2035年まで有効",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(8));
    assert_eq!(json(&out)["error"]["kind"], "security_code_not_found");
}

/// `mynakit --json reset ARGS --home HOME [--authority URL]`.
fn reset(home: &TempHome, authority: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["--json", "reset"];
    all.extend_from_slice(args);
    all.extend(["--home", home.path().to_str().unwrap()]);
    if let Some(url) = authority {
        all.extend(["--authority", url]);
    }
    mynakit(&all, env)
}

const PIN: (&str, &str) = ("MYNAKIT_PIN", "1234");
const SIGNING_PASSWORD: (&str, &str) = ("MYNAKIT_SIGNING_PASSWORD", "SANDBOX1");
const ALL_CHAINS: [&str; 9] = [
    "seven_eleven",
    "aeon_retail",
    "aeon_hokkaido",
    "aeon_tohoku",
    "fuji",
    "lawson",
    "family_mart",
    "ministop",
    "daiei",
];
const PIN_CHAINS: [&str; 5] = [
    "seven_eleven",
    "aeon_retail",
    "aeon_hokkaido",
    "aeon_tohoku",
    "fuji",
];

fn ok(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    json(output)
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Reserves the signing password, checks what is printed, and returns it.
fn reserve_signing_password(home: &TempHome, authority: Option<&str>) -> serde_json::Value {
    let v = ok(&reset(
        home,
        authority,
        &["reserve", "--kind", "signing-password"],
        &[PIN],
    ));
    assert_eq!(v["kind"], "signing_password");
    assert_eq!(v["state"], "reserved");
    assert_eq!(v["face_check_passed"], true, "R2: {v}");
    assert_eq!(strings(&v["stores"]), ALL_CHAINS, "R6");
    assert_eq!(
        strings(&v["partial_chains"]),
        ["aeon_hokkaido", "aeon_tohoku", "fuji", "daiei"]
    );
    let left = v["time_left_seconds"].as_u64().unwrap();
    assert!((24 * 3600 - 120..=24 * 3600).contains(&left), "R5: {left}");
    let created = chrono::DateTime::parse_from_rfc3339(v["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::TimeDelta::hours(24), "R5");
    assert_eq!(v["id"].as_str().unwrap().len(), 32);
    v
}

#[test]
fn reserve_then_list_offline_then_cancel() {
    let home = TempHome::new("reserve");
    let reserved = reserve_signing_password(&home, None);
    let id = reserved["id"].as_str().unwrap().to_owned();
    // The phone's state is under --home, as a phone keeps it.
    for file in [
        "phone.db",
        "software-keys",
        "sandbox-card.json",
        "sandbox-authority.db",
    ] {
        assert!(home.path().join(file).exists(), "{file}");
    }

    // The list comes from the phone's store.
    let list = ok(&reset(&home, None, &["list"], &[]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["state"], "reserved");
    assert_eq!(strings(&list[0]["stores"]), ALL_CHAINS);
    assert!(
        list[0]["time_left_seconds"].as_u64().unwrap()
            <= reserved["time_left_seconds"].as_u64().unwrap()
    );
    let human = mynakit(
        &["reset", "list", "--home", home.path().to_str().unwrap()],
        &[],
    );
    let shown = text(&human);
    assert!(shown.contains(&id) && shown.contains("min left"), "{shown}");
    assert!(
        shown.contains("lawson") && shown.contains("fuji (some stores)"),
        "{shown}"
    );

    // One live reservation per card and kind: the typed outcome names it.
    let again = reset(
        &home,
        None,
        &["reserve", "--kind", "signing-password"],
        &[PIN],
    );
    assert_eq!(again.status.code(), Some(17));
    let error = json(&again);
    assert_eq!(error["error"]["kind"], "already_reserved");
    assert_eq!(error["error"]["id"], id.as_str());

    // Cancelling changes its state, here and in the list.
    let cancelled = ok(&reset(&home, None, &["cancel", &id], &[]));
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["time_left_seconds"], serde_json::Value::Null);
    let list = ok(&reset(&home, None, &["list"], &[]));
    assert_eq!(list[0]["state"], "cancelled");
    let twice = reset(&home, None, &["cancel", &id], &[]);
    assert_eq!(twice.status.code(), Some(13));
    assert_eq!(json(&twice)["error"]["refusal"], "reservation_cancelled");

    // A new reservation of the same kind is possible again.
    let renewed = reserve_signing_password(&home, None);
    assert_ne!(renewed["id"], id.as_str());
    let list = ok(&reset(&home, None, &["list"], &[]));
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[test]
fn a_pin_reservation_needs_the_signing_password_and_no_face_check() {
    let home = TempHome::new("pin");
    let v = ok(&reset(
        &home,
        None,
        &["reserve", "--kind", "auth-pin"],
        &[SIGNING_PASSWORD],
    ));
    assert_eq!(v["kind"], "auth_pin");
    assert_eq!(v["face_check_passed"], serde_json::Value::Null, "R3");
    assert_eq!(strings(&v["stores"]), PIN_CHAINS, "R6: not at Lawson");
    // The other secret piped on standard input, as the card commands take it.
    let piped = TempHome::new("pin-piped");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mynakit"))
        .args(["--json", "reset", "reserve", "--kind", "auth-pin", "--home"])
        .arg(piped.path())
        .env_remove("MYNAKIT_SIGNING_PASSWORD")
        .env_remove("MYNAKIT_CARD_FRONT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"SANDBOX1\n")
            .unwrap();
    }
    let v = ok(&child.wait_with_output().unwrap());
    assert_eq!(v["kind"], "auth_pin");
    // Without the other secret nothing is sent (R4), and the usage error says so.
    let out = reset(&home, None, &["reserve", "--kind", "auth-pin"], &[]);
    assert_eq!(out.status.code(), Some(8));
    // The wrong secret for the kind is refused before the card is touched.
    let out = reset(
        &home,
        None,
        &["reserve", "--kind", "auth-pin"],
        &[("MYNAKIT_SIGNING_PASSWORD", "12")],
    );
    assert_eq!(out.status.code(), Some(8));
}

#[test]
fn the_card_front_decides_before_and_at_the_tap() {
    let home = TempHome::new("front");
    // R7 from the front: stops before anything is sent.
    let out = reset(
        &home,
        None,
        &[
            "reserve",
            "--kind",
            "signing-password",
            "--front-text",
            "生年月日 不詳\n2035年6月15日まで有効\nセキュリティコード 4821",
        ],
        &[PIN],
    );
    assert_eq!(out.status.code(), Some(14));
    assert_eq!(json(&out)["error"]["rule"], "R7");
    // A misread front fixed by the reader works (R8).
    let out = ok(&reset(
        &home,
        None,
        &[
            "reserve",
            "--kind",
            "auth-pin",
            "--front-text",
            "昭和6O年6月15日生\n2O35年6月15日まで有効\nセキュリティコード 48Z1",
        ],
        &[SIGNING_PASSWORD],
    ));
    assert_eq!(out["front_corrections"], 3);
    // A front read wrongly: the card refuses 照合番号B (never retried), exit 11.
    let out = reset(
        &home,
        None,
        &[
            "reserve",
            "--kind",
            "signing-password",
            "--front-text",
            "昭和60年6月15日生\n2035年6月15日まで有効\nセキュリティコード 1111",
        ],
        &[PIN],
    );
    assert_eq!(
        out.status.code(),
        Some(11),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(json(&out)["error"]["kind"], "wrong_check_code");
}

#[test]
fn a_masked_face_fails_the_face_check_until_the_lock_out() {
    let home = TempHome::new("masked");
    let out = reset(
        &home,
        None,
        &[
            "reserve",
            "--kind",
            "signing-password",
            "--sandbox-face",
            "masked",
        ],
        &[PIN],
    );
    assert_eq!(
        out.status.code(),
        Some(15),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let error = json(&out);
    assert_eq!(error["error"]["kind"], "face_check_failed");
    assert_eq!(error["error"]["rule"], "R2");
    assert!(error["error"]["attempts_left"].as_u64().is_some());
    // Nothing was reserved.
    let list = ok(&reset(&home, None, &["list"], &[]));
    assert!(list.as_array().unwrap().is_empty());
    // Failures count against a lock-out (R11: the reference authority's
    // policy, 5 failures within 3 minutes): then even the holder waits.
    let mut codes = Vec::new();
    for _ in 0..5 {
        let out = reset(
            &home,
            None,
            &[
                "reserve",
                "--kind",
                "signing-password",
                "--sandbox-face",
                "masked",
            ],
            &[PIN],
        );
        codes.push(out.status.code());
        if out.status.code() == Some(16) {
            break;
        }
    }
    assert_eq!(codes.last(), Some(&Some(16)), "{codes:?}");
    let out = reset(
        &home,
        None,
        &["reserve", "--kind", "signing-password"],
        &[PIN],
    );
    assert_eq!(out.status.code(), Some(16));
    let error = json(&out);
    assert_eq!(error["error"]["kind"], "locked_out");
    assert_eq!(error["error"]["rule"], "R11");
    assert!(
        error["error"]["retry_after"].as_u64().unwrap() > 0,
        "{error}"
    );
    assert!(
        !error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Some(")
    );
}

#[test]
fn a_served_sandbox_works_the_same_and_the_list_stays_offline() {
    let home = TempHome::new("served");
    let mut served = Served::start();
    let url = served.base.clone();
    let reserved = reserve_signing_password(&home, Some(&url));
    let id = reserved["id"].as_str().unwrap().to_owned();
    let again = reset(
        &home,
        Some(&url),
        &["reserve", "--kind", "signing-password"],
        &[PIN],
    );
    assert_eq!(again.status.code(), Some(17));
    assert_eq!(json(&again)["error"]["id"], id.as_str());
    let pin = ok(&reset(
        &home,
        Some(&url),
        &["reserve", "--kind", "auth-pin"],
        &[SIGNING_PASSWORD],
    ));
    assert_eq!(strings(&pin["stores"]), PIN_CHAINS);

    // The authority goes away: the list is read from the phone's store.
    served.stop();
    let list = ok(&reset(&home, Some(&url), &["list"], &[]));
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&id.as_str()));
    for r in list.as_array().unwrap() {
        assert_eq!(r["state"], "reserved");
        assert!(r["time_left_seconds"].as_u64().unwrap() > 23 * 3600);
    }
    // Anything that needs the authority says it is unavailable (W12), exit 12.
    let out = reset(&home, Some(&url), &["cancel", &id], &[]);
    assert_eq!(out.status.code(), Some(12));
    assert_eq!(json(&out)["error"]["kind"], "authority_unavailable");
    let out = reset(&home, Some(&url), &["list", "--refresh"], &[]);
    assert_eq!(out.status.code(), Some(12));
    // The in-process authority of the same home is another authority.
    let other = ok(&reset(&home, None, &["list"], &[]));
    assert!(other.as_array().unwrap().is_empty());
}

#[test]
fn the_demo_walks_a_reset_to_the_kiosk() {
    let out = mynakit(&["--json", "demo"], &[]);
    let steps = ok(&out);
    let titles: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    let lines = |needle: &str| -> Vec<String> {
        let step = steps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["title"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no step {needle:?} in {titles:?}"));
        strings(&step["lines"])
    };
    let front = lines("read the card front").join("\n");
    assert!(front.contains("birth_date at 3: 'O' → '0'"), "{front}");
    assert!(front.contains("R7"), "{front}");
    let reserved = lines("face check (R2)").join("\n");
    assert!(
        reserved.contains("passed") && reserved.contains("lawson"),
        "{reserved}"
    );
    let kiosk = lines("Kiosk at Seven-Eleven").join("\n");
    assert!(kiosk.contains("redeemed at seven_eleven"), "{kiosk}");
    assert!(kiosk.contains("new signing password: verified"), "{kiosk}");
    assert!(kiosk.contains("old one: wrong"), "{kiosk}");
    let lawson = lines("refused at Lawson").join("\n");
    assert!(
        lawson.contains("refused") && lawson.contains("R6"),
        "{lawson}"
    );
    assert!(
        !lawson.contains("lawson,") && !lawson.contains("lawson\n"),
        "{lawson}"
    );
}
