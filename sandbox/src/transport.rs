//! A [`CardTransport`] to the virtual card that behaves like a phone's NFC
//! link: it enforces extended-length support and the maximum transceive
//! length, can lose the card before or after the card acts on a command,
//! and can be slow.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mynakit_core::{CardTransport, LinkCapabilities, TransportError};

use crate::card::VirtualCard;

/// When, relative to the card, a removal happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalPoint {
    /// The command never reaches the card.
    BeforeCard,
    /// The card processes the command (a VERIFY spends its try), then the
    /// answer is lost.
    AfterCard,
}

/// A scheduled card removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    /// The exchange on this transport at which the card goes (1-based).
    pub exchange: usize,
    /// Whether the card sees that command.
    pub point: RemovalPoint,
}

/// What the simulated link can do, and what goes wrong on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSwitches {
    /// Extended-length APDUs pass (Android `isExtendedLengthApduSupported()`).
    pub extended_length: bool,
    /// Longest command or response, status word included
    /// (Android `getMaxTransceiveLength()`).
    pub max_transceive_length: u32,
    /// Remove the card at this exchange.
    pub remove_at: Option<Removal>,
    /// Time each exchange takes (slept on the calling thread).
    pub answer_delay: Duration,
}

impl Default for LinkSwitches {
    /// An extended-length link with room for a 64 KiB response, no removal, no delay.
    fn default() -> Self {
        Self {
            extended_length: true,
            max_transceive_length: 65_538,
            remove_at: None,
            answer_delay: Duration::ZERO,
        }
    }
}

impl LinkSwitches {
    /// A link limited to short APDUs (261 bytes), like many Android phones.
    pub fn short_only() -> Self {
        Self {
            extended_length: false,
            max_transceive_length: 261,
            ..Self::default()
        }
    }

    /// These switches with a removal at `exchange`.
    pub fn removing_at(self, exchange: usize, point: RemovalPoint) -> Self {
        Self {
            remove_at: Some(Removal { exchange, point }),
            ..self
        }
    }
}

#[derive(Debug, Default)]
struct LinkState {
    exchanges: usize,
    removed: bool,
}

/// The link to a shared [`VirtualCard`]. Blocking inside `transmit` (the
/// answer delay sleeps), so drive it with a blocking executor.
#[derive(Debug)]
pub struct VirtualTransport {
    card: Arc<Mutex<VirtualCard>>,
    switches: LinkSwitches,
    state: Mutex<LinkState>,
}

/// Locks a mutex even if a panicking test poisoned it: the card's state is
/// still consistent (it never panics mid-update).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// True when the command uses extended length fields (ISO 7816-4 §5.1: a
/// zero byte after the header, followed by at least two more bytes).
fn is_extended(command: &[u8]) -> bool {
    command.len() >= 7 && command[4] == 0x00
}

impl VirtualTransport {
    /// A link to `card` with `switches`.
    pub fn new(card: Arc<Mutex<VirtualCard>>, switches: LinkSwitches) -> Self {
        Self {
            card,
            switches,
            state: Mutex::new(LinkState::default()),
        }
    }

    /// The switches.
    pub fn switches(&self) -> &LinkSwitches {
        &self.switches
    }

    /// Exchanges attempted on this transport (including failed ones).
    pub fn exchanges(&self) -> usize {
        lock(&self.state).exchanges
    }

    /// True while the card is out of the field.
    pub fn is_removed(&self) -> bool {
        lock(&self.state).removed
    }

    /// Takes the card away now: it loses power, and every exchange fails
    /// with [`TransportError::CardRemoved`] until [`Self::reinsert`].
    pub fn remove(&self) {
        lock(&self.state).removed = true;
        lock(&self.card).power_cycle();
    }

    /// Brings the card back (powered up afresh: selection and PIN state are gone).
    pub fn reinsert(&self) {
        lock(&self.card).power_cycle();
        lock(&self.state).removed = false;
    }

    /// The shared card.
    pub fn card(&self) -> MutexGuard<'_, VirtualCard> {
        lock(&self.card)
    }

    fn link_error(message: String) -> TransportError {
        TransportError::Link { message }
    }

    /// One exchange, synchronously.
    pub fn exchange(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let removal = {
            let mut state = lock(&self.state);
            state.exchanges += 1;
            if state.removed {
                return Err(TransportError::CardRemoved);
            }
            self.switches
                .remove_at
                .filter(|r| r.exchange == state.exchanges)
                .map(|r| r.point)
        };
        if removal == Some(RemovalPoint::BeforeCard) {
            self.remove();
            return Err(TransportError::CardRemoved);
        }
        if is_extended(command) && !self.switches.extended_length {
            return Err(Self::link_error(
                "extended-length APDU on a link without extended length".into(),
            ));
        }
        let limit = usize::try_from(self.switches.max_transceive_length).unwrap_or(usize::MAX);
        if command.len() > limit {
            return Err(Self::link_error(format!(
                "command of {} bytes exceeds the transceive limit of {limit}",
                command.len()
            )));
        }
        if !self.switches.answer_delay.is_zero() {
            std::thread::sleep(self.switches.answer_delay);
        }
        let response = lock(&self.card).process(command);
        if removal == Some(RemovalPoint::AfterCard) {
            self.remove();
            return Err(TransportError::CardRemoved);
        }
        if response.len() > limit {
            // The card has acted; the phone just cannot take the answer.
            return Err(Self::link_error(format!(
                "response of {} bytes exceeds the transceive limit of {limit}",
                response.len()
            )));
        }
        Ok(response)
    }
}

#[async_trait::async_trait]
impl CardTransport for VirtualTransport {
    fn capabilities(&self) -> LinkCapabilities {
        LinkCapabilities {
            extended_length: self.switches.extended_length,
            max_transceive_length: self.switches.max_transceive_length,
        }
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.exchange(command)
    }
}
