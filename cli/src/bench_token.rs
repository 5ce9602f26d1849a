//! `mynakit bench token`: what the face-check token costs the authority —
//! `TokenIssuer::mint` and `TokenIssuer::verify` (CWT in COSE_Sign1, ES256)
//! per operation — next to the bare ES256 signature and verification they
//! wrap, so the COSE/CBOR share is visible. A plain timing loop: rounds of
//! a fixed number of operations after a warm-up, best and median round.

use std::hint::black_box;
use std::time::Instant;

use clap::Args;
use mynakit_sandbox::reset::authority::{ISSUER, RESERVATION_AUDIENCE};
use mynakit_sandbox::reset::token::{es256_sign, es256_verify, generate_p256, sec1};
use mynakit_sandbox::reset::{FaceCheckClaims, TokenIssuer};
use serde::Serialize;

use crate::CmdResult;
use crate::failure::Failure;
use crate::output::Output;

/// Options of `bench token`.
#[derive(Debug, Args)]
pub struct TokenBenchArgs {
    /// Operations per round.
    #[arg(long, default_value_t = 200, value_name = "N")]
    per_round: u32,
    /// Rounds (all operations interleaved in each round).
    #[arg(long, default_value_t = 10, value_name = "N")]
    rounds: u32,
    /// Print Markdown table rows instead of text.
    #[arg(long)]
    markdown: bool,
}

/// One operation's cost.
#[derive(Debug, Serialize)]
struct Cost {
    operation: &'static str,
    best_us: f64,
    median_us: f64,
}

#[derive(Debug, Serialize)]
struct TokenCosts {
    token_bytes: usize,
    per_round: u32,
    rounds: u32,
    costs: Vec<Cost>,
}

/// Runs the benchmark.
pub fn run(args: &TokenBenchArgs, out: &Output) -> CmdResult {
    if !(1..=100_000).contains(&args.per_round) || !(1..=100).contains(&args.rounds) {
        return Err(Failure::Input(
            "--per-round must be 1 to 100000 and --rounds 1 to 100".into(),
        ));
    }
    let key = |e: mynakit_sandbox::reset::TokenError| Failure::Other(e.to_string());
    let issuer_key = generate_p256().map_err(key)?;
    let device = generate_p256().map_err(key)?;
    let issuer = TokenIssuer::new(ISSUER, issuer_key.clone());
    // Claims as the authority mints them (sandbox/src/reset/authority.rs).
    let claims = FaceCheckClaims {
        issuer: issuer.issuer().to_owned(),
        audience: RESERVATION_AUDIENCE.to_owned(),
        issued_at: 1_800_000_000,
        expires_at: 1_800_000_300,
        cti: vec![0x5A; 16],
        device_key: sec1(device.verifying_key()),
        card: vec![0xC3; 32],
    };
    let token = issuer.mint(&claims).map_err(key)?;
    // The loops below must measure working operations.
    if issuer.verify(&token).map_err(key)? != claims {
        return Err(Failure::Other(
            "the token's claims did not round-trip".into(),
        ));
    }
    let message = vec![0x42u8; 200];
    let signature = es256_sign(&issuer_key, &message);
    let public = issuer.public_key();
    if !es256_verify(&public, &message, &signature) {
        return Err(Failure::Other("ES256 did not verify".into()));
    }

    type Op<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let ops: [Op<'_>; 4] = [
        (
            "mint (TokenIssuer::mint)",
            Box::new(|| {
                black_box(issuer.mint(black_box(&claims)).is_ok());
            }),
        ),
        (
            "verify (TokenIssuer::verify)",
            Box::new(|| {
                black_box(issuer.verify(black_box(&token)).is_ok());
            }),
        ),
        (
            "bare ES256 sign, 200-byte message",
            Box::new(|| {
                black_box(es256_sign(&issuer_key, black_box(&message)));
            }),
        ),
        (
            "bare ES256 verify (SEC1 key parsed each time)",
            Box::new(|| {
                black_box(es256_verify(&public, black_box(&message), &signature));
            }),
        ),
    ];
    // Warm-up: one round's worth of each.
    for (_, op) in &ops {
        for _ in 0..args.per_round {
            op();
        }
    }
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); ops.len()];
    for _ in 0..args.rounds {
        for ((_, op), times) in ops.iter().zip(rounds.iter_mut()) {
            let began = Instant::now();
            for _ in 0..args.per_round {
                op();
            }
            times.push(began.elapsed().as_secs_f64() * 1e6 / f64::from(args.per_round));
        }
    }
    let costs = ops
        .iter()
        .zip(rounds.iter_mut())
        .map(|((name, _), times)| {
            times.sort_by(f64::total_cmp);
            Cost {
                operation: name,
                best_us: times.first().copied().unwrap_or(0.0),
                median_us: times.get(times.len() / 2).copied().unwrap_or(0.0),
            }
        })
        .collect();
    let result = TokenCosts {
        token_bytes: token.len(),
        per_round: args.per_round,
        rounds: args.rounds,
        costs,
    };
    if args.markdown && !out.is_json() {
        for c in &result.costs {
            say!(
                "| {} | {:.1} / {:.1} |",
                c.operation,
                c.best_us,
                c.median_us
            );
        }
        return Ok(());
    }
    out.result(&result, || {
        let mut lines = vec![format!(
            "token {} bytes; {} rounds of {} operations, µs per operation (best / median round):",
            result.token_bytes, result.rounds, result.per_round
        )];
        for c in &result.costs {
            lines.push(format!(
                "{:<48} {:>8.1} / {:>8.1}",
                c.operation, c.best_us, c.median_us
            ));
        }
        lines.join("\n")
    });
    Ok(())
}
