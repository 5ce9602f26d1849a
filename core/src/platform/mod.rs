//! The services the phone (or desktop) implements for the core: the card
//! transport and the clock. They know nothing of the card's files or of the
//! apps; every trait is object-safe, so a front end holds `Arc<dyn …>`.

mod clock;
mod transport;

pub use clock::{Clock, SystemClock};
pub use transport::{CardTransport, LinkCapabilities, TransportError};
