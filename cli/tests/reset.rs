//! `mynakit reset …` (issue 8): the real binary with a temporary `--home`,
//! so successive commands behave like one phone.

use std::process::{Command, Output};

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
