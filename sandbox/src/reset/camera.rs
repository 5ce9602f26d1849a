//! The sandbox camera: frames of someone performing the asked liveness
//! actions, so the face check runs on a desktop and in CI.
//!
//! Frames are drawn from a source face (the chip photo, or another drawn
//! face) with what a phone camera adds: a shift and scale for the whole
//! capture, a jitter of up to a pixel per frame, a brightness gain and
//! offset, and Gaussian-ish noise. Everything comes from a seeded generator,
//! so a test that fails fails the same way every time.

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::Picture;

use super::face::{FRAME_HEIGHT, FRAME_WIDTH, Frame, Grey, LivenessAction};

/// Who is in front of the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraSubject {
    /// The card's holder (frames drawn from the chip photo).
    Holder,
    /// Someone else: a different drawn face.
    AnotherHolder,
    /// The holder wearing a mask over nose and mouth.
    Masked,
    /// The holder wearing sunglasses.
    Sunglasses,
}

/// A deterministic camera.
#[derive(Debug, Clone)]
pub struct SandboxCamera {
    subject: CameraSubject,
    state: u64,
}

impl SandboxCamera {
    /// A camera filming `subject`, its randomness seeded with `seed`.
    pub fn new(subject: CameraSubject, seed: u64) -> Self {
        Self {
            subject,
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// xorshift64*: small, deterministic, good enough for camera noise.
    fn next(&mut self) -> u64 {
        let mut x = self.state.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    /// Roughly normal (sum of four uniforms), mean 0, deviation `sigma`.
    fn noise(&mut self, sigma: f32) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform(-1.0, 1.0)).sum();
        s * sigma * 0.866
    }

    /// The frames of one capture: a neutral frame, then `per_action` frames
    /// for each of `actions` in the order given, one second apart from
    /// `start`. `chip_photo` is the holder's face (the camera's subject
    /// decides what is drawn from it).
    pub fn capture(
        &mut self,
        chip_photo: &Picture,
        actions: &[LivenessAction],
        per_action: usize,
        start: DateTime<Utc>,
    ) -> Vec<Frame> {
        let source = self.source(chip_photo);
        let shift = (self.uniform(-3.0, 3.0), self.uniform(-3.0, 3.0));
        let scale = self.uniform(0.94, 1.06);
        let gain = self.uniform(0.6, 1.3);
        let offset = self.uniform(-25.0, 25.0);
        let mut prompts: Vec<Option<LivenessAction>> = vec![None];
        for action in actions {
            prompts.extend(std::iter::repeat_n(Some(*action), per_action));
        }
        let mut frames = Vec::with_capacity(prompts.len());
        let mut at = start;
        for prompt in prompts {
            at += TimeDelta::seconds(1);
            let (mx, my) = prompt.map_or((0, 0), LivenessAction::displacement);
            let dx = shift.0 + mx as f32 + self.uniform(-0.5, 0.5);
            let dy = shift.1 + my as f32 + self.uniform(-0.5, 0.5);
            let mut grey = Vec::with_capacity(FRAME_WIDTH * FRAME_HEIGHT);
            let (cx, cy) = (FRAME_WIDTH as f32 / 2.0, FRAME_HEIGHT as f32 / 2.0);
            for y in 0..FRAME_HEIGHT {
                for x in 0..FRAME_WIDTH {
                    // Where this pixel looks in the 64×80 face.
                    let tx = (x as f32 - cx - dx) / scale + cx;
                    let ty = (y as f32 - cy - dy) / scale + cy;
                    let v = source.sample(tx, ty) * gain + offset + self.noise(5.0);
                    grey.push(v.clamp(0.0, 255.0) as u8);
                }
            }
            frames.push(Frame {
                width: FRAME_WIDTH as u32,
                height: FRAME_HEIGHT as u32,
                grey,
                captured_at: at,
                action: prompt,
            });
        }
        frames
    }

    /// The face in front of the camera, at the frame's 64×80 size.
    fn source(&self, chip_photo: &Picture) -> Grey {
        let holder = Grey::from_picture(chip_photo).unwrap_or_else(|| blank(120, 160, 228.0));
        let mut face = match self.subject {
            CameraSubject::AnotherHolder => another_face(),
            _ => holder,
        };
        // Occlusions are drawn on the 120×160 photo's coordinates, scaled.
        let (sx, sy) = (face.width as f32 / 120.0, face.height as f32 / 160.0);
        match self.subject {
            CameraSubject::Masked => {
                fill_ellipse(
                    &mut face,
                    (30.0 * sx, 70.0 * sy, 90.0 * sx, 112.0 * sy),
                    215.0,
                );
            }
            CameraSubject::Sunglasses => {
                fill_rect(
                    &mut face,
                    (36.0 * sx, 54.0 * sy, 84.0 * sx, 69.0 * sy),
                    25.0,
                );
            }
            CameraSubject::Holder | CameraSubject::AnotherHolder => {}
        }
        face.resized(FRAME_WIDTH, FRAME_HEIGHT)
    }
}

fn blank(width: usize, height: usize, level: f32) -> Grey {
    Grey {
        width,
        height,
        pixels: vec![level; width * height],
    }
}

/// Fills the ellipse inscribed in (x0, y0, x1, y1).
fn fill_ellipse(image: &mut Grey, (x0, y0, x1, y1): (f32, f32, f32, f32), level: f32) {
    let (cx, cy, rx, ry) = (
        (x0 + x1) / 2.0,
        (y0 + y1) / 2.0,
        (x1 - x0) / 2.0,
        (y1 - y0) / 2.0,
    );
    let width = image.width;
    for (i, p) in image.pixels.iter_mut().enumerate() {
        let (x, y) = ((i % width) as f32 + 0.5, (i / width) as f32 + 0.5);
        let (u, v) = ((x - cx) / rx, (y - cy) / ry);
        if u * u + v * v <= 1.0 {
            *p = level;
        }
    }
}

/// Fills the rectangle (x0, y0, x1, y1).
fn fill_rect(image: &mut Grey, (x0, y0, x1, y1): (f32, f32, f32, f32), level: f32) {
    let width = image.width;
    for (i, p) in image.pixels.iter_mut().enumerate() {
        let (x, y) = ((i % width) as f32 + 0.5, (i / width) as f32 + 0.5);
        if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
            *p = level;
        }
    }
}

/// Someone else: another drawn face on the same 120×160 canvas (a rounder,
/// lower head, a flat fringe, wide-set narrow eyes, a straight mouth).
fn another_face() -> Grey {
    let mut g = blank(120, 160, 228.0);
    fill_ellipse(&mut g, (4.0, 112.0, 116.0, 200.0), 110.0);
    fill_rect(&mut g, (50.0, 96.0, 70.0, 120.0), 140.0);
    fill_ellipse(&mut g, (20.0, 34.0, 100.0, 118.0), 150.0);
    fill_rect(&mut g, (22.0, 28.0, 98.0, 52.0), 30.0);
    fill_ellipse(&mut g, (32.0, 66.0, 50.0, 71.0), 70.0);
    fill_ellipse(&mut g, (70.0, 66.0, 88.0, 71.0), 70.0);
    fill_rect(&mut g, (58.0, 72.0, 62.0, 90.0), 125.0);
    fill_rect(&mut g, (46.0, 100.0, 74.0, 104.0), 80.0);
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reset::face::{
        FaceFailure, FaceVerdict, FaceVerifier, LivenessChallenge, ReferenceFaceVerifier,
    };

    fn verdict(subject: CameraSubject, seed: u64, actions: &[LivenessAction]) -> FaceVerdict {
        let photo = Picture::from_jpeg2000(crate::fixtures::FACE_PHOTO_JP2).unwrap();
        let opened_at = DateTime::<Utc>::UNIX_EPOCH;
        let frames = SandboxCamera::new(subject, seed).capture(&photo, actions, 1, opened_at);
        let challenge = LivenessChallenge {
            actions: actions.to_vec(),
            opened_at,
            ends_by: opened_at + TimeDelta::seconds(300),
            max_frames: 32,
        };
        ReferenceFaceVerifier::default().verify(&photo, &challenge, &frames)
    }

    const ACTIONS: [LivenessAction; 3] = [
        LivenessAction::Nod,
        LivenessAction::TurnRight,
        LivenessAction::TurnLeft,
    ];

    #[test]
    fn r2_the_holder_passes_whatever_the_camera_adds() {
        for seed in 0..4 {
            assert_eq!(
                verdict(CameraSubject::Holder, seed, &ACTIONS),
                FaceVerdict::Pass,
                "seed {seed}"
            );
        }
    }

    #[test]
    fn r2_another_holder_a_mask_and_sunglasses_fail() {
        for seed in 0..3 {
            assert_eq!(
                verdict(CameraSubject::AnotherHolder, seed, &ACTIONS),
                FaceVerdict::Fail(FaceFailure::Mismatch)
            );
            assert_eq!(
                verdict(CameraSubject::Masked, seed, &ACTIONS),
                FaceVerdict::Fail(FaceFailure::Occluded)
            );
            assert_eq!(
                verdict(CameraSubject::Sunglasses, seed, &ACTIONS),
                FaceVerdict::Fail(FaceFailure::Occluded)
            );
        }
    }

    #[test]
    fn frames_that_do_not_show_the_movement_fail_liveness() {
        let photo = Picture::from_jpeg2000(crate::fixtures::FACE_PHOTO_JP2).unwrap();
        let opened_at = DateTime::<Utc>::UNIX_EPOCH;
        // The camera performs Nod, but the frames are labelled LookUp: the
        // face moves the wrong way.
        let mut frames =
            SandboxCamera::new(CameraSubject::Holder, 7).capture(&photo, &ACTIONS, 1, opened_at);
        for f in &mut frames {
            if f.action == Some(LivenessAction::Nod) {
                f.action = Some(LivenessAction::LookUp);
            }
        }
        let challenge = LivenessChallenge {
            actions: vec![
                LivenessAction::LookUp,
                LivenessAction::TurnRight,
                LivenessAction::TurnLeft,
            ],
            opened_at,
            ends_by: opened_at + TimeDelta::seconds(300),
            max_frames: 32,
        };
        assert_eq!(
            ReferenceFaceVerifier::default().verify(&photo, &challenge, &frames),
            FaceVerdict::Fail(FaceFailure::ActionNotPerformed)
        );
    }
}
