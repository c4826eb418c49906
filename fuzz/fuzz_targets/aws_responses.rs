//! Fuzzes aws_responses: see `sm_aws::fuzzing::aws_responses`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sm_aws::fuzzing::aws_responses(data));
