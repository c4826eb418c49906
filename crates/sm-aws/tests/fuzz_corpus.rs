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

/// The hand-made SiteWise seeds reach the batcher: their payloads are valid entries.
#[test]
fn sitewise_seeds_hold_valid_entries() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sitewise_entry");
    for (seed, valid) in [
        ("size_cut_3", 8),
        ("conflict_same_ts", 3),
        ("invalid_mix", 1),
    ] {
        let data = std::fs::read(dir.join(seed)).unwrap();
        let n = data[5..]
            .split(|&b| b == 0xff)
            .filter(|p| sm_model::sitewise::parse_entry(p).is_ok())
            .count();
        assert_eq!(n, valid, "{seed}");
    }
}
