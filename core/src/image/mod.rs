//! Pictures: the chip's face photo (Kenmen DF27, greyscale JPEG 2000) decoded
//! to 8-bit RGBA for an app to show ("is this you?", issue 8), and encoded as
//! PNG. Android has no JPEG 2000 decoder, so the core decodes: with
//! `hayro-jpeg2000`, a pure-Rust decoder that forbids `unsafe`.
//!
//! The photo is outside data (a card, or whatever answers as one): every
//! input ends in a [`Picture`] or a typed [`PictureError`], never a panic.
//! Size limits are checked before any pixel is decoded, and a panic inside
//! the decoder (a bug of the decoder on hostile input) is caught and
//! reported as [`PictureError::DecoderFault`]. The `picture` fuzz target
//! (`tests/src/fuzzing.rs`) feeds it arbitrary bytes.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use hayro_jpeg2000::{ColorSpace, DecodeSettings, Image};
use zeroize::{Zeroize, Zeroizing};

/// The largest JPEG 2000 file decoded. A policy value of ours, not a card
/// fact: a card's face photo is a few kilobytes (the sandbox's is 1.6 KB);
/// the bound keeps hostile input from costing unbounded work.
pub const MAX_JPEG2000_BYTES: usize = 1024 * 1024;

/// The most pixels decoded (width × height). A policy value of ours: a card
/// photo is small (the sandbox's is 120 × 160); 4 Mpx (16 MiB as RGBA) keeps
/// a forged header from exhausting a phone's memory.
pub const MAX_PIXELS: u64 = 4 * 1024 * 1024;

/// A decoded picture: 8-bit RGBA, rows top to bottom. A face photo is
/// personal data: `Debug` shows only the size, and the pixels are wiped
/// when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Picture {
    width: u32,
    height: u32,
    rgba: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Picture")
            .field("width", &self.width)
            .field("height", &self.height)
            .field(
                "rgba",
                &format_args!("<{} bytes redacted>", self.rgba.len()),
            )
            .finish()
    }
}

/// Why a picture could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PictureError {
    /// Larger than [`MAX_JPEG2000_BYTES`].
    #[error("the picture is {bytes} bytes, more than the {MAX_JPEG2000_BYTES} decoded")]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// More pixels than [`MAX_PIXELS`], or no pixels at all.
    #[error("the picture's size {width} × {height} is not decoded")]
    BadDimensions {
        /// Width the header claims.
        width: u32,
        /// Height the header claims.
        height: u32,
    },
    /// Not a JPEG 2000 file, or a damaged one.
    #[error("the picture is not a well-formed JPEG 2000 file: {reason}")]
    Malformed {
        /// What the decoder found.
        reason: String,
    },
    /// A colour space that cannot be shown as RGBA (an unknown one with
    /// this many channels).
    #[error("the picture's colour space ({channels} channels) cannot be shown")]
    UnsupportedColour {
        /// Its channels, alpha excluded.
        channels: u8,
    },
    /// The decoder failed inside (it panicked on this input; the panic was
    /// caught). The input is hostile or the decoder has a bug.
    #[error("the JPEG 2000 decoder failed on this picture")]
    DecoderFault,
    /// PNG encoding failed.
    #[error("the picture could not be encoded as PNG: {reason}")]
    Png {
        /// What the encoder reported.
        reason: String,
    },
}

impl Picture {
    /// Decodes a JPEG 2000 file (JP2 container or raw codestream) to RGBA.
    /// Greyscale becomes grey RGB; CMYK is converted naively (no profile);
    /// an ICC-based colour space is taken as grey, RGB or CMYK by its
    /// channel count, its profile ignored (a phone screen shows the face;
    /// exact colour does not matter for "is this you?").
    pub fn from_jpeg2000(data: &[u8]) -> Result<Self, PictureError> {
        if data.len() > MAX_JPEG2000_BYTES {
            return Err(PictureError::TooLarge { bytes: data.len() });
        }
        // The decoder is pure Rust with `unsafe` forbidden, but it can
        // panic on input it did not expect: a panic here must not take the
        // app down (the release profiles unwind).
        catch_unwind(AssertUnwindSafe(|| decode(data))).unwrap_or(Err(PictureError::DecoderFault))
    }

    /// From RGBA pixels (`width × height × 4` bytes), e.g. a frame to
    /// encode as PNG. `None` if the sizes disagree.
    pub fn from_rgba(width: u32, height: u32, rgba: Vec<u8>) -> Option<Self> {
        let expected = (u64::from(width) * u64::from(height)).checked_mul(4);
        (u64::try_from(rgba.len()).ok() == expected).then(|| Self {
            width,
            height,
            rgba: Zeroizing::new(rgba),
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels: RGBA, 8 bits each, rows top to bottom, no padding.
    pub fn rgba(&self) -> &[u8] {
        &self.rgba
    }

    /// The picture as an 8-bit RGBA PNG. The encoded bytes are personal
    /// data too: the caller wipes or protects them.
    pub fn to_png(&self) -> Result<Vec<u8>, PictureError> {
        let png_error = |e: png::EncodingError| PictureError::Png {
            reason: e.to_string(),
        };
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&self.rgba).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
        Ok(out)
    }
}

fn decode(data: &[u8]) -> Result<Picture, PictureError> {
    let malformed = |e: hayro_jpeg2000::DecodeError| PictureError::Malformed {
        reason: format!("{e:?}"),
    };
    let image = Image::new(data, &DecodeSettings::default()).map_err(malformed)?;
    let (width, height) = (image.width(), image.height());
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 || pixels > MAX_PIXELS {
        return Err(PictureError::BadDimensions { width, height });
    }
    let channels = match image.color_space() {
        ColorSpace::Gray => 1,
        ColorSpace::RGB => 3,
        ColorSpace::CMYK => 4,
        ColorSpace::Icc { num_channels, .. } if matches!(num_channels, 1 | 3 | 4) => *num_channels,
        other => {
            return Err(PictureError::UnsupportedColour {
                channels: other.num_channels(),
            });
        }
    };
    let alpha = image.has_alpha();
    let mut samples = Zeroizing::new(image.decode().map_err(malformed)?);
    let stride = usize::from(channels) + usize::from(alpha);
    let expected = usize::try_from(pixels)
        .ok()
        .and_then(|p| p.checked_mul(stride));
    if expected != Some(samples.len()) {
        return Err(PictureError::Malformed {
            reason: "the decoder returned a buffer of the wrong size".to_owned(),
        });
    }
    let mut rgba = Zeroizing::new(Vec::with_capacity(samples.len() / stride * 4));
    for pixel in samples.chunks_exact(stride) {
        let (colour, opacity) = if alpha {
            match pixel.split_last() {
                Some((a, colour)) => (colour, *a),
                None => (pixel, u8::MAX),
            }
        } else {
            (pixel, u8::MAX)
        };
        let [r, g, b] = match *colour {
            [grey] => [grey; 3],
            [r, g, b] => [r, g, b],
            [c, m, y, k] => [c, m, y].map(|v| cmyk_to_rgb(v, k)),
            // `stride` was computed from 1, 3 or 4 channels.
            _ => [0; 3],
        };
        rgba.extend_from_slice(&[r, g, b, opacity]);
    }
    samples.zeroize();
    Ok(Picture {
        width,
        height,
        rgba,
    })
}

/// Naive CMYK to RGB: (255 − C)(255 − K) / 255.
fn cmyk_to_rgb(value: u8, k: u8) -> u8 {
    let v = (u16::from(u8::MAX - value) * u16::from(u8::MAX - k)) / u16::from(u8::MAX);
    u8::try_from(v).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgba_sizes_must_agree() {
        assert!(Picture::from_rgba(2, 1, vec![0; 8]).is_some());
        assert!(Picture::from_rgba(2, 1, vec![0; 7]).is_none());
        assert!(Picture::from_rgba(u32::MAX, u32::MAX, Vec::new()).is_none());
    }

    #[test]
    fn debug_shows_the_size_only() {
        let picture = Picture::from_rgba(1, 1, vec![0xAB, 0xCD, 0xEF, 0x12]).unwrap();
        let text = format!("{picture:?}");
        assert!(
            text.contains("width: 1") && text.contains("redacted"),
            "{text}"
        );
        assert!(!text.contains("171") && !text.contains("AB"), "{text}");
    }

    #[test]
    fn cmyk_converts_to_the_expected_corners() {
        assert_eq!(cmyk_to_rgb(0, 0), 255);
        assert_eq!(cmyk_to_rgb(255, 0), 0);
        assert_eq!(cmyk_to_rgb(0, 255), 0);
        assert_eq!(cmyk_to_rgb(128, 0), 127);
    }

    #[test]
    fn non_jpeg2000_input_is_a_typed_error() {
        for input in [
            &b""[..],
            b"\x89PNG\r\n\x1a\n",
            &[0u8; 64],
            b"\x00\x00\x00\x0cjP  \r\n\x87\n",
        ] {
            assert!(
                matches!(
                    Picture::from_jpeg2000(input),
                    Err(PictureError::Malformed { .. })
                ),
                "{input:?}"
            );
        }
        assert_eq!(
            Picture::from_jpeg2000(&vec![0; MAX_JPEG2000_BYTES + 1]),
            Err(PictureError::TooLarge {
                bytes: MAX_JPEG2000_BYTES + 1
            })
        );
    }
}
