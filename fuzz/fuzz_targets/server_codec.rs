//! Fuzzes the connection codec: version byte, frames, Connect, every request decoder.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sm_wire::fuzzing::server_codec(data));
