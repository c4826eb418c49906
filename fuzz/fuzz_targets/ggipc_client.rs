//! Fuzzes the Greengrass IPC client with arbitrary bytes from the nucleus's side of the socket.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sm_ggipc::fuzzing::client_input(data));
