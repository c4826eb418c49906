//! Fuzzes sitewise_entry: see `sm_aws::fuzzing::sitewise_entry`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sm_aws::fuzzing::sitewise_entry(data));
