//! The reset flow's kill-at-every-write harness (issue 8, "the process
//! killed at every store write"), and what the reset fault suites share.
//!
//! `reset-crash-child DIR KIND KILL_AT` runs a whole reset of `KIND`
//! (`signing_password` or `auth_pin`) as one phone would (the in-process
//! reference authority on a file database, the phone's store on a file
//! database, the software secure area on a file, the sandbox card and
//! camera): begin, tap, face-check session and capture (signing password
//! only, R2), reserve, cancel, refresh. The phone's store tells the child of
//! every transaction that changed a row, just before and just after its
//! commit (`Store::with_write_observer`); each such moment is a *kill point*.
//! The child prints `POINT n STEP before|after` as it reaches each, and at
//! point `KILL_AT` prints `KILL n` and waits to be killed.
//!
//! After the kill, [`check_after_kill`] opens both databases again and
//! checks that the phone's store is whole and knows of everything the
//! authority did for it, and that a restarted phone (`ResetClient::refresh`
//! with the same key file) recovers exactly the authority's reservations.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use mynakit_core::reset::{
    INSTALLATION_KEY_ALIAS, OtherSecret, Reservation, ReservationState, ResetClient, ResetKind,
};
use mynakit_core::{
    AuthPin, CardChannel, CheckCodeB, LastTry, ManualClock, Picture, SecureArea, SigningPassword,
    SoftwareSecureArea, Store,
};
use mynakit_sandbox::reset::{
    FaceVerdict, FaceVerifier, Frame, InProcessLink, LivenessChallenge, ResetAuthority,
};
use mynakit_sandbox::{LinkSwitches, Sandbox};

use crate::{FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE, PIN, SIGNING_PASSWORD, block_on};

/// The authority's name as the phone keeps it.
pub const AUTHORITY: &str = "https://reset.sandbox.mynakit.invalid";

/// What the child prints when it stops for good at the kill point.
pub const AT_KILL_POINT: &str = "KILL";
/// What the child prints at every kill point it passes.
pub const PASSING_POINT: &str = "POINT";
/// What the child prints when the whole flow ran.
pub const FLOW_DONE: &str = "DONE";

/// The moment every reset fault test starts at (both clocks).
pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T09:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A stand-in face engine for tests whose subject is not face matching:
/// the reference verifier takes seconds per capture unoptimised and has its
/// own tests (`sandbox/src/reset/face.rs`, `tests/reset_flow.rs`). It
/// passes or fails every capture as switched, and counts the captures the
/// authority actually verified (a repeat answered from the idempotency
/// record is not verified again).
#[derive(Debug, Clone, Default)]
pub struct StandInVerifier {
    fail: Arc<AtomicBool>,
    verified: Arc<AtomicUsize>,
}

impl StandInVerifier {
    /// A verifier that passes until told otherwise.
    pub fn passing() -> Self {
        Self::default()
    }

    /// From now on, fail (`true`) or pass (`false`) every capture.
    pub fn set_failing(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    /// Captures verified so far.
    pub fn verified(&self) -> usize {
        self.verified.load(Ordering::SeqCst)
    }
}

impl FaceVerifier for StandInVerifier {
    fn verify(&self, _: &Picture, _: &LivenessChallenge, frames: &[Frame]) -> FaceVerdict {
        self.verified.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            FaceVerdict::Fail(mynakit_sandbox::reset::FaceFailure::Mismatch)
        } else if frames.is_empty() {
            FaceVerdict::Fail(mynakit_sandbox::reset::FaceFailure::BadFrames)
        } else {
            FaceVerdict::Pass
        }
    }
}

/// The files of one crash case.
#[derive(Debug, Clone)]
pub struct CrashFiles {
    dir: PathBuf,
}

impl CrashFiles {
    /// The files under `dir` (which must exist).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory the child is given.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The phone's store.
    pub fn phone_db(&self) -> PathBuf {
        self.dir.join("phone.db")
    }

    /// The reference authority's store.
    pub fn authority_db(&self) -> PathBuf {
        self.dir.join("authority.db")
    }

    /// The software secure area's key file.
    pub fn keys(&self) -> PathBuf {
        self.dir.join("keys")
    }

    /// Removes every file of the case, to start afresh.
    pub fn clear(&self) {
        for db in [self.phone_db(), self.authority_db()] {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
        }
        let _ = std::fs::remove_file(self.keys());
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(start()))
}

fn open_authority(
    files: &CrashFiles,
    clock: Arc<ManualClock>,
) -> Result<Arc<ResetAuthority>, String> {
    let authority = ResetAuthority::open(&files.authority_db(), clock)
        .map_err(|e| format!("authority: {e}"))?
        .with_verifier(Box::new(StandInVerifier::passing()));
    Ok(Arc::new(authority))
}

/// The child's work: the whole flow of `kind`, reporting every kill point
/// and stopping for good at `kill_at` (0: runs to the end).
pub fn run_child(files: &CrashFiles, kind: ResetKind, kill_at: usize) -> Result<(), String> {
    let clock = clock();
    let authority = open_authority(files, clock.clone())?;
    let step: Arc<Mutex<&'static str>> = Arc::new(Mutex::new("start"));
    let reached = AtomicUsize::new(0);
    let current = step.clone();
    let store = Store::open(files.phone_db())
        .map_err(|e| format!("phone store: {e}"))?
        .with_write_observer(move |committed| {
            let point = reached.fetch_add(1, Ordering::SeqCst) + 1;
            let name = *current.lock().unwrap_or_else(PoisonError::into_inner);
            let when = if committed { "after" } else { "before" };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{PASSING_POINT} {point} {name} {when}");
            if point == kill_at {
                // The parent kills us as soon as it reads this; if it cannot
                // be written, the parent sees the child exit and fails.
                let _ = writeln!(out, "{AT_KILL_POINT} {point}");
                let _ = out.flush();
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
            let _ = out.flush();
        });
    let secure_area =
        SoftwareSecureArea::open(files.keys()).map_err(|e| format!("secure area: {e}"))?;
    let client = ResetClient::new(
        Arc::new(InProcessLink::new(authority)),
        Arc::new(store),
        Arc::new(secure_area),
        clock,
        AUTHORITY,
    )
    .map_err(|e| format!("client: {e}"))?;
    let at = |name: &'static str| *step.lock().unwrap_or_else(PoisonError::into_inner) = name;
    let failed =
        |name: &'static str| move |e: mynakit_core::reset::ResetError| format!("{name}: {e}");

    at("begin");
    let mut flow = block_on(client.begin(kind)).map_err(failed("begin"))?;
    at("tap");
    let sandbox = Sandbox::new();
    let check_code =
        CheckCodeB::from_card_front(FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE)
            .map_err(|e| format!("card front: {e}"))?;
    // R4: the other secret.
    let other = match kind {
        ResetKind::SigningPassword => {
            OtherSecret::AuthPin(AuthPin::new(PIN).map_err(|e| format!("PIN: {e}"))?)
        }
        ResetKind::AuthPin => OtherSecret::SigningPassword(
            SigningPassword::new(SIGNING_PASSWORD).map_err(|e| format!("password: {e}"))?,
        ),
    };
    block_on(client.tap(
        &mut flow,
        &mut CardChannel::new(sandbox.transport(LinkSwitches::default())),
        &check_code,
        &other,
        LastTry::Refuse,
    ))
    .map_err(failed("tap"))?;
    if kind.needs_face_check() {
        at("session");
        let prompt = block_on(client.open_face_check(&mut flow)).map_err(failed("session"))?;
        at("capture");
        let photo = flow
            .chip_photo()
            .ok_or("no chip photo after the tap")?
            .map_err(|e| format!("chip photo: {e}"))?;
        let frames = mynakit_sandbox::reset::SandboxCamera::new(
            mynakit_sandbox::reset::CameraSubject::Holder,
            7,
        )
        .capture(&photo, &prompt.actions, 1, client.now());
        let result =
            block_on(client.submit_capture(&mut flow, frames)).map_err(failed("capture"))?;
        if !result.passed {
            return Err("capture: the stand-in verifier failed it".into());
        }
    }
    at("reserve");
    let kept = block_on(client.reserve(&mut flow)).map_err(failed("reserve"))?;
    at("cancel");
    block_on(client.cancel(&kept.reservation.id)).map_err(failed("cancel"))?;
    at("refresh");
    block_on(client.refresh()).map_err(failed("refresh"))?;
    at("done");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{FLOW_DONE}");
    let _ = out.flush();
    Ok(())
}

/// What a restarted phone found after a kill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The authority's reservations for this installation.
    pub at_authority: Vec<Reservation>,
    /// What the phone kept before the restart (id, state).
    pub kept_before: Vec<(String, ReservationState)>,
    /// The operations left pending in the phone's store.
    pub pending: Vec<String>,
}

/// The operation name (prefix) under which the store keeps a step's
/// state-changing request while it is unanswered (`ResetClient`'s names);
/// `None` for a step that sends none (the tap, a refresh).
pub fn operation_prefix(step: &str) -> Option<&'static str> {
    match step {
        "begin" => Some("reset/challenge/"),
        "session" => Some("reset/session/"),
        "capture" => Some("reset/capture/"),
        "reserve" => Some("reset/reserve/"),
        "cancel" => Some("reset/cancel/"),
        _ => None,
    }
}

/// The phone's store read raw, as the file holds it: what a bug in the
/// store's own accessors could hide.
struct RawPhone {
    integrity: String,
    reservations: Vec<(String, String, i64, String)>,
    pending: Vec<(String, String)>,
    settings: Vec<(String, String)>,
}

fn read_raw(path: &Path) -> Result<RawPhone, String> {
    let sql = |e: rusqlite::Error| format!("phone store read raw: {e}");
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sql)?;
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(sql)?;
    let rows = |query: &str| -> Result<Vec<Vec<rusqlite::types::Value>>, String> {
        let mut statement = connection.prepare(query).map_err(sql)?;
        let columns = statement.column_count();
        let rows = statement
            .query_map([], |r| {
                (0..columns)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        Ok(rows)
    };
    use rusqlite::types::Value;
    let text = |v: &Value| match v {
        Value::Text(t) => Ok(t.clone()),
        other => Err(format!("expected text, found {other:?}")),
    };
    let reservations = rows("SELECT authority, id, expires_at, body FROM reset_reservations")?
        .iter()
        .map(|r| match r.as_slice() {
            [a, id, Value::Integer(expires), body] => {
                Ok((text(a)?, text(id)?, *expires, text(body)?))
            }
            other => Err(format!("reset_reservations row {other:?}")),
        })
        .collect::<Result<_, String>>()?;
    let pairs = |query: &str| -> Result<Vec<(String, String)>, String> {
        rows(query)?
            .iter()
            .map(|r| match r.as_slice() {
                [a, b] => Ok((text(a)?, text(b)?)),
                other => Err(format!("row {other:?}")),
            })
            .collect()
    };
    Ok(RawPhone {
        integrity,
        reservations,
        pending: pairs("SELECT operation, idempotency_key FROM pending_operations")?,
        settings: pairs("SELECT key, value FROM settings")?,
    })
}

/// After the child was killed during `step`: the phone's store is whole,
/// keeps nothing the authority did not do, and knows of everything it did
/// (a kept reservation, or the pending operation that may have made or
/// changed it); a restarted phone's refresh then holds exactly the
/// authority's reservations, once each.
pub fn check_after_kill(files: &CrashFiles, step: &str) -> Result<Recovered, String> {
    let mut wrong = Vec::new();
    let raw = read_raw(&files.phone_db())?;
    if raw.integrity != "ok" {
        wrong.push(format!("integrity_check: {}", raw.integrity));
    }
    let mut kept_before = Vec::new();
    for (authority, id, expires_at, body) in &raw.reservations {
        match serde_json::from_str::<Reservation>(body) {
            Ok(r) if r.id == *id && r.expires_at.timestamp() == *expires_at => {
                kept_before.push((r.id, r.state));
            }
            Ok(_) => wrong.push(format!("kept reservation {id}: columns and body differ")),
            Err(e) => wrong.push(format!("kept reservation {id} does not parse: {e}")),
        }
        if authority != AUTHORITY {
            wrong.push(format!("kept reservation {id} under {authority}"));
        }
    }
    let pending: Vec<String> = raw.pending.iter().map(|(op, _)| op.clone()).collect();
    for (operation, key) in &raw.pending {
        if mynakit_core::IdempotencyKey::parse(key).is_err() {
            wrong.push(format!("{operation}: malformed idempotency key"));
        }
        // Only the request of the step under way may be unanswered.
        if !operation_prefix(step).is_some_and(|p| operation.starts_with(p)) {
            wrong.push(format!("{operation} pending while killed in {step}"));
        }
    }
    if pending.len() > 1 {
        wrong.push(format!("more than one operation pending: {pending:?}"));
    }
    for (key, _) in &raw.settings {
        if key.starts_with("pending-body/") && step != "cancel" {
            wrong.push(format!("{key} kept while killed in {step}"));
        }
    }

    let clock = clock();
    let authority = open_authority(files, clock.clone())?;
    let secure_area =
        Arc::new(SoftwareSecureArea::open(files.keys()).map_err(|e| format!("secure area: {e}"))?);
    let device_key = block_on(secure_area.key_info(INSTALLATION_KEY_ALIAS.to_owned()))
        .map_err(|e| format!("secure area: {e}"))?
        .ok_or("no installation key, though the store was written")?
        .public_key;
    let at_authority = authority
        .reservations_of(&device_key)
        .map_err(|e| format!("authority: {e}"))?;
    if at_authority.len() > 1 {
        wrong.push(format!(
            "{} reservations at the authority",
            at_authority.len()
        ));
    }
    for (id, _) in &kept_before {
        if !at_authority.iter().any(|r| r.id == *id) {
            wrong.push(format!("kept reservation {id} unknown to the authority"));
        }
    }
    // Nothing the authority did is unknown to the phone: it keeps the
    // reservation as it is, or the operation that may have changed it is
    // pending (its answer lost in the kill).
    for r in &at_authority {
        let kept = kept_before.iter().find(|(id, _)| *id == r.id);
        let pending_for = |prefix: &str| pending.iter().any(|op| op.starts_with(prefix));
        let known = match (kept, r.state) {
            (Some((_, state)), now) if *state == now => true,
            (Some((_, ReservationState::Reserved)), ReservationState::Cancelled) => {
                pending_for(&format!("reset/cancel/{}", r.id))
            }
            (Some(_), _) => false,
            (None, _) => pending_for("reset/reserve/"),
        };
        if !known {
            wrong.push(format!(
                "the authority holds {} ({:?}) and the phone keeps {:?} with {:?} pending",
                r.id, r.state, kept, pending
            ));
        }
    }

    // The restarted phone: the same store file and key file.
    let store = Arc::new(Store::open(files.phone_db()).map_err(|e| format!("phone store: {e}"))?);
    let client = ResetClient::new(
        Arc::new(InProcessLink::new(authority.clone())),
        store,
        secure_area,
        clock,
        AUTHORITY,
    )
    .map_err(|e| format!("restarted client: {e}"))?;
    let refreshed = block_on(client.refresh()).map_err(|e| format!("refresh: {e}"))?;
    let offline = client
        .reservations()
        .map_err(|e| format!("offline list: {e}"))?;
    let mut want: Vec<(String, &str)> = at_authority
        .iter()
        .map(|r| (r.id.clone(), r.state.as_str()))
        .collect();
    want.sort();
    for (what, list) in [("refresh", &refreshed), ("offline list", &offline)] {
        let mut got: Vec<(String, &str)> = list
            .iter()
            .map(|k| (k.reservation.id.clone(), k.reservation.state.as_str()))
            .collect();
        got.sort();
        if got != want {
            wrong.push(format!("{what} gives {got:?}, the authority {want:?}"));
        }
    }
    if wrong.is_empty() {
        Ok(Recovered {
            at_authority,
            kept_before,
            pending,
        })
    } else {
        Err(wrong.join("; "))
    }
}
