//! Replays every input kept in `fuzz/corpus/{sitewise_entry,s3_task,aws_responses}` (seeds and
//! past findings) on the stable toolchain, so `cargo test` guards what the fuzzer found.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8]), min: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus folder exists") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        run(&data);
        n += 1;
    }
    assert!(
        n >= min,
        "expected the seed corpus in {}, found {n} files",
        dir.display()
    );
}

#[test]
fn sitewise_entry_corpus_replays() {
    replay("sitewise_entry", sm_aws::fuzzing::sitewise_entry, 5);
}

#[test]
fn s3_task_corpus_replays() {
    replay("s3_task", sm_aws::fuzzing::s3_task, 5);
}

#[test]
fn aws_responses_corpus_replays() {
    replay("aws_responses", sm_aws::fuzzing::aws_responses, 5);
}
