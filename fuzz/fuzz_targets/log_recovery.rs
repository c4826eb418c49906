//! Arbitrary segment bytes in, a consistent log out: see `sm_log::fuzzing::recovery`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sm_log::fuzzing::recovery(data));
