//! The store embedded in a plain Rust program (threads, no async runtime), as the crate docs
//! show it: create a stream, append from several threads while a reader waits, read, then
//! crash (no clean shutdown, and a record torn in the middle of its write) and recover.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sm_model::{MessageStreamDefinition, Persistence, StrategyOnFull};
use sm_store::{ReadOutcome, Store, StoreError};

fn definition() -> MessageStreamDefinition {
    MessageStreamDefinition {
        name: "telemetry".into(),
        strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
        persistence: Some(Persistence::File),
        flush_on_write: Some(true),
        ..Default::default()
    }
}

/// The newest segment file of the only stream under `root`.
fn last_segment(root: &Path) -> PathBuf {
    let folder = fs::read_dir(root).unwrap().next().unwrap().unwrap().path();
    let mut logs: Vec<PathBuf> = fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

#[test]
fn a_plain_program_appends_reads_and_recovers_from_a_crash_with_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let store = Store::open(root).unwrap();
    store.create(definition()).unwrap();
    let stream = store.get("telemetry").unwrap();

    let acked = std::thread::scope(|s| {
        // A reader waits for the hundred messages before any is written (a long poll).
        let reader = s.spawn(|| stream.read(0, 100, 100, Duration::from_secs(30)));
        let appenders: Vec<_> = (0..4)
            .map(|t| {
                let stream = &stream;
                s.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let payload = format!("{t}:{i}");
                            (stream.append(payload.as_bytes()).unwrap(), payload)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut acked: Vec<(i64, String)> = appenders
            .into_iter()
            .flat_map(|a| a.join().unwrap())
            .collect();
        acked.sort();
        let read = reader.join().unwrap().unwrap();
        assert_eq!(read.len(), 100, "the waiting reader got every message");
        for (m, (seq, payload)) in read.iter().zip(&acked) {
            assert_eq!((m.seq, &m.payload[..]), (*seq, payload.as_bytes()));
        }
        acked
    });
    assert_eq!(
        acked.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>(),
        "sequence numbers are unique and contiguous"
    );
    assert!(
        stream.fsync_count() <= 100,
        "one fsync per append at most, shared when concurrent"
    );

    // The crash: no sync_all, and a record whose write was torn halfway (its header and
    // part of its payload reached the file, nothing acknowledged it).
    drop(stream);
    drop(store);
    let segment = last_segment(root);
    let end = fs::metadata(&segment).unwrap().len();
    let mut torn = Vec::new();
    torn.extend_from_slice(&1000u32.to_le_bytes()); // length
    torn.extend_from_slice(&0xdead_beefu32.to_le_bytes()); // CRC
    torn.extend_from_slice(&100u64.to_le_bytes()); // sequence number
    torn.extend_from_slice(&0i64.to_le_bytes()); // ingest time
    torn.extend_from_slice(&[7u8; 300]); // 300 of the 1000 payload bytes
                                         // Preallocated zeros may follow the last record: the torn record goes right after it.
    let records_end = {
        let bytes = fs::read(&segment).unwrap();
        let mut at = bytes.len();
        while at > 0 && bytes[at - 1] == 0 {
            at -= 1;
        }
        at as u64
    };
    assert!(records_end <= end);
    {
        let mut f = OpenOptions::new().write(true).open(&segment).unwrap();
        f.set_len(records_end).unwrap();
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(records_end)).unwrap();
        f.write_all(&torn).unwrap();
    }

    // Recovery: every acknowledged message is back, the torn record is cut off, and the next
    // append follows the last good record.
    let store = Store::open(root).unwrap();
    let stream = store.get("telemetry").unwrap();
    assert_eq!(stream.bounds(), Some((100, 0)));
    match stream.try_read(0, 100, 1000, u64::MAX, u64::MAX).unwrap() {
        ReadOutcome::Messages(m) => {
            assert_eq!(m.len(), 100);
            for (m, (seq, payload)) in m.iter().zip(&acked) {
                assert_eq!((m.seq, &m.payload[..]), (*seq, payload.as_bytes()));
            }
        }
        ReadOutcome::NotEnough => panic!("the acknowledged messages are there"),
    }
    assert!(
        fs::metadata(&segment).unwrap().len() < records_end + torn.len() as u64,
        "the torn record was cut off"
    );
    assert_eq!(stream.append(b"after the crash").unwrap(), 100);
    // A read past the end waits, then says how long it waited.
    let e = stream
        .read(101, 1, 1, Duration::from_millis(20))
        .unwrap_err();
    assert!(matches!(e, StoreError::NotEnough { .. }), "{e}");
    store.sync_all();
    drop(stream);
    drop(store);
    let store = Store::open(root).unwrap();
    assert_eq!(store.get("telemetry").unwrap().bounds(), Some((101, 0)));
}
