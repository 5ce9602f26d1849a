//! The real-reader side of `mynakit`: `readers` and `--reader pcsc` in a
//! build without PC/SC, `sandbox card --vpcd` against a stand-in for vpcd
//! (SIGTERM, transcript), `sandbox transcript-stats` and `bench`.
//! (With pcscd itself: `scripts/suites/pcsc.sh`.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn mynakit() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mynakit"));
    cmd.env_remove("MYNAKIT_PIN")
        .env_remove("MYNAKIT_SIGNING_PASSWORD")
        .env_remove("MYNAKIT_SECURITY_CODE");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("mynakit runs")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[cfg(not(feature = "pcsc"))]
#[test]
fn a_build_without_pcsc_says_so_with_exit_9() {
    for args in [
        &["readers", "--json"][..],
        &["--reader", "pcsc", "card", "status", "--json"],
    ] {
        let out = run(mynakit().args(args));
        assert_eq!(out.status.code(), Some(9), "{args:?}");
        let v = json(&out);
        assert_eq!(v["error"]["kind"], "not_supported");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--features pcsc")
        );
    }
}

#[test]
fn an_unknown_reader_is_a_usage_error() {
    let out = run(mynakit().args(["--reader", "nfc", "card", "status", "--json"]));
    assert_eq!(out.status.code(), Some(8));
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pcsc:NAME")
    );
}

/// Reads one vpcd frame.
fn receive(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).expect("a frame header");
    let mut payload = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut payload).expect("a frame payload");
    payload
}

fn send(stream: &mut TcpStream, payload: &[u8]) {
    let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    stream.write_all(&frame).expect("frame sent");
}

#[test]
fn the_served_card_answers_vpcd_and_leaves_cleanly_on_sigterm() {
    let vpcd = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = vpcd.local_addr().unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("mynakit-vpcd-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let transcript = dir.join("card.txt");
    let mut card = mynakit()
        .args([
            "sandbox",
            "card",
            "--vpcd",
            &addr,
            "--json",
            "--sandbox-pin-tries",
            "2",
        ])
        .arg("--transcript")
        .arg(&transcript)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mynakit starts");
    let (mut stream, _) = vpcd.accept().expect("the card connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    send(&mut stream, &[1]);
    send(&mut stream, &[4]);
    assert_eq!(
        receive(&mut stream),
        [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14]
    );
    send(
        &mut stream,
        &[
            0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00,
            0x01,
        ],
    );
    assert_eq!(receive(&mut stream), [0x90, 0x00]);
    // --sandbox-pin-tries applies to the served card: a wrong PIN leaves 1.
    send(
        &mut stream,
        &[0x00, 0x20, 0x00, 0x98, 0x04, b'9', b'8', b'7', b'6'],
    );
    assert_eq!(receive(&mut stream), [0x63, 0xC1]);

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &card.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no answer after SIGTERM: {rest:?}");
    let exit = card.wait().expect("mynakit exits");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(exit.success(), "{exit:?}");
    let mut stdout = String::new();
    card.stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["commands"], 2);
    assert_eq!(v["ended"], "stopped by a signal");

    let text = std::fs::read_to_string(&transcript).unwrap();
    // Header only: neither the PIN nor its length byte reaches the file.
    let mask = "**".repeat(1 + mynakit_core::SECRET_SLOT);
    assert!(text.contains(&format!("> 00200098{mask} < 63C1")), "{text}");
    assert!(
        !text.contains("39383736"),
        "the PIN reached the transcript: {text}"
    );

    let stats = run(mynakit()
        .args(["sandbox", "transcript-stats", "--json"])
        .arg(&transcript));
    assert!(stats.status.success());
    let v = json(&stats);
    assert_eq!(v["apdus"], 2);
    // The VERIFY counts as header + the fixed secret slot, whatever the PIN.
    assert_eq!(v["bytes_sent"], 15 + 4 + 1 + mynakit_core::SECRET_SLOT);
    assert_eq!(v["bytes_received"], 4);
    assert!(v["air_ms_106"].as_f64().unwrap() > v["air_ms_424"].as_f64().unwrap());
    let skipped = run(mynakit()
        .args(["sandbox", "transcript-stats", "--skip", "1", "--json"])
        .arg(&transcript));
    assert_eq!(json(&skipped)["apdus"], 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn serving_without_vpcd_fails_with_a_clear_message() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let out = run(mynakit().args(["sandbox", "card", "--vpcd", &addr, "--connect-timeout", "1"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not reach vpcd"), "{stderr}");
}

#[test]
fn bench_counts_each_operation_from_a_fresh_session() {
    let out = run(mynakit()
        .args(["bench", "--json"])
        .env("MYNAKIT_PIN", "1234")
        .env("MYNAKIT_SIGNING_PASSWORD", "SANDBOX1"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let apdus: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["apdus"].as_u64().unwrap())
        .collect();
    // SELECT + 1 READ; SELECT, counter, VERIFY, READ; SELECT + 2 counters;
    // SELECT, counter, VERIFY, SIGN (twice).
    assert_eq!(apdus, [2, 4, 3, 4, 4]);
    assert!(v[0]["air_ms_106"].as_f64().unwrap() > 100.0, "{}", v[0]);
    assert!(v[0]["card_side_apdus"].is_null());
}
