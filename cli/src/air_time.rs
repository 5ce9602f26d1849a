//! How long APDUs take on the NFC air interface: a model of ISO/IEC 14443-4
//! over Type B (the My Number card is Type B), from APDU sizes alone.
//!
//! The model, per exchange:
//! - the command travels in I-blocks of at most FSC bytes and the response
//!   in I-blocks of at most FSD bytes (both taken as 256, FSCI = FSDI = 8);
//!   an I-block is PCB (1 byte, no CID, no NAD) + INF + CRC_B (2 bytes), so
//!   it carries at most 253 APDU bytes;
//! - a longer APDU is chained: every block but the last is acknowledged by
//!   an R(ACK) block (PCB + CRC_B, 3 bytes) from the other side;
//! - each byte is a character of 10 etu (start bit, 8 data bits, stop bit;
//!   extra guard time EGT = 0), each frame adds SOF (12 etu: 10 low, 2 high)
//!   and EOF (10 etu);
//! - 1 etu = 128/fc at 106 kbit/s and 32/fc at 424 kbit/s (fc = 13.56 MHz),
//!   the same rate both ways.
//!
//! Not included: the card's processing time (bounded by FWT, and the bulk
//! of a signature's time), frame delay and guard times between frames
//! (TR0, TR1, SFGT, about 0.1 ms per frame at 106 kbit/s), S(WTX) blocks,
//! activation (REQB/ATTRIB), and anything above the air (OS, PC/SC,
//! IsoDep). It is a lower bound on the time the bytes themselves need.

use serde::Serialize;

/// The carrier frequency, Hz.
const FC_HZ: f64 = 13_560_000.0;
/// The largest frame either side accepts (FSC = FSD), PCB and CRC included.
pub const FRAME_SIZE: usize = 256;
/// PCB + CRC_B.
const BLOCK_OVERHEAD: usize = 3;
/// SOF + EOF, in etu.
const FRAME_ETU: u64 = 12 + 10;
/// Start + 8 data + stop bits, in etu.
const CHARACTER_ETU: u64 = 10;

/// A bit rate of the 14443 air interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitRate {
    /// fc/128 ≈ 106 kbit/s, the rate every card supports.
    Kbps106,
    /// fc/32 ≈ 424 kbit/s.
    Kbps424,
}

impl BitRate {
    fn etu_seconds(self) -> f64 {
        match self {
            Self::Kbps106 => 128.0 / FC_HZ,
            Self::Kbps424 => 32.0 / FC_HZ,
        }
    }
}

/// Frames and bytes one APDU exchange puts on the air.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AirLoad {
    /// Frames, both directions (I-blocks and R(ACK)s).
    pub frames: u64,
    /// Bytes, both directions, block overhead included.
    pub bytes: u64,
}

impl AirLoad {
    /// The load of one command of `command_bytes` answered with
    /// `response_bytes` (status word included).
    pub fn exchange(command_bytes: usize, response_bytes: usize) -> Self {
        let chain = |apdu: usize| {
            let payload = FRAME_SIZE - BLOCK_OVERHEAD;
            let blocks = apdu.div_ceil(payload).max(1) as u64;
            // The I-blocks, plus an R(ACK) for each but the last.
            let frames = 2 * blocks - 1;
            (frames, apdu as u64 + frames * BLOCK_OVERHEAD as u64)
        };
        let (cf, cb) = chain(command_bytes);
        let (rf, rb) = chain(response_bytes);
        Self {
            frames: cf + rf,
            bytes: cb + rb,
        }
    }

    /// Adds another exchange's load.
    pub fn plus(self, other: Self) -> Self {
        Self {
            frames: self.frames + other.frames,
            bytes: self.bytes + other.bytes,
        }
    }

    /// Air time in milliseconds at `rate`.
    pub fn millis(self, rate: BitRate) -> f64 {
        let etu = self.bytes * CHARACTER_ETU + self.frames * FRAME_ETU;
        etu as f64 * rate.etu_seconds() * 1000.0
    }
}

/// The air load of a sequence of `(command bytes, response bytes)` exchanges.
pub fn load_of(exchanges: impl IntoIterator<Item = (usize, usize)>) -> AirLoad {
    exchanges
        .into_iter()
        .fold(AirLoad::default(), |acc, (c, r)| {
            acc.plus(AirLoad::exchange(c, r))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_exchange_is_two_frames() {
        // SELECT (15 bytes) answered 9000: 18 + 5 bytes, 2 frames.
        let load = AirLoad::exchange(15, 2);
        assert_eq!(
            load,
            AirLoad {
                frames: 2,
                bytes: 23
            }
        );
        // 23 × 10 + 2 × 22 = 274 etu ≈ 2.59 ms at 106 kbit/s, a quarter at 424.
        let ms = load.millis(BitRate::Kbps106);
        assert!((ms - 274.0 * 128.0 / 13_560.0).abs() < 1e-9, "{ms}");
        assert!((load.millis(BitRate::Kbps424) * 4.0 - ms).abs() < 1e-9);
    }

    #[test]
    fn long_responses_are_chained_with_acknowledgements() {
        // 1502 bytes: 6 blocks of ≤ 253 (5 full, 1 of 237), 5 R(ACK)s.
        let load = AirLoad::exchange(7, 1502);
        assert_eq!(load.frames, 1 + 11);
        assert_eq!(load.bytes, 7 + 3 + 1502 + 11 * 3);
        assert_eq!(AirLoad::exchange(7, 253).frames, 2);
        assert_eq!(AirLoad::exchange(7, 254).frames, 4);
        assert_eq!(
            load_of([(15, 2), (7, 1502)]),
            AirLoad::exchange(15, 2).plus(load)
        );
    }
}
