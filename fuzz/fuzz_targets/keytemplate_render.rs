//! Fuzzes S3 key validation and `!{timestamp:...}` rendering with arbitrary keys and instants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sm_keytemplate::fuzzing::render_key(data));
