//! Shared harness for the end-to-end suites: the card flows every app runs,
//! and a transport that mangles the card's answers.

pub mod fuzzing;
pub mod reset_crash;
pub mod store_crash;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use mynakit_core::CheckCodeB;
use mynakit_core::FreeCertificate;
use mynakit_core::{AuthPin, KenhojoPin, LastTry, SigningPassword};
use mynakit_core::{CardChannel, CardError, CardTransport, LinkCapabilities, TransportError};

/// Runs a future to completion on the current thread.
pub use pollster::block_on;

/// The sandbox card's secrets (see `mynakit_sandbox::CardSecrets::default`).
pub const PIN: &str = "1234";
/// The sandbox card's signing password.
pub const SIGNING_PASSWORD: &str = "SANDBOX1";

/// The sample holder's card front, as printed.
pub const FRONT_BIRTH_DATE: &str = "昭和60年6月15日";
/// The sample holder's expiry, as printed.
pub const FRONT_EXPIRY: &str = "2035年6月15日まで有効";
/// The sample holder's security code.
pub const FRONT_SECURITY_CODE: &str = "4821";

/// A complete operation an app performs from a fresh session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The card's status: token kind, certificate presence, both PIN counters.
    Status,
    /// Read the authentication certificate.
    ReadAuthCertificate,
    /// Tries check, VERIFY and sign with the authentication key.
    AuthSign,
    /// Signing password, then read the signing certificate.
    ReadSigningCertificate,
    /// Signing password, then sign with the signing key.
    SigningSign,
    /// Kenhojo PIN, then the basic four.
    KenhojoBasicInfo,
    /// Kenhojo PIN, then the My Number.
    KenhojoMyNumber,
    /// 照合番号B, then the card face record.
    KenmenFace,
}

impl Flow {
    /// Every flow.
    pub const ALL: [Flow; 8] = [
        Flow::Status,
        Flow::ReadAuthCertificate,
        Flow::AuthSign,
        Flow::ReadSigningCertificate,
        Flow::SigningSign,
        Flow::KenhojoBasicInfo,
        Flow::KenhojoMyNumber,
        Flow::KenmenFace,
    ];

    /// True for flows that send a VERIFY with a secret.
    pub fn verifies(self) -> bool {
        !matches!(self, Flow::Status | Flow::ReadAuthCertificate)
    }

    /// Runs the flow with the sandbox card's secrets.
    pub async fn run<T: CardTransport>(
        self,
        channel: &mut CardChannel<T>,
    ) -> Result<(), CardError> {
        self.run_with(channel, PIN, SIGNING_PASSWORD).await
    }

    /// Runs the flow with the given secrets.
    pub async fn run_with<T: CardTransport>(
        self,
        channel: &mut CardChannel<T>,
        pin: &str,
        password: &str,
    ) -> Result<(), CardError> {
        let auth_pin = || AuthPin::new(pin).expect("test PIN has the right format");
        let signing =
            || SigningPassword::new(password).expect("test password has the right format");
        match self {
            Flow::Status => {
                channel.jpki().status().await?;
            }
            Flow::ReadAuthCertificate => {
                channel
                    .jpki()
                    .read_certificate(FreeCertificate::Authentication)
                    .await?;
            }
            Flow::AuthSign => {
                channel
                    .jpki()
                    .sign_with_auth_key(&auth_pin(), b"challenge", LastTry::Refuse)
                    .await?;
            }
            Flow::ReadSigningCertificate => {
                channel
                    .jpki()
                    .read_signing_certificate(&signing(), LastTry::Refuse)
                    .await?;
            }
            Flow::SigningSign => {
                channel
                    .jpki()
                    .sign_with_signing_key(&signing(), b"document", LastTry::Refuse)
                    .await?;
            }
            Flow::KenhojoBasicInfo => {
                let pin = KenhojoPin::new(pin).expect("test PIN has the right format");
                channel
                    .kenhojo()
                    .read_basic_info(&pin, LastTry::Refuse)
                    .await?;
            }
            Flow::KenhojoMyNumber => {
                let pin = KenhojoPin::new(pin).expect("test PIN has the right format");
                channel
                    .kenhojo()
                    .read_my_number(&pin, LastTry::Refuse)
                    .await?;
            }
            Flow::KenmenFace => {
                let code = CheckCodeB::from_card_front(
                    FRONT_BIRTH_DATE,
                    FRONT_EXPIRY,
                    FRONT_SECURITY_CODE,
                )
                .expect("sample card front parses");
                channel.kenmen().read_face(&code, LastTry::Refuse).await?;
            }
        }
        Ok(())
    }
}

/// How [`MangledTransport`] changes one exchange: given the 1-based exchange
/// number, the command and the card's answer, what the core receives.
pub type Mangle =
    Box<dyn Fn(usize, &[u8], Vec<u8>) -> Result<Vec<u8>, TransportError> + Send + Sync>;

/// Forwards to an inner transport and passes every answer through a mangling
/// function (given the 1-based exchange number), to feed the core malformed
/// responses a real card or a broken link could produce.
pub struct MangledTransport<T> {
    inner: T,
    mangle: Mangle,
    exchanges: AtomicUsize,
    /// Commands sent, in order.
    pub sent: Mutex<Vec<Vec<u8>>>,
}

impl<T: CardTransport> MangledTransport<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, mangle: Mangle) -> Self {
        Self {
            inner,
            mangle,
            exchanges: AtomicUsize::new(0),
            sent: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait::async_trait]
impl<T: CardTransport> CardTransport for MangledTransport<T> {
    fn capabilities(&self) -> LinkCapabilities {
        self.inner.capabilities()
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let n = self.exchanges.fetch_add(1, Ordering::SeqCst) + 1;
        self.sent
            .lock()
            .expect("no test thread panicked holding the log")
            .push(command.to_vec());
        let answer = self.inner.transmit(command).await?;
        (self.mangle)(n, command, answer)
    }
}

/// True for a VERIFY that carries a secret (not the bare counter read).
pub fn is_verify_with_data(command: &[u8]) -> bool {
    command.len() > 5 && command[1] == 0x20
}

/// True for COMPUTE DIGITAL SIGNATURE.
pub fn is_sign(command: &[u8]) -> bool {
    command.len() > 4 && command[0] == 0x80 && command[1] == 0x2A
}

/// An authority link that loses the answer of the next request whose path
/// ends with a given suffix, once: the request reaches the authority and
/// acts; the phone hears nothing (`LinkError::AnswerLost`).
#[derive(Debug)]
pub struct LosingLink<L> {
    inner: L,
    lose: std::sync::Arc<Mutex<Option<String>>>,
}

impl<L> LosingLink<L> {
    /// A link over `inner`, losing what `lose` names (shared, so a test can
    /// name it after the link went into a client).
    pub fn new(inner: L, lose: std::sync::Arc<Mutex<Option<String>>>) -> Self {
        Self { inner, lose }
    }

    /// Loses the answer of the next request to a path ending in `suffix`.
    pub fn lose_next(&self, suffix: &str) {
        *self.lose.lock().unwrap() = Some(suffix.to_owned());
    }
}

#[async_trait::async_trait]
impl<L: mynakit_core::AuthorityLink> mynakit_core::AuthorityLink for LosingLink<L> {
    async fn send(
        &self,
        request: mynakit_core::AuthorityRequest,
    ) -> Result<mynakit_core::AuthorityResponse, mynakit_core::LinkError> {
        let lost = {
            let mut lose = self.lose.lock().unwrap();
            let hit = lose
                .as_deref()
                .is_some_and(|suffix| request.path().ends_with(suffix));
            if hit {
                *lose = None;
            }
            hit
        };
        let answer = self.inner.send(request).await?;
        if lost {
            return Err(mynakit_core::LinkError::AnswerLost {
                reason: "dropped by the test".to_owned(),
            });
        }
        Ok(answer)
    }
}
