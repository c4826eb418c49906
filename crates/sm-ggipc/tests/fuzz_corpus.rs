//! Replays every input kept in `fuzz/corpus/ggipc_client` (seeds and past findings) on the
//! stable toolchain, so `cargo test` guards what the fuzzer found.

use std::path::Path;

#[test]
fn ggipc_client_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ggipc_client");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus folder exists") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        sm_ggipc::fuzzing::client_input(&data);
        n += 1;
    }
    assert!(
        n >= 9,
        "expected the seed corpus in {}, found {n} files",
        dir.display()
    );
}
