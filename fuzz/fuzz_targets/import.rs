//! `alastor data import`'s reader on arbitrary text: an error for anything malformed, never a panic.
#![no_main]

use alastor::core::store::export::StoreDump;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = StoreDump::from_json(text);
});
