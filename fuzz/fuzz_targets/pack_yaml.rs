//! The yaml pack parser on arbitrary text: no panic, whatever the file says.
#![no_main]

use alastor::core::station::model::PackFormat;
use alastor::core::station::pack::parse_pack;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = parse_pack(text, PackFormat::Yaml, std::path::Path::new("fuzz.yaml"));
});
