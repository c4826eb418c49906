//! Replays every input kept in `fuzz/corpus/export_engine` (seeds and past findings) on the
//! stable toolchain, and drives the same entry point with random event sequences, so that
//! `cargo test` guards what the fuzzer checks.

use proptest::prelude::*;
use std::path::Path;

#[test]
fn export_engine_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/export_engine");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus folder exists") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        sm_export::fuzzing::engine(&data);
        n += 1;
    }
    assert!(
        n >= 10,
        "expected the seed corpus in {}, found {n} files",
        dir.display()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Arbitrary event sequences never break the engine's invariants.
    #[test]
    fn arbitrary_events(data in prop::collection::vec(any::<u8>(), 0..3000)) {
        sm_export::fuzzing::engine(&data);
    }
}
