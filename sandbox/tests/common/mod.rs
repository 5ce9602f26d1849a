//! Helpers shared by the sandbox's integration tests.
#![allow(dead_code)]

use mynakit_core::layout::{Application, FileId};
use mynakit_sandbox::VirtualCard;

/// The status word at the end of a response.
pub fn sw(response: &[u8]) -> u16 {
    assert!(
        response.len() >= 2,
        "response {response:02X?} has no status word"
    );
    u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]])
}

/// The data before the status word.
pub fn data(response: &[u8]) -> &[u8] {
    &response[..response.len() - 2]
}

/// Hex (spaces allowed) to bytes.
pub fn hex(text: &str) -> Vec<u8> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
        .collect()
}

/// `00 A4 04 0C 0A <AID>`.
pub fn select_app(app: Application) -> Vec<u8> {
    let mut c = vec![0x00, 0xA4, 0x04, 0x0C, 0x0A];
    c.extend_from_slice(app.aid());
    c
}

/// `00 A4 02 0C 02 00 xx`.
pub fn select_ef(file: FileId) -> Vec<u8> {
    vec![0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, file.0]
}

/// `00 20 00 (80|SFI) Lc <value>`.
pub fn verify(file: FileId, value: &[u8]) -> Vec<u8> {
    let mut c = vec![0x00, 0x20, 0x00, file.reference_p2(), value.len() as u8];
    c.extend_from_slice(value);
    c
}

/// Sends a command that must succeed and returns its data.
pub fn ok(card: &mut VirtualCard, command: &[u8]) -> Vec<u8> {
    let r = card.process(command);
    assert_eq!(sw(&r), 0x9000, "{command:02X?} answered {:04X}", sw(&r));
    data(&r).to_vec()
}

/// Sends a command and returns only its status word.
pub fn status(card: &mut VirtualCard, command: &[u8]) -> u16 {
    sw(&card.process(command))
}

/// Reads a whole EF of the selected application by SFI with short Le,
/// the way peers loop (offset in P1-P2 after the first read).
pub fn read_all_short(card: &mut VirtualCard, file: FileId) -> Vec<u8> {
    let mut out = ok(card, &[0x00, 0xB0, file.read_p1(), 0x00, 0x00]);
    loop {
        let offset = out.len() as u16;
        let r = card.process(&[0x00, 0xB0, (offset >> 8) as u8, offset as u8, 0x00]);
        match sw(&r) {
            0x9000 => out.extend_from_slice(data(&r)),
            0x6B00 => return out,
            other => panic!("READ BINARY at {offset} answered {other:04X}"),
        }
    }
}
