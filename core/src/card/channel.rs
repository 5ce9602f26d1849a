//! The card channel: one session's view of the card over a transport.
//!
//! It knows which application is selected (so it never sends a redundant
//! SELECT), which PINs are verified, whether extended length works on this
//! link, and it records every exchange. It never resends a command whose
//! repetition could spend a PIN try or produce a second signature.

use std::time::Instant;

use zeroize::Zeroizing;

use super::apdu::{CommandApdu, MAX_EXTENDED_NE, MAX_SHORT_NE, ResponseApdu};
use super::error::{CardError, HeaderError, Malformation, Unsupported};
use super::layout::{Application, FileId, ins};
use super::status::Status;
use super::transcript::{Answer, Exchange, Transcript};
use crate::platform::{CardTransport, LinkCapabilities};

/// Whether the channel may send a command again when the card asks for a
/// different `Le` (`6Cxx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Repeating the command has no effect on the card (SELECT, READ BINARY, bare VERIFY).
    Allowed,
    /// Repeating could spend a PIN try or sign twice (VERIFY with data, signing).
    Never,
}

/// How long an EF's content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentLength {
    /// One BER-TLV object (a DER certificate, an `FF 20` record): its header says.
    Tlv,
    /// Exactly this many bytes.
    Exact(usize),
}

/// A PIN this session verified, with the VERIFY data that did it, so that a
/// later check of a *different* PIN is sent to the card instead of being
/// answered "verified" (a verified PIN is not a correct PIN).
struct VerifiedPin {
    pin: FileId,
    data: Zeroizing<Vec<u8>>,
}

/// A VERIFY with data that was sent and never answered because the caller
/// dropped the operation (a Kotlin coroutine or Swift task cancelled): the
/// card may have counted a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterruptedVerify {
    /// The application the PIN belongs to.
    pub app: Application,
    /// The PIN.
    pub pin: FileId,
}

/// A session with one card over one transport.
pub struct CardChannel<T = std::sync::Arc<dyn CardTransport>> {
    transport: T,
    capabilities: LinkCapabilities,
    selected: Option<Application>,
    verified: Vec<VerifiedPin>,
    verify_in_flight: Option<InterruptedVerify>,
    extended_refused: bool,
    transcript: Transcript,
}

impl<T: CardTransport> CardChannel<T> {
    /// Opens a session; nothing is sent until the first operation.
    pub fn new(transport: T) -> Self {
        let capabilities = transport.capabilities();
        Self {
            transport,
            capabilities,
            selected: None,
            verified: Vec::new(),
            verify_in_flight: None,
            extended_refused: false,
            transcript: Transcript::default(),
        }
    }

    /// Every exchange of this session.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// What the link can carry.
    pub fn capabilities(&self) -> LinkCapabilities {
        self.capabilities
    }

    /// True while extended length is believed to work on this link and card.
    pub fn uses_extended_length(&self) -> bool {
        self.capabilities.extended_length && !self.extended_refused
    }

    /// True once the card or link refused an extended-length command in this
    /// session (the session then reads short). A platform can remember this
    /// per reader and report `extended_length: false` next time, saving the
    /// APDU that learns it again.
    pub fn extended_length_refused(&self) -> bool {
        self.extended_refused
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Forgets what the card had selected and verified (after a reset or reconnect).
    pub fn forget_card_state(&mut self) {
        self.selected = None;
        self.verified.clear();
    }

    /// True when `pin` was verified in the currently selected application during this session.
    pub fn is_verified(&self, app: Application, pin: FileId) -> bool {
        self.selected == Some(app) && self.verified.iter().any(|v| v.pin == pin)
    }

    /// True when `pin` was verified in the selected application `app` with
    /// exactly this VERIFY data.
    pub(crate) fn is_verified_with(&self, app: Application, pin: FileId, data: &[u8]) -> bool {
        self.selected == Some(app)
            && self
                .verified
                .iter()
                .any(|v| v.pin == pin && same_secret(&v.data, data))
    }

    pub(crate) fn mark_verified(&mut self, pin: FileId, data: &[u8]) {
        self.mark_unverified(pin);
        self.verified.push(VerifiedPin {
            pin,
            data: Zeroizing::new(data.to_vec()),
        });
    }

    pub(crate) fn mark_unverified(&mut self, pin: FileId) {
        self.verified.retain(|v| v.pin != pin);
    }

    /// The VERIFY that was in flight when an earlier operation was dropped,
    /// if any. It stays set until [`Self::resolve_interrupted_verify`] or
    /// [`Self::take_interrupted_verify`] clears it; forgetting the card state
    /// does not clear it.
    pub fn interrupted_verify(&self) -> Option<InterruptedVerify> {
        self.verify_in_flight
    }

    /// Clears and returns the interrupted VERIFY, without reading the counter.
    pub fn take_interrupted_verify(&mut self) -> Option<InterruptedVerify> {
        self.verify_in_flight.take()
    }

    pub(crate) fn set_verify_in_flight(&mut self, verify: Option<InterruptedVerify>) {
        self.verify_in_flight = verify;
    }

    /// One exchange, recorded. A transport failure leaves the card state unknown.
    async fn exchange(&mut self, command: &CommandApdu) -> Result<ResponseApdu, CardError> {
        let encoded = Zeroizing::new(
            command
                .to_bytes()
                .map_err(|e| CardError::NotSupported { what: e.into() })?,
        );
        if command.needs_extended() && !self.capabilities.extended_length {
            return Err(CardError::NotSupported {
                what: Unsupported::ExtendedOnShortLink,
            });
        }
        let max = u64::from(self.capabilities.max_transceive_length);
        if encoded.len() as u64 > max {
            return Err(CardError::NotSupported {
                what: Unsupported::CommandTooLong {
                    length: encoded.len(),
                    max: self.capabilities.max_transceive_length,
                },
            });
        }
        // Refuse before sending when the answer could not come back: a card
        // that signed and then lost the signature to the link helps nobody.
        if let Some(ne) = command.ne
            && u64::from(ne) + 2 > max
        {
            return Err(CardError::NotSupported {
                what: Unsupported::AnswerTooLong {
                    ne,
                    max: self.capabilities.max_transceive_length,
                },
            });
        }
        let started = Instant::now();
        // The answer may carry personal data: wipe the raw bytes once parsed.
        let outcome = self.transport.transmit(&encoded).await.map(Zeroizing::new);
        let answer = outcome
            .as_ref()
            .map(|bytes| Answer::of(bytes))
            .map_err(Clone::clone);
        self.transcript.push(Exchange::record(
            command,
            &encoded,
            answer,
            started.elapsed(),
        ));
        match outcome {
            Ok(bytes) => {
                ResponseApdu::parse(&bytes).map_err(|e| CardError::malformed("response APDU", e))
            }
            Err(e) => {
                self.forget_card_state();
                Err(e.into())
            }
        }
    }

    /// Sends a command, fetching `61xx` remainders with GET RESPONSE and, where
    /// `resend` allows, repeating a command the card answered with `6Cxx`.
    pub async fn send(
        &mut self,
        command: &CommandApdu,
        resend: Resend,
    ) -> Result<ResponseApdu, CardError> {
        let mut response = self.exchange(command).await?;
        if let Status::WrongLe(ne) = response.sw.meaning() {
            if resend == Resend::Never {
                return Ok(response);
            }
            let mut again = command.clone();
            again.ne = Some(u32::from(ne));
            response = self.exchange(&again).await?;
        }
        // The card has already executed the command; GET RESPONSE only collects the rest.
        let mut data = Zeroizing::new(std::mem::take(&mut response.data));
        for _ in 0..256 {
            let Status::BytesRemaining(n) = response.sw.meaning() else {
                break;
            };
            let get = CommandApdu::new(0x00, ins::GET_RESPONSE, 0, 0).expect(u32::from(n));
            response = self.exchange(&get).await?;
            append_wiping(&mut data, &response.data, None);
        }
        response.data = std::mem::take(&mut *data);
        Ok(response)
    }

    /// Selects an application unless it is already selected. Returns true
    /// when a SELECT was sent, false when the cached selection was relied on.
    pub async fn select(&mut self, app: Application) -> Result<bool, CardError> {
        if self.selected == Some(app) {
            return Ok(false);
        }
        let command = CommandApdu::new(0x00, ins::SELECT, 0x04, 0x0C).with_data(app.aid());
        let response = self.send(&command, Resend::Allowed).await?;
        match response.sw.meaning() {
            Status::Ok => {
                // The card drops the security state of the application it leaves.
                self.verified.clear();
                self.selected = Some(app);
                Ok(true)
            }
            Status::FileNotFound => {
                self.selected = None;
                Err(CardError::NotFound {
                    what: app_name(app),
                })
            }
            _ => Err(CardError::UnexpectedStatus {
                command: "SELECT",
                sw: response.sw,
            }),
        }
    }

    /// Selects an EF of the current application by file identifier.
    async fn select_ef(&mut self, ef: FileId) -> Result<(), CardError> {
        let command = CommandApdu::new(0x00, ins::SELECT, 0x02, 0x0C).with_data(ef.fid());
        let response = self.send(&command, Resend::Allowed).await?;
        match response.sw.meaning() {
            Status::Ok => Ok(()),
            Status::FileNotFound => Err(CardError::NotFound { what: "file" }),
            _ => Err(CardError::UnexpectedStatus {
                command: "SELECT EF",
                sw: response.sw,
            }),
        }
    }

    /// The most a READ BINARY may ask for on this link.
    fn max_read(&self) -> Result<u32, CardError> {
        let room = self.capabilities.max_transceive_length.saturating_sub(2);
        if room == 0 {
            return Err(CardError::NotSupported {
                what: Unsupported::NoRoomForData,
            });
        }
        let cap = if self.uses_extended_length() {
            MAX_EXTENDED_NE
        } else {
            MAX_SHORT_NE
        };
        Ok(room.min(cap))
    }

    /// Reads an EF of `app` in as few READ BINARY commands as the link allows:
    /// the first by short EF identifier (no SELECT EF), the rest by offset.
    ///
    /// The content may be personal data: it comes back in a buffer that is
    /// wiped on drop, and growing it never leaves a copy behind.
    pub async fn read_ef(
        &mut self,
        app: Application,
        ef: FileId,
        content: ContentLength,
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, CardError> {
        let mut fresh = self.select(app).await?;
        let mut buf: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
        let mut total = match content {
            ContentLength::Exact(n) => Some(n),
            ContentLength::Tlv => None,
        };
        let mut reselected = false;
        loop {
            let offset = buf.len();
            let max = self.max_read()?;
            let ne = match total {
                // Ask for exactly what is left, so short files never hit the end of the EF.
                Some(t) => u32::try_from(t - offset).unwrap_or(u32::MAX).min(max),
                None => max,
            };
            let command = if offset == 0 {
                CommandApdu::new(0x00, ins::READ_BINARY, ef.read_p1(), 0).expect(ne)
            } else {
                let offset = u16::try_from(offset).ok().filter(|o| *o <= 0x7FFF).ok_or(
                    CardError::NotSupported {
                        what: Unsupported::FileBeyondOffsetRange,
                    },
                )?;
                let [p1, p2] = offset.to_be_bytes();
                CommandApdu::new(0x00, ins::READ_BINARY, p1, p2).expect(ne)
            };
            let response = self.send(&command, Resend::Allowed).await?;
            match response.sw.meaning() {
                Status::Ok | Status::EndOfFile => {}
                Status::WrongLength if command.needs_extended() => {
                    // The card (or a link that claimed otherwise) refuses extended
                    // length: remember that for the session and read short.
                    self.extended_refused = true;
                    continue;
                }
                Status::NoCurrentEf | Status::IncorrectParameters if offset > 0 && !reselected => {
                    // A card that does not keep the SFI-read EF current: select it once.
                    reselected = true;
                    self.select_ef(ef).await?;
                    continue;
                }
                Status::FileNotFound | Status::NoCurrentEf if offset == 0 && !fresh => {
                    // The card lost the selection we relied on (a reset the
                    // link did not report): select again, once.
                    self.forget_card_state();
                    fresh = self.select(app).await?;
                    continue;
                }
                Status::SecurityStatusNotSatisfied => {
                    // The card no longer holds a verified PIN (reset, or another
                    // session): stop relying on it so the next call verifies.
                    self.verified.clear();
                    return Err(CardError::PinRequired);
                }
                Status::FileNotFound => return Err(CardError::NotFound { what }),
                Status::OffsetOutsideEf => {
                    return Err(CardError::malformed(what, Malformation::EndsAt { offset }));
                }
                _ => {
                    return Err(CardError::UnexpectedStatus {
                        command: "READ BINARY",
                        sw: response.sw,
                    });
                }
            }
            if response.data.is_empty() {
                return Err(CardError::malformed(what, Malformation::NoData { offset }));
            }
            let short_read = response.sw.meaning() == Status::EndOfFile
                || (response.data.len() as u64) < u64::from(ne);
            append_wiping(&mut buf, &response.data, total);
            if total.is_none() {
                total = tlv_total_length(&buf).map_err(|e| CardError::malformed(what, e))?;
            }
            match total {
                Some(t) if buf.len() >= t => {
                    buf.truncate(t);
                    return Ok(buf);
                }
                _ if short_read => {
                    return Err(CardError::malformed(
                        what,
                        Malformation::EndedAfter { read: buf.len() },
                    ));
                }
                _ => {}
            }
        }
    }
}

/// The whole length (header included) of the BER-TLV object starting `bytes`,
/// or `None` if more bytes are needed to know it.
pub(crate) fn tlv_total_length(bytes: &[u8]) -> Result<Option<usize>, HeaderError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    if first == 0x00 || first == 0xFF && bytes.get(1).is_none_or(|b| *b == 0xFF) {
        return Err(HeaderError::Unwritten { first });
    }
    let mut pos = 1;
    if first & 0x1F == 0x1F {
        loop {
            let Some(&b) = bytes.get(pos) else {
                return Ok(None);
            };
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
            if pos > 4 {
                return Err(HeaderError::LongTag);
            }
        }
    }
    let Some(&len0) = bytes.get(pos) else {
        return Ok(None);
    };
    pos += 1;
    let content = match len0 {
        0..=0x7F => usize::from(len0),
        0x81..=0x84 => {
            let n = usize::from(len0 & 0x7F);
            let Some(len_bytes) = bytes.get(pos..pos + n) else {
                return Ok(None);
            };
            pos += n;
            len_bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        }
        _ => return Err(HeaderError::Length(len0)),
    };
    pos.checked_add(content)
        .map(Some)
        .ok_or(HeaderError::Overflow)
}

/// Appends `extra` to `buf`. When `buf` must grow, the bytes move to a new
/// buffer (sized for `expected_total` when known) and the old one is wiped,
/// so no copy of card data is left in freed memory.
fn append_wiping(buf: &mut Zeroizing<Vec<u8>>, extra: &[u8], expected_total: Option<usize>) {
    let needed = buf.len().saturating_add(extra.len());
    if buf.capacity() < needed {
        let capacity = expected_total.unwrap_or(0).max(needed);
        let mut grown = Zeroizing::new(Vec::with_capacity(capacity));
        grown.extend_from_slice(buf);
        // The old buffer is wiped when `grown` replaces it.
        *buf = grown;
    }
    buf.extend_from_slice(extra);
}

/// Compares two secrets without an early exit on the first difference.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn app_name(app: Application) -> &'static str {
    match app {
        Application::Jpki => "JPKI application",
        Application::Kenhojo => "Kenhojo application",
        Application::Kenmen => "Kenmen application",
        Application::Common => "common card application",
    }
}

#[cfg(test)]
mod tests {
    use super::tlv_total_length;

    #[test]
    fn tlv_lengths() {
        assert_eq!(
            tlv_total_length(&[0x30, 0x82, 0x05, 0xDC]),
            Ok(Some(4 + 0x5DC))
        );
        assert_eq!(tlv_total_length(&[0x30, 0x82, 0x05]), Ok(None));
        assert_eq!(
            tlv_total_length(&[0xFF, 0x20, 0x82, 0x01, 0x00]),
            Ok(Some(5 + 256))
        );
        assert_eq!(tlv_total_length(&[0xFF, 0x10, 0x0C]), Ok(Some(15)));
        assert_eq!(tlv_total_length(&[0xDF, 0x21, 0x03]), Ok(Some(6)));
        assert!(tlv_total_length(&[0xFF, 0xFF, 0xFF]).is_err());
        assert!(tlv_total_length(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_err());
        assert_eq!(tlv_total_length(&[]), Ok(None));
    }
}
