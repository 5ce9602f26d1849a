//! The face check (R2): the [`FaceVerifier`] trait a certified engine plugs
//! into, and [`ReferenceFaceVerifier`], a documented toy that makes the flow
//! testable.
//!
//! The authority alone decides; the phone only ever hears pass or fail (the
//! reasons below stay in the authority's records).

use chrono::{DateTime, Utc};
use mynakit_core::Picture;
use serde::{Deserialize, Serialize};

pub use mynakit_core::reset::wire::{FRAME_HEIGHT, FRAME_WIDTH, Frame, LivenessAction};

/// What the session asked for: the actions in order and the time window
/// frames must fall in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivenessChallenge {
    /// The actions, in the order asked.
    pub actions: Vec<LivenessAction>,
    /// When the session opened.
    pub opened_at: DateTime<Utc>,
    /// The session's hard cap.
    pub ends_by: DateTime<Utc>,
    /// Most frames accepted.
    pub max_frames: usize,
}

/// Why a face check failed. Kept by the authority; never sent to the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceFailure {
    /// No frames, too many, or a frame of the wrong size.
    BadFrames,
    /// The first frame is not a neutral ("look at the camera") frame.
    NoNeutralFrame,
    /// A frame's time is outside the session, or times go backwards.
    FrameOutsideSession,
    /// The actions were not performed in the order asked.
    ActionsOutOfOrder,
    /// The frames of an action do not show the movement it asks for.
    ActionNotPerformed,
    /// The face is not the chip photo's.
    Mismatch,
    /// The face matches overall but the eyes or the mouth are hidden (mask,
    /// sunglasses: R2 says those fail).
    Occluded,
    /// The chip photo could not be used.
    PhotoUnusable,
}

/// The verdict: pass, or fail with the authority-side reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceVerdict {
    /// The same holder, live, performing the actions asked.
    Pass,
    /// Anything else.
    Fail(FaceFailure),
}

/// A face-matching and liveness engine. A certified engine implements this;
/// the authority calls it once per capture attempt.
pub trait FaceVerifier: Send + Sync {
    /// Compares `frames` with `chip_photo` and checks the liveness evidence
    /// against `challenge`.
    fn verify(
        &self,
        chip_photo: &Picture,
        challenge: &LivenessChallenge,
        frames: &[Frame],
    ) -> FaceVerdict;
}

/// The reference verifier. **What it is**: normalised cross-correlation
/// (NCC, invariant to brightness gain and offset) between the chip photo,
/// scaled to 64×80 greyscale, and each frame, maximised over shifts of
/// ±9 px and scales 0.88–1.12 (coarse to half a pixel); the best NCC over the face window must reach
/// [`ReferenceFaceVerifier::face_threshold`], and the NCC of the eye band
/// and of the mouth band at that placement (or within a pixel of it) must each reach
/// [`ReferenceFaceVerifier::region_threshold`] (a mask or sunglasses leave a
/// flat patch there, so those fail: R2). Liveness: the first frame is
/// neutral, the prompted actions appear in the order asked, every frame lies
/// inside the session with times not going backwards, and each action's
/// frames show the face moved by at least 2 px in the action's direction
/// relative to the neutral frame.
///
/// **What it is not**: a face recogniser or a presentation-attack detector.
/// It compares pixels of one drawn face; it knows nothing of identity across
/// ageing, pose or lighting direction, and a printed photo moved in front
/// of the camera passes its liveness check. It exists so that the authority,
/// the sandbox camera and the phone flow can be tested; a certified engine
/// replaces it behind [`FaceVerifier`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceFaceVerifier {
    /// Least NCC over the face window (default 0.80: the sandbox holder scores
    /// 0.97–0.99 through the camera, another drawn face about 0.70).
    pub face_threshold: f32,
    /// Least NCC over the eye band and over the mouth band (default 0.5: the
    /// holder scores 0.64 or more, a mask or sunglasses 0.36 or less).
    pub region_threshold: f32,
}

impl Default for ReferenceFaceVerifier {
    fn default() -> Self {
        Self {
            face_threshold: 0.80,
            region_threshold: 0.5,
        }
    }
}

/// A greyscale image with float pixels, sampled bilinearly.
#[derive(Clone)]
pub(crate) struct Grey {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) pixels: Vec<f32>,
}

impl Grey {
    /// Luminance of an RGBA picture.
    pub(crate) fn from_picture(picture: &Picture) -> Option<Self> {
        let width = usize::try_from(picture.width()).ok()?;
        let height = usize::try_from(picture.height()).ok()?;
        let pixels: Vec<f32> = picture
            .rgba()
            .chunks_exact(4)
            .map(|p| match p {
                [r, g, b, _] => {
                    0.299 * f32::from(*r) + 0.587 * f32::from(*g) + 0.114 * f32::from(*b)
                }
                _ => 0.0,
            })
            .collect();
        (pixels.len() == width.checked_mul(height)? && width > 1 && height > 1).then_some(Self {
            width,
            height,
            pixels,
        })
    }

    /// A frame's pixels, if it has the accepted size.
    fn from_frame(frame: &Frame) -> Option<Self> {
        let ok = usize::try_from(frame.width).ok() == Some(FRAME_WIDTH)
            && usize::try_from(frame.height).ok() == Some(FRAME_HEIGHT)
            && frame.grey.len() == FRAME_WIDTH * FRAME_HEIGHT;
        ok.then(|| Self {
            width: FRAME_WIDTH,
            height: FRAME_HEIGHT,
            pixels: frame.grey.iter().map(|&v| f32::from(v)).collect(),
        })
    }

    /// The pixel at (x, y), clamped to the edge.
    fn at(&self, x: isize, y: isize) -> f32 {
        let cx = usize::try_from(x.max(0)).unwrap_or(0).min(self.width - 1);
        let cy = usize::try_from(y.max(0)).unwrap_or(0).min(self.height - 1);
        self.pixels
            .get(cy * self.width + cx)
            .copied()
            .unwrap_or(0.0)
    }

    /// Bilinear sample at (x, y) in pixel coordinates.
    pub(crate) fn sample(&self, x: f32, y: f32) -> f32 {
        let (fx, fy) = (x.floor(), y.floor());
        let (ax, ay) = (x - fx, y - fy);
        // Coordinates here are bounded by the image size and a few pixels of
        // shift, far inside isize.
        let (ix, iy) = (fx as isize, fy as isize);
        let top = self.at(ix, iy) * (1.0 - ax) + self.at(ix + 1, iy) * ax;
        let bottom = self.at(ix, iy + 1) * (1.0 - ax) + self.at(ix + 1, iy + 1) * ax;
        top * (1.0 - ay) + bottom * ay
    }

    /// Resized to `width` × `height` (stretching; bilinear on a box-averaged
    /// source is enough for a 2× reduction of a drawn face).
    pub(crate) fn resized(&self, width: usize, height: usize) -> Self {
        let sx = self.width as f32 / width as f32;
        let sy = self.height as f32 / height as f32;
        let mut pixels = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                // Average a 2×2 neighbourhood around the source point to
                // smooth the reduction.
                let (cx, cy) = ((x as f32 + 0.5) * sx - 0.5, (y as f32 + 0.5) * sy - 0.5);
                let q = 0.25 * sx;
                let r = 0.25 * sy;
                let v = (self.sample(cx - q, cy - r)
                    + self.sample(cx + q, cy - r)
                    + self.sample(cx - q, cy + r)
                    + self.sample(cx + q, cy + r))
                    / 4.0;
                pixels.push(v);
            }
        }
        Self {
            width,
            height,
            pixels,
        }
    }
}

/// A rectangle of template coordinates: x0..x1, y0..y1.
type Window = (usize, usize, usize, usize);
/// The face (head) in the 64×80 template.
const FACE_WINDOW: Window = (12, 52, 8, 58);
/// The eye band.
pub(crate) const EYE_BAND: Window = (18, 46, 25, 36);
/// The mouth (and nose tip) band.
pub(crate) const MOUTH_BAND: Window = (20, 44, 39, 52);

/// Where the template lands in a frame: shift and scale about the centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Placement {
    dx: f32,
    dy: f32,
    scale: f32,
}

const CENTRE: (f32, f32) = (FRAME_WIDTH as f32 / 2.0, FRAME_HEIGHT as f32 / 2.0);

/// NCC between the template over `window` and the frame at `placement`.
pub(crate) fn ncc(template: &Grey, frame: &Grey, window: Window, placement: Placement) -> f32 {
    let (x0, x1, y0, y1) = window;
    let mut n = 0.0f32;
    let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for ty in y0..y1 {
        for tx in x0..x1 {
            let a = template.at(tx as isize, ty as isize);
            let fx = (tx as f32 - CENTRE.0) * placement.scale + CENTRE.0 + placement.dx;
            let fy = (ty as f32 - CENTRE.1) * placement.scale + CENTRE.1 + placement.dy;
            let b = frame.sample(fx, fy);
            n += 1.0;
            sa += a;
            sb += b;
            saa += a * a;
            sbb += b * b;
            sab += a * b;
        }
    }
    let cov = sab - sa * sb / n;
    let va = saa - sa * sa / n;
    let vb = sbb - sb * sb / n;
    if va <= f32::EPSILON || vb <= f32::EPSILON {
        return 0.0;
    }
    cov / (va * vb).sqrt()
}

/// The best placement of the template in the frame, coarse to fine.
pub(crate) fn best_placement(template: &Grey, frame: &Grey) -> (Placement, f32) {
    let mut best = (
        Placement {
            dx: 0.0,
            dy: 0.0,
            scale: 1.0,
        },
        f32::MIN,
    );
    for scale in [0.88f32, 0.94, 1.0, 1.06, 1.12] {
        for dy in (-9..=9).step_by(3) {
            for dx in (-9..=9).step_by(3) {
                let p = Placement {
                    dx: dx as f32,
                    dy: dy as f32,
                    scale,
                };
                let score = ncc(template, frame, FACE_WINDOW, p);
                if score > best.1 {
                    best = (p, score);
                }
            }
        }
    }
    // Refine around the best: ±1 px and ±0.03 in scale, then ±0.5 px and
    // ±0.015.
    for (step, scale_step) in [(1.0f32, 0.03f32), (0.5, 0.015)] {
        let around = best.0;
        for ds in [-scale_step, 0.0, scale_step] {
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let p = Placement {
                        dx: around.dx + dx as f32 * step,
                        dy: around.dy + dy as f32 * step,
                        scale: around.scale + ds,
                    };
                    let score = ncc(template, frame, FACE_WINDOW, p);
                    if score > best.1 {
                        best = (p, score);
                    }
                }
            }
        }
    }
    best
}

/// The best NCC of a region within a pixel of `placement` (half-pixel
/// steps): a thin feature (the mouth) loses most of its correlation when the
/// whole-face placement is half a pixel off, a hidden one has none to find.
pub(crate) fn region_score(
    template: &Grey,
    frame: &Grey,
    region: Window,
    placement: Placement,
) -> f32 {
    let mut best = f32::MIN;
    for dy in -2..=2 {
        for dx in -2..=2 {
            let p = Placement {
                dx: placement.dx + dx as f32 * 0.5,
                dy: placement.dy + dy as f32 * 0.5,
                scale: placement.scale,
            };
            best = best.max(ncc(template, frame, region, p));
        }
    }
    best
}

/// The chip photo as the 64×80 template the frames are compared with.
pub(crate) fn template_of(chip_photo: &Picture) -> Option<Grey> {
    Grey::from_picture(chip_photo).map(|g| g.resized(FRAME_WIDTH, FRAME_HEIGHT))
}

impl ReferenceFaceVerifier {
    fn liveness_order(challenge: &LivenessChallenge, frames: &[Frame]) -> Result<(), FaceFailure> {
        let Some(first) = frames.first() else {
            return Err(FaceFailure::BadFrames);
        };
        if first.action.is_some() {
            return Err(FaceFailure::NoNeutralFrame);
        }
        let mut previous = challenge.opened_at;
        for frame in frames {
            if frame.captured_at < previous || frame.captured_at > challenge.ends_by {
                return Err(FaceFailure::FrameOutsideSession);
            }
            previous = frame.captured_at;
        }
        let mut performed: Vec<LivenessAction> = Vec::new();
        for action in frames.iter().filter_map(|f| f.action) {
            if performed.last() != Some(&action) {
                performed.push(action);
            }
        }
        if performed != challenge.actions {
            return Err(FaceFailure::ActionsOutOfOrder);
        }
        Ok(())
    }
}

impl FaceVerifier for ReferenceFaceVerifier {
    fn verify(
        &self,
        chip_photo: &Picture,
        challenge: &LivenessChallenge,
        frames: &[Frame],
    ) -> FaceVerdict {
        match self.check(chip_photo, challenge, frames) {
            Ok(()) => FaceVerdict::Pass,
            Err(failure) => FaceVerdict::Fail(failure),
        }
    }
}

impl ReferenceFaceVerifier {
    fn check(
        &self,
        chip_photo: &Picture,
        challenge: &LivenessChallenge,
        frames: &[Frame],
    ) -> Result<(), FaceFailure> {
        if frames.is_empty() || frames.len() > challenge.max_frames {
            return Err(FaceFailure::BadFrames);
        }
        let pictures = frames
            .iter()
            .map(Grey::from_frame)
            .collect::<Option<Vec<_>>>()
            .ok_or(FaceFailure::BadFrames)?;
        Self::liveness_order(challenge, frames)?;
        let template = template_of(chip_photo).ok_or(FaceFailure::PhotoUnusable)?;
        let mut neutral: Option<Placement> = None;
        for (frame, picture) in frames.iter().zip(&pictures) {
            let (placement, score) = best_placement(&template, picture);
            if score < self.face_threshold {
                return Err(FaceFailure::Mismatch);
            }
            let eyes = region_score(&template, picture, EYE_BAND, placement);
            let mouth = region_score(&template, picture, MOUTH_BAND, placement);
            if eyes < self.region_threshold || mouth < self.region_threshold {
                return Err(FaceFailure::Occluded);
            }
            match (frame.action, neutral) {
                (None, None) => neutral = Some(placement),
                (None, Some(_)) => {}
                (Some(action), Some(base)) => {
                    let (ex, ey) = action.displacement();
                    let (mx, my) = (placement.dx - base.dx, placement.dy - base.dy);
                    // The movement along the asked direction, and across it.
                    let along = mx * ex.signum() as f32 + my * ey.signum() as f32;
                    let across = if ex != 0 { my.abs() } else { mx.abs() };
                    if along < 2.0 || across > 2.0 {
                        return Err(FaceFailure::ActionNotPerformed);
                    }
                }
                // liveness_order made the first frame neutral.
                (Some(_), None) => return Err(FaceFailure::NoNeutralFrame),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_debug_shows_no_pixels() {
        let frame = Frame {
            width: 64,
            height: 80,
            grey: vec![0xAB; FRAME_WIDTH * FRAME_HEIGHT],
            captured_at: DateTime::<Utc>::UNIX_EPOCH,
            action: Some(LivenessAction::Nod),
        };
        let text = format!("{frame:?}");
        assert!(
            text.contains("<redacted>") && text.contains("64x80"),
            "{text}"
        );
        assert!(!text.contains("171"), "{text}");
    }

    #[test]
    fn frames_of_the_wrong_size_or_too_many_fail_without_panicking() {
        let photo = Picture::from_jpeg2000(crate::fixtures::FACE_PHOTO_JP2).unwrap();
        let opened_at = DateTime::<Utc>::UNIX_EPOCH;
        let challenge = LivenessChallenge {
            actions: vec![LivenessAction::Nod],
            opened_at,
            ends_by: opened_at + chrono::TimeDelta::seconds(300),
            max_frames: 2,
        };
        let frame = |width: u32, len: usize| Frame {
            width,
            height: 80,
            grey: vec![0; len],
            captured_at: opened_at,
            action: None,
        };
        let verifier = ReferenceFaceVerifier::default();
        for frames in [
            vec![],
            vec![frame(63, 63 * 80)],
            vec![frame(64, 10)],
            vec![frame(64, 64 * 80); 3],
        ] {
            assert_eq!(
                verifier.verify(&photo, &challenge, &frames),
                FaceVerdict::Fail(FaceFailure::BadFrames)
            );
        }
    }
}
