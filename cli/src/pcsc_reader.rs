//! PC/SC readers (pcsc-lite on Linux, WinSCard elsewhere) as a card
//! transport: finding a reader with a card (and waiting for one), the link
//! capabilities, and PC/SC errors mapped to [`TransportError`].
//!
//! The session holds the card exclusively: the core remembers which
//! application is selected and which PIN is verified, and another program
//! sending a SELECT in between would silently invalidate that.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use mynakit_core::{CardError, CardTransport, LinkCapabilities, TransportError};
use pcsc::{
    Attribute, Card, Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State,
};
use serde::Serialize;

use crate::failure::Failure;

/// How long one APDU may take before the reader is given up on. A real card
/// signs in about a second; NFC peers allow 5–20 s (card-protocol.md).
pub const APDU_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the wait for a card looks at the readers again.
const POLL: Duration = Duration::from_millis(250);

/// The ATR of the My Number card (card-protocol.md, after OpenSC).
const MY_NUMBER_ATR: [u8; 9] = [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14];

/// A reader as `mynakit readers` lists it.
#[derive(Debug, Serialize)]
pub struct ReaderInfo {
    /// The PC/SC reader name (what `--reader pcsc:"NAME"` takes).
    pub name: String,
    /// What is in it.
    pub card: CardPresence,
    /// The card's ATR, hex.
    pub atr: Option<String>,
    /// The ATR is the My Number card's.
    pub my_number_card: bool,
}

/// The state of a reader's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CardPresence {
    /// No card.
    Empty,
    /// A card, free to use.
    Present,
    /// A card another program holds exclusively.
    InUse,
    /// A card that does not answer reset.
    Mute,
}

fn service_failure(e: pcsc::Error) -> Failure {
    Failure::Other(format!(
        "the PC/SC service is not available: {e} (is pcscd running?)"
    ))
}

/// Every reader the PC/SC service knows, with its slot state.
pub fn list_readers() -> Result<Vec<ReaderInfo>, Failure> {
    let ctx = Context::establish(Scope::User).map_err(service_failure)?;
    let mut states = reader_states(&ctx)?;
    Ok(states
        .iter_mut()
        .map(|state| {
            let event = state.event_state();
            let card = if event.contains(State::MUTE) {
                CardPresence::Mute
            } else if event.contains(State::EXCLUSIVE) {
                CardPresence::InUse
            } else if event.contains(State::PRESENT) {
                CardPresence::Present
            } else {
                CardPresence::Empty
            };
            let atr = (card != CardPresence::Empty && !state.atr().is_empty())
                .then(|| mynakit_core::Hex(state.atr()).to_string());
            ReaderInfo {
                name: state.name().to_string_lossy().into_owned(),
                card,
                atr,
                my_number_card: state.atr() == MY_NUMBER_ATR,
            }
        })
        .collect())
}

/// The current state of every reader (none when there are no readers).
fn reader_states(ctx: &Context) -> Result<Vec<ReaderState>, Failure> {
    let names = match ctx.list_readers_owned() {
        Ok(names) => names,
        Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
        Err(e) => return Err(service_failure(e)),
    };
    let mut states: Vec<ReaderState> = names
        .into_iter()
        .map(|name| ReaderState::new(name, State::UNAWARE))
        .collect();
    if !states.is_empty() {
        // With UNAWARE states this returns at once with the current state.
        match ctx.get_status_change(Duration::ZERO, &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(pcsc::Error::UnknownReader) => return Ok(Vec::new()),
            Err(e) => return Err(service_failure(e)),
        }
    }
    Ok(states)
}

/// Where the card should be: the first reader with a card, or a named one.
fn wanted(state: &ReaderState, selector: Option<&str>) -> bool {
    let name = state.name().to_string_lossy();
    selector.is_none_or(|s| name == s || name.starts_with(s))
}

/// Opens a session with the card in the first reader with a card whose
/// name is, or starts with, `selector` (any reader without one). Waits up to `wait`
/// for a card (and for the reader to be free), saying so on standard error.
pub fn open(selector: Option<&str>, wait: Duration) -> Result<PcscTransport, Failure> {
    let ctx = Context::establish(Scope::User).map_err(service_failure)?;
    let deadline = Instant::now() + wait;
    let place = selector.map_or_else(|| "any reader".to_owned(), |s| format!("reader {s:?}"));
    let mut said = None::<&'static str>;
    loop {
        let states = reader_states(&ctx)?;
        let mut why_waiting = if states.iter().any(|s| wanted(s, selector)) {
            "waiting for a card in"
        } else {
            "waiting for"
        };
        let candidates = states.iter().filter(|s| {
            wanted(s, selector)
                && s.event_state().contains(State::PRESENT)
                && !s.event_state().contains(State::MUTE)
        });
        for state in candidates {
            match ctx.connect(state.name(), ShareMode::Exclusive, Protocols::ANY) {
                Ok(card) => {
                    let name = state.name().to_owned();
                    return Ok(PcscTransport::new(ctx, name, card));
                }
                Err(pcsc::Error::SharingViolation) => {
                    why_waiting = "waiting for another program to release the card in";
                }
                // The card left between listing and connecting: keep waiting.
                Err(
                    pcsc::Error::NoSmartcard
                    | pcsc::Error::RemovedCard
                    | pcsc::Error::UnpoweredCard
                    | pcsc::Error::UnresponsiveCard
                    | pcsc::Error::ReaderUnavailable,
                ) => {}
                Err(e) => {
                    return Err(Failure::Card(CardError::Transport(TransportError::Link {
                        message: format!("PC/SC connect: {e}"),
                    })));
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::Card(CardError::Transport(TransportError::NoCard)));
        }
        if said != Some(why_waiting) {
            note!(
                "mynakit: {why_waiting} {place} (up to {} s; --wait changes this)…",
                left.as_secs().max(1)
            );
            said = Some(why_waiting);
        }
        std::thread::sleep(POLL.min(left));
    }
}

/// What the reader says about APDU sizes: `SCARD_ATTR_MAXINPUT`, the
/// largest APDU it takes. Unknown (most drivers do not say) means
/// extended length is claimed and the core falls back to short APDUs if
/// the card answers `6700`.
fn capabilities(card: &Card) -> LinkCapabilities {
    let max_input = card
        .get_attribute_owned(Attribute::Maxinput)
        .ok()
        .and_then(|v| v.get(..4).and_then(|b| b.try_into().ok()))
        .map(u32::from_le_bytes)
        .filter(|n| *n > 0);
    match max_input {
        None => LinkCapabilities::EXTENDED,
        Some(n) if n >= LinkCapabilities::EXTENDED.max_transceive_length => {
            LinkCapabilities::EXTENDED
        }
        // A reader that takes more than a short APDU takes extended ones.
        Some(n) => LinkCapabilities {
            extended_length: n > LinkCapabilities::SHORT_ONLY.max_transceive_length,
            max_transceive_length: n.max(LinkCapabilities::SHORT_ONLY.max_transceive_length),
        },
    }
}

/// The part of the session a transmit thread shares.
struct Shared {
    ctx: Context,
    reader: CString,
    card: Mutex<Option<Card>>,
}

/// Maps a PC/SC error to what it means for the session.
fn map_error(e: pcsc::Error, card_gone: impl Fn() -> bool) -> TransportError {
    use pcsc::Error as E;
    match e {
        // The card left, was reset or lost power: the session's state is gone.
        E::RemovedCard | E::ResetCard | E::UnpoweredCard | E::ReaderUnavailable => {
            TransportError::CardRemoved
        }
        E::NoSmartcard => TransportError::NoCard,
        E::Timeout | E::WaitedTooLong => TransportError::Timeout,
        // A transfer broken off: a card leaving mid-APDU looks like this
        // until pcscd notices the slot is empty.
        E::NotTransacted | E::CommError | E::CommDataLost | E::UnresponsiveCard if card_gone() => {
            TransportError::CardRemoved
        }
        other => TransportError::Link {
            message: format!("PC/SC: {other}"),
        },
    }
}

impl Shared {
    /// True when the reader's slot is (or within a moment becomes) empty.
    fn card_gone(&self) -> bool {
        let mut states = [ReaderState::new(self.reader.clone(), State::UNAWARE)];
        if self
            .ctx
            .get_status_change(Duration::ZERO, &mut states)
            .is_err()
        {
            return true;
        }
        let present = |s: &ReaderState| s.event_state().contains(State::PRESENT);
        if !present(&states[0]) {
            return true;
        }
        // pcscd polls the reader for presence: give it a moment to notice.
        states[0].sync_current_state();
        match self
            .ctx
            .get_status_change(Duration::from_millis(1500), &mut states)
        {
            Ok(()) => !present(&states[0]),
            Err(_) => false,
        }
    }

    fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let guard = self.card.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(card) = guard.as_ref() else {
            return Err(TransportError::CardRemoved);
        };
        let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        match card.transmit(command, &mut buffer) {
            Ok(response) if response.len() >= 2 => Ok(response.to_vec()),
            // A completed APDU always ends in SW1 SW2. vpcd (and some
            // drivers) report a transfer the card broke off by leaving as
            // success with no bytes: treat it as the broken transfer it is.
            Ok(_) if self.card_gone() => Err(TransportError::CardRemoved),
            Ok(response) => Err(TransportError::Link {
                message: format!(
                    "the reader returned {} bytes, without a status word",
                    response.len()
                ),
            }),
            Err(e) => Err(map_error(e, || self.card_gone())),
        }
    }
}

/// A session with the card in one PC/SC reader.
pub struct PcscTransport {
    shared: Arc<Shared>,
    capabilities: LinkCapabilities,
    /// Set when an APDU outlived [`APDU_TIMEOUT`]: its thread still holds the card.
    stuck: Arc<AtomicBool>,
}

impl PcscTransport {
    fn new(ctx: Context, reader: CString, card: Card) -> Self {
        let capabilities = capabilities(&card);
        Self {
            shared: Arc::new(Shared {
                ctx,
                reader,
                card: Mutex::new(Some(card)),
            }),
            capabilities,
            stuck: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The reader's name.
    pub fn reader_name(&self) -> String {
        self.shared.reader.to_string_lossy().into_owned()
    }

    /// One APDU, synchronously, bounded by [`APDU_TIMEOUT`]. A PC/SC
    /// transmit cannot be cancelled, so it runs on its own thread; if it
    /// hangs, the session is over and the thread is left behind.
    fn exchange(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.stuck.load(Ordering::SeqCst) {
            return Err(TransportError::Timeout);
        }
        let (tx, rx) = mpsc::channel();
        let shared = Arc::clone(&self.shared);
        let command = command.to_vec();
        std::thread::spawn(move || {
            let _ = tx.send(shared.transmit(&command));
        });
        rx.recv_timeout(APDU_TIMEOUT).unwrap_or_else(|_| {
            self.stuck.store(true, Ordering::SeqCst);
            Err(TransportError::Timeout)
        })
    }
}

impl Drop for PcscTransport {
    /// Powers the card down on the way out: the card keeps a verified PIN
    /// across a warm reset (card-protocol.md), and no PIN this session
    /// verified should outlive it for the next program.
    fn drop(&mut self) {
        if self.stuck.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut guard) = self.shared.card.try_lock()
            && let Some(card) = guard.take()
        {
            let _ = card.disconnect(Disposition::UnpowerCard);
        }
    }
}

#[async_trait::async_trait]
impl CardTransport for PcscTransport {
    fn capabilities(&self) -> LinkCapabilities {
        self.capabilities
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.exchange(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_what_they_mean_for_the_session() {
        let gone = || true;
        let here = || false;
        assert_eq!(
            map_error(pcsc::Error::RemovedCard, here),
            TransportError::CardRemoved
        );
        assert_eq!(
            map_error(pcsc::Error::ResetCard, here),
            TransportError::CardRemoved
        );
        assert_eq!(
            map_error(pcsc::Error::NoSmartcard, here),
            TransportError::NoCard
        );
        assert_eq!(
            map_error(pcsc::Error::Timeout, here),
            TransportError::Timeout
        );
        assert_eq!(
            map_error(pcsc::Error::NotTransacted, gone),
            TransportError::CardRemoved
        );
        assert!(matches!(
            map_error(pcsc::Error::NotTransacted, here),
            TransportError::Link { .. }
        ));
        assert!(matches!(
            map_error(pcsc::Error::InvalidParameter, gone),
            TransportError::Link { .. }
        ));
    }
}
