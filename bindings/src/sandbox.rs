//! Test-only exports (feature `sandbox`, never in an app build): the sandbox
//! virtual card behind a link that Kotlin or Swift test transports forward
//! APDUs to, with the link's fault switches, functions that panic, the
//! sandbox camera (frames for the reset's face check) and the core's
//! software secure area.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

use mynakit_core::JpkiKey;
use mynakit_core::layout::{Application, jpki, kenhojo, kenmen};
use mynakit_core::{CardChannel, CardTransport as _};
use mynakit_sandbox::reset::{CameraSubject, SandboxCamera};
use mynakit_sandbox::{CardConfig, LinkSwitches, Removal, RemovalPoint, Sandbox, VirtualTransport};

use crate::error::{MynaKitError, TransportFailure};
use crate::records::{CalendarDate, PinKind, Sex};
use crate::reset::{Frame, LivenessAction, ResetError, ResetFlow};
use crate::secure_area::{KeyInfo, KeySpec, SecureArea, SecureAreaError};
use crate::session::CardSession;
use crate::transport::LinkCapabilities;

/// Faults and limits of a virtual NFC link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct VirtualLinkSwitches {
    /// Extended-length APDUs pass.
    #[uniffi(default = true)]
    pub extended_length: bool,
    /// Longest command or response, status word included.
    #[uniffi(default = 65538)]
    pub max_transceive_length: u32,
    /// Remove the card at this exchange (1-based, counted on this link).
    #[uniffi(default = None)]
    pub remove_at_exchange: Option<u32>,
    /// True: the card acts on that command before it leaves (a VERIFY spends
    /// its try); false: the command never reaches the card.
    #[uniffi(default = true)]
    pub remove_after_card: bool,
    /// Time each exchange takes, milliseconds (slept on the calling thread).
    #[uniffi(default = 0)]
    pub answer_delay_millis: u32,
}

impl From<VirtualLinkSwitches> for LinkSwitches {
    fn from(s: VirtualLinkSwitches) -> Self {
        let point = if s.remove_after_card {
            RemovalPoint::AfterCard
        } else {
            RemovalPoint::BeforeCard
        };
        Self {
            extended_length: s.extended_length,
            max_transceive_length: s.max_transceive_length,
            remove_at: s.remove_at_exchange.map(|exchange| Removal {
                exchange: usize::try_from(exchange).unwrap_or(usize::MAX),
                point,
            }),
            answer_delay: Duration::from_millis(u64::from(s.answer_delay_millis)),
        }
    }
}

/// The sandbox holder, to compare what the card returns with.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SandboxHolder {
    /// Name, family and given name separated by U+3000.
    pub name: String,
    /// Address.
    pub address: String,
    /// Birth date, when known.
    pub birth_date: Option<CalendarDate>,
    /// Sex.
    pub sex: Sex,
    /// The My Number (sandbox data, not a real person's).
    pub my_number: String,
    /// Last day the card is valid.
    pub card_expiry: CalendarDate,
    /// The security code printed on the front.
    pub security_code: String,
    /// The face photo (JP2).
    pub photo_jp2: Vec<u8>,
}

/// The sandbox virtual My Number card (test keys; sample holder 番号　花子,
/// PIN `1234`, signing password `SANDBOX1`, security code `4821`).
#[derive(uniffi::Object)]
pub struct VirtualCard {
    sandbox: Sandbox,
}

fn pin_file(pin: PinKind) -> (Application, mynakit_core::layout::FileId) {
    match pin {
        PinKind::AuthPin => (Application::Jpki, jpki::AUTH_PIN),
        PinKind::SigningPassword => (Application::Jpki, jpki::SIGNING_PIN),
        PinKind::KenhojoPin => (Application::Kenhojo, kenhojo::PIN),
        PinKind::CheckCodeB => (Application::Kenmen, kenmen::CHECK_CODE_B),
    }
}

fn config_error(e: mynakit_sandbox::SandboxError) -> MynaKitError {
    MynaKitError::InvalidInput {
        reason: e.to_string(),
    }
}

#[uniffi::export]
impl VirtualCard {
    /// The sample holder's card.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            sandbox: Sandbox::new(),
        })
    }

    /// A card configured differently from the sample: `with_signing_certificate`
    /// false imitates a child's card; `token_label` imitates other JPKI tokens.
    #[uniffi::constructor]
    pub fn configured(
        with_signing_certificate: bool,
        token_label: String,
    ) -> Result<Arc<Self>, MynaKitError> {
        let config = CardConfig {
            with_signing_certificate,
            token_label,
            ..CardConfig::sample()
        };
        Ok(Arc::new(Self {
            sandbox: Sandbox::with_config(config).map_err(config_error)?,
        }))
    }

    /// A new link to this card (each link counts its own exchanges).
    pub fn link(&self, switches: VirtualLinkSwitches) -> Arc<VirtualLink> {
        Arc::new(VirtualLink {
            transport: self.sandbox.transport(switches.into()),
        })
    }

    /// A session straight over a link to this card, with no foreign call
    /// per APDU: the Rust-only path the benchmark compares with.
    pub fn rust_session(&self, switches: VirtualLinkSwitches) -> Arc<CardSession> {
        CardSession::over(Arc::new(self.sandbox.transport(switches.into())))
    }

    /// Tries left on the card for `pin` (the card's own counter).
    pub fn tries_left(&self, pin: PinKind) -> Option<u8> {
        let (app, file) = pin_file(pin);
        self.sandbox.card().tries_left(app, file)
    }

    /// Commands the card received, of every link.
    pub fn commands_received(&self) -> u32 {
        let n = self.sandbox.card().commands_received().len();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// VERIFY commands with data (the ones that can spend a try) the card received.
    pub fn verify_commands_received(&self) -> u32 {
        let n = self
            .sandbox
            .card()
            .commands_received()
            .iter()
            .filter(|c| c.len() > 5 && c.get(1) == Some(&mynakit_core::layout::ins::VERIFY))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The sandbox CA's two root certificates (DER): the anchors an app
    /// configures to accept this card's certificates.
    pub fn anchor_certificates(&self) -> Vec<Vec<u8>> {
        let card = self.sandbox.card();
        vec![
            card.auth_root_certificate().der().to_vec(),
            card.signing_root_certificate().der().to_vec(),
        ]
    }

    /// The card's authentication certificate (DER), as issued.
    pub fn auth_certificate_der(&self) -> Vec<u8> {
        self.sandbox.card().auth_certificate().der().to_vec()
    }

    /// The card's holder.
    pub fn holder(&self) -> SandboxHolder {
        let card = self.sandbox.card();
        let h = card.holder();
        SandboxHolder {
            name: h.name.clone(),
            address: h.address.clone(),
            birth_date: h.birth_date.map(Into::into),
            sex: h.sex,
            my_number: h.my_number.expose().to_owned(),
            card_expiry: h.card_expiry.into(),
            security_code: h.security_code.clone(),
            photo_jp2: h.photo.clone(),
        }
    }

    /// Benchmark helper: reads the auth PIN's counter `n` times through the
    /// core over a Rust-only link (no FFI per call); returns the nanoseconds
    /// per call.
    pub fn rust_only_pin_status_nanos(&self, n: u32) -> Result<u64, MynaKitError> {
        let mut channel = CardChannel::new(self.sandbox.transport(LinkSwitches::default()));
        pollster::block_on(channel.jpki().pin_status(JpkiKey::Authentication))?;
        let started = Instant::now();
        for _ in 0..n {
            pollster::block_on(channel.jpki().pin_status(JpkiKey::Authentication))?;
        }
        let per_call = started.elapsed().as_nanos() / u128::from(n.max(1));
        Ok(u64::try_from(per_call).unwrap_or(u64::MAX))
    }
}

/// A link to the virtual card that a test transport forwards APDUs to.
#[derive(uniffi::Object)]
pub struct VirtualLink {
    transport: VirtualTransport,
}

#[uniffi::export]
impl VirtualLink {
    /// What the link carries.
    pub fn capabilities(&self) -> LinkCapabilities {
        self.transport.capabilities().into()
    }

    /// One exchange, from a coroutine or task.
    pub async fn transmit(&self, command: Vec<u8>) -> Result<Vec<u8>, TransportFailure> {
        self.transport.exchange(&command).map_err(Into::into)
    }

    /// One exchange, blocking the calling thread (like `IsoDep.transceive`).
    pub fn transmit_blocking(&self, command: Vec<u8>) -> Result<Vec<u8>, TransportFailure> {
        self.transport.exchange(&command).map_err(Into::into)
    }

    /// Takes the card away now.
    pub fn remove(&self) {
        self.transport.remove();
    }

    /// Brings the card back, powered up afresh (selection and PIN state gone).
    pub fn reinsert(&self) {
        self.transport.reinsert();
    }

    /// Exchanges attempted on this link.
    pub fn exchanges(&self) -> u32 {
        u32::try_from(self.transport.exchanges()).unwrap_or(u32::MAX)
    }
}

/// Panics with `message`: proves a Rust panic reaches Kotlin or Swift as an
/// exception instead of aborting.
#[uniffi::export]
#[allow(clippy::panic)] // The deliberate panic the binding tests need.
pub fn sandbox_panic(message: String) -> Result<u32, MynaKitError> {
    panic!("{message}")
}

/// Like [`sandbox_panic`], from an async function.
#[uniffi::export]
#[allow(clippy::panic)] // The deliberate panic the binding tests need.
pub async fn sandbox_panic_async(message: String) -> u32 {
    panic!("{message}")
}

/// Who is in front of the sandbox camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SandboxCameraSubject {
    /// The card's holder (frames drawn from the chip photo).
    Holder,
    /// Someone else.
    AnotherHolder,
    /// The holder wearing a mask (R2: fails).
    Masked,
    /// The holder wearing sunglasses (R2: fails).
    Sunglasses,
}

impl From<SandboxCameraSubject> for CameraSubject {
    fn from(s: SandboxCameraSubject) -> Self {
        match s {
            SandboxCameraSubject::Holder => Self::Holder,
            SandboxCameraSubject::AnotherHolder => Self::AnotherHolder,
            SandboxCameraSubject::Masked => Self::Masked,
            SandboxCameraSubject::Sunglasses => Self::Sunglasses,
        }
    }
}

/// The sandbox camera's frames of `subject` performing `actions` (a neutral
/// frame, then `frames_per_action` per action, one second apart from
/// `start`), drawn from the chip photo `flow` read in its tap: what a
/// phone's camera gives the app for `PinResetClient::submit_capture`.
/// Deterministic for a `seed`.
#[uniffi::export]
pub fn sandbox_camera_frames(
    flow: Arc<ResetFlow>,
    subject: SandboxCameraSubject,
    actions: Vec<LivenessAction>,
    frames_per_action: u32,
    start: SystemTime,
    seed: u64,
) -> Result<Vec<Frame>, ResetError> {
    let photo = flow.chip_picture()?.ok_or_else(|| ResetError::OutOfOrder {
        step: "the sandbox camera".into(),
        needs: "the tap (the chip photo)".into(),
    })?;
    let start: DateTime<Utc> = start.into();
    let actions: Vec<_> = actions.into_iter().map(Into::into).collect();
    let per_action = usize::try_from(frames_per_action).unwrap_or(usize::MAX);
    Ok(SandboxCamera::new(subject.into(), seed)
        .capture(&photo, &actions, per_action, start)
        .into_iter()
        .map(Into::into)
        .collect())
}

/// The core's software stand-in for a secure area (`SoftwareSecureArea`):
/// P-256 keys in process memory. **Not secure hardware**: for tests, never
/// in an app (a phone uses `AndroidKeystoreSecureArea` or
/// `SecureEnclaveSecureArea`).
struct SoftwareSecureArea(mynakit_core::SoftwareSecureArea);

#[async_trait::async_trait]
impl SecureArea for SoftwareSecureArea {
    async fn create_key(&self, alias: String, spec: KeySpec) -> Result<KeyInfo, SecureAreaError> {
        Ok(
            mynakit_core::SecureArea::create_key(&self.0, alias, spec.into())
                .await?
                .into(),
        )
    }

    async fn key_info(&self, alias: String) -> Result<Option<KeyInfo>, SecureAreaError> {
        Ok(mynakit_core::SecureArea::key_info(&self.0, alias)
            .await?
            .map(Into::into))
    }

    async fn key_agreement(
        &self,
        alias: String,
        peer_public_key: Vec<u8>,
    ) -> Result<Vec<u8>, SecureAreaError> {
        Ok(mynakit_core::SecureArea::key_agreement(&self.0, alias, peer_public_key).await?)
    }

    async fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, SecureAreaError> {
        Ok(mynakit_core::SecureArea::sign(&self.0, alias, message).await?)
    }

    async fn delete_key(&self, alias: String) -> Result<bool, SecureAreaError> {
        Ok(mynakit_core::SecureArea::delete_key(&self.0, alias).await?)
    }
}

/// A software secure area (the core's `SoftwareSecureArea`) with its keys
/// in memory: **not secure hardware**, for the binding tests only.
#[uniffi::export]
pub fn software_secure_area_in_memory() -> Arc<dyn SecureArea> {
    Arc::new(SoftwareSecureArea(
        mynakit_core::SoftwareSecureArea::in_memory(),
    ))
}
