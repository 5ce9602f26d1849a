//! Issue 9, "Bad input and faults", for the phone's wallet
//! (`mynakit_core::wallet::WalletClient`): each fault a test, each a typed
//! error, nothing lost, no second record.
//!
//! - The card pulled at every exchange of the apply tap (extended and
//!   short-only links, before and after the card sees the command).
//! - The issuer unavailable at every request of a whole life (apply,
//!   present, re-issue, revoke): not reached, the answer lost after the
//!   issuer acted, 503 with `Retry-After` (W12), a damaged answer.
//! - The process killed at every store write: simulated in process by
//!   stopping at the store's write observer before and after each commit,
//!   then starting a new wallet over the same files.
//! - Wrong secrets spend no try unasked.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::layout::{Application, jpki, kenhojo, kenmen};
use mynakit_core::wallet::wire::RecordStatus;
use mynakit_core::wallet::{ApplySecret, WalletClient, WalletError};
use mynakit_core::{
    AuthorityError, AuthorityLink, AuthorityRequest, AuthorityResponse, CardChannel, CardError,
    Clock, KenhojoPin, LinkError, ManualClock, SecureAreaError, SigningPassword,
    SoftwareSecureArea, Store, TransportError, UserAuthenticator, format_http_date,
};
use mynakit_sandbox::wallet::{WalletIssuer, WalletLink};
use mynakit_sandbox::{LinkSwitches, RemovalPoint, Sandbox, VirtualTransport};
use mynakit_tests::{PIN, SIGNING_PASSWORD, block_on, is_sign};

const ISSUER: &str = "http://issuer.sandbox.mynakit.invalid";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-07-01T01:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct Approve;

impl UserAuthenticator for Approve {
    fn authenticate(&self, _alias: &str) -> Result<(), SecureAreaError> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Unreached,
    AnswerLost,
    OutOfService,
    Garbage,
}

/// The in-process issuer behind a link that fails one chosen request.
struct FaultyLink {
    inner: WalletLink,
    clock: Arc<ManualClock>,
    sent: AtomicUsize,
    fail: Mutex<Option<(usize, Fault)>>,
    paths: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl AuthorityLink for FaultyLink {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        let n = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        self.paths.lock().unwrap().push(format!(
            "{} {}",
            request.method().as_str(),
            request.path()
        ));
        let fault = self
            .fail
            .lock()
            .unwrap()
            .filter(|(at, _)| *at == n)
            .map(|(_, f)| f);
        match fault {
            Some(Fault::Unreached) => Err(LinkError::Unavailable {
                reason: "test: no network".into(),
            }),
            Some(Fault::OutOfService) => Ok(AuthorityResponse {
                status: 503,
                headers: vec![
                    ("Date".into(), format_http_date(self.clock.now())),
                    ("Retry-After".into(), "120".into()),
                ],
                body: Vec::new(),
            }),
            Some(Fault::AnswerLost) => {
                self.inner.send(request).await?;
                Err(LinkError::AnswerLost {
                    reason: "test: connection reset".into(),
                })
            }
            Some(Fault::Garbage) => {
                let answer = self.inner.send(request).await?;
                Ok(AuthorityResponse {
                    status: 200,
                    headers: answer.headers,
                    body: b"<html>captive portal</html>".to_vec(),
                })
            }
            None => self.inner.send(request).await,
        }
    }
}

struct World {
    clock: Arc<ManualClock>,
    issuer: Arc<WalletIssuer>,
    sandbox: Sandbox,
}

impl World {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let issuer = Arc::new(WalletIssuer::in_memory(clock.clone(), ISSUER).unwrap());
        Self {
            clock,
            issuer,
            sandbox: Sandbox::new(),
        }
    }

    fn link(&self) -> Arc<FaultyLink> {
        Arc::new(FaultyLink {
            inner: WalletLink::new(self.issuer.clone()),
            clock: self.clock.clone(),
            sent: AtomicUsize::new(0),
            fail: Mutex::new(None),
            paths: Mutex::new(Vec::new()),
        })
    }

    fn client(
        &self,
        link: Arc<FaultyLink>,
        store: Arc<Store>,
        area: Arc<SoftwareSecureArea>,
    ) -> WalletClient {
        WalletClient::new(link, store, area, self.clock.clone(), ISSUER).unwrap()
    }

    fn transport(&self, switches: LinkSwitches) -> VirtualTransport {
        self.sandbox.transport(switches)
    }

    /// Kenhojo PIN, Kenmen 照合番号A, signing password.
    fn tries(&self) -> [Option<u8>; 3] {
        let card = self.sandbox.card();
        [
            card.tries_left(Application::Kenhojo, kenhojo::PIN),
            card.tries_left(Application::Kenmen, kenmen::CHECK_CODE_A),
            card.tries_left(Application::Jpki, jpki::SIGNING_PIN),
        ]
    }

    /// The records the issuer holds that are in force.
    fn in_force(&self) -> Vec<String> {
        self.issuer
            .records()
            .unwrap()
            .into_iter()
            .filter(|r| matches!(r.status, RecordStatus::Valid | RecordStatus::Suspended))
            .map(|r| r.record_id)
            .collect()
    }

    /// Revokes every record in force (frees the card for the next case).
    fn clear(&self) {
        for id in self.in_force() {
            self.issuer
                .admin_revoke(
                    &mynakit_core::IdempotencyKey::generate().unwrap(),
                    &id,
                    mynakit_core::wallet::wire::RevocationReason::Operational,
                )
                .unwrap();
        }
    }
}

fn pin() -> KenhojoPin {
    KenhojoPin::new(PIN).unwrap()
}

fn password() -> SigningPassword {
    SigningPassword::new(SIGNING_PASSWORD).unwrap()
}

fn software_area() -> Arc<SoftwareSecureArea> {
    Arc::new(SoftwareSecureArea::in_memory().with_authenticator(Arc::new(Approve)))
}

#[test]
fn the_card_pulled_at_every_exchange_of_the_apply_tap_spends_no_try_and_the_next_tap_finishes() {
    let world = World::new();
    let full = world.tries();
    assert!(full.iter().all(|t| t.is_some_and(|t| t > 2)), "{full:?}");
    let client = world.client(
        world.link(),
        Arc::new(Store::open_in_memory().unwrap()),
        software_area(),
    );
    for switches in [LinkSwitches::default(), LinkSwitches::short_only()] {
        let mut application = block_on(client.begin_application()).unwrap();
        let mut channel = CardChannel::new(world.transport(switches));
        block_on(client.tap(&mut application, &mut channel, &pin(), &password())).unwrap();
        let total = channel.transport().exchanges();
        let verifies = channel
            .transcript()
            .exchanges()
            .iter()
            .filter(|e| e.redacted)
            .count();
        assert_eq!(verifies, 3, "card-info PIN, 照合番号A, signing password");
        for at in 1..=total {
            for point in [RemovalPoint::BeforeCard, RemovalPoint::AfterCard] {
                let context = format!("card pulled at exchange {at}/{total} ({point:?})");
                let mut application = block_on(client.begin_application()).unwrap();
                let mut channel =
                    CardChannel::new(world.transport(switches.removing_at(at, point)));
                let error =
                    block_on(client.tap(&mut application, &mut channel, &pin(), &password()))
                        .expect_err(&context);
                let exchanges = channel.transcript().exchanges();
                let lost = &exchanges[at - 1];
                match &error {
                    WalletError::Card(CardError::VerifyOutcomeUnknown {
                        cause: TransportError::CardRemoved,
                        ..
                    }) => assert!(lost.redacted, "{context}: {error:?}"),
                    WalletError::Card(CardError::Transport(TransportError::CardRemoved)) => {
                        assert!(!lost.redacted, "{context}");
                        assert!(error.is_retryable(), "{context}");
                    }
                    other => panic!("{context}: {other:?}"),
                }
                for later in &exchanges[at..] {
                    assert!(
                        !later.redacted && !is_sign(&later.command),
                        "{context}: {} after the loss",
                        later.trace_line()
                    );
                }
                // The right secrets: a VERIFY the card saw succeeded; one it
                // did not see spent nothing. No counter is below full.
                assert_eq!(world.tries(), full, "{context}");
                assert!(!application.tapped(), "{context}");
                let mut channel = CardChannel::new(world.transport(switches));
                block_on(client.tap(&mut application, &mut channel, &pin(), &password()))
                    .unwrap_or_else(|e| panic!("{context}: the next tap: {e:?}"));
                assert!(application.tapped());
            }
        }
    }
    assert!(
        client.records().unwrap().is_empty(),
        "nothing sent, nothing kept"
    );
}

#[test]
fn a_wrong_signing_password_spends_one_try_and_a_last_try_needs_its_own_consent() {
    let world = World::new();
    let client = world.client(
        world.link(),
        Arc::new(Store::open_in_memory().unwrap()),
        software_area(),
    );
    let full = world.tries();
    let mut application = block_on(client.begin_application()).unwrap();
    let wrong = SigningPassword::new("WRONG1").unwrap();
    // Wrong until one try is left: each failure spends exactly one.
    let mut left = full[2].unwrap();
    while left > 1 {
        let mut channel = CardChannel::new(world.transport(LinkSwitches::default()));
        let error =
            block_on(client.tap(&mut application, &mut channel, &pin(), &wrong)).unwrap_err();
        assert!(
            matches!(error, WalletError::Card(CardError::WrongPin { .. })),
            "{error:?}"
        );
        left -= 1;
        assert_eq!(world.tries()[2], Some(left));
    }
    // The last try: refused before anything is sent, until the user agrees.
    let mut channel = CardChannel::new(world.transport(LinkSwitches::default()));
    assert!(matches!(
        block_on(client.tap(&mut application, &mut channel, &pin(), &password())),
        Err(WalletError::LastTry {
            secret: ApplySecret::SigningPassword
        })
    ));
    assert_eq!(world.tries()[2], Some(1));
    application.allow_last_try(ApplySecret::SigningPassword);
    let mut channel = CardChannel::new(world.transport(LinkSwitches::default()));
    block_on(client.tap(&mut application, &mut channel, &pin(), &password())).unwrap();
    assert_eq!(
        world.tries()[2],
        full[2],
        "the right password restores the counter"
    );
}

/// One step: if the link's fault hits it, a typed retryable error and the
/// same step again succeeds.
fn step<T>(
    link: &FaultyLink,
    context: &str,
    name: &str,
    mut attempt: impl FnMut() -> Result<T, WalletError>,
) -> T {
    let sent = link.sent.load(Ordering::SeqCst);
    let error = match attempt() {
        Ok(value) => return value,
        Err(e) => e,
    };
    let fault = link
        .fail
        .lock()
        .unwrap()
        .filter(|(at, _)| *at > sent && *at <= link.sent.load(Ordering::SeqCst))
        .map(|(_, f)| f);
    match (fault, &error) {
        (Some(Fault::Unreached), WalletError::Authority(AuthorityError::Unavailable { .. }))
        | (Some(Fault::AnswerLost), WalletError::Authority(AuthorityError::AnswerLost { .. }))
        | (Some(Fault::Garbage), WalletError::AnswerGarbled { .. }) => {}
        (
            Some(Fault::OutOfService),
            WalletError::Authority(AuthorityError::OutOfService { retry_after }),
        ) => assert_eq!(
            *retry_after,
            Some(std::time::Duration::from_secs(120)),
            "{context}"
        ),
        _ => panic!("{context}: {name} failed with {error:?} (fault {fault:?})"),
    }
    assert!(error.is_retryable(), "{context}: {error:?}");
    attempt().unwrap_or_else(|e| panic!("{context}: {name} again: {e:?}"))
}

/// A whole life: apply, present, a month passes, re-issue, revoke.
fn whole_life(world: &World, link: &Arc<FaultyLink>, context: &str) -> (String, String) {
    let client = world.client(
        link.clone(),
        Arc::new(Store::open_in_memory().unwrap()),
        software_area(),
    );
    let mut application = step(link, context, "begin", || {
        block_on(client.begin_application())
    });
    let mut channel = CardChannel::new(world.transport(LinkSwitches::default()));
    block_on(client.tap(&mut application, &mut channel, &pin(), &password())).unwrap();
    let first = step(link, context, "submit", || {
        block_on(client.submit_application(&mut application))
    });
    let wanted = [mynakit_core::wallet::mdoc::ElementId::parse("age_over_18").unwrap()];
    block_on(client.present(&first.record_id, &wanted, &[0xf6])).unwrap();
    world.clock.advance(TimeDelta::days(31));
    let report = step(link, context, "refresh", || block_on(client.refresh()));
    let second = match report.reissued {
        Some(r) => r.new_record_id,
        // A lost answer to the re-issue: the refresh retried found it done.
        None => client
            .records()
            .unwrap()
            .into_iter()
            .find(|r| r.replaced_by.is_none())
            .map(|r| r.record_id)
            .unwrap(),
    };
    assert_ne!(second, first.record_id, "{context}");
    let revoked = step(link, context, "revoke", || block_on(client.revoke(&second)));
    assert_eq!(revoked.status, RecordStatus::Revoked, "{context}");
    world.clock.set(start());
    (first.record_id, second)
}

#[test]
fn the_issuer_unavailable_at_every_request_of_a_whole_life_makes_nothing_twice() {
    let world = World::new();
    let clean = world.link();
    whole_life(&world, &clean, "clean run");
    let requests = clean.sent.load(Ordering::SeqCst);
    assert!(requests >= 6, "{:?}", clean.paths.lock().unwrap());
    world.clear();
    for at in 1..=requests {
        for fault in [
            Fault::Unreached,
            Fault::AnswerLost,
            Fault::OutOfService,
            Fault::Garbage,
        ] {
            let context = format!("request {at}/{requests} ({fault:?})");
            let before = world.issuer.records().unwrap().len();
            let link = world.link();
            *link.fail.lock().unwrap() = Some((at, fault));
            whole_life(&world, &link, &context);
            // Two records (the first and its re-issue), none twice, none
            // left in force.
            assert_eq!(
                world.issuer.records().unwrap().len(),
                before + 2,
                "{context}: {:?}",
                link.paths.lock().unwrap()
            );
            assert!(world.in_force().is_empty(), "{context}");
        }
    }
}

/// Stops the process (in effect) at the `n`-th store write: before its
/// commit (`after: false`) or just after it.
struct Killer {
    at: usize,
    after: bool,
    writes: AtomicUsize,
    fired: AtomicBool,
}

#[test]
fn the_process_killed_at_every_store_write_loses_nothing_and_makes_no_second_record() {
    let world = World::new();
    let dir = std::env::temp_dir().join(format!("mynakit-wallet-kill-{}", std::process::id()));
    // A clean run counts the writes of a whole life.
    let count = |killer: Option<Arc<Killer>>, name: &str| -> Result<(), String> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::open(dir.join(format!("{name}.db"))).unwrap();
        if let Some(killer) = killer.clone() {
            store = store.with_write_observer(move |committed| {
                if committed != killer.after || killer.fired.load(Ordering::SeqCst) {
                    return;
                }
                if killer.writes.fetch_add(1, Ordering::SeqCst) + 1 == killer.at {
                    killer.fired.store(true, Ordering::SeqCst);
                    panic!("killed at a store write");
                }
            });
        }
        let area = Arc::new(
            SoftwareSecureArea::open(dir.join("keys"))
                .unwrap()
                .with_authenticator(Arc::new(Approve)),
        );
        let client = world.client(world.link(), Arc::new(store), area);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut application = block_on(client.begin_application()).unwrap();
            let mut channel = CardChannel::new(world.transport(LinkSwitches::default()));
            block_on(client.tap(&mut application, &mut channel, &pin(), &password())).unwrap();
            block_on(client.submit_application(&mut application)).unwrap();
            let id = client.records().unwrap()[0].record_id.clone();
            world.clock.advance(TimeDelta::days(31));
            block_on(client.refresh()).unwrap();
            let current = client
                .records()
                .unwrap()
                .into_iter()
                .find(|r| r.replaced_by.is_none())
                .unwrap();
            assert_ne!(current.record_id, id);
            block_on(client.revoke(&current.record_id)).unwrap();
        }));
        drop(client);
        outcome.map_err(|_| "killed".to_owned())
    };
    let counter = Arc::new(Killer {
        at: usize::MAX,
        after: false,
        writes: AtomicUsize::new(0),
        fired: AtomicBool::new(false),
    });
    count(Some(counter.clone()), "clean").unwrap();
    let writes = counter.writes.load(Ordering::SeqCst);
    assert!(writes >= 8, "{writes} writes in a whole life");
    world.clear();
    world.clock.set(start());
    for at in 1..=writes {
        for after in [false, true] {
            let context = format!("killed at write {at}/{writes}, after commit: {after}");
            let killer = Arc::new(Killer {
                at,
                after,
                writes: AtomicUsize::new(0),
                fired: AtomicBool::new(false),
            });
            assert!(count(Some(killer.clone()), "phone").is_err(), "{context}");
            assert!(killer.fired.load(Ordering::SeqCst), "{context}");
            // The app starts again over the same files: a refresh resumes
            // what was unanswered; then the phone and the issuer agree.
            let store = Arc::new(Store::open(dir.join("phone.db")).unwrap());
            let area = Arc::new(
                SoftwareSecureArea::open(dir.join("keys"))
                    .unwrap()
                    .with_authenticator(Arc::new(Approve)),
            );
            let client = world.client(world.link(), store, area);
            block_on(client.refresh()).unwrap_or_else(|e| panic!("{context}: {e:?}"));
            let on_phone: Vec<String> = client
                .records()
                .unwrap()
                .into_iter()
                .filter(|r| r.in_force())
                .map(|r| r.record_id)
                .collect();
            let at_issuer = world.in_force();
            assert!(at_issuer.len() <= 1, "{context}: {at_issuer:?}");
            assert_eq!(on_phone, at_issuer, "{context}");
            // And the holder can always go on: revoke what is in force, or
            // apply when nothing is.
            match on_phone.first() {
                Some(id) => {
                    block_on(client.revoke(id)).unwrap_or_else(|e| panic!("{context}: {e:?}"));
                }
                None => {
                    let mut application = block_on(client.begin_application())
                        .unwrap_or_else(|e| panic!("{context}: {e:?}"));
                    let mut channel = CardChannel::new(world.transport(LinkSwitches::default()));
                    block_on(client.tap(&mut application, &mut channel, &pin(), &password()))
                        .unwrap();
                    let record = block_on(client.submit_application(&mut application))
                        .unwrap_or_else(|e| panic!("{context}: {e:?}"));
                    block_on(client.revoke(&record.record_id)).unwrap();
                }
            }
            assert!(world.in_force().is_empty(), "{context}");
            world.clock.set(start());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_revocation_left_unanswered_goes_first_and_no_re_issue_overtakes_it() {
    let world = World::new();
    let link = world.link();
    let client = world.client(
        link.clone(),
        Arc::new(Store::open_in_memory().unwrap()),
        software_area(),
    );
    let mut application = block_on(client.begin_application()).unwrap();
    let mut channel = CardChannel::new(world.transport(LinkSwitches::default()));
    block_on(client.tap(&mut application, &mut channel, &pin(), &password())).unwrap();
    let record = block_on(client.submit_application(&mut application)).unwrap();
    // The revocation's request (after its nonce) meets a 503.
    let sent = link.sent.load(Ordering::SeqCst);
    *link.fail.lock().unwrap() = Some((sent + 2, Fault::OutOfService));
    assert!(matches!(
        block_on(client.revoke(&record.record_id)),
        Err(WalletError::Authority(AuthorityError::OutOfService { .. }))
    ));
    // Meanwhile the record is not presented...
    let wanted = [mynakit_core::wallet::mdoc::ElementId::parse("age_over_18").unwrap()];
    assert!(matches!(
        block_on(client.present(&record.record_id, &wanted, &[0xf6])),
        Err(WalletError::RecordNotUsable { .. })
    ));
    // ...and a month later a refresh sends the revocation, not a re-issue.
    world.clock.advance(TimeDelta::days(31));
    let report = block_on(client.refresh()).unwrap();
    assert!(report.reissued.is_none());
    assert_eq!(
        client.record(&record.record_id).unwrap().status,
        RecordStatus::Revoked
    );
    assert!(world.in_force().is_empty());
}

#[test]
fn a_kept_re_issue_whose_nonce_lapsed_unsent_is_decided_afresh() {
    let world = World::new();
    let link = world.link();
    let client = world.client(
        link.clone(),
        Arc::new(Store::open_in_memory().unwrap()),
        software_area(),
    );
    let mut application = block_on(client.begin_application()).unwrap();
    let mut channel = CardChannel::new(world.transport(LinkSwitches::default()));
    block_on(client.tap(&mut application, &mut channel, &pin(), &password())).unwrap();
    let first = block_on(client.submit_application(&mut application)).unwrap();
    world.clock.advance(TimeDelta::days(31));
    // refresh: state, nonce, then the re-issue itself never arrives.
    let sent = link.sent.load(Ordering::SeqCst);
    *link.fail.lock().unwrap() = Some((sent + 3, Fault::Unreached));
    assert!(block_on(client.refresh()).is_err());
    // Ten minutes later the kept request's nonce has lapsed at the issuer.
    world.clock.advance(TimeDelta::minutes(10));
    let report = block_on(client.refresh()).unwrap();
    let reissued = report.reissued.expect("re-issued with a fresh nonce");
    assert_eq!(reissued.old_record_id, first.record_id);
    assert_eq!(world.in_force(), [reissued.new_record_id]);
}
