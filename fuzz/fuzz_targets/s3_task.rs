//! Fuzzes s3_task: see `sm_aws::fuzzing::s3_task`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sm_aws::fuzzing::s3_task(data));
