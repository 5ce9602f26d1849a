//! `mynakit demo`: everything the core does, step by step, on the sandbox
//! virtual card, with the round trips each step took.

use chrono::Utc;
use mynakit_core::CheckCodeB;
use mynakit_core::TranscriptStats;
use mynakit_core::japan_date;
use mynakit_core::{AuthPin, KenhojoPin, LastTry, SigningPassword};
use mynakit_core::{CardChannel, CardError};
use mynakit_core::{CertificateRole, TrustAnchors};
use mynakit_core::{FreeCertificate, JpkiKey};
use mynakit_sandbox::{
    CardSecrets, LinkSwitches, Removal, RemovalPoint, Sandbox, VirtualTransport,
};
use serde::Serialize;

use crate::CmdResult;
use crate::failure::Failure;
use crate::output::Output;

/// One step of the walk-through.
#[derive(Debug, Serialize)]
struct Step {
    title: String,
    lines: Vec<String>,
    round_trips: usize,
    bytes: usize,
    budget: Option<usize>,
}

struct Demo<'a> {
    out: &'a Output,
    steps: Vec<Step>,
}

impl Demo<'_> {
    fn record(
        &mut self,
        title: &str,
        stats: TranscriptStats,
        budget: Option<usize>,
        lines: Vec<String>,
    ) -> Result<(), Failure> {
        let step = Step {
            title: title.into(),
            lines,
            round_trips: stats.round_trips,
            bytes: stats.bytes_sent + stats.bytes_received,
            budget,
        };
        if !self.out.is_json() {
            let budget_note = step
                .budget
                .map(|b| format!(" (budget ≤ {b})"))
                .unwrap_or_default();
            say!("\n{}. {}", self.steps.len() + 1, step.title);
            for line in &step.lines {
                say!("   {line}");
            }
            say!(
                "   → {} round trips, {} bytes{budget_note}",
                step.round_trips,
                step.bytes
            );
        }
        let over = step.budget.is_some_and(|b| step.round_trips > b);
        self.steps.push(step);
        if over {
            Err(Failure::Other(format!(
                "step {title:?} exceeded its round-trip budget"
            )))
        } else {
            Ok(())
        }
    }
}

fn fresh(sandbox: &Sandbox, switches: LinkSwitches) -> CardChannel<VirtualTransport> {
    CardChannel::new(sandbox.transport(switches))
}

/// Runs the demo.
pub fn run(out: &Output) -> CmdResult {
    let mut demo = Demo {
        out,
        steps: Vec::new(),
    };
    pollster::block_on(walk(&mut demo))?;
    out.result(&demo.steps, || {
        let total: usize = demo.steps.iter().map(|s| s.round_trips).sum();
        format!(
            "\nDone: {} steps, {total} round trips in all.\nPeers need 9–14 round trips to read the authentication certificate and 4–49 to verify and sign once (card-protocol.md).",
            demo.steps.len()
        )
    });
    Ok(())
}

async fn walk(demo: &mut Demo<'_>) -> CmdResult {
    let sandbox = Sandbox::new();
    let secrets = CardSecrets::default();
    let anchors = sandbox.trust_anchors();
    if !demo.out.is_json() {
        say!(
            "MynaKit demo on the sandbox virtual card (a software My Number card; test keys only)."
        );
    }

    // 1. Who is this card?
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    let token = channel.jpki().token_kind().await?;
    let presence = channel.jpki().certificate_presence().await?;
    demo.record(
        "Identify the token (EF 0006) and its certificates (EF 0008)",
        channel.transcript().stats(),
        None,
        vec![
            format!("token: {token:?}"),
            format!(
                "authentication certificate: {}, signing certificate: {}",
                presence.authentication, presence.signing
            ),
        ],
    )?;

    // 2. The authentication certificate, from a fresh session.
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    let auth = channel
        .jpki()
        .read_certificate(FreeCertificate::Authentication)
        .await?;
    let state = auth.expiry_state(Utc::now());
    demo.record(
        "Read the user-authentication certificate (SELECT + one extended READ BINARY by SFI)",
        channel.transcript().stats(),
        Some(2),
        vec![
            format!("subject: {}", auth.subject()),
            format!(
                "valid {} – {} (Japan time)",
                japan_date(auth.not_before()),
                japan_date(auth.not_after())
            ),
            format!(
                "expiry state now: {state:?} (insurer flag {})",
                state.insurer_flag()
            ),
        ],
    )?;

    // 3. Trust comes from pinned anchors, not from the card itself.
    let mark = channel.transcript().mark();
    let auth_ca = channel
        .jpki()
        .read_certificate(FreeCertificate::AuthenticationCa)
        .await?;
    let trusted = anchors
        .verify(&auth, CertificateRole::Authentication, &[&auth_ca])
        .map_err(|e| Failure::Verification(e.to_string()))?;
    let production =
        TrustAnchors::production().verify(&auth, CertificateRole::Authentication, &[&auth_ca]);
    demo.record(
        "Check the chain against pinned anchors",
        channel.transcript().stats_since(mark),
        None,
        vec![
            format!("sandbox anchor: trusted ({})", trusted.subject),
            format!(
                "production anchors: {}",
                production.map_or_else(|e| format!("rejected — {e}"), |_| "trusted?!".into())
            ),
            "the CA certificate read from the same card proves nothing on its own".into(),
        ],
    )?;

    // 4. PIN tries, read without spending one.
    let mark = channel.transcript().mark();
    let auth_tries = channel.jpki().pin_status(JpkiKey::Authentication).await?;
    let signing_tries = channel.jpki().pin_status(JpkiKey::Signing).await?;
    demo.record(
        "Read the PIN counters (bare VERIFY: no try is spent)",
        channel.transcript().stats_since(mark),
        None,
        vec![
            format!("auth PIN: {auth_tries}"),
            format!("signing password: {signing_tries}"),
        ],
    )?;

    // 5. Log in: tries check, VERIFY, sign — from a fresh session.
    let pin = AuthPin::new(&secrets.auth_pin).map_err(|e| Failure::Input(e.to_string()))?;
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    let challenge = b"portal login challenge 7f3a";
    let signature = channel
        .jpki()
        .sign_with_auth_key(&pin, challenge, LastTry::Refuse)
        .await?;
    let ok = auth.verifies_sha256_signature(challenge, &signature);
    demo.record(
        "Sign a login challenge with the authentication key (tries check + VERIFY + sign)",
        channel.transcript().stats(),
        Some(4),
        vec![format!(
            "{}-byte signature; verifies with the certificate: {ok}",
            signature.len()
        )],
    )?;
    if !ok {
        return Err(Failure::Verification(
            "the login signature does not verify".into(),
        ));
    }

    // 6. The guard rails, on a card of its own.
    let guarded = Sandbox::new();
    let mut channel = fresh(&guarded, LinkSwitches::default());
    let mut lines = Vec::new();
    for wrong in ["0000", "1111"] {
        let result = channel
            .jpki()
            .verify_auth_pin(
                &AuthPin::new(wrong).map_err(|e| Failure::Input(e.to_string()))?,
                LastTry::Refuse,
            )
            .await;
        lines.push(format!("wrong PIN → {}", describe(result)));
    }
    let refused = channel.jpki().verify_auth_pin(&pin, LastTry::Refuse).await;
    lines.push(format!(
        "right PIN with one try left, not confirmed → {} (nothing sent)",
        describe(refused)
    ));
    let allowed = channel.jpki().verify_auth_pin(&pin, LastTry::Allow).await;
    lines.push(format!(
        "right PIN, user confirmed the last try → {}",
        describe(allowed)
    ));
    lines.push(format!(
        "counter now: {}",
        channel.jpki().pin_status(JpkiKey::Authentication).await?
    ));
    demo.record(
        "PIN guard rails: wrong PIN, the last try, recovery",
        channel.transcript().stats(),
        None,
        lines,
    )?;

    // 7. The signing certificate and its personal attributes.
    let password = SigningPassword::new(&secrets.signing_password)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    let signing = channel
        .jpki()
        .read_signing_certificate(&password, LastTry::Refuse)
        .await?;
    let attrs = signing
        .personal_attributes()
        .map_err(|e| Failure::Verification(e.to_string()))?
        .unwrap_or_default();
    let document = b"application form v1";
    let doc_signature = channel
        .jpki()
        .sign_with_signing_key(&password, document, LastTry::Refuse)
        .await?;
    demo.record(
        "Signing password → signing certificate, then sign a document (one VERIFY for both)",
        channel.transcript().stats(),
        None,
        vec![
            format!(
                "name {} / birth {} / sex {} / address {}",
                attrs.name, attrs.birth_date_code, attrs.sex_code, attrs.address
            ),
            format!(
                "document signature verifies: {}",
                signing.verifies_sha256_signature(document, &doc_signature)
            ),
        ],
    )?;

    // 8. Kenhojo: the basic four.
    let kenhojo_pin =
        KenhojoPin::new(&secrets.kenhojo_pin).map_err(|e| Failure::Input(e.to_string()))?;
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    let info = channel
        .kenhojo()
        .read_basic_info(&kenhojo_pin, LastTry::Refuse)
        .await?;
    demo.record(
        "Kenhojo: name, address, birth date, sex (the My Number only by its own call)",
        channel.transcript().stats(),
        None,
        vec![format!(
            "{} / {} / {} / {:?}",
            info.name,
            info.address,
            info.birth_date
                .map_or_else(|| "unknown".into(), |d| d.to_string()),
            info.sex
        )],
    )?;

    // 9. Kenmen: 照合番号B from the printed card front, then the face record.
    let holder = sandbox.card().holder().clone();
    let front_birth = "昭和60年6月15日";
    let front_expiry = format!("{}年まで有効", holder.card_expiry.format("%Y"));
    let code = CheckCodeB::from_card_front(front_birth, &front_expiry, &holder.security_code)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let blank =
        CheckCodeB::from_card_front("昭和  年  月  日", &front_expiry, &holder.security_code);
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    let face = channel.kenmen().read_face(&code, LastTry::Refuse).await?;
    demo.record(
        "Kenmen: 照合番号B from the card front, then the face record",
        channel.transcript().stats(),
        None,
        vec![
            format!("card front: born {front_birth}, {front_expiry}, security code ****"),
            format!(
                "face photo: {} bytes of JPEG 2000; born {}, {:?}, card valid until {}",
                face.photo_jp2.len(),
                face.birth_date
                    .map_or_else(|| "unknown".into(), |d| d.to_string()),
                face.sex,
                face.card_expiry
            ),
            format!(
                "a blank birth date on the front → {}",
                blank
                    .err()
                    .map_or_else(|| "accepted?!".into(), |e| e.to_string())
            ),
        ],
    )?;

    // 10. A phone without extended length.
    let short = LinkSwitches {
        extended_length: false,
        max_transceive_length: 258,
        ..LinkSwitches::default()
    };
    let mut channel = fresh(&sandbox, short);
    let cert = channel
        .jpki()
        .read_certificate(FreeCertificate::Authentication)
        .await?;
    let size = cert.der().len();
    demo.record(
        "The same certificate over a short-APDU link",
        channel.transcript().stats(),
        Some(1 + size.div_ceil(256)),
        vec![format!("{size} bytes in 256-byte READ BINARY chunks")],
    )?;

    // 11. The card slips away while VERIFY is in flight.
    let slipping = Sandbox::new();
    let removal = LinkSwitches {
        remove_at: Some(Removal {
            exchange: 3,
            point: RemovalPoint::AfterCard,
        }),
        ..LinkSwitches::default()
    };
    let mut channel = fresh(&slipping, removal);
    let lost = channel
        .jpki()
        .verify_auth_pin(
            &AuthPin::new("9999").map_err(|e| Failure::Input(e.to_string()))?,
            LastTry::Refuse,
        )
        .await;
    let stats = channel.transcript().stats();
    let transport = slipping.transport(LinkSwitches::default());
    transport.reinsert();
    let mut again = CardChannel::new(transport);
    let after = again.jpki().pin_status(JpkiKey::Authentication).await?;
    demo.record(
        "The card is pulled away while a (wrong) VERIFY is in flight",
        stats,
        None,
        vec![
            format!("→ {}", describe(lost)),
            "the VERIFY is never resent".into(),
            format!("card back in the field, counter read without spending a try: {after}"),
        ],
    )?;

    reset_walk(demo).await?;
    wallet_walk(demo).await?;
    portal_walk(demo).await
}

/// The PIN-reset app (issue 8) on a card of its own, an in-process sandbox
/// authority and the sandbox camera: the card front, one tap, the face
/// check, the reservation, the kiosk — and a 4-digit PIN refused at Lawson.
async fn reset_walk(demo: &mut Demo<'_>) -> CmdResult {
    use std::sync::Arc;

    use mynakit_core::reset::{
        FrontReading, OtherSecret, ResetClient, ResetError, ResetKind, StoreChain,
    };
    use mynakit_core::{AuthorityLink, IdempotencyKey, SoftwareSecureArea, Store, SystemClock};
    use mynakit_sandbox::reset::{
        CameraSubject, InProcessLink, Kiosk, KioskError, ResetAuthority, SandboxCamera,
        SandboxClock,
    };

    use crate::reset_cmd::{front_human, reservation_lines, reset_failure, snake};

    let other = |e: String| Failure::Other(e);
    let failed = |e: ResetError| reset_failure(&e);
    let sandbox = Sandbox::new();
    let authority = Arc::new(
        ResetAuthority::in_memory(Arc::new(SandboxClock::new()))
            .map_err(|e| other(e.to_string()))?,
    );
    let link: Arc<dyn AuthorityLink> = Arc::new(InProcessLink::new(authority));
    let client = ResetClient::new(
        Arc::clone(&link),
        Arc::new(Store::open_in_memory().map_err(|e| other(e.to_string()))?),
        Arc::new(SoftwareSecureArea::in_memory()),
        Arc::new(SystemClock),
        "sandbox:demo",
    )
    .map_err(failed)?;

    // 12. The card front, as the camera's OCR reads it (R8), misread twice.
    let holder = sandbox.card().holder().clone();
    let front_text = format!(
        "昭和6O年 6月15日生\n{}まで有効\nセキュリティコード {}",
        holder
            .card_expiry
            .format("%Y年%-m月%-d日")
            .to_string()
            .replacen('0', "O", 1),
        holder.security_code
    );
    let reading = FrontReading::read(&front_text);
    let front = reading
        .card_front()
        .map_err(|e| Failure::Input(e.to_string()))?;
    let blank = FrontReading::read("生年月日 不詳\n2035年6月15日まで有効\nセキュリティコード 4821");
    let mut lines: Vec<String> = front_human(&reading, Some(&front))
        .lines()
        .map(str::to_owned)
        .collect();
    lines.push(format!(
        "a front printing 生年月日 不詳 → {}",
        blank
            .card_front()
            .err()
            .map_or_else(|| "accepted?!".into(), |e| e.to_string())
    ));
    demo.record(
        "Reset app: read the card front (R8: misreads corrected and listed; R7)",
        TranscriptStats::default(),
        None,
        lines,
    )?;

    // 13. One tap: the face record, the physical-card check, the other
    // secret verified and the challenge signed with its key (R4, R10).
    let pin = OtherSecret::AuthPin(
        AuthPin::new(&CardSecrets::default().auth_pin)
            .map_err(|e| Failure::Input(e.to_string()))?,
    );
    let mut flow = client
        .begin(ResetKind::SigningPassword)
        .await
        .map_err(failed)?;
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    client
        .tap(
            &mut flow,
            &mut channel,
            front.check_code(),
            &pin,
            LastTry::Refuse,
        )
        .await
        .map_err(failed)?;
    let photo = match flow.chip_photo() {
        Some(Ok(photo)) => photo,
        _ => {
            return Err(Failure::Verification(
                "the chip photo does not decode".into(),
            ));
        }
    };
    demo.record(
        "Reset app: one tap for the signing password (face record by 照合番号B, PIN, signature)",
        channel.transcript().stats(),
        None,
        vec![
            format!(
                "chip photo {}×{} decoded for \"is this you?\"",
                photo.width(),
                photo.height()
            ),
            "the 4-digit PIN proves the holder (R4); the card signed the authority's challenge"
                .into(),
        ],
    )?;

    // 14. The face check (R2): the authority's actions, the camera's frames.
    let prompt = client.open_face_check(&mut flow).await.map_err(failed)?;
    let frames = SandboxCamera::new(CameraSubject::Holder, 8).capture(
        &photo,
        &prompt.actions,
        2,
        client.now(),
    );
    let frame_count = frames.len();
    let result = client
        .submit_capture(&mut flow, frames)
        .await
        .map_err(failed)?;
    if !result.passed {
        return Err(failed(ResetError::FaceCheckFailed {
            attempts_left: result.attempts_left,
        }));
    }
    let reserved = client.reserve(&mut flow).await.map_err(failed)?;
    let mut lines = vec![format!(
        "face check: {} actions asked ({}), {frame_count} frames → passed (the phone never sees a score)",
        prompt.actions.len(),
        prompt
            .actions
            .iter()
            .map(snake)
            .collect::<Vec<_>>()
            .join(", ")
    )];
    lines.extend(reservation_lines(&reserved));
    demo.record(
        "Reset app: face check (R2), then the reservation (R1, R5: 24 h; R6: kiosks)",
        TranscriptStats::default(),
        None,
        lines,
    )?;

    // 15. The kiosk at Seven-Eleven redeems it; the new password verifies.
    let key = || IdempotencyKey::generate().map_err(|e| other(e.to_string()));
    let new_password = "NEWPASS9";
    // The kiosk holds the card for the whole redemption (no lock across
    // an await): a copy of the card, put back afterwards.
    let mut card = sandbox.card().clone();
    let redeemed = Kiosk::new(Arc::clone(&link), StoreChain::SevenEleven)
        .redeem(
            &mut card,
            ResetKind::SigningPassword,
            &CardSecrets::default().auth_pin,
            new_password,
            &key()?,
        )
        .await
        .map_err(|e| other(e.to_string()))?;
    *sandbox.card() = card;
    let old_password = SigningPassword::new(&CardSecrets::default().signing_password)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let old = describe(
        fresh(&sandbox, LinkSwitches::default())
            .jpki()
            .verify_signing_password(&old_password, LastTry::Refuse)
            .await,
    );
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    let password = SigningPassword::new(new_password).map_err(|e| Failure::Input(e.to_string()))?;
    channel
        .jpki()
        .verify_signing_password(&password, LastTry::Refuse)
        .await?;
    demo.record(
        "Kiosk at Seven-Eleven: the reservation redeemed, the new signing password verifies",
        channel.transcript().stats(),
        None,
        vec![
            format!(
                "reservation {}: {} at seven_eleven",
                redeemed.id,
                snake(&redeemed.state)
            ),
            "VERIFY with the new signing password: verified".into(),
            format!("VERIFY with the old one: {old}"),
        ],
    )?;

    // 16. A 4-digit PIN reservation (R3: no face check) is refused at Lawson (R6).
    let password = OtherSecret::SigningPassword(password);
    let mut flow = client.begin(ResetKind::AuthPin).await.map_err(failed)?;
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    client
        .tap(
            &mut flow,
            &mut channel,
            front.check_code(),
            &password,
            LastTry::Refuse,
        )
        .await
        .map_err(failed)?;
    let pin_reserved = client.reserve(&mut flow).await.map_err(failed)?;
    let mut card = sandbox.card().clone();
    let lawson = Kiosk::new(Arc::clone(&link), StoreChain::Lawson)
        .redeem(&mut card, ResetKind::AuthPin, new_password, "5678", &key()?)
        .await;
    *sandbox.card() = card;
    let refused = match lawson {
        Err(KioskError::Authority(refusal)) => refusal.to_string(),
        Err(e) => return Err(other(format!("the Lawson kiosk failed otherwise: {e}"))),
        Ok(_) => return Err(other("a Lawson kiosk reset a 4-digit PIN (R6)".into())),
    };
    let mut lines = reservation_lines(&pin_reserved);
    lines.push(format!("at a Lawson kiosk → refused: {refused}"));
    demo.record(
        "Reset app: a 4-digit PIN reservation (R3: one tap, no face check), refused at Lawson (R6)",
        channel.transcript().stats(),
        None,
        lines,
    )?;
    Ok(())
}

fn describe(result: Result<(), CardError>) -> String {
    match result {
        Ok(()) => "verified".into(),
        Err(e) => e.to_string(),
    }
}

/// The card-substitute record (issue 9) on a card of its own and an
/// in-process sandbox issuer sharing one sandbox clock with the phone:
/// apply, present, verify; a month passes and the record is re-issued
/// (W6(1)); the phone is reported lost and a verifier sees the suspension
/// (W9) before the phone does; recovered, re-issued (W6(4)), valid again.
async fn wallet_walk(demo: &mut Demo<'_>) -> CmdResult {
    use std::sync::Arc;

    use chrono::TimeDelta;
    use mynakit_core::wallet::mdoc::ElementId;
    use mynakit_core::wallet::verifier::{StatusCheck, Verifier};
    use mynakit_core::wallet::{WalletClient, WalletError};
    use mynakit_core::{
        AuthorityLink, Clock, IdempotencyKey, KenhojoPin, SigningPassword, SoftwareSecureArea,
        Store, TranscriptStats, UserAuthenticator,
    };
    use mynakit_sandbox::reset::SandboxClock;
    use mynakit_sandbox::wallet::{DEFAULT_BASE_URL, WalletIssuer, WalletLink};

    use crate::wallet_cmd::{fresh_transcript, jst, wallet_failure};

    /// The demo's holder approves each use of the device key (W10); a
    /// phone would show its biometric prompt here.
    struct DemoApproval;
    impl UserAuthenticator for DemoApproval {
        fn authenticate(&self, _alias: &str) -> Result<(), mynakit_core::SecureAreaError> {
            Ok(())
        }
    }

    let other = |e: String| Failure::Other(e);
    let failed = |e: WalletError| wallet_failure(&e);
    let sandbox = Sandbox::new();
    let sandbox_clock = Arc::new(SandboxClock::new());
    let clock: Arc<dyn Clock> = sandbox_clock.clone();
    let issuer = Arc::new(
        WalletIssuer::in_memory(Arc::clone(&clock), DEFAULT_BASE_URL)
            .map_err(|e| other(e.to_string()))?,
    );
    let link: Arc<dyn AuthorityLink> = Arc::new(WalletLink::new(Arc::clone(&issuer)));
    let client = WalletClient::new(
        link,
        Arc::new(Store::open_in_memory().map_err(|e| other(e.to_string()))?),
        Arc::new(SoftwareSecureArea::in_memory().with_authenticator(Arc::new(DemoApproval))),
        Arc::clone(&clock),
        "sandbox:demo-wallet",
    )
    .map_err(failed)?;
    let key = || IdempotencyKey::generate().map_err(|e| other(e.to_string()));
    let secrets = CardSecrets::default();
    let pin = KenhojoPin::new(&secrets.kenhojo_pin).map_err(|e| Failure::Input(e.to_string()))?;
    let password = SigningPassword::new(&secrets.signing_password)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let verifier = Verifier::new(vec![issuer.iaca_der()]);
    let wanted: Vec<ElementId> = ["full_name_unicode", "age_over_20"]
        .iter()
        .filter_map(|id| ElementId::parse(id).ok())
        .collect();
    // A presentation over a fresh transcript, checked by a verifier with
    // the issuer's current status list: what it says.
    let present_and_verify = |record_id: String| {
        let client = &client;
        let issuer = &issuer;
        let verifier = &verifier;
        let wanted = &wanted;
        async move {
            let transcript = fresh_transcript()?;
            let response = client
                .present(&record_id, wanted, &transcript)
                .await
                .map_err(failed)?;
            let list = issuer.status_list(1).map_err(|e| other(e.to_string()))?;
            Ok::<_, Failure>(
                match verifier.verify(&response, &transcript, client.now(), Some(&list)) {
                    Ok(v) => match v.status {
                        StatusCheck::Valid => format!(
                            "verifier: genuine, status VALID, {} element(s) disclosed of the record",
                            v.elements.len()
                        ),
                        StatusCheck::Undetermined { reason } => {
                            format!("verifier: genuine, status undetermined ({reason})")
                        }
                    },
                    Err(e) => format!("verifier: refused — {e}"),
                },
            )
        }
    };

    // Apply: one tap (W2).
    let mut application = client.begin_application().await.map_err(failed)?;
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    client
        .tap(&mut application, &mut channel, &pin, &password)
        .await
        .map_err(failed)?;
    let tap_stats = channel.transcript().stats();
    let record = client
        .submit_application(&mut application)
        .await
        .map_err(failed)?;
    let first = record.record_id.clone();
    demo.record(
        "Wallet: apply in one tap (W2: basic four, My Number, face photo, signing certificate and signature)",
        tap_stats,
        None,
        vec![
            format!("record {first}"),
            format!(
                "valid {} – {} (W5)",
                jst(record.valid_from),
                jst(record.valid_until)
            ),
        ],
    )?;

    // Present and verify.
    let said = present_and_verify(first.clone()).await?;
    demo.record(
        "Wallet: present full name and age over 20 only (selective disclosure, W10 approval)",
        TranscriptStats::default(),
        None,
        vec![said],
    )?;

    // A month passes: the validity ends, the refresh re-issues (W6(1)).
    sandbox_clock.advance(TimeDelta::days(32));
    let report = client.refresh().await.map_err(failed)?;
    let reissued = report
        .reissued
        .ok_or_else(|| other("a month later the record was not re-issued (W6(1))".into()))?;
    let second = reissued.new_record_id.clone();
    demo.record(
        "Wallet: a month passes (sandbox clock) — re-issued without the card (W6)",
        TranscriptStats::default(),
        None,
        vec![format!(
            "{} → {second} ({}, {})",
            reissued.old_record_id,
            crate::reset_cmd::snake(&reissued.reason),
            reissued.reason.rule()
        )],
    )?;

    // Lost: a verifier sees the suspension before the phone hears of it.
    issuer
        .report_lost(&key()?, &second)
        .map_err(|e| other(e.to_string()))?;
    let said = present_and_verify(second.clone()).await?;
    let report = client.refresh().await.map_err(failed)?;
    let now_status = report
        .records
        .first()
        .map(|r| crate::reset_cmd::snake(&r.status))
        .unwrap_or_default();
    demo.record(
        "Wallet: the phone is reported lost (W9) — suspended",
        TranscriptStats::default(),
        None,
        vec![said, format!("the phone's refresh: {now_status}")],
    )?;

    // Recovered: re-issued (W6(4)), valid again.
    issuer
        .recovered(&key()?, &second)
        .map_err(|e| other(e.to_string()))?;
    let report = client.refresh().await.map_err(failed)?;
    let reissued = report
        .reissued
        .ok_or_else(|| other("the recovered phone was not re-issued (W6(4))".into()))?;
    let said = present_and_verify(reissued.new_record_id.clone()).await?;
    demo.record(
        "Wallet: recovered — re-issued (W6(4)) and valid again",
        TranscriptStats::default(),
        None,
        vec![
            format!(
                "{} → {} ({})",
                reissued.old_record_id,
                reissued.new_record_id,
                reissued.reason.rule()
            ),
            said,
        ],
    )?;
    Ok(())
}

/// The Mynaportal-style app (issue 10) on the sample card, an in-process
/// sandbox portal and its clock: login with the card (P2), the terms (P7),
/// the health-insurance registration (P1), the insurer's view (§6); then
/// the certificate expires and three months pass: the registration is
/// released with reason 2, in the insurer's view and, once J-LIS renewed
/// the card and the holder logged in again (P4), on the phone.
async fn portal_walk(demo: &mut Demo<'_>) -> CmdResult {
    use std::sync::Arc;

    use chrono::TimeDelta;
    use mynakit_core::portal::PortalClient;
    use mynakit_core::portal::policy::expired_release_on;
    use mynakit_core::{
        AuthorityLink, AuthorityRequest, Clock, IdempotencyKey, SoftwareSecureArea, Store,
        TranscriptStats,
    };
    use mynakit_sandbox::portal::jlis::{Renewal, serial_key};
    use mynakit_sandbox::portal::{DEFAULT_BASE_URL, PortalAuthority, PortalLink};
    use mynakit_sandbox::reset::SandboxClock;
    use serde_json::Value;

    use crate::portal_cmd::portal_failure;

    let other = |e: String| Failure::Other(e);
    let failed = |e: mynakit_core::portal::PortalError| portal_failure(&e);
    let sandbox = Sandbox::new();
    let sandbox_clock = Arc::new(SandboxClock::new());
    let clock: Arc<dyn Clock> = sandbox_clock.clone();
    let portal = Arc::new(
        PortalAuthority::in_memory(Arc::clone(&clock), DEFAULT_BASE_URL)
            .map_err(|e| other(e.to_string()))?,
    );
    let link = Arc::new(PortalLink::new(Arc::clone(&portal)));
    let client = PortalClient::new(
        link.clone(),
        Arc::new(Store::open_in_memory().map_err(|e| other(e.to_string()))?),
        Arc::new(SoftwareSecureArea::in_memory()),
        Arc::clone(&clock),
        DEFAULT_BASE_URL,
    )
    .map_err(failed)?;
    let pin = AuthPin::new(&CardSecrets::default().auth_pin)
        .map_err(|e| Failure::Input(e.to_string()))?;
    // The sandbox's admin routes (the insurer, J-LIS), through the same link.
    let admin = |path: &str, body: Option<Value>| {
        let link = link.clone();
        let path = path.to_owned();
        async move {
            let request = match body {
                None => AuthorityRequest::get(path.clone()),
                Some(body) => {
                    let key = IdempotencyKey::generate().map_err(|e| other(e.to_string()))?;
                    let bytes = serde_json::to_vec(&body).map_err(|e| other(e.to_string()))?;
                    AuthorityRequest::post(path.clone(), bytes, &key)
                        .header("Content-Type", "application/json")
                }
            };
            let answer = link.send(request).await.map_err(|e| other(e.to_string()))?;
            if !(200..300).contains(&answer.status) {
                return Err(other(format!(
                    "{path}: status {}: {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                )));
            }
            serde_json::from_slice::<Value>(&answer.body).map_err(|e| other(e.to_string()))
        }
    };
    // The sample member's row of the insurer's view, in the notice's codes.
    let member_row = |view: &Value| {
        let rows = view
            .get("rows")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let code = |row: &Value, name: &str| {
            row.get(name)
                .filter(|v| !v.is_null())
                .map_or_else(|| "-".to_owned(), ToString::to_string)
        };
        let lists = format!(
            "reminders: link your card (紐付勧奨) {}, renew your certificate (再交付勧奨) {}",
            view.get("link_reminders")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
            view.get("renewal_reminders")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        );
        let mut lines: Vec<String> = rows
            .iter()
            .filter(|row| row.get("registered_on").is_some_and(|v| !v.is_null()))
            .map(|row| {
                format!(
                    "member {}: first-registration state {}, registered {}, released {}, reason {}, expiry flag {} (§6)",
                    code(row, "member"),
                    code(row, "first_registration_state"),
                    code(row, "registered_on").trim_matches('"'),
                    code(row, "released_on").trim_matches('"'),
                    code(row, "release_reason"),
                    code(row, "certificate_expiry_flag")
                )
            })
            .collect();
        lines.push(lists);
        lines
    };

    // 1. Login: one tap (P2).
    let mut flow = client.begin_login().await.map_err(failed)?;
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    client
        .tap(&mut flow, &mut channel, &pin, LastTry::Refuse)
        .await
        .map_err(failed)?;
    let tap_stats = channel.transcript().stats();
    let session = client.finish_login(&mut flow).await.map_err(failed)?;
    demo.record(
        "Portal: log in with the card (P2: authentication certificate, PIN and signature of the portal's challenge in one tap; OpenID Connect code flow with PKCE)",
        tap_stats,
        None,
        vec![
            format!("pairwise subject {}", session.subject),
            format!(
                "certificate valid until {} (Japan), renewal open from {}",
                session.certificate.valid_until, session.certificate.renewal_opens_on
            ),
        ],
    )?;

    // 2. The terms (P7).
    let terms = client.terms().await.map_err(failed)?;
    let refused = client
        .register_insurance(&terms.current.version)
        .await
        .err()
        .map(|e| portal_failure(&e).message())
        .unwrap_or_else(|| "(registered without agreeing?)".to_owned());
    let agreement = client
        .accept_terms(&terms.current.version)
        .await
        .map_err(failed)?;
    demo.record(
        "Portal: the terms (P7) — asked before the first state change, the agreed version recorded",
        TranscriptStats::default(),
        None,
        vec![
            format!("registering first: {refused}"),
            format!(
                "agreed to version {} at {}",
                agreement.version,
                crate::wallet_cmd::jst(agreement.agreed_at)
            ),
        ],
    )?;

    // 3. The registration (P1 method 2).
    let status = client
        .register_insurance(&agreement.version)
        .await
        .map_err(failed)?;
    demo.record(
        "Portal: register the card as the health-insurance card (P1, P3: linked through the certificate's serial)",
        TranscriptStats::default(),
        None,
        vec![format!(
            "registered: {}, on {}; insurer {}",
            status.registered,
            status
                .registered_on
                .map_or_else(|| "-".to_owned(), |d| d.to_string()),
            status
                .insured_card
                .as_ref()
                .map_or_else(|| "-".to_owned(), |c| c.insurer_name.clone())
        )],
    )?;

    // 4. The insurer's view (§6).
    let view = admin("/v1/sandbox/insurer/view", None).await?;
    demo.record(
        "Portal: the insurer's view (§6, the joint-use notice's codes)",
        TranscriptStats::default(),
        None,
        member_row(&view),
    )?;

    // 5. The certificate expires; three months pass (the sandbox clock).
    let valid_until = session.certificate.valid_until;
    let release_day = expired_release_on(valid_until)
        .ok_or_else(|| other("no release day after the certificate's expiry".into()))?;
    let today = mynakit_core::japan_date(clock.now());
    sandbox_clock.advance(TimeDelta::days((release_day - today).num_days() + 1));
    let view = admin("/v1/sandbox/insurer/view", None).await?;
    let standing = client.certificate_standing().await.map_err(failed)?;
    let mut lines = vec![format!(
        "the clock moves to {} (the certificate ran out on {valid_until}; three months later it is {release_day})",
        mynakit_core::japan_date(clock.now())
    )];
    lines.extend(member_row(&view));
    lines.push(format!(
        "the phone, offline: certificate {}, expiry flag {}",
        crate::reset_cmd::snake(&standing.state),
        standing.expiry_flag
    ));
    demo.record(
        "Portal: the certificate expires and three months pass — released with reason 2 (§6)",
        TranscriptStats::default(),
        None,
        lines,
    )?;

    // 6. J-LIS renews the card; the next login finds the account (P4) and
    //    the phone shows the release.
    let previous_serial = serial_key(sandbox.card().auth_certificate());
    let today = mynakit_core::japan_date(clock.now());
    let certificate = {
        let mut card = sandbox.card();
        card.renew_certificates(today)
            .map_err(|e| other(e.to_string()))?;
        card.auth_certificate().der().to_vec()
    };
    let renewal = Renewal {
        certificate: certificate.iter().map(|b| format!("{b:02x}")).collect(),
        previous_serial,
    };
    admin(
        "/v1/sandbox/jlis/renewals",
        Some(serde_json::to_value(&renewal).map_err(|e| other(e.to_string()))?),
    )
    .await?;
    let mut flow = client.begin_login().await.map_err(failed)?;
    let mut channel = fresh(&sandbox, LinkSwitches::default());
    client
        .tap(&mut flow, &mut channel, &pin, LastTry::Refuse)
        .await
        .map_err(failed)?;
    let tap_stats = channel.transcript().stats();
    let again = client.finish_login(&mut flow).await.map_err(failed)?;
    let status = client.insurance_status().await.map_err(failed)?;
    demo.record(
        "Portal: the card renewed, logged in again (P4: same account) — the phone shows the release",
        tap_stats,
        None,
        vec![
            format!(
                "same subject: {}; new certificate valid until {}",
                again.subject == session.subject,
                again.certificate.valid_until
            ),
            format!(
                "registered: {}; released on {}, reason {} (§6)",
                status.registered,
                status
                    .released_on
                    .map_or_else(|| "-".to_owned(), |d| d.to_string()),
                status
                    .release_reason
                    .map_or_else(|| "-".to_owned(), |r| r.code().to_string())
            ),
        ],
    )?;
    Ok(())
}
