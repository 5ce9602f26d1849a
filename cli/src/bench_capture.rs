//! `mynakit bench capture`: where the authority's time goes in one capture
//! (`POST …/captures`), the slowest request of the reset flow: each piece
//! the reference authority runs for a passing capture, timed alone in this
//! process on the sample card and sandbox-camera frames. A plain timing
//! loop: rounds of a fixed number of operations after a warm-up, best and
//! median round.

use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;
use mynakit_core::layout::{Application, kenmen};
use mynakit_core::{CardFace, CvCertificate, Picture};
use mynakit_sandbox::VirtualCard;
use mynakit_sandbox::fixtures::cv_issuer_keys;
use mynakit_sandbox::reset::authority::{ISSUER, RESERVATION_AUDIENCE};
use mynakit_sandbox::reset::token::{es256_sign, es256_verify, generate_p256, sec1};
use mynakit_sandbox::reset::{
    CameraSubject, CaptureRequest, FaceCheckClaims, FaceVerdict, FaceVerifier, LivenessAction,
    LivenessChallenge, ReferenceFaceVerifier, SandboxCamera, TokenIssuer, capture_message,
};
use serde::Serialize;

use crate::CmdResult;
use crate::failure::Failure;
use crate::output::Output;

/// Options of `bench capture`.
#[derive(Debug, Args)]
pub struct CaptureBenchArgs {
    /// Operations per round.
    #[arg(long, default_value_t = 10, value_name = "N")]
    per_round: u32,
    /// Rounds (all pieces interleaved in each round).
    #[arg(long, default_value_t = 10, value_name = "N")]
    rounds: u32,
    /// Print Markdown table rows instead of text.
    #[arg(long)]
    markdown: bool,
}

/// One piece's cost.
#[derive(Debug, Serialize)]
struct Cost {
    piece: &'static str,
    best_ms: f64,
    median_ms: f64,
}

#[derive(Debug, Serialize)]
struct CaptureCosts {
    frames: usize,
    body_bytes: usize,
    per_round: u32,
    rounds: u32,
    pieces: Vec<Cost>,
}

fn other(e: impl std::fmt::Display) -> Failure {
    Failure::Other(e.to_string())
}

/// Runs the benchmark.
pub fn run(args: &CaptureBenchArgs, out: &Output) -> CmdResult {
    if !(1..=1000).contains(&args.per_round) || !(1..=100).contains(&args.rounds) {
        return Err(Failure::Input(
            "--per-round must be 1 to 1000 and --rounds 1 to 100".into(),
        ));
    }
    let card = VirtualCard::sample();
    let file = |id| {
        card.ef_content(Application::Kenmen, id)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| other("the sample card lacks a Kenmen file"))
    };
    let face_record = file(kenmen::FACE)?;
    let cv_certificate = file(kenmen::CV_CERTIFICATE)?;
    let issuers = cv_issuer_keys();
    let photo_jp2 = CardFace::parse(&face_record)
        .map_err(other)?
        .photo_jp2
        .clone();
    let photo = Picture::from_jpeg2000(&photo_jp2).map_err(other)?;

    // A session as the authority opens one (three actions, 300 s cap) and
    // the frames the sandbox camera takes of the holder, two per action.
    let opened: DateTime<Utc> = DateTime::UNIX_EPOCH + TimeDelta::days(20_000);
    let challenge = LivenessChallenge {
        actions: vec![
            LivenessAction::TurnLeft,
            LivenessAction::Nod,
            LivenessAction::TurnRight,
        ],
        opened_at: opened,
        ends_by: opened + TimeDelta::seconds(300),
        max_frames: 32,
    };
    let frames =
        SandboxCamera::new(CameraSubject::Holder, 1).capture(&photo, &challenge.actions, 2, opened);
    let verifier = ReferenceFaceVerifier::default();
    if verifier.verify(&photo, &challenge, &frames) != FaceVerdict::Pass {
        return Err(other("the holder's frames did not pass"));
    }
    let device = generate_p256().map_err(other)?;
    let device_key = sec1(device.verifying_key());
    let session_id = "0123456789abcdef0123456789abcdef";
    let nonce = [0x6Eu8; 32];
    let message = capture_message(session_id, &nonce, &face_record, &frames);
    let request = CaptureRequest {
        session_id: session_id.to_owned(),
        face_record: face_record.clone(),
        cv_certificate: cv_certificate.clone(),
        frames: frames.clone(),
        device_signature: es256_sign(&device, &message),
    };
    let body = serde_json::to_vec(&request).map_err(other)?;
    let issuer = TokenIssuer::new(ISSUER, generate_p256().map_err(other)?);
    let claims = FaceCheckClaims {
        issuer: ISSUER.to_owned(),
        audience: RESERVATION_AUDIENCE.to_owned(),
        issued_at: opened.timestamp(),
        expires_at: opened.timestamp() + 300,
        cti: vec![0x5A; 16],
        device_key: device_key.clone(),
        card: vec![0xC3; 32],
    };

    type Piece<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let pieces: [Piece<'_>; 6] = [
        (
            "parse the JSON body (frames in hex)",
            Box::new(|| {
                black_box(serde_json::from_slice::<CaptureRequest>(black_box(&body)).is_ok());
            }),
        ),
        (
            "device signature (ES256 verify over the capture message)",
            Box::new(|| {
                let message = capture_message(session_id, &nonce, &face_record, &frames);
                black_box(es256_verify(
                    &device_key,
                    &message,
                    &request.device_signature,
                ));
            }),
        ),
        (
            "face record: parse, CV certificate and issuer signature",
            Box::new(|| {
                let ok = CardFace::parse(&face_record).ok().is_some_and(|face| {
                    CvCertificate::parse(&cv_certificate)
                        .is_ok_and(|cv| face.verify_issuer_signature(&cv, &issuers).is_ok())
                });
                black_box(ok);
            }),
        ),
        (
            "chip photo: JPEG 2000 decode",
            Box::new(|| {
                black_box(Picture::from_jpeg2000(black_box(&photo_jp2)).is_ok());
            }),
        ),
        (
            "reference face verifier (NCC search + liveness)",
            Box::new(|| {
                black_box(verifier.verify(&photo, &challenge, black_box(&frames)));
            }),
        ),
        (
            "token mint",
            Box::new(|| {
                black_box(issuer.mint(black_box(&claims)).is_ok());
            }),
        ),
    ];
    for (_, piece) in &pieces {
        piece();
    }
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); pieces.len()];
    for _ in 0..args.rounds {
        for ((_, piece), times) in pieces.iter().zip(rounds.iter_mut()) {
            let began = Instant::now();
            for _ in 0..args.per_round {
                piece();
            }
            times.push(began.elapsed().as_secs_f64() * 1e3 / f64::from(args.per_round));
        }
    }
    let result = CaptureCosts {
        frames: frames.len(),
        body_bytes: body.len(),
        per_round: args.per_round,
        rounds: args.rounds,
        pieces: pieces
            .iter()
            .zip(rounds.iter_mut())
            .map(|((name, _), times)| {
                times.sort_by(f64::total_cmp);
                Cost {
                    piece: name,
                    best_ms: times.first().copied().unwrap_or(0.0),
                    median_ms: times.get(times.len() / 2).copied().unwrap_or(0.0),
                }
            })
            .collect(),
    };
    if args.markdown && !out.is_json() {
        for c in &result.pieces {
            say!("| {} | {:.3} / {:.3} |", c.piece, c.best_ms, c.median_ms);
        }
        return Ok(());
    }
    out.result(&result, || {
        let mut lines = vec![format!(
            "{} frames, {}-byte body; {} rounds of {}, ms per operation (best / median round):",
            result.frames, result.body_bytes, result.rounds, result.per_round
        )];
        for c in &result.pieces {
            lines.push(format!(
                "{:<58} {:>8.3} / {:>8.3}",
                c.piece, c.best_ms, c.median_ms
            ));
        }
        lines.join("\n")
    });
    Ok(())
}
