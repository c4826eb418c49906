//! Fuzzes the export engine with arbitrary event sequences: see `sm_export::fuzzing::engine`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sm_export::fuzzing::engine(data));
