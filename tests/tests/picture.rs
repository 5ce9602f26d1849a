//! Issue 8: the chip's face photo (JPEG 2000) decoded in the core to RGBA and
//! PNG for the apps ("is this you?"), read from the virtual card the way an
//! app reads it (Kenmen, opened with the printed card front).

use mynakit_core::{CardChannel, CheckCodeB, LastTry, Picture, PictureError};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE, block_on};

fn chip_photo() -> Vec<u8> {
    let sandbox = Sandbox::new();
    let transport = sandbox.transport(LinkSwitches::default());
    let mut channel = CardChannel::new(transport);
    let code =
        CheckCodeB::from_card_front(FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE).unwrap();
    let face = block_on(channel.kenmen().read_face(&code, LastTry::Refuse)).unwrap();
    face.photo_jp2.clone()
}

fn grey_at(picture: &Picture, x: u32, y: u32) -> u8 {
    let at = ((y * picture.width() + x) * 4) as usize;
    let pixel = &picture.rgba()[at..at + 4];
    assert_eq!(pixel[0], pixel[1], "greyscale photo: R = G at ({x}, {y})");
    assert_eq!(pixel[1], pixel[2], "greyscale photo: G = B at ({x}, {y})");
    assert_eq!(pixel[3], 255, "opaque at ({x}, {y})");
    pixel[0]
}

#[test]
fn the_chip_photo_decodes_to_the_face_that_was_drawn() {
    let photo = chip_photo();
    let picture = Picture::from_jpeg2000(&photo).unwrap();
    assert_eq!((picture.width(), picture.height()), (120, 160));
    assert_eq!(picture.rgba().len(), 120 * 160 * 4);
    // sandbox/fixtures/make_images.py draws flat grey regions, saved lossy
    // (rate 12): each reads back within a few levels of what was drawn.
    for (what, x, y, drawn) in [
        ("background", 5, 5, 228u8),
        ("hair", 60, 30, 60),
        ("cheek", 35, 75, 170),
        ("shoulder", 20, 155, 90),
    ] {
        let read = grey_at(&picture, x, y);
        assert!(
            read.abs_diff(drawn) <= 12,
            "{what} at ({x}, {y}): drawn {drawn}, decoded {read}"
        );
    }
}

#[test]
fn the_png_holds_exactly_the_decoded_pixels() {
    let picture = Picture::from_jpeg2000(&chip_photo()).unwrap();
    let png = picture.to_png().unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let (info, pixels) = mynakit_tests::fuzzing::decode_png(&png);
    assert_eq!((info.0, info.1), (120, 160));
    assert_eq!(pixels, picture.rgba());
}

/// The photo with the size in its JP2 header box and codestream SIZ marker
/// both replaced.
fn with_size(photo: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut photo = photo.to_vec();
    let size = [height.to_be_bytes(), width.to_be_bytes()].concat();
    let ihdr = photo.windows(4).position(|w| w == b"ihdr").unwrap() + 4;
    photo[ihdr..ihdr + 8].copy_from_slice(&size);
    // SIZ: marker, Lsiz (2), Rsiz (2), Xsiz (4), Ysiz (4).
    let siz = photo.windows(2).position(|w| w == [0xFF, 0x51]).unwrap();
    let size = [width.to_be_bytes(), height.to_be_bytes()].concat();
    photo[siz + 6..siz + 14].copy_from_slice(&size);
    photo
}

#[test]
fn a_damaged_photo_is_a_typed_error() {
    let photo = chip_photo();
    // Cut short at every length: never a panic, never half a picture.
    for cut in 0..photo.len() {
        let outcome = Picture::from_jpeg2000(&photo[..cut]);
        assert!(
            matches!(outcome, Err(PictureError::Malformed { .. })),
            "cut at {cut}: {outcome:?}"
        );
    }
}

#[test]
fn a_photo_claiming_too_many_pixels_is_refused_before_decoding() {
    let photo = chip_photo();
    // 16 Mpx: over our limit (MAX_PIXELS, 4 Mpx), under the decoder's own.
    assert_eq!(
        Picture::from_jpeg2000(&with_size(&photo, 4096, 4096)),
        Err(PictureError::BadDimensions {
            width: 4096,
            height: 4096
        })
    );
    // 2^32 pixels: the decoder itself refuses it.
    assert!(matches!(
        Picture::from_jpeg2000(&with_size(&photo, 65536, 65536)),
        Err(PictureError::Malformed { .. })
    ));
}
