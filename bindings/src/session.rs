//! The card session object: every card operation, one at a time.
//!
//! The session owns the core's `CardChannel` and lends it to one call at a
//! time. A cancelled call (a Kotlin coroutine cancelled, a Swift task
//! cancelled) drops its future; the lease then gives the channel back with
//! the card state forgotten, so the next call selects the application again
//! instead of trusting state the card may no longer have.
//!
//! A call dropped while its VERIFY was at the card (a Kotlin coroutine
//! cancelled: UniFFI drops the Rust future) cannot return an error any more.
//! The core's channel keeps it marked (`interrupted_verify`), and the session
//! reports it: the next call on the session fails with `VerifyOutcomeUnknown`
//! (once, with the counter read back), and
//! [`CardSession::take_interrupted_verify`] lets the Kotlin wrapper turn the
//! cancellation itself into that error.

use std::sync::{Arc, Mutex, PoisonError};

use mynakit_core::CardChannel;
use mynakit_core::CheckCodeB;
use mynakit_core::JpkiKey;
use mynakit_core::layout::{Application, FileId, jpki, kenhojo, kenmen};
use mynakit_core::{AuthPin, KenhojoPin, LastTry, SigningPassword};
use zeroize::Zeroizing;

use crate::error::MynaKitError;
use crate::progress::{ProgressListener, Stage, WatchedTransport, Watcher, plan};
use crate::records::{
    BasicInfo, CardFace, CardStatus, Certificate, CertificateKind, PinKind, PinState,
    TranscriptStats,
};
use crate::transport::{CardTransport, ForeignTransport};

type Channel = CardChannel<Arc<dyn mynakit_core::CardTransport>>;

/// A session with one card over one transport (one NFC tap). Operations run
/// one at a time: a second call while one is running fails with
/// `SessionBusy`. A PIN verified in the session is not asked for again.
#[derive(uniffi::Object)]
pub struct CardSession {
    slot: Mutex<Option<Channel>>,
    watcher: Watcher,
    listener: Mutex<Option<Arc<dyn ProgressListener>>>,
}

/// The channel lent to one call. Dropped without [`Lease::finish`] (the call
/// was cancelled mid-exchange), it forgets the card state before returning
/// the channel; a VERIFY then left at the card stays marked in the channel
/// (the core's `interrupted_verify`), for the next call to report.
struct Lease<'a> {
    session: &'a CardSession,
    channel: Option<Channel>,
    finished: bool,
}

impl<'a> Lease<'a> {
    fn take(session: &'a CardSession) -> Result<Self, MynaKitError> {
        let channel = lock(&session.slot)
            .take()
            .ok_or(MynaKitError::SessionBusy)?;
        Ok(Self {
            session,
            channel: Some(channel),
            finished: false,
        })
    }

    fn channel(&mut self) -> Result<&mut Channel, MynaKitError> {
        self.channel.as_mut().ok_or_else(|| MynaKitError::Internal {
            reason: "card session lease without a channel".into(),
        })
    }

    /// Marks the call as completed (with whatever result) and converts its error.
    fn finish<T>(mut self, result: Result<T, mynakit_core::CardError>) -> Result<T, MynaKitError> {
        self.finished = true;
        result.map_err(Into::into)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.session.watcher.end();
        if let Some(mut channel) = self.channel.take() {
            if !self.finished {
                channel.forget_card_state();
            }
            *lock(&self.session.slot) = Some(channel);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The PIN a VERIFY marked by the core was for.
fn pin_kind(app: Application, pin: FileId) -> Option<PinKind> {
    match (app, pin) {
        (Application::Jpki, jpki::AUTH_PIN) => Some(PinKind::AuthPin),
        (Application::Jpki, jpki::SIGNING_PIN) => Some(PinKind::SigningPassword),
        (Application::Kenhojo, kenhojo::PIN) => Some(PinKind::KenhojoPin),
        (Application::Kenmen, kenmen::CHECK_CODE_B) => Some(PinKind::CheckCodeB),
        _ => None,
    }
}

fn last_try(allow: bool) -> LastTry {
    if allow {
        LastTry::Allow
    } else {
        LastTry::Refuse
    }
}

impl CardSession {
    pub(crate) fn over(link: Arc<dyn mynakit_core::CardTransport>) -> Arc<Self> {
        let watcher = Watcher::default();
        let watched = WatchedTransport {
            inner: link,
            watcher: watcher.clone(),
        };
        Arc::new(Self {
            slot: Mutex::new(Some(CardChannel::new(Arc::new(watched)))),
            watcher,
            listener: Mutex::new(None),
        })
    }

    /// Lends the channel to one operation with the stages `plan`. A VERIFY
    /// that an earlier, cancelled call left at the card is reported first:
    /// this call then fails with `VerifyOutcomeUnknown` (the counter read
    /// back when the card is still there) and sends nothing else.
    async fn lease(&self, plan: &'static [Stage]) -> Result<Lease<'_>, MynaKitError> {
        let mut lease = Lease::take(self)?;
        if let Some(error) = lease.channel()?.resolve_interrupted_verify().await {
            return Err(lease
                .finish::<()>(Err(error))
                .err()
                .unwrap_or(MynaKitError::Internal {
                    reason: "an interrupted VERIFY without an error".into(),
                }));
        }
        let listener = lock(&self.listener).clone();
        self.watcher.start(plan, listener);
        Ok(lease)
    }
}

#[uniffi::export]
impl CardSession {
    /// Opens a session over the app's transport; nothing is sent until the
    /// first operation. Reads the transport's capabilities once.
    #[uniffi::constructor]
    pub fn new(transport: Arc<dyn CardTransport>) -> Arc<Self> {
        Self::over(Arc::new(ForeignTransport(transport)))
    }

    /// Token kind, certificates present and the JPKI PIN states, without a
    /// PIN and without spending a try.
    pub async fn card_status(&self) -> Result<CardStatus, MynaKitError> {
        let mut lease = self.lease(plan::CARD_STATUS).await?;
        let channel = lease.channel()?;
        let result = channel.jpki().status().await.map(|s| CardStatus {
            token_kind: s.token_kind.into(),
            has_authentication_certificate: s.certificates.authentication,
            has_signing_certificate: s.certificates.signing,
            auth_pin: s.auth_pin.into(),
            signing_password: s.signing_password.map(Into::into),
        });
        lease.finish(result)
    }

    /// Reads a certificate that needs no PIN.
    pub async fn read_certificate(
        &self,
        which: CertificateKind,
    ) -> Result<Certificate, MynaKitError> {
        let mut lease = self.lease(plan::READ_FREE).await?;
        let result = lease.channel()?.jpki().read_certificate(which.into()).await;
        Certificate::from_card(&lease.finish(result)?)
    }

    /// Verifies the signing password (once per session) and reads the
    /// signing certificate, with the holder's name, address, birth date and sex.
    #[uniffi::method(default(allow_last_try = false))]
    pub async fn read_signing_certificate(
        &self,
        password: String,
        allow_last_try: bool,
    ) -> Result<Certificate, MynaKitError> {
        let password = SigningPassword::new(&Zeroizing::new(password))?;
        let mut lease = self.lease(plan::VERIFY_READ).await?;
        let result = lease
            .channel()?
            .jpki()
            .read_signing_certificate(&password, last_try(allow_last_try))
            .await;
        Certificate::from_card(&lease.finish(result)?)
    }

    /// A PIN's state, read without spending a try.
    pub async fn pin_status(&self, pin: PinKind) -> Result<PinState, MynaKitError> {
        let mut lease = self.lease(plan::PIN_STATUS).await?;
        let channel = lease.channel()?;
        let result = match pin {
            PinKind::AuthPin => channel.jpki().pin_status(JpkiKey::Authentication).await,
            PinKind::SigningPassword => channel.jpki().pin_status(JpkiKey::Signing).await,
            PinKind::KenhojoPin => channel.kenhojo().pin_status().await,
            PinKind::CheckCodeB => channel.kenmen().check_code_status().await,
        };
        lease.finish(result).map(Into::into)
    }

    /// Verifies the 4-digit authentication PIN (skipped when already verified
    /// in this session). Checks the counter first; refuses the last try
    /// unless `allow_last_try`.
    #[uniffi::method(default(allow_last_try = false))]
    pub async fn verify_auth_pin(
        &self,
        pin: String,
        allow_last_try: bool,
    ) -> Result<(), MynaKitError> {
        let pin = AuthPin::new(&Zeroizing::new(pin))?;
        let mut lease = self.lease(plan::VERIFY).await?;
        let result = lease
            .channel()?
            .jpki()
            .verify_auth_pin(&pin, last_try(allow_last_try))
            .await;
        lease.finish(result)
    }

    /// Verifies the signing password (skipped when already verified in this session).
    #[uniffi::method(default(allow_last_try = false))]
    pub async fn verify_signing_password(
        &self,
        password: String,
        allow_last_try: bool,
    ) -> Result<(), MynaKitError> {
        let password = SigningPassword::new(&Zeroizing::new(password))?;
        let mut lease = self.lease(plan::VERIFY).await?;
        let result = lease
            .channel()?
            .jpki()
            .verify_signing_password(&password, last_try(allow_last_try))
            .await;
        lease.finish(result)
    }

    /// Verifies the authentication PIN (unless already verified) and signs
    /// SHA-256 of `message` with the authentication key (RSA-2048 PKCS#1
    /// v1.5, 256 bytes). The signature command is never resent.
    #[uniffi::method(default(allow_last_try = false))]
    pub async fn sign_with_auth_key(
        &self,
        pin: String,
        message: Vec<u8>,
        allow_last_try: bool,
    ) -> Result<Vec<u8>, MynaKitError> {
        let pin = AuthPin::new(&Zeroizing::new(pin))?;
        let mut lease = self.lease(plan::VERIFY_SIGN).await?;
        let result = lease
            .channel()?
            .jpki()
            .sign_with_auth_key(&pin, &message, last_try(allow_last_try))
            .await;
        lease.finish(result)
    }

    /// Verifies the signing password (unless already verified) and signs
    /// SHA-256 of `message` with the signing key.
    #[uniffi::method(default(allow_last_try = false))]
    pub async fn sign_with_signing_key(
        &self,
        password: String,
        message: Vec<u8>,
        allow_last_try: bool,
    ) -> Result<Vec<u8>, MynaKitError> {
        let password = SigningPassword::new(&Zeroizing::new(password))?;
        let mut lease = self.lease(plan::VERIFY_SIGN).await?;
        let result = lease
            .channel()?
            .jpki()
            .sign_with_signing_key(&password, &message, last_try(allow_last_try))
            .await;
        lease.finish(result)
    }

    /// Verifies the Kenhojo PIN (once per session) and reads name, address,
    /// birth date and sex. Does not read the My Number.
    #[uniffi::method(default(allow_last_try = false))]
    pub async fn read_basic_info(
        &self,
        pin: String,
        allow_last_try: bool,
    ) -> Result<BasicInfo, MynaKitError> {
        let pin = KenhojoPin::new(&Zeroizing::new(pin))?;
        let mut lease = self.lease(plan::VERIFY_READ).await?;
        let result = lease
            .channel()?
            .kenhojo()
            .read_basic_info(&pin, last_try(allow_last_try))
            .await;
        lease.finish(result).map(Into::into)
    }

    /// Verifies the Kenhojo PIN (once per session) and reads the 12-digit My
    /// Number. Only call this with a legal basis for handling it; the app
    /// must not log or keep it beyond that purpose.
    #[uniffi::method(default(allow_last_try = false))]
    pub async fn read_my_number(
        &self,
        pin: String,
        allow_last_try: bool,
    ) -> Result<String, MynaKitError> {
        let pin = KenhojoPin::new(&Zeroizing::new(pin))?;
        let mut lease = self.lease(plan::VERIFY_READ).await?;
        let result = lease
            .channel()?
            .kenhojo()
            .read_my_number(&pin, last_try(allow_last_try))
            .await;
        lease.finish(result).map(|n| n.expose().to_owned())
    }

    /// Builds 照合番号B from the card front as OCR or the user read it
    /// (`昭和60年6月15日生`, `2035年6月15日まで有効`, `4821`; full-width digits
    /// allowed), verifies it and reads the card face record with the photo.
    /// A text that does not parse is `InvalidInput` naming the field; nothing
    /// is sent then.
    #[uniffi::method(default(allow_last_try = false))]
    pub async fn read_card_face(
        &self,
        birth_date_text: String,
        expiry_text: String,
        security_code: String,
        allow_last_try: bool,
    ) -> Result<CardFace, MynaKitError> {
        let (birth_date_text, expiry_text, security_code) = (
            Zeroizing::new(birth_date_text),
            Zeroizing::new(expiry_text),
            Zeroizing::new(security_code),
        );
        let code = CheckCodeB::from_card_front(&birth_date_text, &expiry_text, &security_code)?;
        let mut lease = self.lease(plan::VERIFY_READ).await?;
        let result = lease
            .channel()?
            .kenmen()
            .read_face(&code, last_try(allow_last_try))
            .await;
        lease.finish(result).map(Into::into)
    }

    /// Reports the steps of every later operation to `listener` ("step 2
    /// of 4"); `None` stops reporting.
    pub fn set_progress_listener(&self, listener: Option<Arc<dyn ProgressListener>>) {
        *lock(&self.listener) = listener;
    }

    /// The PIN whose VERIFY was at the card when a call on this session was
    /// cancelled, and forgets it (so the next call does not report it
    /// again). The card may have counted a try: read the PIN state before
    /// offering the PIN again. `None` when no VERIFY was cut off, or while
    /// another call is running.
    pub fn take_interrupted_verify(&self) -> Option<PinKind> {
        let mut slot = lock(&self.slot);
        let interrupted = slot.as_mut()?.take_interrupted_verify()?;
        pin_kind(interrupted.app, interrupted.pin)
    }

    /// Round trips, bytes and card time of this session so far.
    pub fn transcript_stats(&self) -> Result<TranscriptStats, MynaKitError> {
        let slot = lock(&self.slot);
        let channel = slot.as_ref().ok_or(MynaKitError::SessionBusy)?;
        Ok(channel.transcript().stats().into())
    }
}
