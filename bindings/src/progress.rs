//! Progress of a long tap ("step 2 of 4"), seen from the commands the core
//! sends.
//!
//! The core sends every APDU through [`WatchedTransport`], which sits between
//! the core's channel and the app's transport. It needs no hook in the core:
//! each operation has a fixed plan of stages, and the instruction byte of
//! each command says which stage the operation has reached.

use std::sync::{Arc, Mutex, PoisonError};

use mynakit_core::layout::ins;
use mynakit_core::{CardTransport, LinkCapabilities, TransportError};

/// Receives the steps of a card operation while the card is held to the
/// phone, so the app can show "step 2 of 4". Called on the thread that runs
/// the transport's exchange; keep it short and do not throw.
#[uniffi::export(with_foreign)]
pub trait ProgressListener: Send + Sync {
    /// The operation reached `step` of `total` (1-based). Steps an
    /// operation does not need (the PIN already verified in this session)
    /// are skipped, so `step` can jump. `label` is one of `"select"`,
    /// `"pin-counter"`, `"verify"`, `"read"`, `"sign"`: a stable key for the
    /// app's own wording, not text to show.
    fn on_step(&self, step: u32, total: u32, label: String);
}

/// A stage of an operation, recognised from the command sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// SELECT of an application.
    Select,
    /// The bare VERIFY that reads a PIN counter.
    PinCounter,
    /// VERIFY with the secret.
    Verify,
    /// READ BINARY (and SELECT of an EF).
    Read,
    /// COMPUTE DIGITAL SIGNATURE.
    Sign,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Self::Select => "select",
            Self::PinCounter => "pin-counter",
            Self::Verify => "verify",
            Self::Read => "read",
            Self::Sign => "sign",
        }
    }

    /// The stage a command belongs to; None for commands no plan names.
    fn of(command: &[u8]) -> Option<Self> {
        const SELECT_BY_NAME: u8 = 0x04;
        match (command.get(1).copied()?, command.get(2).copied()) {
            (ins::SELECT, Some(SELECT_BY_NAME)) => Some(Self::Select),
            (ins::SELECT, _) | (ins::READ_BINARY, _) => Some(Self::Read),
            (ins::VERIFY, _) if is_verify_with_data(command) => Some(Self::Verify),
            (ins::VERIFY, _) => Some(Self::PinCounter),
            (ins::COMPUTE_DIGITAL_SIGNATURE, _) => Some(Self::Sign),
            _ => None,
        }
    }
}

/// A VERIFY that carries a secret (a bare VERIFY is 4 bytes, or 5 with Le).
fn is_verify_with_data(command: &[u8]) -> bool {
    command.get(1) == Some(&ins::VERIFY) && command.len() > 5
}

/// The stages of each session operation, in order.
pub(crate) mod plan {
    use super::Stage::{self, *};

    /// Token kind, certificates present, PIN counters.
    pub(crate) const CARD_STATUS: &[Stage] = &[Select, Read, PinCounter];
    /// A certificate that needs no PIN.
    pub(crate) const READ_FREE: &[Stage] = &[Select, Read];
    /// One PIN counter.
    pub(crate) const PIN_STATUS: &[Stage] = &[Select, PinCounter];
    /// VERIFY alone.
    pub(crate) const VERIFY: &[Stage] = &[Select, PinCounter, Verify];
    /// VERIFY, then read (signing certificate, Kenhojo, Kenmen).
    pub(crate) const VERIFY_READ: &[Stage] = &[Select, PinCounter, Verify, Read];
    /// VERIFY, then sign.
    pub(crate) const VERIFY_SIGN: &[Stage] = &[Select, PinCounter, Verify, Sign];
}

/// What the watched transport knows about the running operation.
#[derive(Default)]
struct Watch {
    /// The running operation's plan and listener, when the app set one.
    progress: Option<(&'static [Stage], Arc<dyn ProgressListener>)>,
    /// Index in the plan of the last stage reported.
    reached: Option<usize>,
}

/// Shared between the session and its [`WatchedTransport`].
#[derive(Default, Clone)]
pub(crate) struct Watcher(Arc<Mutex<Watch>>);

impl Watcher {
    fn lock(&self) -> std::sync::MutexGuard<'_, Watch> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An operation starts: report its stages to `listener` (if any).
    pub(crate) fn start(
        &self,
        plan: &'static [Stage],
        listener: Option<Arc<dyn ProgressListener>>,
    ) {
        let mut watch = self.lock();
        watch.progress = listener.map(|l| (plan, l));
        watch.reached = None;
    }

    /// The operation ended (or was dropped): stop reporting.
    pub(crate) fn end(&self) {
        let mut watch = self.lock();
        watch.progress = None;
        watch.reached = None;
    }

    /// A command is about to be sent.
    fn sending(&self, command: &[u8]) {
        let report = {
            let mut watch = self.lock();
            let stage = Stage::of(command);
            let Watch {
                progress, reached, ..
            } = &mut *watch;
            match (progress.as_ref(), stage) {
                (Some((plan, listener)), Some(stage)) => {
                    let from = reached.map_or(0, |r| r + 1);
                    let found = plan
                        .iter()
                        .enumerate()
                        .skip(from)
                        .find(|(_, s)| **s == stage)
                        .map(|(i, _)| i);
                    found.map(|i| {
                        *reached = Some(i);
                        let step = u32::try_from(i + 1).unwrap_or(u32::MAX);
                        let total = u32::try_from(plan.len()).unwrap_or(u32::MAX);
                        (Arc::clone(listener), step, total, stage.label())
                    })
                }
                _ => None,
            }
        };
        // Called with the lock released: the listener may take its time.
        if let Some((listener, step, total, label)) = report {
            listener.on_step(step, total, label.to_owned());
        }
    }
}

/// The app's transport as the core sees it, watched by the session.
pub(crate) struct WatchedTransport {
    pub(crate) inner: Arc<dyn CardTransport>,
    pub(crate) watcher: Watcher,
}

#[async_trait::async_trait]
impl CardTransport for WatchedTransport {
    fn capabilities(&self) -> LinkCapabilities {
        self.inner.capabilities()
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.watcher.sending(command);
        self.inner.transmit(command).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Steps(Mutex<Vec<(u32, u32, String)>>);

    impl ProgressListener for Steps {
        fn on_step(&self, step: u32, total: u32, label: String) {
            self.0.lock().unwrap().push((step, total, label));
        }
    }

    #[test]
    fn commands_are_recognised_by_their_instruction() {
        assert_eq!(Stage::of(&[0, 0xA4, 4, 0x0C, 1, 2]), Some(Stage::Select));
        assert_eq!(Stage::of(&[0, 0xA4, 2, 0x0C, 2, 0, 1]), Some(Stage::Read));
        assert_eq!(Stage::of(&[0, 0xB0, 0x81, 0, 0]), Some(Stage::Read));
        assert_eq!(Stage::of(&[0, 0x20, 0, 0x81]), Some(Stage::PinCounter));
        assert_eq!(
            Stage::of(&[0, 0x20, 0, 0x81, 4, 1, 2, 3, 4]),
            Some(Stage::Verify)
        );
        assert_eq!(Stage::of(&[0x80, 0x2A, 0, 0x80, 1, 0]), Some(Stage::Sign));
        assert_eq!(Stage::of(&[0, 0x84, 0, 0, 8]), None);
        assert_eq!(Stage::of(&[0]), None);
    }

    #[test]
    fn steps_are_reported_once_in_order_and_skipped_stages_jump() {
        let watcher = Watcher::default();
        let steps = Arc::new(Steps(Mutex::new(Vec::new())));
        watcher.start(plan::VERIFY_SIGN, Some(steps.clone()));
        for command in [
            &[0u8, 0xA4, 4, 0x0C, 1, 2][..],
            &[0, 0xA4, 4, 0x0C, 1, 2][..], // a second SELECT: no new step
            &[0x80, 0x2A, 0, 0x80, 1, 0][..], // PIN already verified: straight to signing
            &[0, 0x20, 0, 0x81][..],       // a stage before the one reached: ignored
        ] {
            watcher.sending(command);
        }
        watcher.end();
        assert_eq!(
            *steps.0.lock().unwrap(),
            vec![(1, 4, "select".to_owned()), (4, 4, "sign".to_owned())]
        );
    }
}
