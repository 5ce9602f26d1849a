//! Serving the virtual card to a real PC/SC stack through vsmartcard's
//! `vpcd` reader driver, so that pcscd — and every PC/SC client behind it,
//! our own reader or OpenSC — talks to a [`VirtualCard`].
//!
//! The card is the TCP *client*: vpcd listens (port 35963 for the reader
//! "Virtual PCD 00 00"), connecting inserts the card and closing the
//! connection removes it. Both directions carry frames of a big-endian
//! `u16` length and a payload. A one-byte payload from vpcd is a control
//! code — 0 power off, 1 power on, 2 reset, 4 "send the ATR" (answered with
//! a framed ATR; the others get no answer). Any other payload is a command
//! APDU, answered with one framed response APDU.
//!
//! The link's fault switches ([`LinkSwitches`]) mean here what they mean
//! for an in-process card, as far as a card can show them over PC/SC: a
//! removal closes the connection (before or after the card acted), an
//! answer delay makes the card slow, and a link without extended length or
//! with a transceive limit gets `6700` for commands it could not carry.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mynakit_core::CommandApdu;
use mynakit_core::StatusWord;

use crate::card::VirtualCard;
use crate::card_transcript::TranscriptWriter;
use crate::transport::{LinkSwitches, RemovalPoint};

/// How often a blocked read wakes up to look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Control codes vpcd sends as one-byte payloads.
mod control {
    pub const POWER_OFF: u8 = 0;
    pub const POWER_ON: u8 = 1;
    pub const RESET: u8 = 2;
    pub const ATR: u8 = 4;
}

/// Why serving the card stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// vpcd closed the connection (pcscd stopped).
    ReaderClosed,
    /// The scheduled removal happened at this command (1-based).
    Removed {
        /// The command at which the card went away.
        at: usize,
    },
    /// The stop flag was raised (SIGTERM); the card left, mid-command if one
    /// was being answered.
    Stopped,
}

/// Why the card could not be served.
#[derive(Debug, thiserror::Error)]
pub enum VpcdError {
    /// No vpcd listened at the address within the time allowed.
    #[error("could not reach vpcd at {addr}: {source} (is pcscd with vsmartcard-vpcd running?)")]
    Connect {
        /// The address tried.
        addr: String,
        /// The last connection error.
        source: io::Error,
    },
    /// The connection failed in another way than being closed.
    #[error("vpcd connection failed: {0}")]
    Io(#[from] io::Error),
    /// vpcd sent a frame this card cannot answer.
    #[error("vpcd protocol error: {0}")]
    Protocol(String),
}

/// Connects to vpcd at `addr`, retrying until `patience` runs out (pcscd
/// may still be starting) or `stop` is raised.
pub fn connect(addr: &str, patience: Duration, stop: &AtomicBool) -> Result<TcpStream, VpcdError> {
    let deadline = Instant::now() + patience;
    loop {
        let attempt = addr.to_socket_addrs().and_then(|mut addrs| {
            addrs
                .next()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
                .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)))
        });
        match attempt {
            Ok(stream) => {
                // One frame per write and no Nagle delay: otherwise every
                // answer waits for a delayed ACK (about 40 ms per APDU).
                stream.set_nodelay(true)?;
                stream.set_read_timeout(Some(POLL))?;
                return Ok(stream);
            }
            Err(source) if Instant::now() >= deadline || stop.load(Ordering::SeqCst) => {
                return Err(VpcdError::Connect {
                    addr: addr.to_owned(),
                    source,
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// What the next frame from vpcd turned out to be.
enum Incoming {
    Frame(Vec<u8>),
    Closed,
    Stopped,
}

/// Reassembles frames from a stream that may time out mid-frame.
struct FrameReader {
    buffer: Vec<u8>,
}

impl FrameReader {
    fn take_frame(&mut self) -> Option<Vec<u8>> {
        let [hi, lo, ..] = self.buffer[..] else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if self.buffer.len() < 2 + len {
            return None;
        }
        let frame = self.buffer[2..2 + len].to_vec();
        self.buffer.drain(..2 + len);
        Some(frame)
    }

    fn next<S: Read + QuickAck>(
        &mut self,
        stream: &mut S,
        stop: &AtomicBool,
    ) -> io::Result<Incoming> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(frame) = self.take_frame() {
                return Ok(Incoming::Frame(frame));
            }
            if stop.load(Ordering::SeqCst) {
                return Ok(Incoming::Stopped);
            }
            match stream.read(&mut chunk) {
                Ok(0) => return Ok(Incoming::Closed),
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    stream.quick_ack();
                }
                Err(e) if is_poll_wakeup(&e) => {}
                Err(e) if is_closed(&e) => return Ok(Incoming::Closed),
                Err(e) => return Err(e),
            }
        }
    }
}

/// A stream that can acknowledge received data at once. vpcd writes a
/// frame's length and its payload separately; if our side delays its ACK,
/// Nagle's algorithm on vpcd's side holds the payload back for the
/// delayed-ACK period (~40 ms per APDU).
pub trait QuickAck {
    /// Acknowledge what was received at once, if the stream can (a no-op by default).
    fn quick_ack(&self) {}
}

impl<T: QuickAck + ?Sized> QuickAck for &mut T {
    fn quick_ack(&self) {
        (**self).quick_ack();
    }
}

impl QuickAck for TcpStream {
    /// TCP_QUICKACK; Linux clears it after use, so it is set after every read.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn quick_ack(&self) {
        // Best effort: a failure only costs latency.
        let _ = socket2::SockRef::from(self).set_tcp_quickack(true);
    }
}

fn is_poll_wakeup(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// Writes one frame in a single write (see [`connect`] on Nagle).
fn write_frame<S: Write>(stream: &mut S, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 65535 bytes"))?;
    let mut frame = Vec::with_capacity(2 + payload.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)?;
    stream.flush()
}

/// Sleeps for `delay`, waking early (and saying so) when `stop` is raised.
fn sleep_unless_stopped(delay: Duration, stop: &AtomicBool) -> bool {
    let deadline = Instant::now() + delay;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
    !stop.load(Ordering::SeqCst)
}

/// A virtual card in a vpcd reader: the card, the link's fault switches
/// and an optional card-side transcript.
#[derive(Debug)]
pub struct VpcdCard {
    card: VirtualCard,
    switches: LinkSwitches,
    transcript: Option<TranscriptWriter>,
    commands: usize,
}

impl VpcdCard {
    /// `card` behind a link with `switches`.
    pub fn new(card: VirtualCard, switches: LinkSwitches) -> Self {
        Self {
            card,
            switches,
            transcript: None,
            commands: 0,
        }
    }

    /// Also writes a card-side transcript (see [`crate::card_transcript`]).
    pub fn with_transcript(mut self, transcript: TranscriptWriter) -> Self {
        self.transcript = Some(transcript);
        self
    }

    /// The card, for inspection.
    pub fn card(&self) -> &VirtualCard {
        &self.card
    }

    /// Command APDUs received so far (over every connection).
    pub fn commands(&self) -> usize {
        self.commands
    }

    fn log_event(&mut self, what: &str) -> io::Result<()> {
        match &mut self.transcript {
            Some(t) => t.event(what),
            None => Ok(()),
        }
    }

    fn log_command(&mut self, command: &[u8], answer: Option<&[u8]>) -> io::Result<()> {
        match &mut self.transcript {
            Some(t) => t.command(command, answer),
            None => Ok(()),
        }
    }

    /// `6700` when the simulated link could not carry this command or its
    /// expected answer (no extended length, transceive limit).
    fn link_refuses(&self, command: &[u8]) -> bool {
        let extended = command.len() >= 7 && command[4] == 0;
        if extended && !self.switches.extended_length {
            return true;
        }
        let limit = u64::from(self.switches.max_transceive_length);
        let expected = CommandApdu::parse(command)
            .ok()
            .and_then(|c| c.ne)
            .map_or(0, |ne| u64::from(ne) + 2);
        command.len() as u64 > limit || expected > limit
    }

    /// Serves the card on one connection until vpcd closes it, the
    /// scheduled removal happens or `stop` is raised. Power off and power
    /// on are a cold power cycle (selection and security state are lost,
    /// counters survive); a reset is a warm reset, which keeps the security
    /// state as the real card does (card-protocol.md, after [mc]).
    pub fn serve<S: Read + Write + QuickAck>(
        &mut self,
        mut stream: S,
        stop: &AtomicBool,
    ) -> Result<Ending, VpcdError> {
        let mut reader = FrameReader { buffer: Vec::new() };
        self.log_event("inserted")?;
        loop {
            let frame = match reader.next(&mut stream, stop)? {
                Incoming::Frame(frame) => frame,
                Incoming::Closed => {
                    self.log_event("reader closed the connection")?;
                    return Ok(Ending::ReaderClosed);
                }
                Incoming::Stopped => {
                    self.log_event("stopped: card removed")?;
                    return Ok(Ending::Stopped);
                }
            };
            let answer = match frame[..] {
                [] => return Err(VpcdError::Protocol("empty frame".into())),
                [code] => self.control(code)?,
                _ => match self.command(&frame, stop)? {
                    Ok(answer) => Some(answer),
                    Err(ending) => return Ok(ending),
                },
            };
            if let Some(answer) = answer {
                match write_frame(&mut stream, &answer) {
                    Ok(()) => {}
                    Err(e) if is_closed(&e) => {
                        self.log_event("reader closed the connection")?;
                        return Ok(Ending::ReaderClosed);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    fn control(&mut self, code: u8) -> Result<Option<Vec<u8>>, VpcdError> {
        match code {
            control::POWER_OFF => {
                self.card.power_cycle();
                self.log_event("power off")?;
                Ok(None)
            }
            control::POWER_ON => {
                self.card.power_cycle();
                self.log_event("power on")?;
                Ok(None)
            }
            control::RESET => {
                self.log_event("reset (warm: security state kept)")?;
                Ok(None)
            }
            // Not logged: pcscd asks for the ATR every few hundred
            // milliseconds to see whether the card is still there.
            control::ATR => Ok(Some(self.card.atr().to_vec())),
            other => {
                // Not in vpcd's protocol; ignoring it keeps the card usable.
                self.log_event(&format!("unknown control code {other}"))?;
                Ok(None)
            }
        }
    }

    /// Answers one command, or ends the connection (removal, stop).
    fn command(
        &mut self,
        command: &[u8],
        stop: &AtomicBool,
    ) -> Result<Result<Vec<u8>, Ending>, VpcdError> {
        self.commands += 1;
        let removal = self
            .switches
            .remove_at
            .filter(|r| r.exchange == self.commands)
            .map(|r| r.point);
        if removal == Some(RemovalPoint::BeforeCard) {
            self.log_command(command, None)?;
            return Ok(Err(Ending::Removed { at: self.commands }));
        }
        let answer = if self.link_refuses(command) {
            StatusWord::WRONG_LENGTH.to_bytes().to_vec()
        } else {
            self.card.process(command)
        };
        if removal == Some(RemovalPoint::AfterCard) {
            self.log_command(command, None)?;
            return Ok(Err(Ending::Removed { at: self.commands }));
        }
        if !self.switches.answer_delay.is_zero()
            && !sleep_unless_stopped(self.switches.answer_delay, stop)
        {
            // Stopped while "computing": the card leaves without answering.
            self.log_command(command, None)?;
            self.log_event("stopped: card removed mid-command")?;
            return Ok(Err(Ending::Stopped));
        }
        self.log_command(command, Some(&answer))?;
        Ok(Ok(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mynakit_core::layout::Application;
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    const SELECT_JPKI: [u8; 15] = [
        0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
    ];

    /// Plays vpcd: listens on loopback, serves the card in a thread.
    struct Harness {
        stream: TcpStream,
        stop: Arc<AtomicBool>,
        card: std::thread::JoinHandle<(Result<Ending, String>, VpcdCard)>,
    }

    impl Harness {
        fn start(card: VpcdCard) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let stop = Arc::new(AtomicBool::new(false));
            let card_stop = Arc::clone(&stop);
            let card = std::thread::spawn(move || {
                let mut card = card;
                let stream = connect(&addr, Duration::from_secs(5), &card_stop).unwrap();
                let ending = card.serve(stream, &card_stop).map_err(|e| e.to_string());
                (ending, card)
            });
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            Self { stream, stop, card }
        }

        fn send(&mut self, payload: &[u8]) {
            write_frame(&mut self.stream, payload).unwrap();
        }

        fn receive(&mut self) -> Option<Vec<u8>> {
            let mut len = [0u8; 2];
            self.stream.read_exact(&mut len).ok()?;
            let mut payload = vec![0; usize::from(u16::from_be_bytes(len))];
            self.stream.read_exact(&mut payload).ok()?;
            Some(payload)
        }

        fn exchange(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
            self.send(payload);
            self.receive()
        }

        fn finish(self) -> (Result<Ending, String>, VpcdCard) {
            drop(self.stream);
            self.card.join().unwrap()
        }
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn answers_atr_requests_and_apdus_over_loopback() {
        let log = Shared::default();
        let card = VpcdCard::new(VirtualCard::sample(), LinkSwitches::default())
            .with_transcript(TranscriptWriter::new(Box::new(log.clone())));
        let mut vpcd = Harness::start(card);
        vpcd.send(&[control::POWER_ON]);
        assert_eq!(vpcd.exchange(&[control::ATR]).unwrap(), crate::ATR);
        assert_eq!(vpcd.exchange(&SELECT_JPKI).unwrap(), [0x90, 0x00]);
        // A whole certificate in one extended READ BINARY by SFI.
        let cert = vpcd.exchange(&[0x00, 0xB0, 0x8A, 0, 0, 0, 0]).unwrap();
        assert_eq!(&cert[cert.len() - 2..], [0x90, 0x00]);
        assert_eq!(cert[0], 0x30);
        // A wrong PIN spends a try; its digits never reach the transcript.
        assert_eq!(
            vpcd.exchange(&[0, 0x20, 0, 0x98, 4, b'9', b'8', b'7', b'6'])
                .unwrap(),
            [0x63, 0xC2]
        );
        let (ending, card) = vpcd.finish();
        assert_eq!(ending, Ok(Ending::ReaderClosed));
        assert_eq!(card.commands(), 3);
        assert_eq!(
            card.card()
                .tries_left(Application::Jpki, mynakit_core::layout::jpki::AUTH_PIN),
            Some(2)
        );
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("39383736"), "{text}");
        assert!(
            text.contains(&format!(
                "00200098{}",
                "**".repeat(1 + mynakit_core::SECRET_SLOT)
            )),
            "{text}"
        );
        assert!(text.contains("# "), "{text}");
        let entries = crate::card_transcript::TranscriptEntry::parse_all(&text).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].response_bytes, Some(cert.len()));
    }

    #[test]
    fn power_off_drops_security_state_and_reset_keeps_it() {
        let mut vpcd = Harness::start(VpcdCard::new(
            VirtualCard::sample(),
            LinkSwitches::default(),
        ));
        let verify = [0, 0x20, 0, 0x98, 4, b'1', b'2', b'3', b'4'];
        let sign = {
            let mut c = vec![0x80, 0x2A, 0x00, 0x97, 0x33];
            c.extend(crate::records::sha256_digest_info(&[7; 32]));
            c.push(0x00);
            c
        };
        assert_eq!(vpcd.exchange(&SELECT_JPKI).unwrap(), [0x90, 0x00]);
        assert_eq!(vpcd.exchange(&verify).unwrap(), [0x90, 0x00]);
        vpcd.send(&[control::RESET]);
        assert_eq!(vpcd.exchange(&sign).unwrap().len(), 258);
        vpcd.send(&[control::POWER_OFF]);
        vpcd.send(&[control::POWER_ON]);
        // After a cold start nothing is selected: the key EF is not found.
        assert_eq!(vpcd.exchange(&sign).unwrap(), [0x6A, 0x88]);
        assert_eq!(vpcd.finish().0, Ok(Ending::ReaderClosed));
    }

    #[test]
    fn scheduled_removal_closes_the_connection_after_the_card_acted() {
        let switches = LinkSwitches::default().removing_at(2, RemovalPoint::AfterCard);
        let mut vpcd = Harness::start(VpcdCard::new(VirtualCard::sample(), switches));
        assert_eq!(vpcd.exchange(&SELECT_JPKI).unwrap(), [0x90, 0x00]);
        assert_eq!(
            vpcd.exchange(&[0, 0x20, 0, 0x98, 4, b'9', b'8', b'7', b'6']),
            None,
            "the answer is lost"
        );
        let (ending, card) = vpcd.finish();
        assert_eq!(ending, Ok(Ending::Removed { at: 2 }));
        // The card acted before it went: the try is spent.
        assert_eq!(
            card.card()
                .tries_left(Application::Jpki, mynakit_core::layout::jpki::AUTH_PIN),
            Some(2)
        );
    }

    #[test]
    fn stop_during_a_slow_answer_leaves_without_answering() {
        let switches = LinkSwitches {
            answer_delay: Duration::from_secs(30),
            ..LinkSwitches::default()
        };
        let mut vpcd = Harness::start(VpcdCard::new(VirtualCard::sample(), switches));
        vpcd.send(&SELECT_JPKI);
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        vpcd.stop.store(true, Ordering::SeqCst);
        assert_eq!(vpcd.receive(), None, "no answer, the connection closes");
        let (ending, _) = vpcd.finish();
        assert_eq!(ending, Ok(Ending::Stopped));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_short_only_link_refuses_extended_commands_with_6700() {
        let mut vpcd = Harness::start(VpcdCard::new(
            VirtualCard::sample(),
            LinkSwitches::short_only(),
        ));
        assert_eq!(vpcd.exchange(&SELECT_JPKI).unwrap(), [0x90, 0x00]);
        assert_eq!(
            vpcd.exchange(&[0x00, 0xB0, 0x8A, 0, 0, 0, 0]).unwrap(),
            [0x67, 0x00]
        );
        assert_eq!(vpcd.exchange(&[0x00, 0xB0, 0x8A, 0, 0]).unwrap().len(), 258);
        assert_eq!(vpcd.finish().0, Ok(Ending::ReaderClosed));
    }

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let mut reader = FrameReader { buffer: Vec::new() };
        let stop = AtomicBool::new(false);
        let bytes = [0u8, 1, 4, 0, 2, 0x90];
        struct Bytes<'a>(io::Cursor<&'a [u8]>);
        impl Read for Bytes<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.read(buf)
            }
        }
        impl QuickAck for Bytes<'_> {}
        let mut stream = Bytes(io::Cursor::new(&bytes[..]));
        assert!(matches!(reader.next(&mut stream, &stop).unwrap(), Incoming::Frame(f) if f == [4]));
        // The second frame is cut short: the stream ends.
        assert!(matches!(
            reader.next(&mut stream, &stop).unwrap(),
            Incoming::Closed
        ));
    }

    #[test]
    fn connect_gives_up_with_a_typed_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = connect(&addr, Duration::from_millis(300), &AtomicBool::new(false)).unwrap_err();
        assert!(matches!(err, VpcdError::Connect { .. }), "{err}");
    }
}
