//! JSON helpers: the wire format is the core's (`mynakit_core::reset::wire`),
//! re-exported here so the authority's modules name one place.

pub use mynakit_core::reset::wire::{from_hex, hex_bytes, opt_hex_bytes, to_hex};
