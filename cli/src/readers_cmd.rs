//! `mynakit readers`: the PC/SC readers and what is in them.

use crate::CmdResult;
use crate::output::Output;

/// Lists the readers (or says this build has no PC/SC support).
#[cfg(feature = "pcsc")]
pub fn run(out: &Output) -> CmdResult {
    use crate::pcsc_reader::{CardPresence, list_readers};
    let readers = list_readers()?;
    out.result(&readers, || {
        if readers.is_empty() {
            return "no PC/SC readers".to_owned();
        }
        readers
            .iter()
            .map(|r| {
                let card = match r.card {
                    CardPresence::Empty => "no card",
                    CardPresence::Present if r.my_number_card => "My Number card",
                    CardPresence::Present => "a card",
                    CardPresence::InUse => "a card, in use by another program",
                    CardPresence::Mute => "a card that does not answer",
                };
                let atr = r
                    .atr
                    .as_ref()
                    .map(|a| format!(" (ATR {a})"))
                    .unwrap_or_default();
                format!("{}: {card}{atr}", r.name)
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// Lists the readers (or says this build has no PC/SC support).
#[cfg(not(feature = "pcsc"))]
pub fn run(_out: &Output) -> CmdResult {
    Err(crate::reader::no_pcsc_support())
}
